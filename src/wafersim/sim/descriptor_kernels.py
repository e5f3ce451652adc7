"""Compiled loops of the descriptor executors (`descriptors`): a float32 rank-1 update over many lanes
whose operand addresses differ, in one pass without temporaries.

NumPy needs one call per distinct tuple of operand addresses, each gathering and scattering the whole
T x T destination of every lane (the library GEMM spends most of its time there). The loop below does
the same float32 arithmetic element by element: each product rounded to float32, then added to the
destination and rounded again (no fused multiply-add: Numba, like NumPy, leaves float32 `a * b + c` as
two rounded operations without `fastmath`), so its results equal NumPy's bit for bit.
"""
from __future__ import annotations

import numpy as np
from .compiled.jit import njit, prefetch

from .fifo_kernels import lane_runs


#: Runs shorter than this on average take the per-lane loop: a run's slices cost more than its lanes save.
_SHORTEST_RUNS = 8


@njit(cache=True, nogil=True)
def rank1_update_float32(sram: np.ndarray, pes: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray,
                         m: int, n: int) -> None:
    """sram[d[k] + i*n + j, pes[k]] += sram[a[k] + i, pes[k]] * sram[b[k] + j, pes[k]] for every lane k,
    i < m, j < n, every operand read before any destination word is written (as NumPy does). The caller
    guarantees every span is inside `sram`."""
    lanes = len(pes)
    x = np.empty((m, lanes), dtype=np.float32)
    y = np.empty((n, lanes), dtype=np.float32)
    # Gathered row by row (lanes innermost): consecutive PEs are neighbours in a row of `sram`, whose rows
    # are a power-of-two number of bytes apart (a lane's column would touch a cache set per word).
    for i in range(m):
        for k in range(lanes):
            x[i, k] = sram[a[k] + i, pes[k]]
    for j in range(n):
        for k in range(lanes):
            y[j, k] = sram[b[k] + j, pes[k]]
    common = True  # the usual case: one destination address for every lane
    for k in range(lanes):
        common = common and d[k] == d[0]
    runs = lane_runs(pes)
    if common and lanes >= _SHORTEST_RUNS * (len(runs) - 1):
        # Runs of consecutive PEs (a block's rows): contiguous slices whose loops LLVM vectorises (the
        # per-lane index `row[pes[k]]` would not be). Still a rounded product, then a rounded sum.
        for i in range(m):
            xr = x[i]
            for j in range(n):
                row = sram[d[0] + i * n + j]
                yr = y[j]
                for r in range(len(runs) - 1):
                    k0 = runs[r]
                    length = runs[r + 1] - k0
                    target = row[pes[k0]:pes[k0] + length]
                    xs = xr[k0:k0 + length]
                    ys = yr[k0:k0 + length]
                    for t in range(length):
                        target[t] += xs[t] * ys[t]
    elif common:
        for i in range(m):
            for j in range(n):
                row = sram[d[0] + i * n + j]
                for k in range(lanes):
                    row[pes[k]] += x[i, k] * y[j, k]
    else:
        for i in range(m):
            for j in range(n):
                for k in range(lanes):
                    sram[d[k] + i * n + j, pes[k]] += x[i, k] * y[j, k]






#: Words added to each row of `rank1_updates_float32`'s gathered operands (one cache line).
PAD = 16

#: PEs (columns of SRAM) per block of `rank1_updates_float32`'s dense pass: a block's gathered operand rows stay
#: in the second-level cache while every destination row of the block passes. Eight 16 x 16 updates measured
#: alone on one thread, blocks of 256/512/1024/whole span: 1.13/1.01/1.03/1.43 ms over 4096 lanes; 512 against
#: the whole span: 2048 lanes 0.56 ms both, 8192 lanes 2.20 against 3.45 ms, 16384 lanes 4.7 against 7.0 ms.
BLOCK = 512

#: Float32 words in a 64-byte cache line (the step of `prefetch`es along a row).
LINE = 16
#: The dense pass prefetches the destination rows of the 2 x 2 group of rows this many groups ahead, and the gather
#: the operand row this many rows ahead: each block's rows are runs of 2 KiB, too short for the hardware
#: prefetchers to find before they end. Captured SUMMA flushes (4,096 and 4,032 lanes, eight 16 x 16 updates, one
#: thread, replayed): 0.81-0.89 against 0.91-1.01 ms with their data in the caches, 0.89-1.04
#: against 1.06-1.15 ms after a 64 MiB sweep (1, 2, 8 or 16 groups ahead, 1 to 4 rows: within noise of these).
AHEAD_GROUPS = 4
AHEAD_ROWS = 2


@njit(cache=True, nogil=True)
def rank1_updates_float32(sram: np.ndarray, pes: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray,
                          m: int, n: int, work: np.ndarray) -> None:
    """`rank1_update_float32` for q = 0, 1, ... a.shape[0] - 1 in turn, every update into the same destination
    (d per lane): sram[d[k] + i*n + j, pes[k]] += sram[a[q, k] + i, pes[k]] * sram[b[q, k] + j, pes[k]].

    The caller guarantees every span is inside `sram` and that no update's operands overlap the destination
    (so every operand may be read first), hence each destination word is read once, gets the rounded
    products added one by one in the order of q, each sum rounded (as the updates one after another do),
    and is written once. `work`: float32 scratch of at least `work_words(updates, m, n, pes[-1] + 1 - pes[0])`
    words (kept by the caller: fresh memory per call would cost more in page faults than the pass itself)."""
    updates, lanes = a.shape
    if lanes == 0:
        return
    common = True
    for k in range(lanes):
        common = common and d[k] == d[0]
    lo = pes[0]
    span = pes[lanes - 1] + 1 - lo
    if not common or span > 2 * lanes:
        _rank1_updates_lanes(sram, pes, d, a, b, m, n)
        return
    # Dense over the PEs pes[0] .. pes[-1] (at most twice the lanes): whole-row loops that LLVM vectorises, each
    # destination row in the first-level cache while every update adds to it; the PEs between the lanes are
    # computed from zeros and get their own words back. Gathered rows are one cache line longer than a block
    # (rows a power-of-two number of bytes apart fall in one set of the first-level cache). The operands are
    # gathered a block at a time, just before its pass: gathered for the whole span first (4 MiB for SUMMA's
    # 4096 lanes), they outgrew the second-level cache and the pass read them back from memory.
    stride = min(BLOCK, span) + PAD
    x = work[:updates * m * stride].reshape((updates, m, stride))
    y = work[updates * m * stride:updates * (m + n) * stride].reshape((updates, n, stride))
    x_segments, x_starts = _segments(a, pes, lo)
    y_segments, y_starts = _segments(b, pes, lo)
    outside = np.empty(span - lanes, dtype=np.int64)  # the PEs between the lanes, from lo
    runs = lane_runs(pes)
    e = 0
    for r in range(1, len(runs) - 1):
        for c in range(pes[runs[r] - 1] + 1 - lo, pes[runs[r]] - lo):
            outside[e] = c
            e += 1
    # The PEs between the lanes get their own destination words back after the pass (`outside`).
    saved = np.empty((m * n, len(outside)), dtype=np.float32)
    for w in range(m * n):
        row = sram[d[0] + w][lo:lo + span]
        for c in range(len(outside)):
            saved[w, c] = row[outside[c]]
    # A block of BLOCK PEs at a time, its operands gathered first (the whole span's y rows, re-read for every i,
    # outgrow the second-level cache); the order of the updates into each destination word is the same in any block.
    e = 0
    for c0 in range(0, span, BLOCK):
        c1 = min(span, c0 + BLOCK)
        gaps = e  # (the PEs of the block that are no lanes: outside[gaps:e]; their operand words are zeros)
        while e < len(outside) and outside[e] < c1:
            e += 1
        for g in range(AHEAD_GROUPS):  # (the block's first groups, as the groups before them would have)
            _prefetch_rows(sram, d[0], 0, 2 * g, m, n, lo + c0, lo + c1)
        _gather_block(sram, x, x_segments, x_starts, lo, c0, c1, m, outside[gaps:e])
        _gather_block(sram, y, y_segments, y_starts, lo, c0, c1, n, outside[gaps:e])
        width = c1 - c0
        # (rows, then their slices: contiguous for Numba) destination rows (i, j), (i, j + 1), (i + 1, j) and
        # (i + 1, j + 1) a pass, each gathered x and y word loaded once for two of them: replayed SUMMA flushes
        # 4-8% faster than two rows of eight updates a pass, ~20% than one row of four; the rest one row a pass
        i = 0
        while i + 2 <= m:
            j = 0
            while j + 2 <= n:
                row = d[0] + i * n + j
                _prefetch_rows(sram, d[0], i, j + 2 * AHEAD_GROUPS, m, n, lo + c0, lo + c1)
                _four_rows(sram[row][lo + c0:lo + c1], sram[row + 1][lo + c0:lo + c1],
                           sram[row + n][lo + c0:lo + c1], sram[row + n + 1][lo + c0:lo + c1], x, y, i, j, updates,
                           width)
                j += 2
            if j < n:
                _one_row(sram[d[0] + i * n + j][lo + c0:lo + c1], x, y, i, j, updates, width)
                _one_row(sram[d[0] + (i + 1) * n + j][lo + c0:lo + c1], x, y, i + 1, j, updates, width)
            i += 2
        if i < m:
            for j in range(n):
                _one_row(sram[d[0] + i * n + j][lo + c0:lo + c1], x, y, i, j, updates, width)
    for w in range(m * n):
        row = sram[d[0] + w][lo:lo + span]
        for c in range(len(outside)):
            row[outside[c]] = saved[w, c]


@njit(cache=True, nogil=True, inline="always")
def _prefetch_rows(sram: np.ndarray, dest: int, i: int, j: int, m: int, n: int, first: int, end: int) -> None:
    """Start loading the PEs first .. end - 1 of destination rows (i, j), (i, j + 1), (i + 1, j), (i + 1, j + 1)
    of `rank1_updates_float32`'s dense pass (j past the last group of rows i, i + 1: those of the rows after);
    nothing past the last group of the block, nor where rows hold fewer than two (no groups: none to wrap to)."""
    if n < 2:
        return
    while j + 2 > n and i + 2 <= m:
        j -= n - n % 2
        i += 2
    if i + 2 > m:
        return
    row = dest + i * n + j
    for c in range(first, end, LINE):
        prefetch(sram, (row, c))
        prefetch(sram, (row + 1, c))
        prefetch(sram, (row + n, c))
        prefetch(sram, (row + n + 1, c))


@njit(cache=True, nogil=True, inline="always")
def _four_rows(t00: np.ndarray, t01: np.ndarray, t10: np.ndarray, t11: np.ndarray, x: np.ndarray, y: np.ndarray,
               i: int, j: int, updates: int, w: int) -> None:
    """Destination rows (i, j), (i, j + 1), (i + 1, j), (i + 1, j + 1) of `rank1_updates_float32`'s dense pass
    over one block (w words each): every update q added to each word in turn, each product rounded, then each
    sum. Four updates a pass (each destination word loaded and stored once for them), then one at a time.
    (Inlined in Numba IR: a called helper in this loop once made the pass ~2x slower.)"""
    q = 0
    while q + 4 <= updates:
        p0, p1, p2, p3 = x[q, i][:w], x[q + 1, i][:w], x[q + 2, i][:w], x[q + 3, i][:w]
        r0, r1, r2, r3 = x[q, i + 1][:w], x[q + 1, i + 1][:w], x[q + 2, i + 1][:w], x[q + 3, i + 1][:w]
        a0, a1, a2, a3 = y[q, j][:w], y[q + 1, j][:w], y[q + 2, j][:w], y[q + 3, j][:w]
        b0, b1, b2, b3 = y[q, j + 1][:w], y[q + 1, j + 1][:w], y[q + 2, j + 1][:w], y[q + 3, j + 1][:w]
        for t in range(w):
            e0, e1, e2, e3 = p0[t], p1[t], p2[t], p3[t]
            f0, f1, f2, f3 = r0[t], r1[t], r2[t], r3[t]
            g0, g1, g2, g3 = a0[t], a1[t], a2[t], a3[t]
            h0, h1, h2, h3 = b0[t], b1[t], b2[t], b3[t]
            s = t00[t] + e0 * g0
            s = s + e1 * g1
            s = s + e2 * g2
            t00[t] = s + e3 * g3
            s = t01[t] + e0 * h0
            s = s + e1 * h1
            s = s + e2 * h2
            t01[t] = s + e3 * h3
            s = t10[t] + f0 * g0
            s = s + f1 * g1
            s = s + f2 * g2
            t10[t] = s + f3 * g3
            s = t11[t] + f0 * h0
            s = s + f1 * h1
            s = s + f2 * h2
            t11[t] = s + f3 * h3
        q += 4
    while q < updates:
        xa, xb, ya, yb = x[q, i][:w], x[q, i + 1][:w], y[q, j][:w], y[q, j + 1][:w]
        for t in range(w):
            t00[t] += xa[t] * ya[t]
            t01[t] += xa[t] * yb[t]
            t10[t] += xb[t] * ya[t]
            t11[t] += xb[t] * yb[t]
        q += 1


@njit(cache=True, nogil=True, inline="always")
def _one_row(target: np.ndarray, x: np.ndarray, y: np.ndarray, i: int, j: int, updates: int, w: int) -> None:
    """Destination row (i, j) of the dense pass over one block (`_four_rows`' remainder): the updates in turn."""
    for q in range(updates):
        xs, ys = x[q, i][:w], y[q, j][:w]
        for t in range(w):
            target[t] += xs[t] * ys[t]

def work_words(updates: int, m: int, n: int, span: int) -> int:
    """Float32 scratch words `rank1_updates_float32` needs for `updates` M x N updates over a span of `span` PEs."""
    return updates * (m + n) * (min(BLOCK, span) + PAD)


@njit(cache=True, nogil=True)
def _segments(address: np.ndarray, pes: np.ndarray, lo: int) -> tuple[np.ndarray, np.ndarray]:
    """The runs of consecutive PEs that read an operand at one address, per update q: rows (first PE, PE past
    the last, both from lo; the address), update q's rows starts[q] .. starts[q + 1] (a GEMM's lanes mostly
    share one address: a few runs, the one most of a block's PEs read copied whole by `_gather_block`, the
    others over it)."""
    updates, lanes = address.shape
    total = 0
    for q in range(updates):
        for k in range(lanes):
            if k == 0 or address[q, k] != address[q, k - 1] or pes[k] != pes[k - 1] + 1:
                total += 1
    segments = np.empty((total, 3), dtype=np.int64)
    starts = np.empty(updates + 1, dtype=np.int64)
    s = 0
    for q in range(updates):
        starts[q] = s
        for k in range(lanes):
            # (the count's run test, written out again: the fill writes the rows the count made. As a shared
            # compiled helper it made the library GEMM's rank-1 updates ~2x slower, 0.3 s of a 0.6 s launch)
            if k == 0 or address[q, k] != address[q, k - 1] or pes[k] != pes[k - 1] + 1:
                if s > starts[q]:
                    segments[s - 1, 1] = pes[k - 1] + 1 - lo
                segments[s, 0] = pes[k] - lo
                segments[s, 2] = address[q, k]
                s += 1
        segments[s - 1, 1] = pes[lanes - 1] + 1 - lo
    starts[updates] = s
    return segments, starts


@njit(cache=True, nogil=True)
def _gather_block(sram: np.ndarray, out: np.ndarray, segments: np.ndarray, starts: np.ndarray, lo: int, c0: int,
                  c1: int, rows: int, gaps: np.ndarray) -> None:
    """out[q, i, c - c0] = sram[address + i, lo + c] for the PEs lo + c, c0 <= c < c1, of each run of update q
    (`_segments`) and i < rows; zeros for the PEs between the lanes (`gaps`: theirs in the block, from lo), not
    stale scratch: a subnormal would slow the whole vector down.

    Each row is copied whole from the address most of the block's PEs read, then the other runs' words and the
    gaps' zeros written over it, by unsigned indices (a signed index is checked for wrapping around at every
    word: a loop LLVM does not vectorise). A SUMMA block's rows have a PE or a row of PEs of another address
    each: a row segment per run (a view per run and row, as before) took 15-20% longer."""
    width = c1 - c0
    for q in range(len(starts) - 1):
        major, most = -1, 0  # (the run covering most of the block)
        for s in range(starts[q], starts[q + 1]):
            covered = min(segments[s, 1], c1) - max(segments[s, 0], c0)
            if covered > most:
                major, most = s, covered
        if major < 0:  # (no lane in the block)
            for i in range(rows):
                row = out[q, i]
                for c in range(width):
                    row[c] = 0.0
            continue
        base = segments[major, 2]
        first = np.uint64(lo + c0)
        for i in range(rows):
            for c in range(lo + c0, lo + c1, LINE):  # (`AHEAD_ROWS`; past SRAM's last row: a hint, never a fault)
                prefetch(sram, (base + i + AHEAD_ROWS, c))
            # (slices, then a plain loop: indexing the 2-D rows themselves is 15x slower, measured)
            into, source = out[q, i], sram[base + i]
            for c in range(np.uint64(width)):
                into[c] = source[first + c]
        for s in range(starts[q], starts[q + 1]):
            s0, s1 = max(segments[s, 0], c0), min(segments[s, 1], c1)
            if s0 >= s1 or segments[s, 2] == base:
                continue
            address, to, start = segments[s, 2], np.uint64(s0 - c0), np.uint64(lo + s0)
            for i in range(rows):
                into, source = out[q, i], sram[address + i]
                for c in range(np.uint64(s1 - s0)):
                    into[to + c] = source[start + c]
        if len(gaps):
            for i in range(rows):
                row = out[q, i]
                for g in range(len(gaps)):
                    row[np.uint64(gaps[g] - c0)] = 0.0


@njit(cache=True, nogil=True)
def _rank1_updates_lanes(sram: np.ndarray, pes: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray,
                         m: int, n: int) -> None:
    """`rank1_updates_float32` lane by lane (scattered lanes, or destinations that differ)."""
    updates, lanes = a.shape
    for k in range(lanes):
        pe = pes[k]
        for i in range(m):
            for j in range(n):
                word = d[k] + i * n + j
                total = sram[word, pe]
                for q in range(updates):
                    total += sram[a[q, k] + i, pe] * sram[b[q, k] + j, pe]
                sram[word, pe] = total


#: `rank1_operands` statuses: the operands read and inside SRAM; the lanes' shapes differ or one is empty; a span
#: leaves SRAM.
OPERANDS_READ, SHAPES_DIFFER, OUTSIDE = 0, 1, 2


@njit(cache=True, nogil=True)
def rank1_operands(regs: np.ndarray, pes: np.ndarray, fd: int, fa: int, fb: int, fc: int, size: int,
                   out: np.ndarray, queued: np.ndarray) -> tuple[int, int, int, bool, bool]:
    """A float32 `vger`'s operands over the lanes `pes` (`DescriptorMixin._rank1_update_compiled`'s checks in
    one pass): out[0..2] = the d, a, b registers per lane (as int64). Returns (status, M, N, disjoint, same):
    M x N from the c register when every lane has the same one and neither is zero (else SHAPES_DIFFER),
    OUTSIDE where a lane's span leaves [0, size), whether no lane's x or y overlaps its destination, and
    whether every lane's destination is its entry of `queued` (a `Rank1Queue`'s; False where that is empty).

    A run of consecutive PEs at a time (a block's rows: a whole group is one or two), its registers read as row
    slices by unsigned indices and its checks and-ed without branches: loops LLVM vectorises (a `vger` of the
    library GEMM over 4,096 lanes 18 -> 7.5 us, some 1,500 a launch). Which lane fails a check is never needed:
    the status is the same."""
    lanes = len(pes)
    if lanes == 0:
        return SHAPES_DIFFER, 0, 0, False, False
    runs = lane_runs(pes)
    shape = regs[fc, pes[0]]
    shapes = regs[fc]
    agree = True
    for r in range(len(runs) - 1):
        first, count = np.uint64(pes[runs[r]]), np.uint64(runs[r + 1] - runs[r])
        for t in range(count):
            agree = agree & (shapes[first + t] == shape)
    if not agree:
        return SHAPES_DIFFER, 0, 0, False, False
    word = np.int64(shape) & 0xFFFFFFFF
    m, n = word >> 16, word & 0xFFFF
    if m == 0 or n == 0:
        return SHAPES_DIFFER, 0, 0, False, False
    inside = disjoint = True
    same = compare = len(queued) == lanes
    rd, ra, rb = regs[fd], regs[fa], regs[fb]
    od, oa, ob = out[0], out[1], out[2]
    for r in range(len(runs) - 1):
        lane, first, count = np.uint64(runs[r]), np.uint64(pes[runs[r]]), np.uint64(runs[r + 1] - runs[r])
        for t in range(count):
            d, a, b = np.int64(rd[first + t]), np.int64(ra[first + t]), np.int64(rb[first + t])
            od[lane + t], oa[lane + t], ob[lane + t] = d, a, b
            end = d + m * n
            inside = inside & (d >= 0) & (end <= size) & (a >= 0) & (a + m <= size) & (b >= 0) & (b + n <= size)
            disjoint = disjoint & ((a + m <= d) | (a >= end)) & ((b + n <= d) | (b >= end))
            if compare:
                same = same & (d == queued[lane + t])
    if not inside:
        return OUTSIDE, 0, 0, False, False
    return OPERANDS_READ, m, n, disjoint, same
