"""Sections "diversity" (alpha diversity over time), "ordination" (PCoA) and "otus" (most variable OTUs, and
the novelty of each sample when the cube has it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.figure import Figure

from planktonlm.report.context import Context, indexed
from planktonlm.report.figures import embed, grid, hide_unused, new_figure, series_legend, series_lines
from planktonlm.report.format import (
    NO_DATES,
    Col,
    caption,
    esc,
    fixed,
    h3,
    integer,
    metric_name,
    missing,
    name,
    no_dates,
    profile_name,
    table,
)
from planktonlm.report.sections.common import undated_note
from planktonlm.report.sections.novelty import novelty_blocks
from planktonlm.report.selection import metric_order, profiles_available
from planktonlm.vocab import DISPLAY_NAMES, variable_label


def plot_alpha(ctx: Context, alpha: dict[str, pd.DataFrame], profiles: list[str], metrics: list[str]) -> Figure:
    fig, axes = new_figure(ctx.config.dpi, 10.0, 0.9 + 2.6 * len(profiles), len(profiles), len(metrics), sharex=True)
    drawn: set = set()
    for i, profile in enumerate(profiles):
        frame = alpha[profile]
        for j, metric in enumerate(metrics):
            ax = axes[i * len(metrics) + j]
            if metric in frame.columns:
                values = pd.to_numeric(frame[metric], errors="coerce")
                drawn |= series_lines(ax, ctx, [x for x in ctx.order if x in values.index], values)
            ax.set_title(f"{DISPLAY_NAMES[metric]} · {profile_name(profile)}")
            ax.set_ylabel("Shannon index (nats)" if metric == "shannon" else "OTUs observed")
            if metric == "richness":
                ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    series_legend(fig, ctx, drawn)
    return fig


def build_diversity(ctx: Context) -> dict:
    alpha = {str(k): indexed(v) for k, v in (ctx.inputs.alpha or {}).items() if v is not None and not v.empty}
    if not alpha:
        return {"blocks": [missing("Alpha diversity")]}
    profiles = profiles_available(ctx, alpha)
    metrics = [m for m in ("shannon", "richness") if any(m in alpha[p].columns for p in profiles)]
    if not metrics:
        return {"blocks": [missing("Alpha diversity (no shannon/richness columns)")]}
    if not ctx.dated:
        return {"blocks": [no_dates("Alpha diversity over time")]}
    depth = ""
    first = alpha[profiles[0]]
    if "depth" in first.columns and pd.to_numeric(first["depth"], errors="coerce").notna().any():
        depth = (f" Counts were rarefied to {integer(pd.to_numeric(first['depth'], errors='coerce').max())} reads "
                 "per sample before computing the indices, so samples sequenced more deeply do not look more diverse.")
    shown = set().union(*(set(t.index) for t in alpha.values())) & set(ctx.samples.index)
    undated = undated_note(ctx, sorted(shown))
    figure = embed(plot_alpha(ctx, alpha, profiles, metrics), "Alpha diversity over time",
                   "Diversity within each sample over time, one row per community profile. Shannon (left) grows "
                   "with both the number of OTUs and how evenly reads spread over them; richness (right) counts OTUs "
                   f"present. Lines join samples of one station and depth.{esc(depth)}{esc(undated)}")
    return {"profiles": profiles, "metrics": metrics, "blocks": [figure]}


def _explained(ctx: Context, key: tuple[str, str], frame: pd.DataFrame) -> list[float]:
    given = (ctx.inputs.pcoa_explained or {}).get(key)
    if given is None:
        given = frame.attrs.get("explained")
    return [float(x) for x in given] if given is not None else []


_COLOUR_TEXT = {
    ("temperature", "date"): "Left: colour = water temperature; right: colour = sampling date. A colour gradient "
                             "along an axis means that axis tracks temperature or season.",
    ("temperature",): "Colour = water temperature: a colour gradient along an axis means that axis tracks "
                      "temperature.",
    ("date",): "Colour = sampling date: a colour gradient along an axis means that axis tracks season.",
    ("station",): "Colour = station and depth.",
}


def plot_pcoa(ctx: Context, key: tuple[str, str], coords: pd.DataFrame, samples: list[str],
              colourings: list[tuple[str, str | None]], labels: list[str]) -> Figure:
    """PCo1 x PCo2 of one (profile, metric), one panel per colouring (temperature, date or station)."""
    fig, axes = new_figure(ctx.config.dpi, 5.0 * len(colourings), 4.2, 1, len(colourings))
    x = coords.loc[samples, "PCo1"].to_numpy(dtype=float)
    y = coords.loc[samples, "PCo2"].to_numpy(dtype=float)
    for ax, (kind, column) in zip(axes, colourings):
        if kind == "station":
            ax.scatter(x, y, c=[ctx.colour[ctx.samples.at[i, "series"]] for i in samples], s=30,
                       edgecolor="black", linewidth=0.35, zorder=3)
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
            continue
        if kind == "date":
            values = mdates.date2num(ctx.samples.loc[samples, "time"].to_numpy())
            cmap = "cividis"
        else:
            values = ctx.samples.loc[samples, column].to_numpy(dtype=float)
            cmap = "RdYlBu_r"
        absent = ~np.isfinite(values)
        if absent.any():
            ax.scatter(x[absent], y[absent], s=26, facecolor="none", edgecolor="grey", linewidth=0.8)
        points = ax.scatter(x[~absent], y[~absent], c=values[~absent], cmap=cmap, s=30,
                            edgecolor="black", linewidth=0.35, zorder=3)
        bar = fig.colorbar(points, ax=ax, shrink=0.85)
        if kind == "date":
            locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
            bar.ax.yaxis.set_major_locator(locator)
            bar.ax.yaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            bar.set_label("Sampling date (UTC)")
        else:
            bar.set_label(variable_label(column))
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_title(f"coloured by {'date' if kind == 'date' else name(column).lower()}")
    fig.suptitle(f"{profile_name(key[0])} · {metric_name(key[1])}")
    return fig


def build_ordination(ctx: Context) -> dict:
    pcoa = {(str(k[0]), str(k[1])): indexed(v) for k, v in (ctx.inputs.pcoa or {}).items()
            if v is not None and not v.empty}
    pcoa = {k: v for k, v in pcoa.items() if {"PCo1", "PCo2"} <= set(v.columns)}
    if not pcoa:
        return {"blocks": [missing("An ordination (PCoA)")]}
    profiles = profiles_available(ctx, [k[0] for k in pcoa])
    metrics = metric_order(ctx, [k[1] for k in pcoa])
    keys = sorted(pcoa, key=lambda k: (profiles.index(k[0]), metrics.index(k[1])))
    # Within the image budget, every profile at the primary metric first, then the other metrics.
    chosen = sorted(keys, key=lambda k: (k[1] != metrics[0], profiles.index(k[0]), metrics.index(k[1])))
    chosen = set(chosen[: ctx.config.max_ordinations])
    colourings = ([("temperature", ctx.temperature)] if ctx.temperature else []) + \
        ([("date", "time")] if ctx.dated else [])
    if not colourings:
        colourings = [("station", None)]
    colour_text = _COLOUR_TEXT[tuple(kind for kind, _ in colourings)]
    if not ctx.dated:
        colour_text += f" Colouring by sampling date is left out: {NO_DATES}."
    blocks = [caption("Principal coordinates analysis (PCoA) places samples so that distances between points "
                      "approximate the community dissimilarity between samples: nearby points have similar "
                      "communities. The percentage on each axis is the share of total dissimilarity it shows. "
                      + esc(colour_text))]
    for key in keys:
        if key not in chosen:
            continue
        coords = pcoa[key]
        samples = [x for x in ctx.order if x in coords.index]
        explained = _explained(ctx, key, coords)
        labels = [f"PCo{i + 1}" + (f" ({100 * explained[i]:.1f}%)" if i < len(explained) else "") for i in range(2)]
        fig = plot_pcoa(ctx, key, coords, samples, colourings, labels)
        blocks.append(h3(f"{profile_name(key[0])}, {metric_name(key[1])} dissimilarity"))
        dropped = len(ctx.order) - len(samples)
        note = f" {dropped} samples without coordinates are not shown." if dropped else ""
        undated = len(samples) - len(set(samples) & set(ctx.dated))
        if ctx.dated and undated:
            note += (f" {undated} sample{'s' if undated != 1 else ''} without a sampling date "
                     f"{'are' if undated != 1 else 'is'} drawn as open grey circles in the date panel.")
        blocks.append(embed(fig, f"PCoA of {profile_name(key[0])} ({metric_name(key[1])})",
                            f"PCoA axes 1 and 2 of {esc(profile_name(key[0]))} with {esc(metric_name(key[1]))} "
                            f"dissimilarity; each point is one sample.{esc(note)}"))
    omitted = [k for k in keys if k not in chosen]
    if omitted:
        blocks.append(caption("Not drawn, to keep the report small: " + esc(
            ", ".join(f"{profile_name(p)} · {metric_name(m)}" for p, m in omitted)) + "."))
    return {"drawn": [k for k in keys if k in chosen], "omitted": omitted, "blocks": blocks}


def top_variable(counts: pd.DataFrame, n: int) -> tuple[pd.DataFrame, list[str]]:
    """Relative abundances, and the ``n`` features whose relative abundance varies most (ties by name)."""
    counts = counts.apply(pd.to_numeric, errors="coerce").fillna(0.0)
    totals = counts.sum(axis=1)
    relative = counts.div(totals.where(totals > 0), axis=0).fillna(0.0)
    variance = relative.var(axis=0, ddof=0)
    ranked = sorted(variance.index, key=lambda c: (-float(variance[c]), str(c)))
    return relative, [str(c) for c in ranked[:n]]


def plot_top_otus(ctx: Context, profile: str, relative: pd.DataFrame, top: list[str], samples: list[str]) -> Figure:
    nrows, ncols = grid(len(top), 4)
    fig, axes = new_figure(ctx.config.dpi, 10.5, 0.9 + 2.3 * nrows, nrows, ncols, sharex=True)
    drawn: set = set()
    for ax, otu in zip(axes, top):
        drawn |= series_lines(ax, ctx, samples, 100.0 * relative.loc[samples, otu], markersize=3)
        ax.set_title(otu, fontsize=9)
        ax.set_ylabel("Relative abundance (%)", fontsize=8)
    hide_unused(axes, len(top), ncols)
    series_legend(fig, ctx, drawn)
    fig.suptitle(profile_name(profile))
    return fig


def build_otus(ctx: Context) -> dict:
    profiles_in = {str(k): indexed(v) for k, v in (ctx.inputs.profiles or {}).items() if v is not None and not v.empty}
    if not profiles_in:
        return {"blocks": [missing("The community profiles"), *novelty_blocks(ctx)]}
    for counts in profiles_in.values():
        counts.columns = counts.columns.astype(str)
    profiles = profiles_available(ctx, profiles_in)[: ctx.config.max_otu_profiles]
    if not ctx.dated:
        return {"blocks": [no_dates("Most variable OTUs over time"), *_top_otu_table(ctx, profiles_in, profiles),
                           *novelty_blocks(ctx)]}
    blocks = [caption(f"For each profile, the {ctx.config.n_top_otus} OTUs (features) whose relative abundance "
                      "varies most between samples, each over time. An OTU rising at one depth or season and falling "
                      "elsewhere is the kind of shift the statistics below try to link to the environment.")]
    top_otus = {}
    for profile in profiles:
        counts = profiles_in[profile]
        relative, top = top_variable(counts, ctx.config.n_top_otus)
        top_otus[profile] = top
        samples = [x for x in ctx.order if x in relative.index]
        blocks.append(h3(profile_name(profile)))
        blocks.append(embed(plot_top_otus(ctx, profile, relative, top, samples),
                            f"Most variable OTUs of {profile_name(profile)}",
                            f"Relative abundance (% of a sample's reads) of the {len(top)} most variable features "
                            f"of {esc(profile_name(profile))} ({counts.shape[1]} in all), one panel each, lines "
                            f"per station and depth.{esc(undated_note(ctx, samples))}"))
    omitted = [p for p in profiles_available(ctx, profiles_in) if p not in profiles]
    if omitted:
        blocks.append(caption("Not drawn: " + esc(", ".join(profile_name(p) for p in omitted)) + "."))
    return {"top_otus": top_otus, "blocks": blocks + novelty_blocks(ctx)}


def _top_otu_table(ctx: Context, profiles_in: dict[str, pd.DataFrame], profiles: list[str]) -> list[dict]:
    """Without dates: the most variable OTUs of each profile as a table (mean and max relative abundance)."""
    rows = []
    for profile in profiles:
        relative, top = top_variable(profiles_in[profile], ctx.config.n_top_otus)
        for otu in top:
            rows.append({"profile": profile_name(profile), "otu": otu, "mean": 100 * relative[otu].mean(),
                         "sd": 100 * relative[otu].std(ddof=0), "max": 100 * relative[otu].max(),
                         "n": len(relative)})
    if not rows:
        return []
    return [caption(f"Instead, the {ctx.config.n_top_otus} features of each profile whose relative abundance "
                    "varies most between samples (% of a sample's reads)."),
            table(pd.DataFrame(rows), [
                Col("Profile", "profile", text=True), Col("OTU", "otu", text=True),
                Col("Mean (%)", "mean", lambda x: fixed(x, 2)), Col("sd (%)", "sd", lambda x: fixed(x, 2)),
                Col("Max (%)", "max", lambda x: fixed(x, 2)), Col("Samples", "n", integer)],
                scroll=len(rows) > 14)]
