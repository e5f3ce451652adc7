"""Differential fuzzing of the `@ws.jit` compiler, compile-time evaluation: the int expressions the compiler folds
while compiling (`compiler/compile_time.py`, `int_folding.py`: `static`, `static_builtin`) where a kernel needs a
constant and where it does not.

Random kernels read module-level tuples of ints (some empty), module constants (Python ints, bools and
np.int32s at the int32 limits), closure constants (the kernel is made inside a factory; or the body is a device
function's, called with them, so that they are parameters: int32 variables), variables
assigned once from such expressions, items of a tuple variable of those constants (an np.int32 item wraps)
and the length of a tuple variable of values loaded at run time, combined by `+ - * // % **`, unary `-`, `abs`, `min`/`max` of 2 or 3
numbers or of a tuple (possibly empty: Python's ValueError), `len` of a tuple and subscripts of tuples, conditional
expressions a comparison of two of them decides, nested to any depth. Each expression is used

- as a value stored into an int32 array, compared (chained comparisons too) or tested by an `if`;
- in float32 arithmetic (`* 0.5`, `/ 4`, `min(e, 2.5)`, `e * -0.25 + 1.0`: the reference converts `e` to
  float32 first, as the docs say an int32 meeting a float32 is), and `min` of it and a float as a value, a shape (a float32: no
  shape, as NumPy's) and `int()` of that as a value and a shape (the reference converts both operands to
  float32 first, as the docs say, where Python's `min(2, 2.5)` is the int 2);
- as the shape of a local array (1-D and 2-D; clamped by `max`/`min` or raw: a size below 1 is refused, as
  the docs say, where NumPy makes an empty array), as `range` bounds and steps (a zero step is Python's
  ValueError), as a tuple index (`T[e % len(T)]`: an empty tuple divides by zero);
- mixed with an int32 loaded at run time (`xi[0] * e`);
- `round`, `math.floor` and `math.ceil` of `min(e, 2.5)` (a float32) as a value, a tuple index and a shape.

The reference runs the same body as plain Python on NumPy arrays (a variable assigned an int is an np.int32,
as a kernel variable's register is). Where Python raises (a division by zero, an empty `max`, an int beyond
int32 stored, a zero step), the kernel must be refused with a `CompileError` at that line; otherwise every stored
value must equal Python's. WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import operator
import re
import traceback
import types
import warnings

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import wafersim as ws
from conftest import compiler_fuzz_settings, load_source

N_OUT = 24
N_TUPLES, N_CONSTS, N_CLOSURE = 3, 3, 2
SMALL = st.integers(-9, 9)
EXTREMES = st.sampled_from([2147483647, -2147483648, 2**30, 65536, 46341, -46341, 16777217])
#: Module constants: a Python int, a bool, an np.int32 (which wraps as NumPy's does).
CONSTANTS = st.one_of(SMALL, EXTREMES, st.booleans(), st.builds(np.int32, st.one_of(SMALL, EXTREMES)))

FUZZ = compiler_fuzz_settings(12)


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_compile_time")


# ----------------------------------------------------------------------------- program generator
class CompileTimeGen:
    """Draws a kernel body (a list of lines) over the module's T*, C*, the closure's K* and the variables v*."""

    def __init__(self, draw, tuple_lengths: list[int]) -> None:
        self.draw = draw
        self.tuple_lengths = tuple_lengths
        self.variables: list[str] = []
        self.slot = 0
        self.arrays = 0
        self.loops = 0

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def expr(self, depth: int) -> str:
        """A compile-time int expression (a bool at a leaf: Python's bools are ints)."""
        kinds = ["small", "small", "extreme", "const", "closure", "len", "item", "bool", "run_len", "held"]
        kinds += ["var"] * bool(self.variables)
        if depth > 0:
            kinds += ["bin", "bin", "bin", "divmod", "neg", "abs", "minmax", "minmax", "tuple_minmax", "pow", "bits",
                      "shift", "unary", "convert", "repeat", "choose"]
        kind = self.choice(kinds)
        if kind == "small":
            return str(self.draw(SMALL))
        if kind == "extreme":
            return str(self.draw(EXTREMES))
        if kind == "const":
            return f"C{self.draw(st.integers(0, N_CONSTS - 1))}"
        if kind == "closure":
            return f"K{self.draw(st.integers(0, N_CLOSURE - 1))}"
        if kind == "len":
            return f"len(T{self.draw(st.integers(0, N_TUPLES - 1))})"
        if kind == "run_len":  # the length of a tuple variable of values loaded at run time
            return "len(R)"
        if kind == "held":  # an item of a tuple variable of the module's constants (an np.int32 stays one)
            return self.choice([f"U[{self.draw(st.integers(-N_CONSTS, N_CONSTS - 1))}]", "max(U)", "min(U)"])
        if kind == "item":  # an index within range, counted from either end
            t = self.draw(st.integers(0, N_TUPLES - 1))
            n = self.tuple_lengths[t]
            if n == 0:
                return f"len(T{t})"
            return f"T{t}[{self.draw(st.integers(-n, n - 1))}]"
        if kind == "bool":
            return self.choice(["True", "False"])
        if kind == "var":
            return self.choice(self.variables)
        if kind == "bin":
            return f"({self.expr(depth - 1)} {self.choice(['+', '-', '*'])} {self.expr(depth - 1)})"
        if kind == "divmod":  # mostly by a non-zero number; by an expression that may be 0 (ZeroDivisionError)
            divisor = (str(self.choice([2, 3, 7, -1, -2, -5])) if self.draw(st.integers(0, 3))
                       else self.expr(depth - 1))
            return f"({self.expr(depth - 1)} {self.choice(['//', '%'])} {divisor})"
        if kind == "choose":  # a conditional expression a comparison decides (folded where a constant is needed)
            op = self.choice(["<", "<=", ">", ">=", "==", "!="])
            test = f"{self.expr(depth - 1)} {op} {self.expr(depth - 1)}"
            return f"({self.expr(depth - 1)} if {test} else {self.expr(depth - 1)})"
        if kind == "neg":
            return f"(-{self.expr(depth - 1)})"
        if kind == "abs":
            return f"abs({self.expr(depth - 1)})"
        if kind == "pow":
            return f"({self.expr(depth - 1)} ** {self.draw(st.integers(0, 3))})"
        if kind == "bits":
            return f"({self.expr(depth - 1)} {self.choice(['&', '|', '^'])} {self.expr(depth - 1)})"
        if kind == "shift":  # by a count of 0 to 40 (32 and more: 0 or the sign), or an expression's (-1 to 39: a
            # negative count is Python's ValueError; NumPy shifts an np.int32 by one to 0, which the docs refuse)
            count = (str(self.choice([0, 1, 5, 31, 32, 33, 40])) if self.draw(st.integers(0, 3))
                     else f"(({self.expr(depth - 1)}) % 41 - 1)")
            return f"({self.expr(depth - 1)} {self.choice(['<<', '>>'])} {count})"
        if kind == "unary":  # `+True` is the int 1
            return f"({self.choice(['~', '+'])}{self.expr(depth - 1)})"
        if kind == "convert":  # int() and np.int32() of an int: itself (np.int32's wraps from then on)
            inner = self.expr(depth - 1)
            func = self.choice(["int", "np.int32"])
            if func == "int" and re.search(r"\b[vK]\d", inner):
                func = "_IV"  # int() of a variable's (or a parameter's) value: the int32 it holds (`_int_of_variable`)
            return f"{func}({inner})"
        if kind == "repeat":  # a tuple repeated by an int (a bool as the int it equals; none for a count <= 0)
            t = self.draw(st.integers(0, N_TUPLES - 1))
            count = f"min({self.expr(depth - 1)}, 3)"  # (at most 3 copies: 2**31 - 1 of them would fill the memory)
            return f"len({f'T{t} * ({count})' if self.draw(st.booleans()) else f'({count}) * T{t}'})"
        if kind == "tuple_minmax":  # of a tuple (an empty one: ValueError)
            return f"{self.choice(['min', 'max'])}(T{self.draw(st.integers(0, N_TUPLES - 1))})"
        args = [self.expr(depth - 1) for _ in range(self.draw(st.integers(2, 3)))]
        return f"{self.choice(['min', 'max'])}({', '.join(args)})"

    def size(self) -> str:
        """A local array's extent: clamped into 1..6 by min/max (folded as well), or only from above (0 or less:
        refused, as an empty local array is)."""
        e = self.expr(self.draw(st.integers(0, 2)))
        return f"min({e}, 6)" if self.draw(st.integers(0, 3)) == 0 else f"max(1, min({e}, 6))"

    def out(self) -> int:
        self.slot += 1
        return (self.slot - 1) % N_OUT

    def statement(self) -> list[str]:
        kinds = ["value", "value", "compare", "float", "array", "array2", "range", "range3", "index", "if",
                 "runtime", "variable", "mixed", "rounded"]
        kind = self.choice(kinds)
        depth = self.draw(st.integers(0, 3))
        e = self.expr(depth)
        if kind == "variable":  # assigned once: a constant wherever it is read (in the reference, an np.int32)
            name = f"v{len(self.variables)}"
            self.variables.append(name)
            return [f"{name} = _V({e})"]
        if kind == "value":
            return [f"oi[{self.out()}] = {e}"]
        if kind == "mixed":  # min of an int and a float: a float32 (no shape), int() of it an int (a shape too)
            mixed = f"_FMIN({e}, {self.choice(['2.5', '-0.5', '16777216.0'])})"
            form = self.choice(["oi[{}] = int({})", "of[{}] = {}", "a{} = ws.local.array({}, np.int32)"])
            if form.startswith("a"):
                name = f"m{self.arrays}"
                self.arrays += 1
                shape = mixed if self.draw(st.booleans()) else f"max(1, int({mixed}) % 5)"
                return [f"{name} = ws.local.array({shape}, np.int32)", f"oi[{self.out()}] = len({name})"]
            return [form.format(self.out(), mixed)]
        if kind == "rounded":  # round, math.floor, math.ceil of a float32: an int, folded where a constant is needed
            rounding, bound = self.choice(["round", "math.floor", "math.ceil"]), self.choice(["2.5", "-0.5", "3.5"])
            rounded = f"{rounding}(_FMIN({e}, {bound}))"
            use = self.choice(["value", "index", "shape"])
            if use == "value":
                return [f"oi[{self.out()}] = {rounded}"]
            if use == "index":
                t = self.draw(st.integers(0, N_TUPLES - 1))
                return [f"oi[{self.out()}] = T{t}[({rounded}) % len(T{t})]"]
            name = f"m{self.arrays}"
            self.arrays += 1
            return [f"{name} = ws.local.array(max(1, {rounded} % 5), np.int32)", f"oi[{self.out()}] = len({name})"]
        if kind == "compare":
            ops = [self.choice(["<", "<=", ">", ">=", "==", "!="]) for _ in range(self.draw(st.integers(1, 2)))]
            text = e
            for op in ops:  # (leaves only after the first: a chain Python leaves early evaluates no more, where
                # the compiler refuses a constant it cannot evaluate, `max(())`, whether it runs or not)
                text += f" {op} {self.expr(0)}"
            return [f"oi[{self.out()}] = {text}"]
        if kind == "float":
            # (an int meeting a float is converted to float32 first, as the docs say: `_TOF` in the reference)
            form = self.choice(["({}) * 0.5", "({}) / 4", "min({}, 2.5)", "max({}, -2.5)", "({}) * -0.25 + 1.0"])
            return [f"of[{self.out()}] = {form.format(f'_TOF({e})')}"]
        if kind in ("array", "array2"):
            name = f"a{self.arrays}"
            self.arrays += 1
            shape = self.size() if kind == "array" else f"({self.size()}, {self.size()})"
            slot = self.out()
            lines = [f"{name} = ws.local.array({shape}, np.int32)", f"oi[{slot}] = len({name})"]
            if kind == "array2":
                lines.append(f"oi[{self.out()}] = {name}.shape[1]")
            return lines
        if kind in ("range", "range3"):
            var = f"k{self.loops}"
            self.loops += 1
            slot = self.out()
            if kind == "range":
                header = f"for {var} in range(min({e}, 5)):"
            else:  # bounds clamped into -6..6; a step clamped away from 0, or as drawn (0: ValueError)
                start, stop = (f"max(-6, min({self.expr(1)}, 6))" for _ in range(2))
                step = self.choice([f"max(1, min({e}, 3))", f"-max(1, min({e}, 3))", f"({e}) % 3 - 1"])
                header = f"for {var} in range({start}, {stop}, {step}):"
            return [header, f"    oi[{slot}] = oi[{slot}] * 3 + {var}"]
        if kind == "index":
            t = self.draw(st.integers(0, N_TUPLES - 1))
            return [f"oi[{self.out()}] = T{t}[({e}) % len(T{t})]"]
        if kind == "if":
            slot = self.out()
            return [f"if {e} {self.choice(['<', '>=', '=='])} {self.expr(1)}:", f"    oi[{slot}] = 1",
                    "else:", f"    oi[{slot}] = 2"]
        return [f"oi[{self.out()}] = xi[{self.draw(st.integers(0, 1))}] {self.choice(['+', '*', '-'])} {e}"]


@st.composite
def programs(draw):
    lengths = [draw(st.integers(0, 4)) for _ in range(N_TUPLES)]
    tuples = [tuple(draw(st.one_of(SMALL, EXTREMES)) for _ in range(n)) for n in lengths]
    constants = [draw(CONSTANTS) for _ in range(N_CONSTS)]
    closure = [draw(st.one_of(SMALL, EXTREMES, st.booleans())) for _ in range(N_CLOSURE)]
    gen = CompileTimeGen(draw, lengths)
    loaded = [f"xi[{k % 2}]" for k in range(draw(st.integers(0, 3)))]
    body: list[str] = [f"R = ({', '.join(loaded)}{',' if len(loaded) == 1 else ''})",
                       f"U = ({', '.join(f'C{k}' for k in range(N_CONSTS))})"]
    for _ in range(draw(st.integers(2, 8))):
        body += gen.statement()
    return tuples, constants, closure, body, draw(st.booleans())


# ----------------------------------------------------------------------------- kernel, reference, comparison
def render(tuples, constants, body: list[str], in_function: bool = False) -> str:
    """The module: constants, and a factory `make(K0, K1)` returning the kernel and the reference (one body).
    `in_function`: the kernel runs the body in a device function `body` whose parameters K0, K1 the kernel
    binds to its closure's constants (a parameter is an int32 variable, whatever constant it is bound to)."""
    consts = [f"C{k} = {'np.int32(' + str(int(c)) + ')' if isinstance(c, np.int32) else repr(c)}"
              for k, c in enumerate(constants)]
    kernel_text = [line.replace('_V(', '(').replace('_IV(', 'int(').replace('_FMIN(', 'min(').replace('_TOF(', '(')
                   for line in body]
    ref_body = [f"        {line}" for line in body]
    params = ", ".join(f"K{k}" for k in range(N_CLOSURE))
    if in_function:
        device = ["@ws.jit", f"def body(xi, oi, of, {params}):", *[f"    {line}" for line in kernel_text], "", ""]
        kernel_body = [f"        body(xi, oi, of, {params})"]
    else:
        device, kernel_body = [], [f"        {line}" for line in kernel_text]
    return "\n".join(["import math", "", "import numpy as np", "import wafersim as ws", "",
                      *[f"T{k} = {t!r}" for k, t in enumerate(tuples)], *consts, "", "", *device,
                      f"def make({params}):", "    @ws.jit", "    def kern(xi, oi, of):", *kernel_body, "",
                      "    def ref(xi, oi, of):", *ref_body, "", "    return kern, ref", ""])


class _BoolVariable(np.int32):
    """A kernel variable (or a device function's parameter) assigned a Python bool: an int32 register holding 0 or 1,
    so its arithmetic wraps as an np.int32's (`v = True; (v + 2**31 - 1) // 2**30` is -2, where Python's bool gives
    2), while it stays a bool where Python keeps one: `max(v, False)` is `v`, `v & w` of two is a bool, and neither
    is a local array's shape (NumPy's `np.zeros(True)` refuses it: `_local_array`)."""

    def _bits(self, other, op):
        return _BoolVariable(op(int(self), int(other))) if isinstance(other, (_BoolVariable, bool)) else op(
            np.int32(self), other)

    def __and__(self, other):
        return self._bits(other, operator.and_)

    def __or__(self, other):
        return self._bits(other, operator.or_)

    def __xor__(self, other):
        return self._bits(other, operator.xor)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __repr__(self) -> str:
        return repr(bool(self))


def _as_variable(value):
    """A kernel variable assigned an int holds an int32 (its arithmetic wraps as an np.int32's); one assigned a bool
    holds it as an int32 too, still a bool where Python keeps one (`_BoolVariable`); an np.int64 stays one (NumPy's,
    exact)."""
    if isinstance(value, (bool, _BoolVariable)):
        return _BoolVariable(int(value))
    if isinstance(value, (np.bool_, np.int64)):
        return value
    if not -2**31 <= int(value) < 2**31:
        raise OverflowError(f"{value} does not fit in int32")
    return np.int32(value)


def _int_of_variable(value):
    """`int(e)` of an expression reading a variable (or a device function's parameter): the int32 its register
    holds, whose arithmetic goes on wrapping (docs/python-supported.md), where Python's int() of an np.int32 is an
    exact Python int. Of a closure's Python int (`K0` read in the kernel's own body) it is that int, as in Python."""
    return np.int32(value) if isinstance(value, np.int32) else int(value)


def _float32_min(*values):
    """`min` of an int and a float in a kernel (docs/python-supported.md): each converted to float32 first, the
    first of equal ones chosen, a float32."""
    return min(np.float32(v) for v in values)


def _local_array(shape, dtype):
    """ws.local.array in the reference: NumPy's zeros, refused where the kernel's is (an empty array)."""
    dims = shape if isinstance(shape, tuple) else (shape,)
    # (as NumPy: np.zeros(True), np.zeros(2.0) are TypeErrors; a bool variable is still a bool there)
    if any(isinstance(d, (bool, np.bool_, _BoolVariable, float, np.floating)) for d in dims):
        raise TypeError(f"a bool or a float as a local array's shape: {shape}")
    if not all(int(d) >= 1 for d in dims):
        raise ValueError(f"local array shape {shape}")
    return np.zeros(tuple(int(d) for d in dims), dtype)


_REFERENCE_WS = types.SimpleNamespace(local=types.SimpleNamespace(array=_local_array))


def _failing_line(error: BaseException, filename: str) -> int:
    """The line of the reference function (in the generated file) where `error` was raised."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename and f.name == "ref"]
    return frames[-1].lineno


def _documented_refusal(error: ws.CompileError) -> bool:
    """A refusal the docs state where Python computes: an int constant expression whose step (the operand of
    `//`, `%`, `min`, a comparison, ...) is outside int32 (docs/python-supported.md, "constant expressions"),
    the number named in the message; every other refusal of a kernel Python runs fails the test."""
    if "negative shift count" in str(error):  # (constant: refused, where NumPy shifts an np.int32 to 0 or -1)
        return True
    found = re.search(r"(-?\d+) does not fit in int32", str(error))
    return found is not None and not -2**31 <= int(found.group(1)) < 2**31


def check(dev, directory, tuples, constants, closure, body: list[str], in_function: bool = False) -> None:
    source = render(tuples, constants, body, in_function)
    module = load_source(directory, source)
    kern, _ = module.make(*closure)
    # (a device function's parameters are int32 variables: the reference's are the np.int32s they hold)
    _, ref = module.make(*[_as_variable(k) for k in closure]) if in_function else module.make(*closure)
    names = dict(vars(module), ws=_REFERENCE_WS, _V=_as_variable, _IV=_int_of_variable, _FMIN=_float32_min,
                 _TOF=np.float32)
    reference = types.FunctionType(ref.__code__, names, "ref", None, ref.__closure__)
    xi = np.array([7, -3], np.int32)
    want_i, want_f = np.zeros(N_OUT, np.int32), np.zeros(N_OUT, np.float32)
    try:
        # (NumPy's int32 `//` and `%` by 0 give 0 with a warning: raised, the kernel must refuse them as Python's)
        with np.errstate(over="ignore", divide="raise", invalid="raise"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference(xi.copy(), want_i, want_f)
        python_error = None
    except (ArithmeticError, ValueError, IndexError, TypeError) as error:
        python_error = error
    lines = source.splitlines()
    kernel_first = lines.index("def body(xi, oi, of, K0, K1):" if in_function else "    def kern(xi, oi, of):") + 1
    # (1-based: the body's first line is kernel_first + 1)
    ref_first = lines.index("    def ref(xi, oi, of):") + 1
    d_oi, d_of = dev.device_array(N_OUT, np.int32), dev.device_array(N_OUT, np.float32)
    try:
        kern[(1, 1), (1, 1)](dev.to_device(xi), d_oi, d_of, max_cycles=1e6)
    except (ws.CompileError, ws.KernelValueError, ws.KernelZeroDivisionError) as error:
        # (a step of 0 computed from a variable is checked when the loop starts: KernelValueError at its line; a
        # division by a variable holding 0, `v0 = 0; 0 // v0`, when it runs: KernelZeroDivisionError at its line)
        if _documented_refusal(error):
            return
        if python_error is None:
            raise AssertionError(f"refused where Python computes:\n{source}\n{error}") from error
        want_line = _failing_line(python_error, module.__file__) - ref_first
        # (where Python's error is one the kernel checks when it runs, a zero step held in a variable, the
        # compiler may refuse a later line first: the kernel never runs either way)
        later = isinstance(error, ws.CompileError) and error.line - kernel_first > want_line \
            and "range() arg 3 must not be zero" in str(python_error)
        assert error.line - kernel_first == want_line or later, (
            f"refused at body line {error.line - kernel_first}, Python raised {python_error!r} at body line "
            f"{want_line}:\n{source}\n{error}")
        return
    assert python_error is None, f"compiled and ran where Python raises {python_error!r}:\n{source}"
    got_i, got_f = d_oi.copy_to_host(), d_of.copy_to_host()
    assert np.array_equal(got_i, want_i) and np.array_equal(got_f.view(np.int32), want_f.view(np.int32)), (
        f"kernel differs from Python\n{source}\nclosure {closure}\nwant {want_i.tolist()} {want_f.tolist()}\n"
        f"got  {got_i.tolist()} {got_f.tolist()}")


#: A tuple variable's np.int32 item read as a constant lost its type (a Python int): `(U[2] + 1) // 2**30` was -2
#: as a value, NumPy's wrap, but 2 as a tuple index and in a shape.
_HELD_NP_INT32 = ([(10, 20, 30), (), (7,)], [3, True, np.int32(2**31 - 1)], [0, 0],
                  ["R = ()", "U = (C0, C1, C2)", "oi[0] = (U[2] + 1) // 2**30", "oi[1] = T0[(U[2] + 1) // 2**30]",
                   "a0 = ws.local.array((U[-1] + 1) // 2**30 + 5, np.int32)", "oi[2] = len(a0)"], False)
#: The same of a device function's parameter bound to 2**31 - 1, and of a variable assigned an np.int64 (NumPy's
#: 2, where the folding wrapped to -2).
_HELD_PARAMETER = ([(10, 20, 30), (), (7,)], [3, np.int64(2**31 - 1), 1], [2147483647, 0],
                   ["R = ()", "U = (C0, C1, C2)", "oi[0] = (K0 + 1) // 2**30", "oi[1] = T0[(K0 + 1) // 2**30]",
                    "a0 = ws.local.array((K0 + 1) // 2**30 + 5, np.int32)", "oi[2] = len(a0)", "v0 = _V(C1)",
                    "oi[3] = T0[(v0 + 1) // 2**30]"], True)


#: int() of a variable is the int32 its register holds (NumPy's wrap goes on): it folded as Python's exact int where
#: a constant is needed, T0[2 % 3] and 2 + 5 elements, where the value is -2.
_INT_OF_VARIABLE = ([(10, 20, 30), (), (7,)], [3, True, 1], [0, 0],
                    ["R = ()", "U = (C0, C1, C2)", "v0 = _V(2147483647)", "oi[0] = (_IV(v0) + 1) // 2**30",
                     "oi[1] = T0[(_IV(v0) + 1) // 2**30 % len(T0)]",
                     "a0 = ws.local.array((_IV(v0) + 1) // 2**30 + 5, np.int32)", "oi[2] = len(a0)"], False)


#: A variable or a device function's parameter assigned True is an int32 register: `(v0 + 2**31 - 1) // 2**30` is -2,
#: where the reference's Python bool gave 2 (a false alarm: the kernel was right).
_BOOL_VARIABLE = ([(10, 20, 30), (), (7,)], [3, True, 1], [True, 0],
                  ["R = ()", "U = (C0, C1, C2)", "v0 = _V(True)", "oi[0] = (v0 + 2147483647) // 2**30",
                   "oi[1] = (K0 + 2147483647) // 2**30", "oi[2] = T0[(v0 + 2147483647) // 2**30]",
                   "oi[3] = (v0 & K0) + (max(v0, False) + 2147483647) // 2**30"], True)


@FUZZ
@example(program=_BOOL_VARIABLE)
@example(program=_INT_OF_VARIABLE)
@example(program=_HELD_NP_INT32)
@example(program=_HELD_PARAMETER)
@given(program=programs())
def test_compile_time_int_expressions_match_python(dev, gen_dir, program):
    check(dev, gen_dir, *program)
