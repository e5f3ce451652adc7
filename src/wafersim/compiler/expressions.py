"""Scalar expressions: names, attributes, arithmetic with Python's promotions, constant folding, and the
short-circuit forms (`and`, `or`, conditional expressions); comparisons are in `comparisons`."""
from __future__ import annotations

import ast
import math

import numpy as np

from ..isa.halfprec import HALF_DTYPES
from ..isa.opcodes import IMM_MAX, IMM_MIN, SPECIAL_REGISTERS
from . import intrinsics as wsi
from .comparisons import ComparisonLowering
from .compile_time import repeat_count
from .int_folding import exact_int_tree, shown_int, typed_int
from .ir import Op
from .values import (DTYPES, FLOAT_CONSTANT_HINT, NOT_STATIC, GlobalArray, LocalArray, SliceRef, Tup, Unsupported, Val, describe,
                     fits_int32, fold_float32, to_float32, wrap_int32)

_FLOAT_FOLDS = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
                ast.FloorDiv: lambda x, y: x // y, ast.Mod: lambda x, y: x % y, ast.Pow: lambda x, y: x ** y}
_FLOAT_OPCODES = {ast.FloorDiv: "ffloordiv", ast.Mod: "fpymod", ast.Pow: "fpow"}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
            ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}


def _zero_division_hint(op: ast.operator, a: Val, b: Val) -> str:
    """Why a constant division by zero is refused, and what the same division gives at run time."""
    if isinstance(op, (ast.FloorDiv, ast.Mod)) and "f32" not in (a.ty, b.ty):
        return ("Python raises ZeroDivisionError (with a divisor known only at run time, an int32 `//` or `%` by 0 "
                "stops the kernel with KernelZeroDivisionError): guard the divisor or write the value you mean")
    if isinstance(op, ast.Pow) and "f32" not in (a.ty, b.ty):
        return "Python raises ZeroDivisionError (0 to a negative power)"
    return ("Python raises ZeroDivisionError for floats (NumPy's float32, like the machine at run time, gives inf "
            "or nan, with a warning): write math.inf, -math.inf or math.nan (or float('inf'), ...) for the value you "
            "mean")


#: The compiler's 32-bit element type names -> NumPy's dtypes (`DTYPES` turned round).
SCALAR_DTYPES = {name: dtype for dtype, name in DTYPES.items()}


class ExpressionLowering(ComparisonLowering):
    def scalar(self, node: ast.expr) -> Val:
        value = self.expr(node)
        if isinstance(value, SliceRef):  # `max(abs(r[0:n]))`, `max(0.0, r[0:n])`: vector work where a number goes
            raise self.error(node, "expected a number here, got a slice: slices compute only in an assignment to a "
                                   "slice (r[0:n] = abs(r[0:n])); sum(), min(), max() of one slice and ws.dot() of "
                                   "two give a number")
        if not isinstance(value, Val):
            raise self.error(node, f"expected a number here, got {describe(value)}")
        return value

    def expr(self, node: ast.expr):
        try:
            return self._expr(node)
        except Unsupported as exc:
            raise self.error(exc.node or node, str(exc)) from None

    def _expr(self, node: ast.expr):
        if isinstance(node, ast.Constant):
            return self.const(node.value)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BoolOp):
            return self.bool_op(node)
        if isinstance(node, ast.IfExp):
            return self.if_exp(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            return self.load_subscript(node)
        if isinstance(node, ast.Tuple):
            return Tup(tuple(self.expr(e) for e in node.elts))
        if isinstance(node, ast.NamedExpr):
            raise Unsupported(f"the assignment expression `{node.target.id} := ...` is not supported in a kernel: "
                              f"assign {node.target.id!r} in a statement of its own before this line")
        if isinstance(node, ast.Lambda):
            raise Unsupported("a lambda is not supported in a kernel: define a @ws.jit function at module level "
                              "and call it (device functions are inlined; they can be passed to other ones)")
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            raise Unsupported(f"a comprehension ({type(node).__name__}) is not supported in a kernel: write a for "
                              f"loop (lists do not exist in kernels; accumulate into a variable or a ws.local.array)")
        if isinstance(node, (ast.List, ast.Dict, ast.Set)):
            kind = type(node).__name__.lower()
            raise Unsupported(f"a {kind} cannot be made in a kernel: write a tuple for a few numbers (constants can "
                              f"be indexed by constants and looped over), or a ws.local.array(shape, dtype) for "
                              f"an array the kernel writes and indexes at run time")
        raise Unsupported(f"unsupported expression in a kernel: {type(node).__name__}")

    def name(self, node: ast.Name):
        try:
            value = self.lookup(node.id)
        except KeyError:
            return self.python_value(self.static(node))  # a global or closure constant (or object)
        if self.defined is not None and node.id not in self.defined and node.id in self.broken_loop_vars:
            raise Unsupported(f"variable {node.id!r} of a loop over a tuple is read after the loop, which a `break` "
                              f"may leave at any item: the loop is unrolled, so which item it stopped at is "
                              f"known only at run time; copy it into a variable assigned before the loop "
                              f"(`last = {node.id}` before the `break`) and read that")
        if self.defined is not None and node.id not in self.defined:
            raise Unsupported(f"variable {node.id!r} may be used before assignment: it is assigned only on some "
                              f"paths (in a branch or a loop that may not run); assign it before the branch or loop")
        if isinstance(value, Val) and value.int64 and not value.is_const:
            # A variable assigned once from an np.int64 constant is that constant wherever it is read, so it
            # computes as the constant does (exactly with constants; refused with an int32 known only at run time)
            static = self.static(node)
            if isinstance(static, np.int64):
                return self.const(static)
        return value

    def attribute(self, node: ast.Attribute):
        base_static = self.static(node.value)
        if isinstance(base_static, wsi.Dim):
            if node.attr not in base_static.registers:
                raise Unsupported(f"{base_static.name} has .x and .y, not .{node.attr}")
            return self.special(base_static.registers[node.attr])
        static = self.static(node)
        if static is not NOT_STATIC:
            if isinstance(static, (int, float, bool, np.number, np.bool_)):
                return self.python_value(static)
            return static
        base = self.expr(node.value)
        if isinstance(base, (GlobalArray, LocalArray)) and node.attr == "dtype":
            # (the array's own dtype: a 16-bit array's is float16 / bfloat16, not int32, so that a device function
            # given `x.dtype` chooses as NumPy would, and `ws.local.array(n, x.dtype)` matches x)
            return HALF_DTYPES[base.dtype] if base.dtype in HALF_DTYPES else SCALAR_DTYPES[base.dtype]
        if isinstance(base, (GlobalArray, LocalArray)) and node.attr == "ndim":
            return self.const(len(base.shape))
        if isinstance(base, GlobalArray):
            if node.attr == "shape":
                return Tup(base.shape)
            if node.attr == "size":
                total = base.shape[0]
                for dim in base.shape[1:]:
                    total = self.arith(ast.Mult(), total, dim)
                return total
        if isinstance(base, LocalArray):
            if node.attr == "shape":
                return Tup(tuple(self.const(n) for n in base.shape))
            if node.attr == "size":
                return self.const(base.size)
        raise Unsupported(f"unsupported attribute .{node.attr} of {describe(base)}")

    def special(self, name: str) -> Val:
        return self.result("sreg", "i32", imm=SPECIAL_REGISTERS.index(name))

    # ------------------------------------------------------------------ arithmetic
    def binary(self, node: ast.BinOp):
        exact = exact_int_tree(node, self.int_leaf)
        if exact is not None:
            return self.exact_int_const(node, exact)
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(left, SliceRef) or isinstance(right, SliceRef):
            raise Unsupported("slices compute only in an assignment to a slice, e.g. a[0:n] = b[0:n] * 2.0")
        if isinstance(left, Tup) or isinstance(right, Tup):
            return self.tuple_arith(node, left, right)
        for operand in (left, right):
            if not isinstance(operand, Val):
                raise Unsupported(f"cannot compute with {describe(operand)}")
        if isinstance(node.op, ast.Pow) and not right.is_const and isinstance(node.right, ast.Name):
            # `n = 3; i ** n`: a variable assigned once from a constant is that constant wherever it is read.
            known = self.known_int32(node.right)  # (an int or an np.int32: `n = np.int32(3)` too)
            if known is not None:
                right = self.const(known)
        return self.arith(node.op, left, right)

    def tuple_arith(self, node: ast.BinOp, left, right) -> Tup:
        """`t + u` and `t * n` (`n * t`) of tuples, as Python makes them: the items of both, or n copies of
        the items (none for n <= 0); `n` an int known when compiling (a tuple's length is fixed then)."""
        if isinstance(node.op, ast.Add) and isinstance(left, Tup) and isinstance(right, Tup):
            return Tup(left.items + right.items)
        if isinstance(node.op, ast.Mult) and isinstance(left, Tup) != isinstance(right, Tup):
            tup, count_node = (left, node.right) if isinstance(left, Tup) else (right, node.left)
            copies = repeat_count(self.static_or_none(count_node), len(tup.items))
            if copies is not None:
                return Tup(tup.items * copies)
            raise Unsupported("a tuple repeated by `*` needs an int known when compiling (a tuple's length is fixed "
                              "when the kernel is compiled)", count_node)
        other = right if isinstance(left, Tup) else left
        raise Unsupported(f"cannot compute with a tuple: tuples concatenate with + (another tuple) and repeat with * "
                          f"(an int constant), here {describe(other)}")

    def int_leaf(self, node: ast.expr) -> int | None:
        """A leaf of a constant tree of Python ints (`exact_int_tree`): an int literal, `int(...)` of such a tree,
        or a name holding a Python int constant (a global, a closure constant, a variable assigned once from one);
        None for anything else: an np.int32 (it wraps, as NumPy's int32 does) or an np.int64 (NumPy's int64 is
        exact only within 64 bits, and makes an np.int32 beside it an int64: folded step by step, `Val.int64`)."""
        if isinstance(node, ast.Constant):
            return int(node.value) if type(node.value) in (int, bool) else None
        if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords and self.static(node.func) is int:
            # `int(c)` of such a tree is that Python int (`int(0) - (1 + 2**31 - 1)` is -2**31 as in Python;
            # it was refused as "1 + 2147483647 does not fit")
            return exact_int_tree(node.args[0], self.int_leaf)
        if not isinstance(node, ast.Name):
            return None
        value = self.expr(node)
        return value.const if isinstance(value, Val) and value.is_const and value.ty == "i32" \
            and not (value.wraps or value.int64) else None

    def exact_int_const(self, node: ast.expr, value: int) -> Val:
        """The constant of an int expression Python computes exactly (`-2**31`): only the result must fit."""
        if not fits_int32(value):
            raise Unsupported(f"the constant expression {ast.unparse(node)} = {shown_int(value)} does not fit in int32 "
                              f"(from {-2**31} to {2**31 - 1}){FLOAT_CONSTANT_HINT}")
        return Val("i32", const=value)

    def arith(self, op: ast.operator, a: Val, b: Val) -> Val:
        if a.is_const and b.is_const:
            return self.fold(op, a, b)
        if (a.int64 or b.int64) and a.ty == b.ty == "i32":
            # NumPy promotes an int32 beside an np.int64 to int64 (np.int64(7) * a is 7516192768 for a = 2**30),
            # and the int64 result keeps every later step int64 (`(a % I64) * 2**30` too): the kernel's int32
            # would wrap silently where NumPy's does not. (Comparisons give a bool: they compile.)
            symbol = _SYMBOLS.get(type(op), type(op).__name__)
            argument = next((self.int64_arguments[v.reg] for v in (a, b) if v.reg in self.int64_arguments), None)
            convert = "convert the constant where it is defined, int(...) or np.int32(...)"
            if argument is not None:  # (a parameter launched with one: `k[g, b](out, np.int64(n))`)
                pair = f"parameter {argument!r}, launched with an np.int64, {symbol} an int32"
                convert = self.int64_conversion(a if a.reg in self.int64_arguments else b)
            elif any(v.int64 and not v.is_const for v in (a, b)):  # (a variable assigned more than once, say)
                pair = f"a variable holding an np.int64 (its value known only at run time) {symbol} an int32"
            else:
                pair = f"an np.int64 constant {symbol} an int32 value known only at run time"
            raise Unsupported(f"{pair}: NumPy computes the pair in int64 (and what follows from it), where the "
                              f"kernel's ints are int32 and would wrap where NumPy's do not; {convert}, for int32 "
                              f"arithmetic")
        if isinstance(op, ast.Div):
            a, b = self.to_type(a, "f32"), self.to_type(b, "f32")
            return self.result("fdiv", "f32", a=self.reg_of(a), b=self.reg_of(b))
        if isinstance(op, ast.Pow):
            return self.power(a, b)
        ty = "f32" if "f32" in (a.ty, b.ty) else "i32"
        a, b = self.to_type(a, ty), self.to_type(b, ty)
        if ty == "f32":
            table = {ast.Add: "fadd", ast.Sub: "fsub", ast.Mult: "fmul"}
            if type(op) in table:
                return self.result(table[type(op)], "f32", a=self.reg_of(a), b=self.reg_of(b))
            if isinstance(op, (ast.FloorDiv, ast.Mod)):  # Python's float // and %, as np.floor_divide/remainder
                return self.result("ffloordiv" if isinstance(op, ast.FloorDiv) else "fpymod", "f32",
                                   a=self.reg_of(a), b=self.reg_of(b))
            symbol = _SYMBOLS.get(type(op), type(op).__name__)
            raise Unsupported(f"operator {type(op).__name__} ({symbol}) is not defined for float32 (as Python raises "
                              f"TypeError for a float): an operand is a float32 (a variable has its first value's type, "
                              f"so `v = 0.5` then `v = 3` keeps it float32); convert it with int(...)")
        table = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.BitAnd: "and", ast.BitOr: "or",
                 ast.BitXor: "xor", ast.LShift: "shl", ast.RShift: "sra"}
        immediate = {ast.Add: "addi", ast.Mult: "muli", ast.BitAnd: "andi", ast.BitOr: "ori", ast.BitXor: "xori",
                     ast.LShift: "shli", ast.RShift: "srai"}
        if isinstance(op, (ast.LShift, ast.RShift)) and b.is_const and not 0 <= b.const < 32:
            # The one rule of shifts, constant count or not: Python's result wrapped to int32 (as `shift` does at
            # run time), so a count of 32 or more gives 0 (`<<`) or the sign (`>>`); a negative count is an error.
            if b.const < 0:
                raise Unsupported(f"negative shift count {b.const}: Python raises ValueError")
            if isinstance(op, ast.LShift):
                return self.const(0)
            b = self.const(31)
        if type(op) in immediate and b.is_const and IMM_MIN <= b.const <= IMM_MAX:
            return self.result(immediate[type(op)], "i32", a=self.reg_of(a), imm=int(b.const))
        if isinstance(op, ast.Sub) and b.is_const and -IMM_MAX <= b.const <= -IMM_MIN:
            return self.result("addi", "i32", a=self.reg_of(a), imm=-int(b.const))
        if isinstance(op, (ast.LShift, ast.RShift)):
            return self.shift(op, a, b)
        if type(op) in table:
            return self.result(table[type(op)], "i32", a=self.reg_of(a), b=self.reg_of(b))
        if isinstance(op, (ast.FloorDiv, ast.Mod)):
            return self.floor_div_mod(op, a, b)
        raise Unsupported(f"operator {type(op).__name__} is not supported")

    def power(self, base: Val, exponent: Val) -> Val:
        """`base ** n` for a constant whole `n`. int32: n >= 0 by squaring and multiplying (exact: Python's
        result wrapped to int32). float32: n in -1..2 (1, the value, its square, its reciprocal, each rounded
        once: what `np.power` gives on float32 arrays; NumPy's float32 *scalars* go through the C library's
        `powf`, which can differ in the last bit). Other exponents would round differently, so they are
        refused rather than approximated."""
        if "f32" in (base.ty, exponent.ty) and not (exponent.is_const and exponent.ty == "i32"
                                                     and -1 <= exponent.const <= 2):
            # Any other float power: one `fpow`, what np.power gives on float32 arrays.
            x, y = self.to_type(base, "f32"), self.to_type(exponent, "f32")
            return self.result("fpow", "f32", a=self.reg_of(x), b=self.reg_of(y))
        if not (exponent.is_const and exponent.ty == "i32"):
            raise Unsupported("an int32 ** needs a constant whole exponent (i ** 2); for a run-time exponent "
                              "write float(i) ** n (float32) or a loop")
        n = int(exponent.const)
        if base.ty == "f32":
            if n == -1:
                return self.arith(ast.Div(), self.const(1.0), base)
            if n == 0:
                return self.const(1.0)
            if n == 1:
                return self.result("mov", "f32", a=self.reg_of(base))
            return self.arith(ast.Mult(), base, base)  # n == 2: rounded once, as np.power gives
        if n < 0:
            raise Unsupported("an int to a negative power is a float in Python: convert with float(...) first")
        result, square = self.const(1), base
        while n:  # square and multiply: int32 products wrap, and wrapping commutes with multiplication
            if n & 1:
                result = self.arith(ast.Mult(), result, square)
            n >>= 1
            if n:
                square = self.arith(ast.Mult(), square, square)
        return result

    def shift(self, op, a: Val, b: Val) -> Val:
        """Python's `a << b` / `a >> b` (wrapped to int32) for a run-time count: the ISA's shifts use the
        count's low five bits, so a count of 32 or more is handled here (`<<` gives 0, `>>` the sign)."""
        ra, rb = self.reg_of(a), self.reg_of(b)
        if self.boundscheck:  # Python raises ValueError for a negative count
            nonnegative = self.result("sle", "i32", a=0, b=rb)
            self.emit("chk", a=0, b=nonnegative.reg, imm=self.string("negative shift count"))
        if isinstance(op, ast.RShift):
            count = self.result("min", "i32", a=rb, b=self.reg_of(self.const(31)))
            return self.result("sra", "i32", a=ra, b=count.reg)
        shifted = self.result("shl", "i32", a=ra, b=rb)
        in_range = self.result("slti", "i32", a=rb, imm=32)
        return self.result("sel", "i32", a=in_range.reg, b=shifted.reg, c=0)

    def floor_div_mod(self, op, a: Val, b: Val) -> Val:
        """Python's floor division and modulo from the ISA's truncating ones."""
        if b.is_const and b.const == 0:
            raise Unsupported("integer division by zero")
        if b.is_const and b.const > 0 and b.const & (b.const - 1) == 0:
            # A positive power of two 2**k: Python's floor division is the arithmetic shift and its modulo the
            # low k bits, for every int32 (negative values and -2**31 included, in two's complement), so one
            # ALU instruction instead of a divide, a remainder and the sign fix-up (`i % 2` in a loop).
            k = int(b.const).bit_length() - 1
            if isinstance(op, ast.FloorDiv):
                if not k:  # a copy, not the operand's own register (which the source may assign later)
                    return self.result("mov", "i32", a=self.reg_of(a))
                return self.result("srai", "i32", a=self.reg_of(a), imm=k)
            mask = int(b.const) - 1
            if mask <= IMM_MAX:
                return self.result("andi", "i32", a=self.reg_of(a), imm=mask)
            return self.result("and", "i32", a=self.reg_of(a), b=self.reg_of(self.const(mask)))
        ra, rb = self.reg_of(a), self.reg_of(b)
        if self.boundscheck and not b.is_const:  # stop with a clear error rather than a made-up value
            nonzero = self.result("sne", "i32", a=rb, b=0)
            self.emit("chk", a=0, b=nonzero.reg, imm=self.string("division by zero"))
        q = self.result("div", "i32", a=ra, b=rb)
        r = self.result("rem", "i32", a=ra, b=rb)
        # When the remainder is non-zero and its sign differs from the divisor's, adjust by one step.
        signs = self.result("xor", "i32", a=r.reg, b=rb)
        negative = self.result("slt", "i32", a=signs.reg, b=0)
        nonzero = self.result("sne", "i32", a=r.reg, b=0)
        adjust = self.result("and", "i32", a=negative.reg, b=nonzero.reg)
        if isinstance(op, ast.FloorDiv):
            return self.result("sub", "i32", a=q.reg, b=adjust.reg)
        step = self.result("mul", "i32", a=adjust.reg, b=rb)
        return self.result("add", "i32", a=r.reg, b=step.reg)

    def fold(self, op: ast.operator, a: Val, b: Val) -> Val:
        """`a op b` on two constants at compile time. Python ints must give an int32 (else a CompileError);
        NumPy int32 constants wrap around as NumPy's arithmetic does; floats round to float32, a float computed
        from a variable's constant (`held`: a device function's parameter) held as one too (`to_int`)."""
        value = self.fold_value(op, a, b)
        if (value.ty == "f32" or value.wraps) and (a.held or b.held):
            # (an int32 computed from a variable's constant is one too, wrapping: `-p * 2.0` converts as
            # `-2.0 * p` does; an np.int64 operand makes the result NumPy's int64, exact: not a variable's)
            value.held = True
        return value

    def fold_value(self, op: ast.operator, a: Val, b: Val) -> Val:
        """`fold`'s value."""
        x, y = a.const, b.const
        shown = lambda v: f"({v!r})" if v < 0 else repr(v)  # noqa: E731 (-8.0 ** x would read as -(8.0 ** x))
        text = f"{shown(x)} {_SYMBOLS.get(type(op), type(op).__name__)} {shown(y)}"
        try:
            if isinstance(op, ast.Div):
                if y == 0:
                    raise ZeroDivisionError
                with np.errstate(all="ignore"):  # 1e38 / 1e-38 is inf, as the machine's fdiv gives: no warning
                    return self.const(to_float32(np.float32(x) / np.float32(y)))
            if "f32" in (a.ty, b.ty):
                # An int32 meeting a float32 becomes a float32 first, as the machine's `itof` makes it (above
                # 2**24 it rounds): the same result whether the int is a constant or not.
                x, y = (to_float32(v.const) if v.ty == "i32" else v.const for v in (a, b))
                if type(op) not in _FLOAT_FOLDS:
                    raise TypeError(f"{type(op).__name__} on a float")
                if type(op) in _FLOAT_OPCODES:  # what the machine's instruction gives (NumPy float32), where
                    _FLOAT_FOLDS[type(op)](x, y)    # Python gives a float too (1.0 % 0.0 raises, (-8.0) ** 0.5 is
                    # (only a finite negative base to a finite fractional power is complex in Python:
                    # (-inf) ** 0.5 is inf, (-2.0) ** inf is inf, (-2.0) ** nan is nan, as at run time)
                    if (isinstance(op, ast.Pow) and x < 0 and math.isfinite(x) and math.isfinite(y)
                            and y != int(y)):
                        raise ValueError("a negative float to a fractional power")
                    return self.const(fold_float32(_FLOAT_OPCODES[type(op)], x, y))
                return self.const(to_float32(_FLOAT_FOLDS[type(op)](x, y)))
            int64 = a.int64 or b.int64  # NumPy's int64 (an np.int32 with it is promoted): exact, not wrapped
            wraps = (a.wraps or b.wraps) and not int64
            value = typed_int(op, x, y, wraps, int64)
            if wraps:
                return Val("i32", const=value, wraps=True)
        except ZeroDivisionError:
            raise Unsupported(f"cannot evaluate the constant expression {text}: "
                              + _zero_division_hint(op, a, b)) from None
        except ValueError as error:  # (Python's reason, or the fold's own: "negative shift count")
            raise Unsupported(f"cannot evaluate the constant expression {text}" + (f": {error}" if str(error) else "")
                              ) from None
        except (TypeError, KeyError, OverflowError):
            raise Unsupported(f"cannot evaluate the constant expression {text}") from None
        if isinstance(value, float):  # an int to a negative power
            return self.const(value)
        if value is None or not fits_int32(value):
            shown = "" if value is None else f" = {shown_int(value)}"
            raise Unsupported(f"the constant expression {text}{shown} does not fit in int32 "
                              f"(from {-2**31} to {2**31 - 1}){FLOAT_CONSTANT_HINT}")
        return Val("i32", const=value, int64=int64)

    def unary(self, node: ast.UnaryOp) -> Val:
        literal = node.operand.value if isinstance(node.operand, ast.Constant) else None
        if isinstance(node.op, ast.USub) and type(literal) is int and literal == 2**31:
            return self.const(-literal)  # -2147483648 written out: an int32, though its digits alone are not
        exact = exact_int_tree(node, self.int_leaf) if not isinstance(node.op, ast.Not) else None
        if exact is not None:
            return self.exact_int_const(node, exact)
        v = self.scalar(node.operand)
        if isinstance(node.op, ast.UAdd):
            return v
        if v.is_const:
            if isinstance(node.op, ast.USub):
                if v.ty == "f32":
                    negated = self.const(-v.const)
                    negated.held = v.held  # (a variable's value: `to_int` converts it as at run time)
                    return negated
                if v.wraps:
                    return Val("i32", const=wrap_int32(-v.const), wraps=True, held=v.held)
                negated = self.const(-v.const)  # (-np.int64(-2**31) is 2**31 in NumPy: does not fit, refused)
                negated.int64 = v.int64
                return negated
            if isinstance(node.op, ast.Not):
                return self.const(not v.const)
            if isinstance(node.op, ast.Invert) and v.ty == "i32":
                return Val("i32", const=~v.const, wraps=v.wraps, int64=v.int64, held=v.held)
        if isinstance(node.op, ast.USub):
            if v.int64:  # (NumPy's int64 negates -2**31 to 2**31, where the kernel's int32 wraps)
                raise Unsupported("negating a variable that holds an np.int64 (known only at run time): NumPy "
                                  "computes it in int64, where the kernel's ints are int32 (-(-2**31) wraps); "
                                  + self.int64_conversion(v))
            return self.result("fneg" if v.ty == "f32" else "neg", v.ty, a=v.reg)
        if isinstance(node.op, ast.Not):
            return self.result("seq", "i32", a=self.truth(v).reg, b=0)
        if isinstance(node.op, ast.Invert) and v.ty == "i32":
            inverted = self.result("xori", "i32", a=v.reg, imm=-1)
            inverted.int64 = v.int64  # (~ never leaves int32, but NumPy's result is still an int64)
            return inverted
        raise Unsupported(f"unsupported unary operator {type(node.op).__name__}"
                          + (" on a float32" if isinstance(node.op, ast.Invert) else ""))

    # ------------------------------------------------------------------ comparisons and short circuits
    def bool_op(self, node: ast.BoolOp) -> Val:
        """`and`/`or` short-circuit: later operands are not evaluated once the result is known.

        The result is the deciding operand's value, as in Python (as float32 if any operand is)."""
        is_and = isinstance(node.op, ast.And)
        first = self.scalar(node.values[0])
        if first.is_const:
            if bool(first.const) != is_and or len(node.values) == 1:
                return first
            rest = ast.BoolOp(op=node.op, values=node.values[1:]) if len(node.values) > 2 else node.values[1]
            ast.copy_location(rest, node)
            return self.scalar(rest)
        done = self.new_label("sc")
        results = [(len(self.fn.ops), first)]  # where each operand's value must be moved into the result
        self.emit("bz" if is_and else "bnz", a=self.truth(first).reg, target=done)
        for k, operand in enumerate(node.values[1:], start=1):
            value = self.scalar(operand)
            results.append((len(self.fn.ops), value))
            if k + 1 < len(node.values):
                if value.is_const:  # known when compiling (`x and 0.5 and y`): no branch on it
                    if bool(value.const) != is_and:  # it decides: the later operands never run (as in Python)
                        self.emit("jmp", target=done)
                        break
                    results.pop()  # it passes the decision on to the next operand, never the result
                    continue
                self.emit("bz" if is_and else "bnz", a=self.truth(value).reg, target=done)
        out = Val("f32" if any(v.ty == "f32" for _, v in results) else "i32")
        out.reg = self.new_reg(out.ty, "bool")
        self.insert_moves([out], [(position, [value]) for position, value in results], node)
        self.place(done)
        return Val(out.ty, out.reg, int64=_any_int64(out.ty, (value for _, value in results)))

    def insert_moves(self, outs: list[Val], results: list[tuple[int, list[Val]]], node) -> None:
        """Insert `outs[i] = values[i]` at each recorded (position, values) (later positions first, so earlier
        ones stay valid)."""
        for position, values in sorted(results, key=lambda item: -item[0]):
            tail = self.fn.ops[position:]
            del self.fn.ops[position:]
            for out, value in zip(outs, values):
                # Write the result register directly when nothing later reads the operand's own register; a
                # tuple's moves never do (a sibling move inserted here may read it).
                read_later = len(outs) > 1 or any(value.reg in op.reads() for op in tail if isinstance(op, Op))
                self.move(out, value, node, retarget=not read_later)
            self.fn.ops.extend(tail)

    def if_exp(self, node: ast.IfExp, cond: Val | None = None) -> Val:
        """`a if c else b` as branches; `cond`: c's truth where the caller has evaluated it already."""
        if self.has_slice(node.body) or self.has_slice(node.orelse):
            raise Unsupported("a conditional expression chooses between scalars, not slices: choose with an if "
                              "statement (if c: r[0:n] = ... else: r[0:n] = ...)", node)
        cond = cond if cond is not None else self.truth(self.scalar(node.test))
        if cond.is_const:
            chosen = node.body if cond.const else node.orelse
            return self.number_tuple(chosen) if self.is_tuple(chosen) else self.scalar(chosen)
        otherwise, done = self.new_label("ielse"), self.new_label("iend")
        self.emit("bz", a=cond.reg, target=otherwise)
        if self.is_tuple(node.body) or self.is_tuple(node.orelse):
            return self.if_exp_of_tuples(node, otherwise, done)
        first = self.scalar(node.body)
        results = [(len(self.fn.ops), first)]
        self.emit("jmp", target=done)
        self.place(otherwise)
        second = self.scalar(node.orelse)
        results.append((len(self.fn.ops), second))
        out = Val("f32" if "f32" in (first.ty, second.ty) else "i32")
        out.reg = self.new_reg(out.ty, "sel")
        self.insert_moves([out], [(position, [value]) for position, value in results], node)
        self.place(done)
        return Val(out.ty, out.reg, int64=_any_int64(out.ty, (first, second)))

    def number_tuple(self, node: ast.expr) -> Tup:
        """A tuple display of numbers (nested tuples too), for a conditional expression choosing between two."""
        value = self.expr(node)
        if isinstance(value, Val):  # (numbers are chosen between too, but not a number and a tuple)
            raise Unsupported("one branch of this conditional expression gives a tuple and the other a number: "
                              "both must give numbers, or tuples of the same shape", node)
        if not isinstance(value, Tup) or any(not isinstance(leaf, Val) for leaf in _leaves(value)):
            raise Unsupported("a conditional expression chooses between numbers or tuples of numbers, here "
                              f"{describe(value)}: choose with an if statement", node)
        return value

    def if_exp_of_tuples(self, node: ast.IfExp, otherwise, done) -> Tup:
        """`(a, b) if c else (b, a)`: as Python, only the branch the condition picks is evaluated; each
        branch moves its numbers into the result's registers (float32 where either branch's is float32)."""
        first = self.number_tuple(node.body)
        end_first = len(self.fn.ops)
        self.emit("jmp", target=done)
        self.place(otherwise)
        second = self.number_tuple(node.orelse)
        end_second = len(self.fn.ops)
        if _shape(first) != _shape(second):
            raise Unsupported("the two branches of a conditional expression give tuples of different shapes", node)
        pairs = list(zip(_leaves(first), _leaves(second)))
        outs = [Val("f32" if "f32" in (a.ty, b.ty) else "i32") for a, b in pairs]
        for out in outs:
            out.reg = self.new_reg(out.ty, "sel")
        self.insert_moves(outs, [(end_first, [a for a, _ in pairs]), (end_second, [b for _, b in pairs])], node)
        self.place(done)
        results = iter(Val(out.ty, out.reg, int64=_any_int64(out.ty, pair)) for out, pair in zip(outs, pairs))
        return _rebuild(first, results)


def _any_int64(ty: str, chosen) -> bool:
    """Whether an int32 chosen at run time among `chosen` may be an np.int64 (`Val.int64`): NumPy's type is
    the chosen operand's, so arithmetic with it stays refused where it may be one."""
    return ty == "i32" and any(v.int64 for v in chosen)


def _leaves(value) -> list:
    """The items of a (nested) tuple, depth first."""
    return [leaf for item in value.items for leaf in _leaves(item)] if isinstance(value, Tup) else [value]


def _shape(value):
    return tuple(_shape(item) for item in value.items) if isinstance(value, Tup) else None


def _rebuild(like, leaves) -> Tup | Val:
    """A tuple of the shape of `like` holding the next values of the iterator `leaves`."""
    return Tup(tuple(_rebuild(item, leaves) for item in like.items)) if isinstance(like, Tup) else next(leaves)
