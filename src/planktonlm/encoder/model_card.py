"""MODEL_CARD.md of a pretrained base model: what it was trained on, how, where, and its checksum.

Written by ``planktonlm pretrain`` from the folder itself (config.json, genomes.tsv,
weights.sha256) and the genomes folder's SOURCES.tsv; the evaluation section lists the
``planktonlm bench encoder-quality`` results given as JSON files (``planktonlm pretrain
--card-only --evaluation ...`` rewrites the card of an existing folder with them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from planktonlm.encoder.model_dir import CONFIG_FILE, SHA_FILE
from planktonlm.io import atomic_path

CARD_FILE = "MODEL_CARD.md"
GENOMES_FILE = "genomes.tsv"

_RECIPE_KEYS = ("k", "n_layer", "n_head", "d_model", "usage_dims", "composition_dims", "min_read", "max_read", "steps",
                "batch_size", "genomes_per_batch", "lr", "warmup_steps", "weight_decay", "embedding_lr_scale", "temperature",
                "mask_prob", "mlm_weight", "grad_clip", "prior_reads", "affinity_temperature", "affinity_share")


def _sources(genomes_dir: Path) -> pd.DataFrame:
    path = genomes_dir / "SOURCES.tsv"
    if not path.is_file():
        return pd.DataFrame(columns=["file", "accession", "source_repo"])
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _evaluation_lines(results: Sequence[Mapping]) -> list[str]:
    lines = ["| cruise | split | representation | k-NN accuracy | vs best k-mer | vs ceiling | k-means ARI | ARI vs best k-mer |",
             "|---|---|---|---|---|---|---|---|"]
    for result in results:
        details = result.get("details", result)
        name = result.get("cruise", details.get("sim_dir", "?"))
        for rep, scores in details["scores"].items():
            lines.append(f"| {name} | {details['split']} | {rep} | {scores['knn_accuracy']:.3f} | {scores['knn_vs_best_kmer']:.2f} | "
                         f"{scores['knn_vs_ceiling']:.2f} | {scores['kmeans_ari']:.3f} | {scores['ari_vs_best_kmer']:.2f} |")
        lines.append(f"| {name} | {details['split']} | ceiling (naive Bayes, 8-mers of the true genomes) | "
                     f"{details['ceiling']['accuracy']:.3f} | | 1.00 | | |")
    return lines


def model_card_text(model_dir: str | os.PathLike, genomes_dir: str | os.PathLike, *, machine: Mapping | None = None,
                    command: str = "", evaluations: Sequence[Mapping] = ()) -> str:
    """The card of a base model folder, as Markdown."""
    model_dir, genomes_dir = Path(model_dir), Path(genomes_dir)
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    recipe = config.get("train") or {}
    arch = config["model"]
    sha = (model_dir / SHA_FILE).read_text().split()[0]
    genomes = pd.read_csv(model_dir / GENOMES_FILE, sep="\t", dtype=str)
    sources = _sources(genomes_dir)
    sources = sources.set_index("file") if "file" in sources else pd.DataFrame()
    lines = [
        f"# {model_dir.name}: planktonlm marine base model",
        "",
        "A small DNA transformer (ReadEncoder) pretrained on the reference genomes below, for planktonlm to fine-tune on "
        "each cruise (`model.base`). A read pair's vector is its affinity to these genomes (square root of a tempered "
        "naive-Bayes posterior over their 8-mers, given both mates) next to the transformer's standardised pooled "
        "state. Fine-tuning also estimates the cruise's prior over the genomes (EM on its reads; a genome the "
        "cruise lacks keeps half a uniform share).",
        "",
        "## Checksum",
        "",
        f"`model.pt` SHA-256: `{sha}`",
        "",
        "## Architecture",
        "",
        f"{arch['n_layer']} layers, width {arch['d_model']}, {arch['n_head']} heads, non-overlapping {arch['k']}-mer tokens "
        f"with every overlapping {arch['k']}-mer embedded, up to {arch['max_len']} tokens per read; "
        f"{arch['n_reference']} reference genomes in the affinity readout (temperature {arch['affinity_temperature']}, "
        f"share {arch['affinity_share']}); masked-token head: {arch['mlm_target']}. "
        f"{recipe.get('parameters', '?')} trainable parameters.",
        "",
        "## Recipe",
        "",
        "Token embeddings start from the genomes' k-mer statistics (usage across genomes, tetranucleotide content); "
        "then supervised contrastive loss (positives: reads of one genome; each batch pairs genomes with their closest "
        "relative) + masked-token loss on reads drawn on the fly with the simulator's read model.",
        "",
        "| setting | value |",
        "|---|---|",
        *[f"| {key} | {recipe[key]} |" for key in _RECIPE_KEYS if key in recipe],
        f"| seed | {recipe.get('seed')} |",
        f"| withheld genomes | {', '.join(recipe.get('withheld', [])) or 'none'} |",
        f"| wall time | {recipe.get('wall_seconds')} s on {recipe.get('device', '?').split(' (')[0]}, "
        f"{recipe.get('torch_threads', '?')} torch thread(s) |",
        *([f"| machine | {machine.get('cpu_model')}, {machine.get('cpus_usable')} usable CPUs, {machine.get('platform')} |"]
          if machine else []),
        f"| torch | {config.get('torch_version')} |",
        f"| planktonlm | {config.get('planktonlm_version')} |",
        "",
        f"Reproduce: `{command or 'planktonlm pretrain --outdir ' + str(model_dir) + ' --seed ' + str(recipe.get('seed'))}` "
        "(same seed and machine -> same weights; CPU training runs on one thread).",
        "",
        f"## Training data: {len(genomes)} genomes of `{genomes_dir}`",
        "",
        "| genome | organism | accession | source |",
        "|---|---|---|---|",
    ]
    for row in genomes.itertuples():
        accession = source = ""
        if row.file in sources.index:
            accession = sources.loc[row.file].get("accession", "")
            source = sources.loc[row.file].get("source_repo", "")
        lines.append(f"| {row.genome} | {row.organism} | {accession} | {source} |")
    lines += ["", "Sources and licences: `SOURCES.tsv` of the genomes folder.", "", "## Evaluation", ""]
    if evaluations:
        lines += ["`planktonlm bench encoder-quality` (fine-tuned on the cruise's reads of train regions, scored on "
                  "read pairs of held-out regions; see the README's Benchmarks for the commands):", "",
                  *_evaluation_lines(evaluations)]
    else:
        lines.append("Not evaluated yet: run `planktonlm bench encoder-quality` and rewrite the card with `--evaluation`.")
    lines += ["", "How a base does on organisms it never saw (leave-genomes-out pretraining runs) and the "
              "commands of every figure: the README's Benchmarks section."]
    return "\n".join(lines) + "\n"


def write_model_card(model_dir: str | os.PathLike, genomes_dir: str | os.PathLike, **kwargs) -> Path:
    """Write MODEL_CARD.md into ``model_dir`` (atomically); return its path."""
    path = Path(model_dir) / CARD_FILE
    with atomic_path(path) as tmp:
        Path(tmp).write_text(model_card_text(model_dir, genomes_dir, **kwargs))
    return path
