"""Reading a cube back as tables: profiles, environment, sample metadata (what ecology, shifts and the report use)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from planktonlm.vocab import ABUNDANCE_PREFIX, NOVELTY_PREFIX


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
    """Environmental variables as samples x variables (float64, NaN = missing), file order.

    The per-sample novelty of the read profiles (``novelty_<profile>``) is not environment: see
    :func:`novelty_table`."""
    names = [str(v) for v, da in ds.data_vars.items() if da.dims == ("sample",) and not str(v).startswith(NOVELTY_PREFIX)]
    index = pd.Index([str(s) for s in ds["sample"].values], name="sample")
    return pd.DataFrame({n: ds[n].values.astype(np.float64) for n in names}, index=index, columns=names)


def novelty_table(ds: xr.Dataset) -> pd.DataFrame | None:
    """Novelty share per sample (rows) and read profile (columns ``embedding``, ``kmer``: the
    ``novelty_<profile>`` variables), with ``attrs["threshold"]`` (profile -> distance) and
    ``attrs["atlas"]`` (the cube's ``atlas`` attribute: the atlas folder, "" without one); None
    for a cube without novelty (published tables, cubes written before it existed)."""
    names = [str(v) for v in ds.data_vars if str(v).startswith(NOVELTY_PREFIX)]
    if not names:
        return None
    index = pd.Index([str(s) for s in ds["sample"].values], name="sample")
    profiles = [n[len(NOVELTY_PREFIX):] for n in names]
    table = pd.DataFrame({p: ds[n].values.astype(np.float64) for p, n in zip(profiles, names)}, index=index, columns=profiles)
    table.attrs["threshold"] = {p: float(ds[n].attrs.get("threshold", np.nan)) for p, n in zip(profiles, names)}
    table.attrs["atlas"] = str(ds.attrs.get("atlas", ""))
    return table


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
