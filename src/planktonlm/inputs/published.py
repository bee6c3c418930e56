"""Published community tables as input: a samples x taxa table and an environment table
enter instead of reads, so that a published analysis can be re-run by the shift stage.

Config section ``published`` (see :class:`PublishedConfig`): an environment table (one row per
sample, one column per measured variable), and one or more profile tables (one row per sample,
one column per taxon / lineage / OTU; counts or relative abundances). Both are tab-separated,
plain or gzip-compressed (detected from the first bytes), with the sample ids in the column
``sample_column``. This module checks the tables (:func:`read_published_tables`; the files are
read by :mod:`planktonlm.inputs.published_tables`); :mod:`planktonlm.cube.published` builds the
cube from them:

* environmental variables: the columns named in ``columns``, renamed to planktonlm names
  (units in the name, as in samples.tsv; ``units`` overrides the units attribute where the
  name carries none). Published columns mapped to ``latitude``, ``longitude``, ``depth_m`` or
  ``datetime`` become those coordinates; unmapped ones stay NaN / NaT (unknown). Table columns
  not named in ``columns`` are ignored (logged).
* coordinates: ``station`` from ``station_pattern`` (regex on the sample id, group 1),
  ``cruise`` a constant, and, with ``layer_pattern``, a ``layer`` coordinate plus one 0/1
  indicator variable ``layer_<name>_index`` per layer except the alphabetically first (the
  reference), so the sampling layer (e.g. surface vs deep chlorophyll maximum) can act as a
  driver when no depth is published.
* profiles: a table may cover only some of the samples of the environment table (the cube
  gives the others all-NaN rows); a sample of a profile must be in the environment table.
* ``select`` (:mod:`planktonlm.inputs.select`) keeps some samples of the environment table and
  drops the others from every profile.

Bad input (unknown column, duplicate or malformed sample id, non-numeric or negative values,
ragged rows, samples of a profile missing from the environment table) raises one
PlanktonlmInputError naming file, row (1-based data row, header = row 0), column and value.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planktonlm.config import build_config
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.inputs.published_tables import RawTable, numeric_cells, read_profile_table, read_published_profile, read_table
from planktonlm.inputs.select import SampleFilter, select_samples
from planktonlm.vocab import (
    ABUNDANCE_PREFIX,
    METADATA_COORDS,
    MISSING_TOKENS,
    NOVELTY_PREFIX,
    OTU_DIM_PREFIX,
    PHYSICAL_RANGES,
    parse_datetime_utc,
)

logger = logging.getLogger(__name__)

__all__ = ["COORDINATE_NAMES", "PublishedConfig", "PublishedTables", "RawTable", "published_samples", "read_profile_table",
           "read_published_profile", "read_published_tables", "read_table"]

# Published columns may map onto these coordinates instead of environmental variables.
COORDINATE_NAMES = ("latitude", "longitude", "depth_m", "datetime")
# Names an environmental variable cannot take (cube coordinates / dimensions).
_RESERVED = frozenset({"sample", "time", "layer", *METADATA_COORDS.values()} - {"latitude", "longitude"})


@dataclass(frozen=True)
class PublishedConfig:
    """Settings of published-table input (config section ``published``); see config/README.md.

    Build it with :meth:`from_section` (defaults and bounds come from the config schema); the
    checks here are those the schema cannot express (names the cube takes, duplicates, regular
    expressions that compile, the tables a published run needs).
    """

    environment: str
    profiles: Mapping[str, str]
    columns: Mapping[str, str]
    sample_column: str
    station_pattern: str | None
    cruise: str
    layer_pattern: str | None
    units: Mapping[str, str]
    range_check: str  # error: a value outside PHYSICAL_RANGES is refused; warn: logged and kept

    def __post_init__(self) -> None:
        # Plain dict copies: YAML may hand over any mapping, and the config must not change later.
        for name in ("profiles", "columns", "units"):
            object.__setattr__(self, name, {str(k): str(v) for k, v in dict(getattr(self, name) or {}).items()})
        for name in ("station_pattern", "layer_pattern"):  # "" (the schema default) = not used, as None
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)
        problems: list[InputProblem] = []

        def bad(key: str, value: object, message: str, expected: str) -> None:
            problems.append(InputProblem(file="config", column=f"published.{key}", value=value, message=message,
                                         expected=expected))

        if not self.environment:
            bad("environment", self.environment, "no environment table given", "a path to a TSV file")
        if not self.profiles:
            bad("profiles", self.profiles, "no profile table given", "name -> path of a samples x taxa table")
        if not self.columns:
            bad("columns", self.columns, "no column mapped", "published column -> planktonlm variable name")
        targets = list(self.columns.values())
        for target in targets:
            if target in _RESERVED or target.startswith((ABUNDANCE_PREFIX, OTU_DIM_PREFIX, NOVELTY_PREFIX, "layer_")):
                bad("columns", target, "name taken by the cube",
                    f"a name other than {sorted(_RESERVED)}, not starting with abundance_, otu_, novelty_ or layer_")
        for target in sorted({t for t in targets if targets.count(t) > 1}):
            bad("columns", target, "two published columns map onto the same name", "distinct names")
        for name in self.units:
            if name not in targets or name in COORDINATE_NAMES:
                bad("units", name, "units given for a name that is not a mapped environmental variable",
                    f"one of {sorted(set(targets) - set(COORDINATE_NAMES))}")
        if self.sample_column in self.columns:
            bad("columns", self.sample_column, "the sample column cannot be mapped", "measured columns only")
        for key in ("station_pattern", "layer_pattern"):
            pattern = getattr(self, key)
            if pattern is None:
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                bad(key, pattern, f"not a regular expression: {exc}", "a Python regular expression")
        if problems:
            raise PlanktonlmInputError(problems)

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None = None, **overrides: Any) -> PublishedConfig:
        """The ``published`` config section (schema defaults filled in, bounds checked) as a PublishedConfig."""
        return build_config(cls, "published", section, **overrides)


def _match(pattern: str, sample: str) -> str | None:
    found = re.search(pattern, sample)
    if found is None:
        return None
    return found.group(1) if found.re.groups else found.group(0)


def _layer_variable(layer: str) -> str:
    return "layer_" + re.sub(r"[^a-z0-9]+", "_", layer.lower()).strip("_") + "_index"


def published_samples(table: RawTable, cfg: PublishedConfig) -> tuple[pd.DataFrame, pd.Series | None, list[InputProblem]]:
    """The environment table as read -> a sample sheet for build_cube (cruise, station,
    datetime, latitude, longitude, depth_m + variables), the layer of each sample (None
    without ``layer_pattern``) and the problems found."""
    env, rows, file = table.cells, table.rows, table.file
    available = list(env.columns)
    problems = [
        InputProblem(file=file, row=0, column=column, message="column named in published.columns is not in the table",
                     expected=f"one of {available}")
        for column in cfg.columns if column not in env.columns
    ]
    mapped = [c for c in cfg.columns if c in env.columns]
    ignored = [c for c in env.columns if c not in cfg.columns]
    if ignored:
        logger.info("published: %s: columns not in published.columns, ignored: %s", file, ", ".join(ignored))
    numeric_columns = [c for c in mapped if cfg.columns[c] != "datetime"]
    values, cell_problems = numeric_cells(env[numeric_columns], file, rows, allow_missing=True, what="value")
    problems += cell_problems
    out_of_range: list[InputProblem] = []
    sheet = pd.DataFrame(index=env.index)
    sheet["cruise"] = cfg.cruise
    stations, layers = [], []
    for sample in env.index:
        station = sample if cfg.station_pattern is None else _match(cfg.station_pattern, sample)
        if station is None or station == "":
            problems.append(InputProblem(file=file, row=rows.get(sample), column=cfg.sample_column, value=sample,
                                         message="no station found in the sample id",
                                         expected=f"an id matching published.station_pattern {cfg.station_pattern!r}"))
        stations.append(station or "")
        if cfg.layer_pattern is not None:
            layer = _match(cfg.layer_pattern, sample)
            if not layer:
                problems.append(InputProblem(file=file, row=rows.get(sample), column=cfg.sample_column, value=sample,
                                             message="no sampling layer found in the sample id",
                                             expected=f"an id matching published.layer_pattern {cfg.layer_pattern!r}"))
            layers.append(layer or "")
    sheet["station"] = stations
    times = pd.Series(pd.NaT, index=env.index, dtype="datetime64[ns, UTC]")
    for column, name in cfg.columns.items():
        if column not in env.columns:
            continue
        if name == "datetime":
            for sample, text in env[column].items():
                text = str(text).strip()
                if text in MISSING_TOKENS:
                    continue
                try:
                    times[sample] = parse_datetime_utc(text)
                except ValueError:
                    problems.append(InputProblem(file=file, row=rows.get(sample), column=column, value=text,
                                                 message="not an ISO 8601 date", expected="e.g. 2011-03-14T10:30:00Z"))
            continue
        if column not in values.columns:
            continue
        sheet[name] = values[column].to_numpy()
        allowed = PHYSICAL_RANGES.get(name)
        if allowed is not None:
            for sample, value in sheet[name].items():
                if np.isfinite(value) and not allowed.contains(value):
                    out_of_range.append(InputProblem(file=file, row=rows.get(sample), column=column, value=float(value),
                                                 message=f"{name} outside the physically possible range",
                                                 expected=allowed.describe()))
    if cfg.range_check == "error":
        problems += out_of_range
    for problem in out_of_range if cfg.range_check == "warn" else []:
        logger.warning("published: kept as published (range_check: warn): %s", problem)
    sheet["datetime"] = times
    for coordinate in ("latitude", "longitude", "depth_m"):
        if coordinate not in sheet.columns:
            sheet[coordinate] = np.nan
    layer_of = None if cfg.layer_pattern is None else pd.Series(layers, index=env.index, name="layer")
    leading = ["cruise", "station", "datetime", "latitude", "longitude", "depth_m"]
    return _with_layer_variables(sheet[leading + [c for c in sheet.columns if c not in leading]], layer_of), layer_of, problems


def _with_layer_variables(sheet: pd.DataFrame, layer_of: pd.Series | None) -> pd.DataFrame:
    """The sheet with one 0/1 variable per layer of its samples but the alphabetically first (the
    reference, all zeros), appended after the other columns (any earlier ones replaced)."""
    sheet = sheet.drop(columns=[c for c in sheet.columns if c.startswith("layer_")])
    if layer_of is not None:
        for layer in sorted(set(layer_of) - {""})[1:]:
            sheet[_layer_variable(layer)] = (layer_of == layer).astype(np.float64).to_numpy()
    return sheet


@dataclass(frozen=True)
class PublishedTables:
    """Every table of a ``published`` config section, read and checked.

    ``sheet``: the sample sheet of :func:`published_samples`; ``layer_of``: the sampling layer of
    each sample (None without ``layer_pattern``); ``profiles``: name -> samples x taxa (float64).
    """

    sheet: pd.DataFrame
    layer_of: pd.Series | None
    profiles: dict[str, pd.DataFrame]


def read_published_tables(cfg: PublishedConfig, sample_filter: SampleFilter | None = None) -> PublishedTables:
    """Read and check every table of ``cfg``; raise one PlanktonlmInputError naming every problem
    of every table (a sample of a profile must be in the environment table).

    ``sample_filter`` (the ``select`` section) keeps some samples of the environment table; the
    rows of the other samples are dropped from every profile (one log line per profile)."""
    env_file = cfg.environment
    env, problems = read_table(env_file, cfg.sample_column)
    sheet, layer_of = None, None
    if env is not None:
        sheet, layer_of, sheet_problems = published_samples(env, cfg)
        problems += sheet_problems
    profiles: dict[str, pd.DataFrame] = {}
    for name, path in cfg.profiles.items():
        values, rows, profile_problems = read_profile_table(path, cfg.sample_column)
        problems += profile_problems
        if values is None:
            continue
        profiles[name] = values
        if env is not None:
            problems += [
                InputProblem(file=path, row=rows[sample], column=cfg.sample_column, value=sample,
                             message=f"sample of profile '{name}' not in the environment table",
                             expected=f"only samples listed in {env_file}")
                for sample in values.index if sample not in env.cells.index
            ]
    if not problems and sheet is not None and sample_filter is not None and sample_filter.active:
        keep, problems = select_samples(sheet, sample_filter, source=env_file, layer=layer_of)
        sheet = _with_layer_variables(sheet[keep], None if layer_of is None else layer_of[keep])
        layer_of = None if layer_of is None else layer_of[keep]
        for name, values in profiles.items():
            kept = values.index.isin(sheet.index)
            if not kept.all():
                logger.info("select: profile %s: %d of its %d samples left out", name, int((~kept).sum()), len(values))
                profiles[name] = values[kept]
            if len(sheet) and not kept.any():
                problems.append(InputProblem(file=cfg.profiles[name], column="select", value=sample_filter.criteria(),
                                             message=f"the sample filter keeps none of the samples of profile '{name}'",
                                             expected="select criteria that keep some samples of every profile"))
    if problems or sheet is None:
        raise PlanktonlmInputError(problems)
    return PublishedTables(sheet, layer_of, profiles)
