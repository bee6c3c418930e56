"""FASTQ reading with dnaio: record streams and validating scans of single and mate files.

The scans stream every record (or the first ``max_records``) once and turn anything wrong
into a PlanktonlmInputError naming the file and the record: a damaged or truncated compressed
stream, broken FASTQ syntax, a quality string whose length differs from the sequence, a quality
character outside Phred+33, a sequence character that is not a nucleotide code, a non-ASCII
byte, a read id that occurs twice in one file, a file without records, mates whose names,
order or counts disagree. Memory is constant except for the read-id
check, which keeps 8 bytes per record (a 64-bit hash of each id).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import lzma
import os
import time
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

import dnaio
import numpy as np
import xopen

from planktonlm.errors import InputProblem, PlanktonlmInputError

logger = logging.getLogger(__name__)

FASTQ_EXPECTED = "FASTQ records of 4 lines: '@name', sequence, '+', a quality string as long as the sequence"
PHRED33 = (ord("!"), ord("~"))  # Q0 .. Q93
_PHRED33_CHARS = bytes(range(PHRED33[0], PHRED33[1] + 1))
QUALITY_EXPECTED = "quality characters from '!' (Q0) to '~' (Q93): Phred+33, as Illumina 1.8+ and every current instrument write"
# IUPAC nucleotide codes, either case (U: RNA-style T). Digits, spaces, '.', '-' and the like in a
# sequence mean a damaged or mis-converted file; they would reach the encoder as N without a word.
_SEQUENCE_CHARS = b"ACGTUNRYSWKMBDHVacgtunryswkmbdhv"
SEQUENCE_EXPECTED = "IUPAC nucleotide codes in either case: A C G T N, or U R Y S W K M B D H V (a no-call written '.' must be N)"
_SEQUENCE_BATCH = 4096  # records whose sequences are checked in one C-level pass
DUPLICATE_EXPECTED = "each read id once per file (the name up to the first space; a trailing /1, /2 is ignored)"
_RECORD_LINES = ("read name", "sequence", "'+' line", "quality string")
_DUPLICATE_CANDIDATES = 100_000  # repeated id hashes taken to the second pass, at most (memory bound)
_HASH_CHUNK = 1 << 20  # hashes compared per step when looking for repeats
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FastqStats:
    """Counts from one scan of a FASTQ file (only the records scanned, in quick mode)."""

    n_reads: int
    n_bases: int

    @property
    def mean_length(self) -> float:
        return self.n_bases / self.n_reads if self.n_reads else 0.0


def _character(code: int) -> str:
    """A character of a FASTQ file for a message: "' ' (code 32)", "byte 0xB0 (code 176)"."""
    shown = repr(chr(code)) if 32 <= code < 127 else f"byte 0x{code:02X}"
    return f"{shown} (code {code})"


def _value(code: int) -> str | bytes:
    """The offending character as a problem's value: the character itself if ASCII, else the byte."""
    return chr(code) if code < 128 else bytes([code])


def _first_non_ascii(path: str) -> InputProblem | None:
    """The first non-ASCII byte of a FASTQ file, with its record (dnaio only says "somewhere in
    a block"); streamed line by line, only after dnaio has refused the file."""
    with xopen.xopen(path, "rb") as handle:
        for line_number, line in enumerate(handle):
            if line and max(line) > 127:
                position = next(i for i, code in enumerate(line) if code > 127)
                part = _RECORD_LINES[line_number % 4]
                code = line[position]
                if part == "quality string":
                    message = f"quality character {_character(code)} at position {position + 1} is outside Phred+33"
                    expected = QUALITY_EXPECTED
                else:
                    message = f"non-ASCII {_character(code)} in the {part}, position {position + 1}"
                    expected = "ASCII text (" + FASTQ_EXPECTED + ")"
                return InputProblem(file=path, row=line_number // 4 + 1, value=_value(code),
                                    message=f"{message} (line {line_number + 1})", expected=expected)
    return None


def _format_problem(path: str, exc: dnaio.FileFormatError, n_read: int) -> InputProblem:
    """dnaio's 0-based ``line`` gives the record (FASTQ records are exactly 4 lines in dnaio)."""
    line = getattr(exc, "line", None)
    message = getattr(exc, "message", str(exc))
    if line is None and "Non-ASCII" in message:
        located = _first_non_ascii(path)
        if located is not None:
            return located
    if line is None:
        return InputProblem(
            file=path,
            message=f"invalid FASTQ (after at least {n_read} valid records): {message}",
            expected=FASTQ_EXPECTED,
        )
    return InputProblem(
        file=path,
        row=line // 4 + 1,
        message=f"invalid FASTQ record (line {line + 1}): {message}",
        expected=FASTQ_EXPECTED,
    )


def _stream_problem(path: str, exc: BaseException, n_read: int) -> InputProblem:
    """Compressed-stream damage; dnaio reads in blocks, so only a lower bound on the record is known."""
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return InputProblem(file=path, message=f"cannot read the file: {exc}", expected="a readable FASTQ file")
    if isinstance(exc, EOFError):
        what = "the compressed stream ends early: the file is truncated (an interrupted copy or download?)"
    else:
        what = f"the compressed data is damaged ({exc})"
    if n_read:
        what += f"; {n_read} records could be read before it"
    return InputProblem(
        file=path,
        message=what,
        expected="a complete, intact file (test it with `gzip -t`)",
    )


def iter_fastq(path: PathLike, max_records: int | None = None) -> Iterator[dnaio.SequenceRecord]:
    """Yield the records of one FASTQ file (any compression xopen knows), at most ``max_records``.

    Raises PlanktonlmInputError naming the file and record on any defect met while reading.
    """
    path = os.fspath(path)
    n_read = 0
    try:
        with dnaio.open(path, fileformat="fastq", mode="r") as reader:
            for record in itertools.islice(reader, max_records):
                n_read += 1
                yield record
    except dnaio.FileFormatError as exc:
        raise PlanktonlmInputError(_format_problem(path, exc, n_read)) from exc
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise PlanktonlmInputError(_stream_problem(path, exc, n_read)) from exc


def _empty_problem(path: str) -> InputProblem:
    return InputProblem(
        file=path,
        message="the file holds no FASTQ records",
        expected="at least one read",
    )


def _log_scan(paths: str, n_reads: int, started: float) -> None:
    seconds = max(time.perf_counter() - started, 1e-9)
    logger.info("scanned %s: %d records in %.1f s (%.0f records/s)", paths, n_reads, seconds, n_reads / seconds)


def mate_normalised_id(record_id: str) -> str:
    """A read id without a trailing mate suffix ``/1`` or ``/2``: both mates of a pair share it,
    and the per-sample steps after QC key fragments by it."""
    return record_id[:-2] if record_id.endswith(("/1", "/2")) else record_id


def _bad_qualities(qualities: bytes) -> bytes:
    """The characters of a quality string outside Phred+33 (b"" when all are fine). One C-level
    table pass (bytes.translate), a tenth of the cost of min()/max() over the characters."""
    return qualities.translate(None, _PHRED33_CHARS)


def _quality_problem(path: str, record_number: int, qualities: bytes) -> InputProblem:
    """The first quality character of a record outside Phred+33 ('!'..'~')."""
    low, high = PHRED33
    position = next(i for i, code in enumerate(qualities) if not low <= code <= high)
    code = qualities[position]
    return InputProblem(
        file=path,
        row=record_number,
        value=_value(code),
        message=f"quality character {_character(code)} at position {position + 1} is outside Phred+33",
        expected=QUALITY_EXPECTED,
    )


def _sequence_problem(path: str, record_number: int, sequence: str) -> InputProblem:
    """The first character of a record's sequence that is not an IUPAC nucleotide code."""
    position = next(i for i, char in enumerate(sequence) if char.encode() not in _SEQUENCE_CHARS)
    code = ord(sequence[position])
    return InputProblem(
        file=path,
        row=record_number,
        value=sequence[position],
        message=f"sequence character {_character(code)} at position {position + 1} is not a nucleotide code",
        expected=SEQUENCE_EXPECTED,
    )


class _Sequences:
    """Sequences awaiting the character check, a batch at a time: one ``bytes.translate`` over the
    joined batch costs a fifth of one per record. ``check`` raises for the earliest bad record of
    the batch. As a context manager it checks what is pending when the scan ends, and before any
    other input problem leaves the scan, so the first problem of the file is the one reported,
    whichever check finds it."""

    def __init__(self, path: str):
        self.path, self.pending, self.first_record = path, [], 1

    def add(self, record_number: int, sequence: str) -> None:
        if not self.pending:
            self.first_record = record_number
        self.pending.append(sequence)
        if len(self.pending) >= _SEQUENCE_BATCH:
            self.check()

    def __enter__(self) -> _Sequences:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_) -> None:
        if kind is None or issubclass(kind, PlanktonlmInputError):
            self.check()  # raised here, an earlier record's problem replaces the later one

    def check(self) -> None:
        batch, self.pending = self.pending, []
        if batch and "".join(batch).encode().translate(None, _SEQUENCE_CHARS):
            for offset, sequence in enumerate(batch):
                if sequence.encode().translate(None, _SEQUENCE_CHARS):
                    raise PlanktonlmInputError(_sequence_problem(self.path, self.first_record + offset, sequence))


class _ReadIds:
    """The mate-normalised read ids of one file, to find one that occurs twice.

    The check needs every id of the file at once. Keeping the strings would cost ~100 bytes per
    read (10 GB for 100 M reads); this keeps a 64-bit hash of each (8 bytes per read, sorted in
    place at the end), and only when two hashes agree is the file read a second time to compare
    the ids themselves: a hash collision alone is never reported. The scans append
    ``hash(mate_normalised_id(record.id))`` to ``hashes`` themselves (once per read, no method call).
    A file with very many repeats (one concatenated twice) takes at most _DUPLICATE_CANDIDATES
    of them to the second pass, so the repeat reported is a true one, not always the earliest.
    """

    def __init__(self, path: str, max_records: int | None):
        self.path, self.max_records = path, max_records
        self.hashes = array("q")

    def _repeated_hashes(self) -> set[int]:
        hashes = np.frombuffer(self.hashes, dtype=np.int64)
        hashes.sort()  # in place: no second copy of the ids' hashes
        repeated: set[int] = set()
        for start in range(0, max(len(hashes) - 1, 0), _HASH_CHUNK):  # chunks: no n-sized mask
            block = hashes[start:start + _HASH_CHUNK + 1]
            repeated.update(block[1:][block[1:] == block[:-1]][:_DUPLICATE_CANDIDATES].tolist())
            if len(repeated) >= _DUPLICATE_CANDIDATES:
                break
        return repeated

    def duplicate_problem(self) -> InputProblem | None:
        """The first record (in file order) whose id an earlier record has, among the candidates."""
        repeated = self._repeated_hashes()
        if not repeated:
            return None
        first: dict[str, int] = {}
        with contextlib.closing(iter_fastq(self.path, self.max_records)) as records:
            for record_number, record in enumerate(records, start=1):
                key = mate_normalised_id(record.id)
                if hash(key) not in repeated:
                    continue
                if key in first:
                    return InputProblem(
                        file=self.path,
                        row=record_number,
                        value=record.id,
                        message=f"duplicate read id {key!r} (first at record {first[key]})",
                        expected=DUPLICATE_EXPECTED,
                    )
                first[key] = record_number
        return None


def scan_fastq(path: PathLike, max_records: int | None = None, *, allow_empty: bool = False) -> FastqStats:
    """Stream one FASTQ file and count reads and bases; raise PlanktonlmInputError if it is invalid.

    ``max_records=None`` reads every record (full scan: gzip integrity is checked to the end);
    otherwise only the first ``max_records``. Besides what :func:`iter_fastq` checks, quality
    characters must be Phred+33 and read ids unique (mate suffix ignored). A file with no record
    is an error unless ``allow_empty``.
    """
    path = os.fspath(path)
    started = time.perf_counter()
    n_reads = n_bases = 0
    ids = _ReadIds(path, max_records)
    with contextlib.closing(iter_fastq(path, max_records)) as records, _Sequences(path) as sequences:
        add_id, add_sequence = ids.hashes.append, sequences.add  # the loop runs once per read: no method lookups in it
        for record in records:
            n_reads += 1
            n_bases += len(record.sequence)
            add_sequence(n_reads, record.sequence)
            if _bad_qualities(record.qualities_as_bytes()):
                raise PlanktonlmInputError(_quality_problem(path, n_reads, record.qualities_as_bytes()))
            add_id(hash(mate_normalised_id(record.id)))
    if n_reads == 0 and not allow_empty:
        raise PlanktonlmInputError(_empty_problem(path))
    problem = ids.duplicate_problem()
    if problem is not None:
        raise PlanktonlmInputError(problem)
    _log_scan(path, n_reads, started)
    return FastqStats(n_reads=n_reads, n_bases=n_bases)


def _mate_count_problem(r1: str, r2: str, n1: int, n2: int, max_records: int | None) -> InputProblem:
    scope = "" if max_records is None else f" (within the first {max_records})"
    return InputProblem(
        file=r1,
        row=min(n1, n2) + 1,
        message=f"mate files hold different numbers of records{scope}: {n1} in {r1}, {n2} in {r2}",
        expected="as many records in R2 as in R1, in the same order",
    )


def mate_marker(record: dnaio.SequenceRecord) -> str | None:
    """The mate number a read's header states, "1" or "2", or None: a trailing /1, /2 on the id,
    or the Casava 1.8 comment (``@name 2:N:0:ACGT``)."""
    read_id, _, comment = record.name.partition(" ")
    if read_id.endswith(("/1", "/2")):
        return read_id[-1]
    if comment[:1] in ("1", "2") and comment[1:2] == ":":
        return comment[0]
    return None


def _mate_order_problem(r1: str, r2: str, record1: dnaio.SequenceRecord, record2: dnaio.SequenceRecord) -> InputProblem | None:
    """The first pair's headers say the files are not R1 then R2 (a copy of one mate file, or fq1 and
    fq2 swapped in units.tsv); None when they agree or do not say."""
    marks = mate_marker(record1), mate_marker(record2)
    if None in marks or marks == ("1", "2"):
        return None
    what = "fq1 and fq2 swapped in units.tsv?" if marks == ("2", "1") else "one mate file given twice, or a copy of it?"
    return InputProblem(
        file=r2,
        row=1,
        value=record2.name,
        message=f"the first records say mate {marks[0]} in {r1} and mate {marks[1]} here ({what})",
        expected="read 1 of each pair in fq1 and read 2 in fq2 (headers ending /1 and /2, or comments 1:... and 2:...)",
    )


def iter_mate_pairs(r1: PathLike, r2: PathLike, max_records: int | None = None) -> Iterator[tuple]:
    """Stream two mate files in lockstep, yielding (record1, record2).

    Mates must carry the same read id (the name up to the first space, a trailing 1/2/3
    ignored, as dnaio's ``is_mate``), the first pair's headers must not state mate 1 twice, mate 2
    twice or 2 then 1 (:func:`mate_marker`), and both files must hold the same number of records
    (within the first ``max_records``); either failure raises PlanktonlmInputError.
    """
    r1, r2 = os.fspath(r1), os.fspath(r2)
    n_pairs = 0
    records1, records2 = iter_fastq(r1, max_records), iter_fastq(r2, max_records)
    with contextlib.closing(records1), contextlib.closing(records2):
        for record1, record2 in itertools.zip_longest(records1, records2):
            if record1 is None or record2 is None:
                # One file ran out first: count the rest of the longer one to report both totals.
                n_longer = n_pairs + 1 + sum(1 for _ in (records1 if record2 is None else records2))
                n1, n2 = (n_longer, n_pairs) if record2 is None else (n_pairs, n_longer)
                raise PlanktonlmInputError(_mate_count_problem(r1, r2, n1, n2, max_records))
            n_pairs += 1
            if n_pairs == 1 and (problem := _mate_order_problem(r1, r2, record1, record2)):
                raise PlanktonlmInputError(problem)
            if not record1.is_mate(record2):
                raise PlanktonlmInputError(
                    InputProblem(
                        file=r2,
                        row=n_pairs,
                        message=f"mate names differ: {record1.id!r} in {r1} but {record2.id!r} here",
                        value=record2.id,
                        expected="the same read order and read ids in both mate files (a trailing /1, /2 is ignored)",
                    )
                )
            yield record1, record2


def scan_fastq_pair(
    r1: PathLike, r2: PathLike, max_records: int | None = None, *, allow_empty: bool = False
) -> tuple[FastqStats, FastqStats]:
    """Stream two mate files in lockstep; return (stats of R1, stats of R2).

    Besides the checks of :func:`scan_fastq` on each file, those of :func:`iter_mate_pairs`.
    Read ids are checked for repeats in R1 only: R2's names must match R1's record by record.
    """
    r1, r2 = os.fspath(r1), os.fspath(r2)
    started = time.perf_counter()
    n_pairs = bases1 = bases2 = 0
    ids = _ReadIds(r1, max_records)
    # Exits run inner first: where both mates hold a bad sequence, R1's is reported.
    with (contextlib.closing(iter_mate_pairs(r1, r2, max_records)) as pairs,
          _Sequences(r1) as sequences1, _Sequences(r2) as sequences2):
        add_id, add1, add2 = ids.hashes.append, sequences1.add, sequences2.add  # once per pair: no method lookups
        for record1, record2 in pairs:
            n_pairs += 1
            bases1 += len(record1.sequence)
            bases2 += len(record2.sequence)
            add1(n_pairs, record1.sequence)
            add2(n_pairs, record2.sequence)
            if _bad_qualities(record1.qualities_as_bytes()):
                raise PlanktonlmInputError(_quality_problem(r1, n_pairs, record1.qualities_as_bytes()))
            if _bad_qualities(record2.qualities_as_bytes()):
                raise PlanktonlmInputError(_quality_problem(r2, n_pairs, record2.qualities_as_bytes()))
            add_id(hash(mate_normalised_id(record1.id)))
    if n_pairs == 0 and not allow_empty:
        raise PlanktonlmInputError([_empty_problem(r1), _empty_problem(r2)])
    problem = ids.duplicate_problem()
    if problem is not None:
        raise PlanktonlmInputError(problem)
    _log_scan(f"{r1} + {r2}", n_pairs, started)
    return FastqStats(n_pairs, bases1), FastqStats(n_pairs, bases2)
