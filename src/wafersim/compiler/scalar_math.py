"""Scalar math in kernels: the `math` module's and NumPy's float32 functions, as one instruction each (the
`sfu`, `fpu` and `div` opcodes of docs/isa.md) or a short documented sequence (isnan/isinf/isfinite).

Every function computes what NumPy's float32 ufunc of the same meaning gives on a float32 array (the engine
runs that ufunc), so results match NumPy float32 to 0 ulps; constant arguments are folded with the very
same ufunc. Domain errors follow NumPy, not the `math` module: `math.sqrt(-1.0)` is nan, not a ValueError
(docs/python-supported.md lists the differences).
"""
from __future__ import annotations

import ast
import math
import operator

import numpy as np

from ..isa.float_math import VECTOR_MATH
from .expressions import ExpressionLowering
from .values import SliceRef, Tup, Unsupported, Val, describe, fits_int32, fold_float32

#: float32 -> float32 functions of one argument: opcode, and the NumPy ufunc that defines it.
UNARY = {
    math.sqrt: "fsqrt", np.sqrt: "fsqrt", math.exp: "fexp", np.exp: "fexp", math.log: "flog", np.log: "flog",
    math.tanh: "ftanh", np.tanh: "ftanh", math.sin: "fsin", np.sin: "fsin", math.cos: "fcos", np.cos: "fcos",
    math.tan: "ftan", np.tan: "ftan", math.asin: "fasin", np.arcsin: "fasin", math.acos: "facos",
    np.arccos: "facos", math.atan: "fatan", np.arctan: "fatan", math.sinh: "fsinh", np.sinh: "fsinh",
    math.cosh: "fcosh", np.cosh: "fcosh", math.asinh: "fasinh", np.arcsinh: "fasinh", math.acosh: "facosh",
    np.arccosh: "facosh", math.atanh: "fatanh", np.arctanh: "fatanh", math.expm1: "fexpm1", np.expm1: "fexpm1",
    math.log2: "flog2", np.log2: "flog2", math.log10: "flog10", np.log10: "flog10", math.log1p: "flog1p",
    np.log1p: "flog1p", np.floor: "ffloor", np.ceil: "fceil", np.trunc: "ftrunc", math.fabs: "fabs",
    np.fabs: "fabs", math.erf: "ferf", math.erfc: "ferfc", math.gamma: "fgamma", math.lgamma: "flgamma",
    np.rint: "frint",
}
#: float32 functions of two arguments.
BINARY = {
    math.pow: "fpow", np.power: "fpow", math.atan2: "fatan2", np.arctan2: "fatan2", math.hypot: "fhypot",
    np.hypot: "fhypot", math.copysign: "fcopysign", np.copysign: "fcopysign", math.fmod: "ffmod",
    np.fmod: "ffmod", np.floor_divide: "ffloordiv", np.remainder: "fpymod", math.remainder: "fremainder",
}
#: Python's math.floor/ceil/trunc return an int: the float32 function, then a conversion to int32.
TO_INT = {math.floor: "ffloor", math.ceil: "fceil", math.trunc: "ftrunc", round: "frint"}  # round: ties to even
PREDICATES = (math.isnan, np.isnan, math.isinf, np.isinf, math.isfinite, np.isfinite)
#: NumPy functions that keep int32 arguments int32 (np.power(2, 3) is 8): they lower as the operators.
_INT_OPERATORS = {np.power: "**", np.floor_divide: "//", np.remainder: "%"}

#: Conversions between degrees and radians: one fmul by the float32 constant NumPy's float32 loops use
#: (np.degrees multiplies by float32(180) / float32(pi), np.radians by float32(pi / 180)).
ANGLE_FACTORS = {math.degrees: np.float32(180) / np.float32(np.pi), np.degrees: np.float32(180) / np.float32(np.pi),
                 np.rad2deg: np.float32(180) / np.float32(np.pi), math.radians: np.float32(np.pi / 180),
                 np.radians: np.float32(np.pi / 180), np.deg2rad: np.float32(np.pi / 180)}
#: What to write on slices for a function that takes numbers only (`math.floor` gives an int; `np.floor` a
#: float32, and applies to slices).
_SLICE_FORMS = {"floor": "np.floor(...)", "ceil": "np.ceil(...)", "trunc": "np.trunc(...)", "round": "np.rint(...)"}
#: Functions of one number that return something else than a float32: the fractional and integral parts
#: (a tuple), and Python's round (an int, ties to even).
SPLITS = (math.modf, np.modf)

MATH_FUNCTIONS = (frozenset(UNARY) | frozenset(BINARY) | frozenset(TO_INT) | frozenset(PREDICATES)
                  | frozenset(ANGLE_FACTORS) | frozenset(SPLITS))
#: The `operator` module's functions, as the operators they stand for (called with Python's semantics).
OPERATOR_BINARY = {operator.add: ast.Add, operator.sub: ast.Sub, operator.mul: ast.Mult, operator.truediv: ast.Div,
                   operator.floordiv: ast.FloorDiv, operator.mod: ast.Mod, operator.pow: ast.Pow,
                   operator.lshift: ast.LShift, operator.rshift: ast.RShift, operator.and_: ast.BitAnd,
                   operator.or_: ast.BitOr, operator.xor: ast.BitXor}
OPERATOR_UNARY = {operator.neg: ast.USub, operator.pos: ast.UAdd, operator.invert: ast.Invert,
                  operator.inv: ast.Invert, operator.not_: ast.Not}
OPERATOR_COMPARE = {operator.lt: ast.Lt, operator.le: ast.LtE, operator.gt: ast.Gt, operator.ge: ast.GtE,
                    operator.eq: ast.Eq, operator.ne: ast.NotEq}
OPERATOR_FUNCTIONS = frozenset(OPERATOR_BINARY) | frozenset(OPERATOR_UNARY) | frozenset(OPERATOR_COMPARE) | {
    operator.abs, pow}


class MathLowering(ExpressionLowering):
    def math_call(self, callee, args) -> Val:
        """A call of one of `MATH_FUNCTIONS` on numbers."""
        name = getattr(callee, "__name__", str(callee))
        if callee is round:
            return self.rounded(args)
        if callee in UNARY or callee in TO_INT or callee in PREDICATES or callee in ANGLE_FACTORS or callee in SPLITS:
            if len(args) != 1:
                hint = (": for a logarithm to a base write math.log(x) / math.log(base) (or math.log2, math.log10)"
                        if callee is math.log and len(args) == 2 else "")
                raise Unsupported(f"{name}() takes one number in a kernel{hint}")
        elif len(args) != 2:
            raise Unsupported(f"{name}() takes two numbers in a kernel")
        values = [self.math_argument(a, name, on_slices=len(args) == 1 and UNARY.get(callee) in VECTOR_MATH)
                  for a in args]
        if callee in PREDICATES:
            return self.float_predicate(callee, values[0])
        if callee in TO_INT:
            return self.rounded_to_int(callee, values[0])
        if callee in ANGLE_FACTORS:
            factor = Val("f32", const=float(ANGLE_FACTORS[callee]))
            return self.float_op("fmul", [self.to_type(values[0], "f32"), factor])
        if callee in SPLITS:  # (fractional part, integral part), both float32, as math.modf
            x = self.to_type(values[0], "f32")
            return Tup((self.float_op("ffrac", [x]), self.float_op("ftrunc", [x])))
        if callee in _INT_OPERATORS and all(v.ty == "i32" for v in values):
            op = {"**": ast.Pow(), "//": ast.FloorDiv(), "%": ast.Mod()}[_INT_OPERATORS[callee]]
            return self.arith(op, values[0], values[1])
        if callee is np.fmod and all(v.ty == "i32" for v in values):
            raise Unsupported("np.fmod of two int32 values is not supported: use math.fmod (float32) or %")
        opcode = UNARY.get(callee) or BINARY[callee]
        return self.float_op(opcode, [self.to_type(v, "f32") for v in values])

    def math_argument(self, node: ast.expr, name: str, on_slices: bool = False) -> Val:
        """A number for a math function; a slice gets the rule for math on slices (`on_slices`: the function
        applies to slices element by element, so only the place of the call is wrong)."""
        value = self.expr(node)
        if isinstance(value, SliceRef) and on_slices:
            raise Unsupported(f"{name}() of a slice gives a slice, and slices compute only in an assignment to a "
                              f"slice: write dst[0:n] = {name}(src[0:n]) (one vmath), then sum(), min() or max() of "
                              f"dst[0:n] where a number is meant", node)
        if isinstance(value, SliceRef):
            instead = _SLICE_FORMS.get(name)
            raise Unsupported(f"{name}() of a slice: {name}() takes numbers (it gives an int or a tuple, or takes two "
                              f"arguments); on slices, in a slice assignment, only the float32 math functions of one "
                              f"argument apply element by element (dst[0:n] = np.exp(src[0:n]))"
                              + (f": write {instead}, which gives float32 values" if instead else
                                 ": write an element loop"), node)
        if not isinstance(value, Val):
            raise Unsupported(f"{name}() takes numbers, not {describe(value)}", node)
        return value

    def rounded(self, args) -> Val:
        """round(x): an int, halves to even, as Python's; round(x, ndigits) is refused."""
        if len(args) != 1:
            raise Unsupported("round(x, ndigits) is not supported in a kernel: round(x) gives an int")
        return self.rounded_to_int(round, self.math_argument(args[0], "round"))

    def operator_call(self, callee, node: ast.Call) -> Val:
        """operator.add(a, b) and the like: exactly the operator applied to the arguments."""
        args, name = node.args, callee.__name__
        def located(new: ast.expr) -> ast.expr:
            return ast.copy_location(new, node)
        if callee is pow:  # the builtin pow(x, y) is x ** y (operator.pow); its modular form has no int32 meaning
            if len(args) == 3:
                raise Unsupported("pow(x, y, mod) is not supported in a kernel (Python computes x ** y exactly, "
                                  "then the remainder, where int32 arithmetic would wrap): write an int32 loop of "
                                  "multiplications, each followed by % mod")
            if len(args) != 2:
                raise Unsupported("pow() takes two numbers in a kernel: pow(x, y) is x ** y")
            callee = operator.pow
        if callee in OPERATOR_BINARY or callee in OPERATOR_COMPARE:
            if len(args) != 2:
                raise Unsupported(f"operator.{name}() takes two numbers")
            if callee in OPERATOR_BINARY:
                return self.expr(located(ast.BinOp(left=args[0], op=OPERATOR_BINARY[callee](), right=args[1])))
            return self.expr(located(ast.Compare(left=args[0], ops=[OPERATOR_COMPARE[callee]()],
                                                 comparators=[args[1]])))
        if len(args) != 1:
            raise Unsupported(f"operator.{name}() takes one number")
        if callee is operator.abs:
            return self.expr(located(ast.Call(func=ast.Name(id="abs", ctx=ast.Load()), args=args, keywords=[])))
        return self.expr(located(ast.UnaryOp(op=OPERATOR_UNARY[callee](), operand=args[0])))

    def float_op(self, opcode: str, values: list[Val]) -> Val:
        """`opcode` on float32 values, folded when they are all constants."""
        if all(v.is_const for v in values):
            return self.const(fold_float32(opcode, *(v.const for v in values)))
        registers = [self.reg_of(v) for v in values]
        return self.result(opcode, "f32", a=registers[0], **({"b": registers[1]} if len(registers) > 1 else {}))

    def rounded_to_int(self, callee, value: Val) -> Val:
        """math.floor/ceil/trunc and round: an int as in Python (an int32 argument is returned as it is); a float32 one is
        rounded, then converted (saturating at the int32 limits; nan gives 0, where Python raises)."""
        if value.ty == "i32":
            return value
        if value.is_const and not (value.held and not (math.isfinite(value.const)
                                                       and fits_int32(callee(value.const)))):
            # (a variable's constant beyond int32, `held`, converts as at run time, saturating: `to_int`)
            if not math.isfinite(value.const):
                raise Unsupported(f"{callee.__name__}({value.const}) has no int value")
            return self.const(callee(value.const))
        rounded = self.result(TO_INT[callee], "f32", a=self.reg_of(value))
        return self.result("ftoi", "i32", a=rounded.reg)

    def float_predicate(self, callee, value: Val) -> Val:
        """isnan(x): x != x; isinf(x): |x| == inf; isfinite(x): |x| < inf (false for nan). An int32 is never
        nan or infinite."""
        kind = callee.__name__
        if value.ty == "i32" or value.is_const:
            x = float(value.const) if value.is_const else 0.0
            return self.const({"isnan": math.isnan, "isinf": math.isinf, "isfinite": math.isfinite}[kind](x))
        if kind == "isnan":
            return self.result("fne", "i32", a=value.reg, b=value.reg)
        magnitude = self.result("fabs", "f32", a=value.reg)
        infinity = self.reg_of(Val("f32", const=math.inf))
        return self.result("feq" if kind == "isinf" else "flt", "i32", a=magnitude.reg, b=infinity)

    # ------------------------------------------------------------------ min and max of numbers
    def min_max(self, callee, args) -> Val:
        if len(args) < 2:
            raise Unsupported(f"{callee.__name__}() needs at least two values in a kernel")
        values = [self.scalar(a) for a in args]
        result = values[0]
        for v in values[1:]:
            result = self.min_max_pair(callee, result, v)
        return result

    def min_max_pair(self, callee, a: Val, b: Val) -> Val:
        """Python's `max(a, b)`: b if b > a else a (`min`: b if b < a else a). For float32 in general a
        compare and a `sel`: the machine's `fmax`/`fmin` (NumPy's maximum/minimum) propagate a nan from
        either operand, where Python keeps `a` when the comparison with a nan is false. Where `b` cannot be
        a nan (a constant that is not one, an int32) they agree with the operands swapped: `fmax(b, a)` is
        a nan only for a nan `a`, is `b` only where b > a, and of two equal zeros gives its second operand,
        `a`, as Python keeps the first; so one instruction."""
        ty = "f32" if "f32" in (a.ty, b.ty) else "i32"
        x, y = self.to_type(a, ty), self.to_type(b, ty)
        if x.is_const and y.is_const:
            chosen = y if (y.const > x.const if callee is max else y.const < x.const) else x
            # (the chosen object, its type with it)
            return Val(ty, const=chosen.const, wraps=chosen.wraps, int64=chosen.int64, held=chosen.held)
        if ty == "i32":
            chosen = self.result(callee.__name__, ty, a=self.reg_of(x), b=self.reg_of(y))
            chosen.int64 = a.int64 or b.int64  # (the chosen object's type: it may be an np.int64)
            return chosen
        if b.ty == "i32" or (b.is_const and b.const == b.const):
            return self.result(_FLOAT_MIN_MAX[callee], "f32", a=self.reg_of(y), b=self.reg_of(x))
        takes_b = self.result("flt", "i32", a=self.reg_of(x), b=self.reg_of(y)) if callee is max else \
            self.result("flt", "i32", a=self.reg_of(y), b=self.reg_of(x))
        return self.result("sel", "f32", a=takes_b.reg, b=self.reg_of(y), c=self.reg_of(x))

    def if_exp(self, node: ast.IfExp):
        fused = self.nan_propagating_min_max(node)
        if fused is None:
            fused = self.selected(node)
        return fused if fused is not None else super().if_exp(node)

    def selected(self, node: ast.IfExp) -> Val | None:
        """`a if c else b` whose branches are variables or constants (`_plain_operand`) and c known only at run
        time: one `sel` instead of a branch (Python evaluates only the branch it picks, but evaluating a plain
        operand has no effect and cannot fail, so evaluating both chooses the same). None otherwise."""
        if not (_plain_operand(node.body) and _plain_operand(node.orelse)) or self.has_slice(node.body) \
                or self.has_slice(node.orelse):
            return None
        cond = self.truth(self.scalar(node.test))
        if cond.is_const:  # only the branch that runs is compiled, by the general path (given c: no repeat)
            return super().if_exp(node, cond)
        first, second = self.expr(node.body), self.expr(node.orelse)
        if not (isinstance(first, Val) and isinstance(second, Val)):  # (tuples: the general path)
            return super().if_exp(node, cond)
        ty = "f32" if "f32" in (first.ty, second.ty) else "i32"
        first, second = self.to_type(first, ty), self.to_type(second, ty)
        chosen = self.result("sel", ty, a=cond.reg, b=self.reg_of(first), c=self.reg_of(second))
        chosen.int64 = ty == "i32" and (first.int64 or second.int64)  # (NumPy's type is the chosen one's)
        return chosen

    def nan_propagating_min_max(self, node: ast.IfExp) -> Val | None:
        """`b if b != b else max(a, b)` (the test may be `math.isnan(b)` or `np.isnan(b)`; `min` likewise):
        a maximum that propagates a nan from either side, as the collectives' combine is written, compiled
        to one `fmax(b, a)`, which gives b for a nan b and otherwise Python's max(a, b) (`min_max_pair`).
        Only where b is a float32 variable and a a variable or a constant (`_plain_operand`), so that
        evaluating a whatever b holds changes nothing; None for any other conditional expression (compiled
        as written)."""
        test, body, orelse = node.test, node.body, node.orelse
        if not (isinstance(body, ast.Name) and isinstance(orelse, ast.Call) and len(orelse.args) == 2
                and not orelse.keywords and isinstance(orelse.args[1], ast.Name) and orelse.args[1].id == body.id
                and _plain_operand(orelse.args[0])):
            return None
        is_nan_test = (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.NotEq)
                       and _is_name(test.left, body.id) and _is_name(test.comparators[0], body.id)) or \
                      (isinstance(test, ast.Call) and len(test.args) == 1 and not test.keywords
                       and _is_name(test.args[0], body.id) and self.static(test.func) in (math.isnan, np.isnan))
        if not is_nan_test:
            return None
        callee = self.static(orelse.func)
        if callee not in (min, max):
            return None
        a, b = self.expr(orelse.args[0]), self.expr(body)
        if not (isinstance(a, Val) and isinstance(b, Val)) or b.ty != "f32" or b.is_const:
            return None
        return self.result(_FLOAT_MIN_MAX[callee], "f32", a=self.reg_of(b), b=self.reg_of(self.to_type(a, "f32")))


#: The machine's float32 minimum and maximum (NumPy's np.minimum / np.maximum: a nan operand wins, the first
#: of two; of two equal zeros, the second operand).
_FLOAT_MIN_MAX = {min: "fmin", max: "fmax"}


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _plain_operand(node: ast.expr) -> bool:
    """A variable, a constant (`-0.0`, `math.inf`) or a special register: evaluating it has no effect and
    cannot fail at run time, so it may be evaluated where Python would not have."""
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, (ast.Name, ast.Constant))
