"""Device functions (`compiler/calls.py`, `inline`): what a call gives where Python's function would give None,
and the refusals of callables that are not device functions, each with what to write instead.

Results are compared with the same Python functions run per PE (their `py_func`, on NumPy arrays)."""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

import wafersim as ws
from conftest import line_of, load_source

BLOCK = (4, 3)  # 12 PEs, each computing from its index


def run(kernel, host: np.ndarray, *args) -> np.ndarray:
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    out = dev.to_device(host)
    kernel[(1, 1), BLOCK](out, *args)
    return out.copy_to_host()


# ---------------------------------------------------------------- a return that gives None
@ws.jit
def _store_small(out, p):
    if p > 3:
        return None  # a statement call: Python's None is never used
    out[p] = p * 10
    return


@ws.jit
def stores_through_a_helper_that_returns_none(out):
    x, y = ws.grid(2)
    _store_small(out, y * 4 + x)


def test_return_none_in_a_device_function_called_as_a_statement_is_a_bare_return():
    # `return None` was refused ("a NoneType cannot be used as a kernel value") where Python runs it.
    expected = np.zeros(12, np.int32)
    for p in range(12):
        _store_small.py_func(expected, p)
    got = run(stores_through_a_helper_that_returns_none, np.zeros(12, np.int32))
    assert np.array_equal(got, expected) and expected[3] == 30 and expected[4] == 0


@ws.jit
def _store_and_get(out, p):
    if p > 7:
        return  # None here, a value below: fine where the call is a statement (its value unused)
    out[p] = p + 1
    if p > 3:
        return out[p]


@ws.jit
def ignores_a_value_that_is_none_on_some_paths(out):
    x, y = ws.grid(2)
    _store_and_get(out, y * 4 + x)


def test_a_statement_call_may_return_none_on_some_paths_and_a_value_on_others():
    expected = np.zeros(12, np.int32)
    results = [_store_and_get.py_func(expected, p) for p in range(12)]
    assert None in results and any(r is not None for r in results)
    got = run(ignores_a_value_that_is_none_on_some_paths, np.zeros(12, np.int32))
    assert np.array_equal(got, expected)


NONE_ON_SOME_PATHS = {
    "bare return first": "    if a > 3:\n        return  # HERE\n    return a\n",
    "return None first": "    if a > 3:\n        return None  # HERE\n    return a\n",
    "bare return at the end": "    if a > 3:\n        return a\n    return  # HERE\n",
    "bare return in a loop": ("    for k in range(a):\n        if k == 2:\n            return  # HERE\n"
                              "    return (a, a * 0.5)\n"),
}


@pytest.mark.parametrize("body", NONE_ON_SOME_PATHS.values(), ids=list(NONE_ON_SOME_PATHS))
def test_a_value_on_some_paths_and_none_on_others_is_refused_at_the_bare_return(tmp_path, body):
    # These compiled, and the PEs that took the bare return read the result register unset: a silent 0
    # (`maybe(p)` stored 0 for p > 3) where Python's function gives None.
    source = ("import wafersim as ws\n\n\n@ws.jit\ndef maybe(a):\n" + body +
              "\n\n@ws.jit\ndef kernel(out):\n    x, y = ws.grid(2)\n    r = maybe(y * 4 + x)\n    out[x] = 1\n")
    module = load_source(tmp_path, source)
    # Python's function does return None on some of the 12 PEs' paths, and a value on others.
    results = [module.maybe.py_func(p) for p in range(12)]
    assert None in results and any(r is not None for r in results)
    with pytest.raises(ws.CompileError) as info:
        run(module.kernel, np.zeros(12, np.int32))
    expected_line = next(k for k, line in enumerate(source.splitlines(), 1) if "# HERE" in line)
    assert info.value.file == module.__file__ and info.value.line == expected_line, str(info.value)
    assert "this return gives None where another return of maybe() gives a value" in str(info.value)
    assert "(in maybe(), called at" in str(info.value)


# ---------------------------------------------------------------- callables that are not device functions
def _plain(v):
    return v + 1


_LAMBDA = lambda v: v + 1  # noqa: E731 (the point: a module-level lambda called in a kernel)


@ws.jit
def calls_a_plain_function(out):
    out[0] = _plain(1)  # MARK-plain


@ws.jit
def calls_a_module_lambda(out):
    out[0] = _LAMBDA(1)  # MARK-lambda-global


@ws.jit
def writes_a_lambda(out):
    f = lambda v: v + 1  # MARK-lambda  # noqa: E731
    out[0] = f(1)


@ws.jit
def defines_a_closure(out):
    k = 3

    def inner(v):  # MARK-nested-def
        return v * k
    out[0] = inner(1)


@ws.jit
def writes_a_comprehension(out):
    out[0] = sum([k for k in range(3)])  # MARK-comprehension


@ws.jit
def _countdown(n):
    return 0 if n <= 0 else _countdown(n - 1) + 1  # MARK-recursion


@ws.jit
def calls_a_recursive_function(out):
    out[0] = _countdown(3)


_WEIGHTS = np.arange(4, dtype=np.float32)


@ws.jit
def _weighted(v, w=_WEIGHTS):  # a mutable default: a host array, not kernel data
    return v * w[1]  # MARK-array-default


@ws.jit
def reads_an_array_default(out):
    out[0] = _weighted(2)


@ws.jit
def _bump_first(s, v):
    s[0] += v  # MARK-slice-index


@ws.jit
def indexes_a_slice_argument(out):
    buf = ws.local.array(4, np.int32)
    _bump_first(buf[1:3], 5)
    out[0] = buf[1]


@ws.jit
def _sets_first(out):
    out[0] = 1


@ws.jit
def launches_a_kernel(out):
    _sets_first[1, 1](out)  # MARK-launch


@ws.jit
def calls_a_method_of_a_number(out):
    out[0] = out[1].bit_length()  # MARK-method


@ws.jit
def converts_to_float16(out):
    out[0] = np.float16(out[1])  # MARK-float16


@ws.jit
def converts_to_bfloat16(out):
    out[0] = ml_dtypes.bfloat16(out[1])  # MARK-bfloat16


@ws.jit
def converts_to_float64(out):
    out[0] = np.float64(out[1])  # MARK-float64


@ws.jit
def converts_to_int64(out):
    out[0] = np.int64(out[1])  # MARK-int64


@ws.jit
def makes_a_numpy_array(out):
    scratch = np.zeros(4, np.int32)  # MARK-np-zeros
    scratch[0] = 1
    out[0] = scratch[0]


@pytest.mark.parametrize("kernel,marker,text", [
    # user53: np.zeros in a kernel (a NumPy user's scratch array) said only "'zeros' cannot be called in a kernel"
    (makes_a_numpy_array, "MARK-np-zeros", "'zeros' cannot be called in a kernel: a kernel makes no arrays at run "
                                           "time: ws.local.array(shape, dtype) is this PE's array"),
    (converts_to_float16, "MARK-float16", "'float16' cannot be called in a kernel: scalars are never 16-bit in a "
                                          "kernel: store the value into an element of a 16-bit array"),
    (converts_to_bfloat16, "MARK-bfloat16", "scalars are never 16-bit in a kernel"),
    (converts_to_float64, "MARK-float64", "a kernel's floats are float32: write np.float32(x) or float(x)"),
    (converts_to_int64, "MARK-int64", "a kernel's ints are int32: write np.int32(x)"),
    (calls_a_plain_function, "MARK-plain", "'_plain' cannot be called in a kernel: a plain Python function; decorate "
                                           "it with @ws.jit"),
    (calls_a_module_lambda, "MARK-lambda-global", "a lambda; define a @ws.jit function at module level"),
    (writes_a_lambda, "MARK-lambda", "a lambda is not supported in a kernel: define a @ws.jit function"),
    (defines_a_closure, "MARK-nested-def", "unsupported statement in a kernel: FunctionDef: define the function at "
                                           "module level with @ws.jit and pass it what it reads"),
    (writes_a_comprehension, "MARK-comprehension", "a comprehension (ListComp) is not supported in a kernel: "
                                                   "write a for loop"),
    (reads_an_array_default, "MARK-array-default", "a host NumPy array (a global, a closure variable or a default "
                                                   "argument) is not kernel data; pass it as an argument"),
    (indexes_a_slice_argument, "MARK-slice-index", "cannot index a slice (a view, usable whole: sum, ws.dot, "
                                                   "ws.send, ws.recv(out=...)); index its array at the slice's start"),
    (calls_a_recursive_function, "MARK-recursion", "recursive call to _countdown: device functions are inlined, "
                                                   "so one cannot call itself"),
    # (both once said "only intrinsics, math functions and @ws.jit functions can be called", though _sets_first is one)
    (launches_a_kernel, "MARK-launch", "a kernel cannot launch a kernel (_sets_first[...](...): there is no dynamic "
                                       "parallelism): call it as a device function, _sets_first(...)"),
    (calls_a_method_of_a_number, "MARK-method", ".bit_length() is a method of a value known only at run time: "
                                                "numbers and arrays have no methods in a kernel"),
])
def test_callables_that_are_not_device_functions_are_refused_saying_what_to_write(kernel, marker, text):
    with pytest.raises(ws.CompileError) as info:
        run(kernel, np.zeros(12, np.int32))
    # (errors inside a device function are at its line)
    where = {calls_a_recursive_function: _countdown, reads_an_array_default: _weighted,
             indexes_a_slice_argument: _bump_first}.get(kernel, kernel)
    assert info.value.line == line_of(where, marker), str(info.value)
    assert text in str(info.value), str(info.value)


# ---------------------------------------------------------------- a loop over a device function's tuple
@ws.jit
def _halves(arr, a):
    arr[0] += 1  # a side effect: the loop's iterable is evaluated once
    return a // 2, a % 2, a * arr[0]


@ws.jit
def _pairs(a):
    return (a, 1), (a + 1, 2)


@ws.jit
def loops_over_a_device_functions_tuple(out):
    x, y = ws.grid(2)
    p = y * 4 + x
    calls = ws.local.array(1, np.int32)
    s = 0
    for v in _halves(calls, p):
        s = s * 10 + v
    out[p, 0] = s
    for k, v in enumerate(_halves(calls, p + 1), start=1):
        s += k * v
    out[p, 1] = s
    for (a, b), c in zip(_pairs(p), (10, 20)):
        s = s * 3 + a * b + c
    out[p, 2] = s
    out[p, 3] = calls[0]


def test_a_for_loop_over_a_device_functions_tuple_result_unrolls_over_its_items():
    # `for v in halves(p)` was refused ("for loops run over range(...) or a tuple") though the call gives one.
    expected = np.zeros((12, 4), np.int32)
    for p in range(12):
        calls, s = np.zeros(1, np.int32), 0
        for v in _halves.py_func(calls, p):
            s = s * 10 + v
        expected[p, 0] = s
        for k, v in enumerate(_halves.py_func(calls, p + 1), start=1):
            s += k * v
        expected[p, 1] = s
        for (a, b), c in zip(_pairs.py_func(p), (10, 20)):
            s = s * 3 + a * b + c
        expected[p, 2], expected[p, 3] = s, calls[0]
    assert expected[:, 3].tolist() == [2] * 12  # each call ran once
    assert np.array_equal(run(loops_over_a_device_functions_tuple, np.zeros((12, 4), np.int32)), expected)


@ws.jit
def _twice(v):
    return v * 2


@ws.jit
def loops_over_a_number(out):
    x, y = ws.grid(2)
    for v in _twice(x):  # MARK-number
        out[x] = v


def test_a_for_loop_over_a_device_function_giving_a_number_is_refused():
    with pytest.raises(ws.CompileError) as info:
        run(loops_over_a_number, np.zeros(12, np.int32))
    assert info.value.line == line_of(loops_over_a_number, "MARK-number")
    assert "_twice() gives an int32 scalar" in str(info.value), str(info.value)


# ---------------------------------------------------------------- a negative index held in a variable, passed on
@ws.jit
def _add_at(buf, k, v):
    buf[k] += v                    # counts from the end for a negative k, as in Python
    j = (k + 1) & 3
    buf[j] += v * 2
    m = k - 1                      # a variable assigned once from it: a constant too
    buf[m] += 100


@ws.jit
def _add_twice(buf, k, v):
    _add_at(buf, k, v)             # a parameter passed on to another device function
    _add_at(buf, k, v + 1)


@ws.jit
def passes_negative_indices_in_variables(out):
    x, y = ws.grid(2)
    p = y * 4 + x
    li = ws.local.array(4, np.int32)
    for i in range(4):
        li[i] = p + i
    last = -1                      # assigned once from a constant: passed as the -1 it holds, as `-1` is
    back = -3
    _add_at(li, last, p)
    _add_twice(li, back, 5)
    _add_at(li, -2, 7)             # (the literal, for comparison)
    for i in range(4):
        out[p, i] = li[i]


def test_a_negative_index_in_a_variable_passed_to_a_device_function_counts_from_the_end_as_python():
    # `last = -1; f(li, last)` with `buf[k]` in f stopped the kernel with "li axis 0: index -1 is out of
    # bounds" (the parameter a run-time value), where the literal `f(li, -1)` counts from the end.
    expected = np.zeros((12, 4), np.int32)
    for p in range(12):
        li = [p + i for i in range(4)]
        last, back = -1, -3
        _add_at.py_func(li, last, p)
        for v in (5, 6):  # _add_twice
            _add_at.py_func(li, back, v)
        _add_at.py_func(li, -2, 7)
        expected[p] = li
    assert expected[0].tolist() == [200, 112, 131, 17]  # (worked by hand: every index negative but j)
    assert np.array_equal(run(passes_negative_indices_in_variables, np.zeros((12, 4), np.int32)), expected)


@ws.jit
def _halve_negated(p):
    return p // -1 + (p + 1) // 2


@ws.jit
def _parameters_bound_to_constants(out, r):
    v = -2**31
    out[0] = _halve_negated(-2**31)          # a constant argument
    out[1] = _halve_negated(v)               # a variable assigned once from one
    out[2] = _halve_negated(r)               # a run-time value
    out[3] = v // -1 + (v + 1) // 2          # the same arithmetic on the kernel's variable
    w = 2**31 - 1
    out[4] = _halve_negated(2**31 - 1)
    out[5] = w // -1 + (w + 1) // 2


def test_a_parameter_bound_to_a_constant_wraps_as_a_kernel_variable_does():
    """docs/python-supported.md "constant expressions": a variable holds an int32 whatever constant it was
    assigned, so its arithmetic wraps; a parameter is such a variable (`-2**31 // -1` was a CompileError "does
    not fit in int32" in the function, -2**31 in the kernel body). NumPy's int32 arithmetic is the reference."""
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    out = dev.device_array(6, np.int32)
    _parameters_bound_to_constants[1, 1](out, -2**31)
    with np.errstate(over="ignore"):
        low, high = np.int32(-2**31), np.int32(2**31 - 1)
        want = [low // np.int32(-1) + (low + np.int32(1)) // np.int32(2)] * 4 \
            + [high // np.int32(-1) + (high + np.int32(1)) // np.int32(2)] * 2
    np.testing.assert_array_equal(out.copy_to_host(), np.array(want, np.int32))


def test_the_written_constant_expression_still_must_fit():
    @ws.jit
    def written(out):
        out[0] = -2**31 // -1

    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.CompileError, match=r"-2 \*\* 31 // -1 = 2147483648 does not fit in int32"):
        written[1, 1](dev.device_array(1, np.int32))


# ---------------------------------------------------------------- float -> int of a parameter's constant
@ws.jit
def _to_ints(p):
    return int(float(p)), int(-2.0 * p), math.floor(p * 4.0), round(p), np.int32(p)


@ws.jit
def _float_parameters_bound_to_constants(out, r, f):
    values = (_to_ints(2**31 - 1), _to_ints(-2**31), _to_ints(2**31 - 200), _to_ints(3e9), _to_ints(-3e9),
              _to_ints(math.nan), _to_ints(math.inf), _to_ints(1.5), _to_ints(r), _to_ints(f))
    k = 0
    for row in values:
        for v in row:
            out[k] = v
            k += 1


def _saturating_int(x: float) -> int:
    """The machine's `ftoi` (docs/isa.md): truncation toward zero, saturating at the int32 limits, nan 0."""
    return 0 if math.isnan(x) else int(np.clip(np.trunc(np.float64(x)), -2.0**31, 2.0**31 - 1))


def test_a_parameter_bound_to_a_constant_converts_to_int_as_a_kernel_variable_does():
    """int() of a float32 beyond int32 saturates at run time (docs/python-supported.md, `int(x)`), and a
    device function's parameter is a variable whatever constant the call binds: `int(float(p))` with p =
    2**31 - 1 (float32 rounds it to 2**31) was a CompileError "does not fit in int32" in the function, where
    `p = 2**31 - 1; int(float(p))` in the kernel saturates. Each conversion against NumPy's float32 value
    converted by the machine's rule, the same for the constants and for run-time values."""
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    arguments = (2**31 - 1, -2**31, 2**31 - 200, 3e9, -3e9, math.nan, math.inf, 1.5, 2**31 - 1, 3e9)
    out = dev.device_array(5 * len(arguments), np.int32)
    _float_parameters_bound_to_constants[1, 1](out, 2**31 - 1, np.float32(3e9))
    want = []
    for p in arguments:
        x = np.float32(p)
        want += [_saturating_int(x), _saturating_int(np.float32(-2.0) * x),
                 _saturating_int(np.floor(x * np.float32(4.0)))]
        want += [p, p] if isinstance(p, int) else [_saturating_int(np.rint(x)), _saturating_int(x)]  # (an int: itself)
    assert want[:5] == [2**31 - 1, -2**31, 2**31 - 1, 2**31 - 1, 2**31 - 1]  # (float32(2**31 - 1) is 2**31)
    np.testing.assert_array_equal(out.copy_to_host(), np.array(want, np.int32))


def test_int_of_a_written_constant_beyond_int32_is_refused_saying_float32_rounds():
    """A `ws.constant` parameter is a constant inside (docs/python-supported.md), converted as Python converts
    a written one: int(float(2**31 - 1)) is 2147483647 in Python's float64 but 2**31 in the kernel's
    float32, beyond int32, so it is refused, and the message says why."""
    @ws.jit
    def written(out, p: ws.constant):
        out[0] = int(float(p))

    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.CompileError, match=r"is 2147483648, which does not fit in int32.*the kernel's floats are "
                                              r"float32, .* 2\*\*31 - 1 included, is 2147483648.0"):
        written[1, 1](dev.device_array(1, np.int32), 2**31 - 1)
    written[1, 1](out := dev.device_array(1, np.int32), 2**31 - 256)  # (float32 2**31 - 256 is exact: it fits)
    assert out.copy_to_host()[0] == int(np.float32(2**31 - 256))


@ws.jit
def _int_steps_then_float(p):
    return int(-p * 2.0), int((p - 1) * 2.0), int(abs(p) * 4.0), int(~p * 2.0), math.floor(max(p, 0) * 4.0)


@ws.jit
def _int_parameters_bound_to_constants(out, r):
    values = (_int_steps_then_float(2**30), _int_steps_then_float(-2**30), _int_steps_then_float(-2**31),
              _int_steps_then_float(2**31 - 1), _int_steps_then_float(3), _int_steps_then_float(r))
    k = 0
    for row in values:
        for v in row:
            out[k] = v
            k += 1


def test_int_arithmetic_on_a_parameter_before_a_float_keeps_it_a_variable():
    """`int(-p * 2.0)` with p bound to 2**30 was refused ("int() of the constant 2147483648.0 ... does not fit")
    where `int(-2.0 * p)` compiled: the int step (-p, p - 1, abs, ~, max) on the parameter dropped its mark of
    a variable's value. Each now wraps as an int32 variable's arithmetic does and converts as at run time,
    saturating: against NumPy's int32 steps, float32 products and the machine's `ftoi`, the same for the
    constants and for the run-time argument."""
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    arguments = (2**30, -2**30, -2**31, 2**31 - 1, 3, -2**30)
    out = dev.device_array(5 * len(arguments), np.int32)
    _int_parameters_bound_to_constants[1, 1](out, -2**30)
    want = []
    with np.errstate(over="ignore"):
        for p in map(np.int32, arguments):
            steps = (-p, p - np.int32(1), np.abs(p), ~p, max(p, np.int32(0)))
            scales = (2.0, 2.0, 4.0, 2.0, 4.0)
            products = [np.float32(step) * np.float32(scale) for step, scale in zip(steps, scales)]
            want += [_saturating_int(x) for x in products[:4]] + [_saturating_int(np.floor(products[4]))]
    assert want[:2] == [-2**31, 2**31 - 1]  # (-2**30 * 2.0 fits; (2**30 - 1) * 2.0 rounds to 2**31: saturates)
    np.testing.assert_array_equal(out.copy_to_host(), np.array(want, np.int32))


# ---------------------------------------------------------------- a parameter read where a constant is needed
_INDEXED = (10, 20, 30, 40, 50)


@ws.jit
def _index_of(p):
    return _INDEXED[(p + 1) // 2**30]


@ws.jit
def _quotient_of(p):
    return (p + 1) // 2**30


@ws.jit
def _size_of(p):
    buf = ws.local.array((p + 1) // 2**30 + 5, np.int32)
    return len(buf)


@ws.jit
def _parameter_as_index_and_shape(out):
    out[0] = _quotient_of(2147483647)
    out[1] = _index_of(2147483647)
    out[2] = _size_of(2147483647)


def test_a_parameter_bound_to_an_int_wraps_as_an_index_and_a_shape_as_in_its_value():
    # a parameter is a variable (docs: `div(-2**31)` of `return p // -1` is -2**31): `(p + 1) // 2**30` is -2 as
    # a value, but indexed _INDEXED[2] and sized an array 2 + 5 long, folded as Python's exact ints
    got = run(_parameter_as_index_and_shape, np.zeros(3, np.int32))
    with np.errstate(over="ignore"):
        quotient = int((np.int32(2147483647) + np.int32(1)) // 2**30)
    assert quotient == -2
    assert got.tolist() == [quotient, _INDEXED[quotient], quotient + 5]
