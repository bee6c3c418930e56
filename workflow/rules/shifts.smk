# Community shifts vs climate: dbRDA with design-respecting permutations, the season as a baseline,
# time-series analyses, time-aware grouped-CV regression both ways.


rule shifts:
    input:
        unpack(shifts_inputs),
    output:
        **{name: f"results/shifts/{name}.tsv" for name in SHIFT_TABLES},
        models="results/shifts/models.pkl",
    log:
        "results/logs/shifts/shifts.log",
    benchmark:
        "results/benchmarks/shifts/shifts.tsv"
    params:
        shifts=config["shifts"],
        seed=config["seed"],
    threads: SHIFTS_THREADS
    conda:
        "../envs/stats.yaml"
    script:
        "../scripts/shifts.py"
