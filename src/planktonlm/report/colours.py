"""Colours of the report's figures, shared by the context (series colours) and the plots."""

from __future__ import annotations

import matplotlib
import numpy as np


def palette(n: int) -> list:
    """``n`` distinguishable colours: tab10/tab20 while they suffice, else evenly spaced turbo."""
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"]
    if n <= 20:
        return [cmap(i) for i in range(n)]
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]
