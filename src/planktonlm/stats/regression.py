"""Cross-validated prediction tables of the shifts stage: every model under every CV scheme for one
target (community -> environment or environment -> community), the season + trend baseline on
identical folds, and profiles compared by paired Delta R2 with a group bootstrap.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from planktonlm.seeding import purpose_seed
from planktonlm.stats.crossval import cross_validate, make_model, paired_delta_r2, r2_score
from planktonlm.stats.diversity import diversity_indices
from planktonlm.stats.folds import FoldPlan, make_fold_plan
from planktonlm.stats.ordination import PCoA
from planktonlm.stats.permutations import RestrictedPermutation, SamplingDesign
from planktonlm.stats.shift_tables import TABLE_COLUMNS, ShiftsConfig
from planktonlm.stats.transforms import community_distance


@dataclass(frozen=True)
class ShiftContext:
    """Everything one profile's analyses share (picklable for the worker processes)."""

    cfg: ShiftsConfig
    seed: int
    samples: pd.Index
    design: SamplingDesign
    plans: dict[str, FoldPlan]


def fold_plans(meta: pd.DataFrame, design: SamplingDesign, cfg: ShiftsConfig, seed: int) -> dict[str, FoldPlan]:
    """One plan per CV scheme, assigned once on all samples (profiles restrict it)."""
    grouped = make_fold_plan(meta, design, cfg.cv_grouping, n_splits=cfg.n_splits, n_repeats=cfg.n_repeats,
                             buffer_days=cfg.cv_buffer_days, seed=purpose_seed(seed, "folds"))
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


def score_target(profile: str, transformation: str, direction: str, target: str, x: np.ndarray, y: np.ndarray,
                 names: np.ndarray, baselines: dict[str, np.ndarray], *, rows: np.ndarray, ctx: ShiftContext,
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
    perms = scheme_p.draw(cfg.cv_n_permutations, purpose_seed(seed, f"cv/{direction}/{target}"))
    samples = ctx.samples[rows][mask]
    keys = dict(profile=profile, transformation=transformation, direction=direction, target=target)
    tables: dict[str, list[pd.DataFrame]] = {"cv_metrics": [], "predictions": [], "importances": [], "season_baseline": []}
    models: dict[str, Any] = {}

    def estimator(model_name: str, n_features: int):
        return make_model(model_name, n_samples=n_used, n_features=n_features, seed=purpose_seed(seed, "rf"), ridge_alphas=cfg.ridge_alphas,
                          pls_n_components=cfg.pls_n_components, rf_n_estimators=cfg.rf_n_estimators, rf_max_features=cfg.rf_max_features)

    for model_name in cfg.models:
        primary = model_name == cfg.primary_model and transformation in (cfg.primary_transformation, "environment")
        for scheme, plan in plans.items():
            result = cross_validate(
                estimator(model_name, x.shape[1]), x[mask], y[mask], plan, sample_ids=samples, feature_names=names,
                importance_repeats=cfg.importance_repeats, importance_max_features=cfg.importance_max_features,
                perms=perms if model_name in cfg.cv_permutation_models and scheme == cfg.cv_schemes[0] and primary else None,
                seed=purpose_seed(seed, f"importance/{direction}/{target}"))
            r2 = result.r2
            tables["cv_metrics"].append(pd.DataFrame([dict(
                **keys, model=model_name, cv=scheme, primary=primary and scheme == cfg.cv_schemes[0], r2_mean=float(np.nanmean(r2)),
                r2_sd=float(np.nanstd(r2, ddof=1)) if len(r2) > 1 else float("nan"), r2_min=float(np.nanmin(r2)),
                r2_max=float(np.nanmax(r2)), n_repeats=len(r2), n_splits=plan.n_splits, n_samples=n_used, group_by=plan.grouping,
                folds=plan.describe(), p_perm=result.p_perm,
                p_min=1 / (result.n_permutations + 1) if result.n_permutations else float("nan"),
                n_permutations=result.n_permutations,
                permutation=scheme_p.description if result.n_permutations else "")]))
            tables["predictions"].append(result.predictions.assign(**keys, model=model_name, cv=scheme))
            top = result.importances.head(cfg.importance_top_n)
            tables["importances"].append(top.assign(**keys, model=model_name, cv=scheme, rank=np.arange(1, len(top) + 1)))
            if primary and scheme == cfg.cv_schemes[0] and "season" in baselines:
                tables["season_baseline"].append(season_row(keys, model_name, scheme, plan, x[mask], y[mask], baselines, mask,
                                                            result.oof, estimator, cfg, seed))
        if cfg.save_models:
            key = f"{profile}/{transformation}/{direction}/{target}/{model_name}"
            models[key] = estimator(model_name, x.shape[1]).fit(x[mask], y[mask])
    # Pickled here, whichever process runs this: models.pkl must not depend on n_jobs.
    return tables, pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)


def season_row(keys: dict, model_name: str, scheme: str, plan: FoldPlan, x: np.ndarray, y: np.ndarray, baselines: dict[str, np.ndarray],
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
                                       seed=purpose_seed(seed, f"boot/{keys['direction']}/{keys['target']}"))
    main = "community" if keys["direction"] == "community_to_env" else "environment"
    return pd.DataFrame([dict(**keys, model=model_name, cv=scheme, folds=plan.describe(), r2_season=r2["season"], r2_main=r2["main"],
                              r2_both=r2["both"], delta_r2=delta, delta_low=low, delta_high=high, main_predictors=main,
                              n_samples=len(y))])


def community_targets(counts: pd.DataFrame, cfg: ShiftsConfig) -> pd.DataFrame:
    """PCoA axes (as the ecology stage computes them) + Shannon / Gini-Simpson, for profiles the
    ecology stage does not cover (the oracle, published tables)."""
    distances = community_distance(counts, cfg.pcoa_transformation, pseudocount=cfg.clr_pseudocount)
    table = PCoA(n_components=cfg.n_pcoa_axes).fit(distances).coordinates_
    return table.join(diversity_indices(counts)[["shannon", "simpson"]])


def compare_profiles(predictions: pd.DataFrame, cv_metrics: pd.DataFrame, plan: FoldPlan, samples: pd.Index, cfg: ShiftsConfig,
                     seed: int) -> pd.DataFrame:
    """Paired Delta R2 between every two profiles for every environmental target (community ->
    environment: the same observed values for every profile), primary model x transformation,
    repeat 0 of the primary CV scheme, on the samples both predicted. The other direction has
    no shared target (each profile's PCoA axes and diversity are its own)."""
    rows = []
    primary = (cv_metrics[cv_metrics["primary"].astype(bool) & (cv_metrics["direction"] == "community_to_env")]
               if len(cv_metrics) else cv_metrics)
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
                                                   seed=purpose_seed(seed, f"compare/{direction}/{target}/{a}/{b}"))
                rows.append(dict(direction=direction, target=target, transformation=transformation, model=cfg.primary_model,
                                 cv=cfg.cv_schemes[0], profile_a=a, profile_b=b, r2_a=r2_score(obs, both[a].to_numpy()),
                                 r2_b=r2_score(obs, both[b].to_numpy()), delta_r2=delta,
                                 delta_low=low, delta_high=high, n_samples=len(both), n_groups=len(np.unique(groups))))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["profile_comparison"])
