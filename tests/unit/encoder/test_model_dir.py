from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from planktonlm.config import build_config
from planktonlm.encoder.model import ModelConfig, ReadEncoder
from planktonlm.encoder.model_dir import (
    LOG_COLUMNS,
    import_checkpoint,
    import_model,
    load_base,
    load_model,
    train_seed,
    training_architecture,
    weights_sha256,
    write_log,
    write_model_folder,
)
from planktonlm.encoder.train import TrainConfig, train_encoder
from planktonlm.errors import PlanktonlmInputError

SECTION = build_config(ModelConfig, "model", base="none", tokenizer="kmer", k=3, n_layer=1, n_head=2, d_model=16, max_len=16)
TRAIN = build_config(TrainConfig, "train", pool_reads_per_sample=0, val_fraction=0.2, max_steps=4, batch_size=8,
                     warmup_steps=1, checkpoint_every=0, log_every=2, device="cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, make_pool) -> Path:
    out = tmp_path_factory.mktemp("trained")
    return train_encoder(make_pool(), out, SECTION.encoder_config(), SECTION.tokenizer_spec(), TRAIN, seed=7, threads=1)


def test_folder_reloads_to_the_trained_model(trained: Path) -> None:
    model, spec, cfg = load_model(trained)
    assert spec == SECTION.tokenizer_spec() and cfg == SECTION.encoder_config() and not model.training
    saved = torch.load(trained / "model.pt", weights_only=True)
    assert list(saved) == sorted(saved)  # sorted keys: torch.save of it is byte-stable
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    config = json.loads((trained / "config.json").read_text())
    assert config["seed"] == 7 == train_seed(trained) and config["n_train_fragments"] + config["n_val_fragments"] == 40
    assert config["train"]["max_steps"] == 4 and config["format"] == "planktonlm-model"
    with gzip.open(trained / "train_reads.tsv.gz", "rt") as handle:
        assert handle.read().splitlines()[:2] == ["sample\tread_id", "s0\tr0"]
    sha = (trained / "weights.sha256").read_text().split()
    assert sha[1] == "model.pt" and len(sha[0]) == 64


def test_an_untrained_folder_has_no_seed_and_an_empty_log(tmp_path: Path) -> None:
    model = ReadEncoder(SECTION.encoder_config(), torch.Generator().manual_seed(5))
    write_model_folder(model, tmp_path, SECTION.encoder_config(), SECTION.tokenizer_spec(), None, None, [], 0, 0, [])
    assert train_seed(tmp_path) is None and json.loads((tmp_path / "config.json").read_text())["train"] is None
    assert (tmp_path / "train_log.tsv").read_text() == "\t".join(LOG_COLUMNS) + "\n"
    loaded, _, _ = load_model(tmp_path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


def test_log_numbers_have_six_significant_digits(tmp_path: Path) -> None:
    row = dict(zip(LOG_COLUMNS, [50, 0.000990099009, 11.77971234, 5.0, 6.0, float("nan"), 1.0, 2.0, 3116.4712]))
    write_log(tmp_path / "log.tsv", [row])
    assert (tmp_path / "log.tsv").read_text().splitlines()[1] == "50\t0.000990099\t11.7797\t5\t6\tnan\t1\t2\t3116.47"


def test_tampered_or_missing_weights_are_refused(trained: Path, tmp_path: Path) -> None:
    copy = import_model(trained, tmp_path / "copy")
    data = bytearray((copy / "model.pt").read_bytes())
    data[-100] ^= 0xFF
    (copy / "model.pt").write_bytes(bytes(data))
    with pytest.raises(PlanktonlmInputError, match="weights.sha256"):
        load_model(copy)
    with pytest.raises(PlanktonlmInputError, match="missing"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(PlanktonlmInputError):
        import_model(tmp_path / "nowhere", tmp_path / "x")


def test_checkpoint_import_copies_without_training(trained: Path, tmp_path: Path, caplog) -> None:
    reused = import_checkpoint(replace(SECTION, checkpoint=str(trained)), tmp_path / "reused")
    for name in ("model.pt", "config.json", "tokenizer.json", "weights.sha256", "train_log.tsv", "train_reads.tsv.gz"):
        assert (reused / name).read_bytes() == (trained / name).read_bytes(), name
    assert not (reused / "checkpoints").exists()
    other = replace(SECTION, d_model=32, checkpoint=str(trained))
    import_checkpoint(other, tmp_path / "other")
    assert "has its own architecture" in caplog.text
    with pytest.raises(PlanktonlmInputError, match="no such folder"):
        import_checkpoint(replace(SECTION, checkpoint=str(tmp_path / "missing")), tmp_path / "y")


def test_checkpoint_without_a_log_gets_an_empty_one(trained: Path, tmp_path: Path) -> None:
    source = import_model(trained, tmp_path / "source")
    (source / "train_log.tsv").unlink()
    reused = import_checkpoint(replace(SECTION, checkpoint=str(source)), tmp_path / "reused")
    assert (reused / "train_log.tsv").read_text() == "\t".join(LOG_COLUMNS) + "\n"


def test_a_from_scratch_folder_records_no_base(trained: Path) -> None:
    assert json.loads((trained / "config.json").read_text())["base"] is None


def test_load_base_gives_the_folder_architecture_weights_and_sha(trained: Path) -> None:
    base = load_base(str(trained))
    sha = (trained / "weights.sha256").read_text().split()[0]
    assert base.sha256 == sha == weights_sha256(trained) and base.path == str(trained)
    assert base.config == SECTION.encoder_config() and base.tok_spec == SECTION.tokenizer_spec()
    saved = torch.load(trained / "model.pt", weights_only=True)
    assert list(base.weights) == list(saved) and all(torch.equal(base.weights[k], v) for k, v in saved.items())
    assert base.provenance() == {"path": str(trained), "weights_sha256": sha}


def base_problems(folder: Path) -> list:
    with pytest.raises(PlanktonlmInputError) as info:
        load_base(str(folder))
    assert all(p.column == "model.base" and str(folder) in p.file for p in info.value.problems)
    return info.value.problems


def test_a_missing_partial_or_damaged_base_is_refused_naming_the_folder(trained: Path, tmp_path: Path) -> None:
    [missing] = base_problems(tmp_path / "nowhere")
    assert missing.message == "base model folder not found" and missing.value == str(tmp_path / "nowhere")

    partial = import_model(trained, tmp_path / "partial")
    (partial / "weights.sha256").unlink()
    [problem] = base_problems(partial)
    assert problem.file == str(partial / "weights.sha256") and "missing" in problem.message

    damaged = import_model(trained, tmp_path / "damaged")
    data = bytearray((damaged / "model.pt").read_bytes())
    data[-100] ^= 0xFF
    (damaged / "model.pt").write_bytes(bytes(data))
    [problem] = base_problems(damaged)
    assert problem.file == str(damaged / "model.pt") and "do not match weights.sha256" in problem.message

    other = import_model(trained, tmp_path / "other")  # config.json of another width than its weights
    config = json.loads((other / "config.json").read_text())
    config["model"]["d_model"] = 32
    (other / "config.json").write_text(json.dumps(config))
    [problem] = base_problems(other)
    assert problem.file == str(other / "model.pt") and "weights do not load" in problem.message


def test_training_architecture_is_the_sections_without_a_base_and_the_bases_with_one(trained: Path, caplog) -> None:
    assert training_architecture(SECTION) == (SECTION.encoder_config(), SECTION.tokenizer_spec(), None)
    wider = replace(SECTION, d_model=32, tokenizer="nucleotide", dropout=0.1, base=str(trained))
    with caplog.at_level("INFO", logger="planktonlm.encoder.model_dir"):
        cfg, spec, base = training_architecture(wider)
    assert (cfg, spec) == (SECTION.encoder_config(), SECTION.tokenizer_spec()) and base.path == str(trained)
    assert "model: keys not used: tokenizer=nucleotide (base kmer), k=1 (base 3), d_model=32 (base 16), " \
           "dropout=0.1 (base 0.0)" in caplog.text


def test_checkpoint_wins_over_base(trained: Path, tmp_path: Path, caplog) -> None:
    section = replace(SECTION, checkpoint=str(trained), base=str(tmp_path / "not-read"))
    reused = import_checkpoint(section, tmp_path / "reused")
    assert (reused / "model.pt").read_bytes() == (trained / "model.pt").read_bytes()
    assert f"model.base {tmp_path / 'not-read'} is not read and nothing is trained" in caplog.text
