"""Tests for planktonlm.cube.tables: a cube read back as profile, environment and metadata tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from planktonlm.cube.store import read_cube, write_cube
from planktonlm.cube.tables import environment_table, profile_names, profile_table, sample_metadata

IDS = ["S1", "S2", "S3", "S4"]


def test_missing_environment_values_are_nan(ds: xr.Dataset, tmp_path: Path, samples_frame) -> None:
    write_cube(ds, tmp_path / "cube.nc")
    env = environment_table(read_cube(tmp_path / "cube.nc"))
    assert env.dtypes.eq(np.float64).all()
    assert np.isnan(env.loc["S2", "salinity_psu"]) and env.loc["S1", "salinity_psu"] == 38.1
    assert env["ammonium_umol_kg"].isna().tolist() == [True, True, False, False]
    pd.testing.assert_frame_equal(env, samples_frame().drop(columns=["cruise", "station", "datetime", "latitude",
                                                                     "longitude", "depth_m"]))


def test_sample_metadata_is_the_sheets_metadata(ds: xr.Dataset, tmp_path: Path, samples_frame) -> None:
    write_cube(ds, tmp_path / "cube.nc")
    meta = sample_metadata(read_cube(tmp_path / "cube.nc"))
    expected = samples_frame()[["cruise", "station", "datetime", "depth_m", "latitude", "longitude"]]
    assert list(meta.columns) == list(expected.columns)
    assert list(meta.index) == IDS and meta.index.name == "sample"
    assert str(meta["datetime"].dt.tz) == "UTC"
    assert (meta["datetime"] == expected["datetime"]).all()
    assert meta["cruise"].tolist() == expected["cruise"].tolist()
    np.testing.assert_array_equal(meta[["depth_m", "latitude", "longitude"]].to_numpy(),
                                  expected[["depth_m", "latitude", "longitude"]].to_numpy())


def test_profile_table_and_names(ds: xr.Dataset, profiles_dict) -> None:
    assert profile_names(ds) == ["embedding", "kmer"]
    kmer = profile_table(ds, "kmer")
    assert kmer.index.tolist() == IDS and kmer.columns.tolist() == ["kotu_0001", "kotu_0002", "kotu_0003"]
    np.testing.assert_array_equal(kmer.to_numpy(), profiles_dict()["kmer"].loc[IDS].to_numpy())


def test_profile_table_unknown_name(ds: xr.Dataset) -> None:
    with pytest.raises(KeyError, match="embedding"):
        profile_table(ds, "taxa")
