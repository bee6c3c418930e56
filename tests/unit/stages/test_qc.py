"""Stages of read QC (planktonlm.stages.qc): each writes every declared output, ids come from params."""

from __future__ import annotations

import json
from pathlib import Path

import dnaio
import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.reads.qc import ACCOUNTING_COLUMNS
from planktonlm.stages import Job, qc

GENOMIC = "ACGTTGCAAGCTTAGCCGATCGATTACGGCATGCATCGATCGGATCCATGCAAGTCGACTGA"  # 62 bp


def write_unit(folder: Path, name: str, paired: bool) -> dict[str, str]:
    """Three fragments, one of them too short after trimming; returns the cutadapt job's input."""
    seqs = [GENOMIC, GENOMIC[::-1], GENOMIC[:20]]
    fq1 = folder / f"{name}_1.fq.gz"
    fq2 = folder / f"{name}_2.fq.gz"
    writer = dnaio.open(fq1, fq2, mode="w") if paired else dnaio.open(fq1, mode="w")
    with writer:
        for i, s in enumerate(seqs):
            record = dnaio.SequenceRecord(f"r{i}", s, "I" * len(s))
            writer.write(record, record) if paired else writer.write(record)
    return {"fq1": str(fq1), "fq2": str(fq2)} if paired else {"fq1": str(fq1)}


def run_sample(tmp_path: Path, sample: str, n_units: int, paired: bool) -> dict[str, str]:
    """cutadapt per unit, then merge_units; unit files are named after nothing that holds the sample id."""
    qc_section = {"min_length": 30, "threads": 1}
    unit_out: dict[str, list[str]] = {"r1": [], "r2": [], "reports": []}
    for u in range(n_units):
        folder = tmp_path / f"unit{u}"
        folder.mkdir()
        output = {"r1": str(folder / "a.fastq"), "json": str(folder / "c.json"), "report": str(folder / "c.txt")}
        if paired:
            output["r2"] = str(folder / "b.fastq")
        qc.cutadapt(Job(input=write_unit(folder, "in", paired), output=output, params={"qc": qc_section},
                        log=str(folder / "cutadapt.log")))
        for key in output:
            assert Path(output[key]).is_file(), key
        assert json.loads(Path(output["json"]).read_text())["read_counts"]["input"] == 3
        unit_out["r1"].append(output["r1"])
        unit_out["reports"].append(output["json"])
        if paired:
            unit_out["r2"].append(output["r2"])
    merged = {"r1": str(tmp_path / "m1.fastq.gz"), "accounting": str(tmp_path / "acc.tsv")}
    inputs = {"r1": unit_out["r1"], "reports": unit_out["reports"]}
    if paired:
        merged["r2"] = str(tmp_path / "m2.fastq.gz")
        inputs["r2"] = unit_out["r2"]
    qc.merge_units(Job(input=inputs, output=merged, params={"sample": sample}))
    return merged


@pytest.mark.parametrize("paired", [True, False])
def test_cutadapt_and_merge_write_every_output_with_the_sample_of_params(tmp_path: Path, paired: bool) -> None:
    merged = run_sample(tmp_path, "ST1_D5", n_units=2, paired=paired)
    for key in merged:
        assert Path(merged[key]).is_file(), key
    row = pd.read_csv(merged["accounting"], sep="\t").iloc[0]
    assert (row["sample"], row["units"], bool(row["paired"]), row["raw_reads"], row["kept_reads"]) == ("ST1_D5", 2, paired, 6, 4)
    with dnaio.open(merged["r1"]) as reader:
        assert [r.name for r in reader] == ["r0", "r1", "r0", "r1"]


def test_read_accounting_stacks_the_samples_in_input_order(tmp_path: Path) -> None:
    tables = []
    for sample in ("B", "A"):
        folder = tmp_path / sample
        folder.mkdir()
        tables.append(run_sample(folder, sample, n_units=1, paired=True)["accounting"])
    out = tmp_path / "read_accounting.tsv"
    qc.read_accounting(Job(input={"accounting": tables}, output={"table": str(out)}))
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ACCOUNTING_COLUMNS and list(table["sample"]) == ["B", "A"]


def test_merge_units_refuses_unequal_unit_lists(tmp_path: Path) -> None:
    job = Job(input={"r1": ["a.fastq", "b.fastq"], "reports": ["a.json"]},
              output={"r1": str(tmp_path / "m.fastq.gz"), "accounting": str(tmp_path / "acc.tsv")}, params={"sample": "S1"})
    with pytest.raises(PlanktonlmInputError, match="unequal numbers of unit files"):
        qc.merge_units(job)
    assert not any(tmp_path.iterdir())


def test_paired_inputs_need_paired_outputs(tmp_path: Path) -> None:
    job = Job(input=write_unit(tmp_path, "in", paired=True),
              output={"r1": str(tmp_path / "a.fastq"), "json": str(tmp_path / "c.json"), "report": str(tmp_path / "c.txt")},
              params={"qc": {}})
    with pytest.raises(ValueError, match="disagree on paired-end reads"):
        qc.cutadapt(job)


def test_cutadapt_failure_is_an_input_error_without_outputs(tmp_path: Path) -> None:
    """A job without a log still quotes cutadapt's own message."""
    bad = tmp_path / "bad.fastq"
    bad.write_text("@r0\nACGT\n+\nII\n")  # quality shorter than the sequence
    output = {"r1": str(tmp_path / "a.fastq"), "json": str(tmp_path / "c.json"), "report": str(tmp_path / "c.txt")}
    with pytest.raises(PlanktonlmInputError, match="cutadapt failed: .*[Ll]ength"):
        qc.cutadapt(Job(input={"fq1": str(bad)}, output=output, params={"qc": {}}))
    assert not Path(output["r1"]).exists() and not Path(output["json"]).exists()


@pytest.mark.parametrize("paired", [True, False])
def test_check_fastq_writes_one_report_row_per_file(tmp_path: Path, paired: bool) -> None:
    inputs = write_unit(tmp_path, "in", paired)
    report, log = tmp_path / "checks" / "S1" / "L1.tsv", tmp_path / "check.log"
    report.parent.mkdir(parents=True)
    qc.check_fastq(Job(input=inputs, output={"report": str(report)}, log=str(log),
                       params={"fastq_scan": "full", "sample": "S1", "unit": "L1", "units_sheet": "units.tsv"}))
    table = pd.read_csv(report, sep="\t")
    assert table["mate"].tolist() == (["R1", "R2"] if paired else ["R1"])
    assert table["file"].tolist() == list(inputs.values())
    assert (table["records"] == 3).all() and (table["scan"] == "full").all()
    assert (table["bases"] == 62 + 62 + 20).all()
    assert "sample S1, unit L1: FASTQ valid" in log.read_text()


def test_check_fastq_failure_names_the_unit_row_in_error_and_log_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.fastq"
    bad.write_text("@r0\nACGT\n+\nII I\n@r0\nACGT\n+\nIIII\n")
    report, log = tmp_path / "L1.tsv", tmp_path / "check.log"
    job = Job(input={"fq1": str(bad)}, output={"report": str(report)}, log=str(log),
              params={"fastq_scan": "quick", "sample": "S1", "unit": "L1", "units_sheet": "cfg/units.tsv"})
    with pytest.raises(PlanktonlmInputError) as excinfo:
        qc.check_fastq(job)
    expected = f"{bad}, row 1: quality character ' ' (code 32) at position 3 is outside Phred+33 [cfg/units.tsv: sample S1, unit L1]"
    assert expected in str(excinfo.value)
    assert expected in log.read_text()
    assert set(tmp_path.iterdir()) == {bad, log}  # no report, no temporary file left


def test_check_fastq_refuses_an_unknown_scan_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fastq_scan"):
        qc.check_fastq(Job(input={"fq1": "x"}, output={"report": str(tmp_path / "r.tsv")},
                           params={"fastq_scan": "none", "sample": "S1", "unit": "L1", "units_sheet": ""}))
