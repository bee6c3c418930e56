from planktonlm.stages import Job, qc

qc.multiqc(Job.from_snakemake(snakemake))
