"""compiler/compile_time.py: where a kernel needs a constant (a tuple index, a local array's shape) an expression
folds to the value the kernel computes for it, which docs/python-supported.md states: a variable holds an int32 at
run time whatever constant it was assigned, so int32 arithmetic on it wraps, and `int()` of an int32 is that int32
(the random forms: tests/test_compiler_fuzz_compile_time.py).
"""
from __future__ import annotations

import math
import types

import numpy as np
import pytest

import wafersim as ws
from conftest import int32_wrap, load_source, run_on_one_block

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
    b = ws.local.array(int(True) + np.int32(not 0), np.int32)
    out[5] = T[int(True)] + T[len(T) - 1 - int(not 0)] * 100 + len(b) * 10000  # fuzz47: int() of a bool


def test_int_of_a_constant_folds_as_python_and_unary_plus_folds(dev):
    # int() of a constant keeps Python's (and NumPy's) exact int; `+e` where a constant is needed was refused
    # ("a tuple index must be a constant within range"), and so was int() or np.int32() of a bool constant
    # (`T[int(True)]`, `ws.local.array(int(True) + np.int32(not 0), ...)`: "known only when the kernel runs")
    (got,) = run_on_one_block(dev, _int_of_constants, np.zeros(6, np.int32))
    with np.errstate(over="ignore"):
        wrapped = int((np.int32(G) + np.int32(1)) // 2**30)
    assert got.tolist() == [T[(int(W) + 1) // 2**30], T[(G + 1) // 2**30], T[wrapped], T[+1] + T[-+True] * 100,
                            +3 + +True, T[int(True)] + T[len(T) - 1 - int(not 0)] * 100 + 2 * 10000]


#: (expression over x, an int32; f, a float32; b, a bool; each a variable), review45: floor division and modulo of
#: negative ints, shifts that wrap, float -> int truncation toward zero (a negative half too), bools in int
#: arithmetic, np.int32() of a float. (Refused as a tuple index, rightly: a comparison of floats (float32 in the
#: kernel), float arithmetic inside int(), `(1, 2) * (x % 3)`.)
FOLDED_AGAINST_RUN_TIME = [
    ("int(f) // 3", -7, -7.75, True), ("int(-f) % -3", 5, 7.75, True), ("-x // 7", 5, 2.5, True),
    ("x % -7", 5, 2.5, True), ("(-x) >> 1", 5, 2.5, True), ("(x << 29) >> 29", 7, 2.5, True),
    ("(x << 31) // 2**30", 5, 2.5, True), ("~b * 3", 5, 2.5, True), ("-b + 7", 5, 2.5, True),
    ("b * 5 - x", 5, 2.5, False), ("np.int32(f) * 2", 5, -3.5, True), ("int(f) - int(-f)", 5, -1.5, True),
    ("int(min(x, f))", 5, -1.5, True), ("abs(-x) % 3", -2**31 + 5, 2.5, True), ("x ** 2 // 2**30", 46341, 2.5, True),
    ("(abs(x) + 2147483647) // 2**30", 1, 2.5, True), ("max(b, x) // -2", -9, 2.5, True),
    ("(int(x) + 1) // 2**30", 2**31 - 1, 2.5, True), ("(b + 2147483647) // 2**30", 5, 2.5, True),
    ("int(f) * 2 // 2**30", 5, 1073741824.0, True),  # (fuzz44's: folded as Python's exact int before)
    # stop 48: Python's roundings of a constant fold too (`T[round(2.5)]` was refused as "known only when the
    # kernel runs"): halves to even, as the kernel's `frint`
    ("round(f) * 3", 5, 2.5, True), ("round(f)", 5, 3.5, True), ("round(-f) + round(x) + round(b)", 7, 0.5, True),
    ("math.floor(f) - math.ceil(f) + math.trunc(-f)", 5, -2.5, True),
    # stop 50: comparisons of int32 constants, and conditional expressions they (or a bool) decide, fold too
    ("(x > 3) * 5 + (x == 5) - (x <= -2**31)", 5, 2.5, True), ("(7 if x >= 5 else -7) + (1 if b else 2)", 5, 2.5, False),
    ("(3 if -x < x <= 9 else 4) * (x != 4)", 5, 2.5, True), ("(x + 1 > 0) + (60 if (x + 1) // 2 < 0 else -60)", 2**31 - 1, 2.5, True),
]


def _int_of_a_register(value):
    """int() of a variable's value, as docs/python-supported.md states: the int32 its register holds (a float32
    truncated toward zero), whose arithmetic wraps."""
    return np.int32(np.trunc(value)) if isinstance(value, np.floating) else np.int32(value)


#: math.floor/ceil/trunc of a float32 as Python computes them of the float it equals (NumPy 2's float32 has no
#: __trunc__)
_MATH_OF_FLOAT32 = types.SimpleNamespace(**{name: (lambda f: lambda v: f(float(v)))(getattr(math, name))
                                            for name in ("floor", "ceil", "trunc")})


def _as_the_kernel_computes(expression: str, x: int, f: float, b: bool) -> int:
    """The expression over NumPy's int32 and float32 (a bool variable's register an int32 holding 0 or 1)."""
    with np.errstate(over="ignore"):
        return int(eval(expression, {"np": np, "math": _MATH_OF_FLOAT32, "int": _int_of_a_register},
                        {"x": np.int32(x), "f": np.float32(f), "b": np.int32(b)}))


@pytest.mark.parametrize("expression,x,f,b", FOLDED_AGAINST_RUN_TIME)
def test_a_folded_tuple_index_is_the_value_the_run_time_computes(expression, x, f, b, dev, tmp_path):
    """The same expression as a tuple index (folded when compiling, the variables assigned constants) and as a
    value computed at run time from the variables loaded from memory: both the int32 NumPy computes."""
    module = load_source(tmp_path, f"""
import math
import numpy as np
import wafersim as ws
T = tuple(range(-200, 200))

@ws.jit
def folded(out):
    x = {x!r}
    f = {f!r}
    b = {b!r}
    out[0] = T[({expression}) + 200]

@ws.jit
def at_run_time(xb, fs, out):
    x = xb[0]
    f = fs[0]
    b = xb[1] > 0
    out[0] = {expression}
""")
    expected = _as_the_kernel_computes(expression, x, f, b)
    assert -200 <= expected < 200
    (folded,) = run_on_one_block(dev, module.folded, np.zeros(1, np.int32))
    _, _, computed = run_on_one_block(dev, module.at_run_time, np.array([x, b], np.int32),
                                      np.array([f], np.float32), np.zeros(1, np.int32))
    assert folded[0] == computed[0] == expected


BIG = (2**31 - 1,)  # a module tuple of Python ints: its items are constants, exact, whatever index picks them


@ws.jit
def _items_chosen_by_variables(out):
    x = 0
    out[0] = T[(BIG[x] + 1) // 2**30]
    out[1] = T[(int(BIG[x]) + 1) // 2**30]
    out[2] = T[(max(BIG[x], 0) + 1) // 2**30]
    n = 3
    out[3] = T[(len((1,) * n) + 2147483647) // 2**30]
    a = ws.local.array((BIG[x] + 1) // 2**30 + 8, np.int32)
    out[4] = len(a)
    out[5] = T[(BIG[x] + x + 1) // 2**30]  # (+ x: arithmetic on the variable's register, which wraps)


def test_a_constant_item_a_variable_chooses_folds_as_python(dev):
    # review45: stop 44 took any name in an operand for a register read, so `BIG[x] + 1` (an item of a module tuple,
    # a constant: as a value `(BIG[x] + 1) // 2**30` is refused as past int32) folded as int32: T[-2] where Python
    # indexes T[2], a local array of 6 elements where Python's shape is 10
    (got,) = run_on_one_block(dev, _items_chosen_by_variables, np.zeros(6, np.int32))
    x, n = 0, 3
    python = [T[(BIG[x] + 1) // 2**30], T[(int(BIG[x]) + 1) // 2**30], T[(max(BIG[x], 0) + 1) // 2**30],
              T[(len((1,) * n) + 2147483647) // 2**30], (BIG[x] + 1) // 2**30 + 8]
    with np.errstate(over="ignore"):
        wrapped = int((np.int32(BIG[x]) + np.int32(x) + np.int32(1)) // 2**30)
    assert got.tolist() == python + [T[wrapped]]
    assert python[0] == 20 and T[wrapped] == 60


@ws.jit
def _pass_on(out, toward: ws.constant):
    """Each PE sends its index one way and stores what comes from the other: the receiving side a variable
    assigned once from a conditional expression of constants, a direction where a direction is needed."""
    i = ws.grid(1)
    back = ws.EAST if toward == ws.WEST else ws.WEST
    n = 2 if toward == ws.WEST else 3
    buf = ws.local.array(n, np.int32)  # (a shape chosen the same way)
    if ws.has_neighbor(toward):
        ws.send(toward, i)
    buf[n - 1] = ws.recv(back, dtype=np.int32) if ws.has_neighbor(back) else -1
    out[i] = buf[n - 1] * 10 + len(buf)


@pytest.mark.parametrize("toward", [ws.WEST, ws.EAST])
def test_a_variable_assigned_once_a_conditional_expression_of_constants_is_a_direction_and_a_shape(toward):
    """`back = ws.EAST if toward == ws.WEST else ws.WEST` with a ws.constant `toward` was refused ("a direction
    must be an int constant") where `back = ws.EAST` and the expression written in the call compiled."""
    dev = ws.Device(ws.WaferSpec(width=8, height=1))
    out = dev.device_array(6, np.int32)
    _pass_on[1, 6](out, toward)
    source = np.arange(6) + (1 if toward == ws.WEST else -1)
    expected = np.where((source >= 0) & (source < 6), source, -1) * 10 + (2 if toward == ws.WEST else 3)
    np.testing.assert_array_equal(out.copy_to_host(), expected)


@ws.jit
def _chosen_constant_beside_a_variable(out):
    x = 2**31 - 1
    out[0] = T[((2**31 - 1 if len(T) > 0 else x) + 1) // 2**30]  # the constant chosen: exact, as Python's
    out[1] = T[((x if len(T) > 0 else 0) + 1) // 2**30]  # the variable chosen: its int32 register wraps
    out[2] = T[((2**31 - 1 if x > 0 else 0) + 1) // 2**30]  # chosen by a variable: a run-time choice, a register


def test_a_conditional_expression_folds_as_its_chosen_branch_computes(dev):
    """Where a constant is needed, `a if c else b` with `c` known when compiling is `a` as the kernel computes it:
    a constant exactly as Python (the variable in the branch not taken does not make it wrap), a variable as the
    int32 its register holds, and either one chosen by a comparison reading a variable as a run-time choice,
    a register, as lowering makes it."""
    (got,) = run_on_one_block(dev, _chosen_constant_beside_a_variable, np.zeros(3, np.int32))
    assert got.tolist() == [T[2], T[-2], T[-2]]


def _bitwise_of_bools(k):
    @ws.jit
    def kernel(out):
        out[0] = T[k & k] + T[(k | False) + 1]
        out[1] = len((k ^ True) * T) + len(min(k & k, 3) * T)
    return kernel


@pytest.mark.parametrize("k", [False, True])
def test_bitwise_operators_of_two_bool_constants_index_and_repeat_a_tuple_as_python(k, dev):
    """`k & k` of a closure's bool is Python's bool, which a tuple takes as the int it equals (it was refused,
    "needs an int known when compiling", where Python computes; random draws of the compile-time fuzzer found it)."""
    (got,) = run_on_one_block(dev, _bitwise_of_bools(k), np.zeros(2, np.int32))
    assert got.tolist() == [T[k & k] + T[(k | False) + 1], len((k ^ True) * T) + len(min(k & k, 3) * T)]


@ws.jit
def _shapes_of_local_arrays(x, out):
    a = ws.local.array(6, np.int32)
    g = ws.local.array((3, 5), np.float32)
    t = ws.local.array((2, 3, 4), np.int32)
    c0 = ws.local.array(a.size, a.dtype)
    c1 = ws.local.array(len(g), g.dtype)
    c2 = ws.local.array(g.shape[1], np.int32)
    c3 = ws.local.array(t.shape[-1] * g.ndim, x.dtype)
    c4 = ws.local.array(t.size // a.shape[0], np.float32)
    made = (c0, c1, c2, c3, c4)
    like = ws.local.array(g.shape, g.dtype)  # (NumPy's `np.zeros(g.shape, g.dtype)`)
    for k, c in enumerate(made):
        c[0:len(c)] = 1
        out[k] = sum(c) + len(c) * 10 + T[c.ndim] * 100
    like[g.shape[0] - 1, 0:g.shape[1]] = x[0:5]
    out[5] = sum(like[2, 0:5]) + like.size + like.ndim * 1000 + x.ndim * 10000


def test_a_local_arrays_size_len_ndim_and_shape_are_constants_a_shape_can_use(dev):
    """docs/python-supported.md: a local array's `.shape` and `.size` are constants and `.ndim` is one for every
    array; `ws.local.array(a.size, a.dtype)` (and `len(g)`, `g.shape[1]`, `g.shape`, arithmetic of them) was
    refused as "not a constant shape" (the array fuzzer's draws, fuzz54). Each made array as NumPy's would be."""
    x = np.arange(1, 9, dtype=np.float32)
    (_, got) = run_on_one_block(dev, _shapes_of_local_arrays, x, np.zeros(6, np.float32))
    sizes = [6, 3, 5, 4 * 2, 24 // 6]
    like = np.zeros((3, 5), np.float32)
    like[2, 0:5] = x[0:5]
    expected = [n + n * 10 + T[1] * 100 for n in sizes] + [like[2].sum() + like.size + like.ndim * 1000 + x.ndim * 10000]
    assert got.tolist() == expected
