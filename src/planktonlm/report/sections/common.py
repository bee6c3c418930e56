"""Small helpers that several sections share."""

from __future__ import annotations

from collections.abc import Iterable

from planktonlm.report.context import Context


def undated_note(ctx: Context, samples: Iterable[str]) -> str:
    """" N samples without a sampling date are not shown." for those of ``samples`` without a date."""
    dated = set(ctx.dated)
    n = sum(1 for s in samples if s not in dated)
    if not n:
        return ""
    return f" {n} sample{'s' if n != 1 else ''} without a sampling date {'are' if n != 1 else 'is'} not shown."
