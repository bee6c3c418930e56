"""Community ecology on a samples x features count table: diversity, distances, ordination, turnover.

Pure functions on pandas tables (rows = samples, index = sample id; columns = OTUs). Transforms,
distances and PCoA come from the statistics core (:mod:`planktonlm.stats`), shared with the
shifts stage. Arrays are accepted too (rows get a
RangeIndex). Every random choice (rarefaction) takes a seed; eigen-decompositions run on one
BLAS thread, because thread count changes the last bits of LAPACK results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import write_tsv
from planktonlm.profiles import keyed_rng
from planktonlm.stats.ordination import PCOA_CORRECTIONS, PCoA
from planktonlm.stats.transforms import DEFAULT_PSEUDOCOUNT, as_table, community_distance

logger = logging.getLogger(__name__)

METRICS = ("braycurtis", "hellinger", "aitchison")
_TABLE = "community table"
_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class EcologyConfig:
    """The ``ecology`` config section."""

    rarefy_depth: int = 0
    metrics: tuple[str, ...] = METRICS
    n_pcoa_axes: int = 10
    pcoa_correction: str = "none"
    clr_pseudocount: float = DEFAULT_PSEUDOCOUNT

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))  # YAML gives a list
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or self.pcoa_correction not in PCOA_CORRECTIONS:
            raise ValueError(f"unknown metric {unknown} or correction {self.pcoa_correction!r}")


# --------------------------------------------------------------------------------------------
# input checks


# --------------------------------------------------------------------------------------------
# rarefaction and alpha diversity


@dataclass(frozen=True)
class Rarefaction:
    """Rarefied counts (samples below ``depth`` left out, listed in ``below_depth``)."""

    counts: pd.DataFrame
    depth: int
    below_depth: tuple[str, ...]


def default_depth(counts) -> int:
    """Smallest positive sample total (samples with no count cannot set the depth)."""
    totals = as_table(counts, integer=True).to_numpy(dtype=np.int64).sum(axis=1)
    positive = totals[totals > 0]
    if positive.size == 0:
        raise PlanktonlmInputError(InputProblem(file=_TABLE, message="no sample has any count"))
    return int(positive.min())


def rarefy(counts, depth: int | None = None, seed: int = 0) -> Rarefaction:
    """Subsample every sample to ``depth`` counts without replacement.

    ``depth`` None or 0 = the smallest positive sample total. Samples with fewer counts are
    left out, logged and listed. Each sample draws from a generator keyed by (seed, sample
    id), one multivariate hypergeometric draw per sample, so the result does not depend on
    which other samples are in the table.
    """
    frame = as_table(counts, integer=True)
    if not depth:
        depth = default_depth(frame)
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    values = frame.to_numpy(dtype=np.int64)
    keep = values.sum(axis=1) >= depth
    below = tuple(str(s) for s in frame.index[~keep])
    if below:
        logger.warning("rarefaction to %d: %d sample(s) below depth left out: %s", depth, len(below), ", ".join(below))
    kept_index = frame.index[keep]
    out = np.zeros((int(keep.sum()), values.shape[1]), dtype=np.int64)
    for i, (sample, row) in enumerate(zip(kept_index, values[keep], strict=True)):
        out[i] = keyed_rng(seed, str(sample)).multivariate_hypergeometric(row, depth)
    return Rarefaction(
        counts=pd.DataFrame(out, index=kept_index, columns=frame.columns), depth=int(depth), below_depth=below
    )


def diversity_indices(counts) -> pd.DataFrame:
    """Richness (observed features), Shannon (natural log) and Gini-Simpson (1 - sum p^2) per row."""
    frame = as_table(counts)
    values = frame.to_numpy(dtype=np.float64)
    totals = values.sum(axis=1, keepdims=True)
    p = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    plogp = np.zeros_like(p)
    np.multiply(p, np.log(p, out=np.zeros_like(p), where=p > 0), out=plogp)
    out = pd.DataFrame(
        {
            "richness": (values > 0).sum(axis=1).astype(np.float64),
            "shannon": -plogp.sum(axis=1),
            "simpson": 1.0 - (p**2).sum(axis=1),
        },
        index=frame.index,
    )
    out.loc[totals[:, 0] == 0, ["shannon", "simpson"]] = np.nan
    return out


def alpha_diversity(counts, depth: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Diversity of every sample, on counts rarefied to ``depth`` (None/0 = smallest total).

    Columns: total_count (before rarefaction), depth, rarefied (False = below depth, indices
    NaN), richness, shannon, simpson. Rows: every input sample, in input order.
    """
    frame = as_table(counts, integer=True)
    rarefied = rarefy(frame, depth, seed)
    indices = diversity_indices(rarefied.counts).reindex(frame.index)
    out = pd.DataFrame(
        {
            "total_count": frame.to_numpy(dtype=np.int64).sum(axis=1),
            "depth": np.full(len(frame), rarefied.depth, dtype=np.int64),
            "rarefied": frame.index.isin(rarefied.counts.index),
        },
        index=frame.index,
    )
    return out.join(indices)


# --------------------------------------------------------------------------------------------
# temporal turnover

SERIES_KEYS = ("station", "depth_m")


def _series_metadata(dist: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Metadata of the samples in ``dist`` (sample, station, depth_m, UTC datetime, position), sorted."""
    if not isinstance(dist, pd.DataFrame) or not dist.index.equals(dist.columns):
        raise ValueError("dist must be a square DataFrame with the same samples as index and columns")
    if "sample" in meta.columns:
        meta = meta.set_index("sample")
    meta = meta.copy()
    meta.index = meta.index.astype(str)
    file = "sample metadata"
    problems = [
        InputProblem(file=file, column=c, message="column missing", expected="station, depth_m and datetime")
        for c in (*SERIES_KEYS, "datetime")
        if c not in meta.columns
    ]
    missing = [str(s) for s in dist.index if str(s) not in meta.index]
    if missing:
        problems.append(
            InputProblem(file=file, message=f"no metadata for sample(s) {', '.join(missing)}", expected="one row each")
        )
    if problems:
        raise PlanktonlmInputError(problems)
    table = meta.loc[[str(s) for s in dist.index], [*SERIES_KEYS, "datetime"]].copy()
    table["datetime"] = pd.to_datetime(table["datetime"], utc=True, format="ISO8601", errors="coerce")
    for column in table.columns:
        for sample in table.index[table[column].isna()]:
            row = int(meta.index.get_loc(sample)) + 1
            problems.append(
                InputProblem(file=file, row=row, column=column, message=f"sample {sample}: missing or unparsable")
            )
    if problems:
        raise PlanktonlmInputError(problems)
    table.index.name = "sample"
    table["station"] = table["station"].astype(str)
    table["depth_m"] = table["depth_m"].astype(np.float64)
    table["position"] = np.arange(len(table))  # row/column of the sample in ``dist``
    return table.reset_index().sort_values([*SERIES_KEYS, "datetime", "sample"], kind="stable")


def _series_pairs(dist: pd.DataFrame, meta: pd.DataFrame, *, consecutive: bool) -> pd.DataFrame:
    """Pairs of samples within each station x depth series (consecutive dates, or all pairs)."""
    table = _series_metadata(dist, meta)
    firsts, seconds = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for _, series in table.groupby(list(SERIES_KEYS), sort=False):
        rows = series.index.to_numpy()  # labels of ``table``, in time order
        n = len(rows)
        i, j = (np.arange(n - 1), np.arange(1, n)) if consecutive else np.triu_indices(n, k=1)
        firsts.append(rows[i])
        seconds.append(rows[j])
    first = table.loc[np.concatenate(firsts)].reset_index(drop=True)
    second = table.loc[np.concatenate(seconds)].reset_index(drop=True)
    values = dist.to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "station": first["station"],
            "depth_m": first["depth_m"],
            "sample_from": first["sample"],
            "sample_to": second["sample"],
            "date_from": first["datetime"],
            "date_to": second["datetime"],
            "days": (second["datetime"] - first["datetime"]).dt.total_seconds() / 86400.0,
            "dissimilarity": values[first["position"].to_numpy(), second["position"].to_numpy()],
        }
    )


def turnover_consecutive(dist: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Dissimilarity between consecutive dates of every station x depth series.

    ``meta``: sample metadata (index or column ``sample``) with station, depth_m and an ISO
    8601 datetime; samples of ``meta`` absent from ``dist`` are ignored. Columns: station,
    depth_m, sample_from, sample_to, date_from, date_to (UTC), days, dissimilarity; series
    in (station, depth) order, time order within.
    """
    return _series_pairs(dist, meta, consecutive=True)


@dataclass(frozen=True)
class DistanceDecay:
    """Dissimilarity against time lag within series.

    ``pairs``: every pair of samples of one station x depth series, with the columns of
    ``turnover_consecutive`` (``days`` named ``lag_days``). ``slope_per_year``/``intercept``:
    least-squares line of dissimilarity on lag in years; ``spearman_rho``: rank correlation
    (NaN when undefined). Pairs share samples, so no p-value is given: a naive one would be
    far too small, and a valid one needs a permutation of whole series.
    """

    pairs: pd.DataFrame
    slope_per_year: float
    intercept: float
    spearman_rho: float
    n_pairs: int


def distance_decay_time(dist: pd.DataFrame, meta: pd.DataFrame) -> DistanceDecay:
    """All within-series pairs with their time lag, a fitted slope and Spearman's rho."""
    pairs = _series_pairs(dist, meta, consecutive=False).rename(columns={"days": "lag_days"})
    lag_years = pairs["lag_days"].to_numpy(dtype=np.float64) / _DAYS_PER_YEAR
    dissimilarity = pairs["dissimilarity"].to_numpy(dtype=np.float64)
    slope = intercept = rho = float("nan")
    if len(pairs) >= 2 and np.ptp(lag_years) > 0:
        centred = lag_years - lag_years.mean()
        slope = float((centred * (dissimilarity - dissimilarity.mean())).sum() / (centred**2).sum())
        intercept = float(dissimilarity.mean() - slope * lag_years.mean())
        if len(pairs) >= 3 and np.ptp(dissimilarity) > 0:
            rho = float(scipy.stats.spearmanr(lag_years, dissimilarity).statistic)
    return DistanceDecay(pairs=pairs, slope_per_year=slope, intercept=intercept, spearman_rho=rho, n_pairs=len(pairs))


# --------------------------------------------------------------------------------------------
# stage entry: one profile of the cube -> results/ecology/{profile}/*.tsv


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


def run_ecology(cube_nc: str, profile: str, outputs: dict[str, str], cfg: EcologyConfig, seed: int) -> None:
    """Stage entry: ecology of one profile of the cube, one TSV per table (keys of ``outputs``)."""
    from planktonlm.cube import profile_table, read_cube, sample_metadata

    cube = read_cube(cube_nc)
    counts = profile_table(cube, profile)
    meta = sample_metadata(cube)
    logger.info("ecology of profile %s: %d samples x %d OTUs, metrics %s", profile, *counts.shape, ", ".join(cfg.metrics))
    tables = ecology_tables(counts, meta, cfg, seed)
    for name, path in outputs.items():
        write_tsv(tables[name], path)
        logger.info("wrote %s (%d rows)", path, len(tables[name]))
