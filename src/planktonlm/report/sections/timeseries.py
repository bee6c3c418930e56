"""Section "timeseries": trends per series, the time-lag analysis, dbRDA on anomalies and lags."""

from __future__ import annotations

import re

import pandas as pd

from planktonlm.report.context import Context
from planktonlm.report.format import (
    NO_DATES,
    NO_SERIES,
    Col,
    caption,
    cell_holm,
    esc,
    finite,
    fixed,
    h3,
    integer,
    missing,
    note,
    p_text,
    profile_name,
    significant,
    table,
    text,
)
from planktonlm.report.selection import (
    P_CAPTION,
    dbrda_columns,
    profile_metric_cols,
    profiles_available,
    schemes,
    sorted_stats,
    targets,
)
from planktonlm.vocab import variable_label

_TABLES = ("trends", "time_lag", "dbrda_anomalies", "dbrda_lagged")
_SMK = "seasonal mann-kendall"


def series_name(row: pd.Series) -> str:
    station, depth = row.get("station"), row.get("depth_m")
    if isinstance(station, str) and station and station.lower() != "nan":
        return f"{station} · {float(depth):g} m" if finite(depth) else station
    return text(row.get("series"))


def lagged_label(variable: str) -> str:
    """``temperature_c_lag2`` -> "Temperature (°C), lag 2"."""
    match = re.search(r"_lag(\d+)$", variable)
    return variable_label(variable[: match.start()]) + f", lag {match.group(1)}" if match else variable_label(variable)


def _trend_blocks(ctx: Context, trends: pd.DataFrame | None) -> list[dict]:
    blocks = [h3("Trends: seasonal Mann-Kendall test per series")]
    if trends is None or trends.empty:
        return blocks + [missing("A trend test")]
    tested = trends[trends["test"].str.lower() == _SMK]
    skipped = trends[trends["test"].str.lower() != _SMK]
    if tested.empty:
        blocks.append(note("No series was long enough for a seasonal Mann-Kendall test."))
    else:
        rank = {t: i for i, t in enumerate(targets(ctx, tested["variable"]))}
        profiles = profiles_available(ctx, tested["profile"])
        tested = tested.assign(_p=tested["profile"].map(profiles.index), _v=tested["variable"].map(rank),
                               _s=[series_name(r) for _, r in tested.iterrows()])
        tested = tested.sort_values(["_p", "_v", "_s"], kind="mergesort")
        n_significant = int(sum(significant(r) for _, r in tested.iterrows()))
        blocks.append(table(tested, [
            Col("Profile", lambda r: profile_name(r["profile"]), text=True),
            Col("Variable", lambda r: variable_label(r["variable"]), text=True),
            Col("Series", "_s", str, text=True), Col("n", "n", integer), Col("Years", "years", lambda x: fixed(x, 1)),
            Col("Trend", lambda r: text(r.get("trend")), text=True), Col("Kendall τ", "tau", fixed),
            Col("Sen's slope per year", "sen_slope_per_year", lambda x: fixed(x, 3)),
            Col("p", "p_value", p_text), Col("p (Holm)", cell_holm, str), Col("q (BH)", "q_bh", p_text)],
            scroll=len(tested) > 14))
        blocks.append(caption(
            f"{len(tested)} series tested; {n_significant} with a significant monotonic trend after Holm's "
            "adjustment within each variable (p_holm ≤ 0.05, marked *). The seasonal Mann-Kendall test compares "
            "values of the same season across years, so the seasonal cycle itself is not mistaken for a trend; "
            "Sen's slope is the median change per year in the variable's unit."))
    if not skipped.empty:
        reasons = skipped["reason"].map(lambda x: str(x).strip() if isinstance(x, str) and x.strip()
                                        else "no reason recorded") if "reason" in skipped.columns else \
            pd.Series("no reason recorded", index=skipped.index)
        counts = reasons.value_counts()
        why = "; ".join(f"{reason} ({n})" for reason, n in sorted(counts.items(), key=lambda i: (-i[1], i[0])))
        blocks.append(caption(f"{len(skipped)} series were not applicable for the test: {esc(why)}."))
    return blocks


def _time_lag_blocks(ctx: Context, time_lag: pd.DataFrame | None) -> list[dict]:
    blocks = [h3("Time-lag analysis: does the community drift or recur?")]
    if time_lag is None or time_lag.empty:
        return blocks + [missing("The time-lag analysis")]
    rows = sorted_stats(ctx, time_lag)
    return blocks + [
        table(rows, profile_metric_cols() + [
            Col("Slope (dissimilarity per √year)", "slope", lambda x: fixed(x, 4)), Col("R²", "r2", fixed),
            Col("Pairs", "n_pairs", integer), Col("Recurrence", "recurrence", lambda x: fixed(x, 3)),
            Col("p slope", "slope_p_value", p_text), Col("p recurrence", "recurrence_p_value", p_text),
            Col("p (Holm)", "p_holm", p_text), Col("q (BH)", "q_bh", p_text)]),
        caption("Community dissimilarity between pairs of samples of the same series against the time between "
                "them. A positive slope means directional change (the community drifts away from where it was); a "
                "positive recurrence (dissimilarity at half-year lags minus that at whole-year lags) means it comes "
                "back with the seasons. p-values from permutations of sampling times; p (Holm) is adjusted within "
                "each profile. " + esc(schemes(rows)))]


_DBRDA_TABLES = (
    ("dbrda_anomalies", "dbRDA on de-seasoned anomalies",
     "The same marginal tests on anomalies: every series (station × depth) minus its own seasonal "
     "climatology, so a variable explains the community here only through departures from the usual "
     "season."),
    ("dbrda_lagged", "dbRDA with lagged environment",
     "The environment of the previous visit(s) (lag k = k visits earlier in the same series) tested against "
     "the present community: a delayed response shows as a lagged variable that explains more than the "
     "present one."),
)


def _dbrda_blocks(ctx: Context, table_name: str, title: str, description: str) -> list[dict]:
    rows = ctx.tables.get(table_name)
    blocks = [h3(title)]
    if rows is None or rows.empty:
        return blocks + [missing(title)]
    extra = ["lag"] if "lag" in rows.columns else []
    rows = sorted_stats(ctx, rows.assign(lag=pd.to_numeric(rows["lag"], errors="coerce")) if extra else rows,
                        *extra, "variable")
    columns = profile_metric_cols() + ([Col("Lag", "lag", integer)] if extra else []) + [
        Col("Variable", lambda r: lagged_label(r["variable"]), text=True)]
    return blocks + [table(rows, dbrda_columns(columns), scroll=len(rows) > 14),
                     caption(esc(description) + " " + P_CAPTION + " " + esc(schemes(rows)))]


def build_timeseries(ctx: Context) -> dict:
    tables = {name: ctx.tables.get(name) for name in _TABLES}
    if all(t is None for t in tables.values()):
        if not ctx.dated:
            return {"blocks": [note(f"{NO_SERIES} ({NO_DATES}), so no trend or time-lag analysis was run.")]}
        return {"blocks": [missing("Time-series results (trends, time-lag analysis, anomalies, lags)")]}
    if all(t is None or t.empty for t in tables.values()):
        return {"blocks": [note(f"{NO_SERIES}: no trend, time-lag, anomaly or lagged analysis applied (for example "
                                "a cross-sectional data set without sampling dates, or too few visits per series).")]}
    blocks = _trend_blocks(ctx, tables["trends"]) + _time_lag_blocks(ctx, tables["time_lag"])
    for table_name, title, description in _DBRDA_TABLES:
        blocks += _dbrda_blocks(ctx, table_name, title, description)
    return {"blocks": blocks}
