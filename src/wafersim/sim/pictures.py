"""PNG pictures of per-PE quantities over the wafer (matplotlib, no screen needed).

Row 0 of the mesh (the north edge, y = 0) is drawn at the top, x grows to the right (east), as on
the wafer; every picture has a colour bar labelled with its units.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def save_map(values: np.ndarray, path: str | Path, title: str, units: str, cmap: str = "viridis",
             dpi: int = 100, max_pixels: int = 1200) -> Path:
    """Write a (height, width) array as a PNG heatmap with a colour bar; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height, width = values.shape
    scale = min(1.0, max_pixels / max(height, width))
    fig, ax = plt.subplots(figsize=(max(4.0, width * scale / dpi + 1.6), max(3.0, height * scale / dpi + 0.9)),
                           dpi=dpi, layout="constrained")
    image = ax.imshow(values, origin="upper", cmap=cmap, interpolation="nearest", aspect="equal")
    ax.set_title(title)
    ax.set_xlabel("x (PE column, east →)")
    ax.set_ylabel("y (PE row, south ↓)")
    fig.colorbar(image, ax=ax, label=units, shrink=0.9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
