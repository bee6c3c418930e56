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


@pytest.fixture
def planted_community():
    return _planted_community


@pytest.fixture
def undated():
    return _undated
