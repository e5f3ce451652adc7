"""float16 arithmetic of the compiled interpreter's 16-bit stream ops (`vhaddx`, `vhmaxx`, `vhminx`), on the bit
patterns a word holds in its low half (isa/halfprec.py), as NumPy computes on float16 arrays: Numba has no
float16 on the CPU.

An add widens both operands to float32 (exact), adds in float32 and rounds the sum to float16, nearest even, as
NumPy's float16 loops do. Rounding twice cannot differ from rounding the exact sum once: float32 carries
24 >= 2 x 11 + 2 bits, enough for +, -, x, / and sqrt of float16 operands (S. A. Figueroa, "When is double
rounding innocuous?", SIGNUM Newsletter 30(3), 1995). The conversions follow NumPy's (numpy/_core/src/common/
half_private.hpp, `FromFloatBits` and `ToFloatBits`): NaN payloads kept, shifted. tests/test_half_arith.py
checks every float16 pattern, and the adds, maxima and minima of drawn and special pairs, against NumPy.
"""
from __future__ import annotations

import numpy as np

from .jit import njit
from .kinds import K_VADDX, K_VMAXX


@njit(cache=True, inline="always")
def half_to_float(h):
    """The float32 of the float16 bits in the low half of `h` (exact; a NaN keeps its payload, shifted)."""
    h = np.int64(h) & 0xFFFF
    sign = (h & 0x8000) << 16
    exponent = (h >> 10) & 0x1F
    mantissa = h & 0x3FF
    if exponent == 0x1F:  # inf or NaN
        bits = sign | 0x7F800000 | (mantissa << 13)
    elif exponent == 0:
        if mantissa == 0:
            bits = sign
        else:  # subnormal: normalised, one exponent step a shift (float32's exponent of 2**-14 is 113)
            e = 113
            while mantissa & 0x400 == 0:
                mantissa <<= 1
                e -= 1
            bits = sign | (e << 23) | ((mantissa & 0x3FF) << 13)
    else:
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13)
    return np.uint32(bits).view(np.float32)


@njit(cache=True, inline="always")
def float_to_half(x) -> int:
    """The float16 bits (high half zero) of float32 `x` rounded to nearest even; beyond float16's range +-inf; a
    NaN keeps the top of its payload (and stays a NaN)."""
    f = np.int64(np.float32(x).view(np.uint32))
    sign = (f & 0x80000000) >> 16
    exponent = f & 0x7F800000
    if exponent >= 0x47800000:  # 2**16 and up, inf, NaN
        significand = f & 0x007FFFFF
        if exponent == 0x7F800000 and significand != 0:
            nan = 0x7C00 + (significand >> 13)
            return sign + (nan + 1 if nan == 0x7C00 else nan)
        return sign + 0x7C00
    if exponent <= 0x38000000:  # below 2**-14: a subnormal float16 or a zero
        if exponent < 0x33000000:  # below 2**-25: rounds to zero
            return sign
        shift = 113 - (exponent >> 23)
        significand = (0x00800000 + (f & 0x007FFFFF)) >> shift
        # nearest even: add half an ulp unless the rest is exactly a half and the last kept bit is even (bits
        # shifted out above count as rest)
        if (significand & 0x3FFF) != 0x1000 or (f & ((1 << shift) - 1)) != 0:
            significand += 0x1000
        return sign + (significand >> 13)  # (a carry into the exponent gives the smallest normal: right)
    significand = f & 0x007FFFFF
    if (significand & 0x3FFF) != 0x1000:
        significand += 0x1000
    # (a carry from the significand steps the exponent; past float16's largest, to inf: right)
    return sign + (((exponent - 0x38000000) >> 13) + (significand >> 13))


@njit(cache=True, inline="always")
def half_add(x, y) -> int:
    """float16 x + y (bits in, bits out), as NumPy's float16 add. Of two NaNs NumPy's float16 loop gives the
    second, quieted (measured, NumPy 2.4 on x86-64; LLVM may swap a commutative add's operands, so that case is
    spelled out); one NaN comes out quieted, as the hardware's float32 add gives it."""
    a, b = half_to_float(x), half_to_float(y)
    return float_to_half(b + b if a != a and b != b else a + b)


@njit(cache=True, inline="always")
def half_max(x, y) -> int:
    """np.maximum on float16 (bits in, bits out): x where x >= y or x is a NaN, else y, unchanged (a NaN stays
    as it is; of two zeros, x)."""
    a, b = half_to_float(x), half_to_float(y)
    return (x if a >= b or a != a else y) & 0xFFFF


@njit(cache=True, inline="always")
def half_min(x, y) -> int:
    """np.minimum on float16, as `half_max`: x where x <= y or x is a NaN, else y."""
    a, b = half_to_float(x), half_to_float(y)
    return (x if a <= b or a != a else y) & 0xFFFF


@njit(cache=True, inline="always")
def half_stream(kind, own, word) -> int:
    """A 16-bit stream op's combine (its kind the 32-bit form's: K_VADDX, K_VMAXX, K_VMINX) of sram's float16 bits
    `own` and the arriving `word`'s, own first (`stream_ops._half`)."""
    if kind == K_VADDX:
        return half_add(own, word)
    return half_max(own, word) if kind == K_VMAXX else half_min(own, word)
