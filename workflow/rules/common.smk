# Parse-time validation and input functions. Everything here runs before any job starts:
# a bad config, sample sheet, unit sheet or FASTQ stops the run with every problem listed.
import re

from planktonlm.config import validate_config
from planktonlm.samples import load_cruise


config.update(validate_config(config))

CRUISE = load_cruise(
    config["samples"],
    config["units"],
    fastq_scan=config["validate"]["fastq_scan"],
    pressure_tolerance=config["validate"]["pressure_tolerance"],
    # Files that passed a full scan (same path, size, mtime) are not streamed again at every parse.
    scan_cache=".snakemake/planktonlm/fastq_scans.json",
)
SAMPLES = CRUISE.sample_ids()


def id_regex(ids):
    """Wildcard constraint matching exactly these ids (never matches when empty)."""
    return "|".join(re.escape(i) for i in ids) or "(?!)"


wildcard_constraints:
    sample=id_regex(SAMPLES),
    unit="[A-Za-z0-9._-]+",


PAIRED = id_regex(CRUISE.paired_samples())
SINGLE = id_regex(CRUISE.single_samples())


def unit_fastqs(wildcards):
    """Raw FASTQ(s) of one unit: {'fq1': ..., 'fq2': ...} (fq2 only when paired)."""
    unit = CRUISE.unit(wildcards.sample, wildcards.unit)
    return {"fq1": unit.fq1, "fq2": unit.fq2} if unit.fq2 else {"fq1": unit.fq1}


def qc_units_r1(wildcards):
    return [f"results/qc/units/{wildcards.sample}/{u}_R1.fastq" for u in CRUISE.unit_ids(wildcards.sample)]


def qc_units_r2(wildcards):
    return [f"results/qc/units/{wildcards.sample}/{u}_R2.fastq" for u in CRUISE.unit_ids(wildcards.sample)]


def cutadapt_jsons(wildcards):
    return [f"results/qc/units/{wildcards.sample}/{u}.cutadapt.json" for u in CRUISE.unit_ids(wildcards.sample)]


def all_cutadapt_reports(wildcards):
    return [f"results/qc/units/{s}/{u}.cutadapt.txt" for s in SAMPLES for u in CRUISE.unit_ids(s)]


def qc_outputs():
    return ["results/qc/read_accounting.tsv", "results/qc/multiqc_report.html"]


def all_outputs():
    return qc_outputs()
