"""FASTQ scanning (planktonlm.reads.fastq): counts, and every defect reported with its file and record number."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.reads import fastq
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


# -------------------------------------------------------------------- quality characters


@pytest.mark.parametrize(("char", "shown"), [(" ", "' ' (code 32)"), ("\t", "byte 0x09 (code 9)"), ("\x7f", "byte 0x7F (code 127)")])
def test_quality_character_outside_phred33_names_record_position_and_character(tmp_path: Path, char: str, shown: str) -> None:
    records = make_records(6, seed=20)
    name, seq, qual = records[3]
    records[3] = (name, seq, qual[:2] + char + qual[3:])
    path = write(tmp_path / "r.fastq.gz", records)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    problem = problem_of(excinfo)
    assert (problem.file, problem.row, problem.value) == (str(path), 4, char)
    assert problem.message == f"quality character {shown} at position 3 is outside Phred+33"
    assert "'!' (Q0) to '~' (Q93)" in problem.expected


def test_whole_phred33_range_is_accepted(tmp_path: Path) -> None:
    qualities = "".join(chr(c) for c in range(ord("!"), ord("~") + 1))
    path = write(tmp_path / "r.fastq", [("a", "A" * len(qualities), qualities)])
    assert scan_fastq(path).n_bases == 94


def test_quality_defect_in_r2_of_a_pair_names_r2(tmp_path: Path) -> None:
    r2 = make_records(5, seed=22, mate=2)
    r2[1] = (r2[1][0], r2[1][1], " " + r2[1][2][1:])
    p2 = write(tmp_path / "R2.fastq", r2)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq_pair(write(tmp_path / "R1.fastq", make_records(5, seed=21, mate=1)), p2)
    assert (problem_of(excinfo).file, problem_of(excinfo).row) == (str(p2), 2)


@pytest.mark.parametrize(("line", "part"), [(4, "quality"), (1, "name")])
def test_non_ascii_byte_is_located_in_its_record(tmp_path: Path, line: int, part: str) -> None:
    """dnaio refuses a block holding a non-ASCII byte without a line; the scan finds the record."""
    lines = fastq_bytes(make_records(3000, seed=23)).split(b"\n")
    index = 4 * 2499 + line - 1  # record 2500: far beyond dnaio's first block
    lines[index] = lines[index][:1] + b"\xc3\xa9" + lines[index][3:]
    path = tmp_path / "r.fastq.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines), mtime=0))
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    problem = problem_of(excinfo)
    assert (problem.row, problem.value) == (2500, b"\xc3")
    assert f"(line {index + 1})" in problem.message
    if part == "quality":
        assert "quality character byte 0xC3 (code 195) at position 2 is outside Phred+33" in problem.message
    else:
        assert "non-ASCII byte 0xC3 (code 195) in the read name, position 2" in problem.message


# -------------------------------------------------------------------- read ids


def test_duplicate_read_id_names_both_records(tmp_path: Path) -> None:
    records = make_records(8, seed=24)
    records[6] = (records[2][0] + " second comment",) + records[6][1:]
    path = write(tmp_path / "r.fastq.gz", records)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    problem = problem_of(excinfo)
    assert (problem.file, problem.row, problem.value) == (str(path), 7, "read3")
    assert problem.message == "duplicate read id 'read3' (first at record 3)"


def test_mates_of_one_fragment_in_one_file_are_duplicates(tmp_path: Path) -> None:
    """Later steps key a fragment by its id without /1, /2: both mates in one file would collide."""
    path = write(tmp_path / "r.fastq", [("frag/1", "ACGT", "FFFF"), ("other/1", "ACGT", "FFFF"), ("frag/2", "ACGT", "FFFF")])
    with pytest.raises(PlanktonlmInputError, match=r"row 3: duplicate read id 'frag' \(first at record 1\)"):
        scan_fastq(path)


def test_ids_differing_only_in_a_last_digit_are_not_duplicates(tmp_path: Path) -> None:
    """Only a '/1' or '/2' suffix is a mate suffix: read1 and read2 are different reads."""
    path = write(tmp_path / "r.fastq", [("read1", "ACGT", "FFFF"), ("read2", "ACGT", "FFFF"), ("read3/3", "A", "F")])
    assert scan_fastq(path).n_reads == 3


def test_duplicate_in_a_pair_is_reported_in_r1(tmp_path: Path) -> None:
    r1, r2 = make_records(6, seed=25, mate=1), make_records(6, seed=26, mate=2)
    r1[5], r2[5] = ("read2/1",) + r1[5][1:], ("read2/2",) + r2[5][1:]
    p1 = write(tmp_path / "R1.fastq.gz", r1)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq_pair(p1, write(tmp_path / "R2.fastq.gz", r2))
    assert (problem_of(excinfo).file, problem_of(excinfo).row) == (str(p1), 6)


def test_quick_scan_sees_duplicates_within_its_records_only(tmp_path: Path) -> None:
    records = make_records(30, seed=27)
    records[25] = (records[0][0],) + records[25][1:]
    path = write(tmp_path / "r.fastq", records)
    assert scan_fastq(path, max_records=20).n_reads == 20
    with pytest.raises(PlanktonlmInputError, match="row 26: duplicate read id 'read1'"):
        scan_fastq(path, max_records=26)


def test_hash_collisions_alone_are_not_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every id hashing alike forces the second pass: the ids themselves differ, so nothing is reported."""
    monkeypatch.setattr(fastq, "hash", lambda text: 7, raising=False)
    path = write(tmp_path / "r.fastq", make_records(50, seed=28))
    assert scan_fastq(path).n_reads == 50
    records = make_records(50, seed=28)
    records[40] = (records[10][0],) + records[40][1:]
    with pytest.raises(PlanktonlmInputError, match=r"row 41: duplicate read id 'read11' \(first at record 11\)"):
        scan_fastq(write(tmp_path / "d.fastq", records))


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_a_single_repeat_is_found_whatever_the_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(fastq, "_HASH_CHUNK", chunk)
    records = make_records(40, seed=29)
    records[33] = (records[17][0],) + records[33][1:]
    with pytest.raises(PlanktonlmInputError, match=r"row 34: duplicate read id 'read18' \(first at record 18\)"):
        scan_fastq(write(tmp_path / "r.fastq", records))


def test_a_file_concatenated_twice_reports_a_true_repeat_with_bounded_candidates(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastq, "_DUPLICATE_CANDIDATES", 3)
    monkeypatch.setattr(fastq, "_HASH_CHUNK", 8)
    records = make_records(60, seed=30)
    path = tmp_path / "r.fastq.gz"
    path.write_bytes(gzip.compress(fastq_bytes(records), mtime=0) * 2)  # cat r.fastq.gz r.fastq.gz
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    problem = problem_of(excinfo)
    assert problem.row > 60 and problem.value == f"read{problem.row - 60}"
    assert problem.message == f"duplicate read id 'read{problem.row - 60}' (first at record {problem.row - 60})"


# -------------------------------------------------------------------- sequence characters


@pytest.mark.parametrize(("char", "shown"), [(".", "'.' (code 46)"), ("7", "'7' (code 55)"), (" ", "' ' (code 32)"),
                                             ("-", "'-' (code 45)"), ("X", "'X' (code 88)")])
def test_sequence_character_that_is_no_nucleotide_names_record_position_and_character(tmp_path: Path, char: str,
                                                                                       shown: str) -> None:
    records = make_records(6, seed=30)
    name, seq, qual = records[4]
    records[4] = (name, seq[:3] + char + seq[4:], qual)
    path = write(tmp_path / "r.fastq.gz", records)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(path)
    problem = problem_of(excinfo)
    assert (problem.file, problem.row, problem.value) == (str(path), 5, char)
    assert problem.message == f"sequence character {shown} at position 4 is not a nucleotide code"
    assert "IUPAC" in problem.expected


def test_every_iupac_code_in_either_case_is_accepted(tmp_path: Path) -> None:
    codes = "ACGTUNRYSWKMBDHV"
    path = write(tmp_path / "r.fastq", [("a", codes + codes.lower(), "F" * 2 * len(codes))])
    assert scan_fastq(path).n_bases == 32


@pytest.mark.parametrize("batch", [1, 3, 4096])
def test_the_first_defect_of_a_file_is_reported_whichever_check_finds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                          batch: int) -> None:
    """Sequences are checked a batch at a time, qualities at once: a bad base in record 2 still comes
    before a bad quality in record 3, and a bad base in the last, unfinished batch is found."""
    monkeypatch.setattr(fastq, "_SEQUENCE_BATCH", batch)
    records = make_records(7, seed=31)
    records[1] = (records[1][0], "N." + records[1][1][2:], records[1][2])
    records[2] = (records[2][0], records[2][1], " " + records[2][2][1:])
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(write(tmp_path / "a.fastq", records))
    assert (problem_of(excinfo).row, problem_of(excinfo).value) == (2, ".")
    last = make_records(7, seed=31)
    last[6] = (last[6][0], last[6][1][:-1] + "*", last[6][2])
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq(write(tmp_path / "b.fastq", last))
    assert (problem_of(excinfo).row, problem_of(excinfo).value) == (7, "*")


def test_sequence_defect_in_r2_of_a_pair_names_r2(tmp_path: Path) -> None:
    r2 = make_records(5, seed=33, mate=2)
    r2[3] = (r2[3][0], "1" + r2[3][1][1:], r2[3][2])
    p2 = write(tmp_path / "R2.fastq", r2)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq_pair(write(tmp_path / "R1.fastq", make_records(5, seed=32, mate=1)), p2)
    assert (problem_of(excinfo).file, problem_of(excinfo).row, problem_of(excinfo).value) == (str(p2), 4, "1")


# -------------------------------------------------------------------- mate order


@pytest.mark.parametrize(("marks", "hint"), [(("1", "1"), "given twice"), (("2", "2"), "given twice"),
                                             (("2", "1"), "swapped")])
@pytest.mark.parametrize("style", ["suffix", "casava"])
def test_headers_stating_the_wrong_mates_are_refused(tmp_path: Path, marks: tuple[str, str], hint: str, style: str) -> None:
    def records(mate: str) -> list[tuple[str, str, str]]:
        name = (lambda i: f"r{i}/{mate}") if style == "suffix" else (lambda i: f"r{i} {mate}:N:0:ACGT")
        return [(name(i), "ACGT", "FFFF") for i in range(3)]

    p1, p2 = write(tmp_path / "R1.fastq", records(marks[0])), write(tmp_path / "R2.fastq", records(marks[1]))
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq_pair(p1, p2)
    problem = problem_of(excinfo)
    assert (problem.file, problem.row) == (str(p2), 1)
    assert f"mate {marks[0]} in {p1} and mate {marks[1]} here" in problem.message and hint in problem.message


@pytest.mark.parametrize(("name", "mark"), [("r1/1", "1"), ("r1/2", "2"), ("r1 1:N:0:AC", "1"), ("r1 2:Y:0:AC", "2"),
                                            ("r1", None), ("r1 1 length=150", None), ("r1/3", None), ("SRR1.1 12:N", None)])
def test_mate_marker_reads_suffix_and_casava_comment_only(tmp_path: Path, name: str, mark: str | None) -> None:
    (record,) = fastq.iter_fastq(write(tmp_path / "r.fastq", [(name, "ACGT", "FFFF")]))
    assert fastq.mate_marker(record) == mark


def test_bad_sequences_in_both_mates_report_r1(tmp_path: Path) -> None:
    r1, r2 = make_records(4, seed=34, mate=1), make_records(4, seed=35, mate=2)
    r1[2] = (r1[2][0], "." + r1[2][1][1:], r1[2][2])
    r2[1] = (r2[1][0], "-" + r2[1][1][1:], r2[1][2])
    p1 = write(tmp_path / "R1.fastq", r1)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        scan_fastq_pair(p1, write(tmp_path / "R2.fastq", r2))
    assert (problem_of(excinfo).file, problem_of(excinfo).row, problem_of(excinfo).value) == (str(p1), 3, ".")
