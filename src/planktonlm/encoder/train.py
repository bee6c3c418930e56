"""Self-supervised training of the ReadEncoder on a cruise's own reads.

Objective = masked-token loss + ``contrastive_weight`` x NT-Xent. The contrastive positives need
no labels and carry genome identity: the two mates of a pair come from one fragment of one genome
(single-end reads: the two halves of a read), and each view is shown on a random strand, since a
read and its reverse complement are the same DNA. Every other view in the batch is a negative.

Reproducibility: every random draw (initial weights, validation split, batch order, strands,
masks, dropout) comes from a seed derived from (``seed``, purpose, step), never from the global
RNG. The only training state is therefore the weights, the optimizer, the scheduler, the step and
the loss window; a checkpoint (``checkpoints/last.pt`` of the model folder) holds those, and a
killed run resumed from its last checkpoint ends with exactly the weights of an uninterrupted run
(bit for bit on CPU).

Fine-tuning (``model.base``): the same loop, starting from the base model's weights instead of
seeded random ones; the architecture and tokenizer are the base's
(:func:`planktonlm.encoder.model_dir.training_architecture`). The base's SHA-256 is part of the
run's fingerprint and is recorded in config.json.

The data (pool, views, batches) is in :mod:`planktonlm.encoder.data`, the model folder in
:mod:`planktonlm.encoder.model_dir`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from planktonlm.encoder.data import Batch, Sources, ViewTable, batch_indices, make_batch, split_train_val, tokenize_views, training_pool
from planktonlm.encoder.device import DevicePlan, deterministic_algorithms, resolve_device, torch_threads
from planktonlm.encoder.model import ReadEncoder, ReadEncoderConfig, count_parameters
from planktonlm.encoder.model_dir import (
    CHECKPOINT_DIR,
    CHECKPOINT_FILE,
    LOG_COLUMNS,
    LOG_FILE,
    BaseModel,
    save_torch,
    write_log,
    write_model_folder,
)
from planktonlm.encoder.tokenizer import TokenizerSpec
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.reads.fragments import PooledFragment
from planktonlm.seeding import derive_seed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """The `train:` section of config.yaml (defaults and bounds: workflow/schemas/config.schema.yaml).

    Build it with ``planktonlm.config.build_config(TrainConfig, "train", section)``.
    """

    pool_reads_per_sample: int  # fragments drawn from each sample for the training pool (0 = all)
    val_fraction: float  # share of the pool held out for the validation loss
    max_steps: int  # optimizer steps
    batch_size: int  # fragments per step (2 views each)
    lr: float  # peak learning rate
    weight_decay: float  # AdamW weight decay (matrices only)
    warmup_steps: int  # linear warm-up steps before the cosine decay
    mask_prob: float  # share of tokens masked for the masked-token loss (0 = no MLM)
    contrastive_weight: float  # weight of the NT-Xent term (0 = MLM only)
    temperature: float  # NT-Xent temperature
    grad_clip: float  # max gradient norm (0 = no clipping)
    checkpoint_every: int  # steps between checkpoints (0 = none)
    log_every: int  # steps between progress lines and validation losses
    device: str  # auto | cpu | cuda


class StepMetrics(dict):
    """Per-step numbers passed to ``on_step`` callbacks (loss, mlm_loss, contrastive_loss, lr)."""


# ----------------------------------------------------------------------------- losses


def nt_xent(za: torch.Tensor, zb: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR) loss: za[i] and zb[i] are positives; the other 2B - 2 views negatives."""
    B = za.shape[0]
    z = torch.cat([za, zb]).float()  # (2B, P)
    sim = z @ z.T / temperature  # (2B, 2B)
    sim = sim.masked_fill(torch.eye(2 * B, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)]).to(z.device)  # (2B,)
    return F.cross_entropy(sim, targets)


def batch_losses(model: ReadEncoder, batch: Batch, cfg: TrainConfig, plan: DevicePlan) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, mlm, contrastive) losses of one batch."""
    ids, lengths = plan.to_device(batch.ids), plan.to_device(batch.lengths)
    with plan.autocast():
        hidden = model.hidden(ids, lengths)  # (2B, T, C)
        zero = hidden.new_zeros((), dtype=torch.float32)
        mlm = zero
        if cfg.mask_prob > 0 and batch.targets.numel():
            masked = plan.to_device(batch.masked)
            mlm = model.mlm_loss(hidden[masked], plan.to_device(batch.targets))  # hidden[masked]: (n_masked, C)
        contrastive = zero
        if cfg.contrastive_weight > 0:
            z = model.project(model.pool(hidden, lengths))  # (2B, P)
            B = z.shape[0] // 2
            contrastive = nt_xent(z[:B], z[B:], cfg.temperature)
    return mlm + cfg.contrastive_weight * contrastive, mlm, contrastive


@torch.no_grad()
def validation_losses(model: ReadEncoder, table: ViewTable, val_rows: np.ndarray, spec: TokenizerSpec,
                      cfg: TrainConfig, plan: DevicePlan, seed: int) -> tuple[float, float, float]:
    """Mean (total, mlm, contrastive) over the validation split, with fixed strands and masks."""
    if len(val_rows) < 2:
        return math.nan, math.nan, math.nan
    model.eval()
    generator = torch.Generator().manual_seed(derive_seed(seed, "validation"))
    sums, weight = np.zeros(3), 0
    for start in range(0, len(val_rows), cfg.batch_size):
        rows = val_rows[start:start + cfg.batch_size]
        if len(rows) < 2:
            break
        batch = make_batch(table, rows, spec, cfg.mask_prob, generator)
        losses = batch_losses(model, batch, cfg, plan)
        sums += np.array([float(x) for x in losses]) * len(rows)
        weight += len(rows)
    model.train()
    return tuple(float(x) for x in sums / weight)


class LossWindow:
    """Running sums of the (total, mlm, contrastive) training losses since the last log line.

    Losses stay on the device until :meth:`fold` (no host sync per step on CUDA); a log line and a
    checkpoint fold them. A checkpoint carries :meth:`state`, so a resumed run logs the same means
    as an uninterrupted one. ``reads`` and the clock give the log's reads/s.
    """

    def __init__(self, state: Sequence[float] = (0.0, 0.0, 0.0, 0)):
        self.sums = np.array(state[:3], dtype=np.float64)
        self.steps = int(state[3])
        self.pending: list[torch.Tensor] = []  # (3,) per step not yet folded
        self.reads, self.started = 0, time.perf_counter()

    def add(self, loss: torch.Tensor, mlm: torch.Tensor, contrastive: torch.Tensor, n_reads: int) -> None:
        self.pending.append(torch.stack([loss.detach(), mlm.detach(), contrastive.detach()]).float())
        self.reads += n_reads

    def fold(self) -> None:
        if self.pending:
            self.sums += torch.stack(self.pending).sum(dim=0).cpu().double().numpy()
            self.steps += len(self.pending)
            self.pending = []

    def mean(self) -> np.ndarray:
        self.fold()
        return self.sums / self.steps

    def reads_per_s(self) -> float:
        return self.reads / max(time.perf_counter() - self.started, 1e-9)

    def reset(self) -> None:
        self.sums[:] = 0
        self.steps, self.reads, self.started = 0, 0, time.perf_counter()

    def state(self) -> list[float]:
        self.fold()
        return [*self.sums.tolist(), self.steps]


# ----------------------------------------------------------------------------- optimizer


def lr_factor(step: int, warmup_steps: int, max_steps: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0.1 at max_steps (step = optimizer steps done)."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    span = max(max_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


class _LrSchedule:
    """LambdaLR function; LambdaLR checkpoints its attributes, so they are plain ints."""

    def __init__(self, cfg: TrainConfig):
        self.warmup_steps = cfg.warmup_steps
        self.max_steps = cfg.max_steps

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.warmup_steps, self.max_steps)


def make_optimizer(model: ReadEncoder, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (not biases, norms)."""
    decay = [p for _, p in sorted(model.named_parameters()) if p.dim() >= 2]
    no_decay = [p for _, p in sorted(model.named_parameters()) if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-8, foreach=False)


# ----------------------------------------------------------------------------- checkpoints


def run_fingerprint(model_cfg: ReadEncoderConfig, tok_spec: TokenizerSpec, train_cfg: TrainConfig,
                    seed: int, fragments: Sequence, base_sha256: str | None = None) -> str:
    """Identity of a training run: a checkpoint resumes only the run it came from.

    ``base_sha256``: the weights a fine-tuning run started from, so that a checkpoint of a run
    from one base is never resumed with another (None: from scratch).
    """
    digest = hashlib.sha256()
    settings = asdict(train_cfg)
    for key in ("checkpoint_every", "log_every", "device"):  # do not change the result
        settings.pop(key)
    identity = [asdict(model_cfg), asdict(tok_spec), settings, seed]
    if base_sha256 is not None:  # appended only with a base: from-scratch fingerprints stay as they were
        identity.append({"base_sha256": base_sha256})
    digest.update(json.dumps(identity, sort_keys=True).encode())
    for f in fragments:
        digest.update(f"{getattr(f, 'sample', '')}\t{f.read_id}\t{f.seq1}\t{f.seq2}\n".encode())
    return digest.hexdigest()


def save_checkpoint(path: Path, fingerprint: str, seed: int, step: int, model: ReadEncoder, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, log_rows: list[dict], window: LossWindow) -> None:
    """Everything a resumed run needs (no RNG state: every draw is derived from (seed, purpose, step))."""
    save_torch(path, {
        "fingerprint": fingerprint, "step": step, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "log_rows": log_rows, "loss_window": window.state(), "rng": {"derived_from_seed": seed},
    })


def load_checkpoint(path: Path, fingerprint: str, model: ReadEncoder, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, plan: DevicePlan) -> tuple[int, list[dict], LossWindow]:
    """Restore ``path`` into model, optimizer and scheduler if it belongs to this run: (step, log rows, window).

    A missing checkpoint, or one of another run (config, seed or reads differ), starts at step 0.
    """
    if path.exists():
        state = torch.load(path, map_location=plan.device, weights_only=True)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            logger.info("resuming training from %s at step %d", path, state["step"])
            return state["step"], state["log_rows"], LossWindow(state["loss_window"])
        logger.warning("ignoring %s: it belongs to another run (config, seed or reads differ)", path)
    return 0, [], LossWindow()


# ----------------------------------------------------------------------------- training


def train_encoder(
    pool: Sequence[PooledFragment] | Sources,
    model_dir: str | os.PathLike,
    model_cfg: ReadEncoderConfig,
    tok_spec: TokenizerSpec,
    train_cfg: TrainConfig,
    seed: int,
    *,
    on_step: Callable[[int, StepMetrics], None] | None = None,
    threads: int | None = None,
    base: BaseModel | None = None,
) -> Path:
    """Train a ReadEncoder on ``pool`` and write the model folder; return its path.

    ``pool``: fragments (objects with read_id, seq1, seq2, optionally sample), or a mapping
    sample -> (r1, r2 | None) from which ``train_cfg.pool_reads_per_sample`` fragments per
    sample are drawn. Resumes from ``model_dir/checkpoints/last.pt`` when it belongs to the
    same run. ``on_step(step, metrics)`` is called after every optimizer step (after any
    checkpoint of that step is written); an exception there stops training, as a kill would.
    ``threads``: torch CPU threads on CUDA (the job's cores; None = torch's default); training
    on the CPU uses one thread (:meth:`DevicePlan.training_threads`).
    ``base``: fine-tune that model (:func:`planktonlm.encoder.model_dir.load_base`) instead of
    starting from seeded random weights; ``model_cfg`` and ``tok_spec`` must then be the base's
    (:func:`planktonlm.encoder.model_dir.training_architecture` gives all three).
    """
    _check_objective(train_cfg)
    if base is not None and (base.config != model_cfg or base.tok_spec != tok_spec):
        raise ValueError(f"train_encoder: fine-tuning {base.path} needs its architecture and tokenizer "
                         f"({base.config}, {base.tok_spec}); got {model_cfg}, {tok_spec}")
    plan = resolve_device(train_cfg.device, column="train.device")
    with torch_threads(plan.training_threads(threads)):
        return _train(training_pool(pool, train_cfg.pool_reads_per_sample, seed), Path(model_dir), model_cfg, tok_spec,
                      train_cfg, seed, on_step, plan, base)


def initial_model(model_cfg: ReadEncoderConfig, seed: int, base: BaseModel | None) -> ReadEncoder:
    """The weights training starts from: the base's, or seeded random ones (CPU; move it afterwards)."""
    model = ReadEncoder(model_cfg, torch.Generator().manual_seed(derive_seed(seed, "init")))
    if base is not None:
        model.load_base_weights(base.weights)
    return model


def _train(pool: Sequence[PooledFragment], model_dir: Path, model_cfg: ReadEncoderConfig, tok_spec: TokenizerSpec,
           cfg: TrainConfig, seed: int, on_step: Callable[[int, StepMetrics], None] | None, plan: DevicePlan,
           base: BaseModel | None) -> Path:
    _check_pool(pool, model_cfg, tok_spec)
    # An affinity model (one with reference genomes) learns the cruise's prior over them.
    model_cfg = replace(model_cfg, reference_prior=bool(model_cfg.n_reference))
    model_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = model_dir / CHECKPOINT_DIR / CHECKPOINT_FILE
    fingerprint = run_fingerprint(model_cfg, tok_spec, cfg, seed, pool, base.sha256 if base is not None else None)

    table = tokenize_views(tok_spec, pool)
    train_rows, val_rows = split_train_val(len(pool), cfg.val_fraction, seed)
    batch_size = min(cfg.batch_size, len(train_rows))
    model = initial_model(model_cfg, seed, base).to(plan.device)
    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _LrSchedule(cfg))
    step, log_rows, window = load_checkpoint(checkpoint_path, fingerprint, model, optimizer, scheduler, plan)
    logger.info("training encoder: %d parameters, %d train / %d val fragments, %d steps of %d fragments, device %s, %s",
                count_parameters(model), len(train_rows), len(val_rows), cfg.max_steps, batch_size, plan.describe(),
                f"fine-tuning {base.path}" if base is not None else "from scratch")

    model.train()
    with deterministic_algorithms(plan):
        while step < cfg.max_steps:
            rows = train_rows[batch_indices(step, len(train_rows), batch_size, seed)]
            batch = make_batch(table, rows, tok_spec, cfg.mask_prob,
                               torch.Generator().manual_seed(derive_seed(seed, "step", str(step))))
            with _dropout_rng(model_cfg.dropout, plan, derive_seed(seed, "dropout", str(step))):
                loss, mlm, contrastive = batch_losses(model, batch, cfg, plan)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            step += 1
            window.add(loss, mlm, contrastive, n_reads=2 * len(rows))

            if step % cfg.log_every == 0 or step == cfg.max_steps:
                rate = window.reads_per_s()
                val = validation_losses(model, table, val_rows, tok_spec, cfg, plan, seed)
                mean = window.mean()
                log_rows.append(dict(zip(LOG_COLUMNS, [step, lr, *mean.tolist(), *val, rate])))
                logger.info("step %d/%d lr %.2e loss %.4f (mlm %.4f, contrastive %.4f) val %.4f "
                            "(mlm %.4f, contrastive %.4f) %.0f reads/s", step, cfg.max_steps, lr, *mean, *val, rate)
                write_log(model_dir / LOG_FILE, log_rows)
                window.reset()
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.max_steps:
                save_checkpoint(checkpoint_path, fingerprint, seed, step, model, optimizer, scheduler, log_rows, window)
            if on_step is not None:
                on_step(step, StepMetrics(loss=loss.item(), mlm_loss=mlm.item(), contrastive_loss=contrastive.item(), lr=lr))

    if model_cfg.n_reference:  # an affinity model standardises its pooled state and weighs its references by this cruise's reads
        model.set_pool_statistics(pooled_views(model, table, train_rows, plan, batch_size))
        shares = model.fit_reference_prior(fragment_reference_logits(model, table, train_rows, plan, batch_size))
        logger.info("cruise prior over %d references: %d hold >= 1 %% of the reads, the largest %.1f %%",
                    len(shares), int((shares >= 0.01).sum()), 100 * float(shares.max()))
    write_model_folder(model, model_dir, model_cfg, tok_spec, asdict(cfg), seed, pool, len(train_rows), len(val_rows),
                       log_rows, base=base)
    return model_dir


def _forward_views(table: ViewTable, rows: np.ndarray, plan: DevicePlan, batch_size: int):
    """Yield (view, first row index, ids (b, T), lengths (b,)) on the device: both views of ``rows``, forward strand."""
    for v in range(2):
        for start in range(0, len(rows), batch_size):
            part = rows[start:start + batch_size]
            lengths = table.lengths[v, 0, part]
            ids = torch.from_numpy(table.ids[v, 0, part, : int(lengths.max())].astype(np.int64))  # (b, T)
            yield v, start, plan.to_device(ids), plan.to_device(torch.from_numpy(lengths))


@torch.no_grad()
def pooled_views(model: ReadEncoder, table: ViewTable, rows: np.ndarray, plan: DevicePlan, batch_size: int) -> torch.Tensor:
    """Pooled hidden states (2N, C) of both views of ``rows`` on the forward strand."""
    model.eval()
    parts = []
    for _, _, ids, lengths in _forward_views(table, rows, plan, batch_size):
        with plan.autocast():
            parts.append(model.pool(model.hidden(ids, lengths), lengths).float().cpu())
    return torch.cat(parts)


@torch.no_grad()
def fragment_reference_logits(model: ReadEncoder, table: ViewTable, rows: np.ndarray, plan: DevicePlan,
                              batch_size: int) -> torch.Tensor:
    """Reference logits (N, G) of ``rows``, summed over a fragment's two views (its mates), forward strand."""
    total = torch.zeros((len(rows), model.cfg.n_reference))
    for _, start, ids, lengths in _forward_views(table, rows, plan, batch_size):
        logits = model.reference_logits(ids, lengths).cpu()  # (b, G)
        total[start:start + len(logits)] += logits
    return total


def _check_objective(cfg: TrainConfig) -> None:
    """The one setting the schema cannot check: at least one loss term must be on."""
    if cfg.mask_prob == 0 and cfg.contrastive_weight == 0:
        raise PlanktonlmInputError(InputProblem(file="config", column="train.mask_prob", value=0.0,
                                                message="both loss terms are switched off",
                                                expected="mask_prob > 0 or contrastive_weight > 0"))


def _check_pool(pool: Sequence, model_cfg: ReadEncoderConfig, tok_spec: TokenizerSpec) -> None:
    if model_cfg.vocab_size != tok_spec.vocab_size or model_cfg.max_len != tok_spec.max_len:
        raise PlanktonlmInputError(InputProblem(
            file="config", column="model", value=f"vocab {model_cfg.vocab_size}, max_len {model_cfg.max_len}",
            message="model and tokenizer disagree",
            expected=f"vocab {tok_spec.vocab_size}, max_len {tok_spec.max_len} (build both from one ModelConfig)"))
    if len(pool) < 2:
        raise PlanktonlmInputError(InputProblem(file="training pool", value=len(pool),
                                                message="too few reads to train the encoder",
                                                expected="at least 2 fragments (more than a few thousand in practice)"))


@contextlib.contextmanager
def _dropout_rng(dropout: float, plan: DevicePlan, step_seed: int):
    """Dropout draws from the global torch RNG: give it a per-step seed in a forked RNG scope."""
    if dropout == 0:
        yield
        return
    devices = [plan.device] if plan.is_cuda else []
    with torch.random.fork_rng(devices=devices, device_type=plan.device.type):
        torch.manual_seed(step_seed)
        yield
