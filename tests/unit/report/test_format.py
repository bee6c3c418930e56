"""planktonlm.report.format: number formats, p-values in words, tables and blocks as data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from planktonlm.report.format import (
    Col,
    caption,
    cell_holm,
    cell_p,
    cells,
    esc,
    fixed,
    integer,
    missing,
    no_dates,
    p_text,
    pct,
    result_text,
    table,
    truthy,
    verdict,
)
from planktonlm.vocab import split_unit, variable_label


def test_numbers_have_fixed_digits_and_missing_is_a_dash():
    assert fixed(0.12345) == "0.12" and fixed(0.12345, 3) == "0.123" and fixed(np.nan) == "–" and fixed(None) == "–"
    assert pct(0.1234) == "12%" and pct(0.1234, 1) == "12.3%"
    assert integer(812345.4) == "812,345" and integer("x") == "–"
    assert p_text(0.0004) == "< 0.001" and p_text(0.0123) == "0.012"


def test_truthy_reads_boolean_cells_as_tsv_writes_them():
    assert truthy("True", False) and truthy(1, False) and truthy("1.0", False)
    assert not truthy("false", True)
    assert truthy(np.nan, True) and not truthy("NA", False)


def test_p_values_in_words_use_holm_and_the_permutation_floor():
    row = pd.Series({"p_value": 0.001, "p_min": 0.001, "p_holm": 0.003, "permutation": "cyclic shifts"})
    assert result_text(row, "the variables of x") == ("p = 0.001, the smallest attainable, Holm-adjusted 0.003 within "
                                                    "the variables of x; permutations: cyclic shifts")
    assert cell_p(row) == "0.001 (smallest attainable)" and cell_holm(row) == "0.003 *"
    assert verdict(row) == "It is significant after Holm adjustment (p_holm ≤ 0.05)."
    raw_only = pd.Series({"p_value": 0.02, "p_holm": 0.06})
    assert result_text(raw_only) == "p = 0.020, Holm-adjusted 0.060" and cell_holm(raw_only) == "0.060"
    assert verdict(raw_only) == "It is not significant after Holm adjustment (p_holm > 0.05)."
    untestable = pd.Series({"p_value": np.nan, "testable": False})
    assert result_text(untestable) == "not testable under this design" and cell_holm(untestable) == "–"


def test_table_is_data_with_formatted_cells():
    frame = pd.DataFrame({"name": ["a", "b"], "r2": [0.123, np.nan]})
    block = table(frame, [Col("Name", "name", text=True), Col("R²", "r2", fixed),
                          Col("Twice", lambda r: 2 * r["r2"], fixed)], scroll=True)
    assert block["kind"] == "table" and block["scroll"]
    assert block["head"] == [("Name", True), ("R²", False), ("Twice", False)]
    assert block["rows"] == [[("a", True), ("0.12", False), ("0.25", False)], [("b", True), ("–", False), ("–", False)]]
    assert cells(block, "R²") == ["0.12", "–"]


def test_sentences_with_markup_escape_their_values_once():
    assert esc("a < b & 'c'") == "a &lt; b &amp; &#x27;c&#x27;" and not isinstance(esc("x"), Markup)
    block = caption("<b>R²</b> of " + esc("<x>"))
    assert isinstance(block["text"], Markup) and str(block["text"]) == "<b>R²</b> of &lt;x&gt;"
    assert str(missing("A <table>")["text"]) == "A &lt;table&gt; is not available for this run."
    assert str(no_dates("Figure")["text"]) == "Figure: no sampling dates in this run's inputs."


def test_units_and_labels_come_from_the_shared_vocabulary():
    assert variable_label("temperature_c") == "Temperature (°C)"
    assert variable_label("oxygen_umol_kg") == "Oxygen (µmol/kg)"
    assert variable_label("chlorophyll_mg_m3") == "Chlorophyll (mg/m³)"
    assert variable_label("nitrate_nm") == "Nitrate (nM)"
    assert variable_label("ph") == "pH"
    assert split_unit("pressure_dbar") == ("Pressure", "dbar") and split_unit("mystery") == ("Mystery", "")
