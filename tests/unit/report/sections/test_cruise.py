"""Sections "cruise", "environment" and "read-accounting"."""

from __future__ import annotations

from planktonlm.report import ReportInputs
from planktonlm.report.sections.cruise import build_cruise, build_environment, build_read_accounting

from ..blocks import kinds, rows, table_with, texts
from ..synthetic import ENV, synthetic_inputs


def test_cruise_has_a_map_the_sampling_events_and_a_station_table(build):
    section = build(build_cruise)
    assert [b["alt"] for b in kinds(section, "figure")] == ["Map of station positions", "Sampling events over time"]
    assert rows(table_with(section, "Station"))[0] == ["ST01", "43.680", "7.320", "5, 50", "10", "2021-03-01",
                                                       "2021-06-29"]


def test_environment_counts_missing_values(build):
    section = build(build_environment)
    assert section["variables"] == ENV
    assert "Missing values (not drawn): Oxygen 1." in str(kinds(section, "figure")[0]["caption"])


def test_environment_without_dates_is_drawn_per_station(build):
    samples = synthetic_inputs().samples.assign(datetime=None)
    section = build(build_environment, ReportInputs(samples=samples, env_columns=ENV))
    assert texts(section, "missing") == ["Environment over time: no sampling dates in this run's inputs."]
    assert kinds(section, "figure")[0]["alt"] == "Environmental variables per station"


def test_read_accounting_sums_reads_in_sample_order(build, context):
    section = build(build_read_accounting)
    assert section["kept_reads"] < section["raw_reads"]
    table = rows(table_with(section, "Raw reads"))
    assert [r[0] for r in table] == context.order
    assert texts(section, "caption")[0].startswith("Across 30 samples, ")
