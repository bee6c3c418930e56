"""Community ecology on a samples x features count table: diversity, distances, ordination, turnover.

Pure functions on pandas tables (rows = samples, index = sample id; columns = OTUs) plus a
PCoA estimator with the scikit-learn contract. Arrays are accepted too (rows get a
RangeIndex). Every random choice (rarefaction) takes a seed; eigen-decompositions run on one
BLAS thread, because thread count changes the last bits of LAPACK results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.stats
from scipy.spatial.distance import pdist, squareform
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import write_tsv
from planktonlm.profiles import keyed_rng

logger = logging.getLogger(__name__)

METRICS = ("braycurtis", "hellinger", "aitchison")
PCOA_CORRECTIONS = ("none", "lingoes", "cailliez")
DEFAULT_PSEUDOCOUNT = 0.5
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


def _as_table(counts, *, integer: bool = False) -> pd.DataFrame:
    """The counts as a float-or-int DataFrame; every bad cell collected and raised once."""
    frame = counts if isinstance(counts, pd.DataFrame) else pd.DataFrame(np.asarray(counts))
    problems: list[InputProblem] = []
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    for column in non_numeric:
        problems.append(InputProblem(file=_TABLE, column=str(column), message="not numeric", expected="counts"))
    if not problems:
        values = frame.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if integer:
            bad |= values != np.round(values)
        expected = "a non-negative integer count" if integer else "a finite non-negative value"
        for row, col in zip(*np.nonzero(bad), strict=True):
            if len(problems) == 20:
                problems.append(InputProblem(file=_TABLE, message=f"... {int(bad.sum()) - 20} more bad cells"))
                break
            problems.append(
                InputProblem(
                    file=_TABLE,
                    row=int(row) + 1,
                    column=str(frame.columns[col]),
                    value=float(values[row, col]),
                    message=f"sample {frame.index[row]}: bad value",
                    expected=expected,
                )
            )
    if problems:
        raise PlanktonlmInputError(problems)
    return frame


def _require_nonempty(frame: pd.DataFrame, what: str) -> None:
    empty = [str(s) for s, total in zip(frame.index, frame.to_numpy().sum(axis=1), strict=True) if total <= 0]
    if empty:
        raise PlanktonlmInputError(
            InputProblem(
                file=_TABLE,
                message=f"{len(empty)} sample(s) with no count: {', '.join(empty)}",
                expected=f"a positive total for {what} (drop the samples or rarefy first)",
            )
        )


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
    totals = _as_table(counts, integer=True).to_numpy(dtype=np.int64).sum(axis=1)
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
    frame = _as_table(counts, integer=True)
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
    frame = _as_table(counts)
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
    frame = _as_table(counts, integer=True)
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
# transformations


def relative(counts) -> pd.DataFrame:
    """Each row divided by its total (refuses samples with no count)."""
    frame = _as_table(counts)
    _require_nonempty(frame, "relative abundances")
    values = frame.to_numpy(dtype=np.float64)
    return pd.DataFrame(values / values.sum(axis=1, keepdims=True), index=frame.index, columns=frame.columns)


def hellinger(counts) -> pd.DataFrame:
    """Square root of relative abundances (Legendre & Gallagher 2001)."""
    return np.sqrt(relative(counts))


def clr(counts, pseudocount: float = DEFAULT_PSEUDOCOUNT) -> pd.DataFrame:
    """Centred log-ratio: log(x + pseudocount) minus its row mean; rows sum to 0.

    The pseudocount (default 0.5, half the smallest non-zero count) replaces zeros, which
    have no logarithm; it is added to every cell so ratios between non-zero counts move little.
    """
    if pseudocount <= 0:
        raise ValueError("pseudocount must be > 0")
    frame = _as_table(counts)
    logs = np.log(frame.to_numpy(dtype=np.float64) + pseudocount)
    return pd.DataFrame(logs - logs.mean(axis=1, keepdims=True), index=frame.index, columns=frame.columns)


# --------------------------------------------------------------------------------------------
# distances


def _square(condensed: np.ndarray, index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(squareform(condensed, checks=False), index=index.copy(), columns=index.copy())


def bray_curtis(counts, relative_abundance: bool = True) -> pd.DataFrame:
    """Bray-Curtis dissimilarity sum|u - v| / sum(u + v), sample x sample.

    ``relative_abundance`` (default) compares proportions, so sequencing depth does not count
    as dissimilarity; False compares the values as given (e.g. rarefied counts).
    """
    frame = relative(counts) if relative_abundance else _as_table(counts)
    _require_nonempty(frame, "Bray-Curtis")
    return _square(pdist(frame.to_numpy(dtype=np.float64), "braycurtis"), frame.index)


def hellinger_distance(counts) -> pd.DataFrame:
    """Euclidean distance between Hellinger-transformed samples (0 .. sqrt 2)."""
    frame = hellinger(counts)
    return _square(pdist(frame.to_numpy(dtype=np.float64), "euclidean"), frame.index)


def aitchison(counts, pseudocount: float = DEFAULT_PSEUDOCOUNT) -> pd.DataFrame:
    """Euclidean distance between CLR-transformed samples."""
    frame = clr(counts, pseudocount)
    return _square(pdist(frame.to_numpy(dtype=np.float64), "euclidean"), frame.index)


def beta_diversity(counts, metric: str, pseudocount: float = DEFAULT_PSEUDOCOUNT) -> pd.DataFrame:
    """Distance matrix for ``metric`` in METRICS (braycurtis on proportions, hellinger, aitchison)."""
    frame = _as_table(counts)
    _require_nonempty(frame, metric)
    if metric == "braycurtis":
        return bray_curtis(frame)
    if metric == "hellinger":
        return hellinger_distance(frame)
    if metric == "aitchison":
        return aitchison(frame, pseudocount)
    raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


# --------------------------------------------------------------------------------------------
# principal coordinates


def _check_distance_matrix(D) -> tuple[np.ndarray, pd.Index]:
    index = D.index if isinstance(D, pd.DataFrame) else pd.RangeIndex(np.asarray(D).shape[0])
    values = np.asarray(D, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"distance matrix must be square, got shape {values.shape}")
    if isinstance(D, pd.DataFrame) and not D.index.equals(D.columns):
        raise ValueError("distance matrix rows and columns must list the same samples in the same order")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("distances must be finite and non-negative")
    if not np.allclose(values, values.T, rtol=1e-10, atol=1e-12) or np.any(np.diag(values) != 0):
        raise ValueError("distance matrix must be symmetric with a zero diagonal")
    return (values + values.T) / 2.0, index


def _gower_centre(A: np.ndarray) -> np.ndarray:
    """J A J with J = I - 11'/n, symmetrised."""
    B = A - A.mean(axis=0, keepdims=True) - A.mean(axis=1, keepdims=True) + A.mean()
    return (B + B.T) / 2.0


def _eigh_descending(B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with threadpool_limits(limits=1, user_api="blas"):
        values, vectors = scipy.linalg.eigh(B)
    order = np.argsort(-values, kind="stable")
    values, vectors = values[order], vectors[:, order]
    # Eigenvalues within rounding of zero are zero (else a Euclidean matrix shows -1e-16 ones).
    values[np.abs(values) <= 1e-10 * max(np.abs(values).max(initial=0.0), 1e-300)] = 0.0
    return values, vectors


def _correction_constant(D: np.ndarray, method: str) -> float:
    """Additive constant that makes D Euclidean (Legendre & Legendre 2012, sec. 9.3.4)."""
    n = D.shape[0]
    if method == "lingoes":
        smallest = _eigh_descending(_gower_centre(-0.5 * D**2))[0][-1]
        return float(-smallest) if smallest < 0 else 0.0
    # Cailliez: largest eigenvalue of [[0, 2 B1], [-I, -4 B2]].
    B1 = _gower_centre(-0.5 * D**2)
    B2 = _gower_centre(-0.5 * D)
    block = np.block([[np.zeros((n, n)), 2.0 * B1], [-np.eye(n), -4.0 * B2]])
    with threadpool_limits(limits=1, user_api="blas"):
        eigenvalues = scipy.linalg.eigvals(block)
    return float(max(eigenvalues.real.max(), 0.0))


class PCoA(BaseEstimator):
    """Principal coordinates analysis (classical metric MDS) of a distance matrix.

    Parameters
    ----------
    n_components : axes to keep (None = every axis with a positive eigenvalue; fewer are
        kept when fewer eigenvalues are positive).
    correction : "none", "lingoes" (d' = sqrt(d^2 + 2c)) or "cailliez" (d' = d + c), applied
        off the diagonal to remove negative eigenvalues of a non-Euclidean distance.

    Attributes
    ----------
    eigenvalues_ : every eigenvalue, descending (rounding-level values set to 0).
    explained_variance_ratio_ : eigenvalue of each kept axis / sum of positive eigenvalues.
    negative_eigenvalue_share_ : sum |negative| / sum |all| eigenvalues; 0 for a Euclidean
        distance, the larger the less the axes represent the distances.
    correction_constant_ : the c added by the correction (0 without one).
    coordinates_ : DataFrame samples x axes ``PCo1`` ...; each axis signed so that its entry
        of largest magnitude is positive (bit-stable output).
    n_components_ : number of axes kept.
    """

    def __init__(self, n_components: int | None = None, correction: str = "none"):
        self.n_components = n_components
        self.correction = correction

    def fit(self, D, y=None) -> PCoA:
        if self.correction not in PCOA_CORRECTIONS:
            raise ValueError(f"correction must be one of {PCOA_CORRECTIONS}, got {self.correction!r}")
        if self.n_components is not None and self.n_components < 1:
            raise ValueError("n_components must be >= 1 or None")
        distances, index = _check_distance_matrix(D)
        constant = 0.0
        if self.correction != "none" and distances.shape[0] > 1:
            constant = _correction_constant(distances, self.correction)
            off_diagonal = ~np.eye(distances.shape[0], dtype=bool)
            if self.correction == "lingoes":
                distances = np.where(off_diagonal, np.sqrt(distances**2 + 2.0 * constant), 0.0)
            else:
                distances = np.where(off_diagonal, distances + constant, 0.0)
        eigenvalues, vectors = _eigh_descending(_gower_centre(-0.5 * distances**2))
        positive = eigenvalues > 0
        n_axes = int(positive.sum())
        if self.n_components is not None:
            if self.n_components > n_axes:
                logger.info("PCoA: %d axes asked, %d positive eigenvalues", self.n_components, n_axes)
            n_axes = min(n_axes, int(self.n_components))
        coordinates = vectors[:, :n_axes] * np.sqrt(eigenvalues[:n_axes])[None, :]
        largest = np.argmax(np.abs(coordinates), axis=0)
        signs = np.where(coordinates[largest, np.arange(n_axes)] < 0, -1.0, 1.0)
        coordinates = coordinates * signs[None, :]
        positive_sum = eigenvalues[positive].sum()
        absolute_sum = np.abs(eigenvalues).sum()
        negative_sum = -eigenvalues[eigenvalues < 0].sum()
        self.eigenvalues_ = eigenvalues
        self.explained_variance_ratio_ = eigenvalues[:n_axes] / positive_sum if positive_sum > 0 else np.zeros(0)
        self.negative_eigenvalue_share_ = float(negative_sum / absolute_sum) if absolute_sum > 0 else 0.0
        self.correction_constant_ = constant
        axes = [f"PCo{i + 1}" for i in range(n_axes)]
        self.coordinates_ = pd.DataFrame(coordinates, index=index.copy(), columns=axes)
        self.n_components_ = n_axes
        if self.negative_eigenvalue_share_ > 0:
            share = 100 * self.negative_eigenvalue_share_
            logger.info("PCoA: negative eigenvalues carry %.1f%% of the sum of |eigenvalues|", share)
        return self

    def fit_transform(self, D, y=None) -> pd.DataFrame:
        return self.fit(D).coordinates_


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
        dist = beta_diversity(counts, metric, cfg.clr_pseudocount)
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
