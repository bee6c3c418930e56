from planktonlm.io import setup_logging
from planktonlm.profiles import ProfilesConfig, profile_stage

setup_logging(snakemake.log[0])
profile_stage(
    snakemake.wildcards.profile,
    vectors=dict(zip(snakemake.params.samples, snakemake.input)),
    outputs=dict(snakemake.output.items()),
    cfg=ProfilesConfig(**snakemake.params.profiles),
    seed=snakemake.params.seed,
)
