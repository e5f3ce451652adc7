"""Workloads written as a user would write them (from docs/programming-model.md and docs/python-supported.md),
beyond issue 9's table: kernel classes the library's kernels do not cover, to find an engine path that is
still slow. Registered into bench/workloads.py's table (`--only escape,lcs,...`):

- `escape`: Burning Ship escape time, one pixel per PE: a data-dependent `while` loop, every PE's trip
  count its own (neighbouring PEs diverge, unlike the classic Mandelbrot's tile per PE);
- `lcs`: longest common subsequence, one DP cell per PE, a wavefront: each PE waits for its west and north
  neighbours' values (the diagonal comes from the west PE), for several string pairs in a pipeline;
- `ragged`: each PE sends its east neighbour a data-dependent number of words (0 to 7), scalar by scalar,
  and sums what it receives;
- `isort`: insertion sort of a 32-element local array of random floats per PE (inner `while` loops of
  data-dependent trip counts);
- `pipeline`: a 1-D pipeline along each row: vector messages of odd lengths (one longer than a FIFO),
  each PE applying its own affine map to the words before passing them east;
- `mixed16`: float16 arithmetic, float32 accumulation of float16 products (`vwfma`), conversions both ways
  and scalar reads and writes of float16 elements;
- `msort`: a merge-split (block odd-even transposition) sort along each row of PEs, `keys` floats a PE: local
  insertion sorts, then vector swaps with a neighbour and merges whose every step branches on the data.

Every kernel rounds as its NumPy version does, so results must match bit for bit.
"""
from __future__ import annotations

import functools

import numpy as np

import wafersim as ws
from wafersim.sim.stats import LaunchStats
from workload_registry import Case, wafer, workload

F = np.float32
H = np.float16


def launch(kernel, width: int, height: int, device: ws.Device | None, out_shape: tuple[int, ...], out_dtype,
           *inputs: np.ndarray, scalars: tuple = ()) -> tuple[np.ndarray, LaunchStats]:
    """One launch of `kernel` on a single width x height block: the inputs copied in, `out` copied back."""
    device = device or ws.Device(ws.WaferSpec(width=width, height=height))
    d_out = device.device_array(out_shape, out_dtype)
    stats = kernel[(1, 1), (width, height)](*(device.to_device(a) for a in inputs), d_out, *scalars)
    return d_out.copy_to_host(), stats


# ----------------------------------------------------------------------------- escape time
@ws.jit
def burning_ship(cr, ci, counts, max_iter):
    """Pixel (y, x) = PE (x, y): iterations of z <- (|Re z| + i |Im z|)^2 + c until |z|^2 > 4."""
    x, y = ws.grid(2)
    c_re = cr[x]
    c_im = ci[y]
    zr = 0.0
    zi = 0.0
    n = 0
    while n < max_iter and zr * zr + zi * zi <= 4.0:
        t = abs(zr * zi)
        zr = (zr * zr - zi * zi) + c_re
        zi = (t + t) + c_im
        n += 1
    counts[y, x] = n


def numpy_burning_ship(cr: np.ndarray, ci: np.ndarray, max_iter: int) -> np.ndarray:
    c_re, c_im = np.broadcast_arrays(cr[None, :], ci[:, None])
    zr, zi = np.zeros(c_re.shape, F), np.zeros(c_re.shape, F)
    counts = np.zeros(c_re.shape, np.int32)
    live = np.ones(c_re.shape, bool)
    for _ in range(max_iter):
        live &= zr * zr + zi * zi <= F(4)
        if not live.any():
            break
        t = np.abs(zr * zi)
        zr, zi = np.where(live, (zr * zr - zi * zi) + c_re, zr), np.where(live, (t + t) + c_im, zi)
        counts += live
    return counts


@workload("escape")
def escape_case(size: str, rng: np.random.Generator) -> Case:
    width, height, device = wafer(size)
    max_iter = 10 if size == "tiny" else 64
    cr = np.linspace(-2.2, 1.3, width).astype(F)
    ci = np.linspace(-2.0, 0.8, height).astype(F)
    return Case(f"Burning Ship escape time, one pixel per PE, {width} x {height} PEs, <= {max_iter} iterations",
                width * height,
                lambda: launch(burning_ship, width, height, device(), (height, width), np.int32, cr, ci,
                               scalars=(max_iter,)),
                lambda: numpy_burning_ship(cr, ci, max_iter))


# ----------------------------------------------------------------------------- wavefront
@functools.lru_cache(maxsize=None)
def lcs_kernel(pairs: int):
    """LCS tables of `pairs` string pairs, one cell per PE: a[:, y] against b[:, x]."""
    @ws.jit
    def lcs_wavefront(a, b, out):
        x, y = ws.grid(2)
        mine_a = ws.local.array(pairs, np.int32)
        mine_b = ws.local.array(pairs, np.int32)
        cells = ws.local.array(pairs, np.int32)
        mine_a[0:pairs] = a[y, 0:pairs]
        mine_b[0:pairs] = b[x, 0:pairs]
        for r in range(pairs):
            north = 0
            west = 0
            diagonal = 0
            if ws.has_neighbor(ws.NORTH):
                north = ws.recv(ws.NORTH, dtype=np.int32)
            if ws.has_neighbor(ws.WEST):
                west = ws.recv(ws.WEST, dtype=np.int32)
                diagonal = ws.recv(ws.WEST, dtype=np.int32)
            if mine_a[r] == mine_b[r]:
                cell = diagonal + 1
            else:
                cell = max(north, west)
            if ws.has_neighbor(ws.EAST):
                ws.send(ws.EAST, cell)
                ws.send(ws.EAST, north)  # the east PE's diagonal
            if ws.has_neighbor(ws.SOUTH):
                ws.send(ws.SOUTH, cell)
            cells[r] = cell
        out[y * ws.blockDim.x + x, 0:pairs] = cells[0:pairs]

    return lcs_wavefront


def numpy_lcs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The LCS tables along anti-diagonals, all pairs at once: (height * width, pairs)."""
    height, width, pairs = a.shape[0], b.shape[0], a.shape[1]
    table = np.zeros((height + 1, width + 1, pairs), np.int32)  # a border of zeros north and west
    for d in range(height + width - 1):
        y = np.arange(max(0, d - width + 1), min(d, height - 1) + 1)
        x = d - y
        match = a[y] == b[x]
        table[y + 1, x + 1] = np.where(match, table[y, x] + 1, np.maximum(table[y, x + 1], table[y + 1, x]))
    return table[1:, 1:].reshape(height * width, pairs)


@workload("lcs")
def lcs_case(size: str, rng: np.random.Generator) -> Case:
    width, height, pairs = {"full": (256, 256, 16), "quick": (96, 64, 8), "tiny": (8, 6, 3)}[size]
    a = rng.integers(0, 4, (height, pairs), dtype=np.int32)  # an alphabet of 4 letters: ACGT
    b = rng.integers(0, 4, (width, pairs), dtype=np.int32)
    return Case(f"LCS wavefront, one cell per PE, {width} x {height} PEs, {pairs} string pairs", width * height,
                lambda: launch(lcs_kernel(pairs), width, height, None, (width * height, pairs), np.int32, a, b),
                lambda: numpy_lcs(a, b))


# ----------------------------------------------------------------------------- ragged messages
MAX_WORDS = 8  # a PE sends 0 .. MAX_WORDS - 1 words a round, plus their count: never more than a FIFO holds


@functools.lru_cache(maxsize=None)
def ragged_kernel(rounds: int):
    """Each round, PE (x, y) sends its east neighbour counts[me, r] words (values[me, r] * 1, * 2, ...),
    preceded by their count; each PE sums, in order, every word it receives from the west."""
    @ws.jit
    def ragged(counts, values, out):
        x, y = ws.grid(2)
        me = y * ws.blockDim.x + x
        sends = ws.local.array(rounds, np.int32)
        base = ws.local.array(rounds, np.float32)
        sends[0:rounds] = counts[me, 0:rounds]
        base[0:rounds] = values[me, 0:rounds]
        total = 0.0
        for r in range(rounds):
            if ws.has_neighbor(ws.EAST):
                n = sends[r]
                ws.send(ws.EAST, n)
                v = base[r]
                for k in range(n):
                    ws.send(ws.EAST, v * (k + 1))
            if ws.has_neighbor(ws.WEST):
                m = ws.recv(ws.WEST, dtype=np.int32)
                for k in range(m):
                    total += ws.recv(ws.WEST, dtype=np.float32)
        out[y, x] = total

    return ragged


def numpy_ragged(counts: np.ndarray, values: np.ndarray, width: int, height: int) -> np.ndarray:
    rounds = counts.shape[1]
    sent_n, sent_v = counts.reshape(height, width, rounds)[:, :-1], values.reshape(height, width, rounds)[:, :-1]
    total = np.zeros((height, width), F)
    for r in range(rounds):
        for k in range(MAX_WORDS):  # adding 0.0 to a non-negative sum leaves it as it is
            total[:, 1:] += np.where(k < sent_n[:, :, r], sent_v[:, :, r] * F(k + 1), F(0))
    return total


@workload("ragged")
def ragged_case(size: str, rng: np.random.Generator) -> Case:
    width, height, device = wafer(size)
    rounds = 3 if size == "tiny" else 4
    counts = rng.integers(0, MAX_WORDS, (width * height, rounds), dtype=np.int32)
    values = rng.random((width * height, rounds), dtype=np.float32)
    return Case(f"ragged messages: 0-{MAX_WORDS - 1} words east per PE and round, {width} x {height} PEs, "
                f"{rounds} rounds", width * height,
                lambda: launch(ragged_kernel(rounds), width, height, device(), (height, width), np.float32,
                               counts, values),
                lambda: numpy_ragged(counts, values, width, height))


# ----------------------------------------------------------------------------- insertion sort
SORT_N = 32


@ws.jit
def insertion_sort(data, out):
    x, y = ws.grid(2)
    me = y * ws.blockDim.x + x
    buf = ws.local.array(SORT_N, np.float32)
    buf[0:SORT_N] = data[me, 0:SORT_N]
    for i in range(1, SORT_N):
        key = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > key:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = key
    out[me, 0:SORT_N] = buf[0:SORT_N]


@workload("isort")
def isort_case(size: str, rng: np.random.Generator) -> Case:
    width, height = {"full": (128, 128), "quick": (64, 32), "tiny": (8, 4)}[size]
    data = rng.random((width * height, SORT_N), dtype=np.float32)
    return Case(f"insertion sort of {SORT_N} random floats per PE, {width} x {height} PEs", width * height,
                lambda: launch(insertion_sort, width, height, None, data.shape, np.float32, data),
                lambda: np.sort(data, axis=1))


# ----------------------------------------------------------------------------- row pipeline
LENGTHS = (5, 13, 37, 3, 21, 9, 1, 17)  # odd message lengths, one of them longer than a FIFO (16 words)
OFFSETS = tuple(sum(LENGTHS[:i]) for i in range(len(LENGTHS)))
ROUND_WORDS = sum(LENGTHS)
LONGEST = max(LENGTHS)


@functools.lru_cache(maxsize=None)
def pipeline_kernel(rounds: int):
    """Row y's words flow from PE (0, y) east in messages of LENGTHS; PE x maps each word w to
    w * scale[y, x] + shift[y, x] before passing it on; the east-most PE stores them."""
    @ws.jit
    def pipeline(words, scale, shift, out):
        x, y = ws.grid(2)
        buf = ws.local.array(LONGEST, np.float32)
        a = scale[y, x]
        b = shift[y, x]
        for r in range(rounds):
            start = r * ROUND_WORDS
            for n, offset in zip(LENGTHS, OFFSETS):
                at = start + offset
                if ws.has_neighbor(ws.WEST):
                    ws.recv(ws.WEST, out=buf[0:n])
                else:
                    buf[0:n] = words[y, at:at + n]
                buf[0:n] = buf[0:n] * a + b
                if ws.has_neighbor(ws.EAST):
                    ws.send(ws.EAST, buf[0:n])
                else:
                    out[y, at:at + n] = buf[0:n]

    return pipeline


def numpy_pipeline(words: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    v = words.copy()
    for x in range(scale.shape[1]):
        v = v * scale[:, x:x + 1] + shift[:, x:x + 1]
    return v


@workload("pipeline")
def pipeline_case(size: str, rng: np.random.Generator) -> Case:
    width, height, device = wafer(size)
    rounds = 1 if size == "full" else 2
    words = rng.random((height, rounds * ROUND_WORDS), dtype=np.float32)
    scale = (0.5 + rng.random((height, width), dtype=np.float32)).astype(F)  # keeps the words near 1
    shift = (rng.random((height, width), dtype=np.float32) - F(0.5)).astype(F)
    return Case(f"row pipeline, messages of {len(LENGTHS)} odd lengths (1-37 words), {width} x {height} PEs, "
                f"{rounds} round(s)", width * height,
                lambda: launch(pipeline_kernel(rounds), width, height, device(), words.shape, np.float32,
                               words, scale, shift),
                lambda: numpy_pipeline(words, scale, shift))


# ----------------------------------------------------------------------------- float16 with float32
MIXED_N = 32


@functools.lru_cache(maxsize=None)
def mixed_kernel(steps: int):
    """Per PE: a float32 accumulator of float16 products, rounded back to float16 each step; float16
    arithmetic; a float32 sum of some float16 elements written back into one float16 element."""
    @ws.jit
    def mixed16(xs_in, ys_in, out):
        x, y = ws.grid(2)
        me = y * ws.blockDim.x + x
        xs = ws.local.array(MIXED_N, np.float16)
        ys = ws.local.array(MIXED_N, np.float16)
        acc = ws.local.array(MIXED_N, np.float32)
        xs[0:MIXED_N] = xs_in[me, 0:MIXED_N]
        ys[0:MIXED_N] = ys_in[me, 0:MIXED_N]
        acc[0:MIXED_N] = 0.0
        for k in range(steps):
            acc[0:MIXED_N] = acc[0:MIXED_N] * 0.25  # with |ys| <= 1: |acc| stays under 4
            acc[0:MIXED_N] += xs[0:MIXED_N] * ys[0:MIXED_N]    # float32 accumulation (vwfma)
            xs[0:MIXED_N] = acc[0:MIXED_N]                     # rounded to float16
            xs[0:MIXED_N] = xs[0:MIXED_N] * 0.5 - ys[0:MIXED_N]  # float16 arithmetic
            t = 0.0
            for i in range(0, MIXED_N, 4):
                t += xs[i]                                     # float16 elements read as float32
            ys[k % MIXED_N] = min(max(t * 0.0625, -1.0), 1.0)  # a float32 rounded into a float16 element
        out[me, 0:MIXED_N] = acc[0:MIXED_N]

    return mixed16


def numpy_mixed(xs: np.ndarray, ys: np.ndarray, steps: int) -> np.ndarray:
    xs, ys = xs.copy(), ys.copy()
    acc = np.zeros(xs.shape, F)
    for k in range(steps):
        acc = acc * F(0.25)
        acc = acc + xs.astype(F) * ys.astype(F)
        xs = acc.astype(H)
        xs = xs * H(0.5) - ys
        t = np.zeros(xs.shape[0], F)
        for i in range(0, MIXED_N, 4):
            t = t + xs[:, i].astype(F)
        ys[:, k % MIXED_N] = np.minimum(np.maximum(t * F(0.0625), F(-1)), F(1)).astype(H)
    return acc


@workload("mixed16")
def mixed_case(size: str, rng: np.random.Generator) -> Case:
    width, height = {"full": (256, 256), "quick": (96, 64), "tiny": (8, 4)}[size]
    steps = 4 if size == "tiny" else 32
    xs = (rng.random((width * height, MIXED_N), dtype=np.float32) * F(2) - F(1)).astype(H)
    ys = (rng.random((width * height, MIXED_N), dtype=np.float32) * F(2) - F(1)).astype(H)
    return Case(f"float16 and float32 mixed, {MIXED_N} values per PE, {width} x {height} PEs, {steps} steps",
                width * height,
                lambda: launch(mixed_kernel(steps), width, height, None, xs.shape, np.float32, xs, ys),
                lambda: numpy_mixed(xs, ys, steps))


# ----------------------------------------------------------------------------- merge-split sort
@functools.lru_cache(maxsize=None)
def merge_split_kernel(keys: int):
    """Each row of PEs sorts its keys * width floats: every PE insertion-sorts its `keys`, then width phases
    of odd-even transposition in which pair (x, x + 1) swaps blocks (the left one sends first) and merges,
    the left keeping the smaller half, the right the larger (data-dependent branches in every merge step)."""
    @ws.jit
    def merge_split(data, out):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        p = ws.blockDim.x
        me = y * p + x
        mine = ws.local.array(keys, np.float32)
        theirs = ws.local.array(keys, np.float32)
        merged = ws.local.array(keys, np.float32)
        mine[0:keys] = data[me, 0:keys]
        for i in range(1, keys):
            v = mine[i]
            j = i - 1
            while j >= 0 and mine[j] > v:
                mine[j + 1] = mine[j]
                j -= 1
            mine[j + 1] = v
        for phase in range(p):
            if (x + phase) % 2 == 0:
                if x + 1 < p:
                    ws.send(ws.EAST, mine[0:keys])
                    ws.recv(ws.EAST, out=theirs[0:keys])
                    i = 0
                    j = 0
                    for t in range(keys):
                        if mine[i] <= theirs[j]:
                            merged[t] = mine[i]
                            i += 1
                        else:
                            merged[t] = theirs[j]
                            j += 1
                    mine[0:keys] = merged[0:keys]
            elif x >= 1:
                ws.recv(ws.WEST, out=theirs[0:keys])
                ws.send(ws.WEST, mine[0:keys])
                i = keys - 1
                j = keys - 1
                for s in range(keys):
                    t = keys - 1 - s
                    if mine[i] >= theirs[j]:
                        merged[t] = mine[i]
                        i -= 1
                    else:
                        merged[t] = theirs[j]
                        j -= 1
                mine[0:keys] = merged[0:keys]
        out[me, 0:keys] = mine[0:keys]

    return merge_split


@workload("msort")
def msort_case(size: str, rng: np.random.Generator) -> Case:
    width, height, keys = {"full": (32, 32, 64), "quick": (16, 16, 32), "tiny": (6, 3, 8)}[size]
    data = rng.standard_normal((height, width * keys)).astype(np.float32)   # a row of PEs sorts a row
    return Case(f"merge-split odd-even sort, {keys} floats per PE, rows of {width} PEs, {width} x {height} PEs",
                width * height,
                lambda: launch(merge_split_kernel(keys), width, height, None, (width * height, keys), np.float32,
                               data.reshape(width * height, keys)),
                lambda: np.sort(data, axis=1).reshape(width * height, keys))
