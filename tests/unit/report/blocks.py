"""Helpers to read a section's blocks in tests (no HTML involved)."""

from __future__ import annotations

from collections.abc import Iterator


def walk(blocks: list[dict]) -> Iterator[dict]:
    """Every block, those inside ``details`` included."""
    for block in blocks:
        yield block
        if block["kind"] == "details":
            yield from walk(block["blocks"])


def kinds(section: dict, kind: str) -> list[dict]:
    return [b for b in walk(section["blocks"]) if b["kind"] == kind]


def texts(section: dict, kind: str) -> list[str]:
    """The text of every h3, caption or missing note (``kind``) of a section."""
    return [str(b["text"]) for b in kinds(section, kind)]


def rows(block: dict) -> list[list[str]]:
    """A table block's cells as text."""
    return [[value for value, _ in row] for row in block["rows"]]


def table_with(section: dict, header: str, nth: int = 0) -> dict:
    """The ``nth`` table of a section that has a column ``header``."""
    return [b for b in kinds(section, "table") if header in [h for h, _ in b["head"]]][nth]
