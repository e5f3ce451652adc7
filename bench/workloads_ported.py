"""Three csl-examples benchmarks ported as a new user would port them (from the docs), each a mid-sized block
of PEs running long runs of vector instructions. Registered into bench/workloads.py's table
(`--only matvec,residual,stencil25r`):

- `matvec`: benchmarks/single-tile-matvec: every PE computes its own y = A x (N x N float32, A column-major
  in a 2-D local array) as N column axpys, `iters` times over;
- `residual`: benchmarks/residual: |b - A x|_inf over a P x Q block: row 0 multicasts x's segments down the
  columns (a routed column broadcast), each PE's tile times its segment as column axpys, the partial sums
  streamed east through the FMAC (`ws.add_stream`), a max chain north along the east column;
- `stencil25r`: benchmarks/25-pt-stencil with its halos multicast by the routers: 16 custom routed channels
  (direction x sender class x mod 4 or y mod 4), chunks of at most fifo_depth words, on a wse2-figured wafer.

Every kernel rounds as its NumPy version does (the same order of operations), so results must match bit for
bit. Sizes: each full-size launch runs >= 1e7 PE-instructions.
"""
from __future__ import annotations

import functools

import numpy as np

import wafersim as ws
from wafersim.sim.stats import LaunchStats
from workload_registry import Case, workload

F = np.float32


# ----------------------------------------------------------------------------- single-tile matvec
@ws.jit
def matvec(a_cols, x, y, iters, n: ws.constant):
    """PE p: y[p] = A_p x_p, A_p held column-major (a[j, :] is column j), built as n column axpys."""
    px, py = ws.grid(2)
    width, height = ws.gridsize(2)
    pe = py * width + px
    a = ws.local.array((n, n), np.float32)
    xv = ws.local.array(n, np.float32)
    yv = ws.local.array(n, np.float32)
    for j in range(n):
        a[j, 0:n] = a_cols[pe * n + j, 0:n]
    xv[0:n] = x[pe, 0:n]
    for _ in range(iters):
        yv[0:n] = 0.0
        for j in range(n):
            yv[0:n] = a[j, 0:n] * xv[j] + yv[0:n]
    y[pe, 0:n] = yv[0:n]


def numpy_matvec(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The kernel's order: y = ((0 + a0 x0) + a1 x1) + ..., each product and sum rounded to float32."""
    y = np.zeros(a.shape[:2], F)
    for j in range(a.shape[2]):
        y = a[:, :, j] * x[:, j:j + 1] + y
    return y


def simulate_matvec(a: np.ndarray, x: np.ndarray, width: int, height: int, iters: int
                    ) -> tuple[np.ndarray, LaunchStats]:
    pes, n = x.shape
    device = ws.Device(ws.WaferSpec(width=width, height=height))
    d_a = device.to_device(np.ascontiguousarray(a.transpose(0, 2, 1)).reshape(pes * n, n))
    d_x, d_y = device.to_device(x), device.device_array((pes, n), F)
    stats = matvec[(1, 1), (width, height)](d_a, d_x, d_y, iters, n)
    return d_y.copy_to_host(), stats


@workload("matvec")
def matvec_case(size: str, rng: np.random.Generator) -> Case:
    width, height, n, iters = {"full": (16, 16, 32, 200), "quick": (8, 8, 32, 20), "tiny": (10, 8, 8, 2)}[size]
    a = rng.standard_normal((width * height, n, n)).astype(F)
    x = rng.standard_normal((width * height, n)).astype(F)
    return Case(f"single-tile matvec: y = A x per PE (N = {n}) as column axpys, {iters} times, "
                f"{width} x {height} PEs", width * height,
                lambda: simulate_matvec(a, x, width, height, iters), lambda: numpy_matvec(a, x))


# ----------------------------------------------------------------------------- residual
@ws.jit
def residual_kernel(a_tiles, x, b, out, r: ws.constant, c: ws.constant):
    """out[0] = max |b - A x| on a P x Q block, PE (px, py) holding the r x c tile (py, px) column-major."""
    px, py = ws.grid(2)
    q, p = ws.gridsize(2)
    tile = ws.local.array(r * c, np.float32)
    xv = ws.local.array(c, np.float32)
    yv = ws.local.array(r, np.float32)
    tile[0:r * c] = a_tiles[py * q + px, 0:r * c]
    if py == 0:
        xv[0:c] = x[px * c:px * c + c]
        ws.send(ws.RAMP, xv[0:c], channel=1)        # the column broadcast route copies it south
    else:
        ws.recv(ws.RAMP, out=xv[0:c], channel=1)
    yv[0:r] = 0.0
    for j in range(c):
        yv[0:r] = tile[j * r:j * r + r] * xv[j] + yv[0:r]
    if px == 0:
        if q > 1:
            ws.send(ws.EAST, yv[0:r])
    elif px < q - 1:
        ws.add_stream(ws.WEST, ws.EAST, yv[0:r])     # y += west's running sum, passed on east
    else:
        ws.add_stream(ws.WEST, None, yv[0:r])
    if px == q - 1:
        bv = ws.local.array(r, np.float32)
        bv[0:r] = b[py * r:py * r + r]
        bv[0:r] = abs(bv[0:r] - yv[0:r])
        nrm = max(bv[0:r])
        if py < p - 1:
            below = ws.recv(ws.SOUTH)
            nrm = below if below != below else max(nrm, below)   # NaN-propagating, as np.max
        if py > 0:
            ws.send(ws.NORTH, nrm)
        else:
            out[0] = nrm


def residual_tiles(a: np.ndarray, p: int, q: int) -> np.ndarray:
    """(P*Q, R*C): PE (px, py)'s tile, column-major, at row py*Q + px."""
    m, n = a.shape
    r, c = m // p, n // q
    return np.ascontiguousarray(a.reshape(p, r, q, c).transpose(0, 2, 3, 1)).reshape(p * q, r * c)


def numpy_residual(a: np.ndarray, x: np.ndarray, b: np.ndarray, q: int) -> np.ndarray:
    """The kernel's order: each column of tiles' y as sequential column axpys, then added west to east."""
    m, n = a.shape
    c = n // q
    y_total = None
    for px in range(q):
        y = np.zeros(m, F)
        for j in range(px * c, px * c + c):
            y = a[:, j] * x[j] + y
        y_total = y if y_total is None else y + y_total
    return np.max(np.abs(b - y_total))[None]


def simulate_residual(a: np.ndarray, x: np.ndarray, b: np.ndarray, p: int, q: int
                      ) -> tuple[np.ndarray, LaunchStats]:
    m, n = a.shape
    device = ws.Device(ws.WaferSpec(width=max(q, 4), height=max(p, 4)))
    d_a, d_x, d_b = device.to_device(residual_tiles(a, p, q)), device.to_device(x), device.to_device(b)
    d_out = device.device_array(1, F)
    stats = residual_kernel[(1, 1), (q, p)](d_a, d_x, d_b, d_out, m // p, n // q,
                                            routes=[ws.routes.column_broadcast(1, root=0)])
    return d_out.copy_to_host(), stats


@workload("residual")
def residual_case(size: str, rng: np.random.Generator) -> Case:
    q, p, r, c = {"full": (64, 64, 32, 208), "quick": (32, 32, 32, 32), "tiny": (12, 8, 8, 8)}[size]
    a = rng.standard_normal((p * r, q * c)).astype(F)
    x = rng.standard_normal(q * c).astype(F)
    b = rng.standard_normal(p * r).astype(F)
    return Case(f"residual max(abs(b - A x)), A {p * r} x {q * c} in {r} x {c} tiles, column broadcast, streamed "
                f"row sums, {q} x {p} PEs", p * q,
                lambda: simulate_residual(a, x, b, p, q), lambda: numpy_residual(a, x, b, q))


# ----------------------------------------------------------------------------- 25-point stencil, routed halos
R = 4                                   # stencil radius
COEF = (F(-2.847222), F(1.6), F(-0.2), F(0.0253968), F(-0.0017857))
C0, C1, C2, C3, C4 = COEF
CHUNK = 16                              # fifo_depth on every preset
EAST_GOING, WEST_GOING, SOUTH_GOING, NORTH_GOING = 0, 4, 8, 12     # channel of class 0 of each direction


def line_rules(c: int, forward, backward, along_x: bool):
    """Rules for words moving `forward` along x (or y), sent by the PEs whose coordinate is c mod 4: each
    word reaches the 4 PEs beyond its sender (the 4th takes it off its ramp and does not pass it on)."""
    def rules(x, y, w, h):
        pos, size = (x, w) if along_x else (y, h)
        step = 1 if forward in (ws.EAST, ws.SOUTH) else -1
        ahead = 0 <= pos + step < size
        table = {}
        if pos % 4 == c and ahead:
            table[ws.RAMP] = forward
        source = pos - step * (((pos - c) * step - 1) % 4 + 1)   # the nearest class-c PE behind, 1 to 4 away
        if 0 <= source < size:
            last = abs(pos - source) == 4 or not ahead
            table[backward] = ws.RAMP if last else (ws.RAMP, forward)
        return table
    return rules


@functools.lru_cache(maxsize=None)
def halo_routes() -> tuple:
    routes = []
    for base, fwd, bwd, along_x in ((EAST_GOING, ws.EAST, ws.WEST, True), (WEST_GOING, ws.WEST, ws.EAST, True),
                                    (SOUTH_GOING, ws.SOUTH, ws.NORTH, False),
                                    (NORTH_GOING, ws.NORTH, ws.SOUTH, False)):
        for c in range(4):
            routes.append(ws.routes.custom(base + c, line_rules(c, fwd, bwd, along_x)))
    return tuple(routes)


@ws.jit
def wave25_routed(u0, vp_in, source, out, steps, src_x, src_y, src_z, nz: ws.constant):
    """3-D acoustic wave, 8th order in space: X and Y over PEs, Z in SRAM; halos multicast by the routers."""
    px, py = ws.grid(2)
    width, height = ws.gridsize(2)
    nzp = nz + 2 * R
    prev = ws.local.array(nz, np.float32)
    cur = ws.local.array(nzp, np.float32)             # R zeros on either side of the column: the z halo
    vp = ws.local.array(nz, np.float32)
    lap = ws.local.array(nz, np.float32)
    halos = ws.local.array((4, R, nz), np.float32)    # [from W, E, N, S][distance - 1]
    cur[R:R + nz] = u0[py * width + px, 0:nz]
    prev[0:nz] = cur[R:R + nz]
    vp[0:nz] = vp_in[py * width + px, 0:nz]
    for t in range(steps):
        for c0 in range(0, nz, CHUNK):
            n = min(CHUNK, nz - c0)
            for c in (0, 1, 2, 3):
                if px % 4 == c and px + 1 < width:
                    ws.send(ws.RAMP, cur[R + c0:R + c0 + n], channel=EAST_GOING + c)
                if px % 4 == c and px > 0:
                    ws.send(ws.RAMP, cur[R + c0:R + c0 + n], channel=WEST_GOING + c)
                if py % 4 == c and py + 1 < height:
                    ws.send(ws.RAMP, cur[R + c0:R + c0 + n], channel=SOUTH_GOING + c)
                if py % 4 == c and py > 0:
                    ws.send(ws.RAMP, cur[R + c0:R + c0 + n], channel=NORTH_GOING + c)
            for c in (0, 1, 2, 3):
                k = (px - c - 1) % 4 + 1                   # the class-c PE west of us is k away
                if px - k >= 0:
                    ws.recv(ws.RAMP, out=halos[0, k - 1, c0:c0 + n], channel=EAST_GOING + c)
                k = (c - px - 1) % 4 + 1                   # ... east of us
                if px + k < width:
                    ws.recv(ws.RAMP, out=halos[1, k - 1, c0:c0 + n], channel=WEST_GOING + c)
                k = (py - c - 1) % 4 + 1
                if py - k >= 0:
                    ws.recv(ws.RAMP, out=halos[2, k - 1, c0:c0 + n], channel=SOUTH_GOING + c)
                k = (c - py - 1) % 4 + 1
                if py + k < height:
                    ws.recv(ws.RAMP, out=halos[3, k - 1, c0:c0 + n], channel=NORTH_GOING + c)
        lap[0:nz] = cur[R:R + nz] * C0
        lap[0:nz] = (cur[R - 1:R - 1 + nz] + cur[R + 1:R + 1 + nz] + halos[0, 0, 0:nz] + halos[1, 0, 0:nz]
                     + halos[2, 0, 0:nz] + halos[3, 0, 0:nz]) * C1 + lap[0:nz]
        lap[0:nz] = (cur[R - 2:R - 2 + nz] + cur[R + 2:R + 2 + nz] + halos[0, 1, 0:nz] + halos[1, 1, 0:nz]
                     + halos[2, 1, 0:nz] + halos[3, 1, 0:nz]) * C2 + lap[0:nz]
        lap[0:nz] = (cur[R - 3:R - 3 + nz] + cur[R + 3:R + 3 + nz] + halos[0, 2, 0:nz] + halos[1, 2, 0:nz]
                     + halos[2, 2, 0:nz] + halos[3, 2, 0:nz]) * C3 + lap[0:nz]
        lap[0:nz] = (cur[R - 4:R - 4 + nz] + cur[R + 4:R + 4 + nz] + halos[0, 3, 0:nz] + halos[1, 3, 0:nz]
                     + halos[2, 3, 0:nz] + halos[3, 3, 0:nz]) * C4 + lap[0:nz]
        prev[0:nz] = cur[R:R + nz] * 2.0 - prev[0:nz] + vp[0:nz] * lap[0:nz]
        if px == src_x and py == src_y:
            prev[src_z] = prev[src_z] + source[t]
        lap[0:nz] = cur[R:R + nz]
        cur[R:R + nz] = prev[0:nz]
        prev[0:nz] = lap[0:nz]
    out[py * width + px, 0:nz] = cur[R:R + nz]


def shifted(u: np.ndarray, axis: int, k: int) -> np.ndarray:
    """u moved by k along axis (v[i] = u[i - k]), zero-filled: the neighbour k away on the low side."""
    v = np.zeros_like(u)
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    if k > 0:
        dst[axis], src[axis] = slice(k, None), slice(None, -k)
    else:
        dst[axis], src[axis] = slice(None, k), slice(-k, None)
    v[tuple(dst)] = u[tuple(src)]
    return v


def numpy_wave25(u0: np.ndarray, vp: np.ndarray, source: np.ndarray, steps: int, src: tuple) -> np.ndarray:
    """The kernel's order of operations on (nz, ny, nx) float32 arrays; as (ny * nx, nz) PE columns."""
    z, y, x = 0, 1, 2
    cur, prev = u0.copy(), u0.copy()
    for t in range(steps):
        lap = cur * C0
        for k, ck in zip(range(1, R + 1), COEF[1:]):
            s = (shifted(cur, z, k) + shifted(cur, z, -k) + shifted(cur, x, k) + shifted(cur, x, -k)
                 + shifted(cur, y, k) + shifted(cur, y, -k))
            lap = s * ck + lap
        nxt = cur * F(2.0) - prev + vp * lap
        nxt[src] = nxt[src] + source[t]
        prev, cur = cur, nxt
    return pe_columns(cur)


def pe_columns(a: np.ndarray) -> np.ndarray:
    """(nz, ny, nx) -> (ny * nx, nz): PE (x, y)'s column at row y * nx + x."""
    nz, ny, nx = a.shape
    return np.ascontiguousarray(a.reshape(nz, ny * nx).T)


def simulate_wave25(u0: np.ndarray, vp: np.ndarray, source: np.ndarray, steps: int, src: tuple
                    ) -> tuple[np.ndarray, LaunchStats]:
    nz, ny, nx = u0.shape
    device = ws.Device(ws.WaferSpec.preset("wse2", width=max(nx, 4), height=max(ny, 4)))   # 16 channels
    d_u, d_vp, d_s = device.to_device(pe_columns(u0)), device.to_device(pe_columns(vp)), device.to_device(source)
    d_out = device.device_array((ny * nx, nz), F)
    stats = wave25_routed[(1, 1), (nx, ny)](d_u, d_vp, d_s, d_out, steps, src[2], src[1], src[0], nz,
                                            routes=list(halo_routes()))
    return d_out.copy_to_host(), stats


@workload("stencil25r")
def stencil25r_case(size: str, rng: np.random.Generator) -> Case:
    nx, ny, nz, steps = {"full": (32, 32, 20, 12), "quick": (16, 16, 20, 3), "tiny": (8, 8, 20, 2)}[size]
    u0 = (rng.standard_normal((nz, ny, nx)) * 0.1).astype(F)
    vp = rng.uniform(0.05, 0.1, (nz, ny, nx)).astype(F)
    source = np.sin(np.arange(steps, dtype=F) * F(0.3)).astype(F)
    src = (nz // 2, ny // 2, nx // 2)
    return Case(f"25-point stencil, halos multicast over 16 routed channels (wse2), {nx} x {ny} x {nz}, "
                f"{steps} steps", nx * ny,
                lambda: simulate_wave25(u0, vp, source, steps, src),
                lambda: numpy_wave25(u0, vp, source, steps, src))
