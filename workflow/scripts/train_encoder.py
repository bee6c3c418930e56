from pathlib import Path

from planktonlm.encoder.model import ModelConfig
from planktonlm.encoder.train import TrainConfig, prepare_model
from planktonlm.io import setup_logging
from planktonlm.reads import qc_sources

setup_logging(snakemake.log[0])
prepare_model(
    ModelConfig(**snakemake.params.model),
    TrainConfig(**snakemake.params.train),
    sources=qc_sources(snakemake.input.r1, snakemake.input.get("r2", [])),
    model_dir=Path(snakemake.output.weights).parent,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
)
