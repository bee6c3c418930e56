"""Section "comparison": embedding OTUs against the k-mer baseline (paired Delta R2, CV R2 per
profile, dbRDA of temperature per profile) and the encoder quality benchmark."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from planktonlm.report.colours import palette
from planktonlm.report.context import Context
from planktonlm.report.figures import embed, new_figure
from planktonlm.report.format import (
    COMMUNITY_FROM_ENV,
    ENV_FROM_COMMUNITY,
    Col,
    caption,
    delta_text,
    finite,
    fixed,
    h3,
    integer,
    metric_name,
    missing,
    name,
    note,
    p_text,
    profile_name,
    significant,
    table,
    testable,
    text,
)
from planktonlm.report.selection import (
    cv_label,
    dbrda_temperature,
    metric_order,
    model_column,
    primary_cv,
    profiles_available,
    r2_folds,
    targets,
)
from planktonlm.vocab import variable_label

_PROFILE_COLOURS = {"embedding": "#0b4f6c", "kmer": "#f4a261", "oracle": "#8d99ae"}


def _paired_verdict(r: pd.Series) -> str:
    if not (finite(r.get("delta_low")) and finite(r.get("delta_high"))):
        return "–"
    if float(r["delta_low"]) > 0:
        return f"{profile_name(r['profile_a'])} better"
    if float(r["delta_high"]) < 0:
        return f"{profile_name(r['profile_b'])} better"
    return "no clear difference"


def paired_blocks(ctx: Context) -> list[dict]:
    """The shifts stage's paired Delta R2 between profiles (identical folds, bootstrap interval)."""
    paired = ctx.tables.get("profile_comparison")
    blocks = [h3("Paired comparison of profiles (ΔR² on identical folds)")]
    if paired is None:
        return blocks + [missing("A paired comparison of profiles")]
    if paired.empty:
        return blocks + [note("No paired comparison was possible (fewer than two profiles scored on the same "
                              "samples).")]
    rank = {t: i for i, t in enumerate(targets(ctx, paired["target"]))}
    order = {d: i for i, d in enumerate((ENV_FROM_COMMUNITY, COMMUNITY_FROM_ENV))}
    paired = paired.assign(_d=paired["direction"].map(lambda d: order.get(d, 9)), _t=paired["target"].map(rank))
    paired = paired.sort_values(["_d", "_t", "profile_a", "profile_b", "transformation", "model"], kind="mergesort")
    return blocks + [
        table(paired, [
            Col("Direction", lambda r: "community → environment" if r["direction"] == ENV_FROM_COMMUNITY
                else "environment → community", text=True),
            Col("Target", lambda r: variable_label(r["target"]), text=True),
            Col("Profile A", lambda r: profile_name(r["profile_a"]), text=True),
            Col("Profile B", lambda r: profile_name(r["profile_b"]), text=True),
            model_column(),
            Col("R² A", "r2_a", fixed), Col("R² B", "r2_b", fixed),
            Col("ΔR² (A − B) [95% interval]", delta_text, str),
            Col("Verdict", _paired_verdict, str, text=True),
            Col("Samples", "n_samples", integer), Col("CV groups", "n_groups", integer)], scroll=len(paired) > 14),
        caption("Both profiles are scored with the primary model on the same folds, so the difference "
                "in CV R² is paired; the 95% interval is a bootstrap over the CV groups. A profile is "
                "called better only when the whole interval lies on its side of 0.")]


def plot_profile_r2(ctx: Context, cell: dict, profiles: list[str], names: list[str]) -> Figure:
    """CV R2 (primary model) per target, one bar per profile; ``cell``: (profile, target) -> cv row."""
    fig, (ax,) = new_figure(ctx.config.dpi, min(max(6.0, 3.0 + 0.45 * len(names) * len(profiles)), 11.0), 4.0)
    width = 0.8 / len(profiles)
    fallback = palette(len(profiles))

    def value(profile: str, target: str, column: str, default: float) -> float:
        row = cell.get((profile, target))
        return float(row[column]) if row is not None and column in row.index and finite(row[column]) else default

    for i, profile in enumerate(profiles):
        values = [value(profile, t, "r2_mean", np.nan) for t in names]
        errors = [value(profile, t, "r2_sd", 0.0) for t in names]
        ax.bar(np.arange(len(names)) + (i - (len(profiles) - 1) / 2) * width, values, width * 0.95,
               yerr=errors, capsize=2, color=_PROFILE_COLOURS.get(profile, fallback[i]), label=profile_name(profile),
               ecolor="#333333")
    ax.axhline(0, color="black", linewidth=0.7)
    ax.set_xticks(range(len(names)), [variable_label(t) for t in names], rotation=20, ha="right")
    ax.set_ylabel(f"{cv_label(ctx)} R² (primary model)")
    ax.grid(axis="x", visible=False)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _cv_blocks(ctx: Context, best: pd.DataFrame) -> list[dict]:
    profiles = profiles_available(ctx, best["profile"])
    names = targets(ctx, best["target"].unique())
    cell = {(r["profile"], r["target"]): r for _, r in best.iterrows()}
    figure = embed(plot_profile_r2(ctx, cell, profiles, names), "CV R2 per environmental variable and profile",
                   "How well each community profile predicts each environmental variable from held-out "
                   "samples (the primary model and feature transformation of each profile; error bar = "
                   "sd over CV repeats). The transformer-based embedding OTUs earn their place only where "
                   "they beat the k-mer baseline"
                   + ("; the oracle (true taxa, simulated data only) is the ceiling." if "oracle" in profiles else "."))
    rows = []
    for t in names:
        row = {"target": variable_label(t)}
        for profile in profiles:
            r = cell.get((profile, t))
            row[profile] = "–" if r is None else f"{r2_folds(r)} ({r['model']})"
        rows.append(row)
    return [figure, table(pd.DataFrame(rows), [Col("Environmental variable", "target", text=True)]
                          + [Col(f"{profile_name(p)}: CV R² (primary model)", p) for p in profiles])]


def _temperature_cell(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "–"
    r = rows.iloc[0]
    if not testable(r):
        return f"{fixed(r['r2'])} (not testable under this design)"
    return f"{fixed(r['r2'])} (p {p_text(r.get('p_value'))}, Holm {p_text(r.get('p_holm'))}{' *' if significant(r) else ''})"


def _temperature_blocks(ctx: Context) -> list[dict]:
    temp = dbrda_temperature(ctx)
    temperature = name(ctx.temperature).lower() if ctx.temperature else "temperature"
    blocks = [h3(f"dbRDA: community variation explained by {temperature}")]
    if temp is None:
        return blocks + [missing("A dbRDA result for temperature")]
    metrics = metric_order(ctx, temp["transformation"])
    rows = [{"profile": profile_name(profile),
             **{m: _temperature_cell(temp[(temp["profile"] == profile) & (temp["transformation"] == m)])
                for m in metrics}}
            for profile in profiles_available(ctx, temp["profile"])]
    return blocks + [
        table(pd.DataFrame(rows), [Col("Profile", "profile", text=True)] + [Col(f"R² {metric_name(m)}", m) for m in metrics]),
        caption("Share of community dissimilarity explained by temperature alone, per profile and "
                "dissimilarity (marginal dbRDA; permutation p-value and the same Holm-adjusted within "
                "the variables of each profile and dissimilarity, * = significant at 0.05). A profile "
                "that captures the community better shows a clearer temperature signal.")]


def _quality_blocks(ctx: Context) -> list[dict]:
    quality = ctx.inputs.encoder_quality
    blocks = [h3("Encoder quality benchmark")]
    if quality is None or quality.empty:
        return blocks + [missing("The encoder quality benchmark")]
    quality = quality.copy()
    quality["representation"] = quality["representation"].astype(str)
    rank = {"trained": 0, "untrained": 1, "tnf": 2}
    quality = quality.assign(_r=quality["representation"].map(lambda r: (rank.get(r.lower(), 9), r)))
    quality = quality.sort_values("_r", kind="mergesort")
    names = {"knn_accuracy": "kNN accuracy", "ari": "ARI"}
    numeric = [c for c in quality.columns if c not in ("representation", "_r")]
    return blocks + [
        table(quality, [Col("Representation", "representation", text=True)]
              + [Col(names.get(c, c), c, lambda x: fixed(x, 3) if finite(x) else text(x)) for c in numeric]),
        caption("How well read embeddings separate reads of different genomes: kNN accuracy (share of "
                "reads whose nearest neighbours come from the same genome) and ARI (agreement of a "
                "clustering with the true genomes; 0 = chance, 1 = perfect), for the trained encoder, "
                "the same encoder untrained, and tetranucleotide frequencies (TNF).")]


def build_comparison(ctx: Context) -> dict:
    best = primary_cv(ctx, ENV_FROM_COMMUNITY)
    blocks = paired_blocks(ctx)
    blocks += [missing("A CV comparison of profiles")] if best is None else _cv_blocks(ctx, best)
    blocks += _temperature_blocks(ctx) + _quality_blocks(ctx)
    return {"blocks": blocks}
