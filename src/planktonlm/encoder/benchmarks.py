"""Benchmarks of the encoder: speed and memory, and how well embeddings separate genomes.

``bench_throughput``: training and embedding reads/s and peak memory for the configured model
and for a DNABERT-2-sized one (12 layers, width 768, 12 heads; random weights, a few steps).
``bench_quality``: on a simulated cruise (its truth says which genome every read came from),
k-NN genome accuracy and the adjusted Rand index of k-means for the trained encoder, for an
untrained encoder of the same shape and seed, and for tetranucleotide frequencies (TNF).
Both return plain dicts (JSON-serialisable) for ``planktonlm bench``.
"""

from __future__ import annotations

import gzip
import os
import resource
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from planktonlm.config import build_config
from planktonlm.encoder.data import make_batch, tokenize_views
from planktonlm.encoder.device import DevicePlan, resolve_device
from planktonlm.encoder.embed import embed_fragments
from planktonlm.encoder.model import ModelConfig, ReadEncoder, count_parameters
from planktonlm.encoder.model_dir import POOL_FILE, load_model, train_seed
from planktonlm.encoder.tokenizer import TokenizerSpec
from planktonlm.encoder.train import TrainConfig, batch_losses, make_optimizer
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.reads.fragments import Fragment, iter_fragments, reservoir_sample
from planktonlm.reads.kmers import kmer_frequencies
from planktonlm.seeding import derive_seed

DNABERT2_SIZE = {"n_layer": 12, "d_model": 768, "n_head": 12}


# ----------------------------------------------------------------------------- memory


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or on CPU the peak rise of resident memory.

    On CPU a thread samples /proc/self/statm every few ms (torch's allocator is invisible to
    tracemalloc); without /proc it falls back to the ru_maxrss rise, which misses peaks below an
    earlier high-water mark.
    """

    def __init__(self, plan: DevicePlan, interval_s: float = 0.005):
        self.plan = plan
        self.interval_s = interval_s
        self.peak_bytes = 0
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
        start = self._rss()
        self._thread = None
        if start is not None:
            self._thread = threading.Thread(target=self._watch, args=(start,), daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.plan.is_cuda:
            torch.cuda.synchronize(self.plan.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.plan.device) - self._base
            return
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        else:
            self.peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self._maxrss


# ----------------------------------------------------------------------------- throughput


def _sync(plan: DevicePlan) -> None:
    if plan.is_cuda:
        torch.cuda.synchronize(plan.device)


def _throughput_one(fragments: Sequence[Fragment], model_section: ModelConfig, train_cfg: TrainConfig,
                    n_steps: int, embed_batch_size: int, n_embed: int, plan: DevicePlan, seed: int) -> dict:
    spec = model_section.tokenizer_spec()
    cfg = model_section.encoder_config()
    model = ReadEncoder(cfg, torch.Generator().manual_seed(derive_seed(seed, "init"))).to(plan.device)
    table = tokenize_views(spec, fragments)
    optimizer = make_optimizer(model, train_cfg)
    batch_size = min(train_cfg.batch_size, len(fragments))
    generator = torch.Generator().manual_seed(derive_seed(seed, "bench"))
    order = np.random.default_rng(derive_seed(seed, "bench-order"))

    def train_step() -> None:
        rows = np.sort(order.choice(len(fragments), size=batch_size, replace=False))
        batch = make_batch(table, rows, spec, train_cfg.mask_prob, generator)
        loss, _, _ = batch_losses(model, batch, train_cfg, plan)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip or 1.0)
        optimizer.step()

    model.train()
    train_step()  # warm-up: allocator, kernels, lazy init
    _sync(plan)
    with PeakMemory(plan) as train_memory:
        started = time.perf_counter()
        for _ in range(n_steps):
            train_step()
        _sync(plan)
        train_seconds = time.perf_counter() - started
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
        "config": {**asdict(model_section), "vocab_size": cfg.vocab_size},
        "parameters": count_parameters(model),
        "train_steps": n_steps,
        "train_batch_fragments": batch_size,
        "train_reads_per_s": n_steps * batch_size * reads_per_fragment / train_seconds,
        "train_peak_memory_bytes": int(train_memory.peak_bytes),
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
    """Training and embedding reads/s and peak memory, configured model vs DNABERT-2 size.

    ``fragments``: reads to use (e.g. ``select_fragments`` of one sample). Embedding reads/s
    counts mates (each embedded on both strands) over the first ``n_embed`` fragments;
    training reads/s counts views (2 per fragment) over ``n_train_steps`` steps after one
    warm-up step. The DNABERT-2-sized model (random weights, about 86 M parameters) runs
    ``large_batch_size`` fragments per step and embeds ``large_n_embed`` fragments: on a CPU a
    single step of it takes minutes, which is the point of the comparison.
    Peak memory: CUDA allocator peak, or on CPU the rise of resident memory during the block.
    """
    if not fragments:
        raise PlanktonlmInputError(InputProblem(file="bench", message="no reads to benchmark with",
                                                expected="at least one fragment"))
    model_section = model_section or build_config(ModelConfig, "model")
    train_cfg = train_cfg or build_config(TrainConfig, "train")
    plan = resolve_device(device)
    results = {"device": plan.describe(), "torch_threads": torch.get_num_threads(), "models": {}}
    results["models"]["configured"] = _throughput_one(fragments, model_section, train_cfg, n_train_steps,
                                                      embed_batch_size, n_embed, plan, seed)
    if include_large:
        large = replace(model_section, **DNABERT2_SIZE)
        large_train = replace(train_cfg, batch_size=min(large_batch_size, train_cfg.batch_size))
        results["models"]["dnabert2_size"] = _throughput_one(fragments, large, large_train, n_train_steps,
                                                             large_batch_size, large_n_embed, plan, seed)
    return results


# ----------------------------------------------------------------------------- quality


def tetranucleotide_frequencies(fragments: Sequence[Fragment]) -> np.ndarray:
    """Canonical 4-mer frequencies (136 dims) over both mates of each fragment: (n, 136) float64,
    computed exactly as the k-mer baseline profile computes them (``planktonlm.reads.kmers``)."""
    mates = [f.seq2 or "" for f in fragments] if any(f.seq2 is not None for f in fragments) else None
    return kmer_frequencies([f.seq1 for f in fragments], mates, k=4)


def _read_truth(sim_dir: Path) -> pd.DataFrame:
    path = sim_dir / "truth" / "read_origin.tsv.gz"
    if not path.is_file():
        raise PlanktonlmInputError(InputProblem(file=str(path), message="simulator truth not found",
                                                expected="a folder written by `planktonlm simulate`"))
    return pd.read_csv(path, sep="\t", usecols=["sample", "read_id", "genome"], dtype=str)


def _read_units(sim_dir: Path) -> list[tuple[str, Path, Path | None]]:
    path = sim_dir / "units.tsv"
    if not path.is_file():
        raise PlanktonlmInputError(InputProblem(file=str(path), message="units.tsv not found",
                                                expected="a folder written by `planktonlm simulate`"))
    units = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)

    def resolve(text: str) -> Path | None:
        if not text:
            return None
        candidate = Path(text)
        return candidate if candidate.is_absolute() or candidate.exists() else sim_dir / candidate

    return [(row.sample, resolve(row.fq1), resolve(row.fq2)) for row in units.itertuples()]


def _training_read_ids(model_dir: Path) -> set[str]:
    path = model_dir / POOL_FILE
    if not path.is_file():
        return set()
    with gzip.open(path, "rt") as handle:
        next(handle, None)
        return {line.rstrip("\n").split("\t")[1] for line in handle if line.strip()}


def eval_fragments(sim_dir: str | os.PathLike, exclude_ids: set[str], n_eval_reads: int,
                   seed: int) -> tuple[list[Fragment], np.ndarray]:
    """A seeded sample of ``n_eval_reads`` fragments of the cruise not in ``exclude_ids``, with genomes."""
    sim_dir = Path(sim_dir)
    truth = _read_truth(sim_dir)
    genome_of = dict(zip(truth["read_id"], truth["genome"]))
    units = _read_units(sim_dir)

    def candidates() -> Iterator[Fragment]:
        for _, r1, r2 in units:
            for fragment in iter_fragments(r1, r2):
                if fragment.read_id not in exclude_ids:
                    yield fragment

    chosen = reservoir_sample(candidates(), n_eval_reads, derive_seed(seed, "bench-eval"))
    missing = [f.read_id for f in chosen if f.read_id not in genome_of]
    if missing:
        raise PlanktonlmInputError(InputProblem(file=str(sim_dir / "truth" / "read_origin.tsv.gz"),
                                                value=missing[0], message=f"{len(missing)} read ids have no truth row",
                                                expected="every read of the cruise listed in read_origin.tsv.gz"))
    return chosen, np.array([genome_of[f.read_id] for f in chosen])


def separation_scores(vectors: np.ndarray, genomes: np.ndarray, seed: int, k: int = 10, n_folds: int = 5) -> dict:
    """k-NN genome accuracy (k-fold CV) and adjusted Rand index of k-means (k = number of genomes)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=derive_seed(seed, "knn-folds") % 2**32)
    knn = KNeighborsClassifier(n_neighbors=k)
    accuracy = cross_val_score(knn, vectors, genomes, cv=folds, scoring="accuracy")
    balanced = cross_val_score(knn, vectors, genomes, cv=folds, scoring="balanced_accuracy")
    n_genomes = len(np.unique(genomes))
    labels = KMeans(n_clusters=n_genomes, n_init=4, random_state=derive_seed(seed, "kmeans") % 2**32).fit_predict(vectors)
    return {"knn_accuracy": float(accuracy.mean()), "knn_accuracy_sd": float(accuracy.std()),
            "knn_balanced_accuracy": float(balanced.mean()), "kmeans_ari": float(adjusted_rand_score(genomes, labels))}


def _embed_all(model: ReadEncoder, spec: TokenizerSpec, fragments: Sequence[Fragment], plan: DevicePlan,
               batch_size: int) -> np.ndarray:
    parts = [vectors for _, vectors in embed_fragments(model, spec, fragments, batch_size, plan)]
    return np.concatenate(parts) if parts else np.zeros((0, model.d_model))


def bench_quality(
    sim_dir: str | os.PathLike,
    model_dir: str | os.PathLike,
    n_eval_reads: int = 3000,
    seed: int = 1,
    *,
    k: int = 10,
    n_folds: int = 5,
    device: str = "auto",
    batch_size: int = 512,
) -> dict:
    """How well read embeddings separate the genomes of a simulated cruise.

    Evaluates ``n_eval_reads`` fragments (a seeded sample of the cruise's reads, excluding
    every read of the model's training pool, train_reads.tsv.gz) with: (a) the trained encoder,
    (b) an untrained encoder of the same shape initialised with the same seed as the trained one,
    (c) tetranucleotide frequencies of both mates. Scores: k-NN genome accuracy (k-fold CV over
    the evaluation reads), balanced accuracy, and ARI of k-means with k = number of genomes.
    """
    sim_dir, model_dir = Path(sim_dir), Path(model_dir)
    plan = resolve_device(device)
    trained, spec, cfg = load_model(model_dir, device=str(plan.device))
    trained_with = train_seed(model_dir)
    init_seed = derive_seed(trained_with if trained_with is not None else seed, "init")
    untrained = ReadEncoder(cfg, torch.Generator().manual_seed(init_seed)).to(plan.device).eval()
    exclude = _training_read_ids(model_dir)
    fragments, genomes = eval_fragments(sim_dir, exclude, n_eval_reads, seed)
    if len(fragments) < n_folds * 2:
        raise PlanktonlmInputError(InputProblem(file=str(sim_dir), value=len(fragments),
                                                message="too few held-out reads to evaluate",
                                                expected=f"at least {2 * n_folds} reads outside the training pool"))
    methods = {
        "trained_encoder": _embed_all(trained, spec, fragments, plan, batch_size),
        "untrained_encoder": _embed_all(untrained, spec, fragments, plan, batch_size),
        "tetranucleotide_frequencies": tetranucleotide_frequencies(fragments),
    }
    scores = {name: separation_scores(vectors, genomes, seed, k=k, n_folds=n_folds) for name, vectors in methods.items()}
    counts = pd.Series(genomes).value_counts()
    return {
        "n_eval_fragments": len(fragments),
        "n_training_reads_excluded": len(exclude),
        "n_genomes": int(counts.size),
        "genome_counts": {str(g): int(c) for g, c in counts.sort_index().items()},
        "k": k,
        "n_folds": n_folds,
        "device": plan.describe(),
        "scores": scores,
    }
