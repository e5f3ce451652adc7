"""`for` over range() (compiler/for_loops.py and the passes that fold and unroll its loops), against Python.

A range whose counter could pass an int32 bound after its last value is compiled in an overflow-safe
(guarded) shape; once constant propagation knows its bounds, the unroller must unroll it as it unrolls the
plain shape, and the trip count must still be Python's for every int32 start, stop and step. The property
test draws such ranges (near the bounds included) and compiles each four ways: bounds written out as
constants, bounds in variables assigned twice (registers the front end cannot read, folded only by the
optimiser's constant propagation), bounds given at run time, and a constant step with the start and stop
given at run time.
"""
from __future__ import annotations

import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source, run_on_one_block

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
CAP = 12  # trips recorded (a loop that would run longer breaks there: a wrapped counter shows as extra trips)

PRELUDE = """import numpy as np
import wafersim as ws
"""

KERNEL = """

@ws.jit
def kern(out, info, start, stop, step):
{setup}    count = 0
    for j in range({a}, {b}, {c}):
{guard}        out[count] = j
        count += 1
    info[0] = count
"""
# Only where the range has more values than recorded (a loop with a break is not unrolled; the counter of
# a shorter one must run out by itself, in the unrolled copies as in the loop).
GUARD = f"""        if count == {CAP}:
            break
"""

_SOURCES = tempfile.TemporaryDirectory(prefix="wafersim_for_loops_")


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=2, height=2))


def compiled(setup: str, a: str, b: str, c: str, guard: bool = True):
    source = KERNEL.format(setup=setup, a=a, b=b, c=c, guard=GUARD if guard else "")
    return load_source(_SOURCES.name, PRELUDE + source).kern


RUN_TIME = compiled("", "start", "stop", "step")


def python_reference(start: int, stop: int, step: int) -> tuple[list[int], int]:
    """What the kernel records, by Python's range: the first CAP values and their count."""
    values = list(range(start, stop, step)[:CAP])
    return values, len(values)


def run(dev, kernel, start: int, stop: int, step: int) -> tuple[list[int], int]:
    out, info = run_on_one_block(dev, kernel, np.zeros(CAP, np.int32), np.zeros(1, np.int32), start, stop, step)
    count = int(info[0])
    return out[:count].tolist(), count


near_bounds = st.sampled_from([INT32_MIN, INT32_MIN + 1, INT32_MIN + 3, INT32_MIN + 16, -(2**30), -17, -1, 0, 1,
                               2, 15, 16, 2**30, INT32_MAX - 16, INT32_MAX - 3, INT32_MAX - 1, INT32_MAX])
ints = st.one_of(near_bounds, st.integers(-40, 40), st.integers(INT32_MIN, INT32_MAX))
steps = st.one_of(st.sampled_from([1, -1, 2, -2, 3, 16, -16, 2**30, -(2**30), INT32_MAX, INT32_MIN,
                                   INT32_MIN + 1]), st.integers(-20, 20), st.integers(INT32_MIN, INT32_MAX)
                  ).filter(lambda s: s != 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=ints, stop=ints, step=steps)
@example(start=0, stop=2, step=16)  # the solvers' block reductions: one chunk of 16 over 2 values
@example(start=INT32_MAX - 9, stop=INT32_MAX, step=4)  # the counter would pass INT32_MAX after 2147483646
@example(start=INT32_MIN + 7, stop=INT32_MIN, step=-3)
@example(start=INT32_MIN + 9, stop=INT32_MIN, step=-3)  # the value after the last is the stop itself
@example(start=INT32_MAX - 9, stop=INT32_MAX, step=3)
@example(start=INT32_MAX, stop=INT32_MIN, step=INT32_MIN + 1)
@example(start=-1, stop=INT32_MAX, step=INT32_MAX)
@example(start=5, stop=INT32_MIN, step=INT32_MIN)
def test_ranges_run_as_python_whatever_is_known_when_compiling(dev, start, stop, step):
    want = python_reference(start, stop, step)
    assert run(dev, RUN_TIME, start, stop, step) == want
    long = len(range(start, stop, step)) > CAP
    constants = compiled("", str(start), str(stop), str(step), long)
    assert run(dev, constants, start, stop, step) == want
    # A constant step, the bounds at run time (`range(0, n, 16)`): the limit stop - step saturates at run time.
    assert run(dev, compiled("", "start", "stop", str(step)), start, stop, step) == want
    # Assigned twice: registers when lowering, constants only after the optimiser's constant propagation.
    folded = compiled(f"    a = 0\n    a = {start}\n    b = 0\n    b = {stop}\n    c = 1\n    c = {step}\n",
                      "a", "b", "c", long)
    assert run(dev, folded, start, stop, step) == want


@pytest.mark.parametrize("step", [2, 16, 2**30, INT32_MAX, -2, -16, -(2**30), INT32_MIN])
def test_a_constant_step_saturates_its_run_time_limit_exactly_at_the_bound(dev, step):
    """With the step known and the stop not, the loop runs while the counter is below stop - step, clamped
    so that it cannot wrap: the stops where that difference is the int32 bound itself, or passes it by one
    or two, against Python, from starts at and just inside the bound."""
    kernel = compiled("", "start", "stop", str(step))
    bound = INT32_MIN if step > 0 else INT32_MAX
    for d in (-2, -1, 0, 1):
        stop = bound + step + d if step > 0 else bound + step - d
        if not INT32_MIN <= stop <= INT32_MAX:
            continue
        for start in {bound, bound + (1 if step > 0 else -1), max(INT32_MIN, min(INT32_MAX, stop - step // abs(step)))}:
            assert run(dev, kernel, start, stop, step) == python_reference(start, stop, step), (start, stop)

def branches(kernel) -> list[str]:
    return [line.split()[0] for line in kernel.inspect_asm().splitlines()
            if line.startswith("    ") and line.split()[0] in ("bnz", "bz", "jmp")]


def test_a_guarded_range_over_an_array_length_unrolls_once_its_stop_is_known(dev, tmp_path):
    """`for s in range(0, len(values), 16)` in a device function (the collectives' chunk loops): the stop is
    a register when lowering, so the range is the overflow-safe shape; constant propagation folds its
    saturated limit and the unroller must unroll it as it does a plain range (no loop left, no bounds
    checks of constant indexes), with the results Python gives."""
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def chunks(values, out):
    n = len(values)
    for s in range(0, n, 16):
        e = min(s + 16, n)
        out[s] = values[s] + values[e - 1]
    return 0


@ws.jit
def kern(out):
    v = ws.local.array(3, np.float32)
    v[0] = 1.0
    v[1] = 2.0
    v[2] = 4.0
    chunks(v, out)
""")
    out, = run_on_one_block(dev, m.kern, np.zeros(4, np.float32))
    assert out.tolist() == [5.0, 0.0, 0.0, 0.0]
    assert branches(m.kern) == []
    ops = [line.split()[0] for line in m.kern.inspect_asm().splitlines() if line.startswith("    ")]
    assert ops.count("chk") == 1  # out[0]'s (out's length is known at run time only); v's were dropped


@ws.jit
def shared_test_in_a_loop(x, out, r):
    i = ws.threadIdx.x
    flag = x[i] > 0.0
    before = i >= r  # the same comparison as the loop's: CSE shares it, so the loop's phi reads it
    total = 0.0
    for k in range(2):
        if i >= r and flag:  # (a short circuit: a phi of `i >= r` and `flag` where the branch lands)
            total += x[i] * (k + 1)
    out[i] = total + (1.0 if before else 0.0)


def test_a_loop_whose_branch_edge_copies_left_it_is_made_whole_and_unrolled():
    """Leaving SSA gives the copy a phi needs on a `bz` edge a block of its own at the function's end (the
    short circuit's test is shared with the one before the loop, so it cannot share the phi's register):
    the loop is no longer in one piece. The unroller moves such copies before the branch (the fall-through
    path overwrites them unread) where the loop then unrolls, as a collective's chunk loop with
    `position >= root and has_ahead` did before: no edge block, no back branch, Python's results."""
    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    x = np.array([1.5, -2.0, 3.0, 0.5], np.float32)
    out, = run_on_one_block(dev, shared_test_in_a_loop, x, np.zeros(4, np.float32), 1, block=(4, 1))[1:2]
    want = [sum(float(v) * (k + 1) for k in range(2) if i >= 1 and v > 0) + (1.0 if i >= 1 else 0.0)
            for i, v in enumerate(x)]
    assert out.tolist() == want
    asm = shared_test_in_a_loop.inspect_asm()
    assert "_from" not in asm and "bnz" not in asm  # no edge block; the loop was unrolled (no back branch)


def test_an_unrolled_loop_rebinding_a_tuple_after_a_run_time_continue_or_break_matches_python(tmp_path):
    # `for d in (0, 1, 2): if a > d: continue; t = (t[1], t[0])` was lowered straight on: the rebinding gave
    # `t` new constants (or registers) on the path that skipped it too, so after the loop `t` was the tuple
    # swapped three times, (2, 1), where Python swaps it twice (a = 1): (1, 2); with `t` from run-time values
    # the skipped path left the new registers unwritten (0, 0). A slice variable rebound so is refused.
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, a, b):
    t = (1, 2)
    u = (b, b + 1)
    for d in (0, 1, 2):
        if a > d:
            continue
        t = (t[1], t[0])
        u = (u[0] + 10, u[1])
    out[0], out[1] = t
    out[2], out[3] = u
    w = (5, 6)
    for d in (0, 1, 2):
        if d == a:
            break
        w = (w[1], w[0] * 2)
    out[4], out[5] = w
""")

    def python(a, b):
        t, u = (1, 2), (b, b + 1)
        for d in (0, 1, 2):
            if a > d:
                continue
            t = (t[1], t[0])
            u = (u[0] + 10, u[1])
        w = (5, 6)
        for d in (0, 1, 2):
            if d == a:
                break
            w = (w[1], w[0] * 2)
        return [*t, *u, *w]

    for a in (-1, 0, 1, 2, 3):
        (got,) = run_on_one_block(dev, m.kern, np.zeros(6, np.int32), a, 7)[:1]
        assert got.tolist() == python(a, 7), a


def test_a_loop_over_a_tuple_after_a_run_time_continue_of_an_unrolled_loop_still_compiles(tmp_path):
    # (what follows the `continue` is compiled as a run-time branch, in which an unrolled loop could not reuse a
    # variable bound before it: the inner `r`, bound by the previous item's copy, was refused)
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, a):
    s = 0
    for d in (0, 1, 2):
        if a > d:
            continue
        for r in (10, 20):
            s = s * 3 + r * d
    out[0] = s
""")
    for a in (0, 1, 3):
        s = 0
        for d in (0, 1, 2):
            if a > d:
                continue
            for r in (10, 20):
                s = s * 3 + r * d
        (got,) = run_on_one_block(dev, m.kern, np.zeros(1, np.int32), a)[:1]
        assert got.tolist() == [s], a


def test_a_slice_variable_rebound_after_a_run_time_continue_of_an_unrolled_loop_is_refused(tmp_path):
    # (it was rebound on the skipping path too: `sum(v)` gave the later slice's sum, 3.0, where Python's
    # skipped every rebinding, 1.0)
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, a):
    b = ws.local.array(4, np.float32)
    b[0] = 1.0
    b[2] = 3.0
    v = b[0:2]
    for d in (0, 1):
        if a > d:
            continue
        v = b[2:4]
    out[0] = sum(v)
""")
    with pytest.raises(ws.CompileError, match="'v' was a slice before this branch or loop"):
        run_on_one_block(dev, m.kern, np.zeros(1, np.float32), 5)


def test_an_unrolled_loop_variable_assigned_after_an_earlier_items_run_time_break_matches_python(tmp_path):
    # Every item after a run-time `break` is compiled as a run-time branch, and the loop variable, rebound to the
    # next item's constant there, was taken as bound before it: `k *= v` in the second item was refused ("'k' was
    # an int32 scalar (the constant 1) before this branch or loop"; found by test_compiler_fuzz_control.py)
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    m = load_source(tmp_path, PRELUDE + """

@ws.jit
def kern(out, v, f):
    s = 0
    for k in (2, 1, -1):
        k *= v
        s += k
        if v > 3:
            break
    g = 0.0
    for j, x in enumerate((0.5, 1.5, -2.0)):
        x = x * f + j
        if x > 2.0:
            break
        g += x
    out[0] = s
    out[1] = int(g * 4.0)
""")

    def python(v, f):
        s = 0
        for k in (2, 1, -1):
            k *= v
            s += k
            if v > 3:
                break
        g = 0.0
        for j, x in enumerate((0.5, 1.5, -2.0)):
            x = x * f + j
            if x > 2.0:
                break
            g += x
        return [s, int(g * 4.0)]

    for v, f in ((0, 1.0), (3, 0.5), (4, 2.0), (-5, -1.0), (9, 4.0)):
        (got,) = run_on_one_block(dev, m.kern, np.zeros(2, np.int32), v, f)[:1]
        assert got.tolist() == python(v, f), (v, f)
