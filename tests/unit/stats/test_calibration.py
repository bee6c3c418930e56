"""Calibration of the shifts tests on simulated cruises: one seed per cruise, rows per scheme, rates per cell."""

from __future__ import annotations

import pandas as pd
import pytest

from planktonlm.seeding import derive_seed
from planktonlm.simulate.community import simulate_tables
from planktonlm.stats import calibration


def test_each_cruise_draws_from_its_own_derived_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = []

    def recording(design, seed):  # noqa: ANN001, ANN202
        seeds.append(seed)
        return simulate_tables(design, seed)

    monkeypatch.setattr(calibration, "simulate_tables", recording)
    rows = calibration.test_cruise(0.5, 3, 24, "ar1", 2, seed=1, schemes=("auto", "free"), n_permutations=19, alpha=0.05)
    assert seeds == [derive_seed(1, "0.5", "3", "24", "ar1", "2")]
    assert [r["scheme"] for r in rows] == ["auto", "free"]
    assert all((r["phi"], r["stations"], r["months"], r["community"], r["replicate"]) == (0.5, 3, 24, "ar1", 2) for r in rows)
    assert all(0 <= r["dbrda_rejected"] <= r["dbrda_tests"] and r["dbrda_tests"] > 0 for r in rows)
    assert rows[0]["cv_r2"] == rows[1]["cv_r2"]  # the scheme changes the permutations, not the fit


def test_calibrate_is_seeded_and_driven_cruises_reject() -> None:
    grid = dict(n_per_cell=1, phis=(0.5,), stations=(3,), months=(24,), schemes=("auto",), n_permutations=19)
    rows, summary = calibration.calibrate(**grid, seed=3)
    again, _ = calibration.calibrate(**grid, seed=3)
    pd.testing.assert_frame_equal(rows, again)
    assert list(rows["community"]) == ["ar1", "niches"]
    driven = rows.set_index("community").loc["niches"]
    assert driven["dbrda_temperature"] and driven["cv_rejected"] and driven["cv_r2"] > 0.5
    other, _ = calibration.calibrate(**grid, seed=4)
    assert not rows["cv_r2"].equals(other["cv_r2"])
    assert set(summary["cell"]) == {"all", "phi 0.5, 3 stations, 24 months"}


def test_summarise_gives_rates_per_cell_community_and_scheme() -> None:
    rows = pd.DataFrame({
        "phi": [0.5] * 4 + [0.85] * 2, "stations": 3, "months": 24,
        "community": ["ar1", "ar1", "niches", "ar1", "ar1", "ar1"], "scheme": ["auto", "auto", "auto", "free", "auto", "auto"],
        "dbrda_temperature": [True, False, True, True, False, False], "dbrda_rejected": [1, 0, 3, 2, 0, 1],
        "dbrda_tests": 10, "cv_rejected": [False, False, True, True, False, True],
    })
    summary = calibration.summarise(rows).set_index(["cell", "community", "scheme"])
    null = "null (AR(1), no driver)"
    overall = summary.loc[("all", null, "auto")]
    assert (overall["cruises"], overall["dbrda_temperature"], overall["dbrda_all_tests"], overall["cv_perm_test"]) == (
        4, 0.25, 0.05, 0.25)
    assert summary.loc[("phi 0.5, 3 stations, 24 months", "driven (temperature niches)", "auto"), "cruises"] == 1
    assert summary.loc[("phi 0.85, 3 stations, 24 months", null, "auto"), "cv_perm_test"] == 0.5
    assert len(summary) == 3 + 3 + 1  # all and phi 0.5: null auto, null free, driven auto; phi 0.85: null auto
