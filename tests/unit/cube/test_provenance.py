"""Tests for planktonlm.cube.provenance: provenance attributes, package versions, model digest, truth table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planktonlm.cube.provenance import (
    PACKAGES,
    package_versions,
    provenance_attrs,
    read_model_sha256,
    read_truth_abundance,
)
from planktonlm.errors import PlanktonlmInputError


def test_package_versions() -> None:
    versions = package_versions(torch_version="9.9")
    assert versions["torch"] == "9.9" and set(versions) == set(PACKAGES)
    assert versions["pandas"] == pd.__version__ and versions["numpy"] == np.__version__


def test_provenance_attrs_are_sorted_json_and_need_the_checksums() -> None:
    attrs = provenance_attrs({"config_sha256": "c" * 64, "input_sha256": {"b": "2", "a": "1"},
                              "package_versions": {"numpy": "2"}})
    assert attrs["input_sha256"] == '{"a": "1", "b": "2"}' and attrs["model_sha256"] == ""
    assert json.loads(attrs["package_versions"]) == {"numpy": "2"}
    assert attrs["created_by"].startswith("planktonlm ")
    with pytest.raises(ValueError, match="needs config_sha256"):
        provenance_attrs({"config_sha256": "c" * 64})


def test_read_model_sha256(tmp_path: Path) -> None:
    (tmp_path / "ok.sha256").write_text("AB" * 32 + "  model.safetensors\n")
    assert read_model_sha256(tmp_path / "ok.sha256") == "ab" * 32
    (tmp_path / "bad.sha256").write_text("not-a-digest  model.safetensors\n")
    with pytest.raises(PlanktonlmInputError, match="SHA-256"):
        read_model_sha256(tmp_path / "bad.sha256")
    with pytest.raises(PlanktonlmInputError, match="cannot read"):
        read_model_sha256(tmp_path / "missing.sha256")


def test_read_truth_abundance(tmp_path: Path) -> None:
    table = pd.DataFrame([[0.2, 0.8]], index=pd.Index(["007"], name="x"), columns=["g1", "g2"])
    table.to_csv(tmp_path / "abundance.tsv", sep="\t")
    got, path = read_truth_abundance(tmp_path)
    assert path == str(tmp_path / "abundance.tsv")
    assert got.index.tolist() == ["007"] and got.index.name == "sample" and got.columns.tolist() == ["g1", "g2"]
    with pytest.raises(PlanktonlmInputError, match="truth table"):
        read_truth_abundance(tmp_path / "nowhere")
