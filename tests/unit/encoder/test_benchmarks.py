from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from planktonlm.config import build_config
from planktonlm.encoder.benchmarks import (
    bench_throughput,
    model_flops_utilisation,
    peak_bf16_flops,
    per_token_parameters,
    training_flops,
)
from planktonlm.encoder.device import CPU_BF16, resolve_device
from planktonlm.encoder.model import ModelConfig, ReadEncoder
from planktonlm.encoder.model_dir import write_model_folder
from planktonlm.encoder.tokenizer import encode_batch
from planktonlm.encoder.train import TrainConfig
from planktonlm.reads.fragments import Fragment

SECTION = build_config(ModelConfig, "model", base="none", tokenizer="kmer", k=3, n_layer=1, n_head=2, d_model=16, max_len=24)


def random_fragments(n: int = 24) -> list[Fragment]:
    rng = np.random.default_rng(0)
    return [Fragment(f"r{i}", "".join(rng.choice(list("ACGT"), size=50)), "".join(rng.choice(list("ACGT"), size=50)))
            for i in range(n)]


@pytest.mark.parametrize("device", ["cpu", CPU_BF16])
def test_bench_throughput_reports_rates_memory_parts_and_no_mfu_on_cpu(device: str) -> None:
    result = bench_throughput(random_fragments(), SECTION, train_cfg=build_config(TrainConfig, "train", batch_size=8, device="cpu"),
                              n_train_steps=2, embed_batch_size=8, include_large=False, device=device)
    configured = result["models"]["configured"]
    assert set(result["models"]) == {"configured"}
    assert result["device"].endswith("fp32" if device == "cpu" else "bf16 autocast")
    assert configured["train_reads_per_s"] > 0 and configured["embed_reads_per_s"] > 0
    n = configured["parameters"]
    assert n == sum(p.numel() for p in ReadEncoder(SECTION.encoder_config()).parameters())
    # fp32 AdamW: weights, gradients and two moments are 4 x 4 bytes per parameter (plus step counters)
    assert configured["train_weight_bytes"] == configured["train_grad_bytes"] == 4 * n
    assert 8 * n <= configured["train_optimizer_state_bytes"] <= 8 * n + 1024
    assert configured["train_activation_bytes"] >= configured["train_saved_activation_bytes"] > 0
    parts = ("train_weight_bytes", "train_grad_bytes", "train_optimizer_state_bytes", "train_activation_bytes")
    assert configured["train_peak_memory_bytes"] == sum(configured[k] for k in parts) > 16 * n
    assert configured["train_measured_peak_bytes"] >= 0
    assert configured["train_mfu"] is None and "CUDA only" in configured["train_mfu_note"]
    # every read is 50 bp: T is the same in every step (CLS + 50 bases in 3-mer tokens), 2 views of 8 fragments
    [seq_len] = encode_batch(SECTION.tokenizer_spec(), ["A" * 50])[1]
    assert configured["train_flops_per_step"] == training_flops(
        per_token_parameters(ReadEncoder(SECTION.encoder_config())), 1, 16, int(seq_len), 16)
    assert configured["config"]["base"] is None and configured["config"]["model"]["d_model"] == 16


def test_bench_throughput_measures_the_base_architecture(tmp_path: Path) -> None:
    base = tmp_path / "base"
    wide = build_config(ModelConfig, "model", base="none", tokenizer="kmer", k=3, n_layer=1, n_head=2, d_model=24, max_len=24)
    write_model_folder(ReadEncoder(wide.encoder_config()), base, wide.encoder_config(), wide.tokenizer_spec(), None, None,
                       [], 0, 0, [])
    result = bench_throughput(random_fragments(), replace(SECTION, base=str(base)), n_train_steps=1, embed_batch_size=8,
                              train_cfg=build_config(TrainConfig, "train", batch_size=8), include_large=False, device="cpu")
    configured = result["models"]["configured"]
    assert configured["config"]["model"]["d_model"] == 24 and configured["config"]["base"] == str(base)


def test_training_flops_follow_nanogpt_on_a_hand_computed_example() -> None:
    # 3 sequences of 4 tokens, N = 100 per-token weights, 2 layers of width 8:
    # per token 6 * 100 + 12 * 2 * 4 * 8 = 600 + 768 = 1368; 12 tokens -> 16416
    assert training_flops(n_params=100, n_layer=2, d_model=8, seq_len=4, n_sequences=3) == 16416
    model = ReadEncoder(SECTION.encoder_config())  # 1 block of width 16 (12 C^2 + 13 C) and the final norm (2 C)
    assert per_token_parameters(model) == 12 * 16 * 16 + 13 * 16 + 2 * 16


def test_mfu_needs_a_known_gpu_peak() -> None:
    assert peak_bf16_flops("NVIDIA H100 80GB HBM3") == peak_bf16_flops("NVIDIA H200") == 989e12
    assert peak_bf16_flops("NVIDIA A100-SXM4-80GB") == peak_bf16_flops("NVIDIA A100 80GB PCIe") == 312e12
    assert peak_bf16_flops("NVIDIA H100 PCIe") is None and peak_bf16_flops("NVIDIA H200 NVL") is None
    assert peak_bf16_flops("NVIDIA GeForce RTX 4090") is None
    mfu, note = model_flops_utilisation(1e12, 1.0, resolve_device("cpu"))
    assert mfu is None and "CUDA only" in note
