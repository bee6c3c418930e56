"""The HTML report: one self-contained file a marine ecologist can read.

``render_report`` turns a :class:`ReportInputs` (tables and dicts from every stage) into one
HTML page: inline CSS, every figure a base64 PNG data URI, no script, no external link. Each
section is an ``<section id=...>`` with an ``<h2>`` (the ids are a contract, see
``SECTION_IDS``); an input that was not given makes its section say "not available for this
run" instead of failing. Figures are drawn with matplotlib's object API (no pyplot, no global
backend switch) under fixed rcParams and saved without a software/date stamp, so the same
inputs give a byte-identical page. ``load_report_inputs`` reads the stage outputs (TSV,
Parquet, JSON) from a dict of named paths; ``write_report`` writes the page atomically.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from planktonlm import __version__
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path
from planktonlm.stats.multitest import FAMILIES, holm_table

logger = logging.getLogger(__name__)

#: section ids, in page order (tests and links rely on them)
SECTION_IDS = (
    "overview", "cruise", "environment", "read-accounting", "training", "diversity", "ordination",
    "otus", "dbrda", "predictions", "importances", "season", "timeseries", "comparison", "provenance",
)
SECTION_TITLES = {
    "overview": "Overview and key findings",
    "cruise": "The cruise: where and when",
    "environment": "Environment over time",
    "read-accounting": "Read accounting (quality control)",
    "training": "Training the DNA encoder",
    "diversity": "Alpha diversity over time",
    "ordination": "Community composition (PCoA)",
    "otus": "Most variable OTUs over time",
    "dbrda": "Which variables structure the community (dbRDA)",
    "predictions": "Predicting the environment from the community",
    "importances": "Which OTUs carry the signal",
    "season": "The season as a baseline",
    "timeseries": "Time series",
    "comparison": "Embedding OTUs versus the k-mer baseline",
    "provenance": "Provenance",
}

#: columns of the samples table that describe where/when rather than the environment
META_COLUMNS = ("sample", "cruise", "station", "datetime", "latitude", "longitude", "depth_m")
# Shifts writes "community_to_env"; the brief of the report used "env_from_community": both accepted.
ENV_FROM_COMMUNITY = "community_to_env"
COMMUNITY_FROM_ENV = "env_to_community"
_DIRECTION_ALIASES = {
    "community_to_env": ENV_FROM_COMMUNITY, "env_from_community": ENV_FROM_COMMUNITY,
    "env_to_community": COMMUNITY_FROM_ENV, "community_from_env": COMMUNITY_FROM_ENV,
}
_PROFILE_ORDER = ("embedding", "kmer", "oracle")
_PROFILE_NAMES = {"embedding": "embedding OTUs", "kmer": "k-mer baseline", "oracle": "oracle (true taxa)"}
_METRIC_ORDER = ("braycurtis", "hellinger", "aitchison", "clr", "euclidean")
_METRIC_NAMES = {"braycurtis": "Bray-Curtis", "hellinger": "Hellinger", "aitchison": "Aitchison (CLR)",
                 "clr": "CLR", "euclidean": "Euclidean", "": "-"}
_CV_ORDER = ("grouped", "logo", "loo")
_CV_NAMES = {"grouped": "grouped K-fold (whole stations or time blocks held out)",
             "logo": "leave one group out", "loo": "leave one sample out"}
_MODEL_NAMES = {"ridge": "ridge regression", "pls": "PLS regression", "rf": "random forest"}
# Longest suffix first, so "_umol_kg" wins over "_kg" and "_nm" over "_m".
_UNIT_SUFFIXES = sorted({
    "_umol_kg": "µmol/kg", "_umol_l": "µmol/L", "_mmol_m3": "mmol/m³", "_mg_m3": "mg/m³", "_ug_l": "µg/L",
    "_mg_l": "mg/L", "_w_m2": "W/m²", "_m_s": "m/s", "_dbar": "dbar", "_psu": "PSU", "_pct": "%",
    "_percent": "%", "_degc": "°C", "_c": "°C", "_k": "K", "_km": "km", "_m": "m", "_um": "µM", "_nm": "nM",
    "_days": "days", "_ntu": "NTU", "_ppm": "ppm", "_uatm": "µatm",
}.items(), key=lambda item: -len(item[0]))
_SPECIAL_NAMES = {"ph": "pH", "pco2": "pCO₂", "shannon": "Shannon", "richness": "Richness",
                  "simpson": "Gini-Simpson", "doy_sin": "Season (sine of day of year)",
                  "doy_cos": "Season (cosine of day of year)", "years_since_start": "Years since start"}
_FRACTION_NAMES = {"temperature": "temperature", "environment": "other environment",
                   "space_time": "space & time", "residual": "unexplained (residual)"}
#: significance level of every "significant" in the report, applied to Holm-adjusted p-values
ALPHA = 0.05
#: what the time-series section says when the data have no dated series
NO_SERIES = "The data have no dated series"
_FRACTION_COLOURS = {"temperature": "#d6604d", "environment": "#4393c3", "space_time": "#5aae61"}
_SHARED_COLOURS = ("#b2abd2", "#8073ac", "#fdb863", "#e08214", "#c2a5cf")

_STYLE = {
    "font.family": "DejaVu Sans", "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10,
    "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "legend.fontsize": 8.5, "legend.title_fontsize": 9,
    "figure.titlesize": 11, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.6, "lines.linewidth": 1.3, "lines.markersize": 4,
    "image.cmap": "viridis", "savefig.facecolor": "white", "figure.facecolor": "white",
    "path.simplify": True, "axes.unicode_minus": True,
}


@dataclass(frozen=True)
class ReportConfig:
    """The ``report`` config section (everything has a default)."""

    dpi: int = 100
    n_top_otus: int = 8
    n_top_features: int = 10
    max_ordinations: int = 6
    max_otu_profiles: int = 3
    temperature_variable: str = "temperature_c"
    primary_profile: str = "embedding"
    primary_metric: str = "braycurtis"

    def __post_init__(self) -> None:
        problems = []
        for name in ("dpi", "n_top_otus", "n_top_features", "max_ordinations", "max_otu_profiles"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(InputProblem(file="config", column=f"report.{name}", value=value,
                                             message="invalid value", expected="an integer >= 1"))
        if problems:
            raise PlanktonlmInputError(problems)


@dataclass
class ReportInputs:
    """Everything the report shows; only ``samples`` is required (see module docstring of each stage).

    samples: index sample; columns cruise, station, datetime (UTC), latitude, longitude, depth_m, env variables.
    env_columns: environmental variables to show (default: numeric columns not in ``META_COLUMNS``).
    read_accounting: sample, raw_reads, kept_reads, pct_kept, mean_length_raw, mean_length_qc (+ others).
    train_log: step, lr, loss, mlm_loss, contrastive_loss, val_loss, reads_per_s (any subset besides step).
    model_info: reused (bool), checkpoint (path), n_parameters, sha256.
    profiles: name -> counts (samples x OTUs); names like "embedding", "kmer", "oracle".
    alpha: profile -> table (index sample; richness, shannon, simpson, ...).
    pcoa: (profile, metric) -> coordinates (index sample; PCo1, PCo2, ...); ratios explained in
        ``pcoa_explained[(profile, metric)]`` or in the table's ``attrs["explained"]``.
    dbrda_marginal: profile, transformation, variable, r2, r2_adj, pseudo_f (or F), p_value [, p_min,
        testable, permutation, n_permutations, p_holm, q_bh] (without p_holm, Holm's adjustment is
        computed here within profile x transformation). dbrda_conditional, dbrda_season (each
        driver given the seasonal harmonics and trend), dbrda_anomalies (on de-seasoned
        anomalies) and dbrda_lagged (plus ``lag``) have the same columns.
    dbrda_forward: profile, transformation, step, variable, r2_adj_cum (or r2_adj), p_value [, selected].
    varpart: profile, transformation, fraction, r2_adj [, kind, label, p_value, p_holm, q_bh].
    cv_metrics: profile, [transformation,] direction, target, model, r2_mean, r2_sd, r2_min, r2_max,
        n_splits, group_by [, cv, primary, folds, p_perm, permutation, p_holm, q_bh]; ``primary``
        marks the one configured model x transformation that is the result (the others are
        sensitivity analyses).
    season_baseline: profile, transformation, direction, target, model, folds, r2_season, r2_main,
        r2_both, delta_r2, delta_low, delta_high, main_predictors, n_samples.
    profile_comparison: direction, target, transformation, model, profile_a, profile_b, r2_a, r2_b,
        delta_r2, delta_low, delta_high, n_samples, n_groups.
    trends: profile, series, station, depth_m, variable, n, period, years, test, trend, tau,
        p_value, sen_slope_per_year, reason [, p_holm, q_bh].
    time_lag: profile, transformation, slope, r2, n_pairs, recurrence, slope_p_value,
        recurrence_p_value [, permutation, n_permutations, p_holm, q_bh].
    predictions: profile, [transformation,] direction, target, model, sample, observed, predicted, repeat.
    importances: profile, [transformation,] direction, target, model, feature, importance_mean, importance_sd.
    encoder_quality: representation, knn_accuracy, ari.
    excluded: item, kind, reason: what the shifts stage left out of its statistics (its ``excluded.tsv``).
    provenance: free-form dict (config_sha256, model_sha256, inputs, packages, seed, ...).
    """

    samples: pd.DataFrame
    env_columns: list[str] | None = None
    read_accounting: pd.DataFrame | None = None
    train_log: pd.DataFrame | None = None
    model_info: dict | None = None
    profiles: dict[str, pd.DataFrame] | None = None
    alpha: dict[str, pd.DataFrame] | None = None
    pcoa: dict[tuple[str, str], pd.DataFrame] | None = None
    pcoa_explained: dict[tuple[str, str], list[float]] | None = None
    dbrda_marginal: pd.DataFrame | None = None
    dbrda_forward: pd.DataFrame | None = None
    varpart: pd.DataFrame | None = None
    cv_metrics: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    importances: pd.DataFrame | None = None
    dbrda_conditional: pd.DataFrame | None = None
    dbrda_season: pd.DataFrame | None = None
    dbrda_anomalies: pd.DataFrame | None = None
    dbrda_lagged: pd.DataFrame | None = None
    season_baseline: pd.DataFrame | None = None
    profile_comparison: pd.DataFrame | None = None
    trends: pd.DataFrame | None = None
    time_lag: pd.DataFrame | None = None
    encoder_quality: pd.DataFrame | None = None
    excluded: pd.DataFrame | None = None
    provenance: dict | None = None
    title: str = "planktonlm report"


# ----------------------------------------------------------------------------------------------
# names, units, number formats


def split_unit(column: str) -> tuple[str, str]:
    """``temperature_c`` -> ("Temperature", "°C"); ``ph`` -> ("pH", ""); unknown suffix -> no unit."""
    name, unit = column, ""
    lower = column.lower()
    for suffix, text in _UNIT_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            name, unit = column[: -len(suffix)], text
            break
    if name.lower() in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name.lower()], unit
    if name.lower().startswith("pcoa") and name[4:].isdigit():
        return f"PCoA axis {name[4:]}", unit
    pretty = name.replace("_", " ").strip()
    return (pretty[:1].upper() + pretty[1:] if pretty else column), unit


def variable_label(column: str) -> str:
    """Axis label with unit: ``temperature_c`` -> "Temperature (°C)"."""
    name, unit = split_unit(column)
    return f"{name} ({unit})" if unit else name


def _name(column: str) -> str:
    return split_unit(column)[0]


def _profile_name(profile: str) -> str:
    return _PROFILE_NAMES.get(profile, profile)


def _metric_name(metric: str) -> str:
    return _METRIC_NAMES.get(metric, metric)


def _model_name(model: str) -> str:
    return _MODEL_NAMES.get(model, model)


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _f(x: Any, digits: int = 2) -> str:
    """Fixed decimals; missing -> an en dash."""
    return f"{float(x):.{digits}f}" if _finite(x) else "–"


def _pct(x: Any, digits: int = 0) -> str:
    return f"{100 * float(x):.{digits}f}%" if _finite(x) else "–"


def _p(x: Any) -> str:
    if not _finite(x):
        return "–"
    return "< 0.001" if float(x) < 0.001 else f"{float(x):.3f}"


def _p_exact(x: Any) -> str:
    """A p-value to two significant digits (for the smallest attainable p, e.g. 0.0035)."""
    return f"{float(x):.2g}" if _finite(x) else "–"


def _truthy(value: Any, default: bool) -> bool:
    """A boolean cell as read from TSV (True/"true"/1); missing -> ``default``."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return default
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("", "nan", "na", "none"):
        return default
    return text in ("true", "1", "yes", "1.0")


def _testable(row: Mapping | pd.Series) -> bool:
    return _truthy(row.get("testable"), True)


def _at_floor(row: Mapping | pd.Series) -> bool:
    """Whether the p-value equals the smallest attainable one (the permutations cannot go lower)."""
    p, p_min = row.get("p_value"), row.get("p_min")
    return _finite(p) and _finite(p_min) and abs(float(p) - float(p_min)) <= 1e-9 * max(1.0, float(p_min))


def _p_raw(row: Mapping | pd.Series, column: str = "p_value") -> str:
    """``p = 0.003`` or ``p = 0.0035, the smallest attainable``."""
    if column == "p_value" and _at_floor(row):
        return f"p = {_p_exact(row[column])}, the smallest attainable"
    p = _p(row.get(column))
    return f"p {p}" if p.startswith("<") else f"p = {p}"


def _p_holm(row: Mapping | pd.Series) -> str:
    p = _p(row.get("p_holm"))
    return f"Holm-adjusted {p}"


def _significant(row: Mapping | pd.Series) -> bool:
    """Significant only when testable and the Holm-adjusted p-value is <= ``ALPHA``."""
    return _testable(row) and _finite(row.get("p_holm")) and float(row["p_holm"]) <= ALPHA


def _test_text(row: Mapping | pd.Series, family: str = "", with_scheme: bool = True) -> str:
    """"p = 0.003, Holm-adjusted 0.03 (within ...); permutations: <scheme>" or "not testable"."""
    if not _testable(row):
        return "not testable under this design"
    if not _finite(row.get("p_value")):
        return "not tested"
    text = _p_raw(row)
    if _finite(row.get("p_holm")):
        text += f", {_p_holm(row)}" + (f" within {family}" if family else "")
    scheme = row.get("permutation")
    if with_scheme and isinstance(scheme, str) and scheme.strip():
        text += f"; permutations: {scheme.strip()}"
    return text


def _cell_p(row: pd.Series) -> str:
    """Table cell for a raw p-value."""
    if not _testable(row):
        return "not testable under this design"
    if _at_floor(row):
        return f"{_p_exact(row['p_value'])} (smallest attainable)"
    return _p(row.get("p_value"))


def _cell_holm(row: pd.Series) -> str:
    if not _testable(row):
        return "–"
    return _p(row.get("p_holm")) + (" *" if _significant(row) else "")


def _model_column() -> _Col:
    """Model (and transformation) of a row, e.g. "ridge · Hellinger"."""
    return _Col("Model", lambda r: f"{r.get('model', '')}" + (f" · {_metric_name(r['transformation'])}"
                                                            if r.get("transformation") else ""), text=True)


def _delta_text(row: Any) -> str:
    return _interval(row["delta_r2"], row.get("delta_low"), row.get("delta_high"))


def _interval(mean: Any, low: Any, high: Any, digits: int = 2) -> str:
    text = _f(mean, digits)
    if _finite(low) and _finite(high):
        text += f" [{_f(low, digits)}, {_f(high, digits)}]"
    return text


def _int(x: Any) -> str:
    return f"{int(round(float(x))):,}" if _finite(x) else "–"


def _r2_pm(mean: Any, sd: Any) -> str:
    return f"{_f(mean)} ± {_f(sd)}" if _finite(sd) else _f(mean)


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _ordered(names: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """Known names in their preferred order, then the rest alphabetically (deterministic)."""
    names = list(dict.fromkeys(str(n) for n in names))
    rank = {n: i for i, n in enumerate(preferred)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


# ----------------------------------------------------------------------------------------------
# HTML building blocks


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 color:#1d2731;background:#fbfcfd;margin:0;line-height:1.45}
main{max-width:1120px;margin:0 auto;padding:0 24px 48px}
header{background:#0b4f6c;color:#fff;padding:22px 24px}
header h1{margin:0 auto;max-width:1120px;font-size:1.6em}
header p{margin:4px auto 0;max-width:1120px;opacity:.85}
nav{max-width:1120px;margin:14px auto 0;padding:0 24px;font-size:.92em}
nav a{color:#0b4f6c;margin-right:14px;text-decoration:none;white-space:nowrap}
section{border-top:1px solid #d5dde5;margin-top:28px;padding-top:6px}
h2{color:#0b4f6c;font-size:1.3em}
h3{font-size:1.05em;margin:18px 0 6px}
figure{margin:14px 0 22px}
figure img{max-width:100%;height:auto;border:1px solid #e3e8ee;background:#fff}
figcaption{font-size:.9em;color:#4a5866;max-width:900px;margin-top:4px}
table{border-collapse:collapse;font-size:.88em;margin:8px 0 6px}
th,td{padding:3px 9px;border-bottom:1px solid #e3e8ee;text-align:right;vertical-align:top}
th{background:#eef3f7;text-align:center}
td.t,th.t{text-align:left}
tbody tr:nth-child(even){background:#f6f8fa}
.scroll{max-height:420px;overflow:auto;display:inline-block;border:1px solid #e3e8ee}
.caption{font-size:.9em;color:#4a5866;max-width:900px}
.missing{font-style:italic;color:#7a8691}
.findings li{margin:4px 0}
details{margin:8px 0}
summary{cursor:pointer;color:#0b4f6c}
code{font-size:.9em;word-break:break-all}
footer{max-width:1120px;margin:0 auto;padding:12px 24px 32px;font-size:.85em;color:#7a8691}
"""


def _missing(what: str) -> str:
    return f'<p class="missing">{_esc(what)} is not available for this run.</p>'


NO_DATES = "no sampling dates in this run's inputs"


def _no_dates(what: str) -> str:
    """Stands in for a figure over time when no sample has a date (e.g. published tables)."""
    return f'<p class="missing">{_esc(what)}: {NO_DATES}.</p>'


def _date_text(time: Any) -> str:
    return "–" if pd.isna(time) else f"{pd.Timestamp(time):%Y-%m-%d}"


def _caption(text: str) -> str:
    return f'<p class="caption">{text}</p>'


def _figure(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


@dataclass(frozen=True)
class _Col:
    """One table column: header, source column (or callable on the row) and cell formatter."""

    header: str
    source: str | Callable[[pd.Series], Any]
    fmt: Callable[[Any], str] = str
    text: bool = False  # left-aligned text column


def _table(frame: pd.DataFrame, columns: Sequence[_Col], scroll: bool = False) -> str:
    left = ' class="t"'
    head = "".join(f'<th{left if c.text else ""}>{_esc(c.header)}</th>' for c in columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for c in columns:
            value = c.source(row) if callable(c.source) else row.get(c.source)
            cells.append(f'<td{left if c.text else ""}>{_esc(c.fmt(value))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="scroll">{table}</div>' if scroll else table


def _text(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


# ----------------------------------------------------------------------------------------------
# figures


class _Plot:
    """A matplotlib Figure (no pyplot, no global backend) saved as a stamp-free PNG.

    Drawn inside ``render_report``'s ``rc_context(_STYLE)``, so every figure has the same style.
    """

    def __init__(self, dpi: int, width: float, height: float, nrows: int = 1, ncols: int = 1, **kwargs):
        self.dpi = dpi
        self.fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
        self.axes = np.atleast_1d(self.fig.subplots(nrows, ncols, squeeze=False, **kwargs)).ravel()

    def png(self) -> bytes:
        buffer = io.BytesIO()
        # No Software/date stamp: the same figure gives the same bytes.
        self.fig.savefig(buffer, format="png", dpi=self.dpi, metadata={"Software": None})
        return buffer.getvalue()


def _date_axis(ax) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _series_legend(plot: _Plot, ctx: _Context, keys: Iterable[tuple]) -> None:
    keys = [k for k in ctx.series if k in set(keys)]
    if not keys or len(keys) > 24:
        return
    handles = [Line2D([], [], color=ctx.colour[k], marker="o", label=ctx.label[k]) for k in keys]
    plot.fig.legend(handles=handles, loc="outside lower center", ncols=min(len(keys), 6),
                    title="station · depth", frameon=False)


# ----------------------------------------------------------------------------------------------
# normalised context


@dataclass
class _Context:
    config: ReportConfig
    samples: pd.DataFrame          # normalised: index sample, columns time (naive UTC), series, ...
    order: list[str]               # samples by time, station, depth, id
    env_columns: list[str]
    series: list[tuple]            # (station, depth_m) in display order
    colour: dict[tuple, Any]
    label: dict[tuple, str]
    station_colour: dict[str, Any]
    temperature: str | None
    inputs: ReportInputs
    n_images: int = 0
    tables: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    cv_scheme: str | None = None
    dated: list[str] = field(default_factory=list)  # ``order`` restricted to samples with a date

    def add_image(self) -> None:
        self.n_images += 1


def _indexed(frame: pd.DataFrame) -> pd.DataFrame:
    if "sample" in frame.columns:
        frame = frame.set_index("sample")
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    frame.index.name = "sample"
    return frame


def _require(frame: Any, name: str, columns: Sequence[str], problems: list[InputProblem], *,
             index_ok: str | None = None) -> None:
    if frame is None:
        return
    if not isinstance(frame, pd.DataFrame):
        problems.append(InputProblem(file=name, message="not a table", value=type(frame).__name__,
                                     expected="a pandas DataFrame"))
        return
    have = set(map(str, frame.columns)) | ({index_ok} if index_ok and frame.index.name == index_ok else set())
    for column in columns:
        if column not in have:
            problems.append(InputProblem(file=name, column=column, message="required column missing",
                                         expected=f"columns {', '.join(columns)}"))


#: the statistics tables and the columns each needs (besides ``profile``, where listed)
_STAT_TABLES: dict[str, tuple[str, ...]] = dict(
    dbrda_marginal=("profile", "variable", "r2", "p_value"),
    dbrda_forward=("profile", "step", "variable"),
    varpart=("profile", "fraction", "r2_adj"),
    cv_metrics=("profile", "direction", "target", "model", "r2_mean"),
    predictions=("profile", "direction", "target", "model", "sample", "observed", "predicted"),
    importances=("profile", "direction", "target", "model", "feature", "importance_mean"),
    dbrda_conditional=("profile", "variable", "r2", "p_value"),
    dbrda_season=("profile", "variable", "r2", "p_value"),
    dbrda_anomalies=("profile", "variable", "r2", "p_value"),
    dbrda_lagged=("profile", "variable", "r2", "p_value"),
    season_baseline=("profile", "direction", "target", "r2_season", "r2_main", "r2_both", "delta_r2"),
    profile_comparison=("direction", "target", "profile_a", "profile_b", "delta_r2"),
    trends=("profile", "variable", "test"),
    time_lag=("profile", "slope"),
)
#: tables that are only shown when given; an empty one is kept (empty), not dropped
_OPTIONAL_STATS = ("dbrda_conditional", "dbrda_season", "dbrda_anomalies", "dbrda_lagged", "season_baseline",
                   "profile_comparison", "trends", "time_lag")
def _normalise_stats(inputs: ReportInputs,
                     problems: list[InputProblem]) -> tuple[dict[str, pd.DataFrame | None], str | None]:
    """Copies of the statistics tables with the column aliases resolved and keys as strings, and
    the CV scheme that the figures show. Optional tables that were given empty stay empty frames
    (so a section can tell "not run" from "nothing to show")."""
    out: dict[str, pd.DataFrame | None] = {}
    for name, needed in _STAT_TABLES.items():
        frame = getattr(inputs, name)
        if frame is None:
            out[name] = None
            continue
        if isinstance(frame, pd.DataFrame) and frame.empty:
            out[name] = frame.copy() if name in _OPTIONAL_STATS else None
            continue
        _require(frame, name, needed, problems)
        if not isinstance(frame, pd.DataFrame):
            out[name] = None
            continue
        frame = frame.copy()
        if "transformation" not in frame.columns:
            frame["transformation"] = ""
        for column in ("profile", "transformation", "direction", "target", "model", "variable", "feature",
                       "fraction", "sample", "cv", "profile_a", "profile_b", "series", "station", "test", "trend"):
            if column in frame.columns:
                frame[column] = frame[column].astype(str)
        if "direction" in frame.columns:
            frame["direction"] = frame["direction"].map(lambda d: _DIRECTION_ALIASES.get(d, d))
        if "pseudo_f" not in frame.columns and "F" in frame.columns:
            frame["pseudo_f"] = frame["F"]
        if "testable" in frame.columns:
            frame["testable"] = frame["testable"].map(lambda v: _truthy(v, True))
        # Older result folders have no p_holm: adjust as the shifts stage does.
        if name in FAMILIES and "p_holm" not in frame.columns and set([FAMILIES[name][0], *FAMILIES[name][1]]) <= set(frame.columns):
            frame[FAMILIES[name][0]] = pd.to_numeric(frame[FAMILIES[name][0]], errors="coerce")
            frame["p_holm"] = holm_table(name, frame)
        if name == "cv_metrics":
            frame["primary"] = (frame["primary"].map(lambda v: _truthy(v, False)) if "primary" in frame.columns
                                else _fallback_primary(frame))
        if name == "dbrda_forward":
            if "r2_adj_cum" not in frame.columns and "r2_adj" in frame.columns:
                frame["r2_adj_cum"] = frame["r2_adj"]
            # Shifts writes the test of the global model as step 0, variable "<all>", and keeps
            # the step that stopped selection with selected=False.
            frame["is_global"] = frame["variable"].str.startswith("<")
            chosen = (frame["selected"].astype(str).str.lower().isin(["true", "1", "yes"])
                      if "selected" in frame.columns else pd.Series(True, index=frame.index))
            frame["is_selected"] = chosen & ~frame["is_global"]
        if name == "varpart":
            if "kind" not in frame.columns:
                frame["kind"] = frame["fraction"].map(
                    lambda f: f if f in ("residual", "all") else "shared" if "&" in f else "unique")
            frame["kind"] = frame["kind"].astype(str)
        out[name] = frame
    # Models may be scored under several CV schemes (column ``cv``): every view shows one
    # scheme, grouped CV when there is one (the honest estimate); the full table shows all.
    out["cv_metrics_all"] = out["cv_metrics"]
    cv_tables = ("cv_metrics", "predictions", "importances", "season_baseline", "profile_comparison")
    schemes = _ordered({v for k in cv_tables if out[k] is not None and "cv" in out[k].columns for v in out[k]["cv"]},
                       _CV_ORDER)
    for name in cv_tables:
        if schemes and out[name] is not None and "cv" in out[name].columns and not out[name].empty \
                and (name in ("cv_metrics", "predictions", "importances") or (out[name]["cv"] == schemes[0]).any()):
            out[name] = out[name][out[name]["cv"] == schemes[0]]
    return out, (schemes[0] if schemes else None)


def _fallback_primary(cv: pd.DataFrame) -> pd.Series:
    """Older result folders have no ``primary`` column: the first (transformation, model) in a
    fixed order (not the best-scoring one) stands in, per profile and direction."""
    models = ("ridge", "pls", "rf")
    primary = pd.Series(False, index=cv.index)
    for _, part in cv.groupby(["profile", "direction"], sort=True):
        combos = sorted(set(zip(part["transformation"], part["model"])),
                        key=lambda k: (_METRIC_ORDER.index(k[0]) if k[0] in _METRIC_ORDER else len(_METRIC_ORDER),
                                       models.index(k[1]) if k[1] in models else len(models), k))
        first = combos[0]
        primary.loc[part.index] = (part["transformation"] == first[0]) & (part["model"] == first[1])
    return primary


def _build_context(inputs: ReportInputs, config: ReportConfig) -> _Context:
    problems: list[InputProblem] = []
    if not isinstance(inputs.samples, pd.DataFrame):
        raise PlanktonlmInputError(InputProblem(file="samples", message="the samples table is required",
                                                expected="a pandas DataFrame indexed by sample"))
    _require(inputs.samples, "samples", ("station", "datetime"), problems)
    if inputs.samples.empty:
        problems.append(InputProblem(file="samples", message="the samples table has no rows",
                                     expected="one row per sample"))
    _require(inputs.read_accounting, "read_accounting", ("sample",), problems, index_ok="sample")
    _require(inputs.train_log, "train_log", ("step",), problems)
    _require(inputs.encoder_quality, "encoder_quality", ("representation",), problems)
    _require(inputs.excluded, "excluded", ("item", "reason"), problems)
    tables, cv_scheme = _normalise_stats(inputs, problems)
    samples = _indexed(inputs.samples)
    for sample in sorted(set(samples.index[samples.index.duplicated()])):
        problems.append(InputProblem(file="samples", column="sample", value=sample, message="duplicate sample id",
                                     expected="one row per sample"))
    if not problems:
        # Published tables (e.g. Tara Oceans) have no sampling dates: a missing date is allowed,
        # only a value that is there and does not parse is an error.
        raw = samples["datetime"]
        given = ~raw.map(_is_missing_date).to_numpy(dtype=bool)
        times = pd.to_datetime(raw.where(given, None), utc=True, errors="coerce", format="ISO8601")
        for row, (sample, value, present) in enumerate(zip(samples.index, times, given), start=1):
            if present and pd.isna(value):
                problems.append(InputProblem(file="samples", row=row, column="datetime", value=raw.iloc[row - 1],
                                             message=f"unparsable date for sample {sample}", expected="ISO 8601"))
    if problems:
        raise PlanktonlmInputError(problems)
    samples["time"] = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    if samples["time"].isna().any():
        logger.info("report: %d of %d samples have no sampling date", int(samples["time"].isna().sum()), len(samples))
    samples["station"] = samples["station"].astype(str)
    if "cruise" in samples.columns:
        samples["cruise"] = samples["cruise"].astype(str)
    for column in ("latitude", "longitude", "depth_m"):
        samples[column] = pd.to_numeric(samples[column], errors="coerce") if column in samples.columns else np.nan
    if inputs.env_columns is not None:
        env_columns = [c for c in inputs.env_columns if c in samples.columns]
        if len(env_columns) < len(inputs.env_columns):
            logger.warning("report: environmental columns not in the samples table: %s",
                           ", ".join(c for c in inputs.env_columns if c not in samples.columns))
    else:
        env_columns = [c for c in samples.columns if c not in META_COLUMNS and c != "time"
                       and pd.to_numeric(samples[c], errors="coerce").notna().any()]
    for column in env_columns:
        samples[column] = pd.to_numeric(samples[column], errors="coerce")
    # NaN != NaN would split one series in two: an unknown depth is None in the key.
    samples["series"] = [(station, float(depth) if _finite(depth) else None)
                         for station, depth in zip(samples["station"], samples["depth_m"])]
    # Undated samples after the dated ones (NaT does not compare), then by station and depth.
    order = sorted(samples.index, key=lambda s: (_time_key(samples.at[s, "time"]),
                                                  _natural_key(samples.at[s, "station"]),
                                                  _depth_key(samples.at[s, "depth_m"]), s))
    dated = [s for s in order if not pd.isna(samples.at[s, "time"])]
    series = sorted(set(samples["series"]), key=lambda k: (k[0], _depth_key(k[1])))
    stations = sorted(set(samples["station"]))
    station_colour, colour = _series_colours(stations, series)
    label = {k: (f"{k[0]} · {k[1]:g} m" if _finite(k[1]) else k[0]) for k in series}
    temperature = config.temperature_variable if config.temperature_variable in samples.columns else \
        next((c for c in env_columns if c.lower().startswith("temp")), None)
    return _Context(config=config, samples=samples, order=order, env_columns=env_columns, series=series,
                    colour=colour, label=label, station_colour=station_colour, temperature=temperature,
                    inputs=inputs, tables=tables, cv_scheme=cv_scheme, dated=dated)


_MISSING_DATE_TEXT = frozenset({"", "nan", "nat", "na", "none", "null"})


def _is_missing_date(value: Any) -> bool:
    """True for an absent date (None, NaN, NaT, empty or 'NA'-like text), not for a bad one."""
    if isinstance(value, str):
        return value.strip().lower() in _MISSING_DATE_TEXT
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _time_key(time: Any) -> tuple:
    return (0, pd.Timestamp(time).value) if not pd.isna(time) else (1, 0)


def _natural_key(text: str) -> tuple:
    """"S4" before "S10": digit runs compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", str(text)) if part)


def _depth_key(depth: Any) -> tuple:
    return (0, float(depth)) if _finite(depth) else (1, 0.0)


def _series_colours(stations: list[str], series: list[tuple]) -> tuple[dict, dict]:
    """One hue per station, shaded by depth (lighter = shallower, the same depth the same shade),
    so that station and depth both read off a line's colour. Beyond 10 stations hues would
    repeat: every station x depth then gets its own colour instead."""
    if len(stations) > 10:
        return dict(zip(stations, _palette(len(stations)))), dict(zip(series, _palette(len(series))))
    base = dict(zip(stations, matplotlib.colormaps["tab10"].colors))
    depths = sorted({d for _, d in series}, key=_depth_key)
    colours = {}
    for station, depth in series:
        rgb = np.asarray(base[station][:3])
        t = depths.index(depth) / (len(depths) - 1) if len(depths) > 1 else 0.5
        # t = 0: mixed 45% with white; t = 1: mixed 40% with black.
        shade = rgb + (1 - rgb) * 0.45 * (1 - 2 * t) if t < 0.5 else rgb * (1 - 0.4 * (2 * t - 1))
        colours[(station, depth)] = tuple(float(x) for x in np.clip(shade, 0, 1)) + (1.0,)
    return base, colours


def _palette(n: int) -> list:
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"]
    if n <= 20:
        return [cmap(i) for i in range(n)]
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]


def _series_lines(ax, ctx: _Context, samples: Sequence[str], values: pd.Series, markersize: float = 3.5) -> set:
    """One line per station x depth through ``values`` (indexed by sample), in time order."""
    drawn = set()
    meta = ctx.samples.loc[list(samples)]
    # Many series: thinner, lighter lines without markers, or the panel turns into a tangle.
    crowded = len(ctx.series) > 12
    style = dict(linewidth=0.8, alpha=0.75, marker="") if crowded else dict(marker="o", markersize=markersize)
    for key in ctx.series:
        # Only dated samples have a place on a time axis; callers say how many were left out.
        members = [s for s in ctx.dated if s in meta.index and meta.at[s, "series"] == key]
        y = values.reindex(members)
        keep = y.notna().to_numpy()
        if not keep.any():
            continue
        times = ctx.samples.loc[members, "time"].to_numpy()[keep]
        ax.plot(times, y.to_numpy(dtype=float)[keep], color=ctx.colour[key], label=ctx.label[key], **style)
        drawn.add(key)
    _date_axis(ax)
    return drawn


def _undated_note(ctx: _Context, samples: Iterable[str]) -> str:
    """" N samples without a sampling date are not shown." for those of ``samples`` without a date."""
    dated = set(ctx.dated)
    n = sum(1 for s in samples if s not in dated)
    if not n:
        return ""
    return f" {n} sample{'s' if n != 1 else ''} without a sampling date {'are' if n != 1 else 'is'} not shown."


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def _hide_unused(plot: _Plot, used: int, ncols: int | None = None) -> None:
    for ax in plot.axes[used:]:
        ax.set_visible(False)
    if ncols:
        # With a shared x axis only the bottom row has tick labels: give them back to the
        # panels that stand above an empty slot.
        for ax in plot.axes[max(0, used - ncols):used]:
            ax.xaxis.set_tick_params(labelbottom=True)


# ----------------------------------------------------------------------------------------------
# sections


def _profiles_available(ctx: _Context, *sources: Iterable[str]) -> list[str]:
    names: set[str] = set()
    for source in sources:
        names.update(map(str, source))
    return _ordered(names, (ctx.config.primary_profile,) + _PROFILE_ORDER)


def _primary(ctx: _Context, profiles: Sequence[str]) -> str | None:
    return ctx.config.primary_profile if ctx.config.primary_profile in profiles else (profiles[0] if profiles else None)


def _metric_order(ctx: _Context, metrics: Iterable[str]) -> list[str]:
    return _ordered(metrics, (ctx.config.primary_metric,) + _METRIC_ORDER)


def _primary_cv(ctx: _Context, direction: str) -> pd.DataFrame | None:
    """Per profile and target, the cv_metrics row of the primary (configured) model and
    transformation: THE result, never the best of several."""
    cv = ctx.tables.get("cv_metrics")
    if cv is None:
        return None
    cv = cv[(cv["direction"] == direction) & cv["primary"]]
    if cv.empty:
        return None
    cv = cv.sort_values(["profile", "target", "transformation", "model"], kind="mergesort")
    return cv.drop_duplicates(["profile", "target"])


def _sensitivity_cv(ctx: _Context, direction: str) -> pd.DataFrame | None:
    """The other models and transformations (sensitivity analyses), same CV scheme."""
    cv = ctx.tables.get("cv_metrics")
    if cv is None:
        return None
    cv = cv[(cv["direction"] == direction) & ~cv["primary"]]
    return None if cv.empty else cv


def _primary_combo(ctx: _Context, profile: str, direction: str) -> tuple[str, str] | None:
    """The primary (transformation, model) of one profile and direction."""
    rows = _primary_cv(ctx, direction)
    if rows is None:
        return None
    rows = rows[rows["profile"] == profile]
    if rows.empty:
        return None
    combos = sorted(set(zip(rows["transformation"], rows["model"])))
    return combos[0]


def _folds(row: Mapping | pd.Series) -> str:
    """The fold scheme of a CV row ("station (4 folds of 12-12 samples)"), or what is known of it."""
    folds = row.get("folds")
    if isinstance(folds, str) and folds.strip() and folds.strip().lower() not in ("nan", "na"):
        return folds.strip()
    group, n = row.get("group_by"), row.get("n_splits")
    if isinstance(group, str) and group and _finite(n):
        return f"{group} ({_int(n)} folds)"
    return f"{_int(n)} folds" if _finite(n) else ""


def _r2_folds(row: Mapping | pd.Series) -> str:
    """"0.82 ± 0.05 (folds: station (4 folds of 12-12 samples))"."""
    folds = _folds(row)
    return _r2_pm(row.get("r2_mean"), row.get("r2_sd")) + (f" (folds: {folds})" if folds else "")


def _dbrda_rows(ctx: _Context, name: str, profile: str | None, metric: str | None) -> pd.DataFrame | None:
    table = ctx.tables.get(name)
    if table is None or table.empty or profile is None:
        return None
    rows = table[table["profile"] == profile]
    if metric is not None:
        rows = rows[rows["transformation"] == metric]
    return rows if not rows.empty else None


def _family(row: Mapping | pd.Series, what: str = "variables") -> str:
    """The Holm family of a dbRDA-like row, in words."""
    metric = _metric_name(str(row.get("transformation", "")))
    profile = _profile_name(str(row.get("profile", "")))
    return f"the {what} of {profile}" + (f", {metric}" if metric and metric != "-" else "")


def _targets(ctx: _Context, names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    rank = {c: i for i, c in enumerate(([ctx.temperature] if ctx.temperature else []) + ctx.env_columns)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _dbrda_temperature(ctx: _Context) -> pd.DataFrame | None:
    marginal = ctx.tables.get("dbrda_marginal")
    if marginal is None or ctx.temperature is None:
        return None
    rows = marginal[marginal["variable"] == ctx.temperature]
    return rows if not rows.empty else None


def _section_overview(ctx: _Context) -> str:
    s = ctx.samples
    parts = []
    cruises = sorted(set(s["cruise"])) if "cruise" in s.columns else []
    t0, t1 = s["time"].min(), s["time"].max()
    n_undated = len(s) - len(ctx.dated)
    if ctx.dated:
        dates = (f"{pd.Timestamp(t0):%Y-%m-%d} to {pd.Timestamp(t1):%Y-%m-%d} "
                 f"({(pd.Timestamp(t1) - pd.Timestamp(t0)).days} days)"
                 + (f"; {n_undated} sample{'s' if n_undated != 1 else ''} without a date" if n_undated else ""))
    else:
        dates = f"– ({NO_DATES})"
    depths = s["depth_m"].dropna()
    facts = [
        ("Cruise" + ("s" if len(cruises) != 1 else ""), ", ".join(cruises) if cruises else "–"),
        ("Samples", f"{len(s)}"),
        ("Stations", f"{s['station'].nunique()} ({', '.join(sorted(set(s['station'])))})"
         if s["station"].nunique() <= 12 else f"{s['station'].nunique()}"),
        ("Dates (UTC)", dates),
        ("Depths", f"{depths.min():g} to {depths.max():g} m ({depths.nunique()} distinct)" if len(depths) else "–"),
        ("Environmental variables", ", ".join(variable_label(c) for c in ctx.env_columns) or "–"),
        ("Community profiles", ", ".join(_profile_name(p) for p in _profiles_available(ctx, ctx.inputs.profiles or {},
                                                                                       ctx.inputs.alpha or {},
                                                                                       *_stat_profiles(ctx))) or "–"),
    ]
    info = ctx.inputs.model_info or {}
    if info:
        if info.get("reused"):
            facts.append(("DNA encoder", f"reused from checkpoint {info.get('checkpoint', '(path not recorded)')}"))
        else:
            size = f" ({_int(info['n_parameters'])} parameters)" if _finite(info.get("n_parameters")) else ""
            facts.append(("DNA encoder", f"trained on this cruise's reads{size}"))
    parts.append(_table(pd.DataFrame(facts, columns=["what", "value"]),
                        [_Col("What was run", "what", text=True), _Col("", "value", text=True)]))
    findings = _findings(ctx)
    parts.append("<h3>Key findings</h3>")
    if findings:
        parts.append('<ul class="findings">' + "".join(f"<li>{_esc(f)}</li>" for f in findings) + "</ul>")
        parts.append(_caption("These sentences are generated from the tables further down; R² is the share of "
                              "variation explained (1 = all of it). Cross-validated (CV) R² is measured on samples "
                              "held out from fitting, in whole groups (stations or time blocks), so it estimates how "
                              "well the relationship carries over to new samples. p-values come from permutations "
                              "that respect the sampling design (the scheme is named beside each); a result is "
                              "called significant only if its Holm-adjusted p-value (p_holm, adjusted within the "
                              "family named beside it) is at most 0.05. q_bh in the tables is the "
                              "Benjamini-Hochberg false-discovery rate over the whole run."))
    else:
        parts.append(_missing("A summary of statistical results"))
    return "".join(parts)


def _stat_profiles(ctx: _Context) -> list[list[str]]:
    return [list(t["profile"].unique()) for t in ctx.tables.values() if t is not None and "profile" in t.columns]


def _findings(ctx: _Context) -> list[str]:
    out: list[str] = []
    temp_name = _name(ctx.temperature) if ctx.temperature else None
    marginal = ctx.tables.get("dbrda_marginal")
    profiles = _profiles_available(ctx, *_stat_profiles(ctx))
    primary = _primary(ctx, profiles)
    metric = None
    if marginal is not None and primary is not None:
        rows = marginal[marginal["profile"] == primary]
        metrics = _metric_order(ctx, rows["transformation"].unique())
        if metrics:
            metric = metrics[0]
            rows = rows[rows["transformation"] == metric]
            where = f"dbRDA on {_profile_name(primary)}" + (f", {_metric_name(metric)}" if metric else "")
            temp = rows[rows["variable"] == ctx.temperature] if ctx.temperature else rows.iloc[:0]
            if not temp.empty:
                r = temp.iloc[0]
                out.append(f"{temp_name} explains {_pct(r['r2'])} of community variation on its own ({where}; "
                           f"adjusted R² {_f(r.get('r2_adj'))}; {_test_text(r, _family(r))}). "
                           + _verdict(r))
            elif not rows.empty:
                r = rows.assign(_r=pd.to_numeric(rows["r2"], errors="coerce")).sort_values(
                    ["_r", "variable"], ascending=[False, True], kind="mergesort").iloc[0]
                out.append(f"{_name(r['variable'])} is the strongest single driver of community variation: it "
                           f"explains {_pct(r['r2'])} on its own ({where}; {_test_text(r, _family(r))}). "
                           + _verdict(r))
            steps, whole, stop = _forward(ctx, (primary, metric))
            if not steps.empty:
                names = ", ".join(_name(v) for v in steps["variable"])
                out.append(f"Forward selection keeps {len(steps)} variable{'s' if len(steps) != 1 else ''} "
                           f"({names}), which together explain an adjusted R² of "
                           f"{_f(steps.iloc[-1].get('r2_adj_cum'))} ({where}).")
            elif whole is not None:
                out.append(f"All environmental variables together explain an adjusted R² of "
                           f"{_f(whole.get('r2_adj_cum'))} ({_test_text(whole, with_scheme=False)}; {where}); forward "
                           f"selection keeps no single variable" + (f": {stop}." if stop else "."))
            varpart = ctx.tables.get("varpart")
            if varpart is not None:
                vp = varpart[(varpart["profile"] == primary) & (varpart["transformation"] == metric)]
                if not vp.empty:
                    unique = vp[vp["kind"] == "unique"]
                    shared = pd.to_numeric(vp.loc[vp["kind"] == "shared", "r2_adj"], errors="coerce").sum()
                    residual = pd.to_numeric(vp.loc[vp["kind"] == "residual", "r2_adj"], errors="coerce")
                    bits = [f"{_fraction_name(f)} alone {_pct(v)}"
                            for f, v in zip(unique["fraction"], unique["r2_adj"])]
                    bits.append(f"shared between groups {_pct(shared)}")
                    if len(residual):
                        bits.append(f"unexplained {_pct(residual.iloc[0])}")
                    out.append(f"Variation partitioning ({where}, adjusted R²): " + ", ".join(bits) + ".")
    season = _season_finding(ctx, primary, metric)
    if season:
        out.append(season)
    best = _primary_cv(ctx, ENV_FROM_COMMUNITY)
    if best is not None and primary is not None:
        mine = best[best["profile"] == primary]
        target = ctx.temperature if ctx.temperature in set(mine["target"]) else \
            (_targets(ctx, mine["target"])[0] if not mine.empty else None)
        if target is not None:
            r = mine[mine["target"] == target].iloc[0]
            test = ""
            if _finite(r.get("p_perm")):
                test = (f"; permutation p = {_p(r['p_perm'])}"
                        + (f", Holm-adjusted {_p(r.get('p_holm'))} within the targets of this model"
                           if _finite(r.get("p_holm")) else ""))
            features = f", {_metric_name(r['transformation'])} features" if r["transformation"] else ""
            folds = f"; folds: {_folds(r)}" if _folds(r) else ""
            out.append(f"{_name(target)} is predicted from {_profile_name(primary)} with {_cv_label(ctx)} R² "
                       f"{_r2_pm(r['r2_mean'], r.get('r2_sd'))} ({_model_name(r['model'])}{features}, the primary "
                       f"model{folds}{test}).")
        comparison = _comparison_finding(ctx, primary, target)
        if comparison:
            out.append(comparison)
    return out


def _verdict(row: Mapping | pd.Series) -> str:
    if not _testable(row):
        return "It cannot be tested under this design."
    if not _finite(row.get("p_holm")):
        return ""
    return ("It is significant after Holm adjustment (p_holm ≤ 0.05)." if _significant(row)
            else "It is not significant after Holm adjustment (p_holm > 0.05).")


def _season_finding(ctx: _Context, primary: str | None, metric: str | None) -> str:
    """Whether temperature's effect on the community holds beyond the seasonal cycle."""
    if ctx.temperature is None:
        return ""
    rows = _dbrda_rows(ctx, "dbrda_season", primary, metric)
    if rows is None:
        rows = _dbrda_rows(ctx, "dbrda_season", primary, None)
    rows = rows[rows["variable"] == ctx.temperature] if rows is not None else None
    if rows is None or rows.empty:
        return ""
    r = rows[rows["transformation"] == _metric_order(ctx, rows["transformation"])[0]].iloc[0]
    name = _name(ctx.temperature)
    where = f"dbRDA on {_profile_name(r['profile'])}" + (f", {_metric_name(r['transformation'])}"
                                                          if r["transformation"] else "")
    detail = f"{where}, given the seasonal harmonics and trend; {_test_text(r, _family(r), with_scheme=False)}"
    if not _testable(r):
        return f"Whether {name.lower()}'s effect holds beyond the season cannot be tested under this design ({detail})."
    if _significant(r):
        return (f"{name}'s effect holds beyond the season: it still explains {_pct(r['r2'], 1)} of community "
                f"variation beyond what the calendar explains ({detail}).")
    return (f"{name}'s effect does not hold beyond the season: beyond the calendar it explains "
            f"{_pct(r['r2'], 1)} of community variation, not significant after Holm adjustment ({detail}).")


def _comparison_finding(ctx: _Context, primary: str, target: str | None) -> str:
    """The paired Delta R2 of the primary profile against the k-mer baseline (or another)."""
    table = ctx.tables.get("profile_comparison")
    if table is None or table.empty or target is None:
        return ""
    rows = table[(table["direction"] == ENV_FROM_COMMUNITY) & (table["target"] == target)
                 & ((table["profile_a"] == primary) | (table["profile_b"] == primary))]
    if rows.empty:
        return ""
    rivals = [b if a == primary else a for a, b in zip(rows["profile_a"], rows["profile_b"])]
    rival = "kmer" if "kmer" in rivals else sorted(rivals)[0]
    r = rows.iloc[rivals.index(rival)]
    sign = 1.0 if r["profile_a"] == primary else -1.0
    delta = sign * float(r["delta_r2"]) if _finite(r["delta_r2"]) else np.nan
    lows = [sign * float(r[c]) if _finite(r.get(c)) else np.nan for c in ("delta_low", "delta_high")]
    low, high = min(lows), max(lows)
    if _finite(low) and _finite(high):
        verdict = ("better" if low > 0 else "worse" if high < 0 else "no clearly different")
        ci = f" (95% interval {_f(low)} to {_f(high)})"
    else:
        verdict, ci = "", ""
    r2 = {r["profile_a"]: r.get("r2_a"), r["profile_b"]: r.get("r2_b")}
    target_name = _name(target) if _name(target) in ("pH",) else _name(target).lower()
    text = (f"{_profile_name(primary)[:1].upper() + _profile_name(primary)[1:]} versus the {_profile_name(rival)} "
            f"for {target_name}: {_cv_label(ctx)} R² {_f(r2.get(primary))} against {_f(r2.get(rival))}, a paired "
            f"difference of {_f(delta)}{ci} on identical folds ({_model_name(str(r.get('model', '')))})")
    if verdict == "no clearly different":
        return text + "; the interval includes 0, so neither predicts clearly better."
    if verdict:
        return text + f"; the {_profile_name(primary)} predict {verdict}."
    return text + "."


def _cv_label(ctx: _Context) -> str:
    if ctx.cv_scheme in (None, "", "grouped"):
        return "grouped-CV"
    return f"CV ({_CV_NAMES.get(ctx.cv_scheme, ctx.cv_scheme)})"


def _fraction_name(fraction: str) -> str:
    if fraction in _FRACTION_NAMES:
        return _FRACTION_NAMES[fraction]
    if "&" in fraction:
        return " + ".join(_FRACTION_NAMES.get(p, p) for p in fraction.split("&"))
    return fraction.replace("_", " ")


def _section_cruise(ctx: _Context) -> str:
    s = ctx.samples
    parts = []
    stations = s.groupby("station", sort=True).agg(
        latitude=("latitude", "mean"), longitude=("longitude", "mean"), n=("time", "size"),
        first=("time", "min"), last=("time", "max"),
        depths=("depth_m", lambda d: ", ".join(f"{x:g}" for x in sorted(set(d.dropna())))))
    stations = stations.reset_index()
    if stations[["latitude", "longitude"]].notna().all(axis=1).any():
        plot = _Plot(ctx.config.dpi, 6.4, 4.8)
        ax = plot.axes[0]
        known = stations.dropna(subset=["latitude", "longitude"])
        for _, row in known.iterrows():
            ax.scatter(row["longitude"], row["latitude"], s=55, color=ctx.station_colour[row["station"]],
                       edgecolor="black", linewidth=0.5, zorder=3)
            ax.annotate(row["station"], (row["longitude"], row["latitude"]), xytext=(5, 5),
                        textcoords="offset points", fontsize=9)
        lat0 = float(known["latitude"].mean())
        ax.set_aspect(1.0 / max(math.cos(math.radians(lat0)), 0.1), adjustable="box")
        pad_lon = max(0.1, 0.15 * float(np.ptp(known["longitude"])))
        pad_lat = max(0.1, 0.15 * float(np.ptp(known["latitude"])))
        ax.set_xlim(known["longitude"].min() - pad_lon, known["longitude"].max() + pad_lon)
        ax.set_ylim(known["latitude"].min() - pad_lat, known["latitude"].max() + pad_lat)
        ax.set_xlabel("Longitude (°E)")
        ax.set_ylabel("Latitude (°N)")
        ax.set_title("Station positions")
        parts.append(_figure(plot.png(), "Map of station positions",
                             "Station positions (mean position of each station's samples) on plain longitude/latitude "
                             "axes, without coastline. The axes keep true proportions at this latitude, so distances "
                             "between stations look right."))
        ctx.add_image()
    else:
        parts.append(_missing("A station map (no latitude/longitude)"))
    if ctx.dated:
        series = [k for k in ctx.series if any(s.at[x, "series"] == k for x in ctx.dated)]
        height = min(1.2 + 0.28 * len(series), 9.0)
        plot = _Plot(ctx.config.dpi, 9.0, height)
        ax = plot.axes[0]
        for i, key in enumerate(series):
            members = [x for x in ctx.dated if s.at[x, "series"] == key]
            ax.scatter(s.loc[members, "time"].to_numpy(), np.full(len(members), i), color=ctx.colour[key], s=28,
                       edgecolor="black", linewidth=0.4, zorder=3)
        ax.set_yticks(range(len(series)), [ctx.label[k] for k in series])
        ax.set_ylim(len(series) - 0.5, -0.5)
        ax.set_ylabel("station · depth")
        ax.set_xlabel("Date (UTC)")
        _date_axis(ax)
        parts.append(_figure(plot.png(), "Sampling events over time",
                             "Sampling events over time: one row per station and depth, one dot per sample. Gaps "
                             "show where a station was not visited. The colours identify station and depth in every "
                             "later figure." + _esc(_undated_note(ctx, ctx.order))))
        ctx.add_image()
    else:
        parts.append(_no_dates("Sampling events over time"))
    stations = stations.iloc[sorted(range(len(stations)), key=lambda i: _natural_key(stations.at[i, "station"]))]
    columns = [_Col("Station", "station", text=True), _Col("Latitude (°N)", "latitude", lambda x: _f(x, 3)),
               _Col("Longitude (°E)", "longitude", lambda x: _f(x, 3)), _Col("Depths (m)", "depths", text=True),
               _Col("Samples", "n", _int)]
    if ctx.dated:
        columns += [_Col("First (UTC)", "first", _date_text), _Col("Last (UTC)", "last", _date_text)]
    parts.append(_table(stations, columns, scroll=len(stations) > 14))
    return "".join(parts)


def _section_environment(ctx: _Context) -> str:
    columns = [c for c in ctx.env_columns if ctx.samples[c].notna().any()]
    if not columns:
        return _missing("Environmental data")
    if not ctx.dated:
        return _environment_by_station(ctx, columns)
    nrows, ncols = _grid(len(columns), 3)
    plot = _Plot(ctx.config.dpi, 10.0, 0.6 + 2.4 * nrows + 0.5, nrows, ncols, sharex=True)
    drawn: set = set()
    for ax, column in zip(plot.axes, columns):
        drawn |= _series_lines(ax, ctx, ctx.order, ctx.samples[column])
        ax.set_title(variable_label(column))
    _hide_unused(plot, len(columns), ncols)
    _series_legend(plot, ctx, drawn)
    ctx.add_image()
    missing = {c: int(ctx.samples[c].isna().sum()) for c in columns if ctx.samples[c].isna().any()}
    note = ""
    if missing:
        note = " Missing values (not drawn): " + ", ".join(f"{_name(c)} {n}" for c, n in missing.items()) + "."
    note += _undated_note(ctx, ctx.order)
    return _figure(plot.png(), "Environmental variables over time",
                   "Each panel is one measured variable over time (x axis, UTC); each line joins the samples of one "
                   "station and depth. Lines that separate by depth show vertical structure; parallel changes at all "
                   f"stations show a seasonal or cruise-wide signal.{_esc(note)}")


def _environment_by_station(ctx: _Context, columns: list[str]) -> str:
    """Without dates: each variable per station as points (stations in natural order, S4 before S10)."""
    s = ctx.samples
    stations = sorted(set(s["station"]), key=_natural_key)
    position = {station: i for i, station in enumerate(stations)}
    nrows, ncols = _grid(len(columns), 2)
    plot = _Plot(ctx.config.dpi, 10.0, 0.6 + 2.6 * nrows + 0.5, nrows, ncols, sharex=True)
    step = max(1, math.ceil(len(stations) / 24))  # thin the labels of a long transect
    drawn: set = set()
    for ax, column in zip(plot.axes, columns):
        members = [x for x in ctx.order if _finite(s.at[x, column])]
        ax.scatter([position[s.at[x, "station"]] for x in members], s.loc[members, column].to_numpy(float),
                   c=[ctx.colour[s.at[x, "series"]] for x in members], s=18, edgecolor="black", linewidth=0.3,
                   zorder=3)
        drawn |= {s.at[x, "series"] for x in members}
        ax.set_xticks(range(0, len(stations), step), stations[::step], rotation=90, fontsize=7)
        ax.set_title(variable_label(column))
        ax.grid(axis="x", visible=False)
    _hide_unused(plot, len(columns), ncols)
    _series_legend(plot, ctx, drawn)
    ctx.add_image()
    missing = {c: int(s[c].isna().sum()) for c in columns if s[c].isna().any()}
    note = (" Missing values (not drawn): " + ", ".join(f"{_name(c)} {n}" for c, n in missing.items()) + "."
            if missing else "")
    return (_no_dates("Environment over time")
            + _figure(plot.png(), "Environmental variables per station",
                      "Instead, each panel shows one measured variable per station (x axis, stations in order of "
                      "their number" + (f", every {step}th labelled" if step > 1 else "") + "), one point per "
                      f"sample, coloured by station and depth.{_esc(note)}"))


def _section_reads(ctx: _Context) -> str:
    table = ctx.inputs.read_accounting
    if table is None or table.empty:
        return _missing("Read accounting")
    table = _indexed(table)
    if "pct_kept" not in table.columns and {"raw_reads", "kept_reads"} <= set(table.columns):
        raw = pd.to_numeric(table["raw_reads"], errors="coerce")
        table["pct_kept"] = 100.0 * pd.to_numeric(table["kept_reads"], errors="coerce") / raw.where(raw > 0)
    rank = {sample: i for i, sample in enumerate(ctx.order)}
    table = table.loc[sorted(table.index, key=lambda x: (rank.get(x, len(rank)), x))].reset_index()
    parts = []
    if {"raw_reads", "kept_reads"} <= set(table.columns):
        raw = pd.to_numeric(table["raw_reads"], errors="coerce").sum()
        kept = pd.to_numeric(table["kept_reads"], errors="coerce").sum()
        parts.append(_caption(f"Across {len(table)} samples, {_int(kept)} of {_int(raw)} reads "
                              f"({_pct(kept / raw, 1) if raw else '–'}) passed quality control (adapter and "
                              f"quality trimming, length and N filters)."))
    if "pct_kept" in table.columns:
        values = pd.to_numeric(table["pct_kept"], errors="coerce")
        plot = _Plot(ctx.config.dpi, min(max(6.0, 0.22 * len(table) + 2.0), 11.0), 3.4)
        ax = plot.axes[0]
        colours = [ctx.colour.get(ctx.samples.at[x, "series"], "grey") if x in ctx.samples.index else "grey"
                   for x in table["sample"]]
        ax.bar(range(len(table)), values.fillna(0).to_numpy(), color=colours, edgecolor="black", linewidth=0.3)
        if len(table) <= 80:
            ax.set_xticks(range(len(table)), table["sample"], rotation=90, fontsize=8 if len(table) <= 40 else 6)
            ax.set_xlabel("Sample (in time order)" if ctx.dated else "Sample (by station and depth)")
        else:  # names would be unreadable: the table below has them
            ax.set_xticks([])
            ax.set_xlabel(f"{len(table)} samples in time order (names in the table below)")
        ax.set_ylim(0, 100)
        ax.set_ylabel("Reads kept (%)")
        ax.grid(axis="x", visible=False)
        parts.append(_figure(plot.png(), "Percentage of reads kept per sample",
                             "Share of each sample's raw reads that survived quality control, samples in time order, "
                             "coloured by station and depth. A sample far below the others deserves a look at its "
                             "sequencing run before trusting its community profile."))
        ctx.add_image()
    columns = [_Col("Sample", "sample", text=True)]
    for column, header, fmt in (("raw_reads", "Raw reads", _int), ("kept_reads", "Kept reads", _int),
                                ("pct_kept", "% kept", lambda x: _f(x, 1)),
                                ("removed_too_short", "Too short", _int), ("removed_too_many_n", "Too many N", _int),
                                ("mean_length_raw", "Mean length raw (bp)", lambda x: _f(x, 1)),
                                ("mean_length_qc", "Mean length kept (bp)", lambda x: _f(x, 1))):
        if column in table.columns:
            columns.append(_Col(header, column, fmt))
    parts.append(_table(table, columns, scroll=len(table) > 14))
    return "".join(parts)


def _section_training(ctx: _Context) -> str:
    info = ctx.inputs.model_info or {}
    log = ctx.inputs.train_log
    parts = []
    if info.get("reused"):
        parts.append(_caption(f"The encoder was <b>not trained in this run</b>: it was loaded from the checkpoint "
                              f"<code>{_esc(info.get('checkpoint', '(path not recorded)'))}</code>, so this "
                              f"cruise's reads are embedded in the space of an earlier one."))
    elif info:
        parts.append(_caption("The encoder was trained in this run, self-supervised, on a seeded subsample of this "
                              "cruise's quality-controlled reads."))
    if info:
        facts = [(k, v) for k, v in (("Parameters", _int(info.get("n_parameters"))),
                                     ("Model SHA-256", _text(info.get("sha256"))),
                                     ("Checkpoint", _text(info.get("checkpoint")))) if v not in ("–",)]
        if facts:
            parts.append(_table(pd.DataFrame(facts, columns=["k", "v"]),
                                [_Col("Model", "k", text=True), _Col("", "v", text=True)]))
    if log is None or log.empty:
        if not info.get("reused"):
            parts.append(_missing("The training log"))
        return "".join(parts)
    log = log.copy()
    log["step"] = pd.to_numeric(log["step"], errors="coerce")
    log = log.dropna(subset=["step"]).sort_values("step", kind="mergesort")
    curves = [(c, style) for c, style in (("loss", "-"), ("mlm_loss", "--"), ("contrastive_loss", ":"),
                                          ("val_loss", "o-")) if c in log.columns]
    has_lr = "lr" in log.columns and pd.to_numeric(log["lr"], errors="coerce").notna().any()
    plot = _Plot(ctx.config.dpi, 10.0 if has_lr else 7.0, 3.8, 1, 2 if has_lr else 1)
    ax = plot.axes[0]
    names = {"loss": "training loss", "mlm_loss": "masked-token loss", "contrastive_loss": "contrastive loss",
             "val_loss": "validation loss"}
    for column, style in curves:
        y = pd.to_numeric(log[column], errors="coerce")
        keep = y.notna().to_numpy()
        if not keep.any():
            continue
        ax.plot(log["step"].to_numpy()[keep], y.to_numpy()[keep], style, markersize=3.5,
                label=names[column], color={"val_loss": "#d6604d"}.get(column, "#0b4f6c"))
    ax.set_xlabel("Training step")
    ax.set_ylabel("Loss")
    ax.set_title("Loss")
    if curves:
        ax.legend(frameon=False)
    if has_lr:
        ax2 = plot.axes[1]
        ax2.plot(log["step"], pd.to_numeric(log["lr"], errors="coerce"), color="#5aae61")
        ax2.set_xlabel("Training step")
        ax2.set_ylabel("Learning rate")
        ax2.set_title("Learning-rate schedule")
        ax2.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    parts.append(_figure(plot.png(), "Encoder training curve",
                         "Training loss (how well the encoder fills in masked DNA tokens and recognises two views of "
                         "the same read) against training step; validation loss is measured on held-out reads at some "
                         "steps only. A validation curve that flattens or rises while training loss keeps falling "
                         "would signal over-fitting."))
    ctx.add_image()
    summary = []
    last = log.iloc[-1]
    summary.append(f"{_int(len(log))} logged steps up to step {_int(last['step'])}")
    if "val_loss" in log.columns:
        val = pd.to_numeric(log["val_loss"], errors="coerce").dropna()
        if len(val):
            summary.append(f"final validation loss {_f(val.iloc[-1], 3)} (best {_f(val.min(), 3)})")
    if "loss" in log.columns:
        summary.append(f"final training loss {_f(pd.to_numeric(log['loss'], errors='coerce').iloc[-1], 3)}")
    # Throughput (reads/s) stays in train_log.tsv: a timing would make the report differ between
    # two otherwise identical runs.
    parts.append(_caption(_esc("; ".join(summary) + ".")))
    return "".join(parts)


def _section_diversity(ctx: _Context) -> str:
    alpha = {str(k): _indexed(v) for k, v in (ctx.inputs.alpha or {}).items() if v is not None and not v.empty}
    if not alpha:
        return _missing("Alpha diversity")
    profiles = _profiles_available(ctx, alpha)
    metrics = [m for m in ("shannon", "richness") if any(m in alpha[p].columns for p in profiles)]
    if not metrics:
        return _missing("Alpha diversity (no shannon/richness columns)")
    if not ctx.dated:
        return _no_dates("Alpha diversity over time")
    plot = _Plot(ctx.config.dpi, 10.0, 0.9 + 2.6 * len(profiles), len(profiles), len(metrics), sharex=True)
    drawn: set = set()
    for i, profile in enumerate(profiles):
        table = alpha[profile]
        for j, metric in enumerate(metrics):
            ax = plot.axes[i * len(metrics) + j]
            if metric in table.columns:
                values = pd.to_numeric(table[metric], errors="coerce")
                drawn |= _series_lines(ax, ctx, [x for x in ctx.order if x in values.index], values)
            ax.set_title(f"{_SPECIAL_NAMES[metric]} · {_profile_name(profile)}")
            ax.set_ylabel("Shannon index (nats)" if metric == "shannon" else "OTUs observed")
            if metric == "richness":
                ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    _series_legend(plot, ctx, drawn)
    ctx.add_image()
    depth = ""
    first = alpha[profiles[0]]
    if "depth" in first.columns and pd.to_numeric(first["depth"], errors="coerce").notna().any():
        depth = (f" Counts were rarefied to {_int(pd.to_numeric(first['depth'], errors='coerce').max())} reads per "
                 "sample before computing the indices, so samples sequenced more deeply do not look more diverse.")
    shown = set().union(*(set(t.index) for t in alpha.values())) & set(ctx.samples.index)
    undated = _undated_note(ctx, sorted(shown))
    return _figure(plot.png(), "Alpha diversity over time",
                   "Diversity within each sample over time, one row per community profile. Shannon (left) grows "
                   "with both the number of OTUs and how evenly reads spread over them; richness (right) counts OTUs "
                   f"present. Lines join samples of one station and depth.{_esc(depth)}{_esc(undated)}")


def _explained(ctx: _Context, key: tuple[str, str], table: pd.DataFrame) -> list[float]:
    given = (ctx.inputs.pcoa_explained or {}).get(key)
    if given is None:
        given = table.attrs.get("explained")
    return [float(x) for x in given] if given is not None else []


def _section_ordination(ctx: _Context) -> str:
    pcoa = {(str(k[0]), str(k[1])): _indexed(v) for k, v in (ctx.inputs.pcoa or {}).items()
            if v is not None and not v.empty}
    pcoa = {k: v for k, v in pcoa.items() if {"PCo1", "PCo2"} <= set(v.columns)}
    if not pcoa:
        return _missing("An ordination (PCoA)")
    profiles = _profiles_available(ctx, [k[0] for k in pcoa])
    metrics = _metric_order(ctx, [k[1] for k in pcoa])
    keys = sorted(pcoa, key=lambda k: (profiles.index(k[0]), metrics.index(k[1])))
    # Within the image budget, every profile at the primary metric first, then the other metrics.
    chosen = sorted(keys, key=lambda k: (k[1] != metrics[0], profiles.index(k[0]), metrics.index(k[1])))
    chosen = set(chosen[: ctx.config.max_ordinations])
    colourings = ([("temperature", ctx.temperature)] if ctx.temperature else []) + \
        ([("date", "time")] if ctx.dated else [])
    if not colourings:
        colourings = [("station", None)]
    colour_text = {("temperature", "date"): "Left: colour = water temperature; right: colour = sampling date. "
                                            "A colour gradient along an axis means that axis tracks temperature "
                                            "or season.",
                   ("temperature",): "Colour = water temperature: a colour gradient along an axis means that axis "
                                     "tracks temperature.",
                   ("date",): "Colour = sampling date: a colour gradient along an axis means that axis "
                              "tracks season.",
                   ("station",): "Colour = station and depth."}[tuple(kind for kind, _ in colourings)]
    if not ctx.dated:
        colour_text += f" Colouring by sampling date is left out: {NO_DATES}."
    parts = [_caption("Principal coordinates analysis (PCoA) places samples so that distances between points "
                      "approximate the community dissimilarity between samples: nearby points have similar "
                      "communities. The percentage on each axis is the share of total dissimilarity it shows. "
                      + _esc(colour_text))]
    for key in keys:
        if key not in chosen:
            continue
        table = pcoa[key]
        samples = [x for x in ctx.order if x in table.index]
        explained = _explained(ctx, key, table)
        labels = [f"PCo{i + 1}" + (f" ({100 * explained[i]:.1f}%)" if i < len(explained) else "") for i in range(2)]
        plot = _Plot(ctx.config.dpi, 5.0 * len(colourings), 4.2, 1, len(colourings))
        x = table.loc[samples, "PCo1"].to_numpy(dtype=float)
        y = table.loc[samples, "PCo2"].to_numpy(dtype=float)
        for ax, (kind, column) in zip(plot.axes, colourings):
            if kind == "station":
                ax.scatter(x, y, c=[ctx.colour[ctx.samples.at[i, "series"]] for i in samples], s=30,
                           edgecolor="black", linewidth=0.35, zorder=3)
                ax.set_xlabel(labels[0])
                ax.set_ylabel(labels[1])
                continue
            if kind == "date":
                values = mdates.date2num(ctx.samples.loc[samples, "time"].to_numpy())
                cmap = "cividis"
            else:
                values = ctx.samples.loc[samples, column].to_numpy(dtype=float)
                cmap = "RdYlBu_r"
            missing = ~np.isfinite(values)
            if missing.any():
                ax.scatter(x[missing], y[missing], s=26, facecolor="none", edgecolor="grey", linewidth=0.8)
            points = ax.scatter(x[~missing], y[~missing], c=values[~missing], cmap=cmap, s=30,
                                edgecolor="black", linewidth=0.35, zorder=3)
            bar = plot.fig.colorbar(points, ax=ax, shrink=0.85)
            if kind == "date":
                locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
                bar.ax.yaxis.set_major_locator(locator)
                bar.ax.yaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
                bar.set_label("Sampling date (UTC)")
            else:
                bar.set_label(variable_label(column))
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
            ax.set_title(f"coloured by {'date' if kind == 'date' else _name(column).lower()}")
        plot.fig.suptitle(f"{_profile_name(key[0])} · {_metric_name(key[1])}")
        parts.append(f"<h3>{_esc(_profile_name(key[0]))}, {_esc(_metric_name(key[1]))} dissimilarity</h3>")
        dropped = len(ctx.order) - len(samples)
        note = f" {dropped} samples without coordinates are not shown." if dropped else ""
        undated = len(samples) - len(set(samples) & set(ctx.dated))
        if ctx.dated and undated:
            note += (f" {undated} sample{'s' if undated != 1 else ''} without a sampling date "
                     f"{'are' if undated != 1 else 'is'} drawn as open grey circles in the date panel.")
        parts.append(_figure(plot.png(), f"PCoA of {_profile_name(key[0])} ({_metric_name(key[1])})",
                             f"PCoA axes 1 and 2 of {_esc(_profile_name(key[0]))} with {_esc(_metric_name(key[1]))} "
                             f"dissimilarity; each point is one sample.{_esc(note)}"))
        ctx.add_image()
    omitted = [k for k in keys if k not in chosen]
    if omitted:
        parts.append(_caption("Not drawn, to keep the report small: " + _esc(
            ", ".join(f"{_profile_name(p)} · {_metric_name(m)}" for p, m in omitted)) + "."))
    return "".join(parts)


def _top_variable(counts: pd.DataFrame, n: int) -> tuple[pd.DataFrame, list[str]]:
    counts = counts.apply(pd.to_numeric, errors="coerce").fillna(0.0)
    totals = counts.sum(axis=1)
    relative = counts.div(totals.where(totals > 0), axis=0).fillna(0.0)
    variance = relative.var(axis=0, ddof=0)
    ranked = sorted(variance.index, key=lambda c: (-float(variance[c]), str(c)))
    return relative, [str(c) for c in ranked[:n]]


def _section_otus(ctx: _Context) -> str:
    profiles_in = {str(k): _indexed(v) for k, v in (ctx.inputs.profiles or {}).items() if v is not None and not v.empty}
    if not profiles_in:
        return _missing("The community profiles")
    profiles = _profiles_available(ctx, profiles_in)[: ctx.config.max_otu_profiles]
    parts = [_caption(f"For each profile, the {ctx.config.n_top_otus} OTUs (features) whose relative abundance varies "
                      "most between samples, each over time. An OTU rising at one depth or season and falling "
                      "elsewhere is the kind of shift the statistics below try to link to the environment.")]
    if not ctx.dated:
        return _no_dates("Most variable OTUs over time") + _top_otu_table(ctx, profiles_in)
    for profile in profiles:
        counts = profiles_in[profile]
        counts.columns = counts.columns.astype(str)
        relative, top = _top_variable(counts, ctx.config.n_top_otus)
        samples = [x for x in ctx.order if x in relative.index]
        undated = _undated_note(ctx, samples)
        nrows, ncols = _grid(len(top), 4)
        plot = _Plot(ctx.config.dpi, 10.5, 0.9 + 2.3 * nrows, nrows, ncols, sharex=True)
        drawn: set = set()
        for ax, otu in zip(plot.axes, top):
            drawn |= _series_lines(ax, ctx, samples, 100.0 * relative.loc[samples, otu], markersize=3)
            ax.set_title(otu, fontsize=9)
            ax.set_ylabel("Relative abundance (%)", fontsize=8)
        _hide_unused(plot, len(top), ncols)
        _series_legend(plot, ctx, drawn)
        plot.fig.suptitle(_profile_name(profile))
        parts.append(f"<h3>{_esc(_profile_name(profile))}</h3>")
        parts.append(_figure(plot.png(), f"Most variable OTUs of {_profile_name(profile)}",
                             f"Relative abundance (% of a sample's reads) of the {len(top)} most variable features "
                             f"of {_esc(_profile_name(profile))} ({counts.shape[1]} in all), one panel each, lines "
                             f"per station and depth.{_esc(undated)}"))
        ctx.add_image()
    omitted = [p for p in _profiles_available(ctx, profiles_in) if p not in profiles]
    if omitted:
        parts.append(_caption("Not drawn: " + _esc(", ".join(_profile_name(p) for p in omitted)) + "."))
    return "".join(parts)


def _top_otu_table(ctx: _Context, profiles_in: dict[str, pd.DataFrame]) -> str:
    """Without dates: the most variable OTUs of each profile as a table (mean and max relative abundance)."""
    rows = []
    for profile in _profiles_available(ctx, profiles_in)[: ctx.config.max_otu_profiles]:
        counts = profiles_in[profile]
        counts.columns = counts.columns.astype(str)
        relative, top = _top_variable(counts, ctx.config.n_top_otus)
        for otu in top:
            rows.append({"profile": _profile_name(profile), "otu": otu, "mean": 100 * relative[otu].mean(),
                         "sd": 100 * relative[otu].std(ddof=0), "max": 100 * relative[otu].max(),
                         "n": len(relative)})
    if not rows:
        return ""
    return (_caption(f"Instead, the {ctx.config.n_top_otus} features of each profile whose relative abundance "
                     "varies most between samples (% of a sample's reads).")
            + _table(pd.DataFrame(rows), [
                _Col("Profile", "profile", text=True), _Col("OTU", "otu", text=True),
                _Col("Mean (%)", "mean", lambda x: _f(x, 2)), _Col("sd (%)", "sd", lambda x: _f(x, 2)),
                _Col("Max (%)", "max", lambda x: _f(x, 2)), _Col("Samples", "n", _int)],
                scroll=len(rows) > 14))


def _combos(ctx: _Context, table: pd.DataFrame) -> list[tuple[str, str]]:
    profiles = _profiles_available(ctx, table["profile"])
    metrics = _metric_order(ctx, table["transformation"])
    pairs = set(zip(table["profile"], table["transformation"]))
    return sorted(pairs, key=lambda k: (profiles.index(k[0]), metrics.index(k[1])))


def _combo_name(combo: tuple[str, str]) -> str:
    return _profile_name(combo[0]) + (f" · {_metric_name(combo[1])}" if combo[1] else "")


_STOP_REASONS = {
    "global model not significant": "the model with all variables is not significant, so no variable is selected",
    "p_value > alpha": "the next variable is not significant",
    "r2_adj above global model": "adding the next variable would raise adjusted R² above that of the model with "
                                 "all variables, the stopping rule of Blanchet et al. (2008)",
    "no independent variation": "the next variable adds no variation independent of those selected",
}


def _forward(ctx: _Context, combo: tuple[str, str]) -> tuple[pd.DataFrame, pd.Series | None, str]:
    """Forward selection of one (profile, transformation): the selected steps in order, the
    global-model row (if tested) and why selection stopped (if recorded)."""
    forward = ctx.tables.get("dbrda_forward")
    if forward is None:
        return pd.DataFrame(columns=["variable"]), None, ""
    rows = forward[(forward["profile"] == combo[0]) & (forward["transformation"] == combo[1])]
    rows = rows.assign(_s=pd.to_numeric(rows["step"], errors="coerce"))
    rows = rows.sort_values(["_s", "variable"], kind="mergesort")
    whole = rows[rows["is_global"]]
    reasons = rows.loc[~rows["is_selected"], "stop_reason"] if "stop_reason" in rows.columns else []
    reasons = [_STOP_REASONS.get(str(r).strip(), str(r).strip()) for r in reasons if isinstance(r, str) and r.strip()]
    return rows[rows["is_selected"]], (whole.iloc[0] if len(whole) else None), (reasons[0] if reasons else "")


def _test_columns(first: Sequence[_Col] = ()) -> list[_Col]:
    """Columns of a dbRDA-like test table (raw p, Holm-adjusted p, BH q)."""
    return [*first, _Col("R²", "r2", _f), _Col("adj. R²", "r2_adj", _f),
            _Col("pseudo-F", "pseudo_f", lambda x: _f(x, 1)), _Col("p", _cell_p, str),
            _Col("p (Holm)", _cell_holm, str), _Col("q (BH)", "q_bh", _p)]


def _schemes(rows: pd.DataFrame) -> str:
    """The permutation scheme(s) of a table, in words."""
    if "permutation" not in rows.columns:
        return ""
    texts = sorted({str(t).strip() for t in rows["permutation"] if isinstance(t, str) and t.strip()})
    n = sorted({int(v) for v in pd.to_numeric(rows.get("n_permutations", pd.Series(dtype=float)),
                                                errors="coerce").dropna()})
    if not texts:
        return ""
    counts = f" ({', '.join(map(str, n))} permutations)" if n else ""
    return "Permutations: " + "; ".join(texts) + counts + "."


_P_CAPTION = ("<b>p</b> is the permutation p-value (\"smallest attainable\" when no permutation reached the "
              "observed statistic: more permutations would be needed to go lower), <b>p (Holm)</b> the same "
              "adjusted with Holm's method within each profile and dissimilarity (* = significant, p_holm ≤ 0.05) "
              "and <b>q (BH)</b> the Benjamini-Hochberg false-discovery rate over the whole run. A term the design "
              "cannot test (too few distinct permutations) is marked \"not testable under this design\".")


def _section_dbrda(ctx: _Context) -> str:
    marginal, forward, varpart = (ctx.tables.get(k) for k in ("dbrda_marginal", "dbrda_forward", "varpart"))
    conditional = ctx.tables.get("dbrda_conditional")
    parts = []
    if marginal is None:
        parts.append(_missing("The dbRDA table"))
    else:
        parts.append(_caption(
            "Distance-based redundancy analysis (dbRDA) asks how much of the variation in community dissimilarity "
            "each variable explains. <b>R²</b> is the share explained by the variable on its own; <b>adj. R²</b> "
            "corrects for the number of samples; <b>pseudo-F</b> is the test statistic. " + _P_CAPTION
            + " <b>Selected</b> gives the order in which forward selection added variables to the model (empty = "
              "not kept). Collinear variables can swap places: read the shared fractions below before calling one "
              "of them the cause."))
        for i, combo in enumerate(_combos(ctx, marginal)):
            rows = marginal[(marginal["profile"] == combo[0]) & (marginal["transformation"] == combo[1])].copy()
            steps, whole, stop = _forward(ctx, combo)
            order = {v: k for k, v in enumerate(steps["variable"], start=1)}
            rows["selected"] = rows["variable"].map(lambda v: order.get(v))
            rows["_r"] = pd.to_numeric(rows["r2"], errors="coerce").fillna(-np.inf)
            rows["_o"] = rows["selected"].map(lambda v: v if v is not None and _finite(v) else 10**6)
            rows = rows.sort_values(["_o", "_r", "variable"], ascending=[True, False, True], kind="mergesort")
            table = _table(rows, _test_columns([_Col("Variable", lambda r: variable_label(r["variable"]), text=True)])
                           + [_Col("Selected", "selected", lambda x: _int(x) if _finite(x) else "")])
            scheme = _schemes(rows)
            if whole is not None:
                table += _caption(f"All variables together: R² {_f(whole.get('r2'))}, adjusted R² "
                                  f"{_f(whole.get('r2_adj_cum'))}, {_esc(_test_text(whole, with_scheme=False))}."
                                  + (f" Forward selection stopped: {_esc(stop)}." if stop else "")
                                  + (f" {_esc(scheme)}" if scheme else ""))
            elif scheme:
                table += _caption(_esc(scheme))
            if conditional is not None and not conditional.empty:
                cond = conditional[(conditional["profile"] == combo[0]) & (conditional["transformation"] == combo[1])]
                if not cond.empty:
                    table += ("<details><summary>Conditional tests (each variable given all the others)</summary>"
                              + _table(cond, _test_columns([_Col("Variable", lambda r: variable_label(r["variable"]),
                                                                 text=True)])) + "</details>")
            head = f"dbRDA marginal tests: {_esc(_combo_name(combo))}"
            if i == 0:
                parts.append(f"<h3>{head}</h3>{table}")
            else:
                parts.append(f"<details><summary>{head}</summary>{table}</details>")
    parts.append("<h3>Variation partitioning</h3>")
    if varpart is None:
        parts.append(_missing("Variation partitioning"))
    else:
        parts.append(_varpart(ctx, varpart))
    parts.append(_excluded(ctx))
    return "".join(parts)


def _excluded(ctx: _Context) -> str:
    """The shifts stage's ``excluded`` table: samples and variables left out of the statistics."""
    excluded = ctx.inputs.excluded
    if excluded is None or excluded.empty:
        return ""
    columns = [_Col("Left out", "item", _text, text=True)]
    if "kind" in excluded.columns:
        columns.append(_Col("Kind", "kind", _text, text=True))
    columns.append(_Col("Why", "reason", _text, text=True))
    return ("<h3>Left out of the statistics</h3>" + _table(excluded, columns, scroll=len(excluded) > 14)
            + _caption("Samples and environmental variables that the statistics above did not use, and why "
                       "(for example a sample absent from one profile, or a variable that is constant)."))


def _varpart(ctx: _Context, varpart: pd.DataFrame) -> str:
    varpart = varpart[varpart["kind"].isin(["unique", "shared", "residual"])]
    combos = _combos(ctx, varpart)
    unique = _ordered(varpart.loc[varpart["kind"] == "unique", "fraction"],
                      ("temperature", "environment", "space_time"))
    shared = sorted(set(varpart.loc[varpart["kind"] == "shared", "fraction"]), key=lambda f: (f.count("&"), f))
    fractions = unique + shared + (["residual"] if (varpart["kind"] == "residual").any() else [])
    labels = {}
    if "label" in varpart.columns:
        labels = {f: str(lab) for f, lab in zip(varpart["fraction"], varpart["label"]) if isinstance(lab, str) and lab}
    names = {f: labels.get(f, ("shared: " if f in shared else "") + _fraction_name(f)
                           + (" alone" if f in unique else "")) for f in fractions}
    value = {(r["profile"], r["transformation"], r["fraction"]): r for _, r in varpart.iterrows()}
    rows = []
    for f in fractions:
        row = {"fraction": names[f]}
        for combo in combos:
            r = value.get((combo[0], combo[1], f))
            text = "–"
            if r is not None:
                text = _pct(r["r2_adj"], 1)
                if "p_value" in r.index and _finite(r["p_value"]):
                    text += f" (p {_p(r['p_value'])}"
                    if _finite(r.get("p_holm")):
                        text += f", Holm {_p(r['p_holm'])}" + (" *" if _significant(r) else "")
                    text += ")"
                elif r.get("kind") == "unique" and "testable" in r.index and not _testable(r):
                    text += " (not testable under this design)"
            row[_combo_name(combo)] = text
        rows.append(row)
    table = _table(pd.DataFrame(rows), [_Col("Fraction (adjusted R²)", "fraction", text=True)]
                   + [_Col(_combo_name(c), _combo_name(c), text=False) for c in combos])
    if "p_value" in varpart.columns and pd.to_numeric(varpart["p_value"], errors="coerce").notna().any():
        table += _caption("Unique fractions are tested by permutation (p); \"Holm\" is the p-value adjusted with "
                          "Holm's method within each profile and dissimilarity (* = significant, ≤ 0.05). "
                          + _esc(_schemes(varpart)))
    plot = _Plot(ctx.config.dpi, 10.0, 1.6 + 0.42 * len(combos))
    ax = plot.axes[0]
    left = np.zeros(len(combos))
    shared_i = 0
    negative = False
    for f in fractions:
        widths = []
        for combo in combos:
            r = value.get((combo[0], combo[1], f))
            v = float(r["r2_adj"]) if r is not None and _finite(r["r2_adj"]) else 0.0
            negative |= v < 0
            widths.append(max(v, 0.0))
        if f == "residual":
            colour = "#e0e0e0"
        elif f in _FRACTION_COLOURS:
            colour = _FRACTION_COLOURS[f]
        elif f in shared:
            colour = _SHARED_COLOURS[shared_i % len(_SHARED_COLOURS)]
            shared_i += 1
        else:
            colour = _palette(len(unique))[unique.index(f)]
        ax.barh(range(len(combos)), widths, left=left, color=colour, edgecolor="white", linewidth=0.6,
                label=names[f])
        left += np.asarray(widths)
    ax.set_yticks(range(len(combos)), [_combo_name(c) for c in combos])
    ax.set_ylim(len(combos) - 0.5, -0.5)
    ax.set_xlabel("Share of community variation (adjusted R²)")
    ax.xaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ctx.add_image()
    note = " Negative adjusted fractions (chance level) are drawn as zero." if negative else ""
    figure = _figure(plot.png(), "Variation partitioning stacked bars",
                     "How community variation splits between temperature alone, the other environmental variables "
                     "alone, space and time (position and season) alone, the parts they share (collinear drivers, "
                     "which cannot be attributed to one of them), and what none of them explains. One bar per profile "
                     f"and dissimilarity.{_esc(note)}")
    return table + figure


def _mean_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    predictions = predictions.assign(observed=pd.to_numeric(predictions["observed"], errors="coerce"),
                                     predicted=pd.to_numeric(predictions["predicted"], errors="coerce"))
    return predictions.groupby(["target", "sample"], sort=True).agg(
        observed=("observed", "mean"), predicted=("predicted", "mean")).reset_index()


def _cv_columns(with_profile: bool = False, with_scheme: bool = False, with_role: bool = False) -> list[_Col]:
    columns = [_Col("Profile", lambda r: _profile_name(r["profile"]), text=True)] if with_profile else []
    if with_scheme:
        columns.append(_Col("CV scheme", lambda r: r.get("cv"), _text, text=True))
    if with_role:
        columns.append(_Col("Role", lambda r: "primary" if _truthy(r.get("primary"), False) else "sensitivity",
                            text=True))
    return columns + [
        _Col("Target", lambda r: variable_label(r["target"]), text=True),
        _Col("Model", lambda r: r["model"], text=True),
        _Col("Features", lambda r: _metric_name(r["transformation"]), text=True),
        _Col("CV R² (mean ± sd)", lambda r: _r2_pm(r["r2_mean"], r.get("r2_sd"))),
        _Col("min", "r2_min", _f), _Col("max", "r2_max", _f),
        _Col("Folds", _folds, str, text=True),
        _Col("p (permutation)", "p_perm", _p), _Col("p (Holm)", "p_holm", _p), _Col("q (BH)", "q_bh", _p)]


def _section_predictions(ctx: _Context) -> str:
    cv = ctx.tables.get("cv_metrics")
    predictions = ctx.tables.get("predictions")
    if cv is None and predictions is None:
        return _missing("Cross-validated predictions")
    parts = []
    profiles = _profiles_available(ctx, *(t["profile"] for t in (cv, predictions) if t is not None))
    primary = _primary(ctx, profiles)
    combo = _primary_combo(ctx, primary, ENV_FROM_COMMUNITY) if cv is not None else None
    if combo is None and predictions is not None and cv is None:
        mine = predictions[(predictions["profile"] == primary) & (predictions["direction"] == ENV_FROM_COMMUNITY)]
        if not mine.empty:
            combo = sorted(set(zip(mine["transformation"], mine["model"])))[0]
    if combo is None:
        parts.append(_missing(f"Prediction of the environment from {_profile_name(primary)}"))
    else:
        transformation, model = combo
        where = (f"{_profile_name(primary)}, {_metric_name(transformation)} features, {_model_name(model)}"
                 if transformation else f"{_profile_name(primary)}, {_model_name(model)}")
        rows = None
        if cv is not None:
            rows = cv[(cv["profile"] == primary) & (cv["direction"] == ENV_FROM_COMMUNITY)
                      & (cv["transformation"] == transformation) & (cv["model"] == model)]
            rows = rows.set_index("target")
        if predictions is not None:
            mine = predictions[(predictions["profile"] == primary) & (predictions["direction"] == ENV_FROM_COMMUNITY)
                               & (predictions["transformation"] == transformation) & (predictions["model"] == model)]
            if not mine.empty:
                n_repeats = mine["repeat"].nunique() if "repeat" in mine.columns else 1
                points = _mean_predictions(mine)
                targets = _targets(ctx, points["target"].unique())
                nrows, ncols = _grid(len(targets), 3)
                plot = _Plot(ctx.config.dpi, 10.0, 0.8 + 3.1 * nrows + 0.4, nrows, ncols)
                drawn: set = set()
                for ax, target in zip(plot.axes, targets):
                    sub = points[points["target"] == target].set_index("sample")
                    lo = float(np.nanmin(sub[["observed", "predicted"]].to_numpy()))
                    hi = float(np.nanmax(sub[["observed", "predicted"]].to_numpy()))
                    pad = 0.05 * (hi - lo if hi > lo else 1.0)
                    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linewidth=0.8, linestyle="--")
                    for key in ctx.series:
                        members = [x for x in ctx.order if x in sub.index and ctx.samples.at[x, "series"] == key]
                        if members:
                            ax.scatter(sub.loc[members, "observed"], sub.loc[members, "predicted"], s=22,
                                       color=ctx.colour[key], edgecolor="black", linewidth=0.3, zorder=3)
                            drawn.add(key)
                    others = [x for x in sub.index if x not in ctx.samples.index]
                    if others:
                        ax.scatter(sub.loc[others, "observed"], sub.loc[others, "predicted"], s=22, color="grey")
                    ax.set_xlim(lo - pad, hi + pad)
                    ax.set_ylim(lo - pad, hi + pad)
                    r = rows.loc[target] if rows is not None and target in rows.index else None
                    title = variable_label(target)
                    if r is not None:
                        title += f"\nCV R² {_r2_pm(r['r2_mean'], r.get('r2_sd'))}"
                        if _folds(r):
                            title += f"\n{_folds(r)}"
                    ax.set_title(title)
                    ax.set_xlabel("Observed")
                    ax.set_ylabel("Predicted (held out)")
                _hide_unused(plot, len(targets))
                _series_legend(plot, ctx, drawn)
                repeat = (f" Predictions are averaged over the {n_repeats} repeats of cross-validation."
                          if n_repeats > 1 else "")
                parts.append(_figure(plot.png(), "Observed versus predicted environmental variables",
                                     f"Observed value against the value predicted for each sample when it was held "
                                     f"out of fitting ({_esc(where)}: the primary model, fixed in the configuration "
                                     f"before the results were seen). Points on the dashed 1:1 line are perfect "
                                     f"predictions. The panel "
                                     f"title gives the grouped-CV R² (mean ± sd over repeats) and the folds it was "
                                     f"measured on.{_esc(repeat)}"))
                ctx.add_image()
        if rows is not None and not rows.empty:
            table = rows.reset_index()
            table = table.set_index("target").loc[_targets(ctx, table["target"])].reset_index()
            parts.append(f"<h3>Cross-validation (primary model): {_esc(where)}</h3>")
            parts.append(_table(table, _cv_columns()))
            group = ", ".join(sorted(set(map(str, table["group_by"].dropna())))) if "group_by" in table.columns else ""
            scheme = f"{_CV_NAMES.get(ctx.cv_scheme, ctx.cv_scheme)} cross-validation; " if ctx.cv_scheme else ""
            parts.append(_caption(
                _esc(scheme) + "CV R² is computed on held-out samples"
                + (f" (grouped by {_esc(group)})" if group else "")
                + "; 0 means no better than predicting the mean, negative means worse. The permutation p-value "
                  "compares it with models fitted to permuted targets (permutations respecting the design"
                + (f": {_esc(_schemes(table).removeprefix('Permutations: ').rstrip('.'))}" if _schemes(table) else "")
                + "); p (Holm) adjusts it with Holm's method within the targets of one profile and model, "
                  "q (BH) is the false-discovery rate over the whole run. "
                + " ".join(f"{_esc(_name(t))}: {_esc(_r2_folds(r))}."
                           for t, r in table.set_index("target").iterrows())))
    sensitivity = _sensitivity_cv(ctx, ENV_FROM_COMMUNITY)
    if sensitivity is not None and primary is not None:
        sensitivity = sensitivity[sensitivity["profile"] == primary]
    if sensitivity is not None and not sensitivity.empty:
        rank = {t: i for i, t in enumerate(_targets(ctx, sensitivity["target"]))}
        sensitivity = sensitivity.assign(_t=sensitivity["target"].map(rank)).sort_values(
            ["_t", "transformation", "model"], kind="mergesort")
        parts.append(f"<h3>Sensitivity: other models and feature transformations ({_esc(_profile_name(primary))})"
                     "</h3>")
        parts.append(_table(sensitivity, _cv_columns(), scroll=len(sensitivity) > 14))
        parts.append(_caption("The same targets under the models and transformations that are not the primary "
                              "choice. They show how much the result depends on that choice; they are not "
                              "alternatives to pick the best from (that would overstate the skill)."))
    every = ctx.tables.get("cv_metrics_all")
    if every is not None:
        every = every.copy()
        schemes = _ordered(every["cv"], _CV_ORDER) if "cv" in every.columns else [""]
        several = len(schemes) > 1
        if several:
            parts.append(_caption(
                "Figures and the table above use " + _esc(_CV_NAMES.get(schemes[0], schemes[0])) + " cross-validation. "
                "The full tables below also list " + _esc(", ".join(_CV_NAMES.get(x, x) for x in schemes[1:]))
                + "; leaving single samples out is optimistic, because neighbouring samples in space and time "
                  "are not independent."))
        every["_s"] = every["cv"].map({x: i for i, x in enumerate(schemes)}) if "cv" in every.columns else 0
        every["_p"] = every["profile"].map({p: i for i, p in enumerate(profiles)})
        every["_t"] = every["target"].map({t: i for i, t in enumerate(_targets(ctx, every["target"]))})
        for direction, title in ((ENV_FROM_COMMUNITY, "environment predicted from the community"),
                                 (COMMUNITY_FROM_ENV, "community axes and diversity predicted from the environment")):
            sub = every[every["direction"] == direction].sort_values(
                ["_p", "_t", "transformation", "model", "_s"], kind="mergesort")
            if sub.empty:
                continue
            table = _table(sub, _cv_columns(with_profile=True, with_scheme=several, with_role=True),
                           scroll=len(sub) > 14)
            parts.append(f"<details><summary>All cross-validation results: {_esc(title)} ({len(sub)} rows)"
                         f"</summary>{table}</details>")
    return "".join(parts)


def _section_importances(ctx: _Context) -> str:
    importances = ctx.tables.get("importances")
    if importances is None:
        return _missing("Permutation importances")
    cv = ctx.tables.get("cv_metrics")
    parts = []
    profiles = _profiles_available(ctx, importances["profile"])
    primary = _primary(ctx, profiles)
    n = ctx.config.n_top_features

    def pick(frame: pd.DataFrame, direction: str) -> dict[str, tuple[str, str]]:
        """Per target, the primary (transformation, model) when it has importances (never the
        best-scoring one), else the first that has."""
        out = {}
        for target in _targets(ctx, frame["target"].unique()):
            have = sorted(set(zip(*(frame.loc[frame["target"] == target, c] for c in ("transformation", "model")))))
            chosen = set()
            if cv is not None:
                sub = cv[(cv["profile"] == primary) & (cv["direction"] == direction) & (cv["target"] == target)
                         & cv["primary"]]
                chosen = set(zip(sub["transformation"], sub["model"]))
            out[target] = sorted(have, key=lambda k: (k not in chosen, k))[0]
        return out

    mine = importances[(importances["profile"] == primary) & (importances["direction"] == ENV_FROM_COMMUNITY)]
    if mine.empty:
        parts.append(_missing(f"Importances of {_profile_name(primary)} OTUs for the environment"))
    else:
        chosen = pick(mine, ENV_FROM_COMMUNITY)
        targets = list(chosen)
        nrows, ncols = _grid(len(targets), 3)
        plot = _Plot(ctx.config.dpi, 10.5, 0.5 + (0.55 + 0.22 * n) * nrows, nrows, ncols)
        for ax, target in zip(plot.axes, targets):
            transformation, model = chosen[target]
            sub = mine[(mine["target"] == target) & (mine["transformation"] == transformation)
                       & (mine["model"] == model)]
            sub = sub.assign(_v=pd.to_numeric(sub["importance_mean"], errors="coerce").fillna(-np.inf))
            sub = sub.sort_values(["_v", "feature"], ascending=[False, True], kind="mergesort").head(n)
            values = pd.to_numeric(sub["importance_mean"], errors="coerce").fillna(0).to_numpy()
            errors = (pd.to_numeric(sub["importance_sd"], errors="coerce").fillna(0).to_numpy()
                      if "importance_sd" in sub.columns else None)
            ax.barh(range(len(sub)), values, xerr=errors, color="#4393c3", ecolor="#555555", capsize=2)
            ax.set_yticks(range(len(sub)), sub["feature"], fontsize=7.5)
            ax.set_ylim(len(sub) - 0.5, -0.5)
            ax.axvline(0, color="black", linewidth=0.6)
            ax.grid(axis="y", visible=False)
            ax.set_title(f"{variable_label(target)} · {model}", fontsize=9.5)
            ax.set_xlabel("Importance (drop in R²)", fontsize=8.5)
        _hide_unused(plot, len(targets))
        parts.append(_figure(plot.png(), "Permutation importances per environmental variable",
                             f"For each environmental variable, the {n} features of {_esc(_profile_name(primary))} "
                             "whose shuffling hurts the held-out prediction most (mean drop in R² over repeats, bar = "
                             "± sd). These are the OTUs whose abundance carries the signal; importance is not "
                             "causation, and correlated OTUs share their importance."))
        ctx.add_image()
    env = importances[(importances["profile"] == primary) & (importances["direction"] == COMMUNITY_FROM_ENV)]
    if not env.empty:
        chosen = pick(env, COMMUNITY_FROM_ENV)
        rows = []
        for target, (transformation, model) in chosen.items():
            sub = env[(env["target"] == target) & (env["transformation"] == transformation) & (env["model"] == model)]
            sub = sub.assign(_v=pd.to_numeric(sub["importance_mean"], errors="coerce").fillna(-np.inf))
            sub = sub.sort_values(["_v", "feature"], ascending=[False, True], kind="mergesort").head(3)
            rows.append({"target": target, "model": model,
                         "top": "; ".join(f"{variable_label(f)} ({_f(v, 3)})"
                                          for f, v in zip(sub["feature"], sub["importance_mean"]))})
        parts.append("<h3>Drivers of community axes and diversity</h3>")
        parts.append(_table(pd.DataFrame(rows), [_Col("Community response", lambda r: variable_label(r["target"]),
                                                      text=True),
                                                 _Col("Model", "model", text=True),
                                                 _Col("Top 3 drivers (importance)", "top", text=True)]))
        parts.append(_caption("For the reverse direction (environment to community), the environmental variables "
                              "that matter most for predicting each community axis or diversity index."))
    return "".join(parts)


def _section_comparison(ctx: _Context) -> str:
    parts = []
    best = _primary_cv(ctx, ENV_FROM_COMMUNITY)
    parts.append(_paired_comparison(ctx))
    if best is None:
        parts.append(_missing("A CV comparison of profiles"))
    else:
        profiles = _profiles_available(ctx, best["profile"])
        targets = _targets(ctx, best["target"].unique())
        cell = {(r["profile"], r["target"]): r for _, r in best.iterrows()}
        plot = _Plot(ctx.config.dpi, min(max(6.0, 3.0 + 0.45 * len(targets) * len(profiles)), 11.0), 4.0)
        ax = plot.axes[0]
        width = 0.8 / len(profiles)
        colours = {"embedding": "#0b4f6c", "kmer": "#f4a261", "oracle": "#8d99ae"}
        fallback = _palette(len(profiles))
        def value(profile: str, target: str, column: str, default: float) -> float:
            row = cell.get((profile, target))
            return float(row[column]) if row is not None and column in row.index and _finite(row[column]) else default

        for i, profile in enumerate(profiles):
            values = [value(profile, t, "r2_mean", np.nan) for t in targets]
            errors = [value(profile, t, "r2_sd", 0.0) for t in targets]
            ax.bar(np.arange(len(targets)) + (i - (len(profiles) - 1) / 2) * width, values, width * 0.95,
                   yerr=errors, capsize=2, color=colours.get(profile, fallback[i]), label=_profile_name(profile),
                   ecolor="#333333")
        ax.axhline(0, color="black", linewidth=0.7)
        ax.set_xticks(range(len(targets)), [variable_label(t) for t in targets], rotation=20, ha="right")
        ax.set_ylabel(f"{_cv_label(ctx)} R² (primary model)")
        ax.grid(axis="x", visible=False)
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        parts.append(_figure(plot.png(), "CV R2 per environmental variable and profile",
                             "How well each community profile predicts each environmental variable from held-out "
                             "samples (the primary model and feature transformation of each profile; error bar = "
                             "sd over CV repeats). The transformer-based embedding OTUs earn their place only where "
                             "they beat the k-mer baseline"
                             + ("; the oracle (true taxa, simulated data only) is the ceiling." if "oracle" in profiles
                                else ".")))
        ctx.add_image()
        rows = []
        for t in targets:
            row = {"target": variable_label(t)}
            for profile in profiles:
                r = cell.get((profile, t))
                row[profile] = "–" if r is None else f"{_r2_folds(r)} ({r['model']})"
            rows.append(row)
        parts.append(_table(pd.DataFrame(rows), [_Col("Environmental variable", "target", text=True)]
                            + [_Col(f"{_profile_name(p)}: CV R² (primary model)", p) for p in profiles]))
    temp = _dbrda_temperature(ctx)
    temperature = _name(ctx.temperature).lower() if ctx.temperature else "temperature"
    parts.append(f"<h3>dbRDA: community variation explained by {_esc(temperature)}</h3>")
    if temp is None:
        parts.append(_missing("A dbRDA result for temperature"))
    else:
        profiles = _profiles_available(ctx, temp["profile"])
        metrics = _metric_order(ctx, temp["transformation"])
        rows = []
        for profile in profiles:
            row = {"profile": _profile_name(profile)}
            for metric in metrics:
                r = temp[(temp["profile"] == profile) & (temp["transformation"] == metric)]
                if r.empty:
                    row[metric] = "–"
                elif not _testable(r.iloc[0]):
                    row[metric] = f"{_f(r.iloc[0]['r2'])} (not testable under this design)"
                else:
                    row[metric] = (f"{_f(r.iloc[0]['r2'])} (p {_p(r.iloc[0].get('p_value'))}, Holm "
                                   f"{_p(r.iloc[0].get('p_holm'))}{' *' if _significant(r.iloc[0]) else ''})")
            rows.append(row)
        parts.append(_table(pd.DataFrame(rows), [_Col("Profile", "profile", text=True)]
                            + [_Col(f"R² {_metric_name(m)}", m) for m in metrics]))
        parts.append(_caption("Share of community dissimilarity explained by temperature alone, per profile and "
                              "dissimilarity (marginal dbRDA; permutation p-value and the same Holm-adjusted within "
                              "the variables of each profile and dissimilarity, * = significant at 0.05). A profile "
                              "that captures the community better shows a clearer temperature signal."))
    quality = ctx.inputs.encoder_quality
    parts.append("<h3>Encoder quality benchmark</h3>")
    if quality is None or quality.empty:
        parts.append(_missing("The encoder quality benchmark"))
    else:
        quality = quality.copy()
        quality["representation"] = quality["representation"].astype(str)
        rank = {"trained": 0, "untrained": 1, "tnf": 2}
        quality = quality.assign(_r=quality["representation"].map(lambda r: (rank.get(r.lower(), 9), r)))
        quality = quality.sort_values("_r", kind="mergesort")
        names = {"knn_accuracy": "kNN accuracy", "ari": "ARI"}
        numeric = [c for c in quality.columns if c not in ("representation", "_r")]
        parts.append(_table(quality, [_Col("Representation", "representation", text=True)]
                            + [_Col(names.get(c, c), c, lambda x: _f(x, 3) if _finite(x) else _text(x))
                               for c in numeric]))
        parts.append(_caption("How well read embeddings separate reads of different genomes: kNN accuracy (share of "
                              "reads whose nearest neighbours come from the same genome) and ARI (agreement of a "
                              "clustering with the true genomes; 0 = chance, 1 = perfect), for the trained encoder, "
                              "the same encoder untrained, and tetranucleotide frequencies (TNF)."))
    return "".join(parts)


def _direction_name(direction: str) -> str:
    return {ENV_FROM_COMMUNITY: "community → environment", COMMUNITY_FROM_ENV: "environment → community"}.get(
        direction, direction)


def _sorted_stats(ctx: _Context, table: pd.DataFrame, *extra: str) -> pd.DataFrame:
    """Rows by profile (primary first), dissimilarity, then ``extra`` columns."""
    profiles = _profiles_available(ctx, table["profile"])
    metrics = _metric_order(ctx, table["transformation"])
    table = table.assign(_p=table["profile"].map(profiles.index), _m=table["transformation"].map(metrics.index))
    if "variable" in extra:
        base = table["variable"].map(lambda v: re.sub(r"_lag\d+$", "", v))
        rank = {v: i for i, v in enumerate(_targets(ctx, base))}
        table = table.assign(_v=base.map(rank))
        extra = tuple("_v" if c == "variable" else c for c in extra) + ("variable",)
    return table.sort_values(["_p", "_m", *extra], kind="mergesort")


def _profile_metric_cols() -> list[_Col]:
    return [_Col("Profile", lambda r: _profile_name(r["profile"]), text=True),
            _Col("Dissimilarity", lambda r: _metric_name(r["transformation"]), text=True)]


def _section_season(ctx: _Context) -> str:
    baseline, season = ctx.tables.get("season_baseline"), ctx.tables.get("dbrda_season")
    if baseline is None and season is None:
        return _missing("The seasonal baseline")
    if (baseline is None or baseline.empty) and (season is None or season.empty):
        return (f'<p class="missing">{NO_SERIES} (no sampling dates, or too few for a seasonal cycle), so there is '
                "no seasonal baseline to compare with.</p>")
    parts = [_caption(
        "Much of what plankton communities and the environment share is the calendar: both follow the seasons. "
        "These results ask what is left beyond the seasonal cycle (harmonics of the day of year) and a linear "
        "trend.")]
    parts.append("<h3>Cross-validated R²: season alone, main predictors alone, both</h3>")
    if baseline is None or baseline.empty:
        parts.append(_missing("The cross-validated season baseline"))
    else:
        rank = {t: i for i, t in enumerate(_targets(ctx, baseline["target"]))}
        order = {d: i for i, d in enumerate((ENV_FROM_COMMUNITY, COMMUNITY_FROM_ENV))}
        profiles = _profiles_available(ctx, baseline["profile"])
        table = baseline.assign(_p=baseline["profile"].map(profiles.index),
                                _d=baseline["direction"].map(lambda d: order.get(d, 9)),
                                _t=baseline["target"].map(rank))
        table = table.sort_values(["_p", "_d", "_t", "transformation"], kind="mergesort")
        parts.append(_table(table, [
            _Col("Profile", lambda r: _profile_name(r["profile"]), text=True),
            _Col("Direction", lambda r: _direction_name(r["direction"]), text=True),
            _Col("Target", lambda r: variable_label(r["target"]), text=True),
            _model_column(),
            _Col("R² season + trend", "r2_season", _f), _Col("R² main alone", "r2_main", _f),
            _Col("R² both", "r2_both", _f),
            _Col("ΔR² (both − season) [95% interval]",
                 _delta_text, str),
            _Col("Main predictors", lambda r: _text(r.get("main_predictors")), text=True),
            _Col("Folds", _folds, str, text=True), _Col("Samples", "n_samples", _int)], scroll=len(table) > 14))
        parts.append(_caption(
            "Cross-validated R² (primary model, identical folds) of the season and trend alone, of the main "
            "predictors alone (the community for community → environment, the environment for environment → "
            "community) and of both together. <b>ΔR²</b> is what the main predictors add beyond the calendar; its "
            "95% interval is a bootstrap over the CV groups. An interval above 0 means the community (or the "
            "environment) predicts more than the season does."))
    parts.append("<h3>dbRDA: what each driver explains beyond the calendar</h3>")
    if season is None or season.empty:
        parts.append(_missing("dbRDA given the season"))
    else:
        table = _sorted_stats(ctx, season, "variable")
        parts.append(_table(table, _test_columns(_profile_metric_cols()
                                                 + [_Col("Variable", lambda r: variable_label(r["variable"]),
                                                         text=True)]), scroll=len(table) > 14))
        parts.append(_caption(
            "Each environmental variable tested given the seasonal harmonics and trend (partial dbRDA): its R² is "
            "the community variation it explains beyond the calendar. " + _P_CAPTION + " " + _esc(_schemes(table))))
    return "".join(parts)


def _series_name(row: pd.Series) -> str:
    station, depth = row.get("station"), row.get("depth_m")
    if isinstance(station, str) and station and station.lower() != "nan":
        return f"{station} · {float(depth):g} m" if _finite(depth) else station
    return _text(row.get("series"))


def _lagged_label(variable: str) -> str:
    """``temperature_c_lag2`` -> "Temperature (°C), lag 2"."""
    match = re.search(r"_lag(\d+)$", variable)
    return variable_label(variable[: match.start()]) + f", lag {match.group(1)}" if match else variable_label(variable)


def _section_timeseries(ctx: _Context) -> str:
    names = ("trends", "time_lag", "dbrda_anomalies", "dbrda_lagged")
    tables = {name: ctx.tables.get(name) for name in names}
    if all(t is None for t in tables.values()):
        if not ctx.dated:
            return f'<p class="missing">{NO_SERIES} ({NO_DATES}), so no trend or time-lag analysis was run.</p>'
        return _missing("Time-series results (trends, time-lag analysis, anomalies, lags)")
    if all(t is None or t.empty for t in tables.values()):
        return (f'<p class="missing">{NO_SERIES}: no trend, time-lag, anomaly or lagged analysis applied (for '
                "example a cross-sectional data set without sampling dates, or too few visits per series).</p>")
    parts = []
    trends = tables["trends"]
    parts.append("<h3>Trends: seasonal Mann-Kendall test per series</h3>")
    if trends is None or trends.empty:
        parts.append(_missing("A trend test"))
    else:
        tested = trends[trends["test"].str.lower() == "seasonal mann-kendall"]
        skipped = trends[trends["test"].str.lower() != "seasonal mann-kendall"]
        if tested.empty:
            parts.append('<p class="missing">No series was long enough for a seasonal Mann-Kendall test.</p>')
        else:
            rank = {t: i for i, t in enumerate(_targets(ctx, tested["variable"]))}
            profiles = _profiles_available(ctx, tested["profile"])
            tested = tested.assign(_p=tested["profile"].map(profiles.index), _v=tested["variable"].map(rank),
                                   _s=[_series_name(r) for _, r in tested.iterrows()])
            tested = tested.sort_values(["_p", "_v", "_s"], kind="mergesort")
            significant = int(sum(_significant(r) for _, r in tested.iterrows()))
            parts.append(_table(tested, [
                _Col("Profile", lambda r: _profile_name(r["profile"]), text=True),
                _Col("Variable", lambda r: variable_label(r["variable"]), text=True),
                _Col("Series", "_s", str, text=True), _Col("n", "n", _int), _Col("Years", "years", lambda x: _f(x, 1)),
                _Col("Trend", lambda r: _text(r.get("trend")), text=True), _Col("Kendall τ", "tau", _f),
                _Col("Sen's slope per year", "sen_slope_per_year", lambda x: _f(x, 3)),
                _Col("p", "p_value", _p), _Col("p (Holm)", _cell_holm, str), _Col("q (BH)", "q_bh", _p)],
                scroll=len(tested) > 14))
            parts.append(_caption(
                f"{len(tested)} series tested; {significant} with a significant monotonic trend after Holm's "
                "adjustment within each variable (p_holm ≤ 0.05, marked *). The seasonal Mann-Kendall test compares "
                "values of the same season across years, so the seasonal cycle itself is not mistaken for a trend; "
                "Sen's slope is the median change per year in the variable's unit."))
        if not skipped.empty:
            reasons = skipped["reason"].map(lambda x: str(x).strip() if isinstance(x, str) and x.strip()
                                            else "no reason recorded") if "reason" in skipped.columns else \
                pd.Series("no reason recorded", index=skipped.index)
            counts = reasons.value_counts()
            why = "; ".join(f"{reason} ({n})" for reason, n in sorted(counts.items(), key=lambda i: (-i[1], i[0])))
            parts.append(_caption(f"{len(skipped)} series were not applicable for the test: {_esc(why)}."))
    time_lag = tables["time_lag"]
    parts.append("<h3>Time-lag analysis: does the community drift or recur?</h3>")
    if time_lag is None or time_lag.empty:
        parts.append(_missing("The time-lag analysis"))
    else:
        table = _sorted_stats(ctx, time_lag)
        parts.append(_table(table, _profile_metric_cols() + [
            _Col("Slope (dissimilarity per √year)", "slope", lambda x: _f(x, 4)), _Col("R²", "r2", _f),
            _Col("Pairs", "n_pairs", _int), _Col("Recurrence", "recurrence", lambda x: _f(x, 3)),
            _Col("p slope", "slope_p_value", _p), _Col("p recurrence", "recurrence_p_value", _p),
            _Col("p (Holm)", "p_holm", _p), _Col("q (BH)", "q_bh", _p)]))
        parts.append(_caption(
            "Community dissimilarity between pairs of samples of the same series against the time between them. "
            "A positive slope means directional change (the community drifts away from where it was); a positive "
            "recurrence (dissimilarity at half-year lags minus that at whole-year lags) means it comes back with the "
            "seasons. p-values from permutations of sampling times; p (Holm) is adjusted within each profile. "
            + _esc(_schemes(table))))
    for name, title, text in (
            ("dbrda_anomalies", "dbRDA on de-seasoned anomalies",
             "The same marginal tests on anomalies: every series (station × depth) minus its own seasonal "
             "climatology, so a variable explains the community here only through departures from the usual "
             "season."),
            ("dbrda_lagged", "dbRDA with lagged environment",
             "The environment of the previous visit(s) (lag k = k visits earlier in the same series) tested against "
             "the present community: a delayed response shows as a lagged variable that explains more than the "
             "present one.")):
        table = tables[name]
        parts.append(f"<h3>{_esc(title)}</h3>")
        if table is None or table.empty:
            parts.append(_missing(title))
            continue
        extra = ["lag"] if "lag" in table.columns else []
        table = _sorted_stats(ctx, table.assign(lag=pd.to_numeric(table["lag"], errors="coerce")) if extra else table,
                              *extra, "variable")
        columns = _profile_metric_cols() + ([_Col("Lag", "lag", _int)] if extra else []) + [
            _Col("Variable", lambda r: _lagged_label(r["variable"]), text=True)]
        parts.append(_table(table, _test_columns(columns), scroll=len(table) > 14))
        parts.append(_caption(_esc(text) + " " + _P_CAPTION + " " + _esc(_schemes(table))))
    return "".join(parts)


def _paired_comparison(ctx: _Context) -> str:
    """The shifts stage's paired Delta R2 between profiles (identical folds, bootstrap interval)."""
    table = ctx.tables.get("profile_comparison")
    parts = ["<h3>Paired comparison of profiles (ΔR² on identical folds)</h3>"]
    if table is None:
        return "".join(parts) + _missing("A paired comparison of profiles")
    if table.empty:
        return "".join(parts) + '<p class="missing">No paired comparison was possible (fewer than two profiles ' \
                                'scored on the same samples).</p>'
    rank = {t: i for i, t in enumerate(_targets(ctx, table["target"]))}
    order = {d: i for i, d in enumerate((ENV_FROM_COMMUNITY, COMMUNITY_FROM_ENV))}
    table = table.assign(_d=table["direction"].map(lambda d: order.get(d, 9)), _t=table["target"].map(rank))
    table = table.sort_values(["_d", "_t", "profile_a", "profile_b", "transformation", "model"], kind="mergesort")

    def verdict(r: pd.Series) -> str:
        if not (_finite(r.get("delta_low")) and _finite(r.get("delta_high"))):
            return "–"
        if float(r["delta_low"]) > 0:
            return f"{_profile_name(r['profile_a'])} better"
        if float(r["delta_high"]) < 0:
            return f"{_profile_name(r['profile_b'])} better"
        return "no clear difference"

    parts.append(_table(table, [
        _Col("Direction", lambda r: "community → environment" if r["direction"] == ENV_FROM_COMMUNITY
             else "environment → community", text=True),
        _Col("Target", lambda r: variable_label(r["target"]), text=True),
        _Col("Profile A", lambda r: _profile_name(r["profile_a"]), text=True),
        _Col("Profile B", lambda r: _profile_name(r["profile_b"]), text=True),
        _model_column(),
        _Col("R² A", "r2_a", _f), _Col("R² B", "r2_b", _f),
        _Col("ΔR² (A − B) [95% interval]",
             _delta_text, str),
        _Col("Verdict", verdict, str, text=True),
        _Col("Samples", "n_samples", _int), _Col("CV groups", "n_groups", _int)], scroll=len(table) > 14))
    parts.append(_caption("Both profiles are scored with the primary model on the same folds, so the difference "
                          "in CV R² is paired; the 95% interval is a bootstrap over the CV groups. A profile is "
                          "called better only when the whole interval lies on its side of 0."))
    return "".join(parts)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        out = []
        for key in sorted(value, key=str):
            out += _flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            return [(prefix, ", ".join(map(str, value)))]
        out = []
        for i, v in enumerate(value):
            out += _flatten(v, f"{prefix}[{i}]")
        return out
    return [(prefix, _text(value))]


def _section_provenance(ctx: _Context) -> str:
    provenance = dict(ctx.inputs.provenance or {})
    info = ctx.inputs.model_info or {}
    if "model_sha256" not in provenance and info.get("sha256"):
        provenance["model_sha256"] = info["sha256"]
    rows = _flatten(provenance)
    rows.append(("report.planktonlm_version", __version__))
    parts = []
    if not ctx.inputs.provenance:
        parts.append(_missing("Run provenance (config and input checksums, package versions)"))
    parts.append(_table(pd.DataFrame(rows, columns=["key", "value"]),
                        [_Col("Item", "key", text=True), _Col("Value", lambda r: r["value"], text=True)],
                        scroll=len(rows) > 30))
    parts.append(_caption("Checksums (SHA-256) of the configuration, the model and every input, the seed and the "
                          "software versions: the same values reproduce every number in this report."))
    return "".join(parts)


_SECTIONS: dict[str, Callable[[_Context], str]] = {
    "overview": _section_overview, "cruise": _section_cruise, "environment": _section_environment,
    "read-accounting": _section_reads, "training": _section_training, "diversity": _section_diversity,
    "ordination": _section_ordination, "otus": _section_otus, "dbrda": _section_dbrda,
    "predictions": _section_predictions, "importances": _section_importances,
    "season": _section_season, "timeseries": _section_timeseries, "comparison": _section_comparison,
    "provenance": _section_provenance,
}


def render_report(inputs: ReportInputs, config: ReportConfig | None = None) -> str:
    """The whole report as one self-contained HTML string (same inputs -> same bytes)."""
    config = config or ReportConfig()
    ctx = _build_context(inputs, config)
    bodies = {}
    with matplotlib.rc_context(_STYLE):
        for section_id in SECTION_IDS:
            before = ctx.n_images
            bodies[section_id] = _SECTIONS[section_id](ctx)
            logger.info("report: section %s (%d figures)", section_id, ctx.n_images - before)
    title = _esc(inputs.title or "planktonlm report")
    cruises = sorted(set(ctx.samples["cruise"])) if "cruise" in ctx.samples.columns else []
    subtitle = (f"{', '.join(cruises) + ' · ' if cruises else ''}{len(ctx.samples)} samples · "
                f"planktonlm {__version__}")
    nav = "".join(f'<a href="#{sid}">{_esc(SECTION_TITLES[sid])}</a>' for sid in SECTION_IDS)
    sections = "\n".join(f'<section id="{sid}"><h2>{i}. {_esc(SECTION_TITLES[sid])}</h2>\n{bodies[sid]}\n</section>'
                         for i, sid in enumerate(SECTION_IDS, start=1))
    logger.info("report: %d figures", ctx.n_images)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, '
        f'initial-scale=1"><title>{title}</title><style>{_CSS}</style></head>\n'
        f"<body><header><h1>{title}</h1><p>{_esc(subtitle)}</p></header>\n"
        f"<nav>{nav}</nav>\n<main>\n{sections}\n</main>\n"
        f"<footer>Generated by planktonlm {_esc(__version__)}. This file is self-contained: it can be "
        f"e-mailed or archived as is.</footer></body></html>\n"
    )


def write_report(inputs: ReportInputs, out_html: str | os.PathLike, config: ReportConfig | None = None) -> Path:
    """Render and write the report atomically; returns the path."""
    text = render_report(inputs, config)
    out = Path(out_html)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    logger.info("report: wrote %s (%.1f kB)", out, len(text.encode("utf-8")) / 1024)
    return out


# ----------------------------------------------------------------------------------------------
# loading stage outputs

_TABLE_KEYS = ("read_accounting", "train_log", "dbrda_marginal", "dbrda_forward", "varpart", "cv_metrics",
               "predictions", "importances", "encoder_quality", "excluded", "dbrda_conditional", "dbrda_season",
               "dbrda_anomalies", "dbrda_lagged", "season_baseline", "profile_comparison", "trends", "time_lag")
_ID_COLUMNS = {c: str for c in ("sample", "cruise", "station", "profile", "transformation", "direction", "target",
                                "model", "variable", "feature", "fraction", "kind", "label", "representation",
                                "metric", "group_by", "groups", "item", "reason", "cv", "folds", "permutation",
                                "profile_a", "profile_b", "series", "test", "trend", "main_predictors", "stop_reason")}


def _read_table(path: str | os.PathLike, *, index: bool = False) -> pd.DataFrame:
    path = Path(path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        if index and "sample" not in frame.columns and frame.index.name != "sample":
            frame.index.name = "sample"
    else:
        try:
            frame = pd.read_csv(path, sep="\t", dtype=_ID_COLUMNS, na_values=["NA", ""], keep_default_na=True)
        except pd.errors.EmptyDataError as err:
            if index:
                raise PlanktonlmInputError(InputProblem(file=str(path), message=f"cannot read table: {err}",
                                                        expected="a tab-separated table with a header")) from err
            return pd.DataFrame()  # a table with no rows and not even a header: nothing to show
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise PlanktonlmInputError(InputProblem(file=str(path), message=f"cannot read table: {err}",
                                                    expected="a tab-separated table with a header")) from err
        if index:
            first = frame.columns[0]
            frame[first] = frame[first].astype(str)
            frame = frame.set_index(first)
            frame.index.name = "sample"
    return frame


def _exists(path: Any, key: str) -> bool:
    if path is None or path == "":
        return False
    if not Path(path).exists():
        logger.warning("report: %s input %s does not exist; its section will say 'not available'", key, path)
        return False
    return True


def _named_paths(value: Any) -> dict[str, Any]:
    """A dict name -> path, or a list of paths named by their file stem."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (str, os.PathLike)):
        value = [value]
    return {Path(p).name.split(".")[0]: p for p in value}


def _read_json(value: Any, key: str) -> dict | None:
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    if not _exists(value, key):
        return None
    try:
        return json.loads(Path(value).read_text())
    except json.JSONDecodeError as err:
        raise PlanktonlmInputError(InputProblem(file=str(value), message=f"invalid JSON: {err}",
                                                expected="a JSON object")) from err


def load_report_inputs(paths: Mapping[str, Any]) -> ReportInputs:
    """Read the report's inputs from a dict of named paths (absent optional files -> None).

    Keys: ``samples`` (required, TSV, first column sample); tables ``read_accounting``,
    ``train_log``, ``dbrda_marginal``, ``dbrda_forward``, ``varpart``, ``cv_metrics``,
    ``predictions``, ``importances``, ``encoder_quality``, ``excluded`` and the shifts stage's
    ``dbrda_conditional``, ``dbrda_season``, ``dbrda_anomalies``, ``dbrda_lagged``,
    ``season_baseline``, ``profile_comparison``, ``trends``, ``time_lag`` (TSV or .parquet; any
    may be absent, as in older result folders, or empty); JSON
    ``model_info`` and ``provenance`` (or dicts); ``profiles`` and ``alpha`` (dict name -> path,
    or a list of paths named by file stem; first column = sample); ``pcoa`` (dict
    "profile/metric" or (profile, metric) -> path of a table indexed by sample, or one long
    table with columns profile, metric, sample, PCo1...); ``pcoa_explained`` (TSV: profile,
    metric, axis, explained_ratio); literals ``env_columns`` (list) and ``title`` (str).
    """
    unknown = set(paths) - set(_TABLE_KEYS) - {"samples", "model_info", "provenance", "profiles", "alpha", "pcoa",
                                              "pcoa_explained", "env_columns", "title"}
    if unknown:
        raise PlanktonlmInputError([InputProblem(file="report inputs", column=k, message="unknown input name",
                                                 expected="one of the names in load_report_inputs' docstring")
                                    for k in sorted(unknown)])
    if not paths.get("samples") or not Path(paths["samples"]).exists():
        raise PlanktonlmInputError(InputProblem(file=str(paths.get("samples")), message="samples table not found",
                                                expected="the path of samples.tsv"))
    samples = _read_table(paths["samples"], index=True)
    tables = {key: _read_table(paths[key]) for key in _TABLE_KEYS if _exists(paths.get(key), key)}
    profiles = {name: _read_table(p, index=True) for name, p in sorted(_named_paths(paths.get("profiles")).items())
                if _exists(p, f"profiles[{name}]")}
    alpha = {name: _read_table(p, index=True) for name, p in sorted(_named_paths(paths.get("alpha")).items())
             if _exists(p, f"alpha[{name}]")}
    pcoa: dict[tuple[str, str], pd.DataFrame] = {}
    source = paths.get("pcoa")
    if isinstance(source, Mapping):
        for key, p in source.items():
            pair = tuple(key) if isinstance(key, tuple) else tuple(str(key).split("/", 1))
            if len(pair) == 2 and _exists(p, f"pcoa[{key}]"):
                pcoa[(str(pair[0]), str(pair[1]))] = _read_table(p, index=True)
    elif _exists(source, "pcoa"):
        long = _read_table(source)
        for (profile, metric), part in long.groupby(["profile", "metric"], sort=True):
            pcoa[(profile, metric)] = part.drop(columns=["profile", "metric"]).set_index("sample")
    explained = None
    if _exists(paths.get("pcoa_explained"), "pcoa_explained"):
        table = _read_table(paths["pcoa_explained"])
        explained = {}
        for (profile, metric), part in table.groupby(["profile", "metric"], sort=True):
            axis = part["axis"].astype(str).str.extract(r"(\d+)$", expand=False).astype(float)
            explained[(profile, metric)] = [float(v) for v in part.assign(_a=axis).sort_values("_a")["explained_ratio"]]
    return ReportInputs(
        samples=samples,
        env_columns=list(paths["env_columns"]) if paths.get("env_columns") is not None else None,
        model_info=_read_json(paths.get("model_info"), "model_info"),
        provenance=_read_json(paths.get("provenance"), "provenance"),
        profiles=profiles or None, alpha=alpha or None, pcoa=pcoa or None, pcoa_explained=explained,
        title=str(paths.get("title") or "planktonlm report"),
        **{key: tables.get(key) for key in _TABLE_KEYS},
    )


# --------------------------------------------------------------------------------------------
# stage entry: the workflow's result files -> results/report.html


def _per_profile_long(paths: Mapping[str, str]) -> pd.DataFrame | None:
    """Stack per-profile tables (results/ecology/{profile}/x.tsv) with a ``profile`` column."""
    parts = [pd.read_csv(p, sep="\t").assign(profile=name) for name, p in sorted(paths.items()) if Path(p).exists()]
    return pd.concat(parts, ignore_index=True) if parts else None


def _group_by_prefix(named: Mapping[str, str], prefix: str) -> dict[str, str]:
    """{profile: path} from inputs named ``<prefix><profile>`` (e.g. alpha_embedding)."""
    return {k[len(prefix):]: str(v) for k, v in named.items() if k.startswith(prefix)}


def report_stage(named_inputs: Mapping[str, str], out_html: str, cfg: ReportConfig, seed: int | None = None,
                 checkpoint: str = "") -> Path:
    """Build the report from the cube (samples, environment, profiles, provenance) and stage tables.

    ``named_inputs``: ``cube``; the table keys of ``load_report_inputs`` (read_accounting,
    train_log, dbrda_marginal, ...); and per-profile ecology tables named ``alpha_<profile>``,
    ``pcoa_<profile>``, ``pcoa_axes_<profile>``. Absent optional inputs leave their section
    saying so. ``checkpoint``: config model.checkpoint ("" = the model was trained here).
    """
    from planktonlm.cube import environment_table, profile_names, profile_table, read_cube, sample_metadata

    cube = read_cube(named_inputs["cube"])
    samples = sample_metadata(cube).join(environment_table(cube))
    samples["datetime"] = samples["datetime"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    tables = {k: str(v) for k, v in named_inputs.items() if k in _TABLE_KEYS}
    pcoa_axes = _group_by_prefix(named_inputs, "pcoa_axes_")
    pcoa = {k: v for k, v in _group_by_prefix(named_inputs, "pcoa_").items() if not k.startswith("axes_")}
    with tempfile.TemporaryDirectory() as tmp:
        staged: dict[str, Path] = {"samples": Path(tmp) / "samples.tsv"}
        samples.rename_axis("sample").reset_index().to_csv(staged["samples"], sep="\t", index=False)
        for name, table in (("pcoa", _per_profile_long(pcoa)), ("pcoa_explained", _per_profile_long(pcoa_axes))):
            if table is not None:
                staged[name] = Path(tmp) / f"{name}.tsv"
                table.to_csv(staged[name], sep="\t", index=False)
        inputs = load_report_inputs({**tables, **staged, "alpha": _group_by_prefix(named_inputs, "alpha_")})
    attrs = cube.attrs
    model_sha = str(attrs.get("model_sha256", ""))
    inputs.profiles = {name: profile_table(cube, name) for name in profile_names(cube)}
    inputs.env_columns = list(environment_table(cube).columns)
    inputs.model_info = {"reused": bool(checkpoint), "checkpoint": checkpoint, "sha256": model_sha} if model_sha else None
    inputs.provenance = {
        "planktonlm": str(attrs.get("created_by", "")),
        "seed": seed,
        "config_sha256": str(attrs.get("config_sha256", "")),
        "model_sha256": model_sha,
        "input_sha256": json.loads(attrs.get("input_sha256", "{}")),
        "package_versions": json.loads(attrs.get("package_versions", "{}")),
    }
    return write_report(inputs, out_html, cfg)
