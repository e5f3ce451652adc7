"""Dense matrix multiply C = A @ B on a P x P block of PEs: SUMMA over routed multicast, with the panels
moving in the background while the PEs compute.

PE (px, py) keeps the T x T tiles A[py, px], B[py, px] and C[py, px] of the n x n matrices (n = P * T)
in its SRAM: A transposed (its columns contiguous), B and C row-major. For k in 0..P-1:

- the PEs of column k hand their A tile to their routers; a row bus (channel 0) copies it to every PE of
  the row, which receives it without forwarding anything itself (the routers do);
- the PEs of row k do the same with their B tile over a column bus (channel 1);
- every PE accumulates C += A[py, k] @ B[k, px] as T rank-1 updates, one `vger` each:
  ``ws.outer_add(c, column kk of A_k, row kk of B_k)`` (T * T fused multiply-adds for one issue).

The transfers are background ones (`ws.send_async` / `ws.recv_async`, the asynchronous DSD operations
of real wafer-scale chips): the panels of step k + 1 move into a second pair of buffers while step k
computes, A's during the first half of the updates and B's during the second (one stream at a time
through a PE's ramp), so a step costs its updates, not its updates plus 2 * T * T words of transfer.
In the last step C is updated in two blocks of rows, the first stored while the second is computed.

The FLOPs are exactly the fma work: 2 * n**3 (each rank-1 element counts 2).

Global memory holds the operands tile-blocked: a (P*P, 2*T*T) array whose row py*P + px is tile (py, px)
of A transposed, then tile (py, px) of B (`to_operand_tiles`), so each PE loads both with one bulk copy
and pays the off-wafer latency (`global_latency`, 500 cycles) once; C comes back as a (P*P, T*T) array
(`from_tiles`).
"""
from __future__ import annotations

import functools
import operator

import numpy as np

from ..arch.values import whole_argument
from ..compiler import intrinsics as ws
from ..errors import ArgumentError, call_checked
from ..runtime.device import Device
from ..runtime.jit import Dispatcher, jit
from ..sim.stats import LaunchStats
from .hosting import Scratch, check_block_fits, fitting_device, float32_input, nonempty

# SRAM a PE needs: seven T x T float32 tiles (A, B, C and two buffers of the two received panels).
_TILES = 7


@functools.lru_cache(maxsize=None)
def gemm_kernel(tile: int) -> Dispatcher:
    """The SUMMA kernel for T x T tiles (T = `tile`); local-array shapes are compile-time constants.

    Launch on one P x P block: ``kernel[(1, 1), (P, P)](ab, c, P)`` with the (P*P, 2*T*T) float32 operand
    tiles of `to_operand_tiles` and a tile-blocked (P*P, T*T) float32 device array c (see `to_tiles`)."""
    if tile < 1:
        raise ArgumentError(f"tile must be positive, got {tile}")
    # a Python int: an np.int64 tile (NumPy sizes) closed over would be an np.int64 constant, which the compiler
    # refuses in int32 arithmetic with run-time values (NumPy would compute the pair in int64)
    tile = operator.index(tile)
    T = tile
    TT = tile * tile
    # `panels`: this PE's A tile transposed (column j of A at [j*T:(j+1)*T]: the x operand of a rank-1
    # update) and its B tile, then two buffers of the A and B panels received in a step (double buffering:
    # step k computes with one while the panels of step k + 1 arrive in the other).
    OWN_A, OWN_B, GOT = 0, TT, 2 * TT
    # The last step updates C in two blocks of rows and stores the first (RB rows) as soon as it is final, so
    # that its off-wafer store overlaps the second block's updates. The second block's T updates take at least
    # as long as the first block's RB * T words take to leave at a word a cycle, (T - RB) * T * T / 8 >= RB * T
    # with up to 8 vector lanes (`dev`; `wse2` has 1): a PE's stores never overlap each other.
    RB = T * T // (T + 8)
    # Rank-1 updates per trip of the k loop (the tuple loop is unrolled): one loop test per four updates.
    UNROLL = 4 if tile % 8 == 0 else 1
    OFFSETS = tuple(range(0, UNROLL * T, T))
    HALF = (T // 2) * T  # the B panel of the next step is sent after the first half of the updates

    @jit
    def rank1_updates(panels, ct, ao, bo, r0, rows, lo, hi):
        """C[r0:r0 + rows, :] += sum over kk in [lo, hi) of A_k[r0:r0 + rows, kk] x B_k[kk, :] (offsets in words)."""
        for kk in range(lo, hi, UNROLL * T):
            for u in OFFSETS:
                ws.outer_add(ct[r0 * T:r0 * T + rows * T], panels[ao + kk + u + r0:ao + kk + u + r0 + rows],
                             panels[bo + kk + u:bo + kk + u + T])

    @jit(boundscheck=False)  # tuned and tested: the checks would cost a third of its speed
    def gemm_summa(ab, c, p):
        px, py = ws.grid(2)
        panels = ws.local.array(6 * TT, np.float32)
        ct = ws.local.array(TT, np.float32)  # the C tile being accumulated, row-major
        me = py * p + px  # this PE's row of the tile-blocked arrays
        ws.use_route(0, "row_bus")  # A[py, k] from column k to its whole row: one multicast
        ws.use_route(1, "column_bus")  # B[k, px] from row k to its whole column
        # Step 0's panels move while the PEs load their tiles: column 0 loads its A tile first and sends it
        # at once; the others post their receives, then load both tiles with one bulk copy (one latency).
        if px == 0:
            panels[OWN_A:OWN_A + TT] = ab[me, 0:TT]
            ws.send_async(ws.RAMP, panels[OWN_A:OWN_A + TT], channel=0)
            panels[OWN_B:OWN_B + TT] = ab[me, TT:2 * TT]
        else:
            ws.recv_async(ws.RAMP, out=panels[GOT:GOT + TT], channel=0)
            if py != 0:
                ws.recv_async(ws.RAMP, out=panels[GOT + TT:GOT + 2 * TT], channel=1)
            panels[OWN_A:OWN_A + 2 * TT] = ab[me, 0:2 * TT]
        if py == 0:  # B[0, px] goes once A[py, 0] has passed this PE: one stream at a time through a ramp
            if px == 0:
                ws.send_wait(ws.RAMP, channel=0)
            else:
                ws.recv_wait(ws.RAMP, channel=0)
            ws.send_async(ws.RAMP, panels[OWN_B:OWN_B + TT], channel=1)
        elif px == 0:
            ws.recv_async(ws.RAMP, out=panels[GOT + TT:GOT + 2 * TT], channel=1)
        ct[0:TT] = 0.0  # (while the panels arrive)
        for k in range(p):
            here = GOT + (k % 2) * 2 * TT  # this step's received panels
            there = GOT + ((k + 1) % 2) * 2 * TT  # the next step's
            ao = OWN_A
            if px != k:
                ws.recv_wait(ws.RAMP, channel=0)
                ao = here
            bo = OWN_B
            if py != k:
                ws.recv_wait(ws.RAMP, channel=1)
                bo = here + TT
            last = k == p - 1
            if not last:  # the A panel of step k + 1 moves (in the background) during the first half
                if px == k + 1:
                    ws.send_async(ws.RAMP, panels[OWN_A:OWN_A + TT], channel=0)
                else:
                    ws.recv_async(ws.RAMP, out=panels[there:there + TT], channel=0)
                if py != k + 1:
                    ws.recv_async(ws.RAMP, out=panels[there + TT:there + 2 * TT], channel=1)
                rank1_updates(panels, ct, ao, bo, 0, T, 0, HALF)
                if py == k + 1:  # and the B panel during the second: one stream at a time into each PE
                    ws.send_async(ws.RAMP, panels[OWN_B:OWN_B + TT], channel=1)
                rank1_updates(panels, ct, ao, bo, 0, T, HALF, TT)
            else:
                rank1_updates(panels, ct, ao, bo, 0, RB, 0, TT)
                c[me, 0:RB * T] = ct[0:RB * T]
                rank1_updates(panels, ct, ao, bo, RB, T - RB, 0, TT)
                c[me, RB * T:TT] = ct[RB * T:TT]

    return gemm_summa


def to_tiles(m: np.ndarray, p: int) -> np.ndarray:
    """An (n, n) matrix as a (p*p, T*T) array whose row py*p + px is tile (py, px), row-major (n = p * T)."""
    n = m.shape[0]
    t = n // p
    return np.ascontiguousarray(m.reshape(p, t, p, t).transpose(0, 2, 1, 3).reshape(p * p, t * t))


def to_operand_tiles(a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """The kernel's operands: a (p*p, 2*T*T) array whose row py*p + px is tile (py, px) of A transposed
    (column-major: the columns of A are the x operands of the rank-1 updates), then tile (py, px) of B
    row-major, so that a PE loads both with one bulk copy."""
    t = a.shape[0] // p
    a_tiles = to_tiles(a, p).reshape(p * p, t, t).transpose(0, 2, 1).reshape(p * p, t * t)
    return np.ascontiguousarray(np.concatenate([a_tiles, to_tiles(b, p)], axis=1))


def from_tiles(tiles: np.ndarray, p: int) -> np.ndarray:
    """The inverse of `to_tiles`."""
    t = int(round(np.sqrt(tiles.shape[1])))
    return np.ascontiguousarray(tiles.reshape(p, p, t, t).transpose(0, 2, 1, 3).reshape(p * t, p * t))


def gemm_flops(n: int) -> int:
    """FLOPs the kernel counts for an n x n product: n**3 fused multiply-adds of 2 FLOPs each."""
    return 2 * n ** 3


@call_checked
def gemm(a: np.ndarray, b: np.ndarray, p: int, device: Device | None = None,
         stream=None) -> tuple[np.ndarray, LaunchStats]:
    """C = A @ B for square n x n float32 matrices on a `p` x `p` block of PEs (n = p * T, T x T tiles).

    `device` defaults to a `p` x `p` wafer (just large enough). Returns (C as a NumPy array, LaunchStats)."""
    a = float32_input(a, "a")
    b = float32_input(b, "b")
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape != b.shape:
        raise ArgumentError(f"gemm takes two square matrices of the same shape, got {a.shape} and {b.shape}")
    n = nonempty(a, "a").shape[0]
    p = whole_argument(p, "p", 1)  # (a string or float p was Python's TypeError, or a float device width)
    if n % p:
        raise ArgumentError(f"p = {p} must divide n = {n}")
    tile = n // p
    device = check_block_fits(device or fitting_device(p, p), p, p, f"gemm with p = {p}")
    words = _TILES * tile * tile
    if words * 4 >= device.spec.sram_bytes:
        raise ArgumentError(f"{_TILES} tiles of {tile} x {tile} float32 ({words * 4} bytes) do not fit the "
                         f"{device.spec.sram_bytes}-byte SRAM of a PE: use a larger p")
    with Scratch(device, stream) as mem:
        d_ab, d_c = mem.put(to_operand_tiles(a, b, p)), mem.empty((p * p, tile * tile))
        stats = gemm_kernel(tile)[(1, 1), (p, p), stream](d_ab, d_c, int(p))
        return from_tiles(mem.get(d_c), p), stats
