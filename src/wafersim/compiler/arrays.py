"""Arrays: local arrays in SRAM, element loads and stores with bounds checks, slices as vector operands,
and bulk copies between slices (local <-> local, global <-> local)."""
from __future__ import annotations

import ast
import builtins
import copy
import inspect
from typing import Callable

import numpy as np

from ..arch.values import is_integer, plural
from ..isa.halfprec import as_dtype
from ..isa.opcodes import SLICE_BOUND_CHECKS
from .core import closure_globals, read_source
from .halfprec import HalfLowering
from .ir import VReg
from .scalar_math import PREDICATES
from .values import (ARRAY_DTYPES, NOT_STATIC, GlobalArray, LocalArray, SliceRef, Tup, Unsupported, Val, copy_refusal,
                     describe)


_UNRESOLVED = object()


def _resolve(node: ast.expr, scope: dict) -> object:
    """What a name or a dotted name (`math.isnan`) of a device function's body stands for in `scope` (its
    globals and closure, then the builtins), or `_UNRESOLVED`."""
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        return getattr(builtins, node.id, _UNRESOLVED)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, scope)
        try:  # (an intrinsic's attribute raises outside a kernel: `ws.threadIdx.x`)
            return _UNRESOLVED if owner is _UNRESOLVED else getattr(owner, node.attr, _UNRESOLVED)
        except Exception:
            return _UNRESOLVED
    return _UNRESOLVED


def _by_form(node: ast.expr, judge: Callable[[ast.expr], bool], name: Callable[[ast.expr], bool],
             call: Callable[[ast.Call], bool]) -> bool:
    """Whether Python may give `node` a bool by its form: a bool constant, a comparison, `not`, an `and` / `or`,
    conditional expression or `:=` that may give one (`judge` judges the parts), `&`, `|`, `^` of two that
    may (`True | False` is True); a name, an item or an attribute as `name` judges it, a call as `call` does."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    if isinstance(node, ast.Compare) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
        return True
    if isinstance(node, ast.BoolOp):  # (`x and y` gives one of its operands)
        return any(judge(v) for v in node.values)
    if isinstance(node, ast.IfExp):
        return judge(node.body) or judge(node.orelse)
    if isinstance(node, ast.NamedExpr):
        return judge(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
        return judge(node.left) and judge(node.right)
    if isinstance(node, ast.Call):
        return call(node)
    if isinstance(node, (ast.Name, ast.Subscript, ast.Attribute)):
        return name(node)
    return False


#: Each variable's assignments in a function's tree, in `ast.walk`'s order: (False, the value expression) or
#: (True, a loop's iterable that is not a tuple display, which `_assigned` asks `static` for when asked).
Assignments = dict[str, list[tuple[bool, ast.expr]]]


def _assignments(tree: ast.AST) -> Assignments:
    """One walk of the function `tree`: what `_assigned` reads for every variable (`=`, `:=`, annotated,
    `b, c = x > 0, 1`, and the loops over tuples)."""
    index: Assignments = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign):
            for target in n.targets:
                if isinstance(target, ast.Name):
                    index.setdefault(target.id, []).append((False, n.value))
                elif isinstance(target, ast.Tuple) and isinstance(n.value, ast.Tuple) \
                        and len(target.elts) == len(n.value.elts):  # `b, c = x > 0, 1`
                    for t, v in zip(target.elts, n.value.elts):
                        if isinstance(t, ast.Name):
                            index.setdefault(t.id, []).append((False, v))
        elif isinstance(n, (ast.AnnAssign, ast.NamedExpr)) and isinstance(n.target, ast.Name) \
                and n.value is not None:
            index.setdefault(n.target.id, []).append((False, n.value))
        elif isinstance(n, ast.For) and isinstance(n.target, ast.Name):
            if isinstance(n.iter, ast.Tuple):  # `for f in (True, x > 0):`
                index.setdefault(n.target.id, []).extend((False, item) for item in n.iter.elts)
            else:  # `for f in FLAGS:` over a tuple of constants (judged when asked: what FLAGS is may vary)
                index.setdefault(n.target.id, []).append((True, n.iter))
    return index


def _assigned(index: Assignments, name: str, static: Callable[[ast.expr], object]) -> list[ast.expr]:
    """The expressions a function (its `_assignments`) assigns to the variable `name`, and for a loop over a
    tuple, the tuple's items (`static`: a loop's iterable as the compiler sees it)."""
    values = []
    for deferred, node in index.get(name, ()):
        if not deferred:
            values.append(node)
            continue
        try:
            items = static(node)
        except Unsupported:
            continue
        if isinstance(items, tuple):
            values += [ast.Constant(True) for item in items if isinstance(item, (bool, np.bool_))][:1]
    return values


#: Local arrays have up to this many axes (global array arguments: 1 or 2).
MAX_LOCAL_DIMENSIONS = 3


def subscript_parts(node: ast.Subscript) -> list[ast.expr]:
    return list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]


def as_load(target: ast.expr) -> ast.expr:
    """A copy of an assignment target that reads it, keeping every node's source location: an error in
    the read (`a[8] += 1.0`, a step in `a[0:8:2] += b[0:4]`) points at the statement's own line and
    column, not at the kernel's first line, where a re-parsed text would place it."""
    load = copy.deepcopy(target)
    for node in ast.walk(load):
        if isinstance(getattr(node, "ctx", None), ast.Store):
            node.ctx = ast.Load()
    return load


class ArrayLowering(HalfLowering):
    def local_array(self, node: ast.Call, name: str) -> LocalArray:
        """`ws.local.array(shape, dtype=np.float32)`: a static SRAM allocation."""
        kwargs = {k.arg: k.value for k in node.keywords}
        if set(kwargs) - {"shape", "dtype"} or len(node.args) > 2:
            raise Unsupported("ws.local.array takes (shape, dtype=np.float32)")
        shape_node = node.args[0] if node.args else kwargs.get("shape")
        dtype_node = node.args[1] if len(node.args) > 1 else kwargs.get("dtype")
        shape = self.static(shape_node) if shape_node is not None else None
        if shape is NOT_STATIC:  # (`ws.local.array(g.shape, ...)` of a local g)
            shape = self.constant_shape(shape_node) or NOT_STATIC
        dtype = self.static(dtype_node) if dtype_node is not None else np.float32
        if dtype is NOT_STATIC and isinstance(dtype_node, ast.Attribute) and dtype_node.attr == "dtype":
            dtype = self.expr(dtype_node)  # (`ws.local.array(n, x.dtype)` of an array argument: known when compiling)
        if is_integer(shape):  # (a Python or NumPy integer: np.int64(8) is a shape of 8 as 8 is)
            shape = (shape,)
        if not (isinstance(shape, tuple) and 1 <= len(shape) <= MAX_LOCAL_DIMENSIONS
                and all(is_integer(n) and n > 0 for n in shape)):
            if isinstance(shape, (float, tuple)) and any(isinstance(n, (float, np.floating))
                                                          for n in (shape if isinstance(shape, tuple) else (shape,))):
                # (`min(N, 2.5)`: an int32 meeting a float32 gives a float32 in a kernel, which NumPy takes as no shape)
                raise Unsupported(f"ws.local.array shape {shape!r} holds a float: a shape takes ints, as NumPy's does "
                                  f"(min and max of an int and a float give a float32 in a kernel); convert it with "
                                  f"int(...)")
            if isinstance(shape, tuple) and shape and all(is_integer(n) for n in shape):
                # (a constant, just not a shape SRAM can hold: say so, not that it is not constant)
                shape = tuple(int(n) for n in shape)
                raise Unsupported(f"ws.local.array shape {shape[0] if len(shape) == 1 else shape} is not a valid "
                                  f"shape: an int or a tuple of 1 to {MAX_LOCAL_DIMENSIONS} ints, each at least 1 "
                                  f"(a local array cannot be empty)")
            raise Unsupported(self.shape_hint(shape_node) or
                              f"ws.local.array needs a constant shape: an int or a tuple of 1 to "
                              f"{MAX_LOCAL_DIMENSIONS} positive ints, computed from module constants, ws.constant "
                              f"parameters and variables assigned once from them (a kernel value such as "
                              f"ws.grid(1), or a variable assigned more than once, is not constant)")
        shape = tuple(int(n) for n in shape)
        try:
            ty = ARRAY_DTYPES[as_dtype(dtype)]
        except (TypeError, KeyError, ValueError):
            numba = (f" (numba.{dtype} is Numba's type: write np.{dtype})"
                     if (type(dtype).__module__ or "").startswith("numba.") else "")
            raise Unsupported("ws.local.array dtype must be np.float32, np.int32, np.float16 or "
                              f"ml_dtypes.bfloat16{numba}") from None
        array = LocalArray(name, ty, self.fn.local_words, shape)
        self.fn.local_words += array.size
        self.fn.local_arrays.append((name, array.size, shape, ty))
        self.fn.local_array_lines[name] = self.line_of(node)
        return array

    def shape_hint(self, shape_node: ast.expr | None) -> str:
        """The refusal of a shape known only when the kernel runs (`ws.blockDim.x`, a plain parameter,
        `ws.grid(1)`), saying to pass the size as a constant; empty when every part of the shape is a
        constant (just not a valid shape)."""
        parts = shape_node.elts if isinstance(shape_node, ast.Tuple) else [shape_node]
        for part in parts:
            if part is not None and self.static(part) is NOT_STATIC:
                # A part the kernel cannot compute at all says why (`U8 + 100` of an np.uint8, which NumPy
                # computes in 8 bits, is refused as a value) rather than that it is not constant.
                self.expr(part)
                return (f"ws.local.array needs a constant shape (SRAM is laid out when compiling), and "
                        f"`{ast.unparse(part)}` is not one (a value known only when the kernel runs, or a variable "
                        f"assigned more than once): pass the size as a constant, "
                        f"a literal or module constant (`ws.local.array(64, np.float32)`) or a ws.constant "
                        f"parameter (`def kern(..., n: ws.constant)` launched with the size, then "
                        f"`ws.local.array(n, np.float32)`: one compilation per value), or an expression of them "
                        f"(`T * T`)")
        return ""

    def array_loop_hint(self, node: ast.expr) -> str:
        """What to write for a loop over an array or a slice (`for v in a:`), which a kernel cannot iterate."""
        try:
            value = self.expr(node) if isinstance(node, (ast.Name, ast.Subscript)) else None
        except Unsupported:
            return ""
        if not isinstance(value, (LocalArray, GlobalArray, SliceRef)):
            return ""
        return ": loop over the indices, `for k in range(len(a)):` reading `a[k]` (or reduce a slice with " \
               "sum, min, max, ws.dot)"

    def index_value(self, node: ast.expr, what: str) -> Val:
        """An index or slice bound: a constant where it is one when compiling, a variable assigned once from
        constants (`k = -2`, `last = N - 1`) included, so that such a variable indexes as the number it holds
        does (`a[k]` counts from the end as `a[-2]` does, as in Python; a negative slice bound is refused)."""
        if what != "a slice bound":  # (a bool slice bound is the int it equals, as in NumPy: `a[True:3]` is a[1:3])
            self.refuse_bool_index(node)
        v = self.scalar(node)
        if v.ty != "i32":
            raise Unsupported(f"{what} must be an int32, not a float32", node)
        known = None if v.is_const else self.known_int32(node)
        if known is None and v.int64:  # (an np.int64 indexes as the int it is: the address arithmetic is the
            return Val("i32", v.reg, const=v.const)  # kernel's own, on an index the bounds check has passed)
        return v if known is None else Val("i32", const=known)

    def refuse_bool_index(self, node: ast.expr) -> None:
        """NumPy takes a bool index as a mask, not as the int it equals: `a[True]` is `a[np.newaxis]` (and
        `t[True, 0]` is `t[0]` with a new axis), `a[False]` an empty array, where the kernel's bool is an int32
        0 or 1 that would read `a[1]`, a silent divergence: refused at the index, saying to convert it."""
        if self.may_be_bool(node):
            raise Unsupported(f"a bool used as an array index ({ast.unparse(node)}): NumPy takes a bool index as a "
                              f"mask (a[True] is a with a new axis, a[False] is empty), not as the int it equals; "
                              f"write int({ast.unparse(node)}) there, or index with an int", node)

    def may_be_bool(self, node: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        """Whether Python may give `node` a bool (or an np.bool_): a bool constant or a name bound to one, a
        comparison, `not`, `bool(...)`, `math.isnan(...)` and the other predicates, an `and` / `or` or a
        conditional expression that may give one of those, or a variable the function assigns any of those
        anywhere (or a device function's parameter a call bound to one). A variable is judged over all of its
        assignments, not by the one that reaches the line: `b = x > 0; b = 2` is refused too (`int(b)` is not)."""
        def judge(part: ast.expr) -> bool:
            return self.may_be_bool(part, seen)

        def call(node: ast.Call) -> bool:
            try:
                callee = self.static(node.func)
            except Unsupported:
                return False
            if getattr(callee, "__wafersim_jit__", False):  # a device function that may return a bool
                return self.may_return_bool(callee.py_func, self.bool_arguments(callee.py_func, node, judge))
            return any(callee is f for f in (bool, np.bool_, *PREDICATES))

        def name(node: ast.expr) -> bool:
            if isinstance(node, ast.Name) and node.id not in seen:
                if node.id in self.bool_parameters[-1]:
                    return True
                if node.id in self.local_names():
                    return any(self.may_be_bool(value, seen | {node.id}) for value in self.assigned_values(node.id))
            try:  # a global, a closure constant, T[0]
                return isinstance(self.static(node), (bool, np.bool_))
            except Unsupported:
                return False

        return _by_form(node, judge, name, call)

    @staticmethod
    def bool_arguments(func: Callable, node: ast.Call, judge: Callable[[ast.expr], bool]) -> frozenset[str]:
        """The parameters of the device function `func` that the call `node` binds to a bool: an argument
        `judge` finds may be one, or a parameter left to a bool default. (None where the call does not bind.)"""
        signature = inspect.signature(func)
        try:
            given = signature.bind(*node.args, **{k.arg: k.value for k in node.keywords if k.arg}).arguments
        except TypeError:  # (the call is refused as it lowers)
            return frozenset()
        return frozenset(name for name, parameter in signature.parameters.items()
                         if (judge(given[name]) if name in given else isinstance(parameter.default, (bool, np.bool_))))

    def may_return_bool(self, func: Callable, bool_parameters: frozenset[str] = frozenset(),
                        calling: frozenset = frozenset()) -> bool:
        """Whether a device function may return a bool, judged as `may_be_bool` judges an index, over its own
        body and scope: a `return` of a comparison, `not`, `bool(...)`, a predicate (`math.isnan(...)`), a bool
        constant or a global bound to one, a variable of the function assigned any of those, one of its
        parameters the call binds to a bool (`bool_parameters`), or a call of a device function that may."""
        if func in calling:  # (a recursive device function is refused as it lowers)
            return False
        # The answer depends on `func` (its source and scope) and the parameters bound to bools only: kept for
        # the kernel's compilation. Each index and each call asks again, and a library collective's helpers
        # were judged anew at every call, each variable by a walk of the whole body: a user's BiCGSTAB with
        # five tree all-reduces spent 14 of its 18 s of compiling here (stop 46).
        memo = self.__dict__.setdefault("_returns_bool", {})
        key = (func, bool_parameters)
        if key not in memo:
            memo[key] = self._may_return_bool(func, bool_parameters, calling)
        return memo[key]

    def _may_return_bool(self, func: Callable, bool_parameters: frozenset[str], calling: frozenset) -> bool:
        """`may_return_bool`, not remembered."""
        try:
            tree = read_source(func).tree
        except Unsupported:
            return False
        scope, calling = closure_globals(func), calling | {func}
        index = self.assignments_of(tree)
        parameters = {a.arg for a in (*tree.args.posonlyargs, *tree.args.args, *tree.args.kwonlyargs)}

        def static(node: ast.expr) -> object:
            value = _resolve(node, scope)
            if value is _UNRESOLVED:
                raise Unsupported("not a constant", node)
            return value

        def judged(node: ast.expr, seen: frozenset[str]) -> bool:
            def judge(part: ast.expr) -> bool:
                return judged(part, seen)

            def call(node: ast.Call) -> bool:
                callee = _resolve(node.func, scope)
                if getattr(callee, "__wafersim_jit__", False):
                    inner = callee.py_func
                    return self.may_return_bool(inner, self.bool_arguments(inner, node, judge), calling)
                return any(callee is f for f in (bool, np.bool_, *PREDICATES))

            def name(node: ast.expr) -> bool:
                if isinstance(node, ast.Name):
                    if node.id in bool_parameters:
                        return True
                    if node.id in seen:
                        return False
                    values = _assigned(index, node.id, static)
                    if values or node.id in parameters:
                        return any(judged(v, seen | {node.id}) for v in values)
                return isinstance(_resolve(node, scope), (bool, np.bool_))  # a global bound to one

            return _by_form(node, judge, name, call)

        return any(isinstance(n, ast.Return) and n.value is not None and judged(n.value, frozenset())
                   for n in ast.walk(tree))

    def assigned_values(self, name: str) -> list[ast.expr]:
        """The expressions the function being lowered assigns to the variable `name` (`_assigned`)."""
        return _assigned(self.assignments_of(self.source.tree), name, self.static)

    def assignments_of(self, tree: ast.AST) -> Assignments:
        """`_assignments(tree)`, walked once a compilation: `may_be_bool` asks for a variable at every index
        and call, and a walk of the whole body each time made a user's BiCGSTAB compile for seconds."""
        memo = self.__dict__.setdefault("_assignments", {})
        kept = memo.get(id(tree))
        if kept is None or kept[0] is not tree:  # (the tree kept too: its id is not reused meanwhile)
            kept = memo[id(tree)] = (tree, _assignments(tree))
        return kept[1]

    def check_index(self, index: Val, size: Val, what: str) -> None:
        """Stop with a MemoryAccessError unless 0 <= index < size (one `chk`, unless known at compile time)."""
        if index.is_const and size.is_const:
            if not 0 <= index.const < size.const:
                raise Unsupported(f"{what}: index {index.const} is out of bounds for size {size.const}")
            return
        if self.boundscheck:
            self.emit("chk", a=self.reg_of(index), b=self.reg_of(size), imm=self.string(what))

    def dimension(self, array: LocalArray | GlobalArray, axis: int) -> Val:
        return self.const(array.shape[axis]) if isinstance(array, LocalArray) else array.shape[axis]

    def element_address(self, array, index_nodes: list[ast.expr]) -> Val:
        """The (register or constant) word offset of an element within the array, bounds-checked."""
        ndim = len(array.shape)
        if len(index_nodes) != ndim:
            hint = ""
            if len(index_nodes) < ndim:  # `t[i][j]` (a row taken first) is an element of `t[i, j]`
                example = ", ".join("ijk"[:ndim])
                row = ", ".join([*"ijk"[:len(index_nodes)], "0:n"])  # the indices given, then the last axis
                hint = (f": an element takes an index for every axis in one subscript, {array.name}[{example}] "
                        f"({array.name}[i][j] is not supported); a row, as a vector, is a slice, "
                        f"{array.name}[{row}]")
            raise Unsupported(f"{array.name} has {plural(ndim, 'dimension')} but {plural(len(index_nodes), 'index')} "
                              f"{'was' if len(index_nodes) == 1 else 'were'} given"
                              + hint)
        indices = [self.index_value(n, "an array index") for n in index_nodes]
        names = [f"{array.name} axis {axis}" for axis in range(ndim)]
        for axis, index in enumerate(indices):
            indices[axis], names[axis] = self.from_the_end(array, axis, index, names[axis])
        for axis, (index, n) in enumerate(zip(indices, index_nodes)):
            try:
                self.check_index(index, self.dimension(array, axis), names[axis])
            except Unsupported as exc:
                raise Unsupported(str(exc), n) from None
        return self.row_major(array, indices)

    def from_the_end(self, array, axis: int, index: Val, what: str) -> tuple[Val, str]:
        """(index, what) with a constant negative index counted from the end of the axis, as in Python (and
        said in `what`, for the bounds check's message)."""
        if index.is_const and index.const < 0:
            return (self.arith(ast.Add(), index, self.dimension(array, axis)),
                    what + f" (index {index.const} counts from the end)")
        return index, what

    def row_major(self, array, indices: list[Val]) -> Val:
        """The word offset of the element (or row start) at `indices` of the leading axes, as NumPy lays out a
        C-ordered array: ((i0 * n1) + i1) * n2 + i2."""
        offset = indices[0]
        for axis, index in enumerate(indices[1:], start=1):
            offset = self.arith(ast.Add(), self.arith(ast.Mult(), offset, self.dimension(array, axis)), index)
        return offset

    def subscripted(self, node: ast.Subscript):
        """The array (or tuple) a subscript indexes."""
        base = self.expr(node.value)
        if not isinstance(base, (GlobalArray, LocalArray, Tup)):
            hint = ""
            if isinstance(base, np.ndarray):  # a host array: a global, a closure variable or a default argument
                hint = (": a host NumPy array (a global, a closure variable or a default argument) is not kernel "
                        "data; pass it as an argument, dev.to_device(array), or write its values as a tuple")
            elif isinstance(base, list):
                hint = ": a list is not kernel data; write a tuple of constants, (1, 2)"
            elif isinstance(base, SliceRef):  # (a view taken earlier, or a device function's slice argument)
                hint = (" (a view, usable whole: sum, ws.dot, ws.send, ws.recv(out=...)); index its array at the "
                        "slice's start plus the offset instead (pass the array and the start to a device function)")
            raise Unsupported(f"cannot index {describe(base)}{hint}")
        return base

    def load_subscript(self, node: ast.Subscript):
        base = self.subscripted(node)
        parts = subscript_parts(node)
        if isinstance(base, Tup):
            if len(parts) == 1 and isinstance(parts[0], ast.Slice):  # t[1:], t[::-1]: a tuple, as in Python
                return Tup(base.items[self.tuple_slice(parts[0])])
            # (t[W] of an np.int32 W: as t[1]; t[True] as t[1], a bool is an int to Python)
            index = self.static_tuple_index(parts[0]) if len(parts) == 1 else None
            if index is None:  # (a new user's `DIRS[k]` in `for k in range(4)`: say how to get a constant)
                raise Unsupported("a tuple index must be a constant within range: this one is known only when the "
                                  "kernel runs (a `range` loop is not unrolled, nor is an argument a constant); "
                                  "loop over the tuple itself (`for d in t:`, `for k, d in enumerate(t):`) or over "
                                  "a tuple of constants (`for k in (0, 1, 2):`), which is unrolled, so that `k` is "
                                  "a constant; to pick an item at run time, make the tuple an array (a device "
                                  "array argument, or a ws.local.array filled from the tuple) and index that")
            if not -len(base.items) <= index < len(base.items):
                raise Unsupported(f"a tuple index must be a constant within range: {index} is outside a tuple of "
                                  f"{len(base.items)} items")
            return base.items[index]
        if any(isinstance(p, ast.Slice) for p in parts):
            return self.slice_ref(base, parts)
        offset = self.element_address(base, parts)
        word = Val(self.element_word_type(base.dtype), self.new_reg(self.element_word_type(base.dtype)), temp=True)
        out = word.reg
        if isinstance(base, LocalArray):
            if offset.is_const:
                self.emit("ld", d=out, a=0, imm=base.base + int(offset.const), reloc="local")
            else:
                self.emit("ld", d=out, a=offset.reg, imm=base.base, reloc="local")
        else:
            self.emit("gld", d=out, a=self.global_address(base, offset), imm=0)
        return self.widen_element(word, base.dtype)

    def global_address(self, array: GlobalArray, offset: Val) -> VReg:
        byte = self.arith(ast.LShift(), offset, Val("i32", const=2))
        return self.arith(ast.Add(), array.ptr, byte).reg

    def slice_ref(self, array, parts: list[ast.expr]) -> SliceRef:
        """`buf[a:b]` of a 1-D array, or the row slice `t[i, a:b]` of a 2-D one (`t[i, j, a:b]` of a 3-D one)."""
        ndim = len(array.shape)
        if ndim >= 2:
            if len(parts) != ndim or any(isinstance(p, ast.Slice) for p in parts[:-1]) \
                    or not isinstance(parts[-1], ast.Slice):
                kind = "local" if isinstance(array, LocalArray) else "global"
                row = ", ".join("i j".split()[:ndim - 1])
                if len(parts) == ndim and not isinstance(parts[-1], ast.Slice):
                    # (a column: the words are a row apart, no bulk transfer or vector operand; a 2-D local
                    # array's column is a strided copy, handled before this)
                    fix = ("load the rows into a local array with row slices, then take the column there "
                           "(col[0:n] = t[0:n, j]), or copy element by element" if kind == "global" else
                           "copy it element by element")
                    raise Unsupported(f"a column of the {ndim}-D {kind} array {array.name} is not a slice here "
                                      f"(a slice of it is a row, t[{row}, a:b]): {fix}")
                raise Unsupported(f"a slice of a {ndim}-D {kind} array is a row, t[{row}, a:b]; a block "
                                  f"t[a:b, c:d] of a 2-D array can only be assigned to or be an operand of an "
                                  f"assignment to a block of a 2-D array (a block of a 3-D array is not one: "
                                  f"assign it row by row)")
            indices = []
            for axis, part in enumerate(parts[:-1]):
                index, what = self.from_the_end(array, axis, self.index_value(part, "the row index"),
                                                f"{array.name} axis {axis}")
                self.check_index(index, self.dimension(array, axis), what)
                indices.append(index)
            cols = self.dimension(array, ndim - 1)
            start, length = self.slice_bounds(parts[-1], cols, f"{array.name} row slice")
            row_start = self.arith(ast.Mult(), self.row_major(array, indices), cols)
            return SliceRef(array, self.arith(ast.Add(), row_start, start), length)
        if len(parts) != 1:
            raise Unsupported(f"{array.name} has 1 dimension but {plural(len(parts), 'index')} "
                              f"{'was' if len(parts) == 1 else 'were'} given")
        start, length = self.slice_bounds(parts[0], self.dimension(array, 0), f"{array.name} slice")
        return SliceRef(array, start, length)

    def slice_bounds(self, s: ast.Slice, size: Val, what: str) -> tuple[Val, Val]:
        """(start, length) of `s` over `size` elements, with 0 <= start <= stop <= size checked: at compile
        time for what is constant, else by `chk` instructions."""
        if s.step is not None:
            raise Unsupported("a slice with a step is supported only as a whole side of a copy between local "
                              "arrays (`col[0:n] = t[j:j + n * w:w]`)")
        start = self.index_value(s.lower, "a slice bound") if s.lower is not None else Val("i32", const=0)
        stop = self.index_value(s.upper, "a slice bound") if s.upper is not None else size
        bad = any(v.is_const and v.const < 0 for v in (start, stop))
        bad |= start.is_const and stop.is_const and start.const > stop.const
        bad |= size.is_const and any(v.is_const and v.const > size.const for v in (start, stop))
        if bad:
            shown = f"[{start.const if start.is_const else '...'}:{stop.const if stop.is_const else '...'}]"
            raise Unsupported(f"{what} {shown} is out of bounds or reversed for size "
                              f"{size.const if size.is_const else 'n'}: slices need 0 <= start <= stop <= size "
                              f"(negative bounds are not supported)")
        if not (start.is_const and stop.is_const and size.is_const):  # the rest is checked at run time
            limit = self.arith(ast.Add(), size, Val("i32", const=1))  # (0 <= bound <= size)
            slice_start, slice_end, slice_length = SLICE_BOUND_CHECKS
            named = what.removesuffix(" slice")
            self.check_index(start, limit, named + slice_start)
            self.check_index(stop, limit, named + slice_end)
            self.check_index(self.arith(ast.Sub(), stop, start), limit, named + slice_length)
        return start, self.constant_span(s) or self.arith(ast.Sub(), stop, start)

    def constant_span(self, s: ast.Slice) -> Val | None:
        """The length K of `x[e:e + K]` with a constant K and a pure `e` (names, constants and arithmetic,
        which give the same value both times they are evaluated): stop - start is K whatever e is, even
        wrapped, so vector instructions get a constant length instead of a subtraction. None otherwise."""
        upper, lower = s.upper, s.lower
        if lower is None or not (isinstance(upper, ast.BinOp) and isinstance(upper.op, ast.Add)):
            return None
        pure = all(isinstance(n, (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop,
                                  ast.Load)) for n in ast.walk(lower))
        span = self.static_int(upper.right)
        if not pure or ast.unparse(upper.left) != ast.unparse(lower) or span is None:
            return None
        return Val("i32", const=span)

    def slice_registers(self, ref: SliceRef) -> tuple[VReg | int, VReg | int]:
        """Registers holding an SRAM word address and a length for a local slice."""
        if not isinstance(ref.array, LocalArray):
            raise Unsupported("only slices of local arrays can be sent or received")
        return self.sram_address(ref.array, ref.start), self.reg_of(ref.length)

    def sram_address(self, array: LocalArray, start: Val) -> VReg:
        out = self.new_reg("i32")
        if start.is_const:
            self.emit("li", d=out, imm=array.base + int(start.const), reloc="local")
        else:
            self.emit("addi", d=out, a=start.reg, imm=array.base, reloc="local")
        return out

    def check_same_length(self, source: SliceRef, dst: SliceRef) -> None:
        """A slice operand must have the destination's length (NumPy refuses to broadcast them otherwise)."""
        a, b = source.length, dst.length
        what = (f"a slice of {source.array.name} and the destination slice of {dst.array.name} have different "
                f"lengths (NumPy would not broadcast them)")
        if a.is_const and b.is_const:
            if a.const != b.const:
                raise Unsupported(f"a slice of {source.array.name} has {a.const} elements where the destination "
                                  f"slice of {dst.array.name} has {b.const}")
        elif self.boundscheck:
            same = self.result("seq", "i32", a=self.reg_of(a), b=self.reg_of(b))
            self.emit("chk", a=0, b=same.reg, imm=self.string(what))

    def store_subscript(self, target: ast.Subscript, value_node: ast.expr, value=None) -> None:
        """`array[index] = value` (value evaluated first, as in Python) or a slice assignment."""
        self.array_writes += 1
        base = self.subscripted(target)
        if isinstance(base, Tup):
            raise Unsupported("tuples cannot be changed: build a new one")
        parts = subscript_parts(target)
        if any(isinstance(p, ast.Slice) for p in parts):
            self.store_slice(base, parts, target, value_node, value)
            return
        if value is None:
            self.type_recvs_by_context(value_node, self.scalar_operand_type(base.dtype))
            value = self.expr(value_node)
        if not isinstance(value, Val):
            raise Unsupported(f"cannot store {describe(value)} into an element of {base.name}", value_node)
        if base.dtype == "i32" and value.ty == "f32":
            raise Unsupported(f"cannot store a float32 into int32 array {base.name} ("
                              + self.float_to_int_hint(value_node, into_array=True) + ")")
        value = self.element_value(value, base.dtype)
        offset = self.element_address(base, parts)
        if isinstance(base, LocalArray):
            if offset.is_const:
                self.emit("st", d=self.reg_of(value), a=0, imm=base.base + int(offset.const), reloc="local")
            else:
                self.emit("st", d=self.reg_of(value), a=offset.reg, imm=base.base, reloc="local")
            return
        self.emit("gst", d=self.reg_of(value), a=self.global_address(base, offset), imm=0)

    def copy_slice(self, dst: SliceRef, src: SliceRef) -> None:
        if self.convert_slice(dst, src):
            return
        if src.array.dtype != dst.array.dtype:
            raise Unsupported(copy_refusal(src.array.dtype, dst.array.dtype))
        self.check_same_length(src, dst)
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
            raise Unsupported("copy between two global arrays: stage it through a local array")
