"""Section "dbrda": marginal and conditional dbRDA tests, forward selection, variation partitioning,
and what the shifts stage left out of its statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from planktonlm.report.colours import palette
from planktonlm.report.context import Context
from planktonlm.report.figures import embed, new_figure
from planktonlm.report.format import (
    Col,
    caption,
    details,
    esc,
    finite,
    fixed,
    fraction_name,
    h3,
    integer,
    missing,
    ordered,
    p_text,
    pct,
    result_text,
    significant,
    table,
    testable,
    text,
)
from planktonlm.report.selection import (
    P_CAPTION,
    combo_name,
    combos,
    dbrda_columns,
    forward,
    schemes,
    variable_column,
)

_FRACTION_COLOURS = {"temperature": "#d6604d", "environment": "#4393c3", "space_time": "#5aae61"}
_SHARED_COLOURS = ("#b2abd2", "#8073ac", "#fdb863", "#e08214", "#c2a5cf")
_DBRDA_CAPTION = (
    "Distance-based redundancy analysis (dbRDA) asks how much of the variation in community dissimilarity "
    "each variable explains. <b>R²</b> is the share explained by the variable on its own; <b>adj. R²</b> "
    "corrects for the number of samples; <b>pseudo-F</b> is the test statistic. " + P_CAPTION
    + " <b>Selected</b> gives the order in which forward selection added variables to the model (empty = "
      "not kept). Collinear variables can swap places: read the shared fractions below before calling one "
      "of them the cause.")


def _marginal_blocks(ctx: Context, combo: tuple[str, str], marginal: pd.DataFrame) -> list[dict]:
    """The marginal tests of one (profile, transformation), in selection order, and what goes with them."""
    rows = marginal[(marginal["profile"] == combo[0]) & (marginal["transformation"] == combo[1])].copy()
    steps, whole, stop = forward(ctx, combo)
    order = {v: k for k, v in enumerate(steps["variable"], start=1)}
    rows["selected"] = rows["variable"].map(lambda v: order.get(v))
    rows["_r"] = pd.to_numeric(rows["r2"], errors="coerce").fillna(-np.inf)
    rows["_o"] = rows["selected"].map(lambda v: v if v is not None and finite(v) else 10**6)
    rows = rows.sort_values(["_o", "_r", "variable"], ascending=[True, False, True], kind="mergesort")
    blocks = [table(rows, dbrda_columns([variable_column()])
                    + [Col("Selected", "selected", lambda x: integer(x) if finite(x) else "")])]
    scheme = schemes(rows)
    if whole is not None:
        blocks.append(caption(f"All variables together: R² {fixed(whole.get('r2'))}, adjusted R² "
                              f"{fixed(whole.get('r2_adj_cum'))}, {esc(result_text(whole, with_scheme=False))}."
                              + (f" Forward selection stopped: {esc(stop)}." if stop else "")
                              + (f" {esc(scheme)}" if scheme else "")))
    elif scheme:
        blocks.append(caption(esc(scheme)))
    conditional = ctx.tables.get("dbrda_conditional")
    if conditional is not None and not conditional.empty:
        cond = conditional[(conditional["profile"] == combo[0]) & (conditional["transformation"] == combo[1])]
        if not cond.empty:
            blocks.append(details("Conditional tests (each variable given all the others)",
                                  [table(cond, dbrda_columns([variable_column()]))]))
    return blocks


def build_dbrda(ctx: Context) -> dict:
    marginal, varpart = ctx.tables.get("dbrda_marginal"), ctx.tables.get("varpart")
    blocks = []
    if marginal is None:
        blocks.append(missing("The dbRDA table"))
    else:
        blocks.append(caption(_DBRDA_CAPTION))
        for i, combo in enumerate(combos(ctx, marginal)):
            head = f"dbRDA marginal tests: {combo_name(combo)}"
            if i == 0:
                blocks += [h3(head), *_marginal_blocks(ctx, combo, marginal)]
            else:
                blocks.append(details(head, _marginal_blocks(ctx, combo, marginal)))
    blocks.append(h3("Variation partitioning"))
    blocks += [missing("Variation partitioning")] if varpart is None else varpart_blocks(ctx, varpart)
    blocks += excluded_blocks(ctx)
    return {"blocks": blocks}


def excluded_blocks(ctx: Context) -> list[dict]:
    """The shifts stage's ``excluded`` table: samples and variables left out of the statistics."""
    excluded = ctx.inputs.excluded
    if excluded is None or excluded.empty:
        return []
    columns = [Col("Left out", "item", text, text=True)]
    if "kind" in excluded.columns:
        columns.append(Col("Kind", "kind", text, text=True))
    columns.append(Col("Why", "reason", text, text=True))
    return [h3("Left out of the statistics"), table(excluded, columns, scroll=len(excluded) > 14),
            caption("Samples and environmental variables that the statistics above did not use, and why "
                    "(for example a sample absent from one profile, or a variable that is constant).")]


def _fractions(varpart: pd.DataFrame) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    """(unique, shared, all fractions in display order, their names)."""
    unique = ordered(varpart.loc[varpart["kind"] == "unique", "fraction"], ("temperature", "environment", "space_time"))
    shared = sorted(set(varpart.loc[varpart["kind"] == "shared", "fraction"]), key=lambda f: (f.count("&"), f))
    fractions = unique + shared + (["residual"] if (varpart["kind"] == "residual").any() else [])
    labels = {}
    if "label" in varpart.columns:
        labels = {f: str(lab) for f, lab in zip(varpart["fraction"], varpart["label"]) if isinstance(lab, str) and lab}
    names = {f: labels.get(f, ("shared: " if f in shared else "") + fraction_name(f)
                           + (" alone" if f in unique else "")) for f in fractions}
    return unique, shared, fractions, names


def _varpart_cell(r: pd.Series | None) -> str:
    if r is None:
        return "–"
    cell = pct(r["r2_adj"], 1)
    if "p_value" in r.index and finite(r["p_value"]):
        cell += f" (p {p_text(r['p_value'])}"
        if finite(r.get("p_holm")):
            cell += f", Holm {p_text(r['p_holm'])}" + (" *" if significant(r) else "")
        cell += ")"
    elif r.get("kind") == "unique" and "testable" in r.index and not testable(r):
        cell += " (not testable under this design)"
    return cell


def plot_varpart(ctx: Context, varpart: pd.DataFrame, pairs: list[tuple[str, str]]) -> tuple[Figure, bool]:
    """Stacked bars of the fractions, one bar per (profile, transformation); and whether any
    fraction was negative (drawn as zero)."""
    unique, shared, fractions, names = _fractions(varpart)
    value = {(r["profile"], r["transformation"], r["fraction"]): r for _, r in varpart.iterrows()}
    fig, (ax,) = new_figure(ctx.config.dpi, 10.0, 1.6 + 0.42 * len(pairs))
    left = np.zeros(len(pairs))
    shared_i = 0
    negative = False
    for fraction in fractions:
        widths = []
        for combo in pairs:
            r = value.get((combo[0], combo[1], fraction))
            v = float(r["r2_adj"]) if r is not None and finite(r["r2_adj"]) else 0.0
            negative |= v < 0
            widths.append(max(v, 0.0))
        if fraction == "residual":
            colour = "#e0e0e0"
        elif fraction in _FRACTION_COLOURS:
            colour = _FRACTION_COLOURS[fraction]
        elif fraction in shared:
            colour = _SHARED_COLOURS[shared_i % len(_SHARED_COLOURS)]
            shared_i += 1
        else:
            colour = palette(len(unique))[unique.index(fraction)]
        ax.barh(range(len(pairs)), widths, left=left, color=colour, edgecolor="white", linewidth=0.6,
                label=names[fraction])
        left += np.asarray(widths)
    ax.set_yticks(range(len(pairs)), [combo_name(c) for c in pairs])
    ax.set_ylim(len(pairs) - 0.5, -0.5)
    ax.set_xlabel("Share of community variation (adjusted R²)")
    ax.xaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig, negative


def varpart_blocks(ctx: Context, varpart: pd.DataFrame) -> list[dict]:
    varpart = varpart[varpart["kind"].isin(["unique", "shared", "residual"])]
    pairs = combos(ctx, varpart)
    _, _, fractions, names = _fractions(varpart)
    value = {(r["profile"], r["transformation"], r["fraction"]): r for _, r in varpart.iterrows()}
    rows = [{"fraction": names[f], **{combo_name(c): _varpart_cell(value.get((c[0], c[1], f))) for c in pairs}}
            for f in fractions]
    blocks = [table(pd.DataFrame(rows), [Col("Fraction (adjusted R²)", "fraction", text=True)]
                    + [Col(combo_name(c), combo_name(c), text=False) for c in pairs])]
    if "p_value" in varpart.columns and pd.to_numeric(varpart["p_value"], errors="coerce").notna().any():
        blocks.append(caption("Unique fractions are tested by permutation (p); \"Holm\" is the p-value adjusted with "
                              "Holm's method within each profile and dissimilarity (* = significant, ≤ 0.05). "
                              + esc(schemes(varpart))))
    fig, negative = plot_varpart(ctx, varpart, pairs)
    note = " Negative adjusted fractions (chance level) are drawn as zero." if negative else ""
    blocks.append(embed(fig, "Variation partitioning stacked bars",
                        "How community variation splits between temperature alone, the other environmental variables "
                        "alone, space and time (position and season) alone, the parts they share (collinear drivers, "
                        "which cannot be attributed to one of them), and what none of them explains. One bar per "
                        f"profile and dissimilarity.{esc(note)}"))
    return blocks
