"""The train_encoder stage: Job in, every declared output written (embed_batch: tests/unit/stages/test_embed.py)."""

from __future__ import annotations

import json
from pathlib import Path

import dnaio
import pytest

from planktonlm.config import validate_section
from planktonlm.errors import PlanktonlmInputError
from planktonlm.stages import Job
from planktonlm.stages.train import read_sources, train_encoder

MODEL = validate_section("model", {"base": "none", "k": 3, "n_layer": 1, "n_head": 2, "d_model": 16, "max_len": 16})
TRAIN = validate_section("train", {"pool_reads_per_sample": 6, "val_fraction": 0.2, "max_steps": 3, "batch_size": 4,
                                   "warmup_steps": 1, "checkpoint_every": 0, "log_every": 2, "device": "cpu"})
OUTPUTS = {"weights": "model.pt", "config": "config.json", "tokenizer": "tokenizer.json", "sha256": "weights.sha256",
           "train_log": "train_log.tsv"}


def write_reads(folder: Path, sample: str, fragments, paired: bool) -> dict[str, str]:
    r1, r2 = folder / f"{sample}_R1.fastq.gz", folder / f"{sample}_R2.fastq.gz"
    with dnaio.open(r1, r2, mode="w") if paired else dnaio.open(r1, mode="w") as writer:
        for f in fragments:
            first = dnaio.SequenceRecord(f.read_id, f.seq1, "I" * len(f.seq1))
            if paired:
                writer.write(first, dnaio.SequenceRecord(f.read_id, f.seq2, "I" * len(f.seq2)))
            else:
                writer.write(first)
    return {"r1": str(r1), "r2": str(r2)} if paired else {"r1": str(r1)}


@pytest.fixture(scope="module")
def cruise(tmp_path_factory: pytest.TempPathFactory, make_pool) -> tuple[Path, dict[str, dict[str, str]]]:
    """Three samples (B single-end) of a tiny pool; ids deliberately not in sorted order."""
    folder = tmp_path_factory.mktemp("qc")
    pool = make_pool(n=30)
    reads = {sample: write_reads(folder, sample, pool[i::3], paired=sample != "B") for i, sample in enumerate("CAB")}
    return folder, reads


def train_job(out: Path, reads: dict[str, dict[str, str]], model: dict = MODEL) -> Job:
    samples = list(reads)
    paired = [s for s in samples if "r2" in reads[s]]
    return Job(input={"r1": [reads[s]["r1"] for s in samples], "r2": [reads[s]["r2"] for s in paired]},
               output={name: str(out / file) for name, file in OUTPUTS.items()},
               params={"model": model, "train": TRAIN, "seed": 3, "samples": samples, "paired_samples": paired},
               log=str(out.parent / f"{out.name}.log"), threads=1)


def test_train_stage_writes_every_declared_output(tmp_path: Path, cruise) -> None:
    _, reads = cruise
    job = train_job(tmp_path / "model", reads)
    train_encoder(job)
    assert all(Path(path).is_file() for path in job.output.values())
    assert "training encoder" in Path(job.log).read_text()
    # model.checkpoint: the trained folder is copied, the outputs are the same files
    reused = train_job(tmp_path / "reused", {}, model={**MODEL, "checkpoint": str(tmp_path / "model")})
    train_encoder(reused)
    for name in OUTPUTS:
        assert Path(reused.output[name]).read_bytes() == Path(job.output[name]).read_bytes(), name


def test_train_stage_fine_tunes_model_base_and_checkpoint_wins_over_it(tmp_path: Path, cruise) -> None:
    _, reads = cruise
    base = train_job(tmp_path / "base", reads)
    train_encoder(base)
    # the model: keys say another width: with a base they are not used
    tuned = train_job(tmp_path / "tuned", reads, model={**MODEL, "d_model": 32, "n_head": 4, "base": str(tmp_path / "base")})
    train_encoder(tuned)
    config, base_config = (json.loads(Path(job.output["config"]).read_text()) for job in (tuned, base))
    assert config["model"] == base_config["model"] and config["model"]["d_model"] == 16
    assert config["base"] == {"path": str(tmp_path / "base"),
                              "weights_sha256": Path(base.output["sha256"]).read_text().split()[0]}
    assert Path(tuned.output["weights"]).read_bytes() != Path(base.output["weights"]).read_bytes()
    log = Path(tuned.log).read_text()
    assert "fine-tuning the base model" in log and "d_model=32 (base 16)" in log
    # model.checkpoint and model.base: the checkpoint is copied, the base (missing here) is never read
    reused = train_job(tmp_path / "reused", {}, model={**MODEL, "checkpoint": str(tmp_path / "tuned"),
                                                       "base": str(tmp_path / "missing")})
    train_encoder(reused)
    assert Path(reused.output["weights"]).read_bytes() == Path(tuned.output["weights"]).read_bytes()
    assert "is not read and nothing is trained" in Path(reused.log).read_text()
    missing = train_job(tmp_path / "nothing", reads, model={**MODEL, "base": str(tmp_path / "missing")})
    with pytest.raises(PlanktonlmInputError, match="no such model folder, and no bundled model of that name"):
        train_encoder(missing)
    assert not (tmp_path / "nothing" / "model.pt").exists()


def test_train_stage_refuses_bad_inputs(tmp_path: Path, cruise) -> None:
    _, reads = cruise
    job = train_job(tmp_path / "model", reads)
    short = Job(input={**job.input, "r1": job.input["r1"][:2]}, output=job.output, params=job.params, log=job.log)
    with pytest.raises(PlanktonlmInputError, match="read-1 files for 3 samples"):
        train_encoder(short)
    misplaced = Job(input=job.input, output={**job.output, "train_log": str(tmp_path / "elsewhere.tsv")},
                    params=job.params, log=job.log)
    with pytest.raises(ValueError, match="one folder"):
        train_encoder(misplaced)
    bad = Job(input=job.input, output=job.output, params={**job.params, "train": {**TRAIN, "batch_size": 1}}, log=job.log)
    with pytest.raises(PlanktonlmInputError, match="train.batch_size"):
        train_encoder(bad)
    assert not (tmp_path / "model" / "model.pt").exists()


def test_sources_come_from_params_not_file_names() -> None:
    sources = read_sources(["s2", "s1", "s3"], ["s2", "s3"], ["x/a.fq", "x/b.fq", "x/c.fq"], ["x/a2.fq", "x/c2.fq"],
                           rule="train_encoder")
    assert sources == {"s2": ("x/a.fq", "x/a2.fq"), "s1": ("x/b.fq", None), "s3": ("x/c.fq", "x/c2.fq")}
    assert list(sources) == ["s2", "s1", "s3"]
    with pytest.raises(PlanktonlmInputError, match="paired samples missing"):
        read_sources(["s1"], ["s9"], ["a.fq"], ["b.fq"], rule="train_encoder")
