"""Names in the cube: variable and dimension prefixes, the oracle profile, names a column cannot take."""

from __future__ import annotations

from planktonlm.vocab import METADATA_COORDS

ORACLE = "oracle"
ORACLE_NOTE = (
    "abundance_oracle holds the simulator's true relative abundances of genome copies "
    "(truth/abundance.tsv): for benchmarking the profiles and for the report only; "
    "no model reads it as an input"
)
# Names an environmental column cannot take: they are coordinates of the cube.
RESERVED_NAMES = frozenset({"sample", "time", *METADATA_COORDS.values()})
# long_name of abundance_<profile> and of its OTU coordinate, for the profiles planktonlm writes.
PROFILE_LONG_NAMES = {
    "embedding": ("fragments per embedding OTU (transformer read embeddings)", "embedding OTU id"),
    "kmer": ("fragments per k-mer OTU (baseline profile)", "k-mer OTU id"),
    ORACLE: ("true relative abundance of genome copies (simulation truth)", "genome"),
}
