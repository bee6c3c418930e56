"""Tests for planktonlm.stages.profiles: k-mer vectors of the embedded reads, and one profile from params."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.profiles.tables import read_profile
from planktonlm.stages import Job
from planktonlm.stages.profiles import build_profile, kmer_vectors

OUTPUTS = ("counts_tsv", "counts_parquet", "codebook", "mean")


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


def profile_job(tmp_path: Path, samples: list[str], n_vectors: int | None = None) -> Job:
    rng = np.random.default_rng(1)
    vectors = []
    for sample in samples[:n_vectors]:
        path = tmp_path / "embed" / f"{sample}.npy"
        path.parent.mkdir(exist_ok=True)
        np.save(path, rng.normal(size=(30, 6)).astype(np.float16))
        vectors.append(str(path))
    return Job(input={"vectors": vectors}, output={k: str(tmp_path / "out" / k) for k in OUTPUTS},
               params={"profiles": {"n_otus": 4, "pool_reads_per_sample": 20}, "seed": 2, "samples": samples,
                       "profile": "embedding"})


def test_build_profile_writes_every_declared_output(tmp_path: Path) -> None:
    job = profile_job(tmp_path, ["S2", "S1"])
    build_profile(job)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUTS)
    counts = read_profile(job.output["counts_tsv"])
    assert counts.index.tolist() == ["S2", "S1"] and counts.columns[0] == "eotu_0001"  # ids from params
    assert counts.sum(axis=1).tolist() == [30, 30]


def test_build_profile_refuses_mismatched_inputs(tmp_path: Path) -> None:
    with pytest.raises(PlanktonlmInputError, match="2 vector files for 3 samples"):
        build_profile(profile_job(tmp_path, ["S1", "S2", "S3"], n_vectors=2))
    with pytest.raises(PlanktonlmInputError, match="n_otus"):
        job = profile_job(tmp_path, ["S1"])
        build_profile(Job(input=job.input, output=job.output, params={**job.params, "profiles": {"n_otus": 1}}))
    assert not (tmp_path / "out").exists()
