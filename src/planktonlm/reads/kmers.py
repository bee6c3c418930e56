"""The k-mer baseline: canonical k-mer frequencies of the very fragments the encoder embedded.

Kept apart from ``planktonlm.profiles`` (which needs scikit-learn and pandas) so that the
per-sample ``kmer_vectors`` job imports numpy and the read parser only: on a small cruise its
start-up, not the counting, is most of its run time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

from planktonlm.io import atomic_path
from planktonlm.reads.fragments import iter_fragments

logger = logging.getLogger(__name__)

_BASE_CODE = np.full(256, 4, dtype=np.uint8)  # 4 = not A/C/G/T (N, IUPAC, anything else)
for _i, _base in enumerate(b"ACGT"):
    _BASE_CODE[_base] = _i
    _BASE_CODE[_base + 32] = _i  # lower case
_MAX_K = 10


@cache
def _canonical_kmer_index(k: int) -> tuple[np.ndarray, tuple[str, ...]]:
    codes = np.arange(4**k, dtype=np.int64)
    weights = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    digits = (codes[:, None] // weights[None, :]) % 4  # (4^k, k), first base first
    revcomp = ((3 - digits[:, ::-1]) * weights[None, :]).sum(axis=1)
    canonical, column = np.unique(np.minimum(codes, revcomp), return_inverse=True)
    names = tuple("".join("ACGT"[d] for d in digits[c]) for c in canonical)
    column = column.astype(np.int64)
    column.flags.writeable = False
    return column, names


def canonical_kmer_index(k: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Column of every k-mer code in the canonical table, and the canonical k-mers.

    A k-mer's code is its base-4 number (A=0, C=1, G=2, T=3, first base most significant).
    A k-mer and its reverse complement share one column; columns are ordered by the
    lexicographically smaller of the two. k=4 gives 136 columns ((4^k + 4^(k/2)) / 2 for
    even k, 4^k / 2 for odd k). The returned array is read-only (cached).
    """
    if not 1 <= int(k) <= _MAX_K:
        raise ValueError(f"k must be in 1..{_MAX_K}, got {k}")
    return _canonical_kmer_index(int(k))


def _as_bytes(seq) -> bytes:
    return seq.encode("latin-1") if isinstance(seq, str) else bytes(seq)


def _kmer_counts(seqs: Sequence, fragment_of_seq: np.ndarray, n_fragments: int, k: int) -> np.ndarray:
    """Canonical k-mer counts (n_fragments x columns) of sequences, summed per fragment."""
    column, names = canonical_kmer_index(k)
    n_col = len(names)
    counts = np.zeros(n_fragments * n_col, dtype=np.int64)
    parts = [_as_bytes(s) for s in seqs]
    lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    codes = _BASE_CODE[np.frombuffer(b"".join(parts), dtype=np.uint8)]
    n_win = codes.size - k + 1
    if n_win <= 0:
        return counts.reshape(n_fragments, n_col)
    kmer = np.zeros(n_win, dtype=np.int64)
    invalid = np.zeros(n_win, dtype=bool)
    for j in range(k):  # k passes over the buffer, not one per k-mer
        shifted = codes[j : j + n_win]
        kmer = kmer * 4 + shifted
        invalid |= shifted == 4
    seq_of_pos = np.repeat(np.arange(len(parts), dtype=np.int64), lengths)
    # A window that starts and ends in the same sequence lies inside it.
    valid = ~invalid & (seq_of_pos[:n_win] == seq_of_pos[k - 1 :])
    fragment = fragment_of_seq[seq_of_pos[:n_win][valid]]
    counts += np.bincount(fragment * n_col + column[kmer[valid]], minlength=n_fragments * n_col)
    return counts.reshape(n_fragments, n_col)


def kmer_frequencies(seqs1: Sequence, seqs2: Sequence | None = None, k: int = 4, batch_size: int = 20000) -> np.ndarray:
    """Canonical k-mer frequencies of each fragment (both mates pooled), float64.

    ``seqs1`` / ``seqs2``: read 1 / read 2 sequences (str or bytes), one per fragment;
    ``seqs2`` None for single-end. k-mers containing anything but A/C/G/T (case-insensitive)
    are skipped, and no k-mer spans the two mates. Each row sums to 1, or is all zeros when
    the fragment has no valid k-mer. A sequence and its reverse complement give the same row.
    """
    n = len(seqs1)
    if seqs2 is not None and len(seqs2) != n:
        raise ValueError(f"{n} first mates but {len(seqs2)} second mates")
    n_col = len(canonical_kmer_index(k)[1])
    out = np.zeros((n, n_col), dtype=np.float64)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        m = stop - start
        seqs = list(seqs1[start:stop])
        fragment_of_seq = np.arange(m, dtype=np.int64)
        if seqs2 is not None:
            seqs += list(seqs2[start:stop])
            fragment_of_seq = np.concatenate([fragment_of_seq, fragment_of_seq])
        counts = _kmer_counts(seqs, fragment_of_seq, m, k)
        totals = counts.sum(axis=1, keepdims=True)
        np.divide(counts, totals, out=out[start:stop], where=totals > 0)
    return out


def tetranucleotide_frequencies(seqs1: Sequence, seqs2: Sequence | None = None) -> np.ndarray:
    """Canonical tetranucleotide (k=4) frequencies, (n_fragments, 136); see kmer_frequencies."""
    return kmer_frequencies(seqs1, seqs2, k=4)


def kmer_vectors_for_sample(r1: str, r2: str | None, ids_file: str, out_npy: str, k: int, batch_size: int = 20000) -> int:
    """k-mer frequency vectors of exactly the fragments the encoder embedded, in the same order.

    ``ids_file`` is the embedding stage's read-id list: taking the fragments by id (not by
    re-drawing the subsample) makes "the same reads" true by construction, so any difference
    between the two profiles is the representation alone.

    The embedding stage writes its ids in file order, so one pass over the reads meets them in
    turn: the vectors are computed and written ``batch_size`` fragments at a time, and memory
    stays bounded whatever the sample's depth (with ``embed.reads_per_sample: 0`` the ids are
    every fragment). Ids in any other order take a second pass that holds them all
    (:func:`_kmer_vectors_by_id`). Either way the file holds the bytes ``np.save`` writes.
    """
    n_col = len(canonical_kmer_index(k)[1])
    with open(ids_file) as handle:
        n = sum(len(line.split()) for line in handle)
    with atomic_path(out_npy) as tmp, open(tmp, "wb") as out:
        np.lib.format.write_array_header_1_0(out, {"descr": "<f8", "fortran_order": False, "shape": (n, n_col)})
        if not _write_vectors_in_file_order(r1, r2, ids_file, out, k, batch_size):
            out.seek(0)
            out.truncate()
            np.save(out, _kmer_vectors_by_id(r1, r2, ids_file, k), allow_pickle=False)
    logger.info("k-mer vectors (k=%d) of %d fragments -> %s", k, n, out_npy)
    return n


def _iter_ids(ids_file: str) -> Iterator[str]:
    with open(ids_file) as handle:
        for line in handle:
            yield from line.split()


def _write_vectors_in_file_order(r1: str, r2: str | None, ids_file: str, out: BinaryIO, k: int, batch_size: int) -> bool:
    """Append the vectors of the fragments named in ``ids_file`` to ``out`` in one pass over the
    reads, taking each id where the reads reach it; False when some id was not met in turn (ids
    not in file order, or missing), leaving ``out`` to be rewritten."""
    wanted = _iter_ids(ids_file)
    target = next(wanted, None)
    seqs1: list[str] = []
    seqs2: list[str | None] = []

    def flush() -> None:
        out.write(kmer_frequencies(seqs1, seqs2 if r2 else None, k=k).tobytes())
        seqs1.clear()
        seqs2.clear()

    for fragment in iter_fragments(r1, r2):  # to the end, as the by-id pass: every record is read
        if fragment.read_id != target:
            continue
        seqs1.append(fragment.seq1)
        seqs2.append(fragment.seq2)
        target = next(wanted, None)
        if len(seqs1) == batch_size:
            flush()
    if seqs1:
        flush()
    return target is None


def _kmer_vectors_by_id(r1: str, r2: str | None, ids_file: str, k: int) -> np.ndarray:
    """The vectors of the fragments named in ``ids_file``, in its order, whatever the order of the reads (all in memory)."""
    wanted = Path(ids_file).read_text().split()
    position = {read_id: i for i, read_id in enumerate(wanted)}
    seqs1: list[str | None] = [None] * len(wanted)
    seqs2: list[str | None] = [None] * len(wanted)
    for fragment in iter_fragments(r1, r2):
        i = position.get(fragment.read_id)
        if i is not None:
            seqs1[i], seqs2[i] = fragment.seq1, fragment.seq2
    missing = [wanted[i] for i, s in enumerate(seqs1) if s is None]
    if missing:
        raise RuntimeError(f"{len(missing)} embedded read(s) not found in {r1}, e.g. {missing[0]!r}")
    return kmer_frequencies(seqs1, seqs2 if r2 else None, k=k)
