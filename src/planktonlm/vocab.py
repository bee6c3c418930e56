"""Shared vocabularies: missing-value tokens, physical ranges, dates, environmental columns, units.

Every module that reads or shows a sample's environment uses these tables, so the sample-sheet
checks, the published-table reader, the cube's attributes and the report's labels agree. This
module imports nothing else of planktonlm (it sits at the bottom of the import graph).
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import pandas as pd

# Cells that mean "not measured" in numeric columns; in text columns only the empty cell does.
MISSING_TOKENS = frozenset({"", "NA", "NaN", "nan", "N/A"})

# Columns that place a sample (coordinates and ids), as opposed to measured variables.
NON_ENV_COLUMNS = ("sample", "cruise", "station", "datetime", "latitude", "longitude", "depth_m")

# Columns of samples.tsv that become coordinates of the cube (not environmental variables), and
# their names there.
METADATA_COORDS = {
    "cruise": "cruise", "station": "station", "depth_m": "depth", "latitude": "latitude", "longitude": "longitude",
}

# Names of the cube's profile variables and their OTU dimensions: abundance_<profile>(sample, otu_<profile>).
ABUNDANCE_PREFIX = "abundance_"
OTU_DIM_PREFIX = "otu_"
# Per-sample novelty of a read profile: novelty_<profile>(sample), the share (0-1) of the sample's
# reads farther from every OTU centre than the NOVELTY_QUANTILE of the reference reads' distance
# to their nearest centre (every read of the run, or the atlas's own reads).
NOVELTY_PREFIX = "novelty_"
NOVELTY_QUANTILE = 0.99

# Hydrostatic approximation: 1 m of seawater ~ 1.02 dbar (rho ~ 1025-1050 kg/m3, g ~ 9.81 m/s2;
# the exact factor, 1.005-1.03 depending on depth and latitude, lies well inside the tolerance).
DBAR_PER_METRE = 1.02
PRESSURE_SLACK_DBAR = 5.0


def expected_pressure_dbar(depth_m: float) -> float:
    """Hydrostatic pressure at ``depth_m`` (sea surface = 0 dbar)."""
    return DBAR_PER_METRE * depth_m


class Range(NamedTuple):
    """Physically possible values of a column; None = unbounded on that side."""

    low: float | None
    high: float | None
    unit: str

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def describe(self) -> str:
        if self.high is None:
            return f"a value >= {self.low:g} {self.unit}"
        return f"a value between {self.low:g} and {self.high:g} {self.unit}"


PHYSICAL_RANGES: dict[str, Range] = {
    "latitude": Range(-90, 90, "degrees north"),
    "longitude": Range(-180, 180, "degrees east"),
    "depth_m": Range(0, 11000, "m"),
    "temperature_c": Range(-2.5, 40, "degrees C"),
    "ph": Range(0, 14, "(pH scale)"),
    "pressure_dbar": Range(0, None, "dbar"),
    "salinity_psu": Range(0, 45, "(practical salinity)"),
    "oxygen_umol_kg": Range(0, None, "umol/kg"),
    "chlorophyll_mg_m3": Range(0, None, "mg/m3"),
    "nitrate_umol_kg": Range(0, None, "umol/kg"),
    "phosphate_umol_kg": Range(0, None, "umol/kg"),
    "silicate_umol_kg": Range(0, None, "umol/kg"),
}


def parse_datetime_utc(text: str) -> pd.Timestamp:
    """ISO 8601 -> UTC Timestamp. Offsets are converted; no offset = UTC; a date alone = 00:00 UTC."""
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return pd.Timestamp(parsed).tz_convert("UTC")


# --------------------------------------------------------------------------------------------
# Units and labels of environmental columns, read from the name's suffix (``temperature_c``).
# One table for the cube's CF attributes and the report's axis labels. Longest suffix wins
# (``_mg_m3`` before ``_m``). Dimensionless suffixes (label None) stay part of the name.

UNITS: dict[str, tuple[str, str | None]] = {
    # suffix: (CF/udunits unit, label shown in the report)
    "_c": ("degree_Celsius", "°C"),
    "_degc": ("degree_Celsius", "°C"),
    "_k": ("K", "K"),
    "_dbar": ("dbar", "dbar"),
    "_psu": ("PSU", "PSU"),
    "_umol_kg": ("umol kg-1", "µmol/kg"),
    "_nmol_kg": ("nmol kg-1", "nmol/kg"),
    "_umol_l": ("umol L-1", "µmol/L"),
    "_nmol_l": ("nmol L-1", "nmol/L"),
    "_um": ("umol L-1", "µM"),
    "_nm": ("nmol L-1", "nM"),
    "_mmol_m3": ("mmol m-3", "mmol/m³"),
    "_mg_m3": ("mg m-3", "mg/m³"),
    "_ug_l": ("ug L-1", "µg/L"),
    "_mg_l": ("mg L-1", "mg/L"),
    "_ml_l": ("mL L-1", "mL/L"),
    "_m_s": ("m s-1", "m/s"),
    "_w_m2": ("W m-2", "W/m²"),
    "_m": ("m", "m"),
    "_km": ("km", "km"),
    "_days": ("day", "days"),
    "_pct": ("%", "%"),
    "_percent": ("%", "%"),
    "_ppm": ("1e-6", "ppm"),
    "_uatm": ("uatm", "µatm"),
    "_ntu": ("NTU", "NTU"),
    "_index": ("1", None),
    "_ratio": ("1", None),
    "_fraction": ("1", None),
}
_SUFFIXES_LONGEST_FIRST = sorted(UNITS, key=len, reverse=True)
# Columns whose whole name says the unit (dimensionless).
DIMENSIONLESS_COLUMNS = frozenset({"ph"})
UNKNOWN_UNITS = "unknown"

LONG_NAMES: dict[str, str] = {
    "temperature_c": "sea water temperature",
    "ph": "pH",
    "pressure_dbar": "sea water pressure",
    "salinity_psu": "sea water practical salinity",
    "oxygen_umol_kg": "dissolved oxygen",
    "chlorophyll_mg_m3": "chlorophyll a",
    "nitrate_umol_kg": "nitrate",
    "phosphate_umol_kg": "phosphate",
    "silicate_umol_kg": "silicate",
    "noise_index": "noise index",
}
STANDARD_NAMES: dict[str, str] = {
    "temperature_c": "sea_water_temperature",
    "pressure_dbar": "sea_water_pressure",
}
# Names that title-casing would get wrong, for the report's labels.
DISPLAY_NAMES: dict[str, str] = {
    "ph": "pH", "pco2": "pCO₂", "shannon": "Shannon", "richness": "Richness", "simpson": "Gini-Simpson",
    "doy_sin": "Season (sine of day of year)", "doy_cos": "Season (cosine of day of year)",
    "years_since_start": "Years since start",
}


def unit_suffix(column: str) -> str | None:
    """The longest known unit suffix of ``column`` (case-insensitive), or None."""
    name = column.lower()
    for suffix in _SUFFIXES_LONGEST_FIRST:
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def units_from_name(column: str) -> str:
    """CF/udunits unit string read from a column name's suffix (``UNKNOWN_UNITS`` if none)."""
    if column.lower() in DIMENSIONLESS_COLUMNS:
        return "1"
    suffix = unit_suffix(column)
    return UNITS[suffix][0] if suffix else UNKNOWN_UNITS


def _strip_unit(column: str) -> tuple[str, str]:
    """(name without its unit suffix, report label of the unit); dimensionless suffixes stay."""
    suffix = unit_suffix(column)
    if suffix is None or UNITS[suffix][1] is None:
        return column, ""
    return column[: -len(suffix)], UNITS[suffix][1]


def long_name_from_name(column: str) -> str:
    """CF long_name: the table for known variables, else the name without its unit suffix."""
    if column in LONG_NAMES:
        return LONG_NAMES[column]
    return _strip_unit(column)[0].replace("_", " ")


def split_unit(column: str) -> tuple[str, str]:
    """Report label parts: ``temperature_c`` -> ("Temperature", "°C"); ``ph`` -> ("pH", "")."""
    name, unit = _strip_unit(column)
    if name.lower() in DISPLAY_NAMES:
        return DISPLAY_NAMES[name.lower()], unit
    if name.lower().startswith("pcoa") and name[4:].isdigit():
        return f"PCoA axis {name[4:]}", unit
    pretty = name.replace("_", " ").strip()
    return (pretty[:1].upper() + pretty[1:] if pretty else column), unit


def variable_label(column: str) -> str:
    """Axis label with unit: ``temperature_c`` -> "Temperature (°C)"."""
    name, unit = split_unit(column)
    return f"{name} ({unit})" if unit else name
