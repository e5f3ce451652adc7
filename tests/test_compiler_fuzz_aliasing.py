"""Differential fuzzing of the `@ws.jit` compiler: one device array passed as two parameters (`k[g, b](a, a)`),
which no other fuzzer launches. A kernel may not assume that two parameters name different memory: a load
through `b` after a store through `a` must see the store, so no pass may share (`cse`), hoist (`licm`), sink
(`coalesce`) or forward a global load across a store to another parameter, nor a bulk copy of a row into a
local array across one (docs/python-supported.md: arguments are device arrays "passed by reference").

Each random body runs on every PE over its own row of two 2-D float32 parameters `a` and `b` (so PEs never
share a word): element reads and writes through either name at constant and loop-counter columns, scalar
temporaries, `+=` on elements, counted loops (which the optimiser unrolls, strength-reduces and hoists
from), and bulk row copies into and out of a local array. The reference is the same body text run by Python
on NumPy arrays, with `b` the very array `a` when the launch aliases them (NumPy's element and slice
assignments copy, as the kernel's do), on np.float32 scalars. Every body runs both ways: `a` and `b` one
device array, and two arrays holding the same values. `WAFERSIM_FUZZ_EXAMPLES` / `WS_FUZZ_RANDOM` scale it as
the other fuzz tests.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_compiler_fuzz_arrays import FUZZ

import wafersim as ws
from conftest import load_source

ROWS, COLS = 4, 8
TEMPS = ("t0", "t1")
CONSTANTS = ("0.5", "-1.25", "2.0", "3.0", "0.0")


def _columns(counted: list[str]) -> st.SearchStrategy[str]:
    """A column: mostly one of two (so that loads and stores through `a` and `b` meet), else any, or one the
    loop counter picks."""
    return st.one_of(st.sampled_from(["1", "2"]), st.sampled_from([str(c) for c in range(COLS)] + counted))


@st.composite
def expressions(draw, depth: int, counter: str | None) -> str:
    """A float32 expression over elements of `a` and `b` (at a constant column or at the loop counter's),
    the temporaries and small constants."""
    columns = _columns([f"{counter} % {COLS}", f"({counter} + 3) % {COLS}"] if counter else [])
    leaf = st.one_of(st.builds(lambda n, c: f"{n}[i, {c}]", st.sampled_from("ab"), columns),
                     st.sampled_from(TEMPS), st.sampled_from(CONSTANTS))
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(leaf)
    left, right = draw(expressions(depth - 1, counter)), draw(expressions(depth - 1, counter))
    return f"({left} {draw(st.sampled_from('+-*'))} {right})"


@st.composite
def statements(draw, depth: int, counter: str | None) -> list[str]:
    """One statement (a loop: its lines, indented) of the body."""
    columns = _columns([f"{counter} % {COLS}"] if counter else [])
    kind = draw(st.sampled_from(["store", "store", "augment", "temp", "row_in", "row_out"]
                                + (["loop"] if depth < 2 else [])))
    target = f"{draw(st.sampled_from('ab'))}[i, {draw(columns)}]"
    if kind == "store":
        return [f"{target} = {draw(expressions(2, counter))}"]
    if kind == "augment":
        return [f"{target} {draw(st.sampled_from(['+=', '-=', '*=']))} {draw(expressions(1, counter))}"]
    if kind == "temp":
        # (`F`: np.float32 in the reference, so that a temporary of constants only is a float32 there too)
        return [f"{draw(st.sampled_from(TEMPS))} = F({draw(expressions(2, counter))})"]
    start = draw(st.integers(0, COLS - 1))
    stop = draw(st.integers(start, COLS))
    if kind == "row_in":  # a bulk copy of part of a row into the local array, at the same columns
        return [f"buf[{start}:{stop}] = {draw(st.sampled_from('ab'))}[i, {start}:{stop}]"]
    if kind == "row_out":
        return [f"{draw(st.sampled_from('ab'))}[i, {start}:{stop}] = buf[{start}:{stop}]"]
    inner = f"j{depth}"
    trips = draw(st.sampled_from(["n", "3", "8"]))
    body = [line for _ in range(draw(st.integers(1, 3))) for line in draw(statements(depth + 1, inner))]
    return [f"for {inner} in range({trips}):"] + ["    " + line for line in body]


@st.composite
def bodies(draw) -> list[str]:
    return [line for _ in range(draw(st.integers(2, 6))) for line in draw(statements(0, None))]


def _source(body: list[str]) -> str:
    """The kernel and its reference, one body text: NumPy 2's float32 arithmetic with a Python float is float32
    (NEP 50), so only a temporary of constants alone needs converting (`F`)."""
    text = "\n".join("        " + line for line in body)
    return f'''import numpy as np
import wafersim as ws


@ws.jit
def F(x):
    return x


@ws.jit
def kernel(a, b, n):
    i = ws.grid(1)
    if i < a.shape[0]:
        buf = ws.local.array({COLS}, np.float32)
        t0 = 1.5
        t1 = -0.5
{text}


def reference(a, b, n):
    for i in range(a.shape[0]):
        buf = np.zeros({COLS}, np.float32)
        t0 = np.float32(1.5)
        t1 = np.float32(-0.5)
{text.replace("F(", "np.float32(")}
'''


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_aliasing")


@FUZZ
@given(body=bodies(), values=st.lists(st.sampled_from([0.5, -2.0, 1.0, 3.0, -0.75, 0.0]),
                                      min_size=ROWS * COLS, max_size=ROWS * COLS),
       n=st.integers(0, 5))
def test_one_array_passed_as_two_parameters_computes_as_python_does(dev, gen_dir, body, values, n):
    module = load_source(gen_dir, _source(body))
    host = np.array(values, np.float32).reshape(ROWS, COLS)
    for aliased in (True, False):
        want_a = host.copy()
        want_b = want_a if aliased else host.copy()
        with np.errstate(all="ignore"):
            module.reference(want_a, want_b, n)
        a = dev.to_device(host)
        b = a if aliased else dev.to_device(host)
        module.kernel[1, ROWS](a, b, n)
        for got, want in ((a, want_a), (b, want_b)):
            np.testing.assert_array_equal(got.copy_to_host(), want, err_msg=f"aliased={aliased}\n" + "\n".join(body))


def test_a_load_through_one_parameter_sees_a_store_through_the_other(dev, gen_dir):
    """The shapes the passes would get wrong if they took two parameters for two arrays: a repeated load
    (`cse`), a load in a loop that stores through the other name (`licm`), a row copied in before and after a
    store (a bulk load is no register value either)."""
    module = load_source(gen_dir, _source([
        "t0 = b[i, 1] * 2.0",
        "a[i, 1] = 5.0",
        "t1 = b[i, 1] * 2.0",
        "for j0 in range(n):",
        "    a[i, 2] = a[i, 2] + b[i, 3]",
        "    b[i, 3] = b[i, 3] + 1.0",
        "buf[0:4] = b[i, 0:4]",
        "a[i, 4:8] = buf[0:4]",
        "a[i, 0] = t0 + t1",
    ]))
    host = np.arange(ROWS * COLS, dtype=np.float32).reshape(ROWS, COLS)
    a = dev.to_device(host)
    module.kernel[1, ROWS](a, a, 3)
    want = host.copy()
    module.reference(want, want, 3)
    rows = np.arange(ROWS, dtype=np.float32)[:, None] * COLS
    assert np.array_equal(want[:, 0], (rows[:, 0] + 1) * 2 + 10)  # the reference itself: 2 * b[i, 1], then 2 * 5
    assert np.array_equal(want[:, 2], rows[:, 0] + 2 + 3 * (rows[:, 0] + 3) + 3)  # b[i, 3] + 0, + 1, + 2
    np.testing.assert_array_equal(a.copy_to_host(), want)
