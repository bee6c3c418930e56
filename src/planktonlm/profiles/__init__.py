"""Community profiles from read vectors: the embedding-OTU codebook and the k-mer baseline.

    vectors   per-sample ``.npy`` vectors: opening, checking, the sample-balanced pool, mean vector
    codebook  bit-reproducible k-means "OTU" codebook and nearest-OTU assignment
    tables    OTU names, counts per sample, byte-stable TSV / Parquet writer and reader
    build     one profile: pool -> codebook -> every fragment assigned -> tables written
"""
