"""1-D and 2-D fast Fourier transforms of complex float32 data on a row of PEs: `fft` (a batch of rows),
`fft2` and `fft_long` (one long vector, by the four-step method over the same machinery as `fft2`).

Complex numbers travel as pairs of float32: each PE's data is two planes of float32 words, the real parts
and then the imaginary parts (split, or "planar", complex), because vector instructions work on one
float32 per element.

**Layout.** The rows of the input are spread over a row of P PEs (a P x 1 block): PE x holds the R rows
x*R .. x*R + R - 1, stored *element-major*: word e*R + b of a plane is element e of the PE's row b. A slice
of consecutive elements then covers all R rows at once, so every vector instruction works on all of a
PE's rows together.

**Local FFT** (`fft_stages`): the radix-2 Stockham autosort FFT in its decimation-in-time form
(C. Van Loan, *Computational Frameworks for the Fast Fourier Transform*, SIAM 1992, algorithm 1.7.2):
stage q (L = 2**q, r = N / L) combines, for each j < L/2 with twiddle w = exp(-2 pi i j / L),

    out[j*r : j*r + r]          = y[2jr : 2jr + r] + w * y[2jr + r : 2jr + 2r]
    out[j*r + N/2 : ... + r]    = y[2jr : 2jr + r] - w * y[2jr + r : 2jr + 2r]

Input and output are in natural order (no bit reversal), every operand is a contiguous slice of r*R
words, and w is one scalar per j, so a butterfly group is 8 vector instructions (4 for j = 0, w = 1).
Stages alternate between two buffers. Twiddles are computed on the host in float64 and rounded to float32.

**2-D FFT** (`fft2`): the rows are transformed where they lie, then the matrix is transposed through the
fabric, then the rows of the transpose (the columns) are transformed. In the transpose PE x sends the
R1 x R2 block of its rows that falls in PE d's columns to PE d, forwarded hop by hop along the row:
first everything eastwards (PE x's stream east is, for each destination d > x, the blocks of sources
0..x, in that order, so each PE keeps the first blocks it receives and forwards the rest), then
westwards the same way. Each direction is a one-way pipeline, so nothing can deadlock. A block arrives
in the sender's element-major order, straight into its place; once all have arrived, each is transposed
in place (through a staging buffer) with scalar loads and stores. The
result stays transposed on the mesh (PE x holds columns x*R2 ...); the host puts it back in order.
"""
from __future__ import annotations

import functools

import numpy as np

from ...arch.values import plural, whole_argument
from ...compiler import intrinsics as ws
from ...errors import ArgumentError, ArgumentTypeError, call_checked
from ...runtime.device import Device
from ...runtime.jit import Dispatcher, jit
from ...sim.stats import LaunchStats
from ..hosting import Scratch, check_objects, float32_input
from .common import check_fits_sram, is_power_of_two, line_device


@jit
def butterfly_group(sre, sim, dre, dim, a0, b0, o1, o2, n, wr, wi):
    """dst[o1:o1+n] = y[a0:] + w * y[b0:], dst[o2:o2+n] = y[a0:] - w * y[b0:] (complex, planar; inlined).

    w * y[b0:] is formed in the second output's place first, so no temporary is needed."""
    nwi = -wi
    dre[o2:o2 + n] = sre[b0:b0 + n] * wr
    dre[o2:o2 + n] = sim[b0:b0 + n] * nwi + dre[o2:o2 + n]
    dim[o2:o2 + n] = sre[b0:b0 + n] * wi
    dim[o2:o2 + n] = sim[b0:b0 + n] * wr + dim[o2:o2 + n]
    dre[o1:o1 + n] = sre[a0:a0 + n] + dre[o2:o2 + n]
    dim[o1:o1 + n] = sim[a0:a0 + n] + dim[o2:o2 + n]
    dre[o2:o2 + n] = sre[a0:a0 + n] - dre[o2:o2 + n]
    dim[o2:o2 + n] = sim[a0:a0 + n] - dim[o2:o2 + n]


@jit
def stockham_stage(sre, sim, dre, dim, tw, tre, tim, r, lh, half, rows):
    """One radix-2 Stockham stage over element-major data of `rows` rows (inlined): `lh` groups of
    r*rows-word butterflies; the twiddle of group j is entry j*r of the tables at `tre` / `tim` in `tw`."""
    n = r * rows
    # j = 0: w = 1, no multiply.
    dre[0:n] = sre[0:n] + sre[n:n + n]
    dim[0:n] = sim[0:n] + sim[n:n + n]
    dre[half:half + n] = sre[0:n] - sre[n:n + n]
    dim[half:half + n] = sim[0:n] - sim[n:n + n]
    for j in range(1, lh):
        a0 = 2 * j * n
        butterfly_group(sre, sim, dre, dim, a0, a0 + n, j * n, j * n + half, n, tw[tre + j * r], tw[tim + j * r])


@jit
def fft_phase(are, aim, bre, bim, tw, tre, tim, length, stages, half, rows):
    """All `stages` (= log2 `length`, a constant) stages of an FFT of element-major data starting in A
    (inlined). Stages run in pairs, A -> B -> A, in a run-time loop (with every stage unrolled, the 2-D
    kernel for 64 x 64 points took the compiler 26 s); the result is in A when `stages` is even, else in B."""
    r = length // 2
    lh = 1
    for _ in range(stages // 2):
        stockham_stage(are, aim, bre, bim, tw, tre, tim, r, lh, half, rows)
        stockham_stage(bre, bim, are, aim, tw, tre, tim, r >> 1, lh * 2, half, rows)
        r = r >> 2  # r is a positive power of two: shifts, not the floor division's sign fix-ups
        lh = lh * 4
    if stages % 2 == 1:  # folded at compile time
        stockham_stage(are, aim, bre, bim, tw, tre, tim, r, lh, half, rows)


def stage_plan(length: int) -> tuple[tuple[int, int], ...]:
    """(r, L/2) of every stage of a radix-2 Stockham FFT of `length` points."""
    plan, r, lh = [], length // 2, 1
    while r >= 1:
        plan.append((r, lh))
        r, lh = r // 2, lh * 2
    return tuple(plan)


def twiddles(length: int) -> np.ndarray:
    """[cos, sin] of -2 pi k / length for k < length / 2, computed in float64, as float32 (length words)."""
    angle = -2.0 * np.pi * np.arange(length // 2) / length
    return np.concatenate([np.cos(angle), np.sin(angle)]).astype(np.float32)


@functools.lru_cache(maxsize=None)
def fft_kernel(rows: int, length: int, p: int, columns: int = 0, twiddled: bool = False) -> Dispatcher:
    """The FFT kernel for a row of `p` PEs holding `rows` rows of `length` points each (compile-time sizes).

    `columns` = 0: a batch of 1-D FFTs along the rows. `columns` > 0: the 2-D FFT of a (p*rows, length)
    matrix, with the transpose through the fabric; each PE ends with `columns` (= length / p) columns of
    p*rows points. `twiddled`: between the two, multiply by the twiddle planes that follow the data in
    `packed` (the four-step 1-D FFT). Launch ``kernel[(1, 1), (p, 1)](packed, tw, out)``: `packed` is
    (p, 2 or 4 planes of rows*length words), `tw` the twiddle tables, `out` (p, 2 planes)."""
    R1, N1 = rows, length
    SZ = R1 * N1  # words of one plane on a PE (the same before and after the transpose)
    S1, H1 = len(stage_plan(N1)), SZ // 2
    T1RE, T1IM = 0, N1 // 2
    TWO_D = columns > 0
    R2 = max(columns, 1)
    N2 = SZ // R2 if TWO_D else 2  # the column length p*rows
    S2, H2 = len(stage_plan(N2)), SZ // 2
    T2RE, T2IM = N1, N1 + N2 // 2
    TW = N1 + (N2 if TWO_D else 0)
    B = R1 * R2  # words of one plane of a transposed block
    P = p
    TWIDDLED = twiddled

    @jit
    def twiddle_multiply(pre, pim, qre, qim, wre, wim):
        """P *= W elementwise (complex), with Q as scratch: 6 vector instructions over each plane."""
        qre[0:SZ] = pim[0:SZ] * wim[0:SZ]
        qim[0:SZ] = pim[0:SZ] * wre[0:SZ]
        pim[0:SZ] = pre[0:SZ] * wim[0:SZ]
        pim[0:SZ] = pim[0:SZ] + qim[0:SZ]
        pre[0:SZ] = pre[0:SZ] * wre[0:SZ]
        pre[0:SZ] = pre[0:SZ] - qre[0:SZ]

    @jit
    def place_block(bre, bim, qre, qim, src, dst):
        """Transpose block words [src, src + B) (order: column c, row b) into [dst, dst + B) (row b, column c)."""
        for c in range(R2):
            for b in range(R1):
                qre[dst + b * R2 + c] = bre[src + c * R1 + b]
                qim[dst + b * R2 + c] = bim[src + c * R1 + b]

    @jit
    def transpose(pre, pim, qre, qim, bre, bim, x):
        """The all-to-all of the 2-D FFT along the row of PEs: P's blocks into Q, transposed. Blocks for this
        PE are received straight into their places in Q and transposed there only once every message has
        passed, so that no PE holds up the pipeline of forwarded blocks while it transposes."""
        # Eastwards: keep the blocks of sources 0..x-1, forward those for PEs further east after them.
        if ws.has_neighbor(ws.WEST):
            for s in range(x):
                ws.recv(ws.WEST, out=qre[s * B:s * B + B])
                ws.recv(ws.WEST, out=qim[s * B:s * B + B])
        for d in range(x + 1, P):
            for s in range(x):
                ws.recv(ws.WEST, out=bre[0:B])
                ws.recv(ws.WEST, out=bim[0:B])
                ws.send(ws.EAST, bre[0:B])
                ws.send(ws.EAST, bim[0:B])
            ws.send(ws.EAST, pre[d * B:d * B + B])
            ws.send(ws.EAST, pim[d * B:d * B + B])
        # Westwards, the mirror image: sources x+1..P-1, own block first in each destination's group.
        if ws.has_neighbor(ws.EAST):
            for s in range(x + 1, P):
                ws.recv(ws.EAST, out=qre[s * B:s * B + B])
                ws.recv(ws.EAST, out=qim[s * B:s * B + B])
        for d in range(x - 1, -1, -1):
            ws.send(ws.WEST, pre[d * B:d * B + B])
            ws.send(ws.WEST, pim[d * B:d * B + B])
            for s in range(x + 1, P):
                ws.recv(ws.EAST, out=bre[0:B])
                ws.recv(ws.EAST, out=bim[0:B])
                ws.send(ws.WEST, bre[0:B])
                ws.send(ws.WEST, bim[0:B])
        # Transpose each block into place: this PE's own from P, the received ones through the staging buffer.
        for s in range(P):
            if s == x:
                place_block(pre, pim, qre, qim, x * B, x * B)
            else:
                bre[0:B] = qre[s * B:s * B + B]
                bim[0:B] = qim[s * B:s * B + B]
                place_block(bre, bim, qre, qim, 0, s * B)

    @jit(boundscheck=False)  # every index is a compile-time plan; tests check the results against numpy.fft
    def fft_rows(packed, tw_in, out):
        x = ws.threadIdx.x
        are = ws.local.array(SZ, np.float32)
        aim = ws.local.array(SZ, np.float32)
        bre = ws.local.array(SZ, np.float32)
        bim = ws.local.array(SZ, np.float32)
        tw = ws.local.array(TW, np.float32)
        are[0:SZ] = packed[x, 0:SZ]  # one bulk copy per plane
        aim[0:SZ] = packed[x, SZ:SZ + SZ]
        tw[0:TW] = tw_in[0:TW]
        if TWIDDLED:  # folded at compile time
            wre = ws.local.array(SZ, np.float32)
            wim = ws.local.array(SZ, np.float32)
            wre[0:SZ] = packed[x, 2 * SZ:3 * SZ]
            wim[0:SZ] = packed[x, 3 * SZ:4 * SZ]
        sre, sim, dre, dim = are, aim, bre, bim  # the buffer holding the data, and the other one
        fft_phase(sre, sim, dre, dim, tw, T1RE, T1IM, N1, S1, H1, R1)
        if S1 % 2 == 1:  # folded at compile time: the result is in the second buffer
            sre, sim, dre, dim = dre, dim, sre, sim
        if TWIDDLED:
            twiddle_multiply(sre, sim, dre, dim, wre, wim)
        if TWO_D:  # folded at compile time
            blk_re = ws.local.array(B, np.float32)
            blk_im = ws.local.array(B, np.float32)
            transpose(sre, sim, dre, dim, blk_re, blk_im, x)
            sre, sim, dre, dim = dre, dim, sre, sim
            fft_phase(sre, sim, dre, dim, tw, T2RE, T2IM, N2, S2, H2, R2)
            if S2 % 2 == 1:
                sre, sim, dre, dim = dre, dim, sre, sim
        out[x, 0:SZ] = sre[0:SZ]
        out[x, SZ:SZ + SZ] = sim[0:SZ]

    return fft_rows


def fft_flops(length: int, transforms: int) -> int:
    """FLOPs the kernel counts for `transforms` FFTs of `length` points: per stage and point pair, a
    complex multiply-add of 10 real operations (8 vector instructions, two of them fmas), except the
    butterflies with w = 1 (j = 0), which are 4 additions. `length` is a power of two >= 2 (what `fft` takes)
    and `transforms` a whole number >= 0, else an `ArgumentError` (`ArgumentTypeError` for a non-integer):
    a count for a size the kernel refuses would be no count at all."""
    _check_length("fft_flops: length", whole_argument(length, "fft_flops: length", 2))
    transforms = whole_argument(transforms, "fft_flops: transforms", 0)
    total = 0
    for r, lh in stage_plan(length):
        total += (10 * (lh - 1) + 4) * r
    return total * transforms


def _as_complex(name: str, value: np.ndarray, ndim: tuple[int, ...]) -> np.ndarray:
    """`value` as complex64, its real and imaginary parts each converted by `float32_input`'s rule (so a
    finite value beyond float32's range is refused, not turned into inf; a string is not a number)."""
    array = np.asarray(value)
    if array.ndim not in ndim or array.size == 0:
        raise ArgumentError(f"{name} must be a non-empty array of {' or '.join(map(str, ndim))} dimensions, "
                            f"got shape {array.shape}", shape=array.shape)
    if array.dtype == object:  # (Python complex numbers among others: NumPy's complex conversion decides)
        check_objects(array, name, complex_ok=True)  # (else None became NaN, "1" was parsed, 2**40 rounded)
        try:
            array = array.astype(np.complex128)
        except (TypeError, ValueError) as exc:
            raise ArgumentTypeError(f"{name} cannot be converted to complex: {exc}") from None
    # (ml_dtypes' bfloat16 and 8-bit floats are kind "V" but numbers float32 holds exactly)
    if array.dtype.kind not in "biufc" and not np.can_cast(array.dtype, np.float32):
        raise ArgumentTypeError(f"{name} must hold numbers, got dtype {array.dtype}", dtype=str(array.dtype))
    out = np.empty(array.shape, np.complex64)
    if np.iscomplexobj(array):  # each part rounds to float32 alone, as astype(np.complex64) rounds it
        out.real, out.imag = float32_input(array.real, name), float32_input(array.imag, name)
    else:
        out.real, out.imag = float32_input(array, name), 0.0
    return out


def _check_length(what: str, n: int) -> None:
    """An `ArgumentError` unless `n` is a power of two >= 2 (`what` names it)."""
    if n < 2 or not is_power_of_two(n):
        raise ArgumentError(f"{what} = {n}: the radix-2 FFT needs a power of two >= 2", size=n)


def _element_major(rows: np.ndarray, p: int) -> np.ndarray:
    """(p*R, n) complex -> (p, 2*R*n) float32: PE x's rows element-major, real plane then imaginary plane."""
    total, n = rows.shape
    r = total // p
    planes = rows.reshape(p, r, n).transpose(0, 2, 1).reshape(p, n * r)
    return np.ascontiguousarray(np.concatenate([planes.real, planes.imag], axis=1), dtype=np.float32)


def _from_element_major(packed: np.ndarray, p: int, length: int) -> np.ndarray:
    """The inverse of `_element_major`: (p, 2*R*length) -> (p*R, length) complex64."""
    size = packed.shape[1] // 2
    # (parts assigned, not re + 1j * im: 1j * inf is nan + inf j, which turned a finite real part into NaN)
    planes = np.empty((packed.shape[0], size), np.complex64)
    planes.real, planes.imag = packed[:, :size], packed[:, size:]
    r = size // length
    return planes.reshape(p, length, r).transpose(0, 2, 1).reshape(p * r, length).astype(np.complex64)


def _run(packed: np.ndarray, plane_words: int, tw: np.ndarray, kernel: Dispatcher, p: int, device: Device,
         stream) -> tuple[np.ndarray, LaunchStats]:
    """Launch `kernel` on a row of p PEs; returns the (p, 2 * plane_words) result planes and the stats."""
    with Scratch(device, stream) as mem:
        d_in, d_tw, d_out = mem.put(packed), mem.put(tw), mem.empty((p, 2 * plane_words))
        stats = kernel[(1, 1), (p, 1), stream](d_in, d_tw, d_out)
        return mem.get(d_out), stats


#: What to write instead of NumPy's `fft` keywords (user54: `fft(x, n=8)` was Python's bare TypeError).
NUMPY_FFT_HINTS = {"n": "pad or cut x first: the transform is of x's own length, a power of two",
                   "axis": "the transform is along the last axis (a batch is rows)",
                   "norm": "the scaling is NumPy's default"}


@functools.partial(call_checked, hints=NUMPY_FFT_HINTS)
def fft(x: np.ndarray, p: int = 1, device: Device | None = None, stream=None) -> tuple[np.ndarray, LaunchStats]:
    """`numpy.fft.fft(x, axis=-1)` in complex64 for a length-n vector or a (batch, n) array of them.

    The rows are spread over a row of `p` PEs (p must divide the batch), each PE transforming its batch/p
    rows together; n must be a power of two. `device` defaults to a p x 1 wafer. Returns (the transform,
    complex64, shaped like x; LaunchStats)."""
    array = _as_complex("x", x, (1, 2))
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    batch, n = rows.shape
    _check_length("the transform length n", n)
    p, device = line_device("fft", p, device)
    if batch % p:
        raise ArgumentError(f"fft: p = {p} PEs must divide the batch of {batch} rows", size=batch)
    r = batch // p
    # (one row per PE is the least: "use more PEs" could not help, fft_long spreads one row over PEs)
    advice = "use more PEs" if r > 1 else "one row per PE is the least; fft_long spreads one long row over PEs"
    check_fits_sram(f"fft of {plural(r, 'row')} of {n} points per PE", 4 * r * n + n, device.spec, advice)
    out, stats = _run(_element_major(rows, p), r * n, twiddles(n), fft_kernel(r, n, p), p, device, stream)
    return _from_element_major(out, p, n).reshape(array.shape), stats


@call_checked
def fft2(a: np.ndarray, p: int, device: Device | None = None, stream=None) -> tuple[np.ndarray, LaunchStats]:
    """`numpy.fft.fft2(a)` in complex64 for an (m, n) array, m and n powers of two, on a row of `p` PEs.

    p must divide both m and n: PE x transforms rows x*m/p ..., the matrix is transposed through the fabric,
    and PE x transforms columns x*n/p .... `device` defaults to a p x 1 wafer. Returns (the transform,
    complex64; LaunchStats)."""
    array = _as_complex("a", a, (2,))
    m, n = array.shape
    _check_length("the number of rows m", m)
    _check_length("the number of columns n", n)
    p, device = line_device("fft2", p, device)
    if m % p or n % p:
        raise ArgumentError(f"fft2: p = {p} PEs must divide both sides of the {m} x {n} array", size=(m, n))
    r1, r2 = m // p, n // p
    check_fits_sram(f"fft2 of a {m} x {n} array over {p} PEs", 4 * m * n // p + 2 * r1 * r2 + n + m, device.spec)
    tw = np.concatenate([twiddles(n), twiddles(m)])
    out, stats = _run(_element_major(array, p), r1 * n, tw, fft_kernel(r1, n, p, r2), p, device, stream)
    return _from_element_major(out, p, m).T.copy(), stats


def fft_long_split(n: int) -> tuple[int, int]:
    """(n1, n2) with n = n1 * n2, n1 <= n2 and both powers of two as close as can be: the four-step shape.
    n is a power of two >= 4, as `fft_long` takes (6 gave (3, 2), no such shape): else an `ArgumentError`
    (`ArgumentTypeError` for a non-integer)."""
    return _long_split(n, "fft_long_split")


def _long_split(n: int, what: str) -> tuple[int, int]:
    n = whole_argument(n, f"{what}: n", 4)
    if not is_power_of_two(n):
        raise ArgumentError(f"{what}: n = {n} must be a power of two >= 4 (the four-step FFT splits it into two "
                            f"powers of two)", size=n)
    n2 = 1 << ((n.bit_length() - 1 + 1) // 2)
    return n // n2, n2


def fft_long_flops(n: int) -> int:
    """FLOPs the kernel counts for `fft_long` of n points: n2 FFTs of n1 points, 6 per point for the
    twiddles (a complex multiply: 4 multiplies, 2 additions), n1 FFTs of n2 points."""
    n1, n2 = _long_split(n, "fft_long_flops")  # (a power of two >= 4, as fft_long takes)
    return fft_flops(n1, n2) + 6 * n + fft_flops(n2, n1)


@functools.partial(call_checked, hints=NUMPY_FFT_HINTS)
def fft_long(x: np.ndarray, p: int, device: Device | None = None, stream=None) -> tuple[np.ndarray, LaunchStats]:
    """`numpy.fft.fft(x)` in complex64 for one vector of n points (a power of two >= 4) spread over a row of
    `p` PEs: the four-step FFT (D. H. Bailey, "FFTs in external or hierarchical memory", J. Supercomputing
    4, 1990). With n = n1 * n2 (`fft_long_split`), x is viewed as the n2 x n1 matrix M[j2, j1] =
    x[n2 * j1 + j2]; its rows are transformed, multiplied by exp(-2 pi i j2 k1 / n), transposed through
    the fabric and transformed again, exactly as `fft2` with the twiddles between, and X[k1 + n1 k2] is
    entry (k2, k1) of the result. p must divide n1. Returns (X as complex64, LaunchStats)."""
    array = _as_complex("x", x, (1,))
    n = array.shape[0]
    _check_length("the transform length n", n)
    if n < 4:
        raise ArgumentError(f"fft_long: n = {n} is too short to split in two (use fft)", size=n)
    n1, n2 = fft_long_split(n)
    p, device = line_device("fft_long", p, device)
    if n1 % p:
        raise ArgumentError(f"fft_long: p = {p} PEs must divide n1 = {n1} (n = {n} = {n1} x {n2})", size=n)
    r1, r2 = n2 // p, n1 // p
    check_fits_sram(f"fft_long of {n} points over {p} PEs", 6 * n // p + 2 * r1 * r2 + n1 + n2, device.spec)
    matrix = array.reshape(n1, n2).T  # M[j2, j1] = x[n2 * j1 + j2]
    j2, k1 = np.indices((n2, n1))
    twiddle = np.exp(-2j * np.pi * ((j2 * k1) % n) / n)  # exact products mod n, then float64 angles
    packed = np.concatenate([_element_major(matrix, p), _element_major(twiddle, p)], axis=1)
    tw = np.concatenate([twiddles(n1), twiddles(n2)])
    out, stats = _run(packed, r1 * n1, tw, fft_kernel(r1, n1, p, r2, twiddled=True), p, device, stream)
    return _from_element_major(out, p, n2).T.reshape(-1).copy(), stats
