"""The cruise simulator: determinism, plausible environment, niche-driven community, honest reads."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import re
import time
from pathlib import Path

import dnaio
import numpy as np
import pandas as pd
import pytest

from planktonlm import simulate as sim
from planktonlm.cli import main as cli_main
from planktonlm.errors import PlanktonlmInputError

GENOMES = Path(__file__).resolve().parents[2] / "resources" / "genomes"
TINY = dataclasses.replace(sim.PRESETS["tiny"], reads_per_sample=150)
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sim.simulate_cruise(TINY, tmp_path_factory.mktemp("a") / "cruise", 7, GENOMES)


@pytest.fixture(scope="module")
def error_free_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    design = dataclasses.replace(TINY, sequencing_errors=False, short_insert_fraction=0.2, reads_per_sample=100)
    return sim.simulate_cruise(design, tmp_path_factory.mktemp("b") / "cruise", 3, GENOMES)


@pytest.fixture(scope="module")
def tiny_contigs() -> dict[str, str]:
    """Every contig of the tiny preset's genomes, as text."""
    contigs = {}
    for genome in sim.load_genomes(GENOMES, sim.TINY_GENOMES):
        text = sim._ASCII[genome.codes].tobytes().decode()
        for name, start, length in zip(genome.contig_names, genome.contig_starts, genome.contig_lengths):
            contigs[name] = text[start : start + length]
    return contigs


def read_pairs(outdir: Path) -> dict[str, tuple[dnaio.SequenceRecord, dnaio.SequenceRecord]]:
    units = pd.read_csv(outdir / "units.tsv", sep="\t")
    pairs = {}
    for fq1, fq2 in zip(units["fq1"], units["fq2"]):
        with dnaio.open(fq1, file2=fq2) as reader:
            for r1, r2 in reader:
                pairs[r1.id] = (r1, r2)
    return pairs


def expected_pair(origin: pd.Series, contigs: dict[str, str], length: int) -> tuple[str, str]:
    """What an error-free sequencer reads from the fragment named in read_origin.tsv.gz."""
    fragment = contigs[origin.contig][origin.start : origin.start + origin.insert_size]
    assert len(fragment) == origin.insert_size  # the fragment lies inside one contig
    top, bottom = (fragment, revcomp(fragment)) if origin.strand == "+" else (revcomp(fragment), fragment)
    r1 = (top + sim._READ_THROUGH_R1 + "G" * length)[:length]
    r2 = (bottom + sim._READ_THROUGH_R2 + "G" * length)[:length]
    return r1, r2


def test_same_seed_gives_byte_identical_files(tiny_run: Path, tmp_path: Path) -> None:
    again = sim.simulate_cruise(TINY, tmp_path / "cruise", 7, GENOMES)
    first, second = all_files(tiny_run), all_files(again)
    # Paths in units.tsv name the output folder, which differs here by construction.
    first["units.tsv"] = first["units.tsv"].replace(str(tiny_run).encode(), b"OUT")
    second["units.tsv"] = second["units.tsv"].replace(str(again).encode(), b"OUT")
    first.pop(".complete"), second.pop(".complete")  # holds the units.tsv checksum
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    assert any(name.endswith(".fastq.gz") for name in first)


def test_same_outdir_same_seed_is_byte_identical_with_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    design = dataclasses.replace(TINY, reads_per_sample=20)
    sim.simulate_cruise(design, Path("out"), 11, GENOMES)
    first = all_files(tmp_path / "out")
    sim.simulate_cruise(design, Path("out"), 11, GENOMES)  # replaces the earlier simulation
    assert all_files(tmp_path / "out") == first
    manifest = (tmp_path / "out" / ".complete").read_text().splitlines()
    assert len(manifest) == len(first) - 1 and all(re.fullmatch(r"[0-9a-f]{64}  \S+", line) for line in manifest)


def test_different_seed_differs(tiny_run: Path, tmp_path: Path) -> None:
    other = sim.simulate_cruise(TINY, tmp_path / "cruise", 8, GENOMES)
    a, b = all_files(tiny_run), all_files(other)
    for name in ("samples.tsv", "truth/abundance.tsv", "reads/ST1_D5_2021-02_run1_R1.fastq.gz"):
        assert a[name] != b[name]


def test_gzip_members_carry_no_name_or_time(tiny_run: Path) -> None:
    raw = (tiny_run / "reads" / "ST2_D100_2021-10_run1_R1.fastq.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert raw[3] & 0x08 == 0  # no FNAME field
    assert raw[4:8] == b"\x00\x00\x00\x00"  # mtime 0


def test_samples_sheet_is_plausible(tiny_run: Path) -> None:
    samples = pd.read_csv(tiny_run / "samples.tsv", sep="\t")
    assert list(samples.columns) == [
        "sample", "cruise", "station", "datetime", "latitude", "longitude", "depth_m", "temperature_c", "ph",
        "pressure_dbar", "salinity_psu", "oxygen_umol_kg", "chlorophyll_mg_m3", "noise_index",
    ]
    assert len(samples) == 2 * 2 * 3 and samples["sample"].is_unique
    assert samples["sample"].str.fullmatch(r"[A-Za-z0-9._-]+").all()
    times = pd.to_datetime(samples["datetime"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    assert times.notna().all() and samples["datetime"].str.endswith("Z").all()
    assert samples["ph"].between(7.5, 8.5).all()
    assert samples["temperature_c"].between(-2.5, 40).all()
    by_depth = samples.groupby("depth_m")["temperature_c"].mean()
    assert by_depth[5.0] > by_depth[100.0]
    assert np.allclose(samples["pressure_dbar"], samples["depth_m"] * 1.007, rtol=0.03, atol=0.5)
    assert samples["salinity_psu"].between(30, 40).all()
    assert samples["oxygen_umol_kg"].between(150, 350).all() and (samples["chlorophyll_mg_m3"] > 0).all()
    # Oxygen solubility falls with temperature.
    assert np.corrcoef(samples["temperature_c"], samples["oxygen_umol_kg"])[0, 1] < -0.5


def test_environment_is_pure_and_is_the_sample_sheet(tiny_run: Path) -> None:
    env = sim.simulate_environment(TINY, 7)
    pd.testing.assert_frame_equal(env, sim.simulate_environment(TINY, 7))
    written = pd.read_csv(tiny_run / "samples.tsv", sep="\t")
    pd.testing.assert_frame_equal(written, env, check_dtype=False)
    # The environment does not depend on read settings.
    more_reads = dataclasses.replace(TINY, reads_per_sample=9999, read_length=150)
    pd.testing.assert_frame_equal(sim.simulate_environment(more_reads, 7), env)


def test_temperature_is_the_strongest_driver() -> None:
    design = sim.PRESETS["demo"]
    env = sim.simulate_environment(design, 1)
    niches = sim.resolve_niches(list(sim.NICHES), 1)
    abundance = sim.simulate_community(env, niches, 1, design.community_noise_sd)
    assert np.allclose(abundance.sum(axis=1), 1.0)
    warmest = max(niches, key=lambda n: n.thermal_optimum_c).genome
    coldest = min(niches, key=lambda n: n.thermal_optimum_c).genome
    log_abundance = np.log(abundance)
    assert np.corrcoef(env["temperature_c"], log_abundance[warmest])[0, 1] > 0.5
    assert np.corrcoef(env["temperature_c"], log_abundance[coldest])[0, 1] < -0.5
    drivers = sim.driver_strengths(env, niches, 1, design.community_noise_sd).set_index("variable")
    assert drivers["strength"].idxmax() == "temperature_c"
    assert drivers.loc["temperature_c", "rank"] == 1
    assert drivers.loc["noise_index", "strength"] == 0 and drivers.loc["noise_index", "role"] == "noise"


def test_truth_tables_agree_with_reads(tiny_run: Path) -> None:
    truth = tiny_run / "truth"
    abundance = pd.read_csv(truth / "abundance.tsv", sep="\t", index_col="sample")
    counts = pd.read_csv(truth / "read_counts.tsv", sep="\t", index_col="sample")
    origin = pd.read_csv(truth / "read_origin.tsv.gz", sep="\t")
    assert np.allclose(abundance.sum(axis=1), 1.0, atol=1e-5)
    assert (counts.sum(axis=1) == TINY.reads_per_sample).all()
    tally = origin.groupby(["sample", "genome"]).size().unstack(fill_value=0)
    pd.testing.assert_frame_equal(tally.reindex_like(counts).fillna(0).astype(int), counts, check_names=False)
    niches = pd.read_csv(truth / "niches.tsv", sep="\t")
    assert list(niches["genome"]) == list(abundance.columns) == list(sim.TINY_GENOMES)
    design = json.loads((truth / "design.json").read_text())
    assert design["seed"] == 7 and design["preset"] == "tiny"
    # Reads follow abundance x genome length: the sample-averaged shares agree roughly.
    lengths = niches.set_index("genome")["length_bp"]
    expected = (abundance * lengths).div((abundance * lengths).sum(axis=1), axis=0).mean()
    observed = (counts / TINY.reads_per_sample).mean()
    assert np.allclose(observed, expected, atol=0.05)


def test_noise_index_does_not_touch_the_community() -> None:
    design = sim.PRESETS["demo"]
    env = sim.simulate_environment(design, 5)
    niches = sim.resolve_niches(list(sim.NICHES), 5)
    reference = sim.simulate_community(env, niches, 5)
    scrambled = env.assign(noise_index=np.random.default_rng(0).normal(size=len(env)))
    pd.testing.assert_frame_equal(sim.simulate_community(scrambled, niches, 5), reference)
    # ... and it is not correlated with the environment or the community either.
    others = env[["temperature_c", "depth_m", "ph", "salinity_psu", "oxygen_umol_kg"]]
    assert others.corrwith(env["noise_index"]).abs().max() < 0.45
    noise = env.set_index("sample")["noise_index"]
    assert np.log(reference).corrwith(noise).abs().max() < 0.5


def test_reads_are_error_free_copies_of_the_named_fragment(error_free_run: Path, tiny_contigs: dict[str, str]) -> None:
    origin = pd.read_csv(error_free_run / "truth" / "read_origin.tsv.gz", sep="\t").set_index("read_id")
    pairs = read_pairs(error_free_run)
    assert set(pairs) == set(origin.index)
    short = 0
    for read_id, (r1, r2) in pairs.items():
        row = origin.loc[read_id]
        assert row["contig"] in tiny_contigs and row["contig"].startswith(row["genome"].split("_TARA")[0][:12])
        want1, want2 = expected_pair(row, tiny_contigs, TINY.read_length)
        assert (r1.sequence, r2.sequence) == (want1, want2), read_id
        short += row["insert_size"] < TINY.read_length
    assert short > 0  # adapter read-through was exercised
    assert (origin["strand"] == "+").mean() == pytest.approx(0.5, abs=0.1)
    # The multi-contig MAG contributed reads from several contigs, none across a contig end.
    mag = origin[origin["genome"] == "alteromonas_macleodii_TARA_ASE_MAG_00031"]
    assert mag["contig"].nunique() > 5


def test_errors_follow_the_qualities(tiny_run: Path, tiny_contigs: dict[str, str]) -> None:
    origin = pd.read_csv(tiny_run / "truth" / "read_origin.tsv.gz", sep="\t").set_index("read_id")
    quality_of_base, wrong = [], []
    for read_id, (r1, r2) in read_pairs(tiny_run).items():
        want = expected_pair(origin.loc[read_id], tiny_contigs, TINY.read_length)
        for record, truth in zip((r1, r2), want):
            assert len(record.sequence) == len(record.qualities) == TINY.read_length
            seq = np.frombuffer(record.sequence.encode(), dtype=np.uint8)
            ref = np.frombuffer(truth.encode(), dtype=np.uint8)
            called = seq != ord("N")
            mismatch = (seq != ref) & called
            assert mismatch.sum() <= 12  # a read is a noisy copy of its fragment, not another sequence
            quality_of_base.append(np.frombuffer(record.qualities.encode(), dtype=np.uint8)[called] - 33)
            wrong.append(mismatch[called])
    quality, wrong = np.concatenate(quality_of_base).astype(float), np.concatenate(wrong)
    expected_errors = (10.0 ** (-quality / 10)).sum()
    assert wrong.sum() == pytest.approx(expected_errors, rel=0.2)
    assert wrong[quality < 20].mean() > 3 * wrong[quality >= 30].mean()


def test_fastq_records_are_proper_pairs(tiny_run: Path) -> None:
    units = pd.read_csv(tiny_run / "units.tsv", sep="\t")
    with gzip.open(units["fq1"][0], "rt") as f1, gzip.open(units["fq2"][0], "rt") as f2:
        head1, head2 = f1.readline().rstrip("\n"), f2.readline().rstrip("\n")
    assert head1.endswith(" 1:N:0") and head2.endswith(" 2:N:0")
    assert head1.split()[0] == head2.split()[0]
    # A 3' quality fall-off: mean quality of the last 10 bases below that of the first 10.
    quals = np.array([[ord(c) - 33 for c in r1.qualities] for r1, _ in read_pairs(tiny_run).values()])
    assert quals[:, -10:].mean() < quals[:, :10].mean() - 5


def test_read_ids_reveal_nothing(tiny_run: Path) -> None:
    origin = pd.read_csv(tiny_run / "truth" / "read_origin.tsv.gz", sep="\t")
    words = {w.lower() for g in sim.TINY_GENOMES for w in g.split("_") if len(w) > 3}
    for sample, ids in origin.groupby("sample")["read_id"]:
        assert ids.str.fullmatch(re.escape(sample) + r"\.\d+").all()
        assert not any(word in ids.str.lower().str.cat() for word in words)
    # Reads are not grouped by genome: consecutive reads switch genome about as often as chance.
    one = origin[origin["sample"] == origin["sample"].iloc[0]]
    switches = (one["genome"].to_numpy()[1:] != one["genome"].to_numpy()[:-1]).mean()
    share = one["genome"].value_counts(normalize=True)
    assert switches == pytest.approx(1 - (share**2).sum(), abs=0.15)


def test_units_sheet_and_second_runs(tiny_run: Path) -> None:
    units = pd.read_csv(tiny_run / "units.tsv", sep="\t")
    assert list(units.columns) == ["sample", "unit", "fq1", "fq2"]
    assert (units.groupby("sample").size() == 2).sum() == TINY.two_unit_samples
    for fq1, fq2, sample, unit in zip(units["fq1"], units["fq2"], units["sample"], units["unit"]):
        assert fq1 == f"{tiny_run}/reads/{sample}_{unit}_R1.fastq.gz" and Path(fq1).is_file()
        assert fq2 == f"{tiny_run}/reads/{sample}_{unit}_R2.fastq.gz" and Path(fq2).is_file()
    assert sum(1 for _ in read_pairs(tiny_run)) == TINY.reads_per_sample * TINY.n_samples


def test_units_paths_are_relative_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = cli_main(["simulate", "--preset", "tiny", "--seed", "2", "--outdir", "sim/tiny", "--reads-per-sample", "10",
                     "--read-length", "60", "--genomes", str(GENOMES)])
    assert code == 0 and (tmp_path / "sim" / "tiny" / ".complete").is_file()
    units = pd.read_csv(tmp_path / "sim" / "tiny" / "units.tsv", sep="\t")
    assert units["fq1"].str.startswith("sim/tiny/reads/").all()
    with dnaio.open(units["fq1"][0]) as reader:
        assert all(len(r.sequence) == 60 for r in reader)
    assert not list((tmp_path / "sim").glob("*.tmp-*"))


def test_failure_leaves_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing_format(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("disk full")
        return real_format(*args, **kwargs)

    real_format = sim.format_fastq
    monkeypatch.setattr(sim, "format_fastq", failing_format)
    design = dataclasses.replace(TINY, reads_per_sample=10)
    with pytest.raises(RuntimeError, match="disk full"):
        sim.simulate_cruise(design, tmp_path / "cruise", 1, GENOMES)
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary folder

    # An earlier complete simulation survives a failed rerun untouched.
    monkeypatch.setattr(sim, "format_fastq", real_format)
    sim.simulate_cruise(design, tmp_path / "cruise", 1, GENOMES)
    before = all_files(tmp_path / "cruise")
    calls.clear()
    monkeypatch.setattr(sim, "format_fastq", failing_format)
    with pytest.raises(RuntimeError):
        sim.simulate_cruise(design, tmp_path / "cruise", 2, GENOMES)
    assert all_files(tmp_path / "cruise") == before
    assert [p.name for p in tmp_path.iterdir()] == ["cruise"]


def test_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(PlanktonlmInputError, match="not an earlier simulation"):
        sim.simulate_cruise(TINY, tmp_path, 1, GENOMES)
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_genomes_with_gaps_and_contigs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def random_dna(n: int) -> str:
        return "".join(rng.choice(list("ACGT"), n))

    a = random_dna(900) + "N" * 200 + random_dna(900)
    b1, b2 = random_dna(700), random_dna(1200) + "RY" + random_dna(300)
    with gzip.open(tmp_path / "alpha.fna.gz", "wt") as handle:
        handle.write(f">a1 chromosome\n{a[:1000]}\n{a[1000:]}\n")
    (tmp_path / "beta.fasta").write_text(f">b1\n{b1}\n>b2 plasmid\n{b2.lower()}\n")
    genomes = sim.load_genomes(tmp_path)
    assert [g.name for g in genomes] == ["alpha", "beta"]
    assert genomes[1].contig_names == ("b1", "b2") and genomes[1].length_bp == 700 + 1502
    genome_set = sim.GenomeSet(genomes)
    design = dataclasses.replace(TINY, insert_mean=250, insert_sd=40, read_length=80)
    pairs = sim.simulate_read_pairs(genome_set, np.array([0.5, 0.5]), 3000, design, np.random.default_rng(1))
    for start, insert in zip(pairs.start, pairs.insert):
        assert (genome_set.codes[start : start + insert] != 4).all()  # no gap, no contig join, no IUPAC
    assert set(np.unique(pairs.genome)) == {0, 1}
    with pytest.raises(PlanktonlmInputError, match="genome not found"):
        sim.load_genomes(tmp_path, ["alpha", "gamma"])


def test_bad_inputs_are_reported_not_raised_as_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(PlanktonlmInputError) as info:
        sim.validate_design(dataclasses.replace(TINY, reads_per_sample=0, read_length=10))
    assert len(info.value.problems) == 2
    assert cli_main(["simulate", "--preset", "huge", "--outdir", str(tmp_path / "x")]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert cli_main(["simulate", "--preset", "tiny", "--outdir", str(tmp_path / "x"), "--genomes",
                     str(tmp_path / "none")]) == 2


def test_bench_simulate_reports_rates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.json"
    assert cli_main(["bench", "simulate", "--preset", "tiny", "--reads-per-sample", "20", "--repeats", "1",
                     "--genomes", str(GENOMES), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["stage"] for r in result["results"]] == ["generate", "generate+fastq", "end-to-end"]
    assert all(r["read_pairs"] == 20 * 12 and r["pairs_per_s"] > 0 for r in result["results"])
    assert result["machine"]["cpu_count"] >= 1
    assert "end-to-end" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# null cruises (community_model "ar1"), decoy variables, table-only simulation

# Recorded from the code before community_model / decoy_phi / simulate_tables existed (seed 1):
# sha256 of simulate_environment written as samples.tsv, and a few true abundances.
PRESET_ENV_SHA256 = {
    "tiny": "aa691bc5bee98552455bb997df5821c8d08e3076b4180ca30f5198484311ceec",
    "demo": "2d8bdf78a4a0dcbe74b27ee80d4102e0b5ca5b6c962a9c91b5b9af83fc008dbb",
}
PRESET_ABUNDANCE = {  # first and last sample, first three genomes
    "tiny": [[0.0463547242, 0.0066276143, 0.1938760403], [0.0003104665, 0.0345711463, 0.372080449]],
    "demo": [[0.0162186999, 0.0846958361, 0.5294238759], [0.0575399548, 0.221289392, 0.0051623497]],
}
PRESET_TEMPERATURE_STRENGTH = {"tiny": 0.5105, "demo": 0.5979}


def clr(abundance: pd.DataFrame) -> pd.DataFrame:
    logs = np.log(abundance)
    return logs.sub(logs.mean(axis=1), axis=0)


def lag1(x: np.ndarray) -> float:
    x = np.asarray(x, float) - np.mean(x)
    return float((x[1:] * x[:-1]).sum() / (x * x).sum())


def by_series(samples: pd.DataFrame) -> list[pd.DataFrame]:
    """The samples of each station x depth, in time order."""
    return [g.sort_values("datetime") for _, g in samples.groupby(["station", "depth_m"])]


@pytest.mark.parametrize("name", ["tiny", "demo"])
def test_presets_are_unchanged_by_the_null_and_decoy_options(name: str) -> None:
    design = sim.PRESETS[name]
    assert (design.community_model, design.decoy_phi) == ("niches", None)
    env = sim.simulate_environment(design, 1)
    text = env.to_csv(sep="\t", index=False, lineterminator="\n")
    assert hashlib.sha256(text.encode()).hexdigest() == PRESET_ENV_SHA256[name]
    samples, abundance = sim.simulate_abundance(design, 1)
    assert np.allclose(abundance.iloc[[0, -1], :3].to_numpy(), PRESET_ABUNDANCE[name], rtol=1e-6, atol=1e-10)
    pd.testing.assert_frame_equal(samples, env.set_index("sample"))
    niches = sim.resolve_niches(sim.design_genomes(design), 1)
    drivers = sim.design_driver_strengths(design, env, niches, 1).set_index("variable")
    assert list(drivers.index) == [*sim.DRIVERS, *(v for v in sim.ENV_VARIABLES if v not in sim.DRIVERS)]
    assert drivers.loc["temperature_c", "strength"] == PRESET_TEMPERATURE_STRENGTH[name]
    # design.json of a preset names none of the later fields (its bytes are those of before).
    record = sim._design_record(design, 1, [], sim.environment_model(design))
    assert not set(sim._LATER_FIELD_DEFAULTS) & set(record["design"])
    assert record["environment_model"] == sim.ENVIRONMENT_MODEL


def test_preset_files_match_the_table_only_simulation(tiny_run: Path) -> None:
    samples, abundance = sim.simulate_abundance(TINY, 7)
    written = pd.read_csv(tiny_run / "truth" / "abundance.tsv", sep="\t", index_col="sample")
    assert list(written.columns) == list(abundance.columns) == list(sim.TINY_GENOMES)
    assert np.allclose(written.to_numpy(), abundance.to_numpy(), rtol=1e-5, atol=1e-9)
    sheet = pd.read_csv(tiny_run / "samples.tsv", sep="\t", index_col="sample")
    pd.testing.assert_frame_equal(sheet, samples, check_dtype=False)


def test_monthly_design_spreads_stations_over_the_demo_transect() -> None:
    design = sim.monthly_design(4, 3)
    assert design.stations == sim.NORTH_ATLANTIC_TRANSECT  # four stations: exactly the demo's
    assert (design.depths_m, design.n_dates, design.months_between, design.first_month) == ((5.0, 100.0), 3, 1,
                                                                                           "2020-01")
    six = sim.monthly_design(6, 24, depths=(10, 50, 200), community_model="ar1", ar1_phi=0.5, decoy_phi=0.3,
                             start="2019-07", ar1_sd=2.0, cruise="NULL19")
    lats = [s.latitude for s in six.stations]
    assert lats == sorted(lats) and lats[0] == 28.0 and lats[-1] == 43.0 and len(set(lats)) == 6
    temps = [s.surface_temp_c for s in six.stations]
    assert temps == sorted(temps, reverse=True)  # warm gyre to cool subpolar front
    assert (six.community_model, six.ar1_phi, six.decoy_phi, six.ar1_sd, six.cruise) == ("ar1", 0.5, 0.3, 2.0,
                                                                                         "NULL19")
    samples, _ = sim.simulate_tables(six, 1, reads_per_sample=10)
    assert len(samples) == 6 * 3 * 24 == six.n_samples and samples.index.is_unique
    months = pd.to_datetime(samples["datetime"], utc=True).dt.strftime("%Y-%m")
    assert (months.groupby([samples["station"], samples["depth_m"]]).nunique() == 24).all()
    assert months.min() == "2019-07" and months.max() == "2021-06"
    with pytest.raises(PlanktonlmInputError, match="not a CruiseDesign field"):
        sim.monthly_design(2, 3, phi=0.5)
    with pytest.raises(PlanktonlmInputError, match="at least one station"):
        sim.monthly_design(0, 3)


def test_tables_are_seeded_complete_and_fast() -> None:
    design = sim.monthly_design(6, 48, decoy_phi=0.5)
    samples, counts = sim.simulate_tables(design, 3)
    again_samples, again_counts = sim.simulate_tables(design, 3)
    pd.testing.assert_frame_equal(samples, again_samples)
    pd.testing.assert_frame_equal(counts, again_counts)
    other_samples, other_counts = sim.simulate_tables(design, 4)
    assert not counts.equals(other_counts) and not samples["decoy_index"].equals(other_samples["decoy_index"])
    assert samples.index.name == "sample" and counts.index.equals(samples.index)
    assert list(samples.columns[:6]) == ["cruise", "station", "datetime", "latitude", "longitude", "depth_m"]
    assert set(sim.ENV_VARIABLES) | {"decoy_index"} <= set(samples.columns)
    assert pd.to_datetime(samples["datetime"], format="%Y-%m-%dT%H:%M:%SZ", utc=True).notna().all()
    assert list(counts.columns) == sorted(sim.NICHES)  # no genome files read
    assert counts.dtypes.eq(np.int64).all() and (counts.sum(axis=1) == 2000).all()
    # Counts are a multinomial draw from the true abundances.
    _, abundance = sim.simulate_abundance(design, 3)
    assert np.abs(counts / 2000 - abundance).to_numpy().max() < 0.06
    fewer = sim.simulate_tables(design, 3, reads_per_sample=50)[1]
    assert (fewer.sum(axis=1) == 50).all()
    with pytest.raises(PlanktonlmInputError, match="reads_per_sample"):
        sim.simulate_tables(design, 3, reads_per_sample=0)
    best = min(_timed(sim.simulate_tables, design, seed) for seed in range(3))
    assert best < 1.0


def _timed(fn, *args) -> float:  # noqa: ANN001
    clock = time.perf_counter()
    fn(*args)
    return time.perf_counter() - clock


@pytest.mark.parametrize("phi", [0.85, 0.3])
def test_ar1_community_is_autocorrelated_at_phi_and_driven_by_nothing(phi: float) -> None:
    design = sim.monthly_design(6, 120, community_model="ar1", ar1_phi=phi)
    samples, abundance = sim.simulate_abundance(design, 11)
    assert np.allclose(abundance.sum(axis=1), 1.0)
    z = clr(abundance)
    lags, cors = [], []
    for series in by_series(samples):
        zz = z.loc[series.index]
        for genome in zz:
            lags.append(lag1(zz[genome]))
            cors.append(np.corrcoef(zz[genome], series["temperature_c"])[0, 1])
    # The lag-1 estimate of 120 steps is biased low by about (1 + 4 phi) / 120.
    assert np.mean(lags) == pytest.approx(phi - (1 + 4 * phi) / 120, abs=0.04)
    assert abs(np.mean(cors)) < 0.05 and np.mean(np.abs(cors)) < 0.2  # niches model: about 0.6
    # Depths of a station share the station's walk: layers differ by a fixed offset per genome.
    for station, group in samples.groupby("station"):
        top = z.loc[group.index[group["depth_m"] == 5.0]].to_numpy()
        deep = z.loc[group.index[group["depth_m"] == 100.0]].to_numpy()
        assert np.allclose(top - deep, (top - deep)[0], atol=1e-9), station
        assert np.abs((top - deep)[0]).max() > 0.1
    # Nothing in the environment enters: scrambling every variable leaves the community as it is.
    env = samples.reset_index()
    rng = np.random.default_rng(0)
    scrambled = env.assign(**{v: rng.permutation(env[v].to_numpy()) for v in sim.ENV_VARIABLES if v != "depth_m"})
    names = list(abundance.columns)
    pd.testing.assert_frame_equal(sim.simulate_ar1_community(scrambled, names, 11, phi), abundance)


def test_niche_community_is_not_ar1_at_phi() -> None:
    """The autocorrelation test above can fail: the niche model, read the same way, does not pass it."""
    samples, abundance = sim.simulate_abundance(sim.monthly_design(6, 120), 11)
    z = clr(abundance)
    cors = [np.corrcoef(z.loc[s.index, g], s["temperature_c"])[0, 1] for s in by_series(samples) for g in z]
    assert np.mean(np.abs(cors)) > 0.4


def test_decoy_is_autocorrelated_independent_noise() -> None:
    design = sim.monthly_design(6, 120, community_model="ar1", decoy_phi=0.6)
    samples, abundance = sim.simulate_abundance(design, 5)
    z = clr(abundance)
    lags, cors = [], []
    for series in by_series(samples):
        lags.append(lag1(series["decoy_index"]))
        cors.extend(np.corrcoef(z.loc[series.index, g], series["decoy_index"])[0, 1] for g in z)
    assert np.mean(lags) == pytest.approx(0.6 - (1 + 4 * 0.6) / 120, abs=0.06)
    assert abs(np.mean(cors)) < 0.05 and np.mean(np.abs(cors)) < 0.2
    assert samples["decoy_index"].std() == pytest.approx(1.0, abs=0.25)
    # One series per station: the depths of a cast share it.
    assert (samples.groupby(["station", "datetime"])["decoy_index"].nunique() == 1).all()
    others = samples[["temperature_c", "ph", "salinity_psu", "oxygen_umol_kg", "noise_index"]]
    assert others.corrwith(samples["decoy_index"]).abs().max() < 0.2
    # The decoy has a stream of its own: every other column, and the community, are as without it.
    plain = dataclasses.replace(design, decoy_phi=None)
    plain_samples, plain_abundance = sim.simulate_abundance(plain, 5)
    pd.testing.assert_frame_equal(samples.drop(columns="decoy_index"), plain_samples)
    pd.testing.assert_frame_equal(abundance, plain_abundance)
    niches = dataclasses.replace(design, community_model="niches")
    pd.testing.assert_frame_equal(sim.simulate_abundance(niches, 5)[1],
                                  sim.simulate_abundance(dataclasses.replace(niches, decoy_phi=None), 5)[1])
    assert "decoy_index" not in plain_samples.columns
    # phi = 0: independent draws.
    white = sim.simulate_abundance(dataclasses.replace(design, decoy_phi=0.0), 5)[0]
    assert abs(np.mean([lag1(s["decoy_index"]) for s in by_series(white)])) < 0.06


def test_null_cruise_truth_says_nothing_drives_the_community(tmp_path: Path) -> None:
    design = dataclasses.replace(TINY, community_model="ar1", ar1_phi=0.7, decoy_phi=0.5, reads_per_sample=30)
    out = sim.simulate_cruise(design, tmp_path / "null", 2, GENOMES)
    samples = pd.read_csv(out / "samples.tsv", sep="\t")
    assert list(samples.columns[-2:]) == ["noise_index", "decoy_index"]
    drivers = pd.read_csv(out / "truth" / "drivers.tsv", sep="\t").set_index("variable")
    assert set(drivers.index) == set(sim.ENV_VARIABLES) | {"decoy_index"}
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
    assert np.allclose(abundance.to_numpy(), sim.simulate_abundance(design, 2)[1].to_numpy(), rtol=1e-5, atol=1e-9)
    # A niche cruise with a decoy: the decoy is listed as noise, temperature still leads.
    env = sim.simulate_environment(dataclasses.replace(TINY, decoy_phi=0.5), 2)
    table = sim.driver_strengths(env, sim.resolve_niches(list(sim.TINY_GENOMES), 2), 2).set_index("variable")
    assert table.loc["decoy_index", "role"] == "noise" and table.loc["decoy_index", "strength"] == 0
    assert table["strength"].idxmax() == "temperature_c"


def test_validate_design_rejects_bad_null_and_decoy_settings() -> None:
    bad = dataclasses.replace(TINY, community_model="arma", ar1_phi=1.0, ar1_sd=0.0, ar1_depth_sd=-1.0,
                              decoy_phi=-0.1)
    with pytest.raises(PlanktonlmInputError) as info:
        sim.validate_design(bad)
    problems = {p.column: p for p in info.value.problems}
    assert set(problems) == {"community_model", "ar1_phi", "ar1_sd", "ar1_depth_sd", "decoy_phi"}
    assert problems["community_model"].value == "arma" and "ar1" in problems["community_model"].expected
    assert "[0, 1)" in problems["ar1_phi"].expected and "[0, 1)" in problems["decoy_phi"].expected
    for phi in (1.0, -0.01, float("nan"), "0.5", True):
        with pytest.raises(PlanktonlmInputError, match="ar1_phi"):
            sim.validate_design(dataclasses.replace(TINY, ar1_phi=phi))
        with pytest.raises(PlanktonlmInputError, match="decoy_phi"):
            sim.validate_design(dataclasses.replace(TINY, decoy_phi=phi))
    for phi in (0.0, 0.5, 0.999):
        sim.validate_design(dataclasses.replace(TINY, community_model="ar1", ar1_phi=phi, decoy_phi=phi))
    with pytest.raises(PlanktonlmInputError, match="community_model"):
        sim.monthly_design(2, 3, community_model="AR1")
