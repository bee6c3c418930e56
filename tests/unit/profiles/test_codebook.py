"""Tests for planktonlm.profiles.codebook: bit-reproducible k-means, assignment, the estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from planktonlm.errors import PlanktonlmInputError
from planktonlm.profiles.codebook import EmbeddingCodebook, _lloyd, _row_sq_norms, _sq_distances


def direction_blobs(n_per: int = 60, n_centres: int = 5, dim: int = 16, seed: int = 0):
    """Blobs around far-apart directions (clustering is on L2-normalised vectors), unequal sizes."""
    sizes = [n_per + 10 * i for i in range(n_centres)]
    X, y = make_blobs(n_samples=sizes, n_features=dim, cluster_std=0.2, center_box=(-10, 10), random_state=seed)
    return X, y


def test_codebook_recovers_planted_clusters():
    X, y = direction_blobs()
    codebook = EmbeddingCodebook(n_otus=5, n_init=2, seed=3).fit(X)
    assert adjusted_rand_score(y, codebook.labels_) == 1.0
    assert codebook.cluster_centers_.shape == (5, 16)
    assert codebook.n_iter_ >= 1
    # inertia_ is the sum of squared distances of normalised points to their centre
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    expected = ((Xn - codebook.cluster_centers_[codebook.labels_]) ** 2).sum()
    assert codebook.inertia_ == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_codebook_fits_are_bitwise_equal_and_thread_independent():
    X, _ = direction_blobs(n_per=300, dim=64, seed=1)
    X = X + np.random.default_rng(0).normal(scale=2.0, size=X.shape)  # overlapping: many iterations
    params = dict(n_otus=7, n_init=2, max_iter=50, seed=11)
    with threadpool_limits(limits=1):
        first = EmbeddingCodebook(**params).fit(X)
    with threadpool_limits(limits=2):
        second = EmbeddingCodebook(**params).fit(X)
    third = EmbeddingCodebook(**params).fit(X)
    for other in (second, third):
        assert first.cluster_centers_.tobytes() == other.cluster_centers_.tobytes()
        assert np.array_equal(first.labels_, other.labels_)
        assert first.inertia_ == other.inertia_
        assert first.n_iter_ == other.n_iter_


def test_other_seed_gives_other_start():
    X, _ = direction_blobs(n_per=100, dim=8)
    X = X + np.random.default_rng(1).normal(scale=3.0, size=X.shape)
    a = EmbeddingCodebook(n_otus=12, n_init=1, seed=0).fit(X)
    b = EmbeddingCodebook(n_otus=12, n_init=1, seed=1).fit(X)
    assert a.cluster_centers_.tobytes() != b.cluster_centers_.tobytes()


def test_predict_on_training_points_matches_labels():
    X, _ = direction_blobs(n_per=200, dim=32, seed=2)
    X = X + np.random.default_rng(2).normal(scale=3.0, size=X.shape)
    codebook = EmbeddingCodebook(n_otus=9, n_init=1, seed=0).fit(X)
    assert np.array_equal(codebook.predict(X), codebook.labels_)
    # float16 input (as embeddings are stored) is accepted and converted
    assert codebook.predict(X.astype(np.float16)).shape == (len(X),)


def test_distances_of_a_row_do_not_depend_on_the_other_rows():
    # Unpadded BLAS blocks change the last bits when rows shift within a block; the fixed
    # padded blocks must make a row's distances independent of its neighbours.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 257))
    C = rng.normal(size=(64, 257))
    full = _sq_distances(X, _row_sq_norms(X), C)
    for offset in (1, 37, 4095):
        part = X[offset:]
        assert _sq_distances(part, _row_sq_norms(part), C).tobytes() == full[offset:].tobytes()


def test_codebook_follows_estimator_contract():
    codebook = EmbeddingCodebook(n_otus=3, n_init=1, max_iter=7, seed=5, normalize=False)
    assert codebook.get_params() == dict(n_otus=3, n_init=1, max_iter=7, seed=5, normalize=False)
    assert not hasattr(codebook, "cluster_centers_")
    X, _ = direction_blobs(n_centres=3)
    fitted = codebook.fit(X)
    assert fitted is codebook
    copy = clone(codebook)
    assert copy.get_params() == codebook.get_params() and not hasattr(copy, "labels_")
    labels = EmbeddingCodebook(n_otus=3, seed=5).fit_predict(X)
    assert np.array_equal(labels, EmbeddingCodebook(n_otus=3, seed=5).fit(X).labels_)


def test_codebook_refuses_fewer_points_than_otus():
    with pytest.raises(PlanktonlmInputError, match="3 fragments to fit 4 OTUs"):
        EmbeddingCodebook(n_otus=4).fit(np.eye(3))


def test_codebook_refuses_fewer_distinct_points_than_otus():
    X = np.repeat(np.eye(3), 10, axis=0)  # 30 points, 3 distinct directions
    with pytest.raises(PlanktonlmInputError, match="only 3 distinct vectors"):
        EmbeddingCodebook(n_otus=4).fit(X)


def test_codebook_with_duplicates_puts_copies_together():
    X = np.repeat(np.eye(4) * 2.0, [5, 1, 7, 3], axis=0)
    codebook = EmbeddingCodebook(n_otus=4, n_init=1, seed=0).fit(X)
    truth = np.repeat(np.arange(4), [5, 1, 7, 3])
    assert adjusted_rand_score(truth, codebook.labels_) == 1.0
    assert codebook.inertia_ == 0.0


def test_codebook_refuses_non_finite_vectors():
    X = np.ones((10, 3))
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="vector 4"):
        EmbeddingCodebook(n_otus=2).fit(X)


def test_empty_cluster_is_refilled_deterministically():
    X, y = direction_blobs(n_centres=3, dim=8)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    # a start with two identical centres: the second gets no point in the first assignment
    start = Xn[[0, 0, np.flatnonzero(y != y[0])[0]]]
    results = [_lloyd(Xn, _row_sq_norms(Xn), start.copy(), max_iter=100) for _ in range(2)]
    centres, labels, _, _, converged = results[0]
    assert converged
    assert np.bincount(labels, minlength=3).min() > 0
    assert adjusted_rand_score(y, labels) == 1.0
    assert centres.tobytes() == results[1][0].tobytes()
