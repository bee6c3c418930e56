"""Stage ``embed_batch``: one strand-invariant vector per fragment of each sample of a batch.

One job embeds a batch of samples (config ``embed.samples_per_job``, cut by
:mod:`planktonlm.inputs.batches`) in one process: torch is imported and the model loaded once.
Each sample's files are those a job of its own would write (byte for byte).

Rule contract: input r1 (list, order = params samples), r2 (list, order = params paired_samples),
weights, model_config, tokenizer (the model folder's files); output npy, ids (lists, order =
params samples); params embed (section), seed, samples, paired_samples; threads.
"""

from __future__ import annotations

from pathlib import Path

from planktonlm.config import build_config
from planktonlm.encoder.embed import EmbedConfig, SampleFiles, embed_samples
from planktonlm.encoder.model_dir import CONFIG_FILE, TOKENIZER_FILE
from planktonlm.io import setup_logging
from planktonlm.stages import Job, read_sources


def embed_batch(job: Job) -> None:
    """Write every sample's ``npy`` (float16, fragments x d_model) and ``ids`` (one read id a line)."""
    setup_logging(job.log)
    cfg = build_config(EmbedConfig, "embed", job.params["embed"])
    embed_samples(batch_files(job), model_folder(job), cfg, job.params["seed"], threads=job.threads)


def model_folder(job: Job) -> Path:
    """The folder of the weights, which must also hold the declared config and tokenizer."""
    model_dir = Path(job.input["weights"]).parent
    for name, file in (("model_config", CONFIG_FILE), ("tokenizer", TOKENIZER_FILE)):
        if Path(job.input[name]) != model_dir / file:
            raise ValueError(f"embed_batch input {name} must be {model_dir / file} (the folder of the weights), "
                             f"got {job.input[name]}")
    return model_dir


def batch_files(job: Job) -> list[SampleFiles]:
    """Each sample of the batch with its reads and its two outputs, from params and the named lists
    (nothing is parsed out of file names). Checked before any sample is embedded."""
    samples = list(job.params["samples"])
    sources = read_sources(samples, job.params["paired_samples"], job.input.get("r1", []), job.input.get("r2", []),
                           rule="embed_batch")
    npy, ids = (_as_list(job.output[name]) for name in ("npy", "ids"))
    if len(npy) != len(samples) or len(ids) != len(samples):
        raise ValueError(f"embed_batch outputs npy and ids must name one file per sample ({len(samples)}), "
                         f"got {len(npy)} and {len(ids)}")
    return [SampleFiles(sample, *sources[sample], npy_file, ids_file)
            for sample, npy_file, ids_file in zip(samples, npy, ids)]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
