"""The FASTQ files of units.tsv: present, readable, listed once, and their content scanned.

Check family 4 (files) and 5 (content, with :mod:`planktonlm.reads.fastq`: compression
integrity, syntax, quality lengths, mates) of the cruise validation. Successful scans are
remembered in an optional JSON cache keyed by path, size and mtime.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.reads.fastq import FastqStats, scan_fastq, scan_fastq_pair

PathLike = str | os.PathLike[str]

QUICK_SCAN_RECORDS = 1000
FASTQ_SCAN_RECORDS = {"full": None, "quick": QUICK_SCAN_RECORDS}


def _fastq_cells(units: pd.DataFrame) -> Iterable[tuple[int, str, str]]:
    """(row, column, path) of every FASTQ named in units.tsv, in file order."""
    for row, fq1, fq2 in zip(units.index, units["fq1"], units["fq2"]):
        for column, path in (("fq1", fq1), ("fq2", fq2)):
            if path is not None:
                yield row, column, path


def _file_defect(path: str) -> str | None:
    """Why ``path`` cannot be a FASTQ input, or None."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        where = "" if os.path.isabs(path) else f" (relative paths start from the working directory {os.getcwd()})"
        return f"file not found{where}"
    except OSError as exc:
        return f"cannot access the file: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a directory?)"
    if not os.access(path, os.R_OK):
        return "file is not readable (check its permissions)"
    if info.st_size == 0:
        return "file is empty (0 bytes)"
    return None


def check_fastq_files(
    units: pd.DataFrame, file: str, seen: dict[str, tuple[str, int, str]] | None = None
) -> tuple[set[int], list[InputProblem]]:
    """Each FASTQ exists, is a readable non-empty regular file, listed once.

    Also returns the rows whose content must not be scanned (a file there is unusable).
    ``seen``: the files of unit sheets checked before (real path -> file, row, column), updated
    here, so that a FASTQ listed in two unit sheets is found too.
    """
    first_seen = {} if seen is None else seen
    bad_rows, problems = set(), []
    for row, column, path in _fastq_cells(units):
        defect = _file_defect(path)
        if defect:
            bad_rows.add(row)
            problems.append(
                InputProblem(file=file, row=row, column=column, value=path, message=defect, expected="a readable, non-empty FASTQ file")
            )
            continue
        key = os.path.realpath(path)
        if key in first_seen:
            seen_file, seen_row, seen_column = first_seen[key]
            if seen_file != file:
                same_row = f"already listed in {seen_file} at row {seen_row}, {seen_column}"
            else:
                same_row = "fq2 is the same file as fq1" if seen_row == row else f"already listed at row {seen_row}, {seen_column}"
            bad_rows.add(row)
            problems.append(
                InputProblem(
                    file=file,
                    row=row,
                    column=column,
                    value=path,
                    message=f"FASTQ listed twice: {same_row}",
                    expected="each FASTQ file listed once; fq1 and fq2 are different files",
                )
            )
        else:
            first_seen[key] = (file, row, column)
    return bad_rows, problems


# --------------------------------------------------------------------------------------------
# 5. FASTQ content
# --------------------------------------------------------------------------------------------


class ScanCache:
    """Remembers successful scans by (path, size, mtime): the Snakefile is parsed again by every
    cluster job, and re-streaming every FASTQ each time would cost more than the job."""

    def __init__(self, path: PathLike | None):
        self.path = None if path is None else Path(path)
        self.entries: dict[str, list[int]] = {}
        if self.path is not None and self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.entries = {}  # a damaged cache only costs a rescan

    @staticmethod
    def key(paths: Sequence[str], max_records: int | None) -> str:
        identity = []
        for p in paths:
            info = os.stat(p)
            identity.append([os.path.realpath(p), info.st_size, info.st_mtime_ns])
        return json.dumps([max_records, identity])

    def get(self, key: str) -> list[int] | None:
        return self.entries.get(key)

    def put(self, key: str, counts: list[int]) -> None:
        self.entries[key] = counts

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False, suffix=".tmp") as handle:
            json.dump(self.entries, handle)
        os.replace(handle.name, self.path)


def _scan_unit(fq1: str, fq2: str | None, max_records: int | None) -> list[FastqStats]:
    if fq2 is None:
        return [scan_fastq(fq1, max_records)]
    return list(scan_fastq_pair(fq1, fq2, max_records))


def scan_fastq_content(
    units: pd.DataFrame, skip_rows: set[int], file: str, max_records: int | None, cache: ScanCache
) -> list[InputProblem]:
    problems = []
    for row, sample, unit, fq1, fq2 in zip(units.index, units["sample"], units["unit"], units["fq1"], units["fq2"]):
        paths = [p for p in (fq1, fq2) if p is not None]
        if fq1 is None or row in skip_rows:
            continue
        key = ScanCache.key(paths, max_records)
        if cache.get(key) is not None:
            continue
        try:
            stats = _scan_unit(fq1, fq2, max_records)
        except PlanktonlmInputError as exc:
            context = f" [{file} row {row}: sample {sample}, unit {unit}]"
            problems += [replace(p, message=p.message + context) for p in exc.problems]
            continue
        cache.put(key, [n for s in stats for n in (s.n_reads, s.n_bases)])
    cache.save()
    return problems


