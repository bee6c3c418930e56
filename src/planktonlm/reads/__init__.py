"""Reads: FASTQ parsing and scans (:mod:`.fastq`), fragments and seeded subsamples
(:mod:`.fragments`), read QC with cutadapt (:mod:`.qc`), and the k-mer baseline (:mod:`.kmers`)."""
