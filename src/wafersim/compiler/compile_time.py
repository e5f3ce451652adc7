"""Compile-time evaluation of names: the Python object a name, attribute chain or constant expression
denotes when compiling (`static`), which variables are assigned once from constants (`assigned_constant`),
and which names a function makes local (`local_names`). A part of `LoweringCore` (compiler/core.py)."""
from __future__ import annotations

import ast
import builtins
import math
import types

import numpy as np

from ..arch.values import is_integer
from ..errors import did_you_mean
from . import cuda_names
from . import intrinsics as wsi
from .int_folding import STATIC_INT_OPS, fold_typed_int, fold_typed_unary
from .values import KERNEL_OBJECTS, NOT_STATIC, GlobalArray, LocalArray, Tup, Unsupported, Val, fits_int32, to_float32

#: The key under which `assigned_constant`'s cache keeps the parameters a function never assigns.
_FIXED_PARAMETERS = " parameters"

#: The conversions of an int constant that fold to it when compiling (`static`): a kernel's int is an int32.
_STATIC_INT_CONVERSIONS = (int, np.int32)

#: The roundings to an int that fold when compiling, as `MathLowering.rounded_to_int` folds them (`T[round(2.5)]`).
_STATIC_ROUNDINGS = (round, math.floor, math.ceil, math.trunc)


def static_constant(value: Val):
    """The Python object a constant `Val` stands for when compiling (`static`): an np.int64's as an np.int64 (exact,
    also with an np.int32), an np.int32's as an np.int32 (it wraps), except a parameter's (`held`: the int it was
    bound to), anything else as its number."""
    if value.int64:
        return np.int64(value.const)
    return np.int32(value.const) if value.wraps and not value.held else value.const


def static_tuple_arith(op: ast.operator, left, right):
    """`left + right` of two compile-time tuples, `t * n` or `n * t` of one and a compile-time int (a bool as
    the int it equals), as Python computes them; else NOT_STATIC (lowering says why)."""
    if isinstance(op, ast.Add) and isinstance(left, tuple) and isinstance(right, tuple):
        return left + right
    if isinstance(op, ast.Mult) and isinstance(left, tuple) != isinstance(right, tuple):
        tup, count = (left, right) if isinstance(left, tuple) else (right, left)
        copies = repeat_count(count, len(tup))
        if copies is not None:
            return tup * copies
    return NOT_STATIC


#: The most items a tuple repeated by `*` may have: a kernel's tuple is unrolled into registers and instructions
#: when compiling (Python's `(1, 2) * (2**31 - 1)` is a MemoryError, which the compiler raised bare).
MAX_TUPLE_ITEMS = 2**20


def repeat_count(value, length: int) -> int | None:
    """How many copies `t * value` of a tuple of `length` items makes, `value` known when compiling: an int, a NumPy
    integer or a Python bool as the int it equals, none for a count <= 0; None for anything else. An np.bool_ is
    refused, as Python refuses it (NumPy's bool has no `__index__`: `(1, 2) * np.True_` raises TypeError), and so is
    a tuple of more than MAX_TUPLE_ITEMS items."""
    if isinstance(value, np.bool_):
        raise Unsupported(f"a tuple cannot be repeated by a NumPy bool ({value!r}): Python refuses it (can't multiply "
                          f"sequence by non-int of type 'numpy.bool'); convert it with int(...) or bool(...)")
    count = tuple_index(value)  # (an int as Python takes it where it counts or indexes a tuple)
    if count is None:
        return None
    copies = max(count, 0)
    if length * copies > MAX_TUPLE_ITEMS:
        raise Unsupported(f"a tuple of {length} items repeated {copies} times has {length * copies} items, more "
                          f"than the {MAX_TUPLE_ITEMS} a kernel's tuple may have (its items are unrolled when "
                          f"compiling): use a local array (ws.local.array) and a loop")
    return copies


def constant_tuple(value: Tup) -> tuple | None:
    """The Python tuple a `Tup` of compile-time constants stands for (numbers, strings, nested tuples), or
    None when an item is a kernel value (a register, an array). An np.int32 item stays one (`static_constant`):
    `t = (W, 1)` of `W = np.int32(2**31 - 1)`, then `T[(t[0] + 1) // 2**30]` is `T[-2]`, as the value
    `(t[0] + 1) // 2**30` is -2 (NumPy's wrap), where the item's Python int made it T[2]."""
    items = []
    for item in value.items:
        if isinstance(item, Val):
            if not item.is_const:
                return None
            items.append(static_constant(item))
        elif isinstance(item, Tup):
            inner = constant_tuple(item)
            if inner is None:
                return None
            items.append(inner)
        elif isinstance(item, KERNEL_OBJECTS):
            return None
        else:
            items.append(item)
    return tuple(items)


def tuple_index(value) -> int | None:
    """The int a compile-time value indexes a tuple with, as Python takes it: an int, a NumPy integer, or a
    Python bool as the int it equals (`T[True]` is `T[1]`); else None (an np.bool_ too, which Python refuses)."""
    return int(value) if is_integer(value) or isinstance(value, bool) else None


#: Comparisons folded when compiling between int32 constants: Python's result, as the kernel's int32 compare.
_STATIC_COMPARISONS = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
                       ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b}


def _static_int32(value) -> bool:
    """A Python int or bool, or an np.int32, within int32: compared as the kernel compares int32 values (not
    a float, compared as float32; an int beyond int32, refused as a value; an np.int64, NumPy's)."""
    return (type(value) in (int, bool) or isinstance(value, np.int32)) and fits_int32(int(value))


def _static_int_or_bool(value) -> bool:
    """An int constant (Python's or NumPy's) or a Python bool, which Python's abs, min and max take as the int it
    equals (an np.bool_ is refused where it is read: `python_value`)."""
    return is_integer(value) or isinstance(value, bool)


def _static_rounding(func, operands: list):
    """round(x), math.floor/ceil/trunc(x) of a compile-time number: the int the lowered call folds to
    (`MathLowering.rounded_to_int`): an int as it is (a bool as the int it equals), a float rounded as its float32
    (`round(2.5)` is 2, halves to even), else NOT_STATIC (nan, an infinity, a result beyond int32, two arguments:
    the lowered call says what it does with them)."""
    if len(operands) != 1:
        return NOT_STATIC
    value = operands[0]
    if type(value) is bool:
        return int(value)
    if is_integer(value):
        return value
    if isinstance(value, (float, np.floating)):
        value = to_float32(value)
        if math.isfinite(value) and fits_int32(func(value)):
            return func(value)
    return NOT_STATIC


class CompileTimeNames:
    """`LoweringCore`'s compile-time view of names (it holds the state these read: scopes through `lookup`,
    `globals`, `source`, `defined` and the caches `local_names_cache`, `single_assignments`, `resolving`)."""

    def python_value(self, value):
        """A compile-time Python object as a kernel value: numbers become constants, tuples `Tup`s."""
        if isinstance(value, np.bool_):  # (NumPy adds two as booleans: np.True_ + np.True_ is True, not 2)
            raise Unsupported(f"a NumPy bool constant ({value!r}) cannot be used in a kernel: NumPy computes with it "
                              f"as a boolean (np.True_ + np.True_ is True), where a kernel's bool is Python's, an int; "
                              f"convert it where it is defined, with bool(...)")
        if isinstance(value, (bool, int, float, np.number)):
            return self.const(value)
        if isinstance(value, tuple):
            return Tup(tuple(self.python_value(item) for item in value))
        return value

    def known_int32(self, node: ast.expr) -> int | None:
        """The int32 a name holds when compiling though its register is a variable's (`last = -1`, a name
        assigned once from constants: `assigned_constant`), else None. Such a name indexes, and binds a device
        function's parameter, as the number does (`a[last]` counts from the end as `a[-1]` does)."""
        if not isinstance(node, ast.Name):
            return None
        try:
            known = self.static_int(node)
        except Unsupported:
            return None
        return known if known is not None and fits_int32(known) else None

    def static_int(self, node: ast.expr) -> int | None:
        """The int `node` denotes when compiling (`static`), a NumPy integer as the int it equals (`T[np.int32(1)]`
        is `T[1]`, an np.int32 slice step or `enumerate` start serves as an int does), else None (a bool too)."""
        value = self.static(node)
        return int(value) if is_integer(value) else None

    def static_tuple_index(self, node: ast.expr) -> int | None:
        """A tuple index or slice bound known when compiling, as Python takes it: an int, a NumPy integer or a
        bool as the int it equals (`T[True]` is `T[1]`), else None."""
        return tuple_index(self.static(node))

    def static(self, node: ast.expr):
        """The Python object a name or attribute chain denotes at compile time, or NOT_STATIC."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            try:
                value = self.lookup(node.id)
            except KeyError:
                pass
            else:
                if isinstance(value, Val) and value.is_const:
                    return static_constant(value)
                if isinstance(value, Tup) and constant_tuple(value) is not None:
                    return constant_tuple(value)
                if isinstance(value, Val):  # (only where the variable is assigned on every path, as Python reads it)
                    defined = self.defined is None or node.id in self.defined
                    return self.assigned_constant(node.id) if defined else NOT_STATIC
                return NOT_STATIC if isinstance(value, KERNEL_OBJECTS) else value
            if node.id in self.local_names():
                # Python makes a name assigned anywhere in a function local to all of it: read before its
                # assignment it is never the global (or builtin) of that name, but an UnboundLocalError
                # (in a loop, the value an earlier trip assigned, which the compiler does not carry).
                kind = "global" if node.id in self.globals else "builtin" if hasattr(builtins, node.id) else None
                raise Unsupported(f"variable {node.id!r} may be used before assignment: it is assigned later in "
                                  f"this function, which makes it a local variable throughout the function, as in "
                                  f"Python{f' (not the {kind} {node.id!r})' if kind else ''}; assign it before "
                                  f"this line (and before a loop that reads it), or name the local otherwise")
            if node.id in self.globals:
                return self.globals[node.id]
            if hasattr(builtins, node.id):
                return getattr(builtins, node.id)
            raise Unsupported(f"unknown name {node.id!r}"
                              + did_you_mean(node.id, [*self.globals, *self.local_names(), *dir(builtins)]))
        if isinstance(node, ast.Attribute):
            dimensions = self.array_dimensions(node.value)
            if dimensions is not None and node.attr in ("size", "ndim"):
                # a local array's size and any array's ndim are constants (docs/python-supported.md), so a shape
                # too: `ws.local.array(a.size, a.dtype)`
                if node.attr == "ndim":
                    return len(dimensions)
                if all(is_integer(n) for n in dimensions):
                    return int(np.prod(dimensions))
            base = self.static(node.value)
            if base is NOT_STATIC or isinstance(base, (wsi.Dim,)):
                return NOT_STATIC
            if isinstance(base, (types.ModuleType, type)) or base is wsi.local or isinstance(base, wsi._Local):
                if cuda_names.is_numba_cuda(base):  # `cuda.grid(1)` left in by a port from Numba
                    raise Unsupported(cuda_names.numba_cuda_message(node.attr))
                if not hasattr(base, node.attr):
                    name = getattr(base, '__name__', base)
                    if name == "wafersim.compiler.cg":  # (`ws.cg`, by the name a kernel writes)
                        raise Unsupported(f"ws.cg has no attribute {node.attr!r}" + cuda_names.cg_hint(node.attr))
                    raise Unsupported(f"{name!r} has no attribute {node.attr!r}"  # (a CUDA name's hint, or a near miss)
                                      + ((cuda_names.hint(node.attr) if name == "wafersim" else "")
                                         or did_you_mean(node.attr, dir(base))))
                return getattr(base, node.attr)
            return NOT_STATIC
        if isinstance(node, ast.Tuple):
            items = tuple(self.static(e) for e in node.elts)
            return NOT_STATIC if any(i is NOT_STATIC for i in items) else items
        if isinstance(node, ast.BinOp) and self.is_tuple(node):  # len(T + T), T[1:] + T[:1]
            return static_tuple_arith(node.op, self.static(node.left), self.static(node.right))
        if isinstance(node, ast.BinOp) and type(node.op) in STATIC_INT_OPS:  # e.g. a local array of T * T
            left, right = self.static_operand(node.left), self.static_operand(node.right)
            if not (isinstance(left, bool) and isinstance(right, bool)):  # (two bools cannot leave int32)
                # a Python int or bool computed from a variable is an int32 register's value too: `v = True;
                # (v + 2**31 - 1) // 2**30` and `(abs(v) + 2**31 - 1) // 2**30` are -2, T[-2]
                left, right = (np.int32(value) if type(value) in (int, bool) and fits_int32(value)
                               and self.reads_variable(side) else value
                               for side, value in ((node.left, left), (node.right, right)))
            return fold_typed_int(node.op, left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)):
            return fold_typed_unary(node.op, self.static_operand(node.operand))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            # `not` of an int or a bool is Python's bool, as the kernel computes it (`int(not 0)` is 1); not of a
            # float (whose float32 may be 0 where Python's is not) nor of anything else
            value = self.static(node.operand)
            return (not value) if type(value) in (int, bool) or isinstance(value, (np.int32, np.int64)) \
                else NOT_STATIC
        if isinstance(node, ast.Compare) and all(type(op) in _STATIC_COMPARISONS for op in node.ops):
            # `direction == ws.WEST` of int32 constants (a ws.constant parameter, a module constant): Python's bool
            # (a chain: every link holds), as the kernel's int32 comparisons give it; anything else is lowered
            values = [self.static_operand(n) for n in (node.left, *node.comparators)]
            if not all(_static_int32(v) for v in values):
                return NOT_STATIC
            return all(_STATIC_COMPARISONS[type(op)](int(a), int(b)) for op, a, b in zip(node.ops, values, values[1:]))
        if isinstance(node, ast.IfExp):
            # with a condition known when compiling, its chosen branch, as lowering compiles only that branch: a
            # variable assigned once from `ws.EAST if direction == ws.WEST else ws.WEST` is a direction
            test = self.static(node.test)
            return self.static(node.body if test else node.orelse) if type(test) is bool else NOT_STATIC
        if isinstance(node, ast.Call) and node.args and not node.keywords:
            folded = self.static_builtin(node)
            if folded is not NOT_STATIC:
                return folded
        if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
            # `int(-3)`, `np.int32(-3)` of an int constant: that int (it was a run-time value, so `b = np.int32(-3)`
            # then `a[b]` was an out-of-bounds index where `b = -3` counts from the end, as Python does both)
            try:
                func, value = self.static(node.func), self.static_operand(node.args[0])
            except Unsupported:
                return NOT_STATIC  # (an unknown name: lowering the expression says so)
            if not any(func is f for f in _STATIC_INT_CONVERSIONS):
                return NOT_STATIC
            # int() of a variable's value is the int32 its register holds, whose arithmetic wraps (`to_int`):
            # `x = 2**31 - 1; (int(x) + 1) // 2**30` is -2, and indexed T[2]; so is a device function's parameter's
            wraps = func is np.int32 or self.reads_variable(node.args[0])
            if type(value) is bool:  # `int(True)`, `np.int32(not 0)`: the int it equals, as T[True] is T[1]
                value = int(value)
            if isinstance(value, (float, np.floating)):
                # `np.int32(-3.0)`: the lowered conversion's constant (calls.to_int), the float32 the constant
                # is truncated toward zero (int(np.float32(16777217.0)) is 16777216, as the kernel computes it)
                value = to_float32(value)
                value = math.trunc(value) if math.isfinite(value) else None
            if is_integer(value) and fits_int32(int(value)):
                # (np.int32's stays an np.int32, so that arithmetic on it wraps as NumPy's and as the lowered
                # value's: `a = (np.int32(2**31 - 1) + 1) // 2**30` is -2 as an index or a shape, not 2)
                return np.int32(int(value)) if wraps else int(value)
            return NOT_STATIC
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, (ast.Slice, ast.Tuple)):
            base, index = self.static(node.value), self.static_tuple_index(node.slice)  # DIRECTIONS[0]
            shape = self.constant_shape(node.value)  # `a.shape[1]` of a local array
            if shape is not None:
                base = shape
            if isinstance(base, tuple) and index is not None and -len(base) <= index < len(base):
                return base[index]
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            base = self.static(node.value)  # STEPS[1:]
            if isinstance(base, tuple):
                return base[self.tuple_slice(node.slice)]
        return NOT_STATIC

    def array_dimensions(self, node: ast.expr) -> tuple | None:
        """The dimensions of the array a name denotes: ints for a local array, the argument's registers for an
        array argument (only their number is known when compiling); None for anything else."""
        if not isinstance(node, ast.Name):
            return None
        value = self.lookup_or_none(node.id)
        return value.shape if isinstance(value, (LocalArray, GlobalArray)) else None

    def constant_shape(self, node: ast.expr) -> tuple[int, ...] | None:
        """`a.shape` of a local array `a`: its dimensions, constants when compiling; None for anything else."""
        if not (isinstance(node, ast.Attribute) and node.attr == "shape"):
            return None
        dimensions = self.array_dimensions(node.value)
        if dimensions is None or not all(is_integer(n) for n in dimensions):
            return None
        return tuple(int(n) for n in dimensions)

    def is_tuple(self, node: ast.expr) -> bool:
        """Whether an expression denotes a tuple, seen without evaluating it: a tuple display, a tuple
        variable or constant, a slice of one (`t[1:]`, a tuple too, not a vector), a display's item that is one
        (`((1, 2), 3)[0]`), a concatenation or
        repetition of such (`t[1:] + t[:1]`, `t * 2`), or a conditional expression choosing between such."""
        if isinstance(node, ast.Tuple):
            return True
        if isinstance(node, ast.Name):
            return isinstance(self.lookup_or_none(node.id), Tup) or isinstance(self.static_or_none(node), tuple)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            return self.is_tuple(node.value)
        if isinstance(node, ast.Subscript):  # an item that is a tuple: of a display, of a slice or a concatenation
            # of one (`(v, (1, 2))[1:][0]`, `((1, 2),) + C)[0]`)
            shape, index = self.tuple_shape(node.value), self.static_tuple_index(node.slice)
            return (isinstance(shape, list) and index is not None and -len(shape) <= index < len(shape)
                    and shape[index] is not False)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            return self.is_tuple(node.left) or self.is_tuple(node.right)
        if isinstance(node, ast.IfExp):
            return self.is_tuple(node.body) or self.is_tuple(node.orelse)
        return False

    def tuple_shape(self, node: ast.expr):
        """Which items of the tuple `node` denotes are tuples, seen without evaluating it: a list with, per item,
        False (not a tuple), True (a tuple) or such a list (a tuple whose items are known so); None where `node`
        is no tuple whose items are known so (a display, a tuple variable or constant, a slice, an item, a
        concatenation or a repetition of those)."""
        if isinstance(node, ast.Tuple):
            if any(isinstance(item, ast.Starred) for item in node.elts):
                return None
            return [(self.tuple_shape(item) or True) if self.is_tuple(item) else False for item in node.elts]
        if isinstance(node, ast.Name):
            value = self.lookup_or_none(node.id)
            value = value if isinstance(value, Tup) else self.static_or_none(node)
            return _value_shape(value) if isinstance(value, (Tup, tuple)) else None
        if isinstance(node, ast.Subscript):
            shape = self.tuple_shape(node.value)
            if not isinstance(shape, list):
                return None
            if isinstance(node.slice, ast.Slice):
                return shape[self.tuple_slice(node.slice)]
            index = self.static_tuple_index(node.slice)
            item = shape[index] if index is not None and -len(shape) <= index < len(shape) else None
            return item if isinstance(item, list) else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.tuple_shape(node.left), self.tuple_shape(node.right)
            return left + right if isinstance(left, list) and isinstance(right, list) else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            for items, count in ((node.left, node.right), (node.right, node.left)):
                shape, times = self.tuple_shape(items), self.static_tuple_index(count)
                if isinstance(shape, list) and times is not None:
                    return shape * times
        return None

    def static_or_none(self, node: ast.expr):
        """static(), or None where the name is unknown or read before its assignment (lowering says so)."""
        try:
            return self.static(node)
        except Unsupported:
            return None

    def tuple_slice(self, part: ast.Slice) -> slice:
        """The Python slice `t[a:b:c]` of a tuple takes: its bounds must be known when compiling (a tuple's
        items are fixed when compiling), and are Python's (clamped to the tuple, negative ones from the end, a
        bool as the int it equals); a bound known only at run time, or a zero step, is refused."""
        bounds = []
        for bound in (part.lower, part.upper, part.step):
            value = None if bound is None else self.static(bound)  # (`t[None:]` is `t[:]`)
            index = tuple_index(value)
            if value is not None and index is None:
                raise Unsupported("a tuple slice's bounds and step must be int constants known when compiling "
                                  "(a tuple's length is fixed when the kernel is compiled)", bound)
            bounds.append(index)
        if bounds[2] == 0:
            raise Unsupported("slice step cannot be zero (Python raises ValueError)", part.step)
        return slice(*bounds)

    def static_builtin(self, node: ast.Call):
        """`len(T)`, `abs(n)`, `max(T)`, `min(a, b)` of compile-time ints (a shape `ws.local.array(max(LENGTHS), ...)`),
        `len(t)` of a tuple variable whose items are known only at run time:
        the value Python computes, or NOT_STATIC. abs, max and min return what Python's do: max and min one of
        their operands as it is (an np.int32 stays one, so arithmetic on the result wraps as the kernel's does;
        a bool stays one, `max(True, False)` is True, which no shape or index takes, as NumPy's do not), abs of
        an np.int32 an np.int32 (INT_MIN wraps to itself, as NumPy's and the kernel's abs do), of a bool an int;
        min and max with a float operand the float32 the kernel computes (docs: an int32 with a float32 gives a
        float32), abs of a float NOT_STATIC (the lowered call computes it)."""
        try:
            func = self.static(node.func)
            rounding = any(func is f for f in _STATIC_ROUNDINGS)
            if func is not len and func is not max and func is not min and func is not abs and not rounding:
                return NOT_STATIC
            operands = [self.static_operand(arg) for arg in node.args]
        except Unsupported:
            return NOT_STATIC  # (an unknown name: lowering the call says so)
        if rounding:
            return _static_rounding(func, operands)
        if func is len:
            if len(operands) == 1 and isinstance(operands[0], tuple):
                return len(operands[0])
            # a tuple variable of values known only at run time (`t = (a, b)`): its length is known (a branch or
            # loop cannot change it); where it is assigned on every path, as reading it needs
            target = node.args[0] if len(node.args) == 1 else None
            if isinstance(target, ast.Name) and isinstance(self.lookup_or_none(target.id), Tup) \
                    and (self.defined is None or target.id in self.defined):
                return len(self.lookup_or_none(target.id).items)
            dimensions = self.array_dimensions(target) if target is not None else None
            if dimensions is not None and is_integer(dimensions[0]):  # (a local array's first dimension)
                return int(dimensions[0])
            return NOT_STATIC
        if func is abs:
            if len(operands) != 1 or not _static_int_or_bool(operands[0]):
                return NOT_STATIC
            with np.errstate(over="ignore"):
                return abs(operands[0])
        if len(operands) == 1:
            operands = list(operands[0]) if isinstance(operands[0], tuple) else [NOT_STATIC]
        if operands and all(_static_int_or_bool(value) for value in operands):
            return func(operands)
        if operands and all(_static_int_or_bool(value) or isinstance(value, (float, np.floating))
                            for value in operands):
            # with a float among them, as the lowered call computes (`min_max_pair`): every operand converted
            # to float32, compared, the chosen one a float32 (`min(2, 2.5)` is 2.0, no shape; `int(...)` of it is)
            values = [to_float32(value) for value in operands]
            chosen = values[0]
            for value in values[1:]:
                if value > chosen if func is max else value < chosen:
                    chosen = value
            return chosen
        return NOT_STATIC

    def reads_variable(self, node: ast.expr) -> bool:
        """Whether `node` reads a variable's register (a name assigned in the function, known when compiling or not,
        or a device function's parameter, `held`), whose value the kernel computes with as the int32 or float32 it
        holds at run time, not as the constant it was assigned. What a variable only chooses is not its value: an
        item of a constant tuple (`T2[x]`: T2's item, exact, as the kernel's value is) and the length of a tuple
        (`len((1,) * x)`). (review45: `T[(T2[x] + 1) // 2**30]` of T2 = (2**31 - 1,) folded as int32 to T[-2], where
        Python gives T[2] and the same expression as a value is refused, past int32.)"""
        if isinstance(node, ast.Name):
            bound = self.lookup_or_none(node.id)
            return isinstance(bound, Val) and (not bound.is_const or bound.held)
        if isinstance(node, ast.Subscript):
            return self.reads_variable(node.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len":
            return False
        if isinstance(node, ast.IfExp) and type(self.static_or_none(node.test)) is bool:
            # a condition known when compiling: lowering computes only the chosen branch, a register where the
            # condition reads one (`7 if v > 5 else 9` is a run-time choice between constants)
            chosen = node.body if self.static(node.test) else node.orelse
            return self.reads_variable(node.test) or self.reads_variable(chosen)
        return any(self.reads_variable(child) for child in ast.iter_child_nodes(node))

    def static_operand(self, node: ast.expr):
        """static() of an operand of int arithmetic folded when compiling. A variable (a register, known when
        compiling where it is assigned once from constants) holds an int32 at run time, where the lowered `x + 1`
        wraps: its int folds as an np.int32 (`x = 2**31 - 1; a = (x + 1) // 2**30` is -2, as the kernel computes
        `a`, not Python's 2: `buf[a]` indexed buf[2] where `out[0] = a` gave -2); so does a device function's
        parameter bound to an int (`held`: a variable too, `T[(p + 1) // 2**30]` of p = 2**31 - 1 is T[-2], as
        `(p + 1) // 2**30` is -2). A variable assigned once from an np.int64 is that np.int64, computed exactly as
        NumPy computes it, as where it is read as a value (`x = I64; T[(x + 1) // 2**30]` is T[2] of
        I64 = np.int64(2**31 - 1): it indexed T[-2], where NumPy's and the module constant's are T[2])."""
        value = self.static(node)
        if isinstance(node, ast.Name) and is_integer(value) and not isinstance(value, np.int64):
            bound = self.lookup_or_none(node.id)
            if isinstance(bound, Val) and (not bound.is_const or bound.held) and not bound.int64:
                return np.int32(int(value)) if fits_int32(int(value)) else NOT_STATIC
        return value

    def local_names(self) -> frozenset[str]:
        """The local variables of the function being lowered, by Python's rule: its parameters and every name
        its body binds anywhere (nested functions and lambdas, which are refused, have scopes of their own)."""
        tree = self.source.tree
        cached = self.local_names_cache.get(id(tree))
        names = cached[1] if cached is not None and cached[0] is tree else None
        if names is None:
            found = {arg.arg for arg in tree.args.args + tree.args.kwonlyargs + tree.args.posonlyargs}
            found |= {arg.arg for arg in (tree.args.vararg, tree.args.kwarg) if arg is not None}
            pending: list[ast.AST] = list(tree.body)
            while pending:
                n = pending.pop()
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    found.add(n.name)
                    continue
                if isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                    continue
                if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                    found.add(n.id)
                pending.extend(ast.iter_child_nodes(n))
            names = frozenset(found)
            self.local_names_cache[id(tree)] = (tree, names)
        return names

    def assigned_constant(self, name: str):
        """The value of a variable that the function being lowered assigns exactly once, from a compile-time
        expression of globals, constants, parameters the body never assigns that are bound to constants (a
        `ws.constant` parameter) and other such variables (`d = ws.NORTH`, `n = 2 * T`): it is the same
        wherever the variable can be read, so it can serve where a constant is needed (a direction, a
        shape); else NOT_STATIC. A name assigned anywhere else (another assignment, a loop, `+=`) is not a
        constant."""
        tree = self.source.tree
        cached = self.single_assignments.get(id(tree))  # (holding the tree, as `local_names`: a freed tree's
        cache = cached[1] if cached is not None and cached[0] is tree else None  # address is reused)
        if cache is None:
            stores: dict[str, list] = {}
            for n in ast.walk(tree):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    stores.setdefault(n.id, []).append(n)
            cache = {}
            for n in ast.walk(tree):
                if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
                    target = n.targets[0]
                    if stores[target.id] == [target]:
                        cache[target.id] = n.value
            parameters = {arg.arg for arg in tree.args.args + tree.args.kwonlyargs + tree.args.posonlyargs}
            for parameter in parameters:
                cache.pop(parameter, None)  # a parameter is assigned by the call as well
            # Parameters never assigned in the body: bound to a constant, they are that constant throughout.
            cache[_FIXED_PARAMETERS] = frozenset(parameters - set(stores))
            self.single_assignments[id(tree)] = (tree, cache)
        value = cache.get(name) if name != _FIXED_PARAMETERS else None
        if value is None or name in self.resolving:
            return NOT_STATIC  # (resolving: `a = b` and `b = a` cannot define each other)
        for n in ast.walk(value):
            if not isinstance(n, ast.Name) or n.id in cache:
                continue  # (a variable assigned once: static() decides whether that is a constant)
            bound = self.lookup_or_none(n.id)
            fixed = n.id in cache[_FIXED_PARAMETERS] and isinstance(bound, Val) and bound.is_const
            if bound is not None and not fixed:
                return NOT_STATIC  # reads a kernel variable (it may change between the assignment and here)
        self.resolving.add(name)
        try:
            static = self.static(value)
        except Unsupported:
            return NOT_STATIC
        finally:
            self.resolving.discard(name)
        return static if isinstance(static, (int, float, tuple, np.int32, np.int64)) else NOT_STATIC


def _value_shape(value) -> list:
    """`tuple_shape` of a tuple known when compiling, or of a tuple variable's items (`Tup`)."""
    items = value.items if isinstance(value, Tup) else value
    return [_value_shape(item) if isinstance(item, (Tup, tuple)) else False for item in items]
