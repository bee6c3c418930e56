from planktonlm.io import setup_logging
from planktonlm.qc import run_multiqc

setup_logging(snakemake.log[0])
run_multiqc(list(snakemake.input), snakemake.output[0], log=snakemake.log[0])
