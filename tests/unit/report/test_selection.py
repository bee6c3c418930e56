"""planktonlm.report.selection: primary profile, metric and model; forward steps; shared columns."""

from __future__ import annotations

from planktonlm.report.format import ENV_FROM_COMMUNITY
from planktonlm.report.selection import (
    combos,
    forward,
    metric_order,
    primary_combo,
    primary_cv,
    profiles_available,
    schemes,
    targets,
)

from .synthetic import SCHEME, TEMP_R2_MEAN


def test_primary_profile_and_metric_come_first(context):
    assert profiles_available(context, ["kmer", "zeta", "embedding"]) == ["embedding", "kmer", "zeta"]
    assert metric_order(context, ["hellinger", "braycurtis", "abc"]) == ["braycurtis", "hellinger", "abc"]
    assert targets(context, ["ph", "zzz", "temperature_c"]) == ["temperature_c", "ph", "zzz"]
    assert combos(context, context.tables["dbrda_marginal"])[:2] == [("embedding", "braycurtis"),
                                                                      ("embedding", "hellinger")]


def test_primary_model_is_the_configured_one_not_the_best(context):
    assert primary_combo(context, "embedding", ENV_FROM_COMMUNITY) == ("hellinger", "ridge")
    rows = primary_cv(context, ENV_FROM_COMMUNITY)
    temp = rows[(rows["profile"] == "embedding") & (rows["target"] == "temperature_c")]
    assert temp["r2_mean"].tolist() == [TEMP_R2_MEAN]


def test_forward_selection_steps_global_model_and_stop_reason(context):
    steps, whole, stop = forward(context, ("embedding", "braycurtis"))
    assert steps["variable"].tolist() == ["temperature_c", "oxygen_umol_kg"]
    assert whole["variable"] == "<all>" and stop == "the next variable is not significant"
    assert schemes(context.tables["dbrda_marginal"]) == f"Permutations: {SCHEME} (999 permutations)."
