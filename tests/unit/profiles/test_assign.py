"""Tests for planktonlm.profiles.assign: per-sample assignment, and the collected tables equal a single pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.io import save_npy
from planktonlm.profiles.assign import assign_sample, collect_tables, load_codebook, nearest_otus
from planktonlm.profiles.codebook import EmbeddingCodebook
from planktonlm.profiles.tables import PROFILE_PREFIX, build_profile_table, read_profile, write_profile
from planktonlm.profiles.vectors import check_sources, iter_blocks, mean_table, sample_balanced_pool
from planktonlm.reads.kmers import tetranucleotide_frequencies

from .synthetic import PROFILES_SECTION, SEED, cluster_centres, run_profile, write_vectors


def single_pass_profiles(paths: dict, prefix: str, out: Path, n_otus: int, pool_reads_per_sample: int, seed: int,
                         n_init: int, max_iter: int) -> dict[str, Path]:
    """The one-job profile of before the per-sample split (planktonlm 0.1 ``build_profiles``), step by step:
    the reference that the per-sample jobs must reproduce byte for byte."""
    arrays, sums = check_sources(paths)
    pool = sample_balanced_pool(arrays, pool_reads_per_sample, seed)
    codebook = EmbeddingCodebook(n_otus=n_otus, n_init=n_init, max_iter=max_iter, seed=seed).fit(pool)
    labels = {}
    for sample, arr in arrays.items():
        parts = [codebook.predict(block) for _, block in iter_blocks(arr)]
        labels[sample] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    files = {name: out / name for name in ("counts.tsv", "counts.parquet", "codebook.npy", "mean_vector.tsv")}
    write_profile(build_profile_table(labels, n_otus, prefix), files["counts.tsv"], files["counts.parquet"])
    save_npy(files["codebook.npy"], codebook.cluster_centers_)
    write_profile(mean_table(arrays, sums), files["mean_vector.tsv"])
    return files


@pytest.mark.parametrize("profile", ["embedding", "kmer"])
def test_per_sample_jobs_write_the_single_pass_bytes(tmp_path: Path, profile: str) -> None:
    sizes = {"S3": 300, "S1": 150, "S2": 0, "S4": 220}  # sheet order, not sorted; one sample without fragments
    paths = write_vectors(tmp_path / "vectors", sizes, cluster_centres())
    files = run_profile(tmp_path / "run", paths, profile)
    reference = single_pass_profiles(paths, PROFILE_PREFIX[profile], tmp_path / "reference", seed=SEED, **PROFILES_SECTION)
    for name, path in reference.items():
        assert (tmp_path / "run" / name).read_bytes() == path.read_bytes(), name
    counts = read_profile(files["counts_tsv"])
    assert counts.index.tolist() == list(sizes) and counts.sum(axis=1).to_dict() == sizes
    assert counts.columns[0] == PROFILE_PREFIX[profile] + "0001"
    assert read_profile(files["mean"]).loc["S2"].isna().all()


def test_nearest_otus_is_the_codebooks_prediction_and_distance(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(500, 8)).astype(np.float32)
    vectors[3] = 0.0  # no direction: distance to a centre is the centre's length
    codebook = EmbeddingCodebook(n_otus=4, n_init=1, seed=2).fit(vectors)
    labels, distances = nearest_otus(vectors, codebook.cluster_centers_)
    assert np.array_equal(labels, codebook.predict(vectors))
    unit = vectors / np.maximum(np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True), 1e-300)
    unit[3] = 0.0
    direct = np.linalg.norm(unit - codebook.cluster_centers_[labels], axis=1)
    assert distances.dtype == np.float32 and distances.shape == (500,)
    np.testing.assert_allclose(distances, direct, rtol=1e-5, atol=1e-6)


def test_assign_sample_without_fragments_and_of_the_wrong_dimension(tmp_path: Path) -> None:
    centres = np.eye(3, 6)
    empty = assign_sample("S0", np.zeros((0, 6), dtype=np.float16), centres, "kotu_")
    assert empty.counts.to_numpy().tolist() == [[0, 0, 0]] and empty.distances.shape == (0,)
    assert empty.mean.isna().all(axis=None)
    with pytest.raises(PlanktonlmInputError, match="vectors of dimension 5.*dimension 6"):
        assign_sample("S1", np.ones((4, 5)), centres, "kotu_")


def test_kmer_vectors_are_assigned_like_embeddings(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = tetranucleotide_frequencies(["".join(rng.choice(list("ACGT"), size=60)) for _ in range(30)])
    codebook = EmbeddingCodebook(n_otus=3, n_init=1, seed=0).fit(vectors)
    result = assign_sample("a", vectors.astype(np.float32), codebook.cluster_centers_, PROFILE_PREFIX["kmer"])
    assert result.counts.columns[0] == "kotu_0001" and int(result.counts.sum(axis=1).iloc[0]) == 30
    assert result.mean.shape == (1, 136)


def test_load_codebook_refuses_what_is_not_one(tmp_path: Path) -> None:
    np.save(tmp_path / "flat.npy", np.zeros(4))
    with pytest.raises(PlanktonlmInputError, match="not a codebook"):
        load_codebook(tmp_path / "flat.npy")
    with pytest.raises(PlanktonlmInputError, match="cannot read"):
        load_codebook(tmp_path / "missing.npy")


def test_collect_tables_checks_each_row_belongs_to_its_sample(tmp_path: Path) -> None:
    paths = write_vectors(tmp_path / "vectors", {"A": 20, "B": 20}, cluster_centres())
    files = run_profile(tmp_path / "run", paths)
    rows = [str(tmp_path / "run" / "samples" / f"{s}.counts.tsv") for s in ("A", "B")]
    with pytest.raises(PlanktonlmInputError, match="row of the wrong sample"):
        collect_tables(["B", "A"], rows, "counts")
    with pytest.raises(PlanktonlmInputError, match="1 counts files for 2 samples"):
        collect_tables(["A", "B"], rows[:1], "counts")
    assert collect_tables(["A", "B"], rows, "counts").equals(read_profile(files["counts_tsv"]))
