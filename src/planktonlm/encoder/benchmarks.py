"""Benchmark of the encoder's speed and memory (its quality: :mod:`planktonlm.encoder.quality`).

``bench_throughput``: training and embedding reads/s, memory (weights, gradients, optimizer
state, activations) and on CUDA model FLOP utilisation, for the configured model and for a
DNABERT-2-sized one (12 layers, width 768, 12 heads; random weights, a few steps).
Returns a plain dict (JSON-serialisable) for ``planktonlm bench``.
"""

from __future__ import annotations

import os
import re
import resource
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace

import numpy as np
import torch

from planktonlm.config import build_config
from planktonlm.encoder.data import make_batch, tokenize_views
from planktonlm.encoder.device import DevicePlan, resolve_device
from planktonlm.encoder.embed import embed_fragments
from planktonlm.encoder.model import ModelConfig, ReadEncoder, ReadEncoderConfig, count_parameters
from planktonlm.encoder.model_dir import training_architecture
from planktonlm.encoder.tokenizer import TokenizerSpec
from planktonlm.encoder.train import TrainConfig, batch_losses, make_optimizer
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.reads.fragments import Fragment
from planktonlm.seeding import derive_seed

DNABERT2_SIZE = {"n_layer": 12, "d_model": 768, "n_head": 12}


# ----------------------------------------------------------------------------- memory


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or on CPU the peak rise of resident memory.

    ``peak_bytes``: the highest rise above the block's start; ``end_bytes``: the rise still held
    at its end (weights, gradients, optimizer state created in the block).
    On CPU a thread samples /proc/self/statm every few ms (torch's allocator is invisible to
    tracemalloc); without /proc it falls back to the ru_maxrss rise, which misses peaks below an
    earlier high-water mark. Resident memory is a lower bound on CPU: malloc hands freed memory
    back out without a rise.
    """

    def __init__(self, plan: DevicePlan, interval_s: float = 0.005):
        self.plan = plan
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.end_bytes = 0
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> int | None:
        try:
            with open("/proc/self/statm") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return None

    def _watch(self, start: int) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, (self._rss() or start) - start)
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if self.plan.is_cuda:
            torch.cuda.synchronize(self.plan.device)
            torch.cuda.reset_peak_memory_stats(self.plan.device)
            self._base = torch.cuda.memory_allocated(self.plan.device)
            return self
        self._maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self._start = self._rss()
        self._thread = None
        if self._start is not None:
            self._thread = threading.Thread(target=self._watch, args=(self._start,), daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.plan.is_cuda:
            torch.cuda.synchronize(self.plan.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.plan.device) - self._base
            self.end_bytes = torch.cuda.memory_allocated(self.plan.device) - self._base
            return
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.end_bytes = max((self._rss() or self._start) - self._start, 0)
            self.peak_bytes = max(self.peak_bytes, self.end_bytes)  # a block shorter than one sampling interval
        else:
            self.peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self._maxrss


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class SavedActivations:
    """Bytes of the tensors autograd saves for backward inside the block (parameters excluded).

    Those are the activations a step holds at its peak, counted the same on every device; on the
    CPU the resident-memory rise cannot show them once malloc reuses the memory of a step before.
    """

    def __init__(self, model: torch.nn.Module):
        self._params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self._storages: dict[int, int] = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda saved: saved)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self._params:  # weights are counted as weights
            self._storages[storage.data_ptr()] = storage.nbytes()  # a storage saved twice counts once
        return tensor

    @property
    def bytes(self) -> int:
        return sum(self._storages.values())

    def __enter__(self) -> SavedActivations:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)


# ----------------------------------------------------------------------------- FLOPs


# Dense bf16 tensor-core peaks (NVIDIA datasheets), by a pattern of torch.cuda.get_device_name.
# Variants with other clocks (H100 PCIe / NVL, H200 NVL) are left out rather than guessed.
PEAK_BF16_FLOPS = (
    (r"H200(?! NVL)", 989e12),
    (r"H100 (80GB HBM3|SXM)", 989e12),
    (r"A100", 312e12),
)


def peak_bf16_flops(device_name: str) -> float | None:
    """Dense bf16 FLOP/s of a GPU named as torch names it; None when not in :data:`PEAK_BF16_FLOPS`."""
    for pattern, peak in PEAK_BF16_FLOPS:
        if re.search(pattern, device_name):
            return peak
    return None


def per_token_parameters(model: ReadEncoder) -> int:
    """Weights every token passes through: the blocks and the final norm.

    nanoGPT's N without the embeddings (lookups, no multiply-adds) and without the heads, which
    see only the masked tokens (MLM) or one vector per read (projection): MFU comes out slightly
    low rather than high.
    """
    return count_parameters(model.blocks) + count_parameters(model.ln_f)


def training_flops(n_params: int, n_layer: int, d_model: int, seq_len: int, n_sequences: int) -> float:
    """FLOPs of one training step, counted as nanoGPT's ``estimate_mfu`` counts them.

    Per token: 6 N for the weights (a multiply-add is 2 FLOPs forward, backward twice that) plus
    12 L T C for attention (Q K^T and the weighted sum of V: 2 x 2 T C per token and layer
    forward, times 3 with backward). ``seq_len`` is the padded length T the kernels run on.
    """
    per_token = 6 * n_params + 12 * n_layer * seq_len * d_model
    return float(n_sequences * seq_len * per_token)


def model_flops_utilisation(flops: float, seconds: float, plan: DevicePlan) -> tuple[float | None, str]:
    """(MFU, note): achieved FLOP/s over the device's dense bf16 peak; None with the reason when unknown."""
    if not plan.is_cuda:
        return None, "MFU is reported on CUDA only (no peak FLOP/s table for CPUs)"
    name = torch.cuda.get_device_name(plan.device.index or 0)
    peak = peak_bf16_flops(name)
    if peak is None:
        return None, f"peak bf16 FLOP/s of {name} unknown (known: H100 SXM, H200, A100)"
    return flops / seconds / peak, f"{flops / seconds:.3g} FLOP/s of {peak:.3g} (dense bf16 peak of {name})"


# ----------------------------------------------------------------------------- throughput


def _sync(plan: DevicePlan) -> None:
    if plan.is_cuda:
        torch.cuda.synchronize(plan.device)


def _throughput_one(fragments: Sequence[Fragment], cfg: ReadEncoderConfig, spec: TokenizerSpec, train_cfg: TrainConfig,
                    n_steps: int, embed_batch_size: int, n_embed: int, plan: DevicePlan, seed: int) -> dict:
    table = tokenize_views(spec, fragments)  # host-side input, before any measurement
    batch_size = min(train_cfg.batch_size, len(fragments))
    generator = torch.Generator().manual_seed(derive_seed(seed, "bench"))
    order = np.random.default_rng(derive_seed(seed, "bench-order"))

    def train_step(model: ReadEncoder, optimizer: torch.optim.Optimizer) -> tuple[int, int]:
        """One optimizer step; (sequences, padded length) of its batch."""
        rows = np.sort(order.choice(len(fragments), size=batch_size, replace=False))
        batch = make_batch(table, rows, spec, train_cfg.mask_prob, generator)
        loss, _, _ = batch_losses(model, batch, train_cfg, plan)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip or 1.0)
        optimizer.step()
        return tuple(batch.ids.shape)

    # Measured from before the model exists: weights, optimizer state and gradients all count.
    with PeakMemory(plan) as setup_memory:
        model = ReadEncoder(cfg, torch.Generator().manual_seed(derive_seed(seed, "init"))).to(plan.device)
        optimizer = make_optimizer(model, train_cfg)
        model.train()
        with SavedActivations(model) as saved:
            train_step(model, optimizer)  # warm-up: allocator, kernels, lazy init, AdamW state
        _sync(plan)
    weight_bytes = tensor_bytes(model.parameters())
    grad_bytes = tensor_bytes(p.grad for p in model.parameters() if p.grad is not None)
    optimizer_bytes = tensor_bytes(t for state in optimizer.state.values() for t in state.values()
                                   if isinstance(t, torch.Tensor))
    flops = 0.0
    with PeakMemory(plan) as step_memory:  # above weights, gradients and optimizer state: activations
        started = time.perf_counter()
        for _ in range(n_steps):
            n_sequences, seq_len = train_step(model, optimizer)
            flops += training_flops(per_token_parameters(model), cfg.n_layer, cfg.d_model, seq_len, n_sequences)
        _sync(plan)
        train_seconds = time.perf_counter() - started
    # CUDA: the allocator's peak is exact. CPU: resident memory misses reused memory, so the
    # activations are at least what autograd saved for backward in the warm-up step.
    activation_bytes = step_memory.peak_bytes if plan.is_cuda else max(step_memory.peak_bytes, saved.bytes)
    mfu, mfu_note = model_flops_utilisation(flops, train_seconds, plan)
    reads_per_fragment = 2  # two views per fragment in training
    model.eval()
    embed_set = list(fragments[:n_embed])
    next(embed_fragments(model, spec, embed_set[:embed_batch_size], embed_batch_size, plan))  # warm-up
    with PeakMemory(plan) as embed_memory:
        started = time.perf_counter()
        for _ in embed_fragments(model, spec, embed_set, embed_batch_size, plan):
            pass
        _sync(plan)
        embed_seconds = time.perf_counter() - started
    n_embed_reads = sum(1 + (f.seq2 is not None) for f in embed_set)
    return {
        "config": {"model": cfg.to_dict(), "tokenizer": asdict(spec)},
        "parameters": count_parameters(model),
        "train_steps": n_steps,
        "train_batch_fragments": batch_size,
        "train_reads_per_s": n_steps * batch_size * reads_per_fragment / train_seconds,
        "train_peak_memory_bytes": int(weight_bytes + grad_bytes + optimizer_bytes + activation_bytes),
        "train_weight_bytes": int(weight_bytes),
        "train_grad_bytes": int(grad_bytes),
        "train_optimizer_state_bytes": int(optimizer_bytes),
        "train_activation_bytes": int(activation_bytes),
        "train_saved_activation_bytes": int(saved.bytes),
        "train_measured_peak_bytes": int(max(setup_memory.peak_bytes, setup_memory.end_bytes + step_memory.peak_bytes)),
        "train_flops_per_step": flops / max(n_steps, 1),
        "train_mfu": mfu,
        "train_mfu_note": mfu_note,
        "embed_fragments": len(embed_set),
        "embed_reads_per_s": n_embed_reads / embed_seconds,
        "embed_peak_memory_bytes": int(embed_memory.peak_bytes),
    }


def bench_throughput(
    fragments: Sequence[Fragment],
    model_section: ModelConfig | None = None,
    *,
    train_cfg: TrainConfig | None = None,
    n_train_steps: int = 5,
    embed_batch_size: int = 256,
    n_embed: int = 2048,
    large_batch_size: int = 16,
    large_n_embed: int = 64,
    include_large: bool = True,
    device: str = "auto",
    seed: int = 1,
) -> dict:
    """Training and embedding reads/s, memory and MFU, configured model vs DNABERT-2 size.

    ``fragments``: reads to use (e.g. ``select_fragments`` of one sample). Embedding reads/s
    counts mates (each embedded on both strands) over the first ``n_embed`` fragments;
    training reads/s counts views (2 per fragment) over ``n_train_steps`` steps after one
    warm-up step. The configured model is the one training would build (with ``model.base``, the
    base's architecture; random weights either way). The DNABERT-2-sized model (random weights,
    about 86 M parameters) runs ``large_batch_size`` fragments per step and embeds
    ``large_n_embed`` fragments: on a CPU a single step of it takes minutes, which is the point
    of the comparison. ``device``: auto | cpu | cuda, or ``cpu-bf16`` (the CPU with bf16 autocast).

    Training memory, per model: ``train_peak_memory_bytes`` = weights + gradients + AdamW state
    (two moments per weight and step counters; the tensors themselves, counted) + activations
    (CUDA: the allocator's peak during the timed steps above what they started with; CPU: the
    larger of the resident-memory rise and what autograd saved for backward, since malloc reuses
    freed memory without a rise), with each part beside it. ``train_measured_peak_bytes``: the
    peak measured from before the model was created (CUDA: the allocator, exact; CPU: resident
    memory, a rough figure that also counts torch's one-time set-up and misses reused memory).
    ``train_mfu``: model FLOP utilisation (:func:`training_flops` per step over the time
    and the GPU's dense bf16 peak); None on the CPU or an unlisted GPU (``train_mfu_note`` says
    why). Embedding memory: the peak rise during the timed embedding.
    """
    if not fragments:
        raise PlanktonlmInputError(InputProblem(file="bench", message="no reads to benchmark with",
                                                expected="at least one fragment"))
    model_section = model_section or build_config(ModelConfig, "model")
    train_cfg = train_cfg or build_config(TrainConfig, "train")
    plan = resolve_device(device)
    results = {"device": plan.describe(), "torch_threads": torch.get_num_threads(), "models": {}}
    cfg, spec, base = training_architecture(model_section)
    results["models"]["configured"] = _throughput_one(fragments, cfg, spec, train_cfg, n_train_steps, embed_batch_size,
                                                      n_embed, plan, seed)
    results["models"]["configured"]["config"]["base"] = base.path if base is not None else None
    if include_large:
        large = replace(cfg, **DNABERT2_SIZE)
        large_train = replace(train_cfg, batch_size=min(large_batch_size, train_cfg.batch_size))
        results["models"]["dnabert2_size"] = _throughput_one(fragments, large, spec, large_train, n_train_steps,
                                                             large_batch_size, large_n_embed, plan, seed)
    return results
