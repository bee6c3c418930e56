"""Reproducible gzip for the simulator: same writes, same bytes (no file name, mtime 0, fixed level)."""

from __future__ import annotations

from pathlib import Path

try:  # ISA-L gzip is ~4x faster than zlib and deterministic with mtime=0 (same writes, same bytes).
    from isal import igzip as gzip_backend

    GZIP_BACKEND = "isal.igzip"
except ImportError:  # pragma: no cover - isal ships with cutadapt/xopen on x86-64 and arm64
    import gzip as gzip_backend

    GZIP_BACKEND = "gzip"

GZIP_LEVEL = 1


class GzipOut:
    """A reproducible gzip file: no name in the header (filename=""), no clock (mtime=0)."""

    def __init__(self, path: Path):
        self._raw = open(path, "wb")
        self._gz = gzip_backend.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=GZIP_LEVEL, mtime=0)

    def write(self, data: bytes) -> None:
        self._gz.write(data)

    def close(self) -> None:
        self._gz.close()
        self._raw.close()
