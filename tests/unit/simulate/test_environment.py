"""The environment (samples.tsv): plausible, pure, independent of the read settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planktonlm.simulate.design import CruiseDesign
from planktonlm.simulate.environment import (
    ar1_series,
    oxygen_solubility_umol_kg,
    saunders_pressure_dbar,
    simulate_environment,
)


def test_samples_sheet_is_plausible(tiny_run: Path) -> None:
    samples = pd.read_csv(tiny_run / "samples.tsv", sep="\t")
    assert list(samples.columns) == [
        "sample", "cruise", "station", "datetime", "latitude", "longitude", "depth_m", "temperature_c", "ph",
        "pressure_dbar", "salinity_psu", "oxygen_umol_kg", "chlorophyll_mg_m3", "noise_index",
    ]
    assert len(samples) == 2 * 2 * 3 and samples["sample"].is_unique
    assert samples["sample"].str.fullmatch(r"[A-Za-z0-9._-]+").all()
    times = pd.to_datetime(samples["datetime"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    assert times.notna().all() and samples["datetime"].str.endswith("Z").all()
    assert samples["ph"].between(7.5, 8.5).all()
    assert samples["temperature_c"].between(-2.5, 40).all()
    by_depth = samples.groupby("depth_m")["temperature_c"].mean()
    assert by_depth[5.0] > by_depth[100.0]
    assert np.allclose(samples["pressure_dbar"], samples["depth_m"] * 1.007, rtol=0.03, atol=0.5)
    assert samples["salinity_psu"].between(30, 40).all()
    assert samples["oxygen_umol_kg"].between(150, 350).all() and (samples["chlorophyll_mg_m3"] > 0).all()
    # Oxygen solubility falls with temperature.
    assert np.corrcoef(samples["temperature_c"], samples["oxygen_umol_kg"])[0, 1] < -0.5


def test_environment_is_pure_and_is_the_sample_sheet(tiny: CruiseDesign, tiny_run: Path) -> None:
    env = simulate_environment(tiny, 7)
    pd.testing.assert_frame_equal(env, simulate_environment(tiny, 7))
    written = pd.read_csv(tiny_run / "samples.tsv", sep="\t")
    pd.testing.assert_frame_equal(written, env, check_dtype=False)
    # The environment does not depend on read settings.
    more_reads = dataclasses.replace(tiny, reads_per_sample=9999, read_length=150)
    pd.testing.assert_frame_equal(simulate_environment(more_reads, 7), env)


def test_physics_gives_textbook_values() -> None:
    pressure = saunders_pressure_dbar(np.array([0.0, 1000.0]), np.array([30.0, 30.0]))
    assert pressure[0] == 0 and pressure[1] == pytest.approx(1009.6, abs=0.1)  # Saunders (1981)
    assert oxygen_solubility_umol_kg(np.array(20.0), np.array(35.0)) == pytest.approx(225.5, abs=0.5)  # Garcia & Gordon
    assert oxygen_solubility_umol_kg(np.array(5.0), np.array(35.0)) > oxygen_solubility_umol_kg(np.array(25.0),
                                                                                                np.array(35.0))


def test_ar1_series_is_stationary_at_phi_and_sd() -> None:
    x = ar1_series(np.random.default_rng(0), 2000, 0.7, 2.0, 50)
    assert x.shape == (2000, 50)
    assert x.std() == pytest.approx(2.0, rel=0.03)
    assert np.mean([np.corrcoef(x[1:, j], x[:-1, j])[0, 1] for j in range(50)]) == pytest.approx(0.7, abs=0.02)
    assert ar1_series(np.random.default_rng(0), 0, 0.5).shape == (0,)
