"""The sample filter (config section ``select``): which samples of the sheets or published tables a run analyses.

A sample is kept when it passes every criterion that is set: its cruise among ``cruises``, its
station among ``stations``, its sampling layer among ``layers`` (published tables with
``published.layer_pattern``), its depth within ``depth_m`` = [low, high], its year (UTC) within
``years`` = [first, last] (both inclusive, None = no bound) and its month among ``months``. A
sample without the value a set criterion needs (no depth, no date) fails it. The defaults keep
every sample, and nothing is read or logged then.

Both loaders use :func:`select_samples`: :func:`planktonlm.inputs.cruise.load_cruise` after the
sheets are checked and before the FASTQ files are (the reads of a sample left out need not
exist), and :func:`planktonlm.inputs.published.read_published_tables` on the environment table.
A filter that keeps no sample is an error naming the ``select`` keys; a cruise, station or
layer named in the filter that no sample has is a warning (a typo, or a cruise not given yet).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planktonlm.config import build_config, select_problems
from planktonlm.errors import InputProblem, PlanktonlmInputError

logger = logging.getLogger(__name__)

_LISTS = ("cruises", "stations", "layers", "months")
_RANGES = ("depth_m", "years")


@dataclass(frozen=True)
class SampleFilter:
    """The ``select`` config section; build it with :meth:`from_section` or :meth:`from_config`
    (defaults and bounds come from the config schema)."""

    cruises: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    depth_m: tuple[float | None, float | None] = (None, None)
    years: tuple[int | None, int | None] = (None, None)
    months: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in _LISTS:  # tuples: YAML hands over lists, and the filter must not change later
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        for name in _RANGES:
            low, high = getattr(self, name) or (None, None)
            object.__setattr__(self, name, (low, high))
        problems = select_problems({name: list(getattr(self, name)) for name in _RANGES})
        if problems:
            raise PlanktonlmInputError(problems)

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None = None, **overrides: Any) -> SampleFilter:
        """The ``select`` section (schema defaults filled in, bounds checked) as a SampleFilter."""
        return build_config(cls, "select", section, **overrides)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SampleFilter:
        """The filter of a (validated or partial) workflow config; no ``select`` key = keep everything."""
        return cls.from_section(config.get("select"))

    def criteria(self) -> dict[str, list]:
        """The criteria that are set, by key (``select.<key>`` in messages), in schema order."""
        set_ = {}
        for name in ("cruises", "stations", "layers", "depth_m", "years", "months"):
            value = getattr(self, name)
            if any(v is not None for v in value):
                set_[name] = list(value)
        return set_

    @property
    def active(self) -> bool:
        """Whether any criterion is set (the defaults keep every sample)."""
        return bool(self.criteria())

    def keep(self, meta: pd.DataFrame, layer: pd.Series | None = None) -> np.ndarray:
        """Per row of ``meta`` (columns cruise, station, depth_m, datetime; None/NaN/NaT = unknown),
        whether the sample passes every set criterion; ``layer``: the sampling layer of each row."""
        keep = np.ones(len(meta), dtype=bool)
        for column, wanted in (("cruise", self.cruises), ("station", self.stations)):
            if wanted:
                keep &= meta[column].isin(wanted).to_numpy(dtype=bool)
        if self.layers:
            keep &= (layer.isin(self.layers).to_numpy(dtype=bool) if layer is not None
                     else np.zeros(len(meta), dtype=bool))
        depth = pd.to_numeric(pd.Series(meta["depth_m"], dtype=object), errors="coerce").to_numpy(dtype=float)
        keep &= _within(depth, self.depth_m)
        if any(v is not None for v in self.years) or self.months:
            times = pd.to_datetime(pd.Series(meta["datetime"], dtype=object), utc=True)
            years = times.dt.year.to_numpy(dtype=float)
            keep &= _within(years, self.years)
            if self.months:
                keep &= times.dt.month.isin(self.months).to_numpy(dtype=bool)
        return keep


def _within(values: np.ndarray, bounds: tuple) -> np.ndarray:
    """values in [low, high] (None = open side); NaN fails a set bound."""
    low, high = bounds
    keep = np.ones(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            keep &= values >= low
        if high is not None:
            keep &= values <= high
    return keep


def _span(values: pd.Series, fmt: str = "{:g}") -> str:
    finite = values.dropna()
    return "unknown" if finite.empty else f"{fmt.format(finite.min())}..{fmt.format(finite.max())}"


def _available(meta: pd.DataFrame, layer: pd.Series | None) -> str:
    """What the samples offer, for the message of a filter that keeps none."""
    cruises = sorted(set(meta["cruise"].dropna().astype(str)))
    stations = sorted(set(meta["station"].dropna().astype(str)))
    times = pd.to_datetime(pd.Series(meta["datetime"], dtype=object), utc=True)
    depth = pd.to_numeric(pd.Series(meta["depth_m"], dtype=object), errors="coerce")
    parts = [f"cruises {', '.join(cruises)}", f"{len(stations)} stations ({', '.join(stations[:8])}"
             f"{', ...' if len(stations) > 8 else ''})", f"depth_m {_span(depth)}", f"years {_span(times.dt.year, '{:.0f}')}"]
    if layer is not None:
        parts.append(f"layers {', '.join(sorted(set(layer.dropna().astype(str)) - {''}))}")
    return "; ".join(parts)


def select_samples(
    meta: pd.DataFrame, sample_filter: SampleFilter, *, source: str, layer: pd.Series | None = None
) -> tuple[np.ndarray, list[InputProblem]]:
    """Which rows of ``meta`` the filter keeps (bool array), and the problems: ``select.layers``
    set where the samples have no layer, or no sample kept. ``source`` names the tables in
    messages and logs. Criteria naming a cruise, station or layer no sample has are logged as
    warnings. An inactive filter keeps every row and says nothing."""
    if not sample_filter.active:
        return np.ones(len(meta), dtype=bool), []
    criteria = sample_filter.criteria()
    keys = ", ".join(f"select.{k}" for k in criteria)
    if sample_filter.layers and layer is None:
        return np.zeros(len(meta), dtype=bool), [InputProblem(
            file="config", column="select.layers", value=list(sample_filter.layers),
            message=f"{source} gives no sampling layer to select by",
            expected="select.layers only with published tables and published.layer_pattern (sample sheets have no "
                     "layer: select by select.depth_m instead)")]
    present = {"cruises": meta["cruise"], "stations": meta["station"], "layers": layer}
    for key, values in present.items():
        unknown = [v for v in getattr(sample_filter, key) if values is not None and v not in set(values.dropna())]
        if unknown:
            logger.warning("select: %s %s: no sample of %s has %s", key, ", ".join(unknown), source,
                           "it" if len(unknown) == 1 else "them")
    keep = sample_filter.keep(meta, layer)
    if not keep.any():
        return keep, [InputProblem(
            file="config", column="select", value=criteria,
            message=f"the sample filter ({keys}) keeps none of the {len(meta)} samples of {source}",
            expected=f"criteria that at least one sample passes; the samples have {_available(meta, layer)}")]
    logger.info("select: keeping %d of %d samples of %s (%s)", int(keep.sum()), len(meta), source,
                "; ".join(f"{k} {v}" for k, v in criteria.items()))
    return keep, []
