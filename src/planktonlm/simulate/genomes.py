"""Genomes for the simulator: FASTA (optionally gzipped) as base codes, laid end to end with N runs indexed.

Bases are codes 0-3 (A C G T) and 4 (N: anything that is not ACGT in a genome). ``load_genomes``
reads a folder (``SOURCES.tsv`` there optionally names organisms); ``GenomeSet`` joins the
genomes into one array, both strands, so reads are cut out with one gather.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.simulate.gzipio import gzip_backend

DEFAULT_GENOMES_DIR = Path("resources/genomes")
GENOME_SUFFIXES = (".fna.gz", ".fa.gz", ".fasta.gz", ".fna", ".fa", ".fasta")

# Base codes: 0..3 = A C G T, 4 = N (anything that is not ACGT in a genome).
CODE_N = 4
BASE_ASCII = np.frombuffer(b"ACGTN", dtype=np.uint8)  # code -> ASCII letter
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
ENCODE = np.full(256, CODE_N, dtype=np.uint8)  # ASCII letter -> code
for _code, _letter in enumerate(b"ACGT"):
    ENCODE[_letter] = _code
    ENCODE[ord(chr(_letter).lower())] = _code


@dataclass(frozen=True, eq=False)
class Genome:
    """One genome as base codes (0-3 ACGT, 4 N); contigs joined by one N so no fragment spans two."""

    name: str
    organism: str
    file: str
    codes: np.ndarray
    contig_names: tuple[str, ...]
    contig_starts: np.ndarray  # offset of each contig in ``codes``
    contig_lengths: np.ndarray

    @property
    def length_bp(self) -> int:
        return int(self.contig_lengths.sum())

    @property
    def gc(self) -> float:
        counts = np.bincount(self.codes, minlength=5)
        acgt = counts[:4].sum()
        return float((counts[1] + counts[2]) / acgt) if acgt else 0.0


def genome_name(path: Path) -> str | None:
    """The genome a FASTA file holds: its name less the suffix; None for a file that is not a genome."""
    for suffix in GENOME_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return None


def _read_fasta(path: Path) -> list[tuple[str, bytes]]:
    opener = gzip_backend.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if not data.lstrip().startswith(b">"):
        raise ValueError("not FASTA (no '>' header at the start)")
    records = []
    for chunk in data.lstrip()[1:].split(b"\n>"):
        header, _, body = chunk.partition(b"\n")
        seq = body.translate(None, b"\r\n \t")
        if seq:
            records.append((header.split()[0].decode() if header.split() else f"contig{len(records) + 1}", seq))
    if not records:
        raise ValueError("no sequence")
    return records


def load_genomes(directory: Path | str, names: list[str] | tuple[str, ...] | None = None) -> list[Genome]:
    """Read the genomes (FASTA, optionally gzipped) of a folder; ``names`` picks some, in that order.

    ``SOURCES.tsv`` in the folder (columns file, organism, ...) is optional and only names organisms.
    """
    directory = Path(directory)
    file_label = str(directory)
    if not directory.is_dir():
        raise PlanktonlmInputError(InputProblem(file=file_label, message="genomes folder not found",
                                                expected="a folder of FASTA genomes (*.fna.gz)"))
    files = {name: p for p in sorted(directory.iterdir()) if (name := genome_name(p)) is not None}
    if not files:
        raise PlanktonlmInputError(InputProblem(file=file_label, message="no genome files",
                                                expected=f"files ending in {', '.join(GENOME_SUFFIXES)}"))
    wanted = list(names) if names is not None else sorted(files)
    missing = [n for n in wanted if n not in files]
    if missing:
        raise PlanktonlmInputError([
            InputProblem(file=file_label, message="genome not found", value=n, expected=f"one of {sorted(files)}")
            for n in missing
        ])
    organisms = {}
    sources = directory / "SOURCES.tsv"
    if sources.is_file():
        table = pd.read_csv(sources, sep="\t", dtype=str, keep_default_na=False)
        if {"file", "organism"} <= set(table.columns):
            organisms = dict(zip(table["file"], table["organism"]))

    genomes, problems = [], []
    for name in wanted:
        path = files[name]
        try:
            records = _read_fasta(path)
        except (OSError, ValueError, EOFError, zlib.error) as exc:
            problems.append(InputProblem(file=str(path), message=f"cannot read genome: {exc}", expected="FASTA"))
            continue
        lengths = np.array([len(seq) for _, seq in records], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
        codes = ENCODE[np.frombuffer(b"N".join(seq for _, seq in records), dtype=np.uint8)]
        genomes.append(Genome(name, organisms.get(path.name, name), path.name, codes,
                              tuple(h for h, _ in records), starts, lengths))
    if problems:
        raise PlanktonlmInputError(problems)
    return genomes


class GenomeSet:
    """Genomes laid end to end in one code array, with the N runs (gaps, contig joins) indexed."""

    def __init__(self, genomes: list[Genome]):
        self.genomes = genomes
        self.names = [g.name for g in genomes]
        separator = np.array([CODE_N], dtype=np.uint8)
        self.codes = np.concatenate([part for g in genomes for part in (g.codes, separator)])
        sizes = np.array([len(g.codes) for g in genomes], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes + 1)[:-1]]).astype(np.int64)
        self.spans = sizes  # candidate start range of a genome, separators included
        self.length_bp = np.array([g.length_bp for g in genomes], dtype=np.int64)
        is_n = np.concatenate([[False], self.codes == CODE_N, [False]])
        edges = np.flatnonzero(np.diff(is_n.astype(np.int8)))
        self.n_starts, self.n_ends = edges[0::2], edges[1::2]  # [start, end) of every N run
        # Global contig table, for reporting fragment positions per contig.
        self.contig_starts = np.concatenate([g.contig_starts + off for g, off in zip(genomes, self.offsets)])
        self.contig_names = [c for g in genomes for c in g.contig_names]
        self.longest_clean = np.array([self._longest_clean(i) for i in range(len(genomes))], dtype=np.int64)
        # Both strands in one array for read extraction: [pad | codes | pad | complement | pad].
        self.pad = 512
        pad = np.full(self.pad, CODE_N, dtype=np.uint8)
        self.strand_codes = np.concatenate([pad, self.codes, pad, _COMPLEMENT[self.codes], pad])
        self.forward_base = self.pad
        self.complement_base = 2 * self.pad + len(self.codes)

    def _longest_clean(self, i: int) -> int:
        lo, hi = self.offsets[i], self.offsets[i] + self.spans[i]
        inside = (self.n_starts < hi) & (self.n_ends > lo)
        starts = np.concatenate([[lo], self.n_ends[inside]])
        ends = np.concatenate([self.n_starts[inside], [hi]])
        return int(np.max(ends - starts)) if len(starts) else 0

    def spans_n(self, start: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Whether each fragment [start, start + length) touches an N run or a contig join."""
        k = np.searchsorted(self.n_ends, start, side="right")  # first N run ending after start
        hit = k < len(self.n_starts)
        hit[hit] = self.n_starts[k[hit]] < start[hit] + length[hit]
        return hit
