"""k-mer baselines in their best form, and the reference ceiling that composition allows.

``kmer_clr`` is the k-mer vector an encoder must beat: canonical k-mer counts of both mates under
a centred log-ratio transform. It is not standardised here: a z-score must be fitted on training
rows only, so :func:`planktonlm.evaluation.metrics.knn_scores` standardises inside each CV fold.
``KmerNaiveBayes`` knows the true genomes (the simulator has them) and classifies reads by k-mer
likelihood: the ceiling for any composition-based read vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from planktonlm.reads.fragments import Fragment
from planktonlm.reads.kmers import canonical_kmer_index
from planktonlm.simulate.genomes import CODE_N, ENCODE, Genome

CLR_PSEUDOCOUNT = 0.5  # half a count: the usual zero replacement for count compositions
_MAX_NB_K = 12  # 4**12 x float32 = 64 MiB per genome
_BATCH_FRAGMENTS = 20000


def _window_codes(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Base-4 code of every k-window of ``codes`` (first base most significant), and whether it is all ACGT."""
    n_win = codes.size - k + 1
    if n_win <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    kmer = np.zeros(n_win, dtype=np.int64)
    invalid = np.zeros(n_win, dtype=bool)
    for j in range(k):  # k passes over the array, not one per base
        shifted = codes[j : j + n_win]
        kmer = kmer * 4 + (shifted & 3)
        invalid |= shifted == CODE_N
    return kmer, ~invalid


def kmer_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """Base-4 code of every all-ACGT k-mer of ``codes`` (0-3 ACGT, 4 = N): (n_valid,) int64."""
    kmer, valid = _window_codes(np.asarray(codes), k)
    return kmer[valid]


def genome_kmer_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """Counts of every k-mer on both strands of a genome: (4**k,) int64."""
    forward = np.bincount(kmer_codes(codes, k), minlength=4**k)
    # A k-mer x on the reverse strand is revcomp(x) on the forward strand.
    return forward + forward[_reverse_complement_codes(k)]


def kmer_log_probabilities(counts: np.ndarray, pseudocount: float) -> np.ndarray:
    """log P(k-mer | genome) from a genome's k-mer counts with an additive pseudocount: float64."""
    counts = np.asarray(counts, dtype=np.float64)
    return np.log((counts + pseudocount) / (counts.sum() + pseudocount * counts.size))


def _fragment_kmers(fragments: Sequence[Fragment], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Code of every all-ACGT k-mer of the fragments (both mates, none across mates) and its fragment index."""
    seqs, owner = [], []
    for i, fragment in enumerate(fragments):
        for seq in (fragment.seq1, fragment.seq2):
            if seq:
                seqs.append(seq.encode("latin-1") if isinstance(seq, str) else bytes(seq))
                owner.append(i)
    if not seqs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    codes = ENCODE[np.frombuffer(b"".join(seqs), dtype=np.uint8)]
    kmer, valid = _window_codes(codes, k)
    seq_of_pos = np.repeat(np.arange(len(seqs), dtype=np.int64), lengths)
    # A window that starts and ends in the same sequence lies inside it.
    valid &= seq_of_pos[: kmer.size] == seq_of_pos[k - 1 :]
    return kmer[valid], np.asarray(owner, dtype=np.int64)[seq_of_pos[: kmer.size][valid]]


def kmer_counts(fragments: Sequence[Fragment], k: int) -> np.ndarray:
    """Canonical k-mer counts per fragment, both mates pooled, (n, n_canonical_kmers) int64.

    Same columns as :func:`planktonlm.reads.kmers.kmer_frequencies` (whose rows are these
    counts divided by their sum); k-mers holding anything but A/C/G/T are skipped.
    """
    column, names = canonical_kmer_index(k)
    n, n_col = len(fragments), len(names)
    counts = np.zeros((n, n_col), dtype=np.int64)
    for start in range(0, n, _BATCH_FRAGMENTS):
        batch = fragments[start : start + _BATCH_FRAGMENTS]
        kmer, owner = _fragment_kmers(batch, k)
        flat = np.bincount(owner * n_col + column[kmer], minlength=len(batch) * n_col)
        counts[start : start + len(batch)] = flat.reshape(len(batch), n_col)
    return counts


def clr(counts: np.ndarray, pseudocount: float = CLR_PSEUDOCOUNT) -> np.ndarray:
    """Centred log-ratio of count rows: log(count + pseudocount) minus the row mean of those logs."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"counts must be 2-D (rows x k-mers), got shape {counts.shape}")
    if pseudocount <= 0:
        raise ValueError(f"pseudocount must be > 0, got {pseudocount}")
    logs = np.log(counts + pseudocount)
    return logs - logs.mean(axis=1, keepdims=True)


def kmer_clr(fragments: Sequence[Fragment], k: int) -> np.ndarray:
    """The k-mer baseline vector: CLR (pseudocount 0.5) of canonical k-mer counts, (n, n_canonical) float64.

    Counts rather than frequencies, so a short read's noise is not mistaken for signal by the
    pseudocount; rows sum to 0. A fragment without any valid k-mer gives a row of zeros. Memory is
    n x n_canonical x 8 bytes (k=4: 136 columns, k=6: 2080, k=8: 32896).
    """
    return clr(kmer_counts(fragments, k))


class KmerNaiveBayes(BaseEstimator):
    """Multinomial naive Bayes on k-mers of the true genomes: the ceiling that composition allows.

    ``fit`` counts every k-mer of each genome on both strands (k-mers with N skipped, additive
    ``pseudocount``); a read goes to the genome under which its k-mers (both mates) are most
    likely, with equal priors. It needs the genomes, which only the simulator knows, so it is a
    reference, not a method; reads from close strains are not separable by it either.
    """

    def __init__(self, k: int = 8, pseudocount: float = 0.5):
        self.k = k
        self.pseudocount = pseudocount

    def fit(self, genomes: Sequence[Genome]) -> KmerNaiveBayes:
        """Learn ``classes_`` (genome names, in order) and ``log_prob_`` (n_genomes, 4**k) float32."""
        k = int(self.k)
        if not 1 <= k <= _MAX_NB_K:
            raise ValueError(f"k must be in 1..{_MAX_NB_K}, got {self.k}")
        if self.pseudocount <= 0:
            raise ValueError(f"pseudocount must be > 0, got {self.pseudocount}")
        if len(genomes) < 2:
            raise ValueError(f"KmerNaiveBayes needs at least 2 genomes, got {len(genomes)}")
        names = [g.name for g in genomes]
        if len(set(names)) != len(names):
            raise ValueError(f"genome names repeat: {names}")
        log_prob = np.empty((len(genomes), 4**k), dtype=np.float32)
        for row, genome in enumerate(genomes):
            log_prob[row] = kmer_log_probabilities(genome_kmer_counts(genome.codes, k), self.pseudocount)
        self.classes_ = np.array(names)
        self.log_prob_ = log_prob
        return self

    def decision_function(self, fragments: Sequence[Fragment]) -> np.ndarray:
        """Log-likelihood of each fragment's k-mers under each genome, (n, n_genomes) float64.

        Rows of fragments without a valid k-mer are all zeros (no evidence).
        """
        check_is_fitted(self, ["classes_", "log_prob_"])
        k, n = int(self.k), len(fragments)
        table = self.log_prob_.T.astype(np.float64)  # (4**k, n_genomes)
        scores = np.zeros((n, len(self.classes_)), dtype=np.float64)
        for start in range(0, n, _BATCH_FRAGMENTS):
            batch = fragments[start : start + _BATCH_FRAGMENTS]
            kmer, owner = _fragment_kmers(batch, k)
            occurrences = scipy.sparse.csr_matrix(
                (np.ones(kmer.size), (owner, kmer)), shape=(len(batch), table.shape[0]))
            scores[start : start + len(batch)] = occurrences @ table
        return scores

    def predict(self, fragments: Sequence[Fragment]) -> np.ndarray:
        """The most likely genome of each fragment (ties, and fragments without k-mers, go to the first genome)."""
        scores = self.decision_function(fragments)  # checks fitted first
        return self.classes_[np.argmax(scores, axis=1)]


def _reverse_complement_codes(k: int) -> np.ndarray:
    """Code of the reverse complement of every k-mer code."""
    codes = np.arange(4**k, dtype=np.int64)
    out = np.zeros_like(codes)
    for _ in range(k):  # the last base of the k-mer, complemented, is the first of its reverse complement
        out = out * 4 + (3 - codes % 4)
        codes //= 4
    return out
