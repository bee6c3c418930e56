from planktonlm.stages import Job, qc

qc.check_fastq(Job.from_snakemake(snakemake))
