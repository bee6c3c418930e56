"""Novelty in the report: per-cruise table in the OTU section, and the sentence above 5 %."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planktonlm.report import ReportInputs, render_report
from planktonlm.report.context import build_context
from planktonlm.report.sections.community import build_otus
from planktonlm.report.sections.novelty import novelty_finding
from planktonlm.report.sections.overview import key_findings

from ..blocks import rows, table_with, texts
from ..synthetic import COMPACT, synthetic_inputs


def undated_inputs(novelty: pd.DataFrame | None, atlas: str = "atlas/v1") -> ReportInputs:
    """The synthetic samples split over two cruises, without dates (no figures: fast)."""
    full = synthetic_inputs()
    samples = full.samples.assign(datetime=None)
    samples["cruise"] = ["C1" if i < 18 else "C2" for i in range(len(samples))]
    if novelty is not None:
        novelty.attrs.update(threshold={"embedding": 0.8125, "kmer": 2.5}, atlas=atlas)
    return ReportInputs(samples=samples, profiles=full.profiles, novelty=novelty)


def novelty_of(samples: pd.Index, high: dict[str, float]) -> pd.DataFrame:
    embedding = pd.Series(0.01, index=samples)
    for sample, value in high.items():
        embedding[sample] = value
    kmer = pd.Series(np.linspace(0.0, 0.02, len(samples)), index=samples)
    kmer.iloc[0] = np.nan  # a sample without fragments
    return pd.DataFrame({"kmer": kmer, "embedding": embedding})


def test_novelty_table_per_cruise_and_sentence_above_five_percent(build) -> None:
    ids = synthetic_inputs().samples.index
    inputs = undated_inputs(novelty_of(ids, {ids[20]: 0.12, ids[25]: 0.3, ids[2]: 0.05}))
    section = build(build_otus, inputs)
    summary = table_with(section, "Cruise")
    assert [h for h, _ in summary["head"]][:5] == ["Cruise", "Samples", "embedding OTUs: mean (%)",
                                                   "embedding OTUs: max (%)", "embedding OTUs: samples > 5%"]
    c1, c2 = rows(summary)
    assert c1[:5] == ["C1", "18", "1.2", "5.0", "0"]  # 5 % exactly is not above it
    assert c2[:5] == ["C2", "12", f"{100 * (10 * 0.01 + 0.12 + 0.3) / 12:.1f}", "30.0", "2"]
    sentence = ("2 samples of cruise C2 have more than 5% of their reads beyond the atlas (embedding novelty): "
                "consider rebuilding the atlas (README: Adding a cruise).")
    assert f"<b>{sentence}</b>" in texts(section, "caption")
    assert "Threshold (embedding OTUs): 0.8125." in texts(section, "caption")[-2]
    per_sample = table_with(section, "Sample")
    by_sample = {row[0]: row for row in rows(per_sample)}
    assert len(by_sample) == len(ids) and [h for h, _ in per_sample["head"]][-2:] == ["embedding OTUs (%)",
                                                                                      "k-mer baseline (%)"]
    assert by_sample[ids[0]][1] == "C1" and by_sample[ids[0]][-2:] == ["1.0", "–"]  # no fragment: no share
    assert by_sample[ids[25]][1:3] == ["C2", ids[25].split("_")[0]] and by_sample[ids[25]][-2] == "30.0"
    assert sentence in key_findings(build_context(inputs, COMPACT))


def test_several_cruises_in_one_sentence_and_without_an_atlas() -> None:
    ids = synthetic_inputs().samples.index
    ctx = build_context(undated_inputs(novelty_of(ids, {ids[0]: 0.2, ids[20]: 0.06}), atlas=""), COMPACT)
    assert novelty_finding(ctx) == (
        "1 sample of cruise C1 and 1 sample of cruise C2 have more than 5% of their reads beyond the codebook's "
        "reference reads (embedding novelty): these samples hold reads unlike those the OTUs were fitted on.")
    quiet = build_context(undated_inputs(novelty_of(ids, {})), COMPACT)
    assert novelty_finding(quiet) is None


def test_without_novelty_nothing_is_said(build) -> None:
    section = build(build_otus, undated_inputs(None))
    assert not [t for t in texts(section, "h3") + texts(section, "caption") if "ovelty" in t]
    page = render_report(undated_inputs(None), COMPACT)
    assert "ovelty" not in page


def test_the_page_carries_the_sentence() -> None:
    ids = synthetic_inputs().samples.index
    page = render_report(undated_inputs(novelty_of(ids, {ids[25]: 0.3})), COMPACT)
    assert "1 sample of cruise C2 has more than 5% of its reads beyond the atlas" in page
