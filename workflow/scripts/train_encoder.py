from planktonlm.stages import Job, train

train.train_encoder(Job.from_snakemake(snakemake))
