"""The ReadEncoder's affinity readout (reference genomes) and its base-level masked-token loss."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from planktonlm.config import build_config
from planktonlm.encoder.data import split_train_val, tokenize_views
from planktonlm.encoder.device import resolve_device
from planktonlm.encoder.model import ReadEncoder, ReadEncoderConfig
from planktonlm.encoder.model_dir import load_base, load_model, write_model_folder
from planktonlm.encoder.pretrain import PretrainConfig, pretrain_base_model
from planktonlm.encoder.tokenizer import N_SPECIAL, TokenizerSpec, encode_batch, reverse_complement
from planktonlm.encoder.train import TrainConfig, fragment_reference_logits, pooled_views, train_encoder
from planktonlm.errors import PlanktonlmInputError
from planktonlm.reads.fragments import PooledFragment

K = 3
SPEC = TokenizerSpec("kmer", K, max_len=14)
N_REF = 4
AFFINITY = ReadEncoderConfig(vocab_size=SPEC.vocab_size, max_len=SPEC.max_len, n_layer=1, n_head=2, d_model=8, k=K,
                             overlap_embedding=True, n_reference=N_REF, affinity_temperature=3.0, affinity_share=0.7)
PLAIN = ReadEncoderConfig(vocab_size=SPEC.vocab_size, max_len=SPEC.max_len, n_layer=1, n_head=2, d_model=8, k=K,
                          overlap_embedding=True)
NEW_FIELDS = ("n_reference", "affinity_temperature", "affinity_share", "reference_prior", "mlm_target")


def kmer_value(text: str) -> int:
    value = 0
    for base in text:
        value = value * 4 + "ACGT".index(base)
    return value


def full_kmer_rows(model: ReadEncoder) -> torch.Tensor:
    """The affinity table's rows of the 4**k full k-mers, in base-4 order (whatever rows the buffer has besides)."""
    table, n_full = model.ref_logprob, 4**model.cfg.k
    return table if table.shape[0] == n_full else table[N_SPECIAL:N_SPECIAL + n_full]


def random_table(seed: int, symmetric: bool = False) -> np.ndarray:
    """A (4**k, G) log-probability-like table, exactly representable in float16."""
    rng = np.random.default_rng(seed)
    table = rng.uniform(-8.0, -2.0, size=(4**K, N_REF))
    if symmetric:  # a k-mer and its reverse complement share a row, as in tables counted on both strands
        for value in range(4**K):
            text = "".join("ACGT"[(value >> (2 * (K - 1 - j))) & 3] for j in range(K))
            table[kmer_value(reverse_complement(text))] = table[value]
    return table.astype(np.float16).astype(np.float64)


def affinity_model(seed: int = 0, table: np.ndarray | None = None, cfg: ReadEncoderConfig = AFFINITY) -> ReadEncoder:
    model = ReadEncoder(cfg, torch.Generator().manual_seed(seed)).eval()
    with torch.no_grad():
        rows = full_kmer_rows(model)
        rows.copy_(torch.from_numpy(random_table(seed) if table is None else table).to(rows.dtype))
    return model


def tokens(reads: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    ids, lengths = encode_batch(SPEC, reads)
    return torch.from_numpy(ids), torch.from_numpy(lengths)


def brute_affinities(read: str, table: np.ndarray, temperature: float, *, as_tokens: bool = False) -> np.ndarray:
    """sqrt(softmax(sum of table rows of the read's overlapping all-ACGT k-mers / temperature)).

    ``as_tokens``: count only the k-mers whose tokens are all bases too (the tokenizer turns a
    token with an N into UNK, which hides the k-mers reaching into it as well).
    """
    logits = np.zeros(table.shape[1])
    bad_tokens = {p // K for p, base in enumerate(read) if base not in "ACGT"}
    for start in range(len(read) - K + 1):
        kmer = read[start:start + K]
        if any(base not in "ACGT" for base in kmer):
            continue
        if as_tokens and {start // K, (start + K - 1) // K} & bad_tokens:
            continue
        logits += table[kmer_value(kmer)]
    scaled = logits / temperature
    p = np.exp(scaled - scaled.max())
    return np.sqrt(p / p.sum())


def random_read(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=length))


# ----------------------------------------------------------------------------- shape and norm


def test_out_dim_and_unit_norm_with_the_affinity_share() -> None:
    assert AFFINITY.out_dim == N_REF + 8
    model = affinity_model()
    rng = np.random.default_rng(1)
    ids, lengths = tokens([random_read(rng, 36), random_read(rng, 20), "ACGTNNACGTAC", ""])
    vectors = model(ids, lengths)
    assert vectors.shape == (4, N_REF + 8)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(4), atol=1e-5)
    affinity_part, state_part = vectors[:, :N_REF], vectors[:, N_REF:]
    assert torch.allclose(affinity_part.pow(2).sum(dim=1), torch.full((4,), 0.7), atol=1e-5)
    assert torch.allclose(state_part.pow(2).sum(dim=1), torch.full((4,), 0.3), atol=1e-5)
    assert (affinity_part >= 0).all()
    assert torch.allclose(affinity_part, math.sqrt(0.7) * model.affinities(ids, lengths), atol=1e-6)
    # the empty read has no k-mer: a uniform posterior
    assert torch.allclose(model.affinities(ids, lengths)[3], torch.full((N_REF,), 0.5), atol=1e-6)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_the_share_can_give_everything_to_one_part(share: float) -> None:
    model = affinity_model(cfg=replace(AFFINITY, affinity_share=share))
    vectors = model(*tokens(["ACGTTGCAAGGCTTA", "CCCGGGAAATTT"]))
    part = vectors[:, :N_REF] if share == 0.0 else vectors[:, N_REF:]
    assert torch.equal(part, torch.zeros_like(part))
    assert torch.allclose(vectors.norm(dim=1), torch.ones(2), atol=1e-5)


# ----------------------------------------------------------------------------- affinities against brute force


def test_affinities_equal_a_brute_force_naive_bayes_posterior() -> None:
    table = random_table(3)
    model = affinity_model(3, table)
    rng = np.random.default_rng(3)
    reads = [random_read(rng, 39), random_read(rng, 12), random_read(rng, 30), "ACG"]  # multiples of k
    got = model.affinities(*tokens(reads)).double().numpy()
    for read, row in zip(reads, got):
        expected = brute_affinities(read, table, 3.0)
        assert np.allclose(row, expected, atol=1e-5), read
        assert np.isclose((row**2).sum(), 1.0, atol=1e-5)
    assert not np.allclose(got[0], got[1], atol=1e-3)  # different reads, different posteriors


def test_the_temperature_divides_the_logits() -> None:
    table = random_table(4)
    rng = np.random.default_rng(4)
    read = random_read(rng, 24)
    for temperature in (1.0, 10.0):
        model = affinity_model(4, table, replace(AFFINITY, affinity_temperature=temperature))
        got = model.affinities(*tokens([read]))[0].double().numpy()
        assert np.allclose(got, brute_affinities(read, table, temperature), atol=1e-5)


def test_kmers_with_n_contribute_nothing() -> None:
    table = random_table(5)
    model = affinity_model(5, table)
    clean = "ACGTTGCAAGGCTTAGCA"  # 6 tokens
    with_n = clean[:7] + "N" + clean[8:]  # token 2 becomes UNK
    got = model.affinities(*tokens([with_n, "NNN" + clean[3:], "N" * 18]))
    assert np.allclose(got[0].double().numpy(), brute_affinities(with_n, table, 3.0, as_tokens=True), atol=1e-5)
    assert np.allclose(got[1].double().numpy(), brute_affinities(clean[3:], table, 3.0), atol=1e-5)
    assert torch.allclose(got[2], torch.full((N_REF,), 0.5), atol=1e-6)  # no k-mer at all
    assert not np.allclose(got[0].double().numpy(), brute_affinities(clean, table, 3.0), atol=1e-3)


def test_padding_does_not_change_the_affinities() -> None:
    model = affinity_model(6)
    rng = np.random.default_rng(6)
    short, long = random_read(rng, 15), random_read(rng, 39)
    alone = model.affinities(*tokens([short]))
    batched = model.affinities(*tokens([long, short]))
    assert torch.allclose(alone[0], batched[1], atol=1e-6)


def test_affinities_count_the_kmers_that_reach_into_a_tail_token() -> None:
    table = random_table(7, symmetric=True)
    model = affinity_model(7, table)
    read = "ACGTTGCAAGGCTTAGCATG"  # 20 bases: 6 full tokens and a tail of 2
    got = model.affinities(*tokens([read, reverse_complement(read)])).double().numpy()
    expected = brute_affinities(read, table, 3.0)  # both strands: the table is strand-symmetric
    assert np.allclose(got[0], expected, atol=1e-5) and np.allclose(got[1], expected, atol=1e-5)


def test_a_read_and_its_reverse_complement_agree_when_the_table_is_strand_symmetric() -> None:
    model = affinity_model(8, random_table(8, symmetric=True))
    read = "ACGTTGCAAGGCTTAGCA"  # a multiple of k: every k-mer is seen on both strands
    got = model.affinities(*tokens([read, reverse_complement(read)]))
    assert torch.allclose(got[0], got[1], atol=1e-6)


# ----------------------------------------------------------------------------- config and compatibility


def test_affinities_need_overlapping_embeddings() -> None:
    with pytest.raises(PlanktonlmInputError, match="n_reference"):
        replace(AFFINITY, overlap_embedding=False)
    with pytest.raises(PlanktonlmInputError, match="n_reference"):
        replace(AFFINITY, n_reference=-1)
    with pytest.raises(PlanktonlmInputError, match="affinity_share"):
        replace(AFFINITY, affinity_share=1.5)
    with pytest.raises(PlanktonlmInputError, match="mlm_target"):
        replace(AFFINITY, mlm_target="codons")


def test_a_model_without_references_keeps_the_old_behaviour(tmp_path: Path) -> None:
    assert PLAIN.n_reference == 0 and PLAIN.mlm_target == "token" and PLAIN.out_dim == PLAIN.d_model
    model = ReadEncoder(PLAIN, torch.Generator().manual_seed(0)).eval()
    keys = set(model.state_dict())
    assert not keys & {"ref_logprob", "pool_mean", "pool_std"}
    assert not any(key.startswith("mlm_bases") for key in keys)
    ids, lengths = tokens(["ACGTTGCAAGGCTTAGCA", "GGGCCC"])
    vectors = model(ids, lengths)
    assert vectors.shape == (2, 8)
    assert torch.equal(vectors, F.normalize(model.pool(model.hidden(ids, lengths), lengths), dim=-1))
    # a folder written before these fields existed still loads
    write_model_folder(model, tmp_path, PLAIN, SPEC, None, 0, [], 0, 0, [])
    config = json.loads((tmp_path / "config.json").read_text())
    for name in NEW_FIELDS:
        del config["model"][name]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded, _, cfg = load_model(tmp_path)
    assert cfg == PLAIN
    assert torch.equal(loaded(ids, lengths), vectors)


def test_an_affinity_model_folder_round_trips(tmp_path: Path) -> None:
    model = affinity_model(9)
    model.set_pool_statistics(torch.randn(20, 8, generator=torch.Generator().manual_seed(9)))
    write_model_folder(model, tmp_path, AFFINITY, SPEC, None, 0, [], 0, 0, [])
    loaded, _, cfg = load_model(tmp_path)
    assert cfg == AFFINITY
    for name in ("ref_logprob", "pool_mean", "pool_std"):
        assert torch.equal(getattr(loaded, name), getattr(model, name)), name
    ids, lengths = tokens(["ACGTTGCAAGGCTTAGCA", "GGGCCCAAT"])
    assert torch.equal(loaded(ids, lengths), model(ids, lengths))


def test_set_pool_statistics_changes_only_the_pooled_state_part() -> None:
    model = affinity_model(10)
    ids, lengths = tokens(["ACGTTGCAAGGCTTAGCA", "GGGCCCAAT", "TTTTAAAACCCCGGGG"])
    before = model(ids, lengths)
    pooled = torch.randn(50, 8, generator=torch.Generator().manual_seed(10)) * 3 + 1
    model.set_pool_statistics(pooled)
    assert torch.allclose(model.pool_mean, pooled.mean(dim=0)) and torch.allclose(model.pool_std, pooled.std(dim=0))
    after = model(ids, lengths)
    assert torch.equal(after[:, :N_REF], before[:, :N_REF])
    assert not torch.allclose(after[:, N_REF:], before[:, N_REF:], atol=1e-3)
    state = model.pool(model.hidden(ids, lengths), lengths)
    expected = math.sqrt(0.3) * F.normalize((state - pooled.mean(dim=0)) / pooled.std(dim=0), dim=-1)
    assert torch.allclose(after[:, N_REF:], expected, atol=1e-5)
    constant = torch.ones(5, 8)  # zero spread is clamped, not divided by
    model.set_pool_statistics(constant)
    assert torch.isfinite(model(ids, lengths)).all()


# ----------------------------------------------------------------------------- masked-token losses


def bases_model(k: int = 2) -> ReadEncoder:
    spec = TokenizerSpec("kmer", k, max_len=8)
    cfg = ReadEncoderConfig(vocab_size=spec.vocab_size, max_len=8, n_layer=1, n_head=1, d_model=3, k=k,
                            overlap_embedding=True, mlm_target="bases")
    model = ReadEncoder(cfg, torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.mlm_bases.weight.copy_(torch.arange(4 * k * 3, dtype=torch.float32).view(4 * k, 3).sin())
        model.mlm_bases.bias.copy_(torch.linspace(-1.0, 1.0, 4 * k))
    return model


def test_base_level_mlm_loss_is_a_cross_entropy_over_the_k_bases() -> None:
    model = bases_model(2)
    hidden = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    targets = torch.tensor([N_SPECIAL + kmer_value("GT"), N_SPECIAL + kmer_value("CA")])
    weight, bias = model.mlm_bases.weight.tolist(), model.mlm_bases.bias.tolist()
    terms = []
    for h, kmer in zip(hidden.tolist(), ("GT", "CA")):
        logits = [sum(w * x for w, x in zip(weight[row], h)) + bias[row] for row in range(8)]
        for position, base in enumerate(kmer):  # position p: logits[4p .. 4p+3] over A C G T
            block = logits[4 * position:4 * position + 4]
            terms.append(math.log(sum(math.exp(v) for v in block)) - block["ACGT".index(base)])
    loss = model.mlm_loss(hidden, targets)
    assert loss.dtype == torch.float32 and loss.shape == ()
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)


def test_base_level_mlm_loss_skips_tail_tokens_and_has_gradients() -> None:
    model = bases_model(2)
    spec = TokenizerSpec("kmer", 2, max_len=8)
    tail_a = int(spec.token_offsets()[1])  # the 1-base tail "A"
    hidden = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), requires_grad=True)
    full = torch.tensor([N_SPECIAL + 3, N_SPECIAL + 14])
    with_tails = torch.tensor([N_SPECIAL + 3, tail_a, N_SPECIAL + 14, tail_a + 3])
    assert torch.equal(model.mlm_loss(hidden[[0, 2]], full), model.mlm_loss(hidden, with_tails))
    only_tails = model.mlm_loss(hidden[[1, 3]], with_tails[[1, 3]])
    assert only_tails.item() == 0.0
    model.mlm_loss(hidden, with_tails).backward()
    assert hidden.grad[[0, 2]].abs().sum() > 0 and hidden.grad[[1, 3]].abs().sum() == 0


def test_token_level_mlm_loss_is_the_tied_head_cross_entropy() -> None:
    model = ReadEncoder(PLAIN, torch.Generator().manual_seed(2))
    hidden = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([N_SPECIAL, N_SPECIAL + 63, N_SPECIAL + 64, 3, N_SPECIAL + 20])
    assert torch.equal(model.mlm_loss(hidden, targets), F.cross_entropy(model.mlm_logits(hidden), targets))
    assert not hasattr(model, "mlm_bases")


# ----------------------------------------------------------------------------- fine-tuning an affinity base


TINY = replace(PretrainConfig(), k=4, d_model=16, usage_dims=8, composition_dims=8, n_layer=1, n_head=2, min_read=40,
               max_read=80, steps=3, batch_size=12, genomes_per_batch=3, prior_reads=50, log_every=1)


@pytest.fixture(scope="module")
def genome_texts() -> dict[str, str]:
    rng = np.random.default_rng(77)
    return {name: "".join(rng.choice(list("ACGT"), p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], size=20000))
            for name, gc in (("at_rich", 0.3), ("balanced", 0.5), ("gc_rich", 0.7))}


@pytest.fixture(scope="module")
def base_dir(genome_texts: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("genomes")
    for name, text in genome_texts.items():
        (folder / f"{name}.fna").write_text(f">{name}\n{text}\n")
    with threadpool_limits(limits=1, user_api="blas"):  # tiny SVDs: BLAS threads only spin on a busy machine
        return pretrain_base_model(folder, tmp_path_factory.mktemp("base") / "base", TINY, 3, device="cpu")


def test_fine_tuning_keeps_the_reference_table_and_recomputes_the_pool_statistics(
        base_dir: Path, genome_texts: dict[str, str], tmp_path: Path) -> None:
    base = load_base(base_dir)
    assert base.config.n_reference == 3
    rng = np.random.default_rng(5)
    pool = []
    for i in range(24):
        text = list(genome_texts.values())[i % 3]
        start = int(rng.integers(0, len(text) - 120))
        insert = text[start:start + 120]
        pool.append(PooledFragment(f"s{i % 2}", f"r{i}", insert[:40], reverse_complement(insert[-40:])))
    train_cfg = build_config(TrainConfig, "train", max_steps=2, batch_size=8, log_every=1, checkpoint_every=0, device="cpu")
    out = train_encoder(pool, tmp_path / "tuned", base.config, base.tok_spec, train_cfg, 11, base=base)
    tuned, spec, cfg = load_model(out)
    assert cfg == replace(base.config, reference_prior=True) and spec == base.tok_spec
    assert "ref_log_prior" not in base.weights  # a base's weights file stays as pretraining wrote it
    assert torch.equal(tuned.ref_logprob, base.weights["ref_logprob"])
    assert not torch.equal(tuned.pool_mean, base.weights["pool_mean"])
    assert not torch.equal(tuned.pool_std, base.weights["pool_std"])
    assert not torch.equal(tuned.tok_emb.weight, base.weights["tok_emb.weight"])  # it did train
    # the statistics are those of the tuned model's pooled states over the training split
    table = tokenize_views(spec, pool)
    train_rows, _ = split_train_val(len(pool), train_cfg.val_fraction, 11)
    pooled = pooled_views(tuned, table, train_rows, resolve_device("cpu"), train_cfg.batch_size)
    assert pooled.shape == (2 * len(train_rows), 16)
    assert torch.allclose(tuned.pool_mean, pooled.mean(dim=0), atol=1e-5)
    assert torch.allclose(tuned.pool_std, pooled.std(dim=0), atol=1e-5)
    # the prior is the EM estimate over the training split's fragments (both mates' logits summed)
    logits = fragment_reference_logits(tuned, table, train_rows, resolve_device("cpu"), train_cfg.batch_size)
    refit = ReadEncoder(cfg)
    assert torch.allclose(refit.fit_reference_prior(logits).log().float(), tuned.ref_log_prior)
    assert not torch.equal(tuned.ref_log_prior, torch.zeros(3))
    config = json.loads((out / "config.json").read_text())
    assert config["base"]["weights_sha256"] == base.sha256
    assert config["model"] == {**asdict(base.config), "reference_prior": True}


# ----------------------------------------------------------------------------- fragments and the cruise prior


PRIOR = replace(AFFINITY, reference_prior=True)


def fragment_inputs(pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ids (2R, T) of every mate on the given strand, then on the other; owner (R,) as embedding lays them out."""
    reads = [mate for pair in pairs for mate in pair]
    ids, lengths = tokens(reads + [reverse_complement(r) for r in reads])
    return ids, lengths, torch.arange(len(pairs)).repeat_interleave(2)


def test_an_affinity_fragment_vector_is_the_posterior_given_both_mates() -> None:
    table = random_table(4, symmetric=True)
    model = affinity_model(4, table, cfg=PRIOR)
    with torch.no_grad():
        model.ref_log_prior.copy_(torch.tensor([-0.2, -1.5, -3.0, -0.9]))
    pairs = [("ACGTTGCAAGGCTTAGCA", "GGGCCCAATTTGACG"), ("TTTTGGGGCCCCAAAATG", "CAGTCAGTCAGTAA")]
    ids, lengths, owner = fragment_inputs(pairs)
    got = model.fragment_vectors(ids, lengths, owner, len(pairs))
    assert got.shape == (2, N_REF + 8)
    assert torch.allclose(got.norm(dim=1), torch.ones(2), atol=1e-6)
    for row, (mate1, mate2) in enumerate(pairs):
        # both mates' summed log-likelihoods, tempered, plus the prior (brute_affinities has no prior: add it)
        log_post = 2 * np.log(brute_affinities(mate1, table, 3.0)) + 2 * np.log(brute_affinities(mate2, table, 3.0))
        log_post += model.ref_log_prior.double().numpy()
        expected = np.exp(log_post - log_post.max())
        expected = np.sqrt(expected / expected.sum())
        assert np.allclose(got[row, :N_REF].detach().double().numpy(), math.sqrt(0.7) * expected, atol=1e-5)


def test_a_plain_fragment_vector_is_the_normalised_mean_of_its_read_vectors() -> None:
    model = ReadEncoder(PLAIN, torch.Generator().manual_seed(5)).eval()
    pairs = [("ACGTTGCAAGGCTTAGCA", "GGGCCCAATTTGACG"), ("TTTTGGGGCCCCAAAATG", "CAGTCAGTCAGTAA")]
    ids, lengths, owner = fragment_inputs(pairs)
    reads = model(ids, lengths)  # (2R, C)
    mean = (reads[:4] + reads[4:]).view(2, 2, -1).sum(dim=1)  # (F, C) both strands, both mates
    assert torch.allclose(model.fragment_vectors(ids, lengths, owner, 2), F.normalize(mean, dim=-1), atol=1e-6)


def test_the_reference_prior_finds_the_references_a_cruise_holds() -> None:
    # 10 references; fragments of references 0 (70 %) and 1 (30 %); 2 is a close relative of 0
    rng = np.random.default_rng(8)
    truth = rng.choice([0, 1], p=[0.7, 0.3], size=2000)
    centre = np.full((2, 10), -60.0)
    centre[0, :3], centre[1, :3] = (0.0, -40.0, -6.0), (-40.0, 0.0, -40.0)
    logits = torch.from_numpy(centre[truth] + rng.normal(0.0, 3.0, size=(2000, 10)))
    model = ReadEncoder(replace(PRIOR, n_reference=10))
    shares = model.fit_reference_prior(logits)
    assert torch.allclose(shares.sum(), torch.tensor(1.0, dtype=torch.float64))
    floor = shares[2:]  # the absent references (the relative included) sit at one floor: half a uniform share
    assert torch.allclose(floor, floor[0].expand(8)) and 0.5 / 10 / 1.5 < float(floor[0]) <= 0.05
    assert 2.0 < float(shares[0] / shares[1]) < 2.7  # present ones in about their 70:30 ratio
    assert torch.allclose(model.ref_log_prior, shares.log().float())
    # reads of reference 0 are now assigned to it more than to its absent relative
    uniform = torch.softmax(logits[truth == 0].float() / 3.0, dim=-1)[:, 0].mean()
    with_prior = model.affinities_from_logits(logits[truth == 0]).pow(2)[:, 0].mean()
    assert with_prior > uniform + 0.05


def test_a_base_without_a_prior_loads_into_a_fine_tuned_architecture() -> None:
    base = affinity_model(6)
    tuned = ReadEncoder(PRIOR)
    tuned.load_base_weights(base.state_dict())
    assert torch.equal(tuned.ref_logprob, base.ref_logprob)
    assert torch.equal(tuned.ref_log_prior, torch.zeros(N_REF))  # uniform: the base's affinities exactly
    ids, lengths = tokens(["ACGTTGCAAGGCTTAGCA"])
    assert torch.allclose(tuned(ids, lengths), base(ids, lengths))
    with pytest.raises(RuntimeError, match="do not fit"):
        ReadEncoder(PRIOR).load_base_weights({k: v for k, v in base.state_dict().items() if k != "pool_std"})


def test_a_reference_prior_needs_references() -> None:
    with pytest.raises(PlanktonlmInputError, match="reference_prior"):
        replace(PLAIN, reference_prior=True)
