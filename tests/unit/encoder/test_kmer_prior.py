"""The k-mer prior of pretraining: k-mer values and counts, the usage and composition views, the scaled prior."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from planktonlm.encoder.kmer_prior import KmerPriorSpec, composition_matrix, kmer_prior, usage_matrix
from planktonlm.evaluation.baselines import genome_kmer_counts
from planktonlm.evaluation.baselines import kmer_codes as kmer_values  # the prior counts k-mers with the baselines' code
from planktonlm.reads.kmers import canonical_kmer_index

COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


def random_genome(rng: np.random.Generator, n: int, gc: float) -> np.ndarray:
    return rng.choice(4, size=n, p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]).astype(np.uint8)


def revcomp(codes: np.ndarray) -> np.ndarray:
    return COMPLEMENT[np.asarray(codes)[::-1]]


def brute_kmer_values(codes: np.ndarray, k: int) -> list[int]:
    out = []
    for i in range(len(codes) - k + 1):
        window = [int(c) for c in codes[i:i + k]]
        if any(c > 3 for c in window):
            continue
        value = 0
        for c in window:
            value = value * 4 + c
        out.append(value)
    return out


def kmer_value(text: str) -> int:
    value = 0
    for base in text:
        value = value * 4 + "ACGT".index(base)
    return value


def kmer_text(value: int, k: int) -> str:
    return "".join("ACGT"[(value >> (2 * (k - 1 - j))) & 3] for j in range(k))


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """The prior's SVDs are tiny: BLAS threads only spin on a busy machine (1 s instead of 5 ms)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def three_genomes() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [random_genome(rng, 6000, gc) for gc in (0.3, 0.5, 0.7)]


@pytest.fixture(scope="module")
def sample_reads(three_genomes) -> list[np.ndarray]:
    rng = np.random.default_rng(12)
    reads = []
    for _ in range(150):
        genome = three_genomes[int(rng.integers(3))]
        start = int(rng.integers(0, len(genome) - 80))
        reads.append(genome[start:start + int(rng.integers(40, 80))])
    return reads


# ----------------------------------------------------------------------------- kmer_values


@pytest.mark.parametrize("k", [1, 3, 4])
def test_kmer_values_match_a_python_loop_and_skip_n(k: int) -> None:
    rng = np.random.default_rng(k)
    codes = rng.integers(0, 4, size=200).astype(np.uint8)
    codes[[5, 6, 50, 120, 199]] = 4  # N, one of them at the end, two adjacent
    values = kmer_values(codes, k)
    assert values.dtype == np.int64
    assert values.tolist() == brute_kmer_values(codes, k)
    assert len(values) < len(codes) - k + 1  # some windows were skipped


def test_kmer_values_of_known_kmers_and_short_input() -> None:
    codes = np.array([0, 1, 2, 3, 4, 3, 3, 3], dtype=np.uint8)  # ACGTNTTT
    assert kmer_values(codes, 2).tolist() == [kmer_value("AC"), kmer_value("CG"), kmer_value("GT"),
                                              kmer_value("TT"), kmer_value("TT")]
    assert kmer_values(codes[:2], 3).tolist() == []
    assert kmer_values(np.full(10, 4, dtype=np.uint8), 1).tolist() == []


# ----------------------------------------------------------------------------- genome_kmer_counts


def test_genome_kmer_counts_are_both_strands() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, size=300).astype(np.uint8)
    codes[100] = 4
    counts = genome_kmer_counts(codes, 3)
    assert counts.shape == (64,)
    expected = np.zeros(64, dtype=np.int64)
    for value in brute_kmer_values(codes, 3) + brute_kmer_values(revcomp(codes), 3):
        expected[value] += 1
    assert np.array_equal(counts, expected)
    assert counts.sum() == 2 * len(brute_kmer_values(codes, 3))


def test_a_sequence_and_its_reverse_complement_give_the_same_counts() -> None:
    codes = np.array([0, 0, 0, 1, 1, 2, 0, 0, 3, 1], dtype=np.uint8)  # AAACCGAATC: no palindromes
    forward_only = np.bincount(kmer_values(codes, 4), minlength=256)
    reverse_only = np.bincount(kmer_values(revcomp(codes), 4), minlength=256)
    assert not np.array_equal(forward_only, reverse_only)  # one strand alone tells them apart
    assert np.array_equal(genome_kmer_counts(codes, 4), genome_kmer_counts(revcomp(codes), 4))
    assert np.array_equal(genome_kmer_counts(codes, 4), forward_only + reverse_only)


# ----------------------------------------------------------------------------- usage and composition


def test_usage_matrix_is_log_probabilities_centred_over_genomes(three_genomes) -> None:
    usage = usage_matrix(three_genomes, 3, 0.5)
    assert usage.shape == (64, 3)
    assert np.allclose(usage.sum(axis=1), 0.0, atol=1e-12)
    logp = []
    for codes in three_genomes:
        counts = genome_kmer_counts(codes, 3) + 0.5
        logp.append(np.log(counts / counts.sum()))
    logp = np.stack(logp, axis=1)
    assert np.allclose(usage, logp - logp.mean(axis=1, keepdims=True))
    # GC-rich k-mers are more likely in the GC-rich genome (column 2) than in the AT-rich one (column 0)
    assert usage[kmer_value("GCG"), 2] > usage[kmer_value("GCG"), 0]
    assert usage[kmer_value("ATA"), 0] > usage[kmer_value("ATA"), 2]


@pytest.mark.parametrize("k, composition_k", [(4, 2), (4, 3), (5, 4)])
def test_composition_rows_count_the_sub_kmers_canonically(k: int, composition_k: int) -> None:
    matrix = composition_matrix(k, composition_k)
    index, names = canonical_kmer_index(composition_k)
    assert matrix.shape == (4**k, len(names))
    assert np.array_equal(matrix.sum(axis=1), np.full(4**k, k - composition_k + 1.0))
    rng = np.random.default_rng(k * 10 + composition_k)
    for value in rng.choice(4**k, size=25, replace=False):
        text = kmer_text(int(value), k)
        expected = np.zeros(len(names))
        for start in range(k - composition_k + 1):
            expected[index[kmer_value(text[start:start + composition_k])]] += 1
        assert np.array_equal(matrix[value], expected), text
        reverse = text[::-1].translate(str.maketrans("ACGT", "TGCA"))
        assert np.array_equal(matrix[kmer_value(reverse)], matrix[value]), (text, reverse)


# ----------------------------------------------------------------------------- the prior


def test_kmer_prior_shape_type_and_zero_padding(three_genomes, sample_reads) -> None:
    spec = KmerPriorSpec(k=4, usage_dims=6, composition_dims=5, composition_k=3)
    prior = kmer_prior(three_genomes, spec, sample_reads)
    assert prior.shape == (256, 11)
    assert prior.dtype == np.float32
    assert np.isfinite(prior).all()
    usage = prior[:, :6]
    # 3 genomes: the centred usage has rank 2, so at most 2 informative columns; the rest is padding
    assert np.all(np.abs(usage[:, :2]).max(axis=0) > 0.1)
    assert np.abs(usage[:, 2]).max() < 1e-6
    assert np.array_equal(usage[:, 3:], np.zeros((256, 3), dtype=np.float32))
    assert np.all(np.abs(prior[:, 6:]).max(axis=0) > 0.1)  # composition columns all informative


def test_the_per_read_mean_of_every_column_has_unit_spread(three_genomes, sample_reads) -> None:
    spec = KmerPriorSpec(k=4, usage_dims=2, composition_dims=4, composition_k=3)
    prior = kmer_prior(three_genomes, spec, sample_reads)
    means = np.stack([prior[kmer_values(read, 4)].mean(axis=0) for read in sample_reads])
    assert np.allclose(means.std(axis=0), 1.0, atol=1e-4)


def test_kmer_prior_is_deterministic_and_tells_genomes_apart(three_genomes, sample_reads) -> None:
    spec = KmerPriorSpec(k=4, usage_dims=2, composition_dims=4, composition_k=2)
    prior = kmer_prior(three_genomes, spec, sample_reads)
    assert np.array_equal(prior, kmer_prior(three_genomes, spec, sample_reads))
    # the mean usage rows of fresh reads of one genome sit closer to each other than to another genome's
    rng = np.random.default_rng(99)
    centres = []
    for genome in three_genomes:
        starts = rng.integers(0, len(genome) - 60, size=20)
        centres.append(np.stack([prior[kmer_values(genome[s:s + 60], 4), :2].mean(axis=0) for s in starts]))
    for g, reads in enumerate(centres):
        own = np.linalg.norm(reads - reads.mean(axis=0), axis=1).mean()
        for h, other in enumerate(centres):
            if h != g:
                assert own < np.linalg.norm(reads - other.mean(axis=0), axis=1).mean()

