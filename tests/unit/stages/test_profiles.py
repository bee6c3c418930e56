"""Tests for planktonlm.stages.profiles: k-mer vectors of the embedded reads, codebook, per-sample assignment, collection."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.profiles.tables import read_profile
from planktonlm.stages import Job
from planktonlm.stages.profiles import assign_profile, collect_profile, fit_codebook, kmer_vectors


def write_fastq(path: Path, reads: list[tuple[str, str]]) -> None:
    text = "".join(f"@{rid}\n{seq}\n+\n{'I' * len(seq)}\n" for rid, seq in reads)
    path.write_bytes(gzip.compress(text.encode(), mtime=0))


def test_kmer_vectors_follow_the_embedded_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reads = [(f"r{i}", "".join(rng.choice(list("ACGT"), size=40))) for i in range(5)]
    write_fastq(tmp_path / "R1.fastq.gz", reads)
    (tmp_path / "ids.txt").write_text("r3\nr0\n")
    job = Job(input={"r1": str(tmp_path / "R1.fastq.gz"), "ids": str(tmp_path / "ids.txt")},
              output={"vectors": str(tmp_path / "S1.npy")}, params={"k": 2, "sample": "S1"}, log=str(tmp_path / "log"))
    kmer_vectors(job)
    vectors = np.load(tmp_path / "S1.npy")
    assert vectors.shape == (2, 10)  # canonical 2-mers
    np.testing.assert_allclose(vectors.sum(axis=1), 1.0)
    assert "sample S1: 2 k-mer vectors" in (tmp_path / "log").read_text()


def fit_job(tmp_path: Path, samples: list[str], n_vectors: int | None = None, **section) -> Job:
    rng = np.random.default_rng(1)
    vectors = []
    for sample in samples[:n_vectors]:
        path = tmp_path / "embed" / f"{sample}.npy"
        path.parent.mkdir(exist_ok=True)
        np.save(path, rng.normal(size=(30, 6)).astype(np.float16))
        vectors.append(str(path))
    return Job(input={"vectors": vectors}, output={"codebook": str(tmp_path / "out" / "codebook.npy")},
               params={"profiles": {"n_otus": 4, "pool_reads_per_sample": 20, **section}, "seed": 2, "samples": samples,
                       "profile": "embedding"})


def test_fit_codebook_writes_only_the_codebook(tmp_path: Path) -> None:
    fit_codebook(fit_job(tmp_path, ["S2", "S1"]))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["codebook.npy"]
    centres = np.load(tmp_path / "out" / "codebook.npy")
    assert centres.shape == (4, 6) and centres.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, atol=0.5)  # means of unit vectors


def test_fit_codebook_refuses_mismatched_inputs(tmp_path: Path) -> None:
    with pytest.raises(PlanktonlmInputError, match="2 vectors files for 3 samples"):
        fit_codebook(fit_job(tmp_path, ["S1", "S2", "S3"], n_vectors=2))
    with pytest.raises(PlanktonlmInputError, match="n_otus"):
        fit_codebook(fit_job(tmp_path, ["S1"], n_otus=1))
    job = fit_job(tmp_path, ["S1"])
    with pytest.raises(ValueError, match="unknown read profile 'genus'"):
        fit_codebook(Job(input=job.input, output=job.output, params={**job.params, "profile": "genus"}))
    assert not (tmp_path / "out").exists()


def test_assign_and_collect_write_every_declared_output(tmp_path: Path) -> None:
    fit_codebook(fit_job(tmp_path, ["S2", "S1"]))
    codebook = str(tmp_path / "out" / "codebook.npy")
    per_sample = {}
    for sample in ("S2", "S1"):
        per_sample[sample] = {k: str(tmp_path / "samples" / f"{sample}.{k}.{ext}")
                              for k, ext in (("counts", "tsv"), ("distances", "npy"), ("mean", "tsv"))}
        assign_profile(Job(input={"vectors": str(tmp_path / "embed" / f"{sample}.npy"), "codebook": codebook},
                           output=per_sample[sample], params={"sample": sample, "profile": "embedding"}))
    assert len(list((tmp_path / "samples").iterdir())) == 6
    assert np.load(per_sample["S1"]["distances"]).shape == (30,)
    outputs = {k: str(tmp_path / "run" / k) for k in ("counts_tsv", "counts_parquet", "mean", "novelty", "distances")}
    inputs = {"counts": [per_sample[s]["counts"] for s in ("S2", "S1")],
              "distances": [per_sample[s]["distances"] for s in ("S2", "S1")],
              "means": [per_sample[s]["mean"] for s in ("S2", "S1")]}
    collect_profile(Job(input=inputs, output=outputs, params={"samples": ["S2", "S1"], "profile": "embedding"}))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(outputs)
    counts = read_profile(outputs["counts_tsv"])
    assert counts.index.tolist() == ["S2", "S1"] and counts.columns[0] == "eotu_0001"  # ids from params
    assert counts.sum(axis=1).tolist() == [30, 30]

    # distances that are not those of the counted fragments (files of two runs) are caught
    np.save(per_sample["S1"]["distances"], np.zeros(29, dtype=np.float32))
    with pytest.raises(PlanktonlmInputError, match="29 distances for 30 counted fragments of sample S1"):
        collect_profile(Job(input=inputs, output=outputs, params={"samples": ["S2", "S1"], "profile": "embedding"}))
    with pytest.raises(PlanktonlmInputError, match="1 means files for 2 samples"):
        collect_profile(Job(input={**inputs, "means": inputs["means"][:1]}, output=outputs,
                            params={"samples": ["S2", "S1"], "profile": "embedding"}))
