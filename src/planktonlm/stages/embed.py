"""Stage ``embed_sample``: one strand-invariant vector per fragment of a sample.

Rule contract: input r1, r2 (only paired), weights, model_config, tokenizer (the model folder's
files); output npy, ids; params embed (section), seed, sample; threads.
"""

from __future__ import annotations

import logging
from pathlib import Path

from planktonlm.config import build_config
from planktonlm.encoder.embed import EmbedConfig
from planktonlm.encoder.embed import embed_sample as embed_reads
from planktonlm.encoder.model_dir import CONFIG_FILE, TOKENIZER_FILE
from planktonlm.io import setup_logging
from planktonlm.stages import Job

logger = logging.getLogger(__name__)


def embed_sample(job: Job) -> None:
    """Write ``job.output["npy"]`` (float16, fragments x d_model) and ``job.output["ids"]`` (one read id a line)."""
    setup_logging(job.log)
    cfg = build_config(EmbedConfig, "embed", job.params["embed"])
    model_dir = Path(job.input["weights"]).parent
    for name, file in (("model_config", CONFIG_FILE), ("tokenizer", TOKENIZER_FILE)):
        if Path(job.input[name]) != model_dir / file:
            raise ValueError(f"embed_sample input {name} must be {model_dir / file} (the folder of the weights), "
                             f"got {job.input[name]}")
    n = embed_reads(job.input["r1"], job.input.get("r2"), model_dir, job.output["npy"], job.output["ids"], cfg,
                    job.params["seed"], threads=job.threads)
    logger.info("sample %s: %d fragments embedded", job.params["sample"], n)
