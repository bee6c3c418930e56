from __future__ import annotations

import io
from pathlib import Path

import dnaio
import numpy as np
import pytest
import torch

from planktonlm.config import build_config
from planktonlm.encoder.device import resolve_device
from planktonlm.encoder.embed import EmbedConfig, embed_fragments, embed_sample
from planktonlm.encoder.model import ModelConfig, ReadEncoder
from planktonlm.encoder.model_dir import load_model, write_model_folder
from planktonlm.encoder.tokenizer import reverse_complement
from planktonlm.errors import PlanktonlmInputError
from planktonlm.reads.fragments import Fragment, select_fragments

SECTION = build_config(ModelConfig, "model", base="none", tokenizer="kmer", k=3, n_layer=2, n_head=2, d_model=16, max_len=30)
CPU = build_config(EmbedConfig, "embed", reads_per_sample=0, batch_size=7, device="cpu")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny model folder: embedding mechanics do not depend on training."""
    out = tmp_path_factory.mktemp("model")
    model = ReadEncoder(SECTION.encoder_config(), torch.Generator().manual_seed(5))
    write_model_folder(model, out, SECTION.encoder_config(), SECTION.tokenizer_spec(), None, None, [], 0, 0, [])
    return out


def random_fragments(n: int, seed: int = 0) -> list[Fragment]:
    rng = np.random.default_rng(seed)
    fragments = []
    for i in range(n):
        mates = ["".join(rng.choice(list("ACGT"), size=int(rng.integers(20, 90)))) for _ in range(2)]
        if i % 5 == 0:
            mates[0] = mates[0][:10] + "N" + mates[0][11:].lower()  # N and lower case must not break symmetry
        fragments.append(Fragment(f"frag{i:03d}", mates[0], mates[1]))
    return fragments


def write_fastq(tmp_path: Path, name: str, fragments: list[Fragment], paired: bool = True) -> tuple[Path, Path | None]:
    r1 = tmp_path / f"{name}_R1.fastq.gz"
    r2 = tmp_path / f"{name}_R2.fastq.gz" if paired else None
    with dnaio.open(r1, r2, mode="w") if paired else dnaio.open(r1, mode="w") as writer:
        for f in fragments:
            first = dnaio.SequenceRecord(f"{f.read_id}/1" if paired else f.read_id, f.seq1, "I" * len(f.seq1))
            if paired:
                writer.write(first, dnaio.SequenceRecord(f"{f.read_id}/2", f.seq2, "I" * len(f.seq2)))
            else:
                writer.write(first)
    return r1, r2


def run(tmp_path: Path, model_dir: Path, r1: Path, r2: Path | None, name: str, cfg: EmbedConfig = CPU,
        seed: int = 1) -> tuple[np.ndarray, list[str], bytes]:
    out_npy, out_ids = tmp_path / f"{name}.npy", tmp_path / f"{name}.ids.txt"
    n = embed_sample(r1, r2, model_dir, out_npy, out_ids, cfg, seed)
    vectors = np.load(out_npy)
    ids = out_ids.read_text().splitlines()
    assert len(ids) == n == vectors.shape[0]
    return vectors, ids, out_npy.read_bytes()


def test_writes_float16_vectors_with_ids_in_file_order(tmp_path: Path, model_dir: Path) -> None:
    fragments = random_fragments(30)
    r1, r2 = write_fastq(tmp_path, "s", fragments)
    vectors, ids, raw = run(tmp_path, model_dir, r1, r2, "s")
    assert vectors.dtype == np.float16 and vectors.shape == (30, 16)
    assert ids == [f.read_id for f in fragments]  # the /1 mate suffix is not part of the id
    assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1.0, atol=5e-3)
    buffer = io.BytesIO()
    np.save(buffer, vectors)
    assert raw == buffer.getvalue()  # a standard .npy file, header included
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_cap_is_seeded_deterministic_and_keeps_file_order(tmp_path: Path, model_dir: Path) -> None:
    fragments = random_fragments(40)
    r1, r2 = write_fastq(tmp_path, "s", fragments)
    capped = build_config(EmbedConfig, "embed", reads_per_sample=12, batch_size=5, device="cpu")
    vectors, ids, raw = run(tmp_path, model_dir, r1, r2, "a", capped, seed=3)
    again_vectors, again_ids, again_raw = run(tmp_path, model_dir, r1, r2, "b", capped, seed=3)
    _, other_ids, _ = run(tmp_path, model_dir, r1, r2, "c", capped, seed=4)
    all_vectors, all_ids, _ = run(tmp_path, model_dir, r1, r2, "all")
    assert len(ids) == 12 and ids == again_ids and raw == again_raw
    assert ids != other_ids
    positions = [all_ids.index(i) for i in ids]
    assert positions == sorted(positions)  # file order
    # a fragment's vector does not depend on which other fragments share its batch
    assert np.allclose(vectors, all_vectors[positions], atol=1e-3)
    assert [f.read_id for f in select_fragments(r1, r2, 12, 3)] == ids  # what the k-mer baseline sees
    assert [f.read_id for f in select_fragments(r1, r2, 100, 3)] == all_ids


@pytest.mark.parametrize("paired", [True, False])
def test_fragment_vector_is_exactly_strand_invariant(tmp_path: Path, model_dir: Path, paired: bool) -> None:
    fragments = random_fragments(25, seed=1)
    flipped = [Fragment(f.read_id, reverse_complement(f.seq1), reverse_complement(f.seq2)) for f in fragments]
    forward, _, _ = run(tmp_path, model_dir, *write_fastq(tmp_path, "fwd", fragments, paired), "fwd")
    reverse, _, _ = run(tmp_path, model_dir, *write_fastq(tmp_path, "rev", flipped, paired), "rev")
    assert np.array_equal(forward, reverse)
    if paired:  # the same DNA read from the other end: mates swapped
        swapped = [Fragment(f.read_id, f.seq2, f.seq1) for f in fragments]
        other, _, _ = run(tmp_path, model_dir, *write_fastq(tmp_path, "swap", swapped), "swap")
        assert np.allclose(forward, other, atol=2e-3)


def test_vectors_do_not_depend_on_batch_size(model_dir: Path) -> None:
    model, spec, _ = load_model(model_dir)
    fragments = random_fragments(9, seed=2)
    plan = resolve_device("cpu")
    one = np.concatenate([v for _, v in embed_fragments(model, spec, fragments, 1, plan)])
    four = np.concatenate([v for _, v in embed_fragments(model, spec, fragments, 4, plan)])
    assert one.shape == (9, 16) and np.allclose(one, four, atol=1e-5)


def test_two_runs_give_identical_files(tmp_path: Path, model_dir: Path) -> None:
    r1, r2 = write_fastq(tmp_path, "s", random_fragments(15))
    assert run(tmp_path, model_dir, r1, r2, "x")[2] == run(tmp_path, model_dir, r1, r2, "y")[2]


def test_empty_sample_gives_an_empty_matrix(tmp_path: Path, model_dir: Path) -> None:
    r1, r2 = write_fastq(tmp_path, "empty", [])
    vectors, ids, _ = run(tmp_path, model_dir, r1, r2, "empty")
    assert vectors.shape == (0, 16) and vectors.dtype == np.float16 and ids == []


def test_broken_input_is_reported(tmp_path: Path, model_dir: Path) -> None:
    fragments = random_fragments(6)
    r1, _ = write_fastq(tmp_path, "a", fragments)
    _, r2_short = write_fastq(tmp_path, "b", fragments[:4])
    with pytest.raises(PlanktonlmInputError, match="different numbers of records"):
        run(tmp_path, model_dir, r1, r2_short, "bad")
    assert not (tmp_path / "bad.npy").exists() and not (tmp_path / "bad.ids.txt").exists()
    with pytest.raises(PlanktonlmInputError) as bad_config:
        build_config(EmbedConfig, "embed", reads_per_sample=-1, batch_size=0, threads=0)
    assert all(key in str(bad_config.value) for key in ("embed.reads_per_sample", "embed.batch_size", "embed.threads"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_embedding_matches_cpu(tmp_path: Path, model_dir: Path) -> None:
    r1, r2 = write_fastq(tmp_path, "s", random_fragments(20))
    cpu, _, _ = run(tmp_path, model_dir, r1, r2, "cpu")
    gpu, _, _ = run(tmp_path, model_dir, r1, r2, "gpu", build_config(EmbedConfig, "embed", reads_per_sample=0, batch_size=8, device="cuda"))
    assert np.allclose(cpu.astype(np.float32), gpu.astype(np.float32), atol=3e-2)
