"""Tests for planktonlm.cube.published: the cube of published tables (layer coordinate, units, provenance).

Reading and checking the tables themselves: tests/unit/inputs/test_published.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from planktonlm.config import config_hash
from planktonlm.cube.published import build_published_cube, make_published_cube
from planktonlm.cube.store import read_cube
from planktonlm.cube.tables import environment_table, profile_table, sample_metadata
from planktonlm.errors import PlanktonlmInputError
from planktonlm.inputs.published import PublishedConfig
from planktonlm.io import sha256_file

SAMPLES = ["S1DCM", "S1SUR", "S2SUR", "S3DCM"]


def published_section(tmp_path: Path, extra_sample: str | None = None) -> dict:
    """A four-sample environment table and a taxa table covering three of the samples."""
    env = ["Sample\tTemp\tLat\tFlux"] + [f"{s}\t{10 + i}.5\t{40 + i}\t{0.1 * i:.1f}" for i, s in enumerate(SAMPLES)]
    (tmp_path / "env.tsv").write_text("\n".join(env) + "\n")
    rows = ["Sample\tTaxon_a\tTaxon_b"] + [f"{s}\t{i}\t{10 - i}" for i, s in enumerate([*SAMPLES[:3], *filter(None, [extra_sample])])]
    (tmp_path / "taxa.tsv").write_text("\n".join(rows) + "\n")
    return {
        "environment": str(tmp_path / "env.tsv"), "station_pattern": "^(S[0-9]+)", "layer_pattern": "(SUR|DCM)$",
        "columns": {"Temp": "temperature_c", "Lat": "latitude", "Flux": "carbon_flux"},
        "units": {"carbon_flux": "mg m-2 d-1"}, "profiles": {"taxa": str(tmp_path / "taxa.tsv")},
    }


def test_published_cube_layout_and_provenance(tmp_path: Path) -> None:
    section = published_section(tmp_path)
    config = {"seed": 1, "published": section}
    written = make_published_cube(section, tmp_path / "cube.nc", config)
    ds = read_cube(tmp_path / "cube.nc")
    assert json.loads(ds.attrs["profiles"]) == ["taxa"] and ds.attrs["model_sha256"] == ""
    assert ds.attrs["config_sha256"] == config_hash(config)
    assert json.loads(ds.attrs["input_sha256"]) == {p: sha256_file(p) for p in (section["environment"], section["profiles"]["taxa"])}
    assert ds.attrs["source"] == f"published tables: {section['environment']}, {section['profiles']['taxa']}"

    env = environment_table(ds)
    assert list(env.columns) == ["temperature_c", "carbon_flux", "layer_sur_index"]
    assert env["layer_sur_index"].tolist() == [0.0, 1.0, 1.0, 0.0]  # DCM, alphabetically first, is the reference
    assert ds["layer_sur_index"].attrs["long_name"] == "sampling layer is SUR (1) or not (0)"
    assert ds["layer"].values.tolist() == ["DCM", "SUR", "SUR", "DCM"]
    assert ds["carbon_flux"].attrs["units"] == "mg m-2 d-1" and ds["carbon_flux"].attrs["source_column"] == "Flux"
    assert ds["temperature_c"].attrs["units"] == "degree_Celsius"

    meta = sample_metadata(ds)
    assert meta["station"].tolist() == ["S1", "S1", "S2", "S3"] and meta["datetime"].isna().all()
    np.testing.assert_array_equal(meta["latitude"].to_numpy(), [40.0, 41.0, 42.0, 43.0])
    taxa = profile_table(ds, "taxa")
    assert taxa.loc["S3DCM"].isna().all() and taxa.loc["S2SUR"].tolist() == [2.0, 8.0]
    assert ds["abundance_taxa"].attrs["n_samples_absent"] == 1
    assert written.attrs == ds.attrs


def test_profile_samples_must_be_in_the_environment_table(tmp_path: Path) -> None:
    cfg = PublishedConfig.from_section(published_section(tmp_path, extra_sample="S9SUR"))
    with pytest.raises(PlanktonlmInputError, match="not in the environment table") as caught:
        build_published_cube(cfg, {})
    assert [p.value for p in caught.value.problems] == ["S9SUR"]
