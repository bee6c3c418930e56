"""planktonlm.stats dbRDA and variation partitioning against R vegan 2.6-4 reference values.

The fixtures in tests/reference/fixtures were made by tests/reference/vegan_reference.R (see the
README there). R2, adjusted R2 and F must agree to 1e-6 (relative); p-values exactly where vegan
enumerated every arrangement (restricted cruise designs, 287 / 575 permutations), else within
Monte-Carlo error (Python runs 9999 random permutations).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planktonlm.stats.dbrda import DbRDA
from planktonlm.stats.permutations import RestrictedPermutation, SamplingDesign
from planktonlm.stats.transforms import community_distance
from planktonlm.stats.varpart import partition_variation

FIX = Path(__file__).resolve().parents[2] / "reference" / "fixtures"
N_PERM = 9999
SEED = 1
VARS = {"varespec": ["N", "P", "K", "Ca", "pH", "Al", "Humdepth"],
        "cruise": ["temperature_c", "ph", "salinity_psu", "noise_index"]}
GROUPS = {"varespec": {"nutrients": ["N", "P", "K"], "base": ["Ca", "pH"], "aluminium": ["Al", "Humdepth"]},
          "cruise": {"temperature": ["temperature_c"], "chemistry": ["ph", "salinity_psu"]}}
# (dataset, vegan scheme) -> (planktonlm scheme, mirror)
SCHEMES = {("varespec", "free"): ("free", False), ("cruise", "series"): ("series", False),
           ("cruise", "series_mirror"): ("series", True), ("cruise", "free"): ("free", False)}
CASES = list(SCHEMES)


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / name, sep="\t", dtype={"sample": str, "site": str})


@functools.cache
def data(ds: str) -> tuple[pd.DataFrame, pd.DataFrame, SamplingDesign | None]:
    """Community table, environment and design (None for varespec)."""
    if ds == "varespec":
        return read("varespec.tsv").set_index("site"), read("varechem.tsv").set_index("site"), None
    samples = read("cruise_samples.tsv")
    counts = read("cruise_counts.tsv").set_index("sample")
    assert counts.index.tolist() == samples["sample"].tolist()
    return counts, samples.set_index("sample"), SamplingDesign.from_frame(samples)


@functools.cache
def distances(ds: str) -> np.ndarray:
    return community_distance(data(ds)[0], "braycurtis").to_numpy()


@functools.cache
def schemes() -> pd.DataFrame:
    return read("permutation_schemes.tsv").set_index(["dataset", "scheme"])


@functools.cache
def fitted(ds: str, scheme: str) -> DbRDA:
    _, env, design = data(ds)
    ours, mirror = SCHEMES[ds, scheme]
    model = DbRDA(metric="precomputed", n_permutations=N_PERM, alpha=0.05, permutation=ours, mirror=mirror,
                  random_state=SEED)
    return model.fit(distances(ds), env[VARS[ds]].reset_index(drop=True), design=design)


@functools.cache
def partitioned(ds: str, scheme: str) -> pd.DataFrame:
    _, env, design = data(ds)
    ours, mirror = SCHEMES[ds, scheme]
    tables = {g: env[cols].reset_index(drop=True) for g, cols in GROUPS[ds].items()}
    return partition_variation(distances(ds), tables, n_permutations=N_PERM, seed=SEED, design=design,
                               permutation=ours, mirror=mirror)


def reference(ds: str, table: str, scheme: str) -> pd.DataFrame:
    ref = read(f"{ds}_{table}.tsv")
    return ref[ref["scheme"] == scheme]


def close(ours: float, ref: float, what: str) -> None:
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-12), f"{what}: ours {ours!r}, vegan {ref!r}"


def check_p(ours: float, ref: float, n_ref: int, ds: str, scheme: str, what: str) -> None:
    if schemes().loc[(ds, scheme), "complete"]:
        # Both enumerate the same arrangements: p = (1 + #{F* >= F}) / (1 + n) must be identical.
        assert ours == pytest.approx(ref, rel=1e-12), f"{what}: exact p ours {ours}, vegan {ref} (n={n_ref})"
    else:
        tol = 3 * math.sqrt(ref * (1 - ref) * (1 / n_ref + 1 / N_PERM)) + 1 / n_ref + 1 / N_PERM
        assert abs(ours - ref) <= tol, f"{what}: p ours {ours}, vegan {ref} (n={n_ref}), tolerance {tol:.4g}"


@pytest.mark.parametrize("ds", ["varespec", "cruise"])
def test_bray_curtis_matches_vegdist(ds):
    ref = read(f"{ds}_bray.tsv").set_index("sample")
    ours = community_distance(data(ds)[0], "braycurtis")
    assert ours.index.astype(str).tolist() == ref.index.tolist()
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mirror, scheme", [(False, "series"), (True, "series_mirror")])
def test_restricted_designs_enumerate_like_permute(mirror, scheme):
    ref = schemes().loc[("cruise", scheme)]
    perm = RestrictedPermutation(data("cruise")[2], "series", mirror=mirror)
    assert perm.n_distinct == ref["n_arrangements"]
    drawn = perm.draw(N_PERM, SEED)
    assert len(drawn) == ref["n_perm"] == ref["n_arrangements"] - 1
    assert len(np.unique(drawn, axis=0)) == len(drawn)
    assert not np.any(np.all(drawn == np.arange(drawn.shape[1]), axis=1))
    # every arrangement keeps stations whole and shifts every series by the same lag
    station = np.repeat(np.arange(4), 12)
    assert np.all(np.ptp(station[drawn].reshape(len(drawn), 4, 12), axis=2) == 0)


@pytest.mark.parametrize("ds, scheme", CASES)
def test_global_model(ds, scheme):
    model, ref = fitted(ds, scheme), reference(ds, "global", scheme).iloc[0]
    close(model.r2_, ref["r2"], "r2")
    close(model.r2_adj_, ref["r2_adj"], "r2_adj")
    close(model.F_, ref["F"], "F")
    close(model.total_variation_, ref["ss_total"], "total variation")
    if schemes().loc[(ds, scheme), "complete"]:
        assert model.n_permutations_ == ref["n_perm"]
    check_p(model.p_value_, ref["p_value"], ref["n_perm"], ds, scheme, "global p")


@pytest.mark.parametrize("table", ["marginal", "conditional"])
@pytest.mark.parametrize("ds, scheme", CASES)
def test_marginal_and_conditional_tests(ds, scheme, table):
    model = fitted(ds, scheme)
    ours = getattr(model, f"{table}_").set_index("variable")
    ref = reference(ds, table, scheme)
    if table == "conditional":
        # planktonlm permutes residuals of the reduced model (Freedman-Lane), as vegan's
        # dbrda(D ~ x + Condition(others)); anova(by = "margin") permutes raw data instead.
        ref = ref[ref["method"] == "condition"]
    assert sorted(ours.index) == sorted(ref["variable"])
    for _, row in ref.iterrows():
        mine = ours.loc[row["variable"]]
        for col in ("r2", "r2_adj", "F"):
            close(mine[col], row[col], f"{table} {row['variable']} {col}")
        assert (mine["df_num"], mine["df_den"]) == (row["df_num"], row["df_den"])
        check_p(mine["p_value"], row["p_value"], row["n_perm"], ds, scheme, f"{table} {row['variable']} p")


@pytest.mark.parametrize("ds, scheme", CASES)
def test_forward_selection(ds, scheme):
    model = fitted(ds, scheme)
    ref = reference(ds, "forward", scheme)
    chosen = ref[ref["selected"]]
    assert model.selected_variables_ == chosen["variable"].tolist()
    steps = model.forward_[model.forward_["step"] > 0].set_index("step")
    for _, row in ref.iterrows():
        mine = steps.loc[row["step"]]
        assert mine["variable"] == row["variable"] and bool(mine["selected"]) == bool(row["selected"])
        close(mine["r2_adj"], row["r2_adj"], f"forward step {row['step']} r2_adj")
        close(mine["F"], row["F"], f"forward step {row['step']} F")
        if row["selected"] or row["stop_reason"] == "r2_adj above global model":
            check_p(mine["p_value"], row["p_value"], row["n_perm"], ds, scheme, f"forward {row['variable']} p")
    stop = ref[~ref["selected"]]["stop_reason"].tolist()
    if stop == ["r2_adj above global model"]:
        assert steps.loc[len(chosen) + 1, "stop_reason"] == "r2_adj above global model"
    close(model.forward_.set_index("step").loc[0, "r2_adj"], ref["r2_adj_all"].iloc[0], "forward r2_adj_all")


@pytest.mark.parametrize("ds, scheme", CASES)
def test_variation_partitioning(ds, scheme):
    ours = partitioned(ds, scheme)
    ref = read(f"{ds}_varpart.tsv").fillna({"members": ""})
    tests = reference(ds, "varpart_tests", scheme).set_index("fraction")
    compared = 0
    for _, row in ours.iterrows():
        kind, groups = row["kind"], row["groups"]
        # unique/group: members = the group; shared: groups joined by "&" in table order
        match = ref[ref["kind"] == "all"] if kind == "all" else ref[(ref["kind"] == kind) & (ref["members"] == groups)]
        assert len(match) == 1, f"no vegan fraction for {row['fraction']} ({kind})"
        close(row["r2"], match["r2_computed"].iloc[0], f"varpart {row['fraction']} r2")
        close(row["r2_adj"], match["r2_adj"].iloc[0], f"varpart {row['fraction']} r2_adj")
        key = {"unique": f"unique:{groups}", "group": groups, "all": "all"}.get(kind)
        if key is not None:
            t = tests.loc[key]
            close(row["F"], t["F"], f"varpart {key} F")
            assert (row["df_num"], row["df_den"]) == (t["df_num"], t["df_den"])
            check_p(row["p_value"], t["p_value"], t["n_perm"], ds, scheme, f"varpart {key} p")
        compared += 1
    n_groups = len(GROUPS[ds])
    assert compared == 2**n_groups - 1 + 1 + n_groups + 1  # fractions, residual, groups, all
