"""What the report reads: its config section, its inputs, and the loaders of stage outputs.

:class:`ReportInputs` holds every table the page shows (only ``samples`` is required).
:func:`load_report_inputs` reads them from a dict of named files; :func:`inputs_from_results`
from the report rule's inputs (the cube, the QC and training tables, the shifts tables and the
per-profile ecology tables): samples, environment, profiles and provenance come straight from
the cube.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from planktonlm.cube.store import read_cube
from planktonlm.cube.tables import environment_table, novelty_table, profile_names, profile_table, sample_metadata
from planktonlm.errors import InputProblem, PlanktonlmInputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportConfig:
    """The ``report`` config section (defaults and bounds: the config schema)."""

    dpi: int
    n_top_otus: int
    n_top_features: int
    max_ordinations: int
    max_otu_profiles: int
    temperature_variable: str
    primary_profile: str
    primary_metric: str


@dataclass
class ReportInputs:
    """Everything the report shows; only ``samples`` is required.

    samples: index sample; columns cruise, station, datetime (UTC), latitude, longitude, depth_m, env variables.
    env_columns: environmental variables to show (default: numeric columns that are not in
        ``planktonlm.vocab.NON_ENV_COLUMNS``).
    read_accounting: sample, raw_reads, kept_reads, pct_kept, mean_length_raw, mean_length_qc (+ others).
    train_log: step, lr, loss, mlm_loss, contrastive_loss, val_loss (any subset besides step).
    model_info: reused (bool), checkpoint (path), n_parameters, sha256.
    profiles: name -> counts (samples x OTUs); names like "embedding", "kmer", "oracle".
    alpha: profile -> table (index sample; richness, shannon, simpson, ...).
    pcoa: (profile, metric) -> coordinates (index sample; PCo1, PCo2, ...); ratios explained in
        ``pcoa_explained[(profile, metric)]`` or in the table's ``attrs["explained"]``.
    dbrda_marginal: profile, transformation, variable, r2, r2_adj, pseudo_f (or F), p_value [, p_min,
        testable, permutation, n_permutations, p_holm, q_bh] (without p_holm, Holm's adjustment is
        computed here within profile x transformation). dbrda_conditional, dbrda_season (each
        driver given the seasonal harmonics and trend), dbrda_anomalies (on de-seasoned
        anomalies) and dbrda_lagged (plus ``lag``) have the same columns.
    dbrda_forward: profile, transformation, step, variable, r2_adj_cum (or r2_adj), p_value [, selected].
    varpart: profile, transformation, fraction, r2_adj [, kind, label, p_value, p_holm, q_bh].
    cv_metrics: profile, [transformation,] direction, target, model, r2_mean, r2_sd, r2_min, r2_max,
        n_splits, group_by [, cv, primary, folds, p_perm, permutation, p_holm, q_bh]; ``primary``
        marks the one configured model x transformation that is the result (the others are
        sensitivity analyses). ``direction`` is ``community_to_env`` or ``env_to_community``.
    season_baseline: profile, transformation, direction, target, model, folds, r2_season, r2_main,
        r2_both, delta_r2, delta_low, delta_high, main_predictors, n_samples.
    profile_comparison: direction, target, transformation, model, profile_a, profile_b, r2_a, r2_b,
        delta_r2, delta_low, delta_high, n_samples, n_groups.
    trends: profile, series, station, depth_m, variable, n, period, years, test, trend, tau,
        p_value, sen_slope_per_year, reason [, p_holm, q_bh].
    time_lag: profile, transformation, slope, r2, n_pairs, recurrence, slope_p_value,
        recurrence_p_value [, permutation, n_permutations, p_holm, q_bh].
    predictions: profile, [transformation,] direction, target, model, sample, observed, predicted, repeat.
    importances: profile, [transformation,] direction, target, model, feature, importance_mean, importance_sd.
    novelty: index sample, one column per read profile (embedding, kmer): the share (0-1) of the
        sample's reads beyond the OTU centres (the cube's ``novelty_<profile>``); ``attrs``:
        ``threshold`` (profile -> distance) and ``atlas`` (the atlas folder, "" without one).
    encoder_quality: representation, knn_accuracy, ari.
    excluded: item, kind, reason: what the shifts stage left out of its statistics (its ``excluded.tsv``).
    provenance: free-form dict (config_sha256, model_sha256, inputs, packages, seed, ...).
    """

    samples: pd.DataFrame
    env_columns: list[str] | None = None
    read_accounting: pd.DataFrame | None = None
    train_log: pd.DataFrame | None = None
    model_info: dict | None = None
    profiles: dict[str, pd.DataFrame] | None = None
    alpha: dict[str, pd.DataFrame] | None = None
    pcoa: dict[tuple[str, str], pd.DataFrame] | None = None
    pcoa_explained: dict[tuple[str, str], list[float]] | None = None
    dbrda_marginal: pd.DataFrame | None = None
    dbrda_forward: pd.DataFrame | None = None
    varpart: pd.DataFrame | None = None
    cv_metrics: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    importances: pd.DataFrame | None = None
    dbrda_conditional: pd.DataFrame | None = None
    dbrda_season: pd.DataFrame | None = None
    dbrda_anomalies: pd.DataFrame | None = None
    dbrda_lagged: pd.DataFrame | None = None
    season_baseline: pd.DataFrame | None = None
    profile_comparison: pd.DataFrame | None = None
    trends: pd.DataFrame | None = None
    time_lag: pd.DataFrame | None = None
    encoder_quality: pd.DataFrame | None = None
    novelty: pd.DataFrame | None = None
    excluded: pd.DataFrame | None = None
    provenance: dict | None = None
    title: str = "planktonlm report"


# ----------------------------------------------------------------------------------------------
# reading stage outputs

TABLE_KEYS = ("read_accounting", "train_log", "dbrda_marginal", "dbrda_forward", "varpart", "cv_metrics",
              "predictions", "importances", "encoder_quality", "excluded", "dbrda_conditional", "dbrda_season",
              "dbrda_anomalies", "dbrda_lagged", "season_baseline", "profile_comparison", "trends", "time_lag")
_ID_COLUMNS = {c: str for c in ("sample", "cruise", "station", "profile", "transformation", "direction", "target",
                                "model", "variable", "feature", "fraction", "kind", "label", "representation",
                                "metric", "group_by", "groups", "item", "reason", "cv", "folds", "permutation",
                                "profile_a", "profile_b", "series", "test", "trend", "main_predictors", "stop_reason")}


def read_table(path: str | os.PathLike, *, index: bool = False) -> pd.DataFrame:
    """A TSV (id columns as text, "NA"/empty = missing) or Parquet table; ``index``: first column = sample."""
    path = Path(path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        if index and "sample" not in frame.columns and frame.index.name != "sample":
            frame.index.name = "sample"
        return frame
    try:
        frame = pd.read_csv(path, sep="\t", dtype=_ID_COLUMNS, na_values=["NA", ""], keep_default_na=True)
    except pd.errors.EmptyDataError as err:
        if index:
            raise PlanktonlmInputError(InputProblem(file=str(path), message=f"cannot read table: {err}",
                                                    expected="a tab-separated table with a header")) from err
        return pd.DataFrame()  # a table with no rows and not even a header: nothing to show
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise PlanktonlmInputError(InputProblem(file=str(path), message=f"cannot read table: {err}",
                                                expected="a tab-separated table with a header")) from err
    if index:
        first = frame.columns[0]
        frame[first] = frame[first].astype(str)
        frame = frame.set_index(first)
        frame.index.name = "sample"
    return frame


def _exists(path: Any, key: str) -> bool:
    if path is None or path == "":
        return False
    if not Path(path).exists():
        logger.warning("report: %s input %s does not exist; its section will say 'not available'", key, path)
        return False
    return True


def _named_paths(value: Any) -> dict[str, Any]:
    """A dict name -> path, or a list of paths named by their file stem."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (str, os.PathLike)):
        value = [value]
    return {Path(p).name.split(".")[0]: p for p in value}


def _read_json(value: Any, key: str) -> dict | None:
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    if not _exists(value, key):
        return None
    try:
        return json.loads(Path(value).read_text())
    except json.JSONDecodeError as err:
        raise PlanktonlmInputError(InputProblem(file=str(value), message=f"invalid JSON: {err}",
                                                expected="a JSON object")) from err


def _split_pcoa(long: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """A long PCoA table (profile, metric, sample, PCo1...) -> (profile, metric) -> coordinates."""
    return {(profile, metric): part.drop(columns=["profile", "metric"]).set_index("sample")
            for (profile, metric), part in long.groupby(["profile", "metric"], sort=True)}


def _split_explained(table: pd.DataFrame) -> dict[tuple[str, str], list[float]]:
    """A long table (profile, metric, axis, explained_ratio) -> (profile, metric) -> ratios by axis."""
    explained = {}
    for (profile, metric), part in table.groupby(["profile", "metric"], sort=True):
        axis = part["axis"].astype(str).str.extract(r"(\d+)$", expand=False).astype(float)
        explained[(profile, metric)] = [float(v) for v in part.assign(_a=axis).sort_values("_a")["explained_ratio"]]
    return explained


def load_report_inputs(paths: Mapping[str, Any]) -> ReportInputs:
    """Read the report's inputs from a dict of named paths (absent optional files -> None).

    Keys: ``samples`` (required, TSV, first column sample); the tables of ``TABLE_KEYS`` (TSV or
    .parquet; any may be absent, as in older result folders, or empty); JSON ``model_info`` and
    ``provenance`` (or dicts); ``profiles`` and ``alpha`` (dict name -> path, or a list of paths
    named by file stem; first column = sample); ``pcoa`` (dict "profile/metric" or (profile,
    metric) -> path of a table indexed by sample, or one long table with columns profile,
    metric, sample, PCo1...); ``pcoa_explained`` (TSV: profile, metric, axis, explained_ratio);
    literals ``env_columns`` (list) and ``title`` (str).
    """
    unknown = set(paths) - set(TABLE_KEYS) - {"samples", "model_info", "provenance", "profiles", "alpha", "pcoa",
                                             "pcoa_explained", "env_columns", "title"}
    if unknown:
        raise PlanktonlmInputError([InputProblem(file="report inputs", column=k, message="unknown input name",
                                                 expected="one of the names in load_report_inputs' docstring")
                                    for k in sorted(unknown)])
    if not paths.get("samples") or not Path(paths["samples"]).exists():
        raise PlanktonlmInputError(InputProblem(file=str(paths.get("samples")), message="samples table not found",
                                                expected="the path of samples.tsv"))
    tables = {key: read_table(paths[key]) for key in TABLE_KEYS if _exists(paths.get(key), key)}
    profiles = {name: read_table(p, index=True) for name, p in sorted(_named_paths(paths.get("profiles")).items())
                if _exists(p, f"profiles[{name}]")}
    alpha = {name: read_table(p, index=True) for name, p in sorted(_named_paths(paths.get("alpha")).items())
             if _exists(p, f"alpha[{name}]")}
    pcoa: dict[tuple[str, str], pd.DataFrame] = {}
    source = paths.get("pcoa")
    if isinstance(source, Mapping):
        for key, p in source.items():
            pair = tuple(key) if isinstance(key, tuple) else tuple(str(key).split("/", 1))
            if len(pair) == 2 and _exists(p, f"pcoa[{key}]"):
                pcoa[(str(pair[0]), str(pair[1]))] = read_table(p, index=True)
    elif _exists(source, "pcoa"):
        pcoa = _split_pcoa(read_table(source))
    explained = None
    if _exists(paths.get("pcoa_explained"), "pcoa_explained"):
        explained = _split_explained(read_table(paths["pcoa_explained"]))
    return ReportInputs(
        samples=read_table(paths["samples"], index=True),
        env_columns=list(paths["env_columns"]) if paths.get("env_columns") is not None else None,
        model_info=_read_json(paths.get("model_info"), "model_info"),
        provenance=_read_json(paths.get("provenance"), "provenance"),
        profiles=profiles or None, alpha=alpha or None, pcoa=pcoa or None, pcoa_explained=explained,
        title=str(paths.get("title") or "planktonlm report"),
        **{key: tables.get(key) for key in TABLE_KEYS},
    )


# ----------------------------------------------------------------------------------------------
# the report rule's inputs


def _per_profile(named: Mapping[str, Any], prefix: str) -> pd.DataFrame | None:
    """Per-profile tables named ``<prefix><profile>`` (e.g. pcoa_embedding), stacked with a
    ``profile`` column; None when there are none."""
    parts = [read_table(path).assign(profile=profile) for profile, path in sorted(_by_prefix(named, prefix).items())
             if Path(path).exists()]
    return pd.concat(parts, ignore_index=True) if parts else None


def _by_prefix(named: Mapping[str, Any], prefix: str) -> dict[str, str]:
    """{profile: path} of the inputs named ``<prefix><profile>``."""
    return {k[len(prefix):]: str(v) for k, v in named.items() if k.startswith(prefix)}


def inputs_from_results(named: Mapping[str, Any], *, seed: int | None, checkpoint: str) -> ReportInputs:
    """The inputs of the report rule -> :class:`ReportInputs`.

    ``named``: ``cube``; the tables of ``TABLE_KEYS`` that the run made (read_accounting,
    train_log, the shifts tables); per-profile ecology tables ``alpha_<profile>``,
    ``pcoa_<profile>``, ``pcoa_axes_<profile>``. ``checkpoint``: config model.checkpoint (""
    = the model was trained in this run).
    """
    cube = read_cube(named["cube"])
    environment = environment_table(cube)
    samples = sample_metadata(cube).join(environment)
    samples["datetime"] = samples["datetime"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    pcoa = _per_profile({k: v for k, v in named.items() if not k.startswith("pcoa_axes_")}, "pcoa_")
    axes = _per_profile(named, "pcoa_axes_")
    inputs = ReportInputs(
        samples=samples,
        env_columns=list(environment.columns),
        profiles={name: profile_table(cube, name) for name in profile_names(cube)},
        alpha={name: read_table(p, index=True) for name, p in sorted(_by_prefix(named, "alpha_").items())
               if _exists(p, f"alpha[{name}]")} or None,
        pcoa=_split_pcoa(pcoa) if pcoa is not None else None,
        pcoa_explained=_split_explained(axes) if axes is not None else None,
        novelty=novelty_table(cube),
        **{key: read_table(named[key]) if _exists(named.get(key), key) else None for key in TABLE_KEYS},
    )
    attrs = cube.attrs
    model_sha = str(attrs.get("model_sha256", ""))
    inputs.model_info = {"reused": bool(checkpoint), "checkpoint": checkpoint, "sha256": model_sha} if model_sha else None
    inputs.provenance = {
        "planktonlm": str(attrs.get("created_by", "")),
        "seed": seed,
        "config_sha256": str(attrs.get("config_sha256", "")),
        "model_sha256": model_sha,
        "input_sha256": json.loads(attrs.get("input_sha256", "{}")),
        "package_versions": json.loads(attrs.get("package_versions", "{}")),
    }
    return inputs
