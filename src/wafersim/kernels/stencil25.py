"""The 25-point 3-D stencil of Jacquelin, Araya-Polo and Meng, "Massively scalable stencil algorithm"
(SC22): a second-order-in-time, eighth-order-in-space finite-difference step of the 3-D wave equation.

The domain is nx x ny x nz cells; PE (x, y) owns the Z column of nz cells at (x, y), as in the paper.
Each step a PE needs the columns of the four PEs on each side in X and in Y (16 columns) and the four
cells above and below in its own column:

    lap = C0 * u + sum_k c_k * (u[z-k] + u[z+k] + u[x-k] + u[x+k] + u[y-k] + u[y+k]),  k = 1..4
    u_next = 2 * u - u_prev + vp * lap

with cells outside the domain counted as zero. The paper moves the columns by "localized broadcasts"
on the routers; this version relays them with neighbour sends: in round k = 1..4 every PE passes the
column it received in round k-1 (its own in round 1) one PE further in each of the four directions, so
after round k it holds the columns k PEs away. Columns go in chunks of at most `fifo_depth` words, every
PE sending one chunk each way before receiving, so no pair of PEs can block each other, and each
received chunk is folded into `lap` at once (one vector fma), so a PE keeps one relay buffer per
direction instead of 16 columns (the 48 kB SRAM would not hold them at nz = 1000).

SRAM per PE: two columns with a four-cell zero halo (current and previous time level, swapped every
step), vp, lap and four relay buffers: about 8 * nz words (32 kB at nz = 1000).

Order of the float32 operations (the reference in `stencil25_reference` follows it exactly):
``lap = u * C0``; for k = 1..4: ``lap = u[z+k] * c_k + lap``, ``lap = u[z-k] * c_k + lap``; for k = 1..4:
the columns from the west, east, north and south (``lap = col * c_k + lap`` each); then
``u_prev = u * 2 - u_prev`` and ``u_prev = vp * lap + u_prev``, which becomes the next step's ``u``.
"""
from __future__ import annotations

import functools

import numpy as np

from ..arch.values import whole_argument
from ..compiler import intrinsics as ws
from ..errors import ArgumentError, call_checked
from ..runtime.device import Device
from ..runtime.jit import Dispatcher, jit
from ..sim.stats import LaunchStats
from .hosting import Scratch, fitting_device, float32_input, nonempty

#: Eighth-order central second-derivative weights for k = 0..4 (the classical Fornberg coefficients:
#: -205/72, 8/5, -1/5, 8/315, -1/560), one axis at a time; the centre counts once per axis.
AXIS_WEIGHTS = (-205.0 / 72.0, 8.0 / 5.0, -1.0 / 5.0, 8.0 / 315.0, -1.0 / 560.0)
C0 = np.float32(3 * AXIS_WEIGHTS[0])
CK = tuple(np.float32(w) for w in AXIS_WEIGHTS[1:])
HALO = 4  # cells of zero halo at each end of a column (the stencil's reach in Z)

#: float32 operations per cell and step: 1 multiply, 24 multiply-adds (2 each), 2 for 2u - u_prev and
#: 2 for the final multiply-add (the count the paper's FLOP rates imply, ~51-53 per cell).
FLOPS_PER_CELL = 1 + 24 * 2 + 2 + 2


@jit
def load_levels(a, b, vp, u_prev, u, vp_in, me, n, halo):
    """PE `me`'s two time levels (zero halos of `halo` cells in Z around its `n` cells) and velocity."""
    a[0:halo] = 0.0
    a[halo + n:halo + n + halo] = 0.0
    b[0:halo] = 0.0
    b[halo + n:halo + n + halo] = 0.0
    b[halo:halo + n] = u_prev[me, 0:n]
    a[halo:halo + n] = u[me, 0:n]
    vp[0:n] = vp_in[me, 0:n]
    return 0


@jit
def store_level(out, a, b, me, steps, n, halo):
    """The newest time level after `steps` steps (the levels swap roles every step)."""
    if steps % 2 == 1:
        out[me, 0:n] = b[halo:halo + n]
    else:
        out[me, 0:n] = a[halo:halo + n]
    return 0


@jit(boundscheck=False)
def z_star(cur, acc, n):
    """acc[0:n] = C0 * each cell of the column `cur` (its halo of HALO cells at each end) plus its eight Z
    neighbours weighted CK[k - 1] at distance k, the +k term before the -k one (the reference's order)."""
    acc[0:n] = cur[HALO:HALO + n] * C0
    for k in (1, 2, 3, 4):  # (unrolled: k and CK[k - 1] are constants)
        acc[0:n] = cur[HALO + k:HALO + k + n] * CK[k - 1] + acc[0:n]
        acc[0:n] = cur[HALO - k:HALO - k + n] * CK[k - 1] + acc[0:n]


@jit(boundscheck=False)
def leapfrog(cur, prev, vp, acc, n):
    """The time step over `prev` (the new level): 2 * cur - prev + vp * acc, rounded as two fused steps."""
    prev[HALO:HALO + n] = cur[HALO:HALO + n] * 2.0 - prev[HALO:HALO + n]
    prev[HALO:HALO + n] = vp[0:n] * acc[0:n] + prev[HALO:HALO + n]


@functools.lru_cache(maxsize=None)
def stencil25_kernel(nz: int, chunk: int = 16) -> Dispatcher:
    """The kernel for Z columns of `nz` cells, moving columns in messages of `chunk` words (at most the
    launch's `fifo_depth`).

    Launch on one nx x ny block: ``kernel[(1, 1), (nx, ny)](u_prev, u, vp, out, steps, nx)`` with
    (nx*ny, nz) float32 device arrays, row y*nx + x holding column (x, y)."""
    if nz < 1 or chunk < 1:
        raise ArgumentError(f"stencil25 needs nz >= 1 and chunk >= 1, got nz={nz}, chunk={chunk}")
    N = nz
    CH = min(chunk, nz)
    c1, c2, c3, c4 = CK

    @jit(boundscheck=False)
    def fold(acc, col, lo, n, ck):
        acc[lo:lo + n] = col[lo:lo + n] * ck + acc[lo:lo + n]

    @jit(boundscheck=False)
    def relay_round(se, sw, ss, sn, off, bw, be, bn, bs, acc, k, ck, x, y, nx, ny):
        """Round k: pass on, one PE further east, west, south and north, the columns in `se`, `sw`, `ss`,
        `sn` (from offset `off`), and fold what arrives: the columns k PEs to the west, east, north and
        south, received in place into `bw`, `be`, `bn`, `bs` (a chunk is sent before its slot is
        overwritten). A PE sends a way only to a neighbour that is at most k PEs from the column's owner
        inside the domain, so every relay stops at the edge."""
        send_e = x + 1 < nx and x + 1 >= k
        send_w = x >= 1 and nx - x >= k
        send_s = y + 1 < ny and y + 1 >= k
        send_n = y >= 1 and ny - y >= k
        recv_w = x >= k
        recv_e = x + k < nx
        recv_n = y >= k
        recv_s = y + k < ny
        for c0 in range(0, N, CH):
            nl = min(CH, N - c0)
            if send_e:
                ws.send(ws.EAST, se[off + c0:off + c0 + nl])
            if send_w:
                ws.send(ws.WEST, sw[off + c0:off + c0 + nl])
            if send_s:
                ws.send(ws.SOUTH, ss[off + c0:off + c0 + nl])
            if send_n:
                ws.send(ws.NORTH, sn[off + c0:off + c0 + nl])
            if recv_w:  # travelling east: the column of x - k
                ws.recv(ws.WEST, out=bw[c0:c0 + nl])
                fold(acc, bw, c0, nl, ck)
            if recv_e:
                ws.recv(ws.EAST, out=be[c0:c0 + nl])
                fold(acc, be, c0, nl, ck)
            if recv_n:
                ws.recv(ws.NORTH, out=bn[c0:c0 + nl])
                fold(acc, bn, c0, nl, ck)
            if recv_s:
                ws.recv(ws.SOUTH, out=bs[c0:c0 + nl])
                fold(acc, bs, c0, nl, ck)

    @jit(boundscheck=False)
    def step(cur, prev, vp, acc, bw, be, bn, bs, x, y, nx, ny):
        """One time step: the new level is written over `prev`."""
        z_star(cur, acc, N)
        relay_round(cur, cur, cur, cur, HALO, bw, be, bn, bs, acc, 1, c1, x, y, nx, ny)
        relay_round(bw, be, bn, bs, 0, bw, be, bn, bs, acc, 2, c2, x, y, nx, ny)
        relay_round(bw, be, bn, bs, 0, bw, be, bn, bs, acc, 3, c3, x, y, nx, ny)
        relay_round(bw, be, bn, bs, 0, bw, be, bn, bs, acc, 4, c4, x, y, nx, ny)
        leapfrog(cur, prev, vp, acc, N)

    @jit(boundscheck=False)
    def stencil25(u_prev, u, vp_in, out, steps, nx):
        x, y = ws.grid(2)
        ny = ws.blockDim.y
        me = y * nx + x
        a = ws.local.array(N + 2 * HALO, np.float32)  # time levels with a zero halo in Z
        b = ws.local.array(N + 2 * HALO, np.float32)
        vp = ws.local.array(N, np.float32)
        acc = ws.local.array(N, np.float32)
        bw = ws.local.array(N, np.float32)  # relay buffers: the columns arriving from each side
        be = ws.local.array(N, np.float32)
        bn = ws.local.array(N, np.float32)
        bs = ws.local.array(N, np.float32)
        load_levels(a, b, vp, u_prev, u, vp_in, me, N, HALO)
        # Barriers around the time loop: the loads' and stores' share of the off-wafer bandwidth staggers
        # the PEs; with them, the time loop of every launch starts and ends together (per-step figures).
        ws.syncthreads()
        for t in range(steps // 2):  # two steps per turn, the time levels swapping roles
            step(a, b, vp, acc, bw, be, bn, bs, x, y, nx, ny)
            step(b, a, vp, acc, bw, be, bn, bs, x, y, nx, ny)
        if steps % 2 == 1:
            step(a, b, vp, acc, bw, be, bn, bs, x, y, nx, ny)
        ws.syncthreads()
        store_level(out, a, b, me, steps, N, HALO)

    return stencil25


# ----------------------------------------------------------------------------- localized broadcasts
#: Routed version: each PE hands each chunk of its column to its router once per direction, and the
#: routers deliver it to the next four PEs that way (the paper's "localized broadcasts"). A word's channel
#: is fixed along its path, so the PEs of a line take turns by position mod 5: the PE at x sends east on
#: channel EAST_CH + x % 5, which the routers of x + 1..x + 3 pass on and copy to their PE and the router
#: of x + 4 only copies (so no two sources share a link or a receiver): 4 directions x 5 = 20 channels.
SPAN = 5
EAST_CH, WEST_CH, SOUTH_CH, NORTH_CH = 0, SPAN, 2 * SPAN, 3 * SPAN


def _line_rules(masks, pos, size, channel_of, forward, arrive_from, horizontal: bool) -> None:
    """Rules of one flow direction into `masks` (channel -> (5, by, bx)): `pos` the PE positions along the
    lines (x for rows, y for columns), words travel towards `forward` and enter from `arrive_from`."""
    from ..isa.opcodes import ACCEPT, EAST, RAMP, SOUTH
    ahead = forward in (EAST, SOUTH)  # towards higher positions
    has_next = (pos + 1 < size) if ahead else (pos >= 1)
    onward = np.where(has_next, 1 << forward, 0).astype(np.uint8)
    for j in range(SPAN):
        k = (pos - j) % SPAN if ahead else (j - pos) % SPAN  # distance from this channel's source
        rules = np.zeros((5, len(pos)), dtype=np.uint8)  # per input port, per position along the line
        rules[RAMP] = np.where(k == 0, onward | ACCEPT, 0)
        mid = (k >= 1) & (k <= SPAN - 2)
        rules[arrive_from] = np.where(mid, onward | 1 << RAMP | ACCEPT,
                                      np.where(k == SPAN - 1, 1 << RAMP | ACCEPT, 0))
        target = masks[channel_of(j)]
        target |= rules[:, None, :] if horizontal else rules[:, :, None]


def localized_broadcast_routes() -> list:
    """The 20 launch routes of the routed kernel (block-relative, any block size)."""
    from ..isa.opcodes import EAST, NORTH, SOUTH, WEST
    from ..runtime.routes import Route

    def rules_for(channel: int):
        def rules(bx: int, by: int) -> np.ndarray:
            masks = {c: np.zeros((5, by, bx), dtype=np.uint8) for c in range(4 * SPAN)}
            x, y = np.arange(bx), np.arange(by)
            _line_rules(masks, x, bx, lambda j: EAST_CH + j, EAST, WEST, True)
            _line_rules(masks, x, bx, lambda j: WEST_CH + j, WEST, EAST, True)
            _line_rules(masks, y, by, lambda j: SOUTH_CH + j, SOUTH, NORTH, False)
            _line_rules(masks, y, by, lambda j: NORTH_CH + j, NORTH, SOUTH, False)
            return masks[channel]
        return rules

    return [Route(c, rules_for(c), "stencil25 localized broadcast") for c in range(4 * SPAN)]


@functools.lru_cache(maxsize=None)
def stencil25_routed_kernel(nz: int, chunk: int = 16) -> Dispatcher:
    """The kernel with localized broadcasts; launch like `stencil25_kernel` with
    ``routes=localized_broadcast_routes()``. Folds the X columns (k = 1..4, west then east), then the Y
    columns, per chunk (`stencil25_reference(..., routed=True)`)."""
    if nz < 1 or chunk < 1:
        raise ArgumentError(f"stencil25 needs nz >= 1 and chunk >= 1, got nz={nz}, chunk={chunk}")
    N = nz
    CH = min(chunk, nz)
    c1, c2, c3, c4 = CK
    COEF = (c1, c2, c3, c4)
    PHASES = tuple(range(SPAN))
    KS = (1, 2, 3, 4)

    @jit(boundscheck=False)
    def fold_line(acc, buf, c0, nl, pos, size, fwd_ch, back_ch, m):
        """Fold the chunks of the columns k = 1..4 PEs behind and ahead along a line, for a PE at a
        position m mod 5 (a constant): each arrives on its source's channel."""
        for k in KS:
            if pos >= k:  # the column k behind, sent forward by its owner
                ws.recv(ws.RAMP, out=buf[0:nl], channel=fwd_ch + (m - k) % SPAN)
                acc[c0:c0 + nl] = buf[0:nl] * COEF[k - 1] + acc[c0:c0 + nl]
            if pos + k < size:
                ws.recv(ws.RAMP, out=buf[0:nl], channel=back_ch + (m + k) % SPAN)
                acc[c0:c0 + nl] = buf[0:nl] * COEF[k - 1] + acc[c0:c0 + nl]
        return 0

    @jit(boundscheck=False)
    def exchange(cur, acc, buf, x, y, nx, ny, mx, my):
        """Send each chunk of `cur` four ways, then fold the 16 columns' chunks as they arrive."""
        for c0 in range(0, N, CH):
            nl = min(CH, N - c0)
            for m in PHASES:  # unrolled: a PE's channels depend on its position mod 5
                if mx == m:
                    if x + 1 < nx:
                        ws.send(ws.RAMP, cur[HALO + c0:HALO + c0 + nl], channel=EAST_CH + m)
                    if x >= 1:
                        ws.send(ws.RAMP, cur[HALO + c0:HALO + c0 + nl], channel=WEST_CH + m)
            for m1 in PHASES:
                if my == m1:
                    if y + 1 < ny:
                        ws.send(ws.RAMP, cur[HALO + c0:HALO + c0 + nl], channel=SOUTH_CH + m1)
                    if y >= 1:
                        ws.send(ws.RAMP, cur[HALO + c0:HALO + c0 + nl], channel=NORTH_CH + m1)
            for m2 in PHASES:
                if mx == m2:
                    fold_line(acc, buf, c0, nl, x, nx, EAST_CH, WEST_CH, m2)
            for m3 in PHASES:
                if my == m3:
                    fold_line(acc, buf, c0, nl, y, ny, SOUTH_CH, NORTH_CH, m3)

    @jit(boundscheck=False)
    def step(cur, prev, vp, acc, buf, x, y, nx, ny, mx, my):
        z_star(cur, acc, N)
        exchange(cur, acc, buf, x, y, nx, ny, mx, my)
        leapfrog(cur, prev, vp, acc, N)

    @jit(boundscheck=False)
    def stencil25_routed(u_prev, u, vp_in, out, steps, nx):
        x, y = ws.grid(2)
        ny = ws.blockDim.y
        me = y * nx + x
        mx = x % SPAN
        my = y % SPAN
        a = ws.local.array(N + 2 * HALO, np.float32)
        b = ws.local.array(N + 2 * HALO, np.float32)
        vp = ws.local.array(N, np.float32)
        acc = ws.local.array(N, np.float32)
        buf = ws.local.array(CH, np.float32)
        load_levels(a, b, vp, u_prev, u, vp_in, me, N, HALO)
        ws.syncthreads()  # (as in the relay kernel: per-step figures)
        for t in range(steps // 2):
            step(a, b, vp, acc, buf, x, y, nx, ny, mx, my)
            step(b, a, vp, acc, buf, x, y, nx, ny, mx, my)
        if steps % 2 == 1:
            step(a, b, vp, acc, buf, x, y, nx, ny, mx, my)
        ws.syncthreads()
        store_level(out, a, b, me, steps, N, HALO)

    return stencil25_routed


def to_columns(field: np.ndarray) -> np.ndarray:
    """(ny, nx, nz) -> (nx*ny, nz): row y*nx + x is the Z column of PE (x, y)."""
    ny, nx, nz = field.shape
    return float32_input(field, "field").reshape(ny * nx, nz)


@call_checked
def stencil25(u_prev: np.ndarray, u: np.ndarray, vp: np.ndarray, steps: int, device: Device | None = None,
              chunk: int | None = None, stream=None, routed: bool = False) -> tuple[np.ndarray, LaunchStats]:
    """`steps` 25-point wave-equation steps from time levels `u_prev`, `u` with `vp` (all (ny, nx, nz)),
    one Z column per PE on one nx x ny block (`device` defaults to an nx x ny wafer). `routed`: move the
    columns by localized broadcasts on 20 routed channels instead of relaying them. Returns the last
    time level and the `LaunchStats`; equals `stencil25_reference(..., routed=routed)` exactly. `chunk`:
    words per halo message, at most the device's `fifo_depth` (None: 16, or `fifo_depth` if smaller)."""
    u_prev, u, vp = (float32_input(value, name) for value, name in ((u_prev, "u_prev"), (u, "u"), (vp, "vp")))
    shapes = {np.shape(u_prev), np.shape(u), np.shape(vp)}
    if len(shapes) != 1 or len(np.shape(u)) != 3:
        raise ArgumentError(f"stencil25 needs u_prev, u and vp of one (ny, nx, nz) shape, got {sorted(shapes)}")
    nonempty(u, "u")  # (else a wafer of 0 PEs would be refused, naming no argument)
    ny, nx, nz = np.shape(u)
    if chunk is not None:  # (a float chunk reached the compiler as a CompileError in this file's code)
        chunk = whole_argument(chunk, "chunk", 1)
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ArgumentError(f"stencil25: steps must be a whole number >= 0, got {steps!r}")
    if device is None:
        device = fitting_device(nx, ny)
        if routed:  # the default machine has 4 channels; the routes need 20 (the calibrated presets have 24)
            device = Device(device.spec.replace(channels=max(device.spec.channels, 4 * SPAN)))
    if routed and device.spec.channels < 4 * SPAN:
        raise ArgumentError(f"stencil25(routed=True) needs {4 * SPAN} channels (5 per direction), but the "
                            f"device has {device.spec.channels}")
    if chunk is None:
        chunk = min(16, device.spec.fifo_depth)
    if chunk > device.spec.fifo_depth:
        raise ArgumentError(f"chunk = {chunk} words exceeds the FIFO depth {device.spec.fifo_depth}: "
                            f"PEs that send before receiving would wait on each other; pass chunk <= "
                            f"{device.spec.fifo_depth} (or None)")
    with Scratch(device, stream) as mem:
        d_prev, d_u, d_vp = mem.put(to_columns(u_prev)), mem.put(to_columns(u)), mem.put(to_columns(vp))
        d_out = mem.empty((nx * ny, nz))
        if routed:
            launch = stencil25_routed_kernel(nz, chunk)[(1, 1), (nx, ny), stream]
            stats = launch(d_prev, d_u, d_vp, d_out, int(steps), int(nx), routes=localized_broadcast_routes())
        else:
            stats = stencil25_kernel(nz, chunk)[(1, 1), (nx, ny), stream](d_prev, d_u, d_vp, d_out, int(steps),
                                                                          int(nx))
        return mem.get(d_out).reshape(ny, nx, nz), stats


def stencil25_reference(u_prev: np.ndarray, u: np.ndarray, vp: np.ndarray, steps: int,
                        routed: bool = False) -> np.ndarray:
    """`steps` steps in NumPy float32 on (ny, nx, nz) arrays, in the kernel's order of operations (the
    relay kernel's, or with `routed` the routed kernel's: X columns k = 1..4, then Y columns)."""
    prev = float32_input(u_prev, "u_prev").copy()
    cur = float32_input(u, "u").copy()
    vp = float32_input(vp, "vp")
    ny, nx, nz = cur.shape

    def shifted(a: np.ndarray, axis: int, k: int) -> np.ndarray:
        """a moved by k cells along `axis` (the value k cells towards lower indices), zero outside."""
        out = np.zeros_like(a)
        n = a.shape[axis]
        if abs(k) < n:
            dst = [slice(None)] * 3
            src = [slice(None)] * 3
            dst[axis] = slice(k, None) if k > 0 else slice(0, n + k)
            src[axis] = slice(0, n - k) if k > 0 else slice(-k, None)
            out[tuple(dst)] = a[tuple(src)]
        return out

    for _ in range(steps):
        lap = cur * C0
        for k, ck in enumerate(CK, start=1):
            lap = shifted(cur, 2, -k) * ck + lap  # u[z+k]
            lap = shifted(cur, 2, k) * ck + lap  # u[z-k]
        # (axis, shift) of each received column in the order the kernel folds them; shift k: x - k (west)
        west_east = [[(1, k), (1, -k)] for k in range(1, 5)]
        north_south = [[(0, k), (0, -k)] for k in range(1, 5)]
        order = (sum(west_east, []) + sum(north_south, []) if routed else
                 sum((we + ns for we, ns in zip(west_east, north_south)), []))
        for axis, k in order:
            lap = shifted(cur, axis, k) * CK[abs(k) - 1] + lap
        nxt = cur * np.float32(2) - prev
        nxt = vp * lap + nxt
        prev, cur = cur, nxt
    return cur
