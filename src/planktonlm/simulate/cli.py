"""``planktonlm simulate``: a preset, overridden by the command's options, simulated into a folder."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.simulate.design import PRESETS, validate_design
from planktonlm.simulate.genomes import DEFAULT_GENOMES_DIR
from planktonlm.simulate.writer import simulate_cruise


def simulate_cruise_cli(args: argparse.Namespace) -> None:
    """``planktonlm simulate``: preset, seed, outdir, optional read count/length and genomes folder."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.preset not in PRESETS:
        raise PlanktonlmInputError(InputProblem(file="planktonlm simulate", column="--preset", value=args.preset,
                                                message="unknown preset", expected=f"one of {sorted(PRESETS)}"))
    design = PRESETS[args.preset]
    overrides = {}
    if args.reads_per_sample is not None:
        overrides["reads_per_sample"] = args.reads_per_sample
    if args.read_length is not None:
        overrides["read_length"] = args.read_length
    if getattr(args, "genome_names", None):
        overrides["genomes"] = tuple(name.strip() for name in args.genome_names.split(",") if name.strip())
    for field_name in ("community_model", "ar1_phi", "decoy_phi", "cruise", "first_month"):
        if getattr(args, field_name, None) is not None:
            overrides[field_name] = getattr(args, field_name)
    design = dataclasses.replace(design, **overrides)
    validate_design(design)
    genomes_dir = Path(args.genomes) if args.genomes else DEFAULT_GENOMES_DIR
    started = time.perf_counter()
    outdir = simulate_cruise(design, Path(args.outdir), args.seed, genomes_dir)
    pairs = design.n_samples * design.reads_per_sample
    print(f"simulated {design.n_samples} samples, {pairs} read pairs of 2x{design.read_length} bp -> {outdir} "
          f"({time.perf_counter() - started:.1f} s)")
