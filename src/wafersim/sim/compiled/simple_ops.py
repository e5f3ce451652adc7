"""The interpreter's register-only instructions as one tight loop per operation over a segment's PEs.

`interpreter.run_group` runs an instruction for every PE of a segment (PEs at one pc). For the
instructions that only read and write registers (integer and float32 ALU, immediates, compares: every
kind below `K_BZ`), nothing can fail, stop, block or cost extra cycles, so the interpreter's per-PE
bookkeeping (status, refusal, the gap after a refused PE) has nothing to do: `run_simple` dispatches on
the kind once and runs a loop that does only the operation, which is several times faster per PE than
the general loop (whose dispatch and bookkeeping happen per PE); it reads and writes rows of the register
file (1-D views) through unsigned lane numbers, so that the loop does no address arithmetic or negative-
index wrap-around beyond the gather. Each loop's body is the general loop's expression for that kind
(the same operations, in the same precision, through the same `arith` functions), so that results are bit
for bit the same (tests/test_engine_compiled.py compares `Strategy(compiled_loops=False)`, which leaves
every instruction to the general loop).
"""
from __future__ import annotations

import numpy as np
from .jit import njit

from .arith import compare, fadd, fdiv, fma32, fmax, fmin, fmul, fsub, ftoi, int_div, int_rem
from .kinds import (K_ABS, K_ADD, K_ADDI, K_AND, K_ANDI, K_ARG, K_BZ, K_CHK, K_DIV, K_FABS, K_FADD, K_FCEIL, K_FDIV,
                    K_FFLOOR, K_FLT, K_FMA, K_FMAX, K_FMIN, K_FMUL, K_FNE, K_FNEG, K_FSQRT, K_FSUB, K_FTOI, K_FTRUNC,
                    K_HASNB, K_ITOF, K_LD, K_LI, K_MAX, K_MIN, K_MOV, K_MUL, K_MULI, K_NEG, K_NOP, K_OR, K_ORI, K_REM,
                    K_SEL, K_SEQI, K_SHL, K_SHLI, K_SHR, K_SHRI, K_SLT, K_SLTI, K_SNE, K_SRA, K_SRAI, K_SREG, K_ST, K_SUB,
                    K_XOR, K_XORI)


@njit(cache=True, nogil=True, error_model="numpy")
def run_simple(kind, d, a, b, c, imm, lanes, regs, fregs) -> bool:
    """Run the register-only instruction `kind` (operands d, a, b, c, imm) for the PEs `lanes` (region
    indices); False (nothing done) for a kind that is not register-only (`K_BZ` and above)."""
    return run_simple_span(kind, d, a, b, c, imm, lanes, 0, lanes.shape[0], regs, fregs)


# Without Numba's reference counting (`_nrt=False`: nothing here allocates; its views of the register file are
# borrowed for the call): each row view, and a caller's slice of its lanes, cost an atomic increment and decrement
# of the array's reference count, and the interpreter calls this once per instruction of a segment (stop 46's
# profile of bitonic: those atomics were ~14% of a warm launch's CPU time).
@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def run_simple_span(kind, d, a, b, c, imm, order, lo, hi, regs, fregs) -> bool:
    """`run_simple` for the PEs order[lo:hi] (the interpreter's segment, passed whole: no slice to count)."""
    if kind >= K_BZ:
        return False
    # The lanes as unsigned numbers (no negative-index wrap-around per PE), and in each branch the rows of
    # the register file it uses (taken there, not here: inlined into the interpreter, row views taken up
    # front were computed for every instruction of every PE running alone).
    at = order[lo:hi].view(np.uint64)
    n = at.shape[0]
    if kind == K_NOP:
        return True
    # Float32 ALU first: the commonest in numeric kernels.
    if kind == K_FADD:
        fd, fa, fb = fregs[d], fregs[a], fregs[b]
        for j in range(n):
            i = at[j]
            fd[i] = fadd(fa[i], fb[i])
    elif kind == K_FSUB:
        fd, fa, fb = fregs[d], fregs[a], fregs[b]
        for j in range(n):
            i = at[j]
            fd[i] = fsub(fa[i], fb[i])
    elif kind == K_FMUL:
        fd, fa, fb = fregs[d], fregs[a], fregs[b]
        for j in range(n):
            i = at[j]
            fd[i] = fmul(fa[i], fb[i])
    elif kind == K_FDIV:
        fd, fa, fb = fregs[d], fregs[a], fregs[b]
        for j in range(n):
            i = at[j]
            fd[i] = fdiv(fa[i], fb[i])
    elif kind == K_FMIN:
        fd, fa, fb = fregs[d], fregs[a], fregs[b]
        for j in range(n):
            i = at[j]
            fd[i] = fmin(fa[i], fb[i])
    elif kind == K_FMAX:
        fd, fa, fb = fregs[d], fregs[a], fregs[b]
        for j in range(n):
            i = at[j]
            fd[i] = fmax(fa[i], fb[i])
    elif kind == K_FMA:
        fd, fa, fb, fc = fregs[d], fregs[a], fregs[b], fregs[c]
        for j in range(n):
            i = at[j]
            fd[i] = fma32(fa[i], fb[i], fc[i])
    elif K_FLT <= kind <= K_FNE:
        which = kind - K_FLT
        rd, fa, fb = regs[d], fregs[a], fregs[b]
        for j in range(n):
            i = at[j]
            rd[i] = compare(which, fa[i], fb[i])
    elif kind == K_FNEG:
        fd, fa = fregs[d], fregs[a]
        for j in range(n):
            i = at[j]
            fd[i] = -fa[i]
    elif kind == K_FABS:
        fd, fa = fregs[d], fregs[a]
        for j in range(n):
            i = at[j]
            fd[i] = abs(fa[i])
    elif kind == K_FSQRT:
        fd, fa = fregs[d], fregs[a]
        for j in range(n):
            i = at[j]
            fd[i] = np.sqrt(fa[i])
    elif kind == K_ITOF:
        ra, fd = regs[a], fregs[d]
        for j in range(n):
            i = at[j]
            fd[i] = np.float32(ra[i])
    elif kind == K_FTOI:
        rd, fa = regs[d], fregs[a]
        for j in range(n):
            i = at[j]
            rd[i] = ftoi(fa[i])
    elif kind == K_FFLOOR:
        fd, fa = fregs[d], fregs[a]
        for j in range(n):
            i = at[j]
            fd[i] = np.float32(np.floor(np.float64(fa[i])))
    elif kind == K_FTRUNC:
        fd, fa = fregs[d], fregs[a]
        for j in range(n):
            i = at[j]
            fd[i] = np.float32(np.trunc(np.float64(fa[i])))
    elif kind == K_FCEIL:
        fd, fa = fregs[d], fregs[a]
        for j in range(n):
            i = at[j]
            fd[i] = np.float32(np.ceil(np.float64(fa[i])))
    # Integer ALU with an immediate (loop counters, constants).
    elif kind == K_LI:
        rd = regs[d]
        for j in range(n):
            rd[at[j]] = imm
    elif kind == K_ADDI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) + imm
    elif kind == K_MULI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) * imm
    elif kind == K_ANDI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) & imm
    elif kind == K_ORI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) | imm
    elif kind == K_XORI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) ^ imm
    elif kind == K_SHLI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) << (imm & 31)
    elif kind == K_SHRI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = (np.int64(ra[i]) & 0xFFFFFFFF) >> (imm & 31)
    elif kind == K_SRAI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) >> (imm & 31)
    elif kind == K_SLTI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = 1 if ra[i] < imm else 0
    elif kind == K_SEQI:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = 1 if ra[i] == imm else 0
    # Integer ALU, register operands.
    elif kind == K_ADD:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) + rb[i]
    elif kind == K_SUB:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) - rb[i]
    elif kind == K_MUL:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) * rb[i]
    elif kind == K_DIV:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = int_div(np.int64(ra[i]), np.int64(rb[i]))
    elif kind == K_REM:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = int_rem(np.int64(ra[i]), np.int64(rb[i]))
    elif kind == K_AND:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = ra[i] & rb[i]
    elif kind == K_OR:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = ra[i] | rb[i]
    elif kind == K_XOR:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = ra[i] ^ rb[i]
    elif kind == K_SHL:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) << (rb[i] & 31)
    elif kind == K_SHR:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = (np.int64(ra[i]) & 0xFFFFFFFF) >> (rb[i] & 31)
    elif kind == K_SRA:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = np.int64(ra[i]) >> (rb[i] & 31)
    elif kind == K_MIN:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = min(ra[i], rb[i])
    elif kind == K_MAX:
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = max(ra[i], rb[i])
    elif K_SLT <= kind <= K_SNE:
        which = kind - K_SLT
        rd, ra, rb = regs[d], regs[a], regs[b]
        for j in range(n):
            i = at[j]
            rd[i] = compare(which, ra[i], rb[i])
    elif kind == K_MOV:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = ra[i]
    elif kind == K_NEG:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = -np.int64(ra[i])
    elif kind == K_ABS:
        rd, ra = regs[d], regs[a]
        for j in range(n):
            i = at[j]
            rd[i] = abs(np.int64(ra[i]))
    elif kind == K_SEL:
        rd, ra, rb, rc = regs[d], regs[a], regs[b], regs[c]
        for j in range(n):
            i = at[j]
            rd[i] = rb[i] if ra[i] != 0 else rc[i]
    else:  # (every kind below K_BZ is listed above)
        return False
    return True


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def run_memory_span(kind, d, a, imm, order, lo, hi, regs, sram) -> bool:
    """A scalar SRAM load `ld` (sram[regs[a] + imm] into regs[d]) or store `st` (regs[d] there) for the PEs
    order[lo:hi], each at its own address (a loop of the gathers alone: the general loop's per-PE dispatch and
    bookkeeping were ~10% of gemv2d's interpreter, 32 loads an axpy sweep); False, nothing done, for another kind
    or where some address is outside the data segment (the general loop then runs the PEs before it, and
    refuses it). The words are the general loop's: bits as they are."""
    if kind != K_LD and kind != K_ST:
        return False
    at = order[lo:hi].view(np.uint64)  # (no negative-index wrap-around per PE)
    n = at.shape[0]
    ra = regs[a]
    words = sram.shape[0]
    for j in range(n):
        address = np.int64(ra[at[j]]) + imm
        if address < 0 or address >= words:
            return False
    if kind == K_ST:
        rd = regs[d]
        for j in range(n):
            i = at[j]
            sram[np.int64(ra[i]) + imm, i] = rd[i]
    elif d != 0:  # (r0 stays zero)
        rd = regs[d]
        for j in range(n):
            i = at[j]
            rd[i] = sram[np.int64(ra[i]) + imm, i]
    return True


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def run_check_span(kind, d, a, b, imm, lane_row, order, lo, hi, regs, lane_constants, args):
    """A bounds check `chk` (0 <= regs[a] < regs[b]), a PE constant `hasnb` or `sreg` (lane_constants[lane_row]
    into regs[d]) or a kernel argument `arg` (args[imm] into regs[d]) for the PEs order[lo:hi]; returns how far
    it got: hi when all are done, else the first PE's place that the general loop must run (a `chk` that fails
    there, the PEs before it checked; an `arg` out of range: lo, nothing done), or lo for another kind. Each is
    the general loop's expression without its per-PE dispatch and bookkeeping (`chk` is ~9% of the particles'
    PE-instructions, 5% of the tree's)."""
    at = order[lo:hi].view(np.uint64)  # (no negative-index wrap-around per PE)
    n = at.shape[0]
    if kind == K_CHK:
        ra, rb = regs[a], regs[b]
        for j in range(n):
            i = at[j]
            if ra[i] < 0 or ra[i] >= rb[i]:
                return lo + j
        return hi
    rd = regs[d]
    if kind == K_HASNB or kind == K_SREG:
        row = lane_constants[lane_row]
        for j in range(n):
            i = at[j]
            rd[i] = row[i]
        return hi
    if kind == K_ARG and 0 <= imm < args.shape[0]:
        value = args[imm]
        for j in range(n):
            rd[at[j]] = value
        return hi
    return lo


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def branch_conditions(regs, a, want_zero, order, lo, hi, taken):
    """taken[j] = (regs[a, lanes[j]] == 0) == want_zero (a bz or bnz on the register `a`, for the PEs
    lanes = order[lo:hi]); (how many are taken, the first j not taken or len(lanes)). (`_nrt=False`, the
    arrays passed whole: as `run_simple_span`.)"""
    row = regs[a]
    at = order[lo:hi].view(np.uint64)  # (no negative-index wrap-around per PE)
    n = at.shape[0]
    n_taken, first_fall = 0, n
    for j in range(n):
        yes = (row[at[j]] == 0) == want_zero
        taken[j] = yes
        if yes:
            n_taken += 1
        elif first_fall == n:
            first_fall = j
    return n_taken, first_fall
