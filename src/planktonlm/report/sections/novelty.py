"""Novelty in the report: how much of each sample lies beyond the atlas (or the codebook fitted on
this run), per cruise, with one plain sentence when a cruise has samples above ``ALERT``.

Read from the cube's ``novelty_<profile>`` variables (``ReportInputs.novelty``); a run without
them (published tables, cubes written before novelty) shows nothing and says nothing about it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planktonlm.report.context import Context
from planktonlm.report.format import (
    PROFILE_ORDER,
    Col,
    caption,
    date_text,
    details,
    esc,
    finite,
    h3,
    integer,
    ordered,
    profile_name,
    table,
)
from planktonlm.vocab import NOVELTY_QUANTILE

#: an embedding novelty above this share of a sample's reads is worth a sentence
ALERT = 0.05
_NO_CRUISE = "–"


def novelty_frame(ctx: Context) -> pd.DataFrame | None:
    """Novelty share per sample (index in display order) and profile, plus ``cruise``; None without novelty."""
    novelty = ctx.inputs.novelty
    if novelty is None or novelty.empty:
        return None
    frame = novelty.copy()
    frame.index = frame.index.astype(str)
    profiles = ordered([str(c) for c in frame.columns], PROFILE_ORDER)
    frame = frame[profiles].apply(pd.to_numeric, errors="coerce")
    order = [s for s in ctx.order if s in frame.index]
    frame = frame.loc[order]
    cruise = ctx.samples["cruise"] if "cruise" in ctx.samples.columns else pd.Series(_NO_CRUISE, index=ctx.samples.index)
    frame["cruise"] = cruise.reindex(frame.index).fillna(_NO_CRUISE).astype(str).to_numpy()
    return frame


def _reference(ctx: Context) -> str:
    atlas = (ctx.inputs.novelty.attrs or {}).get("atlas") if ctx.inputs.novelty is not None else None
    return "the atlas" if atlas else "the codebook's reference reads"


def novelty_finding(ctx: Context) -> str | None:
    """One sentence naming, per cruise, the samples whose embedding novelty is above ``ALERT``; None if none is."""
    frame = novelty_frame(ctx)
    if frame is None or "embedding" not in frame.columns:
        return None
    high = frame[frame["embedding"] > ALERT]
    if high.empty:
        return None
    counts = high.groupby("cruise", sort=False).size()
    parts = [f"{n} sample{'s' if n != 1 else ''} of cruise {cruise}" for cruise, n in counts.items()]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    verb = "has" if len(high) == 1 else "have"
    reference = _reference(ctx)
    advice = ("consider rebuilding the atlas (README: Adding a cruise)" if reference == "the atlas" else
              "these samples hold reads unlike those the OTUs were fitted on")
    return (f"{listed} {verb} more than {ALERT:.0%} of {'its' if len(high) == 1 else 'their'} reads beyond "
            f"{reference} (embedding novelty): {advice}.")


def _share(x: object) -> str:
    return f"{100 * float(x):.1f}" if finite(x) else "–"


def novelty_blocks(ctx: Context) -> list[dict]:
    """Per cruise: samples, mean and max novelty of each profile, samples above ``ALERT``; per
    sample in a collapsed table; the sentence of :func:`novelty_finding`. [] without novelty."""
    frame = novelty_frame(ctx)
    if frame is None:
        return []
    profiles = [c for c in frame.columns if c != "cruise"]
    rows = []
    for cruise, part in frame.groupby("cruise", sort=False):
        row = {"cruise": cruise, "n": len(part)}
        for p in profiles:
            values = part[p].dropna()
            row[f"{p}_mean"] = values.mean() if len(values) else np.nan
            row[f"{p}_max"] = values.max() if len(values) else np.nan
            row[f"{p}_high"] = int((values > ALERT).sum())
        rows.append(row)
    summary = pd.DataFrame(rows)
    columns = [Col("Cruise", "cruise", text=True), Col("Samples", "n", integer)]
    for p in profiles:
        columns += [Col(f"{profile_name(p)}: mean (%)", f"{p}_mean", _share),
                    Col(f"{profile_name(p)}: max (%)", f"{p}_max", _share),
                    Col(f"{profile_name(p)}: samples > {ALERT:.0%}", f"{p}_high", integer)]
    reference = _reference(ctx)
    thresholds = (ctx.inputs.novelty.attrs or {}).get("threshold", {})
    blocks = [h3(f"Novelty: reads beyond {reference}"), table(summary, columns),
              caption(f"Share of each sample's reads farther from every OTU centre than the {NOVELTY_QUANTILE:.0%} "
                      f"quantile of the reference reads' distance to their nearest centre, mean and maximum over the "
                      f"samples of each cruise. Reads like the reference ones are novel about "
                      f"{1 - NOVELTY_QUANTILE:.0%} of the time; a sample well above that holds reads unlike "
                      f"{esc(reference)}."
                      + "".join(f" Threshold ({esc(profile_name(p))}): {float(t):.4g}." for p, t in thresholds.items()
                                if p in profiles and finite(t)))]
    sentence = novelty_finding(ctx)
    if sentence:
        blocks.append(caption(f"<b>{esc(sentence)}</b>"))
    per_sample = frame.assign(sample=frame.index,
                              station=ctx.samples["station"].reindex(frame.index).astype(str).to_numpy(),
                              date=ctx.samples["time"].reindex(frame.index).to_numpy())
    blocks.append(details(f"Novelty of every sample ({len(frame)})", [table(per_sample, [
        Col("Sample", "sample", text=True), Col("Cruise", "cruise", text=True), Col("Station", "station", text=True),
        Col("Date", "date", date_text, text=True), *[Col(f"{profile_name(p)} (%)", p, _share) for p in profiles]],
        scroll=len(per_sample) > 14)]))
    return blocks
