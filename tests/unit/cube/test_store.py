"""Tests for planktonlm.cube.store: NetCDF round trip, fixed time encoding, byte identity, atomic writes."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from planktonlm.cube import store
from planktonlm.cube.build import build_cube
from planktonlm.cube.store import hdf5_objects_with_times, read_cube, write_cube
from planktonlm.cube.tables import profile_table

IDS = ["S1", "S2", "S3", "S4"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_through_netcdf(ds: xr.Dataset, tmp_path: Path, samples_frame, profiles_dict, provenance) -> None:
    path = tmp_path / "cube.nc"
    write_cube(ds, path)
    assert path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    back = read_cube(path)
    xr.testing.assert_identical(back, ds)  # values, dtypes, coords, every attribute

    for name, table in profiles_dict().items():
        got = profile_table(back, name)
        pd.testing.assert_frame_equal(got, table.loc[IDS].astype(np.int64))
        assert back[f"abundance_{name}"].dtype == np.int64
    sheet = samples_frame()
    assert back["time"].dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(back["depth"].values, sheet["depth_m"].to_numpy())
    assert list(back["cruise"].values) == ["C1", "C1", "C2", "C2"]
    assert back["latitude"].attrs == {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north"}
    assert back["longitude"].attrs["units"] == "degrees_east"
    assert back["depth"].attrs["units"] == "m" and back["depth"].attrs["positive"] == "down"
    assert back["temperature_c"].attrs["units"] == "degree_Celsius"
    assert back["temperature_c"].attrs["long_name"] == "sea water temperature"
    assert back["ph"].attrs == {"long_name": "pH", "units": "1"}
    assert back["salinity_psu"].attrs["units"] == "PSU"
    assert back["pressure_dbar"].attrs["units"] == "dbar"
    assert back["ammonium_umol_kg"].attrs == {"long_name": "ammonium", "units": "umol kg-1"}

    assert back.attrs["config_sha256"] == "c" * 64
    assert back.attrs["model_sha256"] == "d" * 64
    assert json.loads(back.attrs["input_sha256"]) == provenance()["input_sha256"]
    assert json.loads(back.attrs["package_versions"]) == provenance()["package_versions"]
    assert back.attrs["created_by"].startswith("planktonlm ")


def test_time_is_stored_with_a_fixed_utc_epoch(ds: xr.Dataset, tmp_path: Path) -> None:
    write_cube(ds, tmp_path / "cube.nc")
    with xr.open_dataset(tmp_path / "cube.nc", engine="h5netcdf", decode_times=False) as raw:
        assert raw["time"].attrs["units"] == "seconds since 1970-01-01T00:00:00+00:00"
        assert raw["time"].dtype == np.int64
        # 2021-06-01T08:30:00Z as POSIX seconds.
        assert int(raw["time"].values[0]) == 1622536200


def test_subsecond_times_survive(tmp_path: Path, samples_frame, profiles_dict, provenance) -> None:
    sheet = samples_frame()
    sheet["datetime"] = sheet["datetime"] + pd.to_timedelta([0, 250, 0, 1], unit="ms")
    ds = build_cube(sheet, profiles_dict(), provenance())
    write_cube(ds, tmp_path / "cube.nc")
    back = read_cube(tmp_path / "cube.nc")
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)


def test_rewrite_is_byte_identical(ds: xr.Dataset, tmp_path: Path, samples_frame, profiles_dict, provenance) -> None:
    write_cube(ds, tmp_path / "first.nc")
    time.sleep(1.2)  # HDF5 object times, if any were stored, would now differ
    write_cube(build_cube(samples_frame(), profiles_dict(), provenance()), tmp_path / "second.nc")
    assert (tmp_path / "first.nc").read_bytes() == (tmp_path / "second.nc").read_bytes()
    # A cube read back and written again is the same file too.
    write_cube(read_cube(tmp_path / "first.nc"), tmp_path / "third.nc")
    assert digest(tmp_path / "third.nc") == digest(tmp_path / "first.nc")


def test_written_file_holds_no_hdf5_times(ds: xr.Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="planktonlm.cube.store"):
        write_cube(ds, tmp_path / "cube.nc")
    assert hdf5_objects_with_times(tmp_path / "cube.nc") == []
    assert "byte-reproducible" not in caplog.text


def test_stamped_file_is_reported(ds: xr.Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """What an old h5py (< 3.15, root group time-stamped) would give: a warning, the file still written."""
    monkeypatch.setattr(store, "hdf5_objects_with_times", lambda path: ["/"])
    with caplog.at_level("WARNING", logger="planktonlm.cube.store"):
        write_cube(ds, tmp_path / "cube.nc")
    assert "not byte-reproducible" in caplog.text and "h5py" in caplog.text
    assert (tmp_path / "cube.nc").exists()


def test_different_content_gives_different_bytes(ds: xr.Dataset, tmp_path: Path) -> None:
    """Guards the identity test: the comparison does see a changed value."""
    write_cube(ds, tmp_path / "a.nc")
    changed = ds.copy(deep=True)
    changed["temperature_c"].values[0] += 0.5
    write_cube(changed, tmp_path / "b.nc")
    assert digest(tmp_path / "a.nc") != digest(tmp_path / "b.nc")


def test_failed_write_leaves_no_file(ds: xr.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self, path, **kwargs):
        Path(path).write_bytes(b"\x89HDF partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        write_cube(ds, tmp_path / "cube.nc")
    assert list(tmp_path.iterdir()) == []
