"""The workflow itself: lint, the full DAG, a real QC run, and refusal of bad inputs before any job."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dnaio
import pandas as pd
import pytest


pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
BAD_INPUTS = REPO / "tests" / "data" / "bad_inputs"


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    table = dry_run_output.split("Job stats:", 1)[1].split("total", 1)[0]
    rows = (line.split() for line in table.splitlines()[3:])
    return {row[0]: int(row[1]) for row in rows if len(row) == 2}


def test_lint_is_clean(run_snakemake, tiny_cruise, tiny_config):
    done = run_snakemake(tiny_cruise, "--lint", configfile=tiny_config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Congratulations, your workflow is in a good condition!" in done.stdout + done.stderr


def test_dry_run_plans_every_stage(run_snakemake, tiny_cruise, tiny_config):
    done = run_snakemake(tiny_cruise, "--dry-run", configfile=tiny_config, check=True)
    samples = pd.read_csv(tiny_cruise / "cruise" / "samples.tsv", sep="\t")
    units = pd.read_csv(tiny_cruise / "cruise" / "units.tsv", sep="\t")
    counts = job_counts(done.stdout + done.stderr)
    assert counts["cutadapt_pe"] == len(units)
    assert counts["merge_units_pe"] == len(samples)
    assert counts["read_accounting"] == counts["multiqc"] == 1
    assert not (tiny_cruise / "results").exists()


def test_qc_run_accounts_for_every_read(run_snakemake, tiny_cruise, tiny_config):
    run_snakemake(tiny_cruise, "results/qc/read_accounting.tsv", "results/qc/multiqc_report.html",
              configfile=tiny_config, check=True)
    results = tiny_cruise / "results"
    accounting = pd.read_csv(results / "qc" / "read_accounting.tsv", sep="\t")
    samples = pd.read_csv(tiny_cruise / "cruise" / "samples.tsv", sep="\t")
    units = pd.read_csv(tiny_cruise / "cruise" / "units.tsv", sep="\t")
    assert list(accounting["sample"]) == list(samples["sample"])
    for row in accounting.itertuples():
        reports = [json.loads(p.read_text()) for p in sorted((results / "qc" / "units" / row.sample).glob("*.cutadapt.json"))]
        assert len(reports) == (units["sample"] == row.sample).sum()
        assert row.raw_reads == sum(r["read_counts"]["input"] for r in reports)
        assert row.kept_reads == sum(r["read_counts"]["output"] for r in reports)
        assert row.kept_reads + row.removed_reads == row.raw_reads
        # raw = reads in the user's FASTQ files, counted independently of cutadapt
        raw = sum(sum(1 for _ in dnaio.open(tiny_cruise / fq)) for fq in units.loc[units["sample"] == row.sample, "fq1"])
        assert raw == row.raw_reads
        with dnaio.open(results / "qc" / f"{row.sample}_R1.fastq.gz", results / "qc" / f"{row.sample}_R2.fastq.gz") as reader:
            assert sum(1 for _ in reader) == row.kept_reads
    html = (results / "qc" / "multiqc_report.html").read_text()
    assert "cutadapt" in html.lower()
    assert not list((results / "qc" / "units").glob("*/*.fastq")), "per-unit plain FASTQ should be temporary"
    for rule in ("cutadapt_pe", "merge_units_pe", "read_accounting", "multiqc"):
        assert (results / "logs" / rule).is_dir(), rule


def bad_cases() -> list[Path]:
    return sorted(p for p in BAD_INPUTS.iterdir() if (p / "config.yaml").exists()) if BAD_INPUTS.exists() else []


@pytest.mark.parametrize("case", bad_cases(), ids=lambda p: p.name)
def test_bad_input_stops_before_any_job(run_snakemake, case, tmp_path):
    """Every case of the bad-input corpus is refused at parse time with a precise message."""
    shutil.copytree(BAD_INPUTS, tmp_path / BAD_INPUTS.relative_to(REPO))  # cases share _reads/
    target = tmp_path / case.relative_to(REPO)
    done = run_snakemake(tmp_path, "--cores", "1", configfile=target / "config.yaml")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "planktonlm found" in output and "problem" in output
    expected = (case / "expected.txt").read_text().splitlines() if (case / "expected.txt").exists() else []
    for needle in (line.strip() for line in expected if line.strip() and not line.startswith("#")):
        assert needle in output, f"{case.name}: {needle!r} missing from\n{output[-3000:]}"
    assert not (tmp_path / "results").exists(), "a job ran although the input was bad"
