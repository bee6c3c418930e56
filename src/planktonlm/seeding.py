"""Every random choice of planktonlm is seeded here, from the config's ``seed`` and string keys.

Keys are names (a sample id, a purpose such as "init" or "val-split"), never positions, so adding
a sample or a step does not move the draws of the others, and no seed depends on Python's
per-process ``hash()``. New code uses :func:`derive_seed` (an int seed for torch or numpy) or
:func:`keyed_rng` (a numpy generator). The simulator's :func:`random_stream` and the statistics'
:func:`purpose_seed` are older derivations of the same idea, kept because changing them would
change every simulated cruise and every table a published run has reproduced.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np


def derive_seed(seed: int, *keys: str) -> int:
    """A 63-bit seed derived from ``seed`` and string keys (e.g. a sample id), stable across runs."""
    text = "\x1f".join([str(seed), *keys]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def keyed_rng(seed: int, key: str) -> np.random.Generator:
    """A numpy generator that depends on ``seed`` and ``key`` only (e.g. a sample id)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


def purpose_seed(seed: int, label: str) -> int:
    """A 32-bit seed for one purpose of the statistics (a permutation test, a CV repeat)."""
    return int(np.random.SeedSequence([seed, zlib.crc32(label.encode())]).generate_state(1)[0])


def random_stream(seed: int, *key: int) -> np.random.Generator:
    """A generator of its own for the stream ``key`` (SeedSequence spawn key) of ``seed``.

    Streams with different keys are independent: drawing more from one never moves another.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
