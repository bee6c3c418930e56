# Parse-time validation and input functions. Everything here runs before any job starts:
# a bad config, sample sheet or unit sheet, or a FASTQ file that is missing, unreadable, empty or
# listed twice, stops the run with every problem listed. FASTQ content (every record) is checked
# by one check_fastq job per unit (qc.smk), before that unit's QC.
import os
import re

from planktonlm.config import (
    atlas_folder,
    cube_config,
    encoder_gpu_count,
    is_published,
    job_section,
    model_base_folder,
    validate_config,
)
from planktonlm.inputs.batches import sample_batches
from planktonlm.inputs.cruise import load_workflow_cruise
from planktonlm.profiles.atlas import atlas_inputs, load_atlas


config.update(validate_config(config))

# Published tables (published.environment set) skip reads, QC, encoder and read profiles.
PUBLISHED = is_published(config)
# Sheets and files only: the content of the reads is the check_fastq jobs' (streaming it here
# would delay every start, and every cluster job's parse, by the time to read all reads).
CRUISE = load_workflow_cruise(config, scan_content=False)
SAMPLES = CRUISE.sample_ids()
# The cube gets (and hashes) only the sections upstream of it: a report option reruns the report alone.
CUBE_CONFIG = cube_config(config)
# A frozen atlas (config `atlas`, checked file by file against its manifest) replaces training and
# codebook fitting. ATLAS_FILES maps each of its files (encoder/model.pt, embedding/codebook.npy,
# ...) to the path a job reads: the atlas's file, or the identical file of the run that froze it,
# so that run's per-sample results keep their inputs and are reused (see profiles.atlas).
ATLAS_FOLDER = atlas_folder(config)
ATLAS = load_atlas(ATLAS_FOLDER) if ATLAS_FOLDER else None
ATLAS_FILES = atlas_inputs(ATLAS) if ATLAS is not None else {}
KMER_K = ATLAS.kmer_k if ATLAS is not None else config["profiles"]["kmer_k"]


def id_regex(ids):
    """Wildcard constraint matching exactly these ids (never matches when empty)."""
    return "|".join(re.escape(i) for i in ids) or "(?!)"


wildcard_constraints:
    sample=id_regex(SAMPLES),
    unit=id_regex(sorted(set(CRUISE.units["unit"]))),


PAIRED = id_regex(CRUISE.paired_samples())
SINGLE = id_regex(CRUISE.single_samples())


def unit_fastqs(wildcards):
    """Raw FASTQ(s) of one unit: {'fq1': ..., 'fq2': ...} (fq2 only when paired)."""
    unit = CRUISE.unit(wildcards.sample, wildcards.unit)
    return {"fq1": unit.fq1, "fq2": unit.fq2} if unit.fq2 else {"fq1": unit.fq1}


def unit_sheet(wildcards):
    """The units sheet that lists one unit, for the check's messages."""
    return CRUISE.unit_sheet(wildcards.sample, wildcards.unit)


def qc_units_r1(wildcards):
    return [f"results/qc/units/{wildcards.sample}/{u}_R1.fastq" for u in CRUISE.unit_ids(wildcards.sample)]


def qc_units_r2(wildcards):
    return [f"results/qc/units/{wildcards.sample}/{u}_R2.fastq" for u in CRUISE.unit_ids(wildcards.sample)]


def cutadapt_jsons(wildcards):
    return [f"results/qc/units/{wildcards.sample}/{u}.cutadapt.json" for u in CRUISE.unit_ids(wildcards.sample)]


def all_cutadapt_reports(wildcards):
    return [f"results/qc/units/{s}/{u}.cutadapt.txt" for s in SAMPLES for u in CRUISE.unit_ids(s)]


def qc_reads(wildcards):
    """QC'd reads of one sample: {'r1': ..., 'r2': ...} (r2 only when paired)."""
    r1 = f"results/qc/{wildcards.sample}_R1.fastq.gz"
    if CRUISE.is_paired(wildcards.sample):
        return {"r1": r1, "r2": f"results/qc/{wildcards.sample}_R2.fastq.gz"}
    return {"r1": r1}


def training_reads(wildcards):
    """Every sample's QC'd reads for training; nothing when model.checkpoint reuses a model."""
    if config["model"]["checkpoint"]:
        return {}
    return {
        "r1": [f"results/qc/{s}_R1.fastq.gz" for s in SAMPLES],
        "r2": [f"results/qc/{s}_R2.fastq.gz" for s in CRUISE.paired_samples()],
    }


# A model.base that is not a folder of the working directory names a model bundled with the workflow.
BUNDLED_MODELS = os.path.join(workflow.basedir, "resources", "models")


def base_model_files(wildcards):
    """The model.base folder's files when training fine-tunes it (none for "none" or with
    model.checkpoint): declared as inputs, so a base replaced in place reruns training."""
    base = model_base_folder(config["model"]["base"], BUNDLED_MODELS)  # None for "none"
    if config["model"]["checkpoint"] or base is None:
        return {}
    return {
        "base_weights": os.path.join(base, "model.pt"),
        "base_config": os.path.join(base, "config.json"),
        "base_tokenizer": os.path.join(base, "tokenizer.json"),
        "base_sha256": os.path.join(base, "weights.sha256"),
    }


# GPUs an encoder job holds: 1 on CUDA, 0 on the CPU (device auto: whether a GPU is visible
# here, decided once), so CPU embedding jobs run side by side instead of queueing for gpu=1.
TRAIN_GPUS = encoder_gpu_count(config["train"]["device"])
EMBED_GPUS = encoder_gpu_count(config["embed"]["device"])


# Embedding jobs: embed.samples_per_job samples each, cut within each samples sheet in row order
# (planktonlm.inputs.batches), so that adding a cruise's sheet adds jobs and changes none.
EMBED_BATCHES = sample_batches(CRUISE.samples_by_sheet(), config["embed"]["samples_per_job"])
# The embed section as the jobs' params: without samples_per_job, which cuts jobs but changes no vector.
EMBED_PARAMS = job_section(config, "embed")


def batch_qc_reads(batch):
    """QC'd reads of a batch's samples: {'r1': every sample's, 'r2': its paired samples'}, in batch order."""
    return {
        "r1": [f"results/qc/{s}_R1.fastq.gz" for s in batch.samples],
        "r2": [f"results/qc/{s}_R2.fastq.gz" for s in batch_paired_samples(batch)],
    }


def batch_paired_samples(batch):
    return [s for s in batch.samples if CRUISE.is_paired(s)]


def embedding_files(batch, suffix):
    """The embedding outputs of a batch's samples: results/embed/{sample}{suffix}, in batch order."""
    return [f"results/embed/{s}{suffix}" for s in batch.samples]


def encoder_files(wildcards):
    """The encoder's files that embedding reads: this run's model folder, or the atlas's encoder."""
    names = {"weights": "model.pt", "model_config": "config.json", "tokenizer": "tokenizer.json"}
    if ATLAS is None:
        return {key: f"results/model/{name}" for key, name in names.items()}
    return {key: ATLAS_FILES[f"encoder/{name}"] for key, name in names.items()}


def encoder_sha256_file(wildcards):
    return ATLAS_FILES["encoder/weights.sha256"] if ATLAS is not None else "results/model/weights.sha256"


def vectors_file(profile, sample):
    """The file of one sample's read vectors of one profile (embedding or kmer)."""
    if profile == "embedding":
        return f"results/embed/{sample}.npy"
    return f"results/profile/kmer/vectors/{sample}.npy"


def sample_vectors(wildcards):
    """One sample's read vectors of one profile."""
    return vectors_file(wildcards.profile, wildcards.sample)


def profile_vectors(wildcards):
    """Per-sample read vectors of one profile, in sample-sheet order."""
    return [vectors_file(wildcards.profile, s) for s in SAMPLES]


def codebook_file(wildcards):
    """The codebook reads are assigned to: fitted in this run, or the atlas's."""
    if ATLAS is None:
        return f"results/profile/{wildcards.profile}/codebook.npy"
    return ATLAS_FILES[f"{wildcards.profile}/codebook.npy"]


def collected_sample_profiles(wildcards):
    """Every sample's counts, distances and mean vector, and (atlas) the atlas's distance distribution."""
    profile = wildcards.profile
    inputs = {
        "counts": [f"results/profile/{profile}/samples/{s}.counts.tsv" for s in SAMPLES],
        "distances": [f"results/profile/{profile}/samples/{s}.distances.npy" for s in SAMPLES],
        "means": [f"results/profile/{profile}/samples/{s}.mean.tsv" for s in SAMPLES],
    }
    if ATLAS is not None:
        inputs["reference"] = ATLAS_FILES[f"{profile}/distances.tsv"]
    return inputs


def cube_inputs(wildcards):
    if PUBLISHED:
        return {"environment": config["published"]["environment"], **config["published"]["profiles"]}
    return {
        "samples": config["samples"],
        "units": config["units"],
        "embedding": "results/profile/embedding/counts.tsv",
        "kmer": "results/profile/kmer/counts.tsv",
        "novelty_embedding": "results/profile/embedding/novelty.tsv",
        "novelty_kmer": "results/profile/kmer/novelty.tsv",
        "model_sha256": encoder_sha256_file(wildcards),
    }


READ_PROFILES = ["embedding", "kmer"]
SHIFT_TABLES = ["dbrda_marginal", "dbrda_conditional", "dbrda_forward", "dbrda_season", "dbrda_anomalies",
                "dbrda_lagged", "varpart", "cv_metrics", "season_baseline", "profile_comparison", "predictions",
                "importances", "trends", "time_lag", "vif", "excluded"]


def shifts_inputs(wildcards):
    """The cube, and for read profiles the PCoA axes and diversity that the ecology stage wrote."""
    inputs = {"cube": "results/cube.nc"}
    if not PUBLISHED:
        for profile in READ_PROFILES:
            inputs[f"pcoa_{profile}"] = f"results/ecology/{profile}/pcoa.tsv"
            inputs[f"alpha_{profile}"] = f"results/ecology/{profile}/alpha.tsv"
    return inputs


def report_inputs(wildcards):
    """Every table the report shows, by name (see planktonlm.stages.report)."""
    shifts = {name: f"results/shifts/{name}.tsv" for name in SHIFT_TABLES if name != "vif"}
    if PUBLISHED:
        return {"cube": "results/cube.nc", **shifts}
    inputs = {
        "cube": "results/cube.nc",
        "read_accounting": "results/qc/read_accounting.tsv",
        "train_log": ATLAS_FILES["encoder/train_log.tsv"] if ATLAS is not None else "results/model/train_log.tsv",
        **shifts,
    }
    for profile in READ_PROFILES:
        inputs[f"alpha_{profile}"] = f"results/ecology/{profile}/alpha.tsv"
        inputs[f"pcoa_{profile}"] = f"results/ecology/{profile}/pcoa.tsv"
        inputs[f"pcoa_axes_{profile}"] = f"results/ecology/{profile}/pcoa_axes.tsv"
    return inputs


def all_outputs():
    if PUBLISHED:
        return ["results/report.html"]
    return [
        "results/qc/multiqc_report.html",
        "results/profile/embedding/counts.parquet",
        "results/profile/kmer/counts.parquet",
        *expand("results/ecology/{profile}/turnover.tsv", profile=READ_PROFILES),
        "results/report.html",
    ]
