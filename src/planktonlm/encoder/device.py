"""Where the encoder runs, decided in one place.

``auto``: CUDA when a GPU is visible (bf16 autocast, fused attention kernels, pinned host
memory), otherwise CPU in fp32. ``cpu`` and ``cuda`` force the choice; ``cuda`` without a GPU
is a configuration error, not a silent fallback.

``cpu-bf16`` (:data:`CPU_BF16`): the CPU with the GPU's bf16 autocast, for tests and
``planktonlm bench encoder-throughput --device cpu-bf16`` only, so that the autocast branches of
training and embedding run on every machine and a GPU is never the first place they run. It is
not a config value (the schema's enum refuses it): bf16 on a CPU is slower than fp32, not a mode
to train in.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from planktonlm.errors import InputProblem, PlanktonlmInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
CPU_BF16 = "cpu-bf16"  # tests and benchmarks only, never a config value (see the module docstring)


@dataclass(frozen=True)
class DevicePlan:
    """The resolved device and the numeric policy that goes with it."""

    device: torch.device
    autocast_dtype: torch.dtype | None  # bf16 on CUDA (and with cpu-bf16); None = plain fp32

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def pin_memory(self) -> bool:
        return self.is_cuda

    def training_threads(self, threads: int | None) -> int | None:
        """torch CPU threads for training: the job's cores on CUDA, one on the CPU.

        With two threads, torch 2.13's CPU kernels now and then gave other weights for the same
        seed (3 of 12 runs of the tiny cruise; none of 10 with one thread, whose weights equal
        the two-thread majority): same inputs must give the same model, so CPU training runs on
        one thread. GPU training is the fast path.
        """
        return threads if self.is_cuda else 1

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def to_device(self, array: torch.Tensor) -> torch.Tensor:
        """Host tensor -> device; pinned + non-blocking on CUDA so the copy overlaps compute."""
        if not self.is_cuda:
            return array
        return array.pin_memory().to(self.device, non_blocking=True)

    def describe(self) -> str:
        if self.is_cuda:
            index = self.device.index or 0
            return f"cuda:{index} ({torch.cuda.get_device_name(index)}), bf16 autocast"
        numerics = "fp32" if self.autocast_dtype is None else "bf16 autocast"
        return f"cpu ({torch.get_num_threads()} threads), {numerics}"


def resolve_device(name: str, *, column: str = "device") -> DevicePlan:
    """Turn a config value (auto | cpu | cuda | cuda:N) into a DevicePlan.

    Also accepts :data:`CPU_BF16` from code (tests, benchmarks); the config schema never lets it
    through, so the error below keeps naming the config's choices only.
    """
    cuda_ok = torch.cuda.is_available()
    if name == "auto":
        name = "cuda" if cuda_ok else "cpu"
    if name == "cpu":
        return DevicePlan(torch.device("cpu"), None)
    if name == CPU_BF16:
        return DevicePlan(torch.device("cpu"), torch.bfloat16)
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda_ok:
            raise PlanktonlmInputError(InputProblem(
                file="config", column=column, value=name, message="no CUDA GPU is visible to this job",
                expected="auto or cpu on a machine without a GPU (or run the job on a GPU node)"))
        return DevicePlan(torch.device(name), torch.bfloat16)
    raise PlanktonlmInputError(InputProblem(file="config", column=column, value=name,
                                            message="unknown device", expected="auto, cpu or cuda"))


@contextlib.contextmanager
def deterministic_algorithms(plan: DevicePlan) -> Iterator[None]:
    """Deterministic kernels inside the block on CUDA, restoring the global setting afterwards.

    On CPU the kernels the encoder uses are deterministic already (tests check bit-identical
    weights), and torch.use_deterministic_algorithms would import torch._inductor (seconds per
    job), so the flag is set only for CUDA, where atomics-based kernels make it matter.
    """
    if not plan.is_cuda:
        yield
        return
    # cuBLAS needs a fixed workspace to be deterministic; read when its handle is first created.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """CPU threads for torch inside the block (the job's core allowance); None = leave as is.

    Oversubscribed OpenMP threads spin against each other: a job must not use more threads
    than the cores it was given (Snakemake's ``threads``).
    """
    if not n_threads:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
