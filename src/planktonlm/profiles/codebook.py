"""The OTU codebook: bit-reproducible k-means on L2-normalised vectors, and assignment to the nearest OTU.

k-means is written here in numpy rather than taken from scikit-learn, whose OpenMP reductions are
chunked by thread. Distances use BLAS limited to one thread and a fixed, zero-padded row block,
because multi-threaded OpenBLAS (and even a different block height) changes the last bits of a dot
product; with that, a row's distances depend on that row alone, so fits are bit-identical across
runs and thread counts, and ``predict`` on the training rows reproduces ``labels_``. Cluster sums
use a sparse one-hot product (sequential).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from planktonlm.errors import InputProblem, PlanktonlmInputError

logger = logging.getLogger(__name__)

# Rows per distance block. Fixed (and the last block zero-padded) so that BLAS sees the same
# shapes whatever the number of rows, which keeps every row's distances bit-identical.
BLOCK_ROWS = 4096


def _l2_normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero (they have no direction)."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    norms[norms == 0] = 1.0
    return X / norms[:, None]


def _row_sq_norms(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X)


def _sq_distances(X: np.ndarray, x_sq: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared euclidean distances (n x m) between rows of X and rows of C, deterministic.

    Computed as |x|^2 - 2 x.c + |c|^2 in fixed zero-padded row blocks on one BLAS thread.
    Values below 1e-12 of |x|^2 + |c|^2 are rounding noise and set to 0, so that a point and
    its exact duplicate are at distance 0 (k-means++ relies on it).
    """
    n = X.shape[0]
    c_sq = _row_sq_norms(C)
    out = np.empty((n, C.shape[0]), dtype=np.float64)
    block = np.zeros((BLOCK_ROWS, X.shape[1]), dtype=np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, n, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, n)
            block[: stop - start] = X[start:stop]
            block[stop - start :] = 0.0
            dots = block @ C.T
            d = x_sq[start:stop, None] - 2.0 * dots[: stop - start] + c_sq[None, :]
            noise = 1e-12 * (x_sq[start:stop, None] + c_sq[None, :])
            d[d <= noise] = 0.0
            out[start:stop] = d
    return out


def _assign(X: np.ndarray, x_sq: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre (lowest index on ties) and the squared distance to it."""
    d = _sq_distances(X, x_sq, C)
    labels = np.argmin(d, axis=1)
    return labels.astype(np.int64), d[np.arange(len(labels)), labels]


def _kmeans_plusplus(X: np.ndarray, x_sq: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ seeding (as in scikit-learn: 2 + ln k trials per centre)."""
    n = X.shape[0]
    n_trials = 2 + int(np.log(k))
    chosen = [int(rng.integers(n))]
    closest = _sq_distances(X, x_sq, X[chosen])[:, 0]
    for _ in range(1, k):
        cumulative = np.cumsum(closest)
        potential = cumulative[-1]
        if potential <= 0.0:
            raise PlanktonlmInputError(
                InputProblem(
                    file="codebook pool",
                    message=f"only {len(chosen)} distinct vectors among {n} fragments, fewer than n_otus={k}",
                    expected="at least n_otus distinct vectors (lower profiles.n_otus)",
                )
            )
        # side="right" skips zero-width entries (points already at a centre, duplicates).
        candidates = np.searchsorted(cumulative, rng.random(n_trials) * potential, side="right")
        candidates = np.minimum(candidates, n - 1)
        d_cand = _sq_distances(X, x_sq, X[candidates])  # (n, n_trials)
        trial_closest = np.minimum(closest[:, None], d_cand)
        best = int(np.argmin(trial_closest.sum(axis=0)))
        chosen.append(int(candidates[best]))
        closest = trial_closest[:, best]
    return X[chosen].copy()


def _relocate_empty(labels: np.ndarray, min_dist: np.ndarray, k: int) -> int:
    """Give each empty cluster the farthest point from its own centre, in place.

    Points are taken in order of decreasing distance (lowest index first on ties), never
    from a cluster they would leave empty, never at distance 0 (that would copy a centre).
    Returns the number of clusters that stayed empty.
    """
    counts = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(counts == 0)
    if empty.size == 0:
        return 0
    order = np.argsort(-min_dist, kind="stable")
    pos = 0
    left_empty = 0
    for cluster in empty:
        while pos < len(order):
            point = order[pos]
            pos += 1
            if min_dist[point] > 0.0 and counts[labels[point]] > 1:
                counts[labels[point]] -= 1
                labels[point] = cluster
                counts[cluster] = 1
                break
        else:
            left_empty += 1
    return left_empty


def _update_centres(X: np.ndarray, labels: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Cluster means; a cluster with no point keeps its previous centre."""
    k = previous.shape[0]
    n = X.shape[0]
    one_hot = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
    sums = np.asarray(one_hot @ X)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    centres = previous.copy()
    filled = counts > 0
    centres[filled] = sums[filled] / counts[filled, None]
    return centres


def _lloyd(X: np.ndarray, x_sq: np.ndarray, centres: np.ndarray, max_iter: int):
    """Lloyd iterations until the assignment stops changing (exact, no tolerance)."""
    k = centres.shape[0]
    labels, min_dist = _assign(X, x_sq, centres)
    n_iter = 0
    converged = False
    while n_iter < max_iter:
        n_iter += 1
        if _relocate_empty(labels, min_dist, k):
            logger.warning("k-means: some clusters stayed empty (too few distinct vectors)")
        centres = _update_centres(X, labels, centres)
        new_labels, min_dist = _assign(X, x_sq, centres)
        if np.array_equal(new_labels, labels):
            labels = new_labels
            converged = True
            break
        if n_iter % 10 == 0:
            changed = int((new_labels != labels).sum())
            logger.info("k-means iteration %d: %d labels changed, inertia %.6g", n_iter, changed, min_dist.sum())
        labels = new_labels
    return centres, labels, float(min_dist.sum()), n_iter, converged


class EmbeddingCodebook(ClusterMixin, BaseEstimator):
    """K-means codebook of "OTUs" on L2-normalised vectors, bit-reproducible.

    Parameters
    ----------
    n_otus : number of clusters K.
    n_init : independent k-means++ starts; the lowest inertia wins (first on ties).
    max_iter : most Lloyd iterations per start.
    seed : seed of every random choice.
    normalize : scale each vector to unit length first (then squared euclidean distance is
        2 - 2 cos, i.e. clustering by direction, as is usual for embeddings).

    Attributes
    ----------
    cluster_centers_ : (n_otus, dim) float64 centres, in the normalised space.
    labels_ : OTU index of each training vector.
    inertia_ : sum of squared distances of training vectors to their centre.
    n_iter_ : Lloyd iterations of the winning start.
    n_features_in_ : vector dimension.
    """

    def __init__(self, n_otus: int = 64, n_init: int = 3, max_iter: int = 100, seed: int = 0, normalize: bool = True):
        self.n_otus = n_otus
        self.n_init = n_init
        self.max_iter = max_iter
        self.seed = seed
        self.normalize = normalize

    def _prepare(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"expected a 2-D array (fragments x dim), got shape {X.shape}")
        if not np.isfinite(X).all():
            bad = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
            raise ValueError(f"vector {bad} contains NaN or infinity")
        return _l2_normalise(X) if self.normalize else X

    def fit(self, X, y=None) -> EmbeddingCodebook:
        if int(self.n_otus) < 1 or int(self.n_init) < 1 or int(self.max_iter) < 1:
            raise ValueError("n_otus, n_init and max_iter must be >= 1")
        X = self._prepare(X)
        n, k = X.shape[0], int(self.n_otus)
        if n < k:
            raise PlanktonlmInputError(
                InputProblem(
                    file="codebook pool",
                    message=f"{n} fragments to fit {k} OTUs",
                    value=n,
                    expected=f"at least n_otus={k} fragments (lower profiles.n_otus or pool more reads)",
                )
            )
        x_sq = _row_sq_norms(X)
        best = None
        for i, child in enumerate(np.random.SeedSequence(int(self.seed)).spawn(int(self.n_init))):
            start = time.perf_counter()
            centres = _kmeans_plusplus(X, x_sq, k, np.random.default_rng(child))
            centres, labels, inertia, n_iter, converged = _lloyd(X, x_sq, centres, int(self.max_iter))
            status = "converged" if converged else "max_iter reached"
            elapsed = time.perf_counter() - start
            logger.info(
                "k-means start %d/%d: %d iterations (%s), inertia %.6g, %.1f s",
                *(i + 1, self.n_init, n_iter, status, inertia, elapsed),
            )
            if best is None or inertia < best[2]:
                best = (centres, labels, inertia, n_iter)
        self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_ = best
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Index (0-based) of the nearest OTU centre for each vector."""
        check_is_fitted(self, "cluster_centers_")
        X = self._prepare(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"vectors have dimension {X.shape[1]}, the codebook {self.n_features_in_}")
        return _assign(X, _row_sq_norms(X), self.cluster_centers_)[0]
