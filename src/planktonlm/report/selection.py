"""Which rows a section shows: profiles and metrics in display order, the primary model, the
forward-selection steps, and the table columns that several sections share."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from planktonlm.report.context import Context
from planktonlm.report.format import (
    CV_NAMES,
    METRIC_ORDER,
    PROFILE_ORDER,
    Col,
    cell_holm,
    cell_p,
    finite,
    fixed,
    integer,
    metric_name,
    ordered,
    p_text,
    profile_name,
    r2_pm,
    text,
    truthy,
)
from planktonlm.vocab import variable_label


def profiles_available(ctx: Context, *sources: Iterable[str]) -> list[str]:
    names: set[str] = set()
    for source in sources:
        names.update(map(str, source))
    return ordered(names, (ctx.config.primary_profile,) + PROFILE_ORDER)


def stat_profiles(ctx: Context) -> list[list[str]]:
    """The profiles of every statistics table."""
    return [list(t["profile"].unique()) for t in ctx.tables.values() if t is not None and "profile" in t.columns]


def primary(ctx: Context, profiles: Sequence[str]) -> str | None:
    return ctx.config.primary_profile if ctx.config.primary_profile in profiles else (profiles[0] if profiles else None)


def metric_order(ctx: Context, metrics: Iterable[str]) -> list[str]:
    return ordered(metrics, (ctx.config.primary_metric,) + METRIC_ORDER)


def targets(ctx: Context, names: Iterable[str]) -> list[str]:
    """Temperature first, then the environmental columns in sheet order, then the rest by name."""
    names = list(dict.fromkeys(names))
    rank = {c: i for i, c in enumerate(([ctx.temperature] if ctx.temperature else []) + ctx.env_columns)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def cv_label(ctx: Context) -> str:
    if ctx.cv_scheme in (None, "", "grouped"):
        return "grouped-CV"
    return f"CV ({CV_NAMES.get(ctx.cv_scheme, ctx.cv_scheme)})"


def primary_cv(ctx: Context, direction: str) -> pd.DataFrame | None:
    """Per profile and target, the cv_metrics row of the primary (configured) model and
    transformation: THE result, never the best of several."""
    cv = ctx.tables.get("cv_metrics")
    if cv is None:
        return None
    cv = cv[(cv["direction"] == direction) & cv["primary"]]
    if cv.empty:
        return None
    cv = cv.sort_values(["profile", "target", "transformation", "model"], kind="mergesort")
    return cv.drop_duplicates(["profile", "target"])


def sensitivity_cv(ctx: Context, direction: str) -> pd.DataFrame | None:
    """The other models and transformations (sensitivity analyses), same CV scheme."""
    cv = ctx.tables.get("cv_metrics")
    if cv is None:
        return None
    cv = cv[(cv["direction"] == direction) & ~cv["primary"]]
    return None if cv.empty else cv


def primary_combo(ctx: Context, profile: str, direction: str) -> tuple[str, str] | None:
    """The primary (transformation, model) of one profile and direction."""
    rows = primary_cv(ctx, direction)
    if rows is None:
        return None
    rows = rows[rows["profile"] == profile]
    if rows.empty:
        return None
    return sorted(set(zip(rows["transformation"], rows["model"])))[0]


def folds(row: Mapping | pd.Series) -> str:
    """The fold scheme of a CV row ("station (4 folds of 12-12 samples)"), or what is known of it."""
    given = row.get("folds")
    if isinstance(given, str) and given.strip() and given.strip().lower() not in ("nan", "na"):
        return given.strip()
    group, n = row.get("group_by"), row.get("n_splits")
    if isinstance(group, str) and group and finite(n):
        return f"{group} ({integer(n)} folds)"
    return f"{integer(n)} folds" if finite(n) else ""


def r2_folds(row: Mapping | pd.Series) -> str:
    """"0.82 ± 0.05 (folds: station (4 folds of 12-12 samples))"."""
    scheme = folds(row)
    return r2_pm(row.get("r2_mean"), row.get("r2_sd")) + (f" (folds: {scheme})" if scheme else "")


def dbrda_rows(ctx: Context, name: str, profile: str | None, metric: str | None) -> pd.DataFrame | None:
    table = ctx.tables.get(name)
    if table is None or table.empty or profile is None:
        return None
    rows = table[table["profile"] == profile]
    if metric is not None:
        rows = rows[rows["transformation"] == metric]
    return rows if not rows.empty else None


def dbrda_temperature(ctx: Context) -> pd.DataFrame | None:
    marginal = ctx.tables.get("dbrda_marginal")
    if marginal is None or ctx.temperature is None:
        return None
    rows = marginal[marginal["variable"] == ctx.temperature]
    return rows if not rows.empty else None


def family(row: Mapping | pd.Series, what: str = "variables") -> str:
    """The Holm family of a dbRDA-like row, in words."""
    metric = metric_name(str(row.get("transformation", "")))
    profile = profile_name(str(row.get("profile", "")))
    return f"the {what} of {profile}" + (f", {metric}" if metric and metric != "-" else "")


def combos(ctx: Context, table: pd.DataFrame) -> list[tuple[str, str]]:
    """The (profile, transformation) pairs of a table, primary profile and metric first."""
    profiles = profiles_available(ctx, table["profile"])
    metrics = metric_order(ctx, table["transformation"])
    pairs = set(zip(table["profile"], table["transformation"]))
    return sorted(pairs, key=lambda k: (profiles.index(k[0]), metrics.index(k[1])))


def combo_name(combo: tuple[str, str]) -> str:
    return profile_name(combo[0]) + (f" · {metric_name(combo[1])}" if combo[1] else "")


STOP_REASONS = {
    "global model not significant": "the model with all variables is not significant, so no variable is selected",
    "p_value > alpha": "the next variable is not significant",
    "r2_adj above global model": "adding the next variable would raise adjusted R² above that of the model with "
                                 "all variables, the stopping rule of Blanchet et al. (2008)",
    "no independent variation": "the next variable adds no variation independent of those selected",
}


def forward(ctx: Context, combo: tuple[str, str]) -> tuple[pd.DataFrame, pd.Series | None, str]:
    """Forward selection of one (profile, transformation): the selected steps in order, the
    global-model row (if tested) and why selection stopped (if recorded)."""
    table = ctx.tables.get("dbrda_forward")
    if table is None:
        return pd.DataFrame(columns=["variable"]), None, ""
    rows = table[(table["profile"] == combo[0]) & (table["transformation"] == combo[1])]
    rows = rows.assign(_s=pd.to_numeric(rows["step"], errors="coerce"))
    rows = rows.sort_values(["_s", "variable"], kind="mergesort")
    whole = rows[rows["is_global"]]
    reasons = rows.loc[~rows["is_selected"], "stop_reason"] if "stop_reason" in rows.columns else []
    reasons = [STOP_REASONS.get(str(r).strip(), str(r).strip()) for r in reasons if isinstance(r, str) and r.strip()]
    return rows[rows["is_selected"]], (whole.iloc[0] if len(whole) else None), (reasons[0] if reasons else "")


def schemes(rows: pd.DataFrame) -> str:
    """The permutation scheme(s) of a table, in words."""
    if "permutation" not in rows.columns:
        return ""
    texts = sorted({str(t).strip() for t in rows["permutation"] if isinstance(t, str) and t.strip()})
    n = sorted({int(v) for v in pd.to_numeric(rows.get("n_permutations", pd.Series(dtype=float)),
                                                errors="coerce").dropna()})
    if not texts:
        return ""
    counts = f" ({', '.join(map(str, n))} permutations)" if n else ""
    return "Permutations: " + "; ".join(texts) + counts + "."


def sorted_stats(ctx: Context, table: pd.DataFrame, *extra: str) -> pd.DataFrame:
    """Rows by profile (primary first), dissimilarity, then ``extra`` columns."""
    profiles = profiles_available(ctx, table["profile"])
    metrics = metric_order(ctx, table["transformation"])
    table = table.assign(_p=table["profile"].map(profiles.index), _m=table["transformation"].map(metrics.index))
    if "variable" in extra:
        base = table["variable"].map(lambda v: re.sub(r"_lag\d+$", "", v))
        rank = {v: i for i, v in enumerate(targets(ctx, base))}
        table = table.assign(_v=base.map(rank))
        extra = tuple("_v" if c == "variable" else c for c in extra) + ("variable",)
    return table.sort_values(["_p", "_m", *extra], kind="mergesort")


# ----------------------------------------------------------------------------------------------
# table columns shared by sections

#: what the p-value columns of a dbRDA-like table mean (HTML)
P_CAPTION = ("<b>p</b> is the permutation p-value (\"smallest attainable\" when no permutation reached the "
             "observed statistic: more permutations would be needed to go lower), <b>p (Holm)</b> the same "
             "adjusted with Holm's method within each profile and dissimilarity (* = significant, p_holm ≤ 0.05) "
             "and <b>q (BH)</b> the Benjamini-Hochberg false-discovery rate over the whole run. A term the design "
             "cannot test (too few distinct permutations) is marked \"not testable under this design\".")


def dbrda_columns(first: Sequence[Col] = ()) -> list[Col]:
    """Columns of a dbRDA-like test table (raw p, Holm-adjusted p, BH q)."""
    return [*first, Col("R²", "r2", fixed), Col("adj. R²", "r2_adj", fixed),
            Col("pseudo-F", "pseudo_f", lambda x: fixed(x, 1)), Col("p", cell_p, str),
            Col("p (Holm)", cell_holm, str), Col("q (BH)", "q_bh", p_text)]


def variable_column(header: str = "Variable") -> Col:
    return Col(header, lambda r: variable_label(r["variable"]), text=True)


def model_column() -> Col:
    """Model (and transformation) of a row, e.g. "ridge · Hellinger"."""
    return Col("Model", lambda r: f"{r.get('model', '')}" + (f" · {metric_name(r['transformation'])}"
                                                           if r.get("transformation") else ""), text=True)


def profile_metric_cols() -> list[Col]:
    return [Col("Profile", lambda r: profile_name(r["profile"]), text=True),
            Col("Dissimilarity", lambda r: metric_name(r["transformation"]), text=True)]


def cv_columns(with_profile: bool = False, with_scheme: bool = False, with_role: bool = False) -> list[Col]:
    columns = [Col("Profile", lambda r: profile_name(r["profile"]), text=True)] if with_profile else []
    if with_scheme:
        columns.append(Col("CV scheme", lambda r: r.get("cv"), text, text=True))
    if with_role:
        columns.append(Col("Role", lambda r: "primary" if truthy(r.get("primary"), False) else "sensitivity",
                           text=True))
    return columns + [
        Col("Target", lambda r: variable_label(r["target"]), text=True),
        Col("Model", lambda r: r["model"], text=True),
        Col("Features", lambda r: metric_name(r["transformation"]), text=True),
        Col("CV R² (mean ± sd)", lambda r: r2_pm(r["r2_mean"], r.get("r2_sd"))),
        Col("min", "r2_min", fixed), Col("max", "r2_max", fixed),
        Col("Folds", folds, str, text=True),
        Col("p (permutation)", "p_perm", p_text), Col("p (Holm)", "p_holm", p_text), Col("q (BH)", "q_bh", p_text)]
