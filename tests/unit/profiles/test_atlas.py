"""Tests for planktonlm.profiles.atlas and ``planktonlm atlas``: freeze, verify, resolve, and the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from planktonlm.cli import main
from planktonlm.config import validate_config
from planktonlm.errors import PlanktonlmInputError
from planktonlm.profiles.atlas import LOCAL_FILES, MANIFEST, atlas_inputs, freeze_atlas, load_atlas, resolve_atlas_file

from .synthetic import cluster_centres, run_profile, write_vectors

SAMPLES = {"S2": 120, "S1": 90, "S3": 60}


def make_run(root: Path, *, weights_seed: int = 0) -> tuple[Path, dict]:
    """A finished run's results folder (a stand-in model folder, both profiles) and its validated config."""
    results = root / "results"
    model = results / "model"
    model.mkdir(parents=True)
    weights = np.random.default_rng(weights_seed).bytes(3000)
    (model / "model.pt").write_bytes(weights)
    (model / "weights.sha256").write_text(f"{hashlib.sha256(weights).hexdigest()}  model.pt\n")
    (model / "config.json").write_text('{"model": {"dim": 8}}\n')
    (model / "tokenizer.json").write_text('{"k": 1}\n')
    (model / "train_log.tsv").write_text("step\tloss\n1\t0.5\n")
    paths = write_vectors(root / "embed", SAMPLES, cluster_centres(seed=weights_seed))
    for profile in ("embedding", "kmer"):
        run_profile(results / "profile" / profile, paths, profile)
    sheet = root / "config" / "samples.tsv"
    sheet.parent.mkdir()
    pd.DataFrame({"sample": ["S1", "S2", "S3"], "cruise": ["C1", "C1", "C2"]}).to_csv(sheet, sep="\t", index=False)
    config = validate_config({"samples": str(sheet), "profiles": {"n_otus": 4, "kmer_k": 3}})
    (root / "config" / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    return results, config


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict]:
    return make_run(tmp_path_factory.mktemp("run"))


def test_freeze_then_load_round_trip(run, tmp_path: Path) -> None:
    results, config = run
    manifest = freeze_atlas(results, tmp_path / "atlas" / "north-2024", config)
    folder = manifest.parent
    assert manifest == folder / MANIFEST and not list((tmp_path / "atlas").glob(".tmp-*"))
    atlas = load_atlas(folder)
    assert atlas.name == "north-2024" and atlas.kmer_k == 3
    assert atlas.n_otus == {"embedding": 4, "kmer": 4} and atlas.dims == {"embedding": 8, "kmer": 8}
    assert atlas.samples == ({"sample": "S2", "cruise": "C1"}, {"sample": "S1", "cruise": "C1"}, {"sample": "S3", "cruise": "C2"})
    assert atlas.encoder_sha256 == (results / "model" / "weights.sha256").read_text().split()[0]
    for relpath, local in LOCAL_FILES.items():
        assert Path(atlas.file(relpath)).read_bytes() == (results.parent / local).read_bytes(), relpath
    otus = pd.read_csv(atlas.file("kmer/otus.tsv"), sep="\t")
    assert otus.columns.tolist() == ["otu", "index"] and otus["otu"].tolist()[:2] == ["kotu_0001", "kotu_0002"]
    assert otus["index"].tolist() == [0, 1, 2, 3]
    frozen_config = (folder / "config.yaml").read_text()
    assert yaml.safe_load(frozen_config) == config
    top_keys = [line.split(":")[0] for line in frozen_config.splitlines() if not line.startswith((" ", "-"))]
    assert top_keys == sorted(config)
    every_file = [p for p in folder.rglob("*") if p.is_file()]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in every_file)
    assert set(atlas.files) == {p.relative_to(folder).as_posix() for p in every_file} - {MANIFEST}
    if shutil.which("sha256sum"):  # the manifest is in sha256sum's own format
        subprocess.run(["sha256sum", "--check", "--quiet", MANIFEST], cwd=folder, check=True)


def test_a_changed_atlas_file_is_caught_with_both_digests(run, tmp_path: Path) -> None:
    folder = freeze_atlas(run[0], tmp_path / "atlas", run[1]).parent
    codebook = folder / "embedding" / "codebook.npy"
    expected = hashlib.sha256(codebook.read_bytes()).hexdigest()
    codebook.chmod(0o644)
    changed = np.load(codebook)
    changed[0, 0] += 1e-9
    np.save(codebook, changed)
    actual = hashlib.sha256(codebook.read_bytes()).hexdigest()
    with pytest.raises(PlanktonlmInputError) as err:
        load_atlas(folder)
    problem = err.value.problems[0]
    assert (problem.file, problem.value, problem.message) == (str(codebook), actual, "atlas file changed since it was frozen")
    assert expected in problem.expected
    assert load_atlas(folder, verify=False).name == "atlas"  # presence only


def test_incomplete_or_missing_atlas_is_refused(run, tmp_path: Path) -> None:
    with pytest.raises(PlanktonlmInputError, match="no atlas folder"):
        load_atlas(tmp_path / "nowhere")
    folder = freeze_atlas(run[0], tmp_path / "atlas", run[1]).parent
    (folder / MANIFEST).unlink()
    with pytest.raises(PlanktonlmInputError, match="no manifest: the atlas is incomplete"):
        load_atlas(folder)


def test_freeze_refuses_an_existing_folder_and_leaves_nothing_on_failure(run, tmp_path: Path) -> None:
    results, config = run
    (tmp_path / "taken").mkdir()
    with pytest.raises(PlanktonlmInputError, match="exists already.*read-only, choose a new name"):
        freeze_atlas(results, tmp_path / "taken", config)

    broken = tmp_path / "broken"
    shutil.copytree(results, broken / "results")
    (broken / "results" / "profile" / "kmer" / "codebook.npy").unlink()
    (broken / "results" / "model" / "tokenizer.json").unlink()
    with pytest.raises(PlanktonlmInputError) as err:
        freeze_atlas(broken / "results", tmp_path / "out" / "a", config)
    text = str(err.value)
    assert "2 problems" in text and "kmer/codebook.npy: missing" in text and "rule fit_codebook" in text
    assert "tokenizer.json: missing" in text and "rule train_encoder" in text

    # a failure half-way (weights that do not match their digest) leaves no half atlas behind
    shutil.copy(results / "profile" / "kmer" / "codebook.npy", broken / "results" / "profile" / "kmer" / "codebook.npy")
    shutil.copy(results / "model" / "tokenizer.json", broken / "results" / "model" / "tokenizer.json")
    (broken / "results" / "model" / "model.pt").write_bytes(b"other weights")
    with pytest.raises(PlanktonlmInputError, match="model.pt does not match weights.sha256"):
        freeze_atlas(broken / "results", tmp_path / "out" / "a", config)
    assert list((tmp_path / "out").iterdir()) == []


def test_resolve_atlas_file_prefers_the_identical_local_file(run, tmp_path: Path, monkeypatch) -> None:
    results, config = run
    atlas = load_atlas(freeze_atlas(results, tmp_path / "atlas", config).parent)
    local = tmp_path / "local"
    shutil.copytree(results, local / "results")
    local_codebook = local / "results" / "profile" / "kmer" / "codebook.npy"
    assert resolve_atlas_file(atlas, "kmer/codebook.npy", local_codebook) == str(local_codebook)
    assert resolve_atlas_file(atlas, "kmer/codebook.npy", tmp_path / "missing.npy") == atlas.file("kmer/codebook.npy")
    data = bytearray(local_codebook.read_bytes())
    data[-1] ^= 1  # same size, other content
    local_codebook.write_bytes(bytes(data))
    assert resolve_atlas_file(atlas, "kmer/codebook.npy", local_codebook) == atlas.file("kmer/codebook.npy")

    # model.pt: judged by the weights.sha256 beside it (no hashing of the weights)
    weights, digest = local / "results" / "model" / "model.pt", local / "results" / "model" / "weights.sha256"
    assert resolve_atlas_file(atlas, "encoder/model.pt", weights) == str(weights)
    digest.write_text("0" * 64 + "  model.pt\n")
    assert resolve_atlas_file(atlas, "encoder/model.pt", weights) == atlas.file("encoder/model.pt")

    monkeypatch.chdir(local)  # the workflow's working directory: LOCAL_FILES are relative to it
    # distances.tsv: always the atlas's, since every run's collect_profile rewrites the local one
    # the encoder's files go together: one changed file sends all of them to the atlas
    changed = {"kmer/codebook.npy", "embedding/distances.tsv", "kmer/distances.tsv"} | {
        rel for rel in LOCAL_FILES if rel.startswith("encoder/")}
    assert atlas_inputs(atlas) == {rel: atlas.file(rel) if rel in changed else local_rel for rel, local_rel in LOCAL_FILES.items()}


def test_cli_freeze_verify_and_map(run, tmp_path: Path, capsys) -> None:
    results, _ = run
    config = str(results.parent / "config" / "config.yaml")
    out = tmp_path / "atlas" / "v1"
    assert main(["atlas", "freeze", str(results), "--out", str(out), "--config", config, "--name", "first"]) == 0
    assert capsys.readouterr().out.strip() == str(out / MANIFEST)
    assert main(["atlas", "freeze", str(results), "--out", str(out), "--config", config]) == 2
    assert "exists already" in capsys.readouterr().err

    assert main(["atlas", "verify", str(out)]) == 0
    assert "ok: atlas first: 3 samples, embedding 4 OTUs (dim 8), kmer 4 OTUs (dim 8)" in capsys.readouterr().out

    # the same atlas mapped onto itself: every OTU onto itself, by centres
    assert main(["atlas", "map", str(out), str(out), "--out", str(tmp_path / "self.tsv")]) == 0
    mapping = pd.read_csv(tmp_path / "self.tsv", sep="\t")
    assert mapping.columns.tolist() == ["profile", "method", "old_otu", "new_otu", "agreement", "nearest_new_otu"]
    assert mapping["profile"].tolist() == ["kmer"] * 4 + ["embedding"] * 4 and set(mapping["method"]) == {"centres"}
    assert (mapping["old_otu"] == mapping["new_otu"]).all() and np.allclose(mapping["agreement"], 1.0)

    # an atlas with another encoder: k-mer OTUs only, unless the same reads embedded by both are given
    other_results, other_config = make_run(tmp_path / "other", weights_seed=1)
    other = tmp_path / "atlas" / "v2"
    freeze_atlas(other_results, other, other_config)
    capsys.readouterr()
    assert main(["atlas", "map", str(out), str(other), "--out", str(tmp_path / "map.tsv")]) == 0
    assert "--vectors OLD.npy NEW.npy" in capsys.readouterr().err
    assert set(pd.read_csv(tmp_path / "map.tsv", sep="\t")["profile"]) == {"kmer"}
    vectors = [str(results.parent / "embed" / "S1.npy"), str(other_results.parent / "embed" / "S1.npy")]
    assert main(["atlas", "map", str(out), str(other), "--out", str(tmp_path / "map.tsv"), "--vectors", *vectors]) == 0
    embedding = pd.read_csv(tmp_path / "map.tsv", sep="\t").query("profile == 'embedding'")
    assert len(embedding) == 4 and set(embedding["method"]) == {"reads"}

    (out / "kmer" / "otus.tsv").chmod(0o644)
    (out / "kmer" / "otus.tsv").write_text("otu\tindex\n")
    assert main(["atlas", "verify", str(out)]) == 2
    assert "atlas file changed since it was frozen" in capsys.readouterr().err
