"""Python's integer arithmetic on compile-time constants, and NumPy's int32 arithmetic on np.int32 ones
(docs/python-supported.md, "Values and types": constant expressions are folded as Python ints, and a result
outside int32 is a CompileError; with np.int32 operands they wrap as NumPy does)."""
from __future__ import annotations

import ast
from typing import Callable

import numpy as np

from .values import NOT_STATIC, fits_int32, wrap_int32

_INT_FOLDS = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
              ast.FloorDiv: lambda x, y: x // y, ast.Mod: lambda x, y: x % y, ast.BitAnd: lambda x, y: x & y,
              ast.BitOr: lambda x, y: x | y, ast.BitXor: lambda x, y: x ^ y, ast.RShift: lambda x, y: x >> y}
_NOT_MODULAR = (ast.FloorDiv, ast.Mod, ast.RShift)
_HUGE_EXPONENT = 64  # beyond this, a power or shift of an integer other than 0, 1, -1 cannot fit in int32
#: Nested powers of a written-out tree (`((2**64)**64)**64)**64`) each pass _HUGE_EXPONENT but grow without
#: bound: a result beyond this many bits is not computed (a CompileError, not a compiler that hangs).
_HUGE_BITS = 2**24


def exact_int(op: ast.operator, x: int, y: int) -> int | float | None:
    """Python's value of `x op y` on ints; None when it is certainly far outside int32 (not computed, since
    2 ** 10 ** 9 would take the compiler's memory)."""
    if isinstance(op, ast.Pow):
        if y < 0:
            return x ** y  # a float, as in Python (ZeroDivisionError for 0 ** -1)
        return x ** y if abs(x) <= 1 or (y <= _HUGE_EXPONENT and x.bit_length() * y <= _HUGE_BITS) else None
    if isinstance(op, ast.LShift):
        if y < 0:
            raise ValueError("negative shift count")
        return x << y if x == 0 or (y <= _HUGE_EXPONENT and x.bit_length() + y <= _HUGE_BITS) else None
    return _INT_FOLDS[type(op)](x, y)


def shown_int(value: int) -> str:
    """`value` for an error message: its digits, or its size where they would be too many to read (str() of an
    int over 4300 digits raises ValueError)."""
    if value.bit_length() <= 128:
        return str(value)
    return f"{'-' if value < 0 else ''}a number of {value.bit_length()} bits"


def wrapped_int(op: ast.operator, x: int, y: int) -> int:
    """`x op y` in int32 arithmetic with wrap-around, as NumPy computes it on np.int32 values."""
    if isinstance(op, ast.Pow) and y >= 0:
        return wrap_int32(pow(x, y, 2**32))
    if isinstance(op, ast.LShift) and y >= 32:
        return 0
    value = exact_int(op, x, y)
    if isinstance(value, float):
        raise TypeError("a negative power of an int32")
    return wrap_int32(value)


def typed_int(op: ast.operator, x: int, y: int, wraps: bool, int64: bool) -> int | float | None:
    """`x op y` as NumPy computes it for its operands' types: with an np.int64 exactly (NumPy promotes an
    np.int32 beside it to int64; a negative power raises ValueError, as NumPy refuses it), else with an
    np.int32 (`wraps`) in int32 with wrap-around, else as Python's ints (`exact_int`)."""
    if wraps and not int64:
        return wrapped_int(op, x, y)
    value = exact_int(op, x, y)
    if int64 and isinstance(value, float):
        raise ValueError("NumPy refuses an integer to a negative integer power")
    return value


def exact_int_tree(node: ast.expr, leaf: Callable[[ast.expr], int | None]) -> int | None:
    """Python's value of a tree of int operators (`-2**31`, `2**31 - 1`, `(1 << 31) - 1`) whose leaves are all
    Python int constants (`leaf` gives a leaf's int, or None), computed exactly as Python does, so that only
    the value that reaches the kernel must fit in int32, not each step; None where any leaf is not such a
    constant, where a step beyond int32 meets `//`, `%` or `>>` (int32 arithmetic would give another value:
    `2**30 * 2 // 2`), or where Python would not give an int (`2 ** -1`, `1 // 0`, a negative shift)."""
    if isinstance(node, ast.BinOp) and (type(node.op) in _INT_FOLDS or isinstance(node.op, (ast.Pow, ast.LShift))):
        x = exact_int_tree(node.left, leaf)
        y = None if x is None else exact_int_tree(node.right, leaf)  # (stops at the first leaf that is not one)
        if y is None:
            return None
        if (isinstance(node.op, _NOT_MODULAR) and not (fits_int32(x) and fits_int32(y))) \
                or (isinstance(node.op, (ast.Pow, ast.LShift)) and not fits_int32(y)):
            # int32 arithmetic wraps, and wrapping commutes with + - * ** << & | ^ ~: through those, a step
            # beyond int32 ends at Python's value wherever that fits, the kernel's value at run time too. Not
            # through // % >>: refused by the step's fold ("does not fit in int32"), as Python and int32 differ
            return None
        try:
            value = exact_int(node.op, x, y)
        except (ZeroDivisionError, ValueError):
            return None
        return value if type(value) is int else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)):
        x = exact_int_tree(node.operand, leaf)
        if x is None:
            return None
        return -x if isinstance(node.op, ast.USub) else x if isinstance(node.op, ast.UAdd) else ~x
    return leaf(node)


#: The operators of int constants folded when compiling (`LoweringCore.static`), as the lowered expression folds
#: them: Python ints exactly, np.int32 ones wrapping as NumPy's, np.int64 ones exactly within 64 bits.
STATIC_INT_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift,
                  ast.RShift, ast.Pow)


def _fits_int64(value: int) -> bool:
    """Whether NumPy's int64 holds `value` (beyond, its arithmetic wraps: not folded as the exact int)."""
    return -2**63 <= value < 2**63


def fold_typed_int(op: ast.operator, left, right):
    """`left op right` of two compile-time ints, each a Python int, an np.int32 or an np.int64, as NumPy computes
    it and as the lowered expression folds it (`Val.wraps`, `Val.int64`), so that an index or a shape names what
    the value is (`buf[(W + 1) // 2**30]` with `W = np.int32(2**31 - 1)` is buf[-2]): with an np.int64 exactly,
    an np.int64 (NumPy promotes an np.int32 beside it to int64); else with an np.int32 wrapping, an np.int32;
    Python ints exactly, a bool as the int it equals (`True + True` is 2; `True & False` of two Python bools is
    Python's bool, which a tuple takes as an index or a count as the int it equals, `T[K & K]`, and a shape
    refuses, as NumPy does). NOT_STATIC where the lowered expression refuses it or NumPy would not give that int
    (another NumPy integer type, computed in its own width; a negative power; an int64 overflow)."""
    if any(isinstance(v, np.integer) and not isinstance(v, (np.int32, np.int64)) for v in (left, right)):
        return NOT_STATIC
    int64 = any(isinstance(v, np.int64) for v in (left, right))
    wraps = not int64 and any(isinstance(v, np.int32) for v in (left, right))
    left, right = (int(v) if isinstance(v, np.integer) else v for v in (left, right))
    if not (isinstance(left, int) and isinstance(right, int)) \
            or (wraps and not (fits_int32(left) and fits_int32(right))):  # (refused when lowered)
        return NOT_STATIC
    try:  # (as the lowered expression folds: `i = ~2` or `1 << 3` as an index, a shape)
        value = typed_int(op, left, right, wraps, int64)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError):
        return NOT_STATIC
    if type(value) is bool and type(left) is bool and type(right) is bool:
        return value  # (`&`, `|`, `^` of two bools: a bool, as in Python)
    if type(value) is not int or (int64 and not _fits_int64(value)):
        return NOT_STATIC  # (a negative power's float; None far beyond int32; NumPy's int64 wraps)
    return np.int32(value) if wraps else np.int64(value) if int64 else value


def fold_typed_unary(op: ast.unaryop, value):
    """`-value`, `+value` or `~value` of a compile-time number as NumPy computes it (-np.int32(-2**31) wraps to
    itself; `+True` is the int 1, as in Python); NOT_STATIC for anything else."""
    if isinstance(op, ast.UAdd):
        if isinstance(value, (bool, np.bool_)):
            return int(value) if isinstance(value, bool) else NOT_STATIC
        return value if isinstance(value, (int, float, np.int32, np.int64)) else NOT_STATIC
    if isinstance(value, np.int32):
        return np.int32(wrap_int32(-int(value)) if isinstance(op, ast.USub) else ~int(value))
    if isinstance(value, np.int64):
        result = -int(value) if isinstance(op, ast.USub) else ~int(value)
        return np.int64(result) if _fits_int64(result) else NOT_STATIC
    if isinstance(op, ast.USub):
        return -value if isinstance(value, (int, float)) else NOT_STATIC
    return ~value if isinstance(value, int) else NOT_STATIC
