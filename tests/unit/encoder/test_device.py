"""DevicePlan, and the bf16 autocast path of training and embedding run on the CPU (``cpu-bf16``).

On a GPU, ``auto`` trains and embeds under bf16 autocast; these tests run those branches on any
machine, so that a GPU is never the first place they run.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from planktonlm.config import build_config
from planktonlm.encoder.data import make_batch, tokenize_views
from planktonlm.encoder.device import CPU_BF16, DEVICE_CHOICES, resolve_device
from planktonlm.encoder.embed import embed_fragments
from planktonlm.encoder.model import ModelConfig, ReadEncoder
from planktonlm.encoder.model_dir import load_model
from planktonlm.encoder.tokenizer import reverse_complement
from planktonlm.encoder.train import TrainConfig, batch_losses, initial_model, train_encoder
from planktonlm.errors import PlanktonlmInputError
from planktonlm.reads.fragments import Fragment

SECTION = build_config(ModelConfig, "model", base="none", tokenizer="kmer", k=3, n_layer=2, n_head=2, d_model=32, max_len=16)
TRAIN = build_config(TrainConfig, "train", pool_reads_per_sample=0, val_fraction=0.2, max_steps=6, batch_size=8, lr=3e-3,
                     warmup_steps=1, checkpoint_every=0, log_every=3, device="cpu")
CPU, BF16 = resolve_device("cpu"), resolve_device(CPU_BF16)


def test_cpu_bf16_is_the_cpu_with_bf16_autocast_and_no_config_value() -> None:
    assert BF16.device.type == "cpu" and BF16.autocast_dtype is torch.bfloat16 and not BF16.is_cuda
    assert BF16.describe().endswith("bf16 autocast") and CPU.describe().endswith("fp32")
    assert BF16.training_threads(8) == 1  # one CPU thread, as fp32 CPU training
    assert CPU_BF16 not in DEVICE_CHOICES
    with pytest.raises(PlanktonlmInputError, match="train.device"):  # the schema refuses it in a config
        build_config(TrainConfig, "train", device=CPU_BF16)
    with pytest.raises(PlanktonlmInputError, match="expected auto, cpu or cuda"):
        resolve_device("gpu")


def test_batch_losses_under_cpu_autocast_are_fp32_and_near_the_fp32_losses(make_pool) -> None:
    model = ReadEncoder(SECTION.encoder_config(), torch.Generator().manual_seed(1))
    spec = SECTION.tokenizer_spec()
    batch = make_batch(tokenize_views(spec, make_pool()), np.arange(8), spec, 0.15, torch.Generator().manual_seed(2))
    linear_dtypes = []
    model.blocks[0].attn.qkv.register_forward_hook(lambda module, args, out: linear_dtypes.append(out.dtype))
    full = batch_losses(model, batch, TRAIN, CPU)
    half = batch_losses(model, batch, TRAIN, BF16)
    assert linear_dtypes == [torch.float32, torch.bfloat16]  # autocast really ran the matmuls in bf16
    for a, b in zip(full, half):
        assert b.dtype == torch.float32 and math.isfinite(b.item())
        assert b.item() == pytest.approx(a.item(), rel=0.02)


def test_training_under_cpu_bf16_autocast_learns_reproducibly(tmp_path: Path, make_pool, caplog) -> None:
    cfg = replace(TRAIN, device=CPU_BF16)  # past the schema on purpose: tests only

    def run(name: str):
        return train_encoder(make_pool(), tmp_path / name, SECTION.encoder_config(), SECTION.tokenizer_spec(), cfg, seed=5)

    with caplog.at_level("INFO", logger="planktonlm.encoder.train"):
        out = run("a")
    assert "bf16 autocast" in caplog.text
    rows = [row.split("\t") for row in (out / "train_log.tsv").read_text().splitlines()[1:]]
    assert [row[0] for row in rows] == ["3", "6"]
    assert all(math.isfinite(float(value)) for row in rows for value in row[2:8])  # train and validation losses
    trained, _, _ = load_model(out)
    initial = initial_model(SECTION.encoder_config(), 5, None).state_dict()  # the weights training started from
    moved = [name for name, value in trained.state_dict().items() if not torch.equal(value, initial[name])]
    assert len(moved) > len(initial) // 2
    assert all(torch.isfinite(value).all() for value in trained.state_dict().values())
    assert (run("b") / "model.pt").read_bytes() == (out / "model.pt").read_bytes()  # same seed, same bits
    assert json.loads((out / "config.json").read_text())["train"]["device"] == CPU_BF16


def random_fragments(n: int, seed: int = 0) -> list[Fragment]:
    rng = np.random.default_rng(seed)
    return [Fragment(f"r{i}", "".join(rng.choice(list("ACGT"), size=int(rng.integers(20, 50)))),
                     "".join(rng.choice(list("ACGT"), size=40)) if i % 3 else None) for i in range(n)]


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory, make_pool) -> ReadEncoder:
    out = train_encoder(make_pool(), tmp_path_factory.mktemp("model"), SECTION.encoder_config(), SECTION.tokenizer_spec(),
                        TRAIN, seed=3)
    return load_model(out)[0]


def test_embedding_under_cpu_bf16_autocast_is_fp32_unit_and_close_to_fp32(trained_model: ReadEncoder) -> None:
    fragments = random_fragments(30)
    spec = SECTION.tokenizer_spec()

    def embed(plan, frags) -> np.ndarray:
        return np.concatenate([vectors for _, vectors in embed_fragments(trained_model, spec, frags, 16, plan)])

    full, half = embed(CPU, fragments), embed(BF16, fragments)
    assert half.dtype == np.float32 and half.shape == full.shape == (30, 32)
    assert np.allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    assert (np.sum(full * half, axis=1) > 0.99).all()  # cosine similarity of unit vectors
    # Reads of a tiny model lie close together (cosine ~0.97), so also: what tells reads apart
    # survives bf16. Each bf16 vector is nearest its own fp32 vector, also after centring.
    assert ((half @ full.T).argmax(axis=1) == np.arange(30)).all()
    centred_full, centred_half = full - full.mean(axis=0), half - full.mean(axis=0)
    cosine = np.sum(centred_full * centred_half, axis=1) / np.linalg.norm(centred_full, axis=1) / np.linalg.norm(centred_half, axis=1)
    assert (cosine > 0.99).all()
    flipped = [Fragment(f.read_id, reverse_complement(f.seq1), f.seq2 and reverse_complement(f.seq2)) for f in fragments]
    assert np.allclose(embed(BF16, flipped), half, atol=1e-3)  # strand invariance holds under autocast too
