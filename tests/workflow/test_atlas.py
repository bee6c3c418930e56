"""Cruise after cruise: freeze an atlas from year 1, add year 2 in its space, replace the atlas.

Two simulated cruises of the same stations a year apart; year 2 also carries a genome that year 1
lacks. The atlas frozen from year 1's run must place year 2 on year 1's OTU axis, leave year 1's
per-sample results untouched, and say how much of year 2 lies beyond it (novelty).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

NEW_GENOME = "emiliania_huxleyi_virus_86"  # a giant alga virus: nothing like it in the tiny cruise
TINY_GENOMES = ("prochlorococcus_marinus_MIT9312", "prochlorococcus_marinus_MIT9313", "pelagibacter_ubique_HTCC1062",
                "nitrosopumilus_maritimus_SCM1", "alteromonas_macleodii_TARA_ASE_MAG_00031", "cyanophage_P_SSP7")


def simulate(workdir: Path, outdir: str, seed: int, cruise: str, first_month: str, genomes: tuple[str, ...]) -> None:
    subprocess.run([str(BIN / "planktonlm"), "simulate", "--preset", "tiny", "--seed", str(seed), "--outdir", outdir,
                    "--cruise", cruise, "--first-month", first_month, "--genome-names", ",".join(genomes),
                    "--genomes", str(REPO / "resources" / "genomes")], cwd=workdir, check=True)


def planned(dry_run: str) -> dict[str, set[str]]:
    """{rule: set of its jobs' sample wildcards ("" for jobs without one)} of a dry run's output.

    Embedding jobs (one rule per batch of samples, embed_batch_s<sheet>_b<batch>, no wildcards) are
    listed together as "embed_batch", with the samples whose vectors their output lines name."""
    jobs: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if not head:
            continue
        if re.fullmatch(r"embed_batch_s\d+_b\d+", head.group(1)):
            output = re.search(r"^\s*output: (.*)$", block, re.M).group(1)
            embedded = re.findall(r"results/embed/([^,\s]+)\.npy", output)
            assert embedded, block
            jobs.setdefault("embed_batch", set()).update(embedded)
            continue
        sample = re.search(r"wildcards:.*?\bsample=([^,\s]+)", block)
        jobs.setdefault(head.group(1), set()).add(sample.group(1) if sample else "")
    jobs.pop("all", None)
    return jobs


def two_years(atlas: str) -> dict:
    """Config keys of the two-year series embedded in ``atlas``."""
    return {"samples": ["y1/samples.tsv", "y2/samples.tsv"], "units": ["y1/units.tsv", "y2/units.tsv"],
            "oracle_truth": ["y1/truth", "y2/truth"], "atlas": atlas}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def series(run_snakemake, series_config, tmp_path_factory) -> Path:
    """Year 1 run and frozen into atlas/Y1; the two-year config (year 1 + year 2 in the atlas) beside it."""
    workdir = tmp_path_factory.mktemp("series")
    simulate(workdir, "y1", 3, "TINY21", "2021-02", TINY_GENOMES)
    simulate(workdir, "y2", 4, "TINY22", "2022-02", TINY_GENOMES + (NEW_GENOME,))
    shutil.copytree(REPO / "config", workdir / "config")
    year1 = series_config(workdir / "y1.yaml", samples="y1/samples.tsv", units="y1/units.tsv", oracle_truth="y1/truth")
    run_snakemake(workdir, configfile=year1, check=True)
    subprocess.run([str(BIN / "planktonlm"), "atlas", "freeze", "results", "--out", "atlas/Y1", "--config", str(year1)],
                   cwd=workdir, check=True)
    # What year 1's run wrote, before year 2 is added
    shutil.copytree(workdir / "results", workdir / "year1_results")
    series_config(workdir / "y12.yaml", **two_years("atlas/Y1"))
    return workdir


def test_adding_year_2_plans_only_its_samples_and_the_cross_cruise_stages(series, run_snakemake):
    year2 = set(pd.read_csv(series / "y2" / "samples.tsv", sep="\t")["sample"])
    done = run_snakemake(series, "--dry-run", configfile=series / "y12.yaml", check=True)
    jobs = planned(done.stdout + done.stderr)
    for rule in ("check_fastq", "cutadapt_pe", "merge_units_pe", "embed_batch", "kmer_vectors", "assign_profile"):
        assert jobs.pop(rule) == year2, rule  # embedding: no batch that holds a year-1 sample
    assert "train_encoder" not in jobs and "fit_codebook" not in jobs
    cross_cruise = {"read_accounting", "multiqc", "collect_profile", "cube", "ecology", "shifts", "report"}
    assert set(jobs) == cross_cruise, jobs
    assert all(samples == {""} for samples in jobs.values())


@pytest.fixture(scope="module")
def both_years(series, run_snakemake) -> Path:
    run_snakemake(series, configfile=series / "y12.yaml", check=True)
    return series


def test_year_1_results_are_untouched_and_year_2_lands_on_the_same_otus(both_years):
    results, before = both_years / "results", both_years / "year1_results"
    year1 = pd.read_csv(both_years / "y1" / "samples.tsv", sep="\t")["sample"].tolist()
    year2 = pd.read_csv(both_years / "y2" / "samples.tsv", sep="\t")["sample"].tolist()
    for sample in year1:
        for rel in (f"embed/{sample}.npy", f"embed/{sample}.ids.txt", f"profile/kmer/vectors/{sample}.npy",
                    f"profile/embedding/samples/{sample}.counts.tsv", f"profile/kmer/samples/{sample}.counts.tsv"):
            assert (results / rel).read_bytes() == (before / rel).read_bytes(), rel
    for profile in ("embedding", "kmer"):
        old = pd.read_csv(before / "profile" / profile / "counts.tsv", sep="\t", index_col="sample")
        new = pd.read_csv(results / "profile" / profile / "counts.tsv", sep="\t", index_col="sample")
        assert new.index.tolist() == year1 + year2 and new.columns.tolist() == old.columns.tolist()
        pd.testing.assert_frame_equal(new.loc[year1], old)
    cube = xr.open_dataset(results / "cube.nc", engine="h5netcdf")
    assert sorted(set(cube["cruise"].values.tolist())) == ["TINY21", "TINY22"]
    assert cube.sizes["sample"] == len(year1) + len(year2)
    assert cube.attrs["model_sha256"] == (before / "model" / "weights.sha256").read_text().split()[0]


def test_novelty_flags_the_samples_with_the_new_genome(both_years):
    results = both_years / "results"
    novelty = pd.read_csv(results / "profile" / "embedding" / "novelty.tsv", sep="\t", index_col="sample")
    truth = pd.read_csv(both_years / "y2" / "truth" / "abundance.tsv", sep="\t", index_col="sample")
    carriers = truth.index[truth[NEW_GENOME] > 0.02].tolist()
    year1 = pd.read_csv(both_years / "y1" / "samples.tsv", sep="\t")["sample"].tolist()
    assert carriers, "the new genome should be present in year 2"
    y1, y2 = novelty.loc[year1, "novelty"], novelty.loc[carriers, "novelty"]
    print(f"novelty: year 1 mean {y1.mean():.3f} (max {y1.max():.3f}); year-2 carriers mean {y2.mean():.3f} "
          f"(min {y2.min():.3f})")
    assert y2.mean() > 3 * max(y1.mean(), 0.01) and y2.min() > y1.median()
    cube = xr.open_dataset(results / "cube.nc", engine="h5netcdf")
    assert np.allclose(cube["novelty_embedding"].sel(sample=carriers).values, y2.values)


def test_the_combined_statistics_recover_temperature_first(both_years):
    forward = pd.read_csv(both_years / "results" / "shifts" / "dbrda_forward.tsv", sep="\t")
    first = forward[(forward["profile"] == "embedding") & (forward["step"] == 1)]
    assert set(first["variable"]) == {"temperature_c"}, first


def test_a_replaced_atlas_reruns_embedding_and_everything_after(both_years, run_snakemake, series_config):
    atlas, replaced = both_years / "atlas" / "Y1", both_years / "atlas" / "Y1b"
    shutil.copytree(atlas, replaced)
    for path in replaced.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    base = REPO / "resources" / "models" / "marine-base-v1"  # another encoder: the base, not year 1's fine-tuned one
    for name in ("model.pt", "config.json", "tokenizer.json", "weights.sha256"):
        shutil.copyfile(base / name, replaced / "encoder" / name)
    manifest = replaced / "MANIFEST.sha256"
    lines = [f"{sha256(replaced / rel)}  {rel}" for rel in (line.split("  ", 1)[1] for line in manifest.read_text().splitlines())]
    manifest.write_text("\n".join(lines) + "\n")
    changed = series_config(both_years / "y12b.yaml", **two_years("atlas/Y1b"))
    done = run_snakemake(both_years, "--dry-run", configfile=changed, check=True)
    jobs = planned(done.stdout + done.stderr)
    every_sample = set(pd.read_csv(both_years / "y1" / "samples.tsv", sep="\t")["sample"]) | set(
        pd.read_csv(both_years / "y2" / "samples.tsv", sep="\t")["sample"])
    assert jobs.pop("embed_batch") == every_sample
    assert jobs.pop("kmer_vectors") == every_sample and jobs.pop("assign_profile") == every_sample
    assert {"collect_profile", "cube", "ecology", "shifts", "report"} <= set(jobs)
    assert not {"check_fastq", "cutadapt_pe", "merge_units_pe", "train_encoder", "fit_codebook"} & set(jobs)
    # a changed atlas file is refused before any job
    (replaced / "kmer" / "codebook.npy").chmod(0o644)
    np.save(replaced / "kmer" / "codebook.npy", np.zeros((8, 136)))
    done = run_snakemake(both_years, "--dry-run", configfile=changed)
    assert done.returncode != 0 and "kmer/codebook.npy" in done.stdout + done.stderr


def test_a_fresh_directory_with_only_the_atlas_gives_the_same_vectors_and_counts(both_years, run_snakemake, series_config,
                                                                                  tmp_path):
    """A cruise embedded elsewhere (another machine, no results of the run that froze the atlas) reads
    the atlas's own files and gets year 1's vectors and OTU counts byte for byte."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(both_years / "y1", elsewhere / "y1")
    shutil.copytree(both_years / "config", elsewhere / "config")
    shutil.copytree(both_years / "atlas" / "Y1", elsewhere / "atlas" / "Y1")
    config = series_config(elsewhere / "y1.yaml", samples="y1/samples.tsv", units="y1/units.tsv", oracle_truth="y1/truth",
                           atlas="atlas/Y1")
    done = run_snakemake(elsewhere, "--dry-run", "results/profile/embedding/counts.tsv", "results/profile/kmer/counts.tsv",
                         configfile=config, check=True)
    assert str(Path("atlas/Y1/encoder/model.pt")) in done.stdout  # the embedding jobs read the atlas's encoder
    run_snakemake(elsewhere, "results/profile/embedding/counts.tsv", "results/profile/kmer/counts.tsv", configfile=config,
                  check=True)
    before = both_years / "year1_results"
    for sample in pd.read_csv(both_years / "y1" / "samples.tsv", sep="\t")["sample"]:
        for rel in (f"embed/{sample}.npy", f"profile/embedding/samples/{sample}.counts.tsv",
                    f"profile/kmer/samples/{sample}.counts.tsv"):
            assert (elsewhere / "results" / rel).read_bytes() == (before / rel).read_bytes(), rel
    for profile in ("embedding", "kmer"):
        rel = f"profile/{profile}/counts.tsv"
        assert (elsewhere / "results" / rel).read_bytes() == (before / rel).read_bytes(), rel
    assert not (elsewhere / "results" / "model").exists()  # nothing trained
    assert sha256(elsewhere / "atlas" / "Y1" / "encoder" / "model.pt") == sha256(both_years / "atlas" / "Y1" / "encoder" / "model.pt")
