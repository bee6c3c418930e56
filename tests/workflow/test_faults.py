"""Faults: a run killed with SIGKILL (Snakemake and every job of it) inside QC, its rerun killed
inside training, and that rerun killed inside embedding, leave no truncated file behind, and the
rerun a user would type then ends with the same result files as a run that was never interrupted.

What a user types after a kill: the same command again. Every run here is the README's command,
``snakemake --profile workflow/profiles/default --cores 2`` (the helper's command line plus the
profile): the profile sets ``rerun-incomplete``, so the killed jobs' outputs are removed and those
jobs rerun. (Without the profile, Snakemake refuses to start, names the incomplete files and says
to add ``--rerun-incomplete``; Snakemake does not pick up workflow/profiles/default by itself,
only ``profiles/default`` beside the Snakefile or the working directory.) Should Snakemake ask for
``--unlock`` (a lock left by the kill), the test unlocks with the same arguments and reruns, as a
user would; the printed lines say whether that was needed.

Kill moments are read from files, polled: QC = some but not all units have their cutadapt JSON
report; training = the train log shows a step line past the first checkpoint
(``checkpoints/last.pt`` exists) and ``weights.sha256`` does not exist yet; embedding = some but
not all ``results/embed/{sample}.npy`` exist. Training here is longer and
checkpoints more often than the tiny config's (FAULT_CHANGES), on the CPU (where a resumed run
is bit-for-bit the uninterrupted one), so the moment is not missed on a fast machine either;
embedding runs in batches of two samples (more batches than cores, each batch writing its samples
one after the other), so a kill can land between batches or between the two samples of one.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import dnaio
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import xarray as xr
from same_results import TEMPORARY, assert_same_results, result_files

from planktonlm.io import sha256_file

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
#: the README's way to run the workflow (its rerun-incomplete is what makes "run it again" work)
PROFILE = ("--profile", str(REPO / "workflow" / "profiles" / "default"))

#: changes to the tiny config: training long enough to be caught between checkpoints (log lines at 3, 6, 9...,
#: checkpoints at 4, 8, 12...: a kill after "step 6" loses steps past a checkpoint taken mid-window), on the CPU
FAULT_CHANGES = {
    "train": {"max_steps": 40, "log_every": 3, "checkpoint_every": 4, "device": "cpu"},
    "embed": {"device": "cpu", "samples_per_job": 2},
}
TRAIN_LOG = Path("results/logs/train_encoder/train_encoder.log")
CHECKPOINT = Path("results/model/checkpoints/last.pt")
POLL_S = 0.05
DEADLINE_S = 1800  # generous: a loaded 2-core machine


# ----------------------------------------------------------------------------- running and killing


class Run:
    """``snakemake`` as a process group of its own, its output in a file beside the working directory."""

    def __init__(self, start_snakemake, run_snakemake, workdir: Path, config: Path, name: str):
        self.start_snakemake, self.run_snakemake = start_snakemake, run_snakemake
        self.workdir, self.config = workdir, config
        self.out_path = workdir.parent / f"{workdir.name}.{name}.out"
        self.unlocked = False
        self._start()

    def _start(self) -> None:
        with open(self.out_path, "ab") as out:
            self.proc = self.start_snakemake(self.workdir, *PROFILE, configfile=self.config, stdout=out, stderr=subprocess.STDOUT,
                                             start_new_session=True)
        self.pgid = self.proc.pid  # start_new_session: the leader's pid is the group id

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_for(self, moment: Callable[[], bool], missed: Callable[[], str | None], what: str) -> None:
        """Poll until ``moment()``; fail if the run ends first or ``missed()`` says the moment passed."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if moment():
                return
            if (why := missed()) is not None:
                self.kill()
                pytest.fail(f"missed the moment {what}: {why}; lengthen that stage in FAULT_CHANGES")
            if self.proc.poll() is not None:
                output = self.output()
                if self.proc.returncode != 0 and "--unlock" in output and not self.unlocked:
                    # A user would do what Snakemake asks: unlock (the killed run left its lock), then rerun.
                    self.run_snakemake(self.workdir, *PROFILE, "--unlock", configfile=self.config, check=True)
                    self.unlocked = True
                    self._start()
                    continue
                pytest.fail(f"snakemake ended ({self.proc.returncode}) before {what}:\n{output[-6000:]}")
            time.sleep(POLL_S)
        self.kill()
        pytest.fail(f"{what} not reached in {DEADLINE_S} s:\n{self.output()[-6000:]}")

    def kill(self) -> None:
        """SIGKILL the whole group (Snakemake and its jobs) and wait until none of it is left."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.proc.wait()
        deadline = time.monotonic() + 60
        while (alive := _live_members(self.pgid)) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        assert not alive, f"processes of the killed run still alive: {alive}"
        escaped = [pid for pid in _live_members(None) if str(self.workdir) in _cmdline(pid)]
        for pid in escaped:  # jobs that left the group would survive a user's kill too: stop ours, then fail
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not escaped, f"jobs outside the killed process group: {[_cmdline(p) for p in escaped]}"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a process from /proc, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], int(fields[2])


def _live_members(pgid: int | None) -> list[int]:
    """Pids not yet dead (zombies do not count) in group ``pgid`` (None: every process)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            if stat[0] not in ("Z", "X") and (pgid is None or stat[1] == pgid):
                pids.append(int(entry.name))
    return pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def finish(run_snakemake, workdir: Path, config: Path) -> tuple[subprocess.CompletedProcess, bool]:
    """Rerun to the end as a user would after a kill (unlocking first only if Snakemake asks)."""
    done = run_snakemake(workdir, *PROFILE, configfile=config)
    unlocked = False
    if done.returncode != 0 and "--unlock" in done.stdout + done.stderr:
        run_snakemake(workdir, *PROFILE, "--unlock", configfile=config, check=True)
        unlocked = True
        done = run_snakemake(workdir, *PROFILE, configfile=config)
    assert done.returncode == 0, f"the rerun failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    return done, unlocked


# ----------------------------------------------------------------------------- completeness


def check_complete(path: Path) -> None:
    """Raise if ``path`` is not a whole file of its format (read to the end, structure checked)."""
    name = path.name
    if name.endswith(".npy"):
        array = np.load(path, allow_pickle=False)
        ids = path.with_name(name[: -len(".npy")] + ".ids.txt")
        if path.parent.name == "embed" and ids.exists():
            assert len(ids.read_text().splitlines()) == array.shape[0], "rows differ from its ids.txt"
    elif name.endswith(".gz"):
        with gzip.open(path, "rb") as handle:
            data = handle.read()  # EOFError on a truncated stream
        if name.endswith(".tsv.gz"):
            _check_tsv(data.decode())
        elif name.endswith((".fastq.gz", ".fq.gz")):
            _check_fastq(path)
    elif name.endswith(".tsv"):
        _check_tsv(path.read_text())
    elif name.endswith((".fastq", ".fq")):
        _check_fastq(path)
    elif name.endswith(".parquet"):
        pq.read_table(path)
    elif name.endswith(".nc"):
        with xr.open_dataset(path, engine="h5netcdf") as cube:
            cube.load()
    elif name.endswith(".json"):
        json.loads(path.read_text())
    elif name.endswith(".pt"):
        torch.load(path, map_location="cpu", weights_only=True)
    elif name.endswith(".pkl"):
        with open(path, "rb") as handle:
            pickle.load(handle)  # our own models.pkl
    elif name.endswith(".sha256"):
        text = path.read_text()
        match = re.fullmatch(r"([0-9a-f]{64})  (\S+)\n", text)
        assert match, f"not a sha256 line: {text!r}"
        target = path.with_name(match.group(2))
        if target.exists():
            assert sha256_file(target) == match.group(1), f"{target.name} does not match its SHA-256"
    elif name.endswith(".html"):
        assert path.read_text().rstrip().endswith("</html>"), "no closing </html>"
    elif name.endswith(".cutadapt.txt"):
        text = path.read_text()
        assert "=== Summary ===" in text and "Total written (filtered)" in text and text.endswith("\n"), \
            "not a whole cutadapt report"
    elif name.endswith(".txt"):
        text = path.read_text()
        assert text == "" or text.endswith("\n"), "last line cut"
    else:
        raise AssertionError(f"no completeness check for {name}: add one to test_faults.check_complete")


def _check_tsv(text: str) -> None:
    assert text.endswith("\n"), "last line cut"
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    assert rows, "empty table"
    ragged = [i + 1 for i, row in enumerate(rows) if len(row) != len(rows[0])]
    assert not ragged, f"lines {ragged[:5]} have another number of fields than the header"


def _check_fastq(path: Path) -> None:
    with dnaio.open(path) as reader:
        for _ in reader:  # dnaio raises on a record cut short
            pass


def truncated(results: Path) -> tuple[list[str], int]:
    """(problems, files checked) for every file under ``results`` but logs and atomic-write temporaries."""
    problems, checked = [], 0
    for path in sorted(results.rglob("*")):
        rel = path.relative_to(results)
        if not path.is_file() or rel.parts[0] == "logs" or any(p.startswith(".snakemake") for p in rel.parts):
            continue
        if TEMPORARY.search(path.name):
            continue
        try:
            check_complete(path)
        except Exception as error:  # noqa: BLE001 - every failure is a finding
            problems.append(f"{rel}: {type(error).__name__}: {error}")
        checked += 1
    return problems, checked


def assert_nothing_truncated(results: Path, when: str) -> int:
    problems, checked = truncated(results)
    assert not problems, f"after the kill {when}, incomplete files survive:\n" + "\n".join(problems)
    return checked


# ----------------------------------------------------------------------------- comparing


def leftovers(results: Path) -> list[str]:
    """Temporaries of killed writers (they never pass for output: dot-names, pid-tagged)."""
    return sorted(str(p.relative_to(results)) for p in results.rglob("*") if p.is_file() and TEMPORARY.search(p.name))


# ----------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def fault_config(tiny_config_with, tmp_path_factory) -> Path:
    return tiny_config_with(tmp_path_factory.mktemp("faults_config") / "faults.yaml", FAULT_CHANGES)


def fresh_copy(tiny_cruise: Path, workdir: Path) -> Path:
    shutil.copytree(tiny_cruise / "cruise", workdir / "cruise")
    shutil.copytree(tiny_cruise / "config", workdir / "config")
    return workdir


@pytest.fixture(scope="module")
def uninterrupted(run_snakemake, tiny_cruise, fault_config, tmp_path_factory) -> Path:
    """The reference: the same inputs and config, never killed."""
    started = time.monotonic()
    workdir = fresh_copy(tiny_cruise, tmp_path_factory.mktemp("faults_reference"))
    run_snakemake(workdir, *PROFILE, configfile=fault_config, check=True)
    print(f"\n[faults] uninterrupted reference run: {time.monotonic() - started:.0f} s")
    return workdir


def test_a_killed_run_resumes_to_the_same_results(start_snakemake, run_snakemake, tiny_cruise, fault_config, uninterrupted,
                                                  tmp_path):
    """Kill inside QC, rerun, kill inside training, rerun, kill inside embedding, rerun: as never killed, none truncated."""
    started = time.monotonic()
    workdir = fresh_copy(tiny_cruise, tmp_path / "killed")
    results = workdir / "results"
    samples = pd.read_csv(workdir / "cruise" / "samples.tsv", sep="\t")["sample"].tolist()
    n_samples = len(samples)
    n_units = len(pd.read_csv(workdir / "cruise" / "units.tsv", sep="\t"))
    reference = uninterrupted / "results"

    # 1. Kill inside QC: some units trimmed, not all.
    def trimmed() -> list[Path]:
        return [p for p in results.glob("qc/units/*/*.cutadapt.json") if not p.name.startswith(".")]

    def in_qc() -> bool:
        return 0 < len(trimmed()) < n_units

    def qc_missed() -> str | None:
        return "every unit was trimmed" if len(trimmed()) == n_units else None

    run = Run(start_snakemake, run_snakemake, workdir, fault_config, "qc")
    run.wait_for(in_qc, qc_missed, "inside QC")
    run.kill()
    n_trimmed = len(trimmed())
    assert 0 < n_trimmed < n_units, "killed outside QC"
    checked = assert_nothing_truncated(results, "inside QC")
    print(f"\n[faults] killed inside QC ({n_trimmed}/{n_units} units trimmed); {checked} files complete")

    # 2. Rerun; kill it inside training: past the first checkpoint, before the model folder is complete.
    def train_log() -> str:
        return (workdir / TRAIN_LOG).read_text() if (workdir / TRAIN_LOG).exists() else ""

    def in_training() -> bool:
        steps = [int(s) for s in re.findall(r" step (\d+)/\d+ ", train_log())]
        return (workdir / CHECKPOINT).exists() and bool(steps) and max(steps) >= 6

    def training_missed() -> str | None:
        return "training finished" if (results / "model" / "weights.sha256").exists() else None

    run = Run(start_snakemake, run_snakemake, workdir, fault_config, "train")
    run.wait_for(in_training, training_missed, "inside training")
    run.kill()
    assert not (results / "model" / "weights.sha256").exists(), "killed after training ended"
    checked = assert_nothing_truncated(results, "inside training")
    resumed_from = torch.load(workdir / CHECKPOINT, map_location="cpu", weights_only=True)["step"]
    assert 4 <= resumed_from < FAULT_CHANGES["train"]["max_steps"]
    merged = {f"qc/{sample}_R{mate}.fastq.gz" for sample in samples for mate in (1, 2)}
    assert merged <= result_files(results), "training started before every sample's QC'd reads existed"
    n_qc = assert_same_results(reference, results, only="qc/", present_only=True)  # QC redone after its kill
    print(f"[faults] rerun (Snakemake asked for --unlock first: {run.unlocked}): {n_qc} QC files as in the uninterrupted run; "
          f"killed inside training (checkpoint at step {resumed_from}); {checked} files complete")

    # 3. Rerun; kill it inside embedding (the model is then complete: it must already be the reference's).
    def embedded() -> list[Path]:
        return [p for p in (results / "embed").glob("*.npy") if not p.name.startswith(".")] if (results / "embed").exists() else []

    def in_embedding() -> bool:
        return 0 < len(embedded()) < n_samples

    def embedding_missed() -> str | None:
        return "every sample was embedded" if len(embedded()) == n_samples else None

    run = Run(start_snakemake, run_snakemake, workdir, fault_config, "embed")
    run.wait_for(in_embedding, embedding_missed, "inside embedding")
    run.kill()
    n_embedded = len(embedded())
    assert 0 < n_embedded < n_samples, "killed outside embedding"
    checked = assert_nothing_truncated(results, "inside embedding")
    assert re.search(rf"resuming training from \S*checkpoints/last\.pt at step {resumed_from}\b", train_log()), \
        f"the rerun did not resume from the step-{resumed_from} checkpoint:\n{train_log()[-3000:]}"
    n_model = assert_same_results(reference, results, only="model/")
    print(f"[faults] rerun resumed training at step {resumed_from}: {n_model} model files identical to the "
          f"uninterrupted run's (Snakemake asked for --unlock first: {run.unlocked}); killed inside embedding "
          f"({n_embedded}/{n_samples} samples); {checked} files complete")

    # 4. Rerun to the end: every result file as in the uninterrupted run.
    _, unlocked = finish(run_snakemake, workdir, fault_config)
    compared = assert_same_results(reference, results)
    assert compared > 50
    print(f"[faults] final rerun (Snakemake asked for --unlock first: {unlocked}): {compared} result files identical; "
          f"leftover temporaries of killed writers: {leftovers(results) or 'none'}; "
          f"test took {time.monotonic() - started:.0f} s")
