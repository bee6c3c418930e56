"""Pretraining: SupCon loss, hard-negative batches, the recipe's checks, and a tiny end-to-end base model."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits

from planktonlm.encoder.device import resolve_device
from planktonlm.encoder.embed import embed_fragments
from planktonlm.encoder.kmer_prior import usage_matrix
from planktonlm.encoder.model_dir import load_model
from planktonlm.encoder.pretrain import (
    PretrainConfig,
    batch_genomes,
    closest_genomes,
    pretrain_base_model,
    read_genomes_table,
    reference_logprob,
    supervised_contrastive,
)
from planktonlm.encoder.tokenizer import N_SPECIAL
from planktonlm.errors import PlanktonlmInputError
from planktonlm.reads.fragments import Fragment
from planktonlm.simulate.genomes import load_genomes

TINY = replace(PretrainConfig(), k=4, d_model=16, usage_dims=8, composition_dims=8, n_layer=1, n_head=2, min_read=40,
               max_read=80, steps=3, batch_size=12, genomes_per_batch=3, prior_reads=50, log_every=1)
GC = {"at_rich": 0.3, "balanced": 0.5, "gc_rich": 0.7}


def full_kmer_rows(model) -> torch.Tensor:
    """The affinity table's rows of the 4**k full k-mers, in base-4 order (whatever rows the buffer has besides)."""
    table, n_full = model.ref_logprob, 4**model.cfg.k
    return table if table.shape[0] == n_full else table[N_SPECIAL:N_SPECIAL + n_full]


def assert_table_is(model, expected: np.ndarray) -> None:
    """The full k-mer rows equal ``expected`` as stored in the buffer's dtype (float16 rounding allowed)."""
    rows = full_kmer_rows(model)
    assert rows.shape == expected.shape
    assert torch.equal(rows, torch.from_numpy(expected).to(rows.dtype))
    if rows.shape[0] != 4**model.cfg.k:  # a vocabulary-sized table: every other token adds nothing
        assert not model.ref_logprob[:N_SPECIAL].any() and not model.ref_logprob[N_SPECIAL + 4**model.cfg.k:].any()


def random_text(rng: np.random.Generator, n: int, gc: float) -> str:
    return "".join(rng.choice(list("ACGT"), p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], size=n))


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """The prior's SVDs are tiny: BLAS threads only spin on a busy machine (1 s instead of 5 ms)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def genomes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three ~20 kb random genomes of different GC (one of them in two contigs), as .fna files."""
    folder = tmp_path_factory.mktemp("genomes")
    rng = np.random.default_rng(2024)
    for name, gc in GC.items():
        if name == "balanced":
            text = f">{name}_1\n{random_text(rng, 12000, gc)}\n>{name}_2\n{random_text(rng, 8000, gc)}\n"
        else:
            text = f">{name}\n{random_text(rng, 20000, gc)}\n"
        (folder / f"{name}.fna").write_text(text)
    return folder


@pytest.fixture(scope="module")
def pretrained(genomes_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """pretrain_base_model with the tiny recipe, each (seed, withhold) run once per module."""
    out = tmp_path_factory.mktemp("pretrained")
    done: dict[tuple, Path] = {}

    def run(seed: int = 5, withhold: tuple[str, ...] = ()) -> Path:
        key = (seed, withhold)
        if key not in done:
            folder = out / f"run{len(done)}"
            assert pretrain_base_model(genomes_dir, folder, TINY, seed, withhold=list(withhold), device="cpu") == folder
            done[key] = folder
        return done[key]

    return run


# ----------------------------------------------------------------------------- supervised contrastive


def test_supcon_equals_a_hand_computed_value() -> None:
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.6, 0.8]])
    labels = torch.tensor([0, 0, 1, 1])
    # similarities / 0.5: s01 = 1.2, s02 = 0, s03 = -1.2, s12 = 1.6, s13 = 0.56, s23 = 1.6
    per_anchor = [
        -(1.2 - math.log(math.exp(1.2) + math.exp(0.0) + math.exp(-1.2))),
        -(1.2 - math.log(math.exp(1.2) + math.exp(1.6) + math.exp(0.56))),
        -(1.6 - math.log(math.exp(0.0) + math.exp(1.6) + math.exp(1.6))),
        -(1.6 - math.log(math.exp(-1.2) + math.exp(0.56) + math.exp(1.6))),
    ]
    loss = supervised_contrastive(z, labels, 0.5)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(sum(per_anchor) / 4, rel=1e-6)


def test_supcon_averages_over_all_positives_of_an_anchor() -> None:
    z = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [0.3, 1.0], [1.0, -0.5], [-1.0, 0.4]]), dim=1)
    labels = torch.tensor([7, 7, 7, 3])
    sim = (z @ z.T).tolist()
    expected = 0.0
    for i in range(3):  # anchor 3 has no positive and adds 0
        others = [j for j in range(4) if j != i]
        log_norm = math.log(sum(math.exp(sim[i][j]) for j in others))
        positives = [j for j in others if labels[j] == labels[i]]
        expected += -sum(sim[i][j] - log_norm for j in positives) / len(positives)
    assert supervised_contrastive(z, labels, 1.0).item() == pytest.approx(expected / 4, rel=1e-6)


def test_supcon_is_lower_when_same_label_vectors_coincide() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=1)
    labels = torch.arange(4).repeat_interleave(4)  # 4 genomes x 4 reads
    z = centres[labels]
    aligned = supervised_contrastive(z, labels, 0.1)
    for seed in range(3):
        shuffled = labels[torch.randperm(16, generator=torch.Generator().manual_seed(seed))]
        assert not torch.equal(shuffled, labels)
        assert aligned < supervised_contrastive(z, shuffled, 0.1) - 1.0


# ----------------------------------------------------------------------------- hard negatives


def test_closest_genomes_pairs_a_genome_with_its_mutated_copy() -> None:
    rng = np.random.default_rng(4)
    original = rng.integers(0, 4, size=20000).astype(np.uint8)
    mutated = original.copy()
    sites = rng.choice(len(original), size=200, replace=False)  # 1 % point mutations
    mutated[sites] = (mutated[sites] + rng.integers(1, 4, size=200)) % 4
    other = rng.integers(0, 4, size=20000).astype(np.uint8)
    for order in ([original, mutated, other], [other, original, mutated], [mutated, other, original]):
        partner = closest_genomes(usage_matrix(order, 4, 0.5))
        twins = [i for i, g in enumerate(order) if g is not other]
        assert partner[twins[0]] == twins[1] and partner[twins[1]] == twins[0]
        assert all(partner[i] != i for i in range(3))


def test_batch_genomes_are_anchors_and_their_partners() -> None:
    rng = np.random.default_rng(5)
    n_genomes, per_batch = 20, 8
    partner = closest_genomes(rng.normal(size=(64, n_genomes)))
    batches = []
    for step in range(30):
        chosen = batch_genomes(step, n_genomes, partner, per_batch, seed=1)
        assert chosen.dtype == np.int64 and len(chosen) == per_batch
        assert len(set(chosen.tolist())) == per_batch
        assert all(0 <= g < n_genomes for g in chosen)
        anchors = chosen[: per_batch // 2]
        assert set(partner[anchors].tolist()) <= set(chosen.tolist())
        assert np.array_equal(chosen, batch_genomes(step, n_genomes, partner, per_batch, seed=1))
        batches.append(tuple(chosen.tolist()))
    assert len(set(batches)) > 20  # steps differ
    assert any(not np.array_equal(batch_genomes(s, n_genomes, partner, per_batch, seed=2), batches[s]) for s in range(5))


def test_batch_genomes_with_fewer_genomes_than_slots() -> None:
    partner = np.array([1, 0, 0])
    chosen = batch_genomes(0, 3, partner, 8, seed=0)
    assert sorted(chosen.tolist()) == [0, 1, 2]


# ----------------------------------------------------------------------------- recipe checks


def test_pretrain_config_checks() -> None:
    PretrainConfig().check()
    TINY.check()
    with pytest.raises(PlanktonlmInputError, match="d_model"):
        replace(TINY, d_model=32).check()
    with pytest.raises(PlanktonlmInputError, match="batch_size"):
        replace(TINY, batch_size=13).check()
    with pytest.raises(PlanktonlmInputError, match="batch_size"):
        replace(TINY, batch_size=3).check()  # one read per genome: no positives
    with pytest.raises(PlanktonlmInputError, match="min_read"):
        replace(TINY, min_read=90).check()
    with pytest.raises(PlanktonlmInputError) as info:
        replace(TINY, d_model=32, batch_size=13).check()
    assert len(info.value.problems) == 2  # every problem at once


def test_pretrain_refuses_a_bad_recipe_before_reading_genomes(tmp_path: Path) -> None:
    with pytest.raises(PlanktonlmInputError, match="d_model"):
        pretrain_base_model(tmp_path / "no-such-folder", tmp_path / "out", replace(TINY, d_model=32), 1, device="cpu")
    assert not (tmp_path / "out").exists()


def test_reference_logprob_columns_are_distributions() -> None:
    rng = np.random.default_rng(6)
    genomes = [rng.integers(0, 4, size=500).astype(np.uint8) for _ in range(2)]
    table = reference_logprob(genomes, 3)
    assert table.shape == (64, 2) and table.dtype == np.float32
    assert np.allclose(np.exp(table.astype(np.float64)).sum(axis=0), 1.0, atol=1e-5)
    assert np.allclose(table, usage_matrix(genomes, 3, 0.5) + table.mean(axis=1, keepdims=True), atol=1e-5)


# ----------------------------------------------------------------------------- pretrain_base_model


def test_pretrain_writes_a_loadable_base_model(pretrained, genomes_dir: Path) -> None:
    folder = pretrained()
    model, spec, cfg = load_model(folder)
    assert cfg.n_reference == 3 and cfg.d_model == 16 and cfg.k == 4 and cfg.mlm_target == "bases"
    assert cfg.out_dim == 19 and spec.k == 4 and spec.max_len == TINY.max_len
    config = json.loads((folder / "config.json").read_text())
    assert config["model"]["n_reference"] == 3
    assert config["train"]["pretrain"] is True and config["train"]["seed"] == 5 and config["train"]["withheld"] == []
    table = read_genomes_table(folder)
    assert table["genome"].tolist() == sorted(GC)
    assert table["file"].tolist() == [f"{name}.fna" for name in sorted(GC)]
    assert table["length_bp"].astype(int).tolist() == [20000] * 3
    log = pd.read_csv(folder / "train_log.tsv", sep="\t")
    assert log["step"].tolist() == [1, 2, 3]
    assert np.isfinite(log[["loss", "mlm_loss", "contrastive_loss"]].to_numpy()).all()
    assert (log["mlm_loss"] > 0).all() and (log["contrastive_loss"] > 0).all()


def test_the_affinity_table_is_the_reference_logprob(pretrained, genomes_dir: Path) -> None:
    model, _, _ = load_model(pretrained())
    genomes = load_genomes(genomes_dir)
    expected = reference_logprob([g.codes for g in genomes], TINY.k)
    assert_table_is(model, expected)
    assert not torch.equal(model.pool_mean, torch.zeros(16))  # pool statistics were recorded
    assert not torch.equal(model.pool_std, torch.ones(16))


def test_same_seed_same_bytes_other_seed_other_weights(pretrained, genomes_dir: Path, tmp_path: Path) -> None:
    first = pretrained(seed=5)
    second = pretrained(seed=6)
    repeat = pretrain_base_model(genomes_dir, tmp_path / "repeat", TINY, 5, device="cpu")
    assert (first / "model.pt").read_bytes() == (repeat / "model.pt").read_bytes()
    assert (first / "weights.sha256").read_text() == (repeat / "weights.sha256").read_text()
    assert (first / "model.pt").read_bytes() != (second / "model.pt").read_bytes()
    assert (first / "weights.sha256").read_text() != (second / "weights.sha256").read_text()


def test_withholding_a_genome(pretrained, genomes_dir: Path) -> None:
    folder = pretrained(withhold=("balanced",))
    assert read_genomes_table(folder)["genome"].tolist() == ["at_rich", "gc_rich"]
    model, _, cfg = load_model(folder)
    assert cfg.n_reference == 2 and model.ref_logprob.shape[1] == 2
    assert json.loads((folder / "config.json").read_text())["train"]["withheld"] == ["balanced"]
    genomes = load_genomes(genomes_dir, ["at_rich", "gc_rich"])
    expected = reference_logprob([g.codes for g in genomes], TINY.k)
    assert_table_is(model, expected)


def test_withholding_an_unknown_genome_or_too_many_is_refused(genomes_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PlanktonlmInputError, match="no_such_genome"):
        pretrain_base_model(genomes_dir, tmp_path / "a", TINY, 1, withhold=["no_such_genome"], device="cpu")
    with pytest.raises(PlanktonlmInputError, match="withhold"):
        pretrain_base_model(genomes_dir, tmp_path / "b", TINY, 1, withhold=["at_rich", "balanced"], device="cpu")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_reads_embed_closer_to_reads_of_their_own_genome(pretrained, genomes_dir: Path) -> None:
    model, spec, cfg = load_model(pretrained())
    rng = np.random.default_rng(8)
    fragments, owner = [], []
    for g, genome in enumerate(load_genomes(genomes_dir)):
        text = "".join("ACGTN"[c] for c in genome.codes)
        for i in range(12):
            start = int(rng.integers(0, 11000))  # inside the first contig of every genome
            fragments.append(Fragment(f"g{g}r{i}", text[start:start + 80], None))
            owner.append(g)
    vectors = np.concatenate([v for _, v in embed_fragments(model, spec, fragments, 10, resolve_device("cpu"))])
    assert vectors.shape == (36, cfg.out_dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = vectors @ vectors.T
    owner = np.array(owner)
    for g in range(3):
        own = cosine[np.ix_(owner == g, owner == g)]
        own_mean = (own.sum() - np.trace(own)) / (own.size - len(own))  # without a read's cosine to itself
        other_mean = cosine[np.ix_(owner == g, owner != g)].mean()
        assert own_mean > other_mean + 0.1, (g, own_mean, other_mean)


# ----------------------------------------------------------------------------- model card


def test_the_model_card_names_data_recipe_checksum_and_evaluation(pretrained, genomes_dir: Path) -> None:
    from planktonlm.cli import main
    from planktonlm.encoder.model_card import CARD_FILE

    folder = pretrained()
    scores = {"knn_accuracy": 0.61, "knn_vs_best_kmer": 1.18, "knn_vs_ceiling": 0.97, "kmeans_ari": 0.24, "ari_vs_best_kmer": 1.28}
    evaluation = folder.parent / "eval.json"
    evaluation.write_text(json.dumps({"details": {"split": "reported", "scores": {"encoder": scores},
                                                  "ceiling": {"accuracy": 0.66}}}))
    assert main(["pretrain", "--genomes", str(genomes_dir), "--outdir", str(folder), "--seed", "5", "--card-only",
                 "--evaluation", f"toy={evaluation}"]) == 0
    card = (folder / CARD_FILE).read_text()
    assert (folder / "weights.sha256").read_text().split()[0] in card
    assert all(f"| {name} |" in card for name in GC)  # every training genome listed
    assert "| steps | 3 |" in card and "| seed | 5 |" in card and "| withheld genomes | none |" in card
    assert "| toy | reported | encoder | 0.610 | 1.18 | 0.97 | 0.240 | 1.28 |" in card
    assert f"planktonlm pretrain --genomes {genomes_dir} --outdir {folder} --seed 5" in card
