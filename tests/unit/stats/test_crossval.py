"""Tests of planktonlm.stats.crossval: grouped ridge, models, cross-validation, importances, comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cross_decomposition import PLSRegression
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from planktonlm.stats.crossval import (
    GroupedRidgeCV,
    cross_validate,
    heldout_importance,
    make_model,
    oof_predict,
    paired_delta_r2,
    r2_score,
)
from planktonlm.stats.folds import make_fold_plan
from planktonlm.stats.permutations import RestrictedPermutation, SamplingDesign
from planktonlm.stats.transforms import community_features

ALPHAS = tuple(10.0**k for k in range(-2, 6))


def station_plan(stations: np.ndarray, n_splits: int = 5, n_repeats: int = 1, seed: int = 0):
    """Station-grouped folds of undated samples; and the design."""
    meta = pd.DataFrame({"station": stations})
    design = SamplingDesign.from_frame(meta)
    return make_fold_plan(meta, design, "station", n_splits=n_splits, n_repeats=n_repeats, seed=seed), design


def planted_community(seed: int, n_stations: int = 10, per_station: int = 6, n_taxa: int = 40):
    """Counts whose taxa have Gaussian temperature niches."""
    rng = np.random.default_rng(seed)
    n = n_stations * per_station
    temperature = rng.uniform(2, 28, n)
    optima = rng.uniform(0, 30, n_taxa)
    mean = 200 * np.exp(-((temperature[:, None] - optima) ** 2) / (2 * 6.0**2)) + 0.5
    counts = rng.poisson(mean).astype(float)
    stations = np.repeat([f"st{k}" for k in range(n_stations)], per_station)
    return counts, temperature, stations


def clustered(seed: int = 0, n_groups: int = 10, per_group: int = 6, p: int = 20):
    """Features that identify the group, and a target that is a group effect the features cannot
    carry to a new group: within groups a flexible fit helps, across groups only shrinkage does."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    centres = rng.normal(size=(n_groups, p))
    x = centres[groups] + 0.3 * rng.normal(size=(len(groups), p))
    y = rng.normal(size=n_groups)[groups] + 0.1 * rng.normal(size=len(groups))
    return x, y, groups


def manual_alpha(x: np.ndarray, y: np.ndarray, inner: np.ndarray, alphas=ALPHAS) -> float:
    """Alpha with the smallest summed squared error over the inner folds, by sklearn's Ridge."""
    errors = []
    for alpha in alphas:
        sse = 0.0
        for fold in np.unique(inner):
            test = inner == fold
            pred = Ridge(alpha=alpha).fit(x[~test], y[~test]).predict(x[test])
            sse += float(np.sum((pred - y[test]) ** 2))
        errors.append(sse)
    return alphas[int(np.argmin(errors))]


def test_grouped_ridge_equals_sklearn_ridge_at_its_alpha():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 8))
    y = x @ rng.normal(size=8) + rng.normal(0, 0.5, 50)
    groups = np.repeat(np.arange(10), 5)
    est = GroupedRidgeCV(alphas=ALPHAS).fit(x, y, groups=groups)
    assert est.alpha_ in ALPHAS and est.coef_.shape == (8,) and isinstance(est.intercept_, float)
    reference = Ridge(alpha=est.alpha_).fit(x, y)
    assert np.allclose(est.coef_, reference.coef_, atol=1e-10)
    assert est.intercept_ == pytest.approx(reference.intercept_, abs=1e-10)
    new = rng.normal(size=(7, 8))
    assert np.allclose(est.predict(new), reference.predict(new), atol=1e-10)
    # The alpha is the one leave-group-out (groups in 5 inner folds) prefers.
    assert est.alpha_ == manual_alpha(x, y, groups % 5)
    # Wide data (more features than samples) too.
    wide = rng.normal(size=(12, 30))
    target = wide[:, 0] + rng.normal(0, 0.1, 12)
    fit = GroupedRidgeCV(alphas=ALPHAS).fit(wide, target, groups=np.repeat(np.arange(4), 3))
    assert np.allclose(fit.predict(wide), Ridge(alpha=fit.alpha_).fit(wide, target).predict(wide), atol=1e-8)


def test_grouped_ridge_chooses_alpha_without_the_held_out_groups():
    x, y, groups = clustered()
    grouped = GroupedRidgeCV(alphas=ALPHAS).fit(x, y, groups=groups)
    by_sample = GroupedRidgeCV(alphas=ALPHAS).fit(x, y)  # every sample its own group
    # Samples of a group resemble each other: with them in training, little shrinkage looks best;
    # for a new group, only heavy shrinkage (predicting the mean) does.
    assert by_sample.alpha_ < grouped.alpha_
    assert grouped.alpha_ == manual_alpha(x, y, groups % 5)
    assert by_sample.alpha_ == manual_alpha(x, y, np.arange(len(y)) % 5)
    # In cross-validation each fold's ridge chooses its alpha on that fold's training stations only.
    plan, _ = station_plan(np.array([f"st{g}" for g in groups]), n_splits=5)
    model = make_model("ridge", n_samples=len(y), n_features=x.shape[1], seed=0, ridge_alphas=ALPHAS)
    _, fitted = oof_predict(model, x, y, plan, 0)
    assert len(fitted) == 5
    for (fold, test, pipe), (_, train, test_again) in zip(fitted, plan.splits[0]):
        assert np.array_equal(test, test_again)
        scaled = StandardScaler().fit(x[train]).transform(x[train])
        assert pipe[-1].alpha_ == manual_alpha(scaled, y[train], np.unique(plan.groups[train], return_inverse=True)[1] % 5)
    # Fewer than 3 groups: contiguous inner folds.
    two = GroupedRidgeCV(alphas=ALPHAS).fit(x, y, groups=np.repeat(["a", "b"], 30))
    assert two.alpha_ == manual_alpha(x, y, np.arange(60) * 5 // 60)


def test_grouped_ridge_with_many_targets_equals_separate_fits():
    x, y, groups = clustered(seed=2)
    rng = np.random.default_rng(3)
    targets = np.column_stack([y, x[:, 0] + rng.normal(0, 0.2, len(y)), rng.normal(size=len(y))])
    joint = GroupedRidgeCV(alphas=ALPHAS).fit(x, targets, groups=groups)
    assert joint.coef_.shape == (3, x.shape[1]) and joint.alpha_.shape == (3,)
    assert len(set(joint.alpha_)) > 1  # each target its own alpha
    for k in range(3):
        alone = GroupedRidgeCV(alphas=ALPHAS).fit(x, targets[:, k], groups=groups)
        assert joint.alpha_[k] == alone.alpha_
        assert np.allclose(joint.coef_[k], alone.coef_, atol=1e-10)
        assert joint.intercept_[k] == pytest.approx(alone.intercept_, abs=1e-10)
    assert np.allclose(joint.predict(x)[:, 1], GroupedRidgeCV(alphas=ALPHAS).fit(x, targets[:, 1], groups=groups).predict(x))


def test_make_model():
    ridge = make_model("ridge", n_samples=30, n_features=10, seed=0, ridge_alphas=(0.1, 1.0))
    assert list(ridge.named_steps) == ["scale", "model"]
    assert isinstance(ridge[-1], GroupedRidgeCV) and ridge[-1].alphas == (0.1, 1.0)
    pls = make_model("pls", n_samples=30, n_features=1, seed=0, ridge_alphas=ALPHAS, pls_n_components=3)
    assert isinstance(pls[-1], PLSRegression) and pls[-1].n_components == 1  # capped by the features
    assert make_model("pls", n_samples=4, n_features=10, seed=0, ridge_alphas=ALPHAS, pls_n_components=5)[-1].n_components == 2
    rf = make_model("rf", n_samples=30, n_features=10, seed=4, ridge_alphas=ALPHAS, rf_n_estimators=7)
    assert isinstance(rf[-1], RandomForestRegressor) and rf[-1].random_state == 4 and rf[-1].n_estimators == 7
    with pytest.raises(ValueError, match="unknown model"):
        make_model("svm", n_samples=30, n_features=10, seed=0, ridge_alphas=ALPHAS)


def test_planted_temperature_is_predicted_from_the_community():
    counts, temperature, stations = planted_community(seed=1)
    features = community_features(counts, "hellinger").to_numpy()
    plan, design = station_plan(stations, n_splits=5, n_repeats=2, seed=3)
    perms = RestrictedPermutation(design, "stations").draw(39, seed=5)
    model = make_model("ridge", n_samples=len(temperature), n_features=features.shape[1], seed=0, ridge_alphas=ALPHAS)
    result = cross_validate(model, features, temperature, plan, perms=perms, seed=5)
    assert result.r2.shape == (2,) and result.r2.min() > 0.5
    assert result.p_perm == pytest.approx(1 / 40) and result.n_permutations == 39
    assert set(result.predictions["repeat"]) == {0, 1}
    assert len(result.predictions) == 2 * len(temperature)
    assert np.isfinite(result.oof).all()
    # Out-of-fold: each prediction comes from a model that never saw the sample's station.
    first = result.predictions.query("repeat == 0")
    assert (first.groupby(stations[first["sample"].to_numpy()])["fold"].nunique() == 1).all()
    assert result.r2[0] == pytest.approx(r2_score(temperature, result.oof))


def test_permutation_p_value_counts_the_null_fits():
    rng = np.random.default_rng(6)
    stations = np.repeat([f"st{k}" for k in range(8)], 5)
    n = len(stations)
    x = rng.normal(size=(n, 4))
    plan, design = station_plan(stations, n_splits=4)
    perms = RestrictedPermutation(design, "free").draw(19, seed=1)
    for name in ("ridge", "pls"):
        for y in (x[:, 0] + 0.5 * rng.normal(size=n), rng.normal(size=n)):
            model = make_model(name, n_samples=n, n_features=4, seed=0, ridge_alphas=ALPHAS)
            result = cross_validate(model, x, y, plan, perms=perms)
            null = []
            for perm in perms:
                pred, _ = oof_predict(model, x, y[perm], plan, 0)
                null.append(r2_score(y[perm], pred))
            k = int(np.sum(np.array(null) >= result.r2[0] - 1e-9))
            assert result.p_perm == pytest.approx((1 + k) / (1 + len(perms)))
    # A real signal gets the smallest p-value, noise a large one.
    signal = cross_validate(make_model("ridge", n_samples=n, n_features=4, seed=0, ridge_alphas=ALPHAS), x,
                            x[:, 0] + 0.5 * rng.normal(size=n), plan, perms=perms)
    noise = cross_validate(make_model("ridge", n_samples=n, n_features=4, seed=0, ridge_alphas=ALPHAS), x,
                           rng.normal(size=n), plan, perms=perms)
    assert signal.p_perm == pytest.approx(1 / 20)
    assert noise.p_perm > 0.2
    assert np.isnan(cross_validate(make_model("ridge", n_samples=n, n_features=4, seed=0, ridge_alphas=ALPHAS), x,
                                   rng.normal(size=n), plan).p_perm)


def test_heldout_importance_ranks_the_informative_feature_first():
    rng = np.random.default_rng(8)
    n = 60
    x = rng.normal(size=(n, 6))
    y = 3 * x[:, 2] + rng.normal(0, 0.5, n)
    stations = np.repeat([f"g{k:02d}" for k in range(12)], 5)
    plan, _ = station_plan(stations, n_splits=4)
    names = [f"f{j}" for j in range(6)]
    for model in ("ridge", "pls", "rf"):
        est = make_model(model, n_samples=n, n_features=6, seed=0, ridge_alphas=ALPHAS, rf_n_estimators=30)
        result = cross_validate(est, x, y, plan, feature_names=names, importance_repeats=3, seed=2)
        assert result.importances["feature"].iloc[0] == "f2"
        assert result.importances["importance_mean"].iloc[0] > 0.5
        assert len(result.importances) == 6
        assert (result.importances["importance_mean"].iloc[1:] < 0.1).all()
        # Screening by the fold models' own importance keeps the informative feature.
        screened = cross_validate(est, x, y, plan, feature_names=names, importance_repeats=2, importance_max_features=2, seed=2)
        assert len(screened.importances) == 2 and screened.importances["feature"].iloc[0] == "f2"
    # The drop in R2 is that of re-predicting every held-out sample with the feature shuffled.
    est = make_model("ridge", n_samples=n, n_features=6, seed=0, ridge_alphas=ALPHAS)
    base, fitted = oof_predict(est, x, y, plan, 0)
    idx, mean, sd = heldout_importance(fitted, x, y, base, n_repeats=1, max_features=6, seed=9)
    shuffle = np.random.default_rng(9).permutation(n)
    shuffled = x.copy()
    shuffled[:, 2] = x[shuffle, 2]
    again = np.full(n, np.nan)
    for _, test, model in fitted:
        again[test] = model.predict(shuffled[test])
    assert list(idx) == list(range(6)) and sd[2] == 0.0
    assert mean[2] == pytest.approx(r2_score(y, base) - r2_score(y, again), rel=1e-10)


def test_paired_delta_r2():
    rng = np.random.default_rng(10)
    n = 80
    groups = np.repeat(np.arange(16), 5)
    observed = rng.normal(size=n)
    good = observed + rng.normal(0, 0.5, n)
    bad = observed + rng.normal(0, 1.0, n)
    delta, low, high = paired_delta_r2(observed, good, bad, groups, n_boot=499, seed=1)
    assert delta == pytest.approx(r2_score(observed, good) - r2_score(observed, bad), rel=1e-12)
    assert low < delta < high and low > 0  # the better prediction is clearly better
    reverse = paired_delta_r2(observed, bad, good, groups, n_boot=499, seed=1)
    assert reverse[0] == pytest.approx(-delta) and reverse[1] == pytest.approx(-high) and reverse[2] == pytest.approx(-low)
    # A tie: the interval spans 0. Seeded.
    twin = paired_delta_r2(observed, good, good + rng.normal(0, 0.01, n), groups, n_boot=199, seed=3)
    assert twin[1] < 0 < twin[2] and twin[1] <= twin[0] <= twin[2]
    assert paired_delta_r2(observed, good, bad, groups, n_boot=99, seed=2) == paired_delta_r2(observed, good, bad, groups, n_boot=99, seed=2)
    # Missing predictions are left out; one group gives no interval.
    with_gap = good.copy()
    with_gap[:5] = np.nan
    d, lo, hi = paired_delta_r2(observed, with_gap, bad, np.zeros(n), n_boot=99)
    assert d == pytest.approx(r2_score(observed[5:], good[5:]) - r2_score(observed[5:], bad[5:]))
    assert np.isnan(lo) and np.isnan(hi)
