"""Tests for planktonlm.profiles.vectors: the sample-balanced pool and the mean vector table."""

from __future__ import annotations

import numpy as np

from planktonlm.profiles.vectors import mean_embedding_table, sample_balanced_pool


def test_balanced_pool_takes_same_number_per_sample_in_file_order(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "a": np.arange(50, dtype=np.float16).reshape(25, 2),
        "b": (1000 + np.arange(40)).astype(np.float16).reshape(20, 2),
        "c": rng.normal(size=(4, 2)).astype(np.float16),  # fewer than n_per_sample: all of it
    }
    pool = sample_balanced_pool(arrays, 6, seed=9)
    assert pool.shape == (6 + 6 + 4, 2) and pool.dtype == np.float16
    first = pool[:6, 0].astype(int)
    assert np.all(np.diff(first) > 0) and set(first) <= set(arrays["a"][:, 0].astype(int))
    assert np.array_equal(pool[12:], arrays["c"])
    # the same from .npy files (memory-mapped)
    paths = {}
    for name, arr in arrays.items():
        np.save(tmp_path / f"{name}.npy", arr)
        paths[name] = tmp_path / f"{name}.npy"
    assert np.array_equal(sample_balanced_pool(paths, 6, seed=9), pool)


def test_balanced_pool_is_seeded_and_keyed_by_sample():
    rng = np.random.default_rng(1)
    arrays = {"a": rng.normal(size=(100, 3)), "b": rng.normal(size=(100, 3))}
    pool = sample_balanced_pool(arrays, 10, seed=1)
    assert np.array_equal(pool, sample_balanced_pool(arrays, 10, seed=1))
    assert not np.array_equal(pool, sample_balanced_pool(arrays, 10, seed=2))
    # sample b's draw does not depend on whether a is there
    assert np.array_equal(sample_balanced_pool({"b": arrays["b"]}, 10, seed=1), pool[10:])


def test_mean_embedding_table_of_empty_sample_is_nan():
    table = mean_embedding_table({"x": np.ones((3, 2), dtype=np.float16), "empty": np.zeros((0, 2))})
    assert table.columns.tolist() == ["dim_0000", "dim_0001"]
    assert table.loc["x"].tolist() == [1.0, 1.0] and table.loc["empty"].isna().all()
