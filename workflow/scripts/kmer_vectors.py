from planktonlm.stages import Job, profiles

profiles.kmer_vectors(Job.from_snakemake(snakemake))
