"""FASTQ scanning (planktonlm.reads.fastq): counts, and every defect reported with its file and record number."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.reads.fastq import FastqStats, scan_fastq, scan_fastq_pair


def make_records(n: int, seed: int, mate: int | None = None, min_len: int = 20, max_len: int = 60) -> list[tuple[str, str, str]]:
    """(name, sequence, quality) with random lengths, so that base counts are not trivial."""
    rng = random.Random(seed)
    records = []
    for i in range(1, n + 1):
        length = rng.randint(min_len, max_len)
        name = f"read{i}" + (f"/{mate}" if mate else "")
        records.append((name, "".join(rng.choice("ACGTN") for _ in range(length)), "".join(rng.choice("#,:F") for _ in range(length))))
    return records


def fastq_bytes(records: list[tuple[str, str, str]]) -> bytes:
    return "".join(f"@{n}\n{s}\n+\n{q}\n" for n, s, q in records).encode()


def write(path: Path, records: list[tuple[str, str, str]], *, gzipped: bool | None = None) -> Path:
    data = fastq_bytes(records)
    if gzipped if gzipped is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def problem_of(excinfo: pytest.ExceptionInfo[PlanktonlmInputError]):
    assert len(excinfo.value.problems) == 1
    return excinfo.value.problems[0]


@pytest.mark.parametrize("name", ["reads.fastq", "reads.fastq.gz"])
def test_scan_counts_reads_and_bases(tmp_path: Path, name: str) -> None:
    records = make_records(37, seed=3)
    stats = scan_fastq(write(tmp_path / name, records))
    assert stats == FastqStats(n_reads=37, n_bases=sum(len(s) for _, s, _ in records))
    assert stats.mean_length == pytest.approx(sum(len(s) for _, s, _ in records) / 37)


def test_mean_length_of_nothing_is_zero() -> None:
    assert FastqStats(0, 0).mean_length == 0.0


def test_max_records_limits_the_scan(tmp_path: Path) -> None:
    records = make_records(50, seed=4)
    stats = scan_fastq(write(tmp_path / "r.fastq.gz", records), max_records=10)
    assert stats.n_reads == 10
    assert stats.n_bases == sum(len(s) for _, s, _ in records[:10])


@pytest.mark.parametrize("broken_record", [1, 4, 9])
def test_quality_length_mismatch_names_the_record(tmp_path: Path, broken_record: int) -> None:
    records = make_records(10, seed=5)
    name, seq, qual = records[broken_record - 1]
    records[broken_record - 1] = (name, seq, qual[:-2])
    path = write(tmp_path / "r.fastq.gz", records)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    problem = problem_of(excinfo)
    assert problem.file == str(path)
    assert problem.row == broken_record
    assert "Length of sequence and qualities differ" in problem.message
    assert f"line {4 * broken_record}" in problem.message


def test_missing_plus_line_names_the_record(tmp_path: Path) -> None:
    text = fastq_bytes(make_records(3, seed=6)).decode().splitlines()
    del text[6]  # the '+' line of record 2
    path = tmp_path / "r.fastq"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    assert problem_of(excinfo).row == 2


def test_fasta_is_not_fastq(tmp_path: Path) -> None:
    path = tmp_path / "r.fastq"
    path.write_text(">a\nACGT\n>b\nACGT\n")
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    assert problem_of(excinfo).row == 1
    assert "'@'" in str(excinfo.value)


def test_truncated_gzip_is_reported_with_full_scan_only(tmp_path: Path) -> None:
    # Many records so that the cut lies far beyond the first 10 records read by the quick scan.
    whole = gzip.compress(fastq_bytes(make_records(3000, seed=7)), mtime=0)
    path = tmp_path / "r.fastq.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    problem = problem_of(excinfo)
    assert problem.file == str(path)
    assert "truncated" in problem.message
    assert scan_fastq(path, max_records=10).n_reads == 10


def test_corrupt_gzip_is_reported(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(fastq_bytes(make_records(200, seed=8)), mtime=0))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "r.fastq.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    assert str(path) in str(excinfo.value)


def test_gzip_name_on_plain_text_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "r.fastq.gz", make_records(3, seed=9), gzipped=False)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    assert "damaged" in problem_of(excinfo).message


@pytest.mark.parametrize("content", [b"", gzip.compress(b"", mtime=0)], ids=["zero-bytes", "empty-gzip"])
def test_file_without_records(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "r.fastq.gz"
    path.write_bytes(content)
    with pytest.raises(PlanktonlmInputError, match="no FASTQ records"):
        scan_fastq(path)
    assert scan_fastq(path, allow_empty=True) == FastqStats(0, 0)


def test_unreadable_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(PlanktonlmInputError, match="cannot read the file"):
        scan_fastq(tmp_path / "absent.fastq")
    with pytest.raises(PlanktonlmInputError, match="cannot read the file"):
        scan_fastq(tmp_path)


def test_pair_returns_stats_of_each_mate(tmp_path: Path) -> None:
    r1, r2 = make_records(25, seed=10, mate=1), make_records(25, seed=11, mate=2)
    stats1, stats2 = scan_fastq_pair(write(tmp_path / "a_R1.fastq.gz", r1), write(tmp_path / "a_R2.fastq.gz", r2))
    assert stats1 == FastqStats(25, sum(len(s) for _, s, _ in r1))
    assert stats2 == FastqStats(25, sum(len(s) for _, s, _ in r2))


def test_pair_accepts_casava_style_names(tmp_path: Path) -> None:
    r1 = [(f"M0:1:FC:1:1:{i}:7 1:N:0:ACGT", "ACGT", "FFFF") for i in range(5)]
    r2 = [(f"M0:1:FC:1:1:{i}:7 2:N:0:ACGT", "ACGA", "FFFF") for i in range(5)]
    stats1, _ = scan_fastq_pair(write(tmp_path / "R1.fastq", r1), write(tmp_path / "R2.fastq", r2))
    assert stats1.n_reads == 5


@pytest.mark.parametrize("n1, n2", [(8, 7), (7, 8)])
def test_pair_count_mismatch_reports_both_totals(tmp_path: Path, n1: int, n2: int) -> None:
    p1 = write(tmp_path / "R1.fastq.gz", make_records(n1, seed=12, mate=1))
    p2 = write(tmp_path / "R2.fastq.gz", make_records(n2, seed=13, mate=2))
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq_pair(p1, p2)
    problem = problem_of(excinfo)
    assert problem.row == min(n1, n2) + 1
    assert f"{n1} in {p1}" in problem.message
    assert f"{n2} in {p2}" in problem.message


def test_pair_count_mismatch_in_quick_mode_only_within_the_limit(tmp_path: Path) -> None:
    p1 = write(tmp_path / "R1.fastq.gz", make_records(30, seed=14, mate=1))
    p2 = write(tmp_path / "R2.fastq.gz", make_records(20, seed=15, mate=2))
    stats1, stats2 = scan_fastq_pair(p1, p2, max_records=10)
    assert stats1.n_reads == stats2.n_reads == 10
    with pytest.raises(PlanktonlmInputError, match=r"within the first 25\): 25 in .*, 20 in"):
        scan_fastq_pair(p1, p2, max_records=25)


def test_pair_mate_name_mismatch_names_the_record(tmp_path: Path) -> None:
    r1 = make_records(6, seed=16, mate=1)
    r2 = make_records(6, seed=17, mate=2)
    r2[3] = ("other/2",) + r2[3][1:]
    p2 = write(tmp_path / "R2.fastq", r2)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq_pair(write(tmp_path / "R1.fastq", r1), p2)
    problem = problem_of(excinfo)
    assert (problem.file, problem.row, problem.value) == (str(p2), 4, "other/2")
    assert "'read4/1'" in problem.message


def test_pair_defect_in_one_mate_is_reported_for_that_file(tmp_path: Path) -> None:
    r2 = make_records(5, seed=19, mate=2)
    r2[2] = (r2[2][0], r2[2][1], r2[2][2] + "F")
    p2 = write(tmp_path / "R2.fastq", r2)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq_pair(write(tmp_path / "R1.fastq", make_records(5, seed=18, mate=1)), p2)
    problem = problem_of(excinfo)
    assert (problem.file, problem.row) == (str(p2), 3)


def test_pair_of_empty_files_reports_both(tmp_path: Path) -> None:
    p1, p2 = tmp_path / "R1.fastq", tmp_path / "R2.fastq"
    p1.write_bytes(b"")
    p2.write_bytes(b"")
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq_pair(p1, p2)
    assert [p.file for p in excinfo.value.problems] == [str(p1), str(p2)]
    assert scan_fastq_pair(p1, p2, allow_empty=True) == (FastqStats(0, 0), FastqStats(0, 0))
