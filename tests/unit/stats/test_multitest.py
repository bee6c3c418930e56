"""Tests of planktonlm.stats.multitest: Holm within families, Benjamini-Hochberg across tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from planktonlm.stats.multitest import adjust, bh_across, family_rows, holm_table, holm_within

P = np.array([0.01, 0.04, 0.03, 0.2, 0.005, 0.5])


def test_adjust_matches_statsmodels_and_hand_computation():
    assert np.allclose(adjust(P, "holm"), multipletests(P, method="holm")[1])
    assert np.allclose(adjust(P, "fdr_bh"), multipletests(P, method="fdr_bh")[1])
    # Holm by hand: sorted 0.005 0.01 0.03 0.04 0.2 0.5 times 6 5 4 3 2 1, running maximum, capped at 1.
    assert np.allclose(adjust(P, "holm"), [0.05, 0.12, 0.12, 0.4, 0.03, 0.5])
    # BH by hand: p x 6 / rank (0.03 0.03 0.06 0.06 0.24 0.5 in sorted order), running minimum from the top.
    assert np.allclose(adjust(P, "fdr_bh"), [0.03, 0.06, 0.06, 0.24, 0.03, 0.5])


def test_missing_p_values_stay_missing_and_do_not_count():
    with_nan = np.array([0.01, np.nan, 0.04, 0.03, np.nan, 0.2, 0.005, 0.5])
    out = adjust(with_nan, "holm")
    assert np.isnan(out[[1, 4]]).all()
    assert np.allclose(out[~np.isnan(with_nan)], multipletests(P, method="holm")[1])  # 6 tests, not 8
    assert np.isnan(adjust([np.nan, np.nan], "fdr_bh")).all()
    assert adjust([], "holm").shape == (0,)


def test_holm_within_adjusts_each_family_separately():
    table = pd.DataFrame({
        "profile": ["a", "a", "a", "b", "b", "b", "b"],
        "distance": ["bc", "bc", "bc", "bc", "bc", "ait", "ait"],
        "p_value": [0.01, 0.04, np.nan, 0.02, 0.03, 0.01, 0.5],
    }, index=[10, 11, 12, 13, 14, 15, 16])
    out = holm_within(table, ["profile", "distance"])
    assert out.name == "p_holm" and out.index.equals(table.index)
    assert np.allclose(out.loc[[10, 11]], multipletests([0.01, 0.04], method="holm")[1])
    assert np.isnan(out.loc[12])
    assert np.allclose(out.loc[[13, 14]], multipletests([0.02, 0.03], method="holm")[1])
    assert np.allclose(out.loc[[15, 16]], multipletests([0.01, 0.5], method="holm")[1])
    # One family for all: a different (larger) adjustment.
    pooled = holm_within(table, ["distance"])
    assert np.allclose(pooled.loc[[10, 11, 13, 14]], multipletests([0.01, 0.04, 0.02, 0.03], method="holm")[1])
    assert holm_within(table.iloc[:0], ["profile"]).empty
    renamed = holm_within(table.rename(columns={"p_value": "p"}), ["profile"], p_column="p")
    assert np.allclose(renamed.loc[[10, 11]], multipletests([0.01, 0.04], method="holm")[1])


def test_bh_across_pools_every_table():
    first = pd.DataFrame({"p_value": [0.01, 0.04, np.nan]}, index=["x", "y", "z"])
    second = pd.DataFrame({"p_value": [0.03, 0.2, 0.005, 0.5]}, index=[5, 6, 7, 8])
    no_p = pd.DataFrame({"r2": [0.1]})
    out = bh_across({"dbrda": first, "cv": second, "varpart": no_p})
    assert set(out) == {"dbrda", "cv"}  # a table without p-values gets no q-values
    expected = multipletests([0.01, 0.04, 0.03, 0.2, 0.005, 0.5], method="fdr_bh")[1]
    assert out["dbrda"].name == "q_bh" and out["dbrda"].index.equals(first.index)
    assert np.allclose(out["dbrda"].iloc[:2], expected[:2]) and np.isnan(out["dbrda"].iloc[2])
    assert out["cv"].index.equals(second.index)
    assert np.allclose(out["cv"], expected[2:])
    # Pooling matters: the first table alone gets smaller q-values.
    alone = bh_across({"dbrda": first})["dbrda"]
    assert np.all(alone.iloc[:2].to_numpy() < out["dbrda"].iloc[:2].to_numpy())
    assert alone.iloc[:2].tolist() == pytest.approx(list(multipletests([0.01, 0.04], method="fdr_bh")[1]))


def test_holm_table_adjusts_only_the_tests_of_each_family():
    varpart = pd.DataFrame({"profile": "p", "transformation": "bc", "kind": ["unique", "unique", "shared", "group"],
                            "p_value": [0.01, 0.04, np.nan, 0.001]})
    # whole-group rows overlap the fractions: only the two unique fractions form the family
    assert holm_table("varpart", varpart).round(12).tolist()[:2] == [0.02, 0.04]
    assert holm_table("varpart", varpart).iloc[2:].isna().all()
    marginal = pd.DataFrame({"profile": "p", "transformation": ["a", "a", "a", "b"], "p_value": [0.01, 0.02, np.nan, 0.03],
                             "testable": [True, True, False, True]})
    assert holm_table("dbrda_marginal", marginal).tolist()[:2] == pytest.approx([0.02, 0.02])
    assert np.isnan(holm_table("dbrda_marginal", marginal).iloc[2]) and holm_table("dbrda_marginal", marginal).iloc[3] == 0.03
    cv = pd.DataFrame({"profile": "p", "model": "ridge", "cv": "grouped", "p_perm": [0.01, 0.02]})
    assert family_rows("cv_metrics", cv)["p_value"].tolist() == [0.01, 0.02]
