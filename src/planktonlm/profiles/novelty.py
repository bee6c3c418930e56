"""How much of a sample lies beyond the codebook: read-to-centre distances, their quantiles, novelty.

Every fragment has a distance to its nearest OTU centre (``planktonlm.profiles.assign``: euclidean,
in the L2-normalised space, so 0-2). The run's pooled distances are summarised in ``distances.tsv``; an atlas keeps the one of the run it
was frozen from. A fragment is *novel* when its distance is greater than the threshold: the
``NOVELTY_QUANTILE`` (0.99) quantile of the atlas's distances when the run lands in an atlas,
else of the run's own pooled distances. So about 1% of the reads that built an atlas are novel
by construction, and a new cruise well above 1% holds reads the atlas has not seen.

``distances.tsv`` (tab-separated, one row per quantile, in increasing order)::

    quantile  distance  n_fragments
    0.5       0.1183    12000
    ...       (0.5, 0.9, 0.95, 0.99, 0.999)

``distance``: the quantile (linear interpolation, ``numpy.quantile``) of the pooled distances;
``n_fragments``: how many distances were pooled (the same on every row). No fragment at all:
``distance`` empty, ``n_fragments`` 0.

``novelty.tsv`` (one row per sample, in the run's sample order)::

    sample  n_fragments  n_novel  novelty  threshold

``novelty`` = ``n_novel / n_fragments`` (empty for a sample without fragments); ``threshold``
is the distance used (the same on every row).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import write_tsv
from planktonlm.vocab import NOVELTY_QUANTILE  # the cube documents the same quantile

#: Quantiles of the read-to-centre distance written to distances.tsv
DISTANCE_QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)
DISTANCE_COLUMNS = ["quantile", "distance", "n_fragments"]
NOVELTY_COLUMNS = ["sample", "n_fragments", "n_novel", "novelty", "threshold"]
# read_csv options that read back floats written in shortest round-trip form bit for bit: pandas 3
# does by default (and deprecates the option), pandas 2 only with the round-trip parser.
EXACT_FLOATS = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def distance_quantiles(distances: Sequence[np.ndarray]) -> pd.DataFrame:
    """The ``distances.tsv`` table of the pooled per-sample distance vectors.

    Holds every distance in memory at once (4 bytes per fragment) for exact quantiles.
    """
    pooled = np.concatenate([np.asarray(d, dtype=np.float64) for d in distances]) if distances else np.zeros(0)
    values = np.quantile(pooled, DISTANCE_QUANTILES) if pooled.size else np.full(len(DISTANCE_QUANTILES), np.nan)
    return pd.DataFrame({"quantile": list(DISTANCE_QUANTILES), "distance": values,
                         "n_fragments": np.full(len(DISTANCE_QUANTILES), pooled.size, dtype=np.int64)})


def write_distance_quantiles(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    write_tsv(table[DISTANCE_COLUMNS], path)


def quantile_distance(table: pd.DataFrame, quantile: float = NOVELTY_QUANTILE, *, file: str = "distances.tsv") -> float:
    """The distance at ``quantile`` of a ``distances.tsv`` table (the novelty threshold by default)."""
    row = table[table["quantile"] == quantile]
    if len(row) != 1 or not np.isfinite(row["distance"].iloc[0]):
        raise PlanktonlmInputError(InputProblem(file=file, column="distance", message=f"no distance at quantile {quantile}",
                                                expected="the quantiles of a run with at least one fragment"))
    return float(row["distance"].iloc[0])


def read_distance_quantiles(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A ``distances.tsv`` (an atlas's, or a run's), floats read back bit-exactly."""
    try:
        table = pd.read_csv(path, sep="\t", **EXACT_FLOATS)
    except (OSError, ValueError) as exc:
        raise PlanktonlmInputError(InputProblem(file=str(path), message=f"cannot read the distance quantiles: {exc}")) from exc
    if list(table.columns) != DISTANCE_COLUMNS:
        raise PlanktonlmInputError(InputProblem(file=str(path), value=list(table.columns), message="not a distances.tsv",
                                                expected=f"columns {', '.join(DISTANCE_COLUMNS)}"))
    return table


def novelty_threshold(own: pd.DataFrame, reference: pd.DataFrame | None = None, *, reference_file: str = "") -> float:
    """The atlas's ``NOVELTY_QUANTILE`` distance when a ``reference`` is given, else the run's own
    (``own``: this run's ``distance_quantiles``; NaN when the run has no fragment)."""
    if reference is not None:
        return quantile_distance(reference, file=reference_file or "reference distances.tsv")
    if int(own["n_fragments"].iloc[0]) == 0:
        return float("nan")
    return quantile_distance(own)


def novelty_table(distances: Mapping[str, np.ndarray], threshold: float) -> pd.DataFrame:
    """One row per sample (in the mapping's order): fragments, fragments beyond ``threshold``, their share."""
    rows = []
    for sample, values in distances.items():
        values = np.asarray(values, dtype=np.float64)
        n_novel = int((values > threshold).sum())
        novelty = n_novel / values.size if values.size else np.nan
        rows.append((sample, values.size, n_novel, novelty, threshold))
    table = pd.DataFrame(rows, columns=NOVELTY_COLUMNS)
    return table.astype({"n_fragments": np.int64, "n_novel": np.int64, "novelty": np.float64, "threshold": np.float64})


def write_novelty(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    write_tsv(table[NOVELTY_COLUMNS], path)
