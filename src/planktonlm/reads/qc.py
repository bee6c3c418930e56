"""Read QC: cutadapt per sequencing unit, units merged per sample, read accounting.

cutadapt writes plain FASTQ per unit; merging re-compresses with dnaio (ISA-L, gzip mtime 0),
so the QC'd files are byte-identical whatever the thread count. The accounting reconciles three
sources that must agree: cutadapt's input count, its per-reason filter counts, and the number of
reads we count ourselves in the merged output.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dnaio
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import atomic_path, write_tsv

logger = logging.getLogger(__name__)

#: columns of results/qc/read_accounting.tsv, in order (documented in README "Outputs")
ACCOUNTING_COLUMNS = [
    "sample", "units", "paired", "raw_reads", "kept_reads", "removed_reads",
    "removed_too_short", "removed_too_many_n", "pct_kept",
    "mean_length_raw", "mean_length_qc",
]


@dataclass(frozen=True)
class QcConfig:
    """The `qc:` section of config.yaml; build it with ``build_config(QcConfig, "qc", section)`` (defaults
    and bounds live in workflow/schemas/config.schema.yaml only)."""

    adapter_r1: str
    adapter_r2: str
    quality_cutoff: int
    nextseq_trim: bool
    min_length: int
    max_n: float
    threads: int


def cutadapt_args(cfg: QcConfig, fq1: str, fq2: str | None, out1: str, out2: str | None, json_report: str, threads: int) -> list[str]:
    """Command-line arguments for one cutadapt run (pure: easy to test and to log)."""
    if cfg.nextseq_trim:
        trim = ["--nextseq-trim", str(cfg.quality_cutoff)]
    else:
        trim = ["-q", f"{cfg.quality_cutoff},{cfg.quality_cutoff}" if fq2 else str(cfg.quality_cutoff)]
    args = ["-j", str(threads), "-a", cfg.adapter_r1, *trim, "--minimum-length", str(cfg.min_length),
            "--max-n", str(cfg.max_n), "--json", json_report, "-o", out1]
    if fq2:
        # --pair-filter=any: a pair goes when either mate fails, so R1 and R2 stay in step.
        args += ["-A", cfg.adapter_r2, "-p", out2, "--pair-filter=any", fq1, fq2]
    else:
        args += [fq1]
    return args


def run_cutadapt(cfg: QcConfig, fq1: str, fq2: str | None, out1: str, out2: str | None,
                 json_report: str, text_report: str, log: str, threads: int) -> None:
    """Run cutadapt on one unit; its text report (for MultiQC) goes to ``text_report``.

    The text report is cutadapt's stdout, collected in a temporary and moved into place only when
    cutadapt succeeded, so a killed job leaves no cut-short report. (cutadapt writes ``out1``,
    ``out2`` and ``json_report`` itself, under the names that its reports record.)
    """
    cmd = [sys.executable, "-m", "cutadapt", *cutadapt_args(cfg, fq1, fq2, out1, out2, json_report, threads)]
    with atomic_path(text_report) as report_tmp:
        with open(report_tmp, "w") as report, open(log, "a") as err:
            err.write("command: " + " ".join(cmd) + "\n")
            err.flush()
            done = subprocess.run(cmd, stdout=report, stderr=err, check=False)
        if done.returncode != 0:  # raised inside the block: the temporary report goes too
            tail = Path(log).read_text().strip().splitlines()[-3:]
            for path in (out1, out2, json_report):
                if path and os.path.exists(path):
                    os.remove(path)
            files = fq1 if not fq2 else f"{fq1} + {fq2}"
            raise PlanktonlmInputError(InputProblem(
                file=files, message="cutadapt failed: " + " | ".join(tail),
                expected="well-formed FASTQ (equal read counts in R1 and R2, quality as long as sequence)"))


def merge_units(unit_r1: list[str], unit_r2: list[str] | None, out_r1: str, out_r2: str | None) -> tuple[int, int]:
    """Concatenate a sample's QC'd units (in units.tsv order) into gzip FASTQ.

    Returns (fragments, bases over all mates). Written atomically: a crash leaves no output.
    """
    n_reads = n_bases = 0
    with atomic_path(out_r1) as tmp1, atomic_path(out_r2) as tmp2:
        writer = dnaio.open(tmp1, tmp2, mode="w", compression_level=1) if out_r2 else dnaio.open(tmp1, mode="w", compression_level=1)
        with writer:
            for i, r1 in enumerate(unit_r1):
                reader = dnaio.open(r1, unit_r2[i]) if unit_r2 else dnaio.open(r1)
                with reader:
                    for record in reader:
                        if unit_r2:
                            writer.write(*record)
                            n_bases += len(record[0]) + len(record[1])
                        else:
                            writer.write(record)
                            n_bases += len(record)
                        n_reads += 1
    logger.info("merged %d unit(s) -> %s: %d reads, %d bases", len(unit_r1), out_r1, n_reads, n_bases)
    return n_reads, n_bases


def sample_accounting(sample: str, cutadapt_reports: list[dict], kept_reads: int, kept_bases: int) -> dict:
    """One row of the read-accounting table, reconciled against cutadapt's own report.

    Raises if the numbers do not add up (kept + removed must equal raw, and the reads we
    counted in the merged file must equal what cutadapt says it wrote).
    """
    raw = sum(r["read_counts"]["input"] for r in cutadapt_reports)
    written = sum(r["read_counts"]["output"] for r in cutadapt_reports)
    reasons: dict[str, int] = {}
    for report in cutadapt_reports:
        for reason, count in report["read_counts"]["filtered"].items():
            reasons[reason] = reasons.get(reason, 0) + (count or 0)
    removed = sum(reasons.values())
    paired = bool(cutadapt_reports[0]["input"]["paired"])
    mates = 2 if paired else 1
    raw_bases = sum(r["basepair_counts"]["input"] for r in cutadapt_reports)
    problems = []
    if written + removed != raw:
        problems.append(f"cutadapt wrote {written} and removed {removed} of {raw} reads")
    if kept_reads != written:
        problems.append(f"merged files hold {kept_reads} reads but cutadapt reports {written} written")
    if problems:
        raise RuntimeError(f"read accounting for sample {sample} does not add up: " + "; ".join(problems))
    return {
        "sample": sample,
        "units": len(cutadapt_reports),
        "paired": paired,
        "raw_reads": raw,
        "kept_reads": kept_reads,
        "removed_reads": removed,
        "removed_too_short": reasons.get("too_short", 0),
        "removed_too_many_n": reasons.get("too_many_n", 0),
        "pct_kept": round(100.0 * kept_reads / raw, 3) if raw else 0.0,
        "mean_length_raw": round(raw_bases / (raw * mates), 3) if raw else 0.0,
        "mean_length_qc": round(kept_bases / (kept_reads * mates), 3) if kept_reads else 0.0,
    }


def qc_sample(sample: str, unit_r1: list[str], unit_r2: list[str] | None, cutadapt_jsons: list[str],
              out_r1: str, out_r2: str | None, out_accounting: str) -> None:
    """Stage entry: merge one sample's units and write its one-row accounting table."""
    kept_reads, kept_bases = merge_units(unit_r1, unit_r2, out_r1, out_r2)
    reports = [json.loads(Path(p).read_text()) for p in cutadapt_jsons]
    row = sample_accounting(sample, reports, kept_reads, kept_bases)
    write_tsv(pd.DataFrame([row], columns=ACCOUNTING_COLUMNS), out_accounting)


def collect_accounting(per_sample: list[str], out_tsv: str) -> pd.DataFrame:
    """Stage entry: stack per-sample accounting rows into results/qc/read_accounting.tsv."""
    table = pd.concat([pd.read_csv(p, sep="\t") for p in per_sample], ignore_index=True)
    write_tsv(table[ACCOUNTING_COLUMNS], out_tsv)
    return table


def run_multiqc(cutadapt_reports: list[str], out_html: str, log: str) -> None:
    """MultiQC over the cutadapt text reports, into ``out_html`` (no data folder, no network).

    MultiQC writes a temporary sibling that is moved onto ``out_html`` only when it succeeded.
    """
    out = Path(out_html)
    with atomic_path(out) as tmp:
        cmd = [sys.executable, "-m", "multiqc", "--force", "--no-data-dir", "--no-ansi", "--no-version-check",
               "--title", "planktonlm read QC", "--outdir", str(out.parent), "--filename", Path(tmp).name,
               *cutadapt_reports]
        with open(log, "a") as err:
            err.write("command: " + " ".join(cmd) + "\n")
            err.flush()
            done = subprocess.run(cmd, stdout=err, stderr=err, check=False,
                                  env={**os.environ, "MULTIQC_NO_VERSION_CHECK": "1"})
        if done.returncode != 0 or not Path(tmp).exists():
            raise RuntimeError(f"MultiQC failed (exit {done.returncode}); see {log}")
