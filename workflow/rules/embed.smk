# Embed each sample's QC'd reads: one strand-invariant vector per fragment (read pair), with the
# encoder trained in this run (results/model/) or the atlas's.


rule embed_sample:
    input:
        unpack(qc_reads),
        unpack(encoder_files),
    output:
        npy="results/embed/{sample}.npy",
        ids="results/embed/{sample}.ids.txt",
    log:
        "results/logs/embed_sample/{sample}.log",
    benchmark:
        "results/benchmarks/embed_sample/{sample}.tsv"
    params:
        embed=config["embed"],
        seed=config["seed"],
        sample="{sample}",
    threads: config["embed"]["threads"]
    resources:
        gpu=EMBED_GPUS,
        **cuda_job_resources(EMBED_GPUS),
    conda:
        "../envs/encoder.yaml"
    script:
        "../scripts/embed_sample.py"
