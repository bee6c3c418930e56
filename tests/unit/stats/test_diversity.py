"""Tests of planktonlm.stats.diversity: rarefaction and alpha diversity."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.stats.diversity import alpha_diversity, diversity_indices, rarefy

# --------------------------------------------------------------------------------------------
# rarefaction


def test_rarefy_preserves_depth_and_never_exceeds_counts(count_table):
    counts = count_table()
    result = rarefy(counts, depth=50, seed=1)
    assert result.depth == 50
    assert (result.counts.sum(axis=1) == 50).all()
    kept = counts.loc[result.counts.index]
    assert (result.counts.to_numpy() <= kept.to_numpy()).all()
    assert result.counts.columns.equals(counts.columns)


def test_rarefy_is_seeded_and_keyed_by_sample(count_table):
    counts = count_table(seed=2)
    a = rarefy(counts, 40, seed=7).counts
    assert a.equals(rarefy(counts, 40, seed=7).counts)
    assert not a.equals(rarefy(counts, 40, seed=8).counts)
    # a sample's draw does not depend on the other samples in the table
    assert rarefy(counts.iloc[[3]], 40, seed=7).counts.equals(a.loc[[counts.index[3]]])


def test_rarefy_default_depth_and_samples_below_depth():
    counts = pd.DataFrame([[10, 10, 0], [3, 2, 0], [0, 0, 0], [7, 1, 4]], index=["a", "b", "empty", "c"])
    result = rarefy(counts, seed=0)
    assert result.depth == 5  # smallest positive total
    assert result.below_depth == ("empty",)
    assert result.counts.loc["b"].tolist() == [3, 2, 0]  # rarefying to its own total changes nothing
    deeper = rarefy(counts, depth=12, seed=0)
    assert deeper.below_depth == ("b", "empty") and deeper.counts.index.tolist() == ["a", "c"]


def test_rarefy_refuses_non_integer_and_negative_counts():
    counts = pd.DataFrame([[1.5, 2], [-1, 3]], index=["a", "b"], columns=["x", "y"])
    with pytest.raises(PlanktonlmInputError) as err:
        rarefy(counts, 2, seed=0)
    assert "2 problems" in str(err.value) and "column 'x'" in str(err.value)


# --------------------------------------------------------------------------------------------
# alpha diversity


def test_alpha_diversity_on_hand_computable_tables():
    counts = pd.DataFrame(
        [[5, 5, 5, 5], [20, 0, 0, 0], [10, 5, 5, 0], [1, 0, 0, 0]],
        index=pd.Index(["even", "single", "skewed", "tiny"], name="sample"),
    )
    alpha = alpha_diversity(counts, depth=20, seed=0)
    assert alpha.index.tolist() == ["even", "single", "skewed", "tiny"]
    assert alpha.loc["even", "richness"] == 4
    assert alpha.loc["even", "shannon"] == pytest.approx(math.log(4))
    assert alpha.loc["even", "simpson"] == pytest.approx(0.75)
    assert alpha.loc["single", ["richness", "shannon", "simpson"]].tolist() == [1, 0, 0]
    assert alpha.loc["skewed", "shannon"] == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert alpha.loc["skewed", "simpson"] == pytest.approx(1 - (0.25 + 2 * 0.0625))
    assert alpha["depth"].tolist() == [20] * 4
    assert alpha["total_count"].tolist() == [20, 20, 20, 1]
    assert alpha["rarefied"].tolist() == [True, True, True, False]
    assert alpha.loc["tiny", ["richness", "shannon", "simpson"]].isna().all()


def test_alpha_diversity_is_computed_after_rarefaction():
    counts = pd.DataFrame([[1000, 1, 1, 1, 1], [4, 0, 0, 0, 0]], index=["deep", "shallow"])
    alpha = alpha_diversity(counts, seed=3)  # depth 4: the rare features of "deep" mostly vanish
    assert alpha.loc["deep", "depth"] == 4
    assert alpha.loc["deep", "richness"] < 5


def test_diversity_indices_of_an_empty_sample_are_missing():
    counts = pd.DataFrame([[2, 2, 0], [0, 0, 0]], index=["two", "empty"])
    indices = diversity_indices(counts)
    assert indices.loc["two"].tolist() == [2.0, pytest.approx(math.log(2)), 0.5]
    assert indices.loc["empty", "richness"] == 0 and indices.loc["empty", ["shannon", "simpson"]].isna().all()
