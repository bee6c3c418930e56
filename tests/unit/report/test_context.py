"""planktonlm.report.context: inputs checked once, samples ordered, statistics tables normalised."""

from __future__ import annotations

import numpy as np
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.report import ReportInputs
from planktonlm.report.context import build_context, natural_key

from .synthetic import COMPACT, ENV, synthetic_inputs


def test_samples_are_ordered_by_time_station_depth_and_series_have_colours(context):
    times = context.samples.loc[context.order, "time"]
    assert len(context.order) == 30 and context.dated == context.order and times.is_monotonic_increasing
    assert context.series == [("ST01", 5.0), ("ST01", 50.0), ("ST02", 5.0), ("ST02", 50.0), ("ST03", 5.0),
                              ("ST03", 50.0)]
    assert context.label[("ST02", 50.0)] == "ST02 · 50 m"
    assert len(set(context.colour.values())) == 6  # station x depth each its own shade
    assert context.env_columns == ENV and context.temperature == "temperature_c"
    assert sorted(["S10", "S4", "S1"], key=natural_key) == ["S1", "S4", "S10"]


def test_views_use_one_cv_scheme_and_the_full_table_keeps_all(context):
    assert context.cv_scheme == "grouped"
    assert set(context.tables["cv_metrics"]["cv"]) == {"grouped"}
    assert set(context.tables["cv_metrics_all"]["cv"]) == {"grouped", "loo"}
    assert context.tables["cv_metrics"]["primary"].dtype == bool


def test_forward_selection_marks_global_and_selected_steps(context):
    forward = context.tables["dbrda_forward"]
    first = forward[(forward["profile"] == "embedding") & (forward["transformation"] == "braycurtis")]
    assert first["is_global"].tolist() == [True, False, False, False]
    assert first["is_selected"].tolist() == [False, True, True, False]


def test_older_tables_get_holm_and_a_fixed_primary_model():
    inputs = synthetic_inputs()
    old = inputs.dbrda_marginal.drop(columns=["p_holm", "q_bh", "p_min", "testable", "permutation"])
    cv = inputs.cv_metrics.drop(columns=["primary"])
    ctx = build_context(ReportInputs(samples=inputs.samples, dbrda_marginal=old, cv_metrics=cv), COMPACT)
    marginal = ctx.tables["dbrda_marginal"]
    temp = marginal[(marginal["profile"] == "embedding") & (marginal["transformation"] == "braycurtis")
                    & (marginal["variable"] == "temperature_c")]
    assert temp["p_holm"].iloc[0] == pytest.approx(0.003)  # 3 tests: 3 x 0.001
    primary = ctx.tables["cv_metrics"]
    chosen = primary[primary["primary"]]
    # the first transformation x model in a fixed order, not the best-scoring one
    assert set(zip(chosen["transformation"], chosen["model"])) == {("hellinger", "ridge"), ("environment", "ridge")}


def test_bad_tables_raise_one_input_error_naming_every_problem():
    inputs = synthetic_inputs()
    inputs.samples = inputs.samples.drop(columns=["datetime"])
    inputs.cv_metrics = inputs.cv_metrics.drop(columns=["r2_mean"])
    with pytest.raises(PlanktonlmInputError) as caught:
        build_context(inputs, COMPACT)
    columns = {(p.file, p.column) for p in caught.value.problems}
    assert ("samples", "datetime") in columns and ("cv_metrics", "r2_mean") in columns


def test_unparsable_date_raises_but_missing_ones_do_not():
    samples = synthetic_inputs().samples.copy()
    samples.iloc[0, samples.columns.get_loc("datetime")] = np.nan
    samples.iloc[1, samples.columns.get_loc("datetime")] = "NaT"
    samples.iloc[2, samples.columns.get_loc("datetime")] = "2021-13-45"
    with pytest.raises(PlanktonlmInputError, match="unparsable date") as caught:
        build_context(ReportInputs(samples=samples), COMPACT)
    assert [(p.row, p.value) for p in caught.value.problems] == [(3, "2021-13-45")]
    samples.iloc[2, samples.columns.get_loc("datetime")] = ""
    ctx = build_context(ReportInputs(samples=samples), COMPACT)
    # undated samples come last, by station and depth
    assert len(ctx.dated) == 27 and ctx.order[-3:] == ["ST01_5m_0", "ST01_50m_0", "ST02_5m_0"]
