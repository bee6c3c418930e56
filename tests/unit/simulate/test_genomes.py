"""Genomes: FASTA with gaps, IUPAC codes and several contigs; fragments never cross an N run or a contig end."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.simulate.design import CruiseDesign
from planktonlm.simulate.genomes import GenomeSet, load_genomes
from planktonlm.simulate.reads import simulate_read_pairs


def test_genomes_with_gaps_and_contigs(tiny: CruiseDesign, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def random_dna(n: int) -> str:
        return "".join(rng.choice(list("ACGT"), n))

    a = random_dna(900) + "N" * 200 + random_dna(900)
    b1, b2 = random_dna(700), random_dna(1200) + "RY" + random_dna(300)
    with gzip.open(tmp_path / "alpha.fna.gz", "wt") as handle:
        handle.write(f">a1 chromosome\n{a[:1000]}\n{a[1000:]}\n")
    (tmp_path / "beta.fasta").write_text(f">b1\n{b1}\n>b2 plasmid\n{b2.lower()}\n")
    genomes = load_genomes(tmp_path)
    assert [g.name for g in genomes] == ["alpha", "beta"]
    assert genomes[1].contig_names == ("b1", "b2") and genomes[1].length_bp == 700 + 1502
    genome_set = GenomeSet(genomes)
    design = dataclasses.replace(tiny, insert_mean=250, insert_sd=40, read_length=80)
    pairs = simulate_read_pairs(genome_set, np.array([0.5, 0.5]), 3000, design, np.random.default_rng(1))
    for start, insert in zip(pairs.start, pairs.insert):
        assert (genome_set.codes[start : start + insert] != 4).all()  # no gap, no contig join, no IUPAC
    assert set(np.unique(pairs.genome)) == {0, 1}
    with pytest.raises(PlanktonlmInputError, match="genome not found"):
        load_genomes(tmp_path, ["alpha", "gamma"])
