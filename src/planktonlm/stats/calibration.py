"""Calibration of the shifts statistics on simulated time series (``planktonlm bench stats-null``).

A p-value is only worth its design: on cruises whose community is an autocorrelated walk that
nothing drives, the tests at alpha = 0.05 must reject about 5 % of the time; on cruises whose
community follows temperature niches they should reject often (power). Each simulated cruise is a
monthly design (stations x 2 depth layers x months; seasonal environment, an autocorrelated decoy
variable) from :func:`planktonlm.simulate.design.monthly_design`, made into read counts, then tested as
the shifts stage tests a profile: dbRDA marginal tests (Bray-Curtis) of every environmental
variable, and the permutation test of the cross-validated R2 of temperature predicted from the
Hellinger-transformed community (ridge, grouped time-aware folds). Each test runs under the
design-respecting scheme (``auto``) and, for comparison, under free permutations (what the
statistics did before: samples exchangeable).
"""

from __future__ import annotations

import itertools

import pandas as pd
from joblib import Parallel, delayed

from planktonlm.seeding import derive_seed
from planktonlm.simulate.community import simulate_tables
from planktonlm.simulate.design import monthly_design
from planktonlm.stats.crossval import cross_validate, make_model
from planktonlm.stats.dbrda import DbRDA
from planktonlm.stats.folds import make_fold_plan
from planktonlm.stats.permutations import RestrictedPermutation, SamplingDesign
from planktonlm.stats.transforms import community_distance, hellinger

META_COLUMNS = ("cruise", "station", "datetime", "latitude", "longitude", "depth_m")
TEMPERATURE = "temperature_c"


def test_cruise(phi: float, n_stations: int, n_months: int, community: str, replicate: int, *, seed: int,
                schemes: tuple[str, ...], n_permutations: int, alpha: float) -> list[dict]:
    """Simulate one cruise and test it under each permutation scheme; one row per scheme."""
    design = monthly_design(n_stations, n_months, community_model=community, ar1_phi=phi, decoy_phi=phi)
    samples, counts = simulate_tables(design, derive_seed(seed, *map(str, (phi, n_stations, n_months, community, replicate))))
    meta = samples[list(META_COLUMNS)]
    env = samples.drop(columns=list(META_COLUMNS)).assign(depth_m=samples["depth_m"])
    sampling = SamplingDesign.from_frame(meta)
    distances = community_distance(counts, "braycurtis").to_numpy()
    features = hellinger(counts).to_numpy()
    y = env[TEMPERATURE].to_numpy(dtype=float)
    plan = make_fold_plan(meta, sampling, "auto", n_splits=5, n_repeats=1, seed=replicate)
    ridge = make_model("ridge", n_samples=len(y), n_features=features.shape[1], seed=0,
                       ridge_alphas=tuple(10.0**k for k in range(-2, 9)))
    rows = []
    for scheme in schemes:
        est = DbRDA(n_permutations=n_permutations, permutation=scheme, forward=False, random_state=replicate)
        marginal = est.fit(distances, env, design=sampling).marginal_
        tested = marginal[marginal["testable"].astype(bool)]
        perms = RestrictedPermutation(sampling, scheme).draw(n_permutations, replicate + 1)
        cv = cross_validate(ridge, features, y, plan, perms=perms)
        rows.append(dict(
            phi=phi, stations=n_stations, months=n_months, community=community, replicate=replicate, scheme=scheme,
            dbrda_temperature=bool(tested.loc[tested["variable"] == TEMPERATURE, "p_value"].le(alpha).any()),
            dbrda_rejected=int((tested["p_value"] <= alpha).sum()), dbrda_tests=len(tested),
            cv_rejected=bool(cv.p_perm <= alpha), cv_r2=float(cv.r2[0]), description=est.permutation_description_,
            folds=plan.describe()))
    return rows


def calibrate(*, n_per_cell: int = 25, phis: tuple[float, ...] = (0.5, 0.85), stations: tuple[int, ...] = (3, 6),
              months: tuple[int, ...] = (24, 48), schemes: tuple[str, ...] = ("auto", "free"), n_permutations: int = 199,
              alpha: float = 0.05, seed: int = 1, n_jobs: int = 1, driven: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-cruise rows and a summary (rejection rate of each test per scheme, null and driven)."""
    communities = ("ar1", "niches") if driven else ("ar1",)
    jobs = list(itertools.product(phis, stations, months, communities, range(n_per_cell)))
    parts = Parallel(n_jobs=n_jobs)(
        delayed(test_cruise)(phi, s, m, c, r, seed=seed, schemes=schemes, n_permutations=n_permutations, alpha=alpha)
        for phi, s, m, c, r in jobs)
    rows = pd.DataFrame([row for part in parts for row in part])
    summary = summarise(rows)
    return rows, summary


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Rejection rates per (community, scheme), overall and per design cell."""
    out = []
    keys = ["community", "scheme"]
    for cell_keys, frame in [((), rows)] + [((p, s, m), f) for (p, s, m), f in rows.groupby(["phi", "stations", "months"])]:
        for (community, scheme), block in frame.groupby(keys, sort=True):
            out.append(dict(
                cell="all" if not cell_keys else f"phi {cell_keys[0]}, {cell_keys[1]} stations, {cell_keys[2]} months",
                community="null (AR(1), no driver)" if community == "ar1" else "driven (temperature niches)",
                scheme=scheme, cruises=len(block),
                dbrda_temperature=round(float(block["dbrda_temperature"].mean()), 3),
                dbrda_all_tests=round(float(block["dbrda_rejected"].sum() / max(block["dbrda_tests"].sum(), 1)), 3),
                cv_perm_test=round(float(block["cv_rejected"].mean()), 3)))
    return pd.DataFrame(out)
