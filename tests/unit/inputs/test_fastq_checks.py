"""The FASTQ files of units.tsv (planktonlm.inputs.fastq_checks): listed once, content scans, the scan cache."""

from __future__ import annotations

import gzip
import os
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
    with pytest.raises(PlanktonlmInputError, match=r"S2_L1_R1.fastq.gz: the compressed stream ends early.*row 3: sample S2, unit L1"):
        load_cruise(samples_tsv, units_tsv, fastq_scan="full")



def test_scan_cache_skips_unchanged_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, good_cruise_copy) -> None:
    samples_tsv, units_tsv = good_cruise_copy()
    scanned: list[str] = []
    real_scan = fastq_checks.scan_fastq_pair

    def counting_scan(r1, r2, max_records=None):
        scanned.append(Path(r1).name)
        return real_scan(r1, r2, max_records)

    monkeypatch.setattr(fastq_checks, "scan_fastq_pair", counting_scan)
    cache = tmp_path / "cache" / "scans.json"
    load_cruise(samples_tsv, units_tsv, scan_cache=cache)
    assert len(scanned) == 4 and cache.is_file()
    load_cruise(samples_tsv, units_tsv, scan_cache=cache)
    assert len(scanned) == 4
    changed = tmp_path / "reads" / "S2_L1_R2.fastq.gz"
    os.utime(changed, ns=(0, changed.stat().st_mtime_ns + 10**9))
    load_cruise(samples_tsv, units_tsv, scan_cache=cache)
    assert scanned[4:] == ["S2_L1_R1.fastq.gz"]
    load_cruise(samples_tsv, units_tsv, fastq_scan="quick", scan_cache=cache)  # another mode, another key
    assert len(scanned) == 9
