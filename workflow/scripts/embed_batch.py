from planktonlm.stages import Job, embed

embed.embed_batch(Job.from_snakemake(snakemake))
