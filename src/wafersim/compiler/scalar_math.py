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

import numpy as np

from .expressions import ExpressionLowering
from .values import Unsupported, Val, fold_float32

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
    np.fabs: "fabs",
}
#: float32 functions of two arguments.
BINARY = {
    math.pow: "fpow", np.power: "fpow", math.atan2: "fatan2", np.arctan2: "fatan2", math.hypot: "fhypot",
    np.hypot: "fhypot", math.copysign: "fcopysign", np.copysign: "fcopysign", math.fmod: "ffmod",
    np.fmod: "ffmod", np.floor_divide: "ffloordiv", np.remainder: "fpymod",
}
#: Python's math.floor/ceil/trunc return an int: the float32 function, then a conversion to int32.
TO_INT = {math.floor: "ffloor", math.ceil: "fceil", math.trunc: "ftrunc"}
PREDICATES = (math.isnan, np.isnan, math.isinf, np.isinf, math.isfinite, np.isfinite)
#: NumPy functions that keep int32 arguments int32 (np.power(2, 3) is 8): they lower as the operators.
_INT_OPERATORS = {np.power: "**", np.floor_divide: "//", np.remainder: "%"}

MATH_FUNCTIONS = frozenset(UNARY) | frozenset(BINARY) | frozenset(TO_INT) | frozenset(PREDICATES)


class MathLowering(ExpressionLowering):
    def math_call(self, callee, args) -> Val:
        """A call of one of `MATH_FUNCTIONS` on numbers."""
        name = getattr(callee, "__name__", str(callee))
        if callee in UNARY or callee in TO_INT or callee in PREDICATES:
            if len(args) != 1:
                raise Unsupported(f"{name}() takes one number in a kernel")
        elif len(args) != 2:
            raise Unsupported(f"{name}() takes two numbers in a kernel")
        values = [self.scalar(a) for a in args]
        if callee in PREDICATES:
            return self.float_predicate(callee, values[0])
        if callee in TO_INT:
            return self.rounded_to_int(callee, values[0])
        if callee in _INT_OPERATORS and all(v.ty == "i32" for v in values):
            op = {"**": ast.Pow(), "//": ast.FloorDiv(), "%": ast.Mod()}[_INT_OPERATORS[callee]]
            return self.arith(op, values[0], values[1])
        if callee is np.fmod and all(v.ty == "i32" for v in values):
            raise Unsupported("np.fmod of two int32 values is not supported: use math.fmod (float32) or %")
        opcode = UNARY.get(callee) or BINARY[callee]
        return self.float_op(opcode, [self.to_type(v, "f32") for v in values])

    def float_op(self, opcode: str, values: list[Val]) -> Val:
        """`opcode` on float32 values, folded when they are all constants."""
        if all(v.is_const for v in values):
            return self.const(fold_float32(opcode, *(v.const for v in values)))
        registers = [self.reg_of(v) for v in values]
        return self.result(opcode, "f32", a=registers[0], **({"b": registers[1]} if len(registers) > 1 else {}))

    def rounded_to_int(self, callee, value: Val) -> Val:
        """math.floor/ceil/trunc: an int as in Python (an int32 argument is returned as it is); a float32 one is
        rounded, then converted (saturating at the int32 limits; nan gives 0, where Python raises)."""
        if value.ty == "i32":
            return value
        if value.is_const:
            if not math.isfinite(value.const):
                raise Unsupported(f"{callee.__name__}({value.const}) has no int value")
            return self.const(callee(value.const))
        rounded = self.result(TO_INT[callee], "f32", a=value.reg)
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
