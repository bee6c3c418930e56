"""Stages ``kmer_vectors``, ``fit_codebook``, ``assign_profile``, ``collect_profile``: from vectors to profiles.

Per-sample work is a job per sample, so a run that adds a cruise (to an atlas) runs only the new
samples' jobs and the collection. Rule contracts (``profile``: "embedding" or "kmer"):

* kmer_vectors: input r1, r2 (only paired), ids (the embedding stage's read ids); output vectors;
  params k, sample.
* fit_codebook: input vectors (list, order = params samples); output codebook; params profiles
  (section), seed, samples, profile.
* assign_profile: input vectors (one sample's), codebook (this run's or an atlas's); output
  counts, distances, mean (formats: ``planktonlm.profiles.assign``); params sample, profile.
* collect_profile: input counts, distances, means (lists, order = params samples), optional
  reference (an atlas's distances.tsv); output counts_tsv, counts_parquet, mean, novelty,
  distances (formats: ``planktonlm.profiles.novelty``); params samples, profile.
"""

from __future__ import annotations

import logging

from planktonlm.config import build_config
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import save_npy, setup_logging
from planktonlm.reads.kmers import kmer_vectors_for_sample
from planktonlm.stages import Job

logger = logging.getLogger(__name__)

# The profile stages import planktonlm.profiles inside the functions, not at the top: scikit-learn
# and pyarrow would add over a second to the start-up of every per-sample kmer_vectors job.


def kmer_vectors(job: Job) -> None:
    """k-mer frequency vectors of exactly the fragments the encoder embedded (``job.output["vectors"]``)."""
    setup_logging(job.log)
    n = kmer_vectors_for_sample(job.input["r1"], job.input.get("r2"), ids_file=job.input["ids"],
                                out_npy=job.output["vectors"], k=job.params["k"])
    logger.info("sample %s: %d k-mer vectors", job.params["sample"], n)


def _profile_prefix(profile: str) -> str:
    from planktonlm.profiles.tables import PROFILE_PREFIX

    if profile not in PROFILE_PREFIX:
        raise ValueError(f"unknown read profile {profile!r}; known: {', '.join(PROFILE_PREFIX)}")
    return PROFILE_PREFIX[profile]


def _per_sample(job: Job, name: str, samples: list[str]) -> list[str]:
    """Input list ``name``, checked to hold one file per sample."""
    files = list(job.input[name])
    if len(files) != len(samples):
        raise PlanktonlmInputError(InputProblem(
            file=f"{name} inputs", value=len(files), message=f"{len(files)} {name} files for {len(samples)} samples",
            expected=f"one {name} file per sample, in the order of params samples"))
    return files


def fit_codebook(job: Job) -> None:
    """The codebook of profile ``job.params["profile"]`` on a seeded, sample-balanced pool (``job.output["codebook"]``)."""
    setup_logging(job.log)
    from planktonlm.profiles.build import ProfilesConfig, fit_profile_codebook

    job.require_outputs(["codebook"], "fit_codebook")
    profile, samples = job.params["profile"], list(job.params["samples"])
    _profile_prefix(profile)
    vectors = _per_sample(job, "vectors", samples)
    cfg = build_config(ProfilesConfig, "profiles", job.params["profiles"])
    logger.info("%s codebook: %d OTUs from %d samples", profile, cfg.n_otus, len(samples))
    codebook = fit_profile_codebook(dict(zip(samples, vectors)), n_otus=cfg.n_otus, seed=job.params["seed"],
                                    pool_reads_per_sample=cfg.pool_reads_per_sample, n_init=cfg.n_init, max_iter=cfg.max_iter)
    save_npy(job.output["codebook"], codebook.cluster_centers_)


def assign_profile(job: Job) -> None:
    """One sample's fragments against a codebook: counts row, per-fragment distances, mean vector."""
    setup_logging(job.log)
    from planktonlm.profiles.assign import assign_sample, load_codebook
    from planktonlm.profiles.tables import write_profile

    job.require_outputs(["counts", "distances", "mean"], "assign_profile")
    sample, profile = str(job.params["sample"]), job.params["profile"]
    centres = load_codebook(job.input["codebook"])
    result = assign_sample(sample, job.input["vectors"], centres, _profile_prefix(profile))
    write_profile(result.counts, job.output["counts"])
    save_npy(job.output["distances"], result.distances)
    write_profile(result.mean, job.output["mean"])
    mean_distance = float(result.distances.astype("float64").mean()) if result.distances.size else float("nan")
    logger.info("%s profile of sample %s: %d fragments on %d OTUs, mean distance to the centre %.4g",
                profile, sample, result.labels.size, centres.shape[0], mean_distance)


def collect_profile(job: Job) -> None:
    """The run's tables of one profile from its per-sample rows: counts, mean vectors, distance quantiles, novelty."""
    setup_logging(job.log)
    from planktonlm.profiles.assign import collect_tables, load_distances
    from planktonlm.profiles.novelty import (
        distance_quantiles,
        novelty_table,
        novelty_threshold,
        read_distance_quantiles,
        write_distance_quantiles,
        write_novelty,
    )
    from planktonlm.profiles.tables import write_profile

    job.require_outputs(["counts_tsv", "counts_parquet", "mean", "novelty", "distances"], "collect_profile")
    samples, profile = [str(s) for s in job.params["samples"]], job.params["profile"]
    _profile_prefix(profile)
    counts = collect_tables(samples, _per_sample(job, "counts", samples), "counts")
    means = collect_tables(samples, _per_sample(job, "means", samples), "mean")
    distance_files = _per_sample(job, "distances", samples)
    distances = load_distances(distance_files)
    # Counts and distances come from the same job: a mismatch means files of two different runs.
    mismatched = [InputProblem(file=path, value=d.size, message=f"{d.size} distances for {n} counted fragments of sample {s}",
                               expected="the counts and distances of one assign_profile job")
                  for s, path, d, n in zip(samples, distance_files, distances, counts.sum(axis=1)) if d.size != n]
    if mismatched:
        raise PlanktonlmInputError(mismatched)

    own = distance_quantiles(distances)
    reference = job.input.get("reference")
    threshold = novelty_threshold(own, read_distance_quantiles(reference) if reference else None, reference_file=reference or "")
    novelty = novelty_table(dict(zip(samples, distances)), threshold)
    write_profile(counts, job.output["counts_tsv"], job.output["counts_parquet"])
    write_profile(means, job.output["mean"])
    write_distance_quantiles(own, job.output["distances"])
    write_novelty(novelty, job.output["novelty"])
    n_total, n_novel = int(novelty["n_fragments"].sum()), int(novelty["n_novel"].sum())
    logger.info("%s profile: %d samples, %d fragments; novelty threshold %.4g (%s): %d fragments beyond it (%.2f%%)",
                profile, len(samples), n_total, threshold, "atlas" if reference else "this run", n_novel,
                100.0 * n_novel / n_total if n_total else float("nan"))
