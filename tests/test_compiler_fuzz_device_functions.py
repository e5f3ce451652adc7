"""Differential fuzzing of the `@ws.jit` compiler: random device functions. The other fuzzers call device
functions written out once (tests/test_compiler_fuzz_control.py: `first_hit`, `settle`, `grid_find`, ...);
here the functions themselves are drawn, so their shapes vary: returns from inside `for` and `while` loops,
nested loops and `if`/`elif`/`else` at any depth (with `break` and `continue` under data-dependent
conditions beside them), functions calling the functions drawn before them inside their own loops, in
conditions and in the operands of `and`/`or` (so a call may not run), a local array passed by reference and
changed by the callee (`buf[k % 4] += ...` at computed indices), and loop counts known only at run time (a
parameter, a value a call returned). A function's parameters may have defaults naming module constants (`def
h0(a, b=B0, buf=None)` with `B0 = np.int32(...)`), which calls omit or pass by keyword; a `while` condition may
call a function (so the call runs once a test, or not at all after a false `and` operand), and a condition may be
a comparison chain (`x < h0(...) <= y`: the middle operand evaluated once).

The reference runs the same source text as plain Python on np.int32 scalars and NumPy arrays (the device
functions as the plain functions they are), so every value wraps as the kernel's int32 does; divisors are
nonzero constants, loops are short. Each kernel runs on 8 PEs with different inputs.
WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import os
import types
import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_source
from test_compiler_fuzz import FUZZ, N_PE, dev, gen_dir  # noqa: F401

#: Fewer examples than the other fuzzers: each inlines several drawn functions into one kernel.
FEW = settings(FUZZ, max_examples=max(1, int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "30")) // 3))

N_IN, N_OUT = 3, 4
CONSTS = [0, 1, 2, 3, -1, -5, 7, 100, 2**31 - 1, -(2**31)]
DIVISORS = [2, 3, -3, 5, 7]


class FunctionGen:
    """Draws device functions `h0, h1, ...` (each may call those before it) and a kernel body calling them."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.functions: list[str] = []  # names drawn so far, callable from later ones
        self.counter = 0
        self.calls_left = 0  # call sites left to draw in this function (each inlines its callee's body)
        self.with_defaults: set[str] = set()  # functions whose `b` and `buf` have defaults (`b=B0, buf=None`)

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def expr(self, names: list[str], depth: int, buf: str | None) -> str:
        kinds = ["name", "name", "const"]
        if depth > 0:
            kinds += ["bin", "bin", "div", "neg", "minmax", "ifexp"]
            if self.functions and self.calls_left > 0:
                kinds += ["call", "call"]
            if buf:
                kinds.append("elem")
        kind = self.choice(kinds)
        if kind == "name":
            return self.choice(names)
        if kind == "const":
            return f"np.int32({self.choice(CONSTS)})"
        if kind == "bin":
            op = self.choice(["+", "-", "*", "&", "|", "^"])
            return f"({self.expr(names, depth - 1, buf)} {op} {self.expr(names, depth - 1, buf)})"
        if kind == "div":
            op = self.choice(["//", "%"])
            return f"({self.expr(names, depth - 1, buf)} {op} np.int32({self.choice(DIVISORS)}))"
        if kind == "neg":
            return f"(-{self.expr(names, depth - 1, buf)})"
        if kind == "minmax":
            first, second = self.expr(names, depth - 1, buf), self.expr(names, depth - 1, buf)
            return f"{self.choice(['min', 'max'])}({first}, {second})"
        if kind == "elem":
            return f"{buf}[{self.expr(names, depth - 1, None)} % np.int32(4)]"
        if kind == "ifexp":
            return (f"({self.expr(names, depth - 1, buf)} if {self.cond(names, depth - 1, buf)} "
                    f"else {self.expr(names, depth - 1, buf)})")
        return self.call(names, depth - 1, buf)

    def call(self, names: list[str], depth: int, buf: str | None) -> str:
        self.calls_left -= 1
        callee = self.choice(self.functions)
        args = [self.expr(names, max(depth, 0), buf) for _ in range(2)]
        if callee in self.with_defaults:  # `b` and `buf` by position, by keyword or left to their defaults
            form = self.choice(["positional", "keywords", "no b", "a alone"])
            if form == "keywords":
                return f"{callee}({args[0]}, buf={buf}, b={args[1]})"
            if form == "no b":
                return f"{callee}({args[0]}, buf={buf})"
            if form == "a alone":
                return f"{callee}({args[0]})"
        return f"{callee}({', '.join(args)}, {buf})"  # (None where the caller has no array: folded)

    def cond(self, names: list[str], depth: int, buf: str | None) -> str:
        kind = self.choice(["cmp", "cmp", "and", "or", "not", "chain"] if depth > 0 else ["cmp"])
        if kind == "cmp":
            op = self.choice(["<", "<=", ">", ">=", "==", "!="])
            return f"{self.expr(names, max(depth, 0), buf)} {op} {self.expr(names, max(depth, 0), buf)}"
        if kind == "chain":  # `x < m <= y`: `m` (a call, where one is left) evaluated once, `y` only if `x < m`
            first, second = (self.choice(["<", "<=", ">", ">=", "==", "!="]) for _ in range(2))
            middle = self.call(names, 0, buf) if self.functions and self.calls_left > 0 else self.expr(names, 1, buf)
            return f"{self.expr(names, 0, buf)} {first} {middle} {second} {self.expr(names, 1, buf)}"
        if kind == "not":
            return f"not ({self.cond(names, depth - 1, buf)})"
        return f"({self.cond(names, depth - 1, buf)}) {kind} ({self.cond(names, depth - 1, buf)})"

    def block(self, names: list[str], indent: int, count: int, loop: bool, in_function: bool,
              buf: str | None) -> list[str]:
        lines: list[str] = []
        for _ in range(count):
            lines += self.statement(names, indent, loop, in_function, buf)
        return lines

    def statement(self, names: list[str], indent: int, loop: bool, in_function: bool, buf: str | None) -> list[str]:
        pad = "    " * indent
        kinds = ["assign", "assign", "aug"]
        if indent < 3:  # (loops two deep at most, a few trips each: the simulator runs every trip)
            kinds += ["if", "for", "while"]
            if self.functions and self.calls_left > 0:
                kinds += ["while call", "while call"]
        if loop:
            kinds += ["break", "continue"]
        if in_function:
            kinds += ["return"]
        if buf:
            kinds += ["store"]
        kind = self.choice(kinds)
        target = self.choice([n for n in names if n[0] in "vk"] or names[:1])
        if kind == "assign":
            return [f"{pad}{target} = {self.expr(names, 2, buf)}"]
        if kind == "aug":
            return [f"{pad}{target} {self.choice(['+=', '-=', '^='])} {self.expr(names, 2, buf)}"]
        if kind == "store":  # (an augmented assignment's index may not call a device function: refused)
            op = self.choice(["=", "+=", "-="])
            callable_, self.functions = self.functions, []
            index = self.expr(names, 1, None)
            self.functions = callable_
            return [f"{pad}{buf}[{index} % np.int32(4)] {op} {self.expr(names, 1, buf)}"]
        if kind in ("break", "continue"):
            return [f"{pad}if {self.cond(names, 1, buf)}:", f"{pad}    {kind}"]
        if kind == "return":
            return [f"{pad}if {self.cond(names, 1, buf)}:", f"{pad}    return np.int32({self.expr(names, 2, buf)})"]
        if kind == "if":
            lines = [f"{pad}if {self.cond(names, 2, buf)}:"]
            lines += self.block(names, indent + 1, self.draw(st.integers(1, 2)), loop, in_function, buf)
            if self.draw(st.booleans()):
                lines.append(f"{pad}elif {self.cond(names, 1, buf)}:")
                lines += self.block(names, indent + 1, 1, loop, in_function, buf)
            if self.draw(st.booleans()):
                lines.append(f"{pad}else:")
                lines += self.block(names, indent + 1, self.draw(st.integers(1, 2)), loop, in_function, buf)
            return lines
        # (a `while` counter is `w...`, which no statement assigns: `k = ...` in the body, as a `for` counter may be
        # assigned, made `while k < 3` loop forever in the Python reference -- random draws hung there)
        counter = self.fresh("k" if kind == "for" else "w")
        if kind == "for":  # a constant count or one known only at run time (at most 3 trips)
            count = self.choice(["3", "np.int32(2)"] + [f"abs({self.expr(names, 1, buf)}) % np.int32(4)"] * 2)
            lines = [f"{pad}for {counter} in range({count}):"]
        else:  # counted, the counter stepped first so that `continue` cannot skip it
            trips = self.draw(st.integers(0, 3))
            test = f"{counter} < np.int32({trips})"
            if kind == "while call":  # a call in the condition: run before each trip, or only while the count holds
                called = f"{self.call(names, 0, buf)} {self.choice(['<', '>=', '!='])} {self.expr(names, 0, buf)}"
                test = f"{test} and {called}" if self.draw(st.booleans()) else f"{called} and {test}"
            lines = [f"{pad}{counter} = np.int32(0)", f"{pad}while {test}:",
                     f"{pad}    {counter} += np.int32(1)"]
        inner = names + [counter]
        lines += self.block(inner, indent + 1, self.draw(st.integers(1, 3)), True, in_function, buf)
        return lines

    def function(self) -> str:
        name = f"h{len(self.functions)}"
        self.calls_left = 2
        params = ["a", "b"]
        local = ["v0", "v1"]
        lines = ["@ws.jit", f"def {name}(a, b, buf):", "    v0 = a", "    v1 = b"]
        if self.draw(st.booleans()):  # defaults: a module constant (bound when the function is defined) and None
            default = f"B{len(self.functions)}"
            lines = [f"{default} = np.int32({self.choice(CONSTS)})", "", "",
                     "@ws.jit", f"def {name}(a, b={default}, buf=None):", "    v0 = a", "    v1 = b"]
            self.with_defaults.add(name)
        uses_buf = self.draw(st.booleans())
        buf = "buf" if uses_buf else None
        if uses_buf:
            lines.append("    if buf is None:")  # (called without an array: the folded branch alone runs)
            lines.append("        return np.int32(a - b)")
        lines += self.block(params + local, 1, self.draw(st.integers(1, 4)), False, True, buf)
        lines.append(f"    return np.int32({self.expr(params + local, 2, buf)})")
        self.functions.append(name)
        return "\n".join(lines)


@st.composite
def programs(draw):
    gen = FunctionGen(draw)
    functions = [gen.function() for _ in range(draw(st.integers(1, 3)))]
    gen.calls_left = 2
    values = [f"x{k}" for k in range(N_IN)]
    body: list[str] = []
    for k in range(N_OUT):
        if k == N_OUT - 2 and draw(st.booleans()):  # a call in a `while` condition, run before each trip
            counter = gen.fresh("w")
            relation = draw(st.sampled_from(["<", ">=", "!="]))
            call = f"{gen.call(values, 0, 'scratch')} {relation} {gen.expr(values, 0, None)}"
            bound = f"{counter} < np.int32({draw(st.integers(0, 3))})"
            body += [f"    r{k} = {gen.expr(values, 1, 'scratch')}", f"    {counter} = np.int32(0)",
                     f"    while {' and '.join(draw(st.permutations([bound, call])))}:",
                     f"        {counter} += np.int32(1)", f"        r{k} = r{k} * np.int32(3) + {counter}"]
        elif k == N_OUT - 1:  # a call in a loop, its result carried
            counter = gen.fresh("k")
            body += [f"    r{k} = np.int32(0)", f"    for {counter} in range({draw(st.integers(1, 3))}):",
                     f"        r{k} = r{k} ^ {gen.call(values + [counter, f'r{k}'], 1, 'scratch')}"]
        else:
            value = gen.expr(values, 2, "scratch") if draw(st.booleans()) or k else gen.call(values, 1, "scratch")
            body.append(f"    r{k} = {value}")
        values.append(f"r{k}")
    return functions, body


def render(functions: list[str], body: list[str]) -> str:
    stores = [f"    out[p, {k}] = r{k}" for k in range(N_OUT)] + [f"    out[p, {N_OUT + k}] = scratch[{k}]"
                                                               for k in range(4)]
    loads = [f"    x{k} = xi[p, {k}]" for k in range(N_IN)]
    kernel = ["@ws.jit", "def kern(xi, out):", "    p = ws.grid(1)", *loads,
              "    scratch = ws.local.array(4, np.int32)", "    scratch[0:4] = 0", *body, *stores]
    return "\n".join(["import numpy as np", "import wafersim as ws", "", "", *[f + "\n\n" for f in functions],
                      *kernel, ""])


class _Local:
    """`ws.local.array` for the reference: a NumPy array (zeros, as the kernel's are after the fill; a kernel that
    reads before it fills is not drawn)."""

    @staticmethod
    def array(shape, dtype):
        return np.zeros(shape, dtype)


def reference(module):
    """The kernel's function run by Python over NumPy values, its device functions as plain functions."""
    scope = dict(vars(module))
    scope["ws"] = types.SimpleNamespace(local=_Local, grid=None)
    for name, value in vars(module).items():
        if hasattr(value, "py_func"):
            scope[name] = types.FunctionType(value.py_func.__code__, scope, name, value.py_func.__defaults__)
    return scope["kern"]


def check(dev, directory, functions: list[str], body: list[str], seed: int) -> None:
    source = render(functions, body)
    module = load_source(directory, source)
    rng = np.random.default_rng(seed)
    xi = rng.integers(-9, 10, (N_PE, N_IN)).astype(np.int32)
    wide = rng.random((N_PE, N_IN)) < 0.2
    xi[wide] = rng.integers(-(2**31), 2**31, int(wide.sum()), dtype=np.int64).astype(np.int32)
    want = np.zeros((N_PE, N_OUT + 4), np.int32)
    run = reference(module)
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for p in range(N_PE):
            row = np.zeros(N_OUT + 4, np.int32)
            run_one_pe(run, xi, row, p)
            want[p] = row
    out = dev.device_array((N_PE, N_OUT + 4), np.int32)
    module.kern[(1, 1), (N_PE, 1)](dev.to_device(xi), out, max_cycles=1e6)
    got = out.copy_to_host()
    bad = [p for p in range(N_PE) if not np.array_equal(got[p], want[p])]
    assert not bad, (f"kernel differs from Python on PE(s) {bad}\n{source}\n"
                     + "\n".join(f"PE {p}: inputs {list(xi[p])}\n  want {list(want[p])}\n  got  {list(got[p])}"
                                 for p in bad[:3]))


def run_one_pe(run, xi: np.ndarray, row: np.ndarray, p: int) -> None:
    """Run the kernel's Python function as PE `p` (`ws.grid(1)` is p), writing its results into `row`."""
    out = np.zeros((N_PE, N_OUT + 4), np.int32)
    run.__globals__["ws"].grid = lambda dims: p
    run(xi, out)
    row[:] = out[p]


@FEW
@given(program=programs(), seed=st.integers(0, 2**32 - 1))
def test_random_device_functions_match_python(dev, gen_dir, program, seed):
    check(dev, gen_dir, *program, seed)
