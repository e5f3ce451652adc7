"""Differential fuzzing of the `@ws.jit` compiler: loop counters near the int32 bounds, the values the other
fuzzers (small constants, tests/test_compiler_fuzz_control.py) do not draw, where the loop passes
(unrolling, strength reduction, bounds-check elimination, constant propagation) compute trip counts and
steps in Python ints and must give what the machine's 32-bit arithmetic gives.

Each kernel runs one to three loops in sequence: `while i < stop:` with the counter stepped first or last
in the body, `for i in range(start, stop, step)` with constant bounds, and the same with bounds known only
at run time; starts, stops and steps are drawn from the int32 edges (2**31 - 1, -2**31 and their
neighbours, steps up to 2**31 - 1). The bodies accumulate derived induction expressions (`i * c + d`,
`i << k`) and read and write a local array at `i & 7`. The reference is the same body run in Python on
np.int32 scalars (docs/python-supported.md: int32 arithmetic wraps as NumPy's; `range` counts as Python's).
A `while` counter whose step wraps past 2**31 - 1 to a negative value passes its test again: where the
int32 counter does not reach its bound within `ENDLESS_TRIPS`, the kernel must run into `max_cycles`
(`CycleLimitError`), not stop with a made-up final value. WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it
as the other fuzz tests.
"""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from conftest import compiler_fuzz_settings, load_source

import wafersim as ws

EDGES = [0, 1, 3, 7, 100, 8191, 8192, -8193, 65536, 2**30, 2**30 - 3, -5, -1,
         2**31 - 1, 2**31 - 2, 2**31 - 5, 2**31 - 10, 2**31 - 100, -2**31, -2**31 + 1, -2**31 + 7]
STEPS = [1, 2, 3, 5, 7, 8191, 8192, 100000, 2**30, 2**31 - 1]
MAX_TRIPS = 24  # trips of a loop that ends (more: the example is discarded)
ENDLESS_TRIPS = 5000  # a while counter still below its bound after this many is taken as never ending
MAX_CYCLES = 10_000  # below ENDLESS_TRIPS x the 3 instructions (step, test, branch) of the smallest trip

FUZZ = compiler_fuzz_settings(12)


def wrap(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def while_trips(start: int, stop: int, step: int) -> int | None:
    """Trips of `i = start; while i < stop: i += step` in int32 arithmetic; None past ENDLESS_TRIPS."""
    i, trips = start, 0
    while i < stop:
        trips += 1
        if trips > ENDLESS_TRIPS:
            return None
        i = wrap(i + step)
    return trips


def c(value: int) -> str:
    return f"np.int32({value})"


@st.composite
def loops(draw, index: int) -> dict:
    kind = draw(st.sampled_from(["while_first", "while_last", "range", "range_runtime"]))
    start, stop, step = draw(st.sampled_from(EDGES)), draw(st.sampled_from(EDGES)), draw(st.sampled_from(STEPS))
    near = draw(st.sampled_from(["stop", "start", "top", "none"]))  # a few trips: one bound near the other
    if near == "top":  # both just below 2**31 - 1: the step past the last trip may wrap
        stop = 2**31 - 1 - draw(st.integers(0, 2))
        start = stop - draw(st.integers(1, 20))
    elif near == "stop":
        stop = wrap(start + draw(st.integers(-3, 40)))
    elif near == "start":
        start = wrap(stop - draw(st.integers(1, 20)))
    trips = while_trips(start, stop, step) if kind.startswith("while") else len(range(start, stop, step))
    assume(trips is None or trips <= MAX_TRIPS)
    i = f"i{index}"
    forms = [f"s = s ^ ({i} * {c(draw(st.sampled_from([2, 3, 5000, -7, 2**20])))} + "
             f"{c(draw(st.sampled_from([0, 7, -3, 2**30, 8191])))})",
             f"u = u + ({i} << {c(draw(st.sampled_from([0, 1, 5, 20, 31])))}) - {c(draw(st.sampled_from([1, 2**30])))}",
             f"buf[{i} & {c(7)}] = buf[({i} + {c(3)}) & {c(7)}] + {i}",
             f"if {i} > {c(draw(st.sampled_from(EDGES)))}:\n    s = s + {c(1)}"]
    body = draw(st.lists(st.sampled_from(forms), min_size=1, max_size=4, unique=True))
    body = [line for form in body for line in form.split("\n")]
    return {"kind": kind, "start": start, "stop": stop, "step": step, "body": body, "endless": trips is None}


def source(case: list[dict]) -> tuple[str, dict]:
    """The body text (kernel and reference alike) and the run-time bounds it reads (`a0`, `b0`, ...)."""
    lines = ["s = np.int32(0)", "u = np.int32(0)", "buf = ws.local.array(8, np.int32)"]
    bounds = {}
    for k, loop in enumerate(case):
        i, body = f"i{k}", ["    " + line for line in loop["body"]]
        step = [f"    {i} = {i} + {c(loop['step'])}"]
        if loop["kind"].startswith("while"):
            lines += [f"{i} = {c(loop['start'])}", f"while {i} < {c(loop['stop'])}:"]
            lines += step + body if loop["kind"] == "while_first" else body + step
            lines.append(f"out[{2 + k}] = {i}")
        elif loop["kind"] == "range":
            lines += [f"for {i} in range({c(loop['start'])}, {c(loop['stop'])}, {c(loop['step'])}):"] + body
        else:
            lines += [f"for {i} in range(bounds[{2 * k}], bounds[{2 * k + 1}], {c(loop['step'])}):"] + body
            bounds[2 * k], bounds[2 * k + 1] = loop["start"], loop["stop"]
    lines += ["out[0] = s", "out[1] = u", "for k in range(8):", "    out[8 + k] = buf[k]"]
    return "\n".join("    " + line for line in lines), bounds


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


@FUZZ
@given(case=st.integers(1, 3).flatmap(lambda n: st.tuples(*[loops(k) for k in range(n)])))
def test_loops_with_counters_near_the_int32_bounds_match_numpy_int32(dev, tmp_path_factory, case):
    body, bounds = source(list(case))
    bound_words = np.array([bounds.get(k, 0) for k in range(6)], np.int32)
    module = load_source(tmp_path_factory.mktemp("jit_fuzz_counters"),
                         f"import numpy as np\nimport wafersim as ws\n\n\n@ws.jit\ndef kern(out, bounds):\n{body}\n")
    out = dev.device_array(16, dtype=np.int32)
    launch = lambda: module.kern[1, 1](out, dev.to_device(bound_words), max_cycles=MAX_CYCLES)  # noqa: E731
    if any(loop["endless"] for loop in case):
        with pytest.raises(ws.CycleLimitError):
            launch()
        return
    launch()
    namespace = {"np": np}
    exec("def reference(out, bounds):\n" + body.replace("ws.local.array(8, np.int32)", "np.zeros(8, np.int32)"),
         namespace)
    expected = np.zeros(16, np.int32)
    with np.errstate(over="ignore"):
        namespace["reference"](expected, bound_words)
    assert out.copy_to_host().tolist() == expected.tolist(), body


_STEPS = tuple(range(256))  # (a tuple loop: 256 `i += 4096` in one block, folded into one add of 2**20)


@ws.jit
def _counter_stepped_in_an_inner_loop(out, trips):
    i = 5
    while i < out.shape[0]:
        out[i] = i
        j = 0
        while j < trips:
            for _ in _STEPS:
                i += 4096
            j += 1


def _stepped_in_an_inner_loop_reference(out, trips):
    """The kernel's body over NumPy int32 (an inner trip adds 2**20 at once: the same sums, wrapped)."""
    i = np.int32(5)
    while i < out.shape[0]:
        out[i] = i
        i = np.int32(i + np.int32(trips) * np.int32(2**20))


def test_a_dropped_bounds_check_never_sees_a_wrapped_counter(dev):
    """Bounds-check elimination drops `chk i, n` under `while i < n` only where `i += step` cannot wrap to a
    negative value that passes the test again (compiler/passes/bounds.py). An inner loop stepping the counter
    took it from 5 by 3 * 2**30 to -2**30 + 5, whose address (4 bytes a word, 32 bits) is out[5]'s: the
    dropped check let the kernel write out[5] without an error, where NumPy's int32 raises IndexError."""
    out, reference = dev.to_device(np.zeros(16, np.int32)), np.zeros(16, np.int32)
    with np.errstate(over="ignore"), pytest.raises(IndexError, match=r"index (-\d+) is out of bounds") as numpy:
        _stepped_in_an_inner_loop_reference(reference, 3 * 2**10)
    wrapped = numpy.value.args[0].split()[1]  # (-2**30 + 5)
    with pytest.raises(ws.MemoryAccessError, match=f"out axis 0: index {wrapped} is out of bounds for size 16"):
        _counter_stepped_in_an_inner_loop[1, 1](out, 3 * 2**10, max_cycles=10**6)
