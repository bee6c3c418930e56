from planktonlm.ecology import EcologyConfig, run_ecology
from planktonlm.io import setup_logging

setup_logging(snakemake.log[0])
run_ecology(
    snakemake.input[0],
    snakemake.wildcards.profile,
    outputs=dict(snakemake.output.items()),
    cfg=EcologyConfig(**snakemake.params.ecology),
    seed=snakemake.params.seed,
)
