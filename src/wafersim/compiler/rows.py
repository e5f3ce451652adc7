"""2-D slices of 2-D arrays: `t[0:4, 0:4] = <expression>` as one slice assignment per row.

`t[r0:r1, c0:c1] = e` runs, for each row k of the block, `t[r0 + k, c0:c1] = e_k`, where `e_k` is `e` with
every 2-D slice `u[s0:s1, ...]` in it replaced by its row `u[s0 + k, ...]`: one vector instruction per
operator and row (or one bulk copy per row between global and local memory). As NumPy evaluates the whole
right side before writing, the scalar subexpressions of `e` are evaluated once, before the first row, and
an operand that reads rows of the destination shifted from the rows written is refused (row by row, some
would be read after being written). Likewise every slice bound that reads an array or calls (a receive) is
evaluated once, in Python's order (the right side's, then the target's), not once per row.

Row counts must be known when compiling: constant bounds (`t[1:3, ...]`), or `a:a + K` with a constant K
(`u[y:y + 4, x:x + 4]`, the start computed at run time and bounds-checked).
"""
from __future__ import annotations

import ast

from ..arch.values import is_integer
from .arrays import subscript_parts
from .values import GlobalArray, LocalArray, Unsupported, Val
from .vectors import VectorLowering

#: The most rows a block may have: each row compiles to its own instructions (one per operator), so a block of
#: 100,000 rows would compile for minutes into a program no PE could hold; a loop over the rows has no limit.
MAX_BLOCK_ROWS = 1024
_HIDDEN = "row operand "  # names no source can write (a space): scalars of a row expression, evaluated once


def _is_block(node: ast.expr) -> bool:
    """Whether `node` is a subscript with slices on both axes (`t[a:b, c:d]`)."""
    if not isinstance(node, ast.Subscript):
        return False
    parts = subscript_parts(node)
    return len(parts) == 2 and all(isinstance(p, ast.Slice) for p in parts)


def _row_count(count: int, what: str) -> int:
    """`count`, refused over `MAX_BLOCK_ROWS`."""
    if count > MAX_BLOCK_ROWS:
        raise Unsupported(f"{what}: {count} rows; a block compiles to instructions for each of its rows, at most "
                          f"{MAX_BLOCK_ROWS}: write a loop over the rows (for k in range(...): t[k, a:b] = ...)")
    return count


class RowLowering(VectorLowering):
    def store_slice(self, array, parts: list[ast.expr], target: ast.expr, value_node: ast.expr, value=None) -> None:
        if len(parts) == 2 and all(isinstance(p, ast.Slice) for p in parts):
            self.store_rows(array, parts, target, value_node, value)
            return
        super().store_slice(array, parts, target, value_node, value)

    def row_range(self, array, rows: ast.Slice, what: str) -> tuple[ast.expr, int, int | None]:
        """(start expression, number of rows, constant start or None) of the row slice of a 2-D block."""
        if not isinstance(array, (LocalArray, GlobalArray)) or len(array.shape) != 2:
            raise Unsupported(f"{what}: a slice on two axes needs a 2-D array")
        if rows.step is not None:
            raise Unsupported("slices with a step are not supported")
        start_node = rows.lower if rows.lower is not None else ast.Constant(0)
        start, stop = self.static(start_node), None
        if rows.upper is not None:
            stop = self.static(rows.upper)
        elif isinstance(array, LocalArray):
            stop = array.shape[0]
        start, stop = (int(v) if is_integer(v) else v for v in (start, stop))  # (np.int32 bounds as ints)
        if isinstance(start, int) and isinstance(stop, int):
            if not 0 <= start <= stop or (isinstance(array, LocalArray) and stop > array.shape[0]):
                raise Unsupported(f"{what}: rows [{start}:{stop}] are out of bounds or reversed for "
                                  f"{array.shape[0] if isinstance(array, LocalArray) else 'the array'}'s rows")
            return ast.Constant(start), _row_count(stop - start, what), start
        upper = rows.upper
        count = self.static(upper.right) if isinstance(upper, ast.BinOp) else None
        count = int(count) if is_integer(count) or isinstance(count, bool) else None  # (an np.int32 K, or True)
        if isinstance(upper, ast.BinOp) and isinstance(upper.op, ast.Add) \
                and ast.unparse(upper.left) == ast.unparse(start_node) and count is not None:
            if count < 0:
                raise Unsupported(f"{what}: {count} rows")
            if isinstance(array, LocalArray) and count > array.shape[0]:
                raise Unsupported(f"{what}: {count} rows of an array of {array.shape[0]}")
            if any(isinstance(n, ast.Call) for n in ast.walk(start_node)):
                raise Unsupported(f"{what}: the row start is computed for each row: compute it into a variable "
                                  f"first", start_node)
            return start_node, _row_count(count, what), None
        raise Unsupported(f"{what}: the number of rows must be known when compiling: constant bounds, or "
                          f"a:a + K with a constant K")

    def store_rows(self, array, parts: list[ast.expr], target: ast.expr, value_node: ast.expr, value) -> None:
        start, count, constant_start = self.row_range(array, parts[0], f"{array.name} block")
        hidden: list[str] = []
        if value is None and not _is_block(value_node) and not self.is_vector_tree(value_node):
            self.type_recvs_by_context(value_node, array.dtype)
            value = self.expr(value_node)  # a scalar or a 1-D slice: the same for every row
        if value is not None and not isinstance(value, Val) and getattr(value, "array", None) is array:
            # A row of the destination broadcast to the rows written (`t[0:3, 1:4] = t[0, 0:3]`): NumPy reads it
            # once, before writing; copied row by row, the rows after the one it lies in would read it changed
            raise Unsupported("a row of the destination as an operand of a block assignment: copy it into "
                              "another array first", value_node)
        enclosing = self.vector_computed  # (an enclosing statement's, as in `store_slice`)
        try:
            if value is None:
                same_rows = constant_start if constant_start is not None else ast.unparse(start)
                self.vector_computed = False
                value_node = self.hoist_scalars(value_node, array, same_rows, count, hidden)
            # The target's bounds, after the right side as Python evaluates them, once: a row written must not
            # move the next row's columns (`t[0:2, t[0, 0]:t[0, 0] + 2] = 5`), nor a receive run once per row
            writes = self.array_writes
            start = self.evaluated_once(start, hidden)
            parts = [parts[0], self.columns_once(parts[1], hidden)]
            if value is None:
                self.check_write_order(writes, target, "the target's bounds call")
            for k in range(count):
                row = ast.Constant(constant_start + k) if constant_start is not None else \
                    ast.BinOp(left=start, op=ast.Add(), right=ast.Constant(k))
                row_target = ast.Subscript(value=target.value, slice=ast.Tuple(elts=[row, parts[1]], ctx=ast.Load()),
                                           ctx=ast.Store())
                ast.copy_location(row_target, target)
                ast.fix_missing_locations(row_target)
                row_value = None if value is not None else self.row_of(value_node, k)
                super().store_slice(array, [row, parts[1]], row_target, row_value, value)
        finally:
            self.vector_computed = enclosing
            self.drop_hidden(hidden)

    def hoist_scalars(self, node: ast.expr, dst, dst_start: int | str, count: int, hidden: list[str]) -> ast.expr:
        """`node` with its scalar subexpressions evaluated now (bound to hidden names) and its 2-D slices
        checked: the same number of rows as the destination, and not reading rows of it shifted from those written
        (`dst_start`: the destination's first row, a constant or the text of its expression)."""
        if _is_block(node):
            base = self.subscripted(node)
            start, rows, constant = self.row_range(base, subscript_parts(node)[0], "an operand block")
            if rows != count:
                raise Unsupported(f"a block of {rows} rows where the destination has {count}", node)
            if base is dst and (constant if constant is not None else ast.unparse(start)) != dst_start:
                raise Unsupported("this operand reads rows of the destination shifted from the rows written (NumPy "
                                  "reads them all before writing; row by row, some would be read after being "
                                  "written): copy it into another array first", node)
            # Its bounds evaluated now, once, as NumPy takes the view: not again for each row
            writes = self.array_writes
            once = self.evaluated_once(start, hidden)
            rows_part = subscript_parts(node)[0] if once is start else \
                ast.copy_location(ast.Slice(lower=once, upper=ast.BinOp(left=once, op=ast.Add(),
                                                                         right=ast.Constant(rows))), start)
            columns = self.columns_once(subscript_parts(node)[1], hidden)
            self.check_write_order(writes, node, "this operand's bounds call")
            out = ast.Subscript(value=node.value, slice=ast.Tuple(elts=[rows_part, columns], ctx=ast.Load()),
                                ctx=ast.Load())
            ast.copy_location(out, node)
            ast.fix_missing_locations(out)
            return out
        if isinstance(node, ast.BinOp):
            hoisted = ast.BinOp(left=self.hoist_scalars(node.left, dst, dst_start, count, hidden), op=node.op,
                                right=self.hoist_scalars(node.right, dst, dst_start, count, hidden))
            return self.computed_rows(ast.copy_location(hoisted, node))
        if isinstance(node, ast.UnaryOp):
            return self.computed_rows(ast.copy_location(ast.UnaryOp(
                op=node.op, operand=self.hoist_scalars(node.operand, dst, dst_start, count, hidden)), node))
        if self.is_min_max(node) or ((self.vector_function(node) is not None or self.angle_factor(node) is not None)
                                     and self.has_slice(node)):
            args = [self.hoist_scalars(a, dst, dst_start, count, hidden) for a in node.args]
            return self.computed_rows(ast.copy_location(ast.Call(func=node.func, args=args, keywords=[]), node))
        writes = self.array_writes
        value = self.expr(node)
        self.check_write_order(writes, node)
        if not isinstance(value, Val) and getattr(value, "array", None) is dst:
            raise Unsupported("a row of the destination as an operand of a block assignment: copy it into "
                              "another array first", node)
        # A scalar, or a 1-D slice broadcast to every row as NumPy does, with the bounds it was taken with
        return self.hidden_name(value, node, hidden)

    def hidden_name(self, value, node: ast.expr, hidden: list[str]) -> ast.Name:
        """A name no source can write, bound to `value` (the value of `node`) until the statement ends."""
        self.hidden_names += 1  # numbered per kernel: a statement inside another's (a block augmented) has its own
        name = f"{_HIDDEN}{self.hidden_names}"
        hidden.append(name)
        self.bind(name, value)
        return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)

    def drop_hidden(self, hidden: list[str]) -> None:
        """Unbind a statement's hidden names (`hidden_name`) once it has run."""
        for name in hidden:
            self.scopes[-1].pop(name, None)
            if self.defined is not None:
                self.defined.discard(name)

    def evaluated_once(self, node: ast.expr | None, hidden: list[str]) -> ast.expr | None:
        """`node`, or where it reads an array or calls (a receive), a hidden name of its value evaluated now: the
        rows of a block are lowered one by one from the same expressions, which would evaluate it for each row
        (after earlier rows were written, and running a receive once per row); an augmented assignment's index
        would be evaluated twice (`index_evaluated_once`)."""
        if node is None or not any(isinstance(n, (ast.Subscript, ast.Call)) for n in ast.walk(node)):
            return node  # a constant or variables: the same for every row
        return self.hidden_name(self.expr(node), node, hidden)

    def columns_once(self, columns: ast.expr, hidden: list[str]) -> ast.expr:
        """The column slice of a block with its bounds evaluated once (`evaluated_once`), lower then upper."""
        if not isinstance(columns, ast.Slice):
            return columns
        lower, upper = self.evaluated_once(columns.lower, hidden), self.evaluated_once(columns.upper, hidden)
        if lower is columns.lower and upper is columns.upper:
            return columns
        return ast.copy_location(ast.Slice(lower=lower, upper=upper, step=columns.step), columns)

    def computed_rows(self, node: ast.expr) -> ast.expr:
        """`node`; an operation on slices or blocks, which Python has computed once its operands are read
        (`computed`)."""
        return self.computed(node) if self.has_slice(node) else node

    def row_of(self, node: ast.expr, k: int) -> ast.expr:
        """`node` with each 2-D slice replaced by its k-th row."""
        if _is_block(node):
            base = self.subscripted(node)
            start, _, constant = self.row_range(base, subscript_parts(node)[0], "an operand block")
            row = ast.Constant(constant + k) if constant is not None else \
                ast.BinOp(left=start, op=ast.Add(), right=ast.Constant(k))
            out = ast.Subscript(value=node.value, slice=ast.Tuple(elts=[row, subscript_parts(node)[1]], ctx=ast.Load()),
                                ctx=ast.Load())
        elif isinstance(node, ast.BinOp):
            out = ast.BinOp(left=self.row_of(node.left, k), op=node.op, right=self.row_of(node.right, k))
        elif isinstance(node, ast.UnaryOp):
            out = ast.UnaryOp(op=node.op, operand=self.row_of(node.operand, k))
        elif isinstance(node, ast.Call):
            out = ast.Call(func=node.func, args=[self.row_of(a, k) for a in node.args], keywords=[])
        else:
            return node
        ast.copy_location(out, node)
        ast.fix_missing_locations(out)
        return out
