"""The DNA read encoder (the only part of planktonlm that imports torch).

tokenizer: reads -> token ids; model: ReadEncoder (nanoGPT-style transformer);
train: self-supervised training, model folder, load/reuse; embed: fragment vectors per sample;
device: auto/cpu/cuda in one place; benchmarks: throughput and embedding quality.
Import the submodules directly (``from planktonlm.encoder.embed import embed_sample``).
"""
