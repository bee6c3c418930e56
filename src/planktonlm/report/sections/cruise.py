"""Sections "cruise" (where and when), "environment" (variables over time) and "read-accounting"."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from planktonlm.report.context import Context, indexed, natural_key
from planktonlm.report.figures import date_axis, embed, grid, hide_unused, new_figure, series_legend, series_lines
from planktonlm.report.format import (
    Col,
    caption,
    date_text,
    esc,
    finite,
    fixed,
    integer,
    missing,
    name,
    no_dates,
    pct,
    table,
)
from planktonlm.report.sections.common import undated_note
from planktonlm.vocab import variable_label


def station_table(ctx: Context) -> pd.DataFrame:
    """Per station: mean position, number of samples, first and last date, depths."""
    stations = ctx.samples.groupby("station", sort=True).agg(
        latitude=("latitude", "mean"), longitude=("longitude", "mean"), n=("time", "size"),
        first=("time", "min"), last=("time", "max"),
        depths=("depth_m", lambda d: ", ".join(f"{x:g}" for x in sorted(set(d.dropna())))))
    return stations.reset_index()


def plot_station_map(ctx: Context, stations: pd.DataFrame) -> Figure:
    fig, (ax,) = new_figure(ctx.config.dpi, 6.4, 4.8)
    known = stations.dropna(subset=["latitude", "longitude"])
    for _, row in known.iterrows():
        ax.scatter(row["longitude"], row["latitude"], s=55, color=ctx.station_colour[row["station"]],
                   edgecolor="black", linewidth=0.5, zorder=3)
        ax.annotate(row["station"], (row["longitude"], row["latitude"]), xytext=(5, 5),
                    textcoords="offset points", fontsize=9)
    lat0 = float(known["latitude"].mean())
    ax.set_aspect(1.0 / max(math.cos(math.radians(lat0)), 0.1), adjustable="box")
    pad_lon = max(0.1, 0.15 * float(np.ptp(known["longitude"])))
    pad_lat = max(0.1, 0.15 * float(np.ptp(known["latitude"])))
    ax.set_xlim(known["longitude"].min() - pad_lon, known["longitude"].max() + pad_lon)
    ax.set_ylim(known["latitude"].min() - pad_lat, known["latitude"].max() + pad_lat)
    ax.set_xlabel("Longitude (°E)")
    ax.set_ylabel("Latitude (°N)")
    ax.set_title("Station positions")
    return fig


def plot_sampling_events(ctx: Context) -> Figure:
    s = ctx.samples
    series = [k for k in ctx.series if any(s.at[x, "series"] == k for x in ctx.dated)]
    fig, (ax,) = new_figure(ctx.config.dpi, 9.0, min(1.2 + 0.28 * len(series), 9.0))
    for i, key in enumerate(series):
        members = [x for x in ctx.dated if s.at[x, "series"] == key]
        ax.scatter(s.loc[members, "time"].to_numpy(), np.full(len(members), i), color=ctx.colour[key], s=28,
                   edgecolor="black", linewidth=0.4, zorder=3)
    ax.set_yticks(range(len(series)), [ctx.label[k] for k in series])
    ax.set_ylim(len(series) - 0.5, -0.5)
    ax.set_ylabel("station · depth")
    ax.set_xlabel("Date (UTC)")
    date_axis(ax)
    return fig


def build_cruise(ctx: Context) -> dict:
    stations = station_table(ctx)
    blocks = []
    if stations[["latitude", "longitude"]].notna().all(axis=1).any():
        blocks.append(embed(plot_station_map(ctx, stations), "Map of station positions",
                            "Station positions (mean position of each station's samples) on plain longitude/latitude "
                            "axes, without coastline. The axes keep true proportions at this latitude, so distances "
                            "between stations look right."))
    else:
        blocks.append(missing("A station map (no latitude/longitude)"))
    if ctx.dated:
        blocks.append(embed(plot_sampling_events(ctx), "Sampling events over time",
                            "Sampling events over time: one row per station and depth, one dot per sample. Gaps "
                            "show where a station was not visited. The colours identify station and depth in every "
                            "later figure." + esc(undated_note(ctx, ctx.order))))
    else:
        blocks.append(no_dates("Sampling events over time"))
    stations = stations.iloc[sorted(range(len(stations)), key=lambda i: natural_key(stations.at[i, "station"]))]
    columns = [Col("Station", "station", text=True), Col("Latitude (°N)", "latitude", lambda x: fixed(x, 3)),
               Col("Longitude (°E)", "longitude", lambda x: fixed(x, 3)), Col("Depths (m)", "depths", text=True),
               Col("Samples", "n", integer)]
    if ctx.dated:
        columns += [Col("First (UTC)", "first", date_text), Col("Last (UTC)", "last", date_text)]
    blocks.append(table(stations, columns, scroll=len(stations) > 14))
    return {"stations": list(stations["station"]), "blocks": blocks}


def _missing_values(ctx: Context, columns: list[str]) -> str:
    counts = {c: int(ctx.samples[c].isna().sum()) for c in columns if ctx.samples[c].isna().any()}
    if not counts:
        return ""
    return " Missing values (not drawn): " + ", ".join(f"{name(c)} {n}" for c, n in counts.items()) + "."


def plot_environment(ctx: Context, columns: list[str]) -> Figure:
    nrows, ncols = grid(len(columns), 3)
    fig, axes = new_figure(ctx.config.dpi, 10.0, 0.6 + 2.4 * nrows + 0.5, nrows, ncols, sharex=True)
    drawn: set = set()
    for ax, column in zip(axes, columns):
        drawn |= series_lines(ax, ctx, ctx.order, ctx.samples[column])
        ax.set_title(variable_label(column))
    hide_unused(axes, len(columns), ncols)
    series_legend(fig, ctx, drawn)
    return fig


def plot_environment_by_station(ctx: Context, columns: list[str], stations: list[str], step: int) -> Figure:
    """Without dates: each variable per station as points (stations in natural order, S4 before S10)."""
    s = ctx.samples
    position = {station: i for i, station in enumerate(stations)}
    nrows, ncols = grid(len(columns), 2)
    fig, axes = new_figure(ctx.config.dpi, 10.0, 0.6 + 2.6 * nrows + 0.5, nrows, ncols, sharex=True)
    drawn: set = set()
    for ax, column in zip(axes, columns):
        members = [x for x in ctx.order if finite(s.at[x, column])]
        ax.scatter([position[s.at[x, "station"]] for x in members], s.loc[members, column].to_numpy(float),
                   c=[ctx.colour[s.at[x, "series"]] for x in members], s=18, edgecolor="black", linewidth=0.3,
                   zorder=3)
        drawn |= {s.at[x, "series"] for x in members}
        ax.set_xticks(range(0, len(stations), step), stations[::step], rotation=90, fontsize=7)
        ax.set_title(variable_label(column))
        ax.grid(axis="x", visible=False)
    hide_unused(axes, len(columns), ncols)
    series_legend(fig, ctx, drawn)
    return fig


def build_environment(ctx: Context) -> dict:
    columns = [c for c in ctx.env_columns if ctx.samples[c].notna().any()]
    if not columns:
        return {"variables": [], "blocks": [missing("Environmental data")]}
    note = _missing_values(ctx, columns)
    if not ctx.dated:
        stations = sorted(set(ctx.samples["station"]), key=natural_key)
        step = max(1, math.ceil(len(stations) / 24))  # thin the labels of a long transect
        figure = embed(plot_environment_by_station(ctx, columns, stations, step), "Environmental variables per station",
                       "Instead, each panel shows one measured variable per station (x axis, stations in order of "
                       "their number" + (f", every {step}th labelled" if step > 1 else "") + "), one point per "
                       f"sample, coloured by station and depth.{esc(note)}")
        return {"variables": columns, "blocks": [no_dates("Environment over time"), figure]}
    note += undated_note(ctx, ctx.order)
    figure = embed(plot_environment(ctx, columns), "Environmental variables over time",
                   "Each panel is one measured variable over time (x axis, UTC); each line joins the samples of one "
                   "station and depth. Lines that separate by depth show vertical structure; parallel changes at all "
                   f"stations show a seasonal or cruise-wide signal.{esc(note)}")
    return {"variables": columns, "blocks": [figure]}


def plot_reads_kept(ctx: Context, table_: pd.DataFrame) -> Figure:
    values = pd.to_numeric(table_["pct_kept"], errors="coerce")
    fig, (ax,) = new_figure(ctx.config.dpi, min(max(6.0, 0.22 * len(table_) + 2.0), 11.0), 3.4)
    colours = [ctx.colour.get(ctx.samples.at[x, "series"], "grey") if x in ctx.samples.index else "grey"
               for x in table_["sample"]]
    ax.bar(range(len(table_)), values.fillna(0).to_numpy(), color=colours, edgecolor="black", linewidth=0.3)
    if len(table_) <= 80:
        ax.set_xticks(range(len(table_)), table_["sample"], rotation=90, fontsize=8 if len(table_) <= 40 else 6)
        ax.set_xlabel("Sample (in time order)" if ctx.dated else "Sample (by station and depth)")
    else:  # names would be unreadable: the table below has them
        ax.set_xticks([])
        ax.set_xlabel(f"{len(table_)} samples in time order (names in the table below)")
    ax.set_ylim(0, 100)
    ax.set_ylabel("Reads kept (%)")
    ax.grid(axis="x", visible=False)
    return fig


def build_read_accounting(ctx: Context) -> dict:
    accounting = ctx.inputs.read_accounting
    if accounting is None or accounting.empty:
        return {"blocks": [missing("Read accounting")]}
    accounting = indexed(accounting)
    if "pct_kept" not in accounting.columns and {"raw_reads", "kept_reads"} <= set(accounting.columns):
        raw = pd.to_numeric(accounting["raw_reads"], errors="coerce")
        accounting["pct_kept"] = 100.0 * pd.to_numeric(accounting["kept_reads"], errors="coerce") / raw.where(raw > 0)
    rank = {sample: i for i, sample in enumerate(ctx.order)}
    accounting = accounting.loc[sorted(accounting.index, key=lambda x: (rank.get(x, len(rank)), x))].reset_index()
    out: dict = {"blocks": []}
    if {"raw_reads", "kept_reads"} <= set(accounting.columns):
        raw = pd.to_numeric(accounting["raw_reads"], errors="coerce").sum()
        kept = pd.to_numeric(accounting["kept_reads"], errors="coerce").sum()
        out.update(raw_reads=raw, kept_reads=kept)
        out["blocks"].append(caption(f"Across {len(accounting)} samples, {integer(kept)} of {integer(raw)} reads "
                                     f"({pct(kept / raw, 1) if raw else '–'}) passed quality control (adapter and "
                                     f"quality trimming, length and N filters)."))
    if "pct_kept" in accounting.columns:
        out["blocks"].append(embed(plot_reads_kept(ctx, accounting), "Percentage of reads kept per sample",
                                   "Share of each sample's raw reads that survived quality control, samples in time "
                                   "order, coloured by station and depth. A sample far below the others deserves a "
                                   "look at its sequencing run before trusting its community profile."))
    columns = [Col("Sample", "sample", text=True)]
    for column, header, fmt in (("raw_reads", "Raw reads", integer), ("kept_reads", "Kept reads", integer),
                                ("pct_kept", "% kept", lambda x: fixed(x, 1)),
                                ("removed_too_short", "Too short", integer),
                                ("removed_too_many_n", "Too many N", integer),
                                ("mean_length_raw", "Mean length raw (bp)", lambda x: fixed(x, 1)),
                                ("mean_length_qc", "Mean length kept (bp)", lambda x: fixed(x, 1))):
        if column in accounting.columns:
            columns.append(Col(header, column, fmt))
    out["blocks"].append(table(accounting, columns, scroll=len(accounting) > 14))
    return out
