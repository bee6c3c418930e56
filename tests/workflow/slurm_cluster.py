"""A single-node SLURM cluster from Debian's packages (slurm-wlm, munge) for workflow tests.

:func:`start_cluster` writes ``/etc/slurm/slurm.conf`` (the default path, so that ``sbatch``,
``squeue`` and ``sinfo`` find it as on any cluster): this host is the controller and the only
node (CPUs = nproc, RealMemory = MemTotal less a margin), one partition ``cpu`` (the default),
``proctrack/linuxproc``, ``task/none``, no job accounting and no GPUs (a job that asks for one
is refused, as on a CPU-only cluster). It starts munged (unless one answers already), slurmctld
and slurmd in the foreground as child processes, and waits until ``sinfo`` shows the node idle.
:meth:`SlurmCluster.stop` cancels leftover jobs, ends the daemons it started (by their process)
and removes the config. Needs root; ``.ci/install-slurm`` installs the packages.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
#: first line of the config this module writes; a slurm.conf without it is never touched
MARKER = "# planktonlm test cluster (tests/workflow/slurm_cluster.py): removed when the test ends"
PARTITION = "cpu"
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
MUNGE_KEY = Path("/etc/munge/munge.key")
MEMORY_MARGIN_MB = 1024
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("munge", "unmunge", "sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")


class ClusterUnavailable(RuntimeError):
    """The cluster cannot be set up here (the message says why)."""


def program(name: str) -> str | None:
    """Path of a SLURM/MUNGE program (daemons live in /usr/sbin, often not on a user's PATH)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")


def unavailable_reason() -> str | None:
    """Why no test cluster can be started on this machine, or None when it can."""
    missing = [name for name in (*DAEMONS, *CLIENTS) if program(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (run .ci/install-slurm: apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged and writing /etc/slurm/slurm.conf needs root"
    if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text(errors="replace"):
        return f"{SLURM_CONF} exists and was not written by this test (a real cluster's?): left alone"
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "no 'munge' user (the munge package creates it)"
    return None


def node_memory_mb() -> int:
    """RealMemory for slurm.conf: MemTotal less a margin for the daemons and the system."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return max(int(line.split()[1]) // 1024 - MEMORY_MARGIN_MB, 512)
    raise ClusterUnavailable("no MemTotal in /proc/meminfo")


def slurm_conf(node: str, cpus: int, memory_mb: int, state: Path) -> str:
    return "\n".join([
        MARKER,
        "ClusterName=planktonlm-test",
        f"SlurmctldHost={node}(127.0.0.1)",
        "SlurmUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"StateSaveLocation={state / 'slurmctld'}",
        f"SlurmdSpoolDir={state / 'slurmd'}",
        f"SlurmctldPidFile={state / 'slurmctld.pid'}",
        f"SlurmdPidFile={state / 'slurmd.pid'}",
        f"SlurmctldLogFile={state / 'slurmctld.log'}",
        f"SlurmdLogFile={state / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "MpiDefault=none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        # No job accounting, as on many small clusters: sacct has nothing to report.
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        # Finished jobs stay visible to squeue this long (the SLURM default, stated).
        "MinJobAge=300",
        "ReturnToService=2",
        # Use the CPUs/memory below whatever slurmd detects (a VM's topology may differ).
        "SlurmdParameters=config_overrides",
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


@dataclass
class SlurmCluster:
    node: str
    cpus: int
    memory_mb: int
    partition: str
    state: Path
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the daemons' logs (for failure messages)."""
        parts = []
        for name in ("slurmctld.log", "slurmd.log", "munged.out", "slurmctld.out", "slurmd.out"):
            path = self.state / name
            if path.exists():
                parts.append(f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel leftover jobs, end the daemons this cluster started, remove its slurm.conf."""
        if any(name == "slurmctld" for name, _ in self.processes):
            subprocess.run([program("scancel"), "--full", f"--partition={self.partition}"],
                           capture_output=True, timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and squeue_active():
                time.sleep(1)
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self.processes.clear()
        if SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text(errors="replace"):
            SLURM_CONF.unlink()


def squeue_active() -> bool:
    done = subprocess.run([program("squeue"), "--noheader", "--states=PENDING,RUNNING,COMPLETING"],
                          capture_output=True, text=True, timeout=30)
    return done.returncode == 0 and bool(done.stdout.strip())


def munge_answers() -> bool:
    """Whether a munged answers on the default socket (encode + decode a credential)."""
    if not MUNGE_SOCKET.exists():
        return False
    encoded = subprocess.run([program("munge"), "-n"], capture_output=True, timeout=10)
    if encoded.returncode != 0:
        return False
    decoded = subprocess.run([program("unmunge")], input=encoded.stdout, capture_output=True, timeout=10)
    return decoded.returncode == 0


def wait_for(condition, seconds: float, what: str, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        for name, process in cluster.processes:
            if process.poll() is not None:
                raise ClusterUnavailable(f"{name} exited ({process.returncode}) while waiting for {what}\n"
                                         f"{cluster.log_tail()}")
        time.sleep(0.5)
    raise ClusterUnavailable(f"timed out after {seconds:.0f} s waiting for {what}\n{cluster.log_tail()}")


def start_munged(cluster: SlurmCluster) -> None:
    """munged as the munge user, in the foreground (unless one answers already)."""
    if munge_answers():
        return
    munge = pwd.getpwnam("munge")
    folders = ((MUNGE_SOCKET.parent, 0o755), (Path("/var/log/munge"), 0o700), (Path("/var/lib/munge"), 0o711))
    for folder, mode in folders:
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, munge.pw_uid, munge.pw_gid)
        folder.chmod(mode)
    if not MUNGE_KEY.exists():
        subprocess.run([program("mungekey") or "/usr/sbin/mungekey", "--create", "--keyfile", str(MUNGE_KEY)],
                       check=True, capture_output=True)
    os.chown(MUNGE_KEY, munge.pw_uid, munge.pw_gid)
    MUNGE_KEY.chmod(0o600)
    out = open(cluster.state / "munged.out", "w")
    process = subprocess.Popen([program("munged"), "--foreground"], user=munge.pw_uid, group=munge.pw_gid,
                               extra_groups=[], stdout=out, stderr=subprocess.STDOUT)
    cluster.processes.append(("munged", process))
    wait_for(munge_answers, 30, "munged", cluster)


def node_state() -> str:
    done = subprocess.run([program("sinfo"), "--noheader", "--Node", "--format=%t"], capture_output=True, text=True,
                          timeout=30)
    return done.stdout.strip() if done.returncode == 0 else ""


def start_cluster(state: Path) -> SlurmCluster:
    """Write slurm.conf, start munged, slurmctld and slurmd; return once the node is idle.

    Raises ClusterUnavailable (with the daemons' log tails) when something does not come up;
    whatever had started is stopped again first.
    """
    reason = unavailable_reason()
    if reason:
        raise ClusterUnavailable(reason)
    node = socket.gethostname().split(".")[0]
    cluster = SlurmCluster(node=node, cpus=len(os.sched_getaffinity(0)), memory_mb=node_memory_mb(),
                           partition=PARTITION, state=state)
    for sub in ("slurmctld", "slurmd"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(slurm_conf(node, cluster.cpus, cluster.memory_mb, state))
    SLURM_CONF.chmod(0o644)
    try:
        start_munged(cluster)
        for name, args in (("slurmctld", ["-D", "-i"]), ("slurmd", ["-D", "-N", node])):
            out = open(state / f"{name}.out", "w")
            cluster.processes.append((name, subprocess.Popen([program(name), *args], stdout=out,
                                                             stderr=subprocess.STDOUT)))
            if name == "slurmctld":
                wait_for(lambda: subprocess.run([program("scontrol"), "ping"], capture_output=True, text=True,
                                                timeout=30).stdout.count("UP") > 0, 60, "slurmctld", cluster)
        wait_for(lambda: node_state() == "idle", 90, f"node {node} idle in sinfo", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster
