"""Tests of planktonlm.stats.turnover: consecutive turnover and distance decay within series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.stats.transforms import community_distance
from planktonlm.stats.turnover import distance_decay_time, turnover_consecutive


def test_turnover_consecutive_follows_each_series_in_time(drifting_series):
    counts, meta = drifting_series()
    dist = community_distance(counts, "braycurtis")
    table = turnover_consecutive(dist, meta)
    assert len(table) == 18  # 9 steps in each of two series; the lone sample has no pair
    assert (table["days"] == 30).all()
    a = table[table["station"] == "A"]
    assert a["sample_from"].tolist() == [f"A{m:02d}" for m in range(9)]
    assert a["sample_to"].tolist() == [f"A{m:02d}" for m in range(1, 10)]
    assert (a["date_to"] > a["date_from"]).all()
    assert table["dissimilarity"].tolist() == [dist.loc[f, t] for f, t in zip(table["sample_from"], table["sample_to"])]
    assert (table["dissimilarity"] > 0).all()


def test_distance_decay_increases_with_lag_under_steady_drift(drifting_series):
    counts, meta = drifting_series()
    decay = distance_decay_time(community_distance(counts, "braycurtis"), meta)
    assert decay.n_pairs == 2 * 45
    assert decay.slope_per_year > 0 and decay.spearman_rho > 0.9
    by_lag = decay.pairs[decay.pairs["station"] == "A"].groupby("lag_days")["dissimilarity"].mean()
    assert by_lag.is_monotonic_increasing and by_lag.index.tolist() == [30.0 * k for k in range(1, 10)]


def test_distance_decay_has_no_trend_without_drift(drifting_series):
    counts, meta = drifting_series()
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.poisson(50, size=counts.shape), index=counts.index)
    decay = distance_decay_time(community_distance(noise, "braycurtis"), meta)
    assert abs(decay.spearman_rho) < 0.5


def test_turnover_reports_bad_metadata(drifting_series):
    counts, meta = drifting_series()
    dist = community_distance(counts, "hellinger")
    broken = meta.copy()
    broken.loc[broken["sample"] == "A03", "datetime"] = "2021-13-45"
    broken = broken[broken["sample"] != "B02"]
    with pytest.raises(PlanktonlmInputError, match="no metadata for sample"):
        turnover_consecutive(dist, broken)
    with pytest.raises(PlanktonlmInputError, match="A03: missing or unparsable"):
        turnover_consecutive(dist.drop(index="B02", columns="B02"), broken)
    with pytest.raises(PlanktonlmInputError, match="column 'station'"):
        distance_decay_time(dist, meta.drop(columns="station"))


def test_a_series_is_one_station_at_one_exact_depth(drifting_series):
    counts, meta = drifting_series()
    meta = meta.assign(station="A")  # both series at one station, still two depths
    table = turnover_consecutive(community_distance(counts, "hellinger"), meta)
    assert table.groupby("depth_m").size().to_dict() == {5.0: 10, 50.0: 9}  # "lone" (5 m, March) joins the 5 m series
    shallow = table[table["depth_m"] == 5.0]
    assert (shallow["date_to"] > shallow["date_from"]).all()
    assert shallow["sample_from"].tolist()[:3] == ["A00", "A01", "lone"]
