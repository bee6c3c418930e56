"""Shared data makers of the cube tests (fixtures return the functions, so each call is fresh)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planktonlm.cube.build import build_cube
from planktonlm.vocab import parse_datetime_utc

REPO = Path(__file__).resolve().parents[3]
IDS = ["S1", "S2", "S3", "S4"]
VERSIONS = {"planktonlm": "0.1.0", "numpy": "2", "torch": "2.13.0+cpu"}


def _samples_frame() -> pd.DataFrame:
    """A sheet as Cruise.samples holds it: UTC datetimes, float columns, one missing salinity."""
    return pd.DataFrame(
        {
            "cruise": ["C1", "C1", "C2", "C2"],
            "station": ["A", "B", "A", "B"],
            "datetime": [parse_datetime_utc(t) for t in
                         ("2021-06-01T08:30:00Z", "2021-06-15T12:00:00+02:00", "2022-01-10", "2022-01-11T23:59:59")],
            "latitude": [43.5, 43.6, -10.25, -10.5],
            "longitude": [7.3, 7.4, -150.0, -151.0],
            "depth_m": [5.0, 50.0, 0.0, 200.0],
            "temperature_c": [18.4, 14.9, 26.0, 12.5],
            "ph": [8.08, 8.05, 8.1, 7.95],
            "pressure_dbar": [5.1, 50.4, 0.0, 201.6],
            "salinity_psu": [38.1, np.nan, 35.0, 35.2],
            "noise_index": [0.1, -0.3, 1.2, 0.0],
            "ammonium_umol_kg": [np.nan, np.nan, 0.2, 0.4],
        },
        index=pd.Index(IDS, name="sample"),
    )


def _profiles_dict() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    embedding = pd.DataFrame(rng.integers(0, 500, size=(4, 5)), index=pd.Index(IDS, name="sample"),
                             columns=[f"eotu_{i:04d}" for i in range(1, 6)])
    # Rows in another order than the sheet: the cube puts them in the sheet's order.
    kmer = pd.DataFrame(rng.integers(0, 500, size=(4, 3)), index=pd.Index(IDS[::-1], name="sample"),
                        columns=["kotu_0001", "kotu_0002", "kotu_0003"])
    return {"embedding": embedding, "kmer": kmer}


def _provenance() -> dict:
    return {"config_sha256": "c" * 64, "input_sha256": {"samples.tsv": "a" * 64, "units.tsv": "b" * 64},
            "model_sha256": "d" * 64, "package_versions": VERSIONS}


@pytest.fixture
def samples_frame():
    return _samples_frame


@pytest.fixture
def profiles_dict():
    return _profiles_dict


@pytest.fixture
def provenance():
    return _provenance


@pytest.fixture
def ds():
    return build_cube(_samples_frame(), _profiles_dict(), _provenance())


@pytest.fixture
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The good cruise's units.tsv lists FASTQ paths relative to the repository root."""
    monkeypatch.chdir(REPO)
