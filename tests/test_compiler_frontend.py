"""The front end's driver (compiler/frontend.py): a `ws.recv` without dtype= read as the int32 every send
toward it sends (docs/python-supported.md, "Words on the fabric", rule 2), found by lowering again when the
first lowering stopped before it had seen the sends."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, line_of
from conftest import run_on_one_block as run


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


@ws.jit
def relax_both_ways(src, wall, out, steps):
    x = ws.grid(1)
    v = src[x]
    for k in range(steps):
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, v)
        if ws.has_neighbor(ws.WEST):
            ws.send(ws.WEST, v)
        best = v
        if ws.has_neighbor(ws.WEST):
            best = min(best, ws.recv(ws.WEST))  # inside min(): typed by the sends alone
        if ws.has_neighbor(ws.EAST):
            best = min(best, ws.recv(ws.EAST))
        v = best + wall[k, x]
    out[x] = v


def relax_reference(src, wall, steps):
    v = [int(a) for a in src]
    for k in range(steps):
        v = [min(v[max(x - 1, 0):x + 2]) + int(wall[k, x]) for x in range(len(v))]
    return np.array(v, np.int32)


def test_an_int32_sent_both_ways_is_received_as_int32_from_both_sides(dev):
    """The newuser26 trial: an int32 updated each step and sent east and west was refused ("cannot assign a
    float32 value to an int32 variable") while one direction compiled: the first lowering stops at the
    first receive, and the one retry (reading that receive as int32) stopped at the second."""
    src = np.array([5, 1, 7, 3, -2, 9], np.int32)
    wall = np.array([[1, 1, 1, 1, 1, 1], [2, -1, 0, 3, 1, 1], [0, 0, 5, 0, 0, -7]], np.int32)
    for steps in (1, 2, 3):
        (_, _, out) = run(dev, relax_both_ways, src, wall, np.zeros(6, np.int32), steps, block=(6, 1))
        np.testing.assert_array_equal(out, relax_reference(src, wall, steps))


@ws.jit
def float_sent_one_way(out, v):
    x = ws.grid(1)
    best = 0
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, 1)
    if ws.has_neighbor(ws.WEST):
        ws.send(ws.WEST, v * 0.5)
    if ws.has_neighbor(ws.WEST):
        best = min(best, ws.recv(ws.WEST))
    if ws.has_neighbor(ws.EAST):
        best = min(best, ws.recv(ws.EAST))  # MARK-float
    out[x] = best


def test_a_float32_sent_toward_one_receive_still_stops_at_the_first_error(dev):
    """Where a send toward a retried receive sends float32, the retries give up and the first error stands."""
    err = compile_error(dev, float_sent_one_way, np.zeros(2, np.int32), np.float32(3.0), block=(2, 1))
    assert "cannot assign a float32 value to an int32 variable" in str(err)
    assert err.line == line_of(float_sent_one_way, "MARK-float") - 2
