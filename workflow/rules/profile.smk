# Community profiles: embedding OTUs, and the k-mer baseline built from the very same fragments.


rule kmer_vectors:
    input:
        unpack(qc_reads),
        ids="results/embed/{sample}.ids.txt",
    output:
        vectors="results/profile/kmer/vectors/{sample}.npy",
    log:
        "results/logs/kmer_vectors/{sample}.log",
    params:
        k=config["profiles"]["kmer_k"],
        sample="{sample}",
    conda:
        "../envs/stats.yaml"
    script:
        "../scripts/kmer_vectors.py"


rule build_profile:
    input:
        vectors=profile_vectors,
    output:
        counts_tsv=report(
            "results/profile/{profile}/counts.tsv",
            caption="../report/profile.rst",
            category="Profiles",
        ),
        counts_parquet="results/profile/{profile}/counts.parquet",
        codebook="results/profile/{profile}/codebook.npy",
        mean="results/profile/{profile}/mean_vector.tsv",
    log:
        "results/logs/build_profile/{profile}.log",
    benchmark:
        "results/benchmarks/build_profile/{profile}.tsv"
    params:
        profiles=config["profiles"],
        seed=config["seed"],
        samples=SAMPLES,
        profile="{profile}",
    wildcard_constraints:
        profile="embedding|kmer",
    conda:
        "../envs/stats.yaml"
    script:
        "../scripts/build_profile.py"
