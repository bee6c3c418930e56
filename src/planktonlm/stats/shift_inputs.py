"""Input checks of the shifts stage: the tables' consistency, the samples every profile is
analysed on, and the environmental variables usable as drivers. Every problem is collected and
reported together (:class:`planktonlm.errors.PlanktonlmInputError`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.stats.shift_tables import META_REQUIRED, ShiftsConfig


def validate_inputs(profile_tables: Mapping[str, pd.DataFrame], env: pd.DataFrame, meta: pd.DataFrame) -> list[InputProblem]:
    """Missing metadata columns, unparsable dates, duplicate ids, non-numeric or invalid values."""
    problems = []
    for column in META_REQUIRED:
        if column not in meta.columns:
            problems.append(InputProblem(file="samples metadata", column=column, message="required column missing"))
    if "datetime" in meta.columns:
        parsed = pd.to_datetime(meta["datetime"], utc=True, errors="coerce")
        # A missing date (NaT / empty: published tables) is allowed; text that is no date is not.
        given = meta["datetime"].notna() & (meta["datetime"].astype(str).str.strip() != "")
        for row, (sample, bad) in enumerate(zip(meta.index, parsed.isna() & given), start=1):
            if bad:
                problems.append(InputProblem(file="samples metadata", row=row, column="datetime",
                                             value=meta["datetime"].iloc[row - 1], message=f"unparsable date of sample {sample}",
                                             expected="ISO 8601 date-time"))
    for name, table in [("environment", env), ("samples metadata", meta)] + [(f"profile {k}", v) for k, v in profile_tables.items()]:
        if table.index.has_duplicates:
            dup = table.index[table.index.duplicated()][0]
            problems.append(InputProblem(file=name, value=dup, message="duplicate sample id"))
    for column in env.columns:
        if not pd.api.types.is_numeric_dtype(env[column]):
            problems.append(InputProblem(file="environment", column=str(column), message="not numeric", expected="a number per sample"))
    for name, table in profile_tables.items():
        values = table.to_numpy(dtype=float, na_value=np.nan) if all(pd.api.types.is_numeric_dtype(t) for t in table.dtypes) else None
        if values is None:
            problems.append(InputProblem(file=f"profile {name}", message="non-numeric abundance columns"))
            continue
        for row, (sample, vals) in enumerate(zip(table.index, values), start=1):
            if not np.all(np.isfinite(vals)) or np.any(vals < 0) or vals.sum() <= 0:
                problems.append(InputProblem(file=f"profile {name}", row=row, value=sample,
                                             message="abundances must be finite, non-negative and not all zero"))
    return problems


def present_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A profile without its all-missing rows: samples absent from it (as a cube stores them)."""
    absent = table.isna().all(axis=1).to_numpy() if table.shape[1] else np.zeros(len(table), dtype=bool)
    return table.loc[~absent] if absent.any() else table


def align_samples(
    profile_tables: Mapping[str, pd.DataFrame], env: pd.DataFrame, meta: pd.DataFrame, mode: str = "shared"
) -> tuple[pd.Index, dict[str, pd.Index], list[dict]]:
    """Samples analysed (sorted by id), the samples of each profile, and the excluded ones.

    ``shared``: samples present in every table, for every profile. ``per_profile``: samples in
    the environment and metadata tables and in at least one profile; each profile uses those
    it has (a profile published for a subset of the samples keeps all of them).
    """
    indexes = [env.index, meta.index] + [t.index for t in profile_tables.values()]
    if mode == "shared":
        common = set(indexes[0]).intersection(*indexes[1:])
        reason = "not in every profile, environment and metadata table"
    else:
        common = set(env.index).intersection(meta.index) & set().union(*indexes[2:])
        reason = "not in the environment and metadata tables and at least one profile"
    excluded = [
        dict(item=str(sample), kind="sample", reason=reason) for sample in sorted(set().union(*indexes) - common, key=str)
    ]
    samples = pd.Index(sorted(common, key=str))
    per_profile, problems = {}, []
    for name in sorted(profile_tables):
        own = samples[samples.isin(profile_tables[name].index)]
        per_profile[name] = own
        absent = samples.difference(own)
        if len(absent):
            excluded.append(dict(item=", ".join(map(str, absent)), kind="sample",
                                 reason=f"absent from profile {name}: {len(own)} of {len(samples)} samples used"))
        if len(own) < 4:
            problems.append(InputProblem(file=f"profile {name}", value=len(own), message="too few samples"
                                         + (" shared by all tables" if mode == "shared" else " with environment data"),
                                         expected="at least 4"))
    if problems:
        raise PlanktonlmInputError(problems)
    return samples, per_profile, excluded


def unknown_variables(env: pd.DataFrame, cfg: ShiftsConfig) -> list[InputProblem]:
    """``env_targets`` / ``env_drivers`` that name no environmental variable of the input."""
    known = [str(c) for c in env.columns]
    return [
        InputProblem(file="config", column=f"shifts.{key}", value=name, message="not an environmental variable of the input",
                     expected=f"one of {known}")
        for key in ("env_targets", "env_drivers") for name in getattr(cfg, key) if name not in known
    ]


def select_drivers(env: pd.DataFrame, max_missing_fraction: float) -> tuple[list[str], list[dict]]:
    """Environmental variables usable as drivers; constant or mostly missing ones are excluded."""
    drivers, excluded = [], []
    for column in env.columns:
        missing = float(env[column].isna().mean())
        if missing > max_missing_fraction:
            excluded.append(dict(item=str(column), kind="variable", reason=f"missing in {missing:.0%} of samples"))
        elif env[column].nunique(dropna=True) < 2:
            excluded.append(dict(item=str(column), kind="variable", reason="constant"))
        else:
            drivers.append(column)
    return drivers, excluded
