"""Sections "diversity", "ordination", "otus", and "comparison"."""

from __future__ import annotations

import pandas as pd

from planktonlm.report import ReportInputs
from planktonlm.report.sections.community import build_diversity, build_ordination, build_otus, top_variable
from planktonlm.report.sections.comparison import build_comparison

from ..blocks import kinds, rows, table_with, texts
from ..synthetic import COMPACT, DBRDA_TEMP_R2, KMER_TEMP_R2, synthetic_inputs


def test_top_variable_ranks_by_variance_of_relative_abundance():
    counts = pd.DataFrame({"a": [10, 10], "b": [0, 10], "c": [10, 0]}, index=["s1", "s2"])
    relative, top = top_variable(counts, 2)
    assert top == ["b", "c"] and relative.loc["s1", "a"] == 0.5


def test_ordination_draws_within_the_budget_and_names_the_rest(build):
    section = build(build_ordination)
    assert COMPACT.max_ordinations == 1
    assert section["drawn"] == [("embedding", "braycurtis")] and section["omitted"] == [("kmer", "braycurtis")]
    assert texts(section, "caption")[-1] == "Not drawn, to keep the report small: k-mer baseline · Bray-Curtis."


def test_diversity_and_otus_over_time(build):
    assert build(build_diversity)["metrics"] == ["shannon", "richness"]
    otus = build(build_otus)
    assert list(otus["top_otus"]) == ["embedding"] and len(otus["top_otus"]["embedding"]) == 2


def test_without_dates_the_otus_are_a_table(build):
    full = synthetic_inputs()
    inputs = ReportInputs(samples=full.samples.assign(datetime=None), profiles=full.profiles)
    section = build(build_otus, inputs)
    assert kinds(section, "figure") == []
    assert [r[:2] for r in rows(table_with(section, "OTU"))][0][0] == "embedding OTUs"


def test_comparison_of_profiles_and_encoder_quality(build):
    section = build(build_comparison)
    paired = rows(table_with(section, "Verdict"))
    assert paired[0][8] == "embedding OTUs better" and paired[0][7] == "0.07 [0.01, 0.13]"
    per_profile = rows(table_with(section, "Environmental variable"))
    assert per_profile[0][0] == "Temperature (°C)" and per_profile[0][2].startswith(f"{KMER_TEMP_R2:.2f}")
    temperature = rows(table_with(section, "R² Bray-Curtis"))
    assert temperature[0][1] == f"{DBRDA_TEMP_R2:.2f} (p 0.001, Holm 0.003 *)"
    quality = rows(table_with(section, "Representation"))
    assert [r[0] for r in quality] == ["trained", "untrained", "TNF"] and quality[0][1] == "0.934"
