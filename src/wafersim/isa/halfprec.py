"""16-bit floats (float16 and bfloat16) as the machine stores them: one value per 32-bit word.

A 16-bit value lives in SRAM, in device memory and in registers as its IEEE (float16) or bfloat16 bit
pattern in the low 16 bits of a 32-bit word, the high 16 bits zero. So every word-granular mechanism
(SRAM addresses, `ld`/`st`, `vcopy`, bulk copies, fabric messages) moves 16-bit values unchanged, and a
16-bit array takes as many words as a float32 one (docs/python-supported.md, "16-bit floats").

Arithmetic on them (the 16-bit vector opcodes, docs/isa.md) computes what NumPy (float16) and `ml_dtypes`
(bfloat16) compute on arrays of that dtype: each operation rounded to nearest even in the 16-bit format.
The runtime, the compiler and the engine all convert through this module.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping

import numpy as np

_FLOAT16 = np.dtype(np.float16)


def bfloat16() -> np.dtype:
    """NumPy's dtype of bfloat16 (`ml_dtypes.bfloat16`). `ml_dtypes` is imported here, on first use, not
    at `import wafersim`: importing it costs 0.5-1 s, which every program that never touches bfloat16
    would pay."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def _loaded_bfloat16() -> np.dtype | None:
    """bfloat16's dtype if `ml_dtypes` is already imported, else None: a host array can only be of
    dtype bfloat16 once its owner imported `ml_dtypes`, so a lookup by dtype never needs to import it."""
    return bfloat16() if "ml_dtypes" in sys.modules else None


class _HalfDtypes(Mapping):
    """The compiler's 16-bit type name (`f16`, `bf16`) -> NumPy dtype; bfloat16 loaded on first use."""

    def __getitem__(self, name: str) -> np.dtype:
        if name == "f16":
            return _FLOAT16
        if name == "bf16":
            return bfloat16()
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:  # (Mapping's would look "bf16" up: import ml_dtypes)
        return isinstance(name, str) and name in ("f16", "bf16")

    def __iter__(self) -> Iterator[str]:
        return iter(("f16", "bf16"))

    def __len__(self) -> int:
        return 2


class _HalfNames(Mapping):
    """NumPy dtype -> the compiler's 16-bit type name: the inverse of `HALF_DTYPES`, keyed by `np.dtype`
    objects only (as a dict of them would be)."""

    def __getitem__(self, dtype: np.dtype) -> str:
        if isinstance(dtype, np.dtype):
            if dtype == _FLOAT16:
                return "f16"
            bf16 = _loaded_bfloat16()
            if bf16 is not None and dtype == bf16:  # (`dtype == None` is True for float64: NumPy reads None as it)
                return "bf16"
        raise KeyError(dtype)

    def __iter__(self) -> Iterator[np.dtype]:
        return iter((_FLOAT16, bfloat16()))

    def __len__(self) -> int:
        return 2


#: The 16-bit float kinds: the compiler's type name -> NumPy dtype.
HALF_DTYPES: Mapping[str, np.dtype] = _HalfDtypes()
#: NumPy dtype -> the compiler's type name.
HALF_NAMES: Mapping[np.dtype, str] = _HalfNames()
#: The opcode flag letter that selects bfloat16 (without it a 16-bit opcode works on float16).
BFLOAT_FLAG_LETTER = "b"


def is_half(dtype) -> bool:
    """Whether `dtype` (anything `np.dtype` takes) is float16 or bfloat16."""
    try:
        return as_dtype(dtype) in HALF_NAMES
    except TypeError:
        return False


def as_dtype(dtype) -> np.dtype:
    """`np.dtype(dtype)`, where `dtype` may also be the name "bfloat16" (which NumPy knows only once
    `ml_dtypes` is imported)."""
    if isinstance(dtype, str) and "bfloat16" in dtype:
        bfloat16()
    return np.dtype(dtype)


def kind_of_flags(flags: int, bfloat_flag: int) -> str:
    """The 16-bit kind an instruction's flags select: `bf16` with the bfloat16 flag, else `f16`."""
    return "bf16" if flags & bfloat_flag else "f16"


def to_words(values: np.ndarray, kind: str) -> np.ndarray:
    """Float values rounded to the 16-bit `kind` (nearest even), as int32 words holding the bit patterns."""
    halves = np.asarray(values).astype(HALF_DTYPES[kind])
    return halves.view(np.uint16).astype(np.int32)


def from_words(words: np.ndarray, kind: str) -> np.ndarray:
    """The 16-bit `kind` values in the low halves of 32-bit words (an array of the 16-bit dtype)."""
    return np.asarray(words).astype(np.uint16).view(HALF_DTYPES[kind])  # (an integer cast keeps the low bits)


def widen(words: np.ndarray, kind: str) -> np.ndarray:
    """The float32 values (exact) of the 16-bit values in `words`."""
    return from_words(words, kind).astype(np.float32)


def host_to_words(array: np.ndarray) -> np.ndarray:
    """A host array of a 16-bit dtype as the uint32 words device memory holds (same shape)."""
    return np.ascontiguousarray(array).view(np.uint16).astype(np.uint32)


def words_to_host(words: np.ndarray, dtype) -> np.ndarray:
    """The inverse of `host_to_words`: uint32 words back to a host array of the 16-bit `dtype`."""
    return (np.asarray(words) & 0xFFFF).astype(np.uint16).view(np.dtype(dtype))
