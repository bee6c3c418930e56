from planktonlm.stages import Job, embed

embed.embed_sample(Job.from_snakemake(snakemake))
