"""Permutations that respect the sampling design of a plankton time series.

Samples of a station's time series are not exchangeable: March resembles February, for the
community and for temperature alike. Shuffling them as if independent turns autocorrelation into
false "drivers". The schemes here follow R's ``permute`` (``how(within = Within(type = "series"),
plots = Plots(strata = station, type = "free"))``):

* ``series`` (regular time series): every station x depth series is shifted cyclically in time,
  optionally mirrored; series sampled on a common calendar get the same shift (so the dependence
  between series is kept), and whole stations (with all their depth layers) swap places among the
  stations of that calendar with the same number of layers.
* ``blocks`` (irregular or gappy series): each series is cut into consecutive time blocks at least
  as long as the decorrelation time; blocks of equal size swap within their series. Tests condition
  on the series.
* ``stations`` (cross-sectional designs, one date per station): whole stations swap among stations
  of the same size; ``free`` when stations cannot swap (one sample each, or too few arrangements).
* ``within`` (shuffle inside each station; tests condition on the station) and ``free`` (any
  permutation) on request, e.g. to reproduce earlier analyses.

A permutation is an index array ``p``: after permuting, row ``i`` holds sample ``p[i]``. When the
scheme has no more arrangements than permutations asked for, every non-identity arrangement is
enumerated (as vegan does below ``minperm``), so p-values are exact.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

SCHEMES = ("auto", "series", "blocks", "stations", "within", "free")
#: fewest arrangements for whole-station swaps in a cross-sectional design (else free)
MIN_STATION_ARRANGEMENTS = 100
#: a series is regular when every sampling interval is within this fraction of its median
REGULAR_TOLERANCE = 0.25
_DAY = 86400.0


def _depth_text(depth: float) -> str:
    return "NA" if not np.isfinite(depth) else np.format_float_positional(float(depth), trim="-")


def depth_layers(station: np.ndarray, depth: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Depth layer of every sample: its depth, unless a station's sampling depth moves from date
    to date (a deep chlorophyll maximum at 60 m, then 80 m: depths met only once) while every
    sampling day has the same number of samples; then the layers are the depth ranks within
    each day ("L1" shallowest)."""
    layers = np.array([_depth_text(d) for d in depth], dtype=object)
    keys = np.where(np.isfinite(days), np.floor(days), -1.0)  # the UTC day: casts of one day belong together
    for name in set(station):
        idx = np.flatnonzero(station == name)
        per_date = {k: idx[keys[idx] == k] for k in np.unique(keys[idx])}
        counts = {len(v) for v in per_date.values()}
        _, repeats = np.unique(layers[idx], return_counts=True)
        moving = bool(np.any(repeats < 2)) and len(repeats) > max(counts)
        if moving and len(counts) == 1 and np.all(np.isfinite(depth[idx])):
            for members in per_date.values():
                order = members[np.argsort(depth[members], kind="stable")]
                layers[order] = [f"L{r + 1}" for r in range(len(order))]
    return layers


@dataclass(frozen=True)
class SamplingDesign:
    """Station, depth layer and sampling time of every sample (arrays in sample order)."""

    station: np.ndarray  # str
    depth: np.ndarray  # float, NaN = unknown
    days: np.ndarray  # float days since 1970-01-01 UTC, NaN = no date

    @classmethod
    def from_frame(cls, meta: pd.DataFrame) -> SamplingDesign:
        """From a metadata table with ``station`` and optionally ``depth_m`` and ``datetime``."""
        n = len(meta)
        station = meta["station"].map(lambda v: "NA" if pd.isna(v) else str(v)).to_numpy() if "station" in meta.columns else np.array(["all"] * n)
        depth = pd.to_numeric(meta["depth_m"], errors="coerce").to_numpy(dtype=float) if "depth_m" in meta.columns else np.full(n, np.nan)
        if "datetime" in meta.columns:
            times = pd.to_datetime(meta["datetime"], utc=True, errors="coerce", format="ISO8601")
            days = ((times - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds() / _DAY).to_numpy(dtype=float)
        else:
            days = np.full(n, np.nan)
        return cls(np.asarray(station, dtype=object), depth, days)

    @property
    def n_samples(self) -> int:
        return len(self.station)

    @property
    def series(self) -> np.ndarray:
        """Station x depth-layer label of every sample (e.g. ``"S1|5"``; see :func:`depth_layers`)."""
        layers = depth_layers(self.station, self.depth, self.days)
        return np.array([f"{s}|{d}" for s, d in zip(self.station, layers)], dtype=object)

    def subset(self, mask: np.ndarray) -> SamplingDesign:
        return SamplingDesign(self.station[mask], self.depth[mask], self.days[mask])

    def series_members(self) -> dict[str, np.ndarray]:
        """Sample indices of every series, in time order (then sample order)."""
        labels = self.series
        keys = np.where(np.isfinite(self.days), self.days, 0.0)
        out = {}
        for label in sorted(set(labels)):
            idx = np.flatnonzero(labels == label)
            out[label] = idx[np.lexsort((idx, keys[idx]))]
        return out


class _Factor:
    """A set of permutations acting on one part of the design: an explicit list, or every
    arrangement of equally sized blocks of samples (each block keeps its internal order)."""

    def __init__(self, n: int, *, elements: np.ndarray | None = None, blocks: np.ndarray | None = None):
        self.n = n
        self.elements = elements  # (k, n), first row the identity
        self.blocks = blocks  # (m, L) sample indices
        self.size = len(elements) if elements is not None else math.factorial(len(blocks))

    def draw(self, rng: np.random.Generator, b: int) -> np.ndarray:
        if self.elements is not None:
            return self.elements[rng.integers(len(self.elements), size=b)]
        out = np.tile(np.arange(self.n), (b, 1))
        order = np.argsort(rng.random((b, len(self.blocks))), axis=1)
        out[:, self.blocks.ravel()] = self.blocks[order].reshape(b, -1)
        return out

    def all(self) -> np.ndarray:
        if self.elements is not None:
            return self.elements
        out = np.tile(np.arange(self.n), (self.size, 1))
        for row, order in enumerate(itertools.permutations(range(len(self.blocks)))):
            out[row, self.blocks.ravel()] = self.blocks[list(order)].ravel()
        return out


def _compose(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """Apply ``first`` then ``then`` (both (B, n)): row i takes sample first[then[i]]."""
    return np.take_along_axis(first, then, axis=1)


def _is_regular(days: np.ndarray) -> bool:
    steps = np.diff(days)
    if len(days) < 3 or np.any(steps <= 0):
        return False
    median = float(np.median(steps))
    return bool(np.all(np.abs(steps - median) <= REGULAR_TOLERANCE * median))


def decorrelation_days(scores: np.ndarray, design: SamplingDesign) -> float:
    """Decorrelation time (days) of a community: ``dt (1 + r) / (1 - r)``, the integral time scale
    of an AR(1) process, from the lag-1 autocorrelation r pooled over series (series means removed)
    of the columns of ``scores`` (e.g. the first principal coordinates) and the median interval dt."""
    num = den = 0.0
    steps = []
    for idx in design.series_members().values():
        if len(idx) < 3 or not np.all(np.isfinite(design.days[idx])):
            continue
        values = scores[idx] - scores[idx].mean(axis=0)
        num += float(np.sum(values[1:] * values[:-1]))
        den += float(np.sum(values**2))
        steps.extend(np.diff(design.days[idx]))
    if not steps or den <= 0:
        return float("nan")
    r = min(max(num / den, 0.0), 0.95)
    return float(np.median(steps)) * (1 + r) / (1 - r)


class RestrictedPermutation:
    """Permutations of the samples of ``design`` under one scheme (see the module docstring).

    Parameters
    ----------
    design : SamplingDesign of the samples, in the order of the data.
    scheme : one of SCHEMES; ``auto`` = ``series`` for regular dated series of >= 3 samples,
        ``blocks`` for other dated series, ``stations`` / ``free`` for cross-sectional designs.
    mirror : with ``series``, also reverse time (doubles the arrangements; valid for
        time-reversible dependence such as AR(1)).
    block_days : block length for ``blocks`` (e.g. from :func:`decorrelation_days`); default
        three median sampling intervals.

    Attributes: ``scheme`` (resolved), ``description`` (for the output tables), ``n_distinct``
    (arrangements, identity included), ``condition_on`` (labels whose indicator variables every
    test must condition on, or None).
    """

    def __init__(self, design: SamplingDesign, scheme: str = "auto", *, mirror: bool = True, block_days: float | None = None):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        self.design = design
        self.mirror = mirror
        self.block_days = block_days
        self.condition_on: np.ndarray | None = None
        members = design.series_members()
        dated = bool(np.all(np.isfinite(design.days)))
        longest = max(len(idx) for idx in members.values()) if members else 0
        if scheme == "auto":
            if not dated or longest <= 1:
                scheme = "stations" if self._station_factors(check=True) else "free"
            elif all(_is_regular(design.days[idx]) for idx in members.values()):
                scheme = "series"
            else:
                scheme = "blocks"
        if scheme in ("series", "blocks") and not dated:
            raise ValueError(f"permutation scheme {scheme!r} needs a date for every sample")
        if scheme == "series" and not all(_is_regular(design.days[idx]) for idx in members.values()):
            raise ValueError("permutation scheme 'series' needs regular series of >= 3 samples; use 'blocks'")
        self.scheme = scheme
        self.factors, self.description = getattr(self, f"_{scheme}")(members)
        self.n_distinct = math.prod(f.size for f in self.factors)

    # -- schemes ------------------------------------------------------------------------------

    def _series(self, members: dict[str, np.ndarray]) -> tuple[list[_Factor], str]:
        n, days = self.design.n_samples, self.design.days
        calendars: list[tuple[np.ndarray, list[str]]] = []  # (reference days, series labels)
        for label, idx in members.items():
            for reference, labels in calendars:
                tol = 0.5 * float(np.median(np.diff(reference)))
                if len(reference) == len(idx) and np.all(np.abs(days[idx] - reference) <= tol):
                    labels.append(label)
                    break
            else:
                calendars.append((days[idx], [label]))
        factors, parts = [], []
        for reference, labels in calendars:
            t = len(reference)
            grid = np.stack([members[label] for label in labels])  # (series, time)
            elements = []
            for flip in (False, True) if self.mirror else (False,):
                for k in range(t):
                    source = (k - np.arange(t)) % t if flip else (k + np.arange(t)) % t
                    perm = np.arange(n)
                    perm[grid.ravel()] = grid[:, source].ravel()
                    elements.append(perm)
            # Series have >= 3 dates, so the 2t shifts and mirror images are all distinct.
            factors.append(_Factor(n, elements=np.array(elements)))
            stations: dict[str, list[int]] = {}
            for row, label in enumerate(labels):
                stations.setdefault(self.design.station[members[label][0]], []).append(row)
            # Stations with as many layers swap, layer onto layer from the surface down.
            by_layers: dict[int, list[np.ndarray]] = {}
            for rows in stations.values():
                rows = sorted(rows, key=lambda r: (np.nanmean(self.design.depth[grid[r]]) if np.isfinite(self.design.depth[grid[r]]).any() else 0.0, r))
                by_layers.setdefault(len(rows), []).append(grid[rows].ravel())
            swaps = [len(blocks) for blocks in by_layers.values() if len(blocks) > 1]
            factors += [_Factor(n, blocks=np.stack(blocks)) for blocks in by_layers.values() if len(blocks) > 1]
            parts.append(f"{len(labels)} station x depth series on a calendar of {t} dates shifted together"
                         + (" (and mirrored)" if self.mirror else "")
                         + (f", whole stations swapped among {' / '.join(map(str, swaps))}" if swaps else ""))
        return factors, "cyclic shifts in time: " + "; ".join(parts)

    def _blocks(self, members: dict[str, np.ndarray]) -> tuple[list[_Factor], str]:
        n, days = self.design.n_samples, self.design.days
        steps = np.concatenate([np.diff(days[idx]) for idx in members.values()] + [np.zeros(0)])
        steps = steps[steps > 0]
        length = self.block_days if self.block_days and self.block_days > 0 else 3 * float(np.median(steps)) if len(steps) else 1.0
        factors = []
        for idx in members.values():
            block = np.floor((days[idx] - days[idx][0]) / length).astype(int)
            by_size: dict[int, list[np.ndarray]] = {}
            for b in np.unique(block):
                part = idx[block == b]
                by_size.setdefault(len(part), []).append(part)
            factors += [_Factor(n, blocks=np.stack(parts)) for parts in by_size.values() if len(parts) > 1]
        self.condition_on = self.design.series
        self.block_days = length
        return factors, f"blocks of {length:.0f} days swapped within each of {len(members)} station x depth series (tests conditioned on series)"

    def _station_factors(self, check: bool = False) -> list[_Factor] | bool:
        n = self.design.n_samples
        keys = np.lexsort((np.arange(n), np.nan_to_num(self.design.days), np.nan_to_num(self.design.depth)))
        by_size: dict[int, list[np.ndarray]] = {}
        for station in sorted(set(self.design.station)):
            idx = keys[self.design.station[keys] == station]
            by_size.setdefault(len(idx), []).append(idx)
        if check:
            movable = len(by_size) and all(len(b) > 1 for b in by_size.values()) and max(by_size) > 1
            count = math.prod(math.factorial(len(b)) for b in by_size.values())
            return bool(movable and count >= MIN_STATION_ARRANGEMENTS)
        return [_Factor(n, blocks=np.stack(blocks)) for blocks in by_size.values() if len(blocks) > 1]

    def _stations(self, members: dict[str, np.ndarray]) -> tuple[list[_Factor], str]:
        factors = self._station_factors()
        return factors, f"whole stations swapped among stations of the same size ({len(set(self.design.station))} stations)"

    def _within(self, members: dict[str, np.ndarray]) -> tuple[list[_Factor], str]:
        n = self.design.n_samples
        factors = []
        for station in sorted(set(self.design.station)):
            idx = np.flatnonzero(self.design.station == station)
            if len(idx) > 1:
                factors.append(_Factor(n, blocks=idx[:, None]))
        self.condition_on = self.design.station
        return factors, "free within stations (tests conditioned on station)"

    def _free(self, members: dict[str, np.ndarray]) -> tuple[list[_Factor], str]:
        n = self.design.n_samples
        return ([_Factor(n, blocks=np.arange(n)[:, None])] if n > 1 else []), "free (samples treated as exchangeable)"

    # -- drawing ------------------------------------------------------------------------------

    def draw(self, n_permutations: int, seed: int) -> np.ndarray:
        """Non-identity permutations, shape (B, n): all of them when there are at most
        ``n_permutations`` (``B = n_distinct - 1``, exact p-values), else ``n_permutations``
        random ones (seeded, no global state)."""
        n = self.design.n_samples
        if n_permutations <= 0 or self.n_distinct <= 1:
            return np.zeros((0, n), dtype=np.intp)
        if self.n_distinct - 1 <= n_permutations:
            perms = np.arange(n)[None, :]
            for factor in self.factors:
                elements = factor.all()
                perms = _compose(np.repeat(perms, len(elements), axis=0), np.tile(elements, (len(perms), 1)))
            identity = np.all(perms == np.arange(n), axis=1)
            return perms[~identity].astype(np.intp)
        rng = np.random.default_rng(seed)
        perms = np.tile(np.arange(n), (n_permutations, 1))
        for factor in self.factors:
            perms = _compose(perms, factor.draw(rng, n_permutations))
        return perms.astype(np.intp)


def invariant_columns(x: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Columns of x that no permutation changes (e.g. depth under whole-series permutations):
    such a variable cannot be tested under the design."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if not len(perms):
        return np.ones(x.shape[1], dtype=bool)
    return np.array([bool(np.all(np.isclose(x[perms, j], x[None, :, j], rtol=1e-12, atol=1e-12))) for j in range(x.shape[1])])
