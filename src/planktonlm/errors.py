"""Errors that reach the user: each names file, row, column, value and what was expected."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong with a user input. ``row`` is the 1-based data row (header = row 0)."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    value: object = None
    expected: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        text = ", ".join(where) + f": {self.message}"
        if self.value is not None:
            text += f" (value: {self.value!r})"
        if self.expected:
            text += f"; expected {self.expected}"
        return text


class PlanktonlmInputError(ValueError):
    """Raised with every problem found, so a user fixes them all in one pass."""

    def __init__(self, problems: list[InputProblem] | InputProblem):
        if isinstance(problems, InputProblem):
            problems = [problems]
        self.problems = list(problems)
        n = len(self.problems)
        lines = [f"planktonlm found {n} problem{'s' if n != 1 else ''} in the inputs:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
