from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from planktonlm.config import build_config
from planktonlm.encoder.device import resolve_device
from planktonlm.encoder.model import ModelConfig, ReadEncoder, ReadEncoderConfig
from planktonlm.encoder.tokenizer import MASK_ID, N_SPECIAL, encode_batch
from planktonlm.errors import PlanktonlmInputError

SECTION = build_config(ModelConfig, "model", base="none", tokenizer="kmer", k=3, n_layer=2, n_head=2, d_model=16, max_len=40)


def tiny_model(seed: int = 0) -> ReadEncoder:
    return ReadEncoder(SECTION.encoder_config(), torch.Generator().manual_seed(seed)).eval()


def tokens(reads: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    ids, lengths = encode_batch(SECTION.tokenizer_spec(), reads)
    return torch.from_numpy(ids), torch.from_numpy(lengths)


def random_read(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=length))


def test_output_shapes_and_unit_norm() -> None:
    model = tiny_model()
    ids, lengths = tokens(["ACGTACGTAC", "GGG", ""])
    hidden = model.hidden(ids, lengths)
    assert hidden.shape == (3, ids.shape[1], 16)
    vectors = model(ids, lengths)
    assert vectors.shape == (3, 16)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-6)
    assert torch.isfinite(vectors).all()  # the empty read still has its CLS token
    assert model.mlm_logits(hidden[:, 1]).shape == (3, SECTION.tokenizer_spec().vocab_size)
    assert model.project(model.pool(hidden, lengths)).shape == (3, model.cfg.proj_dim)


def test_padding_does_not_change_a_reads_vector() -> None:
    model = tiny_model()
    rng = np.random.default_rng(0)
    short, long = random_read(rng, 30), random_read(rng, 110)
    alone = model(*tokens([short]))
    batched = model(*tokens([long, short, "A"]))
    assert tokens([long, short])[0].shape[1] > tokens([short])[0].shape[1]
    assert torch.allclose(alone[0], batched[1], atol=1e-5)


def test_padding_tokens_are_really_masked() -> None:
    """Changing the ids under the padding must not change anything."""
    model = tiny_model()
    ids, lengths = tokens(["ACGTACGTACGTACGTAC", "ACG"])
    garbage = ids.clone()
    garbage[1, lengths[1]:] = 7
    assert torch.equal(model(ids, lengths), model(garbage, lengths))


def test_initialisation_is_seeded_and_leaves_the_global_rng_alone() -> None:
    before = torch.get_rng_state()
    a, b, c = tiny_model(1), tiny_model(1), tiny_model(2)
    assert torch.equal(torch.get_rng_state(), before)
    for (name, pa), (_, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_same_weights_same_vectors_bitwise() -> None:
    ids, lengths = tokens(["ACGTTGCA" * 10, "TTTTGGGGCCCCAAAA"])
    first = tiny_model(3)(ids, lengths)
    second = tiny_model(3)(ids, lengths)
    assert torch.equal(first, second)


def test_mlm_head_is_tied_to_the_token_embedding() -> None:
    model = tiny_model()
    hidden = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    expected = hidden @ model.tok_emb.weight.T + model.mlm_bias
    assert torch.allclose(model.mlm_logits(hidden), expected, atol=1e-6)


def test_model_section_builds_matching_configs() -> None:
    cfg = SECTION.encoder_config()
    assert cfg.vocab_size == SECTION.tokenizer_spec().vocab_size == 4 + 64 + 4 + 16
    assert cfg.max_len == SECTION.max_len
    nucleotide = build_config(ModelConfig, "model", tokenizer="nucleotide", k=4, max_len=120)
    assert nucleotide.tokenizer_spec().k == 1 and nucleotide.encoder_config().vocab_size == 8
    assert cfg.overlap_embedding and not nucleotide.encoder_config().overlap_embedding  # k-mers only


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(PlanktonlmInputError) as info:
        ReadEncoderConfig(vocab_size=10, n_layer=0, n_head=3, d_model=16, dropout=1.0)
    assert len(info.value.problems) == 3


def test_device_resolution() -> None:
    plan = resolve_device("cpu")
    assert plan.device.type == "cpu" and plan.autocast_dtype is None and not plan.pin_memory
    auto = resolve_device("auto")
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(PlanktonlmInputError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(PlanktonlmInputError) as info:
            resolve_device("cuda", column="embed.device")
        assert info.value.problems[0].column == "embed.device"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_bf16_matches_cpu_fp32() -> None:
    model = tiny_model()
    ids, lengths = tokens(["ACGTACGTAC" * 9, "GGGATTACA"])
    expected = model(ids, lengths)
    plan = resolve_device("cuda")
    gpu_model = tiny_model().to(plan.device)
    with torch.inference_mode(), plan.autocast():
        got = gpu_model(plan.to_device(ids), plan.to_device(lengths)).float().cpu()
    assert torch.allclose(got, expected, atol=3e-2)


def kmer_id(kmer: str) -> int:
    value = 0
    for base in kmer:
        value = value * 4 + "ACGT".index(base)
    return N_SPECIAL + value


def test_overlap_embedding_averages_every_kmer_starting_in_a_token() -> None:
    model = tiny_model()
    assert model.cfg.overlap_embedding and model.cfg.k == 3
    read = "ACGTTGCAGGATTC"  # 4 full 3-mer tokens and a 2-base tail
    ids, lengths = tokens([read])
    got = model.token_embedding(ids, torch.ones_like(ids, dtype=torch.bool))
    table = model.tok_emb.weight
    for token in range(3):  # tokens followed by a full k-mer token: all k k-mers are read bases
        start = 3 * token
        expected = torch.stack([table[kmer_id(read[start + o:start + o + 3])] for o in range(3)]).mean(0)
        assert torch.allclose(got[0, 1 + token], expected, atol=1e-6)
    masked = ids.clone()
    masked[0, 2] = MASK_ID  # hide token 2 (bases 3..5): token 1's overlapping k-mers must not show them
    hidden = model.token_embedding(masked, torch.ones_like(ids, dtype=torch.bool))
    expected = torch.stack([table[kmer_id(read[0:3])], table[MASK_ID], table[MASK_ID]]).mean(0)
    assert torch.allclose(hidden[0, 1], expected, atol=1e-6)
    plain = ReadEncoder(replace(SECTION.encoder_config(), overlap_embedding=False))
    assert torch.equal(plain.token_embedding(ids, ids != 0), plain.tok_emb(ids))
