"""Bounds-check elimination (`wafersim.compiler.passes.bounds`) of slices stepped through a 1-D array in a
loop, `a[j * n:j * n + n]`: the checks the loop's range proves go (fewer instructions, NumPy's results),
the others stay and still stop the kernel at the slice's line (hand-built IR of the rules: the end of
tests/test_compiler_opt.py; random loops: tests/test_compiler_fuzz_bounds.py)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import wafersim as ws
from wafersim.compiler import PASSES, compile_kernel, loop_body
from wafersim.compiler.passes.bounds import _highest_tested, eliminate_range_checks
from wafersim.compiler.passes.cleanup import eliminate_dead_code

from test_compiler_opt import Builder

N = 32  # columns: past the unrolling limit (16 trips), so the loop stays a loop


@ws.jit
def columns_1d(a_cols, x, y, n: ws.constant):
    """y = A @ x, A column-major in a 1-D local array: column j is a[j * n:j * n + n]."""
    a = ws.local.array(n * n, np.float32)
    xv = ws.local.array(n, np.float32)
    yv = ws.local.array(n, np.float32)
    a[0:n * n] = a_cols[0:n * n]
    xv[0:n] = x[0:n]
    yv[0:n] = 0.0
    for j in range(n):
        yv[0:n] = a[j * n:j * n + n] * xv[j] + yv[0:n]
    y[0:n] = yv[0:n]


@ws.jit
def columns_2d(a_cols, x, y, n: ws.constant):
    """The same with a 2-D local array, a[j, 0:n] (no run-time check: the row index is the loop's)."""
    a = ws.local.array((n, n), np.float32)
    xv = ws.local.array(n, np.float32)
    yv = ws.local.array(n, np.float32)
    for j in range(n):
        a[j, 0:n] = a_cols[j * n:j * n + n]
    xv[0:n] = x[0:n]
    yv[0:n] = 0.0
    for j in range(n):
        yv[0:n] = a[j, 0:n] * xv[j] + yv[0:n]
    y[0:n] = yv[0:n]


@ws.jit
def shifted_windows(x, y, stop: ws.constant, shift: ws.constant, span: ws.constant):
    """Sums of x[j * 2 + shift:j * 2 + shift + span] over j < stop (a constant or a run-time value)."""
    t = ws.local.array(64, np.float32)
    acc = ws.local.array(8, np.float32)
    t[0:64] = x[0:64]
    acc[0:8] = 0.0
    for j in range(stop):
        acc[0:span] = t[j * 2 + shift:j * 2 + shift + span] + acc[0:span]
    y[0:8] = acc[0:8]


def _reference_matvec(a_cols: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The kernels' order: y = ((0 + a0 x0) + a1 x1) + ..., each product and sum rounded to float32."""
    y = np.zeros(N, np.float32)
    for j in range(N):
        y = a_cols[j * N:(j + 1) * N] * x[j] + y
    return y


def _without_bounds_pass(kernel, args, dev) -> ws.KernelStats:
    signature, words = kernel.signature_of(args)
    signature = kernel.with_constants(signature, args)
    compiled = compile_kernel(kernel.py_func, signature, dev.spec,
                              passes=[(name, run) for name, run in PASSES if name != "bounds"])
    return dev.launch(compiled.program, (1, 1), (1, 1), words)


@ws.jit
def shifted_windows_run_time(x, y, stop, shift: ws.constant, span: ws.constant):
    """shifted_windows with `stop` known only at run time."""
    t = ws.local.array(64, np.float32)
    acc = ws.local.array(8, np.float32)
    t[0:64] = x[0:64]
    acc[0:8] = 0.0
    for j in range(stop):
        acc[0:span] = t[j * 2 + shift:j * 2 + shift + span] + acc[0:span]
    y[0:8] = acc[0:8]


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=1, height=1))


def test_column_slices_of_a_1d_array_lose_their_checks_and_match_numpy(dev):
    rng = np.random.default_rng(0)
    a_cols = rng.standard_normal(N * N).astype(np.float32)
    x = rng.standard_normal(N).astype(np.float32)
    d_a, d_x, d_y = dev.to_device(a_cols), dev.to_device(x), dev.device_array(N)
    stats = columns_1d[1, 1](d_a, d_x, d_y, N)
    np.testing.assert_array_equal(d_y.copy_to_host(), _reference_matvec(a_cols, x))
    body = loop_body(columns_1d.inspect_asm())
    assert not any(line.startswith(("chk", "mul", "sub")) for line in body), body
    # without the pass: three checks, the multiply and the subtraction of each trip stay (5 instructions)
    kept = _without_bounds_pass(columns_1d, (d_a, d_x, d_y, N), dev)
    np.testing.assert_array_equal(d_y.copy_to_host(), _reference_matvec(a_cols, x))
    assert kept.instructions - stats.instructions >= 5 * N
    assert kept.cycles > stats.cycles
    # as cheap a column as the 2-D array's a[j, 0:n]: the same loop, instruction for instruction
    columns_2d[1, 1](d_a, d_x, d_y, N)
    np.testing.assert_array_equal(d_y.copy_to_host(), _reference_matvec(a_cols, x))
    opcodes = lambda lines: [line.split()[0] for line in lines if not line.endswith(":")]  # noqa: E731
    assert opcodes(body) == opcodes(_fma_loop(columns_2d.inspect_asm()))


def _fma_loop(asm: str) -> list[str]:
    """The body of the loop that holds the vector multiply-add."""
    while True:
        body = loop_body(asm)
        if any(line.startswith("vfma") for line in body):
            return body
        asm = asm.split(body[-1], 1)[1]


@pytest.mark.parametrize("shift, span, stop, dropped", [
    (0, 8, 29, 3),   # the last window, x[56:64], ends at the array's end: all three checks proved
    (1, 8, 28, 3),   # x[55:63]
    (1, 8, 29, 2),   # x[57:65] on the last trip: the end's check stays (and fails)
    (-1, 4, 20, 2),  # x[-1:3] on the first trip: the start's check stays (and fails)
    (0, 8, None, 1),  # a run-time stop proves nothing about j * 2: only the length's check goes (constprop: 8)
])
def test_window_checks_go_only_where_the_range_proves_them(dev, shift, span, stop, dropped):
    x = np.arange(64, dtype=np.float32)
    kernel = shifted_windows if stop is not None else shifted_windows_run_time
    trips = range(stop if stop is not None else 29)
    y = dev.device_array(8)
    args = (dev.to_device(x), y, len(trips), shift, span)
    if any(not 0 <= j * 2 + shift <= j * 2 + shift + span <= 64 for j in trips):
        with pytest.raises(ws.MemoryAccessError, match=r"^t slice (start|end) .*test_compiler_opt_bounds.py:\d+$"):
            kernel[1, 1](*args)
    else:
        kernel[1, 1](*args)
        want = np.zeros(8, np.float32)
        for j in trips:
            want[:span] = x[j * 2 + shift:j * 2 + shift + span] + want[:span]
        np.testing.assert_array_equal(y.copy_to_host(), want)
    checks = sum(line.startswith("chk") for line in loop_body(kernel.inspect_asm()))
    assert checks == 3 - dropped


# ----------------------------------------------------------------------------- counters in lockstep (hand-built IR)
def _lockstep_loop(bound: int, k_step: int = 8, k_start_apart: bool = False, k_step_apart: bool = False):
    """`i = 0; k = 8` then `while i < 10: chk k, bound; i += 1; k += k_step`: k == k_step * i + 8 at the
    test, so k <= 9 * k_step + 8 (with k's start in another block, or its step in another block than i's:
    no relation is shown). Returns the builder and the check."""
    b = Builder()
    b.op("li", d="n", imm=bound)
    b.op("li", d="i", imm=0)
    if k_start_apart:
        b.op("jmp", target="start_k")
        b.place("start_k")
    b.op("li", d="k", imm=8)
    b.op("jmp", target="test")
    b.place("top")
    check = b.op("chk", a="k", b="n", imm=1)
    b.op("addi", d="i", a="i", imm=1)
    if k_step_apart:
        b.op("jmp", target="step_k")
        b.place("step_k")
    b.op("addi", d="k", a="k", imm=k_step)
    b.place("test")
    b.op("slti", d="c", a="i", imm=10)
    b.op("bnz", a="c", target="top")
    b.op("st", d="k", a=0, imm=0)
    b.op("halt")
    return b, check


@pytest.mark.parametrize("bound, k_step, apart, dropped", [
    (81, 8, "", True), (80, 8, "", False),  # k is at most 9 * 8 + 8 = 80 in the loop
    (81, 9, "", False), (90, 9, "", True),  # k steps by 9: at most 89
    (81, 8, "start", False), (81, 8, "step", False),  # k's start or step apart from i's: kept
    (81, -8, "", False),  # k goes down: 8 - 8 * 9 < 0
])
def test_a_counter_in_lockstep_with_the_tested_one_is_proved_from_its_range(bound, k_step, apart, dropped):
    b, check = _lockstep_loop(bound, k_step, apart == "start", apart == "step")
    eliminate_range_checks(b.fn)
    assert (check not in b.fn.ops) == dropped
    values = [8 + k_step * i for i in range(10)]  # (plain Python: k at each check)
    assert dropped <= all(0 <= v < bound for v in values)


def test_dead_code_drops_a_counter_read_only_by_its_own_step():
    """What a dropped check leaves: `addi k, k, 8` with nothing else reading k (a store reads j: kept)."""
    b = Builder()
    b.op("li", d="j", imm=0)
    b.op("li", d="k", imm=0)
    b.place("top")
    k_step = b.op("addi", d="k", a="k", imm=8)
    b.op("addi", d="j", a="j", imm=1)
    b.op("slti", d="c", a="j", imm=10)
    b.op("bnz", a="c", target="top")
    b.op("st", d="j", a=0, imm=0)
    b.op("halt")
    eliminate_dead_code(b.fn)
    assert k_step not in b.fn.ops and not any(op.writes() is b.r("k") for op in b.fn.instructions())
    assert any(op.writes() is b.r("j") and op.op == "addi" for op in b.fn.instructions())


# ----------------------------------------------------------------------------- adversarial loops (review42)
# Loops of 40 trips (past the unrolling limit: they stay loops) whose indices the proof must get exactly right:
# in bounds on every trip (the checks it drops must be the ones that hold: the result is plain Python's), or
# off the array on some trip by one element (the kernel must stop with the MemoryAccessError it gives
# without the pass).
TRIPS = 40


@ws.jit
def two_steps_a_trip(out, gap: ws.constant):
    """`i` stepped twice a trip of a while loop, read after each step."""
    t = ws.local.array(41, np.float32)
    t[0:41] = 0.0
    i = 0
    while i < 40:
        t[i] = t[i] + 1.0
        i += 1
        t[i + gap] = t[i + gap] + 2.0
        i += 1
    out[0:41] = t[0:41]


@ws.jit
def counting_down(out, top: ws.constant, trips: ws.constant):
    t = ws.local.array(40, np.float32)
    t[0:40] = 0.0
    for j in range(trips):
        t[top - j] = t[top - j] + 1.0
    out[0:40] = t[0:40]


@ws.jit
def shifted_start(out, start: ws.constant, shift: ws.constant):
    t = ws.local.array(40, np.float32)
    t[0:40] = 0.0
    for j in range(start, 40):
        t[j + shift] = t[j + shift] + 1.0
    out[0:40] = t[0:40]


@ws.jit
def add_one(t, index):
    t[index] = t[index] + 1.0


@ws.jit
def through_a_device_function(out, shift: ws.constant, size: ws.constant):
    t = ws.local.array(size, np.float32)
    t[0:size] = 0.0
    for j in range(40):
        add_one(t, j + shift)
    out[0:size] = t[0:size]


@ws.jit
def reassigned_counter(out, shift: ws.constant, size: ws.constant):
    """The loop's variable reassigned in the body (the range goes on as Python's does)."""
    t = ws.local.array(size, np.float32)
    t[0:size] = 0.0
    for j in range(40):
        j = j * 2 + shift
        t[j] = t[j] + 1.0
    out[0:size] = t[0:size]


@ws.jit
def index_of_the_last_trip(out, size: ws.constant):
    """An index carried from the trip before (2 * (j - 1)), which the loop's own test does not bound."""
    t = ws.local.array(size, np.float32)
    t[0:size] = 0.0
    k = 0
    for j in range(40):
        t[k] = t[k] + 1.0
        k = j * 2
    out[0:size] = t[0:size]


@ws.jit
def stepped_range(out, start: ws.constant, step: ws.constant, shift: ws.constant):
    """A range stepped by more than 1 (user45: chunks of a long array): its counter passes the test at most at
    the last value the steps reach from the start (156 for range(0, 160, 4)), not at the bound - 1."""
    t = ws.local.array(160, np.float32)
    t[0:160] = 0.0
    for j in range(start, 160, step):
        t[j + shift] = t[j + shift] + 1.0
    out[0:160] = t[0:160]


def _counts(size: int, writes: list[tuple[int, float]]) -> np.ndarray | None:
    """Plain Python: the array after `t[k] += v` for each (k, v), or None where a k is off it."""
    t = np.zeros(size, np.float32)
    for k, v in writes:
        if not 0 <= k < size:
            return None
        t[k] += v
    return t


def _two_steps_writes(gap: int) -> list[tuple[int, float]]:
    writes = []
    for i in range(0, 40, 2):
        writes += [(i, 1.0), (i + 1 + gap, 2.0)]
    return writes


ADVERSARIAL = [  # (kernel, constants, the array's size, plain Python's writes, whether checks are dropped)
    (two_steps_a_trip, (0,), 41, _two_steps_writes(0), True),  # i + 1 <= 39 + 1 < 41
    (two_steps_a_trip, (1,), 41, _two_steps_writes(1), True),  # t[40] at most: the last element
    (two_steps_a_trip, (2,), 41, _two_steps_writes(2), True),  # t[41] on the last trip
    (counting_down, (39, 40), 40, [(39 - j, 1.0) for j in range(40)], True),
    (counting_down, (40, 40), 40, [(40 - j, 1.0) for j in range(40)], False),  # t[40] first
    (counting_down, (38, 40), 40, [(38 - j, 1.0) for j in range(40)], False),  # t[-1] last
    (shifted_start, (3, -3), 40, [(j - 3, 1.0) for j in range(3, 40)], True),
    (shifted_start, (3, -4), 40, [(j - 4, 1.0) for j in range(3, 40)], False),  # t[-1] first
    (shifted_start, (-1, 1), 40, [(j + 1, 1.0) for j in range(-1, 40)], False),  # t[40] last
    (through_a_device_function, (1, 41), 41, [(j + 1, 1.0) for j in range(40)], True),
    (through_a_device_function, (1, 40), 40, [(j + 1, 1.0) for j in range(40)], False),
    (through_a_device_function, (-1, 40), 40, [(j - 1, 1.0) for j in range(40)], False),
    (reassigned_counter, (1, 80), 80, [(2 * j + 1, 1.0) for j in range(40)], True),
    (reassigned_counter, (2, 80), 80, [(2 * j + 2, 1.0) for j in range(40)], False),
    (index_of_the_last_trip, (77,), 77, [(0, 1.0)] + [(2 * j, 1.0) for j in range(39)], False),
    (index_of_the_last_trip, (76,), 76, [(0, 1.0)] + [(2 * j, 1.0) for j in range(39)], False),
    (stepped_range, (0, 4, 3), 160, [(j + 3, 1.0) for j in range(0, 160, 4)], True),  # t[159] last
    (stepped_range, (0, 4, 4), 160, [(j + 4, 1.0) for j in range(0, 160, 4)], False),  # t[160] last
    (stepped_range, (1, 4, 2), 160, [(j + 2, 1.0) for j in range(1, 160, 4)], True),  # 157 + 2
    (stepped_range, (1, 4, 3), 160, [(j + 3, 1.0) for j in range(1, 160, 4)], False),  # 157 + 3
    (stepped_range, (0, 3, 0), 160, [(j, 1.0) for j in range(0, 160, 3)], True),  # 159: the bound - 1
    (stepped_range, (0, 3, 1), 160, [(j + 1, 1.0) for j in range(0, 160, 3)], False),  # t[160] last
    (stepped_range, (2, 3, 1), 160, [(j + 1, 1.0) for j in range(2, 160, 3)], True),  # 158 + 1
    (stepped_range, (2, 3, 2), 160, [(j + 2, 1.0) for j in range(2, 160, 3)], False),  # 158 + 2
]


def _checks(kernel, args, dev, passes=None) -> int:
    signature, _ = kernel.signature_of(args)
    compiled = compile_kernel(kernel.py_func, kernel.with_constants(signature, args), dev.spec, passes=passes)
    return sum(line.split()[0] == "chk" for line in compiled.asm_text.splitlines() if line.split())


@pytest.mark.parametrize("kernel, constants, size, writes, dropped", ADVERSARIAL,
                         ids=[f"{case[0].__name__}{case[1]}" for case in ADVERSARIAL])
def test_adversarial_loops_keep_the_checks_that_can_fail(dev, kernel, constants, size, writes, dropped):
    out = dev.device_array(size)
    args = (out, *constants)
    want = _counts(size, writes)
    if want is None:
        with pytest.raises(ws.MemoryAccessError, match=r"test_compiler_opt_bounds.py:\d+$"):
            kernel[1, 1](*args)
    else:
        kernel[1, 1](*args)
        np.testing.assert_array_equal(out.copy_to_host(), want)
    kept, without = _checks(kernel, args, dev), _checks(kernel, args, dev, [(n, r) for n, r in PASSES if n != "bounds"])
    assert (kept < without) == dropped


@pytest.mark.parametrize("starts, steps, limit", [
    ((0,), (16,), 512), ((1,), (4,), 160), ((0, 1), (4,), 160), ((2,), (3,), 160), ((0,), (4, 6), 100),
    ((5,), (1,), 40), ((200,), (16,), 100), ((0, 300), (8,), 100),
])
def test_the_highest_tested_value_is_the_last_one_the_steps_reach(starts, steps, limit):
    reached = set()
    frontier = set(starts)
    while frontier:  # plain Python: every value a start plus any sequence of the steps gives below the limit
        reached |= frontier
        frontier = {v + step for v in frontier for step in steps if v + step < limit} - reached
    tested = [v for v in reached if v < limit]
    assert _highest_tested(list(starts), [(0, step) for step in steps], limit) == max(tested, default=limit - 1)


# review46: chunk loops (user45's stepped ranges) that the pass proves, or must not: slices `t[c + s:c + s + w]` of
# widths other than the step, steps that do not divide the bound, several starts and steps a trip, `break`, nested
# chunks, counting down, ranges that end near 2**31. Each runs with and without the pass: the same words, or the
# same error, and plain Python's slices (an access past the array is a MemoryAccessError at its line).
CHUNK_SIZE = 96


@ws.jit
def chunks(out, start: ws.constant, stop: ws.constant, step: ws.constant, w: ws.constant, shift: ws.constant):
    t = ws.local.array(96, np.float32)
    t[0:96] = 0.0
    for c in range(start, stop, step):
        t[c + shift:c + shift + w] = t[c + shift:c + shift + w] + 1.0
    out[0:96] = t[0:96]


@ws.jit
def nested_chunks(out, outer: ws.constant, inner: ws.constant, w: ws.constant, shift: ws.constant):
    t = ws.local.array(96, np.float32)
    t[0:96] = 0.0
    for a in range(0, 96, outer):
        for b in range(a, a + outer, inner):
            t[b + shift:b + shift + w] = t[b + shift:b + shift + w] + 1.0
    out[0:96] = t[0:96]


@ws.jit
def chunks_until(out, step: ws.constant, w: ws.constant, until: ws.constant):
    t = ws.local.array(96, np.float32)
    t[0:96] = 0.0
    for c in range(0, 96, step):
        if c >= until:
            break
        t[c:c + w] = t[c:c + w] + 1.0
    out[0:96] = t[0:96]


@ws.jit
def two_strides(out, long: ws.constant, short: ws.constant, w: ws.constant, limit: ws.constant):
    """A counter stepped by one of two strides a trip (the pass's gcd of the steps)."""
    t = ws.local.array(96, np.float32)
    t[0:96] = 0.0
    i = 0
    k = 0
    while i < limit:
        t[i:i + w] = t[i:i + w] + 1.0
        if k % 3 == 1:
            i += long
        else:
            i += short
        k += 1
    out[0:96] = t[0:96]


@ws.jit
def near_the_int32_limit(out, start: ws.constant, stop: ws.constant, step: ws.constant, w: ws.constant):
    """Chunks of a range ending near 2**31 - 1, placed from 2**31 - 97 on (no wrap-around in Python's range)."""
    t = ws.local.array(96, np.float32)
    t[0:96] = 0.0
    for c in range(start, stop, step):
        t[c - 2147483551:c - 2147483551 + w] = t[c - 2147483551:c - 2147483551 + w] + 1.0
    out[0:96] = t[0:96]


def _slices(spans) -> np.ndarray | None:
    """Plain Python: the array after `t[lo:hi] += 1` for each span, or None where one is off it."""
    t = np.zeros(CHUNK_SIZE, np.float32)
    for lo, hi in spans:
        if not 0 <= lo <= hi <= CHUNK_SIZE:
            return None
        t[lo:hi] += 1.0
    return t


def _two_strides_spans(long, short, w, limit):
    spans, i, k = [], 0, 0
    while i < limit:
        spans.append((i, i + w))
        i, k = i + (long if k % 3 == 1 else short), k + 1
    return spans


_TOP = 2**31 - 1
CHUNKS = [  # (kernel, constants, plain Python's spans)
    *((chunks, (start, stop, step, w, shift), [(c + shift, c + shift + w) for c in range(start, stop, step)])
      for start, stop, step, w, shift in [
          (0, 96, 4, 4, 0), (0, 96, 5, 5, 0), (1, 96, 5, 4, 0), (0, 93, 4, 5, 0), (0, 93, 4, 4, 0), (3, 96, 7, 3, 1),
          (3, 96, 7, 2, 1), (0, 90, 32, 8, -1), (3, 97, 32, 8, 2), (1, 96, 3, 1, 2), (0, 96, 3, 4, -1),
          (0, 97, 4, 1, 0), (1, 93, 4, 5, -1), (0, 96, 32, 33, 0)]),
    *((nested_chunks, (outer, inner, w, shift), [(b + shift, b + shift + w) for a in range(0, 96, outer)
                                                 for b in range(a, a + outer, inner)])
      for outer, inner, w, shift in [(16, 4, 4, 0), (16, 5, 5, 0), (12, 5, 3, 1), (12, 4, 4, 1)]),
    *((chunks_until, (step, w, until), [(c, c + w) for c in range(0, min(96, until), step)])
      for step, w, until in [(4, 4, 200), (5, 5, 90), (5, 5, 100), (7, 9, 90), (7, 9, 85)]),
    *((two_strides, (long, short, w, limit), _two_strides_spans(long, short, w, limit))
      for long, short, w, limit in [(6, 4, 2, 96), (6, 4, 3, 96), (9, 6, 4, 93), (9, 6, 3, 93), (4, 2, 1, 95)]),
    *((near_the_int32_limit, (start, stop, step, w), [(c - 2147483551, c - 2147483551 + w)
                                                      for c in range(start, stop, step)])
      for start, stop, step, w in [(_TOP - 95, _TOP, 4, 4), (_TOP - 95, _TOP, 4, 5), (_TOP - 90, _TOP - 1, 16, 1),
                                   (_TOP - 95, _TOP, 2**30, 4)]),
]


@pytest.mark.parametrize("kernel, constants, spans", CHUNKS,
                         ids=[f"{case[0].__name__}{case[1]}" for case in CHUNKS])
def test_chunk_loops_match_python_with_and_without_the_pass(dev, kernel, constants, spans):
    want = _slices(spans)
    outcomes = []
    for passes in (None, [(n, r) for n, r in PASSES if n != "bounds"]):
        out = dev.device_array(CHUNK_SIZE)
        signature, words = kernel.signature_of((out, *constants))
        compiled = compile_kernel(kernel.py_func, kernel.with_constants(signature, (out, *constants)), dev.spec,
                                  passes=passes)
        try:
            dev.launch(compiled.program, (1, 1), (1, 1), words)
            outcomes.append(out.copy_to_host())
        except ws.MemoryAccessError as error:
            assert re.search(r"test_compiler_opt_bounds.py:\d+$", str(error)), error
            outcomes.append(None)
    for got in outcomes:
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)
