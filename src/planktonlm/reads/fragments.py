"""Fragments (a read, or the two mates of a pair) streamed from QC'd FASTQ, and seeded subsamples.

Every profile of a sample (encoder embedding and k-mer baseline alike) takes the same seeded
subsample (:func:`select_fragments`); the encoder's training pool takes a balanced one per
sample (:func:`sample_training_pool`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple, TypeVar

import numpy as np

from planktonlm.reads.fastq import PathLike, iter_fastq, iter_mate_pairs
from planktonlm.seeding import derive_seed

logger = logging.getLogger(__name__)


class Fragment(NamedTuple):
    """One sequenced fragment: its read id (mate suffix removed), read 1, and read 2 or None."""

    read_id: str
    seq1: str
    seq2: str | None


class PooledFragment(NamedTuple):
    """A fragment of the training pool, with the sample it came from."""

    sample: str
    read_id: str
    seq1: str
    seq2: str | None


def fragment_id(record_id: str) -> str:
    """Read id without a trailing mate suffix ``/1`` or ``/2`` (so both mates share one id)."""
    return record_id[:-2] if record_id.endswith(("/1", "/2")) else record_id


def iter_fragments(r1: PathLike, r2: PathLike | None) -> Iterator[Fragment]:
    """Stream the fragments of a sample in file order, in constant memory.

    Mates are read in lockstep; a count or name mismatch raises PlanktonlmInputError.
    """
    if r2 is None:
        for record in iter_fastq(r1):
            yield Fragment(fragment_id(record.id), record.sequence, None)
        return
    for record1, record2 in iter_mate_pairs(r1, r2):
        yield Fragment(fragment_id(record1.id), record1.sequence, record2.sequence)


T = TypeVar("T")
_DRAW_CHUNK = 4096  # uniforms drawn per RNG call in reservoir_sample


def reservoir_sample(items: Iterable[T], cap: int, seed: int) -> list[T]:
    """A seeded uniform sample of at most ``cap`` items (all if ``cap == 0``), in input order.

    Reservoir sampling (Algorithm R): one pass, at most ``cap`` items held. The random draws
    depend only on ``seed`` and the item index, so the same input and seed give the same sample.
    """
    if cap < 0:
        raise ValueError(f"cap must be >= 0, got {cap}")
    if cap == 0:
        return list(items)
    rng = np.random.default_rng(seed)
    reservoir: list[tuple[int, T]] = []
    draws = np.empty(0)
    for index, item in enumerate(items):
        if index < cap:
            reservoir.append((index, item))
            continue
        offset = (index - cap) % _DRAW_CHUNK
        if offset == 0:
            # Uniforms drawn in fixed-size chunks: as reproducible as one draw per item, faster.
            draws = rng.random(_DRAW_CHUNK)
        slot = int(draws[offset] * (index + 1))  # uniform in 0..index
        if slot < cap:
            reservoir[slot] = (index, item)
    reservoir.sort(key=lambda pair: pair[0])
    return [item for _, item in reservoir]


def select_fragments(r1: PathLike, r2: PathLike | None, cap: int, seed: int) -> list[Fragment]:
    """A seeded uniform subsample of at most ``cap`` fragments of a sample, in file order.

    ``cap == 0`` keeps every fragment. Streams the files once holding at most ``cap``
    fragments (:func:`reservoir_sample`); same files and seed, same fragments. Every profile
    of a sample (embedding, k-mer baseline) calls this with the same seed.
    """
    return reservoir_sample(iter_fragments(r1, r2), cap, seed)


def sample_training_pool(
    per_sample_paths: Mapping[str, tuple[PathLike, PathLike | None]], n_per_sample: int, seed: int
) -> list[PooledFragment]:
    """The encoder's training pool: up to ``n_per_sample`` fragments of every sample.

    Sample-balanced (a deeply sequenced sample does not dominate); each sample's subsample is
    :func:`select_fragments` with the seed ``derive_seed(seed, sample)``. Samples in sorted order.
    """
    pool: list[PooledFragment] = []
    for sample in sorted(per_sample_paths):
        r1, r2 = per_sample_paths[sample]
        chosen = select_fragments(r1, r2, n_per_sample, derive_seed(seed, sample))
        pool.extend(PooledFragment(sample, f.read_id, f.seq1, f.seq2) for f in chosen)
        logger.info("training pool: %s gives %d fragments", sample, len(chosen))
    return pool
