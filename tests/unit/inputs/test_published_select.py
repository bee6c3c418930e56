"""The sample filter (``select``) on published tables: environment table and every profile."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from planktonlm.cube.published import make_published_cube
from planktonlm.errors import PlanktonlmInputError
from planktonlm.inputs.published import PublishedConfig, read_published_tables
from planktonlm.inputs.select import SampleFilter

from .test_published import SAMPLES, synthetic_tables


def read(section: dict, select: dict):
    return read_published_tables(PublishedConfig.from_section(section), SampleFilter.from_section(select))


def test_layer_filter_drops_the_other_samples_from_every_profile(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    section = synthetic_tables(tmp_path)["section"]
    with caplog.at_level(logging.INFO, logger="planktonlm.inputs.published"):
        tables = read(section, {"layers": ["SUR"]})
    surface = [s for s in SAMPLES if s.endswith("SUR")]
    assert tables.sheet.index.tolist() == surface and tables.layer_of.tolist() == ["SUR"] * len(surface)
    assert tables.profiles["prokaryotes"].index.tolist() == surface
    assert tables.profiles["eukaryotes"].index.tolist() == ["S1SUR", "S3SUR", "S6SUR"]
    # one layer left: no layer indicator (it would be constant)
    assert not [c for c in tables.sheet.columns if c.startswith("layer_")]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("select: profile")]
    assert lines == ["select: profile prokaryotes: 4 of its 10 samples left out",
                     "select: profile eukaryotes: 3 of its 6 samples left out"]


def test_station_filter_keeps_layer_indicators_of_the_kept_samples(tmp_path: Path) -> None:
    tables = read(synthetic_tables(tmp_path)["section"], {"stations": ["S1", "S2"]})
    assert tables.sheet.index.tolist() == ["S1DCM", "S1SUR", "S2SUR"]
    assert tables.sheet["layer_sur_index"].tolist() == [0.0, 1.0, 1.0]


def test_profile_samples_missing_from_the_environment_table_are_still_refused(tmp_path: Path) -> None:
    section = synthetic_tables(tmp_path)["section"]
    euk = Path(section["profiles"]["eukaryotes"])
    euk.write_text(euk.read_text() + "S99SUR\t0.2\t0.3\t0.5\n")
    with pytest.raises(PlanktonlmInputError) as caught:
        read(section, {"layers": ["DCM"]})
    (problem,) = caught.value.problems
    assert problem.value == "S99SUR" and "not in the environment table" in problem.message


def test_a_filter_keeping_no_published_sample_names_its_keys(tmp_path: Path) -> None:
    section = synthetic_tables(tmp_path)["section"]
    with pytest.raises(PlanktonlmInputError) as caught:
        read(section, {"depth_m": [0, 10]})  # the tables give no depth
    (problem,) = caught.value.problems
    assert problem.column == "select" and "select.depth_m" in problem.message and "depth_m unknown" in problem.expected
    with pytest.raises(PlanktonlmInputError, match="keeps none"):
        read(section, {"cruises": ["OTHER"]})


def test_published_cube_records_the_filter(tmp_path: Path) -> None:
    section = synthetic_tables(tmp_path)["section"]
    config = {"published": section, "select": {"layers": ["DCM"]}}
    ds = make_published_cube(section, tmp_path / "cube.nc", config)
    assert ds["sample"].values.tolist() == ["S1DCM", "S3DCM", "S4DCM", "S6DCM"]
    assert ds["layer"].values.tolist() == ["DCM"] * 4
    whole = make_published_cube(section, tmp_path / "whole.nc", {"published": section})
    assert whole.sizes["sample"] == len(SAMPLES) and whole.attrs["config_sha256"] != ds.attrs["config_sha256"]


def test_a_profile_left_without_samples_is_an_error(tmp_path: Path) -> None:
    section = synthetic_tables(tmp_path)["section"]
    with pytest.raises(PlanktonlmInputError) as caught:
        read(section, {"stations": ["S2"]})  # S2SUR only; the eukaryotes table has no S2
    (problem,) = caught.value.problems
    assert problem.file == section["profiles"]["eukaryotes"] and "profile 'eukaryotes'" in problem.message
