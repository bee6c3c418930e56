"""How the community shifts with the environment over time, and how sure we are: every table of
the shifts stage from the profiles, environment and metadata of a cube.

Orchestrates the statistics core over every profile:

* dbRDA marginal / conditional / forward-selected effects, variation partitioning, VIF;
  each driver again given the seasonal harmonics (what it explains beyond the calendar), on
  de-seasoned anomalies, and lagged by 1..k sampling dates (:mod:`planktonlm.stats.community_tests`);
* permutation tests that respect the sampling design (:mod:`planktonlm.stats.permutations`;
  the scheme is written beside every p-value), Holm-adjusted within each family and
  Benjamini-Hochberg q-values over the whole run;
* grouped, time-aware cross-validated prediction in both directions, one primary model x
  transformation (the result) and the others as sensitivity, each against the season + trend
  baseline on identical folds, profiles compared by paired Delta R2 with a group bootstrap
  (:mod:`planktonlm.stats.regression`);
* seasonal Mann-Kendall trends of diversity and the main PCoA axes, time-lag analysis.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.stats.community_tests import dbrda_tables, permutation_block_days
from planktonlm.stats.multitest import FAMILIES, bh_across, family_rows, holm_table
from planktonlm.stats.permutations import SamplingDesign
from planktonlm.stats.regression import ShiftContext, community_targets, compare_profiles, fold_plans, score_target
from planktonlm.stats.shift_inputs import align_samples, present_rows, select_drivers, unknown_variables, validate_inputs
from planktonlm.stats.shift_tables import SEASON_COLUMNS, TABLE_COLUMNS, ShiftResults, ShiftsConfig
from planktonlm.stats.timeseries import seasonal_time_features, seasonal_trends
from planktonlm.stats.transforms import community_features
from planktonlm.stats.varpart import variance_inflation

logger = logging.getLogger(__name__)


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
    profile_tables = {name: present_rows(table) for name, table in profile_tables.items()}
    problems = validate_inputs(profile_tables, env, meta) + unknown_variables(env, cfg)
    if not profile_tables:
        problems.append(InputProblem(file="profiles", message="no community profile given"))
    if problems:
        raise PlanktonlmInputError(problems)
    samples, profile_samples, excluded = align_samples(profile_tables, env, meta, cfg.profile_samples)
    env, meta = env.loc[samples], meta.loc[samples]
    for column in ("depth_m", "latitude"):  # optional: unknown depth / position
        if column not in meta.columns:
            meta = meta.assign(**{column: np.nan})
    drivers, excluded_variables = select_drivers(env[list(cfg.env_drivers) or list(env.columns)], cfg.max_missing_fraction)
    excluded += excluded_variables
    targets = list(cfg.env_targets) if cfg.env_targets else drivers
    design = SamplingDesign.from_frame(meta)
    plans = fold_plans(meta, design, cfg, seed)
    ctx = ShiftContext(cfg, seed, samples, design, plans)
    logger.info("shifts: %d samples, %d drivers, %d targets, CV %s", len(samples), len(drivers), len(targets),
                "; ".join(f"{k}: {p.describe()}" for k, p in plans.items()))
    dated = bool(np.all(np.isfinite(design.days)))
    if dated:
        latitude = pd.to_numeric(meta["latitude"], errors="coerce") if "latitude" in meta.columns else None
        season = seasonal_time_features(meta["datetime"], latitude)
        season = season[[c for c in season.columns if season[c].nunique() > 1]]
    else:
        season = pd.DataFrame(index=samples)
        undated = int((~np.isfinite(design.days)).sum())
        excluded.append(dict(item=", ".join(SEASON_COLUMNS), kind="variable",
                             reason=f"no seasonal, trend or time-series analyses: {undated} samples have no date"))
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
        block_days = permutation_block_days(counts_frame, design_p, cfg)
        parts, dbrda_models = dbrda_tables(profile, counts_frame, env_p, drivers_p, meta_p, design_p, season_p,
                                           space_time.loc[own], block_days, cfg, seed)
        for name, frames in parts.items():
            tables[name].extend(frames)
        models.update(dbrda_models)
        logger.info("shifts: dbRDA of %s done (%.1f s)", profile, time.perf_counter() - started)

        if community_tables is not None and profile in community_tables:
            responses = community_tables[profile].reindex(own)
        else:
            responses = community_targets(counts_frame, cfg)
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
            delayed(score_target)(profile, transformation, direction, target, x, y, names, baselines, rows=rows, ctx=ctx,
                                  block_days=block_days)
            for transformation, direction, target, x, y, names in jobs)
        for k, ((_, direction, target, *_), (target_tables, target_models)) in enumerate(zip(jobs, scored), start=1):
            if target_tables is None:
                excluded.append(dict(item=f"{profile} {direction} {target}", kind="target", reason="too few samples, groups or features"))
                continue
            for name, frames in target_tables.items():
                tables[name].extend(frames)
            models.update(pickle.loads(target_models))
            logger.info("shifts: %s %d/%d targets done (%s %s, %.1f s)", profile, k, len(jobs), direction, target,
                        time.perf_counter() - started)

    out = {name: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLE_COLUMNS[name])
           for name, frames in tables.items()}
    out["profile_comparison"] = compare_profiles(out["predictions"], out["cv_metrics"], plans[cfg.cv_schemes[0]], samples, cfg, seed)
    adjust_p_values(out)
    out = {name: table.reindex(columns=TABLE_COLUMNS[name]) for name, table in out.items()}
    out["vif"] = variance_inflation(env[drivers]) if drivers else pd.DataFrame(columns=["variable", "vif", "r2_others", "n_samples"])
    out["excluded"] = pd.DataFrame(excluded, columns=["item", "kind", "reason"])
    logger.info("shifts: finished in %.1f s", time.perf_counter() - started)
    return ShiftResults(out, models)


def adjust_p_values(tables: dict[str, pd.DataFrame]) -> None:
    """Holm within each family, Benjamini-Hochberg over every test of the run (in place)."""
    for name in FAMILIES:
        tables[name]["p_holm"] = holm_table(name, tables[name])
    for name, q in bh_across({name: family_rows(name, tables[name]) for name in FAMILIES}).items():
        tables[name]["q_bh"] = q.reindex(tables[name].index)
