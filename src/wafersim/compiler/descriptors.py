"""Strided and 2-D operands in kernels: copies between strided slices (`vcopys`) and `ws.outer_add` (`vger`).

- A copy whose source or destination is a slice with a constant step (`col[0:n] = t[j:j + n * w:w]`) or a
  column of a 2-D local array (`col[0:n] = t2[0:n, j]`, `t2[1:4, 0] = v[0:3]`) is one `vcopys`: both strides
  go in one register as signed 16-bit halves. Anywhere else a step or a column is refused, as before.
- `ws.outer_add(c, x, y)`: c[i, j] += x[i] * y[j] (float32 or int32) over a 2-D local array (or a block of its whole rows,
  `c[r0:r1, :]`, or len(x) * len(y) contiguous words: a 1-D slice or a row slice) and two 1-D local slices,
  one `vger` (a rank-1 update: M x N fused multiply-adds for one issue, as an outer-product unit does).

Lengths and shapes are checked as every slice's are: at compile time where known, else by `chk` (with
bounds checks on). The packed fields hold 16 bits, so arrays of 65,536 words or more are refused.
"""
from __future__ import annotations

import ast

from .values import LocalArray, SliceRef, Unsupported, Val, copy_refusal, describe

#: What ws.outer_add accepts as c (the refusal lists it all).
_C_FORMS = ("ws.outer_add c must be a 2-D local array g (len(x) rows of len(y) columns), a block of its whole rows "
            "g[r0:r1, :], or len(x) * len(y) contiguous words holding those rows: a 1-D local array, a slice of "
            "one b[a:a + n], or a row slice of a 2-D or 3-D local array, g[r, a:b] or t[i, j, a:b]")
_FIELD_LIMIT = 1 << 16  # a packed length or stride field holds 16 bits
_FLOAT = 1


def subscript_parts(node: ast.Subscript) -> list[ast.expr]:
    from .arrays import subscript_parts as parts  # (arrays imports this module through calls)

    return parts(node)


def packed_halves(high: Val, low: Val, lowering) -> Val:
    """(high << 16) | (low & 0xffff) as the machine's int32 word (a constant when both are)."""
    if high.is_const and low.is_const:
        word = ((high.const << 16) | (low.const & 0xFFFF)) & 0xFFFFFFFF
        return Val("i32", const=word - (1 << 32) if word >= 1 << 31 else word)
    masked = lowering.arith(ast.BitAnd(), low, Val("i32", const=0xFFFF))
    return lowering.arith(ast.BitOr(), lowering.arith(ast.LShift(), high, Val("i32", const=16)), masked)


class DescriptorLowering:
    """Mixed into `CallLowering`: uses its expression, slice and emission helpers."""

    # ------------------------------------------------------------------ strided slices
    def strided_ref(self, array, parts: list[ast.expr]) -> tuple[SliceRef, int] | None:
        """(slice, element step) of a slice with a step or a column of a 2-D local array; None for others."""
        if not isinstance(array, LocalArray):
            return None
        if len(array.shape) == 1 and len(parts) == 1 and isinstance(parts[0], ast.Slice) and parts[0].step is not None:
            start, length, step = self.stepped_bounds(parts[0], array.shape[0], f"{array.name} slice")
            return SliceRef(array, start, length), step
        if len(array.shape) == 2 and len(parts) == 2 and isinstance(parts[0], ast.Slice) \
                and not isinstance(parts[1], ast.Slice):
            rows, cols = array.shape
            row, length, row_step = self.stepped_bounds(parts[0], rows, f"{array.name} column")
            column = self.index_value(parts[1], "the column index")
            if column.is_const and column.const < 0:
                column = Val("i32", const=column.const + cols)
            self.check_index(column, Val("i32", const=cols), f"{array.name} axis 1")
            start = self.arith(ast.Add(), self.arith(ast.Mult(), row, Val("i32", const=cols)), column)
            return SliceRef(array, start, length), row_step * cols
        return None

    def stepped_bounds(self, s: ast.Slice, size: int, what: str) -> tuple[Val, Val, int]:
        """(start, length, step) of `s` over `size` elements; the step a constant positive int."""
        step = 1 if s.step is None else self.static_int(s.step)
        if step is None or step < 1:
            raise Unsupported(f"{what}: a slice step must be a positive int known when compiling", s.step)
        start, span = self.slice_bounds(ast.Slice(lower=s.lower, upper=s.upper), Val("i32", const=size), what)
        if step == 1:
            return start, span, 1
        length = self.arith(ast.FloorDiv(), self.arith(ast.Add(), span, Val("i32", const=step - 1)),
                            Val("i32", const=step))
        return start, length, step

    def strided_copy(self, array, parts: list[ast.expr], value_node: ast.expr,
                     target_node: ast.expr | None = None) -> bool:
        """`dst = src` where either side is strided, as one vcopys; False when neither is (not handled here).
        `target_node` (`dst`) is where a refusal of the destination points."""
        if not isinstance(value_node, ast.Subscript):
            return False
        if not self.is_strided(array, parts) and not self.is_strided_node(value_node):
            return False
        source_array = self.subscripted(value_node)  # Python evaluates the right side first
        source = self.strided_operand(source_array, subscript_parts(value_node), value_node)
        target = self.strided_operand(array, parts, target_node or value_node, destination=True)
        for ref, step in (source, target):
            if ref.array.size >= _FIELD_LIMIT or abs(step) >= _FIELD_LIMIT // 2:
                raise Unsupported(f"a strided copy of {ref.array.name}: steps and arrays must be below 32,768 and "
                                  f"65,536 words (16-bit fields of vcopys)", value_node)
        if source[0].array.dtype != target[0].array.dtype:
            raise Unsupported(copy_refusal(source[0].array.dtype, target[0].array.dtype, strided=True), value_node)
        self.check_same_length(source[0], target[0])
        strides = packed_halves(Val("i32", const=target[1]), Val("i32", const=source[1]), self)
        self.emit("vcopys", d=self.sram_address(target[0].array, target[0].start),
                  a=self.sram_address(source[0].array, source[0].start), b=self.reg_of(strides),
                  c=self.reg_of(target[0].length))
        return True

    @staticmethod
    def is_strided(array, parts: list[ast.expr]) -> bool:
        """Whether `array[parts]` is a slice with a step or a column of a 2-D local array (nothing evaluated)."""
        if any(isinstance(p, ast.Slice) and p.step is not None for p in parts):
            return True
        return isinstance(array, LocalArray) and len(array.shape) == 2 and len(parts) == 2 \
            and isinstance(parts[0], ast.Slice) and not isinstance(parts[1], ast.Slice)

    def is_strided_node(self, node: ast.Subscript) -> bool:
        array = self.lookup_or_none(node.value.id) if isinstance(node.value, ast.Name) else None
        return self.is_strided(array, subscript_parts(node))

    def strided_operand(self, array, parts: list[ast.expr], node: ast.expr,
                        destination: bool = False) -> tuple[SliceRef, int]:
        if not isinstance(array, LocalArray):
            fix = ("store element by element, or load the global span with a plain slice into a local array, "
                   "update it there with the strided copy and store it back" if destination
                   else "copy the global data into a local array with a plain slice first")
            raise Unsupported("a strided copy (a slice with a step, or a column) works between local arrays "
                              f"only: {fix}", node)
        strided = self.strided_ref(array, parts)
        if strided is not None:
            return strided
        return self.slice_ref(array, parts), 1

    # ------------------------------------------------------------------ rank-1 update
    def outer_add(self, node: ast.Call) -> None:
        """`ws.outer_add(c, x, y)`: c[i, j] += x[i] * y[j], one vger."""
        if len(node.args) != 3 or node.keywords:
            raise Unsupported("ws.outer_add(c, x, y) takes three arguments", node)
        c_node, x_node, y_node = node.args
        block, cols = self.outer_target(c_node)
        if block.array.dtype in ("f16", "bf16"):  # vger multiplies float32 or int32 words: a 16-bit float's
            # word would be read as an integer bit pattern (float16 operands gave all zeros without a word)
            name = "float16" if block.array.dtype == "f16" else "bfloat16"
            raise Unsupported(f"ws.outer_add takes float32 or int32 arrays, not {name}: widen the operands into "
                              f"float32 arrays first (f32[0:n] = h[0:n]), or update one row at a time with a "
                              f"16-bit vector fma (c[o:o + n] = y[0:n] * x[i] + c[o:o + n])", c_node)
        x, y = self.local_slice(x_node, "outer_add x"), self.local_slice(y_node, "outer_add y")
        for ref, what in ((x, x_node), (y, y_node)):
            if ref.array.dtype != block.array.dtype:
                raise Unsupported("ws.outer_add operands must all have c's dtype", what)
            if ref.array.size >= _FIELD_LIMIT:
                raise Unsupported(f"ws.outer_add: {ref.array.name} has 65,536 words or more (16-bit fields)", what)
        if cols is None:  # a 1-D c holds len(x) rows of len(y)
            product = SliceRef(x.array, x.start, self.arith(ast.Mult(), x.length, y.length))
            self.check_same_length(product, block)
        else:
            self.check_same_length(x, block)  # block.length: its rows
            self.check_same_length(y, SliceRef(block.array, Val("i32", const=0), Val("i32", const=cols)))
        shape = packed_halves(x.length, y.length, self)
        flags = _FLOAT if block.array.dtype == "f32" else 0
        self.emit("vger", d=self.sram_address(block.array, block.start), a=self.address(x), b=self.address(y),
                  c=self.reg_of(shape), flags=flags)

    @staticmethod
    def is_row_slice(array, node: ast.expr) -> bool:
        """Whether `node` is a row slice of a 2-D or 3-D local array, `g[r, a:b]` or `t[i, j, a:b]`: indices,
        then one slice without a step on the last axis (a contiguous run of words, a 1-D slice)."""
        if not isinstance(array, LocalArray) or not isinstance(node, ast.Subscript):
            return False
        parts = subscript_parts(node)
        return len(parts) == len(array.shape) and isinstance(parts[-1], ast.Slice) and parts[-1].step is None \
            and not any(isinstance(p, ast.Slice) for p in parts[:-1])

    def outer_target(self, node: ast.expr) -> tuple[SliceRef, int | None]:
        """c of ws.outer_add: a 1-D local slice (its length checked against len(x) * len(y)) with None, or a 2-D
        local array or a block of its whole rows `c[r0:r1, :]` as (first element, row count) and its columns."""
        value = self.expr(node) if not isinstance(node, ast.Subscript) else self.subscripted(node)
        if isinstance(value, (LocalArray, SliceRef)) and (len(getattr(value, "array", value).shape) == 1
                                                          or self.is_row_slice(value, node)):
            ref = self.local_slice(node, "outer_add c")
            if ref.array.size >= _FIELD_LIMIT:
                raise Unsupported(f"ws.outer_add: {ref.array.name} has 65,536 words or more (16-bit fields)", node)
            return ref, None
        if not isinstance(value, LocalArray) or len(value.shape) != 2:
            raise Unsupported(f"{_C_FORMS}, not {describe(value)}", node)
        rows, cols = value.shape
        if value.size >= _FIELD_LIMIT:
            raise Unsupported(f"ws.outer_add: {value.name} has 65,536 words or more (16-bit fields)", node)
        if not isinstance(node, ast.Subscript):
            return SliceRef(value, Val("i32", const=0), Val("i32", const=rows)), cols
        parts = subscript_parts(node)
        whole_rows = len(parts) == 2 and all(isinstance(p, ast.Slice) for p in parts) and parts[1].step is None \
            and self.static(parts[1].lower or ast.Constant(0)) == 0 \
            and (parts[1].upper is None or self.static(parts[1].upper) == cols)
        if not whole_rows or parts[0].step is not None:
            raise Unsupported(f"{_C_FORMS}; {value.name}[...] here is none of them", node)
        start, count = self.slice_bounds(parts[0], Val("i32", const=rows), f"{value.name} rows")
        return SliceRef(value, self.arith(ast.Mult(), start, Val("i32", const=cols)), count), cols
