"""Shared data makers of the statistics tests (fixtures return the functions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planktonlm.stats.permutations import SamplingDesign


def _planted_community(seed: int, n_stations: int = 10, per_station: int = 6, n_taxa: int = 40):
    """Counts whose taxa have Gaussian temperature niches; 'noise' is independent of everything."""
    rng = np.random.default_rng(seed)
    n = n_stations * per_station
    temperature = rng.uniform(2, 28, n)
    noise = rng.normal(size=n)
    optima = rng.uniform(0, 30, n_taxa)
    mean = 200 * np.exp(-((temperature[:, None] - optima) ** 2) / (2 * 6.0**2)) + 0.5
    counts = rng.poisson(mean).astype(float)
    env = pd.DataFrame({"temperature": temperature, "noise": noise})
    stations = np.repeat([f"st{k}" for k in range(n_stations)], per_station)
    return counts, env, stations


def _undated(stations: np.ndarray) -> SamplingDesign:
    n = len(stations)
    return SamplingDesign(np.asarray(stations, dtype=object), np.full(n, np.nan), np.full(n, np.nan))


def _drifting_series(seed: int = 11):
    """Two stations sampled monthly; the community drifts steadily along one direction."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=30)
    direction = rng.normal(size=30)
    rows, meta = {}, []
    for station, depth in (("A", 5.0), ("B", 50.0)):
        for month in range(10):
            sample = f"{station}{month:02d}"
            logits = base + 0.4 * month * direction
            rows[sample] = np.round(5000 * np.exp(logits) / np.exp(logits).sum()).astype(int)
            date = pd.Timestamp("2021-01-01") + pd.Timedelta(days=30 * month)
            meta.append({"sample": sample, "station": station, "depth_m": depth, "datetime": date.isoformat()})
    meta.append({"sample": "lone", "station": "C", "depth_m": 5.0, "datetime": "2021-03-01T00:00:00"})
    rows["lone"] = rows["A00"]
    counts = pd.DataFrame(rows).T
    meta = pd.DataFrame(meta).sample(frac=1.0, random_state=1)  # order must not matter
    return counts, meta


@pytest.fixture
def planted_community():
    return _planted_community


@pytest.fixture
def undated():
    return _undated


@pytest.fixture
def drifting_series():
    return _drifting_series
