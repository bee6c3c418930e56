"""Shared makers of the cruise-input tests: the repository root as working directory, and edited
copies of the good cruise (fixtures return the functions)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from planktonlm.inputs.sheets import read_samples_table

REPO = Path(__file__).resolve().parents[3]
GOOD = Path("tests/data/good_cruise")


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in the corpus tables are relative to the repository root, as in a workflow run."""
    monkeypatch.chdir(REPO)


@pytest.fixture
def samples_variant(tmp_path: Path):
    """The good cruise's samples.tsv, edited as text cells by ``edit(table)``, written to tmp_path."""

    def make(edit=None) -> Path:
        table = read_samples_table(GOOD / "samples.tsv")
        if edit is not None:
            edit(table)
        path = tmp_path / "samples.tsv"
        table.to_csv(path, sep="\t", index=False)
        return path

    return make


@pytest.fixture
def good_cruise_copy(tmp_path: Path):
    """The good cruise with its reads under tmp_path (absolute paths in units.tsv): (samples.tsv, units.tsv)."""

    def make(*, single_end: bool = False) -> tuple[Path, Path]:
        shutil.copytree(REPO / GOOD / "reads", tmp_path / "reads")
        units = pd.read_csv(GOOD / "units.tsv", sep="\t", dtype=str)
        units["fq1"] = [str(tmp_path / "reads" / Path(p).name) for p in units["fq1"]]
        units["fq2"] = "" if single_end else [str(tmp_path / "reads" / Path(p).name) for p in units["fq2"]]
        units.to_csv(tmp_path / "units.tsv", sep="\t", index=False)
        return GOOD / "samples.tsv", tmp_path / "units.tsv"

    return make
