"""The DNA read encoder (the only part of planktonlm that imports torch).

tokenizer: reads -> token ids; model: ReadEncoder (nanoGPT-style transformer) and ModelConfig;
data: training pool, views, validation split, batches; train: the training loop, losses,
checkpoints; model_dir: write / load / import a model folder; embed: fragment vectors per sample;
device: auto/cpu/cuda in one place; benchmarks: throughput and embedding quality.
Import the submodules directly (``from planktonlm.encoder.embed import embed_sample``).
"""

import os

# MKL (torch's CPU BLAS) may use fewer threads than asked when the machine is busy, and picks
# kernels by memory alignment: either changes the order of floating-point sums, so the same
# seed gave other weights now and then (seen on AVX-512 Intel CPUs under load). A fixed thread
# count and MKL's reproducible code path keep CPU training byte-identical from run to run. MKL
# reads both when it starts, so they are set before torch is imported.
os.environ.setdefault("MKL_DYNAMIC", "FALSE")
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
