"""Published tables as read: a tab-separated file (plain or gzip) as text cells by sample, and
its cells as numbers, every problem named by file, row (1-based data row, header = row 0),
column and value. Used by :mod:`planktonlm.inputs.published` for the environment and profile
tables.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.vocab import MISSING_TOKENS

_SAMPLE_ID = re.compile(r"^[A-Za-z0-9._-]+$")  # as samples.tsv: no id can escape a path or a shell
MAX_CELL_PROBLEMS = 20  # per table; a table that is wrong everywhere is summarised, not listed


def _open_text(path: str) -> str:
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")  # utf-8-sig: spreadsheets write a BOM


@dataclass(frozen=True)
class RawTable:
    """A published table as read: every cell a str, index = sample id (sample column removed)."""

    file: str
    cells: pd.DataFrame
    rows: dict[str, int]  # sample -> 1-based data row in the file (blank lines counted)


def read_table(path: str | os.PathLike[str], sample_column: str) -> tuple[RawTable | None, list[InputProblem]]:
    """A published TSV (plain or gzip) as strings, plus every structure problem found: header,
    ragged rows, sample ids that are empty, malformed or duplicated."""
    file = os.fspath(path)
    try:
        text = _open_text(file)
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        return None, [InputProblem(file=file, message=f"cannot read the file: {exc}",
                                   expected="a readable tab-separated text file (optionally gzip-compressed)")]
    lines = text.split("\n")
    if not lines[0].strip():
        return None, [InputProblem(file=file, row=0, message="the file is empty or starts with a blank line",
                                   expected="a header line first")]
    header = [name.strip() for name in lines[0].rstrip("\r").split("\t")]
    problems = [
        InputProblem(file=file, row=0, column=name, message="column appears more than once in the header",
                     expected="unique column names")
        for name in sorted({c for c in header if header.count(c) > 1})
    ]
    if sample_column not in header:
        problems.append(InputProblem(file=file, row=0, column=sample_column, message="sample column not in the header",
                                     expected=f"a column named {sample_column!r} (published.sample_column)"))
    if problems:
        return None, problems
    rows, numbers = [], []
    for number, line in enumerate(lines[1:], start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            problems.append(InputProblem(file=file, row=number, message=f"row has {len(cells)} tab-separated fields, "
                                         f"the header has {len(header)}", expected="one field per header column"))
            continue
        rows.append(cells)
        numbers.append(number)
    if not rows and not problems:
        problems.append(InputProblem(file=file, row=1, message="no data rows below the header", expected="one row per sample"))
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    ids = frame[sample_column].str.strip() if len(frame) else pd.Series([], dtype=object)
    row_of = pd.Series(numbers, index=frame.index, dtype=np.int64)
    for i, sample in ids.items():
        if not _SAMPLE_ID.match(sample):
            problems.append(InputProblem(file=file, row=int(row_of[i]), column=sample_column, value=sample,
                                         message="sample id empty or with characters other than letters, digits, '.', '_', '-'",
                                         expected="an id such as S4SUR"))
    duplicated = ids[ids.duplicated(keep=False)]
    for sample in sorted(set(duplicated)):
        where = ", ".join(str(row_of[i]) for i in duplicated.index[duplicated == sample])
        problems.append(InputProblem(file=file, row=int(row_of[duplicated.index[duplicated == sample][0]]),
                                     column=sample_column, value=sample,
                                     message=f"sample listed more than once (rows {where})", expected="one row per sample"))
    frame.index = pd.Index(ids.to_numpy(dtype=str), name="sample")
    frame = frame.drop(columns=[sample_column])
    return RawTable(file, frame, dict(zip(frame.index, numbers))), problems


def numeric_cells(
    frame: pd.DataFrame, file: str, rows: Mapping[str, int], *, allow_missing: bool, what: str
) -> tuple[pd.DataFrame, list[InputProblem]]:
    """Cells (str) -> float64. Missing tokens are NaN where ``allow_missing``, else problems;
    other text, NaN or infinity is a problem naming row (``rows``: sample -> data row), column
    and value (the first MAX_CELL_PROBLEMS, then a count)."""
    raw = frame.to_numpy(dtype=object)
    stripped = np.char.strip(raw.astype(str)) if raw.size else raw.astype(str)
    missing = np.isin(stripped, list(MISSING_TOKENS))
    try:  # fast path: every cell a number or a missing token
        values = np.where(missing, "nan", stripped).astype(np.float64)
    except ValueError:
        values = np.column_stack([pd.to_numeric(pd.Series(stripped[:, j]), errors="coerce").to_numpy(dtype=float)
                                  for j in range(raw.shape[1])]) if raw.shape[1] else np.zeros(raw.shape)
    bad = ~missing & ~np.isfinite(values)  # text, or a spelled-out nan / inf
    problems = []
    expected = "a number" + (" (empty or NA if not measured)" if allow_missing else "")
    cells = [(i, j, "not a number") for i, j in np.argwhere(bad)]
    if not allow_missing:
        cells += [(i, j, f"{what} missing") for i, j in np.argwhere(missing)]
    else:
        values[missing] = np.nan
    if what == "abundance":
        cells += [(i, j, "negative abundance") for i, j in np.argwhere(~bad & ~missing & (values < 0))]
        expected = "a finite abundance >= 0"
    cells.sort()
    for i, j, message in cells[:MAX_CELL_PROBLEMS]:
        sample = frame.index[i]
        problems.append(InputProblem(file=file, row=rows.get(sample), column=str(frame.columns[j]), value=raw[i, j],
                                     message=f"{message} (sample {sample})", expected=expected))
    if len(cells) > MAX_CELL_PROBLEMS:
        problems.append(InputProblem(file=file, message=f"{len(cells) - MAX_CELL_PROBLEMS} more cells with the same kinds of "
                                     "problem", expected=expected))
    return pd.DataFrame(values, index=frame.index, columns=frame.columns), problems


def read_profile_table(
    path: str | os.PathLike[str], sample_column: str
) -> tuple[pd.DataFrame | None, dict[str, int], list[InputProblem]]:
    """A samples x taxa table as float64 (None if unreadable), its rows (sample -> data row) and its problems."""
    table, problems = read_table(path, sample_column)
    if table is None:
        return None, {}, problems
    values, cell_problems = numeric_cells(table.cells, table.file, table.rows, allow_missing=False, what="abundance")
    problems += cell_problems
    if not table.cells.shape[1]:
        problems.append(InputProblem(file=table.file, row=0, message="no taxon columns", expected="one column per taxon"))
    return values, table.rows, problems


def read_published_profile(path: str | os.PathLike[str], sample_column: str = "Sample") -> pd.DataFrame:
    """A samples x taxa table (plain or gzip TSV) as float64, index ``sample``; raises on bad input."""
    values, _, problems = read_profile_table(path, sample_column)
    if problems or values is None:
        raise PlanktonlmInputError(problems)
    return values
