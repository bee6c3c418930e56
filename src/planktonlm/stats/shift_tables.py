"""The shifts stage's settings and tables: :class:`ShiftsConfig`, the columns of every table,
the results mapping, and the writer of ``results/shifts/``.

``models.pkl`` is always written: a dict ``key -> fitted model`` when ``shifts.save_models`` is
true, otherwise :data:`MODELS_NOT_KEPT`, a one-key dict saying that no model was kept.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path
from planktonlm.stats.dbrda import FORWARD_COLUMNS, TEST_COLUMNS
from planktonlm.stats.timeseries import TREND_COLUMNS
from planktonlm.stats.varpart import VARPART_COLUMNS

# grouped: repeated k-fold over whole groups; logo: leave one group out; loo: leave one sample out.
CV_SCHEMES = ("grouped", "logo", "loo")
PROFILE_SAMPLES = ("shared", "per_profile")
META_REQUIRED = ("cruise", "station", "datetime")
SEASON_COLUMNS = ("doy_sin", "doy_cos", "years_since_start")
MODELS_NOT_KEPT = {"models_not_kept": "shifts.save_models is false: no model was refitted on all samples"}


@dataclass(frozen=True)
class ShiftsConfig:
    """Settings of the shifts stage (config section ``shifts``); see config/README.md.

    Defaults and bounds live in the config schema only: build it with
    ``planktonlm.config.build_config(ShiftsConfig, "shifts", section)``. The checks here are
    the ones a JSON schema cannot state: values that must name one another (the primary model
    among the models) and lists without repeats.
    """

    transformations: tuple[str, ...]
    predict_transformations: tuple[str, ...]
    n_permutations: int
    permutation_mode: str
    permutation_mirror: bool
    min_block_days: float
    alpha: float
    models: tuple[str, ...]
    primary_model: str
    primary_transformation: str
    n_repeats: int
    n_splits: int
    cv_grouping: str
    cv_buffer_days: float
    n_pcoa_axes: int
    pcoa_transformation: str
    temperature_variable: str
    rf_n_estimators: int
    rf_max_features: float
    pls_n_components: int
    ridge_alphas: tuple[float, ...]
    importance_repeats: int
    importance_top_n: int
    importance_max_features: int
    cv_n_permutations: int
    cv_permutation_models: tuple[str, ...]
    n_bootstrap: int
    max_lag: int
    max_missing_fraction: float
    clr_pseudocount: float
    save_models: bool
    cv_schemes: tuple[str, ...]
    env_targets: tuple[str, ...]
    env_drivers: tuple[str, ...]
    profile_samples: str

    def __post_init__(self) -> None:
        # YAML gives lists; tuples keep the config immutable and hashable.
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        problems: list[InputProblem] = []

        def bad(key: str, value: object, expected: str) -> None:
            problems.append(InputProblem(file="config", column=f"shifts.{key}", value=value, message="invalid value", expected=expected))

        for key in ("transformations", "predict_transformations", "models", "cv_permutation_models"):  # no uniqueItems in the schema
            values = getattr(self, key)
            if len(set(values)) != len(values):
                bad(key, values, "distinct values")
        if self.primary_model not in self.models:
            bad("primary_model", self.primary_model, f"one of shifts.models {list(self.models)}")
        if self.primary_transformation not in self.predict_transformations:
            bad("primary_transformation", self.primary_transformation,
                f"one of shifts.predict_transformations {list(self.predict_transformations)}")
        for key in ("env_targets", "env_drivers"):
            names = getattr(self, key)
            if any(not isinstance(v, str) or not v for v in names) or len(set(names)) != len(names):
                bad(key, names, "distinct variable names (empty list = all)")
        if problems:
            raise PlanktonlmInputError(problems)


@dataclass(eq=False)
class ShiftResults(Mapping):
    """Tables of the shifts stage (a read-only mapping name -> DataFrame) plus fitted models."""

    tables: dict[str, pd.DataFrame]
    models: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> pd.DataFrame:
        return self.tables[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)


_KEYS = ["profile", "transformation"]
_PERM = ["permutation", "n_permutations"]
_ADJ = ["p_holm", "q_bh"]
_DBRDA = _KEYS + TEST_COLUMNS + ["n_dropped"] + _PERM + _ADJ
_CV_COLUMNS = ["profile", "transformation", "direction", "target", "model", "cv", "primary", "r2_mean", "r2_sd", "r2_min",
               "r2_max", "n_repeats", "n_splits", "n_samples", "group_by", "folds", "p_perm", "p_min", "n_permutations",
               "permutation"] + _ADJ
TABLE_COLUMNS = dict(
    dbrda_marginal=_DBRDA,
    dbrda_conditional=_DBRDA,
    dbrda_season=_DBRDA,
    dbrda_anomalies=_DBRDA,
    dbrda_lagged=_KEYS + ["lag"] + TEST_COLUMNS + ["n_dropped"] + _PERM + _ADJ,
    dbrda_forward=_KEYS + FORWARD_COLUMNS + ["n_samples", "n_dropped"] + _PERM,
    varpart=_KEYS + VARPART_COLUMNS + _ADJ,
    cv_metrics=_CV_COLUMNS,
    season_baseline=["profile", "transformation", "direction", "target", "model", "cv", "folds", "r2_season", "r2_main",
                     "r2_both", "delta_r2", "delta_low", "delta_high", "main_predictors", "n_samples"],
    profile_comparison=["direction", "target", "transformation", "model", "cv", "profile_a", "profile_b", "r2_a", "r2_b",
                        "delta_r2", "delta_low", "delta_high", "n_samples", "n_groups"],
    predictions=["profile", "transformation", "direction", "target", "model", "cv", "repeat", "fold", "sample", "observed", "predicted"],
    importances=["profile", "transformation", "direction", "target", "model", "cv", "rank", "feature", "importance_mean", "importance_sd"],
    trends=["profile"] + TREND_COLUMNS + _ADJ,
    time_lag=["profile", "transformation", "slope", "intercept", "r2", "n_pairs", "recurrence", "n_year_pairs", "n_half_year_pairs",
              "slope_p_value", "recurrence_p_value"] + _PERM + _ADJ,
)
SHIFT_TABLES = [*TABLE_COLUMNS, "vif", "excluded"]


def write_shift_outputs(results: Mapping[str, pd.DataFrame], paths: Mapping[str, str | Path], *, save_models: bool) -> list[Path]:
    """Write every table to ``paths[name]`` (tab-separated, floats as %.10g, NA for missing) and the
    models to ``paths["models"]`` (:data:`MODELS_NOT_KEPT` when ``save_models`` is off); atomically.
    ``paths`` must name every table of ``results`` and ``models``."""
    missing = [name for name in [*results, "models"] if name not in paths]
    if missing:
        raise KeyError(f"no output path for {', '.join(missing)}")
    written = []
    for name in results:
        path = Path(paths[name])
        text = results[name].to_csv(sep="\t", index=False, float_format="%.10g", na_rep="NA", lineterminator="\n")
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
        written.append(path)
    path = Path(paths["models"])
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(pickle.dumps(getattr(results, "models", {}) if save_models else MODELS_NOT_KEPT, protocol=5))
    written.append(path)
    return written


def write_shift_tables(results: Mapping[str, pd.DataFrame], outdir: str | Path, *, save_models: bool = True) -> list[Path]:
    """:func:`write_shift_outputs` into one folder: ``<name>.tsv`` per table and ``models.pkl``."""
    outdir = Path(outdir)
    return write_shift_outputs(results, {**{name: outdir / f"{name}.tsv" for name in results}, "models": outdir / "models.pkl"},
                               save_models=save_models)
