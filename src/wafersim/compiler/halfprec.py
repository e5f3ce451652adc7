"""16-bit floats in kernels: float16 (`f16`) and bfloat16 (`bf16`) arrays, local and global.

A 16-bit element is stored one per 32-bit word (`isa.halfprec`). Scalars are never 16-bit: reading an
element gives a float32 (`h2f`, exact) and storing a number into an element rounds it to 16 bits (`f2h`,
to nearest even), so scalar arithmetic between the two is float32, as with NumPy's float32 scalars.
Slices are vector operands of the 16-bit opcodes (`vhadd` ... `vhfma`, one rounding per operation, as
NumPy computes on 16-bit arrays), with float32 accumulation by `vwfma` (`acc[a:b] = x[...] * y[...] +
acc[a:b]` or `ws.fma(x[...], y[...], acc[a:b])` with 16-bit `x`, `y` and float32 `acc`) and conversions
by slice copies between a float32 and a 16-bit array (`vcvtf`, `vcvth`). See docs/python-supported.md.
"""
from __future__ import annotations

import ast

import numpy as np

from . import intrinsics as wsi
from ..isa import halfprec
from ..isa.opcodes import FLAG_BFLOAT, FLAG_FLOAT, FLAG_SCALAR, WORD_TYPE_NAMES
from .calls import CallLowering
from .values import LocalArray, SliceRef, Unsupported, Val

#: The 16-bit opcode that does what each float32 vector opcode does (`vscale` is `vhmul.s`).
_HALF_OPCODE = {"vadd": "vhadd", "vsub": "vhsub", "vmul": "vhmul", "vmin": "vhmin", "vmax": "vhmax",
                "vfma": "vhfma", "vscale": "vhmul"}
#: Opcodes whose `b` is a scalar register without the `.s` flag.
_IMPLICIT_SCALAR = frozenset({"vscale", "vfill"})


def is_half_type(ty: str) -> bool:
    return ty in halfprec.HALF_DTYPES


def half_flags(ty: str) -> int:
    """The flags that select the 16-bit kind `ty` on a 16-bit opcode."""
    return FLAG_BFLOAT if ty == "bf16" else 0


class HalfLowering(CallLowering):
    # ------------------------------------------------------------------ scalars <-> elements
    def element_word_type(self, ty: str) -> str:
        """The register type of an array element's raw word (a 16-bit element is an int32 bit pattern)."""
        return "i32" if is_half_type(ty) else ty

    def widen_element(self, word: Val, ty: str) -> Val:
        """The value of an element loaded as `word`: float32 for a 16-bit element (exact)."""
        if not is_half_type(ty):
            return word
        return self.result("h2f", "f32", a=word.reg, flags=half_flags(ty))

    def element_value(self, value: Val, ty: str) -> Val:
        """`value` as the word an element of type `ty` stores: 16-bit elements round it to nearest even."""
        if not is_half_type(ty):
            return self.to_type(value, ty)
        value = self.to_type(value, "f32")
        if value.is_const:
            with np.errstate(over="ignore"):
                return Val("i32", const=int(halfprec.to_words(np.float32(value.const), ty)))
        return self.result("f2h", "i32", a=value.reg, flags=half_flags(ty))

    # ------------------------------------------------------------------ vector instructions
    def vector_flags(self, ty: str) -> int:
        """The flags of a vector instruction over elements of type `ty` (before `.s`)."""
        if is_half_type(ty):
            return half_flags(ty)
        return FLAG_FLOAT if ty == "f32" else 0

    def emit_vector(self, op: str, ty: str, scalar: bool = False, **fields) -> None:
        """Emit the vector instruction `op` (a float32/int32 opcode name) for elements of type `ty`: the
        16-bit opcode for 16-bit elements; `scalar` marks `b` as a scalar register."""
        name = _HALF_OPCODE[op] if is_half_type(ty) else op
        flags = self.vector_flags(ty)
        if scalar and name not in _IMPLICIT_SCALAR:
            flags |= FLAG_SCALAR
        self.emit(name, flags=flags, **fields)

    def scalar_operand_type(self, ty: str) -> str:
        """The type of a scalar operand of a vector op over `ty`: float32 for 16-bit elements (the
        instruction rounds it to 16 bits)."""
        return "f32" if is_half_type(ty) else ty

    def check_vector_dtype(self, leaf_ty: str, ty: str, node: ast.expr) -> None:
        """A slice operand must have the destination's dtype (mixed precision: `vwfma` and conversions)."""
        if leaf_ty == ty or (ty == "f32" and is_half_type(leaf_ty)):  # the second: checked by `mixed_accumulate`
            return
        if "i32" in (leaf_ty, ty):  # (no vector int32 <-> float32 conversion: a slice copy would not do)
            fn = "int" if ty == "i32" else "float"
            how = (f"convert element by element into a {WORD_TYPE_NAMES[ty]} array first, `for k in range(n): "
                   f"tmp[k] = {fn}(src[k])` (a slice copy does not convert between int32 and float32)")
        else:
            how = f"convert with a slice copy into a {WORD_TYPE_NAMES[ty]} array first"
        raise Unsupported(f"vector operands must all have the destination's dtype ({WORD_TYPE_NAMES[ty]}), not "
                          f"{WORD_TYPE_NAMES[leaf_ty]}: {how}", node)

    def mixed_accumulate(self, leaves: list, ty: str) -> str | None:
        """For a float32 destination with 16-bit slice operands: their common 16-bit type (the tree must be
        a float32 accumulation of 16-bit products, `vwfma`); None when no operand is 16-bit."""
        kinds = {leaf.ref.array.dtype for leaf in leaves if is_half_type(leaf.ref.array.dtype)}
        if not kinds or ty != "f32":
            return None
        if len(kinds) > 1:
            raise Unsupported("float16 and bfloat16 slices in one expression: convert one of them first")
        return kinds.pop()

    def mixed_refusal(self) -> Unsupported:
        return Unsupported("16-bit slices in a float32 slice expression: the float32 accumulation of 16-bit "
                           "products is `acc[a:b] = x[c:d] * y[e:f] + acc[a:b]` (or `* s` with a scalar); "
                           "convert other operands with a slice copy into a float32 array first")

    def convert_slice(self, dst: SliceRef, src: SliceRef) -> bool:
        """`dst = src` between a float32 and a 16-bit local slice: one conversion (`vcvtf` widens exactly,
        `vcvth` rounds to nearest even). False when the copy is not a conversion."""
        types = (src.array.dtype, dst.array.dtype)
        if not (isinstance(dst.array, LocalArray) and isinstance(src.array, LocalArray)):
            if any(map(is_half_type, types)) and types[0] != types[1]:
                raise Unsupported(f"a {WORD_TYPE_NAMES[types[0]]} slice copied to a {WORD_TYPE_NAMES[types[1]]} slice: conversions run "
                                  f"between local arrays (copy the global data into a local array of its dtype "
                                  f"first)")
            return False
        if types[0] == "f32" and is_half_type(types[1]):
            op, kind = "vcvth", types[1]
        elif is_half_type(types[0]) and types[1] == "f32":
            op, kind = "vcvtf", types[0]
        else:
            return False
        self.check_same_length(src, dst)
        self.emit(op, d=self.sram_address(dst.array, dst.start), a=self.sram_address(src.array, src.start),
                  c=self.reg_of(dst.length), flags=half_flags(kind))
        return True

    def slice_fma(self, node: ast.expr) -> ast.expr | None:
        """`ws.fma(x, y, acc)` over slices, as the tree `x * y + acc` (None if `node` is no such call).
        Refused unless `x` and `y` are slices of 16-bit arrays and `acc` of a float32 one: their product is
        exact in float32, so the one rounding of `vwfma` is the one rounding `fma` promises (float32 factors,
        or a 16-bit accumulator, would round twice)."""
        if not (isinstance(node, ast.Call) and len(node.args) == 3 and not node.keywords):
            return None
        try:
            if self.static(node.func) is not wsi.fma:
                return None
        except Unsupported:
            return None
        if not any(self.has_slice(a) for a in node.args):
            return None
        factors = [self.static_dtype(factor) for factor in node.args[:2]]
        if any(ty not in halfprec.HALF_DTYPES for ty in factors) or self.static_dtype(node.args[2]) != "f32":
            raise Unsupported("ws.fma(x, y, acc) of slices takes x and y from float16 or bfloat16 arrays and acc "
                              "from a float32 one (the product is exact, so the float32 result rounds once); for "
                              "other slices write acc[a:b] = x[...] * y[...] + acc[a:b] (rounded twice, as NumPy "
                              "does)", node)
        return ast.copy_location(ast.BinOp(ast.BinOp(node.args[0], ast.Mult(), node.args[1]), ast.Add(),
                                           node.args[2]), node)

    def static_dtype(self, node: ast.expr) -> str | None:
        """The element type of a slice expression `name[...]` or of a name bound to a slice, without
        lowering it (None when it is neither)."""
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        bound = self.lookup_or_none(node.id)
        if isinstance(bound, SliceRef):
            bound = bound.array
        return getattr(bound, "dtype", None)
