"""The validated cruise: read and check samples.tsv, units.tsv and the FASTQ files they list.

Everything is checked before any job runs and every problem is collected, so that one
PlanktonlmInputError tells the user all there is to fix. The check families, in order:

1. table structure, 2. header, 3. cells against the JSON schemas (:mod:`.sheets`);
4. what a schema cannot say: unique ids, physical ranges, pressure vs depth, ISO 8601 dates,
   units vs samples (:mod:`.checks`), FASTQ files present and readable (:mod:`.fastq_checks`);
5. FASTQ content (:mod:`.fastq_checks` with :mod:`planktonlm.reads.fastq`): compression
   integrity, syntax, quality lengths and characters, unique read ids, mates.

Families 1-4 are instant and run when the workflow starts; family 5 streams every read, so the
workflow runs it as one ``check_fastq`` job per unit (in parallel, before that unit's QC) and
``load_cruise(..., fastq_scan=None)`` leaves it out. ``planktonlm validate`` runs all five.

Several cruises: ``samples`` and ``units`` may each be a list of sheets, checked one by one
(row numbers per file), then across them (a sample id in one sample sheet only, a unit's sample
in any of them). The sample filter (``select``, :mod:`.select`) runs after the sheet checks and
before the FASTQ checks (files and content): the FASTQ files of samples it leaves out are not
looked at.

Row numbers are 1-based data rows (the header is row 0), as in InputProblem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from planktonlm.config import as_paths, is_published, load_schema
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.inputs.checks import (
    check_case_collisions,
    check_pressure,
    check_ranges,
    check_unique,
    check_unique_across,
    check_units_vs_sheets,
    parse_datetimes,
)
from planktonlm.inputs.fastq_checks import FASTQ_SCAN_RECORDS, check_fastq_files, scan_fastq_content
from planktonlm.inputs.select import SampleFilter, select_samples
from planktonlm.inputs.sheets import PathLike, check_cells, column_problems, read_tsv, required_columns
from planktonlm.vocab import NON_ENV_COLUMNS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    """One sequencing run of a sample; ``fq2 == ""`` for single-end."""

    sample: str
    unit: str
    fq1: str
    fq2: str

    @property
    def paired(self) -> bool:
        return bool(self.fq2)


@dataclass(frozen=True, eq=False)
class Cruise:
    """Validated inputs.

    ``samples``: index = sample id (file order); columns as in samples.tsv; ``cruise`` and
    ``station`` strings, ``datetime`` UTC timestamps, every other column float (NaN = missing).
    ``units``: columns sample, unit, fq1, fq2 (fq2 == "" for single-end), rows in file order.
    ``unit_sheets``: (sample, unit) -> the units sheet that lists the unit.
    ``sample_sheets``: every samples sheet (in the given order) -> the ids of its samples that are
    kept (file order, after ``select``); a sheet the filter emptied maps to ().

    Look-ups by sample and unit use dictionaries built once: the workflow asks them for every job
    of every unit while it builds its DAG.
    """

    samples: pd.DataFrame
    units: pd.DataFrame
    unit_sheets: Mapping[tuple[str, str], str] = field(default_factory=dict)
    sample_sheets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def _units_by_sample(self) -> dict[str, list[Unit]]:
        by_sample: dict[str, list[Unit]] = {sample: [] for sample in self.samples.index}
        for row in self.units[["sample", "unit", "fq1", "fq2"]].itertuples(index=False):
            by_sample.setdefault(row.sample, []).append(Unit(row.sample, row.unit, row.fq1, row.fq2))
        return by_sample

    def _units_list(self, sample: str) -> list[Unit]:
        if sample not in self.samples.index:
            raise KeyError(f"unknown sample {sample!r}")
        return self._units_by_sample[sample]

    def sample_ids(self) -> list[str]:
        return list(self.samples.index)

    def samples_by_sheet(self) -> dict[str, list[str]]:
        """Sample ids per samples sheet: sheets in the given order, rows in file order, after
        ``select`` (a sheet it emptied is listed with no ids). A cruise made without sheets is one
        unnamed sheet ("")."""
        if not self.sample_sheets:
            return {"": self.sample_ids()} if len(self.samples) else {}
        return {sheet: list(ids) for sheet, ids in self.sample_sheets.items()}

    def units_of(self, sample: str) -> pd.DataFrame:
        if sample not in self.samples.index:
            raise KeyError(f"unknown sample {sample!r}")
        return self.units[self.units["sample"] == sample]

    def unit_ids(self, sample: str) -> list[str]:
        """Unit ids of ``sample``, in file order."""
        return [u.unit for u in self._units_list(sample)]

    def unit(self, sample: str, unit: str) -> Unit:
        """One unit of a sample (KeyError if there is no such unit)."""
        for candidate in self._units_list(sample):
            if candidate.unit == unit:
                return candidate
        raise KeyError(f"sample {sample!r} has no unit {unit!r}")

    def unit_sheet(self, sample: str, unit: str) -> str:
        """The units sheet that lists a unit, for messages ("" if not known; KeyError for no such unit)."""
        self.unit(sample, unit)
        return self.unit_sheets.get((sample, unit), "")

    def is_paired(self, sample: str) -> bool:
        return all(u.paired for u in self._units_list(sample))

    def paired_samples(self) -> list[str]:
        return [s for s in self.sample_ids() if self.is_paired(s)]

    def single_samples(self) -> list[str]:
        return [s for s in self.sample_ids() if not self.is_paired(s)]

    def env_columns(self) -> list[str]:
        """Measured environmental variables (required, optional known and extra), file order."""
        return [c for c in self.samples.columns if c not in NON_ENV_COLUMNS]

    def missing_summary(self) -> pd.DataFrame:
        """Per environmental variable: n_missing, fraction_missing, samples_missing (comma list)."""
        env = self.samples[self.env_columns()]
        missing = env.isna()
        summary = pd.DataFrame(
            {
                "n_missing": missing.sum().astype(int),
                "fraction_missing": missing.mean() if len(env) else 0.0,
                "samples_missing": [",".join(env.index[missing[c]]) for c in env.columns],
            },
            index=pd.Index(env.columns, name="variable"),
        )
        return summary


# --------------------------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------------------------


@dataclass
class _CheckedTable:
    typed: pd.DataFrame | None  # None when the header is unusable
    complete: bool  # every data row could be read (ragged rows are dropped from ``typed``)
    problems: list[InputProblem]


def _by_row(problems: list[InputProblem]) -> list[InputProblem]:
    """Problems of one table in row order (stable: within a row, in check order)."""
    return sorted(problems, key=lambda p: p.row or 0)


def _validate_samples(path: str, tolerance: float) -> _CheckedTable:
    raw, problems = read_tsv(path, required_columns("samples"))
    if raw is None:
        return _CheckedTable(None, False, problems)
    complete = not problems
    header_problems = column_problems(raw, load_schema("samples"), path)
    if header_problems:  # without the right columns, row checks would only repeat the complaint
        return _CheckedTable(None, False, problems + header_problems)
    typed, cell_problems = check_cells(raw, "samples", path)
    problems += cell_problems
    problems += check_unique(typed, ["sample"], path, "sample id")
    problems += check_case_collisions(typed, ["sample"], path, "sample id")
    problems += check_ranges(typed, path)
    problems += check_pressure(typed, path, tolerance)
    typed["datetime"], date_problems = parse_datetimes(typed, path, now=pd.Timestamp.now(tz="UTC"))
    problems += date_problems
    return _CheckedTable(typed, complete, _by_row(problems))


def _validate_units(path: str) -> _CheckedTable:
    raw, problems = read_tsv(path, required_columns("units"))
    if raw is None:
        return _CheckedTable(None, False, problems)
    complete = not problems
    header_problems = column_problems(raw, load_schema("units"), path)
    if header_problems:
        return _CheckedTable(None, False, problems + header_problems)
    typed, cell_problems = check_cells(raw, "units", path)
    problems += cell_problems
    problems += check_unique(typed, ["sample", "unit"], path, "(sample, unit)")
    problems += check_case_collisions(typed, ["sample", "unit"], path, "(sample, unit)")
    return _CheckedTable(typed, complete, _by_row(problems))


def _samples_frame(typed: pd.DataFrame) -> pd.DataFrame:
    """Final samples table: index = sample id, ids as str, datetime UTC, every other column float."""
    frame = typed.drop(columns="sample")
    for column in frame.columns:
        if column == "datetime":
            frame[column] = pd.to_datetime(frame[column], utc=True)
        elif column in ("cruise", "station"):
            frame[column] = frame[column].astype(str)
        else:
            frame[column] = frame[column].astype(float)  # None -> NaN
    frame.index = pd.Index(typed["sample"].astype(str), name="sample")
    return frame


def _units_frame(typed: pd.DataFrame) -> pd.DataFrame:
    return typed[["sample", "unit", "fq1", "fq2"]].fillna("").astype(str).reset_index(drop=True)


def load_cruise(
    samples_tsv: PathLike | Sequence[PathLike],
    units_tsv: PathLike | Sequence[PathLike],
    *,
    fastq_scan: str | None = "full",
    pressure_tolerance: float = 0.15,
    sample_filter: SampleFilter | None = None,
) -> Cruise:
    """Read and validate samples.tsv, units.tsv and every FASTQ; raise PlanktonlmInputError with all problems.

    ``samples_tsv`` / ``units_tsv``: one sheet, or a list of sheets (e.g. one per cruise), each
    checked on its own (row numbers per file) and concatenated in the given order; a sample id
    may occur in one sample sheet only, and a unit may name a sample of any of them.
    ``fastq_scan``: "full" streams every record, "quick" the first QUICK_SCAN_RECORDS of each
    file, None reads no FASTQ content (files are still checked: present, readable, regular,
    not empty, listed once); the workflow leaves the content to its check_fastq jobs.
    ``sample_filter``: the ``select`` section; samples it leaves out are dropped, with their
    units, after the sheets are checked and before the FASTQ files are (theirs need not exist).
    FASTQ paths are taken relative to the current working directory.
    """
    if fastq_scan is not None and fastq_scan not in FASTQ_SCAN_RECORDS:
        raise ValueError(f"fastq_scan must be one of {sorted(FASTQ_SCAN_RECORDS)}, not {fastq_scan!r}")
    samples_files, units_files = as_paths(samples_tsv), as_paths(units_tsv)
    if not samples_files or not units_files:
        raise ValueError("load_cruise needs at least one sample sheet and one unit sheet")
    samples = [_validate_samples(file, pressure_tolerance) for file in samples_files]
    units = [_validate_units(file) for file in units_files]
    problems = [p for table in samples + units for p in table.problems]
    problems += check_unique_across(list(zip(samples_files, (t.typed for t in samples))), ["sample"], "sample id",
                                    "sample ids must be unique across cruises")
    problems += check_unique_across(list(zip(units_files, (t.typed for t in units))), ["sample", "unit"],
                                    "(sample, unit)", "a unit id may repeat only for different samples")
    if all(t.complete for t in samples + units):
        problems += check_units_vs_sheets(list(zip(units_files, (t.typed for t in units))),
                                          list(zip(samples_files, (t.typed for t in samples))))
    kept, filter_problems = _selected(samples, samples_files, sample_filter)
    problems += filter_problems
    seen: dict[str, tuple[str, int, str]] = {}
    for units_file, table in zip(units_files, units):
        if table.typed is None:
            continue
        typed = table.typed if kept is None else table.typed[table.typed["sample"].isin(kept)]
        bad_rows, file_problems = check_fastq_files(typed, units_file, seen)
        problems += file_problems
        if fastq_scan is not None:
            logger.info("scanning the FASTQ files of %d units (%s scan)", len(typed), fastq_scan)
            problems += scan_fastq_content(typed, bad_rows, units_file, FASTQ_SCAN_RECORDS[fastq_scan])
    if problems:
        raise PlanktonlmInputError(problems)
    sample_frame = pd.concat([_samples_frame(t.typed) for t in samples])
    unit_frame = pd.concat([_units_frame(t.typed) for t in units], ignore_index=True)
    sheets = {(sample, unit): file for file, t in zip(units_files, units) for sample, unit in zip(t.typed["sample"], t.typed["unit"])}
    if kept is not None:
        sample_frame = sample_frame[sample_frame.index.isin(kept)]
        unit_frame = unit_frame[unit_frame["sample"].isin(kept)].reset_index(drop=True)
        sheets = {key: file for key, file in sheets.items() if key[0] in kept}
    by_sheet = {str(file): tuple(sample for sample in t.typed["sample"].astype(str) if kept is None or sample in kept)
                for file, t in zip(samples_files, samples)}
    cruise = Cruise(samples=sample_frame, units=unit_frame, unit_sheets=sheets, sample_sheets=by_sheet)
    logger.info("inputs valid: %d samples, %d units", len(cruise.samples), len(cruise.units))
    return cruise


def _selected(
    samples: list[_CheckedTable], files: list[str], sample_filter: SampleFilter | None
) -> tuple[set[str] | None, list[InputProblem]]:
    """The sample ids the filter keeps (None: no filter, keep all) and its problems. With sheets
    that could not be read, nothing is kept: which reads are needed cannot be told yet, and the
    sheets' problems come first."""
    if sample_filter is None or not sample_filter.active:
        return None, []
    if any(t.typed is None for t in samples):
        return set(), []
    meta = pd.concat([t.typed for t in samples], ignore_index=True)
    keep, problems = select_samples(meta, sample_filter, source=", ".join(files))
    return set(meta.loc[keep, "sample"].dropna()), problems


def load_workflow_cruise(config: dict, *, scan_content: bool = True) -> Cruise:
    """The cruise of a validated workflow config: every check of ``load_cruise`` on the sheets of
    ``samples`` and ``units`` (a path or a list of paths each), keeping the samples that
    ``select`` keeps; or an empty cruise when the run starts from published tables
    (``published.environment`` set). ``scan_content``: stream the FASTQ content as
    ``validate.fastq_scan`` says (``planktonlm validate``); False leaves it to the workflow's
    check_fastq jobs, so that starting a run takes no longer for large read files."""
    if is_published(config):
        return Cruise(samples=pd.DataFrame(index=pd.Index([], name="sample")),
                      units=pd.DataFrame(columns=["sample", "unit", "fq1", "fq2"]))
    return load_cruise(
        config["samples"],
        config["units"],
        fastq_scan=config["validate"]["fastq_scan"] if scan_content else None,
        pressure_tolerance=config["validate"]["pressure_tolerance"],
        sample_filter=SampleFilter.from_config(config),
    )
