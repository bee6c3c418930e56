"""samples.tsv and units.tsv as tables: structure, header, and cells against the JSON schemas.

Check families 1-3 of the cruise validation (:mod:`planktonlm.inputs.cruise`):

1. table structure: readable, tab-separated, header present, rectangular;
2. header: required columns present, column names usable, no unknown units.tsv columns;
3. cells against the JSON schemas (workflow/schemas/samples|units.schema.yaml): types,
   missing values where none are allowed, id characters.

Row numbers are 1-based data rows (the header is row 0), as in InputProblem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from functools import cache

import jsonschema
import pandas as pd

from planktonlm.config import load_schema
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.vocab import MISSING_TOKENS

PathLike = str | os.PathLike[str]

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


# --------------------------------------------------------------------------------------------
# 1-2. Table structure and header
# --------------------------------------------------------------------------------------------

def _structure_problem(file: str, message: str, expected: str, row: int | None = None) -> InputProblem:
    return InputProblem(file=file, row=row, message=message, expected=expected)


def _split_header(line: str) -> list[str]:
    return [name.strip() for name in line.split("\t")]


def _header_problems(file: str, first_line: str, expected_columns: Sequence[str]) -> list[InputProblem]:
    """A header that is not tab-separated, or a first line that is data, not a header."""
    header = _split_header(first_line)
    expected = "a tab-separated header line naming the columns " + ", ".join(expected_columns)
    if len(header) == 1 and len(expected_columns) > 1:
        for separator, name in ((",", "commas"), (";", "semicolons"), (" ", "spaces")):
            if separator in first_line:
                return [_structure_problem(file, f"not tab-separated: the header line is split by {name}", expected, 0)]
    if not set(header) & set(expected_columns):
        return [
            _structure_problem(
                file, f"no header line: the first line ({first_line[:80]!r}) names none of the expected columns", expected, 0
            )
        ]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    return [
        InputProblem(file=file, row=0, column=c, message="column appears more than once in the header", expected="unique column names")
        for c in duplicated
    ]


def _read_text(file: str) -> tuple[str, InputProblem | None]:
    """The sheet as text: UTF-8 (a byte-order mark dropped), or UTF-16 with its byte-order mark
    (Excel's "Unicode Text"); anything else is refused with the line of the first bad byte."""
    expected = "a readable UTF-8 text file (in a spreadsheet: save as tab-separated text, UTF-8)"
    try:
        with open(file, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return "", _structure_problem(file, f"cannot read the file: {exc}", expected)
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return data.decode(encoding), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start]
        return "", _structure_problem(file, f"not {encoding.removesuffix('-sig').upper()} text: byte 0x{byte:02X} on line {line} "
                                      "(a sheet saved in a legacy encoding such as Latin-1 or Windows-1252?)", expected)


def read_tsv(path: PathLike, expected_columns: Sequence[str]) -> tuple[pd.DataFrame | None, list[InputProblem]]:
    """Raw read: every cell a str, index = 1-based data row (blank lines skipped but counted).

    Lines starting with ``#`` before the header are comments (the sheet templates in config/
    explain themselves that way); rows are counted from the header line (row 0).

    What spreadsheets write is read as it is meant: a UTF-8 byte-order mark is dropped, and
    Windows (CR LF) and old Mac (CR) line ends count as line ends, so that no '\r' ends up at
    the end of a FASTQ path or an id.
    """
    file = os.fspath(path)
    text, problem = _read_text(file)
    if problem is not None:
        return None, [problem]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while len(lines) > 1 and lines[0].startswith("#"):
        lines = lines[1:]
    if not lines or not lines[0].strip():
        return None, [_structure_problem(file, "the file is empty or starts with a blank line", "a header line first")]
    problems = _header_problems(file, lines[0], expected_columns)
    if problems:
        return None, problems
    header = _split_header(lines[0])
    rows, index = [], []
    for row_number, line in enumerate(lines[1:], start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            problems.append(
                _structure_problem(
                    file,
                    f"row has {len(cells)} tab-separated fields, the header has {len(header)}",
                    "one field per header column (empty cells still need their tab)",
                    row_number,
                )
            )
            continue
        rows.append(cells)
        index.append(row_number)
    if not rows and not problems:
        problems.append(_structure_problem(file, "no data rows below the header", "at least one data row", 1))
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(index, name="row"), dtype=object)
    return frame, problems


def read_samples_table(path: PathLike) -> pd.DataFrame:
    """samples.tsv as read, every cell a str (nothing parsed, nothing lost); index = data row."""
    frame, problems = read_tsv(path, required_columns("samples"))
    if problems:
        raise PlanktonlmInputError(problems)
    return frame


def read_units_table(path: PathLike) -> pd.DataFrame:
    """units.tsv as read, every cell a str; index = data row."""
    frame, problems = read_tsv(path, required_columns("units"))
    if problems:
        raise PlanktonlmInputError(problems)
    return frame


def required_columns(schema_name: str) -> list[str]:
    return list(load_schema(schema_name)["required"])


def column_problems(frame: pd.DataFrame, schema: dict, file: str) -> list[InputProblem]:
    """Required columns present; names allowed; no unknown column where the schema forbids them."""
    problems = [
        InputProblem(file=file, row=0, column=c, message="required column is missing", expected=f"a column named {c!r}")
        for c in schema["required"]
        if c not in frame.columns
    ]
    name_rule = schema.get("propertyNames", {})
    if "pattern" in name_rule:
        problems += [
            InputProblem(file=file, row=0, column=c, message="column name not allowed", expected=name_rule["description"].strip())
            for c in frame.columns
            if not re.match(name_rule["pattern"], c)
        ]
    if schema.get("additionalProperties") is False:
        known = ", ".join(schema["properties"])
        problems += [
            InputProblem(file=file, row=0, column=c, message="unknown column", expected=f"only the columns {known}")
            for c in frame.columns
            if c not in schema["properties"]
        ]
    return problems



# --------------------------------------------------------------------------------------------
# 3. Cells against the JSON schema
# --------------------------------------------------------------------------------------------


def _column_schema(schema: dict, column: str) -> dict | None:
    extra = schema.get("additionalProperties")
    return schema["properties"].get(column, extra if isinstance(extra, dict) else None)


def _types(column_schema: dict) -> set[str]:
    kind = column_schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _typed_cell(text: str, column_schema: dict) -> object:
    """str -> float / str / None as the column's schema type asks; unparsable numbers stay str."""
    text = text.strip()
    if "number" in _types(column_schema):
        if text in MISSING_TOKENS:
            return None
        return float(text) if _NUMBER.match(text) else text
    if "null" in _types(column_schema) and text in MISSING_TOKENS:
        return None
    return text or None


@cache
def _cell_validator(schema_name: str, column: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_column_schema(load_schema(schema_name), column))


def _cell_problem(error: jsonschema.ValidationError, column_schema: dict, file: str, row: int, column: str) -> InputProblem:
    if error.validator == "type" and error.instance is None:
        message = "missing value (this column must be filled in every row)"
    elif error.validator == "type" and "number" in _types(column_schema):
        message = "not a number"
    elif error.validator == "pattern":
        message = "contains characters that are not allowed"
    elif error.validator == "not" and "description" in error.validator_value:
        message = error.validator_value["description"]
    else:
        message = error.message
    return InputProblem(
        file=file, row=row, column=column, value=error.instance, message=message, expected=column_schema["description"].strip()
    )


def check_cells(frame: pd.DataFrame, schema_name: str, file: str) -> tuple[pd.DataFrame, list[InputProblem]]:
    """Typed copy of ``frame`` (invalid cells -> None, so later checks skip them) and the problems,
    one per invalid cell (the first rule it breaks, in schema order: type, pattern, not)."""
    schema = load_schema(schema_name)
    typed = pd.DataFrame(index=frame.index, dtype=object)
    problems = []
    for column in frame.columns:
        column_schema = _column_schema(schema, column)
        if column_schema is None:  # an unknown column, reported by column_problems
            continue
        validator = _cell_validator(schema_name, column)
        values = []
        for row, text in frame[column].items():
            value = _typed_cell(text, column_schema)
            error = next(validator.iter_errors(value), None)
            if error is not None:
                problems.append(_cell_problem(error, column_schema, file, row, column))
            values.append(None if error is not None else value)
        typed[column] = pd.Series(values, index=frame.index, dtype=object)
    return typed, problems


