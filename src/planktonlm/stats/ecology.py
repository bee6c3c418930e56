"""The ecology stage's tables of one profile: diversity, distances, PCoA, turnover, distance decay.

Built from :mod:`planktonlm.stats.diversity`, :mod:`planktonlm.stats.transforms`,
:mod:`planktonlm.stats.ordination` and :mod:`planktonlm.stats.turnover`. Eigen-decompositions
run on one BLAS thread (see :class:`planktonlm.stats.ordination.PCoA`), because the thread count
changes the last bits of LAPACK results.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planktonlm.stats.diversity import alpha_diversity
from planktonlm.stats.ordination import PCoA
from planktonlm.stats.transforms import community_distance
from planktonlm.stats.turnover import distance_decay_time, turnover_consecutive

ECOLOGY_TABLES = ("alpha", "distances", "pcoa", "pcoa_axes", "turnover", "distance_decay")


@dataclass(frozen=True)
class EcologyConfig:
    """The ``ecology`` config section; defaults and bounds live in the config schema only.

    Build it with ``planktonlm.config.build_config(EcologyConfig, "ecology", section)``.
    """

    rarefy_depth: int
    metrics: tuple[str, ...]
    n_pcoa_axes: int
    pcoa_correction: str
    clr_pseudocount: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))  # YAML gives a list


def ecology_tables(counts: pd.DataFrame, meta: pd.DataFrame, cfg: EcologyConfig, seed: int) -> dict[str, pd.DataFrame]:
    """Every ecology table of one profile (pure): alpha, distances, pcoa, pcoa_axes, turnover, decay."""
    alpha = alpha_diversity(counts, cfg.rarefy_depth or None, seed).rename_axis("sample").reset_index()
    distances, coords, axes, turnover, decay = [], [], [], [], []
    for metric in cfg.metrics:
        dist = community_distance(counts, metric, pseudocount=cfg.clr_pseudocount)
        long = dist.rename_axis(index="sample_a", columns="sample_b").stack().rename("dissimilarity").reset_index()
        distances.append(long.assign(metric=metric))
        pcoa = PCoA(n_components=cfg.n_pcoa_axes, correction=cfg.pcoa_correction).fit(dist)
        coords.append(pcoa.coordinates_.rename_axis("sample").reset_index().assign(metric=metric))
        n = pcoa.n_components_
        axes.append(pd.DataFrame({
            "metric": metric, "axis": [f"PCo{i + 1}" for i in range(n)],
            "eigenvalue": pcoa.eigenvalues_[:n], "explained_ratio": pcoa.explained_variance_ratio_[:n],
            "negative_eigenvalue_share": pcoa.negative_eigenvalue_share_,
        }))
        turnover.append(turnover_consecutive(dist, meta).assign(metric=metric))
        fit = distance_decay_time(dist, meta)
        decay.append(pd.DataFrame([{"metric": metric, "slope_per_year": fit.slope_per_year, "intercept": fit.intercept,
                                    "spearman_rho": fit.spearman_rho, "n_pairs": fit.n_pairs}]))

    def first(frames: list[pd.DataFrame], lead: list[str]) -> pd.DataFrame:
        table = pd.concat(frames, ignore_index=True)
        return table[lead + [c for c in table.columns if c not in lead]]

    return {
        "alpha": alpha,
        "distances": first(distances, ["metric", "sample_a", "sample_b"]),
        "pcoa": first(coords, ["metric", "sample"]),
        "pcoa_axes": first(axes, ["metric", "axis"]),
        "turnover": first(turnover, ["metric"]),
        "distance_decay": first(decay, ["metric"]),
    }
