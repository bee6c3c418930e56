"""Tests for planktonlm.profiles.novelty: distance quantiles, the threshold, and novelty of reads beyond an atlas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.profiles.novelty import (
    DISTANCE_QUANTILES,
    distance_quantiles,
    novelty_table,
    novelty_threshold,
    read_distance_quantiles,
    write_distance_quantiles,
)

from .synthetic import cluster_centres, run_profile, write_vectors


def test_distance_quantiles_pool_every_sample_and_round_trip(tmp_path: Path) -> None:
    parts = [np.linspace(0, 1, 101, dtype=np.float32)[:60], np.linspace(0, 1, 101, dtype=np.float32)[60:], np.zeros(0, np.float32)]
    table = distance_quantiles(parts)
    assert table["quantile"].tolist() == list(DISTANCE_QUANTILES) and table["n_fragments"].tolist() == [101] * 5
    np.testing.assert_allclose(table["distance"], np.quantile(np.linspace(0, 1, 101), DISTANCE_QUANTILES), rtol=1e-6)
    write_distance_quantiles(table, tmp_path / "distances.tsv")
    assert (tmp_path / "distances.tsv").read_text().splitlines()[0] == "quantile\tdistance\tn_fragments"
    pd.testing.assert_frame_equal(read_distance_quantiles(tmp_path / "distances.tsv"), table)  # bit for bit


def test_threshold_is_the_reference_99th_percentile_else_the_runs_own() -> None:
    own = distance_quantiles([np.arange(1000, dtype=np.float32)])
    reference = distance_quantiles([np.arange(100, dtype=np.float32)])
    assert novelty_threshold(own) == pytest.approx(989.01)
    assert novelty_threshold(own, reference) == pytest.approx(98.01)
    assert np.isnan(novelty_threshold(distance_quantiles([np.zeros(0, np.float32)])))
    with pytest.raises(PlanktonlmInputError, match="no distance at quantile 0.99"):
        novelty_threshold(own, distance_quantiles([]), reference_file="atlas/kmer/distances.tsv")


def test_novelty_table_counts_fragments_beyond_the_threshold() -> None:
    table = novelty_table({"B": np.array([0.1, 0.5, 0.9], np.float32), "A": np.zeros(0, np.float32)}, 0.5)
    assert table.columns.tolist() == ["sample", "n_fragments", "n_novel", "novelty", "threshold"]
    assert table["sample"].tolist() == ["B", "A"]  # given order
    assert table["n_novel"].tolist() == [1, 0] and table["novelty"].iloc[0] == pytest.approx(1 / 3)
    assert np.isnan(table["novelty"].iloc[1])  # no fragment: no novelty, not an error


def test_reads_beyond_the_atlas_are_novel_and_its_own_reads_one_percent(tmp_path: Path) -> None:
    centres = cluster_centres(dim=8, n=4, seed=0)
    atlas_paths = write_vectors(tmp_path / "atlas_vectors", {"A1": 300, "A2": 250, "A3": 200}, centres, seed=1)
    atlas = run_profile(tmp_path / "atlas", atlas_paths)
    own = pd.read_csv(atlas["novelty"], sep="\t")
    assert own["n_novel"].sum() / own["n_fragments"].sum() == pytest.approx(0.01, abs=0.003)

    # a new cruise: one sample like the atlas's, one from a community the atlas never saw, one empty
    shifted = np.random.default_rng(9).normal(size=(2, 8)) * 1.5
    new_paths = {**write_vectors(tmp_path / "new", {"like": 400}, centres, seed=2),
                 **write_vectors(tmp_path / "new", {"shifted": 200}, shifted, seed=3),
                 **write_vectors(tmp_path / "new", {"empty": 0}, centres, seed=4)}
    new = run_profile(tmp_path / "new_run", new_paths, codebook=atlas["codebook"], reference=atlas["distances"])
    novelty = pd.read_csv(new["novelty"], sep="\t", index_col="sample")
    atlas_threshold = read_distance_quantiles(atlas["distances"]).set_index("quantile").loc[0.99, "distance"]
    assert (novelty["threshold"] == atlas_threshold).all()
    assert novelty.loc["like", "novelty"] < 0.04
    assert novelty.loc["shifted", "novelty"] > 0.5
    assert novelty.loc["empty", "n_fragments"] == 0 and np.isnan(novelty.loc["empty", "novelty"])
    assert "empty\t0\t0\t\t" in Path(new["novelty"]).read_text()  # NaN written empty
