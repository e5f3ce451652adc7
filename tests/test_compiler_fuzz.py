"""Differential fuzzing of the `@ws.jit` compiler with Hypothesis.

Random kernels over int32 and float32 values (straight-line, and with branches: if/elif/else blocks,
conditional expressions, and/or, small `for ... in range(k)` and counted `while` loops) are rendered as
Python source text and written to a temporary module twice: once as a `@ws.jit` kernel (each PE loads its
inputs from global arrays, runs the body, stores every variable) and once as a plain Python function with
the very same body. The kernel runs on the simulator; the Python function runs on np.int32 / np.float32
scalars (so float32 rounding and int32 wrap-around apply), and every PE's results must match exactly.
Bodies also call NumPy float32 math (np.sin, np.floor, ...), use float // and %, a device function returning
a tuple with a string constant argument, loops over enumerate (with a start)/zip of constant tuples, range() with a
step known only at run time, `x in (a, b, ...)` of a run-time number, range() over the last few values
before an int32 bound (with steps up to INT32_MAX: a counter stepped past its last value must not wrap
around), the `operator` module's functions, math.remainder and math.modf / np.modf, `<<` / `>>` by counts of 0 to 63
(constant, run-time, or an unrolled loop's counter) and `~`, the int32 extremes among the constants (INT32_MIN // -1),
`//` and `%` by powers of two (1, 65536), the kernel's own early `return` (in a branch or a loop: every variable stored first),
an int32 power's exponent in a variable assigned once from a constant (`i ** e3`),
and two offsets of one base subtracted or compared (`a = b + j` ... `a - (b + k)`, `a == b + k`), the base or `a`
written in between or not (constant propagation's same-base rule, in SSA form and in unrolled copies). (Random slice
and 2-D block assignments, compared with NumPy: tests/test_compiler_fuzz_slices.py; mixed int32/float32
scalar code, written-out constants folded next to the same values loaded at run time, element and slice
augmented assignments: tests/test_compiler_fuzz_mixed.py; break/continue in every kind of loop, device functions with run-time early returns, every augmented operator, bools as numbers, element
tuple targets: tests/test_compiler_fuzz_control.py; `and`/`or` as values, side effects under short-circuit
evaluation, tuples of run-time numbers in variables: tests/test_compiler_fuzz_values.py.)

Every constant is written as np.int32(c) / np.float32(c) and every conversion as np.int32(...) /
np.float32(...), so the Python evaluation never leaves the two 32-bit types. Examples whose reference would
create a NaN (inf - inf, 0 * inf) or cast a non-finite / out-of-range float to int32 are discarded: the
reference detects them through NumPy's floating-point errors, and float -> int overflow is saturation on the
machine but undefined in NumPy (scalar min/max with a NaN follow Python's order rules on both sides:
tests/test_compiler_operators.py).
"""
from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import wafersim as ws
from conftest import compiler_fuzz_settings, load_source

N_PE = 8
N_INT, N_FLOAT = 3, 3
INT_VARS = [f"i{k}" for k in range(N_INT)]
FLOAT_VARS = [f"f{k}" for k in range(N_FLOAT)]
FLOAT_CONSTS = [0.5, -1.25, 2.0, 3.0, -0.75, 0.1, 1.5, -3.5, 0.0, -0.0]  # (-0.0: the sign of a zero is compared)
INT_CONSTS = st.one_of(st.integers(-9, 9), st.sampled_from([100000, -70000, 8191, 8192, -8193, 65535,
                                                            -(2**31), 2**31 - 1, 2**30, 31, 32, 33]))
#: Offsets added to one base in the `offsets` statement: small ones (immediates), the immediate's edges and
#: beyond (a `li` + `add`), and int32 extremes (their differences wrap)
OFFSETS = st.one_of(st.integers(-3, 3), st.sampled_from([8191, -8192, 8192, -8191, 100000, 2**31 - 1, -(2**31)]))
DIVISORS = [2, 3, 5, 7, -2, -3, -5, -1, 1, 65536]  # -1: INT32_MIN // -1 wraps to itself, INT32_MIN % -1 is 0;
# 1 and 65536: powers of two (a copy, a shift, a mask too wide for an immediate)
FLOAT_MATH = ["sin", "cos", "arctan", "tanh", "floor", "ceil", "trunc", "expm1", "log1p", "sqrt", "rint", "degrees",
              "radians"]
#: The `operator` module's functions, the same operators in the kernel and in Python.
OPERATORS = ["operator.add", "operator.sub", "operator.mul"]
#: Device functions the generated bodies call (plain Python functions in the reference): a tuple returned,
#: a string constant argument.
HELPERS = """
@ws.jit
def mix(a, b, how="add"):
    if how == "add":
        return b, a + b
    return a - b, b
"""



@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz")


# ----------------------------------------------------------------------------- program generator
class Gen:
    #: Whether the bodies are rendered by this file's `render`, which writes the kernel's early return and assigns
    #: EXPONENTS: subclasses whose bodies have a render of their own draw neither
    uses_base_render = True

    def __init__(self, draw, branching: bool) -> None:
        self.draw = draw
        self.branching = branching
        self.loop_vars: list[str] = []
        self.loops = 0

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    # expressions ------------------------------------------------------
    def int_expr(self, depth: int) -> str:
        kinds = ["var", "var", "const"]
        if self.loop_vars:
            kinds.append("loop")
        if depth > 0:
            kinds += ["bin", "bin", "bin", "divmod", "neg", "abs", "minmax", "conv", "pow", "operator", "shift",
                      "invert"]
            if self.branching:
                kinds.append("ifexp")
        kind = self.choice(kinds)
        if kind == "shift":  # a count of 0..40 (32 or more: 0, or the sign for >>), constant or run-time;
            # np.int32 shifts give Python's result wrapped to int32, as the kernel's do (a negative count
            # raises in Python and is a CompileError / KernelValueError: tests/test_compiler_operators.py)
            count = (f"np.int32({self.draw(st.integers(0, 40))})" if self.draw(st.booleans())
                     else f"({self.int_expr(depth - 1)} & np.int32(63))")
            if self.loop_vars and self.draw(st.booleans()):  # a count known in each unrolled copy: an immediate
                count = f"(np.int32({self.choice(self.loop_vars)}) & np.int32(63))"
            return f"({self.int_expr(depth - 1)} {self.choice(['<<', '>>'])} {count})"
        if kind == "invert":
            return f"(~{self.int_expr(depth - 1)})"
        if kind == "var":
            return self.choice(INT_VARS)
        if kind == "pow":  # np.int32 ** n wraps as the kernel's int32 does; n written out, or a variable assigned
            # once from a constant (`render`'s EXPONENTS: a constant exponent too)
            exponents = [*map(str, range(6))] + [*EXPONENTS] * self.uses_base_render
            return f"({self.int_expr(depth - 1)} ** {self.choice(exponents)})"
        if kind == "const":
            return f"np.int32({self.draw(INT_CONSTS)})"
        if kind == "loop":
            return f"np.int32({self.choice(self.loop_vars)})"
        if kind == "bin":
            op = self.choice(["+", "-", "*", "&", "|", "^"])
            return f"({self.int_expr(depth - 1)} {op} {self.int_expr(depth - 1)})"
        if kind == "divmod":
            return f"({self.int_expr(depth - 1)} {self.choice(['//', '%'])} np.int32({self.choice(DIVISORS)}))"
        if kind == "operator":
            return f"{self.choice(OPERATORS)}({self.int_expr(depth - 1)}, {self.int_expr(depth - 1)})"
        if kind == "neg":
            return f"(-{self.int_expr(depth - 1)})"
        if kind == "abs":
            return f"abs({self.int_expr(depth - 1)})"
        if kind == "minmax":
            args = [self.int_expr(depth - 1) for _ in range(self.draw(st.integers(2, 3)))]
            return f"{self.choice(['min', 'max'])}({', '.join(args)})"
        if kind == "conv":
            return f"np.int32({self.float_expr(depth - 1)})"
        return f"({self.int_expr(depth - 1)} if {self.cond(depth - 1)} else {self.int_expr(depth - 1)})"

    def float_expr(self, depth: int) -> str:
        kinds = ["var", "var", "const"]
        if depth > 0:
            kinds += ["bin", "bin", "bin", "neg", "abs", "minmax", "conv", "pow", "math", "fdivmod", "operator",
                      "remainder", "modf"]
            if self.branching:
                kinds.append("ifexp")
        kind = self.choice(kinds)
        if kind == "var":
            return self.choice(FLOAT_VARS)
        if kind == "pow":  # the reference runs on NumPy float32 scalars, whose ** 2 and ** -1 use C powf and can
            # differ in the last bit from np.power (what the kernel matches: test_compiler_operators)
            return f"({self.float_expr(depth - 1)} ** {self.choice([0, 1])})"
        if kind == "const":
            return f"np.float32({self.choice(FLOAT_CONSTS)})"
        if kind == "math":  # NumPy float32 ufuncs, the machine's math opcodes (a nan discards the example)
            return f"np.{self.choice(FLOAT_MATH)}({self.float_expr(depth - 1)})"
        if kind == "operator":
            return f"{self.choice(OPERATORS)}({self.float_expr(depth - 1)}, {self.float_expr(depth - 1)})"
        if kind == "remainder":  # exact in float64, so Python's result rounds to the machine's float32 one
            divisor = self.choice([c for c in FLOAT_CONSTS if c != 0.0])
            return f"np.float32(math.remainder({self.float_expr(depth - 1)}, np.float32({divisor})))"
        if kind == "modf":  # (fractional part, integral part): both exact
            module = self.choice(["math", "np"])
            return f"np.float32({module}.modf({self.float_expr(depth - 1)})[{self.choice([0, 1])}])"
        if kind == "fdivmod":  # Python's float // and % (np.float32 scalars: npy_divmod, as the machine)
            divisor = self.choice([c for c in FLOAT_CONSTS if c != 0.0])
            return f"({self.float_expr(depth - 1)} {self.choice(['//', '%'])} np.float32({divisor}))"
        if kind == "bin":
            op = self.choice(["+", "-", "*"])
            return f"({self.float_expr(depth - 1)} {op} {self.float_expr(depth - 1)})"
        if kind == "neg":
            return f"(-{self.float_expr(depth - 1)})"
        if kind == "abs":
            return f"abs({self.float_expr(depth - 1)})"
        if kind == "minmax":
            args = [self.float_expr(depth - 1) for _ in range(self.draw(st.integers(2, 3)))]
            return f"{self.choice(['min', 'max'])}({', '.join(args)})"
        if kind == "conv":
            return f"np.float32({self.int_expr(depth - 1)})"
        return f"({self.float_expr(depth - 1)} if {self.cond(depth - 1)} else {self.float_expr(depth - 1)})"

    def cond(self, depth: int, top: bool = False) -> str:
        kinds = ["icmp", "fcmp", "member"]
        if self.branching and depth > 0:
            kinds += ["not", "and", "or", "chain"]
        if self.branching and top:
            kinds.append("truthy")  # a bare number as a condition (and/or operands must share a type)
        kind = self.choice(kinds)
        op = self.choice(["<", "<=", ">", ">=", "==", "!="])
        if kind == "icmp":
            return f"{self.int_expr(max(depth, 0))} {op} {self.int_expr(max(depth, 0))}"
        if kind == "fcmp":
            return f"{self.float_expr(max(depth, 0))} {op} {self.float_expr(max(depth, 0))}"
        if kind == "member":  # `x in (a, b, ...)` of a run-time number: a tuple of its own type
            test = self.choice(["in", "not in"])
            if self.draw(st.booleans()):
                items = [f"np.int32({self.draw(INT_CONSTS)})" for _ in range(self.draw(st.integers(0, 3)))]
                return f"{self.int_expr(max(depth, 0))} {test} ({', '.join(items)}{',' if len(items) == 1 else ''})"
            items = [f"np.float32({self.choice(FLOAT_CONSTS)})" for _ in range(self.draw(st.integers(1, 3)))]
            return f"{self.float_expr(max(depth, 0))} {test} ({', '.join(items)},)"
        if kind == "not":
            return f"not ({self.cond(depth - 1)})"
        if kind in ("and", "or"):
            return f"({self.cond(depth - 1)}) {kind} ({self.cond(depth - 1)})"
        if kind == "chain":
            op2 = self.choice(["<", "<=", "!="])
            return f"{self.int_expr(0)} {op} {self.int_expr(0)} {op2} {self.int_expr(0)}"
        return self.choice(INT_VARS + FLOAT_VARS)

    # statements -------------------------------------------------------
    def block(self, indent: int, count: int, nest: int) -> list[str]:
        lines: list[str] = []
        for _ in range(count):
            lines += self.statement(indent, nest)
        return lines

    def statement(self, indent: int, nest: int) -> list[str]:
        pad = "    " * indent
        kinds = ["int", "int", "float", "float", "aug", "tuple", "chain", "helper", "offsets"]
        if self.branching and nest < 2:
            kinds += ["if", "if", "for", "while", "zipfor", "stepfor", "edgefor"] + ["return"] * self.uses_base_render
        kind = self.choice(kinds)
        depth = self.draw(st.integers(1, 3))
        if kind == "return":  # the kernel's own early return, under a condition or not (then what follows in
            # its block is never run, nor compiled): `render` makes it store every variable first
            if nest and self.draw(st.booleans()):
                return [f"{pad}{EARLY_RETURN}"]
            return [f"{pad}if {self.cond(1, top=True)}:", f"{pad}    {EARLY_RETURN}"]
        if kind == "helper":  # a device function returning a tuple, with a string constant argument
            names = INT_VARS if self.draw(st.booleans()) else FLOAT_VARS
            first, second = self.draw(st.permutations(names))[:2]
            make = self.int_expr if names is INT_VARS else self.float_expr
            how = self.choice(["add", "sub"])
            return [f"{pad}{first}, {second} = mix({make(depth)}, {make(depth)}, {how!r})"]
        if kind in ("zipfor", "stepfor", "edgefor"):
            var = f"k{self.loops}"
            self.loops += 1
            if kind == "zipfor":  # unrolled: a pair of constants per trip, through enumerate and zip
                firsts = tuple(self.draw(st.lists(st.integers(-5, 5), min_size=0, max_size=3)))
                seconds = tuple(self.draw(st.lists(st.integers(-5, 5), min_size=0, max_size=3)))
                start = self.choice(["", ", start=2", ", -3", ", start=np.int32(-1)"])  # (Python's start, counted on)
                header = f"for {var}, ({var}a, {var}b) in enumerate(zip({firsts!r}, {seconds!r}){start}):"
                names = [var, f"{var}a", f"{var}b"]
            elif kind == "edgefor":  # a few values next to an int32 bound: a counter stepped past the last
                # one would wrap around (Python's range never does); stop and step constant or run-time
                up = self.draw(st.booleans())
                bound = self.choice([2**31 - 1, 2**31 - 4] if up else [-(2**31), -(2**31) + 3])
                size = self.choice([2, 3, 7, 2**30, 2**31 - 1])
                start = f"(np.int32({bound}) {'-' if up else '+'} abs({self.int_expr(0)}) % np.int32(9))"
                stop = f"np.int32({bound})"
                if self.draw(st.booleans()):  # the same stop, known only at run time
                    stop = f"({self.int_expr(0)} * np.int32(0) + {stop})"
                step = f"np.int32({size if up else -size})"
                if self.draw(st.booleans()):  # known only at run time
                    step = f"(abs({self.int_expr(0)}) % np.int32(2) {'+' if up else '-'} np.int32({size}))"
                header = f"for {var} in range({start}, {stop}, {step}):"
                names = [var]
            else:  # range with a step known only at run time, up or down
                start, stop = self.draw(st.integers(-3, 6)), self.draw(st.integers(-3, 6))
                step = f"max(abs({self.int_expr(0)}) % np.int32(3), np.int32(1))"
                if self.draw(st.booleans()):
                    start, stop, step = stop, start, f"-{step}"
                header = f"for {var} in range({start}, {stop}, {step}):"
                names = [var]
            self.loop_vars += names
            lines = [pad + header] + self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
            del self.loop_vars[-len(names):]
            return lines
        if kind == "offsets":
            return self.offsets(pad)
        if kind == "while":
            counter = f"w{self.loops}"
            self.loops += 1
            lines = [f"{pad}{counter} = 0", f"{pad}while {counter} < {self.draw(st.integers(0, 3))}:"]
            lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
            return lines + [f"{pad}    {counter} += 1"]
        if kind == "int":
            return [f"{pad}{self.choice(INT_VARS)} = {self.int_expr(depth)}"]
        if kind == "float":
            return [f"{pad}{self.choice(FLOAT_VARS)} = {self.float_expr(depth)}"]
        if kind == "tuple":  # targets take the values of the right side evaluated first (a swap, fib, ...)
            first, second = self.draw(st.permutations(INT_VARS + FLOAT_VARS))[:2]
            values = [self.int_expr(depth) if name in INT_VARS else self.float_expr(depth) for name in (first, second)]
            return [f"{pad}{first}, {second} = {values[0]}, {values[1]}"]
        if kind == "chain":  # every target gets the one value, evaluated once
            names = INT_VARS if self.draw(st.booleans()) else FLOAT_VARS
            first, second = self.draw(st.permutations(names))[:2]
            value = self.int_expr(depth) if names is INT_VARS else self.float_expr(depth)
            return [f"{pad}{first} = {second} = {value}"]
        if kind == "aug":
            if self.draw(st.booleans()):
                return [f"{pad}{self.choice(INT_VARS)} {self.choice(['+=', '-=', '*=', '^='])} {self.int_expr(depth)}"]
            return [f"{pad}{self.choice(FLOAT_VARS)} {self.choice(['+=', '-=', '*='])} {self.float_expr(depth)}"]
        if kind == "if":
            lines = [f"{pad}if {self.cond(2, top=True)}:"]
            lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
            for _ in range(self.draw(st.integers(0, 2))):
                lines.append(f"{pad}elif {self.cond(1, top=True)}:")
                lines += self.block(indent + 1, self.draw(st.integers(1, 2)), nest + 1)
            if self.draw(st.booleans()):
                lines.append(f"{pad}else:")
                lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
            return lines
        var = f"k{self.loops}"
        self.loops += 1
        lines = [f"{pad}for {var} in range({self.draw(st.integers(0, 3))}):"]
        self.loop_vars.append(var)
        lines += self.block(indent + 1, self.draw(st.integers(1, 3)), nest + 1)
        self.loop_vars.pop()
        return lines

    def offsets(self, pad: str) -> list[str]:
        """`a = b + j` ... `a - (b + k)`, `a == b + k`, `a != b + k`: two offsets of one base, whose
        difference or equality constant propagation knows without knowing `b` (also a loop counter's sum, in
        each unrolled copy), unless `b` or `a` is written in between, or `a` is itself the base."""
        var = self.choice(INT_VARS)
        # the base: a variable, or its sum with a loop counter (an `add` in the loop, an `addi` in each unrolled
        # copy), the same for both offsets or not
        bases = [var] + [f"({var} + np.int32({counter}))" for counter in self.loop_vars]
        base = self.choice(bases)
        first, target = self.choice(INT_VARS), self.choice(INT_VARS)
        chain = "".join(f" + np.int32({self.draw(OFFSETS)})" for _ in range(self.draw(st.integers(1, 2))))
        lines = [f"{pad}{first} = {base}{chain}"]
        between = self.choice(["", "base", "first"])  # a write of the base or of the first sum in between
        if between:
            lines.append(f"{pad}{var if between == 'base' else first} {self.choice(['+=', '^='])} {self.int_expr(1)}")
        second = f"({self.choice([base, base] + bases)} + np.int32({self.draw(OFFSETS)}))"
        use = self.choice(["-", "==", "!="] + (["if", "ifexp"] if self.branching else []))
        compare = self.choice(["==", "!="])
        if use == "if":  # the comparison as a branch's condition
            return lines + [f"{pad}if {first} {compare} {second}:", f"{pad}    {target} = {self.int_expr(1)}"]
        if use == "ifexp":
            return lines + [f"{pad}{target} = ({self.int_expr(0)} if {first} {compare} {second} else {self.int_expr(0)})"]
        value = f"{first} - {second}" if use == "-" else f"np.int32({first} {use} {second})"
        return lines + [f"{pad}{target} = {value}"]


@st.composite
def programs(draw, branching: bool):
    gen = Gen(draw, branching)
    return gen.block(1, draw(st.integers(2, 8)), 0)


#: Variables assigned once, at the top, from constants: an int32 power's exponent (`i ** e3`).
EXPONENTS = {"e2": "2", "e3": "np.int32(3)"}
#: A statement of the body that returns from the kernel early: the kernel stores every variable and returns, the
#: reference returns them.
EARLY_RETURN = "return _EARLY_"


def render(body: list[str]) -> str:
    def column(k: int, width: int) -> int:  # odd columns by negative indices, which count from the end
        return k - width if k % 2 else k

    def early(lines: list[str], returns: list[str]) -> list[str]:
        out = []
        for line in lines:
            if line.strip() != EARLY_RETURN:
                out.append(line)
                continue
            pad = line[:len(line) - len(line.lstrip())]
            out += [pad + text.strip() for text in returns]
        return out

    loads = ([f"    i{k} = xi[p, {column(k, N_INT)}]" for k in range(N_INT)]
             + [f"    f{k} = xf[p, {column(k, N_FLOAT)}]" for k in range(N_FLOAT)])
    stores = ([f"    oi[p, {column(k, N_INT)}] = i{k}" for k in range(N_INT)]
              + [f"    of[p, {column(k, N_FLOAT)}] = f{k}" for k in range(N_FLOAT)])
    params = ", ".join(INT_VARS + FLOAT_VARS)
    exponents = [f"    {name} = {value}" for name, value in EXPONENTS.items()]
    return "\n".join(["import math", "import operator", "import numpy as np", "import wafersim as ws", HELPERS, "", "@ws.jit",
                      "def kern(xi, xf, oi, of):", "    p = ws.grid(1)", *loads, *exponents,
                      *early(body, stores + ["return"]), *stores, "", "",
                      f"def ref({params}):", *exponents, *early(body, [f"return ({params},)"]), f"    return ({params},)",
                      ""])


load = load_source  # see conftest.py


def inputs(seed: int):
    rng = np.random.default_rng(seed)
    xi = rng.integers(-30, 31, (N_PE, N_INT)).astype(np.int32)
    wide = rng.random((N_PE, N_INT)) < 0.15
    xi[wide] = rng.integers(-(2**31), 2**31, int(wide.sum()), dtype=np.int64).astype(np.int32)
    xf = rng.uniform(-4, 4, (N_PE, N_FLOAT)).astype(np.float32)
    special = rng.random((N_PE, N_FLOAT)) < 0.15
    xf[special] = rng.choice(np.array([0.0, 1.0, -1.0, 0.5], np.float32), int(special.sum()))
    return xi, xf


def check(dev, directory, body: list[str], seed: int) -> None:
    source = render(body)
    module = load(directory, source)
    # The reference calls the device functions as the plain Python functions they are.
    reference = types.FunctionType(module.ref.__code__, dict(vars(module), mix=module.mix.py_func))
    xi, xf = inputs(seed)
    want_i = np.zeros((N_PE, N_INT), np.int32)
    want_f = np.zeros((N_PE, N_FLOAT), np.float32)
    with np.errstate(over="ignore", invalid="raise", divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for p in range(N_PE):
            args = [np.int32(v) for v in xi[p]] + [np.float32(v) for v in xf[p]]
            try:
                result = reference(*args)
            except (FloatingPointError, OverflowError, ValueError):
                assume(False)  # a NaN or an undefined float -> int32 cast: outside what this test compares
            for k in range(N_INT):
                assert isinstance(result[k], np.int32), (source, type(result[k]))
                want_i[p, k] = result[k]
            for k in range(N_FLOAT):
                assert isinstance(result[N_INT + k], np.float32), (source, type(result[N_INT + k]))
                want_f[p, k] = result[N_INT + k]
    d_oi = dev.device_array((N_PE, N_INT), np.int32)
    d_of = dev.device_array((N_PE, N_FLOAT), np.float32)
    # (every generated loop is short: a loop that runs on, e.g. a wrapped-around counter, fails fast)
    module.kern[(1, 1), (N_PE, 1)](dev.to_device(xi), dev.to_device(xf), d_oi, d_of, max_cycles=2e6)
    got_i, got_f = d_oi.copy_to_host(), d_of.copy_to_host()
    bad = [p for p in range(N_PE) if not (np.array_equal(got_i[p], want_i[p]) and same_floats(got_f[p], want_f[p]))]
    assert not bad, (f"kernel differs from Python on PE(s) {bad}\n{source}\n"
                     + "\n".join(f"PE {p}: inputs {list(xi[p])} {list(xf[p])}\n  want {list(want_i[p])} "
                                 f"{list(want_f[p])}\n  got  {list(got_i[p])} {list(got_f[p])}" for p in bad[:3]))


def same_floats(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal float32 values, the sign of a zero included (np.array_equal holds -0.0 equal to 0.0)."""
    return np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


# WAFERSIM_FUZZ_EXAMPLES=2000 WS_FUZZ_RANDOM=1 runs a longer, non-deterministic search
FUZZ = compiler_fuzz_settings(30)


@FUZZ
@given(body=programs(branching=False), seed=st.integers(0, 2**32 - 1))
def test_straight_line_kernels_match_python(dev, gen_dir, body, seed):
    check(dev, gen_dir, body, seed)


@FUZZ
@given(body=programs(branching=True), seed=st.integers(0, 2**32 - 1))
def test_branching_kernels_match_python(dev, gen_dir, body, seed):
    check(dev, gen_dir, body, seed)
