"""The cube of published tables: an environment table and samples x taxa tables instead of reads.

The tables are read and checked by ``planktonlm.inputs.published``; here they become the same
kind of cube as :func:`planktonlm.cube.make.make_cube` writes (dates may be unknown, a profile
may cover only some of the samples), plus the ``layer`` coordinate and its indicator variables.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xarray as xr

from planktonlm.config import config_hash
from planktonlm.cube.build import build_cube
from planktonlm.cube.provenance import package_versions
from planktonlm.cube.store import write_cube
from planktonlm.inputs.published import PublishedConfig, read_published_tables
from planktonlm.inputs.select import SampleFilter
from planktonlm.io import sha256_file

logger = logging.getLogger(__name__)


def build_published_cube(cfg: PublishedConfig, config: Mapping[str, Any]) -> xr.Dataset:
    """Read and check every table of ``cfg``; return the cube (nothing written).

    ``config``: the config the cube is built under (its hash is recorded; its ``select`` section,
    if any, keeps some of the samples).
    """
    tables = read_published_tables(cfg, SampleFilter.from_config(config))
    sheet, layer_of, profiles = tables.sheet, tables.layer_of, tables.profiles
    env_file = cfg.environment
    inputs = {env_file: sha256_file(env_file), **{path: sha256_file(path) for path in cfg.profiles.values()}}
    provenance = {"config_sha256": config_hash(dict(config)), "input_sha256": inputs, "model_sha256": "",
                  "package_versions": package_versions()}
    for name, table in profiles.items():
        absent = int((~sheet.index.isin(table.index)).sum())
        logger.info("published: profile %s: %d samples x %d taxa (%d samples of the environment table absent)",
                    name, *table.shape, absent)
    ds = build_cube(sheet, profiles, provenance, samples_file=env_file, profile_files=dict(cfg.profiles),
                    allow_missing_time=True, partial_profiles=True)
    for column, name in cfg.columns.items():
        if name in ds.data_vars:
            ds[name].attrs["source_column"] = column
            if name in cfg.units:
                ds[name].attrs["units"] = cfg.units[name]
    for name in ds.data_vars:
        if str(name).startswith("layer_") and layer_of is not None:
            ds[name].attrs.update(long_name=f"sampling layer is {str(name)[6:-6].upper()} (1) or not (0)", units="1",
                                  comment="indicator derived from the sample id by published.layer_pattern")
    if layer_of is not None:
        ds = ds.assign_coords(layer=("sample", layer_of.reindex(ds["sample"].values).to_numpy(dtype=str),
                                     {"long_name": "sampling layer (from the sample id)"}))
    ds.attrs["source"] = "published tables: " + ", ".join([env_file, *cfg.profiles.values()])
    return ds


def make_published_cube(published_cfg: Mapping[str, Any], out_nc: str | os.PathLike[str], config: Mapping[str, Any]) -> xr.Dataset:
    """Stage entry: the ``published`` config section -> cube.nc (same layout as make_cube's).

    ``config``: the config the cube is built under (its hash is recorded; the workflow passes the
    validated config without the sections downstream of the cube). Paths are relative to the
    working directory; input checksums are keyed by the paths as given.
    """
    cfg = published_cfg if isinstance(published_cfg, PublishedConfig) else PublishedConfig.from_section(published_cfg)
    ds = build_published_cube(cfg, config)
    write_cube(ds, out_nc)
    logger.info("published: cube written to %s", Path(out_nc))
    return ds
