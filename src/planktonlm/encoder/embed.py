"""Embed a sample's reads with a trained ReadEncoder: one strand-invariant vector per fragment.

Each read is encoded on both strands and the two L2-normalised vectors are averaged; a
fragment's vector is the mean of its mates' vectors, L2-normalised. The read and its reverse
complement always enter the batch in the same canonical order (the lexicographically smaller
strand first), so a read and its reverse complement give bit-identical vectors, not just close
ones. Reads stream in batches: memory is bounded by ``batch_size``, not by the sample.

Outputs: ``out_npy`` float16 array (fragments x d_model) and ``out_ids`` (one read id per
line, the same order), both written atomically.

:func:`embed_samples` embeds several samples in one process (one workflow job per batch of
samples): torch is imported and the model loaded once, then each sample is embedded exactly as
:func:`embed_sample` embeds it alone, so its files are byte for byte the same.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from planktonlm.encoder.device import DevicePlan, deterministic_algorithms, resolve_device, torch_threads
from planktonlm.encoder.model import ReadEncoder
from planktonlm.encoder.model_dir import load_model
from planktonlm.encoder.tokenizer import TokenizerSpec, encode_batch, reverse_complement
from planktonlm.io import atomic_path
from planktonlm.reads.fastq import PathLike
from planktonlm.reads.fragments import Fragment, iter_fragments, select_fragments

logger = logging.getLogger(__name__)

LOG_EVERY_BATCHES = 20


@dataclass(frozen=True)
class EmbedConfig:
    """The `embed:` section of config.yaml (defaults and bounds: workflow/schemas/config.schema.yaml).

    Build it with ``planktonlm.config.build_config(EmbedConfig, "embed", section)``.
    """

    reads_per_sample: int  # fragments embedded per sample, seeded subsample (0 = all)
    batch_size: int  # fragments per forward batch (memory is bounded by this)
    device: str  # auto | cpu | cuda
    threads: int  # the rule's `threads:` (CPU threads per job; one job per core is fastest)


@dataclass(frozen=True)
class SampleFiles:
    """One sample of a batch: its QC'd reads (``r2`` None for single-end) and its two output files."""

    sample: str
    r1: PathLike
    r2: PathLike | None
    out_npy: str | os.PathLike
    out_ids: str | os.PathLike


def _canonical_strands(seq: str) -> tuple[str, str]:
    """(smaller, larger) of a read and its reverse complement, both upper case ACGTN."""
    reverse = reverse_complement(seq)
    forward = reverse_complement(reverse)
    return (forward, reverse) if forward <= reverse else (reverse, forward)


def _batch_inputs(spec: TokenizerSpec, fragments: Sequence[Fragment]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids (2R, T), lengths (2R,) and the fragment index of each read (R,) for a batch.

    Rows 0..R-1 hold every mate read on its canonical strand, rows R..2R-1 the other strand.
    """
    first, second, owner = [], [], []
    for index, fragment in enumerate(fragments):
        for seq in (fragment.seq1, fragment.seq2):
            if seq is None:
                continue
            low, high = _canonical_strands(seq)
            first.append(low)
            second.append(high)
            owner.append(index)
    ids, lengths = encode_batch(spec, first + second)
    return torch.from_numpy(ids), torch.from_numpy(lengths), torch.tensor(owner, dtype=torch.int64)


@torch.inference_mode()
def _launch(model: ReadEncoder, plan: DevicePlan, ids: torch.Tensor, lengths: torch.Tensor,
            owner: torch.Tensor, n_fragments: int) -> torch.Tensor:
    """Fragment vectors (n_fragments, C) in fp32, left on the device (the copy back is deferred)."""
    ids, lengths, owner = plan.to_device(ids), plan.to_device(lengths), plan.to_device(owner)
    with deterministic_algorithms(plan):
        with plan.autocast():
            return model.fragment_vectors(ids, lengths, owner, n_fragments)  # (F, C)


def embed_fragments(model: ReadEncoder, spec: TokenizerSpec, fragments: Iterable[Fragment], batch_size: int,
                    plan: DevicePlan) -> Iterator[tuple[list[str], np.ndarray]]:
    """Yield (read ids, float32 vectors (n, C)) batch by batch, in input order.

    On CUDA the next batch is tokenized and launched before the previous one is copied back,
    so host-side tokenization overlaps device compute.
    """
    model.eval()
    pending: tuple[list[str], torch.Tensor] | None = None
    batch: list[Fragment] = []

    def flush() -> tuple[list[str], torch.Tensor]:
        ids, lengths, owner = _batch_inputs(spec, batch)
        return [f.read_id for f in batch], _launch(model, plan, ids, lengths, owner, len(batch))

    for fragment in fragments:
        batch.append(fragment)
        if len(batch) == batch_size:
            launched = flush()
            batch = []
            if pending is not None:
                yield pending[0], pending[1].cpu().numpy()
            pending = launched
    if batch:
        launched = flush()
        if pending is not None:
            yield pending[0], pending[1].cpu().numpy()
        pending = launched
    if pending is not None:
        yield pending[0], pending[1].cpu().numpy()


def embed_sample(
    r1: PathLike,
    r2: PathLike | None,
    model_dir: str | os.PathLike,
    out_npy: str | os.PathLike,
    out_ids: str | os.PathLike,
    embed_cfg: EmbedConfig,
    seed: int,
    *,
    loaded: tuple[ReadEncoder, TokenizerSpec] | None = None,
    threads: int | None = None,
) -> int:
    """Embed one sample's QC'd reads; write ``out_npy`` (float16, fragments x dim) and ``out_ids``.

    ``embed_cfg.reads_per_sample > 0`` embeds the seeded subsample ``select_fragments(r1, r2,
    cap, seed)`` (the same fragments the k-mer baseline counts with the same seed); 0 streams
    every fragment. ``loaded`` passes an already loaded (model, tokenizer) to skip loading.
    ``threads``: torch CPU threads (the job's cores; None = torch's default). Returns the
    number of fragments embedded.
    """
    with torch_threads(threads):
        return _embed_sample(r1, r2, model_dir, Path(out_npy), Path(out_ids), embed_cfg, seed, loaded)


def embed_samples(samples: Sequence[SampleFiles], model_dir: str | os.PathLike, embed_cfg: EmbedConfig, seed: int,
                  *, threads: int | None = None) -> dict[str, int]:
    """Embed several samples one after the other with one loaded model; {sample: fragments embedded}.

    Each sample gets exactly the files :func:`embed_sample` writes for it alone: its fragments
    are ``select_fragments(r1, r2, cap, seed)`` of its own files with the run's seed, forward
    batches never mix samples, and the model is only read (eval mode, inference, nothing random),
    so nothing depends on the other samples of the batch or on their order. Each sample's two
    files are written atomically when it is done: a job killed mid-batch leaves the samples it
    finished whole and nothing of the one it was on. The log names each sample as it starts and
    ends.
    """
    names = [item.sample for item in samples]
    outputs = [os.fspath(path) for item in samples for path in (item.out_npy, item.out_ids)]
    if len(set(names)) != len(names) or len(set(outputs)) != len(outputs):
        raise ValueError(f"a batch names each sample and each output file once: {names}")
    with torch_threads(threads):
        plan = resolve_device(embed_cfg.device, column="embed.device")
        started = time.perf_counter()
        model, spec, _ = load_model(model_dir, device=str(plan.device))
        logger.info("model %s loaded on %s in %.1f s; %d samples to embed: %s", model_dir, plan.describe(),
                    time.perf_counter() - started, len(samples), ", ".join(names))
        counts: dict[str, int] = {}
        for number, item in enumerate(samples, 1):
            logger.info("sample %s: started (%d/%d)", item.sample, number, len(samples))
            sample_started = time.perf_counter()
            counts[item.sample] = _embed_sample(item.r1, item.r2, model_dir, Path(item.out_npy), Path(item.out_ids),
                                                embed_cfg, seed, (model, spec))
            logger.info("sample %s: %d fragments embedded (%d/%d, %.1f s)", item.sample, counts[item.sample], number,
                        len(samples), time.perf_counter() - sample_started)
    logger.info("batch done: %d samples, %d fragments in %.1f s", len(samples), sum(counts.values()),
                time.perf_counter() - started)
    return counts


def _embed_sample(r1: PathLike, r2: PathLike | None, model_dir: str | os.PathLike, out_npy: Path, out_ids: Path,
                  embed_cfg: EmbedConfig, seed: int, loaded: tuple[ReadEncoder, TokenizerSpec] | None) -> int:
    plan = resolve_device(embed_cfg.device, column="embed.device")
    if loaded is None:
        model, spec, _ = load_model(model_dir, device=str(plan.device))
    else:
        model, spec = loaded
        model = model.to(plan.device)
    if embed_cfg.reads_per_sample > 0:
        fragments: Iterable[Fragment] = select_fragments(r1, r2, embed_cfg.reads_per_sample, seed)
    else:
        fragments = iter_fragments(r1, r2)
    dim = model.cfg.out_dim
    raw_path = out_npy.with_name(f".{out_npy.name}.rows-{os.getpid()}")
    n_done, n_batches, started = 0, 0, time.perf_counter()
    logger.info("embedding %s%s on %s, batches of %d fragments", r1, f" + {r2}" if r2 else "", plan.describe(),
                embed_cfg.batch_size)
    try:
        with atomic_path(out_ids) as ids_tmp, open(ids_tmp, "w") as ids_out, open(raw_path, "wb") as raw:
            for read_ids, vectors in embed_fragments(model, spec, fragments, embed_cfg.batch_size, plan):
                raw.write(vectors.astype(np.float16).tobytes())
                ids_out.write("".join(f"{read_id}\n" for read_id in read_ids))
                n_done += len(read_ids)
                n_batches += 1
                if n_batches % LOG_EVERY_BATCHES == 0:
                    _log_rate(n_done, started, r2 is not None)
            ids_out.flush()
            raw.flush()
            _rows_to_npy(raw_path, out_npy, n_done, dim)
    finally:
        if raw_path.exists():
            raw_path.unlink()
    _log_rate(n_done, started, r2 is not None, final=True, device=plan.describe())
    if n_done == 0:
        logger.warning("%s holds no reads: wrote an empty embedding (0 x %d)", r1, dim)
    return n_done


def _log_rate(n_fragments: int, started: float, paired: bool, *, final: bool = False, device: str = "") -> None:
    seconds = max(time.perf_counter() - started, 1e-9)
    n_reads = n_fragments * (2 if paired else 1)
    logger.info("%s%d fragments (%d reads) in %.1f s, %.0f reads/s%s", "embedded " if final else "", n_fragments,
                n_reads, seconds, n_reads / seconds, f" on {device}" if device else "")


def _rows_to_npy(raw_path: Path, out_npy: Path, n_rows: int, dim: int, chunk_bytes: int = 1 << 20) -> None:
    """Prefix the streamed float16 rows with an .npy header (the same bytes np.save writes).

    A buffered copy, not through memory maps: pages of a mapped file count in the process's
    resident set while it maps them, so a mapped copy of every fragment's vectors (1.5 GB for
    4 M fragments) would grow the job's memory with the sample.
    """
    with atomic_path(out_npy) as tmp, open(tmp, "wb") as handle:  # a file handle: np.save would append ".npy" to a path
        if n_rows == 0:
            np.save(handle, np.zeros((0, dim), dtype=np.float16), allow_pickle=False)
            return
        np.lib.format.write_array_header_1_0(
            handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                     "shape": (int(n_rows), int(dim))})
        expected = n_rows * dim * np.dtype(np.float16).itemsize
        if raw_path.stat().st_size != expected:
            raise RuntimeError(f"{raw_path} holds {raw_path.stat().st_size} bytes, not {n_rows} rows x {dim} float16")
        with open(raw_path, "rb") as rows:
            shutil.copyfileobj(rows, handle, chunk_bytes)
