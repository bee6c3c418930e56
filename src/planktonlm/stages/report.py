"""Stage ``report``: the run's results -> ``results/report.html``.

Inputs (by name): ``cube`` (samples, environment, profiles, the per-sample novelty of the read
profiles when the cube has it, and provenance are read from it); ``read_accounting`` and
``train_log`` (read mode); the shifts tables
(``dbrda_marginal``, ..., ``excluded``); per read profile ``alpha_<p>``, ``pcoa_<p>`` and
``pcoa_axes_<p>``. Published mode has only the cube and the shifts tables. Output ``html``.
Params ``report`` (the config section), ``seed``, ``checkpoint`` (config model.checkpoint).
"""

from __future__ import annotations

from planktonlm.config import build_config
from planktonlm.io import setup_logging
from planktonlm.report import ReportConfig, inputs_from_results, write_report
from planktonlm.stages import Job


def report(job: Job) -> None:
    """Write the HTML report of one run (its only declared output, ``html``)."""
    setup_logging(job.log)
    config = build_config(ReportConfig, "report", job.params["report"])
    inputs = inputs_from_results(job.input, seed=job.params["seed"], checkpoint=job.params["checkpoint"])
    write_report(inputs, job.output["html"], config)
