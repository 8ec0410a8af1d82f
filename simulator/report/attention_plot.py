"""Heatmap grid of attention maps: one panel per head (rows = layers), titled by its pattern."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from simulator.report.export import atomic_write


def heatmap_grid(probs: np.ndarray, labels: np.ndarray, names: list[str], path: str | Path,
                 title: str = "", max_tokens: int = 128) -> Path:
    """Write a PNG of ``probs`` [layers, heads, L, L] (the first ``max_tokens`` tokens of each
    map, square-root colour scale so weak structure shows), each panel captioned
    ``L<l> H<h>`` and its cluster's name, framed in the cluster's colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers, heads, length, _ = probs.shape
    n = min(length, max_tokens)
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(layers, heads, figsize=(1.25 * heads, 1.4 * layers + 0.6),
                             squeeze=False)
    for layer in range(layers):
        for head in range(heads):
            ax = axes[layer, head]
            c = int(labels[layer * heads + head])
            ax.imshow(np.sqrt(probs[layer, head, :n, :n]), cmap="viridis", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_edgecolor(colours(c % 10))
                side.set_linewidth(2.5)
            ax.set_title(f"L{layer} H{head}\n{names[c]}", fontsize=6, color=colours(c % 10),
                         pad=2)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.97 if title else 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return Path(path)
