"""planktonlm.report.inputs: the config section, and reading stage outputs and the rule's inputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from planktonlm.config import build_config
from planktonlm.errors import PlanktonlmInputError
from planktonlm.report import ReportConfig, load_report_inputs

from .synthetic import ENV, synthetic_inputs


def test_config_comes_from_the_schema():
    config = build_config(ReportConfig, "report")
    assert config.dpi == 100 and config.primary_profile == "embedding"
    with pytest.raises(PlanktonlmInputError, match="report.dpi"):
        build_config(ReportConfig, "report", dpi=0)


def test_loader_reads_stage_outputs_and_tolerates_absent_files(tmp_path):
    inputs = synthetic_inputs()
    inputs.samples.reset_index().to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    paths = {"samples": str(tmp_path / "samples.tsv"), "env_columns": ENV, "title": "Loaded"}
    for name in ("read_accounting", "train_log", "dbrda_marginal", "dbrda_forward", "varpart", "cv_metrics",
                 "trends", "dbrda_lagged"):
        table = getattr(inputs, name)
        if name == "dbrda_lagged":
            table = table.iloc[:0]  # header only, as the shifts stage writes a table with no rows
        table.to_csv(tmp_path / f"{name}.tsv", sep="\t", index=False, float_format="%.10g", na_rep="NA")
        paths[name] = str(tmp_path / f"{name}.tsv")
    inputs.predictions.to_parquet(tmp_path / "predictions.parquet")
    paths["predictions"] = str(tmp_path / "predictions.parquet")
    paths["profiles"] = []
    for name, table in inputs.profiles.items():
        table.to_csv(tmp_path / f"{name}.tsv", sep="\t")
        paths["profiles"].append(str(tmp_path / f"{name}.tsv"))
    inputs.pcoa[("embedding", "braycurtis")].to_csv(tmp_path / "pcoa.tsv", sep="\t")
    paths["pcoa"] = {"embedding/braycurtis": str(tmp_path / "pcoa.tsv")}
    pd.DataFrame({"profile": "embedding", "metric": "braycurtis", "axis": ["PCo2", "PCo1"],
                  "explained_ratio": [0.2, 0.5]}).to_csv(tmp_path / "explained.tsv", sep="\t", index=False)
    paths["pcoa_explained"] = str(tmp_path / "explained.tsv")
    (tmp_path / "provenance.json").write_text(json.dumps(inputs.provenance))
    paths["provenance"] = str(tmp_path / "provenance.json")
    paths["encoder_quality"] = str(tmp_path / "absent.tsv")  # optional file that a run did not make
    paths["alpha"] = {"embedding": str(tmp_path / "absent_alpha.tsv")}

    loaded = load_report_inputs(paths)
    assert loaded.encoder_quality is None and loaded.alpha is None and loaded.model_info is None
    assert loaded.dbrda_lagged is not None and loaded.dbrda_lagged.empty
    assert len(loaded.trends) == len(inputs.trends) and loaded.title == "Loaded"
    assert sorted(loaded.profiles) == ["embedding", "kmer"]
    pd.testing.assert_frame_equal(loaded.profiles["kmer"], inputs.profiles["kmer"], check_dtype=False,
                                  check_names=False)
    assert loaded.pcoa_explained == {("embedding", "braycurtis"): [0.5, 0.2]}
    assert loaded.provenance == inputs.provenance
    assert loaded.samples.index.tolist() == inputs.samples.index.tolist()
    assert loaded.samples["station"].tolist() == inputs.samples["station"].tolist()

    with pytest.raises(PlanktonlmInputError, match="unknown input name"):
        load_report_inputs({**paths, "cv_metric": "typo.tsv"})
    with pytest.raises(PlanktonlmInputError, match="samples table not found"):
        load_report_inputs({"samples": str(tmp_path / "nope.tsv")})
