"""Differential fuzzing of the `@ws.jit` compiler, second part: the constructs tests/test_compiler_fuzz.py
cannot reach because it writes every constant as np.int32(c) / np.float32(c) and every conversion out.

The generator (a subclass of that file's `Gen`, so every expression it draws can hold the new forms at any
depth) writes *marker* calls into one body text; the kernel and the reference are made from it:

- the reference (plain Python on np.int32 / np.float32 scalars and NumPy arrays) runs the text as it is,
  with the markers bound to functions that state the documented semantics (docs/python-supported.md): an
  int32 meeting a float32 is converted to float32 first (`_F`), written-out numbers are int32 / float32
  (`_I`, `_R`), shifts give Python's result wrapped to int32, comparisons and `in` promote pairwise;
- the kernel gets the text with the markers rewritten (`ast`) into the Python the user would write:
  `_F(i0) + f1` -> `i0 + f1`, `_I(3)` -> `3`, `_CMP(a, '<', b, '<=', c)` -> `a < b <= c`, ...

So mixed int32/float32 arithmetic, comparisons, chained comparisons, `in`, min/max and ternaries, written-out
numbers (folded by the compiler), the same values loaded at run time (`ki[j]`, `kf[j]`: global arrays that
hold the constant pools), `ws.constant` parameters and module constants, `/`, `<<`, `>>`, `~`, `**` of
floats, int(), round(), augmented assignments on elements and slices of local arrays and elements of a
global array, element indices counted from the end (written out, or held in a variable assigned once:
`back2`), `while` with `break` / `continue`, device functions with defaults, keywords and nested calls are
all compared, the folded and the run-time form of one expression drawn alike.

Examples whose reference raises (a NaN, a division by zero, a float -> int32 cast out of range) are
discarded, as are kernels the compiler refuses for a documented reason (a constant that does not fit in
int32, a constant expression Python cannot evaluate); any other CompileError fails the test.
WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import ast
import math
import operator as op_module
import types
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from test_compiler_fuzz import FLOAT_VARS, HELPERS, INT_VARS, N_FLOAT, N_INT, Gen, same_floats

import wafersim as ws
from conftest import compiler_fuzz_settings, load_source

N_PE = 8
N_LOCAL = 4
#: Constants drawn as written-out numbers, as np.int32 / np.float32, or read at run time from ki / kf.
INT_POOL = list(range(-9, 10)) + [100000, -70000, 8191, 8192, -8193, 65535, 16777216, 16777217, 33554431,
                                   2147483647, -2147483648]
FLOAT_POOL = [0.5, -1.25, 2.0, 3.0, -0.75, 0.1, 1.5, -3.5, 0.0, 16777216.0, 100000000.0, -7.0, -0.0]


#: Float constants written as names or strings (docs/python-supported.md: `math.pi` folded, `float('...')` and
#: `np.float32('...')` read as Python / NumPy read the string): the float32 of that value.
NAMED_FLOATS = ["math.pi", "math.e", "math.tau", "np.pi", "np.e", "float('0.1')", "float(' -2.5e-3 ')",
                "np.float32('1e-3')", "float('-0.0')", "np.float32('16777217')"]


def _pool_index(value: float) -> int:
    """FLOAT_POOL's index of `value`, the sign of a zero told apart (list.index finds 0.0 for -0.0)."""
    return next(k for k, c in enumerate(FLOAT_POOL) if c == value and math.copysign(1, c) == math.copysign(1, value))


MODULE_CONSTANTS = "MI = 16777217\nMF = 0.1\nMT = (3, 0.5, -2, 16777216.0)\n"
MORE_HELPERS = """
@ws.jit
def axpb(x, a=2.0, b=0.5):
    return a * x + b


@ws.jit
def iaxpb(x, a=3, b=-1):
    return a * x + b


@ws.jit
def nest(x, y, how="add", scale=1.5):
    u, v = mix(x, y, how=how)
    return axpb(u, b=scale) - v
"""
COMPARE = {"<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE, "==": ast.Eq, "!=": ast.NotEq}
COMPARE_FN = {"<": op_module.lt, "<=": op_module.le, ">": op_module.gt, ">=": op_module.ge, "==": op_module.eq,
              "!=": op_module.ne}
#: Refusals of constants (the reference wraps or raises where Python does). A shift count known when compiling
#: follows the run-time rule (`i << 40` is 0, `i >> 40` the sign); only a negative one is refused.
DOCUMENTED_REFUSALS = ("does not fit in int32", "cannot evaluate the constant expression", "negative shift count",
                       "integer division by zero",  # a constant divisor of 0 (`i // int(-0.75)`), on any path
                       "cannot convert the constant")  # int() of a constant nan or beyond int32, on any path


# ----------------------------------------------------------------------------- the reference's markers
def _promote(a, b):
    """Two numbers as the machine compares or combines them: an int32 meeting a float32 becomes float32."""
    if isinstance(a, np.float32) or isinstance(b, np.float32):
        return np.float32(a), np.float32(b)
    return a, b


def _wrap(value: int) -> np.int32:
    return np.int32((value + 2**31) % 2**32 - 2**31)


def _cmp(*args):
    values, ops = args[0::2], args[1::2]
    return all(COMPARE_FN[o](*_promote(a, b)) for a, o, b in zip(values, ops, values[1:]))


def _in(x, items, negate=False):
    found = any(a == b for a, b in (_promote(x, item) for item in items))
    return found != negate


def _powi(x, n):
    """`v ** n` of a float32 with a constant whole n in -1..2 (docs/python-supported.md): 1, v, v * v, 1 / v,
    each rounded once (NumPy's `arr ** 2` squares too, where `np.power(arr, arr2)` is a powf, 1 ulp apart)."""
    return {-1: np.float32(1.0) / x, 0: np.float32(1.0), 1: x, 2: x * x}[int(n)]


def _round(x):
    return np.int32(np.rint(x))


def _pow(a, b):
    """`fpow` as docs/python-supported.md states it: the power evaluated in float64, rounded once to float32.
    (Not NumPy's float32 `np.power`, which on some CPUs takes a SIMD `powf` 1 ulp off: 2.1501741 ** 2.0 is
    4.6232486 there, where the correctly rounded square is 4.623249. Nor its float64 *scalar* power, which takes
    a square root for an exponent 0.5: `(-0.0) ** 0.5` -0.0 and `(-inf) ** 0.5` nan, where C's `pow`, Python's
    `**` and the kernel give 0.0 and inf; one-element arrays take C's `pow`, as tests/test_compiler_fuzz_math.py's
    reference does.)"""
    return np.float32(np.power(np.array([a], np.float64), np.array([b], np.float64))[0])


REFERENCE_MARKERS = {
    "_I": np.int32, "_R": np.float32, "_F": np.float32, "_K": lambda value: value, "_TOI": np.int32, "_ROUND": _round, "_POW": _pow, "_POWI": _powi,
    "_POWC": _pow, "_POWIC": _powi,  # the same powers written as the builtin pow(x, y)
    "_SHL": lambda a, k: _wrap(int(a) << int(k)), "_SHR": lambda a, k: _wrap(int(a) >> int(k)),
    "_CMP": _cmp, "_IN": _in,
    "MI": np.int32(16777217), "MF": np.float32(0.1),
    "MT": (np.int32(3), np.float32(0.5), np.int32(-2), np.float32(16777216.0)),
}


# ----------------------------------------------------------------------------- the kernel's markers
class ToKernel(ast.NodeTransformer):
    """Markers -> the kernel source a user writes."""

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        name = node.func.id if isinstance(node.func, ast.Name) else None
        args = node.args
        if name in ("_I", "_R", "_F", "_K"):
            return args[0]
        if name == "_TOI":
            return ast.Call(ast.Name("int", ast.Load()), args, [])
        if name == "_ROUND":
            return ast.Call(ast.Name("round", ast.Load()), args, [])
        if name in ("_POWC", "_POWIC"):  # the builtin: pow(x, y) is x ** y
            return ast.Call(ast.Name("pow", ast.Load()), args, [])
        if name in ("_POW", "_POWI", "_SHL", "_SHR"):
            op = {"_POW": ast.Pow, "_POWI": ast.Pow, "_SHL": ast.LShift, "_SHR": ast.RShift}[name]()
            return ast.BinOp(args[0], op, args[1])
        if name == "_CMP":
            return ast.Compare(args[0], [COMPARE[a.value]() for a in args[1::2]], args[2::2])
        if name == "_IN":
            negate = len(args) > 2 and args[2].value
            return ast.Compare(args[0], [ast.NotIn() if negate else ast.In()], [args[1]])
        return node


def to_kernel(source: str) -> str:
    return ast.unparse(ast.fix_missing_locations(ToKernel().visit(ast.parse(source))))


# ----------------------------------------------------------------------------- which conditions are constants
#: Names whose values the compiler knows: the `ws.constant` parameters and the module constants.
KNOWN_NAMES = {"kci", "kcf", "MI", "MF", "MT"}
#: Arrays, whose elements are read at run time (`li`, `la` local; the others the kernel's parameters).
ARRAY_NAMES = {"li", "la", "gf", "ki", "kf", "xi", "xf"}
#: Calls the compiler folds when every argument is a constant: the markers (as the kernel writes them), builtins,
#: and every `np.` / `math.` / `operator.` function (attributes); other names are device functions.
FOLDED_CALLS = {"_I", "_R", "_F", "_K", "_TOI", "_ROUND", "_POW", "_POWI", "_POWC", "_POWIC", "_SHL", "_SHR", "_CMP",
                "_IN", "_B", "_BOOLC", "_TOF", "_POWOP", "_SHLOP", "_SHROP", "int", "float", "bool", "min", "max",
                "abs", "round", "pow"}
CONSTANT, RUN_TIME, UNSURE = "constant", "run time", "unsure"


def _known(node: ast.AST) -> str:
    """Whether the compiler knows `node`'s value (CONSTANT), not (RUN_TIME), or whether the text cannot tell
    (UNSURE: an unrolled loop's variable is a constant in each copy, `back2` is assigned once from one, a device
    function's constant arguments bind as constants, and a short-circuit (`and`, `or`, a chain, `x in ()`) is decided
    by a constant part)."""
    if isinstance(node, (ast.Constant, ast.Attribute)):  # (np.pi, math.e)
        return CONSTANT
    if isinstance(node, ast.Name):
        return CONSTANT if node.id in KNOWN_NAMES else RUN_TIME if node.id in INT_VARS + FLOAT_VARS else UNSURE
    if isinstance(node, ast.Subscript):
        return RUN_TIME if isinstance(node.value, ast.Name) and node.value.id in ARRAY_NAMES else UNSURE
    if isinstance(node, ast.Call):
        children = node.args + [keyword.value for keyword in node.keywords]
    else:
        children = [child for child in ast.iter_child_nodes(node) if not isinstance(child, (ast.operator,
                    ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context))]
    kinds = {_known(child) for child in children}
    if UNSURE in kinds:
        return UNSURE
    name = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None
    if name is not None and name not in FOLDED_CALLS and RUN_TIME not in kinds:
        return UNSURE  # (a device function of constants: its result is a register, but stay safe)
    short_circuit = isinstance(node, (ast.BoolOp, ast.IfExp)) or (isinstance(node, ast.Compare) and len(node.ops) > 1) \
        or (name == "_CMP" and len(node.args) > 3) \
        or (name == "_IN" and isinstance(node.args[1], ast.Tuple) and not node.args[1].elts)
    if short_circuit and kinds == {CONSTANT, RUN_TIME}:
        return UNSURE
    if short_circuit and name == "_IN":
        return UNSURE  # (`x in ()` is False whatever x is)
    return RUN_TIME if RUN_TIME in kinds else CONSTANT


def decided_when_compiling(test: str) -> bool | None:
    """Whether the compiler decides the condition `test` (a reference text) when compiling, so that a conditional
    expression it decides is its branch, of that branch's own type (docs/python-supported.md), and not the
    float32 of an int32 branch meeting a float32 one; None where the text cannot tell."""
    kind = _known(ast.parse(test, mode="eval").body)
    return None if kind == UNSURE else kind == CONSTANT


# ----------------------------------------------------------------------------- the generator
class MixedGen(Gen):
    """`Gen` with the forms above mixed in at every level (a quarter of the nodes)."""
    uses_base_render = False  # (its bodies have a render of their own)
    #: Whether the float_expr being drawn is the operand of int() (`_TOI`), where the int32 branch a constant
    #: condition chooses is converted exactly, as Python's int of an int: there a conditional expression with a
    #: constant condition keeps its int32 branch (`_K`); elsewhere that branch is converted (`np.float32(...)`),
    #: as the generator's float32 type for every float_expr needs
    exact_consumer = False

    def mine(self) -> bool:
        return self.draw(st.integers(0, 3)) == 0

    def index(self, depth: int, target: bool = False) -> str:
        """A constant index, one counted from the end, or one known at run time (in an augmented assignment's
        target, without a device function's call: such an index is refused; abs, min, max may appear). One counted
        from the end may be a variable holding it, also as a device function's argument (`mark(li, back1, v)`: the
        parameter binds as the constant, so `buf[k]` there counts from the end as in Python)."""
        kind = self.choice(["const", "neg", "run"] if depth > 0 else ["const", "neg"])
        if kind == "const":
            return str(self.draw(st.integers(0, N_LOCAL - 1)))
        if kind == "neg":  # written out, or held in a variable assigned once from it (`back2 = -2`), the same
            value = self.draw(st.integers(-N_LOCAL, -1))
            return f"back{-value}" if self.draw(st.booleans()) else str(value)
        if target and self.draw(st.integers(0, 2)) == 0:  # builtins without effect: evaluated once, as Python does
            v, w = self.choice(INT_VARS), self.choice(INT_VARS)
            return self.choice([f"(abs({v}) % _I(4))", f"(max({v}, _I(0)) & _I(3))", f"(min({v}, {w}) & _I(3))"])
        return f"({self.choice(INT_VARS) if target else self.int_expr(0)} & _I(3))"

    def int_const(self) -> str:
        value = self.choice(INT_POOL)
        form = self.choice(["written", "numpy", "runtime"])
        if form == "written":
            return f"_I({value})"
        if form == "numpy":
            return f"np.int32({value})"
        return f"ki[{INT_POOL.index(value)}]"

    def float_const(self) -> str:
        if self.draw(st.integers(0, 7)) == 0:  # a named constant or a float read from a string: float32 constants
            return f"_R({self.choice(NAMED_FLOATS)})"
        value = self.choice(FLOAT_POOL)
        form = self.choice(["written", "numpy", "runtime"])
        if form == "written":
            return f"_R({value!r})"
        if form == "numpy":
            return f"np.float32({value!r})"
        return f"kf[{_pool_index(value)}]"

    def number(self, depth: int) -> tuple[str, bool]:
        """(text, is_float) of an int32 or a float32 expression."""
        if self.draw(st.booleans()):
            return self.int_expr(depth), False
        return self.float_expr(depth), True

    def int_expr(self, depth: int) -> str:
        if not self.mine():
            return super().int_expr(depth)
        kinds = ["const", "const", "named", "elem"]
        if depth > 0:
            kinds += ["shift", "invert", "toi", "round", "divmod_rt"]
        kind = self.choice(kinds)
        if kind == "const":
            return self.int_const()
        if kind == "named":
            return self.choice(["kci", "MI"])
        if kind == "elem":
            return f"li[{self.index(depth)}]"
        if kind == "shift":  # a count known at run time or written out; never negative (% floors)
            count = f"({self.int_expr(0)} % _I(40))" if self.draw(st.booleans()) else f"_I({self.draw(st.integers(0, 31))})"  # (a written-out count of 32 or more is refused)
            return f"{self.choice(['_SHL', '_SHR'])}({self.int_expr(depth - 1)}, {count})"
        if kind == "invert":
            return f"(~{self.int_expr(depth - 1)})"
        if kind == "toi":
            return self.to_int(depth - 1)
        if kind == "round":
            return f"_ROUND({self.float_expr(depth - 1)})"
        return f"({self.int_expr(depth - 1)} {self.choice(['//', '%'])} {self.int_expr(depth - 1)})"

    def to_int(self, depth: int) -> str:
        """int() of a float32 expression, or (a quarter of the time) of a conditional expression between an int32
        and a float32 whose condition is decided when compiling: its branch, of its own type (int() of the int32
        exact, as Python's; the run-time rule would convert it to float32 first)."""
        if self.draw(st.integers(0, 3)):
            self.exact_consumer = True
            return f"_TOI({self.float_expr(depth)})"
        known = ["kci", "MI", "kcf", "MF", f"_I({self.choice(INT_POOL)})", f"_R({self.choice(FLOAT_POOL)!r})",
                 f"np.int32({self.choice(INT_POOL)})"]
        x, y = self.choice(known), self.choice(known)
        test = self.choice([f"_CMP({x}, {self.choice(list(COMPARE))!r}, {y})", f"_IN({x}, MT, {self.draw(st.booleans())})"])
        assert decided_when_compiling(test) is True, test
        branches = [f"_K({self.int_expr(depth)})", self.float_expr(depth)]
        if self.draw(st.booleans()):
            branches.reverse()
        return f"_TOI({branches[0]} if {test} else {branches[1]})"

    def mixed_operand(self, depth: int) -> str:
        text, is_float = self.number(depth)
        return text if is_float else f"_F({text})"

    def mixed_operands(self, depth: int, count: int) -> list[str]:
        """Operands of one operation, int32 (marked `_F`) or float32, at least one a float32: two int32s meet
        in int32 arithmetic (every float_expr must be a float32 in the kernel too)."""
        operands = [self.mixed_operand(depth) for _ in range(count)]
        if all(text.startswith("_F(") for text in operands):
            operands[self.draw(st.integers(0, count - 1))] = self.float_expr(depth)
        return operands

    def float_expr(self, depth: int) -> str:
        exact, self.exact_consumer = self.exact_consumer, False  # (for this expression, not its operands)
        if not self.mine():
            return super().float_expr(depth)
        kinds = ["const", "const", "named", "elem"]
        if depth > 0:
            kinds += ["mixbin", "mixbin", "mixbin", "div", "minmax", "ifexp", "math", "pow", "aux"]
        kind = self.choice(kinds)
        if kind == "const":
            return self.float_const()
        if kind == "named":
            return self.choice(["kcf", "MF"])
        if kind == "elem":
            return f"{self.choice(['la[', 'gf[p, '])}{self.index(depth)}]"
        if kind == "mixbin":  # at least one side an int32 half the time
            op = self.choice(["+", "-", "*", "/", "//", "%"])
            operands = self.mixed_operands(depth - 1, 2)
            if not any(text.startswith("_F(") for text in operands) and self.draw(st.booleans()):
                operands[self.draw(st.integers(0, 1))] = f"_F({self.int_expr(depth - 1)})"  # an int32 side
            return f"({operands[0]} {op} {operands[1]})"
        if kind == "div":  # `/` of two int32s converts both first
            return f"(_F({self.int_expr(depth - 1)}) / _F({self.int_expr(depth - 1)}))"
        if kind == "minmax":
            args = self.mixed_operands(depth - 1, self.draw(st.integers(2, 3)))
            return f"{self.choice(['min', 'max'])}({', '.join(args)})"
        if kind == "ifexp":
            if not self.branching:
                return f"({self.float_expr(depth - 1)} * _F({self.int_expr(depth - 1)}))"
            yes, no = self.mixed_operands(depth - 1, 2)
            test = self.cond(depth - 1)
            decided = decided_when_compiling(test)
            if decided is not False:  # a constant condition gives its branch of its own type: an int32 one is
                # int32 (kept where int() takes it, converted written out elsewhere: the kernel's type is float32)
                form = "_K({})" if decided and exact else "np.float32({})"
                yes, no = (form.format(text[3:-1]) if text.startswith("_F(") else text for text in (yes, no))
            return f"({yes} if {test} else {no})"
        if kind == "math":  # an int32 argument is converted to float32 first
            return f"np.{self.choice(['sin', 'floor', 'sqrt', 'tanh', 'rint'])}(_F({self.int_expr(depth - 1)}))"
        if kind == "pow":
            # (an int32 base needs a float32 or constant exponent: int32 ** a run-time int32 is refused)
            # (an int32 exponent known only at run time is an fpow; one known when compiling, in -1..2, is not:
            # `f ** k` with k == 2 and `f ** 2` can differ in the last bit, so the run-time one is a variable)
            exponent = self.choice(["_R(2.0)", "_R(0.5)", "_R(3.0)", "_R(-1.0)", "_R(1.0)",
                                    f"_F(({self.choice(INT_VARS)} % _I(4)))", "_I(-1)", "_I(0)", "_I(1)", "_I(2)"])
            call = self.choice(["", "C"])  # `x ** y`, or the builtin `pow(x, y)`
            if exponent.startswith("_I("):  # a constant whole exponent in -1..2: `v ** 2` is `v * v`
                return f"_POWI{call}({self.float_expr(depth - 1)}, {exponent})"
            base = self.float_expr(depth - 1) if exponent.startswith("_F(") else self.mixed_operand(depth - 1)
            return f"_POW{call}({base}, {exponent})"
        # device functions with defaults and keywords, one calling others
        x, y = self.float_expr(depth - 1), self.float_expr(depth - 1)
        return self.choice([f"axpb({x})", f"axpb({x}, b={y})", f"axpb(x={x}, a={y})", f"nest({x}, {y})",
                            f"nest({x}, {y}, how='sub', scale={self.float_const()})",
                            f"(_F(iaxpb({self.int_expr(depth - 1)}, b={self.int_expr(0)})) * {y})"])

    def cond(self, depth: int, top: bool = False) -> str:
        if not self.mine():
            return super().cond(depth, top)
        kind = self.choice(["cmp", "chain", "in"])
        if kind == "in":  # a constant x a third of the time: the whole test folded
            x = self.choice([self.number(max(depth, 0))[0], self.int_const(), self.float_const()])
            items = [self.choice([self.int_const(), self.float_const(), f"_I({self.choice(INT_POOL)})"])
                     for _ in range(self.draw(st.integers(0, 3)))]
            tup = self.choice(["MT", f"({', '.join(items)}{',' if len(items) == 1 else ''})"])
            return f"_IN({x}, {tup}, {self.draw(st.booleans())})"
        count = 2 if kind == "cmp" else self.draw(st.integers(3, 4))
        parts = [self.number(max(depth, 0))[0]]
        for _ in range(count - 1):
            parts += [repr(self.choice(list(COMPARE))), self.number(max(depth - 1, 0))[0]]
        return f"_CMP({', '.join(parts)})"

    def statement(self, indent: int, nest: int) -> list[str]:
        if not self.mine():
            return super().statement(indent, nest)
        pad = "    " * indent
        kinds = ["elemaug", "elemaug", "sliceaug", "sliceaug", "mixaug", "tofloat"]
        if self.branching and nest < 2:
            kinds.append("whilebc")
        kind = self.choice(kinds)
        depth = self.draw(st.integers(1, 2))
        if kind == "elemaug":
            target = self.choice(["la", "li", "gf"])
            where = self.index(1, target=True)
            if target == "li":
                aug = self.choice(["+=", "-=", "*=", "//=", "%=", "&=", "|=", "^="])
                return [f"{pad}li[{where}] {aug} {self.int_expr(depth)}"]
            aug = self.choice(["+=", "-=", "*=", "/=", "%="])
            return [f"{pad}{'la[' if target == 'la' else 'gf[p, '}{where}] {aug} {self.mixed_operand(depth)}"]
        if kind == "sliceaug":  # a slice op= a scalar, another slice of the array (overlapping) or scalar * slice
            length = self.draw(st.integers(1, N_LOCAL))
            start, other = (self.draw(st.integers(0, N_LOCAL - length)) for _ in range(2))
            name = self.choice(["la", "li"])
            source = f"{name}[{other}:{other + length}]"
            scalar = self.int_expr(depth) if name == "li" else self.mixed_operand(depth)
            value = self.choice([scalar, source, f"{scalar} * {source}" if name == "la" else source])
            aug = self.choice(["+=", "-=", "*="] + (["/="] if name == "la" and value == source else []))
            return [f"{pad}{name}[{start}:{start + length}] {aug} {value}"]
        if kind == "mixaug":  # a float32 variable op= an int32 value
            return [f"{pad}{self.choice(FLOAT_VARS)} {self.choice(['+=', '-=', '*=', '/='])} _F({self.int_expr(depth)})"]
        if kind == "tofloat":  # an int32 value assigned to a float32 variable converts
            return [f"{pad}{self.choice(FLOAT_VARS)} = _F({self.int_expr(depth)})"]
        counter = f"w{self.loops}"
        self.loops += 1
        lines = [f"{pad}{counter} = 0", f"{pad}while {counter} < {self.draw(st.integers(1, 4))}:",
                 f"{pad}    {counter} += 1", f"{pad}    if {self.cond(1)}:", f"{pad}        continue"]
        lines += self.block(indent + 1, self.draw(st.integers(1, 2)), nest + 1)
        return lines + [f"{pad}    if {self.cond(1)}:", f"{pad}        break"]


@st.composite
def programs(draw, branching: bool):
    gen = MixedGen(draw, branching)
    return gen.block(1, draw(st.integers(2, 8)), 0)


# ----------------------------------------------------------------------------- kernel, reference, check
def render(body: list[str], helpers: str = "", transform=to_kernel, ref_transform=None) -> tuple[str, str]:
    """(the module's source: kernel and helpers; the reference function's source). `helpers` (more device
    functions), `transform` (markers -> kernel source) and `ref_transform` (the reference's source -> the
    source run) let tests/test_compiler_fuzz_control.py and tests/test_compiler_fuzz_values.py reuse it."""
    loads = ([f"    i{k} = xi[p, {k}]" for k in range(N_INT)] + [f"    f{k} = xf[p, {k}]" for k in range(N_FLOAT)]
             + ["    la = ws.local.array(4, np.float32)", "    li = ws.local.array(4, np.int32)",
                f"    for q in range({N_LOCAL}):", f"        la[q] = xf[p, {N_FLOAT} + q]",
                f"        li[q] = xi[p, {N_INT} + q]"])
    stores = ([f"    oi[p, {k}] = i{k}" for k in range(N_INT)] + [f"    of[p, {k}] = f{k}" for k in range(N_FLOAT)]
              + [f"    for q in range({N_LOCAL}):", f"        oi[p, {N_INT} + q] = li[q]",
                 f"        of[p, {N_FLOAT} + q] = la[q]"])
    held = [f"    back{k} = -{k}" for k in range(1, N_LOCAL + 1)]  # negative indices in variables
    kernel = transform("\n".join(["def kern(xi, xf, oi, of, ki, kf, gf, kci: ws.constant, kcf: ws.constant):",
                                  "    p = ws.grid(1)", *loads, *held, *body, *stores]))
    params = ", ".join(INT_VARS + FLOAT_VARS)
    module = "\n".join(["import math", "import operator", "import numpy as np", "import wafersim as ws",
                        MODULE_CONSTANTS, HELPERS, MORE_HELPERS, helpers, "", "@ws.jit", kernel, ""])
    reference = "\n".join([f"def ref(p, {params}, la, li, gf):", *held, *body, f"    return ({params},)", ""])
    return module, (ref_transform or str)(reference)


def inputs(seed: int):
    rng = np.random.default_rng(seed)
    xi = rng.integers(-30, 31, (N_PE, N_INT + N_LOCAL)).astype(np.int32)
    wide = rng.random(xi.shape) < 0.15
    xi[wide] = rng.integers(-(2**31), 2**31, int(wide.sum()), dtype=np.int64).astype(np.int32)
    near = rng.random(xi.shape) < 0.1  # where int32 -> float32 rounds
    xi[near] = (2**24 + rng.integers(-3, 4, int(near.sum()))) * rng.choice([1, -1], int(near.sum()))
    xf = rng.uniform(-4, 4, (N_PE, N_FLOAT + N_LOCAL)).astype(np.float32)
    special = rng.random(xf.shape) < 0.2  # whole numbers meet the ints in == and in
    xf[special] = rng.choice(np.array([0.0, 1.0, -1.0, 0.5, 3.0, -2.0, 16777216.0], np.float32), int(special.sum()))
    gf = rng.uniform(-4, 4, (N_PE, N_LOCAL)).astype(np.float32)
    return xi, xf, gf


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_mixed")


def check(dev, directory, body: list[str], seed: int, kci: int, kcf: float, helpers: str = "", transform=to_kernel,
          markers=None, ref_transform=None) -> None:
    source, reference_source = render(body, helpers, transform, ref_transform)
    module = load_source(directory, source)
    names = dict(vars(module), **REFERENCE_MARKERS, ki=np.array(INT_POOL, np.int32),
                 kf=np.array(FLOAT_POOL, np.float32), kci=np.int32(kci), kcf=np.float32(kcf), **(markers or {}))
    for helper, jitted in vars(module).items():  # the device functions as the plain functions they are
        if helper != "kern" and hasattr(jitted, "py_func"):
            func = jitted.py_func
            names[helper] = types.FunctionType(func.__code__, names, helper, func.__defaults__)
    exec(compile(reference_source, "<reference>", "exec"), names)
    xi, xf, gf = inputs(seed)
    want_i, want_f, want_g = xi.copy(), xf.copy(), gf.copy()
    with np.errstate(over="ignore", invalid="raise", divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for p in range(N_PE):
            la, li = xf[p, N_FLOAT:].copy(), xi[p, N_INT:].copy()
            args = [np.int32(v) for v in xi[p, :N_INT]] + [np.float32(v) for v in xf[p, :N_FLOAT]]
            try:
                result = names["ref"](p, *args, la, li, want_g)
            except (FloatingPointError, OverflowError, ValueError, ZeroDivisionError):
                assume(False)  # a NaN, a division by zero, an undefined float -> int32 cast
            for k in range(N_INT):
                assert isinstance(result[k], np.int32), (source, reference_source, type(result[k]))
            for k in range(N_FLOAT):
                assert isinstance(result[N_INT + k], np.float32), (source, reference_source, type(result[N_INT + k]))
            want_i[p] = list(result[:N_INT]) + list(li)
            want_f[p] = list(result[N_INT:]) + list(la)
    d_oi, d_of = dev.device_array(xi.shape, np.int32), dev.device_array(xf.shape, np.float32)
    d_gf = dev.to_device(gf)
    try:
        module.kern[(1, 1), (N_PE, 1)](dev.to_device(xi), dev.to_device(xf), d_oi, d_of,
                                       dev.to_device(np.array(INT_POOL, np.int32)),
                                       dev.to_device(np.array(FLOAT_POOL, np.float32)), d_gf, kci, kcf,
                                       max_cycles=2e6)
    except ws.CompileError as err:
        assume(not any(reason in str(err) for reason in DOCUMENTED_REFUSALS))
        raise AssertionError(f"refused:\n{source}\n{err}") from err
    got_i, got_f, got_g = d_oi.copy_to_host(), d_of.copy_to_host(), d_gf.copy_to_host()
    bad = [p for p in range(N_PE) if not (np.array_equal(got_i[p], want_i[p]) and same_floats(got_f[p], want_f[p])
                                         and same_floats(got_g[p], want_g[p]))]
    assert not bad, (f"kernel differs from the reference on PE(s) {bad}\n{source}\n{reference_source}\n"
                     f"kci={kci} kcf={kcf}\n"
                     + "\n".join(f"PE {p}: inputs {list(xi[p])} {list(xf[p])} {list(gf[p])}\n"
                                 f"  want {list(want_i[p])} {list(want_f[p])} {list(want_g[p])}\n"
                                 f"  got  {list(got_i[p])} {list(got_f[p])} {list(got_g[p])}" for p in bad[:3]))


# A few examples in `make test` (the other fuzz tests hold most of the budget); WAFERSIM_FUZZ_EXAMPLES=300
# WS_FUZZ_RANDOM=1 runs a longer, non-deterministic search.
FUZZ = compiler_fuzz_settings(12)
CONSTANT_ARGS = dict(kci=st.sampled_from([0, 3, -7, 16777217, 2147483647]),
                     kcf=st.sampled_from([0.5, -1.25, 16777216.0, 0.1, -0.0]))


@FUZZ
@given(body=programs(branching=False), seed=st.integers(0, 2**32 - 1), **CONSTANT_ARGS)
def test_straight_line_mixed_kernels_match_the_reference(dev, gen_dir, body, seed, kci, kcf):
    check(dev, gen_dir, body, seed, kci, kcf)


@FUZZ
@given(body=programs(branching=True), seed=st.integers(0, 2**32 - 1), **CONSTANT_ARGS)
def test_branching_mixed_kernels_match_the_reference(dev, gen_dir, body, seed, kci, kcf):
    check(dev, gen_dir, body, seed, kci, kcf)


def test_reference_power_of_a_negative_zero_or_infinity_to_one_half_is_c_pow(dev, gen_dir):
    """`(-0.0) ** 0.5` is 0.0 and `(-inf) ** 0.5` inf in the kernel (`fpow`: C's `pow`, as Python's `**`), where the
    reference's NumPy float64 scalar power gave -0.0 (a false failure: FLOAT_POOL holds -0.0 and 0.5 is a drawn
    exponent) and nan (a draw discarded) (fuzz57)."""
    assert FLOAT_POOL[12] == 0.0 and math.copysign(1.0, FLOAT_POOL[12]) < 0 and FLOAT_POOL[7] == -3.5
    check(dev, gen_dir, ["    f0 = _POW(kf[12], _R(0.5))", "    f1 = _POW(kf[7] * _R(1e38) * _R(1e38), _R(0.5))"],
          1, 0, 0.5)
