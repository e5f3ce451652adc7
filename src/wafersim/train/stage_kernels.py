"""The two kernels of staged pipelined mode (`pipelined_stages`) besides the ML kernels' own: the optimizer
on the wafer, and the hand-off of a micro-batch's activations (or their gradients) from one stage's region
of PEs to the next one's over the fabric."""
from __future__ import annotations

import functools
import operator

import numpy as np

from ..compiler import intrinsics as ws
from ..runtime.jit import Dispatcher, jit
from .pipeline_kernel import optimizer_update

HANDOFF_PROGRAM = "stage_handoff"  # the hand-off kernel's name in LaunchStats.program: all fabric traffic


@functools.lru_cache(maxsize=None)
def update_kernel(chunk: int, optimizer: int, half: np.dtype | None) -> Dispatcher:
    """One optimizer step (`pipeline_kernel.optimizer_update`: SGD_CODE or ADAM_CODE) over a stage's
    parameters, stored as (rows, chunk) float32 arrays (zero-padded) on the stage's region: PE p of the
    block (in row-major order) updates rows p, p + PEs, ... of the weights `w` from the gradients `g` and
    the state `s1`, `s2`, in SRAM, and writes them back; with `half` (a 16-bit dtype) it also writes the
    weights rounded to 16 bits to `w16`, the copy the next step's products read (the float32 `w` stays the
    master). Launch ``kernel[(1, 1), (width, height)](w, g, s1, s2, w16, lr, h1, h2, eps, c1, c2)``."""
    C = operator.index(chunk)  # a Python int: an np.int64 closed over is refused in int32 arithmetic
    MIXED = half is not None
    HALF = np.dtype(half).type if MIXED else np.float32
    HC = C if MIXED else 1  # the 16-bit buffer (one word when unused)

    @jit
    def stage_update(w, g, s1, s2, w16, lr, h1, h2, eps, c1, c2):
        me = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
        pes = ws.blockDim.x * ws.blockDim.y
        wl = ws.local.array(C, np.float32)
        gl = ws.local.array(C, np.float32)
        m1 = ws.local.array(C, np.float32)
        m2 = ws.local.array(C, np.float32)
        hl = ws.local.array(HC, HALF)
        for r in range(me, w.shape[0], pes):
            wl[0:C] = w[r, 0:C]
            gl[0:C] = g[r, 0:C]
            m1[0:C] = s1[r, 0:C]
            m2[0:C] = s2[r, 0:C]
            optimizer_update(wl, gl, m1, m2, C, lr, h1, h2, eps, c1, c2, optimizer)
            w[r, 0:C] = wl[0:C]
            s1[r, 0:C] = m1[0:C]
            s2[r, 0:C] = m2[0:C]
            if MIXED:
                hl[0:C] = wl[0:C]
                w16[r, 0:C] = hl[0:C]

    return stage_update


@functools.lru_cache(maxsize=None)
def handoff_kernel(chunk: int) -> Dispatcher:
    """Copy a (rows, cols) float32 array from one region to the next over the fabric: on a `2 x rows`
    block, PE (0, r) loads row r chunk by chunk and sends it east; PE (1, r), the next region's edge,
    receives it and stores it. Launch ``kernel[(1, 1), (2, rows)](src, dst)``."""
    C = operator.index(chunk)  # a Python int: an np.int64 closed over is refused in int32 arithmetic

    @jit
    def stage_handoff(src, dst):
        side = ws.threadIdx.x
        r = ws.threadIdx.y
        buf = ws.local.array(C, np.float32)
        cols = src.shape[1]
        for start in range(0, cols, C):
            n = min(C, cols - start)
            if side == 0:
                buf[0:n] = src[r, start:start + n]
                ws.send(ws.EAST, buf[0:n])
            else:
                ws.recv(ws.WEST, out=buf[0:n])
                dst[r, start:start + n] = buf[0:n]

    return stage_handoff
