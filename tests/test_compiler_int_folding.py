"""compiler/int_folding.py and the folding of NumPy-typed int constants against NumPy (docs/python-supported.md,
"Values and types"): an np.int32 constant wraps as NumPy's int32; an np.int64 one is exact, as NumPy's int64,
also beside an np.int32 (NumPy promotes the pair to int64: `np.int32(2**31 - 1) + np.int64(1)` is 2**31, which
does not fit in int32, so a CompileError, where the compiler wrapped it to -2**31); a step that leaves int32 is
a CompileError. The value the kernel computes, the element it indexes and the shape it gives must all agree.
"""
from __future__ import annotations

import ast
import warnings

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import wafersim as ws
from conftest import line_of, load_source
from test_compiler_fuzz_arrays import FUZZ

W = np.int32(2**31 - 1)
ONE64 = np.int64(1)
H64 = np.int64(2**30)
MIN64 = np.int64(-2**31)
BIG = 2**31 - 1


@pytest.fixture(scope="module")
def dev():
    return ws.Device("dev")


@ws.jit
def _int64_meets_int32(out):
    out[0] = (W + ONE64) // 2**30  # MARK-promoted


@ws.jit
def _int64_then_int32(out):
    out[0] = (ONE64 + 0) + W  # MARK-int64-step


@ws.jit
def _negated_int64(out):
    out[0] = -MIN64  # MARK-negated


@ws.jit
def _int64_values(out):
    buf = ws.local.array(5, np.int32)
    for k in range(5):
        buf[k] = 10 * k
    out[0] = (W - ONE64) // 2**30 + ONE64        # np.int32 - np.int64 is an int64: 2147483646 // 2**30 + 1
    out[1] = W * ONE64                           # promoted, fits
    out[2] = ~ONE64 + W                          # ~1 is -2: 2147483645
    out[3] = (W + 1) // 2**30 + ONE64            # np.int32 + 1 wraps first (-2), then the int64 step: -1
    out[4] = np.int32(ONE64) + W                 # converted to np.int32: wraps as NumPy's
    out[5] = int(ONE64) + W                      # a Python int with an np.int32: np.int32 (NEP 50), wraps
    a = H64 - H64 - ONE64 - ONE64 - ONE64        # -3, an index from the end and a shape
    out[6] = buf[a]
    t = ws.local.array(a + 5, np.int32)
    out[7] = len(t)
    out[8] = max(ONE64, W) - ONE64               # max keeps the np.int64 it chose: exact


def test_np_int64_constants_fold_as_numpy_int64(dev):
    buf = [0, 10, 20, 30, 40]
    with np.errstate(over="ignore"):
        a = H64 - H64 - ONE64 - ONE64 - ONE64
        want = [(W - ONE64) // 2**30 + ONE64, W * ONE64, ~ONE64 + W, (W + 1) // 2**30 + ONE64,
                np.int32(ONE64) + W, int(ONE64) + W, buf[a], a + 5, max(ONE64, W) - ONE64]
    out = dev.device_array(9, np.int32)
    _int64_values[(1, 1), (1, 1)](out)
    assert out.copy_to_host().tolist() == [int(v) for v in want]


_INDEXED = (10, 20, 30, 40, 50)
_NEAR_MAX64 = np.int64(2**31 - 1)


@ws.jit
def _int64_variable_as_index_and_shape(out):
    x = _NEAR_MAX64                                       # assigned once: the np.int64 wherever it is read
    out[0] = _INDEXED[(x + 1) // 2**30]                   # NumPy's int64: 2**31 // 2**30 = 2
    buf = ws.local.array((max(x, 3) + 1) // 2**30 + 5, np.int32)
    out[1] = len(buf)


def test_an_np_int64_variable_indexes_and_sizes_as_numpy_computes(dev):
    # a variable assigned an np.int64 folded as an int32 where a constant is needed: `(x + 1) // 2**30` wrapped
    # to -2 (_INDEXED[-2], a shape of 3) where NumPy's int64, and the module constant itself, give 2
    out = dev.device_array(2, np.int32)
    _int64_variable_as_index_and_shape[(1, 1), (1, 1)](out)
    index = (_NEAR_MAX64 + 1) // 2**30
    assert index == 2 and out.copy_to_host().tolist() == [_INDEXED[index], (max(_NEAR_MAX64, 3) + 1) // 2**30 + 5]


@pytest.mark.parametrize("kernel, mark, numpy_value", [
    (_int64_meets_int32, "MARK-promoted", W + ONE64),       # was folded as int32: -2**31 // 2**30 = -2
    (_int64_then_int32, "MARK-int64-step", (ONE64 + 0) + W),  # the int64 type survives a step with a Python int
    (_negated_int64, "MARK-negated", -MIN64),
])
def test_np_int64_steps_beyond_int32_are_refused_not_wrapped(dev, kernel, mark, numpy_value):
    assert numpy_value == 2**31 and numpy_value.dtype == np.int64  # NumPy's value, which no int32 holds
    with pytest.raises(ws.CompileError, match="does not fit in int32") as info:
        kernel[(1, 1), (1, 1)](dev.device_array(1, np.int32))
    assert info.value.line == line_of(kernel, mark)


SEVEN64 = np.int64(7)


@ws.jit
def _int64_times_runtime(out, a):
    out[0] = 1 if SEVEN64 * a > 0 else 0  # MARK-int64-mul


@ws.jit
def _int64_shifts_runtime(out, a):
    out[0] = (a << SEVEN64) >> 8  # MARK-int64-shl


@ws.jit
def _int64_added_to_runtime(out, a):
    a += SEVEN64  # MARK-int64-aug
    out[0] = a // 2


@ws.jit
def _int64_mod_then_runtime(out, a):
    out[0] = (a % SEVEN64) * 2**30 // 2**29  # MARK-int64-mod


@ws.jit
def _int64_with_runtime_compared(out, a):
    out[0] = 1 if a < SEVEN64 else 0
    out[1] = 1 if SEVEN64 == a else 0
    out[2] = SEVEN64 * 3 - 1  # constants only: folded as NumPy's int64
    buf = ws.local.array(SEVEN64, np.int32)
    buf[SEVEN64 - 1] = a
    out[3] = buf[-1]


@pytest.mark.parametrize("kernel, mark", [(_int64_times_runtime, "MARK-int64-mul"),
                                          (_int64_shifts_runtime, "MARK-int64-shl"),
                                          (_int64_added_to_runtime, "MARK-int64-aug"),
                                          (_int64_mod_then_runtime, "MARK-int64-mod")])
def test_np_int64_constant_with_a_runtime_int32_is_refused(dev, kernel, mark):
    """NumPy computes np.int64(7) * a in int64 (7 * 2**30 = 7516192768 > 0): the kernel wrapped it in int32
    (-1073741824, so `> 0` was False), silently; likewise every step after one with an np.int64
    (`(a % I64) * 2**30` is int64 in NumPy). Refused at the line."""
    assert SEVEN64 * np.int32(2**30) == 7 * 2**30
    with pytest.raises(ws.CompileError, match="np.int64 constant .* known only at run time") as info:
        kernel[(1, 1), (1, 1)](dev.device_array(1, np.int32), 2**30)
    assert info.value.line == line_of(kernel, mark)


def test_np_int64_constant_compared_with_a_runtime_int32_or_as_a_constant_compiles(dev):
    out = dev.device_array(4, np.int32)
    for a in (2**30, -2**31, 2**31 - 1, -13, 7):
        _int64_with_runtime_compared[(1, 1), (1, 1)](out, a)
        v = np.int32(a)
        want = [int(v < SEVEN64), int(SEVEN64 == v), SEVEN64 * 3 - 1, a]
        np.testing.assert_array_equal(out.copy_to_host(), np.array(want, np.int64).astype(np.int32), err_msg=str(a))


@ws.jit
def _variable_arithmetic_indexes_as_it_computes(out):
    buf = ws.local.array(5, np.int32)
    for k in range(5):
        buf[k] = 10 * k
    x = BIG
    a = (x + 1) // 2**30    # x is an int32 variable: x + 1 wraps at run time, so a is -2
    out[0] = a
    out[1] = buf[a]         # was buf[2]: the compile-time view computed x + 1 as Python's 2**31
    z = np.int32(BIG)
    b = (z + W) // 2**30    # likewise for a variable assigned an np.int32 (as NumPy's int32 wraps)
    out[2] = b
    out[3] = buf[b]


def test_a_variable_known_when_compiling_indexes_as_the_kernel_computes_it(dev):
    # A variable holds an int32 at run time whatever int or np.int32 constant it was assigned (docs: int values
    # are int32), so `a` is -2; the index must be buf[a] of that value, buf[-2], not the element of Python's 2.
    out = dev.device_array(4, np.int32)
    _variable_arithmetic_indexes_as_it_computes[(1, 1), (1, 1)](out)
    a = int(np.int32(np.int64(BIG + 1) - 2**32)) // 2**30
    with np.errstate(over="ignore"):
        b = int((np.int32(BIG) + W) // np.int32(2**30))
    buf = [0, 10, 20, 30, 40]
    assert out.copy_to_host().tolist() == [a, buf[a], b, buf[b]]


# ----------------------------------------------------------------------------- variables holding an np.int64
# A variable assigned an np.int64 holds NumPy's int64, as the constant does: `x = SEVEN64` then `x * a` is
# 7 * 2**30 in NumPy, where the kernel's int32 wrapped it to -2**30 silently (the same expression written with
# the constant was already refused). Now the variable computes as the constant: exactly with constants,
# refused with an int32 known only at run time.


@ws.jit
def _int64_variable_times_runtime(out, a):
    x = SEVEN64
    out[0] = 1 if x * a > 0 else 0  # MARK-var-mul


@ws.jit
def _int64_variable_plus_np_int32(out, a):
    z = ONE64
    out[0] = (z + W) // 2**30  # MARK-var-promoted


@ws.jit
def _int64_variable_accumulated(out, a):
    x = SEVEN64
    for k in range(3):
        x += a  # MARK-var-acc
    out[0] = x


@ws.jit
def _int64_variable_reassigned(out, a):
    x = SEVEN64
    x = x - 1  # MARK-var-reassigned


@ws.jit
def _int64_variable_chosen(out, a):
    x = min(SEVEN64, a)  # (the object chosen: NumPy's np.int64 7 for a = 2**30)
    out[0] = x * a  # MARK-var-chosen


@ws.jit
def _int64_variable_negated(out, a):
    x = MIN64
    if a > 0:
        x = SEVEN64
    out[0] = -x  # MARK-var-neg


@ws.jit
def _int64_variable_late_in_loop(out, a):
    x = 0
    for k in range(3):
        out[k] = x * a
        x = SEVEN64  # MARK-var-late


@ws.jit
def _returns_int64(a):
    if a > 5:
        return a
    return SEVEN64  # (NumPy's int64 on this path)


@ws.jit
def _int64_returned(out, a):
    out[0] = 1 if _returns_int64(a) * a > 0 else 0  # MARK-var-returned


@ws.jit
def _int64_in_a_constant_tuple(out, a):
    t = (SEVEN64, 1)
    if a > 5:
        t = (SEVEN64, 2)  # (t's items move into registers: they stay np.int64s)
    out[0] = 1 if t[0] * a > 0 else 0  # MARK-var-tuple


@ws.jit
def _int64_late_in_a_tuple(out, a):
    t = (0, a)
    for k in range(3):
        out[k] = 1 if t[0] * a > 0 else 0
        t = (SEVEN64, a)  # MARK-var-tuple-late


@ws.jit
def _int64_swapped(out, a):
    x = SEVEN64
    y = a
    if a > 5:
        x, y = y, x  # MARK-var-swapped


@ws.jit
def _int64_unpacked(out, a):
    x = SEVEN64
    if a > 5:
        x = SEVEN64
    y, z = x, 0
    out[0] = 1 if y * a > 0 else 0  # MARK-var-unpacked


@pytest.mark.parametrize("kernel, mark, match, numpy_value", [
    (_int64_variable_times_runtime, "MARK-var-mul", "np.int64 constant \\* an int32 value known only at run time",
     SEVEN64 * np.int32(2**30)),
    (_int64_variable_plus_np_int32, "MARK-var-promoted", "does not fit in int32", ONE64 + W),
    (_int64_variable_accumulated, "MARK-var-acc", "variable holding an np.int64 .* \\+ an int32",
     SEVEN64 + np.int32(2**30) + np.int32(2**30) + np.int32(2**30)),
    (_int64_variable_reassigned, "MARK-var-reassigned", "variable holding an np.int64 .* - an int32",
     SEVEN64 - 1),
    (_int64_variable_chosen, "MARK-var-chosen", "variable holding an np.int64 .* \\* an int32",
     min(SEVEN64, np.int32(2**30)) * np.int32(2**30)),
    (_int64_variable_negated, "MARK-var-neg", "negating a variable that holds an np.int64", -MIN64),
    (_int64_variable_late_in_loop, "MARK-var-late", "held an int32 before this branch or loop", SEVEN64 * 2**30),
    # (each a silent int32 wrap before: the flag was lost in a call's result, a tuple's registers, a snapshot)
    (_int64_returned, "MARK-var-returned", "np.int64 .* \\* an int32", SEVEN64 * np.int32(2**30)),
    (_int64_in_a_constant_tuple, "MARK-var-tuple", "np.int64 .* \\* an int32", SEVEN64 * np.int32(2**30)),
    (_int64_late_in_a_tuple, "MARK-var-tuple-late", "'t' held an int32 before", SEVEN64 * np.int32(2**30)),
    (_int64_swapped, "MARK-var-swapped", "'y' held an int32 before", SEVEN64 * np.int32(2**30)),
    (_int64_unpacked, "MARK-var-unpacked", "np.int64 .* \\* an int32", SEVEN64 * np.int32(2**30)),
])
def test_a_variable_assigned_an_np_int64_computes_as_numpy_int64_or_is_refused(dev, kernel, mark, match,
                                                                                numpy_value):
    # NumPy's type is int64 (and, for most, the value no int32 holds): the kernel's int32 would not give it
    assert numpy_value.dtype == np.int64
    with pytest.raises(ws.CompileError, match=match) as info:
        kernel[(1, 1), (1, 1)](dev.device_array(3, np.int32), 2**30)
    assert info.value.line == line_of(kernel, mark)


@ws.jit
def _int64_variable_exact_forms(out, a):
    x = SEVEN64
    h = H64
    out[0] = x * 3 - 1                # constants only: folded as NumPy's int64
    out[1] = h // 8 + x               # folded as NumPy's int64
    out[2] = 1 if x < a else 0        # comparisons compile
    out[3] = int(x) * a               # converted: int32 arithmetic, wrapping as NumPy's int32 does
    out[4] = np.int32(x) + a
    buf = ws.local.array(x, np.int32)  # a shape and an index, as the constant
    buf[x - 1] = a
    out[5] = buf[-1]
    y = SEVEN64
    y = a                             # an int32 now, as in NumPy: its arithmetic compiles
    out[6] = y * 3
    out[7] = ~x                       # (NumPy's int64, which fits)


def test_a_variable_assigned_an_np_int64_keeps_what_numpy_computes_exactly(dev):
    out = dev.device_array(8, np.int32)
    for a in (2**30, -2**31, 2**31 - 1, 3):
        _int64_variable_exact_forms[(1, 1), (1, 1)](out, a)
        v = np.int32(a)
        with np.errstate(over="ignore"):
            want = [SEVEN64 * 3 - 1, H64 // 8 + SEVEN64, int(SEVEN64 < v), int(SEVEN64) * v,
                    np.int32(SEVEN64) + v, a, v * np.int32(3), ~SEVEN64]
        assert out.copy_to_host().tolist() == [int(w) for w in want], a


# ----------------------------------------------------------------------------- differential: Python, np.int32, np.int64
LEAVES = (0, 1, -1, 2, 3, -3, 7, -8, 65536, 100000, 2**30, 2**31 - 1, -2**31)
BINARY = ("+", "-", "*", "//", "%", "&", "|", "^")
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<",
          ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.Pow: "**"}
#: The module constants the trees name: I64_k is np.int64(LEAVES[k]).
GLOBALS = {f"I64_{k}": np.int64(c) for k, c in enumerate(LEAVES)}


@st.composite
def typed_int_trees(draw, depth: int) -> str:
    """A constant int expression mixing Python ints (written out), np.int32(c) and np.int64 module constants,
    and int(...) / np.int32(...) conversions of subtrees."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        k = draw(st.integers(0, len(LEAVES) - 1))
        return draw(st.sampled_from((f"({LEAVES[k]})", f"np.int32({LEAVES[k]})", f"I64_{k}")))
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return f"{draw(st.sampled_from(('-', '~')))}({draw(typed_int_trees(depth - 1))})"
    if kind == 1:
        return f"{draw(st.sampled_from(('int', 'np.int32')))}({draw(typed_int_trees(depth - 1))})"
    if kind == 2:
        op, right = draw(st.sampled_from(("<<", ">>", "**"))), draw(st.integers(0, 31))
        return f"({draw(typed_int_trees(depth - 1))} {op} {min(right, 5) if op == '**' else right})"
    op = draw(st.sampled_from(BINARY))
    return f"({draw(typed_int_trees(depth - 1))} {op} {draw(typed_int_trees(depth - 1))})"


def _numpy(node: ast.expr):
    """NumPy's (and Python's) value of the tree; raises where NumPy does, and for a division by zero (NumPy's
    int32 gives 0 with a warning; the compiler refuses a constant division by zero)."""
    with np.errstate(divide="raise", over="ignore", invalid="ignore"):
        return eval(ast.unparse(node), {"np": np, **GLOBALS})  # noqa: S307 (a generated int expression)


def _must_compile(node: ast.expr) -> bool:
    """Whether the docs promise the tree compiles: NumPy computes it without error and every step's value, as
    NumPy types it, fits in int32 without wrapping unless it is an np.int32 step (which wraps, as NumPy's)."""
    value = _numpy(node)
    if not -2**31 <= int(value) < 2**31:
        return False
    if isinstance(node, ast.BinOp):
        x, y = _numpy(node.left), _numpy(node.right)
        exact = eval(f"{int(x)} {SYMBOL[type(node.op)]} {int(y)}")  # noqa: S307 (two ints)
        if not isinstance(value, np.int32) and exact != int(value):
            return False  # (NumPy's int64 wrapped at 64 bits)
        return _must_compile(node.left) and _must_compile(node.right)
    if isinstance(node, ast.UnaryOp):
        return _must_compile(node.operand)
    if isinstance(node, ast.Call):
        return _must_compile(node.args[0])
    return True


@FUZZ
@given(text=typed_int_trees(3))
@example(text="((2147483647) + np.int32(2147483647))")
@example(text="((np.int32(2147483647) + I64_1) // (1073741824))")  # wrapped to -2: NumPy's int64 gives 2
@example(text="(((I64_1 + (0)) + np.int32(2147483647)) - I64_1)")
@example(text="(-(I64_12) // (2))")
@example(text="(int((0)) - ((1) + (2147483647)))")  # -2**31 in Python: was refused ('1 + 2147483647 does not fit')
def test_typed_int_trees_fold_as_numpy_in_values_indices_and_shapes(dev, tmp_path_factory, text):
    node = ast.parse(text, mode="eval").body
    try:
        value = _numpy(node)
        value = int(value) if -2**31 <= int(value) < 2**31 else None
    except (ArithmeticError, ValueError):  # (OverflowError: a Python int beyond int32 meeting an np.int32)
        value = None
    required = value is not None and _must_compile(node)
    used = value is not None and -5 <= value < 5
    body = [f"    out[0] = {text}"]
    if used:
        body += ["    buf = ws.local.array(5, np.int32)", "    for k in range(5):", "        buf[k] = 10 * k",
                 f"    out[1] = buf[{text}]", f"    a = {text}", "    out[2] = buf[a]",
                 "    t = ws.local.array(a + 6, np.int32)", "    out[3] = len(t)"]
    header = "import numpy as np\nimport wafersim as ws\n\n" + "".join(
        f"I64_{k} = np.int64({c})\n" for k, c in enumerate(LEAVES))
    module = load_source(tmp_path_factory.mktemp("typed"), header + "\n\n@ws.jit\ndef kern(out):\n"
                         + "\n".join(body) + "\n")
    out = dev.device_array(4, np.int32)
    try:
        module.kern[(1, 1), (1, 1)](out)
    except ws.CompileError:
        assert not required, text  # a refusal is allowed only where a step leaves int32 (or NumPy raises)
        return
    assert value is not None, text  # NumPy raises or gives a value beyond int32: must be refused
    want = [value, 10 * (value % 5), 10 * (value % 5), value + 6] if used else [value]
    assert out.copy_to_host().tolist()[:len(want)] == want, text


U8 = np.uint8(200)


@ws.jit
def _uint8_shape(out):
    t = ws.local.array(U8 + 100, np.int32)  # MARK-u8-shape
    out[0] = len(t)


@ws.jit
def _uint8_index(out):
    buf = ws.local.array(5, np.int32)
    out[0] = buf[U8 - 196]  # MARK-u8-index


@pytest.mark.parametrize("kernel, mark", [(_uint8_shape, "MARK-u8-shape"), (_uint8_index, "MARK-u8-index")])
def test_other_numpy_integers_are_refused_where_a_constant_is_needed(dev, kernel, mark):
    # NumPy computes np.uint8(200) + 100 in uint8: 44. The compile-time view folded it as Python's 300, a local
    # array of 300 words (an index 4 likewise, where NumPy's is 4 only by chance); refused as a value is.
    with np.errstate(over="ignore"):
        assert U8 + np.uint8(100) == 44
    with pytest.raises(ws.CompileError, match="NumPy uint8 constant") as info:
        kernel[(1, 1), (1, 1)](dev.device_array(1, np.int32))
    assert info.value.line == line_of(kernel, mark)


F24 = 16777217.0  # not a float32: the kernel's constant is float32 16777216.0


@ws.jit
def _int_of_float_constants(out):
    buf = ws.local.array(5, np.int32)
    for k in range(5):
        buf[k] = 10 * k
    b = np.int32(-3.0)
    c = int(-1.7)
    out[0] = b
    out[1] = buf[b]                      # was an out-of-bounds MemoryAccessError: a run-time index -3
    out[2] = buf[c]
    n = np.int32(F24) - 16777214         # the float32 constant truncated, as the kernel computes n: 2
    out[3] = n
    out[4] = buf[n]
    t = ws.local.array(int(2.9), np.int32)
    out[5] = len(t)


def test_int_of_a_float_constant_indexes_and_sizes_as_its_value(dev):
    # Python: buf[np.int32(-3.0)] is buf[-3]. A float constant is a float32 in a kernel (docs), so
    # np.int32(16777217.0) is int(np.float32(16777217.0)) = 16777216 there, as a value and as an index alike.
    buf = [0, 10, 20, 30, 40]
    n = int(np.float32(F24)) - 16777214
    out = dev.device_array(6, np.int32)
    _int_of_float_constants[(1, 1), (1, 1)](out)
    assert out.copy_to_host().tolist() == [int(np.int32(-3.0)), buf[np.int32(-3.0)], buf[int(-1.7)], n, buf[n],
                                           len(range(int(2.9)))]


# ----------------------------------------------------------------------------- differential: with a run-time int32
@st.composite
def runtime_int_trees(draw, depth: int) -> str:
    """typed_int_trees with the run-time int32 `r` (a kernel argument) among the leaves; `int(...)` only of
    constant subtrees (of `r` it is an int32 in the kernel, an unbounded Python int in NumPy)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.integers(0, 2)) == 0:
            return "r"
        k = draw(st.integers(0, len(LEAVES) - 1))
        return draw(st.sampled_from((f"({LEAVES[k]})", f"np.int32({LEAVES[k]})", f"I64_{k}")))
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return f"{draw(st.sampled_from(('-', '~')))}({draw(runtime_int_trees(depth - 1))})"
    if kind == 1:
        inner = draw(runtime_int_trees(depth - 1))
        return f"{draw(st.sampled_from(('np.int32',) if 'r' in inner else ('int', 'np.int32')))}({inner})"
    if kind == 2:
        op, right = draw(st.sampled_from(("<<", ">>", "**"))), draw(st.integers(0, 31))
        return f"({draw(runtime_int_trees(depth - 1))} {op} {min(right, 5) if op == '**' else right})"
    op = draw(st.sampled_from(BINARY))
    return f"({draw(runtime_int_trees(depth - 1))} {op} {draw(runtime_int_trees(depth - 1))})"


def _has_r(node: ast.expr) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "r" for n in ast.walk(node))


def _int64_meets_r(node: ast.expr) -> bool:
    """Whether an operator pairs a constant subtree NumPy types np.int64 with one holding `r` (refused)."""
    for n in ast.walk(node):
        if isinstance(n, ast.BinOp):
            for this, other in ((n.left, n.right), (n.right, n.left)):
                if _has_r(other) and not _has_r(this) and isinstance(_numpy(this), np.int64):
                    return True
    return False


def _constant_parts_compile(node: ast.expr) -> bool:
    """Whether every maximal constant subtree is one the docs promise compiles (`_must_compile`)."""
    if not _has_r(node):
        return _must_compile(node)
    children = node.args if isinstance(node, ast.Call) else [c for c in ast.iter_child_nodes(node)
                                                               if isinstance(c, ast.expr)]
    return all(_constant_parts_compile(child) for child in children)


@FUZZ
@given(text=runtime_int_trees(3), r=st.sampled_from((0, 1, -1, 7, -8, 12345, 2**30, 2**31 - 1, -2**31)))
@example(text="((r % I64_6) * (1073741824))", r=5)  # NumPy's int64 30 * 2**30: the kernel wrapped it in int32
def test_typed_int_trees_with_a_runtime_int32_compute_as_numpy_or_are_refused(dev, tmp_path_factory, text, r):
    """An np.int64 constant meeting the run-time `r` must be refused (NumPy computes in int64 from there); else
    the kernel gives NumPy's int32 value wherever the constant parts compile."""
    node = ast.parse(text, mode="eval").body
    try:
        with warnings.catch_warnings(), np.errstate(divide="raise", over="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # (np.int32 scalar overflow: it wraps)
            value = eval(text, {"np": np, "r": np.int32(r), **GLOBALS})  # noqa: S307 (a generated int expression)
            refused = _int64_meets_r(node)
            required = not refused and _constant_parts_compile(node)
    except (ArithmeticError, ValueError):  # a division by zero, a Python int beyond int32 meeting an np.int32
        return
    header = "import numpy as np\nimport wafersim as ws\n\n" + "".join(
        f"I64_{k} = np.int64({c})\n" for k, c in enumerate(LEAVES))
    module = load_source(tmp_path_factory.mktemp("typed_r"), header + f"\n\n@ws.jit\ndef kern(out, r):\n"
                         f"    out[0] = {text}\n")
    out = dev.device_array(1, np.int32)
    try:
        module.kern[(1, 1), (1, 1)](out, r)
    except ws.CompileError:
        assert not required, text
        return
    except ws.KernelZeroDivisionError:
        assert False, f"{text}: NumPy gave {value}"
    assert not refused, f"{text}: an np.int64 constant with the run-time r compiled"
    assert isinstance(value, np.int32) or not _has_r(node), (text, type(value))
    assert out.copy_to_host()[0] == value, (text, r, value)
