"""Sheets as spreadsheets save them (tests/data/good_variants/): CR LF or CR line ends, a UTF-8
byte-order mark, UTF-16 all load exactly as the good cruise; a legacy encoding is refused precisely."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.inputs.cruise import load_cruise
from planktonlm.inputs.sheets import read_units_table

REPO = Path(__file__).resolve().parents[3]
GOOD = Path("tests/data/good_cruise")
VARIANTS = Path("tests/data/good_variants")
VARIANT_NAMES = sorted(p.name for p in (REPO / VARIANTS).iterdir() if p.is_dir())


def test_every_spreadsheet_variant_is_in_the_corpus() -> None:
    assert {"crlf", "bom", "bom_crlf", "cr", "utf16"} <= set(VARIANT_NAMES)


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_variant_loads_as_the_good_cruise(variant: str) -> None:
    raw = (VARIANTS / variant / "units.tsv").read_bytes()
    assert raw != (GOOD / "units.tsv").read_bytes()  # really a variant
    good = load_cruise(GOOD / "samples.tsv", GOOD / "units.tsv")
    cruise = load_cruise(VARIANTS / variant / "samples.tsv", VARIANTS / variant / "units.tsv")
    pd.testing.assert_frame_equal(cruise.samples, good.samples)
    pd.testing.assert_frame_equal(cruise.units, good.units)
    assert not any("\r" in path or "\ufeff" in path for path in cruise.units["fq1"].tolist() + cruise.units["fq2"].tolist())
    assert cruise.unit_sheet("S2", "L1") == f"{VARIANTS}/{variant}/units.tsv"


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_variant_raw_sheet_has_the_same_cells(variant: str) -> None:
    pd.testing.assert_frame_equal(read_units_table(VARIANTS / variant / "units.tsv"), read_units_table(GOOD / "units.tsv"))


def test_crlf_row_keeps_its_row_number_in_messages(tmp_path: Path) -> None:
    text = (GOOD / "units.tsv").read_text().replace("S2_L1_R2", "S2_L9_R2").replace("\n", "\r\n")
    (tmp_path / "units.tsv").write_bytes(text.encode())
    with pytest.raises(PlanktonlmInputError) as excinfo:
        load_cruise(GOOD / "samples.tsv", tmp_path / "units.tsv", fastq_scan=None)
    message = str(excinfo.value)
    assert "units.tsv, row 3, column 'fq2': file not found" in message
    assert "(value: 'tests/data/good_cruise/reads/S2_L9_R2.fastq.gz')" in message
    assert "\\r" not in message


def test_legacy_encoding_is_refused_with_its_line(tmp_path: Path) -> None:
    lines = (GOOD / "samples.tsv").read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("ST02", "ST°2")
    (tmp_path / "samples.tsv").write_bytes("".join(lines).encode("cp1252"))
    with pytest.raises(PlanktonlmInputError) as excinfo:
        load_cruise(tmp_path / "samples.tsv", GOOD / "units.tsv", fastq_scan=None)
    assert "samples.tsv: not UTF-8 text: byte 0xB0 on line 3" in str(excinfo.value)
    assert "expected a readable UTF-8 text file" in str(excinfo.value)
