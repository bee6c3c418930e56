"""Tests for planktonlm.ecology: rarefaction, diversity, transformations, distances, PCoA, turnover."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import braycurtis, pdist, squareform
from sklearn.base import clone
from sklearn.decomposition import PCA

from planktonlm.ecology import (
    METRICS,
    PCoA,
    EcologyConfig,
    aitchison,
    alpha_diversity,
    beta_diversity,
    bray_curtis,
    clr,
    distance_decay_time,
    hellinger,
    hellinger_distance,
    rarefy,
    relative,
    turnover_consecutive,
)
from planktonlm.errors import PlanktonlmInputError


def count_table(seed: int = 0, n_samples: int = 6, n_features: int = 9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.poisson(rng.gamma(1.0, 20.0, size=(n_samples, n_features)))
    index = pd.Index([f"S{i:02d}" for i in range(n_samples)], name="sample")
    return pd.DataFrame(values, index=index, columns=[f"eotu_{j + 1:04d}" for j in range(n_features)])


# --------------------------------------------------------------------------------------------
# rarefaction


def test_rarefy_preserves_depth_and_never_exceeds_counts():
    counts = count_table()
    result = rarefy(counts, depth=50, seed=1)
    assert result.depth == 50
    assert (result.counts.sum(axis=1) == 50).all()
    kept = counts.loc[result.counts.index]
    assert (result.counts.to_numpy() <= kept.to_numpy()).all()
    assert result.counts.columns.equals(counts.columns)


def test_rarefy_is_seeded_and_keyed_by_sample():
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
# transformations and distances


def test_relative_and_hellinger():
    counts = count_table(seed=3)
    rel = relative(counts)
    assert np.allclose(rel.sum(axis=1), 1.0)
    assert np.allclose(hellinger(counts) ** 2, rel)
    with pytest.raises(PlanktonlmInputError, match="no count"):
        relative(pd.DataFrame([[1, 2], [0, 0]], index=["a", "zero"]))


def test_clr_rows_sum_to_zero_and_use_the_pseudocount():
    counts = count_table(seed=4)
    transformed = clr(counts)
    assert np.allclose(transformed.sum(axis=1), 0.0, atol=1e-12)
    logs = np.log(counts.to_numpy() + 0.5)
    assert np.allclose(transformed.to_numpy(), logs - logs.mean(axis=1, keepdims=True))
    first = np.log(counts.iloc[0].to_numpy() + 1.0)
    assert np.allclose(clr(counts, pseudocount=1.0).iloc[0], first - first.mean())


def test_bray_curtis_matches_scipy():
    counts = count_table(seed=5)
    raw = bray_curtis(counts, relative_abundance=False)
    proportions = counts.to_numpy() / counts.to_numpy().sum(axis=1, keepdims=True)
    rel = bray_curtis(counts)
    for i in range(len(counts)):
        for j in range(len(counts)):
            assert raw.iloc[i, j] == pytest.approx(braycurtis(counts.iloc[i], counts.iloc[j]), abs=1e-15)
            assert rel.iloc[i, j] == pytest.approx(braycurtis(proportions[i], proportions[j]), abs=1e-15)
    assert raw.index.equals(counts.index) and raw.columns.equals(counts.index)


def test_hellinger_and_aitchison_distances():
    counts = pd.DataFrame([[4, 0], [0, 9], [1, 1]], index=["a", "b", "c"])
    h = hellinger_distance(counts)
    assert h.loc["a", "b"] == pytest.approx(math.sqrt(2))  # disjoint communities: the maximum
    assert h.loc["a", "c"] == pytest.approx(math.sqrt((1 - math.sqrt(0.5)) ** 2 + 0.5))
    a = aitchison(counts)
    expected = squareform(pdist(clr(counts).to_numpy()))
    assert np.allclose(a.to_numpy(), expected)


@pytest.mark.parametrize("metric", METRICS)
def test_beta_diversity_gives_a_distance_matrix(metric):
    counts = count_table(seed=6)
    d = beta_diversity(counts, metric)
    assert d.shape == (6, 6) and d.index.equals(counts.index)
    assert np.array_equal(d.to_numpy(), d.to_numpy().T)
    assert (np.diag(d.to_numpy()) == 0).all() and (d.to_numpy()[~np.eye(6, dtype=bool)] > 0).all()


def test_beta_diversity_refuses_unknown_metric_and_empty_samples():
    with pytest.raises(ValueError, match="unknown metric"):
        beta_diversity(count_table(), "jaccard")
    with pytest.raises(PlanktonlmInputError, match="with no count"):
        beta_diversity(pd.DataFrame([[1, 2], [0, 0]], index=["a", "zero"]), "aitchison")


# --------------------------------------------------------------------------------------------
# PCoA


def test_pcoa_recovers_euclidean_configuration():
    rng = np.random.default_rng(8)
    points = rng.normal(size=(12, 3)) * [5.0, 2.0, 0.5]
    index = pd.Index([f"s{i}" for i in range(12)])
    D = pd.DataFrame(squareform(pdist(points)), index=index, columns=index)
    pcoa = PCoA().fit(D)
    assert pcoa.n_components_ == 3
    assert np.allclose(squareform(pdist(pcoa.coordinates_.to_numpy())), D.to_numpy(), atol=1e-10)
    assert np.allclose(pcoa.explained_variance_ratio_, PCA().fit(points).explained_variance_ratio_)
    assert pcoa.negative_eigenvalue_share_ == 0.0
    assert (pcoa.eigenvalues_[3:] == 0).all()
    assert pcoa.coordinates_.index.equals(index) and pcoa.coordinates_.columns.tolist() == ["PCo1", "PCo2", "PCo3"]
    # sign convention: on every axis the entry of largest magnitude is positive
    coords = pcoa.coordinates_.to_numpy()
    assert (coords[np.argmax(np.abs(coords), axis=0), np.arange(3)] > 0).all()
    again = PCoA().fit(D)
    assert again.coordinates_.to_numpy().tobytes() == coords.tobytes()
    assert PCoA(n_components=2).fit_transform(D).shape == (12, 2)


def test_pcoa_sign_convention_survives_mirroring():
    rng = np.random.default_rng(9)
    points = rng.normal(size=(8, 2)) * [3.0, 1.0]
    a = PCoA().fit(squareform(pdist(points))).coordinates_.to_numpy()
    b = PCoA().fit(squareform(pdist(-points))).coordinates_.to_numpy()
    assert np.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("correction", ["lingoes", "cailliez"])
def test_pcoa_reports_and_corrects_negative_eigenvalues(correction):
    rng = np.random.default_rng(10)
    D = squareform(rng.uniform(0.1, 1.0, size=15 * 14 // 2))  # not Euclidean
    plain = PCoA().fit(D)
    assert 0 < plain.negative_eigenvalue_share_ < 1
    assert (plain.eigenvalues_ < 0).any()
    corrected = PCoA(correction=correction).fit(D)
    assert corrected.correction_constant_ > 0
    assert corrected.negative_eigenvalue_share_ == 0.0
    assert (corrected.eigenvalues_ >= 0).all()
    assert corrected.explained_variance_ratio_.sum() == pytest.approx(1.0)


def test_pcoa_contract_and_input_checks():
    pcoa = PCoA(n_components=3, correction="lingoes")
    assert clone(pcoa).get_params() == {"n_components": 3, "correction": "lingoes"}
    with pytest.raises(ValueError, match="symmetric"):
        PCoA().fit(np.array([[0.0, 1.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="correction"):
        PCoA(correction="magic").fit(np.zeros((2, 2)))


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
    dist = beta_diversity(counts, "braycurtis")
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
    decay = distance_decay_time(beta_diversity(counts, "braycurtis"), meta)
    assert decay.n_pairs == 2 * 45
    assert decay.slope_per_year > 0 and decay.spearman_rho > 0.9
    by_lag = decay.pairs[decay.pairs["station"] == "A"].groupby("lag_days")["dissimilarity"].mean()
    assert by_lag.is_monotonic_increasing and by_lag.index.tolist() == [30.0 * k for k in range(1, 10)]


def test_distance_decay_has_no_trend_without_drift():
    counts, meta = drifting_series()
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.poisson(50, size=counts.shape), index=counts.index)
    decay = distance_decay_time(beta_diversity(noise, "braycurtis"), meta)
    assert abs(decay.spearman_rho) < 0.5


def test_turnover_reports_bad_metadata():
    counts, meta = drifting_series()
    dist = beta_diversity(counts, "hellinger")
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
