from pathlib import Path

from planktonlm.io import setup_logging
from planktonlm.shifts import run_shift_stage_from_rule

setup_logging(snakemake.log[0])
run_shift_stage_from_rule(dict(snakemake.input.items()), Path(snakemake.output.models).parent, snakemake.params.shifts,
                          snakemake.params.seed, n_jobs=snakemake.threads)
