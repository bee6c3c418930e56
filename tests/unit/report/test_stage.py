"""planktonlm.stages.report: the report rule's inputs -> its one declared output, ``html``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planktonlm.cube.build import build_cube
from planktonlm.cube.novelty import novelty_variable
from planktonlm.cube.store import read_cube, write_cube
from planktonlm.errors import PlanktonlmInputError
from planktonlm.report import inputs_from_results
from planktonlm.stages import Job
from planktonlm.stages.report import report

from .synthetic import synthetic_inputs


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, str]:
    """A cube and a few stage tables of the synthetic cruise, as the rule names them."""
    root = tmp_path_factory.mktemp("results")
    full = synthetic_inputs()
    samples = full.samples.assign(datetime=pd.to_datetime(full.samples["datetime"], utc=True))
    cube = build_cube(samples, {"embedding": full.profiles["embedding"]},
                      {"config_sha256": "cd" * 32, "input_sha256": {"samples.tsv": "ef" * 32},
                       "model_sha256": "ab" * 32, "package_versions": {"numpy": "2"}})
    write_cube(cube, root / "cube.nc")
    named = {"cube": str(root / "cube.nc")}
    for name in ("read_accounting", "train_log", "dbrda_marginal", "cv_metrics"):
        getattr(full, name).to_csv(root / f"{name}.tsv", sep="\t", index=False)
        named[name] = str(root / f"{name}.tsv")
    full.alpha["embedding"].rename_axis("sample").to_csv(root / "alpha.tsv", sep="\t")
    named["alpha_embedding"] = str(root / "alpha.tsv")
    pcoa = full.pcoa[("embedding", "braycurtis")].rename_axis("sample").reset_index().assign(metric="braycurtis")
    pcoa.to_csv(root / "pcoa.tsv", sep="\t", index=False)
    named["pcoa_embedding"] = str(root / "pcoa.tsv")
    pd.DataFrame({"metric": "braycurtis", "axis": ["PCo1", "PCo2"], "explained_ratio": [0.4, 0.2]}).to_csv(
        root / "pcoa_axes.tsv", sep="\t", index=False)
    named["pcoa_axes_embedding"] = str(root / "pcoa_axes.tsv")
    return named


def test_stage_writes_the_report_from_the_cube_and_tables(results, tmp_path):
    out = tmp_path / "report.html"
    report(Job(input=results, output={"html": str(out)},
               params={"report": {"dpi": 30, "max_otu_profiles": 1}, "seed": 7, "checkpoint": "old/model.pt"}))
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    page = out.read_text(encoding="utf-8")
    assert 'alt="PCoA of embedding OTUs (Bray-Curtis)"' in page
    assert '<td class="t">seed</td><td class="t">7</td>' in page
    assert "reused from checkpoint old/model.pt" in page and "cd" * 32 in page
    assert page.count("<section id=") == 15 and "Alpha diversity over time" in page


def test_stage_with_the_cube_alone_as_in_published_mode(results, tmp_path):
    out = tmp_path / "report.html"
    report(Job(input={"cube": results["cube"]}, output={"html": str(out)},
               params={"report": {"dpi": 30}, "seed": 1, "checkpoint": ""}))
    page = out.read_text(encoding="utf-8")
    assert "Alpha diversity is not available for this run." in page
    assert "The dbRDA table is not available for this run." in page and 'alt="Most variable OTUs' in page


def test_stage_rejects_a_bad_report_section(results, tmp_path):
    with pytest.raises(PlanktonlmInputError, match="report.dpi"):
        report(Job(input=results, output={"html": str(tmp_path / "report.html")},
                   params={"report": {"dpi": 1}, "seed": 7, "checkpoint": ""}))
    assert not (tmp_path / "report.html").exists()


def test_novelty_is_read_from_the_cube_not_as_environment(results, tmp_path):
    cube = read_cube(results["cube"])
    samples = [str(s) for s in cube["sample"].values]
    shares = pd.Series(np.linspace(0, 0.1, len(samples)), index=samples)
    cube = cube.assign(novelty_embedding=novelty_variable("embedding", shares, 0.75, "novelty.tsv"))
    cube.attrs["atlas"] = "atlas/v1"
    write_cube(cube, tmp_path / "cube.nc")
    inputs = inputs_from_results({"cube": str(tmp_path / "cube.nc")}, seed=1, checkpoint="")
    assert inputs.novelty.columns.tolist() == ["embedding"] and inputs.novelty.attrs["atlas"] == "atlas/v1"
    pd.testing.assert_series_equal(inputs.novelty["embedding"], shares.rename("embedding").rename_axis("sample"))
    assert not [c for c in inputs.samples.columns if "novelty" in c] and "novelty_embedding" not in inputs.env_columns
    assert inputs_from_results({"cube": results["cube"]}, seed=1, checkpoint="").novelty is None
