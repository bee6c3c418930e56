"""Fixtures for workflow tests: a tiny simulated cruise and a snakemake runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def snakemake_command(workdir: Path, *args: str, configfile: Path | None = None) -> list[str]:
    """The command line :func:`snakemake` runs (run it in ``workdir`` with :func:`snakemake_env`)."""
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    return cmd


def snakemake_env() -> dict[str, str]:
    """The environment :func:`snakemake` runs in: the venv's tools first on PATH."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def snakemake(workdir: Path, *args: str, configfile: Path | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run the repository's workflow with ``workdir`` as working directory."""
    cmd = snakemake_command(workdir, *args, configfile=configfile)
    done = subprocess.run(cmd, cwd=workdir, env=snakemake_env(), capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}")
    return done


def write_config(path: Path, overrides: dict) -> Path:
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for key, value in overrides.items():
        if isinstance(value, dict):
            base.setdefault(key, {}).update(value)
        else:
            base[key] = value
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def run_snakemake():
    """The workflow runner: run_snakemake(workdir, *args, configfile=..., check=...)."""
    return snakemake


@pytest.fixture(scope="session")
def start_snakemake():
    """start_snakemake(workdir, *args, configfile=..., **popen_kwargs) -> Popen: run_snakemake's command, not waited for."""

    def start(workdir: Path, *args: str, configfile: Path | None = None, **popen_kwargs) -> subprocess.Popen:
        return subprocess.Popen(snakemake_command(workdir, *args, configfile=configfile), cwd=workdir, env=snakemake_env(),
                                **popen_kwargs)

    return start


@pytest.fixture(scope="session")
def tiny_cruise(tmp_path_factory) -> Path:
    """A simulated tiny cruise in a fresh working directory (cruise/ holds sheets, reads, truth)."""
    workdir = tmp_path_factory.mktemp("tiny")
    subprocess.run([str(BIN / "planktonlm"), "simulate", "--preset", "tiny", "--seed", "3", "--outdir", "cruise",
                    "--genomes", str(REPO / "resources" / "genomes")], cwd=workdir, check=True)
    shutil.copytree(REPO / "config", workdir / "config")
    return workdir


@pytest.fixture(scope="session")
def tiny_config(tiny_cruise) -> Path:
    """Config for the tiny cruise: the shipped config with the tiny sheets and small models."""
    return write_config(tiny_cruise / "tiny.yaml", TINY_SETTINGS)


@pytest.fixture(scope="session")
def tiny_full_run(tiny_cruise, tiny_config, tmp_path_factory) -> Path:
    """The whole DAG on the tiny cruise with ``tiny_config``, `make demo`'s way (default profile,
    2 cores), in its own fresh directory (shared, read-only): the report for the browser, the local
    reference of the SLURM run, the second run that test_workflow's own run must equal.

    tiny_cruise itself is left without results (test_workflow's dry run checks that).
    """
    workdir = tmp_path_factory.mktemp("tiny_full")
    shutil.copytree(tiny_cruise / "cruise", workdir / "cruise")
    shutil.copytree(tiny_cruise / "config", workdir / "config")
    snakemake(workdir, "--profile", str(REPO / "workflow" / "profiles" / "default"), configfile=tiny_config, check=True)
    return workdir


@pytest.fixture(scope="session")
def series_config():
    """series_config(path, **keys): the tiny config with top-level keys replaced (sheets, atlas, ...)."""

    def write(path: Path, **keys) -> Path:
        return write_config(path, {**TINY_SETTINGS, **keys})

    return write


@pytest.fixture(scope="session")
def tiny_config_with():
    """tiny_config_with(path, {section: {key: value}}): the tiny config with some keys changed."""

    def write(path: Path, changes: dict) -> Path:
        settings = {k: dict(v) if isinstance(v, dict) else v for k, v in TINY_SETTINGS.items()}
        for section, values in changes.items():
            settings.setdefault(section, {}).update(values)
        return write_config(path, settings)

    return write


#: the shipped config with the tiny cruise and small, fast models
TINY_SETTINGS = {
    "samples": "cruise/samples.tsv", "units": "cruise/units.tsv", "oracle_truth": "cruise/truth", "seed": 3,
    "model": {"base": str(REPO / "resources" / "models" / "marine-base-v1")},  # the shipped default: fine-tune the base
    "train": {"max_steps": 30, "batch_size": 32, "pool_reads_per_sample": 100, "warmup_steps": 5,
              "log_every": 10, "checkpoint_every": 10},
    "embed": {"reads_per_sample": 100},
    "profiles": {"n_otus": 8, "pool_reads_per_sample": 100},
    "shifts": {"n_permutations": 99, "n_repeats": 2, "models": ["ridge", "pls"], "cv_n_permutations": 19,
               "importance_repeats": 2},
    "report": {"dpi": 50},
}
