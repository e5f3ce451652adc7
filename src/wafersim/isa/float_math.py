"""What the float32 math instructions that NumPy has no float32 ufunc for (or none whose result does not depend
on the CPU) compute (`ferf`, `fgamma`, `fremainder`, `fpow`, ...), and the function table of `vmath` (a
scalar math instruction applied to an SRAM range).

The engine runs these functions and the compiler folds constants with them, so both always agree. The
special functions are evaluated in float64 (SciPy's `erf`, `erfc`, `gamma`, `gammaln`) and rounded once to
float32: within 1 ulp of the exact value wherever float64 evaluation is accurate to a few float64 ulps
(tests/test_compiler_math.py checks them against Python's `math` module).
"""
from __future__ import annotations

import numpy as np


def _ufunc_like(function):
    """`function` with the `out=` and `where=` keywords of a NumPy ufunc (the engine's executors pass them)."""
    def run(*args, out: np.ndarray | None = None, where=True):
        with np.errstate(all="ignore"):
            result = function(*args)
        if out is None:
            return result
        np.copyto(out, result, where=where)
        return out
    run.__name__ = function.__name__
    return run


def _in_float64(name: str, function=None):
    """SciPy's special function `name` (or `function`) evaluated in float64 on float32 arguments, rounded once
    to float32. SciPy is imported on first use: a simulation that never runs one does not pay its memory."""
    def evaluate(x):
        import scipy.special

        f = function or getattr(scipy.special, name)
        return f(np.asarray(x, dtype=np.float32).astype(np.float64)).astype(np.float32)
    run = _ufunc_like(evaluate)
    run.__name__ = name
    return run


erf32 = _in_float64("erf")
erfc32 = _in_float64("erfc")


def _gamma(x: np.ndarray) -> np.ndarray:
    """gamma(x) with C's tgamma at its poles, whatever SciPy's version gives there (SciPy changed negative
    integers from inf to nan): +-inf at +-0, nan at the negative integers and -inf (where math raises)."""
    import scipy.special

    result = scipy.special.gamma(x)
    result = np.where(x == 0, np.copysign(np.inf, x), result)
    return np.where((x < 0) & (x == np.floor(x)), np.nan, result)


gamma32 = _in_float64("gamma", _gamma)


def _log_abs_gamma(x: np.ndarray) -> np.ndarray:
    """log |gamma(x)| as math.lgamma: +inf at -inf (SciPy's gammaln gives -inf there)."""
    import scipy.special

    return np.where(x == -np.inf, np.inf, scipy.special.gammaln(x))


lgamma32 = _in_float64("lgamma", _log_abs_gamma)


@_ufunc_like
def fraction32(x: np.ndarray) -> np.ndarray:
    """The fractional part with the sign of x (math.modf's first item; 0 for infinities)."""
    return np.modf(x)[0]


@_ufunc_like
def ieee_remainder32(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """math.remainder on float32: x - n * y with n the integer nearest x / y, ties to even; exact.

    fmod(x, 2|y|) is exact and keeps the quotient's parity; the nearest multiple of |y| to its magnitude
    s (in [0, 2|y|)) is 0, |y| or 2|y|, and every subtraction below is exact (Sterbenz), in float64."""
    with np.errstate(all="ignore"):
        x64, a = np.asarray(x, np.float64), np.abs(np.asarray(y, np.float64))
        t = np.fmod(x64, 2 * a)
        s = np.abs(t)
        r = np.where(2 * s <= a, s, np.where(2 * s < 3 * a, s - a, s - 2 * a))
        return np.where(np.signbit(t), -r, r).astype(np.float32)  # a zero result has the sign of x


#: float32 -> float32 instructions defined here (the engine's other unary math runs NumPy's ufuncs).
@_ufunc_like
def power32(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x ** y for float32 operands, evaluated in float64 and rounded once to float32 (a negative base to a
    fractional power is nan, as np.power). NumPy's float32 `np.power` of two arrays takes a SIMD `powf` on
    some CPUs: not correctly rounded and machine-dependent (1 ulp from `x * x` for y = 2, where a constant
    exponent 2 compiles to that square). In float64 a square is exact, so fpow(x, 2) is x * x, and results
    are the correctly rounded ones but for rare cases of rounding twice."""
    x64, y64 = np.asarray(x, np.float32).astype(np.float64), np.asarray(y, np.float32).astype(np.float64)
    return np.power(x64, y64).astype(np.float32)

#: Arrays of more elements than this are tested for a NaN by their minimum (one pass, no boolean temporary).
_NAN_TEST_BY_MINIMUM = 4096


def _may_hold_nan(x) -> bool:
    """Whether float operand `x` (an array or a scalar) may hold a NaN (cheap; a false yes only costs time)."""
    if not isinstance(x, np.ndarray) or x.ndim == 0:
        return bool(x != x)
    if x.dtype.kind != "f":
        return False
    if x.size > _NAN_TEST_BY_MINIMUM:
        return bool(np.isnan(x.min()))
    return x.size > 0 and bool(np.isnan(x).any())


def keep_first_nan(ufunc):
    """The commutative float `ufunc` (np.add, np.multiply), but of two NaN operands always the first's, quieted,
    as x86's scalar instructions give it and the compiled engine (`sim.compiled.arith.fadd`, `fmul`) computes it.
    NumPy's SIMD loops give the second's in the tail of an array (NumPy 2.4 on x86 AVX2: elements 16.. of 17-31
    float32 ones, 8.. of 9-15 float64 ones, ...) and in every element where the second is one value broadcast,
    so without this a lane's payload would depend on its position in a group. The same signature as the ufunc's
    (two operands, `out=`, `where=`); `out` may be an operand. (np.subtract, np.divide, np.minimum and
    np.maximum keep the first NaN already: their loops do not swap operands.)"""
    def combine(x, y, out: np.ndarray | None = None, where=True):
        if not (_may_hold_nan(x) and _may_hold_nan(y)):
            return ufunc(x, y, out=out, where=where)
        both = np.isnan(x) & np.isnan(y)
        if where is not True:
            both = both & where
        first = np.broadcast_to(x, both.shape)[both]  # (read before `out`, which may be x or y, is written)
        result = ufunc(x, y, out=out, where=where)
        if first.size:
            result[both] = ufunc(first, first)  # (one NaN operand: it, quieted)
        return result
    combine.__name__ = ufunc.__name__
    return combine


#: np.add and np.multiply keeping the first of two NaN operands (`keep_first_nan`).
add_first_nan = keep_first_nan(np.add)
multiply_first_nan = keep_first_nan(np.multiply)


def fused_multiply_add32(a, b, c) -> np.ndarray:
    """`fma`: a * b + c of float32 operands rounded once to float32 (IEEE fusedMultiplyAdd, ties to even).

    The product of two float32 values is exact in float64 (48 significant bits), but the float64 sum rounds,
    and rounding that again to float32 goes wrong where the float64 sum lands exactly on a float32 tie the
    exact sum is not on (fma(641, 6700417, 2**56): the exact 2**56 + 2**32 + 1 is above the tie 2**56 + 2**32,
    which float64 rounds it to, and ties to even would then give 2**56). Such a tie is decided by the sign of
    the float64 sum's exact error (TwoSum). The compiled engine's `sim/compiled/arith.py` `fma32` is the same
    computation, one element at a time."""
    a64, b64, c64 = (np.asarray(v, np.float32).astype(np.float64) for v in (a, b, c))
    with np.errstate(all="ignore"):
        p = a64 * b64
        s = p + c64
        back = s - c64
        error = (p - back) + (c64 - (s - back))  # s + error == p + c exactly (TwoSum)
        r = s.astype(np.float32)
        finite = np.isfinite(s)
        # s's float32 neighbours: r, and the next float32 on s's side of it (2**128 beyond the largest)
        near = np.where(np.isinf(r) & finite, np.copysign(2.0**128, s), r.astype(np.float64))
        toward = np.where(s > near, np.float32(np.inf), np.float32(-np.inf))
        far = np.nextafter(r, toward).astype(np.float64)
        tie = finite & (error != 0) & ((near + far) * 0.5 == s)
        return np.where(tie & ((far > near) == (error > 0)), far, near).astype(np.float32)


UNARY = {"ferf": erf32, "ferfc": erfc32, "fgamma": gamma32, "flgamma": lgamma32, "frint": np.rint,
         "ffrac": fraction32}
BINARY = {"fremainder": ieee_remainder32, "fpow": power32}

#: The functions `vmath d, a, fn, c` applies element-wise: fn is a position in this tuple (5 bits).
VECTOR_MATH = ("fsqrt", "fexp", "flog", "ftanh", "fsin", "fcos", "ftan", "fasin", "facos", "fatan", "fsinh",
               "fcosh", "fasinh", "facosh", "fatanh", "fexpm1", "flog2", "flog10", "flog1p", "ffloor", "fceil",
               "ftrunc", "fabs", "ferf", "ferfc", "fgamma", "flgamma", "frint", "ffrac")
assert len(VECTOR_MATH) <= 32
