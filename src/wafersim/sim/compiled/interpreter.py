"""The compiled interpreter: runs a group of PEs through compute, SRAM, branch and neighbour-transfer
instructions (send, recv, sendv, recvv, and the stream ops `vaddx`/`vmaxx`/`vminx` and their float16 forms),
each PE with its own program counter, until each reaches an instruction the NumPy engine must run
(`table.STOP`), or one that would fail or pass a limit (then it stops *before* it, and the NumPy engine runs
it and raises what it raises).

PEs at one program counter form a *segment* and execute each instruction together, one tight loop over
the segment's PEs (the dispatch on the instruction's kind, the same for every PE of the loop, is
learnt by the branch predictor), so that decoding costs once per instruction and segment, not per PE. A
conditional branch splits a segment; like the NumPy engine's scheduler, the segment with the lowest
program counter runs first and stops where another waits, so that forward branches reconverge and
segments merge again. Segments smaller than `alone_below` (divergence down to a few PEs) run PE by PE,
each straight to its stop (one loop serves both: the instruction semantics appear once, written out in
that loop, where Numba keeps the arrays' reference counts out of the hot path -- an inlined function per
instruction would not).

A send or receive (`transfers`) that finds its FIFO full or empty parks its PE (`fabric_ops`): it leaves its segment,
and a later push or pop on that FIFO puts it on a work list; when a chunk's segments are done, the woken
PEs run from where they waited, until the list is empty: a batch of them at a time (`wake_batch`, the
latest woken first, or after long runs the lowest-numbered first, `wake`; more while the last batch's runs
were short, `wake_work`), as segments by the pc each resumes at (`fabric_ops.woken_segments`), so that
parallel pipelines -- a scan along every row of a wafer -- run as wavefronts whose every instruction is one
loop over the batch, or one at a time, alone (`wake_batch` 1, the reference). So a PE leaves the interpreter
only at an instruction it does not run, or parked when nothing in this call can wake it.

Operation semantics are the NumPy executors' (sim/compute.py, sim/exchange.py) operation for operation,
so that results are bit for bit the same (`arith`, `transfers`). Cycle counts are whole numbers here
(the caller only comes here when every timing figure is), so the order in which issue cycles are added
cannot change them.

Compiled with Numba (`cache=True`: the machine code is kept next to these files, so only the first launch
on a machine pays for compilation; `numba_cache` drops it when any engine source changes, since Numba
itself only notices a change of the file that defines a function); `nogil=True` lets several threads run parts
of a group at once (without fabric transfers: their FIFOs are shared between PEs).
"""
from __future__ import annotations

import numpy as np
from .jit import njit

from .arith import compare, fma32, float_binary, ftoi, int_div, int_rem, vector_op, vector_op_dense
from .segments import MAX_SEGMENTS, call_buffers, merge_at
from .simple_ops import branch_conditions, run_check_span, run_memory_span, run_simple_span
from .fabric_ops import WOKEN, woken_segments
from .kinds import (BLOCKED, GO_ON, K_ABS, K_ADD, K_ADDI, K_AND, K_ANDI, K_ARG, K_BNZ, K_BZ, K_CHK, K_DIV, K_FABS,
                    K_FADD, K_FCEIL, K_FFLOOR, K_FLT, K_FMA, K_FMAX, K_FNE, K_FNEG, K_FSQRT, K_FTOI, K_FTRUNC,
                    K_HASNB, K_ITOF, K_JMP, K_LD, K_LI, K_MAX, K_MIN, K_MOV, K_MUL, K_MULI, K_NEG, K_NOP, K_OR,
                    K_ORI, K_RECV, K_REM, K_SEL, K_SEND, K_SEQI, K_SHL, K_SHLI, K_SHR, K_SHRI, K_SLT, K_SLTI, K_SNE,
                    K_SRA, K_SRAI, K_SREG, K_ST, K_STOP, K_SUB, K_VADD, K_VDIV, K_XOR, K_XORI, REFUSED, STOPPED,
                    STOPPED_AFTER, TAKEN)
from .routed_words import ROUTED, routed_send, stop_after
from .table import A, B, C, D, DIR, IMM, KIND, LANE_ROW, NEXT
from .scalar_transfers import GENERAL, scalar_transfer
from .transfers import transfer
from .wake import lowest_first

SIMPLE_MIN = 4  # segments of fewer PEs run register-only instructions and branch conditions in the general
# loop (a call of `simple_ops` costs more)
WAKE_BATCH_FLOOR = 8  # the fewest woken PEs a batch of `wake_words` runs (`run_group`)
DENSE_VECTOR_MIN = 8  # segments of at least this many PEs try an elementwise vector op over all of them at once
# (`arith.vector_op_dense`: their words side by side in SRAM); fewer run it PE by PE


@njit(cache=True, nogil=True, error_model="numpy")
def run_group(lanes, start_pc, times, counts, stop_pcs, fields, costs, regs, fregs, sram, fsram, lane_constants, args,
              vector_lanes, vector_lanes_half, max_cycles, time_limit, pc_counts, stats, alone_below, chunk_lanes,
              fabric_on, fabric, routed, resume, resident, loop_budget, fast_on, steady, wake_work, wake_words,
              wake_batch):
    """Run the PEs `lanes` (sorted region indices) from `start_pc` until each stops. Region-sized arrays
    (only the lanes' entries are read or written): per PE i, `times[i]` (its cycle) and `counts[i]`
    (instructions executed) advance and `stop_pcs[i]` receives the pc it stopped at. `pc_counts` (per
    pc) and `stats` (vector elements, flops) accumulate what ran.

    `fabric_on`: also run neighbour transfers (`fabric_ops`, on the FIFOs of `fabric`); a PE that blocks
    is parked (`fabric`'s `parked[i]` >= 0, `resume[i]` its pc) until a transfer of another PE wakes it;
    it then runs alone from there. Resident sleepers (PEs asleep in the scheduler, `fabric_ops.register_sleepers`;
    `resident` of them) that a transfer wakes join the call (`fabric`'s `joined`). PEs still parked at the end
    have stopped at `resume[pe]` (not `stop_pcs`).
    `routed`: the routed words' state (`FabricState.routed`, `routed_words.routed_send`), or None for a program
    without routed words in its table: Numba then compiles this function a second time with their branches pruned,
    machine code as before they existed (any change to this function's loop moved a kernel without routed words,
    particles, by 5-12%: the register allocation and block layout of one very large loop, CHANGELOG stop 55).
    `loop_budget`: after this many backward branches (summed over PEs) every PE stops at its next one, so
    that a call returns to the scheduler (`max_seconds`, progress reports) even from a kernel that never
    halts. `fast_on`: the segments' fast paths (`Strategy.compiled_loops`): register-only instructions
    in `simple_ops` (one loop per operation; SRAM loads and stores, bounds checks, PE constants and kernel
    arguments likewise) rather than in the general loop below, segments side by side
    merged in place, lanes already in a split's order left in place, each segment's bound of its lanes'
    times kept rather than recomputed when it runs, and the conditions of a `steady` branch (per pc: its
    register is written by nothing after it, `ProgramTable.steady`) reused when the same PEs come back to
    it with `order` unchanged.
    `wake_batch`: how many woken PEs run together (`woken_segments`; 1: each alone); more, up to a chunk, while the
    PEs of the last batch ran few instructions each: about `wake_work` instructions a batch (0: `wake_batch`); fewer, down
    to `WAKE_BATCH_FLOOR`, while they moved many words in vector transfers: about `wake_words` a batch (0: no limit)
    (`fabric`'s last array counts those words)."""
    loops_left = loop_budget
    code_words = fields.shape[1]
    data_words = sram.shape[0]
    scratch_int = np.empty(sram.shape[0], dtype=np.int32)
    scratch_float = np.empty(sram.shape[0], dtype=np.float32)
    word_bits = np.empty(1, dtype=np.int32)  # a stream op's word, and its bits as float32
    word_float = word_bits.view(np.float32)
    chunk = max(1, min(lanes.shape[0] + resident, chunk_lanes))
    (order, taken, batch_pes, spare, seg_pc, seg_lo, seg_hi, seg_cost, seg_done, seg_late,
     memo) = call_buffers(chunk, steady)  # (`segments`; `batch_pes`: the last batch of woken PEs)
    batch_size, batch_counts = 0, np.int64(0)  # (and their counts before it ran)
    word_time, ready, ready_top = fabric[8], fabric[12], fabric[13]  # (`fabric_ops`; `ready`: the work list of woken PEs)
    vector_words = fabric[16]  # (words moved by vector transfers, a running count: `transfers`)
    batch_words = vector_words[0]  # (its count before the last batch ran)
    stream_step = max(word_time, 1.0 / vector_lanes)  # W of a stream op (`StreamOpsMixin._stream_word_cycles`)
    half_stream_step = max(word_time, 1.0 / vector_lanes_half)  # (of a 16-bit one)
    refused = False  # set when a PE refuses an instruction: then every other segment's PEs stop where they are
    for first_lane in range(0, lanes.shape[0], chunk):  # (chunks: their registers stay in cache)
        if refused:  # (lanes of chunks not run stay at the start)
            for k in range(first_lane, lanes.shape[0]):
                stop_pcs[lanes[k]] = start_pc
            break
        m = min(chunk, lanes.shape[0] - first_lane)
        order[:m] = lanes[first_lane:first_lane + m]
        memo[3 * code_words + 3] += 1
        top = m  # first free slot of `order`
        seg_pc[0], seg_lo[0], seg_hi[0], seg_cost[0], seg_done[0] = start_pc, 0, m, 0.0, 0
        seg_late[0] = -np.inf
        for k in range(m):
            seg_late[0] = max(seg_late[0], times[order[k]])
        segments = 1
        while True:
            if segments == 0:  # this chunk's segments are done: run PEs that a transfer woke
                if refused or ready_top[0] == 0:
                    break
                # The latest woken first (after long runs the lowest-numbered: `wake`). `wake_batch` 1: one at
                # a time, alone (a pipeline runs PE after PE along its chain). Larger: up to that many from the
                # top of the work list, as segments by the pc each resumes at, so that parallel chains (a scan's
                # rows) run as a wavefront whose every instruction is one loop over the batch; a small batch
                # keeps the lines its PEs touch in cache until the next wavefront (their neighbours) uses them.
                size = wake_batch
                if wake_batch > 1 and batch_size > 0:  # (a wavefront of short runs: a larger batch pays)
                    ran = -batch_counts
                    for k in range(batch_size):
                        ran += counts[batch_pes[k]]
                    size = max(size, wake_work // max(ran // batch_size, 1))
                    # Long vector transfers (a pipeline's messages): fewer PEs, so that the lines of their words
                    # (a line per SRAM word and FIFO slot: PEs of other rows share none) stay in cache until the
                    # next batch, their neighbours, uses them again.
                    words = (vector_words[0] - batch_words) // batch_size
                    if wake_words > 0 and words > 0:
                        size = min(size, max(WAKE_BATCH_FLOOR, wake_words // words))
                    lowest_first(ready, ready_top[0], ran // batch_size)  # (of long runs: lowest PEs first, `wake`)
                take = min(ready_top[0], size, chunk)
                batch_size, batch_counts, batch_words = take, np.int64(0), vector_words[0]
                for k in range(take):
                    batch_pes[k] = ready[ready_top[0] - 1 - k]
                    batch_counts += counts[batch_pes[k]]
                ready_top[0] -= take
                top = take
                if take == 1:  # (one PE: a `WOKEN` segment, without a call's cost per wake)
                    order[0], seg_pc[0], seg_lo[0], seg_hi[0], segments = ready[ready_top[0]], WOKEN, 0, 1, 1
                else:
                    segments = woken_segments(ready, ready_top[0], take, resume, order, seg_pc, seg_lo, seg_hi)
                memo[3 * code_words + 3] += 1  # (`order` rewritten: steady branches' conditions are stale)
                for s in range(segments):
                    seg_cost[s], seg_done[s] = 0.0, 0
                    seg_late[s] = -np.inf  # (a bound of the segment's times, as `fast_on` keeps them)
                    for k in range(seg_lo[s], seg_hi[s]):
                        seg_late[s] = max(seg_late[s], times[order[k]])
            best = 0
            for s in range(1, segments):
                if seg_pc[s] < seg_pc[best]:
                    best = s
            pc = seg_pc[best]
            # (one segment has nothing to merge with: no call's cost. Calling it only when another segment waits at
            # the same pc, as stop 41 once did, made the LCS 0.46-0.51 -> 0.66-0.70 s of CPU a warm launch)
            if segments > 1:
                best, segments, top = merge_at(pc, best, segments, top, order, seg_pc, seg_lo, seg_hi, seg_cost,
                                               seg_done, seg_late, times, counts, memo, fast_on)
            lo, hi, owed, owed_done, late = seg_lo[best], seg_hi[best], seg_cost[best], seg_done[best], seg_late[best]
            segments -= 1
            seg_pc[best], seg_lo[best], seg_hi[best] = seg_pc[segments], seg_lo[segments], seg_hi[segments]
            seg_cost[best], seg_done[best], seg_late[best] = seg_cost[segments], seg_done[segments], seg_late[segments]
            behind = code_words + 1  # the lowest pc another segment waits at: run only up to it
            for s in range(segments):
                behind = min(behind, seg_pc[s])
            alone = hi - lo < alone_below or pc == WOKEN  # then each lane runs on its own, from resume[i]
            if alone and pc != WOKEN:
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
                run_refused = False  # (this run's: lanes running alone go on after another's refusal)
                latest = late  # an upper bound of the lanes' times (owed cycles apart)
                if alone or not fast_on:
                    latest = -np.inf
                    for k in range(run_lo, run_hi):
                        latest = max(latest, times[order[k]])
                while True:  # straight-line code and branches, over the lanes order[run_lo:run_hi]
                    kind = fields[KIND, run_pc] if 0 <= run_pc < code_words else K_STOP
                    if kind >= K_SEND and not fabric_on:
                        kind = K_STOP
                    if kind == K_STOP or run_pc >= run_behind:
                        if kind != K_STOP:  # another segment is behind or here: let it catch up (and merge)
                            seg_pc[segments], seg_lo[segments], seg_hi[segments] = run_pc, run_lo, run_hi
                            seg_cost[segments], seg_done[segments], seg_late[segments] = run_owed, run_done, latest
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
                    is_branch = kind == K_BZ or kind == K_BNZ or kind == K_JMP
                    if is_branch and imm <= run_pc:  # a loop: it counts against the call's budget
                        loops_left -= run_hi - run_lo
                    over_limit = is_branch and imm <= run_pc and loops_left < 0
                    counted = False  # (n_taken and first_fall known from the conditions' loop)
                    if is_branch and not over_limit and (imm > run_pc or (after <= max_cycles and after < time_limit)):
                        # a branch no lane can refuse (the common case): only the conditions, per lane
                        if kind != K_JMP and fast_on and run_hi - run_lo >= SIMPLE_MIN:  # (counted: see `counted`)
                            if (memo[3 * run_pc] == memo[3 * code_words + 3]
                                    and memo[3 * run_pc + 1] == (run_lo << 32 | run_hi)):  # the same PEs: the same way
                                n_taken, first_fall = memo[3 * run_pc + 2] >> 32, memo[3 * run_pc + 2] & 0xFFFFFFFF
                            else:
                                n_taken, first_fall = branch_conditions(regs, a, kind == K_BZ, order, run_lo, run_hi,
                                                                        taken)
                                if memo[3 * run_pc] != -2:
                                    memo[3 * run_pc] = memo[3 * code_words + 3]
                                    memo[3 * run_pc + 1] = run_lo << 32 | run_hi
                                    memo[3 * run_pc + 2] = n_taken << 32 | first_fall
                            counted = True
                        elif kind != K_JMP:
                            for k in range(run_lo, run_hi):
                                taken[k - run_lo] = (regs[a, order[k]] == 0) == (kind == K_BZ)
                        kept = run_hi
                    else:
                        kept = run_lo
                        if is_branch:
                            # A backward branch some lane may not take (a limit, or the call's budget of loop
                            # iterations is spent): the NumPy engine checks the limits over the whole group,
                            # so if one lane passes one, all stop before it.
                            for k in range(run_lo, run_hi):
                                after = times[order[k]] + run_owed + costs[run_pc]
                                over_limit = over_limit or after > max_cycles or after >= time_limit
                    # (register-only kinds, below K_BZ, only: a transfer's or a load's call did nothing for them.
                    # The callees here take `order` whole with bounds, not a slice, and count no references: a
                    # slice or a view is an atomic increment and decrement of its array's count, ~14% of bitonic)
                    if fast_on and kind < K_BZ and run_hi - kept >= SIMPLE_MIN and run_simple_span(
                            kind, d, a, b, fields[C, run_pc], imm, order, kept, run_hi, regs, fregs):
                        kept = run_hi  # (done: nothing of the loop below applies to these kinds)
                    if fast_on and (kind == K_LD or kind == K_ST) and run_hi - kept >= SIMPLE_MIN and run_memory_span(
                            kind, d, a, imm, order, kept, run_hi, regs, sram):
                        kept = run_hi  # (every address inside: done, as the loop below would have done it)
                    if fast_on and K_VADD <= kind <= K_VDIV and run_hi - kept >= DENSE_VECTOR_MIN:
                        extra = vector_op_dense(kind, run_pc, order[kept:run_hi], fields, regs, fregs, sram, fsram,
                                                vector_lanes, stats)
                        if extra >= 0:  # (done, as the loop below would have done it PE by PE)
                            for k in range(kept if extra else run_hi, run_hi):
                                times[order[k]] += extra
                                latest = max(latest, times[order[k]])
                            kept = run_hi
                    if fast_on and K_CHK <= kind <= K_ARG and run_hi - kept >= SIMPLE_MIN:
                        kept = run_check_span(kind, d, a, b, imm, fields[LANE_ROW, run_pc], order, kept, run_hi, regs,
                                              lane_constants, args)
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
                            fregs[d, i] = fma32(fregs[a, i], fregs[b, i], fregs[fields[C, run_pc], i])
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
                            if over_limit:
                                status = STOPPED  # a backward branch: where the NumPy engine checks its limits
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
                        elif kind >= K_SEND and times[i] + run_owed >= time_limit:  # near 2**23: it stops as at
                            status = STOPPED  # a backward branch (the FIFOs' times are float32: widened first)
                        elif routed is not None and kind == K_SEND and fields[DIR, run_pc] == ROUTED:  # routed_words
                            status = routed_send(run_pc, i, run_owed, fields, costs, regs, times, resume, fabric,
                                                 routed, time_limit)
                            if status == STOPPED_AFTER:  # sent: it stops right after
                                stop_after(i, run_pc, run_owed, run_done, fields, costs, times, counts, stop_pcs,
                                           pc_counts)
                                continue
                        elif kind >= K_SEND:
                            # (a call without reference counting: `transfers`; a scalar word on its short path first)
                            status = GENERAL if kind > K_RECV else scalar_transfer(
                                kind, run_pc, i, run_owed, run_done, fields, costs, regs, lane_constants, times, counts,
                                resume, fabric[0], fabric[1], fabric[2], fabric[3], fabric[4], fabric[5], fabric[6],
                                fabric[7], word_time, fabric[10], fabric[11], ready, ready_top, fabric[14], fabric[15])
                            if status == GENERAL:
                                status = transfer(kind, run_pc, i, run_owed, run_done, fields, costs, regs, sram, fsram,
                                                  lane_constants, stats, word_bits, word_float, times, counts, resume,
                                                  fabric, stream_step, half_stream_step, pc_counts, time_limit)
                            if status == BLOCKED:  # parked: out of this run
                                continue
                            latest = max(latest, times[i])
                            if routed is not None and status == GO_ON and fields[DIR, run_pc] == ROUTED:
                                # a routed word's receiver stops
                                stop_after(i, run_pc, run_owed, run_done, fields, costs, times, counts, stop_pcs,
                                           pc_counts)  # right after it, as its sender (`routed_words`)
                                continue
                        else:  # vector ops and reductions over SRAM ranges (a call: its loops outweigh the call's cost)
                            status, extra = vector_op(kind, run_pc, i, fields, regs, fregs, sram, fsram, vector_lanes, stats,
                                                      scratch_int, scratch_float)
                        if status == STOPPED:  # it stops before this instruction (the others go on)
                            times[i] += run_owed
                            counts[i] += run_done
                            stop_pcs[i] = run_pc
                            continue
                        if status == REFUSED:  # it stops before this instruction; the NumPy engine runs it
                            times[i] += run_owed
                            counts[i] += run_done
                            stop_pcs[i] = run_pc
                            refused = run_refused = True
                            continue
                        if extra:
                            times[i] += extra
                            latest = max(latest, times[i])
                        if kind == K_BZ or kind == K_BNZ:
                            taken[kept - run_lo] = status == TAKEN
                        if kept != k:  # (after a refusal: close the gap)
                            order[kept] = i
                            memo[3 * code_words + 3] += 1
                        kept += 1
                    run_hi = kept
                    if run_refused:  # an error (or a limit) comes: the other PEs stay where they are, as the
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
                        if not counted:
                            n_taken = 0
                            for k in range(run_hi - run_lo):
                                n_taken += taken[k]
                            first_fall = 0
                            while fast_on and first_fall < n_taken and taken[first_fall]:
                                first_fall += 1
                        if 0 < n_taken < run_hi - run_lo:  # the segment splits: taken lanes first, in their order
                            split = run_lo + n_taken
                            if first_fall < n_taken:  # (with fast_on: lanes already in that order, as in a loop's
                                # later passes, stay where they are)
                                w_taken, w_fall = 0, n_taken
                                for k in range(run_hi - run_lo):
                                    if taken[k]:
                                        spare[w_taken] = order[run_lo + k]
                                        w_taken += 1
                                    else:
                                        spare[w_fall] = order[run_lo + k]
                                        w_fall += 1
                                order[run_lo:run_hi] = spare[:run_hi - run_lo]
                                memo[3 * code_words + 3] += 1
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
                                seg_cost[segments], seg_done[segments], seg_late[segments] = run_owed, run_done, latest
                                segments += 1
                            break
                        run_pc = fields[IMM, run_pc] if n_taken else fields[NEXT, run_pc]
                    elif kind == K_JMP:
                        run_pc = fields[IMM, run_pc]
                    else:
                        run_pc = fields[NEXT, run_pc]
                # Lanes of one segment running alone each go to their own stop even after one refused an
                # instruction: PEs that would fail the same instruction all stop before it, and the NumPy
                # engine's run of it names them all, as when it runs their (masked) group.
                if not alone:
                    break
            if refused:  # (lanes running alone have all run to their stops: see above)
                for s in range(segments):  # every other segment: where it waits
                    for k in range(seg_lo[s], seg_hi[s]):
                        i = order[k]
                        times[i] += seg_cost[s]
                        counts[i] += seg_done[s]
                        stop_pcs[i] = seg_pc[s]
                break
    while ready_top[0] > 0:  # woken but not run (a PE refused an instruction): where they wait
        ready_top[0] -= 1
        stop_pcs[ready[ready_top[0]]] = resume[ready[ready_top[0]]]

