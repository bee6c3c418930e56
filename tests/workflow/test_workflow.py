"""The workflow itself: lint, the full DAG, a real QC run, and refusal of bad inputs before any job."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dnaio
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from same_results import assert_same_results

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
    assert counts["check_fastq"] == counts["cutadapt_pe"] == len(units)
    assert counts["merge_units_pe"] == counts["kmer_vectors"] == len(samples)
    # embedding: one job per embed.samples_per_job samples of the (one) sheet, each a rule of its own
    per_job = yaml.safe_load(tiny_config.read_text())["embed"]["samples_per_job"]
    n_batches = -(-len(samples) // per_job)
    assert 1 < n_batches < len(samples)
    assert {rule: n for rule, n in counts.items() if rule.startswith("embed_batch_")} == \
        {f"embed_batch_s1_b{i}": 1 for i in range(1, n_batches + 1)}
    assert counts["fit_codebook"] == counts["collect_profile"] == counts["ecology"] == 2
    assert counts["assign_profile"] == 2 * len(samples)
    for rule in ("read_accounting", "multiqc", "train_encoder", "cube", "shifts", "report"):
        assert counts[rule] == 1, rule
    assert not (tiny_cruise / "results").exists()


@pytest.fixture(scope="module")
def full_run(run_snakemake, tiny_cruise, tiny_config) -> Path:
    """The whole DAG on the tiny cruise (QC -> train -> embed -> profiles -> cube -> stats -> report)."""
    run_snakemake(tiny_cruise, configfile=tiny_config, check=True)
    return tiny_cruise


def test_qc_run_accounts_for_every_read(full_run):
    tiny_cruise = full_run
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


def caught_by(case: Path) -> str:
    """"parse time" or "check_fastq SAMPLE UNIT" (expected.txt, written by make_corpus.py)."""
    lines = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("# caught by:"))


@pytest.mark.parametrize("case", bad_cases(), ids=lambda p: p.name)
def test_bad_input_stops_before_any_job(run_snakemake, case, tmp_path):
    """Every case of the bad-input corpus is refused with a precise message: sheet and file problems
    at parse time (no job runs, no results/ at all), FASTQ content problems by the unit's
    check_fastq job (the job fails, the message is in its log and in Snakemake's output, and that
    unit is never trimmed nor any sample merged)."""
    shutil.copytree(BAD_INPUTS, tmp_path / BAD_INPUTS.relative_to(REPO))  # cases share _reads/
    target = tmp_path / case.relative_to(REPO)
    done = run_snakemake(tmp_path, "--cores", "1", configfile=target / "config.yaml")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "planktonlm found" in output and "problem" in output
    expected = (case / "expected.txt").read_text().splitlines() if (case / "expected.txt").exists() else []
    needles = [line.strip() for line in expected if line.strip() and not line.startswith("#")]
    for needle in needles:
        assert needle in output, f"{case.name}: {needle!r} missing from\n{output[-3000:]}"
    results = tmp_path / "results"
    if caught_by(case) == "parse time":
        assert not results.exists(), "a job ran although the input was bad"
        return
    _, sample, unit = caught_by(case).split()
    assert "Error in rule check_fastq" in output
    log = (results / "logs" / "check_fastq" / sample / f"{unit}.log").read_text()
    for needle in needles:
        assert needle in log, f"{case.name}: {needle!r} missing from the check's log\n{log[-3000:]}"
    assert not (results / "qc" / "checks" / sample / f"{unit}.tsv").exists(), "a failed check left its report"
    assert not list((results / "qc" / "units" / sample).glob(f"{unit}*")), "the bad unit was trimmed"
    assert not list((results / "qc").glob("*.fastq.gz")), "reads were merged although a unit is bad"


GOOD_VARIANTS = REPO / "tests" / "data" / "good_variants"


@pytest.mark.parametrize("variant", sorted(p for p in GOOD_VARIANTS.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_spreadsheet_variant_of_a_good_cruise_plans_its_qc(run_snakemake, variant, tmp_path):
    """CR LF, CR, byte-order marks, UTF-16 (what spreadsheets write) pass parse time: the good
    cruise's units are planned, no '\\r' or BOM in any path."""
    for folder in ("good_cruise", "good_variants"):
        shutil.copytree(REPO / "tests" / "data" / folder, tmp_path / "tests" / "data" / folder)
    done = run_snakemake(tmp_path, "--dry-run", "results/qc/multiqc_report.html",
                         configfile=tmp_path / variant.relative_to(REPO) / "config.yaml", check=True)
    counts = job_counts(done.stdout + done.stderr)
    assert counts["check_fastq"] == counts["cutadapt_pe"] == 4
    assert not (tmp_path / "results").exists()


def test_every_stage_writes_its_contract(full_run):
    results = full_run / "results"
    samples = pd.read_csv(full_run / "cruise" / "samples.tsv", sep="\t")["sample"].tolist()
    for name in ("model.pt", "config.json", "tokenizer.json", "train_log.tsv", "weights.sha256"):
        assert (results / "model" / name).stat().st_size > 0, name
    for sample in samples:
        vectors = np.load(results / "embed" / f"{sample}.npy")
        ids = (results / "embed" / f"{sample}.ids.txt").read_text().split()
        assert vectors.dtype == np.float16 and vectors.shape[0] == len(ids) == 100
        assert np.load(results / "profile" / "kmer" / "vectors" / f"{sample}.npy").shape == (100, 136)
    for profile in ("embedding", "kmer"):
        counts = pd.read_csv(results / "profile" / profile / "counts.tsv", sep="\t", index_col="sample")
        assert counts.index.tolist() == samples and counts.shape[1] == 8
        assert (counts.sum(axis=1) == 100).all()  # every embedded fragment counted once
    cube = xr.open_dataset(results / "cube.nc", engine="h5netcdf")
    assert set(cube.attrs["profiles"].strip("[]").replace('"', "").split(", ")) == {"embedding", "kmer", "oracle"}
    assert cube.attrs["model_sha256"] == (results / "model" / "weights.sha256").read_text().split()[0]
    cv = pd.read_csv(results / "shifts" / "cv_metrics.tsv", sep="\t")
    assert {"embedding", "kmer"} <= set(cv["profile"])
    html = (results / "report.html").read_text()
    for section in ("overview", "cruise", "read-accounting", "training", "dbrda", "predictions", "comparison", "provenance"):
        assert f'id="{section}"' in html, section
    for rule_dir in ("train_encoder", "embed_batch", "kmer_vectors", "fit_codebook", "assign_profile", "collect_profile", "cube",
                     "ecology", "shifts", "report"):
        assert any((results / "logs" / rule_dir).iterdir()), rule_dir


def test_same_inputs_same_results(full_run, tiny_full_run):
    """A second run in a fresh directory (the session's shared run of the same inputs and config,
    another process, another path) gives byte-identical result files (logs and timings aside: same_results)."""
    assert tiny_full_run.resolve() != full_run.resolve()
    compared = assert_same_results(full_run / "results", tiny_full_run / "results")
    assert compared > 50


def test_one_embedding_job_per_sample_gives_the_same_vectors(full_run, run_snakemake, tiny_config_with, tmp_path):
    """embed.samples_per_job 1 (one process per sample, as before batches) embeds every sample
    exactly as the full run's batches did: a sample's vectors do not depend on the other samples of
    its job. Only the embedding jobs run (QC'd reads and model copied with their times)."""
    again = tmp_path / "one_per_job"
    for folder in ("cruise", "config", "results/qc", "results/model"):
        shutil.copytree(full_run / folder, again / folder)  # copy2: times kept, so nothing upstream is out of date
    config = tiny_config_with(again / "one_per_job.yaml", {"embed": {"samples_per_job": 1}})
    samples = pd.read_csv(full_run / "cruise" / "samples.tsv", sep="\t")["sample"].tolist()
    targets = [f"results/embed/{sample}.{suffix}" for sample in samples for suffix in ("npy", "ids.txt")]
    done = run_snakemake(again, "--dry-run", *targets, configfile=config, check=True)
    planned = job_counts(done.stdout + done.stderr)
    assert planned == {f"embed_batch_s1_b{i}": 1 for i in range(1, len(samples) + 1)}, planned
    run_snakemake(again, *targets, configfile=config, check=True)
    for target in targets:
        assert (again / target).read_bytes() == (full_run / target).read_bytes(), target
    assert len(list((again / "results" / "logs" / "embed_batch").iterdir())) == len(samples)


@pytest.mark.parametrize(
    ("section", "change", "reruns"),
    [
        ("report", {"dpi": 51}, {"report"}),
        ("shifts", {"n_repeats": 3}, {"shifts", "report"}),
        ("ecology", {"n_pcoa_axes": 9}, {"ecology", "shifts", "report"}),
    ],
)
def test_a_changed_option_reruns_only_what_reads_it(full_run, run_snakemake, tiny_config_with, section, change, reruns):
    """Each rule gets only its own config sections, and the cube hashes only those upstream of it."""
    changed = tiny_config_with(full_run / f"changed_{section}.yaml", {section: change})
    done = run_snakemake(full_run, "--dry-run", configfile=changed, check=True)
    planned = set(job_counts(done.stdout + done.stderr)) - {"all"}
    assert planned == reruns, done.stdout[-3000:]
