"""Sections "predictions" (the environment predicted from the community, cross-validated) and
"importances" (which OTUs carry the signal)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from planktonlm.report.context import Context
from planktonlm.report.figures import embed, grid, hide_unused, new_figure, series_legend
from planktonlm.report.format import (
    COMMUNITY_FROM_ENV,
    CV_NAMES,
    CV_ORDER,
    ENV_FROM_COMMUNITY,
    Col,
    caption,
    details,
    esc,
    fixed,
    h3,
    metric_name,
    missing,
    model_name,
    name,
    ordered,
    profile_name,
    r2_pm,
    table,
)
from planktonlm.report.selection import (
    cv_columns,
    folds,
    primary,
    primary_combo,
    profiles_available,
    r2_folds,
    schemes,
    sensitivity_cv,
    targets,
)
from planktonlm.vocab import variable_label


def mean_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """Observed and predicted per target and sample, averaged over CV repeats."""
    predictions = predictions.assign(observed=pd.to_numeric(predictions["observed"], errors="coerce"),
                                     predicted=pd.to_numeric(predictions["predicted"], errors="coerce"))
    return predictions.groupby(["target", "sample"], sort=True).agg(
        observed=("observed", "mean"), predicted=("predicted", "mean")).reset_index()


def plot_predictions(ctx: Context, points: pd.DataFrame, rows: pd.DataFrame | None) -> Figure:
    """Observed against predicted (held out), one panel per target; ``rows``: cv_metrics by target."""
    names = targets(ctx, points["target"].unique())
    nrows, ncols = grid(len(names), 3)
    fig, axes = new_figure(ctx.config.dpi, 10.0, 0.8 + 3.1 * nrows + 0.4, nrows, ncols)
    drawn: set = set()
    for ax, target in zip(axes, names):
        sub = points[points["target"] == target].set_index("sample")
        lo = float(np.nanmin(sub[["observed", "predicted"]].to_numpy()))
        hi = float(np.nanmax(sub[["observed", "predicted"]].to_numpy()))
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linewidth=0.8, linestyle="--")
        for key in ctx.series:
            members = [x for x in ctx.order if x in sub.index and ctx.samples.at[x, "series"] == key]
            if members:
                ax.scatter(sub.loc[members, "observed"], sub.loc[members, "predicted"], s=22,
                           color=ctx.colour[key], edgecolor="black", linewidth=0.3, zorder=3)
                drawn.add(key)
        others = [x for x in sub.index if x not in ctx.samples.index]
        if others:
            ax.scatter(sub.loc[others, "observed"], sub.loc[others, "predicted"], s=22, color="grey")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        r = rows.loc[target] if rows is not None and target in rows.index else None
        title = variable_label(target)
        if r is not None:
            title += f"\nCV R² {r2_pm(r['r2_mean'], r.get('r2_sd'))}"
            if folds(r):
                title += f"\n{folds(r)}"
        ax.set_title(title)
        ax.set_xlabel("Observed")
        ax.set_ylabel("Predicted (held out)")
    hide_unused(axes, len(names))
    series_legend(fig, ctx, drawn)
    return fig


def _cv_caption(ctx: Context, cv_table: pd.DataFrame) -> str:
    group = ", ".join(sorted(set(map(str, cv_table["group_by"].dropna())))) if "group_by" in cv_table.columns else ""
    scheme = f"{CV_NAMES.get(ctx.cv_scheme, ctx.cv_scheme)} cross-validation; " if ctx.cv_scheme else ""
    permutations = schemes(cv_table)
    return (esc(scheme) + "CV R² is computed on held-out samples"
            + (f" (grouped by {esc(group)})" if group else "")
            + "; 0 means no better than predicting the mean, negative means worse. The permutation p-value "
              "compares it with models fitted to permuted targets (permutations respecting the design"
            + (f": {esc(permutations.removeprefix('Permutations: ').rstrip('.'))}" if permutations else "")
            + "); p (Holm) adjusts it with Holm's method within the targets of one profile and model, "
              "q (BH) is the false-discovery rate over the whole run. "
            + " ".join(f"{esc(name(t))}: {esc(r2_folds(r))}." for t, r in cv_table.set_index("target").iterrows()))


def _primary_blocks(ctx: Context, profile: str, combo: tuple[str, str]) -> list[dict]:
    cv, predictions = ctx.tables.get("cv_metrics"), ctx.tables.get("predictions")
    transformation, model = combo
    where = (f"{profile_name(profile)}, {metric_name(transformation)} features, {model_name(model)}"
             if transformation else f"{profile_name(profile)}, {model_name(model)}")
    blocks = []
    rows = None
    if cv is not None:
        rows = cv[(cv["profile"] == profile) & (cv["direction"] == ENV_FROM_COMMUNITY)
                  & (cv["transformation"] == transformation) & (cv["model"] == model)].set_index("target")
    if predictions is not None:
        mine = predictions[(predictions["profile"] == profile) & (predictions["direction"] == ENV_FROM_COMMUNITY)
                           & (predictions["transformation"] == transformation) & (predictions["model"] == model)]
        if not mine.empty:
            n_repeats = mine["repeat"].nunique() if "repeat" in mine.columns else 1
            repeat = (f" Predictions are averaged over the {n_repeats} repeats of cross-validation."
                      if n_repeats > 1 else "")
            blocks.append(embed(plot_predictions(ctx, mean_predictions(mine), rows),
                                "Observed versus predicted environmental variables",
                                f"Observed value against the value predicted for each sample when it was held "
                                f"out of fitting ({esc(where)}: the primary model, fixed in the configuration "
                                f"before the results were seen). Points on the dashed 1:1 line are perfect "
                                f"predictions. The panel title gives the grouped-CV R² (mean ± sd over repeats) and "
                                f"the folds it was measured on.{esc(repeat)}"))
    if rows is not None and not rows.empty:
        cv_table = rows.reset_index()
        cv_table = cv_table.set_index("target").loc[targets(ctx, cv_table["target"])].reset_index()
        blocks += [h3(f"Cross-validation (primary model): {where}"), table(cv_table, cv_columns()),
                   caption(_cv_caption(ctx, cv_table))]
    return blocks


def _all_results(ctx: Context, profiles: list[str]) -> list[dict]:
    every = ctx.tables.get("cv_metrics_all")
    if every is None:
        return []
    blocks = []
    every = every.copy()
    cv_schemes = ordered(every["cv"], CV_ORDER) if "cv" in every.columns else [""]
    several = len(cv_schemes) > 1
    if several:
        blocks.append(caption(
            "Figures and the table above use " + esc(CV_NAMES.get(cv_schemes[0], cv_schemes[0]))
            + " cross-validation. The full tables below also list "
            + esc(", ".join(CV_NAMES.get(x, x) for x in cv_schemes[1:]))
            + "; leaving single samples out is optimistic, because neighbouring samples in space and time "
              "are not independent."))
    every["_s"] = every["cv"].map({x: i for i, x in enumerate(cv_schemes)}) if "cv" in every.columns else 0
    every["_p"] = every["profile"].map({p: i for i, p in enumerate(profiles)})
    every["_t"] = every["target"].map({t: i for i, t in enumerate(targets(ctx, every["target"]))})
    for direction, title in ((ENV_FROM_COMMUNITY, "environment predicted from the community"),
                             (COMMUNITY_FROM_ENV, "community axes and diversity predicted from the environment")):
        sub = every[every["direction"] == direction].sort_values(
            ["_p", "_t", "transformation", "model", "_s"], kind="mergesort")
        if sub.empty:
            continue
        blocks.append(details(f"All cross-validation results: {title} ({len(sub)} rows)",
                              [table(sub, cv_columns(with_profile=True, with_scheme=several, with_role=True),
                                     scroll=len(sub) > 14)]))
    return blocks


def build_predictions(ctx: Context) -> dict:
    cv, predictions = ctx.tables.get("cv_metrics"), ctx.tables.get("predictions")
    if cv is None and predictions is None:
        return {"blocks": [missing("Cross-validated predictions")]}
    profiles = profiles_available(ctx, *(t["profile"] for t in (cv, predictions) if t is not None))
    profile = primary(ctx, profiles)
    combo = primary_combo(ctx, profile, ENV_FROM_COMMUNITY) if cv is not None else None
    if combo is None and predictions is not None and cv is None:
        mine = predictions[(predictions["profile"] == profile) & (predictions["direction"] == ENV_FROM_COMMUNITY)]
        if not mine.empty:
            combo = sorted(set(zip(mine["transformation"], mine["model"])))[0]
    blocks = ([missing(f"Prediction of the environment from {profile_name(profile)}")] if combo is None
              else _primary_blocks(ctx, profile, combo))
    sensitivity = sensitivity_cv(ctx, ENV_FROM_COMMUNITY)
    if sensitivity is not None and profile is not None:
        sensitivity = sensitivity[sensitivity["profile"] == profile]
    if sensitivity is not None and not sensitivity.empty:
        rank = {t: i for i, t in enumerate(targets(ctx, sensitivity["target"]))}
        sensitivity = sensitivity.assign(_t=sensitivity["target"].map(rank)).sort_values(
            ["_t", "transformation", "model"], kind="mergesort")
        blocks += [h3(f"Sensitivity: other models and feature transformations ({profile_name(profile)})"),
                   table(sensitivity, cv_columns(), scroll=len(sensitivity) > 14),
                   caption("The same targets under the models and transformations that are not the primary "
                           "choice. They show how much the result depends on that choice; they are not "
                           "alternatives to pick the best from (that would overstate the skill).")]
    blocks += _all_results(ctx, profiles)
    return {"profile": profile, "combo": combo, "blocks": blocks}


def _pick(ctx: Context, frame: pd.DataFrame, profile: str | None, direction: str) -> dict[str, tuple[str, str]]:
    """Per target, the primary (transformation, model) when it has importances (never the
    best-scoring one), else the first that has."""
    cv = ctx.tables.get("cv_metrics")
    out = {}
    for target in targets(ctx, frame["target"].unique()):
        have = sorted(set(zip(*(frame.loc[frame["target"] == target, c] for c in ("transformation", "model")))))
        chosen = set()
        if cv is not None:
            sub = cv[(cv["profile"] == profile) & (cv["direction"] == direction) & (cv["target"] == target)
                     & cv["primary"]]
            chosen = set(zip(sub["transformation"], sub["model"]))
        out[target] = sorted(have, key=lambda k: (k not in chosen, k))[0]
    return out


def _top(frame: pd.DataFrame, target: str, combo: tuple[str, str], n: int) -> pd.DataFrame:
    """The ``n`` most important features of one target and model (ties by name)."""
    sub = frame[(frame["target"] == target) & (frame["transformation"] == combo[0]) & (frame["model"] == combo[1])]
    sub = sub.assign(_v=pd.to_numeric(sub["importance_mean"], errors="coerce").fillna(-np.inf))
    return sub.sort_values(["_v", "feature"], ascending=[False, True], kind="mergesort").head(n)


def plot_importances(ctx: Context, tops: dict[str, pd.DataFrame], chosen: dict[str, tuple[str, str]]) -> Figure:
    n = ctx.config.n_top_features
    nrows, ncols = grid(len(tops), 3)
    fig, axes = new_figure(ctx.config.dpi, 10.5, 0.5 + (0.55 + 0.22 * n) * nrows, nrows, ncols)
    for ax, (target, sub) in zip(axes, tops.items()):
        values = pd.to_numeric(sub["importance_mean"], errors="coerce").fillna(0).to_numpy()
        errors = (pd.to_numeric(sub["importance_sd"], errors="coerce").fillna(0).to_numpy()
                  if "importance_sd" in sub.columns else None)
        ax.barh(range(len(sub)), values, xerr=errors, color="#4393c3", ecolor="#555555", capsize=2)
        ax.set_yticks(range(len(sub)), sub["feature"], fontsize=7.5)
        ax.set_ylim(len(sub) - 0.5, -0.5)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.grid(axis="y", visible=False)
        ax.set_title(f"{variable_label(target)} · {chosen[target][1]}", fontsize=9.5)
        ax.set_xlabel("Importance (drop in R²)", fontsize=8.5)
    hide_unused(axes, len(tops))
    return fig


def build_importances(ctx: Context) -> dict:
    importances = ctx.tables.get("importances")
    if importances is None:
        return {"blocks": [missing("Permutation importances")]}
    profile = primary(ctx, profiles_available(ctx, importances["profile"]))
    n = ctx.config.n_top_features
    blocks = []
    mine = importances[(importances["profile"] == profile) & (importances["direction"] == ENV_FROM_COMMUNITY)]
    tops: dict[str, pd.DataFrame] = {}
    if mine.empty:
        blocks.append(missing(f"Importances of {profile_name(profile)} OTUs for the environment"))
    else:
        chosen = _pick(ctx, mine, profile, ENV_FROM_COMMUNITY)
        tops = {target: _top(mine, target, combo, n) for target, combo in chosen.items()}
        blocks.append(embed(plot_importances(ctx, tops, chosen), "Permutation importances per environmental variable",
                            f"For each environmental variable, the {n} features of {esc(profile_name(profile))} "
                            "whose shuffling hurts the held-out prediction most (mean drop in R² over repeats, bar = "
                            "± sd). These are the OTUs whose abundance carries the signal; importance is not "
                            "causation, and correlated OTUs share their importance."))
    env = importances[(importances["profile"] == profile) & (importances["direction"] == COMMUNITY_FROM_ENV)]
    if not env.empty:
        rows = []
        for target, combo in _pick(ctx, env, profile, COMMUNITY_FROM_ENV).items():
            sub = _top(env, target, combo, 3)
            rows.append({"target": target, "model": combo[1],
                         "top": "; ".join(f"{variable_label(f)} ({fixed(v, 3)})"
                                          for f, v in zip(sub["feature"], sub["importance_mean"]))})
        blocks += [h3("Drivers of community axes and diversity"),
                   table(pd.DataFrame(rows), [Col("Community response", lambda r: variable_label(r["target"]), text=True),
                                              Col("Model", "model", text=True),
                                              Col("Top 3 drivers (importance)", "top", text=True)]),
                   caption("For the reverse direction (environment to community), the environmental variables "
                           "that matter most for predicting each community axis or diversity index.")]
    return {"top_features": {t: list(sub["feature"]) for t, sub in tops.items()}, "blocks": blocks}
