"""What the front end computes with: scalar values, arrays, slices, tuples, and the compile-time helpers on them.

A kernel expression lowers to one of these: a `Val` (an int32/float32 constant or virtual register), a
`GlobalArray` or `LocalArray`, a `SliceRef` (a vector operand), a `Tup`, or a plain Python object known at
compile time (a module, an intrinsic, a dtype).
"""
from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator, Mapping

import numpy as np

from ..isa import float_math
from ..isa.halfprec import HALF_NAMES
from ..isa.opcodes import WORD_TAG, WORD_TYPE_NAMES
from .ir import VReg

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DTYPES = {np.dtype(np.float32): "f32", np.dtype(np.int32): "i32"}
#: Element types of arrays (local and global): the scalar types, and the 16-bit floats `f16` and `bf16`,
#: stored one per 32-bit word (isa/halfprec.py), whose elements read as float32 values.
class _ArrayDtypes(Mapping):
    """`DTYPES` and `HALF_NAMES` as one mapping, without importing `ml_dtypes` (isa/halfprec.py)."""

    def __getitem__(self, dtype: np.dtype) -> str:
        return DTYPES[dtype] if dtype in DTYPES else HALF_NAMES[dtype]

    def __iter__(self) -> Iterator[np.dtype]:
        yield from DTYPES
        yield from HALF_NAMES

    def __len__(self) -> int:
        return len(DTYPES) + len(HALF_NAMES)


ARRAY_DTYPES: Mapping[np.dtype, str] = _ArrayDtypes()


@dataclasses.dataclass
class Val:
    """A scalar: a compile-time constant (`const`) or a virtual register (`reg`)."""

    ty: str
    reg: VReg | None = None
    const: int | float | None = None
    temp: bool = False  # a fresh register no variable owns yet
    wraps: bool = False  # an np.int32 constant: folding wraps around to int32, as NumPy does
    #: with `wraps`: the constant a device function's parameter holds (a variable: its arithmetic wraps, as an
    #: int32's), which `static` still gives as the Python int it is (a route pattern, a channel, a size)
    held: bool = False
    #: An np.int64 constant (or one NumPy computes as an int64): folding is exact, also with an np.int32 operand
    #: (NumPy promotes int32 with int64 to int64, so `np.int32(2**31 - 1) + np.int64(1)` is 2**31, not a wrap);
    #: on a register, a variable that may hold one (`x = np.int64(7)`): NumPy computes with it in int64, so
    #: arithmetic of it with an int32 known only at run time is refused, as for the constant (`arith`).
    int64: bool = False

    @property
    def is_const(self) -> bool:
        return self.reg is None


@dataclasses.dataclass
class GlobalArray:
    """An array argument in off-wafer memory: a pointer register and one register per dimension."""

    name: str
    dtype: str
    ptr: Val
    shape: tuple[Val, ...]


@dataclasses.dataclass
class LocalArray:
    """An array in the PE's SRAM with a compile-time shape."""

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
    """A tuple of kernel values (from a tuple display, `ws.grid(2)`, `.shape`)."""

    items: tuple


@dataclasses.dataclass
class KernelSignature:
    """Argument kinds of one specialisation: ('array', dtype, ndim), ('scalar', ty), or ('constant', ty, value)
    for a `ws.constant` parameter (a float's with its float32 bits after it; a bool's, either kind, with
    "bool" last: an int32 whose use as an index is refused, as NumPy takes a bool index as a mask)."""

    args: tuple

    def words(self) -> int:
        return sum(1 + a[2] if a[0] == "array" else 1 for a in self.args)


class Unsupported(Exception):
    """Raised inside lowering; becomes a `CompileError` at `node` (or at the enclosing statement)."""

    def __init__(self, message: str, node: ast.AST | None = None) -> None:
        super().__init__(message)
        self.node = node


RAW_WORD = WORD_TAG["raw"]


def word_tag(ty: str) -> int:
    """The fabric type tag of words of a kernel type ("i32", "f32", "f16", "bf16"): see isa.opcodes.WORD_TYPES."""
    if ty not in WORD_TAG:
        raise Unsupported(f"{ty} words cannot go on the fabric: it has type tags for "
                          f"{', '.join(t for t in WORD_TAG if t != 'raw')}")
    return WORD_TAG[ty]


class _NotStatic:
    def __repr__(self) -> str:
        return "<not static>"


#: What `Lowering.static` returns for an expression that has no compile-time value.
NOT_STATIC = _NotStatic()

#: Kernel objects (as opposed to compile-time Python objects) a name can be bound to.
KERNEL_OBJECTS = (Val, GlobalArray, LocalArray, SliceRef, Tup)


def describe(value) -> str:
    """A short phrase naming what a value is, for error messages."""
    if value is None:  # (what lowering a call that returns nothing gives: ws.send, ws.recv(..., out=...))
        return ("None (no value: a call that returns nothing, such as ws.send or ws.recv(..., out=...): call it as a "
                "statement, under an if where it is conditional)")
    if isinstance(value, Val):
        kind = {"i32": "an int32", "f32": "a float32"}.get(value.ty, f"a {value.ty}")
        return f"{kind} scalar" + (f" (the constant {value.const})" if value.is_const else "")
    return {GlobalArray: "a global array", LocalArray: "a local array", SliceRef: "a slice", Tup: "a tuple"}.get(
        type(value), repr(value))


def wrap_int32(value: int) -> int:
    """`value` reduced to int32 by two's-complement wrap-around (what NumPy's int32 arithmetic gives)."""
    return (value + 2**31) % 2**32 - 2**31


def fits_int32(value: int) -> bool:
    return INT_MIN <= value <= INT_MAX


#: Appended to "does not fit in int32" refusals: an int constant beyond int32 is often meant as a float in
#: numerical code (`x / 2**32`, `2**31 * 1.0`), where Python converts it exactly.
FLOAT_CONSTANT_HINT = "; where a float is meant, write a float constant (2.0 ** 32, 4294967296.0)"


def float32_bits(value: float) -> int:
    """The int32 bit pattern of a float32 constant (what `li` loads)."""
    with np.errstate(over="ignore"):
        return int(np.float32(value).view(np.int32))


def to_float32(value) -> float:
    """A Python number rounded to float32 (huge values become +-inf, as the machine's arithmetic would give)."""
    with np.errstate(over="ignore"):
        return float(np.float32(value))


#: The NumPy ufunc that defines each scalar float32 math opcode (the engine runs the same one).
UFUNC_OF = {"fsqrt": np.sqrt, "fexp": np.exp, "flog": np.log, "ftanh": np.tanh, "fsin": np.sin, "fcos": np.cos,
            "ftan": np.tan, "fasin": np.arcsin, "facos": np.arccos, "fatan": np.arctan, "fsinh": np.sinh,
            "fcosh": np.cosh, "fasinh": np.arcsinh, "facosh": np.arccosh, "fatanh": np.arctanh, "fexpm1": np.expm1,
            "flog2": np.log2, "flog10": np.log10, "flog1p": np.log1p, "ffloor": np.floor, "fceil": np.ceil,
            "ftrunc": np.trunc, "fabs": np.fabs, "fatan2": np.arctan2, "fhypot": np.hypot,
            "fcopysign": np.copysign, "ffmod": np.fmod, "ffloordiv": np.floor_divide, "fpymod": np.remainder,
            "fmul": np.multiply, **float_math.UNARY, **float_math.BINARY}


def fold_float32(opcode: str, *values: float) -> float:
    """What the machine's `opcode` gives for constant operands: the same NumPy ufunc on float32 arrays."""
    with np.errstate(all="ignore"):
        arrays = [np.array([v], dtype=np.float32) for v in values]
        return float(UFUNC_OF[opcode](*arrays)[0])


def copy_refusal(src_ty: str, dst_ty: str, strided: bool = False) -> str:
    """Why a slice copy from a `src_ty` slice into a `dst_ty` one is refused, and what works instead. Slice
    copies convert only between float32 and the 16-bit floats: there is no vector int32 <-> float32
    conversion, so those convert element by element (`float(...)`: rounding to nearest; `int(...)`:
    truncating toward zero and saturating, nan giving 0). A strided copy (a step or a column: `vcopys`)
    moves words unchanged, so it converts nothing, float32 <-> 16-bit included."""
    src, dst = WORD_TYPE_NAMES.get(src_ty, src_ty), WORD_TYPE_NAMES.get(dst_ty, dst_ty)
    if strided and {src_ty, dst_ty} <= {"f32", "f16", "bf16"}:
        return (f"cannot copy a {src} slice into a {dst} slice with a step or a column: a strided copy moves words "
                f"unchanged and does not convert; copy it into a {src} array first (`tmp[0:n] = src[a:b, j]`), then "
                f"convert with a plain slice copy (`dst[0:n] = tmp[0:n]`)")
    fn = "float" if dst_ty != "i32" else "int"
    article = "an" if src.startswith("i") else "a"
    return (f"cannot copy {article} {src} slice into a {dst} slice: slice copies convert only between float32 and "
            f"float16 / bfloat16 (there is no vector int32 <-> float32 conversion); convert element by element, "
            f"`for k in range(n): dst[k] = {fn}(src[k])`, or keep both arrays {src}")
