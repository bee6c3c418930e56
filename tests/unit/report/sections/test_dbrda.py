"""Section "dbrda": marginal tests in selection order, variation partitioning, what was left out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planktonlm.report import ReportInputs
from planktonlm.report.sections.dbrda import build_dbrda

from ..blocks import kinds, rows, table_with, texts
from ..synthetic import synthetic_inputs


def test_marginal_table_lists_selected_variables_first(build):
    section = build(build_dbrda)
    assert texts(section, "h3")[0] == "dbRDA marginal tests: embedding OTUs · Bray-Curtis"
    first = rows(table_with(section, "Selected"))
    assert [r[0] for r in first] == ["Temperature (°C)", "Oxygen (µmol/kg)", "pH"]
    assert first[0] == ["Temperature (°C)", "0.38", "0.36", "3.8", "0.001 (smallest attainable)", "0.003 *", "0.003",
                        "1"]
    assert first[2][-1] == ""  # pH was not kept
    captions = texts(section, "caption")
    assert any(c.startswith("All variables together: R² 0.70, adjusted R² 0.60") and
               "the next variable is not significant" in c for c in captions)
    # the other profile x dissimilarity pairs are collapsed, each with its conditional tests
    assert [b["summary"] for b in kinds(section, "details")][:2] == [
        "Conditional tests (each variable given all the others)", "dbRDA marginal tests: embedding OTUs · Hellinger"]


def test_varpart_cells_give_fraction_and_test(build):
    section = build(build_dbrda)
    table = rows(table_with(section, "Fraction (adjusted R²)"))
    assert table[0][:2] == ["temperature alone", "12.0% (p 0.002, Holm 0.006 *)"]
    assert table[-1][:2] == ["unexplained (residual)", "56.0%"]
    figure = kinds(section, "figure")[0]
    assert "Negative adjusted fractions (chance level) are drawn as zero." in str(figure["caption"])


def test_untestable_term_is_marked(build):
    inputs = synthetic_inputs()
    temp = inputs.dbrda_marginal["variable"] == "temperature_c"
    inputs.dbrda_marginal.loc[temp, ["p_value", "p_holm"]] = np.nan
    inputs.dbrda_marginal.loc[temp, "testable"] = False
    first = rows(table_with(build(build_dbrda, inputs), "Selected"))[0]
    assert first[4:6] == ["not testable under this design", "–"]


def test_excluded_items_are_listed(build):
    samples = synthetic_inputs().samples
    excluded = pd.DataFrame({"item": ["ST03_5m_0"], "kind": ["sample"], "reason": ["absent from profile kmer"]})
    section = build(build_dbrda, ReportInputs(samples=samples, excluded=excluded))
    assert texts(section, "missing")[:2] == ["The dbRDA table is not available for this run.",
                                             "Variation partitioning is not available for this run."]
    assert rows(table_with(section, "Left out")) == [["ST03_5m_0", "sample", "absent from profile kmer"]]
