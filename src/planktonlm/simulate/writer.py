"""Writing a simulated cruise: the folder, its truth and its manifest, built beside the target.

``simulate_cruise`` writes a complete planktonlm input set, plus the truth that made it::

    <outdir>/samples.tsv            one row per sample: station, time, position, depth, environment
    <outdir>/units.tsv              one row per sequencing run: sample, unit, fq1, fq2
    <outdir>/reads/<sample>_<unit>_R{1,2}.fastq.gz    paired Illumina-like reads
    <outdir>/truth/                 what the workflow must never read (see TRUTH_FILES)
    <outdir>/.complete              manifest (sha256 of every file), written last

Same seed, same files, byte for byte (gzip with mtime 0 and a fixed level). The output folder is
built beside the target and renamed into place, so a crash never leaves a folder that looks done.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from planktonlm import __version__
from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.io import sha256_file
from planktonlm.simulate.community import (
    Niche,
    community_model_text,
    design_driver_strengths,
    resolve_niches,
    simulate_design_community,
)
from planktonlm.simulate.design import CruiseDesign, design_fields, validate_design
from planktonlm.simulate.environment import environment_model, simulate_environment
from planktonlm.simulate.genomes import DEFAULT_GENOMES_DIR, Genome, GenomeSet, genome_name, load_genomes
from planktonlm.simulate.gzipio import GZIP_BACKEND, GZIP_LEVEL, GzipOut
from planktonlm.simulate.reads import ADAPTER_R1, ADAPTER_R2, ReadPairs, format_fastq, iter_sample_read_pairs, read_shares

logger = logging.getLogger(__name__)


TRUTH_FILES = {
    "abundance.tsv": "true relative abundance of genome copies: one row per sample, one column per genome, "
    "rows sum to 1",
    "read_counts.tsv": "read pairs simulated from each genome: one row per sample, one column per genome",
    "niches.tsv": "niche of each genome: thermal optimum and width (C), preferred depth (m) and width (log10 m), "
    "pH slope (log abundance per pH unit), base weight; source = documented or random",
    "drivers.tsv": "each samples.tsv variable: role (driver, proxy, none, noise), strength (share of CLR "
    "variance carried by its own term; 0 = not a driver), rank among drivers",
    "read_origin.tsv.gz": "every read pair: sample, unit, read_id, genome, contig, strand (+: read 1 on the "
    "contig's forward strand), start (0-based leftmost fragment base on the contig), insert_size",
    "design.json": "preset, seed and every parameter of the environment, community and read models",
}


def design_record(design: CruiseDesign, seed: int, genomes: list[Genome], env_model: dict) -> dict:
    """truth/design.json: preset, seed, every design parameter and a sentence on each model."""
    return {
        "preset": design.name,
        "seed": seed,
        "planktonlm_version": __version__,
        "design": design_fields(design),
        "genomes": [
            {"name": g.name, "file": g.file, "organism": g.organism, "length_bp": g.length_bp,
             "contigs": len(g.contig_names)}
            for g in genomes
        ],
        "environment_model": env_model,
        "community_model": community_model_text(design),
        "read_model": {
            "fragments": "genome drawn with probability abundance x genome length; start uniform; never across "
            "a contig end or an N run; both strands equally likely",
            "insert_size": f"normal({design.insert_mean}, {design.insert_sd}) clipped to >= read length; "
            f"a fraction {design.short_insert_fraction} shorter than a read, read into the TruSeq adapters",
            "pairs": "read 1 from the fragment's 5' end on its strand, read 2 from the other end on the other strand",
            "qualities": "Phred around a profile falling from the 5' to the 3' end (read 2 worse), per-read and "
            "per-base noise; substitution errors drawn with exactly the probability the quality states",
            "n_calls": f"per-base probability {design.n_rate}, quality 2",
            "read_ids": "<sample>.<n>, n numbered in output order; fragments come in random order",
            "adapter_r1": ADAPTER_R1,
            "adapter_r2": ADAPTER_R2,
        },
        "gzip": {"backend": GZIP_BACKEND, "level": GZIP_LEVEL, "mtime": 0},
        "truth_files": TRUTH_FILES,
        "note": "The workflow must never read this folder: it is the answer key.",
    }


def select_genomes(design: CruiseDesign, genomes_dir: Path) -> list[Genome]:
    """The preset's genomes; a folder holding none of them (a user's own genomes) gives all of its own."""
    if design.genomes is None:
        return load_genomes(genomes_dir)
    present = {genome_name(p) for p in genomes_dir.iterdir()} if genomes_dir.is_dir() else set()
    if present and not present & set(design.genomes):
        logger.info("genomes folder %s holds none of preset %s's genomes: using all of its own",
                    genomes_dir, design.name)
        return load_genomes(genomes_dir)
    return load_genomes(genomes_dir, design.genomes)


def _prepare_outdir(outdir: Path) -> None:
    if not outdir.exists():
        return
    ours = (outdir / ".complete").exists() or (outdir / "truth" / "design.json").exists()
    if not outdir.is_dir() or (any(outdir.iterdir()) and not ours):
        raise PlanktonlmInputError(InputProblem(
            file=str(outdir), message="output folder exists and is not an earlier simulation; not overwriting",
            expected="a new folder, or one written by planktonlm simulate"))


def simulate_cruise(preset: CruiseDesign, outdir: Path, seed: int, genomes_dir: Path = DEFAULT_GENOMES_DIR) -> Path:
    """Simulate a whole cruise into ``outdir`` (replacing an earlier simulation there); returns ``outdir``.

    Everything is built in ``<outdir>.tmp-XXXX`` and renamed into place; ``.complete`` (a sha256
    manifest of every file) is the last file written.
    """
    outdir, genomes_dir = Path(outdir), Path(genomes_dir)
    if seed < 0:
        raise PlanktonlmInputError(InputProblem(file="simulate", column="seed", value=seed, message="invalid seed",
                                                expected="an integer >= 0"))
    validate_design(preset)
    _prepare_outdir(outdir)
    clock = time.perf_counter()
    genomes = select_genomes(preset, genomes_dir)
    genome_set = GenomeSet(genomes)
    too_short = [g.name for g, clean in zip(genomes, genome_set.longest_clean) if clean < preset.read_length]
    if too_short:
        raise PlanktonlmInputError([
            InputProblem(file=name, message="no N-free stretch as long as a read",
                         expected=f">= {preset.read_length} bp")
            for name in too_short
        ])
    env = simulate_environment(preset, seed)
    niches = resolve_niches(genome_set.names, seed)
    abundance = simulate_design_community(preset, env, niches, seed)
    drivers = design_driver_strengths(preset, env, niches, seed)
    logger.info("simulate %s: %d samples x %d read pairs of 2x%d bp from %d genomes (%.1f s to load)",
                preset.name, len(env), preset.reads_per_sample, preset.read_length, len(genomes),
                time.perf_counter() - clock)

    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=outdir.name + ".tmp-", dir=outdir.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary folder
    try:
        _write_cruise(tmp, outdir, preset, seed, env, genomes, genome_set, niches, abundance, drivers)
        _replace_dir(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("simulate %s: wrote %s in %.1f s", preset.name, outdir, time.perf_counter() - clock)
    return outdir


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace_dir(tmp: Path, outdir: Path) -> None:
    if outdir.exists():
        old = Path(tempfile.mkdtemp(prefix=outdir.name + ".old-", dir=outdir.parent))
        os.replace(outdir, old / "x")
        try:
            os.replace(tmp, outdir)
        except OSError:
            os.replace(old / "x", outdir)  # put the earlier simulation back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, outdir)


def _write_cruise(
    tmp: Path, outdir: Path, design: CruiseDesign, seed: int, env: pd.DataFrame, genomes: list[Genome],
    genome_set: GenomeSet, niches: list[Niche], abundance: pd.DataFrame, drivers: pd.DataFrame,
) -> None:
    (tmp / "reads").mkdir()
    (tmp / "truth").mkdir()
    _write_tsv(env, tmp / "samples.tsv", index=False)
    plan = _unit_plan(env, design)
    units = pd.DataFrame(
        [
            {"sample": s, "unit": u,
             "fq1": os.path.join(str(outdir), "reads", f"{s}_{u}_R1.fastq.gz"),
             "fq2": os.path.join(str(outdir), "reads", f"{s}_{u}_R2.fastq.gz")}
            for s, runs in plan.items() for u, _ in runs
        ]
    )
    _write_tsv(units, tmp / "units.tsv", index=False)

    shares = read_shares(abundance, genome_set)
    counts = np.zeros((len(env), len(genomes)), dtype=np.int64)
    origin = GzipOut(tmp / "truth" / "read_origin.tsv.gz")
    origin.write(b"sample\tunit\tread_id\tgenome\tcontig\tstrand\tstart\tinsert_size\n")
    clock, pairs_done = time.perf_counter(), 0
    width = len(str(design.reads_per_sample))
    index_text = [f"{k:0{width}d}" for k in range(1, design.reads_per_sample + 1)]  # same for every sample
    contig_prefix = [f"{genome_set.names[g]}\t{c}\t" for g in range(len(genomes))
                     for c in genome_set.genomes[g].contig_names]
    try:
        for i, sample in enumerate(env["sample"]):
            runs = plan[sample]
            # Unit u holds read indices [bounds[u], bounds[u+1]) of the sample, numbered from 1.
            bounds = np.cumsum([0] + [n for _, n in runs])
            writers = {u: (GzipOut(tmp / "reads" / f"{sample}_{u}_R1.fastq.gz"),
                           GzipOut(tmp / "reads" / f"{sample}_{u}_R2.fastq.gz")) for u, _ in runs}
            try:
                done = 0
                for batch in iter_sample_read_pairs(genome_set, shares[i], design.reads_per_sample, design, seed, i):
                    n = len(batch.genome)
                    counts[i] += np.bincount(batch.genome, minlength=len(genomes))
                    for k, (unit, _) in enumerate(runs):
                        lo, hi = max(bounds[k], done), min(bounds[k + 1], done + n)
                        if lo >= hi:
                            continue
                        part = slice(lo - done, hi - done)
                        w1, w2 = writers[unit]
                        w1.write(format_fastq(sample, lo + 1, width, 1, batch.r1[part], batch.q1[part]))
                        w2.write(format_fastq(sample, lo + 1, width, 2, batch.r2[part], batch.q2[part]))
                        origin.write(_origin_lines(sample, unit, index_text[lo:hi], batch, part, contig_prefix,
                                                   genome_set))
                    done += n
            finally:
                for w1, w2 in writers.values():
                    w1.close()
                    w2.close()
            pairs_done += design.reads_per_sample
            rate = pairs_done / max(time.perf_counter() - clock, 1e-9)
            logger.info("simulate: sample %d/%d %s: %d read pairs (%.0f pairs/s)", i + 1, len(env), sample,
                        design.reads_per_sample, rate)
    finally:
        origin.close()

    truth = tmp / "truth"
    _write_tsv(abundance, truth / "abundance.tsv", float_format="%.6g")
    _write_tsv(pd.DataFrame(counts, index=abundance.index, columns=genome_set.names), truth / "read_counts.tsv")
    niche_table = pd.DataFrame([dataclasses.asdict(n) for n in niches])
    if design.community_model != "niches":
        niche_table["note"] = f"not used: community_model {design.community_model} (no environmental driver)"
    niche_table.insert(1, "organism", [g.organism for g in genomes])
    niche_table.insert(2, "length_bp", [g.length_bp for g in genomes])
    _write_tsv(niche_table, truth / "niches.tsv", index=False)
    _write_tsv(drivers, truth / "drivers.tsv", index=False)
    record = design_record(design, seed, genomes, environment_model(design))
    (truth / "design.json").write_text(json.dumps(record, indent=2) + "\n")

    manifest = sorted(p for p in tmp.rglob("*") if p.is_file())
    lines = [f"{sha256_file(p)}  {p.relative_to(tmp).as_posix()}" for p in manifest]
    (tmp / ".complete").write_text("\n".join(lines) + "\n")


def _origin_lines(sample: str, unit: str, index_text: list[str], batch: ReadPairs, part: slice,
                  contig_prefix: list[str], genome_set: GenomeSet) -> bytes:
    """read_origin.tsv rows of one unit's slice of a batch; ``index_text`` holds the ids' numbers."""
    start = batch.start[part]
    contig = np.searchsorted(genome_set.contig_starts, start, side="right") - 1
    local = (start - genome_set.contig_starts[contig]).tolist()
    strand = np.where(batch.minus[part], "-\t", "+\t").tolist()
    head = f"{sample}\t{unit}\t{sample}."
    text = "".join([
        f"{head}{number}\t{contig_prefix[c]}{s}{p}\t{size}\n"
        for number, c, s, p, size in zip(index_text, contig.tolist(), strand, local, batch.insert[part].tolist())
    ])
    return text.encode()


def _write_tsv(frame: pd.DataFrame, path: Path, **kwargs: object) -> None:
    frame.to_csv(path, sep="\t", lineterminator="\n", **kwargs)


def _unit_plan(env: pd.DataFrame, design: CruiseDesign) -> dict[str, list[tuple[str, int]]]:
    """(unit, read pairs) per sample; a few evenly spread samples get a second sequencing run."""
    n = len(env)
    two = set()
    if design.two_unit_samples:
        two = {int(i) for i in np.linspace(0, n - 1, design.two_unit_samples).round()}
    plan = {}
    for i, sample in enumerate(env["sample"]):
        total = design.reads_per_sample
        second = int(round(total * design.second_unit_fraction)) if i in two else 0
        plan[sample] = [("run1", total - second)] + ([("run2", second)] if second > 0 else [])
    return plan
