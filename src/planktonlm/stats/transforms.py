"""Community transformations and dissimilarities: the one copy the ecology and shifts stages share.

Tables are samples x features (rows = samples). DataFrames keep their index; arrays get a
RangeIndex. Every bad cell of a table is reported at once (file, row, column, value).

One CLR rule everywhere: zeros have no logarithm, so ``pseudocount x (smallest positive value of
the table)`` is added to every cell before the log. For a count table that is 0.5 counts (half the
smallest non-zero count); for relative abundances it scales with the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform

from planktonlm.errors import InputProblem, PlanktonlmInputError

#: dissimilarities between samples (``euclidean`` on the values as given)
DISTANCES = ("braycurtis", "hellinger", "aitchison", "euclidean")
#: samples x features representations for prediction
FEATURE_TRANSFORMATIONS = ("hellinger", "clr")
DEFAULT_PSEUDOCOUNT = 0.5
_TABLE = "community table"


def as_table(counts, *, integer: bool = False, nonnegative: bool = True) -> pd.DataFrame:
    """The counts as a DataFrame; every non-numeric column and bad cell collected and raised once.
    ``nonnegative=False`` accepts any finite value (values that are not abundances)."""
    frame = counts if isinstance(counts, pd.DataFrame) else pd.DataFrame(np.asarray(counts))
    problems: list[InputProblem] = []
    for column in [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]:
        problems.append(InputProblem(file=_TABLE, column=str(column), message="not numeric", expected="counts"))
    if not problems:
        values = frame.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if nonnegative:
            bad |= values < 0
        if integer:
            bad |= values != np.round(values)
        expected = "a non-negative integer count" if integer else "a finite non-negative value" if nonnegative else "a finite value"
        for row, col in zip(*np.nonzero(bad), strict=True):
            if len(problems) == 20:
                problems.append(InputProblem(file=_TABLE, message=f"... {int(bad.sum()) - 20} more bad cells"))
                break
            problems.append(InputProblem(file=_TABLE, row=int(row) + 1, column=str(frame.columns[col]),
                                         value=float(values[row, col]), message=f"sample {frame.index[row]}: bad value",
                                         expected=expected))
    if problems:
        raise PlanktonlmInputError(problems)
    return frame


def require_nonempty(frame: pd.DataFrame, what: str) -> None:
    """Refuse samples whose total is zero (no relative abundance, no distance)."""
    empty = [str(s) for s, total in zip(frame.index, frame.to_numpy().sum(axis=1), strict=True) if total <= 0]
    if empty:
        raise PlanktonlmInputError(InputProblem(
            file=_TABLE, message=f"{len(empty)} sample(s) with no count: {', '.join(empty)}",
            expected=f"a positive total for {what} (drop the samples or rarefy first)"))


def relative(counts) -> pd.DataFrame:
    """Each row divided by its total (refuses samples with no count)."""
    frame = as_table(counts)
    require_nonempty(frame, "relative abundances")
    values = frame.to_numpy(dtype=np.float64)
    return pd.DataFrame(values / values.sum(axis=1, keepdims=True), index=frame.index, columns=frame.columns)


def hellinger(counts) -> pd.DataFrame:
    """Square root of relative abundances (Legendre & Gallagher 2001)."""
    return np.sqrt(relative(counts))


def clr(counts, pseudocount: float = DEFAULT_PSEUDOCOUNT) -> pd.DataFrame:
    """Centred log-ratio: log(x + pseudocount x smallest positive value) minus its row mean; rows sum to 0."""
    if pseudocount <= 0:
        raise ValueError("pseudocount must be > 0")
    frame = as_table(counts)
    values = frame.to_numpy(dtype=np.float64)
    positive = values[values > 0]
    smallest = float(positive.min()) if positive.size else 1.0
    logs = np.log(values + pseudocount * smallest)
    return pd.DataFrame(logs - logs.mean(axis=1, keepdims=True), index=frame.index, columns=frame.columns)


def community_features(counts, transformation: str, *, pseudocount: float = DEFAULT_PSEUDOCOUNT) -> pd.DataFrame:
    """Samples x features matrix for prediction: ``hellinger`` or ``clr``."""
    if transformation == "hellinger":
        return hellinger(counts)
    if transformation == "clr":
        return clr(counts, pseudocount)
    raise ValueError(f"unknown community transformation {transformation!r}; expected one of {FEATURE_TRANSFORMATIONS}")


def community_distance(counts, metric: str, *, pseudocount: float = DEFAULT_PSEUDOCOUNT) -> pd.DataFrame:
    """Samples x samples dissimilarities: Bray-Curtis on relative abundances, Hellinger, Aitchison (CLR)
    or Euclidean (values as given, negative ones too). Index and columns are the samples."""
    frame = as_table(counts, nonnegative=metric != "euclidean")
    if metric in ("braycurtis", "hellinger", "aitchison"):
        require_nonempty(frame, metric)
    if metric == "braycurtis":
        values = relative(frame).to_numpy()
        condensed = pdist(values, metric="braycurtis")
    elif metric == "hellinger":
        condensed = pdist(hellinger(frame).to_numpy(), metric="euclidean")
    elif metric == "aitchison":
        condensed = pdist(clr(frame, pseudocount).to_numpy(), metric="euclidean")
    elif metric == "euclidean":
        condensed = pdist(frame.to_numpy(dtype=np.float64), metric="euclidean")
    else:
        raise ValueError(f"unknown distance {metric!r}; expected one of {', '.join(DISTANCES)}")
    return pd.DataFrame(squareform(condensed, checks=False), index=frame.index.copy(), columns=frame.index.copy())


def check_distance_matrix(d, name: str = "distance matrix") -> np.ndarray:
    """A symmetric, non-negative, zero-diagonal square matrix as a float array (symmetrised), or an error."""
    if isinstance(d, pd.DataFrame) and not d.index.equals(d.columns):
        raise PlanktonlmInputError(InputProblem(file=name, message="rows and columns list different samples",
                                                expected="the same samples in the same order"))
    values = np.asarray(d, dtype=float)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise PlanktonlmInputError(InputProblem(file=name, message="distance matrix is not square", value=values.shape,
                                                expected="n x n"))
    if not np.all(np.isfinite(values)):
        raise PlanktonlmInputError(InputProblem(file=name, message="distance matrix has missing or infinite values"))
    if np.any(values < 0) or not np.allclose(values, values.T, rtol=1e-7, atol=1e-10) or np.any(np.abs(np.diag(values)) > 1e-10):
        raise PlanktonlmInputError(InputProblem(file=name, message="not a distance matrix",
                                                expected="symmetric, non-negative, zero diagonal"))
    return (values + values.T) / 2.0
