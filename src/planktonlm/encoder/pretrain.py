"""``planktonlm pretrain``: the marine base model, trained on reference genomes.

Recipe (one run = one call of :func:`pretrain_base_model`):

1. The k-mer token embeddings start from :mod:`planktonlm.encoder.kmer_prior` (what the genomes
   say about every k-mer: its usage across genomes and its tetranucleotide content).
2. Reads are drawn on the fly from the genomes with the simulator's read model (lengths
   ``min_read``..``max_read``, either strand, Illumina-like errors). A batch holds
   ``genomes_per_batch`` genomes, half of them anchors drawn at random and half each anchor's
   closest genome by k-mer usage (hard negatives: close strains must be told apart),
   ``batch_size / genomes_per_batch`` reads each.
3. Loss = supervised contrastive loss (positives: reads of the same genome, as DNABERT-S and
   SemiBin2 use genome identity) + ``mlm_weight`` x masked-token loss.
4. The model folder gets the usual files (model.pt, config.json, tokenizer.json,
   train_log.tsv, weights.sha256) plus genomes.tsv (what it was trained on); the CLI adds
   MODEL_CARD.md (:mod:`planktonlm.encoder.model_card`).

Every draw comes from seeds derived from ``seed``; on one machine the same call gives the same
weights (CPU: one torch thread, as in cruise training).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from planktonlm.encoder.device import deterministic_algorithms, resolve_device, torch_threads
from planktonlm.encoder.kmer_prior import KmerPriorSpec, kmer_prior, usage_matrix
from planktonlm.encoder.model import ReadEncoder, ReadEncoderConfig, count_parameters
from planktonlm.encoder.model_card import GENOMES_FILE
from planktonlm.encoder.model_dir import write_model_folder
from planktonlm.encoder.tokenizer import MASK_ID, N_SPECIAL, UNK_ID, TokenizerSpec, encode_batch
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.evaluation.baselines import genome_kmer_counts, kmer_log_probabilities
from planktonlm.seeding import derive_seed
from planktonlm.simulate.design import PRESETS
from planktonlm.simulate.genomes import BASE_ASCII, GenomeSet, load_genomes
from planktonlm.simulate.reads import draw_training_reads

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    """The pretraining recipe; the defaults are the shipped base model's (see its MODEL_CARD.md)."""

    k: int = 8  # bases per token; every overlapping k-mer is embedded
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128  # = usage_dims + composition_dims of the k-mer prior
    usage_dims: int = 64
    composition_dims: int = 64
    min_read: int = 100
    max_read: int = 250
    steps: int = 600
    batch_size: int = 256
    genomes_per_batch: int = 16
    lr: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    embedding_lr_scale: float = 1.0  # learning rate of the k-mer prior's embeddings relative to lr
    temperature: float = 0.1
    mask_prob: float = 0.15
    mlm_weight: float = 1.0
    grad_clip: float = 1.0
    prior_reads: int = 4000  # reads that set the prior's column scales and the pooled state's centre and spread
    affinity_temperature: float = 10.0
    affinity_share: float = 0.85
    log_every: int = 50

    @property
    def max_len(self) -> int:
        return math.ceil(self.max_read / self.k) + 1  # + CLS

    def encoder_config(self, n_reference: int) -> ReadEncoderConfig:
        spec = self.tokenizer_spec()
        return ReadEncoderConfig(vocab_size=spec.vocab_size, max_len=self.max_len, n_layer=self.n_layer,
                                 n_head=self.n_head, d_model=self.d_model, k=self.k, overlap_embedding=self.k > 1,
                                 n_reference=n_reference, affinity_temperature=self.affinity_temperature,
                                 affinity_share=self.affinity_share, mlm_target="bases")

    def tokenizer_spec(self) -> TokenizerSpec:
        return TokenizerSpec.from_model_section("kmer", self.k, self.max_len)

    def check(self) -> None:
        problems = []
        if self.usage_dims + self.composition_dims != self.d_model:
            problems.append(InputProblem(file="pretrain", column="d_model", value=self.d_model,
                                         message="the k-mer prior must fill the token embedding",
                                         expected=f"usage_dims + composition_dims = {self.usage_dims + self.composition_dims}"))
        if not 1 <= self.min_read <= self.max_read:
            problems.append(InputProblem(file="pretrain", column="min_read", value=self.min_read,
                                         message="read lengths out of order", expected=f"1 <= min_read <= max_read ({self.max_read})"))
        if self.batch_size % self.genomes_per_batch or self.batch_size // self.genomes_per_batch < 2:
            problems.append(InputProblem(file="pretrain", column="batch_size", value=self.batch_size,
                                         message="every genome of a batch needs the same number of reads, at least 2",
                                         expected=f"a multiple of genomes_per_batch ({self.genomes_per_batch}), >= 2x it"))
        if problems:
            raise PlanktonlmInputError(problems)


def supervised_contrastive(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon loss (Khosla et al. 2020) of L2-normalised z (B, P): positives share a label."""
    B = z.shape[0]
    sim = (z.float() @ z.float().T) / temperature  # (B, B)
    self_mask = torch.eye(B, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)  # (B, B)
    positive = (labels[:, None] == labels[None, :]) & ~self_mask  # (B, B)
    log_prob = log_prob.masked_fill(~positive, 0.0)
    return -(log_prob.sum(dim=1) / positive.sum(dim=1).clamp(min=1)).mean()


def closest_genomes(usage: np.ndarray) -> np.ndarray:
    """For every genome, the other genome whose centred k-mer log-probabilities correlate most: (G,)."""
    corr = np.corrcoef(usage.T)  # (G, G)
    np.fill_diagonal(corr, -np.inf)
    return corr.argmax(axis=1)


def batch_genomes(step: int, n_genomes: int, partner: np.ndarray, per_batch: int, seed: int) -> np.ndarray:
    """Genomes of a step's batch: ``per_batch / 2`` random anchors and each one's closest genome."""
    rng = np.random.default_rng(derive_seed(seed, "pretrain-genomes", str(step)))
    anchors = rng.choice(n_genomes, size=min(per_batch // 2, n_genomes), replace=False)
    chosen = list(dict.fromkeys([*anchors.tolist(), *partner[anchors].tolist()]))
    spare = [g for g in rng.permutation(n_genomes).tolist() if g not in chosen]
    return np.asarray((chosen + spare)[:per_batch], dtype=np.int64)


def _as_text(reads: Sequence[np.ndarray]) -> list[str]:
    return [BASE_ASCII[codes].tobytes().decode() for codes in reads]


def pretrain_base_model(genomes_dir: str | Path, out_dir: str | Path, cfg: PretrainConfig, seed: int, *,
                        withhold: Sequence[str] = (), device: str = "auto", threads: int | None = None) -> Path:
    """Pretrain a base model on every genome of ``genomes_dir`` but ``withhold``; write ``out_dir``."""
    cfg.check()
    genomes_dir, out_dir = Path(genomes_dir), Path(out_dir)
    every_genome = load_genomes(genomes_dir)
    genomes = [g for g in every_genome if g.name not in set(withhold)]
    unknown = sorted(set(withhold) - {g.name for g in every_genome})
    if unknown or len(genomes) < 2:
        raise PlanktonlmInputError(InputProblem(file=str(genomes_dir), column="withhold", value=", ".join(unknown) or len(genomes),
                                                message="unknown genomes to withhold, or fewer than 2 left",
                                                expected="names of genomes in the folder, leaving at least 2"))
    plan = resolve_device(device)
    design = replace(PRESETS["demo"], read_length=cfg.max_read)
    genome_set = GenomeSet(genomes)
    spec, model_cfg = cfg.tokenizer_spec(), cfg.encoder_config(len(genomes))
    started = time.perf_counter()
    logger.info("pretraining on %d genomes (%d withheld), %s", len(genomes), len(withhold), plan.describe())

    prior_rng = np.random.default_rng(derive_seed(seed, "pretrain-prior"))
    prior_reads = draw_training_reads(genome_set, prior_rng.integers(len(genomes), size=cfg.prior_reads),
                                      np.full(cfg.prior_reads, cfg.min_read), design, prior_rng)
    prior = kmer_prior([g.codes for g in genomes], KmerPriorSpec(cfg.k, cfg.usage_dims, cfg.composition_dims), prior_reads)
    logprob = reference_logprob([g.codes for g in genomes], cfg.k)
    partner = closest_genomes(usage_matrix([g.codes for g in genomes], 4, 0.5))
    logger.info("k-mer prior %s built in %.0f s", prior.shape, time.perf_counter() - started)

    with torch_threads(plan.training_threads(threads)), deterministic_algorithms(plan):
        threads_used = torch.get_num_threads()
        model = ReadEncoder(model_cfg, torch.Generator().manual_seed(derive_seed(seed, "init")))
        with torch.no_grad():
            model.tok_emb.weight[N_SPECIAL:N_SPECIAL + 4**cfg.k] = torch.from_numpy(prior)  # full k-mers only
            model.ref_logprob.copy_(torch.from_numpy(logprob))
        model.to(plan.device).train()
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and n != "tok_emb.weight"]
        other = [p for n, p in model.named_parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay, "scale": 1.0},
                                       {"params": other, "weight_decay": 0.0, "scale": 1.0},
                                       {"params": [model.tok_emb.weight], "weight_decay": 0.0,
                                        "scale": cfg.embedding_lr_scale}], lr=cfg.lr)
        generator = torch.Generator().manual_seed(derive_seed(seed, "pretrain-masks"))
        rows, window = [], []
        per_genome = cfg.batch_size // cfg.genomes_per_batch
        for step in range(cfg.steps):
            rng = np.random.default_rng(derive_seed(seed, "pretrain-reads", str(step)))
            chosen = batch_genomes(step, len(genomes), partner, cfg.genomes_per_batch, seed)
            labels_np = np.repeat(chosen, per_genome)
            reads = draw_training_reads(genome_set, labels_np, rng.integers(cfg.min_read, cfg.max_read + 1, size=len(labels_np)),
                                        design, rng)
            ids_np, lengths_np = encode_batch(spec, _as_text(reads))
            ids = torch.from_numpy(ids_np.astype(np.int64))  # (B, T)
            lengths = torch.from_numpy(lengths_np.astype(np.int64))  # (B,)
            lr = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup_steps, 1)) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
            for group in optimizer.param_groups:
                group["lr"] = lr * group["scale"]
            loss, contrastive, mlm = _step_losses(model, ids, lengths, torch.from_numpy(labels_np), cfg, plan, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            window.append((loss.item(), contrastive.item(), mlm.item()))
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                mean = np.mean(window, axis=0)
                rows.append({"step": step + 1, "lr": lr, "loss": mean[0], "mlm_loss": mean[2], "contrastive_loss": mean[1],
                             "val_loss": math.nan, "val_mlm_loss": math.nan, "val_contrastive_loss": math.nan,
                             "reads_per_s": (step + 1) * cfg.batch_size / (time.perf_counter() - started)})
                window = []
                logger.info("step %d/%d loss %.4f (supcon %.4f, mlm %.4f)", step + 1, cfg.steps, mean[0], mean[1], mean[2])
        model.eval()
        model.set_pool_statistics(pooled_states(model, spec, _as_text(prior_reads), plan))
    wall = time.perf_counter() - started
    recipe = {"pretrain": True, **asdict(cfg), "seed": seed, "genomes_dir": str(genomes_dir), "withheld": sorted(withhold),
                          "n_genomes": len(genomes), "wall_seconds": round(wall, 1), "device": plan.describe(),
              "torch_threads": threads_used,
              "parameters": count_parameters(model)}
    genomes_table = pd.DataFrame({"genome": [g.name for g in genomes], "file": [g.file for g in genomes],
                                  "organism": [g.organism for g in genomes], "length_bp": [g.length_bp for g in genomes]})
    out_dir.mkdir(parents=True, exist_ok=True)
    genomes_table.to_csv(out_dir / GENOMES_FILE, sep="\t", index=False)
    write_model_folder(model.cpu(), out_dir, model_cfg, spec, recipe, seed, [], 0, 0, rows)
    logger.info("base model written to %s in %.0f s", out_dir, wall)
    return out_dir


def _step_losses(model: ReadEncoder, ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor, cfg: PretrainConfig,
                 plan, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, supervised contrastive, masked-token) losses of one batch of single reads."""
    B, T = ids.shape
    positions = torch.arange(T).unsqueeze(0)  # (1, T)
    candidates = (positions >= 1) & (positions < lengths.unsqueeze(1)) & (ids != UNK_ID)  # (B, T), CLS excluded
    masked = candidates & (torch.rand((B, T), generator=generator) < cfg.mask_prob) if cfg.mlm_weight > 0 else torch.zeros_like(candidates)
    inputs = ids.masked_fill(masked, MASK_ID)
    inputs, lengths_d, labels_d = plan.to_device(inputs), plan.to_device(lengths), plan.to_device(labels)
    with plan.autocast():
        hidden = model.hidden(inputs, lengths_d)  # (B, T, C)
        contrastive = supervised_contrastive(model.project(model.pool(hidden, lengths_d)), labels_d, cfg.temperature)
        mlm = contrastive.new_zeros(())
        if cfg.mlm_weight > 0 and masked.any():
            mlm = model.mlm_loss(hidden[plan.to_device(masked)], plan.to_device(ids[masked]))  # (n_masked, C) in
    return contrastive + cfg.mlm_weight * mlm, contrastive, mlm


def reference_logprob(genome_codes: Sequence[np.ndarray], k: int, pseudocount: float = 0.5) -> np.ndarray:
    """log P(k-mer | genome) on both strands: (4**k, n_genomes) float32, the affinity readout's table."""
    columns = [kmer_log_probabilities(genome_kmer_counts(codes, k), pseudocount) for codes in genome_codes]
    return np.stack(columns, axis=1).astype(np.float32)


@torch.no_grad()
def pooled_states(model: ReadEncoder, spec: TokenizerSpec, reads: Sequence[str], plan, batch_size: int = 512) -> torch.Tensor:
    """Pooled hidden states (N, C) of single reads, for :meth:`ReadEncoder.set_pool_statistics`."""
    parts = []
    for start in range(0, len(reads), batch_size):
        ids, lengths = encode_batch(spec, list(reads[start:start + batch_size]))
        ids_t = plan.to_device(torch.from_numpy(ids.astype(np.int64)))
        lengths_t = plan.to_device(torch.from_numpy(lengths.astype(np.int64)))
        with plan.autocast():
            parts.append(model.pool(model.hidden(ids_t, lengths_t), lengths_t).float().cpu())
    return torch.cat(parts)


def read_genomes_table(model_dir: str | Path) -> pd.DataFrame:
    """The genomes a base model was pretrained on (genomes.tsv of its folder)."""
    return pd.read_csv(Path(model_dir) / GENOMES_FILE, sep="\t", dtype=str)


def describe(model_dir: str | Path) -> dict:
    """config.json's ``pretrain`` entry of a base model folder."""
    return json.loads((Path(model_dir) / "config.json").read_text()).get("train") or {}

