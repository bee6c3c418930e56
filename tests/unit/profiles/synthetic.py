"""Tiny synthetic profile runs for the profile tests: clustered vectors, and the profile stages run on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from planktonlm.stages import Job
from planktonlm.stages.profiles import assign_profile, collect_profile, fit_codebook

PROFILES_SECTION = {"n_otus": 4, "pool_reads_per_sample": 60, "n_init": 2, "max_iter": 50}
SEED = 3


def cluster_centres(dim: int = 8, n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim))


def write_vectors(folder: Path, sizes: dict[str, int], centres: np.ndarray, *, seed: int = 1, scale: float = 0.3,
                  dtype=np.float16) -> dict[str, Path]:
    """One ``.npy`` (fragments x dim) per sample, fragments drawn around ``centres``, with read ids beside it."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for sample, n in sizes.items():
        vectors = centres[rng.integers(0, len(centres), size=n)] + rng.normal(scale=scale, size=(n, centres.shape[1]))
        paths[sample] = folder / f"{sample}.npy"
        np.save(paths[sample], vectors.astype(dtype))
        paths[sample].with_suffix(".txt").write_text("".join(f"{sample}_r{i}\n" for i in range(n)))
    return paths


def sample_outputs(profile_dir: Path, sample: str) -> dict[str, str]:
    return {"counts": str(profile_dir / "samples" / f"{sample}.counts.tsv"),
            "distances": str(profile_dir / "samples" / f"{sample}.distances.npy"),
            "mean": str(profile_dir / "samples" / f"{sample}.mean.tsv")}


def collected_outputs(profile_dir: Path) -> dict[str, str]:
    names = {"counts_tsv": "counts.tsv", "counts_parquet": "counts.parquet", "mean": "mean_vector.tsv",
             "novelty": "novelty.tsv", "distances": "distances.tsv"}
    return {key: str(profile_dir / name) for key, name in names.items()}


def run_profile(profile_dir: Path, paths: dict[str, Path], profile: str = "embedding", *, codebook: str | None = None,
                reference: str | None = None, section: dict | None = None) -> dict[str, str]:
    """fit_codebook (unless ``codebook`` is given), assign_profile per sample, collect_profile: the run's files."""
    samples = list(paths)
    if codebook is None:
        codebook = str(profile_dir / "codebook.npy")
        fit_codebook(Job(input={"vectors": [str(paths[s]) for s in samples]}, output={"codebook": codebook},
                         params={"profiles": section or PROFILES_SECTION, "seed": SEED, "samples": samples,
                                 "profile": profile}))
    for sample in samples:
        assign_profile(Job(input={"vectors": str(paths[sample]), "codebook": codebook},
                           output=sample_outputs(profile_dir, sample), params={"sample": sample, "profile": profile}))
    per_sample = [sample_outputs(profile_dir, s) for s in samples]
    inputs = {"counts": [o["counts"] for o in per_sample], "distances": [o["distances"] for o in per_sample],
              "means": [o["mean"] for o in per_sample]}
    if reference is not None:
        inputs["reference"] = reference
    outputs = collected_outputs(profile_dir)
    collect_profile(Job(input=inputs, output=outputs, params={"samples": samples, "profile": profile}))
    return {"codebook": codebook, **outputs}
