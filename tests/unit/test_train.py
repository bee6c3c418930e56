from __future__ import annotations

import gzip
import json
import math
from dataclasses import replace
from pathlib import Path

import dnaio
import numpy as np
import pytest
import torch

from planktonlm.encoder.device import torch_threads
from planktonlm.encoder.model import ModelConfig
from planktonlm.encoder.tokenizer import CLS_ID, PAD_ID, TokenizerSpec, reverse_complement
from planktonlm.encoder.train import (
    TrainConfig,
    batch_indices,
    fragment_views,
    import_model,
    load_model,
    lr_factor,
    make_batch,
    nt_xent,
    prepare_model,
    split_train_val,
    tokenize_views,
    train_encoder,
)
from planktonlm.errors import PlanktonlmInputError
from planktonlm.reads import PooledFragment

@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and spinning threads stall on a busy machine."""
    with torch_threads(1):
        yield


SECTION = ModelConfig(tokenizer="kmer", k=3, n_layer=1, n_head=2, d_model=16, max_len=16)
TRAIN = TrainConfig(pool_reads_per_sample=0, val_fraction=0.2, max_steps=12, batch_size=8, lr=3e-3,
                    warmup_steps=3, checkpoint_every=5, log_every=4, device="cpu")


def make_pool(n: int = 40, seed: int = 0, read_length: int = 40) -> list[PooledFragment]:
    """Fragments of three random genomes of different GC, mates from both ends of 100 bp inserts."""
    rng = np.random.default_rng(seed)
    genomes = ["".join(rng.choice(list("ACGT"), p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], size=2000))
               for gc in (0.3, 0.5, 0.7)]
    pool = []
    for i in range(n):
        genome = genomes[i % 3]
        start = int(rng.integers(0, len(genome) - 100))
        insert = genome[start:start + 100]
        pool.append(PooledFragment(f"s{i % 2}", f"r{i}", insert[:read_length],
                                   reverse_complement(insert[-read_length:])))
    return pool


def train(tmp_path: Path, name: str, pool=None, cfg: TrainConfig = TRAIN, seed: int = 7, section=SECTION, **kw) -> Path:
    return train_encoder(make_pool() if pool is None else pool, tmp_path / name, section.encoder_config(),
                         section.tokenizer_spec(), cfg, seed, **kw)


def test_model_folder_contents_and_reload(tmp_path: Path) -> None:
    out = train(tmp_path, "model")
    for name in ["model.pt", "config.json", "tokenizer.json", "train_log.tsv", "weights.sha256",
                 "train_reads.tsv.gz", "checkpoints/last.pt"]:
        assert (out / name).is_file(), name
    model, spec, cfg = load_model(out)
    assert spec == SECTION.tokenizer_spec() and cfg == SECTION.encoder_config()
    saved = torch.load(out / "model.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 7 and config["n_train_fragments"] + config["n_val_fragments"] == 40
    log = (out / "train_log.tsv").read_text().splitlines()
    assert log[0].split("\t")[:5] == ["step", "lr", "loss", "mlm_loss", "contrastive_loss"]
    assert [row.split("\t")[0] for row in log[1:]] == ["4", "8", "12"]
    assert all(math.isfinite(float(row.split("\t")[5])) for row in log[1:])  # validation loss
    with gzip.open(out / "train_reads.tsv.gz", "rt") as handle:
        assert handle.read().splitlines()[:2] == ["sample\tread_id", "s0\tr0"]


def test_training_lowers_the_loss(tmp_path: Path) -> None:
    out = train(tmp_path, "model", cfg=replace(TRAIN, max_steps=40, log_every=10))
    losses = [float(row.split("\t")[2]) for row in (out / "train_log.tsv").read_text().splitlines()[1:]]
    assert losses[-1] < losses[0]


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path: Path) -> None:
    before = torch.get_rng_state()
    a = train(tmp_path, "a", seed=3)
    b = train(tmp_path, "b", seed=3)
    c = train(tmp_path, "c", seed=4)
    assert (a / "model.pt").read_bytes() == (b / "model.pt").read_bytes()
    assert (a / "weights.sha256").read_text() == (b / "weights.sha256").read_text()
    assert (a / "model.pt").read_bytes() != (c / "model.pt").read_bytes()
    assert torch.equal(torch.get_rng_state(), before)  # no global RNG state used or changed


class Killed(Exception):
    pass


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path: Path, dropout: float) -> None:
    section = replace(SECTION, dropout=dropout)
    whole = train(tmp_path, "whole", section=section)

    def kill_at_step_8(step: int, metrics: dict) -> None:
        if step == 8:
            raise Killed

    with pytest.raises(Killed):
        train(tmp_path, "resumed", section=section, on_step=kill_at_step_8)
    resumed = tmp_path / "resumed"
    assert not (resumed / "model.pt").exists()
    assert torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)["step"] == 5
    seen = []
    train(tmp_path, "resumed", section=section, on_step=lambda step, metrics: seen.append(step))
    assert seen == list(range(6, 13))  # continued from the checkpoint, not from scratch
    assert (whole / "model.pt").read_bytes() == (resumed / "model.pt").read_bytes()

    def losses(folder: Path) -> list[list[str]]:  # every column but reads/s
        return [row.split("\t")[:-1] for row in (folder / "train_log.tsv").read_text().splitlines()]

    assert losses(whole) == losses(resumed)


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path: Path) -> None:
    fresh = train(tmp_path, "fresh", seed=9)
    with pytest.raises(Killed):
        train(tmp_path, "reused", seed=8, on_step=lambda step, m: (_ for _ in ()).throw(Killed) if step == 6 else None)
    train(tmp_path, "reused", seed=9)  # same folder, other seed: must start over
    assert (fresh / "model.pt").read_bytes() == (tmp_path / "reused" / "model.pt").read_bytes()


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    out = train(tmp_path, "model")
    data = bytearray((out / "model.pt").read_bytes())
    data[-100] ^= 0xFF
    (out / "model.pt").write_bytes(bytes(data))
    with pytest.raises(PlanktonlmInputError, match="weights.sha256"):
        load_model(out)
    with pytest.raises(PlanktonlmInputError, match="missing"):
        load_model(tmp_path / "nowhere")


def test_checkpoint_reuse_copies_without_training(tmp_path: Path) -> None:
    out = train(tmp_path, "trained")
    reused = prepare_model(replace(SECTION, checkpoint=str(out)), TRAIN, {}, tmp_path / "reused", seed=1)
    assert (reused / "model.pt").read_bytes() == (out / "model.pt").read_bytes()
    assert not (reused / "checkpoints").exists()
    load_model(reused)
    with pytest.raises(PlanktonlmInputError):
        import_model(tmp_path / "missing", tmp_path / "x")
    with pytest.raises(PlanktonlmInputError, match="no such folder"):
        prepare_model(replace(SECTION, checkpoint=str(tmp_path / "missing")), TRAIN, {}, tmp_path / "y", seed=1)


def test_training_from_fastq_sources(tmp_path: Path) -> None:
    pool = make_pool(n=24)
    paths = {}
    for sample in ("s0", "s1"):
        r1, r2 = tmp_path / f"{sample}_R1.fastq", tmp_path / f"{sample}_R2.fastq"
        with dnaio.open(r1, r2, mode="w") as writer:
            for fragment in pool:
                if fragment.sample == sample:
                    writer.write(dnaio.SequenceRecord(fragment.read_id, fragment.seq1, "I" * len(fragment.seq1)),
                                 dnaio.SequenceRecord(fragment.read_id, fragment.seq2, "I" * len(fragment.seq2)))
        paths[sample] = (r1, r2)
    out = prepare_model(SECTION, replace(TRAIN, pool_reads_per_sample=5, max_steps=3), paths, tmp_path / "m", seed=2)
    with gzip.open(out / "train_reads.tsv.gz", "rt") as handle:
        rows = handle.read().splitlines()[1:]
    assert len(rows) == 10 and {row.split("\t")[0] for row in rows} == {"s0", "s1"}


def test_lr_schedule_warms_up_then_decays() -> None:
    factors = [lr_factor(step, 10, 100) for step in range(100)]
    assert all(a < b for a, b in zip(factors[:10], factors[1:11]))
    assert factors[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert lr_factor(100, 10, 100) == pytest.approx(0.1)


def test_nt_xent_matches_its_formula() -> None:
    B, t = 4, 0.5
    z = torch.eye(8)[:B]  # orthonormal views; each aligned with its positive
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + (2 * B - 2)))
    assert nt_xent(z, z, t).item() == pytest.approx(expected, rel=1e-6)
    shuffled = z[[1, 2, 3, 0]]
    assert nt_xent(z, shuffled, t).item() > nt_xent(z, z, t).item()


def test_masking_touches_only_real_tokens() -> None:
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


def test_views_split_and_sampling() -> None:
    assert fragment_views("AAAACCCC", "GG") == ("AAAACCCC", "GG")
    assert fragment_views("AAAACCCC", None) == ("AAAA", "CCCC")  # single end: the read's halves
    train_rows, val_rows = split_train_val(50, 0.2, seed=1)
    assert len(val_rows) == 10 and not set(train_rows) & set(val_rows)
    assert np.array_equal(split_train_val(50, 0.2, seed=1)[1], val_rows)
    epoch = np.concatenate([batch_indices(step, 12, 4, seed=1) for step in range(3)])
    assert sorted(epoch.tolist()) == list(range(12))  # one epoch sees every fragment once


def test_invalid_training_settings_are_refused() -> None:
    with pytest.raises(PlanktonlmInputError) as info:
        TrainConfig(batch_size=1, lr=0, mask_prob=0.0, contrastive_weight=0.0)
    assert len(info.value.problems) == 3
    with pytest.raises(PlanktonlmInputError):
        train_encoder(make_pool(n=1), "unused", SECTION.encoder_config(), SECTION.tokenizer_spec(), TRAIN, 1)


def test_thread_count_does_not_change_the_weights(tmp_path: Path) -> None:
    one = train(tmp_path, "one", threads=1)
    two = train(tmp_path, "two", threads=2)
    assert (one / "model.pt").read_bytes() == (two / "model.pt").read_bytes()


def test_mkl_threads_and_code_path_are_fixed_for_reproducible_cpu_training():
    # Set by planktonlm.encoder before torch loads MKL: without them, busy machines gave other weights.
    import os

    import planktonlm.encoder  # noqa: F401

    assert os.environ["MKL_DYNAMIC"] == "FALSE"
    assert os.environ["MKL_CBWR"].startswith("AUTO")
