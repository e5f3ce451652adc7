"""Launches that `sim.routed_senders` proves with several senders a block (`disjoint_senders`), run on the compiled
path, against the reference strategy, the NumPy path and NumPy (review44): vector messages longer than a FIFO (the
senders wait for their receivers), PEs out of step by data-dependent work, senders on two channels at once (one
PE sending on both; receivers taking words of two senders, over links of opposite directions), each link and
receiver FIFO carrying one sender's words."""
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


def products_model(values: np.ndarray, scaled: np.ndarray, shifted: np.ndarray) -> np.ndarray:
    """What each PE of these kernels computes, in float32 operation by operation: the sum over k of
    (scaled * (k + 1)) * (shifted + k), `scaled` and `shifted` the values of the PEs whose vectors it holds, plus
    its work loop's count."""
    acc = np.zeros_like(values)
    for k in range(WORDS):
        acc = acc + (scaled * np.float32(k + 1)) * (shifted + np.float32(k))
    return acc + np.floor(values * np.float32(6)).astype(np.float32)


def block_origins(count: int, size: int) -> np.ndarray:
    """The first index of each index's block, along an axis of `count` indices in blocks of `size`."""
    return np.arange(count) // size * size


@pytest.mark.parametrize("grid, block", [((1, 1), (6, 5)), ((2, 2), (4, 3))])
def test_a_broadcast_down_every_column_and_along_every_row_is_proven_and_identical(grid, block, monkeypatch):
    rng = np.random.default_rng(44)
    values = rng.random((grid[1] * block[1], grid[0] * block[0]), dtype=np.float32)
    got, proven, compiled = run_each_strategy(two_broadcasts, grid, block, (values, values), [
        ws.routes.column_broadcast(1), ws.routes.row_broadcast(2)], monkeypatch)
    assert proven and compiled
    height, width = values.shape
    top, first = values[block_origins(height, block[1]), :], values[:, block_origins(width, block[0])]
    np.testing.assert_array_equal(got, products_model(values, top, first))


LAST = 3  # the last column of `opposite_broadcasts`' 4-wide blocks


@ws.jit
def opposite_broadcasts(values, out):
    """Column 0 of each row sends a vector east along its row (channel 1) and column LAST one west (channel 2),
    after some data-dependent work: the PEs between receive on both channels, from two senders, over links
    of opposite directions."""
    x, y = ws.grid(2)
    v = values[y, x]
    left = ws.local.array(WORDS, np.float32)
    right = ws.local.array(WORDS, np.float32)
    s = 0.0
    for k in range(int(v * 6.0)):
        s += 1.0
    if ws.threadIdx.x == 0:
        for k in range(WORDS):
            left[k] = v * (k + 1)
        ws.send(ws.RAMP, left[0:WORDS], channel=1)
    else:
        ws.recv(ws.RAMP, out=left[0:WORDS], channel=1)
    if ws.threadIdx.x == LAST:
        for k in range(WORDS):
            right[k] = v + k
        ws.send(ws.RAMP, right[0:WORDS], channel=2)
    else:
        ws.recv(ws.RAMP, out=right[0:WORDS], channel=2)
    acc = 0.0
    for k in range(WORDS):
        acc += left[k] * right[k]
    out[y, x] = acc + s


@pytest.mark.parametrize("grid, block", [((1, 1), (LAST + 1, 3)), ((3, 2), (LAST + 1, 2))])
def test_broadcasts_from_both_ends_of_every_row_are_proven_and_identical(grid, block, monkeypatch):
    rng = np.random.default_rng(45)
    values = rng.random((grid[1] * block[1], grid[0] * block[0]), dtype=np.float32)
    got, proven, compiled = run_each_strategy(opposite_broadcasts, grid, block, (values, values), [
        ws.routes.row_broadcast(1, root=0), ws.routes.row_broadcast(2, root=LAST)], monkeypatch)
    assert proven and compiled
    origins = block_origins(values.shape[1], block[0])
    np.testing.assert_array_equal(got, products_model(values, values[:, origins], values[:, origins + LAST]))
