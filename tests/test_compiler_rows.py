"""2-D slices of 2-D arrays (`t[0:4, 0:4] = ...`, compiled one row at a time) against NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, load_source, run_on_one_block


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


def test_block_assignments_match_numpy(dev, tmp_path):
    kern = load_source(tmp_path, """import numpy as np
import wafersim as ws


@ws.jit
def kern(u, out, y, x0, s):
    t = ws.local.array((4, 6), np.float32)
    v = ws.local.array((5, 6), np.float32)
    t[0:4, 0:6] = 1.0
    v[0:5, 0:6] = u[y:y + 5, x0:x0 + 6]
    t[1:3, 2:5] = v[0:2, 0:3] * s + t[1:3, 2:5] - v[2, 1]
    t[0:4, 0:6] += v[1:5, 0:6]
    t[2:4, 0:6] = max(t[2:4, 0:6], v[3, 0:6]) - t[0, 0]
    t[:, 0:2] = -t[:, 4:6]
    out[0:4, 1:7] = t[0:4, 0:6]
""").kern
    u = np.arange(80, dtype=np.float32).reshape(8, 10) * np.float32(0.37)
    out, = run_on_one_block(dev, kern, u, np.zeros((4, 7), np.float32), 2, 3, np.float32(1.5))[1:]
    f = np.float32
    t = np.ones((4, 6), f)
    v = u[2:7, 3:9].copy()
    t[1:3, 2:5] = v[0:2, 0:3] * f(1.5) + t[1:3, 2:5] - v[2, 1]
    t[0:4, 0:6] += v[1:5, 0:6]
    t[2:4, 0:6] = np.maximum(t[2:4, 0:6], v[3, 0:6]) - t[0, 0]
    t[:, 0:2] = -t[:, 4:6]
    want = np.zeros((4, 7), f)
    want[0:4, 1:7] = t
    np.testing.assert_array_equal(out, want)


def test_a_block_of_int32_and_a_run_time_row_start(dev, tmp_path):
    kern = load_source(tmp_path, """import numpy as np
import wafersim as ws


@ws.jit
def kern(out, r):
    t = ws.local.array((6, 3), np.int32)
    t[0:6, 0:3] = 7
    t[r:r + 2, 1:3] = t[r:r + 2, 0:2] * 3 + r
    out[0:6, 0:3] = t[0:6, 0:3]
""").kern
    for r in (0, 4):
        out, = run_on_one_block(dev, kern, np.zeros((6, 3), np.int32), r)
        t = np.full((6, 3), 7, np.int32)
        t[r:r + 2, 1:3] = t[r:r + 2, 0:2] * 3 + r
        np.testing.assert_array_equal(out, t)
    with pytest.raises(ws.MemoryAccessError):
        run_on_one_block(dev, kern, np.zeros((6, 3), np.int32), 5)  # rows 5 and 6 of 6


@pytest.mark.parametrize("body,text", [
    ("t[0:n, 0:2] = 1.0", "number of rows must be known"),
    ("t[0:2, 0:2] = t[1:3, 0:2]", "shifted from the rows written"),
    ("t[1:3, 0:2] = t[0:2, 0:2] + 1.0", "shifted from the rows written"),
    ("t[0:2, 0:2] = t[0:3, 0:2]", "a block of 3 rows where the destination has 2"),
    ("t[0:2, 0:2] = t[1, 0:2] * 2.0", "a row of the destination"),
    ("t[0:5, 0:2] = 1.0", "out of bounds"),
    ("b = ws.local.array(4)\n    b[0:2, 0:2] = 1.0", "needs a 2-D array"),
])
def test_misuse_is_a_compile_error(dev, tmp_path, body, text):
    kern = load_source(tmp_path, f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(out, n):
    t = ws.local.array((4, 4), np.float32)
    {body}
    out[0] = 0.0
""").kern
    error = compile_error(dev, kern, np.zeros(1, np.float32), 2)
    assert text in str(error), str(error)
