"""Section "timeseries": trends per series, time-lag analysis, anomalies and lags."""

from __future__ import annotations

from planktonlm.report import NO_SERIES, ReportInputs
from planktonlm.report.sections.timeseries import build_timeseries, lagged_label

from ..blocks import rows, table_with, texts
from ..synthetic import SEN_SLOPE, synthetic_inputs


def test_tested_trends_and_why_others_were_not(build):
    section = build(build_timeseries)
    trends = rows(table_with(section, "Sen's slope per year"))
    assert len(trends) == 6 and {r[7] for r in trends} == {f"{SEN_SLOPE:.3f}"} and {r[9] for r in trends} == {"0.008 *"}
    captions = texts(section, "caption")
    assert captions[0].startswith("6 series tested; 6 with a significant monotonic trend")
    assert captions[1] == "2 series were not applicable for the test: shorter than two years (2)."
    assert rows(table_with(section, "Recurrence"))[0][2] == "0.0123"
    assert texts(section, "h3")[-2:] == ["dbRDA on de-seasoned anomalies", "dbRDA with lagged environment"]
    assert lagged_label("temperature_c_lag2") == "Temperature (°C), lag 2"


def test_empty_tables_say_the_data_have_no_dated_series(build):
    inputs = synthetic_inputs()
    empty = {n: getattr(inputs, n).iloc[:0] for n in ("trends", "time_lag", "dbrda_anomalies", "dbrda_lagged")}
    (note,) = texts(build(build_timeseries, ReportInputs(samples=inputs.samples, **empty)), "missing")
    assert note.startswith(f"{NO_SERIES}: no trend")
