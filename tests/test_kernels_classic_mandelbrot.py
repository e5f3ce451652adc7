"""kernels.classic.mandelbrot: iteration counts equal a per-pixel Python loop in float32, each PE's work
follows its own pixels' counts, FLOPs by formula, refused inputs."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.classic.mandelbrot import (DEFAULT_EXTENT, mandelbrot, mandelbrot_flops, pixel_coordinates,
                                                  reference_counts)


def _python_counts(width, height, max_iter, extent):
    """One pixel at a time with NumPy float32 scalars (each operation rounded once, as IEEE float32)."""
    cr, ci = pixel_coordinates(width, height, extent)
    two, four = np.float32(2), np.float32(4)
    out = np.zeros((height, width), np.int32)
    for i in range(height):
        for j in range(width):
            zr = zi = np.float32(0)
            n = 0
            while n < max_iter:
                zr2, zi2 = zr * zr, zi * zi
                if zr2 + zi2 > four:
                    break
                zi = two * zr * zi + ci[i]
                zr = zr2 - zi2 + cr[j]
                n += 1
            out[i, j] = n
    return out


@pytest.mark.parametrize("width, height, max_iter, tile, extent", [
    (16, 12, 40, (4, 4), DEFAULT_EXTENT),
    (12, 8, 60, (3, 2), (-0.8, -0.7, 0.05, 0.15)),  # near the boundary: long, uneven escapes
])
def test_counts_equal_python(width, height, max_iter, tile, extent):
    counts, stats = mandelbrot(width, height, max_iter, tile, extent)
    want = _python_counts(width, height, max_iter, extent)
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(reference_counts(*pixel_coordinates(width, height, extent), max_iter), want)
    assert counts.dtype == np.int32 and counts.min() >= 1 and counts.max() == max_iter
    assert stats.flops == mandelbrot_flops(counts, max_iter)
    assert stats.block == (width // tile[0], height // tile[1])


def test_each_pe_runs_as_long_as_its_pixels_need():
    # One pixel per PE: a PE's instructions are a fixed cost plus a fixed cost per iteration, plus one
    # more for a pixel that escapes; the busiest PE is one inside the set.
    width = height = 8
    max_iter = 30
    counts, stats = mandelbrot(width, height, max_iter, (1, 1))
    instructions = stats.metric("instructions").astype(np.int64)
    escaped = counts < max_iter
    for group in (escaped, ~escaped):
        it, ins = counts[group], instructions[group]
        if it.size >= 2 and np.ptp(it) > 0:
            slope = (ins.max() - ins.min()) // (it.max() - it.min())
            np.testing.assert_array_equal(ins - slope * it, np.full_like(ins, ins.min() - slope * it.min()))
    assert counts.flat[np.argmax(instructions)] == max_iter
    assert np.ptp(stats.metric("busy")) > 0


def test_bad_inputs_are_refused_with_sizes():
    with pytest.raises(ws.ArgumentError, match="tiles of 3 x 4 pixels must tile the 16 x 16 image"):
        mandelbrot(16, 16, 10, (3, 4))
    with pytest.raises(ws.ArgumentError, match="positive int"):
        mandelbrot(16, 16, 0)
    with pytest.raises(ws.ArgumentError, match="xmin < xmax"):
        mandelbrot(8, 8, 10, extent=(1.0, -1.0, 0.0, 1.0))
    with pytest.raises(ws.ArgumentError, match="do not fit the 4 x 4 wafer"):
        mandelbrot(64, 64, 10, (8, 8), device=ws.Device(ws.WaferSpec(width=4, height=4)))
    with pytest.raises(ws.OutOfMemoryError, match="bytes"):
        mandelbrot(8192, 8, 10, (8192, 8))


def test_extents_beyond_float32_and_bad_values_are_refused():
    # An edge beyond float32's range became -inf in the float32 pixel coordinates (NumPy's RuntimeWarning
    # only) and every count 1, a silent wrong picture; a string was a bare TypeError; max_iter past int32
    # a LaunchError about "argument 3".
    with pytest.raises(ws.ArgumentError, match=r"extent\[0\] holds .*beyond float32's range"):
        mandelbrot(4, 4, 5, (2, 2), extent=(-1e39, 0.0, 0.0, 1.0))
    with pytest.raises(ws.ArgumentError, match="extent must be finite"):
        mandelbrot(4, 4, 5, (2, 2), extent=(-np.inf, 0.0, 0.0, 1.0))
    with pytest.raises(ws.ArgumentTypeError, match=r"extent\[0\] must be a real number"):
        mandelbrot(4, 4, 5, (2, 2), extent=("a", 0.0, 0.0, 1.0))
    with pytest.raises(ws.ArgumentError, match="4 numbers"):
        mandelbrot(4, 4, 5, (2, 2), extent=(-2.0, 0.5, -1.0))
    with pytest.raises(ws.ArgumentError, match=r"max_iter must be at most 2\*\*31 - 1"):
        mandelbrot(4, 4, 2**31, (2, 2))
    extent = (np.float32(-2.0), 0.5, -1, 1)                           # NumPy and Python numbers alike
    counts, _ = mandelbrot(4, 4, 9, (2, 2), extent=extent)
    np.testing.assert_array_equal(counts, _python_counts(4, 4, 9, extent))


def test_an_integer_extent_past_2_24_is_taken_as_its_float_is():
    # The extent check took float32_input's rule for values, refusing integers past 2**24 though the float
    # 2e7 passed: the corners are rounded to float32 either way (`pixel_coordinates`).
    extent = (-20_000_000, 20_000_000, -1, 1)
    counts, _ = mandelbrot(4, 4, 9, (2, 2), extent=extent)
    np.testing.assert_array_equal(counts, _python_counts(4, 4, 9, extent))
    np.testing.assert_array_equal(counts, mandelbrot(4, 4, 9, (2, 2), extent=(-2e7, 2e7, -1.0, 1.0))[0])
    with pytest.raises(ws.ArgumentError, match=r"extent\[1\] = 10{39} is beyond float32's range"):
        mandelbrot(4, 4, 9, (2, 2), extent=(0, 10 ** 39, 0, 1))
