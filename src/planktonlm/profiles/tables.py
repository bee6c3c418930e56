"""Profile tables: OTU names, counts per sample, and the byte-stable TSV / Parquet writer and its reader."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from planktonlm.io import atomic_path

EMBEDDING_PREFIX = "eotu_"
KMER_PREFIX = "kotu_"
#: OTU column prefix of each read-based profile
PROFILE_PREFIX = {"embedding": EMBEDDING_PREFIX, "kmer": KMER_PREFIX}


def otu_column_names(n_otus: int, prefix: str) -> list[str]:
    """``prefix`` + 1-based zero-padded index: eotu_0001 ... (wider when K > 9999)."""
    width = max(4, len(str(n_otus)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n_otus + 1)]


def count_profile(labels, n_otus: int) -> np.ndarray:
    """Fragments per OTU (int64, length n_otus) from 0-based OTU labels."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_otus):
        raise ValueError(f"labels must lie in 0..{n_otus - 1}")
    return np.bincount(labels, minlength=n_otus).astype(np.int64)


def build_profile_table(
    per_sample_labels: Mapping[str, np.ndarray], n_otus: int, prefix: str = EMBEDDING_PREFIX
) -> pd.DataFrame:
    """Samples x OTUs int64 counts; rows in the given sample order, index named ``sample``."""
    rows = [count_profile(labels, n_otus) for labels in per_sample_labels.values()]
    data = np.vstack(rows) if rows else np.zeros((0, n_otus), dtype=np.int64)
    index = pd.Index([str(s) for s in per_sample_labels], name="sample")
    return pd.DataFrame(data, index=index, columns=otu_column_names(n_otus, prefix))


def _arrow_table(df: pd.DataFrame) -> pa.Table:
    """Sample column first, explicit types, no pandas metadata (no version strings in the bytes)."""
    arrays = [pa.array([str(s) for s in df.index], type=pa.string())]
    for column in df.columns:
        values = df[column].to_numpy()
        if np.issubdtype(values.dtype, np.integer):
            arrays.append(pa.array(values.astype(np.int64), type=pa.int64()))
        else:
            arrays.append(pa.array(values.astype(np.float64), type=pa.float64()))
    return pa.Table.from_arrays(arrays, names=["sample", *map(str, df.columns)])


def write_profile(
    df: pd.DataFrame,
    tsv_path: str | os.PathLike[str] | None,
    parquet_path: str | os.PathLike[str] | None = None,
) -> None:
    """Write a samples x features table as TSV and/or Parquet, atomically, byte-stable.

    First column ``sample`` (the index; joins samples.tsv by id), then the feature columns
    (int64 counts or float64 values). TSV: tab-separated, ``\\n`` line ends, floats in
    shortest round-trip form, NaN as empty. Parquet: zstd level 3, format 2.6, no pandas
    metadata; the bytes depend only on the values and the pyarrow version.
    """
    if tsv_path is not None:
        with atomic_path(tsv_path) as tmp:
            df.to_csv(tmp, sep="\t", index=True, index_label="sample", lineterminator="\n")
    if parquet_path is not None:
        with atomic_path(parquet_path) as tmp:
            pq.write_table(
                _arrow_table(df),
                tmp,
                compression="zstd",
                compression_level=3,
                version="2.6",
                use_dictionary=False,
                write_statistics=True,
            )


def read_profile(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by ``write_profile`` (``.parquet`` or TSV), indexed by sample."""
    path = Path(path)
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
        df["sample"] = df["sample"].astype(str)
        return df.set_index("sample")
    return pd.read_csv(path, sep="\t", index_col="sample", dtype={"sample": str})
