"""The validated cruise (planktonlm.inputs.cruise): the good cruise, the bad-input corpus, the CLI."""

from __future__ import annotations

import gzip
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planktonlm.cli import main as cli_main
from planktonlm.config import load_config
from planktonlm.errors import PlanktonlmInputError
from planktonlm.inputs.cruise import Unit, load_cruise, load_workflow_cruise

REPO = Path(__file__).resolve().parents[3]
GOOD = Path("tests/data/good_cruise")
BAD = Path("tests/data/bad_inputs")
BAD_CASES = sorted(p.name for p in (REPO / BAD).iterdir() if (p / "config.yaml").is_file())


def expectations(case: str) -> tuple[int, list[str]]:
    lines = (BAD / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    (count,) = [int(line.split(":")[1]) for line in lines if line.startswith("# problems:")]
    return count, [line for line in lines if line and not line.startswith("#")]


def test_good_cruise_loads_with_typed_columns() -> None:
    cruise = load_cruise(GOOD / "samples.tsv", GOOD / "units.tsv")
    assert cruise.sample_ids() == ["S1", "S2", "S3"]
    assert cruise.samples.index.name == "sample"
    assert list(cruise.units.columns) == ["sample", "unit", "fq1", "fq2"]
    assert list(cruise.units_of("S1")["unit"]) == ["L1", "L2"]
    assert cruise.paired_samples() == ["S1", "S2", "S3"] and cruise.single_samples() == []
    assert str(cruise.samples["datetime"].dt.tz) == "UTC"
    assert cruise.samples.loc["S2", "depth_m"] == 50.0
    assert cruise.samples["latitude"].dtype == float
    assert cruise.env_columns() == ["temperature_c", "ph", "pressure_dbar", "salinity_psu", "oxygen_umol_kg", "chlorophyll_mg_m3"]
    assert cruise.missing_summary()["n_missing"].sum() == 0
    for path in list(cruise.units["fq1"]) + list(cruise.units["fq2"]):
        assert Path(path).is_file()



def test_unit_lookup() -> None:
    cruise = load_cruise(GOOD / "samples.tsv", GOOD / "units.tsv")
    assert cruise.unit_ids("S1") == ["L1", "L2"]
    unit = cruise.unit("S1", "L2")
    assert unit == Unit("S1", "L2", f"{GOOD}/reads/S1_L2_R1.fastq.gz", f"{GOOD}/reads/S1_L2_R2.fastq.gz")
    assert unit.paired
    for missing in (lambda: cruise.units_of("S9"), lambda: cruise.unit("S1", "L9"), lambda: cruise.unit("S9", "L1")):
        with pytest.raises(KeyError):
            missing()



def test_cli_validate_accepts_good_and_refuses_bad(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["validate", "--config", str(GOOD / "config.yaml")]) == 0
    assert "ok: 3 samples, 4 units" in capsys.readouterr().out
    assert cli_main(["validate", "--config", str(BAD / "ph_out_of_range" / "config.yaml")]) == 2
    assert "column 'ph'" in capsys.readouterr().err
    # FASTQ content too: what the workflow leaves to its check_fastq jobs, the command checks itself
    assert cli_main(["validate", "--config", str(BAD / "duplicate_read_ids" / "config.yaml")]) == 2
    assert "row 5: duplicate read id 'S1_L1.1' (first at record 1)" in capsys.readouterr().err



@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_case_is_refused_with_every_problem_named(case: str) -> None:
    count, substrings = expectations(case)
    with pytest.raises(PlanktonlmInputError) as excinfo:
        load_cruise(BAD / case / "samples.tsv", BAD / case / "units.tsv")
    message = str(excinfo.value)
    assert len(excinfo.value.problems) == count, message
    for text in substrings:
        assert text in message, f"{text!r} not in:\n{message}"



def test_corpus_holds_the_required_cases() -> None:
    required = {
        "unknown_sample_in_units", "duplicate_sample_id", "bad_id_characters", "ph_out_of_range",
        "temperature_out_of_range", "negative_depth", "pressure_inconsistent", "unparsable_date",
        "missing_required_column", "missing_fastq", "fastq_is_directory", "sample_without_reads",
        "mixed_paired_single", "truncated_gzip", "quality_length_mismatch", "mismatched_pair_counts",
        "empty_fastq", "no_records", "non_numeric_latitude", "several_errors", "dot_ids", "duplicate_read_ids",
        "quality_below_phred33", "quality_above_phred33", "ids_differing_in_case", "future_datetime",
        "sequence_not_nucleotides", "mate_file_given_twice",
    }  # fmt: skip
    assert required <= set(BAD_CASES)



@pytest.mark.parametrize("case", BAD_CASES)
def test_case_says_where_it_is_caught(case: str) -> None:
    """FASTQ content cases name the unit whose check_fastq job refuses them; the rest fail at parse time."""
    lines = (BAD / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    (caught,) = [line.split(":", 1)[1].strip() for line in lines if line.startswith("# caught by:")]
    if caught == "parse time":
        with pytest.raises(PlanktonlmInputError):
            load_cruise(BAD / case / "samples.tsv", BAD / case / "units.tsv", fastq_scan=None)
        return
    _, sample, unit = caught.split()
    cruise = load_cruise(BAD / case / "samples.tsv", BAD / case / "units.tsv", fastq_scan=None)
    assert cruise.unit(sample, unit)
    assert cruise.unit_sheet(sample, unit) == f"{BAD}/{case}/units.tsv"


@pytest.mark.parametrize("case", BAD_CASES)
def test_case_config_points_at_its_own_tables(case: str) -> None:
    config = load_config(BAD / case / "config.yaml")
    assert config["samples"] == f"{BAD}/{case}/samples.tsv"
    assert config["units"] == f"{BAD}/{case}/units.tsv"
    assert Path(config["samples"]).is_file() and Path(config["units"]).is_file()



def test_committed_corpus_matches_its_generator(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(BAD / "make_corpus.py"), str(tmp_path)], check=True)

    def files(root: Path) -> set[Path]:
        return {
            p.relative_to(root)
            for p in root.rglob("*")
            if p.is_file() and p.name != "make_corpus.py" and "__pycache__" not in p.parts
        }

    for folder in ("good_cruise", "good_variants", "bad_inputs"):
        committed, generated = files(REPO / "tests/data" / folder), files(tmp_path / folder)
        assert committed == generated
        for relative in committed:
            old, new = (REPO / "tests/data" / folder / relative).read_bytes(), (tmp_path / folder / relative).read_bytes()
            if relative.suffix == ".gz":  # zlib builds may compress differently: compare content
                old, new = (_gunzip_or_failure(b) for b in (old, new))
            assert old == new, relative



def _gunzip_or_failure(data: bytes) -> bytes | str:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as exc:
        return type(exc).__name__



def test_missing_values_in_measured_variables_are_allowed_and_counted(tmp_path: Path, samples_variant) -> None:
    def edit(table: pd.DataFrame) -> None:
        table.loc[1, "ph"] = ""
        table.loc[2, "salinity_psu"] = "NA"
        table.loc[3, "salinity_psu"] = ""
        table.loc[3, "oxygen_umol_kg"] = "nan"

    cruise = load_cruise(samples_variant(edit), GOOD / "units.tsv")
    assert math.isnan(cruise.samples.loc["S1", "ph"])
    summary = cruise.missing_summary()
    assert summary.loc["ph", "n_missing"] == 1 and summary.loc["ph", "samples_missing"] == "S1"
    assert summary.loc["salinity_psu", "n_missing"] == 2
    assert summary.loc["salinity_psu", "samples_missing"] == "S2,S3"
    assert summary.loc["salinity_psu", "fraction_missing"] == pytest.approx(2 / 3)
    assert summary.loc["oxygen_umol_kg", "samples_missing"] == "S3"
    assert summary.loc["temperature_c", "n_missing"] == 0
    assert list(summary.index) == cruise.env_columns()



def test_extra_numeric_column_is_an_environmental_variable(tmp_path: Path, samples_variant) -> None:
    def edit(table: pd.DataFrame) -> None:
        table["ammonium_umol_kg"] = ["0.12", "NA", "3e-2"]

    cruise = load_cruise(samples_variant(edit), GOOD / "units.tsv")
    assert cruise.env_columns()[-1] == "ammonium_umol_kg"
    assert cruise.samples.loc["S3", "ammonium_umol_kg"] == pytest.approx(0.03)
    assert cruise.missing_summary().loc["ammonium_umol_kg", "n_missing"] == 1



def test_single_end_cruise(tmp_path: Path, good_cruise_copy) -> None:
    cruise = load_cruise(*good_cruise_copy(single_end=True))
    assert cruise.single_samples() == ["S1", "S2", "S3"] and cruise.paired_samples() == []
    assert not cruise.is_paired("S1")
    assert not cruise.unit("S2", "L1").paired
    assert (cruise.units["fq2"] == "").all()



def test_unknown_scan_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="fastq_scan"):
        load_cruise(GOOD / "samples.tsv", GOOD / "units.tsv", fastq_scan="none")


def test_published_config_gives_an_empty_cruise_without_reading_sheets() -> None:
    config = load_config(GOOD / "config.yaml")
    config["samples"] = config["units"] = "no/such/file.tsv"
    config["published"] = {"environment": "env.tsv"}
    cruise = load_workflow_cruise(config)
    assert cruise.sample_ids() == [] and list(cruise.units.columns) == ["sample", "unit", "fq1", "fq2"]
    with pytest.raises(PlanktonlmInputError, match="no/such/file.tsv"):
        load_workflow_cruise({**config, "published": {}})
