# Embed each sample's QC'd reads: one strand-invariant vector per fragment (read pair), with the
# encoder trained in this run (results/model/) or the atlas's.
#
# One job embeds a batch of embed.samples_per_job samples in one process, so torch is imported and
# the model loaded once per batch instead of once per sample. Batches are cut within each samples
# sheet, in row order (EMBED_BATCHES, planktonlm.inputs.batches): adding a cruise's sheet adds
# batches and leaves every existing one (samples, inputs, params) as it was, so the earlier
# cruises' vectors are not computed again. Per-sample output paths cannot carry a batch wildcard,
# so each batch is a rule of its own, embed_batch_s<sheet>_b<batch> (Snakemake's `name:`), with
# explicit inputs and outputs. Each sample's files are exactly those of a job of its own.


for batch in EMBED_BATCHES:

    rule:
        name:
            f"embed_batch_{batch.name}"
        input:
            unpack(encoder_files),
            **batch_qc_reads(batch),
        output:
            npy=embedding_files(batch, ".npy"),
            ids=embedding_files(batch, ".ids.txt"),
        log:
            f"results/logs/embed_batch/{batch.name}.log",
        benchmark:
            f"results/benchmarks/embed_batch/{batch.name}.tsv"
        params:
            embed=EMBED_PARAMS,
            seed=config["seed"],
            samples=list(batch.samples),
            paired_samples=batch_paired_samples(batch),
        threads: config["embed"]["threads"]
        resources:
            gpu=EMBED_GPUS,
            runtime=embed_batch_runtime,
            **cuda_job_resources(EMBED_GPUS),
        conda:
            "../envs/encoder.yaml"
        script:
            "../scripts/embed_batch.py"
