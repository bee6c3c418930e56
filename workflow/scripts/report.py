from planktonlm.stages import Job, report

report.report(Job.from_snakemake(snakemake))
