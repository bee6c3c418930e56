"""Tests for planktonlm.cube: layout, NetCDF round trip, byte identity, helpers, the stage entry."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from planktonlm import cube as cube_module
from planktonlm.config import config_hash, validate_config
from planktonlm.cube import (
    ORACLE_NOTE,
    build_cube,
    environment_table,
    hdf5_objects_with_times,
    long_name_from_name,
    make_cube,
    profile_names,
    profile_table,
    read_cube,
    sample_metadata,
    units_from_name,
    write_cube,
)
from planktonlm.errors import PlanktonlmInputError
from planktonlm.io import sha256_file
from planktonlm.profiles import write_profile
from planktonlm.samples import parse_datetime_utc

REPO = Path(__file__).resolve().parents[2]
GOOD = Path("tests/data/good_cruise")
IDS = ["S1", "S2", "S3", "S4"]
VERSIONS = {"planktonlm": "0.1.0", "numpy": "2", "torch": "2.13.0+cpu"}


def samples_frame() -> pd.DataFrame:
    """A sheet as Cruise.samples holds it: UTC datetimes, float columns, one missing salinity."""
    return pd.DataFrame(
        {
            "cruise": ["C1", "C1", "C2", "C2"],
            "station": ["A", "B", "A", "B"],
            "datetime": [parse_datetime_utc(t) for t in
                         ("2021-06-01T08:30:00Z", "2021-06-15T12:00:00+02:00", "2022-01-10", "2022-01-11T23:59:59")],
            "latitude": [43.5, 43.6, -10.25, -10.5],
            "longitude": [7.3, 7.4, -150.0, -151.0],
            "depth_m": [5.0, 50.0, 0.0, 200.0],
            "temperature_c": [18.4, 14.9, 26.0, 12.5],
            "ph": [8.08, 8.05, 8.1, 7.95],
            "pressure_dbar": [5.1, 50.4, 0.0, 201.6],
            "salinity_psu": [38.1, np.nan, 35.0, 35.2],
            "noise_index": [0.1, -0.3, 1.2, 0.0],
            "ammonium_umol_kg": [np.nan, np.nan, 0.2, 0.4],
        },
        index=pd.Index(IDS, name="sample"),
    )


def profiles_dict() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    embedding = pd.DataFrame(rng.integers(0, 500, size=(4, 5)), index=pd.Index(IDS, name="sample"),
                             columns=[f"eotu_{i:04d}" for i in range(1, 6)])
    # Rows in another order than the sheet: the cube puts them in the sheet's order.
    kmer = pd.DataFrame(rng.integers(0, 500, size=(4, 3)), index=pd.Index(IDS[::-1], name="sample"),
                        columns=["kotu_0001", "kotu_0002", "kotu_0003"])
    return {"embedding": embedding, "kmer": kmer}


def provenance() -> dict:
    return {"config_sha256": "c" * 64, "input_sha256": {"samples.tsv": "a" * 64, "units.tsv": "b" * 64},
            "model_sha256": "d" * 64, "package_versions": VERSIONS}


@pytest.fixture
def ds() -> xr.Dataset:
    return build_cube(samples_frame(), profiles_dict(), provenance())


# --------------------------------------------------------------------------------------------
# layout and round trip


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


def test_round_trip_through_netcdf(ds: xr.Dataset, tmp_path: Path) -> None:
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
    assert json.loads(back.attrs["package_versions"]) == VERSIONS
    assert back.attrs["created_by"].startswith("planktonlm ")


def test_time_is_stored_with_a_fixed_utc_epoch(ds: xr.Dataset, tmp_path: Path) -> None:
    write_cube(ds, tmp_path / "cube.nc")
    with xr.open_dataset(tmp_path / "cube.nc", engine="h5netcdf", decode_times=False) as raw:
        assert raw["time"].attrs["units"] == "seconds since 1970-01-01T00:00:00+00:00"
        assert raw["time"].dtype == np.int64
        # 2021-06-01T08:30:00Z as POSIX seconds.
        assert int(raw["time"].values[0]) == 1622536200


def test_subsecond_times_survive(tmp_path: Path) -> None:
    sheet = samples_frame()
    sheet["datetime"] = sheet["datetime"] + pd.to_timedelta([0, 250, 0, 1], unit="ms")
    ds = build_cube(sheet, profiles_dict(), provenance())
    write_cube(ds, tmp_path / "cube.nc")
    back = read_cube(tmp_path / "cube.nc")
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)


def test_missing_environment_values_are_nan(ds: xr.Dataset, tmp_path: Path) -> None:
    write_cube(ds, tmp_path / "cube.nc")
    env = environment_table(read_cube(tmp_path / "cube.nc"))
    assert env.dtypes.eq(np.float64).all()
    assert np.isnan(env.loc["S2", "salinity_psu"]) and env.loc["S1", "salinity_psu"] == 38.1
    assert env["ammonium_umol_kg"].isna().tolist() == [True, True, False, False]
    pd.testing.assert_frame_equal(env, samples_frame().drop(columns=["cruise", "station", "datetime", "latitude",
                                                                     "longitude", "depth_m"]))


# --------------------------------------------------------------------------------------------
# byte identity


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rewrite_is_byte_identical(ds: xr.Dataset, tmp_path: Path) -> None:
    write_cube(ds, tmp_path / "first.nc")
    time.sleep(1.2)  # HDF5 object times, if any were stored, would now differ
    write_cube(build_cube(samples_frame(), profiles_dict(), provenance()), tmp_path / "second.nc")
    assert (tmp_path / "first.nc").read_bytes() == (tmp_path / "second.nc").read_bytes()
    # A cube read back and written again is the same file too.
    write_cube(read_cube(tmp_path / "first.nc"), tmp_path / "third.nc")
    assert digest(tmp_path / "third.nc") == digest(tmp_path / "first.nc")


def test_written_file_holds_no_hdf5_times(ds: xr.Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="planktonlm.cube"):
        write_cube(ds, tmp_path / "cube.nc")
    assert hdf5_objects_with_times(tmp_path / "cube.nc") == []
    assert "byte-reproducible" not in caplog.text


def test_stamped_file_is_reported(ds: xr.Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """What an old h5py (< 3.15, root group time-stamped) would give: a warning, the file still written."""
    monkeypatch.setattr(cube_module, "hdf5_objects_with_times", lambda path: ["/"])
    with caplog.at_level("WARNING", logger="planktonlm.cube"):
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


def test_stage_output_is_byte_identical_across_processes(tmp_path: Path, at_repo_root: None) -> None:
    """make_cube here and in a fresh interpreter (another hash seed, a second later): same bytes.

    The child also checks that building a cube never imports torch (package versions are read
    from the installed metadata).
    """
    write_profile(profiles_dict()["embedding"].iloc[:3].set_axis(["S1", "S2", "S3"]), tmp_path / "emb.tsv")
    args = (GOOD / "samples.tsv", GOOD / "units.tsv", {"embedding": tmp_path / "emb.tsv"})
    config = validate_config({"samples": "s", "units": "u"})
    make_cube(*args, tmp_path / "here.nc", config)
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from planktonlm.config import validate_config
        from planktonlm.cube import make_cube
        config = validate_config({{"samples": "s", "units": "u"}})
        make_cube(*{args!r}, sys.argv[1], config)
        assert "torch" not in sys.modules, "building a cube imported torch"
        """
    ).replace("PosixPath", "Path")
    seed = "12345" if os.environ.get("PYTHONHASHSEED") != "12345" else "54321"
    time.sleep(1.1)
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "child.nc")], cwd=REPO,
                   env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
    assert (tmp_path / "here.nc").read_bytes() == (tmp_path / "child.nc").read_bytes()


def test_failed_write_leaves_no_file(ds: xr.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self, path, **kwargs):
        Path(path).write_bytes(b"\x89HDF partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        write_cube(ds, tmp_path / "cube.nc")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# helpers


def test_sample_metadata_is_the_sheets_metadata(ds: xr.Dataset, tmp_path: Path) -> None:
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


def test_profile_table_unknown_name(ds: xr.Dataset) -> None:
    with pytest.raises(KeyError, match="embedding"):
        profile_table(ds, "taxa")


def test_published_table_enters_the_same_way(tmp_path: Path) -> None:
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
def test_units_from_column_name(column: str, units: str) -> None:
    assert units_from_name(column) == units


def test_long_names() -> None:
    assert long_name_from_name("temperature_c") == "sea water temperature"
    assert long_name_from_name("ph") == "pH"
    assert long_name_from_name("ammonium_umol_kg") == "ammonium"
    assert long_name_from_name("mixed_layer_depth_m") == "mixed layer depth"
    assert long_name_from_name("noise_index") == "noise index"


# --------------------------------------------------------------------------------------------
# bad input


def test_mismatched_samples_are_named() -> None:
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


def test_bad_profiles_and_sheet_reported_together() -> None:
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


def test_unknown_provenance_key_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        build_cube(samples_frame(), profiles_dict(), {**provenance(), "timestamp": "now"})


# --------------------------------------------------------------------------------------------
# stage entry


@pytest.fixture
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The good cruise's units.tsv lists FASTQ paths relative to the repository root."""
    monkeypatch.chdir(REPO)


def test_make_cube_with_offset_time_oracle_and_model(tmp_path: Path, at_repo_root: None) -> None:
    sheet = (GOOD / "samples.tsv").read_text().replace("2021-06-01T08:30:00Z", "2021-06-01T10:30:00+02:00")
    sheet = sheet.replace("chlorophyll_mg_m3\n", "chlorophyll_mg_m3\tnoise_index\n")
    lines = sheet.splitlines()
    lines = [lines[0]] + [line + ("\tNA" if i == 2 else f"\t0.{i}") for i, line in enumerate(lines[1:], start=1)]
    (tmp_path / "samples.tsv").write_text("\n".join(lines) + "\n")
    ids = ["S1", "S2", "S3"]
    kmer = pd.DataFrame([[1, 2], [3, 4], [5, 6]], index=pd.Index(ids[::-1], name="sample"), columns=["kotu_0001", "kotu_0002"])
    write_profile(kmer, None, tmp_path / "kmer.parquet")
    truth = tmp_path / "truth"
    truth.mkdir()
    abundance = pd.DataFrame([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]], index=pd.Index(ids, name="sample"),
                             columns=["Prochlorococcus_MED4", "Pelagibacter_HTCC1062"])
    abundance.to_csv(truth / "abundance.tsv", sep="\t")
    (tmp_path / "weights.sha256").write_text("ab" * 32 + "  model.safetensors\n")
    config = validate_config({"samples": "s", "units": "u"})

    out = tmp_path / "results" / "cube.nc"
    make_cube(tmp_path / "samples.tsv", GOOD / "units.tsv", {"kmer": tmp_path / "kmer.parquet"}, out, config,
              model_sha256_path=tmp_path / "weights.sha256", truth_dir=truth)
    back = read_cube(out)

    # +02:00 is converted: 10:30 local = 08:30 UTC, stored naive in UTC.
    assert back["time"].values[0] == np.datetime64("2021-06-01T08:30:00", "ns")
    assert sample_metadata(back)["datetime"].iloc[0] == pd.Timestamp("2021-06-01T08:30:00Z")
    env = environment_table(back)
    assert np.isnan(env.loc["S2", "noise_index"]) and env.loc["S3", "noise_index"] == 0.3
    assert back["noise_index"].attrs["units"] == "1"

    assert profile_names(back) == ["kmer", "oracle"]
    pd.testing.assert_frame_equal(profile_table(back, "kmer"), kmer.loc[ids])
    assert back["abundance_oracle"].dims == ("sample", "otu_oracle")
    assert back["abundance_oracle"].dtype == np.float64
    assert back["abundance_oracle"].attrs["comment"] == ORACLE_NOTE == back.attrs["oracle"]
    pd.testing.assert_frame_equal(profile_table(back, "oracle"), abundance)

    assert back.attrs["model_sha256"] == "ab" * 32
    assert back.attrs["config_sha256"] == config_hash(config)
    inputs = json.loads(back.attrs["input_sha256"])
    assert inputs[str(truth / "abundance.tsv")] == sha256_file(truth / "abundance.tsv")
    assert inputs[str(GOOD / "units.tsv")] == sha256_file(GOOD / "units.tsv")
    assert set(inputs) == {str(tmp_path / "samples.tsv"), str(GOOD / "units.tsv"), str(tmp_path / "kmer.parquet"),
                           str(truth / "abundance.tsv")}
    versions = json.loads(back.attrs["package_versions"])
    assert set(versions) == set(cube_module.PACKAGES) and versions["xarray"] == xr.__version__


def test_package_versions() -> None:
    versions = cube_module.package_versions(torch_version="9.9")
    assert versions["torch"] == "9.9"
    assert versions["pandas"] == pd.__version__ and versions["numpy"] == np.__version__


def test_make_cube_refuses_a_bad_model_digest(tmp_path: Path, at_repo_root: None) -> None:
    write_profile(profiles_dict()["embedding"].iloc[:3].set_axis(["S1", "S2", "S3"]), tmp_path / "emb.tsv")
    (tmp_path / "weights.sha256").write_text("not-a-digest  model.safetensors\n")
    config = validate_config({"samples": "s", "units": "u"})
    with pytest.raises(PlanktonlmInputError, match="SHA-256"):
        make_cube(GOOD / "samples.tsv", GOOD / "units.tsv", {"embedding": tmp_path / "emb.tsv"}, tmp_path / "cube.nc",
                  config, model_sha256_path=tmp_path / "weights.sha256")
    assert not (tmp_path / "cube.nc").exists()


# --------------------------------------------------------------------------------------------
# published tables: no dates, profiles covering a subset of the samples


def test_partial_profiles_and_unknown_times(tmp_path: Path) -> None:
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
