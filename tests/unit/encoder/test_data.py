from __future__ import annotations

import dnaio
import numpy as np
import torch

from planktonlm.encoder.data import batch_indices, fragment_views, make_batch, split_train_val, tokenize_views, training_pool
from planktonlm.encoder.tokenizer import CLS_ID, PAD_ID, TokenizerSpec


def test_masking_touches_only_real_tokens(make_pool) -> None:
    spec = TokenizerSpec("kmer", 3, 16)
    pool = make_pool(n=16)
    table = tokenize_views(spec, pool)
    batch = make_batch(table, np.arange(16), spec, mask_prob=0.5, generator=torch.Generator().manual_seed(0))
    assert batch.ids.shape[0] == 32
    positions = torch.arange(batch.ids.shape[1]).unsqueeze(0)
    real = (positions >= 1) & (positions < batch.lengths.unsqueeze(1))
    assert batch.masked.any() and not (batch.masked & ~real).any()
    assert (batch.ids[:, 0] == CLS_ID).all()
    assert (batch.ids[~(positions < batch.lengths.unsqueeze(1))] == PAD_ID).all()
    assert len(batch.targets) == int(batch.masked.sum())
    again = make_batch(table, np.arange(16), spec, mask_prob=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(batch.ids, again.ids) and torch.equal(batch.masked, again.masked)


def test_views_are_tokenized_on_both_strands(make_pool) -> None:
    spec = TokenizerSpec("kmer", 3, 16)
    pool = make_pool(n=5)
    table = tokenize_views(spec, pool, chunk=2)  # several chunks give the same table as one
    assert table.n == 5 and table.ids.shape == (2, 2, 5, 16)
    whole = tokenize_views(spec, pool)
    assert np.array_equal(table.ids, whole.ids) and np.array_equal(table.lengths, whole.lengths)
    assert np.array_equal(table.lengths[:, 0], table.lengths[:, 1])  # a strand has the length of the other


def test_views_split_and_sampling() -> None:
    assert fragment_views("AAAACCCC", "GG") == ("AAAACCCC", "GG")
    assert fragment_views("AAAACCCC", None) == ("AAAA", "CCCC")  # single end: the read's halves
    train_rows, val_rows = split_train_val(50, 0.2, seed=1)
    assert len(val_rows) == 10 and not set(train_rows) & set(val_rows)
    assert np.array_equal(split_train_val(50, 0.2, seed=1)[1], val_rows)
    assert len(split_train_val(40, 0.025, seed=1)[1]) == 2  # the contrastive validation loss needs two
    epoch = np.concatenate([batch_indices(step, 12, 4, seed=1) for step in range(3)])
    assert sorted(epoch.tolist()) == list(range(12))  # one epoch sees every fragment once
    assert np.array_equal(batch_indices(5, 12, 4, seed=1), batch_indices(5, 12, 4, seed=1))  # a function of the step


def test_training_pool_draws_from_every_sample(tmp_path, make_pool) -> None:
    pool = make_pool(n=24)
    assert training_pool(pool, 5, seed=2) is pool  # fragments are used as given
    paths = {}
    for sample in ("s1", "s0"):
        r1, r2 = tmp_path / f"{sample}_R1.fastq", tmp_path / f"{sample}_R2.fastq"
        with dnaio.open(r1, r2, mode="w") as writer:
            for fragment in pool:
                if fragment.sample == sample:
                    writer.write(dnaio.SequenceRecord(fragment.read_id, fragment.seq1, "I" * len(fragment.seq1)),
                                 dnaio.SequenceRecord(fragment.read_id, fragment.seq2, "I" * len(fragment.seq2)))
        paths[sample] = (r1, r2)
    drawn = training_pool(paths, 5, seed=2)
    assert [f.sample for f in drawn] == ["s0"] * 5 + ["s1"] * 5  # samples in sorted order
    assert [f.read_id for f in training_pool(paths, 5, seed=2)] == [f.read_id for f in drawn]
    assert len(training_pool(paths, 0, seed=2)) == 24
