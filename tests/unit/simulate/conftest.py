"""Shared fixtures of the simulator tests: the bundled genomes, the tiny design and one tiny cruise."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import dnaio
import pandas as pd
import pytest

from planktonlm.simulate.design import PRESETS, CruiseDesign
from planktonlm.simulate.writer import simulate_cruise


@pytest.fixture(scope="session")
def genomes() -> Path:
    """The bundled genomes folder (resources/genomes)."""
    return Path(__file__).resolve().parents[3] / "resources" / "genomes"


@pytest.fixture(scope="session")
def tiny() -> CruiseDesign:
    """The tiny preset with 150 read pairs per sample."""
    return dataclasses.replace(PRESETS["tiny"], reads_per_sample=150)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny: CruiseDesign, genomes: Path) -> Path:
    """One tiny cruise (seed 7), simulated once for every test that only reads it."""
    return simulate_cruise(tiny, tmp_path_factory.mktemp("a") / "cruise", 7, genomes)


def _read_pairs(outdir: Path) -> dict[str, tuple[dnaio.SequenceRecord, dnaio.SequenceRecord]]:
    units = pd.read_csv(outdir / "units.tsv", sep="\t")
    pairs = {}
    for fq1, fq2 in zip(units["fq1"], units["fq2"]):
        with dnaio.open(fq1, file2=fq2) as reader:
            for r1, r2 in reader:
                pairs[r1.id] = (r1, r2)
    return pairs


@pytest.fixture
def read_pairs() -> Callable[[Path], dict[str, tuple[dnaio.SequenceRecord, dnaio.SequenceRecord]]]:
    """Every read pair of a simulated cruise, by read id (reads units.tsv and its FASTQ files)."""
    return _read_pairs
