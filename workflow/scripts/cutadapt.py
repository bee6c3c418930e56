from planktonlm.io import setup_logging
from planktonlm.qc import QcConfig, run_cutadapt

setup_logging(snakemake.log[0])
run_cutadapt(
    QcConfig(**snakemake.params.qc),
    fq1=snakemake.input.fq1,
    fq2=snakemake.input.get("fq2"),
    out1=snakemake.output.r1,
    out2=snakemake.output.get("r2"),
    json_report=snakemake.output.json,
    text_report=snakemake.output.report,
    log=snakemake.log[0],
    threads=snakemake.threads,
)
