"""The compiled interpreter: runs a group of PEs through compute, SRAM and branch instructions, each PE
with its own program counter, until each reaches an instruction the NumPy engine must run
(`table.STOP`), or one that would fail or pass a limit (then it stops *before* it, and the NumPy engine
runs it and raises what it raises).

PEs at one program counter form a *segment* and execute each instruction together, one tight loop over
the segment's PEs (the dispatch on the instruction's kind, the same for every PE of the loop, is
learnt by the branch predictor), so that decoding costs once per instruction and segment, not per PE. A conditional branch splits a segment; like
the NumPy engine's scheduler, the segment with the lowest program counter runs first and stops where
another waits, so that forward branches reconverge and segments merge again. Segments smaller than
`alone_below` (divergence down to a few PEs) run PE by PE, each straight to its stop (one loop serves
both: the instruction semantics appear once, written out in that loop, where Numba keeps the arrays'
reference counts out of the hot path -- an inlined function per instruction would not).

Operation semantics are the NumPy executors' (sim/compute.py) operation for operation, so that results
are bit for bit the same: int32 arithmetic wraps, float32 arithmetic rounds once per operation in
float32, float min/max follow NumPy's NaN and signed-zero rules, of two NaN operands the first is kept,
vector operations read every source element before writing any (as NumPy computes the right-hand side
first), reductions add left to right. Cycle counts are whole numbers here (the caller only comes here
when every timing figure is), so the order in which issue cycles are added cannot change them.

Everything compiled lives in this one file: Numba's cache is invalidated by a change of the file that
defines a function, not of files it calls into, so a helper elsewhere could leave stale machine code.

Compiled with Numba (`cache=True`: the machine code is kept next to this file, so only the first launch
on a machine pays for compilation); `nogil=True` lets several threads run parts of a group at once.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .table import A, B, C, D, FLOAT, IMM, KIND, KINDS, LANE_ROW, NEXT, SCALAR

# Kinds as module constants: Numba folds them into the if-chain of `run_group`.
(K_STOP, K_NOP, K_ADD, K_SUB, K_MUL, K_DIV, K_REM, K_AND, K_OR, K_XOR, K_SHL, K_SHR, K_SRA, K_MIN, K_MAX,
 K_SLT, K_SLE, K_SEQ, K_SNE, K_MOV, K_NEG, K_ABS, K_SEL,
 K_ADDI, K_MULI, K_ANDI, K_ORI, K_XORI, K_SHLI, K_SHRI, K_SRAI, K_SLTI, K_SEQI, K_LI,
 K_FADD, K_FSUB, K_FMUL, K_FDIV, K_FMIN, K_FMAX, K_FMA, K_FLT, K_FLE, K_FEQ, K_FNE, K_FNEG, K_FABS,
 K_FSQRT, K_ITOF, K_FTOI, K_FFLOOR, K_FCEIL, K_FTRUNC,
 K_BZ, K_BNZ, K_JMP,
 K_LD, K_ST, K_CHK, K_HASNB, K_SREG, K_ARG,
 K_VADD, K_VSUB, K_VMUL, K_VMIN, K_VMAX, K_VFMA, K_VSCALE, K_VCOPY, K_VFILL, K_VDIV, K_VREDSUM,
 K_VDOT) = range(len(KINDS))
# Numba freezes these constants of table.py into the cached machine code, which it keeps until *this*
# file changes: the checks run at every import, and a change of table.py's numbering must touch this file.
assert (KIND, D, A, B, C, IMM, NEXT, FLOAT, SCALAR, LANE_ROW) == tuple(range(10))
assert K_VDOT == KINDS["vdot"] == len(KINDS) - 1 and K_BZ == KINDS["bz"] and K_LD == KINDS["ld"]  # lists agree
assert K_SNE - K_SLT == K_FNE - K_FLT == 3 and K_FMAX - K_FADD == 5  # (`compare`, `float_binary`)

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


# Two NaN operands: x86 returns the first one (quieted), as NumPy's loops, which keep the operands in
# order, do; LLVM may swap the operands of a commutative operation, so that case is spelled out (an
# operation on the first NaN alone gives it back quieted). One NaN operand: the hardware's choice.
@njit(cache=True, inline="always")
def fadd(x, y):
    return x + x if x != x and y != y else x + y


@njit(cache=True, inline="always")
def fsub(x, y):
    return x - x if x != x and y != y else x - y


@njit(cache=True, inline="always")
def fmul(x, y):
    return x * x if x != x and y != y else x * y


@njit(cache=True, inline="always")
def fdiv(x, y):
    return x / x if x != x and y != y else x / y


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
def float_binary(which: int, x, y):
    """fadd (which = 0), fsub, fmul, fdiv, fmin, fmax (5) on float32 operands."""
    if which == 0:
        return fadd(x, y)
    if which == 1:
        return fsub(x, y)
    if which == 2:
        return fmul(x, y)
    if which == 3:
        return fdiv(x, y)
    return fmin(x, y) if which == 4 else fmax(x, y)


@njit(cache=True, inline="always")
def compare(which: int, x, y) -> int:
    """slt/flt (which = 0), sle/fle (1), seq/feq (2), sne/fne (3): 1 or 0."""
    if which == 0:
        return 1 if x < y else 0
    if which == 1:
        return 1 if x <= y else 0
    if which == 2:
        return 1 if x == y else 0
    return 1 if x != y else 0


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
        return fadd(x, y)
    if kind == K_VSUB:
        return fsub(x, y)
    if kind == K_VMUL or kind == K_VSCALE:
        return fmul(x, y)
    if kind == K_VMIN:
        return fmin(x, y)
    if kind == K_VMAX:
        return fmax(x, y)
    if kind == K_VFMA:
        return fadd(acc, fmul(x, y))  # the product rounded to float32 first, as NumPy computes it
    return fdiv(x, y)  # K_VDIV


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
                value = fmul(value, fsram[other + k, i])
            total = value if k == 0 else fadd(total, value)
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


MAX_SEGMENTS = 256  # past this many segments at once, the PEs of a new split run PE by PE


@njit(cache=True, nogil=True, error_model="numpy")
def run_group(lanes, start_pc, times, counts, stop_pcs, fields, costs, regs, fregs, sram, fsram, lane_constants, args,
              vector_lanes, max_cycles, time_limit, pc_counts, stats, alone_below, chunk_lanes):
    """Run the PEs `lanes` (sorted region indices) from `start_pc` until each stops. Region-sized arrays
    (only the lanes' entries are read or written): per PE i, `times[i]` (its cycle) and `counts[i]`
    (instructions executed) advance and `stop_pcs[i]` receives the pc it stopped at. `pc_counts` (per
    pc) and `stats` (vector elements, flops) accumulate what ran."""
    code_words = fields.shape[1]
    data_words = sram.shape[0]
    scratch_int = np.empty(sram.shape[0], dtype=np.int32)
    scratch_float = np.empty(sram.shape[0], dtype=np.float32)
    chunk = max(1, min(lanes.shape[0], chunk_lanes))
    capacity = 3 * chunk + 16
    order = np.empty(capacity, dtype=np.int64)  # segments are ranges of this buffer of PEs
    taken = np.empty(chunk, dtype=np.bool_)
    spare = np.empty(chunk, dtype=np.int64)
    resume = np.empty(times.shape[0], dtype=np.int64)  # where a PE running alone starts
    seg_pc = np.empty(MAX_SEGMENTS, dtype=np.int64)
    seg_lo = np.empty(MAX_SEGMENTS, dtype=np.int64)
    seg_hi = np.empty(MAX_SEGMENTS, dtype=np.int64)
    seg_cost = np.empty(MAX_SEGMENTS, dtype=np.float64)  # issue cycles every lane of it owes (not yet in times)
    seg_done = np.empty(MAX_SEGMENTS, dtype=np.int64)  # instructions likewise owed to counts
    refused = False  # set when a PE refuses an instruction: then every PE stops where it is
    for first_lane in range(0, lanes.shape[0], chunk):  # (chunks: their registers stay in cache)
        if refused:  # (lanes of chunks not run stay at the start)
            for k in range(first_lane, lanes.shape[0]):
                stop_pcs[lanes[k]] = start_pc
            break
        m = min(chunk, lanes.shape[0] - first_lane)
        order[:m] = lanes[first_lane:first_lane + m]
        top = m  # first free slot of `order`
        seg_pc[0], seg_lo[0], seg_hi[0], seg_cost[0], seg_done[0] = start_pc, 0, m, 0.0, 0
        segments = 1
        while segments > 0:
            best = 0
            for s in range(1, segments):
                if seg_pc[s] < seg_pc[best]:
                    best = s
            pc = seg_pc[best]
            same = 0
            for s in range(segments):
                if seg_pc[s] == pc:
                    same += seg_hi[s] - seg_lo[s]
            if same > seg_hi[best] - seg_lo[best]:  # several segments at this pc: merge them (owed cycles settled)
                if top + same > capacity:  # compact the live segments to the front of a fresh buffer
                    fresh = np.empty(capacity, dtype=np.int64)
                    top = 0
                    for s in range(segments):
                        size = seg_hi[s] - seg_lo[s]
                        fresh[top:top + size] = order[seg_lo[s]:seg_hi[s]]
                        seg_lo[s], seg_hi[s] = top, top + size
                        top += size
                    order = fresh
                start = top
                s = 0
                while s < segments:
                    if seg_pc[s] != pc:
                        s += 1
                        continue
                    for k in range(seg_lo[s], seg_hi[s]):
                        i = order[k]
                        times[i] += seg_cost[s]
                        counts[i] += seg_done[s]
                        order[top] = i
                        top += 1
                    segments -= 1
                    seg_pc[s], seg_lo[s], seg_hi[s] = seg_pc[segments], seg_lo[segments], seg_hi[segments]
                    seg_cost[s], seg_done[s] = seg_cost[segments], seg_done[segments]
                best = segments
                seg_pc[best], seg_lo[best], seg_hi[best], seg_cost[best], seg_done[best] = pc, start, top, 0.0, 0
                segments += 1
            lo, hi, owed, owed_done = seg_lo[best], seg_hi[best], seg_cost[best], seg_done[best]
            segments -= 1
            seg_pc[best], seg_lo[best], seg_hi[best] = seg_pc[segments], seg_lo[segments], seg_hi[segments]
            seg_cost[best], seg_done[best] = seg_cost[segments], seg_done[segments]
            behind = code_words + 1  # the lowest pc another segment waits at: run only up to it
            for s in range(segments):
                behind = min(behind, seg_pc[s])
            alone = hi - lo < alone_below  # then each lane runs on its own, from resume[i]
            if alone:
                for k in range(lo, hi):
                    i = order[k]
                    times[i] += owed
                    counts[i] += owed_done
                    resume[i] = pc
            cursor = lo
            while True:  # once for a segment; once per lane, from `cursor`, for lanes running alone
                if alone:
                    if cursor >= hi:
                        break
                    run_lo, run_hi, run_pc = cursor, cursor + 1, resume[order[cursor]]
                    run_owed, run_done, run_behind = 0.0, 0, code_words + 1
                    cursor += 1
                else:
                    run_lo, run_hi, run_pc, run_owed, run_done, run_behind = lo, hi, pc, owed, owed_done, behind
                latest = -np.inf  # an upper bound of the lanes' times (owed cycles apart)
                for k in range(run_lo, run_hi):
                    latest = max(latest, times[order[k]])
                while True:  # straight-line code and branches, over the lanes order[run_lo:run_hi]
                    kind = fields[KIND, run_pc] if 0 <= run_pc < code_words else K_STOP
                    if kind == K_STOP or run_pc >= run_behind:
                        if kind != K_STOP:  # another segment is behind or here: let it catch up (and merge)
                            seg_pc[segments], seg_lo[segments], seg_hi[segments] = run_pc, run_lo, run_hi
                            seg_cost[segments], seg_done[segments] = run_owed, run_done
                            segments += 1
                            break
                        for k in range(run_lo, run_hi):
                            i = order[k]
                            times[i] += run_owed
                            counts[i] += run_done
                            stop_pcs[i] = run_pc
                        break
                    d, a, b, imm = fields[D, run_pc], fields[A, run_pc], fields[B, run_pc], fields[IMM, run_pc]
                    after = latest + run_owed + costs[run_pc]  # (the latest any lane is after this one)
                    if (kind == K_BZ or kind == K_BNZ or kind == K_JMP) and (
                            imm > run_pc or (after <= max_cycles and after < time_limit)):
                        # a branch no lane can refuse (the common case): only the conditions, per lane
                        if kind != K_JMP:
                            for k in range(run_lo, run_hi):
                                taken[k - run_lo] = (regs[a, order[k]] == 0) == (kind == K_BZ)
                        kept = run_hi
                    else:
                        kept = run_lo
                    for k in range(kept, run_hi):
                        i = order[k]
                        status, extra = GO_ON, 0
                        if kind == K_NOP:
                            pass
                        elif kind == K_ADD:
                            regs[d, i] = np.int64(regs[a, i]) + regs[b, i]
                        elif kind == K_SUB:
                            regs[d, i] = np.int64(regs[a, i]) - regs[b, i]
                        elif kind == K_MUL:
                            regs[d, i] = np.int64(regs[a, i]) * regs[b, i]
                        elif kind == K_DIV:
                            regs[d, i] = int_div(np.int64(regs[a, i]), np.int64(regs[b, i]))
                        elif kind == K_REM:
                            regs[d, i] = int_rem(np.int64(regs[a, i]), np.int64(regs[b, i]))
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
                        elif K_SLT <= kind <= K_SNE:
                            regs[d, i] = compare(kind - K_SLT, regs[a, i], regs[b, i])
                        elif kind == K_MOV:
                            regs[d, i] = regs[a, i]
                        elif kind == K_NEG:
                            regs[d, i] = -np.int64(regs[a, i])
                        elif kind == K_ABS:
                            regs[d, i] = abs(np.int64(regs[a, i]))
                        elif kind == K_SEL:
                            regs[d, i] = regs[b, i] if regs[a, i] != 0 else regs[fields[C, run_pc], i]
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
                        elif K_FADD <= kind <= K_FMAX:
                            fregs[d, i] = float_binary(kind - K_FADD, fregs[a, i], fregs[b, i])
                        elif kind == K_FMA:
                            fregs[d, i] = np.float32(fadd(fmul(np.float64(fregs[a, i]), np.float64(fregs[b, i])),
                                                          np.float64(fregs[fields[C, run_pc], i])))
                        elif K_FLT <= kind <= K_FNE:
                            regs[d, i] = compare(kind - K_FLT, fregs[a, i], fregs[b, i])
                        elif kind == K_FNEG:
                            fregs[d, i] = -fregs[a, i]
                        elif kind == K_FABS:
                            fregs[d, i] = abs(fregs[a, i])
                        elif kind == K_FSQRT:
                            fregs[d, i] = np.sqrt(fregs[a, i])
                        elif kind == K_ITOF:
                            fregs[d, i] = np.float32(regs[a, i])
                        elif kind == K_FTOI:
                            regs[d, i] = ftoi(fregs[a, i])
                        elif kind == K_FFLOOR:
                            fregs[d, i] = np.float32(np.floor(np.float64(fregs[a, i])))
                        elif kind == K_FCEIL:
                            fregs[d, i] = np.float32(np.ceil(np.float64(fregs[a, i])))
                        elif kind == K_FTRUNC:
                            fregs[d, i] = np.float32(np.trunc(np.float64(fregs[a, i])))
                        elif kind == K_BZ or kind == K_BNZ or kind == K_JMP:
                            if imm <= run_pc and (times[i] + run_owed + costs[run_pc] > max_cycles
                                             or times[i] + run_owed + costs[run_pc] >= time_limit):
                                status = REFUSED  # a backward branch: where the NumPy engine checks its limits
                            elif kind == K_JMP or (regs[a, i] == 0) == (kind == K_BZ):
                                status = TAKEN
                        elif kind == K_LD or kind == K_ST:
                            address = np.int64(regs[a, i]) + imm
                            if address < 0 or address >= data_words:
                                status = REFUSED
                            elif kind == K_ST:
                                sram[address, i] = regs[d, i]
                            elif d != 0:
                                regs[d, i] = sram[address, i]
                        elif kind == K_CHK:
                            if regs[a, i] < 0 or regs[a, i] >= regs[b, i]:
                                status = REFUSED
                        elif kind == K_HASNB or kind == K_SREG:
                            regs[d, i] = lane_constants[fields[LANE_ROW, run_pc], i]
                        elif kind == K_ARG:
                            if imm < 0 or imm >= args.shape[0]:
                                status = REFUSED
                            else:
                                regs[d, i] = args[imm]
                        else:  # vector ops and reductions over SRAM ranges (a call: its loops outweigh the call's cost)
                            status, extra = vector_op(kind, run_pc, i, fields, regs, fregs, sram, fsram, vector_lanes, stats,
                                                      scratch_int, scratch_float)
                        if status == REFUSED:  # it stops before this instruction; the NumPy engine runs it
                            times[i] += run_owed
                            counts[i] += run_done
                            stop_pcs[i] = run_pc
                            refused = True
                            continue
                        if extra:
                            times[i] += extra
                            latest = max(latest, times[i])
                        if kind == K_BZ or kind == K_BNZ:
                            taken[kept - run_lo] = status == TAKEN
                        if kept != k:  # (after a refusal: close the gap)
                            order[kept] = i
                        kept += 1
                    run_hi = kept
                    if refused:  # an error (or a limit) comes: the other PEs stay where they are, as the
                        for k in range(run_lo, run_hi):  # NumPy scheduler would leave them; these just ran it
                            i = order[k]
                            times[i] += run_owed + costs[run_pc]
                            counts[i] += run_done + 1
                            jumps = kind == K_JMP or ((kind == K_BZ or kind == K_BNZ) and taken[k - run_lo])
                            stop_pcs[i] = fields[IMM, run_pc] if jumps else fields[NEXT, run_pc]
                        pc_counts[run_pc] += run_hi - run_lo
                        break
                    if run_hi == run_lo:
                        break
                    pc_counts[run_pc] += run_hi - run_lo
                    run_owed += costs[run_pc]
                    run_done += 1
                    if kind == K_BZ or kind == K_BNZ:
                        n_taken = 0
                        for k in range(run_hi - run_lo):
                            n_taken += taken[k]
                        if 0 < n_taken < run_hi - run_lo:  # the segment splits: taken lanes first, in their order
                            split = run_lo + n_taken
                            w_taken, w_fall = 0, n_taken
                            for k in range(run_hi - run_lo):
                                if taken[k]:
                                    spare[w_taken] = order[run_lo + k]
                                    w_taken += 1
                                else:
                                    spare[w_fall] = order[run_lo + k]
                                    w_fall += 1
                            order[run_lo:run_hi] = spare[:run_hi - run_lo]
                            if segments + 2 > MAX_SEGMENTS:  # too divergent for segments: each lane on its own
                                for k in range(run_lo, run_hi):
                                    i = order[k]
                                    times[i] += run_owed
                                    counts[i] += run_done
                                    resume[i] = fields[IMM, run_pc] if k < split else fields[NEXT, run_pc]
                                alone, cursor, hi = True, run_lo, run_hi
                                break
                            for target, first, last in ((fields[IMM, run_pc], run_lo, split),
                                                        (fields[NEXT, run_pc], split, run_hi)):
                                seg_pc[segments], seg_lo[segments], seg_hi[segments] = target, first, last
                                seg_cost[segments], seg_done[segments] = run_owed, run_done
                                segments += 1
                            break
                        run_pc = fields[IMM, run_pc] if n_taken else fields[NEXT, run_pc]
                    elif kind == K_JMP:
                        run_pc = fields[IMM, run_pc]
                    else:
                        run_pc = fields[NEXT, run_pc]
                if not alone or refused:
                    break
            if refused:
                if alone:  # lanes of this segment not run yet: at their start (owed cycles settled)
                    for k in range(cursor, hi):
                        stop_pcs[order[k]] = resume[order[k]]
                for s in range(segments):  # every other segment: where it waits
                    for k in range(seg_lo[s], seg_hi[s]):
                        i = order[k]
                        times[i] += seg_cost[s]
                        counts[i] += seg_done[s]
                        stop_pcs[i] = seg_pc[s]
                break
