"""Small I/O helpers shared by every stage: atomic writes, checksums, logging set-up."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike | None) -> Iterator[str | None]:
    """Yield a temporary sibling path; move it onto ``path`` only if the block succeeds.

    A crash or an exception leaves no file at ``path`` that could pass for complete output.
    ``None`` passes through (for optional outputs such as R2 of single-end data).
    """
    if path is None:
        yield None
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The tmp name keeps the real suffix (.gz, .parquet) so writers pick the right format.
    tmp = path.with_name(f".tmp-{os.getpid()}.{path.name}")
    try:
        yield str(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def setup_logging(log_path: str | None = None, level: int = logging.INFO) -> None:
    """Send package log lines to a rule's log file (or stderr), one format everywhere."""
    handler: logging.Handler = logging.FileHandler(log_path, mode="a") if log_path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger("planktonlm")
    root.handlers[:] = [handler]
    root.setLevel(level)


def write_tsv(table, path: str | os.PathLike) -> None:
    """A DataFrame as tab-separated text, atomically, with '\n' line ends and no index."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an ``.npy`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
