from planktonlm.stages import Job, qc

qc.read_accounting(Job.from_snakemake(snakemake))
