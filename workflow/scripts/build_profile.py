from planktonlm.stages import Job, profiles

profiles.build_profile(Job.from_snakemake(snakemake))
