"""What the reference genomes say about every k-mer, as the starting point of the k-mer token embeddings.

A base model is pretrained on known genomes. Before any gradient step, each k-mer token's
embedding is set from two closed-form views of the genomes:

- genome usage: the k-mer's log-probability in every pretraining genome (both strands, additive
  pseudocount), centred over genomes and reduced to its principal components. The mean of these
  rows over a read is a linear map of the read's naive-Bayes scores against the genomes, so a
  read of a known genome starts out near the reads of that genome.
- composition: the canonical tetranucleotides inside the k-mer, reduced to principal components.
  Its mean over a read is a map of the read's tetranucleotide frequencies, which is what
  separates genomes that pretraining never saw.

Each column is scaled by its spread over reads drawn from the genomes, so that neither view
dominates the cosine geometry. Pure numpy; the result is a (4**k, d) float32 matrix in the
tokenizer's k-mer order (lexicographic ACGT = base-4 value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from planktonlm.evaluation.baselines import genome_kmer_counts, kmer_codes, kmer_log_probabilities
from planktonlm.reads.kmers import canonical_kmer_index


@dataclass(frozen=True)
class KmerPriorSpec:
    """Shape of the k-mer prior: k-mer length, columns per view, the composition's k-mer length."""

    k: int
    usage_dims: int
    composition_dims: int
    composition_k: int = 4
    pseudocount: float = 0.5


def usage_matrix(genome_codes: Sequence[np.ndarray], k: int, pseudocount: float) -> np.ndarray:
    """log P(k-mer | genome) centred over genomes: (4**k, n_genomes) float64."""
    return _centred_usage([genome_kmer_counts(codes, k) for codes in genome_codes], pseudocount)


def _centred_usage(genome_counts: Sequence[np.ndarray], pseudocount: float) -> np.ndarray:
    usage = np.stack([kmer_log_probabilities(counts, pseudocount) for counts in genome_counts], axis=1)  # (4**k, G)
    return usage - usage.mean(axis=1, keepdims=True)


def composition_matrix(k: int, composition_k: int) -> np.ndarray:
    """Canonical ``composition_k``-mer counts inside every k-mer: (4**k, n_canonical) float64."""
    index, names = canonical_kmer_index(composition_k)
    values = np.arange(4**k, dtype=np.int64)
    digits = (values[:, None] // 4 ** np.arange(k - 1, -1, -1)[None, :]) % 4  # (4**k, k) bases
    out = np.zeros((4**k, len(names)))
    rows = np.arange(4**k)
    for start in range(k - composition_k + 1):
        sub = np.zeros(4**k, dtype=np.int64)
        for j in range(composition_k):
            sub = sub * 4 + digits[:, start + j]
        np.add.at(out, (rows, index[sub]), 1.0)
    return out


def principal_rows(matrix: np.ndarray, dims: int, weights: np.ndarray) -> np.ndarray:
    """Rows of ``matrix`` projected on its first ``dims`` principal axes (rows weighted by ``weights``)."""
    w = weights / weights.sum()
    centred = matrix - (w[:, None] * matrix).sum(axis=0, keepdims=True)
    with threadpool_limits(1, user_api="blas"):  # a thin SVD: BLAS threads only add contention
        _, _, vt = np.linalg.svd(centred * np.sqrt(w)[:, None], full_matrices=False)
    projected = centred @ vt[:dims].T
    if projected.shape[1] < dims:  # fewer genomes than columns: pad with zeros
        projected = np.pad(projected, ((0, 0), (0, dims - projected.shape[1])))
    return projected


def read_level_scale(rows: np.ndarray, read_kmers: Sequence[np.ndarray]) -> np.ndarray:
    """Spread of each column of the per-read mean of ``rows`` over sample reads: (d,), zeros -> 1."""
    means = np.stack([rows[values].mean(axis=0) for values in read_kmers if len(values)])
    scale = means.std(axis=0)
    return np.where(scale > 1e-12, scale, 1.0)


def kmer_prior(genome_codes: Sequence[np.ndarray], spec: KmerPriorSpec, sample_reads: Sequence[np.ndarray]) -> np.ndarray:
    """The (4**k, usage_dims + composition_dims) float32 k-mer embedding of the module docstring.

    ``sample_reads``: base codes of reads drawn from the genomes (both views' scales come from them).
    """
    genome_counts = [genome_kmer_counts(codes, spec.k) for codes in genome_codes]  # counted once: the costly part
    weights = sum(genome_counts).astype(np.float64) + spec.pseudocount
    usage = principal_rows(_centred_usage(genome_counts, spec.pseudocount), spec.usage_dims, weights)
    composition = principal_rows(composition_matrix(spec.k, spec.composition_k), spec.composition_dims, weights)
    read_kmers = [kmer_codes(codes, spec.k) for codes in sample_reads]
    usage /= read_level_scale(usage, read_kmers)
    composition /= read_level_scale(composition, read_kmers)
    return np.concatenate([usage, composition], axis=1).astype(np.float32)
