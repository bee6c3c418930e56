from planktonlm.io import setup_logging
from planktonlm.qc import collect_accounting

setup_logging(snakemake.log[0])
collect_accounting(list(snakemake.input), snakemake.output[0])
