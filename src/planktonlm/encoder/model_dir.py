"""The model folder: what training writes, what embedding and the benchmarks load.

    model.pt            state_dict, byte-stable torch.save (CPU tensors, sorted keys)
    config.json         architecture (``model``), tokenizer, training settings, seed, the base
                        model it was fine-tuned from (``base``: path and weights SHA-256, or null),
                        versions
    tokenizer.json      the TokenizerSpec
    train_log.tsv       one row per log line of training (reads_per_s is wall-clock time)
    train_reads.tsv.gz  sample, read_id of the training pool (benchmarks hold those reads out)
    weights.sha256      SHA-256 of model.pt, written last: it marks a complete folder
    checkpoints/last.pt training state for resuming (written by :mod:`planktonlm.encoder.train`)

``model.checkpoint`` reuses a folder written elsewhere: :func:`import_checkpoint` checks that it
loads and copies it in place of training. ``model.base`` names a folder of the same format to
fine-tune: :func:`training_architecture` loads it (:func:`load_base`), and its architecture,
tokenizer and weights are where training starts.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from planktonlm import __version__
from planktonlm.config import model_base_folder
from planktonlm.encoder.device import resolve_device
from planktonlm.encoder.model import NO_BASE, ModelConfig, ReadEncoder, ReadEncoderConfig
from planktonlm.encoder.tokenizer import TokenizerSpec
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path, sha256_file

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.pt"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
LOG_FILE = "train_log.tsv"
SHA_FILE = "weights.sha256"
POOL_FILE = "train_reads.tsv.gz"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FILE = "last.pt"
LOG_COLUMNS = ["step", "lr", "loss", "mlm_loss", "contrastive_loss",
               "val_loss", "val_mlm_loss", "val_contrastive_loss", "reads_per_s"]


# ----------------------------------------------------------------------------- writing


def save_torch(path: Path, obj: object) -> None:
    """torch.save ``obj`` to ``path`` atomically, with bytes that do not depend on the process."""
    # torch.save names the zip archive after the file it writes to (here a pid-tagged temporary
    # name), so saving to a buffer first keeps the bytes independent of the process.
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())


def state_dict_bytes_stable(model: ReadEncoder) -> dict[str, torch.Tensor]:
    """CPU, contiguous copies of the weights in sorted key order: torch.save of this is byte-stable."""
    return {key: value.detach().to("cpu").contiguous().clone() for key, value in sorted(model.state_dict().items())}


def write_log(path: Path, rows: Sequence[Mapping]) -> None:
    """train_log.tsv: LOG_COLUMNS, numbers to 6 significant digits."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as out:
            out.write("\t".join(LOG_COLUMNS) + "\n")
            for row in rows:
                out.write("\t".join(_fmt(row[c]) for c in LOG_COLUMNS) + "\n")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_pool_ids(path: Path, fragments: Sequence) -> None:
    with atomic_path(path) as tmp:
        # mtime=0: the gzip header carries no timestamp, so the file is byte-stable.
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(b"sample\tread_id\n")
            for f in fragments:
                gz.write(f"{getattr(f, 'sample', '')}\t{f.read_id}\n".encode())


def write_model_folder(model: ReadEncoder, model_dir: Path, model_cfg: ReadEncoderConfig, tok_spec: TokenizerSpec,
                       train_settings: Mapping | None, seed: int | None, pool: Sequence, n_train: int, n_val: int,
                       log_rows: Sequence[Mapping], base: BaseModel | None = None) -> None:
    """Write weights, config, tokenizer, log, pool ids; the SHA-256 file last (it marks completion).

    ``train_settings``: the training config as a dict (None for a model that was not trained here).
    ``base``: the model it was fine-tuned from, recorded in config.json (None: trained from scratch).
    """
    model_dir = Path(model_dir)
    tok_spec.save(model_dir / TOKENIZER_FILE)
    _write_json(model_dir / CONFIG_FILE, {
        "format": "planktonlm-model", "version": 1, "model": model_cfg.to_dict(), "tokenizer": asdict(tok_spec),
        "base": base.provenance() if base is not None else None,
        "train": dict(train_settings) if train_settings else None, "seed": seed, "n_train_fragments": n_train,
        "n_val_fragments": n_val, "planktonlm_version": __version__, "torch_version": torch.__version__,
    })
    write_log(model_dir / LOG_FILE, log_rows)
    _write_pool_ids(model_dir / POOL_FILE, pool)
    save_torch(model_dir / WEIGHTS_FILE, state_dict_bytes_stable(model))
    with atomic_path(model_dir / SHA_FILE) as tmp:
        Path(tmp).write_text(f"{sha256_file(model_dir / WEIGHTS_FILE)}  {WEIGHTS_FILE}\n")
    logger.info("model written to %s (sha256 %s)", model_dir, (model_dir / SHA_FILE).read_text().split()[0])


# ----------------------------------------------------------------------------- loading


def load_model(model_dir: str | os.PathLike, device: str = "cpu") -> tuple[ReadEncoder, TokenizerSpec, ReadEncoderConfig]:
    """Load a trained model folder (weights checked against weights.sha256); model in eval mode."""
    model_dir = Path(model_dir)
    problems = [InputProblem(file=str(model_dir / name), message="missing from the model folder",
                             expected="a folder written by planktonlm's train stage")
                for name in (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE, SHA_FILE) if not (model_dir / name).is_file()]
    if problems:
        raise PlanktonlmInputError(problems)
    expected_sha = weights_sha256(model_dir)
    actual_sha = sha256_file(model_dir / WEIGHTS_FILE)
    if actual_sha != expected_sha:
        raise PlanktonlmInputError(InputProblem(file=str(model_dir / WEIGHTS_FILE), value=actual_sha,
                                                message="weights do not match weights.sha256 (damaged or replaced)",
                                                expected=expected_sha))
    try:
        config = json.loads((model_dir / CONFIG_FILE).read_text())
        model_cfg = ReadEncoderConfig(**config["model"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PlanktonlmInputError(InputProblem(file=str(model_dir / CONFIG_FILE), message=f"unreadable model config: {exc}",
                                                expected="config.json written by planktonlm")) from exc
    tok_spec = TokenizerSpec.load(model_dir / TOKENIZER_FILE)
    plan = resolve_device(device)
    model = ReadEncoder(model_cfg)
    try:
        model.load_state_dict(torch.load(model_dir / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, ValueError) as exc:  # weights of another architecture, or no torch file at all
        raise PlanktonlmInputError(InputProblem(file=str(model_dir / WEIGHTS_FILE), message=f"weights do not load: {exc}",
                                                expected=f"the weights of the architecture in {CONFIG_FILE}")) from exc
    return model.to(plan.device).eval(), tok_spec, model_cfg


def weights_sha256(model_dir: str | os.PathLike) -> str:
    """The SHA-256 of model.pt as weights.sha256 records it (checked by :func:`load_model`)."""
    return (Path(model_dir) / SHA_FILE).read_text().split()[0]


def train_seed(model_dir: str | os.PathLike) -> int | None:
    """The seed a model folder was trained with (None for an untrained or imported-without-seed model)."""
    return json.loads((Path(model_dir) / CONFIG_FILE).read_text()).get("seed")


# ----------------------------------------------------------------------------- reuse


def import_model(source_dir: str | os.PathLike, model_dir: str | os.PathLike) -> Path:
    """Copy a trained model folder into ``model_dir`` after checking it loads."""
    source_dir, model_dir = Path(source_dir), Path(model_dir)
    load_model(source_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, TOKENIZER_FILE, LOG_FILE, POOL_FILE, WEIGHTS_FILE, SHA_FILE):  # sha last
        if (source_dir / name).is_file():
            with atomic_path(model_dir / name) as tmp:
                shutil.copyfile(source_dir / name, tmp)
    logger.info("reusing the trained model in %s (no training)", source_dir)
    return model_dir


def import_checkpoint(model_section: ModelConfig, model_dir: str | os.PathLike) -> Path:
    """``model.checkpoint``: copy that model folder into ``model_dir`` instead of training.

    The folder's own architecture wins over the ``model:`` keys of the config (a warning says so).
    A folder without train_log.tsv gets one with the header only.
    """
    checkpoint = Path(model_section.checkpoint)
    if model_section.base != NO_BASE:
        logger.warning("model.checkpoint %s is reused as it is: model.base %s is not read and nothing is trained",
                       checkpoint, model_section.base)
    if not checkpoint.is_dir():
        raise PlanktonlmInputError(InputProblem(file="config", column="model.checkpoint", value=str(checkpoint),
                                                message="no such folder",
                                                expected="a model folder written by planktonlm, or '' to train"))
    out = import_model(checkpoint, model_dir)
    if not (out / LOG_FILE).is_file():  # a folder without a training log still gives the declared output
        write_log(out / LOG_FILE, [])
    _, spec, cfg = load_model(out)
    if cfg != model_section.encoder_config() or spec != model_section.tokenizer_spec():
        logger.warning("model.checkpoint %s has its own architecture (%s, %s): the model: keys of the "
                       "config are ignored", checkpoint, cfg, spec)
    return out


# ----------------------------------------------------------------------------- fine-tuning


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value; two loads are two objects
class BaseModel:
    """A pretrained model folder that training starts from (``model.base``)."""

    path: str  # as given in the config
    sha256: str  # of its model.pt, checked against its weights.sha256
    config: ReadEncoderConfig
    tok_spec: TokenizerSpec
    weights: Mapping[str, torch.Tensor] = field(repr=False)  # CPU state_dict

    def provenance(self) -> dict:
        """What config.json of a fine-tuned model records about its base."""
        return {"path": self.path, "weights_sha256": self.sha256}


def load_base(path: str | os.PathLike) -> BaseModel:
    """Load and check the base model folder ``path`` (weights against weights.sha256).

    Every problem names the folder's file and the ``model.base`` key, so that a missing, partial or
    damaged base stops training before any step.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise PlanktonlmInputError(InputProblem(
            file=str(folder), column="model.base", value=str(path), message="base model folder not found",
            expected=f"a model folder ({WEIGHTS_FILE}, {CONFIG_FILE}, {TOKENIZER_FILE}, {SHA_FILE}) or '{NO_BASE}' "
                     "to train from scratch"))
    try:
        model, spec, cfg = load_model(folder)
    except PlanktonlmInputError as exc:
        raise PlanktonlmInputError([replace(p, column=p.column or "model.base", message=f"base model: {p.message}")
                                    for p in exc.problems]) from exc
    return BaseModel(path=os.fspath(path), sha256=weights_sha256(folder), config=cfg, tok_spec=spec,
                     weights=state_dict_bytes_stable(model))


def _base_values(base: BaseModel) -> dict[str, object]:
    """The ``model:`` keys that a base replaces, with the base's value of each."""
    return {"tokenizer": base.tok_spec.kind, "k": base.tok_spec.k, "n_layer": base.config.n_layer,
            "n_head": base.config.n_head, "d_model": base.config.d_model, "max_len": base.config.max_len,
            "dropout": base.config.dropout}


def training_architecture(model_section: ModelConfig, base_dir: str | os.PathLike | None = None,
                          ) -> tuple[ReadEncoderConfig, TokenizerSpec, BaseModel | None]:
    """(architecture, tokenizer, base) that training on this cruise uses.

    ``model.base`` "none": the ``model:`` keys, no base (training from scratch). Otherwise the
    base's architecture and tokenizer, and the base to start from; one log line names the base and
    the ``model:`` keys that were set to something else and are therefore not used. ``base_dir``:
    the folder ``model.base`` resolved to (:func:`planktonlm.config.model_base_folder`; default:
    the value itself, or the bundled model of that name).
    """
    if model_section.base == NO_BASE:
        return model_section.encoder_config(), model_section.tokenizer_spec(), None
    base = load_base(base_dir if base_dir is not None else model_base_folder(model_section.base))
    section = asdict(model_section)
    section["k"] = 1 if model_section.tokenizer == "nucleotide" else model_section.k  # as the tokenizer reads it
    differ = [f"{key}={section[key]} (base {value})" for key, value in _base_values(base).items() if section[key] != value]
    logger.info("fine-tuning the base model %s (sha256 %s): its architecture and tokenizer are used; %s", base.path,
                base.sha256, "model: keys not used: " + ", ".join(differ) if differ else "the model: keys agree with it")
    return base.config, base.tok_spec, base
