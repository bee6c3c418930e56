"""Simulated reads: error-free copies of the named fragment, errors at the rate the qualities state, proper pairs."""

from __future__ import annotations

import dataclasses
import gzip
import re
from collections.abc import Callable
from pathlib import Path

import dnaio
import numpy as np
import pandas as pd
import pytest

from planktonlm.simulate.design import TINY_GENOMES, CruiseDesign
from planktonlm.simulate.genomes import BASE_ASCII, load_genomes
from planktonlm.simulate.reads import READ_THROUGH_R1, READ_THROUGH_R2, format_fastq
from planktonlm.simulate.writer import simulate_cruise

ReadPairsOf = Callable[[Path], dict[str, tuple[dnaio.SequenceRecord, dnaio.SequenceRecord]]]
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


@pytest.fixture(scope="module")
def error_free_run(tiny: CruiseDesign, genomes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    design = dataclasses.replace(tiny, sequencing_errors=False, short_insert_fraction=0.2, reads_per_sample=100)
    return simulate_cruise(design, tmp_path_factory.mktemp("b") / "cruise", 3, genomes)


@pytest.fixture(scope="module")
def tiny_contigs(genomes: Path) -> dict[str, str]:
    """Every contig of the tiny preset's genomes, as text."""
    contigs = {}
    for genome in load_genomes(genomes, TINY_GENOMES):
        text = BASE_ASCII[genome.codes].tobytes().decode()
        for name, start, length in zip(genome.contig_names, genome.contig_starts, genome.contig_lengths):
            contigs[name] = text[start : start + length]
    return contigs


def expected_pair(origin: pd.Series, contigs: dict[str, str], length: int) -> tuple[str, str]:
    """What an error-free sequencer reads from the fragment named in read_origin.tsv.gz."""
    fragment = contigs[origin.contig][origin.start : origin.start + origin.insert_size]
    assert len(fragment) == origin.insert_size  # the fragment lies inside one contig
    top, bottom = (fragment, revcomp(fragment)) if origin.strand == "+" else (revcomp(fragment), fragment)
    r1 = (top + READ_THROUGH_R1 + "G" * length)[:length]
    r2 = (bottom + READ_THROUGH_R2 + "G" * length)[:length]
    return r1, r2


def test_reads_are_error_free_copies_of_the_named_fragment(tiny: CruiseDesign, error_free_run: Path, tiny_contigs: dict[str, str],
                                                           read_pairs: ReadPairsOf) -> None:
    origin = pd.read_csv(error_free_run / "truth" / "read_origin.tsv.gz", sep="\t").set_index("read_id")
    pairs = read_pairs(error_free_run)
    assert set(pairs) == set(origin.index)
    short = 0
    for read_id, (r1, r2) in pairs.items():
        row = origin.loc[read_id]
        assert row["contig"] in tiny_contigs and row["contig"].startswith(row["genome"].split("_TARA")[0][:12])
        want1, want2 = expected_pair(row, tiny_contigs, tiny.read_length)
        assert (r1.sequence, r2.sequence) == (want1, want2), read_id
        short += row["insert_size"] < tiny.read_length
    assert short > 0  # adapter read-through was exercised
    assert (origin["strand"] == "+").mean() == pytest.approx(0.5, abs=0.1)
    # The multi-contig MAG contributed reads from several contigs, none across a contig end.
    mag = origin[origin["genome"] == "alteromonas_macleodii_TARA_ASE_MAG_00031"]
    assert mag["contig"].nunique() > 5


def test_errors_follow_the_qualities(tiny: CruiseDesign, tiny_run: Path, tiny_contigs: dict[str, str],
                                     read_pairs: ReadPairsOf) -> None:
    origin = pd.read_csv(tiny_run / "truth" / "read_origin.tsv.gz", sep="\t").set_index("read_id")
    quality_of_base, wrong = [], []
    for read_id, (r1, r2) in read_pairs(tiny_run).items():
        want = expected_pair(origin.loc[read_id], tiny_contigs, tiny.read_length)
        for record, truth in zip((r1, r2), want):
            assert len(record.sequence) == len(record.qualities) == tiny.read_length
            seq = np.frombuffer(record.sequence.encode(), dtype=np.uint8)
            ref = np.frombuffer(truth.encode(), dtype=np.uint8)
            called = seq != ord("N")
            mismatch = (seq != ref) & called
            assert mismatch.sum() <= 12  # a read is a noisy copy of its fragment, not another sequence
            quality_of_base.append(np.frombuffer(record.qualities.encode(), dtype=np.uint8)[called] - 33)
            wrong.append(mismatch[called])
    quality, wrong = np.concatenate(quality_of_base).astype(float), np.concatenate(wrong)
    expected_errors = (10.0 ** (-quality / 10)).sum()
    assert wrong.sum() == pytest.approx(expected_errors, rel=0.2)
    assert wrong[quality < 20].mean() > 3 * wrong[quality >= 30].mean()


def test_fastq_records_are_proper_pairs(tiny_run: Path, read_pairs: ReadPairsOf) -> None:
    units = pd.read_csv(tiny_run / "units.tsv", sep="\t")
    with gzip.open(units["fq1"][0], "rt") as f1, gzip.open(units["fq2"][0], "rt") as f2:
        head1, head2 = f1.readline().rstrip("\n"), f2.readline().rstrip("\n")
    assert head1.endswith(" 1:N:0") and head2.endswith(" 2:N:0")
    assert head1.split()[0] == head2.split()[0]
    # A 3' quality fall-off: mean quality of the last 10 bases below that of the first 10.
    quals = np.array([[ord(c) - 33 for c in r1.qualities] for r1, _ in read_pairs(tiny_run).values()])
    assert quals[:, -10:].mean() < quals[:, :10].mean() - 5


def test_read_ids_reveal_nothing(tiny_run: Path) -> None:
    origin = pd.read_csv(tiny_run / "truth" / "read_origin.tsv.gz", sep="\t")
    words = {w.lower() for g in TINY_GENOMES for w in g.split("_") if len(w) > 3}
    for sample, ids in origin.groupby("sample")["read_id"]:
        assert ids.str.fullmatch(re.escape(sample) + r"\.\d+").all()
        assert not any(word in ids.str.lower().str.cat() for word in words)
    # Reads are not grouped by genome: consecutive reads switch genome about as often as chance.
    one = origin[origin["sample"] == origin["sample"].iloc[0]]
    switches = (one["genome"].to_numpy()[1:] != one["genome"].to_numpy()[:-1]).mean()
    share = one["genome"].value_counts(normalize=True)
    assert switches == pytest.approx(1 - (share**2).sum(), abs=0.15)


def test_format_fastq_writes_fixed_width_ids_and_phred33() -> None:
    bases = np.array([[0, 1, 2, 3, 4], [3, 3, 0, 0, 1]], dtype=np.uint8)
    quality = np.array([[30] * 5, [2, 10, 20, 40, 41]], dtype=np.uint8)
    text = format_fastq("S1", 9, 3, 2, bases, quality)
    assert text == b"@S1.009 2:N:0\nACGTN\n+\n?????\n@S1.010 2:N:0\nTTAAC\n+\n#+5IJ\n"
