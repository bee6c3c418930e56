from planktonlm.stages import Job, qc

qc.cutadapt(Job.from_snakemake(snakemake))
