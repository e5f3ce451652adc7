"""Tuple slices, concatenation and repetition, and conditional expressions choosing between tuples, against
plain Python (the random forms: tests/test_compiler_fuzz_tuple_slices.py).

A tuple's length is fixed when the kernel is compiled, so slice bounds and repeat counts must be known then;
anything known only at run time, a zero step, or arithmetic mixing a tuple and a number is a `CompileError`.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, load_source, run_on_one_block

PRELUDE = """import numpy as np
import wafersim as ws

T = (10, 20, 30, 40)


@ws.jit
def tail(t):
    return t[1:]


@ws.jit
def twice_first(t):
    return t[0] * 2
"""


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


def test_tuple_slices_are_tuples_as_in_python(dev, tmp_path):
    # `T[1:]` was refused with "a tuple index must be a constant within range", which misled: slices of tuple
    # constants and of tuples of run-time numbers (constant bounds, steps, negative and clamped bounds, a
    # variable assigned once) are the tuples Python makes, usable wherever a tuple is
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, x):
    t = (x[0], x[1], x[2], x[3])
    cut = 2
    u = t[1:]
    t = (x[3], x[3], x[3], x[3])                      # the slice keeps the values it was taken with
    out[0], out[1], out[2] = u
    out[3], out[4] = T[cut:]
    out[5] = len(T[-100:2]) * 10 + len(T[5:9]) + len(T[3:1])
    out[6] = sum((x[0], x[1], x[2], x[3])[::-2])
    k = 7
    for v in (x[0], x[1], x[2])[::-1]:
        out[k] = v
        k += 1
    for v in T[True:3]:
        out[k] = v
        k += 1
    out[k] = tail((x[2], x[1], x[0]))[-1] + len(tail(T[:3]))
    buf = ws.local.array(len(T[::3]), np.int32)
    out[k + 1] = len(buf)
""")
    x = np.array([3, -7, 5, 11], np.int32)
    (got,) = run_on_one_block(dev, m.kern, np.zeros(14, np.int32), x)[:1]
    T = (10, 20, 30, 40)
    t = tuple(int(v) for v in x)
    want = [*t[1:], *T[2:], len(T[-100:2]) * 10 + len(T[5:9]) + len(T[3:1]), sum(t[::-2]), *t[:3][::-1],
            *T[1:3], t[0] + 2, len(T[::3])]
    assert got.tolist() == want


def test_a_conditional_expression_chooses_between_tuple_variables_and_slices(dev, tmp_path):
    # `t if c else u` of tuple variables was refused with "expected a number here, got a tuple", and a branch
    # that slices a tuple with "chooses between scalars, not slices" (a tuple slice is no vector)
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, x):
    t = (x[0], x[1])
    u = (x[2], x[3])
    v = t if x[2] > 0 else u
    w = t[1:] if x[2] < 0 else u[:1]
    z = T[1:3] if x[2] > 0 else t
    c = T[1:3] if False else t
    out[0], out[1] = v
    out[2] = w[0]
    out[3] = z[0] + z[1]
    out[4] = c[1]
    out[5] = twice_first((x[0], x[1])[1:] if x[2] > 0 else (x[2],))
""")
    for x2 in (5, -5):
        x = np.array([3, -7, x2, 11], np.int32)
        (got,) = run_on_one_block(dev, m.kern, np.zeros(6, np.int32), x)[:1]
        t, u, T = (3, -7), (x2, 11), (10, 20, 30, 40)
        v = t if x2 > 0 else u
        z = T[1:3] if x2 > 0 else t
        assert got.tolist() == [*v, (t[1:] if x2 < 0 else u[:1])[0], z[0] + z[1], t[1],
                                ((3, -7)[1:] if x2 > 0 else (x2,))[0] * 2]


def test_tuples_concatenate_and_repeat_as_in_python(dev, tmp_path):
    # `t[1:] + t[:1]` (a rotation) and `(x,) * 3` were refused, "cannot compute with a tuple"
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, x, n):
    t = (x[0], x[1], x[2], x[3])
    out[0], out[1], out[2], out[3] = t[1:] + t[:1]
    v = (x[0],) * 3 + T * 0 + 2 * (x[1],) + T[:1] * True
    out[4] = len(v)
    out[5] = v[-1] + v[-2] + v[0]
    s = 0
    for w in T[2:] + t[::-1]:
        s = s * 3 + w
    out[6] = s
    t += (x[2],)
    out[7] = len(t) * 100 + t[-1]
    out[8] = len(T * -2)
    buf = ws.local.array(len(T + T), np.int32)
    out[9] = len(buf)
    for a, b in zip(t, t[1:] + t[:1]):
        out[10] += a * b
    r = (x[0], x[1], x[2])
    for k in range(n):                                 # a rotation carried around a loop
        r = r[1:] + r[:1]
    out[11], out[12], out[13] = r
    d = r * 2
    for k in range(n):                                 # (d's two halves are copies, not one register each)
        d = d[1:] + (d[0] + 1,)
    out[14], out[15], out[16], out[17], out[18], out[19] = d
""")
    x = np.array([3, -7, 5, 2], np.int32)
    for n in (0, 1, 5):
        (got,) = run_on_one_block(dev, m.kern, np.zeros(20, np.int32), x, n)[:1]
        T = (10, 20, 30, 40)
        t = tuple(int(v) for v in x)
        v = (t[0],) * 3 + T * 0 + 2 * (t[1],) + T[:1] * True
        s = 0
        for w in T[2:] + t[::-1]:
            s = s * 3 + w
        t5 = t + (t[2],)
        r = t[:3]
        for _ in range(n):
            r = r[1:] + r[:1]
        d = r * 2
        for _ in range(n):
            d = d[1:] + (d[0] + 1,)
        want = [*(t[1:] + t[:1]), len(v), v[-1] + v[-2] + v[0], s, len(t5) * 100 + t5[-1], len(T * -2),
                len(T + T), sum(a * b for a, b in zip(t5, t5[1:] + t5[:1])), *r, *d]
        assert got.tolist() == want, n


@pytest.mark.parametrize("body,text", [
    ("t = (n, 1, 2)\n    y = t[n:][0]", "a tuple slice's bounds and step must be int constants"),
    ("y = (n, 1)[::0][0]", "slice step cannot be zero"),
    ("t = (n, 1) * n", "a tuple repeated by `*` needs an int known when compiling"),
    ("t = (n, 1) + n", "tuples concatenate with + (another tuple) and repeat with * (an int constant)"),
    ("t = (n, 1) - (n,)", "cannot compute with a tuple"),
    ("t = (n,)\n    for k in range(3):\n        t = t + (k,)", "must keep its length"),
    ("t = (n, 1)\n    out[0:2] = t[0:2]", "cannot assign a tuple to a slice"),
])
def test_tuple_misuse_is_a_compile_error(dev, tmp_path, body, text):
    message = compile_error_message(dev, tmp_path, body)
    assert text in message, message


def compile_error_message(dev, tmp_path, body: str) -> str:
    """The CompileError's message of `kern(out, n)` whose body is `body` then `out[0] = 0` (a device function
    `pair(v)` returning v beside it), launched with n = 3."""
    m = load_source(tmp_path, PRELUDE + f"""

@ws.jit
def pair(v):
    return v

@ws.jit
def kern(out, n):
    {body}
    out[0] = 0
""")
    return str(compile_error(dev, m.kern, np.zeros(2, np.int32), 3))


_SIDE_EFFECTS = """
    t = (bump(a), bump(a) * 10)[::-1]
    out[0], out[1] = t
    out[2] = sum((bump(a),) * 3)
    out[3] = len((bump(a), bump(a)) * -1) + len((bump(a),) * 0) + len((bump(a), bump(a))[5:])
    out[4] = (bump(a), bump(a) * 10, bump(a) * 100)[1:2][0]
    v = (bump(a),) if n > 0 else (bump(a), bump(a))[1:]
    w = (bump(a),) if n < 0 else (bump(a) * 10, bump(a) * 100)[1:]
    out[5] = v[0] * 1000 + w[0]
    out[6] = sum(2 * (bump(a),) + (bump(a) * 10,)) + (bump(a), bump(a) * 10, bump(a) * 100)[::-1][0]
    out[7] = a[0]
"""


def test_tuple_slices_repeats_and_sums_evaluate_each_item_once_left_to_right(dev, tmp_path):
    # review43: items that write an array (a device function's side effect) run once each, in source order,
    # whatever the slice, step or repeat count keeps of them (dropped, reversed, repeated 0 or -1 times) and
    # only on the branch a conditional expression takes, as Python evaluates them
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def bump(arr):
    arr[0] += 1
    return arr[0]


@ws.jit
def kern(out, n):
    a = ws.local.array(1, np.int32)
    a[0] = 0
""" + _SIDE_EFFECTS)

    def bump(arr):
        arr[0] += 1
        return arr[0]

    for n in (1, -1):
        (got,) = run_on_one_block(dev, m.kern, np.zeros(8, np.int32), n)[:1]
        scope = {"bump": bump}
        exec("def kern(out, n, a):" + _SIDE_EFFECTS, scope)
        want = [0] * 8
        scope["kern"](want, n, [0])
        assert got.tolist() == want, n


def _items_compare(op: str, a, b) -> bool:
    """Python's tuple comparison (the first pair of items that are not equal decides, else the lengths) with
    numbers compared as docs/python-supported.md says the kernel's numbers are: float32 where a float is among
    them, no identity test (a nan equals nothing). Written out here, independently of the compiler."""
    def number(v):
        return isinstance(v, (int, float, np.integer, np.floating))

    def equal(x, y):
        if number(x) and number(y):
            if isinstance(x, (float, np.floating)) or isinstance(y, (float, np.floating)):
                return float(np.float32(x)) == float(np.float32(y))
            return int(x) == int(y)
        if isinstance(x, tuple) and isinstance(y, tuple):
            return len(x) == len(y) and all(equal(u, v) for u, v in zip(x, y))
        return x == y

    orders = {"<": lambda x, y: x < y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y,
              ">=": lambda x, y: x >= y, "==": lambda x, y: x == y, "!=": lambda x, y: x != y}
    if op in ("in", "not in"):
        return any(equal(a, item) for item in b) == (op == "in")
    if number(a) and number(b):
        if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
            a, b = float(np.float32(a)), float(np.float32(b))
        return orders[op](a, b)
    for x, y in zip(a, b):
        if not equal(x, y):
            return op == "!=" if op in ("==", "!=") else _items_compare(op, x, y)
    return orders[op](len(a), len(b))


def test_constant_tuples_compare_as_python_compares_tuples(dev, tmp_path):
    # `T < (1, 4)` of compile-time tuples was refused ("comparison Lt of (1, 3) and (1, 4) is not supported")
    # though the docs said they compare folded; `==` compared numbers in float64 (`(16777217,) == (16777216.0,)`
    # False where the kernel's `16777217 == 16777216.0` is True) and found a nan equal to itself
    m = load_source(tmp_path, PRELUDE + """
import math

U = ((1, 2), (3, 4))
BIG, ROUNDED = (16777217,), (16777216.0,)
NAN = (math.nan,)


@ws.jit
def kern(out):
    t = (1, 3)
    out[0] = t < (1, 4)
    out[1] = (1, 3) <= (1,)
    out[2] = T[1:] > (20, 30, 40, 0)
    out[3] = (0,) < t < (1, 3, 0)
    out[4] = (1, 2) in U
    out[5] = (2, 1) not in U
    out[6] = BIG == ROUNDED
    out[7] = NAN == NAN
    out[8] = (1, 2.0) >= (1, 2)
    out[9] = ((1, 2), 5) < ((1, 2, 0), 0)
    out[10] = U[::-1] != U
    if T + (1,) >= T:
        out[11] = 7
""")
    (got,) = run_on_one_block(dev, m.kern, np.zeros(12, np.int32))[:1]
    T, U = (10, 20, 30, 40), ((1, 2), (3, 4))
    want = [_items_compare("<", (1, 3), (1, 4)), _items_compare("<=", (1, 3), (1,)),
            _items_compare(">", T[1:], (20, 30, 40, 0)),
            _items_compare("<", (0,), (1, 3)) and _items_compare("<", (1, 3), (1, 3, 0)),
            _items_compare("in", (1, 2), U), _items_compare("not in", (2, 1), U),
            _items_compare("==", (16777217,), (16777216.0,)), _items_compare("==", (math.nan,), (math.nan,)),
            _items_compare(">=", (1, 2.0), (1, 2)), _items_compare("<", ((1, 2), 5), ((1, 2, 0), 0)),
            _items_compare("!=", U[::-1], U), 7 if _items_compare(">=", T + (1,), T) else 0]
    assert got.tolist() == [int(w) for w in want] == [1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 7]


def test_tuple_comparisons_fold_items_known_when_compiling_in_pythons_order(dev, tmp_path):
    # a display with an item that `static` does not fold (`np.float32(0.1)`, a device function's constant result)
    # was "comparing tuples is not supported"; a chain's later operand is taken only while the comparisons before
    # it held, as Python evaluates it (`bump` writes the array: not run after a false comparison; where it runs,
    # its result is known only at run time, and the comparison is refused)
    m = load_source(tmp_path, PRELUDE + """
S = ('a', 0.1)


@ws.jit
def bump(buf, k):
    buf[k] += 1
    return 2


@ws.jit
def kern(out):
    buf = ws.local.array(2, np.int32)
    out[0] = (np.float32(0.1), 'a') == (0.1, 'a')
    out[1] = S < ('a', np.float32(0.1)) + (1,)
    out[2] = (1,) < (0,) < (bump(buf, 0), 1)
    out[3] = buf[0]
""")
    (got,) = run_on_one_block(dev, m.kern, np.zeros(4, np.int32))[:1]
    assert got.tolist() == [1, 1, 0, 0]


def test_a_numpy_number_compares_with_a_tuple_item_as_a_python_number(dev, tmp_path):
    # `(np.int32(3),) <= ((),)` compared NumPy's way, `np.int32(3) == ()` an empty array, whose truth raised a bare
    # ValueError out of the compiler (found by test_compiler_fuzz_tuple_compare.py); a number is a kernel number:
    # equal to no tuple, as Python's `3 == ()`, and an order with one is refused, as Python's `3 < ()` raises
    m = load_source(tmp_path, PRELUDE + """
W = np.int32(3)
E = ((),)


@ws.jit
def kern(out):
    out[0] = (W,) == E
    out[1] = (np.int32(3), 1) != ((), 1)
    out[2] = (np.float32(0.5),) in (((),), (1,))
    out[3] = (W, 2) in (((),), (3, 2))


@ws.jit
def ordered(out):
    out[0] = (np.int32(3),) <= E
""")
    (got,) = run_on_one_block(dev, m.kern, np.zeros(4, np.int32))[:1]
    assert got.tolist() == [(3,) == ((),), (3, 1) != ((), 1), (0.5,) in (((),), (1,)), (3, 2) in (((),), (3, 2))]
    with pytest.raises(ws.CompileError, match=r"cannot compare 3 and \(\)"):
        run_on_one_block(dev, m.ordered, np.zeros(1, np.int32))


def test_an_item_of_a_constant_tuple_display_compares_folded(dev, tmp_path):
    # an item taken by a constant index from a display that `static` does not fold (`np.float32(0.5)` in it) was
    # evaluated as kernel values, so a string in the item was refused ("a str cannot be used as a kernel value")
    # and an order Python cannot take said so instead of "cannot compare" (found by
    # test_compiler_fuzz_tuple_compare.py's random draws); slices of such displays already folded
    m = load_source(tmp_path, PRELUDE + """
@ws.jit
def kern(out):
    out[0] = ('a', 1.0) == (np.float32(0.5), ('a', 1.0))[1]
    out[1] = ('a', 7) < (np.float32(0.5), ('b', 2))[-1]


@ws.jit
def unordered(out):
    out[0] = (0.5, 1.0) <= (np.float32(0.5), ((7, 0.5), 'a'))[1]
""")
    (got,) = run_on_one_block(dev, m.kern, np.zeros(2, np.int32))[:1]
    assert got.tolist() == [('a', 1.0) == (0.5, ('a', 1.0))[1], ('a', 7) < (0.5, ('b', 2))[-1]] == [True, True]
    with pytest.raises(ws.CompileError, match=r"cannot compare 0.5 and \(7, 0.5\)"):
        run_on_one_block(dev, m.unordered, np.zeros(1, np.int32))


def test_a_tuple_item_of_a_display_repeated_or_concatenated_is_a_tuple(dev, tmp_path):
    # `(('a',),)[0] * 0` was not seen as a tuple (a display's item), so the comparison evaluated it as kernel
    # values and refused the string (found by test_compiler_fuzz_tuple_compare.py's random draws)
    m = load_source(tmp_path, PRELUDE + """
E = ()


@ws.jit
def kern(out, v):
    out[0] = E < ((('a',),)[0] * 0)
    out[1] = ((('a',),)[0] * 2) == ('a', 'a')
    t = ((v, v + 1), 3)[0] + (5,)
    out[2] = t[1] + t[2]
""")
    (got,) = run_on_one_block(dev, m.kern, np.zeros(3, np.int32), 7)[:1]
    assert got.tolist() == [() < ((('a',),)[0] * 0), ((('a',),)[0] * 2) == ('a', 'a'), 8 + 5]


def test_a_tuple_item_of_a_slice_and_a_sliced_display_with_a_string_passed_to_a_device_function_fold(dev, tmp_path):
    # `(np.float32(0.5), ('b', 2))[1:][0] in U` (an item of a display's slice: not seen as a tuple, so `in` took it
    # for a number and evaluated the string) and `less((1,), (np.float32(0.5), 'b')[0:1])` (the argument evaluated
    # as kernel values) were refused at the string, where Python compares (found by
    # test_compiler_fuzz_tuple_compare.py's random draws); a run-time item with a string is still refused there
    source = """
C = ('b', 2)


@ws.jit
def less(a, b):
    return a < b


@ws.jit
def first(t):
    return t[0]


@ws.jit
def kern(out, v):
    out[0] = (np.float32(0.5), ('b', 2))[1:][0] in (C, (1,))
    out[1] = (np.float32(0.5), ('b', 2))[1:][0] not in ((np.float32(0.5), 'b')[0:1], C[1:])
    out[2] = less((1,), (np.float32(0.5), 'b')[0:1])
    out[3] = less((np.float32(0.5), 'b')[0:1], (1,))
    out[4] = less(('a',), ((np.float32(0.5),) + (('b', 2),))[1]) + first((v, 3)[1:]) * 10
    out[5] = int(first((np.float32(0.5), 'b')[0:1]) * 4)


@ws.jit
def run_time(out, v):
    out[0] = first((v, 'b')[0:1])
"""
    m = load_source(tmp_path, PRELUDE + source)
    (got,) = run_on_one_block(dev, m.kern, np.zeros(6, np.int32), 7)[:1]
    namespace: dict = {"np": np}
    exec(source.replace("@ws.jit", ""), namespace)  # (the same functions as plain Python)
    want = np.zeros(6, np.int32)
    namespace["kern"](want, 7)
    assert got.tolist() == want.tolist() == [1, 1, 0, 1, 31, 2]
    with pytest.raises(ws.CompileError, match=r":\d+:\d+: a str cannot be used as a kernel value"):
        run_on_one_block(dev, m.run_time, np.zeros(1, np.int32), 7)


@pytest.mark.parametrize("body,text", [
    ("y = ('a', 1) < (1, 1)", "cannot compare 'a' and 1"),
    ("y = (1, 2) < (n, 1)", "comparing tuples is not supported"),
    ("y = (2**40,) == (2**40,)", "does not fit in int32"),
    ("y = (0,) < (1,) < (pair(n), 1)", "comparing tuples is not supported"),
])
def test_tuple_comparisons_python_cannot_fold_are_compile_errors(dev, tmp_path, body, text):
    message = compile_error_message(dev, tmp_path, body)
    assert text in message, message


def test_a_ten_thousand_item_tuple_compiles_and_computes_as_python(dev, tmp_path):
    # review43: `(x[0],) * 10**4` took 18 s to compile (two cleanup passes rescanned every pending copy per
    # instruction: quadratic in a straight-line block's length); it is linear now. The answer is checked here,
    # the time is not (profile: cProfile on this kernel)
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, x):
    t = (x[0], x[1]) * 5000
    out[0] = len(t)
    out[1] = t[-1] * 1000 + t[-4] * 10 + t[1001]
    out[2] = sum(t[::997])
    u = t[1:] + (x[2],)
    out[3] = u[-1] + u[998] * 10
""")
    x = np.array([3, -7, 5], np.int32)
    (got,) = run_on_one_block(dev, m.kern, np.zeros(4, np.int32), x)[:1]
    t = (3, -7) * 5000
    u = t[1:] + (5,)
    assert got.tolist() == [len(t), t[-1] * 1000 + t[-4] * 10 + t[1001], sum(t[::997]), u[-1] + u[998] * 10]


def test_a_bool_indexes_a_tuple_as_the_int_it_equals(dev, tmp_path):
    # `T[True]` was refused with "a tuple index must be a constant within range"; Python reads a bool index
    # as the int it equals, of a constant tuple, a tuple of run-time numbers and where a shape needs the item
    m = load_source(tmp_path, PRELUDE + """

FLAG = True


@ws.jit
def kern(out, x):
    t = (x[0], x[1], x[2])
    yes = True
    out[0] = T[True] * 100 + T[False]
    out[1] = t[True] * 100 + t[False] + t[-True]
    out[2] = T[FLAG] + t[yes] * 1000
    buf = ws.local.array(T[False], np.int32)
    out[3] = len(buf)
    out[4] = (T[True:] + t[:True])[-True]
""")
    x = np.array([3, -7, 5], np.int32)
    (got,) = run_on_one_block(dev, m.kern, np.zeros(5, np.int32), x)[:1]
    T, t = (10, 20, 30, 40), (3, -7, 5)
    assert got.tolist() == [T[True] * 100 + T[False], t[True] * 100 + t[False] + t[-True], T[True] + t[True] * 1000,
                            T[False], (T[True:] + t[:True])[-True]]


def test_a_numpy_bool_tuple_index_is_refused_as_python_refuses_it(dev, tmp_path):
    # Python: "tuple indices must be integers or slices, not numpy.bool"; the compiler takes no other answer
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, n):
    out[0] = T[np.True_]
""")
    with pytest.raises(TypeError):
        (10, 20)[np.True_]
    error = compile_error(dev, m.kern, np.zeros(2, np.int32), 3)
    assert "a tuple index must be" in str(error), str(error)


@pytest.mark.parametrize("body", [
    "buf = ws.local.array(len((1, 2) * B), np.float32)",   # a shape: it gave 2 elements
    "buf = ws.local.array(len(B * T), np.float32)",
    "out[1] = len((n, n) * B)",
    "out[1] = len(T * B)",
    "out[1] = int(T * B == T)",
])
def test_a_tuple_repeated_by_a_numpy_bool_is_refused_as_python_refuses_it(dev, tmp_path, body):
    # fuzz44: `(1, 2) * np.True_` raises TypeError in Python (np.bool_ has no __index__); as a local array's
    # shape the compiler took it as 1 copy
    with pytest.raises(TypeError):
        (1, 2) * np.True_
    m = load_source(tmp_path, PRELUDE + f"""
B = np.True_


@ws.jit
def kern(out, n):
    {body}
    out[0] = 0
""")
    compile_error(dev, m.kern, np.zeros(2, np.int32), 3)


@pytest.mark.parametrize("body", ["out[1] = len((1, 2) * 2147483647)", "t = (n, n) * 2**20\n    out[1] = t[0]"])
def test_a_tuple_too_long_to_unroll_is_a_compile_error(dev, tmp_path, body):
    # fuzz44: `(1, 2) * 2147483647` raised a bare MemoryError from the compiler (Python raises one too); a tuple's
    # items are unrolled when compiling, so more than MAX_TUPLE_ITEMS of them is refused at the line
    message = compile_error_message(dev, tmp_path, body)
    assert "more than the 1048576 a kernel's tuple may have" in message, message


def test_a_tuple_indexed_by_a_range_loops_variable_is_told_how_to_unroll_and_the_hinted_loops_compute_right(
        dev, tmp_path):
    # user46: `for k in range(4): ws.has_neighbor(DIRS[k])` said only "must be a constant within range"; a new
    # user could not tell why a loop counter from 0 to 3 is no constant. The message says which loops unroll,
    # and those loops give Python's result; an index outside the tuple says that instead.
    assert "a `range` loop is not unrolled" in compile_error_message(
        dev, tmp_path, "for k in range(4):\n        out[1] += T[k]")
    assert "5 is outside a tuple of 4 items" in compile_error_message(dev, tmp_path, "out[1] = T[5]")
    # user53: indexed by an argument (`OFFSETS[j]`, j passed at launch), no loop in sight: the message named only
    # the range loop; it now also says that an argument is no constant and how to pick an item at run time
    by_argument = compile_error_message(dev, tmp_path, "out[1] = T[n]")
    assert "nor is an argument a constant" in by_argument and "make the tuple an array" in by_argument
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, n):
    a = 0
    for k in (0, 1, 2, 3):
        a += T[k] * (k + 1)
    b = 0
    for k, v in enumerate(T):
        b += v * (k + 1) + n
    out[0] = a
    out[1] = b
""")
    (got,) = run_on_one_block(dev, m.kern, np.zeros(2, np.int32), 3)[:1]
    T = (10, 20, 30, 40)
    assert got.tolist() == [sum(T[k] * (k + 1) for k in range(4)), sum(v * (k + 1) + 3 for k, v in enumerate(T))]
