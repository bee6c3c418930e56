"""Tests for planktonlm.stats.timeseries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planktonlm.stats.timeseries import (
    TREND_COLUMNS,
    deseasonalize,
    harmonic_climatology,
    lagged_environment,
    seasonal_time_features,
    seasonal_trends,
    series_labels,
    series_order,
    time_lag_analysis,
    within_series_pairs,
)

YEAR = 365.25


def _meta(station, depth, times, lat=45.0, prefix=None) -> pd.DataFrame:
    times = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    prefix = prefix or f"{station}_{depth}"
    return pd.DataFrame({"station": station, "depth_m": float(depth),
                         "datetime": [t.isoformat() for t in times],
                         "latitude": lat, "longitude": 0.0},
                        index=[f"{prefix}_{i:03d}" for i in range(len(times))])


def _monthly(n, start="2010-01-15"):
    return pd.date_range(start, periods=n, freq="MS", tz="UTC") + pd.Timedelta(days=14)


# --- seasonal_time_features -------------------------------------------------------------

def test_southern_january_matches_northern_july():
    dt = pd.Series(["2021-01-15T00:00:00Z", "2021-07-16T15:00:00Z", "2021-01-15T00:00:00Z",
                    "2021-07-16T15:00:00Z"], index=list("abcd"))
    lat = pd.Series([-40.0, 40.0, 40.0, np.nan], index=list("abcd"))
    f = seasonal_time_features(dt, lat)
    assert list(f.columns) == ["doy_sin", "doy_cos", "years_since_start"]
    # day 14 + 182.625 (south) == day 196.625 (16 July 15:00, non-leap year)
    np.testing.assert_allclose(f.loc["a", ["doy_sin", "doy_cos"]],
                               f.loc["b", ["doy_sin", "doy_cos"]], atol=1e-12)
    # the same January date in the north is in the opposite phase
    np.testing.assert_allclose(f.loc["c", ["doy_sin", "doy_cos"]],
                               -f.loc["a", ["doy_sin", "doy_cos"]], atol=0.02)
    # missing latitude = northern
    np.testing.assert_allclose(f.loc["d"], f.loc["b"])
    np.testing.assert_allclose(f["years_since_start"], [0, 182.625 / YEAR] * 2)


def test_time_features_missing_datetime_and_timestamps():
    dt = pd.Series([pd.Timestamp("2020-01-01", tz="UTC"), None, "2021-01-01T00:00:00Z"])
    f = seasonal_time_features(dt)
    assert f.loc[1].isna().all()
    np.testing.assert_allclose(f.loc[0, ["doy_sin", "doy_cos"]], [0.0, 1.0], atol=1e-12)
    assert f.loc[2, "years_since_start"] == pytest.approx(366 / YEAR)


# --- series labels and order ------------------------------------------------------------

def test_series_labels_and_order():
    meta = pd.DataFrame({"station": ["S1", "S1", "S1", "S2", None],
                         "depth_m": [5.0, 5.0, 7.5, 5, np.nan],
                         "datetime": ["2020-03-01", "2020-01-01", "2020-02-01", None,
                                      "2020-01-01"]},
                        index=list("abcde"))
    labels = series_labels(meta)
    # S1 has one sample per date at a depth that moves (5, 7.5, 5 m): one layer, not two series.
    assert labels.tolist() == ["S1|L1", "S1|L1", "S1|L1", "S2|5", "NA|NA"]
    order = series_order(meta)
    assert order.loc["a"] == 2 and order.loc["b"] == 0 and order.loc["c"] == 1
    assert order.isna().tolist() == [False, False, False, True, False]
    # Two layers sampled on the same dates keep their depths as labels.
    two = pd.DataFrame({"station": ["S1"] * 4, "depth_m": [5.0, 80.0, 5.0, 80.0],
                        "datetime": ["2020-01-01", "2020-01-01", "2020-02-01", "2020-02-01"]})
    assert series_labels(two).tolist() == ["S1|5", "S1|80", "S1|5", "S1|80"]
    # A deep layer whose depth moves between dates (60 m, then 85 m) is still one series.
    moving = two.assign(depth_m=[5.0, 60.0, 5.0, 85.0])
    assert series_labels(moving).tolist() == ["S1|L1", "S1|L2", "S1|L1", "S1|L2"]


# --- climatology and anomalies ----------------------------------------------------------

def test_harmonic_climatology_columns():
    long = _meta("S1", 5, _monthly(12))
    short = _meta("S2", 5, _monthly(4))  # 4 samples: mean only
    partial = _meta("S3", 5, _monthly(6))  # 6 samples over 5 months: mean only
    x = harmonic_climatology(pd.concat([long, short, partial]))
    assert list(x.columns) == ["S1|5:mean", "S1|5:doy_sin", "S1|5:doy_cos", "S2|5:mean",
                               "S3|5:mean"]
    assert (x.loc[short.index, "S2|5:mean"] == 1).all()
    assert (x.loc[short.index, "S1|5:doy_sin"] == 0).all()
    assert np.linalg.matrix_rank(x.to_numpy()) == x.shape[1]
    # the sample-count threshold: 4 dated samples over 10 months -> mean only, 5 -> harmonics
    t = pd.to_datetime(["2020-01-10", "2020-04-10", "2020-07-10", "2020-11-10", "2020-12-10"],
                       utc=True)
    assert list(harmonic_climatology(_meta("T", 1, t[:4])).columns) == ["T|1:mean"]
    assert harmonic_climatology(_meta("T", 1, t)).shape[1] == 3


def test_pure_seasonal_cycle_gives_zero_anomalies():
    north = _meta("N", 10, _monthly(30), lat=50.0)
    south = _meta("S", 10, _monthly(30, "2012-03-01"), lat=-35.0)
    meta = pd.concat([north, south])
    f = seasonal_time_features(meta["datetime"], meta["latitude"])
    level = np.where(meta["station"] == "N", 3.0, -1.0)
    amp = np.where(meta["station"] == "N", 2.0, 0.5)
    values = pd.DataFrame({"a": level + amp * f["doy_sin"] - 0.7 * f["doy_cos"],
                           "b": level * 2 + amp * f["doy_cos"]}, index=meta.index)
    values.iloc[3, 1] = np.nan  # missing value path
    anom = deseasonalize(values, meta)
    assert anom.shape == values.shape and np.isnan(anom.iloc[3, 1])
    np.testing.assert_allclose(anom.fillna(0).to_numpy(), 0.0, atol=1e-9)
    # a trend is not seasonal: it survives de-seasoning
    trend = pd.DataFrame({"t": f["years_since_start"]}, index=meta.index)
    assert deseasonalize(trend, meta)["t"].abs().max() > 0.3


# --- seasonal trends --------------------------------------------------------------------

def test_linear_trend_sen_slope_per_year():
    rng = np.random.default_rng(1)
    meta = _meta("S1", 5, _monthly(36))
    f = seasonal_time_features(meta["datetime"], meta["latitude"])
    y = 2.0 * f["years_since_start"] + 3 * f["doy_sin"] + rng.normal(0, 0.01, 36)
    values = pd.DataFrame({"shannon": y, "flat": rng.normal(0, 1, 36)}, index=meta.index)
    res = seasonal_trends(values, meta)
    assert list(res.columns) == TREND_COLUMNS and len(res) == 2
    row = res.set_index("variable").loc["shannon"]
    assert row["test"] == "seasonal Mann-Kendall" and row["reason"] == ""
    assert row["period"] == 12 and row["n"] == 36 and row["years"] == pytest.approx(3, abs=0.01)
    assert row["trend"] == "increasing" and row["p_value"] < 0.001
    assert row["sen_slope_per_year"] == pytest.approx(2.0, abs=0.03)
    assert row["station"] == "S1" and row["depth_m"] == 5.0 and row["series"] == "S1|5"


def test_irregular_or_short_series_not_applicable():
    rng = np.random.default_rng(2)
    irregular_days = np.cumsum(rng.choice([10, 30, 60], size=40))
    irr = _meta("I", 5, pd.Timestamp("2010-01-01", tz="UTC")
                + pd.to_timedelta(irregular_days, unit="D"))
    short = _meta("S", 5, _monthly(18))
    meta = pd.concat([irr, short])
    values = pd.DataFrame({"v": rng.normal(size=len(meta))}, index=meta.index)
    res = seasonal_trends(values, meta).set_index("series")
    assert (res["test"] == "not applicable").all()
    assert "irregular" in res.loc["I|5", "reason"]
    assert "2 full years" in res.loc["S|5", "reason"]
    assert res["sen_slope_per_year"].isna().all()


# --- time-lag analysis ------------------------------------------------------------------

def _within_perms(n, b, seed):
    rng = np.random.default_rng(seed)
    return np.array([rng.permutation(n) for _ in range(b)])


def test_time_lag_drift_vs_white_noise():
    n = 48
    meta = _meta("S1", 5, _monthly(n))
    rng = np.random.default_rng(3)
    perms = _within_perms(n, 199, seed=4)
    drift = np.column_stack([np.arange(n) * 0.1, rng.normal(0, 0.2, n)])
    d = np.linalg.norm(drift[:, None] - drift[None], axis=-1)
    pairs, s = time_lag_analysis(d, meta, perms)
    assert len(pairs) == n * (n - 1) // 2 == s["n_pairs"]
    assert s["slope"] > 0 and s["r2"] > 0.5
    assert s["slope_p_value"] == pytest.approx(1 / 200)
    slope, intercept = np.polyfit(np.sqrt(pairs["lag_years"]), pairs["dissimilarity"], 1)
    assert s["slope"] == pytest.approx(slope) and s["intercept"] == pytest.approx(intercept)
    noise = rng.normal(size=(n, 3))
    d0 = np.linalg.norm(noise[:, None] - noise[None], axis=-1)
    _, s0 = time_lag_analysis(d0, meta, perms)
    assert s0["slope_p_value"] > 0.1


def test_recurrence_positive_for_seasonal_community():
    n = 48
    meta = _meta("S1", 5, _monthly(n))
    f = seasonal_time_features(meta["datetime"])
    comm = f[["doy_sin", "doy_cos"]].to_numpy()
    d = np.linalg.norm(comm[:, None] - comm[None], axis=-1)
    pairs, s = time_lag_analysis(d, meta, _within_perms(n, 99, seed=5))
    assert s["recurrence"] > 1.5  # ~2 at half-year lags minus ~0 at whole-year lags
    assert s["n_year_pairs"] > 0 and s["n_half_year_pairs"] > 0
    assert s["recurrence_p_value"] == pytest.approx(1 / 100)
    # identity permutations reproduce the statistic: every one counts, p = 1
    _, s1 = time_lag_analysis(d, meta, np.tile(np.arange(n), (9, 1)))
    assert s1["recurrence_p_value"] == 1.0 and s1["slope_p_value"] == 1.0
    _, s_none = time_lag_analysis(d, meta)
    assert np.isnan(s_none["slope_p_value"]) and s_none["n_perms"] == 0


def test_time_lag_pairs_only_within_series():
    meta = pd.concat([_meta("A", 5, _monthly(5)), _meta("B", 5, _monthly(4))])
    meta.iloc[0, meta.columns.get_loc("datetime")] = None  # undated: no pairs
    d = np.ones((9, 9)) - np.eye(9)
    pairs, s = time_lag_analysis(d, meta)
    assert len(pairs) == 6 + 6
    assert (pairs["series"].isin(["A|5", "B|5"])).all()
    assert {"sample_a", "sample_b", "lag_days", "lag_years", "dissimilarity"} <= set(pairs)
    assert np.isnan(s["recurrence"])  # no year-long lags
    with pytest.raises(ValueError):
        time_lag_analysis(d[:8, :8], meta)


# --- lagged environment -----------------------------------------------------------------

def test_lagged_environment_shifts_within_series_and_respects_gaps():
    days_a = [0, 30, 60, 90, 200, 230]  # gap before day 200
    a = _meta("A", 5, pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(days_a, "D"))
    b = _meta("B", 5, pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta([0, 30], "D"))
    meta = pd.concat([a, b]).iloc[::-1]  # order must not matter
    env = pd.DataFrame({"temp": np.arange(8.0), "sal": 10 + np.arange(8.0)},
                       index=pd.concat([a, b]).index).iloc[[3, 0, 7, 5, 1, 6, 4, 2]]
    out = lagged_environment(env, meta, max_lag=2)
    assert list(out.columns) == ["temp_lag1", "temp_lag2", "sal_lag1", "sal_lag2"]
    assert out.index.equals(env.index)
    ia = a.index
    lag1 = out.loc[ia, "temp_lag1"].tolist()
    assert np.isnan(lag1[0]) and lag1[1:4] == [0.0, 1.0, 2.0]
    assert np.isnan(lag1[4]) and lag1[5] == 4.0  # gap of 110 d > 1.5 x 30 d
    lag2 = out.loc[ia, "temp_lag2"].tolist()
    assert np.isnan(lag2[0]) and np.isnan(lag2[1]) and lag2[2:4] == [0.0, 1.0]
    assert np.isnan(lag2[4]) and np.isnan(lag2[5])
    assert out.loc[ia[3], "sal_lag1"] == 12.0
    # series B does not see series A
    assert np.isnan(out.loc[b.index[0], "temp_lag1"]) and out.loc[b.index[1], "temp_lag1"] == 6.0


def test_within_series_pairs_all_consecutive_and_valid_rows():
    series = np.array(["a", "b", "a", "a", "b"])
    i, j = within_series_pairs(series)
    assert list(zip(i, j)) == [(0, 2), (0, 3), (1, 4), (2, 3)]  # lexicographic, never across series
    i, j = within_series_pairs(series, consecutive=True)
    assert list(zip(i, j)) == [(0, 2), (1, 4), (2, 3)]
    i, j = within_series_pairs(series, valid=np.array([True, True, False, True, True]))
    assert list(zip(i, j)) == [(0, 3), (1, 4)]
    i, j = within_series_pairs(np.array(["a", "b"]))
    assert i.size == j.size == 0
