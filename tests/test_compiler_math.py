"""Scalar float32 math in kernels (`math.*`, `np.*`, float `//`, `%`, `**`) against NumPy's float32 ufuncs.

The machine's math opcodes are defined as NumPy's float32 ufuncs, so every result must equal NumPy's on
float32 arrays bit for bit (0 ulps; nan compared as nan), over ordinary values and the edge cases (signed
zeros, infinities, nan, subnormals, the float32 limits). As an independent check of those ufuncs, finite
results are also compared with the `math` module in float64, rounded to float32: within 4 ulps.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, load_source, run_on_one_block

EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e-45, -1e-45, 1e-38, 3.4028235e38, -3.4028235e38,
         np.inf, -np.inf, np.nan, 1e-7, 0.9999999, 1.0000001, math.pi, -math.pi, 88.72, -103.9, 1e10, 100.0, -7.25]


def values(n_random: int = 70, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wide = rng.standard_normal(n_random) * np.exp2(rng.integers(-20, 20, n_random))
    return np.concatenate([np.array(EDGES), rng.uniform(-4, 4, n_random), wide]).astype(np.float32)


UNARY = {  # kernel text -> NumPy float32 ufunc, float64 reference
    "math.sin": (np.sin, math.sin), "math.cos": (np.cos, math.cos), "math.tan": (np.tan, math.tan),
    "math.asin": (np.arcsin, math.asin), "math.acos": (np.arccos, math.acos), "math.atan": (np.arctan, math.atan),
    "math.sinh": (np.sinh, math.sinh), "math.cosh": (np.cosh, math.cosh), "math.tanh": (np.tanh, math.tanh),
    "math.asinh": (np.arcsinh, math.asinh), "math.acosh": (np.arccosh, math.acosh),
    "math.atanh": (np.arctanh, math.atanh), "math.exp": (np.exp, math.exp), "math.expm1": (np.expm1, math.expm1),
    "math.log": (np.log, math.log), "math.log2": (np.log2, math.log2), "math.log10": (np.log10, math.log10),
    "math.log1p": (np.log1p, math.log1p), "math.sqrt": (np.sqrt, math.sqrt), "math.fabs": (np.fabs, math.fabs),
    "np.floor": (np.floor, math.floor), "np.ceil": (np.ceil, math.ceil), "np.trunc": (np.trunc, math.trunc),
    "np.arcsin": (np.arcsin, math.asin), "np.sin": (np.sin, math.sin),
}


def power_in_float64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fpow's definition: the power of the float32 operands in float64, rounded once to float32."""
    return np.power(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)


BINARY = {
    "math.pow": power_in_float64, "math.atan2": np.arctan2, "math.hypot": np.hypot, "math.copysign": np.copysign,
    "math.fmod": np.fmod, "np.power": power_in_float64, "np.arctan2": np.arctan2, "np.floor_divide": np.floor_divide,
    "np.remainder": np.remainder, "{a} // {b}": np.floor_divide, "{a} % {b}": np.remainder,
    "{a} ** {b}": power_in_float64,
}


def same_bits(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Element-wise: the same float32 (signed zeros told apart), or both nan."""
    return (got.view(np.int32) == want.view(np.int32)) | (np.isnan(got) & np.isnan(want))


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in float32 steps between finite values (ordered integer view of the bits)."""
    def ordered(x):
        i = x.view(np.int32).astype(np.int64)
        return np.where(i < 0, -(2**31) - i, i)
    return np.abs(ordered(a) - ordered(b))


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


def unary_kernel(tmp_path, names: list[str]):
    stores = "\n".join(f"        out[j, {k}] = {name}(v)" for k, name in enumerate(names))
    source = f"""import math
import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, n):
    for j in range(ws.grid(1), n, ws.gridsize(1)):
        v = x[j]
{stores}
"""
    return load_source(tmp_path, source).kern


def test_unary_functions_equal_numpy_float32_bit_for_bit(dev, tmp_path):
    names = list(UNARY)
    x = values()
    kern = unary_kernel(tmp_path, names)
    d_out = dev.device_array((x.size, len(names)))
    kern[(1, 1), (8, 1)](dev.to_device(x), d_out, x.size)
    got = d_out.copy_to_host()
    with np.errstate(all="ignore"):
        for k, name in enumerate(names):
            want = UNARY[name][0](x)
            bad = ~same_bits(got[:, k], want)
            assert not bad.any(), (name, x[bad][:5], got[bad, k][:5], want[bad][:5])


def test_unary_functions_are_within_4_ulps_of_float64_math(dev, tmp_path):
    names = [n for n in UNARY if n.startswith("math.")]
    x = values(seed=5)
    kern = unary_kernel(tmp_path, names)
    d_out = dev.device_array((x.size, len(names)))
    kern[(1, 1), (8, 1)](dev.to_device(x), d_out, x.size)
    got = d_out.copy_to_host()
    for k, name in enumerate(names):
        reference = UNARY[name][1]
        for i, v in enumerate(x):
            try:
                exact = reference(float(v))
            except (ValueError, OverflowError):
                continue  # outside the domain: Python raises, the machine gives nan or inf as NumPy does
            want = np.float32(exact) if abs(exact) < 3.4e38 else None
            if want is None or not np.isfinite(want) or not np.isfinite(got[i, k]):
                continue
            assert ulps(got[i:i + 1, k], np.array([want]))[0] <= 4, (name, v, got[i, k], want)


def test_binary_functions_and_float_operators_equal_numpy(dev, tmp_path):
    names = list(BINARY)
    exprs = [n.format(a="a", b="b") if "{" in n else f"{n}(a, b)" for n in names]
    stores = "\n".join(f"        out[j, {k}] = {e}" for k, e in enumerate(exprs))
    source = f"""import math
import numpy as np
import wafersim as ws


@ws.jit
def kern(x, y, out, n):
    for j in range(ws.grid(1), n, ws.gridsize(1)):
        a = x[j]
        b = y[j]
{stores}
"""
    kern = load_source(tmp_path, source).kern
    base = values(30)
    x = np.repeat(base, 9)
    y = np.tile(np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, 0.3, 7.0], np.float32), base.size)
    d_out = dev.device_array((x.size, len(names)))
    kern[(1, 1), (8, 1)](dev.to_device(x), dev.to_device(y), d_out, x.size)
    got = d_out.copy_to_host()
    with np.errstate(all="ignore"):
        for k, name in enumerate(names):
            want = BINARY[name](x, y)
            bad = ~same_bits(got[:, k], want)
            assert not bad.any(), (name, x[bad][:4], y[bad][:4], got[bad, k][:4], want[bad][:4])


def test_float_floor_division_and_modulo_are_pythons(dev, tmp_path):
    """Python's float // and % (the sign of the divisor, floor of the exact quotient) on float32 values."""
    source = """import wafersim as ws


@ws.jit
def kern(x, y, out):
    i = ws.grid(1)
    out[i, 0] = x[i] // y[i]
    out[i, 1] = x[i] % y[i]
"""
    kern = load_source(tmp_path, source).kern
    x = np.array([7.5, -7.5, 7.5, -7.5, 1.0, 0.3, -0.0, 1e30], np.float32)
    y = np.array([2.0, 2.0, -2.0, -2.0, 0.1, 0.1, 3.0, 7.0], np.float32)
    out, = run_on_one_block(dev, kern, x, y, np.zeros((8, 2), np.float32), block=(8, 1))[2:]
    for i in range(8):
        a, b = float(x[i]), float(y[i])
        assert out[i, 0] == np.float32(a // b) or math.isclose(out[i, 0], a // b, rel_tol=1e-6), (a, b)
        assert same_bits(out[i:i + 1, 1], np.remainder(x[i:i + 1], y[i:i + 1])).all()
        assert math.copysign(1, out[i, 1]) == math.copysign(1, b) or out[i, 1] == 0


def test_floor_ceil_trunc_give_ints_and_predicates_give_bools(dev, tmp_path):
    source = """import math
import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out):
    i = ws.grid(1)
    v = x[i]
    out[i, 0] = math.floor(v)
    out[i, 1] = math.ceil(v)
    out[i, 2] = math.trunc(v)
    out[i, 3] = math.isnan(v)
    out[i, 4] = np.isinf(v)
    out[i, 5] = math.isfinite(v)
    out[i, 6] = math.floor(i) + math.isnan(i)
"""
    kern = load_source(tmp_path, source).kern
    x = np.array([2.5, -2.5, -0.0, 7.0, np.nan, np.inf, -np.inf, 1e-30], np.float32)
    out, = run_on_one_block(dev, kern, x, np.zeros((8, 7), np.int32), block=(8, 1))[1:]
    for i, v in enumerate(x):
        v = float(v)
        if math.isfinite(v):
            assert list(out[i, :3]) == [math.floor(v), math.ceil(v), math.trunc(v)]
        assert list(out[i, 3:6]) == [math.isnan(v), math.isinf(v), math.isfinite(v)]
        assert out[i, 6] == i


def test_constant_arguments_fold_to_what_the_machine_computes(dev, tmp_path):
    source = """import math
import wafersim as ws


@ws.jit
def kern(x, out):
    i = ws.grid(1)
    out[0] = math.sin(0.7) + x[i] * 0.0
    out[1] = math.atan2(1.0, -3.0)
    out[2] = 7.5 // -2.0
    out[3] = -7.5 % 2.0
    out[4] = 2.0 ** 0.5
    out[5] = math.log1p(1e-6)
    out[6] = math.floor(-2.5)
"""
    kern = load_source(tmp_path, source).kern
    out, = run_on_one_block(dev, kern, np.zeros(1, np.float32), np.zeros(7, np.float32))[1:]
    f = np.float32
    want = [np.sin(np.array([0.7], f))[0], np.arctan2(f(1.0), f(-3.0)), f(-4.0), f(0.5), np.power(f(2.0), f(0.5)),
            np.log1p(np.array([1e-6], f))[0], -3.0]
    assert same_bits(out, np.array(want, f)).all(), (out, want)


@pytest.mark.parametrize("body,text", [
    ("y = math.frexp(x)", "cannot be called"),
    ("y = round(x, 2)", "round(x, ndigits) is not supported"),
    ("y = math.modf(x, x)", "takes one number"),
    ("y = math.log(x, 2.0)", "takes one number"),
    ("y = math.atan2(x)", "takes two numbers"),
    ("y = np.fmod(n, 3)", "np.fmod of two int32"),
    ("y = math.floor(math.inf)", "has no int value"),
    ("y = n ** n", "constant whole exponent"),
    ("y = 1.0 % 0.0", "cannot evaluate"),
    ("y = (-8.0) ** 0.5", "cannot evaluate"),
])
def test_unsupported_math_is_a_compile_error(dev, tmp_path, body, text):
    source = f"""import math
import numpy as np
import wafersim as ws


@ws.jit
def kern(out, x, n):
    {body}
    out[0] = 0.0
"""
    kern = load_source(tmp_path, source).kern
    error = compile_error(dev, kern, np.zeros(1, np.float32), np.float32(1.5), 3)
    assert text in str(error), str(error)


def test_powers_of_infinite_and_negative_bases_fold_as_python_and_the_machine_compute_them(dev, tmp_path):
    """Only a finite negative base to a finite fractional power is complex in Python (refused when constant,
    above); (-inf) ** 0.5, (-2.0) ** inf and (-2.0) ** nan are real: folded to Python's value, which is
    also what `fpow` gives at run time (they were refused as "cannot evaluate the constant expression")."""
    pairs = [(-math.inf, 0.5), (-math.inf, 1.5), (-math.inf, -0.5), (-2.0, math.inf), (-0.5, math.inf),
             (-2.0, -math.inf), (-2.0, math.nan)]
    spelled = {math.inf: "math.inf", -math.inf: "(-math.inf)"}
    lines = "\n".join(f"    out[{k}] = {spelled.get(a, f'({a})')} ** {'math.nan' if b != b else spelled.get(b, b)}"
                      f"\n    out[{len(pairs) + k}] = x[{2 * k}] ** x[{2 * k + 1}]" for k, (a, b) in enumerate(pairs))
    source = f"""import math
import wafersim as ws


@ws.jit
def kern(x, out):
{lines}
"""
    kern = load_source(tmp_path, source).kern
    x = np.array([v for pair in pairs for v in pair], np.float32)
    out, = run_on_one_block(dev, kern, x, np.zeros(2 * len(pairs), np.float32))[1:]
    want = np.array([a ** b for a, b in pairs] * 2, np.float32)  # Python's float power: no complex here
    assert same_bits(out, want).all(), (out, want)


# ---------------------------------------------------------------------- special functions, rounding, operator
SPECIAL = {"math.erf": math.erf, "math.erfc": math.erfc, "math.gamma": math.gamma, "math.lgamma": math.lgamma}


def test_erf_erfc_gamma_lgamma_within_1_ulp_of_float64_math(dev, tmp_path):
    """Evaluated in float64 and rounded once: within 1 ulp of Python's math (which is float64) wherever that
    is finite; where math raises (gamma's poles) the machine gives inf or nan."""
    names = list(SPECIAL)
    x = np.concatenate([values(seed=11), np.linspace(-6, 6, 97, dtype=np.float32),
                        np.array([-1.0, -2.0, -3.0, 0.0, -0.0, -np.inf, 0.5, 1e-30, 30.0, 171.0, 40.0],
                                 np.float32)]).astype(np.float32)
    kern = unary_kernel(tmp_path, names)
    d_out = dev.device_array((x.size, len(names)))
    kern[(1, 1), (8, 1)](dev.to_device(x), d_out, x.size)
    got = d_out.copy_to_host()
    checked = 0
    for k, name in enumerate(names):
        for i, v in enumerate(x):
            try:
                exact = SPECIAL[name](float(v))
            except (ValueError, OverflowError):
                if name == "math.gamma" and v == 0:  # C's tgamma at its poles (SciPy's version must not matter)
                    assert got[i, k] == math.copysign(math.inf, v), (name, v, got[i, k])
                elif name == "math.gamma" and v < 0 and (math.isinf(v) or float(v).is_integer()):
                    assert np.isnan(got[i, k]), (name, v, got[i, k])
                else:
                    assert not np.isfinite(got[i, k]), (name, v, got[i, k])  # an overflow: inf
                continue
            if math.isnan(exact):
                assert np.isnan(got[i, k]), (name, v)
                continue
            with np.errstate(over="ignore"):
                want = np.float32(exact)
            if not np.isfinite(want):
                assert got[i, k] == want, (name, v, got[i, k])
                continue
            assert ulps(got[i:i + 1, k], np.array([want]))[0] <= 1, (name, v, got[i, k], want)
            checked += 1
    assert checked > 4 * 200


def pairwise_kernel(tmp_path, outputs: str, body: str):
    """A kernel that, for each j (grid-stride), binds a = x[j] and b = y[j] and runs `body` (which stores
    into the arrays named in `outputs`)."""
    source = f"""import math
import operator
import numpy as np
import wafersim as ws


@ws.jit
def kern(x, y, {outputs}, n):
    for j in range(ws.grid(1), n, ws.gridsize(1)):
        a = x[j]
        b = y[j]
{body}"""
    return load_source(tmp_path, source).kern


def test_remainder_modf_round_rint_degrees_radians(dev, tmp_path):
    kern = pairwise_kernel(tmp_path, "out, rounded", """        out[j, 0] = math.remainder(a, b)
        frac, whole = math.modf(a)
        out[j, 1] = frac
        out[j, 2] = whole
        out[j, 3] = np.rint(a)
        out[j, 4] = math.degrees(a)
        out[j, 5] = np.radians(a)
        rounded[j] = round(b)
""")
    rng = np.random.default_rng(8)
    x = np.concatenate([values(seed=9), rng.integers(-40, 40, 200) * np.float32(0.5)]).astype(np.float32)
    y = np.concatenate([np.resize(np.array([1.0, -2.0, 0.5, 3.0, 1e-3, 7.5, np.inf, 0.0], np.float32),
                                  x.size - 200), rng.integers(-40, 40, 200) * np.float32(0.5)]).astype(np.float32)
    out, rounded = dev.device_array((x.size, 6)), dev.device_array(x.size, dtype=np.int32)
    kern[(1, 1), (8, 1)](dev.to_device(x), dev.to_device(y), out, rounded, x.size)
    got, got_round = out.copy_to_host(), rounded.copy_to_host()
    for i, (a, b) in enumerate(zip(x.astype(float), y.astype(float))):
        try:
            want = np.float32(math.remainder(a, b))  # exact in float64, so exact after rounding
        except ValueError:
            want = np.float32(np.nan)
        assert same_bits(got[i:i + 1, 0], np.array([want])).all(), (a, b, got[i, 0], want)
        if math.isfinite(b):
            assert got_round[i] == round(b), (b, got_round[i])
    frac, whole = np.modf(x)
    assert same_bits(got[:, 1], frac).all() and same_bits(got[:, 2], whole).all()
    finite = np.isfinite(x)
    assert all(math.modf(float(v)) == (float(f), float(w)) for v, f, w in zip(x[finite], frac[finite], whole[finite]))
    assert same_bits(got[:, 3], np.rint(x)).all()
    with np.errstate(over="ignore"):
        assert same_bits(got[:, 4], np.degrees(x)).all() and same_bits(got[:, 5], np.radians(x)).all()


def test_operator_module_functions_are_the_operators(dev, tmp_path):
    kern = pairwise_kernel(tmp_path, "out, flags", """        out[j, 0] = operator.add(a, b)
        out[j, 1] = operator.sub(a, b)
        out[j, 2] = operator.mul(a, 3)
        out[j, 3] = operator.truediv(a, b)
        out[j, 4] = operator.floordiv(a, b)
        out[j, 5] = operator.mod(a, b)
        out[j, 6] = operator.neg(a)
        out[j, 7] = operator.abs(a)
        out[j, 8] = operator.pow(a, 2)
        flags[j, 0] = operator.lt(a, b)
        flags[j, 1] = operator.ge(a, b)
        flags[j, 2] = operator.xor(int(a), 5)
        flags[j, 3] = operator.lshift(int(b), 2)
        flags[j, 4] = operator.not_(a)
""")
    x = np.array([1.5, -2.25, 0.0, 7.0, -9.5, 3.0, 100.0, -0.5], np.float32)
    y = np.array([2.0, 0.5, -3.0, 7.0, 4.0, -1.5, 0.25, 8.0], np.float32)
    out, flags = dev.device_array((8, 9)), dev.device_array((8, 5), dtype=np.int32)
    kern[(1, 1), (8, 1)](dev.to_device(x), dev.to_device(y), out, flags, 8)
    got, got_flags = out.copy_to_host(), flags.copy_to_host()
    for i in range(8):
        a, b = x[i], y[i]  # NumPy float32 scalars: the kernel's arithmetic
        want = [a + b, a - b, a * np.float32(3), a / b, a // b, a % b, -a, abs(a), a ** np.float32(2)]
        assert same_bits(got[i], np.array(want, np.float32)).all(), (i, got[i], want)
        assert list(got_flags[i]) == [a < b, a >= b, int(a) ^ 5, int(b) << 2, not a]


@ws.jit
def squares(x, out, n, two):
    for j in range(ws.grid(1), n, ws.gridsize(1)):
        v = x[j]
        out[j, 0] = v ** 2  # a constant exponent: v * v
        out[j, 1] = v ** two  # the same exponent at run time: fpow
        out[j, 2] = v ** 2.0
        out[j, 3] = math.pow(v, two)


def test_a_power_is_the_same_whether_its_exponent_is_known_at_compile_time_or_not(dev):
    """`v ** 2` compiles to v * v; `fpow` ran NumPy's float32 power, a SIMD powf on some CPUs, 1 ulp off the
    square for some v (139.51622 for 11.811699 ** 2, where v * v is 139.51624). The reference: NumPy's
    float32 square, correctly rounded."""
    x = np.random.default_rng(5).uniform(-50, 50, 4000).astype(np.float32)
    d_out = dev.device_array((x.size, 4))
    squares[(1, 1), (8, 1)](dev.to_device(x), d_out, x.size, 2.0)
    got = d_out.copy_to_host()
    for k in range(4):
        assert same_bits(got[:, k], x * x).all(), k


@ws.jit
def specials_from_strings(out, v):
    out[0] = float('inf')
    out[1] = float("-inf")
    out[2] = float('nan')
    out[3] = float(' -InFiNiTy ')  # any spelling Python's float() reads, as it reads it
    out[4] = float('+NaN')
    out[5] = np.float32('-Inf')
    out[6] = float('0.1')  # a number: rounded to float32 as the literal 0.1 is
    out[7] = np.float32('1e50')  # as NumPy reads it: inf
    out[8] = min(v, float('inf'))
    out[9] = -float('inf') if v > 0.0 else float('infinity')
    best = float('inf')
    for k in range(3):
        best = min(best, v - k)
    out[10] = best


def test_float_of_a_string_is_a_compile_time_constant(dev):
    """`float('inf')`, `float('-inf')`, `float('nan')` (CUDA and Python habits) were refused ("a str cannot be
    used as a kernel value"): they are the float32 constants Python's float() gives, rounded to float32."""
    v = np.float32(2.5)
    (got,) = run_on_one_block(dev, specials_from_strings, np.zeros(11, np.float32), v)
    with np.errstate(over="ignore"):
        want = np.array([math.inf, -math.inf, math.nan, -math.inf, math.nan, -math.inf, 0.1, np.float32("1e50"),
                         v, -math.inf, v - 2], np.float32)
    assert same_bits(got, want).all(), (got, want)


@ws.jit
def ints_from_strings(out, n):
    out[0] = int('12')
    out[1] = int(' -7 ') * n  # any text Python's int() reads, as it reads it
    out[2] = np.int32('1_000')
    out[3] = int('2147483647')
    out[4] = int('+0') - int('-2147483647')  # (folded exactly, as Python's ints: it fits)
    out[5] = int(float('1.5'))  # the text of a float: through float(), truncated
    for k in range(int('3')):
        out[6 + k] = k


def test_int_of_a_string_is_a_compile_time_constant_as_float_of_one_is(dev):
    """`int('12')` was refused ("a str cannot be used") where `float('1.5')` folded: both read the text as Python
    (NumPy) reads it."""
    (got,) = run_on_one_block(dev, ints_from_strings, np.zeros(9, np.int32), 3)
    want = [int('12'), int(' -7 ') * 3, np.int32('1_000'), int('2147483647'), int('+0') - int('-2147483647'),
            int(float('1.5')), 0, 1, 2]
    np.testing.assert_array_equal(got, np.array(want, np.int64).astype(np.int32))


def test_float_floor_division_is_numpys_float32_and_modulo_pythons_for_large_quotients(dev, tmp_path):
    """docs/python-supported.md: `//` is np.floor_divide on float32, which beyond a quotient of 2**24 can differ
    in the last bit from Python's float64 a // b rounded to float32; `%` rounds at most once: Python's."""
    source = """import wafersim as ws


@ws.jit
def kern(x, y, out, n):
    for j in range(ws.grid(1), n, ws.gridsize(1)):
        out[j, 0] = x[j] // y[j]
        out[j, 1] = x[j] % y[j]
"""
    kern = load_source(tmp_path, source).kern
    rng = np.random.default_rng(11)
    n = 400
    x = (rng.standard_normal(n) * np.exp2(rng.integers(0, 40, n))).astype(np.float32)
    y = (rng.standard_normal(n) * np.exp2(rng.integers(-30, 0, n))).astype(np.float32)  # quotients past 2**24
    x[0], y[0] = 330178432.0, -19.165878295898438
    d_out = dev.device_array((n, 2))
    kern[(1, 1), (8, 1)](dev.to_device(x), dev.to_device(y), d_out, n)
    got = d_out.copy_to_host()
    assert same_bits(got[:, 0], np.floor_divide(x, y)).all()
    python_mod = np.array([float(a) % float(b) for a, b in zip(x, y)]).astype(np.float32)
    assert same_bits(got[:, 1], python_mod).all()
    python_floor = np.array([float(a) // float(b) for a, b in zip(x, y)]).astype(np.float32)
    assert got[0, 0] == -17227412.0 and python_floor[0] == -17227410.0  # the documented example
