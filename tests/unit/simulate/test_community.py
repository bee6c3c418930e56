"""The true community: niche-driven or a null AR(1) walk, its drivers, and the table-only simulation."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.simulate.community import (
    DRIVERS,
    ENV_VARIABLES,
    NICHES,
    design_driver_strengths,
    design_genomes,
    driver_strengths,
    resolve_niches,
    simulate_abundance,
    simulate_ar1_community,
    simulate_community,
    simulate_tables,
)
from planktonlm.simulate.design import LATER_FIELD_DEFAULTS, PRESETS, TINY_GENOMES, CruiseDesign, monthly_design
from planktonlm.simulate.environment import ENVIRONMENT_MODEL, environment_model, simulate_environment
from planktonlm.simulate.writer import design_record

# Recorded from the code before community_model / decoy_phi / simulate_tables existed (seed 1):
# sha256 of simulate_environment written as samples.tsv, and a few true abundances.
PRESET_ENV_SHA256 = {
    "tiny": "aa691bc5bee98552455bb997df5821c8d08e3076b4180ca30f5198484311ceec",
    "demo": "2d8bdf78a4a0dcbe74b27ee80d4102e0b5ca5b6c962a9c91b5b9af83fc008dbb",
}
PRESET_ABUNDANCE = {  # first and last sample, first three genomes
    "tiny": [[0.0463547242, 0.0066276143, 0.1938760403], [0.0003104665, 0.0345711463, 0.372080449]],
    "demo": [[0.0162186999, 0.0846958361, 0.5294238759], [0.0575399548, 0.221289392, 0.0051623497]],
}
PRESET_TEMPERATURE_STRENGTH = {"tiny": 0.5105, "demo": 0.5979}


def clr(abundance: pd.DataFrame) -> pd.DataFrame:
    logs = np.log(abundance)
    return logs.sub(logs.mean(axis=1), axis=0)


def lag1(x: np.ndarray) -> float:
    x = np.asarray(x, float) - np.mean(x)
    return float((x[1:] * x[:-1]).sum() / (x * x).sum())


def by_series(samples: pd.DataFrame) -> list[pd.DataFrame]:
    """The samples of each station x depth, in time order."""
    return [g.sort_values("datetime") for _, g in samples.groupby(["station", "depth_m"])]


def test_niches_are_package_data_for_every_demo_genome(genomes: Path) -> None:
    table = resources.files("planktonlm.simulate").joinpath("niches.tsv").read_text()
    assert "\nprochlorococcus_marinus_MED4\tProchlorococcus HLI\t22.0\t" in table
    bundled = {p.name.removesuffix(".fna.gz") for p in genomes.glob("*.fna.gz")}
    # the demo's genomes are the documented ones; the folder also holds the base model's other pretraining genomes
    assert sorted(NICHES) == design_genomes(PRESETS["demo"]) and set(NICHES) < bundled
    med4 = NICHES["prochlorococcus_marinus_MED4"]
    assert (med4.thermal_optimum_c, med4.depth_preference_m, med4.ph_slope, med4.source) == (22.0, 10.0, 0.0, "documented")
    assert NICHES["nitrosopumilus_maritimus_SCM1"].note.startswith("ammonia oxidiser")
    numeric = ("thermal_optimum_c", "thermal_width_c", "depth_preference_m", "depth_width_log10", "ph_slope", "base_weight")
    assert all(type(getattr(n, key)) is float for n in NICHES.values() for key in numeric)


def test_unknown_genomes_get_a_niche_drawn_from_their_name() -> None:
    first = resolve_niches(["x_unknown", "pelagibacter_ubique_HTCC1062"], 3)
    second = resolve_niches(["y_other", "x_unknown"], 3)
    assert first[0] == second[1] and first[0].source == "random"  # adding a genome moves no other niche
    assert first[1] is NICHES["pelagibacter_ubique_HTCC1062"]
    assert resolve_niches(["x_unknown"], 4)[0] != first[0]
    assert 10 <= first[0].thermal_optimum_c <= 27 and 5 <= first[0].depth_preference_m <= 200


def test_temperature_is_the_strongest_driver() -> None:
    design = PRESETS["demo"]
    env = simulate_environment(design, 1)
    niches = resolve_niches(list(NICHES), 1)
    abundance = simulate_community(env, niches, 1, design.community_noise_sd)
    assert np.allclose(abundance.sum(axis=1), 1.0)
    warmest = max(niches, key=lambda n: n.thermal_optimum_c).genome
    coldest = min(niches, key=lambda n: n.thermal_optimum_c).genome
    log_abundance = np.log(abundance)
    assert np.corrcoef(env["temperature_c"], log_abundance[warmest])[0, 1] > 0.5
    assert np.corrcoef(env["temperature_c"], log_abundance[coldest])[0, 1] < -0.5
    drivers = driver_strengths(env, niches, 1, design.community_noise_sd).set_index("variable")
    assert drivers["strength"].idxmax() == "temperature_c"
    assert drivers.loc["temperature_c", "rank"] == 1
    assert drivers.loc["noise_index", "strength"] == 0 and drivers.loc["noise_index", "role"] == "noise"


def test_noise_index_does_not_touch_the_community() -> None:
    design = PRESETS["demo"]
    env = simulate_environment(design, 5)
    niches = resolve_niches(list(NICHES), 5)
    reference = simulate_community(env, niches, 5)
    scrambled = env.assign(noise_index=np.random.default_rng(0).normal(size=len(env)))
    pd.testing.assert_frame_equal(simulate_community(scrambled, niches, 5), reference)
    # ... and it is not correlated with the environment or the community either.
    others = env[["temperature_c", "depth_m", "ph", "salinity_psu", "oxygen_umol_kg"]]
    assert others.corrwith(env["noise_index"]).abs().max() < 0.45
    noise = env.set_index("sample")["noise_index"]
    assert np.log(reference).corrwith(noise).abs().max() < 0.5


@pytest.mark.parametrize("name", ["tiny", "demo"])
def test_presets_are_unchanged_by_the_null_and_decoy_options(name: str) -> None:
    design = PRESETS[name]
    assert (design.community_model, design.decoy_phi) == ("niches", None)
    env = simulate_environment(design, 1)
    text = env.to_csv(sep="\t", index=False, lineterminator="\n")
    assert hashlib.sha256(text.encode()).hexdigest() == PRESET_ENV_SHA256[name]
    samples, abundance = simulate_abundance(design, 1)
    assert np.allclose(abundance.iloc[[0, -1], :3].to_numpy(), PRESET_ABUNDANCE[name], rtol=1e-6, atol=1e-10)
    pd.testing.assert_frame_equal(samples, env.set_index("sample"))
    niches = resolve_niches(design_genomes(design), 1)
    drivers = design_driver_strengths(design, env, niches, 1).set_index("variable")
    assert list(drivers.index) == [*DRIVERS, *(v for v in ENV_VARIABLES if v not in DRIVERS)]
    assert drivers.loc["temperature_c", "strength"] == PRESET_TEMPERATURE_STRENGTH[name]
    # design.json of a preset names none of the later fields (its bytes are those of before).
    record = design_record(design, 1, [], environment_model(design))
    assert not set(LATER_FIELD_DEFAULTS) & set(record["design"])
    assert record["environment_model"] == ENVIRONMENT_MODEL


def test_preset_files_match_the_table_only_simulation(tiny: CruiseDesign, tiny_run: Path) -> None:
    samples, abundance = simulate_abundance(tiny, 7)
    written = pd.read_csv(tiny_run / "truth" / "abundance.tsv", sep="\t", index_col="sample")
    assert list(written.columns) == list(abundance.columns) == list(TINY_GENOMES)
    assert np.allclose(written.to_numpy(), abundance.to_numpy(), rtol=1e-5, atol=1e-9)
    sheet = pd.read_csv(tiny_run / "samples.tsv", sep="\t", index_col="sample")
    pd.testing.assert_frame_equal(sheet, samples, check_dtype=False)


def test_tables_are_seeded_complete_and_fast() -> None:
    design = monthly_design(6, 48, decoy_phi=0.5)
    samples, counts = simulate_tables(design, 3)
    again_samples, again_counts = simulate_tables(design, 3)
    pd.testing.assert_frame_equal(samples, again_samples)
    pd.testing.assert_frame_equal(counts, again_counts)
    other_samples, other_counts = simulate_tables(design, 4)
    assert not counts.equals(other_counts) and not samples["decoy_index"].equals(other_samples["decoy_index"])
    assert samples.index.name == "sample" and counts.index.equals(samples.index)
    assert list(samples.columns[:6]) == ["cruise", "station", "datetime", "latitude", "longitude", "depth_m"]
    assert set(ENV_VARIABLES) | {"decoy_index"} <= set(samples.columns)
    assert pd.to_datetime(samples["datetime"], format="%Y-%m-%dT%H:%M:%SZ", utc=True).notna().all()
    assert list(counts.columns) == sorted(NICHES)  # no genome files read
    assert counts.dtypes.eq(np.int64).all() and (counts.sum(axis=1) == 2000).all()
    # Counts are a multinomial draw from the true abundances.
    _, abundance = simulate_abundance(design, 3)
    assert np.abs(counts / 2000 - abundance).to_numpy().max() < 0.06
    fewer = simulate_tables(design, 3, reads_per_sample=50)[1]
    assert (fewer.sum(axis=1) == 50).all()
    with pytest.raises(PlanktonlmInputError, match="reads_per_sample"):
        simulate_tables(design, 3, reads_per_sample=0)
    best = min(_timed(simulate_tables, design, seed) for seed in range(3))
    assert best < 1.0


def _timed(fn, *args) -> float:  # noqa: ANN001
    clock = time.perf_counter()
    fn(*args)
    return time.perf_counter() - clock


@pytest.mark.parametrize("phi", [0.85, 0.3])
def test_ar1_community_is_autocorrelated_at_phi_and_driven_by_nothing(phi: float) -> None:
    design = monthly_design(6, 120, community_model="ar1", ar1_phi=phi)
    samples, abundance = simulate_abundance(design, 11)
    assert np.allclose(abundance.sum(axis=1), 1.0)
    z = clr(abundance)
    lags, cors = [], []
    for series in by_series(samples):
        zz = z.loc[series.index]
        for genome in zz:
            lags.append(lag1(zz[genome]))
            cors.append(np.corrcoef(zz[genome], series["temperature_c"])[0, 1])
    # The lag-1 estimate of 120 steps is biased low by about (1 + 4 phi) / 120.
    assert np.mean(lags) == pytest.approx(phi - (1 + 4 * phi) / 120, abs=0.04)
    assert abs(np.mean(cors)) < 0.05 and np.mean(np.abs(cors)) < 0.2  # niches model: about 0.6
    # Depths of a station share the station's walk: layers differ by a fixed offset per genome.
    for station, group in samples.groupby("station"):
        top = z.loc[group.index[group["depth_m"] == 5.0]].to_numpy()
        deep = z.loc[group.index[group["depth_m"] == 100.0]].to_numpy()
        assert np.allclose(top - deep, (top - deep)[0], atol=1e-9), station
        assert np.abs((top - deep)[0]).max() > 0.1
    # Nothing in the environment enters: scrambling every variable leaves the community as it is.
    env = samples.reset_index()
    rng = np.random.default_rng(0)
    scrambled = env.assign(**{v: rng.permutation(env[v].to_numpy()) for v in ENV_VARIABLES if v != "depth_m"})
    names = list(abundance.columns)
    pd.testing.assert_frame_equal(simulate_ar1_community(scrambled, names, 11, phi), abundance)


def test_niche_community_is_not_ar1_at_phi() -> None:
    """The autocorrelation test above can fail: the niche model, read the same way, does not pass it."""
    samples, abundance = simulate_abundance(monthly_design(6, 120), 11)
    z = clr(abundance)
    cors = [np.corrcoef(z.loc[s.index, g], s["temperature_c"])[0, 1] for s in by_series(samples) for g in z]
    assert np.mean(np.abs(cors)) > 0.4


def test_decoy_is_autocorrelated_independent_noise() -> None:
    design = monthly_design(6, 120, community_model="ar1", decoy_phi=0.6)
    samples, abundance = simulate_abundance(design, 5)
    z = clr(abundance)
    lags, cors = [], []
    for series in by_series(samples):
        lags.append(lag1(series["decoy_index"]))
        cors.extend(np.corrcoef(z.loc[series.index, g], series["decoy_index"])[0, 1] for g in z)
    assert np.mean(lags) == pytest.approx(0.6 - (1 + 4 * 0.6) / 120, abs=0.06)
    assert abs(np.mean(cors)) < 0.05 and np.mean(np.abs(cors)) < 0.2
    assert samples["decoy_index"].std() == pytest.approx(1.0, abs=0.25)
    # One series per station: the depths of a cast share it.
    assert (samples.groupby(["station", "datetime"])["decoy_index"].nunique() == 1).all()
    others = samples[["temperature_c", "ph", "salinity_psu", "oxygen_umol_kg", "noise_index"]]
    assert others.corrwith(samples["decoy_index"]).abs().max() < 0.2
    # The decoy has a stream of its own: every other column, and the community, are as without it.
    plain = dataclasses.replace(design, decoy_phi=None)
    plain_samples, plain_abundance = simulate_abundance(plain, 5)
    pd.testing.assert_frame_equal(samples.drop(columns="decoy_index"), plain_samples)
    pd.testing.assert_frame_equal(abundance, plain_abundance)
    niches = dataclasses.replace(design, community_model="niches")
    pd.testing.assert_frame_equal(simulate_abundance(niches, 5)[1],
                                  simulate_abundance(dataclasses.replace(niches, decoy_phi=None), 5)[1])
    assert "decoy_index" not in plain_samples.columns
    # phi = 0: independent draws.
    white = simulate_abundance(dataclasses.replace(design, decoy_phi=0.0), 5)[0]
    assert abs(np.mean([lag1(s["decoy_index"]) for s in by_series(white)])) < 0.06
