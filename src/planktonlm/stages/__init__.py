"""The stage layer: one module per rule family, the only code that ``workflow/scripts/`` calls.

A stage maps a rule's named input, output and params onto library calls and writes exactly the
rule's declared outputs. Rules pass each stage only its own config sections (``params``) and
the sample ids it works on; a stage never parses ids back out of file names.

    qc        cutadapt per unit, merge units, read accounting, MultiQC
    train     train or import the encoder (model folder)
    embed     one vector per fragment of each sample of a batch
    profiles  k-mer vectors, OTU codebooks and count tables
    cube      the NetCDF community cube
    ecology   diversity, distances, PCoA, turnover
    shifts    community shifts vs the environment
    report    the HTML report
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from planktonlm.errors import InputProblem, PlanktonlmInputError


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


def read_sources(samples: Sequence[str], paired_samples: Sequence[str], r1: Sequence[str] | str,
                 r2: Sequence[str] | str, *, rule: str) -> dict[str, tuple[str, str | None]]:
    """{sample: (r1, r2 | None)} in the order of ``samples``: r1 follows ``samples``, r2 ``paired_samples``
    (the inputs of a rule that reads several samples' QC'd reads; ``rule`` names it in problems)."""
    r1 = [r1] if isinstance(r1, str) else list(r1)
    r2 = [r2] if isinstance(r2, str) else list(r2)
    problems = []
    if len(r1) != len(samples):
        problems.append(InputProblem(file=f"{rule} inputs", column="r1", value=len(r1),
                                     message=f"{len(r1)} read-1 files for {len(samples)} samples",
                                     expected="one r1 file per sample, in the order of params samples"))
    if len(r2) != len(paired_samples):
        problems.append(InputProblem(file=f"{rule} inputs", column="r2", value=len(r2),
                                     message=f"{len(r2)} read-2 files for {len(paired_samples)} paired samples",
                                     expected="one r2 file per paired sample, in the order of params paired_samples"))
    unknown = sorted(set(paired_samples) - set(samples))
    if unknown:
        problems.append(InputProblem(file=f"{rule} inputs", column="paired_samples", value=", ".join(unknown),
                                     message="paired samples missing from samples", expected="a subset of params samples"))
    if problems:
        raise PlanktonlmInputError(problems)
    r2_of = dict(zip(paired_samples, map(os.fspath, r2)))
    return {sample: (os.fspath(path), r2_of.get(sample)) for sample, path in zip(samples, r1)}
