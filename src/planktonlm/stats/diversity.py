"""Alpha diversity of a samples x features count table: rarefaction, richness, Shannon, Simpson.

Pure functions on pandas tables (rows = samples, index = sample id; columns = OTUs); arrays are
accepted too (rows get a RangeIndex). Rarefaction draws from a generator keyed by (seed, sample
id), so a sample's draw does not depend on the other samples of the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.seeding import keyed_rng
from planktonlm.stats.transforms import as_table

logger = logging.getLogger(__name__)

_TABLE = "community table"


@dataclass(frozen=True)
class Rarefaction:
    """Rarefied counts (samples below ``depth`` left out, listed in ``below_depth``)."""

    counts: pd.DataFrame
    depth: int
    below_depth: tuple[str, ...]


def default_depth(counts) -> int:
    """Smallest positive sample total (samples with no count cannot set the depth)."""
    totals = as_table(counts, integer=True).to_numpy(dtype=np.int64).sum(axis=1)
    positive = totals[totals > 0]
    if positive.size == 0:
        raise PlanktonlmInputError(InputProblem(file=_TABLE, message="no sample has any count"))
    return int(positive.min())


def rarefy(counts, depth: int | None = None, seed: int = 0) -> Rarefaction:
    """Subsample every sample to ``depth`` counts without replacement.

    ``depth`` None or 0 = the smallest positive sample total. Samples with fewer counts are
    left out, logged and listed. Each sample draws from a generator keyed by (seed, sample
    id), one multivariate hypergeometric draw per sample, so the result does not depend on
    which other samples are in the table.
    """
    frame = as_table(counts, integer=True)
    if not depth:
        depth = default_depth(frame)
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    values = frame.to_numpy(dtype=np.int64)
    keep = values.sum(axis=1) >= depth
    below = tuple(str(s) for s in frame.index[~keep])
    if below:
        logger.warning("rarefaction to %d: %d sample(s) below depth left out: %s", depth, len(below), ", ".join(below))
    kept_index = frame.index[keep]
    out = np.zeros((int(keep.sum()), values.shape[1]), dtype=np.int64)
    for i, (sample, row) in enumerate(zip(kept_index, values[keep], strict=True)):
        out[i] = keyed_rng(seed, str(sample)).multivariate_hypergeometric(row, depth)
    return Rarefaction(
        counts=pd.DataFrame(out, index=kept_index, columns=frame.columns), depth=int(depth), below_depth=below
    )


def diversity_indices(counts) -> pd.DataFrame:
    """Richness (observed features), Shannon (natural log) and Gini-Simpson (1 - sum p^2) per row."""
    frame = as_table(counts)
    values = frame.to_numpy(dtype=np.float64)
    totals = values.sum(axis=1, keepdims=True)
    p = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    plogp = np.zeros_like(p)
    np.multiply(p, np.log(p, out=np.zeros_like(p), where=p > 0), out=plogp)
    out = pd.DataFrame(
        {
            "richness": (values > 0).sum(axis=1).astype(np.float64),
            "shannon": -plogp.sum(axis=1),
            "simpson": 1.0 - (p**2).sum(axis=1),
        },
        index=frame.index,
    )
    out.loc[totals[:, 0] == 0, ["shannon", "simpson"]] = np.nan
    return out


def alpha_diversity(counts, depth: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Diversity of every sample, on counts rarefied to ``depth`` (None/0 = smallest total).

    Columns: total_count (before rarefaction), depth, rarefied (False = below depth, indices
    NaN), richness, shannon, simpson. Rows: every input sample, in input order.
    """
    frame = as_table(counts, integer=True)
    rarefied = rarefy(frame, depth, seed)
    indices = diversity_indices(rarefied.counts).reindex(frame.index)
    out = pd.DataFrame(
        {
            "total_count": frame.to_numpy(dtype=np.int64).sum(axis=1),
            "depth": np.full(len(frame), rarefied.depth, dtype=np.int64),
            "rarefied": frame.index.isin(rarefied.counts.index),
        },
        index=frame.index,
    )
    return out.join(indices)
