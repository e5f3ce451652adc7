"""Launches that `sim.routed_senders` proves with several senders a block (`disjoint_senders`), run on the compiled
path, against the reference strategy, the NumPy path and NumPy (review44): vector messages longer than a FIFO (the
senders wait for their receivers), PEs out of step by data-dependent work, senders on two channels at once (one
PE sending on both), each link and receiver FIFO carrying one sender's words."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_routed_senders import run_each_strategy

WORDS = 24  # a message's words: more than a FIFO holds (16)


@ws.jit
def two_broadcasts(values, out):
    """Row 0 of each column sends a vector down its column (channel 1) and column 0 of each row one along its row
    (channel 2), after some data-dependent work; every PE sums the products of the two vectors it holds."""
    x, y = ws.grid(2)
    v = values[y, x]
    col = ws.local.array(WORDS, np.float32)
    row = ws.local.array(WORDS, np.float32)
    s = 0.0
    for k in range(int(v * 6.0)):
        s += 1.0
    if ws.threadIdx.y == 0:
        for k in range(WORDS):
            col[k] = v * (k + 1)
        ws.send(ws.RAMP, col[0:WORDS], channel=1)
    else:
        ws.recv(ws.RAMP, out=col[0:WORDS], channel=1)
    if ws.threadIdx.x == 0:
        for k in range(WORDS):
            row[k] = v + k
        ws.send(ws.RAMP, row[0:WORDS], channel=2)
    else:
        ws.recv(ws.RAMP, out=row[0:WORDS], channel=2)
    acc = 0.0
    for k in range(WORDS):
        acc += col[k] * row[k]
    out[y, x] = acc + s


def two_broadcasts_model(values: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """`two_broadcasts` in float32, operation by operation."""
    bx, by = block
    height, width = values.shape
    top = values[np.arange(height) // by * by, :]  # each PE's column's row 0 of its block
    first = values[:, np.arange(width) // bx * bx]  # each PE's row's column 0 of its block
    acc = np.zeros_like(values)
    for k in range(WORDS):
        product = (top * np.float32(k + 1)) * (first + np.float32(k))
        acc = acc + product
    return acc + np.floor(values * np.float32(6)).astype(np.float32)


@pytest.mark.parametrize("grid, block", [((1, 1), (6, 5)), ((2, 2), (4, 3))])
def test_a_broadcast_down_every_column_and_along_every_row_is_proven_and_identical(grid, block, monkeypatch):
    rng = np.random.default_rng(44)
    values = rng.random((grid[1] * block[1], grid[0] * block[0]), dtype=np.float32)
    got, proven, compiled = run_each_strategy(two_broadcasts, grid, block, (values, values), [
        ws.routes.column_broadcast(1), ws.routes.row_broadcast(2)], monkeypatch)
    assert proven and compiled
    np.testing.assert_array_equal(got, two_broadcasts_model(values, block))
