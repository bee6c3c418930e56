"""The community cube: every profile and every environmental variable of a cruise, per sample.

``results/cube.nc`` is NetCDF-4 (HDF5, written with h5netcdf) holding one xarray Dataset::

    dimensions   sample, and one OTU dimension per profile: otu_<name>
    coordinates  sample (id), otu_<name> (OTU / genome ids), and on sample: time (UTC),
                 cruise, station, depth (m), latitude, longitude
    variables    abundance_<name>(sample, otu_<name>)  one per profile: int64 counts
                                                       (float64 for relative abundances)
                 <column>(sample)                      one per environmental column of
                                                       samples.tsv, float64, NaN = missing,
                                                       attrs units and long_name
    attributes   provenance: config_sha256, input_sha256 (JSON), model_sha256,
                 package_versions (JSON), created_by; no wall-clock time

Profiles enter as plain tables (index sample, columns OTU ids), so a published community table
can go in beside the embedding and k-mer profiles. ``abundance_oracle`` (simulated cruises
only) holds the simulator's true genome abundances: it is there to benchmark the profiles and
for the report, never as a model input (``ORACLE_NOTE``).

Byte-identical files: h5py >= 3.15 creates every HDF5 object, the root group included, without
timestamps (older h5py stamps the root group when track_order is set, as h5netcdf does;
``write_cube`` checks the file it wrote and warns if any object carries a time). The time axis
has a fixed encoding (seconds since 1970-01-01 UTC, or a finer fixed unit when needed), nothing
is compressed, encodings carried over from a read file are dropped, and no attribute holds a
timestamp. The same inputs and package versions give the same bytes (tests/unit/test_cube.py
writes in two processes with different hash seeds, a second apart).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from planktonlm import __version__
from planktonlm.config import config_hash
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path, sha256_file
from planktonlm.samples import NON_ENV_COLUMNS, load_cruise

logger = logging.getLogger(__name__)

ENGINE = "h5netcdf"
ABUNDANCE_PREFIX = "abundance_"
OTU_DIM_PREFIX = "otu_"
ORACLE = "oracle"
TRUTH_ABUNDANCE_FILE = "abundance.tsv"
ORACLE_NOTE = (
    "abundance_oracle holds the simulator's true relative abundances of genome copies "
    "(truth/abundance.tsv): for benchmarking the profiles and for the report only; "
    "no model reads it as an input"
)
# Columns of samples.tsv that become coordinates (not environmental variables) and their names here.
METADATA_COORDS = {
    "cruise": "cruise", "station": "station", "depth_m": "depth", "latitude": "latitude", "longitude": "longitude",
}
# Names an environmental column cannot take: they are coordinates of the cube.
_RESERVED_NAMES = frozenset({"sample", "time", *METADATA_COORDS.values()})
_PROFILE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

PACKAGES = ("planktonlm", "numpy", "pandas", "xarray", "h5netcdf", "h5py", "scikit-learn", "torch")
PROVENANCE_KEYS = frozenset({"config_sha256", "input_sha256", "model_sha256", "package_versions"})

# Unit suffix of a column name -> CF/udunits unit string. Longest suffix wins (_mg_m3 before _m).
UNIT_SUFFIXES: dict[str, str] = {
    "_c": "degree_Celsius",
    "_k": "K",
    "_dbar": "dbar",
    "_psu": "PSU",
    "_umol_kg": "umol kg-1",
    "_nmol_kg": "nmol kg-1",
    "_umol_l": "umol L-1",
    "_nmol_l": "nmol L-1",
    "_mmol_m3": "mmol m-3",
    "_mg_m3": "mg m-3",
    "_ug_l": "ug L-1",
    "_mg_l": "mg L-1",
    "_ml_l": "mL L-1",
    "_m_s": "m s-1",
    "_w_m2": "W m-2",
    "_m": "m",
    "_km": "km",
    "_pct": "%",
    "_percent": "%",
    "_index": "1",
    "_ratio": "1",
    "_fraction": "1",
}
# Columns whose whole name says the unit (dimensionless).
DIMENSIONLESS_COLUMNS = frozenset({"ph"})
UNKNOWN_UNITS = "unknown"

LONG_NAMES: dict[str, str] = {
    "temperature_c": "sea water temperature",
    "ph": "pH",
    "pressure_dbar": "sea water pressure",
    "salinity_psu": "sea water practical salinity",
    "oxygen_umol_kg": "dissolved oxygen",
    "chlorophyll_mg_m3": "chlorophyll a",
    "nitrate_umol_kg": "nitrate",
    "phosphate_umol_kg": "phosphate",
    "silicate_umol_kg": "silicate",
    "noise_index": "noise index",
}
STANDARD_NAMES: dict[str, str] = {
    "temperature_c": "sea_water_temperature",
    "pressure_dbar": "sea_water_pressure",
}
_PROFILE_LONG_NAMES = {
    "embedding": ("fragments per embedding OTU (transformer read embeddings)", "embedding OTU id"),
    "kmer": ("fragments per k-mer OTU (baseline profile)", "k-mer OTU id"),
    ORACLE: ("true relative abundance of genome copies (simulation truth)", "genome"),
}


# --------------------------------------------------------------------------------------------
# units and names


def units_from_name(column: str) -> str:
    """CF/udunits unit string read from a column name's suffix (``UNKNOWN_UNITS`` if none)."""
    name = column.lower()
    if name in DIMENSIONLESS_COLUMNS:
        return "1"
    for suffix in sorted(UNIT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return UNIT_SUFFIXES[suffix]
    return UNKNOWN_UNITS


def long_name_from_name(column: str) -> str:
    """Human-readable name: the table for known variables, else the name without its unit suffix."""
    if column in LONG_NAMES:
        return LONG_NAMES[column]
    stem = column
    for suffix in sorted(UNIT_SUFFIXES, key=len, reverse=True):
        if stem.lower().endswith(suffix) and len(stem) > len(suffix) and UNIT_SUFFIXES[suffix] != "1":
            stem = stem[: -len(suffix)]
            break
    return stem.replace("_", " ")


def package_versions(torch_version: str | None = None) -> dict[str, str]:
    """Installed versions of the packages that shape the results (torch is never imported here)."""
    versions = {}
    for package in PACKAGES:
        if package == "torch" and torch_version is not None:
            versions[package] = torch_version
            continue
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


# --------------------------------------------------------------------------------------------
# building the cube (pure)


def _time_values(samples: pd.DataFrame, file: str, allow_missing: bool = False) -> tuple[np.ndarray, list[InputProblem]]:
    """datetime column -> naive datetime64[ns] in UTC (naive input is taken as UTC).

    ``allow_missing``: a sample without a date gets NaT (published tables often carry none).
    """
    stamps = pd.to_datetime(samples["datetime"], utc=True)
    problems = [] if allow_missing else [
        InputProblem(file=file, column="datetime", value=sample, message="sample has no date/time",
                     expected="an ISO 8601 date")
        for sample in samples.index[stamps.isna()]
    ]
    return stamps.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]"), problems


def _env_columns(samples: pd.DataFrame, file: str) -> tuple[dict[str, np.ndarray], list[InputProblem]]:
    values, problems = {}, []
    for column in samples.columns:
        if column in NON_ENV_COLUMNS:
            continue
        if column in _RESERVED_NAMES or column.startswith((ABUNDANCE_PREFIX, OTU_DIM_PREFIX)):
            problems.append(
                InputProblem(
                    file=file,
                    row=0,
                    column=column,
                    message="column name clashes with a name of the community cube",
                    expected=f"a name other than {', '.join(sorted(_RESERVED_NAMES))} "
                    f"and not starting with {ABUNDANCE_PREFIX!r} or {OTU_DIM_PREFIX!r}",
                )
            )
            continue
        numeric = pd.to_numeric(samples[column], errors="coerce")
        bad = samples.index[numeric.isna() & samples[column].notna()]
        if len(bad):
            problems.append(
                InputProblem(
                    file=file,
                    column=column,
                    value=", ".join(map(str, bad)),
                    message="environmental variable has non-numeric values in these samples",
                    expected="numbers (empty/NA if not measured)",
                )
            )
            continue
        values[column] = numeric.to_numpy(dtype=np.float64)
    return values, problems


def _profile_problems(
    name: str, table: pd.DataFrame, sample_ids: pd.Index, file: str, partial: bool = False
) -> list[InputProblem]:
    problems = []
    if not _PROFILE_NAME.match(name):
        problems.append(
            InputProblem(file=file, value=name, message="profile name not usable as a cube variable name",
                         expected="lower-case letters, digits and '_', starting with a letter")
        )
    index = table.index.astype(str)
    duplicated = sorted(set(index[index.duplicated()]))
    if duplicated:
        problems.append(InputProblem(file=file, column="sample", value=", ".join(duplicated),
                                     message="sample listed more than once", expected="one row per sample"))
    columns = pd.Index(table.columns.astype(str))
    if columns.has_duplicates:
        problems.append(InputProblem(file=file, value=", ".join(sorted(set(columns[columns.duplicated()]))),
                                     message="OTU column listed more than once", expected="unique OTU ids"))
    if len(columns) == 0:
        problems.append(InputProblem(file=file, message="profile has no OTU columns", expected="one column per OTU"))
    listed, known = set(index), set(sample_ids)
    missing = [s for s in sample_ids if s not in listed]
    extra = [s for s in dict.fromkeys(index) if s not in known]
    if partial and len(missing) == len(sample_ids):
        problems.append(InputProblem(file=file, column="sample", message=f"profile '{name}' lists none of the samples",
                                     expected="rows for at least one sample of the sample sheet"))
    elif missing and not partial:
        problems.append(InputProblem(file=file, column="sample", value=", ".join(missing),
                                     message=f"samples of the sample sheet missing from profile '{name}'",
                                     expected="one row for every sample of samples.tsv"))
    if extra:
        problems.append(InputProblem(file=file, column="sample", value=", ".join(extra),
                                     message=f"samples in profile '{name}' that the sample sheet does not list",
                                     expected="only samples of samples.tsv"))
    non_numeric = [
        str(c) for c, dtype in table.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ]
    if non_numeric:
        problems.append(InputProblem(file=file, column=non_numeric[0], value=", ".join(non_numeric[:5]),
                                     message="non-numeric OTU columns", expected="counts or abundances (numbers)"))
    elif len(columns):
        values = table.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            problems.append(
                InputProblem(
                    file=file,
                    column=str(table.columns[col]),
                    value=float(values[row, col]),
                    message=f"{int(bad.sum())} abundance value(s) missing, infinite or negative "
                    f"(first: sample {index[row]})",
                    expected="finite abundances >= 0",
                )
            )
    return problems


def _profile_array(table: pd.DataFrame, sample_ids: pd.Index) -> np.ndarray:
    """Rows in the sample sheet's order; int64 if every column is integer, else float64.

    Samples the table does not list get all-NaN rows (float64): "absent from this profile".
    """
    frame = table.set_axis(table.index.astype(str), axis=0)
    integer = all(pd.api.types.is_integer_dtype(dtype) for dtype in frame.dtypes)
    if not sample_ids.isin(frame.index).all():
        return frame.reindex(sample_ids).to_numpy(dtype=np.float64)
    return frame.loc[sample_ids].to_numpy(dtype=np.int64 if integer else np.float64)


def _profile_attrs(name: str, integer: bool) -> tuple[dict, dict]:
    value_name, otu_name = _PROFILE_LONG_NAMES.get(name, (f"abundance in profile '{name}'", f"{name} feature id"))
    attrs = {"long_name": value_name, "units": "1", "profile": name,
             "value_kind": "count" if integer else ("relative_abundance" if name == ORACLE else "value")}
    if name == ORACLE:
        attrs["comment"] = ORACLE_NOTE
    return attrs, {"long_name": otu_name}


def _provenance_attrs(provenance: Mapping[str, object]) -> dict[str, str]:
    unknown = set(provenance) - PROVENANCE_KEYS
    if unknown:
        raise ValueError(f"unknown provenance keys {sorted(unknown)}; known: {sorted(PROVENANCE_KEYS)}")
    if "config_sha256" not in provenance or "input_sha256" not in provenance:
        raise ValueError("provenance needs config_sha256 and input_sha256")
    versions = provenance.get("package_versions") or package_versions()
    return {
        "config_sha256": str(provenance["config_sha256"]),
        "input_sha256": json.dumps(dict(provenance["input_sha256"]), sort_keys=True),
        "model_sha256": str(provenance.get("model_sha256") or ""),
        "package_versions": json.dumps(dict(versions), sort_keys=True),
        "created_by": f"planktonlm {__version__}",
    }


def build_cube(
    samples: pd.DataFrame,
    profiles: Mapping[str, pd.DataFrame],
    provenance: Mapping[str, object],
    *,
    samples_file: str = "samples.tsv",
    profile_files: Mapping[str, str] | None = None,
    allow_missing_time: bool = False,
    partial_profiles: bool = False,
) -> xr.Dataset:
    """The cube of a cruise: profiles (name -> samples x OTUs) and the sample sheet, in memory.

    ``samples`` is ``Cruise.samples`` (index sample id; cruise, station, datetime (UTC),
    latitude, longitude, depth_m; every other column an environmental variable). Each profile
    must list exactly the samples of ``samples``; rows are put in the sheet's order.
    ``provenance``: config_sha256, input_sha256 (file -> sha256), model_sha256 (optional),
    package_versions (optional; looked up if absent). ``samples_file`` / ``profile_files``
    only name the sources in error messages. Raises PlanktonlmInputError with every problem.

    For published tables: ``allow_missing_time`` stores NaT for samples without a date;
    ``partial_profiles`` lets a profile omit samples of the sheet, which get all-NaN rows
    (attrs ``n_samples_absent``), so one cube holds tables that cover different samples.
    """
    profile_files = dict(profile_files or {})
    problems = [
        InputProblem(file=samples_file, row=0, column=c, message="required column is missing",
                     expected=f"a column named {c!r}")
        for c in ("datetime", *METADATA_COORDS)
        if c not in samples.columns
    ]
    sample_ids = pd.Index(samples.index.astype(str), name="sample")
    if sample_ids.has_duplicates:
        duplicated = ", ".join(sorted(set(sample_ids[sample_ids.duplicated()])))
        problems.append(InputProblem(file=samples_file, column="sample", value=duplicated,
                                     message="sample id listed more than once", expected="unique sample ids"))
    if problems:
        raise PlanktonlmInputError(problems)
    times, time_problems = _time_values(samples, samples_file, allow_missing=allow_missing_time)
    env, env_problems = _env_columns(samples, samples_file)
    problems += time_problems + env_problems
    for name, table in profiles.items():
        problems += _profile_problems(name, table, sample_ids, profile_files.get(name, f"profile '{name}'"),
                                      partial=partial_profiles)
    if problems:
        raise PlanktonlmInputError(problems)

    coords: dict[str, tuple] = {
        "sample": ("sample", sample_ids.to_numpy(dtype=str), {"long_name": "sample id"}),
        "time": ("sample", times,
                 {"standard_name": "time", "long_name": "sampling date and time (UTC)", "time_zone": "UTC"}),
        "cruise": ("sample", samples["cruise"].astype(str).to_numpy(dtype=str), {"long_name": "cruise id"}),
        "station": ("sample", samples["station"].astype(str).to_numpy(dtype=str), {"long_name": "station id"}),
        "depth": ("sample", samples["depth_m"].to_numpy(dtype=np.float64),
                  {"standard_name": "depth", "long_name": "sampling depth below the sea surface", "units": "m",
                   "positive": "down"}),
        "latitude": ("sample", samples["latitude"].to_numpy(dtype=np.float64),
                     {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north"}),
        "longitude": ("sample", samples["longitude"].to_numpy(dtype=np.float64),
                      {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east"}),
    }
    data_vars: dict[str, tuple] = {}
    for name, table in profiles.items():
        dim = f"{OTU_DIM_PREFIX}{name}"
        values = _profile_array(table, sample_ids)
        attrs, otu_attrs = _profile_attrs(name, np.issubdtype(values.dtype, np.integer))
        absent = int(np.isnan(values).all(axis=1).sum()) if values.dtype.kind == "f" else 0
        if absent:
            attrs["n_samples_absent"] = absent
            attrs["comment_absent"] = "all-NaN rows: samples absent from this profile's source table"
        coords[dim] = (dim, np.asarray([str(c) for c in table.columns], dtype=str), otu_attrs)
        data_vars[f"{ABUNDANCE_PREFIX}{name}"] = (("sample", dim), values, attrs)
    for column, values in env.items():
        attrs = {"long_name": long_name_from_name(column), "units": units_from_name(column)}
        if column in STANDARD_NAMES:
            attrs["standard_name"] = STANDARD_NAMES[column]
        data_vars[column] = ("sample", values, attrs)

    attrs = {
        "title": "planktonlm community cube",
        "Conventions": "CF-1.10",
        "profiles": json.dumps(list(profiles)),
        "environment_variables": json.dumps(list(env)),
        **_provenance_attrs(provenance),
    }
    if ORACLE in profiles:
        attrs["oracle"] = ORACLE_NOTE
    ds = xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)
    otus = ", ".join(f"{n}: {ds.sizes[OTU_DIM_PREFIX + n]} OTUs" for n in profiles)
    logger.info("cube: %d samples, profiles %s, %d environmental variables", ds.sizes["sample"], otus, len(env))
    return ds


# --------------------------------------------------------------------------------------------
# reading back


def profile_names(ds: xr.Dataset) -> list[str]:
    """Names of the profiles in the cube, in file order."""
    return [str(v)[len(ABUNDANCE_PREFIX):] for v in ds.data_vars if str(v).startswith(ABUNDANCE_PREFIX)]


def profile_table(ds: xr.Dataset, name: str) -> pd.DataFrame:
    """A profile as samples x OTUs (index ``sample``, columns OTU ids), dtype as stored."""
    var = f"{ABUNDANCE_PREFIX}{name}"
    if var not in ds.data_vars:
        raise KeyError(f"the cube has no profile {name!r}; it has {profile_names(ds)}")
    da = ds[var]
    index = pd.Index([str(s) for s in ds["sample"].values], name="sample")
    columns = [str(c) for c in ds[da.dims[1]].values]
    return pd.DataFrame(da.values, index=index, columns=columns)


def environment_table(ds: xr.Dataset) -> pd.DataFrame:
    """Environmental variables as samples x variables (float64, NaN = missing), file order."""
    names = [str(v) for v, da in ds.data_vars.items() if da.dims == ("sample",)]
    index = pd.Index([str(s) for s in ds["sample"].values], name="sample")
    return pd.DataFrame({n: ds[n].values.astype(np.float64) for n in names}, index=index, columns=names)


def sample_metadata(ds: xr.Dataset) -> pd.DataFrame:
    """cruise, station, datetime (UTC, tz-aware), depth_m, latitude, longitude per sample."""
    index = pd.Index([str(s) for s in ds["sample"].values], name="sample")
    return pd.DataFrame(
        {
            "cruise": [str(c) for c in ds["cruise"].values],
            "station": [str(s) for s in ds["station"].values],
            "datetime": pd.DatetimeIndex(ds["time"].values).tz_localize("UTC"),
            "depth_m": ds["depth"].values.astype(np.float64),
            "latitude": ds["latitude"].values.astype(np.float64),
            "longitude": ds["longitude"].values.astype(np.float64),
        },
        index=index,
    )


# --------------------------------------------------------------------------------------------
# NetCDF I/O


def _time_encoding(times: np.ndarray) -> dict:
    """Fixed epoch and the coarsest unit that holds every timestamp exactly (seconds for real sheets)."""
    stamps = times.astype("datetime64[ns]")
    ns = stamps[~np.isnat(stamps)].astype(np.int64)  # NaT (unknown time) does not set the unit
    for unit, factor in (("seconds", 10**9), ("milliseconds", 10**6), ("microseconds", 10**3), ("nanoseconds", 1)):
        if np.all(ns % factor == 0):
            break
    return {"units": f"{unit} since 1970-01-01T00:00:00+00:00", "calendar": "proleptic_gregorian", "dtype": "int64"}


def write_cube(ds: xr.Dataset, path: str | os.PathLike[str]) -> None:
    """Write the cube as NetCDF-4 (h5netcdf), atomically; same dataset -> same bytes."""
    # Encodings carried over from a file the cube was read from (source path, chunking) would
    # change the bytes; the writer's defaults plus a fixed time encoding do not.
    ds = ds.drop_encoding()
    encoding = {"time": _time_encoding(ds["time"].values)} if "time" in ds.variables else {}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE, format="NETCDF4", encoding=encoding)
        stamped = hdf5_objects_with_times(tmp)
    if stamped:
        logger.warning(
            "%s is not byte-reproducible: h5py %s stored HDF5 modification times on %s "
            "(h5py >= 3.15 does not; upgrade it for identical files across runs)",
            path, h5py.__version__, ", ".join(stamped[:3]),
        )
    logger.info("cube written to %s", path)


def hdf5_objects_with_times(path: str | os.PathLike[str]) -> list[str]:
    """HDF5 objects of a file that carry creation/modification times ("/" = the root group).

    h5py < 3.15 stamps the root group whenever track_order is set, as h5netcdf does; such
    stamps are the only wall-clock content a cube could hold.
    """
    stamped = []
    with h5py.File(path, "r") as handle:
        def visit(name: str, obj: h5py.HLObject) -> None:
            info = h5py.h5o.get_info(obj.id)
            if info.ctime or info.mtime:
                stamped.append(name)

        visit("/", handle)
        handle.visititems(visit)
    return stamped


def read_cube(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a cube fully into memory (the file is closed on return)."""
    with xr.open_dataset(path, engine=ENGINE) as ds:
        return ds.load()


# --------------------------------------------------------------------------------------------
# stage entry


def read_model_sha256(path: str | os.PathLike[str]) -> str:
    """The digest of a ``<sha256>  <file>`` line (as the train stage writes weights.sha256)."""
    expected = "64 hex digits, then the file name"
    try:
        words = Path(path).read_text().split()
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanktonlmInputError(InputProblem(file=os.fspath(path), message=f"cannot read the file: {exc}",
                                                expected=expected)) from exc
    digest = words[0].lower() if words else ""
    if not _SHA256.match(digest):
        raise PlanktonlmInputError(InputProblem(file=os.fspath(path), row=1, value=digest or None,
                                                message="no SHA-256 digest found", expected=expected))
    return digest


def read_truth_abundance(truth_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, str]:
    """The simulator's truth/abundance.tsv (samples x genomes) and its path."""
    path = Path(truth_dir) / TRUTH_ABUNDANCE_FILE
    try:
        table = pd.read_csv(path, sep="\t", index_col=0, dtype={0: str})
    except (OSError, ValueError) as exc:
        raise PlanktonlmInputError(InputProblem(file=os.fspath(path), message=f"cannot read the truth table: {exc}",
                                                expected="the simulator's truth/abundance.tsv (sample x genome)")) from exc
    table.index = table.index.astype(str).rename("sample")
    return table, os.fspath(path)


def make_cube(
    samples_tsv: str | os.PathLike[str],
    units_tsv: str | os.PathLike[str],
    profile_tsvs: Mapping[str, str | os.PathLike[str]],
    out_nc: str | os.PathLike[str],
    config: dict,
    model_sha256_path: str | os.PathLike[str] | None = None,
    truth_dir: str | os.PathLike[str] | None = None,
) -> xr.Dataset:
    """Stage entry: sample sheet + profile tables (TSV or Parquet) [+ simulator truth] -> cube.nc.

    ``config`` is the validated config (its hash is recorded). The sheets are validated as at
    workflow start (FASTQ files only quick-scanned). Input checksums are keyed by the paths as
    given, so relative paths in the workflow keep the file independent of the working folder.
    """
    # Imported here: profiles pulls in scikit-learn, which readers of the cube do not need.
    from planktonlm.profiles import read_profile

    validate = config.get("validate", {})
    cruise = load_cruise(samples_tsv, units_tsv, fastq_scan="quick",
                         pressure_tolerance=validate.get("pressure_tolerance", 0.15))
    inputs = {os.fspath(samples_tsv): sha256_file(samples_tsv), os.fspath(units_tsv): sha256_file(units_tsv)}
    profiles, files = {}, {}
    for name, path in profile_tsvs.items():
        profiles[name] = read_profile(path)
        files[name] = os.fspath(path)
        inputs[os.fspath(path)] = sha256_file(path)
    if truth_dir is not None:
        if ORACLE in profiles:
            raise ValueError(f"profile name {ORACLE!r} is reserved for the simulator's truth")
        profiles[ORACLE], files[ORACLE] = read_truth_abundance(truth_dir)
        inputs[files[ORACLE]] = sha256_file(files[ORACLE])
    provenance = {
        "config_sha256": config_hash(config),
        "input_sha256": inputs,
        "model_sha256": read_model_sha256(model_sha256_path) if model_sha256_path else "",
        "package_versions": package_versions(),
    }
    ds = build_cube(cruise.samples, profiles, provenance, samples_file=os.fspath(samples_tsv), profile_files=files)
    write_cube(ds, out_nc)
    return ds


def cube_stage(named_inputs: Mapping[str, str], out_nc: str, config: Mapping) -> xr.Dataset:
    """Stage entry: the cube of a read-based cruise, or of published tables (``published:`` set)."""
    from planktonlm.published import is_published, make_published_cube

    if is_published(config):
        return make_published_cube(config["published"], out_nc, config)
    return make_cube(
        named_inputs["samples"], named_inputs["units"],
        profile_tsvs={"embedding": named_inputs["embedding"], "kmer": named_inputs["kmer"]},
        out_nc=out_nc, config=config, model_sha256_path=named_inputs["model_sha256"],
        truth_dir=config.get("oracle_truth") or None,
    )
