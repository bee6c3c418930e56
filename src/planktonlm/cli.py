"""The ``planktonlm`` command: simulate a cruise, validate inputs, run benchmarks, freeze and map atlases.

Each sub-command is a thin shell over one package function. The sub-commands' own modules are
imported when the command runs, so that ``planktonlm --help`` is instant (no numpy, pandas or
torch); ``planktonlm.bench`` is standard library only at module level and imported here.
"""

from __future__ import annotations

import argparse
import sys

from planktonlm.bench import add_bench_arguments, run_bench
from planktonlm.errors import PlanktonlmInputError


def _cmd_simulate(args: argparse.Namespace) -> None:
    from planktonlm.simulate.cli import simulate_cruise_cli  # numpy and pandas: deferred to keep --help fast

    simulate_cruise_cli(args)


def _cmd_validate(args: argparse.Namespace) -> None:
    # pandas, jsonschema and yaml: deferred to keep --help fast
    from planktonlm.config import load_config
    from planktonlm.inputs.cruise import load_workflow_cruise

    cruise = load_workflow_cruise(load_config(args.config))
    print(f"ok: {len(cruise.samples)} samples, {len(cruise.units)} units, inputs valid")


def _cmd_pretrain(args: argparse.Namespace) -> None:
    import json  # torch and numpy: deferred to keep --help fast
    import shlex
    from dataclasses import replace
    from pathlib import Path

    from planktonlm.bench import machine_info
    from planktonlm.encoder.model_card import write_model_card
    from planktonlm.encoder.pretrain import PretrainConfig, pretrain_base_model
    from planktonlm.io import setup_logging

    setup_logging(None)
    if not args.card_only:
        overrides = {name: value for name, value in (("steps", args.steps), ("batch_size", args.batch_size)) if value is not None}
        withhold = [name for name in (args.withhold or "").split(",") if name]
        pretrain_base_model(args.genomes, args.outdir, replace(PretrainConfig(), **overrides), args.seed,
                            withhold=withhold, device=args.device, threads=args.threads)
    evaluations = [json.loads(Path(path).read_text()) | {"cruise": name}
                   for name, path in (item.split("=", 1) if "=" in item else (item, item) for item in args.evaluation)]
    options = [("--genomes", args.genomes), ("--outdir", args.outdir), ("--seed", args.seed), ("--withhold", args.withhold),
               ("--steps", args.steps), ("--batch-size", args.batch_size), ("--device", args.device)]
    command = "planktonlm pretrain " + " ".join(f"{flag} {shlex.quote(str(value))}" for flag, value in options if value)
    write_model_card(args.outdir, args.genomes, machine=machine_info(), command=command, evaluations=evaluations)


def _cmd_atlas_freeze(args: argparse.Namespace) -> None:
    from planktonlm.config import load_config  # yaml, pandas: deferred to keep --help fast
    from planktonlm.profiles.atlas import freeze_atlas

    manifest = freeze_atlas(args.results, args.out, load_config(args.config), name=args.name)
    print(manifest)


def _cmd_atlas_verify(args: argparse.Namespace) -> None:
    from planktonlm.profiles.atlas import load_atlas  # numpy, pandas: deferred to keep --help fast

    atlas = load_atlas(args.atlas)
    otus = ", ".join(f"{profile} {n} OTUs (dim {atlas.dims[profile]})" for profile, n in atlas.n_otus.items())
    print(f"ok: atlas {atlas.name}: {len(atlas.samples)} samples, {otus}, k-mer k={atlas.kmer_k}, "
          f"{len(atlas.files)} files match the manifest")


def _cmd_atlas_map(args: argparse.Namespace) -> None:
    from planktonlm.io import write_tsv  # numpy, pandas, scipy: deferred to keep --help fast
    from planktonlm.profiles.atlas import load_atlas
    from planktonlm.profiles.otu_map import map_atlases

    mapping, notes = map_atlases(load_atlas(args.old), load_atlas(args.new), tuple(args.vectors) if args.vectors else None)
    write_tsv(mapping, args.out)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(args.out)


def _add_atlas_parser(sub: argparse._SubParsersAction) -> None:
    atlas = sub.add_parser("atlas", help="freeze a finished run into an atlas, verify one, map OTU ids between two")
    cmds = atlas.add_subparsers(dest="atlas_command", required=True)
    freeze = cmds.add_parser("freeze", help="freeze RESULTS (encoder, codebooks, distances) into a new read-only atlas")
    freeze.add_argument("results", help="the results folder of a finished run")
    freeze.add_argument("--out", required=True, help="new atlas folder (e.g. atlas/NAME); an existing one is refused")
    freeze.add_argument("--config", default="config/config.yaml", help="the config the run was made with")
    freeze.add_argument("--name", default=None, help="atlas name (default: the folder name)")
    freeze.set_defaults(func=_cmd_atlas_freeze)
    verify = cmds.add_parser("verify", help="check every file of an atlas against its manifest")
    verify.add_argument("atlas", help="atlas folder")
    verify.set_defaults(func=_cmd_atlas_verify)
    mapping = cmds.add_parser("map", help="map the OTU ids of atlas OLD onto those of atlas NEW (TSV)")
    mapping.add_argument("old", help="old atlas folder")
    mapping.add_argument("new", help="new atlas folder")
    mapping.add_argument("--out", required=True, help="mapping TSV to write")
    mapping.add_argument("--vectors", nargs=2, metavar=("OLD.npy", "NEW.npy"), default=None,
                         help="the same reads embedded by the old and by the new atlas's encoder (needed for embedding OTUs "
                         "when the encoders differ)")
    mapping.set_defaults(func=_cmd_atlas_map)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planktonlm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="simulate a plankton cruise (reads + environment + truth)")
    sim.add_argument("--preset", default="demo", help="cruise design preset (demo, tiny)")
    sim.add_argument("--seed", type=int, default=1, help="random seed: same seed, byte-identical files")
    sim.add_argument("--outdir", required=True, help="output folder (samples.tsv, units.tsv, reads/, truth/)")
    sim.add_argument("--reads-per-sample", type=int, default=None, help="read pairs per sample (preset default if unset)")
    sim.add_argument("--read-length", type=int, default=None, help="read length in bp (preset default if unset)")
    sim.add_argument(
        "--genomes",
        default=None,
        help="folder of FASTA genomes + optional SOURCES.tsv (default: resources/genomes); the preset's genomes "
        "are used, or every genome of the folder if it holds none of them",
    )
    sim.add_argument("--genome-names", default=None,
                     help="comma-separated genomes of the folder to simulate instead of the preset's (e.g. to mix genomes "
                     "the base model was pretrained on with withheld ones)")
    sim.add_argument("--community-model", choices=("niches", "ar1"), default=None,
                     help="niches (preset default: abundances follow the environment) or ar1 (a null cruise: an "
                     "autocorrelated walk per station that nothing in the environment drives)")
    sim.add_argument("--ar1-phi", type=float, default=None, help="lag-1 autocorrelation per sampling step of the ar1 community")
    sim.add_argument("--decoy-phi", type=float, default=None,
                     help="add decoy_index: an AR(1) variable per station with this autocorrelation that drives nothing")
    sim.add_argument("--cruise", default=None, help="cruise name written to samples.tsv (preset default if unset)")
    sim.add_argument("--first-month", default=None,
                     help="YYYY-MM of the first sampling date (preset default if unset), e.g. the same stations a year later")
    sim.set_defaults(func=_cmd_simulate)

    bench = sub.add_parser("bench", help="measure throughput (simulate, ...) and print a table")
    add_bench_arguments(bench)
    bench.set_defaults(func=run_bench)

    pre = sub.add_parser("pretrain", help="pretrain a base model on reference genomes (the shipped one: resources/models/)")
    pre.add_argument("--genomes", default="resources/genomes", help="folder of FASTA genomes (+ SOURCES.tsv)")
    pre.add_argument("--outdir", required=True, help="model folder to write (model.pt, config.json, ... genomes.tsv)")
    pre.add_argument("--seed", type=int, default=1, help="every random draw derives from it")
    pre.add_argument("--withhold", default="", help="comma-separated genome names to leave out (leave-genomes-out runs)")
    pre.add_argument("--steps", type=int, default=None, help="optimizer steps (recipe default if unset)")
    pre.add_argument("--batch-size", type=int, default=None, help="reads per step (recipe default if unset)")
    pre.add_argument("--device", default="auto", help="auto | cpu | cuda")
    pre.add_argument("--threads", type=int, default=None, help="CPU threads (training on CPU uses one, for reproducibility)")
    pre.add_argument("--card-only", action="store_true", help="only (re)write MODEL_CARD.md of an existing --outdir")
    pre.add_argument("--evaluation", nargs="*", default=[],
                     help="NAME=PATH of `planktonlm bench encoder-quality --json` results to list in the card")
    pre.set_defaults(func=_cmd_pretrain)

    val = sub.add_parser("validate", help="check config, samples.tsv, units.tsv and FASTQ files")
    val.add_argument("--config", default="config/config.yaml")
    val.set_defaults(func=_cmd_validate)

    _add_atlas_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except PlanktonlmInputError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
