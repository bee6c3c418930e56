"""The environment of a cruise (its samples.tsv): seasons, a thermocline, chemistry, noise and decoys.

Temperature comes from a seasonal cycle, a station offset and a seasonal thermocline; pressure
from depth; salinity, oxygen (solubility falls with temperature), pH and chlorophyll each with
their own structure and noise; ``noise_index`` is pure noise, drawn from a stream nothing else
uses. With ``decoy_phi`` set, ``decoy_index`` is autocorrelated noise (an AR(1) series per
station over its sampling dates) that drives nothing. Pure and fast: no genome, no read.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from planktonlm.seeding import random_stream
from planktonlm.simulate.design import CruiseDesign, Station, month_start, validate_design
from planktonlm.simulate.streams import STREAM_DECOY, STREAM_ENV, STREAM_NOISE_INDEX

# Sub-streams of STREAM_ENV, one per variable.
_ENV_TIME, _ENV_TEMP, _ENV_PRESSURE, _ENV_SALINITY, _ENV_OXYGEN, _ENV_PH, _ENV_CHL = range(7)


def _sampling_events(design: CruiseDesign, seed: int) -> list[tuple[Station, float, dt.datetime]]:
    """(station, depth, cast time) for every sample; all depths of a cast share its time."""
    year, month = month_start(design.first_month)
    jitter = random_stream(seed, STREAM_ENV, _ENV_TIME).integers(-45, 46, size=(len(design.stations), design.n_dates))
    events = []
    for i, station in enumerate(design.stations):
        for depth in design.depths_m:
            for k in range(design.n_dates):
                m = month - 1 + k * design.months_between
                minutes = round(station.cast_hour_utc * 60) + int(jitter[i, k])
                when = dt.datetime(year + m // 12, m % 12 + 1, 15, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
                events.append((station, depth, when))
    return events


def _sample_ids(events: list[tuple[Station, float, dt.datetime]]) -> list[str]:
    by_month = [f"{s.name}_D{d:g}_{t:%Y-%m}" for s, d, t in events]
    if len(set(by_month)) == len(by_month):
        return by_month
    return [f"{s.name}_D{d:g}_{t:%Y-%m-%d}" for s, d, t in events]


def saunders_pressure_dbar(depth_m: np.ndarray, latitude: np.ndarray) -> np.ndarray:
    """Sea pressure from depth (Saunders 1981), about 1.007 dbar per m near the surface."""
    c1 = (5.92 + 5.25 * np.sin(np.radians(latitude)) ** 2) * 1e-3
    return ((1 - c1) - np.sqrt((1 - c1) ** 2 - 8.84e-6 * depth_m)) / 4.42e-6


def oxygen_solubility_umol_kg(temperature_c: np.ndarray, salinity_psu: np.ndarray) -> np.ndarray:
    """Oxygen saturation concentration (Garcia & Gordon 1992, Benson & Krause fit)."""
    ts = np.log((298.15 - temperature_c) / (273.15 + temperature_c))
    a = (5.80871, 3.20291, 4.17887, 5.10006, -9.86643e-2, 3.80369)
    b = (-7.01577e-3, -7.70028e-3, -1.13864e-2, -9.51519e-3)
    ln_c = sum(coef * ts**i for i, coef in enumerate(a))
    ln_c += salinity_psu * sum(coef * ts**i for i, coef in enumerate(b)) - 2.75915e-7 * salinity_psu**2
    return np.exp(ln_c)


ENVIRONMENT_MODEL = {
    "temperature_c": "deep + (SST - deep) * exp(-max(depth - MLD, 0) / 40 m); SST = station mean + "
    "amplitude * cos(2 pi (doy - 235) / 365.25); mixed-layer depth MLD from 20 m (mid-September) to the "
    "station's winter depth (mid-March); + N(0, 0.3) C",
    "ph": "8.06 + station offset - 0.012 (T - station mean SST) - 0.06 (below mixed layer) + 0.03 bloom; "
    "+ N(0, 0.015)",
    "pressure_dbar": "Saunders (1981) pressure of depth at the station latitude + N(0, 0.1) dbar",
    "salinity_psu": "station salinity + 0.15 season (summer evaporation, in the mixed layer) "
    "- 0.1 (below the mixed layer) + N(0, 0.02)",
    "oxygen_umol_kg": "O2 solubility(T, S) (Garcia & Gordon 1992) x saturation (1.01 in the mixed layer, "
    "0.92 below) + N(0, 3) umol/kg",
    "chlorophyll_mg_m3": "station base x (1 + bloom amplitude x exp(-((doy - 110) / 30)^2)) x "
    "(1 in the mixed layer, DCM ratio below) x lognormal(0, 0.25)",
    "noise_index": "pure noise: N(0, 1) from a random stream nothing else uses; drives nothing",
}
DECOY_VARIABLE = "decoy_index"


def environment_model(design: CruiseDesign) -> dict[str, str]:
    """How each column of the design's samples.tsv is made (ENVIRONMENT_MODEL, plus the decoy if any)."""
    model = dict(ENVIRONMENT_MODEL)
    if design.decoy_phi is not None:
        model[DECOY_VARIABLE] = (
            f"autocorrelated noise: per station an AR(1) series over its sampling dates, x_t = {design.decoy_phi} "
            f"x_(t-1) + sqrt(1 - {design.decoy_phi}^2) N(0, 1), started from N(0, 1); shared by the station's "
            "depths; from a random stream nothing else uses; drives nothing"
        )
    return model


def ar1_series(rng: np.random.Generator, n_steps: int, phi: float, sd: float = 1.0,
               size: int | tuple[int, ...] = ()) -> np.ndarray:
    """Stationary AR(1) series, shape (n_steps, *size): x_t = phi x_(t-1) + sqrt(1 - phi^2) sd e_t.

    x_0 is drawn from the stationary distribution N(0, sd^2), so every x_t has sd ``sd`` and
    corr(x_t, x_(t+k)) = phi^k.
    """
    shape = (n_steps,) + ((int(size),) if isinstance(size, (int, np.integer)) else tuple(size))
    shocks = rng.normal(0.0, 1.0, shape)
    x = np.empty(shape)
    if n_steps == 0:
        return x
    x[0] = sd * shocks[0]
    innovation = np.sqrt(1.0 - phi**2) * sd
    for t in range(1, n_steps):
        x[t] = phi * x[t - 1] + innovation * shocks[t]
    return x


def simulate_environment(design: CruiseDesign, seed: int) -> pd.DataFrame:
    """The sample sheet (samples.tsv) of a cruise design: pure, fast, independent of the reads."""
    validate_design(design)
    events = _sampling_events(design, seed)
    n = len(events)
    station = [s for s, _, _ in events]
    depth = np.array([d for _, d, _ in events], dtype=float)
    lat = np.array([s.latitude for s in station])
    lon = np.array([s.longitude for s in station])
    when = [t for _, _, t in events]
    doy = np.array([t.timetuple().tm_yday + t.hour / 24 for t in when], dtype=float)
    # Southern-hemisphere seasons run half a year later.
    doy = np.where(lat < 0, doy + 365.25 / 2, doy)

    def col(attr: str) -> np.ndarray:
        return np.array([getattr(s, attr) for s in station], dtype=float)

    season = np.cos(2 * np.pi * (doy - 235) / 365.25)  # +1 late August, -1 late February
    mixing = (1 + np.cos(2 * np.pi * (doy - 75) / 365.25)) / 2  # 1 mid-March, 0 mid-September
    mld = np.exp(np.log(20.0) + mixing * (np.log(col("winter_mixed_layer_m")) - np.log(20.0)))
    in_mixed_layer = np.exp(-np.maximum(depth - mld, 0.0) / 40.0)  # 1 inside, -> 0 below
    bloom = np.exp(-(((doy - 110) / 30) ** 2))

    sst = col("surface_temp_c") + col("seasonal_amplitude_c") * season
    temperature = col("deep_temp_c") + (sst - col("deep_temp_c")) * in_mixed_layer
    temperature += random_stream(seed, STREAM_ENV, _ENV_TEMP).normal(0, 0.3, n)

    pressure = saunders_pressure_dbar(depth, lat) + random_stream(seed, STREAM_ENV, _ENV_PRESSURE).normal(0, 0.1, n)
    pressure = np.maximum(pressure, 0.0)

    salinity = col("salinity_psu") + 0.15 * season * in_mixed_layer - 0.1 * (1 - in_mixed_layer)
    salinity += random_stream(seed, STREAM_ENV, _ENV_SALINITY).normal(0, 0.02, n)

    saturation = 0.92 + 0.09 * in_mixed_layer
    oxygen = oxygen_solubility_umol_kg(temperature, salinity) * saturation
    oxygen += random_stream(seed, STREAM_ENV, _ENV_OXYGEN).normal(0, 3.0, n)

    ph = 8.06 + col("ph_offset") - 0.012 * (temperature - col("surface_temp_c"))
    ph += -0.06 * (1 - in_mixed_layer) + 0.03 * bloom * in_mixed_layer
    ph += random_stream(seed, STREAM_ENV, _ENV_PH).normal(0, 0.015, n)

    chlorophyll = col("chlorophyll_mg_m3") * (1 + col("bloom_amplitude") * bloom)
    chlorophyll *= in_mixed_layer + (1 - in_mixed_layer) * col("dcm_ratio")
    chlorophyll *= np.exp(random_stream(seed, STREAM_ENV, _ENV_CHL).normal(0, 0.25, n))

    noise_index = random_stream(seed, STREAM_NOISE_INDEX).normal(0, 1, n)

    extra = {}
    if design.decoy_phi is not None:
        # Events run station, depth, date: row r is station r // (depths x dates), date r % dates.
        per_station = len(design.depths_m) * design.n_dates
        rows = np.arange(n)
        decoy = np.stack([ar1_series(random_stream(seed, STREAM_DECOY, i), design.n_dates, design.decoy_phi)
                          for i in range(len(design.stations))])
        extra[DECOY_VARIABLE] = np.round(decoy[rows // per_station, rows % design.n_dates], 3)

    return pd.DataFrame(
        {
            "sample": _sample_ids(events),
            "cruise": design.cruise,
            "station": [s.name for s in station],
            "datetime": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in when],
            "latitude": np.round(lat, 4),
            "longitude": np.round(lon, 4),
            "depth_m": depth,
            "temperature_c": np.round(temperature, 3),
            "ph": np.round(ph, 3),
            "pressure_dbar": np.round(pressure, 2),
            "salinity_psu": np.round(salinity, 3),
            "oxygen_umol_kg": np.round(oxygen, 1),
            "chlorophyll_mg_m3": np.round(chlorophyll, 3),
            "noise_index": np.round(noise_index, 3),
            **extra,
        }
    )
