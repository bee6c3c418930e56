"""Per-sample novelty in the cube: how much of a sample lies beyond the OTU centres of a read profile.

The profile stage writes ``results/profile/{profile}/novelty.tsv``: columns sample, n_fragments,
n_novel, novelty (n_novel / n_fragments; empty = NaN for a sample without fragments) and
threshold (the distance beyond which a fragment is novel: the ``NOVELTY_QUANTILE`` quantile of
the reference fragments' distance to their nearest centre, one value for the whole table).
Here each table becomes the cube variable ``novelty_<profile>(sample)`` (float64, share 0-1),
whose attributes say what the share is and carry the threshold. A sample with more than a few
per cent of novel reads comes from water the codebook (or the atlas) has not seen.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import xarray as xr

from planktonlm.errors import InputProblem, PlanktonlmInputError
from planktonlm.vocab import NOVELTY_PREFIX, NOVELTY_QUANTILE

NOVELTY_COLUMNS = ("sample", "n_fragments", "n_novel", "novelty", "threshold")
# Floats written in shortest round-trip form read back bit for bit (pandas 3 does so by default).
_EXACT_FLOATS = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
_WHAT = {"embedding": "embedding OTUs (transformer read embeddings)", "kmer": "k-mer OTUs (baseline profile)"}


def read_novelty(path: str | os.PathLike[str], sample_ids: pd.Index) -> tuple[pd.Series, float]:
    """The novelty share of each sample of ``sample_ids`` (in that order) and the table's threshold.

    Raises a PlanktonlmInputError naming file, row, column and value: unreadable file, a missing
    column, a sample listed twice, missing or not in the sheet, a share outside 0-1, or a
    threshold that is missing, negative or not one value (NaN only when no sample has a fragment).
    """
    file = os.fspath(path)
    expected_file = "the novelty table of the profile stage (TSV: " + ", ".join(NOVELTY_COLUMNS) + ")"
    try:
        table = pd.read_csv(file, sep="\t", dtype={"sample": str}, na_values=["", "NA", "NaN", "nan"],
                            keep_default_na=False, **_EXACT_FLOATS)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise PlanktonlmInputError(InputProblem(file=file, message=f"cannot read the table: {exc}",
                                                expected=expected_file)) from exc
    absent = [c for c in NOVELTY_COLUMNS if c not in table.columns]
    if absent:
        raise PlanktonlmInputError([InputProblem(file=file, row=0, column=c, message="required column is missing",
                                                 expected=expected_file) for c in absent])
    problems = []
    ids = table["sample"].astype(str).tolist()
    first_row: dict[str, int] = {}
    for row, sample in enumerate(ids, start=1):
        if sample in first_row:
            problems.append(InputProblem(file=file, row=row, column="sample", value=sample,
                                         message=f"sample listed more than once (first at row {first_row[sample]})",
                                         expected="one row per sample"))
        first_row.setdefault(sample, row)
    known = set(sample_ids)
    extra = [s for s in first_row if s not in known]
    if extra:
        problems.append(InputProblem(file=file, row=first_row[extra[0]], column="sample", value=", ".join(extra),
                                     message="samples that the sample sheet does not list", expected="only samples of the cube"))
    missing = [s for s in sample_ids if s not in first_row]
    if missing:
        problems.append(InputProblem(file=file, column="sample", value=", ".join(missing),
                                     message="samples of the sample sheet missing from the novelty table",
                                     expected="one row for every sample of the cube"))
    share = pd.to_numeric(table["novelty"], errors="coerce")
    bad = (table["novelty"].notna() & share.isna()) | (share < 0) | (share > 1)
    for i in np.flatnonzero(bad.to_numpy())[:5]:
        problems.append(InputProblem(file=file, row=int(i) + 1, column="novelty", value=table["novelty"].iloc[i],
                                     message="not a share between 0 and 1", expected="n_novel / n_fragments (empty for no fragments)"))
    thresholds = pd.to_numeric(table["threshold"], errors="coerce").dropna().unique()
    no_fragment = len(thresholds) == 0 and share.isna().all()  # a run without any fragment has no threshold
    if not no_fragment and (len(thresholds) != 1 or not np.isfinite(thresholds[0]) or thresholds[0] < 0):
        problems.append(InputProblem(file=file, column="threshold", value=", ".join(f"{t:g}" for t in thresholds) or None,
                                     message="the threshold must be one finite distance >= 0 for the whole table",
                                     expected=f"the {NOVELTY_QUANTILE:g} quantile of the reference reads' distance to "
                                              "their nearest centre, on every row"))
    if problems:
        raise PlanktonlmInputError(problems)
    values = pd.Series(share.to_numpy(dtype=np.float64), index=ids).reindex(sample_ids)
    return values, float(thresholds[0]) if len(thresholds) else float("nan")


def novelty_variable(profile: str, values: pd.Series, threshold: float, source: str) -> xr.DataArray:
    """``novelty_<profile>(sample)`` with its attributes (``values`` in the cube's sample order)."""
    what = _WHAT.get(profile, f"profile '{profile}'")
    attrs = {
        "long_name": f"share of the sample's reads beyond the {what}",
        "units": "1",
        "profile": profile,
        "description": (f"share of the sample's fragments farther from every OTU centre than the threshold: the "
                        f"{NOVELTY_QUANTILE:g} quantile of the reference reads' distance to their nearest centre "
                        "(the reads the codebook was fitted on, or the atlas's); NaN = no fragment"),
        "threshold": threshold,
        "quantile": NOVELTY_QUANTILE,
        "source": source,
    }
    return xr.DataArray(values.to_numpy(dtype=np.float64), dims=("sample",), attrs=attrs, name=f"{NOVELTY_PREFIX}{profile}")


def add_novelty(ds: xr.Dataset, novelty_tsvs: dict[str, str | os.PathLike[str]]) -> xr.Dataset:
    """The cube with one ``novelty_<profile>`` variable per table (profile -> novelty.tsv); the
    names go in the attribute ``novelty`` (JSON list). Every table's problems are raised at once."""
    if not novelty_tsvs:
        return ds
    sample_ids = pd.Index([str(s) for s in ds["sample"].values], name="sample")
    variables, problems = {}, []
    for profile, path in novelty_tsvs.items():
        try:
            values, threshold = read_novelty(path, sample_ids)
        except PlanktonlmInputError as exc:
            problems += exc.problems
            continue
        variables[f"{NOVELTY_PREFIX}{profile}"] = novelty_variable(profile, values, threshold, os.fspath(path))
    if problems:
        raise PlanktonlmInputError(problems)
    ds = ds.assign(variables)
    ds.attrs["novelty"] = json.dumps(list(variables))
    return ds
