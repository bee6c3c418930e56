"""Published tables as input (planktonlm.inputs.published): reading, checking, the config section;
and, below, the cube they make (planktonlm.cube.published) and the shift stage on it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from planktonlm.config import build_config, config_hash, is_published, validate_section
from planktonlm.cube.published import make_published_cube
from planktonlm.cube.store import read_cube
from planktonlm.cube.tables import environment_table, profile_table, sample_metadata
from planktonlm.errors import PlanktonlmInputError
from planktonlm.inputs.published import (
    PublishedConfig,
    published_samples,
    read_published_profile,
    read_published_tables,
    read_table,
)
from planktonlm.io import sha256_file
from planktonlm.stages.shifts import run_shift_stage
from planktonlm.stats.shift_tables import ShiftsConfig

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "config" / "examples" / "guidi2016.yaml"

# Six stations; four sampled at two layers (SUR, DCM): 10 samples.
SAMPLES = ["S1DCM", "S1SUR", "S2SUR", "S3DCM", "S3SUR", "S4DCM", "S4SUR", "S5SUR", "S6DCM", "S6SUR"]


def write_text(path: Path, text: str, gz: bool = False) -> Path:
    if gz:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path


def tsv(header: list[str], rows: list[list[object]]) -> str:
    return "\n".join(["\t".join(header)] + ["\t".join("" if v is None else str(v) for v in row) for row in rows]) + "\n"


def synthetic_tables(tmp_path: Path, seed: int = 0) -> dict:
    """An environment table and two profiles (one gzipped, one covering 6 of 10 samples)."""
    rng = np.random.default_rng(seed)
    temperature = np.round(rng.uniform(5, 28, len(SAMPLES)), 3)
    flux = np.round(0.3 * temperature + rng.normal(0, 0.5, len(SAMPLES)), 4)
    env_rows = []
    for i, sample in enumerate(SAMPLES):
        env_rows.append([sample, round(30 + i, 4), round(-20 + 2 * i, 4), temperature[i],
                         None if i == 2 else round(float(rng.uniform(34, 37)), 3), flux[i], "ignored text"])
    env = write_text(tmp_path / "env.tsv", tsv(["Sample", "Lat", "Lon", "Temp deg C", "Sal", "Flux", "Notes"], env_rows))
    optima = rng.uniform(5, 28, 12)
    weights = np.exp(-((temperature[:, None] - optima) ** 2) / 20) + 0.01
    relative = weights / weights.sum(axis=1, keepdims=True)
    taxa = [f"Bacteria;Taxon_{j}" for j in range(12)]
    numbers = lambda row: [repr(float(v)) for v in row]  # noqa: E731  (full precision, plain floats)
    prok = write_text(tmp_path / "prok.tsv.gz", tsv(["Sample", *taxa], [[s, *numbers(r)] for s, r in zip(SAMPLES, relative)]),
                      gz=True)
    subset = [0, 1, 3, 4, 8, 9]
    euk = write_text(tmp_path / "euk.tsv", tsv(["Sample", "Euk_a", "Euk_b", "Euk_c"],
                                               [[SAMPLES[i], *numbers(relative[i, :3] / relative[i, :3].sum())] for i in subset]))
    section = {
        "environment": str(env), "sample_column": "Sample", "station_pattern": "^(S[0-9]+)", "cruise": "TEST",
        "layer_pattern": "(SUR|DCM)$",
        "columns": {"Lat": "latitude", "Lon": "longitude", "Temp deg C": "temperature_c", "Sal": "salinity_psu",
                    "Flux": "carbon_flux_150m"},
        "units": {"carbon_flux_150m": "mg m-2 d-1"},
        "profiles": {"prokaryotes": str(prok), "eukaryotes": str(euk)},
    }
    return dict(section=section, relative=relative, subset=subset, temperature=temperature, flux=flux)


# ----------------------------------------------------------------------------------------------
# reading and checking


def test_duplicate_samples_and_ragged_rows(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.tsv", tsv(["Sample", "a", "b"], [["S1SUR", 1, 2], ["S2SUR", 1], ["S1SUR", 3, 4],
                                                                      ["bad id!", 5, 6]]))
    table, problems = read_table(path, "Sample")
    by_message = {p.message.split(" (")[0]: p for p in problems}
    assert by_message["row has 2 tab-separated fields, the header has 3"].row == 2
    duplicate = by_message["sample listed more than once"]
    assert (duplicate.row, duplicate.value, duplicate.column) == (1, "S1SUR", "Sample") and "rows 1, 3" in duplicate.message
    assert any(p.value == "bad id!" and p.row == 4 for p in problems)
    _, problems = read_table(path, "sample")
    assert [(p.row, p.column) for p in problems] == [(0, "sample")]


def test_profile_values_are_checked_cell_by_cell(tmp_path: Path) -> None:
    path = write_text(tmp_path / "p.tsv.gz", tsv(["Sample", "t1", "t2"], [["A", 0.5, 0.5], ["B", "x", 0.5], ["C", -0.1, ""],
                                                                          ["D", "inf", 1]]), gz=True)
    with pytest.raises(PlanktonlmInputError) as caught:
        read_published_profile(path)
    found = {(p.row, p.column, p.value) for p in caught.value.problems}
    assert found == {(2, "t1", "x"), (3, "t1", "-0.1"), (3, "t2", ""), (4, "t1", "inf")}
    assert all(p.file == str(path) for p in caught.value.problems)
    good = write_text(tmp_path / "good.tsv", tsv(["Sample", "t1", "t2"], [["A", "1e-3", 2], ["B", 0, 0.25]]))
    table = read_published_profile(good)
    assert table.index.tolist() == ["A", "B"] and table.to_numpy().tolist() == [[1e-3, 2.0], [0.0, 0.25]]


def environment_sheet(section: dict):
    """published_samples of the section's environment table: (sheet, layer_of, problems)."""
    cfg = PublishedConfig.from_section(section)
    table, problems = read_table(cfg.environment, cfg.sample_column)
    assert problems == []
    return published_samples(table, cfg)


def test_environment_table_becomes_a_sample_sheet(tmp_path: Path) -> None:
    tables = synthetic_tables(tmp_path)
    sheet, layer_of, problems = environment_sheet(tables["section"])
    assert problems == []
    assert list(sheet.columns) == ["cruise", "station", "datetime", "latitude", "longitude", "depth_m", "temperature_c",
                                   "salinity_psu", "carbon_flux_150m", "layer_sur_index"]
    assert sheet.index.tolist() == SAMPLES and sheet["station"].tolist() == [s[:2] for s in SAMPLES]
    np.testing.assert_allclose(sheet["temperature_c"].to_numpy(), tables["temperature"])
    assert sheet["datetime"].isna().all() and sheet["depth_m"].isna().all()
    assert layer_of.tolist() == [s[-3:] for s in SAMPLES]
    assert sheet["layer_sur_index"].tolist() == [float(s.endswith("SUR")) for s in SAMPLES]  # DCM is the reference


def test_unknown_and_bad_columns_name_file_row_and_column(tmp_path: Path) -> None:
    section = synthetic_tables(tmp_path)["section"]
    env = Path(section["environment"])
    text = env.read_text().splitlines()
    cells = text[3].split("\t")
    cells[3] = "warm"  # temperature of data row 3 (S2SUR)
    text[3] = "\t".join(cells)
    env.write_text("\n".join(text) + "\n")
    section["columns"] = {**section["columns"], "Oxygen": "oxygen_umol_kg"}
    _, _, problems = environment_sheet(section)
    assert len(problems) == 2
    unknown = next(p for p in problems if p.column == "Oxygen")
    assert unknown.file == str(env) and unknown.row == 0 and "not in the table" in unknown.message
    word = next(p for p in problems if p.column == "Temp deg C")
    assert (word.file, word.row, word.value) == (str(env), 3, "warm") and "S2SUR" in word.message


def test_problems_of_every_table_come_together(tmp_path: Path) -> None:
    tables = synthetic_tables(tmp_path)
    section = tables["section"]
    assert set(read_published_tables(PublishedConfig.from_section(section)).profiles) == {"prokaryotes", "eukaryotes"}
    euk = Path(section["profiles"]["eukaryotes"])
    euk.write_text(euk.read_text() + "S99SUR\t0.2\t0.3\t0.5\n")  # not in the environment table
    section["station_pattern"] = "^(X[0-9]+)"
    with pytest.raises(PlanktonlmInputError) as caught:
        read_published_tables(PublishedConfig.from_section(section))
    text = str(caught.value)
    assert "no station found" in text and "S99SUR" in text
    assert sum("no station found" in p.message for p in caught.value.problems) == len(SAMPLES)


def test_out_of_range_values_are_refused_unless_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    section = synthetic_tables(tmp_path)["section"]
    env = Path(section["environment"])
    env.write_text(env.read_text().replace("\t30\t", "\t95\t", 1))  # latitude of row 1
    _, _, problems = environment_sheet(section)
    (problem,) = problems
    assert (problem.row, problem.column, problem.value) == (1, "Lat", 95.0)
    sheet, _, problems = environment_sheet({**section, "range_check": "warn"})
    assert problems == [] and sheet["latitude"].iloc[0] == 95.0 and "kept as published" in caplog.text


def test_published_config_is_checked() -> None:
    base = dict(environment="e.tsv", profiles={"prok": "p.tsv"}, columns={"T": "temperature_c"})
    cfg = PublishedConfig.from_section(base)
    assert (cfg.sample_column, cfg.cruise, cfg.range_check, cfg.units) == ("Sample", "published", "error", {})
    assert cfg.layer_pattern is None and cfg.station_pattern is None  # "" (the schema default) = not used
    assert is_published({"published": base}) and not is_published({"published": {"sample_column": "Sample"}})
    assert not is_published({})
    # What the schema cannot say: names the cube takes, duplicates, units of unmapped names, regexes.
    with pytest.raises(PlanktonlmInputError) as caught:
        PublishedConfig.from_section(base, columns={"T": "temperature_c", "S": "station", "A": "x_c", "B": "x_c",
                                                    "Sample": "y_m"}, station_pattern="([", units={"z_m": "m"})
    found = sorted((p.column, p.value) for p in caught.value.problems)
    assert found == [("published.columns", "Sample"), ("published.columns", "station"), ("published.columns", "x_c"),
                     ("published.station_pattern", "(["), ("published.units", "z_m")]
    with pytest.raises(PlanktonlmInputError) as caught:
        PublishedConfig.from_section({"environment": "e.tsv"})
    assert {p.column for p in caught.value.problems} == {"published.profiles", "published.columns"}
    # The schema's bounds: unknown keys, enums, name patterns.
    for bad in ({"colums": {}}, {"range_check": "maybe"}, {"profiles": {"Prok Table": "p.tsv"}}, {"cruise": ""},
                {"columns": {"T": "Temperature"}}):
        with pytest.raises(PlanktonlmInputError, match="published"):
            PublishedConfig.from_section({**base, **bad})


def test_guidi2016_example_matches_its_tables() -> None:
    """Smoke check of the shipped example: every mapped column is in SI4, every table readable."""
    config = yaml.safe_load(EXAMPLE.read_text())
    cfg = PublishedConfig.from_section(config["published"])
    validate_section("shifts", config["shifts"])
    env, problems = read_table(REPO / cfg.environment, cfg.sample_column)
    assert problems == []
    assert set(cfg.columns) <= set(env.cells.columns)
    assert len(env.cells) == 104 and env.cells.index.str.match(cfg.station_pattern).all()
    mapped = set(cfg.columns.values())
    assert {"temperature_c", "carbon_flux_150m", "latitude", "longitude"} <= mapped
    assert set(config["shifts"]["env_targets"]) | (set(config["shifts"]["env_drivers"]) - {"layer_sur_index"}) <= mapped
    for path in cfg.profiles.values():
        with gzip.open(REPO / path, "rt") as handle:
            assert handle.readline().split("\t")[0] == cfg.sample_column


# ----------------------------------------------------------------------------------------------
# the cube of published tables (planktonlm.cube.published) and the shift stage on it


def test_published_cube_round_trips(tmp_path: Path) -> None:
    tables = synthetic_tables(tmp_path)
    section = tables["section"]
    config = {"seed": 1, "published": section}
    make_published_cube(section, tmp_path / "cube.nc", config)
    ds = read_cube(tmp_path / "cube.nc")

    env = environment_table(ds)
    assert list(env.columns) == ["temperature_c", "salinity_psu", "carbon_flux_150m", "layer_sur_index"]
    np.testing.assert_allclose(env["temperature_c"].to_numpy(), tables["temperature"])
    np.testing.assert_allclose(env["carbon_flux_150m"].to_numpy(), tables["flux"])
    assert np.isnan(env.loc["S2SUR", "salinity_psu"]) and env["salinity_psu"].notna().sum() == 9
    assert env["layer_sur_index"].tolist() == [float(s.endswith("SUR")) for s in SAMPLES]
    assert ds["carbon_flux_150m"].attrs["units"] == "mg m-2 d-1"
    assert ds["carbon_flux_150m"].attrs["source_column"] == "Flux"
    assert ds["temperature_c"].attrs["units"] == "degree_Celsius"

    meta = sample_metadata(ds)
    assert meta.index.tolist() == SAMPLES
    assert meta["station"].tolist() == [s[:2] for s in SAMPLES]
    assert set(meta["cruise"]) == {"TEST"}
    assert meta["datetime"].isna().all() and meta["depth_m"].isna().all()
    np.testing.assert_allclose(meta["latitude"].to_numpy(), [30 + i for i in range(10)])
    assert ds["layer"].values.tolist() == [s[-3:] for s in SAMPLES]

    prok = profile_table(ds, "prokaryotes")
    np.testing.assert_allclose(prok.to_numpy(), tables["relative"], rtol=1e-15)
    euk = profile_table(ds, "eukaryotes")
    present = [SAMPLES[i] for i in tables["subset"]]
    assert euk.loc[present].notna().all().all()
    assert euk.drop(index=present).isna().all().all()
    assert ds["abundance_eukaryotes"].attrs["n_samples_absent"] == 4
    assert "n_samples_absent" not in ds["abundance_prokaryotes"].attrs

    assert ds.attrs["config_sha256"] == config_hash(config)
    inputs = json.loads(ds.attrs["input_sha256"])
    paths = [section["environment"], *section["profiles"].values()]
    assert inputs == {p: sha256_file(p) for p in paths}

    # Same inputs -> same bytes.
    make_published_cube(section, tmp_path / "again.nc", config)
    assert (tmp_path / "cube.nc").read_bytes() == (tmp_path / "again.nc").read_bytes()


def test_station_defaults_to_the_sample_and_layer_is_optional(tmp_path: Path) -> None:
    section = synthetic_tables(tmp_path)["section"]
    section = {k: v for k, v in section.items() if k not in ("station_pattern", "layer_pattern")}
    ds = make_published_cube(section, tmp_path / "cube.nc", {})
    assert sample_metadata(ds)["station"].tolist() == SAMPLES
    assert "layer" not in ds.coords and "layer_sur_index" not in ds.data_vars


def test_bad_input_writes_no_cube(tmp_path: Path) -> None:
    section = synthetic_tables(tmp_path)["section"]
    section["station_pattern"] = "^(X[0-9]+)"
    with pytest.raises(PlanktonlmInputError, match="no station found"):
        make_published_cube(section, tmp_path / "cube.nc", {})
    assert not (tmp_path / "cube.nc").exists()


def test_shift_stage_runs_each_profile_on_its_samples(tmp_path: Path) -> None:
    section = synthetic_tables(tmp_path)["section"]
    make_published_cube(section, tmp_path / "cube.nc", {})
    cfg = build_config(ShiftsConfig, "shifts", transformations=["hellinger"], predict_transformations=["hellinger"], n_permutations=19,
                       models=["ridge", "pls"], cv_schemes=["loo", "logo"], env_targets=["carbon_flux_150m"],
                       env_drivers=["temperature_c", "salinity_psu", "layer_sur_index"], profile_samples="per_profile",
                       n_pcoa_axes=1, importance_repeats=1, cv_n_permutations=0, save_models=False)
    results = run_shift_stage(tmp_path / "cube.nc", tmp_path / "shifts", cfg, seed=3)
    assert (tmp_path / "shifts" / "cv_metrics.tsv").exists()

    cv = results["cv_metrics"].query("direction == 'community_to_env'")
    assert set(cv["target"]) == {"carbon_flux_150m"}
    assert set(zip(cv["profile"], cv["n_samples"])) == {("prokaryotes", 10), ("eukaryotes", 6)}
    assert set(cv["cv"]) == {"loo", "logo"}
    assert cv.set_index(["profile", "model", "cv"])["n_splits"].to_dict() == {
        (p, m, c): n for p, (n_loo, n_logo) in {"prokaryotes": (10, 6), "eukaryotes": (6, 3)}.items()
        for m in ("ridge", "pls") for c, n in (("loo", n_loo), ("logo", n_logo))}
    assert cv.set_index("cv")["group_by"].to_dict() == {"loo": "sample", "logo": "station"}

    predictions = results["predictions"].query("direction == 'community_to_env'")
    station = predictions["sample"].str.extract(r"^(S[0-9]+)")[0]
    loo = predictions[predictions["cv"] == "loo"]
    assert (loo.groupby(["profile", "model"])["fold"].agg(lambda f: f.is_unique)).all()
    logo = predictions[predictions["cv"] == "logo"]
    assert (logo.groupby(["profile", "model", station[logo.index]])["fold"].nunique() == 1).all()
    assert set(predictions.query("profile == 'eukaryotes'")["sample"]) == {SAMPLES[i] for i in (0, 1, 3, 4, 8, 9)}

    marginal = results["dbrda_marginal"]
    assert set(marginal["variable"]) == {"temperature_c", "salinity_psu", "layer_sur_index"}
    assert marginal.set_index("profile")["n_samples"].to_dict() == {"prokaryotes": 9, "eukaryotes": 6}
    excluded = results["excluded"]
    assert excluded["reason"].str.contains("absent from profile eukaryotes").any()
    assert excluded["reason"].str.contains("no date").any()
