"""The atlas: a finished run frozen (encoder, both OTU codebooks, their distances), so later cruises land in it.

A run that names an atlas embeds its reads with the atlas's encoder and assigns them to the
atlas's codebooks: OTU ids stay the same from cruise to cruise, and ``novelty.tsv`` says how much
of each new sample lies beyond the atlas (``planktonlm.profiles.novelty``). Layout::

    atlas/NAME/atlas.json          name, created_utc, planktonlm_version, source (the results folder),
                                   samples [{sample, cruise}] (the run's counts table; cruise from
                                   its sample sheet, null when unknown), profiles {embedding:
                                   {n_otus, dim}, kmer: {n_otus, dim, k}}, encoder_weights_sha256
    atlas/NAME/config.yaml         the validated config of the run that built it
    atlas/NAME/encoder/            model.pt, config.json, tokenizer.json, weights.sha256, train_log.tsv
                                   (results/model/; the train log for the report of later runs)
    atlas/NAME/embedding/          codebook.npy, distances.tsv (results/profile/embedding/), otus.tsv
    atlas/NAME/kmer/               codebook.npy, distances.tsv (results/profile/kmer/), otus.tsv
    atlas/NAME/MANIFEST.sha256     "<sha256>  <relative path>" per file (``sha256sum -c``), written
                                   last: an atlas without it is incomplete

``otus.tsv``: ``otu`` (eotu_0001 ..., the count table's column), ``index`` (0-based row of
codebook.npy). An atlas is read-only: its files are made read-only, ``freeze_atlas`` never writes
into an existing folder, and ``load_atlas`` checks every file against the manifest. A changed
atlas is a new atlas (a new name); ``planktonlm.profiles.otu_map`` translates OTU ids between two
atlases. This module stays light (no scikit-learn, no scipy): the workflow opens the atlas at
every DAG build.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from planktonlm import __version__
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import sha256_file, write_tsv
from planktonlm.profiles.tables import PROFILE_PREFIX, otu_column_names

PROFILES = ("embedding", "kmer")
MANIFEST = "MANIFEST.sha256"
ATLAS_JSON = "atlas.json"
CONFIG_YAML = "config.yaml"
ENCODER_WEIGHTS = "encoder/model.pt"
ENCODER_FILES = ("model.pt", "config.json", "tokenizer.json", "weights.sha256", "train_log.tsv")

#: atlas file -> the results file of the run that produced it (a run that froze an atlas keeps them)
LOCAL_FILES = {
    **{f"encoder/{name}": f"results/model/{name}" for name in ENCODER_FILES},
    **{f"{profile}/{name}": f"results/profile/{profile}/{name}" for profile in PROFILES
       for name in ("codebook.npy", "distances.tsv")},
}
_REWRITTEN_BY_EVERY_RUN = {f"{profile}/distances.tsv" for profile in PROFILES}
_PRODUCED_BY = {"model": "rule train_encoder", "codebook.npy": "rule fit_codebook", "distances.tsv": "rule collect_profile"}


@dataclass(frozen=True)
class Atlas:
    """A checked atlas folder (``load_atlas``)."""

    path: Path
    name: str
    files: Mapping[str, str]  # relative path -> SHA-256, as the manifest lists them
    kmer_k: int
    n_otus: Mapping[str, int]  # profile -> K
    dims: Mapping[str, int]  # profile -> vector dimension
    encoder_sha256: str  # SHA-256 of encoder/model.pt
    samples: tuple[Mapping[str, str | None], ...]  # {sample, cruise} of the run that built it

    def file(self, relpath: str) -> str:
        """Path of one of the atlas's files (``encoder/model.pt``, ``kmer/codebook.npy`` ...)."""
        if relpath not in self.files:
            raise KeyError(f"atlas {self.name} has no file {relpath!r}; files: {', '.join(sorted(self.files))}")
        return str(self.path / relpath)


# ----------------------------------------------------------------------------- freezing


def _results_file(results_dir: Path, relpath: str) -> Path:
    return results_dir / Path(LOCAL_FILES[relpath]).relative_to("results")


def _sample_cruises(results_dir: Path, config: Mapping) -> list[dict[str, str | None]]:
    """The run's samples (its counts table, in order) with their cruise from the sample sheet (None when unknown)."""
    tables = [results_dir / "profile" / profile / "counts.tsv" for profile in PROFILES]
    counts = next((table for table in tables if table.is_file()), None)
    if counts is None:
        return []
    samples = pd.read_csv(counts, sep="\t", usecols=["sample"], dtype=str)["sample"].tolist()
    cruises: dict[str, str] = {}
    sheet_name = str(config.get("samples") or "")
    # The sheet path is relative to the working directory, normally the results folder's parent.
    for sheet in (Path(sheet_name), results_dir.parent / sheet_name) if sheet_name else ():
        if sheet.is_file():
            table = pd.read_csv(sheet, sep="\t", dtype=str, comment="#")
            if {"sample", "cruise"} <= set(table.columns):
                cruises = dict(zip(table["sample"], table["cruise"]))
            break
    return [{"sample": s, "cruise": cruises.get(s)} for s in samples]


def _write_atlas_files(results_dir: Path, folder: Path, config: Mapping, name: str) -> None:
    """Copy and write every file of the atlas into ``folder`` (the manifest is left to the caller)."""
    for relpath in LOCAL_FILES:
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_results_file(results_dir, relpath), folder / relpath)
    recorded = (folder / "encoder" / "weights.sha256").read_text().split()[:1]  # "<sha256>  model.pt"
    weights_sha = sha256_file(folder / ENCODER_WEIGHTS)
    if recorded != [weights_sha]:
        raise PlanktonlmInputError(InputProblem(
            file=str(_results_file(results_dir, "encoder/weights.sha256")), value=recorded[0] if recorded else None,
            message="model.pt does not match weights.sha256 (damaged or replaced)", expected=weights_sha))
    profiles = {}
    for profile in PROFILES:
        centres = np.load(folder / profile / "codebook.npy", allow_pickle=False)
        if centres.ndim != 2:
            raise PlanktonlmInputError(InputProblem(file=str(_results_file(results_dir, f"{profile}/codebook.npy")),
                                                    value=centres.shape, message="not a codebook", expected="(K, dim) centres"))
        n_otus, dim = (int(n) for n in centres.shape)
        otus = pd.DataFrame({"otu": otu_column_names(n_otus, PROFILE_PREFIX[profile]), "index": np.arange(n_otus)})
        write_tsv(otus, folder / profile / "otus.tsv")
        profiles[profile] = {"n_otus": n_otus, "dim": dim}
    profiles["kmer"]["k"] = int(config["profiles"]["kmer_k"])
    description = {
        "name": name,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "planktonlm_version": __version__,
        "source": str(results_dir.resolve()),
        "samples": _sample_cruises(results_dir, config),
        "profiles": profiles,
        "encoder_weights_sha256": weights_sha,
    }
    (folder / ATLAS_JSON).write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
    (folder / CONFIG_YAML).write_text(yaml.safe_dump(dict(config), sort_keys=True))


def freeze_atlas(results_dir: str | os.PathLike, out_dir: str | os.PathLike, config: Mapping, *, name: str | None = None) -> Path:
    """Freeze the run of ``results_dir`` (its ``results/`` folder) into the atlas folder ``out_dir``.

    ``config`` is the run's validated config. Builds in a temporary sibling folder renamed at
    the end, so a failure leaves nothing behind; every file ends read-only. Returns the manifest's path.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if out_dir.exists():
        raise PlanktonlmInputError(InputProblem(file=str(out_dir), message="the atlas folder exists already",
                                                expected="a new folder: atlases are read-only, choose a new name"))
    missing = []
    for relpath in LOCAL_FILES:
        source = _results_file(results_dir, relpath)
        if not source.is_file():
            producer = _PRODUCED_BY.get(source.name) or _PRODUCED_BY[source.parent.name]
            missing.append(InputProblem(file=str(source), message="missing", expected=f"the output of {producer} (a finished run)"))
    if missing:
        raise PlanktonlmInputError(missing)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    building = out_dir.with_name(f".tmp-{os.getpid()}.{out_dir.name}")
    try:
        building.mkdir()
        _write_atlas_files(results_dir, building, config, name or out_dir.name)
        files = sorted(p.relative_to(building).as_posix() for p in building.rglob("*") if p.is_file())
        lines = [f"{sha256_file(building / rel)}  {rel}\n" for rel in files]
        (building / MANIFEST).write_text("".join(lines))
        for rel in [*files, MANIFEST]:
            (building / rel).chmod(0o444)
        building.rename(out_dir)
    finally:
        if building.exists():
            shutil.rmtree(building)
    return out_dir / MANIFEST


# ----------------------------------------------------------------------------- reading


def _read_manifest(folder: Path) -> dict[str, str]:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise PlanktonlmInputError(InputProblem(file=str(manifest), message="no manifest: the atlas is incomplete",
                                                expected=f"a folder written by `planktonlm atlas freeze` (ends with {MANIFEST})"))
    files = {}
    for row, line in enumerate(manifest.read_text().splitlines(), start=1):
        sha, sep, rel = line.partition("  ")
        if not sep or len(sha) != 64 or not rel:
            raise PlanktonlmInputError(InputProblem(file=str(manifest), row=row, value=line, message="not a manifest line",
                                                    expected="<sha256>  <relative path>"))
        files[rel] = sha
    return files


def load_atlas(path: str | os.PathLike, *, verify: bool = True) -> Atlas:
    """Open an atlas folder, checking every file against the manifest (``verify=False``: presence only)."""
    folder = Path(path)
    if not folder.is_dir():
        raise PlanktonlmInputError(InputProblem(file=str(folder), message="no atlas folder here",
                                                expected="a folder written by `planktonlm atlas freeze`"))
    files = _read_manifest(folder)
    problems = [InputProblem(file=str(folder / MANIFEST), value=rel, message="an atlas file is not in the manifest",
                             expected="the manifest of a complete atlas")
                for rel in [*LOCAL_FILES, ATLAS_JSON, CONFIG_YAML] if rel not in files]
    for rel, expected_sha in files.items():
        target = folder / rel
        if not target.is_file():
            problems.append(InputProblem(file=str(target), message="atlas file missing", expected="every file of the manifest"))
        elif verify and (actual := sha256_file(target)) != expected_sha:
            problems.append(InputProblem(file=str(target), value=actual, message="atlas file changed since it was frozen",
                                         expected=f"SHA-256 {expected_sha} (as in {MANIFEST})"))
    if problems:
        raise PlanktonlmInputError(problems)
    try:
        meta = json.loads((folder / ATLAS_JSON).read_text())
        profiles = meta["profiles"]
        return Atlas(path=folder, name=str(meta["name"]), files=files, kmer_k=int(profiles["kmer"]["k"]),
                     n_otus={p: int(profiles[p]["n_otus"]) for p in PROFILES}, dims={p: int(profiles[p]["dim"]) for p in PROFILES},
                     encoder_sha256=files[ENCODER_WEIGHTS],  # the manifest's (checked) digest, not atlas.json's copy
                     samples=tuple({"sample": s["sample"], "cruise": s.get("cruise")} for s in meta.get("samples", [])))
    except (ValueError, KeyError, TypeError) as exc:
        raise PlanktonlmInputError(InputProblem(file=str(folder / ATLAS_JSON), message=f"unreadable atlas description: {exc!r}",
                                                expected="the atlas.json written by `planktonlm atlas freeze`")) from exc


def resolve_atlas_file(atlas: Atlas, relpath: str, local_path: str | os.PathLike) -> str:
    """``local_path`` when it holds exactly the atlas's ``relpath``, else the atlas's file.

    The run that froze the atlas keeps using its own results files, so its per-sample outputs
    (whose inputs do not change) stay valid. Cheap: sizes first; model.pt is compared through the
    weights.sha256 beside it, which the train stage writes from the weights and every model load
    checks, instead of hashing the weights at every DAG build.
    """
    atlas_path = atlas.file(relpath)  # KeyError for a file the atlas does not hold
    local = Path(local_path)
    if not local.is_file() or local.stat().st_size != Path(atlas_path).stat().st_size:
        return atlas_path
    recorded = local.with_name("weights.sha256") if relpath == ENCODER_WEIGHTS else None
    if recorded is not None and recorded.is_file():
        same = recorded.read_text().split()[:1] == [atlas.files[relpath]]
    else:
        same = sha256_file(local) == atlas.files[relpath]
    return str(local) if same else atlas_path


def read_otu_ids(atlas: Atlas, profile: str) -> list[str]:
    """The OTU ids of one of the atlas's codebooks, in codebook row order."""
    otus = pd.read_csv(atlas.file(f"{profile}/otus.tsv"), sep="\t", dtype={"otu": str})
    return otus.sort_values("index")["otu"].tolist()


def atlas_inputs(atlas: Atlas) -> dict[str, str]:
    """The path a job reads for each atlas file of ``LOCAL_FILES`` (see ``resolve_atlas_file``).

    The distance quantiles are always the atlas's: every run's collect_profile rewrites its local
    distances.tsv, which therefore cannot also be that job's reference input.
    """
    paths = {relpath: atlas.file(relpath) if relpath in _REWRITTEN_BY_EVERY_RUN else resolve_atlas_file(atlas, relpath, local)
             for relpath, local in LOCAL_FILES.items()}
    # The encoder's files are read as one folder (weights, config, tokenizer side by side): all
    # local, or all the atlas's.
    encoder = [relpath for relpath in paths if relpath.startswith("encoder/")]
    if any(paths[relpath] == atlas.file(relpath) for relpath in encoder):
        paths.update({relpath: atlas.file(relpath) for relpath in encoder})
    return paths
