"""Two more benchmarks ported as a new user would port them (from the docs alone), registered into
bench/workloads.py's table (`--only gemv2d,pcr`):

- `gemv2d`: csl-examples' gemv-collectives_2d, y = A x + b over a P x Q block: row 0 loads x's segments and
  `wsc.column_broadcast_array` multicasts them down the columns, each PE's column-major tile times its segment
  as column axpys, `wsc.row_reduce_array` streams the partial sums west to column 0, which adds b; `reps` times;
- `pcr`: a batched tridiagonal solve by parallel cyclic reduction (cuSPARSE's gtsv2StridedBatch; no
  csl-examples twin), one system a row of PEs and one unknown a PE: at step s = 1, 2, 4, ... each row's
  (a, b, c, d) travels s hops east and west, chained through the neighbours.

Both kernels round as their NumPy versions do (the same order of operations): results match bit for bit.
Sizes: each full-size launch runs >= 1e7 PE-instructions.
"""
from __future__ import annotations

import numpy as np

import wafersim as ws
from wafersim import collectives as wsc
from wafersim.sim.stats import LaunchStats
from workload_registry import Case, workload

F = np.float32


# ----------------------------------------------------------------------------- GEMV with row and column collectives
@ws.jit
def gemv2d(a_tiles, x, b, y, reps, mt: ws.constant, nt: ws.constant):
    """PE (px, py) holds A's mt x nt tile (py, px), column-major; column 0 returns y's rows of its block row."""
    px, py = ws.threadIdx.x, ws.threadIdx.y
    q = ws.blockDim.x
    tile = ws.local.array(mt * nt, np.float32)     # column j is tile[j * mt:(j + 1) * mt]
    xs = ws.local.array(nt, np.float32)
    ys = ws.local.array(mt, np.float32)
    part = ws.local.array(mt, np.float32)
    tile[0:mt * nt] = a_tiles[py * q + px, 0:mt * nt]
    if py == 0:
        xs[0:nt] = x[px * nt:px * nt + nt]
    wsc.column_broadcast_array(xs, 0, channel=0)
    for _ in range(reps):                          # the same y each time: a benchmark's repetitions
        ys[0:mt] = 0.0
        for j in range(nt):
            ys[0:mt] = tile[j * mt:j * mt + mt] * xs[j] + ys[0:mt]
        wsc.row_reduce_array(ys, part, 0, wsc.SUM, channel=1)
    if px == 0:
        part[0:mt] = b[py * mt:py * mt + mt]
        ys[0:mt] = ys[0:mt] + part[0:mt]
        y[py * mt:py * mt + mt] = ys[0:mt]


def gemv_tiles(a: np.ndarray, p: int, q: int) -> np.ndarray:
    """A as (p * q, nt * mt): row py * q + px is tile (py, px), column-major."""
    m, n = a.shape
    tiles = a.reshape(p, m // p, q, n // q).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(tiles.reshape(p * q, -1))


def numpy_gemv2d(a: np.ndarray, x: np.ndarray, b: np.ndarray, p: int, q: int) -> np.ndarray:
    """The kernel's order: each tile's column axpys, then the row's partial sums added from the east end
    towards column 0 (acc_x = part_x + acc_{x+1}, as the chain streams them), then b."""
    m, n = a.shape
    mt, nt = m // p, n // q
    tiles = a.reshape(p, mt, q, nt)
    segments = x.reshape(q, nt)
    part = np.zeros((p, q, mt), F)
    for j in range(nt):
        part = tiles[:, :, :, j].transpose(0, 2, 1) * segments[None, :, j, None] + part
    acc = part[:, q - 1]
    for px in range(q - 2, -1, -1):
        acc = part[:, px] + acc
    return (acc + b.reshape(p, mt)).reshape(m)


def simulate_gemv2d(a: np.ndarray, x: np.ndarray, b: np.ndarray, p: int, q: int, reps: int
                    ) -> tuple[np.ndarray, LaunchStats]:
    m, n = a.shape
    device = ws.Device(ws.WaferSpec(width=q, height=p))
    d_y = device.device_array(m, F)
    stats = gemv2d[1, (q, p)](device.to_device(gemv_tiles(a, p, q)), device.to_device(x), device.to_device(b),
                              d_y, reps, m // p, n // q)
    return d_y.copy_to_host(), stats


@workload("gemv2d")
def gemv2d_case(size: str, rng: np.random.Generator) -> Case:
    q, p, mt, nt, reps = {"full": (64, 64, 32, 32, 20), "quick": (16, 16, 32, 32, 5), "tiny": (5, 3, 8, 12, 2)}[size]
    a = rng.standard_normal((p * mt, q * nt)).astype(F)
    x = rng.standard_normal(q * nt).astype(F)
    b = rng.standard_normal(p * mt).astype(F)
    return Case(f"GEMV y = A x + b, A {p * mt} x {q * nt} in {mt} x {nt} tiles, x by column broadcast, partial "
                f"sums by row reduce (wafersim.collectives), {reps} times, {q} x {p} PEs", p * q,
                lambda: simulate_gemv2d(a, x, b, p, q, reps), lambda: numpy_gemv2d(a, x, b, p, q))


# ----------------------------------------------------------------------------- tridiagonal: parallel cyclic reduction
@ws.jit
def pcr(coef, x_out, n):
    """Row py of PEs solves a_i x_{i-1} + b_i x_i + c_i x_{i+1} = d_i, PE px holding row i = px of it."""
    px, py = ws.threadIdx.x, ws.threadIdx.y
    me = ws.local.array(4, np.float32)       # a, b, c, d of this row
    lo = ws.local.array(4, np.float32)       # the row s above (an identity row outside the system)
    hi = ws.local.array(4, np.float32)       # the row s below
    me[0:4] = coef[py * n + px, 0:4]
    s = 1
    while s < n:
        lo[0:4] = me[0:4]
        hi[0:4] = me[0:4]
        for _ in range(s):                   # lo one PE east, hi one PE west, s times
            if ws.has_neighbor(ws.EAST):
                ws.send(ws.EAST, lo[0:4], channel=0)
            if ws.has_neighbor(ws.WEST):
                ws.send(ws.WEST, hi[0:4], channel=1)
            if ws.has_neighbor(ws.WEST):
                ws.recv(ws.WEST, out=lo[0:4], channel=0)
            else:
                lo[0:4] = 0.0
                lo[1] = 1.0
            if ws.has_neighbor(ws.EAST):
                ws.recv(ws.EAST, out=hi[0:4], channel=1)
            else:
                hi[0:4] = 0.0
                hi[1] = 1.0
        alpha = -me[0] / lo[1]
        gamma = -me[2] / hi[1]
        me[1] = me[1] + alpha * lo[2] + gamma * hi[0]
        me[3] = me[3] + alpha * lo[3] + gamma * hi[3]
        me[0] = alpha * lo[0]
        me[2] = gamma * hi[2]
        s = s * 2
    x_out[py, px] = me[3] / me[1]


def numpy_pcr(coef: np.ndarray) -> np.ndarray:
    """The kernel's steps on every row at once, in float32 and its order of operations."""
    a, b, c, d = (coef[:, :, k].copy() for k in range(4))
    n = a.shape[1]

    def shifted(v: np.ndarray, k: int, fill: float) -> np.ndarray:   # column i holds v[i - k], fill outside
        out = np.full_like(v, fill)
        if k > 0:
            out[:, k:] = v[:, :-k]
        else:
            out[:, :k] = v[:, -k:]
        return out

    s = 1
    while s < n:
        la, lb, lc, ld = (shifted(v, s, f) for v, f in ((a, 0), (b, 1), (c, 0), (d, 0)))
        ha, hb, hc, hd = (shifted(v, -s, f) for v, f in ((a, 0), (b, 1), (c, 0), (d, 0)))
        alpha, gamma = -a / lb, -c / hb
        b = b + alpha * lc + gamma * ha
        d = d + alpha * ld + gamma * hd
        a, c = alpha * la, gamma * hc
        s *= 2
    return d / b


def simulate_pcr(coef: np.ndarray, spec: str) -> tuple[np.ndarray, LaunchStats]:
    rows, n, _ = coef.shape
    device = ws.Device(ws.WaferSpec.preset(spec, width=n, height=rows) if spec == "dev" else spec)
    d_x = device.device_array((rows, n), F)
    stats = pcr[1, (n, rows)](device.to_device(coef.reshape(rows * n, 4)), d_x, n)
    return d_x.copy_to_host(), stats


@workload("pcr")
def pcr_case(size: str, rng: np.random.Generator) -> Case:
    rows, n, spec = {"full": (996, 64, "wse2"), "quick": (128, 64, "dev"), "tiny": (3, 12, "dev")}[size]
    coef = rng.uniform(-1, 1, (rows, n, 4)).astype(F)
    coef[:, :, 1] = 3 + rng.random((rows, n), dtype=F)       # diagonally dominant: no pivoting needed
    coef[:, 0, 0] = coef[:, -1, 2] = 0
    return Case(f"tridiagonal solves by parallel cyclic reduction, {rows} systems of {n}, one unknown a PE, "
                f"rows chained s = 1, 2, 4, ... hops ({spec})", rows * n,
                lambda: simulate_pcr(coef, spec), lambda: numpy_pcr(coef))
