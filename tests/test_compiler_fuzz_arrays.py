"""Differential fuzzing of the `@ws.jit` compiler, third part: array constructs the other two fuzzers
(tests/test_compiler_fuzz.py, tests/test_compiler_fuzz_mixed.py) do not reach, each checked against an
independent NumPy reference written from docs/python-supported.md:

- 16-bit local and global arrays (float16, bfloat16): trees of + - * unary - min max over 16-bit slices and
  scalars (each operation rounded to 16 bits, a scalar rounded to 16 bits first), `vhfma`, float32
  accumulation of 16-bit products (`vwfma`: `+=`, `x * y + acc`, `ws.fma`, a float32 scalar factor),
  conversions between float32 and 16-bit slices, fills, and scalar element loads and stores (float32
  arithmetic, one rounding at the store), a device function choosing by an array's `.dtype` and a local
  array made with another's (`ws.local.array(n, x.dtype)`);
- float32 and int32 slice programs over 1-D, 2-D and 3-D local arrays: trees of + - * unary - min max
  (int32 wraps), augmented slice assignments, reductions (`sum`, `min`, `max`, `ws.dot`: sequential,
  each step rounded or wrapped), strided copies and column copies between local arrays, 3-D elements and
  row slices, slice bounds known only at run time (a parameter, a loop variable, a run-time length: a
  length that differs from the destination's must stop the kernel with `MemoryAccessError`), slices in
  variables (views keeping the bounds they were taken with when the start's variable is rebound), a device
  function writing an array within a statement (an augmented assignment's index read before it; an in-place
  accumulation `a[B] = a[B] + y * f(b)` whose bounds `B` read what `f` changes: two slices; `f` in the
  target's bounds or an operand's: after an operation on slices refused, else NumPy's order), closure
  constants (a kernel made inside a function), annotated variables and an ignored parameter annotation, an
  array's attributes in arithmetic (`.ndim`, `.size`, `len()`, `.shape[k]` of local arrays and of the argument,
  a choice by `.dtype == np.float16` and the like), a device function choosing by its array parameter's
  `.dtype` (and reading its `.ndim` and `len()`), and local arrays made with another array's dtype
  (`ws.local.array(n, x.dtype)`, `n` at times another local array's `.size` or `.shape[k]`), in loops too.
(int32 and float32 words on the fabric: tests/test_compiler_fuzz_fabric_words.py.)

Bitwise operators on int32 slices are refused by the compiler ("operator BitXor is not supported on
slices"), so they are not drawn. WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import os
import warnings

import ml_dtypes
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_compiler_fuzz import FUZZ as BASE_FUZZ

import wafersim as ws
from conftest import load_source

FUZZ = settings(BASE_FUZZ, max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "5")))
HALF = {"np.float16": np.float16, "ml_dtypes.bfloat16": ml_dtypes.bfloat16}


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_arrays")


@st.composite
def trees(draw, operand, scalar, depth: int, ops=("+", "-", "*")):
    """(kernel text, NumPy text) of a random tree of `ops`, unary - and min/max over `operand()` and
    `scalar()` (strategies of text pairs); at least one operand of every tree is a slice."""
    kinds = ["slice", "slice", "scalar"] + (["bin", "bin", "neg", "minmax"] if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "slice":
        return draw(operand)
    if kind == "scalar":  # a scalar on its own is made a slice by adding one
        (ks, ns), (ko, no) = draw(scalar), draw(operand)
        return f"({ks} + {ko})", f"({ns} + {no})"
    if kind == "neg":
        kernel, numpy = draw(trees(operand, scalar, depth - 1, ops))
        return f"(-{kernel})", f"(-{numpy})"
    left = draw(trees(operand, scalar, depth - 1, ops))
    right = draw(st.one_of(trees(operand, scalar, depth - 1, ops), scalar))
    if draw(st.booleans()):
        left, right = right, left
    if kind == "bin":
        op = draw(st.sampled_from(ops))
        return f"({left[0]} {op} {right[0]})", f"({left[1]} {op} {right[1]})"
    name = draw(st.sampled_from(["min", "max"]))
    return f"{name}({left[0]}, {right[0]})", f"np.{'minimum' if name == 'min' else 'maximum'}({left[1]}, {right[1]})"


# ----------------------------------------------------------------------------- 16-bit arrays
H_SIZE = 8
H_ARRAYS = ("ha", "hb", "hc")


@st.composite
def half_slice(draw, length: int, names=H_ARRAYS):
    start = draw(st.integers(0, H_SIZE - length))
    text = f"{draw(st.sampled_from(names))}[{start}:{start + length}]"
    return text, text


#: (kernel, NumPy) scalars of a 16-bit tree: the float32 value, rounded to 16 bits by the instruction.
H_SCALARS = (("s", "H(s)"), ("(s * t)", "H(s * t)"), ("0.5", "H(0.5)"), ("-1.25", "H(-1.25)"),
             ("ha[2]", "H(np.float32(ha[2]))"), ("(t - 3.0)", "H(t - np.float32(3.0))"))


@st.composite
def half_statements(draw) -> tuple[str, str]:
    length = draw(st.integers(1, H_SIZE))
    dst = draw(half_slice(length))[0]
    start = draw(st.integers(0, H_SIZE - length))
    acc = f"f[{start}:{start + length}]"
    x, y = draw(half_slice(length))[0], draw(half_slice(length))[0]
    kind = draw(st.sampled_from(["tree", "tree", "hfma", "wfma", "conv", "fill", "elem", "dtype"]))
    if kind == "tree":
        kernel, numpy = draw(trees(half_slice(length), st.sampled_from(H_SCALARS), draw(st.integers(1, 3))))
        return f"{dst} = {kernel}", f"{dst} = {numpy}"
    if kind == "hfma":  # the product rounded to 16 bits, then the sum
        return f"{dst} = {x} * {y} + {dst}", f"{dst} = {x} * {y} + {dst}"
    if kind == "wfma":  # float32 accumulation of exact products (with a float32 scalar: the product rounded)
        form = draw(st.sampled_from(["+=", "fma", "expr", "scalar"]))
        exact = f"{acc} = {acc} + {x}.astype(np.float32) * {y}.astype(np.float32)"
        if form == "scalar":
            return f"{acc} += {x} * s", f"{acc} = {acc} + {x}.astype(np.float32) * s"
        kernel = {"+=": f"{acc} += {x} * {y}", "fma": f"{acc} = ws.fma({x}, {y}, {acc})",
                  "expr": f"{acc} = {x} * {y} + {acc}"}[form]
        return kernel, exact
    if kind == "conv":
        if draw(st.booleans()):
            return f"{acc} = {x}", f"{acc} = {x}.astype(np.float32)"
        return f"{dst} = {acc}", f"{dst} = {acc}.astype(H)"
    if kind == "fill":
        value = draw(st.sampled_from(["0.5", "s", "-3.0", "(s - t)"]))
        return f"{dst} = {value}", f"{dst} = H({value})"
    i, j = draw(st.integers(0, H_SIZE - 1)), draw(st.integers(0, H_SIZE - 1))
    name, other = draw(st.sampled_from(H_ARRAYS)), draw(st.sampled_from(H_ARRAYS + ("g",)))
    if kind == "dtype":  # a device function choosing by an array's dtype (a 16-bit array's is its own, not int32)
        chosen = draw(st.sampled_from(H_ARRAYS + ("g", "f", "x")))
        if draw(st.booleans()):  # compared in the kernel itself, folded
            test = f"{chosen}.dtype {draw(st.sampled_from(['==', '!=']))} {draw(st.sampled_from(sorted(HALF)))}"
            return (f"{name}[{i}] = {name}[{i}] * (2.0 if {test} else 0.5)",
                    f"{name}[{i}] = np.float32({name}[{i}]) * np.float32(2.0 if {test} else 0.5)")
        return (f"{name}[{i}] = by_dtype({chosen}.dtype, {name}[{i}] * s)",
                f"{name}[{i}] = by_dtype.__wrapped__({chosen}.dtype, np.float32({name}[{i}]) * s)")
    # float32 arithmetic on the elements' float32 values, one rounding at the store
    return (f"{name}[{i}] = {other}[{j}] * s + {name}[{i}]",
            f"{name}[{i}] = np.float32({other}[{j}]) * s + np.float32({name}[{i}])")


@FUZZ
@given(dtype=st.sampled_from(sorted(HALF)), statements=st.lists(half_statements(), min_size=1, max_size=4),
       seed=st.integers(0, 2**32 - 1), hc_dtype=st.sampled_from(["", "x.dtype", "g.dtype", "ha.dtype"]))
def test_16_bit_slice_programs_match_numpy(dev, gen_dir, dtype, statements, seed, hc_dtype):
    kernel_lines = "\n".join(f"    {k}" for k, _ in statements)
    numpy_lines = "\n".join(f"    {n}" for _, n in statements)
    module = load_source(gen_dir, f"""import ml_dtypes
import numpy as np
import wafersim as ws


def _plain(function):  # a @ws.jit device function that the NumPy reference calls as plain Python too
    jitted = ws.jit(function)
    jitted.__wrapped__ = function
    return jitted


@_plain
def by_dtype(dt, v):
    if dt == np.float16:
        return v * 2.0
    if dt == ml_dtypes.bfloat16:
        return v * 4.0
    return v * 8.0


@ws.jit
def kern(x, g, acc, out, out_acc, s, t):
    ha = ws.local.array({H_SIZE}, {dtype})
    hb = ws.local.array({H_SIZE}, {dtype})
    hc = ws.local.array({H_SIZE}, {hc_dtype or dtype})
    f = ws.local.array({H_SIZE}, np.float32)
    ha[0:{H_SIZE}] = x[0:{H_SIZE}]
    hb[0:{H_SIZE}] = x[{H_SIZE}:{2 * H_SIZE}]
    hc[0:{H_SIZE}] = x[{2 * H_SIZE}:{3 * H_SIZE}]
    f[0:{H_SIZE}] = acc[0:{H_SIZE}]
{kernel_lines}
    out[0:{H_SIZE}] = ha[0:{H_SIZE}]
    out[{H_SIZE}:{2 * H_SIZE}] = hb[0:{H_SIZE}]
    out[{2 * H_SIZE}:{3 * H_SIZE}] = hc[0:{H_SIZE}]
    out_acc[0:{H_SIZE}] = f[0:{H_SIZE}]
    g[1] = g[0] * s + ha[3]


def ref(x, g, acc, s, t, H):
    ha, hb, hc = x[0:{H_SIZE}].copy(), x[{H_SIZE}:{2 * H_SIZE}].copy(), x[{2 * H_SIZE}:].copy()
    f = acc.copy()
{numpy_lines}
    g[1] = np.float32(g[0]) * s + np.float32(ha[3])
    return np.concatenate([ha, hb, hc]), f
""")
    H = HALF[dtype]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, 3 * H_SIZE).astype(H)
    g = rng.uniform(-4, 4, H_SIZE).astype(H)
    acc = rng.uniform(-4, 4, H_SIZE).astype(np.float32)
    s, t = np.float32(rng.uniform(-2, 2)), np.float32(rng.uniform(-2, 2))
    want_g = g.copy()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want, want_acc = module.ref(x, want_g, acc, s, t, H)
    d_g, d_out, d_acc = dev.to_device(g), dev.device_array(3 * H_SIZE, H), dev.device_array(H_SIZE)
    module.kern[(1, 1), (1, 1)](dev.to_device(x), d_g, dev.to_device(acc), d_out, d_acc, s, t)
    message = f"{dtype}\n{kernel_lines}\ns={s!r} t={t!r}"
    np.testing.assert_array_equal(d_out.copy_to_host().astype(np.float32), want.astype(np.float32), err_msg=message)
    np.testing.assert_array_equal(d_acc.copy_to_host(), want_acc, err_msg=message)
    np.testing.assert_array_equal(d_g.copy_to_host().astype(np.float32), want_g.astype(np.float32), err_msg=message)


# ----------------------------------------------------------------------------- float32 / int32 slice programs
N, R = 8, 4  # (closure constants of the generated kernels: the arrays' sizes)
#: The arrays of one program: 1-D `a`, `b`, 2-D `g` (R, N), 3-D `t` (2, 2, N), all of one dtype.
ROWS = ["a", "b"] + [f"g[{r}, " for r in range(-R, R)] + [f"t[{i}, {j}, " for i in (0, 1, -2) for j in (0, 1, -1)]
#: The arrays whose attributes (`.ndim`, `.shape`, `.dtype`, ...) a statement reads, by their number of dimensions
#: (`x`: the kernel's argument, of the program's dtype).
DIMS = {"a": 1, "b": 1, "g": 2, "t": 3, "x": 1}
#: (kernel, NumPy) scalars by dtype; `CS` is a closure constant, `u` an annotated variable.
SCALARS = {"np.float32": ["s", "CS", "0.5", "(s * CS)", "a[1]", "t[1, 0, 2]", "g[-1, 3]", "(s - 2)"],
           "np.int32": ["n", "CS", "3", "(n * CS)", "a[1]", "t[1, 0, 2]", "g[-1, 3]", "(n - 7)"]}


class SliceGen:
    """Statements over the arrays above; slice bounds constant, a parameter (`o`), a loop variable (`k`) or
    of a run-time length (`m`). Records whether some operand's run-time length differs from its
    destination's (the kernel must then stop with MemoryAccessError)."""

    def __init__(self, draw, dtype: str, o: int, m: int) -> None:
        self.draw, self.dtype, self.o, self.m = draw, dtype, o, m
        self.loop = 0  # the trip count of the loop around the statement being drawn (0: none)
        self.mismatch = False
        self.refused = False  # a statement the compiler must refuse (a CompileError at launch)

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def bounds(self, length: int, runtime_length: bool = True) -> str:
        forms = ["const", "const"]
        if self.o + length <= N:
            forms.append("param")
        if self.loop and self.loop - 1 + length <= N:
            forms += ["loop", "loop"]
        if runtime_length and self.m + 0 <= N and (self.m == length or self.draw(st.integers(0, 9)) == 0):
            forms.append("length")
        form = self.choice(forms)
        if form == "param":
            return f"o:o + {length}"
        if form == "loop":
            return f"k:k + {length}"
        start = self.draw(st.integers(0, N - (self.m if form == "length" else length)))
        if form == "length":
            self.mismatch |= self.m != length
            return f"{start}:{start} + m"
        return f"{start}:{start + length}"

    def row(self, length: int, runtime_length: bool = True) -> str:
        name = self.choice(ROWS)
        bounds = self.bounds(length, runtime_length)
        return f"{name}[{bounds}]" if len(name) == 1 else f"{name}{bounds}]"

    def operand(self, length: int):
        """A strategy of (text, text) of a row slice of `length`, drawn by `trees`."""
        @st.composite
        def strategy(draw):
            outer, self.draw = self.draw, draw
            try:
                text = self.row(length)
            finally:
                self.draw = outer
            return text, text
        return strategy()

    def view(self, length: int) -> tuple[str, str]:
        """A slice in a variable whose start is a variable rebound before the view is used: a view keeps the
        bounds it was taken with, as NumPy's does (and sees its array change)."""
        self.views = getattr(self, "views", 0) + 1
        name, var = self.choice(ROWS), f"w{self.views}"
        if self.loop and self.loop - 1 + length <= N and self.draw(st.booleans()):
            var, first = "k", ""  # the loop variable itself, rebound inside the body
        else:
            first = f"{var} = {'o' if self.o + length <= N and self.draw(st.booleans()) else self.draw(st.integers(0, N - length))}; "
        row = f"{name}[{var}:{var} + {length}]" if len(name) == 1 else f"{name}{var}:{var} + {length}]"
        view = f"v{self.views}"
        bind = f"{first}{view} = {row}; {var} = {var} + {self.draw(st.integers(1, 3))}; "
        loop, self.loop = self.loop, 0  # (the other slices' bounds do not use a rebound k)
        dst = self.row(length, runtime_length=False)
        scalar = st.sampled_from([(v, v) for v in SCALARS[self.dtype]])
        operand = st.one_of(self.operand(length), st.just((view, view)))
        kernel, numpy = self.draw(trees(operand, scalar, self.draw(st.integers(1, 3))))
        self.loop = loop
        return f"{bind}{dst} = {kernel} + {view}", f"{bind}{dst} = {numpy} + {view}"

    def effect(self, length: int) -> tuple[str, str]:
        """A device function writing an array inside a statement: after an augmented assignment's index that
        reads the array was evaluated (Python evaluates it once, first: int32 programs), or before an operand
        slice, a view, is read."""
        arr, k, v = self.choice(["a", "b"]), self.draw(st.integers(0, N - 1)), self.draw(st.integers(-9, 9))
        call = f"poke({arr}, {k}, {v})"
        if self.dtype == "np.int32" and self.draw(st.booleans()):
            index = self.choice([f"{self.choice(['a', 'b'])}[{self.draw(st.integers(0, N - 1))}] % N"
                                 for _ in range(2)])
            target = self.choice([f"a[{index}]", f"b[{index}]", f"g[{index} % R, {index}]"])
            op = self.choice(["+=", "-=", "*="])
        else:
            target, op = self.row(length, runtime_length=False), "="
            call = f"{self.row(length, runtime_length=False)} + {call}"
        return f"{target} {op} {call}", f"{target} {op} {call.replace('poke(', 'poke_ref(')}"

    def moved_accumulate(self, length: int) -> tuple[str, str]:
        """`a[B] = a[B] + y * poke(b, j, v)`, `B` reading `b[j]`, which the call moves: two slices in Python, where
        the in-place `vfma` read the target's (fuzz46); the call first, `+=`; and the call in slice bounds (poke
        gives 2): after an operation on slices refused (NumPy computed it before the call), else NumPy's order."""
        j = self.draw(st.integers(0, N - 1))
        first, moved = (self.draw(st.integers(0, N - length)) for _ in range(2))
        start = f"b[{j}]" if self.dtype == "np.int32" else f"int(b[{j}])"
        dst, call = f"a[{start}:{start} + {length}]", f"poke(b, {j}, {moved})"
        other, shifted = self.row(length, runtime_length=False), f"a[{call}:{call} + {length}]"
        forms = [(f"{dst} = {dst} + {other} * {call}", 0), (f"{dst} = {call} * {other} + {dst}", 0),
                 (f"{dst} += {other} * {call}", 0)] + ([] if length > N - 2 else [
            (f"{shifted} = {other}", 0), (f"{shifted} = {other} * 2", 1), (f"{dst} = {other} * 2 + {shifted}", 1),
            (f"{dst} = {shifted} + {other} * 2", 0)])
        kernel, refused = self.choice(forms)
        self.refused |= bool(refused)
        kernel = f"b[{j}] = {first}; {kernel}"
        return kernel, kernel.replace("poke(", "poke_ref(")

    def element(self) -> str:
        return self.choice([f"a[{self.draw(st.integers(-N, N - 1))}]", f"b[{self.draw(st.integers(0, N - 1))}]",
                            f"g[{self.draw(st.integers(-R, R - 1))}, {self.draw(st.integers(0, N - 1))}]",
                            f"t[{self.draw(st.integers(-2, 1))}, {self.draw(st.integers(0, 1))}, "
                            f"{self.draw(st.integers(-N, N - 1))}]"])

    def statement(self) -> tuple[list[str], list[str]]:
        """(kernel lines, NumPy lines) of one statement, perhaps inside `for k in range(...)`."""
        self.loop = self.draw(st.integers(1, 3)) if self.draw(st.integers(0, 2)) == 0 else 0
        kernel, numpy = self.simple()
        if self.loop:
            header = f"for k in range({self.loop}):"
            return [header, "    " + kernel], [header, "    " + numpy]
        return [kernel], [numpy]

    def attribute(self) -> str:
        """An array's `.ndim`, `.size`, `len()`, `.shape[k]` (constants for local arrays, run-time values for the
        argument `x`), or a choice by its `.dtype` (folded)."""
        name = self.choice(sorted(DIMS))
        dims = DIMS[name]
        form = self.choice(["ndim", "size", "len", "shape", "dtype", "dtype"])
        if form == "dtype":
            test = f"{name}.dtype {self.choice(['==', '!='])} {self.choice(['np.float32', 'np.int32', 'np.float16'])}"
            return f"({self.choice(SCALARS[self.dtype])} if {test} else {self.choice(SCALARS[self.dtype])})"
        if form == "shape":
            return f"{name}.shape[{self.draw(st.integers(-dims, dims - 1))}]"
        return f"len({name})" if form == "len" else f"{name}.{form}"

    def dtype_local(self, length: int) -> tuple[str, str]:
        """A local array made with another array's dtype (Numba's `ws.local.array(n, x.dtype)`), its size at times
        another local array's `.size` or `.shape[k]`: filled from a slice, read into one."""
        self.locals = getattr(self, "locals", 0) + 1
        name, like = f"c{self.locals}", self.choice(sorted(DIMS))
        sizes = [str(length)] + ([f"{self.choice(['a', 'b'])}.size", "len(a)", "g.shape[1]", "t.shape[-1]"]
                                 if length == N else []) + (["g.shape[0]", "len(g)"] if length == R else [])
        make = f"{name} = ws.local.array({self.choice(sizes)}, {like}.dtype)"
        fill = f"{name}[0:{length}] = {self.row(length, runtime_length=False)}"
        use = (f"{self.row(length, runtime_length=False)} = {name}[0:{length}] {self.choice(['+', '-', '*'])} "
               f"{self.choice(SCALARS[self.dtype])}")
        return f"{make}; {fill}; {use}", f"{name} = np.zeros({length}, {like}.dtype); {fill}; {use}"

    def simple(self) -> tuple[str, str]:
        kind = self.choice(["tree", "tree", "tree", "reduce", "stride", "column", "element", "annotated", "view",
                            "effect", "moved", "attribute", "by_array", "dtype_local"])
        length = self.draw(st.integers(1, N))
        if kind == "attribute":  # an array's attributes in arithmetic
            text = f"{self.element()} = {self.element()} {self.choice(['+', '-', '*'])} {self.attribute()}"
            return text, text
        if kind == "by_array":  # a device function choosing by its array parameter's dtype, ndim and len
            target, value = self.element(), self.element()
            arr = self.choice(sorted(DIMS))
            return f"{target} = by_array({arr}, {value})", f"{target} = by_array.__wrapped__({arr}, {value})"
        if kind == "dtype_local":
            return self.dtype_local(length)
        if kind == "view":
            return self.view(length)
        if kind == "moved":
            return self.moved_accumulate(length)
        if kind == "effect":
            return self.effect(length)
        if kind == "tree":
            dst = self.row(length, runtime_length=False)
            scalar = st.sampled_from([(v, v) for v in SCALARS[self.dtype]])
            kernel, numpy = self.draw(trees(self.operand(length), scalar, self.draw(st.integers(1, 3))))
            op = self.choice(["=", "=", "+=", "-=", "*="])
            return f"{dst} {op} {kernel}", f"{dst} {op} {numpy}"
        if kind == "reduce":  # sequential: Python's sum over NumPy scalars; ws.dot rounds each product
            one, two = self.row(length, False), self.row(length, False)
            fn = self.choice(["sum", "min", "max", "dot"])
            target = self.element()
            if fn == "dot":
                return f"{target} = ws.dot({one}, {two})", f"{target} = sum({one} * {two})"
            return f"{target} = {fn}({one})", f"{target} = {'sum' if fn == 'sum' else 'np.' + fn}({one})"
        if kind == "stride":  # a constant positive step, on either side of a copy between 1-D local arrays
            step = self.draw(st.integers(2, 3))
            count = self.draw(st.integers(1, (N - 1) // step + 1))
            first = self.draw(st.integers(0, N - 1 - (count - 1) * step))
            last = min(first + (count - 1) * step + self.draw(st.integers(1, step)), N)
            strided = f"{self.choice(['a', 'b'])}[{first}:{last}:{step}]"
            start = self.draw(st.integers(0, N - count))
            plain = f"{self.choice(['a', 'b'])}[{start}:{start + count}]"
            # (the source read first: NumPy 2.4 copies a[0:3] into a[0:5:2] element by element, reading a[2]
            # after writing it)
            dst, src = (plain, strided) if self.draw(st.booleans()) else (strided, plain)
            return f"{dst} = {src}", f"{dst} = {src}.copy()"
        if kind == "column":  # a column of the 2-D array, to or from a 1-D slice
            count = self.draw(st.integers(1, R))
            first, start = self.draw(st.integers(0, R - count)), self.draw(st.integers(0, N - count))
            column = f"g[{first}:{first + count}, {self.draw(st.integers(0, N - 1))}]"
            plain = f"{self.choice(['a', 'b'])}[{start}:{start + count}]"
            dst, src = (plain, column) if self.draw(st.booleans()) else (column, plain)
            return f"{dst} = {src}", f"{dst} = {src}.copy()"
        if kind == "element":  # scalar arithmetic on elements of 1-, 2- and 3-D arrays
            op = self.choice(["+", "-", "*"])
            text = f"{self.element()} = {self.element()} {op} {self.choice(SCALARS[self.dtype])}"
            return text, text
        # an annotated variable: an int32 value converted to a float32 one, or an int32 one
        value, target, name = f"n * {self.draw(st.integers(-9, 9))} + m", self.element(), f"u{self.draw(st.integers(0, 99))}"
        if self.dtype == "np.float32":
            return f"{name}: float = {value}; {target} = {name} * s", f"{name} = np.float32({value}); {target} = {name} * s"
        return f"{name}: np.int32 = {value}; {target} = {name} - CS", f"{name} = np.int32({value}); {target} = {name} - CS"


def draw_statements(draw, gen) -> tuple[list[str], list[str]]:
    """One to four of `gen.statement()`'s (kernel lines, NumPy reference lines), joined."""
    kernel, numpy = [], []
    for _ in range(draw(st.integers(1, 4))):
        k, n = gen.statement()
        kernel += k
        numpy += n
    return kernel, numpy


@st.composite
def slice_programs(draw, dtype: str, o: int, m: int):
    gen = SliceGen(draw, dtype, o, m)
    kernel, numpy = draw_statements(draw, gen)
    return kernel, numpy, "CompileError" if gen.refused else "MemoryAccessError" if gen.mismatch else "NumPy"


@st.composite
def slice_cases(draw):
    dtype = draw(st.sampled_from(sorted(SCALARS)))
    o, m = draw(st.integers(0, 3)), draw(st.integers(1, N))
    return (dtype, o, m, draw(st.sampled_from([0.5, -1.25, 3.0] if dtype == "np.float32" else [3, -2, 65537])),
            *draw(slice_programs(dtype, o, m)))


def render_slice_program(dtype: str, cs, kernel: list[str], numpy: list[str], unchecked: bool = False) -> str:
    """The kernel made inside a function (N, R and CS closure constants; `o: float` an ignored annotation of
    an int parameter; `unchecked`: compiled with `boundscheck=False`, which changes nothing where every index is
    in bounds) and the NumPy reference running the same statements on arrays of the same dtype."""
    rows = [f"g[{r}, 0:N]" for r in range(R)] + [f"t[{i}, {j}, 0:N]" for i in range(2) for j in range(2)]
    names = ["a[0:N]", "b[0:N]"] + rows
    loads = "\n".join(f"        {name} = x[{k * N}:{(k + 1) * N}]" for k, name in enumerate(names))
    stores = "\n".join(f"        out[{k * N}:{(k + 1) * N}] = {name}" for k, name in enumerate(names))
    body = "\n".join(f"        {line}" for line in kernel)
    ref_body = "\n".join(f"    {line}" for line in numpy)
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def poke(arr, k, v):  # a device function that writes an array (`poke_ref` in the reference)
    arr[k] = v
    return 2


def poke_ref(arr, k, v):
    arr[k] = v
    return 2


def _plain(function):  # a @ws.jit device function that the NumPy reference calls as plain Python too
    jitted = ws.jit(function)
    jitted.__wrapped__ = function
    return jitted


@_plain
def by_array(arr, v):  # a device function choosing by its array's dtype (folded), with its ndim and len
    if arr.dtype == np.float16:
        return v * 4
    if arr.dtype == np.float32:
        return v * 2 + arr.ndim
    return v - arr.ndim * len(arr)


def make(N, R, CS):
    @ws.jit{"(boundscheck=False)" if unchecked else ""}
    def kern(x, out, s, n, o: float, m):
        a = ws.local.array(N, {dtype})
        b = ws.local.array(N, {dtype})
        g = ws.local.array((R, N), {dtype})
        t = ws.local.array((2, 2, N), {dtype})
{loads}
{body}
{stores}
    return kern


kern = make({N}, {R}, {cs!r})


def ref(x, s, n, o, m):
    N, R, CS = {N}, {R}, {dtype}({cs!r})
    a, b = x[0:N].copy(), x[N:2 * N].copy()
    g, t = x[2 * N:(2 + R) * N].reshape(R, N).copy(), x[(2 + R) * N:].reshape(2, 2, N).copy()
{ref_body}
    return np.concatenate([a, b, g.ravel(), t.ravel()])
"""


_SHIFTED = "a[poke(b, 0, 3):poke(b, 0, 3) + 4]"  # (bounds calling a function that writes b: the @examples below)


@FUZZ
@given(case=slice_cases(), seed=st.integers(0, 2**32 - 1))
@example(case=("np.int32", 0, 4, 3, ["b[1] = 0; a[b[1]:b[1] + 4] = a[b[1]:b[1] + 4] + a[2:6] * poke(b, 1, 3)"],
               ["b[1] = 0; a[b[1]:b[1] + 4] = a[b[1]:b[1] + 4] + a[2:6] * poke_ref(b, 1, 3)"], "NumPy"), seed=1)
@example(case=("np.float32", 0, 4, 0.5, [f"{_SHIFTED} = b[0:4] * 2"], [], "CompileError"), seed=1)
@example(case=("np.float32", 0, 4, 0.5, [f"a[0:4] = b[0:4] * 2 + {_SHIFTED}"], [], "CompileError"), seed=1)
def test_slice_programs_match_numpy(dev, gen_dir, case, seed):
    dtype, o, m, cs, kernel, numpy, expect = case
    unchecked = expect == "NumPy" and seed % 3 == 0  # (a program whose indices all hold: no check changes it)
    module = load_source(gen_dir, render_slice_program(dtype, cs, kernel, numpy, unchecked))
    rng = np.random.default_rng(seed)
    size = (2 + R + 4) * N
    if dtype == "np.float32":
        x = rng.uniform(-4, 4, size).astype(np.float32)
        special = rng.random(size) < 0.15  # signed zeros, infinities, nan, a subnormal, a large value
        x[special] = rng.choice(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3e38], np.float32),
                                int(special.sum()))
        s, n = np.float32(rng.choice([rng.uniform(-2, 2), 0.0, -0.0])), np.int32(rng.integers(-30, 31))
        if seed % 4 == 1:  # an np.float16 argument: the float32 it equals (docs: scalars are never 16-bit)
            s = np.float16(s)
    else:
        x = rng.integers(-50, 51, size).astype(np.int32)
        wide = rng.random(size) < 0.2
        x[wide] = rng.integers(-(2**31), 2**31, int(wide.sum()), dtype=np.int64).astype(np.int32)
        s, n = np.float32(0.5), np.int32(rng.choice([3, -7, 100000, 2**31 - 1]))
    message = "\n".join(kernel) + f"\n{dtype} o={o} m={m} CS={cs} s={s!r} n={n}"
    out = dev.device_array(size, x.dtype)
    launch = module.kern[(1, 1), (1, 1)]
    if expect == "CompileError":
        with pytest.raises(ws.CompileError, match="bounds call a function that writes an array"):
            launch(dev.to_device(x), out, s, int(n), o, m)
        return
    if expect == "MemoryAccessError":  # a run-time length other than the destination's
        with pytest.raises(ws.MemoryAccessError):
            launch(dev.to_device(x), out, s, int(n), o, m)
        return
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = module.ref(x, np.float32(s), n, np.int32(o), np.int32(m))
    launch(dev.to_device(x), out, s, int(n), o, m)
    got = out.copy_to_host()
    np.testing.assert_array_equal(got, want, err_msg=message)
    numbers = ~(np.isnan(got) | np.isnan(want))  # (the sign of a nan may differ, as documented)
    assert (np.signbit(got) == np.signbit(want))[numbers].all(), message  # zeros' signs too
