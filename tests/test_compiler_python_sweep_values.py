"""The sweep of ordinary Python through `@ws.jit` (tests/test_compiler_python_sweep.py), over many values: each
int32, float32 and mixed operator, conversion and builtin evaluated on every pair of edge values (int32's limits,
shift counts past 31, signed zeros, subnormals, float32's limits, infinities, nan) in one launch, against plain
Python (results wrapped to int32 or rounded to float32 where they are stored), NumPy's int32 / float32 scalars
where the kernel's documented semantics are NumPy's (every step wraps or rounds), or a stated NumPy reference."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from test_compiler_python_sweep import F32, INF, IMAX, IMIN, JIT_PRELUDE, NAN, PLAIN_PRELUDE, _same, _stored

import wafersim as ws
from conftest import load_source


# ============================================================================= operators over edge values
# One kernel per expression, one PE looping over every pair of edge values: a wrong answer on some values only
# (a constant divisor's strength reduction, a shift's count, a nan's or a signed zero's path) shows here.
INT_VALUES = [0, 1, -1, 2, -2, 3, -3, 5, -7, 8, -8, 31, 32, 33, 100, -100, 12345, -12345, 2**30, -(2**30),
              IMAX, IMIN, IMIN + 1, IMAX - 1, 65536, -65537]
FLOAT_VALUES = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 7.5, -7.5, 0.1, 1e-45, -1e-45, 1e-38, 3e38, -3e38,
                16777216.0, 16777217.0, 2.5e9, -2.5e9, INF, -INF, NAN]


def _np32(fn):
    """A reference through NumPy's float32 ufunc `fn` (its warnings silenced: a nan or inf is the result)."""
    def reference(a, b):
        with np.errstate(all="ignore"):
            return fn(F32(a), F32(b))
    return reference


def _saturated(v: float) -> int:
    return 0 if math.isnan(v) else max(IMIN, min(IMAX, int(v))) if math.isfinite(v) else (IMAX if v > 0 else IMIN)


# (expression of a and b, 'i' or 'f' operands, reference(a, b) or None for plain Python, b nonzero)
INT_OPS = ["a + b", "a - b", "a * b", "a & b", "a | b", "a ^ b", "-a", "~a", "+a", "abs(a)", "min(a, b)",
           "max(a, b)", "a == b", "a != b", "a < b", "a <= b", "a > b", "a >= b", "0 <= a < b", "not a",
           "bool(a)", "a // b", "a % b", "(a > 0) - (a < 0)", "a if a > b else b", "a and b", "a or b",
           "a << (b & 63)", "a >> (b & 63)", "a ** 2", "a ** 3", "pow(a, 5)", "a * 7", "a * -1", "a * 65536"]
# (identities an optimizer could wrongly apply under int32 wrap-around: checked against NumPy's int32, which
# wraps at every step as the kernel does, where Python's ints do not)
INT_IDENTITIES = ["(a * 2) // 2", "(a << 1) >> 1", "(a >> 1) << 1", "a // 2 * 2", "(a + b) - b", "a - a", "a * 0",
            "(a * 3) % 3", "-(-a)", "~~a", "a // 1", "a % 1", "a & -1", "a | 0", "a ^ a", "abs(-a)", "-abs(a)",
            "min(a, a)", "a < a + 1", "a + 1 > a", "a * 2 == a + a", "a - b < 0", "(a + b) // 2", "not not a",
            "a == a", "a * a >= 0", "abs(a) >= 0", "-a == a", "a + b == b + a", "(a - b) + b", "a // -1",
            "a % -1", "(a & 0xFF) | (a & ~0xFF)", "a ** 1", "a ** 0", "(a > b) + (a <= b)"]
for c in (1, -1, 2, -2, 3, -3, 4, -4, 5, 7, -7, 8, -8, 10, 16, -16, 1000, -1000, 2**30, -(2**30), IMAX, IMIN):
    INT_OPS += [f"a // {c}", f"a % {c}", f"{c} // (a | 1)", f"{c} % (a | 1)"]
for k in (0, 1, 5, 16, 31, 32, 33, 63):
    INT_OPS += [f"a << {k}", f"a >> {k}", f"{k} << (b & 7)"]
FLOAT_OPS = ["x + y", "x - y", "x * y", "-x", "+x", "abs(x)", "x == y", "x != y", "x < y", "x <= y", "x > y",
             "x >= y", "not x", "bool(x)", "min(x, y)", "max(x, y)", "x if x > y else y", "x or y", "x and y",
             "0.0 < x <= y", "x * 2.0", "x * 0.5", "x + 1.0", "x - 1.0", "x * -1.0", "x * 0.0", "x ** 2",
             "x ** 1", "x ** 0", "math.copysign(x, y)", "math.isnan(x)", "math.isinf(x)", "math.isfinite(x)"]
# (identities an optimizer could wrongly apply to floats: nan, signed zeros, infinities, rounding; checked
# against NumPy's float32, which rounds every step as the kernel does)
FLOAT_IDENTITIES = ["x == x", "x != x", "x - x", "x + 0.0", "x - 0.0", "0.0 - x", "x * 1.0", "-(x - y)", "(x + 1.0) - 1.0",
              "abs(x) >= 0.0", "not (x < y)", "x < y or x >= y", "x if x == x else 0.0", "max(x, x)",
              "min(x, y) <= max(x, y)", "x * 2.0 * 0.5", "-x * y", "-(x * y)", "x + y - y", "-(-x)", "x * x >= 0.0",
              "0.0 + x", "-0.0 + x", "x + -0.0", "(x > y) == (y < x)", "x <= y and y <= x", "x * 0.0 == 0.0"]
FLOAT_NUMPY = {"x / y": np.divide, "x // y": np.floor_divide, "x % y": np.remainder, "x ** y": None,
               "x ** -1": lambda a, b: np.divide(F32(1), a), "x ** 0.5": None, "x ** 3": None,
               "math.fmod(x, y)": np.fmod, "math.hypot(x, y)": np.hypot, "math.atan2(x, y)": np.arctan2,
               "math.sqrt(x)": lambda a, b: np.sqrt(a), "np.floor(x)": lambda a, b: np.floor(a),
               "x / 2.0": lambda a, b: a / F32(2), "x / 3.0": lambda a, b: a / F32(3),
               "x // 2.0": lambda a, b: np.floor_divide(a, F32(2)), "x % 2.0": lambda a, b: np.remainder(a, F32(2)),
               "x // -0.5": lambda a, b: np.floor_divide(a, F32(-0.5)), "x % -3.0": lambda a, b: np.remainder(a, F32(-3)),
               "x * 2.0 / 2.0": lambda a, b: a * F32(2) / F32(2), "x / 2.0 * 2.0": lambda a, b: a / F32(2) * F32(2),
               "x % math.inf": lambda a, b: np.remainder(a, F32(INF)), "x // math.inf": lambda a, b: np.floor_divide(a, F32(INF))}
TO_INT = {"int(x)": lambda a, b: _saturated(float(a)), "round(x)": lambda a, b: _saturated(float(np.rint(F32(a)))),
          "math.floor(x)": lambda a, b: _saturated(math.floor(a) if math.isfinite(a) else a),
          "math.ceil(x)": lambda a, b: _saturated(math.ceil(a) if math.isfinite(a) else a),
          "math.trunc(x)": lambda a, b: _saturated(float(a))}
MIXED = {"a + x": lambda a, b: F32(a) + F32(b), "a * x": lambda a, b: F32(a) * F32(b), "a / b": _np32(np.divide),
         "a < x": lambda a, b: F32(a) < F32(b), "a == x": lambda a, b: F32(a) == F32(b), "float(a)": lambda a, b: F32(a),
         "a % 2.5": lambda a, b: np.remainder(F32(a), F32(2.5)), "a // 0.5": lambda a, b: np.floor_divide(F32(a), F32(0.5)),
         "max(a, x)": lambda a, b: F32(b) if F32(b) > F32(a) else F32(a),
         "a < 2.5": lambda a, b: F32(a) < F32(2.5), "a == 3.0": lambda a, b: F32(a) == F32(3.0),
         "a > 16777217.0": lambda a, b: F32(a) > F32(16777217.0), "a < 1e10": lambda a, b: F32(a) < F32(1e10),
         "a ** 0.5": lambda a, b: _fpow(F32(a), 0.5), "x ** a": lambda a, b: _fpow(b, F32(a)),
         "2.0 ** a": lambda a, b: _fpow(2.0, F32(a)), "x * a == a * x": lambda a, b: F32(b) * F32(a) == F32(a) * F32(b),
         "(a > 0) * x": lambda a, b: F32(a > 0) * F32(b), "x if a > 0 else a": lambda a, b: F32(b) if a > 0 else F32(a)}
FLOAT_NUMPY.update({"2.0 - x": lambda a, b: F32(2.0) - a, "1.0 / x": lambda a, b: F32(1.0) / a,
                    "2.0 ** x": lambda a, b: _fpow(2.0, a), "0.5 ** x": lambda a, b: _fpow(0.5, a),
                    "-x ** 2": lambda a, b: -(a * a), "(-x) ** 2": lambda a, b: a * a,
                    "3.0 // x": lambda a, b: np.floor_divide(F32(3.0), a), "3.0 % x": lambda a, b: np.remainder(F32(3.0), a)})


def _fpow(a, b):
    """`fpow`: the power in float64, rounded once to float32 (docs/python-supported.md), nan for a negative base
    to a fractional power, inf at zero to a negative one."""
    with np.errstate(all="ignore"):
        # (two arrays: NumPy takes an array ** 0.5 as a sqrt, -0.0 at -0.0 and nan at -inf, where C's pow and
        # Python give 0.0 and inf)
        return F32(np.power(np.array([F32(a)], np.float64), np.array([F32(b)], np.float64))[0])


for expr in ("x ** y", "x ** 0.5", "x ** 3"):
    exponent = {"x ** y": None, "x ** 0.5": 0.5, "x ** 3": 3.0}[expr]
    FLOAT_NUMPY[expr] = (lambda e: (lambda a, b: _fpow(a, b if e is None else e)))(exponent)

VALUE_CASES = ([(e, "i", "i", None) for e in INT_OPS] + [(e, "f", "f", None) for e in FLOAT_OPS]
               + [(e, "i", "i", "numpy") for e in INT_IDENTITIES] + [(e, "f", "f", "numpy") for e in FLOAT_IDENTITIES]
               + [(e, "f", "f", _np32(fn) if fn in (np.divide, np.floor_divide, np.remainder, np.fmod, np.hypot,
                                                        np.arctan2) else fn) for e, fn in FLOAT_NUMPY.items()]
               + [(e, "f", "i", fn) for e, fn in TO_INT.items()] + [(e, "m", "f", fn) for e, fn in MIXED.items()])


VALUE_SOURCE = '''
@jit
def k(xs, ys, out):
    i, j = ws.grid(2)
    {a} = xs[i]
    {b} = ys[j]
    out[j, i] = {expr}
'''


@pytest.fixture(scope="module")
def wide():
    return ws.Device(ws.WaferSpec(width=32, height=32))


@pytest.mark.parametrize("expr,kind,result,reference", VALUE_CASES, ids=[f"{c[1]}:{c[0]}" for c in VALUE_CASES])
def test_operator_over_edge_values(wide, tmp_path_factory, expr, kind, result, reference):
    names = {"i": ("a", "b"), "f": ("x", "y"), "m": ("a", "x")}[kind]
    source = VALUE_SOURCE.format(a=names[0], b=names[1], expr=expr.replace("a / b", "a / x"))
    kernel = load_source(tmp_path_factory.mktemp("values"), JIT_PRELUDE + source).k
    xs = np.array(INT_VALUES if kind != "f" else FLOAT_VALUES, np.int32 if kind != "f" else np.float32)
    divides = kind == "i" and ("// b" in expr or "% b" in expr)  # (by zero: KernelZeroDivisionError, tested above)
    ys = np.array([v for v in (INT_VALUES if kind == "i" else FLOAT_VALUES) if not (divides and v == 0)],
                  np.int32 if kind == "i" else np.float32)
    integer_out = result == "i" or (kind == "i" and "/" not in expr.replace("//", ""))
    d_out = wide.device_array((len(ys), len(xs)), np.int32 if integer_out else np.float32)
    kernel[(1, 1), (len(xs), len(ys))](wide.to_device(xs), wide.to_device(ys), d_out)
    got = d_out.copy_to_host()
    if reference is None:
        plain = load_source(tmp_path_factory.mktemp("plain"), PLAIN_PRELUDE + source.replace("ws.grid(2)", "ij"))
        want = np.zeros(got.shape, object)
        for i in range(len(xs)):
            for j in range(len(ys)):
                plain.ij = (i, j)
                plain.k([v.item() for v in xs], [v.item() for v in ys], want)
    elif reference == "numpy":  # the expression over NumPy int32 / float32 scalars
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = np.array([[eval(expr, {"math": math, "np": np}, dict(zip(names, (a, b)))) for a in xs]
                             for b in ys], object)
    else:
        with np.errstate(all="ignore"):  # (a nan or an inf is the result the reference gives)
            want = np.array([[reference(a if kind == "f" else a.item(), b if kind != "i" else b.item()) for a in xs]
                             for b in ys], object)
    want = _stored(list(want.ravel()), "i" if integer_out else "f").reshape(got.shape)
    bad = [(xs[i], ys[j], got[j, i], want[j, i]) for j in range(len(ys)) for i in range(len(xs))
           if not _same(got[j:j + 1, i], want[j:j + 1, i])]
    assert not bad, f"{len(bad)} wrong, e.g. {bad[:6]}"
