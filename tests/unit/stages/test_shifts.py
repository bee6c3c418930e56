"""Tests of the ecology and shifts stages (planktonlm.stages.ecology, planktonlm.stages.shifts):
the rule's named inputs, outputs and params -> every declared output written."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from planktonlm.cube.build import build_cube
from planktonlm.cube.store import write_cube
from planktonlm.errors import PlanktonlmInputError
from planktonlm.simulate.community import simulate_tables
from planktonlm.simulate.design import monthly_design
from planktonlm.stages import Job
from planktonlm.stages.ecology import ecology
from planktonlm.stages.shifts import SHIFT_OUTPUTS, shifts
from planktonlm.stats.ecology import ECOLOGY_TABLES
from planktonlm.stats.shift_tables import MODELS_NOT_KEPT, SHIFT_TABLES

SMALL = dict(transformations=["hellinger"], predict_transformations=["hellinger"], n_permutations=9, models=["ridge"], n_repeats=1,
             n_splits=3, n_pcoa_axes=2, importance_repeats=0, cv_n_permutations=0, n_bootstrap=9, max_lag=1,
             env_drivers=["temperature_c", "noise_index"], env_targets=["temperature_c"], save_models=False)


@pytest.fixture(scope="module")
def cube(tmp_path_factory) -> Path:
    """A cube of two simulated monthly series (one depth) with two read profiles."""
    samples, counts = simulate_tables(monthly_design(2, 12, depths=(5.0,)), seed=1)
    path = tmp_path_factory.mktemp("cube") / "cube.nc"
    write_cube(build_cube(samples, {"embedding": counts, "kmer": counts + 1}, {"config_sha256": "c" * 64, "input_sha256": {}}), path)
    return path


def ecology_job(cube: Path, outdir: Path, profile: str) -> Job:
    return Job(input={"cube": str(cube)}, output={name: str(outdir / profile / f"{name}.tsv") for name in ECOLOGY_TABLES},
               params={"ecology": {"metrics": ["hellinger"], "n_pcoa_axes": 3}, "seed": 1, "profile": profile},
               log=str(outdir.parent / f"{profile}.log"))


def test_ecology_then_shifts_write_every_declared_output(cube, tmp_path):
    inputs = {"cube": str(cube)}
    for profile in ("embedding", "kmer"):
        job = ecology_job(cube, tmp_path / "ecology", profile)
        ecology(job)
        assert all(Path(path).stat().st_size > 0 for path in job.output.values())
        inputs[f"pcoa_{profile}"], inputs[f"alpha_{profile}"] = job.output["pcoa"], job.output["alpha"]
    alpha = pd.read_csv(inputs["alpha_kmer"], sep="\t")
    assert len(alpha) == 24 and alpha["rarefied"].all()

    outputs = {name: str(tmp_path / "shifts" / f"{name}.tsv") for name in SHIFT_TABLES}
    outputs["models"] = str(tmp_path / "shifts" / "models.pkl")
    shifts(Job(input=inputs, output=outputs, params={"shifts": SMALL, "seed": 3}, log=str(tmp_path / "shifts.log"), threads=1))
    assert sorted(p.name for p in (tmp_path / "shifts").iterdir()) == sorted(Path(p).name for p in outputs.values())
    assert pickle.loads(Path(outputs["models"]).read_bytes()) == MODELS_NOT_KEPT  # save_models false: still written
    cv = pd.read_csv(outputs["cv_metrics"], sep="\t")
    assert set(cv["profile"]) == {"embedding", "kmer"} and set(cv["direction"]) == {"community_to_env", "env_to_community"}
    # the environment -> community targets are the ecology stage's PCoA axes and diversity
    assert set(cv.query("direction == 'env_to_community'")["target"]) == {"PCo1", "PCo2", "shannon", "simpson"}
    assert "shifts: finished" in (tmp_path / "shifts.log").read_text()


def test_stages_refuse_undeclared_outputs_and_bad_sections(cube, tmp_path):
    job = ecology_job(cube, tmp_path, "embedding")
    with pytest.raises(ValueError, match="missing \\['alpha'\\]"):
        ecology(Job(input=job.input, output={k: v for k, v in job.output.items() if k != "alpha"}, params=job.params))
    with pytest.raises(PlanktonlmInputError, match="n_pcoa_axes"):
        ecology(Job(input=job.input, output=job.output, params={**job.params, "ecology": {"n_pcoa_axes": 0}}))
    outputs = {name: str(tmp_path / f"{name}.tsv") for name in SHIFT_OUTPUTS}
    with pytest.raises(ValueError, match="missing \\['models'\\]"):
        shifts(Job(input={"cube": str(cube)}, output={k: v for k, v in outputs.items() if k != "models"},
                   params={"shifts": SMALL, "seed": 1}))
    with pytest.raises(PlanktonlmInputError, match="n_split"):
        shifts(Job(input={"cube": str(cube)}, output=outputs, params={"shifts": {"n_split": 3}, "seed": 1}))
    assert not list(tmp_path.glob("*.tsv"))
