"""Stages of read QC: FASTQ checks and cutadapt per unit, units merged per sample, the read-accounting table, MultiQC.

Rule contracts:

* check_fastq: input fq1, fq2 (only paired); output report; params fastq_scan (full | quick),
  sample, unit, units_sheet (the sheet that lists the unit, for messages). Fails with
  PlanktonlmInputError (and writes nothing) when the files are not valid FASTQ.
* cutadapt: input fq1, fq2 (only paired); output r1, r2 (only paired), json, report; params qc
  (section); threads.
* merge_units: input r1 (list, units.tsv order), r2 (list, only paired), reports (cutadapt json
  per unit, same order); output r1, r2 (only paired), accounting; params sample (the id).
* read_accounting: input accounting (list, one table per sample); output table.
* multiqc: input reports (list of cutadapt text reports); output html.

cutadapt and MultiQC write their own messages to the rule's log (a temporary file when the job
has none, so that a failure still quotes them).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator

from planktonlm.config import build_config
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.inputs.fastq_checks import FASTQ_SCAN_RECORDS, check_report, check_unit_content, unit_context
from planktonlm.io import setup_logging, write_tsv
from planktonlm.reads.qc import QcConfig, collect_accounting, qc_sample, run_cutadapt, run_multiqc
from planktonlm.stages import Job

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _tool_log(log: str | None) -> Iterator[str]:
    """The rule's log file, or a temporary one for a job without a log."""
    if log:
        yield log
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield os.path.join(tmp, "tool.log")


def _paired(job: Job) -> bool:
    """Paired when R2 is both read and written; one without the other is a broken rule."""
    paired = "r2" in job.output
    if ("fq2" in job.input or bool(job.input.get("r2"))) != paired:
        raise ValueError(f"inputs {sorted(job.input)} and outputs {sorted(job.output)} disagree on paired-end reads")
    return paired


def check_fastq(job: Job) -> None:
    """Stream one unit's raw FASTQ file(s) through every content check (validate.fastq_scan) and
    write the unit's check report; a defect fails the job with the file, the record and the unit."""
    setup_logging(job.log)
    job.require_outputs(["report"], "check_fastq")
    scan, sample, unit = job.params["fastq_scan"], job.params["sample"], job.params["unit"]
    if scan not in FASTQ_SCAN_RECORDS:
        raise ValueError(f"params fastq_scan must be one of {sorted(FASTQ_SCAN_RECORDS)}, not {scan!r}")
    paths = [job.input["fq1"], *([job.input["fq2"]] if job.input.get("fq2") else [])]
    try:
        stats = check_unit_content(paths[0], paths[1] if len(paths) == 2 else None, FASTQ_SCAN_RECORDS[scan],
                                   unit_context(job.params["units_sheet"], sample, unit))
    except PlanktonlmInputError as exc:
        logger.error("%s", exc)
        raise
    write_tsv(check_report(sample, unit, paths, stats, scan), job.output["report"])
    logger.info("sample %s, unit %s: FASTQ valid (%s scan, %d records per file)", sample, unit, scan, stats[0].n_reads)


def cutadapt(job: Job) -> None:
    """Trim and filter one sequencing unit (``fq1`` [+ ``fq2``]) into plain FASTQ, with cutadapt's reports."""
    setup_logging(job.log)
    paired = _paired(job)
    cfg = build_config(QcConfig, "qc", job.params["qc"])
    with _tool_log(job.log) as log:
        run_cutadapt(
            cfg,
            fq1=job.input["fq1"],
            fq2=job.input["fq2"] if paired else None,
            out1=job.output["r1"],
            out2=job.output["r2"] if paired else None,
            json_report=job.output["json"],
            text_report=job.output["report"],
            log=log,
            threads=job.threads,
        )


def merge_units(job: Job) -> None:
    """Merge the QC'd units of sample ``params sample`` into gzip FASTQ and write its accounting row."""
    setup_logging(job.log)
    paired = _paired(job)
    sample = job.params["sample"]
    unit_r1, reports = list(job.input["r1"]), list(job.input["reports"])
    unit_r2 = list(job.input["r2"]) if paired else []
    counts = {"r1": len(unit_r1), "reports": len(reports), **({"r2": len(unit_r2)} if paired else {})}
    if len(set(counts.values())) != 1:
        raise PlanktonlmInputError(InputProblem(
            file=f"merge_units inputs of sample {sample}", value=str(counts),
            message="unequal numbers of unit files", expected="one R1 (and R2) file and one cutadapt report per unit"))
    qc_sample(sample, unit_r1=unit_r1, unit_r2=unit_r2, cutadapt_jsons=reports, out_r1=job.output["r1"],
              out_r2=job.output["r2"] if paired else None, out_accounting=job.output["accounting"])


def read_accounting(job: Job) -> None:
    """Stack the per-sample accounting rows (input order) into the cruise's read-accounting table."""
    setup_logging(job.log)
    collect_accounting(list(job.input["accounting"]), job.output["table"])


def multiqc(job: Job) -> None:
    """MultiQC page over the cutadapt text reports."""
    setup_logging(job.log)
    with _tool_log(job.log) as log:
        run_multiqc(list(job.input["reports"]), job.output["html"], log=log)
