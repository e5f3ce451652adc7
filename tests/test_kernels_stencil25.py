"""kernels.stencil25's host function on awkward arguments: a device with a shallow FIFO, float64 fields,
and arguments that must be refused as `ArgumentError`s naming them (the bit-for-bit comparisons with its
NumPy reference at the SC22 sizes are in tests/test_reproduce.py)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.stencil25 import stencil25, stencil25_reference


def _fields(ny, nx, nz, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((ny, nx, nz)), rng.standard_normal((ny, nx, nz)),
            rng.random((ny, nx, nz)) * 0.05)


@pytest.mark.parametrize("fifo_depth", [3, 8])
def test_the_default_chunk_follows_a_shallow_fifo(fifo_depth):
    # The default chunk was 16 whatever the device, so a wafer with a shallower FIFO refused every call
    # until chunk= was passed; float64 fields are rounded to float32, as the library's other kernels do.
    u_prev, u, vp = _fields(4, 3, 20, seed=fifo_depth)
    device = ws.Device(ws.WaferSpec(width=4, height=4, fifo_depth=fifo_depth))
    got, _ = stencil25(u_prev, u, vp, 2, device=device)
    want = stencil25_reference(*(f.astype(np.float32) for f in (u_prev, u, vp)), 2)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ws.ArgumentError, match=f"pass chunk <= {fifo_depth}"):
        stencil25(u_prev, u, vp, 1, device=device, chunk=fifo_depth + 1)


def test_bad_arguments_are_refused_naming_them():
    u_prev, u, vp = _fields(2, 2, 3)
    with pytest.raises(ws.ArgumentTypeError, match="chunk"):       # was a CompileError in the library's code
        stencil25(u_prev, u, vp, 1, chunk=2.0)
    with pytest.raises(ws.ArgumentError, match="chunk"):
        stencil25(u_prev, u, vp, 1, chunk=0)
    empty = np.zeros((0, 2, 3), np.float32)
    with pytest.raises(ws.ArgumentError, match="u is empty"):     # was a SpecError about a wafer of height 0
        stencil25(empty, empty, empty, 1)
    with pytest.raises(ws.ArgumentTypeError, match="u_prev is complex"):
        stencil25(u_prev + 1j, u, vp, 1)
