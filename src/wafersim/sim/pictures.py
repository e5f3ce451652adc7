"""PNG pictures of per-PE quantities over the wafer (matplotlib, no screen needed).

Row 0 of the mesh (the north edge, y = 0) is drawn at the top, x grows to the right (east), as on
the wafer; every picture has a colour bar labelled with its units. On a wafer with spares or defects
(docs/defects.md) pictures show the physical array: dead PEs as red crosses, PEs that carry no logical
PE (unused spares, retired rows) in grey, and a dashed line where the spare columns and rows begin.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArgumentError, output_path

UNUSED_COLOUR = "#b0b0b0"
DEAD_COLOUR = "red"


def save_map(values: np.ndarray, path: str | Path, title: str, units: str, cmap: str = "viridis",
             dpi: int = 100, max_pixels: int = 1200, dead: np.ndarray | None = None,
             logical_size: tuple[int, int] | None = None) -> Path:
    """Write a (height, width) array as a heatmap with a colour bar; returns the path written.

    The format follows the suffix: `.png` or another of matplotlib's (`IMAGE_SUFFIXES`: `.pdf`, `.svg`,
    `.jpg`...); a name without one gets `.png`. Another suffix, a folder or a missing folder is an
    `ArgumentError` (`errors.output_path`), raised before any drawing.
    NaN entries are drawn grey (PEs without a value); `dead` (bool, same shape) marks dead PEs;
    `logical_size` (width, height) draws the boundary of the logical mesh inside a physical array."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.ticker import MaxNLocator

    suffixes = tuple(f".{kind}" for kind in FigureCanvasBase.get_supported_filetypes())
    path = output_path(path, "path", suffixes, default_suffix=".png")  # before any drawing

    height, width = values.shape
    longest = max(height, width)
    # Pixels per PE: large maps shrink to `max_pixels`; small ones grow to about 640 pixels (at most 16 a PE),
    # so that a wide, short launch (32 x 4) is a readable strip in a figure of its own shape.
    scale = max_pixels / longest if longest > max_pixels else min(16.0, max(1.0, 640 / longest))
    fig, ax = plt.subplots(figsize=(max(4.0, width * scale / dpi + 1.6), max(1.8, height * scale / dpi + 0.9)),
                           dpi=dpi, layout="constrained")
    colours = matplotlib.colormaps[cmap].with_extremes(bad=UNUSED_COLOUR)
    image = ax.imshow(np.ma.masked_invalid(values), origin="upper", cmap=colours, interpolation="nearest",
                      aspect="equal")
    if dead is not None and dead.any():
        ys, xs = np.nonzero(dead)
        ax.scatter(xs, ys, marker="x", c=DEAD_COLOUR, s=max(4.0, 400.0 / max(height, width)),
                   linewidths=1.0, label=f"dead PE ({len(xs):,})")
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    if logical_size is not None:
        lw, lh = logical_size
        if lw < width:
            ax.axvline(lw - 0.5, color="white", linestyle="--", linewidth=0.8)
        if lh < height:
            ax.axhline(lh - 0.5, color="white", linestyle="--", linewidth=0.8)
    ax.set_title(title)
    for axis in (ax.xaxis, ax.yaxis):  # (PE indices: no "-0.5, 0.0, 0.5" rows on a one-row launch's map)
        axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("x (PE column, east →)")
    ax.set_ylabel("y (PE row, south ↓)")
    fig.colorbar(image, ax=ax, label=units, shrink=0.9)
    try:
        fig.savefig(path, bbox_inches="tight", pad_inches=0.05)  # (a title wider than the axes is kept whole)
    except OSError as exc:  # (not writable)
        raise ArgumentError(f"cannot write {str(path)!r}: {exc.strerror or exc}", path=str(path)) from None
    finally:
        plt.close(fig)
    return path


def crop_physical(repair, physical: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A physical-array map (and its dead-PE mask) cut to the smallest north-west rectangle that holds the
    physical sites of the logical PEs x < `width`, y < `height` (`repair`: an `arch.defects.Repair`)."""
    rows = int(repair.phys_y[:height].max(initial=-1)) + 1
    cols = int(repair.phys_x[:height, :width].max(initial=-1)) + 1
    return physical[:rows, :cols], repair.dead[:rows, :cols]
