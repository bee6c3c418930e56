# Read QC: FASTQ checks and cutadapt per unit, units merged per sample, read accounting, MultiQC.


# Every record of a unit's raw FASTQ checked (validate.fastq_scan), one job per unit, ahead of
# the QC jobs (priority). A bad file fails here, naming the file, the record, the units sheet,
# sample and unit, and its unit is never trimmed. cutadapt takes the report as ancient(): it
# orders the jobs, but a check rerun alone (validate.fastq_scan changed) reruns no QC.
rule check_fastq:
    input:
        unpack(unit_fastqs),
    output:
        report="results/qc/checks/{sample}/{unit}.tsv",
    log:
        "results/logs/check_fastq/{sample}/{unit}.log",
    benchmark:
        "results/benchmarks/check_fastq/{sample}/{unit}.tsv"
    params:
        fastq_scan=config["validate"]["fastq_scan"],
        sample="{sample}",
        unit="{unit}",
        units_sheet=unit_sheet,
    priority: 10
    conda:
        "../envs/qc.yaml"
    script:
        "../scripts/check_fastq.py"


rule cutadapt_pe:
    input:
        unpack(unit_fastqs),
        check=ancient("results/qc/checks/{sample}/{unit}.tsv"),
    output:
        r1=temp("results/qc/units/{sample}/{unit}_R1.fastq"),
        r2=temp("results/qc/units/{sample}/{unit}_R2.fastq"),
        json="results/qc/units/{sample}/{unit}.cutadapt.json",
        report="results/qc/units/{sample}/{unit}.cutadapt.txt",
    log:
        "results/logs/cutadapt_pe/{sample}/{unit}.log",
    benchmark:
        "results/benchmarks/cutadapt_pe/{sample}/{unit}.tsv"
    params:
        qc=config["qc"],
    threads: config["qc"]["threads"]
    wildcard_constraints:
        sample=PAIRED,
    conda:
        "../envs/qc.yaml"
    script:
        "../scripts/cutadapt.py"


rule cutadapt_se:
    input:
        unpack(unit_fastqs),
        check=ancient("results/qc/checks/{sample}/{unit}.tsv"),
    output:
        r1=temp("results/qc/units/{sample}/{unit}_R1.fastq"),
        json="results/qc/units/{sample}/{unit}.cutadapt.json",
        report="results/qc/units/{sample}/{unit}.cutadapt.txt",
    log:
        "results/logs/cutadapt_se/{sample}/{unit}.log",
    benchmark:
        "results/benchmarks/cutadapt_se/{sample}/{unit}.tsv"
    params:
        qc=config["qc"],
    threads: config["qc"]["threads"]
    wildcard_constraints:
        sample=SINGLE,
    conda:
        "../envs/qc.yaml"
    script:
        "../scripts/cutadapt.py"


rule merge_units_pe:
    input:
        r1=qc_units_r1,
        r2=qc_units_r2,
        reports=cutadapt_jsons,
    output:
        r1="results/qc/{sample}_R1.fastq.gz",
        r2="results/qc/{sample}_R2.fastq.gz",
        accounting="results/qc/accounting/{sample}.tsv",
    log:
        "results/logs/merge_units_pe/{sample}.log",
    benchmark:
        "results/benchmarks/merge_units_pe/{sample}.tsv"
    params:
        sample="{sample}",
    wildcard_constraints:
        sample=PAIRED,
    conda:
        "../envs/qc.yaml"
    script:
        "../scripts/merge_units.py"


rule merge_units_se:
    input:
        r1=qc_units_r1,
        reports=cutadapt_jsons,
    output:
        r1="results/qc/{sample}_R1.fastq.gz",
        accounting="results/qc/accounting/{sample}.tsv",
    log:
        "results/logs/merge_units_se/{sample}.log",
    benchmark:
        "results/benchmarks/merge_units_se/{sample}.tsv"
    params:
        sample="{sample}",
    wildcard_constraints:
        sample=SINGLE,
    conda:
        "../envs/qc.yaml"
    script:
        "../scripts/merge_units.py"


rule read_accounting:
    input:
        accounting=expand("results/qc/accounting/{sample}.tsv", sample=SAMPLES),
    output:
        table=report(
            "results/qc/read_accounting.tsv",
            caption="../report/read_accounting.rst",
            category="Read QC",
        ),
    log:
        "results/logs/read_accounting/read_accounting.log",
    conda:
        "../envs/qc.yaml"
    script:
        "../scripts/read_accounting.py"


rule multiqc:
    input:
        reports=all_cutadapt_reports,
    output:
        html=report(
            "results/qc/multiqc_report.html",
            caption="../report/multiqc.rst",
            category="Read QC",
        ),
    log:
        "results/logs/multiqc/multiqc.log",
    conda:
        "../envs/qc.yaml"
    script:
        "../scripts/multiqc.py"
