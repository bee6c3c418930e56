"""The cube on disk: NetCDF-4 (HDF5, h5netcdf), written atomically and byte-reproducibly, and read back.

Byte-identical files: h5py >= 3.15 creates every HDF5 object, the root group included, without
timestamps (older h5py stamps the root group when track_order is set, as h5netcdf does;
``write_cube`` checks the file it wrote and warns if any object carries a time). The time axis
has a fixed encoding (seconds since 1970-01-01 UTC, or a finer fixed unit when needed), nothing
is compressed and encodings carried over from a read file are dropped.
"""

from __future__ import annotations

import logging
import os

import h5py
import numpy as np
import xarray as xr

from planktonlm.io import atomic_path

logger = logging.getLogger(__name__)

ENGINE = "h5netcdf"


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
