"""Variation partitioning among groups of explanatory variables, and variance inflation factors.

Collinear drivers (temperature, oxygen, depth, the season) are reported with their shared
variation instead of crediting one of them (Borcard et al. 1992; Peres-Neto et al. 2006).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from planktonlm.stats.dbrda import PermutationEngine, TestResult, adjusted_r2, basis, environment_frame, indicators, standardize
from planktonlm.stats.ordination import gower_centered
from planktonlm.stats.permutations import RestrictedPermutation, SamplingDesign

VARPART_COLUMNS = ["fraction", "kind", "groups", "r2", "r2_adj", "F", "df_num", "df_den", "p_value", "p_min",
                   "n_samples", "n_dropped", "permutation", "n_permutations"]


def partition_variation(
    distances: np.ndarray,
    tables: Mapping[str, pd.DataFrame],
    *,
    n_permutations: int = 999,
    seed: int = 0,
    design: SamplingDesign | None = None,
    permutation: str = "auto",
    mirror: bool = True,
    block_days: float | None = None,
) -> pd.DataFrame:
    """Partition the variation of a distance matrix among named groups of variables (usually 2-3).

    Rows (``kind``): ``unique`` (explained by one group only), ``shared`` (jointly by exactly the
    groups named in ``fraction``, joined by ``&``; not testable), ``residual``; unique + shared +
    residual sum to 1 in ``r2`` and in ``r2_adj``. Also ``group`` rows ("<name> (whole group)") and
    an ``all`` row, which overlap the fractions. Unique fractions are tested given the other groups
    (Freedman-Lane), groups alone and all with marginal tests, under the design's permutations.
    Samples with a missing value in any variable are dropped (``n_dropped``); ``permutation`` and
    ``n_permutations`` say how the remaining ones were permuted.
    """
    names = list(tables)
    if not names:
        raise ValueError("partition_variation needs at least one group of variables")
    joined = pd.concat([environment_frame(tables[g]).reset_index(drop=True) for g in names], axis=1)
    widths = [tables[g].shape[1] for g in names]
    mask = joined.notna().all(axis=1).to_numpy().copy()
    n = int(mask.sum())
    d = np.asarray(distances, dtype=float)[np.ix_(mask, mask)]
    x = standardize(joined.to_numpy(dtype=float)[mask])
    spans = np.split(np.arange(x.shape[1]), np.cumsum(widths)[:-1])
    if design is None:
        design, permutation = SamplingDesign(np.array(["all"] * len(mask), dtype=object), np.full(len(mask), np.nan),
                                             np.full(len(mask), np.nan)), "free"
    scheme = RestrictedPermutation(design.subset(mask), permutation, mirror=mirror, block_days=block_days)
    perms = scheme.draw(n_permutations, seed)
    engine = PermutationEngine(gower_centered(d), perms)
    strata = indicators(scheme.condition_on)
    k = len(names)
    full_mask = (1 << k) - 1

    def columns(bits: int) -> np.ndarray:
        return np.concatenate([spans[i] for i in range(k) if bits >> i & 1] or [np.zeros(0, dtype=int)])

    def with_strata(values: np.ndarray | None) -> np.ndarray | None:
        parts = [a for a in (values, strata) if a is not None and a.shape[1]]
        return np.column_stack(parts) if parts else None

    r2, r2_adj = {0: 0.0}, {0: 0.0}
    for bits in range(1, full_mask + 1):
        ss, rank = engine.explained(x[:, columns(bits)])
        r2[bits], r2_adj[bits] = ss / engine.total, adjusted_r2(ss / engine.total, n, rank)

    def fraction(values: dict[int, float], bits: int) -> float:
        # Moebius inversion of h(U) = total - f(complement of U): the part explained by exactly
        # the groups in `bits` and by no other group.
        total = values[full_mask]
        return sum((-1) ** (bin(bits).count("1") - bin(sub).count("1")) * (total - values[full_mask & ~sub]) if sub else 0.0
                   for sub in _submasks(bits))

    def label(bits: int) -> str:
        return "&".join(names[i] for i in range(k) if bits >> i & 1)

    rows = []
    for bits in sorted(range(1, full_mask + 1), key=lambda b: (bin(b).count("1"), b)):
        unique = bin(bits).count("1") == 1
        res = None
        if unique:
            others = x[:, columns(full_mask & ~bits)]
            res = engine.test(x[:, columns(bits)], with_strata(others if others.shape[1] else None))
        rows.append(_row(label(bits), "unique" if unique else "shared", label(bits), fraction(r2, bits), fraction(r2_adj, bits),
                         res, n, mask))
    rows.append(_row("residual", "residual", "", 1.0 - r2[full_mask], 1.0 - r2_adj[full_mask], None, n, mask))
    for i in range(k):
        res = engine.test(x[:, spans[i]], with_strata(None))
        rows.append(_row(f"{names[i]} (whole group)", "group", names[i], r2[1 << i], r2_adj[1 << i], res, n, mask))
    rows.append(_row("all groups", "all", label(full_mask), r2[full_mask], r2_adj[full_mask], engine.test(x, with_strata(None)), n, mask))
    # The scheme of the complete samples, as the tests used it.
    return pd.DataFrame(rows).assign(permutation=scheme.description, n_permutations=len(perms))[VARPART_COLUMNS]


def _submasks(bits: int) -> Iterator[int]:
    sub = bits
    while True:
        yield sub
        if sub == 0:
            return
        sub = (sub - 1) & bits


def _row(fraction: str, kind: str, groups: str, r2: float, r2_adj: float, res: TestResult | None, n: int, mask: np.ndarray) -> dict[str, Any]:
    nan = float("nan")
    return dict(fraction=fraction, kind=kind, groups=groups, r2=r2, r2_adj=r2_adj, F=res.F if res else nan,
                df_num=res.df_num if res else np.nan, df_den=res.df_den if res else np.nan,
                p_value=res.p_value if res else nan, p_min=res.p_min if res else nan, n_samples=n, n_dropped=int((~mask).sum()))


def variance_inflation(env: pd.DataFrame) -> pd.DataFrame:
    """VIF per variable, ``1/(1 - R2_j)`` with R2_j from regressing j on the others (complete samples)."""
    complete = env.dropna()
    x = standardize(complete.to_numpy(dtype=float))
    rows = []
    for j, name in enumerate(env.columns):
        others = np.delete(x, j, axis=1)
        q = basis(others, len(x))
        r2 = float(np.sum((q.T @ x[:, j]) ** 2) / np.sum(x[:, j] ** 2)) if q.shape[1] else 0.0
        vif = 1.0 / (1.0 - r2) if r2 < 1 - 1e-12 else float("inf")
        rows.append(dict(variable=str(name), vif=vif, r2_others=r2, n_samples=len(complete)))
    return pd.DataFrame(rows, columns=["variable", "vif", "r2_others", "n_samples"])
