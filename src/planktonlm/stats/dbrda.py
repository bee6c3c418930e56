"""Distance-based redundancy analysis (dbRDA) with design-respecting permutation tests.

A samples x samples distance matrix D (Bray-Curtis, Hellinger, Aitchison) becomes Gower's centred
matrix ``G``; explanatory variables with hat matrix H explain ``tr(HG) / tr(G)`` of the community
variation (Legendre & Anderson 1999; McArdle & Anderson 2001), with pseudo-F
``(tr(HG)/q) / (tr((I-H)G)/(n-q-1))``. As in vegan's ``dbrda``, G keeps its negative eigenvalues.
Partial tests permute the residuals of the reduced model (Freedman & Lane 1983), as vegan does.
All permutations of one test are scored at once with batched matrix products.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.stats.ordination import gower_centered
from planktonlm.stats.permutations import RestrictedPermutation, SamplingDesign, invariant_columns
from planktonlm.stats.transforms import DISTANCES, check_distance_matrix, community_distance

logger = logging.getLogger(__name__)

TEST_COLUMNS = ["variable", "r2", "r2_adj", "F", "df_num", "df_den", "p_value", "p_min", "testable", "n_samples"]
FORWARD_COLUMNS = ["step", "variable", "r2", "r2_adj", "r2_adj_gain", "F", "p_value", "p_min", "selected", "stop_reason"]


def adjusted_r2(r2: float, n: int, m: int) -> float:
    """Ezekiel's adjusted R2, ``1 - (1 - R2)(n - 1)/(n - m - 1)``; unbiased for RDA (Peres-Neto et al. 2006)."""
    if n - m - 1 <= 0:
        return float("nan")
    return 1.0 - (1.0 - r2) * (n - 1) / (n - m - 1)


def standardize(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean(axis=0)
    sd = values.std(axis=0)
    return centred / np.where(sd > 0, sd, 1.0)


def basis(x: np.ndarray | None, n: int) -> np.ndarray:
    """Orthonormal basis of the column space of centred columns (rank-aware; n x 0 when empty).

    The absolute tolerance suits standardised columns (norm sqrt(n)); residualised columns of a
    variable collinear with the conditioning set fall below it and add no dimension.
    """
    if x is None:
        return np.zeros((n, 0))
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] == 0:
        return np.zeros((n, 0))
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, s > 1e-8 * math.sqrt(n)]


def indicators(labels: np.ndarray | None) -> np.ndarray | None:
    """Indicator columns of a grouping (one column dropped; None without groups or with one)."""
    if labels is None:
        return None
    _, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    if codes.max(initial=0) == 0:
        return None
    return np.eye(codes.max() + 1)[codes][:, 1:]


@dataclass(frozen=True)
class TestResult:
    ss: float  # variation explained by the tested term (given the conditioning term)
    r2: float  # ss / total variation
    df_num: int
    df_den: int
    F: float
    p_value: float
    p_min: float  # smallest p-value the permutations could give
    testable: bool  # some permutation moves the term and the smallest attainable p is <= alpha


class PermutationEngine:
    """Pseudo-F tests on one Gower matrix for a fixed set of permutations, all at once.

    For a permutation p the permuted response is ``G[p][:, p]`` and ``tr(H G[p][:, p]) =
    tr(Q[p^-1] Q[p^-1]' G)`` for ``H = QQ'``: only the small basis Q is permuted.
    """

    def __init__(self, gower: np.ndarray, perms: np.ndarray, alpha: float = 0.05):
        self.alpha = alpha  # a test whose smallest attainable p-value exceeds it is not testable
        self.gower = gower
        self.n = gower.shape[0]
        self.total = float(np.trace(gower))
        self.perms = perms
        self.inverse = np.argsort(perms, axis=1) if perms.size else np.zeros((0, self.n), dtype=np.intp)

    def explained(self, x: np.ndarray | None) -> tuple[float, int]:
        """Variation explained by the columns of x, and their rank."""
        q = basis(x, self.n)
        return float(np.sum((self.gower @ q) * q)), q.shape[1]

    def test(self, x: np.ndarray, z: np.ndarray | None = None) -> TestResult:
        """Test x (n x q) given covariates z (n x p): pseudo-F and permutation p-value.

        With ``Gr = (I-Hz) G (I-Hz)`` and ``Hr`` the hat matrix of x residualised on z,
        ``F* = (tr(Hr Gr*)/q) / ((tr(Gr) - tr(Hz Gr*) - tr(Hr Gr*))/(n-p-q-1))``.
        """
        n = self.n
        qz = basis(z, n)
        xr = x - qz @ (qz.T @ x) if qz.shape[1] else x
        qr = basis(xr, n)
        q, p = qr.shape[1], qz.shape[1]
        df_den = n - 1 - p - q
        ss_x = float(np.sum((self.gower @ qr) * qr)) if q else 0.0
        ss_z = float(np.sum((self.gower @ qz) * qz)) if p else 0.0
        ss_res = self.total - ss_z - ss_x
        r2 = ss_x / self.total
        n_perm = len(self.inverse)
        p_min = 1.0 / (n_perm + 1)
        nan = float("nan")
        if q == 0 or df_den < 1 or ss_res <= 0:
            return TestResult(ss_x, r2, q, df_den, nan, nan, p_min, False)
        f_obs = (ss_x / q) / (ss_res / df_den)
        # A term whose variables no permutation moves (e.g. depth when whole series move in
        # time) cannot be tested under the design: its p-value would only reflect the covariates.
        if not n_perm or np.all(invariant_columns(np.asarray(x, dtype=float).reshape(n, -1), self.perms)):
            return TestResult(ss_x, r2, q, df_den, f_obs, nan, p_min, False)
        if p:
            proj = np.eye(n) - qz @ qz.T
            g_red = proj @ self.gower @ proj
        else:
            g_red = self.gower
        f_perm = self._permuted_f(g_red, qr, qz, df_den)
        # Relative tolerance: an arrangement equivalent to the observed one must tie with it.
        exceed = int(np.count_nonzero(f_perm >= f_obs - 1e-9 * abs(f_obs)))
        return TestResult(ss_x, r2, q, df_den, f_obs, (exceed + 1) / (n_perm + 1), p_min, p_min <= self.alpha)

    def _permuted_f(self, g_red: np.ndarray, qr: np.ndarray, qz: np.ndarray, df_den: int) -> np.ndarray:
        n, q, p = self.n, qr.shape[1], qz.shape[1]
        n_perm = len(self.inverse)
        num, cov = np.empty(n_perm), np.zeros(n_perm)
        chunk = max(1, int(4_000_000 // (n * (q + p))))  # bounds the (chunk, n, q+p) temporaries
        for start in range(0, n_perm, chunk):
            inv = self.inverse[start : start + chunk]
            qr_p = qr[inv]  # (chunk, n, q)
            num[start : start + len(inv)] = np.einsum("bic,bic->b", np.matmul(g_red, qr_p), qr_p)
            if p:
                qz_p = qz[inv]  # (chunk, n, p)
                cov[start : start + len(inv)] = np.einsum("bic,bic->b", np.matmul(g_red, qz_p), qz_p)
        den = float(np.trace(g_red)) - cov - num
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (num / q) / (den / df_den)
        # A non-positive residual (possible with non-Euclidean G) counts as an extreme value.
        return np.where(den > 0, f, np.inf)


def environment_frame(env: Any) -> pd.DataFrame:
    if isinstance(env, pd.DataFrame):
        return env
    values = np.asarray(env, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    return pd.DataFrame(values, columns=[f"x{j}" for j in range(values.shape[1])])


def prepare(x_data: Any, env: Any, metric: str, pseudocount: float, covariates: Any = None
            ) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Distances on the samples complete in env and covariates, env frame, mask, covariate values."""
    env = environment_frame(env)
    problems = [InputProblem(file="environment", column=str(c), message="not numeric")
                for c in env.columns if not pd.api.types.is_numeric_dtype(env[c])]
    if problems:
        raise PlanktonlmInputError(problems)
    data = np.asarray(x_data, dtype=float)
    if len(data) != len(env):
        raise PlanktonlmInputError(InputProblem(file="environment", message="sample count differs from the community data",
                                                value=len(env), expected=str(len(data))))
    mask = env.notna().all(axis=1).to_numpy().copy()
    cov = None
    if covariates is not None:
        cov = environment_frame(covariates).to_numpy(dtype=float)
        mask &= ~np.isnan(cov).any(axis=1)
    if metric == "precomputed":
        distances = check_distance_matrix(data)[np.ix_(mask, mask)]
    elif metric in DISTANCES:
        distances = community_distance(data[mask], metric, pseudocount=pseudocount).to_numpy()
    else:
        raise ValueError(f"metric must be 'precomputed' or one of {DISTANCES}, got {metric!r}")
    n = int(mask.sum())
    if n < 3:
        raise PlanktonlmInputError(InputProblem(file="environment", message="fewer than 3 samples without missing values", value=n))
    constant = [str(c) for c, sd in zip(env.columns, env.to_numpy(dtype=float)[mask].std(axis=0)) if not sd > 0]
    if constant:
        raise PlanktonlmInputError([InputProblem(file="environment", column=c, message="variable is constant over the complete samples")
                                    for c in constant])
    return distances, env, mask, None if cov is None else cov[mask]


class DbRDA(BaseEstimator):
    """Distance-based redundancy analysis with permutation tests and forward selection.

    Parameters
    ----------
    metric : "precomputed" (fit's X is an n x n distance matrix) or one of DISTANCES (X is a
        samples x features community table).
    n_permutations : permutations per test (0 = no p-values); all arrangements when fewer exist.
    alpha : significance level of forward selection.
    permutation : scheme of :class:`RestrictedPermutation` (auto / series / blocks / stations /
        within / free) for the ``design`` given to fit (free without a design).
    mirror, block_days : passed to :class:`RestrictedPermutation`.
    forward : run forward selection (Blanchet et al. 2008).
    pseudocount : CLR pseudocount for metric="aitchison".
    random_state : seed of the permutations (one set, shared by every test of a fit).

    ``fit(X, y, design=..., covariates=...)``: y = environment (samples x variables, standardised
    here); covariates = variables every test is conditioned on (e.g. seasonal harmonics: what a
    driver explains beyond the calendar). Samples with a missing value are dropped.

    Learned attributes: ``n_samples_``, ``n_dropped_``, ``sample_mask_``, ``feature_names_in_``,
    ``n_features_in_``, ``total_variation_``, ``r2_``, ``r2_adj_``, ``F_``, ``p_value_``,
    ``marginal_`` (each variable alone), ``conditional_`` (each given all others),
    ``forward_``, ``selected_variables_``, ``eigenvalues_`` / ``site_scores_`` (constrained
    axes), ``permutation_scheme_``, ``permutation_description_``, ``n_distinct_permutations_``,
    ``n_permutations_`` (as drawn or enumerated), ``r2_adj_covariates_`` (what the covariates and
    any conditioning strata explain, adjusted).
    """

    def __init__(self, metric: str = "precomputed", n_permutations: int = 999, alpha: float = 0.05,
                 permutation: str = "auto", mirror: bool = True, block_days: float | None = None,
                 forward: bool = True, pseudocount: float = 0.5, random_state: int = 0):
        self.metric = metric
        self.n_permutations = n_permutations
        self.alpha = alpha
        self.permutation = permutation
        self.mirror = mirror
        self.block_days = block_days
        self.forward = forward
        self.pseudocount = pseudocount
        self.random_state = random_state

    def fit(self, X: Any, y: Any, *, design: SamplingDesign | None = None, covariates: Any = None) -> DbRDA:
        distances, env, mask, cov = prepare(X, y, self.metric, self.pseudocount, covariates)
        n = int(mask.sum())
        if design is not None and design.n_samples != len(mask):
            raise ValueError(f"design has {design.n_samples} samples for {len(mask)} rows")
        if (~mask).any():
            logger.info("dbRDA: dropped %d of %d samples with missing values", int((~mask).sum()), len(mask))
        design_n = design.subset(mask) if design is not None else SamplingDesign(
            np.array(["all"] * n, dtype=object), np.full(n, np.nan), np.full(n, np.nan))
        scheme = self.permutation if design is not None else "free"
        permutation = RestrictedPermutation(design_n, scheme, mirror=self.mirror, block_days=self.block_days)
        perms = permutation.draw(self.n_permutations, self.random_state)
        engine = PermutationEngine(gower_centered(distances), perms, self.alpha)
        x = standardize(env.to_numpy(dtype=float)[mask])
        strata = indicators(permutation.condition_on)
        fixed = [a for a in (cov, strata) if a is not None]
        zc = np.column_stack(fixed) if fixed else None
        names = [str(c) for c in env.columns]
        ss_z, rank_z = engine.explained(zc)
        r2_adj_z = adjusted_r2(ss_z / engine.total, n, rank_z) if rank_z else 0.0

        def with_fixed(*parts: np.ndarray | None) -> np.ndarray | None:
            cols = [a for a in (*parts, zc) if a is not None and a.shape[1]]
            return np.column_stack(cols) if cols else None

        def adj(res: TestResult, given: np.ndarray | None) -> float:
            # adjusted R2 of (given + term) minus that of given, as vegan's RsquareAdj of a partial model
            ss, rank = (ss_z, rank_z) if given is zc else engine.explained(given)
            base = adjusted_r2(ss / engine.total, n, rank) if rank else 0.0
            return adjusted_r2((ss + res.ss) / engine.total, n, rank + res.df_num) - base

        full = engine.test(x, zc)
        r2_adj_full = adj(full, zc)
        marginal, conditional = [], []
        for j, name in enumerate(names):
            res = engine.test(x[:, [j]], zc)
            marginal.append(_row(name, res, adj(res, zc), n))
            if len(names) > 1:
                given = with_fixed(np.delete(x, j, axis=1))
                res = engine.test(x[:, [j]], given)
                conditional.append(_row(name, res, adj(res, given), n))
            else:
                conditional.append(marginal[-1])
        self.n_samples_, self.n_dropped_, self.sample_mask_ = n, int((~mask).sum()), mask
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)
        self.total_variation_ = engine.total
        self.r2_, self.r2_adj_, self.F_, self.p_value_ = full.r2, r2_adj_full, full.F, full.p_value
        self.marginal_ = pd.DataFrame(marginal, columns=TEST_COLUMNS)
        self.conditional_ = pd.DataFrame(conditional, columns=TEST_COLUMNS)
        steps = self._forward_selection(engine, x, zc, names, full, r2_adj_full, ss_z, r2_adj_z) if self.forward else []
        self.forward_ = pd.DataFrame(steps, columns=FORWARD_COLUMNS)
        self.selected_variables_ = [s["variable"] for s in steps if s["step"] > 0 and s["selected"]]
        q = basis(x, n)
        eigenvalues, vectors = np.linalg.eigh(q.T @ engine.gower @ q)
        desc = np.argsort(eigenvalues)[::-1]
        self.eigenvalues_ = eigenvalues[desc]
        self.site_scores_ = q @ vectors[:, desc] * np.sqrt(np.clip(self.eigenvalues_, 0, None))
        self.permutation_scheme_ = permutation.scheme
        self.permutation_description_ = permutation.description
        self.n_distinct_permutations_ = permutation.n_distinct
        self.n_permutations_ = len(perms)
        self.r2_adj_covariates_ = r2_adj_z
        return self

    def _significant(self, res: TestResult) -> bool:
        # Without permutations only the adjusted-R2 rule applies.
        return bool(np.isfinite(res.F)) and (self.n_permutations == 0 or (res.testable and res.p_value <= self.alpha))

    def _forward_selection(self, engine: PermutationEngine, x: np.ndarray, zc: np.ndarray | None, names: list[str],
                           full: TestResult, r2_adj_full: float, ss_z: float, r2_adj_z: float) -> list[dict]:
        """Blanchet et al. (2008), as vegan's ordiR2step: only if the global model is significant;
        at each step add the variable that raises adjusted R2 most, provided its partial test
        (given the variables already selected) has p <= alpha and the adjusted R2 stays at or
        below the global one. ``ss_z`` / ``r2_adj_z``: what the covariates explain."""
        global_ok = self._significant(full)
        steps = [dict(step=0, variable="<all>", r2=full.r2, r2_adj=r2_adj_full, r2_adj_gain=float("nan"), F=full.F,
                      p_value=full.p_value, p_min=full.p_min, selected=global_ok,
                      stop_reason="" if global_ok else "global model not significant")]
        if not global_ok:
            return steps
        selected: list[int] = []
        remaining = list(range(len(names)))
        r2_adj_now = 0.0
        while remaining:
            scores = []
            for j in remaining:
                cols = x[:, selected + [j]]
                res_ss, rank = engine.explained(np.column_stack([cols] + ([zc] if zc is not None else [])))
                scores.append((adjusted_r2(res_ss / engine.total, engine.n, rank) - r2_adj_z, (res_ss - ss_z) / engine.total))
            finite = [s[0] for s in scores]
            best = int(np.nanargmax(finite)) if not all(np.isnan(finite)) else 0
            j = remaining[best]
            r2_adj_cum, r2_cum = scores[best]
            given = [a for a in (x[:, selected] if selected else None, zc) if a is not None]
            res = engine.test(x[:, [j]], np.column_stack(given) if given else None)
            row = dict(step=len(selected) + 1, variable=names[j], r2=r2_cum, r2_adj=r2_adj_cum, r2_adj_gain=r2_adj_cum - r2_adj_now,
                       F=res.F, p_value=res.p_value, p_min=res.p_min, selected=False, stop_reason="")
            if not self._significant(res):
                row["stop_reason"] = ("p_value > alpha" if res.testable else "not testable under the design") if np.isfinite(res.F) else "no independent variation"
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


def _row(name: str, res: TestResult, r2_adj: float, n: int) -> dict:
    return dict(variable=name, r2=res.r2, r2_adj=r2_adj, F=res.F, df_num=res.df_num, df_den=res.df_den,
                p_value=res.p_value, p_min=res.p_min, testable=res.testable, n_samples=n)
