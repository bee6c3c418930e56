from pathlib import Path

from planktonlm.encoder.embed import EmbedConfig, embed_sample
from planktonlm.io import setup_logging

setup_logging(snakemake.log[0])
embed_sample(
    snakemake.input.r1,
    snakemake.input.get("r2"),
    model_dir=Path(snakemake.input.weights).parent,
    out_npy=snakemake.output.npy,
    out_ids=snakemake.output.ids,
    embed_cfg=EmbedConfig(**snakemake.params.embed),
    seed=snakemake.params.seed,
    threads=snakemake.threads,
)
