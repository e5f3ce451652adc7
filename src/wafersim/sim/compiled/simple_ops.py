"""The interpreter's register-only instructions as one tight loop per operation over a segment's PEs.

`interpreter.run_group` runs an instruction for every PE of a segment (PEs at one pc). For the
instructions that only read and write registers (integer and float32 ALU, immediates, compares: every
kind below `K_BZ`), nothing can fail, stop, block or cost extra cycles, so the interpreter's per-PE
bookkeeping (status, refusal, the gap after a refused PE) has nothing to do: `run_simple` dispatches on
the kind once and runs a loop that does only the operation, which is several times faster per PE than
the general loop (whose dispatch and bookkeeping happen per PE); it indexes the register file through
unsigned lane numbers, so that the loop does no negative-index wrap-around, and takes no views (see
`run_simple`). Each loop's body is the general loop's expression for that kind
(the same operations, in the same precision, through the same `arith` functions), so that results are bit
for bit the same (tests/test_engine_compiled.py compares `Strategy(compiled_loops=False)`, which leaves
every instruction to the general loop).
"""
from __future__ import annotations

import numpy as np
from .jit import njit

from .arith import compare, fadd, fdiv, fma32, fmax, fmin, fmul, fsub, ftoi, int_div, int_rem
from .kinds import (K_ABS, K_ADD, K_ADDI, K_AND, K_ANDI, K_BZ, K_DIV, K_FABS, K_FADD, K_FCEIL, K_FDIV, K_FFLOOR,
                    K_FLT, K_FMA, K_FMAX, K_FMIN, K_FMUL, K_FNE, K_FNEG, K_FSQRT, K_FSUB, K_FTOI, K_FTRUNC, K_ITOF,
                    K_LI, K_MAX, K_MIN, K_MOV, K_MUL, K_MULI, K_NEG, K_NOP, K_OR, K_ORI, K_REM, K_SEL, K_SEQI,
                    K_SHL, K_SHLI, K_SHR, K_SHRI, K_SLT, K_SLTI, K_SNE, K_SRA, K_SRAI, K_SUB, K_XOR, K_XORI)


@njit(cache=True, nogil=True, error_model="numpy")
def run_simple(kind, d, a, b, c, imm, order, lo, hi, regs, fregs) -> bool:
    """Run the register-only instruction `kind` (operands d, a, b, c, imm) for the PEs order[lo:hi] (region
    indices); False (nothing done) for a kind that is not register-only (`K_BZ` and above)."""
    if kind >= K_BZ:
        return False
    # The lanes as unsigned numbers (no negative-index wrap-around per PE); the register file indexed in two
    # dimensions, the row's offset hoisted out of the loop. No views: a slice or row view of an array costs an
    # atomic increment and decrement of its reference count (Numba's runtime), and segments of a dozen PEs,
    # which divergent pipelines run millions of (bitonic sort), spent 13% of their time in those.
    if kind == K_NOP:
        return True
    # Float32 ALU first: the commonest in numeric kernels.
    if kind == K_FADD:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = fadd(fregs[a, i], fregs[b, i])
    elif kind == K_FSUB:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = fsub(fregs[a, i], fregs[b, i])
    elif kind == K_FMUL:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = fmul(fregs[a, i], fregs[b, i])
    elif kind == K_FDIV:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = fdiv(fregs[a, i], fregs[b, i])
    elif kind == K_FMIN:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = fmin(fregs[a, i], fregs[b, i])
    elif kind == K_FMAX:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = fmax(fregs[a, i], fregs[b, i])
    elif kind == K_FMA:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = fma32(fregs[a, i], fregs[b, i], fregs[c, i])
    elif K_FLT <= kind <= K_FNE:
        which = kind - K_FLT
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = compare(which, fregs[a, i], fregs[b, i])
    elif kind == K_FNEG:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = -fregs[a, i]
    elif kind == K_FABS:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = abs(fregs[a, i])
    elif kind == K_FSQRT:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = np.sqrt(fregs[a, i])
    elif kind == K_ITOF:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = np.float32(regs[a, i])
    elif kind == K_FTOI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = ftoi(fregs[a, i])
    elif kind == K_FFLOOR:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = np.float32(np.floor(np.float64(fregs[a, i])))
    elif kind == K_FTRUNC:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = np.float32(np.trunc(np.float64(fregs[a, i])))
    elif kind == K_FCEIL:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            fregs[d, i] = np.float32(np.ceil(np.float64(fregs[a, i])))
    # Integer ALU with an immediate (loop counters, constants).
    elif kind == K_LI:
        for j in range(lo, hi):
            regs[d, np.uint64(order[j])] = imm
    elif kind == K_ADDI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) + imm
    elif kind == K_MULI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) * imm
    elif kind == K_ANDI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) & imm
    elif kind == K_ORI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) | imm
    elif kind == K_XORI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) ^ imm
    elif kind == K_SHLI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) << (imm & 31)
    elif kind == K_SHRI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = (np.int64(regs[a, i]) & 0xFFFFFFFF) >> (imm & 31)
    elif kind == K_SRAI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) >> (imm & 31)
    elif kind == K_SLTI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = 1 if regs[a, i] < imm else 0
    elif kind == K_SEQI:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = 1 if regs[a, i] == imm else 0
    # Integer ALU, register operands.
    elif kind == K_ADD:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) + regs[b, i]
    elif kind == K_SUB:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) - regs[b, i]
    elif kind == K_MUL:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) * regs[b, i]
    elif kind == K_DIV:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = int_div(np.int64(regs[a, i]), np.int64(regs[b, i]))
    elif kind == K_REM:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = int_rem(np.int64(regs[a, i]), np.int64(regs[b, i]))
    elif kind == K_AND:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = regs[a, i] & regs[b, i]
    elif kind == K_OR:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = regs[a, i] | regs[b, i]
    elif kind == K_XOR:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = regs[a, i] ^ regs[b, i]
    elif kind == K_SHL:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) << (regs[b, i] & 31)
    elif kind == K_SHR:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = (np.int64(regs[a, i]) & 0xFFFFFFFF) >> (regs[b, i] & 31)
    elif kind == K_SRA:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = np.int64(regs[a, i]) >> (regs[b, i] & 31)
    elif kind == K_MIN:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = min(regs[a, i], regs[b, i])
    elif kind == K_MAX:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = max(regs[a, i], regs[b, i])
    elif K_SLT <= kind <= K_SNE:
        which = kind - K_SLT
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = compare(which, regs[a, i], regs[b, i])
    elif kind == K_MOV:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = regs[a, i]
    elif kind == K_NEG:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = -np.int64(regs[a, i])
    elif kind == K_ABS:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = abs(np.int64(regs[a, i]))
    elif kind == K_SEL:
        for j in range(lo, hi):
            i = np.uint64(order[j])
            regs[d, i] = regs[b, i] if regs[a, i] != 0 else regs[c, i]
    else:  # (every kind below K_BZ is listed above)
        return False
    return True

