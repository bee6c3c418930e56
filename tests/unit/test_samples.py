"""Validation of samples.tsv / units.tsv / FASTQ files: the bad-input corpus and the good cruise."""

from __future__ import annotations

import gzip
import math
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from planktonlm import samples as samples_module
from planktonlm.cli import main as cli_main
from planktonlm.config import load_config, load_schema
from planktonlm.errors import PlanktonlmInputError
from planktonlm.samples import (
    PHYSICAL_RANGES,
    Unit,
    load_cruise,
    parse_datetime_utc,
    read_samples_table,
)

REPO = Path(__file__).resolve().parents[2]
GOOD = Path("tests/data/good_cruise")
BAD = Path("tests/data/bad_inputs")
BAD_CASES = sorted(p.name for p in (REPO / BAD).iterdir() if (p / "config.yaml").is_file())


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in the corpus tables are relative to the repository root, as in a workflow run."""
    monkeypatch.chdir(REPO)


def expectations(case: str) -> tuple[int, list[str]]:
    lines = (BAD / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    (count,) = [int(line.split(":")[1]) for line in lines if line.startswith("# problems:")]
    return count, [line for line in lines if line and not line.startswith("#")]


def write_samples_variant(tmp_path: Path, edit=None) -> Path:
    """The good cruise's samples.tsv, edited as text cells, written to tmp_path."""
    table = read_samples_table(GOOD / "samples.tsv")
    if edit is not None:
        edit(table)
    path = tmp_path / "samples.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path


# ---------------------------------------------------------------------------- good cruise


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


# ---------------------------------------------------------------------------- bad-input corpus


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
        "empty_fastq", "no_records", "non_numeric_latitude", "several_errors",
    }  # fmt: skip
    assert required <= set(BAD_CASES)


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

    for folder in ("good_cruise", "bad_inputs"):
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


# ---------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "text, utc",
    [
        ("2021-06-01T12:30:00+02:00", "2021-06-01T10:30:00"),
        ("2021-06-01T01:00:00-03:30", "2021-06-01T04:30:00"),
        ("2021-06-01T10:30:00Z", "2021-06-01T10:30:00"),
        ("2021-06-01T10:30:00", "2021-06-01T10:30:00"),
        ("2021-06-01 10:30", "2021-06-01T10:30:00"),
        ("2021-06-01", "2021-06-01T00:00:00"),
    ],
)
def test_datetimes_become_utc(text: str, utc: str) -> None:
    stamp = parse_datetime_utc(text)
    assert str(stamp.tz) == "UTC"
    assert stamp == pd.Timestamp(utc, tz="UTC")


@pytest.mark.parametrize("text", ["2021-13-01", "01/06/2021", "June 1 2021", "2021-06-01T25:00", ""])
def test_unparsable_datetimes_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime_utc(text)


def test_offsets_naive_and_date_only_in_one_table(tmp_path: Path) -> None:
    def edit(table: pd.DataFrame) -> None:
        table["datetime"] = ["2021-06-01T12:30:00+02:00", "2021-06-15T09:10:00", "2021-07-02"]

    cruise = load_cruise(write_samples_variant(tmp_path, edit), GOOD / "units.tsv")
    assert list(cruise.samples["datetime"]) == [
        pd.Timestamp("2021-06-01T10:30:00", tz="UTC"),
        pd.Timestamp("2021-06-15T09:10:00", tz="UTC"),
        pd.Timestamp("2021-07-02T00:00:00", tz="UTC"),
    ]


# ---------------------------------------------------------------------------- missing values, extra columns


def test_missing_values_in_measured_variables_are_allowed_and_counted(tmp_path: Path) -> None:
    def edit(table: pd.DataFrame) -> None:
        table.loc[1, "ph"] = ""
        table.loc[2, "salinity_psu"] = "NA"
        table.loc[3, "salinity_psu"] = ""
        table.loc[3, "oxygen_umol_kg"] = "nan"

    cruise = load_cruise(write_samples_variant(tmp_path, edit), GOOD / "units.tsv")
    assert math.isnan(cruise.samples.loc["S1", "ph"])
    summary = cruise.missing_summary()
    assert summary.loc["ph", "n_missing"] == 1 and summary.loc["ph", "samples_missing"] == "S1"
    assert summary.loc["salinity_psu", "n_missing"] == 2
    assert summary.loc["salinity_psu", "samples_missing"] == "S2,S3"
    assert summary.loc["salinity_psu", "fraction_missing"] == pytest.approx(2 / 3)
    assert summary.loc["oxygen_umol_kg", "samples_missing"] == "S3"
    assert summary.loc["temperature_c", "n_missing"] == 0
    assert list(summary.index) == cruise.env_columns()


def test_extra_numeric_column_is_an_environmental_variable(tmp_path: Path) -> None:
    def edit(table: pd.DataFrame) -> None:
        table["ammonium_umol_kg"] = ["0.12", "NA", "3e-2"]

    cruise = load_cruise(write_samples_variant(tmp_path, edit), GOOD / "units.tsv")
    assert cruise.env_columns()[-1] == "ammonium_umol_kg"
    assert cruise.samples.loc["S3", "ammonium_umol_kg"] == pytest.approx(0.03)
    assert cruise.missing_summary().loc["ammonium_umol_kg", "n_missing"] == 1


def test_extra_column_name_must_be_a_variable_name(tmp_path: Path) -> None:
    def edit(table: pd.DataFrame) -> None:
        table["NO2 (umol/L)"] = ["0.1", "0.2", "0.3"]

    with pytest.raises(PlanktonlmInputError, match=r"column 'NO2 \(umol/L\)': column name not allowed"):
        load_cruise(write_samples_variant(tmp_path, edit), GOOD / "units.tsv")


# ---------------------------------------------------------------------------- ranges and pressure


@pytest.mark.parametrize("column, allowed", sorted(PHYSICAL_RANGES.items()))
def test_each_range_rejects_just_outside_and_accepts_its_bounds(tmp_path: Path, column: str, allowed) -> None:
    """Bounds of each column of the range table, through load_cruise (pressure kept consistent)."""
    inside = [v for v in (allowed.low, allowed.high) if v is not None]
    outside = [allowed.low - 0.5] + ([allowed.high + 0.5] if allowed.high is not None else [])

    def table_with(value: float):
        def edit(table: pd.DataFrame) -> None:
            table[column] = [str(value)] * len(table)
            if column == "depth_m":
                table["pressure_dbar"] = [str(max(1.02 * value, 0))] * len(table)
            if column == "pressure_dbar":
                table["depth_m"] = [str(min(max(value / 1.02, 0), 11000))] * len(table)

        return edit

    for value in inside:
        load_cruise(write_samples_variant(tmp_path, table_with(value)), GOOD / "units.tsv")
    for value in outside:
        with pytest.raises(PlanktonlmInputError) as excinfo:
            load_cruise(write_samples_variant(tmp_path, table_with(value)), GOOD / "units.tsv")
        range_problems = [p for p in excinfo.value.problems if p.column == column and "range" in p.message]
        assert [p.row for p in range_problems] == [1, 2, 3]


@pytest.mark.parametrize("tolerance, accepted", [(0.15, False), (0.30, True)])
def test_pressure_tolerance_is_the_configured_one(tmp_path: Path, tolerance: float, accepted: bool) -> None:
    # S3: 200 m -> 204 dbar expected; 240 dbar is 36 dbar off: > 0.15 * 204 + 5, < 0.30 * 204 + 5.
    def edit(table: pd.DataFrame) -> None:
        table.loc[3, "pressure_dbar"] = "240"

    samples_tsv = write_samples_variant(tmp_path, edit)
    if accepted:
        load_cruise(samples_tsv, GOOD / "units.tsv", pressure_tolerance=tolerance)
    else:
        with pytest.raises(PlanktonlmInputError, match=r"row 3, column 'pressure_dbar'.*about 204 dbar"):
            load_cruise(samples_tsv, GOOD / "units.tsv", pressure_tolerance=tolerance)


@pytest.mark.parametrize("pressure, accepted", [("4.9", True), ("5.5", False)])
def test_pressure_at_the_surface_gets_the_absolute_slack(tmp_path: Path, pressure: str, accepted: bool) -> None:
    def edit(table: pd.DataFrame) -> None:
        table.loc[1, ["depth_m", "pressure_dbar"]] = ["0", pressure]

    samples_tsv = write_samples_variant(tmp_path, edit)
    if accepted:
        load_cruise(samples_tsv, GOOD / "units.tsv")
    else:
        with pytest.raises(PlanktonlmInputError, match="inconsistent with depth_m = 0 m"):
            load_cruise(samples_tsv, GOOD / "units.tsv")


# ---------------------------------------------------------------------------- tables and files


def test_read_samples_table_keeps_every_cell_as_written(tmp_path: Path) -> None:
    path = tmp_path / "samples.tsv"
    path.write_text("sample\tph\tnote_x\nS1\t08.10\tNA\n\nS2\t\t 7 \n")
    table = read_samples_table(path)
    assert list(table.index) == [1, 3]  # blank line skipped but counted
    assert table.loc[1].tolist() == ["S1", "08.10", "NA"]
    assert table.loc[3].tolist() == ["S2", "", " 7 "]


def test_crlf_line_ends_and_byte_order_mark_are_accepted(tmp_path: Path) -> None:
    text = (REPO / GOOD / "samples.tsv").read_text()
    path = tmp_path / "samples.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert load_cruise(path, GOOD / "units.tsv").sample_ids() == ["S1", "S2", "S3"]


def test_rows_count_blank_lines_so_the_user_finds_the_line(tmp_path: Path) -> None:
    lines = (REPO / GOOD / "samples.tsv").read_text().splitlines()
    columns = lines[0].split("\t")
    cells = lines[2].split("\t")
    cells[columns.index("ph")] = "15"
    path = tmp_path / "samples.tsv"
    path.write_text("\n".join([lines[0], lines[1], "", "\t".join(cells), lines[3]]) + "\n")
    with pytest.raises(PlanktonlmInputError, match=r"samples.tsv, row 3, column 'ph'"):
        load_cruise(path, GOOD / "units.tsv")


def test_header_only_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "units.tsv"
    path.write_text("sample\tunit\tfq1\tfq2\n")
    with pytest.raises(PlanktonlmInputError, match="no data rows below the header"):
        load_cruise(GOOD / "samples.tsv", path)


def test_same_fastq_in_two_units_is_refused(tmp_path: Path) -> None:
    units = pd.read_csv(GOOD / "units.tsv", sep="\t", dtype=str)
    units.loc[1, "fq1"] = units.loc[0, "fq1"]
    path = tmp_path / "units.tsv"
    units.to_csv(path, sep="\t", index=False)
    with pytest.raises(PlanktonlmInputError, match=r"row 2, column 'fq1': FASTQ listed twice: already listed at row 1, fq1"):
        load_cruise(GOOD / "samples.tsv", path)


def test_fastq_path_with_shell_characters_is_refused(tmp_path: Path) -> None:
    units = pd.read_csv(GOOD / "units.tsv", sep="\t", dtype=str)
    units.loc[0, "fq1"] = "reads/a b;rm.fastq"
    path = tmp_path / "units.tsv"
    units.to_csv(path, sep="\t", index=False)
    with pytest.raises(PlanktonlmInputError, match=r"row 1, column 'fq1': contains characters that are not allowed"):
        load_cruise(GOOD / "samples.tsv", path)


def copy_good_cruise(tmp_path: Path, *, single_end: bool = False) -> tuple[Path, Path]:
    """The good cruise with its reads under tmp_path (absolute paths in units.tsv)."""
    shutil.copytree(REPO / GOOD / "reads", tmp_path / "reads")
    units = pd.read_csv(GOOD / "units.tsv", sep="\t", dtype=str)
    units["fq1"] = [str(tmp_path / "reads" / Path(p).name) for p in units["fq1"]]
    units["fq2"] = "" if single_end else [str(tmp_path / "reads" / Path(p).name) for p in units["fq2"]]
    units.to_csv(tmp_path / "units.tsv", sep="\t", index=False)
    return GOOD / "samples.tsv", tmp_path / "units.tsv"


def test_single_end_cruise(tmp_path: Path) -> None:
    cruise = load_cruise(*copy_good_cruise(tmp_path, single_end=True))
    assert cruise.single_samples() == ["S1", "S2", "S3"] and cruise.paired_samples() == []
    assert not cruise.is_paired("S1")
    assert not cruise.unit("S2", "L1").paired
    assert (cruise.units["fq2"] == "").all()


def test_quick_scan_stops_early_full_scan_reads_to_the_end(tmp_path: Path) -> None:
    samples_tsv, units_tsv = copy_good_cruise(tmp_path)
    # Replace S2's pair with 5000 random (hardly compressible) pairs, then cut R1 far beyond the
    # first 1000 records and beyond the first blocks that dnaio reads.
    rng = random.Random(5)
    sequences = ["".join(rng.choice("ACGT") for _ in range(100)) for _ in range(5000)]
    r1 = "".join(f"@p{i}/1\n{s}\n+\n{'F' * 100}\n" for i, s in enumerate(sequences))
    r2 = r1.replace("/1\n", "/2\n")
    whole = gzip.compress(r1.encode(), mtime=0)
    (tmp_path / "reads" / "S2_L1_R1.fastq.gz").write_bytes(whole[: len(whole) * 4 // 5])
    (tmp_path / "reads" / "S2_L1_R2.fastq.gz").write_bytes(gzip.compress(r2.encode(), mtime=0))
    load_cruise(samples_tsv, units_tsv, fastq_scan="quick")
    with pytest.raises(PlanktonlmInputError, match=r"S2_L1_R1.fastq.gz: the compressed stream ends early.*row 3: sample S2, unit L1"):
        load_cruise(samples_tsv, units_tsv, fastq_scan="full")


def test_scan_cache_skips_unchanged_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples_tsv, units_tsv = copy_good_cruise(tmp_path)
    scanned: list[str] = []
    real_scan = samples_module.scan_fastq_pair

    def counting_scan(r1, r2, max_records=None):
        scanned.append(Path(r1).name)
        return real_scan(r1, r2, max_records)

    monkeypatch.setattr(samples_module, "scan_fastq_pair", counting_scan)
    cache = tmp_path / "cache" / "scans.json"
    load_cruise(samples_tsv, units_tsv, scan_cache=cache)
    assert len(scanned) == 4 and cache.is_file()
    load_cruise(samples_tsv, units_tsv, scan_cache=cache)
    assert len(scanned) == 4
    changed = tmp_path / "reads" / "S2_L1_R2.fastq.gz"
    os.utime(changed, ns=(0, changed.stat().st_mtime_ns + 10**9))
    load_cruise(samples_tsv, units_tsv, scan_cache=cache)
    assert scanned[4:] == ["S2_L1_R1.fastq.gz"]
    load_cruise(samples_tsv, units_tsv, fastq_scan="quick", scan_cache=cache)  # another mode, another key
    assert len(scanned) == 9


def test_unknown_scan_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="fastq_scan"):
        load_cruise(GOOD / "samples.tsv", GOOD / "units.tsv", fastq_scan="none")


# ---------------------------------------------------------------------------- schemas and documentation


@pytest.mark.parametrize("name", ["samples", "units"])
def test_every_column_has_a_description_and_a_default(name: str) -> None:
    schema = load_schema(name)
    for column, rule in schema["properties"].items():
        assert rule.get("description"), column
        assert "default" in rule, column
    assert set(schema["required"]) <= set(schema["properties"])


def test_range_table_columns_are_schema_columns() -> None:
    assert set(PHYSICAL_RANGES) <= set(load_schema("samples")["properties"])


def _config_keys(schema: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, rule in schema.get("properties", {}).items():
        keys.append(prefix + key)
        keys += _config_keys(rule, prefix + key + ".")
    return keys


def test_config_readme_documents_every_column_and_config_key() -> None:
    readme = (REPO / "config" / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))
    for name in ("samples", "units"):
        missing = set(load_schema(name)["properties"]) - documented
        assert not missing, f"{name}.tsv columns missing from config/README.md: {sorted(missing)}"
    config_schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    missing = set(_config_keys(config_schema)) - documented
    assert not missing, f"config keys missing from config/README.md: {sorted(missing)}"
