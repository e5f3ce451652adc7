"""Differential fuzzing of the `@ws.jit` compiler with Hypothesis: slice and 2-D block assignments.

Random slice assignments (trees of + - * / unary - and + min max and math functions (np.exp, abs, ...) over
slices of three local arrays and scalars, sum/min/max of slices and whole arrays and `ws.dot` of two slices
among the scalars, an operand sometimes read through a slice taken into a variable before, the destination often
overlapping an operand, some starts read from an element of the arrays at run time) and 2-D block
assignments (`a[1:3, 0:4] = ...`, row by row, math functions included; one-row blocks also as row slices,
`a[1, 0:4]` or `a[-3, 0:4]`; columns shifted by an element of the destination the rows write, evaluated
once as NumPy does; rows also `e:` and `:`, and a block's rows starting where a run-time value says; row slices
broadcast to every row, a row of the destination's array refused), plain or
augmented (`+=`, `-=`, `*=`, `/=`), with written-out numbers and an int32
parameter meeting float32 scalars among the scalars, are compared with NumPy. Slice bounds and block rows and
columns are also written `e:e + K` with `K` an `np.int32` or `True`; the functions are every float32 `vmath`
NumPy has a float32 ufunc for (also under `math.` and `ws.`), `np.abs`, and the angle conversions
(`np.degrees`, `np.radians`, `rad2deg`, `deg2rad`, `math.degrees`, `math.radians`: one `vmul`). Int32 slice
trees (+ - * unary - min max abs np.abs, values near the int32 limits) are compared with NumPy's wrapping int32.

Each is rendered as Python source twice (a `@ws.jit` kernel and a NumPy reference with the same text), as
tests/test_compiler_fuzz.py renders its scalar kernels; WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it
as the other fuzz tests.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from test_compiler_fuzz import FUZZ

import wafersim as ws
from conftest import load_source

load = load_source  # see conftest.py

#: Functions of slices in vector trees, (kernel, NumPy reference): one `vmath` each, the reference the same NumPy
#: float32 ufunc (`math.` names of a slice mean the ufunc; of a number, the scalar instruction, which is the
#: ufunc too); the angle conversions are one `vmul` by NumPy's float32 factor. (erf, erfc, gamma, lgamma:
#: no NumPy float32 ufunc to compare bit for bit with; tests/test_compiler_vector_math.py checks them.)
VEC_FUNCTIONS = [(name, name) for name in (
    "np.exp", "np.tanh", "np.sin", "np.floor", "np.sqrt", "abs", "np.rint", "np.log1p", "np.cos", "np.tan",
    "np.arctan", "np.arcsin", "np.arccos", "np.sinh", "np.cosh", "np.arcsinh", "np.arccosh", "np.arctanh",
    "np.expm1", "np.log", "np.log2", "np.log10", "np.ceil", "np.trunc", "np.fabs", "np.degrees", "np.radians",
    "np.rad2deg", "np.deg2rad")] + [
    ("math.exp", "np.exp"), ("math.sqrt", "np.sqrt"), ("math.fabs", "np.fabs"), ("math.log2", "np.log2"),
    ("math.atan", "np.arctan"), ("math.degrees", "np.degrees"), ("math.radians", "np.radians"),
    ("ws.tanh", "np.tanh"), ("ws.exp", "np.exp")]
#: Functions taken of slices only (of a number they are refused: `np.abs(s)` says to write `abs`).
SLICE_ONLY_FUNCTIONS = [("np.abs", "np.abs")]
#: The reductions among the scalars (they hold slices, but are numbers): a whole 1-D array's too, and `ws.dot`,
#: whose reference is the float32 (int32) products summed in order from 0, as a Python loop does
#: (docs/python-supported.md, "Reductions").
REDUCTIONS = ("sum(b[1:5])", "min(c[0:3])", "max(a[2:8])", "sum(c)", "max(b)", "ws.dot(a[0:3], c[2:5])")
#: The reference's text of a reduction that NumPy writes otherwise.
REDUCTION_REFERENCE = {"ws.dot(a[0:3], c[2:5])": "sum(a[0:3] * c[2:5])"}


def has_slice(text: str) -> bool:
    """Whether a tree's text computes a vector: a slice of a, b or c outside the reductions."""
    for reduction in REDUCTIONS:
        text = text.replace(reduction, "")
    text = re.sub(r"\(1 if [abc]\[\d+\] > 0 else 0\)", "0", text)  # (a run-time start's element)
    return re.search(r"\b[abc]\[[^]]*:", text) is not None


@st.composite
def length_text(draw, length: int) -> str:
    """The `K` of `e:e + K`: a constant written out, as an `np.int32`, or `True` for 1 (Python's `2 + True` is 3)."""
    return draw(st.sampled_from([str(length), f"np.int32({length})"] + (["True"] if length == 1 else [])))


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_slices")


# ----------------------------------------------------------------------------- slice expression trees
VEC_SIZE = 8
VEC_ARRAYS = ("a", "b", "c")
VEC_SCALARS = ("s", "t", "np.float32(0.5)", "np.float32(-1.25)", "(s * t)", *REDUCTIONS, "0.5", "-1.25",
               "(s + 3)")  # reductions: evaluated, as NumPy does, before the
# destination is written; written-out numbers are folded into the kernel as float32 constants.
#: The NumPy text of a written-out number: a float32, as the kernel's (docs/python-supported.md: `float` values
#: are float32, math functions of constants folded with the float32 ufuncs). NumPy keeps a bare Python float
#: float32 only as a weak scalar beside a float32 operand: `np.exp(-0.5)` is a float64, which made
#: `c[3:4] += np.exp((-0.5))` add in float64 (7 ulps off after cancellation).
WRITTEN_NUMBERS = {"0.5": "np.float32(0.5)", "-1.25": "np.float32(-1.25)", **REDUCTION_REFERENCE}
#: (kernel, NumPy) scalars where the int32 parameter `n` meets a float32 (converted to float32 first).
MIXED_SCALARS = (("(n * s)", "(np.float32(n) * s)"), ("(t - n)", "(t - np.float32(n))"),
                 ("(n / 3)", "(np.float32(n) / np.float32(3))"), ("(n + 0.1)", "(np.float32(n) + np.float32(0.1))"),
                 ("max(n, s)", "max(np.float32(n), s)"), ("(n if s > t else t)", "(np.float32(n) if s > t else t)"))
N_VALUES = (3, -7, 100000, 16777217, 33554431)
#: Slice and block assignments: plain, or augmented (`a[0:4] += ...` is `a[0:4] = a[0:4] + (...)` in NumPy too).
ASSIGN_OPS = ("=", "=", "+=", "-=", "*=", "/=")


@st.composite
def vector_slice(draw, name: str, length: int) -> str:
    """`name[start:start + length]`, or (one draw in three, when it fits) a start known only at run time, shifted
    by 0 or 1 by an element of one of the arrays: `a[2 + (1 if c[5] > 0 else 0):2 + (1 if c[5] > 0 else 0) + 3]`
    (the `s:s + K` form, a constant length, `K` also an `np.int32` or `True`). In an augmented assignment's target it is evaluated once, before
    the right side, as Python does; the right side's slices are read before the destination is written."""
    if length < VEC_SIZE and draw(st.integers(0, 2)) == 0:
        start = draw(st.integers(0, VEC_SIZE - length - 1))
        shift = f"(1 if {draw(st.sampled_from(VEC_ARRAYS))}[{draw(st.integers(0, VEC_SIZE - 1))}] > 0 else 0)"
        return f"{name}[{start} + {shift}:{start} + {shift} + {draw(length_text(length))}]"
    start = draw(st.integers(0, VEC_SIZE - length))
    if draw(st.integers(0, 3)) == 0:
        return f"{name}[{start}:{start} + {draw(length_text(length))}]"
    return f"{name}[{start}:{start + length}]"


@st.composite
def vector_trees(draw, length: int, depth: int):
    """(kernel text, NumPy text) of a random tree of + - * / unary - min max over slices and scalars (a scalar
    divided by a slice too: `1.0 / a[0:4]`, a vfill then a vdiv)."""
    kinds = ["slice", "slice", "scalar"] + (["bin", "bin", "neg", "minmax", "fn", "pos", "rdiv"] if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "rdiv":  # a scalar divided by a slice (a vfill, then one vdiv: NumPy's one division per element)
        scalar = draw(st.sampled_from(VEC_SCALARS))
        kernel = draw(vector_slice(draw(st.sampled_from(VEC_ARRAYS)), length))
        return f"({scalar} / {kernel})", f"({WRITTEN_NUMBERS.get(scalar, scalar)} / {kernel})"
    if kind == "slice":
        text = draw(vector_slice(draw(st.sampled_from(VEC_ARRAYS)), length))
        return text, text
    if kind == "scalar":
        if draw(st.integers(0, 3)) == 0:
            return draw(st.sampled_from(MIXED_SCALARS))
        text = draw(st.sampled_from(VEC_SCALARS))
        return text, WRITTEN_NUMBERS.get(text, text)
    if kind in ("neg", "pos"):  # (`+c[0:n]`: NumPy's copy; of a whole right side, no operation at all)
        kernel, numpy = draw(vector_trees(length, depth - 1))
        sign = "-" if kind == "neg" else "+"
        return f"({sign}{kernel})", f"({sign}{numpy})"
    if kind == "fn":  # a math function of a subtree (of a scalar, the scalar instruction)
        kernel, numpy = draw(vector_trees(length, depth - 1))
        name, ref = draw(st.sampled_from(VEC_FUNCTIONS + (SLICE_ONLY_FUNCTIONS if has_slice(kernel) else [])))
        return f"{name}({kernel})", f"{ref}({numpy})"
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        (kl, nl) = draw(vector_trees(length, depth - 1))
        (kr, nr) = draw(vector_trees(length, depth - 1))
        return f"({kl} {op} {kr})", f"({nl} {op} {nr})"
    (kl, nl) = draw(vector_trees(length, depth - 1))
    (kr, nr) = draw(vector_trees(length, depth - 1))
    name = draw(st.sampled_from(["min", "max"]))
    if not (has_slice(kl) or has_slice(kr)):  # two numbers: Python's builtin (`min(x, nan)` is x), not np.minimum
        return f"{name}({kl}, {kr})", f"{name}({nl}, {nr})"
    return f"{name}({kl}, {kr})", f"np.{'minimum' if name == 'min' else 'maximum'}({nl}, {nr})"


@st.composite
def slice_assignments(draw):
    length = draw(st.integers(1, VEC_SIZE))
    target = draw(vector_slice(draw(st.sampled_from(VEC_ARRAYS)), length))
    kernel, numpy = draw(vector_trees(length, draw(st.integers(1, 4))))
    return draw(through_a_view(f"{target} {draw(st.sampled_from(ASSIGN_OPS))}", kernel, numpy))


@st.composite
def through_a_view(draw, target: str, kernel: str, numpy: str):
    """The assignment, or (one draw in three) with one operand slice of its right side taken into a variable in a
    statement before it, `v0 = b[1:4]`, and read through it: a view, as NumPy's (its bounds those it was taken
    with). The statement goes before the target, on a line of its own."""
    slices = re.findall(r"\b[abc]\[\d+:[^][]+\]", kernel)
    if not slices or draw(st.integers(0, 2)):
        return target, kernel, numpy
    chosen = draw(st.sampled_from(slices))
    return f"v0 = {chosen}\n    {target}", kernel.replace(chosen, "v0", 1), numpy.replace(chosen, "v0", 1)


def render_slice_assignment(target: str, kernel_expr: str, numpy_expr: str) -> str:
    fill = "\n".join(f"        {name}[i] = x[{k * VEC_SIZE} + i]" for k, name in enumerate(VEC_ARRAYS))
    store = "\n".join(f"        out[{k * VEC_SIZE} + i] = {name}[i]" for k, name in enumerate(VEC_ARRAYS))
    arrays = "\n".join(f"    {name} = ws.local.array({VEC_SIZE}, np.float32)" for name in VEC_ARRAYS)
    return f"""import math

import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, s, t, n):
{arrays}
    for i in range({VEC_SIZE}):
{fill}
    {target} {kernel_expr}
    for i in range({VEC_SIZE}):
{store}


def ref(x, s, t, n):
    {", ".join(VEC_ARRAYS)} = (x[{0}:{VEC_SIZE}].copy(), x[{VEC_SIZE}:{2 * VEC_SIZE}].copy(),
                               x[{2 * VEC_SIZE}:{3 * VEC_SIZE}].copy())
    {target} {numpy_expr}
    return np.concatenate([{", ".join(VEC_ARRAYS)}])
"""


@FUZZ
@given(assignment=slice_assignments(), seed=st.integers(0, 2**32 - 1), n=st.sampled_from(N_VALUES))
@example(assignment=("c[3:4] +=", "np.exp((-0.5))", "np.exp((-np.float32(0.5)))"), seed=0, n=3)  # float32 exp
# min of two numbers is Python's builtin, a nan second gives the first (the reference took np.minimum: nan)
@example(assignment=("a[0:1] =", "min((n * s), np.sqrt((n * s)))",
                     "min((np.float32(n) * s), np.sqrt((np.float32(n) * s)))"), seed=0, n=-7)
def test_slice_expression_trees_match_numpy(dev, gen_dir, assignment, seed, n):
    module = load(gen_dir, render_slice_assignment(*assignment))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, len(VEC_ARRAYS) * VEC_SIZE).astype(np.float32)
    s, t = np.float32(rng.uniform(-2, 2)), np.float32(rng.uniform(-2, 2))
    with np.errstate(all="ignore"):
        want = module.ref(x, s, t, np.int32(n))
    d_x, d_out = dev.to_device(x), dev.device_array(x.size)
    module.kern[(1, 1), (1, 1)](d_x, d_out, s, t, n)
    np.testing.assert_array_equal(d_out.copy_to_host(), want, err_msg=f"{assignment[0]} {assignment[1]} (n={n})")


# ----------------------------------------------------------------------------- 2-D block assignments
BLOCK_ROWS, BLOCK_COLS = 4, 6


@st.composite
def block_text(draw, name: str, row: int, rows: int, col: int, cols: int, as_rows: bool, moving: str = "",
               shifted: bool = False) -> str:
    """`name[row:row + rows, col:col + cols]`, or with `as_rows` (one row) the row slice `name[row, ...]`, its row
    counted from the start or from the end (`a[1, 0:3]`, `a[-3, 0:3]`). (A block and a row slice do not mix in
    one assignment: the compiler refuses that at the line.) `moving` (a block's columns, `col + cols` below the
    last column): `col + moving:col + moving + cols`, a shift of 0 or 1 that reads the destination, which the
    block's rows write: NumPy evaluates it once, the kernel must not evaluate it again for each row."""
    if as_rows:
        return f"{name}[{draw(st.sampled_from((row, row - BLOCK_ROWS)))}, {col}:{col + cols}]"
    # rows and columns also `e:e + K` (K an int, an np.int32 or True: a constant count of rows or columns), rows
    # to the last one also `e:`; with `shifted` (a block one row above the last of its array, not the
    # destination's) sometimes a start known only at run time, shifted by 0 or 1: `r:r + K` of such an `r`
    form = draw(st.integers(0, 5))
    row_text = f"{row}:{row} + {draw(length_text(rows))}" if form == 0 else f"{row}:{row + rows}"
    if form == 1 and row + rows == BLOCK_ROWS:
        row_text = f"{row}:" if row else draw(st.sampled_from([":", "0:"]))
    if form == 2 and shifted:
        start = f"{row} + (1 if {draw(st.sampled_from(['s', 't']))} > 0 else 0)"
        row_text = f"{start}:{start} + {draw(length_text(rows))}"
    if moving:
        return f"{name}[{row_text}, {col} + {moving}:{col} + {moving} + {draw(length_text(cols))}]"
    col_text = f"{col}:{col} + {draw(length_text(cols))}" if draw(st.integers(0, 3)) == 0 else f"{col}:{col + cols}"
    return f"{name}[{row_text}, {col_text}]"


@st.composite
def moving_shift(draw, dst: str, dst_row: int, cols: int, as_rows: bool) -> str:
    """"" (most draws), or a column shift of 0 or 1 read from the destination's first row (`moving` above)."""
    if as_rows or cols >= BLOCK_COLS or draw(st.integers(0, 2)):
        return ""
    return f"(1 if {dst}[{dst_row}, {draw(st.integers(0, BLOCK_COLS - 1))}] > 0 else 0)"


@st.composite
def block_trees(draw, rows: int, cols: int, dst: str, dst_row: int, depth: int, as_rows: bool = False):
    """(kernel text, NumPy text) of a tree over blocks of the 2-D arrays a, b, c (and scalars). A block of
    the destination's array starts at the destination's row (shifted rows are refused: row by row, some would be read after being written)."""
    kinds = ["block", "block", "scalar"] + (["bin", "bin", "neg", "minmax", "fn"] if depth else [])
    kind = draw(st.sampled_from(kinds + ([] if as_rows else ["row"])))
    if kind == "row":  # a row slice broadcast to every row of the block, as NumPy does; a row of the
        # destination's array is refused (`refused_row`: row by row, later rows would read it written)
        name = draw(st.sampled_from(VEC_ARRAYS))
        text = f"{name}[{draw(st.integers(0, BLOCK_ROWS - 1))}, {(col := draw(st.integers(0, BLOCK_COLS - cols)))}:" \
               f"{col + cols}]"
        return text, text
    if kind == "fn":  # a math function of a block: one vmath per row
        kernel, numpy = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
        name, ref = draw(st.sampled_from(VEC_FUNCTIONS + (SLICE_ONLY_FUNCTIONS if ":" in kernel else [])))
        return f"{name}({kernel})", f"{ref}({numpy})"
    if kind == "block":
        name = draw(st.sampled_from(VEC_ARRAYS))
        row = dst_row if name == dst else draw(st.integers(0, BLOCK_ROWS - rows))
        moving = draw(moving_shift(dst, dst_row, cols, as_rows))
        col = draw(st.integers(0, BLOCK_COLS - cols - bool(moving)))
        text = draw(block_text(name, row, rows, col, cols, as_rows, moving, name != dst and row + rows < BLOCK_ROWS))
        return text, text
    if kind == "scalar":
        if draw(st.integers(0, 3)) == 0:
            return draw(st.sampled_from(MIXED_SCALARS))
        text = draw(st.sampled_from(("s", "t", "np.float32(0.5)", "(s * t)", f"{dst}[0, 0]", "0.5", "(t - 2)")))
        return text, WRITTEN_NUMBERS.get(text, text)
    if kind == "neg":
        kernel, numpy = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
        return f"(-{kernel})", f"(-{numpy})"
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        kl, nl = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
        kr, nr = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
        return f"({kl} {op} {kr})", f"({nl} {op} {nr})"
    kl, nl = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
    kr, nr = draw(block_trees(rows, cols, dst, dst_row, depth - 1, as_rows=as_rows))
    name = draw(st.sampled_from(["min", "max"]))
    if ":" not in kl + kr:  # two numbers: Python's builtin (`min(x, nan)` is x), not np.minimum
        return f"{name}({kl}, {kr})", f"{name}({nl}, {nr})"
    return f"{name}({kl}, {kr})", f"np.{'minimum' if name == 'min' else 'maximum'}({nl}, {nr})"


@st.composite
def block_assignments(draw):
    rows, cols = draw(st.integers(1, BLOCK_ROWS)), draw(st.integers(1, BLOCK_COLS))
    dst = draw(st.sampled_from(VEC_ARRAYS))
    as_rows = rows == 1 and draw(st.booleans())
    row = draw(st.integers(0, BLOCK_ROWS - rows))
    moving = draw(moving_shift(dst, row, cols, as_rows))
    col = draw(st.integers(0, BLOCK_COLS - cols - bool(moving)))
    target = draw(block_text(dst, row, rows, col, cols, as_rows, moving))
    kernel, numpy = draw(block_trees(rows, cols, dst, row, draw(st.integers(1, 3)), as_rows=as_rows))
    return f"{target} {draw(st.sampled_from(ASSIGN_OPS))}", kernel, numpy


@FUZZ
@given(assignment=block_assignments(), seed=st.integers(0, 2**32 - 1), n=st.sampled_from(N_VALUES))
# a row of the destination copied into the block: rows 1 and 2 read it written (now refused)
@example(assignment=("a[0:3, 1:4] =", "a[0, 0:3]", "a[0, 0:3]"), seed=0, n=3)
def test_block_assignments_match_numpy(dev, gen_dir, assignment, seed, n):
    target, kernel_expr, numpy_expr = assignment
    rows, cols = BLOCK_ROWS, BLOCK_COLS
    refused = refused_row(target, kernel_expr)
    arrays = "\n".join(f"    {name} = ws.local.array(({rows}, {cols}), np.float32)\n"
                       f"    {name}[0:{rows}, 0:{cols}] = x[{k * rows}:{(k + 1) * rows}, 0:{cols}]"
                       for k, name in enumerate(VEC_ARRAYS))
    stores = "\n".join(f"    out[{k * rows}:{(k + 1) * rows}, 0:{cols}] = {name}[0:{rows}, 0:{cols}]"
                       for k, name in enumerate(VEC_ARRAYS))
    module = load(gen_dir, f"""import math

import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, s, t, n):
{arrays}
    {target} {kernel_expr}
{stores}


def ref(x, s, t, n):
    a, b, c = x[0:{rows}].copy(), x[{rows}:{2 * rows}].copy(), x[{2 * rows}:].copy()
    {target} {numpy_expr}
    return np.concatenate([a, b, c])
""")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, (3 * rows, cols)).astype(np.float32)
    s, t = np.float32(rng.uniform(-2, 2)), np.float32(rng.uniform(-2, 2))
    with np.errstate(all="ignore"):
        want = module.ref(x, s, t, np.int32(n))
    d_out = dev.device_array(x.shape)
    if refused:
        with pytest.raises(ws.CompileError, match="a row of the destination"):
            module.kern[(1, 1), (1, 1)](dev.to_device(x), d_out, s, t, n)
        return
    module.kern[(1, 1), (1, 1)](dev.to_device(x), d_out, s, t, n)
    np.testing.assert_array_equal(d_out.copy_to_host(), want, err_msg=f"{target} {kernel_expr} (n={n})")


def refused_row(target: str, expression: str) -> bool:
    """Whether a block assignment's right side holds a row slice of the destination's array (`a[2, 1:4]` into
    `a[0:3, 1:4]`): refused, as NumPy reads it once before writing and row by row later rows would read it
    written. (A scalar element, `a[0, 0]`, has no colon; a block operand's rows are a slice.)"""
    if re.match(r"\w+\[-?\d+, ", target):  # a row slice target: every operand is a row, as NumPy's
        return False
    return re.search(rf"\b{target[0]}\[-?\d+, [^\]]*:", expression) is not None


# ----------------------------------------------------------------------------- int32 slice expression trees
#: int32 scalars of int32 trees: the parameters, written-out ints (NumPy keeps the array's int32 for a Python
#: int, as the kernel does), np.int32 constants, the int32 limits, a reduction (sequential, wrapping).
INT_SCALARS = ("n", "m", "3", "-7", "np.int32(5)", "(n * m)", "(n - m)", "2147483647", "-2147483648",
               *REDUCTIONS, "abs(m)")


@st.composite
def int_vector_trees(draw, length: int, depth: int):
    """(kernel text, NumPy text) of a tree of + - * unary - min max abs np.abs over int32 slices and scalars:
    wrapping as NumPy's int32 arrays do (abs(-2**31) is -2**31)."""
    kinds = ["slice", "slice", "scalar"] + (["bin", "bin", "neg", "minmax", "abs"] if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "slice":
        text = draw(vector_slice(draw(st.sampled_from(VEC_ARRAYS)), length))
        return text, text
    if kind == "scalar":
        text = draw(st.sampled_from(INT_SCALARS))
        return text, REDUCTION_REFERENCE.get(text, text)
    if kind == "neg":
        kernel, numpy = draw(int_vector_trees(length, depth - 1))
        return f"(-{kernel})", f"(-{numpy})"
    if kind == "abs":  # np.abs of a number is refused (write abs): of slices only
        kernel, numpy = draw(int_vector_trees(length, depth - 1))
        if not has_slice(kernel):  # of a number: `_abs` refuses a written-out int beyond int32, as the kernel does
            return f"abs({kernel})", f"_abs({numpy})"
        name = draw(st.sampled_from(["abs", "np.abs"]))
        return f"{name}({kernel})", f"{name}({numpy})"
    kl, nl = draw(int_vector_trees(length, depth - 1))
    kr, nr = draw(int_vector_trees(length, depth - 1))
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*"]))
        return f"({kl} {op} {kr})", f"({nl} {op} {nr})"
    name = draw(st.sampled_from(["min", "max"]))
    if not (has_slice(kl) or has_slice(kr)):  # two numbers: the builtin on numbers
        return f"{name}({kl}, {kr})", f"_{name}({nl}, {nr})"
    return f"{name}({kl}, {kr})", f"np.{'minimum' if name == 'min' else 'maximum'}({nl}, {nr})"


@st.composite
def int_slice_assignments(draw):
    length = draw(st.integers(1, VEC_SIZE))
    target = draw(vector_slice(draw(st.sampled_from(VEC_ARRAYS)), length))
    kernel, numpy = draw(int_vector_trees(length, draw(st.integers(1, 4))))
    return draw(through_a_view(f"{target} {draw(st.sampled_from(('=', '=', '+=', '-=', '*=')))}", kernel, numpy))


def _fitting(*values):
    """Refuse a written-out int beyond int32 given to `abs`, `min` or `max` of numbers, or given by `abs`, as the
    kernel's compiler does (docs/python-supported.md: only the value of a tree of `+ - * ...` must fit; a step
    given to min, max or abs must fit too): a Python int here is a written-out one (the others are np.int32)."""
    for value in values:
        if isinstance(value, int) and not -2**31 <= value < 2**31:
            raise OverflowError(value)
    return values


#: The reference's abs, min and max of numbers (markers of its text).
INT_NUMBER_BUILTINS = {"_abs": lambda v: _fitting(abs(*_fitting(v)))[0], "_min": lambda *v: min(_fitting(*v)),
                       "_max": lambda *v: max(_fitting(*v))}


@FUZZ
@given(assignment=int_slice_assignments(), seed=st.integers(0, 2**32 - 1),
       n=st.sampled_from((3, -7, 100000, 2**31 - 1, -(2**31))), m=st.integers(-9, 9))
@example(assignment=("a[0:1] =", "(-abs(-2147483648))", "(-_abs(-2147483648))"), seed=0, n=3, m=0)  # abs's result
@example(assignment=("a[0:1] =", "(-abs((--2147483648)))", "(-_abs((--2147483648)))"), seed=0, n=3, m=0)  # its operand
def test_int32_slice_expression_trees_match_numpy(dev, gen_dir, assignment, seed, n, m):
    target, kernel_expr, numpy_expr = assignment
    source = render_slice_assignment(target, kernel_expr, numpy_expr).replace("np.float32", "np.int32")
    source = source.replace("(x, out, s, t, n)", "(x, out, n, m)").replace("(x, s, t, n)", "(x, n, m)")
    module = load(gen_dir, source)
    vars(module).update(INT_NUMBER_BUILTINS)
    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 51, len(VEC_ARRAYS) * VEC_SIZE).astype(np.int32)
    wide = rng.random(x.size) < 0.3  # values near the int32 limits: products and sums wrap
    x[wide] = rng.choice(np.array([-(2**31), 2**31 - 1, -(2**31) + 1, 2**30, -(2**16), 46341], np.int64),
                         int(wide.sum())).astype(np.int32)
    d_out = dev.device_array(x.size, np.int32)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # np.int32 scalar overflow warns, then wraps
        try:
            want = module.ref(x, np.int32(n), np.int32(m))
        except OverflowError:  # a written-out int tree beyond int32 (`(2147483647 + 3)`, `abs(--2147483648)`):
            # refused when compiling
            with pytest.raises(ws.CompileError, match="does not fit in int32"):
                module.kern[(1, 1), (1, 1)](dev.to_device(x), d_out, n, m)
            return
    module.kern[(1, 1), (1, 1)](dev.to_device(x), d_out, n, m)
    np.testing.assert_array_equal(d_out.copy_to_host(), want, err_msg=f"{target} {kernel_expr} (n={n}, m={m})")
