"""Community profiles from read vectors: the embedding-OTU codebook and the k-mer baseline.

The unit of counting is a fragment (a read pair, or a single read). Each sample arrives as a
``.npy`` matrix (fragments x dim) written by an earlier stage: transformer embeddings
(float16) for the embedding profile, canonical k-mer frequencies (``planktonlm.kmers``)
for the baseline. Both sides go through the same code (``build_profiles``):

1. a seeded, sample-balanced pool of fragments is drawn (every sample weighs the same);
2. a k-means codebook of K "OTUs" is fitted on the L2-normalised pool;
3. every fragment of every sample is assigned to its nearest OTU and counted.

Determinism: k-means is written here in numpy rather than taken from scikit-learn, whose
OpenMP reductions are chunked by thread. Distances use BLAS limited to one thread and a
fixed, zero-padded row block, because multi-threaded OpenBLAS (and even a different block
height) changes the last bits of a dot product; with that, a row's distances depend on that
row alone, so fits are bit-identical across runs and thread counts, and ``predict`` on the
training rows reproduces ``labels_``. Cluster sums use a sparse one-hot product (sequential).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path, save_npy

logger = logging.getLogger(__name__)

EMBEDDING_PREFIX = "eotu_"
KMER_PREFIX = "kotu_"

# Rows per distance block. Fixed (and the last block zero-padded) so that BLAS sees the same
# shapes whatever the number of rows, which keeps every row's distances bit-identical.
_BLOCK_ROWS = 4096
# Rows read at a time from a memory-mapped sample (a multiple of _BLOCK_ROWS).
_STREAM_ROWS = 16 * _BLOCK_ROWS


@dataclass(frozen=True)
class ProfilesConfig:
    """The ``profiles`` config section."""

    n_otus: int = 64
    pool_reads_per_sample: int = 2000
    kmer_k: int = 4
    max_iter: int = 100
    n_init: int = 3


# --------------------------------------------------------------------------------------------
# seeds


def keyed_rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends on ``seed`` and ``key`` only (e.g. a sample id).

    Keying by sample id, not by position, means adding or removing one sample does not change
    the random draws of the others.
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


# --------------------------------------------------------------------------------------------
# k-means codebook


def _l2_normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero (they have no direction)."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    norms[norms == 0] = 1.0
    return X / norms[:, None]


def _row_sq_norms(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X)


def _sq_distances(X: np.ndarray, x_sq: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared euclidean distances (n x m) between rows of X and rows of C, deterministic.

    Computed as |x|^2 - 2 x.c + |c|^2 in fixed zero-padded row blocks on one BLAS thread.
    Values below 1e-12 of |x|^2 + |c|^2 are rounding noise and set to 0, so that a point and
    its exact duplicate are at distance 0 (k-means++ relies on it).
    """
    n = X.shape[0]
    c_sq = _row_sq_norms(C)
    out = np.empty((n, C.shape[0]), dtype=np.float64)
    block = np.zeros((_BLOCK_ROWS, X.shape[1]), dtype=np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, n, _BLOCK_ROWS):
            stop = min(start + _BLOCK_ROWS, n)
            block[: stop - start] = X[start:stop]
            block[stop - start :] = 0.0
            dots = block @ C.T
            d = x_sq[start:stop, None] - 2.0 * dots[: stop - start] + c_sq[None, :]
            noise = 1e-12 * (x_sq[start:stop, None] + c_sq[None, :])
            d[d <= noise] = 0.0
            out[start:stop] = d
    return out


def _assign(X: np.ndarray, x_sq: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre (lowest index on ties) and the squared distance to it."""
    d = _sq_distances(X, x_sq, C)
    labels = np.argmin(d, axis=1)
    return labels.astype(np.int64), d[np.arange(len(labels)), labels]


def _kmeans_plusplus(X: np.ndarray, x_sq: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ seeding (as in scikit-learn: 2 + ln k trials per centre)."""
    n = X.shape[0]
    n_trials = 2 + int(np.log(k))
    chosen = [int(rng.integers(n))]
    closest = _sq_distances(X, x_sq, X[chosen])[:, 0]
    for _ in range(1, k):
        cumulative = np.cumsum(closest)
        potential = cumulative[-1]
        if potential <= 0.0:
            raise PlanktonlmInputError(
                InputProblem(
                    file="codebook pool",
                    message=f"only {len(chosen)} distinct vectors among {n} fragments, fewer than n_otus={k}",
                    expected="at least n_otus distinct vectors (lower profiles.n_otus)",
                )
            )
        # side="right" skips zero-width entries (points already at a centre, duplicates).
        candidates = np.searchsorted(cumulative, rng.random(n_trials) * potential, side="right")
        candidates = np.minimum(candidates, n - 1)
        d_cand = _sq_distances(X, x_sq, X[candidates])  # (n, n_trials)
        trial_closest = np.minimum(closest[:, None], d_cand)
        best = int(np.argmin(trial_closest.sum(axis=0)))
        chosen.append(int(candidates[best]))
        closest = trial_closest[:, best]
    return X[chosen].copy()


def _relocate_empty(labels: np.ndarray, min_dist: np.ndarray, k: int) -> int:
    """Give each empty cluster the farthest point from its own centre, in place.

    Points are taken in order of decreasing distance (lowest index first on ties), never
    from a cluster they would leave empty, never at distance 0 (that would copy a centre).
    Returns the number of clusters that stayed empty.
    """
    counts = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(counts == 0)
    if empty.size == 0:
        return 0
    order = np.argsort(-min_dist, kind="stable")
    pos = 0
    left_empty = 0
    for cluster in empty:
        while pos < len(order):
            point = order[pos]
            pos += 1
            if min_dist[point] > 0.0 and counts[labels[point]] > 1:
                counts[labels[point]] -= 1
                labels[point] = cluster
                counts[cluster] = 1
                break
        else:
            left_empty += 1
    return left_empty


def _update_centres(X: np.ndarray, labels: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Cluster means; a cluster with no point keeps its previous centre."""
    k = previous.shape[0]
    n = X.shape[0]
    one_hot = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
    sums = np.asarray(one_hot @ X)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    centres = previous.copy()
    filled = counts > 0
    centres[filled] = sums[filled] / counts[filled, None]
    return centres


def _lloyd(X: np.ndarray, x_sq: np.ndarray, centres: np.ndarray, max_iter: int):
    """Lloyd iterations until the assignment stops changing (exact, no tolerance)."""
    k = centres.shape[0]
    labels, min_dist = _assign(X, x_sq, centres)
    n_iter = 0
    converged = False
    while n_iter < max_iter:
        n_iter += 1
        if _relocate_empty(labels, min_dist, k):
            logger.warning("k-means: some clusters stayed empty (too few distinct vectors)")
        centres = _update_centres(X, labels, centres)
        new_labels, min_dist = _assign(X, x_sq, centres)
        if np.array_equal(new_labels, labels):
            labels = new_labels
            converged = True
            break
        if n_iter % 10 == 0:
            changed = int((new_labels != labels).sum())
            logger.info("k-means iteration %d: %d labels changed, inertia %.6g", n_iter, changed, min_dist.sum())
        labels = new_labels
    return centres, labels, float(min_dist.sum()), n_iter, converged


class EmbeddingCodebook(ClusterMixin, BaseEstimator):
    """K-means codebook of "OTUs" on L2-normalised vectors, bit-reproducible.

    Parameters
    ----------
    n_otus : number of clusters K.
    n_init : independent k-means++ starts; the lowest inertia wins (first on ties).
    max_iter : most Lloyd iterations per start.
    seed : seed of every random choice.
    normalize : scale each vector to unit length first (then squared euclidean distance is
        2 - 2 cos, i.e. clustering by direction, as is usual for embeddings).

    Attributes
    ----------
    cluster_centers_ : (n_otus, dim) float64 centres, in the normalised space.
    labels_ : OTU index of each training vector.
    inertia_ : sum of squared distances of training vectors to their centre.
    n_iter_ : Lloyd iterations of the winning start.
    n_features_in_ : vector dimension.
    """

    def __init__(self, n_otus: int = 64, n_init: int = 3, max_iter: int = 100, seed: int = 0, normalize: bool = True):
        self.n_otus = n_otus
        self.n_init = n_init
        self.max_iter = max_iter
        self.seed = seed
        self.normalize = normalize

    def _prepare(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"expected a 2-D array (fragments x dim), got shape {X.shape}")
        if not np.isfinite(X).all():
            bad = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
            raise ValueError(f"vector {bad} contains NaN or infinity")
        return _l2_normalise(X) if self.normalize else X

    def fit(self, X, y=None) -> EmbeddingCodebook:
        if int(self.n_otus) < 1 or int(self.n_init) < 1 or int(self.max_iter) < 1:
            raise ValueError("n_otus, n_init and max_iter must be >= 1")
        X = self._prepare(X)
        n, k = X.shape[0], int(self.n_otus)
        if n < k:
            raise PlanktonlmInputError(
                InputProblem(
                    file="codebook pool",
                    message=f"{n} fragments to fit {k} OTUs",
                    value=n,
                    expected=f"at least n_otus={k} fragments (lower profiles.n_otus or pool more reads)",
                )
            )
        x_sq = _row_sq_norms(X)
        best = None
        for i, child in enumerate(np.random.SeedSequence(int(self.seed)).spawn(int(self.n_init))):
            start = time.perf_counter()
            centres = _kmeans_plusplus(X, x_sq, k, np.random.default_rng(child))
            centres, labels, inertia, n_iter, converged = _lloyd(X, x_sq, centres, int(self.max_iter))
            status = "converged" if converged else "max_iter reached"
            elapsed = time.perf_counter() - start
            logger.info(
                "k-means start %d/%d: %d iterations (%s), inertia %.6g, %.1f s",
                *(i + 1, self.n_init, n_iter, status, inertia, elapsed),
            )
            if best is None or inertia < best[2]:
                best = (centres, labels, inertia, n_iter)
        self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_ = best
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Index (0-based) of the nearest OTU centre for each vector."""
        check_is_fitted(self, "cluster_centers_")
        X = self._prepare(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"vectors have dimension {X.shape[1]}, the codebook {self.n_features_in_}")
        return _assign(X, _row_sq_norms(X), self.cluster_centers_)[0]


# --------------------------------------------------------------------------------------------
# loading per-sample vectors


def _open_vectors(source) -> np.ndarray:
    """A 2-D array for an in-memory array or a ``.npy`` path (memory-mapped, read lazily)."""
    if isinstance(source, np.ndarray):
        return source
    return np.load(Path(source), mmap_mode="r", allow_pickle=False)


def _iter_blocks(arr: np.ndarray, rows: int = _STREAM_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, arr.shape[0], rows):
        yield start, np.asarray(arr[start : start + rows], dtype=np.float64)


def _read_ids_beside(path: Path) -> int | None:
    """Number of read ids in the ``.txt`` beside an ``.npy`` (None when there is none)."""
    ids = path.with_suffix(".txt")
    if not ids.is_file():
        return None
    with ids.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def _check_sources(sources: Mapping[str, object]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Open and check every sample's vectors; return arrays and float64 row sums.

    One streaming pass per sample checks finiteness and accumulates the sum for the mean
    embedding. Every problem of every sample is collected, then raised once.
    """
    problems: list[InputProblem] = []
    arrays: dict[str, np.ndarray] = {}
    sums: dict[str, np.ndarray] = {}
    dims: dict[int, str] = {}
    for sample, source in sources.items():
        where = str(source) if not isinstance(source, np.ndarray) else f"vectors of sample {sample}"
        try:
            arr = _open_vectors(source)
        except (OSError, ValueError) as exc:
            problems.append(InputProblem(file=where, message=f"cannot read vectors of sample {sample}: {exc}"))
            continue
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
            problems.append(
                InputProblem(
                    file=where,
                    message=f"sample {sample}: array of shape {arr.shape} and dtype {arr.dtype}",
                    expected="a 2-D float array (fragments x dim)",
                )
            )
            continue
        dims.setdefault(arr.shape[1], sample)
        if not isinstance(source, np.ndarray):
            n_ids = _read_ids_beside(Path(source))
            if n_ids is not None and n_ids != arr.shape[0]:
                problems.append(
                    InputProblem(
                        file=str(Path(source).with_suffix(".txt")),
                        value=n_ids,
                        message=f"sample {sample}: {n_ids} read ids for {arr.shape[0]} vectors",
                        expected="one read id per vector row",
                    )
                )
        total = np.zeros(arr.shape[1], dtype=np.float64)
        for start, block in _iter_blocks(arr):
            finite = np.isfinite(block).all(axis=1)
            if not finite.all():
                row = start + int(np.flatnonzero(~finite)[0])
                problems.append(
                    InputProblem(
                        file=where,
                        row=row + 1,
                        message=f"sample {sample}: vector contains NaN or infinity",
                        expected="finite values (a float16 overflow in the embedding stage?)",
                    )
                )
                break
            total += block.sum(axis=0)
        arrays[sample] = arr
        sums[sample] = total
    if len(dims) > 1:
        seen = ", ".join(f"{dim} (sample {s})" for dim, s in dims.items())
        problems.append(
            InputProblem(file="profile inputs", message=f"vectors differ in dimension: {seen}", expected="one dim")
        )
    if problems:
        raise PlanktonlmInputError(problems)
    return arrays, sums


def sample_balanced_pool(per_sample, n_per_sample: int, seed: int) -> np.ndarray:
    """Pool ``n_per_sample`` fragments of every sample (all of a sample that has fewer).

    ``per_sample`` maps sample id -> array or ``.npy`` path (a plain sequence is keyed by
    position). Draws without replacement with a generator keyed by (seed, sample id); the
    chosen rows keep their file order and samples keep the given order, so the pool is
    deterministic. Returns the stacked rows in the inputs' dtype (float16 stays float16).
    """
    if n_per_sample < 1:
        raise ValueError("n_per_sample must be >= 1")
    items = per_sample.items() if isinstance(per_sample, Mapping) else enumerate(per_sample)
    parts = []
    for key, source in items:
        arr = _open_vectors(source)
        n = arr.shape[0]
        if n <= n_per_sample:
            rows = np.arange(n)
        else:
            rows = np.sort(keyed_rng(seed, str(key)).choice(n, size=n_per_sample, replace=False))
        parts.append(np.asarray(arr[rows]))
    if not parts:
        raise ValueError("no samples to pool")
    return np.concatenate(parts, axis=0)


# --------------------------------------------------------------------------------------------
# profile tables


def otu_column_names(n_otus: int, prefix: str) -> list[str]:
    """``prefix`` + 1-based zero-padded index: eotu_0001 ... (wider when K > 9999)."""
    width = max(4, len(str(n_otus)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n_otus + 1)]


def count_profile(labels, n_otus: int) -> np.ndarray:
    """Fragments per OTU (int64, length n_otus) from 0-based OTU labels."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_otus):
        raise ValueError(f"labels must lie in 0..{n_otus - 1}")
    return np.bincount(labels, minlength=n_otus).astype(np.int64)


def build_profile_table(
    per_sample_labels: Mapping[str, np.ndarray], n_otus: int, prefix: str = EMBEDDING_PREFIX
) -> pd.DataFrame:
    """Samples x OTUs int64 counts; rows in the given sample order, index named ``sample``."""
    rows = [count_profile(labels, n_otus) for labels in per_sample_labels.values()]
    data = np.vstack(rows) if rows else np.zeros((0, n_otus), dtype=np.int64)
    index = pd.Index([str(s) for s in per_sample_labels], name="sample")
    return pd.DataFrame(data, index=index, columns=otu_column_names(n_otus, prefix))


def mean_embedding_table(per_sample) -> pd.DataFrame:
    """Samples x dims mean vector (float64), columns dim_0000 ...; NaN for a sample with no fragment.

    An extra output only: mean embeddings lose the community signal (see DESIGN.md).
    """
    arrays, sums = _check_sources(dict(per_sample))
    return _mean_table(arrays, sums)


def _mean_table(arrays: Mapping[str, np.ndarray], sums: Mapping[str, np.ndarray]) -> pd.DataFrame:
    dim = next(iter(arrays.values())).shape[1] if arrays else 0
    width = max(4, len(str(dim - 1)))
    rows = []
    for sample, arr in arrays.items():
        n = arr.shape[0]
        rows.append(sums[sample] / n if n else np.full(dim, np.nan))
    data = np.vstack(rows) if rows else np.zeros((0, dim))
    index = pd.Index(list(arrays), name="sample")
    return pd.DataFrame(data, index=index, columns=[f"dim_{i:0{width}d}" for i in range(dim)])


# --------------------------------------------------------------------------------------------
# atomic, byte-stable writers


def _arrow_table(df: pd.DataFrame) -> pa.Table:
    """Sample column first, explicit types, no pandas metadata (no version strings in the bytes)."""
    arrays = [pa.array([str(s) for s in df.index], type=pa.string())]
    for column in df.columns:
        values = df[column].to_numpy()
        if np.issubdtype(values.dtype, np.integer):
            arrays.append(pa.array(values.astype(np.int64), type=pa.int64()))
        else:
            arrays.append(pa.array(values.astype(np.float64), type=pa.float64()))
    return pa.Table.from_arrays(arrays, names=["sample", *map(str, df.columns)])


def write_profile(
    df: pd.DataFrame,
    tsv_path: str | os.PathLike[str] | None,
    parquet_path: str | os.PathLike[str] | None = None,
) -> None:
    """Write a samples x features table as TSV and/or Parquet, atomically, byte-stable.

    First column ``sample`` (the index; joins samples.tsv by id), then the feature columns
    (int64 counts or float64 values). TSV: tab-separated, ``\\n`` line ends, floats in
    shortest round-trip form, NaN as empty. Parquet: zstd level 3, format 2.6, no pandas
    metadata; the bytes depend only on the values and the pyarrow version.
    """
    if tsv_path is not None:
        with atomic_path(tsv_path) as tmp:
            df.to_csv(tmp, sep="\t", index=True, index_label="sample", lineterminator="\n")
    if parquet_path is not None:
        with atomic_path(parquet_path) as tmp:
            pq.write_table(
                _arrow_table(df),
                tmp,
                compression="zstd",
                compression_level=3,
                version="2.6",
                use_dictionary=False,
                write_statistics=True,
            )


def read_profile(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by ``write_profile`` (``.parquet`` or TSV), indexed by sample."""
    path = Path(path)
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
        df["sample"] = df["sample"].astype(str)
        return df.set_index("sample")
    return pd.read_csv(path, sep="\t", index_col="sample", dtype={"sample": str})


# --------------------------------------------------------------------------------------------
# stage entries


@dataclass(frozen=True)
class BuiltProfiles:
    """What ``build_profiles`` wrote, in memory."""

    counts: pd.DataFrame
    codebook: EmbeddingCodebook
    mean: pd.DataFrame


def build_profiles(
    vectors: Mapping[str, object],
    *,
    prefix: str,
    out_counts_tsv: str | os.PathLike[str],
    out_counts_parquet: str | os.PathLike[str],
    out_codebook_npy: str | os.PathLike[str],
    out_mean_tsv: str | os.PathLike[str],
    n_otus: int,
    pool_reads_per_sample: int,
    seed: int,
    n_init: int = 3,
    max_iter: int = 100,
) -> BuiltProfiles:
    """Codebook on a balanced pool, every fragment assigned, counts per sample written.

    ``vectors``: sample id -> ``.npy`` path (or array) of fragments x dim. Writes the counts
    table (TSV + Parquet, columns ``prefix``0001 ...), the codebook centres ((K, dim) float64
    ``.npy``, in L2-normalised space) and the per-sample mean vector (TSV).
    """
    if not vectors:
        raise PlanktonlmInputError(InputProblem(file="profile inputs", message="no samples given"))
    arrays, sums = _check_sources(vectors)
    total_fragments = sum(a.shape[0] for a in arrays.values())
    logger.info("%s profiles: %d samples, %d fragments", prefix, len(arrays), total_fragments)
    for sample, arr in arrays.items():
        if arr.shape[0] == 0:
            logger.warning("sample %s has no fragment: its profile is all zeros", sample)

    pool = sample_balanced_pool(arrays, pool_reads_per_sample, seed)
    logger.info("pooled %d fragments (up to %d per sample) for the codebook", pool.shape[0], pool_reads_per_sample)
    codebook = EmbeddingCodebook(n_otus=n_otus, n_init=n_init, max_iter=max_iter, seed=seed).fit(pool)
    del pool
    logger.info("codebook: %d OTUs, inertia %.6g, %d iterations", n_otus, codebook.inertia_, codebook.n_iter_)

    labels: dict[str, np.ndarray] = {}
    start = time.perf_counter()
    done = 0
    for i, (sample, arr) in enumerate(arrays.items(), start=1):
        parts = [codebook.predict(block) for _, block in _iter_blocks(arr)]
        labels[sample] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        done += arr.shape[0]
        rate = done / max(time.perf_counter() - start, 1e-9)
        logger.info(
            "assigned sample %d/%d (%s): %d fragments, %.0f fragments/s", i, len(arrays), sample, arr.shape[0], rate
        )

    counts = build_profile_table(labels, n_otus, prefix)
    mean = _mean_table(arrays, sums)
    write_profile(counts, out_counts_tsv, out_counts_parquet)
    save_npy(out_codebook_npy, codebook.cluster_centers_)
    write_profile(mean, out_mean_tsv, None)
    return BuiltProfiles(counts=counts, codebook=codebook, mean=mean)


# --------------------------------------------------------------------------------------------
# stage entries used by workflow/scripts (one call each)

#: OTU column prefix of each read-based profile
PROFILE_PREFIX = {"embedding": "eotu_", "kmer": "kotu_"}


def profile_stage(profile: str, vectors: Mapping[str, object], outputs: Mapping[str, str],
                  cfg: ProfilesConfig, seed: int) -> BuiltProfiles:
    """Build one read-based profile ("embedding" or "kmer") from its per-sample vectors."""
    return build_profiles(
        vectors, prefix=PROFILE_PREFIX[profile], out_counts_tsv=outputs["counts_tsv"],
        out_counts_parquet=outputs["counts_parquet"], out_codebook_npy=outputs["codebook"],
        out_mean_tsv=outputs["mean"], n_otus=cfg.n_otus, pool_reads_per_sample=cfg.pool_reads_per_sample,
        seed=seed, n_init=cfg.n_init, max_iter=cfg.max_iter,
    )
