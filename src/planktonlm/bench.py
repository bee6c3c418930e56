"""``planktonlm bench TARGET``: the measured numbers that design choices and the README rest on.

Every target is a function ``(argparse.Namespace) -> dict`` registered in ``BENCHMARKS``; its
options go in ``add_bench_arguments``. ``run_bench`` prints the result as a small table (plus
the machine it ran on) and, with ``--json PATH``, writes it as JSON too. Imports here stay
standard-library (and planktonlm.errors) only at module level: the CLI builds its parser from this
module, and ``planktonlm --help`` must stay instant; each target imports its heavy stack itself.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from planktonlm.errors import InputProblem, PlanktonlmInputError

BENCH_TARGETS = ("simulate", "encoder-throughput", "encoder-quality", "stats-null", "dag", "scale")
DAG_TARGET_S = 30.0  # parse + DAG of a 500-sample, 1000-unit cruise must stay under this


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``planktonlm bench``: shared ones, then one group per target."""
    parser.add_argument("target", choices=BENCH_TARGETS, help="what to measure")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the median is reported")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this path")
    sim = parser.add_argument_group("simulate")
    sim.add_argument("--preset", default="demo", help="cruise design preset to simulate")
    sim.add_argument("--reads-per-sample", type=int, default=None, help="read pairs per sample (preset default)")
    sim.add_argument("--read-length", type=int, default=None, help="read length (preset default)")
    sim.add_argument("--genomes", default=None, help="genomes folder (default: resources/genomes)")
    sim.add_argument("--seed", type=int, default=1)
    enc = parser.add_argument_group("encoder-throughput / encoder-quality")
    enc.add_argument("--sim-dir", default="resources/demo", help="a simulated cruise (reads + truth/)")
    enc.add_argument("--config", default="config/config.yaml", help="config whose model/train sections are measured")
    enc.add_argument("--n-eval-reads", type=int, default=3000, help="held-out read pairs scored (encoder-quality)")
    enc.add_argument("--split", default="reported", choices=("tuning", "reported"),
                     help="held-out genome regions to score (encoder-quality): tuning to choose a recipe, reported for figures")
    enc.add_argument("--work-dir", default=None, help="keep the fine-tuned model here (encoder-quality; default: a temporary folder)")
    enc.add_argument("--reuse-model", action="store_true",
                     help="score the model already fine-tuned in --work-dir (same cruise and config) instead of fine-tuning again")
    enc.add_argument("--no-community", action="store_true", help="skip the community-level scores (encoder-quality)")
    enc.add_argument("--no-large", action="store_true", help="skip the DNABERT-2-sized reference (encoder-throughput)")
    enc.add_argument("--device", default="auto", help="auto | cpu | cuda")
    null = parser.add_argument_group("stats-null")
    null.add_argument("--per-cell", type=int, default=25,
                      help="simulated cruises per design cell (8 cells: phi 0.5/0.85 x 3/6 stations x 24/48 months), each null and driven")
    null.add_argument("--permutations", type=int, default=199, help="permutations per test")
    null.add_argument("--jobs", type=int, default=1, help="processes")
    null.add_argument("--rows", default=None, help="also write one row per simulated cruise and scheme (TSV)")
    dag = parser.add_argument_group("dag")
    dag.add_argument("--samples", type=int, default=500, help="samples of the synthetic cruise")
    dag.add_argument("--units", type=int, default=2, help="paired-end units per sample")
    dag.add_argument("--snakefile", default="Snakefile", help="the workflow whose DAG is built (default: ./Snakefile)")
    scale = parser.add_argument_group("scale (also: --config, --device, --work-dir for the reads, --genomes, --seed, --repeats)")
    scale.add_argument("--pairs", default="500000,1000000,2000000,4000000",
                       help="read pairs of the one sample, comma-separated (every size is the first N pairs of the largest)")
    scale.add_argument("--reads-for", default=None,
                       help="sizes the reads are generated for (default: --pairs); a --pairs subset of them reuses "
                            "the reads of an earlier run in --work-dir, so runs split over processes measure the same data")
    scale.add_argument("--anchor-pairs", type=int, default=None,
                       help="also measure this small size in every round (default 50000, or a tenth of the smallest "
                            "--pairs if less; 0: none): not a claimed size, it pins each stage's fixed cost for the "
                            "excess fit (see planktonlm.benchmarks_scale); of runs to be merged, measure it in one only")
    scale.add_argument("--embed-all-max-pairs", type=int, default=None,
                       help="embed every fragment only at sizes up to this many pairs (default: every size); "
                            "the k-mer vectors of every fragment are measured at every size")
    scale.add_argument("--embed-share", type=int, default=None,
                       help="fragments embedded per sample in the share mode (default: the config's embed.reads_per_sample)")
    scale.add_argument("--model", default=None, help="the encoder model folder (default: resources/models/marine-base-v1)")
    scale.add_argument("--merge", nargs="+", default=None, metavar="JSON[:STAGE,...]",
                       help="measure nothing: merge the rows of earlier --json results (of the stages named, or all) "
                            "and fit each stage over all its sizes, e.g. runs split over processes")


def machine_info() -> dict:
    """The machine a number was measured on."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def bench_simulate(
    preset: str = "demo",
    reads_per_sample: int | None = None,
    read_length: int | None = None,
    genomes_dir: Path | str | None = None,
    repeats: int = 3,
    seed: int = 1,
) -> dict:
    """Read pairs per second of the cruise simulator, stage by stage and end to end."""
    # numpy and pandas: deferred to keep `planktonlm --help` fast
    import numpy as np

    from planktonlm.simulate.community import resolve_niches, simulate_community
    from planktonlm.simulate.design import PRESETS
    from planktonlm.simulate.environment import simulate_environment
    from planktonlm.simulate.genomes import DEFAULT_GENOMES_DIR, GenomeSet
    from planktonlm.simulate.gzipio import GZIP_BACKEND, GZIP_LEVEL
    from planktonlm.simulate.reads import format_fastq, iter_sample_read_pairs, read_shares
    from planktonlm.simulate.writer import select_genomes, simulate_cruise

    if preset not in PRESETS:
        raise PlanktonlmInputError(InputProblem(file="planktonlm bench simulate", column="--preset", value=preset,
                                                message="unknown preset", expected=f"one of {sorted(PRESETS)}"))
    design = PRESETS[preset]
    overrides = {"reads_per_sample": reads_per_sample, "read_length": read_length}
    design = dataclasses.replace(design, **{k: v for k, v in overrides.items() if v is not None})
    genomes_dir = Path(genomes_dir) if genomes_dir else DEFAULT_GENOMES_DIR

    clock = time.perf_counter()
    genome_set = GenomeSet(select_genomes(design, genomes_dir))
    load_s = time.perf_counter() - clock
    env = simulate_environment(design, seed)
    abundance = simulate_community(env, resolve_niches(genome_set.names, seed), seed, design.community_noise_sd)
    shares = read_shares(abundance, genome_set)
    pairs = len(env) * design.reads_per_sample
    width = len(str(design.reads_per_sample))

    generate, to_text, end_to_end = [], [], []
    for _ in range(max(1, repeats)):
        clock = time.perf_counter()
        for i in range(len(env)):
            for _batch in iter_sample_read_pairs(genome_set, shares[i], design.reads_per_sample, design, seed, i):
                pass
        generate.append(time.perf_counter() - clock)

        clock = time.perf_counter()
        for i, sample in enumerate(env["sample"]):
            for b in iter_sample_read_pairs(genome_set, shares[i], design.reads_per_sample, design, seed, i):
                format_fastq(sample, 1, width, 1, b.r1, b.q1)
                format_fastq(sample, 1, width, 2, b.r2, b.q2)
        to_text.append(time.perf_counter() - clock)

        with tempfile.TemporaryDirectory(prefix="planktonlm-bench-") as tmp:
            clock = time.perf_counter()
            simulate_cruise(design, Path(tmp) / "cruise", seed, genomes_dir)
            end_to_end.append(time.perf_counter() - clock)
            size = sum(p.stat().st_size for p in (Path(tmp) / "cruise").rglob("*") if p.is_file())

    def row(stage: str, seconds: list[float], what: str) -> dict:
        median = statistics.median(seconds)
        return {"stage": stage, "what": what, "read_pairs": pairs, "seconds_median": round(median, 3),
                "seconds_best": round(min(seconds), 3), "pairs_per_s": round(pairs / median),
                "pairs_per_s_best": round(pairs / min(seconds))}

    return {
        "target": "simulate",
        "parameters": {"preset": design.name, "samples": len(env), "reads_per_sample": design.reads_per_sample,
                       "read_length": design.read_length, "genomes": len(genome_set.names),
                       "repeats": max(1, repeats), "seed": seed, "gzip": f"{GZIP_BACKEND} level {GZIP_LEVEL}",
                       "numpy": np.__version__},
        "results": [
            row("generate", generate, "fragments, errors, qualities as arrays (no text, no files)"),
            row("generate+fastq", to_text, "as above plus FASTQ records as bytes (no compression)"),
            row("end-to-end", end_to_end, "simulate_cruise: genomes, environment, reads, gzip, truth, manifest"),
        ],
        "genome_load_s": round(load_s, 3),
        "output_bytes": size,
        "machine": machine_info(),
    }


def bench_encoder_throughput(args: argparse.Namespace) -> dict:
    """Training and embedding reads/s and peak memory: configured model vs a DNABERT-2-sized one."""
    # torch: deferred to keep `planktonlm --help` fast
    from planktonlm.config import build_config, load_config
    from planktonlm.encoder.benchmarks import bench_throughput
    from planktonlm.encoder.model import ModelConfig
    from planktonlm.encoder.train import TrainConfig
    from planktonlm.reads.fragments import select_fragments

    config = load_config(args.config)
    units = Path(args.sim_dir) / "units.tsv"
    first = units.read_text().splitlines()[1].split("\t")
    fragments = select_fragments(first[2], first[3] or None, 4096, args.seed)
    out = bench_throughput(fragments, build_config(ModelConfig, "model", config["model"]),
                           train_cfg=build_config(TrainConfig, "train", config["train"]),
                           include_large=not args.no_large, device=args.device, seed=args.seed)
    rows = [{"model": name, **{k: v for k, v in values.items() if not isinstance(v, dict)}}
            for name, values in out["models"].items()]
    return {"target": "encoder-throughput", "parameters": {"device": out["device"], "reads": first[2]},
            "results": rows, "machine": machine_info()}


def bench_encoder_quality(args: argparse.Namespace) -> dict:
    """Genome of origin from read vectors on held-out genome regions: encoder vs k-mer baselines vs ceiling."""
    from planktonlm.config import load_config  # torch: deferred to keep `planktonlm --help` fast
    from planktonlm.encoder.quality import bench_quality

    out = bench_quality(args.sim_dir, load_config(args.config), split=args.split, n_eval_reads=args.n_eval_reads,
                        seed=args.seed, genomes_dir=args.genomes or "resources/genomes", device=args.device,
                        work_dir=args.work_dir, reuse_model=args.reuse_model, community=not args.no_community)
    keys = ("knn_accuracy", "knn_balanced_accuracy", "kmeans_ari", "knn_vs_best_kmer", "knn_vs_ceiling", "ari_vs_best_kmer")
    rows = [{"representation": name, **{key: round(scores[key], 4) for key in keys}} for name, scores in out["scores"].items()]
    rows.append({"representation": "ceiling (naive Bayes, 8-mers of the true genomes)",
                 "knn_accuracy": round(out["ceiling"]["accuracy"], 4),
                 "knn_balanced_accuracy": round(out["ceiling"]["balanced_accuracy"], 4)})
    for name, values in out.get("community", {}).items():
        if isinstance(values, dict):
            rows.append({"representation": f"{name} OTUs (community)", "mantel_r": round(values["mantel_r"], 4),
                         "nmi": round(values["nmi"], 4), "purity": round(values["purity"], 4)})
    params = {key: out[key] for key in ("split", "n_eval_fragments", "n_pool_fragments", "n_genomes", "base", "device", "seconds")}
    return {"target": "encoder-quality", "parameters": params, "results": rows, "details": out, "machine": machine_info()}


def bench_stats_null(args: argparse.Namespace) -> dict:
    """Rejection rates of the shifts tests on autocorrelated null cruises (and power on driven ones)."""
    from planktonlm.stats.calibration import calibrate  # scikit-learn, joblib: deferred to keep `planktonlm --help` fast

    started = time.perf_counter()
    rows, summary = calibrate(n_per_cell=args.per_cell, n_permutations=args.permutations, seed=args.seed, n_jobs=args.jobs)
    if args.rows:
        rows.to_csv(args.rows, sep="\t", index=False)
    return {
        "results": summary.to_dict(orient="records"),
        "parameters": {"per_cell": args.per_cell, "permutations": args.permutations, "seed": args.seed, "alpha": 0.05,
                       "seconds": round(time.perf_counter() - started, 1)},
        "machine": machine_info(),
    }


def write_dag_cruise(folder: Path, n_samples: int, n_units: int) -> Path:
    """A synthetic cruise of ``n_samples`` x ``n_units`` paired-end units in ``folder``; returns its config.

    Every unit gets its own copy of one tiny gzip read pair (real, readable files: the parse-time
    checks stat and open them, and each is a distinct file, as two units never share a FASTQ).
    Paths in the sheets are relative to ``folder``, the run's working directory.
    """
    reads = folder / "reads"
    reads.mkdir(parents=True)
    sequence = "ACGTTGCAAGCTTAGCCGATCGATTACGGCATGCATCGATCGGATCCATGCAAGTCGACTGA" * 2
    for mate in (1, 2):
        text = "".join(f"@r{i}/{mate}\n{sequence}\n+\n{'F' * len(sequence)}\n" for i in range(4))
        (reads / f"template_R{mate}.fastq.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    header = ["sample", "cruise", "station", "datetime", "latitude", "longitude", "depth_m", "temperature_c", "ph",
              "pressure_dbar", "salinity_psu"]
    samples, units = ["\t".join(header)], ["\t".join(["sample", "unit", "fq1", "fq2"])]
    for i in range(n_samples):
        sample, depth = f"S{i + 1:05d}", (5, 50, 200)[i % 3]
        month, day = divmod(i // 10, 28)
        samples.append("\t".join([sample, "BENCH", f"ST{i % 10 + 1:02d}", f"{2021 + month // 12}-{month % 12 + 1:02d}-{day + 1:02d}",
                                  f"{30 + i % 10 * 0.1:.2f}", f"{-60 - i % 10 * 0.1:.2f}", str(depth), f"{20 - depth / 20:.1f}",
                                  "8.05", f"{1.02 * depth:.1f}", "36.1"]))
        for u in range(1, n_units + 1):
            paths = [f"reads/{sample}_L{u}_R{mate}.fastq.gz" for mate in (1, 2)]
            for mate, path in zip((1, 2), paths):
                shutil.copyfile(reads / f"template_R{mate}.fastq.gz", folder / path)
            units.append("\t".join([sample, f"L{u}", *paths]))
    (folder / "samples.tsv").write_text("\n".join(samples) + "\n")
    (folder / "units.tsv").write_text("\n".join(units) + "\n")
    config = folder / "bench.yaml"
    config.write_text("samples: samples.tsv\nunits: units.tsv\noracle_truth: \"\"\n")
    return config


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of the finished child processes so far: on a shared machine
    the wall time of a dry run also counts the time other processes held the cores."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_dag(args: argparse.Namespace) -> dict:
    """Start-up cost of a large cruise: parsing (config, sheets, parse-time file checks) in process,
    and ``snakemake --dry-run`` (a fresh process: Snakemake's start, the same parse, the whole DAG)."""
    from planktonlm.config import load_config  # pandas, jsonschema: deferred to keep `planktonlm --help` fast
    from planktonlm.inputs.cruise import load_workflow_cruise

    snakefile = Path(args.snakefile).resolve()
    if not snakefile.is_file():
        raise PlanktonlmInputError(InputProblem(file="planktonlm bench dag", column="--snakefile", value=str(snakefile),
                                                message="no such file", expected="the workflow's Snakefile (run from the repository root)"))
    parse, dag, parse_cpu, dag_cpu, jobs = [], [], [], [], None
    with tempfile.TemporaryDirectory(prefix="planktonlm-bench-dag-") as tmp:
        folder = Path(tmp)
        clock = time.perf_counter()
        config = write_dag_cruise(folder, args.samples, args.units)
        write_s = time.perf_counter() - clock
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(folder),
                   "--configfile", str(config), "--cores", "1", "--dry-run", "--quiet", "rules"]
        for _ in range(max(1, args.repeats)):
            with contextlib.chdir(folder):
                clock, cpu = time.perf_counter(), time.process_time()
                cruise = load_workflow_cruise(load_config(config), scan_content=False)
                parse.append(time.perf_counter() - clock)
                parse_cpu.append(time.process_time() - cpu)
            clock, cpu = time.perf_counter(), _children_cpu_s()
            done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
            dag.append(time.perf_counter() - clock)
            dag_cpu.append(_children_cpu_s() - cpu)
            if done.returncode != 0:
                raise RuntimeError(f"snakemake --dry-run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
            total = re.search(r"^total\s+(\d+)", done.stdout + done.stderr, re.MULTILINE)
            jobs = int(total.group(1)) if total else None
    n_units = len(cruise.units)

    def row(stage: str, seconds: list[float], cpu: list[float], what: str) -> dict:
        median = statistics.median(seconds)
        return {"stage": stage, "what": what, "samples": args.samples, "units": n_units,
                "seconds_median": round(median, 2), "seconds_best": round(min(seconds), 2),
                "cpu_seconds_median": round(statistics.median(cpu), 2), "target_s": DAG_TARGET_S,
                "within_target": median < DAG_TARGET_S}

    return {
        "target": "dag",
        "parameters": {"samples": args.samples, "units_per_sample": args.units, "fastq_files": 2 * n_units,
                       "jobs_planned": jobs, "repeats": max(1, args.repeats), "write_cruise_s": round(write_s, 2),
                       "snakefile": str(snakefile), "command": "snakemake --dry-run --quiet rules"},
        "results": [
            row("parse", parse, parse_cpu, "config + samples.tsv + units.tsv + parse-time FASTQ file checks, in process"),
            row("parse+dag", dag, dag_cpu, "snakemake --dry-run in a fresh process: start, parse, whole DAG (what a run waits for)"),
        ],
        "machine": machine_info(),
    }


def bench_scale(args: argparse.Namespace) -> dict:
    """One sample of growing depth through QC, embedding and k-mer vectors, a fresh process per
    stage and size: time vs read pairs (linear?) and peak memory (flat?); see planktonlm.benchmarks_scale."""
    from planktonlm.benchmarks_scale import bench_scale as run_scale  # the stages' stacks load in the children
    from planktonlm.benchmarks_scale import merge_scale_results

    if args.merge:
        return merge_scale_results(args.merge)  # the sources' machine, not this one
    return {**run_scale(args), "machine": machine_info()}


BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "simulate": lambda args: bench_simulate(args.preset, args.reads_per_sample, args.read_length, args.genomes,
                                            args.repeats, args.seed),
    "encoder-throughput": bench_encoder_throughput,
    "encoder-quality": bench_encoder_quality,
    "stats-null": bench_stats_null,
    "dag": bench_dag,
    "scale": bench_scale,
}


def format_table(result: dict) -> str:
    """Results as an aligned text table, with parameters and machine underneath."""
    rows = result["results"]
    keys = list(dict.fromkeys(key for row in rows for key in row))  # every row's columns, first seen first
    columns = [key for key in keys if key != "what"] + (["what"] if "what" in keys else [])
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(cell[i]) for cell in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(cell_row, widths)).rstrip() for cell_row in cells]
    lines.append("parameters: " + ", ".join(f"{k}={v}" for k, v in result["parameters"].items()))
    lines.append("machine: " + ", ".join(f"{k}={v}" for k, v in result["machine"].items()))
    return "\n".join(lines)


def run_bench(args: argparse.Namespace) -> dict:
    """Run the target named by ``args.target``, print its table, optionally write JSON."""
    result = BENCHMARKS[args.target](args)
    print(format_table(result))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, path)
        print(f"wrote {path}", file=sys.stderr)
    return result
