from planktonlm.stages import Job, profiles

profiles.collect_profile(Job.from_snakemake(snakemake))
