"""Tests of planktonlm.stats.shifts: every shift table from the profiles, environment and metadata."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from planktonlm.config import build_config
from planktonlm.cube.build import build_cube
from planktonlm.cube.store import write_cube
from planktonlm.errors import PlanktonlmInputError
from planktonlm.simulate.community import simulate_tables
from planktonlm.simulate.design import monthly_design
from planktonlm.stages.shifts import run_shift_stage
from planktonlm.stats.shift_tables import SHIFT_TABLES, TABLE_COLUMNS, ShiftsConfig, write_shift_tables
from planktonlm.stats.shifts import run_shifts

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
        {"temperature_c": temperature, "ph": 8.0 + rng.normal(0, 0.05, n),
         "depth_m": np.repeat(rng.uniform(5, 80, n_stations), per_station), "always_missing": np.nan},
        index=samples,
    )
    env.iloc[2, 1] = np.nan
    meta = pd.DataFrame(
        {"cruise": "c1", "station": stations, "datetime": dates.strftime("%Y-%m-%dT%H:%M:%SZ"),
         "latitude": np.repeat(rng.uniform(40, 50, n_stations), per_station),
         "longitude": np.repeat(rng.uniform(-5, 5, n_stations), per_station)},
        index=samples,
    )
    optima = rng.uniform(0, 30, n_taxa)
    mean = 100 * np.exp(-((temperature[:, None] - optima) ** 2) / 50) + 0.5
    profiles = {
        "embedding": pd.DataFrame(rng.poisson(mean), index=samples, columns=[f"otu{j}" for j in range(n_taxa)]),
        "kmer": pd.DataFrame(rng.poisson(mean[:, ::-1] + 2), index=samples, columns=[f"kmer{j}" for j in range(n_taxa)]),
    }
    return profiles, env, meta


TINY = build_config(
    ShiftsConfig, "shifts", transformations=["braycurtis", "aitchison"], predict_transformations=["hellinger"], n_permutations=49,
    models=["ridge", "rf"], n_repeats=2, n_splits=3, n_pcoa_axes=2, rf_n_estimators=10, importance_repeats=2,
    importance_top_n=5, importance_max_features=8, cv_n_permutations=9,
)


def test_run_shifts_is_deterministic_and_profiles_share_splits(tmp_path):
    profiles, env, meta = small_cruise()
    first = run_shifts(profiles, env, meta, TINY, seed=5)
    shuffled = {k: v.sample(frac=1, random_state=1) for k, v in profiles.items()}
    second = run_shifts(shuffled, env.iloc[::-1], meta.sample(frac=1, random_state=2), TINY, seed=5)
    assert list(first) == SHIFT_TABLES
    for name, columns in TABLE_COLUMNS.items():
        assert first[name].columns.tolist() == columns, name
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


# ----------------------------------------------------------------------------------------------
# CV schemes, per-profile samples, missing dates, restricted drivers and targets
# ----------------------------------------------------------------------------------------------


FAST_SECTION = dict(
    transformations=["hellinger"], predict_transformations=["hellinger"], n_permutations=9, models=["ridge"],
    cv_schemes=["loo", "logo"], n_pcoa_axes=1, importance_repeats=1, importance_max_features=5, cv_n_permutations=0,
    save_models=False,
)
FAST = build_config(ShiftsConfig, "shifts", FAST_SECTION)


def test_profiles_on_their_own_samples_without_dates(tmp_path):
    profiles, env, meta = small_cruise(n_stations=5, per_station=4)
    meta["datetime"] = pd.NaT  # published tables often have no dates
    partial = profiles["kmer"].copy()
    partial.iloc[:6] = np.nan  # all-NaN rows: absent from this profile (as the cube stores them)
    profiles["kmer"] = partial
    kwargs = dict(env_targets=("temperature_c",), env_drivers=("temperature_c", "depth_m"))
    shared = run_shifts(profiles, env, meta, replace(FAST, **kwargs), seed=2)
    own = run_shifts(profiles, env, meta, replace(FAST, **kwargs, profile_samples="per_profile"), seed=2)
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
        run_shifts(profiles, env, meta, replace(FAST, env_targets=("oxygen_umol_kg",)), seed=2)


def test_shift_stage_reads_a_cruise_cube(tmp_path):
    profiles, env, meta = small_cruise(n_stations=4, per_station=4)
    sheet = meta.assign(datetime=pd.to_datetime(meta["datetime"], utc=True), depth_m=env["depth_m"])
    sheet = pd.concat([sheet, env.drop(columns=["depth_m"])], axis=1)
    oracle = profiles["embedding"] / profiles["embedding"].sum(axis=1).to_numpy()[:, None]
    cube = build_cube(sheet, {**profiles, "oracle": oracle}, {"config_sha256": "c" * 64, "input_sha256": {}})
    write_cube(cube, tmp_path / "cube.nc")
    results = run_shift_stage(tmp_path / "cube.nc", tmp_path / "out", {**FAST_SECTION, "cv_schemes": ["grouped"]}, seed=4)
    assert set(results["cv_metrics"]["profile"]) == {"embedding", "kmer", "oracle"}  # each profile on its own
    assert "depth_m" in set(results["dbrda_marginal"]["variable"])  # the depth coordinate joins the drivers
    assert (results["cv_metrics"]["group_by"] == "station").all() and set(results["cv_metrics"]["cv"]) == {"grouped"}
    assert (tmp_path / "out" / "cv_metrics.tsv").exists()
    with pytest.raises(PlanktonlmInputError, match="n_split"):
        run_shift_stage(tmp_path / "cube.nc", tmp_path / "out", {"n_split": 3}, seed=4)


# ----------------------------------------------------------------------------------------------
# Time series: design-respecting tests, adjusted p-values, the season as a baseline
# ----------------------------------------------------------------------------------------------

SERIES = build_config(ShiftsConfig, "shifts", transformations=["braycurtis"], predict_transformations=["hellinger", "clr"],
                      n_permutations=199, models=["ridge", "pls"], n_repeats=1, importance_repeats=0, cv_n_permutations=99,
                      n_bootstrap=99)


def simulated(community_model: str, seed: int, n_stations: int = 4, n_months: int = 24):
    design = monthly_design(n_stations, n_months, community_model=community_model, decoy_phi=0.85)
    samples, counts = simulate_tables(design, seed)
    meta = samples[["cruise", "station", "datetime", "latitude", "longitude", "depth_m"]]
    env = samples.drop(columns=meta.columns).assign(depth_m=samples["depth_m"])
    noisy = counts + np.random.default_rng(seed).poisson(3, counts.shape)
    return {"embedding": counts, "kmer": noisy}, env, meta


def test_driven_series_temperature_significant_after_adjustment_noise_not():
    profiles, env, meta = simulated("niches", seed=3)
    res = run_shifts(profiles, env, meta, SERIES, seed=1)
    marginal = res["dbrda_marginal"].set_index(["profile", "variable"])
    for profile in profiles:
        assert marginal.loc[(profile, "temperature_c"), "p_holm"] <= 0.05
        assert marginal.loc[(profile, "noise_index"), "p_holm"] > 0.05
        assert marginal.loc[(profile, "decoy_index"), "p_holm"] > 0.05
        assert not marginal.loc[(profile, "depth_m"), "testable"]  # whole series move in time: depth never moves
    assert marginal["permutation"].str.startswith("cyclic shifts in time").all()
    # p-values are multiples of the smallest attainable one; Holm never lowers a p-value
    tested = res["dbrda_marginal"].dropna(subset=["p_value"])
    assert np.allclose(tested["p_value"] / tested["p_min"], np.round(tested["p_value"] / tested["p_min"]))
    assert (tested["p_holm"] >= tested["p_value"] - 1e-12).all() and tested["q_bh"].notna().all()
    # one primary result per profile x direction x target, with its permutation p-value
    cv = res["cv_metrics"]
    primary = cv[cv["primary"]]
    assert not primary.duplicated(["profile", "direction", "target"]).any()
    assert set(primary.query("direction == 'community_to_env'")["transformation"]) == {"hellinger"}
    assert set(primary["model"]) == {"ridge"} and primary["p_perm"].notna().all()
    assert cv.loc[~cv["primary"], "p_perm"].isna().all()
    assert primary["folds"].str.startswith("station (4 folds").all()
    # the season as a baseline, in both directions, for the primary rows only
    season = res["season_baseline"]
    assert set(season["direction"]) == {"community_to_env", "env_to_community"}
    assert len(season) == len(primary)
    temp = season.query("profile == 'embedding' and target == 'temperature_c'").iloc[0]
    assert temp["delta_low"] <= temp["delta_r2"] <= temp["delta_high"]
    assert temp["delta_r2"] == pytest.approx(temp["r2_both"] - temp["r2_season"], abs=1e-9)
    assert set(res["dbrda_season"]["variable"]) == set(res["dbrda_marginal"]["variable"])
    assert set(res["dbrda_lagged"]["lag"]) == {1, 2}
    assert (res["trends"]["test"] == "seasonal Mann-Kendall").all()  # 24 regular monthly dates: testable
    assert len(res["time_lag"]) == 2 and res["time_lag"]["slope_p_value"].notna().all()
    comparison = res["profile_comparison"]
    assert set(zip(comparison["profile_a"], comparison["profile_b"])) == {("embedding", "kmer")}
    assert (comparison["n_groups"] == 4).all()


def test_autocorrelated_null_is_not_called_a_driver():
    profiles, env, meta = simulated("ar1", seed=5, n_stations=3)
    res = run_shifts({"embedding": profiles["embedding"]}, env, meta, SERIES, seed=2)
    marginal = res["dbrda_marginal"].set_index("variable")
    assert (marginal["p_holm"].dropna() > 0.05).all()
    free = replace(SERIES, permutation_mode="free")
    shuffled = run_shifts({"embedding": profiles["embedding"]}, env, meta, free, seed=2)["dbrda_marginal"].set_index("variable")
    # shuffling months as if independent calls the seasonal variables drivers
    assert shuffled.loc["temperature_c", "p_value"] <= 0.05 < marginal.loc["temperature_c", "p_value"]
