"""The codebook of one profile: a seeded, sample-balanced pool of fragments, k-means on it.

The unit of counting is a fragment (a read pair, or a single read). The embedding profile and the
k-mer baseline go through the same code:

1. ``fit_profile_codebook`` (once per run, across samples): a seeded, sample-balanced pool of
   fragments is drawn (every sample weighs the same) and a k-means codebook of K "OTUs" is fitted
   on the L2-normalised pool;
2. ``planktonlm.profiles.assign`` (once per sample): every fragment of the sample is assigned to
   its nearest OTU and counted;
3. ``planktonlm.profiles.assign.collect_tables`` (once per run): the per-sample rows become the
   counts and mean-vector tables.

A run that lands in an atlas skips step 1: the atlas's codebook is used as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.profiles.codebook import EmbeddingCodebook
from planktonlm.profiles.vectors import check_sources, sample_balanced_pool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfilesConfig:
    """The ``profiles`` config section (defaults and bounds: the config schema;
    build with ``planktonlm.config.build_config(ProfilesConfig, "profiles", values)``)."""

    n_otus: int
    pool_reads_per_sample: int
    kmer_k: int
    max_iter: int
    n_init: int


def fit_profile_codebook(
    vectors: Mapping[str, object],
    *,
    n_otus: int,
    pool_reads_per_sample: int,
    seed: int,
    n_init: int = 3,
    max_iter: int = 100,
) -> EmbeddingCodebook:
    """K-means codebook of K OTUs on a seeded pool of up to ``pool_reads_per_sample`` fragments per sample.

    ``vectors``: sample id -> ``.npy`` path (or array) of fragments x dim, in the run's sample
    order (the pool is keyed by sample id and stacked in that order). Every sample is checked
    first (finite values, one dimension, read ids beside the file) and every problem raised at once.
    The centres (``cluster_centers_``, (K, dim) float64) live in the L2-normalised space.
    """
    if not vectors:
        raise PlanktonlmInputError(InputProblem(file="profile inputs", message="no samples given"))
    arrays, _ = check_sources(vectors)
    logger.info("codebook inputs: %d samples, %d fragments", len(arrays), sum(a.shape[0] for a in arrays.values()))
    for sample, arr in arrays.items():
        if arr.shape[0] == 0:
            logger.warning("sample %s has no fragment: it adds nothing to the codebook pool", sample)
    pool = sample_balanced_pool(arrays, pool_reads_per_sample, seed)
    logger.info("pooled %d fragments (up to %d per sample) for the codebook", pool.shape[0], pool_reads_per_sample)
    codebook = EmbeddingCodebook(n_otus=n_otus, n_init=n_init, max_iter=max_iter, seed=seed).fit(pool)
    logger.info("codebook: %d OTUs, inertia %.6g, %d iterations", n_otus, codebook.inertia_, codebook.n_iter_)
    return codebook
