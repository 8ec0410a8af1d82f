"""Heatmap grid of attention maps: one panel per head (rows = layers), titled by its pattern."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.report.figure import save, subplots


def heatmap_grid(probs: np.ndarray, labels: np.ndarray, names: list[str], path: str | Path,
                 title: str = "", max_tokens: int = 128, dpi: int = 110,
                 size: tuple[float, float] | None = None) -> Path:
    """Write a PNG of ``probs`` [layers, heads, L, L] (the first ``max_tokens`` tokens of each
    map, square-root colour scale so weak structure shows), each panel captioned
    ``L<l> H<h>`` and its cluster's name, framed in the cluster's colour. ``size`` (inches)
    defaults to 1.25 x 1.55 a panel plus room for the titles."""
    layers, heads, length, _ = probs.shape
    n = min(length, max_tokens)
    if size is None:
        size = (1.25 * heads + 0.5, 1.55 * layers + (0.9 if title else 0.6))
    plt, fig, axes = subplots(layers, heads, size, dpi, squeeze=False)
    colours = plt.get_cmap("tab10")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
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
    fig.supxlabel(f"key position (tokens 0-{n - 1}) in each panel", fontsize=8)
    fig.supylabel(f"query position (tokens 0-{n - 1})", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save(fig, path, dpi)
