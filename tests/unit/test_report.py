"""Tests for planktonlm.report: one self-contained, deterministic HTML page from synthetic stage outputs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from planktonlm.errors import PlanktonlmInputError
from planktonlm.report import (
    NO_SERIES,
    SECTION_IDS,
    ReportConfig,
    ReportInputs,
    load_report_inputs,
    render_report,
    split_unit,
    variable_label,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
ENV = ["temperature_c", "ph", "oxygen_umol_kg"]
# Small, coarse figures for the tests that check text, not pictures (rendering dominates test time).
COMPACT = ReportConfig(dpi=30, n_top_otus=2, n_top_features=3, max_ordinations=1, max_otu_profiles=1)
LOO_R2 = 0.987  # leave-one-sample-out score, optimistic: shown in the full tables only
TEMP_R2_MEAN, TEMP_R2_SD = 0.8234, 0.0471  # embedding, hellinger, ridge: the primary combination
SENS_TEMP_R2 = 0.9671  # embedding, clr, rf: a sensitivity analysis that scores higher, never the headline
KMER_TEMP_R2 = 0.7512  # k-mer baseline, primary combination
DBRDA_TEMP_R2 = 0.3812
SEASON_TEMP_R2 = 0.1234  # temperature given the seasonal harmonics and trend
SCHEME = "cyclic shifts within station x depth series (mirrored)"
FOLDS = "station (3 folds of 10-10 samples)"
SEN_SLOPE = 0.0321


# ----------------------------------------------------------------------------------------------
# synthetic inputs


def synthetic_inputs(seed: int = 0) -> ReportInputs:
    rng = np.random.default_rng(seed)
    stations = {"ST01": (43.68, 7.32), "ST02": (43.52, 7.85), "ST03": (43.30, 8.40)}
    dates = pd.date_range("2021-03-01", periods=5, freq="30D", tz="UTC")
    rows = []
    for d, date in enumerate(dates):
        for station, (lat, lon) in stations.items():
            for depth in (5.0, 50.0):
                temperature = 14.0 + 4 * np.sin(d / 2) - depth / 25 + rng.normal(0, 0.3)
                rows.append(dict(sample=f"{station}_{int(depth)}m_{d}", cruise="PLK2021", station=station,
                                 datetime=(date + pd.Timedelta(hours=int(rng.integers(6, 12)))).isoformat(),
                                 latitude=lat, longitude=lon, depth_m=depth, temperature_c=round(temperature, 2),
                                 ph=round(8.1 - depth / 1000 + rng.normal(0, 0.01), 3),
                                 oxygen_umol_kg=round(240 - 2 * temperature + rng.normal(0, 2), 1)))
    samples = pd.DataFrame(rows).set_index("sample")
    samples.loc[samples.index[3], "oxygen_umol_kg"] = np.nan  # missing values are allowed
    ids = list(samples.index)

    def counts(prefix: str, n: int) -> pd.DataFrame:
        base = rng.gamma(0.8, 30.0, size=n)
        shift = np.outer(samples["temperature_c"] - 14, rng.normal(0, 0.15, n))
        lam = base * np.exp(shift)
        return pd.DataFrame(rng.poisson(lam), index=pd.Index(ids, name="sample"),
                            columns=[f"{prefix}_{j + 1:04d}" for j in range(n)])

    profiles = {"embedding": counts("eotu", 24), "kmer": counts("kmer", 16)}
    alpha, pcoa, explained = {}, {}, {}
    for name, table in profiles.items():
        p = table.to_numpy(float) / table.to_numpy(float).sum(axis=1, keepdims=True)
        shannon = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(axis=1)
        alpha[name] = pd.DataFrame({"richness": (table > 0).sum(axis=1).astype(float), "shannon": shannon,
                                    "simpson": 1 - (p ** 2).sum(axis=1), "depth": 500}, index=table.index)
        centred = np.sqrt(p) - np.sqrt(p).mean(axis=0)
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        coords = u[:, :3] * s[:3]
        pcoa[(name, "braycurtis")] = pd.DataFrame(coords, index=table.index, columns=["PCo1", "PCo2", "PCo3"])
        explained[(name, "braycurtis")] = list(s[:3] ** 2 / (s ** 2).sum())

    marginal, forward, varpart, cv, preds, imps = [], [], [], [], [], []
    conditional, season, anomalies, lagged, baseline, trends, time_lag = [], [], [], [], [], [], []
    for profile, scale in (("embedding", 1.0), ("kmer", 0.8)):
        for transformation in ("braycurtis", "hellinger"):
            for k, variable in enumerate(ENV):
                r2 = DBRDA_TEMP_R2 if (variable == "temperature_c" and profile == "embedding"
                                       and transformation == "braycurtis") else round(scale * 0.3 / (k + 1), 4)
                test = dict(profile=profile, transformation=transformation, variable=variable, r2=r2,
                            r2_adj=r2 - 0.02, F=10 * r2, df_num=1, df_den=28, p_value=0.001 * (k + 1), p_min=0.001,
                            testable=True, n_samples=30, n_dropped=0, permutation=SCHEME, n_permutations=999,
                            p_holm=(0.003, 0.004, 0.004)[k], q_bh=0.003)
                marginal.append(test)
                conditional.append({**test, "r2": round(r2 / 2, 4), "p_value": 0.01 * (k + 1),
                                    "p_holm": min(1.0, 0.03 * (k + 1))})
                season_r2 = SEASON_TEMP_R2 if (variable == "temperature_c" and profile == "embedding"
                                               and transformation == "braycurtis") else 0.02
                season.append({**test, "r2": season_r2, "r2_adj": season_r2 - 0.01, "p_value": 0.004 * (k + 1),
                               "p_holm": 0.012 if k == 0 else 0.2})
                anomalies.append({**test, "r2": 0.05, "p_value": 0.04, "p_holm": 0.12})
                lagged.append({**test, "variable": f"{variable}_lag1", "lag": 1, "r2": 0.06, "p_value": 0.03,
                               "p_holm": 0.09})
            # as shifts writes it: the global model as step 0, then the steps, the last one not kept
            forward.append(dict(profile=profile, transformation=transformation, step=0, variable="<all>", r2=0.7,
                                r2_adj=0.6, F=6.0, p_value=0.001, p_min=0.001, selected=True, stop_reason="",
                                permutation=SCHEME, n_permutations=999))
            for step, variable in enumerate(["temperature_c", "oxygen_umol_kg"], start=1):
                forward.append(dict(profile=profile, transformation=transformation, step=step, variable=variable,
                                    r2=0.3 * step, r2_adj=0.28 * step, F=5.0, p_value=0.001, selected=True,
                                    stop_reason=""))
            forward.append(dict(profile=profile, transformation=transformation, step=3, variable="ph", r2=0.62,
                                r2_adj=0.57, F=1.0, p_value=0.4, selected=False, stop_reason="p_value > alpha"))
            for fraction, kind, value in (("temperature", "unique", 0.12), ("environment", "unique", 0.08),
                                          ("space_time", "unique", 0.05), ("temperature&environment", "shared", 0.2),
                                          ("temperature&environment&space_time", "shared", -0.01),
                                          ("residual", "residual", 0.56), ("all", "all", 0.44)):
                varpart.append(dict(profile=profile, transformation=transformation, fraction=fraction, kind=kind,
                                    groups=fraction, r2=value, r2_adj=value,
                                    p_value=0.002 if kind == "unique" else np.nan, p_min=0.001,
                                    permutation=SCHEME, n_permutations=999,
                                    p_holm=0.006 if kind == "unique" else np.nan,
                                    q_bh=0.004 if kind == "unique" else np.nan))
            time_lag.append(dict(profile=profile, transformation=transformation, slope=0.0123, intercept=0.3, r2=0.21,
                                 n_pairs=60, recurrence=0.045, n_year_pairs=12, n_half_year_pairs=10,
                                 slope_p_value=0.002, recurrence_p_value=0.3, permutation=SCHEME, n_permutations=999,
                                 p_holm=0.004, q_bh=0.004))
        for transformation in ("hellinger", "clr"):
            for model in ("ridge", "rf"):
                for target in ENV:
                    primary = transformation == "hellinger" and model == "ridge"
                    if profile == "embedding" and primary:
                        mean, sd = (TEMP_R2_MEAN, TEMP_R2_SD) if target == "temperature_c" else (0.5, 0.1)
                    elif profile == "embedding" and target == "temperature_c" and transformation == "clr" \
                            and model == "rf":
                        mean, sd = SENS_TEMP_R2, 0.02
                    elif profile == "kmer" and target == "temperature_c" and primary:
                        mean, sd = KMER_TEMP_R2, 0.06
                    else:
                        mean, sd = round(0.3 * scale, 3), 0.1
                    cv.append(dict(profile=profile, transformation=transformation, direction="community_to_env",
                                   target=target, model=model, primary=primary, r2_mean=mean, r2_sd=sd,
                                   r2_min=mean - 0.1, r2_max=mean + 0.1, n_repeats=3, n_splits=3, n_samples=30,
                                   group_by="station", folds=FOLDS, p_perm=0.01 if primary else np.nan,
                                   n_permutations=99 if primary else 0, permutation=SCHEME if primary else "",
                                   p_holm=0.03 if primary else np.nan, q_bh=0.02 if primary else np.nan))
                    if primary:
                        baseline.append(dict(profile=profile, transformation=transformation,
                                             direction="community_to_env", target=target, model=model, cv="grouped",
                                             folds=FOLDS, r2_season=0.6, r2_main=mean, r2_both=0.85, delta_r2=0.25,
                                             delta_low=0.1, delta_high=0.4, main_predictors=f"{profile} OTUs",
                                             n_samples=30))
                    for repeat in range(2):
                        observed = samples[target]
                        noise = rng.normal(0, observed.std() * (1 - mean) + 1e-3, len(observed))
                        for sample, o, e in zip(ids, observed, noise):
                            if np.isfinite(o):
                                preds.append(dict(profile=profile, transformation=transformation,
                                                  direction="community_to_env", target=target, model=model,
                                                  repeat=repeat, fold=repeat % 3, sample=sample, observed=o,
                                                  predicted=o + e))
                    features = list(profiles[profile].columns[:12])
                    for rank, feature in enumerate(features, start=1):
                        imps.append(dict(profile=profile, transformation=transformation, direction="community_to_env",
                                         target=target, model=model, rank=rank, feature=feature,
                                         importance_mean=round(0.2 / rank, 4), importance_sd=0.01))
        cv.append(dict(profile=profile, transformation="environment", direction="env_to_community", target="pcoa1",
                       model="ridge", primary=True, r2_mean=0.61, r2_sd=0.05, r2_min=0.5, r2_max=0.7, n_repeats=3,
                       n_splits=3, n_samples=30, group_by="station", folds=FOLDS, p_perm=0.01, n_permutations=99,
                       permutation=SCHEME, p_holm=0.01, q_bh=0.01))
        baseline.append(dict(profile=profile, transformation="environment", direction="env_to_community",
                             target="pcoa1", model="ridge", cv="grouped", folds=FOLDS, r2_season=0.55, r2_main=0.61,
                             r2_both=0.63, delta_r2=0.08, delta_low=-0.02, delta_high=0.17,
                             main_predictors=", ".join(ENV), n_samples=30))
        for station, depth, variable, n in (("ST01", 5.0, "temperature_c", 24), ("ST02", 5.0, "temperature_c", 24),
                                            ("ST01", 5.0, "ph", 24), ("ST03", 50.0, "temperature_c", 5)):
            tested = n >= 24
            trends.append(dict(profile=profile, series=f"{station}_{depth:g}", station=station, depth_m=depth,
                               variable=variable, n=n, period=12, years=2.0 if tested else 0.4,
                               test="seasonal Mann-Kendall" if tested else "not applicable",
                               trend="increasing" if tested else None, tau=0.41 if tested else np.nan,
                               s=40 if tested else np.nan, p_value=0.004 if tested else np.nan,
                               sen_slope_per_year=SEN_SLOPE if tested else np.nan, intercept=14.0 if tested else np.nan,
                               reason="" if tested else "shorter than two years", p_holm=0.008 if tested else np.nan,
                               q_bh=0.008 if tested else np.nan))
        for rank, feature in enumerate(ENV, start=1):
            imps.append(dict(profile=profile, transformation="environment", direction="env_to_community",
                             target="pcoa1", model="ridge", rank=rank, feature=feature, importance_mean=0.3 / rank,
                             importance_sd=0.02))
    steps = np.arange(0, 400, 10)
    loss = 4.0 * np.exp(-steps / 150) + 1.2
    train_log = pd.DataFrame({"step": steps, "lr": np.minimum(1, (steps + 10) / 50) * 3e-4, "loss": loss,
                              "mlm_loss": loss * 0.8, "contrastive_loss": loss * 0.2,
                              "val_loss": np.where(steps % 100 == 0, loss + 0.1, np.nan),
                              "reads_per_s": 1500.0 + steps})
    raw = rng.integers(9000, 11000, len(ids))
    kept = (raw * rng.uniform(0.8, 0.99, len(ids))).astype(int)
    accounting = pd.DataFrame({"sample": ids, "units": 1, "paired": True, "raw_reads": raw, "kept_reads": kept,
                               "removed_reads": raw - kept, "removed_too_short": raw - kept, "removed_too_many_n": 0,
                               "pct_kept": np.round(100 * kept / raw, 3), "mean_length_raw": 150.0,
                               "mean_length_qc": 141.5})
    # Shifts scores each model under several CV schemes (column cv); views must use grouped CV.
    cv = pd.DataFrame(cv).assign(cv="grouped")
    cv = pd.concat([cv, cv.assign(cv="loo", r2_mean=LOO_R2, r2_sd=0.001, folds="30 folds of 1 sample")],
                   ignore_index=True)
    comparison = pd.DataFrame([dict(direction="community_to_env", target=t, transformation="hellinger", model="ridge",
                                    cv="grouped", profile_a="embedding", profile_b="kmer",
                                    r2_a=TEMP_R2_MEAN if t == "temperature_c" else 0.5,
                                    r2_b=KMER_TEMP_R2 if t == "temperature_c" else 0.24,
                                    delta_r2=round(TEMP_R2_MEAN - KMER_TEMP_R2, 4) if t == "temperature_c" else 0.26,
                                    delta_low=0.012 if t == "temperature_c" else -0.05, delta_high=0.131,
                                    n_samples=30, n_groups=3) for t in ENV])
    return ReportInputs(
        samples=samples, env_columns=ENV, read_accounting=accounting, train_log=train_log,
        model_info={"reused": False, "checkpoint": None, "n_parameters": 812345, "sha256": "ab" * 32},
        profiles=profiles, alpha=alpha, pcoa=pcoa, pcoa_explained=explained,
        dbrda_marginal=pd.DataFrame(marginal), dbrda_forward=pd.DataFrame(forward), varpart=pd.DataFrame(varpart),
        cv_metrics=cv, predictions=pd.DataFrame(preds), importances=pd.DataFrame(imps),
        dbrda_conditional=pd.DataFrame(conditional), dbrda_season=pd.DataFrame(season),
        dbrda_anomalies=pd.DataFrame(anomalies), dbrda_lagged=pd.DataFrame(lagged),
        season_baseline=pd.DataFrame(baseline), profile_comparison=comparison, trends=pd.DataFrame(trends),
        time_lag=pd.DataFrame(time_lag),
        encoder_quality=pd.DataFrame({"representation": ["TNF", "trained", "untrained"],
                                      "knn_accuracy": [0.61, 0.934, 0.4], "ari": [0.3, 0.71, 0.1]}),
        provenance={"config_sha256": "cd" * 32, "seed": 7, "inputs": {"samples.tsv": "ef" * 32},
                    "packages": {"numpy": "2.4", "torch": "2.13.0"}},
        title="Test cruise report",
    )


# ----------------------------------------------------------------------------------------------
# helpers


class _Structure(HTMLParser):
    """Checks tag balance and collects sections, their text, and attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.sections: list[str] = []
        self.section_text: dict[str, list[str]] = {}
        self.section_h2: dict[str, int] = {}
        self.imgs: list[str] = []
        self.links: list[str] = []
        self._current: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._current = attrs.get("id")
            self.sections.append(self._current)
            self.section_text[self._current] = []
        if tag == "h2" and self._current:
            self.section_h2[self._current] = self.section_h2.get(self._current, 0) + 1
        if tag == "img":
            self.imgs.append(attrs.get("src", ""))
        for key in ("src", "href"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()
        if tag == "section":
            self._current = None

    def handle_data(self, data):
        if self._current:
            self.section_text[self._current].append(data)


def parse(page: str) -> _Structure:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    return parser


def text_of(parsed: _Structure, section: str) -> str:
    return " ".join(" ".join(parsed.section_text[section]).split())


@pytest.fixture(scope="module")
def full_page() -> str:
    return render_report(synthetic_inputs())


_RENDER_SCRIPT = """
import hashlib, importlib.util, sys
spec = importlib.util.spec_from_file_location("report_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
page = module.render_report(module.synthetic_inputs(), module.COMPACT)
sys.stdout.write(hashlib.sha256(page.encode("utf-8")).hexdigest())
"""


@pytest.fixture(scope="module")
def compact_renders() -> tuple[str, subprocess.CompletedProcess]:
    """The compact page rendered here and, at the same time, in a fresh interpreter with another
    hash seed (so another set/dict order of strings) that shares nothing with this process."""
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    args = [sys.executable, "-c", _RENDER_SCRIPT, __file__]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}) as child:
        page = render_report(synthetic_inputs(), COMPACT)
        out, err = child.communicate(timeout=300)
    return page, subprocess.CompletedProcess(args, child.returncode, out, err)


@pytest.fixture(scope="module")
def compact_page(compact_renders) -> str:
    return compact_renders[0]


# ----------------------------------------------------------------------------------------------
# tests


def test_page_is_balanced_html_with_every_section_in_order(full_page):
    parsed = parse(full_page)
    assert full_page.startswith("<!DOCTYPE html>")
    assert parsed.errors == []
    assert parsed.stack == []
    assert parsed.sections == list(SECTION_IDS)
    assert all(parsed.section_h2.get(s) == 1 for s in SECTION_IDS)
    assert "not available" not in full_page  # every input was given


def test_images_are_embedded_pngs_and_nothing_is_fetched(full_page):
    parsed = parse(full_page)
    assert 8 <= len(parsed.imgs) < 25
    for src in parsed.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True)[:8] == PNG_MAGIC
    assert all(not re.match(r"(?i)\s*(https?:)?//", link) for link in parsed.links)
    assert all(link.startswith(("data:image/png;base64,", "#")) for link in parsed.links)
    assert not re.search(r"(?i)<(script|link)\b", full_page)
    assert len(full_page.encode()) < 3_000_000


def test_key_numbers_appear_in_their_sections(full_page):
    parsed = parse(full_page)
    predictions = text_of(parsed, "predictions")
    assert f"{TEMP_R2_MEAN:.2f} ± {TEMP_R2_SD:.2f}" in predictions
    assert "ridge" in predictions and "Hellinger" in predictions  # the primary combination is the one shown
    assert FOLDS in predictions
    overview = text_of(parsed, "overview")
    assert f"{100 * DBRDA_TEMP_R2:.0f}%" in overview  # dbRDA temperature finding
    assert "p = 0.001, the smallest attainable, Holm-adjusted 0.003" in overview
    assert f"permutations: {SCHEME}" in overview
    assert "It is significant after Holm adjustment" in overview
    assert f"{TEMP_R2_MEAN:.2f} ± {TEMP_R2_SD:.2f}" in overview and f"{KMER_TEMP_R2:.2f}" in overview
    assert f"folds: {FOLDS}" in overview
    assert "paired difference of 0.07 (95% interval 0.01 to 0.13)" in overview  # profile_comparison, not wins
    assert "better than the" not in overview  # no counting of wins
    assert "Temperature's effect holds beyond the season" in overview and "12.3%" in overview
    assert "30 samples" in full_page and "ST01, ST02, ST03" in overview
    assert "2021-03-01 to 2021-06-29" in overview
    comparison = text_of(parsed, "comparison")
    assert f"{KMER_TEMP_R2:.2f}" in comparison and "0.934" in comparison
    assert f"{DBRDA_TEMP_R2:.2f}" in comparison
    dbrda = text_of(parsed, "dbrda")
    assert "12.0%" in dbrda and "56.0%" in dbrda  # varpart fractions
    assert "Negative adjusted fractions" in dbrda
    provenance = text_of(parsed, "provenance")
    assert "cd" * 32 in provenance and "packages.torch" in provenance and "ab" * 32 in provenance
    reads = text_of(parsed, "read-accounting")
    assert "ST02_50m_0" in reads
    assert "812,345" in text_of(parsed, "training")


def test_forward_selection_order_skips_global_and_unselected_steps(full_page):
    parsed = parse(full_page)
    overview = text_of(parsed, "overview")
    assert "Forward selection keeps 2 variables (Temperature, Oxygen)" in overview
    assert "0.56" in overview  # adjusted R2 after the last selected step
    dbrda = text_of(parsed, "dbrda")
    assert "All variables together: R² 0.70, adjusted R² 0.60" in dbrda
    assert "the next variable is not significant" in dbrda
    # the selection order column: temperature 1, oxygen 2, pH (not kept) empty
    assert re.search(r"Temperature \(°C\) 0\.38 0\.36 3\.8 0\.001 \(smallest attainable\) 0\.003 \* 0\.003 1 "
                     r"Oxygen \(µmol/kg\) [-0-9.* ]+ 2 pH [0-9.* ]+ (All|dbRDA)", dbrda)


def test_views_use_grouped_cv_and_tables_list_every_scheme(full_page):
    parsed = parse(full_page)
    predictions = text_of(parsed, "predictions")
    main = predictions.split("All cross-validation results")[0]
    assert f"{TEMP_R2_MEAN:.2f} ± {TEMP_R2_SD:.2f}" in main and f"{LOO_R2:.2f}" not in main
    assert f"{LOO_R2:.2f} ± 0.00" in predictions and "leave one sample out" in predictions
    assert f"{LOO_R2:.2f}" not in text_of(parsed, "comparison") + text_of(parsed, "overview")


def test_forward_selection_that_keeps_nothing_is_said_so():
    inputs = synthetic_inputs()
    forward = inputs.dbrda_forward
    forward = forward.assign(selected=forward["variable"] == "<all>",
                             stop_reason=np.where(forward["step"] == 1, "r2_adj above global model", ""))
    page = render_report(ReportInputs(samples=inputs.samples, dbrda_marginal=inputs.dbrda_marginal,
                                      dbrda_forward=forward), COMPACT)
    overview = text_of(parse(page), "overview")
    assert "All environmental variables together explain an adjusted R² of 0.60" in overview
    assert "forward selection keeps no single variable: adding the next variable" in overview


def test_rendering_is_byte_identical_across_processes(compact_renders):
    page, other = compact_renders
    assert other.returncode == 0, other.stderr
    assert other.stdout == hashlib.sha256(page.encode("utf-8")).hexdigest()


def test_missing_optional_inputs_say_not_available():
    samples = synthetic_inputs().samples
    page = render_report(ReportInputs(samples=samples), COMPACT)
    parsed = parse(page)
    assert parsed.errors == [] and parsed.sections == list(SECTION_IDS)
    for section in ("read-accounting", "training", "diversity", "ordination", "otus", "dbrda", "predictions",
                    "importances", "season", "timeseries", "comparison", "provenance"):
        assert "not available for this run" in text_of(parsed, section), section
    # what the samples table alone can show is still there
    assert "not available" not in text_of(parsed, "cruise") + text_of(parsed, "environment")
    assert len(parsed.imgs) == 3


def test_reused_model_is_stated_without_training_log():
    inputs = ReportInputs(samples=synthetic_inputs().samples,
                          model_info={"reused": True, "checkpoint": "old_cruise/model.pt", "sha256": "12" * 32})
    training = text_of(parse(render_report(inputs, COMPACT)), "training")
    assert "not trained in this run" in training and "old_cruise/model.pt" in training
    assert "not available" not in training


def test_brief_column_aliases_give_the_same_page(compact_page):
    inputs = synthetic_inputs()
    inputs.dbrda_marginal = inputs.dbrda_marginal.rename(columns={"F": "pseudo_f"})
    inputs.dbrda_forward = inputs.dbrda_forward.rename(columns={"r2_adj": "r2_adj_cum"})
    inputs.varpart = inputs.varpart.drop(columns=["kind"])
    direction = {"community_to_env": "env_from_community", "env_to_community": "community_from_env"}
    for name in ("cv_metrics", "predictions", "importances"):
        table = getattr(inputs, name)
        setattr(inputs, name, table.assign(direction=table["direction"].map(direction)))
    assert render_report(inputs, COMPACT) == compact_page


def test_bad_tables_raise_one_input_error_naming_every_problem():
    inputs = synthetic_inputs()
    inputs.samples = inputs.samples.drop(columns=["datetime"])
    inputs.cv_metrics = inputs.cv_metrics.drop(columns=["r2_mean"])
    with pytest.raises(PlanktonlmInputError) as caught:
        render_report(inputs)
    columns = {(p.file, p.column) for p in caught.value.problems}
    assert ("samples", "datetime") in columns and ("cv_metrics", "r2_mean") in columns

    inputs = ReportInputs(samples=synthetic_inputs().samples.assign(datetime="not a date"))
    with pytest.raises(PlanktonlmInputError, match="unparsable date"):
        render_report(inputs)


def test_units_come_from_column_suffixes():
    assert variable_label("temperature_c") == "Temperature (°C)"
    assert variable_label("oxygen_umol_kg") == "Oxygen (µmol/kg)"
    assert variable_label("chlorophyll_mg_m3") == "Chlorophyll (mg/m³)"
    assert variable_label("nitrate_nm") == "Nitrate (nM)"
    assert variable_label("depth_m") == "Depth (m)"
    assert variable_label("ph") == "pH"
    assert split_unit("pressure_dbar") == ("Pressure", "dbar")
    assert split_unit("mystery") == ("Mystery", "")


def test_config_is_validated():
    with pytest.raises(PlanktonlmInputError, match="report.dpi"):
        ReportConfig(dpi=0)


def test_loader_reads_stage_outputs_and_tolerates_absent_files(tmp_path):
    inputs = synthetic_inputs()
    samples = inputs.samples.reset_index()
    samples.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    paths = {"samples": str(tmp_path / "samples.tsv"), "env_columns": ENV, "title": "Loaded"}
    for name in ("read_accounting", "train_log", "dbrda_marginal", "dbrda_forward", "varpart", "cv_metrics",
                 "importances", "dbrda_conditional", "dbrda_season", "dbrda_anomalies", "dbrda_lagged",
                 "season_baseline", "profile_comparison", "trends", "time_lag"):
        path = tmp_path / f"{name}.tsv"
        table = getattr(inputs, name)
        if name == "dbrda_lagged":
            table = table.iloc[:0]  # header only, as the shifts stage writes a table with no rows
        table.to_csv(path, sep="\t", index=False, float_format="%.10g", na_rep="NA")
        paths[name] = str(path)
    inputs.predictions.to_parquet(tmp_path / "predictions.parquet")
    paths["predictions"] = str(tmp_path / "predictions.parquet")
    paths["profiles"] = []
    for name, table in inputs.profiles.items():
        table.to_csv(tmp_path / f"{name}.tsv", sep="\t")
        paths["profiles"].append(str(tmp_path / f"{name}.tsv"))
    inputs.pcoa[("embedding", "braycurtis")].to_csv(tmp_path / "pcoa.tsv", sep="\t")
    paths["pcoa"] = {"embedding/braycurtis": str(tmp_path / "pcoa.tsv")}
    pd.DataFrame({"profile": "embedding", "metric": "braycurtis", "axis": ["PCo2", "PCo1"],
                  "explained_ratio": [0.2, 0.5]}).to_csv(tmp_path / "explained.tsv", sep="\t", index=False)
    paths["pcoa_explained"] = str(tmp_path / "explained.tsv")
    (tmp_path / "provenance.json").write_text(json.dumps(inputs.provenance))
    paths["provenance"] = str(tmp_path / "provenance.json")
    paths["encoder_quality"] = str(tmp_path / "absent.tsv")  # optional file that a run did not make
    paths["alpha"] = {"embedding": str(tmp_path / "absent_alpha.tsv")}

    loaded = load_report_inputs(paths)
    assert loaded.encoder_quality is None and loaded.alpha is None and loaded.model_info is None
    assert loaded.dbrda_lagged is not None and loaded.dbrda_lagged.empty
    assert loaded.cv_metrics["primary"].dtype == bool and len(loaded.trends) == len(inputs.trends)
    assert sorted(loaded.profiles) == ["embedding", "kmer"]
    pd.testing.assert_frame_equal(loaded.profiles["kmer"], inputs.profiles["kmer"], check_dtype=False,
                                  check_names=False)
    assert loaded.pcoa_explained == {("embedding", "braycurtis"): [0.5, 0.2]}
    assert loaded.provenance == inputs.provenance
    assert loaded.samples.index.tolist() == inputs.samples.index.tolist()

    out = write_report(loaded, tmp_path / "out" / "report.html", COMPACT)
    page = out.read_text(encoding="utf-8")
    parsed = parse(page)
    assert parsed.errors == [] and parsed.sections == list(SECTION_IDS)
    assert f"{TEMP_R2_MEAN:.2f} ± {TEMP_R2_SD:.2f}" in text_of(parsed, "predictions")
    assert f"{SEN_SLOPE:.3f}" in text_of(parsed, "timeseries")
    assert "dbRDA with lagged environment is not available" in text_of(parsed, "timeseries")
    assert "Temperature's effect holds beyond the season" in text_of(parsed, "overview")
    assert "not available for this run" in text_of(parsed, "diversity")
    assert "not available for this run" in text_of(parsed, "comparison")  # encoder benchmark absent
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left behind

    # an older result folder: none of the new shift tables
    older = {k: v for k, v in paths.items() if k not in ("dbrda_conditional", "dbrda_season", "dbrda_anomalies",
                                                         "dbrda_lagged", "season_baseline", "profile_comparison",
                                                         "trends", "time_lag")}
    page = render_report(load_report_inputs(older), COMPACT)
    parsed = parse(page)
    assert parsed.errors == [] and parsed.sections == list(SECTION_IDS)
    assert "not available for this run" in text_of(parsed, "season") + text_of(parsed, "timeseries")

    with pytest.raises(PlanktonlmInputError, match="unknown input name"):
        load_report_inputs({**paths, "cv_metric": "typo.tsv"})
    with pytest.raises(PlanktonlmInputError, match="samples table not found"):
        load_report_inputs({"samples": str(tmp_path / "nope.tsv")})


# ----------------------------------------------------------------------------------------------
# samples without a sampling date (published tables such as Tara Oceans have none)


def _time_inputs(samples: pd.DataFrame) -> ReportInputs:
    """The inputs that have a figure over time, on ``samples``."""
    full = synthetic_inputs()
    return ReportInputs(samples=samples, env_columns=ENV, profiles={"embedding": full.profiles["embedding"]},
                        alpha={"embedding": full.alpha["embedding"]},
                        pcoa={("embedding", "braycurtis"): full.pcoa[("embedding", "braycurtis")]})


def test_no_dates_at_all_replaces_time_figures_and_keeps_the_map(tmp_path):
    samples = synthetic_inputs().samples.reset_index()
    samples["datetime"] = np.nan
    samples.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)  # empty cells, as report_stage writes NaT
    excluded = pd.DataFrame({"item": ["ST03_5m_0, ST03_50m_0", "doy_sin, doy_cos"], "kind": ["sample", "variable"],
                             "reason": ["absent from profile kmer",
                                        "no seasonal/trend terms: 30 samples have no date"]})
    excluded.to_csv(tmp_path / "excluded.tsv", sep="\t", index=False)
    loaded = load_report_inputs({"samples": str(tmp_path / "samples.tsv"), "excluded": str(tmp_path / "excluded.tsv")})
    assert loaded.samples["datetime"].isna().all()
    pd.testing.assert_frame_equal(loaded.excluded, excluded, check_dtype=False)
    inputs = _time_inputs(loaded.samples)
    inputs.excluded = loaded.excluded

    page = render_report(inputs, COMPACT)
    parsed = parse(page)
    assert parsed.errors == [] and parsed.sections == list(SECTION_IDS)
    for section in ("cruise", "environment", "diversity", "otus"):
        assert "no sampling dates in this run's inputs" in text_of(parsed, section), section
    assert "no sampling dates in this run's inputs" in text_of(parsed, "overview")
    assert 'alt="Map of station positions"' in page  # latitude/longitude still place the stations
    assert 'alt="Sampling events over time"' not in page and 'alt="Alpha diversity over time"' not in page
    assert 'alt="Environmental variables per station"' in page  # the fallback figure
    assert "Colouring by sampling date is left out" in text_of(parsed, "ordination")
    assert 'alt="PCoA of embedding OTUs (Bray-Curtis)"' in page
    otus = text_of(parsed, "otus")
    assert "eotu_" in otus and 'alt="Most variable OTUs' not in page  # a table of OTUs instead of the figure
    dbrda = text_of(parsed, "dbrda")
    assert "Left out of the statistics" in dbrda and "absent from profile kmer" in dbrda and "ST03_50m_0" in dbrda


def test_some_dates_missing_plots_the_dated_samples_and_counts_the_others():
    samples = synthetic_inputs().samples.copy()
    undated = [s for s in samples.index if s.endswith("_4")]  # the whole last visit (6 samples) lost its date
    samples.loc[undated, "datetime"] = ""
    samples.loc[undated[:2], "datetime"] = None
    page = render_report(_time_inputs(samples), COMPACT)
    parsed = parse(page)
    assert parsed.errors == [] and parsed.sections == list(SECTION_IDS)
    assert "no sampling dates" not in page
    overview = text_of(parsed, "overview")
    assert "2021-03-01 to 2021-05-30" in overview and "6 samples without a date" in overview
    for alt in ("Sampling events over time", "Environmental variables over time", "Alpha diversity over time",
                "Most variable OTUs of embedding OTUs"):
        assert f'alt="{alt}"' in page, alt
    for section in ("cruise", "environment", "diversity", "otus"):
        assert "6 samples without a sampling date are not shown" in text_of(parsed, section), section
    assert "6 samples without a sampling date are drawn as open grey circles" in text_of(parsed, "ordination")


def test_unparsable_date_still_raises_but_missing_ones_do_not():
    samples = synthetic_inputs().samples.copy()
    samples.iloc[0, samples.columns.get_loc("datetime")] = np.nan
    samples.iloc[1, samples.columns.get_loc("datetime")] = "NaT"
    samples.iloc[2, samples.columns.get_loc("datetime")] = "2021-13-45"
    with pytest.raises(PlanktonlmInputError, match="unparsable date") as caught:
        render_report(ReportInputs(samples=samples), COMPACT)
    assert [(p.row, p.value) for p in caught.value.problems] == [(3, "2021-13-45")]


# ----------------------------------------------------------------------------------------------
# adjusted p-values, the primary model, the season and the time series


def test_key_finding_uses_holm_adjusted_p_not_the_raw_p():
    inputs = synthetic_inputs()
    marginal = inputs.dbrda_marginal.copy()
    temp = marginal["variable"] == "temperature_c"
    marginal.loc[temp, "p_value"] = 0.02  # significant before adjustment ...
    marginal.loc[temp, "p_holm"] = 0.06   # ... but not after
    inputs.dbrda_marginal = marginal
    parsed = parse(render_report(inputs, COMPACT))
    overview = text_of(parsed, "overview")
    assert "p = 0.020, Holm-adjusted 0.060" in overview
    assert "It is not significant after Holm adjustment" in overview
    assert "It is significant" not in overview
    dbrda = text_of(parsed, "dbrda")
    assert re.search(r"Temperature \(°C\) 0\.38 0\.36 3\.8 0\.020 0\.060 0\.003", dbrda)  # no * for significance
    assert "0.060 *" not in dbrda


def test_untestable_terms_and_holm_computed_when_missing():
    inputs = synthetic_inputs()
    marginal = inputs.dbrda_marginal.copy()
    temp = marginal["variable"] == "temperature_c"
    marginal.loc[temp, ["p_value", "p_holm"]] = np.nan
    marginal.loc[temp, "testable"] = False
    inputs.dbrda_marginal = marginal
    parsed = parse(render_report(inputs, COMPACT))
    assert "not testable under this design" in text_of(parsed, "overview")
    assert "not testable under this design" in text_of(parsed, "dbrda")
    # an older table without p_holm: Holm's adjustment is computed within profile x transformation
    old = synthetic_inputs().dbrda_marginal.drop(columns=["p_holm", "q_bh", "p_min", "testable", "permutation"])
    overview = text_of(parse(render_report(ReportInputs(samples=inputs.samples, dbrda_marginal=old), COMPACT)),
                       "overview")
    assert "p = 0.001, Holm-adjusted 0.003" in overview  # 3 tests: 3 x 0.001


def test_primary_row_is_the_headline_even_when_a_sensitivity_row_scores_higher(full_page):
    parsed = parse(full_page)
    overview = text_of(parsed, "overview")
    assert f"{TEMP_R2_MEAN:.2f} ± {TEMP_R2_SD:.2f}" in overview and f"{SENS_TEMP_R2:.2f}" not in overview
    predictions = text_of(parsed, "predictions")
    headline, rest = predictions.split("Sensitivity: other models", 1)
    assert f"{TEMP_R2_MEAN:.2f} ± {TEMP_R2_SD:.2f}" in headline and f"{SENS_TEMP_R2:.2f}" not in headline
    assert f"{SENS_TEMP_R2:.2f} ± 0.02" in rest.split("All cross-validation results")[0]
    assert f"{SENS_TEMP_R2:.2f}" not in text_of(parsed, "comparison")
    # marking the high-scoring row as primary moves the headline with it
    inputs = synthetic_inputs()
    cv = inputs.cv_metrics
    swap = (cv["profile"] == "embedding") & (cv["direction"] == "community_to_env")
    cv.loc[swap, "primary"] = (cv.loc[swap, "transformation"] == "clr") & (cv.loc[swap, "model"] == "rf")
    overview = text_of(parse(render_report(ReportInputs(samples=inputs.samples, cv_metrics=cv), COMPACT)), "overview")
    assert f"{SENS_TEMP_R2:.2f} ± 0.02" in overview and "random forest, CLR features, the primary model" in overview


def test_season_section_shows_baseline_and_dbrda_given_the_season(full_page):
    parsed = parse(full_page)
    season = text_of(parsed, "season")
    assert "0.25 [0.10, 0.40]" in season and "0.08 [-0.02, 0.17]" in season  # both directions
    assert "community → environment" in season and "environment → community" in season
    assert "0.12 0.11 3.8 0.004 0.012 *" in season  # temperature beyond the calendar
    inputs = synthetic_inputs()
    inputs.dbrda_season = inputs.dbrda_season.assign(p_holm=0.3)
    overview = text_of(parse(render_report(inputs, COMPACT)), "overview")
    assert "Temperature's effect does not hold beyond the season" in overview


def test_time_series_section_reports_tested_trends_and_why_others_were_not(full_page):
    series = text_of(parse(full_page), "timeseries")
    assert f"{SEN_SLOPE:.3f}" in series and "0.008 *" in series
    assert "6 series tested" in series
    assert "2 series were not applicable for the test: shorter than two years (2)" in series
    assert "0.0123" in series and "Recurrence" in series
    assert "dbRDA on de-seasoned anomalies" in series and "Temperature (°C), lag 1" in series


def test_empty_time_series_tables_say_the_data_have_no_dated_series(tmp_path):
    inputs = synthetic_inputs()
    empty = {name: getattr(inputs, name).iloc[:0] for name in ("trends", "time_lag", "dbrda_anomalies", "dbrda_lagged",
                                                               "season_baseline", "dbrda_season")}
    page = render_report(ReportInputs(samples=inputs.samples, **empty), COMPACT)
    parsed = parse(page)
    assert parsed.errors == [] and parsed.sections == list(SECTION_IDS)
    assert NO_SERIES in text_of(parsed, "timeseries") and "not available" not in text_of(parsed, "timeseries")
    assert NO_SERIES in text_of(parsed, "season")
    # the same through the loader, from header-only files
    inputs.samples.reset_index().to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    paths = {"samples": str(tmp_path / "samples.tsv")}
    for name, table in empty.items():
        table.to_csv(tmp_path / f"{name}.tsv", sep="\t", index=False)
        paths[name] = str(tmp_path / f"{name}.tsv")
    parsed = parse(render_report(load_report_inputs(paths), COMPACT))
    assert NO_SERIES in text_of(parsed, "timeseries")
