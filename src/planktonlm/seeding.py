"""The one way planktonlm derives a random seed: from the config's ``seed`` and string keys."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *keys: str) -> int:
    """A 63-bit seed derived from ``seed`` and string keys (e.g. a sample id), stable across runs."""
    text = "\x1f".join([str(seed), *keys]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1
