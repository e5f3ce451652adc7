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

import ml_dtypes
import numpy as np

#: The 16-bit float kinds: the compiler's type name -> NumPy dtype.
HALF_DTYPES: dict[str, np.dtype] = {"f16": np.dtype(np.float16), "bf16": np.dtype(ml_dtypes.bfloat16)}
#: NumPy dtype -> the compiler's type name.
HALF_NAMES: dict[np.dtype, str] = {dtype: name for name, dtype in HALF_DTYPES.items()}
#: The opcode flag letter that selects bfloat16 (without it a 16-bit opcode works on float16).
BFLOAT_FLAG_LETTER = "b"


def is_half(dtype) -> bool:
    """Whether `dtype` (anything `np.dtype` takes) is float16 or bfloat16."""
    try:
        return np.dtype(dtype) in HALF_NAMES
    except TypeError:
        return False


def kind_of_flags(flags: int, bfloat_flag: int) -> str:
    """The 16-bit kind an instruction's flags select: `bf16` with the bfloat16 flag, else `f16`."""
    return "bf16" if flags & bfloat_flag else "f16"


def to_words(values: np.ndarray, kind: str) -> np.ndarray:
    """Float values rounded to the 16-bit `kind` (nearest even), as int32 words holding the bit patterns."""
    halves = np.asarray(values).astype(HALF_DTYPES[kind])
    return halves.view(np.uint16).astype(np.int32)


def from_words(words: np.ndarray, kind: str) -> np.ndarray:
    """The 16-bit `kind` values in the low halves of 32-bit words (an array of the 16-bit dtype)."""
    return (np.asarray(words).astype(np.int64) & 0xFFFF).astype(np.uint16).view(HALF_DTYPES[kind])


def widen(words: np.ndarray, kind: str) -> np.ndarray:
    """The float32 values (exact) of the 16-bit values in `words`."""
    return from_words(words, kind).astype(np.float32)


def host_to_words(array: np.ndarray) -> np.ndarray:
    """A host array of a 16-bit dtype as the uint32 words device memory holds (same shape)."""
    return np.ascontiguousarray(array).view(np.uint16).astype(np.uint32)


def words_to_host(words: np.ndarray, dtype) -> np.ndarray:
    """The inverse of `host_to_words`: uint32 words back to a host array of the 16-bit `dtype`."""
    return (np.asarray(words) & 0xFFFF).astype(np.uint16).view(np.dtype(dtype))
