"""Workflow configuration: JSON-schema validation with defaults, once, at the boundary.

The schemas live in ``workflow/schemas/`` (``planktonlm/schemas`` links there so that the
package finds them however it is installed). Stages receive typed, frozen dataclasses built
from the validated sections; they never see raw YAML.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import yaml

from planktonlm.errors import InputProblem, PlanktonlmInputError

T = TypeVar("T")


@cache
def load_schema(name: str) -> dict:
    """Load ``<name>.schema.yaml`` shipped with the package."""
    text = resources.files("planktonlm").joinpath("schemas", f"{name}.schema.yaml").read_text()
    return yaml.safe_load(text)


def _fill_defaults(instance: Any, schema: dict) -> Any:
    """Insert schema defaults for missing keys, recursively (objects only)."""
    if schema.get("type") == "object" and isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                instance[key] = _fill_defaults(instance[key], sub)
    return instance


def validate_against_schema(instance: Any, schema: dict, *, file: str, row: int | None = None) -> list[InputProblem]:
    """Every schema violation of ``instance`` as an InputProblem (none = valid)."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in err.absolute_path) or None
        sub = err.schema if isinstance(err.schema, dict) else {}
        expected = sub.get("description")
        if err.validator == "additionalProperties":
            expected = "one of the documented keys (see config/README.md)"
        problems.append(
            InputProblem(
                file=file,
                row=row,
                column=path,
                value=None if err.validator in ("required", "additionalProperties") else err.instance,
                message=err.message,
                expected=expected,
            )
        )
    return problems


def validate_config(config: dict, *, file: str = "config/config.yaml") -> dict:
    """Return a copy of ``config`` with defaults filled in; raise PlanktonlmInputError if invalid.

    Besides the schema, the checks across keys: ``atlas`` needs reads (not with
    ``published.environment``) and replaces ``model.checkpoint``, ``select.layers`` needs ``published.layer_pattern``, and the
    bounds of ``select`` are in order (:func:`select_problems`).
    """
    schema = load_schema("config")
    filled = _fill_defaults(copy.deepcopy(dict(config)), schema)
    problems = validate_against_schema(filled, schema, file=file)
    if not problems:
        problems = select_problems(filled["select"], file=file)
        if filled["select"]["layers"] and not (is_published(filled) and filled["published"]["layer_pattern"]):
            problems.append(InputProblem(
                file=file, column="select.layers", value=filled["select"]["layers"],
                message="no sampling layer to select by: layers come from published.layer_pattern (published tables); "
                        "sample sheets have none",
                expected="select.layers only with published.environment and published.layer_pattern; select sample "
                         "sheets by select.depth_m"))
        if filled["atlas"] and is_published(filled):
            problems.append(InputProblem(
                file=file, column="atlas", value=filled["atlas"],
                message="an atlas assigns reads, but published.environment starts the run from published tables (no reads)",
                expected='atlas: "" for published tables, or no published.environment for a run on reads'))
        if filled["atlas"] and filled["model"]["checkpoint"]:
            problems.append(InputProblem(
                file=file, column="model.checkpoint", value=filled["model"]["checkpoint"],
                message="an atlas brings its own encoder: model.checkpoint would not be used",
                expected='model.checkpoint: "" with an atlas, or atlas: "" to embed with the checkpoint'))
    if problems:
        raise PlanktonlmInputError(problems)
    return filled


def select_problems(select: Mapping[str, Any], *, file: str = "config") -> list[InputProblem]:
    """What the schema cannot say about a filled ``select`` section: each [low, high] pair in order."""
    problems = []
    for key in ("depth_m", "years"):
        low, high = select.get(key) or (None, None)
        if low is not None and high is not None and low > high:
            problems.append(InputProblem(file=file, column=f"select.{key}", value=[low, high],
                                         message="the lower bound is above the upper bound",
                                         expected="[low, high] with low <= high (null = no bound on that side)"))
    return problems


def as_paths(value: str | os.PathLike | Sequence[str | os.PathLike] | None) -> list[str]:
    """A config value holding one path or a list of paths (``samples``, ``units``, ``oracle_truth``)
    as a list of paths; "" and None give []."""
    if value is None or value == "":
        return []
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    return [os.fspath(v) for v in value]


def atlas_folder(config: Mapping[str, Any]) -> str | None:
    """The frozen atlas folder the run assigns reads to (config ``atlas``), or None without one.

    Only the path: :func:`planktonlm.profiles.atlas.load_atlas` reads and verifies the folder.
    """
    return str(config.get("atlas") or "") or None


def oracle_truth_folders(config: Mapping[str, Any]) -> list[str]:
    """The simulator's truth folders (config ``oracle_truth``: one path or a list), [] for real data."""
    return as_paths(config.get("oracle_truth"))


def load_config(path: str | Path) -> dict:
    """Read and validate a config YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PlanktonlmInputError(InputProblem(file=str(path), message=f"cannot read YAML: {exc}")) from exc
    return validate_config(raw, file=str(path))


def is_published(config: Mapping[str, Any]) -> bool:
    """True when the config runs on published tables (``published.environment`` set): the
    workflow then skips QC, encoder and read profiles and builds the cube from the tables."""
    return bool((config.get("published") or {}).get("environment"))


def section_schema(section: str) -> dict:
    """The JSON schema of one top-level config section (``shifts``, ``train``, ...)."""
    properties = load_schema("config")["properties"]
    if section not in properties:
        raise KeyError(f"no config section {section!r}; sections: {', '.join(properties)}")
    return properties[section]


def validate_section(section: str, values: Mapping[str, Any] | None = None, *, file: str = "config/config.yaml") -> dict:
    """One section with the schema's defaults filled in and checked against its bounds.

    For stages and tests that need a section on its own: the defaults and the bounds live only in
    the schema, so a section built here is exactly what :func:`validate_config` would give.
    """
    schema = section_schema(section)
    filled = _fill_defaults(copy.deepcopy(dict(values or {})), schema)
    problems = [
        dataclasses.replace(p, column=f"{section}.{p.column}" if p.column else section)
        for p in validate_against_schema(filled, schema, file=file)
    ]
    if problems:
        raise PlanktonlmInputError(problems)
    return filled


def build_config(cls: type[T], section: str, values: Mapping[str, Any] | None = None, **overrides: Any) -> T:
    """The frozen dataclass ``cls`` of config section ``section``.

    ``values`` is the section as the validated config holds it (a rule's params); ``overrides``
    replace single keys (tests, benchmarks). Defaults and bounds come from the schema only: keys
    left out take the schema's default, and every value is checked against its bounds.
    """
    merged = {**dict(values or {}), **overrides}
    filled = validate_section(section, merged)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in filled.items() if k in names})


# Sections read only by the stages after the cube: changing them must not rebuild the cube.
DOWNSTREAM_OF_CUBE = ("ecology", "shifts", "report")
# Keys that say how the work is cut into jobs, never what a job computes: they stay out of the
# rules' params and of the cube's config (and its provenance hash), so changing one reruns nothing.
SCHEDULING_KEYS = {"embed": ("samples_per_job",)}


def job_section(config: Mapping[str, Any], section: str) -> dict:
    """A config section as a rule's params: the section without its :data:`SCHEDULING_KEYS`."""
    dropped = SCHEDULING_KEYS.get(section, ())
    return {k: v for k, v in config[section].items() if k not in dropped}


def cube_config(config: Mapping[str, Any]) -> dict:
    """The config the cube depends on (and records the hash of): every section but those after it,
    without the keys that only cut jobs (:data:`SCHEDULING_KEYS`)."""
    return {k: job_section(config, k) if k in SCHEDULING_KEYS else v for k, v in config.items()
            if k not in DOWNSTREAM_OF_CUBE}


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the validated config (canonical JSON), recorded as provenance."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def cuda_gpu_visible(environ: Mapping[str, str] | None = None, dev_dir: str | Path = "/dev") -> bool:
    """Whether an NVIDIA GPU is visible to jobs started here, without importing torch.

    A device node ``/dev/nvidia<N>`` must exist, and ``CUDA_VISIBLE_DEVICES``, when set, must
    name at least one device (empty or ``-1`` hides them all, as CUDA itself reads it).
    """
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "NoDevFiles"):
        return False
    return any(re.fullmatch(r"nvidia\d+", p.name) for p in Path(dev_dir).glob("nvidia*"))


def encoder_gpu_count(device: str, *, gpu_visible: bool | None = None) -> int:
    """GPUs an encoder job (training, embedding) declares as ``resources: gpu``.

    ``cuda`` -> 1; ``auto`` -> 1 only when a GPU is visible (:func:`cuda_gpu_visible`); ``cpu``
    -> 0. A CPU job holding the gpu resource would be queued one at a time behind it: on a
    machine without a GPU, ``auto`` must not serialise the embedding jobs.
    """
    if device == "cuda":
        return 1
    if device == "auto":
        return int(cuda_gpu_visible() if gpu_visible is None else gpu_visible)
    return 0


# The bundled base models, beside the workflow: a model.base that is not an existing folder names one.
BUNDLED_MODELS_DIR = Path(__file__).resolve().parents[2] / "resources" / "models"


def model_base_folder(value: str, bundled_dir: str | os.PathLike | None = None) -> str | None:
    """The folder ``model.base`` names: None for "none"; the path itself when it is a folder (relative
    to the working directory); else the bundled model of that name (``<repo>/resources/models/<value>``).

    Raises a PlanktonlmInputError naming the value when it is neither.
    """
    if value == "none":
        return None
    if Path(value).is_dir():
        return value
    bundled = Path(bundled_dir) if bundled_dir is not None else BUNDLED_MODELS_DIR
    if (bundled / value).is_dir():
        return os.fspath(bundled / value)
    available = sorted(p.name for p in bundled.iterdir() if p.is_dir()) if bundled.is_dir() else []
    raise PlanktonlmInputError(InputProblem(
        file="config", column="model.base", value=value, message="no such model folder, and no bundled model of that name",
        expected=f"a folder written by `planktonlm pretrain` or the train stage, a bundled model ({', '.join(available) or 'none found'} "
                 f"in {bundled}), or 'none' to train from scratch"))
