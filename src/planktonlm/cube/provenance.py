"""Where a cube came from: config and input checksums, the model digest, package versions, the simulator's truth.

No attribute holds a wall-clock time, so the same inputs and package versions give the same bytes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import pandas as pd

from planktonlm import __version__
from planktonlm.errors import InputProblem, PlanktonlmInputError

PACKAGES = ("planktonlm", "numpy", "pandas", "xarray", "h5netcdf", "h5py", "scikit-learn", "torch")
PROVENANCE_KEYS = frozenset({"config_sha256", "input_sha256", "model_sha256", "package_versions"})
TRUTH_ABUNDANCE_FILE = "abundance.tsv"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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


def provenance_attrs(provenance: Mapping[str, object]) -> dict[str, str]:
    """The cube's provenance attributes (all strings; mappings as sorted JSON)."""
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


def read_truth_abundances(truth_dirs: Sequence[str | os.PathLike[str]]) -> tuple[pd.DataFrame, list[str]]:
    """The truth tables of one or more simulated cruises, rows concatenated in the given order,
    and their paths. A genome missing from one cruise's table has abundance 0 there; a sample in
    two tables is a PlanktonlmInputError naming both files."""
    tables, paths, first = [], [], {}
    problems = []
    for truth_dir in truth_dirs:
        table, path = read_truth_abundance(truth_dir)
        for row, sample in enumerate(table.index, start=1):
            if sample in first and first[sample][0] != path:  # repeats within a table: build_cube's check
                problems.append(InputProblem(
                    file=path, row=row, column="sample", value=sample,
                    message=f"sample also in {first[sample][0]} (row {first[sample][1]}): sample ids must be unique across cruises",
                    expected="each sample in one truth folder only"))
            first.setdefault(sample, (path, row))
        tables.append(table)
        paths.append(path)
    if problems:
        raise PlanktonlmInputError(problems)
    if len(tables) == 1:
        return tables[0], paths
    return pd.concat(tables).fillna(0.0).rename_axis("sample"), paths
