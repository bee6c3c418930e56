"""Tests of planktonlm.shifts: dbRDA, variation partitioning, grouped permutations and CV, run_shifts."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from planktonlm.errors import PlanktonlmInputError
from planktonlm.shifts import (
    DbRDA,
    GroupedPermutation,
    ShiftsConfig,
    adjusted_r2,
    choose_cv_groups,
    community_distance,
    community_features,
    cross_validate_target,
    cv_fold_ids,
    grouped_fold_ids,
    iter_grouped_splits,
    make_model,
    partition_variation,
    run_shift_stage,
    run_shifts,
    variance_inflation,
    write_shift_tables,
)


def planted_community(seed: int, n_stations: int = 10, per_station: int = 6, n_taxa: int = 40):
    """Counts whose taxa have Gaussian temperature niches; 'noise' is independent of everything."""
    rng = np.random.default_rng(seed)
    n = n_stations * per_station
    temperature = rng.uniform(2, 28, n)
    noise = rng.normal(size=n)
    optima = rng.uniform(0, 30, n_taxa)
    mean = 200 * np.exp(-((temperature[:, None] - optima) ** 2) / (2 * 6.0**2)) + 0.5
    counts = rng.poisson(mean).astype(float)
    env = pd.DataFrame({"temperature": temperature, "noise": noise})
    stations = np.repeat([f"st{k}" for k in range(n_stations)], per_station)
    return counts, env, stations


def ols_r2(y: np.ndarray, x: np.ndarray) -> float:
    """Multivariate R2 (sum over response columns) of OLS with intercept, by lstsq."""
    design = np.column_stack([np.ones(len(x)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ coef
    return float(((fitted - y.mean(axis=0)) ** 2).sum() / ((y - y.mean(axis=0)) ** 2).sum())


# ----------------------------------------------------------------------------------------------
# dbRDA
# ----------------------------------------------------------------------------------------------


def test_planted_temperature_effect_is_recovered():
    counts, env, stations = planted_community(seed=1)
    distances = community_distance(counts, "braycurtis")
    est = DbRDA(n_permutations=199, random_state=7).fit(distances, env, groups=stations)

    marginal = est.marginal_.set_index("variable")
    assert marginal["r2"].idxmax() == "temperature"
    assert marginal.loc["temperature", "r2"] > 0.3
    assert marginal.loc["temperature", "p_value"] < 0.05
    assert est.conditional_.set_index("variable").loc["temperature", "p_value"] < 0.05
    first = est.forward_.query("step == 1").iloc[0]
    assert first["variable"] == "temperature" and bool(first["selected"])
    assert est.selected_variables_[0] == "temperature"
    assert est.permutation_scheme_ == "blocks"  # equal-size stations swap as whole blocks

    # The other direction: temperature predicted from the community under station-grouped CV.
    features = community_features(counts, "hellinger")
    folds = grouped_fold_ids(stations, n_splits=5, n_repeats=2, seed=3)
    cfg = ShiftsConfig()
    result = cross_validate_target(
        make_model("ridge", cfg, n_samples=len(env), n_features=features.shape[1], seed=0),
        features, env["temperature"].to_numpy(), folds, groups=stations, n_permutations=39, seed=5,
    )
    assert result.r2.min() > 0.5
    assert result.p_perm <= 0.05
    assert set(result.predictions["repeat"]) == {0, 1}


def test_noise_variable_is_not_found():
    marginal_p, conditional_p = [], []
    for seed in range(40):
        counts, env, _ = planted_community(seed=100 + seed, n_stations=6, per_station=5)
        est = DbRDA(n_permutations=99, forward=False, random_state=seed).fit(community_distance(counts, "hellinger"), env)
        marginal_p.append(est.marginal_.set_index("variable").loc["noise", "p_value"])
        conditional_p.append(est.conditional_.set_index("variable").loc["noise", "p_value"])
    for p in (np.array(marginal_p), np.array(conditional_p)):
        assert np.mean(p > 0.05) >= 0.9
        # Calibrated, not merely conservative: null p-values average about 0.5.
        assert 0.3 < p.mean() < 0.7


def test_dbrda_with_euclidean_distance_equals_rda():
    rng = np.random.default_rng(0)
    n, m = 35, 3
    x = rng.normal(size=(n, m))
    y = rng.normal(size=(n, 5))
    y[:, 0] += 1.5 * x[:, 0]
    y[:, 1] -= x[:, 1]
    est = DbRDA(n_permutations=0).fit(community_distance(y, "euclidean"), x)
    r2 = ols_r2(y, x)
    assert est.r2_ == pytest.approx(r2, rel=1e-10)
    assert est.F_ == pytest.approx((r2 / m) / ((1 - r2) / (n - m - 1)), rel=1e-10)
    for j in range(m):
        assert est.marginal_["r2"].iloc[j] == pytest.approx(ols_r2(y, x[:, [j]]), rel=1e-10)
    # Unique fraction of a variable = R2(all) - R2(all but it).
    assert est.conditional_["r2"].iloc[2] == pytest.approx(r2 - ols_r2(y, x[:, :2]), abs=1e-12)
    # Constrained eigenvalues sum to the explained variation.
    assert est.eigenvalues_.sum() == pytest.approx(est.r2_ * est.total_variation_, rel=1e-10)
    # The community table with metric="euclidean" gives the same fit.
    same = DbRDA(metric="euclidean", n_permutations=0).fit(y, x)
    assert same.r2_ == pytest.approx(est.r2_, rel=1e-12)


def test_adjusted_r2_matches_hand_computation():
    # 1 - (1 - 0.5) * (21 - 1) / (21 - 4 - 1) = 1 - 0.5 * 20 / 16
    assert adjusted_r2(0.5, 21, 4) == pytest.approx(0.375)
    assert np.isnan(adjusted_r2(0.9, 5, 4))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(25, 2))
    y = rng.normal(size=(25, 3)) + x[:, [0]]
    est = DbRDA(n_permutations=0).fit(community_distance(y, "euclidean"), x)
    r2 = ols_r2(y, x)
    assert est.r2_adj_ == pytest.approx(1 - (1 - r2) * (25 - 1) / (25 - 2 - 1), rel=1e-10)


def test_dbrda_drops_samples_with_missing_values():
    counts, env, stations = planted_community(seed=4)
    env = env.copy()
    env.loc[[0, 5, 9], "noise"] = np.nan
    est = DbRDA(n_permutations=19).fit(community_distance(counts, "hellinger"), env, groups=stations)
    assert est.n_dropped_ == 3 and est.n_samples_ == len(env) - 3
    assert est.permutation_scheme_ == "within"  # stations no longer of equal size
    kept = np.flatnonzero(est.sample_mask_)
    reference = DbRDA(n_permutations=0).fit(community_distance(counts[kept], "hellinger"), env.iloc[kept])
    assert est.r2_ == pytest.approx(reference.r2_, rel=1e-12)


def test_dbrda_follows_the_estimator_contract():
    est = DbRDA(metric="hellinger", n_permutations=49, alpha=0.1, permutation="free", random_state=3)
    params = est.get_params()
    assert params["metric"] == "hellinger" and params["n_permutations"] == 49
    assert DbRDA().set_params(**params).get_params() == params
    copy = clone(est)
    assert copy.get_params() == params and copy is not est
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    counts, env, _ = planted_community(seed=5, n_stations=4, per_station=5)
    assert est.fit(counts, env) is est
    check_is_fitted(est)
    assert not any(k.endswith("_") for k in vars(clone(est)))  # clone drops learned state
    learned = [k for k in vars(est) if k not in params]
    assert learned and all(k.endswith("_") for k in learned)


def test_dbrda_rejects_bad_input():
    counts, env, _ = planted_community(seed=6, n_stations=3, per_station=4)
    env = env.assign(constant=1.0)
    with pytest.raises(PlanktonlmInputError, match="constant"):
        DbRDA(n_permutations=0).fit(community_distance(counts, "hellinger"), env)
    bad = community_distance(counts, "hellinger")
    bad[0, 1] = -1.0
    with pytest.raises(PlanktonlmInputError, match="not a distance matrix"):
        DbRDA(n_permutations=0).fit(bad, env[["temperature"]])


# ----------------------------------------------------------------------------------------------
# Variation partitioning, VIF
# ----------------------------------------------------------------------------------------------


def test_variation_partitioning_matches_hand_computed_r2():
    rng = np.random.default_rng(11)
    n = 30
    a = pd.DataFrame(rng.normal(size=(n, 2)), columns=["a1", "a2"])
    b = pd.DataFrame({"b1": 0.7 * a["a1"] + rng.normal(size=n)})  # collinear with group a
    y = rng.normal(size=(n, 4)) + np.column_stack([a["a1"], b["b1"], a["a2"], np.zeros(n)])
    table = partition_variation(community_distance(y, "euclidean"), {"A": a, "B": b}, n_permutations=49, seed=1)
    parts = table.set_index("fraction")
    r2_a, r2_b, r2_ab = ols_r2(y, a.to_numpy()), ols_r2(y, b.to_numpy()), ols_r2(y, np.column_stack([a, b]))
    assert parts.loc["A", "r2"] == pytest.approx(r2_ab - r2_b, abs=1e-12)
    assert parts.loc["B", "r2"] == pytest.approx(r2_ab - r2_a, abs=1e-12)
    assert parts.loc["A&B", "r2"] == pytest.approx(r2_a + r2_b - r2_ab, abs=1e-12)
    assert parts.loc["residual", "r2"] == pytest.approx(1 - r2_ab, abs=1e-12)
    adj_a, adj_b, adj_ab = adjusted_r2(r2_a, n, 2), adjusted_r2(r2_b, n, 1), adjusted_r2(r2_ab, n, 3)
    assert parts.loc["A", "r2_adj"] == pytest.approx(adj_ab - adj_b, abs=1e-12)
    assert parts.loc["A&B", "r2_adj"] == pytest.approx(adj_a + adj_b - adj_ab, abs=1e-12)
    fractions = table[table["kind"].isin(["unique", "shared", "residual"])]
    assert fractions["r2"].sum() == pytest.approx(1.0, abs=1e-12)
    assert fractions["r2_adj"].sum() == pytest.approx(1.0, abs=1e-12)
    # Unique fractions are tested, shared ones cannot be.
    assert table.query("kind == 'unique'")["p_value"].notna().all()
    assert table.query("kind == 'shared'")["p_value"].isna().all()


def test_variation_partitioning_three_groups_sum_to_one():
    counts, env, stations = planted_community(seed=12)
    rng = np.random.default_rng(0)
    groups = {
        "temperature": env[["temperature"]],
        "environment": pd.DataFrame({"noise": env["noise"], "t_like": env["temperature"] + rng.normal(0, 5, len(env))}),
        "space_time": pd.DataFrame({"lat": rng.normal(size=len(env))}),
    }
    table = partition_variation(community_distance(counts, "braycurtis"), groups, n_permutations=49, seed=2, groups=stations)
    fractions = table[table["kind"].isin(["unique", "shared", "residual"])]
    assert len(fractions) == 8  # 3 unique + 4 shared + residual
    assert fractions["r2"].sum() == pytest.approx(1.0, abs=1e-10)
    assert fractions["r2_adj"].sum() == pytest.approx(1.0, abs=1e-10)
    all_row = table.query("kind == 'all'").iloc[0]
    assert 1 - all_row["r2_adj"] == pytest.approx(table.query("kind == 'residual'")["r2_adj"].iloc[0])
    assert table.set_index("fraction").loc["temperature", "p_value"] < 0.05


def test_variance_inflation():
    rng = np.random.default_rng(3)
    a = rng.normal(size=200)
    env = pd.DataFrame({"a": a, "a_copy": a + rng.normal(0, 0.1, 200), "free": rng.normal(size=200)})
    vif = variance_inflation(env).set_index("variable")
    assert vif.loc["a", "vif"] > 20 and vif.loc["a_copy", "vif"] > 20
    assert vif.loc["free", "vif"] < 1.2
    r2 = ols_r2(env[["a"]].to_numpy(), env[["a_copy", "free"]].to_numpy())
    assert vif.loc["a", "vif"] == pytest.approx(1 / (1 - r2), rel=1e-8)


# ----------------------------------------------------------------------------------------------
# Grouped permutations and grouped CV
# ----------------------------------------------------------------------------------------------


def test_grouped_permutation_keeps_groups_intact():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.array(["s1", "s2", "s3", "s4", "s5"]), 4)
    shuffle = rng.permutation(len(groups))
    groups = groups[shuffle]
    times = rng.permutation(len(groups)).astype(float)
    scheme = GroupedPermutation(groups, mode="auto", order=times)
    assert scheme.scheme == "blocks" and scheme.n_distinct == 120
    perms = scheme.draw(200, seed=1)
    assert not np.all(perms == np.arange(len(groups)))
    for perm in perms:
        assert np.array_equal(np.sort(perm), np.arange(len(groups)))
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)
            members = members[np.argsort(times[members])]
            moved = perm[members]
            assert len(set(groups[moved])) == 1  # group partners move together
            assert np.all(np.diff(times[moved]) > 0)  # and keep their time order

    unequal = np.array(["a"] * 3 + ["b"] * 5 + ["c"] * 2)
    within = GroupedPermutation(unequal, mode="auto")
    assert within.scheme == "within"
    perms = within.draw(100, seed=2)
    assert np.all(unequal[perms] == unequal[None, :])
    assert len({tuple(p) for p in perms}) > 1

    # Blocks among groups of equal size; enumerable count of distinct permutations.
    small = np.array(["a", "a", "b", "b", "c", "c", "d"])
    blocks = GroupedPermutation(small, mode="blocks")
    assert blocks.n_distinct == 6
    perms = blocks.draw(300, seed=3)
    assert len({tuple(p) for p in perms}) == 6
    assert np.all(perms[:, 6] == 6)  # the only group of size 1 stays
    assert GroupedPermutation(small, mode="auto").scheme == "within"  # group d cannot move
    paired = np.array(["a", "a", "b", "b", "c", "d", "e"])  # every size shared, but only 2! x 3! = 12 swaps
    assert GroupedPermutation(paired, mode="auto").scheme == "within"
    paired = np.array([*"aabbccddee", *"fghij"])  # 5 pairs + 5 singles: 5! x 5! swaps
    assert GroupedPermutation(paired, mode="auto").scheme == "blocks"
    assert GroupedPermutation(None).scheme == "free"
    assert np.array_equal(GroupedPermutation(small).draw(5, seed=9), GroupedPermutation(small).draw(5, seed=9))


@pytest.mark.parametrize(
    "sizes, n_splits",
    [([3, 5, 2, 7, 4, 4, 1, 6, 3, 2, 5, 8, 2], 5), ([6, 6, 6], 5), ([1] * 12, 4)],
)
def test_grouped_cv_never_splits_a_group(sizes, n_splits):
    rng = np.random.default_rng(len(sizes))
    groups = rng.permutation(np.repeat([f"g{k}" for k in range(len(sizes))], sizes))
    folds = grouped_fold_ids(groups, n_splits=n_splits, n_repeats=4, seed=7)
    expected_repeats = 1 if len(sizes) <= n_splits else 4
    assert folds.shape == (expected_repeats, len(groups))
    subset = rng.random(len(groups)) > 0.3  # a target with missing values uses a subset
    for fold_row in folds:
        for row, labels in ((fold_row, groups), (fold_row[subset], groups[subset])):
            splits = list(iter_grouped_splits(row))
            assert len(splits) >= 2
            for _, train, test in splits:
                assert not set(labels[train]) & set(labels[test])
                assert len(np.intersect1d(train, test)) == 0
    if expected_repeats > 1:
        assert len({tuple(r) for r in folds}) > 1  # repeats reshuffle the group assignment
    assert np.array_equal(folds, grouped_fold_ids(groups, n_splits=n_splits, n_repeats=4, seed=7))


def test_choose_cv_groups_prefers_cruise_then_station_then_time():
    dates = pd.date_range("2021-01-01", periods=8, freq="30D", tz="UTC")
    meta = pd.DataFrame({"cruise": ["c1"] * 4 + ["c2"] * 4, "station": ["a", "b"] * 4, "datetime": dates})
    labels, name = choose_cv_groups(meta)
    assert name == "cruise" and list(labels) == ["c1"] * 4 + ["c2"] * 4
    labels, name = choose_cv_groups(meta.assign(cruise="c1"))
    assert name == "station" and len(set(labels)) == 2
    labels, name = choose_cv_groups(meta.assign(cruise="c1", station="a"), time_block_days=60)
    assert name == "time_block" and len(set(labels)) == 4
    assert all(labels[i] == labels[i + 1] for i in (0, 2, 4, 6))  # consecutive 60-day windows
    week = meta.assign(cruise="c1", station="a", datetime=pd.date_range("2021-01-01", periods=8, freq="D", tz="UTC"))
    labels, name = choose_cv_groups(week, time_block_days=60, n_fallback_blocks=4)
    assert name == "time_block" and len(set(labels)) == 4


def test_heldout_importance_ranks_the_informative_feature_first():
    rng = np.random.default_rng(8)
    n = 60
    x = rng.normal(size=(n, 6))
    y = 3 * x[:, 2] + rng.normal(0, 0.5, n)
    groups = np.repeat(np.arange(12), 5)
    folds = grouped_fold_ids(groups, n_splits=4, n_repeats=1, seed=1)
    for model in ("ridge", "pls", "rf"):
        cfg = ShiftsConfig(rf_n_estimators=30)
        est = make_model(model, cfg, n_samples=n, n_features=6, seed=0)
        names = [f"f{j}" for j in range(6)]
        result = cross_validate_target(est, x, y, folds, feature_names=names, importance_repeats=3, seed=2)
        assert result.importances["feature"].iloc[0] == "f2"
        assert result.importances["importance_mean"].iloc[0] > 0.5
        # Screening by the fold models' own importance keeps the informative feature.
        screened = cross_validate_target(est, x, y, folds, feature_names=names, importance_repeats=2,
                                         importance_max_features=2, seed=2)
        assert len(screened.importances) == 2 and screened.importances["feature"].iloc[0] == "f2"


# ----------------------------------------------------------------------------------------------
# Stage entry point
# ----------------------------------------------------------------------------------------------


def small_cruise(seed: int = 0, n_stations: int = 5, per_station: int = 6, n_taxa: int = 25):
    rng = np.random.default_rng(seed)
    n = n_stations * per_station
    samples = [f"S{i:03d}" for i in range(n)]
    stations = np.repeat([f"st{k}" for k in range(n_stations)], per_station)
    dates = pd.Timestamp("2020-01-05", tz="UTC") + pd.to_timedelta(np.tile(np.arange(per_station) * 50, n_stations), unit="D")
    temperature = 15 + 7 * np.sin(2 * np.pi * dates.day_of_year.to_numpy() / 365.25) + rng.normal(0, 1, n)
    env = pd.DataFrame(
        {"temperature_c": temperature, "ph": 8.0 + rng.normal(0, 0.05, n), "depth_m": np.repeat(rng.uniform(5, 80, n_stations), per_station),
         "always_missing": np.nan},
        index=samples,
    )
    env.iloc[2, 1] = np.nan
    meta = pd.DataFrame(
        {"cruise": "c1", "station": stations, "datetime": dates.strftime("%Y-%m-%dT%H:%M:%SZ"),
         "latitude": np.repeat(rng.uniform(40, 50, n_stations), per_station), "longitude": np.repeat(rng.uniform(-5, 5, n_stations), per_station)},
        index=samples,
    )
    optima = rng.uniform(0, 30, n_taxa)
    mean = 100 * np.exp(-((temperature[:, None] - optima) ** 2) / 50) + 0.5
    profiles = {
        "embedding": pd.DataFrame(rng.poisson(mean), index=samples, columns=[f"otu{j}" for j in range(n_taxa)]),
        "kmer": pd.DataFrame(rng.poisson(mean[:, ::-1] + 2), index=samples, columns=[f"kmer{j}" for j in range(n_taxa)]),
    }
    return profiles, env, meta


TINY = ShiftsConfig(
    transformations=("braycurtis", "aitchison"), predict_transformations=("hellinger",), n_permutations=49,
    models=("ridge", "rf"), n_repeats=2, n_splits=3, n_pcoa_axes=2, rf_n_estimators=10, importance_repeats=2,
    importance_top_n=5, importance_max_features=8, cv_n_permutations=9,
)


def test_run_shifts_is_deterministic_and_profiles_share_splits(tmp_path):
    profiles, env, meta = small_cruise()
    first = run_shifts(profiles, env, meta, TINY, seed=5)
    shuffled = {k: v.sample(frac=1, random_state=1) for k, v in profiles.items()}
    second = run_shifts(shuffled, env.iloc[::-1], meta.sample(frac=1, random_state=2), TINY, seed=5)
    assert set(first) == {"dbrda_marginal", "dbrda_conditional", "dbrda_forward", "varpart", "cv_metrics",
                          "predictions", "importances", "vif", "excluded"}
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], check_exact=True)
    other_seed = run_shifts(profiles, env, meta, TINY, seed=6)
    assert not first["predictions"].equals(other_seed["predictions"])
    parallel = run_shifts(profiles, env, meta, TINY, seed=5, n_jobs=2)
    for name in first:  # targets scored in two processes: the same tables, in the same order
        pd.testing.assert_frame_equal(first[name], parallel[name], check_exact=True)
    assert list(parallel.models) == list(first.models) and any("/rf" in key for key in first.models)
    assert pickle.dumps(parallel.models) == pickle.dumps(first.models)  # models.pkl does not depend on n_jobs
    key = next(key for key in first.models if key.endswith("/ridge"))
    np.testing.assert_array_equal(parallel.models[key][-1].coef_, first.models[key][-1].coef_)

    cv = first["cv_metrics"]
    assert (cv["group_by"] == "station").all()
    assert set(cv["profile"]) == {"embedding", "kmer"}
    assert set(cv["direction"]) == {"community_to_env", "env_to_community"}
    temp = cv.query("direction == 'community_to_env' and target == 'temperature_c' and model == 'ridge'")
    assert (temp["r2_mean"] > 0.5).all()
    assert first["excluded"]["item"].tolist() == ["always_missing"]
    assert first["dbrda_marginal"]["n_dropped"].eq(1).all()  # the sample with missing pH
    assert set(first["varpart"]["fraction"]) >= {"temperature", "environment", "space_time", "residual"}

    # Identical splits for every profile, and no station ever split between train and test.
    preds = first["predictions"]
    station_of = meta["station"]
    keyed = preds.set_index(["direction", "target", "model", "repeat", "sample"]).sort_index()
    emb, kmer = keyed.query("profile == 'embedding'"), keyed.query("profile == 'kmer'")
    emb_direct = emb.query("direction == 'community_to_env'")["fold"]
    kmer_direct = kmer.query("direction == 'community_to_env'")["fold"]
    assert emb_direct.equals(kmer_direct)
    for _, part in preds.groupby(["profile", "direction", "target", "model", "repeat"]):
        assert (part.groupby(part["sample"].map(station_of))["fold"].nunique() == 1).all()

    paths = write_shift_tables(first, tmp_path / "a")
    write_shift_tables(second, tmp_path / "b")
    assert (tmp_path / "a" / "models.pkl").exists() and len(paths) == len(first) + 1
    for path in paths:
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
    assert not list((tmp_path / "a").glob(".tmp-*"))
    header = (tmp_path / "a" / "cv_metrics.tsv").read_text().splitlines()[0].split("\t")
    assert header[:5] == ["profile", "transformation", "direction", "target", "model"]


def test_run_shifts_reports_bad_inputs_together():
    profiles, env, meta = small_cruise()
    meta = meta.drop(columns=["cruise"])
    meta.iloc[1, meta.columns.get_loc("datetime")] = "not a date"
    profiles["embedding"].iloc[0, 0] = -3
    with pytest.raises(PlanktonlmInputError) as err:
        run_shifts(profiles, env, meta, TINY, seed=1)
    messages = str(err.value)
    assert "cruise" in messages and "not a date" in messages and "non-negative" in messages
    assert len(err.value.problems) == 3


def test_shifts_config_validation():
    cfg = ShiftsConfig(models=["ridge", "pls"], transformations=["hellinger"])
    assert cfg.models == ("ridge", "pls") and isinstance(cfg.transformations, tuple)
    with pytest.raises(PlanktonlmInputError) as err:
        ShiftsConfig(models=("ridge", "svm"), alpha=1.5, n_splits=1)
    assert {p.column for p in err.value.problems} == {"shifts.models", "shifts.alpha", "shifts.n_splits"}


# ----------------------------------------------------------------------------------------------
# CV schemes, per-profile samples, missing dates, restricted drivers and targets
# ----------------------------------------------------------------------------------------------


def test_cv_schemes_loo_and_leave_one_group_out():
    groups = np.array(["b", "a", "b", "c", "a", "a", "d"])
    loo = cv_fold_ids("loo", groups, n_splits=3, n_repeats=4, seed=1)
    assert loo.shape == (1, 7) and len(set(loo[0])) == 7  # one fold per sample
    logo = cv_fold_ids("logo", groups, n_splits=3, n_repeats=4, seed=1)
    assert logo.shape == (1, 7) and len(set(logo[0])) == 4  # one fold per group ...
    for _, train, test in iter_grouped_splits(logo[0]):
        assert len(set(groups[test])) == 1 and not set(groups[train]) & set(groups[test])  # ... never split
    assert np.array_equal(cv_fold_ids("grouped", groups, n_splits=3, n_repeats=4, seed=1),
                          grouped_fold_ids(groups, 3, 4, 1))
    with pytest.raises(PlanktonlmInputError) as err:
        ShiftsConfig(cv_schemes=("loo", "kfold"), profile_samples="some", env_targets=("t", "t"))
    assert {p.column for p in err.value.problems} == {"shifts.cv_schemes", "shifts.profile_samples", "shifts.env_targets"}


FAST = ShiftsConfig(
    transformations=("hellinger",), predict_transformations=("hellinger",), n_permutations=9, models=("ridge",),
    cv_schemes=("loo", "logo"), n_pcoa_axes=1, importance_repeats=1, importance_max_features=5, cv_n_permutations=0,
    save_models=False,
)


def test_profiles_on_their_own_samples_without_dates(tmp_path):
    profiles, env, meta = small_cruise(n_stations=5, per_station=4)
    meta["datetime"] = pd.NaT  # published tables often have no dates
    partial = profiles["kmer"].copy()
    partial.iloc[:6] = np.nan  # all-NaN rows: absent from this profile (as the cube stores them)
    profiles["kmer"] = partial
    kwargs = dict(env_targets=("temperature_c",), env_drivers=("temperature_c", "depth_m"))
    shared = run_shifts(profiles, env, meta, ShiftsConfig(**{**FAST.__dict__, **kwargs}), seed=2)
    own = run_shifts(profiles, env, meta, ShiftsConfig(**{**FAST.__dict__, **kwargs, "profile_samples": "per_profile"}), seed=2)
    n_used = lambda r: r["cv_metrics"].groupby("profile")["n_samples"].agg(set).to_dict()  # noqa: E731
    assert n_used(shared) == {"embedding": {14}, "kmer": {14}}
    assert n_used(own) == {"embedding": {20}, "kmer": {14}}
    cv = own["cv_metrics"].query("direction == 'community_to_env'")
    assert set(cv["target"]) == {"temperature_c"} and set(cv["cv"]) == {"loo", "logo"}
    assert set(own["dbrda_marginal"]["variable"]) == {"temperature_c", "depth_m"}
    assert own["excluded"]["reason"].str.contains("no date").any()
    # Folds: leave-one-out gives each sample its own fold; leave-one-station-out never splits one.
    preds = own["predictions"]
    station = preds["sample"].map(meta["station"])
    for (profile, scheme), part in preds.groupby(["profile", "cv"]):
        if scheme == "loo":
            assert part.groupby(["direction", "target"])["fold"].agg(lambda f: f.is_unique).all()
        else:
            assert (part.groupby(["direction", "target", station[part.index]])["fold"].nunique() == 1).all()
    with pytest.raises(PlanktonlmInputError, match="shifts.env_targets"):
        run_shifts(profiles, env, meta, ShiftsConfig(**{**FAST.__dict__, "env_targets": ("oxygen_umol_kg",)}), seed=2)


def test_shift_stage_reads_a_cruise_cube(tmp_path):
    from planktonlm.cube import build_cube, write_cube

    profiles, env, meta = small_cruise(n_stations=4, per_station=4)
    sheet = meta.assign(datetime=pd.to_datetime(meta["datetime"], utc=True), depth_m=env["depth_m"])
    sheet = pd.concat([sheet, env.drop(columns=["depth_m"])], axis=1)
    oracle = profiles["embedding"] / profiles["embedding"].sum(axis=1).to_numpy()[:, None]
    cube = build_cube(sheet, {**profiles, "oracle": oracle}, {"config_sha256": "c" * 64, "input_sha256": {}})
    write_cube(cube, tmp_path / "cube.nc")
    results = run_shift_stage(tmp_path / "cube.nc", tmp_path / "out", {**FAST.__dict__, "cv_schemes": ["grouped"]}, seed=4)
    assert set(results["cv_metrics"]["profile"]) == {"embedding", "kmer", "oracle"}  # each profile on its own
    assert "depth_m" in set(results["dbrda_marginal"]["variable"])  # the depth coordinate joins the drivers
    assert (results["cv_metrics"]["group_by"] == "station").all() and set(results["cv_metrics"]["cv"]) == {"grouped"}
    assert (tmp_path / "out" / "cv_metrics.tsv").exists()
    with pytest.raises(PlanktonlmInputError, match="shifts.n_split"):
        run_shift_stage(tmp_path / "cube.nc", tmp_path / "out", {"n_split": 3}, seed=4)


def test_auto_permutation_tests_within_groups_when_too_few_groups_to_swap():
    from planktonlm.shifts import GroupedPermutation

    two_stations = np.repeat(["A", "B"], 12)
    perm = GroupedPermutation(two_stations, mode="auto")
    assert perm.scheme == "within"  # swapping two stations gives 2 arrangements: p could never be < 0.5
    draws = perm.draw(50, seed=1)
    assert all(set(two_stations[d[:12]]) == {"A"} for d in draws)  # samples stay in their station
    assert GroupedPermutation(np.repeat(list("ABCDEF"), 4), mode="auto").scheme == "blocks"  # 720 swaps
