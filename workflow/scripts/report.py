from planktonlm.io import setup_logging
from planktonlm.report import ReportConfig, report_stage

setup_logging(snakemake.log[0])
report_stage(
    dict(snakemake.input.items()),
    out_html=snakemake.output[0],
    cfg=ReportConfig(**snakemake.params.report),
    seed=snakemake.params.seed,
    checkpoint=snakemake.params.checkpoint,
)
