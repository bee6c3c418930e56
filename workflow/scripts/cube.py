from planktonlm.cube import cube_stage
from planktonlm.io import setup_logging

setup_logging(snakemake.log[0])
cube_stage(dict(snakemake.input.items()), out_nc=snakemake.output[0], config=snakemake.params.config)
