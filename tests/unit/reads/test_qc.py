"""Read QC (planktonlm.reads.qc): cutadapt arguments, a real cutadapt run, unit merging and read accounting."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import dnaio
import pandas as pd
import pytest

from planktonlm.config import build_config
from planktonlm.errors import PlanktonlmInputError
from planktonlm.reads.qc import (
    ACCOUNTING_COLUMNS,
    QcConfig,
    collect_accounting,
    cutadapt_args,
    qc_sample,
    run_cutadapt,
    sample_accounting,
)

REAL_READS = Path(__file__).parents[2] / "data" / "real_reads" / "osd2014_ERR771001_R1.trimmed.fastq.gz"
ADAPTER_R1 = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"
ADAPTER_R2 = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT"


def qc_config(**overrides) -> QcConfig:
    """The schema's qc section (TruSeq adapters, Q20) with min_length 30 unless overridden."""
    return build_config(QcConfig, "qc", {"min_length": 30, "threads": 1, **overrides})


def write_pairs(path1: Path, path2: Path, pairs: list[tuple[str, str, str]]) -> None:
    """pairs = (name, seq1, seq2); all qualities 'I' (Q40)."""
    with dnaio.open(path1, path2, mode="w") as out:
        for name, s1, s2 in pairs:
            out.write(dnaio.SequenceRecord(name, s1, "I" * len(s1)), dnaio.SequenceRecord(name, s2, "I" * len(s2)))


GENOMIC = "ACGTTGCAAGCTTAGCCGATCGATTACGGCATGCATCGATCGGATCCATGCAAGTCGACTGA"  # 62 bp


@pytest.fixture()
def paired_unit(tmp_path):
    pairs = [
        ("r1", GENOMIC, GENOMIC[::-1]),                                   # kept untouched
        ("r2", GENOMIC[:40] + ADAPTER_R1[:22], GENOMIC[:40] + ADAPTER_R2[:22]),  # adapter trimmed, kept (40 >= 30)
        ("r3", GENOMIC[:10] + ADAPTER_R1 + "ACGTACGTACGTACGTACGT", GENOMIC[:62]),  # R1 too short -> pair removed
        ("r4", "N" * 20 + GENOMIC[:42], GENOMIC),                           # too many N -> removed
    ]
    fq1, fq2 = tmp_path / "u_R1.fastq.gz", tmp_path / "u_R2.fastq.gz"
    write_pairs(fq1, fq2, pairs)
    return fq1, fq2


def test_cutadapt_args_paired_keeps_mates_in_step():
    args = cutadapt_args(qc_config(), "a_R1.fq.gz", "a_R2.fq.gz", "o1.fq", "o2.fq", "r.json", threads=2)
    assert args[:2] == ["-j", "2"]
    assert "--pair-filter=any" in args
    assert args[args.index("-A") + 1] == ADAPTER_R2
    assert args[args.index("-q") + 1] == "20,20"
    assert args[-2:] == ["a_R1.fq.gz", "a_R2.fq.gz"]


def test_cutadapt_args_single_end_and_nextseq():
    args = cutadapt_args(qc_config(nextseq_trim=True, min_length=70), "a.fq", None, "o.fq", None, "r.json", threads=1)
    assert "-A" not in args and "-p" not in args
    assert args[args.index("--nextseq-trim") + 1] == "20"
    assert args[args.index("--minimum-length") + 1] == "70"
    assert args[-1] == "a.fq"


def run_unit(tmp_path, fq1, fq2, cfg):
    out1, out2 = tmp_path / "q_R1.fastq", (tmp_path / "q_R2.fastq" if fq2 else None)
    js, txt, log = tmp_path / "c.json", tmp_path / "c.txt", tmp_path / "c.log"
    run_cutadapt(cfg, str(fq1), str(fq2) if fq2 else None, str(out1), str(out2) if out2 else None,
                 str(js), str(txt), str(log), threads=1)
    return out1, out2, js, txt


def test_paired_qc_accounting_adds_up(tmp_path, paired_unit):
    fq1, fq2 = paired_unit
    out1, out2, js, txt = run_unit(tmp_path, fq1, fq2, qc_config())
    assert "Total read pairs processed" in txt.read_text()  # MultiQC parses this text report
    acc = tmp_path / "acc.tsv"
    qc_sample("S1", [str(out1)], [str(out2)], [str(js)], str(tmp_path / "S1_R1.fastq.gz"),
              str(tmp_path / "S1_R2.fastq.gz"), str(acc))
    row = pd.read_csv(acc, sep="\t").iloc[0]
    report = json.loads(js.read_text())["read_counts"]
    assert (row.raw_reads, row.kept_reads, row.removed_too_short, row.removed_too_many_n) == (4, 2, 1, 1)
    assert row.kept_reads + row.removed_reads == row.raw_reads == report["input"]
    assert row.kept_reads == report["output"]
    with dnaio.open(tmp_path / "S1_R1.fastq.gz", tmp_path / "S1_R2.fastq.gz") as reader:
        merged = list(reader)
    assert [r1.name for r1, _ in merged] == ["r1", "r2"]
    assert merged[1][0].sequence == GENOMIC[:40]  # adapter read-through removed
    assert row.mean_length_raw > row.mean_length_qc


def test_units_merge_in_sheet_order_and_accounting_sums(tmp_path, paired_unit):
    fq1, fq2 = paired_unit
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    unit_a = run_unit(tmp_path / "a", fq1, fq2, qc_config())
    unit_b = run_unit(tmp_path / "b", fq1, fq2, qc_config(min_length=5))
    acc = tmp_path / "acc.tsv"
    qc_sample("S1", [str(unit_a[0]), str(unit_b[0])], [str(unit_a[1]), str(unit_b[1])],
              [str(unit_a[2]), str(unit_b[2])], str(tmp_path / "S_R1.fastq.gz"), str(tmp_path / "S_R2.fastq.gz"), str(acc))
    row = pd.read_csv(acc, sep="\t").iloc[0]
    assert row.units == 2 and row.raw_reads == 8
    assert row.kept_reads == 2 + 3  # min_length 5 keeps the short pair in unit b
    with dnaio.open(tmp_path / "S_R1.fastq.gz") as reader:
        assert [r.name for r in reader] == ["r1", "r2", "r1", "r2", "r3"]


def test_single_end_real_reads(tmp_path):
    """Real OSD 2014 MiSeq reads (adapters not removed upstream) go through QC."""
    out1, _, js, _ = run_unit(tmp_path, REAL_READS, None, qc_config(min_length=50))
    acc = tmp_path / "acc.tsv"
    qc_sample("OSD", [str(out1)], [], [str(js)], str(tmp_path / "OSD_R1.fastq.gz"), None, str(acc))
    row = pd.read_csv(acc, sep="\t").iloc[0]
    assert row.raw_reads == 2498  # SOURCES.tsv: first 2498 reads of the run
    assert row.kept_reads + row.removed_reads == row.raw_reads
    assert 0 < row.removed_reads < row.raw_reads
    assert not bool(row.paired)


def test_merged_output_is_byte_identical_across_runs(tmp_path, paired_unit):
    fq1, fq2 = paired_unit
    digests = []
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        o1, o2, js, _ = run_unit(tmp_path / name, fq1, fq2, qc_config())
        qc_sample("S", [str(o1)], [str(o2)], [str(js)], str(tmp_path / name / "S_R1.fastq.gz"),
                  str(tmp_path / name / "S_R2.fastq.gz"), str(tmp_path / name / "a.tsv"))
        digests.append((tmp_path / name / "S_R1.fastq.gz").read_bytes())
    assert digests[0] == digests[1]


def test_mismatched_pairs_fail_with_file_names_and_no_output(tmp_path):
    fq1, fq2 = tmp_path / "m_R1.fastq.gz", tmp_path / "m_R2.fastq.gz"
    write_pairs(fq1, fq2, [("a", GENOMIC, GENOMIC)])
    with gzip.open(fq1, "at") as handle:
        handle.write(f"@b\n{GENOMIC}\n+\n{'I' * len(GENOMIC)}\n")
    with pytest.raises(PlanktonlmInputError) as err:
        run_unit(tmp_path, fq1, fq2, qc_config())
    assert "m_R1.fastq.gz" in str(err.value) and "m_R2.fastq.gz" in str(err.value)
    assert not (tmp_path / "q_R1.fastq").exists() and not (tmp_path / "c.json").exists()


def test_accounting_refuses_numbers_that_do_not_add_up():
    report = {"input": {"paired": True}, "basepair_counts": {"input": 400},
              "read_counts": {"input": 4, "output": 2, "filtered": {"too_short": 1, "too_many_n": None}}}
    with pytest.raises(RuntimeError, match="does not add up"):
        sample_accounting("S1", [report], kept_reads=2, kept_bases=200)
    report["read_counts"]["filtered"]["too_many_n"] = 1
    with pytest.raises(RuntimeError, match="merged files hold 3"):
        sample_accounting("S1", [report], kept_reads=3, kept_bases=200)
    assert sample_accounting("S1", [report], kept_reads=2, kept_bases=200)["pct_kept"] == 50.0


def test_collect_accounting_keeps_sample_order(tmp_path):
    paths = []
    for i, sample in enumerate(["B", "A"]):
        row = dict.fromkeys(ACCOUNTING_COLUMNS, 1) | {"sample": sample, "raw_reads": 10 + i}
        path = tmp_path / f"{sample}.tsv"
        pd.DataFrame([row]).to_csv(path, sep="\t", index=False)
        paths.append(str(path))
    table = collect_accounting(paths, str(tmp_path / "all.tsv"))
    assert list(table["sample"]) == ["B", "A"]
    assert list(pd.read_csv(tmp_path / "all.tsv", sep="\t").columns) == ACCOUNTING_COLUMNS


def test_qc_config_takes_defaults_and_bounds_from_the_schema():
    cfg = qc_config()
    assert (cfg.adapter_r1, cfg.adapter_r2, cfg.quality_cutoff, cfg.max_n) == (ADAPTER_R1, ADAPTER_R2, 20, 0.1)
    with pytest.raises(PlanktonlmInputError, match="qc.max_n"):
        qc_config(max_n=1.5)
