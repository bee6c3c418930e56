from planktonlm.stages import Job, profiles

profiles.fit_codebook(Job.from_snakemake(snakemake))
