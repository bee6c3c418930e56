"""Novelty in the cube, cubes of several cruises, and the oracle truth of several simulated cruises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planktonlm.config import cube_config, validate_config
from planktonlm.cube.make import make_cube
from planktonlm.cube.novelty import read_novelty
from planktonlm.cube.store import read_cube
from planktonlm.cube.tables import environment_table, novelty_table, profile_table, sample_metadata
from planktonlm.errors import PlanktonlmInputError
from planktonlm.io import sha256_file
from planktonlm.profiles.novelty import novelty_table as stage_table
from planktonlm.profiles.novelty import write_novelty
from planktonlm.profiles.tables import write_profile
from planktonlm.stages import Job
from planktonlm.stages.cube import cube

GOOD = Path("tests/data/good_cruise")
IDS = ["S1", "S2", "S3"]


def novelty_tsv(path: Path, shares: list[str], threshold: str = "0.8125", ids: list[str] = IDS) -> Path:
    lines = ["sample\tn_fragments\tn_novel\tnovelty\tthreshold"]
    for sample, share in zip(ids, shares):
        n_novel = "" if share == "" else str(round(float(share) * 200))
        lines.append(f"{sample}\t{0 if share == '' else 200}\t{n_novel or 0}\t{share}\t{threshold}")
    path.write_text("\n".join(lines) + "\n")
    return path


def profile(tmp_path: Path, profiles_dict, ids: list[str] = IDS) -> Path:
    write_profile(profiles_dict()["embedding"].iloc[: len(ids)].set_axis(ids), tmp_path / "emb.tsv")
    return tmp_path / "emb.tsv"


def test_novelty_tables_become_cube_variables(tmp_path: Path, at_repo_root: None, profiles_dict) -> None:
    emb = profile(tmp_path, profiles_dict)
    novelty = {"embedding": novelty_tsv(tmp_path / "nov_emb.tsv", ["0.01", "0.075", ""]),
               "kmer": novelty_tsv(tmp_path / "nov_kmer.tsv", ["0.02", "0", "1"], threshold="3.5")}
    config = validate_config({"samples": "s", "units": "u"})
    make_cube(GOOD / "samples.tsv", GOOD / "units.tsv", {"embedding": emb}, tmp_path / "cube.nc", config,
              novelty_tsvs=novelty)
    ds = read_cube(tmp_path / "cube.nc")
    var = ds["novelty_embedding"]
    assert var.dims == ("sample",) and var.dtype == np.float64
    np.testing.assert_array_equal(var.values, [0.01, 0.075, np.nan])
    assert var.attrs["units"] == "1" and var.attrs["threshold"] == 0.8125 and var.attrs["quantile"] == 0.99
    assert "share of the sample's reads beyond" in var.attrs["long_name"]
    assert "0.99 quantile of the reference reads' distance to their nearest centre" in var.attrs["description"]
    assert ds["novelty_kmer"].attrs["threshold"] == 3.5
    assert json.loads(ds.attrs["novelty"]) == ["novelty_embedding", "novelty_kmer"]
    assert "atlas" not in ds.attrs
    # not environment; a table of its own
    assert not [c for c in environment_table(ds).columns if c.startswith("novelty")]
    table = novelty_table(ds)
    assert table.columns.tolist() == ["embedding", "kmer"] and table.loc["S2", "embedding"] == 0.075
    assert table.attrs["threshold"] == {"embedding": 0.8125, "kmer": 3.5} and table.attrs["atlas"] == ""
    inputs = json.loads(ds.attrs["input_sha256"])
    assert inputs[str(novelty["kmer"])] == sha256_file(novelty["kmer"])


def test_cube_without_novelty_has_no_novelty_table(ds) -> None:
    assert novelty_table(ds) is None


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda t: t.replace("S3\t", "S9\t"), "sample sheet does not list"),
    (lambda t: t.replace("0.075", "1.5"), "not a share between 0 and 1"),
    (lambda t: t.replace("\t0.8125\n", "\t0.9\n", 1), "one finite distance"),
    (lambda t: t.replace("S2\t", "S1\t"), "sample listed more than once (first at row 1)"),
    (lambda t: t.replace("threshold", "thr"), "required column is missing"),
])
def test_bad_novelty_tables_are_refused(tmp_path: Path, edit, needle: str) -> None:
    path = novelty_tsv(tmp_path / "nov.tsv", ["0.01", "0.075", "0.2"])
    path.write_text(edit(path.read_text()))
    with pytest.raises(PlanktonlmInputError) as caught:
        read_novelty(path, pd.Index(IDS))
    assert needle in str(caught.value) and all(p.file == str(path) for p in caught.value.problems)


def two_cruise_sheets(tmp_path: Path) -> tuple[list[str], list[str]]:
    samples = (GOOD / "samples.tsv").read_text().splitlines()
    units = (GOOD / "units.tsv").read_text().splitlines()
    (tmp_path / "a.tsv").write_text("\n".join(samples[:3]) + "\n")
    (tmp_path / "b.tsv").write_text("\n".join([samples[0], samples[3].replace("PLK2021", "PLK2022")]) + "\n")
    (tmp_path / "ua.tsv").write_text("\n".join(units[:4]) + "\n")
    (tmp_path / "ub.tsv").write_text("\n".join([units[0], units[4]]) + "\n")
    return [str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv")], [str(tmp_path / "ua.tsv"), str(tmp_path / "ub.tsv")]


def truth(folder: Path, ids: list[str], genomes: list[str]) -> Path:
    folder.mkdir()
    pd.DataFrame(np.full((len(ids), len(genomes)), 1 / len(genomes)), index=pd.Index(ids, name="sample"),
                 columns=genomes).to_csv(folder / "abundance.tsv", sep="\t")
    return folder


def test_cube_stage_with_two_cruises_select_novelty_and_two_truths(tmp_path: Path, at_repo_root: None,
                                                                    profiles_dict) -> None:
    samples, units = two_cruise_sheets(tmp_path)
    kept = ["S1", "S3"]
    emb = profile(tmp_path, profiles_dict, kept)
    write_profile(profiles_dict()["kmer"].iloc[:2].set_axis(kept), tmp_path / "kmer.tsv")
    (tmp_path / "weights.sha256").write_text("ab" * 32 + "  model.safetensors\n")
    truths = [str(truth(tmp_path / "t1", ["S1", "S2"], ["g1", "g2"])), str(truth(tmp_path / "t2", ["S3"], ["g2", "g3"]))]
    config = cube_config(validate_config({"samples": samples, "units": units, "oracle_truth": truths, "atlas": "atlas/v1",
                                          "select": {"stations": ["ST01", "ST03"], "months": [6, 7]}}))  # S1, S3
    job = Job(input={"samples": samples, "units": units, "embedding": str(emb), "kmer": str(tmp_path / "kmer.tsv"),
                     "model_sha256": str(tmp_path / "weights.sha256"),
                     "novelty_embedding": str(novelty_tsv(tmp_path / "ne.tsv", ["0.2", "0.01"], ids=kept))},
              output={"cube": str(tmp_path / "cube.nc")}, params={"config": config})
    cube(job)
    ds = read_cube(tmp_path / "cube.nc")
    assert ds["sample"].values.tolist() == kept
    assert sample_metadata(ds)["cruise"].tolist() == ["PLK2021", "PLK2022"]
    assert "novelty_embedding" in ds and "novelty_kmer" not in ds and ds.attrs["atlas"] == "atlas/v1"
    oracle = profile_table(ds, "oracle")
    assert oracle.columns.tolist() == ["g1", "g2", "g3"]
    np.testing.assert_allclose(oracle.to_numpy(), [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    inputs = json.loads(ds.attrs["input_sha256"])
    assert set(samples + units) <= set(inputs) and str(tmp_path / "t2" / "abundance.tsv") in inputs


def test_a_sample_in_two_truth_folders_is_refused(tmp_path: Path, at_repo_root: None, profiles_dict) -> None:
    emb = profile(tmp_path, profiles_dict)
    truths = [truth(tmp_path / "t1", IDS, ["g1"]), truth(tmp_path / "t2", ["S3"], ["g1"])]
    with pytest.raises(PlanktonlmInputError) as caught:
        make_cube(GOOD / "samples.tsv", GOOD / "units.tsv", {"embedding": emb}, tmp_path / "cube.nc",
                  validate_config({"samples": "s", "units": "u"}), truth_dir=truths)
    (problem,) = caught.value.problems
    assert problem.file == str(truths[1] / "abundance.tsv") and problem.value == "S3"
    assert f"also in {truths[0] / 'abundance.tsv'} (row 3)" in problem.message


def test_the_profile_stage_table_reads_back_exactly(tmp_path: Path) -> None:
    """The contract with planktonlm.profiles.novelty: its novelty.tsv, shares bit for bit."""
    distances = {"S1": np.array([0.1, 0.5, 0.9]), "S2": np.zeros(0), "S3": np.array([0.2, 0.95, 0.7, 0.3, 0.99, 0.1, 0.1])}
    table = stage_table(distances, threshold=0.6)
    write_novelty(table, tmp_path / "novelty.tsv")
    values, threshold = read_novelty(tmp_path / "novelty.tsv", pd.Index(["S3", "S2", "S1"]))
    assert threshold == 0.6 and values.index.tolist() == ["S3", "S2", "S1"]
    assert values["S3"] == 3 / 7 and values["S1"] == 1 / 3 and np.isnan(values["S2"])
    write_novelty(stage_table({"S1": np.zeros(0)}, threshold=float("nan")), tmp_path / "empty.tsv")
    values, threshold = read_novelty(tmp_path / "empty.tsv", pd.Index(["S1"]))
    assert np.isnan(threshold) and np.isnan(values["S1"])
