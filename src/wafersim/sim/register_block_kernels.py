"""The compiled pass of `register_blocks`: a straight run of integer register instructions and queued float32
rank-1 updates (`vger`) over a group's lanes.

Each register instruction is the expression `compiled.simple_ops.run_simple` computes for its kind (the
compiled interpreter's, the same operations in the same integer widths as the NumPy executors of `compute`:
int32 results, wrapped), run for every lane before the next instruction starts, as the NumPy path runs them.
Over a dense group (a window of PEs, perhaps but a few) each is one loop over the window's contiguous row of
the register file, which LLVM vectorises; the few PEs outside the group get their registers back at the end.
Over an index form group, `run_simple` itself, lane by lane. A `vger` reads its operands into the rank-1 queue's
next row (`descriptor_kernels.rank1_operands`, as `DescriptorMixin._rank1_update_queued` does) where it joins
the queue; the pass stops before one that would not (another shape or destination, operands that overlap it
or leave SRAM): the scheduler's loop runs that one as it comes.
"""
from __future__ import annotations

import math

import numpy as np
from .compiled.jit import njit

from .compiled.kinds import (K_ADD, K_ADDI, K_AND, K_ANDI, K_MAX, K_MIN, K_MOV, K_MUL, K_MULI, K_NOP, K_OR, K_ORI,
                             K_SEQ, K_SEQI, K_SLE, K_SLT, K_SLTI, K_SNE, K_SUB, K_XOR, K_XORI, K_LI, FLOPS,
                             VECTOR_ELEMENTS)
from .compiled.kinds import BLOCK_CHK as CHK, BLOCK_LOAD as LOAD, BLOCK_STORE as STORE, BLOCK_VGER as VGER
from .compiled.kinds import (BLOCK_VADD as VADD, BLOCK_VCOPY as VCOPY, BLOCK_VMUL as VMUL, BLOCK_VSCALE as VSCALE,
                             BLOCK_VSUB as VSUB)
from .compiled.arith import fadd, fmul, fsub
from .compiled.kinds import K_FADD, K_FMUL, K_FSUB
from .compiled.simple_ops import run_simple
from .descriptor_kernels import OPERANDS_READ, rank1_operands

# Columns of a block's instruction array (`register_blocks.RegisterRun.fields`): a `vger`'s kind is VGER, its
# registers d, a, b and (in IMM) c; a `chk`'s kind is CHK, its index register a and bound register b; a scalar
# load's (`ld`) kind is LOAD and a store's (`st`) STORE: register d, address register a plus IMM.
# A float32 vector op over SRAM ranges (`vadd.f` ...; `vcopy` of any words): registers d (destination), a, b (the
# second range, or vscale's factor) and, in IMM, c (the length). Only in passes over lanes by index. (The kinds:
# `compiled.kinds`' BLOCK_*, which `register_blocks` writes.)
KIND, D, A, B, IMM = range(5)
COLUMNS = 5
#: PEs a pass of register instructions only over a dense group takes at a time, every instruction over them before
#: the next PEs (each lane's registers are its own: the same values as whole rows one instruction at a time):
#: the rows' pieces stay in the cache between instructions, one read and one write of each row from memory a pass
#: instead of one an instruction (heat's step ends with five float32 instructions over 754k PEs).
CHUNK = 2048


@njit(cache=True, nogil=True)
def run_block(fields: np.ndarray, count: int, dense: bool, lo: int, hi: int, outside: np.ndarray, pes: np.ndarray,
              regs: np.ndarray, fregs: np.ndarray, sram: np.ndarray, fsram: np.ndarray, rows: np.ndarray, queued: int,
              m: int, n: int, size: int, vector_lanes: int, element_cycles: np.ndarray, vector_stats: np.ndarray
              ) -> tuple[int, int, int, int]:
    """The first `count` instructions of `fields` (rows: kind, d, a, b, imm) for the lanes `pes` (region indices,
    int64, sorted), one instruction after another; `dense`: the lanes are lo .. hi - 1 but those of `outside`,
    and register instructions run over the whole window, the registers they write put back at `outside` at the
    end (each as it was before the pass). A load or store moves one word between a register and `sram` (the
    wave's, words x PEs) in each lane, outside PEs untouched; one whose address leaves the data segment
    [0, `size`) in some lane ends the pass before it (the loop then raises, naming those lanes); so does a vector
    op with a negative length or a range outside it, which otherwise adds each lane's element cycles to
    `element_cycles` (per lane of `pes`) and its elements and FLOPs to `vector_stats`. A `vger` reads its d, a,
    b registers into rows[queued] (a rank-1 queue's address array holding `queued` updates of shape m x n) and
    is queued, where it joins the queue.
    Returns (instructions run, updates queued, the queue's m and n)."""
    saved = np.empty((count if dense else 0, len(outside)), dtype=regs.dtype)
    if dense:
        for p in range(count):
            if _writes_register(fields[p, KIND]):
                row = regs[fields[p, D]]
                for e in range(len(outside)):
                    saved[p, e] = row[outside[e]]
    queued_before = queued
    ran = 0
    if dense and _registers_only(fields, count):
        for start in range(lo, hi, CHUNK):
            stop = min(start + CHUNK, hi)
            for p in range(count):
                _row_op(fields[p, KIND], fields[p, IMM], regs, fregs, fields[p, D], fields[p, A], fields[p, B], start,
                        stop)
        ran = count
    while ran < count:
        kind = fields[ran, KIND]
        if kind == VGER:
            status, um, un, disjoint, same = rank1_operands(regs, pes, fields[ran, D], fields[ran, A], fields[ran, B],
                                                            fields[ran, IMM], size, rows[queued],
                                                            rows[0, 0] if queued else rows[0, 0, :0])
            if status != OPERANDS_READ or not disjoint or (queued and (um != m or un != n or not same)):
                break
            m, n = um, un
            queued += 1
        elif kind == CHK:
            if not _in_bounds(dense, lo, hi, pes, regs[fields[ran, A]], regs[fields[ran, B]]):
                break
        elif kind <= VADD:
            if not _vector_op(kind, pes, regs, fregs, sram, fsram, fields[ran, D], fields[ran, A], fields[ran, B],
                              fields[ran, IMM], size, vector_lanes, element_cycles, vector_stats):
                break
        elif kind == LOAD or kind == STORE:
            if not _word_access(kind == STORE, dense, lo, hi, outside, pes, regs, fields[ran, D], fields[ran, A],
                                fields[ran, IMM], sram, size):
                break
        elif dense:
            _row_op(kind, fields[ran, IMM], regs, fregs, fields[ran, D], fields[ran, A], fields[ran, B], lo, hi)
        else:
            run_simple(kind, fields[ran, D], fields[ran, A], fields[ran, B], 0, fields[ran, IMM], pes, regs, fregs)
        ran += 1
    if dense:
        for p in range(count - 1, -1, -1):  # (a register's first save is its value before the pass: put last)
            if _writes_register(fields[p, KIND]):
                row = regs[fields[p, D]]
                for e in range(len(outside)):
                    row[outside[e]] = saved[p, e]
    return ran, queued - queued_before, m, n


@njit(cache=True, inline="always")
def _writes_register(kind: int) -> bool:
    """Whether a block instruction of `kind` writes its d register (a dense pass saves it at the PEs outside
    the lanes, and puts it back): not a vector op, a `vger`, a `chk` or a store."""
    return kind > VADD and kind != VGER and kind != CHK and kind != STORE


@njit(cache=True, nogil=True)
def _in_bounds(dense: bool, lo: int, hi: int, pes: np.ndarray, index: np.ndarray, bound: np.ndarray) -> bool:
    """Whether 0 <= index < bound (int32, as `ComputeMixin._bounds_check` compares them) in every lane: over a dense
    group, every PE of its window, those outside it too (a failure there only ends the pass: the loop's check
    then passes or raises)."""
    if dense:
        for i in range(lo, hi):
            if index[i] < 0 or index[i] >= bound[i]:
                return False
    else:
        for i in pes:
            if index[i] < 0 or index[i] >= bound[i]:
                return False
    return True


@njit(cache=True, nogil=True)
def _word_access(store: bool, dense: bool, lo: int, hi: int, outside: np.ndarray, pes: np.ndarray, regs: np.ndarray,
                 d: int, a: int, imm: int, sram: np.ndarray, size: int) -> bool:
    """An `ld` (sram -> register d) or `st` (register d -> sram) at register a + imm in every lane, as
    `ComputeMixin._load` and `_store` do (the address an int64 sum; a load into r0 only checks it); False,
    with nothing moved, where some lane's address leaves [0, size) (the loop's `_sram_check` then raises)."""
    rd, ra = regs[d], regs[a]
    if dense:
        e = 0
        for i in range(lo, hi):  # (checked first: a failing instruction moves no word)
            if e < len(outside) and outside[e] == i:
                e += 1
                continue
            address = np.int64(ra[i]) + imm
            if address < 0 or address >= size:
                return False
        if not store and d == 0:
            return True
        e = 0
        for i in range(lo, hi):
            if e < len(outside) and outside[e] == i:
                e += 1
                continue
            address = np.int64(ra[i]) + imm
            if store:
                sram[address, i] = rd[i]
            else:
                rd[i] = sram[address, i]
    else:
        for i in pes:
            address = np.int64(ra[i]) + imm
            if address < 0 or address >= size:
                return False
        if not store and d == 0:
            return True
        for i in pes:
            address = np.int64(ra[i]) + imm
            if store:
                sram[address, i] = rd[i]
            else:
                rd[i] = sram[address, i]
    return True


@njit(cache=True, nogil=True)
def _vector_op(kind: int, pes: np.ndarray, regs: np.ndarray, fregs: np.ndarray, sram: np.ndarray, words: np.ndarray,
               d: int, a: int, b: int, c: int, size: int, vector_lanes: int, element_cycles: np.ndarray,
               vector_stats: np.ndarray) -> bool:
    """A vector op in every lane of `pes`, as `ComputeMixin._vector_uniform` runs it per tuple of operands: each
    lane's result computed whole (`words`: `sram` as float32), then stored (overlapping ranges as NumPy's copies
    give them), float32 arithmetic rounded per element; its ceil(n / vector_lanes) element cycles into
    `element_cycles`, n elements (and FLOPs, but for a copy) into `vector_stats`. False, with nothing done, where
    some lane's length is negative or a range leaves [0, size) (the loop's executor then raises).

    Element by element over the lanes, every lane's whole result before any lane's store (the lanes' SRAM
    columns are their own: the same stores as lane by lane): element k of neighbouring lanes lies in one row of
    `sram`, where one lane's elements lie a row apart, a 4 KiB stride on a 1,024-PE region, which the first-level
    cache holds in one set (a 20-word op, lane by lane: ~350 ns a lane; by element ~160)."""
    binary = kind == VADD or kind == VSUB or kind == VMUL
    lanes = len(pes)
    lengths = np.empty(lanes, dtype=np.int64)
    longest = 0
    for p in range(lanes):
        i = pes[p]
        length = np.int64(regs[c, i])
        if length < 0:
            return False
        for base in (np.int64(regs[d, i]), np.int64(regs[a, i]), np.int64(regs[b, i]) if binary else np.int64(0)):
            if base < 0 or base + length > size:
                return False
        lengths[p] = length
        longest = max(longest, length)
    if kind == VCOPY:
        _copy_by_element(pes, regs, sram, d, a, lengths, longest)
    else:
        result = np.empty((longest, lanes), dtype=np.float32)
        for k in range(longest):
            for p in range(lanes):
                if k < lengths[p]:
                    i = pes[p]
                    x = words[np.int64(regs[a, i]) + k, i]
                    if kind == VSCALE:
                        result[k, p] = x * fregs[b, i]
                    else:
                        y = words[np.int64(regs[b, i]) + k, i]
                        result[k, p] = x + y if kind == VADD else (x - y if kind == VSUB else x * y)
        for k in range(longest):
            for p in range(lanes):
                if k < lengths[p]:
                    i = pes[p]
                    words[np.int64(regs[d, i]) + k, i] = result[k, p]
    for p in range(lanes):
        length = lengths[p]
        if kind != VCOPY:
            vector_stats[FLOPS] += length
        element_cycles[p] += math.ceil(length * 1.0 / vector_lanes)
        vector_stats[VECTOR_ELEMENTS] += length
    return True


@njit(cache=True, nogil=True)
def _copy_by_element(pes: np.ndarray, regs: np.ndarray, sram: np.ndarray, d: int, a: int, lengths: np.ndarray,
                     longest: int) -> None:
    """`vcopy`'s words in every lane of `pes` (`lengths` each, the most `longest`), element by element over the
    lanes, every lane's words read before any is stored (`_vector_op`)."""
    held = np.empty((longest, len(pes)), dtype=sram.dtype)
    for k in range(longest):
        for p in range(len(pes)):
            if k < lengths[p]:
                i = pes[p]
                held[k, p] = sram[np.int64(regs[a, i]) + k, i]
    for k in range(longest):
        for p in range(len(pes)):
            if k < lengths[p]:
                i = pes[p]
                sram[np.int64(regs[d, i]) + k, i] = held[k, p]


@njit(cache=True, nogil=True)
def _registers_only(fields: np.ndarray, count: int) -> bool:
    """Whether the first `count` instructions of a block are all register instructions (no access, check, vector
    op or `vger`: none of them can end the pass early, so it may run them PE piece by PE piece, `CHUNK`)."""
    for p in range(count):
        if fields[p, KIND] < 0:  # (the BLOCK_* kinds are negative)
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _row_op(kind: int, imm: int, regs: np.ndarray, fregs: np.ndarray, d: int, a: int, b: int, lo: int, hi: int
            ) -> None:
    """A register instruction of a block over the PEs lo .. hi - 1 of the register file."""
    if kind == K_FADD or kind == K_FSUB or kind == K_FMUL:
        _dense_float_op(kind, fregs[d][lo:hi], fregs[a][lo:hi], fregs[b][lo:hi], d == a, d == b)
    else:
        _dense_op(kind, imm, regs[d][lo:hi], regs[a][lo:hi], regs[b][lo:hi], d == a, d == b)


@njit(cache=True, nogil=True)
def _dense_float_op(kind: int, fd: np.ndarray, fa: np.ndarray, fb: np.ndarray, d_is_a: bool, d_is_b: bool) -> None:
    """fd = kind(fa, fb) over float32 rows, as the compiled interpreter's `run_simple` computes it (`arith`: of
    two NaN operands the first, quieted); `d_is_a`, `d_is_b`: fd is the row fa, fb (`fadd r10, r10, r18`), where
    the loop reads the one array it writes, as `_dense_op`'s do, for the same reason (LLVM's overlap check: the
    scalar loop, 4-5x slower)."""
    n = len(fd)
    if d_is_a:
        _float_op(kind, fd, fd, fb, n)
    elif d_is_b:
        _float_op(kind, fd, fa, fd, n)
    else:
        _float_op(kind, fd, fa, fb, n)


@njit(cache=True, nogil=True, inline="always")
def _float_op(kind: int, out: np.ndarray, fa: np.ndarray, fb: np.ndarray, n: int) -> None:
    """out[:n] = kind(fa, fb) for `fadd`, `fsub` and `fmul` (inlined into `_dense_float_op` for each way out is
    fa, fb or neither)."""
    if kind == K_FADD:
        for i in range(n):
            out[i] = fadd(fa[i], fb[i])
    elif kind == K_FSUB:
        for i in range(n):
            out[i] = fsub(fa[i], fb[i])
    else:
        for i in range(n):
            out[i] = fmul(fa[i], fb[i])


@njit(cache=True, nogil=True)
def _dense_op(kind: int, imm: int, rd: np.ndarray, ra: np.ndarray, rb: np.ndarray, d_is_a: bool, d_is_b: bool
              ) -> None:
    """rd = kind(ra, rb or imm) over whole int32 rows (`run_simple`'s expressions: int32 results, wrapped);
    `d_is_a`, `d_is_b`: rd is the row ra, rb (every loop counter's `addi r13, r13, 1`). Where it is, the loop
    reads the one array it writes: LLVM vectorises a loop over distinct arrays only after a check that they do
    not overlap, which the same row passed twice fails, leaving the scalar loop (2-3x slower); one array needs
    no check (every result depends on its own lane alone). Different rows of the register file never overlap.
    (`kind rd, rd, rd`, rare, takes d is a's loop, whose check then fails: the scalar loop, the same values.)"""
    n = len(rd)
    if kind == K_NOP:
        return
    if kind == K_LI:
        for i in range(n):
            rd[i] = imm
    elif kind <= K_SNE:  # (`kinds`: K_ADD .. K_SNE, two registers)
        if d_is_a:
            _binary_op(kind, rd, rd, rb, n)
        elif d_is_b:
            _binary_op(kind, rd, ra, rd, n)
        else:
            _binary_op(kind, rd, ra, rb, n)
    elif d_is_a:
        _immediate_op(kind, imm, rd, rd, n)
    else:
        _immediate_op(kind, imm, rd, ra, n)


@njit(cache=True, nogil=True, inline="always")
def _immediate_op(kind: int, imm: int, out: np.ndarray, ra: np.ndarray, n: int) -> None:
    """out[:n] = kind(ra, imm) for `mov` and the kinds with an immediate (inlined into `_dense_op` for each way
    out is ra or not)."""
    if kind == K_MOV:
        for i in range(n):
            out[i] = ra[i]
    elif kind == K_ADDI:
        for i in range(n):
            out[i] = np.int64(ra[i]) + imm
    elif kind == K_MULI:
        for i in range(n):
            out[i] = np.int64(ra[i]) * imm
    elif kind == K_ANDI:
        for i in range(n):
            out[i] = np.int64(ra[i]) & imm
    elif kind == K_ORI:
        for i in range(n):
            out[i] = np.int64(ra[i]) | imm
    elif kind == K_XORI:
        for i in range(n):
            out[i] = np.int64(ra[i]) ^ imm
    elif kind == K_SLTI:
        for i in range(n):
            out[i] = 1 if ra[i] < imm else 0
    elif kind == K_SEQI:
        for i in range(n):
            out[i] = 1 if ra[i] == imm else 0
    else:  # (`register_blocks.BLOCK_OPS` lists only the kinds above and `_binary_op`'s)
        raise AssertionError("not an instruction of a register block")


@njit(cache=True, nogil=True, inline="always")
def _binary_op(kind: int, out: np.ndarray, ra: np.ndarray, rb: np.ndarray, n: int) -> None:
    """out[:n] = kind(ra, rb) for the kinds of two registers (inlined into `_dense_op` for each way out is ra,
    rb or neither)."""
    if kind == K_ADD:
        for i in range(n):
            out[i] = np.int64(ra[i]) + rb[i]
    elif kind == K_SUB:
        for i in range(n):
            out[i] = np.int64(ra[i]) - rb[i]
    elif kind == K_MUL:
        for i in range(n):
            out[i] = np.int64(ra[i]) * rb[i]
    elif kind == K_AND:
        for i in range(n):
            out[i] = ra[i] & rb[i]
    elif kind == K_OR:
        for i in range(n):
            out[i] = ra[i] | rb[i]
    elif kind == K_XOR:
        for i in range(n):
            out[i] = ra[i] ^ rb[i]
    elif kind == K_MIN:
        for i in range(n):
            out[i] = min(ra[i], rb[i])
    elif kind == K_MAX:
        for i in range(n):
            out[i] = max(ra[i], rb[i])
    elif kind == K_SLT:
        for i in range(n):
            out[i] = 1 if ra[i] < rb[i] else 0
    elif kind == K_SLE:
        for i in range(n):
            out[i] = 1 if ra[i] <= rb[i] else 0
    elif kind == K_SEQ:
        for i in range(n):
            out[i] = 1 if ra[i] == rb[i] else 0
    elif kind == K_SNE:
        for i in range(n):
            out[i] = 1 if ra[i] != rb[i] else 0
    else:  # (`register_blocks.BLOCK_OPS` lists only the kinds above and `_immediate_op`'s)
        raise AssertionError("not an instruction of a register block")
