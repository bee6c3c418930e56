"""Section "overview": what was run and the key findings, as data."""

from __future__ import annotations

import numpy as np

from planktonlm.report import ReportInputs
from planktonlm.report.sections.overview import build_overview

from ..synthetic import DBRDA_TEMP_R2, FOLDS, KMER_TEMP_R2, SCHEME, SENS_TEMP_R2, TEMP_R2_MEAN, TEMP_R2_SD, synthetic_inputs


def test_facts_describe_the_run(build):
    facts = dict(build(build_overview)["facts"])
    assert facts["Cruise"] == "PLK2021" and facts["Samples"] == "30"
    assert facts["Stations"] == "3 (ST01, ST02, ST03)"
    assert facts["Dates (UTC)"].startswith("2021-03-01 to 2021-06-29")
    assert facts["Depths"] == "5 to 50 m (2 distinct)"
    assert facts["Environmental variables"] == "Temperature (°C), pH, Oxygen (µmol/kg)"
    assert facts["Community profiles"] == "embedding OTUs, k-mer baseline"
    assert facts["DNA encoder"] == "trained on this cruise's reads (812,345 parameters)"


def test_key_findings_give_the_headline_numbers(build):
    findings = build(build_overview)["findings"]
    dbrda, forward, varpart, season, prediction, comparison = findings
    assert dbrda.startswith(f"Temperature explains {100 * DBRDA_TEMP_R2:.0f}% of community variation on its own")
    assert "p = 0.001, the smallest attainable, Holm-adjusted 0.003" in dbrda and f"permutations: {SCHEME}" in dbrda
    assert dbrda.endswith("It is significant after Holm adjustment (p_holm ≤ 0.05).")
    assert forward.startswith("Forward selection keeps 2 variables (Temperature, Oxygen)") and "0.56" in forward
    assert "temperature alone 12%" in varpart and "unexplained 56%" in varpart
    assert season.startswith("Temperature's effect holds beyond the season") and "12.3%" in season
    assert f"{TEMP_R2_MEAN:.2f} ± {TEMP_R2_SD:.2f}" in prediction and f"folds: {FOLDS}" in prediction
    assert f"{SENS_TEMP_R2:.2f}" not in prediction  # a sensitivity row never becomes the headline
    assert f"{KMER_TEMP_R2:.2f}" in comparison and "paired difference of 0.07 (95% interval 0.01 to 0.13)" in comparison


def test_finding_follows_holm_not_the_raw_p(build):
    inputs = synthetic_inputs()
    temp = inputs.dbrda_marginal["variable"] == "temperature_c"
    inputs.dbrda_marginal.loc[temp, "p_value"] = 0.02  # significant before adjustment ...
    inputs.dbrda_marginal.loc[temp, "p_holm"] = 0.06   # ... but not after
    first = build(build_overview, inputs)["findings"][0]
    assert "p = 0.020, Holm-adjusted 0.060" in first and "It is not significant after Holm adjustment" in first


def test_forward_selection_that_keeps_nothing_is_said_so(build):
    inputs = synthetic_inputs()
    forward = inputs.dbrda_forward.assign(selected=inputs.dbrda_forward["variable"] == "<all>",
                                          stop_reason=np.where(inputs.dbrda_forward["step"] == 1,
                                                               "r2_adj above global model", ""))
    findings = build(build_overview, ReportInputs(samples=inputs.samples, dbrda_marginal=inputs.dbrda_marginal,
                                                  dbrda_forward=forward))["findings"]
    assert findings[1].startswith("All environmental variables together explain an adjusted R² of 0.60")
    assert "forward selection keeps no single variable: adding the next variable" in findings[1]


def test_marking_another_row_primary_moves_the_headline(build):
    inputs = synthetic_inputs()
    cv = inputs.cv_metrics
    swap = (cv["profile"] == "embedding") & (cv["direction"] == "community_to_env")
    cv.loc[swap, "primary"] = (cv.loc[swap, "transformation"] == "clr") & (cv.loc[swap, "model"] == "rf")
    findings = build(build_overview, ReportInputs(samples=inputs.samples, cv_metrics=cv))["findings"]
    assert f"{SENS_TEMP_R2:.2f} ± 0.02" in findings[0] and "random forest, CLR features, the primary model" in findings[0]


def test_no_statistics_say_so(build):
    section = build(build_overview, ReportInputs(samples=synthetic_inputs().samples))
    assert section["findings"] == []
    assert str(section["blocks"][-1]["text"]) == "A summary of statistical results is not available for this run."
