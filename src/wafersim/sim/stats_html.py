"""`LaunchStats` in Jupyter: an HTML summary table and an inline heatmap of the launched blocks.

Jupyter calls `LaunchStats._repr_html_` when a cell's value is a `LaunchStats`; it returns a table of the
launch's figures and a PNG heatmap (base64, inline) of one per-PE metric, cropped to the rectangle of the
wafer the launch's blocks occupied (a 4 x 32-PE launch on a 757 x 996 wafer would otherwise be a line
of pixels in a sea of zeros).
"""
from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .layout import slot_grid
from .stats import energy_text

if TYPE_CHECKING:
    from .stats import LaunchStats

#: the metric the notebook picture shows
DEFAULT_METRIC = "busy"


def launched_region(stats: "LaunchStats") -> tuple[int, int]:
    """(width, height) in PEs of the wafer's north-west rectangle that the launch's blocks occupied: the
    slots of its first wave (later waves reuse the same slots)."""
    (gx, gy), (bx, by) = stats.grid, stats.block
    blocks = gx * gy
    slots_x, slots_y = slot_grid(stats.spec, blocks, (bx, by))
    columns = min(blocks, slots_x)
    rows = min(-(-blocks // slots_x), slots_y)
    return columns * bx, rows * by


def heatmap_png(stats: "LaunchStats", metric: str = DEFAULT_METRIC) -> bytes:
    """A PNG heatmap of `metric` over the launched region (see `launched_region`)."""
    from .pictures import save_map

    values = stats.metric(metric)  # raises ArgumentError for an unknown metric
    width, height = launched_region(stats)
    units, label = stats.HEATMAP_METRICS[metric]
    with tempfile.TemporaryDirectory() as folder:
        path = save_map(np.asarray(values)[:height, :width], Path(folder) / "map.png",
                        f"{stats.program}: {label}{stats.waves_note}", units,
                        cmap="magma" if metric == "stall" else "viridis",
                        max_pixels=400)
        return path.read_bytes()


def summary_rows(stats: "LaunchStats") -> list[tuple[str, str]]:
    """(figure, value) pairs of the summary table, formatted for people."""
    return [
        ("kernel", stats.program),
        ("grid x block", f"{stats.grid} x {stats.block}"),
        ("waves", f"{stats.waves:,}"),
        ("cycles", f"{stats.cycles:,}"),
        ("simulated time", f"{stats.seconds * 1e6:.3f} us"),
        ("PE-instructions", f"{stats.instructions:,}"),
        ("words over links", f"{stats.words_moved:,}"),
        ("global memory bytes", f"{stats.global_bytes:,}"),
        ("floating-point operations", f"{stats.flops:,}"),
        ("utilization of peak FLOP/s", f"{stats.utilization:.3%}"),
        ("energy", energy_text(stats.energy_j)),
    ]


def render_html(stats: "LaunchStats", metric: str = DEFAULT_METRIC) -> str:
    """The HTML Jupyter shows for a `LaunchStats`: the summary table and the inline heatmap."""
    width, height = launched_region(stats)
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
                   f"<td style='text-align:right'>{html.escape(value)}</td></tr>"
                   for name, value in summary_rows(stats))
    png = base64.b64encode(heatmap_png(stats, metric)).decode("ascii")
    caption = (f"{html.escape(metric)} per PE over the launched blocks{stats.waves_note}: "
               f"x 0..{width - 1}, y 0..{height - 1} "
               f"of the {stats.spec.width} x {stats.spec.height} wafer")
    return (f"<div class='wafersim-launch-stats'><table>{rows}</table>"
            f"<figure><img src='data:image/png;base64,{png}' alt='{caption}'/>"
            f"<figcaption>{caption}</figcaption></figure></div>")
