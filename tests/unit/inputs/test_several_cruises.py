"""Several cruises in one config (lists of sheets) and the sample filter (``select``) on sample sheets."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from planktonlm.config import config_hash, cube_config, validate_config
from planktonlm.errors import PlanktonlmInputError
from planktonlm.inputs.cruise import load_cruise, load_workflow_cruise
from planktonlm.inputs.select import SampleFilter

GOOD = Path("tests/data/good_cruise")


def two_cruises(tmp_path: Path, *, second_cruise: str = "PLK2022", second_ids: tuple[str, ...] = ("S3",)) -> dict:
    """The good cruise split in two: sheet A = S1, S2 (PLK2021), sheet B = S3 (another cruise, a year
    later); units split the same way. Returns the paths."""
    samples = pd.read_csv(GOOD / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    units = pd.read_csv(GOOD / "units.tsv", sep="\t", dtype=str, keep_default_na=False)
    first, second = samples[samples["sample"] != "S3"], samples[samples["sample"] == "S3"].copy()
    second["cruise"] = second_cruise
    second["datetime"] = "2022-07-02T07:45:00Z"
    second["sample"] = list(second_ids)
    units_b = units[units["sample"] == "S3"].copy()
    units_b["sample"] = second_ids[0]
    paths = {"samples_a": tmp_path / "a_samples.tsv", "samples_b": tmp_path / "b_samples.tsv",
             "units_a": tmp_path / "a_units.tsv", "units_b": tmp_path / "b_units.tsv"}
    first.to_csv(paths["samples_a"], sep="\t", index=False)
    second.to_csv(paths["samples_b"], sep="\t", index=False)
    units[units["sample"] != "S3"].to_csv(paths["units_a"], sep="\t", index=False)
    units_b.to_csv(paths["units_b"], sep="\t", index=False)
    return paths


def test_two_sheets_concatenate_in_the_given_order(tmp_path: Path) -> None:
    p = two_cruises(tmp_path)
    cruise = load_cruise([p["samples_b"], p["samples_a"]], [p["units_a"], p["units_b"]])
    assert cruise.sample_ids() == ["S3", "S1", "S2"]
    assert cruise.samples["cruise"].tolist() == ["PLK2022", "PLK2021", "PLK2021"]
    assert list(cruise.units["sample"]) == ["S1", "S1", "S2", "S3"] and cruise.units.index.tolist() == [0, 1, 2, 3]
    assert str(cruise.samples["datetime"].dt.tz) == "UTC" and cruise.samples["depth_m"].dtype == float
    # each unit's row in its own sheet: what a check_fastq job names when the unit's reads are bad
    assert cruise.unit_sheet("S2", "L1") == str(p["units_a"]) and cruise.unit_sheet("S3", "L1") == str(p["units_b"])
    # one path and a list of one path are the same thing
    single = load_cruise(GOOD / "samples.tsv", GOOD / "units.tsv")
    listed = load_cruise([GOOD / "samples.tsv"], [str(GOOD / "units.tsv")])
    pd.testing.assert_frame_equal(single.samples, listed.samples)
    pd.testing.assert_frame_equal(single.units, listed.units)


def test_a_unit_may_name_a_sample_of_another_sheet(tmp_path: Path) -> None:
    p = two_cruises(tmp_path)
    both_units = pd.concat([pd.read_csv(p["units_a"], sep="\t", dtype=str), pd.read_csv(p["units_b"], sep="\t", dtype=str)])
    both_units.to_csv(tmp_path / "all_units.tsv", sep="\t", index=False)
    assert load_cruise([p["samples_a"], p["samples_b"]], tmp_path / "all_units.tsv").sample_ids() == ["S1", "S2", "S3"]
    with pytest.raises(PlanktonlmInputError) as caught:  # S3's units left out: S3 has no reads
        load_cruise([p["samples_a"], p["samples_b"]], p["units_a"])
    (problem,) = caught.value.problems
    assert (problem.file, problem.row, problem.value) == (str(p["samples_b"]), 1, "S3")
    assert "no row of units.tsv lists it" in problem.message and problem.expected == f"at least one unit in {p['units_a']}"


def test_unknown_sample_in_units_names_every_sample_sheet(tmp_path: Path) -> None:
    p = two_cruises(tmp_path)
    units_b = Path(p["units_b"])
    units_b.write_text(units_b.read_text().replace("S3\t", "S9\t"))
    with pytest.raises(PlanktonlmInputError) as caught:
        load_cruise([p["samples_a"], p["samples_b"]], [p["units_a"], units_b])
    unknown = next(x for x in caught.value.problems if x.value == "S9")
    assert unknown.file == str(units_b) and unknown.row == 1 and unknown.message == "sample not listed in samples.tsv"
    assert unknown.expected == f"one of the sample ids of {p['samples_a']}, {p['samples_b']}"


def test_a_sample_id_in_two_sheets_names_both_files_and_rows(tmp_path: Path) -> None:
    p = two_cruises(tmp_path, second_ids=("S2",))
    with pytest.raises(PlanktonlmInputError) as caught:
        load_cruise([p["samples_a"], p["samples_b"]], [p["units_a"], p["units_b"]])
    duplicates = [x for x in caught.value.problems if "unique across cruises" in x.message]
    assert len(duplicates) == 1
    (problem,) = duplicates
    assert (problem.file, problem.row, problem.column, problem.value) == (str(p["samples_b"]), 1, "sample", "S2")
    assert f"also in {p['samples_a']} (row 2)" in problem.message
    assert "sample ids must be unique across cruises" in str(caught.value)


def test_a_fastq_in_two_unit_sheets_is_refused(tmp_path: Path) -> None:
    p = two_cruises(tmp_path)
    units_b = Path(p["units_b"])
    units_b.write_text(units_b.read_text().replace("S3_L1_R1", "S1_L1_R1"))
    with pytest.raises(PlanktonlmInputError) as caught:
        load_cruise([p["samples_a"], p["samples_b"]], [p["units_a"], units_b])
    (problem,) = caught.value.problems
    assert problem.file == str(units_b) and problem.column == "fq1"
    assert problem.message == f"FASTQ listed twice: already listed in {p['units_a']} at row 1, fq1"


# ----------------------------------------------------------------------------------------------
# the sample filter on sample sheets


def test_the_default_filter_keeps_everything() -> None:
    assert not SampleFilter.from_section().active and SampleFilter.from_config({}).criteria() == {}
    flt = SampleFilter.from_section({"cruises": ["A"], "depth_m": [None, 50]})
    assert flt.active and flt.criteria() == {"cruises": ["A"], "depth_m": [None, 50]}
    with pytest.raises(PlanktonlmInputError, match="select.depth_m"):
        SampleFilter.from_section({"depth_m": [100, 5]})


def test_filter_by_cruise_skips_the_reads_of_samples_left_out(tmp_path: Path) -> None:
    p = two_cruises(tmp_path)
    units_b = Path(p["units_b"])
    units_b.write_text(units_b.read_text().replace("tests/data/good_cruise/reads/S3", str(tmp_path / "gone" / "S3")))
    sheets = ([p["samples_a"], p["samples_b"]], [p["units_a"], units_b])
    with pytest.raises(PlanktonlmInputError, match="file not found"):
        load_cruise(*sheets)
    cruise = load_cruise(*sheets, sample_filter=SampleFilter.from_section({"cruises": ["PLK2021"]}))
    assert cruise.sample_ids() == ["S1", "S2"] and set(cruise.units["sample"]) == {"S1", "S2"}
    assert cruise.units.index.tolist() == [0, 1, 2]
    assert set(cruise.unit_sheets) == {("S1", "L1"), ("S1", "L2"), ("S2", "L1")}


@pytest.mark.parametrize(("select", "kept"), [
    ({"depth_m": [10, None]}, ["S2", "S3"]),
    ({"depth_m": [None, 50]}, ["S1", "S2"]),
    ({"depth_m": [50, 50]}, ["S2"]),
    ({"years": [2022, None]}, ["S3"]),
    ({"years": [None, 2021]}, ["S1", "S2"]),
    ({"months": [6]}, ["S1", "S2"]),
    ({"stations": ["ST01", "ST03"], "years": [2021, 2022]}, ["S1", "S3"]),
    ({"cruises": ["PLK2021", "PLK2022"], "depth_m": [0, 100], "months": [6, 7]}, ["S1", "S2"]),
])
def test_filter_keeps_samples_passing_every_criterion(tmp_path: Path, select: dict, kept: list[str]) -> None:
    p = two_cruises(tmp_path)
    cruise = load_cruise([p["samples_a"], p["samples_b"]], [p["units_a"], p["units_b"]], fastq_scan="quick",
                         sample_filter=SampleFilter.from_section(select))
    assert cruise.sample_ids() == kept


def test_a_filter_keeping_nothing_is_an_error_naming_its_keys(tmp_path: Path) -> None:
    p = two_cruises(tmp_path)
    flt = SampleFilter.from_section({"cruises": ["PLK2021"], "depth_m": [100, None]})
    with pytest.raises(PlanktonlmInputError) as caught:
        load_cruise([p["samples_a"], p["samples_b"]], [p["units_a"], p["units_b"]], sample_filter=flt)
    (problem,) = caught.value.problems
    assert problem.column == "select" and "select.cruises, select.depth_m" in problem.message
    assert "keeps none of the 3 samples" in problem.message
    assert "cruises PLK2021, PLK2022" in problem.expected and "depth_m 5..200" in problem.expected


def test_unknown_cruise_or_station_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    flt = SampleFilter.from_section({"cruises": ["PLK2021", "PLK2030"], "stations": ["ST01", "ST99"]})
    with caplog.at_level(logging.WARNING, logger="planktonlm.inputs.select"):
        cruise = load_cruise(GOOD / "samples.tsv", GOOD / "units.tsv", fastq_scan="quick", sample_filter=flt)
    assert cruise.sample_ids() == ["S1"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("PLK2030" in w for w in warnings) and any("ST99" in w for w in warnings)


def test_layers_cannot_select_sample_sheets() -> None:
    with pytest.raises(PlanktonlmInputError) as caught:
        load_cruise(GOOD / "samples.tsv", GOOD / "units.tsv", fastq_scan="quick",
                    sample_filter=SampleFilter.from_section({"layers": ["SUR"]}))
    (problem,) = caught.value.problems
    assert problem.column == "select.layers" and "no sampling layer" in problem.message


def test_workflow_cruise_reads_lists_and_select(tmp_path: Path) -> None:
    p = two_cruises(tmp_path)
    config = validate_config({"samples": [str(p["samples_a"]), str(p["samples_b"])],
                              "units": [str(p["units_a"]), str(p["units_b"])],
                              "validate": {"fastq_scan": "quick"}, "select": {"years": [2022, 2022]}})
    assert load_workflow_cruise(config).sample_ids() == ["S3"]
    assert load_workflow_cruise({**config, "select": {}}).sample_ids() == ["S1", "S2", "S3"]


# ----------------------------------------------------------------------------------------------
# the config keys


def test_select_and_atlas_are_part_of_the_cube_config() -> None:
    base = validate_config({"samples": "s", "units": "u"})
    assert base["select"]["depth_m"] == [None, None] and base["atlas"] == ""
    chosen = validate_config({"samples": "s", "units": "u", "select": {"cruises": ["A"]}})
    assert cube_config(chosen)["select"]["cruises"] == ["A"]
    assert config_hash(cube_config(chosen)) != config_hash(cube_config(base))
    assert config_hash(cube_config(validate_config({"samples": "s", "units": "u", "atlas": "atlas/v1"}))) \
        != config_hash(cube_config(base))


def test_config_refuses_an_atlas_with_published_tables_and_reversed_bounds() -> None:
    with pytest.raises(PlanktonlmInputError) as caught:
        validate_config({"atlas": "atlas/v1", "published": {"environment": "env.tsv"}})
    (problem,) = caught.value.problems
    assert problem.column == "atlas" and "published.environment" in problem.message
    with pytest.raises(PlanktonlmInputError) as caught:
        validate_config({"atlas": "atlas/v1", "model": {"checkpoint": "old/model"}})
    (problem,) = caught.value.problems
    assert problem.column == "model.checkpoint" and "own encoder" in problem.message
    with pytest.raises(PlanktonlmInputError) as caught:
        validate_config({"select": {"years": [2022, 2020], "depth_m": [0, None]}})
    assert [p.column for p in caught.value.problems] == ["select.years"]
    with pytest.raises(PlanktonlmInputError, match="select.months"):
        validate_config({"select": {"months": [13]}})
    assert validate_config({"samples": ["a.tsv", "b.tsv"], "oracle_truth": ["t1", "t2"]})["samples"] == ["a.tsv", "b.tsv"]


def test_config_refuses_layers_without_a_layer_pattern() -> None:
    with pytest.raises(PlanktonlmInputError) as caught:
        validate_config({"select": {"layers": ["SUR"]}})
    assert [p.column for p in caught.value.problems] == ["select.layers"]
    published = {"environment": "env.tsv", "layer_pattern": "(SUR|DCM)$"}
    assert validate_config({"select": {"layers": ["SUR"]}, "published": published})["select"]["layers"] == ["SUR"]


def test_a_unit_in_two_unit_sheets_is_refused(tmp_path: Path) -> None:
    p = two_cruises(tmp_path)
    units_b = Path(p["units_b"])
    units_b.write_text(units_b.read_text().replace("S3\tL1", "S1\tL2"))
    with pytest.raises(PlanktonlmInputError) as caught:
        load_cruise([p["samples_a"], p["samples_b"]], [p["units_a"], units_b], fastq_scan="quick")
    repeated = next(x for x in caught.value.problems if x.value == "S1/L2")
    assert repeated.file == str(units_b) and repeated.row == 1 and f"also in {p['units_a']} (row 2)" in repeated.message
