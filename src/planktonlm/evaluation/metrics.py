"""Scores of read vectors (k-NN accuracy, k-means ARI), of OTUs (purity, NMI) and of profiles (Bray-Curtis, Mantel).

Every score that learns anything (a scaler, a classifier) learns it on training folds only, and
every random choice is seeded from the caller's ``seed`` through :func:`planktonlm.seeding.derive_seed`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform
from sklearn.cluster import KMeans
from sklearn.metrics import accuracy_score, adjusted_rand_score, balanced_accuracy_score, normalized_mutual_info_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.preprocessing import normalize as l2_normalize

from planktonlm.seeding import derive_seed


def _labels(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per read), got shape {array.shape}")
    return array


def _vectors_and_genomes(vectors, genomes) -> tuple[np.ndarray, np.ndarray]:
    """Checked (n, d) float vectors and their n genome labels, with at least 2 genomes."""
    vectors = np.asarray(vectors, dtype=np.float64)
    genomes = _labels(genomes, "genomes")
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D (reads x dimensions), got shape {vectors.shape}")
    if len(vectors) != len(genomes):
        raise ValueError(f"{len(vectors)} vectors but {len(genomes)} genome labels")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors hold NaN or infinite values")
    if len(np.unique(genomes)) < 2:
        raise ValueError(f"need reads of at least 2 genomes, got {len(np.unique(genomes))}")
    return vectors, genomes


def _paired_labels(values, name: str, genomes) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (one label per read, e.g. predictions or OTUs) and the reads' genomes, checked to pair up."""
    values, genomes = _labels(values, name), _labels(genomes, "genomes")
    if len(values) != len(genomes):
        raise ValueError(f"{len(values)} {name} labels but {len(genomes)} genome labels")
    if len(genomes) == 0:
        raise ValueError("no reads to score")
    return values, genomes


def _per_genome_accuracy(genomes: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    correct = genomes == predicted
    return {str(g): float(correct[genomes == g].mean()) for g in np.unique(genomes)}


def knn_classifier(k: int = 10, standardize: bool = False) -> Pipeline:
    """A cosine k-NN classifier, after a z-score when ``standardize`` (fitted with it, on training rows only)."""
    steps = [("scale", StandardScaler())] if standardize else []
    return Pipeline([*steps, ("knn", KNeighborsClassifier(n_neighbors=k, metric="cosine"))])


def knn_scores(vectors, genomes, seed: int, *, k: int = 10, n_folds: int = 5, standardize: bool = False) -> dict:
    """How well a read's nearest neighbours name its genome: cross-validated cosine k-NN accuracy.

    Folds are stratified by genome when every genome has >= ``n_folds`` reads (plain k-fold
    otherwise), shuffled with a seed from ``seed``. Accuracy, its sd over folds, balanced accuracy
    and per-genome accuracy all come from the same out-of-fold predictions, so they agree.
    """
    vectors, genomes = _vectors_and_genomes(vectors, genomes)
    n = len(genomes)
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    smallest_train = n - -(-n // n_folds)
    if smallest_train < k:
        raise ValueError(f"{n} reads in {n_folds} folds leave {smallest_train} training reads, fewer than k={k}")
    _, per_genome_n = np.unique(genomes, return_counts=True)
    stratified = bool(per_genome_n.min() >= n_folds)
    folds_type = StratifiedKFold if stratified else KFold
    folds = folds_type(n_splits=n_folds, shuffle=True, random_state=derive_seed(seed, "knn-folds") % 2**32)
    predicted = cross_val_predict(knn_classifier(k, standardize), vectors, genomes, cv=folds)
    fold_accuracy = [accuracy_score(genomes[test], predicted[test]) for _, test in folds.split(vectors, genomes)]
    return {
        "knn_accuracy": float(accuracy_score(genomes, predicted)),
        "knn_accuracy_sd": float(np.std(fold_accuracy, ddof=1)),
        "knn_balanced_accuracy": float(balanced_accuracy_score(genomes, predicted)),
        "per_genome": _per_genome_accuracy(genomes, predicted),
        "n": n,
        "stratified": stratified,
    }


def kmeans_ari(vectors, genomes, seed: int, *, standardize: bool = False, normalize: bool = True) -> float:
    """Adjusted Rand index of k-means clusters (k = number of genomes) against the genomes.

    Rows are z-scored first when ``standardize`` (unsupervised, so fitted on all rows) and
    L2-normalised when ``normalize``, so k-means works in cosine geometry.
    """
    vectors, genomes = _vectors_and_genomes(vectors, genomes)
    n_genomes = len(np.unique(genomes))
    if len(vectors) < n_genomes:
        raise ValueError(f"{len(vectors)} reads cannot form {n_genomes} clusters")
    if standardize:
        vectors = StandardScaler().fit_transform(vectors)
    if normalize:
        vectors = l2_normalize(vectors)
    clusters = KMeans(n_clusters=n_genomes, n_init=4, random_state=derive_seed(seed, "kmeans") % 2**32).fit_predict(vectors)
    return float(adjusted_rand_score(genomes, clusters))


def ceiling_scores(predicted, genomes) -> dict:
    """Accuracy, balanced accuracy and per-genome accuracy of a classifier's predictions (e.g. KmerNaiveBayes)."""
    predicted, genomes = _paired_labels(predicted, "predicted", genomes)
    return {
        "accuracy": float(accuracy_score(genomes, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(genomes, predicted)),
        "per_genome": _per_genome_accuracy(genomes, predicted),
        "n": len(genomes),
    }


def bray_curtis(counts) -> np.ndarray:
    """Condensed Bray-Curtis distances between the rows (samples) of a count table, on relative abundances."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] < 2:
        raise ValueError(f"counts must be 2-D with at least 2 rows (samples), got shape {counts.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("counts must be finite and >= 0")
    totals = counts.sum(axis=1, keepdims=True)
    empty = np.flatnonzero(totals[:, 0] == 0)
    if empty.size:
        raise ValueError(f"{empty.size} row(s) with no counts (first: row {int(empty[0])}); Bray-Curtis is undefined for them")
    return pdist(counts / totals, "braycurtis")


def _condensed_pair(d1, d2) -> tuple[np.ndarray, np.ndarray]:
    d1, d2 = np.asarray(d1, dtype=np.float64), np.asarray(d2, dtype=np.float64)
    if d1.ndim != 1 or d1.shape != d2.shape:
        raise ValueError(f"need two condensed distance vectors of one length, got shapes {d1.shape} and {d2.shape}")
    if d1.size < 3:
        raise ValueError(f"need at least 3 distances (3 samples), got {d1.size}")
    if np.std(d1) == 0 or np.std(d2) == 0:
        raise ValueError("a distance vector is constant: its correlation is undefined")
    return d1, d2


def _unit_centred(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean()
    return centred / np.linalg.norm(centred)


def mantel_r(d1, d2) -> float:
    """Pearson correlation of two condensed distance vectors over the same samples."""
    d1, d2 = _condensed_pair(d1, d2)
    return float(_unit_centred(d1) @ _unit_centred(d2))


def mantel_test(d1, d2, n_permutations: int, seed: int) -> tuple[float, float]:
    """Mantel r and its one-sided permutation p (samples of ``d2`` relabelled), p = (1 + #{r_perm >= r}) / (1 + n)."""
    d1, d2 = _condensed_pair(d1, d2)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    r = mantel_r(d1, d2)
    square = squareform(d2, checks=False)
    rng = np.random.default_rng(derive_seed(seed, "mantel"))
    upper = np.triu_indices(len(square), k=1)  # squareform's condensed order
    d1_unit = _unit_centred(d1)
    at_least = 0
    for _ in range(n_permutations):
        order = rng.permutation(len(square))
        at_least += float(d1_unit @ _unit_centred(square[order][:, order][upper])) >= r
    return r, (1 + at_least) / (1 + n_permutations)


def profile_counts(labels, samples, n_labels: int | None = None, sample_order: Sequence[str] | None = None) -> pd.DataFrame:
    """Reads per sample (rows) and label (columns): true genome counts of embedded reads, or OTU counts.

    With ``n_labels`` the labels must be integers in [0, n_labels) and every one gets a column,
    empty ones included; otherwise the columns are the labels seen, sorted. ``sample_order`` fixes
    the rows (samples without reads get a row of zeros); otherwise the samples seen, sorted.
    """
    labels, samples = _labels(labels, "labels"), _labels(samples, "samples")
    if len(labels) != len(samples):
        raise ValueError(f"{len(labels)} labels but {len(samples)} samples")
    if n_labels is None:
        columns, label_index = np.unique(labels, return_inverse=True)
    else:
        if len(labels) and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= n_labels):
            raise ValueError(f"with n_labels={n_labels} the labels must be integers in [0, {n_labels})")
        columns, label_index = np.arange(n_labels), labels.astype(np.int64)
    rows = np.unique(samples) if sample_order is None else np.asarray(list(sample_order))
    if len(set(rows.tolist())) != len(rows):
        raise ValueError("sample_order repeats a sample")
    row_of = {s: i for i, s in enumerate(rows.tolist())}
    unknown = sorted({s for s in samples.tolist() if s not in row_of})
    if unknown:
        raise ValueError(f"{len(unknown)} sample(s) not in sample_order, e.g. {unknown[0]!r}")
    sample_index = np.array([row_of[s] for s in samples.tolist()], dtype=np.int64)
    flat = np.bincount(sample_index * len(columns) + label_index, minlength=len(rows) * len(columns))
    return pd.DataFrame(flat.reshape(len(rows), len(columns)), index=pd.Index(rows, name="sample"), columns=columns)


def otu_purity(otus, genomes) -> dict:
    """How well OTUs match genomes: NMI, and purity (share of reads in their OTU's majority genome)."""
    otus, genomes = _paired_labels(otus, "OTU", genomes)
    _, otu_index = np.unique(otus, return_inverse=True)
    _, genome_index = np.unique(genomes, return_inverse=True)
    table = np.zeros((otu_index.max() + 1, genome_index.max() + 1), dtype=np.int64)
    np.add.at(table, (otu_index, genome_index), 1)
    return {
        "nmi": float(normalized_mutual_info_score(genomes, otus)),
        "purity": float(table.max(axis=1).sum() / len(otus)),
        "n": len(otus),
    }
