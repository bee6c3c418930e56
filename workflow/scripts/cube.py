from planktonlm.stages import Job, cube

cube.cube(Job.from_snakemake(snakemake))
