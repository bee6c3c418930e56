"""Section "season": season alone, main predictors alone, both; dbRDA given the calendar."""

from __future__ import annotations

from planktonlm.report import ReportInputs
from planktonlm.report.sections.season import build_season

from ..blocks import rows, table_with, texts
from ..synthetic import synthetic_inputs


def test_baseline_in_both_directions_and_dbrda_given_the_season(build):
    section = build(build_season)
    baseline = rows(table_with(section, "R² season + trend"))
    assert {r[1] for r in baseline} == {"community → environment", "environment → community"}
    assert "0.25 [0.10, 0.40]" in {r[7] for r in baseline} and "0.08 [-0.02, 0.17]" in {r[7] for r in baseline}
    given = rows(table_with(section, "Variable"))
    assert given[0][:9] == ["embedding OTUs", "Bray-Curtis", "Temperature (°C)", "0.12", "0.11", "3.8", "0.004",
                            "0.012 *", "0.003"]


def test_empty_tables_say_the_data_have_no_dated_series(build):
    inputs = synthetic_inputs()
    section = build(build_season, ReportInputs(samples=inputs.samples, season_baseline=inputs.season_baseline.iloc[:0],
                                               dbrda_season=inputs.dbrda_season.iloc[:0]))
    assert texts(section, "missing") == ["The data have no dated series (no sampling dates, or too few for a seasonal "
                                         "cycle), so there is no seasonal baseline to compare with."]
