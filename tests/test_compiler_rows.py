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


def test_a_row_count_given_as_a_numpy_integer_or_a_bool(dev, tmp_path):
    # `a:a + K` takes K as Python does: an np.int32 module constant, or True (one row)
    kern = load_source(tmp_path, """import numpy as np
import wafersim as ws

K = np.int32(3)


@ws.jit
def kern(out, r):
    t = ws.local.array((6, 2), np.float32)
    t[0:6, 0:2] = 1.0
    t[r:r + K, 0:2] = 4.0
    t[r:r + True, 1:2] = 9.0
    out[0:6, 0:2] = t[0:6, 0:2]
""").kern
    for r in (0, 2):
        out, = run_on_one_block(dev, kern, np.zeros((6, 2), np.float32), r)
        t = np.ones((6, 2), np.float32)
        t[r:r + np.int32(3), 0:2] = 4.0
        t[r:r + True, 1:2] = 9.0
        np.testing.assert_array_equal(out, t)


@pytest.mark.parametrize("body,text", [
    ("t[0:n, 0:2] = 1.0", "number of rows must be known"),
    ("t[n:n + 5, 0:2] = 1.0", "5 rows of an array of 4"),
    ("t[0:2, 0:2] = t[1:3, 0:2]", "shifted from the rows written"),
    ("t[1:3, 0:2] = t[0:2, 0:2] + 1.0", "shifted from the rows written"),
    ("t[0:2, 0:2] = t[0:3, 0:2]", "a block of 3 rows where the destination has 2"),
    ("t[0:2, 0:2] = t[1, 0:2] * 2.0", "a row of the destination"),
    # a row of the destination copied (not computed) into the block: rows after the one it lies in read it
    # written (`t[0:3, 1:4] = t[0, 0:3]` gave rows 1 and 2 [0, 0, 1] where NumPy gives [0, 1, 2])
    ("t[0:3, 1:4] = t[0, 0:3]", "a row of the destination"),
    ("v = t[0, 0:3]\n    t[0:3, 1:4] = v", "a row of the destination"),
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


@pytest.mark.parametrize("rows", ["0:1025", "n:n + 100000"])
def test_a_block_of_too_many_rows_is_a_compile_error(dev, tmp_path, rows):
    # (each row compiles to its own instructions: 100,000 of them would compile for minutes)
    kern = load_source(tmp_path, f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(g, n):
    g[{rows}, 0:2] = 1.0
""").kern
    error = compile_error(dev, kern, np.zeros((2, 2), np.float32), 0)
    assert "rows; a block compiles to instructions for each of its rows, at most 1024" in str(error), str(error)


@ws.jit
def _bounds_once(out):
    t = ws.local.array((3, 6), np.int32)
    g = ws.local.array((3, 6), np.int32)
    u = ws.local.array(6, np.int32)
    t[0, 0] = 2
    t[1, 0] = 1
    for r in range(3):
        for c in range(6):
            g[r, c] = (r * 6 + c) * 10
    for c in range(6):
        u[c] = c + 100
    if ws.grid(1) == 0:
        for j in range(8):
            ws.send(ws.EAST, j + 1)
    else:
        t[t[1, 0]:t[1, 0] + 2, 0:3] = g[0:2, 0:3]                 # row 1 moves the start: NumPy's is 1 for both
        t[0:2, 0:2] = g[0:2, t[0, 0]:t[0, 0] + 2] + u[t[0, 0]:t[0, 0] + 2]   # row 0 sets t[0, 0] = 0 + 100 ...
        t[0:2, 3:5] = u[ws.recv(ws.WEST):ws.recv(ws.WEST) + 1] * ws.recv(ws.WEST)   # 3 receives, not 7
        t[1:3, 4:6] = g[1:3, ws.recv(ws.WEST):ws.recv(ws.WEST) + 1] + ws.recv(ws.WEST)
        t[0:2, ws.recv(ws.WEST) - 6:ws.recv(ws.WEST) - 6] = 9       # target bounds after the right side, once
        for r in range(3):
            for c in range(6):
                out[r * 6 + c] = t[r, c]


def test_a_block_evaluates_its_bounds_once_not_per_row():
    """A block assignment is compiled one row at a time; a bound that reads an array the rows write, or
    receives, is evaluated once in Python's order (the right side's bounds and scalars left to right, then the
    target's), as NumPy takes the views before any row is written."""
    words = iter(range(1, 100))
    t, g, u = np.zeros((3, 6), np.int32), np.arange(18, dtype=np.int32).reshape(3, 6) * 10, np.arange(100, 106)
    t[0, 0], t[1, 0] = 2, 1
    t[t[1, 0]:t[1, 0] + 2, 0:3] = g[0:2, 0:3]
    t[0:2, 0:2] = g[0:2, t[0, 0]:t[0, 0] + 2] + u[t[0, 0]:t[0, 0] + 2]
    lo, hi = next(words), next(words)
    t[0:2, 3:5] = u[lo:hi + 1] * next(words)
    lo, hi = next(words), next(words)
    t[1:3, 4:6] = g[1:3, lo:hi + 1] + next(words)
    value = 9
    lo, hi = next(words), next(words)
    t[0:2, lo - 6:hi - 6] = value
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    out = dev.device_array(18, np.int32)
    _bounds_once[(1, 1), (2, 1)](out)
    np.testing.assert_array_equal(out.copy_to_host(), t.reshape(-1))


@ws.jit
def _augmented_block_at_a_read_row(out):
    t = ws.local.array((3, 4), np.int32)
    a = ws.local.array(4, np.int32)
    a[0] = 1
    t[a[0]:a[0] + 2, 0:2] += 5           # the index read once, first; still a:a + K, two rows
    t[a[0]:a[0] + 2, 1:3] *= a[0] + 2
    for r in range(3):
        for c in range(4):
            out[r * 4 + c] = t[r, c]


def test_an_augmented_block_whose_rows_start_at_an_element_keeps_its_row_count():
    t, a = np.zeros((3, 4), np.int32), np.array([1, 0, 0, 0], np.int32)
    t[a[0]:a[0] + 2, 0:2] += 5
    t[a[0]:a[0] + 2, 1:3] *= a[0] + 2
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.device_array(12, np.int32)
    _augmented_block_at_a_read_row[(1, 1), (1, 1)](out)
    np.testing.assert_array_equal(out.copy_to_host(), t.reshape(-1))
