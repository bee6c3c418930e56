"""Per-sample read vectors (fragments x dim ``.npy``): opening and checking them, the balanced pool, the mean vector.

Each sample arrives as a ``.npy`` matrix written by an earlier stage: transformer embeddings
(float16) for the embedding profile, canonical k-mer frequencies (``planktonlm.reads.kmers``) for
the baseline. Files are memory-mapped and streamed in blocks, never loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.profiles.codebook import BLOCK_ROWS
from planktonlm.seeding import keyed_rng

# Rows read at a time from a memory-mapped sample (a multiple of the codebook's distance block).
STREAM_ROWS = 16 * BLOCK_ROWS


def open_vectors(source) -> np.ndarray:
    """A 2-D array for an in-memory array or a ``.npy`` path (memory-mapped, read lazily)."""
    if isinstance(source, np.ndarray):
        return source
    return np.load(Path(source), mmap_mode="r", allow_pickle=False)


def iter_blocks(arr: np.ndarray, rows: int = STREAM_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, float64 block of ``rows`` rows) over a sample, read a block at a time."""
    for start in range(0, arr.shape[0], rows):
        yield start, np.asarray(arr[start : start + rows], dtype=np.float64)


def _read_ids_beside(path: Path) -> int | None:
    """Number of read ids in the ``.txt`` beside an ``.npy`` (None when there is none)."""
    ids = path.with_suffix(".txt")
    if not ids.is_file():
        return None
    with ids.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def check_sources(sources: Mapping[str, object]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Open and check every sample's vectors; return arrays and float64 row sums.

    One streaming pass per sample checks finiteness and accumulates the sum for the mean
    embedding. Every problem of every sample is collected, then raised once.
    """
    problems: list[InputProblem] = []
    arrays: dict[str, np.ndarray] = {}
    sums: dict[str, np.ndarray] = {}
    dims: dict[int, str] = {}
    for sample, source in sources.items():
        where = str(source) if not isinstance(source, np.ndarray) else f"vectors of sample {sample}"
        try:
            arr = open_vectors(source)
        except (OSError, ValueError) as exc:
            problems.append(InputProblem(file=where, message=f"cannot read vectors of sample {sample}: {exc}"))
            continue
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
            problems.append(
                InputProblem(
                    file=where,
                    message=f"sample {sample}: array of shape {arr.shape} and dtype {arr.dtype}",
                    expected="a 2-D float array (fragments x dim)",
                )
            )
            continue
        dims.setdefault(arr.shape[1], sample)
        if not isinstance(source, np.ndarray):
            n_ids = _read_ids_beside(Path(source))
            if n_ids is not None and n_ids != arr.shape[0]:
                problems.append(
                    InputProblem(
                        file=str(Path(source).with_suffix(".txt")),
                        value=n_ids,
                        message=f"sample {sample}: {n_ids} read ids for {arr.shape[0]} vectors",
                        expected="one read id per vector row",
                    )
                )
        total = np.zeros(arr.shape[1], dtype=np.float64)
        for start, block in iter_blocks(arr):
            finite = np.isfinite(block).all(axis=1)
            if not finite.all():
                row = start + int(np.flatnonzero(~finite)[0])
                problems.append(
                    InputProblem(
                        file=where,
                        row=row + 1,
                        message=f"sample {sample}: vector contains NaN or infinity",
                        expected="finite values (a float16 overflow in the embedding stage?)",
                    )
                )
                break
            total += block.sum(axis=0)
        arrays[sample] = arr
        sums[sample] = total
    if len(dims) > 1:
        seen = ", ".join(f"{dim} (sample {s})" for dim, s in dims.items())
        problems.append(
            InputProblem(file="profile inputs", message=f"vectors differ in dimension: {seen}", expected="one dim")
        )
    if problems:
        raise PlanktonlmInputError(problems)
    return arrays, sums


def sample_balanced_pool(per_sample, n_per_sample: int, seed: int) -> np.ndarray:
    """Pool ``n_per_sample`` fragments of every sample (all of a sample that has fewer).

    ``per_sample`` maps sample id -> array or ``.npy`` path (a plain sequence is keyed by
    position). Draws without replacement with a generator keyed by (seed, sample id); the
    chosen rows keep their file order and samples keep the given order, so the pool is
    deterministic. Returns the stacked rows in the inputs' dtype (float16 stays float16).
    """
    if n_per_sample < 1:
        raise ValueError("n_per_sample must be >= 1")
    items = per_sample.items() if isinstance(per_sample, Mapping) else enumerate(per_sample)
    parts = []
    for key, source in items:
        arr = open_vectors(source)
        n = arr.shape[0]
        if n <= n_per_sample:
            rows = np.arange(n)
        else:
            rows = np.sort(keyed_rng(seed, str(key)).choice(n, size=n_per_sample, replace=False))
        parts.append(np.asarray(arr[rows]))
    if not parts:
        raise ValueError("no samples to pool")
    return np.concatenate(parts, axis=0)


def mean_embedding_table(per_sample) -> pd.DataFrame:
    """Samples x dims mean vector (float64), columns dim_0000 ...; NaN for a sample with no fragment.

    An extra output only: mean embeddings lose the community signal (see DESIGN.md).
    """
    arrays, sums = check_sources(dict(per_sample))
    return mean_table(arrays, sums)


def mean_table(arrays: Mapping[str, np.ndarray], sums: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The mean vector table from ``check_sources``' arrays and row sums (see ``mean_embedding_table``)."""
    dim = next(iter(arrays.values())).shape[1] if arrays else 0
    width = max(4, len(str(dim - 1)))
    rows = []
    for sample, arr in arrays.items():
        n = arr.shape[0]
        rows.append(sums[sample] / n if n else np.full(dim, np.nan))
    data = np.vstack(rows) if rows else np.zeros((0, dim))
    index = pd.Index(list(arrays), name="sample")
    return pd.DataFrame(data, index=index, columns=[f"dim_{i:0{width}d}" for i in range(dim)])
