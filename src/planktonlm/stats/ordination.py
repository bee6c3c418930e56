"""Principal coordinates of a distance matrix, and Gower's centred matrix that dbRDA tests on.

Eigen-decompositions run on one BLAS thread: the thread count changes the last bits of LAPACK
results, and result files must not depend on the machine.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.linalg
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from planktonlm.stats.transforms import check_distance_matrix

logger = logging.getLogger(__name__)

PCOA_CORRECTIONS = ("none", "lingoes", "cailliez")


def gower_centered(distances: np.ndarray) -> np.ndarray:
    """Gower's centred matrix ``G = J (-D^2/2) J`` with ``J = I - 11'/n``; ``tr(G)`` is the total variation."""
    a = -0.5 * np.asarray(distances, dtype=float) ** 2
    g = a - a.mean(axis=0, keepdims=True) - a.mean(axis=1, keepdims=True) + a.mean()
    return (g + g.T) / 2.0


def _centre(a: np.ndarray) -> np.ndarray:
    b = a - a.mean(axis=0, keepdims=True) - a.mean(axis=1, keepdims=True) + a.mean()
    return (b + b.T) / 2.0


def eigh_descending(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending; rounding-level ones set to 0) and eigenvectors of a symmetric matrix."""
    with threadpool_limits(limits=1, user_api="blas"):
        values, vectors = scipy.linalg.eigh(b)
    order = np.argsort(-values, kind="stable")
    values, vectors = values[order], vectors[:, order]
    values[np.abs(values) <= 1e-10 * max(np.abs(values).max(initial=0.0), 1e-300)] = 0.0
    return values, vectors


def _correction_constant(d: np.ndarray, method: str) -> float:
    """Additive constant that makes d Euclidean (Legendre & Legendre 2012, sec. 9.3.4)."""
    n = d.shape[0]
    if method == "lingoes":
        smallest = eigh_descending(_centre(-0.5 * d**2))[0][-1]
        return float(-smallest) if smallest < 0 else 0.0
    # Cailliez: largest eigenvalue of [[0, 2 B1], [-I, -4 B2]].
    b1, b2 = _centre(-0.5 * d**2), _centre(-0.5 * d)
    block = np.block([[np.zeros((n, n)), 2.0 * b1], [-np.eye(n), -4.0 * b2]])
    with threadpool_limits(limits=1, user_api="blas"):
        eigenvalues = scipy.linalg.eigvals(block)
    return float(max(eigenvalues.real.max(), 0.0))


class PCoA(BaseEstimator):
    """Principal coordinates analysis (classical metric MDS) of a distance matrix.

    Parameters
    ----------
    n_components : axes to keep (None = every axis with a positive eigenvalue).
    correction : "none", "lingoes" (d' = sqrt(d^2 + 2c)) or "cailliez" (d' = d + c), applied off
        the diagonal to remove negative eigenvalues of a non-Euclidean distance.

    Attributes
    ----------
    eigenvalues_ : every eigenvalue, descending (rounding-level values set to 0).
    explained_variance_ratio_ : eigenvalue of each kept axis / sum of positive eigenvalues.
    negative_eigenvalue_share_ : sum |negative| / sum |all| eigenvalues (0 for a Euclidean distance).
    correction_constant_ : the c added by the correction (0 without one).
    coordinates_ : DataFrame samples x axes ``PCo1`` ...; each axis signed so that its entry of
        largest magnitude is positive (bit-stable output).
    n_components_ : number of axes kept.
    """

    def __init__(self, n_components: int | None = None, correction: str = "none"):
        self.n_components = n_components
        self.correction = correction

    def fit(self, D, y=None) -> PCoA:
        if self.correction not in PCOA_CORRECTIONS:
            raise ValueError(f"correction must be one of {PCOA_CORRECTIONS}, got {self.correction!r}")
        if self.n_components is not None and self.n_components < 1:
            raise ValueError("n_components must be >= 1 or None")
        index = D.index if isinstance(D, pd.DataFrame) else pd.RangeIndex(np.asarray(D).shape[0])
        distances = check_distance_matrix(D)
        constant = 0.0
        if self.correction != "none" and distances.shape[0] > 1:
            constant = _correction_constant(distances, self.correction)
            off_diagonal = ~np.eye(distances.shape[0], dtype=bool)
            if self.correction == "lingoes":
                distances = np.where(off_diagonal, np.sqrt(distances**2 + 2.0 * constant), 0.0)
            else:
                distances = np.where(off_diagonal, distances + constant, 0.0)
        eigenvalues, vectors = eigh_descending(gower_centered(distances))
        positive = eigenvalues > 0
        n_axes = int(positive.sum())
        if self.n_components is not None:
            if self.n_components > n_axes:
                logger.info("PCoA: %d axes asked, %d positive eigenvalues", self.n_components, n_axes)
            n_axes = min(n_axes, int(self.n_components))
        coordinates = vectors[:, :n_axes] * np.sqrt(eigenvalues[:n_axes])[None, :]
        largest = np.argmax(np.abs(coordinates), axis=0)
        signs = np.where(coordinates[largest, np.arange(n_axes)] < 0, -1.0, 1.0)
        coordinates = coordinates * signs[None, :]
        positive_sum = eigenvalues[positive].sum()
        absolute_sum = np.abs(eigenvalues).sum()
        self.eigenvalues_ = eigenvalues
        self.explained_variance_ratio_ = eigenvalues[:n_axes] / positive_sum if positive_sum > 0 else np.zeros(0)
        self.negative_eigenvalue_share_ = float(-eigenvalues[eigenvalues < 0].sum() / absolute_sum) if absolute_sum > 0 else 0.0
        self.correction_constant_ = constant
        self.coordinates_ = pd.DataFrame(coordinates, index=index.copy(), columns=[f"PCo{i + 1}" for i in range(n_axes)])
        self.n_components_ = n_axes
        if self.negative_eigenvalue_share_ > 0:
            logger.info("PCoA: negative eigenvalues carry %.1f%% of the sum of |eigenvalues|", 100 * self.negative_eigenvalue_share_)
        return self

    def fit_transform(self, D, y=None) -> pd.DataFrame:
        return self.fit(D).coordinates_
