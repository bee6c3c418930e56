"""``planktonlm bench``: targets report their numbers as a table and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

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
