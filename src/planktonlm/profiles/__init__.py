"""Community profiles from read vectors: the embedding-OTU codebook and the k-mer baseline.

    vectors   per-sample ``.npy`` vectors: opening, checking, the sample-balanced pool, mean vector
    codebook  bit-reproducible k-means "OTU" codebook and nearest-OTU assignment
    tables    OTU names, counts per sample, byte-stable TSV / Parquet writer and reader
    build     one profile's codebook: balanced pool -> k-means (once per run)
    assign    one sample's fragments -> counts row, distances, mean; per-sample rows -> run tables
    novelty   read-to-centre distance quantiles and the share of each sample beyond the atlas
    atlas     a finished run frozen (encoder + codebooks + manifest) for later cruises to land in
    otu_map   OTU ids of one atlas translated into another's (by centres or by shared reads)
"""
