"""Operation semantics of the compiled interpreter (`interpreter`): kinds, scalar helpers, vector ops.

Semantics are the NumPy executors' (sim/compute.py) operation for operation, so that results are bit
for bit the same: int32 arithmetic wraps, float32 arithmetic rounds once per operation in float32, float
min/max follow NumPy's NaN and signed-zero rules, vector operations read every source element before
writing any (as NumPy computes the right-hand side first), reductions add left to right. Cycle counts
are whole numbers here (the caller only comes here when every timing figure is), so the order in which
issue cycles are added cannot change them.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .table import A, B, C, D, FLOAT, IMM, KINDS, LANE_ROW, SCALAR

# Kinds as module constants: Numba folds them into the interpreter's if-chain.
(K_STOP, K_NOP, K_ADD, K_SUB, K_MUL, K_DIV, K_REM, K_AND, K_OR, K_XOR, K_SHL, K_SHR, K_SRA, K_MIN, K_MAX,
 K_SLT, K_SLE, K_SEQ, K_SNE, K_MOV, K_NEG, K_ABS, K_SEL,
 K_ADDI, K_MULI, K_ANDI, K_ORI, K_XORI, K_SHLI, K_SHRI, K_SRAI, K_SLTI, K_SEQI, K_LI,
 K_FADD, K_FSUB, K_FMUL, K_FDIV, K_FMIN, K_FMAX, K_FMA, K_FLT, K_FLE, K_FEQ, K_FNE, K_FNEG, K_FABS,
 K_FSQRT, K_ITOF, K_FTOI, K_FFLOOR, K_FCEIL, K_FTRUNC,
 K_BZ, K_BNZ, K_JMP,
 K_LD, K_ST, K_CHK, K_HASNB, K_SREG, K_ARG,
 K_VADD, K_VSUB, K_VMUL, K_VMIN, K_VMAX, K_VFMA, K_VSCALE, K_VCOPY, K_VFILL, K_VDIV, K_VREDSUM,
 K_VDOT) = range(len(KINDS))
assert K_VDOT == KINDS["vdot"] and K_BZ == KINDS["bz"] and K_LD == KINDS["ld"]  # the two lists agree

# Per-call statistics (`stats` argument).
VECTOR_ELEMENTS, FLOPS = 0, 1
# What `execute` did: went on to the next instruction, took a branch, or refused (executed nothing: the
# instruction would fail or pass a limit).
GO_ON, TAKEN, REFUSED = 0, 1, 2


@njit(cache=True, inline="always")
def int_div(a: int, b: int) -> int:
    """`div`: truncating, b = 0 gives -1, INT_MIN / -1 wraps (sim/compute.py `int_div`)."""
    if b == 0:
        return -1
    q = abs(a) // abs(b)
    return np.int32(q if (a < 0) == (b < 0) else -q)


@njit(cache=True, inline="always")
def int_rem(a: int, b: int) -> int:
    if b == 0:
        return a
    return np.int32(a - b * np.int64(int_div(a, b)))


@njit(cache=True, inline="always")
def fmin(x, y):
    """np.minimum on float32: a NaN operand wins (the first if both), and of two equal values (0.0 and
    -0.0) the second."""
    if x != x:
        return x
    if y != y:
        return y
    return x if x < y else y


@njit(cache=True, inline="always")
def fmax(x, y):
    if x != x:
        return x
    if y != y:
        return y
    return x if x > y else y


@njit(cache=True, inline="always")
def ftoi(x) -> int:
    """float32 -> int32 truncated toward zero, saturating, NaN gives 0 (sim/compute.py `_float_to_int`)."""
    f = np.float64(x)
    if f != f:
        return 0
    if f >= 2147483647.0:
        return 2147483647
    if f <= -2147483648.0:
        return -2147483648
    return int(f)


@njit(cache=True, inline="always")
def _vector_int(kind: int, x: int, y: int, acc: int) -> int:
    """One element of an int32 vector op (wrapped by the caller's store); `acc` is vfma's destination."""
    if kind == K_VADD:
        return x + y
    if kind == K_VSUB:
        return x - y
    if kind == K_VMUL or kind == K_VSCALE:
        return x * y
    if kind == K_VMIN:
        return min(x, y)
    if kind == K_VMAX:
        return max(x, y)
    if kind == K_VFMA:
        return acc + np.int32(x * y)
    return int_div(x, y)  # K_VDIV


@njit(cache=True, inline="always")
def _vector_float(kind: int, x, y, acc):
    if kind == K_VADD:
        return x + y
    if kind == K_VSUB:
        return x - y
    if kind == K_VMUL or kind == K_VSCALE:
        return x * y
    if kind == K_VMIN:
        return fmin(x, y)
    if kind == K_VMAX:
        return fmax(x, y)
    if kind == K_VFMA:
        return acc + x * y  # the product rounded to float32 first, as NumPy computes it
    return x / y  # K_VDIV


@njit(cache=True, error_model="numpy")
def vector_op(kind, pc, i, fields, regs, fregs, sram, fsram, vector_lanes, stats, scratch_int, scratch_float):
    """A vector op or reduction over SRAM ranges for PE `i`: (GO_ON, cycles beyond the issue cost), or
    (REFUSED, 0) without executing it when a length is negative or a range leaves the data segment."""
    d, a, b = fields[D, pc], fields[A, pc], fields[B, pc]
    data_words = sram.shape[0]
    length = np.int64(regs[fields[C, pc], i])
    source = np.int64(regs[a, i])
    is_reduction = kind == K_VREDSUM or kind == K_VDOT
    if length < 0 or source < 0 or source + length > data_words:
        if not (kind == K_VFILL and length >= 0):  # (vfill reads no source range)
            return REFUSED, 0
    target = np.int64(regs[d, i])
    if not is_reduction and (target < 0 or target + length > data_words):
        return REFUSED, 0
    reads_b = kind == K_VDOT or (not is_reduction and fields[SCALAR, pc] == 0)
    other = np.int64(regs[b, i])
    if reads_b and (other < 0 or other + length > data_words):
        return REFUSED, 0
    is_float = fields[FLOAT, pc] != 0
    if kind == K_VCOPY or kind == K_VFILL:  # bits moved as they are, whatever the flag
        for k in range(length):
            scratch_int[k] = regs[b, i] if kind == K_VFILL else sram[source + k, i]
        for k in range(length):
            sram[target + k, i] = scratch_int[k]
    elif is_reduction and is_float:
        total = np.float32(0.0)  # (NumPy's accumulate starts from element 0: -0.0 stays -0.0)
        for k in range(length):
            value = fsram[source + k, i]
            if kind == K_VDOT:
                value = value * fsram[other + k, i]
            total = value if k == 0 else total + value
        if d != 0:
            fregs[d, i] = total
    elif is_reduction:
        whole = np.int32(0)
        for k in range(length):
            value = np.int64(sram[source + k, i])
            if kind == K_VDOT:
                value = np.int32(value * sram[other + k, i])
            whole = np.int32(whole + value)
        if d != 0:
            regs[d, i] = whole
    elif is_float:
        scalar = fregs[b, i]
        for k in range(length):
            y = scalar if not reads_b else fsram[other + k, i]
            scratch_float[k] = _vector_float(kind, fsram[source + k, i], y, fsram[target + k, i])
        for k in range(length):
            fsram[target + k, i] = scratch_float[k]
    else:
        scalar_int = np.int64(regs[b, i])
        for k in range(length):
            y_int = scalar_int if not reads_b else np.int64(sram[other + k, i])
            scratch_int[k] = _vector_int(kind, np.int64(sram[source + k, i]), y_int,
                                         np.int64(sram[target + k, i]))
        for k in range(length):
            sram[target + k, i] = scratch_int[k]
    extra = (length + vector_lanes - 1) // vector_lanes  # elements beyond the issue cost
    stats[VECTOR_ELEMENTS] += length
    if is_float:
        stats[FLOPS] += 2 * length if kind == K_VFMA or kind == K_VDOT else (
            0 if kind == K_VCOPY or kind == K_VFILL else length)
    return GO_ON, extra
