from __future__ import annotations

import gzip
from pathlib import Path

import dnaio
import numpy as np

from planktonlm.config import build_config
from planktonlm.encoder.benchmarks import (
    bench_quality,
    bench_throughput,
    eval_fragments,
    separation_scores,
    tetranucleotide_frequencies,
)
from planktonlm.encoder.model import ModelConfig
from planktonlm.encoder.tokenizer import reverse_complement
from planktonlm.encoder.train import TrainConfig, train_encoder
from planktonlm.reads.fragments import Fragment, PooledFragment, iter_fragments

SECTION = build_config(ModelConfig, "model", tokenizer="kmer", k=3, n_layer=1, n_head=2, d_model=16, max_len=24)
GC = {"low_gc": 0.25, "mid_gc": 0.5, "high_gc": 0.75}


def test_tetranucleotide_frequencies_are_canonical() -> None:
    fragments = [Fragment("a", "ACGTTGCAAGGCTTAN", "GGGCCCATAT"), Fragment("b", "AAAAAAA", None)]
    flipped = [Fragment(f.read_id, reverse_complement(f.seq1), f.seq2 and reverse_complement(f.seq2)) for f in fragments]
    tnf = tetranucleotide_frequencies(fragments)
    assert tnf.shape == (2, 136)
    assert np.allclose(tnf.sum(axis=1), 1.0)
    assert np.array_equal(tnf, tetranucleotide_frequencies(flipped))
    assert np.count_nonzero(tnf[1]) == 1  # AAAA and TTTT share one column
    assert tetranucleotide_frequencies([Fragment("c", "ACG", None)]).sum() == 0.0  # shorter than a 4-mer


def test_separation_scores_tell_clusters_from_noise() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 40)
    centres = {"a": 0.0, "b": 5.0, "c": 10.0}
    clustered = np.array([centres[x] for x in labels])[:, None] + rng.normal(size=(120, 4))
    noise = rng.normal(size=(120, 4))
    good, bad = separation_scores(clustered, labels, seed=1), separation_scores(noise, labels, seed=1)
    assert good["knn_accuracy"] > 0.95 and good["kmeans_ari"] > 0.9
    assert bad["knn_accuracy"] < 0.6 and bad["kmeans_ari"] < 0.2


def write_cruise(root: Path, n_per_sample: int = 60) -> Path:
    """A miniature simulator output: units.tsv, paired reads, truth/read_origin.tsv.gz."""
    rng = np.random.default_rng(3)
    genomes = {name: "".join(rng.choice(list("ACGT"), p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], size=3000))
               for name, gc in GC.items()}
    (root / "reads").mkdir(parents=True)
    (root / "truth").mkdir()
    units, truth = ["sample\tunit\tfq1\tfq2"], ["sample\tunit\tread_id\tgenome\tcontig\tstrand\tstart\tinsert_size"]
    for sample in ("S1", "S2"):
        r1, r2 = root / "reads" / f"{sample}_R1.fastq.gz", root / "reads" / f"{sample}_R2.fastq.gz"
        units.append(f"{sample}\trun1\treads/{r1.name}\treads/{r2.name}")  # relative to the cruise folder
        with dnaio.open(r1, r2, mode="w") as writer:
            for i in range(n_per_sample):
                name = list(GC)[int(rng.integers(0, 3))]
                start = int(rng.integers(0, 3000 - 150))
                insert = genomes[name][start:start + 150]
                read_id = f"{sample}.{i:03d}"
                writer.write(dnaio.SequenceRecord(read_id, insert[:60], "I" * 60),
                             dnaio.SequenceRecord(read_id, reverse_complement(insert[-60:]), "I" * 60))
                truth.append(f"{sample}\trun1\t{read_id}\t{name}\t{name}_1\t+\t{start}\t150")
    (root / "units.tsv").write_text("\n".join(units) + "\n")
    with gzip.open(root / "truth" / "read_origin.tsv.gz", "wt") as handle:
        handle.write("\n".join(truth) + "\n")
    return root


def test_bench_quality_holds_out_the_training_reads(tmp_path: Path) -> None:
    cruise = write_cruise(tmp_path / "cruise")
    training = [PooledFragment("S1", *f) for f in list(iter_fragments(cruise / "reads" / "S1_R1.fastq.gz",
                                                                       cruise / "reads" / "S1_R2.fastq.gz"))[:30]]
    model_dir = train_encoder(training, tmp_path / "model", SECTION.encoder_config(), SECTION.tokenizer_spec(),
                              build_config(TrainConfig, "train", max_steps=4, batch_size=8, log_every=2, checkpoint_every=0,
                                           device="cpu"),
                              seed=1)
    chosen, genomes = eval_fragments(cruise, {f.read_id for f in training}, 50, seed=2)
    assert len(chosen) == 50 and not {f.read_id for f in chosen} & {f.read_id for f in training}
    assert set(genomes) <= set(GC)
    result = bench_quality(cruise, model_dir, n_eval_reads=60, seed=2, k=5, n_folds=3, device="cpu")
    assert result["n_eval_fragments"] == 60 and result["n_training_reads_excluded"] == 30
    assert result["n_genomes"] == 3
    assert set(result["scores"]) == {"trained_encoder", "untrained_encoder", "tetranucleotide_frequencies"}
    for scores in result["scores"].values():
        assert 0.0 <= scores["knn_accuracy"] <= 1.0 and -1.0 <= scores["kmeans_ari"] <= 1.0
    # GC 25 / 50 / 75 %: tetranucleotide frequencies must tell these genomes apart
    assert result["scores"]["tetranucleotide_frequencies"]["knn_accuracy"] > 0.9


def test_bench_throughput_reports_rates_and_memory() -> None:
    rng = np.random.default_rng(0)
    fragments = [Fragment(f"r{i}", "".join(rng.choice(list("ACGT"), size=50)), "".join(rng.choice(list("ACGT"), size=50)))
                 for i in range(24)]
    result = bench_throughput(fragments, SECTION, train_cfg=build_config(TrainConfig, "train", batch_size=8, device="cpu"), n_train_steps=2,
                              embed_batch_size=8, include_large=False, device="cpu")
    configured = result["models"]["configured"]
    assert set(result["models"]) == {"configured"}
    assert configured["train_reads_per_s"] > 0 and configured["embed_reads_per_s"] > 0
    assert configured["train_peak_memory_bytes"] >= 0 and configured["parameters"] > 0
