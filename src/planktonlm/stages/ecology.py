"""Stage of rule ``ecology``: one profile of the cube -> its diversity, distances, PCoA, turnover
and distance-decay tables (``results/ecology/<profile>/*.tsv``).

Rule contract: input ``cube``; output ``alpha``, ``distances``, ``pcoa``, ``pcoa_axes``,
``turnover``, ``distance_decay``; params ``ecology`` (the config section), ``seed``, ``profile``.
"""

from __future__ import annotations

import logging

from planktonlm.config import build_config
from planktonlm.cube.store import read_cube
from planktonlm.cube.tables import profile_table, sample_metadata
from planktonlm.io import setup_logging, write_tsv
from planktonlm.stages import Job
from planktonlm.stats.ecology import ECOLOGY_TABLES, EcologyConfig, ecology_tables

logger = logging.getLogger(__name__)


def ecology(job: Job) -> None:
    """Run the ecology stage of one rule job and write every declared output."""
    setup_logging(job.log)
    job.require_outputs(ECOLOGY_TABLES, "ecology")
    cfg = build_config(EcologyConfig, "ecology", job.params["ecology"])
    profile = job.params["profile"]
    cube = read_cube(job.input["cube"])
    counts = profile_table(cube, profile)
    meta = sample_metadata(cube)
    logger.info("ecology of profile %s: %d samples x %d OTUs, metrics %s", profile, *counts.shape, ", ".join(cfg.metrics))
    tables = ecology_tables(counts, meta, cfg, job.params["seed"])
    for name, path in job.output.items():
        write_tsv(tables[name], path)
        logger.info("wrote %s (%d rows)", path, len(tables[name]))
