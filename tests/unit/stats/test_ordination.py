"""Tests of planktonlm.stats.ordination: Gower centring and PCoA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist, squareform
from sklearn.base import clone
from sklearn.decomposition import PCA

from planktonlm.errors import PlanktonlmInputError
from planktonlm.stats.ordination import PCoA, gower_centered


def test_gower_centered_trace_is_total_variation():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(10, 3))
    g = gower_centered(squareform(pdist(points)))
    centred = points - points.mean(axis=0)
    assert np.trace(g) == pytest.approx(float((centred**2).sum()))
    assert np.allclose(g.sum(axis=0), 0.0, atol=1e-12)


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
    with pytest.raises(PlanktonlmInputError, match="not a distance matrix"):
        PCoA().fit(np.array([[0.0, 1.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="correction"):
        PCoA(correction="magic").fit(np.zeros((2, 2)))


