"""Slice assignments: `dst[a:b] = <tree of + - * / min max and unary - over slices and scalars>` as vector
instructions, with scalar subexpressions computed once and broadcast, and no element loop.

The right side is resolved first, in Python's order: every scalar subexpression is evaluated (and converted
to the destination's dtype) and every slice operand's bounds are computed. Then the tree is emitted: the left
spine of the tree computes into the destination, right subtrees into vector temporaries in the scratch
segment. If an operand read after the destination is first written names the destination's array, the whole
tree is computed in scratch and copied at the end, so the result is what NumPy gives.
"""
from __future__ import annotations

import ast
import dataclasses

import numpy as np

from ..isa.float_math import VECTOR_MATH
from ..isa.halfprec import HALF_DTYPES
from ..isa.opcodes import FLAG_SCALAR, WORD_TYPE_NAMES
from . import intrinsics as wsi
from .arrays import ArrayLowering
from .halfprec import is_half_type
from .scalar_math import ANGLE_FACTORS, UNARY
from .ir import VReg
from .values import NOT_STATIC, LocalArray, SliceRef, Tup, Unsupported, Val, describe

_VECTOR_OPS = {ast.Add: "vadd", ast.Sub: "vsub", ast.Mult: "vmul", ast.Div: "vdiv"}
_COMMUTATIVE = {"vadd", "vmul", "vmin", "vmax"}
#: Builtins without effects, which give the same value each time they run with the same arguments (`runs_call`)
_PURE_CALLS = (len, abs, min, max, int, bool, round, float, np.int32, np.float32)  # (conversions: no effect)


def _same_value(a: Val, b: Val) -> bool:
    """Whether two scalars are the same constant or the same register."""
    if a.reg is not None or b.reg is not None:
        return a.reg is b.reg
    return type(a.const) is type(b.const) and a.const == b.const


@dataclasses.dataclass
class VecLeaf:
    """A slice operand, and the expression it came from (to recognise `dst = x * y + dst`)."""

    ref: SliceRef
    node: ast.expr
    #: the kernel's count of array writes when the operand was read (`ArrayLowering.array_writes`)
    writes: int = -1


@dataclasses.dataclass
class VecOp:
    op: str  # vadd, vsub, vmul, vdiv, vmin, vmax
    left: "VecLeaf | VecOp | VecNeg | Val"
    right: "VecLeaf | VecOp | VecNeg | Val"


@dataclasses.dataclass
class VecNeg:
    operand: "VecLeaf | VecOp | VecNeg | VecFn"


@dataclasses.dataclass
class VecFn:
    """A float32 math function of one operand applied to each element (`vmath`)."""

    opcode: str  # a scalar math opcode of float_math.VECTOR_MATH
    operand: "VecLeaf | VecOp | VecNeg | VecFn"


@dataclasses.dataclass
class _Target:
    """Where a tree is being written: the length register, the element type its instructions work on (for
    a float32 accumulation of 16-bit products: the 16-bit type) and the words of a vector temporary."""

    length: VReg | int
    ty: str
    slot_words: int


def _float_only(what: str, ty: str) -> str:
    """Why `what` (a float32-valued slice operation) cannot write a slice of dtype `ty`, and what to write."""
    if ty == "i32":
        return (f"{what} float32 values, which an int32 slice cannot hold: write them into a float32 "
                f"array (then convert element by element, `dst[k] = int(tmp[k])`, if you need ints)")
    return (f"{what} float32 values, and there is no {WORD_TYPE_NAMES[ty]} form: widen into a float32 array first "
            f"(`f[0:n] = h[0:n]`), compute there, and narrow back with a slice copy (`h[0:n] = f[0:n]`)")


def _leaves(tree) -> list[VecLeaf]:
    if isinstance(tree, VecLeaf):
        return [tree]
    if isinstance(tree, VecOp):
        return _leaves(tree.left) + _leaves(tree.right)
    if isinstance(tree, (VecNeg, VecFn)):
        return _leaves(tree.operand)
    return []


def _copy_tree(tree):
    """A tree with the operations and leaves of `tree` as new nodes (the same slices and scalars): used twice in
    one tree, each use is its own node, so the check for leaves read after the destination is written sees
    both."""
    if isinstance(tree, VecLeaf):
        return VecLeaf(tree.ref, tree.node, tree.writes)
    if isinstance(tree, VecOp):
        return VecOp(tree.op, _copy_tree(tree.left), _copy_tree(tree.right))
    if isinstance(tree, VecNeg):
        return VecNeg(_copy_tree(tree.operand))
    if isinstance(tree, VecFn):
        return VecFn(tree.opcode, _copy_tree(tree.operand))
    return tree  # a scalar


def _first_write(tree):
    """The node whose instruction first writes the destination: the bottom of the tree's left spine."""
    while True:
        child = tree.left if isinstance(tree, VecOp) else tree.operand
        if not isinstance(child, (VecOp, VecNeg, VecFn)):
            return tree
        tree = child


class VectorLowering(ArrayLowering):
    # ------------------------------------------------------------------ classification
    def is_min_max(self, node: ast.expr) -> bool:
        if not (isinstance(node, ast.Call) and len(node.args) == 2 and not node.keywords):
            return False
        try:
            return self.static(node.func) in (min, max)
        except Unsupported:
            return False

    def has_slice(self, node: ast.expr) -> bool:
        """Whether an expression has a slice among its operands (so it computes a vector)."""
        if isinstance(node, ast.Subscript):
            parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return any(isinstance(p, ast.Slice) for p in parts) and not self.is_tuple(node.value)
        if isinstance(node, ast.Name):
            return isinstance(self.lookup_or_none(node.id), SliceRef)
        if isinstance(node, ast.BinOp):
            return self.has_slice(node.left) or self.has_slice(node.right)
        if isinstance(node, ast.UnaryOp):
            return self.has_slice(node.operand)
        if self.is_min_max(node):
            return any(self.has_slice(a) for a in node.args)
        if self.vector_function(node) is not None or self.angle_factor(node) is not None:
            return self.has_slice(node.args[0])
        return False

    def angle_factor(self, node: ast.expr) -> float | None:
        """The float32 factor of `np.degrees(x)`, `math.radians(x)` and the like (one multiplication, as for a
        number: NumPy's float32 loops multiply by these constants), else None."""
        if not (isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords):
            return None
        try:
            callee = self.static(node.func)
            return float(ANGLE_FACTORS[callee]) if callee in ANGLE_FACTORS else None
        except (Unsupported, TypeError):  # not a static callee, or an unhashable one
            return None

    def vector_function(self, node: ast.expr) -> str | None:
        """The `vmath` function of a call of a float32 math function of one argument (`np.exp(...)`,
        `math.sqrt(...)`, `abs(...)`), else None."""
        if not (isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords):
            return None
        try:
            callee = self.static(node.func)
        except Unsupported:
            return None
        if callee in (abs, np.abs):
            return "fabs"
        try:
            opcode = UNARY.get(callee)
        except TypeError:  # an unhashable object
            return None
        return opcode if opcode in VECTOR_MATH else None

    def is_vector_tree(self, node: ast.expr) -> bool:
        return (isinstance(node, (ast.BinOp, ast.UnaryOp)) or self.is_min_max(node)
                or self.vector_function(node) is not None or self.angle_factor(node) is not None) \
            and self.has_slice(node)

    # ------------------------------------------------------------------ slice assignment
    def store_slice(self, array, parts: list[ast.expr], target: ast.expr, value_node: ast.expr, value=None) -> None:
        """`array[parts] = value_node` (or the already evaluated `value`)."""
        while value is None and isinstance(value_node, ast.UnaryOp) and isinstance(value_node.op, ast.UAdd):
            value_node = value_node.operand  # (`+c[0:n]` is a copy of c[0:n]: no operation to write with)
        if value is None and self.strided_copy(array, parts, value_node, target):
            return
        if value is None:
            value_node = self.slice_fma(value_node) or value_node
        if value is None and self.is_vector_tree(value_node):
            if not isinstance(array, LocalArray):
                raise Unsupported("vector arithmetic writes a local slice; store it to global memory after")
            # (this statement's own: one inside a device function that a scalar of an enclosing slice statement
            # calls must not change what that statement has computed so far)
            enclosing, self.vector_computed = self.vector_computed, False
            try:
                tree = self.resolve(value_node, array.dtype)
                writes = self.array_writes
                dst = self.slice_ref(array, parts)  # (the target's bounds, after the right side, as in Python)
                self.check_write_order(writes, target, "the target's bounds call")
                self.emit_tree(tree, dst, target)
            finally:
                self.vector_computed = enclosing
            return
        if value is None:
            self.type_recvs_by_context(value_node, self.scalar_operand_type(array.dtype))
            value = self.expr(value_node)
        dst = self.slice_ref(array, parts)
        if isinstance(value, SliceRef):
            self.copy_slice(dst, value)
        elif isinstance(value, Val):
            if not isinstance(dst.array, LocalArray):
                raise Unsupported("a global slice can only be assigned a local slice: x[a:a + n] = buf[0:n]")
            scalar = self.element_value(self.broadcast(value, dst.array.dtype, value_node), dst.array.dtype)
            self.emit("vfill", d=self.sram_address(dst.array, dst.start), b=self.reg_of(scalar),
                      c=self.reg_of(dst.length))
        else:
            raise Unsupported(f"cannot assign {describe(value)} to a slice")

    def broadcast(self, value: Val, ty: str, node: ast.expr) -> Val:
        """A scalar operand of a slice operation, in the slice's dtype (NumPy keeps the array's dtype)."""
        if ty == "i32" and value.ty == "f32":
            raise Unsupported("a float32 scalar cannot combine with an int32 slice ("
                              + self.float_to_int_hint(node, into_array=True) + ")", node)
        return self.to_type(value, self.scalar_operand_type(ty))

    # ------------------------------------------------------------------ resolving the right side
    def resolve(self, node: ast.expr, ty: str):
        """The tree of `node` with its scalars evaluated and its slices computed, in Python's order."""
        if not self.has_slice(node):
            self.type_recvs_by_context(node, self.scalar_operand_type(ty))
            writes = self.array_writes
            value = self.scalar(node)
            self.check_write_order(writes, node)
            return self.broadcast(value, ty, node)
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _VECTOR_OPS:
                raise Unsupported(f"operator {type(node.op).__name__} is not supported on slices", node)
            if isinstance(node.op, ast.Div) and ty != "f32":
                raise Unsupported(_float_only("`/` of slices gives", ty), node)
            left = self.resolve(node.left, ty)
            return self.computed(VecOp(_VECTOR_OPS[type(node.op)], left, self.resolve(node.right, ty)))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.UAdd):
                return self.resolve(node.operand, ty)
            if isinstance(node.op, ast.USub):
                return self.computed(VecNeg(self.resolve(node.operand, ty)))
            raise Unsupported(f"unary {type(node.op).__name__} is not supported on slices", node)
        factor = self.angle_factor(node)
        if factor is not None:
            if ty != "f32":
                raise Unsupported(_float_only("angle conversions of slices give", ty), node)
            return self.computed(VecOp("vmul", self.resolve(node.args[0], ty), Val("f32", const=factor)))
        function = self.vector_function(node)
        if function is not None:
            if ty == "i32" and self.static(node.func) in (abs, np.abs):
                # abs of int32 elements is an int32, as NumPy's: max(v, -v), v computed twice (there is no
                # int32 vmath); -(-2**31) wraps to itself, so abs(-2**31) is -2**31 as np.abs gives
                operand = self.resolve(node.args[0], ty)
                return self.computed(VecOp("vmax", operand, VecNeg(_copy_tree(operand))))
            if ty != "f32":
                raise Unsupported(_float_only("math functions of slices give", ty), node)
            return self.computed(VecFn(function, self.resolve(node.args[0], ty)))
        if self.is_min_max(node):
            left = self.resolve(node.args[0], ty)
            return self.computed(VecOp("vmin" if self.static(node.func) is min else "vmax", left,
                                       self.resolve(node.args[1], ty)))
        writes = self.array_writes
        value = self.expr(node)
        self.check_write_order(writes, node, "this operand's bounds call")
        if not isinstance(value, SliceRef):
            raise Unsupported(f"{describe(value)} cannot be a vector operand", node)
        if not isinstance(value.array, LocalArray):
            raise Unsupported("vector operands must be slices of local arrays (load global data first)", node)
        self.check_vector_dtype(value.array.dtype, ty, node)
        return VecLeaf(value, node, self.array_writes)

    def check_write_order(self, writes_before: int, node: ast.expr, what: str = "this scalar calls") -> None:
        """Refuse the scalar `node` (just evaluated; `array_writes` was `writes_before`), or the target's bounds,
        if it wrote an array after a slice operation of the statement (`vector_computed`): every vector operation
        runs after every scalar and bound is known, where Python ran that one before the call, on the arrays as
        they were (`a[g(c):g(c) + 4] = c[0:4] * 2.0`: NumPy multiplies before `g` writes `c`)."""
        if self.array_writes != writes_before and self.vector_computed:
            raise Unsupported(f"{what} a function that writes an array, after a slice operation that Python "
                              f"computes before the call: call it before the statement, into a variable", node)

    def computed(self, node):
        """`node`, a vector operation Python has computed at this point of the right side (its operands read)."""
        self.vector_computed = True
        return node

    # ------------------------------------------------------------------ emitting
    def emit_tree(self, tree, dst: SliceRef, target: ast.expr) -> None:
        for leaf in _leaves(tree):
            self.check_same_length(leaf.ref, dst)
        ty = dst.array.dtype
        mixed = self.mixed_accumulate(_leaves(tree), ty)
        out = _Target(self.reg_of(dst.length), mixed or ty, dst.array.size)
        d_addr = self.sram_address(dst.array, dst.start)
        if self.fused_accumulate(tree, dst, d_addr, out, target, widening=mixed is not None):
            return
        if mixed:
            raise self.mixed_refusal()
        early = _leaves(_first_write(tree))
        late = [leaf for leaf in _leaves(tree) if all(leaf is not e for e in early)]
        self.vector_slots = 0
        if any(leaf.ref.array is dst.array for leaf in late):
            # The destination is read after it is first written: compute in scratch, then copy.
            scratch = self.vector_slot(out)
            self.compute(tree, scratch, out)
            self.emit("vcopy", d=d_addr, a=scratch, c=out.length)
        else:
            self.compute(tree, d_addr, out)

    def fused_accumulate(self, tree, dst: SliceRef, d_addr: VReg, out: _Target, target: ast.expr,
                         widening: bool = False) -> bool:
        """`dst = x * y + dst` (either order of the sum) as one `vfma` (which rounds the product, then the
        sum, as NumPy does); `widening`: 16-bit x and y into a float32 dst, one `vwfma`."""
        if not (isinstance(tree, VecOp) and tree.op == "vadd"):
            return False
        for product, other in ((tree.left, tree.right), (tree.right, tree.left)):
            if isinstance(product, VecOp) and product.op == "vmul" and isinstance(other, VecLeaf) \
                    and isinstance(product.left, (VecLeaf, Val)) and isinstance(product.right, (VecLeaf, Val)):
                if not self.is_destination(other, dst, target):
                    if widening and ast.unparse(other.node) == ast.unparse(target):
                        raise Unsupported("the accumulator added may not be the slice written: a call in this "
                                          "statement writes an array its bounds read, or calls in them may give "
                                          "other values (Python reads the operand's bounds before the call, the "
                                          "target's after it); compute the bounds into a variable first")
                    continue
                a, b = product.left, product.right
                if isinstance(a, Val):
                    a, b = b, a
                scalar = isinstance(b, Val)
                fields = dict(d=d_addr, a=self.sram_address(a.ref.array, a.ref.start),
                              b=self.reg_of(b) if scalar else self.sram_address(b.ref.array, b.ref.start),
                              c=out.length)
                if widening:
                    if any(leaf.ref.array.dtype != out.ty for leaf in (a, b) if isinstance(leaf, VecLeaf)):
                        raise self.mixed_refusal()
                    self.emit("vwfma", flags=self.vector_flags(out.ty) | (FLAG_SCALAR if scalar else 0), **fields)
                else:
                    self.emit_vector("vfma", out.ty, scalar, **fields)
                return True
        return False

    def is_destination(self, leaf: VecLeaf, dst: SliceRef, target: ast.expr) -> bool:
        """Whether the operand `leaf` is the slice `dst` the statement writes, so that one instruction that
        adds into `dst` in place reads it. The same source text is not enough: Python reads the operand's
        bounds before the rest of the right side and the target's after it, so a call between them that
        writes the array they index (`acc[b[0]:b[0] + 4] = acc[b[0]:b[0] + 4] + x[0:4] * bump(b)`), or one in
        the bounds themselves (a receive), can make them two slices."""
        if leaf.ref.array is not dst.array:
            return False
        if _same_value(leaf.ref.start, dst.start) and _same_value(leaf.ref.length, dst.length):
            return True
        if ast.unparse(leaf.node) != ast.unparse(target) or any(self.runs_call(node) for node in ast.walk(target)):
            return False
        # the same text of variables and constants is the same slice; one that reads an array, only if no array
        # was written since the operand was read
        index = target.slice if isinstance(target, ast.Subscript) else target
        return leaf.writes == self.array_writes or not any(isinstance(node, ast.Subscript) for node in ast.walk(index))

    def runs_call(self, node: ast.expr) -> bool:
        """Whether `node` is a call that runs when the kernel does and may have an effect: not a conversion of a
        constant folded when compiling (`np.int32(3)`, `int(2)`: the same constant however often it is read, so
        `a[0:0 + np.int32(3)] += v` is `a[0:3] += v`, as in Python), nor a builtin without effects (`len`, `abs`,
        `min`, `max`, the conversions `int`, `float`, `np.int32`, `np.float32` of a run-time value:
        `a[len(a) - 1] += v`, `a[np.int32(k) % 4] += v`; the index is evaluated once, into a hidden name, where it
        reads an array or calls; a call among its arguments is checked on its own)."""
        if not isinstance(node, ast.Call):
            return False
        try:
            if self.static(node) is not NOT_STATIC:
                return False
            callee = self.static(node.func)
        except Unsupported:
            return True
        return not any(callee is pure for pure in _PURE_CALLS)

    def vector_slot(self, out: _Target) -> VReg:
        """The SRAM address of a fresh vector temporary (released by the caller with `vector_slots -= 1`)."""
        slot = self.vector_slots
        self.vector_slots += 1
        self.fn.scratch_words = max(self.fn.scratch_words, self.vector_slots * out.slot_words)
        address = self.new_reg("i32")
        self.emit("li", d=address, imm=slot * out.slot_words, reloc="scratch")
        return address

    def operand(self, node, dest: VReg | None, out: _Target) -> tuple[VReg | Val, bool]:
        """An instruction operand for `node`: a scalar, a slice's address, or a subtree computed into `dest`
        (or into a new temporary when `dest` is None). The flag says whether a temporary was taken."""
        if isinstance(node, Val):
            return node, False
        if isinstance(node, VecLeaf):
            return self.sram_address(node.ref.array, node.ref.start), False
        if dest is None:
            temporary = self.vector_slot(out)
            self.compute(node, temporary, out)
            return temporary, True
        self.compute(node, dest, out)
        return dest, False

    def compute(self, node, dest: VReg, out: _Target) -> None:
        if isinstance(node, VecNeg):
            source, _ = self.operand(node.operand, dest, out)
            self.negate(dest, source, out)
            return
        if isinstance(node, VecFn):
            source, _ = self.operand(node.operand, dest, out)  # (a vector: `resolve` folds scalar calls)
            self.emit("vmath", d=dest, a=source, b=VECTOR_MATH.index(node.opcode), c=out.length)
            return
        left, _ = self.operand(node.left, dest, out)
        right, took = self.operand(node.right, None, out)
        self.combine(node.op, dest, left, right, out)
        if took:
            self.vector_slots -= 1

    def negate(self, dest: VReg, source: VReg, out: _Target) -> None:
        minus_one = Val(self.scalar_operand_type(out.ty), const=-1 if out.ty == "i32" else -1.0)
        self.emit_vector("vscale", out.ty, True, d=dest, a=source, b=self.reg_of(minus_one), c=out.length)

    def scalar_filled_first(self, op: str, dest, scalar_reg, b, out) -> None:
        """dest = `op`(the scalar in `scalar_reg`, each element of b), the scalar kept as the first operand:
        filled into a vector temporary (not dest: b may be the destination's own elements)."""
        filled = self.vector_slot(out)
        self.emit("vfill", d=filled, b=scalar_reg, c=out.length)
        self.emit_vector(op, out.ty, d=dest, a=filled, b=b, c=out.length)
        self.vector_slots -= 1

    def min_max_swaps_exactly(self, scalar: Val, ty: str) -> bool:
        """Whether `min(scalar, v)` (`max`) equals `min(v, scalar)` bit for bit for every `v`: int32, or a
        constant that is neither a zero nor nan in the elements' type (a 16-bit instruction rounds it first)."""
        if ty == "i32":
            return True
        if not scalar.is_const:
            return False
        with np.errstate(over="ignore", under="ignore"):
            value = float(np.float32(scalar.const).astype(HALF_DTYPES[ty]) if ty in HALF_DTYPES
                          else np.float32(scalar.const))
        return value == value and value != 0.0

    def combine(self, op: str, dest: VReg, a: VReg | Val, b: VReg | Val, out: _Target) -> None:
        """dest = a op b, with at most one scalar operand (it goes in the instruction's scalar slot)."""
        if isinstance(a, Val):
            if op == "vsub":  # s - v = (-v) + s, exactly, in int32 and in IEEE floats (not -(v - s): where
                # v == s that is -0.0, where s - v is +0.0)
                self.negate(dest, b, out)
                self.combine("vadd", dest, dest, a, out)
                return
            if op == "vdiv":  # s / v: vdiv divides by its scalar operand, not into it, and s * (1 / v)
                # would round twice; so s is filled into a vector temporary, and each element is the one IEEE
                # division NumPy does.
                self.scalar_filled_first("vdiv", dest, self.reg_of(a), b, out)
                return
            if op in ("vmin", "vmax") and not self.min_max_swaps_exactly(a, out.ty):
                # NumPy's minimum/maximum of two equal zeros (+0.0, -0.0) returns one operand by position (which
                # one differs between float32 and float16), so `min(s, v)` is not `min(v, s)` bit for bit:
                # s keeps its place, as in `/` above.
                self.scalar_filled_first(op, dest, self.reg_of(self.element_value(a, out.ty)), b, out)
                return
            if op not in _COMMUTATIVE:
                raise AssertionError(f"{op} with a scalar first operand")
            a, b = b, a
        if isinstance(b, Val):
            self.emit_vector("vscale" if op == "vmul" else op, out.ty, True, d=dest, a=a, b=self.reg_of(b),
                             c=out.length)
        else:
            self.emit_vector(op, out.ty, d=dest, a=a, b=b, c=out.length)

    # ------------------------------------------------------------------ reductions
    def reduction(self, callee, args) -> Val:
        """`sum(s)`, `min(s)`, `max(s)` of a local slice (or a whole 1-D local array), and `ws.dot(a, b)` of two:
        one vredsum / vredmin / vredmax / vdot, accumulated left to right (see docs/python-supported.md). Of a
        tuple, sum/min/max are the scalar operations on its items."""
        is_dot = callee is wsi.dot
        name = "ws.dot" if is_dot else callee.__name__
        if callee is sum and len(args) == 2:  # Python's sum(t, start): not the one-slice reduction
            raise Unsupported("sum() takes no start value in a kernel: add it to the result, start + sum(t) (for "
                              "float32 the additions then run in another order than Python's sum(t, start))")
        if len(args) != (2 if is_dot else 1):
            raise Unsupported(f"{name}() of slices takes {'two slices' if is_dot else 'one slice'} in a kernel")
        values = [self.expr(a) for a in args]
        if not is_dot and isinstance(values[0], Tup):
            return self.tuple_reduction(callee, values[0], args[0])
        refs = [self.reduction_operand(v, a, name) for v, a in zip(values, args)]
        ty = refs[0].array.dtype
        if any(is_half_type(ref.array.dtype) for ref in refs):
            raise Unsupported(f"{name}() of a 16-bit slice: widen it into a float32 array first "
                              f"(t[0:n] = h[0:n]) and reduce that", args[0])
        if is_dot:
            if refs[1].array.dtype != ty:
                raise Unsupported("ws.dot() of an int32 and a float32 slice: convert one array first", args[1])
            self.check_same_length(refs[1], refs[0])
        op = {sum: "vredsum", min: "vredmin", max: "vredmax"}.get(callee, "vdot")
        fields = {"a": self.sram_address(refs[0].array, refs[0].start), "c": self.reg_of(refs[0].length)}
        if is_dot:
            fields["b"] = self.sram_address(refs[1].array, refs[1].start)
        return self.result(op, ty, flags=1 if ty == "f32" else 0, **fields)

    def reduction_operand(self, value, node: ast.expr, name: str) -> SliceRef:
        if isinstance(value, LocalArray) and len(value.shape) == 1:
            return SliceRef(value, Val("i32", const=0), Val("i32", const=value.shape[0]))
        if isinstance(value, SliceRef) and isinstance(value.array, LocalArray):
            return value
        if isinstance(value, SliceRef):
            raise Unsupported(f"{name}() of a global slice: copy it into a local array first", node)
        if isinstance(value, LocalArray):  # (2-D or 3-D: a reduction runs over one row)
            row = ", ".join(["i", "j"][:len(value.shape) - 1])
            raise Unsupported(f"{name}() of the {len(value.shape)}-D local array {value.name}: reduce a row, "
                              f"{name}({value.name}[{row}, 0:{value.shape[-1]}]), one row at a time (or a whole "
                              f"1-D local array)", node)
        if isinstance(value, Val) and name in ("min", "max"):
            raise Unsupported(f"{name}() of one number: min and max of numbers need at least two values; one "
                              f"argument must be a slice of a local array or a tuple", node)
        raise Unsupported(f"{name}() in a kernel takes slices of local arrays (or a tuple), not {describe(value)}",
                          node)

    def tuple_reduction(self, callee, value: Tup, node: ast.expr) -> Val:
        items = list(value.items)
        if not all(isinstance(item, Val) for item in items):
            raise Unsupported(f"{callee.__name__}() of a tuple takes a tuple of numbers", node)
        if callee is sum:  # Python's sum starts from 0 and adds left to right
            total = self.const(0)
            for item in items:
                total = self.arith(ast.Add(), total, item)
            return total
        if not items:
            raise Unsupported(f"{callee.__name__}() of an empty tuple", node)
        result = items[0]
        for item in items[1:]:
            result = self.min_max_pair(callee, result, item)
        return result
