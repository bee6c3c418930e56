"""Tests for planktonlm.ecology: rarefaction, diversity, transformations, distances, PCoA, turnover."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from planktonlm.ecology import EcologyConfig, alpha_diversity, distance_decay_time, rarefy, turnover_consecutive
from planktonlm.errors import PlanktonlmInputError
from planktonlm.stats.transforms import community_distance

# --------------------------------------------------------------------------------------------
# rarefaction


def test_rarefy_preserves_depth_and_never_exceeds_counts(count_table):
    counts = count_table()
    result = rarefy(counts, depth=50, seed=1)
    assert result.depth == 50
    assert (result.counts.sum(axis=1) == 50).all()
    kept = counts.loc[result.counts.index]
    assert (result.counts.to_numpy() <= kept.to_numpy()).all()
    assert result.counts.columns.equals(counts.columns)


def test_rarefy_is_seeded_and_keyed_by_sample(count_table):
    counts = count_table(seed=2)
    a = rarefy(counts, 40, seed=7).counts
    assert a.equals(rarefy(counts, 40, seed=7).counts)
    assert not a.equals(rarefy(counts, 40, seed=8).counts)
    # a sample's draw does not depend on the other samples in the table
    assert rarefy(counts.iloc[[3]], 40, seed=7).counts.equals(a.loc[[counts.index[3]]])


def test_rarefy_default_depth_and_samples_below_depth():
    counts = pd.DataFrame([[10, 10, 0], [3, 2, 0], [0, 0, 0], [7, 1, 4]], index=["a", "b", "empty", "c"])
    result = rarefy(counts, seed=0)
    assert result.depth == 5  # smallest positive total
    assert result.below_depth == ("empty",)
    assert result.counts.loc["b"].tolist() == [3, 2, 0]  # rarefying to its own total changes nothing
    deeper = rarefy(counts, depth=12, seed=0)
    assert deeper.below_depth == ("b", "empty") and deeper.counts.index.tolist() == ["a", "c"]


def test_rarefy_refuses_non_integer_and_negative_counts():
    counts = pd.DataFrame([[1.5, 2], [-1, 3]], index=["a", "b"], columns=["x", "y"])
    with pytest.raises(PlanktonlmInputError) as err:
        rarefy(counts, 2, seed=0)
    assert "2 problems" in str(err.value) and "column 'x'" in str(err.value)


# --------------------------------------------------------------------------------------------
# alpha diversity


def test_alpha_diversity_on_hand_computable_tables():
    counts = pd.DataFrame(
        [[5, 5, 5, 5], [20, 0, 0, 0], [10, 5, 5, 0], [1, 0, 0, 0]],
        index=pd.Index(["even", "single", "skewed", "tiny"], name="sample"),
    )
    alpha = alpha_diversity(counts, depth=20, seed=0)
    assert alpha.index.tolist() == ["even", "single", "skewed", "tiny"]
    assert alpha.loc["even", "richness"] == 4
    assert alpha.loc["even", "shannon"] == pytest.approx(math.log(4))
    assert alpha.loc["even", "simpson"] == pytest.approx(0.75)
    assert alpha.loc["single", ["richness", "shannon", "simpson"]].tolist() == [1, 0, 0]
    assert alpha.loc["skewed", "shannon"] == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert alpha.loc["skewed", "simpson"] == pytest.approx(1 - (0.25 + 2 * 0.0625))
    assert alpha["depth"].tolist() == [20] * 4
    assert alpha["total_count"].tolist() == [20, 20, 20, 1]
    assert alpha["rarefied"].tolist() == [True, True, True, False]
    assert alpha.loc["tiny", ["richness", "shannon", "simpson"]].isna().all()


def test_alpha_diversity_is_computed_after_rarefaction():
    counts = pd.DataFrame([[1000, 1, 1, 1, 1], [4, 0, 0, 0, 0]], index=["deep", "shallow"])
    alpha = alpha_diversity(counts, seed=3)  # depth 4: the rare features of "deep" mostly vanish
    assert alpha.loc["deep", "depth"] == 4
    assert alpha.loc["deep", "richness"] < 5


# --------------------------------------------------------------------------------------------
# temporal turnover


def drifting_series(seed: int = 11):
    """Two stations sampled monthly; the community drifts steadily along one direction."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=30)
    direction = rng.normal(size=30)
    rows, meta = {}, []
    for station, depth in (("A", 5.0), ("B", 50.0)):
        for month in range(10):
            sample = f"{station}{month:02d}"
            logits = base + 0.4 * month * direction
            rows[sample] = np.round(5000 * np.exp(logits) / np.exp(logits).sum()).astype(int)
            date = pd.Timestamp("2021-01-01") + pd.Timedelta(days=30 * month)
            meta.append({"sample": sample, "station": station, "depth_m": depth, "datetime": date.isoformat()})
    meta.append({"sample": "lone", "station": "C", "depth_m": 5.0, "datetime": "2021-03-01T00:00:00"})
    rows["lone"] = rows["A00"]
    counts = pd.DataFrame(rows).T
    meta = pd.DataFrame(meta).sample(frac=1.0, random_state=1)  # order must not matter
    return counts, meta


def test_turnover_consecutive_follows_each_series_in_time():
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


def test_distance_decay_increases_with_lag_under_steady_drift():
    counts, meta = drifting_series()
    decay = distance_decay_time(community_distance(counts, "braycurtis"), meta)
    assert decay.n_pairs == 2 * 45
    assert decay.slope_per_year > 0 and decay.spearman_rho > 0.9
    by_lag = decay.pairs[decay.pairs["station"] == "A"].groupby("lag_days")["dissimilarity"].mean()
    assert by_lag.is_monotonic_increasing and by_lag.index.tolist() == [30.0 * k for k in range(1, 10)]


def test_distance_decay_has_no_trend_without_drift():
    counts, meta = drifting_series()
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.poisson(50, size=counts.shape), index=counts.index)
    decay = distance_decay_time(community_distance(noise, "braycurtis"), meta)
    assert abs(decay.spearman_rho) < 0.5


def test_turnover_reports_bad_metadata():
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


def test_ecology_config_from_section():
    config = EcologyConfig(**{"rarefy_depth": 0, "metrics": ["hellinger"], "n_pcoa_axes": 5})
    assert config.metrics == ("hellinger",) and config.clr_pseudocount == 0.5
    with pytest.raises(ValueError):
        EcologyConfig(metrics=["jaccard"])
