"""samples.tsv / units.tsv as tables (planktonlm.inputs.sheets): structure, header, cells vs the schemas."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from planktonlm.config import load_schema
from planktonlm.errors import PlanktonlmInputError
from planktonlm.inputs.cruise import load_cruise
from planktonlm.inputs.sheets import read_samples_table, read_units_table

REPO = Path(__file__).resolve().parents[3]
GOOD = Path("tests/data/good_cruise")


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



def good_sheet_with_bad_ph() -> tuple[str, str, str, str]:
    """The good cruise's header, row 1, row 2 with pH 15, row 3."""
    lines = (REPO / GOOD / "samples.tsv").read_text().splitlines()
    cells = lines[2].split("\t")
    cells[lines[0].split("\t").index("ph")] = "15"
    return lines[0], lines[1], "\t".join(cells), lines[3]


def test_rows_count_blank_lines_so_the_user_finds_the_line(tmp_path: Path) -> None:
    header, row1, bad_row2, row3 = good_sheet_with_bad_ph()
    path = tmp_path / "samples.tsv"
    path.write_text("\n".join([header, row1, "", bad_row2, row3]) + "\n")
    with pytest.raises(PlanktonlmInputError, match=r"samples.tsv, row 3, column 'ph'"):
        load_cruise(path, GOOD / "units.tsv")


def test_the_sheet_templates_in_config_read_with_their_comments() -> None:
    """config/samples.tsv and units.tsv (the schema's defaults) explain themselves in # lines."""
    samples = read_samples_table(REPO / "config" / "samples.tsv")
    units = read_units_table(REPO / "config" / "units.tsv")
    assert list(samples.index) == [1, 2, 3] and samples["sample"].str.startswith("BATS_").all()
    assert set(units["sample"]) == set(samples["sample"])
    assert (units["fq2"] == "").sum() == 1  # the single-end example
    # Valid as sheets: the only problems left are the FASTQ files a user has to supply.
    with pytest.raises(PlanktonlmInputError) as err:
        load_cruise(REPO / "config" / "samples.tsv", REPO / "config" / "units.tsv")
    assert {p.column for p in err.value.problems} <= {"fq1", "fq2"}
    assert len(err.value.problems) == 7


def test_rows_are_counted_from_the_header_after_a_comment_preamble(tmp_path: Path) -> None:
    header, row1, bad_row2, row3 = good_sheet_with_bad_ph()
    path = tmp_path / "samples.tsv"
    path.write_text("\n".join(["# my cruise", "# pH in total scale", header, row1, bad_row2, row3]) + "\n")
    with pytest.raises(PlanktonlmInputError, match=r"samples.tsv, row 2, column 'ph'"):
        load_cruise(path, GOOD / "units.tsv")


def test_header_only_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "units.tsv"
    path.write_text("sample\tunit\tfq1\tfq2\n")
    with pytest.raises(PlanktonlmInputError, match="no data rows below the header"):
        load_cruise(GOOD / "samples.tsv", path)



def test_extra_column_name_must_be_a_variable_name(tmp_path: Path, samples_variant) -> None:
    def edit(table: pd.DataFrame) -> None:
        table["NO2 (umol/L)"] = ["0.1", "0.2", "0.3"]

    with pytest.raises(PlanktonlmInputError, match=r"column 'NO2 \(umol/L\)': column name not allowed"):
        load_cruise(samples_variant(edit), GOOD / "units.tsv")



def test_fastq_path_with_shell_characters_is_refused(tmp_path: Path) -> None:
    units = pd.read_csv(GOOD / "units.tsv", sep="\t", dtype=str)
    units.loc[0, "fq1"] = "reads/a b;rm.fastq"
    path = tmp_path / "units.tsv"
    units.to_csv(path, sep="\t", index=False)
    with pytest.raises(PlanktonlmInputError, match=r"row 1, column 'fq1': contains characters that are not allowed"):
        load_cruise(GOOD / "samples.tsv", path)



@pytest.mark.parametrize("name", ["samples", "units"])
def test_every_column_has_a_description_and_a_default(name: str) -> None:
    schema = load_schema(name)
    for column, rule in schema["properties"].items():
        assert rule.get("description"), column
        assert "default" in rule, column
    assert set(schema["required"]) <= set(schema["properties"])



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
