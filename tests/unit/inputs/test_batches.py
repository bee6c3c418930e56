"""Batches of samples per embedding job (planktonlm.inputs.batches): cut within each samples sheet,
stable when a cruise's sheet is added; appending rows changes only the sheet's last batch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from planktonlm.inputs.batches import SampleBatch, sample_batches
from planktonlm.inputs.cruise import load_cruise
from planktonlm.inputs.select import SampleFilter

GOOD = Path("tests/data/good_cruise")


def ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(1, n + 1)]


def plan(sheets: dict[str, list[str]], per_job: int) -> dict[str, tuple[str, ...]]:
    return {batch.name: batch.samples for batch in sample_batches(sheets, per_job)}


def test_batches_are_cut_within_each_sheet_in_row_order() -> None:
    sheets = {"y1/samples.tsv": ids("A", 5), "y2/samples.tsv": ids("B", 3)}
    batches = sample_batches(sheets, 2)
    assert batches[0] == SampleBatch("s1_b1", "y1/samples.tsv", ("A01", "A02"))
    assert [(b.name, b.sheet, b.samples) for b in batches[1:]] == [
        ("s1_b2", "y1/samples.tsv", ("A03", "A04")), ("s1_b3", "y1/samples.tsv", ("A05",)),  # never mixed with y2
        ("s2_b1", "y2/samples.tsv", ("B01", "B02")), ("s2_b2", "y2/samples.tsv", ("B03",))]
    assert plan(sheets, 1) == {f"s1_b{i}": (s,) for i, s in enumerate(ids("A", 5), 1)} | \
        {f"s2_b{i}": (s,) for i, s in enumerate(ids("B", 3), 1)}  # 1: one job per sample
    assert plan(sheets, 8) == {"s1_b1": tuple(ids("A", 5)), "s2_b1": tuple(ids("B", 3))}
    # a sheet that select emptied keeps its number, so the next sheets' batches keep theirs
    assert plan({"y1": [], "y2": ids("B", 3)}, 2) == {"s2_b1": ("B01", "B02"), "s2_b2": ("B03",)}
    assert sample_batches({}, 8) == []
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="integer >= 1"):
            sample_batches(sheets, bad)


@pytest.mark.parametrize("per_job", [1, 3, 8])
def test_adding_a_sheet_changes_no_batch(per_job: int) -> None:
    year1 = {"y1/samples.tsv": ids("A", 11)}
    before = plan(year1, per_job)
    after = plan({**year1, "y2/samples.tsv": ids("B", 7)}, per_job)
    assert {name: after[name] for name in before} == before  # every batch: same name, same samples
    assert all(set(after[name]) <= set(ids("B", 7)) for name in set(after) - set(before))  # new ones: new samples only
    # a third cruise later on: neither earlier sheet's batches change
    third = plan({**year1, "y2/samples.tsv": ids("B", 7), "y3/samples.tsv": ids("C", 4)}, per_job)
    assert {name: third[name] for name in after} == after


@pytest.mark.parametrize(("n", "added"), [(11, 1), (11, 6), (12, 5), (9, 2)])
def test_appending_rows_changes_only_the_sheets_last_batch(n: int, added: int) -> None:
    """Rows appended to a sheet: its full batches and every other sheet's stay; its last batch
    changes only if it was not full (it gains samples), and new batches follow."""
    per_job = 3
    before = plan({"y1": ids("A", n), "y2": ids("B", 4)}, per_job)
    after = plan({"y1": ids("A", n + added), "y2": ids("B", 4)}, per_job)
    changed = {name for name in before if after[name] != before[name]}
    last = f"s1_b{-(-n // per_job)}"
    assert changed == ({last} if n % per_job else set())
    for name in changed:
        assert after[name][:len(before[name])] == before[name]  # it keeps its samples and gains the new rows
    new = set(after) - set(before)
    assert all(name.startswith("s1_") for name in new)
    rerun = [s for name in sorted(new | changed) for s in after[name]]  # what a dry run would plan
    assert sorted(rerun) == sorted({s for name in changed for s in before[name]} | set(ids("A", n + added)[n:]))


def test_the_cruise_lists_its_samples_by_sheet_after_select(tmp_path: Path) -> None:
    samples = pd.read_csv(GOOD / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    units = pd.read_csv(GOOD / "units.tsv", sep="\t", dtype=str, keep_default_na=False)
    later = samples[samples["sample"] == "S3"]
    samples[samples["sample"] != "S3"].to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    later.to_csv(tmp_path / "b.tsv", sep="\t", index=False)
    units.to_csv(tmp_path / "units.tsv", sep="\t", index=False)
    sheets = [str(tmp_path / "b.tsv"), str(tmp_path / "a.tsv")]
    cruise = load_cruise(sheets, tmp_path / "units.tsv", fastq_scan=None)
    assert cruise.samples_by_sheet() == {sheets[0]: ["S3"], sheets[1]: ["S1", "S2"]}
    station = later["station"].iloc[0]
    chosen = load_cruise(sheets, tmp_path / "units.tsv", fastq_scan=None,
                         sample_filter=SampleFilter.from_config({"select": {"stations": [station]}}))
    assert chosen.samples_by_sheet() == {sheets[0]: ["S3"], sheets[1]: []}  # the emptied sheet is still listed
