"""OTU ids of one atlas translated into another's: by codebook centres, or by the fragments both assign.

An atlas's OTU ids never change; a rebuilt atlas (more cruises, a retrained encoder) has new
ones. Two codebooks of the same vector space (k-mer codebooks with the same k, embedding
codebooks of the same encoder) are matched by the cosine of their centres; embedding codebooks
of two encoders only through the same reads embedded by both (``map_otus_by_reads``).

The mapping table of ``map_atlases`` (TSV, one row per OTU of the old atlas, k-mer then embedding)::

    profile  method  old_otu  new_otu  agreement  nearest_new_otu

``method``: ``centres`` (``agreement`` = cosine similarity of the matched centres) or ``reads``
(``agreement`` = share of the old OTU's fragments that the matched new OTU holds). ``new_otu`` is
one-to-one (Hungarian assignment) and empty when unmatched; ``nearest_new_otu`` is the closest
new OTU, not one-to-one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.profiles.assign import load_codebook, nearest_otus
from planktonlm.profiles.atlas import Atlas, read_otu_ids
from planktonlm.profiles.vectors import check_sources

MAPPING_COLUMNS = ["profile", "method", "old_otu", "new_otu", "agreement", "nearest_new_otu"]


def map_otus_by_centres(old_centres: np.ndarray, new_centres: np.ndarray, old_ids: Sequence[str],
                        new_ids: Sequence[str]) -> pd.DataFrame:
    """Match the OTUs of two codebooks of the same vector space by the cosine of their centres.

    One row per old OTU: ``old_otu``, ``new_otu`` (one-to-one, Hungarian assignment on cosine
    distance; empty when the new codebook has fewer OTUs), ``cosine_similarity`` of that pair,
    ``nearest_new_otu`` and ``nearest_cosine_similarity`` (the most similar new OTU, not one-to-one).
    """
    old, new = np.asarray(old_centres, dtype=np.float64), np.asarray(new_centres, dtype=np.float64)
    if old.ndim != 2 or new.ndim != 2 or old.shape[1] != new.shape[1]:
        raise ValueError(f"codebooks of different vector spaces: shapes {old.shape} and {new.shape}")
    if (len(old_ids), len(new_ids)) != (old.shape[0], new.shape[0]):
        raise ValueError("one id per codebook row expected")

    def unit(c: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(c, axis=1, keepdims=True)
        return c / np.where(norms == 0, 1.0, norms)

    similarity = unit(old) @ unit(new).T
    rows, cols = linear_sum_assignment(1.0 - similarity)
    matched = dict(zip(rows.tolist(), cols.tolist()))
    nearest = np.argmax(similarity, axis=1)
    return pd.DataFrame({
        "old_otu": list(old_ids),
        "new_otu": [new_ids[matched[i]] if i in matched else "" for i in range(len(old_ids))],
        "cosine_similarity": [similarity[i, matched[i]] if i in matched else np.nan for i in range(len(old_ids))],
        "nearest_new_otu": [new_ids[j] for j in nearest],
        "nearest_cosine_similarity": similarity[np.arange(len(old_ids)), nearest],
    })


def map_otus_by_reads(old_labels: np.ndarray, new_labels: np.ndarray, old_ids: Sequence[str],
                      new_ids: Sequence[str]) -> pd.DataFrame:
    """Match the OTUs of two assignments of the same fragments (e.g. two encoders' codebooks) by shared fragments.

    One row per old OTU: ``old_otu``, ``n_fragments`` (its fragments), ``new_otu`` (one-to-one,
    Hungarian assignment maximising shared fragments; empty when unmatched or sharing none),
    ``shared_fragments``, ``share`` (= shared / n_fragments), ``nearest_new_otu`` (the new OTU
    that received most of its fragments; empty without fragments).
    """
    old_labels, new_labels = np.asarray(old_labels, dtype=np.int64), np.asarray(new_labels, dtype=np.int64)
    if old_labels.shape != new_labels.shape or old_labels.ndim != 1:
        raise ValueError(f"two labels per fragment expected: shapes {old_labels.shape} and {new_labels.shape}")
    n_old, n_new = len(old_ids), len(new_ids)
    if old_labels.size and not (0 <= old_labels.min() and old_labels.max() < n_old and 0 <= new_labels.min()
                                and new_labels.max() < n_new):
        raise ValueError(f"labels must lie in 0..{n_old - 1} (old) and 0..{n_new - 1} (new)")
    contingency = np.bincount(old_labels * n_new + new_labels, minlength=n_old * n_new).reshape(n_old, n_new)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    matched = {i: j for i, j in zip(rows.tolist(), cols.tolist()) if contingency[i, j] > 0}
    n_fragments = contingency.sum(axis=1)
    shared = np.array([contingency[i, matched[i]] if i in matched else 0 for i in range(n_old)], dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_fragments > 0, shared / n_fragments, np.nan)
    return pd.DataFrame({
        "old_otu": list(old_ids),
        "n_fragments": n_fragments.astype(np.int64),
        "new_otu": [new_ids[matched[i]] if i in matched else "" for i in range(n_old)],
        "shared_fragments": shared,
        "share": share,
        "nearest_new_otu": [new_ids[int(np.argmax(contingency[i]))] if n_fragments[i] else "" for i in range(n_old)],
    })


def _codebook_labels(atlas: Atlas, vectors: str | os.PathLike) -> np.ndarray:
    """Embedding-OTU index of every fragment of ``vectors`` under the atlas's codebook."""
    centres = load_codebook(atlas.file("embedding/codebook.npy"))
    arr = check_sources({str(vectors): vectors})[0][str(vectors)]
    if arr.shape[1] != centres.shape[1]:
        raise PlanktonlmInputError(InputProblem(file=str(vectors), value=arr.shape[1], message="vectors of another dimension",
                                                expected=f"embeddings by the encoder of atlas {atlas.name} (dim {centres.shape[1]})"))
    return nearest_otus(arr, centres)[0]


def _as_mapping(profile: str, method: str, table: pd.DataFrame, agreement: str) -> pd.DataFrame:
    out = table[["old_otu", "new_otu", agreement, "nearest_new_otu"]].rename(columns={agreement: "agreement"})
    return out.assign(profile=profile, method=method)[MAPPING_COLUMNS]


def map_atlases(old: Atlas, new: Atlas, vectors: tuple[str, str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The mapping table (see the module docstring) of ``old``'s OTUs onto ``new``'s, and notes on what was not mapped.

    k-mer OTUs are matched by centres when both atlases count the same k. Embedding OTUs by
    centres when both have the same encoder weights, else by reads when ``vectors`` gives
    ``(old.npy, new.npy)``: the same fragments embedded by the old and by the new encoder.
    """
    parts, notes = [], []
    if old.kmer_k == new.kmer_k and old.dims["kmer"] == new.dims["kmer"]:
        table = map_otus_by_centres(load_codebook(old.file("kmer/codebook.npy")), load_codebook(new.file("kmer/codebook.npy")),
                                    read_otu_ids(old, "kmer"), read_otu_ids(new, "kmer"))
        parts.append(_as_mapping("kmer", "centres", table, "cosine_similarity"))
    else:
        notes.append(f"k-mer OTUs not mapped: the atlases count different k-mers (k={old.kmer_k} and k={new.kmer_k})")
    same_encoder = old.encoder_sha256 == new.encoder_sha256
    if same_encoder:
        table = map_otus_by_centres(load_codebook(old.file("embedding/codebook.npy")),
                                    load_codebook(new.file("embedding/codebook.npy")),
                                    read_otu_ids(old, "embedding"), read_otu_ids(new, "embedding"))
        parts.append(_as_mapping("embedding", "centres", table, "cosine_similarity"))
        if vectors:
            notes.append("--vectors not used: both atlases have the same encoder, embedding OTUs were mapped by centres")
    elif vectors:
        old_labels, new_labels = _codebook_labels(old, vectors[0]), _codebook_labels(new, vectors[1])
        if old_labels.shape != new_labels.shape:
            raise PlanktonlmInputError(InputProblem(
                file=str(vectors[1]), value=new_labels.size, message=f"{new_labels.size} vectors for {old_labels.size} in {vectors[0]}",
                expected="the same fragments, in the same order, embedded by each atlas's encoder"))
        table = map_otus_by_reads(old_labels, new_labels, read_otu_ids(old, "embedding"), read_otu_ids(new, "embedding"))
        parts.append(_as_mapping("embedding", "reads", table, "share"))
    else:
        notes.append("embedding OTUs not mapped: the atlases have different encoders; give --vectors OLD.npy NEW.npy "
                     "(the same reads embedded by the old and by the new atlas's encoder)")
    mapping = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=MAPPING_COLUMNS)
    return mapping, notes
