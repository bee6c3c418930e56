"""Stage ``train_encoder``: train the read encoder on every sample's QC'd reads (from scratch, or
fine-tuning ``model.base``), or reuse ``model.checkpoint``.

Rule contract: input r1 (list, order = params samples), r2 (list, order = params paired_samples),
both absent or empty when ``model.checkpoint`` reuses a model; base_weights, base_config,
base_tokenizer, base_sha256 (the files of the ``model.base`` folder, declared so that a changed base
reruns training; the stage reads the folder that params model names); output weights, config,
tokenizer, sha256, train_log (the files of one model folder); params model, train (sections), seed,
samples, paired_samples; threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from planktonlm.config import build_config
from planktonlm.encoder.model import ModelConfig
from planktonlm.encoder.model_dir import (
    CONFIG_FILE,
    LOG_FILE,
    SHA_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    import_checkpoint,
    training_architecture,
)
from planktonlm.encoder.train import TrainConfig
from planktonlm.encoder.train import train_encoder as train_model
from planktonlm.io import setup_logging
from planktonlm.stages import Job, read_sources

# Declared output -> its file name in the model folder.
MODEL_FILES = {"weights": WEIGHTS_FILE, "config": CONFIG_FILE, "tokenizer": TOKENIZER_FILE, "sha256": SHA_FILE,
               "train_log": LOG_FILE}


def train_encoder(job: Job) -> None:
    """Write the model folder of ``job.output`` (model.pt, config.json, tokenizer.json, weights.sha256, train_log.tsv)."""
    setup_logging(job.log)
    model_section = build_config(ModelConfig, "model", job.params["model"])
    train_cfg = build_config(TrainConfig, "train", job.params["train"])
    model_dir = model_folder(job.output)
    if model_section.checkpoint:  # wins over model.base (import_checkpoint says so)
        import_checkpoint(model_section, model_dir)
    else:
        sources = read_sources(job.params["samples"], job.params["paired_samples"], job.input.get("r1", []),
                               job.input.get("r2", []), rule="train_encoder")
        base_dir = Path(job.input["base_weights"]).parent if job.input.get("base_weights") else None  # as the rule resolved it
        model_cfg, tok_spec, base = training_architecture(model_section, base_dir)
        train_model(sources, model_dir, model_cfg, tok_spec, train_cfg, job.params["seed"], threads=job.threads,
                    base=base)
    missing = [job.output[name] for name in MODEL_FILES if not Path(job.output[name]).is_file()]
    if missing:
        raise RuntimeError(f"train_encoder did not write {', '.join(missing)}")


def model_folder(output: Mapping[str, str]) -> Path:
    """The one folder that holds every declared output, each under the name the model folder gives it."""
    folder = Path(output["weights"]).parent
    wrong = [f"{name}={output[name]}" for name, file in MODEL_FILES.items() if Path(output[name]) != folder / file]
    if wrong:
        raise ValueError(f"train_encoder outputs must be {', '.join(MODEL_FILES.values())} of one folder ({folder}); "
                         f"got {', '.join(wrong)}")
    return folder
