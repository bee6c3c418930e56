# Threads and cluster resources that depend on where a job runs. Nothing here reads --cores
# (`workflow.cores`): a SLURM run has no total core count, and a fixed count is capped by --cores
# in a local run anyway. Included after common.smk (it needs TRAIN_GPUS / EMBED_GPUS).
#
# SLURM (workflow/profiles/slurm): only a job that will use CUDA asks for a GPU partition and a
# GPU; every other job goes to the profile's (or the cluster's default) partition. Site settings:
#   PLANKTONLM_SLURM_GPU_PARTITION  partition of the CUDA jobs (default "gpu"; empty = no -p,
#                                   i.e. the cluster's default partition or the plugin's
#                                   partition file, SNAKEMAKE_SLURM_PARTITIONS)
#   PLANKTONLM_SLURM_GPU_MODEL      GPU model the CUDA jobs ask for (sbatch --gpus=<model>:1)
#   PLANKTONLM_SLURM_EMBED_MINUTES_PER_SAMPLE
#                                   runtime of an embedding job per sample of its batch (default
#                                   30, plus an hour per job)
import os

# torch CPU threads of training: on the CPU training runs on one thread whatever it is given (same
# inputs, same weights: DevicePlan.training_threads), so holding more cores would only idle them;
# on CUDA a few cores feed the GPU. Change with --set-threads train_encoder=N.
TRAIN_THREADS = 4 if TRAIN_GPUS else 1
# The shifts stage scores its targets in parallel (identical tables whatever the count); two fit
# any node and equal `make demo`'s --cores 2. More: --set-threads shifts=N.
SHIFTS_THREADS = 2

# Minutes an embedding job asks for (sbatch --time; the profile's set-resources cannot name the
# embed_batch_* rules, one per batch): an hour plus EMBED_MINUTES_PER_SAMPLE for each sample of
# its batch, twice that on a retry. The demo's samples take seconds; with embed.reads_per_sample 0
# (every read) on a CPU, raise PLANKTONLM_SLURM_EMBED_MINUTES_PER_SAMPLE or lower samples_per_job.
EMBED_MINUTES_PER_SAMPLE = int(os.environ.get("PLANKTONLM_SLURM_EMBED_MINUTES_PER_SAMPLE", "30"))

GPU_PARTITION = os.environ.get("PLANKTONLM_SLURM_GPU_PARTITION", "gpu")
GPU_MODEL = os.environ.get("PLANKTONLM_SLURM_GPU_MODEL", "")


def cuda_job_resources(gpus):
    """The GPU partition and GPU model when a job uses CUDA (``gpus`` > 0); nothing on the CPU.
    The GPU itself is the job's ``gpu`` resource (sbatch --gpus)."""
    if not gpus:
        return {}
    resources = {}
    if GPU_PARTITION:
        resources["slurm_partition"] = GPU_PARTITION
    if GPU_MODEL:
        resources["gpu_model"] = GPU_MODEL
    return resources


def embed_batch_runtime(wildcards, input, attempt):
    """Runtime in minutes of one embedding job: an hour plus EMBED_MINUTES_PER_SAMPLE per sample of
    its batch (one r1 input each), times the attempt (a retry after a timeout gets twice as long)."""
    return (60 + EMBED_MINUTES_PER_SAMPLE * len(input.r1)) * attempt
