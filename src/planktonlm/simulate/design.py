"""Cruise designs: stations, where/when/how deep a cruise samples, the presets, and their validation.

``CruiseDesign`` holds every parameter of a simulated cruise (sampling, community model, reads);
``PRESETS`` are the bundled designs (``demo``, ``tiny``); ``monthly_design`` builds a monthly
design of any number of stations and months on the demo transect; ``validate_design`` refuses a
design the simulator cannot honour, naming every problem at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from planktonlm.errors import InputProblem, PlanktonlmInputError


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
LATER_FIELD_DEFAULTS = {"community_model": "niches", "ar1_phi": 0.85, "ar1_sd": 1.0, "ar1_depth_sd": 1.0,
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

# The demo cruise's genomes: the 13 whose niches are documented (simulate/niches.tsv). Named,
# because resources/genomes also holds the base model's other pretraining genomes.
DEMO_GENOMES = (
    "alteromonas_macleodii_TARA_ASE_MAG_00031",
    "cyanophage_NATL2A_133",
    "cyanophage_P_SSP7",
    "emiliania_huxleyi_virus_86",
    "nitrosopumilus_maritimus_SCM1",
    "pelagibacter_ubique_HTCC1062",
    "phaeodactylum_tricornutum_chloroplast",
    "prochlorococcus_marinus_MED4",
    "prochlorococcus_marinus_MIT9211",
    "prochlorococcus_marinus_MIT9312",
    "prochlorococcus_marinus_MIT9313",
    "prochlorococcus_marinus_NATL2A",
    "prochlorococcus_marinus_SS120",
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
        genomes=DEMO_GENOMES,
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
        "genomes": DEMO_GENOMES,
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
        month_start(design.first_month)
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


def month_start(text: str) -> tuple[int, int]:
    """(year, month) of a "YYYY-MM" text; ValueError if it is not one."""
    year, month = (int(part) for part in text.split("-"))
    if not 1 <= month <= 12:
        raise ValueError(text)
    return year, month


def design_fields(design: CruiseDesign) -> dict:
    """dataclasses.asdict(design), less the later fields that hold their defaults (see LATER_FIELD_DEFAULTS)."""
    fields = dataclasses.asdict(design)
    for key, default in LATER_FIELD_DEFAULTS.items():
        if fields[key] == default and type(fields[key]) is type(default):
            del fields[key]
    return fields
