"""Tests for planktonlm.cube.make: the cube of a read-based cruise from its files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from planktonlm.config import config_hash, validate_config
from planktonlm.cube.layout import ORACLE_NOTE
from planktonlm.cube.make import make_cube
from planktonlm.cube.provenance import PACKAGES
from planktonlm.cube.store import read_cube
from planktonlm.cube.tables import environment_table, profile_names, profile_table, sample_metadata
from planktonlm.errors import PlanktonlmInputError
from planktonlm.io import sha256_file
from planktonlm.profiles.tables import write_profile

REPO = Path(__file__).resolve().parents[3]
GOOD = Path("tests/data/good_cruise")


def test_stage_output_is_byte_identical_across_processes(tmp_path: Path, at_repo_root: None, profiles_dict) -> None:
    """make_cube here and in a fresh interpreter (another hash seed, a second later): same bytes.

    The child also checks that building a cube never imports torch (package versions are read
    from the installed metadata).
    """
    write_profile(profiles_dict()["embedding"].iloc[:3].set_axis(["S1", "S2", "S3"]), tmp_path / "emb.tsv")
    args = (GOOD / "samples.tsv", GOOD / "units.tsv", {"embedding": tmp_path / "emb.tsv"})
    config = validate_config({"samples": "s", "units": "u"})
    make_cube(*args, tmp_path / "here.nc", config)
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from planktonlm.config import validate_config
        from planktonlm.cube.make import make_cube
        config = validate_config({{"samples": "s", "units": "u"}})
        make_cube(*{args!r}, sys.argv[1], config)
        assert "torch" not in sys.modules, "building a cube imported torch"
        """
    ).replace("PosixPath", "Path")
    seed = "12345" if os.environ.get("PYTHONHASHSEED") != "12345" else "54321"
    time.sleep(1.1)
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "child.nc")], cwd=REPO,
                   env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
    assert (tmp_path / "here.nc").read_bytes() == (tmp_path / "child.nc").read_bytes()


def test_make_cube_with_offset_time_oracle_and_model(tmp_path: Path, at_repo_root: None) -> None:
    sheet = (GOOD / "samples.tsv").read_text().replace("2021-06-01T08:30:00Z", "2021-06-01T10:30:00+02:00")
    sheet = sheet.replace("chlorophyll_mg_m3\n", "chlorophyll_mg_m3\tnoise_index\n")
    lines = sheet.splitlines()
    lines = [lines[0]] + [line + ("\tNA" if i == 2 else f"\t0.{i}") for i, line in enumerate(lines[1:], start=1)]
    (tmp_path / "samples.tsv").write_text("\n".join(lines) + "\n")
    ids = ["S1", "S2", "S3"]
    kmer = pd.DataFrame([[1, 2], [3, 4], [5, 6]], index=pd.Index(ids[::-1], name="sample"), columns=["kotu_0001", "kotu_0002"])
    write_profile(kmer, None, tmp_path / "kmer.parquet")
    truth = tmp_path / "truth"
    truth.mkdir()
    abundance = pd.DataFrame([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]], index=pd.Index(ids, name="sample"),
                             columns=["Prochlorococcus_MED4", "Pelagibacter_HTCC1062"])
    abundance.to_csv(truth / "abundance.tsv", sep="\t")
    (tmp_path / "weights.sha256").write_text("ab" * 32 + "  model.safetensors\n")
    config = validate_config({"samples": "s", "units": "u"})

    out = tmp_path / "results" / "cube.nc"
    make_cube(tmp_path / "samples.tsv", GOOD / "units.tsv", {"kmer": tmp_path / "kmer.parquet"}, out, config,
              model_sha256_path=tmp_path / "weights.sha256", truth_dir=truth)
    back = read_cube(out)

    # +02:00 is converted: 10:30 local = 08:30 UTC, stored naive in UTC.
    assert back["time"].values[0] == np.datetime64("2021-06-01T08:30:00", "ns")
    assert sample_metadata(back)["datetime"].iloc[0] == pd.Timestamp("2021-06-01T08:30:00Z")
    env = environment_table(back)
    assert np.isnan(env.loc["S2", "noise_index"]) and env.loc["S3", "noise_index"] == 0.3
    assert back["noise_index"].attrs["units"] == "1"

    assert profile_names(back) == ["kmer", "oracle"]
    pd.testing.assert_frame_equal(profile_table(back, "kmer"), kmer.loc[ids])
    assert back["abundance_oracle"].dims == ("sample", "otu_oracle")
    assert back["abundance_oracle"].dtype == np.float64
    assert back["abundance_oracle"].attrs["comment"] == ORACLE_NOTE == back.attrs["oracle"]
    pd.testing.assert_frame_equal(profile_table(back, "oracle"), abundance)

    assert back.attrs["model_sha256"] == "ab" * 32
    assert back.attrs["config_sha256"] == config_hash(config)
    inputs = json.loads(back.attrs["input_sha256"])
    assert inputs[str(truth / "abundance.tsv")] == sha256_file(truth / "abundance.tsv")
    assert inputs[str(GOOD / "units.tsv")] == sha256_file(GOOD / "units.tsv")
    assert set(inputs) == {str(tmp_path / "samples.tsv"), str(GOOD / "units.tsv"), str(tmp_path / "kmer.parquet"),
                           str(truth / "abundance.tsv")}
    versions = json.loads(back.attrs["package_versions"])
    assert set(versions) == set(PACKAGES) and versions["xarray"] == xr.__version__


def test_make_cube_refuses_a_bad_model_digest(tmp_path: Path, at_repo_root: None, profiles_dict) -> None:
    write_profile(profiles_dict()["embedding"].iloc[:3].set_axis(["S1", "S2", "S3"]), tmp_path / "emb.tsv")
    (tmp_path / "weights.sha256").write_text("not-a-digest  model.safetensors\n")
    config = validate_config({"samples": "s", "units": "u"})
    with pytest.raises(PlanktonlmInputError, match="SHA-256"):
        make_cube(GOOD / "samples.tsv", GOOD / "units.tsv", {"embedding": tmp_path / "emb.tsv"}, tmp_path / "cube.nc",
                  config, model_sha256_path=tmp_path / "weights.sha256")
    assert not (tmp_path / "cube.nc").exists()


def test_oracle_is_a_reserved_profile_name(tmp_path: Path, at_repo_root: None, profiles_dict) -> None:
    write_profile(profiles_dict()["embedding"].iloc[:3].set_axis(["S1", "S2", "S3"]), tmp_path / "emb.tsv")
    config = validate_config({"samples": "s", "units": "u"})
    with pytest.raises(ValueError, match="reserved"):
        make_cube(GOOD / "samples.tsv", GOOD / "units.tsv", {"oracle": tmp_path / "emb.tsv"}, tmp_path / "cube.nc",
                  config, truth_dir=tmp_path)
