"""Differential fuzzing of the `@ws.jit` compiler: loops whose trips read what earlier trips wrote to local
array elements, which the other fuzzers (constant indices, one statement at a time) do not draw.

Random kernels over an int32 and a float32 local array of 8 elements and two int32 scalars run nested `for`
loops (constant bounds, steps up and down, so the loop variable is known to index in range; the range's arguments
sometimes in variables assigned twice, known only to the optimiser's constant propagation and the unroll pass) and
`while` loops (counted, the counter stepped first so that `continue` cannot skip it; sometimes with a second counter stepped
beside it by 2 or 3, indexing: the bounds pass proves its range from the loop's test), with `break` and
`continue` under nested `if`/`elif`/`else`, and in them:

- element stores and augmented assignments whose index is compound (`a[k + 1] += a[k]`, `a[7 - k]`,
  `a[(k * 3 + 1) % 8]`, an index read from the array itself, `a[a[k] % 8]`, or from a scalar the loop
  changes, reduced by an array's length: `len(a)`, `b.size`, `xf.shape[0]`), so every trip reads what an earlier trip (or an earlier statement of the same trip) wrote;
- conditions on elements and scalars, chained comparisons (`0 <= a[k] < s0`), float32 elements against
  int32 ones;
- the loop variable and the scalars read after the loop (the last value Python left, `break` included).

The reference runs the same body as plain Python on NumPy arrays and np.int32 scalars (every written-out
int an np.int32, an int32 element meeting a float32 one converted to float32 first, `_F`, as the docs say),
and the arrays, scalars and loop variables must match exactly. WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale
it as the other fuzz tests.
"""
from __future__ import annotations

import os
import re
import types
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from test_compiler_fuzz_compile_time import FUZZ as BASE_FUZZ

import wafersim as ws
from conftest import load_source

N = 8
FUZZ = settings(BASE_FUZZ, max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "10")))
FLOATS = ["0.5", "-1.25", "2.0", "0.0", "-0.0", "3.5"]


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_loops")


class LoopGen:
    """Draws a body over `a` (int32[8]), `b` (float32[8]), scalars s0, s1 and loop variables known in 0..7."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.loop_vars: list[str] = []  # (each holds 0..7 inside its loop)
        self.loops = 0
        self.after: list[str] = []  # loop variables read after their loop (they ran at least once)

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def small(self) -> str:
        return f"np.int32({self.draw(st.integers(-9, 9))})"

    def index(self) -> str:
        """An index in range: a loop variable's compound forms, an element or a scalar reduced modulo 8."""
        kinds = ["const", "mod_scalar", "mod_element"] + ["loop"] * 3 * bool(self.loop_vars)
        kind = self.choice(kinds)
        if kind == "const":
            return str(self.draw(st.integers(-N, N - 1)))
        if kind == "mod_scalar":  # (the length written out, or an array's: len, .size, .shape[0], local or global)
            return f"{self.choice(['s0', 's1'])} % {self.choice([str(N), 'len(a)', 'b.size', 'xf.shape[0]', 'xf.size'])}"
        if kind == "mod_element":
            return f"a[{self.draw(st.integers(0, N - 1))}] % {N}"
        k = self.choice(self.loop_vars)
        # (a negative index computed at run time is out of bounds, as documented: none is drawn)
        return self.choice([k, f"{N - 1} - {k}", f"({k} + 1) % {N}", f"({k} * 3 + 1) % {N}",
                            f"({k} + s0) % {N}", f"a[{k}] % {N}", f"{k} // 2", f"({k} - 9) % {N}"])

    def int_expr(self, depth: int) -> str:
        kinds = ["elem", "elem", "scalar", "const"] + ["loop"] * bool(self.loop_vars)
        if depth > 0:
            kinds += ["bin", "bin", "minmax"]
        kind = self.choice(kinds)
        if kind == "elem":
            return f"a[{self.index()}]"
        if kind == "scalar":
            return self.choice(["s0", "s1"])
        if kind == "const":
            return self.small()
        if kind == "loop":
            return f"np.int32({self.choice(self.loop_vars)})"
        if kind == "bin":
            return f"({self.int_expr(depth - 1)} {self.choice(['+', '-', '*', '^', '&'])} {self.int_expr(depth - 1)})"
        return f"{self.choice(['min', 'max'])}({self.int_expr(depth - 1)}, {self.int_expr(depth - 1)})"

    def float_expr(self, depth: int) -> str:
        kinds = ["elem", "elem", "const", "conv"]
        if depth > 0:
            kinds += ["bin", "bin", "half"]
        kind = self.choice(kinds)
        if kind == "elem":
            return f"b[{self.index()}]"
        if kind == "const":
            return f"np.float32({self.choice(FLOATS)})"
        if kind == "conv":  # an int32 element meeting float32 arithmetic: converted first
            return f"_F(a[{self.index()}] % 64)"
        if kind == "half":
            return f"({self.float_expr(depth - 1)} * np.float32(0.5))"
        return f"({self.float_expr(depth - 1)} {self.choice(['+', '-'])} {self.float_expr(depth - 1)})"

    def cond(self) -> str:
        kind = self.choice(["int", "float", "chain", "loop", "mixed"])
        op = self.choice(["<", "<=", ">", ">=", "==", "!="])
        if kind == "int":
            return f"{self.int_expr(1)} {op} {self.int_expr(0)}"
        if kind == "float":
            return f"{self.float_expr(1)} {op} {self.float_expr(0)}"
        if kind == "chain":
            return f"{self.int_expr(0)} <= {self.int_expr(0)} < {self.int_expr(0)}"
        if kind == "mixed":  # float32 against int32 (small values: the conversion is exact)
            return f"{self.float_expr(0)} {op} _F(a[{self.index()}] % 64)"
        if not self.loop_vars:
            return f"s0 {op} s1"
        return f"np.int32({self.choice(self.loop_vars)}) % np.int32(2) == np.int32(0)"

    def block(self, indent: int, count: int, nest: int, in_loop: bool) -> list[str]:
        lines: list[str] = []
        for _ in range(count):
            lines += self.statement(indent, nest, in_loop)
        return lines

    def statement(self, indent: int, nest: int, in_loop: bool) -> list[str]:
        pad = "    " * indent
        kinds = ["astore", "aaug", "aaug", "bstore", "baug", "scalar"]
        if nest < 3:
            kinds += ["if", "for", "for"] + ["while", "lockstep"] * (nest < 2)
        if in_loop:
            kinds += ["jump"]
        kind = self.choice(kinds)
        if kind == "astore":
            return [f"{pad}a[{self.index()}] = {self.int_expr(2)}"]
        if kind == "aaug":
            return [f"{pad}a[{self.index()}] {self.choice(['+=', '-=', '*=', '^=', '|='])} {self.int_expr(1)}"]
        if kind == "bstore":
            return [f"{pad}b[{self.index()}] = {self.float_expr(2)}"]
        if kind == "baug":
            return [f"{pad}b[{self.index()}] {self.choice(['+=', '-='])} {self.float_expr(1)}"]
        if kind == "scalar":
            return [f"{pad}{self.choice(['s0', 's1'])} {self.choice(['=', '+=', '-='])} {self.int_expr(2)}"]
        if kind == "jump":  # under a condition, with an else of its own sometimes
            lines = [f"{pad}if {self.cond()}:", f"{pad}    {self.choice(['break', 'continue'])}"]
            if self.draw(st.booleans()):
                lines += [f"{pad}else:"] + self.block(indent + 1, 1, nest + 1, in_loop)
            return lines
        if kind == "if":
            lines = [f"{pad}if {self.cond()}:"] + self.block(indent + 1, self.draw(st.integers(1, 2)), nest + 1, in_loop)
            if self.draw(st.booleans()):
                lines += [f"{pad}elif {self.cond()}:"] + self.block(indent + 1, 1, nest + 1, in_loop)
            if self.draw(st.booleans()):
                lines += [f"{pad}else:"] + self.block(indent + 1, self.draw(st.integers(1, 2)), nest + 1, in_loop)
            return lines
        if kind == "while":
            counter = f"w{self.loops}"
            self.loops += 1
            lines = [f"{pad}{counter} = np.int32(0)", f"{pad}while {counter} < np.int32({self.draw(st.integers(0, 4))}):",
                     f"{pad}    {counter} += np.int32(1)"]
            lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1, True)
            return lines + [f"{pad}s1 += {counter}"]
        if kind == "lockstep":  # a second counter stepped with the loop's, by a multiple of its step: in range,
            # so the bounds pass may prove its indices from the loop's test (a `continue` skips neither step)
            counter, var = f"w{self.loops}", f"k{self.loops}"
            self.loops += 1
            step = self.choice([2, 3])
            trips = self.draw(st.integers(0, (N - 1) // step))
            start = self.draw(st.integers(0, N - 1 - step * trips))
            lines = [f"{pad}{counter} = np.int32(0)", f"{pad}{var} = np.int32({start})",
                     f"{pad}while {counter} < np.int32({trips}):", f"{pad}    {counter} += np.int32(1)",
                     f"{pad}    {var} += np.int32({step})"]
            self.loop_vars.append(var)
            lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1, True)
            self.loop_vars.pop()
            return lines + [f"{pad}s0 += {var}"]
        var = f"k{self.loops}"
        self.loops += 1
        start, stop = sorted(self.draw(st.lists(st.integers(0, N), min_size=2, max_size=2)))
        step = self.draw(st.integers(1, 3))
        header = (f"range({start}, {stop}, {step})" if self.draw(st.booleans())
                  else f"range({stop - 1}, {start - 1}, -{step})")  # (down: from stop - 1 to start)
        lines, in_variables = [], self.draw(st.integers(0, 2)) == 0
        if in_variables:  # the arguments in variables assigned twice: constants only after the
            # optimiser's constant propagation, so the unroll pass (not the front end) counts the trips
            values = re.fullmatch(r"range\((-?\d+), (-?\d+), (-?\d+)\)", header).groups()
            names = [f"{var}{part}" for part in ("a", "z", "s")]
            lines = [f"{pad}{name} = np.int32({first})" for name, first in zip(names, (0, 0, 1))]
            lines += [f"{pad}{name} = np.int32({value})" for name, value in zip(names, values)]
            header = f"range({', '.join(names)})"
        lines.append(f"{pad}for {var} in {header}:")
        self.loop_vars.append(var)
        lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1, True)
        self.loop_vars.pop()
        if start < stop and nest == 0 and not in_variables:  # runs at least once: Python's last value is read
            # after the loop (with the bounds in variables the front end cannot know that it runs: refused)
            self.after.append(var)
        return lines


@st.composite
def programs(draw):
    gen = LoopGen(draw)
    body = gen.block(1, draw(st.integers(1, 4)), 0, False)
    return body, gen.after


def render(body: list[str], after: list[str]) -> str:
    reads = [f"    out[{2 * N + 2 + j}] = {var}" for j, var in enumerate(after)]
    lines = ["    a = ws.local.array(8, np.int32)", "    b = ws.local.array(8, np.float32)",
             f"    for q in range({N}):", "        a[q] = xi[q]", "        b[q] = xf[q]",
             f"    s0 = xi[{N}]", f"    s1 = xi[{N + 1}]", *body, *reads,
             f"    for q in range({N}):", "        out[q] = a[q]", "        outf[q] = b[q]",
             f"    out[{N}] = s0", f"    out[{N + 1}] = s1"]
    kernel = "\n".join(lines).replace("_F(", "(")
    return "\n".join(["import numpy as np", "import wafersim as ws", "", "", "@ws.jit",
                      "def kern(xi, xf, out, outf):", kernel, "", "",
                      "def ref(xi, xf, out, outf):", *[line.replace("ws.local.array(8, np.int32)", "np.zeros(8, np.int32)")
                                                        .replace("ws.local.array(8, np.float32)", "np.zeros(8, np.float32)")
                                                        for line in lines], ""])


def check(dev, directory, body: list[str], after: list[str], seed: int) -> None:
    source = render(body, after)
    module = load_source(directory, source)
    reference = types.FunctionType(module.ref.__code__, dict(vars(module), _F=np.float32))
    rng = np.random.default_rng(seed)
    xi = rng.integers(-20, 21, N + 2).astype(np.int32)
    xf = rng.choice(np.float32([0.5, -1.25, 2.0, 0.0, -0.0, 3.0, -7.5, 1.0]), N)
    size = 2 * N + 2 + len(after)
    want, wantf = np.zeros(size, np.int32), np.zeros(N, np.float32)
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reference(xi, xf, want, wantf)
    out, outf = dev.device_array(size, np.int32), dev.device_array(N, np.float32)
    module.kern[(1, 1), (1, 1)](dev.to_device(xi), dev.to_device(xf), out, outf, max_cycles=2e6)
    got, gotf = out.copy_to_host(), outf.copy_to_host()
    assert np.array_equal(got, want) and np.array_equal(gotf.view(np.int32), wantf.view(np.int32)), (
        f"kernel differs from Python\n{source}\ninputs {xi.tolist()} {xf.tolist()}\n"
        f"want {want.tolist()} {wantf.tolist()}\ngot  {got.tolist()} {gotf.tolist()}")


@FUZZ
@given(program=programs(), seed=st.integers(0, 2**32 - 1))
def test_loops_reading_earlier_trips_writes_match_python(dev, gen_dir, program, seed):
    body, after = program
    check(dev, gen_dir, body, after, seed)
