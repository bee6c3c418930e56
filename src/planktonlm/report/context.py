"""The report's context: the inputs checked and normalised once, for every section.

:func:`build_context` checks the tables (every problem reported at once), parses the sampling
dates (a missing date is allowed, a bad one is not), orders the samples, gives each station x
depth series its colour, and normalises the statistics tables (keys as text, Holm's adjustment
for older result folders, the primary model, one cross-validation scheme for the views).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.report.colours import palette
from planktonlm.report.format import CV_ORDER, METRIC_ORDER, finite, ordered, truthy
from planktonlm.report.inputs import ReportConfig, ReportInputs
from planktonlm.stats.multitest import FAMILIES, holm_table
from planktonlm.vocab import NON_ENV_COLUMNS

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """What every section reads: the config, the samples in display order, series colours, tables."""

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
    tables: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    cv_scheme: str | None = None
    dated: list[str] = field(default_factory=list)  # ``order`` restricted to samples with a date


def indexed(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy indexed by sample id (text)."""
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


#: the statistics tables and the columns each needs
STAT_TABLES: dict[str, tuple[str, ...]] = dict(
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
_TEXT_COLUMNS = ("profile", "transformation", "direction", "target", "model", "variable", "feature", "fraction",
                 "sample", "cv", "profile_a", "profile_b", "series", "station", "test", "trend")


def _normalise_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    if "transformation" not in frame.columns:
        frame["transformation"] = ""
    for column in _TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype(str)
    if "pseudo_f" not in frame.columns and "F" in frame.columns:
        frame["pseudo_f"] = frame["F"]
    if "testable" in frame.columns:
        frame["testable"] = frame["testable"].map(lambda v: truthy(v, True))
    # Older result folders have no p_holm: adjust as the shifts stage does.
    if name in FAMILIES and "p_holm" not in frame.columns and {FAMILIES[name][0], *FAMILIES[name][1]} <= set(frame.columns):
        frame[FAMILIES[name][0]] = pd.to_numeric(frame[FAMILIES[name][0]], errors="coerce")
        frame["p_holm"] = holm_table(name, frame)
    if name == "cv_metrics":
        frame["primary"] = (frame["primary"].map(lambda v: truthy(v, False)) if "primary" in frame.columns
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
    return frame


def _normalise_stats(inputs: ReportInputs,
                     problems: list[InputProblem]) -> tuple[dict[str, pd.DataFrame | None], str | None]:
    """Copies of the statistics tables with keys as text, and the CV scheme that the figures
    show. Optional tables that were given empty stay empty frames (so a section can tell "not
    run" from "nothing to show")."""
    out: dict[str, pd.DataFrame | None] = {}
    for name, needed in STAT_TABLES.items():
        frame = getattr(inputs, name)
        if frame is None:
            out[name] = None
            continue
        if isinstance(frame, pd.DataFrame) and frame.empty:
            out[name] = frame.copy() if name in _OPTIONAL_STATS else None
            continue
        _require(frame, name, needed, problems)
        out[name] = _normalise_table(name, frame) if isinstance(frame, pd.DataFrame) else None
    # Models may be scored under several CV schemes (column ``cv``): every view shows one
    # scheme, grouped CV when there is one (the honest estimate); the full table shows all.
    out["cv_metrics_all"] = out["cv_metrics"]
    cv_tables = ("cv_metrics", "predictions", "importances", "season_baseline", "profile_comparison")
    schemes = ordered({v for k in cv_tables if out[k] is not None and "cv" in out[k].columns for v in out[k]["cv"]},
                      CV_ORDER)
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
                        key=lambda k: (METRIC_ORDER.index(k[0]) if k[0] in METRIC_ORDER else len(METRIC_ORDER),
                                       models.index(k[1]) if k[1] in models else len(models), k))
        first = combos[0]
        primary.loc[part.index] = (part["transformation"] == first[0]) & (part["model"] == first[1])
    return primary


def _check(inputs: ReportInputs, problems: list[InputProblem]) -> None:
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


def _indexed_samples(inputs: ReportInputs, problems: list[InputProblem]) -> pd.DataFrame:
    samples = indexed(inputs.samples)
    for sample in sorted(set(samples.index[samples.index.duplicated()])):
        problems.append(InputProblem(file="samples", column="sample", value=sample, message="duplicate sample id",
                                     expected="one row per sample"))
    return samples


def _parse_times(samples: pd.DataFrame, problems: list[InputProblem]) -> pd.Series:
    # Published tables (e.g. Tara Oceans) have no sampling dates: a missing date is allowed,
    # only a value that is there and does not parse is an error.
    raw = samples["datetime"]
    given = ~raw.map(is_missing_date).to_numpy(dtype=bool)
    times = pd.to_datetime(raw.where(given, None), utc=True, errors="coerce", format="ISO8601")
    for row, (sample, value, present) in enumerate(zip(samples.index, times, given), start=1):
        if present and pd.isna(value):
            problems.append(InputProblem(file="samples", row=row, column="datetime", value=raw.iloc[row - 1],
                                         message=f"unparsable date for sample {sample}", expected="ISO 8601"))
    return times


def build_context(inputs: ReportInputs, config: ReportConfig) -> Context:
    """Check and normalise ``inputs``; every problem found is raised at once."""
    problems: list[InputProblem] = []
    _check(inputs, problems)
    tables, cv_scheme = _normalise_stats(inputs, problems)
    samples = _indexed_samples(inputs, problems)
    times = _parse_times(samples, problems) if not problems else None
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
        env_columns = [c for c in samples.columns if c not in NON_ENV_COLUMNS and c != "time"
                       and pd.to_numeric(samples[c], errors="coerce").notna().any()]
    for column in env_columns:
        samples[column] = pd.to_numeric(samples[column], errors="coerce")
    # NaN != NaN would split one series in two: an unknown depth is None in the key.
    samples["series"] = [(station, float(depth) if finite(depth) else None)
                         for station, depth in zip(samples["station"], samples["depth_m"])]
    # Undated samples after the dated ones (NaT does not compare), then by station and depth.
    order = sorted(samples.index, key=lambda s: (_time_key(samples.at[s, "time"]),
                                                  natural_key(samples.at[s, "station"]),
                                                  depth_key(samples.at[s, "depth_m"]), s))
    dated = [s for s in order if not pd.isna(samples.at[s, "time"])]
    series = sorted(set(samples["series"]), key=lambda k: (k[0], depth_key(k[1])))
    station_colour, colour = _series_colours(sorted(set(samples["station"])), series)
    label = {k: (f"{k[0]} · {k[1]:g} m" if finite(k[1]) else k[0]) for k in series}
    temperature = config.temperature_variable if config.temperature_variable in samples.columns else \
        next((c for c in env_columns if c.lower().startswith("temp")), None)
    return Context(config=config, samples=samples, order=order, env_columns=env_columns, series=series,
                   colour=colour, label=label, station_colour=station_colour, temperature=temperature,
                   inputs=inputs, tables=tables, cv_scheme=cv_scheme, dated=dated)


_MISSING_DATE_TEXT = frozenset({"", "nan", "nat", "na", "none", "null"})


def is_missing_date(value: Any) -> bool:
    """True for an absent date (None, NaN, NaT, empty or 'NA'-like text), not for a bad one."""
    if isinstance(value, str):
        return value.strip().lower() in _MISSING_DATE_TEXT
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _time_key(time: Any) -> tuple:
    return (0, pd.Timestamp(time).value) if not pd.isna(time) else (1, 0)


def natural_key(text: str) -> tuple:
    """"S4" before "S10": digit runs compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", str(text)) if part)


def depth_key(depth: Any) -> tuple:
    return (0, float(depth)) if finite(depth) else (1, 0.0)


def _series_colours(stations: list[str], series: list[tuple]) -> tuple[dict, dict]:
    """One hue per station, shaded by depth (lighter = shallower, the same depth the same shade),
    so that station and depth both read off a line's colour. Beyond 10 stations hues would
    repeat: every station x depth then gets its own colour instead."""
    if len(stations) > 10:
        return dict(zip(stations, palette(len(stations)))), dict(zip(series, palette(len(series))))
    base = dict(zip(stations, matplotlib.colormaps["tab10"].colors))
    depths = sorted({d for _, d in series}, key=depth_key)
    colours = {}
    for station, depth in series:
        rgb = np.asarray(base[station][:3])
        t = depths.index(depth) / (len(depths) - 1) if len(depths) > 1 else 0.5
        # t = 0: mixed 45% with white; t = 1: mixed 40% with black.
        shade = rgb + (1 - rgb) * 0.45 * (1 - 2 * t) if t < 0.5 else rgb * (1 - 0.4 * (2 * t - 1))
        colours[(station, depth)] = tuple(float(x) for x in np.clip(shade, 0, 1)) + (1.0,)
    return base, colours
