"""Comparisons: run-time number comparisons (chained ones short-circuit), `in` of a number against a tuple of
numbers, `is None` of a run-time value, and comparisons of compile-time objects folded (tuples item by item, as
Python compares them, their numbers as the kernel's numbers compare)."""
from __future__ import annotations

import ast
import operator

import numpy as np

from ..isa.opcodes import IMM_MAX, IMM_MIN
from .compile_time import constant_tuple, static_constant, static_tuple_arith
from .core import LoweringCore
from .values import NOT_STATIC, Tup, Unsupported, Val, describe

#: Compile-time numbers (`W = np.int32(2)` included): compared as numbers, not as Python objects.
NUMBERS = (int, float, np.integer, np.floating)

#: Every comparison operator with Python's meaning (`fold_compare` folds compile-time objects with it).
_PYTHON_COMPARISONS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
                       ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Is: operator.is_, ast.IsNot: operator.is_not,
                       ast.In: lambda x, y: x in y, ast.NotIn: lambda x, y: x not in y}
#: The comparisons that order or equate two values (tuples compare item by item for them).
_ORDER_OR_EQUALITY = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


class ComparisonLowering(LoweringCore):
    """The comparison forms of `ExpressionLowering` (which supplies `expr`, `arith` and the constants)."""

    def compare(self, node: ast.Compare) -> Val:
        folded = self.compare_constants(node)
        if folded is not None:
            return folded
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            none_test = self.is_none_of_a_value(node)
            if none_test is not None:
                return none_test
        if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            return self.membership(node)
        if len(node.ops) > 1:  # a < b < c: each operand evaluated once, stopping at the first false
            out = Val("i32", self.new_reg("i32", "chain"))
            done = self.new_label("chain")
            left = self.compared(node.left)
            for k, (op, right_node) in enumerate(zip(node.ops, node.comparators)):
                right = self.compared(right_node)
                self.move(out, self.compare_values(op, left, right), node, retarget=False)
                if k + 1 < len(node.ops):
                    self.emit("bz", a=out.reg, target=done)
                left = right
            self.place(done)
            return Val("i32", out.reg)
        return self.compare_values(node.ops[0], self.compared(node.left), self.compared(node.comparators[0]))

    def compared(self, node: ast.expr) -> Val:
        """An operand of a run-time comparison: a number. A tuple (`pair(p) == (1, 2)`) was "expected a number
        here, got a tuple": say that tuples do not compare and what to write."""
        value = self.expr(node)
        if isinstance(value, Tup):
            raise self.tuple_comparison_error(node)
        if not isinstance(value, Val):
            raise self.error(node, f"expected a number here, got {describe(value)}")
        return value

    def tuple_comparison_error(self, node: ast.expr) -> Exception:
        """The refusal of a comparison of tuples whose items are not all known when compiling (`node`: one)."""
        return self.error(node, "comparing tuples is not supported in a kernel (only numbers compare at run "
                                "time): compare their items, `a[0] == b[0] and a[1] == b[1]`, or unpack "
                                "the tuple first, `u, v = pair(p)`")

    def is_none_of_a_value(self, node: ast.Compare) -> Val | None:
        """`v is None` (`is not None`) of a value known only at run time, folded as Python's: a number (or an
        array) is never None. A helper's `if s is None:` default test then compiles when the helper is called
        with a run-time `s`, as it does when called without one. The value is still evaluated (a receive in it
        happens). None where neither side is the constant None."""
        left, right = node.left, node.comparators[0]
        if self.static(right) is None and self.static(left) is NOT_STATIC:
            value = left
        elif self.static(left) is None and self.static(right) is NOT_STATIC:
            value = right
        else:
            return None
        self.expr(value)
        return self.const(isinstance(node.ops[0], ast.IsNot))

    def membership(self, node: ast.Compare) -> Val:
        """`x in (a, b, ...)` (`not in`) of a run-time number: x == a or x == b ..., each item compared as `==`
        compares them (an int32 with a float32 as float32)."""
        if len(node.ops) > 1:
            raise Unsupported("`in` in a chain of comparisons: write the membership test on its own", node)
        items = self.compile_time_items(node.comparators[0])
        if items is None:
            ranged = node.comparators[0]
            hint = ("; for `x in range(a, b)` write `a <= x < b`" if isinstance(ranged, ast.Call)
                    and isinstance(ranged.func, ast.Name) and ranged.func.id == "range" else "")
            raise Unsupported(f"`in` tests a number against a tuple of numbers (`x in (1, 2, 3)`){hint}",
                              node.comparators[0])
        left = self.compared(node.left)
        found = self.const(False)
        for item in items:
            value = item if isinstance(item, Val) else self.python_value(item)
            if not isinstance(value, Val):
                raise Unsupported(f"`in` tests a number against a tuple of numbers, not of {describe(value)}",
                                  node.comparators[0])
            equal = self.compare_values(ast.Eq(), left, value)
            found = equal if found.is_const and not found.const else self.arith(ast.BitOr(), found, equal)
        if isinstance(node.ops[0], ast.NotIn):
            return self.const(not found.const) if found.is_const else self.result("seq", "i32", a=found.reg, b=0)
        return found

    def compare_constants(self, node: ast.Compare) -> Val | None:
        """A comparison of compile-time objects that are not all numbers (`which == "row"` on a helper's
        string argument, `d in (ws.EAST, ws.WEST)`, `T < (1, 4)` of constant tuples), folded (`fold_compare`);
        None otherwise. A comparison of tuples is folded or refused here (`tuple_operand`)."""
        nodes = [node.left, *node.comparators]
        operands = [self.static(n) for n in nodes]
        operands = [self.array_dtype(n) if v is NOT_STATIC else v for n, v in zip(nodes, operands)]
        # (numbers, NumPy's among them, compare as the kernel's values do, in `compare_values`: an np.int32 folded
        # when compiling, `(W + 1) > 0`, was refused as a comparison of objects, `np.int32(16777217) == 16777216.0`
        # compared in float64 where the kernel compares in float32)
        if all(isinstance(v, NUMBERS) for v in operands):
            return None
        membership = any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)
        if (not any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops) and any(map(self.is_tuple, nodes))
                and not (membership and not self.is_tuple(node.left))):
            # tuples ordered or equated (`T < (1, 4)`, `(1, 2) in U`): folded, or refused, never compared at run
            # time; each operand taken as Python evaluates a chain, only while the comparisons before it held
            result, left = True, self.tuple_operand(nodes[0])
            for op, right_node in zip(node.ops, nodes[1:]):
                right = self.tuple_operand(right_node)
                result = self.fold_compare(op, left, right)
                if not result:
                    break
                left = right
            return self.const(result)
        if any(v is NOT_STATIC for v in operands):
            return None
        if membership and isinstance(operands[0], NUMBERS):
            return None  # a number's membership compares as `==` does (float32 for an int and a float): `membership`
        result = True
        for op, left, right in zip(node.ops, operands, operands[1:]):
            result = result and self.fold_compare(op, left, right)
        return self.const(result)

    def array_dtype(self, node: ast.expr):
        """`x.dtype` of an array named `x` (a kernel argument's too): its NumPy dtype, known when compiling, so
        that `x.dtype == np.float16` folds as in NumPy; else NOT_STATIC."""
        if isinstance(node, ast.Attribute) and node.attr == "dtype" and isinstance(node.value, ast.Name):
            value = self.expr(node)
            if isinstance(value, np.dtype):
                return value
        return NOT_STATIC

    def tuple_operand(self, node: ast.expr):
        """An operand of a comparison of tuples as a compile-time object: what `static` finds, else the value
        `node` evaluates to where it is known when compiling (a display of such items, `(np.float32(0.1), 'a')`,
        a slice or concatenation of those, a device function's constant result), evaluated in Python's order;
        else a CompileError at `node`, as tuples of values known only at run time do not compare."""
        static = self.static(node)
        if static is not NOT_STATIC:
            return static
        if isinstance(node, ast.Tuple):  # (item by item: a string item is no kernel value, yet compares)
            return tuple(self.tuple_operand(item) for item in node.elts)
        if isinstance(node, ast.BinOp) and self.is_tuple(node):
            folded = static_tuple_arith(node.op, self.tuple_operand(node.left), self.tuple_operand(node.right))
            if folded is not NOT_STATIC:
                return folded
        elif isinstance(node, ast.Subscript) and self.is_tuple(node.value):
            items = self.tuple_operand(node.value)
            if isinstance(node.slice, ast.Slice):
                return items[self.tuple_slice(node.slice)]
            index = self.static_tuple_index(node.slice)  # (an item that is a tuple with a string in it: not a
            if index is not None and -len(items) <= index < len(items):  # kernel value, yet compares)
                return items[index]
        value = self.expr(node)
        if isinstance(value, Val) and value.is_const:
            return static_constant(value)
        items = constant_tuple(value) if isinstance(value, Tup) else None
        if items is None:
            raise self.tuple_comparison_error(node)
        return items

    def fold_compare(self, op: ast.cmpop, left, right) -> bool:
        """`left op right` of two compile-time objects, as Python compares them but for numbers, which compare
        as the kernel's numbers do (`compare_values`: an int with a float as float32, so `16777217 == 16777216.0`
        holds; a nan equals nothing, there being no identity test). Tuples compare as Python's do, item by item
        with this same rule: the first pair of items that are not equal decides (`==` is False, `!=` True, an
        order is that pair's order), else the lengths (`(1, 3) < (1, 4)`, `(1,) < (1, 0)`), so `T < U` is what
        the items written out give. `in` of a tuple tests each item with `==` so; `is`, and anything else,
        Python's meaning (an order Python cannot take, `"a" < 1`, is refused, as Python raises TypeError)."""
        if isinstance(left, NUMBERS) and isinstance(right, NUMBERS) and type(op) in _ORDER_OR_EQUALITY:
            return bool(self.compare_values(op, self.python_value(left), self.python_value(right)).const)
        if isinstance(left, tuple) and isinstance(right, tuple) and type(op) in _ORDER_OR_EQUALITY:
            for x, y in zip(left, right):
                if not self.fold_compare(ast.Eq(), x, y):
                    return (False if isinstance(op, ast.Eq) else True if isinstance(op, ast.NotEq)
                            else self.fold_compare(op, x, y))
            return _PYTHON_COMPARISONS[type(op)](len(left), len(right))
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, tuple):
            found = any(self.fold_compare(ast.Eq(), left, item) for item in right)
            return found if isinstance(op, ast.In) else not found
        if type(op) in _ORDER_OR_EQUALITY:  # a number with anything else (a tuple, a string): the number is a
            # kernel number, compared with Python's meaning (`3 == ()` is False, `3 < ()` refused); NumPy's own
            # `np.int32(3) == ()` compares elementwise, an empty array whose truth raises ValueError
            left, right = (x.item() if isinstance(x, np.generic) else x for x in (left, right))
        try:
            return bool(_PYTHON_COMPARISONS[type(op)](left, right))
        except TypeError as exc:
            raise Unsupported(f"cannot compare {left!r} and {right!r}: {exc}") from None

    def compare_values(self, op: ast.cmpop, a: Val, b: Val) -> Val:
        names = {ast.Lt: ("slt", False), ast.LtE: ("sle", False), ast.Gt: ("slt", True), ast.GtE: ("sle", True),
                 ast.Eq: ("seq", False), ast.NotEq: ("sne", False)}
        if type(op) not in names:
            if isinstance(op, (ast.Is, ast.IsNot)):  # (numbers in registers have no identity to test)
                raise Unsupported(f"`{'is' if isinstance(op, ast.Is) else 'is not'}` of a number known only at run "
                                  f"time is not supported: write `{'==' if isinstance(op, ast.Is) else '!='}`")
            raise Unsupported(f"comparison {type(op).__name__} is not supported on numbers")
        ty = "f32" if "f32" in (a.ty, b.ty) else "i32"
        a, b = self.to_type(a, ty), self.to_type(b, ty)  # (an int32 against a float32: as a float32, folded too)
        if a.is_const and b.is_const:
            return self.const(_PYTHON_COMPARISONS[type(op)](a.const, b.const))
        name, swap = names[type(op)]
        if ty == "f32":
            name = {"slt": "flt", "sle": "fle", "seq": "feq", "sne": "fne"}[name]
        x, y = (b, a) if swap else (a, b)
        if name in ("slt", "seq") and y.is_const and IMM_MIN <= y.const <= IMM_MAX and not x.is_const:
            return self.result(name + "i", "i32", a=x.reg, imm=int(y.const))
        return self.result(name, "i32", a=self.reg_of(x), b=self.reg_of(y))
