"""Tests for planktonlm.profiles: codebook, balanced pool, tables, stage entry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from planktonlm.errors import PlanktonlmInputError
from planktonlm.kmers import tetranucleotide_frequencies
from planktonlm.profiles import (
    EmbeddingCodebook,
    ProfilesConfig,
    _lloyd,
    _row_sq_norms,
    _sq_distances,
    build_profile_table,
    count_profile,
    mean_embedding_table,
    otu_column_names,
    profile_stage,
    read_profile,
    sample_balanced_pool,
    write_profile,
)

def random_dna(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=n))


def direction_blobs(n_per: int = 60, n_centres: int = 5, dim: int = 16, seed: int = 0):
    """Blobs around far-apart directions (clustering is on L2-normalised vectors), unequal sizes."""
    sizes = [n_per + 10 * i for i in range(n_centres)]
    X, y = make_blobs(n_samples=sizes, n_features=dim, cluster_std=0.2, center_box=(-10, 10), random_state=seed)
    return X, y


# --------------------------------------------------------------------------------------------
# codebook


def test_codebook_recovers_planted_clusters():
    X, y = direction_blobs()
    codebook = EmbeddingCodebook(n_otus=5, n_init=2, seed=3).fit(X)
    assert adjusted_rand_score(y, codebook.labels_) == 1.0
    assert codebook.cluster_centers_.shape == (5, 16)
    assert codebook.n_iter_ >= 1
    # inertia_ is the sum of squared distances of normalised points to their centre
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    expected = ((Xn - codebook.cluster_centers_[codebook.labels_]) ** 2).sum()
    assert codebook.inertia_ == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_codebook_fits_are_bitwise_equal_and_thread_independent():
    X, _ = direction_blobs(n_per=300, dim=64, seed=1)
    X = X + np.random.default_rng(0).normal(scale=2.0, size=X.shape)  # overlapping: many iterations
    params = dict(n_otus=7, n_init=2, max_iter=50, seed=11)
    with threadpool_limits(limits=1):
        first = EmbeddingCodebook(**params).fit(X)
    with threadpool_limits(limits=2):
        second = EmbeddingCodebook(**params).fit(X)
    third = EmbeddingCodebook(**params).fit(X)
    for other in (second, third):
        assert first.cluster_centers_.tobytes() == other.cluster_centers_.tobytes()
        assert np.array_equal(first.labels_, other.labels_)
        assert first.inertia_ == other.inertia_
        assert first.n_iter_ == other.n_iter_


def test_other_seed_gives_other_start():
    X, _ = direction_blobs(n_per=100, dim=8)
    X = X + np.random.default_rng(1).normal(scale=3.0, size=X.shape)
    a = EmbeddingCodebook(n_otus=12, n_init=1, seed=0).fit(X)
    b = EmbeddingCodebook(n_otus=12, n_init=1, seed=1).fit(X)
    assert a.cluster_centers_.tobytes() != b.cluster_centers_.tobytes()


def test_predict_on_training_points_matches_labels():
    X, _ = direction_blobs(n_per=200, dim=32, seed=2)
    X = X + np.random.default_rng(2).normal(scale=3.0, size=X.shape)
    codebook = EmbeddingCodebook(n_otus=9, n_init=1, seed=0).fit(X)
    assert np.array_equal(codebook.predict(X), codebook.labels_)
    # float16 input (as embeddings are stored) is accepted and converted
    assert codebook.predict(X.astype(np.float16)).shape == (len(X),)


def test_distances_of_a_row_do_not_depend_on_the_other_rows():
    # Unpadded BLAS blocks change the last bits when rows shift within a block; the fixed
    # padded blocks must make a row's distances independent of its neighbours.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 257))
    C = rng.normal(size=(64, 257))
    full = _sq_distances(X, _row_sq_norms(X), C)
    for offset in (1, 37, 4095):
        part = X[offset:]
        assert _sq_distances(part, _row_sq_norms(part), C).tobytes() == full[offset:].tobytes()


def test_codebook_follows_estimator_contract():
    codebook = EmbeddingCodebook(n_otus=3, n_init=1, max_iter=7, seed=5, normalize=False)
    assert codebook.get_params() == dict(n_otus=3, n_init=1, max_iter=7, seed=5, normalize=False)
    assert not hasattr(codebook, "cluster_centers_")
    X, _ = direction_blobs(n_centres=3)
    fitted = codebook.fit(X)
    assert fitted is codebook
    copy = clone(codebook)
    assert copy.get_params() == codebook.get_params() and not hasattr(copy, "labels_")
    labels = EmbeddingCodebook(n_otus=3, seed=5).fit_predict(X)
    assert np.array_equal(labels, EmbeddingCodebook(n_otus=3, seed=5).fit(X).labels_)


def test_codebook_refuses_fewer_points_than_otus():
    with pytest.raises(PlanktonlmInputError, match="3 fragments to fit 4 OTUs"):
        EmbeddingCodebook(n_otus=4).fit(np.eye(3))


def test_codebook_refuses_fewer_distinct_points_than_otus():
    X = np.repeat(np.eye(3), 10, axis=0)  # 30 points, 3 distinct directions
    with pytest.raises(PlanktonlmInputError, match="only 3 distinct vectors"):
        EmbeddingCodebook(n_otus=4).fit(X)


def test_codebook_with_duplicates_puts_copies_together():
    X = np.repeat(np.eye(4) * 2.0, [5, 1, 7, 3], axis=0)
    codebook = EmbeddingCodebook(n_otus=4, n_init=1, seed=0).fit(X)
    truth = np.repeat(np.arange(4), [5, 1, 7, 3])
    assert adjusted_rand_score(truth, codebook.labels_) == 1.0
    assert codebook.inertia_ == 0.0


def test_codebook_refuses_non_finite_vectors():
    X = np.ones((10, 3))
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="vector 4"):
        EmbeddingCodebook(n_otus=2).fit(X)


def test_empty_cluster_is_refilled_deterministically():
    X, y = direction_blobs(n_centres=3, dim=8)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    # a start with two identical centres: the second gets no point in the first assignment
    start = Xn[[0, 0, np.flatnonzero(y != y[0])[0]]]
    results = [_lloyd(Xn, _row_sq_norms(Xn), start.copy(), max_iter=100) for _ in range(2)]
    centres, labels, _, _, converged = results[0]
    assert converged
    assert np.bincount(labels, minlength=3).min() > 0
    assert adjusted_rand_score(y, labels) == 1.0
    assert centres.tobytes() == results[1][0].tobytes()


# --------------------------------------------------------------------------------------------
# balanced pool


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


# --------------------------------------------------------------------------------------------
# tables and writers


def test_otu_names_and_counts():
    assert otu_column_names(3, "eotu_") == ["eotu_0001", "eotu_0002", "eotu_0003"]
    assert otu_column_names(12000, "kotu_")[-1] == "kotu_12000"
    assert count_profile([0, 2, 2, 2], 4).tolist() == [1, 0, 3, 0]
    with pytest.raises(ValueError):
        count_profile([0, 4], 4)
    table = build_profile_table({"s2": np.array([1, 1]), "s1": np.array([0])}, 2, "eotu_")
    assert table.index.tolist() == ["s2", "s1"] and table.index.name == "sample"
    assert table.to_numpy().tolist() == [[0, 2], [1, 0]] and (table.dtypes == np.int64).all()


def test_write_profile_round_trip_and_stable_bytes(tmp_path):
    df = pd.DataFrame(
        {"eotu_0001": [1, 0], "eotu_0002": [5, 7]}, index=pd.Index(["007", "s-2"], name="sample")
    ).astype(np.int64)
    write_profile(df, tmp_path / "a.tsv", tmp_path / "a.parquet")
    write_profile(df, tmp_path / "b.tsv", tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert (tmp_path / "a.tsv").read_text().splitlines()[0] == "sample\teotu_0001\teotu_0002"
    assert pq.read_table(tmp_path / "a.parquet").column_names[0] == "sample"
    for name in ("a.tsv", "a.parquet"):
        back = read_profile(tmp_path / name)
        pd.testing.assert_frame_equal(back, df, check_index_type=False, check_column_type=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "a.tsv", "b.parquet", "b.tsv"]


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
    return profile_stage(profile, paths, outputs, ProfilesConfig(**params), seed=3), outputs


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


def test_mean_embedding_table_of_empty_sample_is_nan():
    table = mean_embedding_table({"x": np.ones((3, 2), dtype=np.float16), "empty": np.zeros((0, 2))})
    assert table.columns.tolist() == ["dim_0000", "dim_0001"]
    assert table.loc["x"].tolist() == [1.0, 1.0] and table.loc["empty"].isna().all()


def test_profiles_config_from_section():
    config = ProfilesConfig(**{"n_otus": 32, "pool_reads_per_sample": 500, "kmer_k": 4, "max_iter": 50, "n_init": 2})
    assert config.n_otus == 32 and ProfilesConfig().kmer_k == 4
