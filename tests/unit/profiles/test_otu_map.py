"""Tests for planktonlm.profiles.otu_map: OTU ids of one codebook matched to another's."""

from __future__ import annotations

import numpy as np
import pytest

from planktonlm.profiles.otu_map import map_otus_by_centres, map_otus_by_reads
from planktonlm.profiles.tables import otu_column_names

OLD_IDS = otu_column_names(6, "eotu_")


def test_map_by_centres_recovers_a_permutation() -> None:
    rng = np.random.default_rng(0)
    old = rng.normal(size=(6, 16))
    permutation = np.array([3, 0, 5, 1, 4, 2])  # new OTU j is old OTU permutation[j]
    new = old[permutation] * 1.7 + rng.normal(scale=0.05, size=(6, 16))  # scale does not matter to the cosine
    new_ids = otu_column_names(6, "new_")
    table = map_otus_by_centres(old, new, OLD_IDS, new_ids)
    expected = {OLD_IDS[permutation[j]]: new_ids[j] for j in range(6)}
    assert table["new_otu"].tolist() == [expected[o] for o in OLD_IDS]
    assert (table["nearest_new_otu"] == table["new_otu"]).all()
    assert (table["cosine_similarity"] > 0.99).all()


def test_map_by_centres_leaves_extra_old_otus_unmatched() -> None:
    rng = np.random.default_rng(1)
    old = rng.normal(size=(6, 8))
    table = map_otus_by_centres(old, old[:4], OLD_IDS, OLD_IDS[:4])
    assert table["new_otu"].tolist() == [*OLD_IDS[:4], "", ""]
    assert table["cosine_similarity"].iloc[:4].tolist() == pytest.approx([1.0] * 4)
    assert table["cosine_similarity"].iloc[4:].isna().all() and (table["nearest_new_otu"] != "").all()
    with pytest.raises(ValueError, match="different vector spaces"):
        map_otus_by_centres(old, rng.normal(size=(6, 9)), OLD_IDS, OLD_IDS)


def test_map_by_reads_matches_otus_that_share_fragments() -> None:
    rng = np.random.default_rng(2)
    old_labels = rng.integers(0, 5, size=2000)  # old OTU 5 receives no fragment
    permutation = np.array([2, 0, 1, 4, 3, 5])
    new_labels = permutation[old_labels]
    moved = rng.random(2000) < 0.1  # a tenth of the fragments land elsewhere
    new_labels[moved] = rng.integers(0, 6, size=int(moved.sum()))
    new_ids = otu_column_names(6, "new_")
    table = map_otus_by_reads(old_labels, new_labels, OLD_IDS, new_ids)
    assert table["new_otu"].tolist()[:5] == [new_ids[permutation[i]] for i in range(5)]
    assert table["n_fragments"].tolist()[:5] == np.bincount(old_labels, minlength=6).tolist()[:5]
    assert (table["share"].iloc[:5] > 0.85).all()
    assert table.iloc[5][["new_otu", "n_fragments", "nearest_new_otu"]].tolist() == ["", 0, ""]
    assert np.isnan(table["share"].iloc[5])
    with pytest.raises(ValueError, match="two labels per fragment"):
        map_otus_by_reads(old_labels, new_labels[:-1], OLD_IDS, new_ids)
    with pytest.raises(ValueError, match="labels must lie in"):
        map_otus_by_reads(old_labels, new_labels, OLD_IDS[:3], new_ids)
