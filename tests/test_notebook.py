"""LaunchStats in Jupyter: `_repr_html_` (a summary table and an inline PNG heatmap cropped to the launched
blocks), and examples/launch_stats.ipynb executed with nbclient, its outputs checked against NumPy."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim import stats_html
from wafersim.sim.pictures import save_map

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "launch_stats.ipynb"
IMAGE = re.compile(r"<img src='data:image/png;base64,([A-Za-z0-9+/=]+)'")


@ws.jit
def count_up(out, n):
    x, y = ws.grid(2)
    i = 0
    while i < n * (x + 1):                 # PEs further east work longer: the heatmap has a gradient
        i += 1
    out[y, x] = i


def table(html: str) -> dict[str, str]:
    return dict(re.findall(r"<th[^>]*>([^<]*)</th><td[^>]*>([^<]*)</td>", html))


# 16 dead PEs in row 2 of a 16 x 16 wafer with no spares: 15 rows of 16 live PEs (and one of 0)
ROW_DEAD = {"defects": [(x, 2) for x in range(16)]}


@pytest.mark.parametrize("wafer, grid, block, region", [
    ((16, 16), (3, 1), (8, 4), (16, 8)),   # 2 slots across: 2 columns, 2 rows of blocks
    ((16, 16), (1, 1), (5, 3), (5, 3)),    # one block
    ((16, 16), (9, 2), (4, 4), (16, 16)),  # more blocks than slots: waves over the whole wafer
    ((16, 8), (2, 1), (16, 1), (16, 2)),   # full-width blocks stack down
    ((16, 16, ROW_DEAD), (9, 2), (4, 4), (16, 12)),  # a dead row: 3 rows of slots in the 15 live rows
])
def test_launched_region_is_the_slots_the_blocks_used(wafer, grid, block, region):
    dev = ws.Device(ws.WaferSpec(width=wafer[0], height=wafer[1], **(wafer[2] if len(wafer) > 2 else {})))
    gx, gy = grid
    bx, by = block
    out = dev.device_array((gy * by, gx * bx), np.int32)
    stats = count_up[grid, block](out, 2)
    assert stats_html.launched_region(stats) == region
    # every PE that ran is inside the region, and every PE outside it stayed idle
    busy = stats.metric("busy")
    width, height = region
    assert (busy[:height, :width] > 0).sum() == min(gx * gy, (width // bx) * (height // by)) * bx * by
    assert not busy[height:, :].any() and not busy[:, width:].any()


def test_repr_html_has_the_summary_table_and_a_heatmap_of_the_launched_blocks(tmp_path):
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    out = dev.device_array((4, 24), np.int32)
    stats = count_up[(3, 1), (8, 4)](out, 2)
    html = stats._repr_html_()

    rows = table(html)
    assert rows["kernel"] == "count_up"
    assert rows["cycles"] == f"{stats.cycles:,}"
    assert rows["PE-instructions"] == f"{stats.instructions:,}"
    assert rows["waves"] == "1" and rows["grid x block"] == "(3, 1) x (8, 4)"
    assert rows["global memory bytes"] == f"{3 * 8 * 4 * 4:,}"      # one int32 store per PE

    (encoded,) = IMAGE.findall(html)
    png = base64.b64decode(encoded)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # the same picture as the busy metric cut by hand to the 16 x 8 PEs the 3 blocks of 8 x 4 used
    expected = save_map(stats.busy[:8, :16], tmp_path / "expected.png", "count_up: busy cycles per PE", "cycles",
                        max_pixels=400)
    assert png == expected.read_bytes()
    assert "x 0..15, y 0..7 of the 16 x 16 wafer" in html


def test_the_example_notebook_runs_and_its_outputs_match_numpy(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]

    printed = json.loads("".join(o.text for o in outputs if o.output_type == "stream"))
    u = np.random.default_rng(2026).random((16, 32), dtype=np.float32)
    np.testing.assert_allclose(np.array(printed["result"], dtype=np.float32), heat_reference(u, 0.1, 10),
                               rtol=2e-6, atol=1e-7)

    (html,) = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert table(html)["cycles"] == f"{printed['cycles']:,}"
    assert "x 0..31, y 0..15 of the 64 x 64 wafer" in html     # cropped to the launched block
    (encoded,) = IMAGE.findall(html)
    assert base64.b64decode(encoded).startswith(b"\x89PNG")

    (png,) = [o.data["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert base64.b64decode(png).startswith(b"\x89PNG") and (tmp_path / "stall.png").exists()


def heat_reference(u: np.ndarray, alpha: float, steps: int) -> np.ndarray:
    """The notebook's stencil in float32: edges of the block reflect their own value."""
    c = u.astype(np.float32)
    alpha = np.float32(alpha)
    for _ in range(steps):
        p = np.pad(c, 1, mode="edge")
        acc = ((p[:-2, 1:-1] + p[2:, 1:-1]) + p[1:-1, 2:]) + p[1:-1, :-2]
        c = c + alpha * (acc - np.float32(4.0) * c)
    return c
