"""``planktonlm bench``: targets report their numbers as a table and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planktonlm import bench
from planktonlm.cli import main as cli_main
from planktonlm.stats import calibration

GENOMES = Path(__file__).resolve().parents[2] / "resources" / "genomes"


def test_bench_simulate_reports_rates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.json"
    assert cli_main(["bench", "simulate", "--preset", "tiny", "--reads-per-sample", "20", "--repeats", "1",
                     "--genomes", str(GENOMES), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["stage"] for r in result["results"]] == ["generate", "generate+fastq", "end-to-end"]
    assert all(r["read_pairs"] == 20 * 12 and r["pairs_per_s"] > 0 for r in result["results"])
    assert result["machine"]["cpu_count"] >= 1
    assert "end-to-end" in capsys.readouterr().out


def test_bench_stats_null_passes_its_options_and_writes_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    calls = []

    def fake_calibrate(**kwargs: object) -> tuple[pd.DataFrame, pd.DataFrame]:
        calls.append(kwargs)
        rows = pd.DataFrame({"phi": [0.5], "scheme": ["auto"], "cv_rejected": [False]})
        return rows, pd.DataFrame({"cell": ["all"], "cruises": [1], "cv_perm_test": [0.0]})

    monkeypatch.setattr(calibration, "calibrate", fake_calibrate)
    out, rows = tmp_path / "null.json", tmp_path / "rows.tsv"
    assert cli_main(["bench", "stats-null", "--per-cell", "3", "--permutations", "19", "--seed", "5", "--jobs", "2",
                     "--rows", str(rows), "--json", str(out)]) == 0
    assert calls == [{"n_per_cell": 3, "n_permutations": 19, "seed": 5, "n_jobs": 2}]
    result = json.loads(out.read_text())
    assert result["results"] == [{"cell": "all", "cruises": 1, "cv_perm_test": 0.0}]
    assert {k: result["parameters"][k] for k in ("per_cell", "permutations", "seed", "alpha")} == {
        "per_cell": 3, "permutations": 19, "seed": 5, "alpha": 0.05}
    assert pd.read_csv(rows, sep="\t").to_dict("records") == [{"phi": 0.5, "scheme": "auto", "cv_rejected": False}]
    assert capsys.readouterr().out.splitlines()[0].split() == ["cell", "cruises", "cv_perm_test"]


def test_format_table_aligns_columns_and_puts_what_last() -> None:
    table = bench.format_table({"results": [{"what": "all of it", "stage": "a", "n": 1}, {"what": "x", "stage": "bbb", "n": 22}],
                                "parameters": {"seed": 1}, "machine": {"cpu_count": 2}})
    assert table.splitlines() == ["stage  n   what", "a      1   all of it", "bbb    22  x", "parameters: seed=1",
                                  "machine: cpu_count=2"]


def test_bench_encoder_throughput_runs_the_bf16_path_on_the_cpu(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``--device cpu-bf16``: the GPU's autocast numerics measured on the CPU, memory parts and mfu in the rows."""
    import dnaio
    import numpy as np

    rng = np.random.default_rng(0)
    r1, r2 = tmp_path / "S1_R1.fastq.gz", tmp_path / "S1_R2.fastq.gz"
    with dnaio.open(r1, r2, mode="w") as writer:
        for i in range(40):
            mates = ["".join(rng.choice(list("ACGT"), size=60)) for _ in range(2)]
            writer.write(*(dnaio.SequenceRecord(f"r{i}", seq, "I" * 60) for seq in mates))
    (tmp_path / "units.tsv").write_text(f"sample\tunit\tfq1\tfq2\nS1\trun1\t{r1}\t{r2}\n")
    config = tmp_path / "config.yaml"
    config.write_text("model: {k: 3, n_layer: 1, n_head: 2, d_model: 16, max_len: 24}\n"
                      "train: {batch_size: 8, device: cpu}\n")
    out = tmp_path / "throughput.json"
    assert cli_main(["bench", "encoder-throughput", "--sim-dir", str(tmp_path), "--config", str(config), "--no-large",
                     "--device", "cpu-bf16", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["parameters"]["device"].endswith("bf16 autocast")
    [row] = result["results"]
    assert row["model"] == "configured" and row["train_reads_per_s"] > 0
    parts = ("train_weight_bytes", "train_grad_bytes", "train_optimizer_state_bytes", "train_activation_bytes")
    assert row["train_peak_memory_bytes"] == sum(row[k] for k in parts) >= 16 * row["parameters"]
    assert row["train_mfu"] is None and row["train_mfu_note"]
    assert "train_peak_memory_bytes" in capsys.readouterr().out


def test_dag_cruise_is_valid_and_every_unit_has_its_own_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planktonlm.inputs.cruise import load_cruise

    config = bench.write_dag_cruise(tmp_path, n_samples=12, n_units=2)
    assert config.read_text().startswith("samples: samples.tsv")
    monkeypatch.chdir(tmp_path)  # the sheets' paths are relative to the run's working directory
    cruise = load_cruise("samples.tsv", "units.tsv")  # every check, FASTQ content included
    assert cruise.sample_ids()[:2] == ["S00001", "S00002"] and len(cruise.units) == 24
    assert cruise.paired_samples() == cruise.sample_ids()


def test_bench_dag_times_parse_and_the_dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the repository's Snakefile
    out = tmp_path / "dag.json"
    assert cli_main(["bench", "dag", "--samples", "3", "--units", "2", "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["stage"] for r in result["results"]] == ["parse", "parse+dag"]
    assert all(r["units"] == 6 and r["seconds_median"] > 0 and r["target_s"] == 30.0 for r in result["results"])
    # per unit: check_fastq + cutadapt_pe; per sample: merge, embed, k-mers, 2 assignments; then the cruise-wide jobs
    assert result["parameters"]["jobs_planned"] > 6 * 2 + 3 * 5
    assert result["parameters"]["fastq_files"] == 12
    assert "parse+dag" in capsys.readouterr().out


def test_bench_dag_needs_the_snakefile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["bench", "dag", "--samples", "2"]) == 2
    assert "--snakefile" in capsys.readouterr().err


REPO = Path(__file__).resolve().parents[2]


def _fastq_records(path: Path) -> list[list[str]]:
    import gzip

    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    return [lines[i:i + 4] for i in range(0, len(lines), 4)]


def test_scale_reads_are_seeded_and_every_size_is_a_prefix_of_the_largest(tmp_path: Path) -> None:
    from planktonlm.benchmarks_scale import READS_MANIFEST, write_scale_reads

    first = write_scale_reads(tmp_path / "a", [1000, 300], seed=3, genomes_dir=GENOMES)
    again = write_scale_reads(tmp_path / "b", [300, 1000], seed=3, genomes_dir=GENOMES)
    other = write_scale_reads(tmp_path / "c", [1000], seed=4, genomes_dir=GENOMES)
    assert sorted(first) == [300, 1000]
    for n in (300, 1000):
        assert [p.read_bytes() for p in first[n]] == [p.read_bytes() for p in again[n]]
    assert first[1000][0].read_bytes() != other[1000][0].read_bytes()

    large1, large2 = _fastq_records(first[1000][0]), _fastq_records(first[1000][1])
    assert len(large1) == len(large2) == 1000
    assert _fastq_records(first[300][0]) == large1[:300] and _fastq_records(first[300][1]) == large2[:300]
    for (name1, seq, plus, quality), (name2, *_rest) in zip(large1, large2):
        assert name1.split()[0] == name2.split()[0] and name1.endswith(" 1:N:0") and name2.endswith(" 2:N:0")
        assert len(seq) == len(quality) == 150 and plus == "+" and set(seq) <= set("ACGTN")
        assert all(33 <= ord(c) <= 33 + 41 for c in quality)
    # short inserts read through into the adapter: cutadapt has something to trim
    assert any("AGATCGGAAGAGC" in record[1] for record in large1)

    # the same sizes, seed and genomes: the files are reused, not written again
    stamp = first[1000][0].stat().st_mtime_ns
    write_scale_reads(tmp_path / "a", [300, 1000], seed=3, genomes_dir=GENOMES)
    assert first[1000][0].stat().st_mtime_ns == stamp and (tmp_path / "a" / READS_MANIFEST).is_file()


def test_scale_row_takes_the_median_time_and_the_largest_memory_of_its_repeats() -> None:
    from planktonlm.benchmarks_scale import measured_row

    repeats = [{"wall_s": 9.0, "cpu_s": 8.0, "peak_rss_mb": 100.0, "fragments": 7},
               {"wall_s": 4.0, "cpu_s": 3.5, "peak_rss_mb": 130.0, "fragments": 7},
               {"wall_s": 5.0, "cpu_s": 4.5, "peak_rss_mb": 110.0, "fragments": 7}]
    row = measured_row("embed_share", 2_000_000, repeats)
    assert row == {"stage": "embed_share", "pairs": 2_000_000, "fragments": 7, "repeats": 3, "wall_s": 5.0,
                   "wall_s_min": 4.0, "wall_s_max": 9.0, "wall_s_each": [9.0, 4.0, 5.0], "cpu_s": 4.5,
                   "cpu_s_each": [8.0, 3.5, 4.5], "peak_rss_mb": 130.0,
                   "s_per_m_pairs": 2.5}
    assert measured_row("check_fastq", 500_000, [{"wall_s": 1.0, "cpu_s": 1.0, "peak_rss_mb": 1.0, "records": 3}])["fragments"] == 3


def test_scale_fit_judges_linear_time_and_flat_memory() -> None:
    from planktonlm.benchmarks_scale import fit_stage

    sizes = [500_000, 1_000_000, 2_000_000, 4_000_000]
    linear = [{"pairs": n, "wall_s": 3.0 + 10.0 * n / 1e6, "peak_rss_mb": 400.0 + n / 1e6} for n in sizes]
    # measured once per size: a line, but no verdict (one residual degree of freedom); twice: linear
    assert fit_stage("cutadapt", linear)["time_verdict"] == "inconclusive"
    fit = fit_stage("cutadapt", [{**r, "wall_s_each": [r["wall_s"]] * 2} for r in linear])
    assert fit["slope_s_per_m_pairs"] == 10.0 and fit["intercept_s"] == 3.0 and fit["r2"] == 1.0
    assert fit["marginal_ratio"] == 1.0 and fit["per_pair_ratio"] < 1  # fixed costs: not a sign of trouble
    assert fit["time_linear"] is True and fit["memory_flat"] is True

    quadratic = [{"pairs": n, "wall_s": 1.0 + 2.0 * (n / 1e6) ** 2, "peak_rss_mb": 300.0 + 500 * n / 1e6} for n in sizes]
    fit = fit_stage("kmer_vectors_all", quadratic)
    assert fit["time_linear"] is False and fit["memory_flat"] is False
    assert fit["rss_slope_mb_per_m_pairs"] == 500.0 and fit["rss_ratio"] > 2

    assert fit_stage("embed_all", linear[:1])["slope_s_per_m_pairs"] is None


def _noisy_rows(seconds, relative_sd: float, repeats: int, seed: int) -> list[dict]:
    """Measured rows of a stage taking seconds(M pairs) at the anchor and the four sizes, each repeat
    off by seeded relative noise (the VM the README's figures come from: about 10 %)."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in (50_000, 500_000, 1_000_000, 2_000_000, 4_000_000):
        each = [seconds(n / 1e6) * float(np.exp(rng.normal(0, relative_sd))) for _ in range(repeats)]
        rows.append({"stage": "cutadapt", "pairs": n, "wall_s": float(np.median(each)), "wall_s_each": each,
                     "peak_rss_mb": 100.0, **({"anchor": True} if n == 50_000 else {})})
    return rows


def test_scale_excess_is_the_curvature_over_the_line_of_the_smallest_size() -> None:
    from planktonlm.benchmarks_scale import superlinear_excess

    def exact(seconds) -> list[dict]:
        return [{**r, "wall_s_each": [r["wall_s"]] * 2} for r in _noisy_rows(seconds, 0.0, 1, 0)]

    # t = 2 + 3 n + 0.25 n^2: excess c (L - S)^2 / (b L + c L^2) = 0.25 * 3.5^2 / (12 + 4), its interval a point
    fit = superlinear_excess(exact(lambda m: 2 + 3 * m + 0.25 * m * m), 500_000, 4_000_000)
    assert fit["excess"] == pytest.approx(0.25 * 3.5**2 / 16, abs=1e-3) and fit["excess_df"] == 10 - 3
    assert fit["excess_ci90"] == pytest.approx([fit["excess"]] * 2, abs=1e-4)
    assert superlinear_excess(exact(lambda m: 7 + 5 * m), 500_000, 4_000_000)["excess"] == 0.0
    # a power law is not a quadratic: the misfit widens the interval, around the excess the docstring states
    fit = superlinear_excess(exact(lambda m: m**1.5), 500_000, 4_000_000)
    assert fit["excess_ci90"][0] < fit["excess"] < fit["excess_ci90"][1] and fit["excess"] == pytest.approx(0.55, abs=0.01)
    # rows merged from before every repeat was kept are one point each; too few points: no estimate
    single = [{k: v for k, v in r.items() if k != "wall_s_each"} for r in _noisy_rows(lambda m: 1 + m, 0.05, 1, 0)]
    assert superlinear_excess(single, 500_000, 4_000_000)["excess_df"] == 2
    assert superlinear_excess(single[:3], 50_000, 1_000_000) == {"excess": None, "excess_ci90": None, "excess_df": None}


@pytest.mark.parametrize(("name", "seconds", "relative_sd", "allowed"), [
    # under 2 % noise three rounds show a linear stage linear, even one dominated by its start-up
    ("linear", lambda m: 0.3 + 5.5 * m, 0.02, {"linear"}),
    ("fixed cost", lambda m: 7 + 3.5 * m, 0.02, {"linear", "inconclusive"}),
    # under the VM's 10 % noise a linear stage is never called super- or sublinear ...
    ("linear, noisy", lambda m: 0.3 + 5.5 * m, 0.10, {"linear", "inconclusive"}),
    ("fixed cost, noisy", lambda m: 7 + 3.5 * m, 0.10, {"linear", "inconclusive"}),
    # ... while n^1.5 is caught even behind a fixed cost, n^1.2 under 5 %, and a stage flattening out too
    ("n^1.5", lambda m: 0.3 + 4 * m**1.5, 0.10, {"superlinear"}),
    ("n^1.5 behind a fixed cost", lambda m: 7 + 2 * m**1.5, 0.05, {"superlinear"}),
    ("n^1.2", lambda m: 0.3 + 5.5 * m**1.2, 0.05, {"superlinear"}),
    ("sqrt", lambda m: 6 * m**0.5, 0.10, {"sublinear"}),
])
def test_scale_time_verdict_tells_linear_from_superlinear_through_timing_noise(name: str, seconds, relative_sd: float,
                                                                            allowed: set) -> None:
    from planktonlm.benchmarks_scale import fit_stage

    verdicts = [fit_stage("cutadapt", _noisy_rows(seconds, relative_sd, 3, seed)) for seed in range(20)]
    assert {v["time_verdict"] for v in verdicts} <= allowed, (name, [v["excess_ci90"] for v in verdicts])
    assert all(v["time_linear"] is {"linear": True, "inconclusive": None}.get(v["time_verdict"], False) for v in verdicts)
    assert all(v["sizes"] == 4 and v["anchor_pairs"] == 50_000 for v in verdicts)  # the anchor is no claimed size


def test_scale_time_verdict_says_inconclusive_where_the_noise_allows_either() -> None:
    from planktonlm.benchmarks_scale import fit_stage

    fit = fit_stage("cutadapt", _noisy_rows(lambda m: 0.3 + 5.5 * m, 0.30, 3, 0))
    low, high = fit["excess_ci90"]
    assert fit["time_verdict"] == "inconclusive" and fit["time_linear"] is None
    assert low < 0.125 and (high is None or high > 0.125) or low < -0.125  # neither shown linear nor superlinear


@pytest.mark.parametrize(("options", "column"), [
    (["--pairs", "0"], "--pairs"),
    (["--pairs", "1000,x"], "--pairs"),
    (["--pairs", "1000", "--reads-for", "1000,-5"], "--reads-for"),
    (["--pairs", "1000,2000", "--anchor-pairs", "1000"], "--anchor-pairs"),
    (["--pairs", "1000", "--anchor-pairs", "-1"], "--anchor-pairs"),
    (["--pairs", "1000", "--anchor-pairs", "5000"], "--anchor-pairs"),
])
def test_bench_scale_refuses_sizes_that_are_not_positive_counts(capsys: pytest.CaptureFixture, options: list[str],
                                                                column: str) -> None:
    assert cli_main(["bench", "scale", *options]) != 0
    err = capsys.readouterr().err
    assert f"column '{column}'" in err and ("must be comma-separated positive integers" in err
                                            or "must lie below every size of --pairs" in err)


def _scale_result(path: Path, rows: list[dict], **changes) -> str:
    """A ``bench scale --json`` file with these measured rows (their fit rows as one run writes them)."""
    from planktonlm.benchmarks_scale import MERGE_SAME_MACHINE, MERGE_SAME_PARAMETERS, fit_stages

    parameters = {key: 1 for key in MERGE_SAME_PARAMETERS} | {"pairs": "x", "total_s": 9.0}
    machine = {key: "m" for key in MERGE_SAME_MACHINE} | {"cpus_usable": 1}
    for key, value in changes.items():
        (machine if key in machine else parameters)[key] = value
    fits = fit_stages(rows)
    path.write_text(json.dumps({"target": "scale", "parameters": parameters, "results": rows + fits, "summary": fits,
                                "criteria": {"time_linear": "t"}, "machine": machine}))
    return str(path)


def test_scale_merge_fits_each_stage_over_the_rows_of_every_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from planktonlm.benchmarks_scale import CRITERIA

    def row(stage: str, pairs: int, seconds_per_m: float) -> dict:
        return {"stage": stage, "pairs": pairs, "wall_s": 5.0 + seconds_per_m * pairs / 1e6, "peak_rss_mb": 600.0}

    small = _scale_result(tmp_path / "small.json", [row(s, n, 2000.0) for n in (500_000, 1_000_000)
                                                    for s in ("cutadapt", "embed_all")])
    two = _scale_result(tmp_path / "two.json", [{**row(s, 2_000_000, 2000.0), "repeats": 3} for s in ("cutadapt", "embed_all")],
                        repeats=3)
    # superlinear at 4 M: the merged fit over four sizes must see it, a fit of the small run alone could not
    four = _scale_result(tmp_path / "four.json", [row("cutadapt", 4_000_000, 2000.0), row("embed_all", 4_000_000, 3500.0)],
                         cpus_usable=2)
    out = tmp_path / "merged.json"
    assert cli_main(["bench", "scale", "--merge", f"{small}:embed_all", f"{two}:embed_all", f"{four}:embed_all",
                     "--json", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert [(r["stage"], r["pairs"]) for r in merged["results"] if r["pairs"] != "fit"] == [
        ("embed_all", n) for n in (500_000, 1_000_000, 2_000_000, 4_000_000)]
    (fit,) = merged["summary"]
    assert fit["stage"] == "embed_all" and fit["sizes"] == 4 and fit["marginal_ratio"] == 2.5
    assert fit["time_linear"] is False and fit["memory_flat"] is True
    assert merged["criteria"] == CRITERIA  # refitted by this code: its criteria, not those the sources were written with
    assert merged["parameters"]["pairs"] == "500000,1000000,2000000,4000000"
    assert [m["file"] for m in merged["parameters"]["merged_from"]] == [small, two, four]
    # a row says how often it was measured; rows of results from before --repeats were measured once
    assert [r["repeats"] for r in merged["results"] if r["pairs"] != "fit"] == [1, 1, 3, 1]
    assert [m["repeats"] for m in merged["parameters"]["merged_from"]] == [1, 3, 1]
    assert "cpus_usable" not in merged["machine"] and "embed_all" in capsys.readouterr().out

    # no stages named: every row of each file, each (stage, size) once
    assert cli_main(["bench", "scale", "--merge", small, two, "--json", str(out)]) == 0
    assert {s["stage"]: s["sizes"] for s in json.loads(out.read_text())["summary"]} == {"cutadapt": 3, "embed_all": 3}


@pytest.mark.parametrize(("case", "message"), [
    ("twice", "cutadapt at 500000 pairs is also taken from"),
    ("stage", "stage 'kmer_vectors_all' was not measured in this file"),
    ("parameter", "parameters 'embed_share' differs from"),
    ("machine", "machine 'cpu_model' differs from"),
    ("target", "not a planktonlm bench scale result"),
    ("missing", "cannot read a JSON result"),
])
def test_scale_merge_refuses_what_does_not_fit_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, case: str,
                                                         message: str) -> None:
    rows = [{"stage": "cutadapt", "pairs": n, "wall_s": n / 1e5, "peak_rss_mb": 100.0} for n in (500_000, 1_000_000)]
    first = _scale_result(tmp_path / "first.json", rows)
    second = {  # built only for this case: each writes second.json
        "twice": lambda: _scale_result(tmp_path / "second.json", rows[:1]),
        "stage": lambda: f"{first}:kmer_vectors_all",
        "parameter": lambda: _scale_result(tmp_path / "second.json", [], embed_share=2),
        "machine": lambda: _scale_result(tmp_path / "second.json", [], cpu_model="other"),
        "target": lambda: str(tmp_path / "dag.json"),
        "missing": lambda: str(tmp_path / "absent.json"),
    }[case]()
    (tmp_path / "dag.json").write_text(json.dumps({"target": "dag", "results": []}))
    sources = [second] if case == "stage" else [first, second]
    assert cli_main(["bench", "scale", "--merge", *sources]) != 0
    assert message in capsys.readouterr().err


def test_scale_embeds_every_fragment_only_up_to_the_cap(tmp_path: Path) -> None:
    from planktonlm.benchmarks_scale import _size_stages

    reads = (tmp_path / "R1.fastq.gz", tmp_path / "R2.fastq.gz")
    capped = _size_stages(10, reads, tmp_path, {}, share=5, embed_all=False)
    assert [s["stage"] for s in capped] == ["check_fastq", "cutadapt", "merge_units", "embed_share", "kmer_vectors_share",
                                            "kmer_vectors_all"]
    # beyond the cap the k-mer vectors of every fragment are still measured, on ids listed first
    assert [s.get("list_ids_first", False) for s in capped] == [False] * 5 + [True]
    full = _size_stages(10, reads, tmp_path, {"device": "cpu"}, share=5, embed_all=True)
    assert [s["stage"] for s in full][5:] == ["embed_all", "kmer_vectors_all"]
    assert not any(s.get("list_ids_first") for s in full)
    assert [s["reads_per_sample"] for s in full if s["stage"].startswith("embed")] == [5, 0]
    assert capped[-1]["ids"] == full[-1]["ids"] == full[-2]["out"]["ids"]
    assert all(s["device"] == "cpu" for s in full)


def test_listed_fragment_ids_are_those_embedding_every_fragment_writes(tmp_path: Path) -> None:
    from planktonlm.benchmarks_scale import list_fragment_ids, write_scale_reads
    from planktonlm.config import build_config, load_config
    from planktonlm.encoder.embed import EmbedConfig, embed_sample

    r1, r2 = write_scale_reads(tmp_path / "reads", [300], seed=2, genomes_dir=GENOMES)[300]
    config = load_config(REPO / "config" / "config.yaml")
    cfg = build_config(EmbedConfig, "embed", config["embed"], reads_per_sample=0, device="cpu")
    embedded = embed_sample(r1, r2, REPO / "resources" / "models" / "marine-base-v1", tmp_path / "all.npy",
                            tmp_path / "all.ids.txt", cfg, config["seed"], threads=1)
    assert list_fragment_ids(str(r1), str(r2), str(tmp_path / "listed.ids.txt")) == embedded == 300
    assert (tmp_path / "listed.ids.txt").read_bytes() == (tmp_path / "all.ids.txt").read_bytes()


def test_bench_scale_measures_every_stage_at_every_size(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from planktonlm.benchmarks_scale import STAGES

    out, work = tmp_path / "scale.json", tmp_path / "work"
    assert cli_main(["bench", "scale", "--pairs", "2000,4000", "--embed-share", "300", "--embed-all-max-pairs", "2000",
                     "--repeats", "2", "--anchor-pairs", "500",
                     "--config", str(REPO / "config" / "config.yaml"),
                     "--model", str(REPO / "resources" / "models" / "marine-base-v1"),
                     "--genomes", str(GENOMES), "--device", "cpu", "--work-dir", str(work), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    measured = [r for r in result["results"] if r["pairs"] != "fit"]
    # every stage at every size and the anchor, but the embedding of every fragment only up to the cap
    assert sorted((r["stage"], r["pairs"]) for r in measured) == sorted(
        [(s, n) for s in STAGES for n in (500, 2000, 4000) if (s, n) != ("embed_all", 4000)])
    assert {r["pairs"] for r in measured if r.get("anchor")} == {500}
    for row in measured:
        assert row["wall_s"] > 0 and row["cpu_s"] > 0 and row["peak_rss_mb"] > 0 and row["s_per_m_pairs"] > 0, row
        assert row["repeats"] == 2 and row["wall_s_min"] <= row["wall_s"] <= row["wall_s_max"], row
        assert len(row["wall_s_each"]) == 2 and min(row["wall_s_each"]) == row["wall_s_min"], row
    by = {(r["stage"], r["pairs"]): r for r in measured}
    for n in (2000, 4000):
        assert by["check_fastq", n]["fragments"] == n
        assert by["embed_share", n]["fragments"] == by["kmer_vectors_share", n]["fragments"] == 300
        assert 0.9 * n < by["kmer_vectors_all", n]["fragments"] <= n
    # at 2000 the k-mer stage reads embed_all's ids, at 4000 the listed ones: the 4000 reads begin with the 2000
    assert by["kmer_vectors_all", 2000]["fragments"] == by["embed_all", 2000]["fragments"]
    assert by["kmer_vectors_all", 4000]["fragments"] > by["kmer_vectors_all", 2000]["fragments"]
    assert by["embed_all", 2000]["peak_rss_mb"] > by["check_fastq", 2000]["peak_rss_mb"]  # torch and the model
    assert [s["stage"] for s in result["summary"]] == list(STAGES)
    for fit in result["summary"]:
        if fit["stage"] == "embed_all":  # one size: nothing to fit
            assert fit["sizes"] == 1 and fit["slope_s_per_m_pairs"] is None and fit["time_linear"] is None
            continue
        # two sizes: a line through both (R^2 1), or none defined when both took the same hundredths of a second
        assert fit["sizes"] == 2 and fit["slope_s_per_m_pairs"] is not None and fit["r2"] in (1.0, None)
        assert fit["anchor_pairs"] == 500 and fit["excess_df"] == 3  # 2 repeats at 3 sizes, less a quadratic's 3
        assert fit["time_verdict"] in ("linear", "superlinear", "sublinear", "inconclusive")
        assert fit["time_linear"] in (True, False, None) and isinstance(fit["memory_flat"], bool) and fit["rss_ratio"] >= 1
    assert result["parameters"]["embed_share"] == 300 and result["parameters"]["embed_all_max_pairs"] == 2000
    assert result["parameters"]["repeats"] == 2 and result["parameters"]["anchor_pairs"] == 500
    assert result["machine"]["cpu_count"] >= 1
    # the reads stay in --work-dir; the stages' outputs do not
    assert (work / "reads" / "pairs_4000" / "SCALE_R1.fastq.gz").is_file() and not list((work / "runs").iterdir())
    # rounds, not repeats in a row: the second round measures the sizes in the opposite order
    printed = capsys.readouterr()
    assert "kmer_vectors_all" in printed.out
    starts = [line.split(": started")[0].split(": ", 1)[1] for line in printed.err.splitlines()
              if line.startswith("bench scale") and ": started" in line and line.split()[3] == "check_fastq"]
    assert starts == [f"check_fastq at {n} pairs, round {k}/2" for k, sizes in ((1, (500, 2000, 4000)), (2, (4000, 2000, 500)))
                      for n in sizes]
