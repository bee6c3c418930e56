"""Tests for planktonlm.stages.cube: the cube stage writes its one output, in read and published mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planktonlm.config import config_hash, cube_config, validate_config
from planktonlm.cube.store import read_cube
from planktonlm.errors import PlanktonlmInputError
from planktonlm.profiles.tables import write_profile
from planktonlm.stages import Job
from planktonlm.stages.cube import cube

GOOD = Path("tests/data/good_cruise")


def read_inputs(tmp_path: Path, profiles_dict) -> dict:
    table = profiles_dict()["embedding"].iloc[:3].set_axis(["S1", "S2", "S3"])
    write_profile(table, tmp_path / "embedding.tsv")
    write_profile(table.iloc[:, :2].rename(columns=lambda c: c.replace("e", "k", 1)), tmp_path / "kmer.tsv")
    (tmp_path / "weights.sha256").write_text("ab" * 32 + "  model.safetensors\n")
    return {"samples": str(GOOD / "samples.tsv"), "units": str(GOOD / "units.tsv"), "embedding": str(tmp_path / "embedding.tsv"),
            "kmer": str(tmp_path / "kmer.tsv"), "model_sha256": str(tmp_path / "weights.sha256")}


def test_cube_stage_reads_mode(tmp_path: Path, at_repo_root: None, profiles_dict) -> None:
    config = cube_config(validate_config({"samples": "s", "units": "u"}))
    assert "report" not in config
    job = Job(input=read_inputs(tmp_path, profiles_dict), output={"cube": str(tmp_path / "out" / "cube.nc")},
              params={"config": config}, log=str(tmp_path / "cube.log"))
    cube(job)
    ds = read_cube(tmp_path / "out" / "cube.nc")
    assert json.loads(ds.attrs["profiles"]) == ["embedding", "kmer"]
    assert ds.attrs["config_sha256"] == config_hash(config)  # the config it was given, nothing more
    assert ds.attrs["model_sha256"] == "ab" * 32
    assert set(json.loads(ds.attrs["input_sha256"])) == {v for k, v in job.input.items() if k != "model_sha256"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cube.nc"]
    assert "cube written" in (tmp_path / "cube.log").read_text()


def test_cube_stage_published_mode(tmp_path: Path) -> None:
    (tmp_path / "env.tsv").write_text("Sample\tTemp\nA\t10\nB\t12\n")
    (tmp_path / "taxa.tsv").write_text("Sample\tt1\tt2\nA\t1\t2\nB\t3\t4\n")
    section = {"environment": str(tmp_path / "env.tsv"), "columns": {"Temp": "temperature_c"},
               "profiles": {"taxa": str(tmp_path / "taxa.tsv")}}
    config = cube_config(validate_config({"samples": "s", "units": "u", "published": section}))
    job = Job(input={"environment": section["environment"], "taxa": section["profiles"]["taxa"]},
              output={"cube": str(tmp_path / "cube.nc")}, params={"config": config})
    cube(job)
    ds = read_cube(tmp_path / "cube.nc")
    assert json.loads(ds.attrs["profiles"]) == ["taxa"] and ds.attrs["config_sha256"] == config_hash(config)


def test_cube_stage_fails_cleanly_on_a_bad_profile(tmp_path: Path, at_repo_root: None, profiles_dict) -> None:
    inputs = read_inputs(tmp_path, profiles_dict)
    Path(inputs["kmer"]).write_text("sample\tkotu_0001\nS1\t-1\nS2\t0\nS3\t1\n")
    job = Job(input=inputs, output={"cube": str(tmp_path / "cube.nc")},
              params={"config": cube_config(validate_config({"samples": "s", "units": "u"}))})
    with pytest.raises(PlanktonlmInputError, match="negative"):
        cube(job)
    assert not (tmp_path / "cube.nc").exists()
