"""``planktonlm bench scale``: one sample of growing depth through the per-sample stages.

The claim measured: a sample's time grows linearly with its read pairs and its peak memory stays
flat, because every per-sample stage streams its reads. One paired gzip FASTQ sample of each
size in ``--pairs`` (default 0.5, 1, 2 and 4 M pairs of 2 x 150 bp) goes through what the
workflow's per-sample jobs run, each (stage, size) in a fresh child process, as Snakemake runs a
job:

    check_fastq          the FASTQ content check of the unit (validate.fastq_scan)
    cutadapt             cutadapt on the unit with the config's qc section and qc.threads
    merge_units          the unit merged into the sample's gzip FASTQ, with its read accounting
    embed_share          embed_sample with reads_per_sample = --embed-share (the config's default)
    kmer_vectors_share   the k-mer vectors of those fragments (by their ids)
    embed_all            embed_sample with reads_per_sample = 0 (every fragment; sizes up to
                         --embed-all-max-pairs only: every fragment costs the encoder
                         about 2 ms of one CPU core, at each of the --repeats)
    kmer_vectors_all     the k-mer vectors of every fragment, at every size: by the ids embed_all
                         wrote, or, at sizes beyond --embed-all-max-pairs, by the same ids listed
                         unmeasured beforehand (every fragment in file order, what embed_sample
                         writes with reads_per_sample = 0), so the stage's input is identical

Each child calls the library functions the stage functions (``planktonlm.stages``) call, with the
config dataclasses built as the stages build them. Its wall time and CPU seconds are its own: the
parent reads the CPU time with ``os.wait4`` on the child's pid (RUSAGE_CHILDREN would sum over all
children so far); it includes the child's own children (cutadapt). Peak RSS is that of the
largest single process of the stage, as the child reports it on exit: its own high-water mark
(VmHWM, which counts its memory since exec) or that of a finished child of its own (cutadapt).
Not wait4's ``ru_maxrss``: Linux carries the high-water mark of the memory a child was spawned
from (the parent's, under vfork) into the child's ``ru_maxrss`` at exec, so every child would
report at least the parent's peak (measured: 310 MB for a child of 9 MB under a 300 MB parent).

Every (stage, size) is measured ``--repeats`` times (default 3), in rounds: each round runs every
size, ascending in odd rounds and descending in even ones, so that a drift in the machine's speed
during the run (measured on a shared 2-core VM: the same stage and size 20-40 % apart an hour
later) falls on every size alike instead of bending the line. A row gives the median wall and
CPU seconds of its repeats, every repeat's wall and CPU seconds in the order measured, their range, and
the largest peak RSS. Each round also measures the ``--anchor-pairs`` size (default 50,000
pairs, or a tenth of the smallest size if less; rows marked ``anchor``): it is not a claimed
size, but it pins a stage's fixed cost (start-up, imports, model load), which four sizes alone
leave loosely determined.

Per stage, over the sizes of ``--pairs`` (the anchor left out), the summary row gives the
least-squares line of wall time on pairs (slope in s per M pairs, intercept, R^2) and:

* ``per_pair_ratio``: (s per pair at the largest size) / (s per pair at the smallest). Fixed
  costs (start-up, imports, model load, the fixed-size share's embedding) make it fall below 1 for
  a linear stage; superlinear growth makes it exceed 1.
* ``marginal_ratio`` (3 sizes or more): s per added pair between the two largest sizes / between
  the two smallest; 1 for a straight line, whatever the fixed costs. Descriptive only: it is the
  ratio of two increments of a few seconds each, and the timing noise of a shared machine (10-15 %
  per measurement on the VM above, changing from second to second) flips it either side of 1
  between runs of the same command.
* ``excess`` and ``excess_ci90``: how far the stage's time at the largest size L lies above the
  straight continuation of its cost at the smallest size S, as a share of its size-dependent time
  at L. From a weighted least-squares quadratic t = a + b n + c n^2 over every repeat at every
  size, the anchor's included (weights 1 / (the size's mean time)^2: the noise is relative):
  excess = c (L - S)^2 / (b L + c L^2), with its 90 % Fieller interval (Student's t on the
  residual degrees of freedom). For t = n^k measured at the default sizes and anchor it is 0 for
  k = 1, 10 % for n log n, 14 % for k = 1.1, 27 % for k = 1.2, 55 % for k = 1.5, 77 % for n^2.
* ``time_verdict``, with the margin EXCESS_MARGIN = 12.5 % (a quadratic stage without fixed cost
  whose marginal ratio is 1.33 has excess 12.7 %, one with 0.75 has -12.2 %: the marginal ratio
  bounds of the earlier point criterion, now judged with the uncertainty of all the measurements):
  ``linear`` when the whole interval lies within +-12.5 % (two one-sided tests at 5 %: linearity
  shown) and ``per_pair_ratio`` <= 1.33; ``superlinear`` when the interval lies above +12.5 % or
  ``per_pair_ratio`` > 1.33; ``sublinear`` when it lies below -12.5 %; else ``inconclusive``:
  the measurements neither show the stage linear nor show it superlinear, and the interval says
  how far either way they allow. A verdict on the interval needs 3 residual degrees of freedom
  (EXCESS_MIN_DF: 4 sizes and the anchor measured once each leave 2): with one, as from single
  measurements, the interval rests on one residual. ``time_linear`` is True, False or None
  (inconclusive).
* ``rss_ratio``: peak RSS max / min over the sizes; ``rss_slope_mb_per_m_pairs``: the
  least-squares growth of peak RSS.
* ``memory_flat``: peak RSS at the largest size <= 1.25 x that at the smallest + 50 MB.

The reads are generated once, by the cruise simulator's read model (``planktonlm.simulate``: one
surface sample of the demo design's 13 genomes, fragments of the real genomes in
resources/genomes, position-dependent Phred+33 qualities with the errors they state, N calls,
2 % short inserts read through into the TruSeq adapters), seeded, and every size is the first N
pairs of the largest: all sizes are the same data. Stage outputs are deleted as soon as no later
stage of the size reads them (the embedding and k-mer vectors of every read of 4 M pairs are
1.5 GB and 4.4 GB).

Embedding every read of the larger sizes takes hours on a CPU core, so a run can be split over
processes on the same reads (``--pairs 2000000`` and ``--pairs 4000000`` side by side, each with
``--reads-for 500000,1000000,2000000,4000000 --work-dir`` of the same folder) and the rows joined
afterwards with ``--merge A.json:STAGE,... B.json ...`` (:func:`merge_scale_results`): each
(stage, size) from one source, same parameters and machine, each stage refitted over all its sizes.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_PAIRS = (500_000, 1_000_000, 2_000_000, 4_000_000)
DEFAULT_MODEL = "resources/models/marine-base-v1"
READ_LENGTH = 150
SAMPLE = "SCALE"
UNIT = "L1"
# time_verdict / memory_flat criteria (see the module docstring)
PER_PAIR_RATIO_MAX = 1.33
DEFAULT_ANCHOR_PAIRS = 50_000  # or a tenth of the smallest size, if less
EXCESS_MARGIN = 0.125
EXCESS_LEVEL = 0.90  # two-sided: its bounds are one-sided 95 % bounds
EXCESS_MIN_DF = 3  # residual degrees of freedom a verdict on the excess needs: repeated measurements, not luck
RSS_FLAT_FACTOR, RSS_FLAT_SLACK_MB = 1.25, 50.0
CRITERIA = {  # written with every result, merged ones too (they are refitted by this code)
    "time_verdict": f"linear: the {EXCESS_LEVEL:.0%} interval of excess within +-{EXCESS_MARGIN} ({EXCESS_MIN_DF}+ residual "
                    f"degrees of freedom) and per_pair_ratio <= {PER_PAIR_RATIO_MAX}; superlinear: its low end above "
                    f"{EXCESS_MARGIN} or per_pair_ratio above {PER_PAIR_RATIO_MAX}; sublinear: its high end below "
                    f"-{EXCESS_MARGIN}; else inconclusive (time_linear None)",
    "memory_flat": f"peak RSS at the largest size <= {RSS_FLAT_FACTOR} x at the smallest + {RSS_FLAT_SLACK_MB:g} MB",
}
STAGES = ("check_fastq", "cutadapt", "merge_units", "embed_share", "kmer_vectors_share", "embed_all", "kmer_vectors_all")
READS_MANIFEST = "reads.json"
_CHILD_CODE = "import sys; from planktonlm.benchmarks_scale import run_stage; run_stage(sys.argv[1])"


# ---------------------------------------------------------------------------- reads


def reads_paths(folder: Path, pairs: int) -> tuple[Path, Path]:
    """The R1 and R2 gzip FASTQ files of the ``pairs``-pair sample under ``folder``."""
    return (folder / f"pairs_{pairs}" / f"{SAMPLE}_R1.fastq.gz", folder / f"pairs_{pairs}" / f"{SAMPLE}_R2.fastq.gz")


def write_scale_reads(folder: Path | str, sizes: Sequence[int], seed: int,
                      genomes_dir: Path | str | None = None) -> dict[int, tuple[Path, Path]]:
    """One simulated sample of ``max(sizes)`` pairs of 2 x 150 bp, and every size as its first N pairs.

    The simulator's read model, batch by batch (memory bounded by its BATCH_PAIRS); the FASTQ text
    of each batch is formatted once and written to every size's files that still want records, so
    the smaller files are exact prefixes of the largest (records are fixed-width). gzip as the
    simulator writes it (no name, mtime 0, fixed level): the same seed gives the same bytes. Files
    already in ``folder`` from the same sizes, seed and genomes (``reads.json``) are reused.
    Returns {pairs: (R1, R2)}.
    """
    import dataclasses

    from planktonlm.simulate.community import resolve_niches, simulate_community
    from planktonlm.simulate.design import PRESETS
    from planktonlm.simulate.environment import simulate_environment
    from planktonlm.simulate.genomes import DEFAULT_GENOMES_DIR, GenomeSet
    from planktonlm.simulate.gzipio import GzipOut
    from planktonlm.simulate.reads import format_fastq, iter_sample_read_pairs, read_shares
    from planktonlm.simulate.writer import select_genomes

    folder = Path(folder)
    sizes = sorted(set(int(n) for n in sizes))
    largest = sizes[-1]
    genomes_dir = Path(genomes_dir) if genomes_dir else DEFAULT_GENOMES_DIR
    design = dataclasses.replace(PRESETS["demo"], read_length=READ_LENGTH, reads_per_sample=largest)
    manifest = {"sizes": sizes, "seed": seed, "genomes_dir": str(genomes_dir.resolve()), "read_length": READ_LENGTH,
                "design": design.name, "sample": SAMPLE}
    paths = {n: reads_paths(folder, n) for n in sizes}
    manifest_path = folder / READS_MANIFEST
    if (manifest_path.is_file() and json.loads(manifest_path.read_text()) == manifest
            and all(p.is_file() for pair in paths.values() for p in pair)):
        return paths
    manifest_path.unlink(missing_ok=True)

    genome_set = GenomeSet(select_genomes(design, genomes_dir))
    env = simulate_environment(design, seed)
    abundance = simulate_community(env, resolve_niches(genome_set.names, seed), seed, design.community_noise_sd)
    share = read_shares(abundance, genome_set)[0]  # the design's first sample (surface, first station)
    width = len(str(largest))
    writers = {}
    try:
        for n in sizes:
            paths[n][0].parent.mkdir(parents=True, exist_ok=True)
            writers[n] = (GzipOut(paths[n][0]), GzipOut(paths[n][1]))
        done = 0
        for batch in iter_sample_read_pairs(genome_set, share, largest, design, seed, 0):
            m = len(batch.r1)
            text1 = format_fastq(SAMPLE, done + 1, width, 1, batch.r1, batch.q1)
            text2 = format_fastq(SAMPLE, done + 1, width, 2, batch.r2, batch.q2)
            record1, record2 = len(text1) // m, len(text2) // m
            for n, (out1, out2) in writers.items():
                take = min(m, n - done)
                if take > 0:
                    out1.write(text1[: take * record1])
                    out2.write(text2[: take * record2])
            done += m
    finally:
        for out1, out2 in writers.values():
            out1.close()
            out2.close()
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return paths


# ---------------------------------------------------------------------------- stages (child side)


def _stage_check_fastq(spec: dict, config: dict) -> dict:
    """Stage qc.check_fastq: every record of the unit through the content checks, then its report."""
    from planktonlm.inputs.fastq_checks import FASTQ_SCAN_RECORDS, check_report, check_unit_content, unit_context
    from planktonlm.io import write_tsv

    scan = config["validate"]["fastq_scan"]
    paths = [spec["fq1"], spec["fq2"]]
    stats = check_unit_content(paths[0], paths[1], FASTQ_SCAN_RECORDS[scan], unit_context("units.tsv", SAMPLE, UNIT))
    write_tsv(check_report(SAMPLE, UNIT, paths, stats, scan), spec["out"]["report"])
    return {"records": stats[0].n_reads}


def _stage_cutadapt(spec: dict, config: dict) -> dict:
    """Stage qc.cutadapt: cutadapt on the unit (rule threads = qc.threads)."""
    from planktonlm.config import build_config
    from planktonlm.reads.qc import QcConfig, run_cutadapt

    cfg = build_config(QcConfig, "qc", config["qc"])
    out = spec["out"]
    run_cutadapt(cfg, fq1=spec["fq1"], fq2=spec["fq2"], out1=out["r1"], out2=out["r2"], json_report=out["json"],
                 text_report=out["report"], log=out["log"], threads=config["qc"]["threads"])
    return {}


def _stage_merge_units(spec: dict, config: dict) -> dict:
    """Stage qc.merge_units: the unit merged into the sample's gzip FASTQ, and its accounting row."""
    from planktonlm.reads.qc import qc_sample

    out = spec["out"]
    qc_sample(SAMPLE, unit_r1=[spec["r1"]], unit_r2=[spec["r2"]], cutadapt_jsons=[spec["json"]], out_r1=out["r1"],
              out_r2=out["r2"], out_accounting=out["accounting"])
    return {}


def _stage_embed(spec: dict, config: dict) -> dict:
    """Stage embed.embed_sample, with reads_per_sample = the spec's (0 = every fragment)."""
    from planktonlm.config import build_config
    from planktonlm.encoder.embed import EmbedConfig, embed_sample

    cfg = build_config(EmbedConfig, "embed", config["embed"], reads_per_sample=spec["reads_per_sample"],
                       device=spec["device"])
    n = embed_sample(spec["r1"], spec["r2"], spec["model"], spec["out"]["npy"], spec["out"]["ids"], cfg,
                     config["seed"], threads=config["embed"]["threads"])
    return {"fragments": n}


def _stage_kmer_vectors(spec: dict, config: dict) -> dict:
    """Stage profiles.kmer_vectors: k-mer vectors of the fragments the embedding stage wrote ids of."""
    from planktonlm.reads.kmers import kmer_vectors_for_sample

    n = kmer_vectors_for_sample(spec["r1"], spec["r2"], ids_file=spec["ids"], out_npy=spec["out"]["vectors"],
                                k=config["profiles"]["kmer_k"])
    return {"fragments": n}


_STAGE_FUNCTIONS = {
    "check_fastq": _stage_check_fastq,
    "cutadapt": _stage_cutadapt,
    "merge_units": _stage_merge_units,
    "embed_share": _stage_embed,
    "embed_all": _stage_embed,
    "kmer_vectors_share": _stage_kmer_vectors,
    "kmer_vectors_all": _stage_kmer_vectors,
}


def run_stage(spec_path: str) -> None:
    """Child entry point: run the stage described by the JSON file ``spec_path``; write what it
    reports (fragments, records) to the spec's ``result`` file.

    The spec carries the validated config's sections, as a rule's params carry them: the child
    does not parse the config file (a workflow job does not either).
    """
    from planktonlm.io import setup_logging

    setup_logging()  # the stage's own progress lines (stderr: the stage's log), as in a workflow job's log
    spec = json.loads(Path(spec_path).read_text())
    info = _STAGE_FUNCTIONS[spec["stage"]](spec, spec["config"])
    Path(spec["result"]).write_text(json.dumps({**info, "peak_rss_mb": own_peak_rss_mb()}) + "\n")


def own_peak_rss_mb() -> float:
    """Peak RSS (MB) of the largest single process so far: this one (its high-water mark since
    exec, VmHWM) or a finished child of it. RUSAGE_SELF would not do: it starts from the peak
    of the process this one was spawned from (see the module docstring)."""
    import resource

    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # >= this one's peak when they started
    try:
        with open("/proc/self/status") as handle:
            own_kb = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
    except (OSError, StopIteration):  # not Linux: the inherited-peak caveat applies
        own_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own_kb, children_kb) / 1024


# ---------------------------------------------------------------------------- measuring (parent side)


def measure_stage(spec: dict, folder: Path, label: str = "") -> dict:
    """Run one stage in a fresh Python process; its wall seconds, CPU seconds (wait4) and peak RSS (its own report).

    The child's output goes to ``<folder>/<stage>.log``; a failed child raises RuntimeError
    quoting its tail.
    """
    folder.mkdir(parents=True, exist_ok=True)
    spec = {**spec, "result": str(folder / f"{spec['stage']}.result.json")}
    spec_path = folder / f"{spec['stage']}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1) + "\n")
    log = folder / f"{spec['stage']}.log"
    _progress(f"{spec['stage']}{label}: started (its progress: {log})")
    with open(log, "wb") as out:
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", _CHILD_CODE, str(spec_path)], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage (and its waited-for children's)
        wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    if child.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"bench scale: stage {spec['stage']} failed (exit {child.returncode}):\n" + "\n".join(tail))
    info = json.loads(Path(spec["result"]).read_text())  # fragments or records, and peak_rss_mb
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, **info}


def measured_row(stage: str, pairs: int, repeats: list[dict]) -> dict:
    """One (stage, size) row from its repeated measurements: median wall and CPU seconds (one slow
    start-up does not bend the line), their range, every wall time in the order measured (the
    excess fit uses them all), and the largest peak RSS (memory is not averaged away)."""
    wall = [m["wall_s"] for m in repeats]
    median_wall = statistics.median(wall)
    first = repeats[0]
    return {"stage": stage, "pairs": pairs, "fragments": first.get("fragments", first.get("records")),
            "repeats": len(repeats), "wall_s": round(median_wall, 2),
            "wall_s_min": round(min(wall), 2), "wall_s_max": round(max(wall), 2),
            "wall_s_each": [round(w, 2) for w in wall],
            "cpu_s": round(statistics.median(m["cpu_s"] for m in repeats), 2),
            "cpu_s_each": [round(m["cpu_s"], 2) for m in repeats],
            "peak_rss_mb": round(max(m["peak_rss_mb"] for m in repeats), 1),
            "s_per_m_pairs": round(median_wall / (pairs / 1e6), 2)}


def _row_order(row: dict) -> tuple[int, int]:
    """Rows by size, then in STAGES order (a stage not in STAGES last)."""
    return row["pairs"], STAGES.index(row["stage"]) if row["stage"] in STAGES else len(STAGES)


def _file_mb(*paths: str) -> float:
    return sum(os.path.getsize(p) for p in paths if os.path.exists(p)) / 1e6


def _size_stages(pairs: int, reads: tuple[Path, Path], run: Path, base: dict, share: int, embed_all: bool) -> list[dict]:
    """The specs of one size's stages in run order, each with its outputs and the files it can delete after."""
    fq1, fq2 = str(reads[0]), str(reads[1])
    unit = {k: str(run / f"{UNIT}_{k}") for k in ("R1.fastq", "R2.fastq")}
    qc1, qc2 = str(run / f"{SAMPLE}_R1.fastq.gz"), str(run / f"{SAMPLE}_R2.fastq.gz")
    specs = [
        {"stage": "check_fastq", "fq1": fq1, "fq2": fq2, "out": {"report": str(run / "check.tsv")}},
        {"stage": "cutadapt", "fq1": fq1, "fq2": fq2,
         "out": {"r1": unit["R1.fastq"], "r2": unit["R2.fastq"], "json": str(run / f"{UNIT}.cutadapt.json"),
                 "report": str(run / f"{UNIT}.cutadapt.txt"), "log": str(run / f"{UNIT}.cutadapt.log")}},
        {"stage": "merge_units", "r1": unit["R1.fastq"], "r2": unit["R2.fastq"], "json": str(run / f"{UNIT}.cutadapt.json"),
         "out": {"r1": qc1, "r2": qc2, "accounting": str(run / "accounting.tsv")},
         "delete_after": [unit["R1.fastq"], unit["R2.fastq"]]},
    ]
    for mode, reads_per_sample in (("share", share), ("all", 0)):
        npy, ids, vectors = (str(run / f"embed_{mode}.npy"), str(run / f"embed_{mode}.ids.txt"),
                             str(run / f"kmer_{mode}.npy"))
        kmer = {"stage": f"kmer_vectors_{mode}", "r1": qc1, "r2": qc2, "ids": ids, "out": {"vectors": vectors},
                "delete_after": [ids, vectors]}
        if mode == "share" or embed_all:
            specs += [{"stage": f"embed_{mode}", "r1": qc1, "r2": qc2, "reads_per_sample": reads_per_sample,
                       "out": {"npy": npy, "ids": ids}, "delete_after": [npy]}, kmer]
        else:  # the ids embed_all would have written, listed by the parent before the stage is measured
            specs.append({**kmer, "list_ids_first": True})
    return [{**base, **spec} for spec in specs]


def list_fragment_ids(r1: str, r2: str | None, out_ids: str) -> int:
    """Write the id of every fragment of the sample, in file order, one per line: the ids file
    ``embed_sample`` writes with ``reads_per_sample = 0``, without the encoder. Returns the count."""
    from planktonlm.io import atomic_path
    from planktonlm.reads.fragments import iter_fragments

    n = 0
    with atomic_path(out_ids) as tmp, open(tmp, "w") as out:
        for fragment in iter_fragments(r1, r2):
            out.write(f"{fragment.read_id}\n")
            n += 1
    return n


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def superlinear_excess(rows: list[dict], smallest: int, largest: int, level: float = EXCESS_LEVEL) -> dict:
    """The excess of a stage's time at ``largest`` pairs over the straight continuation of its cost
    at ``smallest`` (see the module docstring), from every repeat of every row, with its Fieller
    interval; None where it cannot be estimated (fewer than 3 sizes, no residual degrees of freedom,
    no size-dependent time). ``excess_ci90`` holds None for an unbounded side."""
    import numpy as np
    from scipy import stats

    none = {"excess": None, "excess_ci90": None, "excess_df": None}
    sizes, times, weights = [], [], []
    for row in rows:
        each = row.get("wall_s_each") or [row["wall_s"]]  # rows merged from before repeats were kept: one point
        mean = sum(each) / len(each)
        if mean <= 0:
            continue
        sizes += [row["pairs"] / 1e6] * len(each)
        times += each
        weights += [1.0 / mean**2] * len(each)
    df = len(times) - 3
    if len(set(sizes)) < 3 or df < 1:
        return none
    n, root_w = np.asarray(sizes), np.sqrt(weights)
    design = np.column_stack([np.ones_like(n), n, n * n]) * root_w[:, None]  # (points, 3): a, b, c
    target = np.asarray(times) * root_w
    beta, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ beta
    cov = (residual @ residual / df) * np.linalg.pinv(design.T @ design)
    s, big = smallest / 1e6, largest / 1e6
    num, den = np.array([0.0, 0.0, (big - s) ** 2]), np.array([0.0, big, big * big])
    top, bottom = num @ beta, den @ beta
    if bottom <= 0:  # no size-dependent time at the largest size: nothing to compare against
        return {**none, "excess_df": df}
    # Fieller: the excesses r with (top - r bottom)^2 <= q^2 var(top - r bottom)
    q = stats.t.ppf(1 - (1 - level) / 2, df)
    v_tt, v_bb, v_tb = num @ cov @ num, den @ cov @ den, num @ cov @ den
    qa, qb, qc = bottom**2 - q * q * v_bb, -2 * (top * bottom - q * q * v_tb), top**2 - q * q * v_tt
    if qa <= 0:  # the size-dependent time itself is not told from 0: the interval is unbounded
        interval = [None, None]
    else:
        half = np.sqrt(max(qb * qb - 4 * qa * qc, 0.0))
        interval = [_share((-qb - half) / (2 * qa)), _share((-qb + half) / (2 * qa))]
    return {"excess": _share(top / bottom), "excess_ci90": interval, "excess_df": df}


def _share(value: float) -> float:
    """A share rounded to 4 places, as a plain float (+ 0.0: no -0.0 in the JSON)."""
    return round(float(value), 4) + 0.0


def time_verdict(excess_ci90: list | None, excess_df: int | None, per_pair_ratio: float | None) -> str:
    """linear, superlinear, sublinear or inconclusive (see the module docstring)."""
    if per_pair_ratio is not None and per_pair_ratio > PER_PAIR_RATIO_MAX:
        return "superlinear"
    low, high = excess_ci90 if excess_ci90 and (excess_df or 0) >= EXCESS_MIN_DF else (None, None)
    if low is not None and low > EXCESS_MARGIN:
        return "superlinear"
    if high is not None and high < -EXCESS_MARGIN:
        return "sublinear"
    if low is not None and high is not None and -EXCESS_MARGIN <= low and high <= EXCESS_MARGIN and per_pair_ratio is not None:
        return "linear"
    return "inconclusive"


def fit_stage(stage: str, rows: list[dict]) -> dict:
    """The summary row of one stage from its measured rows (any order): line fit, ratios and
    memory over the claimed sizes; excess and verdict over those and the anchor."""
    measured = rows
    rows = sorted((r for r in rows if not r.get("anchor")), key=lambda r: r["pairs"])
    pairs = [r["pairs"] / 1e6 for r in rows]
    wall = [r["wall_s"] for r in rows]
    rss = [r["peak_rss_mb"] for r in rows]
    anchors = sorted(r["pairs"] for r in measured if r.get("anchor"))
    out: dict = {"stage": stage, "pairs": "fit", "sizes": len(rows), "anchor_pairs": anchors[0] if anchors else None}
    if len(rows) < 2:
        return {**out, "slope_s_per_m_pairs": None, "intercept_s": None, "r2": None, "per_pair_ratio": None,
                "marginal_ratio": None, "excess": None, "excess_ci90": None, "excess_df": None, "time_verdict": None,
                "rss_ratio": None, "rss_slope_mb_per_m_pairs": None, "time_linear": None, "memory_flat": None}
    slope, intercept = statistics.linear_regression(pairs, wall)
    rss_slope, _ = statistics.linear_regression(pairs, rss)
    r2 = statistics.correlation(pairs, wall) ** 2 if len(set(wall)) > 1 else None
    per_pair = _ratio(wall[-1] / pairs[-1], wall[0] / pairs[0])
    marginal = None
    if len(rows) >= 3:
        marginal = _ratio((wall[-1] - wall[-2]) / (pairs[-1] - pairs[-2]), (wall[1] - wall[0]) / (pairs[1] - pairs[0]))
    excess = superlinear_excess(measured, rows[0]["pairs"], rows[-1]["pairs"])
    verdict = time_verdict(excess["excess_ci90"], excess["excess_df"], per_pair)
    return {
        **out,
        "slope_s_per_m_pairs": round(slope, 2),
        "intercept_s": round(intercept, 2),
        "r2": None if r2 is None else round(r2, 4),
        "per_pair_ratio": None if per_pair is None else round(per_pair, 3),
        "marginal_ratio": None if marginal is None else round(marginal, 3),
        **excess,
        "time_verdict": verdict,
        "rss_ratio": round(max(rss) / min(rss), 3),
        "rss_slope_mb_per_m_pairs": round(rss_slope, 1),
        "time_linear": {"linear": True, "inconclusive": None}.get(verdict, False),
        "memory_flat": rss[-1] <= RSS_FLAT_FACTOR * rss[0] + RSS_FLAT_SLACK_MB,
    }


def fit_stages(rows: list[dict]) -> list[dict]:
    """The summary rows (:func:`fit_stage`) of every stage that has measured rows, in STAGES order."""
    return [fit_stage(stage, [r for r in rows if r["stage"] == stage]) for stage in STAGES
            if any(r["stage"] == stage for r in rows)]


def parse_pairs(text: str, option: str = "--pairs") -> list[int]:
    """``--pairs`` (or ``option``): comma-separated positive read-pair counts (``_`` allowed: 500_000), sorted.

    A malformed value is a PlanktonlmInputError naming the option.
    """
    from planktonlm.errors import InputProblem, PlanktonlmInputError

    try:
        sizes = [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        raise PlanktonlmInputError(InputProblem(file="planktonlm bench scale", column=option, value=text,
                                                message=f"{option} must be comma-separated positive integers",
                                                expected="e.g. 500000,1000000,2000000,4000000"))
    return sorted(set(sizes))


def bench_scale(args) -> dict:
    """Run every stage at every size (``args``: the ``planktonlm bench`` namespace); the result dict."""
    from planktonlm.config import load_config
    from planktonlm.errors import InputProblem, PlanktonlmInputError

    sizes = parse_pairs(args.pairs)
    read_sizes = parse_pairs(args.reads_for, "--reads-for") if args.reads_for else []
    anchor = min(DEFAULT_ANCHOR_PAIRS, sizes[0] // 10) if args.anchor_pairs is None else args.anchor_pairs
    if anchor < 0 or (anchor and anchor >= sizes[0]):
        raise PlanktonlmInputError(InputProblem(file="planktonlm bench scale", column="--anchor-pairs", value=anchor,
                                                message="the anchor size must lie below every size of --pairs",
                                                expected=f"0 (no anchor) or an integer from 1 to {sizes[0] - 1}"))
    measured_sizes = ([anchor] if anchor else []) + sizes
    read_sizes = sorted(set(read_sizes + measured_sizes))
    config_path = Path(args.config).resolve()
    config = load_config(config_path)
    share = args.embed_share if args.embed_share is not None else config["embed"]["reads_per_sample"]
    if share <= 0:
        raise PlanktonlmInputError(InputProblem(file="planktonlm bench scale", column="--embed-share", value=share,
                                                message="the share must be a number of fragments",
                                                expected="an integer >= 1 (embed_all measures every fragment)"))
    model = Path(args.model or DEFAULT_MODEL).resolve()
    if not (model / "model.pt").is_file():
        raise PlanktonlmInputError(InputProblem(file=str(model), column="--model", message="not a model folder",
                                                expected="a planktonlm model folder (model.pt, config.json, tokenizer.json)"))
    all_cap = args.embed_all_max_pairs
    repeats = max(1, args.repeats)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="planktonlm-bench-scale-") as tmp:
        work = Path(args.work_dir).resolve() if args.work_dir else Path(tmp)
        clock = time.perf_counter()
        reads = write_scale_reads(work / "reads", read_sizes, args.seed, args.genomes)
        reads_s = time.perf_counter() - clock
        _progress(f"reads: {sizes[-1]} pairs in {reads_s:.1f} s ({work / 'reads'})")
        sections = {key: config[key] for key in ("seed", "validate", "qc", "embed", "profiles")}
        base = {"config": sections, "model": str(model), "device": args.device}
        measured: dict[tuple[int, str], list[dict]] = {}
        output_mb: dict[tuple[int, str], float] = {}
        for round_no in range(1, repeats + 1):
            # Rounds, not repeats in a row: drift in the machine's speed over the run falls on every
            # size alike instead of on the sizes measured last (odd rounds ascend, even ones descend).
            for pairs in measured_sizes if round_no % 2 else measured_sizes[::-1]:
                run = work / "runs" / f"pairs_{pairs}"
                shutil.rmtree(run, ignore_errors=True)
                embed_all = all_cap is None or pairs <= all_cap
                for spec in _size_stages(pairs, reads[pairs], run, base, share, embed_all):
                    if spec.get("list_ids_first"):
                        clock = time.perf_counter()
                        listed = list_fragment_ids(spec["r1"], spec["r2"], spec["ids"])
                        _progress(f"{spec['stage']}: {listed} fragment ids listed in {time.perf_counter() - clock:.1f} s "
                                  f"(embed_all not run at {pairs} pairs; not part of the measurement)")
                    where = f" at {pairs} pairs, round {round_no}/{repeats}"
                    one = measure_stage(spec, run, where)
                    measured.setdefault((pairs, spec["stage"]), []).append(one)
                    output_mb[pairs, spec["stage"]] = round(_file_mb(*[p for key, p in spec["out"].items() if key != "log"]), 1)
                    _progress(f"{spec['stage']}{where}: {one['wall_s']:.2f} s")
                    for path in spec.get("delete_after", []):
                        Path(path).unlink(missing_ok=True)
                shutil.rmtree(run, ignore_errors=True)
        rows = sorted(({**measured_row(stage, pairs, repeated), "output_mb": output_mb[pairs, stage],
                        **({"anchor": True} if pairs == anchor else {})}
                       for (pairs, stage), repeated in measured.items()), key=_row_order)
        reads_mb = {n: round(_file_mb(*map(str, reads[n])), 1) for n in measured_sizes}
    summary = fit_stages(rows)
    return {
        "target": "scale",
        "parameters": {"pairs": ",".join(map(str, sizes)), "read_length": READ_LENGTH, "embed_share": share,
                       "reads_for": ",".join(map(str, read_sizes)), "anchor_pairs": anchor or None,
                       "embed_all_max_pairs": all_cap, "repeats": repeats,
                       "config": str(args.config), "model": str(args.model or DEFAULT_MODEL),
                       "device": args.device, "qc_threads": config["qc"]["threads"], "embed_threads": config["embed"]["threads"],
                       "fastq_scan": config["validate"]["fastq_scan"], "kmer_k": config["profiles"]["kmer_k"],
                       "seed": args.seed, "config_seed": config["seed"], "reads_s": round(reads_s, 1),
                       "reads_gz_mb": reads_mb, "total_s": round(time.perf_counter() - started, 1),
                       **{name: _version(name) for name in ("numpy", "torch", "cutadapt", "dnaio")}},
        "results": rows + summary,
        "summary": summary,
        "criteria": CRITERIA,
    }


# what must agree between runs whose rows are merged: same work, same software, same machine
MERGE_SAME_PARAMETERS = ("read_length", "embed_share", "config", "model", "device", "qc_threads", "embed_threads",
                         "fastq_scan", "kmer_k", "seed", "config_seed", "numpy", "torch", "cutadapt", "dnaio")
MERGE_SAME_MACHINE = ("cpu_count", "cpu_model", "platform", "python")  # cpus_usable may differ: threads are parameters


def parse_merge_source(text: str) -> tuple[str, tuple[str, ...] | None]:
    """``--merge`` item ``PATH`` or ``PATH:STAGE,STAGE``: the file and the stages taken from it (None: all)."""
    path, sep, tail = text.rpartition(":")
    if not sep or not tail or "/" in tail or Path(text).exists():  # a path that holds a colon stays a path
        return text, None
    return path, tuple(part.strip() for part in tail.split(",") if part.strip())


def merge_scale_results(sources: Sequence[str]) -> dict:
    """One result from the rows of earlier ``--json`` results of the same benchmark, refitted.

    A run of hours can be split over processes (``--pairs 2000000`` and ``--pairs 4000000`` side
    by side, on the reads of one ``--reads-for``); merging takes every (stage, size) row once,
    from the files and stages named, and fits each stage over all its sizes as one run does.
    Refused: a file that is not a ``bench scale`` result, a stage it did not measure, a (stage,
    size) measured by two sources, runs that differ in a parameter of the work or the software
    (``MERGE_SAME_PARAMETERS``) or in the machine.
    """
    from planktonlm.errors import InputProblem, PlanktonlmInputError

    def refuse(file: str, message: str, value: object = None, expected: str = "") -> PlanktonlmInputError:
        return PlanktonlmInputError(InputProblem(file=file, column="--merge", value=value, message=message,
                                                 expected=expected))

    rows: list[dict] = []
    origin: dict[tuple[str, int], str] = {}
    first: tuple[str, dict] | None = None
    merged_from = []
    for item in sources:
        path, stages = parse_merge_source(item)
        try:
            result = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise refuse(path, f"cannot read a JSON result: {exc}", item, "a file written by planktonlm bench scale --json") from None
        if not isinstance(result, dict) or result.get("target") != "scale" or not isinstance(result.get("results"), list):
            raise refuse(path, "not a planktonlm bench scale result", result.get("target") if isinstance(result, dict) else None,
                         "a file written by planktonlm bench scale --json")
        measured = [r for r in result["results"] if r.get("pairs") != "fit"]
        present = sorted({r["stage"] for r in measured})
        for stage in stages or ():
            if stage not in present:
                raise refuse(path, f"stage {stage!r} was not measured in this file", stage, f"one of {present}")
        if first is None:
            first = (path, result)
        else:
            for section, keys in (("parameters", MERGE_SAME_PARAMETERS), ("machine", MERGE_SAME_MACHINE)):
                for key in keys:
                    mine, theirs = result.get(section, {}).get(key), first[1].get(section, {}).get(key)
                    if mine != theirs:
                        raise refuse(path, f"{section} {key!r} differs from {first[0]}'s ({theirs!r}): "
                                           "rows of different work, software or machines do not fit one line",
                                     mine, f"{theirs!r}")
        # rows written before --repeats applied to this target are single measurements
        taken = [{**r, "repeats": r.get("repeats", 1)} for r in measured if stages is None or r["stage"] in stages]
        for row in taken:
            key = (row["stage"], row["pairs"])
            if key in origin:
                raise refuse(path, f"{row['stage']} at {row['pairs']} pairs is also taken from {origin[key]}",
                             f"{row['stage']}@{row['pairs']}", "each (stage, size) from one source: name the stages "
                                                                "to take as PATH:STAGE,STAGE; measure an anchor in one "
                                                                "run only (--anchor-pairs 0 in the others)")
            origin[key] = path
        rows += taken
        merged_from.append({"file": path, "stages": ",".join(stages) if stages else "all",
                            "pairs": result.get("parameters", {}).get("pairs"),
                            "total_s": result.get("parameters", {}).get("total_s"),
                            "repeats": result.get("parameters", {}).get("repeats", 1),
                            "cpus_usable": result.get("machine", {}).get("cpus_usable")})
    if first is None:
        raise refuse("planktonlm bench scale", "nothing to merge", None, "one or more --merge files")
    rows.sort(key=_row_order)
    summary = fit_stages(rows)
    parameters = {key: first[1]["parameters"].get(key) for key in MERGE_SAME_PARAMETERS}
    sizes = sorted({r["pairs"] for r in rows if not r.get("anchor")})
    anchors = sorted({r["pairs"] for r in rows if r.get("anchor")})
    return {"target": "scale", "parameters": {"pairs": ",".join(map(str, sizes)),
                                              "anchor_pairs": ",".join(map(str, anchors)) or None,
                                              **parameters, "merged_from": merged_from},
            "results": rows + summary, "summary": summary, "criteria": CRITERIA,
            "machine": {key: first[1].get("machine", {}).get(key) for key in MERGE_SAME_MACHINE}}


def _version(package: str) -> str | None:
    """An installed package's version, without importing it (torch takes seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _progress(line: str) -> None:
    """One line per measured stage on stderr: a run of hours shows where it is."""
    print(f"bench scale {time.strftime('%H:%M:%S')}: {line}", file=sys.stderr, flush=True)
