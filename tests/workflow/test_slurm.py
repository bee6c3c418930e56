"""The tiny cruise through `snakemake --profile workflow/profiles/slurm` on a real (single-node)
SLURM cluster: no --cores, no accounting, no GPUs; every job is an sbatch job, none asks for a
GPU, and the results equal a local run's byte for byte (logs and timings aside).

The cluster (tests/workflow/slurm_cluster.py) is started from Debian's slurm-wlm and munge
packages (.ci/install-slurm) and needs root; without them the test is skipped, saying why,
except where PLANKTONLM_REQUIRE_SLURM is set (CI: .ci/run), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from same_results import assert_same_results
from slurm_cluster import ClusterUnavailable, start_cluster

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROFILE = REPO / "workflow" / "profiles" / "slurm"
RUN_TIMEOUT_S = 1800


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running single-node cluster (partition `cpu`), stopped when the module's tests end."""
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm_state"))
    except ClusterUnavailable as err:
        message = f"no SLURM test cluster: {err}"
        if os.environ.get("PLANKTONLM_REQUIRE_SLURM"):
            pytest.fail(f"{message} (PLANKTONLM_REQUIRE_SLURM is set)")
        pytest.skip(message)
    yield cluster
    cluster.stop()


def sbatch_recorder(folder: Path) -> Path:
    """A `sbatch` on PATH that appends its arguments (one call per line) to sbatch.log, then
    runs the real one: the test reads what the executor asked SLURM for."""
    folder.mkdir(parents=True, exist_ok=True)
    real = shutil.which("sbatch")
    script = folder / "sbatch"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{folder / "sbatch.log"}"\nexec "{real}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


def fresh_copy(source: Path, target: Path) -> Path:
    """The tiny cruise's inputs (reads, sheets, config) in a directory of their own."""
    shutil.copytree(source / "cruise", target / "cruise")
    shutil.copytree(source / "config", target / "config")
    return target


def rule_family(rule: str) -> str:
    """The rule's name, or "embed_batch" for the embedding rules (one per batch: embed_batch_s<sheet>_b<batch>),
    which is also the folder of their logs."""
    return "embed_batch" if re.fullmatch(r"embed_batch_s\d+_b\d+", rule) else rule


def submitted(sbatch_log: Path) -> dict[str, list[str]]:
    """sbatch calls by rule family (the executor names the rule in --comment rule_<name>[_wildcards_...])."""
    calls: dict[str, list[str]] = {}
    for line in sbatch_log.read_text().splitlines():
        match = re.search(r"--comment rule_(\w+?)(?:_wildcards_\S*)? ", line)
        assert match, line
        calls.setdefault(rule_family(match.group(1)), []).append(line)
    return calls


def test_no_rule_needs_a_total_core_count():
    """`workflow.cores` fails without --cores, as in every cluster run (a dry run sets it to 1,
    so only this check and the cluster test see it): rules take fixed thread counts instead."""
    offenders = [f"{path.relative_to(REPO)}:{number}" for path in sorted((REPO / "workflow").rglob("*.smk"))
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if "workflow.cores" in line and not line.lstrip().startswith("#")]
    assert not offenders, f"thread counts from workflow.cores (use a fixed count, resources.smk): {offenders}"


def planned_jobs(dry_run_output: str) -> list[tuple[str, int, dict[str, str]]]:
    """(rule, threads, resources) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", dry_run_output):
        head = re.match(r"(?:local)?rule (\w+):\n", block)
        if not head:
            continue
        threads = re.search(r"^    threads: (\d+)$", block, re.M)
        resources = re.search(r"^    resources: (.*)$", block, re.M)
        pairs = (item.split("=", 1) for item in resources.group(1).split(", ")) if resources else ()
        jobs.append((head.group(1), int(threads.group(1)) if threads else 1, dict(pairs)))
    return jobs


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_slurm_profile_asks_for_a_gpu_only_for_cuda_jobs(device, tiny_cruise, tiny_config_with, tmp_path):
    """Dry run of the profile (no cluster needed): on the CPU no job asks for a GPU or a partition
    (the cluster's default partition takes them); with device cuda exactly the training and
    embedding jobs ask for gpu=1 and the GPU partition named in the environment. (A dry run
    sets --cores 1 by itself, capping threads: --cores 64 shows the threads a cluster job gets.)"""
    config = tiny_config_with(tmp_path / f"{device}.yaml", {"train": {"device": device}, "embed": {"device": device}})
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(tiny_cruise),
           "--profile", str(PROFILE), "--configfile", str(config), "--dry-run", "--forceall", "--cores", "64"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PLANKTONLM_SLURM_GPU_PARTITION": "gpu-test"}
    done = subprocess.run(cmd, cwd=tiny_cruise, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    jobs = planned_jobs(done.stdout + done.stderr)
    rules = {rule_family(rule) for rule, _, _ in jobs}
    assert {"train_encoder", "embed_batch", "shifts", "cutadapt_pe"} <= rules, rules
    cuda_rules = {"train_encoder", "embed_batch"} if device == "cuda" else set()
    for rule, threads, resources in jobs:
        if rule_family(rule) in cuda_rules:
            assert resources.get("gpu") == "1" and resources.get("slurm_partition") == "gpu-test", (rule, resources)
        else:
            assert resources.get("gpu", "0") == "0" and "slurm_partition" not in resources, (rule, resources)
        assert "mem_mb" in resources and "runtime" in resources, (rule, resources)
        if rule == "train_encoder":
            assert threads == (4 if device == "cuda" else 1)
        if rule == "shifts":
            assert threads == 2
        if rule_family(rule) == "embed_batch":  # runtime set by the rule: an hour + 30 min per sample of its batch
            assert int(resources["runtime"]) > 60, (rule, resources)


def test_slurm_profile_runs_the_tiny_cruise_like_a_local_run(slurm_cluster, tiny_cruise, tiny_config, tiny_full_run,
                                                             tmp_path):
    # Local reference: the session's run of the same inputs, `make demo`'s way (default profile, 2 cores).
    local = tiny_full_run

    # The same inputs through the SLURM profile as a user runs it: no --cores. Only the first
    # status check comes sooner than the plugin's 40 s (a tiny cruise's jobs take seconds).
    cluster_dir = fresh_copy(tiny_cruise, tmp_path / "cluster")
    recorder = sbatch_recorder(tmp_path / "bin")
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(cluster_dir),
           "--profile", str(PROFILE), "--configfile", str(tiny_config),
           "--slurm-init-seconds-before-status-checks", "5"]
    env = {**os.environ, "PATH": os.pathsep.join([str(recorder), str(BIN), os.environ.get("PATH", "")])}
    env.pop("SLURM_JOB_ID", None)
    done = subprocess.run(cmd, cwd=cluster_dir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"snakemake --profile slurm failed ({done.returncode}):\n{output[-8000:]}\n" \
                                 f"{slurm_cluster.log_tail()}"
    assert "Workflow requires a total number of cores" not in output

    # Every rule that ran locally ran as SLURM jobs, in the CPU partition, none asking for a GPU.
    calls = submitted(recorder / "sbatch.log")
    local_rules = {p.name for p in (local / "results" / "logs").iterdir() if p.is_dir()}
    assert local_rules <= set(calls), f"rules never submitted to SLURM: {sorted(local_rules - set(calls))}"
    for rule, rule_calls in calls.items():
        for call in rule_calls:
            assert f" -p {slurm_cluster.partition} " in call, (rule, call)
            assert "--gpus" not in call and "--gres" not in call, (rule, call)
    assert all("--cpus-per-task=1 " in call for call in calls["train_encoder"]), calls["train_encoder"]
    n_samples = len(pd.read_csv(local / "cruise" / "samples.tsv", sep="\t"))
    per_job = yaml.safe_load(tiny_config.read_text())["embed"]["samples_per_job"]
    assert len(calls["embed_batch"]) == -(-n_samples // per_job)  # one job per batch of samples

    compared = assert_same_results(local / "results", cluster_dir / "results")
    assert compared > 50
    print(f"\nSLURM run: {sum(len(c) for c in calls.values())} sbatch jobs, {len(calls)} rules; "
          f"{compared} result files equal to the local run's")
