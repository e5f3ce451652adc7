"""float16 arithmetic of the compiled interpreter's 16-bit stream ops (`vhaddx`, `vhmaxx`, `vhminx`) and of the
16-bit vector ops of large groups (`sim.half_vector_kernels`), on the bit patterns a word holds in its low half
(isa/halfprec.py), as NumPy computes on float16 arrays: Numba has no float16 on the CPU.

An add widens both operands to float32 (exact), adds in float32 and rounds the sum to float16, nearest even, as
NumPy's float16 loops do. Rounding twice cannot differ from rounding the exact sum once: float32 carries
24 >= 2 x 11 + 2 bits, enough for +, -, x, / and sqrt of float16 operands (S. A. Figueroa, "When is double
rounding innocuous?", SIGNUM Newsletter 30(3), 1995). The conversions follow NumPy's (numpy/_core/src/common/
half_private.hpp, `FromFloatBits` and `ToFloatBits`): NaN payloads kept, shifted. tests/test_half_arith.py
checks every float16 pattern, and the adds, differences, products, maxima and minima of drawn and special pairs,
against NumPy.
"""
from __future__ import annotations

import numpy as np

from .jit import njit
from .kinds import K_VADDX, K_VMAXX


i32 = np.int32  # (Numba widens int32 arithmetic to int64: every step below is cut back to int32, see below)


# Both conversions are written without branches (each case computed, one selected) and in int32 steps, so that a
# loop of them compiles to vector instructions on 8 words at a time (`sim.half_vector_kernels`: ~0.2-0.3 ns a
# word on the reference VM, against ~5 ns for NumPy's casts and ~0.7 ns in int64 steps).
@njit(cache=True, inline="always")
def half_to_float(h):
    """The float32 of the float16 bits in the low half of `h` (exact; a NaN keeps its payload, shifted)."""
    h = i32(h)
    sign = i32(i32(h & i32(0x8000)) << i32(16))
    magnitude = i32(h & i32(0x7FFF))
    normal = i32(i32(magnitude << i32(13)) + i32(112 << 23))  # float16's exponent bias 15, float32's 127
    special = i32(i32(magnitude << i32(13)) | i32(0x7F800000))  # inf or NaN: the payload shifted
    # a subnormal (or zero) is its significand times 2**-24: exact, and a normal float32
    subnormal = np.float32(np.float32(magnitude) * np.float32(2.0 ** -24)).view(np.int32)
    bits = special if magnitude >= i32(0x7C00) else (normal if magnitude >= i32(0x400) else subnormal)
    return i32(sign | bits).view(np.float32)


@njit(cache=True, inline="always")
def float_to_half(x):
    """The float16 bits (an int32, high half zero) of float32 `x` rounded to nearest even; beyond float16's range
    +-inf; a NaN keeps the top of its payload (and stays a NaN)."""
    f = np.float32(x).view(np.int32)
    sign = i32(i32(f >> i32(16)) & i32(0x8000))
    magnitude = i32(f & i32(0x7FFFFFFF))
    nan = i32(i32(0x7C00) + i32(i32(magnitude & i32(0x007FFFFF)) >> i32(13)))
    nan = i32(nan + i32(nan == i32(0x7C00)))  # (a payload only in the bits dropped: still a NaN)
    large = nan if magnitude > i32(0x7F800000) else i32(0x7C00)  # a NaN, or +-inf from 2**16 up
    # below 2**-14: a subnormal float16 or a zero. Adding 0.5 rounds the value to a multiple of 2**-24 (0.5's
    # ulp), nearest even, in the float32 hardware: the sum's low bits are the float16's.
    subnormal = i32(np.float32(magnitude.view(np.float32) + np.float32(0.5)).view(np.int32) - i32(0x3F000000))
    # normal: the exponent rebiased, the 13 dropped bits rounded to nearest even (a carry steps the exponent;
    # past float16's largest, to inf: right)
    normal = i32(i32(i32(magnitude - i32(112 << 23)) + i32(i32(0xFFF) + i32(i32(magnitude >> i32(13)) & i32(1))))
                 >> i32(13))
    return i32(sign | (large if magnitude >= i32(0x47800000) else (normal if magnitude >= i32(0x38800000)
                                                                    else subnormal)))


@njit(cache=True, inline="always")
def half_add(x, y) -> int:
    """float16 x + y (bits in, bits out), as NumPy's float16 add. Of two NaNs NumPy's float16 loop gives the
    second, quieted (measured, NumPy 2.4 on x86-64; LLVM may swap a commutative add's operands, so that case is
    spelled out); one NaN comes out quieted, as the hardware's float32 add gives it."""
    a, b = half_to_float(x), half_to_float(y)
    return float_to_half(b + b if a != a and b != b else a + b)


@njit(cache=True, inline="always")
def half_sub(x, y) -> int:
    """float16 x - y (bits in, bits out), as NumPy's float16 subtract: of two NaNs the first, quieted
    (measured, as `half_add`'s), one NaN quieted."""
    a, b = half_to_float(x), half_to_float(y)
    return float_to_half(a - a if a != a and b != b else a - b)


@njit(cache=True, inline="always")
def half_mul(x, y) -> int:
    """float16 x * y (bits in, bits out), as NumPy's float16 multiply: of two NaNs the second, quieted (measured,
    as `half_add`'s), one NaN quieted. The product of two float16 values is exact in float32."""
    a, b = half_to_float(x), half_to_float(y)
    return float_to_half(b * b if a != a and b != b else a * b)


@njit(cache=True, inline="always")
def half_max(x, y) -> int:
    """np.maximum on float16 (bits in, bits out): x where x >= y or x is a NaN, else y, unchanged (a NaN stays
    as it is; of two zeros, x)."""
    a, b = half_to_float(x), half_to_float(y)
    return i32(i32(x if a >= b or a != a else y) & i32(0xFFFF))


@njit(cache=True, inline="always")
def half_min(x, y) -> int:
    """np.minimum on float16, as `half_max`: x where x <= y or x is a NaN, else y."""
    a, b = half_to_float(x), half_to_float(y)
    return i32(i32(x if a <= b or a != a else y) & i32(0xFFFF))


@njit(cache=True, inline="always")
def half_stream(kind, own, word) -> int:
    """A 16-bit stream op's combine (its kind the 32-bit form's: K_VADDX, K_VMAXX, K_VMINX) of sram's float16 bits
    `own` and the arriving `word`'s, own first (`stream_ops._half`)."""
    if kind == K_VADDX:
        return half_add(own, word)
    return half_max(own, word) if kind == K_VMAXX else half_min(own, word)
