"""Which samples one embedding job embeds: batches that stay put when a cruise is added.

An embedding job spends seconds importing torch and loading the encoder before it embeds a
read, so the workflow embeds ``embed.samples_per_job`` samples per job (one process, the model
loaded once). Snakemake decides what to rerun from each job's input files and params, so a
batch must not change when the cruise grows:

- batches are cut within one samples sheet (one sheet per cruise), never across sheets, in the
  sheet's row order after the ``select`` filter: the first ``n`` samples, the next ``n``, ...;
- a batch is named by its sheet's position in the config's list and its own position in the
  sheet (``s2_b3``: sheet 2, batch 3), 1-based. A sheet that ``select`` empties keeps its number.

Adding a sheet at the end of the list therefore adds batches and changes none; appending rows to
a sheet changes only that sheet's last batch (when it was not full) and adds new ones. Inserting
or removing rows mid-sheet, or changing ``select`` or ``samples_per_job``, re-forms that sheet's
batches (they run again; their vectors are the same, each sample's vectors never depend on the
other samples of its job). Names are positions, not a rerun trigger: a sheet moved in the list
renames its batches (log and benchmark files) without rerunning them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SampleBatch:
    """One embedding job: ``name`` (``s<sheet>_b<batch>``), the sheet and its samples in sheet order."""

    name: str
    sheet: str
    samples: tuple[str, ...]


def sample_batches(samples_by_sheet: Mapping[str, Sequence[str]], per_job: int) -> list[SampleBatch]:
    """Cut each sheet's samples (sheets in the given order) into batches of at most ``per_job``.

    ``samples_by_sheet``: every samples sheet of the config, in its order, with the ids of its
    kept samples in file order (``Cruise.samples_by_sheet()``).
    """
    if isinstance(per_job, bool) or not isinstance(per_job, int) or per_job < 1:
        raise ValueError(f"samples per job must be an integer >= 1, not {per_job!r}")
    batches = []
    for sheet_number, (sheet, samples) in enumerate(samples_by_sheet.items(), 1):
        samples = list(samples)
        for batch_number, start in enumerate(range(0, len(samples), per_job), 1):
            batches.append(SampleBatch(f"s{sheet_number}_b{batch_number}", sheet, tuple(samples[start:start + per_job])))
    return batches
