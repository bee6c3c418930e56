"""Cross-validation folds for time series: whole groups held out, a buffer in time, honest sizes.

A station's samples resemble each other and their neighbours in time, so a fold never splits a
group, and where test and training samples share a series the training samples within
``buffer_days`` of the test block are dropped. ``auto`` takes the first grouping that gives at
least 3 folds none of which holds under ``MIN_FOLD_FRACTION`` of the samples: cruise (with 3 or
more cruises), station, year, station x year, then contiguous time blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.stats.permutations import SamplingDesign

GROUPINGS = ("auto", "cruise", "station", "year", "station_year", "time_block", "sample")
MIN_FOLDS = 3
MIN_FOLD_FRACTION = 0.1
_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class FoldPlan:
    """Splits of every repeat: ``splits[r]`` = list of (fold, train indices, test indices)."""

    grouping: str
    groups: np.ndarray  # group label of every sample
    fold_of: np.ndarray  # (repeats, n) fold of every sample
    splits: tuple[tuple[tuple[int, np.ndarray, np.ndarray], ...], ...]
    buffer_days: float

    @property
    def n_splits(self) -> int:
        return len(self.splits[0])

    def describe(self) -> str:
        sizes = sorted(len(test) for _, _, test in self.splits[0])
        buffer = f", {self.buffer_days:g}-day buffer" if self.buffer_days > 0 and self.grouping not in ("station", "cruise", "sample") else ""
        return f"{self.grouping} ({self.n_splits} folds of {min(sizes)}-{max(sizes)} samples{buffer})"

    def restrict(self, mask: np.ndarray) -> FoldPlan:
        """The same plan on a subset of the samples (indices renumbered)."""
        new = np.full(len(mask), -1)
        new[mask] = np.arange(int(mask.sum()))
        splits = tuple(tuple((f, new[tr[mask[tr]]], new[te[mask[te]]]) for f, tr, te in rep) for rep in self.splits)
        splits = tuple(tuple(s for s in rep if len(s[1]) and len(s[2])) for rep in splits)
        return FoldPlan(self.grouping, self.groups[mask], self.fold_of[:, mask], splits, self.buffer_days)


def group_labels(meta: pd.DataFrame, design: SamplingDesign, grouping: str, *, n_splits: int) -> np.ndarray:
    """Group label of every sample under ``grouping`` (not ``auto``)."""
    n = design.n_samples
    if grouping == "cruise":
        if "cruise" not in meta.columns:
            raise PlanktonlmInputError(InputProblem(file="samples metadata", column="cruise", message="cross-validation by cruise needs a cruise column",
                                                    expected="a cruise per sample, or cv_grouping auto / station / year"))
        return meta["cruise"].astype(str).to_numpy()
    if grouping == "station":
        return design.station.astype(str)
    if grouping == "sample":
        return np.arange(n).astype(str)
    if not np.all(np.isfinite(design.days)):
        raise PlanktonlmInputError(InputProblem(file="samples metadata", column="datetime", value=int((~np.isfinite(design.days)).sum()),
                                                message=f"cross-validation by {grouping} needs a date for every sample",
                                                expected="dates, or cv_grouping station / cruise / sample"))
    years = pd.to_datetime(design.days * 86400.0, unit="s", utc=True).year.to_numpy()
    if grouping == "year":
        return years.astype(str)
    if grouping == "station_year":
        return np.array([f"{s}|{y}" for s, y in zip(design.station, years)])
    # Contiguous time blocks of equal sample count.
    rank = np.argsort(np.argsort(design.days, kind="stable"), kind="stable")
    return np.array([f"block_{b:02d}" for b in rank * n_splits // n])


def _assign(groups: np.ndarray, n_splits: int, n_repeats: int, seed: int) -> np.ndarray:
    """Fold of every sample per repeat: leave-one-group-out with at most ``n_splits`` groups, else
    groups in a seeded random order each to the fold with the fewest samples so far."""
    labels, codes = np.unique(groups, return_inverse=True)
    if len(labels) <= n_splits:
        return codes[None, :].astype(np.intp)
    sizes = np.bincount(codes)
    rng = np.random.default_rng(seed)
    folds = np.empty((n_repeats, len(codes)), dtype=np.intp)
    for r in range(n_repeats):
        fold_of_group = np.empty(len(labels), dtype=np.intp)
        load = np.zeros(n_splits)
        for g in rng.permutation(len(labels)):
            fold_of_group[g] = int(np.argmin(load))
            load[fold_of_group[g]] += sizes[g]
        folds[r] = fold_of_group[codes]
    return folds


def _acceptable(fold_of: np.ndarray) -> bool:
    counts = np.bincount(fold_of[0])
    counts = counts[counts > 0]
    return len(counts) >= MIN_FOLDS and counts.min() >= MIN_FOLD_FRACTION * fold_of.shape[1]


def make_fold_plan(meta: pd.DataFrame, design: SamplingDesign, grouping: str = "auto", *, n_splits: int = 5,
                   n_repeats: int = 5, buffer_days: float = 60.0, seed: int = 0) -> FoldPlan:
    """Folds for every repeat under ``grouping`` (see the module docstring for ``auto``)."""
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")
    dated = bool(np.all(np.isfinite(design.days)))
    if grouping == "auto":
        candidates = (["cruise"] if "cruise" in meta.columns and meta["cruise"].nunique() >= MIN_FOLDS else []) + ["station"]
        candidates += ["year", "station_year", "time_block"] if dated else ["sample"]
        for name in candidates:
            fold_of = _assign(group_labels(meta, design, name, n_splits=n_splits), n_splits, n_repeats, seed)
            if _acceptable(fold_of):
                grouping = name
                break
        else:
            grouping = candidates[-1]
    groups = group_labels(meta, design, grouping, n_splits=n_splits)
    fold_of = _assign(groups, n_splits, n_repeats, seed)
    if len(np.unique(fold_of[0])) < 2:
        raise PlanktonlmInputError(InputProblem(file="samples metadata", value=grouping, message="cross-validation needs at least 2 groups",
                                                expected="more stations, cruises, years or samples"))
    buffered = dated and buffer_days > 0 and grouping in ("year", "station_year", "time_block")
    series = design.series
    splits = []
    for row in fold_of:
        rep = []
        for fold in np.unique(row):
            test = np.flatnonzero(row == fold)
            train = row != fold
            if buffered:
                # Training samples of a test series (all series for year / time blocks) within
                # buffer_days of the test block's span are too close to be independent of it.
                same = np.isin(series, series[test]) if grouping == "station_year" else np.ones(len(row), dtype=bool)
                lo, hi = design.days[test].min() - buffer_days, design.days[test].max() + buffer_days
                train &= ~(same & (design.days >= lo) & (design.days <= hi))
            train_idx = np.flatnonzero(train)
            if len(train_idx) and len(test):
                rep.append((int(fold), train_idx, test))
        splits.append(tuple(rep))
    return FoldPlan(grouping, groups, fold_of, tuple(splits), float(buffer_days) if buffered else 0.0)
