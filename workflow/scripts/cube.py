from planktonlm.cube import make_cube
from planktonlm.io import setup_logging

setup_logging(snakemake.log[0])
make_cube(
    snakemake.input.samples,
    snakemake.input.units,
    profile_tsvs={"embedding": snakemake.input.embedding, "kmer": snakemake.input.kmer},
    out_nc=snakemake.output[0],
    config=snakemake.params.config,
    model_sha256_path=snakemake.input.model_sha256,
    truth_dir=snakemake.params.truth_dir or None,
)
