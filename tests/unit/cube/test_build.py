"""Tests for planktonlm.cube.build: the cube's layout and attributes, and every problem of bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from planktonlm.cube.build import build_cube
from planktonlm.cube.store import read_cube, write_cube
from planktonlm.cube.tables import profile_names, profile_table, sample_metadata
from planktonlm.errors import PlanktonlmInputError

IDS = ["S1", "S2", "S3", "S4"]


# --------------------------------------------------------------------------------------------
# layout


def test_layout(ds: xr.Dataset) -> None:
    assert dict(ds.sizes) == {"sample": 4, "otu_embedding": 5, "otu_kmer": 3}
    assert ds["abundance_embedding"].dims == ("sample", "otu_embedding")
    assert ds["abundance_kmer"].dims == ("sample", "otu_kmer")
    assert set(ds.coords) == {"sample", "time", "cruise", "station", "depth", "latitude", "longitude",
                              "otu_embedding", "otu_kmer"}
    env = ["temperature_c", "ph", "pressure_dbar", "salinity_psu", "noise_index", "ammonium_umol_kg"]
    assert [v for v in ds.data_vars if ds[v].dims == ("sample",)] == env
    assert json.loads(ds.attrs["environment_variables"]) == env
    assert profile_names(ds) == ["embedding", "kmer"] == json.loads(ds.attrs["profiles"])
    assert "abundance_oracle" not in ds and "oracle" not in ds.attrs


def test_rows_follow_the_sheet_and_keep_integer_counts(ds: xr.Dataset, profiles_dict) -> None:
    for name, table in profiles_dict().items():
        assert ds[f"abundance_{name}"].dtype == np.int64
        np.testing.assert_array_equal(ds[f"abundance_{name}"].values, table.loc[IDS].to_numpy())
    assert ds["abundance_embedding"].attrs["value_kind"] == "count"
    assert ds.attrs["title"] == "planktonlm community cube" and ds.attrs["Conventions"] == "CF-1.10"


def test_published_table_enters_the_same_way(tmp_path, samples_frame, profiles_dict, provenance) -> None:
    """A relative-abundance table (floats, numeric-looking taxon ids) becomes a float64 profile."""
    taxa = pd.DataFrame([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0], [0.1, 0.9]], index=pd.Index(IDS, name="sample"),
                        columns=[101, 202])
    ds = build_cube(samples_frame(), {**profiles_dict(), "taxa": taxa}, provenance())
    write_cube(ds, tmp_path / "cube.nc")
    back = read_cube(tmp_path / "cube.nc")
    assert back["abundance_taxa"].dtype == np.float64
    assert back["abundance_taxa"].attrs["value_kind"] == "value"
    got = profile_table(back, "taxa")
    assert list(got.columns) == ["101", "202"]
    np.testing.assert_array_equal(got.to_numpy(), taxa.to_numpy())


# --------------------------------------------------------------------------------------------
# attributes of environmental variables (units and long names read from the column name)


@pytest.mark.parametrize(
    ("column", "units"),
    [
        ("temperature_c", "degree_Celsius"),
        ("pressure_dbar", "dbar"),
        ("salinity_psu", "PSU"),
        ("oxygen_umol_kg", "umol kg-1"),
        ("chlorophyll_mg_m3", "mg m-3"),
        ("mixed_layer_depth_m", "m"),
        ("ph", "1"),
        ("noise_index", "1"),
        ("wind_speed_m_s", "m s-1"),
        ("mystery", "unknown"),
        ("c", "unknown"),  # a bare suffix is a name, not a unit
    ],
)
def test_units_from_column_name(column: str, units: str, samples_frame, profiles_dict, provenance) -> None:
    sheet = samples_frame()[["cruise", "station", "datetime", "latitude", "longitude", "depth_m"]].assign(**{column: 1.0})
    assert build_cube(sheet, profiles_dict(), provenance())[column].attrs["units"] == units


def test_long_and_standard_names(ds: xr.Dataset, samples_frame, profiles_dict, provenance) -> None:
    assert ds["temperature_c"].attrs == {"long_name": "sea water temperature", "units": "degree_Celsius",
                                         "standard_name": "sea_water_temperature"}
    assert ds["ph"].attrs == {"long_name": "pH", "units": "1"}
    assert ds["ammonium_umol_kg"].attrs == {"long_name": "ammonium", "units": "umol kg-1"}
    assert ds["noise_index"].attrs["long_name"] == "noise index"
    sheet = samples_frame().assign(mixed_layer_depth_m=10.0)
    assert build_cube(sheet, profiles_dict(), provenance())["mixed_layer_depth_m"].attrs["long_name"] == "mixed layer depth"


# --------------------------------------------------------------------------------------------
# bad input


def test_mismatched_samples_are_named(samples_frame, profiles_dict, provenance) -> None:
    profiles = profiles_dict()
    profiles["kmer"] = profiles["kmer"].drop(index="S3").rename(index={"S4": "X9"})
    with pytest.raises(PlanktonlmInputError) as caught:
        build_cube(samples_frame(), profiles, provenance(), profile_files={"kmer": "results/profiles/kmer.tsv"})
    problems = caught.value.problems
    assert len(problems) == 2
    assert all(p.file == "results/profiles/kmer.tsv" for p in problems)
    missing = next(p for p in problems if "missing" in p.message)
    extra = next(p for p in problems if "does not list" in p.message)
    assert missing.value == "S3, S4" and extra.value == "X9"
    assert "S3, S4" in str(caught.value) and "X9" in str(caught.value)


def test_bad_profiles_and_sheet_reported_together(samples_frame, profiles_dict, provenance) -> None:
    sheet = samples_frame()
    sheet["time"] = 1.0  # would collide with the time coordinate
    profiles = profiles_dict()
    profiles["kmer"].iloc[0, 0] = -3
    profiles["Bad Name"] = profiles["embedding"]
    with pytest.raises(PlanktonlmInputError) as caught:
        build_cube(sheet, profiles, provenance())
    text = str(caught.value)
    assert len(caught.value.problems) == 3
    assert "column 'time'" in text and "clashes" in text
    assert "negative" in text and "Bad Name" in text


def test_missing_metadata_columns_and_duplicate_ids(samples_frame, profiles_dict, provenance) -> None:
    sheet = samples_frame().drop(columns=["station"])
    with pytest.raises(PlanktonlmInputError, match="required column is missing"):
        build_cube(sheet, profiles_dict(), provenance())
    sheet = samples_frame().set_axis(["S1", "S1", "S3", "S4"])
    with pytest.raises(PlanktonlmInputError, match="sample id listed more than once"):
        build_cube(sheet, profiles_dict(), provenance())


def test_unknown_provenance_key_is_a_programming_error(samples_frame, profiles_dict, provenance) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        build_cube(samples_frame(), profiles_dict(), {**provenance(), "timestamp": "now"})


# --------------------------------------------------------------------------------------------
# published tables: no dates, profiles covering a subset of the samples


def test_partial_profiles_and_unknown_times(tmp_path, samples_frame, profiles_dict, provenance) -> None:
    sheet = samples_frame()
    sheet["datetime"] = pd.Series([sheet["datetime"].iloc[0], pd.NaT, pd.NaT, pd.NaT], index=sheet.index,
                                  dtype="datetime64[ns, UTC]")
    profiles = profiles_dict()
    profiles["kmer"] = profiles["kmer"].drop(index=["S2", "S4"])
    with pytest.raises(PlanktonlmInputError) as caught:
        build_cube(sheet, profiles, provenance())
    assert {p.column for p in caught.value.problems} == {"datetime", "sample"}

    ds = build_cube(sheet, profiles, provenance(), allow_missing_time=True, partial_profiles=True)
    write_cube(ds, tmp_path / "cube.nc")
    back = read_cube(tmp_path / "cube.nc")
    times = sample_metadata(back)["datetime"]
    assert times.iloc[0] == sheet["datetime"].iloc[0] and times.iloc[1:].isna().all()
    assert back["time"].encoding["units"].startswith("seconds since")  # NaT does not force nanoseconds
    kmer = profile_table(back, "kmer")
    assert kmer.loc[["S2", "S4"]].isna().all().all()
    np.testing.assert_array_equal(kmer.loc[["S1", "S3"]].to_numpy(), profiles["kmer"].loc[["S1", "S3"]].to_numpy())
    assert back["abundance_kmer"].attrs["n_samples_absent"] == 2
    assert back["abundance_embedding"].dtype == np.int64  # complete profiles keep their counts

    nothing = {"embedding": profiles["embedding"].rename(index=lambda s: s + "x")}
    with pytest.raises(PlanktonlmInputError, match="lists none of the samples"):
        build_cube(samples_frame(), nothing, provenance(), partial_profiles=True)
