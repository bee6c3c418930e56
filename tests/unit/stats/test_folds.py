"""Tests of planktonlm.stats.folds: grouped cross-validation folds with a time buffer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.stats.folds import FoldPlan, group_labels, make_fold_plan
from planktonlm.stats.permutations import SamplingDesign


def monthly_meta(n_stations: int, n_months: int, depths=(5.0,), start: str = "2020-01-01") -> pd.DataFrame:
    dates = pd.date_range(start, periods=n_months, freq="MS", tz="UTC") + pd.Timedelta(days=14)
    rows = [dict(station=f"st{s}", depth_m=d, datetime=t.strftime("%Y-%m-%dT%H:%M:%SZ"))
            for s in range(n_stations) for d in depths for t in dates]
    return pd.DataFrame(rows)


def check_plan(plan: FoldPlan, n: int) -> None:
    """Every repeat: folds hold whole groups; train and test never overlap; every sample tested once."""
    for r, rep in enumerate(plan.splits):
        tested = np.concatenate([test for _, _, test in rep])
        assert np.array_equal(np.sort(tested), np.arange(n))
        for fold, train, test in rep:
            assert not set(plan.groups[train]) & set(plan.groups[test])
            assert not np.intersect1d(train, test).size
            assert np.all(plan.fold_of[r, test] == fold)


def test_two_cruises_do_not_make_folds_stations_do():
    """The issue's case: 3 stations x 2 depths x 12 months, cruise "HX2024" but for the last date
    ("HX2025"). Two cruises, one of them a single date, are no basis for cross-validation."""
    meta = monthly_meta(3, 12, depths=(5.0, 50.0))
    last = meta["datetime"] == meta["datetime"].max()
    meta["cruise"] = np.where(last, "HX2025", "HX2024")
    design = SamplingDesign.from_frame(meta)
    plan = make_fold_plan(meta, design, "auto", n_splits=5, n_repeats=3)
    assert plan.grouping == "station"
    assert plan.n_splits >= 3
    sizes = [len(test) for _, _, test in plan.splits[0]]
    assert min(sizes) >= 0.1 * len(meta)
    assert plan.buffer_days == 0  # whole stations held out: no time buffer needed
    check_plan(plan, len(meta))
    # Three cruises, but two of them a single date (6 of 72 samples): still stations.
    first = meta["datetime"] == meta["datetime"].min()
    meta["cruise"] = np.where(last, "HX2025", np.where(first, "HX2023", "HX2024"))
    assert make_fold_plan(meta, design, "auto").grouping == "station"
    # Three balanced cruises are taken first.
    meta["cruise"] = np.repeat(["A", "B", "C"], 24)
    cruise = make_fold_plan(meta, SamplingDesign.from_frame(meta), "auto")
    assert cruise.grouping == "cruise" and cruise.n_splits == 3


def test_a_single_station_is_split_by_year_with_a_buffer():
    meta = monthly_meta(1, 36)
    design = SamplingDesign.from_frame(meta)
    plan = make_fold_plan(meta, design, "auto", buffer_days=60)
    assert plan.grouping == "year" and plan.n_splits == 3 and plan.buffer_days == 60
    check_plan(plan, len(meta))
    dropped = 0
    for _, train, test in plan.splits[0]:
        lo, hi = design.days[test].min(), design.days[test].max()
        gap = np.maximum(lo - design.days[train], design.days[train] - hi)
        assert np.all(gap > 60)  # no training sample within 60 days of the test block
        dropped += len(meta) - len(train) - len(test)
    assert dropped == 4  # December before and January after the middle year; one month next to each end year
    unbuffered = make_fold_plan(meta, design, "year", buffer_days=0)
    assert unbuffered.buffer_days == 0
    assert all(len(train) + len(test) == 36 for _, train, test in unbuffered.splits[0])


def test_station_year_buffer_only_touches_the_test_series():
    meta = monthly_meta(2, 24)
    design = SamplingDesign.from_frame(meta)
    plan = make_fold_plan(meta, design, "station_year", n_splits=4, buffer_days=45)
    assert plan.n_splits == 4 and plan.buffer_days == 45
    check_plan(plan, len(meta))
    for _, train, test in plan.splits[0]:
        test_series = set(design.series[test])
        lo, hi = design.days[test].min() - 45, design.days[test].max() + 45
        near = (design.days[train] >= lo) & (design.days[train] <= hi)
        assert not any(design.series[train][near][k] in test_series for k in range(int(near.sum())))
        # the other station's samples at the same time stay in training
        assert near.any()


def test_restrict_renumbers_the_samples():
    meta = monthly_meta(4, 6)
    design = SamplingDesign.from_frame(meta)
    plan = make_fold_plan(meta, design, "station", n_splits=4)
    rng = np.random.default_rng(0)
    mask = rng.random(len(meta)) < 0.6
    mask[design.station == "st3"] = False  # one station left without samples: its fold disappears
    sub = plan.restrict(mask)
    kept = np.flatnonzero(mask)
    assert sub.n_splits == 3 and len(sub.groups) == mask.sum()
    assert np.array_equal(sub.groups, plan.groups[mask]) and np.array_equal(sub.fold_of, plan.fold_of[:, mask])
    check_plan(sub, int(mask.sum()))
    old = {fold: (set(train), set(test)) for fold, train, test in plan.splits[0]}
    for fold, train, test in sub.splits[0]:
        assert set(kept[train]) == old[fold][0] & set(kept)  # new index i is old sample kept[i]
        assert set(kept[test]) == old[fold][1] & set(kept)


def test_describe_names_the_grouping_and_fold_sizes():
    meta = monthly_meta(3, 12, depths=(5.0, 50.0))
    plan = make_fold_plan(meta, SamplingDesign.from_frame(meta), "station")
    assert plan.describe() == "station (3 folds of 24-24 samples)"
    year = make_fold_plan(monthly_meta(1, 36), SamplingDesign.from_frame(monthly_meta(1, 36)), "year", buffer_days=60)
    assert year.describe() == "year (3 folds of 12-12 samples, 60-day buffer)"


def test_many_groups_are_balanced_and_reshuffled_per_repeat():
    meta = monthly_meta(13, 3)
    design = SamplingDesign.from_frame(meta)
    plan = make_fold_plan(meta, design, "station", n_splits=5, n_repeats=4, seed=7)
    assert plan.fold_of.shape == (4, 39) and plan.n_splits == 5
    check_plan(plan, 39)
    for row in plan.fold_of:
        assert np.bincount(row).max() - np.bincount(row).min() <= 3  # one station's worth
    assert len({tuple(r) for r in plan.fold_of}) > 1
    again = make_fold_plan(meta, design, "station", n_splits=5, n_repeats=4, seed=7)
    assert np.array_equal(plan.fold_of, again.fold_of)
    # At most n_splits groups: leave one group out, one repeat.
    few = make_fold_plan(meta[meta["station"].isin(["st0", "st1", "st2"])].reset_index(drop=True),
                         design.subset(np.isin(design.station, ["st0", "st1", "st2"])), "station", n_splits=5, n_repeats=4)
    assert few.fold_of.shape == (1, 9) and few.n_splits == 3


def test_groupings_and_their_errors():
    meta = monthly_meta(1, 10)
    design = SamplingDesign.from_frame(meta)
    loo = make_fold_plan(meta, design, "sample", n_splits=10, n_repeats=1)
    assert loo.n_splits == 10 and all(len(test) == 1 for _, _, test in loo.splits[0])
    blocks = group_labels(meta, design, "time_block", n_splits=5)
    assert len(set(blocks)) == 5 and all(blocks[i] == blocks[i + 1] for i in range(0, 10, 2))  # consecutive pairs
    with pytest.raises(ValueError, match="grouping"):
        make_fold_plan(meta, design, "kfold")
    with pytest.raises(PlanktonlmInputError, match="at least 2 groups"):
        make_fold_plan(meta, design, "station")
    undated = SamplingDesign.from_frame(meta.drop(columns=["datetime"]))
    with pytest.raises(PlanktonlmInputError, match="needs a date"):
        make_fold_plan(meta, undated, "year")
    # Leave one station out: as many splits as stations, each fold one whole station.
    stations = pd.DataFrame({"station": ["b", "a", "b", "c", "a", "a", "d"]})
    logo = make_fold_plan(stations, SamplingDesign.from_frame(stations), "station", n_splits=4, n_repeats=3)
    assert logo.fold_of.shape == (1, 7) and logo.n_splits == 4
    assert sorted(tuple(sorted(set(logo.groups[test]))) for _, _, test in logo.splits[0]) == [("a",), ("b",), ("c",), ("d",)]
    # Undated, one station: auto falls back to single samples.
    assert make_fold_plan(meta, undated, "auto").grouping == "sample"
