"""The true community of a cruise: niche responses to the environment, or a null AR(1) walk.

"niches" (``simulate_community``): each genome has a niche (``NICHES``, from the package data
``niches.tsv``: thermal optimum and width, depth preference, pH slope); relative abundance =
niche response x log-normal noise, normalised per sample. Temperature is the strongest driver
(``driver_strengths`` measures it). "ar1" (``simulate_ar1_community``): a null community that
nothing in the environment drives but that is autocorrelated in time: per station, each genome's
log abundance is an AR(1) walk over the station's sampling dates, plus a fixed per-genome offset
per depth layer. ``drivers.tsv`` (the truth of what drives what) comes from the same terms.

For benchmarks that need hundreds of cruises, ``simulate_abundance`` and ``simulate_tables`` give
the sample sheet, the true abundances and multinomial read counts per genome straight from a
design: no genome file is read and no read is made.
"""

from __future__ import annotations

import csv
import dataclasses
import zlib
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.seeding import random_stream
from planktonlm.simulate.design import CruiseDesign
from planktonlm.simulate.environment import DECOY_VARIABLE, ar1_series, simulate_environment
from planktonlm.simulate.streams import STREAM_AR1, STREAM_COMMUNITY, STREAM_COUNTS, STREAM_NICHE

# Sub-streams of STREAM_AR1.
_AR1_DEPTH_OFFSETS, _AR1_STATION_WALK = range(2)


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


def _load_niches() -> dict[str, Niche]:
    """The documented niches: package data ``niches.tsv``, one row per genome ('#' lines are comments)."""
    text = resources.files(__package__).joinpath("niches.tsv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    numeric = {f.name for f in dataclasses.fields(Niche) if f.type == "float"}
    rows = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    niches = (Niche(**{key: float(value) if key in numeric else value for key, value in row.items()}) for row in rows)
    return {n.genome: n for n in niches}


NICHES: dict[str, Niche] = _load_niches()

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
        rng = random_stream(seed, STREAM_NICHE, zlib.crc32(name.encode()))
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
                # Written to truth/niches.tsv: the text stays as it was (same bytes), NICHES now lives here.
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

    noise = random_stream(seed, STREAM_COMMUNITY).normal(0, noise_sd, (len(env), len(niches)))
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
    offsets = random_stream(seed, STREAM_AR1, _AR1_DEPTH_OFFSETS).normal(0.0, depth_sd, (len(layers), len(names)))
    log_abundance = offsets[layer_of_row]
    for i, name in enumerate(pd.unique(station)):  # stations in order of first appearance
        rows = np.flatnonzero(station == name)
        dates, step = np.unique(day[rows], return_inverse=True)
        walk = ar1_series(random_stream(seed, STREAM_AR1, _AR1_STATION_WALK, i), len(dates), phi, sd, len(names))
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
    counts = random_stream(seed, STREAM_COUNTS).multinomial(int(reads_per_sample), p / p.sum(axis=1, keepdims=True))
    return samples, pd.DataFrame(counts.astype(np.int64), index=abundance.index, columns=abundance.columns)
