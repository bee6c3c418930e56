"""Sections "predictions" and "importances": the primary model is the result, sensitivity apart."""

from __future__ import annotations

from planktonlm.report.sections.predictions import build_importances, build_predictions

from ..blocks import kinds, rows, table_with, texts
from ..synthetic import FOLDS, LOO_R2, SENS_TEMP_R2, TEMP_R2_MEAN, TEMP_R2_SD


def test_primary_model_is_the_headline_and_sensitivity_is_apart(build):
    section = build(build_predictions)
    assert section["profile"] == "embedding" and section["combo"] == ("hellinger", "ridge")
    headings = texts(section, "h3")
    assert headings[0] == "Cross-validation (primary model): embedding OTUs, Hellinger features, ridge regression"
    assert headings[1] == "Sensitivity: other models and feature transformations (embedding OTUs)"
    primary = rows(table_with(section, "CV R² (mean ± sd)", 0))
    assert primary[0][:5] == ["Temperature (°C)", "ridge", "Hellinger", f"{TEMP_R2_MEAN:.2f} ± {TEMP_R2_SD:.2f}",
                              f"{TEMP_R2_MEAN - 0.1:.2f}"]
    assert primary[0][6] == FOLDS
    sensitivity = rows(table_with(section, "CV R² (mean ± sd)", 1))
    assert f"{SENS_TEMP_R2:.2f} ± 0.02" in [r[3] for r in sensitivity]
    assert all(f"{SENS_TEMP_R2:.2f}" not in r[3] for r in primary)


def test_full_tables_list_every_cv_scheme(build):
    section = build(build_predictions)
    full = kinds(section, "details")[0]
    assert full["summary"].startswith("All cross-validation results: environment predicted from the community")
    cells = rows(full["blocks"][0])
    assert {r[1] for r in cells} == {"grouped", "loo"} and f"{LOO_R2:.2f} ± 0.00" in {r[6] for r in cells}
    assert any("leave one sample out" in c for c in texts(section, "caption"))
    assert all(f"{LOO_R2:.2f}" not in r[3] for r in rows(table_with(section, "CV R² (mean ± sd)", 0)))


def test_importances_show_the_top_features_of_the_primary_model(build):
    section = build(build_importances)
    assert section["top_features"]["temperature_c"] == ["eotu_0001", "eotu_0002", "eotu_0003"]
    assert len(kinds(section, "figure")) == 1
    drivers = rows(table_with(section, "Top 3 drivers (importance)"))
    assert drivers == [["PCoA axis 1", "ridge", "Temperature (°C) (0.300); pH (0.150); Oxygen (µmol/kg) (0.100)"]]
