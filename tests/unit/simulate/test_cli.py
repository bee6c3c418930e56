"""``planktonlm simulate``: paths as given, bad options reported as input errors, not tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import dnaio
import pandas as pd
import pytest

from planktonlm.cli import main as cli_main


def test_units_paths_are_relative_as_given(genomes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = cli_main(["simulate", "--preset", "tiny", "--seed", "2", "--outdir", "sim/tiny", "--reads-per-sample", "10",
                     "--read-length", "60", "--genomes", str(genomes)])
    assert code == 0 and (tmp_path / "sim" / "tiny" / ".complete").is_file()
    units = pd.read_csv(tmp_path / "sim" / "tiny" / "units.tsv", sep="\t")
    assert units["fq1"].str.startswith("sim/tiny/reads/").all()
    with dnaio.open(units["fq1"][0]) as reader:
        assert all(len(r.sequence) == 60 for r in reader)
    assert not list((tmp_path / "sim").glob("*.tmp-*"))


def test_bad_inputs_are_reported_not_raised_as_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["simulate", "--preset", "huge", "--outdir", str(tmp_path / "x")]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert cli_main(["simulate", "--preset", "tiny", "--outdir", str(tmp_path / "x"), "--genomes",
                     str(tmp_path / "none")]) == 2
    assert cli_main(["simulate", "--preset", "tiny", "--outdir", str(tmp_path / "x"), "--ar1-phi", "1.5"]) == 2
    assert "ar1_phi" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_options_override_the_preset(genomes: Path, tmp_path: Path) -> None:
    out = tmp_path / "null"
    assert cli_main(["simulate", "--preset", "tiny", "--seed", "4", "--outdir", str(out), "--reads-per-sample", "5",
                     "--genomes", str(genomes), "--community-model", "ar1", "--ar1-phi", "0.6", "--decoy-phi", "0.4"]) == 0
    record = json.loads((out / "truth" / "design.json").read_text())
    assert (record["seed"], record["preset"]) == (4, "tiny")
    design = record["design"]
    assert (design["reads_per_sample"], design["community_model"], design["ar1_phi"], design["decoy_phi"]) == (5, "ar1", 0.6, 0.4)
    assert "decoy_index" in pd.read_csv(out / "samples.tsv", sep="\t").columns


def test_a_later_cruise_of_the_same_stations(genomes: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "year2"
    assert cli_main(["simulate", "--preset", "tiny", "--seed", "5", "--outdir", str(out), "--reads-per-sample", "5",
                     "--genomes", str(genomes), "--cruise", "TINY22", "--first-month", "2022-02"]) == 0
    samples = pd.read_csv(out / "samples.tsv", sep="\t")
    assert (samples["cruise"] == "TINY22").all()
    assert samples["datetime"].str.startswith("2022-").any() and not samples["datetime"].str.startswith("2021-").any()
    assert samples["sample"].str.endswith("2022-02").any()  # ids carry the month: unique across years
    assert cli_main(["simulate", "--preset", "tiny", "--outdir", str(tmp_path / "bad"), "--first-month", "2022-13"]) == 2
    assert "first_month" in capsys.readouterr().err
