"""Stage ``cube``: the community cube of a read-based cruise, or of published tables.

Rule contract: input (reads) samples, units, embedding, kmer, model_sha256 — or (published)
environment plus one input per published profile; output cube; params config (the validated
config without the sections downstream of the cube). The cube records the hash of exactly that
config, so an option of a later stage does not change (or rebuild) it.
"""

from __future__ import annotations

from planktonlm.config import is_published
from planktonlm.cube.make import make_cube
from planktonlm.cube.published import make_published_cube
from planktonlm.io import setup_logging
from planktonlm.stages import Job


def cube(job: Job) -> None:
    """Write ``job.output["cube"]`` from the rule's inputs and ``job.params["config"]``."""
    setup_logging(job.log)
    config = job.params["config"]
    if is_published(config):
        # The published section names the same tables the rule declares as inputs (paths as given).
        make_published_cube(config["published"], job.output["cube"], config)
        return
    make_cube(
        job.input["samples"],
        job.input["units"],
        profile_tsvs={"embedding": job.input["embedding"], "kmer": job.input["kmer"]},
        out_nc=job.output["cube"],
        config=config,
        model_sha256_path=job.input["model_sha256"],
        truth_dir=config.get("oracle_truth") or None,
    )
