"""Tests of the community against the environment for one profile: the dbRDA tables (marginal,
conditional, forward-selected, given the season, on de-seasoned anomalies, lagged), variation
partitioning and the time-lag analysis, for every distance, with design-respecting permutations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from planktonlm.seeding import purpose_seed
from planktonlm.stats.dbrda import DbRDA
from planktonlm.stats.ordination import PCoA
from planktonlm.stats.permutations import RestrictedPermutation, SamplingDesign, decorrelation_days
from planktonlm.stats.shift_tables import TABLE_COLUMNS, ShiftsConfig
from planktonlm.stats.timeseries import harmonic_climatology, lagged_environment, time_lag_analysis
from planktonlm.stats.transforms import community_distance
from planktonlm.stats.varpart import partition_variation

DBRDA_TABLES = ("dbrda_marginal", "dbrda_conditional", "dbrda_forward", "dbrda_season", "dbrda_anomalies", "dbrda_lagged",
                "varpart", "time_lag")


def dbrda_tables(profile: str, counts: np.ndarray, env_p: pd.DataFrame, drivers: list[str], meta_p: pd.DataFrame,
                 design_p: SamplingDesign, season: pd.DataFrame, space_time: pd.DataFrame, block_days: float | None,
                 cfg: ShiftsConfig, seed: int) -> tuple[dict[str, list[pd.DataFrame]], dict[str, Any]]:
    """dbRDA (marginal, conditional, forward, given the season, on anomalies, lagged), variation
    partitioning and time-lag analysis of one profile, for every distance."""
    tables: dict[str, list[pd.DataFrame]] = {k: [] for k in DBRDA_TABLES}
    models: dict[str, Any] = {}
    dbrda_seed = purpose_seed(seed, "dbrda")  # one permutation set for every profile and distance
    options = dict(n_permutations=cfg.n_permutations, alpha=cfg.alpha, permutation=cfg.permutation_mode,
                   mirror=cfg.permutation_mirror, block_days=block_days, random_state=dbrda_seed)
    groups = variable_groups(env_p, drivers, space_time, cfg.temperature_variable)
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
            perms = scheme.draw(cfg.n_permutations, purpose_seed(seed, "time_lag"))
            _, summary = time_lag_analysis(distances, meta_p, perms)
            tables["time_lag"].append(pd.DataFrame([dict(**keys, **{k: summary[k] for k in TABLE_COLUMNS["time_lag"] if k in summary},
                                                         permutation=scheme.description, n_permutations=len(perms))]))
    return tables, models


def variable_groups(env: pd.DataFrame, drivers: list[str], space_time: pd.DataFrame, temperature: str) -> dict[str, pd.DataFrame]:
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


def permutation_block_days(counts: np.ndarray, design: SamplingDesign, cfg: ShiftsConfig) -> float | None:
    """Block length for irregular series: the community's decorrelation time (from its first
    principal coordinates), at least ``min_block_days``."""
    if not np.all(np.isfinite(design.days)):
        return None
    scores = PCoA(n_components=3).fit(community_distance(counts, cfg.pcoa_transformation, pseudocount=cfg.clr_pseudocount))
    tau = decorrelation_days(scores.coordinates_.to_numpy(), design)
    return max(cfg.min_block_days, tau) if np.isfinite(tau) else (cfg.min_block_days or None)
