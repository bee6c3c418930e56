"""Published community tables as input: a samples x taxa table and an environment table
enter instead of reads, so that a published analysis can be re-run by the shift stage.

Config section ``published`` (see :class:`PublishedConfig`): an environment table (one row per
sample, one column per measured variable), and one or more profile tables (one row per sample,
one column per taxon / lineage / OTU; counts or relative abundances). Both are tab-separated,
plain or gzip-compressed (detected from the first bytes), with the sample ids in the column
``sample_column``. This module reads and checks the tables (:func:`read_published_tables`);
:mod:`planktonlm.cube.published` builds the cube from them:

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

Bad input (unknown column, duplicate or malformed sample id, non-numeric or negative values,
ragged rows, samples of a profile missing from the environment table) raises one
PlanktonlmInputError naming file, row (1-based data row, header = row 0), column and value.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planktonlm.config import build_config
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.vocab import ABUNDANCE_PREFIX, METADATA_COORDS, MISSING_TOKENS, OTU_DIM_PREFIX, PHYSICAL_RANGES, parse_datetime_utc

logger = logging.getLogger(__name__)

# Published columns may map onto these coordinates instead of environmental variables.
COORDINATE_NAMES = ("latitude", "longitude", "depth_m", "datetime")
_SAMPLE_ID = re.compile(r"^[A-Za-z0-9._-]+$")  # as samples.tsv: no id can escape a path or a shell
# Names an environmental variable cannot take (cube coordinates / dimensions).
_RESERVED = frozenset({"sample", "time", "layer", *METADATA_COORDS.values()} - {"latitude", "longitude"})
MAX_CELL_PROBLEMS = 20  # per table; a table that is wrong everywhere is summarised, not listed


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
            if target in _RESERVED or target.startswith((ABUNDANCE_PREFIX, OTU_DIM_PREFIX, "layer_")):
                bad("columns", target, "name taken by the cube",
                    f"a name other than {sorted(_RESERVED)}, not starting with abundance_, otu_ or layer_")
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


# --------------------------------------------------------------------------------------------
# reading tables


def _open_text(path: str) -> str:
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")  # utf-8-sig: spreadsheets write a BOM


@dataclass(frozen=True)
class RawTable:
    """A published table as read: every cell a str, index = sample id (sample column removed)."""

    file: str
    cells: pd.DataFrame
    rows: dict[str, int]  # sample -> 1-based data row in the file (blank lines counted)


def read_table(path: str | os.PathLike[str], sample_column: str) -> tuple[RawTable | None, list[InputProblem]]:
    """A published TSV (plain or gzip) as strings, plus every structure problem found: header,
    ragged rows, sample ids that are empty, malformed or duplicated."""
    file = os.fspath(path)
    try:
        text = _open_text(file)
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        return None, [InputProblem(file=file, message=f"cannot read the file: {exc}",
                                   expected="a readable tab-separated text file (optionally gzip-compressed)")]
    lines = text.split("\n")
    if not lines[0].strip():
        return None, [InputProblem(file=file, row=0, message="the file is empty or starts with a blank line",
                                   expected="a header line first")]
    header = [name.strip() for name in lines[0].rstrip("\r").split("\t")]
    problems = [
        InputProblem(file=file, row=0, column=name, message="column appears more than once in the header",
                     expected="unique column names")
        for name in sorted({c for c in header if header.count(c) > 1})
    ]
    if sample_column not in header:
        problems.append(InputProblem(file=file, row=0, column=sample_column, message="sample column not in the header",
                                     expected=f"a column named {sample_column!r} (published.sample_column)"))
    if problems:
        return None, problems
    rows, numbers = [], []
    for number, line in enumerate(lines[1:], start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            problems.append(InputProblem(file=file, row=number, message=f"row has {len(cells)} tab-separated fields, "
                                         f"the header has {len(header)}", expected="one field per header column"))
            continue
        rows.append(cells)
        numbers.append(number)
    if not rows and not problems:
        problems.append(InputProblem(file=file, row=1, message="no data rows below the header", expected="one row per sample"))
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    ids = frame[sample_column].str.strip() if len(frame) else pd.Series([], dtype=object)
    row_of = pd.Series(numbers, index=frame.index, dtype=np.int64)
    for i, sample in ids.items():
        if not _SAMPLE_ID.match(sample):
            problems.append(InputProblem(file=file, row=int(row_of[i]), column=sample_column, value=sample,
                                         message="sample id empty or with characters other than letters, digits, '.', '_', '-'",
                                         expected="an id such as S4SUR"))
    duplicated = ids[ids.duplicated(keep=False)]
    for sample in sorted(set(duplicated)):
        where = ", ".join(str(row_of[i]) for i in duplicated.index[duplicated == sample])
        problems.append(InputProblem(file=file, row=int(row_of[duplicated.index[duplicated == sample][0]]),
                                     column=sample_column, value=sample,
                                     message=f"sample listed more than once (rows {where})", expected="one row per sample"))
    frame.index = pd.Index(ids.to_numpy(dtype=str), name="sample")
    frame = frame.drop(columns=[sample_column])
    return RawTable(file, frame, dict(zip(frame.index, numbers))), problems


def _numeric(
    frame: pd.DataFrame, file: str, rows: Mapping[str, int], *, allow_missing: bool, what: str
) -> tuple[pd.DataFrame, list[InputProblem]]:
    """Cells (str) -> float64. Missing tokens are NaN where ``allow_missing``, else problems;
    other text, NaN or infinity is a problem naming row (``rows``: sample -> data row), column
    and value (the first MAX_CELL_PROBLEMS, then a count)."""
    raw = frame.to_numpy(dtype=object)
    stripped = np.char.strip(raw.astype(str)) if raw.size else raw.astype(str)
    missing = np.isin(stripped, list(MISSING_TOKENS))
    try:  # fast path: every cell a number or a missing token
        values = np.where(missing, "nan", stripped).astype(np.float64)
    except ValueError:
        values = np.column_stack([pd.to_numeric(pd.Series(stripped[:, j]), errors="coerce").to_numpy(dtype=float)
                                  for j in range(raw.shape[1])]) if raw.shape[1] else np.zeros(raw.shape)
    bad = ~missing & ~np.isfinite(values)  # text, or a spelled-out nan / inf
    problems = []
    expected = "a number" + (" (empty or NA if not measured)" if allow_missing else "")
    cells = [(i, j, "not a number") for i, j in np.argwhere(bad)]
    if not allow_missing:
        cells += [(i, j, f"{what} missing") for i, j in np.argwhere(missing)]
    else:
        values[missing] = np.nan
    if what == "abundance":
        cells += [(i, j, "negative abundance") for i, j in np.argwhere(~bad & ~missing & (values < 0))]
        expected = "a finite abundance >= 0"
    cells.sort()
    for i, j, message in cells[:MAX_CELL_PROBLEMS]:
        sample = frame.index[i]
        problems.append(InputProblem(file=file, row=rows.get(sample), column=str(frame.columns[j]), value=raw[i, j],
                                     message=f"{message} (sample {sample})", expected=expected))
    if len(cells) > MAX_CELL_PROBLEMS:
        problems.append(InputProblem(file=file, message=f"{len(cells) - MAX_CELL_PROBLEMS} more cells with the same kinds of "
                                     "problem", expected=expected))
    return pd.DataFrame(values, index=frame.index, columns=frame.columns), problems


def read_profile_table(
    path: str | os.PathLike[str], sample_column: str
) -> tuple[pd.DataFrame | None, dict[str, int], list[InputProblem]]:
    """A samples x taxa table as float64 (None if unreadable), its rows (sample -> data row) and its problems."""
    table, problems = read_table(path, sample_column)
    if table is None:
        return None, {}, problems
    values, cell_problems = _numeric(table.cells, table.file, table.rows, allow_missing=False, what="abundance")
    problems += cell_problems
    if not table.cells.shape[1]:
        problems.append(InputProblem(file=table.file, row=0, message="no taxon columns", expected="one column per taxon"))
    return values, table.rows, problems


def read_published_profile(path: str | os.PathLike[str], sample_column: str = "Sample") -> pd.DataFrame:
    """A samples x taxa table (plain or gzip TSV) as float64, index ``sample``; raises on bad input."""
    values, _, problems = read_profile_table(path, sample_column)
    if problems or values is None:
        raise PlanktonlmInputError(problems)
    return values


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
    values, cell_problems = _numeric(env[numeric_columns], file, rows, allow_missing=True, what="value")
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
    layer_of = None
    if cfg.layer_pattern is not None:
        layer_of = pd.Series(layers, index=env.index, name="layer")
        present = sorted(set(layers) - {""})
        for layer in present[1:]:  # the alphabetically first layer is the reference (all zeros)
            sheet[_layer_variable(layer)] = (layer_of == layer).astype(np.float64).to_numpy()
    leading = ["cruise", "station", "datetime", "latitude", "longitude", "depth_m"]
    return sheet[leading + [c for c in sheet.columns if c not in leading]], layer_of, problems


@dataclass(frozen=True)
class PublishedTables:
    """Every table of a ``published`` config section, read and checked.

    ``sheet``: the sample sheet of :func:`published_samples`; ``layer_of``: the sampling layer of
    each sample (None without ``layer_pattern``); ``profiles``: name -> samples x taxa (float64).
    """

    sheet: pd.DataFrame
    layer_of: pd.Series | None
    profiles: dict[str, pd.DataFrame]


def read_published_tables(cfg: PublishedConfig) -> PublishedTables:
    """Read and check every table of ``cfg``; raise one PlanktonlmInputError naming every problem
    of every table (a sample of a profile must be in the environment table)."""
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
    if problems or sheet is None:
        raise PlanktonlmInputError(problems)
    return PublishedTables(sheet, layer_of, profiles)
