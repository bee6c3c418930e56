"""Shifts stage: how the community shifts with the environment over time, and how sure we are.

Orchestrates the statistics core (:mod:`planktonlm.stats`) over every profile of the cube:

* dbRDA marginal / conditional / forward-selected effects, variation partitioning, VIF;
  each driver again given the seasonal harmonics (what it explains beyond the calendar), on
  de-seasoned anomalies, and lagged by 1..k sampling dates;
* permutation tests that respect the sampling design (:mod:`planktonlm.stats.permutations`;
  the scheme is written beside every p-value), Holm-adjusted within each family and
  Benjamini-Hochberg q-values over the whole run;
* grouped, time-aware cross-validated prediction in both directions, one primary model x
  transformation (the result) and the others as sensitivity, each against the season + trend
  baseline on identical folds, profiles compared by paired Delta R2 with a group bootstrap;
* seasonal Mann-Kendall trends of diversity and the main PCoA axes, time-lag analysis.
"""

from __future__ import annotations

import logging
import pickle
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from planktonlm.ecology import diversity_indices
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path
from planktonlm.stats.crossval import MODELS, cross_validate, make_model, paired_delta_r2, r2_score
from planktonlm.stats.dbrda import FORWARD_COLUMNS, TEST_COLUMNS, DbRDA
from planktonlm.stats.folds import GROUPINGS, FoldPlan, make_fold_plan
from planktonlm.stats.multitest import FAMILIES, bh_across, family_rows, holm_table
from planktonlm.stats.ordination import PCoA
from planktonlm.stats.permutations import SCHEMES, RestrictedPermutation, SamplingDesign, decorrelation_days
from planktonlm.stats.timeseries import (
    TREND_COLUMNS,
    harmonic_climatology,
    lagged_environment,
    seasonal_time_features,
    seasonal_trends,
    time_lag_analysis,
)
from planktonlm.stats.transforms import DISTANCES, FEATURE_TRANSFORMATIONS, community_distance, community_features
from planktonlm.stats.varpart import VARPART_COLUMNS, partition_variation, variance_inflation

logger = logging.getLogger(__name__)

# grouped: repeated k-fold over whole groups; logo: leave one group out; loo: leave one sample out.
CV_SCHEMES = ("grouped", "logo", "loo")
PROFILE_SAMPLES = ("shared", "per_profile")
META_REQUIRED = ("cruise", "station", "datetime")
SEASON_COLUMNS = ("doy_sin", "doy_cos", "years_since_start")


@dataclass(frozen=True)
class ShiftsConfig:
    """Settings of the shifts stage (config section ``shifts``); see config/README.md."""

    transformations: tuple[str, ...] = ("braycurtis", "hellinger", "aitchison")
    predict_transformations: tuple[str, ...] = ("hellinger", "clr")
    n_permutations: int = 999
    permutation_mode: str = "auto"
    permutation_mirror: bool = True
    min_block_days: float = 0.0
    alpha: float = 0.05
    models: tuple[str, ...] = ("ridge", "pls", "rf")
    primary_model: str = "ridge"
    primary_transformation: str = "hellinger"
    n_repeats: int = 5
    n_splits: int = 5
    cv_grouping: str = "auto"
    cv_buffer_days: float = 60.0
    n_pcoa_axes: int = 3
    pcoa_transformation: str = "hellinger"
    temperature_variable: str = "temperature_c"
    rf_n_estimators: int = 200
    rf_max_features: float = 0.33
    pls_n_components: int = 2
    ridge_alphas: tuple[float, ...] = tuple(10.0**k for k in range(-2, 9))
    importance_repeats: int = 5
    importance_top_n: int = 20
    importance_max_features: int = 30
    cv_n_permutations: int = 999
    cv_permutation_models: tuple[str, ...] = ("ridge",)
    n_bootstrap: int = 999
    max_lag: int = 2
    max_missing_fraction: float = 0.2
    clr_pseudocount: float = 0.5
    save_models: bool = True
    cv_schemes: tuple[str, ...] = ("grouped",)
    env_targets: tuple[str, ...] = ()
    env_drivers: tuple[str, ...] = ()
    profile_samples: str = "shared"

    def __post_init__(self) -> None:
        # YAML gives lists; tuples keep the config immutable and hashable.
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        problems: list[InputProblem] = []

        def bad(key: str, value: object, expected: str) -> None:
            problems.append(InputProblem(file="config", column=f"shifts.{key}", value=value, message="invalid value", expected=expected))

        for key, allowed in (("transformations", DISTANCES), ("predict_transformations", FEATURE_TRANSFORMATIONS),
                             ("models", MODELS), ("cv_permutation_models", MODELS), ("cv_schemes", CV_SCHEMES)):
            values = getattr(self, key)
            if any(v not in allowed for v in values) or len(set(values)) != len(values):
                bad(key, values, f"distinct values from {list(allowed)}")
        if not self.cv_schemes:
            bad("cv_schemes", self.cv_schemes, f"at least one of {list(CV_SCHEMES)}")
        if self.primary_model not in self.models:
            bad("primary_model", self.primary_model, f"one of shifts.models {list(self.models)}")
        if self.primary_transformation not in self.predict_transformations:
            bad("primary_transformation", self.primary_transformation, f"one of shifts.predict_transformations {list(self.predict_transformations)}")
        for key in ("env_targets", "env_drivers"):
            names = getattr(self, key)
            if any(not isinstance(v, str) or not v for v in names) or len(set(names)) != len(names):
                bad(key, names, "distinct variable names (empty list = all)")
        for key, allowed in (("profile_samples", PROFILE_SAMPLES), ("pcoa_transformation", DISTANCES),
                             ("permutation_mode", SCHEMES), ("cv_grouping", GROUPINGS)):
            if getattr(self, key) not in allowed:
                bad(key, getattr(self, key), f"one of {list(allowed)}")
        if not 0 < self.alpha < 1:
            bad("alpha", self.alpha, "a number between 0 and 1")
        for key in ("n_permutations", "cv_n_permutations", "importance_repeats", "importance_top_n", "n_bootstrap", "max_lag"):
            if getattr(self, key) < 0:
                bad(key, getattr(self, key), "an integer >= 0")
        for key in ("n_repeats", "n_pcoa_axes", "rf_n_estimators", "pls_n_components", "importance_max_features"):
            if getattr(self, key) < 1:
                bad(key, getattr(self, key), "an integer >= 1")
        if self.n_splits < 3:
            bad("n_splits", self.n_splits, "an integer >= 3")
        for key in ("cv_buffer_days", "min_block_days"):
            if getattr(self, key) < 0:
                bad(key, getattr(self, key), "a number of days >= 0")
        if not 0 < self.rf_max_features <= 1:
            bad("rf_max_features", self.rf_max_features, "a fraction in (0, 1]")
        if not 0 <= self.max_missing_fraction < 1:
            bad("max_missing_fraction", self.max_missing_fraction, "a fraction in [0, 1)")
        if self.clr_pseudocount <= 0:
            bad("clr_pseudocount", self.clr_pseudocount, "a positive number")
        if not self.ridge_alphas or any(a <= 0 for a in self.ridge_alphas):
            bad("ridge_alphas", self.ridge_alphas, "positive numbers")
        if problems:
            raise PlanktonlmInputError(problems)


def _subseed(seed: int, label: str) -> int:
    """Stable per-purpose seed (crc32, not hash(): the latter changes between processes)."""
    return int(np.random.SeedSequence([seed, zlib.crc32(label.encode())]).generate_state(1)[0])


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
               "r2_max", "n_repeats", "n_splits", "n_samples", "group_by", "folds", "p_perm", "p_min", "n_permutations", "permutation"] + _ADJ
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


# ----------------------------------------------------------------------------------------------
# Per-profile analyses
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """Everything one profile's analyses share (picklable for the worker processes)."""

    cfg: ShiftsConfig
    seed: int
    samples: pd.Index
    design: SamplingDesign
    plans: dict[str, FoldPlan]


def _dbrda_tables(profile: str, counts: np.ndarray, env_p: pd.DataFrame, drivers: list[str], meta_p: pd.DataFrame,
                  design_p: SamplingDesign, season: pd.DataFrame, space_time: pd.DataFrame, block_days: float | None,
                  cfg: ShiftsConfig, seed: int) -> tuple[dict[str, list[pd.DataFrame]], dict[str, Any]]:
    """dbRDA (marginal, conditional, forward, given the season, on anomalies, lagged), variation
    partitioning and time-lag analysis of one profile, for every distance."""
    tables: dict[str, list[pd.DataFrame]] = {k: [] for k in ("dbrda_marginal", "dbrda_conditional", "dbrda_forward", "dbrda_season",
                                                             "dbrda_anomalies", "dbrda_lagged", "varpart", "time_lag")}
    models: dict[str, Any] = {}
    dbrda_seed = _subseed(seed, "dbrda")  # one permutation set for every profile and distance
    options = dict(n_permutations=cfg.n_permutations, alpha=cfg.alpha, permutation=cfg.permutation_mode,
                   mirror=cfg.permutation_mirror, block_days=block_days, random_state=dbrda_seed)
    groups = _variable_groups(env_p, drivers, space_time, cfg.temperature_variable)
    dated = bool(np.all(np.isfinite(design_p.days)))
    scheme = RestrictedPermutation(design_p, cfg.permutation_mode, mirror=cfg.permutation_mirror, block_days=block_days) if dated else None
    lagged = lagged_environment(env_p[drivers], meta_p, cfg.max_lag) if dated and cfg.max_lag and drivers else None
    climatology = harmonic_climatology(meta_p) if dated else None
    for transformation in cfg.transformations:
        distances = community_distance(counts, transformation, pseudocount=cfg.clr_pseudocount).to_numpy()
        keys = dict(profile=profile, transformation=transformation)

        def fit(env: pd.DataFrame, covariates: Any = None, forward: bool = False) -> DbRDA:
            return DbRDA(forward=forward, **options).fit(distances, env, design=design_p, covariates=covariates)

        def extra(est: DbRDA) -> dict:
            return dict(**keys, n_dropped=est.n_dropped_, permutation=est.permutation_description_, n_permutations=est.n_permutations_)

        if drivers:
            est = fit(env_p[drivers], forward=True)
            tables["dbrda_marginal"].append(est.marginal_.assign(**extra(est)))
            tables["dbrda_conditional"].append(est.conditional_.assign(**extra(est)))
            tables["dbrda_forward"].append(est.forward_.assign(n_samples=est.n_samples_, **extra(est)))
            if cfg.save_models:
                models[f"dbrda/{profile}/{transformation}"] = est
            if season.shape[1]:
                est = fit(env_p[drivers], covariates=season)
                tables["dbrda_season"].append(est.marginal_.assign(**extra(est)))
            if climatology is not None and climatology.shape[1] < len(env_p) - len(drivers) - 2:
                est = fit(env_p[drivers], covariates=climatology)
                tables["dbrda_anomalies"].append(est.marginal_.assign(**extra(est)))
            for lag in range(1, cfg.max_lag + 1) if lagged is not None else ():
                columns = [f"{c}_lag{lag}" for c in drivers]
                frame = lagged[columns]
                usable = [c for c in columns if frame[c].notna().sum() >= 4 and frame[c].nunique() > 1]
                complete = frame[usable].notna().all(axis=1)
                if usable and complete.sum() >= len(usable) + 3:
                    est = fit(frame[usable])
                    tables["dbrda_lagged"].append(est.marginal_.assign(lag=lag, **extra(est)))
        if len(groups) >= 2:
            varpart = partition_variation(distances, groups, n_permutations=cfg.n_permutations, seed=dbrda_seed, design=design_p,
                                          permutation=cfg.permutation_mode, mirror=cfg.permutation_mirror, block_days=block_days)
            tables["varpart"].append(varpart.assign(**keys))
        if dated:
            perms = scheme.draw(cfg.n_permutations, _subseed(seed, "time_lag"))
            _, summary = time_lag_analysis(distances, meta_p, perms)
            tables["time_lag"].append(pd.DataFrame([dict(**keys, **{k: summary[k] for k in TABLE_COLUMNS["time_lag"] if k in summary},
                                                         permutation=scheme.description, n_permutations=len(perms))]))
    return tables, models


def _variable_groups(env: pd.DataFrame, drivers: list[str], space_time: pd.DataFrame, temperature: str) -> dict[str, pd.DataFrame]:
    """Groups for variation partitioning: temperature / other environment / space-time."""
    groups = {}
    if temperature in drivers:
        groups["temperature"] = env[[temperature]]
    other = [c for c in drivers if c != temperature]
    if other:
        groups["environment"] = env[other]
    if space_time.shape[1]:
        groups["space_time"] = space_time
    return groups


def _score_target(profile: str, transformation: str, direction: str, target: str, x: np.ndarray, y: np.ndarray,
                  names: np.ndarray, baselines: dict[str, np.ndarray], *, rows: np.ndarray, ctx: _Context,
                  block_days: float | None) -> tuple[dict[str, list[pd.DataFrame]] | None, bytes]:
    """Every model under every CV scheme for one target (and, for the primary model, the season
    baseline on identical folds): (table parts, pickled fitted models), or (None, b"") when the
    target has too few samples, groups or features."""
    cfg, seed = ctx.cfg, ctx.seed
    mask = ~np.isnan(y) & ~np.isnan(x).any(axis=1)
    n_used = int(mask.sum())
    if n_used < 6 or np.std(y[mask]) == 0 or x.shape[1] == 0:
        return None, b""
    plans = {scheme: plan.restrict(rows).restrict(mask) for scheme, plan in ctx.plans.items()}
    if any(plan.n_splits < 2 for plan in plans.values()):
        return None, b""
    design = ctx.design.subset(rows).subset(mask)
    scheme_p = RestrictedPermutation(design, cfg.permutation_mode, mirror=cfg.permutation_mirror, block_days=block_days)
    perms = scheme_p.draw(cfg.cv_n_permutations, _subseed(seed, f"cv/{direction}/{target}"))
    samples = ctx.samples[rows][mask]
    keys = dict(profile=profile, transformation=transformation, direction=direction, target=target)
    tables: dict[str, list[pd.DataFrame]] = {"cv_metrics": [], "predictions": [], "importances": [], "season_baseline": []}
    models: dict[str, Any] = {}

    def estimator(model_name: str, n_features: int):
        return make_model(model_name, n_samples=n_used, n_features=n_features, seed=_subseed(seed, "rf"), ridge_alphas=cfg.ridge_alphas,
                          pls_n_components=cfg.pls_n_components, rf_n_estimators=cfg.rf_n_estimators, rf_max_features=cfg.rf_max_features)

    for model_name in cfg.models:
        primary = model_name == cfg.primary_model and transformation in (cfg.primary_transformation, "environment")
        for scheme, plan in plans.items():
            result = cross_validate(
                estimator(model_name, x.shape[1]), x[mask], y[mask], plan, sample_ids=samples, feature_names=names,
                importance_repeats=cfg.importance_repeats, importance_max_features=cfg.importance_max_features,
                perms=perms if model_name in cfg.cv_permutation_models and scheme == cfg.cv_schemes[0] and primary else None,
                seed=_subseed(seed, f"importance/{direction}/{target}"))
            r2 = result.r2
            tables["cv_metrics"].append(pd.DataFrame([dict(
                **keys, model=model_name, cv=scheme, primary=primary and scheme == cfg.cv_schemes[0], r2_mean=float(np.nanmean(r2)),
                r2_sd=float(np.nanstd(r2, ddof=1)) if len(r2) > 1 else float("nan"), r2_min=float(np.nanmin(r2)),
                r2_max=float(np.nanmax(r2)), n_repeats=len(r2), n_splits=plan.n_splits, n_samples=n_used, group_by=plan.grouping,
                folds=plan.describe(), p_perm=result.p_perm, p_min=1 / (result.n_permutations + 1) if result.n_permutations else float("nan"),
                n_permutations=result.n_permutations,
                permutation=scheme_p.description if result.n_permutations else "")]))
            tables["predictions"].append(result.predictions.assign(**keys, model=model_name, cv=scheme))
            top = result.importances.head(cfg.importance_top_n)
            tables["importances"].append(top.assign(**keys, model=model_name, cv=scheme, rank=np.arange(1, len(top) + 1)))
            if primary and scheme == cfg.cv_schemes[0] and "season" in baselines:
                tables["season_baseline"].append(_season_row(keys, model_name, scheme, plan, x[mask], y[mask], baselines, mask,
                                                             result.oof, estimator, cfg, seed))
        if cfg.save_models:
            models[f"{profile}/{transformation}/{direction}/{target}/{model_name}"] = estimator(model_name, x.shape[1]).fit(x[mask], y[mask])
    # Pickled here, whichever process runs this: models.pkl must not depend on n_jobs.
    return tables, pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)


def _season_row(keys: dict, model_name: str, scheme: str, plan: FoldPlan, x: np.ndarray, y: np.ndarray, baselines: dict[str, np.ndarray],
                mask: np.ndarray, main_oof: np.ndarray, estimator, cfg: ShiftsConfig, seed: int) -> pd.DataFrame:
    """R2 of the season + trend alone, of the main predictors, and of both, on identical folds;
    Delta R2 = both - season with a bootstrap interval over CV groups."""
    season = baselines["season"][mask]
    both = np.column_stack([x, season])
    # All three on the folds of repeat 0, the repeat whose predictions the paired Delta R2 uses.
    first = replace(plan, fold_of=plan.fold_of[:1], splits=plan.splits[:1])
    oof = {"main": main_oof}
    for name, features in (("season", season), ("both", both)):
        oof[name] = cross_validate(estimator(model_name, features.shape[1]), features, y, first, seed=seed).oof
    valid = np.isfinite(oof["main"])
    r2 = {name: r2_score(y[valid], predicted[valid]) for name, predicted in oof.items()}
    delta, low, high = paired_delta_r2(y, oof["both"], oof["season"], plan.groups, n_boot=cfg.n_bootstrap,
                                       seed=_subseed(seed, f"boot/{keys['direction']}/{keys['target']}"))
    main = "community" if keys["direction"] == "community_to_env" else "environment"
    return pd.DataFrame([dict(**keys, model=model_name, cv=scheme, folds=plan.describe(), r2_season=r2["season"], r2_main=r2["main"],
                              r2_both=r2["both"], delta_r2=delta, delta_low=low, delta_high=high, main_predictors=main,
                              n_samples=len(y))])


def _community_targets(counts: pd.DataFrame, cfg: ShiftsConfig) -> pd.DataFrame:
    """PCoA axes (as the ecology stage computes them) + Shannon / Gini-Simpson, for profiles the
    ecology stage does not cover (the oracle, published tables)."""
    distances = community_distance(counts, cfg.pcoa_transformation, pseudocount=cfg.clr_pseudocount)
    table = PCoA(n_components=cfg.n_pcoa_axes).fit(distances).coordinates_
    return table.join(diversity_indices(counts)[["shannon", "simpson"]])
# ----------------------------------------------------------------------------------------------
# The whole run
# ----------------------------------------------------------------------------------------------


def _fold_plans(meta: pd.DataFrame, design: SamplingDesign, cfg: ShiftsConfig, seed: int) -> dict[str, FoldPlan]:
    """One plan per CV scheme, assigned once on all samples (profiles restrict it)."""
    grouped = make_fold_plan(meta, design, cfg.cv_grouping, n_splits=cfg.n_splits, n_repeats=cfg.n_repeats,
                             buffer_days=cfg.cv_buffer_days, seed=_subseed(seed, "folds"))
    plans = {}
    for scheme in cfg.cv_schemes:
        if scheme == "grouped":
            plans[scheme] = grouped
        elif scheme == "logo":
            plans[scheme] = make_fold_plan(meta, design, grouped.grouping, n_splits=len(np.unique(grouped.groups)), n_repeats=1,
                                           buffer_days=cfg.cv_buffer_days, seed=0)
        else:
            plans[scheme] = make_fold_plan(meta, design, "sample", n_splits=design.n_samples, n_repeats=1, buffer_days=0, seed=0)
    return plans


def _block_days(counts: np.ndarray, design: SamplingDesign, cfg: ShiftsConfig) -> float | None:
    """Block length for irregular series: the community's decorrelation time (from its first
    principal coordinates), at least ``min_block_days``."""
    if not np.all(np.isfinite(design.days)):
        return None
    scores = PCoA(n_components=3).fit(community_distance(counts, cfg.pcoa_transformation, pseudocount=cfg.clr_pseudocount))
    tau = decorrelation_days(scores.coordinates_.to_numpy(), design)
    return max(cfg.min_block_days, tau) if np.isfinite(tau) else (cfg.min_block_days or None)


def run_shifts(profile_tables: Mapping[str, pd.DataFrame], env: pd.DataFrame, meta: pd.DataFrame, cfg: ShiftsConfig, seed: int,
               community_tables: Mapping[str, pd.DataFrame] | None = None, *, n_jobs: int = 1) -> ShiftResults:
    """Link every community profile to the environment; returns the stage's tables and models.

    profile_tables: name -> counts or relative abundances (samples x features, index = sample);
    an all-missing row means "sample absent from this profile" (as the cube stores it).
    env: environmental drivers (samples x variables, numeric). meta: cruise, station, datetime
    (UTC; may be missing: then no seasonal or time-series analyses), depth_m, latitude, longitude.
    community_tables: name -> responses for the environment -> community direction (the PCoA
    axes and diversity the ecology stage wrote); other profiles get them computed the same way.
    Samples are sorted by id (input row order never matters); ``n_jobs`` does not change results.
    """
    started = time.perf_counter()
    profile_tables = {name: _present_rows(table) for name, table in profile_tables.items()}
    problems = _validate_inputs(profile_tables, env, meta) + _unknown_variables(env, cfg)
    if not profile_tables:
        problems.append(InputProblem(file="profiles", message="no community profile given"))
    if problems:
        raise PlanktonlmInputError(problems)
    samples, profile_samples, excluded = _align_samples(profile_tables, env, meta, cfg.profile_samples)
    env, meta = env.loc[samples], meta.loc[samples]
    for column in ("depth_m", "latitude"):  # optional: unknown depth / position
        if column not in meta.columns:
            meta = meta.assign(**{column: np.nan})
    drivers, excluded_variables = _select_drivers(env[list(cfg.env_drivers) or list(env.columns)], cfg.max_missing_fraction)
    excluded += excluded_variables
    targets = list(cfg.env_targets) if cfg.env_targets else drivers
    design = SamplingDesign.from_frame(meta)
    plans = _fold_plans(meta, design, cfg, seed)
    ctx = _Context(cfg, seed, samples, design, plans)
    logger.info("shifts: %d samples, %d drivers, %d targets, CV %s", len(samples), len(drivers), len(targets),
                "; ".join(f"{k}: {p.describe()}" for k, p in plans.items()))
    dated = bool(np.all(np.isfinite(design.days)))
    if dated:
        latitude = pd.to_numeric(meta["latitude"], errors="coerce") if "latitude" in meta.columns else None
        season = seasonal_time_features(meta["datetime"], latitude)
        season = season[[c for c in season.columns if season[c].nunique() > 1]]
    else:
        season = pd.DataFrame(index=samples)
        excluded.append(dict(item=", ".join(SEASON_COLUMNS), kind="variable",
                             reason=f"no seasonal, trend or time-series analyses: {int((~np.isfinite(design.days)).sum())} samples have no date"))
    space = pd.DataFrame({c: pd.to_numeric(meta[c], errors="coerce") for c in ("latitude", "longitude")
                          if c in meta.columns and c not in drivers}, index=samples)
    space_time = pd.concat([space[[c for c in space.columns if space[c].nunique() > 1]], season], axis=1)

    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLE_COLUMNS}
    models: dict[str, Any] = {}
    for profile in sorted(profile_tables):
        own = profile_samples[profile]
        rows = np.asarray(samples.isin(own))
        counts_frame = profile_tables[profile].loc[own]
        env_p, meta_p, design_p, season_p = env.loc[own], meta.loc[own], design.subset(rows), season.loc[own]
        drivers_p = [c for c in drivers if env_p[c].nunique(dropna=True) > 1]
        for c in sorted(set(drivers) - set(drivers_p)):
            excluded.append(dict(item=str(c), kind="variable", reason=f"constant within profile {profile}'s samples"))
        block_days = _block_days(counts_frame, design_p, cfg)
        parts, dbrda_models = _dbrda_tables(profile, counts_frame, env_p, drivers_p, meta_p, design_p, season_p,
                                            space_time.loc[own], block_days, cfg, seed)
        for name, frames in parts.items():
            tables[name].extend(frames)
        models.update(dbrda_models)
        logger.info("shifts: dbRDA of %s done (%.1f s)", profile, time.perf_counter() - started)

        if community_tables is not None and profile in community_tables:
            responses = community_tables[profile].reindex(own)
        else:
            responses = _community_targets(counts_frame, cfg)
        if dated:
            trend = seasonal_trends(responses, meta_p).assign(profile=profile)
            tables["trends"].append(trend)
        baselines = {"season": season_p.to_numpy(dtype=float)} if season_p.shape[1] else {}
        jobs = []
        otu_names = np.asarray(profile_tables[profile].columns, dtype=str)
        for transformation in cfg.predict_transformations:
            features = community_features(counts_frame, transformation, pseudocount=cfg.clr_pseudocount).to_numpy()
            for target in targets:
                jobs.append((transformation, "community_to_env", str(target), features, env_p[target].to_numpy(dtype=float), otu_names))
        env_features = env_p[drivers_p]
        for target in responses.columns:
            y = pd.to_numeric(responses[target], errors="coerce").to_numpy(dtype=float)
            jobs.append(("environment", "env_to_community", str(target), env_features.to_numpy(dtype=float), y,
                         np.asarray(env_features.columns, dtype=str)))
        # Targets are independent (each has its own seeds), so they run in parallel; results come
        # back in job order, which keeps the tables identical whatever n_jobs is.
        scored = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_score_target)(profile, transformation, direction, target, x, y, names, baselines, rows=rows, ctx=ctx,
                                   block_days=block_days)
            for transformation, direction, target, x, y, names in jobs)
        for k, ((_, direction, target, *_), (target_tables, target_models)) in enumerate(zip(jobs, scored), start=1):
            if target_tables is None:
                excluded.append(dict(item=f"{profile} {direction} {target}", kind="target", reason="too few samples, groups or features"))
                continue
            for name, frames in target_tables.items():
                tables[name].extend(frames)
            models.update(pickle.loads(target_models))
            logger.info("shifts: %s %d/%d targets done (%s %s, %.1f s)", profile, k, len(jobs), direction, target, time.perf_counter() - started)

    out = {name: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLE_COLUMNS[name])
           for name, frames in tables.items()}
    out["profile_comparison"] = _compare_profiles(out["predictions"], out["cv_metrics"], plans[cfg.cv_schemes[0]], samples, cfg, seed)
    _adjust_p_values(out)
    out = {name: table.reindex(columns=TABLE_COLUMNS[name]) for name, table in out.items()}
    out["vif"] = variance_inflation(env[drivers]) if drivers else pd.DataFrame(columns=["variable", "vif", "r2_others", "n_samples"])
    out["excluded"] = pd.DataFrame(excluded, columns=["item", "kind", "reason"])
    logger.info("shifts: finished in %.1f s", time.perf_counter() - started)
    return ShiftResults(out, models)


def _compare_profiles(predictions: pd.DataFrame, cv_metrics: pd.DataFrame, plan: FoldPlan, samples: pd.Index, cfg: ShiftsConfig,
                      seed: int) -> pd.DataFrame:
    """Paired Delta R2 between every two profiles for every environmental target (community ->
    environment: the same observed values for every profile), primary model x transformation,
    repeat 0 of the primary CV scheme, on the samples both predicted. The other direction has
    no shared target (each profile's PCoA axes and diversity are its own)."""
    rows = []
    primary = cv_metrics[cv_metrics["primary"].astype(bool) & (cv_metrics["direction"] == "community_to_env")] if len(cv_metrics) else cv_metrics
    group_of = pd.Series(plan.groups, index=samples)
    for (direction, target, transformation), block in primary.groupby(["direction", "target", "transformation"], sort=True):
        profiles = sorted(block["profile"])
        sel = predictions[(predictions["direction"] == direction) & (predictions["target"] == target)
                          & (predictions["transformation"] == transformation) & (predictions["model"] == cfg.primary_model)
                          & (predictions["cv"] == cfg.cv_schemes[0]) & (predictions["repeat"] == 0)]
        wide = sel.pivot_table(index="sample", columns="profile", values="predicted", aggfunc="first")
        observed = sel.groupby("sample")["observed"].first()
        for i, a in enumerate(profiles):
            for b in profiles[i + 1 :]:
                if a not in wide or b not in wide:
                    continue
                both = wide[[a, b]].dropna()
                obs = observed.loc[both.index].to_numpy(dtype=float)
                groups = group_of.loc[both.index].to_numpy()
                delta, low, high = paired_delta_r2(obs, both[a].to_numpy(), both[b].to_numpy(), groups, n_boot=cfg.n_bootstrap,
                                                   seed=_subseed(seed, f"compare/{direction}/{target}/{a}/{b}"))
                rows.append(dict(direction=direction, target=target, transformation=transformation, model=cfg.primary_model,
                                 cv=cfg.cv_schemes[0], profile_a=a, profile_b=b, r2_a=r2_score(obs, both[a].to_numpy()),
                                 r2_b=r2_score(obs, both[b].to_numpy()), delta_r2=delta,
                                 delta_low=low, delta_high=high, n_samples=len(both), n_groups=len(np.unique(groups))))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["profile_comparison"])


def _adjust_p_values(tables: dict[str, pd.DataFrame]) -> None:
    """Holm within each family, Benjamini-Hochberg over every test of the run (in place)."""
    for name in FAMILIES:
        tables[name]["p_holm"] = holm_table(name, tables[name])
    for name, q in bh_across({name: family_rows(name, tables[name]) for name in FAMILIES}).items():
        tables[name]["q_bh"] = q.reindex(tables[name].index)


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------


def _validate_inputs(profile_tables: Mapping[str, pd.DataFrame], env: pd.DataFrame, meta: pd.DataFrame) -> list[InputProblem]:
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


def _present_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A profile without its all-missing rows: samples absent from it (as a cube stores them)."""
    absent = table.isna().all(axis=1).to_numpy() if table.shape[1] else np.zeros(len(table), dtype=bool)
    return table.loc[~absent] if absent.any() else table


def _align_samples(
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


def _unknown_variables(env: pd.DataFrame, cfg: ShiftsConfig) -> list[InputProblem]:
    known = [str(c) for c in env.columns]
    return [
        InputProblem(file="config", column=f"shifts.{key}", value=name, message="not an environmental variable of the input",
                     expected=f"one of {known}")
        for key in ("env_targets", "env_drivers") for name in getattr(cfg, key) if name not in known
    ]


def _select_drivers(env: pd.DataFrame, max_missing_fraction: float) -> tuple[list[str], list[dict]]:
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


# ----------------------------------------------------------------------------------------------
# Stage entry
# ----------------------------------------------------------------------------------------------


def write_shift_tables(results: Mapping[str, pd.DataFrame], outdir: str | Path, *, save_models: bool = True) -> list[Path]:
    """Write each table as ``<name>.tsv`` (tab-separated, floats as %.10g, NA for missing) and the
    fitted models as ``models.pkl`` (an empty dict when ``save_models`` is off); atomically."""
    outdir = Path(outdir)
    written = []
    for name in results:
        path = outdir / f"{name}.tsv"
        text = results[name].to_csv(sep="\t", index=False, float_format="%.10g", na_rep="NA", lineterminator="\n")
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
        written.append(path)
    path = outdir / "models.pkl"
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(pickle.dumps(getattr(results, "models", {}) if save_models else {}, protocol=5))
    written.append(path)
    return written


def shifts_config(section: Mapping[str, Any] | ShiftsConfig) -> ShiftsConfig:
    """ShiftsConfig from the validated ``shifts`` config section (unknown keys are named)."""
    if isinstance(section, ShiftsConfig):
        return section
    known = {f.name for f in fields(ShiftsConfig)}
    unknown = [key for key in section if key not in known]
    if unknown:
        raise PlanktonlmInputError([InputProblem(file="config", column=f"shifts.{key}", message="unknown key", expected=f"one of {sorted(known)}")
                                    for key in unknown])
    return ShiftsConfig(**dict(section))


def ecology_community_tables(paths: Mapping[str, Mapping[str, str | Path]], cfg: ShiftsConfig) -> dict[str, pd.DataFrame]:
    """Responses of the environment -> community direction from the ecology stage's files:
    profile -> {"pcoa": pcoa.tsv, "alpha": alpha.tsv}; the first ``n_pcoa_axes`` axes of
    ``pcoa_transformation`` plus rarefied Shannon and Simpson. Profiles whose ecology lacks that
    distance are left out (shifts computes their axes the same way)."""
    out = {}
    for profile, files in paths.items():
        pcoa = pd.read_csv(files["pcoa"], sep="\t")
        pcoa = pcoa[pcoa["metric"] == cfg.pcoa_transformation]
        if pcoa.empty:
            continue
        axes = [f"PCo{k + 1}" for k in range(cfg.n_pcoa_axes) if f"PCo{k + 1}" in pcoa.columns]
        table = pcoa.set_index(pcoa["sample"].astype(str))[axes]
        alpha = pd.read_csv(files["alpha"], sep="\t")
        out[profile] = table.join(alpha.set_index(alpha["sample"].astype(str))[["shannon", "simpson"]])
    return out


def run_shift_stage(cube_nc: str | Path, outdir: str | Path, shifts_cfg: Mapping[str, Any] | ShiftsConfig, seed: int,
                    ecology: Mapping[str, Mapping[str, str | Path]] | None = None, *, depth_as_driver: bool = True,
                    n_jobs: int = 1) -> ShiftResults:
    """Stage entry: cube.nc (+ the ecology stage's PCoA and diversity tables) -> the shift tables in ``outdir``.

    Works for a cruise cube and a cube of published tables. Every profile of the cube is analysed
    separately, the simulator's oracle included (the reference the read-based profiles are
    compared against). The cube's depth joins the drivers as ``depth_m`` when known and varying.
    """
    from planktonlm.cube import environment_table, profile_names, profile_table, read_cube, sample_metadata

    cfg = shifts_config(shifts_cfg)
    ds = read_cube(cube_nc)
    profiles = {name: profile_table(ds, name) for name in profile_names(ds)}
    env = environment_table(ds)
    meta = sample_metadata(ds)
    if depth_as_driver and "depth_m" not in env.columns and meta["depth_m"].nunique(dropna=True) > 1:
        env["depth_m"] = meta["depth_m"]
    logger.info("shifts: cube %s: profiles %s, %d samples, %d environmental variables", cube_nc, ", ".join(profiles), len(env), env.shape[1])
    community = ecology_community_tables(ecology or {}, cfg)
    results = run_shifts(profiles, env, meta, cfg, seed, community, n_jobs=n_jobs)
    write_shift_tables(results, outdir, save_models=cfg.save_models)
    return results


def run_shift_stage_from_rule(inputs: Mapping[str, str], outdir: str | Path, shifts_cfg: Mapping[str, Any], seed: int, *,
                              n_jobs: int = 1) -> ShiftResults:
    """The shifts rule's named inputs (``cube``, ``pcoa_<profile>``, ``alpha_<profile>``) -> :func:`run_shift_stage`."""
    ecology = {key[len("pcoa_"):]: {"pcoa": path, "alpha": inputs[f"alpha_{key[len('pcoa_'):]}"]}
               for key, path in inputs.items() if key.startswith("pcoa_")}
    return run_shift_stage(inputs["cube"], outdir, shifts_cfg, seed, ecology, n_jobs=n_jobs)
