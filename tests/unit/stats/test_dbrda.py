"""Tests of planktonlm.stats.dbrda: distance-based RDA, its permutation tests and forward selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from planktonlm.errors import PlanktonlmInputError
from planktonlm.simulate.community import simulate_tables
from planktonlm.simulate.design import monthly_design
from planktonlm.stats.dbrda import DbRDA, adjusted_r2
from planktonlm.stats.permutations import RestrictedPermutation, SamplingDesign
from planktonlm.stats.transforms import community_distance


def monthly(n_stations: int, n_months: int, depths=(5.0,)) -> tuple[SamplingDesign, np.ndarray]:
    """Design of stations x depths x months (rows station, depth, month) and the day of year."""
    dates = pd.date_range("2020-01-01", periods=n_months, freq="MS", tz="UTC") + pd.Timedelta(days=14)
    days = ((dates - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)).to_numpy()
    k = len(depths)
    design = SamplingDesign(
        np.repeat([f"st{s}" for s in range(n_stations)], k * n_months).astype(object),
        np.tile(np.repeat(np.asarray(depths, dtype=float), n_months), n_stations),
        np.tile(days, n_stations * k),
    )
    return design, np.tile(dates.day_of_year.to_numpy(), n_stations * k)


def ols_r2(y: np.ndarray, x: np.ndarray) -> float:
    """Multivariate R2 (sum over response columns) of OLS with intercept, by lstsq."""
    design = np.column_stack([np.ones(len(x)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ coef
    return float(((fitted - y.mean(axis=0)) ** 2).sum() / ((y - y.mean(axis=0)) ** 2).sum())


def test_planted_temperature_effect_is_recovered(planted_community, undated):
    counts, env, stations = planted_community(seed=1)
    distances = community_distance(counts, "braycurtis")
    est = DbRDA(n_permutations=199, random_state=7).fit(distances, env, design=undated(stations))

    marginal = est.marginal_.set_index("variable")
    assert marginal["r2"].idxmax() == "temperature"
    assert marginal.loc["temperature", "r2"] > 0.3
    assert marginal.loc["temperature", "p_value"] < 0.05
    assert est.conditional_.set_index("variable").loc["temperature", "p_value"] < 0.05
    first = est.forward_.query("step == 1").iloc[0]
    assert first["variable"] == "temperature" and bool(first["selected"])
    assert est.selected_variables_[0] == "temperature"
    assert est.permutation_scheme_ == "stations"  # undated, 10 equal stations: whole stations swap (10! arrangements)
    assert est.n_permutations_ == 199


def test_noise_variable_is_not_found(planted_community):
    marginal_p, conditional_p = [], []
    for seed in range(40):
        counts, env, _ = planted_community(seed=100 + seed, n_stations=6, per_station=5)
        est = DbRDA(n_permutations=99, forward=False, random_state=seed).fit(community_distance(counts, "hellinger"), env)
        marginal_p.append(est.marginal_.set_index("variable").loc["noise", "p_value"])
        conditional_p.append(est.conditional_.set_index("variable").loc["noise", "p_value"])
    assert est.permutation_scheme_ == "free"  # no design
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
    assert est.total_variation_ == pytest.approx(((y - y.mean(axis=0)) ** 2).sum(), rel=1e-10)
    for j in range(m):
        assert est.marginal_["r2"].iloc[j] == pytest.approx(ols_r2(y, x[:, [j]]), rel=1e-10)
    # Unique fraction of a variable = R2(all) - R2(all but it).
    assert est.conditional_["r2"].iloc[2] == pytest.approx(r2 - ols_r2(y, x[:, :2]), abs=1e-12)
    # Constrained eigenvalues sum to the explained variation; scores are the fitted values' PCs.
    assert est.eigenvalues_.sum() == pytest.approx(est.r2_ * est.total_variation_, rel=1e-10)
    assert est.site_scores_.shape == (n, m)
    assert np.allclose((est.site_scores_**2).sum(axis=0), est.eigenvalues_)
    # The community table with metric="euclidean" gives the same fit.
    same = DbRDA(metric="euclidean", n_permutations=0).fit(y, x)
    assert same.r2_ == pytest.approx(est.r2_, rel=1e-12)
    # Without permutations nothing is tested.
    assert est.marginal_["p_value"].isna().all() and not est.marginal_["testable"].any()


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


def test_p_values_are_multiples_of_the_smallest_possible(planted_community, undated):
    counts, env, stations = planted_community(seed=2, n_stations=6, per_station=5)
    est = DbRDA(n_permutations=49, permutation="free", random_state=1).fit(community_distance(counts, "hellinger"), env,
                                                                           design=undated(stations))
    assert est.n_permutations_ == 49
    for table in (est.marginal_, est.conditional_):
        assert np.allclose(table["p_min"], 1 / 50)
        assert (table["p_value"] >= 1 / 50).all()
        assert np.allclose(table["p_value"] * 50, np.round(table["p_value"] * 50))
    assert est.marginal_.set_index("variable").loc["temperature", "p_value"] == pytest.approx(1 / 50)
    # Few arrangements: all of them are enumerated and p_min = 1 / n_distinct.
    design, doy = monthly(3, 12)
    rng = np.random.default_rng(0)
    env = pd.DataFrame({"temperature": np.sin(2 * np.pi * doy / 365.25) + rng.normal(0, 0.3, 36)})
    community = rng.gamma(2.0, 1.0, size=(36, 8))
    est = DbRDA(n_permutations=999).fit(community_distance(community, "hellinger"), env, design=design)
    assert est.permutation_scheme_ == "series" and est.n_distinct_permutations_ == 12 * 2 * 6
    assert est.n_permutations_ == 143
    assert est.marginal_["p_min"].iloc[0] == pytest.approx(1 / 144)
    assert est.forward_["p_min"].iloc[0] == pytest.approx(1 / 144)


def test_a_variable_the_permutations_cannot_move_is_not_tested():
    design, doy = monthly(3, 12, depths=(5.0, 50.0))
    rng = np.random.default_rng(4)
    n = design.n_samples
    temperature = 15 + 5 * np.sin(2 * np.pi * doy / 365.25) - 0.1 * design.depth + rng.normal(0, 0.5, n)
    env = pd.DataFrame({"temperature": temperature, "depth": design.depth})
    community = np.exp(rng.normal(size=(n, 6)) + np.outer(design.depth / 50, rng.normal(size=6)))
    est = DbRDA(n_permutations=99, permutation="series", random_state=0).fit(community_distance(community, "hellinger"), env,
                                                                             design=design)
    assert est.permutation_scheme_ == "series"
    for table in (est.marginal_, est.conditional_):
        depth = table.set_index("variable").loc["depth"]
        assert not bool(depth["testable"]) and np.isnan(depth["p_value"])
        assert np.isfinite(depth["F"]) and depth["r2"] > 0  # described, just not tested
        temp = table.set_index("variable").loc["temperature"]
        assert bool(temp["testable"]) and np.isfinite(temp["p_value"])
    # Under free permutations depth can be tested (wrongly treating samples as exchangeable).
    free = DbRDA(n_permutations=99, permutation="free", random_state=0).fit(community_distance(community, "hellinger"), env,
                                                                            design=design)
    assert free.marginal_.set_index("variable").loc["depth", "testable"]


def test_covariates_are_partialled_out():
    design, doy = monthly(4, 12)
    rng = np.random.default_rng(5)
    n = design.n_samples
    angle = 2 * np.pi * doy / 365.25
    season = pd.DataFrame({"doy_sin": np.sin(angle), "doy_cos": np.cos(angle)})
    other = rng.normal(size=n)
    env = pd.DataFrame({"seasonal": 2 * season["doy_sin"] - 3 * season["doy_cos"] + 10, "other": other})
    y = rng.normal(size=(n, 4)) + np.column_stack([season["doy_sin"], other, other, np.zeros(n)])
    est = DbRDA(n_permutations=49, permutation="series", random_state=0).fit(community_distance(y, "euclidean"), env, design=design,
                                                                             covariates=season)
    marginal = est.marginal_.set_index("variable")
    # A driver the covariates explain entirely explains nothing beyond them.
    assert marginal.loc["seasonal", "r2"] == pytest.approx(0.0, abs=1e-10)
    assert np.isnan(marginal.loc["seasonal", "p_value"]) and not marginal.loc["seasonal", "testable"]
    # Another one: R2(other + covariates) - R2(covariates), tested given them.
    z = season.to_numpy()
    expected = ols_r2(y, np.column_stack([other, z])) - ols_r2(y, z)
    assert marginal.loc["other", "r2"] == pytest.approx(expected, rel=1e-9)
    assert marginal.loc["other", "p_value"] <= 0.05
    assert est.r2_ == pytest.approx(expected, rel=1e-9)  # the full model adds only 'other' to the covariates
    assert est.r2_adj_covariates_ == pytest.approx(adjusted_r2(ols_r2(y, z), n, 2), rel=1e-9)
    assert est.selected_variables_ == ["other"]
    with pytest.raises(ValueError, match="design"):
        DbRDA(n_permutations=0).fit(community_distance(y, "euclidean"), env, design=design.subset(np.arange(n) < 10))


def test_forward_selection_stops_when_the_global_model_is_not_significant():
    rng = np.random.default_rng(12)
    n = 40
    community = rng.gamma(2.0, 1.0, size=(n, 10))
    env = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    est = DbRDA(n_permutations=99, random_state=3).fit(community_distance(community, "hellinger"), env)
    assert est.p_value_ > 0.05
    assert len(est.forward_) == 1
    step0 = est.forward_.iloc[0]
    assert step0["step"] == 0 and step0["variable"] == "<all>" and not bool(step0["selected"])
    assert step0["stop_reason"] == "global model not significant"
    assert step0["p_value"] == pytest.approx(est.p_value_)
    assert est.selected_variables_ == []


def test_dbrda_drops_samples_with_missing_values(planted_community, undated):
    counts, env, stations = planted_community(seed=4)
    env = env.copy()
    env.loc[[0, 5, 9], "noise"] = np.nan
    est = DbRDA(n_permutations=19).fit(community_distance(counts, "hellinger"), env, design=undated(stations))
    assert est.n_dropped_ == 3 and est.n_samples_ == len(env) - 3
    assert est.marginal_["n_samples"].eq(len(env) - 3).all()
    assert est.permutation_scheme_ == "free"  # stations no longer of equal size: none can swap
    kept = np.flatnonzero(est.sample_mask_)
    reference = DbRDA(n_permutations=0).fit(community_distance(counts[kept], "hellinger"), env.iloc[kept])
    assert est.r2_ == pytest.approx(reference.r2_, rel=1e-12)
    covariate = pd.DataFrame({"z": np.arange(len(env), dtype=float)})
    covariate.loc[[1, 2], "z"] = np.nan
    assert DbRDA(n_permutations=0).fit(community_distance(counts, "hellinger"), env, covariates=covariate).n_dropped_ == 5


def test_dbrda_follows_the_estimator_contract(planted_community):
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
    again = clone(est).fit(counts, env)  # same seed, same permutations, same p-values
    pd.testing.assert_frame_equal(again.marginal_, est.marginal_)


def test_dbrda_rejects_bad_input(planted_community):
    counts, env, _ = planted_community(seed=6, n_stations=3, per_station=4)
    env = env.assign(constant=1.0)
    with pytest.raises(PlanktonlmInputError, match="constant"):
        DbRDA(n_permutations=0).fit(community_distance(counts, "hellinger"), env)
    bad = community_distance(counts, "hellinger").to_numpy().copy()
    bad[0, 1] = -1.0
    with pytest.raises(PlanktonlmInputError, match="not a distance matrix"):
        DbRDA(n_permutations=0).fit(bad, env[["temperature"]])
    with pytest.raises(PlanktonlmInputError, match="not numeric"):
        DbRDA(n_permutations=0).fit(community_distance(counts, "hellinger"), env.assign(label="x"))
    with pytest.raises(ValueError, match="metric"):
        DbRDA(metric="jaccard", n_permutations=0).fit(counts, env[["temperature"]])


def test_series_permutations_hold_their_level_under_an_autocorrelated_null():
    """A community that nothing drives but that drifts in time (log abundance AR(1), phi 0.85 per
    month, per station), and a seasonal temperature with station offsets, sampled monthly at 3
    stations for 24 months. Free permutations treat the samples as exchangeable and find the
    'driver' most of the time; whole-series cyclic shifts keep the nominal level."""
    design = monthly_design(3, 24, community_model="ar1", ar1_phi=0.85, ar1_depth_sd=0.0, depths=(5.0,), decoy_phi=0.85)
    p = {"series": [], "free": []}
    for seed in range(50):
        samples, counts = simulate_tables(design, seed)
        sampling = SamplingDesign.from_frame(samples)
        distances = community_distance(counts.to_numpy(), "hellinger").to_numpy()
        for scheme in p:
            est = DbRDA(n_permutations=99, permutation=scheme, forward=False, random_state=seed)
            est.fit(distances, samples[["temperature_c", "decoy_index"]], design=sampling)
            assert est.permutation_scheme_ == scheme
            p[scheme].append(est.marginal_["p_value"].to_numpy())
    series, free = np.array(p["series"]), np.array(p["free"])  # (data sets, variables)
    assert np.all(np.mean(series <= 0.05, axis=0) <= 0.15)
    assert np.all(np.mean(free <= 0.05, axis=0) > 0.3)
    assert RestrictedPermutation(sampling, "auto").scheme == "series"  # what auto picks for this design



def test_too_few_arrangements_is_not_testable():
    # 2 stations x 3 dates: 3 shifts x 2 mirrors x 2 swaps = 12 arrangements, p >= 1/12 > 0.05
    meta = pd.DataFrame({"station": np.repeat(["A", "B"], 3), "depth_m": 5.0,
                         "datetime": np.tile(["2021-01-15", "2021-05-15", "2021-09-15"], 2)})
    design = SamplingDesign.from_frame(meta)
    rng = np.random.default_rng(3)
    env = pd.DataFrame({"temperature": rng.normal(size=6)})
    counts = rng.poisson(20, size=(6, 8)) + 1
    est = DbRDA(n_permutations=99, random_state=1).fit(community_distance(counts, "braycurtis"), env, design=design)
    row = est.marginal_.iloc[0]
    assert est.n_distinct_permutations_ == 12 and row["p_min"] == pytest.approx(1 / 12)
    assert not row["testable"] and np.isfinite(row["p_value"])
