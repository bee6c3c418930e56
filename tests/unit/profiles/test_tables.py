"""Tests for planktonlm.profiles.tables: OTU names, count tables, the byte-stable writer and its reader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from planktonlm.profiles.tables import build_profile_table, count_profile, otu_column_names, read_profile, write_profile


def test_otu_names_and_counts():
    assert otu_column_names(3, "eotu_") == ["eotu_0001", "eotu_0002", "eotu_0003"]
    assert otu_column_names(12000, "kotu_")[-1] == "kotu_12000"
    assert count_profile([0, 2, 2, 2], 4).tolist() == [1, 0, 3, 0]
    with pytest.raises(ValueError):
        count_profile([0, 4], 4)
    table = build_profile_table({"s2": np.array([1, 1]), "s1": np.array([0])}, 2, "eotu_")
    assert table.index.tolist() == ["s2", "s1"] and table.index.name == "sample"
    assert table.to_numpy().tolist() == [[0, 2], [1, 0]] and (table.dtypes == np.int64).all()


def test_write_profile_round_trip_and_stable_bytes(tmp_path):
    df = pd.DataFrame(
        {"eotu_0001": [1, 0], "eotu_0002": [5, 7]}, index=pd.Index(["007", "s-2"], name="sample")
    ).astype(np.int64)
    write_profile(df, tmp_path / "a.tsv", tmp_path / "a.parquet")
    write_profile(df, tmp_path / "b.tsv", tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert (tmp_path / "a.tsv").read_text().splitlines()[0] == "sample\teotu_0001\teotu_0002"
    assert pq.read_table(tmp_path / "a.parquet").column_names[0] == "sample"
    for name in ("a.tsv", "a.parquet"):
        back = read_profile(tmp_path / name)
        pd.testing.assert_frame_equal(back, df, check_index_type=False, check_column_type=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "a.tsv", "b.parquet", "b.tsv"]
