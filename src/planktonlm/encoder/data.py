"""Training data of the encoder: the pool of fragments, its views, the validation split, the batches.

The pool is a list of fragments (``planktonlm.reads.sample_training_pool`` draws it from the
samples' QC'd reads). Each fragment gives two positive views (its two mates, or the two halves
of a single-end read), tokenized once on both strands (:class:`ViewTable`). The pool is split
into train and validation rows by a seeded permutation; the batch of a step is a pure function of
(step, seed), so resuming needs no sampler state. :func:`make_batch` shows each view on a random
strand and masks tokens BERT-style.

Shapes: N = fragments in the pool, B = fragments in a batch (2B views), T = tokens per view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from planktonlm.encoder.tokenizer import MASK_ID, N_SPECIAL, UNK_ID, TokenizerSpec, encode_batch, reverse_complement
from planktonlm.reads.fastq import PathLike
from planktonlm.reads.fragments import PooledFragment, sample_training_pool
from planktonlm.seeding import derive_seed

Sources = Mapping[str, tuple[PathLike, PathLike | None]]  # sample -> (r1, r2 | None)


def training_pool(pool: Sequence[PooledFragment] | Sources, n_per_sample: int, seed: int) -> Sequence[PooledFragment]:
    """The fragments to train on: ``pool`` itself, or ``n_per_sample`` fragments drawn from each sample of a
    mapping sample -> (r1, r2 | None) (0 = every fragment)."""
    if isinstance(pool, Mapping):
        return sample_training_pool(pool, n_per_sample, seed)
    return pool


@dataclass
class ViewTable:
    """Pre-tokenized views of the pool: for view a and b of every fragment, both strands.

    ids[v, s] (N, max_len) int32 and lengths[v, s] (N,) for view v in {a, b}, strand s in {fwd, rc}.
    """

    ids: np.ndarray  # (2, 2, N, max_len)
    lengths: np.ndarray  # (2, 2, N)

    @property
    def n(self) -> int:
        return self.ids.shape[2]


def fragment_views(seq1: str, seq2: str | None) -> tuple[str, str]:
    """The two positive views of a fragment: its mates, or the halves of a single-end read."""
    if seq2 is not None:
        return seq1, seq2
    half = len(seq1) // 2
    return seq1[:half], seq1[half:]


def tokenize_views(spec: TokenizerSpec, fragments: Sequence, chunk: int = 8192) -> ViewTable:
    """Tokenize both views of every fragment on both strands, ``chunk`` fragments at a time."""
    n = len(fragments)
    ids = np.zeros((2, 2, n, spec.max_len), dtype=np.int32)
    lengths = np.zeros((2, 2, n), dtype=np.int64)
    for start in range(0, n, chunk):
        part = fragments[start:start + chunk]
        views = [fragment_views(f.seq1, f.seq2) for f in part]
        for v in range(2):
            forward = [pair[v] for pair in views]
            for s, seqs in enumerate((forward, [reverse_complement(x) for x in forward])):
                tokens, lens = encode_batch(spec, seqs)
                ids[v, s, start:start + len(part), : tokens.shape[1]] = tokens
                lengths[v, s, start:start + len(part)] = lens
    return ViewTable(ids, lengths)


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of pool indices into (train, val), each sorted."""
    order = np.random.default_rng(derive_seed(seed, "val-split")).permutation(n)
    n_val = int(round(val_fraction * n))
    if 0 < n_val < 2:
        n_val = 2  # the contrastive validation loss needs two fragments
    n_val = min(n_val, max(n - 2, 0))  # and training needs two
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def batch_indices(step: int, n_train: int, batch_size: int, seed: int) -> np.ndarray:
    """Positions (into the train split) of the batch of ``step``: epochs of seeded permutations.

    A pure function of (step, seed): resuming needs no sampler state.
    """
    start = step * batch_size
    out = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n_train)
        perm = np.random.default_rng(derive_seed(seed, "epoch", str(epoch))).permutation(n_train)
        out.extend(perm[offset: offset + batch_size - len(out)].tolist())
    return np.asarray(out, dtype=np.int64)


@dataclass
class Batch:
    ids: torch.Tensor  # (2B, T) view a of every fragment, then view b
    lengths: torch.Tensor  # (2B,)
    masked: torch.Tensor  # (2B, T) bool: positions whose token the MLM head must predict
    targets: torch.Tensor  # (n_masked,) original token ids at the masked positions


def make_batch(table: ViewTable, rows: np.ndarray, spec: TokenizerSpec, mask_prob: float,
               generator: torch.Generator) -> Batch:
    """Views on random strands, BERT-style masking (80% MASK, 10% random token, 10% kept)."""
    B = len(rows)
    strands = torch.randint(0, 2, (2, B), generator=generator).numpy()  # (2, B)
    ids = np.concatenate([table.ids[v, strands[v], rows] for v in range(2)])  # (2B, max_len)
    lengths = np.concatenate([table.lengths[v, strands[v], rows] for v in range(2)])  # (2B,)
    T = int(lengths.max())
    ids_t = torch.from_numpy(ids[:, :T].astype(np.int64))  # (2B, T)
    lengths_t = torch.from_numpy(lengths)
    positions = torch.arange(T).unsqueeze(0)  # (1, T)
    candidates = (positions >= 1) & (positions < lengths_t.unsqueeze(1)) & (ids_t != UNK_ID)  # (2B, T), CLS excluded
    draw = torch.rand((2, 2 * B, T), generator=generator)
    random_tokens = torch.randint(N_SPECIAL, spec.vocab_size, (2 * B, T), generator=generator)
    masked = candidates & (draw[0] < mask_prob)
    inputs = ids_t.clone()
    inputs[masked & (draw[1] < 0.8)] = MASK_ID
    swap = masked & (draw[1] >= 0.8) & (draw[1] < 0.9)
    inputs[swap] = random_tokens[swap]
    return Batch(inputs, lengths_t, masked, ids_t[masked])
