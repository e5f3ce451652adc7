"""Short-circuit evaluation in `@ws.jit` kernels: `and`/`or`, conditional expressions and chained
comparisons evaluate an operand only when Python would, so a skipped out-of-bounds access never faults
and a skipped `recv` never blocks; the controls show the same operands fault or block when evaluated."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from conftest import launch

N = 16  # PEs per launch: block (N, 1) on grid (1, 1)
RNG = np.random.default_rng(1234)


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=16, height=16))


def test_and_or_short_circuit_skips_out_of_bounds_access(dev):
    @ws.jit
    def k_sc(x, out):
        i = ws.grid(1)
        r = 0
        if i > 100 and x[i * 1000000] > 0:
            r += 1
        if i < 100 or x[i * 1000000] > 0:
            r += 2
        r += 4 if i < 100 or x[i * 1000000] > 0 else 8
        out[i] = r

    (_, out) = launch(dev, k_sc, np.ones(N, np.float32), np.zeros(N, np.int32))
    np.testing.assert_array_equal(out, np.full(N, 6))


def test_out_of_bounds_access_faults_when_taken(dev):
    # the control for the short-circuit test: the same access, evaluated, is an error
    @ws.jit
    def k_oob(x, out):
        i = ws.grid(1)
        r = 0
        if i >= 0 and x[i * 1000000 + 1000000] > 0:
            r = 1
        out[i] = r

    with pytest.raises(ws.MemoryAccessError):
        launch(dev, k_oob, np.ones(N, np.float32), np.zeros(N, np.int32))


def test_recv_in_branch_not_taken_never_blocks(dev):
    @ws.jit
    def k_norecv(x, out):
        i = ws.grid(1)
        v = ws.recv(ws.WEST) if i > 100 else x[i] * 2.0
        w = x[i] if i < 100 or ws.recv(ws.WEST) > 0.0 else 0.0
        out[i] = v + w

    x = RNG.uniform(-2, 2, N).astype(np.float32)
    (_, out) = launch(dev, k_norecv, x, np.zeros(N, np.float32))
    np.testing.assert_array_equal(out, x * np.float32(2) + x)


def test_recv_taken_without_sender_deadlocks(dev):
    # the control: when the branch is taken, the recv does block (nobody sends)
    @ws.jit
    def k_recv(x, out):
        i = ws.grid(1)
        v = ws.recv(ws.WEST) if i > 0 else x[i]
        out[i] = v

    with pytest.raises(ws.DeadlockError):
        launch(dev, k_recv, np.ones(N, np.float32), np.zeros(N, np.float32))


def test_chained_comparison_evaluates_middle_operand_once(dev):
    # Python evaluates `lo < f() < hi` calling f() once; here f() is a recv, so a second evaluation would
    # wait for a word that is never sent.
    @ws.jit
    def k_chain(x, out):
        i = ws.grid(1)
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, x[i])
        r = 0
        if ws.has_neighbor(ws.WEST):
            if -100.0 < ws.recv(ws.WEST) < 100.0:
                r = 1
        out[i] = r

    (_, out) = launch(dev, k_chain, np.ones(N, np.float32), np.zeros(N, np.int32))
    np.testing.assert_array_equal(out, [0] + [1] * (N - 1))


def test_and_or_with_a_constant_after_the_first_operand_give_pythons_operand(dev):
    # A constant operand after the first (`a and 3 and 4`) decides (a falsy one for `and`, a truthy one for
    # `or`: the later operands never run) or passes the decision on, as in Python; it was an internal compiler
    # error, a branch on the constant's (missing) register. Found by tests/test_compiler_fuzz_values.py.
    @ws.jit
    def k_const(xi, xf, oi, of):
        i = ws.grid(1)
        a = xi[i]
        f = xf[i]
        oi[i, 0] = a and 3 and 4
        oi[i, 1] = a or 0 or a + 7
        oi[i, 2] = (a or 5 or 1.5) + 1  # 1.5 is never the value: an int32 (a float32 could not be stored)
        oi[i, 3] = a and 0 and xi[i * 1000000]  # never read: no fault
        of[i, 0] = f and math.nan and 3  # a nan is true
        of[i, 1] = f or 0.0 or 2
        of[i, 2] = f and 0.5 and f * 3.0

    xi = np.resize(np.array([0, 3, -2, 1], np.int32), N)
    xf = np.resize(np.array([0.0, -0.0, 2.5, np.nan], np.float32), N)
    (_, _, oi, of) = launch(dev, k_const, xi, xf, np.zeros((N, 4), np.int32), np.zeros((N, 3), np.float32))
    want_i = [[a and 3 and 4, a or 0 or a + 7, (a or 5 or 1.5) + 1, a and 0] for a in xi.tolist()]
    want_f = [[f and math.nan and 3, f or 0.0 or 2, f and 0.5 and f * 3.0] for f in xf.tolist()]
    np.testing.assert_array_equal(oi, np.array(want_i, np.int32))
    want = np.array(want_f, np.float32)
    np.testing.assert_array_equal(of, want)
    np.testing.assert_array_equal(np.signbit(of), np.signbit(want))  # f's -0.0 is the value of `f and ...`
