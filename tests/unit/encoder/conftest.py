"""Fixtures of the encoder tests: one torch thread, tiny training pools."""

from __future__ import annotations

import numpy as np
import pytest

from planktonlm.encoder.device import torch_threads
from planktonlm.encoder.tokenizer import reverse_complement
from planktonlm.reads.fragments import PooledFragment


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and spinning threads stall on a busy machine."""
    with torch_threads(1):
        yield


def _make_pool(n: int = 40, seed: int = 0, read_length: int = 40) -> list[PooledFragment]:
    """Fragments of three random genomes of different GC, mates from both ends of 100 bp inserts."""
    rng = np.random.default_rng(seed)
    genomes = ["".join(rng.choice(list("ACGT"), p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], size=2000))
               for gc in (0.3, 0.5, 0.7)]
    pool = []
    for i in range(n):
        genome = genomes[i % 3]
        start = int(rng.integers(0, len(genome) - 100))
        insert = genome[start:start + 100]
        pool.append(PooledFragment(f"s{i % 2}", f"r{i}", insert[:read_length],
                                   reverse_complement(insert[-read_length:])))
    return pool


@pytest.fixture(scope="session")
def make_pool():
    return _make_pool
