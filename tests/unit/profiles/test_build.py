"""Tests for planktonlm.profiles.build: one profile's codebook on a balanced pool, and the profiles config."""

from __future__ import annotations

import numpy as np
import pytest

from planktonlm.config import build_config
from planktonlm.errors import PlanktonlmInputError
from planktonlm.profiles.build import ProfilesConfig, fit_profile_codebook
from planktonlm.profiles.vectors import sample_balanced_pool


def make_npys(tmp_path, sizes: dict[str, int], dim: int = 8, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, dim))
    paths = {}
    for name, n in sizes.items():
        vectors = centres[rng.integers(0, 5, size=n)] + rng.normal(scale=0.3, size=(n, dim))
        path = tmp_path / "embed" / f"{name}.npy"
        path.parent.mkdir(exist_ok=True)
        np.save(path, vectors.astype(np.float16))
        path.with_suffix(".txt").write_text("".join(f"read{i}\n" for i in range(n)))
        paths[name] = path
    return paths


def fit(paths, **kw):
    params = dict(n_otus=5, pool_reads_per_sample=40, n_init=2, max_iter=50) | kw
    return fit_profile_codebook(paths, seed=3, **params)


def test_fit_profile_codebook_is_reproducible_and_fits_the_pool(tmp_path):
    paths = make_npys(tmp_path, {"S03": 120, "S01": 75, "S02": 30})
    codebook = fit(paths)
    assert codebook.cluster_centers_.shape == (5, 8)
    assert fit(paths).cluster_centers_.tobytes() == codebook.cluster_centers_.tobytes()
    pool = sample_balanced_pool({name: np.load(path) for name, path in paths.items()}, 40, 3)
    assert len(codebook.labels_) == len(pool) == 40 + 40 + 30  # every sample weighs the same
    # the pool is keyed by sample id: renaming a sample changes the codebook
    renamed = {("S09" if name == "S03" else name): path for name, path in paths.items()}
    assert fit(renamed).cluster_centers_.tobytes() != codebook.cluster_centers_.tobytes()


def test_fit_profile_codebook_reports_every_bad_input_at_once(tmp_path):
    paths = make_npys(tmp_path, {"ok": 20, "nan": 20, "ids": 20, "wide": 20})
    bad = np.load(paths["nan"])
    bad[7, 2] = np.inf
    np.save(paths["nan"], bad)
    paths["ids"].with_suffix(".txt").write_text("r1\n")
    np.save(paths["wide"], np.zeros((20, 9), dtype=np.float16))
    paths["gone"] = tmp_path / "embed" / "gone.npy"
    with pytest.raises(PlanktonlmInputError) as err:
        fit(paths)
    text = str(err.value)
    assert "4 problems" in text
    assert "row 8" in text and "1 read ids for 20 vectors" in text and "differ in dimension" in text
    assert "gone" in text


def test_profiles_config_from_section():
    config = build_config(ProfilesConfig, "profiles", {"n_otus": 32, "pool_reads_per_sample": 500, "max_iter": 50})
    assert (config.n_otus, config.pool_reads_per_sample, config.max_iter) == (32, 500, 50)
    assert build_config(ProfilesConfig, "profiles").kmer_k == 4  # the schema's default
    with pytest.raises(PlanktonlmInputError, match="n_otus"):
        build_config(ProfilesConfig, "profiles", n_otus=1)
