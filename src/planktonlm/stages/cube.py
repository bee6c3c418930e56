"""Stage ``cube``: the community cube of a read-based cruise, or of published tables.

Rule contract: input (reads) ``samples`` and ``units`` (a path each, or a list of paths: the
sheets of several cruises, as the config's keys), ``embedding``, ``kmer``, ``model_sha256`` and,
optionally, ``novelty_embedding`` / ``novelty_kmer`` (the profile stage's novelty.tsv; each gives
the cube variable ``novelty_<profile>(sample)``) — or (published) environment plus one input per
published profile; output cube; params config (the validated config without the sections
downstream of the cube: it holds ``select``, which samples the cube keeps, and ``oracle_truth``).
The cube records the hash of exactly that config, so an option of a later stage does not change
(or rebuild) it.
"""

from __future__ import annotations

from planktonlm.config import is_published, oracle_truth_folders
from planktonlm.cube.make import make_cube
from planktonlm.cube.published import make_published_cube
from planktonlm.io import setup_logging
from planktonlm.stages import Job

NOVELTY_INPUTS = {"novelty_embedding": "embedding", "novelty_kmer": "kmer"}


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
        truth_dir=oracle_truth_folders(config) or None,
        novelty_tsvs={profile: job.input[key] for key, profile in NOVELTY_INPUTS.items() if job.input.get(key)},
    )
