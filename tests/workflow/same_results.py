"""One comparison of two runs' result folders, for every test that claims "the same result files".

Byte for byte, timings and time stamps aside: logs, benchmarks, MultiQC's time stamp, the resume
checkpoints (they carry the training log) and the training log's reads/s column; the rest of the
training log must be equal. Both folders must hold the same files (a missing or extra result is a
difference too); temporaries of killed writers are not results.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

TIMED = ("logs/", "benchmarks/", "model/checkpoints/")
SKIP = {"qc/multiqc_report.html", "model/train_log.tsv"}
#: atomic_path's temporaries (.tmp-PID.name) and embed's streamed rows (.name.rows-PID)
TEMPORARY = re.compile(r"^\.tmp-\d+\.|^\..+\.rows-\d+$")


def result_files(results: Path) -> set[str]:
    """Files under ``results`` (relative paths) that are results: no temporaries, nothing timed."""
    return {str(p.relative_to(results)) for p in results.rglob("*")
            if p.is_file() and not TEMPORARY.search(p.name) and not str(p.relative_to(results)).startswith(TIMED)}


def assert_same_results(reference: Path, run: Path, only: str = "", present_only: bool = False) -> int:
    """``run``'s result files equal ``reference``'s (both ``results/`` folders); returns how many were compared.

    ``only``: a path prefix; ``present_only``: compare the files ``run`` has so far (a run in progress).
    """
    ref_files = {f for f in result_files(reference) if f.startswith(only)}
    run_files = {f for f in result_files(run) if f.startswith(only)}
    if present_only:
        assert run_files <= ref_files, f"files the reference run lacks: {sorted(run_files - ref_files)}"
        ref_files = run_files
    assert ref_files == run_files, f"missing {sorted(ref_files - run_files)}, extra {sorted(run_files - ref_files)}"
    differ = [f for f in sorted(ref_files - SKIP) if (reference / f).read_bytes() != (run / f).read_bytes()]
    assert not differ, f"result files differ from the reference run's: {differ}"
    if "model/train_log.tsv" in ref_files:
        logs = [pd.read_csv(root / "model" / "train_log.tsv", sep="\t").drop(columns="reads_per_s") for root in (reference, run)]
        pd.testing.assert_frame_equal(*logs)
    return len(ref_files - SKIP)
