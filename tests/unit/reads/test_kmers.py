"""Tests for planktonlm.reads.kmers: canonical k-mer index, frequencies, per-sample k-mer vectors."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest

from planktonlm.reads.kmers import (
    canonical_kmer_index,
    kmer_frequencies,
    kmer_vectors_for_sample,
    tetranucleotide_frequencies,
)

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def random_dna(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=n))


def naive_canonical_counts(seq: str, k: int) -> dict[str, int]:
    """Reference: a plain Python loop over windows."""
    counts: dict[str, int] = {}
    for i in range(len(seq) - k + 1):
        kmer = seq[i : i + k].upper()
        if set(kmer) <= set("ACGT"):
            key = min(kmer, revcomp(kmer))
            counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize(("k", "n_columns"), [(1, 2), (2, 10), (3, 32), (4, 136), (5, 512)])
def test_canonical_kmer_index(k, n_columns):
    column, names = canonical_kmer_index(k)
    assert len(names) == n_columns and len(column) == 4**k
    assert list(names) == sorted(names)
    for code, kmer in enumerate("".join(p) for p in itertools.product("ACGT", repeat=k)):
        assert names[column[code]] == min(kmer, revcomp(kmer))


def test_tnf_hand_count():
    # AAAAC: AAAA and AAAC; ACGTT: ACGT (its own reverse complement) and CGTT (= AACG)
    _, names = canonical_kmer_index(4)
    tnf = tetranucleotide_frequencies(["AAAAC", "ACGTT"])
    assert tnf.shape == (2, 136)
    expected = np.zeros((2, 136))
    expected[0, [names.index("AAAA"), names.index("AAAC")]] = 0.5
    expected[1, [names.index("ACGT"), names.index("AACG")]] = 0.5
    assert np.array_equal(tnf, expected)


def test_tnf_matches_naive_count_on_random_fragments():
    rng = np.random.default_rng(4)
    _, names = canonical_kmer_index(4)
    r1 = [random_dna(rng, int(n)) for n in rng.integers(3, 80, size=12)]
    r2 = [random_dna(rng, int(n)) for n in rng.integers(3, 80, size=12)]
    r1[3] = r1[3][:5] + "N" + r1[3][6:]
    tnf = tetranucleotide_frequencies(r1, r2)
    for i, (a, b) in enumerate(zip(r1, r2, strict=True)):
        counts = naive_canonical_counts(a, 4)
        for kmer, c in naive_canonical_counts(b, 4).items():
            counts[kmer] = counts.get(kmer, 0) + c
        expected = np.zeros(136)
        for kmer, c in counts.items():
            expected[names.index(kmer)] = c
        assert np.allclose(tnf[i], expected / expected.sum(), rtol=0, atol=1e-15)


def test_tnf_of_reverse_complement_is_identical():
    rng = np.random.default_rng(5)
    seqs = [random_dna(rng, 151) for _ in range(5)] + ["ACGTNNACGGTTAGC"]
    forward = tetranucleotide_frequencies(seqs)
    backward = tetranucleotide_frequencies([revcomp(s) for s in seqs])
    assert np.array_equal(forward, backward)
    # a pair read from the other strand: mates swap and are reverse complemented
    mates = [random_dna(rng, 100) for _ in range(5)]
    assert np.array_equal(
        tetranucleotide_frequencies(seqs[:5], mates),
        tetranucleotide_frequencies([revcomp(m) for m in mates], [revcomp(s) for s in seqs[:5]]),
    )


def test_tnf_skips_n_and_never_spans_mates():
    tnf = tetranucleotide_frequencies(["AANAAAAC", "NNNNNN", "ACG", "aaaac"], ["", "", "", ""])
    reference = tetranucleotide_frequencies(["AAAAC"])[0]
    assert np.array_equal(tnf[0], reference)  # AANA, ANAA, NAAA skipped
    assert not tnf[1].any() and not tnf[2].any()  # no valid k-mer: zero row
    assert np.array_equal(tnf[3], reference)  # lower case counts
    _, names = canonical_kmer_index(4)
    pair = tetranucleotide_frequencies(["AAAA"], ["CCCC"])[0]
    assert np.flatnonzero(pair).tolist() == sorted([names.index("AAAA"), names.index("CCCC")])
    assert np.allclose(tnf[[0, 3]].sum(axis=1), 1.0)


def test_kmer_frequencies_batches_and_other_k():
    rng = np.random.default_rng(6)
    seqs = [random_dna(rng, 40) for _ in range(7)]
    assert np.array_equal(kmer_frequencies(seqs, k=3, batch_size=2), kmer_frequencies(seqs, k=3))
    assert kmer_frequencies(seqs, k=3).shape == (7, 32)
    with pytest.raises(ValueError, match="second mates"):
        kmer_frequencies(seqs, seqs[:3])


def write_fastq_gz(path: Path, records: list[tuple[str, str]]) -> str:
    with gzip.open(path, "wt") as fh:
        for name, seq in records:
            fh.write(f"@{name}\n{seq}\n+\n{'I' * len(seq)}\n")
    return str(path)


def test_kmer_vectors_follow_the_embedded_ids_in_their_order(tmp_path):
    rng = np.random.default_rng(7)
    names = [f"read{i}" for i in range(6)]
    r1_seqs = [random_dna(rng, 60) for _ in names]
    r2_seqs = [random_dna(rng, 60) for _ in names]
    r1 = write_fastq_gz(tmp_path / "s_R1.fastq.gz", [(f"{n}/1", s) for n, s in zip(names, r1_seqs, strict=True)])
    r2 = write_fastq_gz(tmp_path / "s_R2.fastq.gz", [(f"{n}/2", s) for n, s in zip(names, r2_seqs, strict=True)])
    order = [4, 0, 2]  # the embedding stage's subsample, in its own order
    ids = tmp_path / "s.ids.txt"
    ids.write_text("".join(f"{names[i]}\n" for i in order))
    out = tmp_path / "s.npy"
    assert kmer_vectors_for_sample(r1, r2, ids_file=str(ids), out_npy=str(out), k=4) == 3
    expected = tetranucleotide_frequencies([r1_seqs[i] for i in order], [r2_seqs[i] for i in order])
    assert np.array_equal(np.load(out), expected)

    ids.write_text("read1\nnot_in_the_fastq\n")
    with pytest.raises(RuntimeError, match="not_in_the_fastq"):
        kmer_vectors_for_sample(r1, r2, ids_file=str(ids), out_npy=str(tmp_path / "bad.npy"), k=4)
    assert not (tmp_path / "bad.npy").exists()
