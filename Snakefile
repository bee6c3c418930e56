# planktonlm: ocean plankton metagenome time series -> DNA transformer -> community shifts vs climate.
# Layout and stage contracts: see README.md and config/README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/profile.smk"
include: "workflow/rules/cube.smk"
include: "workflow/rules/ecology.smk"
include: "workflow/rules/shifts.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
