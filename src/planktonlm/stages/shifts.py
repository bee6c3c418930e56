"""Stage of rule ``shifts``: the cube (+ the ecology stage's PCoA axes and diversity of the read
profiles) -> one TSV per shift table and ``models.pkl``.

Rule contract: input ``cube``, ``pcoa_<profile>``, ``alpha_<profile>`` (read profiles only);
output one entry per name of :data:`~planktonlm.stats.shift_tables.SHIFT_TABLES` and ``models``;
params ``shifts`` (the config section), ``seed``; threads. ``models.pkl`` is always written: the
fitted models, or, when ``shifts.save_models`` is false,
:data:`~planktonlm.stats.shift_tables.MODELS_NOT_KEPT` (a dict saying no model was kept).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from planktonlm.config import build_config
from planktonlm.cube.store import read_cube
from planktonlm.cube.tables import environment_table, profile_names, profile_table, sample_metadata
from planktonlm.io import setup_logging
from planktonlm.stages import Job
from planktonlm.stats.shift_tables import SHIFT_TABLES, ShiftResults, ShiftsConfig, write_shift_outputs, write_shift_tables
from planktonlm.stats.shifts import run_shifts

logger = logging.getLogger(__name__)

SHIFT_OUTPUTS = (*SHIFT_TABLES, "models")


def shifts(job: Job) -> None:
    """Run the shifts stage of one rule job and write every declared output."""
    setup_logging(job.log)
    job.require_outputs(SHIFT_OUTPUTS, "shifts")
    cfg = build_config(ShiftsConfig, "shifts", job.params["shifts"])
    results = shift_results(job.input["cube"], cfg, job.params["seed"], ecology_inputs(job.input), n_jobs=job.threads)
    write_shift_outputs(results, job.output, save_models=cfg.save_models)


def ecology_inputs(inputs: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The rule's ``pcoa_<profile>`` / ``alpha_<profile>`` inputs as profile -> {"pcoa": ..., "alpha": ...}."""
    return {key[len("pcoa_"):]: {"pcoa": path, "alpha": inputs[f"alpha_{key[len('pcoa_'):]}"]}
            for key, path in inputs.items() if key.startswith("pcoa_")}


def ecology_community_tables(paths: Mapping[str, Mapping[str, str | Path]], cfg: ShiftsConfig) -> dict[str, pd.DataFrame]:
    """Responses of the environment -> community direction from the ecology stage's files:
    profile -> {"pcoa": pcoa.tsv, "alpha": alpha.tsv}; the first ``n_pcoa_axes`` axes of
    ``pcoa_transformation`` plus rarefied Shannon and Simpson. Profiles whose ecology lacks that
    distance are left out (shifts computes their axes the same way)."""
    out = {}
    for profile, files in paths.items():
        pcoa = pd.read_csv(files["pcoa"], sep="\t")
        pcoa = pcoa[pcoa["metric"] == cfg.pcoa_transformation]
        if pcoa.empty:
            continue
        axes = [f"PCo{k + 1}" for k in range(cfg.n_pcoa_axes) if f"PCo{k + 1}" in pcoa.columns]
        table = pcoa.set_index(pcoa["sample"].astype(str))[axes]
        alpha = pd.read_csv(files["alpha"], sep="\t")
        out[profile] = table.join(alpha.set_index(alpha["sample"].astype(str))[["shannon", "simpson"]])
    return out


def shift_results(cube_nc: str | Path, cfg: ShiftsConfig, seed: int, ecology: Mapping[str, Mapping[str, str | Path]] | None = None, *,
                  depth_as_driver: bool = True, n_jobs: int = 1) -> ShiftResults:
    """Every shift table of a cube (a cruise cube or a cube of published tables).

    Every profile of the cube is analysed separately, the simulator's oracle included (the
    reference the read-based profiles are compared against). The cube's depth joins the drivers
    as ``depth_m`` when known and varying.
    """
    ds = read_cube(cube_nc)
    profiles = {name: profile_table(ds, name) for name in profile_names(ds)}
    env = environment_table(ds)
    meta = sample_metadata(ds)
    if depth_as_driver and "depth_m" not in env.columns and meta["depth_m"].nunique(dropna=True) > 1:
        env["depth_m"] = meta["depth_m"]
    logger.info("shifts: cube %s: profiles %s, %d samples, %d environmental variables", cube_nc, ", ".join(profiles), len(env),
                env.shape[1])
    community = ecology_community_tables(ecology or {}, cfg)
    return run_shifts(profiles, env, meta, cfg, seed, community, n_jobs=n_jobs)


def run_shift_stage(cube_nc: str | Path, outdir: str | Path, shifts_cfg: Mapping[str, Any] | ShiftsConfig, seed: int,
                    ecology: Mapping[str, Mapping[str, str | Path]] | None = None, *, depth_as_driver: bool = True,
                    n_jobs: int = 1) -> ShiftResults:
    """:func:`shift_results` written into ``outdir`` (``<table>.tsv`` and ``models.pkl``).

    ``shifts_cfg``: a ShiftsConfig, or a ``shifts`` section (schema defaults fill the rest).
    """
    cfg = shifts_cfg if isinstance(shifts_cfg, ShiftsConfig) else build_config(ShiftsConfig, "shifts", shifts_cfg)
    results = shift_results(cube_nc, cfg, seed, ecology, depth_as_driver=depth_as_driver, n_jobs=n_jobs)
    write_shift_tables(results, outdir, save_models=cfg.save_models)
    return results
