"""Section "provenance": checksums, seed and versions that reproduce every number of the page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from planktonlm import __version__
from planktonlm.report.context import Context
from planktonlm.report.format import Col, caption, missing, table, text


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts and lists -> (dotted key, text) rows, keys sorted."""
    if isinstance(value, Mapping):
        out = []
        for key in sorted(value, key=str):
            out += flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            return [(prefix, ", ".join(map(str, value)))]
        out = []
        for i, v in enumerate(value):
            out += flatten(v, f"{prefix}[{i}]")
        return out
    return [(prefix, text(value))]


def build_provenance(ctx: Context) -> dict:
    provenance = dict(ctx.inputs.provenance or {})
    info = ctx.inputs.model_info or {}
    if "model_sha256" not in provenance and info.get("sha256"):
        provenance["model_sha256"] = info["sha256"]
    rows = flatten(provenance)
    rows.append(("report.planktonlm_version", __version__))
    blocks = []
    if not ctx.inputs.provenance:
        blocks.append(missing("Run provenance (config and input checksums, package versions)"))
    blocks.append(table(pd.DataFrame(rows, columns=["key", "value"]),
                        [Col("Item", "key", text=True), Col("Value", lambda r: r["value"], text=True)],
                        scroll=len(rows) > 30))
    blocks.append(caption("Checksums (SHA-256) of the configuration, the model and every input, the seed and the "
                          "software versions: the same values reproduce every number in this report."))
    return {"items": dict(rows), "blocks": blocks}
