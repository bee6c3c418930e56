"""Simulate the small reference cruise used by the vegan comparison fixtures.

Run from the repository root::

    .venv/bin/python tests/reference/make_cruise.py

It writes ``tests/reference/fixtures/cruise_samples.tsv`` and ``cruise_counts.tsv``.
numpy only (no planktonlm imports) and seeded, so the output is reproducible; the
committed files are what ``vegan_reference.R`` reads, so rerun that script after
changing this one.

Design: 4 stations (one depth each) x 12 monthly dates (the 15th of every month of
2021, the same calendar at every station) = 48 samples, sorted by station then time.
Environment: ``temperature_c`` (seasonal sine + station offset + noise), ``ph``
(weakly tied to temperature), ``salinity_psu`` (station offset + noise),
``noise_index`` (pure noise).  Community: 20 taxa whose log-abundances respond
linearly to temperature and (more weakly) to salinity and pH, plus AR(1) noise along time within each station, turned into
counts by multinomial sampling of 2000 reads per sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEED = 20210115
N_TAXA = 20
DEPTH = 2000
STATIONS = ("ST01", "ST02", "ST03", "ST04")
STATION_TEMP_OFFSET = (-2.0, -0.5, 0.8, 2.2)
STATION_SAL_OFFSET = (34.2, 34.9, 35.3, 36.0)
AR_PHI = 0.6
OUT = Path(__file__).resolve().parent / "fixtures"


def simulate(seed: int = SEED):
    rng = np.random.default_rng(seed)
    months = np.arange(1, 13)
    season = np.sin(2.0 * np.pi * (months - 3) / 12.0)  # warmest around June
    slopes = rng.normal(0.0, 0.35, size=N_TAXA)  # log-abundance per degree C
    sal_slopes = rng.normal(0.0, 0.5, size=N_TAXA)  # log-abundance per psu
    ph_slopes = rng.normal(0.0, 6.0, size=N_TAXA)  # log-abundance per pH unit
    intercepts = rng.normal(0.0, 1.0, size=N_TAXA)
    samples, counts = [], []
    for s, station in enumerate(STATIONS):
        temp = 16.0 + 5.0 * season + STATION_TEMP_OFFSET[s] + rng.normal(0.0, 0.6, size=12)
        ph = 8.15 - 0.012 * (temp - 16.0) + rng.normal(0.0, 0.04, size=12)
        sal = STATION_SAL_OFFSET[s] + rng.normal(0.0, 0.4, size=12)
        noise_index = rng.normal(0.0, 1.0, size=12)
        # AR(1) noise in time, one series per taxon, stationary start
        eps = np.empty((12, N_TAXA))
        eps[0] = rng.normal(0.0, 0.5 / np.sqrt(1 - AR_PHI**2), size=N_TAXA)
        for t in range(1, 12):
            eps[t] = AR_PHI * eps[t - 1] + rng.normal(0.0, 0.5, size=N_TAXA)
        for t, month in enumerate(months):
            log_ab = intercepts + slopes * (temp[t] - 16.0) + sal_slopes * (sal[t] - 35.0)
            log_ab = log_ab + ph_slopes * (ph[t] - 8.15) + eps[t]
            prob = np.exp(log_ab - log_ab.max())
            prob /= prob.sum()
            counts.append(rng.multinomial(DEPTH, prob))
            samples.append(
                {
                    "sample": f"{station}_2021{month:02d}15",
                    "station": station,
                    "datetime": f"2021-{month:02d}-15T00:00:00Z",
                    "temperature_c": temp[t],
                    "ph": ph[t],
                    "salinity_psu": sal[t],
                    "noise_index": noise_index[t],
                }
            )
    return samples, np.asarray(counts)


def main() -> None:
    samples, counts = simulate()
    OUT.mkdir(parents=True, exist_ok=True)
    env_cols = ("temperature_c", "ph", "salinity_psu", "noise_index")
    with open(OUT / "cruise_samples.tsv", "w") as fh:
        fh.write("\t".join(("sample", "station", "datetime") + env_cols) + "\n")
        for row in samples:
            values = [row["sample"], row["station"], row["datetime"]]
            values += [repr(float(row[c])) for c in env_cols]
            fh.write("\t".join(values) + "\n")
    taxa = [f"taxon_{j + 1:02d}" for j in range(N_TAXA)]
    with open(OUT / "cruise_counts.tsv", "w") as fh:
        fh.write("\t".join(["sample"] + taxa) + "\n")
        for row, c in zip(samples, counts):
            fh.write("\t".join([row["sample"]] + [str(int(v)) for v in c]) + "\n")


if __name__ == "__main__":
    main()
