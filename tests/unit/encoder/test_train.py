from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from planktonlm.config import build_config
from planktonlm.encoder.model import ModelConfig
from planktonlm.encoder.train import LossWindow, TrainConfig, lr_factor, nt_xent, train_encoder
from planktonlm.errors import PlanktonlmInputError

SECTION = build_config(ModelConfig, "model", tokenizer="kmer", k=3, n_layer=1, n_head=2, d_model=16, max_len=16)
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
