"""Differential fuzzing of the `@ws.jit` compiler: tuple slices, and device functions that walk them with
early returns from inside loops, which no other fuzzer draws (tuple slices, `+` and `*` of tuples were
refused before stop 42; tests/test_compiler_fuzz_values.py draws tuples of run-time numbers indexed,
unpacked and looped over, tests/test_compiler_fuzz_control.py device functions returning early from loops
over ranges).

Random bodies on the scalars of tests/test_compiler_fuzz.py (its `Gen` draws the numbers: np.int32 /
np.float32 constants, every operator) build tuples of int32 or float32 numbers in variables (`t0 = (i1, i0 *
np.int32(3), ...)`, 0 to 5 items, and a module constant tuple `C`), and take slices of them with constant
bounds and steps drawn over the whole of Python's rule (negative bounds from the end, bounds past either end
clamped, steps of -3 to 3 but 0, a bound a variable assigned once or `True`), also of slices, of a
conditional expression choosing between two slices of one length and of a device function's tuple result,
concatenate (`t[1:] + t[:1]`) and repeat them (`t[::2] * 2`), and use them: items by constant index (negative too), `len`, `sum`, `min`/`max`,
unpacking, `for` loops over a slice (also `zip` of two slices, `enumerate` of one) with `break`/`continue`
under run-time conditions, and device functions
(inlined) that take a slice and return from inside their loop (`first_over`), call another such function
from inside their own loop (`count_over`), or return a slice of their argument (`tail`).

The reference is the very body run by Python on np.int32 / np.float32 scalars (the tuple operations are
Python's, so one text serves both; int32 and float32 items are never mixed in one tuple, as the machine
would convert where NumPy promotes to float64), the device functions as the plain Python functions they are.
`min`/`max` of an empty slice is a `CompileError` in the kernel, as Python raises `ValueError` (the slice's
length is known when compiling, so also on a path that never runs: such draws are discarded). WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import types
import warnings

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source
from test_compiler_fuzz import FLOAT_VARS, FUZZ, INT_VARS, N_FLOAT, N_INT, N_PE, Gen, dev, gen_dir, inputs  # noqa: F401
from test_compiler_fuzz import HELPERS, same_floats

#: The module constant tuple the bodies slice, and the device functions they call (plain Python functions in
#: the reference).
PRELUDE = HELPERS + """
import operator
import numpy as np
import wafersim as ws

C = tuple(np.int32(c) for c in (3, -1, 4, 1, -5, 9))


@ws.jit
def first_over(t, limit):
    for k, v in enumerate(t):
        if v > limit:
            return k
    return -1


@ws.jit
def count_over(t, limit):
    n = 0
    for k, v in enumerate(t):
        if first_over((v, v), limit) == 0:
            n += 1
        elif v == limit:
            return n * 10 + k
    return n


@ws.jit
def tail(t):
    return t[1:]
"""
DEVICE_FUNCTIONS = ("mix", "first_over", "count_over", "tail")
CUT = 2  # the value of `CUT = 2` assigned once in each body: a constant bound
TUPLE_VARS = ["t0", "t1", "u0"]  # t*: int32 items, u*: float32 items


class SliceGen(Gen):
    """Statements over tuple variables, each with a length and an item type known when drawing."""
    uses_base_render = False  # (its bodies have a render of their own)

    def __init__(self, draw) -> None:
        super().__init__(draw, branching=True)
        self.lengths: dict[str, int] = {}

    def item(self, name: str) -> str:
        return self.int_expr(1) if name.startswith("t") else self.float_expr(1)

    def bound(self, length: int) -> str:
        """A slice bound: anywhere from before the start to past the end, sometimes `True`."""
        number = str(self.draw(st.integers(-length - 2, length + 2)))
        return self.draw(st.sampled_from(["", "True", "CUT", "-CUT", number]))

    def slice_of(self, name: str) -> tuple[str, int]:
        """`name[a:b:c]` (or a slice of a slice) and its length."""
        text, items = name, list(range(self.lengths.get(name, 6)))  # (C has 6 items)
        for _ in range(self.draw(st.integers(1, 2))):
            start, stop = self.bound(len(items)), self.bound(len(items))
            step = self.draw(st.sampled_from(["", "", "1", "-1", "2", "-2", "3", "-3"]))
            text = f"{text}[{start}:{stop}{':' + step if step else ''}]"
            items = eval(f"items[{start}:{stop}{':' + step if step else ''}]", {"CUT": CUT, "items": items})
        return text, len(items)

    def some_slice(self, kind: str, choose: bool = True) -> tuple[str, int]:
        """A slice of a tuple variable of `kind` ("t" or "u"), of C (ints), of `tail(...)`, or of a
        conditional expression choosing between two slices of one length."""
        names = [n for n in self.lengths if n.startswith(kind)] + (["C"] if kind == "t" else [])
        name = self.choice(names)
        form = self.choice(["plain", "plain", "tail", "concat", "repeat"] + (["ifexp"] if choose else []))
        text, length = self.slice_of(name)
        if form == "tail" and length > 0:
            return f"tail({text})", length - 1
        if form == "concat":  # `t[1:] + t[:1]`, a rotation, or any two slices of one kind
            other, other_length = self.slice_of(self.choice(names))
            return f"({text} + {other})", length + other_length
        if form == "repeat":
            count = self.draw(st.integers(-1, 2))
            return f"({text} * {count})", length * max(count, 0)
        if form == "ifexp":
            other, other_length = self.slice_of(name)
            if other_length == length:
                return f"({text} if {self.cond(0)} else {other})", length
        return text, length

    def statement(self, indent: int, nest: int) -> list[str]:
        return self.tuple_statement(indent, nest) or ["    " * indent + "pass"]

    def tuple_statement(self, indent: int, nest: int) -> list[str]:
        pad = "    " * indent
        kind = self.choice(["assign", "slice", "index", "reduce", "unpack", "loop", "first", "count", "scalar"])
        if kind == "assign" or (kind != "scalar" and not self.lengths):
            name = self.choice(TUPLE_VARS)
            if name in self.lengths and nest:  # (a branch or loop may rebind it only to a tuple of its length)
                length = self.lengths[name]
            else:
                length = self.draw(st.integers(0, 5))
                if nest:
                    return []
            self.lengths[name] = length
            items = [self.item(name) for _ in range(length)]
            return [f"{pad}{name} = ({', '.join(items)}{',' if length == 1 else ''})"]
        if kind == "scalar":
            return super().statement(indent, nest)
        tkind = self.choice(sorted({n[0] for n in self.lengths}))
        # (a loop runs over a tuple known when compiling: not over a conditional expression's, which is refused)
        text, length = self.some_slice(tkind, choose=kind != "loop")
        target = self.choice(INT_VARS if tkind == "t" else FLOAT_VARS)
        if kind == "slice":  # a slice into a tuple variable of the same kind (outside branches: a new length)
            name = self.choice([n for n in TUPLE_VARS if n[0] == tkind])
            if nest and self.lengths.get(name) != length:
                return []
            self.lengths[name] = length
            return [f"{pad}{name} = {text}"]
        if kind == "index" and length:
            return [f"{pad}{target} = {text}[{self.draw(st.integers(-length, length - 1))}]"]
        if kind == "reduce":
            func = self.choice(["sum", "min", "max", "len"])
            if func == "len":
                return [f"{pad}{self.choice(INT_VARS)} = np.int32(len({text}))"]
            if func == "sum":  # (Python's sum starts from the int 0: converted, as the kernel's int32 or float32)
                return [f"{pad}{target} = np.{'int32' if tkind == 't' else 'float32'}(sum({text}))"]
            return [f"{pad}{target} = {func}({text})"]
        if kind == "unpack" and 1 <= length <= 3:
            targets = self.draw(st.permutations(INT_VARS if tkind == "t" else FLOAT_VARS))[:length]
            return [f"{pad}{', '.join(targets)}{',' if length == 1 else ''} = {text}"]
        if kind == "loop" and nest < 2:
            var = f"k{self.loops}"
            self.loops += 1
            acc = self.choice(INT_VARS if tkind == "t" else FLOAT_VARS)
            lines = [f"{pad}for {var} in {text}:"]
            pairing = self.choice(["", "", "zip", "enumerate"])
            if pairing == "zip":  # pairs of items of two slices (the shorter one's length), `zip(t, t[1:])`
                other, _ = self.some_slice(tkind, choose=False)
                lines = [f"{pad}for {var}, {var}b in zip({text}, {other}):",
                         f"{pad}    {acc} = {acc} {self.choice(['+', '-', '*'])} {var}b"]
            elif pairing == "enumerate":  # the count an int32 whatever the items
                start = self.draw(st.integers(-2, 2))
                lines = [f"{pad}for {var}n, {var} in enumerate({text}, {start}):",
                         f"{pad}    {self.choice(INT_VARS)} += np.int32({var}n)"]
            if self.draw(st.booleans()):
                exit_ = self.choice(["break", "continue"])
                lines += [f"{pad}    if {var} {self.choice(['<', '>', '=='])} {acc}:", f"{pad}        {exit_}"]
            lines.append(f"{pad}    {acc} = {acc} {self.choice(['+', '-', '*'])} {var}")
            return lines + self.block(indent + 1, self.draw(st.integers(0, 1)), nest + 1)
        if kind in ("first", "count") and tkind == "t":
            return [f"{pad}{self.choice(INT_VARS)} = np.int32({'first_over' if kind == 'first' else 'count_over'}"
                    f"({text}, {self.int_expr(1)}))"]
        return []


@st.composite
def bodies(draw):
    gen = SliceGen(draw)
    lines = [f"    CUT = {CUT}"] + gen.block(1, draw(st.integers(3, 9)), 0)
    return lines + [f"    {'i2' if name[0] == 't' else 'f2'} = {name}[-1]"
                    for name, length in sorted(gen.lengths.items()) if length]


def render(body: list[str]) -> str:
    loads = ([f"    i{k} = xi[p, {k}]" for k in range(N_INT)] + [f"    f{k} = xf[p, {k}]" for k in range(N_FLOAT)])
    stores = ([f"    oi[p, {k}] = i{k}" for k in range(N_INT)] + [f"    of[p, {k}] = f{k}" for k in range(N_FLOAT)])
    params = ", ".join(INT_VARS + FLOAT_VARS)
    imports = ["import math", "import operator", "import numpy as np", "import wafersim as ws"]
    return "\n".join([*imports, PRELUDE, "", "@ws.jit", "def kern(xi, xf, oi, of):", "    p = ws.grid(1)", *loads,
                      *body, *stores, "", "", f"def ref({params}):", *body, f"    return ({params},)", ""])


def check(dev, directory, body: list[str], seed: int) -> None:
    source = render(body)
    module = load_source(directory, source)
    scope = dict(vars(module))
    scope.update({name: getattr(module, name).py_func for name in DEVICE_FUNCTIONS})
    for name in DEVICE_FUNCTIONS:  # (each calls the others as plain functions)
        scope[name] = types.FunctionType(scope[name].__code__, scope)
    reference = types.FunctionType(module.ref.__code__, scope)
    xi, xf = inputs(seed)
    want_i, want_f = np.zeros((N_PE, N_INT), np.int32), np.zeros((N_PE, N_FLOAT), np.float32)
    raised = False
    with np.errstate(over="ignore", invalid="raise", divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for p in range(N_PE):
            try:
                result = reference(*[np.int32(v) for v in xi[p]], *[np.float32(v) for v in xf[p]])
            except (FloatingPointError, OverflowError):
                assume(False)  # a NaN or an undefined float -> int32 cast: outside what this test compares
            except ValueError as error:
                assume("empty" in str(error))  # min()/max() of an empty slice
                raised = True
                break
            assert all(isinstance(v, np.int32) for v in result[:N_INT]), (source, result)
            assert all(isinstance(v, np.float32) for v in result[N_INT:]), (source, result)
            want_i[p], want_f[p] = result[:N_INT], result[N_INT:]
    d_oi, d_of = dev.device_array((N_PE, N_INT), np.int32), dev.device_array((N_PE, N_FLOAT), np.float32)
    launch = lambda: module.kern[(1, 1), (N_PE, 1)](dev.to_device(xi), dev.to_device(xf), d_oi, d_of,  # noqa: E731
                                                   max_cycles=2e6)
    if raised:
        try:
            launch()
        except ws.CompileError as error:
            assert "empty" in str(error), (source, str(error))
            return
        raise AssertionError(f"Python raises ValueError (min/max of an empty tuple), the kernel compiled\n{source}")
    try:
        launch()
    except ws.CompileError as error:  # (refused when compiling, also on a path the inputs did not run: a
        # random draw's `min(tail(t0[:True]))` in a `for k in range(0):` body, which Python never reached)
        assert "of an empty tuple" in str(error), (source, str(error))
        assume(False)
    got_i, got_f = d_oi.copy_to_host(), d_of.copy_to_host()
    bad = [p for p in range(N_PE) if not (np.array_equal(got_i[p], want_i[p]) and same_floats(got_f[p], want_f[p]))]
    assert not bad, (f"kernel differs from Python on PE(s) {bad}\n{source}\n"
                     + "\n".join(f"PE {p}: inputs {list(xi[p])} {list(xf[p])}\n  want {list(want_i[p])} "
                                 f"{list(want_f[p])}\n  got  {list(got_i[p])} {list(got_f[p])}" for p in bad[:3]))


@FUZZ
@given(body=bodies(), seed=st.integers(0, 2**32 - 1))
def test_tuple_slices_match_python(dev, gen_dir, body, seed):
    check(dev, gen_dir, body, seed)
