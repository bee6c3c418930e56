"""One sample's fragments assigned to a codebook, and the per-sample rows collected into the run's tables.

Per sample (a job of its own, so that adding a cruise runs only the new samples):

    counts     ``{sample}.counts.tsv``: one row, ``sample`` then the OTU columns (eotu_0001 ...)
    distances  ``{sample}.distances.npy``: float32, one value per fragment in file order, the
               euclidean distance in the L2-normalised space to the nearest OTU centre
               (0 = on the centre, 2 = opposite direction)
    mean       ``{sample}.mean.tsv``: one row, the sample's mean vector (dim_0000 ...)

The assignment is the codebook's own (``EmbeddingCodebook.predict``: the same blocks, the same
arithmetic, the lowest OTU index on ties), so counts do not depend on whether the codebook was
fitted in this run or read from an atlas. ``collect_tables`` stacks the rows in the run's sample
order into exactly the tables a single pass over every sample would have written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.profiles.codebook import _assign, _l2_normalise, _row_sq_norms
from planktonlm.profiles.novelty import EXACT_FLOATS
from planktonlm.profiles.tables import build_profile_table
from planktonlm.profiles.vectors import check_sources, iter_blocks, mean_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleAssignment:
    """One sample against a codebook: what ``assign_profile`` writes, in memory."""

    labels: np.ndarray  # (fragments,) int64, 0-based OTU index
    distances: np.ndarray  # (fragments,) float32, distance to that OTU's centre
    counts: pd.DataFrame  # one row: fragments per OTU
    mean: pd.DataFrame  # one row: mean vector (NaN without fragments)


def load_codebook(path: str | os.PathLike[str]) -> np.ndarray:
    """The (K, dim) float64 centres of a codebook ``.npy`` (as ``fit_codebook`` writes them)."""
    try:
        centres = np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PlanktonlmInputError(InputProblem(file=str(path), message=f"cannot read the codebook: {exc}")) from exc
    if centres.ndim != 2 or centres.shape[0] < 1 or not np.issubdtype(centres.dtype, np.floating):
        raise PlanktonlmInputError(InputProblem(file=str(path), value=f"{centres.dtype} {centres.shape}",
                                                message="not a codebook", expected="a (K, dim) float array of OTU centres"))
    return np.asarray(centres, dtype=np.float64)


def nearest_otus(vectors: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest OTU (int64) and the euclidean distance to its centre (float32) of every fragment.

    Streams ``vectors`` (fragments x dim, array or memory map) in the blocks the codebook's
    ``predict`` sees in a full run, so labels are bit-identical to it.
    """
    # The codebook's own steps (``predict`` is exactly these, but returns no distance).
    labels, distances = [], []
    for _, block in iter_blocks(vectors):
        unit = _l2_normalise(block)
        block_labels, sq_distances = _assign(unit, _row_sq_norms(unit), centres)
        labels.append(block_labels)
        distances.append(np.sqrt(sq_distances).astype(np.float32))
    if not labels:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    return np.concatenate(labels), np.concatenate(distances)


def assign_sample(sample: str, vectors: object, centres: np.ndarray, prefix: str) -> SampleAssignment:
    """Assign every fragment of ``sample`` (``.npy`` path or array) to the codebook ``centres``.

    The vectors are checked as in a full run (finite, read ids beside the file); a sample with no
    fragment gives a row of zeros, no distance and a NaN mean.
    """
    arrays, sums = check_sources({sample: vectors})
    arr = arrays[sample]
    if arr.shape[1] != centres.shape[1]:
        where = str(vectors) if not isinstance(vectors, np.ndarray) else f"vectors of sample {sample}"
        raise PlanktonlmInputError(InputProblem(
            file=where, value=arr.shape[1], message=f"sample {sample}: vectors of dimension {arr.shape[1]}",
            expected=f"the codebook's dimension {centres.shape[1]} (same encoder, same k-mer length)"))
    labels, distances = nearest_otus(arr, centres)
    counts = build_profile_table({sample: labels}, centres.shape[0], prefix)
    if arr.shape[0] == 0:
        logger.warning("sample %s has no fragment: its profile is all zeros", sample)
    return SampleAssignment(labels=labels, distances=distances, counts=counts, mean=mean_table(arrays, sums))


def read_sample_row(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A one-row table written by ``write_profile``, floats read back bit for bit."""
    try:
        return pd.read_csv(path, sep="\t", index_col="sample", dtype={"sample": str}, **EXACT_FLOATS)
    except (OSError, ValueError) as exc:
        raise PlanktonlmInputError(InputProblem(file=str(path), message=f"cannot read the per-sample table: {exc}")) from exc


def collect_tables(samples: Sequence[str], paths: Sequence[str | os.PathLike[str]], what: str) -> pd.DataFrame:
    """Stack per-sample one-row tables (``what``: counts or mean) in ``samples`` order.

    Each file must hold exactly its sample's row and every file the same columns.
    """
    if len(samples) != len(paths):
        raise PlanktonlmInputError(InputProblem(
            file=f"collect {what}", value=len(paths), message=f"{len(paths)} {what} files for {len(samples)} samples",
            expected="one file per sample, in the order of params samples"))
    problems: list[InputProblem] = []
    rows = []
    for sample, path in zip(samples, paths):
        row = read_sample_row(path)
        if row.index.tolist() != [sample]:
            problems.append(InputProblem(file=str(path), column="sample", value=row.index.tolist(),
                                         message=f"{what} row of the wrong sample", expected=f"one row, sample {sample}"))
        elif rows and row.columns.tolist() != rows[0].columns.tolist():
            problems.append(InputProblem(file=str(path), message=f"{what} columns differ from those of {paths[0]}",
                                         expected="the same codebook (or vector dimension) for every sample"))
        rows.append(row)
    if problems:
        raise PlanktonlmInputError(problems)
    if not rows:
        raise PlanktonlmInputError(InputProblem(file=f"collect {what}", message="no samples given"))
    table = pd.concat(rows, axis=0)
    table.index.name = "sample"
    return table


def load_distances(paths: Sequence[str | os.PathLike[str]]) -> list[np.ndarray]:
    """The per-sample distance vectors (float32, 1-D) of ``assign_profile``, in the given order."""
    out = []
    for path in paths:
        try:
            distances = np.load(Path(path), allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise PlanktonlmInputError(InputProblem(file=str(path), message=f"cannot read distances: {exc}")) from exc
        if distances.ndim != 1:
            raise PlanktonlmInputError(InputProblem(file=str(path), value=distances.shape, message="not a distance vector",
                                                    expected="one distance per fragment (1-D)"))
        out.append(distances)
    return out
