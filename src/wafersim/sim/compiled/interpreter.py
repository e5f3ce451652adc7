"""The compiled per-PE interpreter: each lane runs with its own program counter through compute, SRAM and
branch instructions until it reaches one the NumPy engine must run (`table.STOP`), or one that would
fail or trip a limit (then it stops *before* it, and the NumPy engine runs it and raises what it raises).

Semantics are the NumPy executors' (sim/compute.py) operation for operation, so that results are bit
for bit the same: int32 arithmetic wraps, float32 arithmetic rounds once per operation in float32, float
min/max follow NumPy's NaN and signed-zero rules, vector operations read every source element before
writing any (as NumPy computes the right-hand side first), reductions add left to right. Cycle counts
are whole numbers here (the caller only comes here when every timing figure is), so the order in which
issue cycles are added cannot change them.

Compiled with Numba (`cache=True`: the machine code is kept next to this file, so only the first launch
on a machine pays for compilation); `nogil=True` lets two threads run halves of a group at once.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .table import A, B, C, D, FLOAT, IMM, KINDS, LANE_ROW, NEXT, SCALAR

# Kinds as module constants: Numba folds them, and the if-chain below compiles to a jump table.
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


@njit(cache=True, inline="always")
def _int_div(a: int, b: int) -> int:
    """`div`: truncating, b = 0 gives -1, INT_MIN / -1 wraps (sim/compute.py `_int_div`)."""
    if b == 0:
        return -1
    q = abs(a) // abs(b)
    return np.int32(q if (a < 0) == (b < 0) else -q)


@njit(cache=True, inline="always")
def _int_rem(a: int, b: int) -> int:
    if b == 0:
        return a
    return np.int32(a - b * np.int64(_int_div(a, b)))


@njit(cache=True, inline="always")
def _fmin(x, y):
    """np.minimum on float32: a NaN operand wins (the first if both), and of two equal values (0.0 and
    -0.0) the second."""
    if x != x:
        return x
    if y != y:
        return y
    return x if x < y else y


@njit(cache=True, inline="always")
def _fmax(x, y):
    if x != x:
        return x
    if y != y:
        return y
    return x if x > y else y


@njit(cache=True, inline="always")
def _ftoi(x) -> int:
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
    return _int_div(x, y)  # K_VDIV


@njit(cache=True, inline="always")
def _vector_float(kind: int, x, y, acc):
    if kind == K_VADD:
        return x + y
    if kind == K_VSUB:
        return x - y
    if kind == K_VMUL or kind == K_VSCALE:
        return x * y
    if kind == K_VMIN:
        return _fmin(x, y)
    if kind == K_VMAX:
        return _fmax(x, y)
    if kind == K_VFMA:
        return acc + x * y  # the product rounded to float32 first, as NumPy computes it
    return x / y  # K_VDIV


@njit(cache=True, nogil=True, error_model="numpy")
def run_lanes(lanes, start_pc, times, counts, stop_pcs, fields, costs, regs, fregs, sram, fsram, lane_constants,
              args, vector_lanes, max_cycles, time_limit, pc_counts, stats):
    """Run every PE of `lanes` (region indices) from `start_pc` until it stops; per lane j, `times[j]`
    (its cycle) and `counts[j]` (its instruction count) advance and `stop_pcs[j]` receives the pc it
    stopped at. `pc_counts` and `stats` accumulate executed instructions per pc and vector statistics.

    A backward branch whose cycle (after its own issue cost) would pass `max_cycles`, or come within
    `time_limit` (the float32 time bound, margin deducted), stops the lane before the branch."""
    code_words = fields.shape[1]
    data_words = sram.shape[0]
    scratch_int = np.empty(data_words, dtype=np.int32)
    scratch_float = np.empty(data_words, dtype=np.float32)
    for j in range(lanes.shape[0]):
        i = lanes[j]
        pc = start_pc
        t = times[j]
        n_done = counts[j]
        while 0 <= pc < code_words:
            kind = fields[0, pc]
            if kind == K_STOP:
                break
            d, a, b, imm = fields[D, pc], fields[A, pc], fields[B, pc], fields[IMM, pc]
            next_pc = fields[NEXT, pc]
            if kind == K_NOP:
                pass
            elif kind == K_ADD:
                regs[d, i] = np.int64(regs[a, i]) + regs[b, i]
            elif kind == K_SUB:
                regs[d, i] = np.int64(regs[a, i]) - regs[b, i]
            elif kind == K_MUL:
                regs[d, i] = np.int64(regs[a, i]) * regs[b, i]
            elif kind == K_DIV:
                regs[d, i] = _int_div(np.int64(regs[a, i]), np.int64(regs[b, i]))
            elif kind == K_REM:
                regs[d, i] = _int_rem(np.int64(regs[a, i]), np.int64(regs[b, i]))
            elif kind == K_AND:
                regs[d, i] = regs[a, i] & regs[b, i]
            elif kind == K_OR:
                regs[d, i] = regs[a, i] | regs[b, i]
            elif kind == K_XOR:
                regs[d, i] = regs[a, i] ^ regs[b, i]
            elif kind == K_SHL:
                regs[d, i] = np.int64(regs[a, i]) << (regs[b, i] & 31)
            elif kind == K_SHR:
                regs[d, i] = (np.int64(regs[a, i]) & 0xFFFFFFFF) >> (regs[b, i] & 31)
            elif kind == K_SRA:
                regs[d, i] = np.int64(regs[a, i]) >> (regs[b, i] & 31)
            elif kind == K_MIN:
                regs[d, i] = min(regs[a, i], regs[b, i])
            elif kind == K_MAX:
                regs[d, i] = max(regs[a, i], regs[b, i])
            elif kind == K_SLT:
                regs[d, i] = 1 if regs[a, i] < regs[b, i] else 0
            elif kind == K_SLE:
                regs[d, i] = 1 if regs[a, i] <= regs[b, i] else 0
            elif kind == K_SEQ:
                regs[d, i] = 1 if regs[a, i] == regs[b, i] else 0
            elif kind == K_SNE:
                regs[d, i] = 1 if regs[a, i] != regs[b, i] else 0
            elif kind == K_MOV:
                regs[d, i] = regs[a, i]
            elif kind == K_NEG:
                regs[d, i] = -np.int64(regs[a, i])
            elif kind == K_ABS:
                regs[d, i] = abs(np.int64(regs[a, i]))
            elif kind == K_SEL:
                regs[d, i] = regs[b, i] if regs[a, i] != 0 else regs[fields[C, pc], i]
            elif kind == K_ADDI:
                regs[d, i] = np.int64(regs[a, i]) + imm
            elif kind == K_MULI:
                regs[d, i] = np.int64(regs[a, i]) * imm
            elif kind == K_ANDI:
                regs[d, i] = np.int64(regs[a, i]) & imm
            elif kind == K_ORI:
                regs[d, i] = np.int64(regs[a, i]) | imm
            elif kind == K_XORI:
                regs[d, i] = np.int64(regs[a, i]) ^ imm
            elif kind == K_SHLI:
                regs[d, i] = np.int64(regs[a, i]) << (imm & 31)
            elif kind == K_SHRI:
                regs[d, i] = (np.int64(regs[a, i]) & 0xFFFFFFFF) >> (imm & 31)
            elif kind == K_SRAI:
                regs[d, i] = np.int64(regs[a, i]) >> (imm & 31)
            elif kind == K_SLTI:
                regs[d, i] = 1 if regs[a, i] < imm else 0
            elif kind == K_SEQI:
                regs[d, i] = 1 if regs[a, i] == imm else 0
            elif kind == K_LI:
                regs[d, i] = imm
            elif kind == K_FADD:
                fregs[d, i] = fregs[a, i] + fregs[b, i]
            elif kind == K_FSUB:
                fregs[d, i] = fregs[a, i] - fregs[b, i]
            elif kind == K_FMUL:
                fregs[d, i] = fregs[a, i] * fregs[b, i]
            elif kind == K_FDIV:
                fregs[d, i] = fregs[a, i] / fregs[b, i]
            elif kind == K_FMIN:
                fregs[d, i] = _fmin(fregs[a, i], fregs[b, i])
            elif kind == K_FMAX:
                fregs[d, i] = _fmax(fregs[a, i], fregs[b, i])
            elif kind == K_FMA:
                fregs[d, i] = np.float32(np.float64(fregs[a, i]) * np.float64(fregs[b, i])
                                         + np.float64(fregs[fields[C, pc], i]))
            elif kind == K_FLT:
                regs[d, i] = 1 if fregs[a, i] < fregs[b, i] else 0
            elif kind == K_FLE:
                regs[d, i] = 1 if fregs[a, i] <= fregs[b, i] else 0
            elif kind == K_FEQ:
                regs[d, i] = 1 if fregs[a, i] == fregs[b, i] else 0
            elif kind == K_FNE:
                regs[d, i] = 1 if fregs[a, i] != fregs[b, i] else 0
            elif kind == K_FNEG:
                fregs[d, i] = -fregs[a, i]
            elif kind == K_FABS:
                fregs[d, i] = abs(fregs[a, i])
            elif kind == K_FSQRT:
                fregs[d, i] = np.sqrt(fregs[a, i])
            elif kind == K_ITOF:
                fregs[d, i] = np.float32(regs[a, i])
            elif kind == K_FTOI:
                regs[d, i] = _ftoi(fregs[a, i])
            elif kind == K_FFLOOR:
                fregs[d, i] = np.float32(np.floor(np.float64(fregs[a, i])))
            elif kind == K_FCEIL:
                fregs[d, i] = np.float32(np.ceil(np.float64(fregs[a, i])))
            elif kind == K_FTRUNC:
                fregs[d, i] = np.float32(np.trunc(np.float64(fregs[a, i])))
            elif kind == K_BZ or kind == K_BNZ or kind == K_JMP:
                if imm <= pc:  # a backward branch: where the NumPy engine checks its limits
                    after = t + costs[pc]
                    if after > max_cycles or after >= time_limit:
                        break
                if kind == K_JMP or (regs[a, i] == 0) == (kind == K_BZ):
                    next_pc = imm
            elif kind == K_LD or kind == K_ST:
                address = np.int64(regs[a, i]) + imm
                if address < 0 or address >= data_words:
                    break
                if kind == K_ST:
                    sram[address, i] = regs[d, i]
                elif d != 0:
                    regs[d, i] = sram[address, i]
            elif kind == K_CHK:
                if regs[a, i] < 0 or regs[a, i] >= regs[b, i]:
                    break
            elif kind == K_HASNB or kind == K_SREG:
                regs[d, i] = lane_constants[fields[LANE_ROW, pc], i]
            elif kind == K_ARG:
                if imm < 0 or imm >= args.shape[0]:
                    break
                regs[d, i] = args[imm]
            else:  # vector ops and reductions over SRAM ranges
                length = np.int64(regs[fields[C, pc], i])
                source = np.int64(regs[a, i])
                is_reduction = kind == K_VREDSUM or kind == K_VDOT
                if length < 0 or source < 0 or source + length > data_words:
                    if not (kind == K_VFILL and length >= 0):  # (vfill reads no source range)
                        break
                target = np.int64(regs[d, i])
                if not is_reduction and (target < 0 or target + length > data_words):
                    break
                reads_b = kind == K_VDOT or (not is_reduction and fields[SCALAR, pc] == 0)
                other = np.int64(regs[b, i])
                if reads_b and (other < 0 or other + length > data_words):
                    break
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
                t += (length + vector_lanes - 1) // vector_lanes  # elements beyond the issue cost
                stats[VECTOR_ELEMENTS] += length
                if is_float:
                    stats[FLOPS] += 2 * length if kind == K_VFMA or kind == K_VDOT else (
                        0 if kind == K_VCOPY or kind == K_VFILL else length)
            pc_counts[pc] += 1
            t += costs[pc]
            n_done += 1
            pc = next_pc
        stop_pcs[j] = pc
        times[j] = t
        counts[j] = n_done
