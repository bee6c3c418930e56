from __future__ import annotations

import gzip
from pathlib import Path

import dnaio
import numpy as np
import pytest

from planktonlm.encoder.quality import bench_quality, per_sample_draw, read_cruise
from planktonlm.encoder.tokenizer import reverse_complement
from planktonlm.errors import PlanktonlmInputError

GC = {"low_gc": 0.25, "mid_gc": 0.5, "high_gc": 0.75}
GENOME_BP = 200_000  # 40 blocks of 5 kb per genome: every genome has train, tuning and reported regions


def write_cruise(root: Path, n_per_sample: int = 400) -> Path:
    """A miniature simulator output: genomes/, units.tsv, paired reads, truth/read_origin.tsv.gz."""
    rng = np.random.default_rng(3)
    genomes = {name: "".join(rng.choice(list("ACGT"), p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], size=GENOME_BP))
               for name, gc in GC.items()}
    for folder in ("reads", "truth", "genomes"):
        (root / folder).mkdir(parents=True)
    for name, seq in genomes.items():
        (root / "genomes" / f"{name}.fna").write_text(f">{name}_1\n{seq}\n")
    units, truth = ["sample\tunit\tfq1\tfq2"], ["sample\tunit\tread_id\tgenome\tcontig\tstrand\tstart\tinsert_size"]
    for sample in ("S1", "S2", "S3"):
        r1, r2 = root / "reads" / f"{sample}_R1.fastq.gz", root / "reads" / f"{sample}_R2.fastq.gz"
        units.append(f"{sample}\trun1\treads/{r1.name}\treads/{r2.name}")  # relative to the cruise folder
        with dnaio.open(r1, r2, mode="w") as writer:
            for i in range(n_per_sample):
                name = list(GC)[int(rng.integers(0, 3))]
                start = int(rng.integers(0, GENOME_BP - 150))
                insert = genomes[name][start:start + 150]
                read_id = f"{sample}.{i:04d}"
                writer.write(dnaio.SequenceRecord(read_id, insert[:60], "I" * 60),
                             dnaio.SequenceRecord(read_id, reverse_complement(insert[-60:]), "I" * 60))
                truth.append(f"{sample}\trun1\t{read_id}\t{name}\t{name}_1\t+\t{start}\t150")
    (root / "units.tsv").write_text("\n".join(units) + "\n")
    with gzip.open(root / "truth" / "read_origin.tsv.gz", "wt") as handle:
        handle.write("\n".join(truth) + "\n")
    return root


TINY_CONFIG = {
    "seed": 1,
    "model": {"base": "none", "tokenizer": "kmer", "k": 3, "n_layer": 1, "n_head": 2, "d_model": 16, "max_len": 24},
    "train": {"max_steps": 4, "batch_size": 16, "log_every": 2, "checkpoint_every": 0, "device": "cpu",
              "pool_reads_per_sample": 100},
    "embed": {"reads_per_sample": 0},
    "profiles": {"n_otus": 3, "pool_reads_per_sample": 50},
}


def test_read_cruise_places_every_read_in_a_region(tmp_path: Path) -> None:
    cruise = read_cruise(write_cruise(tmp_path / "cruise"))
    assert len(cruise.fragments) == 1200 and set(cruise.samples) == {"S1", "S2", "S3"}
    assert set(cruise.splits) <= {"train", "tuning", "reported", "straddles"}
    assert {"train", "tuning", "reported"} <= set(cruise.splits)
    assert set(cruise.genomes) == set(GC)


def test_per_sample_draw_caps_each_sample_and_is_seeded() -> None:
    samples = np.array(["a"] * 10 + ["b"] * 3)
    eligible = np.ones(13, dtype=bool)
    eligible[0] = False
    rows = per_sample_draw(samples, eligible, 4, seed=1, purpose="x")
    assert list(samples[rows]).count("a") == 4 and list(samples[rows]).count("b") == 3
    assert 0 not in rows and np.array_equal(rows, np.sort(rows))
    assert np.array_equal(rows, per_sample_draw(samples, eligible, 4, seed=1, purpose="x"))
    assert len(per_sample_draw(samples, eligible, 0, seed=1, purpose="x")) == 12  # 0 = all


def test_bench_quality_evaluates_held_out_regions_only(tmp_path: Path) -> None:
    root = write_cruise(tmp_path / "cruise")
    work = tmp_path / "work"
    result = bench_quality(root, TINY_CONFIG, split="reported", n_eval_reads=200, seed=2, genomes_dir=root / "genomes",
                           k=5, n_folds=3, device="cpu", work_dir=work)
    cruise = read_cruise(root)
    split_of = dict(zip((f.read_id for f in cruise.fragments), cruise.splits))
    trained_on = {line.split("\t")[1] for line in gzip.open(work / "model" / "train_reads.tsv.gz", "rt").read().splitlines()[1:]}
    assert trained_on and {split_of[r] for r in trained_on} == {"train"}  # fine-tuned on train regions only
    assert result["split"] == "reported" and result["n_genomes"] == 3
    assert set(result["scores"]) == {"encoder", "untrained_encoder", "tnf_clr", "kmer5_clr"}
    for scores in result["scores"].values():
        assert 0.0 <= scores["knn_accuracy"] <= 1.0 and set(scores["per_genome"]) == set(GC)
    # GC 25 / 50 / 75 %: the k-mer baselines and the ceiling must tell these genomes apart
    assert result["scores"]["tnf_clr"]["knn_accuracy"] > 0.75 and result["n_eval_fragments"] >= 60
    assert result["ceiling"]["accuracy"] > 0.95
    best = result["best_kmer_baseline"]
    assert result["scores"][best]["knn_vs_best_kmer"] == pytest.approx(1.0)
    assert result["community"]["kmer"]["mantel_r"] <= 1.0 and "mantel_r_gain" in result["community"]


def test_bench_quality_refuses_an_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(PlanktonlmInputError, match="unknown evaluation split"):
        bench_quality(tmp_path, TINY_CONFIG, split="test")
