"""The simulator's independent random streams: one SeedSequence spawn key per layer.

Each layer draws from ``planktonlm.seeding.random_stream(seed, STREAM_<LAYER>, ...)``, so changing
one layer (more reads, another community model, a decoy) never moves the draws of another.
"""

from __future__ import annotations

STREAM_ENV, STREAM_NOISE_INDEX, STREAM_NICHE, STREAM_COMMUNITY, STREAM_READS = range(1, 6)
# Added later, with new keys, so that the draws of the streams above never move.
STREAM_DECOY, STREAM_AR1, STREAM_COUNTS = range(6, 9)
