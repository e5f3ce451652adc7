"""Arrays: local arrays in SRAM, element loads and stores with bounds checks, slices as vector operands,
and bulk copies between slices (local <-> local, global <-> local)."""
from __future__ import annotations

import ast
import copy

import numpy as np

from ..arch.values import is_integer, plural
from ..isa.halfprec import as_dtype
from ..isa.opcodes import SLICE_BOUND_CHECKS
from .bool_index import BoolIndexLowering
from .ir import VReg
from .values import (ARRAY_DTYPES, NOT_STATIC, GlobalArray, LocalArray, SliceRef, Tup, Unsupported, Val, copy_refusal,
                     describe)


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


class ArrayLowering(BoolIndexLowering):
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
