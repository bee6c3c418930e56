"""Temporal turnover within station x depth series: consecutive dissimilarity and distance decay.

A series here is one station at one exact depth (``station``, ``depth_m``), every sample dated;
:func:`planktonlm.stats.timeseries.time_lag_analysis` instead groups by depth layer and skips
undated samples. Both build their pairs with
:func:`planktonlm.stats.timeseries.within_series_pairs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.stats.timeseries import YEAR_DAYS, within_series_pairs

SERIES_KEYS = ("station", "depth_m")


def _series_metadata(dist: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Metadata of the samples in ``dist`` (sample, station, depth_m, UTC datetime, position), sorted."""
    if not isinstance(dist, pd.DataFrame) or not dist.index.equals(dist.columns):
        raise ValueError("dist must be a square DataFrame with the same samples as index and columns")
    if "sample" in meta.columns:
        meta = meta.set_index("sample")
    meta = meta.copy()
    meta.index = meta.index.astype(str)
    file = "sample metadata"
    problems = [
        InputProblem(file=file, column=c, message="column missing", expected="station, depth_m and datetime")
        for c in (*SERIES_KEYS, "datetime")
        if c not in meta.columns
    ]
    missing = [str(s) for s in dist.index if str(s) not in meta.index]
    if missing:
        problems.append(
            InputProblem(file=file, message=f"no metadata for sample(s) {', '.join(missing)}", expected="one row each")
        )
    if problems:
        raise PlanktonlmInputError(problems)
    table = meta.loc[[str(s) for s in dist.index], [*SERIES_KEYS, "datetime"]].copy()
    table["datetime"] = pd.to_datetime(table["datetime"], utc=True, format="ISO8601", errors="coerce")
    for column in table.columns:
        for sample in table.index[table[column].isna()]:
            row = int(meta.index.get_loc(sample)) + 1
            problems.append(
                InputProblem(file=file, row=row, column=column, message=f"sample {sample}: missing or unparsable")
            )
    if problems:
        raise PlanktonlmInputError(problems)
    table.index.name = "sample"
    table["station"] = table["station"].astype(str)
    table["depth_m"] = table["depth_m"].astype(np.float64)
    table["position"] = np.arange(len(table))  # row/column of the sample in ``dist``
    return table.reset_index().sort_values([*SERIES_KEYS, "datetime", "sample"], kind="stable")


def _series_pairs(dist: pd.DataFrame, meta: pd.DataFrame, *, consecutive: bool) -> pd.DataFrame:
    """Pairs of samples within each station x depth series (consecutive dates, or all pairs)."""
    table = _series_metadata(dist, meta)
    series = table.groupby(list(SERIES_KEYS), sort=False).ngroup().to_numpy()  # rows sorted: series in order, time within
    i, j = within_series_pairs(series, consecutive=consecutive)
    first = table.iloc[i].reset_index(drop=True)
    second = table.iloc[j].reset_index(drop=True)
    values = dist.to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "station": first["station"],
            "depth_m": first["depth_m"],
            "sample_from": first["sample"],
            "sample_to": second["sample"],
            "date_from": first["datetime"],
            "date_to": second["datetime"],
            "days": (second["datetime"] - first["datetime"]).dt.total_seconds() / 86400.0,
            "dissimilarity": values[first["position"].to_numpy(), second["position"].to_numpy()],
        }
    )


def turnover_consecutive(dist: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Dissimilarity between consecutive dates of every station x depth series.

    ``meta``: sample metadata (index or column ``sample``) with station, depth_m and an ISO
    8601 datetime; samples of ``meta`` absent from ``dist`` are ignored. Columns: station,
    depth_m, sample_from, sample_to, date_from, date_to (UTC), days, dissimilarity; series
    in (station, depth) order, time order within.
    """
    return _series_pairs(dist, meta, consecutive=True)


@dataclass(frozen=True)
class DistanceDecay:
    """Dissimilarity against time lag within series.

    ``pairs``: every pair of samples of one station x depth series, with the columns of
    ``turnover_consecutive`` (``days`` named ``lag_days``). ``slope_per_year``/``intercept``:
    least-squares line of dissimilarity on lag in years; ``spearman_rho``: rank correlation
    (NaN when undefined). Pairs share samples, so no p-value is given: a naive one would be
    far too small, and a valid one needs a permutation of whole series.
    """

    pairs: pd.DataFrame
    slope_per_year: float
    intercept: float
    spearman_rho: float
    n_pairs: int


def distance_decay_time(dist: pd.DataFrame, meta: pd.DataFrame) -> DistanceDecay:
    """All within-series pairs with their time lag, a fitted slope and Spearman's rho."""
    pairs = _series_pairs(dist, meta, consecutive=False).rename(columns={"days": "lag_days"})
    lag_years = pairs["lag_days"].to_numpy(dtype=np.float64) / YEAR_DAYS
    dissimilarity = pairs["dissimilarity"].to_numpy(dtype=np.float64)
    slope = intercept = rho = float("nan")
    if len(pairs) >= 2 and np.ptp(lag_years) > 0:
        centred = lag_years - lag_years.mean()
        slope = float((centred * (dissimilarity - dissimilarity.mean())).sum() / (centred**2).sum())
        intercept = float(dissimilarity.mean() - slope * lag_years.mean())
        if len(pairs) >= 3 and np.ptp(dissimilarity) > 0:
            rho = float(scipy.stats.spearmanr(lag_years, dissimilarity).statistic)
    return DistanceDecay(pairs=pairs, slope_per_year=slope, intercept=intercept, spearman_rho=rho, n_pairs=len(pairs))
