"""One profile from per-sample vectors: codebook on a balanced pool, every fragment assigned, counts written.

The unit of counting is a fragment (a read pair, or a single read). The embedding profile and the
k-mer baseline go through the same code (``build_profiles``):

1. a seeded, sample-balanced pool of fragments is drawn (every sample weighs the same);
2. a k-means codebook of K "OTUs" is fitted on the L2-normalised pool;
3. every fragment of every sample is assigned to its nearest OTU and counted.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import save_npy
from planktonlm.profiles.codebook import EmbeddingCodebook
from planktonlm.profiles.tables import build_profile_table, write_profile
from planktonlm.profiles.vectors import check_sources, iter_blocks, mean_table, sample_balanced_pool

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


@dataclass(frozen=True)
class BuiltProfiles:
    """What ``build_profiles`` wrote, in memory."""

    counts: pd.DataFrame
    codebook: EmbeddingCodebook
    mean: pd.DataFrame


def build_profiles(
    vectors: Mapping[str, object],
    *,
    prefix: str,
    out_counts_tsv: str | os.PathLike[str],
    out_counts_parquet: str | os.PathLike[str],
    out_codebook_npy: str | os.PathLike[str],
    out_mean_tsv: str | os.PathLike[str],
    n_otus: int,
    pool_reads_per_sample: int,
    seed: int,
    n_init: int = 3,
    max_iter: int = 100,
) -> BuiltProfiles:
    """Codebook on a balanced pool, every fragment assigned, counts per sample written.

    ``vectors``: sample id -> ``.npy`` path (or array) of fragments x dim. Writes the counts
    table (TSV + Parquet, columns ``prefix``0001 ...), the codebook centres ((K, dim) float64
    ``.npy``, in L2-normalised space) and the per-sample mean vector (TSV).
    """
    if not vectors:
        raise PlanktonlmInputError(InputProblem(file="profile inputs", message="no samples given"))
    arrays, sums = check_sources(vectors)
    total_fragments = sum(a.shape[0] for a in arrays.values())
    logger.info("%s profiles: %d samples, %d fragments", prefix, len(arrays), total_fragments)
    for sample, arr in arrays.items():
        if arr.shape[0] == 0:
            logger.warning("sample %s has no fragment: its profile is all zeros", sample)

    pool = sample_balanced_pool(arrays, pool_reads_per_sample, seed)
    logger.info("pooled %d fragments (up to %d per sample) for the codebook", pool.shape[0], pool_reads_per_sample)
    codebook = EmbeddingCodebook(n_otus=n_otus, n_init=n_init, max_iter=max_iter, seed=seed).fit(pool)
    del pool
    logger.info("codebook: %d OTUs, inertia %.6g, %d iterations", n_otus, codebook.inertia_, codebook.n_iter_)

    labels: dict[str, np.ndarray] = {}
    start = time.perf_counter()
    done = 0
    for i, (sample, arr) in enumerate(arrays.items(), start=1):
        parts = [codebook.predict(block) for _, block in iter_blocks(arr)]
        labels[sample] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        done += arr.shape[0]
        rate = done / max(time.perf_counter() - start, 1e-9)
        logger.info(
            "assigned sample %d/%d (%s): %d fragments, %.0f fragments/s", i, len(arrays), sample, arr.shape[0], rate
        )

    counts = build_profile_table(labels, n_otus, prefix)
    mean = mean_table(arrays, sums)
    write_profile(counts, out_counts_tsv, out_counts_parquet)
    save_npy(out_codebook_npy, codebook.cluster_centers_)
    write_profile(mean, out_mean_tsv, None)
    return BuiltProfiles(counts=counts, codebook=codebook, mean=mean)
