"""``planktonlm bench encoder-quality``: how well the encoder separates genomes, measured without leakage.

On a simulated cruise (its truth names the genome and position of every read):

1. Every read is placed in a genome region (:mod:`planktonlm.evaluation.regions`): "train",
   "tuning" or "reported" blocks of 5 kb, fixed for the project. The encoder is fine-tuned here,
   exactly as the workflow would (``model:`` and ``train:`` of the config, ``model.base``
   included), on the cruise's reads that lie wholly in train blocks; it is evaluated on reads of
   one held-out split: no evaluation read shares a base with a fine-tuning read. Recipes are
   chosen on ``tuning``; the figures we publish come from ``reported``.
2. Read level, on ``n_eval_reads`` read pairs of that split: cosine k-NN genome accuracy (k-fold
   CV) with per-genome accuracy, and the ARI of k-means with k = number of genomes, for the
   fine-tuned encoder, its base (when there is one), an untrained encoder of the same shape,
   and the k-mer baselines in their best form (TNF and 5-mer counts, CLR, standardised on the
   training folds, cosine). The ceiling: naive Bayes on 8-mers of the cruise's true genomes.
3. Community level, on every read pair of the split in every sample (at most
   ``embed.reads_per_sample``): embedding OTUs and k-mer OTUs built as the profiles stage builds
   them (``profiles.n_otus``), their Bray-Curtis against that of the true genome counts of the
   very same reads (Mantel r), and OTU purity (NMI) against the true genomes.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from planktonlm.config import build_config
from planktonlm.encoder.device import resolve_device
from planktonlm.encoder.embed import EmbedConfig, embed_fragments
from planktonlm.encoder.model import ModelConfig, ReadEncoder
from planktonlm.encoder.model_dir import load_model, training_architecture
from planktonlm.encoder.train import TrainConfig, train_encoder
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.evaluation.baselines import KmerNaiveBayes, kmer_clr
from planktonlm.evaluation.metrics import bray_curtis, ceiling_scores, kmeans_ari, knn_scores, mantel_r, otu_purity, profile_counts
from planktonlm.evaluation.regions import fragment_splits
from planktonlm.profiles.build import ProfilesConfig
from planktonlm.profiles.codebook import EmbeddingCodebook
from planktonlm.profiles.vectors import sample_balanced_pool
from planktonlm.reads.fragments import Fragment, PooledFragment, iter_fragments
from planktonlm.reads.kmers import kmer_frequencies
from planktonlm.seeding import derive_seed
from planktonlm.simulate.genomes import load_genomes

logger = logging.getLogger(__name__)

SPLITS = ("tuning", "reported")
KMER_BASELINES = {"tnf_clr": 4, "kmer5_clr": 5}
CEILING_K = 8


@dataclass(frozen=True)
class CruiseReads:
    """A simulated cruise's read pairs with their truth: genome and region split of each."""

    fragments: list[Fragment]
    samples: np.ndarray  # (n,) sample of each fragment
    genomes: np.ndarray  # (n,) true genome
    splits: np.ndarray  # (n,) train | tuning | reported | straddles


def _cruise_file(sim_dir: Path, name: str) -> Path:
    path = sim_dir / name
    if not path.is_file():
        raise PlanktonlmInputError(InputProblem(file=str(path), message="not found",
                                                expected="a folder written by `planktonlm simulate` (units.tsv, reads/, truth/)"))
    return path


def read_cruise(sim_dir: str | os.PathLike) -> CruiseReads:
    """Every read pair of a simulated cruise, with sample, true genome and region split."""
    sim_dir = Path(sim_dir)
    truth = pd.read_csv(_cruise_file(sim_dir, "truth/read_origin.tsv.gz"), sep="\t",
                        dtype={"sample": str, "read_id": str, "genome": str, "contig": str})
    split_of = dict(zip(truth["read_id"], fragment_splits(truth)))
    genome_of = dict(zip(truth["read_id"], truth["genome"]))
    units = pd.read_csv(_cruise_file(sim_dir, "units.tsv"), sep="\t", dtype=str, keep_default_na=False)

    def resolve(text: str) -> Path | None:
        if not text:
            return None
        path = Path(text)
        return path if path.is_absolute() or path.exists() else sim_dir / path

    fragments, samples = [], []
    for row in units.itertuples():
        for fragment in iter_fragments(resolve(row.fq1), resolve(row.fq2)):
            fragments.append(fragment)
            samples.append(row.sample)
    missing = [f.read_id for f in fragments if f.read_id not in genome_of]
    if missing:
        raise PlanktonlmInputError(InputProblem(file=str(sim_dir / "truth" / "read_origin.tsv.gz"), value=missing[0],
                                                message=f"{len(missing)} read ids have no truth row",
                                                expected="every read of the cruise listed in read_origin.tsv.gz"))
    return CruiseReads(fragments, np.asarray(samples), np.array([genome_of[f.read_id] for f in fragments]),
                       np.array([split_of[f.read_id] for f in fragments]))


def per_sample_draw(samples: np.ndarray, eligible: np.ndarray, n_per_sample: int, seed: int, purpose: str) -> np.ndarray:
    """Sorted indices of up to ``n_per_sample`` eligible rows per sample (0 = all), seeded per sample."""
    chosen = []
    for sample in pd.unique(samples):
        rows = np.flatnonzero((samples == sample) & eligible)
        if n_per_sample and len(rows) > n_per_sample:
            rng = np.random.default_rng(derive_seed(seed, purpose, str(sample)))
            rows = np.sort(rng.choice(rows, size=n_per_sample, replace=False))
        chosen.append(rows)
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def embed_all(model: ReadEncoder, spec, fragments: Sequence[Fragment], plan, batch_size: int = 512) -> np.ndarray:
    parts = [vectors for _, vectors in embed_fragments(model, spec, fragments, batch_size, plan)]
    return np.concatenate(parts) if parts else np.zeros((0, model.cfg.out_dim), dtype=np.float32)


def read_level_scores(vectors: Mapping[str, np.ndarray], genomes: np.ndarray, seed: int, *, k: int, n_folds: int) -> dict:
    """k-NN (k-mer baselines standardised on the training folds; encoders as they are) and k-means ARI."""
    scores = {}
    for name, X in vectors.items():
        standardize = name in KMER_BASELINES
        knn = knn_scores(X, genomes, seed, k=k, n_folds=n_folds, standardize=standardize)
        scores[name] = {**knn, "kmeans_ari": kmeans_ari(X, genomes, seed, standardize=standardize)}
    return scores


def community_scores(labels: Mapping[str, np.ndarray], samples: np.ndarray, genomes: np.ndarray) -> dict:
    """Mantel r of each OTU profile's Bray-Curtis against the true genome counts' and OTU purity."""
    order = list(pd.unique(samples))
    truth = bray_curtis(profile_counts(genomes, samples, sample_order=order).to_numpy())
    out = {}
    for name, otus in labels.items():
        counts = profile_counts(otus, samples, sample_order=order).to_numpy()
        out[name] = {"mantel_r": mantel_r(bray_curtis(counts), truth), **otu_purity(otus, genomes)}
    return out


def otu_labels(vectors: Mapping[str, np.ndarray], samples: np.ndarray, profiles_cfg: ProfilesConfig, seed: int) -> dict:
    """Each representation's OTU of every read, from a codebook fitted as the profiles stage fits it."""
    out = {}
    for name, X in vectors.items():
        per_sample = {s: X[samples == s] for s in pd.unique(samples)}
        pool = sample_balanced_pool(per_sample, profiles_cfg.pool_reads_per_sample, seed)
        codebook = EmbeddingCodebook(n_otus=profiles_cfg.n_otus, n_init=profiles_cfg.n_init,
                                     max_iter=profiles_cfg.max_iter, seed=seed).fit(pool)
        out[name] = codebook.predict(X)
    return out


def bench_quality(
    sim_dir: str | os.PathLike,
    config: Mapping,
    *,
    split: str = "reported",
    n_eval_reads: int = 3000,
    seed: int = 1,
    genomes_dir: str | os.PathLike = "resources/genomes",
    k: int = 10,
    n_folds: int = 5,
    device: str = "auto",
    work_dir: str | os.PathLike | None = None,
    reuse_model: bool = False,
    community: bool = True,
) -> dict:
    """The module docstring's measurements on one cruise and one split; a JSON-ready dict.

    ``config``: the workflow config (its ``model``, ``train``, ``embed``, ``profiles`` sections and
    ``seed`` are used; ``seed`` here draws the evaluation reads and folds). ``work_dir``: where
    the fine-tuned model is written (a temporary folder if None); ``reuse_model``: score the model
    already there (fine-tuned by an earlier call with the same cruise and config) instead of
    fine-tuning again, e.g. for several evaluation draws.
    """
    if split not in SPLITS:
        raise PlanktonlmInputError(InputProblem(file="bench", column="split", value=split,
                                                message="unknown evaluation split", expected=" or ".join(SPLITS)))
    started = time.perf_counter()
    model_section = build_config(ModelConfig, "model", config.get("model", {}))
    train_cfg = build_config(TrainConfig, "train", config.get("train", {}))
    embed_cfg = build_config(EmbedConfig, "embed", config.get("embed", {}))
    profiles_cfg = build_config(ProfilesConfig, "profiles", config.get("profiles", {}))
    train_seed = int(config.get("seed", 1))
    cruise = read_cruise(sim_dir)
    plan = resolve_device(device)

    pool_rows = per_sample_draw(cruise.samples, cruise.splits == "train", train_cfg.pool_reads_per_sample, train_seed,
                                "bench-pool")
    pool = [PooledFragment(str(cruise.samples[i]), f.read_id, f.seq1, f.seq2)
            for i, f in ((i, cruise.fragments[i]) for i in pool_rows)]
    architecture, spec, base = training_architecture(model_section)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(work_dir) / "model" if work_dir else Path(tmp) / "model"
        logger.info("fine-tuning on %d read pairs of train regions (%s)", len(pool),
                    f"base {model_section.base}" if base else "from scratch")
        if not (reuse_model and (model_dir / "weights.sha256").is_file()):
            train_encoder(pool, model_dir, architecture, spec, train_cfg, train_seed, base=base)
        tuned, spec, cfg = load_model(model_dir, device=str(plan.device))
    encoders = {"encoder": tuned}
    if base is not None:
        encoders["base_encoder"] = ReadEncoder(cfg).to(plan.device).eval()
        encoders["base_encoder"].load_base_weights(base.weights)
    untrained = ReadEncoder(cfg, torch.Generator().manual_seed(derive_seed(train_seed, "init"))).to(plan.device).eval()
    if cfg.n_reference and base is not None:  # same reference table: the untrained copy differs in its learned weights only
        untrained.ref_logprob.copy_(encoders["base_encoder"].ref_logprob)
    encoders["untrained_encoder"] = untrained

    in_split = np.flatnonzero(cruise.splits == split)
    if len(in_split) < 2 * n_folds:
        raise PlanktonlmInputError(InputProblem(file=str(sim_dir), column="split", value=split,
                                                message=f"only {len(in_split)} read pairs lie in {split} regions",
                                                expected=f"at least {2 * n_folds}"))
    rng = np.random.default_rng(derive_seed(seed, "bench-eval", split))
    eval_rows = np.sort(rng.choice(in_split, size=min(n_eval_reads, len(in_split)), replace=False))
    fragments = [cruise.fragments[i] for i in eval_rows]
    genomes = cruise.genomes[eval_rows]
    vectors = {name: embed_all(model, spec, fragments, plan) for name, model in encoders.items()}
    vectors.update({name: kmer_clr(fragments, kk) for name, kk in KMER_BASELINES.items()})
    scores = read_level_scores(vectors, genomes, seed, k=k, n_folds=n_folds)

    true_genomes = load_genomes(genomes_dir, sorted(set(cruise.genomes)))
    ceiling = ceiling_scores(KmerNaiveBayes(k=CEILING_K).fit(true_genomes).predict(fragments), genomes)
    best_kmer = max(KMER_BASELINES, key=lambda name: scores[name]["knn_accuracy"])
    best_kmer_ari = max(scores[name]["kmeans_ari"] for name in KMER_BASELINES)
    for values in scores.values():
        values["knn_vs_best_kmer"] = values["knn_accuracy"] / scores[best_kmer]["knn_accuracy"]
        values["knn_vs_ceiling"] = values["knn_accuracy"] / ceiling["accuracy"]
        values["ari_vs_best_kmer"] = values["kmeans_ari"] / best_kmer_ari if best_kmer_ari > 0 else float("nan")

    result = {
        "split": split, "n_eval_fragments": len(fragments), "n_pool_fragments": len(pool),
        "n_genomes": int(len(set(genomes))), "k": k, "n_folds": n_folds, "device": plan.describe(),
        "base": model_section.base if base is not None else "none", "best_kmer_baseline": best_kmer,
        "ceiling": {"method": f"naive Bayes on {CEILING_K}-mers of the true genomes", **ceiling},
        "scores": scores,
    }
    if community:
        rows = per_sample_draw(cruise.samples, cruise.splits == split, embed_cfg.reads_per_sample, seed, "bench-community")
        community_fragments = [cruise.fragments[i] for i in rows]
        samples = cruise.samples[rows]
        kmer_vectors = kmer_frequencies([f.seq1 for f in community_fragments],
                                        [f.seq2 or "" for f in community_fragments], k=profiles_cfg.kmer_k)
        labels = otu_labels({"embedding": embed_all(tuned, spec, community_fragments, plan), "kmer": kmer_vectors},
                            samples, profiles_cfg, train_seed)
        result["community"] = {"n_fragments": len(rows), "n_samples": int(len(set(samples))), "n_otus": profiles_cfg.n_otus,
                               **community_scores(labels, samples, cruise.genomes[rows])}
        result["community"]["mantel_r_gain"] = (result["community"]["embedding"]["mantel_r"]
                                                - result["community"]["kmer"]["mantel_r"])
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result
