"""Scalar float32 `min`/`max` and conditional expressions of plain operands (src/wafersim/compiler/
scalar_math.py) against plain Python, bit for bit.

`max(a, b)` is Python's `b if b > a else a`; where `b` cannot be a nan (a constant that is not one, an int32)
the compiler uses the machine's `fmax(b, a)`, and `b if b != b else max(a, b)` (a maximum that propagates a
nan, as the collectives' combine) is one `fmax(b, a)`. The reference chooses with Python's own builtins on
Python floats and takes the bits of the object it chose, so nan payloads and signed zeros are checked too;
every kernel also runs under the reference strategy (NumPy executors instead of the compiled interpreter).
`a if c else b` of variables and constants is one `sel` (both are evaluated: they have no effect).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from conftest import run_on_one_block as run
from wafersim.sim import strategy


def _f32(bits: int) -> float:
    return float(np.array([bits], np.uint32).view(np.float32)[0])


SPECIALS = [math.nan, -math.nan, _f32(0x7FC01234), _f32(0xFFC00042), -math.inf, math.inf, -0.0, 0.0, 1.0, -1.0,
            2.5, _f32(1), -_f32(1), float(np.finfo(np.float32).max), -float(np.finfo(np.float32).max),
            float(np.finfo(np.float32).tiny)]
LANES = 16  # PEs of the block; each takes PAIRS // LANES pairs


def _pairs() -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of special values, then random float32 pairs (a third of them equal)."""
    rng = np.random.default_rng(7)
    a = [x for x in SPECIALS for _ in SPECIALS]
    b = [y for _ in SPECIALS for y in SPECIALS]
    while len(a) % LANES or len(a) < 512:
        x = float(np.float32(rng.standard_normal() * 10.0 ** rng.integers(-3, 4)))
        a.append(x)
        b.append(x if rng.random() < 0.3 else float(np.float32(rng.standard_normal())))
    return np.array(a, np.float32), np.array(b, np.float32)


@ws.jit
def choices(a, b, k, out, per: ws.constant):
    for j in range(per):
        i = ws.threadIdx.x * per + j
        x, y, n = a[i], b[i], k[i]
        out[i, 0] = max(x, y)
        out[i, 1] = min(x, y)
        out[i, 2] = y if y != y else max(x, y)
        out[i, 3] = y if y != y else min(x, y)
        out[i, 4] = y if math.isnan(y) else max(x, y)
        out[i, 5] = y if np.isnan(y) else min(x, y)
        out[i, 6] = max(x, 0.0)
        out[i, 7] = min(x, -0.0)
        out[i, 8] = max(x, -math.inf)
        out[i, 9] = min(x, 2.5, n)
        out[i, 10] = max(x, n)
        out[i, 11] = max(0.0, x)          # a constant first: Python's compare and select
        out[i, 12] = x if x != x else max(1, x)
        out[i, 13] = y if y != y else max(y, x)   # not the nan-propagating form (b first): as written


COLUMNS = 14


def _reference(x: float, y: float, n: int) -> list[float]:
    """Plain Python on Python floats: the object each expression chooses (nan payloads and zero signs kept)."""
    nx, ny = float(n), float(n)
    return [max(x, y), min(x, y), y if y != y else max(x, y), y if y != y else min(x, y),
            y if math.isnan(y) else max(x, y), y if math.isnan(y) else min(x, y), max(x, 0.0), min(x, -0.0),
            max(x, -math.inf), min(x, 2.5, nx), max(x, ny), max(0.0, x), x if x != x else max(1.0, x),
            y if y != y else max(y, x)]


def _bits(values) -> list[int]:
    return np.array(values, np.float32).view(np.uint32).tolist()


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec.preset("dev", width=LANES, height=2))


@pytest.mark.parametrize("forced", ["FAST", "REFERENCE"])
def test_min_max_and_the_nan_propagating_form_are_pythons_bit_for_bit(dev, forced):
    a, b = _pairs()
    k = np.resize(np.array([0, -1, 3, 2, -7], np.int32), a.size)
    with strategy.forced(getattr(strategy, forced)):
        out, = run(dev, choices, a, b, k, np.zeros((a.size, COLUMNS), np.float32), a.size // LANES,
                   block=(LANES, 1))[3:]
    for i, (x, y, n) in enumerate(zip(a.tolist(), b.tolist(), k.tolist())):
        # (float32 -> Python float -> float32 keeps a quiet nan's payload, so the bits of the chosen object)
        want = _bits(_reference(x, y, n))
        got = out[i].view(np.uint32).tolist()
        assert got == want, (i, x, y, n, [(c, hex(g), hex(w)) for c, (g, w) in enumerate(zip(got, want)) if g != w])


def test_the_reference_keeps_the_payloads_it_is_checked_with():
    """The check above means something only if the float32 -> float -> float32 round trip keeps nan payloads
    and zero signs, and Python's builtins return one of their argument objects."""
    a, _ = _pairs()
    assert _bits([float(v) for v in a[:len(SPECIALS) ** 2]]) == a[:len(SPECIALS) ** 2].view(np.uint32).tolist()
    x, y = _f32(0x7FC01234), _f32(0xFFC00042)
    assert max(x, y) is x and (y if y != y else max(x, y)) is y


def test_fmax_and_fmin_appear_only_where_they_equal_pythons_rule(dev):
    """Where `b` may be a nan and the expression does not propagate it, a compare and a select remain."""
    a, b = _pairs()
    k = np.zeros(a.size, np.int32)
    run(dev, choices, a, b, k, np.zeros((a.size, COLUMNS), np.float32), a.size // LANES, block=(LANES, 1))
    ir = choices.inspect_ir()  # (before optimisation: common subexpressions would share columns 2 and 4)
    assert ir.count("fmax ") == 6 and ir.count("fmin ") == 5  # columns 2, 4, 6, 8, 10, 12; 3, 5, 7, 9 (two)
    assert ir.count("sel ") == 4  # columns 0, 1, 11 and 13


@ws.jit
def swapped_operands(a, out):
    i = ws.threadIdx.x
    x = a[i]
    zero = 0.0
    out[i, 0] = max(x, 0.0)                     # fmax(0.0, x): -0.0 for x = -0.0, as Python
    out[i, 1] = x if x != x else max(zero, x)   # fmax(x, 0.0): 0.0 for x = -0.0, as Python


def test_fmax_is_not_commutative_for_common_subexpressions(dev):
    """fmax(0.0, x) and fmax(x, 0.0) differ for x = -0.0 (and in which nan they return): sharing one for the
    other (as for fadd) would give -0.0 where Python gives 0.0."""
    a = np.array([-0.0, 0.0, math.nan, -1.0], np.float32)
    out, = run(dev, swapped_operands, a, np.zeros((4, 2), np.float32), block=(4, 1))[1:]
    want = [[max(x, 0.0), x if x != x else max(0.0, x)] for x in a.tolist()]
    assert out.view(np.uint32).tolist() == [_bits(row) for row in want]


@ws.jit
def guarded_load(a, b, out):
    i = ws.threadIdx.x
    y = b[i]
    k = 1000 if y != y else i                # out of bounds where y is a nan
    out[i] = y if y != y else max(a[k], y)   # a[k] is read only where y is not a nan, as in Python


def test_an_operand_that_may_fault_keeps_the_conditional_expression(dev):
    """The nan-propagating form becomes one fmax only for plain operands: here `a[k]` would stop the kernel
    with a MemoryAccessError if it were read where y is a nan."""
    a = np.array([1.0, -0.0, 3.0, 0.0], np.float32)
    b = np.array([math.nan, 0.0, 2.0, -0.0], np.float32)
    out, = run(dev, guarded_load, a, b, np.zeros(4, np.float32), block=(4, 1))[2:]
    want = [y if y != y else max(x, y) for x, y in zip(a.tolist(), b.tolist())]
    assert out.view(np.uint32).tolist() == _bits(want)
    assert "fmax" not in guarded_load.inspect_asm()


@ws.jit
def picks(a, b, k, out, per: ws.constant):
    for j in range(per):
        i = ws.threadIdx.x * per + j
        x, y, n = a[i], b[i], k[i]
        out[i, 0] = x if x < y else y
        out[i, 1] = x if y else y              # a float's truth: nan is true, -0.0 false
        out[i, 2] = n if x > 0.0 else y        # an int32 branch converted to float32
        out[i, 3] = -0.0 if x != x else x
        out[i, 4] = math.inf if n else -math.nan
        out[i, 5] = ws.threadIdx.x if n > 0 else n
        out[i, 6] = x if math.isnan(y) else 1.5
        out[i, 7] = y if x >= y else x        # the nan-propagating form's opposite: not fused


def _picks_reference(x: float, y: float, n: int, tid: int) -> list[float]:
    return [x if x < y else y, x if y else y, float(n) if x > 0.0 else y, -0.0 if x != x else x,
            math.inf if n else -math.nan, float(tid if n > 0 else n), x if math.isnan(y) else 1.5,
            y if x >= y else x]


@pytest.mark.parametrize("forced", ["FAST", "REFERENCE"])
def test_conditional_expressions_of_plain_operands_choose_as_python(dev, forced):
    a, b = _pairs()
    k = np.resize(np.array([0, -1, 3, 2, -7], np.int32), a.size)
    per = a.size // LANES
    with strategy.forced(getattr(strategy, forced)):
        out, = run(dev, picks, a, b, k, np.zeros((a.size, 8), np.float32), per, block=(LANES, 1))[3:]
    for i, (x, y, n) in enumerate(zip(a.tolist(), b.tolist(), k.tolist())):
        want = _bits(_picks_reference(x, y, n, i // per))
        assert out[i].view(np.uint32).tolist() == want, (i, x, y, n, out[i], want)
    ir = picks.inspect_ir()
    branches = [line for line in ir.splitlines() if line.split()[:1] in (["bz"], ["bnz"], ["jmp"])]
    assert ir.count("sel ") == 8 and "fmax" not in ir and len(branches) == 2, branches  # (the loop's two)
