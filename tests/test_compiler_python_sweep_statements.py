"""The sweep of ordinary Python through `@ws.jit` (tests/test_compiler_python_sweep.py, whose driver runs these
rows), second part: loop variables as Python leaves them, bools and mixed arithmetic, constant folding, arrays and
their attributes, NumPy scalar arguments, evaluation order and side effects, shadowed builtins and module names,
early returns, an array's dtype."""
from __future__ import annotations

import functools

import ml_dtypes
import numpy as np
import pytest
from test_compiler_python_sweep import F32, IMIN, INF, NAN, Case, Raises, Refused, build, check
from test_compiler_python_sweep import case as _case

import wafersim as ws
from conftest import int32_wrap

CASES: list[Case] = []
case = functools.partial(_case, into=CASES)


# ----------------------------------------------------------------------------- loop variables as Python leaves them
case("loop_variable_after_loop", "for k in range(3):\n        pass\n    out[0] = k\n    for j in range(0, 10, 3):\n"
     "        pass\n    out[1] = j\n    for m in range(10, 0, -3):\n        pass\n    out[2] = m")
case("loop_variable_after_run_time_loop", "k = -1\n    for k in range(a):\n        pass\n    out[0] = k\n    j = -1\n"
     "    for j in range(a, b, 3):\n        pass\n    out[1] = j\n    m = -1\n    for m in range(b, a):\n        pass\n"
     "    out[2] = m", (5, 12))
case("loop_variable_unassigned_after_loop", "for j in range(a, b, 3):\n        pass\n    out[1] = j  # X", (5, 12),
     expect=Refused("before assignment"))
case("loop_variable_after_break", "k = -1\n    for k in range(a):\n        if k == b:\n            break\n    out[0] = k", (9, 4))
case("loop_variable_reassigned_in_body", "s = 0\n    for k in range(a):\n        k += 10\n        s += k\n    out[0] = s\n"
     "    out[1] = k  # X", (4, 0), expect=Refused("before assignment"))
case("loop_variable_reassigned_in_body_read_after", "s = 0\n    k = -1\n    for k in range(a):\n        k += 10\n        s += k\n"
     "    out[0] = s\n    out[1] = k", (4, 0))
case("loop_variable_reassigned_constant_range", "s = 0\n    for k in range(4):\n        k = k * 2\n        s += k\n"
     "    out[0] = s\n    out[1] = k")
case("range_bound_changed_in_body", "n = a\n    s = 0\n    for k in range(n):\n        n += 1\n        s += 1\n"
     "    out[0] = s\n    out[1] = n", (4, 0))
case("range_step_variable_negative", "s = 0\n    for k in range(a, 0, b):\n        s += k\n    out[0] = s", (10, -3))
case("range_float_argument", "for k in range(x):  # X\n        out[0] = k", (2.0, 0), expect=Refused(""))
case("in_range", "out[0] = a in range(5)  # X", (3, 0), expect=Refused("a <= x < b"))
case("in_run_time_tuple", "out[0] = a in (b, 3)\n    out[1] = a not in (b, 7)", (5, 5))
case("while_loop_variable", "k = 0\n    while k * k < a:\n        k += 1\n    out[0] = k", (50, 0))

# ----------------------------------------------------------------------------- more bool and mixed arithmetic
case("bool_variable_arith", "f = a > b\n    g = f + 1\n    out[0] = g\n    out[1] = -f\n    out[2] = ~f\n    out[3] = f * 5", (3, 1))
case("bool_truediv", "out[0] = (a > b) / 2\n    out[1] = True / 4\n    out[2] = (a > b) ** 2", (3, 1), "f")
case("bool_floordiv_mod", "out[0] = (a > b) // 2\n    out[1] = (a > b) % 2\n    out[2] = abs(a > b)\n    out[3] = min(a > b, 5)",
     (3, 1))
case("bool_plus_float", "out[0] = (a > b) + 1.5\n    out[1] = True + 1.5", (3, 1), "f")
case("int_mod_float", "out[0] = a % 2.5\n    out[1] = a // 2.5\n    out[2] = -a % 2.5", (7, 0), "f")
case("max_int_float", "out[0] = max(a, b)\n    out[1] = min(a, 2.5)", (3, 0.5), "f")
case("not_int", "out[0] = not a\n    out[1] = not b", (5, 0))
case("eq_true", "out[0] = a == True\n    out[1] = (a > 0) == True", (1, 0))
case("fpymod_inf", "out[0] = x % y\n    out[1] = -x % y\n    out[2] = x // y\n    out[3] = -x // y", (5.0, INF), "f",
     expect=lambda a, b: [np.remainder(F32(a), F32(b)), np.remainder(F32(-a), F32(b)),
                          np.floor_divide(F32(a), F32(b)), np.floor_divide(F32(-a), F32(b))])
case("neg_zero", "out[0] = -x\n    out[1] = x * -1.0\n    out[2] = 0.0 - x\n    out[3] = x - 0.0", (0.0, 0), "f")
case("int_pow_31_wraps", "out[0] = a ** 31\n    out[1] = a ** 21", (2, 0), expect=lambda a, b: [IMIN, 2**21])
case("int_pow_negative_base", "out[0] = a ** 21\n    out[1] = a ** 20", (-3, 0))
case("int_pow_float_const", "out[0] = a ** 2.0\n    out[1] = a ** True", (5, 0), "f")
case("fpow_const_three", "out[0] = x ** 3\n    out[1] = x ** -2", (1.1, 0), "f",
     expect=lambda a, b: [F32(float(F32(a)) ** 3), F32(float(F32(a)) ** -2)])
case("mod_min_int", "out[0] = a % b\n    out[1] = a // b\n    out[2] = a % -b", (IMIN, 3))
case("int_truediv_by_zero", "out[0] = a / b", (7, 0), "f", expect=lambda a, b: [INF])

# ----------------------------------------------------------------------------- constants and folding
case("const_float_of_big_int", "out[0] = float(2**40) + x  # X", (1.0, 0), "f", expect=Refused("float constant"))
case("const_float_times_big_int", "out[0] = x * 2**31  # X", (1.5, 0), "f", expect=Refused("float constant"))
case("const_big_int_float_product", "out[0] = 3000000000 * 1.0  # X", (1.5, 0), "f", expect=Refused("float constant"))
case("const_int_division", "out[0] = 1 / 3\n    out[1] = 7 // 2.0\n    out[2] = -7 % 3\n    out[3] = 2 ** -1", dtype="f")
case("const_negative_base_fraction", "out[0] = (-8.0) ** (1 / 3)  # X", dtype="f", expect=Refused("fractional power"))
case("const_zero_negative_power", "out[0] = 0 ** -1  # X", dtype="f", expect=Refused(""))
case("const_float_zero_negative_power", "out[0] = 0.0 ** -1.0  # X", dtype="f", expect=Refused("ZeroDivisionError"))
case("const_ten_to_ten", "out[0] = 10 ** 10  # X", expect=Refused("int32"))
case("const_int_of_big_float", "out[0] = int(3.9e9)  # X", expect=Refused(""))
case("const_abs_min", "out[0] = abs(-2**31)  # X", expect=Refused("int32"))
case("const_nan_compare", "out[0] = math.nan == math.nan\n    out[1] = math.nan != math.nan\n    out[2] = math.inf > 1e38")
case("const_int_of_string", "out[0] = int('12')\n    out[1] = int(' -7 ') + np.int32('1_000')")
case("const_int_of_float_string", "out[0] = int('1.5')  # X", expect=Refused("cannot read '1.5' as a base-10 int"))
case("const_copysign", "out[0] = math.copysign(1.0, -0.0)\n    out[1] = int(-0.5)", dtype="f")
case("print_builtin", "print(a)  # X", (1, 0), expect=Refused(""))

# ----------------------------------------------------------------------------- arrays
case("global_shape", "out[0] = out.shape[0]")
case("global_len", "out[0] = len(out)")
case("global_negative_index", "out[-1] = a\n    out[-4] = b", (3, 4))
case("chained_index_2d", "t = ws.local.array((2, 3), np.int32)\n    t[1, 2] = a\n    out[0] = t[1][2]  # X", (7, 0),
     expect=Refused(""))
case("chained_index_store_2d", "t = ws.local.array((2, 3), np.int32)\n    t[1][2] = a  # X\n    out[0] = t[1, 2]", (7, 0),
     expect=Refused(""))
case("local_2d", "t = ws.local.array((2, 3), np.int32)\n    for i in range(2):\n        for j in range(3):\n"
     "            t[i, j] = i * 10 + j\n    out[0] = t[1, 2]\n    out[1] = t[-1, -3]\n    out[2] = t[0, a]", (1, 0))
case("aug_float_floordiv", "out[0] = x\n    out[0] //= y\n    out[1] = x\n    out[1] %= -y\n    out[2] = x\n    out[2] **= y",
     (7.5, 2.0), "f")
case("aug_int_into_float_array", "out[0] = 1.5\n    out[0] += a\n    out[1] = 2.5\n    out[1] *= a", (3, 0), "f")
case("aug_float_into_int_array", "out[0] = a\n    out[0] += 0.5  # X", (3, 0), expect=Refused("float32"))
case("aug_truediv_int_array", "out[0] = a\n    out[0] /= 2  # X", (3, 0), expect=Refused(""))
case("local_zeros_numpy", "t = np.zeros(3, np.float32)  # X\n    out[0] = t[0]", dtype="f", expect=Refused("ws.local.array(shape, dtype)"))
case("local_empty_numpy", "t = np.empty(3, np.int32)  # X\n    out[0] = t[0]", expect=Refused("ws.local.array(shape, dtype)"))

# ----------------------------------------------------------------------------- kernel arguments of NumPy scalar types
case("arg_uint32", "out[0] = a + 1", (np.uint32(5), 0), expect=Raises(ws.ArgumentTypeError))
case("arg_int64_arith", "out[0] = a * 4  # X", (np.int64(2**30), 0), expect=Refused(""))
case("arg_int64_compare", "out[0] = a > 5\n    out[1] = int(a) * 4", (np.int64(2**30), 0),
     expect=lambda a, b: [1, 0])
case("arg_float16", "out[0] = a * 3.0", (np.float16(0.1), 0), "f", expect=lambda a, b: [F32(np.float16(0.1)) * F32(3.0)])
case("arg_float64", "out[0] = a + b", (0.1, 0.2), "f", expect=lambda a, b: [F32(0.1) + F32(0.2)])
case("arg_bool", "out[0] = a + a", (True, 0))
case("arg_np_bool", "out[0] = a + a", (np.True_, 0), expect=Raises(ws.ArgumentTypeError))
case("arg_bfloat16", "out[0] = a * 3.0", (ml_dtypes.bfloat16(0.1), 0), "f",
     expect=lambda a, b: [F32(ml_dtypes.bfloat16(0.1)) * F32(3.0)])

# ----------------------------------------------------------------------------- evaluation order and side effects
SIDE = ("@jit\ndef bump(t):\n    t[0] += 1\n    return t[0]\n\n"
        "@jit\ndef affine(v, scale=2, shift=1):\n    return v * scale + shift\n")
TBUF = "t = ws.local.array(4, np.int32)\n    for k in range(4):\n        t[k] = 0\n    "
case("chained_middle_once", TBUF + "out[0] = 0 < bump(t) < 5\n    out[1] = t[0]", helpers=SIDE)
case("short_circuit_or", TBUF + "out[0] = (a > 0) or bump(t)\n    out[1] = t[0]\n    out[2] = (a < 0) and bump(t)\n"
     "    out[3] = t[0]", (1, 0), helpers=SIDE)
case("ternary_one_branch", TBUF + "out[0] = bump(t) if a > 0 else bump(t) + 10\n    out[1] = t[0]", (1, 0), helpers=SIDE)
case("argument_order", TBUF + "out[0] = affine(bump(t), bump(t))\n    out[1] = t[0]", helpers=SIDE)
case("store_value_before_index", TBUF + "t[bump(t)] = bump(t) * 10\n    for k in range(4):\n        out[k] = t[k]",
     helpers=SIDE)
case("multi_target_left_to_right", TBUF + "a, t[a] = 2, 5\n    for k in range(4):\n        out[k] = t[k]", (0, 0))
case("chain_assign_left_to_right", TBUF + "i = t[i] = 2\n    out[0] = i\n    out[1] = t[2]\n    out[2] = t[0]", (0, 0))
case("chain_assign_name_then_element", TBUF + "a = t[a] = 3\n    for k in range(4):\n        out[k] = t[k]", (1, 0))
case("swap_elements", TBUF + "t[0] = 5\n    t[1] = 6\n    t[a], t[b] = t[b], t[a]\n    for k in range(4):\n        out[k] = t[k]",
     (0, 1))
case("swap_elements_same", TBUF + "t[0] = 5\n    t[a], t[b] = t[b] + 1, t[a] + 2\n    for k in range(4):\n        out[k] = t[k]",
     (0, 0))
case("element_index_changes", TBUF + "t[0], t[t[0]] = 2, 7\n    for k in range(4):\n        out[k] = t[k]")
case("keyword_twice", "out[0] = affine(1, v=2)  # X", helpers=SIDE, expect=Refused(""))
case("missing_argument", "out[0] = affine()  # X", helpers=SIDE, expect=Refused(""))
case("too_many_arguments", "out[0] = affine(1, 2, 3, 4)  # X", helpers=SIDE, expect=Refused(""))
case("unpack_count_mismatch", "p, q = (a, b, 1)  # X\n    out[0] = p", expect=Refused(""))
case("nested_tuple_loop", "s = 0\n    for u, v in ((1, 2), (3, a)):\n        s += u * v\n    out[0] = s", (5, 0))
case("while_true_break", "k = 0\n    while True:\n        k += 3\n        if k > a:\n            break\n    out[0] = k", (10, 0))
case("float_truth", "out[0] = 1 if y else 2\n    out[1] = 1 if x else 2\n    k = 0\n    while x:\n        x = 0.0\n        k += 1\n"
     "    out[2] = k", (0.5, NAN))
case("float_truth_nan_and", "out[0] = 3 if (y and x) else 4", (0.5, NAN))

# ----------------------------------------------------------------------------- shadowing builtins and module names
case("global_jit_named_max", "out[0] = max(a, b)", (7, 2), helpers="@jit\ndef max(p, q):\n    return p - q\n")
case("global_jit_named_abs", "out[0] = abs(a)", (7, 2), helpers="@jit\ndef abs(p):\n    return p * 3\n")
case("global_jit_named_sum", "out[0] = sum((a, b))", (7, 2), helpers="@jit\ndef sum(p):\n    return p[0] * p[1]\n")
case("global_constant_named_len", "out[0] = len + a", (7, 2), helpers="len = 40\n")
case("global_constant_named_min_called", "out[0] = min(a, b)  # X", (7, 2), helpers="min = 40\n", expect=Refused(""))
case("local_named_range", "range = 3\n    for k in range(a):  # X\n        out[0] = k", (4, 0), expect=Refused(""))
case("from_math_import", "out[0] = sqrt(x) + floor(y)", (2.0, 2.5), "f", helpers="from math import sqrt, floor\n",
     expect=lambda a, b: [np.sqrt(F32(a)) + F32(2)])
case("import_numpy_alias", "out[0] = numpy.sqrt(x) + m.floor(y)", (2.0, 2.5), "f", helpers="import numpy\nimport math as m\n",
     expect=lambda a, b: [np.sqrt(F32(a)) + F32(2)])
case("global_named_math_shadow", "out[0] = math.floor(x)  # X", (2.5, 0), "f",
     helpers="class _Fake:\n    @staticmethod\n    def floor(v):\n        return v\n\nmath = _Fake()\n", expect=Refused(""))

# ----------------------------------------------------------------------------- indices, returns and loops at the edges
case("return_types_float_first", "out[0] = pick(a)\n    out[1] = pick(-a)", (1, 0), "f",
     helpers="@jit\ndef pick(v):\n    if v > 0:\n        return 1.5\n    return 2\n")
case("return_types_int_first", "out[0] = pick(a)\n    out[1] = pick(-a)", (1, 0), "f", expect=Refused("float32"),
     helpers="@jit\ndef pick(v):\n    if v > 0:\n        return 1\n    return 2.5  # X\n")
case("module_tuple_run_time_index", "out[0] = LUT[a]  # X", (2, 0), helpers="LUT = (10, 20, 30, 40)\n",
     expect=Refused("known only when the kernel runs"))
case("global_run_time_negative_index", "out[a] = 7", (-1, 0), expect=Raises(ws.MemoryAccessError))
case("local_run_time_negative_index", "t = ws.local.array(4, np.int32)\n    for k in range(4):\n        t[k] = k * 10\n"
     "    out[0] = t[a]", (-1, 0), expect=Raises(ws.MemoryAccessError))
case("range_empty", "s = 5\n    for k in range(a, b):\n        s += 1\n    out[0] = s", (5, 2))
case("range_near_int32_max", "s = 0\n    for k in range(2147483647 - 3, 2147483647, 2):\n        s += 1\n    out[0] = s\n"
     "    for k in range(a, 2147483647, b):\n        s += 10\n    out[1] = s\n    for k in range(-2147483647 - 1 + 3, -2147483647 - 1, -b):\n"
     "        s += 100\n    out[2] = s", (2147483647 - 5, 3))
case("range_step_one_near_max", "s = 0\n    for k in range(a, 2147483647):\n        s += 1\n    out[0] = s", (2147483647 - 4, 0))
case("compare_result_times_float", "out[0] = (x > y) * 1.5\n    out[1] = x + (x > y)", (2.0, 1.0), "f")
case("aug_add_comparison", "s = 0\n    s += a > b\n    s += a > b\n    out[0] = s", (3, 1))
case("float_accumulate_int", "s = 0.0\n    for k in range(a):\n        s += k\n    out[0] = s", (5, 0), "f")
case("int_variable_then_float_aug", "s = 0\n    s += 0.5  # X\n    out[0] = s", (5, 0), "f", expect=Refused("float32"))
case("while_compound_condition", "k = 0\n    done = False\n    while k < a and not done:\n        k += 1\n        done = k * k > b\n"
     "    out[0] = k", (100, 50))
case("len_local_2d", "t = ws.local.array((3, 5), np.float32)\n    out[0] = len(t)\n    out[1] = len(out)")
case("nested_device_defaults", "out[0] = outer(a)\n    out[1] = outer(a, 3)", (4, 0),
     helpers="K = 5\n\n@jit\ndef inner(v, s=K):\n    return v * s\n\n@jit\ndef outer(v, m=2):\n    return inner(v) + inner(v, m)\n")
case("int_division_result_type", "out[0] = a / b * b", (7, 3), "f")
case("abs_of_bool_difference", "out[0] = abs((a > b) - (b > a))", (1, 3))
case("augmented_global_2d", "out[0] = a\n    out[0] += out[0]\n    out[0] *= out[0]", (-3, 0))
case("conditional_int_float_into_int_array", "out[0] = a if a > 0 else 2.5  # X", (3, 0), expect=Refused("float32"))

# ----------------------------------------------------------------------------- an array's dtype
KIND = ("@jit\ndef kind(dt):\n    if dt == np.float32:\n        return 1\n    if dt == np.int32:\n        return 2\n"
        "    if dt == np.float16:\n        return 3\n    return 4\n")
case("dtype_of_local_arrays", "h = ws.local.array(2, np.float16)\n    g = ws.local.array(2, ml_dtypes.bfloat16)\n"
     "    f = ws.local.array(2, np.float32)\n    out[0] = kind(h.dtype)\n    out[1] = kind(g.dtype)\n    out[2] = kind(f.dtype)\n"
     "    out[3] = kind(out.dtype)", helpers=KIND, expect=lambda a, b: [3, 4, 1, 2])  # (out: an int32 array)
case("dtype_compared", "h = ws.local.array(2, np.float16)\n    out[0] = h.dtype == np.float16\n"
     "    out[1] = out.dtype == np.float32\n    out[2] = out.dtype != np.float32\n    out[3] = h.dtype == ml_dtypes.bfloat16",
     expect=lambda a, b: [1, 0, 1, 0])
case("dtype_membership_and_names", "h = ws.local.array(2, ml_dtypes.bfloat16)\n"
     "    out[0] = h.dtype in (np.float16, ml_dtypes.bfloat16)\n    out[1] = out.dtype == 'int32'\n"
     "    out[2] = h.dtype is ml_dtypes.bfloat16\n    out[3] = 1 if out.dtype == np.int32 else 2",
     expect=lambda a, b: [1, 1, 0, 1])
case("local_array_of_an_arrays_dtype", "t = ws.local.array(2, out.dtype)\n    t[0] = a * a\n    out[0] = t[0]", (100000, 0),
     expect=lambda a, b: [int32_wrap(a * a)])

case("shape_size_of_local_arrays", "t = ws.local.array((2, 3, 4), np.float16)\n    out[0] = t.shape[2]\n    out[1] = t.size\n"
     "    out[2] = len(t)\n    out[3] = out.size + out.shape[0]")
case("ndim_attribute", "t = ws.local.array((2, 3, 4), np.float32)\n    out[0] = out.ndim\n    out[1] = t.ndim")
case("itemsize_attribute", "out[0] = out.itemsize  # X", expect=Refused("itemsize"))
case("bool_into_float_array", "out[0] = a > b\n    out[1] = -True\n    out[2] = True << 3\n    out[3] = not a", (3, 1), "f")
case("math_exp2_cbrt", "out[0] = math.exp2(x)  # X", (3.0, 0), "f", expect=Refused(""))
case("sqrt_vs_half_power_negative", "out[0] = x ** 0.5\n    out[1] = math.sqrt(x)", (-4.0, 0), "f",
     expect=lambda a, b: [NAN, NAN])

case("module_numpy_array_constant_index", "out[0] = LUTA[2]  # X", helpers="LUTA = np.array([1.5, 2.5, 3.5], np.float32)\n",
     dtype="f", expect=Refused(""))
case("module_numpy_array_run_time_index", "out[0] = LUTA[a]  # X", (1, 0), helpers="LUTA = np.array([1.5, 2.5, 3.5], np.float32)\n",
     dtype="f", expect=Refused(""))
case("module_list_constant", "out[0] = LUTL[1]  # X", helpers="LUTL = [1, 2, 3]\n", expect=Refused(""))
case("module_numpy_scalar_from_array", "out[0] = S * 3.0", helpers="S = np.array([1.5, 2.1, 3.5], np.float32)[1]\n",
     dtype="f", expect=lambda a, b: [np.float32(2.1) * F32(3.0)])

case("while_condition_calls_each_trip", TBUF + "k = 0\n    while bump(t) < 5:\n        k += 1\n    out[0] = k\n    out[1] = t[0]",
     helpers=SIDE)
case("range_bound_call_once", TBUF + "s = 0\n    for k in range(bump(t) + 2):\n        s += t[0]\n    out[0] = s\n    out[1] = t[0]",
     helpers=SIDE)
case("augmented_element_call_in_value", TBUF + "t[1] = 10\n    t[1] += bump(t) + bump(t)\n    for k in range(4):\n"
     "        out[k] = t[k]", helpers=SIDE)
case("call_in_both_sides_of_compare", TBUF + "out[0] = bump(t) < bump(t)\n    out[1] = bump(t) * 10 + bump(t)", helpers=SIDE)

FIND = ("@jit\ndef find(v):\n    for k, d in enumerate((3, 5, 7)):\n        if d > v:\n            return k\n    return -1\n\n"
        "@jit\ndef nested(v):\n    for i in range(4):\n        for j in range(4):\n            if i * j > v:\n"
        "                return i * 10 + j\n    return -1\n")
case("early_return_in_tuple_loop", "out[0] = find(a)\n    out[1] = find(b)\n    out[2] = find(100)", (4, -1), helpers=FIND)
case("early_return_in_nested_loops", "out[0] = nested(a)\n    out[1] = nested(b)", (3, 100), helpers=FIND)

case("conditional_tuples_mixed_types", "p, q = (a, 1.5) if a > b else (2, b)\n    out[0] = p\n    out[1] = q", (1, 3), "f")
case("conditional_tuples_mixed_types_taken", "p, q = (a, 1.5) if a > b else (2, b)\n    out[0] = p\n    out[1] = q", (5, 3), "f")
case("tuple_variable_items", "t = (a, b * 2, 3)\n    u = t[1:]\n    out[0] = t[0] + u[0] + u[-1]\n    out[1] = len(u)\n"
     "    out[2] = sum(t)\n    out[3] = max(t)", (4, 5))
case("tuple_concat_repeat", "t = (a,) * 3 + (b,)\n    out[0] = sum(t)\n    out[1] = len(t)\n    out[2] = t[-1]", (4, 5))


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    return build(tmp_path_factory.mktemp("sweep2"), CASES)


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_sweep(dev, modules, c):
    check(dev, modules, c)
