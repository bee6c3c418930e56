# Train the DNA transformer on a seeded, sample-balanced subsample of the QC'd reads (from
# scratch, or fine-tuning the pretrained model.base), or import the model named by
# model.checkpoint (so a new cruise lands in an earlier cruise's space).
# With an atlas there is no training: the atlas's encoder embeds every cruise.


if ATLAS is None:

    rule train_encoder:
        input:
            unpack(training_reads),
            unpack(base_model_files),
        output:
            weights="results/model/model.pt",
            config="results/model/config.json",
            tokenizer="results/model/tokenizer.json",
            sha256="results/model/weights.sha256",
            train_log=report(
                "results/model/train_log.tsv",
                caption="../report/train_log.rst",
                category="Encoder",
            ),
        log:
            "results/logs/train_encoder/train_encoder.log",
        benchmark:
            "results/benchmarks/train_encoder/train_encoder.tsv"
        params:
            model=config["model"],
            train=config["train"],
            seed=config["seed"],
            samples=SAMPLES,
            paired_samples=CRUISE.paired_samples(),
        threads: TRAIN_THREADS
        resources:
            gpu=TRAIN_GPUS,
            **cuda_job_resources(TRAIN_GPUS),
        conda:
            "../envs/encoder.yaml"
        script:
            "../scripts/train_encoder.py"
