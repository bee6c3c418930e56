"""Writing a cruise: determinism to the byte, the manifest, truth tables, units, atomic replacement."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.simulate import writer
from planktonlm.simulate.community import ENV_VARIABLES, driver_strengths, resolve_niches, simulate_abundance
from planktonlm.simulate.design import TINY_GENOMES, CruiseDesign
from planktonlm.simulate.environment import simulate_environment
from planktonlm.simulate.writer import simulate_cruise


def all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tiny: CruiseDesign, genomes: Path, tiny_run: Path, tmp_path: Path) -> None:
    again = simulate_cruise(tiny, tmp_path / "cruise", 7, genomes)
    first, second = all_files(tiny_run), all_files(again)
    # Paths in units.tsv name the output folder, which differs here by construction.
    first["units.tsv"] = first["units.tsv"].replace(str(tiny_run).encode(), b"OUT")
    second["units.tsv"] = second["units.tsv"].replace(str(again).encode(), b"OUT")
    first.pop(".complete"), second.pop(".complete")  # holds the units.tsv checksum
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    assert any(name.endswith(".fastq.gz") for name in first)


def test_same_outdir_same_seed_is_byte_identical_with_manifest(tiny: CruiseDesign, genomes: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    design = dataclasses.replace(tiny, reads_per_sample=20)
    simulate_cruise(design, Path("out"), 11, genomes)
    first = all_files(tmp_path / "out")
    simulate_cruise(design, Path("out"), 11, genomes)  # replaces the earlier simulation
    assert all_files(tmp_path / "out") == first
    manifest = (tmp_path / "out" / ".complete").read_text().splitlines()
    assert len(manifest) == len(first) - 1 and all(re.fullmatch(r"[0-9a-f]{64}  \S+", line) for line in manifest)


def test_different_seed_differs(tiny: CruiseDesign, genomes: Path, tiny_run: Path, tmp_path: Path) -> None:
    other = simulate_cruise(tiny, tmp_path / "cruise", 8, genomes)
    a, b = all_files(tiny_run), all_files(other)
    for name in ("samples.tsv", "truth/abundance.tsv", "reads/ST1_D5_2021-02_run1_R1.fastq.gz"):
        assert a[name] != b[name]


def test_gzip_members_carry_no_name_or_time(tiny_run: Path) -> None:
    raw = (tiny_run / "reads" / "ST2_D100_2021-10_run1_R1.fastq.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert raw[3] & 0x08 == 0  # no FNAME field
    assert raw[4:8] == b"\x00\x00\x00\x00"  # mtime 0


def test_truth_tables_agree_with_reads(tiny: CruiseDesign, tiny_run: Path) -> None:
    truth = tiny_run / "truth"
    abundance = pd.read_csv(truth / "abundance.tsv", sep="\t", index_col="sample")
    counts = pd.read_csv(truth / "read_counts.tsv", sep="\t", index_col="sample")
    origin = pd.read_csv(truth / "read_origin.tsv.gz", sep="\t")
    assert np.allclose(abundance.sum(axis=1), 1.0, atol=1e-5)
    assert (counts.sum(axis=1) == tiny.reads_per_sample).all()
    tally = origin.groupby(["sample", "genome"]).size().unstack(fill_value=0)
    pd.testing.assert_frame_equal(tally.reindex_like(counts).fillna(0).astype(int), counts, check_names=False)
    niches = pd.read_csv(truth / "niches.tsv", sep="\t")
    assert list(niches["genome"]) == list(abundance.columns) == list(TINY_GENOMES)
    design = json.loads((truth / "design.json").read_text())
    assert design["seed"] == 7 and design["preset"] == "tiny"
    # Reads follow abundance x genome length: the sample-averaged shares agree roughly.
    lengths = niches.set_index("genome")["length_bp"]
    expected = (abundance * lengths).div((abundance * lengths).sum(axis=1), axis=0).mean()
    observed = (counts / tiny.reads_per_sample).mean()
    assert np.allclose(observed, expected, atol=0.05)


def test_units_sheet_and_second_runs(tiny: CruiseDesign, tiny_run: Path, read_pairs: Callable[[Path], dict]) -> None:
    units = pd.read_csv(tiny_run / "units.tsv", sep="\t")
    assert list(units.columns) == ["sample", "unit", "fq1", "fq2"]
    assert (units.groupby("sample").size() == 2).sum() == tiny.two_unit_samples
    for fq1, fq2, sample, unit in zip(units["fq1"], units["fq2"], units["sample"], units["unit"]):
        assert fq1 == f"{tiny_run}/reads/{sample}_{unit}_R1.fastq.gz" and Path(fq1).is_file()
        assert fq2 == f"{tiny_run}/reads/{sample}_{unit}_R2.fastq.gz" and Path(fq2).is_file()
    assert sum(1 for _ in read_pairs(tiny_run)) == tiny.reads_per_sample * tiny.n_samples


def test_failure_leaves_no_output(tiny: CruiseDesign, genomes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing_format(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("disk full")
        return real_format(*args, **kwargs)

    real_format = writer.format_fastq
    monkeypatch.setattr(writer, "format_fastq", failing_format)
    design = dataclasses.replace(tiny, reads_per_sample=10)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_cruise(design, tmp_path / "cruise", 1, genomes)
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary folder

    # An earlier complete simulation survives a failed rerun untouched.
    monkeypatch.setattr(writer, "format_fastq", real_format)
    simulate_cruise(design, tmp_path / "cruise", 1, genomes)
    before = all_files(tmp_path / "cruise")
    calls.clear()
    monkeypatch.setattr(writer, "format_fastq", failing_format)
    with pytest.raises(RuntimeError):
        simulate_cruise(design, tmp_path / "cruise", 2, genomes)
    assert all_files(tmp_path / "cruise") == before
    assert [p.name for p in tmp_path.iterdir()] == ["cruise"]


def test_refuses_to_overwrite_a_foreign_folder(tiny: CruiseDesign, genomes: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(PlanktonlmInputError, match="not an earlier simulation"):
        simulate_cruise(tiny, tmp_path, 1, genomes)
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_null_cruise_truth_says_nothing_drives_the_community(tiny: CruiseDesign, genomes: Path, tmp_path: Path) -> None:
    design = dataclasses.replace(tiny, community_model="ar1", ar1_phi=0.7, decoy_phi=0.5, reads_per_sample=30)
    out = simulate_cruise(design, tmp_path / "null", 2, genomes)
    samples = pd.read_csv(out / "samples.tsv", sep="\t")
    assert list(samples.columns[-2:]) == ["noise_index", "decoy_index"]
    drivers = pd.read_csv(out / "truth" / "drivers.tsv", sep="\t").set_index("variable")
    assert set(drivers.index) == set(ENV_VARIABLES) | {"decoy_index"}
    assert (drivers["strength"] == 0).all() and (drivers["rank"] == 0).all()
    assert not (drivers["role"] == "driver").any() and not (drivers["role"] == "proxy").any()
    assert drivers.loc["decoy_index", "role"] == "noise"
    record = json.loads((out / "truth" / "design.json").read_text())
    assert record["design"]["community_model"] == "ar1" and record["design"]["decoy_phi"] == 0.5
    assert "No samples.tsv variable drives the community" in record["community_model"]
    assert "decoy_index" in record["environment_model"]
    niches = pd.read_csv(out / "truth" / "niches.tsv", sep="\t")
    assert niches["note"].str.startswith("not used").all()
    abundance = pd.read_csv(out / "truth" / "abundance.tsv", sep="\t", index_col="sample")
    assert np.allclose(abundance.to_numpy(), simulate_abundance(design, 2)[1].to_numpy(), rtol=1e-5, atol=1e-9)
    # A niche cruise with a decoy: the decoy is listed as noise, temperature still leads.
    env = simulate_environment(dataclasses.replace(tiny, decoy_phi=0.5), 2)
    table = driver_strengths(env, resolve_niches(list(TINY_GENOMES), 2), 2).set_index("variable")
    assert table.loc["decoy_index", "role"] == "noise" and table.loc["decoy_index", "strength"] == 0
    assert table["strength"].idxmax() == "temperature_c"
