from pathlib import Path

from planktonlm.io import setup_logging
from planktonlm.shifts import run_shift_stage

setup_logging(snakemake.log[0])
run_shift_stage(
    snakemake.input[0],
    outdir=Path(snakemake.output.models).parent,
    shifts_cfg=snakemake.params.shifts,
    seed=snakemake.params.seed,
    n_jobs=snakemake.threads,
)
