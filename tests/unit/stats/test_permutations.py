"""Tests of planktonlm.stats.permutations: sampling designs and design-respecting permutations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from planktonlm.stats.permutations import (
    RestrictedPermutation,
    SamplingDesign,
    decorrelation_days,
    invariant_columns,
)

STATIONS = ("A", "B", "C", "D")
DEPTHS = (5.0, 50.0)
DATES = pd.date_range("2021-01-01", periods=6, freq="2MS", tz="UTC") + pd.Timedelta(days=14)  # bimonthly


def bimonthly_meta(seed: int = 0) -> pd.DataFrame:
    """4 stations x 2 depths x 6 bimonthly dates, rows shuffled."""
    rows = [dict(station=s, depth_m=d, datetime=t.strftime("%Y-%m-%dT%H:%M:%SZ")) for s in STATIONS for d in DEPTHS for t in DATES]
    meta = pd.DataFrame(rows)
    return meta.sample(frac=1, random_state=seed).reset_index(drop=True)


def time_rank(design: SamplingDesign) -> np.ndarray:
    """0-based time rank of every sample within its series."""
    rank = np.empty(design.n_samples, dtype=int)
    for idx in design.series_members().values():
        rank[idx] = np.arange(len(idx))
    return rank


def test_sampling_design_from_frame():
    meta = bimonthly_meta()
    design = SamplingDesign.from_frame(meta)
    assert design.n_samples == 48
    assert np.array_equal(design.station, meta["station"].to_numpy())
    assert np.array_equal(design.depth, meta["depth_m"].to_numpy())
    expected = (pd.to_datetime(meta["datetime"], utc=True) - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds() / 86400
    assert np.allclose(design.days, expected)
    members = design.series_members()
    assert len(members) == 8 and all(len(idx) == 6 for idx in members.values())
    for label, idx in members.items():
        assert set(design.series[idx]) == {label}
        assert np.all(np.diff(design.days[idx]) > 0)  # time order
    bare = SamplingDesign.from_frame(pd.DataFrame({"x": [1, 2, 3]}))
    assert list(bare.station) == ["all"] * 3 and np.isnan(bare.depth).all() and np.isnan(bare.days).all()
    sub = design.subset(design.station == "A")
    assert sub.n_samples == 12 and set(sub.station) == {"A"}


def test_series_scheme_counts_and_enumerates_every_arrangement():
    design = SamplingDesign.from_frame(bimonthly_meta())
    scheme = RestrictedPermutation(design, "auto")
    assert scheme.scheme == "series"
    assert scheme.condition_on is None
    assert scheme.n_distinct == 6 * 2 * math.factorial(4) == 288
    assert "6 dates" in scheme.description and "mirrored" in scheme.description
    perms = scheme.draw(999, seed=0)
    assert perms.shape == (287, 48)
    assert len({p.tobytes() for p in perms}) == 287  # distinct ...
    assert not np.any(np.all(perms == np.arange(48), axis=1))  # ... and none is the identity
    assert np.array_equal(np.sort(perms, axis=1), np.tile(np.arange(48), (287, 1)))  # permutations
    assert np.array_equal(perms, scheme.draw(999, seed=5))  # enumeration does not depend on the seed

    no_mirror = RestrictedPermutation(design, "series", mirror=False)
    assert no_mirror.n_distinct == 144 and len(no_mirror.draw(999, seed=0)) == 143
    assert "mirrored" not in no_mirror.description


def test_series_permutations_respect_the_design():
    design = SamplingDesign.from_frame(bimonthly_meta(seed=3))
    perms = RestrictedPermutation(design, "series").draw(999, seed=0)
    rank = time_rank(design)
    members = design.series_members()
    mirrored = shifted = 0
    for perm in perms:
        for idx in members.values():
            source = perm[idx]  # the samples the series' rows (in time order) now hold
            # one series of the same depth ...
            assert len(set(design.series[source])) == 1
            assert set(design.depth[source]) == set(design.depth[idx])
            # ... in cyclic time order, forward or mirrored
            offset = (rank[source] - rank[idx]) % 6
            reflect = (rank[source] + rank[idx]) % 6
            if len(set(offset)) == 1:
                shifted += 1
            else:
                assert len(set(reflect)) == 1
                mirrored += 1
        for station in STATIONS:  # a station moves as a whole
            assert len(set(design.station[perm[design.station == station]])) == 1
    assert shifted and mirrored
    # every series shares the shift of the calendar: the time offset is the same for all samples
    for perm in perms[:20]:
        assert len({tuple(((rank[perm[idx]] - rank[idx]) % 6)) for idx in members.values()}) == 1
    # depth never moves: it cannot be tested under these permutations; temperature can
    depth = design.depth
    temperature = np.sin(2 * np.pi * design.days / 365.25)
    assert invariant_columns(np.column_stack([depth, temperature]), perms).tolist() == [True, False]
    assert invariant_columns(temperature, perms[:0]).tolist() == [True]  # no permutations: nothing moves


def test_random_draws_are_seeded():
    design = SamplingDesign.from_frame(bimonthly_meta())
    scheme = RestrictedPermutation(design, "series")
    first = scheme.draw(100, seed=1)
    assert first.shape == (100, 48)
    assert np.array_equal(first, scheme.draw(100, seed=1))
    assert not np.array_equal(first, scheme.draw(100, seed=2))
    assert np.array_equal(np.sort(first, axis=1), np.tile(np.arange(48), (100, 1)))
    assert RestrictedPermutation(design, "free").draw(0, seed=1).shape == (0, 48)
    free = RestrictedPermutation(design, "free")
    assert free.n_distinct == math.factorial(48)
    draws = free.draw(50, seed=4)
    assert len({p.tobytes() for p in draws}) == 50 and np.array_equal(draws, free.draw(50, seed=4))


def test_irregular_dates_use_blocks_conditioned_on_series():
    meta = bimonthly_meta()
    offsets = {t: d for t, d in zip(DATES, [0, 20, 150, 170, 300, 500])}
    base = pd.Timestamp("2021-01-15", tz="UTC")
    meta["datetime"] = [base + pd.Timedelta(days=offsets[pd.Timestamp(t)]) for t in meta["datetime"]]
    design = SamplingDesign.from_frame(meta)
    scheme = RestrictedPermutation(design, "auto")
    assert scheme.scheme == "blocks"
    assert np.array_equal(scheme.condition_on, design.series)
    with pytest.raises(ValueError, match="regular"):
        RestrictedPermutation(design, "series")
    # 100-day blocks: days 0-20 | 150-170 | 300 | 500; two pairs swap, two singles swap: 2! x 2! per series
    blocks = RestrictedPermutation(design, "blocks", block_days=100)
    assert blocks.n_distinct == 4**8 and blocks.block_days == 100
    days = design.days - design.days.min()
    pair = np.floor(days / 100)
    perms = blocks.draw(200, seed=0)
    assert len(perms) == 200
    for perm in perms:
        assert np.array_equal(design.series[perm], design.series)  # samples stay in their series
        assert np.all((days[perm] < 200) == (days < 200))  # pairs swap with pairs, singles with singles
        for idx in design.series_members().values():
            for block in (idx[:2], idx[2:4]):  # a pair moves as a whole, keeping its order
                assert len(set(pair[perm[block]])) == 1 and days[perm[block[0]]] < days[perm[block[1]]]


def test_undated_designs_swap_stations_or_shuffle_freely():
    meta = bimonthly_meta().drop(columns=["datetime"])
    design = SamplingDesign.from_frame(meta)
    with pytest.raises(ValueError, match="date"):
        RestrictedPermutation(design, "series")
    # 4 stations of 12 samples: 4! = 24 arrangements, too few for a test: free
    assert RestrictedPermutation(design, "auto").scheme == "free"
    stations = RestrictedPermutation(design, "stations")
    assert stations.n_distinct == 24
    for perm in stations.draw(999, seed=0):
        for station in STATIONS:
            assert len(set(design.station[perm[design.station == station]])) == 1
    # 6 stations of 3 samples: 720 arrangements of whole stations
    six = SamplingDesign(np.repeat(list("abcdef"), 3).astype(object), np.tile([5.0, 50.0, 100.0], 6), np.full(18, np.nan))
    scheme = RestrictedPermutation(six, "auto")
    assert scheme.scheme == "stations" and scheme.n_distinct == 720
    perms = scheme.draw(99, seed=2)
    assert all(len(set(six.station[p[six.station == s]])) == 1 for p in perms for s in "abcdef")
    assert np.all(six.depth[perms] == six.depth[None, :])  # layers keep their depth


def test_within_scheme_conditions_on_station():
    design = SamplingDesign.from_frame(bimonthly_meta())
    scheme = RestrictedPermutation(design, "within")
    assert np.array_equal(scheme.condition_on, design.station)
    assert scheme.n_distinct == math.factorial(12) ** 4
    perms = scheme.draw(50, seed=0)
    assert np.all(design.station[perms] == design.station[None, :])
    with pytest.raises(ValueError, match="scheme"):
        RestrictedPermutation(design, "shuffle")


def test_short_series_are_not_double_counted():
    # A 3-date series: 3 shifts x 2 directions, all different (the dihedral group of order 6).
    three = SamplingDesign(np.array(["a"] * 3, dtype=object), np.full(3, 5.0), np.array([0.0, 30.0, 60.0]))
    scheme = RestrictedPermutation(three, "series")
    assert scheme.n_distinct == 6
    perms = scheme.draw(99, seed=0)
    assert len(perms) == 5 and len({p.tobytes() for p in perms}) == 5
    # Two dates cannot show a regular interval: no series scheme, auto falls back to blocks.
    two = SamplingDesign(np.array(["a", "a"], dtype=object), np.full(2, 5.0), np.array([0.0, 30.0]))
    with pytest.raises(ValueError):
        RestrictedPermutation(two, "series")
    assert RestrictedPermutation(two, "auto").scheme == "blocks"


def test_decorrelation_days_grows_with_autocorrelation():
    rng = np.random.default_rng(0)
    n_series, t = 4, 60
    days = np.tile(np.arange(t) * 30.0, n_series)
    design = SamplingDesign(np.repeat(list("abcd"), t).astype(object), np.full(n_series * t, 5.0), days)
    noise = rng.normal(size=(n_series * t, 2))
    walk = np.empty_like(noise)
    for s in range(n_series):
        x = np.zeros(2)
        for i in range(t):
            x = 0.8 * x + rng.normal(size=2)
            walk[s * t + i] = x
    white, red = decorrelation_days(noise, design), decorrelation_days(walk, design)
    assert 15 < white < 50  # about one 30-day interval
    assert red > 3 * white  # about 30 (1 + 0.8) / (1 - 0.8) = 270 days
    assert np.isnan(decorrelation_days(noise, SamplingDesign(design.station, design.depth, np.full(len(days), np.nan))))


def test_layers_sampled_on_different_days_keep_their_depths():
    # Two fixed layers whose casts fall on different days (5 m one day, 100 m the next) are two
    # series, not one layer whose depth moves.
    days = pd.date_range("2021-01-10", periods=12, freq="MS", tz="UTC")
    rows = [dict(station="A", depth_m=d, datetime=(t + pd.Timedelta(days=int(d > 50))).isoformat()) for t in days for d in (5.0, 100.0)]
    design = SamplingDesign.from_frame(pd.DataFrame(rows))
    assert sorted(set(design.series)) == ["A|100", "A|5"]
    # Depths of one cast on one day at different hours are one sampling event.
    rows = [dict(station="A", depth_m=d, datetime=(t + pd.Timedelta(hours=h)).isoformat())
            for t in days for d, h in ((5.0, 8), (60.0 + t.month, 9))]
    assert sorted(set(SamplingDesign.from_frame(pd.DataFrame(rows)).series)) == ["A|L1", "A|L2"]
