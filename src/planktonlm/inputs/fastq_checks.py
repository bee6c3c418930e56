"""The FASTQ files of units.tsv: present, readable, listed once, and their content scanned.

Check family 4 (files: instant, at workflow start) and 5 (content, with
:mod:`planktonlm.reads.fastq`: compression integrity, syntax, quality lengths and characters,
unique read ids, mates) of the cruise validation. The content check of one unit,
:func:`check_unit_content`, is what the workflow's check_fastq job runs (one job per unit, before
its QC) and what ``planktonlm validate`` runs for every unit; both report a problem with the
units sheet, sample and unit (:func:`unit_context`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import replace

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


def check_unit_content(fq1: str, fq2: str | None, max_records: int | None, where: str) -> list[FastqStats]:
    """Stream one unit's FASTQ file(s) (all records, or the first ``max_records``): the stats of
    each file, or PlanktonlmInputError whose problems end with ``where`` (e.g. "[units.tsv:
    sample S1, unit L1]", :func:`unit_context`), so that the message leads from the file back to the sheet."""
    try:
        if not fq2:
            return [scan_fastq(fq1, max_records)]
        return list(scan_fastq_pair(fq1, fq2, max_records))
    except PlanktonlmInputError as exc:
        raise PlanktonlmInputError([replace(p, message=f"{p.message} {where}") for p in exc.problems]) from None


def unit_context(units_sheet: str, sample: str, unit: str) -> str:
    """The unit a FASTQ problem is reported against: "[config/units.tsv: sample S1, unit L1]".

    Sheet, sample and unit, not the row number: the workflow passes this to each check_fastq job
    as params, and a row number would change (and rerun the check of every later unit, streaming
    its reads again) whenever a row is inserted above; sample and unit name the row as surely."""
    return f"[{units_sheet}: sample {sample}, unit {unit}]"


def scan_fastq_content(units: pd.DataFrame, skip_rows: set[int], file: str, max_records: int | None) -> list[InputProblem]:
    """:func:`check_unit_content` for every row of a typed unit sheet (rows in ``skip_rows`` left
    out: their files are unusable); every unit's problems, collected."""
    problems = []
    for row, sample, unit, fq1, fq2 in zip(units.index, units["sample"], units["unit"], units["fq1"], units["fq2"]):
        if fq1 is None or row in skip_rows:
            continue
        try:
            check_unit_content(fq1, fq2, max_records, unit_context(file, sample, unit))
        except PlanktonlmInputError as exc:
            problems += exc.problems
    return problems


CHECK_REPORT_COLUMNS = ["sample", "unit", "mate", "file", "records", "bases", "mean_length", "scan"]


def check_report(sample: str, unit: str, paths: Iterable[str], stats: Iterable[FastqStats], scan: str) -> pd.DataFrame:
    """One row per file of a unit that passed its check: what was read (``scan`` full = every
    record, quick = the first QUICK_SCAN_RECORDS). No time stamps: the same files give the same table."""
    rows = [
        {"sample": sample, "unit": unit, "mate": f"R{mate}", "file": path, "records": s.n_reads, "bases": s.n_bases,
         "mean_length": round(s.mean_length, 2), "scan": scan if scan == "full" else f"quick (first {QUICK_SCAN_RECORDS} records)"}
        for mate, (path, s) in enumerate(zip(paths, stats), start=1)
    ]
    return pd.DataFrame(rows, columns=CHECK_REPORT_COLUMNS)
