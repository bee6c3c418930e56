# Embed each sample's QC'd reads: one strand-invariant vector per fragment (read pair).


rule embed_sample:
    input:
        unpack(qc_reads),
        weights="results/model/model.pt",
        model_config="results/model/config.json",
        tokenizer="results/model/tokenizer.json",
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
    conda:
        "../envs/encoder.yaml"
    script:
        "../scripts/embed_sample.py"
