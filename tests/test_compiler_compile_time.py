"""compiler/compile_time.py: where a kernel needs a constant (a tuple index, a local array's shape) an expression
folds to the value the kernel computes for it, which docs/python-supported.md states: a variable holds an int32 at
run time whatever constant it was assigned, so int32 arithmetic on it wraps, and `int()` of an int32 is that int32
(the random forms: tests/test_compiler_fuzz_compile_time.py).
"""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import int32_wrap, run_on_one_block

T = tuple(range(0, 80, 10))  # T[2] is 20, T[-2] is 60


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


@ws.jit
def _wrapped(p):
    return (int(p) * 2) // 2**30


@ws.jit
def _wrapped_index(p):
    return T[(int(p) * 2) // 2**30]


@ws.jit
def _int_of_variables(out):
    x = 2**31 - 1
    out[0] = (int(x) + 1) // 2**30
    out[1] = T[(int(x) + 1) // 2**30]
    a = ws.local.array((int(x) + 1) // 2**30 + 8, np.int32)
    out[2] = len(a)
    y = -2**31
    out[3] = -int(y) // 2**30
    out[4] = T[-int(int(y)) // 2**30]
    z = 2
    out[5] = T[int(z) ** 31 // 2**30]
    f = 1073741824.0                           # a float variable: int() of it an int32 register too
    out[6] = (int(f) * 2) // 2**30
    out[7] = T[(int(f) * 2) // 2**30]
    b = ws.local.array((int(f) * 2) // 2**30 + 8, np.int32)
    out[8] = len(b)
    out[9] = _wrapped(2**30)                    # a device function's parameter is such a variable
    out[10] = _wrapped_index(2**30)
    out[11] = _wrapped_index(1073741824.0)
    v = True                                    # a bool variable's register is an int32 as well
    out[12] = (v + 2147483647) // 2**30
    out[13] = T[(v + 2147483647) // 2**30]
    out[14] = T[(abs(v) + 2147483647) // 2**30]
    out[15] = T[(max(v, 0) + 2147483647) // 2**30]


def test_int_of_a_variable_indexes_and_sizes_as_the_value_the_kernel_computes(dev):
    # fuzz44: `x = 2**31 - 1; (int(x) + 1) // 2**30` is -2 in the kernel (x is an int32 register, int() of it is
    # itself, + 1 wraps), but as a tuple index it was folded as Python's int: T[2] (20) where the value indexes
    # T[-2] (60), and a local array of 2 + 8 elements where the value gives 6; likewise of a float variable and
    # of a device function's parameter (whose `int(p) * 2` was refused as "does not fit in int32" as a value),
    # and `v + 2147483647`, `abs(v) + 2147483647` of a bool variable
    (got,) = run_on_one_block(dev, _int_of_variables, np.zeros(16, np.int32))
    wrapped = int32_wrap(2**31) // 2**30  # -2
    assert wrapped == -2
    assert got.tolist() == [wrapped, T[wrapped], wrapped + 8, wrapped, T[wrapped], T[wrapped], wrapped, T[wrapped],
                            wrapped + 8, wrapped, T[wrapped], T[wrapped], wrapped, T[wrapped], T[wrapped],
                            T[wrapped]]


W = np.int32(2**31 - 1)
G = 2**31 - 1


@ws.jit
def _int_of_constants(out):
    out[0] = T[(int(W) + 1) // 2**30]             # int() of an np.int32 constant is Python's int: exact, T[2]
    out[1] = T[(int(G) + 1) // 2**30]
    out[2] = T[(np.int32(G) + 1) // 2**30]        # np.int32 wraps as NumPy's: T[-2]
    out[3] = T[+1] + T[-+True] * 100              # unary plus folds as Python's (`+True` is 1)
    x = 3
    a = ws.local.array(+x + +True, np.int32)
    out[4] = len(a)


def test_int_of_a_constant_folds_as_python_and_unary_plus_folds(dev):
    # int() of a constant keeps Python's (and NumPy's) exact int; `+e` where a constant is needed was refused
    # ("a tuple index must be a constant within range")
    (got,) = run_on_one_block(dev, _int_of_constants, np.zeros(5, np.int32))
    with np.errstate(over="ignore"):
        wrapped = int((np.int32(G) + np.int32(1)) // 2**30)
    assert got.tolist() == [T[(int(W) + 1) // 2**30], T[(G + 1) // 2**30], T[wrapped], T[+1] + T[-+True] * 100,
                            +3 + +True]
