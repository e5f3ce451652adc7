"""Constant folding against run time (docs/python-supported.md, "Values and types" and "Scalar math"): a value the
compiler computes while compiling must be the value the machine computes from the same numbers at run time.

Each expression below is compiled four ways: its operands written out (`math.sqrt(2.0)`), as module constants
(`math.sqrt(G0)`), as kernel variables assigned once from constants (`a0 = 2.0; math.sqrt(a0)`), and loaded from
arrays at run time (`math.sqrt(xf[0])`); all four must equal the reference, NumPy's float32 (or int32) evaluation
(or Python's, where the docs give Python's meaning: `//`, `%`, shifts, `round`, `max`). Then the compile-time
evaluation of names and subscripts (`static`: an index, a shape) against the value the kernel computes for
the same expression of an `np.int32` constant, which wraps around as NumPy's.
"""
from __future__ import annotations

import ast
import math
import warnings

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of, load_source

f32 = np.float32


def _pow64(a, b):
    """`fpow`: the power in float64 of the float32 operands, rounded once."""
    return f32(np.power(np.array([a], np.float64), np.array([b], np.float64))[0])


def _to_int(v) -> int:
    """`ftoi`: toward zero, saturating, nan gives 0."""
    v = f32(v)
    if np.isnan(v):
        return 0
    if np.isinf(v):
        return 2**31 - 1 if v > 0 else -2**31
    return min(max(math.trunc(float(v)), -2**31), 2**31 - 1)


def _wrap(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


#: (expression with {0}, {1} for the operands, operands, result dtype, reference of the float32/int32 operands)
CASES = [
    ("{0} - {1}", (16777217.0, 16777216.0), "f", lambda a, b: a - b),        # both round to float32 first
    ("{0} + {1} + {1}", (16777216.0, 1.0), "f", lambda a, b: a + b + b),     # each step rounded
    ("{0} * {1} / {1}", (3e38, 10.0), "f", lambda a, b: a * b / b),          # inf in between
    ("{0} * {1}", (1e-46, 1e10), "f", lambda a, b: a * b),                   # 1e-46 is 0 as a float32
    ("{0} + {1}", (0.1, 0.2), "f", lambda a, b: a + b),
    ("{0} + {1} == {2}", (0.1, 0.2, 0.3), "i", lambda a, b, c: int(a + b == c)),  # True (Python's float64: False)
    ("{0} + {1} - {0}", (1e8, 1.0), "f", lambda a, b: a + b - a),             # 0.0 (Python's float64: 1.0)
    ("{0} / {1}", (1.0, 3.0), "f", lambda a, b: a / b),
    ("{0} + {1}", (-0.0, 0.0), "f", lambda a, b: a + b),
    ("{0} - {1}", (-0.0, 0.0), "f", lambda a, b: a - b),
    ("{0} * {1}", (0.0, math.inf), "f", lambda a, b: a * b),
    ("{0} - {0}", (math.inf,), "f", lambda a: a - a),
    ("{0} // {1}", (-7.0, 2.0), "f", np.floor_divide),
    ("{0} % {1}", (7.5, -2.0), "f", np.remainder),
    ("{0} % {1}", (-0.0, 2.0), "f", np.remainder),
    ("{0} // {1}", (-1.0, math.inf), "f", np.floor_divide),
    ("{0} % {1}", (1e10, 3.0), "f", np.remainder),
    ("{0} ** {1}", (-math.inf, 0.5), "f", _pow64),
    ("{0} ** {1}", (1.1, 3.0), "f", _pow64),
    ("{0} ** {1}", (10.0, -45.0), "f", _pow64),
    ("{0} ** {1}", (math.nan, 0.0), "f", _pow64),
    ("math.sqrt({0})", (-0.0,), "f", np.sqrt),
    ("math.sqrt({0})", (-1.0,), "f", np.sqrt),
    ("math.log({0})", (0.0,), "f", np.log),
    ("math.exp({0})", (88.72284,), "f", np.exp),
    ("math.exp({0})", (100.0,), "f", np.exp),
    ("math.log10({0})", (1000.0,), "f", np.log10),
    ("math.sin({0})", (1e10,), "f", np.sin),
    ("math.fabs({0})", (-0.0,), "f", np.fabs),
    ("abs({0})", (-math.inf,), "f", np.abs),
    ("np.ceil({0})", (-0.5,), "f", np.ceil),
    ("np.trunc({0})", (-0.5,), "f", np.trunc),
    ("np.rint({0})", (2.5,), "f", np.rint),
    ("math.copysign({0}, {1})", (1.0, -0.0), "f", np.copysign),
    ("math.hypot({0}, {1})", (math.inf, math.nan), "f", np.hypot),
    ("math.hypot({0}, {1})", (3e38, 3e38), "f", np.hypot),
    ("math.atan2({0}, {1})", (-0.0, -0.0), "f", np.arctan2),
    ("math.fmod({0}, {1})", (-7.5, 2.0), "f", np.fmod),
    ("math.degrees({0})", (1.0,), "f", np.degrees),
    ("max({0}, {1})", (-0.0, 0.0), "f", lambda a, b: b if b > a else a),   # Python's: the first of equals
    ("min({0}, {1})", (math.nan, 1.0), "f", lambda a, b: b if b < a else a),
    ("{0} + {1}", (16777217, 0.5), "f", lambda a, b: f32(a) + b),            # the int32 becomes a float32 first
    ("{0} / {1}", (-7, 2), "f", lambda a, b: f32(a) / f32(b)),
    ("{0} * {1}", (2147483647, 1.0), "f", lambda a, b: f32(a) * b),
    ("float({0})", (16777217,), "f", lambda a: f32(a)),
    ("-float({0})", (0,), "f", lambda a: -f32(a)),                            # -0.0
    ("int({0})", (-2.5,), "i", _to_int),
    ("round({0})", (-0.5,), "i", lambda a: _to_int(np.rint(a))),
    ("round({0})", (2.5,), "i", lambda a: _to_int(np.rint(a))),
    ("math.floor({0})", (-0.5,), "i", lambda a: _to_int(np.floor(a))),
    ("bool({0})", (math.nan,), "i", lambda a: int(bool(a))),
    ("bool({0})", (-0.0,), "i", lambda a: int(bool(a))),
    ("math.isinf({0} * {0})", (1e20,), "i", lambda a: int(np.isinf(a * a))),
    ("{0} == {1}", (16777217, 16777216.0), "i", lambda a, b: int(f32(a) == b)),
    ("{0} != {0}", (math.nan,), "i", lambda a: int(a != a)),
    ("{0} // {1}", (-7, 2), "i", lambda a, b: a // b),                      # Python floors
    ("{0} % {1}", (7, -2), "i", lambda a, b: a % b),
    ("{0} % {1}", (-2147483648, -1), "i", lambda a, b: _wrap(a % b)),
    ("{0} >> {1}", (-8, 40), "i", lambda a, b: a >> b),
    ("{0} << {1}", (3, 29), "i", lambda a, b: _wrap(a << b)),
    ("~{0}", (-2147483648,), "i", lambda a: ~a),
    ("{0} ** 3", (-1290,), "i", lambda a: a ** 3),
    ("{0} + {1}", (True, True), "i", lambda a, b: a + b),
]
RUNS = CASES


def _literal(v) -> str:
    if isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return f"({v})"
    if math.isnan(v):
        return "math.nan"
    if math.isinf(v):
        return "math.inf" if v > 0 else "(-math.inf)"
    return f"({v!r})"


def _kernel_source(variant: str) -> str:
    """One kernel computing every case, its operands written the `variant` way."""
    module, body = [], []
    floats = ints = 0
    for k, (text, operands, dtype, _) in enumerate(RUNS):
        names = []
        for j, v in enumerate(operands):
            if variant == "literal":
                names.append(_literal(v))
            elif variant == "global":
                module.append(f"G{k}_{j} = {_literal(v)}")
                names.append(f"G{k}_{j}")
            elif variant == "assigned":
                body.append(f"    a{k}_{j} = {_literal(v)}")
                names.append(f"a{k}_{j}")
            elif isinstance(v, float):
                names.append(f"xf[{floats}]")
                floats += 1
            else:
                names.append(f"(xi[{ints}] != 0)" if isinstance(v, bool) else f"xi[{ints}]")
                ints += 1
        body.append(f"    {'of' if dtype == 'f' else 'oi'}[p, {k}] = {text.format(*names)}")
    return ("import math\n\nimport numpy as np\nimport wafersim as ws\n\n" + "\n".join(module)
            + "\n\n\n@ws.jit\ndef kern(xf, xi, of, oi):\n    p = ws.grid(1)\n" + "\n".join(body) + "\n")


@pytest.fixture(scope="module")
def dev():
    return ws.Device("dev")


@pytest.fixture(scope="module")
def want():
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = []
        for _, operands, dtype, ref in RUNS:
            args = [f32(v) if isinstance(v, float) else v for v in operands]
            out.append(f32(ref(*args)) if dtype == "f" else int(ref(*args)))
    return out


@pytest.mark.parametrize("variant", ["literal", "global", "assigned", "run time"])
def test_folded_and_run_time_values_equal_numpy(dev, tmp_path, want, variant):
    module = load_source(tmp_path, _kernel_source(variant))
    xf = np.array([v for case in RUNS for v in case[1] if isinstance(v, float)], np.float32)
    xi = np.array([int(v) for case in RUNS for v in case[1] if not isinstance(v, float)], np.int32)
    of, oi = dev.device_array((2, len(RUNS)), np.float32), dev.device_array((2, len(RUNS)), np.int32)
    module.kern[(1, 1), (2, 1)](dev.to_device(xf), dev.to_device(xi), of, oi)
    got_f, got_i = of.copy_to_host(), oi.copy_to_host()
    for k, ((text, operands, dtype, _), expected) in enumerate(zip(RUNS, want)):
        for p in range(2):
            if dtype == "f":  # bit for bit: the sign of a zero counts, any nan equals a nan
                got = got_f[p, k]
                assert (np.isnan(got) and np.isnan(expected)) or got.tobytes() == expected.tobytes(), \
                    (variant, text.format(*map(_literal, operands)), got, expected)
            else:
                assert got_i[p, k] == expected, (variant, text.format(*map(_literal, operands)), got_i[p, k])


# ----------------------------------------------------------------------------- np.int32 in compile-time values
W = np.int32(2147483647)


@ws.jit
def _wrapped_index_and_shape(out):
    a = (W + 1) // 1073741824          # NumPy: -2147483648 // 2**30 = -2 (a Python int would give 2)
    buf = ws.local.array(5, np.int32)
    for k in range(5):
        buf[k] = 10 * k
    t = ws.local.array((a + 4, 3), np.int32)
    out[0] = a
    out[1] = buf[a]                    # counts from the end, as buf[-2]
    out[2] = buf[(W + 1) // 1073741824]
    out[3] = len(t)
    out[4] = buf[-(W + 1) // 1073741824 - 1]   # -np.int32(-2**31) wraps to itself: -2 - 1
    out[5] = len(buf[0:a + 5])


def test_np_int32_constants_wrap_in_indices_and_shapes_as_in_values(dev):
    # The compile-time evaluation of a name or subscript (an index, a shape, a slice bound) computed an np.int32
    # constant's arithmetic as Python ints, where the kernel's value wraps as NumPy's: `a = (W + 1) // 2**30`
    # with W = np.int32(2**31 - 1) was -2 in `out[0] = a` but indexed buf[2] and sized a local array 6.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow warning
        a = (W + np.int32(1)) // 1073741824
        b = -(W + np.int32(1)) // 1073741824 - 1
    buf = [0, 10, 20, 30, 40]
    out = dev.device_array(6, np.int32)
    _wrapped_index_and_shape[(1, 1), (1, 1)](out)
    assert out.copy_to_host().tolist() == [a, buf[a], buf[a], a + 4, buf[b], len(buf[0:a + 5])]



@ws.jit
def _converted_np_int32_index_and_shape(out):
    buf = ws.local.array(5, np.int32)
    for k in range(5):
        buf[k] = 10 * k
    c = (np.int32(2147483647) + 1) // 1073741824   # an np.int32 made in the kernel wraps as W does: -2
    t = ws.local.array(((np.int32(2147483647) + 1) // 1073741824 + 4, 3), np.int32)
    out[0] = c
    out[1] = buf[c]
    out[2] = len(t)


def test_np_int32_conversion_of_a_constant_wraps_in_indices_and_shapes(dev):
    # `np.int32(c)` of an int constant folded to the Python int c when compiling, so the arithmetic after it did
    # not wrap there as it does in the kernel's value: c was -2 but indexed buf[2], and the shape was 6, not 2.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow warning
        c = (np.int32(2147483647) + 1) // 1073741824
    out = dev.device_array(3, np.int32)
    _converted_np_int32_index_and_shape[(1, 1), (1, 1)](out)
    assert out.copy_to_host().tolist() == [c, [0, 10, 20, 30, 40][c], c + 4]


M32 = np.int32(-2147483648)
BIG32 = np.int32(16777217)


@ws.jit
def _np_int32_comparisons(xi, out):
    out[0] = (W + 1) > 0                 # refused before: "comparison Gt of np.int32(-2147483648) and 0"
    out[1] = (W + 1) == M32
    out[2] = (W + True) < 0
    out[3] = BIG32 == 16777216.0         # an int32 against a float32: as float32s, as at run time
    out[4] = xi[0] == 16777216.0
    out[5] = 0 < W + 1 <= 5


def test_np_int32_constants_compare_as_the_kernel_values_do(dev):
    # A comparison of np.int32 constants folded when compiling went to the comparison of Python objects:
    # `<` was refused, and `==` of an int32 and a float compared in float64 where the kernel compares float32s.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow warning
        wrapped = W + np.int32(1)
    out = dev.device_array(6, np.int32)
    _np_int32_comparisons[(1, 1), (1, 1)](dev.to_device(np.array([16777217], np.int32)), out)
    as_f32 = int(np.float32(BIG32) == np.float32(16777216.0))
    assert out.copy_to_host().tolist() == [int(wrapped > 0), int(wrapped == M32), int(wrapped < 0), as_f32, as_f32,
                                           int(0 < wrapped <= 5)]


# ----------------------------------------------------------------------------- Python ints on the way to int32
INT_MAX_GLOBAL = 2**31 - 1


@ws.jit
def _int32_limits_written_out(xi, out):
    x = 2**31 - 1                       # refused as "2 ** 31 does not fit" before: only the result must fit
    out[0] = x
    out[1] = -2**31 + xi[0]
    out[2] = (1 << 31) - 1
    out[3] = ~(2**31 - 1)
    out[4] = 2**40 - 2**40 + 7 - xi[0]
    out[5] = x + xi[1]                  # a variable: int32 arithmetic, wrapping as NumPy's
    out[6] = INT_MAX_GLOBAL - 2**31 + 1


@ws.jit
def _int32_limit_exceeded(out):
    out[0] = 2**31 - 1 + 1  # MARK-over


@ws.jit
def _int32_step_divided(out):
    out[0] = 2**30 * 2 // 2  # MARK-div


def test_constant_int_expressions_fold_as_python_and_only_the_result_must_fit(dev):
    out = dev.device_array(7, np.int32)
    _int32_limits_written_out[(1, 1), (1, 1)](dev.to_device(np.array([5, 1], np.int32)), out)
    with np.errstate(over="ignore"):
        wrapped = int(np.int32(2**31 - 1) + np.int32(1))
    want = [2**31 - 1, -2**31 + 5, (1 << 31) - 1, ~(2**31 - 1), 2, wrapped, 2**31 - 1 - 2**31 + 1]
    assert out.copy_to_host().tolist() == want
    with pytest.raises(ws.CompileError, match=r"2 \*\* 31 - 1 \+ 1 = 2147483648 does not fit in int32") as info:
        _int32_limit_exceeded[(1, 1), (1, 1)](dev.device_array(1, np.int32))
    assert info.value.line == line_of(_int32_limit_exceeded, "MARK-over")
    # Python gives 2**30, int32 arithmetic -2**30 (a variable `a = 2**30; a * 2 // 2` computes that): refused
    with pytest.raises(ws.CompileError, match="does not fit in int32") as info:
        _int32_step_divided[(1, 1), (1, 1)](dev.device_array(1, np.int32))
    assert info.value.line == line_of(_int32_step_divided, "MARK-div")


# ----------------------------------------------------------------------------- differential: constant int trees
from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_compiler_fuzz_arrays import FUZZ  # noqa: E402

LEAVES = (0, 1, -1, 2, 3, 7, 31, 32, 2**31 - 1, 2**31, 2**30, 65536, 100000)
BINARY = ("+", "-", "*", "//", "%", "<<", ">>", "&", "|", "^", "**")


@st.composite
def int_trees(draw, depth: int) -> str:
    """A constant expression of Python ints, written out (its steps may leave int32: 2**31 - 1)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return str(draw(st.sampled_from(LEAVES)))
    if draw(st.integers(0, 4)) == 0:
        return f"{draw(st.sampled_from(('-', '~')))}({draw(int_trees(depth - 1))})"
    op = draw(st.sampled_from(BINARY))
    right = str(draw(st.integers(0, 40))) if op in ("<<", ">>", "**") else draw(int_trees(depth - 1))
    return f"({draw(int_trees(depth - 1))} {op} {right})"


def _python_refusing_int32_divergence(node: ast.expr) -> int:
    """Python's value of the tree; OverflowError where `//`, `%` or `>>` meets a step outside int32 (int32
    arithmetic, which wraps, would give another value there: refused, docs/python-supported.md)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        x = _python_refusing_int32_divergence(node.operand)
        return -x if isinstance(node.op, ast.USub) else ~x
    x, y = _python_refusing_int32_divergence(node.left), _python_refusing_int32_divergence(node.right)
    if isinstance(node.op, (ast.FloorDiv, ast.Mod, ast.RShift)) and not (-2**31 <= x < 2**31 and -2**31 <= y < 2**31):
        raise OverflowError
    return eval(f"x {BINARY_SYMBOL[type(node.op)]} y")  # noqa: S307 (two ints)


BINARY_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<",
                 ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.Pow: "**"}


@FUZZ
@given(text=int_trees(3))
@example(text="((2147483647 ** 29) ** 16)")  # its 4,330 digits raised ValueError writing the CompileError's message
@example(text="((2147483647 ** 29) ** 16) - ((2147483647 ** 29) ** 16)")
def test_constant_int_trees_fold_as_python(dev, tmp_path_factory, text):
    # docs: constant expressions are Python ints; the value must fit in int32 (else a CompileError at its line).
    module = load_source(tmp_path_factory.mktemp("trees"),
                         f"import wafersim as ws\n\n\n@ws.jit\ndef kern(out):\n    out[0] = {text}\n")
    try:
        value = _python_refusing_int32_divergence(ast.parse(text, mode="eval").body)
    except (ZeroDivisionError, ValueError, OverflowError):
        value = None
    out = dev.device_array(1, np.int32)
    if isinstance(value, int) and -2**31 <= value < 2**31:
        module.kern[(1, 1), (1, 1)](out)
        assert out.copy_to_host()[0] == value, text
    else:
        with pytest.raises(ws.CompileError):
            module.kern[(1, 1), (1, 1)](out)


@ws.jit
def _int_tower(out):
    out[0] = (((2 ** 64) ** 64) ** 64) ** 64 - 1  # MARK-tower


def test_a_tower_of_constant_powers_is_refused_not_computed(dev):
    # Each step passes the per-step bound on exponents, the result has 2**24 bits: a CompileError at once,
    # with its size rather than its digits (a compiler that computed the next level would run out of memory).
    with pytest.raises(ws.CompileError, match="a number of 262145 bits does not fit in int32") as info:
        _int_tower[(1, 1), (1, 1)](dev.device_array(1, np.int32))
    assert info.value.line == line_of(_int_tower, "MARK-tower")


# ----------------------------------------------------------------------------- np.int32 constants where ints are needed
# (trees mixing Python ints, np.int32 and np.int64 are fuzzed in tests/test_compiler_int_folding.py)
W1 = np.int32(1)


@ws.jit
def _np_int32_constants_where_ints_are_needed(xi, out):
    t = (5, 6, 7)
    j = np.int32(-1)
    out[0] = t[np.int32(1)] + 10 * t[j] + 100 * t[W1]            # tuple indices
    s = 0
    for k, v in enumerate((4, 5), np.int32(2)):                   # enumerate's start
        s += k * v
    out[1] = s
    n = np.int32(3)
    out[2] = xi[0] ** n                                            # a constant exponent held in a variable
    out[3] = 1 if np.int32(2) < np.int32(100000) and W1 < 3 else 0  # comparisons of constants
    b = ws.local.array(6, np.int32)
    for k in range(6):
        b[k] = k
    c = ws.local.array(3, np.int32)
    c[0:3] = b[0:6:np.int32(2)]                                    # a step
    out[4] = c[0] + c[1] + c[2] + 100 * sum(b[xi[1]:xi[1] + np.int32(3)])  # a span


def test_np_int32_constants_serve_where_a_constant_int_is_needed(dev):
    # static() gives an np.int32 for np.int32(c) (so it wraps as NumPy's): each of these refused it, as they
    # refused a module constant W1 = np.int32(1), with "a tuple index must be a constant", "enumerate()'s start
    # must be a constant int", "an int32 ** needs a constant whole exponent", "comparison Lt ... not supported"
    out = dev.device_array(5, np.int32)
    _np_int32_constants_where_ints_are_needed[(1, 1), (1, 1)](dev.to_device(np.array([5, 1], np.int32)), out)
    assert out.copy_to_host().tolist() == [6 + 70 + 600, 2 * 4 + 3 * 5, 125, 1, (0 + 2 + 4) + 100 * (1 + 2 + 3)]


@ws.jit
def _shift_invert_power_constants_held_in_variables(out):
    buf = ws.local.array(5, np.int32)
    for j in range(5):
        buf[j] = 10 * j
    a = ~2
    out[0] = buf[a]                      # buf[-3]
    b = 1 << 2
    t = ws.local.array(b, np.int32)
    out[1] = len(t)
    c = np.int32(-1) ^ np.int32(1)
    out[2] = buf[c]                      # buf[-2]
    d = 2 ** 2
    u = ws.local.array(d + 1, np.int32)
    out[3] = len(u)


def test_variables_assigned_constants_of_every_int_operator_index_and_size_as_python(dev):
    # static() folded only + - * // %: a variable assigned ~2 was a run-time -3 (an out-of-bounds index where
    # Python's buf[-3] counts from the end), and one assigned 1 << 2 no constant shape
    out = dev.device_array(4, np.int32)
    _shift_invert_power_constants_held_in_variables[(1, 1), (1, 1)](out)
    buf = [0, 10, 20, 30, 40]
    assert out.copy_to_host().tolist() == [buf[~2], 1 << 2, buf[-1 ^ 1], 2 ** 2 + 1]


_LENGTHS = (3, 9, 5)
_NEAR_MAX = np.int32(2**31 - 1)


@ws.jit
def _builtins_of_constants_as_shapes_and_indices(out):
    buf = ws.local.array(max(_LENGTHS), np.int32)      # a local array as long as the longest
    for j in range(len(buf)):
        buf[j] = 10 * j
    pair = ws.local.array((min(_LENGTHS), len(_LENGTHS) + 1), np.int32)
    out[0] = len(buf)
    out[1] = len(pair)
    out[2] = buf[-min(4, 2)]                            # buf[-2]: counts from the end, as Python's does
    w = max(_NEAR_MAX, 5) + 1                           # an np.int32 stays one: it wraps, as the kernel's does
    out[3] = w // 1073741824
    out[4] = buf[max(_LENGTHS) - len(_LENGTHS) * 2]     # buf[3]


def test_len_min_max_of_constants_are_constants_as_in_python(dev):
    # `ws.local.array(max(LENGTHS), ...)` was refused ("needs a constant shape ... `max(LENGTHS)` is not one"):
    # len, min and max of compile-time ints fold to what Python computes
    out = dev.device_array(5, np.int32)
    _builtins_of_constants_as_shapes_and_indices[(1, 1), (1, 1)](out)
    buf = [10 * j for j in range(max(_LENGTHS))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow warning
        wrapped = (max(_NEAR_MAX, 5) + np.int32(1)) // 1073741824
    assert out.copy_to_host().tolist() == [9, 3, buf[-2], wrapped, buf[9 - 6]]


_NEGATIVE = -4
_INT_MIN = np.int32(-2**31)


@ws.jit
def _abs_and_bools_of_constants_as_shapes_and_indices(out):
    buf = ws.local.array(abs(_NEGATIVE) + abs(True), np.int32)  # 5 elements
    pair = ws.local.array((True + True, max(True, 3)), np.int32)  # (2, 3): bools are the ints they equal
    out[0] = len(buf)
    out[1] = pair.shape[0] * 10 + pair.shape[1]
    out[2] = _LENGTHS[(False % -1) - False]                      # _LENGTHS[0]
    out[3] = _LENGTHS[-abs(True)]                                # _LENGTHS[-1]
    out[4] = buf[abs(_INT_MIN) // 2**30 + 2]                     # abs wraps as NumPy's: buf[-2 + 2]


def test_abs_and_bools_of_constants_are_constants_as_in_python(dev):
    # `abs` of a constant was not folded (`ws.local.array(abs(N), ...)` "not a constant shape"), nor was an int
    # operator whose left operand is a bool (`True + True` as a shape; `(False % -1) - False` as a tuple index)
    out = dev.device_array(5, np.int32)
    _abs_and_bools_of_constants_as_shapes_and_indices[(1, 1), (1, 1)](out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow warning
        wrapped = abs(_INT_MIN) // 2**30
    assert out.copy_to_host().tolist() == [abs(_NEGATIVE) + abs(True), (True + True) * 10 + max(True, 3),
                                           _LENGTHS[(False % -1) - False], _LENGTHS[-abs(True)], [0, 0, 0, 0, 0][wrapped + 2]]


@ws.jit
def _length_of_a_tuple_of_run_time_values(x, out):
    t = (x[0], x[1], 5)
    buf = ws.local.array(len(t) + 1, np.int32)  # the tuple's length is known when compiling, its items are not
    out[0] = len(buf)
    out[1] = t[0] + t[1]


def test_len_of_a_tuple_variable_of_run_time_values_is_a_constant(dev):
    # `ws.local.array(len(t), ...)` of `t = (x[0], x[1], 5)` was refused as "not a constant shape"
    out = dev.device_array(2, np.int32)
    _length_of_a_tuple_of_run_time_values[(1, 1), (1, 1)](dev.to_device(np.int32([3, 4])), out)
    assert out.copy_to_host().tolist() == [len((3, 4, 5)) + 1, 3 + 4]


@ws.jit
def _int_of_a_mixed_min_as_a_shape(out):
    buf = ws.local.array(int(min(3, 2.5)), np.int32)             # min(3.0, 2.5) is 2.5 in float32: 2 elements
    wide = ws.local.array(int(max(_LENGTHS[1], 0.5)) - 6, np.int32)  # 9.0: 3 elements
    out[0] = len(buf)
    out[1] = len(wide)
    out[2] = int(min(3, 2.5))                                    # the value the shape was computed from


@ws.jit
def _mixed_min_as_a_shape(out):
    buf = ws.local.array(min(2, 2.5), np.int32)  # MARK-float-shape
    out[0] = len(buf)


def test_min_max_of_an_int_and_a_float_give_the_kernels_float32_as_a_shape(dev):
    # `int(min(3, 2.5))` as a shape was refused as "not a constant"; `min(2, 2.5)` (a float32 in a kernel, 2.0)
    # was refused as "a value known only when the kernel runs", where it is a float, which no shape takes
    out = dev.device_array(3, np.int32)
    _int_of_a_mixed_min_as_a_shape[(1, 1), (1, 1)](out)
    assert out.copy_to_host().tolist() == [int(min(3.0, 2.5)), int(max(float(_LENGTHS[1]), 0.5)) - 6, 2]
    with pytest.raises(TypeError):
        np.zeros(2.0)
    with pytest.raises(ws.CompileError, match=r"shape 2\.0 holds a float.*convert it with int") as info:
        _mixed_min_as_a_shape[(1, 1), (1, 1)](dev.device_array(1, np.int32))
    assert info.value.line == line_of(_mixed_min_as_a_shape, "MARK-float-shape")


@ws.jit
def _bool_result_as_a_shape(out):
    buf = ws.local.array(max(True, False), np.int32)  # MARK-bool-shape
    out[0] = len(buf)


def test_a_bool_result_of_a_builtin_is_no_shape_as_in_numpy(dev):
    # max(True, False) is True, a bool, which np.zeros refuses as a shape
    with pytest.raises(TypeError):
        np.zeros(max(True, False))
    with pytest.raises(ws.CompileError, match="constant shape") as info:
        _bool_result_as_a_shape[(1, 1), (1, 1)](dev.device_array(1, np.int32))
    assert info.value.line == line_of(_bool_result_as_a_shape, "MARK-bool-shape")


# ----------------------------------------------------------------------------- floats meant, overflowing folds
@ws.jit
def _int_meant_as_float(x, out):
    out[0] = x[0] / 2**32  # MARK-float-meant


@ws.jit
def _float_folds_beyond_float32(out):
    out[0] = 3e38 / 1e-38
    out[1] = -3e38 / 1e-38
    out[2] = 1e-45 / 3e38


def test_an_int_constant_beyond_int32_says_to_write_a_float_where_one_is_meant(dev):
    # Python divides by the exact 2**32; the kernel's ints are int32: refused, saying how to write the float
    with pytest.raises(ws.CompileError, match=r"2 \*\* 32 = 4294967296 does not fit in int32.*write a float "
                                              r"constant \(2\.0 \*\* 32") as info:
        _int_meant_as_float[(1, 1), (1, 1)](dev.device_array(1), dev.device_array(1))
    assert info.value.line == line_of(_int_meant_as_float, "MARK-float-meant")


def test_a_constant_float_division_that_overflows_folds_to_inf_without_a_numpy_warning(dev):
    out = dev.device_array(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from the compiler's folding would fail here
        _float_folds_beyond_float32[(1, 1), (1, 1)](out)
    with np.errstate(all="ignore"):
        want = np.float32([3e38, -3e38, 1e-45]) / np.float32([1e-38, 1e-38, 3e38])
    np.testing.assert_array_equal(out.copy_to_host().view(np.int32), want.view(np.int32))
