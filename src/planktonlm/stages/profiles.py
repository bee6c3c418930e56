"""Stages ``kmer_vectors`` and ``build_profile``: per-sample k-mer vectors, then one profile's codebook and counts.

Rule contracts:

* kmer_vectors: input r1, r2 (only paired), ids (the embedding stage's read ids); output vectors;
  params k, sample.
* build_profile: input vectors (list, order = params samples); output counts_tsv, counts_parquet,
  codebook, mean; params profiles (section), seed, samples, profile ("embedding" or "kmer").
"""

from __future__ import annotations

import logging

from planktonlm.config import build_config
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import setup_logging
from planktonlm.reads.kmers import kmer_vectors_for_sample
from planktonlm.stages import Job

logger = logging.getLogger(__name__)


def kmer_vectors(job: Job) -> None:
    """k-mer frequency vectors of exactly the fragments the encoder embedded (``job.output["vectors"]``)."""
    setup_logging(job.log)
    n = kmer_vectors_for_sample(job.input["r1"], job.input.get("r2"), ids_file=job.input["ids"],
                                out_npy=job.output["vectors"], k=job.params["k"])
    logger.info("sample %s: %d k-mer vectors", job.params["sample"], n)


def build_profile(job: Job) -> None:
    """Codebook, counts (TSV + Parquet) and mean vectors of profile ``job.params["profile"]``."""
    setup_logging(job.log)
    # Imported here, not at the top: scikit-learn and pyarrow would add over a second to the
    # start-up of every per-sample kmer_vectors job, which needs neither.
    from planktonlm.profiles.build import ProfilesConfig, build_profiles
    from planktonlm.profiles.tables import PROFILE_PREFIX

    profile, samples, vectors = job.params["profile"], list(job.params["samples"]), list(job.input["vectors"])
    if profile not in PROFILE_PREFIX:
        raise ValueError(f"unknown read profile {profile!r}; known: {', '.join(PROFILE_PREFIX)}")
    if len(samples) != len(vectors):
        raise PlanktonlmInputError(InputProblem(
            file="build_profile inputs", value=len(vectors),
            message=f"{len(vectors)} vector files for {len(samples)} samples",
            expected="one vector file per sample, in the order of params samples"))
    cfg = build_config(ProfilesConfig, "profiles", job.params["profiles"])
    build_profiles(
        dict(zip(samples, vectors)), prefix=PROFILE_PREFIX[profile],
        out_counts_tsv=job.output["counts_tsv"], out_counts_parquet=job.output["counts_parquet"],
        out_codebook_npy=job.output["codebook"], out_mean_tsv=job.output["mean"],
        n_otus=cfg.n_otus, pool_reads_per_sample=cfg.pool_reads_per_sample, seed=job.params["seed"],
        n_init=cfg.n_init, max_iter=cfg.max_iter,
    )
