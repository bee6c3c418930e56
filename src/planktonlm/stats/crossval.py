"""Cross-validated prediction: models, out-of-fold predictions, permutation test, importances,
paired comparisons.

Every model is a ``StandardScaler + model`` pipeline and is scored on a :class:`FoldPlan`; every
choice (ridge's alpha, PLS components, features screened for importance) is made on training
folds only. R2 is that of the pooled out-of-fold predictions of a repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from planktonlm.stats.folds import FoldPlan

MODELS = ("ridge", "pls", "rf")
INNER_SPLITS = 5


class GroupedRidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression whose alpha (per target) is chosen by grouped inner cross-validation.

    ``fit(X, y, groups=...)``: groups of the training samples (e.g. stations); alpha minimises
    the squared error of leave-group-out predictions over at most ``INNER_SPLITS`` inner folds,
    so samples of one group never help choose alpha for themselves (RidgeCV's efficient
    leave-one-out ignores groups). Fewer than 3 groups: contiguous inner folds in sample order.
    Solved through one SVD per fold for every alpha and every target at once.
    Learned: ``alpha_`` (per target), ``coef_``, ``intercept_``.
    """

    def __init__(self, alphas: tuple[float, ...] = tuple(10.0**k for k in range(-2, 9))):
        self.alphas = alphas

    @staticmethod
    def _path(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, alphas: np.ndarray) -> np.ndarray:
        """Predictions (alphas, n_test, targets) of ridge fits on (x_tr, y_tr)."""
        mx, my = x_tr.mean(axis=0), y_tr.mean(axis=0)
        u, s, vt = np.linalg.svd(x_tr - mx, full_matrices=False)
        a = (x_te - mx) @ vt.T  # (n_test, rank)
        b = u.T @ (y_tr - my)  # (rank, targets)
        shrink = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # (alphas, rank)
        return np.einsum("tr,ar,rk->atk", a, shrink, b) + my

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Any = None) -> GroupedRidgeCV:
        x = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        single = y.ndim == 1
        y2 = y[:, None] if single else y
        alphas = np.asarray(self.alphas, dtype=float)
        n = len(x)
        labels = np.asarray(groups).astype(str) if groups is not None else np.arange(n).astype(str)
        uniq, codes = np.unique(labels, return_inverse=True)
        inner = codes % INNER_SPLITS if len(uniq) >= 3 else (np.arange(n) * min(INNER_SPLITS, n) // n)
        errors = np.zeros((len(alphas), y2.shape[1]))
        for fold in np.unique(inner):
            test = inner == fold
            if test.all() or (~test).sum() < 2:
                continue
            pred = self._path(x[~test], y2[~test], x[test], alphas)
            errors += ((pred - y2[test][None]) ** 2).sum(axis=1)
        best = alphas[np.argmin(errors, axis=0)]  # first (smallest) alpha among ties
        mx, my = x.mean(axis=0), y2.mean(axis=0)
        u, s, vt = np.linalg.svd(x - mx, full_matrices=False)
        coef = np.einsum("ir,kr,rk->ki", vt.T, s[None, :] / (s[None, :] ** 2 + best[:, None]), u.T @ (y2 - my))
        self.alpha_ = best[0] if single else best
        self.coef_ = coef[0] if single else coef
        self.intercept_ = float(my[0] - mx @ coef[0]) if single else my - coef @ mx
        self.n_features_in_ = x.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float) @ np.asarray(self.coef_).T + self.intercept_


def make_model(name: str, *, n_samples: int, n_features: int, seed: int, ridge_alphas: tuple[float, ...],
               pls_n_components: int = 2, rf_n_estimators: int = 200, rf_max_features: float = 0.33) -> Pipeline:
    """``StandardScaler + model``: ridge (:class:`GroupedRidgeCV`), pls (components capped by the
    data), rf (seeded random forest, one job)."""
    if name == "ridge":
        model: Any = GroupedRidgeCV(alphas=tuple(ridge_alphas))
    elif name == "pls":
        # A fold's training set is smaller than n_samples; keep a margin of 2.
        model = PLSRegression(n_components=max(1, min(pls_n_components, n_features, n_samples - 2)), scale=False)
    elif name == "rf":
        model = RandomForestRegressor(n_estimators=rf_n_estimators, max_features=rf_max_features, random_state=seed, n_jobs=1)
    else:
        raise ValueError(f"unknown model {name!r}; expected one of {MODELS}")
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def fit_model(estimator: Pipeline, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> Pipeline:
    """Fit a clone; ridge gets the training groups for its inner CV."""
    model = clone(estimator)
    if isinstance(model[-1], GroupedRidgeCV):
        return model.fit(x, y, model__groups=groups)
    return model.fit(x, y)


def r2_score(observed: np.ndarray, predicted: np.ndarray) -> float:
    ss_tot = float(np.sum((observed - observed.mean()) ** 2))
    return 1.0 - float(np.sum((observed - predicted) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def oof_predict(estimator: Pipeline, x: np.ndarray, y: np.ndarray, plan: FoldPlan, repeat: int = 0) -> tuple[np.ndarray, list]:
    """Out-of-fold predictions of one repeat (NaN where a sample was never tested) and the fold models."""
    predicted = np.full(y.shape, np.nan)
    fitted = []
    for fold, train, test in plan.splits[repeat]:
        model = fit_model(estimator, x[train], y[train], plan.groups[train])
        predicted[test] = np.asarray(model.predict(x[test])).reshape(predicted[test].shape)
        fitted.append((fold, test, model))
    return predicted, fitted


def _intrinsic_importance(model: Pipeline) -> np.ndarray:
    last = model[-1]
    if hasattr(last, "feature_importances_"):
        return np.asarray(last.feature_importances_)
    return np.abs(np.ravel(last.coef_))


def heldout_importance(fitted: list, x: np.ndarray, y: np.ndarray, base_pred: np.ndarray, n_repeats: int, max_features: int,
                       seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Permutation importance on held-out samples, as the drop of pooled out-of-fold R2.

    Feature j is permuted over all samples (feature values only, never targets, so nothing leaks)
    and every sample is re-predicted by the model that did not see it. With more than
    ``max_features`` features, only the top ones by the fold models' own importance (learned from
    training folds only) are scored.
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
    base = r2_score(y[valid], base_pred[valid])
    preds = np.broadcast_to(base_pred, (len(candidates), n_repeats, n)).copy()
    for _, test, model in fitted:
        chunk = max(1, 4_000_000 // (n_repeats * len(test) * p))  # bounds the stacked copies
        for start in range(0, len(candidates), chunk):
            block = candidates[start : start + chunk]
            stacked = np.broadcast_to(x[test], (len(block), n_repeats, len(test), p)).copy()
            for c, j in enumerate(block):
                stacked[c, :, :, j] = x[shuffles[:, test], j]
            out = np.ravel(model.predict(stacked.reshape(-1, p)))
            preds[start : start + len(block), :, test] = out.reshape(len(block), n_repeats, len(test))
    drops = np.array([[base - r2_score(y[valid], preds[c, r][valid]) for r in range(n_repeats)] for c in range(len(candidates))])
    return candidates, drops.mean(axis=1), drops.std(axis=1)


@dataclass(frozen=True)
class CVResult:
    """Outcome of :func:`cross_validate` (R2 of pooled out-of-fold predictions per repeat)."""

    r2: np.ndarray
    predictions: pd.DataFrame  # sample, repeat, fold, observed, predicted
    importances: pd.DataFrame  # feature, importance_mean, importance_sd
    p_perm: float
    n_permutations: int
    oof: np.ndarray  # repeat 0's out-of-fold predictions (NaN = never tested)


def cross_validate(estimator: Pipeline, x: np.ndarray, y: np.ndarray, plan: FoldPlan, *, sample_ids: Any = None,
                   feature_names: Any = None, importance_repeats: int = 0, importance_max_features: int = 30,
                   perms: np.ndarray | None = None, seed: int = 0) -> CVResult:
    """Repeated CV of one target on ``plan``; with ``perms`` (B x n, design-respecting
    permutations of the samples) repeat 0 is re-run on each permuted target and
    ``p_perm = (1 + #{R2* >= R2}) / (1 + B)`` (NaN without permutations)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(y)
    sample_ids = np.arange(n) if sample_ids is None else np.asarray(sample_ids)
    feature_names = np.array([f"x{j}" for j in range(x.shape[1])]) if feature_names is None else np.asarray(feature_names)
    r2s, frames = [], []
    for r in range(len(plan.splits)):
        predicted, fitted = oof_predict(estimator, x, y, plan, r)
        valid = ~np.isnan(predicted)
        r2s.append(r2_score(y[valid], predicted[valid]) if valid.sum() > 1 else float("nan"))
        frames.append(pd.DataFrame(dict(sample=sample_ids, repeat=r, fold=plan.fold_of[r], observed=y, predicted=predicted))[valid])
        if r == 0:
            first_fitted, base_pred = fitted, predicted
    importances = pd.DataFrame(columns=["feature", "importance_mean", "importance_sd"])
    if importance_repeats > 0 and first_fitted:
        idx, mean, sd = heldout_importance(first_fitted, x, y, base_pred, importance_repeats, importance_max_features, seed)
        importances = pd.DataFrame(dict(feature=feature_names[idx], importance_mean=mean, importance_sd=sd))
        importances = importances.sort_values(["importance_mean", "feature"], ascending=[False, True], kind="stable", ignore_index=True)
    p_perm = float("nan")
    n_perm = 0 if perms is None else len(perms)
    if n_perm and np.isfinite(r2s[0]):
        permuted = y[perms].T  # (samples, B)
        if isinstance(estimator[-1], GroupedRidgeCV):
            pred, _ = oof_predict(estimator, x, permuted, plan, 0)  # every permuted target in one fit
        else:
            pred = np.column_stack([oof_predict(estimator, x, permuted[:, b], plan, 0)[0] for b in range(n_perm)])
        valid = ~np.isnan(pred[:, 0])
        null = np.array([r2_score(permuted[valid, b], pred[valid, b]) for b in range(n_perm)])
        p_perm = (1 + int(np.count_nonzero(null >= r2s[0] - 1e-12))) / (n_perm + 1)
    return CVResult(np.array(r2s), pd.concat(frames, ignore_index=True), importances, p_perm, n_perm, base_pred)


def paired_delta_r2(observed: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, groups: np.ndarray, *,
                    n_boot: int = 999, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """R2(a) - R2(b) of two out-of-fold predictions of the same samples, with a percentile
    bootstrap interval that resamples whole groups (samples of one group are not independent)."""
    ok = np.isfinite(observed) & np.isfinite(pred_a) & np.isfinite(pred_b)
    obs, a, b, g = observed[ok], pred_a[ok], pred_b[ok], np.asarray(groups)[ok]
    delta = r2_score(obs, a) - r2_score(obs, b)
    labels, codes = np.unique(g, return_inverse=True)
    if len(labels) < 2 or n_boot <= 0:
        return delta, float("nan"), float("nan")
    members = [np.flatnonzero(codes == k) for k in range(len(labels))]
    rng = np.random.default_rng(seed)
    # The resampled difference of squared errors is scaled by the variance of the whole sample:
    # a resample of a few similar groups has almost no variance of its own, and R2 on it explodes.
    variance = float(np.mean((obs - obs.mean()) ** 2))
    gain = (obs - b) ** 2 - (obs - a) ** 2
    draws = []
    for _ in range(n_boot):
        idx = np.concatenate([members[k] for k in rng.integers(len(labels), size=len(labels))])
        draws.append(float(np.mean(gain[idx])) / variance)
    low, high = np.nanquantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return delta, float(low), float(high)
