"""Launches of one shape in a row: each gives exactly what it gives alone.

A warm launch reuses what earlier launches left in the process: the registers and SRAM of a finished wave
(`hostmem.SPARE`), the compiled interpreter's FIFO stacks (`compiled.fabric_state._SPARE`), per-code facts
(`code_facts`, `memory_order.GlobalOrder`'s distances), a host function's spec (`kernels.hosting.fitting_device`)
and a wave's lazily made executors (`compute._Deferred`). None of it may carry state from one launch into the
next: here each launch in a row must equal the same launch run alone after the pools were emptied (results,
cycles and every statistic), and NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run
from wafersim.kernels import scan
from wafersim.sim import hostmem
from wafersim.sim.compiled import fabric_state

W, H, N = 8, 4, 8  # a block of W x H PEs, N words a PE


@ws.jit
def shift_sum(x, out):
    """out = 2 x + the west neighbour's x (a vector message), + what a fresh SRAM array sums to (zero)."""
    px, py = ws.grid(2)
    me = py * W + px
    seen = ws.local.array(N, np.float32)
    left = ws.local.array(N, np.float32)
    stale = 0.0
    for k in range(N):
        stale += seen[k]  # every element is 0 when the block starts: the last launch's words must not show
    seen[0:N] = x[me, 0:N]
    if px < W - 1:
        ws.send(ws.EAST, seen[0:N])
    if px > 0:
        ws.recv(ws.WEST, out=left[0:N])
    for k in range(N):
        out[me, k] = seen[k] * 2.0 + left[k] + stale


@ws.jit
def row_max(x, out):
    """Another program of the same shape: each PE's running maximum of its words, and how many of its SRAM
    words were not zero at the start (none)."""
    px, py = ws.grid(2)
    me = py * W + px
    seen = ws.local.array(N, np.float32)
    dirty = 0
    for k in range(N):
        if seen[k] != 0.0:
            dirty += 1
    seen[0:N] = x[me, 0:N]
    best = seen[0]
    for k in range(N):
        best = max(best, seen[k])
        out[me, k] = best + dirty


def shift_sum_reference(x: np.ndarray) -> np.ndarray:
    tiles = x.reshape(H, W, N)
    left = np.zeros_like(tiles)
    left[:, 1:] = tiles[:, :-1]
    return (tiles * np.float32(2) + left).reshape(H * W, N)


def row_max_reference(x: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(x, axis=1)


def launch(kernel, x: np.ndarray):
    """(output, LaunchStats) of `kernel` on one W x H block, on a new device."""
    dev = ws.Device(ws.WaferSpec(width=W, height=H))
    d_x, d_out = dev.to_device(x), dev.device_array(x.shape, np.float32)
    stats = kernel[(1, 1), (W, H)](d_x, d_out, print_output=False)
    return d_out.copy_to_host(), stats


def alone(kernel, x: np.ndarray):
    """`launch` with nothing kept from earlier launches to reuse."""
    hostmem.SPARE.clear()
    fabric_state._SPARE.clear()
    return launch(kernel, x)


@pytest.fixture
def pooled(monkeypatch):
    """Every wave's registers and SRAM kept for the next launch, however small (the pool keeps large ones only)."""
    monkeypatch.setattr(hostmem.SPARE, "min_bytes", 0)
    yield
    hostmem.SPARE.clear()


def inputs(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-4, 4, (W * H, N)).astype(np.float32)


def test_launches_of_one_kernel_in_a_row_give_what_each_gives_alone(pooled):
    x1, x2 = inputs(1), inputs(2)
    first, second = alone(shift_sum, x1), alone(shift_sum, x2)
    np.testing.assert_array_equal(first[0], shift_sum_reference(x1))
    np.testing.assert_array_equal(second[0], shift_sum_reference(x2))
    for x, expected in [(x1, first), (x2, second), (x2, second), (x1, first)]:
        assert_same_run(expected, launch(shift_sum, x))
    assert hostmem.SPARE.kept_bytes, "the launches kept no registers or SRAM to reuse: the test tests nothing"


def test_launches_of_two_kernels_of_one_shape_in_a_row_give_what_each_gives_alone(pooled):
    x1, x2 = inputs(3), inputs(4)
    shifted, maxima = alone(shift_sum, x1), alone(row_max, x2)
    np.testing.assert_array_equal(maxima[0], row_max_reference(x2))
    for _ in range(2):
        assert_same_run(shifted, launch(shift_sum, x1))
        assert_same_run(maxima, launch(row_max, x2))


def test_a_host_function_called_in_a_row_gives_what_each_call_gives_alone(pooled):
    """`scan.prefix_sum` on a device of its own each call (`fitting_device`, whose spec is made once per size),
    with float32 and int32 rows of one shape: each call as alone, and as NumPy."""
    rng = np.random.default_rng(5)
    calls = [rng.random((2, 40), dtype=np.float32), rng.integers(-100, 100, (2, 40), dtype=np.int32),
             rng.random((2, 40), dtype=np.float32)]
    expected = []
    for values in calls:
        hostmem.SPARE.clear()
        fabric_state._SPARE.clear()
        expected.append(scan.prefix_sum(values))
        np.testing.assert_array_equal(expected[-1][0], np.cumsum(values, axis=1))
    for values, reference in [*zip(calls, expected), *zip(calls[::-1], expected[::-1])]:
        assert_same_run(reference, scan.prefix_sum(values))
