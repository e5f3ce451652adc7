"""The interpreter's register-only instructions as one tight loop per operation over a segment's PEs.

`interpreter.run_group` runs an instruction for every PE of a segment (PEs at one pc). For the
instructions that only read and write registers (integer and float32 ALU, immediates, compares: every
kind below `K_BZ`), nothing can fail, stop, block or cost extra cycles, so the interpreter's per-PE
bookkeeping (status, refusal, the gap after a refused PE) has nothing to do: `run_simple` dispatches on
the kind once and runs a loop that does only the operation, which is several times faster per PE than
the general loop (whose dispatch and bookkeeping happen per PE). Each loop's body is the general loop's
expression for that kind, character for character, so that results are bit for bit the same
(tests/test_engine_compiled.py compares `Strategy(compiled_loops=False)`, which leaves every
instruction to the general loop).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .arith import compare, fadd, fdiv, fmax, fmin, fmul, fsub, ftoi, int_div, int_rem
from .kinds import (K_ABS, K_ADD, K_ADDI, K_AND, K_ANDI, K_BZ, K_DIV, K_FABS, K_FADD, K_FCEIL, K_FDIV, K_FFLOOR,
                    K_FLT, K_FMA, K_FMAX, K_FMIN, K_FMUL, K_FNE, K_FNEG, K_FSQRT, K_FSUB, K_FTOI, K_FTRUNC, K_ITOF,
                    K_LI, K_MAX, K_MIN, K_MOV, K_MUL, K_MULI, K_NEG, K_NOP, K_OR, K_ORI, K_REM, K_SEL, K_SEQI,
                    K_SHL, K_SHLI, K_SHR, K_SHRI, K_SLT, K_SLTI, K_SNE, K_SRA, K_SRAI, K_SUB, K_XOR, K_XORI)


@njit(cache=True, nogil=True, error_model="numpy")
def run_simple(kind, d, a, b, c, imm, order, lo, hi, regs, fregs) -> bool:
    """Run the register-only instruction `kind` (operands d, a, b, c, imm) for the PEs order[lo:hi];
    False (nothing done) for a kind that is not register-only (`K_BZ` and above)."""
    if kind >= K_BZ:
        return False
    if kind == K_NOP:
        return True
    # Float32 ALU first: the commonest in numeric kernels.
    if kind == K_FADD:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = fadd(fregs[a, i], fregs[b, i])
    elif kind == K_FSUB:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = fsub(fregs[a, i], fregs[b, i])
    elif kind == K_FMUL:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = fmul(fregs[a, i], fregs[b, i])
    elif kind == K_FDIV:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = fdiv(fregs[a, i], fregs[b, i])
    elif kind == K_FMIN:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = fmin(fregs[a, i], fregs[b, i])
    elif kind == K_FMAX:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = fmax(fregs[a, i], fregs[b, i])
    elif kind == K_FMA:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = np.float32(fadd(fmul(np.float64(fregs[a, i]), np.float64(fregs[b, i])),
                                          np.float64(fregs[c, i])))
    elif K_FLT <= kind <= K_FNE:
        which = kind - K_FLT
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = compare(which, fregs[a, i], fregs[b, i])
    elif kind == K_FNEG:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = -fregs[a, i]
    elif kind == K_FABS:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = abs(fregs[a, i])
    elif kind == K_FSQRT:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = np.sqrt(fregs[a, i])
    elif kind == K_ITOF:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = np.float32(regs[a, i])
    elif kind == K_FTOI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = ftoi(fregs[a, i])
    elif kind == K_FFLOOR:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = np.float32(np.floor(np.float64(fregs[a, i])))
    elif kind == K_FTRUNC:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = np.float32(np.trunc(np.float64(fregs[a, i])))
    elif kind == K_FCEIL:
        for k in range(lo, hi):
            i = order[k]
            fregs[d, i] = np.float32(np.ceil(np.float64(fregs[a, i])))
    # Integer ALU with an immediate (loop counters, constants).
    elif kind == K_LI:
        for k in range(lo, hi):
            regs[d, order[k]] = imm
    elif kind == K_ADDI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) + imm
    elif kind == K_MULI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) * imm
    elif kind == K_ANDI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) & imm
    elif kind == K_ORI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) | imm
    elif kind == K_XORI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) ^ imm
    elif kind == K_SHLI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) << (imm & 31)
    elif kind == K_SHRI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = (np.int64(regs[a, i]) & 0xFFFFFFFF) >> (imm & 31)
    elif kind == K_SRAI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) >> (imm & 31)
    elif kind == K_SLTI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = 1 if regs[a, i] < imm else 0
    elif kind == K_SEQI:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = 1 if regs[a, i] == imm else 0
    # Integer ALU, register operands.
    elif kind == K_ADD:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) + regs[b, i]
    elif kind == K_SUB:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) - regs[b, i]
    elif kind == K_MUL:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) * regs[b, i]
    elif kind == K_DIV:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = int_div(np.int64(regs[a, i]), np.int64(regs[b, i]))
    elif kind == K_REM:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = int_rem(np.int64(regs[a, i]), np.int64(regs[b, i]))
    elif kind == K_AND:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = regs[a, i] & regs[b, i]
    elif kind == K_OR:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = regs[a, i] | regs[b, i]
    elif kind == K_XOR:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = regs[a, i] ^ regs[b, i]
    elif kind == K_SHL:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) << (regs[b, i] & 31)
    elif kind == K_SHR:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = (np.int64(regs[a, i]) & 0xFFFFFFFF) >> (regs[b, i] & 31)
    elif kind == K_SRA:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = np.int64(regs[a, i]) >> (regs[b, i] & 31)
    elif kind == K_MIN:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = min(regs[a, i], regs[b, i])
    elif kind == K_MAX:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = max(regs[a, i], regs[b, i])
    elif K_SLT <= kind <= K_SNE:
        which = kind - K_SLT
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = compare(which, regs[a, i], regs[b, i])
    elif kind == K_MOV:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = regs[a, i]
    elif kind == K_NEG:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = -np.int64(regs[a, i])
    elif kind == K_ABS:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = abs(np.int64(regs[a, i]))
    elif kind == K_SEL:
        for k in range(lo, hi):
            i = order[k]
            regs[d, i] = regs[b, i] if regs[a, i] != 0 else regs[c, i]
    else:  # (every kind below K_BZ is listed above)
        return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def branch_conditions(row, want_zero, lanes, taken):
    """taken[j] = (row[lanes[j]] == 0) == want_zero (a bz or bnz on the register `row`, for the PEs `lanes`);
    (how many are taken, the first j not taken or len(lanes))."""
    n = lanes.shape[0]
    n_taken, first_fall = 0, n
    for j in range(n):
        yes = (row[lanes[j]] == 0) == want_zero
        taken[j] = yes
        if yes:
            n_taken += 1
        elif first_fall == n:
            first_fall = j
    return n_taken, first_fall
