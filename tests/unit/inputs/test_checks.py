"""What a schema cannot say (planktonlm.inputs.checks): dates, physical ranges, pressure vs depth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from planktonlm.config import load_schema
from planktonlm.errors import PlanktonlmInputError
from planktonlm.inputs.checks import check_case_collisions, check_unique, parse_datetimes
from planktonlm.inputs.cruise import load_cruise
from planktonlm.vocab import PHYSICAL_RANGES, parse_datetime_utc

GOOD = Path("tests/data/good_cruise")


@pytest.mark.parametrize(
    "text, utc",
    [
        ("2021-06-01T12:30:00+02:00", "2021-06-01T10:30:00"),
        ("2021-06-01T01:00:00-03:30", "2021-06-01T04:30:00"),
        ("2021-06-01T10:30:00Z", "2021-06-01T10:30:00"),
        ("2021-06-01T10:30:00", "2021-06-01T10:30:00"),
        ("2021-06-01 10:30", "2021-06-01T10:30:00"),
        ("2021-06-01", "2021-06-01T00:00:00"),
    ],
)
def test_datetimes_become_utc(text: str, utc: str) -> None:
    stamp = parse_datetime_utc(text)
    assert str(stamp.tz) == "UTC"
    assert stamp == pd.Timestamp(utc, tz="UTC")



@pytest.mark.parametrize("text", ["2021-13-01", "01/06/2021", "June 1 2021", "2021-06-01T25:00", ""])
def test_unparsable_datetimes_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime_utc(text)



def test_offsets_naive_and_date_only_in_one_table(tmp_path: Path, samples_variant) -> None:
    def edit(table: pd.DataFrame) -> None:
        table["datetime"] = ["2021-06-01T12:30:00+02:00", "2021-06-15T09:10:00", "2021-07-02"]

    cruise = load_cruise(samples_variant(edit), GOOD / "units.tsv")
    assert list(cruise.samples["datetime"]) == [
        pd.Timestamp("2021-06-01T10:30:00", tz="UTC"),
        pd.Timestamp("2021-06-15T09:10:00", tz="UTC"),
        pd.Timestamp("2021-07-02T00:00:00", tz="UTC"),
    ]



@pytest.mark.parametrize("column, allowed", sorted(PHYSICAL_RANGES.items()))
def test_each_range_rejects_just_outside_and_accepts_its_bounds(tmp_path: Path, column: str, allowed, samples_variant) -> None:
    """Bounds of each column of the range table, through load_cruise (pressure kept consistent)."""
    inside = [v for v in (allowed.low, allowed.high) if v is not None]
    outside = [allowed.low - 0.5] + ([allowed.high + 0.5] if allowed.high is not None else [])

    def table_with(value: float):
        def edit(table: pd.DataFrame) -> None:
            table[column] = [str(value)] * len(table)
            if column == "depth_m":
                table["pressure_dbar"] = [str(max(1.02 * value, 0))] * len(table)
            if column == "pressure_dbar":
                table["depth_m"] = [str(min(max(value / 1.02, 0), 11000))] * len(table)

        return edit

    for value in inside:
        load_cruise(samples_variant(table_with(value)), GOOD / "units.tsv")
    for value in outside:
        with pytest.raises(PlanktonlmInputError) as excinfo:
            load_cruise(samples_variant(table_with(value)), GOOD / "units.tsv")
        range_problems = [p for p in excinfo.value.problems if p.column == column and "range" in p.message]
        assert [p.row for p in range_problems] == [1, 2, 3]



@pytest.mark.parametrize("tolerance, accepted", [(0.15, False), (0.30, True)])
def test_pressure_tolerance_is_the_configured_one(tmp_path: Path, tolerance: float, accepted: bool, samples_variant) -> None:
    # S3: 200 m -> 204 dbar expected; 240 dbar is 36 dbar off: > 0.15 * 204 + 5, < 0.30 * 204 + 5.
    def edit(table: pd.DataFrame) -> None:
        table.loc[3, "pressure_dbar"] = "240"

    samples_tsv = samples_variant(edit)
    if accepted:
        load_cruise(samples_tsv, GOOD / "units.tsv", pressure_tolerance=tolerance)
    else:
        with pytest.raises(PlanktonlmInputError, match=r"row 3, column 'pressure_dbar'.*about 204 dbar"):
            load_cruise(samples_tsv, GOOD / "units.tsv", pressure_tolerance=tolerance)



@pytest.mark.parametrize("pressure, accepted", [("4.9", True), ("5.5", False)])
def test_pressure_at_the_surface_gets_the_absolute_slack(tmp_path: Path, pressure: str, accepted: bool, samples_variant) -> None:
    def edit(table: pd.DataFrame) -> None:
        table.loc[1, ["depth_m", "pressure_dbar"]] = ["0", pressure]

    samples_tsv = samples_variant(edit)
    if accepted:
        load_cruise(samples_tsv, GOOD / "units.tsv")
    else:
        with pytest.raises(PlanktonlmInputError, match="inconsistent with depth_m = 0 m"):
            load_cruise(samples_tsv, GOOD / "units.tsv")



def test_range_table_columns_are_schema_columns() -> None:
    assert set(PHYSICAL_RANGES) <= set(load_schema("samples")["properties"])


def test_future_datetime_is_refused_against_the_given_now() -> None:
    typed = pd.DataFrame({"datetime": ["2022-03-01T10:00:00Z", "2022-03-01T10:00:01Z"]}, index=[1, 2], dtype=object)
    now = pd.Timestamp("2022-03-01T10:00:00Z")
    stamps, problems = parse_datetimes(typed, "samples.tsv", now=now)
    assert [(p.row, p.column, p.value) for p in problems] == [(2, "datetime", "2022-03-01T10:00:01Z")]
    assert "in the future (now: 2022-03-01T10:00:00Z)" in problems[0].message
    assert stamps[2] == pd.Timestamp("2022-03-01T10:00:01Z")  # still parsed: one problem per cell
    assert parse_datetimes(typed, "samples.tsv")[1] == []  # no now: not checked


def test_ids_differing_only_in_case_are_refused_once_each() -> None:
    typed = pd.DataFrame({"sample": ["S1", "s1", "S1", "S2", "s2", "S10", None]}, index=range(1, 8), dtype=object)
    problems = check_case_collisions(typed, ["sample"], "samples.tsv", "sample id")
    # the exact repeat (row 3) is check_unique's; each case variant names the first spelling
    assert [(p.row, p.value) for p in problems] == [(2, "s1"), (5, "s2")]
    assert "differs from row 1's (S1) only in letter case" in problems[0].message
    assert check_unique(typed, ["sample"], "samples.tsv", "sample id")[0].row == 3


def test_units_collide_in_case_only_within_a_sample() -> None:
    typed = pd.DataFrame({"sample": ["S1", "S1", "S2", "s2"], "unit": ["L1", "l1", "L1", "L1"]}, index=range(1, 5), dtype=object)
    problems = check_case_collisions(typed, ["sample", "unit"], "units.tsv", "(sample, unit)")
    assert [(p.row, p.column, p.value) for p in problems] == [(2, "unit", "S1/l1"), (4, "unit", "s2/L1")]
