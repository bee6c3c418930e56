from planktonlm.stages import Job, profiles

profiles.assign_profile(Job.from_snakemake(snakemake))
