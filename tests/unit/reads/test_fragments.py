"""Fragments and seeded subsamples (planktonlm.reads.fragments)."""

from __future__ import annotations

from pathlib import Path

import dnaio
import pytest

from planktonlm.reads.fragments import (
    Fragment,
    fragment_id,
    iter_fragments,
    reservoir_sample,
    sample_training_pool,
    select_fragments,
)
from planktonlm.seeding import derive_seed


def write_sample(folder: Path, name: str, n: int, paired: bool = True) -> tuple[Path, Path | None]:
    """n fragments named <name>_<i>/1 (and /2), sequences that tell the mate apart."""
    r1 = folder / f"{name}_R1.fastq.gz"
    r2 = folder / f"{name}_R2.fastq.gz" if paired else None
    writer = dnaio.open(r1, r2, mode="w") if paired else dnaio.open(r1, mode="w")
    with writer:
        for i in range(n):
            one = dnaio.SequenceRecord(f"{name}_{i}/1", "ACGT" * 5, "I" * 20)
            if paired:
                writer.write(one, dnaio.SequenceRecord(f"{name}_{i}/2", "TTGA" * 5, "I" * 20))
            else:
                writer.write(one)
    return r1, r2


def test_fragment_id_drops_only_a_mate_suffix() -> None:
    assert fragment_id("read7/1") == fragment_id("read7/2") == "read7"
    assert fragment_id("read7/3") == "read7/3" and fragment_id("read7") == "read7"


def test_fragments_of_paired_and_single_end_files(tmp_path: Path) -> None:
    r1, r2 = write_sample(tmp_path, "P", 3)
    assert list(iter_fragments(r1, r2)) == [Fragment(f"P_{i}", "ACGT" * 5, "TTGA" * 5) for i in range(3)]
    s1, _ = write_sample(tmp_path, "S", 2, paired=False)
    assert list(iter_fragments(s1, None)) == [Fragment("S_0", "ACGT" * 5, None), Fragment("S_1", "ACGT" * 5, None)]


def test_reservoir_sample_is_seeded_bounded_and_in_input_order() -> None:
    items = list(range(10_000))
    chosen = reservoir_sample(iter(items), 50, seed=7)
    assert len(chosen) == 50 and chosen == sorted(chosen) and len(set(chosen)) == 50
    assert reservoir_sample(iter(items), 50, seed=7) == chosen
    assert reservoir_sample(iter(items), 50, seed=8) != chosen
    assert reservoir_sample(iter(items[:30]), 50, seed=7) == items[:30]  # fewer items than the cap: all
    assert reservoir_sample(iter(items[:30]), 0, seed=7) == items[:30]  # cap 0 = keep everything
    with pytest.raises(ValueError, match="cap"):
        reservoir_sample(items, -1, seed=7)


def test_reservoir_sample_is_uniform_over_positions() -> None:
    """Late items are as likely to be chosen as early ones (Algorithm R, chunked draws)."""
    counts = [0, 0]
    for seed in range(200):
        for item in reservoir_sample(range(2000), 100, seed):
            counts[item >= 1000] += 1
    assert abs(counts[0] - counts[1]) < 0.1 * sum(counts)


def test_select_fragments_is_a_seeded_subsample(tmp_path: Path) -> None:
    r1, r2 = write_sample(tmp_path, "P", 40)
    chosen = select_fragments(r1, r2, 10, seed=3)
    assert len(chosen) == 10 and chosen == select_fragments(r1, r2, 10, seed=3)
    ids = [f.read_id for f in chosen]
    assert ids == sorted(ids, key=lambda i: int(i.split("_")[1]))  # file order
    assert len(select_fragments(r1, r2, 0, seed=3)) == 40


def test_training_pool_is_balanced_and_seeded_per_sample(tmp_path: Path) -> None:
    paths = {"B": write_sample(tmp_path, "B", 100), "A": write_sample(tmp_path, "A", 8, paired=False)}
    pool = sample_training_pool(paths, 20, seed=5)
    assert [f.sample for f in pool] == ["A"] * 8 + ["B"] * 20  # sorted samples, at most 20 each
    assert pool[0].seq2 is None and pool[-1].seq2 == "TTGA" * 5
    expected_b = select_fragments(*paths["B"], 20, derive_seed(5, "B"))
    assert [f.read_id for f in pool[8:]] == [f.read_id for f in expected_b]
