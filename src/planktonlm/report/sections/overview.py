"""Section "overview": what was run, and the key findings as sentences generated from the tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planktonlm.report.context import Context
from planktonlm.report.format import (
    ENV_FROM_COMMUNITY,
    NO_DATES,
    Col,
    caption,
    findings,
    finite,
    fixed,
    fraction_name,
    h3,
    integer,
    metric_name,
    missing,
    model_name,
    name,
    p_text,
    pct,
    profile_name,
    r2_pm,
    result_text,
    significant,
    table,
    testable,
    verdict,
)
from planktonlm.report.sections.novelty import novelty_finding
from planktonlm.report.selection import (
    cv_label,
    dbrda_rows,
    family,
    folds,
    forward,
    metric_order,
    primary,
    primary_cv,
    profiles_available,
    stat_profiles,
    targets,
)
from planktonlm.vocab import variable_label

_FINDINGS_CAPTION = (
    "These sentences are generated from the tables further down; R² is the share of variation explained (1 = all "
    "of it). Cross-validated (CV) R² is measured on samples held out from fitting, in whole groups (stations or "
    "time blocks), so it estimates how well the relationship carries over to new samples. p-values come from "
    "permutations that respect the sampling design (the scheme is named beside each); a result is called "
    "significant only if its Holm-adjusted p-value (p_holm, adjusted within the family named beside it) is at most "
    "0.05. q_bh in the tables is the Benjamini-Hochberg false-discovery rate over the whole run.")


def run_facts(ctx: Context) -> list[tuple[str, str]]:
    """(what, value) rows: cruises, samples, stations, dates, depths, variables, profiles, encoder."""
    s = ctx.samples
    cruises = sorted(set(s["cruise"])) if "cruise" in s.columns else []
    t0, t1 = s["time"].min(), s["time"].max()
    n_undated = len(s) - len(ctx.dated)
    if ctx.dated:
        dates = (f"{pd.Timestamp(t0):%Y-%m-%d} to {pd.Timestamp(t1):%Y-%m-%d} "
                 f"({(pd.Timestamp(t1) - pd.Timestamp(t0)).days} days)"
                 + (f"; {n_undated} sample{'s' if n_undated != 1 else ''} without a date" if n_undated else ""))
    else:
        dates = f"– ({NO_DATES})"
    depths = s["depth_m"].dropna()
    profiles = profiles_available(ctx, ctx.inputs.profiles or {}, ctx.inputs.alpha or {}, *stat_profiles(ctx))
    facts = [
        ("Cruise" + ("s" if len(cruises) != 1 else ""), ", ".join(cruises) if cruises else "–"),
        ("Samples", f"{len(s)}"),
        ("Stations", f"{s['station'].nunique()} ({', '.join(sorted(set(s['station'])))})"
         if s["station"].nunique() <= 12 else f"{s['station'].nunique()}"),
        ("Dates (UTC)", dates),
        ("Depths", f"{depths.min():g} to {depths.max():g} m ({depths.nunique()} distinct)" if len(depths) else "–"),
        ("Environmental variables", ", ".join(variable_label(c) for c in ctx.env_columns) or "–"),
        ("Community profiles", ", ".join(profile_name(p) for p in profiles) or "–"),
    ]
    info = ctx.inputs.model_info or {}
    if info:
        if info.get("reused"):
            facts.append(("DNA encoder", f"reused from checkpoint {info.get('checkpoint', '(path not recorded)')}"))
        else:
            size = f" ({integer(info['n_parameters'])} parameters)" if finite(info.get("n_parameters")) else ""
            facts.append(("DNA encoder", f"trained on this cruise's reads{size}"))
    return facts


def build_overview(ctx: Context) -> dict:
    facts = run_facts(ctx)
    sentences = key_findings(ctx)
    blocks = [table(pd.DataFrame(facts, columns=["what", "value"]),
                    [Col("What was run", "what", text=True), Col("", "value", text=True)]), h3("Key findings")]
    if sentences:
        blocks += [findings(sentences), caption(_FINDINGS_CAPTION)]
    else:
        blocks.append(missing("A summary of statistical results"))
    return {"facts": facts, "findings": sentences, "blocks": blocks}


def key_findings(ctx: Context) -> list[str]:
    """The key findings, one sentence each, in a fixed order."""
    out: list[str] = []
    temp_name = name(ctx.temperature) if ctx.temperature else None
    marginal = ctx.tables.get("dbrda_marginal")
    profile = primary(ctx, profiles_available(ctx, *stat_profiles(ctx)))
    metric = None
    if marginal is not None and profile is not None:
        rows = marginal[marginal["profile"] == profile]
        metrics = metric_order(ctx, rows["transformation"].unique())
        if metrics:
            metric = metrics[0]
            rows = rows[rows["transformation"] == metric]
            where = f"dbRDA on {profile_name(profile)}" + (f", {metric_name(metric)}" if metric else "")
            temp = rows[rows["variable"] == ctx.temperature] if ctx.temperature else rows.iloc[:0]
            if not temp.empty:
                r = temp.iloc[0]
                out.append(f"{temp_name} explains {pct(r['r2'])} of community variation on its own ({where}; "
                           f"adjusted R² {fixed(r.get('r2_adj'))}; {result_text(r, family(r))}). " + verdict(r))
            elif not rows.empty:
                r = rows.assign(_r=pd.to_numeric(rows["r2"], errors="coerce")).sort_values(
                    ["_r", "variable"], ascending=[False, True], kind="mergesort").iloc[0]
                out.append(f"{name(r['variable'])} is the strongest single driver of community variation: it "
                           f"explains {pct(r['r2'])} on its own ({where}; {result_text(r, family(r))}). " + verdict(r))
            out += _forward_finding(ctx, profile, metric, where)
            out += _varpart_finding(ctx, profile, metric, where)
    season = _season_finding(ctx, profile, metric)
    if season:
        out.append(season)
    best = primary_cv(ctx, ENV_FROM_COMMUNITY)
    if best is not None and profile is not None:
        mine = best[best["profile"] == profile]
        target = ctx.temperature if ctx.temperature in set(mine["target"]) else \
            (targets(ctx, mine["target"])[0] if not mine.empty else None)
        if target is not None:
            r = mine[mine["target"] == target].iloc[0]
            test = ""
            if finite(r.get("p_perm")):
                test = (f"; permutation p = {p_text(r['p_perm'])}"
                        + (f", Holm-adjusted {p_text(r.get('p_holm'))} within the targets of this model"
                           if finite(r.get("p_holm")) else ""))
            features = f", {metric_name(r['transformation'])} features" if r["transformation"] else ""
            fold_text = f"; folds: {folds(r)}" if folds(r) else ""
            out.append(f"{name(target)} is predicted from {profile_name(profile)} with {cv_label(ctx)} R² "
                       f"{r2_pm(r['r2_mean'], r.get('r2_sd'))} ({model_name(r['model'])}{features}, the primary "
                       f"model{fold_text}{test}).")
        comparison = _comparison_finding(ctx, profile, target)
        if comparison:
            out.append(comparison)
    novelty = novelty_finding(ctx)
    if novelty:
        out.append(novelty)
    return out


def _forward_finding(ctx: Context, profile: str, metric: str, where: str) -> list[str]:
    steps, whole, stop = forward(ctx, (profile, metric))
    if not steps.empty:
        names = ", ".join(name(v) for v in steps["variable"])
        return [f"Forward selection keeps {len(steps)} variable{'s' if len(steps) != 1 else ''} ({names}), which "
                f"together explain an adjusted R² of {fixed(steps.iloc[-1].get('r2_adj_cum'))} ({where})."]
    if whole is not None:
        return [f"All environmental variables together explain an adjusted R² of {fixed(whole.get('r2_adj_cum'))} "
                f"({result_text(whole, with_scheme=False)}; {where}); forward selection keeps no single variable"
                + (f": {stop}." if stop else ".")]
    return []


def _varpart_finding(ctx: Context, profile: str, metric: str, where: str) -> list[str]:
    varpart = ctx.tables.get("varpart")
    if varpart is None:
        return []
    vp = varpart[(varpart["profile"] == profile) & (varpart["transformation"] == metric)]
    if vp.empty:
        return []
    unique = vp[vp["kind"] == "unique"]
    shared = pd.to_numeric(vp.loc[vp["kind"] == "shared", "r2_adj"], errors="coerce").sum()
    residual = pd.to_numeric(vp.loc[vp["kind"] == "residual", "r2_adj"], errors="coerce")
    bits = [f"{fraction_name(f)} alone {pct(v)}" for f, v in zip(unique["fraction"], unique["r2_adj"])]
    bits.append(f"shared between groups {pct(shared)}")
    if len(residual):
        bits.append(f"unexplained {pct(residual.iloc[0])}")
    return [f"Variation partitioning ({where}, adjusted R²): " + ", ".join(bits) + "."]


def _season_finding(ctx: Context, profile: str | None, metric: str | None) -> str:
    """Whether temperature's effect on the community holds beyond the seasonal cycle."""
    if ctx.temperature is None:
        return ""
    rows = dbrda_rows(ctx, "dbrda_season", profile, metric)
    if rows is None:
        rows = dbrda_rows(ctx, "dbrda_season", profile, None)
    rows = rows[rows["variable"] == ctx.temperature] if rows is not None else None
    if rows is None or rows.empty:
        return ""
    r = rows[rows["transformation"] == metric_order(ctx, rows["transformation"])[0]].iloc[0]
    temp = name(ctx.temperature)
    where = f"dbRDA on {profile_name(r['profile'])}" + (f", {metric_name(r['transformation'])}"
                                                         if r["transformation"] else "")
    detail = f"{where}, given the seasonal harmonics and trend; {result_text(r, family(r), with_scheme=False)}"
    if not testable(r):
        return f"Whether {temp.lower()}'s effect holds beyond the season cannot be tested under this design ({detail})."
    if significant(r):
        return (f"{temp}'s effect holds beyond the season: it still explains {pct(r['r2'], 1)} of community "
                f"variation beyond what the calendar explains ({detail}).")
    return (f"{temp}'s effect does not hold beyond the season: beyond the calendar it explains "
            f"{pct(r['r2'], 1)} of community variation, not significant after Holm adjustment ({detail}).")


def _comparison_finding(ctx: Context, profile: str, target: str | None) -> str:
    """The paired Delta R2 of the primary profile against the k-mer baseline (or another)."""
    table_ = ctx.tables.get("profile_comparison")
    if table_ is None or table_.empty or target is None:
        return ""
    rows = table_[(table_["direction"] == ENV_FROM_COMMUNITY) & (table_["target"] == target)
                  & ((table_["profile_a"] == profile) | (table_["profile_b"] == profile))]
    if rows.empty:
        return ""
    rivals = [b if a == profile else a for a, b in zip(rows["profile_a"], rows["profile_b"])]
    rival = "kmer" if "kmer" in rivals else sorted(rivals)[0]
    r = rows.iloc[rivals.index(rival)]
    sign = 1.0 if r["profile_a"] == profile else -1.0
    delta = sign * float(r["delta_r2"]) if finite(r["delta_r2"]) else np.nan
    lows = [sign * float(r[c]) if finite(r.get(c)) else np.nan for c in ("delta_low", "delta_high")]
    low, high = min(lows), max(lows)
    if finite(low) and finite(high):
        better = ("better" if low > 0 else "worse" if high < 0 else "no clearly different")
        ci = f" (95% interval {fixed(low)} to {fixed(high)})"
    else:
        better, ci = "", ""
    r2 = {r["profile_a"]: r.get("r2_a"), r["profile_b"]: r.get("r2_b")}
    target_name = name(target) if name(target) in ("pH",) else name(target).lower()
    mine = profile_name(profile)
    text = (f"{mine[:1].upper() + mine[1:]} versus the {profile_name(rival)} "
            f"for {target_name}: {cv_label(ctx)} R² {fixed(r2.get(profile))} against {fixed(r2.get(rival))}, a paired "
            f"difference of {fixed(delta)}{ci} on identical folds ({model_name(str(r.get('model', '')))})")
    if better == "no clearly different":
        return text + "; the interval includes 0, so neither predicts clearly better."
    if better:
        return text + f"; the {mine} predict {better}."
    return text + "."
