from planktonlm.io import setup_logging
from planktonlm.qc import qc_sample

setup_logging(snakemake.log[0])
qc_sample(
    snakemake.wildcards.sample,
    unit_r1=list(snakemake.input.r1),
    unit_r2=list(snakemake.input.get("r2", [])),
    cutadapt_jsons=list(snakemake.input.reports),
    out_r1=snakemake.output.r1,
    out_r2=snakemake.output.get("r2"),
    out_accounting=snakemake.output.accounting,
)
