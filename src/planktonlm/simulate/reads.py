"""Illumina-like read pairs: fragments, adapter read-through, qualities, errors, FASTQ records.

Fragments are drawn in proportion to abundance x genome length, on both strands, never across a
contig end or an N run; position-dependent substitution errors are sampled from the Phred
qualities written; short inserts read through into the TruSeq adapters. Each sample draws from a
stream of its own, in batches of a fixed size, so a sample's reads depend on nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Iterator

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.seeding import random_stream
from planktonlm.simulate.design import CruiseDesign
from planktonlm.simulate.genomes import BASE_ASCII, CODE_N, ENCODE, GenomeSet
from planktonlm.simulate.streams import STREAM_READS

# Reads are generated and written in batches of this many pairs: memory stays bounded and,
# since the batch size is fixed, the random draws (and so the bytes) do not depend on anything else.
BATCH_PAIRS = 50_000

# Illumina TruSeq adapters as read through past a short insert: adapter, index/primer, then the
# poly-G that two-colour instruments report once there is no template left.
ADAPTER_R1 = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"
ADAPTER_R2 = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT"
READ_THROUGH_R1 = ADAPTER_R1 + "CATCACGATCTCGTATGCCGTCTTCTGCTTG"
READ_THROUGH_R2 = ADAPTER_R2 + "AGATCTCGGTGGTCGCCGTATCATT"

Q_MIN, Q_MAX = 2, 41
_ERROR_PROB = (10.0 ** (-np.arange(Q_MAX + 1) / 10.0)).astype(np.float32)  # Phred -> P(error)


@dataclass(frozen=True, eq=False)
class ReadPairs:
    """A batch of simulated read pairs; bases are codes 0-4, qualities Phred scores."""

    genome: np.ndarray  # index into GenomeSet.names
    start: np.ndarray  # fragment start in GenomeSet.codes
    insert: np.ndarray
    minus: np.ndarray  # fragment on the reverse strand
    r1: np.ndarray  # (n, read_length) uint8 codes
    r2: np.ndarray
    q1: np.ndarray  # (n, read_length) uint8 Phred
    q2: np.ndarray


def _insert_sizes(design: CruiseDesign, n: int, rng: np.random.Generator) -> np.ndarray:
    length = design.read_length
    insert = np.maximum(np.rint(rng.normal(design.insert_mean, design.insert_sd, n)), length).astype(np.int64)
    short = rng.random(n) < design.short_insert_fraction
    shortest = min(length - 1, max(20, length // 2))
    insert[short] = rng.integers(shortest, length, size=int(short.sum()))
    return insert


def _clean_starts(genome_set: GenomeSet, genome: np.ndarray, length: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform starts of spans of ``length`` in ``genome`` that touch no N run or contig join.

    Rejection: spans that touch one are redrawn, up to 1000 rounds. Returns the starts and the
    indices still without a clean start (empty unless a genome has almost no clean span).
    """
    start = np.empty(len(genome), dtype=np.int64)
    todo = np.arange(len(genome))
    for _ in range(1000):
        g = genome[todo]
        u = rng.random(len(todo))
        start[todo] = genome_set.offsets[g] + (u * (genome_set.spans[g] - length[todo] + 1)).astype(np.int64)
        todo = todo[genome_set.spans_n(start[todo], length[todo])]
        if len(todo) == 0:
            break
    return start, todo


def _draw_fragments(
    genome_set: GenomeSet, read_share: np.ndarray, n: int, design: CruiseDesign, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    genome = rng.choice(len(genome_set.names), size=n, p=read_share)
    insert = np.minimum(_insert_sizes(design, n, rng), genome_set.longest_clean[genome])
    start, todo = _clean_starts(genome_set, genome, insert, rng)
    if len(todo) == 0:
        return genome, start, insert
    bad = sorted({genome_set.names[i] for i in genome[todo]})
    raise PlanktonlmInputError([
        InputProblem(file=name, message="almost no fragment of this genome avoids N runs and contig ends",
                     expected="contigs longer than the insert size with few N runs")
        for name in bad
    ])


def _extract(genome_set: GenomeSet, start: np.ndarray, insert: np.ndarray, forward: np.ndarray,
             read_through: np.ndarray, length: int) -> np.ndarray:
    """Read bases: forward reads from the fragment's left end, others the reverse complement of its right.

    One gather from ``[forward strand | complement strand]``: a reverse read walks the complement
    strand leftwards from the fragment's right end. Padding keeps overshoot past short inserts
    inside the array; those positions become adapter.
    """
    first = np.where(forward, genome_set.forward_base + start, genome_set.complement_base + start + insert - 1)
    step = np.where(forward, 1, -1)
    pos = first[:, None] + step[:, None] * np.arange(length, dtype=np.int64)[None, :]
    bases = genome_set.strand_codes[pos]
    short = np.flatnonzero(insert < length)  # adapter read-through, few rows
    if len(short):
        j = np.arange(length)[None, :]
        past = j >= insert[short, None]
        rows = bases[short]
        rows[past] = read_through[(j - insert[short, None])[past]]
        bases[short] = rows
    return bases


def _read_through_codes(adapter: str, length: int) -> np.ndarray:
    text = (adapter + "G" * length)[:length]
    return ENCODE[np.frombuffer(text.encode(), dtype=np.uint8)]


def _phred_profile(design: CruiseDesign, factor: float) -> np.ndarray:
    """Mean Phred score per read position: error rate rising quadratically toward the 3' end."""
    x = np.linspace(0.0, 1.0, design.read_length)
    rate = (design.error_rate_first + (design.error_rate_last - design.error_rate_first) * x**2) * factor
    return np.rint(-10 * np.log10(np.clip(rate, 1e-5, 0.5))).astype(np.int16)


# Per-base quality jitter: 256 quantiles of N(0, 1.5), indexed by 8 random bits.
_QUALITY_JITTER = np.rint(
    [1.5 * NormalDist().inv_cdf((k + 0.5) / 256) for k in range(256)]
).astype(np.int16)
# P(error | Phred q) as a threshold on 24 random bits: an error iff bits < threshold.
_ERROR_THRESHOLD_24 = np.rint(_ERROR_PROB.astype(np.float64) * (1 << 24)).astype(np.uint32)


def _sequence(
    bases: np.ndarray, profile: np.ndarray, design: CruiseDesign, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Qualities around a position profile, then errors sampled at exactly the rate they state.

    One 32-bit draw per base: its low 8 bits jitter the quality, its high 24 bits decide the error.
    """
    n, length = bases.shape
    bits = rng.integers(0, 1 << 32, size=(n, length), dtype=np.uint32)
    read_offset = np.rint(rng.normal(0, 2.0, (n, 1))).astype(np.int16)  # some reads are worse throughout
    quality = profile[None, :] + read_offset + _QUALITY_JITTER[(bits & 0xFF).astype(np.uint8)]
    quality = np.clip(quality, Q_MIN, Q_MAX).astype(np.uint8)
    if not design.sequencing_errors:
        return bases, quality
    error = np.flatnonzero((bits >> 8) < _ERROR_THRESHOLD_24[quality])
    flat_bases = bases.reshape(-1)
    error = error[flat_bases[error] != CODE_N]
    flat_bases[error] = (flat_bases[error] + rng.integers(1, 4, size=len(error), dtype=np.uint8)) % 4
    n_calls = rng.binomial(n * length, design.n_rate)
    if n_calls:
        flat = rng.integers(0, n * length, size=n_calls)
        flat_bases[flat] = CODE_N
        quality.reshape(-1)[flat] = Q_MIN
    return bases, quality


def simulate_read_pairs(
    genome_set: GenomeSet, read_share: np.ndarray, n_pairs: int, design: CruiseDesign, rng: np.random.Generator
) -> ReadPairs:
    """``n_pairs`` Illumina-like pairs; ``read_share[g]`` is genome g's expected share of fragments."""
    if design.read_length > genome_set.pad:
        raise ValueError(f"read length {design.read_length} exceeds the padding {genome_set.pad}")
    genome, start, insert = _draw_fragments(genome_set, read_share, n_pairs, design, rng)
    minus = rng.random(n_pairs) < 0.5
    length = design.read_length
    # Read 1 runs along the fragment's strand, read 2 back from its other end on the other strand.
    r1 = _extract(genome_set, start, insert, ~minus, _read_through_codes(READ_THROUGH_R1, length), length)
    r2 = _extract(genome_set, start, insert, minus, _read_through_codes(READ_THROUGH_R2, length), length)
    r1, q1 = _sequence(r1, _phred_profile(design, 1.0), design, rng)
    r2, q2 = _sequence(r2, _phred_profile(design, design.r2_error_factor), design, rng)
    return ReadPairs(genome, start, insert, minus, r1, r2, q1, q2)


def format_fastq(
    sample: str, first_index: int, id_width: int, mate: int, bases: np.ndarray, quality: np.ndarray
) -> bytes:
    """FASTQ records ``@<sample>.<index> <mate>:N:0`` built as one byte matrix (fixed-width ids)."""
    n, length = bases.shape
    index = np.arange(first_index, first_index + n, dtype=np.int64)[:, None]
    digits = (index // 10 ** np.arange(id_width - 1, -1, -1, dtype=np.int64)[None, :]) % 10 + ord("0")

    def const(text: bytes) -> np.ndarray:
        return np.broadcast_to(np.frombuffer(text, dtype=np.uint8), (n, len(text)))

    matrix = np.concatenate(
        [
            const(b"@" + sample.encode() + b"."),
            digits.astype(np.uint8),
            const(f" {mate}:N:0\n".encode()),
            BASE_ASCII[bases],
            const(b"\n+\n"),
            quality + np.uint8(33),
            const(b"\n"),
        ],
        axis=1,
    )
    return matrix.tobytes()


def iter_sample_read_pairs(
    genome_set: GenomeSet, read_share: np.ndarray, n_pairs: int, design: CruiseDesign, seed: int, sample_index: int
) -> Iterator[ReadPairs]:
    """The read pairs of sample number ``sample_index``, in batches of at most BATCH_PAIRS."""
    rng = random_stream(seed, STREAM_READS, sample_index)  # per sample: samples do not depend on each other
    for first in range(0, n_pairs, BATCH_PAIRS):
        yield simulate_read_pairs(genome_set, read_share, min(BATCH_PAIRS, n_pairs - first), design, rng)


def read_shares(abundance: pd.DataFrame, genome_set: GenomeSet) -> np.ndarray:
    """Expected share of fragments per genome and sample: abundance x genome length, normalised."""
    weights = abundance[genome_set.names].to_numpy(float) * genome_set.length_bp[None, :]
    return weights / weights.sum(axis=1, keepdims=True)


def draw_training_reads(genome_set: GenomeSet, genome: np.ndarray, lengths: np.ndarray, design: CruiseDesign,
                        rng: np.random.Generator) -> list[np.ndarray]:
    """Single reads for pretraining: one per entry of ``genome`` (index into the set), of ``lengths`` bases.

    Same read model as the cruise's reads: uniform start avoiding N runs and contig joins, either
    strand, the design's position-dependent Phred profile and errors (over the longest length).
    Returns base codes (0-3, 4 = N), one array per read.
    """
    genome = np.asarray(genome, dtype=np.int64)
    lengths = np.minimum(np.asarray(lengths, dtype=np.int64), genome_set.longest_clean[genome])
    n = len(genome)
    start, todo = _clean_starts(genome_set, genome, lengths, rng)
    if len(todo):
        raise PlanktonlmInputError(InputProblem(file=genome_set.names[int(genome[todo[0]])],
                                                message="almost no read of this genome avoids N runs and contig ends",
                                                expected="contigs longer than the longest read with few N runs"))
    longest = int(lengths.max())
    forward = rng.random(n) < 0.5
    bases = _extract(genome_set, start, np.maximum(lengths, longest), forward,
                     _read_through_codes(READ_THROUGH_R1, longest), longest)
    # A reverse read of a shorter read starts at its own right end, not the longest read's.
    reverse = np.flatnonzero(~forward & (lengths < longest))
    if len(reverse):
        bases[reverse] = _extract(genome_set, start[reverse], lengths[reverse], forward[reverse],
                                  _read_through_codes(READ_THROUGH_R1, longest), longest)
    bases, _ = _sequence(bases, _phred_profile(replace(design, read_length=longest), 1.0), design, rng)
    return [bases[i, : lengths[i]] for i in range(n)]
