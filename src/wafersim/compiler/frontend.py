"""Front end: a kernel's Python source -> IR.

The function's source is parsed with `ast`; names resolve to kernel variables, arguments, or
compile-time objects from its globals and closure (constants, `math`, NumPy dtypes, wafersim
intrinsics, other `@ws.jit` functions, which are inlined). Values are int32 or float32 with Python's
promotions; Python constants fold at compile time. Errors are `CompileError`s that point at the source.
"""
from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect
import math
import textwrap
import types
from typing import Any, Callable

import numpy as np

from ..errors import CompileError
from ..isa.opcodes import SPECIAL_REGISTERS
from . import intrinsics as wsi
from .ir import IRFunction, Label, Op, VReg

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DTYPES = {np.dtype(np.float32): "f32", np.dtype(np.int32): "i32"}


# ----------------------------------------------------------------------------- values
@dataclasses.dataclass
class Val:
    """A scalar: a compile-time constant (`const`) or a virtual register (`reg`)."""

    ty: str
    reg: VReg | None = None
    const: int | float | None = None
    temp: bool = False  # a fresh register no variable owns yet

    @property
    def is_const(self) -> bool:
        return self.reg is None


@dataclasses.dataclass
class GlobalArray:
    name: str
    dtype: str
    ptr: Val
    shape: tuple[Val, ...]


@dataclasses.dataclass
class LocalArray:
    name: str
    dtype: str
    base: int  # word offset in the local SRAM segment
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclasses.dataclass
class SliceRef:
    """A 1-D slice of a local array (`buf[i:j]`) or of a global array row (`u[y, a:b]`)."""

    array: LocalArray | GlobalArray
    start: Val  # element index (local: word offset inside the array)
    length: Val


@dataclasses.dataclass
class Tup:
    items: tuple


@dataclasses.dataclass
class KernelSignature:
    """Argument kinds of one specialisation: ('array', dtype, ndim) or ('scalar', ty)."""

    args: tuple

    def words(self) -> int:
        return sum(1 + a[2] if a[0] == "array" else 1 for a in self.args)


class _Unsupported(Exception):
    """Raised inside lowering; becomes a `CompileError` at `node` (or at the enclosing expression)."""

    def __init__(self, message: str, node: ast.AST | None = None) -> None:
        super().__init__(message)
        self.node = node


# ----------------------------------------------------------------------------- lowering
class Lowering:
    def __init__(self, func: Callable, signature: KernelSignature, boundscheck: bool = True) -> None:
        self.func = func
        self.boundscheck = boundscheck
        try:
            self.filename = inspect.getsourcefile(func) or "<kernel>"
            lines, self.first_line = inspect.getsourcelines(func)
        except (OSError, TypeError):
            raise CompileError(f"cannot read the source of {func.__name__}: define kernels in a file (or in a "
                               f"notebook cell), not with exec() of a string") from None
        self.source_lines = lines
        tree = ast.parse(textwrap.dedent("".join(lines)))
        self.fdef = tree.body[0]
        if not isinstance(self.fdef, ast.FunctionDef):
            raise CompileError(f"{self.filename}: a kernel must be a plain function")
        self.indent = len(lines[0]) - len(lines[0].lstrip())
        self.fn = IRFunction(func.__name__, filename=self.filename)
        self.counter = 0
        self.labels = 0
        self.line: int | None = None
        self.loops: list[tuple[Label, Label]] = []
        self.exit = self.new_label("exit")
        self.scopes: list[dict[str, Any]] = [{}]
        self.globals = dict(func.__globals__)
        if func.__closure__:
            self.globals.update(zip(func.__code__.co_freevars, (c.cell_contents for c in func.__closure__)))
        self.inlining: list[Callable] = [func]
        self.return_target: list[tuple[Label, list]] = []
        self.signature = signature

    # ------------------------------------------------------------------ helpers
    def error(self, node: ast.AST | None, message: str) -> CompileError:
        line = getattr(node, "lineno", 1) if node is not None else 1
        col = getattr(node, "col_offset", 0) if node is not None else 0
        file_line = line + self.first_line - 1
        text = self.source_lines[line - 1].rstrip("\n") if 0 < line <= len(self.source_lines) else ""
        caret = " " * (col + self.indent) + "^"
        return CompileError(f"{self.filename}:{file_line}:{col + self.indent + 1}: {message}\n{text}\n{caret}",
                            file=self.filename, line=file_line, col=col + self.indent + 1)

    def new_reg(self, ty: str, hint: str = "") -> VReg:
        self.counter += 1
        return VReg(self.counter, ty, hint)

    def new_label(self, hint: str) -> Label:
        self.labels += 1
        return Label(f"{hint}{self.labels}")

    def emit(self, op: str, **fields) -> Op:
        instr = Op(op, line=self.line, **fields)
        self.fn.ops.append(instr)
        return instr

    def place(self, label: Label) -> None:
        self.fn.ops.append(label)

    def lookup(self, name: str):
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise KeyError(name)

    def bind(self, name: str, value) -> None:
        self.scopes[-1][name] = value

    # ------------------------------------------------------------------ scalars
    def const(self, value) -> Val:
        if isinstance(value, (bool, np.bool_)):
            return Val("i32", const=int(value))
        if isinstance(value, (int, np.integer)):
            if not INT_MIN <= int(value) <= INT_MAX:
                raise _Unsupported(f"integer constant {value} does not fit in int32")
            return Val("i32", const=int(value))
        if isinstance(value, (float, np.floating)):
            return Val("f32", const=float(np.float32(value)))
        raise _Unsupported(f"a {type(value).__name__} cannot be used as a kernel value")

    def reg_of(self, v: Val) -> VReg | int:
        """A register holding v (r0 for integer zero)."""
        if v.reg is not None:
            return v.reg
        if v.ty == "i32" and v.const == 0:
            return 0
        reg = self.new_reg(v.ty)
        imm = int(v.const) if v.ty == "i32" else int(np.float32(v.const).view(np.int32))
        self.emit("li", d=reg, imm=imm)
        return reg

    def to_type(self, v: Val, ty: str) -> Val:
        if v.ty == ty:
            return v
        if v.is_const:
            return Val(ty, const=float(np.float32(v.const)) if ty == "f32" else int(v.const))
        if ty == "f32":
            out = self.new_reg("f32")
            self.emit("itof", d=out, a=v.reg)
            return Val("f32", out, temp=True)
        raise _Unsupported("a float32 value cannot be used where an int32 is needed (use int(...))")

    def result(self, op: str, ty: str, **fields) -> Val:
        out = self.new_reg(ty)
        self.emit(op, d=out, **fields)
        return Val(ty, out, temp=True)

    def truth(self, v: Val) -> Val:
        """An int32 0/1 register or constant for a condition."""
        if v.is_const:
            return Val("i32", const=int(bool(v.const)))
        if v.ty == "f32":
            return self.result("fne", "i32", a=v.reg, b=self.reg_of(Val("f32", const=0.0)))
        return v

    # ------------------------------------------------------------------ entry
    def lower(self) -> IRFunction:
        params = [a.arg for a in self.fdef.args.args]
        if len(params) != len(self.signature.args):
            raise self.error(self.fdef, f"{self.fn.name} takes {len(params)} argument(s), "
                                        f"the launch gave {len(self.signature.args)}")
        word = 0
        for name, kind in zip(params, self.signature.args):
            if kind[0] == "array":
                ptr = Val("i32", self.new_reg("i32", name))
                self.emit("arg", d=ptr.reg, imm=word)
                shape = []
                for k in range(kind[2]):
                    dim = Val("i32", self.new_reg("i32", f"{name}_n{k}_"))
                    self.emit("arg", d=dim.reg, imm=word + 1 + k)
                    shape.append(dim)
                self.bind(name, GlobalArray(name, kind[1], ptr, tuple(shape)))
                word += 1 + kind[2]
            else:
                v = Val(kind[1], self.new_reg(kind[1], name))
                self.emit("arg", d=v.reg, imm=word)
                self.bind(name, v)
                word += 1
        self.fn.arg_count = word
        self.statements(self.fdef.body)
        self.place(self.exit)
        self.emit("halt")
        return self.fn

    # ------------------------------------------------------------------ statements
    def statements(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.line = stmt.lineno + self.first_line - 1 if len(self.inlining) == 1 else self.line
            try:
                self.statement(stmt)
            except _Unsupported as exc:
                raise self.error(exc.node or stmt, str(exc)) from None

    def statement(self, s: ast.stmt) -> None:
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                return  # a docstring
            self.expr(s.value)
        elif isinstance(s, ast.Assign):
            value = s.value
            for target in s.targets:
                self.assign(target, value)
        elif isinstance(s, ast.AugAssign):
            if isinstance(s.target, ast.Name):
                combined = ast.BinOp(left=ast.Name(s.target.id, ast.Load()), op=s.op, right=s.value)
            else:
                combined = ast.BinOp(left=_as_load(s.target), op=s.op, right=s.value)
            ast.copy_location(combined, s)
            ast.fix_missing_locations(combined)
            self.assign(s.target, combined)
        elif isinstance(s, ast.AnnAssign) and s.value is not None:
            self.assign(s.target, s.value)
        elif isinstance(s, ast.If):
            self.if_statement(s)
        elif isinstance(s, ast.For):
            self.for_statement(s)
        elif isinstance(s, ast.While):
            self.while_statement(s)
        elif isinstance(s, ast.Break):
            if not self.loops:
                raise self.error(s, "'break' outside a loop")
            self.emit("jmp", target=self.loops[-1][1])
        elif isinstance(s, ast.Continue):
            if not self.loops:
                raise self.error(s, "'continue' outside a loop")
            self.emit("jmp", target=self.loops[-1][0])
        elif isinstance(s, ast.Return):
            self.return_statement(s)
        elif isinstance(s, ast.Pass):
            pass
        else:
            raise self.error(s, f"unsupported statement in a kernel: {type(s).__name__}")

    def return_statement(self, s: ast.Return) -> None:
        if self.return_target:  # inside an inlined device function
            label, results = self.return_target[-1]
            if s.value is not None:
                value = self.scalar(s.value)
                if not results:
                    results.append(Val(value.ty, self.new_reg(value.ty, "ret")))
                self.move(results[0], value, s)
            self.emit("jmp", target=label)
            return
        if s.value is not None and not (isinstance(s.value, ast.Constant) and s.value.value is None):
            raise self.error(s, "a kernel cannot return a value (write results to an array)")
        self.emit("jmp", target=self.exit)

    def move(self, dst: Val, value: Val, node, retarget: bool = True) -> None:
        if dst.ty == "i32" and value.ty == "f32":
            raise self.error(node, "cannot assign a float32 value to an int32 variable (initialise it with a float, "
                                   "e.g. 0.0, or convert with int(...))")
        value = self.to_type(value, dst.ty)
        if value.is_const:
            imm = int(value.const) if dst.ty == "i32" else int(np.float32(value.const).view(np.int32))
            self.emit("li", d=dst.reg, imm=imm)
        elif retarget and value.temp and self.fn.ops and isinstance(self.fn.ops[-1], Op) \
                and self.fn.ops[-1].d is value.reg \
                and self.fn.ops[-1].writes() is value.reg:
            self.fn.ops[-1].d = dst.reg  # write the variable directly instead of a temporary and a move
        else:
            self.emit("mov", d=dst.reg, a=value.reg)

    def assign(self, target: ast.expr, value_node: ast.expr) -> None:
        if isinstance(target, ast.Name):
            if isinstance(value_node, ast.Call) and self.static(value_node.func) is wsi.local.array:
                self.bind(target.id, self.local_array(value_node, target.id))
                return
            value = self.expr(value_node)
            try:
                current = self.lookup(target.id)
            except KeyError:
                current = None
            if isinstance(value, Val):
                if isinstance(current, Val) and current.reg is not None:
                    self.move(current, value, target)
                    return
                if value.is_const or not value.temp:
                    reg = Val(value.ty, self.new_reg(value.ty, target.id))
                    self.move(reg, value, target)
                    self.bind(target.id, reg)
                else:
                    value.reg.hint = target.id
                    self.bind(target.id, Val(value.ty, value.reg))
            else:
                self.bind(target.id, value)
        elif isinstance(target, ast.Tuple):
            value = self.expr(value_node)
            if not isinstance(value, Tup) or len(value.items) != len(target.elts):
                raise self.error(target, "cannot unpack this value into that many names")
            for name, item in zip(target.elts, value.items):
                if not isinstance(name, ast.Name) or not isinstance(item, Val):
                    raise self.error(name, "only numbers can be unpacked, into names")
                self.bind(name.id, self._own(item, name.id))
        elif isinstance(target, ast.Subscript):
            self.store_subscript(target, value_node)
        else:
            raise self.error(target, f"cannot assign to {type(target).__name__}")

    def _own(self, item: Val, name: str) -> Val:
        """A variable register for `name` holding `item` (adopting a fresh temporary when possible)."""
        if item.temp:
            item.reg.hint = name
            return Val(item.ty, item.reg)
        reg = Val(item.ty, self.new_reg(item.ty, name))
        self.move(reg, item, None)
        return reg

    def if_statement(self, s: ast.If) -> None:
        cond = self.truth(self.scalar(s.test))
        if cond.is_const:  # fold: only the branch that runs is compiled
            self.statements(s.body if cond.const else s.orelse)
            return
        otherwise, done = self.new_label("else"), self.new_label("endif")
        self.emit("bz", a=cond.reg, target=otherwise if s.orelse else done)
        self.statements(s.body)
        if s.orelse:
            self.emit("jmp", target=done)
            self.place(otherwise)
            self.statements(s.orelse)
        self.place(done)

    def while_statement(self, s: ast.While) -> None:
        if s.orelse:
            raise self.error(s, "while ... else is not supported")
        top, test, done = self.new_label("while"), self.new_label("wtest"), self.new_label("wend")
        self.emit("jmp", target=test)
        self.place(top)
        self.loops.append((test, done))
        self.statements(s.body)
        self.loops.pop()
        self.place(test)
        self.line = s.lineno + self.first_line - 1 if len(self.inlining) == 1 else self.line
        cond = self.truth(self.scalar(s.test))
        if cond.is_const:
            if cond.const:
                self.emit("jmp", target=top)
        else:
            self.emit("bnz", a=cond.reg, target=top)
        self.place(done)

    def for_statement(self, s: ast.For) -> None:
        if s.orelse:
            raise self.error(s, "for ... else is not supported")
        if not isinstance(s.target, ast.Name):
            raise self.error(s.target, "a for loop needs a single name as its variable")
        iterable = s.iter
        if isinstance(iterable, (ast.Tuple, ast.List)):  # unrolled over compile-time constants
            values = [self.static(e) for e in iterable.elts]
            if any(v is _NOT_STATIC for v in values):
                raise self.error(iterable, "a loop over a tuple needs compile-time constants, e.g. "
                                           "(ws.NORTH, ws.SOUTH)")
            done = self.new_label("uend")
            for value in values:
                following = self.new_label("unext")
                self.bind(s.target.id, self.const(value))
                self.loops.append((following, done))
                self.statements(s.body)
                self.loops.pop()
                self.place(following)
            self.place(done)
            return
        if not (isinstance(iterable, ast.Call) and self.static(iterable.func) is range):
            raise self.error(iterable, "for loops run over range(...) or a tuple of constants")
        args = [self.scalar(a) for a in iterable.args]
        if not 1 <= len(args) <= 3 or any(a.ty != "i32" for a in args):
            raise self.error(iterable, "range() takes 1 to 3 int32 arguments")
        start, stop, step = (Val("i32", const=0), args[0], Val("i32", const=1)) if len(args) == 1 else \
            (args[0], args[1], args[2] if len(args) == 3 else Val("i32", const=1))
        if not step.is_const or step.const == 0:
            raise self.error(iterable, "range() step must be a non-zero constant")
        # A hidden counter drives the loop; the variable gets a copy each iteration, so assigning to it in
        # the body does not change the iteration and after the loop it holds the last value, as in Python.
        counter = Val("i32", self.new_reg("i32", "i"))
        self.move(counter, start, s)
        try:
            var = self.lookup(s.target.id)
            if not (isinstance(var, Val) and var.reg is not None and var.ty == "i32"):
                raise KeyError
        except KeyError:
            var = Val("i32", self.new_reg("i32", s.target.id))
            self.bind(s.target.id, var)
        limit = stop if stop.is_const else Val("i32", self.new_reg("i32", "stop"))
        if not stop.is_const:
            self.emit("mov", d=limit.reg, a=stop.reg)
        top, cont, test, done = (self.new_label("for"), self.new_label("fnext"), self.new_label("ftest"),
                                 self.new_label("fend"))
        self.emit("jmp", target=test)
        self.place(top)
        self.emit("mov", d=var.reg, a=counter.reg)
        self.loops.append((cont, done))
        self.statements(s.body)
        self.loops.pop()
        self.place(cont)
        self.emit("addi", d=counter.reg, a=counter.reg, imm=int(step.const))
        self.place(test)
        first, second = (counter, limit) if step.const > 0 else (limit, counter)
        cond = self.result("slt", "i32", a=self.reg_of(first), b=self.reg_of(second))
        self.emit("bnz", a=cond.reg, target=top)
        self.place(done)

    # ------------------------------------------------------------------ compile-time names
    def static(self, node: ast.expr):
        """The Python object a name or attribute chain denotes at compile time, or _NOT_STATIC."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            try:
                value = self.lookup(node.id)
                if isinstance(value, Val) and value.is_const:
                    return value.const
                return _NOT_STATIC
            except KeyError:
                pass
            if node.id in self.globals:
                return self.globals[node.id]
            if hasattr(builtins, node.id):
                return getattr(builtins, node.id)
            raise _Unsupported(f"unknown name {node.id!r}")
        if isinstance(node, ast.Attribute):
            base = self.static(node.value)
            if base is _NOT_STATIC or isinstance(base, (wsi.Dim,)):
                return _NOT_STATIC
            if isinstance(base, (types.ModuleType, type)) or base is wsi.local or isinstance(base, wsi._Local):
                if not hasattr(base, node.attr):
                    raise _Unsupported(f"{getattr(base, '__name__', base)!r} has no attribute {node.attr!r}")
                return getattr(base, node.attr)
            return _NOT_STATIC
        if isinstance(node, ast.Tuple):
            items = tuple(self.static(e) for e in node.elts)
            return _NOT_STATIC if any(i is _NOT_STATIC for i in items) else items
        if isinstance(node, ast.BinOp) and type(node.op) in _STATIC_INT_OPS:
            left, right = self.static(node.left), self.static(node.right)  # e.g. a local array of T * T
            if isinstance(left, int) and isinstance(right, int) and not isinstance(left, bool) \
                    and not (isinstance(node.op, (ast.FloorDiv, ast.Mod)) and right == 0):
                return _STATIC_INT_OPS[type(node.op)](left, right)
            return _NOT_STATIC
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.static(node.operand)
            return -value if isinstance(value, (int, float)) else _NOT_STATIC
        return _NOT_STATIC

    # ------------------------------------------------------------------ expressions
    def scalar(self, node: ast.expr) -> Val:
        value = self.expr(node)
        if not isinstance(value, Val):
            raise self.error(node, f"expected a number here, got {_describe(value)}")
        return value

    def expr(self, node: ast.expr):
        try:
            return self._expr(node)
        except _Unsupported as exc:
            raise self.error(exc.node or node, str(exc)) from None

    def _expr(self, node: ast.expr):
        if isinstance(node, ast.Constant):
            return self.const(node.value)
        if isinstance(node, ast.Name):
            try:
                return self.lookup(node.id)
            except KeyError:
                value = self.static(node)
                if isinstance(value, (int, float, bool, np.number)):
                    return self.const(value)
                return value
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
        raise _Unsupported(f"unsupported expression in a kernel: {type(node).__name__}")

    def attribute(self, node: ast.Attribute):
        base_static = self.static(node.value)
        if isinstance(base_static, wsi.Dim):
            if node.attr not in base_static.registers:
                raise _Unsupported(f"{base_static.name} has .x and .y, not .{node.attr}")
            return self.special(base_static.registers[node.attr])
        static = self.static(node)
        if static is not _NOT_STATIC:
            if isinstance(static, (int, float, bool, np.number)):
                return self.const(static)
            return static
        base = self.expr(node.value)
        if isinstance(base, (GlobalArray, LocalArray)) and node.attr == "dtype":
            return np.dtype(np.float32 if base.dtype == "f32" else np.int32)
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
        raise _Unsupported(f"unsupported attribute .{node.attr} of {_describe(base)}")

    def special(self, name: str) -> Val:
        return self.result("sreg", "i32", imm=SPECIAL_REGISTERS.index(name))

    # arithmetic -------------------------------------------------------
    def binary(self, node: ast.BinOp):
        left, right = self.expr(node.left), self.expr(node.right)
        if not isinstance(left, Val) or not isinstance(right, Val):
            raise _Unsupported("slices compute only in an assignment to a slice, e.g. a[0:n] = b[0:n] * 2.0")
        return self.arith(node.op, left, right)

    def arith(self, op: ast.operator, a: Val, b: Val) -> Val:
        if a.is_const and b.is_const:
            return self.fold(op, a, b)
        if isinstance(op, ast.Div):
            a, b = self.to_type(a, "f32"), self.to_type(b, "f32")
            return self.result("fdiv", "f32", a=self.reg_of(a), b=self.reg_of(b))
        ty = "f32" if "f32" in (a.ty, b.ty) else "i32"
        a, b = self.to_type(a, ty), self.to_type(b, ty)
        if ty == "f32":
            table = {ast.Add: "fadd", ast.Sub: "fsub", ast.Mult: "fmul"}
            if type(op) in table:
                return self.result(table[type(op)], "f32", a=self.reg_of(a), b=self.reg_of(b))
            if isinstance(op, (ast.FloorDiv, ast.Mod)):
                raise _Unsupported("// and % on float32 values are not supported; use int(...) first")
            raise _Unsupported(f"operator {type(op).__name__} is not defined for float32")
        table = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.BitAnd: "and", ast.BitOr: "or",
                 ast.BitXor: "xor", ast.LShift: "shl", ast.RShift: "sra"}
        immediate = {ast.Add: "addi", ast.Mult: "muli", ast.BitAnd: "andi", ast.BitOr: "ori", ast.BitXor: "xori",
                     ast.LShift: "shli", ast.RShift: "srai"}
        if type(op) in immediate and b.is_const and -8192 <= b.const <= 8191:
            return self.result(immediate[type(op)], "i32", a=self.reg_of(a), imm=int(b.const))
        if isinstance(op, ast.Sub) and b.is_const and -8191 <= b.const <= 8192:
            return self.result("addi", "i32", a=self.reg_of(a), imm=-int(b.const))
        if type(op) in table:
            return self.result(table[type(op)], "i32", a=self.reg_of(a), b=self.reg_of(b))
        if isinstance(op, (ast.FloorDiv, ast.Mod)):
            return self.floor_div_mod(op, a, b)
        if isinstance(op, ast.Pow):
            raise _Unsupported("** needs a constant exponent on both sides; write the product out")
        raise _Unsupported(f"operator {type(op).__name__} is not supported")

    def floor_div_mod(self, op, a: Val, b: Val) -> Val:
        """Python's floor division and modulo from the ISA's truncating ones."""
        ra, rb = self.reg_of(a), self.reg_of(b)
        if b.is_const and b.const == 0:
            raise _Unsupported("integer division by zero")
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

    def fold(self, op, a: Val, b: Val) -> Val:
        x, y = a.const, b.const
        if isinstance(op, ast.Div):
            if y == 0:
                raise _Unsupported("division by zero in a constant expression")
            return self.const(float(np.float32(x) / np.float32(y)))
        py = {ast.Add: lambda: x + y, ast.Sub: lambda: x - y, ast.Mult: lambda: x * y,
              ast.FloorDiv: lambda: x // y, ast.Mod: lambda: x % y, ast.Pow: lambda: x ** y,
              ast.BitAnd: lambda: x & y, ast.BitOr: lambda: x | y, ast.BitXor: lambda: x ^ y,
              ast.LShift: lambda: x << y, ast.RShift: lambda: x >> y}
        try:
            value = py[type(op)]()
        except (ZeroDivisionError, TypeError, KeyError):
            raise _Unsupported(f"cannot evaluate {type(op).__name__} on constants {x!r} and {y!r}") from None
        if "f32" in (a.ty, b.ty):
            return self.const(float(np.float32(value)))
        return Val("i32", const=int(np.int64(value).astype(np.int32)) if isinstance(value, int) else value)

    def unary(self, node: ast.UnaryOp) -> Val:
        v = self.scalar(node.operand)
        if isinstance(node.op, ast.UAdd):
            return v
        if v.is_const:
            if isinstance(node.op, ast.USub):
                return self.const(-v.const) if v.ty == "f32" else Val("i32", const=int(np.int32(-v.const)))
            if isinstance(node.op, ast.Not):
                return self.const(not v.const)
            if isinstance(node.op, ast.Invert) and v.ty == "i32":
                return self.const(~v.const)
        if isinstance(node.op, ast.USub):
            return self.result("fneg" if v.ty == "f32" else "neg", v.ty, a=v.reg)
        if isinstance(node.op, ast.Not):
            return self.result("seq", "i32", a=self.truth(v).reg, b=0)
        if isinstance(node.op, ast.Invert) and v.ty == "i32":
            return self.result("xori", "i32", a=v.reg, imm=-1)
        raise _Unsupported(f"unsupported unary operator {type(node.op).__name__}")

    def compare(self, node: ast.Compare) -> Val:
        if len(node.ops) > 1:  # a < b < c: each operand evaluated once, stopping at the first false
            out = Val("i32", self.new_reg("i32", "chain"))
            done = self.new_label("chain")
            left = self.scalar(node.left)
            for k, (op, right_node) in enumerate(zip(node.ops, node.comparators)):
                right = self.scalar(right_node)
                self.move(out, self.compare_values(op, left, right), node, retarget=False)
                if k + 1 < len(node.ops):
                    self.emit("bz", a=out.reg, target=done)
                left = right
            self.place(done)
            return Val("i32", out.reg)
        return self.compare_values(node.ops[0], self.scalar(node.left), self.scalar(node.comparators[0]))

    def compare_values(self, op: ast.cmpop, a: Val, b: Val) -> Val:
        if a.is_const and b.is_const:
            py = {ast.Lt: lambda x, y: x < y, ast.LtE: lambda x, y: x <= y, ast.Gt: lambda x, y: x > y,
                  ast.GtE: lambda x, y: x >= y, ast.Eq: lambda x, y: x == y, ast.NotEq: lambda x, y: x != y}
            return self.const(py[type(op)](a.const, b.const))
        ty = "f32" if "f32" in (a.ty, b.ty) else "i32"
        a, b = self.to_type(a, ty), self.to_type(b, ty)
        names = {ast.Lt: ("slt", False), ast.LtE: ("sle", False), ast.Gt: ("slt", True), ast.GtE: ("sle", True),
                 ast.Eq: ("seq", False), ast.NotEq: ("sne", False)}
        if type(op) not in names:
            raise _Unsupported(f"comparison {type(op).__name__} is not supported")
        name, swap = names[type(op)]
        if ty == "f32":
            name = {"slt": "flt", "sle": "fle", "seq": "feq", "sne": "fne"}[name]
        x, y = (b, a) if swap else (a, b)
        if name in ("slt", "seq") and y.is_const and -8192 <= y.const <= 8191 and not x.is_const:
            return self.result(name + "i", "i32", a=x.reg, imm=int(y.const))
        return self.result(name, "i32", a=self.reg_of(x), b=self.reg_of(y))

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
                self.emit("bz" if is_and else "bnz", a=self.truth(value).reg, target=done)
        out = Val("f32" if any(v.ty == "f32" for _, v in results) else "i32")
        out.reg = self.new_reg(out.ty, "bool")
        self.insert_moves(out, results, node)
        self.place(done)
        return Val(out.ty, out.reg)

    def insert_moves(self, out: Val, results: list[tuple[int, Val]], node) -> None:
        """Insert `out = value` at each recorded position (later positions first, so earlier ones stay valid)."""
        for position, value in sorted(results, key=lambda item: -item[0]):
            tail = self.fn.ops[position:]
            del self.fn.ops[position:]
            # Write the result register directly when nothing later reads the operand's own register.
            read_later = any(value.reg in op.reads() for op in tail if isinstance(op, Op))
            self.move(out, value, node, retarget=not read_later)
            self.fn.ops.extend(tail)

    def if_exp(self, node: ast.IfExp) -> Val:
        cond = self.truth(self.scalar(node.test))
        if cond.is_const:
            return self.scalar(node.body if cond.const else node.orelse)
        otherwise, done = self.new_label("ielse"), self.new_label("iend")
        self.emit("bz", a=cond.reg, target=otherwise)
        first = self.scalar(node.body)
        results = [(len(self.fn.ops), first)]
        self.emit("jmp", target=done)
        self.place(otherwise)
        second = self.scalar(node.orelse)
        results.append((len(self.fn.ops), second))
        out = Val("f32" if "f32" in (first.ty, second.ty) else "i32")
        out.reg = self.new_reg(out.ty, "sel")
        self.insert_moves(out, results, node)
        self.place(done)
        return Val(out.ty, out.reg)

    # calls -----------------------------------------------------------
    def call(self, node: ast.Call):
        callee = self.static(node.func)
        if callee is _NOT_STATIC:
            raise _Unsupported("only intrinsics, math functions and @ws.jit functions can be called in a kernel")
        args = node.args
        kwargs = {k.arg: k.value for k in node.keywords}
        if callee is wsi.grid or callee is wsi.gridsize:
            ndim = self.static(args[0]) if args else None
            if ndim not in (1, 2):
                raise _Unsupported(f"ws.{callee.name}() takes 1 or 2")
            if callee is wsi.grid:
                coords = []
                for axis in "xy"[:ndim]:
                    tid, bid, bdim = (self.special(f"{k}.{axis}") for k in ("tid", "bid", "bdim"))
                    coords.append(self.arith(ast.Add(), tid, self.arith(ast.Mult(), bid, bdim)))
            else:
                coords = [self.arith(ast.Mult(), self.special(f"gdim.{a}"), self.special(f"bdim.{a}"))
                          for a in "xy"[:ndim]]
            return coords[0] if ndim == 1 else Tup(tuple(coords))
        if callee is wsi.has_neighbor:
            return self.result("hasnb", "i32", dir=self.direction(args[0]))
        if callee is wsi.syncthreads:
            self.emit("bar")
            return Val("i32", const=0)
        if callee is wsi.send:
            return self.send(node, args, kwargs)
        if callee is wsi.recv:
            return self.recv(node, args, kwargs)
        if callee is wsi.local.array:
            raise _Unsupported("ws.local.array(...) must be assigned to a name: buf = ws.local.array(shape, dtype)")
        if callee is wsi.fma:
            a, b, c = (self.to_type(self.scalar(x), "f32") for x in args)
            return self.result("fma", "f32", a=self.reg_of(a), b=self.reg_of(b), c=self.reg_of(c))
        if callee is wsi.print_:
            return self.debug_print(node, args)
        unary = {math.sqrt: "fsqrt", math.exp: "fexp", math.log: "flog", math.tanh: "ftanh",
                 np.sqrt: "fsqrt", np.exp: "fexp", np.log: "flog", np.tanh: "ftanh"}
        if callee in unary:
            _arity(node, args, 1)
            v = self.to_type(self.scalar(args[0]), "f32")
            if v.is_const:
                return self.const(float(getattr(np, unary[callee][1:])(np.float32(v.const))))
            return self.result(unary[callee], "f32", a=v.reg)
        if callee is abs:
            _arity(node, args, 1)
            v = self.scalar(args[0])
            if v.is_const:
                return self.const(abs(v.const))
            return self.result("fabs" if v.ty == "f32" else "abs", v.ty, a=v.reg)
        if callee in (min, max):
            if len(args) < 2:
                raise _Unsupported(f"{callee.__name__}() needs at least two values in a kernel")
            values = [self.scalar(a) for a in args]
            result = values[0]
            for v in values[1:]:
                ty = "f32" if "f32" in (result.ty, v.ty) else "i32"
                x, y = self.to_type(result, ty), self.to_type(v, ty)
                if x.is_const and y.is_const:
                    result = self.const(callee(x.const, y.const))
                    continue
                name = ("f" if ty == "f32" else "") + callee.__name__
                result = self.result(name, ty, a=self.reg_of(x), b=self.reg_of(y))
            return result
        if callee in (int, np.int32):
            v = self.scalar(args[0])
            if v.is_const:
                return self.const(int(v.const))
            return v if v.ty == "i32" else self.result("ftoi", "i32", a=v.reg)
        if callee in (float, np.float32):
            return self.to_type(self.scalar(args[0]), "f32")
        if getattr(callee, "__wafersim_jit__", False):
            return self.inline(node, callee.py_func, args)
        if callee is range:
            raise _Unsupported("range() is only for `for` loops")
        raise _Unsupported(f"{getattr(callee, '__name__', callee)!r} cannot be called in a kernel")

    def direction(self, node: ast.expr) -> int:
        value = self.static(node)
        if value is _NOT_STATIC:
            value = self.expr(node)
            value = value.const if isinstance(value, Val) and value.is_const else None
        if value not in (0, 1, 2, 3):
            raise _Unsupported("a direction must be a constant: ws.NORTH, ws.EAST, ws.SOUTH or ws.WEST", node)
        return int(value)

    def channel(self, kwargs, node) -> int:
        if "channel" not in kwargs:
            return 0
        value = self.static(kwargs["channel"])
        if not isinstance(value, int) or not 0 <= value < 16:
            raise _Unsupported("channel= must be a constant from 0 to 15", kwargs["channel"])
        return value

    def send(self, node, args, kwargs) -> Val:
        if len(args) != 2:
            raise _Unsupported("ws.send(direction, value, channel=0) takes a direction and a value")
        direction, channel = self.direction(args[0]), self.channel(kwargs, node)
        value = self.expr(args[1])
        if isinstance(value, SliceRef):
            base, length = self.slice_registers(value, node)
            self.emit("sendv", dir=direction, ch=channel, a=base, b=length)
        elif isinstance(value, Val):
            self.emit("send", dir=direction, ch=channel, a=self.reg_of(value))
        else:
            raise _Unsupported(f"cannot send {_describe(value)}")
        return Val("i32", const=0)

    def recv(self, node, args, kwargs) -> Val:
        if len(args) != 1:
            raise _Unsupported("ws.recv(direction, channel=0) takes one direction")
        direction, channel = self.direction(args[0]), self.channel(kwargs, node)
        if "out" in kwargs:
            target = self.expr(kwargs["out"])
            if not isinstance(target, SliceRef) or not isinstance(target.array, LocalArray):
                raise _Unsupported("recv(out=...) needs a slice of a local array")
            base, length = self.slice_registers(target, node)
            self.emit("recvv", dir=direction, ch=channel, a=base, b=length)
            return Val("i32", const=0)
        ty = "f32"  # words arrive untyped; kernels exchange float32 unless told otherwise
        if "dtype" in kwargs:
            dtype = self.static(kwargs["dtype"])
            if dtype is _NOT_STATIC:
                dtype = self.expr(kwargs["dtype"])  # e.g. values.dtype of an array argument
            try:
                ty = DTYPES[np.dtype(dtype)]
            except (TypeError, KeyError):
                raise _Unsupported("recv dtype= must be np.float32 or np.int32 (or an array's .dtype)",
                                   kwargs["dtype"]) from None
        return self.result("recv", ty, dir=direction, ch=channel)

    def debug_print(self, node, args) -> Val:
        label = ""
        if args and isinstance(self.static(args[0]), str):
            label, args = self.static(args[0]), args[1:]
        if len(args) != 1:
            raise _Unsupported("ws.print([label,] value) prints one value")
        value = self.scalar(args[0])
        self.emit("print", a=self.reg_of(value), imm=self.string(label), flags=1 if value.ty == "f32" else 0)
        return Val("i32", const=0)

    def inline(self, node: ast.Call, func: Callable, args) -> Val:
        if func in self.inlining:
            raise _Unsupported(f"recursive call to {func.__name__} (device functions are inlined)")
        values = [self.expr(a) for a in args]
        tree = ast.parse(textwrap.dedent(inspect.getsource(func))).body[0]
        params = [a.arg for a in tree.args.args]
        if len(params) != len(values):
            raise _Unsupported(f"{func.__name__}() takes {len(params)} argument(s), got {len(values)}")
        saved_globals, saved_scopes = self.globals, self.scopes
        self.globals = dict(func.__globals__)
        if func.__closure__:
            self.globals.update(zip(func.__code__.co_freevars, (c.cell_contents for c in func.__closure__)))
        scope = {}
        for name, value in zip(params, values):
            if isinstance(value, Val) and value.temp:
                value = Val(value.ty, value.reg)
            elif isinstance(value, Val) and not value.is_const:
                copy = Val(value.ty, self.new_reg(value.ty, name))
                self.move(copy, value, node)
                value = copy
            scope[name] = value
        self.scopes = [scope]
        self.inlining.append(func)
        done = self.new_label(f"ret_{func.__name__}_")
        results: list[Val] = []
        self.return_target.append((done, results))
        try:
            self.statements(tree.body)
        finally:
            self.return_target.pop()
            self.inlining.pop()
            self.globals, self.scopes = saved_globals, saved_scopes
        self.place(done)
        return Val(results[0].ty, results[0].reg) if results else Val("i32", const=0)

    # arrays ----------------------------------------------------------
    def local_array(self, node: ast.Call, name: str) -> LocalArray:
        shape = self.static(node.args[0]) if node.args else None
        dtype = self.static(node.args[1]) if len(node.args) > 1 else self.static(node.keywords[0].value) \
            if node.keywords else np.float32
        if isinstance(shape, int):
            shape = (shape,)
        if not (isinstance(shape, tuple) and 1 <= len(shape) <= 2 and all(isinstance(n, int) and n > 0 for n in shape)):
            raise _Unsupported("ws.local.array needs a constant shape: an int or a tuple of 1 or 2 positive ints")
        try:
            ty = DTYPES[np.dtype(dtype)]
        except (TypeError, KeyError):
            raise _Unsupported("ws.local.array dtype must be np.float32 or np.int32") from None
        array = LocalArray(name, ty, self.fn.local_words, shape)
        self.fn.local_words += array.size
        self.fn.local_arrays.append((name, array.size, shape))
        return array

    def index_value(self, node: ast.expr, what: str) -> Val:
        v = self.scalar(node)
        if v.ty != "i32":
            raise _Unsupported(f"{what} must be an int32, not a float32", node)
        return v

    def string(self, text: str) -> int:
        """The program's string number for `text` (used by print and bounds-check messages)."""
        if text not in self.fn.strings:
            self.fn.strings.append(text)
        return self.fn.strings.index(text)

    def check_index(self, index: Val, size: Val, what: str) -> None:
        """Stop with a MemoryAccessError unless 0 <= index < size (one `chk`, unless known at compile time)."""
        if index.is_const and size.is_const:
            if not 0 <= index.const < size.const:
                raise _Unsupported(f"{what}: index {index.const} is out of bounds for size {size.const}")
            return
        if self.boundscheck:
            self.emit("chk", a=self.reg_of(index), b=self.reg_of(size), imm=self.string(what))

    def element_address(self, array, index_nodes: list[ast.expr], node) -> tuple[Val, int]:
        """(register-or-constant word offset within the array, number of index dims)."""
        ndim = len(array.shape)
        if len(index_nodes) != ndim:
            raise _Unsupported(f"{array.name} has {ndim} dimension(s) but {len(index_nodes)} index(es) were given")
        indices = [self.index_value(n, "an array index") for n in index_nodes]
        for axis, (index, n) in enumerate(zip(indices, index_nodes)):
            size = self.const(array.shape[axis]) if isinstance(array, LocalArray) else array.shape[axis]
            try:
                self.check_index(index, size, f"{array.name} axis {axis}")
            except _Unsupported as exc:
                raise _Unsupported(str(exc), n) from None
        if ndim == 1:
            return indices[0], 1
        cols = self.const(array.shape[1]) if isinstance(array, LocalArray) else array.shape[1]
        return self.arith(ast.Add(), self.arith(ast.Mult(), indices[0], cols), indices[1]), 2

    def subscript_parts(self, node: ast.Subscript) -> list[ast.expr]:
        return list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]

    def load_subscript(self, node: ast.Subscript):
        base = self.expr(node.value)
        parts = self.subscript_parts(node)
        if isinstance(base, Tup):
            index = self.static(parts[0])
            if not isinstance(index, int) or not -len(base.items) <= index < len(base.items):
                raise _Unsupported("a tuple index must be a constant within range")
            return base.items[index]
        if not isinstance(base, (GlobalArray, LocalArray)):
            raise _Unsupported(f"cannot index {_describe(base)}")
        if any(isinstance(p, ast.Slice) for p in parts):
            return self.slice_ref(base, parts, node)
        offset, _ = self.element_address(base, parts, node)
        if isinstance(base, LocalArray):
            if offset.is_const:
                if not 0 <= offset.const < base.size:
                    raise _Unsupported(f"index {offset.const} is out of bounds for {base.name} of size {base.size}")
                out = self.new_reg(base.dtype)
                self.emit("ld", d=out, a=0, imm=base.base + int(offset.const), reloc="local")
                return Val(base.dtype, out, temp=True)
            out = self.new_reg(base.dtype)
            self.emit("ld", d=out, a=offset.reg, imm=base.base, reloc="local")
            return Val(base.dtype, out, temp=True)
        address = self.global_address(base, offset)
        out = self.new_reg(base.dtype)
        self.emit("gld", d=out, a=address, imm=0)
        return Val(base.dtype, out, temp=True)

    def global_address(self, array: GlobalArray, offset: Val) -> VReg:
        byte = self.arith(ast.LShift(), offset, Val("i32", const=2))
        return self.arith(ast.Add(), array.ptr, byte).reg

    def slice_ref(self, array, parts: list[ast.expr], node) -> SliceRef:
        if isinstance(array, LocalArray) and len(array.shape) == 2:  # a row of a 2-D local array: t[i, a:b]
            if len(parts) != 2 or isinstance(parts[0], ast.Slice) or not isinstance(parts[1], ast.Slice):
                raise _Unsupported("a slice of a 2-D local array is a row: t[i, a:b]")
            row = self.index_value(parts[0], "the row index")
            self.check_index(row, self.const(array.shape[0]), f"{array.name} axis 0")
            start, length = self.slice_bounds(parts[1], self.const(array.shape[1]), f"{array.name} row slice")
            return SliceRef(array, self.arith(ast.Add(), self.arith(ast.Mult(), row, self.const(array.shape[1])),
                                              start), length)
        if isinstance(array, GlobalArray) and len(array.shape) == 2:
            if len(parts) != 2 or isinstance(parts[0], ast.Slice) or not isinstance(parts[1], ast.Slice):
                raise _Unsupported("a slice of a 2-D global array is a row: u[y, a:b]")
            row = self.index_value(parts[0], "the row index")
            self.check_index(row, array.shape[0], f"{array.name} axis 0")
            start, length = self.slice_bounds(parts[1], array.shape[1], f"{array.name} row slice")
            row_start = self.arith(ast.Add(), self.arith(ast.Mult(), row, array.shape[1]), start)
            return SliceRef(array, row_start, length)
        if len(parts) != 1 or len(array.shape) != 1:
            raise _Unsupported("slices are 1-D: buf[i:j] of a 1-D local array, x[a:b] or u[y, a:b] of a global one")
        size = self.const(array.shape[0]) if isinstance(array, LocalArray) else array.shape[0]
        start, length = self.slice_bounds(parts[0], size, f"{array.name} slice")
        if isinstance(array, LocalArray) and start.is_const and length.is_const:
            if start.const < 0 or start.const + length.const > array.size:
                raise _Unsupported(f"slice [{start.const}:{start.const + length.const}] is out of bounds for "
                                   f"{array.name} of size {array.size}")
        return SliceRef(array, start, length)

    def slice_bounds(self, s: ast.Slice, size: Val, what: str = "slice") -> tuple[Val, Val]:
        if s.step is not None:
            raise _Unsupported("slices with a step are not supported")
        start = self.index_value(s.lower, "a slice bound") if s.lower is not None else Val("i32", const=0)
        stop = self.index_value(s.upper, "a slice bound") if s.upper is not None else size
        if not (start.is_const and stop.is_const and size.is_const):  # 0 <= start <= stop <= size
            limit = self.arith(ast.Add(), size, Val("i32", const=1))
            self.check_index(start, limit, f"{what} start")
            self.check_index(stop, limit, f"{what} end")
            self.check_index(self.arith(ast.Sub(), stop, start), limit, f"{what} length")
        return start, self.arith(ast.Sub(), stop, start)

    def slice_registers(self, ref: SliceRef, node) -> tuple[VReg | int, VReg | int]:
        """Registers holding an SRAM word address and a length for a local slice."""
        if not isinstance(ref.array, LocalArray):
            raise _Unsupported("only slices of local arrays can be sent or received")
        return self.sram_address(ref.array, ref.start), self.reg_of(ref.length)

    def sram_address(self, array: LocalArray, start: Val) -> VReg:
        out = self.new_reg("i32")
        if start.is_const:
            self.emit("li", d=out, imm=array.base + int(start.const), reloc="local")
        else:
            self.emit("addi", d=out, a=start.reg, imm=array.base, reloc="local")
        return out

    def store_subscript(self, target: ast.Subscript, value_node: ast.expr) -> None:
        base = self.expr(target.value)
        parts = self.subscript_parts(target)
        if not isinstance(base, (GlobalArray, LocalArray)):
            raise _Unsupported(f"cannot assign into {_describe(base)}")
        if any(isinstance(p, ast.Slice) for p in parts):
            self.store_slice(self.slice_ref(base, parts, target), value_node, target)
            return
        value = self.scalar(value_node)
        if base.dtype == "i32" and value.ty == "f32":
            raise _Unsupported(f"cannot store a float32 into int32 array {base.name}; convert with int(...)")
        value = self.to_type(value, base.dtype)
        offset, _ = self.element_address(base, parts, target)
        if isinstance(base, LocalArray):
            if offset.is_const:
                if not 0 <= offset.const < base.size:
                    raise _Unsupported(f"index {offset.const} is out of bounds for {base.name} of size {base.size}")
                self.emit("st", d=self.reg_of(value), a=0, imm=base.base + int(offset.const), reloc="local")
            else:
                self.emit("st", d=self.reg_of(value), a=offset.reg, imm=base.base, reloc="local")
            return
        self.emit("gst", d=self.reg_of(value), a=self.global_address(base, offset), imm=0)

    # vector assignment ---------------------------------------------------
    def store_slice(self, dst: SliceRef, value_node: ast.expr, target: ast.expr) -> None:
        """`dst[...] = <expression of slices and scalars>` as vector instructions (no element loop)."""
        if isinstance(value_node, ast.BinOp) or _is_minmax(self, value_node):
            if not isinstance(dst.array, LocalArray):
                raise _Unsupported("vector arithmetic writes a local slice; store it to global memory after")
            self.vector_expr(value_node, dst, target)
            return
        source = self.expr(value_node)
        if isinstance(source, SliceRef):
            self.copy_slice(dst, source)
        elif isinstance(source, Val):
            if not isinstance(dst.array, LocalArray):
                raise _Unsupported("a global slice can only be assigned a local slice: x[a:a + n] = buf[0:n]")
            value = self.to_type(source, dst.array.dtype)
            self.emit("vfill", d=self.sram_address(dst.array, dst.start), b=self.reg_of(value),
                      c=self.reg_of(dst.length))
        else:
            raise _Unsupported(f"cannot assign {_describe(source)} to a slice")

    def copy_slice(self, dst: SliceRef, src: SliceRef) -> None:
        if isinstance(dst.array, LocalArray) and isinstance(src.array, LocalArray):
            self.emit("vcopy", d=self.sram_address(dst.array, dst.start), a=self.sram_address(src.array, src.start),
                      c=self.reg_of(dst.length))
        elif isinstance(dst.array, LocalArray):  # global -> local: one bulk load
            address = self.global_address(src.array, src.start)
            self.emit("gldv", d=self.sram_address(dst.array, dst.start), a=address, c=self.reg_of(dst.length))
        elif isinstance(src.array, LocalArray):  # local -> global: one bulk store
            address = self.global_address(dst.array, dst.start)
            self.emit("gstv", a=address, b=self.sram_address(src.array, src.start), c=self.reg_of(dst.length))
        else:
            raise _Unsupported("copy between two global arrays: stage it through a local array")

    def vector_expr(self, node: ast.expr, dst: SliceRef, target: ast.expr) -> None:
        """Evaluate a tree of + - * min max over slices and scalars into dst, one vector op per operator."""
        ty = dst.array.dtype
        flags = 1 if ty == "f32" else 0
        length = self.reg_of(dst.length)
        d_addr = self.sram_address(dst.array, dst.start)
        # dst = a * b + dst (or dst + a * b), a slice times a slice or a scalar: one fused multiply-add
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            for product, other in ((node.left, node.right), (node.right, node.left)):
                if isinstance(product, ast.BinOp) and isinstance(product.op, ast.Mult) and \
                        ast.unparse(other) == ast.unparse(target):
                    a, b = self.vector_operand(product.left, ty), self.vector_operand(product.right, ty)
                    if isinstance(a, Val):
                        a, b = b, a
                    if isinstance(a, VReg):
                        scalar = isinstance(b, Val)
                        self.emit("vfma", d=d_addr, a=a, b=self.reg_of(b) if scalar else b, c=length,
                                  flags=flags | (2 if scalar else 0))
                        return
        if self.reads_destination_late(node, dst):
            # dst is read after the first operator would overwrite it: compute in scratch, then copy.
            self.fn.scratch_words = max(self.fn.scratch_words, dst.array.size)
            scratch = self.new_reg("i32")
            self.emit("li", d=scratch, imm=0, reloc="scratch")
            self.vector_into(node, scratch, length, ty, flags, top=True)
            self.emit("vcopy", d=d_addr, a=scratch, c=length)
            return
        self.vector_into(node, d_addr, length, ty, flags, top=True)

    def reads_destination_late(self, node: ast.expr, dst: SliceRef) -> bool:
        """Whether an operand other than the first one evaluated names the destination's array."""
        leaves = []

        def walk(n):
            if isinstance(n, ast.BinOp):
                walk(n.left)
                walk(n.right)
            elif _is_minmax(self, n):
                walk(n.args[0])
                walk(n.args[1])
            else:
                leaves.append(n)
        walk(node)
        def names_destination(leaf: ast.expr) -> bool:  # the same array object, under whatever name
            if not (isinstance(leaf, ast.Subscript) and isinstance(leaf.value, ast.Name)):
                return False
            try:
                return self.lookup(leaf.value.id) is dst.array
            except KeyError:
                return False
        return any(names_destination(leaf) for leaf in leaves[1:])

    def vector_operand(self, node: ast.expr, ty: str):
        """A VReg holding an SRAM address (slice operand), or a scalar Val."""
        value = self.expr(node)
        if isinstance(value, SliceRef):
            if not isinstance(value.array, LocalArray):
                raise _Unsupported("vector operands must be slices of local arrays (load global data first)")
            if value.array.dtype != ty:
                raise _Unsupported("vector operands must all have the destination's dtype")
            return self.sram_address(value.array, value.start)
        if isinstance(value, Val):
            if ty == "i32" and value.ty == "f32":
                raise _Unsupported("a float32 scalar cannot combine with an int32 slice")
            return self.to_type(value, ty)
        raise _Unsupported(f"{_describe(value)} cannot be a vector operand")

    def vector_into(self, node: ast.expr, d_addr: VReg, length, ty: str, flags: int, top: bool) -> None:
        ops = {ast.Add: "vadd", ast.Sub: "vsub", ast.Mult: "vmul"}
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            name = ops[type(node.op)]
            left_is_tree = isinstance(node.left, ast.BinOp) or _is_minmax(self, node.left)
            if left_is_tree:  # evaluate the left subtree into dst, then combine with the right
                self.vector_into(node.left, d_addr, length, ty, flags, top=False)
                left = d_addr
            else:
                left = self.vector_operand(node.left, ty)
            if isinstance(node.right, ast.BinOp) or _is_minmax(self, node.right):
                raise _Unsupported("nested vector expressions on the right: write them as separate assignments "
                                   "or put the larger subexpression first")
            right = self.vector_operand(node.right, ty)
            if isinstance(left, Val):  # scalar on the left: commute where possible
                if name == "vsub":
                    raise _Unsupported("scalar - slice: write -(slice - scalar) as two assignments")
                left, right = right, left
            if isinstance(right, Val):
                if name == "vmul":
                    self.emit("vscale", d=d_addr, a=left, b=self.reg_of(right), c=length, flags=flags)
                else:
                    self.emit(name, d=d_addr, a=left, b=self.reg_of(right), c=length, flags=flags | 2)
            else:
                self.emit(name, d=d_addr, a=left, b=right, c=length, flags=flags)
            return
        if _is_minmax(self, node):
            callee = self.static(node.func)
            left = self.vector_operand(node.args[0], ty)
            right = self.vector_operand(node.args[1], ty)
            if isinstance(left, Val):
                left, right = right, left
            name = "vmin" if callee is min else "vmax"
            self.emit(name, d=d_addr, a=left, b=self.reg_of(right) if isinstance(right, Val) else right, c=length,
                      flags=flags | (2 if isinstance(right, Val) else 0))
            return
        operand = self.vector_operand(node, ty)
        if isinstance(operand, Val):
            self.emit("vfill", d=d_addr, b=self.reg_of(operand), c=length)
        else:
            self.emit("vcopy", d=d_addr, a=operand, c=length)


class _NotStatic:
    def __repr__(self) -> str:
        return "<not static>"


_NOT_STATIC = _NotStatic()
_STATIC_INT_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
                   ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}


def _describe(value) -> str:
    return {GlobalArray: "a global array", LocalArray: "a local array", SliceRef: "a slice", Tup: "a tuple"}.get(
        type(value), repr(value))


def _arity(node, args, n: int) -> None:
    if len(args) != n:
        raise _Unsupported(f"this function takes {n} argument(s), got {len(args)}")


def _as_load(target: ast.expr) -> ast.expr:
    clone = ast.parse(ast.unparse(target), mode="eval").body
    return ast.copy_location(clone, target)


def _is_minmax(lowering: Lowering, node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    return lowering.static(node.func) in (min, max) and len(node.args) == 2


def lower(func: Callable, signature: KernelSignature, boundscheck: bool = True) -> IRFunction:
    """Lower a Python kernel to IR for one argument signature (with array bounds checks unless told not to)."""
    lowering = Lowering(func, signature, boundscheck)
    return lowering.lower()
