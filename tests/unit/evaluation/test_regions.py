"""Tests for planktonlm.evaluation.regions: the project-fixed held-out genome blocks."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.evaluation.regions import (
    BLOCK_BP,
    HELDOUT_FRACTION,
    block_split,
    fragment_splits,
    split_summary,
    train_starts,
)
from planktonlm.simulate.genomes import CODE_N, Genome

GENOME, CONTIG = "Prochlorococcus_MED4", "NC_005072.1"


def make_genome(name: str, contigs: dict[str, np.ndarray]) -> Genome:
    """A Genome as load_genomes builds it: contigs joined by one N."""
    parts = list(contigs.values())
    lengths = np.array([len(p) for p in parts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    separator = np.array([CODE_N], dtype=np.uint8)
    codes = np.concatenate([x for p in parts for x in (p.astype(np.uint8), separator)][:-1])
    return Genome(name, name, f"{name}.fna", codes, tuple(contigs), starts, lengths)


def test_block_split_hard_values_fixed_for_the_project():
    # Computed once; a change here moves every held-out region of the project.
    assert block_split(GENOME, CONTIG, 12) == "train"
    assert block_split(GENOME, CONTIG, 13) == "reported"
    assert block_split(GENOME, CONTIG, 15) == "tuning"
    assert block_split(GENOME, CONTIG, 21) == "tuning"
    assert block_split(GENOME, CONTIG, 22) == "tuning"


def test_block_split_is_deterministic_and_depends_on_every_key():
    first = [block_split("gA", "c1", b) for b in range(500)]
    assert first == [block_split("gA", "c1", b) for b in range(500)]
    assert first != [block_split("gB", "c1", b) for b in range(500)]
    assert first != [block_split("gA", "c2", b) for b in range(500)]


def test_block_split_fractions_near_design():
    splits = pd.Series([block_split(f"g{g}", "c", b) for g in range(4) for b in range(5000)])
    share = splits.value_counts(normalize=True)
    assert set(share.index) == {"train", "tuning", "reported"}
    assert share["tuning"] == pytest.approx(HELDOUT_FRACTION / 2, abs=0.01)
    assert share["reported"] == pytest.approx(HELDOUT_FRACTION / 2, abs=0.01)
    assert share["train"] == pytest.approx(1 - HELDOUT_FRACTION, abs=0.015)


def test_fragment_splits_hand_made_table():
    b = BLOCK_BP
    rows = [
        (12 * b + 100, 300, "train"),  # inside train block 12
        (13 * b + 10, 400, "reported"),  # inside reported block 13
        (12 * b + 4999, 1, "train"),  # last base of block 12
        (12 * b + 4999, 2, "straddles"),  # into reported block 13
        (15 * b + 4900, 300, "straddles"),  # tuning 15 into train 16
        (21 * b + 4800, 400, "tuning"),  # tuning 21 into tuning 22: same split
        (12 * b, 3 * b, "straddles"),  # train 12 and 14 at the ends, reported 13 between
    ]
    truth = pd.DataFrame({
        "sample": "S1", "genome": GENOME, "contig": CONTIG,
        "start": [r[0] for r in rows], "insert_size": [r[1] for r in rows],
    })
    assert list(fragment_splits(truth)) == [r[2] for r in rows]


def test_fragment_splits_keeps_genomes_and_contigs_apart():
    truth = pd.DataFrame({"genome": ["gA"] * 300 + ["gB"] * 300, "contig": ["c1", "c2"] * 300,
                          "start": np.tile(np.arange(300) * 100, 2), "insert_size": 50})
    expected = [block_split(g, c, s // 100) for g, c, s in zip(truth["genome"], truth["contig"], truth["start"])]
    assert list(fragment_splits(truth, block_bp=100)) == expected


def test_fragment_splits_rejects_bad_tables():
    with pytest.raises(PlanktonlmInputError, match="insert_size"):
        fragment_splits(pd.DataFrame({"genome": ["g"], "contig": ["c"], "start": [0]}))
    with pytest.raises(PlanktonlmInputError, match="start"):
        fragment_splits(pd.DataFrame({"genome": ["g"], "contig": ["c"], "start": [-1], "insert_size": [10]}))


def _brute_force_train_starts(genome: Genome, span: int, block_bp: int) -> list[int]:
    """Reference: check every base of every window against its contig, block and code."""
    contig_of = np.full(len(genome.codes), -1)
    for i, (start, length) in enumerate(zip(genome.contig_starts, genome.contig_lengths)):
        contig_of[start : start + length] = i
    good = []
    for s in range(len(genome.codes) - span + 1):
        window = range(s, s + span)
        contigs = {contig_of[p] for p in window}
        if len(contigs) != 1 or -1 in contigs:
            continue
        c = contigs.pop()
        offset = genome.contig_starts[c]
        if any(genome.codes[p] == CODE_N for p in window):
            continue
        if all(block_split(genome.name, genome.contig_names[c], (p - offset) // block_bp) == "train" for p in window):
            good.append(s)
    return good


def test_train_starts_matches_brute_force():
    rng = np.random.default_rng(3)
    block_bp, span = 7, 9
    first = rng.integers(0, 4, 203)
    # An N in the middle of a train block with train neighbours, so only the N check can exclude it.
    clear = [b for b in range(1, 28) if all(block_split("tiny", "c1", b + d) == "train" for d in (-1, 0, 1))]
    assert clear
    first[clear[0] * block_bp + 3] = CODE_N
    genome = make_genome("tiny", {"c1": first, "c2": rng.integers(0, 4, 150)})
    blocks = [block_split("tiny", c, b) for c, n in (("c1", 203), ("c2", 150)) for b in range(-(-n // block_bp))]
    assert {"train", "tuning", "reported"} <= set(blocks)  # the test exercises held-out blocks
    starts = train_starts(genome, span, block_bp=block_bp)
    assert starts.dtype == np.int64
    assert len(starts) > 50
    assert starts.tolist() == _brute_force_train_starts(genome, span, block_bp)


def test_train_starts_edge_cases():
    genome = make_genome("tiny", {"c1": np.zeros(20, dtype=np.uint8)})
    assert train_starts(genome, 21, block_bp=1000).size == 0
    with pytest.raises(ValueError, match="span"):
        train_starts(genome, 0)


def test_train_starts_large_genome_is_fast():
    genome = make_genome("big", {"c1": np.zeros(3_000_000, dtype=np.uint8), "c2": np.ones(3_000_000, dtype=np.uint8)})
    began = time.perf_counter()
    starts = train_starts(genome, 800)
    assert time.perf_counter() - began < 2.0
    assert 0.6 * len(genome.codes) < len(starts) < 0.9 * len(genome.codes)


def test_split_summary_counts_acgt_bases():
    rng = np.random.default_rng(4)
    first = rng.integers(0, 4, 1000)
    first[:10] = CODE_N
    genome = make_genome("tiny", {"c1": first, "c2": rng.integers(0, 4, 500)})
    summary = split_summary([genome], block_bp=50).set_index("genome")
    row = summary.loc["tiny"]
    assert row[["train_bp", "tuning_bp", "reported_bp"]].sum() == 1490
    expected_train = sum(
        block_split("tiny", c, (p - off) // 50) == "train"
        for c, off, n in (("c1", 0, 1000), ("c2", 1001, 500))
        for p in range(off, off + n) if genome.codes[p] != CODE_N
    )
    assert row["train_bp"] == expected_train
    assert row["heldout_fraction"] == pytest.approx(1 - expected_train / 1490)
