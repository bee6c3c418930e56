"""Synthetic stage outputs of a small cruise (30 samples, two profiles, every statistics table) for the report tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planktonlm.config import build_config
from planktonlm.report import ReportConfig, ReportInputs

ENV = ["temperature_c", "ph", "oxygen_umol_kg"]
# Small, coarse figures for the tests that check text, not pictures (rendering dominates test time).
COMPACT = build_config(ReportConfig, "report", dpi=30, n_top_otus=2, n_top_features=3, max_ordinations=1,
                       max_otu_profiles=1)
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
