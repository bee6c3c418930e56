from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from planktonlm.config import build_config
from planktonlm.encoder.model import ModelConfig
from planktonlm.encoder.model_dir import load_model, training_architecture
from planktonlm.encoder.train import LossWindow, TrainConfig, initial_model, lr_factor, nt_xent, run_fingerprint, train_encoder
from planktonlm.errors import PlanktonlmInputError

SECTION = build_config(ModelConfig, "model", base="none", tokenizer="kmer", k=3, n_layer=1, n_head=2, d_model=16, max_len=16)
TRAIN = build_config(TrainConfig, "train", pool_reads_per_sample=0, val_fraction=0.2, max_steps=12, batch_size=8, lr=3e-3,
                     warmup_steps=3, checkpoint_every=5, log_every=4, device="cpu")


@pytest.fixture
def train(tmp_path: Path, make_pool):
    def run(name: str, pool=None, cfg: TrainConfig = TRAIN, seed: int = 7, section=SECTION, **kw) -> Path:
        return train_encoder(make_pool() if pool is None else pool, tmp_path / name, section.encoder_config(),
                             section.tokenizer_spec(), cfg, seed, **kw)
    return run


def test_training_writes_a_model_folder_with_a_log(train) -> None:
    out = train("model")
    for name in ["model.pt", "config.json", "tokenizer.json", "train_log.tsv", "weights.sha256",
                 "train_reads.tsv.gz", "checkpoints/last.pt"]:
        assert (out / name).is_file(), name
    log = (out / "train_log.tsv").read_text().splitlines()
    assert log[0].split("\t")[:5] == ["step", "lr", "loss", "mlm_loss", "contrastive_loss"]
    assert [row.split("\t")[0] for row in log[1:]] == ["4", "8", "12"]
    assert all(math.isfinite(float(row.split("\t")[5])) for row in log[1:])  # validation loss


def test_training_lowers_the_loss(train) -> None:
    out = train("model", cfg=replace(TRAIN, max_steps=40, log_every=10))
    losses = [float(row.split("\t")[2]) for row in (out / "train_log.tsv").read_text().splitlines()[1:]]
    assert losses[-1] < losses[0]


def test_same_seed_same_bytes_other_seed_other_weights(train) -> None:
    before = torch.get_rng_state()
    a = train("a", seed=3)
    b = train("b", seed=3)
    c = train("c", seed=4)
    assert (a / "model.pt").read_bytes() == (b / "model.pt").read_bytes()
    assert (a / "weights.sha256").read_text() == (b / "weights.sha256").read_text()
    assert (a / "model.pt").read_bytes() != (c / "model.pt").read_bytes()
    assert torch.equal(torch.get_rng_state(), before)  # no global RNG state used or changed


class Killed(Exception):
    pass


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_resume_after_a_kill_equals_an_uninterrupted_run(train, tmp_path: Path, dropout: float) -> None:
    section = replace(SECTION, dropout=dropout)
    whole = train("whole", section=section)

    def kill_at_step_8(step: int, metrics: dict) -> None:
        if step == 8:
            raise Killed

    with pytest.raises(Killed):
        train("resumed", section=section, on_step=kill_at_step_8)
    resumed = tmp_path / "resumed"
    assert not (resumed / "model.pt").exists()
    checkpoint = torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)
    assert checkpoint["step"] == 5 and checkpoint["loss_window"][3] == 1  # step 5 is one step past the log of step 4
    seen = []
    train("resumed", section=section, on_step=lambda step, metrics: seen.append(step))
    assert seen == list(range(6, 13))  # continued from the checkpoint, not from scratch
    assert (whole / "model.pt").read_bytes() == (resumed / "model.pt").read_bytes()

    def losses(folder: Path) -> list[list[str]]:  # every column but reads/s
        return [row.split("\t")[:-1] for row in (folder / "train_log.tsv").read_text().splitlines()]

    assert losses(whole) == losses(resumed)


def test_a_checkpoint_of_another_run_is_not_resumed(train, tmp_path: Path) -> None:
    fresh = train("fresh", seed=9)
    with pytest.raises(Killed):
        train("reused", seed=8, on_step=lambda step, m: (_ for _ in ()).throw(Killed) if step == 6 else None)
    train("reused", seed=9)  # same folder, other seed: must start over
    assert (fresh / "model.pt").read_bytes() == (tmp_path / "reused" / "model.pt").read_bytes()


def test_loss_window_means_and_state() -> None:
    window = LossWindow()
    for value in (1.0, 3.0):
        window.add(torch.tensor(value), torch.tensor(value / 2), torch.tensor(value / 2), n_reads=4)
    assert window.state() == [4.0, 2.0, 2.0, 2] and window.mean().tolist() == [2.0, 1.0, 1.0]
    assert window.reads == 8 and window.reads_per_s() > 0
    carried = LossWindow(window.state())  # what a checkpoint restores
    carried.add(torch.tensor(5.0), torch.tensor(0.0), torch.tensor(5.0), n_reads=4)
    assert carried.mean().tolist() == [3.0, 2.0 / 3, 7.0 / 3]
    carried.reset()
    assert carried.state() == [0.0, 0.0, 0.0, 0] and carried.reads == 0


def test_lr_schedule_warms_up_then_decays() -> None:
    factors = [lr_factor(step, 10, 100) for step in range(100)]
    assert all(a < b for a, b in zip(factors[:10], factors[1:11]))
    assert factors[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert lr_factor(100, 10, 100) == pytest.approx(0.1)


def test_nt_xent_matches_its_formula() -> None:
    B, t = 4, 0.5
    z = torch.eye(8)[:B]  # orthonormal views; each aligned with its positive
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + (2 * B - 2)))
    assert nt_xent(z, z, t).item() == pytest.approx(expected, rel=1e-6)
    shuffled = z[[1, 2, 3, 0]]
    assert nt_xent(z, shuffled, t).item() > nt_xent(z, z, t).item()


def test_invalid_training_settings_are_refused(make_pool) -> None:
    with pytest.raises(PlanktonlmInputError) as info:
        build_config(TrainConfig, "train", batch_size=1, lr=0)
    assert {p.column for p in info.value.problems} == {"train.batch_size", "train.lr"}
    no_loss = replace(TRAIN, mask_prob=0.0, contrastive_weight=0.0)
    with pytest.raises(PlanktonlmInputError, match="both loss terms"):
        train_encoder(make_pool(), "unused", SECTION.encoder_config(), SECTION.tokenizer_spec(), no_loss, 1)
    with pytest.raises(PlanktonlmInputError, match="too few reads"):
        train_encoder(make_pool(n=1), "unused", SECTION.encoder_config(), SECTION.tokenizer_spec(), TRAIN, 1)
    other = replace(SECTION, max_len=20)
    with pytest.raises(PlanktonlmInputError, match="model and tokenizer disagree"):
        train_encoder(make_pool(), "unused", SECTION.encoder_config(), other.tokenizer_spec(), TRAIN, 1)


def test_cpu_training_runs_on_one_thread_whatever_the_job_has(train, caplog) -> None:
    """Multi-threaded CPU kernels now and then round differently: CPU training uses one thread."""
    import torch

    from planktonlm.encoder.device import resolve_device

    assert resolve_device("cpu").training_threads(8) == 1
    before = torch.get_num_threads()
    with caplog.at_level("INFO", logger="planktonlm.encoder.train"):
        two = train("two", threads=2)
    assert "cpu (1 threads)" in caplog.text
    assert torch.get_num_threads() == before  # the job's setting is restored afterwards
    one = train("one", threads=1)
    assert (one / "model.pt").read_bytes() == (two / "model.pt").read_bytes()


def test_mkl_threads_and_code_path_are_fixed_for_reproducible_cpu_training():
    # Set by planktonlm.encoder before torch loads MKL: without them, busy machines gave other weights.
    import os

    import planktonlm.encoder  # noqa: F401

    assert os.environ["MKL_DYNAMIC"] == "FALSE"
    assert os.environ["MKL_CBWR"].startswith("AUTO")


# ----------------------------------------------------------------------------- fine-tuning (model.base)

# The bases have another architecture than SECTION: fine-tuning must take theirs.
BASE = build_config(ModelConfig, "model", base="none", tokenizer="kmer", k=2, n_layer=1, n_head=3, d_model=24, max_len=20)


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory, make_pool) -> tuple[Path, Path]:
    """Two pretrained base folders of one architecture, trained on other reads with other seeds."""
    root = tmp_path_factory.mktemp("bases")
    return tuple(train_encoder(make_pool(seed=s), root / f"base{s}", BASE.encoder_config(), BASE.tokenizer_spec(),
                               replace(TRAIN, checkpoint_every=0), seed=s) for s in (1, 2))


def fine_tune(pool, out: Path, base: Path, cfg: TrainConfig = TRAIN, seed: int = 7, section=SECTION, **kw) -> Path:
    model_cfg, tok_spec, loaded = training_architecture(replace(section, base=str(base)))
    return train_encoder(pool, out, model_cfg, tok_spec, cfg, seed, base=loaded, **kw)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "model.pt", weights_only=True)


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(((a[k] - b[k]) ** 2).sum()) for k in a))


def test_fine_tuning_starts_from_the_base_weights(bases, tmp_path: Path, make_pool) -> None:
    base = bases[0]
    still = fine_tune(make_pool(), tmp_path / "lr0", base, cfg=replace(TRAIN, lr=0.0))  # 12 steps that move nothing
    assert (still / "model.pt").read_bytes() == (base / "model.pt").read_bytes()
    assert (still / "weights.sha256").read_text() == (base / "weights.sha256").read_text()
    untrained = fine_tune(make_pool(), tmp_path / "steps0", base, cfg=replace(TRAIN, max_steps=0))
    assert (untrained / "model.pt").read_bytes() == (base / "model.pt").read_bytes()
    tuned = fine_tune(make_pool(), tmp_path / "tuned", base)
    assert (tuned / "model.pt").read_bytes() != (base / "model.pt").read_bytes()
    # it moved a little from the base, and is nowhere near the seeded random start of a scratch run
    scratch_start = initial_model(BASE.encoder_config(), 7, None).state_dict()
    assert distance(weights(tuned), weights(base)) < 0.5 * distance(weights(tuned), scratch_start)


def test_fine_tuning_takes_the_base_architecture_and_records_the_base(bases, train, tmp_path: Path, make_pool,
                                                                       caplog) -> None:
    base = bases[0]
    with caplog.at_level("INFO", logger="planktonlm.encoder"):
        out = fine_tune(make_pool(), tmp_path / "tuned", base)  # SECTION: k 3, n_head 2, d_model 16, max_len 16
    config, base_config = (json.loads((f / "config.json").read_text()) for f in (out, base))
    assert config["model"] == base_config["model"] and config["tokenizer"] == base_config["tokenizer"]
    assert load_model(out)[2] == BASE.encoder_config()
    sha = (base / "weights.sha256").read_text().split()[0]
    assert config["base"] == {"path": str(base), "weights_sha256": sha}
    assert f"fine-tuning the base model {base} (sha256 {sha})" in caplog.text
    assert "model: keys not used: k=3 (base 2), n_head=2 (base 3), d_model=16 (base 24), max_len=16 (base 20)" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="planktonlm.encoder"):
        fine_tune(make_pool(), tmp_path / "agreeing", base, section=BASE)
    assert "the model: keys agree with it" in caplog.text
    assert json.loads((train("scratch") / "config.json").read_text())["base"] is None


def test_fine_tuning_is_reproducible_and_depends_on_the_base(bases, tmp_path: Path, make_pool) -> None:
    a = fine_tune(make_pool(), tmp_path / "a", bases[0])
    b = fine_tune(make_pool(), tmp_path / "b", bases[0])
    other = fine_tune(make_pool(), tmp_path / "other", bases[1])
    assert (a / "model.pt").read_bytes() == (b / "model.pt").read_bytes()
    assert (a / "model.pt").read_bytes() != (other / "model.pt").read_bytes()


def test_a_fine_tuning_checkpoint_resumes_only_with_its_base(bases, tmp_path: Path, make_pool) -> None:
    pool = make_pool()
    cfg, spec = BASE.encoder_config(), BASE.tokenizer_spec()
    shas = [(b / "weights.sha256").read_text().split()[0] for b in bases]
    prints = {run_fingerprint(cfg, spec, TRAIN, 7, pool, sha) for sha in (None, *shas)}
    assert len(prints) == 3
    assert run_fingerprint(cfg, spec, TRAIN, 7, pool, None) == run_fingerprint(cfg, spec, TRAIN, 7, pool)

    def kill_at_step_8(step: int, metrics: dict) -> None:
        if step == 8:
            raise Killed

    whole = fine_tune(pool, tmp_path / "whole", bases[0])
    with pytest.raises(Killed):
        fine_tune(pool, tmp_path / "resumed", bases[0], on_step=kill_at_step_8)
    seen = []
    fine_tune(pool, tmp_path / "resumed", bases[0], on_step=lambda step, metrics: seen.append(step))
    assert seen[0] == 6 and (tmp_path / "resumed" / "model.pt").read_bytes() == (whole / "model.pt").read_bytes()

    with pytest.raises(Killed):
        fine_tune(pool, tmp_path / "switched", bases[0], on_step=kill_at_step_8)
    seen = []
    switched = fine_tune(pool, tmp_path / "switched", bases[1], on_step=lambda step, metrics: seen.append(step))
    assert seen[0] == 1  # the checkpoint of the other base's run was not resumed
    assert (switched / "model.pt").read_bytes() == (fine_tune(pool, tmp_path / "fresh", bases[1]) / "model.pt").read_bytes()


def test_fine_tuning_needs_the_base_architecture(bases, make_pool) -> None:
    _, _, base = training_architecture(replace(SECTION, base=str(bases[0])))
    with pytest.raises(ValueError, match="needs its architecture and tokenizer"):
        train_encoder(make_pool(), "unused", SECTION.encoder_config(), SECTION.tokenizer_spec(), TRAIN, 1, base=base)
