"""What a schema cannot say about samples.tsv and units.tsv (check family 4 of the cruise validation).

Unique ids, physical ranges (:data:`planktonlm.vocab.PHYSICAL_RANGES`), pressure vs depth,
ISO 8601 dates, and units vs samples. Each check takes the typed table of
:func:`planktonlm.inputs.sheets.check_cells` (invalid cells are None and skipped) and returns
InputProblems; row numbers are 1-based data rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from planktonlm.config import load_schema
from planktonlm.errors import InputProblem
from planktonlm.vocab import DBAR_PER_METRE, PHYSICAL_RANGES, PRESSURE_SLACK_DBAR, expected_pressure_dbar, parse_datetime_utc


def check_unique(typed: pd.DataFrame, key: Sequence[str], file: str, what: str) -> list[InputProblem]:
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


def parse_datetimes(typed: pd.DataFrame, file: str) -> tuple[pd.Series, list[InputProblem]]:
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


def check_units_vs_samples(units: pd.DataFrame, samples: pd.DataFrame, units_file: str, samples_file: str) -> list[InputProblem]:
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


