"""What a schema cannot say about samples.tsv and units.tsv (check family 4 of the cruise validation).

Unique ids, physical ranges (:data:`planktonlm.vocab.PHYSICAL_RANGES`), pressure vs depth,
ISO 8601 dates, and units vs samples. Each check takes the typed table of
:func:`planktonlm.inputs.sheets.check_cells` (invalid cells are None and skipped) and returns
InputProblems; row numbers are 1-based data rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import pandas as pd

from planktonlm.config import load_schema
from planktonlm.errors import InputProblem
from planktonlm.vocab import DBAR_PER_METRE, PHYSICAL_RANGES, PRESSURE_SLACK_DBAR, expected_pressure_dbar, parse_datetime_utc


def _keyed_rows(typed: pd.DataFrame, key: Sequence[str]) -> Iterator[tuple[int, tuple]]:
    """(row, key values) of every row whose key is filled in; none when a key column is missing."""
    if not set(key) <= set(typed.columns):
        return
    for row, values in zip(typed.index, typed[list(key)].itertuples(index=False, name=None)):
        if all(v is not None for v in values):
            yield row, values


def check_unique(typed: pd.DataFrame, key: Sequence[str], file: str, what: str) -> list[InputProblem]:
    """Each later occurrence of a key already seen is a problem naming the first row."""
    first_row: dict[tuple, int] = {}
    problems = []
    for row, values in _keyed_rows(typed, key):
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


def check_case_collisions(typed: pd.DataFrame, key: Sequence[str], file: str, what: str) -> list[InputProblem]:
    """A key equal to an earlier row's except in letter case (S1 / s1) is a problem naming that row.

    Ids become file names (``results/embed/{sample}.npy``): on a case-insensitive file system
    (macOS, Windows) the two samples' outputs would overwrite each other. Exact repeats are
    :func:`check_unique`'s.
    """
    first: dict[tuple, tuple[int, tuple]] = {}
    problems = []
    for row, values in _keyed_rows(typed, key):
        folded = tuple(str(v).casefold() for v in values)
        if folded not in first:
            first[folded] = (row, values)
            continue
        first_row, first_values = first[folded]
        if values != first_values:
            problems.append(
                InputProblem(
                    file=file,
                    row=row,
                    column=key[-1],
                    value="/".join(values),
                    message=f"{what} differs from row {first_row}'s ({'/'.join(first_values)}) only in letter case: "
                    "their output files would be one file on a case-insensitive file system (macOS, Windows)",
                    expected=f"each {what} distinct ignoring letter case",
                )
            )
    return problems


def check_ranges(typed: pd.DataFrame, file: str) -> list[InputProblem]:
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


def check_pressure(typed: pd.DataFrame, file: str, tolerance: float) -> list[InputProblem]:
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


def parse_datetimes(typed: pd.DataFrame, file: str, now: pd.Timestamp | None = None) -> tuple[pd.Series, list[InputProblem]]:
    """The datetime column as UTC Timestamps (None where missing or unreadable) and its problems:
    not ISO 8601, or later than ``now`` (UTC; None: not checked)."""
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
        if stamp is not None and now is not None and stamp > now:
            problems.append(
                InputProblem(
                    file=file, row=row, column="datetime", value=text,
                    message=f"in the future (now: {now.strftime('%Y-%m-%dT%H:%M:%SZ')})",
                    expected="the date and time the sample was taken (a typo in the year?)",
                )
            )
        stamps.append(stamp)
    return pd.Series(stamps, index=typed.index, dtype=object), problems


def check_unique_across(
    sheets: Sequence[tuple[str, pd.DataFrame | None]], key: Sequence[str], what: str, rule: str
) -> list[InputProblem]:
    """A key of a later sheet already in an earlier one: a problem naming both files and rows.

    Repeats within one sheet are :func:`check_unique`'s; ``rule`` ends the message (e.g. "sample
    ids must be unique across cruises")."""
    first: dict[tuple, tuple[str, int]] = {}
    problems = []
    for file, typed in sheets:
        if typed is None or not set(key) <= set(typed.columns):
            continue
        here: dict[tuple, int] = {}
        for row, values in zip(typed.index, typed[list(key)].itertuples(index=False, name=None)):
            if any(v is None for v in values) or values in here:
                continue
            here[values] = row
            if values in first:
                first_file, first_row = first[values]
                problems.append(InputProblem(
                    file=file, row=row, column=key[-1], value="/".join(values),
                    message=f"{what} also in {first_file} (row {first_row}): {rule}",
                    expected=f"each {what} in one sheet only"))
        for values, row in here.items():
            first.setdefault(values, (file, row))
    return problems


def check_units_vs_samples(units: pd.DataFrame, samples: pd.DataFrame, units_file: str, samples_file: str) -> list[InputProblem]:
    """Every unit's sample is known, every sample has a unit, one read layout per sample."""
    return check_units_vs_sheets([(units_file, units)], [(samples_file, samples)])


def check_units_vs_sheets(
    unit_sheets: Sequence[tuple[str, pd.DataFrame]], sample_sheets: Sequence[tuple[str, pd.DataFrame]]
) -> list[InputProblem]:
    """:func:`check_units_vs_samples` over several unit and sample sheets (file, typed table): a
    unit may name a sample of any sample sheet, a sample's units may be in any unit sheet."""
    samples_files = ", ".join(file for file, _ in sample_sheets)
    units_files = ", ".join(file for file, _ in unit_sheets)
    known = {s for _, samples in sample_sheets for s in samples["sample"].dropna()}
    problems = [
        InputProblem(
            file=units_file,
            row=row,
            column="sample",
            value=sample,
            message="sample not listed in samples.tsv",
            expected=f"one of the sample ids of {samples_files}",
        )
        for units_file, units in unit_sheets
        for row, sample in units["sample"].items()
        if sample is not None and sample not in known
    ]
    with_units = {s for _, units in unit_sheets for s in units["sample"].dropna()}
    problems += [
        InputProblem(
            file=samples_file,
            row=row,
            column="sample",
            value=sample,
            message="sample has no reads: no row of units.tsv lists it",
            expected=f"at least one unit in {units_files}",
        )
        for samples_file, samples in sample_sheets
        for row, sample in samples["sample"].items()
        if sample is not None and sample not in with_units
    ]
    layouts = pd.DataFrame(
        [(sample, fq2 is not None, file, row)
         for file, units in unit_sheets
         for row, sample, fq2 in zip(units.index, units["sample"], units["fq2"]) if sample is not None],
        columns=["sample", "paired", "file", "row"],
    )
    several_files = len(unit_sheets) > 1
    for sample, part in layouts.groupby("sample", sort=True):
        if part["paired"].nunique() > 1:
            odd = part[part["paired"] != part["paired"].iloc[0]].iloc[0]
            problems.append(
                InputProblem(
                    file=odd["file"],
                    row=int(odd["row"]),
                    column="fq2",
                    value=sample,
                    message=(
                        f"sample mixes paired-end units ({_where(part[part['paired']], several_files)}) "
                        f"and single-end units ({_where(part[~part['paired']], several_files)})"
                    ),
                    expected="all units of a sample paired (fq2 filled) or all single-end (fq2 empty)",
                )
            )
    return problems


def _where(part: pd.DataFrame, with_file: bool) -> str:
    if not with_file:
        return _rows_text(part["row"])
    return "; ".join(f"{file} {_rows_text(rows['row'])}" for file, rows in part.groupby("file", sort=False))


def _rows_text(rows: Iterable[int]) -> str:
    rows = [str(r) for r in rows]
    return f"row {rows[0]}" if len(rows) == 1 else f"rows {', '.join(rows)}"
