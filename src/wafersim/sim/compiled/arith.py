"""The compiled interpreter's arithmetic: NumPy's semantics, operation for operation (see `interpreter`),
and the vector operations and reductions over SRAM ranges."""
from __future__ import annotations

import numpy as np
from .jit import njit, prefetch

from .kinds import (FLOPS, GO_ON, K_VADD, K_VCOPY, K_VDOT, K_VFILL, K_VFMA, K_VMAX, K_VMIN, K_VMUL,
                    K_VREDSUM, K_VSCALE, K_VSUB, REFUSED, VECTOR_ELEMENTS)
from .table import A, B, C, D, FLOAT, SCALAR

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
# Both results are computed and one selected, with `&` rather than `and`: a loop over them is then a select
# LLVM vectorises (the branches of `and` kept a register run's float loop scalar, ~5x slower).
@njit(cache=True, inline="always")
def fadd(x, y):
    both_nan = (x != x) & (y != y)
    return x + x if both_nan else x + y


@njit(cache=True, inline="always")
def fsub(x, y):
    both_nan = (x != x) & (y != y)
    return x - x if both_nan else x - y


@njit(cache=True, inline="always")
def fmul(x, y):
    both_nan = (x != x) & (y != y)
    return x * x if both_nan else x * y


@njit(cache=True, inline="always")
def fdiv(x, y):
    both_nan = (x != x) & (y != y)
    return x / x if both_nan else x / y


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
def fma32(x, y, z):
    """`fma` on float32 operands, rounded once: `isa.float_math.fused_multiply_add32` for one element (the
    exact float64 product and the float64 sum; a float64 sum exactly on a float32 tie goes the way of its
    exact error)."""
    p = fmul(np.float64(x), np.float64(y))
    c = np.float64(z)
    s = fadd(p, c)
    r = np.float32(s)
    if not np.isfinite(s):
        return r
    back = s - c
    error = (p - back) + (c - (s - back))
    if error == 0.0:
        return r
    near = np.float64(r)
    if np.isinf(r):
        near = 2.0**128 if s > 0 else -(2.0**128)
    far = np.float64(np.nextafter(r, np.float32(np.inf) if s > near else np.float32(-np.inf)))
    if (near + far) * 0.5 == s and (far > near) == (error > 0):
        return np.float32(far)
    return np.float32(near)


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


# (`_nrt=False`: nothing here allocates -- the scratch rows are the caller's -- and the interpreter calls it for each
# PE of a vector op: without reference counting, its arrays cost no atomic increment and decrement a call)
@njit(cache=True, error_model="numpy", _nrt=False)
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
        total = np.float32(0.0)  # (as Python's sum: 0 + -0.0 is +0.0)
        for k in range(length):
            value = fsram[source + k, i]
            if kind == K_VDOT:
                value = fmul(value, fsram[other + k, i])
            total = fadd(total, value)
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


@njit(cache=True, inline="always")
def _plain_float(kind, x, y, acc):
    """`_vector_float` on operands none of which is NaN (then fadd & co. are the plain operations, which the
    compiler may put on SIMD registers)."""
    if kind == K_VADD:
        return x + y
    if kind == K_VSUB:
        return x - y
    if kind == K_VMUL:
        return x * y
    if kind == K_VMIN:
        return x if x < y else y
    if kind == K_VMAX:
        return x if x > y else y
    if kind == K_VFMA:
        return acc + x * y
    return x / y  # K_VDIV


#: Rows of a dense vector op whose operands `_float_rows` checks for NaNs in one pass: the rows' words are read
#: from memory there (a matrix a few times the cache's size), and several streams at once keep more loads in
#: flight than one (gemv2d's 32-word axpys over 4,096 PEs: 2.5 -> 1.8 ms a 1,024-row sweep).
NAN_CHECK_ROWS = 4  # (`_has_nan` reads four rows)


@njit(cache=True, inline="always")
def _has_nan(fsram, operand, scalar, source, target, rows, first, end):
    """Whether fsram[target + k], fsram[source + k] or the operand's row k (its one row for a `scalar`) holds a NaN
    in columns first:end for some k in `rows` (the last index repeated up to `NAN_CHECK_ROWS`: one loop)."""
    k0, k1, k2, k3 = rows
    o0, o1, o2, o3 = (fsram[target + k0, first:end], fsram[target + k1, first:end], fsram[target + k2, first:end],
                      fsram[target + k3, first:end])
    x0, x1, x2, x3 = (fsram[source + k0, first:end], fsram[source + k1, first:end], fsram[source + k2, first:end],
                      fsram[source + k3, first:end])
    y0, y1, y2, y3 = (operand[0 if scalar else k0, first:end], operand[0 if scalar else k1, first:end],
                      operand[0 if scalar else k2, first:end], operand[0 if scalar else k3, first:end])
    nan = False
    for j in range(end - first):
        nan |= ((o0[j] != o0[j]) | (x0[j] != x0[j]) | (y0[j] != y0[j]) | (o1[j] != o1[j]) | (x1[j] != x1[j])
                | (y1[j] != y1[j]) | (o2[j] != o2[j]) | (x2[j] != x2[j]) | (y2[j] != y2[j]) | (o3[j] != o3[j])
                | (x3[j] != x3[j]) | (y3[j] != y3[j]))
    return nan


@njit(cache=True, inline="always")
def _float_rows(kind, fsram, operand, source, target, length, first, end):
    """fsram[target + k, i] = `_vector_float`(kind, fsram[source + k, i], y, fsram[target + k, i]) for k < `length`,
    first <= i < `end`: y = operand[k, i] (a range of words), or operand[0, i] when `operand` has one row (a
    scalar per PE). `NAN_CHECK_ROWS` rows at a time: those whose operands hold no NaN run `_plain_float` (SIMD); with
    a NaN, `_vector_float`. (Each row reads and writes only its own column of words, and the ranges are equal or
    apart: any order of rows gives the same words.)"""
    scalar = operand.shape[0] == 1
    for k in range(0, length, NAN_CHECK_ROWS):
        last = min(k + NAN_CHECK_ROWS, length) - 1
        nan = _has_nan(fsram, operand, scalar, source, target,
                       (k, min(k + 1, last), min(k + 2, last), min(k + 3, last)), first, end)
        for row in range(k, last + 1):
            out, x, y = (fsram[target + row, first:end], fsram[source + row, first:end],
                         operand[0 if scalar else row, first:end])
            if nan:
                for j in range(out.shape[0]):
                    out[j] = _vector_float(kind, x[j], y[j], out[j])
            else:
                for j in range(out.shape[0]):
                    out[j] = _plain_float(kind, x[j], y[j], out[j])


@njit(cache=True, inline="always")
def _gathered_ranges(pes, regs, a, b, c, d, checks_b, reads_b, data_words):
    """Whether every PE of `pes` has the length of the first and its ranges inside the data segment, its target
    either the range read or apart from it (`vector_op_dense`'s conditions, PE by PE)."""
    length = np.int64(regs[c, pes[0]])
    if length < 0:
        return False
    for p in range(pes.shape[0]):
        i = pes[p]
        source, target, other = np.int64(regs[a, i]), np.int64(regs[d, i]), np.int64(regs[b, i])
        if (regs[c, i] != length or target < 0 or target + length > data_words or source < 0
                or source + length > data_words
                or (source != target and source < target + length and target < source + length)):
            return False
        if checks_b and (other < 0 or other + length > data_words):
            return False
        if reads_b and other != target and other < target + length and target < other + length:
            return False
    return True


@njit(cache=True, inline="always")
def _gathered_column(kind, fsram, i, source, target, other, scalar, reads_b, length):
    """fsram[target + k, i] = `_vector_float`(kind, fsram[source + k, i], y, fsram[target + k, i]) for k < `length`:
    y = fsram[other + k, i] (`reads_b`), else `scalar` (`_float_gathered`, for one PE, `kind` a constant). Signed
    indices on purpose: unsigned ones (as in `transfers.take_words`) made `pipeline` ~5% faster but the merge-split
    sort `msort` ~20% slower, and were level on `trsv` (CHANGELOG stop 52, lead)."""
    if reads_b:
        for k in range(length):
            fsram[target + k, i] = _vector_float(kind, fsram[source + k, i], fsram[other + k, i], fsram[target + k, i])
    else:
        for k in range(length):
            fsram[target + k, i] = _vector_float(kind, fsram[source + k, i], scalar, fsram[target + k, i])


#: The gathered loop (`_float_gathered`) asks for the source lines of the PE this many places on in the segment
#: (and, first, of the PEs up to it): each word of a PE is a line of its own, and in a launch those lines come
#: from L3 or memory (`trsv`'s L: a row's next PE reads the same words only after every other row's PE of the
#: segment has). Measured (CHANGELOG stop 53, trsv53; process CPU, alternating processes): `trsv` ~5% less on a
#: loaded machine, level on a quiet one; 4 ahead without the first ones about the same; the words outer and the
#: PEs inner +25%.
GATHER_AHEAD = 8


@njit(cache=True, inline="always")
def _prefetch_source(fsram, regs, a, d, length, i):
    """Start loading the lines of PE i's source range (register a, `length` words) where it is not the target
    (register d): words an op only reads (`trsv`'s L), where an op in place works on words its PE has just written
    or received (`pipeline`'s messages: prefetching them made it ~5% slower)."""
    start = np.int64(regs[a, i])
    if start != regs[d, i]:
        for k in range(length):
            prefetch(fsram, (start + k, i))


@njit(cache=True, inline="always")
def _float_gathered(kind, fsram, regs, fregs, reads_b, a, b, d, length, pes):
    """For each PE i of `pes`: fsram[t + k, i] = `_vector_float`(kind, fsram[s + k, i], y, fsram[t + k, i]) for
    k < `length`, s and t its registers a and d, y = fsram[regs[b, i] + k, i] (`reads_b`), else fregs[b, i]. (A
    PE's words are its own column, its ranges equal or apart: in place, in any order.) One loop per kind, the kind
    a constant in each: no dispatch on it per word (a row pipeline's `vscale` and `vadd.fs` over a batch of woken
    PEs, one per row: that dispatch was ~15% of the interpreter's samples, CHANGELOG stop 51, pipe51)."""
    count = pes.shape[0]
    for p in range(1, min(GATHER_AHEAD, count)):  # (the source lines of the PEs after the first: each word is a line
        _prefetch_source(fsram, regs, a, d, length, pes[p])  # of its own; then those of the PE GATHER_AHEAD on)
    for p in range(count):
        i = pes[p]
        if p + GATHER_AHEAD < count:
            _prefetch_source(fsram, regs, a, d, length, pes[p + GATHER_AHEAD])
        source, target, other = np.int64(regs[a, i]), np.int64(regs[d, i]), np.int64(regs[b, i])
        scalar = fregs[b, i]
        if kind == K_VFMA:
            _gathered_column(K_VFMA, fsram, i, source, target, other, scalar, reads_b, length)
        elif kind == K_VADD:
            _gathered_column(K_VADD, fsram, i, source, target, other, scalar, reads_b, length)
        elif kind == K_VMUL or kind == K_VSCALE:
            _gathered_column(K_VMUL, fsram, i, source, target, other, scalar, reads_b, length)
        elif kind == K_VSUB:
            _gathered_column(K_VSUB, fsram, i, source, target, other, scalar, reads_b, length)
        elif kind == K_VMIN:
            _gathered_column(K_VMIN, fsram, i, source, target, other, scalar, reads_b, length)
        elif kind == K_VMAX:
            _gathered_column(K_VMAX, fsram, i, source, target, other, scalar, reads_b, length)
        else:
            _gathered_column(kind, fsram, i, source, target, other, scalar, reads_b, length)  # K_VDIV


# (`_nrt=False`: the gathered case allocates nothing and views nothing. Compiled with reference counting, each call
# -- one per vector instruction of a batch of woken PEs -- counted references to its arrays, atomically: in `perf`,
# ~8% of a whole-wafer row pipeline's process CPU in NRT_incref/NRT_decref called from here (CHANGELOG, stop 52,
# pipe52). The side-by-side case views rows of SRAM: `_vector_op_rows`, with reference counting.)
@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def vector_op_dense(kind, pc, pes, fields, regs, fregs, sram, fsram, vector_lanes, stats):
    """`vector_op` for the PEs `pes` at once (an elementwise op, not a reduction), element by element with
    the PEs innermost -- SRAM is word-major, so a word of consecutive PEs is consecutive memory and the loop
    runs on SIMD registers -- where that gives each PE what `vector_op` gives it: `pes` consecutive and
    ascending, every PE's ranges the same (registers equal) and inside the data segment, and the target range
    either the range read or apart from it (an overlap shifted by a few words would read words the op already
    wrote); or, for a float op other than a copy or a fill, any PEs with ranges so, each its own, of one length
    (`_float_gathered`). Returns the cycles beyond the issue cost (as `vector_op`, the same for every PE), or -1
    without executing anything where the op, or the PEs, are not so (`vector_op` then runs it PE by PE)."""
    count = pes.shape[0]
    first = pes[0]
    if kind == K_VREDSUM or kind == K_VDOT:
        return -1
    # PEs not side by side (a segment of PEs of several rows, each at its own step: `trsv`'s pipelines) run a
    # float op gathered, PE after PE in one loop: without `vector_op`'s call and its dispatch on the kind per word
    gathered = pes[count - 1] - first != count - 1
    if gathered and (fields[FLOAT, pc] == 0 or kind == K_VCOPY or kind == K_VFILL):
        return -1
    d, a, b, c = fields[D, pc], fields[A, pc], fields[B, pc], fields[C, pc]
    checks_b = fields[SCALAR, pc] == 0  # (`vector_op` checks regs[b] as a range then, and reads it but for
    reads_b = checks_b and kind != K_VFILL and kind != K_VCOPY  # a copy or a fill)
    if gathered:  # (each PE its own ranges, of one length: the same cycles for every PE)
        if not _gathered_ranges(pes, regs, a, b, c, d, checks_b, reads_b, sram.shape[0]):
            return -1
        _float_gathered(kind, fsram, regs, fregs, reads_b, a, b, d, regs[c, first], pes)
        return _counted(kind, pc, fields, regs[c, first], count, vector_lanes, stats)
    return _vector_op_rows(kind, pc, pes, fields, regs, fregs, sram, fsram, vector_lanes, stats)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=True)  # (explicit: a callee inherits its caller's `_nrt`)
def _vector_op_rows(kind, pc, pes, fields, regs, fregs, sram, fsram, vector_lanes, stats):
    """`vector_op_dense`'s case of PEs side by side (the caller checked that the op is elementwise): -1 where the
    PEs are not consecutive, or their registers differ, or a range leaves the data segment or overlaps another."""
    count = pes.shape[0]
    first = pes[0]
    d, a, b, c = fields[D, pc], fields[A, pc], fields[B, pc], fields[C, pc]
    checks_b = fields[SCALAR, pc] == 0
    reads_b = checks_b and kind != K_VFILL and kind != K_VCOPY
    for k in range(1, count):
        i = pes[k]
        if (i != first + k or regs[c, i] != regs[c, first] or regs[d, i] != regs[d, first]
                or regs[a, i] != regs[a, first] or (checks_b and regs[b, i] != regs[b, first])):
            return -1
    data_words = sram.shape[0]
    length, source = np.int64(regs[c, first]), np.int64(regs[a, first])
    target, other = np.int64(regs[d, first]), np.int64(regs[b, first])
    if length < 0 or target < 0 or target + length > data_words:
        return -1  # (`vector_op` refuses it, PE by PE)
    if kind != K_VFILL and (source < 0 or source + length > data_words
                            or (source != target and source < target + length and target < source + length)):
        return -1  # (vfill reads no source range)
    if checks_b and (other < 0 or other + length > data_words):
        return -1
    if reads_b and other != target and other < target + length and target < other + length:
        return -1
    end = first + count
    if kind == K_VCOPY or kind == K_VFILL:  # bits moved as they are, whatever the flag
        for k in range(length):
            sram[target + k, first:end] = regs[b, first:end] if kind == K_VFILL else sram[source + k, first:end]
    elif fields[FLOAT, pc] != 0:
        # (one loop per kind, the kind a constant in each: the loop over PEs then runs on SIMD registers)
        operand = fsram[other:other + length] if reads_b else fregs[b:b + 1]  # (one row: a scalar per PE)
        if kind == K_VFMA:
            _float_rows(K_VFMA, fsram, operand, source, target, length, first, end)
        elif kind == K_VADD:
            _float_rows(K_VADD, fsram, operand, source, target, length, first, end)
        elif kind == K_VMUL or kind == K_VSCALE:
            _float_rows(K_VMUL, fsram, operand, source, target, length, first, end)
        elif kind == K_VSUB:
            _float_rows(K_VSUB, fsram, operand, source, target, length, first, end)
        elif kind == K_VMIN:
            _float_rows(K_VMIN, fsram, operand, source, target, length, first, end)
        elif kind == K_VMAX:
            _float_rows(K_VMAX, fsram, operand, source, target, length, first, end)
        else:
            _float_rows(kind, fsram, operand, source, target, length, first, end)  # K_VDIV
    else:
        for k in range(length):
            for i in range(first, end):
                y_int = np.int64(sram[other + k, i]) if reads_b else np.int64(regs[b, i])
                sram[target + k, i] = _vector_int(kind, np.int64(sram[source + k, i]), y_int,
                                                  np.int64(sram[target + k, i]))
    return _counted(kind, pc, fields, length, count, vector_lanes, stats)


@njit(cache=True, inline="always")
def _counted(kind, pc, fields, length, count, vector_lanes, stats):
    """Count `count` PEs' elementwise vector op of `length` elements in `stats`; its cycles beyond the issue cost."""
    length = np.int64(length)
    stats[VECTOR_ELEMENTS] += length * count
    if fields[FLOAT, pc] != 0 and kind != K_VCOPY and kind != K_VFILL:
        stats[FLOPS] += (2 if kind == K_VFMA else 1) * length * count
    return (length + vector_lanes - 1) // vector_lanes
