"""Cruise simulator: real marine genomes x a cruise design -> reads, sample sheet and truth.

``planktonlm simulate`` writes a complete planktonlm input set, plus the truth that made it::

    <outdir>/samples.tsv            one row per sample: station, time, position, depth, environment
    <outdir>/units.tsv              one row per sequencing run: sample, unit, fq1, fq2
    <outdir>/reads/<sample>_<unit>_R{1,2}.fastq.gz    paired Illumina-like reads
    <outdir>/truth/                 what the workflow must never read (see TRUTH_FILES)
    <outdir>/.complete              manifest (sha256 of every file), written last

The simulation has three independent layers, each seeded from its own stream of the one seed:

1. environment (``simulate_environment``): temperature from a seasonal cycle, a station offset
   and a seasonal thermocline; pressure from depth; salinity, oxygen (solubility falls with
   temperature), pH and chlorophyll each with their own structure and noise; ``noise_index`` is
   pure noise, drawn from a stream nothing else uses. With ``decoy_phi`` set, ``decoy_index`` is
   autocorrelated noise (an AR(1) series per station over its sampling dates) that drives nothing.
2. community (``community_model``):
   "niches" (``simulate_community``): each genome has a niche (``NICHES``: thermal optimum and
   width, depth preference, pH slope); relative abundance = niche response x log-normal noise,
   normalised per sample. Temperature is the strongest driver (``driver_strengths`` measures it).
   "ar1" (``simulate_ar1_community``): a null community that nothing in the environment drives
   but that is autocorrelated in time: per station, each genome's log abundance is an AR(1) walk
   over the station's sampling dates, plus a fixed per-genome offset per depth layer.
3. reads (``simulate_read_pairs``): fragments drawn in proportion to abundance x genome length,
   on both strands, never across a contig end or an N run; Illumina-like position-dependent
   substitution errors sampled from the Phred qualities written; adapter read-through for short
   inserts. Read ids are ``<sample>.<n>`` in random order and say nothing about the genome.

Same seed, same files, byte for byte (gzip with mtime 0 and a fixed level). The output folder is
built beside the target and renamed into place, so a crash never leaves a folder that looks done.

For benchmarks that need hundreds of cruises without reads, ``simulate_tables`` gives the sample
sheet and multinomial read counts per genome straight from the true abundances (no genome files),
and ``monthly_design`` builds a monthly design of any number of stations and months.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Iterator

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError

try:  # ISA-L gzip is ~4x faster than zlib and deterministic with mtime=0 (same writes, same bytes).
    from isal import igzip as _gzip

    GZIP_BACKEND = "isal.igzip"
except ImportError:  # pragma: no cover - isal ships with cutadapt/xopen on x86-64 and arm64
    import gzip as _gzip

    GZIP_BACKEND = "gzip"

logger = logging.getLogger(__name__)

GZIP_LEVEL = 1
# Reads are generated and written in batches of this many pairs: memory stays bounded and,
# since the batch size is fixed, the random draws (and so the bytes) do not depend on anything else.
BATCH_PAIRS = 50_000
DEFAULT_GENOMES_DIR = Path("resources/genomes")
GENOME_SUFFIXES = (".fna.gz", ".fa.gz", ".fasta.gz", ".fna", ".fa", ".fasta")

# Illumina TruSeq adapters as read through past a short insert: adapter, index/primer, then the
# poly-G that two-colour instruments report once there is no template left.
ADAPTER_R1 = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"
ADAPTER_R2 = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT"
_READ_THROUGH_R1 = ADAPTER_R1 + "CATCACGATCTCGTATGCCGTCTTCTGCTTG"
_READ_THROUGH_R2 = ADAPTER_R2 + "AGATCTCGGTGGTCGCCGTATCATT"

# Base codes: 0..3 = A C G T, 4 = N (anything that is not ACGT in a genome).
_CODE_N = 4
_ASCII = np.frombuffer(b"ACGTN", dtype=np.uint8)
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
_ENCODE = np.full(256, _CODE_N, dtype=np.uint8)
for _code, _letter in enumerate(b"ACGT"):
    _ENCODE[_letter] = _code
    _ENCODE[ord(chr(_letter).lower())] = _code

Q_MIN, Q_MAX = 2, 41
_ERROR_PROB = (10.0 ** (-np.arange(Q_MAX + 1) / 10.0)).astype(np.float32)  # Phred -> P(error)

# Independent random streams (SeedSequence spawn keys): changing one layer never moves another.
_STREAM_ENV, _STREAM_NOISE_INDEX, _STREAM_NICHE, _STREAM_COMMUNITY, _STREAM_READS = range(1, 6)
# Added later, with new keys, so that the draws of the streams above never move.
_STREAM_DECOY, _STREAM_AR1, _STREAM_COUNTS = range(6, 9)
_AR1_DEPTH_OFFSETS, _AR1_STATION_WALK = range(2)
_ENV_TIME, _ENV_TEMP, _ENV_PRESSURE, _ENV_SALINITY, _ENV_OXYGEN, _ENV_PH, _ENV_CHL = range(7)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


# --------------------------------------------------------------------------------------------
# cruise designs


@dataclass(frozen=True)
class Station:
    """A sampling station and the physical setting that shapes its water column."""

    name: str
    latitude: float
    longitude: float
    surface_temp_c: float  # annual mean sea-surface temperature
    seasonal_amplitude_c: float  # half the annual SST range (warmest late August)
    deep_temp_c: float  # temperature far below the seasonal thermocline
    winter_mixed_layer_m: float  # deepest mixing (mid-March); summer mixed layer is 20 m
    salinity_psu: float
    ph_offset: float  # station offset from a surface pH of 8.06
    chlorophyll_mg_m3: float  # surface chlorophyll outside the bloom
    bloom_amplitude: float  # spring-bloom (mid-April) multiplier of surface chlorophyll
    dcm_ratio: float  # chlorophyll below the mixed layer / surface (>1: deep chlorophyll maximum)
    cast_hour_utc: float  # usual CTD cast time


@dataclass(frozen=True)
class CruiseDesign:
    """Where, when and how deep a cruise samples, and how its reads are sequenced."""

    name: str
    cruise: str
    stations: tuple[Station, ...]
    depths_m: tuple[float, ...]
    first_month: str  # "YYYY-MM"; samples are taken on the 15th
    n_dates: int
    months_between: int = 1
    genomes: tuple[str, ...] | None = None  # None = every genome in the genomes folder
    reads_per_sample: int = 4000  # read pairs
    read_length: int = 100
    insert_mean: float = 300.0
    insert_sd: float = 30.0
    short_insert_fraction: float = 0.02  # inserts shorter than a read: adapter read-through
    two_unit_samples: int = 0  # samples sequenced in two runs (exercises merging of units)
    second_unit_fraction: float = 0.4
    community_noise_sd: float = 0.35  # sd of log-normal abundance noise
    sequencing_errors: bool = True  # False: qualities still written, bases error-free, no N
    error_rate_first: float = 0.0003  # R1 substitution rate at the 5' end (about Q35)
    error_rate_last: float = 0.006  # R1 substitution rate at the 3' end (about Q22)
    r2_error_factor: float = 1.6  # read 2 is worse than read 1
    n_rate: float = 0.0003  # per-base probability of an N call
    # Community model: "niches" (niche responses to temperature, depth and pH) or "ar1" (a null
    # community: no environmental driver, an AR(1) walk in time per station and genome, plus a
    # fixed per-genome offset per depth layer). ar1_* are read only by "ar1".
    community_model: str = "niches"
    ar1_phi: float = 0.85  # lag-1 autocorrelation of log abundance per sampling step
    ar1_sd: float = 1.0  # stationary sd of the walk (log abundance)
    ar1_depth_sd: float = 1.0  # sd of the fixed per-genome offset of each depth layer (0: layers alike)
    # None: no decoy. Else samples.tsv gains decoy_index, an AR(1) series per station (this lag-1
    # autocorrelation per sampling step, sd 1) that drives nothing.
    decoy_phi: float | None = None

    @property
    def n_samples(self) -> int:
        return len(self.stations) * len(self.depths_m) * self.n_dates


COMMUNITY_MODELS = ("niches", "ar1")
# Fields added after the first presets: design.json leaves them out while they hold these
# defaults, so that the files of a design that does not use them stay byte-identical.
_LATER_FIELD_DEFAULTS = {"community_model": "niches", "ar1_phi": 0.85, "ar1_sd": 1.0, "ar1_depth_sd": 1.0,
                         "decoy_phi": None}


NORTH_ATLANTIC_STATIONS = (
    # Subtropical gyre: warm, salty, oligotrophic, a deep chlorophyll maximum in summer.
    Station("ST1", 30.0, -40.0, 23.0, 2.5, 17.5, 120.0, 36.6, 0.0, 0.06, 1.0, 1.8, 8.0),
    # Ten degrees north: cooler, larger seasonal cycle, deep winter mixing, a spring bloom.
    Station("ST2", 40.0, -40.0, 17.5, 4.0, 12.0, 220.0, 35.9, 0.02, 0.25, 4.0, 0.5, 14.0),
)

# The demo's transect: four stations five degrees apart, from the subtropical gyre to the
# subpolar front. Neighbouring stations overlap in temperature (season, depth), so a model fitted
# on three stations is asked to interpolate, not extrapolate, when the fourth is held out.
NORTH_ATLANTIC_TRANSECT = (
    Station("ST1", 28.0, -40.0, 24.0, 2.0, 18.0, 100.0, 36.8, 0.0, 0.05, 1.0, 2.0, 8.0),
    Station("ST2", 33.0, -40.0, 21.5, 3.0, 16.0, 150.0, 36.5, 0.01, 0.10, 2.0, 1.5, 9.0),
    Station("ST3", 38.0, -40.0, 18.5, 3.5, 13.5, 200.0, 36.1, 0.02, 0.20, 3.0, 0.8, 10.0),
    Station("ST4", 43.0, -40.0, 16.0, 4.0, 11.5, 250.0, 35.7, 0.03, 0.30, 4.0, 0.5, 11.0),
)

TINY_GENOMES = (
    "prochlorococcus_marinus_MIT9312",
    "prochlorococcus_marinus_MIT9313",
    "pelagibacter_ubique_HTCC1062",
    "nitrosopumilus_maritimus_SCM1",
    "alteromonas_macleodii_TARA_ASE_MAG_00031",
    "cyanophage_P_SSP7",
)

PRESETS: dict[str, CruiseDesign] = {
    "demo": CruiseDesign(
        name="demo",
        cruise="NATL21",
        stations=NORTH_ATLANTIC_TRANSECT,
        depths_m=(5.0, 100.0),
        first_month="2021-01",
        n_dates=6,
        months_between=2,
        reads_per_sample=4000,
        two_unit_samples=4,
    ),
    "tiny": CruiseDesign(
        name="tiny",
        cruise="TINY21",
        stations=NORTH_ATLANTIC_STATIONS,
        depths_m=(5.0, 100.0),
        first_month="2021-02",
        n_dates=3,
        months_between=4,
        genomes=TINY_GENOMES,
        reads_per_sample=200,
        two_unit_samples=1,
    ),
}


def monthly_design(
    n_stations: int,
    n_months: int,
    *,
    depths: tuple[float, ...] = (5.0, 100.0),
    community_model: str = "niches",
    ar1_phi: float = 0.85,
    decoy_phi: float | None = None,
    start: str = "2020-01",
    **fields: object,
) -> CruiseDesign:
    """A design sampling ``n_stations`` stations at ``depths`` once a month for ``n_months`` months.

    The stations (ST1 ... STn at 40 W) are spread evenly over the demo transect's latitudes, 28 to
    43 N; their physical settings are interpolated between the transect's four stations, so four
    stations are exactly the demo's (one station: the transect's middle, 35.5 N). ``fields`` sets
    any other CruiseDesign field (name, cruise, genomes, ar1_sd, ar1_depth_sd, ...). The design is
    validated before it is returned.
    """
    if isinstance(n_stations, bool) or not isinstance(n_stations, (int, np.integer)) or n_stations < 0:
        raise PlanktonlmInputError(InputProblem(file="monthly_design", column="n_stations", value=n_stations,
                                                message="invalid value", expected="an integer >= 1"))
    anchors = NORTH_ATLANTIC_TRANSECT
    anchor_lat = np.array([s.latitude for s in anchors])
    if n_stations == 1:
        latitudes = np.array([anchor_lat.mean()])
    else:
        latitudes = np.linspace(anchor_lat[0], anchor_lat[-1], n_stations)
    numeric = [f.name for f in dataclasses.fields(Station) if f.name not in ("name", "latitude", "longitude")]
    stations = tuple(
        Station(
            name=f"ST{i + 1}",
            latitude=round(float(lat), 4),
            longitude=anchors[0].longitude,
            **{key: round(float(np.interp(lat, anchor_lat, [getattr(s, key) for s in anchors])), 4)
               for key in numeric},
        )
        for i, lat in enumerate(latitudes)
    )
    settings = {
        "name": f"monthly_{n_stations}x{n_months}",
        "cruise": "MONTHLY",
        "stations": stations,
        "depths_m": tuple(float(d) for d in depths),
        "first_month": start,
        "n_dates": n_months,
        "months_between": 1,
        "community_model": community_model,
        "ar1_phi": ar1_phi,
        "decoy_phi": decoy_phi,
    }
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(CruiseDesign)})
    if unknown:
        raise PlanktonlmInputError(InputProblem(file="monthly_design", column="fields", value=unknown,
                                                message="not a CruiseDesign field",
                                                expected="CruiseDesign field names"))
    design = CruiseDesign(**{**settings, **fields})
    validate_design(design)
    return design


def validate_design(design: CruiseDesign) -> None:
    """Refuse a design the simulator cannot honour, naming every problem at once."""
    where = f"cruise design '{design.name}'"
    problems = []

    def bad(column: str, value: object, expected: str) -> None:
        problems.append(
            InputProblem(file=where, column=column, value=value, message="invalid value", expected=expected)
        )

    if design.reads_per_sample < 1:
        bad("reads_per_sample", design.reads_per_sample, "at least 1 read pair per sample")
    if not 30 <= design.read_length <= 500:
        bad("read_length", design.read_length, "a read length of 30 to 500 bp")
    if design.insert_sd < 0 or design.insert_mean < 1:
        bad("insert_mean/insert_sd", (design.insert_mean, design.insert_sd), "a positive mean and non-negative sd")
    if design.n_dates < 1 or design.months_between < 1:
        bad("n_dates/months_between", (design.n_dates, design.months_between),
            "at least one date, at least 1 month apart")
    if not design.stations:
        bad("stations", (), "at least one station")
    depths = design.depths_m
    if not depths or any(d <= 0 for d in depths) or len(set(depths)) != len(depths):
        bad("depths_m", design.depths_m, "distinct depths greater than 0 m")
    names = [s.name for s in design.stations]
    if len(set(names)) != len(names) or any(not _is_safe_id(n) for n in names):
        bad("stations", names, "distinct station names of letters, digits, '.', '_', '-'")
    if not _is_safe_id(design.cruise):
        bad("cruise", design.cruise, "letters, digits, '.', '_', '-'")
    try:
        _month_start(design.first_month)
    except ValueError:
        bad("first_month", design.first_month, "YYYY-MM")
    if not 0 <= design.two_unit_samples <= design.n_samples:
        bad("two_unit_samples", design.two_unit_samples, f"0 to {design.n_samples} (the number of samples)")
    for key in ("short_insert_fraction", "second_unit_fraction", "n_rate", "error_rate_first", "error_rate_last"):
        value = getattr(design, key)
        if not 0 <= value < 1:
            bad(key, value, "a fraction in [0, 1)")
    if design.community_model not in COMMUNITY_MODELS:
        bad("community_model", design.community_model, f"one of {list(COMMUNITY_MODELS)}")
    if not _is_number(design.ar1_phi) or not 0 <= design.ar1_phi < 1:
        bad("ar1_phi", design.ar1_phi, "a lag-1 autocorrelation per sampling step in [0, 1)")
    if not _is_number(design.ar1_sd) or not 0 < design.ar1_sd < np.inf:
        bad("ar1_sd", design.ar1_sd, "a finite sd of log abundance greater than 0")
    if not _is_number(design.ar1_depth_sd) or not 0 <= design.ar1_depth_sd < np.inf:
        bad("ar1_depth_sd", design.ar1_depth_sd, "a finite sd of log abundance, 0 or more")
    if design.decoy_phi is not None and (not _is_number(design.decoy_phi) or not 0 <= design.decoy_phi < 1):
        bad("decoy_phi", design.decoy_phi, "None (no decoy) or a lag-1 autocorrelation per sampling step in [0, 1)")
    if problems:
        raise PlanktonlmInputError(problems)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_safe_id(text: str) -> bool:
    return bool(text) and all(c.isascii() and (c.isalnum() or c in "._-") for c in text)


def _month_start(text: str) -> tuple[int, int]:
    year, month = (int(part) for part in text.split("-"))
    if not 1 <= month <= 12:
        raise ValueError(text)
    return year, month


# --------------------------------------------------------------------------------------------
# environment


def _sampling_events(design: CruiseDesign, seed: int) -> list[tuple[Station, float, dt.datetime]]:
    """(station, depth, cast time) for every sample; all depths of a cast share its time."""
    year, month = _month_start(design.first_month)
    jitter = _rng(seed, _STREAM_ENV, _ENV_TIME).integers(-45, 46, size=(len(design.stations), design.n_dates))
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
    temperature += _rng(seed, _STREAM_ENV, _ENV_TEMP).normal(0, 0.3, n)

    pressure = saunders_pressure_dbar(depth, lat) + _rng(seed, _STREAM_ENV, _ENV_PRESSURE).normal(0, 0.1, n)
    pressure = np.maximum(pressure, 0.0)

    salinity = col("salinity_psu") + 0.15 * season * in_mixed_layer - 0.1 * (1 - in_mixed_layer)
    salinity += _rng(seed, _STREAM_ENV, _ENV_SALINITY).normal(0, 0.02, n)

    saturation = 0.92 + 0.09 * in_mixed_layer
    oxygen = oxygen_solubility_umol_kg(temperature, salinity) * saturation
    oxygen += _rng(seed, _STREAM_ENV, _ENV_OXYGEN).normal(0, 3.0, n)

    ph = 8.06 + col("ph_offset") - 0.012 * (temperature - col("surface_temp_c"))
    ph += -0.06 * (1 - in_mixed_layer) + 0.03 * bloom * in_mixed_layer
    ph += _rng(seed, _STREAM_ENV, _ENV_PH).normal(0, 0.015, n)

    chlorophyll = col("chlorophyll_mg_m3") * (1 + col("bloom_amplitude") * bloom)
    chlorophyll *= in_mixed_layer + (1 - in_mixed_layer) * col("dcm_ratio")
    chlorophyll *= np.exp(_rng(seed, _STREAM_ENV, _ENV_CHL).normal(0, 0.25, n))

    noise_index = _rng(seed, _STREAM_NOISE_INDEX).normal(0, 1, n)

    extra = {}
    if design.decoy_phi is not None:
        # Events run station, depth, date: row r is station r // (depths x dates), date r % dates.
        per_station = len(design.depths_m) * design.n_dates
        rows = np.arange(n)
        decoy = np.stack([ar1_series(_rng(seed, _STREAM_DECOY, i), design.n_dates, design.decoy_phi)
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


# --------------------------------------------------------------------------------------------
# community


@dataclass(frozen=True)
class Niche:
    """Where a genome thrives. log response = -(T-Topt)^2/(2 w^2) - (log10 z/zpref)^2/(2 s^2) + b (pH-8.05)."""

    genome: str
    group: str
    thermal_optimum_c: float
    thermal_width_c: float
    depth_preference_m: float
    depth_width_log10: float
    ph_slope: float  # change of log abundance per pH unit
    base_weight: float  # abundance at the optimum, relative to other genomes
    source: str = "documented"  # documented (NICHES) or random (drawn from the seed)
    note: str = ""


# Optima are set so that the cruise's temperature range (about 11-27 C) spans them: warm
# high-light ecotypes at the surface, cooler low-light ecotypes deeper, the archaeon deep and cold.
NICHES: dict[str, Niche] = {
    n.genome: n
    for n in (
        Niche("prochlorococcus_marinus_MED4", "Prochlorococcus HLI", 22.0, 3.5, 10.0, 0.8, 0.0, 3.0,
              note="high-light, surface; HLI reaches higher latitudes than HLII"),
        Niche("prochlorococcus_marinus_MIT9312", "Prochlorococcus HLII", 26.0, 3.5, 10.0, 0.8, 0.0, 3.0,
              note="high-light, warmest surface water of the gyres"),
        Niche("prochlorococcus_marinus_NATL2A", "Prochlorococcus LLI", 18.0, 4.0, 60.0, 0.7, 0.0, 1.5,
              note="low-light, tolerates deep mixing and cooler water"),
        Niche("prochlorococcus_marinus_SS120", "Prochlorococcus LLII", 21.0, 3.5, 110.0, 0.6, 0.0, 1.0,
              note="low-light, base of the euphotic zone"),
        Niche("prochlorococcus_marinus_MIT9211", "Prochlorococcus LLIII", 23.0, 3.5, 100.0, 0.6, 0.0, 0.6,
              note="low-light, warm stratified water"),
        Niche("prochlorococcus_marinus_MIT9313", "Prochlorococcus LLIV", 20.0, 3.5, 130.0, 0.6, 0.0, 1.0,
              note="low-light, deepest Prochlorococcus"),
        Niche("pelagibacter_ubique_HTCC1062", "SAR11 Ia", 19.0, 8.0, 30.0, 1.0, 0.0, 2.0,
              note="ubiquitous oligotroph, broad thermal niche"),
        Niche("nitrosopumilus_maritimus_SCM1", "Thaumarchaeota (AOA)", 11.0, 4.0, 200.0, 0.6, 3.0, 1.5,
              note="ammonia oxidiser of cold, dark water; ammonia oxidation falls with pH"),
        Niche("alteromonas_macleodii_TARA_ASE_MAG_00031", "Alteromonas (copiotroph)", 17.0, 6.0, 20.0, 0.9, 0.0, 0.8,
              note="particle-associated copiotroph"),
        Niche("phaeodactylum_tricornutum_chloroplast", "diatom plastid", 13.0, 4.0, 15.0, 0.7, -2.0, 1.5,
              note="cool, mixed surface water; diatoms gain from CO2 (lower pH)"),
        Niche("emiliania_huxleyi_virus_86", "coccolithovirus", 15.0, 4.0, 15.0, 0.7, 2.0, 3.0,
              note="follows its host E. huxleyi (cool, high pH for calcification)"),
        Niche("cyanophage_P_SSP7", "cyanophage (podovirus)", 22.5, 3.5, 10.0, 0.8, 0.0, 8.0,
              note="infects MED4; free viruses outnumber their hosts"),
        Niche("cyanophage_NATL2A_133", "cyanophage (podovirus)", 18.0, 4.0, 60.0, 0.7, 0.0, 8.0,
              note="infects NATL2A; free viruses outnumber their hosts"),
    )
}

DRIVERS = ("temperature_c", "depth_m", "ph")
ENV_VARIABLES = (
    "depth_m", "temperature_c", "ph", "pressure_dbar", "salinity_psu", "oxygen_umol_kg",
    "chlorophyll_mg_m3", "noise_index",
)


def resolve_niches(genome_names: list[str], seed: int) -> list[Niche]:
    """The documented niche of each genome; a genome not in NICHES gets one drawn from the seed."""
    niches = []
    for name in genome_names:
        if name in NICHES:
            niches.append(NICHES[name])
            continue
        # Keyed by the name, so adding a genome never changes the niche drawn for another.
        rng = _rng(seed, _STREAM_NICHE, zlib.crc32(name.encode()))
        niches.append(
            Niche(
                genome=name,
                group="unknown",
                thermal_optimum_c=round(float(rng.uniform(10, 27)), 2),
                thermal_width_c=round(float(rng.uniform(3, 6)), 2),
                depth_preference_m=round(float(np.exp(rng.uniform(np.log(5), np.log(200)))), 1),
                depth_width_log10=round(float(rng.uniform(0.6, 1.0)), 2),
                ph_slope=round(float(rng.uniform(-2, 2)), 2),
                base_weight=1.0,
                source="random",
                note="niche drawn at random from the seed (genome not in planktonlm.simulate.NICHES)",
            )
        )
    return niches


def _log_terms(env: pd.DataFrame, niches: list[Niche], seed: int, noise_sd: float) -> dict[str, np.ndarray]:
    """log-abundance terms (samples x genomes) of each driver, the base weight and the noise."""
    t = env["temperature_c"].to_numpy(float)[:, None]
    z = env["depth_m"].to_numpy(float)[:, None]
    ph = env["ph"].to_numpy(float)[:, None]

    def par(attr: str) -> np.ndarray:
        return np.array([getattr(nc, attr) for nc in niches], dtype=float)[None, :]

    noise = _rng(seed, _STREAM_COMMUNITY).normal(0, noise_sd, (len(env), len(niches)))
    return {
        "temperature_c": -((t - par("thermal_optimum_c")) ** 2) / (2 * par("thermal_width_c") ** 2),
        "depth_m": -((np.log10(z) - np.log10(par("depth_preference_m"))) ** 2) / (2 * par("depth_width_log10") ** 2),
        "ph": par("ph_slope") * (ph - 8.05),
        "base": np.broadcast_to(np.log(par("base_weight")), noise.shape),
        "noise": noise,
    }


def simulate_community(env: pd.DataFrame, niches: list[Niche], seed: int, noise_sd: float = 0.35) -> pd.DataFrame:
    """True relative abundance (samples x genomes, rows sum to 1) from the drivers in ``env``.

    Only temperature_c, depth_m and ph are read: every other column, noise_index included, has
    no effect on the community.
    """
    terms = _log_terms(env, niches, seed, noise_sd)
    log_abundance = sum(terms.values())
    weights = np.exp(log_abundance - log_abundance.max(axis=1, keepdims=True))
    abundance = weights / weights.sum(axis=1, keepdims=True)
    return pd.DataFrame(abundance, index=pd.Index(env["sample"], name="sample"), columns=[n.genome for n in niches])


def driver_strengths(env: pd.DataFrame, niches: list[Niche], seed: int, noise_sd: float = 0.35) -> pd.DataFrame:
    """How strongly each variable of samples.tsv drives the community.

    strength = share of the variance of centred log-ratio abundance (summed over genomes) that
    the variable's own term carries. Driver terms are correlated (temperature falls with depth),
    so shares need not sum to 1; variables that are not drivers have strength 0.
    """
    terms = _log_terms(env, niches, seed, noise_sd)

    def clr_variance(x: np.ndarray) -> float:
        centred = x - x.mean(axis=1, keepdims=True)
        return float(centred.var(axis=0).sum())

    total = clr_variance(sum(terms.values()))
    strength = {v: (clr_variance(terms[v]) / total if total > 0 else 0.0) for v in DRIVERS}
    notes = {
        "temperature_c": ("driver", "Gaussian thermal niche per genome (optimum, width)"),
        "depth_m": ("driver", "Gaussian in log10 depth per genome (light, mixing)"),
        "ph": ("driver", "log-linear pH slope per genome (weak)"),
        "pressure_dbar": ("proxy", "follows depth_m; no effect of its own"),
        **_PASSIVE_NOTES,
    }
    return _driver_table(strength, notes, _truth_variables(env))


_DECOY_NOTE = ("noise", "autocorrelated noise (AR(1) per station over its sampling dates), independent of everything")
#: drivers.tsv notes of the variables that drive nothing under either community model
_PASSIVE_NOTES = {
    "salinity_psu": ("none", "no effect; correlated with season and depth"),
    "oxygen_umol_kg": ("none", "no effect; follows temperature (solubility) and depth"),
    "chlorophyll_mg_m3": ("none", "no effect; follows season and depth"),
    "noise_index": ("noise", "pure noise, independent of everything"),
    DECOY_VARIABLE: _DECOY_NOTE,
}


def _truth_variables(env: pd.DataFrame) -> tuple[str, ...]:
    """The samples.tsv variables drivers.tsv describes: ENV_VARIABLES, plus the decoy where there is one."""
    return ENV_VARIABLES + ((DECOY_VARIABLE,) if DECOY_VARIABLE in env.columns else ())


def _driver_table(strength: dict[str, float], notes: dict[str, tuple[str, str]],
                  variables: tuple[str, ...]) -> pd.DataFrame:
    rows = [
        {"variable": v, "role": notes[v][0], "strength": round(strength.get(v, 0.0), 4), "response": notes[v][1]}
        for v in variables
    ]
    table = pd.DataFrame(rows).sort_values("strength", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(3, "rank", np.where(table["strength"] > 0, np.arange(1, len(table) + 1), 0))
    return table


def simulate_ar1_community(env: pd.DataFrame, genomes: list[str] | tuple[str, ...], seed: int, phi: float = 0.85,
                           sd: float = 1.0, depth_sd: float = 1.0) -> pd.DataFrame:
    """A null community (samples x genomes, rows sum to 1) that no column of ``env`` drives.

    Per station, each genome's log abundance follows a stationary AR(1) walk over the station's
    sampling dates in time order (``ar1_series``: lag-1 autocorrelation ``phi`` per sampling step,
    sd ``sd``); every depth of a station shares the station's walk, plus a fixed offset per depth
    layer and genome (N(0, ``depth_sd``), drawn once, the same at every station). Only the
    station, depth_m and datetime columns of ``env`` are read, as labels: they say which walk,
    which layer and which step a sample is. A station's sampling dates are the distinct UTC days
    of its casts.
    """
    names = list(genomes)
    station = env["station"].astype(str).to_numpy()
    layers, layer_of_row = np.unique(env["depth_m"].to_numpy(float), return_inverse=True)
    day = pd.to_datetime(env["datetime"], utc=True).dt.floor("D").to_numpy()
    offsets = _rng(seed, _STREAM_AR1, _AR1_DEPTH_OFFSETS).normal(0.0, depth_sd, (len(layers), len(names)))
    log_abundance = offsets[layer_of_row]
    for i, name in enumerate(pd.unique(station)):  # stations in order of first appearance
        rows = np.flatnonzero(station == name)
        dates, step = np.unique(day[rows], return_inverse=True)
        walk = ar1_series(_rng(seed, _STREAM_AR1, _AR1_STATION_WALK, i), len(dates), phi, sd, len(names))
        log_abundance[rows] += walk[step]
    weights = np.exp(log_abundance - log_abundance.max(axis=1, keepdims=True))
    abundance = weights / weights.sum(axis=1, keepdims=True)
    return pd.DataFrame(abundance, index=pd.Index(env["sample"], name="sample"), columns=names)


def null_driver_strengths(env: pd.DataFrame) -> pd.DataFrame:
    """drivers.tsv of a community no variable drives (community_model "ar1"): every strength is 0."""
    layer = "no effect; each depth layer carries a fixed per-genome offset (a layer label, not a response to depth)"
    notes = {
        "temperature_c": ("none", "no effect (community_model ar1: nothing in the environment drives the community)"),
        "depth_m": ("none", layer),
        "ph": ("none", "no effect"),
        "pressure_dbar": ("none", "no effect; follows depth_m"),
        **_PASSIVE_NOTES,
    }
    return _driver_table({}, notes, _truth_variables(env))


def design_genomes(design: CruiseDesign) -> list[str]:
    """The design's genome names without reading any file: its list, else every genome of NICHES.

    sorted(NICHES) is also what the bundled folder resources/genomes gives simulate_cruise.
    """
    return list(design.genomes) if design.genomes is not None else sorted(NICHES)


def simulate_design_community(design: CruiseDesign, env: pd.DataFrame, niches: list[Niche],
                              seed: int) -> pd.DataFrame:
    """True relative abundance under the design's community_model (niches: ``simulate_community``)."""
    if design.community_model == "ar1":
        return simulate_ar1_community(env, [n.genome for n in niches], seed, design.ar1_phi, design.ar1_sd,
                                      design.ar1_depth_sd)
    return simulate_community(env, niches, seed, design.community_noise_sd)


def design_driver_strengths(design: CruiseDesign, env: pd.DataFrame, niches: list[Niche], seed: int) -> pd.DataFrame:
    """drivers.tsv under the design's community_model: "ar1" says that no variable drives the community."""
    if design.community_model == "ar1":
        return null_driver_strengths(env)
    return driver_strengths(env, niches, seed, design.community_noise_sd)


def community_model_text(design: CruiseDesign) -> str:
    """design.json's one-line account of how the community was made."""
    if design.community_model == "ar1":
        return (
            "null community, no environmental driver: per station, log abundance of each genome = AR(1) walk "
            f"over the station's sampling dates (x_t = {design.ar1_phi} x_(t-1) + sqrt(1 - {design.ar1_phi}^2) "
            f"{design.ar1_sd} N(0, 1), started from N(0, {design.ar1_sd}^2)), shared by the station's depths, "
            f"+ a fixed per-genome offset per depth layer (N(0, {design.ar1_depth_sd}), the same at every "
            "station); normalised per sample. No samples.tsv variable drives the community (drivers.tsv); "
            "niches.tsv is not used"
        )
    return ("abundance = base_weight x exp(temperature term + depth term + pH term) x "
            f"lognormal(0, {design.community_noise_sd}), normalised per sample (see niches.tsv)")


def simulate_abundance(design: CruiseDesign, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(samples, true relative abundance) of a design, without genome files or reads.

    samples: samples.tsv indexed by sample (cruise, station, datetime as an ISO 8601 UTC string,
    latitude, longitude, depth_m, every environmental column). abundance: samples x genomes
    (``design_genomes``), rows sum to 1; the same table simulate_cruise writes to
    truth/abundance.tsv for the same genomes.
    """
    env = simulate_environment(design, seed)
    niches = resolve_niches(design_genomes(design), seed)
    abundance = simulate_design_community(design, env, niches, seed)
    return env.set_index("sample"), abundance


def simulate_tables(design: CruiseDesign, seed: int, reads_per_sample: int = 2000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(samples, counts) of a design without genome files or reads: fast enough for many cruises.

    samples: as ``simulate_abundance``. counts: samples x genomes (int64), a multinomial draw of
    ``reads_per_sample`` reads per sample from the true relative abundance of genome copies (not
    weighted by genome length, which would need the genomes). Same design and seed, same tables.
    """
    if isinstance(reads_per_sample, bool) or not isinstance(reads_per_sample, (int, np.integer)) \
            or reads_per_sample < 1:
        raise PlanktonlmInputError(InputProblem(file="simulate_tables", column="reads_per_sample",
                                                value=reads_per_sample, message="invalid value",
                                                expected="an integer >= 1"))
    samples, abundance = simulate_abundance(design, seed)
    p = abundance.to_numpy(float)
    counts = _rng(seed, _STREAM_COUNTS).multinomial(int(reads_per_sample), p / p.sum(axis=1, keepdims=True))
    return samples, pd.DataFrame(counts.astype(np.int64), index=abundance.index, columns=abundance.columns)


# --------------------------------------------------------------------------------------------
# genomes


@dataclass(frozen=True, eq=False)
class Genome:
    """One genome as base codes (0-3 ACGT, 4 N); contigs joined by one N so no fragment spans two."""

    name: str
    organism: str
    file: str
    codes: np.ndarray
    contig_names: tuple[str, ...]
    contig_starts: np.ndarray  # offset of each contig in ``codes``
    contig_lengths: np.ndarray

    @property
    def length_bp(self) -> int:
        return int(self.contig_lengths.sum())

    @property
    def gc(self) -> float:
        counts = np.bincount(self.codes, minlength=5)
        acgt = counts[:4].sum()
        return float((counts[1] + counts[2]) / acgt) if acgt else 0.0


def _genome_name(path: Path) -> str | None:
    for suffix in GENOME_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return None


def _read_fasta(path: Path) -> list[tuple[str, bytes]]:
    opener = _gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if not data.lstrip().startswith(b">"):
        raise ValueError("not FASTA (no '>' header at the start)")
    records = []
    for chunk in data.lstrip()[1:].split(b"\n>"):
        header, _, body = chunk.partition(b"\n")
        seq = body.translate(None, b"\r\n \t")
        if seq:
            records.append((header.split()[0].decode() if header.split() else f"contig{len(records) + 1}", seq))
    if not records:
        raise ValueError("no sequence")
    return records


def load_genomes(directory: Path | str, names: list[str] | tuple[str, ...] | None = None) -> list[Genome]:
    """Read the genomes (FASTA, optionally gzipped) of a folder; ``names`` picks some, in that order.

    ``SOURCES.tsv`` in the folder (columns file, organism, ...) is optional and only names organisms.
    """
    directory = Path(directory)
    file_label = str(directory)
    if not directory.is_dir():
        raise PlanktonlmInputError(InputProblem(file=file_label, message="genomes folder not found",
                                                expected="a folder of FASTA genomes (*.fna.gz)"))
    files = {name: p for p in sorted(directory.iterdir()) if (name := _genome_name(p)) is not None}
    if not files:
        raise PlanktonlmInputError(InputProblem(file=file_label, message="no genome files",
                                                expected=f"files ending in {', '.join(GENOME_SUFFIXES)}"))
    wanted = list(names) if names is not None else sorted(files)
    missing = [n for n in wanted if n not in files]
    if missing:
        raise PlanktonlmInputError([
            InputProblem(file=file_label, message="genome not found", value=n, expected=f"one of {sorted(files)}")
            for n in missing
        ])
    organisms = {}
    sources = directory / "SOURCES.tsv"
    if sources.is_file():
        table = pd.read_csv(sources, sep="\t", dtype=str, keep_default_na=False)
        if {"file", "organism"} <= set(table.columns):
            organisms = dict(zip(table["file"], table["organism"]))

    genomes, problems = [], []
    for name in wanted:
        path = files[name]
        try:
            records = _read_fasta(path)
        except (OSError, ValueError, EOFError, zlib.error) as exc:
            problems.append(InputProblem(file=str(path), message=f"cannot read genome: {exc}", expected="FASTA"))
            continue
        lengths = np.array([len(seq) for _, seq in records], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
        codes = _ENCODE[np.frombuffer(b"N".join(seq for _, seq in records), dtype=np.uint8)]
        genomes.append(Genome(name, organisms.get(path.name, name), path.name, codes,
                              tuple(h for h, _ in records), starts, lengths))
    if problems:
        raise PlanktonlmInputError(problems)
    return genomes


class GenomeSet:
    """Genomes laid end to end in one code array, with the N runs (gaps, contig joins) indexed."""

    def __init__(self, genomes: list[Genome]):
        self.genomes = genomes
        self.names = [g.name for g in genomes]
        separator = np.array([_CODE_N], dtype=np.uint8)
        self.codes = np.concatenate([part for g in genomes for part in (g.codes, separator)])
        sizes = np.array([len(g.codes) for g in genomes], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes + 1)[:-1]]).astype(np.int64)
        self.spans = sizes  # candidate start range of a genome, separators included
        self.length_bp = np.array([g.length_bp for g in genomes], dtype=np.int64)
        is_n = np.concatenate([[False], self.codes == _CODE_N, [False]])
        edges = np.flatnonzero(np.diff(is_n.astype(np.int8)))
        self.n_starts, self.n_ends = edges[0::2], edges[1::2]  # [start, end) of every N run
        # Global contig table, for reporting fragment positions per contig.
        self.contig_starts = np.concatenate([g.contig_starts + off for g, off in zip(genomes, self.offsets)])
        self.contig_names = [c for g in genomes for c in g.contig_names]
        self.longest_clean = np.array([self._longest_clean(i) for i in range(len(genomes))], dtype=np.int64)
        # Both strands in one array for read extraction: [pad | codes | pad | complement | pad].
        self.pad = 512
        pad = np.full(self.pad, _CODE_N, dtype=np.uint8)
        self.strand_codes = np.concatenate([pad, self.codes, pad, _COMPLEMENT[self.codes], pad])
        self.forward_base = self.pad
        self.complement_base = 2 * self.pad + len(self.codes)

    def _longest_clean(self, i: int) -> int:
        lo, hi = self.offsets[i], self.offsets[i] + self.spans[i]
        inside = (self.n_starts < hi) & (self.n_ends > lo)
        starts = np.concatenate([[lo], self.n_ends[inside]])
        ends = np.concatenate([self.n_starts[inside], [hi]])
        return int(np.max(ends - starts)) if len(starts) else 0

    def spans_n(self, start: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Whether each fragment [start, start + length) touches an N run or a contig join."""
        k = np.searchsorted(self.n_ends, start, side="right")  # first N run ending after start
        hit = k < len(self.n_starts)
        hit[hit] = self.n_starts[k[hit]] < start[hit] + length[hit]
        return hit


# --------------------------------------------------------------------------------------------
# reads


@dataclass(frozen=True, eq=False)
class ReadPairs:
    """A batch of simulated read pairs; bases are codes 0-4, qualities Phred scores."""

    genome: np.ndarray  # index into GenomeSet.names
    start: np.ndarray  # fragment start in GenomeSet.codes
    insert: np.ndarray
    minus: np.ndarray  # fragment on the reverse strand
    r1: np.ndarray  # (n, read_length) uint8 codes
    r2: np.ndarray
    q1: np.ndarray  # (n, read_length) uint8 Phred
    q2: np.ndarray


def _insert_sizes(design: CruiseDesign, n: int, rng: np.random.Generator) -> np.ndarray:
    length = design.read_length
    insert = np.maximum(np.rint(rng.normal(design.insert_mean, design.insert_sd, n)), length).astype(np.int64)
    short = rng.random(n) < design.short_insert_fraction
    shortest = min(length - 1, max(20, length // 2))
    insert[short] = rng.integers(shortest, length, size=int(short.sum()))
    return insert


def _draw_fragments(
    genome_set: GenomeSet, read_share: np.ndarray, n: int, design: CruiseDesign, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    genome = rng.choice(len(genome_set.names), size=n, p=read_share)
    insert = np.minimum(_insert_sizes(design, n, rng), genome_set.longest_clean[genome])
    start = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(1000):  # rejection: redraw fragments that touch an N run or a contig join
        g = genome[todo]
        u = rng.random(len(todo))
        start[todo] = genome_set.offsets[g] + (u * (genome_set.spans[g] - insert[todo] + 1)).astype(np.int64)
        todo = todo[genome_set.spans_n(start[todo], insert[todo])]
        if len(todo) == 0:
            return genome, start, insert
    bad = sorted({genome_set.names[i] for i in genome[todo]})
    raise PlanktonlmInputError([
        InputProblem(file=name, message="almost no fragment of this genome avoids N runs and contig ends",
                     expected="contigs longer than the insert size with few N runs")
        for name in bad
    ])


def _extract(genome_set: GenomeSet, start: np.ndarray, insert: np.ndarray, forward: np.ndarray,
             read_through: np.ndarray, length: int) -> np.ndarray:
    """Read bases: forward reads from the fragment's left end, others the reverse complement of its right.

    One gather from ``[forward strand | complement strand]``: a reverse read walks the complement
    strand leftwards from the fragment's right end. Padding keeps overshoot past short inserts
    inside the array; those positions become adapter.
    """
    first = np.where(forward, genome_set.forward_base + start, genome_set.complement_base + start + insert - 1)
    step = np.where(forward, 1, -1)
    pos = first[:, None] + step[:, None] * np.arange(length, dtype=np.int64)[None, :]
    bases = genome_set.strand_codes[pos]
    short = np.flatnonzero(insert < length)  # adapter read-through, few rows
    if len(short):
        j = np.arange(length)[None, :]
        past = j >= insert[short, None]
        rows = bases[short]
        rows[past] = read_through[(j - insert[short, None])[past]]
        bases[short] = rows
    return bases


def _read_through_codes(adapter: str, length: int) -> np.ndarray:
    text = (adapter + "G" * length)[:length]
    return _ENCODE[np.frombuffer(text.encode(), dtype=np.uint8)]


def _phred_profile(design: CruiseDesign, factor: float) -> np.ndarray:
    """Mean Phred score per read position: error rate rising quadratically toward the 3' end."""
    x = np.linspace(0.0, 1.0, design.read_length)
    rate = (design.error_rate_first + (design.error_rate_last - design.error_rate_first) * x**2) * factor
    return np.rint(-10 * np.log10(np.clip(rate, 1e-5, 0.5))).astype(np.int16)


# Per-base quality jitter: 256 quantiles of N(0, 1.5), indexed by 8 random bits.
_QUALITY_JITTER = np.rint(
    [1.5 * NormalDist().inv_cdf((k + 0.5) / 256) for k in range(256)]
).astype(np.int16)
# P(error | Phred q) as a threshold on 24 random bits: an error iff bits < threshold.
_ERROR_THRESHOLD_24 = np.rint(_ERROR_PROB.astype(np.float64) * (1 << 24)).astype(np.uint32)


def _sequence(
    bases: np.ndarray, profile: np.ndarray, design: CruiseDesign, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Qualities around a position profile, then errors sampled at exactly the rate they state.

    One 32-bit draw per base: its low 8 bits jitter the quality, its high 24 bits decide the error.
    """
    n, length = bases.shape
    bits = rng.integers(0, 1 << 32, size=(n, length), dtype=np.uint32)
    read_offset = np.rint(rng.normal(0, 2.0, (n, 1))).astype(np.int16)  # some reads are worse throughout
    quality = profile[None, :] + read_offset + _QUALITY_JITTER[(bits & 0xFF).astype(np.uint8)]
    quality = np.clip(quality, Q_MIN, Q_MAX).astype(np.uint8)
    if not design.sequencing_errors:
        return bases, quality
    error = np.flatnonzero((bits >> 8) < _ERROR_THRESHOLD_24[quality])
    flat_bases = bases.reshape(-1)
    error = error[flat_bases[error] != _CODE_N]
    flat_bases[error] = (flat_bases[error] + rng.integers(1, 4, size=len(error), dtype=np.uint8)) % 4
    n_calls = rng.binomial(n * length, design.n_rate)
    if n_calls:
        flat = rng.integers(0, n * length, size=n_calls)
        flat_bases[flat] = _CODE_N
        quality.reshape(-1)[flat] = Q_MIN
    return bases, quality


def simulate_read_pairs(
    genome_set: GenomeSet, read_share: np.ndarray, n_pairs: int, design: CruiseDesign, rng: np.random.Generator
) -> ReadPairs:
    """``n_pairs`` Illumina-like pairs; ``read_share[g]`` is genome g's expected share of fragments."""
    if design.read_length > genome_set.pad:
        raise ValueError(f"read length {design.read_length} exceeds the padding {genome_set.pad}")
    genome, start, insert = _draw_fragments(genome_set, read_share, n_pairs, design, rng)
    minus = rng.random(n_pairs) < 0.5
    length = design.read_length
    # Read 1 runs along the fragment's strand, read 2 back from its other end on the other strand.
    r1 = _extract(genome_set, start, insert, ~minus, _read_through_codes(_READ_THROUGH_R1, length), length)
    r2 = _extract(genome_set, start, insert, minus, _read_through_codes(_READ_THROUGH_R2, length), length)
    r1, q1 = _sequence(r1, _phred_profile(design, 1.0), design, rng)
    r2, q2 = _sequence(r2, _phred_profile(design, design.r2_error_factor), design, rng)
    return ReadPairs(genome, start, insert, minus, r1, r2, q1, q2)


def format_fastq(
    sample: str, first_index: int, id_width: int, mate: int, bases: np.ndarray, quality: np.ndarray
) -> bytes:
    """FASTQ records ``@<sample>.<index> <mate>:N:0`` built as one byte matrix (fixed-width ids)."""
    n, length = bases.shape
    index = np.arange(first_index, first_index + n, dtype=np.int64)[:, None]
    digits = (index // 10 ** np.arange(id_width - 1, -1, -1, dtype=np.int64)[None, :]) % 10 + ord("0")

    def const(text: bytes) -> np.ndarray:
        return np.broadcast_to(np.frombuffer(text, dtype=np.uint8), (n, len(text)))

    matrix = np.concatenate(
        [
            const(b"@" + sample.encode() + b"."),
            digits.astype(np.uint8),
            const(f" {mate}:N:0\n".encode()),
            _ASCII[bases],
            const(b"\n+\n"),
            quality + np.uint8(33),
            const(b"\n"),
        ],
        axis=1,
    )
    return matrix.tobytes()


# --------------------------------------------------------------------------------------------
# writing


class _GzipOut:
    """A reproducible gzip file: no name in the header (filename=""), no clock (mtime=0)."""

    def __init__(self, path: Path):
        self._raw = open(path, "wb")
        self._gz = _gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=GZIP_LEVEL, mtime=0)

    def write(self, data: bytes) -> None:
        self._gz.write(data)

    def close(self) -> None:
        self._gz.close()
        self._raw.close()


def _write_tsv(frame: pd.DataFrame, path: Path, **kwargs: object) -> None:
    frame.to_csv(path, sep="\t", lineterminator="\n", **kwargs)


def _unit_plan(env: pd.DataFrame, design: CruiseDesign) -> dict[str, list[tuple[str, int]]]:
    """(unit, read pairs) per sample; a few evenly spread samples get a second sequencing run."""
    n = len(env)
    two = set()
    if design.two_unit_samples:
        two = {int(i) for i in np.linspace(0, n - 1, design.two_unit_samples).round()}
    plan = {}
    for i, sample in enumerate(env["sample"]):
        total = design.reads_per_sample
        second = int(round(total * design.second_unit_fraction)) if i in two else 0
        plan[sample] = [("run1", total - second)] + ([("run2", second)] if second > 0 else [])
    return plan


TRUTH_FILES = {
    "abundance.tsv": "true relative abundance of genome copies: one row per sample, one column per genome, "
    "rows sum to 1",
    "read_counts.tsv": "read pairs simulated from each genome: one row per sample, one column per genome",
    "niches.tsv": "niche of each genome: thermal optimum and width (C), preferred depth (m) and width (log10 m), "
    "pH slope (log abundance per pH unit), base weight; source = documented or random",
    "drivers.tsv": "each samples.tsv variable: role (driver, proxy, none, noise), strength (share of CLR "
    "variance carried by its own term; 0 = not a driver), rank among drivers",
    "read_origin.tsv.gz": "every read pair: sample, unit, read_id, genome, contig, strand (+: read 1 on the "
    "contig's forward strand), start (0-based leftmost fragment base on the contig), insert_size",
    "design.json": "preset, seed and every parameter of the environment, community and read models",
}


def _design_record(design: CruiseDesign, seed: int, genomes: list[Genome], env_model: dict) -> dict:
    from planktonlm import __version__

    return {
        "preset": design.name,
        "seed": seed,
        "planktonlm_version": __version__,
        "design": _design_fields(design),
        "genomes": [
            {"name": g.name, "file": g.file, "organism": g.organism, "length_bp": g.length_bp,
             "contigs": len(g.contig_names)}
            for g in genomes
        ],
        "environment_model": env_model,
        "community_model": community_model_text(design),
        "read_model": {
            "fragments": "genome drawn with probability abundance x genome length; start uniform; never across "
            "a contig end or an N run; both strands equally likely",
            "insert_size": f"normal({design.insert_mean}, {design.insert_sd}) clipped to >= read length; "
            f"a fraction {design.short_insert_fraction} shorter than a read, read into the TruSeq adapters",
            "pairs": "read 1 from the fragment's 5' end on its strand, read 2 from the other end on the other strand",
            "qualities": "Phred around a profile falling from the 5' to the 3' end (read 2 worse), per-read and "
            "per-base noise; substitution errors drawn with exactly the probability the quality states",
            "n_calls": f"per-base probability {design.n_rate}, quality 2",
            "read_ids": "<sample>.<n>, n numbered in output order; fragments come in random order",
            "adapter_r1": ADAPTER_R1,
            "adapter_r2": ADAPTER_R2,
        },
        "gzip": {"backend": GZIP_BACKEND, "level": GZIP_LEVEL, "mtime": 0},
        "truth_files": TRUTH_FILES,
        "note": "The workflow must never read this folder: it is the answer key.",
    }


def _design_fields(design: CruiseDesign) -> dict:
    """dataclasses.asdict(design), less the later fields that hold their defaults (see _LATER_FIELD_DEFAULTS)."""
    fields = dataclasses.asdict(design)
    for key, default in _LATER_FIELD_DEFAULTS.items():
        if fields[key] == default and type(fields[key]) is type(default):
            del fields[key]
    return fields


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _select_genomes(design: CruiseDesign, genomes_dir: Path) -> list[Genome]:
    """The preset's genomes; a folder holding none of them (a user's own genomes) gives all of its own."""
    if design.genomes is None:
        return load_genomes(genomes_dir)
    present = {_genome_name(p) for p in genomes_dir.iterdir()} if genomes_dir.is_dir() else set()
    if present and not present & set(design.genomes):
        logger.info("genomes folder %s holds none of preset %s's genomes: using all of its own",
                    genomes_dir, design.name)
        return load_genomes(genomes_dir)
    return load_genomes(genomes_dir, design.genomes)


def _prepare_outdir(outdir: Path) -> None:
    if not outdir.exists():
        return
    ours = (outdir / ".complete").exists() or (outdir / "truth" / "design.json").exists()
    if not outdir.is_dir() or (any(outdir.iterdir()) and not ours):
        raise PlanktonlmInputError(InputProblem(
            file=str(outdir), message="output folder exists and is not an earlier simulation; not overwriting",
            expected="a new folder, or one written by planktonlm simulate"))


def simulate_cruise(preset: CruiseDesign, outdir: Path, seed: int, genomes_dir: Path = DEFAULT_GENOMES_DIR) -> Path:
    """Simulate a whole cruise into ``outdir`` (replacing an earlier simulation there); returns ``outdir``.

    Everything is built in ``<outdir>.tmp-XXXX`` and renamed into place; ``.complete`` (a sha256
    manifest of every file) is the last file written.
    """
    outdir, genomes_dir = Path(outdir), Path(genomes_dir)
    if seed < 0:
        raise PlanktonlmInputError(InputProblem(file="simulate", column="seed", value=seed, message="invalid seed",
                                                expected="an integer >= 0"))
    validate_design(preset)
    _prepare_outdir(outdir)
    clock = time.perf_counter()
    genomes = _select_genomes(preset, genomes_dir)
    genome_set = GenomeSet(genomes)
    too_short = [g.name for g, clean in zip(genomes, genome_set.longest_clean) if clean < preset.read_length]
    if too_short:
        raise PlanktonlmInputError([
            InputProblem(file=name, message="no N-free stretch as long as a read",
                         expected=f">= {preset.read_length} bp")
            for name in too_short
        ])
    env = simulate_environment(preset, seed)
    niches = resolve_niches(genome_set.names, seed)
    abundance = simulate_design_community(preset, env, niches, seed)
    drivers = design_driver_strengths(preset, env, niches, seed)
    logger.info("simulate %s: %d samples x %d read pairs of 2x%d bp from %d genomes (%.1f s to load)",
                preset.name, len(env), preset.reads_per_sample, preset.read_length, len(genomes),
                time.perf_counter() - clock)

    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=outdir.name + ".tmp-", dir=outdir.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary folder
    try:
        _write_cruise(tmp, outdir, preset, seed, env, genomes, genome_set, niches, abundance, drivers)
        _replace_dir(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("simulate %s: wrote %s in %.1f s", preset.name, outdir, time.perf_counter() - clock)
    return outdir


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace_dir(tmp: Path, outdir: Path) -> None:
    if outdir.exists():
        old = Path(tempfile.mkdtemp(prefix=outdir.name + ".old-", dir=outdir.parent))
        os.replace(outdir, old / "x")
        try:
            os.replace(tmp, outdir)
        except OSError:
            os.replace(old / "x", outdir)  # put the earlier simulation back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, outdir)


def iter_sample_read_pairs(
    genome_set: GenomeSet, read_share: np.ndarray, n_pairs: int, design: CruiseDesign, seed: int, sample_index: int
) -> Iterator[ReadPairs]:
    """The read pairs of sample number ``sample_index``, in batches of at most BATCH_PAIRS."""
    rng = _rng(seed, _STREAM_READS, sample_index)  # per sample: samples do not depend on each other
    for first in range(0, n_pairs, BATCH_PAIRS):
        yield simulate_read_pairs(genome_set, read_share, min(BATCH_PAIRS, n_pairs - first), design, rng)


def read_shares(abundance: pd.DataFrame, genome_set: GenomeSet) -> np.ndarray:
    """Expected share of fragments per genome and sample: abundance x genome length, normalised."""
    weights = abundance[genome_set.names].to_numpy(float) * genome_set.length_bp[None, :]
    return weights / weights.sum(axis=1, keepdims=True)


def _write_cruise(
    tmp: Path, outdir: Path, design: CruiseDesign, seed: int, env: pd.DataFrame, genomes: list[Genome],
    genome_set: GenomeSet, niches: list[Niche], abundance: pd.DataFrame, drivers: pd.DataFrame,
) -> None:
    (tmp / "reads").mkdir()
    (tmp / "truth").mkdir()
    _write_tsv(env, tmp / "samples.tsv", index=False)
    plan = _unit_plan(env, design)
    units = pd.DataFrame(
        [
            {"sample": s, "unit": u,
             "fq1": os.path.join(str(outdir), "reads", f"{s}_{u}_R1.fastq.gz"),
             "fq2": os.path.join(str(outdir), "reads", f"{s}_{u}_R2.fastq.gz")}
            for s, runs in plan.items() for u, _ in runs
        ]
    )
    _write_tsv(units, tmp / "units.tsv", index=False)

    shares = read_shares(abundance, genome_set)
    counts = np.zeros((len(env), len(genomes)), dtype=np.int64)
    origin = _GzipOut(tmp / "truth" / "read_origin.tsv.gz")
    origin.write(b"sample\tunit\tread_id\tgenome\tcontig\tstrand\tstart\tinsert_size\n")
    clock, pairs_done = time.perf_counter(), 0
    width = len(str(design.reads_per_sample))
    index_text = [f"{k:0{width}d}" for k in range(1, design.reads_per_sample + 1)]  # same for every sample
    contig_prefix = [f"{genome_set.names[g]}\t{c}\t" for g in range(len(genomes))
                     for c in genome_set.genomes[g].contig_names]
    try:
        for i, sample in enumerate(env["sample"]):
            runs = plan[sample]
            # Unit u holds read indices [bounds[u], bounds[u+1]) of the sample, numbered from 1.
            bounds = np.cumsum([0] + [n for _, n in runs])
            writers = {u: (_GzipOut(tmp / "reads" / f"{sample}_{u}_R1.fastq.gz"),
                           _GzipOut(tmp / "reads" / f"{sample}_{u}_R2.fastq.gz")) for u, _ in runs}
            try:
                done = 0
                for batch in iter_sample_read_pairs(genome_set, shares[i], design.reads_per_sample, design, seed, i):
                    n = len(batch.genome)
                    counts[i] += np.bincount(batch.genome, minlength=len(genomes))
                    for k, (unit, _) in enumerate(runs):
                        lo, hi = max(bounds[k], done), min(bounds[k + 1], done + n)
                        if lo >= hi:
                            continue
                        part = slice(lo - done, hi - done)
                        w1, w2 = writers[unit]
                        w1.write(format_fastq(sample, lo + 1, width, 1, batch.r1[part], batch.q1[part]))
                        w2.write(format_fastq(sample, lo + 1, width, 2, batch.r2[part], batch.q2[part]))
                        origin.write(_origin_lines(sample, unit, index_text[lo:hi], batch, part, contig_prefix,
                                                   genome_set))
                    done += n
            finally:
                for w1, w2 in writers.values():
                    w1.close()
                    w2.close()
            pairs_done += design.reads_per_sample
            rate = pairs_done / max(time.perf_counter() - clock, 1e-9)
            logger.info("simulate: sample %d/%d %s: %d read pairs (%.0f pairs/s)", i + 1, len(env), sample,
                        design.reads_per_sample, rate)
    finally:
        origin.close()

    truth = tmp / "truth"
    _write_tsv(abundance, truth / "abundance.tsv", float_format="%.6g")
    _write_tsv(pd.DataFrame(counts, index=abundance.index, columns=genome_set.names), truth / "read_counts.tsv")
    niche_table = pd.DataFrame([dataclasses.asdict(n) for n in niches])
    if design.community_model != "niches":
        niche_table["note"] = f"not used: community_model {design.community_model} (no environmental driver)"
    niche_table.insert(1, "organism", [g.organism for g in genomes])
    niche_table.insert(2, "length_bp", [g.length_bp for g in genomes])
    _write_tsv(niche_table, truth / "niches.tsv", index=False)
    _write_tsv(drivers, truth / "drivers.tsv", index=False)
    record = _design_record(design, seed, genomes, environment_model(design))
    (truth / "design.json").write_text(json.dumps(record, indent=2) + "\n")

    manifest = sorted(p for p in tmp.rglob("*") if p.is_file())
    lines = [f"{_sha256(p)}  {p.relative_to(tmp).as_posix()}" for p in manifest]
    (tmp / ".complete").write_text("\n".join(lines) + "\n")


def _origin_lines(sample: str, unit: str, index_text: list[str], batch: ReadPairs, part: slice,
                  contig_prefix: list[str], genome_set: GenomeSet) -> bytes:
    """read_origin.tsv rows of one unit's slice of a batch; ``index_text`` holds the ids' numbers."""
    start = batch.start[part]
    contig = np.searchsorted(genome_set.contig_starts, start, side="right") - 1
    local = (start - genome_set.contig_starts[contig]).tolist()
    strand = np.where(batch.minus[part], "-\t", "+\t").tolist()
    head = f"{sample}\t{unit}\t{sample}."
    text = "".join([
        f"{head}{number}\t{contig_prefix[c]}{s}{p}\t{size}\n"
        for number, c, s, p, size in zip(index_text, contig.tolist(), strand, local, batch.insert[part].tolist())
    ])
    return text.encode()


# --------------------------------------------------------------------------------------------
# command line


def simulate_cruise_cli(args: argparse.Namespace) -> None:
    """``planktonlm simulate``: preset, seed, outdir, optional read count/length and genomes folder."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.preset not in PRESETS:
        raise PlanktonlmInputError(InputProblem(file="planktonlm simulate", column="--preset", value=args.preset,
                                                message="unknown preset", expected=f"one of {sorted(PRESETS)}"))
    design = PRESETS[args.preset]
    overrides = {}
    if args.reads_per_sample is not None:
        overrides["reads_per_sample"] = args.reads_per_sample
    if args.read_length is not None:
        overrides["read_length"] = args.read_length
    for field_name in ("community_model", "ar1_phi", "decoy_phi"):
        if getattr(args, field_name, None) is not None:
            overrides[field_name] = getattr(args, field_name)
    design = dataclasses.replace(design, **overrides)
    validate_design(design)
    genomes_dir = Path(args.genomes) if args.genomes else DEFAULT_GENOMES_DIR
    started = time.perf_counter()
    outdir = simulate_cruise(design, Path(args.outdir), args.seed, genomes_dir)
    pairs = design.n_samples * design.reads_per_sample
    print(f"simulated {design.n_samples} samples, {pairs} read pairs of 2x{design.read_length} bp -> {outdir} "
          f"({time.perf_counter() - started:.1f} s)")
