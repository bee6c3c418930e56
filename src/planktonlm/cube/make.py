"""The cube of a read-based cruise from its files: sample sheet, profile tables, model digest, simulator truth."""

from __future__ import annotations

import os
from collections.abc import Mapping

import xarray as xr

from planktonlm.config import config_hash
from planktonlm.cube.build import build_cube
from planktonlm.cube.layout import ORACLE
from planktonlm.cube.provenance import package_versions, read_model_sha256, read_truth_abundance
from planktonlm.cube.store import write_cube
from planktonlm.inputs.cruise import load_cruise
from planktonlm.io import sha256_file
from planktonlm.profiles.tables import read_profile


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

    ``config``: the config the cube is built under (its hash is recorded; the workflow passes the
    validated config without the sections downstream of the cube). The sheets are validated as at
    workflow start (FASTQ files only quick-scanned). Input checksums are keyed by the paths as
    given, so relative paths in the workflow keep the file independent of the working folder.
    """
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
