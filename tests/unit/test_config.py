"""Tests for planktonlm.config: which encoder jobs declare the gpu resource; the model.base key."""

from __future__ import annotations

from pathlib import Path

import pytest

from planktonlm.config import build_config, cuda_gpu_visible, encoder_gpu_count, section_schema
from planktonlm.errors import PlanktonlmInputError


@pytest.fixture
def dev_with_gpu(tmp_path):
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    return tmp_path


def test_gpu_visible_needs_a_device_node(tmp_path, dev_with_gpu):
    (tmp_path / "empty").mkdir()
    assert cuda_gpu_visible({}, dev_with_gpu)
    assert not cuda_gpu_visible({}, tmp_path / "empty")
    (tmp_path / "empty" / "nvidiactl").touch()  # the control node alone is no GPU
    assert not cuda_gpu_visible({}, tmp_path / "empty")


@pytest.mark.parametrize(("visible", "expected"), [("", False), ("-1", False), ("0", True), ("GPU-1a2b", True)])
def test_cuda_visible_devices_can_hide_the_gpu(dev_with_gpu, visible, expected):
    assert cuda_gpu_visible({"CUDA_VISIBLE_DEVICES": visible}, dev_with_gpu) is expected


@pytest.mark.parametrize(("device", "visible", "expected"),
                         [("cuda", False, 1), ("cuda", True, 1), ("auto", True, 1), ("auto", False, 0), ("cpu", True, 0)])
def test_encoder_gpu_count(device, visible, expected):
    # On a CPU-only machine `auto` must declare no GPU, or the embedding jobs queue
    # one at a time behind the profile's gpu=1 limit.
    assert encoder_gpu_count(device, gpu_visible=visible) == expected


def test_model_base_is_a_folder_or_none_and_documented():
    from planktonlm.encoder.model import NO_BASE, ModelConfig

    schema = section_schema("model")["properties"]
    assert build_config(ModelConfig, "model").base == schema["base"]["default"]  # the default lives in the schema only
    assert build_config(ModelConfig, "model", base=NO_BASE).base == "none"
    assert build_config(ModelConfig, "model", base="resources/models/x").base == "resources/models/x"
    with pytest.raises(PlanktonlmInputError, match="model.base"):
        build_config(ModelConfig, "model", base="")  # "" would be ambiguous: from scratch is spelled "none"
    readme = (Path(__file__).resolve().parents[2] / "config" / "README.md").read_text()
    for key in schema:
        assert f"| `model.{key}` |" in readme, key


def test_model_base_names_a_folder_a_bundled_model_or_none(tmp_path, monkeypatch):
    from planktonlm.config import model_base_folder

    bundled = tmp_path / "models"
    (bundled / "marine-x").mkdir(parents=True)
    own = tmp_path / "work" / "my-base"
    own.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    assert model_base_folder("none", bundled) is None
    assert model_base_folder("my-base", bundled) == "my-base"  # a folder of the working directory comes first
    assert model_base_folder("marine-x", bundled) == str(bundled / "marine-x")
    with pytest.raises(PlanktonlmInputError, match="marine-x") as excinfo:
        model_base_folder("marine-y", bundled)  # the error lists what is bundled
    assert "model.base" in str(excinfo.value)


def test_the_default_base_is_bundled():
    from planktonlm.config import BUNDLED_MODELS_DIR, model_base_folder

    default = section_schema("model")["properties"]["base"]["default"]
    folder = model_base_folder(default)
    assert folder == str(BUNDLED_MODELS_DIR / default)
    for name in ("model.pt", "config.json", "tokenizer.json", "weights.sha256", "genomes.tsv", "MODEL_CARD.md"):
        assert (BUNDLED_MODELS_DIR / default / name).is_file(), name


def test_samples_per_job_cuts_jobs_and_is_in_no_params_nor_the_cube_hash():
    """embed.samples_per_job changes how many samples a job embeds, never a vector: it stays out of the
    embedding rules' params and the cube's config, so changing it reruns nothing by itself."""
    from planktonlm.config import config_hash, cube_config, job_section, validate_config

    default = validate_config({"samples": "s", "units": "u"})
    one = validate_config({"samples": "s", "units": "u", "embed": {"samples_per_job": 1}})
    assert default["embed"]["samples_per_job"] == section_schema("embed")["properties"]["samples_per_job"]["default"] == 8
    assert one["embed"]["samples_per_job"] == 1
    assert job_section(default, "embed") == job_section(one, "embed")
    assert "samples_per_job" not in job_section(default, "embed") and "reads_per_sample" in job_section(default, "embed")
    assert job_section(default, "train") == default["train"]
    assert config_hash(cube_config(default)) == config_hash(cube_config(one))
    assert "samples_per_job" not in cube_config(default)["embed"] and default["embed"]["samples_per_job"] == 8  # not mutated
    other = validate_config({"samples": "s", "units": "u", "embed": {"reads_per_sample": 7}})
    assert config_hash(cube_config(other)) != config_hash(cube_config(default))
    with pytest.raises(PlanktonlmInputError, match="embed.samples_per_job"):
        validate_config({"samples": "s", "units": "u", "embed": {"samples_per_job": 0}})
