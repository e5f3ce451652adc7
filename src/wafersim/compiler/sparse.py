"""Calls to the zero-skipping and sparse intrinsics in kernels (docs/sparsity.md), lowered to vfmaz, vspfma,
vspchk and vpacknz, and to send/sendv and recv/recvv for sending only nonzeros.

Operands are local arrays or slices of them. A "pairs" operand holds (value, index) words, a value then
its index as an int32 bit pattern. With bounds checks on (the default) every index a sparse instruction
will use is checked against the arrays it names (`vspchk`, or `chk` for lengths), so an index past an
array is a MemoryAccessError, never a write into a neighbouring array.
"""
from __future__ import annotations

import ast

from ..isa.opcodes import RAMP
from . import intrinsics as wsi
from .values import LocalArray, SliceRef, Unsupported, Val, describe

_INDEX_LIMIT = 0xFFFF  # a packed index word holds a row and a column of 16 bits each
_FLOAT, _SCALAR = 1, 2


class SparseCallLowering:
    """Mixed into `CallLowering`: uses its expression, slice and emission helpers."""

    def sparse_call(self, callee, node: ast.Call) -> Val | None:
        args, kwargs = node.args, {k.arg: k.value for k in node.keywords}
        signatures = {wsi.fma_skip_zeros: ("dst", "a", "b"), wsi.sparse_fma: ("y", "pairs", "x"),
                      wsi.pack_nonzeros: ("pairs", "values"), wsi.send_nonzeros: ("direction", "values", "pairs"),
                      wsi.recv_fma: ("direction", "y", "scale", "pairs")}
        names = signatures[callee]
        # Each writes an array (dst, y, pairs) and some give a count used inside expressions: a slice assignment's
        # scalar calling one must be ordered as a device function that stores is (vectors.py, rows.py)
        self.array_writes += 1
        fabric = callee in (wsi.send_nonzeros, wsi.recv_fma)
        unexpected = sorted(set(kwargs) - ({"channel"} if fabric else set()))
        if unexpected or len(args) != len(names):
            raise Unsupported(f"ws.{callee.name}({', '.join(names)}{', channel=0' if fabric else ''}) takes "
                              f"{len(names)} arguments" + (f", not {unexpected[0]}=" if unexpected else ""), node)
        if callee is wsi.fma_skip_zeros:
            return self.fma_skip_zeros(*args)
        if callee is wsi.sparse_fma:
            return self.sparse_fma(*args)
        if callee is wsi.pack_nonzeros:
            return self.pack_nonzeros(*args)
        direction, channel = self.direction(args[0], ramp=True), self.channel(kwargs)  # ws.RAMP: routed
        if callee is wsi.send_nonzeros:
            return self.send_nonzeros(direction, channel, *args[1:])
        return self.recv_fma(direction, channel, *args[1:])

    # ------------------------------------------------------------------ operands
    def local_slice(self, node: ast.expr, what: str) -> SliceRef:
        value = self.expr(node)
        if isinstance(value, LocalArray) and len(value.shape) == 1:
            return SliceRef(value, Val("i32", const=0), Val("i32", const=value.size))
        if not isinstance(value, SliceRef) or not isinstance(value.array, LocalArray):
            raise Unsupported(f"{what} must be a 1-D local array or a slice of one, not {describe(value)}", node)
        return value

    def word_typed(self, ref: SliceRef, what: str, node: ast.expr) -> SliceRef:
        """`ref`, refusing a 16-bit float array: the sparse instructions compute in float32 or int32 words, and
        would read a float16/bfloat16 element as an integer bit pattern (a silent wrong answer)."""
        if ref.array.dtype in ("f16", "bf16"):
            name = "float16" if ref.array.dtype == "f16" else "bfloat16"
            raise Unsupported(f"{what} is a {name} array: the zero-skipping and sparse intrinsics take float32 or "
                              f"int32 arrays; widen it into a float32 array first (f32[0:n] = h[0:n])", node)
        return ref

    def address(self, ref: SliceRef):
        return self.sram_address(ref.array, ref.start)

    def pair_count(self, pairs: SliceRef) -> Val:
        """len(pairs) // 2, refusing an odd length (a value without its index)."""
        length = pairs.length
        if length.is_const:
            if length.const % 2:
                raise Unsupported(f"a pairs slice of {pairs.array.name} has {length.const} words: it holds "
                                  f"(value, index) pairs, so its length must be even")
            return Val("i32", const=length.const // 2)
        if self.boundscheck:
            odd = self.arith(ast.BitAnd(), length, Val("i32", const=1))
            self.check_index(odd, Val("i32", const=1), f"{pairs.array.name} pairs length (must be even)")
        return self.arith(ast.RShift(), length, Val("i32", const=1))

    def clamped(self, length: Val) -> Val:
        """A length as a 16-bit index limit (an index word cannot name more than 0xFFFF)."""
        if length.is_const:
            return Val("i32", const=min(length.const, _INDEX_LIMIT))
        return Val("i32", self.result("min", "i32", a=self.reg_of(length),
                                      b=self.reg_of(Val("i32", const=_INDEX_LIMIT))).reg, temp=True)

    def check_pairs(self, pairs_addr, count: Val, y: SliceRef, x: SliceRef | None) -> None:
        """With bounds checks on: one vspchk of every index against len(y) (and len(x))."""
        if not self.boundscheck:
            return
        rows = self.clamped(y.length) if x is not None else y.length
        if x is None:
            self.emit("vspchk", a=pairs_addr, b=self.reg_of(rows), c=self.reg_of(count), flags=_SCALAR)
            return
        columns = self.clamped(x.length)
        if rows.is_const and columns.is_const:  # the packed limit as the machine's int32 word (rows >= 2**15 wrap)
            word = (rows.const << 16) | columns.const
            limit = Val("i32", const=word - (1 << 32) if word >= 1 << 31 else word)
        else:
            limit = self.arith(ast.BitOr(), self.arith(ast.LShift(), rows, Val("i32", const=16)), columns)
        self.emit("vspchk", a=pairs_addr, b=self.reg_of(limit), c=self.reg_of(count))

    # ------------------------------------------------------------------ the intrinsics
    def fma_skip_zeros(self, dst_node, a_node, b_node) -> None:
        dst = self.word_typed(self.local_slice(dst_node, "fma_skip_zeros dst"), "fma_skip_zeros dst", dst_node)
        a = self.local_slice(a_node, "fma_skip_zeros a")
        ty = dst.array.dtype
        if a.array.dtype != ty:
            raise Unsupported("fma_skip_zeros operands must all have the destination's dtype", a_node)
        self.check_same_length(a, dst)
        b = self.expr(b_node)
        if isinstance(b, Val):
            b_reg, flags = self.reg_of(self.to_type(b, ty)), _SCALAR
        else:
            b = self.local_slice(b_node, "fma_skip_zeros b")
            if b.array.dtype != ty:
                raise Unsupported("fma_skip_zeros operands must all have the destination's dtype", b_node)
            self.check_same_length(b, dst)
            b_reg, flags = self.address(b), 0
        self.emit("vfmaz", d=self.address(dst), a=self.address(a), b=b_reg, c=self.reg_of(dst.length),
                  flags=flags | (_FLOAT if ty == "f32" else 0))
        return None

    def sparse_fma(self, y_node, pairs_node, x_node) -> None:
        y = self.word_typed(self.local_slice(y_node, "sparse_fma y"), "sparse_fma y", y_node)
        pairs = self.word_typed(self.local_slice(pairs_node, "sparse_fma pairs"), "sparse_fma pairs", pairs_node)
        ty = y.array.dtype
        count = self.pair_count(pairs)
        pairs_addr = self.address(pairs)
        x = self.expr(x_node)
        if isinstance(x, Val):
            self.check_pairs(pairs_addr, count, y, None)
            b_reg, flags = self.reg_of(self.to_type(x, ty)), _SCALAR
        else:
            x = self.local_slice(x_node, "sparse_fma x")
            if x.array.dtype != ty:
                raise Unsupported("sparse_fma x must have y's dtype", x_node)
            self.check_pairs(pairs_addr, count, y, x)
            b_reg, flags = self.address(x), 0
        self.emit("vspfma", d=self.address(y), a=pairs_addr, b=b_reg, c=self.reg_of(count),
                  flags=flags | (_FLOAT if ty == "f32" else 0))
        return None

    def pack_nonzeros(self, pairs_node, values_node) -> Val:
        return self.packed_nonzeros(pairs_node, values_node)[0]

    def packed_nonzeros(self, pairs_node, values_node) -> tuple[Val, SliceRef]:
        """pack_nonzeros's count, and the values slice it packed."""
        pairs = self.word_typed(self.local_slice(pairs_node, "pack_nonzeros pairs"), "pack_nonzeros pairs", pairs_node)
        values = self.word_typed(self.local_slice(values_node, "values"),
                                 "the values slice of pack_nonzeros / send_nonzeros", values_node)
        needed = self.arith(ast.Mult(), values.length, Val("i32", const=2))  # room for every value being nonzero
        if needed.is_const and pairs.length.is_const:
            if needed.const > pairs.length.const:
                raise Unsupported(f"the pairs slice of {pairs.array.name} has {pairs.length.const} words, but the "
                                  f"{values.length.const} values of {values.array.name} may need {needed.const} "
                                  f"(2 words per nonzero)")
        else:
            # (ending " slice end": the engine reports the slice's own length, not the + 1 the test adds)
            self.check_index(needed, self.arith(ast.Add(), pairs.length, Val("i32", const=1)),
                             f"{pairs.array.name} (the pairs of the {values.array.name} values: 2 words per value, "
                             f"as each may be nonzero) slice end")
        return self.result("vpacknz", "i32", a=self.address(pairs), b=self.address(values),
                           c=self.reg_of(values.length), flags=_FLOAT if values.array.dtype == "f32" else 0), values

    def send_nonzeros(self, direction: int, channel: int, values_node, pairs_node) -> Val:
        """The count, then the pairs: a zero is never sent (it costs `zero_skip_cycles` to pass over)."""
        count, values = self.packed_nonzeros(pairs_node, values_node)
        pairs = self.local_slice(pairs_node, "send_nonzeros pairs")
        self.match_nonzero_types(channel, RAMP if direction == RAMP else (direction + 2) % 4, 0, values.array.dtype,
                                 values_node)
        self.emit("send", dir=direction, ch=channel, a=count.reg)
        words = self.arith(ast.Mult(), count, Val("i32", const=2))
        self.emit("sendv", dir=direction, ch=channel, a=self.address(pairs), b=self.reg_of(words))
        return count

    def match_nonzero_types(self, channel: int, receiving: int, side: int, dtype: str, node) -> None:
        """Note the dtype a send_nonzeros (side 0) sends or a recv_fma (side 1) receives into toward a
        (channel, receiving direction), for `check_nonzero_types` once the whole kernel is lowered."""
        kinds = self.nonzero_types.setdefault((channel, receiving), ({}, {}))
        kinds[side].setdefault(dtype, (node, self.source))

    def check_nonzero_types(self) -> None:
        """Refuse a kernel whose recv_fma calls can only take the words of its send_nonzeros calls (same
        channel, facing directions) as another dtype: the pairs travel as raw words, so y's dtype would read
        the values' bits as the other type, a silent wrong answer (docs/sparsity.md). Only where the two
        sets of dtypes are disjoint: a kernel sending both types that way may pair them right. Judged on the
        whole kernel (a chain whose last PE's receive comes first in the source is right), at the first
        such recv_fma."""
        names = {"f32": "float32", "i32": "int32"}
        for (channel, _), (sent, received) in self.nonzero_types.items():
            if not sent or not received or set(sent) & set(received):
                continue
            got, wanted = ("/".join(sorted(names.get(t, t) for t in types)) for types in (sent, received))
            node, self.source = next(iter(received.values()))  # (the first lowered, as the source reads)
            raise self.error(node, f"on channel {channel}, send_nonzeros sends {got} values that recv_fma here "
                                   f"takes into {'an' if wanted[0] == 'i' else 'a'} {wanted} y: their bits would "
                                   f"be read as {wanted}; give recv_fma's y the dtype of the values sent (or "
                                   f"convert the values before sending them)")

    def recv_fma(self, direction: int, channel: int, y_node, scale_node, pairs_node) -> Val:
        """Receive a count and its pairs into `pairs`, then apply them: y[position] += value * scale."""
        y = self.word_typed(self.local_slice(y_node, "recv_fma y"), "recv_fma y", y_node)
        pairs = self.word_typed(self.local_slice(pairs_node, "recv_fma pairs"), "recv_fma pairs", pairs_node)
        self.match_nonzero_types(channel, direction, 1, y.array.dtype, y_node)
        scale = self.expr(scale_node)
        if not isinstance(scale, Val):
            raise Unsupported(f"recv_fma scale must be a number, not {describe(scale)}", scale_node)
        count = self.result("recv", "i32", dir=direction, ch=channel)
        words = self.arith(ast.Mult(), count, Val("i32", const=2))
        # (ending " slice end": the engine reports the slice's own length, not the + 1 the test adds)
        self.check_index(words, self.arith(ast.Add(), pairs.length, Val("i32", const=1)),
                         f"{pairs.array.name} (recv_fma's pairs: 2 words per received nonzero) slice end")
        pairs_addr = self.address(pairs)
        self.emit("recvv", dir=direction, ch=channel, a=pairs_addr, b=self.reg_of(words))
        self.check_pairs(pairs_addr, count, y, None)
        ty = y.array.dtype
        self.emit("vspfma", d=self.address(y), a=pairs_addr, b=self.reg_of(self.to_type(scale, ty)),
                  c=count.reg, flags=_SCALAR | (_FLOAT if ty == "f32" else 0))
        return count
