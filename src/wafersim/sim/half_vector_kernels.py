"""Compiled loops of the float16 vector instructions (`compute_half`): `vhadd` ... `vhfma`, `vwfma`, `vcvth` and
`vcvtf` of a group, one pass over its words, the result written in place.

NumPy has no float16 arithmetic of its own on x86: each float16 ufunc widens every element to float32 and
rounds it back one at a time, and its float16 <-> float32 casts are scalar loops too, so one instruction
over 32 words of 65,536 PEs took ~50 ms through NumPy (three casts, a float16 ufunc, a store) where this pass
takes a few. The element operations are `compiled.half_arith`'s, NumPy's float16 results bit for bit (NaN
payloads included); `vwfma`'s float32 product and sum are `compiled.arith`'s, each rounded, as NumPy's.
"""
from __future__ import annotations

import numpy as np

from .compiled.arith import fadd, fmul
from .compiled.half_arith import float_to_half, half_add, half_max, half_min, half_mul, half_sub, half_to_float
from .compiled.jit import njit

#: The operations `half_vector` runs (its `op`): the 16-bit binary ones and the 16-bit `d + a * b`, each on words
#: holding float16 bits; `vwfma` (float32 `d + float32(a) * b`, `b` a float16 word, or with `WIDE_FMA_SCALAR`
#: a float32 word) and the conversions.
(HALF_ADD, HALF_SUB, HALF_MUL, HALF_MIN, HALF_MAX, HALF_FMA, WIDE_FMA, WIDE_FMA_SCALAR, TO_FLOAT,
 TO_HALF) = range(10)
#: `compute_half`'s opcodes -> `half_vector`'s operations (`vwfma` with a scalar operand: `WIDE_FMA_SCALAR`).
OPERATIONS = {"vhadd": HALF_ADD, "vhsub": HALF_SUB, "vhmul": HALF_MUL, "vhmin": HALF_MIN, "vhmax": HALF_MAX,
              "vhfma": HALF_FMA, "vwfma": WIDE_FMA, "vcvtf": TO_FLOAT, "vcvth": TO_HALF}
#: PEs of a row computed into the scratch row before it is stored (it stays in the first-level cache).
BLOCK = 1024


@njit(cache=True, inline="always")
def _as_float(word):
    return np.int32(word).view(np.float32)


@njit(cache=True, inline="always")
def _as_word(value):
    return np.float32(value).view(np.int32)


# Each operation's word as a function of its own, compiled once (`half_arith`'s are inlined into it): `_element`
# calls them, and LLVM inlines the one a loop's constant `op` selects (inlining them all into `_element` in Numba's
# IR, for each of `_rows`' loops, took minutes to compile; LLVM inlines no function as large as a 16-bit d + a * b,
# which `_rows` computes in two loops).
@njit(cache=True)
def _add(acc, x, y):
    return half_add(x, y)


@njit(cache=True)
def _sub(acc, x, y):
    return half_sub(x, y)


@njit(cache=True)
def _mul(acc, x, y):
    return half_mul(x, y)


@njit(cache=True)
def _min(acc, x, y):
    return half_min(x, y)


@njit(cache=True)
def _max(acc, x, y):
    return half_max(x, y)


@njit(cache=True)
def _wide_fma(acc, x, y):
    return _as_word(fadd(_as_float(acc), fmul(half_to_float(x), half_to_float(y))))


@njit(cache=True)
def _wide_fma_scalar(acc, x, y):
    return _as_word(fadd(_as_float(acc), fmul(half_to_float(x), _as_float(y))))


@njit(cache=True)
def _to_float(acc, x, y):
    return _as_word(half_to_float(x))


@njit(cache=True)
def _to_half(acc, x, y):
    return float_to_half(_as_float(x))


@njit(cache=True, inline="always")
def _element(op, acc, x, y):
    """One word of `op` (see `half_vector`) from the destination's word `acc` and the operands' `x` and `y`."""
    if op == HALF_ADD:
        return _add(acc, x, y)
    if op == HALF_SUB:
        return _sub(acc, x, y)
    if op == HALF_MUL or op == HALF_FMA:  # (`HALF_FMA`'s product: `_rows` adds it)
        return _mul(acc, x, y)
    if op == HALF_MIN:
        return _min(acc, x, y)
    if op == HALF_MAX:
        return _max(acc, x, y)
    if op == WIDE_FMA:
        return _wide_fma(acc, x, y)
    if op == WIDE_FMA_SCALAR:
        return _wide_fma_scalar(acc, x, y)
    if op == TO_FLOAT:
        return _to_float(acc, x, y)
    return _to_half(acc, x, y)


@njit(cache=True, inline="always")
def _rows(op, words, d, xs, a, ys, b, y_step, n, lo, hi, out):
    """`half_vector` over columns lo..hi, row by row in blocks of `BLOCK` PEs: each block's results computed
    into `out` (a separate array: no operand can alias it, so the loop compiles to vector instructions), then
    stored. `op` is a constant where this is inlined, so each operation gets a loop of its own."""
    for i in range(n):
        destination, x_row, y_row = words[d + i], xs[a + i], ys[b + i * y_step]
        for first in range(lo, hi, BLOCK):
            last = min(first + BLOCK, hi)
            acc, x, y = destination[first:last], x_row[first:last], y_row[first:last]
            for k in range(last - first):
                out[k] = _element(op, acc[k], x[k], y[k])
            if op == HALF_FMA:  # the 16-bit sum of the 16-bit products
                for k in range(last - first):
                    out[k] = _add(out[k], acc[k], out[k])
            for k in range(last - first):
                acc[k] = out[k]


@njit(cache=True, nogil=True)
def half_vector(op: int, words: np.ndarray, d: int, xs: np.ndarray, a: int, ys: np.ndarray, b: int, y_step: int,
                n: int, lo: int, hi: int, cols: np.ndarray) -> None:
    """words[d + i, pe] = op(words[d + i, pe], xs[a + i, pe], ys[b + i * y_step, pe]) for i < n, for every PE of
    `cols` (region columns), or of lo..hi where `cols` is empty. All three are int32 word arrays (rows: SRAM
    words, columns: PEs), a float32 word as its bits. `xs` and `ys` may be `words` itself where each source
    range is the destination's or does not overlap it (else the caller passes copies); a scalar operand is a
    row of `ys` with `y_step` 0 (float16 bits, or float32 ones for `WIDE_FMA_SCALAR`)."""
    if len(cols):
        for i in range(n):
            row_y = b + i * y_step
            for pe in cols:
                word = _element(op, words[d + i, pe], xs[a + i, pe], ys[row_y, pe])
                words[d + i, pe] = _add(word, words[d + i, pe], word) if op == HALF_FMA else word
        return
    out = np.empty(BLOCK, dtype=np.int32)
    if op == HALF_ADD:
        _rows(HALF_ADD, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
    elif op == HALF_SUB:
        _rows(HALF_SUB, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
    elif op == HALF_MUL:
        _rows(HALF_MUL, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
    elif op == HALF_MIN:
        _rows(HALF_MIN, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
    elif op == HALF_MAX:
        _rows(HALF_MAX, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
    elif op == HALF_FMA:
        _rows(HALF_FMA, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
    elif op == WIDE_FMA:
        _rows(WIDE_FMA, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
    elif op == WIDE_FMA_SCALAR:
        _rows(WIDE_FMA_SCALAR, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
    elif op == TO_FLOAT:
        _rows(TO_FLOAT, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
    else:
        _rows(TO_HALF, words, d, xs, a, ys, b, y_step, n, lo, hi, out)
