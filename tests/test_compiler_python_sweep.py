"""A sweep of ordinary Python through `@ws.jit` (docs/python-supported.md), table-driven: each construct a
CUDA/NumPy user writes in a kernel either runs and gives what the same function gives as plain Python
(its results wrapped to int32 or rounded to float32 where they are stored, the semantics the page promises), or
what a stated NumPy reference gives where the page documents a difference, or is refused with a CompileError at
the line marked `# X`, or stops the kernel with the error Python raises there."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import wafersim as ws
from conftest import int32_wrap, load_source

F32 = np.float32
NAN = float("nan")
INF = float("inf")
IMIN, IMAX = -2**31, 2**31 - 1


@dataclass
class Case:
    name: str
    body: str                       # the kernel `def k(out, a, b):`'s body, `out` 4 words of `dtype`
    args: tuple = (0, 0)
    dtype: str = "i"                # 'i': int32 out, 'f': float32 out
    expect: Any = "py"              # "py": the plain-Python run; a callable(a, b) -> list; Refused; Raises
    helpers: str = ""               # device functions and constants placed above the kernel


@dataclass
class Refused:
    words: str                      # a fragment of the CompileError's message


@dataclass
class Raises:
    error: type


def f32(*values) -> list:
    return [F32(v) for v in values]


CASES: list[Case] = []


def case(name, body, args=(0, 0), dtype="i", expect="py", helpers="", into=CASES):
    into.append(Case(name, body, args, dtype, expect, helpers))


# ----------------------------------------------------------------------------- int32 operators
case("add_wraps", "out[0] = a + b", (IMAX, 1))
case("sub_wraps", "out[0] = a - b", (IMIN, 1))
case("mul_wraps", "out[0] = a * b", (100000, 100000))
case("neg_min", "out[0] = -a", (IMIN, 0))
case("pos", "out[0] = +a", (-5, 0))
case("abs_min", "out[0] = abs(a)", (IMIN, 0))
case("truediv_ints", "out[0] = a / b", (7, 2), "f")
case("truediv_neg", "out[0] = a / b", (-7, 4), "f")
case("floordiv_neg", "out[0] = a // b\n    out[1] = b // a\n    out[2] = -a // -b\n    out[3] = a // -b", (-7, 2))
case("mod_neg", "out[0] = a % b\n    out[1] = b % a\n    out[2] = -a % -b\n    out[3] = a % -b", (-7, 2))
case("floordiv_min_by_minus_one", "out[0] = a // b\n    out[1] = a % b", (IMIN, -1))
case("floordiv_by_zero", "out[0] = a // b", (7, 0), expect=Raises(ws.KernelZeroDivisionError))
case("mod_by_zero", "out[0] = a % b", (7, 0), expect=Raises(ws.KernelZeroDivisionError))
case("floordiv_by_constant_zero", "out[0] = a // 0  # X", (7, 0), expect=Refused("zero"))
case("pow_const_wraps", "out[0] = a ** 3\n    out[1] = a ** 0\n    out[2] = a ** 1", (2000, 0))
case("pow_zero_zero", "out[0] = a ** 0\n    out[1] = 0 ** 0", (0, 0))
case("pow_const_negative_int", "out[0] = a ** -1  # X", (2, 0), expect=Refused(""))
case("pow_run_time_int", "out[0] = a ** b  # X", (2, 3), expect=Refused(""))
case("pow_int_float_exponent", "out[0] = a ** 0.5", (2, 0), "f")
case("pow_int_negative_float", "out[0] = a ** -1.0", (4, 0), "f")
case("shl_31", "out[0] = a << 31\n    out[1] = a << b", (3, 31))
case("shl_32_and_more", "out[0] = a << b\n    out[1] = a << 32\n    out[2] = a << 100", (3, 32))
case("shr_big_negative", "out[0] = a >> b\n    out[1] = a >> 40\n    out[2] = (a + 100) >> b", (-5, 33))
case("shift_negative_run_time", "out[0] = a << b", (3, -1), expect=Raises(ws.KernelValueError))
case("shift_negative_constant", "out[0] = a << -1  # X", (3, 0), expect=Refused("negative"))
case("invert", "out[0] = ~a\n    out[1] = ~b", (0, IMIN))
case("bitwise_negatives", "out[0] = a & b\n    out[1] = a | b\n    out[2] = a ^ b", (-6, 11))
case("mask_ffffffff", "out[0] = a & 0xFFFFFFFF  # X", (-1, 0), expect=Refused("same bits, -1"))
case("mask_high_bit", "out[0] = a & 0x80000000  # X", (-1, 0), expect=Refused("same bits, -2147483648"))
case("mask_high_bit_as_int32", "out[0] = a & -2147483648\n    out[1] = a & -1", (-5, 0),
     expect=lambda a, b: [int32_wrap(a & 0x80000000), int32_wrap(a & 0xFFFFFFFF)])
case("mask_7fffffff", "out[0] = a & 0x7FFFFFFF", (-1, 0))
case("constant_above_2_31_folds", "out[0] = 3000000000 - 2**31 + a", (1, 0))
case("constant_above_2_31_variable", "x = 3000000000  # X\n    out[0] = x - a", (1, 0), expect=Refused("int32"))
case("constant_above_2_31_plus_run_time", "out[0] = a + 3000000000  # X", (1, 0), expect=Refused("int32"))
case("int_loop_overflow_wraps", "s = 0\n    for k in range(b):\n        s += a\n    out[0] = s", (2**30, 5),
     expect=lambda a, b: [int32_wrap(a * b)])

# ----------------------------------------------------------------------------- bools as ints
case("invert_true", "out[0] = ~True", expect=lambda a, b: [-2])
case("invert_run_time_bool", "out[0] = ~(a > b)\n    out[1] = ~(a < b)", (3, 1), expect=lambda a, b: [-2, -1])
case("neg_bool", "out[0] = -(a > b)\n    out[1] = (a > b) + (a > b)\n    out[2] = (a > b) * 7", (3, 1))
case("bool_and_bool_bitwise", "out[0] = (a > b) & (b > 0)\n    out[1] = (a > b) ^ True\n    out[2] = (a < b) | 4", (3, 1))
case("not_float", "out[0] = not x\n    out[1] = not y\n    out[2] = not z",
     args=(0.0, NAN), expect=lambda a, b: [1, 0, 1])
case("bool_of_each", "out[0] = bool(a)\n    out[1] = bool(x)\n    out[2] = bool(y)\n    out[3] = bool(z)",
     (-3, NAN))
case("int_of_bool", "out[0] = int(a > b) + int(True)", (3, 1))
case("float_of_bool", "out[0] = float(a > b) + 0.5", (3, 1), "f")

# ----------------------------------------------------------------------------- float32 operators
case("fadd_rounds", "out[0] = x + y", (16777216.0, 1.0), "f")
case("fadd_chain_rounds", "out[0] = x + y + y", (16777216.0, 1.0), "f", expect=lambda a, b: [F32(a) + F32(b) + F32(b)])
case("fsub_cancel", "out[0] = (x + y) - x", (1e8, 1.0), "f", expect=lambda a, b: [(F32(a) + F32(b)) - F32(a)])
case("fmul", "out[0] = x * y", (0.1, 3.0), "f")
case("fdiv", "out[0] = x / y", (1.0, 3.0), "f")
case("fdiv_by_zero_run_time", "out[0] = x / y\n    out[1] = -x / y\n    out[2] = y / y", (1.0, 0.0), "f",
     expect=lambda a, b: [INF, -INF, NAN])
case("fdiv_by_zero_literal_run_time_dividend", "out[0] = x / 0.0", (1.0, 0.0), "f", expect=lambda a, b: [INF])
case("fdiv_constant_by_zero", "out[0] = 1.0 / 0.0  # X", (1.0, 0.0), "f", expect=Refused("zero"))
case("ffloordiv_neg", "out[0] = x // y\n    out[1] = -x // y\n    out[2] = x // -y", (7.5, 2.0), "f")
case("fmod_neg", "out[0] = x % y\n    out[1] = -x % y\n    out[2] = x % -y\n    out[3] = -0.0 % y", (7.5, 2.0), "f")
case("ffloordiv_by_zero_run_time", "out[0] = x // y\n    out[1] = x % y", (7.5, 0.0), "f",
     expect=lambda a, b: list(np.floor_divide(F32([a, a]), F32([b, b]))[:1]) + list(np.remainder(F32([a]), F32([b]))))
case("fpow_negative_fraction", "out[0] = x ** y", (2.0, -1.5), "f")
case("fpow_negative_base_fraction", "out[0] = x ** y", (-8.0, 1.0 / 3.0), "f", expect=lambda a, b: [NAN])
case("fpow_negative_base_whole", "out[0] = x ** y", (-2.0, 3.0), "f")
case("fpow_zero_negative", "out[0] = x ** y", (0.0, -1.0), "f", expect=lambda a, b: [INF])
case("fpow_const_exponents", "out[0] = x ** 2\n    out[1] = x ** -1\n    out[2] = x ** 0\n    out[3] = x ** 0.5", (3.0, 0), "f",
     expect=lambda a, b: [F32(9), F32(1) / F32(3), F32(1), F32(math.sqrt(3.0))])
case("mixed_int_float", "out[0] = a + b\n    out[1] = a * b\n    out[2] = a - b\n    out[3] = b / a", (3, 0.5), "f")
case("mixed_big_int_float", "out[0] = a + 0.5", (16777217, 0), "f", expect=lambda a, b: [F32(16777216.0)])
case("float_constants_fold_f32", "out[0] = 0.1 + 0.2 - 0.3", (0, 0), "f",
     expect=lambda a, b: [F32(0.1) + F32(0.2) - F32(0.3)])
case("float_literal_overflow", "out[0] = 1e39 + x", (1.0, 0), "f", expect=lambda a, b: [INF])

# ----------------------------------------------------------------------------- comparisons
case("nan_compare", "out[0] = y == y\n    out[1] = y != y\n    out[2] = y < x\n    out[3] = (y >= x) + 2 * (not y > x)",
     (1.0, NAN), expect=lambda a, b: [0, 1, 0, 2])
case("chained", "out[0] = a < b < 10\n    out[1] = a < b > 10\n    out[2] = 1 < a <= 3\n    out[3] = a == a < b", (2, 5))
case("chained_nan", "out[0] = x < y < 3.0\n    out[1] = x < 2.0 < y", (1.0, NAN), expect=lambda a, b: [0, 0])
case("compare_int_float", "out[0] = a == x\n    out[1] = a < x", (16777217, 16777216.0), expect=lambda a, b: [1, 0])
case("is_none", "out[0] = a is None\n    out[1] = a is not None", (1, 0))
case("is_numbers", "out[0] = a is b  # X", (1, 1), expect=Refused(""))
case("in_tuple", "out[0] = a in (1, 2, 3)\n    out[1] = a not in (1, 2)\n    out[2] = x in (1.0, 2.0)", (2, 0))
case("in_tuple_nan", "out[0] = y in (y,)\n    out[1] = y in (1.0, math.nan)", (0, NAN), expect=lambda a, b: [0, 0])
case("compare_tuples_run_time", "out[0] = (a, b) == (1, 2)  # X", (1, 2), expect=Refused("tuples"))

# ----------------------------------------------------------------------------- boolean operators' values
case("or_value", "out[0] = a or b\n    out[1] = b or a\n    out[2] = a and b\n    out[3] = b and a", (0, 5))
case("or_value_floats", "out[0] = x or y\n    out[1] = y and x", (0.0, 2.5), "f")
case("or_mixed_types", "out[0] = a or 2.5\n    out[1] = b or 2.5", (0, 3), "f")
case("not_value", "out[0] = not a\n    out[1] = (not a) + 1", (0, 0))
case("ternary", "out[0] = a if a > b else b\n    out[1] = 2.5 if a > b else a", (1, 4), "f")
case("walrus", "if (c := a * 2) > 3:  # X\n        out[0] = c\n    out[1] = c + 1", (5, 0), expect=Refused("assignment expression"))

# ----------------------------------------------------------------------------- builtins
case("min_max_many", "out[0] = min(a, b, 3, -9)\n    out[1] = max(a, b, 3)\n    out[2] = min((a, b))", (4, -2))
case("max_nan_order", "out[0] = max(x, y)\n    out[1] = max(y, x)\n    out[2] = min(y, x)\n    out[3] = max(0.0, -0.0)",
     (1.0, NAN), "f", expect=lambda a, b: [1.0, NAN, NAN, 0.0])
case("max_key", "out[0] = max(a, b, key=abs)  # X", (4, -5), expect=Refused(""))
case("min_default", "out[0] = min((a, b), default=0)  # X", (4, -5), expect=Refused(""))
case("round_half_even", "out[0] = round(x)\n    out[1] = round(-x)\n    out[2] = round(y)\n    out[3] = round(a)",
     (2.5, -0.5))
case("round_ndigits", "out[0] = round(x, 1)  # X", (2.25, 0), "f", expect=Refused("round"))
case("divmod", "q, r = divmod(a, b)  # X\n    out[0] = q", (7, 2), expect=Refused("divmod"))
case("int_of_float", "out[0] = int(x)\n    out[1] = int(-x)\n    out[2] = int(y)\n    out[3] = np.int32(x)", (2.7, 1e10),
     expect=lambda a, b: [2, -2, IMAX, 2])
case("int_of_nan", "out[0] = int(y)", (0.0, NAN), expect=lambda a, b: [0])
case("float_of_int", "out[0] = float(a)\n    out[1] = np.float32(a)", (16777217, 0), "f",
     expect=lambda a, b: [F32(a), F32(a)])
case("float_of_string", "out[0] = float('inf')\n    out[1] = float('-1.5e-3')\n    out[2] = np.float32('0.1')", dtype="f")
case("pow_builtin", "out[0] = pow(a, 3)\n    out[1] = pow(2, 10)", (7, 0))
case("pow_modulo", "out[0] = pow(a, 3, 5)  # X", (7, 0), expect=Refused(""))
case("pow_builtin_float", "out[0] = pow(x, -1)", (4.0, 0), "f")
case("sum_tuple", "out[0] = sum((a, b, 3))", (4, 5))
case("sum_start", "out[0] = sum((a, b), 10)  # X", (4, 5), expect=Refused(""))
case("sum_range", "out[0] = sum(range(5))  # X", expect=Refused(""))
case("len_tuple", "out[0] = len((a, b, 1))", (4, 5))
case("len_range", "out[0] = len(range(10))  # X", expect=Refused(""))
case("abs_float", "out[0] = abs(x)\n    out[1] = abs(-x)\n    out[2] = abs(y)", (-0.0, -2.5), "f")
case("range_forms", "s = 0\n    for k in range(b):\n        s += k\n    for k in range(a, b):\n        s += 10 * k\n"
     "    for k in range(b, a, -2):\n        s += 100 * k\n    for k in range(10, 0, -3):\n        s += 1000 * k\n    out[0] = s",
     (2, 7))
case("range_zero_step", "for k in range(0, a, b):\n        out[0] = k", (5, 0), expect=Raises(ws.KernelValueError))
case("enumerate_tuple", "s = 0\n    for k, v in enumerate((5, 6, 7), start=1):\n        s += k * v\n    out[0] = s")
case("zip_tuples", "s = 0\n    for u, v in zip((1, 2, 3), (a, b)):\n        s += u * v\n    out[0] = s", (4, 5))

# ----------------------------------------------------------------------------- math / numpy
case("math_basic", "out[0] = math.sqrt(x)\n    out[1] = math.exp(y)\n    out[2] = math.log(x)\n    out[3] = math.log10(x)",
     (2.0, 1.0), "f", expect=lambda a, b: list(np.sqrt(F32([a]))) + list(np.exp(F32([b]))) + list(np.log(F32([a])))
     + list(np.log10(F32([a]))))
case("math_log_zero", "out[0] = math.log(x)\n    out[1] = math.sqrt(-y)", (0.0, 1.0), "f", expect=lambda a, b: [-INF, NAN])
case("math_log_base", "out[0] = math.log(x, 2.0)  # X", (8.0, 0), "f", expect=Refused("math.log(x) / math.log(base)"))
case("math_floor_ceil_int", "out[0] = math.floor(x)\n    out[1] = math.ceil(x)\n    out[2] = math.trunc(-x)\n"
     "    out[3] = math.floor(a)", (-2.5, 0))
case("math_two_args", "out[0] = math.hypot(x, y)\n    out[1] = math.atan2(y, x)\n    out[2] = math.copysign(x, -0.0)\n"
     "    out[3] = math.fmod(-x, y)", (3.0, 4.0), "f",
     expect=lambda a, b: [F32(5.0), np.arctan2(F32(b), F32(a)), F32(-3.0), F32(-3.0)])
case("math_predicates", "out[0] = math.isnan(y)\n    out[1] = math.isinf(x)\n    out[2] = math.isfinite(x)\n"
     "    out[3] = np.isnan(x)", (INF, NAN))
case("math_constants", "out[0] = math.pi\n    out[1] = math.e\n    out[2] = math.tau\n    out[3] = math.inf", dtype="f")
case("math_isclose", "out[0] = math.isclose(x, y)  # X", (1.0, 1.0), expect=Refused("abs(a - b) <="))
case("math_gcd", "out[0] = math.gcd(a, b)  # X", (4, 6), expect=Refused(""))
case("math_prod", "out[0] = math.prod((a, b))  # X", (4, 6), expect=Refused(""))
case("numpy_unary", "out[0] = np.sqrt(x)\n    out[1] = np.floor(-x)\n    out[2] = np.tanh(x)\n    out[3] = np.rint(x)",
     (2.5, 0), "f", expect=lambda a, b: [np.sqrt(F32(a)), np.floor(F32(-a)), np.tanh(F32(a)), np.rint(F32(a))])
case("numpy_binary", "out[0] = np.hypot(x, y)\n    out[1] = np.arctan2(x, y)\n    out[2] = np.power(x, y)",
     (3.0, 4.0), "f", expect=lambda a, b: [np.hypot(F32(a), F32(b)), np.arctan2(F32(a), F32(b)), F32(81.0)])
case("numpy_abs_scalar", "out[0] = np.abs(x)  # X", (-1.0, 0), "f", expect=Refused("abs"))
case("numpy_maximum_scalar", "out[0] = np.maximum(x, y)  # X", (1.0, 2.0), "f", expect=Refused(""))
case("numpy_sign", "out[0] = np.sign(x)  # X", (-2.0, 0), "f", expect=Refused("(x > 0) - (x < 0)"))
case("numpy_square", "out[0] = np.square(x)  # X", (-2.0, 0), "f", expect=Refused("x * x"))
case("numpy_clip", "out[0] = np.clip(x, 0.0, 1.0)  # X", (-2.0, 0), "f", expect=Refused("min(max(x, lo), hi)"))
case("numpy_where", "out[0] = np.where(x > 0.0, x, 0.0)  # X", (-2.0, 0), "f", expect=Refused("conditional expression"))
case("numpy_float64_call", "out[0] = np.float64(x) + 0.1  # X", (1.0, 0), "f", expect=Refused("float32"))
case("numpy_int64_call", "out[0] = np.int64(a) * 4  # X", (2**30, 0), expect=Refused(""))

# ----------------------------------------------------------------------------- statements
case("aug_subscript", "out[0] = a\n    out[0] += b\n    out[1] = a\n    out[1] //= b\n    out[2] = a\n    out[2] **= 2\n"
     "    out[3] = a\n    out[3] <<= b", (-7, 3))
case("aug_local", "t = ws.local.array(4, np.int32)\n    t[0] = a\n    t[0] %= b\n    t[1] = a\n    t[1] ^= b\n"
     "    t[2] = a\n    t[2] >>= 1\n    t[3] = 0\n    t[3] -= a\n    for k in range(4):\n        out[k] = t[k]", (-7, 3))
case("aug_attribute", "s = ws.threadIdx\n    s.x += 1  # X\n    out[0] = s.x", expect=Refused("attribute (s.x)"))
case("tuple_unpack", "p, q = a, b\n    p, q = q, p\n    (r, s), t = (p, q), 7\n    out[0] = p\n    out[1] = q\n"
     "    out[2] = r + s\n    out[3] = t", (1, 2))
case("star_unpack", "h, *rest = (a, b, 3)  # X\n    out[0] = h", (1, 2), expect=Refused(""))
case("chained_assign", "p = q = a + 1\n    q += 1\n    out[0] = p\n    out[1] = q", (1, 2))
case("while_else", "k = 0\n    while k < a:  # X\n        k += 1\n    else:\n        k = 100\n    out[0] = k", (3, 0),
     expect=Refused("else"))
case("for_else", "s = 0\n    for k in range(a):  # X\n        s += k\n    else:\n        s += 100\n    out[0] = s", (3, 0),
     expect=Refused("else"))
case("break_nested", "s = 0\n    for i in range(a):\n        for j in range(a):\n            if j > i:\n                break\n"
     "            s += 1\n    out[0] = s", (4, 0))
case("continue_while", "k = 0\n    s = 0\n    while k < a:\n        k += 1\n        if k % 2 == 0:\n            continue\n"
     "        s += k\n    out[0] = s", (7, 0))
FIRST_OVER = ("@jit\ndef first_over(n, limit):\n    for k in range(100):\n        if k * n > limit:\n            return k\n"
              "    return -1\n")
case("early_return_loop", "out[0] = first_over(a, b)", (3, 10),
     helpers=FIRST_OVER)
case("early_return_not_found", "out[0] = first_over(a, b)", (0, 10),
     helpers=FIRST_OVER)
case("assert", "assert a > 0  # X\n    out[0] = a", (1, 0), expect=Refused("unsupported"))
case("pass", "if a > 0:\n        pass\n    else:\n        out[1] = 5\n    out[0] = a", (1, 0))
case("del", "c = a\n    del c  # X\n    out[0] = a", (1, 0), expect=Refused("unsupported"))
case("global", "global G  # X\n    out[0] = a", (1, 0), expect=Refused("unsupported"))
case("nonlocal_def", "def inner():  # X\n        return a\n    out[0] = inner()", (1, 0), expect=Refused(""))
case("lambda", "f = lambda v: v + 1  # X\n    out[0] = f(a)", (1, 0), expect=Refused(""))
case("list_comprehension", "t = [v * 2 for v in (1, 2)]  # X\n    out[0] = t[0]", (1, 0), expect=Refused(""))
case("generator_sum", "out[0] = sum(v * a for v in (1, 2, 3))  # X", (2, 0), expect=Refused(""))
case("tuple_of_generator", "out[0] = tuple(v for v in (1, 2))[0]  # X", (2, 0), expect=Refused(""))
case("fstring", "ws.print(f'{a}')  # X", (1, 0), expect=Refused(""))
case("try", "try:  # X\n        out[0] = a\n    except Exception:\n        out[0] = 0", (1, 0), expect=Refused("unsupported"))
case("with", "with open('x'):  # X\n        out[0] = a", (1, 0), expect=Refused("unsupported"))
case("raise", "if a > 0:\n        raise ValueError('x')  # X\n    out[0] = a", (1, 0), expect=Refused("unsupported"))
case("list_literal", "t = [a, b]  # X\n    out[0] = t[0]", (1, 0), expect=Refused(""))
case("dict_literal", "t = {0: a}  # X\n    out[0] = t[0]", (1, 0), expect=Refused(""))
case("complex_literal", "out[0] = (a + 1j).real  # X", (1, 0), dtype="f", expect=Refused(""))
case("string_value", "s = 'abc'  # X\n    out[0] = a", (1, 0), expect=Refused(""))
case("annotated", "c: float = a\n    out[0] = c / 2", (3, 0), "f")
case("annotated_int_from_float", "c: int = x  # X\n    out[0] = c", (3.5, 0), expect=Refused(""))
case("int_then_float", "c = a\n    c = b  # X\n    out[0] = c", (3, 1.5), "f", expect=Refused("float32"))

# ----------------------------------------------------------------------------- device functions
DEVICE = ("@jit\ndef affine(v, scale=2, shift=1):\n    return v * scale + shift\n\n"
          "@jit\ndef kwonly(v, *, s=3):\n    return v - s\n\n"
          "@jit\ndef pair(v):\n    return v // 3, v % 3\n")
case("defaults_and_keywords", "out[0] = affine(a)\n    out[1] = affine(a, shift=5)\n    out[2] = affine(a, 3, 4)\n"
     "    out[3] = affine(shift=a, v=b)", (4, 6), helpers=DEVICE)
case("keyword_only", "out[0] = kwonly(a)\n    out[1] = kwonly(a, s=b)", (4, 6), helpers=DEVICE)
case("tuple_return", "q, r = pair(a)\n    out[0] = q\n    out[1] = r", (-7, 0), helpers=DEVICE)
case("star_args_call", "t = (a, 2)\n    out[0] = affine(*t)  # X", (4, 0), helpers=DEVICE, expect=Refused(""))
case("float_default", "out[0] = affine(x, 0.5)", (3.0, 0), "f", helpers=DEVICE)
case("recursion", "out[0] = fact(a)", (4, 0), expect=Refused("recurs"),
     helpers="@jit\ndef fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)  # X\n")

# ----------------------------------------------------------------------------- shadowing builtins
case("shadow_min", "min = a + 1\n    out[0] = min", (4, 0))
case("shadow_abs_then_call", "abs = 3\n    out[0] = abs(a)  # X", (-4, 0), expect=Refused(""))
case("parameter_named_sum", "out[0] = twice(a)", (4, 0), helpers="@jit\ndef twice(sum):\n    return sum * 2\n")
case("shadow_range_global", "out[0] = len((range, a))", (4, 0), helpers="range = 7\n")

# ----------------------------------------------------------------------------- local arrays of each dtype
case("local_f32", "t = ws.local.array(2, np.float32)\n    t[0] = x\n    t[1] = t[0] * 0.1\n    out[0] = t[1]", (3.0, 0), "f",
     expect=lambda a, b: [F32(3.0) * F32(0.1)])
case("local_i32_store_int", "t = ws.local.array(2, np.int32)\n    t[0] = a * a\n    out[0] = t[0]", (100000, 0),
     expect=lambda a, b: [int32_wrap(a * a)])
case("local_i32_store_float", "t = ws.local.array(2, np.int32)\n    t[0] = x  # X\n    out[0] = t[0]", (1.5, 0),
     expect=Refused("float32"))
case("local_f16", "t = ws.local.array(2, np.float16)\n    t[0] = x\n    t[1] = t[0] * 3.0\n    out[0] = t[0]\n"
     "    out[1] = t[1]", (0.1, 0), "f",
     expect=lambda a, b: [F32(np.float16(F32(a))), F32(np.float16(F32(np.float16(F32(a))) * F32(3.0)))])
case("local_bf16", "t = ws.local.array(2, ml_dtypes.bfloat16)\n    t[0] = x\n    t[1] = t[0] + b\n    out[0] = t[0]\n"
     "    out[1] = t[1]", (0.1, 3), "f",
     expect=lambda a, b: [F32(ml_dtypes.bfloat16(F32(a))),
                          F32(ml_dtypes.bfloat16(F32(ml_dtypes.bfloat16(F32(a))) + F32(3)))])
case("local_f16_overflow", "t = ws.local.array(1, np.float16)\n    t[0] = x\n    out[0] = t[0]", (70000.0, 0), "f",
     expect=lambda a, b: [INF])
case("local_float64", "t = ws.local.array(1, np.float64)  # X\n    t[0] = x\n    out[0] = t[0]", (0.1, 0), "f",
     expect=Refused(""))
case("local_int64", "t = ws.local.array(1, np.int64)  # X\n    t[0] = a\n    out[0] = t[0]", (1, 0), expect=Refused(""))
case("local_uint8", "t = ws.local.array(1, np.uint8)  # X\n    t[0] = a\n    out[0] = t[0]", (300, 0), expect=Refused(""))
case("local_bool", "t = ws.local.array(1, np.bool_)  # X\n    t[0] = a\n    out[0] = t[0]", (3, 0), expect=Refused(""))
case("local_python_float_dtype", "t = ws.local.array(1, float)  # X\n    t[0] = x\n    out[0] = t[0]", (0.1, 0), "f",
     expect=Refused("dtype must be"))
case("local_python_int_dtype", "t = ws.local.array(1, int)  # X\n    t[0] = a * a\n    out[0] = t[0]", (100000, 0),
     expect=Refused("dtype must be"))
case("local_negative_index", "t = ws.local.array(3, np.int32)\n    t[0] = 1\n    t[1] = 2\n    t[2] = a\n    out[0] = t[-1]",
     (9, 0))
case("local_out_of_bounds", "t = ws.local.array(3, np.int32)\n    t[0] = 1\n    out[0] = t[a]", (3, 0),
     expect=Raises(ws.MemoryAccessError))

# ----------------------------------------------------------------------------- NumPy scalar constants
CONSTS = "U32 = np.uint32(4000000000)\nI64 = np.int64(2**31 - 1)\nW = np.int32(2**31 - 1)\nH = np.float16(0.1)\n"
case("const_uint32", "out[0] = U32 + a  # X", (1, 0), helpers=CONSTS, expect=Refused(""))
case("const_int64_step_beyond_int32", "out[0] = (I64 + 1) // 2**30  # X", helpers=CONSTS, expect=Refused("does not fit"))
case("const_int64_run_time", "out[0] = I64 * a  # X", (1, 0), helpers=CONSTS, expect=Refused(""))
case("const_int32_wraps", "out[0] = (W + 1) // 2**30", helpers=CONSTS, expect=lambda a, b: [-2])
case("const_float16", "out[0] = H + x", (1.0, 0), "f", helpers=CONSTS, expect=lambda a, b: [F32(np.float16(0.1)) + F32(1.0)])

# ============================================================================= the driver
PLAIN_PRELUDE = '''
import math
import numpy as np
import ml_dtypes


def jit(f):
    return f


class _Local:
    @staticmethod
    def array(shape, dtype):
        return np.zeros(shape, dtype)


class ws:
    local = _Local()

    @staticmethod
    def grid(n):
        return 0

'''
JIT_PRELUDE = '''
import math
import numpy as np
import ml_dtypes
import wafersim as ws
jit = ws.jit

'''


def kernel_source(c: Case) -> str:
    float_args = "    x, y = a, b\n" if c.dtype == "f" or any(isinstance(v, float) for v in c.args) else "    x, y = 0.0, 0.0\n"
    return (f"{c.helpers}\n\n@jit\ndef k_{c.name}(out, a, b):\n" + float_args + "    z = -0.0 * x\n"
            + "    " + c.body + "\n")


def build(directory, cases: list[Case]) -> tuple[dict, dict]:
    """Each case's kernel as `@ws.jit` and as plain Python (a NumPy stand-in for `ws.local.array`)."""
    jitted, plain = {}, {}
    for c in cases:
        jitted[c.name] = getattr(load_source(directory, JIT_PRELUDE + kernel_source(c)), f"k_{c.name}")
        plain[c.name] = getattr(load_source(directory, PLAIN_PRELUDE + kernel_source(c)), f"k_{c.name}")
    return jitted, plain


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    return build(tmp_path_factory.mktemp("sweep"), CASES)


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


def _stored(values: list, dtype: str) -> np.ndarray:
    if dtype == "i":
        return np.array([int32_wrap(int(v)) for v in values], np.int64).astype(np.int32)
    return np.array([F32(v) for v in values], np.float32)


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    if got.dtype == np.float32:
        nan = np.isnan(got) & np.isnan(want)
        return bool(((got.view(np.int32) == want.view(np.int32)) | nan).all())
    return bool((got == want).all())


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_sweep(dev, modules, c):
    check(dev, modules, c)


def check(dev, modules: tuple[dict, dict], c: Case) -> None:
    """Run case `c` and compare it with what the table says it must give."""
    jitted, plain = modules
    kernel = jitted[c.name]
    out_dtype = np.int32 if c.dtype == "i" else np.float32
    out = dev.to_device(np.zeros(4, out_dtype))
    args = [F32(v) if isinstance(v, float) else v for v in c.args]
    if isinstance(c.expect, Refused):
        with pytest.raises(ws.CompileError) as info:
            kernel[(1, 1), (1, 1)](out, *c.args)
        err = info.value
        source = JIT_PRELUDE + kernel_source(c)
        marked = [n for n, text in enumerate(source.splitlines(), 1) if "# X" in text]
        assert err.line == marked[0], (err.line, marked, str(err))
        assert c.expect.words.lower() in str(err).lower(), str(err)
        return
    if isinstance(c.expect, Raises):
        with pytest.raises(c.expect.error):
            kernel[(1, 1), (1, 1)](out, *c.args)
        return
    kernel[(1, 1), (1, 1)](out, *c.args)
    got = out.copy_to_host()
    if c.expect == "py":
        host = np.zeros(4, object)  # (Python's own values, and NumPy's .shape)
        plain[c.name](host, *c.args)
        want = _stored(host, c.dtype)
    else:
        want = _stored(list(c.expect(*args)) + [0] * 4, c.dtype)[:4]
    assert _same(got, want), (got.tolist(), want.tolist())


DTYPE_SOURCE = """
@jit
def kind(dt):
    if dt == np.float32:
        return 1
    if dt == np.int32:
        return 2
    if dt == np.float16:
        return 3
    return 4


@jit
def k(x, out):
    t = ws.local.array(2, x.dtype)
    t[0] = x[0] * 3.0
    out[0] = t[0]
    out[1] = kind(x.dtype)
    out[2] = kind(t.dtype)
    out[3] = x.dtype == np.float16
"""


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32])
def test_an_arrays_dtype_is_its_own(dev, tmp_path_factory, dtype):
    """`x.dtype` of a 16-bit array is float16 / bfloat16, as in NumPy (it was int32: a device function choosing by
    it took the int32 branch), `ws.local.array(n, x.dtype)` makes an array of x's dtype (it was refused), and
    `x.dtype == np.float16` folds (it was refused)."""
    kernel = load_source(tmp_path_factory.mktemp("dtype"), JIT_PRELUDE + DTYPE_SOURCE).k
    plain = load_source(tmp_path_factory.mktemp("dtype"), PLAIN_PRELUDE + DTYPE_SOURCE).k
    x = np.array([0.1, 0.0]).astype(dtype)
    out = dev.device_array(4, np.float32)
    kernel[(1, 1), (1, 1)](dev.to_device(x), out)
    want = np.zeros(4, np.float32)
    plain(x, want)  # (NumPy: x[0] * 3.0 in the array's dtype for a Python float, as the 16-bit store rounds)
    assert out.copy_to_host().tolist() == want.tolist()


#: `x.dtype` / `y.dtype` / `a.ndim` expressions a kernel folds when compiling, each one word of `out`.
DTYPE_EXPRESSIONS = (
    "x.dtype == np.float16", "np.float16 == x.dtype", "x.dtype != np.float32", "x.dtype == ml_dtypes.bfloat16",
    "x.dtype == np.int32", "x.dtype == y.dtype", "x.dtype != y.dtype", "x.dtype is y.dtype", "x.dtype is np.float16",
    "x.dtype is not np.float16", "x.dtype == 'float16'", "x.dtype == float", "x.dtype == int", "x.dtype == np.half",
    "x.dtype < y.dtype", "x.dtype <= y.dtype", "x.dtype in (np.float16, np.float32)", "dt == y.dtype",
    "t.dtype == x.dtype == np.float16", "u.dtype == y.dtype", "kind(x.dtype) * 10 + kind(y.dtype)",
    "x.ndim * 100 + y.ndim * 10 + u.ndim")
TWO_DTYPES_SOURCE = """
@jit
def kind(dt):
    if dt == np.float32:
        return 1
    if dt == np.int32:
        return 2
    if dt == np.float16:
        return 3
    return 4


@jit
def k(x, y, out, held):
    t = ws.local.array(2, x.dtype)
    u = ws.local.array((2, 3), y.dtype)
    dt = x.dtype
""" + "".join(f"    out[{n}] = {e}\n" for n, e in enumerate(DTYPE_EXPRESSIONS)) + """
    u[1, 2] = 0.1
    held[0] = u[1, 2]
"""


def test_dtype_expressions_of_arrays_of_two_dtypes_fold_per_launch_as_numpy_gives_them(dev, tmp_path_factory):
    """One kernel, launched with arrays of several pairs of dtypes in turn: each launch's `x.dtype`, `y.dtype`
    (compared with each other, with NumPy's types, names and Python's types; `is`; passed to a device function
    called with both) and `ndim` are what NumPy gives for those arrays (a kernel compiled for one pair of dtypes
    must not answer for another), and `ws.local.array(n, y.dtype)` rounds what it stores in y's dtype."""
    kernel = load_source(tmp_path_factory.mktemp("dtypes"), JIT_PRELUDE + TWO_DTYPES_SOURCE).k
    plain = load_source(tmp_path_factory.mktemp("dtypes"), PLAIN_PRELUDE + TWO_DTYPES_SOURCE).k
    pairs = [(np.float16, np.float32), (np.float32, np.float16), (ml_dtypes.bfloat16, np.float16),
             (np.float16, ml_dtypes.bfloat16), (np.int32, np.float32), (np.float32, np.float32), (np.float16, np.float16)]
    for x_dtype, y_dtype in pairs:
        x, y = np.ones(4, x_dtype), np.ones((2, 3), y_dtype)
        want, want_held = np.zeros(len(DTYPE_EXPRESSIONS), np.int32), np.zeros(1, np.float32)
        plain(x, y, want, want_held)
        out, held = dev.device_array(len(DTYPE_EXPRESSIONS), np.int32), dev.device_array(1, np.float32)
        kernel[(1, 1), (1, 1)](dev.to_device(x), dev.to_device(y), out, held)
        got = dict(zip(DTYPE_EXPRESSIONS, out.copy_to_host().tolist()))
        assert got == dict(zip(DTYPE_EXPRESSIONS, want.tolist())), (np.dtype(x_dtype), np.dtype(y_dtype))
        assert held.copy_to_host().tolist() == want_held.tolist()
