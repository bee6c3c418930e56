"""Number formats, names shown for codes, p-value wording, and the page's building blocks as data.

A block is a small dict the template renders (see ``templates/blocks.html.j2``): ``h3``,
``caption``, ``missing``, ``findings``, ``table``, ``figure`` and ``details`` (a collapsible
group of blocks). Plain strings in a block are escaped by the template; a caption, a figure
caption or a "missing" note that carries its own markup (``<b>``, ``<code>``) is built with
:func:`esc` for every value and marked safe with :class:`markupsafe.Markup` once, when the
block is made.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from planktonlm.vocab import split_unit

#: significance level of every "significant" in the report, applied to Holm-adjusted p-values
ALPHA = 0.05
#: what a figure over time says when no sample has a date (e.g. published tables)
NO_DATES = "no sampling dates in this run's inputs"
#: what the time-series section says when the data have no dated series
NO_SERIES = "The data have no dated series"

# The directions of the shifts stage's cross-validated models.
ENV_FROM_COMMUNITY = "community_to_env"
COMMUNITY_FROM_ENV = "env_to_community"

PROFILE_ORDER = ("embedding", "kmer", "oracle")
PROFILE_NAMES = {"embedding": "embedding OTUs", "kmer": "k-mer baseline", "oracle": "oracle (true taxa)"}
METRIC_ORDER = ("braycurtis", "hellinger", "aitchison", "clr", "euclidean")
METRIC_NAMES = {"braycurtis": "Bray-Curtis", "hellinger": "Hellinger", "aitchison": "Aitchison (CLR)",
                "clr": "CLR", "euclidean": "Euclidean", "": "-"}
CV_ORDER = ("grouped", "logo", "loo")
CV_NAMES = {"grouped": "grouped K-fold (whole stations or time blocks held out)",
            "logo": "leave one group out", "loo": "leave one sample out"}
MODEL_NAMES = {"ridge": "ridge regression", "pls": "PLS regression", "rf": "random forest"}
FRACTION_NAMES = {"temperature": "temperature", "environment": "other environment",
                  "space_time": "space & time", "residual": "unexplained (residual)"}


# ----------------------------------------------------------------------------------------------
# names


def name(column: str) -> str:
    """A variable's name without its unit: ``temperature_c`` -> "Temperature"."""
    return split_unit(column)[0]


def profile_name(profile: str) -> str:
    return PROFILE_NAMES.get(profile, profile)


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def model_name(model: str) -> str:
    return MODEL_NAMES.get(model, model)


def fraction_name(fraction: str) -> str:
    if fraction in FRACTION_NAMES:
        return FRACTION_NAMES[fraction]
    if "&" in fraction:
        return " + ".join(FRACTION_NAMES.get(p, p) for p in fraction.split("&"))
    return fraction.replace("_", " ")


def direction_name(direction: str) -> str:
    return {ENV_FROM_COMMUNITY: "community → environment", COMMUNITY_FROM_ENV: "environment → community"}.get(
        direction, direction)


def ordered(names: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """Known names in their preferred order, then the rest alphabetically (deterministic)."""
    names = list(dict.fromkeys(str(n) for n in names))
    rank = {n: i for i, n in enumerate(preferred)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


# ----------------------------------------------------------------------------------------------
# numbers


def finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fixed(x: Any, digits: int = 2) -> str:
    """Fixed decimals; missing -> an en dash."""
    return f"{float(x):.{digits}f}" if finite(x) else "–"


def pct(x: Any, digits: int = 0) -> str:
    return f"{100 * float(x):.{digits}f}%" if finite(x) else "–"


def p_text(x: Any) -> str:
    if not finite(x):
        return "–"
    return "< 0.001" if float(x) < 0.001 else f"{float(x):.3f}"


def p_exact(x: Any) -> str:
    """A p-value to two significant digits (for the smallest attainable p, e.g. 0.0035)."""
    return f"{float(x):.2g}" if finite(x) else "–"


def integer(x: Any) -> str:
    return f"{int(round(float(x))):,}" if finite(x) else "–"


def r2_pm(mean: Any, sd: Any) -> str:
    return f"{fixed(mean)} ± {fixed(sd)}" if finite(sd) else fixed(mean)


def interval(mean: Any, low: Any, high: Any, digits: int = 2) -> str:
    text = fixed(mean, digits)
    if finite(low) and finite(high):
        text += f" [{fixed(low, digits)}, {fixed(high, digits)}]"
    return text


def delta_text(row: Any) -> str:
    return interval(row["delta_r2"], row.get("delta_low"), row.get("delta_high"))


def text(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def date_text(time: Any) -> str:
    return "–" if pd.isna(time) else f"{pd.Timestamp(time):%Y-%m-%d}"


def truthy(value: Any, default: bool) -> bool:
    """A boolean cell as read from TSV (True/"true"/1); missing -> ``default``."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return default
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    word = str(value).strip().lower()
    if word in ("", "nan", "na", "none"):
        return default
    return word in ("true", "1", "yes", "1.0")


# ----------------------------------------------------------------------------------------------
# tests and p-values in words


def testable(row: Mapping | pd.Series) -> bool:
    return truthy(row.get("testable"), True)


def at_floor(row: Mapping | pd.Series) -> bool:
    """Whether the p-value equals the smallest attainable one (the permutations cannot go lower)."""
    value, floor = row.get("p_value"), row.get("p_min")
    return finite(value) and finite(floor) and abs(float(value) - float(floor)) <= 1e-9 * max(1.0, float(floor))


def p_raw(row: Mapping | pd.Series, column: str = "p_value") -> str:
    """``p = 0.003`` or ``p = 0.0035, the smallest attainable``."""
    if column == "p_value" and at_floor(row):
        return f"p = {p_exact(row[column])}, the smallest attainable"
    value = p_text(row.get(column))
    return f"p {value}" if value.startswith("<") else f"p = {value}"


def significant(row: Mapping | pd.Series) -> bool:
    """Significant only when testable and the Holm-adjusted p-value is <= ``ALPHA``."""
    return testable(row) and finite(row.get("p_holm")) and float(row["p_holm"]) <= ALPHA


def result_text(row: Mapping | pd.Series, family: str = "", with_scheme: bool = True) -> str:
    """"p = 0.003, Holm-adjusted 0.03 (within ...); permutations: <scheme>" or "not testable"."""
    if not testable(row):
        return "not testable under this design"
    if not finite(row.get("p_value")):
        return "not tested"
    words = p_raw(row)
    if finite(row.get("p_holm")):
        words += f", Holm-adjusted {p_text(row.get('p_holm'))}" + (f" within {family}" if family else "")
    scheme = row.get("permutation")
    if with_scheme and isinstance(scheme, str) and scheme.strip():
        words += f"; permutations: {scheme.strip()}"
    return words


def verdict(row: Mapping | pd.Series) -> str:
    if not testable(row):
        return "It cannot be tested under this design."
    if not finite(row.get("p_holm")):
        return ""
    return ("It is significant after Holm adjustment (p_holm ≤ 0.05)." if significant(row)
            else "It is not significant after Holm adjustment (p_holm > 0.05).")


def cell_p(row: pd.Series) -> str:
    """Table cell for a raw p-value."""
    if not testable(row):
        return "not testable under this design"
    if at_floor(row):
        return f"{p_exact(row['p_value'])} (smallest attainable)"
    return p_text(row.get("p_value"))


def cell_holm(row: pd.Series) -> str:
    if not testable(row):
        return "–"
    return p_text(row.get("p_holm")) + (" *" if significant(row) else "")


# ----------------------------------------------------------------------------------------------
# blocks


def esc(value: Any) -> str:
    """``value`` escaped as text (``html.escape`` with quotes), for a sentence that becomes Markup.

    A plain ``str`` on purpose: adding text to a Markup would escape the text a second time.
    """
    return html.escape(str(value), quote=True)


def h3(title: str) -> dict:
    return {"kind": "h3", "text": title}


def caption(sentence: str) -> dict:
    """A caption; ``sentence`` is HTML (values escaped with :func:`esc`, tags such as ``<b>``)."""
    return {"kind": "caption", "text": Markup(sentence)}


def note(sentence: str) -> dict:
    """A note in italics (``missing`` style); ``sentence`` is HTML like a caption's."""
    return {"kind": "missing", "text": Markup(sentence)}


def missing(what: str) -> dict:
    return note(f"{esc(what)} is not available for this run.")


def no_dates(what: str) -> dict:
    """Stands in for a figure over time when no sample has a date (e.g. published tables)."""
    return note(f"{esc(what)}: {NO_DATES}.")


def findings(sentences: Sequence[str]) -> dict:
    return {"kind": "findings", "items": list(sentences)}


def details(summary: str, blocks: Sequence[dict]) -> dict:
    """A collapsed group; ``summary`` is plain text (escaped when rendered)."""
    return {"kind": "details", "summary": summary, "blocks": list(blocks)}


@dataclass(frozen=True)
class Col:
    """One table column: header, source column (or callable on the row) and cell formatter."""

    header: str
    source: str | Callable[[pd.Series], Any]
    fmt: Callable[[Any], str] = str
    text: bool = False  # left-aligned text column


def table(frame: pd.DataFrame, columns: Sequence[Col], scroll: bool = False) -> dict:
    """A table as data: ``head`` and ``rows`` of (text, left-aligned) cells."""
    rows = []
    for _, row in frame.iterrows():
        rows.append([(c.fmt(c.source(row) if callable(c.source) else row.get(c.source)), c.text) for c in columns])
    return {"kind": "table", "head": [(c.header, c.text) for c in columns], "rows": rows, "scroll": scroll}


def cells(block: dict, column: str) -> list[str]:
    """The texts of one column of a table block, by header (for tests and findings)."""
    i = [h for h, _ in block["head"]].index(column)
    return [row[i][0] for row in block["rows"]]
