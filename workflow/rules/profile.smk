# Community profiles: embedding OTUs, and the k-mer baseline built from the very same fragments.
# Per sample: k-mer vectors and the assignment of every fragment to its nearest OTU; across samples:
# the codebook (fitted here, or an atlas's) and the collected tables. Adding a cruise to an atlas
# run therefore runs only the new samples' jobs and the collection.


rule kmer_vectors:
    input:
        unpack(qc_reads),
        ids="results/embed/{sample}.ids.txt",
    output:
        vectors="results/profile/kmer/vectors/{sample}.npy",
    log:
        "results/logs/kmer_vectors/{sample}.log",
    params:
        k=KMER_K,
        sample="{sample}",
    conda:
        "../envs/stats.yaml"
    script:
        "../scripts/kmer_vectors.py"


# With an atlas the codebooks are the atlas's: nothing is fitted.
if ATLAS is None:

    rule fit_codebook:
        input:
            vectors=profile_vectors,
        output:
            codebook="results/profile/{profile}/codebook.npy",
        log:
            "results/logs/fit_codebook/{profile}.log",
        benchmark:
            "results/benchmarks/fit_codebook/{profile}.tsv"
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
            "../scripts/fit_codebook.py"


rule assign_profile:
    input:
        vectors=sample_vectors,
        codebook=codebook_file,
    output:
        counts="results/profile/{profile}/samples/{sample}.counts.tsv",
        distances="results/profile/{profile}/samples/{sample}.distances.npy",
        mean="results/profile/{profile}/samples/{sample}.mean.tsv",
    log:
        "results/logs/assign_profile/{profile}/{sample}.log",
    params:
        sample="{sample}",
        profile="{profile}",
    wildcard_constraints:
        profile="embedding|kmer",
    conda:
        "../envs/stats.yaml"
    script:
        "../scripts/assign_profile.py"


rule collect_profile:
    input:
        unpack(collected_sample_profiles),
    output:
        counts_tsv=report(
            "results/profile/{profile}/counts.tsv",
            caption="../report/profile.rst",
            category="Profiles",
        ),
        counts_parquet="results/profile/{profile}/counts.parquet",
        mean="results/profile/{profile}/mean_vector.tsv",
        novelty="results/profile/{profile}/novelty.tsv",
        distances="results/profile/{profile}/distances.tsv",
    log:
        "results/logs/collect_profile/{profile}.log",
    params:
        samples=SAMPLES,
        profile="{profile}",
    wildcard_constraints:
        profile="embedding|kmer",
    conda:
        "../envs/stats.yaml"
    script:
        "../scripts/collect_profile.py"
