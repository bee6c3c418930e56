from planktonlm.io import setup_logging
from planktonlm.kmers import kmer_vectors_for_sample

setup_logging(snakemake.log[0])
kmer_vectors_for_sample(
    snakemake.input.r1,
    snakemake.input.get("r2"),
    ids_file=snakemake.input.ids,
    out_npy=snakemake.output[0],
    k=snakemake.params.k,
)
