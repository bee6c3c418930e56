"""Tests of planktonlm.stats.ecology: the ecology stage's config and tables of one profile."""

from __future__ import annotations

import numpy as np
import pytest

from planktonlm.config import build_config
from planktonlm.errors import PlanktonlmInputError
from planktonlm.stats.ecology import ECOLOGY_TABLES, EcologyConfig, ecology_tables
from planktonlm.stats.transforms import community_distance
from planktonlm.stats.turnover import distance_decay_time, turnover_consecutive


def test_ecology_config_from_section():
    config = build_config(EcologyConfig, "ecology", {"rarefy_depth": 0, "metrics": ["hellinger"], "n_pcoa_axes": 5})
    assert config.metrics == ("hellinger",) and config.clr_pseudocount == 0.5  # the schema's default
    with pytest.raises(PlanktonlmInputError, match="jaccard"):
        build_config(EcologyConfig, "ecology", metrics=["jaccard"])
    with pytest.raises(TypeError):
        EcologyConfig(metrics=("hellinger",))  # no defaults in the dataclass: they live in the schema


def test_ecology_tables_of_one_profile(drifting_series):
    counts, meta = drifting_series()
    cfg = build_config(EcologyConfig, "ecology", metrics=["braycurtis", "aitchison"], n_pcoa_axes=3)
    tables = ecology_tables(counts, meta, cfg, seed=1)
    assert tuple(tables) == ECOLOGY_TABLES
    n = len(counts)
    assert tables["alpha"]["sample"].tolist() == counts.index.tolist()
    assert len(tables["distances"]) == 2 * n * n and tables["distances"].columns[:3].tolist() == ["metric", "sample_a", "sample_b"]
    assert tables["pcoa"].columns.tolist() == ["metric", "sample", "PCo1", "PCo2", "PCo3"]
    assert tables["pcoa_axes"].groupby("metric").size().to_dict() == {"aitchison": 3, "braycurtis": 3}
    bray = community_distance(counts, "braycurtis")
    turnover = tables["turnover"].query("metric == 'braycurtis'").drop(columns="metric").reset_index(drop=True)
    assert turnover.equals(turnover_consecutive(bray, meta))
    decay = tables["distance_decay"].set_index("metric").loc["braycurtis"]
    assert decay["slope_per_year"] == distance_decay_time(bray, meta).slope_per_year and decay["n_pairs"] == 90
    again = ecology_tables(counts, meta, cfg, seed=1)
    assert all(again[name].equals(tables[name]) for name in ECOLOGY_TABLES)
    assert np.isfinite(tables["alpha"]["shannon"]).all()
