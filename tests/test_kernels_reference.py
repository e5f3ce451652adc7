"""`kernels.reference.heat_step` / `heat`: the NumPy reference of the heat kernels, checked cell by cell
against plain Python float32 arithmetic (each operation rounded to float32, neighbours summed in order)."""
from __future__ import annotations

import numpy as np
import pytest

from wafersim.kernels import reference


def _step_by_cells(c: np.ndarray, alpha: float, order: tuple[str, ...]) -> np.ndarray:
    """One zero-flux step, a cell at a time with NumPy float32 scalars."""
    h, w = c.shape
    f, a = np.float32, np.float32(alpha)
    out = np.empty_like(c)
    for i in range(h):
        for j in range(w):
            at = {"north": (max(i - 1, 0), j), "south": (min(i + 1, h - 1), j),
                  "west": (i, max(j - 1, 0)), "east": (i, min(j + 1, w - 1))}
            acc = f(0)
            for name in order:
                acc = f(acc + c[at[name]])
            out[i, j] = f(c[i, j] + f(a * f(acc - f(f(4) * c[i, j]))))
    return out


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (4, 7)])
@pytest.mark.parametrize("order", [reference.ORDER_API, reference.ORDER_ASSEMBLY, ("west", "north")])
def test_heat_step_is_the_cell_by_cell_float32_sum(shape, order):
    rng = np.random.default_rng(sum(shape))
    c = (rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(1e3)
    c.flat[0] = -0.0  # (a neighbour -0.0 is summed after 0: its sign is lost as in the kernels' sum)
    with np.errstate(all="ignore"):
        expected = _step_by_cells(c, 0.1, order)
        got = reference.heat_step(c, np.float32(0.1), order)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.int32), expected.view(np.int32))  # bit for bit, zeros' signs too
    np.testing.assert_array_equal(c.flat[0], np.float32(-0.0))  # (the input is left as it was)


def test_heat_runs_each_block_as_its_own_domain():
    rng = np.random.default_rng(3)
    u = rng.random((6, 8), dtype=np.float32)
    got = reference.heat(u, 0.2, 3, block=(4, 3), order=reference.ORDER_API)
    expected = np.empty_like(u)
    for y0 in (0, 3):
        for x0 in (0, 4):
            tile = u[y0:y0 + 3, x0:x0 + 4]
            for _ in range(3):
                tile = _step_by_cells(tile, 0.2, reference.ORDER_API)
            expected[y0:y0 + 3, x0:x0 + 4] = tile
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(got, u)
