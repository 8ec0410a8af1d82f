"""What every archsim figure shares: matplotlib loaded lazily on the Agg backend, a figure of an
exact size, a marker per series, and an atomic PNG write.

A figure is ``size`` inches at ``dpi``: the PNG written is ``size[0] * dpi`` by
``size[1] * dpi`` pixels. Figures use matplotlib's constrained layout, which fits titles,
labels and legends inside that canvas (``tight_layout`` does not account for a suptitle, and
``bbox_inches="tight"`` would change the size asked for).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

#: one marker per series (workload, policy, network), in order; colours follow matplotlib's
#: default cycle, so a series differs from its neighbours in both
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


def subplots(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (7.5, 4.8),
             dpi: int = 100, **kwargs: Any) -> tuple[Any, Any, Any]:
    """``(pyplot, figure, axes)`` for a figure of ``size`` inches at ``dpi`` (axes squeezed as
    plt.subplots does), laid out so nothing is clipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=size, dpi=dpi, layout="constrained",
                             **kwargs)
    return plt, fig, axes


def save(fig: Any, path: str | Path, dpi: int, fmt: str = "png") -> Path:
    """Write ``fig`` to ``path`` atomically at ``dpi`` (the size is the figure's, never
    trimmed) and close it."""
    import matplotlib.pyplot as plt

    from simulator.files import atomic_write

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=dpi)
    finally:
        plt.close(fig)
    atomic_write(path, buf.getvalue())
    return Path(path)
