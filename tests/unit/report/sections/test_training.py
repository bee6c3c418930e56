"""Sections "training" and "provenance"."""

from __future__ import annotations

from planktonlm.report import ReportInputs
from planktonlm.report.sections.provenance import build_provenance, flatten
from planktonlm.report.sections.training import build_training

from ..blocks import kinds, texts
from ..synthetic import synthetic_inputs


def test_training_summary_and_curve(build):
    section = build(build_training)
    assert not section["reused"]
    assert section["summary"] == ["40 logged steps up to step 390", "final validation loss 1.841 (best 1.841)",
                                  "final training loss 1.497"]
    assert [b["alt"] for b in kinds(section, "figure")] == ["Encoder training curve"]


def test_reused_model_is_stated_without_training_log(build):
    inputs = ReportInputs(samples=synthetic_inputs().samples,
                          model_info={"reused": True, "checkpoint": "old_cruise/<model>.pt", "sha256": "12" * 32})
    section = build(build_training, inputs)
    assert section["reused"] and texts(section, "missing") == []
    assert "<code>old_cruise/&lt;model&gt;.pt</code>" in texts(section, "caption")[0]


def test_provenance_flattens_nested_items(build):
    assert flatten({"b": {"y": 1, "x": [1, 2]}, "a": None}) == [("a", "–"), ("b.x", "1, 2"), ("b.y", "1")]
    items = build(build_provenance)["items"]
    assert items["config_sha256"] == "cd" * 32 and items["packages.torch"] == "2.13.0"
    assert items["model_sha256"] == "ab" * 32 and "report.planktonlm_version" in items
