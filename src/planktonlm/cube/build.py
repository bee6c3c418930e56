"""Building the cube in memory: the sample sheet and the profile tables checked, then laid out as one Dataset.

Pure: nothing is read or written here (``planktonlm.cube.make`` and ``planktonlm.cube.published``
read the files, ``planktonlm.cube.store`` writes the result). Every problem of the sheet and of
every profile is collected and raised once as a PlanktonlmInputError.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from planktonlm.cube.layout import ORACLE, ORACLE_NOTE, PROFILE_LONG_NAMES, RESERVED_NAMES
from planktonlm.cube.provenance import provenance_attrs
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.vocab import (
    ABUNDANCE_PREFIX,
    METADATA_COORDS,
    NON_ENV_COLUMNS,
    NOVELTY_PREFIX,
    OTU_DIM_PREFIX,
    STANDARD_NAMES,
    long_name_from_name,
    units_from_name,
)

logger = logging.getLogger(__name__)

_PROFILE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


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
        if column in RESERVED_NAMES or column.startswith((ABUNDANCE_PREFIX, OTU_DIM_PREFIX, NOVELTY_PREFIX)):
            problems.append(
                InputProblem(
                    file=file,
                    row=0,
                    column=column,
                    message="column name clashes with a name of the community cube",
                    expected=f"a name other than {', '.join(sorted(RESERVED_NAMES))} "
                    f"and not starting with {ABUNDANCE_PREFIX!r}, {OTU_DIM_PREFIX!r} or {NOVELTY_PREFIX!r}",
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
    value_name, otu_name = PROFILE_LONG_NAMES.get(name, (f"abundance in profile '{name}'", f"{name} feature id"))
    attrs = {"long_name": value_name, "units": "1", "profile": name,
             "value_kind": "count" if integer else ("relative_abundance" if name == ORACLE else "value")}
    if name == ORACLE:
        attrs["comment"] = ORACLE_NOTE
    return attrs, {"long_name": otu_name}


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
        **provenance_attrs(provenance),
    }
    if ORACLE in profiles:
        attrs["oracle"] = ORACLE_NOTE
    ds = xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)
    otus = ", ".join(f"{n}: {ds.sizes[OTU_DIM_PREFIX + n]} OTUs" for n in profiles)
    logger.info("cube: %d samples, profiles %s, %d environmental variables", ds.sizes["sample"], otus, len(env))
    return ds
