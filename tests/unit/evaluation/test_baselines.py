"""Tests for planktonlm.evaluation.baselines: the k-mer CLR baseline and the naive-Bayes ceiling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from planktonlm.evaluation.baselines import KmerNaiveBayes, clr, kmer_clr, kmer_counts
from planktonlm.reads.fragments import Fragment
from planktonlm.reads.kmers import canonical_kmer_index, kmer_frequencies
from planktonlm.simulate.genomes import ENCODE, Genome

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def random_dna(rng: np.random.Generator, n: int, gc: float = 0.5) -> str:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(rng.choice(list("ACGT"), size=n, p=p))


def genome_of(name: str, seq: str) -> Genome:
    codes = ENCODE[np.frombuffer(seq.encode(), dtype=np.uint8)]
    return Genome(name, name, f"{name}.fna", codes, ("c1",), np.array([0]), np.array([len(seq)]))


def cut_fragments(rng: np.random.Generator, seq: str, n: int, prefix: str) -> list[Fragment]:
    """Paired reads (150 bp mates of a 400 bp insert, mate 2 reverse complemented), as a sequencer gives them."""
    out = []
    for i in range(n):
        s = int(rng.integers(0, len(seq) - 400))
        out.append(Fragment(f"{prefix}{i}", seq[s : s + 150], revcomp(seq[s + 250 : s + 400])))
    return out


@pytest.fixture(scope="module")
def two_genomes():
    rng = np.random.default_rng(11)
    return random_dna(rng, 60_000, gc=0.35), random_dna(rng, 60_000, gc=0.65)


def test_kmer_counts_agree_with_kmer_frequencies():
    rng = np.random.default_rng(0)
    fragments = [Fragment(str(i), random_dna(rng, 90) + "N" + random_dna(rng, 20), random_dna(rng, 60)) for i in range(20)]
    counts = kmer_counts(fragments, 4)
    frequencies = kmer_frequencies([f.seq1 for f in fragments], [f.seq2 for f in fragments], 4)
    assert counts.dtype == np.int64
    np.testing.assert_allclose(counts / counts.sum(axis=1, keepdims=True), frequencies)
    singles = [Fragment(f.read_id, f.seq1, None) for f in fragments]
    single_counts = kmer_counts(singles, 4)
    np.testing.assert_allclose(single_counts / single_counts.sum(axis=1, keepdims=True),
                               kmer_frequencies([f.seq1 for f in fragments], None, 4))
    # Windows with only ACGT, none across the N or across mates: 87 + 17 + 57.
    assert counts[0].sum() == (90 - 3) + (20 - 3) + (60 - 3)


def test_kmer_clr_shape_rows_sum_to_zero_and_reverse_complement_invariance():
    rng = np.random.default_rng(1)
    seqs = [(random_dna(rng, 150), random_dna(rng, 150)) for _ in range(10)]
    forward = [Fragment(str(i), a, b) for i, (a, b) in enumerate(seqs)]
    reverse = [Fragment(str(i), revcomp(a), revcomp(b)) for i, (a, b) in enumerate(seqs)]
    values = kmer_clr(forward, 5)
    assert values.shape == (10, len(canonical_kmer_index(5)[1]))
    np.testing.assert_allclose(values.sum(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(kmer_clr(reverse, 5), values)


def test_clr_uses_half_count_pseudocount():
    row = clr(np.array([[0, 1, 3]]))
    logs = np.log([0.5, 1.5, 3.5])
    np.testing.assert_allclose(row[0], logs - logs.mean())
    with pytest.raises(ValueError):
        clr(np.array([1, 2, 3]))


def test_kmer_clr_of_fragment_without_kmers_is_zero_row():
    values = kmer_clr([Fragment("short", "ACG", None), Fragment("ok", "ACGTACGTAC", None)], 4)
    assert not values[0].any()
    assert values[1].any()


def test_naive_bayes_log_prob_matches_brute_force_both_strands():
    seq = "ACGGTNACCA"
    model = KmerNaiveBayes(k=2, pseudocount=0.5).fit([genome_of("g1", seq), genome_of("g2", "AAAA")])
    counts = dict.fromkeys(("".join(p) for p in itertools.product("ACGT", repeat=2)), 0.5)
    for strand in (seq, revcomp(seq)):
        for i in range(len(strand) - 1):
            if "N" not in strand[i : i + 2]:
                counts[strand[i : i + 2]] += 1
    expected = np.log(np.array(list(counts.values())) / sum(counts.values()))  # itertools order = base-4 code order
    np.testing.assert_allclose(model.log_prob_[0], expected, rtol=1e-6)
    assert model.log_prob_.shape == (2, 16)
    assert model.log_prob_.dtype == np.float32


def test_naive_bayes_assigns_reads_to_their_genome(two_genomes):
    low_gc, high_gc = two_genomes
    model = KmerNaiveBayes(k=6).fit([genome_of("lowGC", low_gc), genome_of("highGC", high_gc)])
    assert list(model.classes_) == ["lowGC", "highGC"]
    rng = np.random.default_rng(5)
    fragments = cut_fragments(rng, low_gc, 100, "a") + cut_fragments(rng, high_gc, 100, "b")
    truth = np.array(["lowGC"] * 100 + ["highGC"] * 100)
    predicted = model.predict(fragments)
    assert np.mean(predicted == truth) > 0.95
    scores = model.decision_function(fragments)
    assert scores.shape == (200, 2)
    np.testing.assert_array_equal(model.classes_[scores.argmax(axis=1)], predicted)


def test_naive_bayes_is_strand_blind(two_genomes):
    low_gc, high_gc = two_genomes
    model = KmerNaiveBayes(k=5).fit([genome_of("A", low_gc), genome_of("B", high_gc)])
    rng = np.random.default_rng(6)
    fragments = cut_fragments(rng, low_gc, 30, "a")
    flipped = [Fragment(f.read_id, revcomp(f.seq1), revcomp(f.seq2)) for f in fragments]
    single = [Fragment(f.read_id, revcomp(f.seq1), None) for f in fragments]
    np.testing.assert_allclose(model.decision_function(flipped), model.decision_function(fragments))
    np.testing.assert_allclose(model.decision_function(single),
                               model.decision_function([Fragment(f.read_id, f.seq1, None) for f in fragments]))
    assert (model.predict(single) == "A").all()


def test_naive_bayes_estimator_contract(two_genomes):
    model = KmerNaiveBayes(k=4, pseudocount=1.0)
    assert model.get_params() == {"k": 4, "pseudocount": 1.0}
    copy = clone(model).set_params(k=3)
    assert copy.k == 3 and model.k == 4
    with pytest.raises(NotFittedError):
        model.predict([Fragment("r", "ACGTACGT", None)])
    with pytest.raises(ValueError, match="at least 2"):
        model.fit([genome_of("only", two_genomes[0])])


def test_naive_bayes_skips_kmers_with_n(two_genomes):
    model = KmerNaiveBayes(k=4).fit([genome_of("A", two_genomes[0]), genome_of("B", two_genomes[1])])
    with_n = model.decision_function([Fragment("r", "ACGTTNNNNGGCA", None)])
    clean = model.decision_function([Fragment("r", "ACGTT", "GGCA")])
    np.testing.assert_allclose(with_n, clean)
    assert not model.decision_function([Fragment("r", "NNNNNN", None)]).any()
