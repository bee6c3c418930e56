"""Tests for planktonlm.stages.embed: a batch of samples embedded in one job gives each sample
exactly the files a job of its own gives it."""

from __future__ import annotations

from pathlib import Path

import dnaio
import numpy as np
import pytest

from planktonlm.config import build_config, validate_section
from planktonlm.encoder.embed import EmbedConfig
from planktonlm.encoder.embed import embed_sample as embed_one_sample
from planktonlm.errors import PlanktonlmInputError
from planktonlm.stages import Job
from planktonlm.stages.embed import embed_batch

REPO = Path(__file__).resolve().parents[3]
#: the bundled base model: the real architecture, reference-affinity readout included
MODEL = REPO / "resources" / "models" / "marine-base-v1"
EMBED = validate_section("embed", {"reads_per_sample": 15, "batch_size": 4, "device": "cpu"})
SEED = 3


def write_reads(folder: Path, sample: str, n: int, seed: int, paired: bool) -> dict[str, str]:
    """``n`` random fragments of 60-100 bp mates; single-end samples have r1 only."""
    rng = np.random.default_rng(seed)
    r1, r2 = folder / f"{sample}_R1.fastq.gz", folder / f"{sample}_R2.fastq.gz"
    with dnaio.open(r1, r2, mode="w") if paired else dnaio.open(r1, mode="w") as writer:
        for i in range(n):
            mates = ["".join(rng.choice(list("ACGT"), size=int(rng.integers(60, 100)))) for _ in range(2)]
            records = [dnaio.SequenceRecord(f"{sample}.{i}", seq, "I" * len(seq)) for seq in mates]
            writer.write(*records) if paired else writer.write(records[0])
    return {"r1": str(r1), "r2": str(r2)} if paired else {"r1": str(r1)}


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Three samples, B single-end; A holds fewer fragments than the cap, C more."""
    folder = tmp_path_factory.mktemp("qc")
    return {"C": write_reads(folder, "C", 25, 1, True), "A": write_reads(folder, "A", 10, 2, True),
            "B": write_reads(folder, "B", 20, 3, False)}


def batch_job(out: Path, reads: dict[str, dict[str, str]], samples: list[str], name: str) -> Job:
    """The job of one embed_batch rule, as workflow/rules/embed.smk declares it."""
    paired = [s for s in samples if "r2" in reads[s]]
    return Job(input={"weights": str(MODEL / "model.pt"), "model_config": str(MODEL / "config.json"),
                      "tokenizer": str(MODEL / "tokenizer.json"),
                      "r1": [reads[s]["r1"] for s in samples], "r2": [reads[s]["r2"] for s in paired]},
               output={"npy": [str(out / f"{s}.npy") for s in samples], "ids": [str(out / f"{s}.ids.txt") for s in samples]},
               params={"embed": EMBED, "seed": SEED, "samples": samples, "paired_samples": paired},
               log=str(out / f"{name}.log"), threads=1)


def files(folder: Path, sample: str) -> tuple[bytes, bytes]:
    return (folder / f"{sample}.npy").read_bytes(), (folder / f"{sample}.ids.txt").read_bytes()


def test_a_batch_gives_each_sample_the_files_of_a_job_of_its_own(tmp_path: Path, reads) -> None:
    samples = ["C", "A", "B"]
    # Today's jobs: one sample each, the model loaded for each (the library call the per-sample stage made)
    alone = tmp_path / "alone"
    alone.mkdir()
    cfg = build_config(EmbedConfig, "embed", EMBED)
    for sample in samples:
        embed_one_sample(reads[sample]["r1"], reads[sample].get("r2"), MODEL, alone / f"{sample}.npy",
                         alone / f"{sample}.ids.txt", cfg, SEED, threads=1)
    # One job for the three; the same batch in another order; batches of one sample
    for name, batches in {"together": [samples], "reversed": [samples[::-1]], "one_each": [[s] for s in samples]}.items():
        out = tmp_path / name
        out.mkdir()
        for number, batch in enumerate(batches):
            embed_batch(batch_job(out, reads, batch, f"batch{number}"))
        for sample in samples:
            assert files(out, sample) == files(alone, sample), (name, sample)
        assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "temporaries left behind"
    vectors = np.load(alone / "C.npy")
    assert vectors.dtype == np.float16 and vectors.shape[0] == 15  # the cap: 15 of C's 25 fragments
    assert np.load(alone / "A.npy").shape[0] == 10 and np.load(alone / "B.npy").shape[0] == 15
    log = (tmp_path / "together" / "batch0.log").read_text()
    for number, (sample, n) in enumerate((("C", 15), ("A", 10), ("B", 15)), 1):
        assert f"sample {sample}: started ({number}/3)" in log
        assert f"sample {sample}: {n} fragments embedded ({number}/3, " in log
    assert log.count("loaded on cpu") == 1  # the model is loaded once per job


def test_a_batch_is_checked_before_any_sample_is_embedded(tmp_path: Path, reads) -> None:
    job = batch_job(tmp_path, reads, ["C", "A", "B"], "bad")
    short = Job(input=job.input, output={**job.output, "ids": job.output["ids"][:2]}, params=job.params, log=job.log)
    with pytest.raises(ValueError, match="one file per sample"):
        embed_batch(short)
    no_r2 = Job(input={**job.input, "r2": job.input["r2"][:1]}, output=job.output, params=job.params, log=job.log)
    with pytest.raises(PlanktonlmInputError, match="1 read-2 files for 2 paired samples"):
        embed_batch(no_r2)
    elsewhere = Job(input={**job.input, "tokenizer": str(tmp_path / "tokenizer.json")}, output=job.output,
                    params=job.params, log=job.log)
    with pytest.raises(ValueError, match="folder of the weights"):
        embed_batch(elsewhere)
    twice = batch_job(tmp_path, reads, ["C", "C"], "twice")
    with pytest.raises(ValueError, match="each sample and each output file once"):
        embed_batch(twice)
    assert not list(tmp_path.glob("*.npy")) and not list(tmp_path.glob("*.ids.txt"))
