"""Shared data makers of the unit tests (fixtures return the functions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _count_table(seed: int = 0, n_samples: int = 6, n_features: int = 9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.poisson(rng.gamma(1.0, 20.0, size=(n_samples, n_features)))
    index = pd.Index([f"S{i:02d}" for i in range(n_samples)], name="sample")
    return pd.DataFrame(values, index=index, columns=[f"eotu_{j + 1:04d}" for j in range(n_features)])


@pytest.fixture
def count_table():
    return _count_table
