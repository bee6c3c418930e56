"""Tests for planktonlm.profiles.build: one profile end to end (pool, codebook, counts, mean vectors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planktonlm.config import build_config
from planktonlm.errors import PlanktonlmInputError
from planktonlm.profiles.build import ProfilesConfig, build_profiles
from planktonlm.profiles.tables import PROFILE_PREFIX, build_profile_table, otu_column_names, read_profile
from planktonlm.reads.kmers import tetranucleotide_frequencies


def random_dna(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=n))


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


def run_build(paths, outdir, profile="embedding", **kw):
    params = dict(n_otus=5, pool_reads_per_sample=40, n_init=2, max_iter=50) | kw
    outputs = {
        "counts_tsv": outdir / "counts.tsv",
        "counts_parquet": outdir / "counts.parquet",
        "codebook": outdir / "codebook.npy",
        "mean": outdir / "mean.tsv",
    }
    result = build_profiles(paths, prefix=PROFILE_PREFIX[profile], out_counts_tsv=outputs["counts_tsv"],
                            out_counts_parquet=outputs["counts_parquet"], out_codebook_npy=outputs["codebook"],
                            out_mean_tsv=outputs["mean"], seed=3, **params)
    return result, outputs


def test_build_profiles_end_to_end(tmp_path):
    sizes = {"S03": 120, "S01": 75, "S02": 30}
    paths = make_npys(tmp_path, sizes)
    result, outputs = run_build(paths, tmp_path / "run1")
    counts = read_profile(outputs["counts_tsv"])
    assert counts.index.tolist() == ["S03", "S01", "S02"]  # given order
    assert counts.columns.tolist() == otu_column_names(5, "eotu_")
    assert counts.sum(axis=1).to_dict() == sizes
    pd.testing.assert_frame_equal(read_profile(outputs["counts_parquet"]), counts, check_index_type=False)
    pd.testing.assert_frame_equal(result.counts, counts, check_index_type=False, check_column_type=False)
    codebook = np.load(outputs["codebook"])
    assert codebook.shape == (5, 8) and codebook.tobytes() == result.codebook.cluster_centers_.tobytes()
    mean = read_profile(outputs["mean"])
    for name, path in paths.items():
        assert np.allclose(mean.loc[name].to_numpy(), np.load(path).astype(np.float64).mean(axis=0), rtol=1e-12)
    # counts equal a direct assignment of every fragment with the fitted codebook
    direct = {name: result.codebook.predict(np.load(path)) for name, path in paths.items()}
    assert np.array_equal(build_profile_table(direct, 5).to_numpy(), counts.to_numpy())

    _, outputs2 = run_build(paths, tmp_path / "run2")
    for key, path in outputs.items():
        assert path.read_bytes() == outputs2[key].read_bytes(), key


def test_build_kmer_profiles_uses_kotu_prefix(tmp_path):
    rng = np.random.default_rng(7)
    paths = {}
    for name in ("a", "b"):
        vectors = tetranucleotide_frequencies([random_dna(rng, 60) for _ in range(30)])
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], vectors.astype(np.float32))
    result, outputs = run_build(paths, tmp_path / "out", profile="kmer", n_otus=3)
    assert result.counts.columns[0] == "kotu_0001"
    assert result.counts.sum(axis=1).tolist() == [30, 30]
    assert result.mean.shape == (2, 136)


def test_build_profiles_reports_every_bad_input_at_once(tmp_path):
    paths = make_npys(tmp_path, {"ok": 20, "nan": 20, "ids": 20, "wide": 20})
    bad = np.load(paths["nan"])
    bad[7, 2] = np.inf
    np.save(paths["nan"], bad)
    paths["ids"].with_suffix(".txt").write_text("r1\n")
    np.save(paths["wide"], np.zeros((20, 9), dtype=np.float16))
    paths["gone"] = tmp_path / "embed" / "gone.npy"
    with pytest.raises(PlanktonlmInputError) as err:
        run_build(paths, tmp_path / "out")
    text = str(err.value)
    assert "4 problems" in text
    assert "row 8" in text and "1 read ids for 20 vectors" in text and "differ in dimension" in text
    assert "gone" in text
    assert not (tmp_path / "out").exists()


def test_profiles_config_from_section():
    config = build_config(ProfilesConfig, "profiles", {"n_otus": 32, "pool_reads_per_sample": 500, "max_iter": 50})
    assert (config.n_otus, config.pool_reads_per_sample, config.max_iter) == (32, 500, 50)
    assert build_config(ProfilesConfig, "profiles").kmer_k == 4  # the schema's default
    with pytest.raises(PlanktonlmInputError, match="n_otus"):
        build_config(ProfilesConfig, "profiles", n_otus=1)
