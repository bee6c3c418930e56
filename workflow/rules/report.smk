# The self-contained HTML report.


rule report:
    input:
        unpack(report_inputs),
    output:
        html=report("results/report.html", caption="../report/report.rst", category="Report"),
    log:
        "results/logs/report/report.log",
    params:
        report=config["report"],
        seed=config["seed"],
        checkpoint=config["model"]["checkpoint"],
    conda:
        "../envs/stats.yaml"
    script:
        "../scripts/report.py"
