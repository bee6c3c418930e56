"""Tests of planktonlm.stats.transforms: relative abundances, Hellinger, CLR, distances."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import braycurtis, pdist, squareform

from planktonlm.errors import PlanktonlmInputError
from planktonlm.stats.transforms import check_distance_matrix, clr, community_distance, community_features, hellinger, relative


def test_relative_and_hellinger(count_table):
    counts = count_table(seed=3)
    rel = relative(counts)
    assert np.allclose(rel.sum(axis=1), 1.0)
    assert np.allclose(hellinger(counts) ** 2, rel)
    with pytest.raises(PlanktonlmInputError, match="no count"):
        relative(pd.DataFrame([[1, 2], [0, 0]], index=["a", "zero"]))


def test_clr_rows_sum_to_zero_and_use_the_pseudocount(count_table):
    counts = count_table(seed=4)
    transformed = clr(counts)
    assert np.allclose(transformed.sum(axis=1), 0.0, atol=1e-12)
    logs = np.log(counts.to_numpy() + 0.5)
    assert np.allclose(transformed.to_numpy(), logs - logs.mean(axis=1, keepdims=True))
    first = np.log(counts.iloc[0].to_numpy() + 1.0)
    assert np.allclose(clr(counts, pseudocount=1.0).iloc[0], first - first.mean())


def test_bray_curtis_matches_scipy(count_table):
    counts = count_table(seed=5)
    proportions = counts.to_numpy() / counts.to_numpy().sum(axis=1, keepdims=True)
    rel = community_distance(counts, "braycurtis")
    for i in range(len(counts)):
        for j in range(len(counts)):
            assert rel.iloc[i, j] == pytest.approx(braycurtis(proportions[i], proportions[j]), abs=1e-15)
    assert rel.index.equals(counts.index) and rel.columns.equals(counts.index)


def test_hellinger_and_aitchison_distances():
    counts = pd.DataFrame([[4, 0], [0, 9], [1, 1]], index=["a", "b", "c"])
    h = community_distance(counts, "hellinger")
    assert h.loc["a", "b"] == pytest.approx(math.sqrt(2))  # disjoint communities: the maximum
    assert h.loc["a", "c"] == pytest.approx(math.sqrt((1 - math.sqrt(0.5)) ** 2 + 0.5))
    a = community_distance(counts, "aitchison")
    expected = squareform(pdist(clr(counts).to_numpy()))
    assert np.allclose(a.to_numpy(), expected)


@pytest.mark.parametrize("metric", ["braycurtis", "hellinger", "aitchison"])
def test_beta_diversity_gives_a_distance_matrix(metric, count_table):
    counts = count_table(seed=6)
    d = community_distance(counts, metric)
    assert d.shape == (6, 6) and d.index.equals(counts.index)
    assert np.array_equal(d.to_numpy(), d.to_numpy().T)
    assert (np.diag(d.to_numpy()) == 0).all() and (d.to_numpy()[~np.eye(6, dtype=bool)] > 0).all()


def test_beta_diversity_refuses_unknown_metric_and_empty_samples(count_table):
    with pytest.raises(ValueError, match="unknown distance"):
        community_distance(count_table(), "jaccard")
    with pytest.raises(PlanktonlmInputError, match="with no count"):
        community_distance(pd.DataFrame([[1, 2], [0, 0]], index=["a", "zero"]), "aitchison")




def test_clr_pseudocount_scales_with_the_table(count_table):
    # One rule for counts and relative abundances: the same proportions give the same CLR.
    counts = count_table(seed=11)
    proportions = counts / counts.to_numpy().sum()
    assert np.allclose(clr(counts).to_numpy(), clr(proportions).to_numpy())
    assert np.allclose(community_features(counts, "clr").to_numpy(), clr(counts).to_numpy())
    assert np.allclose(community_features(counts, "hellinger").to_numpy(), hellinger(counts).to_numpy())


def test_check_distance_matrix_refuses_non_distances():
    with pytest.raises(PlanktonlmInputError, match="not a distance matrix"):
        check_distance_matrix(np.array([[0.0, 1.0], [2.0, 0.0]]))
    with pytest.raises(PlanktonlmInputError, match="not square"):
        check_distance_matrix(np.zeros((2, 3)))
