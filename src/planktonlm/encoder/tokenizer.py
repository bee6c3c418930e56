"""DNA read tokenizer: non-overlapping k-mers (k = 1 is single nucleotides) plus special tokens.

Vocabulary, in id order: the special tokens PAD, CLS, MASK, UNK; the 4**k k-mers in
lexicographic ACGT order; then the shorter "tail" k-mers (lengths 1..k-1) that a read whose
length is not a multiple of k ends with, so that every ACGT read decodes back exactly.
A token with any base other than A, C, G, T (N, IUPAC codes, anything) becomes UNK; lower case
is upper-cased. Each read starts with CLS; reads longer than ``max_len - 1`` tokens are
truncated at the 3' end. Encoding is vectorised over a batch with numpy (no torch here).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[MASK]", "[UNK]")
PAD_ID, CLS_ID, MASK_ID, UNK_ID = range(4)
N_SPECIAL = len(SPECIAL_TOKENS)
TOKENIZER_KINDS = ("nucleotide", "kmer")
MAX_K = 8  # 4**8 = 65536 k-mer tokens: the embedding table would dwarf a small model beyond

_BASES = "ACGT"
_CODE_N = 4  # a position holding a non-ACGT character
_CODE_PAD = 5  # a position past the end of the read
# ASCII -> base code; upper and lower case map alike, anything unknown to _CODE_N.
_LUT = np.full(256, _CODE_N, dtype=np.int64)
for _code, _base in enumerate(_BASES):
    _LUT[ord(_base)] = _code
    _LUT[ord(_base.lower())] = _code
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANTGCAN")


def reverse_complement(seq: str) -> str:
    """Reverse complement, upper case; characters other than ACGTN become N."""
    upper = seq.upper().translate(_COMPLEMENT)
    if upper.strip("ACGTN"):
        upper = "".join(c if c in "ACGTN" else "N" for c in upper)
    return upper[::-1]


@dataclass(frozen=True)
class TokenizerSpec:
    """Everything needed to tokenize reads the way a model was trained (saved as tokenizer.json)."""

    kind: str = "kmer"  # "nucleotide" (one token per base) or "kmer" (non-overlapping k-mers)
    k: int = 4  # bases per token (forced to 1 for "nucleotide")
    max_len: int = 32  # tokens per read including CLS; longer reads are truncated

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in TOKENIZER_KINDS:
            problems.append(InputProblem(file="config", column="model.tokenizer", value=self.kind,
                                         message="unknown tokenizer", expected=" or ".join(TOKENIZER_KINDS)))
        elif self.kind == "nucleotide" and self.k != 1:
            problems.append(InputProblem(file="config", column="model.k", value=self.k,
                                         message="a nucleotide tokenizer has k = 1", expected="k = 1"))
        if not 1 <= self.k <= MAX_K:
            problems.append(InputProblem(file="config", column="model.k", value=self.k,
                                         message="k-mer length out of range", expected=f"1..{MAX_K}"))
        if self.max_len < 2:
            problems.append(InputProblem(file="config", column="model.max_len", value=self.max_len,
                                         message="too short for CLS and one token", expected=">= 2"))
        if problems:
            raise PlanktonlmInputError(problems)

    @classmethod
    def from_model_section(cls, kind: str, k: int, max_len: int) -> TokenizerSpec:
        """Build from the `model:` config keys (k is ignored for the nucleotide tokenizer)."""
        return cls(kind=kind, k=1 if kind == "nucleotide" else k, max_len=max_len)

    @property
    def n_full(self) -> int:
        return 4**self.k

    @property
    def vocab_size(self) -> int:
        return N_SPECIAL + sum(4**m for m in range(1, self.k + 1))

    @property
    def max_bases(self) -> int:
        """Bases of a read that fit in ``max_len`` tokens; later bases are cut off."""
        return (self.max_len - 1) * self.k

    def token_offsets(self) -> np.ndarray:
        """First token id of m-mers, for m = 0..k (m = k: full k-mers; m < k: read tails)."""
        offsets = np.zeros(self.k + 1, dtype=np.int64)
        offsets[self.k] = N_SPECIAL
        start = N_SPECIAL + self.n_full
        for m in range(1, self.k):
            offsets[m] = start
            start += 4**m
        return offsets

    def to_json(self) -> str:
        return json.dumps({"format": "planktonlm-tokenizer", "version": 1, **asdict(self)}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, file: str = "tokenizer.json") -> TokenizerSpec:
        try:
            data = json.loads(text)
            fields = {key: data[key] for key in ("kind", "k", "max_len")}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise PlanktonlmInputError(InputProblem(file=file, message=f"not a tokenizer spec: {exc}",
                                                    expected="JSON with kind, k, max_len")) from exc
        return cls(**fields)

    def save(self, path: str | os.PathLike) -> None:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> TokenizerSpec:
        return cls.from_json(Path(path).read_text(), file=os.fspath(path))


def encode_batch(spec: TokenizerSpec, seqs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of a batch of reads, padded to the longest: (ids int64 (B, T), lengths int64 (B,)).

    ``T`` is the longest encoded read of the batch (at most ``spec.max_len``), so short batches
    stay cheap. Row ``i`` is ``[CLS, tok_1, ..., tok_n, PAD, ...]`` and ``lengths[i] = 1 + n``.
    """
    k = spec.k
    n_reads = len(seqs)
    if n_reads == 0:
        return np.zeros((0, 1), dtype=np.int64), np.zeros(0, dtype=np.int64)
    clipped = [s[: spec.max_bases] for s in seqs]
    longest = max(len(s) for s in clipped)
    n_tokens = -(-longest // k)  # ceil: a partial last k-mer becomes a tail token
    width = n_tokens * k
    # Pad with NUL bytes (a code the LUT never sees in a read) -> mark as past-the-end below.
    try:
        raw = "".join(s.ljust(width, "\0") for s in clipped).encode("ascii")
    except UnicodeEncodeError:
        raw = "".join(s.ljust(width, "\0") for s in clipped).encode("ascii", errors="replace")
    chars = np.frombuffer(raw, dtype=np.uint8).reshape(n_reads, width)
    codes = _LUT[chars]  # (B, width)
    codes[chars == 0] = _CODE_PAD
    codes = codes.reshape(n_reads, n_tokens, k)  # (B, n_tokens, k)
    is_base = codes != _CODE_PAD  # bases form a prefix of each token
    n_bases = is_base.sum(axis=2)  # (B, n_tokens): k for full tokens, < k for the tail
    unknown = (codes == _CODE_N).any(axis=2)
    value = np.zeros((n_reads, n_tokens), dtype=np.int64)
    for j in range(k):  # Horner's rule over the real bases of each token
        value = np.where(is_base[:, :, j], value * 4 + np.minimum(codes[:, :, j], 3), value)
    ids = spec.token_offsets()[n_bases] + value
    ids = np.where(unknown, UNK_ID, ids)
    ids = np.where(n_bases == 0, PAD_ID, ids)
    lengths = 1 + (n_bases > 0).sum(axis=1)
    out = np.empty((n_reads, n_tokens + 1), dtype=np.int64)  # (B, T) with CLS in front
    out[:, 0] = CLS_ID
    out[:, 1:] = ids
    return out, lengths.astype(np.int64)


def encode(spec: TokenizerSpec, seq: str) -> list[int]:
    """Token ids of one read, without padding (``[CLS, ...]``)."""
    ids, lengths = encode_batch(spec, [seq])
    return ids[0, : lengths[0]].tolist()


@cache
def _kmer_table(spec: TokenizerSpec) -> list[str]:
    """Token id -> text, for decoding."""
    table = list(SPECIAL_TOKENS)
    for m in [spec.k, *range(1, spec.k)]:
        for index in range(4**m):
            table.append("".join(_BASES[(index >> (2 * (m - 1 - j))) & 3] for j in range(m)))
    return table


def decode(spec: TokenizerSpec, ids: list[int] | np.ndarray) -> str:
    """Bases of a token sequence. CLS and PAD vanish; UNK and MASK become ``N`` * k (lossy)."""
    table = _kmer_table(spec)
    parts = []
    for token in ids:
        token = int(token)
        if token in (PAD_ID, CLS_ID):
            continue
        parts.append("N" * spec.k if token in (UNK_ID, MASK_ID) else table[token])
    return "".join(parts)
