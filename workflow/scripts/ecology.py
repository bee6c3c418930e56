from planktonlm.stages import Job, ecology

ecology.ecology(Job.from_snakemake(snakemake))
