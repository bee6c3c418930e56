"""Adjusting p-values for the many tests of one run.

Holm's step-down adjustment within each family of tests (one profile x distance of dbRDA terms;
one profile x model of cross-validated predictions) controls the family-wise error; Benjamini-
Hochberg q-values over every test of the run control the false discovery rate. Missing p-values
(tests that could not be made) stay missing and do not count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests


def adjust(p_values: Sequence[float] | np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values (``holm`` or ``fdr_bh``) of the finite entries; NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = multipletests(p[finite], method=method)[1]
    return out


def holm_within(table: pd.DataFrame, family: Sequence[str], p_column: str = "p_value") -> pd.Series:
    """Holm-adjusted p-values within each family (rows sharing the ``family`` columns)."""
    out = pd.Series(np.nan, index=table.index, name="p_holm")
    if table.empty:
        return out
    for _, rows in table.groupby(list(family), sort=False, dropna=False):
        out.loc[rows.index] = adjust(rows[p_column].to_numpy(dtype=float), "holm")
    return out


def bh_across(tables: dict[str, pd.DataFrame], p_column: str = "p_value") -> dict[str, pd.Series]:
    """Benjamini-Hochberg q-values over the p-values of every given table together."""
    names = [name for name, t in tables.items() if p_column in t.columns]
    pooled = np.concatenate([tables[name][p_column].to_numpy(dtype=float) for name in names] + [np.zeros(0)])
    q = adjust(pooled, "fdr_bh")
    out, start = {}, 0
    for name in names:
        size = len(tables[name])
        out[name] = pd.Series(q[start : start + size], index=tables[name].index, name="q_bh")
        start += size
    return out


#: Holm families of the shifts stage's tables: table -> (p-value column, columns that define a family)
FAMILIES = dict(
    dbrda_marginal=("p_value", ["profile", "transformation"]),
    dbrda_conditional=("p_value", ["profile", "transformation"]),
    dbrda_season=("p_value", ["profile", "transformation"]),
    dbrda_anomalies=("p_value", ["profile", "transformation"]),
    dbrda_lagged=("p_value", ["profile", "transformation"]),
    varpart=("p_value", ["profile", "transformation"]),
    cv_metrics=("p_perm", ["profile", "model", "cv"]),
    trends=("p_value", ["profile", "variable"]),
    time_lag=("slope_p_value", ["profile"]),
)


def family_rows(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a shifts table that are tests (testable; the unique fractions of variation
    partitioning), with their p-value column named ``p_value``."""
    column = FAMILIES[name][0]
    if name == "varpart" and "kind" in table.columns:
        table = table[table["kind"] == "unique"]
    if "testable" in table.columns:
        table = table[table["testable"].astype(bool)]
    return table.rename(columns={column: "p_value"}) if column != "p_value" else table


def holm_table(name: str, table: pd.DataFrame) -> pd.Series:
    """Holm-adjusted p-values of a shifts table within its families (NaN for rows that are no test)."""
    return holm_within(family_rows(name, table), FAMILIES[name][1]).reindex(table.index)
