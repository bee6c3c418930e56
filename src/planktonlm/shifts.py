"""Community shifts vs environment: constrained ordination, variation partitioning, prediction.

Two complementary views of "how does the community shift with climate variables":

* **Distance-based redundancy analysis** (dbRDA; Legendre & Anderson 1999, McArdle &
  Anderson 2001). A samples x samples distance matrix D (Bray-Curtis, Hellinger, Aitchison)
  becomes the Gower-centred matrix ``G = -1/2 J D^2 J``; a set of explanatory variables with
  hat matrix H explains ``tr(HG) / tr(G)`` of the community variation, and the pseudo-F is
  ``(tr(HG)/q) / (tr((I-H)G)/(n-q-1))``. Marginal, conditional (partial) and forward-selected
  (Blanchet et al. 2008) effects, variation partitioning among groups of variables
  (temperature / other environment / space-time) and VIF report collinear drivers with their
  shared variance instead of crediting one of them. P-values come from permutations that
  respect the sampling design (:class:`GroupedPermutation`); partial tests permute residuals
  of the reduced model (Freedman & Lane 1983, as in McArdle & Anderson 2001 and vegan).
  All permutations of one test are evaluated at once with matrix products.
* **Predictive models in both directions**, scored by grouped cross-validation (cruise, else
  station, else time blocks: :func:`choose_cv_groups`): each environmental variable predicted
  from the (Hellinger / CLR transformed) community, and community axes / diversity predicted
  from the environment plus seasonal harmonics and a linear time trend. Every model is a
  ``StandardScaler + model`` pipeline; every profile is scored on identical splits.

Pure numpy / scipy / pandas / scikit-learn. The stage entry point is :func:`run_shifts`;
:func:`write_shift_tables` writes its tables.
"""

from __future__ import annotations

import logging
import math
import pickle
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.spatial.distance import pdist, squareform
from sklearn.base import BaseEstimator, clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path

logger = logging.getLogger(__name__)

DISTANCES = ("braycurtis", "hellinger", "aitchison", "euclidean")
FEATURE_TRANSFORMATIONS = ("hellinger", "clr")
MODELS = ("ridge", "pls", "rf")
PERMUTATION_MODES = ("auto", "blocks", "within", "free")
#: fewest distinct whole-group permutations for "auto" to swap whole groups (p >= 1/this)
MIN_BLOCK_PERMUTATIONS = 100
# grouped: repeated k-fold over whole groups; logo: leave one group out; loo: leave one sample out.
CV_SCHEMES = ("grouped", "logo", "loo")
# shared: every profile on the samples present in all of them; per_profile: each on its own samples.
PROFILE_SAMPLES = ("shared", "per_profile")
# Columns of samples metadata that run_shifts needs (latitude / longitude are used when present).
META_REQUIRED = ("cruise", "station", "datetime")


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftsConfig:
    """Settings of the shifts stage (config section ``shifts``); see config/README.md."""

    transformations: tuple[str, ...] = ("braycurtis", "hellinger", "aitchison")
    predict_transformations: tuple[str, ...] = ("hellinger", "clr")
    n_permutations: int = 999
    permutation_mode: str = "auto"
    alpha: float = 0.05
    models: tuple[str, ...] = ("ridge", "pls", "rf")
    n_repeats: int = 5
    n_splits: int = 5
    time_block_days: float = 60.0
    n_pcoa_axes: int = 3
    pcoa_transformation: str = "hellinger"
    temperature_variable: str = "temperature_c"
    rf_n_estimators: int = 200
    rf_max_features: float = 0.33
    pls_n_components: int = 2
    ridge_alphas: tuple[float, ...] = tuple(10.0**k for k in range(-2, 9))
    importance_repeats: int = 5
    importance_top_n: int = 20
    importance_max_features: int = 30
    cv_n_permutations: int = 99
    cv_permutation_models: tuple[str, ...] = ("ridge",)
    max_missing_fraction: float = 0.2
    clr_pseudocount: float = 0.5
    save_models: bool = True
    cv_schemes: tuple[str, ...] = ("grouped",)
    env_targets: tuple[str, ...] = ()
    env_drivers: tuple[str, ...] = ()
    profile_samples: str = "shared"

    def __post_init__(self) -> None:
        # YAML gives lists; tuples keep the config immutable and hashable.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        problems: list[InputProblem] = []

        def bad(key: str, value: object, expected: str) -> None:
            problems.append(
                InputProblem(file="config", column=f"shifts.{key}", value=value, message="invalid value", expected=expected)
            )

        for key, allowed in (
            ("transformations", DISTANCES),
            ("predict_transformations", FEATURE_TRANSFORMATIONS),
            ("models", MODELS),
            ("cv_permutation_models", MODELS),
            ("cv_schemes", CV_SCHEMES),
        ):
            values = getattr(self, key)
            if any(v not in allowed for v in values) or len(set(values)) != len(values):
                bad(key, values, f"distinct values from {list(allowed)}")
        if not self.cv_schemes:
            bad("cv_schemes", self.cv_schemes, f"at least one of {list(CV_SCHEMES)}")
        for key in ("env_targets", "env_drivers"):
            names = getattr(self, key)
            if any(not isinstance(v, str) or not v for v in names) or len(set(names)) != len(names):
                bad(key, names, "distinct variable names (empty list = all)")
        if self.profile_samples not in PROFILE_SAMPLES:
            bad("profile_samples", self.profile_samples, f"one of {list(PROFILE_SAMPLES)}")
        if self.pcoa_transformation not in DISTANCES:
            bad("pcoa_transformation", self.pcoa_transformation, f"one of {list(DISTANCES)}")
        if self.permutation_mode not in PERMUTATION_MODES:
            bad("permutation_mode", self.permutation_mode, f"one of {list(PERMUTATION_MODES)}")
        if not 0 < self.alpha < 1:
            bad("alpha", self.alpha, "a number between 0 and 1")
        for key in ("n_permutations", "cv_n_permutations", "importance_repeats", "importance_top_n"):
            if getattr(self, key) < 0:
                bad(key, getattr(self, key), "an integer >= 0")
        for key in ("n_repeats", "n_pcoa_axes", "rf_n_estimators", "pls_n_components", "importance_max_features"):
            if getattr(self, key) < 1:
                bad(key, getattr(self, key), "an integer >= 1")
        if self.n_splits < 2:
            bad("n_splits", self.n_splits, "an integer >= 2")
        if self.time_block_days <= 0:
            bad("time_block_days", self.time_block_days, "a positive number of days")
        if not 0 < self.rf_max_features <= 1:
            bad("rf_max_features", self.rf_max_features, "a fraction in (0, 1]")
        if not 0 <= self.max_missing_fraction < 1:
            bad("max_missing_fraction", self.max_missing_fraction, "a fraction in [0, 1)")
        if self.clr_pseudocount <= 0:
            bad("clr_pseudocount", self.clr_pseudocount, "a positive number")
        if not self.ridge_alphas or any(a <= 0 for a in self.ridge_alphas):
            bad("ridge_alphas", self.ridge_alphas, "positive numbers")
        if problems:
            raise PlanktonlmInputError(problems)


# ----------------------------------------------------------------------------------------------
# Small transforms (ecology.py has the public versions; these stay private to keep stages apart)
# ----------------------------------------------------------------------------------------------


def _relative(counts: np.ndarray) -> np.ndarray:
    return counts / counts.sum(axis=1, keepdims=True)


def _clr(counts: np.ndarray, pseudocount: float) -> np.ndarray:
    # Pseudocount scaled to the table (0.5 of the smallest positive value): 0.5 for counts,
    # and still sensible for relative abundances.
    smallest = counts[counts > 0].min()
    logs = np.log(counts + pseudocount * smallest)
    return logs - logs.mean(axis=1, keepdims=True)


def community_features(counts: np.ndarray, transformation: str, *, clr_pseudocount: float = 0.5) -> np.ndarray:
    """Samples x features matrix for prediction: ``hellinger`` (sqrt of relative abundance) or ``clr``."""
    counts = np.asarray(counts, dtype=float)
    if transformation == "hellinger":
        return np.sqrt(_relative(counts))
    if transformation == "clr":
        return _clr(counts, clr_pseudocount)
    raise ValueError(f"unknown community transformation {transformation!r}")


def community_distance(counts: np.ndarray, transformation: str, *, clr_pseudocount: float = 0.5) -> np.ndarray:
    """Samples x samples distances: Bray-Curtis on relative abundances, Hellinger, Aitchison (CLR), Euclidean."""
    counts = np.asarray(counts, dtype=float)
    if transformation == "braycurtis":
        condensed = pdist(_relative(counts), metric="braycurtis")
    elif transformation == "hellinger":
        condensed = pdist(np.sqrt(_relative(counts)), metric="euclidean")
    elif transformation == "aitchison":
        condensed = pdist(_clr(counts, clr_pseudocount), metric="euclidean")
    elif transformation == "euclidean":
        condensed = pdist(counts, metric="euclidean")
    else:
        raise ValueError(f"unknown distance {transformation!r}")
    return squareform(condensed)


def gower_centered(distances: np.ndarray) -> np.ndarray:
    """Gower's centred matrix ``G = J (-D^2/2) J`` with ``J = I - 11'/n``; ``tr(G)`` is the total variation."""
    a = -0.5 * np.asarray(distances, dtype=float) ** 2
    return a - a.mean(axis=0, keepdims=True) - a.mean(axis=1, keepdims=True) + a.mean()


def _pcoa(distances: np.ndarray, n_axes: int) -> np.ndarray:
    """Principal coordinates (samples x axes) with a fixed sign: each axis's largest |score| positive."""
    values, vectors = np.linalg.eigh(gower_centered(distances))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = np.flatnonzero(values > 1e-10 * max(values[0], 1e-300))[:n_axes]
    scores = vectors[:, keep] * np.sqrt(values[keep])
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), np.arange(scores.shape[1])])
    return scores * np.where(signs == 0, 1.0, signs)


def _default_community_targets(counts: np.ndarray, samples: pd.Index, cfg: ShiftsConfig) -> pd.DataFrame:
    """PCoA axes + Shannon / Gini-Simpson diversity, used when no ecology table is given."""
    axes = _pcoa(community_distance(counts, cfg.pcoa_transformation, clr_pseudocount=cfg.clr_pseudocount), cfg.n_pcoa_axes)
    table = pd.DataFrame(axes, index=samples, columns=[f"pcoa{k + 1}" for k in range(axes.shape[1])])
    p = _relative(np.asarray(counts, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        table["shannon"] = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    table["simpson"] = 1.0 - (p**2).sum(axis=1)
    return table


# ----------------------------------------------------------------------------------------------
# Linear-algebra helpers
# ----------------------------------------------------------------------------------------------


def adjusted_r2(r2: float, n: int, m: int) -> float:
    """Ezekiel's adjusted R2, ``1 - (1 - R2)(n - 1)/(n - m - 1)``; unbiased for RDA (Peres-Neto et al. 2006)."""
    if n - m - 1 <= 0:
        return float("nan")
    return 1.0 - (1.0 - r2) * (n - 1) / (n - m - 1)


def _standardize(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean(axis=0)
    sd = values.std(axis=0)
    return centred / np.where(sd > 0, sd, 1.0)


def _basis(x: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of a centred, standardised matrix (rank-aware).

    The absolute tolerance suits standardised columns (norm sqrt(n)); residualised columns of
    a variable collinear with the conditioning set fall below it and add no dimension.
    """
    n = x.shape[0]
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] == 0:
        return np.zeros((n, 0))
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, s > 1e-8 * math.sqrt(n)]


@dataclass(frozen=True)
class _TestResult:
    ss: float  # variation explained by the tested term (given the conditioning term)
    r2: float  # ss / total variation
    df_num: int
    df_den: int
    F: float
    p_value: float


class _PermutationEngine:
    """Pseudo-F tests on one Gower matrix for a fixed set of permutations, all at once.

    For a permutation p (row i of the permuted data is sample p[i]) the permuted response is
    ``G[p][:, p]`` and ``tr(H G[p][:, p]) = tr(Q[p^-1] Q[p^-1]' G)`` for ``H = QQ'``: only the small
    basis Q is permuted, and one batched matrix product scores every permutation.
    """

    def __init__(self, gower: np.ndarray, perms: np.ndarray):
        self.gower = gower
        self.n = gower.shape[0]
        self.total = float(np.trace(gower))
        self.inverse = np.argsort(perms, axis=1) if perms.size else np.zeros((0, self.n), dtype=np.intp)

    def explained(self, x: np.ndarray) -> tuple[float, int]:
        """Variation explained by the columns of x (standardised), and their rank."""
        q = _basis(x)
        return float(np.sum((self.gower @ q) * q)), q.shape[1]

    def test(self, x: np.ndarray, z: np.ndarray | None = None) -> _TestResult:
        """Test x (n x q) given covariates z (n x p): pseudo-F and permutation p-value.

        Partial tests permute the residuals of the reduced model (Freedman-Lane): with
        ``Gr = (I-Hz) G (I-Hz)`` and ``Hr`` the hat matrix of x residualised on z,
        ``F* = (tr(Hr Gr*)/q) / ((tr(Gr) - tr(Hz Gr*) - tr(Hr Gr*))/(n-p-q-1))``.
        """
        n = self.n
        qz = _basis(z) if z is not None else np.zeros((n, 0))
        xr = x - qz @ (qz.T @ x) if qz.shape[1] else x
        qr = _basis(xr)
        q, p = qr.shape[1], qz.shape[1]
        df_den = n - 1 - p - q
        ss_x = float(np.sum((self.gower @ qr) * qr)) if q else 0.0
        ss_z = float(np.sum((self.gower @ qz) * qz)) if p else 0.0
        ss_res = self.total - ss_z - ss_x
        r2 = ss_x / self.total
        if q == 0 or df_den < 1 or ss_res <= 0:
            return _TestResult(ss_x, r2, q, df_den, float("nan"), float("nan"))
        f_obs = (ss_x / q) / (ss_res / df_den)
        if not len(self.inverse):
            return _TestResult(ss_x, r2, q, df_den, f_obs, float("nan"))
        if p:
            proj = np.eye(n) - qz @ qz.T
            g_red = proj @ self.gower @ proj
        else:
            g_red = self.gower
        f_perm = self._permuted_f(g_red, qr, qz, df_den)
        # Relative tolerance: the identity permutation must tie with the observed F.
        exceed = int(np.count_nonzero(f_perm >= f_obs - 1e-9 * abs(f_obs)))
        return _TestResult(ss_x, r2, q, df_den, f_obs, (exceed + 1) / (len(f_perm) + 1))

    def _permuted_f(self, g_red: np.ndarray, qr: np.ndarray, qz: np.ndarray, df_den: int) -> np.ndarray:
        n, q, p = self.n, qr.shape[1], qz.shape[1]
        n_perm = len(self.inverse)
        num = np.empty(n_perm)
        cov = np.zeros(n_perm)
        chunk = max(1, int(4_000_000 // (n * (q + p))))  # bounds the (chunk, n, q+p) temporaries
        for start in range(0, n_perm, chunk):
            inv = self.inverse[start : start + chunk]
            qr_p = qr[inv]
            num[start : start + len(inv)] = np.einsum("bic,bic->b", np.matmul(g_red, qr_p), qr_p)
            if p:
                qz_p = qz[inv]
                cov[start : start + len(inv)] = np.einsum("bic,bic->b", np.matmul(g_red, qz_p), qz_p)
        den = float(np.trace(g_red)) - cov - num
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (num / q) / (den / df_den)
        # A non-positive residual (possible with non-Euclidean G) counts as an extreme value.
        return np.where(den > 0, f, np.inf)


# ----------------------------------------------------------------------------------------------
# Permutations that respect the design
# ----------------------------------------------------------------------------------------------


class GroupedPermutation:
    """Random permutations of samples that respect a grouping (stations, cruises, time blocks).

    A permutation is an index array ``p``: after permuting, row ``i`` holds sample ``p[i]``.

    ``mode``:

    * ``"blocks"``: whole groups swap places. A group moves onto another group of the same
      size, member by member in ``order`` (e.g. sampling time), so samples that share a group
      still share one afterwards and keep their order. A group whose size no other group has
      stays in place.
    * ``"within"``: samples are shuffled inside their own group; groups never mix.
    * ``"free"``: any permutation (groups ignored).
    * ``"auto"`` (default): ``"blocks"`` when all groups have the same size (e.g. stations
      sampled on the same dates), or more generally when every group shares its size with at
      least one other group (e.g. Tara stations of 1 or 2 depth layers), so that every group
      can move: the between-group signal is tested and the within-group dependence kept, as
      long as the groups allow at least ``MIN_BLOCK_PERMUTATIONS`` distinct swaps (5 equal
      groups give 120). Otherwise ``"within"``, which only tests the within-group part of an effect (a variable
      constant within groups cannot be tested that way: its p-value is near 1).
      ``"free"`` when no groups are given.

    ``n_distinct`` is the number of distinct permutations of the scheme; p-values cannot go
    below about ``1/n_distinct``.
    """

    def __init__(self, groups: np.ndarray | None = None, mode: str = "auto", order: np.ndarray | None = None):
        if mode not in PERMUTATION_MODES:
            raise ValueError(f"mode must be one of {PERMUTATION_MODES}, got {mode!r}")
        self.groups = None if groups is None else np.asarray(groups)
        self.mode = mode
        self.order = order
        codes = None
        if self.groups is not None:
            _, codes = np.unique(self.groups, return_inverse=True)
        if mode == "free" or codes is None:
            self.scheme = "free"
        elif mode == "auto":
            sizes = np.bincount(codes)
            groups_per_size = np.bincount(sizes)[sizes]
            movable = len(sizes) > 1 and np.all(groups_per_size >= 2)
            # Too few groups to swap (two stations give two arrangements): no p-value could fall
            # below 1/2, so test within groups instead.
            n_block = math.prod(math.factorial(int(c)) for c in np.bincount(sizes)[1:])
            self.scheme = "blocks" if movable and n_block >= MIN_BLOCK_PERMUTATIONS else "within"
        else:
            self.scheme = mode
        self._codes = codes
        if codes is not None:
            keys = np.arange(len(codes)) if order is None else np.asarray(order)
            # Members of each group in (order, position) order.
            ranked = np.lexsort((np.arange(len(codes)), keys, codes))
            self._members = np.split(ranked, np.cumsum(np.bincount(codes))[:-1])

    @property
    def n_samples(self) -> int:
        return len(self._codes) if self._codes is not None else 0

    @property
    def n_distinct(self) -> int:
        if self.scheme == "free":
            return math.factorial(len(self._codes)) if self._codes is not None else 0
        sizes = np.bincount(self._codes)
        if self.scheme == "within":
            return math.prod(math.factorial(int(s)) for s in sizes)
        return math.prod(math.factorial(int(c)) for c in np.bincount(sizes)[1:])

    def draw(self, n_permutations: int, seed: int, n_samples: int | None = None) -> np.ndarray:
        """``n_permutations`` random permutations, shape (n_permutations, n). Seeded, no global state."""
        rng = np.random.default_rng(seed)
        n = self.n_samples if self._codes is not None else int(n_samples or 0)
        if self._codes is None and n_samples is None:
            raise ValueError("free permutations without groups need n_samples")
        if n_permutations == 0:
            return np.zeros((0, n), dtype=np.intp)
        if self.scheme == "free":
            return np.argsort(rng.random((n_permutations, n)), axis=1, kind="stable")
        if self.scheme == "within":
            # Sorting by (group code + uniform in [0, 1)) shuffles members inside each group.
            ranked = np.concatenate(self._members)
            keys = self._codes[ranked][None, :] + rng.random((n_permutations, n))
            perms = np.empty((n_permutations, n), dtype=np.intp)
            perms[:, ranked] = ranked[np.argsort(keys, axis=1, kind="stable")]
            return perms
        sizes = np.array([len(m) for m in self._members])
        classes = [np.flatnonzero(sizes == s) for s in np.unique(sizes)]
        perms = np.tile(np.arange(n), (n_permutations, 1))
        for b in range(n_permutations):
            for members_of_class in classes:
                if len(members_of_class) < 2:
                    continue
                for target, source in zip(members_of_class, rng.permutation(members_of_class)):
                    perms[b, self._members[target]] = self._members[source]
        return perms


# ----------------------------------------------------------------------------------------------
# dbRDA
# ----------------------------------------------------------------------------------------------


def _env_frame(env: Any) -> pd.DataFrame:
    if isinstance(env, pd.DataFrame):
        return env
    values = np.asarray(env, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    return pd.DataFrame(values, columns=[f"x{j}" for j in range(values.shape[1])])


def _check_distance_matrix(d: np.ndarray, name: str) -> list[InputProblem]:
    problems = []
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        return [InputProblem(file=name, message="distance matrix is not square", value=d.shape, expected="n x n")]
    if not np.all(np.isfinite(d)):
        problems.append(InputProblem(file=name, message="distance matrix has missing or infinite values"))
    elif np.any(d < 0) or not np.allclose(d, d.T, rtol=1e-7, atol=1e-10) or np.any(np.abs(np.diag(d)) > 1e-10):
        problems.append(
            InputProblem(file=name, message="not a distance matrix", expected="symmetric, non-negative, zero diagonal")
        )
    return problems


class DbRDA(BaseEstimator):
    """Distance-based redundancy analysis with permutation tests and forward selection.

    Parameters
    ----------
    metric : "precomputed" (fit's first argument is an n x n distance matrix) or one of
        braycurtis / hellinger / aitchison / euclidean (first argument is a samples x features
        community table).
    n_permutations : permutations per test (0 = no p-values).
    alpha : significance level of forward selection.
    permutation : GroupedPermutation mode (auto / blocks / within / free), applied to the
        ``groups`` given to fit.
    forward : run forward selection (Blanchet et al. 2008).
    clr_pseudocount : pseudocount fraction for metric="aitchison".
    random_state : seed of the permutations (one set, shared by every test of a fit).

    Environmental variables are standardised; samples with a missing value in any of them are
    dropped (``n_dropped_``).

    Learned attributes: ``n_samples_``, ``n_dropped_``, ``sample_mask_``, ``feature_names_in_``,
    ``n_features_in_``, ``total_variation_`` (tr G), ``r2_``, ``r2_adj_``, ``F_``,
    ``p_value_`` (global model), ``marginal_`` (each variable alone), ``conditional_`` (each
    given all others: its unique fraction), ``forward_`` (selection steps),
    ``selected_variables_``, ``eigenvalues_`` / ``site_scores_`` (constrained axes),
    ``permutation_scheme_``, ``n_distinct_permutations_``.
    """

    def __init__(
        self,
        metric: str = "precomputed",
        n_permutations: int = 999,
        alpha: float = 0.05,
        permutation: str = "auto",
        forward: bool = True,
        clr_pseudocount: float = 0.5,
        random_state: int = 0,
    ):
        self.metric = metric
        self.n_permutations = n_permutations
        self.alpha = alpha
        self.permutation = permutation
        self.forward = forward
        self.clr_pseudocount = clr_pseudocount
        self.random_state = random_state

    def fit(self, X: Any, y: Any, *, groups: Any = None, order: Any = None) -> DbRDA:
        """X: distances (metric="precomputed") or community table; y: environment (samples x variables)."""
        if self.metric != "precomputed" and self.metric not in DISTANCES:
            raise ValueError(f"metric must be 'precomputed' or one of {DISTANCES}, got {self.metric!r}")
        env = _env_frame(y)
        problems = []
        for column in env.columns:
            if not pd.api.types.is_numeric_dtype(env[column]):
                problems.append(InputProblem(file="environment", column=str(column), message="not numeric"))
        if problems:
            raise PlanktonlmInputError(problems)
        data = np.asarray(X, dtype=float)
        if len(data) != len(env):
            raise PlanktonlmInputError(
                InputProblem(file="environment", message="sample count differs from the community data", value=len(env), expected=str(len(data)))
            )
        mask = env.notna().all(axis=1).to_numpy()
        values = env.to_numpy(dtype=float)[mask]
        if self.metric == "precomputed":
            problems = _check_distance_matrix(data, "distance matrix")
            if problems:
                raise PlanktonlmInputError(problems)
            distances = data[np.ix_(mask, mask)]
        else:
            distances = community_distance(data[mask], self.metric, clr_pseudocount=self.clr_pseudocount)
        n = int(mask.sum())
        if n < 3:
            raise PlanktonlmInputError(
                InputProblem(file="environment", message="fewer than 3 samples without missing values", value=n)
            )
        constant = [str(c) for c, sd in zip(env.columns, values.std(axis=0)) if not sd > 0]
        if constant:
            raise PlanktonlmInputError(
                [InputProblem(file="environment", column=c, message="variable is constant over the complete samples") for c in constant]
            )
        if (~mask).any():
            logger.info("dbRDA: dropped %d of %d samples with missing environmental values", int((~mask).sum()), len(mask))
        x = _standardize(values)
        names = [str(c) for c in env.columns]
        m = len(names)

        for name, values_per_sample in (("groups", groups), ("order", order)):
            if values_per_sample is not None and len(values_per_sample) != len(mask):
                raise ValueError(f"{name} has {len(values_per_sample)} entries for {len(mask)} samples")
        group_labels = None if groups is None else np.asarray(groups)[mask]
        order_keys = None if order is None else np.asarray(order)[mask]
        permutation = GroupedPermutation(group_labels, mode=self.permutation, order=order_keys)
        perms = permutation.draw(self.n_permutations, self.random_state, n_samples=n)
        engine = _PermutationEngine(gower_centered(distances), perms)

        full = engine.test(x)
        r2_adj_full = adjusted_r2(full.r2, n, full.df_num)
        marginal, conditional = [], []
        for j, name in enumerate(names):
            res = engine.test(x[:, [j]])
            marginal.append(_test_row(name, res, adjusted_r2(res.r2, n, res.df_num), n))
            if m > 1:
                others = np.delete(x, j, axis=1)
                res = engine.test(x[:, [j]], others)
                ss_others, rank_others = engine.explained(others)
                unique_adj = r2_adj_full - adjusted_r2(ss_others / engine.total, n, rank_others)
                conditional.append(_test_row(name, res, unique_adj, n))
            else:
                conditional.append(marginal[-1])
        self.n_samples_ = n
        self.n_dropped_ = int((~mask).sum())
        self.sample_mask_ = mask
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = m
        self.total_variation_ = engine.total
        self.r2_, self.r2_adj_, self.F_, self.p_value_ = full.r2, r2_adj_full, full.F, full.p_value
        self.marginal_ = pd.DataFrame(marginal, columns=_TEST_COLUMNS)
        self.conditional_ = pd.DataFrame(conditional, columns=_TEST_COLUMNS)
        steps = self._forward_selection(engine, x, names, full, r2_adj_full) if self.forward else []
        self.forward_ = pd.DataFrame(steps, columns=_FORWARD_COLUMNS)
        self.selected_variables_ = [s["variable"] for s in steps if s["step"] > 0 and s["selected"]]
        basis = _basis(x)
        eigenvalues, vectors = np.linalg.eigh(basis.T @ engine.gower @ basis)
        desc = np.argsort(eigenvalues)[::-1]
        self.eigenvalues_ = eigenvalues[desc]
        self.site_scores_ = basis @ vectors[:, desc] * np.sqrt(np.clip(self.eigenvalues_, 0, None))
        self.permutation_scheme_ = permutation.scheme
        self.n_distinct_permutations_ = permutation.n_distinct
        return self

    def _significant(self, res: _TestResult) -> bool:
        # Without permutations only the adjusted-R2 rule applies.
        return bool(np.isfinite(res.F)) and (self.n_permutations == 0 or res.p_value <= self.alpha)

    def _forward_selection(
        self, engine: _PermutationEngine, x: np.ndarray, names: list[str], full: _TestResult, r2_adj_full: float
    ) -> list[dict]:
        """Blanchet et al. (2008): only if the global model is significant; at each step add the
        variable that raises adjusted R2 most, provided its partial test (given the variables
        already selected) has p <= alpha and the adjusted R2 stays at or below the global one."""
        n = engine.n
        global_ok = self._significant(full)
        steps = [
            dict(step=0, variable="<all>", r2=full.r2, r2_adj=r2_adj_full, r2_adj_gain=float("nan"), F=full.F,
                 p_value=full.p_value, selected=global_ok, stop_reason="" if global_ok else "global model not significant")
        ]
        if not global_ok:
            return steps
        selected: list[int] = []
        remaining = list(range(len(names)))
        r2_adj_now = 0.0
        while remaining:
            scores = []
            for j in remaining:
                ss, rank = engine.explained(x[:, selected + [j]])
                scores.append((adjusted_r2(ss / engine.total, n, rank), ss / engine.total))
            best = int(np.nanargmax([s[0] for s in scores])) if not all(np.isnan(s[0]) for s in scores) else 0
            j = remaining[best]
            r2_adj_cum, r2_cum = scores[best]
            res = engine.test(x[:, [j]], x[:, selected] if selected else None)
            row = dict(step=len(selected) + 1, variable=names[j], r2=r2_cum, r2_adj=r2_adj_cum,
                       r2_adj_gain=r2_adj_cum - r2_adj_now, F=res.F, p_value=res.p_value, selected=False, stop_reason="")
            if not self._significant(res):
                row["stop_reason"] = "p_value > alpha" if np.isfinite(res.F) else "no independent variation"
            elif r2_adj_cum > r2_adj_full + 1e-12:
                row["stop_reason"] = "r2_adj above global model"
            else:
                row["selected"] = True
            steps.append(row)
            if not row["selected"]:
                break
            selected.append(j)
            remaining.remove(j)
            r2_adj_now = r2_adj_cum
        return steps


_TEST_COLUMNS = ["variable", "r2", "r2_adj", "F", "df_num", "df_den", "p_value", "n_samples"]
_FORWARD_COLUMNS = ["step", "variable", "r2", "r2_adj", "r2_adj_gain", "F", "p_value", "selected", "stop_reason"]


def _test_row(name: str, res: _TestResult, r2_adj: float, n: int) -> dict:
    return dict(variable=name, r2=res.r2, r2_adj=r2_adj, F=res.F, df_num=res.df_num, df_den=res.df_den,
                p_value=res.p_value, n_samples=n)


# ----------------------------------------------------------------------------------------------
# Variation partitioning and VIF
# ----------------------------------------------------------------------------------------------

VARPART_COLUMNS = ["fraction", "kind", "groups", "r2", "r2_adj", "F", "df_num", "df_den", "p_value", "n_samples", "n_dropped"]


def partition_variation(
    distances: np.ndarray,
    tables: Mapping[str, pd.DataFrame],
    *,
    n_permutations: int = 999,
    seed: int = 0,
    groups: Any = None,
    permutation_mode: str = "auto",
    order: Any = None,
) -> pd.DataFrame:
    """Variation partitioning (Borcard et al. 1992; Peres-Neto et al. 2006) of a distance matrix
    among named groups of explanatory variables (any number of groups, usually 2-3).

    Rows (``kind``): ``unique`` (explained by one group only: [a], [b], [c]), ``shared`` (jointly
    by exactly the groups named in ``fraction``, joined by ``&``; not testable), ``residual``;
    unique + shared + residual sum to 1 in both ``r2`` and ``r2_adj``. Also ``group`` rows
    ("<name> (whole group)": one group alone) and an ``all`` row ("all groups"), which overlap
    the fractions. Unique fractions are
    tested given the other groups (Freedman-Lane), groups alone and all with marginal tests.
    Samples with a missing value in any variable are dropped (``n_dropped``).
    """
    names = list(tables)
    if not names:
        raise ValueError("partition_variation needs at least one group of variables")
    joined = pd.concat([_env_frame(tables[g]).reset_index(drop=True) for g in names], axis=1)
    widths = [tables[g].shape[1] for g in names]
    mask = joined.notna().all(axis=1).to_numpy()
    values = joined.to_numpy(dtype=float)[mask]
    n = int(mask.sum())
    d = np.asarray(distances, dtype=float)[np.ix_(mask, mask)]
    x = _standardize(values)
    spans = np.split(np.arange(x.shape[1]), np.cumsum(widths)[:-1])
    group_labels = None if groups is None else np.asarray(groups)[mask]
    order_keys = None if order is None else np.asarray(order)[mask]
    perms = GroupedPermutation(group_labels, mode=permutation_mode, order=order_keys).draw(n_permutations, seed, n_samples=n)
    engine = _PermutationEngine(gower_centered(d), perms)
    k = len(names)
    full_mask = (1 << k) - 1

    def columns(bits: int) -> np.ndarray:
        return np.concatenate([spans[i] for i in range(k) if bits >> i & 1] or [np.zeros(0, dtype=int)])

    r2, r2_adj = {0: 0.0}, {0: 0.0}
    for bits in range(1, full_mask + 1):
        ss, rank = engine.explained(x[:, columns(bits)])
        r2[bits], r2_adj[bits] = ss / engine.total, adjusted_r2(ss / engine.total, n, rank)

    def fraction(values: dict[int, float], bits: int) -> float:
        # Moebius inversion of h(U) = total - f(complement of U): the part explained by
        # exactly the groups in `bits` and by no other group.
        total = values[full_mask]
        return sum(
            (-1) ** (bin(bits).count("1") - bin(sub).count("1")) * (total - values[full_mask & ~sub]) if sub else 0.0
            for sub in _submasks(bits)
        )

    rows = []
    label = lambda bits: "&".join(names[i] for i in range(k) if bits >> i & 1)  # noqa: E731
    for bits in sorted(range(1, full_mask + 1), key=lambda b: (bin(b).count("1"), b)):
        unique = bin(bits).count("1") == 1
        res = None
        if unique:
            others = x[:, columns(full_mask & ~bits)]
            res = engine.test(x[:, columns(bits)], others if others.shape[1] else None)
        rows.append(_varpart_row(label(bits), "unique" if unique else "shared", label(bits),
                                 fraction(r2, bits), fraction(r2_adj, bits), res, n, mask))
    rows.append(_varpart_row("residual", "residual", "", 1.0 - r2[full_mask], 1.0 - r2_adj[full_mask], None, n, mask))
    for i in range(k):
        res = engine.test(x[:, spans[i]])
        rows.append(_varpart_row(f"{names[i]} (whole group)", "group", names[i], r2[1 << i], r2_adj[1 << i], res, n, mask))
    res = engine.test(x)
    rows.append(_varpart_row("all groups", "all", label(full_mask), r2[full_mask], r2_adj[full_mask], res, n, mask))
    return pd.DataFrame(rows, columns=VARPART_COLUMNS)


def _submasks(bits: int) -> Iterator[int]:
    sub = bits
    while True:
        yield sub
        if sub == 0:
            return
        sub = (sub - 1) & bits


def _varpart_row(fraction: str, kind: str, groups: str, r2: float, r2_adj: float, res: _TestResult | None, n: int, mask: np.ndarray) -> dict:
    nan = float("nan")
    return dict(fraction=fraction, kind=kind, groups=groups, r2=r2, r2_adj=r2_adj,
                F=res.F if res else nan, df_num=res.df_num if res else np.nan, df_den=res.df_den if res else np.nan,
                p_value=res.p_value if res else nan, n_samples=n, n_dropped=int((~mask).sum()))


def variance_inflation(env: pd.DataFrame) -> pd.DataFrame:
    """VIF per variable, ``1/(1 - R2_j)`` with R2_j from regressing j on the others (complete samples)."""
    complete = env.dropna()
    x = _standardize(complete.to_numpy(dtype=float))
    rows = []
    for j, name in enumerate(env.columns):
        others = np.delete(x, j, axis=1)
        if others.shape[1]:
            q = _basis(others)
            r2 = float(np.sum((q.T @ x[:, j]) ** 2) / np.sum(x[:, j] ** 2))
        else:
            r2 = 0.0
        vif = 1.0 / (1.0 - r2) if r2 < 1 - 1e-12 else float("inf")
        rows.append(dict(variable=str(name), vif=vif, r2_others=r2, n_samples=len(complete)))
    return pd.DataFrame(rows, columns=["variable", "vif", "r2_others", "n_samples"])


# ----------------------------------------------------------------------------------------------
# Grouped cross-validation
# ----------------------------------------------------------------------------------------------


def choose_cv_groups(meta: pd.DataFrame, *, time_block_days: float = 60.0, n_fallback_blocks: int = 5) -> tuple[np.ndarray, str]:
    """Groups for CV and permutations: cruise if >1 cruise, else station if >1, else time blocks.

    Time blocks are consecutive windows of ``time_block_days`` from the first sample; if all
    samples fall in one window, ``n_fallback_blocks`` blocks of equal sample count in time order.
    """
    if meta["cruise"].nunique() > 1:
        return meta["cruise"].astype(str).to_numpy(), "cruise"
    if meta["station"].nunique() > 1:
        return meta["station"].astype(str).to_numpy(), "station"
    times = pd.to_datetime(meta["datetime"], utc=True)
    if times.isna().any():
        raise PlanktonlmInputError(InputProblem(
            file="samples metadata", column="datetime", value=int(times.isna().sum()),
            message="one cruise and one station: cross-validation needs time blocks, but samples have no date",
            expected="a date for every sample, or more than one station or cruise"))
    days = ((times - times.min()).dt.total_seconds() / 86400.0).to_numpy()
    blocks = np.floor(days / time_block_days).astype(int)
    if len(np.unique(blocks)) < 2:
        rank = np.argsort(np.argsort(days, kind="stable"), kind="stable")
        blocks = rank * min(n_fallback_blocks, len(days)) // len(days)
    return np.array([f"block_{b:04d}" for b in blocks]), "time_block"


def grouped_fold_ids(groups: Any, n_splits: int, n_repeats: int, seed: int) -> np.ndarray:
    """Fold number of every sample for every repeat, shape (repeats, samples); groups never split.

    With more groups than ``n_splits``: per repeat, groups are taken in a seeded random order
    and each goes to the fold with the fewest samples so far (GroupKFold balancing with a
    shuffled group order). With ``n_splits`` groups or fewer: leave-one-group-out, one repeat
    (all repeats would be the same).
    """
    labels, codes = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = len(labels)
    if n_groups < 2:
        raise ValueError("grouped cross-validation needs at least 2 groups")
    if n_groups <= n_splits:
        return codes[None, :].copy()
    sizes = np.bincount(codes)
    rng = np.random.default_rng(seed)
    folds = np.empty((n_repeats, len(codes)), dtype=np.intp)
    for r in range(n_repeats):
        fold_of_group = np.empty(n_groups, dtype=np.intp)
        load = np.zeros(n_splits)
        for g in rng.permutation(n_groups):
            f = int(np.argmin(load))
            fold_of_group[g] = f
            load[f] += sizes[g]
        folds[r] = fold_of_group[codes]
    return folds


def cv_fold_ids(scheme: str, groups: Any, *, n_splits: int, n_repeats: int, seed: int) -> np.ndarray:
    """Fold ids (repeats x samples) of a CV scheme: ``grouped`` (:func:`grouped_fold_ids`),
    ``logo`` (leave one group out: one fold per group) or ``loo`` (leave one sample out)."""
    groups = np.asarray(groups)
    if scheme == "grouped":
        return grouped_fold_ids(groups, n_splits, n_repeats, seed)
    if scheme == "logo":
        return np.unique(groups, return_inverse=True)[1][None, :].astype(np.intp)
    if scheme == "loo":
        return np.arange(len(groups), dtype=np.intp)[None, :]
    raise ValueError(f"unknown CV scheme {scheme!r}; expected one of {CV_SCHEMES}")


def iter_grouped_splits(fold_row: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(fold, train indices, test indices) of one repeat; folds with an empty train or test set are skipped."""
    for fold in np.unique(fold_row):
        test = np.flatnonzero(fold_row == fold)
        train = np.flatnonzero(fold_row != fold)
        if len(train) and len(test):
            yield int(fold), train, test


def make_model(name: str, cfg: ShiftsConfig, *, n_samples: int, n_features: int, seed: int) -> Pipeline:
    """``StandardScaler + model`` pipeline: ridge (RidgeCV, efficient LOO over ``ridge_alphas``),
    pls (PLSRegression, ``pls_n_components`` capped by the data), rf (seeded random forest, n_jobs=1)."""
    if name == "ridge":
        model = RidgeCV(alphas=np.array(cfg.ridge_alphas, dtype=float))
    elif name == "pls":
        # A fold's training set is smaller than n_samples; keep a margin of 2.
        components = max(1, min(cfg.pls_n_components, n_features, n_samples - 2))
        model = PLSRegression(n_components=components, scale=False)
    elif name == "rf":
        model = RandomForestRegressor(
            n_estimators=cfg.rf_n_estimators, max_features=cfg.rf_max_features, random_state=seed, n_jobs=1
        )
    else:
        raise ValueError(f"unknown model {name!r}; expected one of {MODELS}")
    return Pipeline([("scale", StandardScaler()), ("model", model)])


@dataclass(frozen=True)
class CVResult:
    """Outcome of :func:`cross_validate_target` (R2 of pooled out-of-fold predictions per repeat)."""

    r2: np.ndarray
    n_splits: int
    predictions: pd.DataFrame  # sample, repeat, fold, observed, predicted
    importances: pd.DataFrame  # feature, importance_mean, importance_sd (all screened features)
    p_perm: float
    n_permutations: int


def _r2(observed: np.ndarray, predicted: np.ndarray) -> float:
    ss_tot = float(np.sum((observed - observed.mean()) ** 2))
    return 1.0 - float(np.sum((observed - predicted) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def _oof_predict(estimator: Pipeline, x: np.ndarray, y: np.ndarray, fold_row: np.ndarray) -> tuple[np.ndarray, list]:
    predicted = np.full(len(y), np.nan)
    fitted = []
    for fold, train, test in iter_grouped_splits(fold_row):
        model = clone(estimator).fit(x[train], y[train])
        predicted[test] = np.ravel(model.predict(x[test]))
        fitted.append((fold, test, model))
    return predicted, fitted


def _oof_predict_many(estimator: Pipeline, x: np.ndarray, targets: np.ndarray, fold_row: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions for several targets (samples x targets), e.g. permuted copies.

    RidgeCV with ``alpha_per_target=True`` fits all targets in one go and is equivalent to
    separate fits (each target gets its own efficient-LOO alpha); other models fit one by one.
    """
    if isinstance(estimator[-1], RidgeCV):
        batched = clone(estimator).set_params(model__alpha_per_target=True)
        predicted = np.full(targets.shape, np.nan)
        for _, train, test in iter_grouped_splits(fold_row):
            predicted[test] = clone(batched).fit(x[train], targets[train]).predict(x[test]).reshape(len(test), -1)
        return predicted
    return np.column_stack([_oof_predict(estimator, x, t, fold_row)[0] for t in targets.T])


def _intrinsic_importance(model: Pipeline) -> np.ndarray:
    last = model[-1]
    if hasattr(last, "feature_importances_"):
        return np.asarray(last.feature_importances_)
    return np.abs(np.ravel(last.coef_))


def _heldout_importance(
    fitted: list, x: np.ndarray, y: np.ndarray, base_pred: np.ndarray, n_repeats: int, max_features: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Permutation importance on held-out samples, scored on the pooled out-of-fold R2.

    Feature j is permuted over all samples (feature values only, never targets, so nothing
    leaks) and every sample is re-predicted by the model that did not see it; importance =
    drop in pooled R2. Unlike per-fold scoring (sklearn's permutation_importance) this stays
    defined for leave-one-station-out folds of 1-2 samples. With more than ``max_features``
    features, only the top ones by the fold models' own importance (|coef| or impurity,
    learned from training folds only) are scored.
    """
    n, p = x.shape
    if p > max_features:
        own = np.mean([_intrinsic_importance(m) for _, _, m in fitted], axis=0)
        candidates = np.sort(np.argsort(-own, kind="stable")[:max_features])
    else:
        candidates = np.arange(p)
    rng = np.random.default_rng(seed)
    shuffles = np.array([rng.permutation(n) for _ in range(n_repeats)])  # shared by every feature
    valid = ~np.isnan(base_pred)
    base = _r2(y[valid], base_pred[valid])
    drops = np.empty((len(candidates), n_repeats))
    preds = np.broadcast_to(base_pred, (len(candidates), n_repeats, n)).copy()
    for _, test, model in fitted:
        # Few predict calls per fold: (feature, repeat) copies of the test rows stacked, in
        # chunks of about 4 million values.
        chunk = max(1, 4_000_000 // (n_repeats * len(test) * p))
        for start in range(0, len(candidates), chunk):
            block = candidates[start : start + chunk]
            stacked = np.broadcast_to(x[test], (len(block), n_repeats, len(test), p)).copy()
            for c, j in enumerate(block):
                stacked[c, :, :, j] = x[shuffles[:, test], j]
            out = np.ravel(model.predict(stacked.reshape(-1, p)))
            preds[start : start + len(block), :, test] = out.reshape(len(block), n_repeats, len(test))
    for c in range(len(candidates)):
        for r in range(n_repeats):
            drops[c, r] = base - _r2(y[valid], preds[c, r][valid])
    return candidates, drops.mean(axis=1), drops.std(axis=1)


def cross_validate_target(
    estimator: Pipeline,
    x: np.ndarray,
    y: np.ndarray,
    fold_ids: np.ndarray,
    *,
    sample_ids: Any = None,
    feature_names: Any = None,
    groups: Any = None,
    order: Any = None,
    importance_repeats: int = 0,
    importance_max_features: int = 30,
    n_permutations: int = 0,
    seed: int = 0,
) -> CVResult:
    """Repeated grouped CV of one target with pre-assigned folds (``fold_ids``: repeats x samples).

    R2 per repeat is computed on the pooled out-of-fold predictions. Importances use the
    folds of repeat 0. With ``n_permutations`` > 0 the target is permuted among whole groups
    (GroupedPermutation "blocks") and repeat 0's CV re-run: ``p_perm = (1 + #{R2* >= R2}) /
    (1 + B)``; NaN when the groups allow no permutation.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(y)
    sample_ids = np.arange(n) if sample_ids is None else np.asarray(sample_ids)
    feature_names = np.array([f"x{j}" for j in range(x.shape[1])]) if feature_names is None else np.asarray(feature_names)
    r2s, frames, first_fitted = [], [], []
    for r, fold_row in enumerate(fold_ids):
        predicted, fitted = _oof_predict(estimator, x, y, fold_row)
        valid = ~np.isnan(predicted)
        r2s.append(_r2(y[valid], predicted[valid]) if valid.sum() > 1 else float("nan"))
        frames.append(pd.DataFrame(dict(sample=sample_ids, repeat=r, fold=fold_row, observed=y, predicted=predicted))[valid])
        if r == 0:
            first_fitted, base_pred = fitted, predicted
    predictions = pd.concat(frames, ignore_index=True)
    importances = pd.DataFrame(columns=["feature", "importance_mean", "importance_sd"])
    if importance_repeats > 0 and first_fitted:
        idx, mean, sd = _heldout_importance(first_fitted, x, y, base_pred, importance_repeats, importance_max_features,
                                            _subseed(seed, "importance"))
        importances = pd.DataFrame(dict(feature=feature_names[idx], importance_mean=mean, importance_sd=sd))
        importances = importances.sort_values(["importance_mean", "feature"], ascending=[False, True], kind="stable", ignore_index=True)
    p_perm = float("nan")
    if n_permutations > 0 and groups is not None and np.isfinite(r2s[0]):
        permutation = GroupedPermutation(np.asarray(groups), mode="blocks", order=order)
        if permutation.n_distinct > 1:
            permuted = y[permutation.draw(n_permutations, _subseed(seed, "permutation"))].T  # samples x B
            pred = _oof_predict_many(estimator, x, permuted, fold_ids[0])
            valid = ~np.isnan(pred[:, 0])
            null = np.array([_r2(permuted[valid, b], pred[valid, b]) for b in range(n_permutations)])
            p_perm = (1 + int(np.count_nonzero(null >= r2s[0] - 1e-12))) / (n_permutations + 1)
        else:
            logger.info("CV permutation test skipped: no two groups of equal size to swap")
    n_splits = len(list(iter_grouped_splits(fold_ids[0])))
    return CVResult(np.array(r2s), n_splits, predictions, importances, p_perm, n_permutations)


# ----------------------------------------------------------------------------------------------
# Stage entry point
# ----------------------------------------------------------------------------------------------


def _subseed(seed: int, label: str) -> int:
    """Stable per-purpose seed (crc32, not hash(): the latter changes between processes)."""
    return int(np.random.SeedSequence([seed, zlib.crc32(label.encode())]).generate_state(1)[0])


def seasonal_time_features(datetimes: pd.Series) -> pd.DataFrame:
    """doy_sin / doy_cos (seasonal harmonic of day of year) and years_since_start (linear trend)."""
    t = pd.to_datetime(datetimes, utc=True)
    seconds_of_day = t.dt.hour * 3600 + t.dt.minute * 60 + t.dt.second
    day = (t.dt.day_of_year - 1 + seconds_of_day / 86400.0).to_numpy(dtype=float)
    angle = 2 * np.pi * day / 365.25
    years = ((t - t.min()).dt.total_seconds() / (365.25 * 86400.0)).to_numpy(dtype=float)
    return pd.DataFrame(dict(doy_sin=np.sin(angle), doy_cos=np.cos(angle), years_since_start=years), index=datetimes.index)


@dataclass(eq=False)
class ShiftResults(Mapping):
    """Tables of the shifts stage (a read-only mapping name -> DataFrame) plus fitted models."""

    tables: dict[str, pd.DataFrame]
    models: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> pd.DataFrame:
        return self.tables[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)


_CV_COLUMNS = ["profile", "transformation", "direction", "target", "model", "cv", "r2_mean", "r2_sd", "r2_min", "r2_max",
               "n_repeats", "n_splits", "n_samples", "group_by", "p_perm", "n_permutations"]
_PRED_COLUMNS = ["profile", "transformation", "direction", "target", "model", "cv", "repeat", "fold", "sample", "observed", "predicted"]
_IMP_COLUMNS = ["profile", "transformation", "direction", "target", "model", "cv", "rank", "feature", "importance_mean", "importance_sd"]
_KEYS = ["profile", "transformation"]


def _validate_inputs(profile_tables: Mapping[str, pd.DataFrame], env: pd.DataFrame, meta: pd.DataFrame) -> list[InputProblem]:
    problems = []
    for column in META_REQUIRED:
        if column not in meta.columns:
            problems.append(InputProblem(file="samples metadata", column=column, message="required column missing"))
    if "datetime" in meta.columns:
        parsed = pd.to_datetime(meta["datetime"], utc=True, errors="coerce")
        # A missing date (NaT / empty: published tables) is allowed; text that is no date is not.
        given = meta["datetime"].notna() & (meta["datetime"].astype(str).str.strip() != "")
        for row, (sample, bad) in enumerate(zip(meta.index, parsed.isna() & given), start=1):
            if bad:
                problems.append(InputProblem(file="samples metadata", row=row, column="datetime",
                                             value=meta["datetime"].iloc[row - 1], message=f"unparsable date of sample {sample}",
                                             expected="ISO 8601 date-time"))
    for name, table in [("environment", env), ("samples metadata", meta)] + [(f"profile {k}", v) for k, v in profile_tables.items()]:
        if table.index.has_duplicates:
            dup = table.index[table.index.duplicated()][0]
            problems.append(InputProblem(file=name, value=dup, message="duplicate sample id"))
    for column in env.columns:
        if not pd.api.types.is_numeric_dtype(env[column]):
            problems.append(InputProblem(file="environment", column=str(column), message="not numeric", expected="a number per sample"))
    for name, table in profile_tables.items():
        values = table.to_numpy(dtype=float, na_value=np.nan) if all(pd.api.types.is_numeric_dtype(t) for t in table.dtypes) else None
        if values is None:
            problems.append(InputProblem(file=f"profile {name}", message="non-numeric abundance columns"))
            continue
        for row, (sample, vals) in enumerate(zip(table.index, values), start=1):
            if not np.all(np.isfinite(vals)) or np.any(vals < 0) or vals.sum() <= 0:
                problems.append(InputProblem(file=f"profile {name}", row=row, value=sample,
                                             message="abundances must be finite, non-negative and not all zero"))
    return problems


def _present_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A profile without its all-missing rows: samples absent from it (as a cube stores them)."""
    absent = table.isna().all(axis=1).to_numpy() if table.shape[1] else np.zeros(len(table), dtype=bool)
    return table.loc[~absent] if absent.any() else table


def _align_samples(
    profile_tables: Mapping[str, pd.DataFrame], env: pd.DataFrame, meta: pd.DataFrame, mode: str = "shared"
) -> tuple[pd.Index, dict[str, pd.Index], list[dict]]:
    """Samples analysed (sorted by id), the samples of each profile, and the excluded ones.

    ``shared``: samples present in every table, for every profile. ``per_profile``: samples in
    the environment and metadata tables and in at least one profile; each profile uses those
    it has (a profile published for a subset of the samples keeps all of them).
    """
    indexes = [env.index, meta.index] + [t.index for t in profile_tables.values()]
    if mode == "shared":
        common = set(indexes[0]).intersection(*indexes[1:])
        reason = "not in every profile, environment and metadata table"
    else:
        common = set(env.index).intersection(meta.index) & set().union(*indexes[2:])
        reason = "not in the environment and metadata tables and at least one profile"
    excluded = [
        dict(item=str(sample), kind="sample", reason=reason) for sample in sorted(set().union(*indexes) - common, key=str)
    ]
    samples = pd.Index(sorted(common, key=str))
    per_profile, problems = {}, []
    for name in sorted(profile_tables):
        own = samples[samples.isin(profile_tables[name].index)]
        per_profile[name] = own
        absent = samples.difference(own)
        if len(absent):
            excluded.append(dict(item=", ".join(map(str, absent)), kind="sample",
                                 reason=f"absent from profile {name}: {len(own)} of {len(samples)} samples used"))
        if len(own) < 4:
            problems.append(InputProblem(file=f"profile {name}", value=len(own), message="too few samples"
                                         + (" shared by all tables" if mode == "shared" else " with environment data"),
                                         expected="at least 4"))
    if problems:
        raise PlanktonlmInputError(problems)
    return samples, per_profile, excluded


def _unknown_variables(env: pd.DataFrame, cfg: ShiftsConfig) -> list[InputProblem]:
    known = [str(c) for c in env.columns]
    return [
        InputProblem(file="config", column=f"shifts.{key}", value=name, message="not an environmental variable of the input",
                     expected=f"one of {known}")
        for key in ("env_targets", "env_drivers") for name in getattr(cfg, key) if name not in known
    ]


def _select_drivers(env: pd.DataFrame, max_missing_fraction: float) -> tuple[list[str], list[dict]]:
    """Environmental variables usable as drivers; constant or mostly missing ones are excluded."""
    drivers, excluded = [], []
    for column in env.columns:
        missing = float(env[column].isna().mean())
        if missing > max_missing_fraction:
            excluded.append(dict(item=str(column), kind="variable", reason=f"missing in {missing:.0%} of samples"))
        elif env[column].nunique(dropna=True) < 2:
            excluded.append(dict(item=str(column), kind="variable", reason="constant"))
        else:
            drivers.append(column)
    return drivers, excluded


def _variable_groups(env: pd.DataFrame, drivers: list[str], space_time: pd.DataFrame, temperature: str) -> dict[str, pd.DataFrame]:
    """Groups for variation partitioning: temperature / other environment / space-time."""
    groups = {}
    if temperature in drivers:
        groups["temperature"] = env[[temperature]]
    other = [c for c in drivers if c != temperature]
    if other:
        groups["environment"] = env[other]
    if space_time.shape[1]:
        groups["space_time"] = space_time
    return groups


def _cv_metrics_row(keys: dict, model: str, cv: str, result: CVResult, n_samples: int, group_by: str) -> dict:
    r2 = result.r2
    return dict(
        **keys, model=model, cv=cv, r2_mean=float(np.nanmean(r2)),
        r2_sd=float(np.nanstd(r2, ddof=1)) if len(r2) > 1 else float("nan"),
        r2_min=float(np.nanmin(r2)), r2_max=float(np.nanmax(r2)), n_repeats=len(r2), n_splits=result.n_splits,
        n_samples=n_samples, group_by=group_by, p_perm=result.p_perm,
        n_permutations=result.n_permutations if np.isfinite(result.p_perm) else 0,
    )


_TABLE_COLUMNS = dict(
    dbrda_marginal=_KEYS + _TEST_COLUMNS + ["n_dropped", "permutation", "n_permutations"],
    dbrda_conditional=_KEYS + _TEST_COLUMNS + ["n_dropped", "permutation", "n_permutations"],
    dbrda_forward=_KEYS + _FORWARD_COLUMNS + ["n_samples", "n_dropped", "permutation", "n_permutations"],
    varpart=_KEYS + VARPART_COLUMNS,
    cv_metrics=_CV_COLUMNS,
    predictions=_PRED_COLUMNS,
    importances=_IMP_COLUMNS,
)


def _score_target(
    profile: str, transformation: str, direction: str, target: str, x: np.ndarray, y: np.ndarray, names: np.ndarray, *,
    groups_p: np.ndarray, order_p: np.ndarray, samples: pd.Index, fold_ids: Mapping[str, np.ndarray], rows: np.ndarray,
    cfg: ShiftsConfig, seed: int, group_by: Mapping[str, str],
) -> tuple[dict[str, list[pd.DataFrame]] | None, bytes]:
    """Every model under every CV scheme for one target: (table parts, pickled fitted models),
    or (None, b"") when the target has too few samples, groups or features to be cross-validated."""
    mask = ~np.isnan(y) & ~np.isnan(x).any(axis=1)
    n_used = int(mask.sum())
    if n_used < 4 or len(np.unique(groups_p[mask])) < 2 or np.std(y[mask]) == 0 or x.shape[1] == 0:
        return None, b""
    keys = dict(profile=profile, transformation=transformation, direction=direction, target=target)
    tables: dict[str, list[pd.DataFrame]] = {"cv_metrics": [], "predictions": [], "importances": []}
    models: dict[str, Any] = {}
    for model_name in cfg.models:
        estimator = make_model(model_name, cfg, n_samples=n_used, n_features=x.shape[1], seed=_subseed(seed, "rf"))
        for scheme in cfg.cv_schemes:
            result = cross_validate_target(
                estimator, x[mask], y[mask], fold_ids[scheme][:, rows][:, mask], sample_ids=samples[mask],
                feature_names=names, groups=groups_p[mask], order=order_p[mask],
                importance_repeats=cfg.importance_repeats, importance_max_features=cfg.importance_max_features,
                n_permutations=cfg.cv_n_permutations if model_name in cfg.cv_permutation_models else 0,
                seed=_subseed(seed, f"cv/{direction}/{target}"),
            )
            row = _cv_metrics_row(keys, model_name, scheme, result, n_used, group_by[scheme])
            tables["cv_metrics"].append(pd.DataFrame([row]))
            tables["predictions"].append(result.predictions.assign(**keys, model=model_name, cv=scheme))
            top = result.importances.head(cfg.importance_top_n)
            tables["importances"].append(top.assign(**keys, model=model_name, cv=scheme, rank=np.arange(1, len(top) + 1)))
        if cfg.save_models:
            models[f"{profile}/{transformation}/{direction}/{target}/{model_name}"] = clone(estimator).fit(x[mask], y[mask])
    # Pickled here, whichever process runs this: models that crossed a process boundary pickle
    # to other bytes than ones that did not, and models.pkl must not depend on n_jobs.
    return tables, pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)


def run_shifts(
    profile_tables: Mapping[str, pd.DataFrame],
    env: pd.DataFrame,
    meta: pd.DataFrame,
    cfg: ShiftsConfig,
    seed: int,
    community_tables: Mapping[str, pd.DataFrame] | None = None,
    *,
    n_jobs: int = 1,
) -> ShiftResults:
    """Link every community profile to the environment; returns the stage's tables and models.

    profile_tables: name -> counts or relative abundances (samples x features, index = sample);
    an all-missing row means "sample absent from this profile" (as the cube stores it).
    env: environmental drivers (samples x variables, numeric; depth_m counts as a driver if here).
    meta: cruise, station, datetime (UTC; may be missing, then no seasonal terms are used),
    optionally latitude / longitude (index = sample).
    community_tables: name -> responses for the environment -> community direction (PCoA axes,
    diversity from the ecology stage); absent profiles get PCoA axes + Shannon + Simpson here.

    Samples are sorted by id (input row order never matters). With ``profile_samples`` =
    ``shared`` every profile uses the samples present in all tables, so profiles compare on
    the same samples; with ``per_profile`` each profile uses every sample it has. Either way
    the dbRDA permutations come from one seed and the CV folds are assigned once on all
    samples (a profile's folds are that assignment restricted to its samples), so no group is
    ever split. Environmental variables that are constant or missing in more than
    ``max_missing_fraction`` of samples are excluded as drivers (table ``excluded``);
    ``env_drivers`` / ``env_targets`` restrict the drivers and the predicted variables
    (targets named there are predicted from every sample where they are known).
    Each predictive model is scored under every scheme of ``cv_schemes`` (column ``cv``).
    ``n_jobs``: processes scoring targets in parallel (the tables do not depend on it).
    """
    started = time.perf_counter()
    profile_tables = {name: _present_rows(table) for name, table in profile_tables.items()}
    problems = _validate_inputs(profile_tables, env, meta) + _unknown_variables(env, cfg)
    if not profile_tables:
        problems.append(InputProblem(file="profiles", message="no community profile given"))
    if problems:
        raise PlanktonlmInputError(problems)
    samples, profile_samples, excluded = _align_samples(profile_tables, env, meta, cfg.profile_samples)
    env, meta = env.loc[samples], meta.loc[samples]
    candidates = list(cfg.env_drivers) if cfg.env_drivers else list(env.columns)
    drivers, excluded_variables = _select_drivers(env[candidates], cfg.max_missing_fraction)
    excluded += excluded_variables
    targets = list(cfg.env_targets) if cfg.env_targets else drivers
    for item in excluded:
        logger.info("shifts: excluded %s %s (%s)", item["kind"], item["item"], item["reason"])

    groups, group_by = choose_cv_groups(meta, time_block_days=cfg.time_block_days, n_fallback_blocks=cfg.n_splits)
    times = pd.to_datetime(meta["datetime"], utc=True)
    # Order of samples within a group for block permutations; without dates, sample id order.
    order = np.nan_to_num((times - times.min()).dt.total_seconds().to_numpy(dtype=float), nan=0.0)
    fold_ids = {
        scheme: cv_fold_ids(scheme, groups, n_splits=cfg.n_splits, n_repeats=cfg.n_repeats, seed=_subseed(seed, "folds"))
        for scheme in cfg.cv_schemes
    }
    scheme_group_by = {scheme: "sample" if scheme == "loo" else group_by for scheme in cfg.cv_schemes}
    logger.info("shifts: %d samples, %d drivers, %d targets, CV %s grouped by %s (%d groups)",
                len(samples), len(drivers), len(targets), "/".join(cfg.cv_schemes), group_by, len(np.unique(groups)))

    if times.notna().all():
        time_features = seasonal_time_features(meta["datetime"])
        time_features = time_features[[c for c in time_features.columns if time_features[c].nunique() > 1]]
    else:
        time_features = pd.DataFrame(index=samples)
        excluded.append(dict(item="doy_sin, doy_cos, years_since_start", kind="variable",
                             reason=f"no seasonal/trend terms: {int(times.isna().sum())} samples have no date"))
    space = pd.DataFrame(
        {c: pd.to_numeric(meta[c], errors="coerce") for c in ("latitude", "longitude") if c in meta.columns and c not in drivers},
        index=samples,
    )
    space_time = pd.concat([space[[c for c in space.columns if space[c].nunique() > 1]], time_features], axis=1)
    predictors = pd.concat([env[drivers], time_features], axis=1)

    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in _TABLE_COLUMNS}
    models: dict[str, Any] = {}
    dbrda_seed = _subseed(seed, "dbrda")  # one permutation set for every profile and distance
    for profile in sorted(profile_tables):
        own = profile_samples[profile]
        rows = samples.isin(own)  # this profile's samples within the analysed set (both sorted)
        counts = profile_tables[profile].loc[own].to_numpy(dtype=float)
        env_p, groups_p, order_p = env.loc[own], groups[rows], order[rows]
        drivers_p = [c for c in drivers if env_p[c].nunique(dropna=True) > 1]
        for c in sorted(set(drivers) - set(drivers_p)):
            excluded.append(dict(item=str(c), kind="variable", reason=f"constant within profile {profile}'s samples"))
        variable_groups = _variable_groups(env_p, drivers_p, space_time.loc[own], cfg.temperature_variable)
        for transformation in cfg.transformations:
            distances = community_distance(counts, transformation, clr_pseudocount=cfg.clr_pseudocount)
            keys = dict(profile=profile, transformation=transformation)
            if drivers_p:
                est = DbRDA(n_permutations=cfg.n_permutations, alpha=cfg.alpha, permutation=cfg.permutation_mode,
                            random_state=dbrda_seed).fit(distances, env_p[drivers_p], groups=groups_p, order=order_p)
                extra = dict(**keys, n_dropped=est.n_dropped_, permutation=est.permutation_scheme_,
                             n_permutations=cfg.n_permutations)
                tables["dbrda_marginal"].append(est.marginal_.assign(**extra))
                tables["dbrda_conditional"].append(est.conditional_.assign(**extra))
                tables["dbrda_forward"].append(est.forward_.assign(n_samples=est.n_samples_, **extra))
                if cfg.save_models:
                    models[f"dbrda/{profile}/{transformation}"] = est
            if len(variable_groups) >= 2:
                varpart = partition_variation(distances, variable_groups, n_permutations=cfg.n_permutations, seed=dbrda_seed,
                                              groups=groups_p, permutation_mode=cfg.permutation_mode, order=order_p)
                tables["varpart"].append(varpart.assign(**keys))
            logger.info("shifts: dbRDA %s / %s done (%.1f s)", profile, transformation, time.perf_counter() - started)

        # (transformation, direction, target, features, target values, feature names)
        jobs = []
        otu_names = np.asarray(profile_tables[profile].columns, dtype=str)
        for transformation in cfg.predict_transformations:
            features = community_features(counts, transformation, clr_pseudocount=cfg.clr_pseudocount)
            for target in targets:
                jobs.append((transformation, "community_to_env", str(target), features, env_p[target].to_numpy(dtype=float),
                             otu_names))
        if community_tables is not None and profile in community_tables:
            responses, source = community_tables[profile].reindex(own), "given"
        else:
            responses, source = _default_community_targets(counts, own, cfg), cfg.pcoa_transformation
        predictors_p = predictors.loc[own, [c for c in predictors.columns if c not in drivers or c in drivers_p]]
        for target in responses.columns:
            y = pd.to_numeric(responses[target], errors="coerce").to_numpy(dtype=float)
            jobs.append((source, "env_to_community", str(target), predictors_p.to_numpy(dtype=float), y,
                         np.asarray(predictors_p.columns, dtype=str)))

        # Targets are independent (each has its own seed), so they run in parallel; results come
        # back in job order, which keeps the tables identical whatever n_jobs is.
        scored = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_score_target)(profile, transformation, direction, target, x, y, names, groups_p=groups_p,
                                   order_p=order_p, samples=own, fold_ids=fold_ids, rows=rows, cfg=cfg, seed=seed,
                                   group_by=scheme_group_by)
            for transformation, direction, target, x, y, names in jobs
        )
        for k, ((_, direction, target, *_), (target_tables, target_models)) in enumerate(zip(jobs, scored), start=1):
            if target_tables is None:
                logger.info("shifts: skipped %s %s %s (too few samples, groups or features)", profile, direction, target)
                continue
            for name, parts in target_tables.items():
                tables[name].extend(parts)
            models.update(pickle.loads(target_models))
            logger.info("shifts: %s %d/%d targets done (%s %s, %.1f s)", profile, k, len(jobs), direction, target,
                        time.perf_counter() - started)

    out = {
        name: (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_TABLE_COLUMNS[name]))[_TABLE_COLUMNS[name]]
        for name, parts in tables.items()
    }
    out["vif"] = variance_inflation(env[drivers]) if drivers else pd.DataFrame(columns=["variable", "vif", "r2_others", "n_samples"])
    out["excluded"] = pd.DataFrame(excluded, columns=["item", "kind", "reason"])
    logger.info("shifts: finished in %.1f s", time.perf_counter() - started)
    return ShiftResults(out, models)


def write_shift_tables(results: Mapping[str, pd.DataFrame], outdir: str | Path) -> list[Path]:
    """Write each table as ``<name>.tsv`` (tab-separated, floats as %.10g, NA for missing) and
    fitted models (``ShiftResults.models``) as ``models.pkl``; atomically. Returns the paths."""
    outdir = Path(outdir)
    written = []
    for name in results:
        path = outdir / f"{name}.tsv"
        text = results[name].to_csv(sep="\t", index=False, float_format="%.10g", na_rep="NA", lineterminator="\n")
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
        written.append(path)
    models = getattr(results, "models", None)
    if models:
        path = outdir / "models.pkl"
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(pickle.dumps(models, protocol=5))
        written.append(path)
    return written


def shifts_config(section: Mapping[str, Any] | ShiftsConfig) -> ShiftsConfig:
    """ShiftsConfig from the validated ``shifts`` config section (unknown keys are named)."""
    if isinstance(section, ShiftsConfig):
        return section
    known = {f.name for f in fields(ShiftsConfig)}
    unknown = [key for key in section if key not in known]
    if unknown:
        raise PlanktonlmInputError([
            InputProblem(file="config", column=f"shifts.{key}", message="unknown key", expected=f"one of {sorted(known)}")
            for key in unknown
        ])
    return ShiftsConfig(**dict(section))


def run_shift_stage(
    cube_nc: str | Path,
    outdir: str | Path,
    shifts_cfg: Mapping[str, Any] | ShiftsConfig,
    seed: int,
    community_tables: Mapping[str, pd.DataFrame] | None = None,
    *,
    depth_as_driver: bool = True,
    n_jobs: int = 1,
) -> ShiftResults:
    """Stage entry: cube.nc -> the shift tables in ``outdir`` (see :func:`write_shift_tables`).

    Works for a cruise cube (make_cube) and a cube of published tables (make_published_cube).
    Every profile of the cube is analysed separately, the simulator's oracle included (as the
    reference the read-based profiles are compared against; no other profile's model sees it).
    The cube's depth coordinate joins the drivers as ``depth_m`` when it is known and varies
    (``depth_as_driver``); latitude / longitude enter as space, the sampling time as seasonal
    and trend terms (none when the cube has no dates).
    """
    # Imported here: the cube module pulls in the sample-sheet readers the statistics do not need.
    from planktonlm.cube import environment_table, profile_names, profile_table, read_cube, sample_metadata

    cfg = shifts_config(shifts_cfg)
    ds = read_cube(cube_nc)
    # The oracle (true genome abundances of a simulated cruise) is analysed as a profile of its
    # own, on the same splits: the ceiling the read-based profiles are compared against.
    profiles = {name: profile_table(ds, name) for name in profile_names(ds)}
    env = environment_table(ds)
    meta = sample_metadata(ds)
    if depth_as_driver and "depth_m" not in env.columns and meta["depth_m"].nunique(dropna=True) > 1:
        env["depth_m"] = meta["depth_m"]
    logger.info("shifts: cube %s: profiles %s, %d samples, %d environmental variables", cube_nc, ", ".join(profiles),
                len(env), env.shape[1])
    results = run_shifts(profiles, env, meta, cfg, seed, community_tables, n_jobs=n_jobs)
    write_shift_tables(results, outdir)
    return results
