"""The FASTQ files of units.tsv (planktonlm.inputs.fastq_checks): listed once, content scans, the scan cache."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.inputs import fastq_checks
from planktonlm.inputs.cruise import load_cruise

GOOD = Path("tests/data/good_cruise")


def test_same_fastq_in_two_units_is_refused(tmp_path: Path) -> None:
    units = pd.read_csv(GOOD / "units.tsv", sep="\t", dtype=str)
    units.loc[1, "fq1"] = units.loc[0, "fq1"]
    path = tmp_path / "units.tsv"
    units.to_csv(path, sep="\t", index=False)
    with pytest.raises(PlanktonlmInputError, match=r"row 2, column 'fq1': FASTQ listed twice: already listed at row 1, fq1"):
        load_cruise(GOOD / "samples.tsv", path)



def test_quick_scan_stops_early_full_scan_reads_to_the_end(tmp_path: Path, good_cruise_copy) -> None:
    samples_tsv, units_tsv = good_cruise_copy()
    # Replace S2's pair with 5000 random (hardly compressible) pairs, then cut R1 far beyond the
    # first 1000 records and beyond the first blocks that dnaio reads.
    rng = random.Random(5)
    sequences = ["".join(rng.choice("ACGT") for _ in range(100)) for _ in range(5000)]
    r1 = "".join(f"@p{i}/1\n{s}\n+\n{'F' * 100}\n" for i, s in enumerate(sequences))
    r2 = r1.replace("/1\n", "/2\n")
    whole = gzip.compress(r1.encode(), mtime=0)
    (tmp_path / "reads" / "S2_L1_R1.fastq.gz").write_bytes(whole[: len(whole) * 4 // 5])
    (tmp_path / "reads" / "S2_L1_R2.fastq.gz").write_bytes(gzip.compress(r2.encode(), mtime=0))
    load_cruise(samples_tsv, units_tsv, fastq_scan="quick")
    with pytest.raises(PlanktonlmInputError, match=r"S2_L1_R1.fastq.gz: the compressed stream ends early.*units.tsv: sample S2, unit L1"):
        load_cruise(samples_tsv, units_tsv, fastq_scan="full")



def test_no_scan_checks_files_but_reads_no_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, good_cruise_copy) -> None:
    """fastq_scan=None (the workflow's parse time): files are checked, their records are the check_fastq jobs'."""
    samples_tsv, units_tsv = good_cruise_copy()
    (tmp_path / "reads" / "S2_L1_R1.fastq.gz").write_bytes(b"not gzip at all")

    def no_scan(*args, **kwargs):
        raise AssertionError("FASTQ content read at parse time")

    monkeypatch.setattr(fastq_checks, "scan_fastq_pair", no_scan)
    monkeypatch.setattr(fastq_checks, "scan_fastq", no_scan)
    cruise = load_cruise(samples_tsv, units_tsv, fastq_scan=None)
    assert cruise.unit_sheet("S2", "L1") == str(units_tsv)
    (tmp_path / "reads" / "S3_L1_R2.fastq.gz").unlink()
    with pytest.raises(PlanktonlmInputError, match=r"row 4, column 'fq2': file not found"):
        load_cruise(samples_tsv, units_tsv, fastq_scan=None)


def test_unit_content_check_names_the_units_row(tmp_path: Path) -> None:
    r1 = GOOD / "reads" / "S1_L1_R1.fastq.gz"
    stats = fastq_checks.check_unit_content(str(r1), None, None, "[units.tsv: sample S1, unit L1]")
    assert [s.n_reads for s in stats] == [50]
    broken = tmp_path / "r.fastq"
    broken.write_text("@a\nACGT\n+\nII\n")
    with pytest.raises(PlanktonlmInputError) as excinfo:
        fastq_checks.check_unit_content(str(broken), None, None, fastq_checks.unit_context("units.tsv", "S9", "L3"))
    assert str(excinfo.value).count("[units.tsv: sample S9, unit L3]") == 1
    assert "row 1: invalid FASTQ record (line 4)" in str(excinfo.value)


def test_check_report_is_one_row_per_file() -> None:
    from planktonlm.reads.fastq import FastqStats

    table = fastq_checks.check_report("S1", "L1", ["a_R1.fq.gz", "a_R2.fq.gz"], [FastqStats(4, 400), FastqStats(4, 396)], "quick")
    assert table.to_dict("records") == [
        {"sample": "S1", "unit": "L1", "mate": "R1", "file": "a_R1.fq.gz", "records": 4, "bases": 400, "mean_length": 100.0,
         "scan": "quick (first 1000 records)"},
        {"sample": "S1", "unit": "L1", "mate": "R2", "file": "a_R2.fq.gz", "records": 4, "bases": 396, "mean_length": 99.0,
         "scan": "quick (first 1000 records)"},
    ]
