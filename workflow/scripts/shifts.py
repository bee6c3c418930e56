from planktonlm.stages import Job, shifts

shifts.shifts(Job.from_snakemake(snakemake))
