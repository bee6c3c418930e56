"""The stage layer: one module per rule family, the only code that ``workflow/scripts/`` calls.

A stage maps a rule's named input, output and params onto library calls and writes exactly the
rule's declared outputs. Rules pass each stage only its own config sections (``params``) and
the sample ids it works on; a stage never parses ids back out of file names.

    qc        cutadapt per unit, merge units, read accounting, MultiQC
    train     train or import the encoder (model folder)
    embed     one vector per fragment of a sample
    profiles  k-mer vectors, OTU codebooks and count tables
    cube      the NetCDF community cube
    ecology   diversity, distances, PCoA, turnover
    shifts    community shifts vs the environment
    report    the HTML report
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Job:
    """What a rule hands its script: named inputs and outputs, params, log file, threads."""

    input: Mapping[str, Any]
    output: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    log: str | None = None
    threads: int = 1

    @classmethod
    def from_snakemake(cls, smk: Any) -> Job:
        """Read the ``snakemake`` object of a script: named items only, lists kept as lists."""
        return cls(
            input={k: _plain(v) for k, v in smk.input.items()},
            output={k: _plain(v) for k, v in smk.output.items()},
            params={k: v for k, v in smk.params.items()},
            log=smk.log[0] if len(smk.log) else None,
            threads=smk.threads,
        )

    def require_outputs(self, names: Iterable[str], rule: str) -> None:
        """Raise ValueError unless the named outputs are exactly ``names`` (checked before any work)."""
        names = list(names)
        missing = [name for name in names if name not in self.output]
        unknown = [name for name in self.output if name not in names]
        if missing or unknown:
            raise ValueError(f"{rule} rule outputs must be exactly {names}: missing {missing}, unknown {unknown}")


def _plain(value: Any) -> Any:
    """Snakemake's Namedlist/str subclasses -> plain str or list of str."""
    if isinstance(value, str):
        return str(value)
    return [str(v) for v in value]
