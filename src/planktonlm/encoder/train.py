"""Self-supervised training of the ReadEncoder on a cruise's own reads.

Objective = masked-token loss + ``contrastive_weight`` x NT-Xent. The contrastive positives need
no labels and carry genome identity: the two mates of a pair come from one fragment of one genome
(single-end reads: the two halves of a read), and each view is shown on a random strand, since a
read and its reverse complement are the same DNA. Every other view in the batch is a negative.

Reproducibility: every random draw (initial weights, validation split, batch order, strands,
masks, dropout) comes from a seed derived from (``seed``, purpose, step), never from the global
RNG. The only training state is therefore the weights, the optimizer, the scheduler and the step;
a checkpoint holds those, and a killed run resumed from its last checkpoint ends with exactly the
weights of an uninterrupted run (bit for bit on CPU).

Model folder: model.pt (state_dict, byte-stable torch.save), config.json, tokenizer.json,
train_log.tsv, weights.sha256, train_reads.tsv.gz (sample, read_id of the training pool, so that
benchmarks can hold those reads out) and checkpoints/last.pt.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from planktonlm import __version__
from planktonlm.encoder.device import DevicePlan, deterministic_algorithms, resolve_device, torch_threads
from planktonlm.encoder.model import ModelConfig, ReadEncoder, ReadEncoderConfig, count_parameters
from planktonlm.encoder.tokenizer import MASK_ID, N_SPECIAL, UNK_ID, TokenizerSpec, encode_batch, reverse_complement
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path, sha256_file
from planktonlm.reads import PathLike, PooledFragment, derive_seed, sample_training_pool

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.pt"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
LOG_FILE = "train_log.tsv"
SHA_FILE = "weights.sha256"
POOL_FILE = "train_reads.tsv.gz"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FILE = "last.pt"
LOG_COLUMNS = ["step", "lr", "loss", "mlm_loss", "contrastive_loss",
               "val_loss", "val_mlm_loss", "val_contrastive_loss", "reads_per_s"]


@dataclass(frozen=True)
class TrainConfig:
    """The `train:` section of config.yaml."""

    pool_reads_per_sample: int = 1000  # fragments drawn from each sample for the training pool (0 = all)
    val_fraction: float = 0.02  # share of the pool held out for the validation loss
    max_steps: int = 800  # optimizer steps (about 3 min on 2 CPU cores for the default model)
    batch_size: int = 256  # fragments per step (2 views each)
    lr: float = 2e-3  # peak learning rate
    weight_decay: float = 0.01  # AdamW weight decay (matrices only)
    warmup_steps: int = 100  # linear warm-up steps before the cosine decay
    mask_prob: float = 0.15  # share of tokens masked for the masked-token loss (0 = no MLM)
    contrastive_weight: float = 1.0  # weight of the NT-Xent term (0 = MLM only)
    temperature: float = 0.2  # NT-Xent temperature
    grad_clip: float = 1.0  # max gradient norm (0 = no clipping)
    checkpoint_every: int = 200  # steps between checkpoints (0 = none)
    log_every: int = 50  # steps between progress lines and validation losses
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self) -> None:
        checks = [
            ("pool_reads_per_sample", self.pool_reads_per_sample >= 0, ">= 0 (0 = every read)"),
            ("val_fraction", 0.0 <= self.val_fraction < 1.0, "0 <= val_fraction < 1"),
            ("max_steps", self.max_steps >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 2, ">= 2 (the contrastive loss needs negatives)"),
            ("lr", self.lr > 0, "> 0"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
            ("mask_prob", 0.0 <= self.mask_prob < 1.0, "0 <= mask_prob < 1"),
            ("contrastive_weight", self.contrastive_weight >= 0, ">= 0"),
            ("temperature", self.temperature > 0, "> 0"),
            ("grad_clip", self.grad_clip >= 0, ">= 0"),
            ("checkpoint_every", self.checkpoint_every >= 0, ">= 0"),
            ("log_every", self.log_every >= 1, ">= 1"),
        ]
        problems = [InputProblem(file="config", column=f"train.{name}", value=getattr(self, name),
                                 message="invalid training setting", expected=expected)
                    for name, ok, expected in checks if not ok]
        if self.mask_prob == 0 and self.contrastive_weight == 0:
            problems.append(InputProblem(file="config", column="train.mask_prob", value=0.0,
                                         message="both loss terms are switched off",
                                         expected="mask_prob > 0 or contrastive_weight > 0"))
        if problems:
            raise PlanktonlmInputError(problems)


class StepMetrics(dict):
    """Per-step numbers passed to ``on_step`` callbacks (loss, mlm_loss, contrastive_loss, lr)."""


# ----------------------------------------------------------------------------- data


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
            logits = model.mlm_logits(hidden[masked])  # (n_masked, vocab)
            mlm = F.cross_entropy(logits.float(), plan.to_device(batch.targets))
        contrastive = zero
        if cfg.contrastive_weight > 0:
            z = model.project(model.pool(hidden, lengths))  # (2B, P)
            B = z.shape[0] // 2
            contrastive = nt_xent(z[:B], z[B:], cfg.temperature)
    return mlm + cfg.contrastive_weight * contrastive, mlm, contrastive


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


# ----------------------------------------------------------------------------- files


def state_dict_bytes_stable(model: ReadEncoder) -> dict[str, torch.Tensor]:
    """CPU, contiguous copies of the weights in sorted key order: torch.save of this is byte-stable."""
    return {key: value.detach().to("cpu").contiguous().clone() for key, value in sorted(model.state_dict().items())}


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_log(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as out:
            out.write("\t".join(LOG_COLUMNS) + "\n")
            for row in rows:
                out.write("\t".join(_fmt(row[c]) for c in LOG_COLUMNS) + "\n")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _write_pool_ids(path: Path, fragments: Sequence) -> None:
    with atomic_path(path) as tmp:
        # mtime=0: the gzip header carries no timestamp, so the file is byte-stable.
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(b"sample\tread_id\n")
            for f in fragments:
                gz.write(f"{getattr(f, 'sample', '')}\t{f.read_id}\n".encode())


def _save_torch(path: Path, obj: object) -> None:
    # torch.save names the zip archive after the file it writes to (here a pid-tagged temporary
    # name), so saving to a buffer first keeps the bytes independent of the process.
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())


def run_fingerprint(model_cfg: ReadEncoderConfig, tok_spec: TokenizerSpec, train_cfg: TrainConfig,
                    seed: int, fragments: Sequence) -> str:
    """Identity of a training run: a checkpoint resumes only the run it came from."""
    digest = hashlib.sha256()
    settings = asdict(train_cfg)
    for key in ("checkpoint_every", "log_every", "device"):  # do not change the result
        settings.pop(key)
    digest.update(json.dumps([asdict(model_cfg), asdict(tok_spec), settings, seed], sort_keys=True).encode())
    for f in fragments:
        digest.update(f"{getattr(f, 'sample', '')}\t{f.read_id}\t{f.seq1}\t{f.seq2}\n".encode())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- training


def train_encoder(
    pool: Sequence[PooledFragment] | Mapping[str, tuple[PathLike, PathLike | None]],
    model_dir: str | os.PathLike,
    model_cfg: ReadEncoderConfig,
    tok_spec: TokenizerSpec,
    train_cfg: TrainConfig,
    seed: int,
    *,
    on_step: Callable[[int, StepMetrics], None] | None = None,
    threads: int | None = None,
) -> Path:
    """Train a ReadEncoder on ``pool`` and write the model folder; return its path.

    ``pool``: fragments (objects with read_id, seq1, seq2, optionally sample), or a mapping
    sample -> (r1, r2 | None) from which ``train_cfg.pool_reads_per_sample`` fragments per
    sample are drawn. Resumes from ``model_dir/checkpoints/last.pt`` when it belongs to the
    same run. ``on_step(step, metrics)`` is called after every optimizer step (after any
    checkpoint of that step is written); an exception there stops training, as a kill would.
    ``threads``: torch CPU threads (the job's cores; None = torch's default).
    """
    with torch_threads(threads):
        return _train(pool, Path(model_dir), model_cfg, tok_spec, train_cfg, seed, on_step)


def _train(pool: Sequence[PooledFragment] | Mapping[str, tuple[PathLike, PathLike | None]], model_dir: Path,
           model_cfg: ReadEncoderConfig, tok_spec: TokenizerSpec, train_cfg: TrainConfig, seed: int,
           on_step: Callable[[int, StepMetrics], None] | None) -> Path:
    if isinstance(pool, Mapping):
        pool = sample_training_pool(pool, train_cfg.pool_reads_per_sample, seed)
    if model_cfg.vocab_size != tok_spec.vocab_size or model_cfg.max_len != tok_spec.max_len:
        raise PlanktonlmInputError(InputProblem(
            file="config", column="model", value=f"vocab {model_cfg.vocab_size}, max_len {model_cfg.max_len}",
            message="model and tokenizer disagree",
            expected=f"vocab {tok_spec.vocab_size}, max_len {tok_spec.max_len} (build both from one ModelConfig)"))
    if len(pool) < 2:
        raise PlanktonlmInputError(InputProblem(file="training pool", value=len(pool),
                                                message="too few reads to train the encoder",
                                                expected="at least 2 fragments (more than a few thousand in practice)"))
    plan = resolve_device(train_cfg.device, column="train.device")
    model_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = model_dir / CHECKPOINT_DIR / CHECKPOINT_FILE
    fingerprint = run_fingerprint(model_cfg, tok_spec, train_cfg, seed, pool)

    table = tokenize_views(tok_spec, pool)
    train_rows, val_rows = split_train_val(len(pool), train_cfg.val_fraction, seed)
    batch_size = min(train_cfg.batch_size, len(train_rows))
    model = ReadEncoder(model_cfg, torch.Generator().manual_seed(derive_seed(seed, "init"))).to(plan.device)
    optimizer = make_optimizer(model, train_cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _LrSchedule(train_cfg))
    step, log_rows = 0, []
    window_state = [0.0, 0.0, 0.0, 0]  # loss sums since the last log line, and their step count

    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=plan.device, weights_only=True)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            step, log_rows = state["step"], state["log_rows"]
            window_state = state["loss_window"]
            logger.info("resuming training from %s at step %d", checkpoint_path, step)
        else:
            logger.warning("ignoring %s: it belongs to another run (config, seed or reads differ)", checkpoint_path)

    logger.info("training encoder: %d parameters, %d train / %d val fragments, %d steps of %d fragments, device %s",
                count_parameters(model), len(train_rows), len(val_rows), train_cfg.max_steps, batch_size,
                plan.describe())
    model.train()
    window = np.array(window_state[:3], dtype=np.float64)
    window_steps, window_reads, window_start = int(window_state[3]), 0, time.perf_counter()
    step_losses: list[torch.Tensor] = []  # (3,) per step since the window was last folded
    with deterministic_algorithms(plan):
        while step < train_cfg.max_steps:
            generator = torch.Generator().manual_seed(derive_seed(seed, "step", str(step)))
            rows = train_rows[batch_indices(step, len(train_rows), batch_size, seed)]
            batch = make_batch(table, rows, tok_spec, train_cfg.mask_prob, generator)
            with _dropout_rng(model_cfg.dropout, plan, derive_seed(seed, "dropout", str(step))):
                loss, mlm, contrastive = batch_losses(model, batch, train_cfg, plan)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            if train_cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            step += 1
            # Losses stay on the device until a log line needs them (no host sync per step on CUDA).
            step_losses.append(torch.stack([loss.detach(), mlm.detach(), contrastive.detach()]).float())
            window_reads += 2 * len(rows)
            if step % train_cfg.log_every == 0 or step == train_cfg.max_steps:
                window += torch.stack(step_losses).sum(dim=0).cpu().double().numpy()
                window_steps += len(step_losses)
                step_losses = []
                rate = window_reads / max(time.perf_counter() - window_start, 1e-9)
                val = validation_losses(model, table, val_rows, tok_spec, train_cfg, plan, seed)
                mean = window / window_steps
                log_rows.append(dict(zip(LOG_COLUMNS, [step, lr, *mean.tolist(), *val, rate])))
                logger.info("step %d/%d lr %.2e loss %.4f (mlm %.4f, contrastive %.4f) val %.4f "
                            "(mlm %.4f, contrastive %.4f) %.0f reads/s", step, train_cfg.max_steps, lr,
                            *mean, *val, rate)
                _write_log(model_dir / LOG_FILE, log_rows)
                window[:] = 0
                window_steps, window_reads, window_start = 0, 0, time.perf_counter()
            if train_cfg.checkpoint_every and step % train_cfg.checkpoint_every == 0 and step < train_cfg.max_steps:
                if step_losses:  # fold the unlogged steps into the window the checkpoint carries
                    window += torch.stack(step_losses).sum(dim=0).cpu().double().numpy()
                    window_steps += len(step_losses)
                    step_losses = []
                _save_torch(checkpoint_path, {
                    "fingerprint": fingerprint, "step": step, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "log_rows": log_rows, "loss_window": [*window.tolist(), window_steps],
                    # Every random draw is derived from (seed, purpose, step): no RNG state to carry.
                    "rng": {"derived_from_seed": seed},
                })
            if on_step is not None:
                on_step(step, StepMetrics(loss=loss.item(), mlm_loss=mlm.item(), contrastive_loss=contrastive.item(),
                                          lr=lr))

    write_model_folder(model, model_dir, model_cfg, tok_spec, train_cfg, seed, pool, len(train_rows),
                       len(val_rows), log_rows)
    return model_dir


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


def write_model_folder(model: ReadEncoder, model_dir: Path, model_cfg: ReadEncoderConfig, tok_spec: TokenizerSpec,
                       train_cfg: TrainConfig | None, seed: int | None, pool: Sequence, n_train: int, n_val: int,
                       log_rows: list[dict]) -> None:
    """Write weights, config, tokenizer, log, pool ids; the SHA-256 file last (it marks completion)."""
    tok_spec.save(model_dir / TOKENIZER_FILE)
    _write_json(model_dir / CONFIG_FILE, {
        "format": "planktonlm-model", "version": 1, "model": model_cfg.to_dict(), "tokenizer": asdict(tok_spec),
        "train": asdict(train_cfg) if train_cfg else None, "seed": seed, "n_train_fragments": n_train,
        "n_val_fragments": n_val, "planktonlm_version": __version__, "torch_version": torch.__version__,
    })
    _write_log(model_dir / LOG_FILE, log_rows)
    _write_pool_ids(model_dir / POOL_FILE, pool)
    _save_torch(model_dir / WEIGHTS_FILE, state_dict_bytes_stable(model))
    with atomic_path(model_dir / SHA_FILE) as tmp:
        Path(tmp).write_text(f"{sha256_file(model_dir / WEIGHTS_FILE)}  {WEIGHTS_FILE}\n")
    logger.info("model written to %s (sha256 %s)", model_dir, (model_dir / SHA_FILE).read_text().split()[0])


# ----------------------------------------------------------------------------- reuse


def load_model(model_dir: str | os.PathLike, device: str = "cpu") -> tuple[ReadEncoder, TokenizerSpec, ReadEncoderConfig]:
    """Load a trained model folder (weights checked against weights.sha256); model in eval mode."""
    model_dir = Path(model_dir)
    problems = [InputProblem(file=str(model_dir / name), message="missing from the model folder",
                             expected="a folder written by planktonlm's train stage")
                for name in (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE, SHA_FILE) if not (model_dir / name).is_file()]
    if problems:
        raise PlanktonlmInputError(problems)
    expected_sha = (model_dir / SHA_FILE).read_text().split()[0]
    actual_sha = sha256_file(model_dir / WEIGHTS_FILE)
    if actual_sha != expected_sha:
        raise PlanktonlmInputError(InputProblem(file=str(model_dir / WEIGHTS_FILE), value=actual_sha,
                                                message="weights do not match weights.sha256 (damaged or replaced)",
                                                expected=expected_sha))
    try:
        config = json.loads((model_dir / CONFIG_FILE).read_text())
        model_cfg = ReadEncoderConfig(**config["model"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PlanktonlmInputError(InputProblem(file=str(model_dir / CONFIG_FILE), message=f"unreadable model config: {exc}",
                                                expected="config.json written by planktonlm")) from exc
    tok_spec = TokenizerSpec.load(model_dir / TOKENIZER_FILE)
    plan = resolve_device(device)
    model = ReadEncoder(model_cfg)
    model.load_state_dict(torch.load(model_dir / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return model.to(plan.device).eval(), tok_spec, model_cfg


def import_model(source_dir: str | os.PathLike, model_dir: str | os.PathLike) -> Path:
    """Copy a trained model folder into ``model_dir`` after checking it loads (``model.checkpoint``)."""
    source_dir, model_dir = Path(source_dir), Path(model_dir)
    load_model(source_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, TOKENIZER_FILE, LOG_FILE, POOL_FILE, WEIGHTS_FILE, SHA_FILE):  # sha last
        if (source_dir / name).is_file():
            with atomic_path(model_dir / name) as tmp:
                shutil.copyfile(source_dir / name, tmp)
    logger.info("reusing the trained model in %s (no training)", source_dir)
    return model_dir


def prepare_model(
    model_section: ModelConfig,
    train_section: TrainConfig,
    sources: Mapping[str, tuple[PathLike, PathLike | None]],
    model_dir: str | os.PathLike,
    seed: int,
    *,
    threads: int | None = None,
) -> Path:
    """The train stage in one call: reuse ``model.checkpoint`` if set, else train on ``sources``."""
    if model_section.checkpoint:
        checkpoint = Path(model_section.checkpoint)
        if not checkpoint.is_dir():
            raise PlanktonlmInputError(InputProblem(file="config", column="model.checkpoint", value=str(checkpoint),
                                                    message="no such folder",
                                                    expected="a model folder written by planktonlm, or '' to train"))
        out = import_model(checkpoint, model_dir)
        _, spec, cfg = load_model(out)
        if cfg != model_section.encoder_config() or spec != model_section.tokenizer_spec():
            logger.warning("model.checkpoint %s has its own architecture (%s, %s): the model: keys of the "
                           "config are ignored", checkpoint, cfg, spec)
        return out
    return train_encoder(sources, model_dir, model_section.encoder_config(), model_section.tokenizer_spec(),
                         train_section, seed, threads=threads)
