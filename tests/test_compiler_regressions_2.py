"""Regression tests for the compiler, second file (tests/test_compiler_regressions.py holds the first ones):
each kernel's result is compared with the same code run by Python / NumPy, and what the compiler cannot
compile right must be a CompileError at the source line that says what to write instead. (Local names read
before their assignment, and statements no path reaches: tests/test_compiler_regressions_scopes.py.)"""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, line_of
from conftest import run_on_one_block as run


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


# ----------------------------------------------------------------------------- types seen on the fabric
@ws.jit
def int_pipeline(out, values):
    x, y = ws.grid(2)
    width = ws.gridsize(2)[0]
    s = values[x]
    if x > 0:
        v = ws.recv(ws.WEST)  # no dtype, nothing around it says: every send toward it sends an int32
        s = s + v
    if x + 1 < width:
        ws.send(ws.EAST, s)
    out[x] = s


@ws.jit
def int_forwarded(out, k):
    x, y = ws.grid(2)
    width = ws.gridsize(2)[0]
    if x == 0:
        ws.send(ws.EAST, k * 3)
    else:
        v = ws.recv(ws.WEST)  # forwarded on unchanged: the word keeps the type it was sent with
        if x + 1 < width:
            ws.send(ws.EAST, v)
        out[x] = v + x


def test_recv_without_dtype_reads_what_is_sent_toward_it(dev):
    values = np.array([5, -2, 1 << 24, 9], np.int32)
    (out, _) = run(dev, int_pipeline, np.zeros(4, np.int32), values, block=(4, 1))
    np.testing.assert_array_equal(out, np.cumsum(values))
    (out,) = run(dev, int_forwarded, np.zeros(4, np.int32), 1000003, block=(4, 1))
    np.testing.assert_array_equal(out[1:], 3000009 + np.arange(1, 4))


@ws.jit
def float_chain_then_int_chain(out_f, out_i, xf, xi):
    x, y = ws.grid(2)
    af = xf[x]
    ai = xi[x]
    if ws.has_neighbor(ws.WEST):
        af = af * 0.5 + ws.recv(ws.WEST, channel=0)  # float32 words: read float32 by default, rightly
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, af, channel=0)
    if ws.has_neighbor(ws.WEST):
        ai = ai * 3 + ws.recv(ws.WEST, channel=1)  # every send toward it sends an int32
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, ai, channel=1)
    out_f[x] = af
    out_i[x] = ai


def test_recv_without_dtype_reads_int32_after_a_float32_channel_was_read_by_default(dev):
    """The retry that reads int32 where the first lowering stopped guessed int32 for every recv read by default
    before the error, channel 0's float32 one too, and gave up when channel 0's sends said float32: the kernel
    was refused ("cannot assign a float32 value to an int32 variable") though each recv reads what is sent."""
    xf = np.array([1.5, -2.0, 0.25, 8.0], np.float32)
    xi = np.array([5, -2, 1 << 29, 9], np.int32)
    out_f, out_i = run(dev, float_chain_then_int_chain, np.zeros(4, np.float32), np.zeros(4, np.int32), xf, xi,
                       block=(4, 1))[:2]
    want_f, want_i = [xf[0]], [int(xi[0])]
    for k in range(1, 4):
        want_f.append(xf[k] * np.float32(0.5) + want_f[-1])
        want_i.append((int(xi[k]) * 3 + want_i[-1] + 2**31) % 2**32 - 2**31)  # int32 wrapping
    np.testing.assert_array_equal(out_f, np.array(want_f, np.float32))
    np.testing.assert_array_equal(out_i, np.array(want_i, np.int32))


@ws.jit
def float_sent_int_expected(out):
    x, y = ws.grid(2)
    if x == 0:
        ws.send(ws.EAST, 1.5)
    else:
        out[0] = ws.recv(ws.WEST)  # MARK-mismatch


def test_a_recv_whose_context_contradicts_every_send_is_refused(dev):
    err = compile_error(dev, float_sent_int_expected, np.zeros(1, np.int32), block=(2, 1))
    assert err.line == line_of(float_sent_int_expected, "MARK-mismatch")
    assert "every ws.send toward it sends float32" in str(err) and "dtype=" in str(err)


@ws.jit
def chained_computed_value(out, v):
    f0 = v
    f1 = 0.0
    f0 = f1 = f0 + f0  # f0 takes the sum first; f1 must still get it
    out[0] = f0
    out[1] = f1


def test_chained_assignment_of_a_computed_value_to_an_existing_variable(dev):
    (out,) = run(dev, chained_computed_value, np.zeros(2, np.float32), np.float32(1.25))
    np.testing.assert_array_equal(out, [2.5, 2.5])


# ----------------------------------------------------------------------------- moves the optimiser coalesces
def shuffle(f0, f1):
    t = -f0
    u = f1
    f1 = t
    f0 = u
    f1 = f0
    return f0, f1


@ws.jit
def shuffle_kernel(xf, of):
    f0 = xf[0]
    f1 = xf[1]
    t = -f0  # a temporary moved into f1 while f1 is still read: the coalescing pass left a read of
    u = f1   # nothing behind (an internal compiler error found by the tuple/chain fuzzer)
    f1 = t
    f0 = u
    f1 = f0
    of[0] = f0
    of[1] = f1


def test_a_temporary_moved_into_a_variable_still_read_compiles_right(dev):
    x = np.array([3.0, 5.0], np.float32)
    (_, out) = run(dev, shuffle_kernel, x, np.zeros(2, np.float32))
    assert list(out) == list(shuffle(*x))


@ws.jit
def slices_in_a_conditional(out, c):
    r = ws.local.array(4, np.float32)
    a = ws.local.array(4, np.float32)
    a[0:4] = 1.0
    r[0:4] = (a[0:4] * 2.0) if c > 0 else (a[0:4] * 3.0)  # MARK-ifexp
    out[0] = r[0]


@ws.jit
def a_string_as_a_value(out, c):
    out[0] = "-inf"  # MARK-str


@pytest.mark.parametrize("kernel, mark, words", [
    (slices_in_a_conditional, "MARK-ifexp", "chooses between scalars, not slices: choose with an if statement"),
    (a_string_as_a_value, "MARK-str", "write float('-inf') (or -math.inf)")])
def test_refusals_say_what_to_write_instead(dev, kernel, mark, words):
    """Two refusals a CUDA user's trial met with unhelpful messages ("slices compute only in an assignment to
    a slice" for a slice assignment; "a str cannot be used as a kernel value" for a string where a number
    goes). (`float('-inf')` itself compiles: tests/test_compiler_math.py.)"""
    err = compile_error(dev, kernel, np.zeros(1, np.float32), 1)
    assert err.line == line_of(kernel, mark) and words in str(err)


# ----------------------------------------------------------------------------- unrolled loops left by a break
@ws.jit
def tuple_loop_left_by_break(out, a):
    last = 0
    s = 0
    for t in (3, 1, -4):
        last = t  # the documented way: copy the item into a variable assigned before the loop
        if t == a:
            break
        s += t
    out[0] = last
    out[1] = s


@ws.jit
def tuple_loop_variable_after_break(out, a):
    t = 0
    for t in (3, 1, -4):
        if t == a:
            break
    out[0] = t  # MARK-after-break


def test_the_variable_of_an_unrolled_loop_left_by_a_break(dev):
    """Python keeps the item a `break` stopped at; the unrolled loop knows it only at run time, so reading the
    variable after the loop is refused. The refusal said "may be used before assignment ... assign it before
    the branch or loop" of a variable assigned before the loop (found by tests/test_compiler_fuzz_control.py's
    probes); it now says why and what to write, and that form computes what Python does."""
    def python(a):
        last = s = 0
        for t in (3, 1, -4):
            last = t
            if t == a:
                break
            s += t
        return [last, s]

    for a in (3, 1, -4, 7):
        (out,) = run(dev, tuple_loop_left_by_break, np.zeros(2, np.int32), a)
        assert list(out) == python(a), a
    err = compile_error(dev, tuple_loop_variable_after_break, np.zeros(1, np.int32), 1)
    assert err.line == line_of(tuple_loop_variable_after_break, "MARK-after-break")
    assert "a `break` may leave at any item" in str(err) and "`last = t` before the `break`" in str(err)


@ws.jit
def row_then_element(out, a):
    t = ws.local.array((3, 4), np.int32)
    t[2, 3] = a
    out[0] = t[2][3]  # MARK-chained


def test_a_chained_subscript_of_a_2d_array_says_to_index_every_axis_at_once(dev):
    """`t[2][3]` was refused as "t has 2 dimension(s) but 1 index(es) were given", with nothing to write."""
    err = compile_error(dev, row_then_element, np.zeros(1, np.int32), 1)
    assert err.line == line_of(row_then_element, "MARK-chained") and "t[i, j]" in str(err)


# ----------------------------------------------------------------------------- chains that stop early
@ws.jit
def bump(buf, k):
    buf[k] += 1
    if buf[k] > 3:
        return buf[k]  # an early return, known only at run time
    buf[k] = -buf[k]
    return 0


@ws.jit
def chain_with_side_effects(xf, xi, out):
    p = ws.grid(1)
    li = ws.local.array(4, np.int32)
    li[3] = xi[p]
    out[p, 0] = xf[p] > 0 >= bump(li, 3)  # bump runs only when xf[p] > 0, as in Python
    out[p, 1] = li[3]


def test_a_chained_comparison_calls_its_last_operand_only_when_the_first_test_holds(dev):
    """tests/test_compiler_fuzz_control.py's reference once evaluated every operand of a chain (its marker is
    a function); the kernel was right. Python's `a > b >= f()` calls f only when a > b."""
    xf = np.array([1.0, 1.0, 1.0, -1.0, 0.0, 2.5, -3.0, 1.0], np.float32)
    xi = np.array([10, 1, -3, 10, 0, 3, 2, -1], np.int32)
    want = []
    for f, i in zip(xf, xi):
        li = [0, 0, 0, int(i)]
        hit = bump.py_func(li, 3) if f > 0 else None  # (0 >= bump(...) is evaluated only here)
        want.append([int(hit is not None and 0 >= hit), li[3]])
    (_, _, out) = run(dev, chain_with_side_effects, xf, xi, np.zeros((8, 2), np.int32), block=(8, 1))
    assert out.tolist() == want


# ----------------------------------------------------------------------------- returns of two types
@ws.jit
def float_then_int(c, x):
    if c > 0:
        return x
    return c  # converts to float32, as an int assigned to a float variable


@ws.jit
def int_then_float(c, x):
    if c > 0:
        return c
    return x  # MARK-second-return


@ws.jit
def returns_of_two_types(out, c, x):
    out[0] = float_then_int(c, x)


@ws.jit
def returns_refused(out, c, x):
    out[0] = int_then_float(c, x)


def test_a_device_function_returns_the_type_of_its_first_return(dev):
    """A float32 returned after an int32 one was refused as "cannot assign a float32 value to an int32
    variable (initialise it with a float ...)", naming no variable the user wrote."""
    for c, want in ((3, 1.5), (-2, -2.0)):
        (out,) = run(dev, returns_of_two_types, np.zeros(1, np.float32), c, 1.5)
        assert out[0] == want
    err = compile_error(dev, returns_refused, np.zeros(1, np.float32), 3, 1.5)
    assert err.line == line_of(int_then_float, "MARK-second-return")
    assert "first return gave an int32" in str(err) and "float(...)" in str(err)


# ----------------------------------------------------------------------------- a load moved past a store
@ws.jit
def load_then_store_same_element(xi, out):
    p = ws.grid(1)
    i = xi[p, 0]
    buf = ws.local.array(4, np.int32)
    for q in range(4):
        buf[q] = xi[p, 1 + q]
    t = buf[i & 3]   # (also the tuple form: `buf[i & 3], i = 1, buf[i & 3]`)
    buf[i & 3] = 1
    i = t            # move coalescing sank the load here, past the store: i read 1
    c = 0
    if xi[p, 1] > 100:
        c = 5
    out[p, 0] = i
    out[p, 1] = c


def test_a_load_is_not_moved_past_a_store_to_its_element(dev):
    """Found by tests/test_compiler_fuzz_control.py (`li[i0 & 3], i0 = 1, li[i0 & 3]`): the coalescing of
    `t = ld ...; mov i, t` moved the load down to the move, below the store to the same element."""
    xi = np.array([[2, 10, 20, 30, 40], [7, 5, 6, 7, 8], [-1, 200, 1, 2, 3], [0, -9, 0, 0, 0]], np.int32)
    want = [[row[1 + (row[0] & 3)], 5 if row[1] > 100 else 0] for row in xi.tolist()]
    (_, out) = run(dev, load_then_store_same_element, xi, np.zeros((4, 2), np.int32), block=(4, 1))
    assert out.tolist() == want


# ----------------------------------------------------------------------------- refusals that say what to write
@ws.jit
def annotated_after_an_int(out, a):
    v = a
    v: float = 2.5  # MARK-ann
    out[0] = v


@ws.jit
def is_of_a_run_time_number(out, a):
    out[0] = (a > 1) is True  # MARK-is


@ws.jit
def walrus_in_a_condition(out, a):
    if (n := a + 1) > 2:  # MARK-walrus
        out[0] = n


@ws.jit
def shift_of_a_variable_typed_by_its_first_value(out, a):
    v = 0.5
    v = a
    out[0] = v << 1  # MARK-shift


@pytest.mark.parametrize("kernel, marker, says", [
    (annotated_after_an_int, "MARK-ann", "'v' is already an int32 variable (a variable keeps its first value's type): "
                                         "annotate its first assignment instead (v: float = ...)"),
    (is_of_a_run_time_number, "MARK-is", "`is` of a number known only at run time is not supported: write `==`"),
    (walrus_in_a_condition, "MARK-walrus", "`n := ...` is not supported in a kernel: assign 'n' in a statement of its "
                                           "own"),
    (shift_of_a_variable_typed_by_its_first_value, "MARK-shift",
     "operator LShift (<<) is not defined for float32 (as Python raises TypeError for a float): an operand is a "
     "float32 (a variable has its first value's type"),
])
def test_refusals_of_python_that_types_by_control_flow_say_what_to_write(dev, kernel, marker, says):
    # They said "'v' is already a i32 variable", "comparison Is is not supported on numbers" and "unsupported
    # expression in a kernel: NamedExpr", "operator LShift is not defined for float32": true, but no word of what
    # to write instead.
    err = compile_error(dev, kernel, np.zeros(1, np.float32), 3)
    assert err.line == line_of(kernel, marker) and says in str(err)


# ----------------------------------------------------------------------------- NumPy scalar constants

I64_BIG, I64_FIVE, NP_TRUE = np.int64(2**30), np.int64(5), np.bool_(True)
U8, I16, U32 = np.uint8(200), np.int16(30000), np.uint32(5)


@ws.jit
def numpy_int64_constants(ints, out):
    i = ws.grid(1)
    out[i, 0] = int(I64_FIVE) * ints[i] - 7       # converted: int32 arithmetic (the np.int64 itself is refused
    # beside a run-time int32, tests/test_compiler_int_folding.py: NumPy computes the pair in int64)
    out[i, 1] = (I64_FIVE << 28) // 8 + 1         # folded exactly, as NumPy's int64 (and Python) compute it


@ws.jit
def int64_folded_past_int32(out):
    out[0] = I64_BIG * 4 // 8  # MARK-i64


@ws.jit
def uint8_folded(out):
    out[0] = U8 + 100  # MARK-u8


@ws.jit
def int16_at_run_time(ints, out):
    v = I16  # MARK-i16
    v = v * ints[0]
    out[0] = v


@ws.jit
def uint32_negated(out):
    out[0] = -U32  # MARK-u32


@ws.jit
def numpy_bools_added(out):
    out[0] = NP_TRUE + NP_TRUE  # MARK-bool


def test_numpy_integer_constants_of_other_dtypes_compute_as_numpy_or_are_refused(dev):
    # An np.int64 constant was folded with int32 wrap-around (np.int64(2**30) * 4 // 8 gave 0, NumPy gives
    # 2**29), and an np.uint8 / int16 / uint32 one as a Python int (np.uint8(200) + 100 gave 300, NumPy 44).
    # np.bool_ ones are refused (NumPy adds them as booleans: np.True_ + np.True_ is True), saying what to write.
    ints = np.array([3, -2, 0, 100], np.int32)
    _, out = run(dev, numpy_int64_constants, ints, np.zeros((4, 2), np.int32), block=(4, 1))
    want = [[int(np.int64(5) * np.int64(v) - 7), int((np.int64(5) << 28) // 8 + 1)] for v in ints]
    assert out.tolist() == want
    err = compile_error(dev, int64_folded_past_int32, np.zeros(1, np.int32))
    assert err.line == line_of(int64_folded_past_int32, "MARK-i64") and "does not fit in int32" in str(err)
    for kernel, marker, dtype, args in [(uint8_folded, "MARK-u8", "uint8", ()),
                                        (int16_at_run_time, "MARK-i16", "int16", (np.ones(1, np.int32),)),
                                        (uint32_negated, "MARK-u32", "uint32", ())]:
        err = compile_error(dev, kernel, *args, np.zeros(1, np.int32))
        assert err.line == line_of(kernel, marker), kernel
        assert f"NumPy {dtype} constant" in str(err) and "int(...)" in str(err) and "np.int32(...)" in str(err)
    err = compile_error(dev, numpy_bools_added, np.zeros(1, np.int32))
    assert err.line == line_of(numpy_bools_added, "MARK-bool") and "NumPy bool constant" in str(err) \
        and "bool(...)" in str(err)



@ws.jit
def _scaled_or_not(x, s=None):
    if s is None:  # folded both ways: called without s, and with a run-time s (a number is never None)
        return x
    return x * s


@ws.jit
def _none_tests_of_run_time_values(inp, out):
    p = ws.grid(1)
    f = inp[p]
    out[p, 0] = _scaled_or_not(f, f)
    out[p, 1] = _scaled_or_not(f)
    out[p, 2] = 1 if f is not None else 0
    out[p, 3] = 1 if None is f else 0


def test_is_none_of_a_run_time_number_folds_as_python():
    # A helper's `if s is None:` default test, called with a run-time s, was refused ("a NoneType cannot be
    # used as a kernel value"); the control fuzzer drew it. Python: a number is never None.
    def reference(f):
        def scaled_or_not(x, s=None):
            return x if s is None else x * s
        return [scaled_or_not(f, f), scaled_or_not(f), 1 if f is not None else 0, 1 if None is f else 0]

    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    x = np.array([1.5, 2.0, -3.0, 0.25], np.float32)
    out = dev.device_array((4, 4), np.float32)
    _none_tests_of_run_time_values[1, 4](dev.to_device(x), out)
    expected = np.array([reference(f) for f in x], np.float32)
    assert np.array_equal(out.copy_to_host(), expected)


# ----------------------------------------------------------------------------- augmented assignment indices
@ws.jit
def aug_constant_conversions(out, x, n):
    a = ws.local.array(8, np.int32)
    a[0:8] = x[0:8]
    a[0:0 + np.int32(3)] += n  # a conversion of a constant: the constant, however often it is read
    a[4:4 + True] *= n
    a[int(5)] -= n
    a[np.int32(-1)] += n
    out[0:8] = a[0:8]


@ws.jit
def _negate_first(b):
    b[0] = -b[0] + 1
    return 10


@ws.jit
def aug_pure_builtins(out, x, n):
    a = ws.local.array(8, np.int32)
    b = ws.local.array(8, np.int32)
    a[0:8] = x[0:8]
    b[0:8] = x[0:8]
    a[len(a) - 1] += n
    a[abs(b[0]) % 8] += _negate_first(b)  # the index read before the call changes b[0], as Python does
    a[min(abs(n), 3):min(abs(n), 3) + 2] *= 2
    a[np.int32(b[0] + 2) % 8] -= _negate_first(b)  # conversions have no effect either
    a[int(float(n) * 1.5) % 8] += np.float32(n) > 0
    out[0:8] = a[0:8]
    out[8:16] = b[0:8]


@ws.jit
def aug_runtime_call(out, x, f):
    a = ws.local.array(8, np.int32)
    a[0:8] = x[0:8]
    a[_negate_first(a) % 8] += 1  # MARK-call
    out[0:8] = a[0:8]


def test_augmented_index_may_convert_a_constant_but_not_call_at_run_time(dev):
    """`a[0:0 + np.int32(3)] += n` and `a[len(a) - 1] += n` were refused ("would evaluate this index twice")
    though np.int32(3) is a constant and len, abs, min have no effect (the index is evaluated once, before the
    right side, as in Python); so were conversions of run-time values, `a[np.int32(b[0] + 2) % 8] -= f(b)`,
    `int(float(n) * 1.5)` (fuzz47); a device function's call in the index is still refused at its line."""
    x = np.arange(8, dtype=np.int32)
    want = x.copy()
    want[0:0 + np.int32(3)] += 10
    want[4:4 + True] *= 10
    want[int(5)] -= 10
    want[np.int32(-1)] += 10
    out, _ = run(dev, aug_constant_conversions, np.zeros(8, np.int32), x, 10)
    np.testing.assert_array_equal(out, want)
    for n in (-5, 2):
        a, b = x - 3, x - 3
        want = a.copy()
        want[len(want) - 1] += n
        index = abs(b[0]) % 8
        b[0] = -b[0] + 1
        want[index] += 10
        want[min(abs(n), 3):min(abs(n), 3) + 2] *= 2
        index = np.int32(b[0] + 2) % 8
        b[0] = -b[0] + 1
        want[index] -= 10
        want[int(float(n) * 1.5) % 8] += np.float32(n) > 0
        out, _ = run(dev, aug_pure_builtins, np.zeros(16, np.int32), a, n)
        np.testing.assert_array_equal(out, np.concatenate([want, b]), err_msg=str(n))
    err = compile_error(dev, aug_runtime_call, np.zeros(8, np.int32), x, 2.5)
    assert "evaluate this index twice" in str(err) and err.line == line_of(aug_runtime_call, "MARK-call"), err
