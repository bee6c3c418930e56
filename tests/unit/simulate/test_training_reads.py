"""Single reads for pretraining (draw_training_reads): lengths, origin, strands, contig joins, seeding."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from planktonlm.simulate.design import PRESETS
from planktonlm.simulate.genomes import BASE_ASCII, GenomeSet, load_genomes
from planktonlm.simulate.reads import draw_training_reads

EXACT = dataclasses.replace(PRESETS["demo"], sequencing_errors=False, n_rate=0.0)
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def random_text(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=n))


@pytest.fixture(scope="module")
def contigs() -> dict[str, list[str]]:
    """Three genomes; "two_contigs" has short contigs, so that many candidate reads would cross the join."""
    rng = np.random.default_rng(31)
    return {"one": [random_text(rng, 1500)], "two_contigs": [random_text(rng, 260), random_text(rng, 180)],
            "three": [random_text(rng, 900)]}


@pytest.fixture(scope="module")
def genome_set(contigs: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> GenomeSet:
    folder = tmp_path_factory.mktemp("genomes")
    for name, parts in contigs.items():
        (folder / f"{name}.fna").write_text("".join(f">{name}_{i}\n{text}\n" for i, text in enumerate(parts)))
    return GenomeSet(load_genomes(folder, list(contigs)))


def as_text(read: np.ndarray) -> str:
    return BASE_ASCII[read].tobytes().decode()


def where_from(read: str, contigs: dict[str, list[str]]) -> set[tuple[str, int, str]]:
    """(genome, contig, strand) of every place the read is an exact copy of."""
    found = set()
    for name, parts in contigs.items():
        for i, text in enumerate(parts):
            if read in text:
                found.add((name, i, "+"))
            if read in revcomp(text):
                found.add((name, i, "-"))
    return found


def test_reads_have_the_requested_lengths(genome_set: GenomeSet) -> None:
    rng = np.random.default_rng(1)
    genome = rng.integers(0, 3, size=200)
    lengths = rng.integers(20, 151, size=200)
    reads = draw_training_reads(genome_set, genome, lengths, EXACT, np.random.default_rng(2))
    assert len(reads) == 200
    assert [len(r) for r in reads] == lengths.tolist()
    assert all(r.dtype == np.uint8 and r.max() <= 3 for r in reads)  # no N: no join crossed, no N calls


def test_error_free_reads_are_copies_of_the_requested_genome_on_either_strand(genome_set: GenomeSet, contigs) -> None:
    rng = np.random.default_rng(3)
    genome = rng.integers(0, 3, size=300)
    lengths = rng.integers(30, 161, size=300)  # mixed lengths: reverse reads shorter than the longest too
    reads = draw_training_reads(genome_set, genome, lengths, EXACT, np.random.default_rng(4))
    names = list(contigs)
    strands, places = [], set()
    for read, g in zip(reads, genome):
        found = where_from(as_text(read), contigs)
        assert found, as_text(read)
        assert {name for name, _, _ in found} == {names[g]}  # the requested genome only
        strands.extend(strand for _, _, strand in found)
        places |= {(name, contig) for name, contig, _ in found}
    assert 0.35 < strands.count("+") / len(strands) < 0.65  # both strands, about equally
    assert ("two_contigs", 0) in places and ("two_contigs", 1) in places


def test_reads_never_cross_the_n_that_joins_two_contigs(genome_set: GenomeSet, contigs) -> None:
    n = 400
    lengths = np.full(n, 150)  # 150 of 260 + 180 bases: most start positions would cross the join
    reads = draw_training_reads(genome_set, np.ones(n, dtype=np.int64), lengths, EXACT, np.random.default_rng(5))
    joined = contigs["two_contigs"][0] + "N" + contigs["two_contigs"][1]
    for read in reads:
        text = as_text(read)
        assert "N" not in text
        assert where_from(text, {"two_contigs": contigs["two_contigs"]}), text
        assert text in joined or revcomp(text) in joined


def test_reads_longer_than_the_longest_contig_are_clipped_to_it(genome_set: GenomeSet, contigs) -> None:
    reads = draw_training_reads(genome_set, np.array([1, 1, 1, 1]), np.array([400, 300, 261, 100]), EXACT,
                                np.random.default_rng(6))
    assert [len(r) for r in reads] == [260, 260, 260, 100]
    for read in reads[:3]:
        assert as_text(read) in (contigs["two_contigs"][0], revcomp(contigs["two_contigs"][0]))


def test_same_rng_seed_same_reads_other_seed_other_reads(genome_set: GenomeSet) -> None:
    genome = np.array([0, 1, 2, 0, 2] * 10)
    lengths = np.arange(50) + 40

    def draw(seed: int) -> list[str]:
        return [as_text(r) for r in draw_training_reads(genome_set, genome, lengths, PRESETS["demo"], np.random.default_rng(seed))]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_sequencing_errors_are_rare_substitutions(genome_set: GenomeSet, contigs) -> None:
    """With the demo's error model a read differs from its source in a few positions at most."""
    n = 200
    noisy = draw_training_reads(genome_set, np.zeros(n, dtype=np.int64), np.full(n, 100), PRESETS["demo"],
                                np.random.default_rng(9))
    text = contigs["one"][0]
    codes = np.frombuffer((text + "N" + revcomp(text)).encode(), dtype=np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(codes, 100)  # every window of either strand
    distances = np.array([(windows != BASE_ASCII[read][None, :]).sum(axis=1).min() for read in noisy])
    assert (distances == 0).sum() > n / 4  # many reads are clean ...
    assert (distances > 0).any() and distances.max() <= 10  # ... the others differ in a few bases


def test_reads_are_clipped_to_the_longest_clean_stretch(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    left, right = random_text(rng, 50), random_text(rng, 40)
    (tmp_path / "g.fna").write_text(f">g\n{left}NNNN{right}\n")
    genome_set = GenomeSet(load_genomes(tmp_path))
    reads = draw_training_reads(genome_set, np.zeros(3, dtype=np.int64), np.array([45, 50, 80]), EXACT, rng)
    assert [len(r) for r in reads] == [45, 50, 50]
    assert as_text(reads[2]) in (left, revcomp(left))
