"""Cruise designs: monthly designs on the demo transect, and validation that names every problem."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.simulate.community import simulate_tables
from planktonlm.simulate.design import (
    LATER_FIELD_DEFAULTS,
    NORTH_ATLANTIC_TRANSECT,
    CruiseDesign,
    design_fields,
    monthly_design,
    validate_design,
)


def test_monthly_design_spreads_stations_over_the_demo_transect() -> None:
    design = monthly_design(4, 3)
    assert design.stations == NORTH_ATLANTIC_TRANSECT  # four stations: exactly the demo's
    assert (design.depths_m, design.n_dates, design.months_between, design.first_month) == ((5.0, 100.0), 3, 1,
                                                                                           "2020-01")
    six = monthly_design(6, 24, depths=(10, 50, 200), community_model="ar1", ar1_phi=0.5, decoy_phi=0.3,
                         start="2019-07", ar1_sd=2.0, cruise="NULL19")
    lats = [s.latitude for s in six.stations]
    assert lats == sorted(lats) and lats[0] == 28.0 and lats[-1] == 43.0 and len(set(lats)) == 6
    temps = [s.surface_temp_c for s in six.stations]
    assert temps == sorted(temps, reverse=True)  # warm gyre to cool subpolar front
    assert (six.community_model, six.ar1_phi, six.decoy_phi, six.ar1_sd, six.cruise) == ("ar1", 0.5, 0.3, 2.0,
                                                                                         "NULL19")
    samples, _ = simulate_tables(six, 1, reads_per_sample=10)
    assert len(samples) == 6 * 3 * 24 == six.n_samples and samples.index.is_unique
    months = pd.to_datetime(samples["datetime"], utc=True).dt.strftime("%Y-%m")
    assert (months.groupby([samples["station"], samples["depth_m"]]).nunique() == 24).all()
    assert months.min() == "2019-07" and months.max() == "2021-06"
    with pytest.raises(PlanktonlmInputError, match="not a CruiseDesign field"):
        monthly_design(2, 3, phi=0.5)
    with pytest.raises(PlanktonlmInputError, match="at least one station"):
        monthly_design(0, 3)


def test_validate_design_rejects_bad_null_and_decoy_settings(tiny: CruiseDesign) -> None:
    bad = dataclasses.replace(tiny, community_model="arma", ar1_phi=1.0, ar1_sd=0.0, ar1_depth_sd=-1.0,
                              decoy_phi=-0.1)
    with pytest.raises(PlanktonlmInputError) as info:
        validate_design(bad)
    problems = {p.column: p for p in info.value.problems}
    assert set(problems) == {"community_model", "ar1_phi", "ar1_sd", "ar1_depth_sd", "decoy_phi"}
    assert problems["community_model"].value == "arma" and "ar1" in problems["community_model"].expected
    assert "[0, 1)" in problems["ar1_phi"].expected and "[0, 1)" in problems["decoy_phi"].expected
    for phi in (1.0, -0.01, float("nan"), "0.5", True):
        with pytest.raises(PlanktonlmInputError, match="ar1_phi"):
            validate_design(dataclasses.replace(tiny, ar1_phi=phi))
        with pytest.raises(PlanktonlmInputError, match="decoy_phi"):
            validate_design(dataclasses.replace(tiny, decoy_phi=phi))
    for phi in (0.0, 0.5, 0.999):
        validate_design(dataclasses.replace(tiny, community_model="ar1", ar1_phi=phi, decoy_phi=phi))
    with pytest.raises(PlanktonlmInputError, match="community_model"):
        monthly_design(2, 3, community_model="AR1")


def test_design_fields_name_the_later_fields_only_when_set(tiny: CruiseDesign) -> None:
    assert not set(LATER_FIELD_DEFAULTS) & set(design_fields(tiny))  # a preset's design.json is as before
    fields = design_fields(dataclasses.replace(tiny, community_model="ar1", decoy_phi=0.5))
    assert (fields["community_model"], fields["decoy_phi"]) == ("ar1", 0.5)
    assert "ar1_sd" not in fields and fields["reads_per_sample"] == tiny.reads_per_sample


def test_validate_design_names_every_problem(tiny: CruiseDesign) -> None:
    with pytest.raises(PlanktonlmInputError) as info:
        validate_design(dataclasses.replace(tiny, reads_per_sample=0, read_length=10))
    assert {p.column for p in info.value.problems} == {"reads_per_sample", "read_length"}
