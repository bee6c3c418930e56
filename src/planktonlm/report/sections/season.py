"""Section "season": what the community and the environment share beyond the seasonal cycle."""

from __future__ import annotations

from planktonlm.report.context import Context
from planktonlm.report.format import (
    COMMUNITY_FROM_ENV,
    ENV_FROM_COMMUNITY,
    NO_SERIES,
    Col,
    caption,
    delta_text,
    direction_name,
    esc,
    fixed,
    h3,
    integer,
    missing,
    note,
    profile_name,
    table,
    text,
)
from planktonlm.report.selection import (
    P_CAPTION,
    dbrda_columns,
    folds,
    model_column,
    profile_metric_cols,
    profiles_available,
    schemes,
    sorted_stats,
    targets,
    variable_column,
)
from planktonlm.vocab import variable_label


def build_season(ctx: Context) -> dict:
    baseline, season = ctx.tables.get("season_baseline"), ctx.tables.get("dbrda_season")
    if baseline is None and season is None:
        return {"blocks": [missing("The seasonal baseline")]}
    if (baseline is None or baseline.empty) and (season is None or season.empty):
        return {"blocks": [note(f"{NO_SERIES} (no sampling dates, or too few for a seasonal cycle), so there is "
                                "no seasonal baseline to compare with.")]}
    blocks = [caption(
        "Much of what plankton communities and the environment share is the calendar: both follow the seasons. "
        "These results ask what is left beyond the seasonal cycle (harmonics of the day of year) and a linear "
        "trend."), h3("Cross-validated R²: season alone, main predictors alone, both")]
    if baseline is None or baseline.empty:
        blocks.append(missing("The cross-validated season baseline"))
    else:
        rank = {t: i for i, t in enumerate(targets(ctx, baseline["target"]))}
        order = {d: i for i, d in enumerate((ENV_FROM_COMMUNITY, COMMUNITY_FROM_ENV))}
        profiles = profiles_available(ctx, baseline["profile"])
        rows = baseline.assign(_p=baseline["profile"].map(profiles.index),
                               _d=baseline["direction"].map(lambda d: order.get(d, 9)),
                               _t=baseline["target"].map(rank))
        rows = rows.sort_values(["_p", "_d", "_t", "transformation"], kind="mergesort")
        blocks.append(table(rows, [
            Col("Profile", lambda r: profile_name(r["profile"]), text=True),
            Col("Direction", lambda r: direction_name(r["direction"]), text=True),
            Col("Target", lambda r: variable_label(r["target"]), text=True),
            model_column(),
            Col("R² season + trend", "r2_season", fixed), Col("R² main alone", "r2_main", fixed),
            Col("R² both", "r2_both", fixed),
            Col("ΔR² (both − season) [95% interval]", delta_text, str),
            Col("Main predictors", lambda r: text(r.get("main_predictors")), text=True),
            Col("Folds", folds, str, text=True), Col("Samples", "n_samples", integer)], scroll=len(rows) > 14))
        blocks.append(caption(
            "Cross-validated R² (primary model, identical folds) of the season and trend alone, of the main "
            "predictors alone (the community for community → environment, the environment for environment → "
            "community) and of both together. <b>ΔR²</b> is what the main predictors add beyond the calendar; its "
            "95% interval is a bootstrap over the CV groups. An interval above 0 means the community (or the "
            "environment) predicts more than the season does."))
    blocks.append(h3("dbRDA: what each driver explains beyond the calendar"))
    if season is None or season.empty:
        blocks.append(missing("dbRDA given the season"))
    else:
        rows = sorted_stats(ctx, season, "variable")
        blocks.append(table(rows, dbrda_columns(profile_metric_cols() + [variable_column()]), scroll=len(rows) > 14))
        blocks.append(caption(
            "Each environmental variable tested given the seasonal harmonics and trend (partial dbRDA): its R² is "
            "the community variation it explains beyond the calendar. " + P_CAPTION + " " + esc(schemes(rows))))
    return {"blocks": blocks}
