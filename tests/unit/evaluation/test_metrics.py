"""Tests for planktonlm.evaluation.metrics: k-NN and k-means scores, OTU purity, Bray-Curtis, Mantel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from planktonlm.evaluation import metrics
from planktonlm.evaluation.metrics import (
    bray_curtis,
    ceiling_scores,
    kmeans_ari,
    knn_classifier,
    knn_scores,
    mantel_r,
    mantel_test,
    otu_purity,
    profile_counts,
)


def gaussian_clusters(seed: int, n_genomes: int = 4, per_genome: int = 40, dim: int = 8, spread: float = 0.1):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_genomes, dim))
    genomes = np.repeat([f"g{i}" for i in range(n_genomes)], per_genome)
    vectors = np.repeat(centres, per_genome, axis=0) + rng.normal(scale=spread, size=(n_genomes * per_genome, dim))
    return vectors, genomes


def test_knn_scores_separated_clusters_near_one():
    vectors, genomes = gaussian_clusters(0)
    scores = knn_scores(vectors, genomes, seed=1)
    assert scores["knn_accuracy"] > 0.98
    assert scores["knn_balanced_accuracy"] > 0.98
    assert scores["n"] == 160
    assert scores["stratified"] is True
    assert set(scores["per_genome"]) == {"g0", "g1", "g2", "g3"}
    assert scores["knn_accuracy_sd"] >= 0


def test_knn_scores_random_labels_near_chance():
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(400, 8))
    genomes = rng.choice(["a", "b", "c", "d"], size=400)
    scores = knn_scores(vectors, genomes, seed=3)
    assert abs(scores["knn_accuracy"] - 0.25) < 0.1


def test_knn_scores_figures_agree_and_are_seeded():
    vectors, genomes = gaussian_clusters(4, spread=1.2)
    first = knn_scores(vectors, genomes, seed=5)
    assert first == knn_scores(vectors, genomes, seed=5)
    weights = pd.Series(genomes).value_counts(normalize=True)
    assert first["knn_accuracy"] == pytest.approx(sum(weights[g] * a for g, a in first["per_genome"].items()))
    assert first["knn_balanced_accuracy"] == pytest.approx(np.mean(list(first["per_genome"].values())))


def test_knn_scores_falls_back_to_plain_folds_for_rare_genomes():
    vectors, genomes = gaussian_clusters(6)
    vectors, genomes = np.vstack([vectors, vectors[:3] + 5]), np.concatenate([genomes, ["rare"] * 3])
    scores = knn_scores(vectors, genomes, seed=0, k=5)
    assert scores["stratified"] is False
    assert "rare" in scores["per_genome"]


def test_knn_classifier_standardizes_in_a_pipeline():
    plain, scaled = knn_classifier(7), knn_classifier(7, standardize=True)
    assert isinstance(scaled, Pipeline) and isinstance(scaled.steps[0][1], StandardScaler)
    assert [name for name, _ in plain.steps] == ["knn"]
    assert scaled.named_steps["knn"].n_neighbors == 7
    assert scaled.named_steps["knn"].metric == "cosine"


def test_knn_scores_standardize_helps_when_scales_hide_the_signal():
    rng = np.random.default_rng(7)
    genomes = np.repeat(["a", "b"], 100)
    signal = np.where(genomes == "a", 1.0, -1.0)[:, None] * 1e-3 + rng.normal(scale=1e-4, size=(200, 1))
    vectors = np.hstack([signal, rng.normal(scale=10.0, size=(200, 3))])
    assert knn_scores(vectors, genomes, seed=0)["knn_accuracy"] < 0.75
    assert knn_scores(vectors, genomes, seed=0, standardize=True)["knn_accuracy"] > 0.85


class SpyScaler(StandardScaler):
    """A StandardScaler that records the row ids (column 0) of every fit."""

    fitted_rows: list[frozenset] = []

    def fit(self, X, y=None, sample_weight=None):
        SpyScaler.fitted_rows.append(frozenset(np.asarray(X)[:, 0].astype(int).tolist()))
        return super().fit(X, y, sample_weight)


def test_knn_scores_standardize_fits_on_training_folds_only(monkeypatch):
    vectors, genomes = gaussian_clusters(8, per_genome=25)
    n = len(genomes)
    vectors = np.hstack([np.arange(n)[:, None], vectors])  # column 0: the row id
    SpyScaler.fitted_rows = []
    monkeypatch.setattr(metrics, "StandardScaler", SpyScaler)
    knn_scores(vectors, genomes, seed=9, n_folds=5, standardize=True)
    assert len(SpyScaler.fitted_rows) == 5
    left_out = [set(range(n)) - rows for rows in SpyScaler.fitted_rows]
    assert all(len(rows) == n // 5 for rows in left_out)
    assert sorted(i for rows in left_out for i in rows) == list(range(n))  # each row tested once, never fitted then


def test_knn_scores_rejects_bad_shapes():
    vectors, genomes = gaussian_clusters(0)
    with pytest.raises(ValueError, match="genome labels"):
        knn_scores(vectors, genomes[:-1], seed=0)
    with pytest.raises(ValueError, match="at least 2 genomes"):
        knn_scores(vectors, np.repeat("g", len(vectors)), seed=0)
    with pytest.raises(ValueError, match="fewer than k"):
        knn_scores(vectors[:10], genomes[::16], seed=0, k=10)


def test_kmeans_ari_separated_vs_random():
    vectors, genomes = gaussian_clusters(10)
    assert kmeans_ari(vectors, genomes, seed=0) > 0.95
    rng = np.random.default_rng(11)
    assert abs(kmeans_ari(vectors, rng.permutation(genomes), seed=0)) < 0.1
    assert kmeans_ari(vectors, genomes, seed=0) == kmeans_ari(vectors, genomes, seed=0)
    assert kmeans_ari(vectors, genomes, seed=0, standardize=True, normalize=False) > 0.9


def test_ceiling_scores():
    genomes = np.array(["a", "a", "a", "b"])
    scores = ceiling_scores(np.array(["a", "a", "b", "b"]), genomes)
    assert scores["accuracy"] == pytest.approx(0.75)
    assert scores["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert scores["per_genome"] == pytest.approx({"a": 2 / 3, "b": 1.0})
    with pytest.raises(ValueError):
        ceiling_scores(genomes[:3], genomes)


def test_bray_curtis_hand_computed():
    counts = np.array([[10, 0, 10], [5, 5, 0], [0, 0, 4]])
    # Relative abundances: (.5, 0, .5), (.5, .5, 0), (0, 0, 1); BC = sum|x - y| / sum(x + y) = sum|x - y| / 2.
    np.testing.assert_allclose(bray_curtis(counts), [0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="no counts"):
        bray_curtis(np.array([[1, 2], [0, 0]]))


def test_mantel_r_self_and_permuted():
    rng = np.random.default_rng(12)
    d = pdist(rng.normal(size=(40, 5)))
    assert mantel_r(d, d) == pytest.approx(1.0)
    assert abs(mantel_r(d, rng.permutation(d))) < 0.1
    with pytest.raises(ValueError):
        mantel_r(d, d[:-1])


def test_mantel_test_p_values():
    rng = np.random.default_rng(13)
    points = rng.normal(size=(15, 3))
    d1 = pdist(points)
    d2 = pdist(points + rng.normal(scale=0.1, size=points.shape))
    r, p = mantel_test(d1, d2, n_permutations=199, seed=0)
    assert r > 0.9
    assert p == pytest.approx(1 / 200)
    assert mantel_test(d1, d2, 199, seed=0) == (r, p)
    unrelated = pdist(rng.normal(size=(15, 3)))
    _, p_null = mantel_test(d1, unrelated, n_permutations=199, seed=0)
    assert p_null > 0.05


def test_profile_counts():
    labels = np.array([0, 2, 2, 1, 0])
    samples = np.array(["S2", "S1", "S1", "S2", "S2"])
    table = profile_counts(labels, samples, n_labels=4, sample_order=["S1", "S2", "S3"])
    assert table.index.tolist() == ["S1", "S2", "S3"]
    assert table.columns.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(table.to_numpy(), [[0, 0, 2, 0], [2, 1, 0, 0], [0, 0, 0, 0]])
    by_genome = profile_counts(np.array(["gB", "gA", "gA"]), np.array(["S1", "S1", "S2"]))
    assert by_genome.loc["S1"].to_dict() == {"gA": 1, "gB": 1}
    with pytest.raises(ValueError, match="sample_order"):
        profile_counts(labels, samples, sample_order=["S1"])
    with pytest.raises(ValueError, match="n_labels"):
        profile_counts(labels, samples, n_labels=2)


def test_otu_purity():
    genomes = np.array(["a", "a", "b", "b", "c"])
    perfect = otu_purity(np.array([7, 7, 3, 3, 9]), genomes)
    assert perfect["nmi"] == pytest.approx(1.0)
    assert perfect["purity"] == pytest.approx(1.0)
    lumped = otu_purity(np.array([0, 0, 0, 0, 1]), genomes)
    assert lumped["purity"] == pytest.approx(3 / 5)
    assert lumped["nmi"] < 1.0
