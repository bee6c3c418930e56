"""The cube of a read-based cruise from its files: sample sheets, profile tables, novelty, model digest, simulator truth."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import xarray as xr

from planktonlm.config import as_paths, atlas_folder, config_hash
from planktonlm.cube.build import build_cube
from planktonlm.cube.layout import ORACLE
from planktonlm.cube.novelty import add_novelty
from planktonlm.cube.provenance import package_versions, read_model_sha256, read_truth_abundances
from planktonlm.cube.store import write_cube
from planktonlm.inputs.cruise import load_cruise
from planktonlm.inputs.select import SampleFilter
from planktonlm.io import sha256_file
from planktonlm.profiles.tables import read_profile

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def make_cube(
    samples_tsv: PathLike | Sequence[PathLike],
    units_tsv: PathLike | Sequence[PathLike],
    profile_tsvs: Mapping[str, PathLike],
    out_nc: PathLike,
    config: dict,
    model_sha256_path: PathLike | None = None,
    truth_dir: PathLike | Sequence[PathLike] | None = None,
    novelty_tsvs: Mapping[str, PathLike] | None = None,
) -> xr.Dataset:
    """Stage entry: sample sheets + profile tables (TSV or Parquet) [+ novelty tables, simulator truth] -> cube.nc.

    ``samples_tsv`` / ``units_tsv``: one sheet or a list of sheets (several cruises), as the
    config's ``samples`` and ``units``; the samples the config's ``select`` keeps are the cube's.
    ``config``: the config the cube is built under (its hash is recorded; the workflow passes the
    validated config without the sections downstream of the cube). The sheets are validated as at
    workflow start; FASTQ contents are not read again (the check_fastq jobs scanned them). ``novelty_tsvs``: profile -> novelty.tsv of
    the profile stage, each giving the variable ``novelty_<profile>(sample)``. ``truth_dir``: one
    truth folder or a list (several simulated cruises). Input checksums are keyed by the paths as
    given, so relative paths in the workflow keep the file independent of the working folder.
    With the config's ``atlas`` set, the cube's attribute ``atlas`` names the folder.
    """
    validate = config.get("validate", {})
    sample_filter = SampleFilter.from_config(config)
    cruise = load_cruise(samples_tsv, units_tsv, fastq_scan=None,
                         pressure_tolerance=validate.get("pressure_tolerance", 0.15), sample_filter=sample_filter)
    sheets = as_paths(samples_tsv) + as_paths(units_tsv)
    inputs = {path: sha256_file(path) for path in sheets}
    profiles, files = {}, {}
    for name, path in profile_tsvs.items():
        profiles[name] = read_profile(path)
        files[name] = os.fspath(path)
        inputs[os.fspath(path)] = sha256_file(path)
    truth_dirs = as_paths(truth_dir)
    if truth_dirs:
        if ORACLE in profiles:
            raise ValueError(f"profile name {ORACLE!r} is reserved for the simulator's truth")
        truth, truth_files = read_truth_abundances(truth_dirs)
        if sample_filter.active:  # the truth of the samples that select leaves out
            kept = truth.index.isin(cruise.samples.index)
            if not kept.all():
                logger.info("select: oracle: %d of the %d samples of the truth left out", int((~kept).sum()), len(truth))
            truth = truth[kept]
        profiles[ORACLE], files[ORACLE] = truth, ", ".join(truth_files)
        inputs.update({path: sha256_file(path) for path in truth_files})
    novelty = {name: os.fspath(path) for name, path in (novelty_tsvs or {}).items()}
    inputs.update({path: sha256_file(path) for path in novelty.values()})
    provenance = {
        "config_sha256": config_hash(config),
        "input_sha256": inputs,
        "model_sha256": read_model_sha256(model_sha256_path) if model_sha256_path else "",
        "package_versions": package_versions(),
    }
    ds = build_cube(cruise.samples, profiles, provenance, samples_file=", ".join(as_paths(samples_tsv)), profile_files=files)
    ds = add_novelty(ds, novelty)
    if atlas_folder(config):
        ds.attrs["atlas"] = atlas_folder(config)  # reads assigned to a frozen atlas (its OTU ids, its novelty reference)
    write_cube(ds, out_nc)
    return ds
