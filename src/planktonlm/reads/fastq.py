"""FASTQ reading with dnaio: record streams and validating scans of single and mate files.

The scans stream every record (or the first ``max_records``) once, in constant memory, and
turn anything wrong into a PlanktonlmInputError naming the file and the record: a damaged or
truncated compressed stream, broken FASTQ syntax, a quality string whose length differs from
the sequence, a file without records, mates whose names or counts disagree.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import lzma
import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import dnaio

from planktonlm.errors import InputProblem, PlanktonlmInputError

logger = logging.getLogger(__name__)

FASTQ_EXPECTED = "FASTQ records of 4 lines: '@name', sequence, '+', a quality string as long as the sequence"
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FastqStats:
    """Counts from one scan of a FASTQ file (only the records scanned, in quick mode)."""

    n_reads: int
    n_bases: int

    @property
    def mean_length(self) -> float:
        return self.n_bases / self.n_reads if self.n_reads else 0.0


def _format_problem(path: str, exc: dnaio.FileFormatError, n_read: int) -> InputProblem:
    """dnaio's 0-based ``line`` gives the record (FASTQ records are exactly 4 lines in dnaio)."""
    line = getattr(exc, "line", None)
    message = getattr(exc, "message", str(exc))
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


def scan_fastq(path: PathLike, max_records: int | None = None, *, allow_empty: bool = False) -> FastqStats:
    """Stream one FASTQ file and count reads and bases; raise PlanktonlmInputError if it is invalid.

    ``max_records=None`` reads every record (full scan: gzip integrity is checked to the end);
    otherwise only the first ``max_records``. A file with no record is an error unless
    ``allow_empty``.
    """
    started = time.perf_counter()
    n_reads = n_bases = 0
    for record in iter_fastq(path, max_records):
        n_reads += 1
        n_bases += len(record.sequence)
    if n_reads == 0 and not allow_empty:
        raise PlanktonlmInputError(_empty_problem(os.fspath(path)))
    _log_scan(os.fspath(path), n_reads, started)
    return FastqStats(n_reads=n_reads, n_bases=n_bases)


def _mate_count_problem(r1: str, r2: str, n1: int, n2: int, max_records: int | None) -> InputProblem:
    scope = "" if max_records is None else f" (within the first {max_records})"
    return InputProblem(
        file=r1,
        row=min(n1, n2) + 1,
        message=f"mate files hold different numbers of records{scope}: {n1} in {r1}, {n2} in {r2}",
        expected="as many records in R2 as in R1, in the same order",
    )


def iter_mate_pairs(r1: PathLike, r2: PathLike, max_records: int | None = None) -> Iterator[tuple]:
    """Stream two mate files in lockstep, yielding (record1, record2).

    Mates must carry the same read id (the name up to the first space, a trailing 1/2/3
    ignored, as dnaio's ``is_mate``) and both files must hold the same number of records
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
    """
    r1, r2 = os.fspath(r1), os.fspath(r2)
    started = time.perf_counter()
    n_pairs = bases1 = bases2 = 0
    for record1, record2 in iter_mate_pairs(r1, r2, max_records):
        n_pairs += 1
        bases1 += len(record1.sequence)
        bases2 += len(record2.sequence)
    if n_pairs == 0 and not allow_empty:
        raise PlanktonlmInputError([_empty_problem(r1), _empty_problem(r2)])
    _log_scan(f"{r1} + {r2}", n_pairs, started)
    return FastqStats(n_pairs, bases1), FastqStats(n_pairs, bases2)
