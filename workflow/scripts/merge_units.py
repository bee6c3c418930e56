from planktonlm.stages import Job, qc

qc.merge_units(Job.from_snakemake(snakemake))
