from __future__ import annotations

import itertools

import numpy as np
import pytest

from planktonlm.encoder.tokenizer import (
    CLS_ID,
    N_SPECIAL,
    PAD_ID,
    UNK_ID,
    TokenizerSpec,
    decode,
    encode,
    encode_batch,
    reverse_complement,
)
from planktonlm.errors import PlanktonlmInputError


def random_read(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=length))


@pytest.mark.parametrize("kind,k", [("nucleotide", 1), ("kmer", 3), ("kmer", 4)])
def test_round_trip_of_clean_reads_of_any_length(kind: str, k: int) -> None:
    spec = TokenizerSpec(kind=kind, k=k, max_len=200)
    rng = np.random.default_rng(0)
    for length in [1, 2, 3, 4, 5, 7, 99, 100, 101]:
        read = random_read(rng, length)
        ids = encode(spec, read)
        assert ids[0] == CLS_ID
        assert len(ids) == 1 + -(-length // k)  # one token per k bases, a shorter tail token last
        assert decode(spec, ids) == read


def test_every_kmer_has_its_own_id_inside_the_vocabulary() -> None:
    spec = TokenizerSpec(kind="kmer", k=3, max_len=8)
    ids = set()
    for m in (1, 2, 3):
        for kmer in itertools.product("ACGT", repeat=m):
            token = encode(spec, "".join(kmer))
            assert len(token) == 2
            ids.add(token[1])
    assert len(ids) == 4 + 16 + 64
    assert ids == set(range(N_SPECIAL, spec.vocab_size))


def test_lower_case_is_upper_cased() -> None:
    spec = TokenizerSpec(kind="kmer", k=4, max_len=40)
    assert encode(spec, "acgtacgtTTgcA") == encode(spec, "ACGTACGTTTGCA")
    assert decode(spec, encode(spec, "acgtac")) == "ACGTAC"


def test_unknown_bases_become_unk_without_touching_other_tokens() -> None:
    spec = TokenizerSpec(kind="kmer", k=4, max_len=40)
    clean = encode(spec, "ACGTACGTAC")
    with_n = encode(spec, "ACGTNCGTAC")
    assert with_n[1] == clean[1]
    assert with_n[2] == UNK_ID and clean[2] != UNK_ID
    assert with_n[3] == clean[3]
    assert decode(spec, with_n) == "ACGTNNNNAC"  # documented loss: a k-mer with an N decodes as N*k
    for odd in ["ACGR", "acgx", "AC-T", "ACG\u00e9"]:
        assert encode(spec, odd)[1] == UNK_ID
    nucleotide = TokenizerSpec(kind="nucleotide", k=1, max_len=10)
    assert encode(nucleotide, "ANc") == [CLS_ID, encode(nucleotide, "A")[1], UNK_ID, encode(nucleotide, "C")[1]]


def test_empty_and_short_reads() -> None:
    spec = TokenizerSpec(kind="kmer", k=4, max_len=40)
    assert encode(spec, "") == [CLS_ID]
    short = encode(spec, "GA")
    assert len(short) == 2 and short[1] >= N_SPECIAL + 256  # a tail token, not a full 4-mer
    assert decode(spec, short) == "GA"


def test_long_reads_are_truncated_to_max_len() -> None:
    spec = TokenizerSpec(kind="kmer", k=4, max_len=10)
    read = random_read(np.random.default_rng(1), 150)
    ids = encode(spec, read)
    assert len(ids) == 10
    assert decode(spec, ids) == read[: 9 * 4]
    batch, lengths = encode_batch(spec, [read, "ACGT"])
    assert batch.shape == (2, 10) and lengths.tolist() == [10, 2]


def test_batch_is_padded_to_the_longest_read() -> None:
    spec = TokenizerSpec(kind="kmer", k=3, max_len=50)
    reads = ["ACGTACGTA", "", "acgNa"]
    ids, lengths = encode_batch(spec, reads)
    assert ids.shape == (3, 4)
    assert lengths.tolist() == [4, 1, 3]
    for row, read, length in zip(ids, reads, lengths):
        assert row[:length].tolist() == encode(spec, read)
        assert (row[length:] == PAD_ID).all()
    empty_ids, empty_lengths = encode_batch(spec, [])
    assert empty_ids.shape[0] == 0 and empty_lengths.shape == (0,)


def test_spec_json_round_trip(tmp_path) -> None:
    spec = TokenizerSpec(kind="kmer", k=5, max_len=24)
    path = tmp_path / "tokenizer.json"
    spec.save(path)
    assert TokenizerSpec.load(path) == spec
    assert TokenizerSpec.from_model_section("nucleotide", 4, 128) == TokenizerSpec("nucleotide", 1, 128)


def test_invalid_specs_are_refused_with_every_problem() -> None:
    with pytest.raises(PlanktonlmInputError) as info:
        TokenizerSpec(kind="bpe", k=0, max_len=1)
    assert len(info.value.problems) == 3
    with pytest.raises(PlanktonlmInputError):
        TokenizerSpec(kind="nucleotide", k=3, max_len=10)
    with pytest.raises(PlanktonlmInputError):
        TokenizerSpec.from_json('{"kind": "kmer"}')


def test_reverse_complement() -> None:
    assert reverse_complement("AACGTn") == "NACGTT"
    assert reverse_complement("acgR") == "NCGT"
    read = random_read(np.random.default_rng(2), 57)
    assert reverse_complement(reverse_complement(read)) == read
