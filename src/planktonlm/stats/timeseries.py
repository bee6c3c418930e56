"""Time-series statistics for plankton series (one station x depth layer, ordered by time).

Sample metadata (``meta``) is indexed by sample id with columns ``station``, ``depth_m``,
``datetime`` (ISO 8601 UTC string or Timestamp; may be missing), ``latitude``, ``longitude``.
Undated samples belong to their series but are left out of anything that needs a time.

* seasonal harmonics (hemisphere-aware) and a linear time trend as model features;
* per-series harmonic climatology and de-seasoned anomalies;
* seasonal Mann-Kendall trend tests with Sen's slope per year;
* pairs of samples within a series; time-lag analysis of community dissimilarity with a
  permutation test;
* environment at previous sampling dates (lagged predictors).

Pure numpy / pandas / pymannkendall.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymannkendall as mk

from planktonlm.stats.permutations import SamplingDesign

YEAR_DAYS = 365.25
_EPOCH = pd.Timestamp(0, tz="UTC")
TREND_COLUMNS = ["series", "station", "depth_m", "variable", "n", "period", "years", "test",
                 "trend", "tau", "s", "p_value", "sen_slope_per_year", "intercept", "reason"]


def to_utc(values: pd.Series) -> pd.Series:
    """Return ``values`` as tz-aware UTC datetimes (NaT where missing or unparseable)."""
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def _days(dt: pd.Series) -> pd.Series:
    # float days since the epoch: independent of the datetime64 resolution pandas picks
    return (dt - _EPOCH) / pd.Timedelta(days=1)


def within_series_pairs(series: np.ndarray | pd.Series, *, consecutive: bool = False,
                        valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs ``(i, j)``, ``i < j``, of samples in the same series, in lexicographic order.

    ``series``: one series key per row (e.g. :func:`series_labels`, or a code per station x
    exact depth). ``consecutive``: only each row with the next row of its series (rows must then
    be in time order within each series); otherwise every pair. ``valid``: rows to pair at all
    (e.g. dated samples). Returns two integer arrays of row positions.
    """
    codes = pd.factorize(np.asarray(series, dtype=object))[0]
    if valid is not None:
        codes = np.where(np.asarray(valid, dtype=bool), codes, -1)
    firsts, seconds = [np.zeros(0, dtype=np.intp)], [np.zeros(0, dtype=np.intp)]
    for code in np.unique(codes[codes >= 0]):
        rows = np.flatnonzero(codes == code)
        n = len(rows)
        i, j = (np.arange(n - 1), np.arange(1, n)) if consecutive else np.triu_indices(n, k=1)
        firsts.append(rows[i])
        seconds.append(rows[j])
    ia, ib = np.concatenate(firsts), np.concatenate(seconds)
    order = np.lexsort((ib, ia))
    return ia[order], ib[order]


def seasonal_time_features(datetimes: pd.Series,
                           latitudes: pd.Series | None = None) -> pd.DataFrame:
    """Annual harmonic and linear trend features.

    Returns a DataFrame (index = ``datetimes.index``) with ``doy_sin``/``doy_cos`` =
    sin/cos(2*pi*day/365.25), day = fractional day of year from 0 (UTC), shifted by half a
    year where latitude < 0 so austral and boreal seasons share values (missing latitude =
    northern), and ``years_since_start`` = years since the earliest sample. Undated rows: NaN.
    """
    dt = to_utc(datetimes)
    day = (dt.dt.day_of_year - 1) + (dt - dt.dt.normalize()) / pd.Timedelta(days=1)
    if latitudes is not None:
        lat = pd.to_numeric(latitudes.reindex(datetimes.index), errors="coerce")
        day = day + np.where(lat.to_numpy(dtype=float) < 0, YEAR_DAYS / 2, 0.0)
    angle = 2 * np.pi * day.astype(float) / YEAR_DAYS
    days = _days(dt)
    return pd.DataFrame({"doy_sin": np.sin(angle), "doy_cos": np.cos(angle),
                         "years_since_start": (days - days.min()) / YEAR_DAYS},
                        index=datetimes.index)


def series_labels(meta: pd.DataFrame) -> pd.Series:
    """Return the series label ``"{station}|{layer}"`` per sample (e.g. ``"S1|5"``; the layer is
    the depth unless a station's sampling depth moves between dates: see
    :func:`planktonlm.stats.permutations.depth_layers`), index = ``meta.index``."""
    return pd.Series(SamplingDesign.from_frame(meta).series, index=meta.index, name="series", dtype=object)


def series_order(meta: pd.DataFrame) -> pd.Series:
    """Return the 0-based time rank of each sample within its series (nullable Int64, <NA>
    for undated samples); ties keep the order of ``meta``."""
    frame = pd.DataFrame({"series": series_labels(meta),
                          "t": _days(to_utc(meta["datetime"]))}, index=meta.index)
    rank = frame.groupby("series")["t"].rank(method="first") - 1
    return rank.astype("Int64").rename("order")


def _series_frame(meta: pd.DataFrame) -> pd.DataFrame:
    # one place that derives label, time (days) and hemisphere-aware harmonics per sample
    feats = seasonal_time_features(meta["datetime"], meta.get("latitude"))
    return pd.DataFrame({"series": series_labels(meta), "t": _days(to_utc(meta["datetime"])),
                         "doy_sin": feats["doy_sin"], "doy_cos": feats["doy_cos"]},
                        index=meta.index)


def harmonic_climatology(meta: pd.DataFrame) -> pd.DataFrame:
    """Per-series climatology design matrix (samples x columns, index = ``meta.index``).

    For each series (sorted label) ``"{label}:mean"`` (dummy) and, when the series has at least
    5 dated samples spanning at least 9 months (0.75 * 365.25 days) and [1, sin, cos] is of full
    rank on them, ``"{label}:doy_sin"`` / ``"{label}:doy_cos"`` (dummy x hemisphere-aware
    harmonic). Otherwise the series only gets its mean: a harmonic fitted to a few samples or
    to part of a year would absorb trend and noise instead of the seasonal cycle. Undated
    samples get 0 in the harmonic columns, i.e. they are modelled by the series mean.
    """
    f = _series_frame(meta)
    cols: dict[str, np.ndarray] = {}
    for label, g in f.groupby("series", sort=True):
        dummy = f["series"].to_numpy() == label
        cols[f"{label}:mean"] = dummy.astype(float)
        dated = g[g["t"].notna()]
        if len(dated) < 5 or dated["t"].max() - dated["t"].min() < 0.75 * YEAR_DAYS:
            continue
        block = np.column_stack([np.ones(len(dated)), dated["doy_sin"], dated["doy_cos"]])
        if np.linalg.matrix_rank(block) < 3:
            continue
        for h in ("doy_sin", "doy_cos"):
            cols[f"{label}:{h}"] = np.where(dummy, f[h].fillna(0.0).to_numpy(), 0.0)
    return pd.DataFrame(cols, index=meta.index)


def deseasonalize(values: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Return anomalies: residuals of each column of ``values`` after least squares on
    :func:`harmonic_climatology` (same shape/index as ``values``; NaN stays NaN).

    The design is block-diagonal by series, so each series is fitted on its own, column by
    column over non-missing values (equivalent to the global fit, cheaper, and NaN-safe).
    """
    meta = meta.loc[values.index]
    design = harmonic_climatology(meta)
    labels = series_labels(meta).to_numpy()
    y = values.to_numpy(dtype=float)
    out = np.full_like(y, np.nan)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        x = design.loc[:, design.columns.str.startswith(f"{label}:")].to_numpy()[rows]
        yb = y[rows]
        ok = ~np.isnan(yb)
        if ok.all():  # one solve for all columns
            out[rows] = yb - x @ np.linalg.lstsq(x, yb, rcond=None)[0]
            continue
        for j in range(y.shape[1]):
            m = ok[:, j]
            if m.any():  # lstsq gives the minimum-norm fit even if the subset is rank-deficient
                beta = np.linalg.lstsq(x[m], yb[m, j], rcond=None)[0]
                out[rows[m], j] = yb[m, j] - x[m] @ beta
    return pd.DataFrame(out, index=values.index, columns=values.columns)


def _applicability(t: np.ndarray) -> tuple[int, float, float, str]:
    """(period, mean step in days, years covered, reason; "" if a seasonal test applies)."""
    if len(t) < 3:
        return 0, np.nan, np.nan, f"only {len(t)} dated samples"
    dt = np.diff(t)
    med, step = float(np.median(dt)), float((t[-1] - t[0]) / (len(t) - 1))
    years = len(t) * step / YEAR_DAYS
    if med <= 0 or np.any(np.abs(dt - med) > 0.2 * med):
        return 0, step, years, f"irregular sampling (intervals outside +-20% of {med:.1f} d)"
    period = int(round(YEAR_DAYS / med))
    if period < 1:
        return 0, step, years, f"sampling sparser than yearly ({med:.0f} d)"
    if abs(period * med / YEAR_DAYS - 1) > 0.1:
        # positional seasons would drift through the calendar from year to year
        return 0, step, years, f"{period} x {med:.1f} d intervals do not make a year"
    if len(t) < 2 * period:
        return period, step, years, f"less than 2 full years ({len(t)} < 2 x {period} samples)"
    return period, step, years, ""


def seasonal_trends(values: pd.DataFrame, meta: pd.DataFrame, *,
                    alpha: float = 0.05) -> pd.DataFrame:
    """Seasonal Mann-Kendall test (Hirsch & Slack 1984) with seasonal Sen's slope per series.

    Returns one row per series x column of ``values`` with columns :data:`TREND_COLUMNS`:
    ``n`` (non-missing values), ``period`` (samples per year = round(365.25 / median interval)),
    ``years`` (n_dates x mean interval / 365.25), ``test`` ("seasonal Mann-Kendall" or
    "not applicable"), ``trend`` / ``tau`` / ``s`` / ``p_value`` from
    ``pymannkendall.seasonal_test``, ``sen_slope_per_year`` and ``intercept`` (Kendall-Theil
    line value at the first sample), ``reason`` ("" when tested).

    The test applies when the dated samples are regular (every interval within +-20% of the
    median; this also rules out gaps, because seasons are assigned by position), ``period``
    intervals make a year within 10%, and there are >= 2 x period samples (2 full years).
    pymannkendall's slope is per full cycle of ``period`` steps; it is divided by the cycle
    length in years (period x mean interval / 365.25) to give units per year.

    No pooled row across series: pymannkendall's ``regional_test`` needs series aligned on
    one time axis and ``correlated_seasonal_test`` models correlated seasons of one series,
    and summing S over stations/depths would assume independent series, which neighbouring
    depths of one station are not.
    """
    meta = meta.loc[values.index]
    f = _series_frame(meta)
    rows = []
    for label, g in f.groupby("series", sort=True):
        g = g[g["t"].notna()].sort_values("t", kind="stable")
        period, step, years, reason = _applicability(g["t"].to_numpy())
        first = meta.loc[g.index[0]] if len(g) else meta.loc[f.index[f["series"] == label][0]]
        base = {"series": label, "station": first["station"], "depth_m": first["depth_m"],
                "period": period or np.nan, "years": years}
        for var in values.columns:
            x = values.loc[g.index, var].to_numpy(dtype=float)
            row = {**base, "variable": var, "n": int(np.isfinite(x).sum()),
                   "test": "not applicable", "trend": None, "tau": np.nan, "s": np.nan,
                   "p_value": np.nan, "sen_slope_per_year": np.nan, "intercept": np.nan,
                   "reason": reason}
            if not reason and row["n"] < 2 * period:
                row["reason"] = f"fewer than 2 x {period} non-missing values"
            elif not reason:
                res = mk.seasonal_test(x, period=period, alpha=alpha)
                row.update(test="seasonal Mann-Kendall", trend=res.trend, tau=res.Tau,
                           s=res.s, p_value=res.p, intercept=res.intercept,
                           sen_slope_per_year=res.slope / (period * step / YEAR_DAYS))
            rows.append(row)
    return pd.DataFrame(rows, columns=TREND_COLUMNS)


def time_lag_analysis(distances: np.ndarray, meta: pd.DataFrame,
                      perms: np.ndarray | None = None) -> tuple[pd.DataFrame, dict]:
    """Time-lag analysis (Collins et al. 2000) of a samples x samples dissimilarity matrix.

    ``distances`` rows/columns follow ``meta`` row order. Returns ``(pairs, summary)``:
    ``pairs`` has one row per pair of dated samples of the same series: ``sample_a``,
    ``sample_b``, ``series``, ``lag_days``, ``lag_years``, ``dissimilarity``. ``summary`` has
    ``slope``, ``intercept``, ``r2`` (OLS of dissimilarity on sqrt(lag_years)), ``n_pairs``,
    ``recurrence`` = mean dissimilarity at half-year lags (0.5, 1.5, ... years +-45 d) minus
    mean at whole-year lags (1, 2, ... years +-45 d): positive when the community comes back
    each year (NaN if either set is empty), ``n_year_pairs``, ``n_half_year_pairs``,
    ``n_perms``, ``slope_p_value`` and ``recurrence_p_value``.

    ``perms`` (B x n ints): sample i takes the community of sample ``perms[b, i]``, i.e.
    D* = D[p][:, p] with lags unchanged; p = (1 + #{stat* >= stat}) / (1 + B), one-sided
    (directional change -> positive slope; recurrence > 0). Restrict permutations to within
    series (or blocks) if between-series differences should not enter the null. P-values
    are NaN without ``perms``.
    """
    d = np.asarray(distances, dtype=float)
    n = len(meta)
    if d.shape != (n, n):
        raise ValueError(f"distances shape {d.shape} does not match {n} samples")
    f = _series_frame(meta)
    labels, t = f["series"].to_numpy(), f["t"].to_numpy()
    ia, ib = within_series_pairs(labels, valid=np.isfinite(t))
    dis = d[ia, ib]
    if not np.isfinite(dis).all():
        raise ValueError("distances contain non-finite values for within-series pairs")
    lag = np.abs(t[ib] - t[ia])
    pairs = pd.DataFrame({"sample_a": meta.index[ia], "sample_b": meta.index[ib],
                          "series": labels[ia], "lag_days": lag, "lag_years": lag / YEAR_DAYS,
                          "dissimilarity": dis})
    x = np.sqrt(lag / YEAR_DAYS)
    xc = x - x.mean() if len(x) else x
    sxx = float(xc @ xc)
    # slope as a linear functional of the dissimilarities: permuted slopes become one matmul
    w_slope = xc / sxx if sxx > 0 else None
    k_year = np.round(lag / YEAR_DAYS)
    year = (k_year >= 1) & (np.abs(lag - k_year * YEAR_DAYS) <= 45)
    k_half = np.round(lag / YEAR_DAYS - 0.5)
    half = (k_half >= 0) & (np.abs(lag - (k_half + 0.5) * YEAR_DAYS) <= 45)
    w_rec = half / half.sum() - year / year.sum() if year.any() and half.any() else None
    summary: dict = {"slope": np.nan, "intercept": np.nan, "r2": np.nan,
                     "n_pairs": int(len(dis)), "recurrence": np.nan,
                     "n_year_pairs": int(year.sum()), "n_half_year_pairs": int(half.sum()),
                     "n_perms": 0, "slope_p_value": np.nan, "recurrence_p_value": np.nan}
    if w_slope is not None:
        slope = float(w_slope @ dis)
        resid = dis - dis.mean() - slope * xc
        sst = float(((dis - dis.mean()) ** 2).sum())
        summary.update(slope=slope, intercept=float(dis.mean() - slope * x.mean()),
                       r2=1 - float(resid @ resid) / sst if sst > 0 else np.nan)
    if w_rec is not None:
        summary["recurrence"] = float(w_rec @ dis)
    if perms is None or not len(dis):
        return pairs, summary
    perms = np.asarray(perms)
    if perms.ndim != 2 or perms.shape[1] != n or not np.issubdtype(perms.dtype, np.integer):
        raise ValueError(f"perms must be an integer array of shape (B, {n})")
    n_perm = perms.shape[0]
    ge_slope = ge_rec = 0
    chunk = max(1, 5_000_000 // len(dis))  # bound the B x pairs block to ~40 MB
    for start in range(0, n_perm, chunk):
        p = perms[start:start + chunk]
        dstar = d[p[:, ia], p[:, ib]]  # (chunk, pairs): D*[i, j] = D[p_i, p_j]
        if w_slope is not None:
            ge_slope += int((dstar @ w_slope >= summary["slope"] - 1e-12).sum())
        if w_rec is not None:
            ge_rec += int((dstar @ w_rec >= summary["recurrence"] - 1e-12).sum())
    summary["n_perms"] = int(n_perm)
    if w_slope is not None:
        summary["slope_p_value"] = (1 + ge_slope) / (1 + n_perm)
    if w_rec is not None:
        summary["recurrence_p_value"] = (1 + ge_rec) / (1 + n_perm)
    return pairs, summary


def lagged_environment(env: pd.DataFrame, meta: pd.DataFrame, max_lag: int) -> pd.DataFrame:
    """Environment at the k-th previous sampling date of the same series, k = 1..max_lag.

    Returns a DataFrame (index = ``env.index``) with columns ``{column}_lag{k}`` (column-major).
    Sampling dates are the distinct datetimes of a series (replicates at one datetime share
    their mean value). NaN for undated samples, at series starts (fewer than k earlier
    dates) and across gaps: when the k-th previous date is more than 1.5 x k x the series'
    median interval between dates away. Columns of ``env`` must be numeric.
    """
    if max_lag < 1:
        raise ValueError("max_lag must be >= 1")
    meta = meta.loc[env.index]
    f = _series_frame(meta)
    vals = env.astype(float)
    out = np.full((len(env), env.shape[1] * max_lag), np.nan)
    pos = pd.Series(np.arange(len(env)), index=env.index)
    for _, g in f[f["t"].notna()].groupby("series", sort=False):
        by_date = vals.loc[g.index].groupby(g["t"].to_numpy()).mean()  # sorted distinct dates
        dates, v = by_date.index.to_numpy(dtype=float), by_date.to_numpy()
        if len(dates) < 2:
            continue
        med = float(np.median(np.diff(dates)))
        date_pos = np.searchsorted(dates, g["t"].to_numpy())
        rows = pos.loc[g.index].to_numpy()
        for k in range(1, max_lag + 1):
            src = date_pos - k
            ok = src >= 0
            ok[ok] = dates[date_pos[ok]] - dates[src[ok]] <= 1.5 * med * k
            for j in range(env.shape[1]):
                out[rows[ok], j * max_lag + k - 1] = v[src[ok], j]
    cols = [f"{c}_lag{k}" for c in env.columns for k in range(1, max_lag + 1)]
    return pd.DataFrame(out, index=env.index, columns=cols)
