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
