"""Held-out genome regions, fixed for the project: the same blocks are held out for every cruise.

Every contig is cut into blocks of ``BLOCK_BP`` bases; a stable hash of (genome, contig, block)
sends each block to "train", "tuning" (for choosing recipes) or "reported" (for the published
figures). The split depends on names only, never on a cruise seed, so an encoder pretrained on
one cruise's train blocks is evaluated honestly on the held-out blocks of any other cruise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.simulate.genomes import CODE_N, Genome

# 5 kb blocks are longer than any simulated fragment, so a read inside a held-out block shares
# no bases with pretraining fragments drawn from train blocks.
BLOCK_BP = 5000
# 20 % held out keeps most of each genome for training; half of it tunes recipes, half is reported.
HELDOUT_FRACTION = 0.2
TUNING_FRACTION = HELDOUT_FRACTION / 2

TRAIN, TUNING, REPORTED, STRADDLES = "train", "tuning", "reported", "straddles"
SPLITS = (TRAIN, TUNING, REPORTED)
_SPLIT_INDEX = {name: i for i, name in enumerate(SPLITS)}
_NOT_IN_CONTIG = -1  # position code of a contig join in a genome's split map

TRUTH_COLUMNS = ("genome", "contig", "start", "insert_size")
_TRUTH_FILE = "truth/read_origin.tsv.gz"


def block_split(genome: str, contig: str, block: int) -> str:
    """The split ("train" | "tuning" | "reported") of one block, from a hash stable across processes."""
    digest = hashlib.blake2b(f"{genome}\t{contig}\t{int(block)}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    if u < TUNING_FRACTION:
        return TUNING
    if u < HELDOUT_FRACTION:
        return REPORTED
    return TRAIN


def _check_block_bp(block_bp: int) -> int:
    if int(block_bp) < 1:
        raise ValueError(f"block_bp must be >= 1, got {block_bp}")
    return int(block_bp)


def _check_truth(truth: pd.DataFrame) -> None:
    missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise PlanktonlmInputError([
            InputProblem(file=_TRUTH_FILE, column=c, message="column missing", expected=f"columns {', '.join(TRUTH_COLUMNS)}")
            for c in missing
        ])
    problems = []
    for column, lowest in (("start", 0), ("insert_size", 1)):
        values = pd.to_numeric(truth[column], errors="coerce")
        bad = np.flatnonzero(~(values >= lowest).to_numpy())
        if bad.size:
            problems.append(InputProblem(file=_TRUTH_FILE, row=int(bad[0]) + 1, column=column, value=truth[column].iloc[bad[0]],
                                         message=f"{bad.size} row(s) with a bad {column}", expected=f"an integer >= {lowest}"))
    if problems:
        raise PlanktonlmInputError(problems)


def fragment_splits(truth: pd.DataFrame, *, block_bp: int = BLOCK_BP) -> np.ndarray:
    """The split of every fragment of a read_origin table (one str per row, in row order).

    A fragment [start, start + insert_size) takes the split of the block(s) it lies in when they
    all agree, and "straddles" when it crosses into a block of another split (such reads belong to
    no split: part of them may have been seen in pretraining).
    """
    block_bp = _check_block_bp(block_bp)
    _check_truth(truth)
    n = len(truth)
    if n == 0:
        return np.array([], dtype=object)
    start = truth["start"].to_numpy(dtype=np.int64)
    first = start // block_bp
    last = (start + truth["insert_size"].to_numpy(dtype=np.int64) - 1) // block_bp
    pair_code, pair_index = pd.MultiIndex.from_arrays([truth["genome"].astype(str), truth["contig"].astype(str)]).factorize()
    pairs = list(pair_index)  # (genome, contig) tuples; indexing a MultiIndex per key is slow
    # One hash per distinct (genome, contig, block), not per row.
    blocks_per_pair = int(last.max()) + 1
    keys = np.concatenate([pair_code * blocks_per_pair + first, pair_code * blocks_per_pair + last])
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    unique_split = np.array([
        _SPLIT_INDEX[block_split(*pairs[int(key // blocks_per_pair)], int(key % blocks_per_pair))] for key in unique_keys
    ], dtype=np.int8)
    split_of = unique_split[inverse]
    first_split, last_split = split_of[:n], split_of[n:]
    result = np.array(SPLITS, dtype=object)[first_split]
    result[first_split != last_split] = STRADDLES
    # A fragment longer than a block also crosses the blocks between its first and last (rare).
    for row in np.flatnonzero((last - first >= 2) & (first_split == last_split)):
        genome, contig = pairs[int(pair_code[row])]
        if any(block_split(genome, contig, int(b)) != result[row] for b in range(first[row] + 1, last[row])):
            result[row] = STRADDLES
    return result


def _position_splits(genome: Genome, block_bp: int) -> np.ndarray:
    """Split index (0 train, 1 tuning, 2 reported) of every position of ``genome.codes``; -1 at contig joins."""
    out = np.full(len(genome.codes), _NOT_IN_CONTIG, dtype=np.int8)
    for contig, offset, length in zip(genome.contig_names, genome.contig_starts, genome.contig_lengths):
        offset, length = int(offset), int(length)
        n_blocks = -(-length // block_bp)
        block_index = np.array([_SPLIT_INDEX[block_split(genome.name, contig, b)] for b in range(n_blocks)], dtype=np.int8)
        out[offset : offset + length] = np.repeat(block_index, block_bp)[:length]
    return out


def train_starts(genome: Genome, span: int, *, block_bp: int = BLOCK_BP) -> np.ndarray:
    """Every offset s into ``genome.codes`` whose window [s, s + span) may feed pretraining.

    The window lies inside one contig, in "train" blocks only, and holds no N; so pretraining
    fragments of length <= span drawn from these starts never touch a held-out base.
    """
    block_bp = _check_block_bp(block_bp)
    if int(span) < 1:
        raise ValueError(f"span must be >= 1, got {span}")
    span = int(span)
    n = len(genome.codes)
    if span > n:
        return np.zeros(0, dtype=np.int64)
    usable = (_position_splits(genome, block_bp) == _SPLIT_INDEX[TRAIN]) & (genome.codes != CODE_N)
    # Contig joins are not usable, so a window of usable positions lies inside one contig.
    unusable_before = np.concatenate([[0], np.cumsum(~usable, dtype=np.int64)])
    clean = unusable_before[span:] == unusable_before[: n - span + 1]
    return np.flatnonzero(clean).astype(np.int64)


def split_summary(genomes: Sequence[Genome], *, block_bp: int = BLOCK_BP) -> pd.DataFrame:
    """Bases (A/C/G/T only) of each genome in train / tuning / reported blocks, for the model card."""
    block_bp = _check_block_bp(block_bp)
    rows = []
    for genome in genomes:
        splits = _position_splits(genome, block_bp)[genome.codes != CODE_N]
        counts = np.bincount(splits[splits >= 0], minlength=len(SPLITS))
        total = int(counts.sum())
        rows.append({"genome": genome.name, **{f"{name}_bp": int(counts[i]) for i, name in enumerate(SPLITS)},
                     "heldout_fraction": (total - int(counts[0])) / total if total else 0.0})
    columns = ["genome", *(f"{name}_bp" for name in SPLITS), "heldout_fraction"]
    return pd.DataFrame(rows, columns=columns)
