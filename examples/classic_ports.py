"""Three classic CUDA samples ported to wafersim, each checked against NumPy:

- an N-body step: K bodies per PE, every PE's bodies passed around a ring of PEs (a Hamiltonian cycle of
  the block, on a routed channel) so that each PE sees every body; float32 forces with softening;
- red-black Gauss-Seidel for -lap(u) = f, one cell per PE, stopping when the block-wide max of the
  residual (a `block_all_reduce` every iteration) is below a tolerance: a data-dependent loop;
- odd-even transposition sort of one value per PE along each row.

    python examples/classic_ports.py            # 4 x 4 and 8 x 2 PEs, larger grids
    python examples/classic_ports.py --small    # what tests/test_examples.py runs
"""
from __future__ import annotations

import sys

import numpy as np

import wafersim as ws
from wafersim import collectives as wsc

K = 4  # bodies per PE: a PE's 4 K words (x, y, z, m) fit one FIFO (fifo_depth 16), so send-then-receive cannot deadlock
EPS2 = 1e-2  # softening squared
DIRECTIONS = {(1, 0): ws.EAST, (-1, 0): ws.WEST, (0, 1): ws.SOUTH, (0, -1): ws.NORTH}


# ----------------------------------------------------------------------------------------------- N-body
def ring_order(width: int, height: int) -> list[tuple[int, int]]:
    """A Hamiltonian cycle of a width x height block (height even): along row 0 east, snaking back and forth
    over columns 1.. of the other rows, and up column 0."""
    if height % 2 or width < 2:
        raise ValueError("the ring needs an even number of rows and at least two columns")
    order = [(x, 0) for x in range(width)]
    for y in range(1, height):
        order += [(x, y) for x in (range(width - 1, 0, -1) if y % 2 else range(1, width))]
    return order + [(0, y) for y in range(height - 1, 0, -1)]


def ring_route(channel: int) -> ws.routes.Route:
    """Channel `channel` carries each PE's words to the next PE of the ring, and no further."""
    def rules(x, y, width, height):
        order = ring_order(width, height)
        i = order.index((x, y))
        (nx, ny), (px, py) = order[(i + 1) % len(order)], order[i - 1]
        return {ws.RAMP: DIRECTIONS[nx - x, ny - y], DIRECTIONS[px - x, py - y]: ws.RAMP}
    return ws.routes.custom(channel, rules)


@ws.jit
def nbody_forces(pos, acc, npes: ws.constant):
    """acc[pe] = the accelerations of PE pe's K bodies; pos[pe] = x[K], y[K], z[K], m[K]."""
    pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    p = ws.local.array((3, K), np.float32)
    a = ws.local.array((3, K), np.float32)      # zero when the block starts
    d = ws.local.array((3, K), np.float32)
    s = ws.local.array(K, np.float32)
    visiting = ws.local.array(4 * K, np.float32)
    incoming = ws.local.array(4 * K, np.float32)
    for c in range(3):
        p[c, 0:K] = pos[pe, c * K:c * K + K]
    visiting[0:4 * K] = pos[pe, 0:4 * K]
    for step in range(npes):
        for j in range(K):
            for c in range(3):
                d[c, 0:K] = visiting[c * K + j] - p[c, 0:K]
            s[0:K] = d[0, 0:K] * d[0, 0:K] + d[1, 0:K] * d[1, 0:K] + d[2, 0:K] * d[2, 0:K] + EPS2
            s[0:K] = visiting[3 * K + j] / (s[0:K] * np.sqrt(s[0:K]))
            for c in range(3):
                a[c, 0:K] += d[c, 0:K] * s[0:K]
        if step < npes - 1:                     # pass the visiting bodies on to the next PE of the ring
            ws.send(ws.RAMP, visiting[0:4 * K], channel=0)
            ws.recv(ws.RAMP, out=incoming[0:4 * K], channel=0)
            visiting[0:4 * K] = incoming[0:4 * K]
    for c in range(3):
        acc[pe, c * K:c * K + K] = a[c, 0:K]


def nbody_reference(pos: np.ndarray) -> np.ndarray:
    """The same accelerations in float64."""
    npes = pos.shape[0]
    x, y, z, m = pos.astype(np.float64).reshape(npes, 4, K).transpose(1, 0, 2).reshape(4, npes * K)
    d = np.stack([x[None, :] - x[:, None], y[None, :] - y[:, None], z[None, :] - z[:, None]])
    a = (d * (m[None, :] / ((d ** 2).sum(0) + EPS2) ** 1.5)[None]).sum(2)
    return a.reshape(3, npes, K).transpose(1, 0, 2).reshape(npes, 3 * K)


def nbody(width: int, height: int, seed: int = 0) -> tuple[float, ws.LaunchStats]:
    """Relative error of one launch's accelerations against float64, and its stats."""
    npes = width * height
    rng = np.random.default_rng(seed)
    pos = rng.standard_normal((npes, 4 * K)).astype(np.float32)
    pos[:, 3 * K:] = rng.uniform(0.5, 1.5, (npes, K)).astype(np.float32)
    dev = ws.Device(ws.WaferSpec.preset("dev", width=width, height=height))
    d_acc = dev.device_array((npes, 3 * K))
    stats = nbody_forces[1, (width, height)](dev.to_device(pos), d_acc, npes, routes=[ring_route(0)])
    want = nbody_reference(pos)
    return float(np.abs(d_acc.copy_to_host() - want).max() / np.abs(want).max()), stats


# --------------------------------------------------------------------------------- red-black Gauss-Seidel
@ws.jit
def neighbour_sum(u):
    """The sum of the four neighbours' u, north, south, east, west (0 outside the block: Dirichlet)."""
    for d in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
        if ws.has_neighbor(d):
            ws.send(d, u)
    total = 0.0
    for d in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
        if ws.has_neighbor(d):
            total += ws.recv(d)
    return total


@ws.jit
def red_black(f, u_out, iterations, h2, tol, maxit):
    x, y = ws.grid(2)
    fh = f[y, x] * h2
    u = 0.0
    red = (x + y) % 2 == 0
    res = tol + 1.0
    it = 0
    while res > tol and it < maxit:             # every PE gets the same res, so all stop together
        acc = neighbour_sum(u)
        if red:
            u = (fh + acc) * 0.25
        acc = neighbour_sum(u)
        if not red:
            u = (fh + acc) * 0.25
        res = wsc.block_all_reduce(abs(fh + neighbour_sum(u) - 4.0 * u), wsc.MAX, channel=0)
        it += 1
    u_out[y, x] = u
    if x == 0 and y == 0:
        iterations[0] = it


def red_black_reference(f: np.ndarray, h2, tol, maxit: int) -> tuple[np.ndarray, int]:
    """The same float32 operations in the same order, in NumPy."""
    fh, u = f * np.float32(h2), np.zeros_like(f)
    red = np.add(*np.indices(f.shape)) % 2 == 0

    def neighbour_sum(u):
        p, total = np.pad(u, 1), np.zeros_like(u)
        for nb in (p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, 2:], p[1:-1, :-2]):
            total = total + nb
        return total
    res, it = np.float32(tol) + np.float32(1), 0
    while res > tol and it < maxit:
        u = np.where(red, (fh + neighbour_sum(u)) * np.float32(0.25), u)
        u = np.where(~red, (fh + neighbour_sum(u)) * np.float32(0.25), u)
        res = np.abs(fh + neighbour_sum(u) - np.float32(4) * u).max()
        it += 1
    return u, it


def solve(width: int, height: int, tol: float = 1e-5, maxit: int = 500) -> tuple[bool, int, ws.LaunchStats]:
    """Whether the wafer's u is bit for bit NumPy's, the iterations taken, and the stats."""
    f = np.random.default_rng(1).random((height, width), dtype=np.float32)
    h2, tol = np.float32(1.0 / (max(width, height) + 1) ** 2), np.float32(tol)
    dev = ws.Device(ws.WaferSpec.preset("dev", width=width, height=height))
    d_u, d_it = dev.device_array((height, width)), dev.device_array(1, np.int32)
    stats = red_black[1, (width, height)](dev.to_device(f), d_u, d_it, h2, tol, maxit)
    want, iterations = red_black_reference(f, h2, tol, maxit)
    same = np.array_equal(d_u.copy_to_host(), want) and int(d_it.copy_to_host()[0]) == iterations
    return same, iterations, stats


# ------------------------------------------------------------------------------------------------- sort
@ws.jit
def odd_even_sort(values, out, p: ws.constant):
    """Each row of p PEs sorts its values: p phases of compare-exchange with the east or west neighbour."""
    x, y = ws.grid(2)
    v = values[y, x]
    for phase in range(p):
        if x % 2 == phase % 2:                  # the west PE of a pair keeps the smaller value
            if ws.has_neighbor(ws.EAST):
                ws.send(ws.EAST, v)
                v = min(v, ws.recv(ws.EAST))
        elif ws.has_neighbor(ws.WEST):
            ws.send(ws.WEST, v)
            v = max(v, ws.recv(ws.WEST))
    out[y, x] = v


def sort_rows(values: np.ndarray) -> tuple[np.ndarray, ws.LaunchStats]:
    rows, p = values.shape
    dev = ws.Device(ws.WaferSpec.preset("dev", width=p, height=rows))
    d_out = dev.device_array(values.shape, values.dtype)
    stats = odd_even_sort[(1, rows), (p, 1)](dev.to_device(values), d_out, p)
    return d_out.copy_to_host(), stats


def main(small: bool = False) -> None:
    for width, height in ((4, 4), (8, 2)) if small else ((4, 4), (8, 2), (8, 8)):
        err, stats = nbody(width, height)
        assert err < 1e-5, err   # float32 against float64: a few ulps of each of npes * K terms
        print(f"N-body, {width} x {height} PEs, {width * height * K} bodies: relative error {err:.1e} against "
              f"float64; {stats.cycles:,} cycles")
    for width, height in ((6, 6),) if small else ((8, 8), (16, 12)):
        same, iterations, stats = solve(width, height)
        assert same
        print(f"red-black Gauss-Seidel, {width} x {height}: {iterations} iterations, bit for bit NumPy's; "
              f"{stats.cycles:,} cycles ({stats.cycles / iterations:,.0f} an iteration)")
    rng = np.random.default_rng(2)
    for p in (8,) if small else (8, 32):
        for dtype in (np.float32, np.int32):
            values = (rng.standard_normal((3, p)) * 100).astype(dtype)
            got, stats = sort_rows(values)
            assert np.array_equal(got, np.sort(values, axis=1))
            print(f"odd-even sort, 3 rows of {p} {np.dtype(dtype).name}: equal to np.sort; {stats.cycles:,} cycles")


if __name__ == "__main__":
    main(small="--small" in sys.argv)
