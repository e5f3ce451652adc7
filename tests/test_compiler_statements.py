"""compiler/statements.py: what a statement the compiler cannot lower gives (the statements themselves are tested
by kind: tests/test_compiler_*.py)."""
from __future__ import annotations

import numpy as np

import wafersim as ws
from conftest import compile_error, load_source, run_on_one_block


def test_an_expression_nested_too_deeply_is_a_compile_error_at_its_line(tmp_path):
    # fuzz44: `a + a + ... + a` of 500 terms (which Python compiles and runs) raised a bare RecursionError from the
    # compiler, which lowers one operator inside another; now a CompileError at the statement, and a shorter chain
    # still computes as Python
    long, short = " + ".join(["a"] * 2000), " + ".join(["a"] * 50)
    m = load_source(tmp_path, f"""import numpy as np
import wafersim as ws


@ws.jit
def deep(out, a):
    out[1] = a
    out[0] = {long}


@ws.jit
def shallow(out, a):
    out[0] = {short}
""")
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    error = compile_error(dev, m.deep, np.zeros(2, np.int32), 3)
    assert error.line == 8 and "nests its expressions too deeply" in str(error), str(error)
    (got,) = run_on_one_block(dev, m.shallow, np.zeros(1, np.int32), 3)
    assert got.tolist() == [eval(short, {"a": 3})]


def test_a_buffer_swap_in_a_loop_says_how_to_ping_pong(tmp_path):
    # user47: `u, u_new = u_new, u` (every stencil's swap) is refused, as any array rebinding inside a loop is;
    # the message now says what to write instead, and the two-steps-a-trip form it suggests gives NumPy's answer
    m = load_source(tmp_path, """import numpy as np
import wafersim as ws


@ws.jit
def swapped(out, n):
    a = ws.local.array(4, np.float32)
    b = ws.local.array(4, np.float32)
    a[0:4] = 1.0
    for s in range(n):
        b[0:4] = a[0:4] * 0.5 + 1.0
        a, b = b, a
    out[0:4] = a[0:4]


@ws.jit
def two_steps_a_trip(out, n):
    a = ws.local.array(4, np.float32)
    b = ws.local.array(4, np.float32)
    a[0:4] = 1.0
    for s in range(0, n, 2):
        b[0:4] = a[0:4] * 0.5 + 1.0
        a[0:4] = b[0:4] * 0.5 + 1.0
    out[0:4] = a[0:4]
""")
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    error = compile_error(dev, m.swapped, np.zeros(4, np.float32), 6)
    assert error.line == 12 and "to ping-pong two buffers (u, u_new = u_new, u), do two steps a trip" in str(error)
    (got,) = run_on_one_block(dev, m.two_steps_a_trip, np.zeros(4, np.float32), 6)
    expected = np.ones(4, np.float32)
    for _ in range(6):
        expected = expected * np.float32(0.5) + np.float32(1.0)
    assert np.array_equal(got, expected)
