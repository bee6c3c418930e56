"""Read and validate the cruise inputs: samples.tsv, units.tsv and the FASTQ files they list.

Everything is checked before any job runs and every problem is collected, so that one
PlanktonlmInputError tells the user all there is to fix. The check families, in order:

1. table structure: readable, tab-separated, header present, rectangular;
2. header: required columns present, column names usable, no unknown units.tsv columns;
3. cells against the JSON schemas (workflow/schemas/samples|units.schema.yaml): types,
   missing values where none are allowed, id characters;
4. what a schema cannot say: unique ids, physical ranges (PHYSICAL_RANGES), pressure vs
   depth, ISO 8601 dates, units vs samples, FASTQ files present and readable;
5. FASTQ content (planktonlm.reads): compression integrity, syntax, quality lengths, mates.

Row numbers are 1-based data rows (the header is row 0), as in InputProblem.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import NamedTuple

import jsonschema
import pandas as pd

from planktonlm.config import load_schema
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.reads import FastqStats, scan_fastq, scan_fastq_pair

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

# Cells that mean "not measured" in numeric columns; in text columns only the empty cell does.
MISSING_TOKENS = frozenset({"", "NA", "NaN", "nan", "N/A"})
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

# Columns that place a sample (coordinates and ids), as opposed to measured variables.
NON_ENV_COLUMNS = ("sample", "cruise", "station", "datetime", "latitude", "longitude", "depth_m")

# Hydrostatic approximation: 1 m of seawater ~ 1.02 dbar (rho ~ 1025-1050 kg/m3, g ~ 9.81 m/s2;
# the exact factor, 1.005-1.03 depending on depth and latitude, lies well inside the tolerance).
DBAR_PER_METRE = 1.02
PRESSURE_SLACK_DBAR = 5.0

QUICK_SCAN_RECORDS = 1000
FASTQ_SCAN_RECORDS = {"full": None, "quick": QUICK_SCAN_RECORDS}


class Range(NamedTuple):
    """Physically possible values of a column; None = unbounded on that side."""

    low: float | None
    high: float | None
    unit: str

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def describe(self) -> str:
        if self.high is None:
            return f"a value >= {self.low:g} {self.unit}"
        return f"a value between {self.low:g} and {self.high:g} {self.unit}"


PHYSICAL_RANGES: dict[str, Range] = {
    "latitude": Range(-90, 90, "degrees north"),
    "longitude": Range(-180, 180, "degrees east"),
    "depth_m": Range(0, 11000, "m"),
    "temperature_c": Range(-2.5, 40, "degrees C"),
    "ph": Range(0, 14, "(pH scale)"),
    "pressure_dbar": Range(0, None, "dbar"),
    "salinity_psu": Range(0, 45, "(practical salinity)"),
    "oxygen_umol_kg": Range(0, None, "umol/kg"),
    "chlorophyll_mg_m3": Range(0, None, "mg/m3"),
    "nitrate_umol_kg": Range(0, None, "umol/kg"),
    "phosphate_umol_kg": Range(0, None, "umol/kg"),
    "silicate_umol_kg": Range(0, None, "umol/kg"),
}


# --------------------------------------------------------------------------------------------
# The validated cruise
# --------------------------------------------------------------------------------------------


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
    """

    samples: pd.DataFrame
    units: pd.DataFrame

    def sample_ids(self) -> list[str]:
        return list(self.samples.index)

    def units_of(self, sample: str) -> pd.DataFrame:
        if sample not in self.samples.index:
            raise KeyError(f"unknown sample {sample!r}")
        return self.units[self.units["sample"] == sample]

    def unit_ids(self, sample: str) -> list[str]:
        """Unit ids of ``sample``, in file order."""
        return list(self.units_of(sample)["unit"])

    def unit(self, sample: str, unit: str) -> Unit:
        """One unit of a sample (KeyError if there is no such unit)."""
        rows = self.units_of(sample)
        rows = rows[rows["unit"] == unit]
        if rows.empty:
            raise KeyError(f"sample {sample!r} has no unit {unit!r}")
        return Unit(**rows.iloc[0].to_dict())

    def is_paired(self, sample: str) -> bool:
        return bool((self.units_of(sample)["fq2"] != "").all())

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
# 1-2. Table structure and header
# --------------------------------------------------------------------------------------------


def _structure_problem(file: str, message: str, expected: str, row: int | None = None) -> InputProblem:
    return InputProblem(file=file, row=row, message=message, expected=expected)


def _split_header(line: str) -> list[str]:
    return [name.strip() for name in line.split("\t")]


def _header_problems(file: str, first_line: str, expected_columns: Sequence[str]) -> list[InputProblem]:
    """A header that is not tab-separated, or a first line that is data, not a header."""
    header = _split_header(first_line)
    expected = "a tab-separated header line naming the columns " + ", ".join(expected_columns)
    if len(header) == 1 and len(expected_columns) > 1:
        for separator, name in ((",", "commas"), (";", "semicolons"), (" ", "spaces")):
            if separator in first_line:
                return [_structure_problem(file, f"not tab-separated: the header line is split by {name}", expected, 0)]
    if not set(header) & set(expected_columns):
        return [
            _structure_problem(
                file, f"no header line: the first line ({first_line[:80]!r}) names none of the expected columns", expected, 0
            )
        ]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    return [
        InputProblem(file=file, row=0, column=c, message="column appears more than once in the header", expected="unique column names")
        for c in duplicated
    ]


def _read_tsv(path: PathLike, expected_columns: Sequence[str]) -> tuple[pd.DataFrame | None, list[InputProblem]]:
    """Raw read: every cell a str, index = 1-based data row (blank lines skipped but counted)."""
    file = os.fspath(path)
    try:
        with open(file, encoding="utf-8-sig") as handle:  # utf-8-sig: spreadsheets write a BOM
            lines = handle.read().split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [_structure_problem(file, f"cannot read the file: {exc}", "a readable UTF-8 text file")]
    if not lines or not lines[0].strip():
        return None, [_structure_problem(file, "the file is empty or starts with a blank line", "a header line first")]
    problems = _header_problems(file, lines[0], expected_columns)
    if problems:
        return None, problems
    header = _split_header(lines[0])
    rows, index = [], []
    for row_number, line in enumerate(lines[1:], start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            problems.append(
                _structure_problem(
                    file,
                    f"row has {len(cells)} tab-separated fields, the header has {len(header)}",
                    "one field per header column (empty cells still need their tab)",
                    row_number,
                )
            )
            continue
        rows.append(cells)
        index.append(row_number)
    if not rows and not problems:
        problems.append(_structure_problem(file, "no data rows below the header", "at least one data row", 1))
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(index, name="row"), dtype=object)
    return frame, problems


def read_samples_table(path: PathLike) -> pd.DataFrame:
    """samples.tsv as read, every cell a str (nothing parsed, nothing lost); index = data row."""
    frame, problems = _read_tsv(path, _required_columns("samples"))
    if problems:
        raise PlanktonlmInputError(problems)
    return frame


def read_units_table(path: PathLike) -> pd.DataFrame:
    """units.tsv as read, every cell a str; index = data row."""
    frame, problems = _read_tsv(path, _required_columns("units"))
    if problems:
        raise PlanktonlmInputError(problems)
    return frame


def _required_columns(schema_name: str) -> list[str]:
    return list(load_schema(schema_name)["required"])


def _column_problems(frame: pd.DataFrame, schema: dict, file: str) -> list[InputProblem]:
    """Required columns present; names allowed; no unknown column where the schema forbids them."""
    problems = [
        InputProblem(file=file, row=0, column=c, message="required column is missing", expected=f"a column named {c!r}")
        for c in schema["required"]
        if c not in frame.columns
    ]
    name_rule = schema.get("propertyNames", {})
    if "pattern" in name_rule:
        problems += [
            InputProblem(file=file, row=0, column=c, message="column name not allowed", expected=name_rule["description"].strip())
            for c in frame.columns
            if not re.match(name_rule["pattern"], c)
        ]
    if schema.get("additionalProperties") is False:
        known = ", ".join(schema["properties"])
        problems += [
            InputProblem(file=file, row=0, column=c, message="unknown column", expected=f"only the columns {known}")
            for c in frame.columns
            if c not in schema["properties"]
        ]
    return problems


# --------------------------------------------------------------------------------------------
# 3. Cells against the JSON schema
# --------------------------------------------------------------------------------------------


def _column_schema(schema: dict, column: str) -> dict | None:
    extra = schema.get("additionalProperties")
    return schema["properties"].get(column, extra if isinstance(extra, dict) else None)


def _types(column_schema: dict) -> set[str]:
    kind = column_schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _typed_cell(text: str, column_schema: dict) -> object:
    """str -> float / str / None as the column's schema type asks; unparsable numbers stay str."""
    text = text.strip()
    if "number" in _types(column_schema):
        if text in MISSING_TOKENS:
            return None
        return float(text) if _NUMBER.match(text) else text
    if "null" in _types(column_schema) and text in MISSING_TOKENS:
        return None
    return text or None


@cache
def _cell_validator(schema_name: str, column: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_column_schema(load_schema(schema_name), column))


def _cell_problem(error: jsonschema.ValidationError, column_schema: dict, file: str, row: int, column: str) -> InputProblem:
    if error.validator == "type" and error.instance is None:
        message = "missing value (this column must be filled in every row)"
    elif error.validator == "type" and "number" in _types(column_schema):
        message = "not a number"
    elif error.validator == "pattern":
        message = "contains characters that are not allowed"
    else:
        message = error.message
    return InputProblem(
        file=file, row=row, column=column, value=error.instance, message=message, expected=column_schema["description"].strip()
    )


def _check_cells(frame: pd.DataFrame, schema_name: str, file: str) -> tuple[pd.DataFrame, list[InputProblem]]:
    """Typed copy of ``frame`` (invalid cells -> None, so later checks skip them) and the problems."""
    schema = load_schema(schema_name)
    typed = pd.DataFrame(index=frame.index, dtype=object)
    problems = []
    for column in frame.columns:
        column_schema = _column_schema(schema, column)
        if column_schema is None:  # an unknown column, reported by _column_problems
            continue
        validator = _cell_validator(schema_name, column)
        values = []
        for row, text in frame[column].items():
            value = _typed_cell(text, column_schema)
            errors = list(validator.iter_errors(value))
            problems += [_cell_problem(e, column_schema, file, row, column) for e in errors]
            values.append(None if errors else value)
        typed[column] = pd.Series(values, index=frame.index, dtype=object)
    return typed, problems


# --------------------------------------------------------------------------------------------
# 4. What a schema cannot express
# --------------------------------------------------------------------------------------------


def _check_unique(typed: pd.DataFrame, key: Sequence[str], file: str, what: str) -> list[InputProblem]:
    """Each later occurrence of a key already seen is a problem naming the first row."""
    if not set(key) <= set(typed.columns):
        return []
    first_row: dict[tuple, int] = {}
    problems = []
    for row, values in zip(typed.index, typed[list(key)].itertuples(index=False, name=None)):
        if any(v is None for v in values):
            continue
        if values in first_row:
            problems.append(
                InputProblem(
                    file=file,
                    row=row,
                    column=key[-1],
                    value="/".join(values),
                    message=f"duplicate {what} (first at row {first_row[values]})",
                    expected=f"each {what} once",
                )
            )
        else:
            first_row[values] = row
    return problems


def _check_ranges(typed: pd.DataFrame, file: str) -> list[InputProblem]:
    problems = []
    for column, allowed in PHYSICAL_RANGES.items():
        if column not in typed.columns:
            continue
        for row, value in typed[column].items():
            if value is not None and not allowed.contains(value):
                problems.append(
                    InputProblem(
                        file=file,
                        row=row,
                        column=column,
                        value=value,
                        message="outside the physically possible range",
                        expected=allowed.describe(),
                    )
                )
    return problems


def expected_pressure_dbar(depth_m: float) -> float:
    """Sea pressure expected at ``depth_m`` (hydrostatic approximation, DBAR_PER_METRE)."""
    return DBAR_PER_METRE * depth_m


def _check_pressure(typed: pd.DataFrame, file: str, tolerance: float) -> list[InputProblem]:
    """|p - 1.02 * depth| must not exceed tolerance * expected + 5 dbar."""
    if not {"depth_m", "pressure_dbar"} <= set(typed.columns):
        return []
    depth_range, pressure_range = PHYSICAL_RANGES["depth_m"], PHYSICAL_RANGES["pressure_dbar"]
    problems = []
    for row, depth, pressure in zip(typed.index, typed["depth_m"], typed["pressure_dbar"]):
        # Missing or out-of-range values are reported elsewhere, once.
        if depth is None or pressure is None or not (depth_range.contains(depth) and pressure_range.contains(pressure)):
            continue
        expected = expected_pressure_dbar(depth)
        allowed = tolerance * expected + PRESSURE_SLACK_DBAR
        if abs(pressure - expected) > allowed:
            problems.append(
                InputProblem(
                    file=file,
                    row=row,
                    column="pressure_dbar",
                    value=pressure,
                    message=f"inconsistent with depth_m = {depth:g} m",
                    expected=(
                        f"about {expected:.0f} dbar ({DBAR_PER_METRE} dbar per m of depth), "
                        f"within {expected - allowed:.0f}..{expected + allowed:.0f} dbar "
                        f"(validate.pressure_tolerance = {tolerance:g}, plus {PRESSURE_SLACK_DBAR:g} dbar)"
                    ),
                )
            )
    return problems


def parse_datetime_utc(text: str) -> pd.Timestamp:
    """ISO 8601 -> UTC Timestamp. Offsets are converted; no offset = UTC; a date alone = 00:00 UTC."""
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return pd.Timestamp(parsed).tz_convert("UTC")


def _parse_datetimes(typed: pd.DataFrame, file: str) -> tuple[pd.Series, list[InputProblem]]:
    description = load_schema("samples")["properties"]["datetime"]["description"].strip()
    stamps, problems = [], []
    for row, text in typed["datetime"].items():
        stamp = None
        if text is not None:
            try:
                stamp = parse_datetime_utc(text)
            except ValueError:
                problems.append(
                    InputProblem(
                        file=file, row=row, column="datetime", value=text, message="not an ISO 8601 date/time", expected=description
                    )
                )
        stamps.append(stamp)
    return pd.Series(stamps, index=typed.index, dtype=object), problems


def _check_units_vs_samples(units: pd.DataFrame, samples: pd.DataFrame, units_file: str, samples_file: str) -> list[InputProblem]:
    """Every unit's sample is known, every sample has a unit, one read layout per sample."""
    known = set(samples["sample"].dropna())
    problems = [
        InputProblem(
            file=units_file,
            row=row,
            column="sample",
            value=sample,
            message="sample not listed in samples.tsv",
            expected=f"one of the sample ids of {samples_file}",
        )
        for row, sample in units["sample"].items()
        if sample is not None and sample not in known
    ]
    with_units = set(units["sample"].dropna())
    problems += [
        InputProblem(
            file=samples_file,
            row=row,
            column="sample",
            value=sample,
            message="sample has no reads: no row of units.tsv lists it",
            expected=f"at least one unit in {units_file}",
        )
        for row, sample in samples["sample"].items()
        if sample is not None and sample not in with_units
    ]
    paired = units["fq2"].notna()
    for sample, layouts in paired.groupby(units["sample"]):
        if layouts.nunique() > 1:
            problems.append(
                InputProblem(
                    file=units_file,
                    row=int(layouts.index[layouts != layouts.iloc[0]][0]),
                    column="fq2",
                    value=sample,
                    message=(
                        f"sample mixes paired-end units ({_rows_text(layouts.index[layouts])}) "
                        f"and single-end units ({_rows_text(layouts.index[~layouts])})"
                    ),
                    expected="all units of a sample paired (fq2 filled) or all single-end (fq2 empty)",
                )
            )
    return problems


def _rows_text(rows: Iterable[int]) -> str:
    rows = [str(r) for r in rows]
    return f"row {rows[0]}" if len(rows) == 1 else f"rows {', '.join(rows)}"


def _fastq_cells(units: pd.DataFrame) -> Iterable[tuple[int, str, str]]:
    """(row, column, path) of every FASTQ named in units.tsv, in file order."""
    for row, fq1, fq2 in zip(units.index, units["fq1"], units["fq2"]):
        for column, path in (("fq1", fq1), ("fq2", fq2)):
            if path is not None:
                yield row, column, path


def _file_defect(path: str) -> str | None:
    """Why ``path`` cannot be a FASTQ input, or None."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        where = "" if os.path.isabs(path) else f" (relative paths start from the working directory {os.getcwd()})"
        return f"file not found{where}"
    except OSError as exc:
        return f"cannot access the file: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a directory?)"
    if not os.access(path, os.R_OK):
        return "file is not readable (check its permissions)"
    if info.st_size == 0:
        return "file is empty (0 bytes)"
    return None


def _check_fastq_files(units: pd.DataFrame, file: str) -> tuple[set[int], list[InputProblem]]:
    """Each FASTQ exists, is a readable non-empty regular file, listed once.

    Also returns the rows whose content must not be scanned (a file there is unusable).
    """
    first_seen: dict[str, tuple[int, str]] = {}
    bad_rows, problems = set(), []
    for row, column, path in _fastq_cells(units):
        defect = _file_defect(path)
        if defect:
            bad_rows.add(row)
            problems.append(
                InputProblem(file=file, row=row, column=column, value=path, message=defect, expected="a readable, non-empty FASTQ file")
            )
            continue
        key = os.path.realpath(path)
        if key in first_seen:
            seen_row, seen_column = first_seen[key]
            same_row = "fq2 is the same file as fq1" if seen_row == row else f"already listed at row {seen_row}, {seen_column}"
            bad_rows.add(row)
            problems.append(
                InputProblem(
                    file=file,
                    row=row,
                    column=column,
                    value=path,
                    message=f"FASTQ listed twice: {same_row}",
                    expected="each FASTQ file listed once; fq1 and fq2 are different files",
                )
            )
        else:
            first_seen[key] = (row, column)
    return bad_rows, problems


# --------------------------------------------------------------------------------------------
# 5. FASTQ content
# --------------------------------------------------------------------------------------------


class _ScanCache:
    """Remembers successful scans by (path, size, mtime): the Snakefile is parsed again by every
    cluster job, and re-streaming every FASTQ each time would cost more than the job."""

    def __init__(self, path: PathLike | None):
        self.path = None if path is None else Path(path)
        self.entries: dict[str, list[int]] = {}
        if self.path is not None and self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.entries = {}  # a damaged cache only costs a rescan

    @staticmethod
    def key(paths: Sequence[str], max_records: int | None) -> str:
        identity = []
        for p in paths:
            info = os.stat(p)
            identity.append([os.path.realpath(p), info.st_size, info.st_mtime_ns])
        return json.dumps([max_records, identity])

    def get(self, key: str) -> list[int] | None:
        return self.entries.get(key)

    def put(self, key: str, counts: list[int]) -> None:
        self.entries[key] = counts

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False, suffix=".tmp") as handle:
            json.dump(self.entries, handle)
        os.replace(handle.name, self.path)


def _scan_unit(fq1: str, fq2: str | None, max_records: int | None) -> list[FastqStats]:
    if fq2 is None:
        return [scan_fastq(fq1, max_records)]
    return list(scan_fastq_pair(fq1, fq2, max_records))


def _scan_fastq_content(
    units: pd.DataFrame, skip_rows: set[int], file: str, max_records: int | None, cache: _ScanCache
) -> list[InputProblem]:
    problems = []
    for row, sample, unit, fq1, fq2 in zip(units.index, units["sample"], units["unit"], units["fq1"], units["fq2"]):
        paths = [p for p in (fq1, fq2) if p is not None]
        if fq1 is None or row in skip_rows:
            continue
        key = _ScanCache.key(paths, max_records)
        if cache.get(key) is not None:
            continue
        try:
            stats = _scan_unit(fq1, fq2, max_records)
        except PlanktonlmInputError as exc:
            context = f" [{file} row {row}: sample {sample}, unit {unit}]"
            problems += [replace(p, message=p.message + context) for p in exc.problems]
            continue
        cache.put(key, [n for s in stats for n in (s.n_reads, s.n_bases)])
    cache.save()
    return problems


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
    raw, problems = _read_tsv(path, _required_columns("samples"))
    if raw is None:
        return _CheckedTable(None, False, problems)
    complete = not problems
    column_problems = _column_problems(raw, load_schema("samples"), path)
    if column_problems:  # without the right columns, row checks would only repeat the complaint
        return _CheckedTable(None, False, problems + column_problems)
    typed, cell_problems = _check_cells(raw, "samples", path)
    problems += cell_problems
    problems += _check_unique(typed, ["sample"], path, "sample id")
    problems += _check_ranges(typed, path)
    problems += _check_pressure(typed, path, tolerance)
    typed["datetime"], date_problems = _parse_datetimes(typed, path)
    problems += date_problems
    return _CheckedTable(typed, complete, _by_row(problems))


def _validate_units(path: str) -> _CheckedTable:
    raw, problems = _read_tsv(path, _required_columns("units"))
    if raw is None:
        return _CheckedTable(None, False, problems)
    complete = not problems
    column_problems = _column_problems(raw, load_schema("units"), path)
    if column_problems:
        return _CheckedTable(None, False, problems + column_problems)
    typed, cell_problems = _check_cells(raw, "units", path)
    problems += cell_problems
    problems += _check_unique(typed, ["sample", "unit"], path, "(sample, unit)")
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
    samples_tsv: PathLike,
    units_tsv: PathLike,
    *,
    fastq_scan: str = "full",
    pressure_tolerance: float = 0.15,
    scan_cache: PathLike | None = None,
) -> Cruise:
    """Read and validate samples.tsv, units.tsv and every FASTQ; raise PlanktonlmInputError with all problems.

    ``fastq_scan``: "full" streams every record, "quick" the first QUICK_SCAN_RECORDS of each file.
    ``scan_cache``: optional JSON file remembering files that already passed (same path, size
    and mtime), so that re-validating an unchanged cruise does not stream the reads again.
    FASTQ paths are taken relative to the current working directory.
    """
    if fastq_scan not in FASTQ_SCAN_RECORDS:
        raise ValueError(f"fastq_scan must be one of {sorted(FASTQ_SCAN_RECORDS)}, not {fastq_scan!r}")
    samples_file, units_file = os.fspath(samples_tsv), os.fspath(units_tsv)
    samples = _validate_samples(samples_file, pressure_tolerance)
    units = _validate_units(units_file)
    problems = samples.problems + units.problems
    if samples.complete and units.complete:
        problems += _check_units_vs_samples(units.typed, samples.typed, units_file, samples_file)
    if units.typed is not None:
        bad_rows, file_problems = _check_fastq_files(units.typed, units_file)
        problems += file_problems
        logger.info("scanning the FASTQ files of %d units (%s scan)", len(units.typed), fastq_scan)
        max_records = FASTQ_SCAN_RECORDS[fastq_scan]
        problems += _scan_fastq_content(units.typed, bad_rows, units_file, max_records, _ScanCache(scan_cache))
    if problems:
        raise PlanktonlmInputError(problems)
    cruise = Cruise(samples=_samples_frame(samples.typed), units=_units_frame(units.typed))
    logger.info("inputs valid: %d samples, %d units", len(cruise.samples), len(cruise.units))
    return cruise


def load_workflow_cruise(config: dict, *, scan_cache: PathLike | None = None) -> Cruise:
    """The cruise of a validated workflow config: every check of ``load_cruise``, or an empty
    cruise when the run starts from published tables (``published.environment`` set)."""
    from planktonlm.published import is_published

    if is_published(config):
        return Cruise(samples=pd.DataFrame(index=pd.Index([], name="sample")),
                      units=pd.DataFrame(columns=["sample", "unit", "fq1", "fq2"]))
    return load_cruise(
        config["samples"],
        config["units"],
        fastq_scan=config["validate"]["fastq_scan"],
        pressure_tolerance=config["validate"]["pressure_tolerance"],
        scan_cache=scan_cache,
    )
