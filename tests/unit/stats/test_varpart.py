"""Tests of planktonlm.stats.varpart: variation partitioning and variance inflation factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planktonlm.stats.dbrda import adjusted_r2
from planktonlm.stats.transforms import community_distance
from planktonlm.stats.varpart import VARPART_COLUMNS, partition_variation, variance_inflation


def ols_r2(y: np.ndarray, x: np.ndarray) -> float:
    """Multivariate R2 (sum over response columns) of OLS with intercept, by lstsq."""
    design = np.column_stack([np.ones(len(x)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ coef
    return float(((fitted - y.mean(axis=0)) ** 2).sum() / ((y - y.mean(axis=0)) ** 2).sum())


def test_variation_partitioning_matches_hand_computed_r2():
    rng = np.random.default_rng(11)
    n = 30
    a = pd.DataFrame(rng.normal(size=(n, 2)), columns=["a1", "a2"])
    b = pd.DataFrame({"b1": 0.7 * a["a1"] + rng.normal(size=n)})  # collinear with group a
    y = rng.normal(size=(n, 4)) + np.column_stack([a["a1"], b["b1"], a["a2"], np.zeros(n)])
    table = partition_variation(community_distance(y, "euclidean"), {"A": a, "B": b}, n_permutations=49, seed=1)
    assert list(table.columns) == VARPART_COLUMNS
    parts = table.set_index("fraction")
    r2_a, r2_b, r2_ab = ols_r2(y, a.to_numpy()), ols_r2(y, b.to_numpy()), ols_r2(y, np.column_stack([a, b]))
    assert parts.loc["A", "r2"] == pytest.approx(r2_ab - r2_b, abs=1e-12)
    assert parts.loc["B", "r2"] == pytest.approx(r2_ab - r2_a, abs=1e-12)
    assert parts.loc["A&B", "r2"] == pytest.approx(r2_a + r2_b - r2_ab, abs=1e-12)
    assert parts.loc["residual", "r2"] == pytest.approx(1 - r2_ab, abs=1e-12)
    assert parts.loc["A (whole group)", "r2"] == pytest.approx(r2_a, abs=1e-12)
    assert parts.loc["all groups", "r2"] == pytest.approx(r2_ab, abs=1e-12)
    adj_a, adj_b, adj_ab = adjusted_r2(r2_a, n, 2), adjusted_r2(r2_b, n, 1), adjusted_r2(r2_ab, n, 3)
    assert parts.loc["A", "r2_adj"] == pytest.approx(adj_ab - adj_b, abs=1e-12)
    assert parts.loc["A&B", "r2_adj"] == pytest.approx(adj_a + adj_b - adj_ab, abs=1e-12)
    fractions = table[table["kind"].isin(["unique", "shared", "residual"])]
    assert fractions["r2"].sum() == pytest.approx(1.0, abs=1e-12)
    assert fractions["r2_adj"].sum() == pytest.approx(1.0, abs=1e-12)
    # Unique fractions are tested (given the other group), shared ones cannot be.
    assert table.query("kind == 'unique'")["p_value"].notna().all()
    assert table.query("kind == 'shared'")["p_value"].isna().all()
    assert parts.loc["A", "df_num"] == 2 and parts.loc["A", "df_den"] == n - 1 - 3
    assert np.allclose(table["p_min"].dropna(), 1 / 50)
    assert parts.loc["A", "p_value"] == pytest.approx(1 / 50)  # a1 and a2 drive y


def test_variation_partitioning_three_groups_sum_to_one(planted_community, undated):
    counts, env, stations = planted_community(seed=12)
    rng = np.random.default_rng(0)
    groups = {
        "temperature": env[["temperature"]],
        "environment": pd.DataFrame({"noise": env["noise"], "t_like": env["temperature"] + rng.normal(0, 5, len(env))}),
        "space_time": pd.DataFrame({"lat": rng.normal(size=len(env))}),
    }
    table = partition_variation(community_distance(counts, "braycurtis"), groups, n_permutations=49, seed=2, design=undated(stations))
    fractions = table[table["kind"].isin(["unique", "shared", "residual"])]
    assert len(fractions) == 8  # 3 unique + 4 shared + residual
    assert set(fractions.query("kind == 'shared'")["fraction"]) == {
        "temperature&environment", "temperature&space_time", "environment&space_time", "temperature&environment&space_time"}
    assert fractions["r2"].sum() == pytest.approx(1.0, abs=1e-10)
    assert fractions["r2_adj"].sum() == pytest.approx(1.0, abs=1e-10)
    all_row = table.query("kind == 'all'").iloc[0]
    assert 1 - all_row["r2_adj"] == pytest.approx(table.query("kind == 'residual'")["r2_adj"].iloc[0])
    # Moebius check on r2: unique + every shared part containing a group = the group alone.
    alone = table.query("kind == 'group'").set_index("groups")["r2"]
    for name in groups:
        parts = fractions[fractions["fraction"].str.split("&").map(lambda g, name=name: name in g)]
        assert parts["r2"].sum() == pytest.approx(alone[name], abs=1e-10)
    assert table.set_index("fraction").loc["temperature", "p_value"] < 0.05


def test_variation_partitioning_drops_incomplete_samples(planted_community):
    counts, env, stations = planted_community(seed=3)
    env = env.copy()
    env.loc[[1, 7], "noise"] = np.nan
    d = community_distance(counts, "hellinger").to_numpy()
    table = partition_variation(d, {"T": env[["temperature"]], "N": env[["noise"]]}, n_permutations=0)
    assert (table["n_dropped"] == 2).all() and (table["n_samples"] == len(env) - 2).all()
    keep = env.notna().all(axis=1).to_numpy()
    reference = partition_variation(d[np.ix_(keep, keep)], {"T": env.loc[keep, ["temperature"]], "N": env.loc[keep, ["noise"]]},
                                    n_permutations=0)
    assert np.allclose(table["r2"], reference["r2"], atol=1e-12)
    assert table["p_value"].isna().all()  # no permutations, no p-values
    with pytest.raises(ValueError, match="at least one group"):
        partition_variation(d, {})


def test_variation_partitioning_conditions_on_the_strata_of_the_design(planted_community, undated):
    """Under 'within' permutations every test is conditioned on the station: a group of
    station-level variables has nothing left to test."""
    counts, env, stations = planted_community(seed=5, n_stations=8, per_station=5)
    station_lat = pd.Series(np.linspace(30, 60, 8), index=[f"st{k}" for k in range(8)])
    groups = {"temperature": env[["temperature"]], "space": pd.DataFrame({"lat": station_lat[stations].to_numpy()})}
    d = community_distance(counts, "hellinger").to_numpy()
    within = partition_variation(d, groups, n_permutations=49, seed=0, design=undated(stations), permutation="within").set_index("fraction")
    assert np.isnan(within.loc["space", "p_value"]) and np.isnan(within.loc["space (whole group)", "p_value"])
    assert within.loc["temperature", "p_value"] < 0.05
    free = partition_variation(d, groups, n_permutations=49, seed=0, design=undated(stations), permutation="free").set_index("fraction")
    assert np.isfinite(free.loc["space", "p_value"]) and np.isfinite(free.loc["space (whole group)", "p_value"])
    # The fractions themselves do not depend on the permutations.
    assert np.allclose(within["r2"], free["r2"], atol=1e-12)


def test_variance_inflation():
    rng = np.random.default_rng(3)
    a = rng.normal(size=200)
    env = pd.DataFrame({"a": a, "a_copy": a + rng.normal(0, 0.1, 200), "free": rng.normal(size=200)})
    vif = variance_inflation(env).set_index("variable")
    assert vif.loc["a", "vif"] > 20 and vif.loc["a_copy", "vif"] > 20
    assert vif.loc["free", "vif"] < 1.2
    r2 = ols_r2(env[["a"]].to_numpy(), env[["a_copy", "free"]].to_numpy())
    assert vif.loc["a", "vif"] == pytest.approx(1 / (1 - r2), rel=1e-8)
    assert vif.loc["a", "r2_others"] == pytest.approx(r2, rel=1e-8)
    # An exact linear combination has an infinite VIF; incomplete samples are left out.
    exact = env.assign(total=env["a"] + env["free"])
    exact.loc[0, "free"] = np.nan
    table = variance_inflation(exact).set_index("variable")
    assert np.isinf(table.loc["total", "vif"]) and (table["n_samples"] == 199).all()
