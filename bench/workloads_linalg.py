"""Four more benchmarks ported as a new user would port them (from the docs alone), registered into
bench/workloads.py's table (`--only gemv2d,pcr,bicgstab7,trsv`):

- `gemv2d`: csl-examples' gemv-collectives_2d, y = A x + b over a P x Q block: row 0 loads x's segments and
  `wsc.column_broadcast_array` multicasts them down the columns, each PE's column-major tile times its segment
  as column axpys, `wsc.row_reduce_array` streams the partial sums west to column 0, which adds b; `reps` times;
- `pcr`: a batched tridiagonal solve by parallel cyclic reduction (cuSPARSE's gtsv2StridedBatch; no
  csl-examples twin), one system a row of PEs and one unknown a PE: at step s = 1, 2, 4, ... each row's
  (a, b, c, d) travels s hops east and west, chained through the neighbours;
- `bicgstab7`: csl-examples' bicgstab, unpreconditioned BiCGSTAB on a nonsymmetric 7-point stencil, X and Y
  over PEs and each PE's z column in SRAM: two stencil applications an iteration (the four halo columns
  exchanged in fifo-deep chunks) and four dot products (`ws.dot`, then `wsc.block_all_reduce`);
- `trsv`: a lower-triangular solve L x = b (forward substitution by columns; no csl-examples twin, a step of
  their LU and Cholesky), several right-hand sides a row of PEs, PE p holding rows p*B .. p*B + B - 1 of L in
  SRAM: the solved blocks x_0 .. x_{p-1} arrive from the west and are forwarded east (B-word messages), each
  subtracted as B column axpys in a loop whose trip count is the PE's column (`range(p)`), then x_p is solved
  and sent east: a pipeline whose work grows along the row.

The kernels round as their NumPy versions do (the same order of operations): results match bit for bit.
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


# ----------------------------------------------------------------------------- BiCGSTAB on a 7-point stencil
HALO_CHUNK = 16                                  # fifo_depth: words both neighbours may send before receiving
HALO_DIRS = (ws.WEST, ws.EAST, ws.NORTH, ws.SOUTH)
#: c0, then the W, E, N, S, down and up neighbours' coefficients: nonsymmetric (W != E), diagonally dominant.
STENCIL7_COEFS = np.array([6.5, -1.2, -0.8, -1.0, -1.0, -1.1, -0.9], F)


@ws.jit
def stencil7_apply(src, dst, halo, coef, nz):
    """dst[1:nz+1] = A src: the four halo columns in chunks of fifo_depth words (send all, then receive),
    Z's neighbours from src's zero-padded ends; halo columns past the block's edge stay zero."""
    for c in range(0, nz, HALO_CHUNK):
        for d in HALO_DIRS:
            if ws.has_neighbor(d):
                ws.send(d, src[1 + c:1 + c + HALO_CHUNK])
        for k in (0, 1, 2, 3):
            if ws.has_neighbor(HALO_DIRS[k]):
                ws.recv(HALO_DIRS[k], out=halo[k, c:c + HALO_CHUNK])
    dst[1:nz + 1] = src[1:nz + 1] * coef[0]
    for k in (0, 1, 2, 3):
        dst[1:nz + 1] = halo[k, 0:nz] * coef[1 + k] + dst[1:nz + 1]
    dst[1:nz + 1] = src[0:nz] * coef[5] + dst[1:nz + 1]
    dst[1:nz + 1] = src[2:nz + 2] * coef[6] + dst[1:nz + 1]


@ws.jit
def column_dot(a, b, nz):
    """The block-wide dot product: this column's left to right, then the chains' all-reduce."""
    return wsc.block_all_reduce(ws.dot(a[1:nz + 1], b[1:nz + 1]), wsc.SUM, 0)


@ws.jit
def bicgstab7(b_cols, x_cols, coefs, iters, nz: ws.constant):
    """`iters` BiCGSTAB iterations (x0 = 0, r~ = b, no preconditioner) on A = the 7-point stencil; PE (px, py)
    holds the padded columns (nz + 2 words, zero ends) of its grid column."""
    pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    coef = ws.local.array(7, np.float32)
    coef[0:7] = coefs[0:7]
    halo = ws.local.array((4, nz), np.float32)
    x = ws.local.array(nz + 2, np.float32)
    r = ws.local.array(nz + 2, np.float32)
    rhat = ws.local.array(nz + 2, np.float32)
    p = ws.local.array(nz + 2, np.float32)
    v = ws.local.array(nz + 2, np.float32)
    s = ws.local.array(nz + 2, np.float32)
    t = ws.local.array(nz + 2, np.float32)
    r[1:nz + 1] = b_cols[pe, 0:nz]
    rhat[1:nz + 1] = r[1:nz + 1]
    rho = 1.0
    alpha = 1.0
    omega = 1.0
    for _ in range(iters):
        rho_new = column_dot(rhat, r, nz)
        beta = (rho_new / rho) * (alpha / omega)
        rho = rho_new
        p[1:nz + 1] = p[1:nz + 1] - v[1:nz + 1] * omega
        p[1:nz + 1] = p[1:nz + 1] * beta + r[1:nz + 1]
        stencil7_apply(p, v, halo, coef, nz)
        alpha = rho / column_dot(rhat, v, nz)
        s[1:nz + 1] = r[1:nz + 1] - v[1:nz + 1] * alpha
        stencil7_apply(s, t, halo, coef, nz)
        omega = column_dot(t, s, nz) / column_dot(t, t, nz)
        x[1:nz + 1] = p[1:nz + 1] * alpha + x[1:nz + 1]
        x[1:nz + 1] = s[1:nz + 1] * omega + x[1:nz + 1]
        r[1:nz + 1] = s[1:nz + 1] - t[1:nz + 1] * omega
    x_cols[pe, 0:nz] = x[1:nz + 1]


def numpy_bicgstab7(b: np.ndarray, iters: int) -> np.ndarray:
    """The kernel's iterations on b[ny, nx, nz] (every PE's column at once) in float32 and its order: each
    dot product left to right along z, then the all-reduce's chains (each row from its east end to column 0,
    then column 0 from its south end to row 0)."""
    c = STENCIL7_COEFS

    def dot(u: np.ndarray, w: np.ndarray) -> F:
        part = u[:, :, 0] * w[:, :, 0]
        for z in range(1, u.shape[2]):
            part = part + u[:, :, z] * w[:, :, z]
        acc = part[:, -1]
        for px in range(part.shape[1] - 2, -1, -1):
            acc = part[:, px] + acc
        total = acc[-1]
        for py in range(part.shape[0] - 2, -1, -1):
            total = acc[py] + total
        return total

    def apply(u: np.ndarray) -> np.ndarray:
        padded = np.pad(u, 1)
        out = u * c[0]
        for k, (dy, dx) in enumerate(((0, -1), (0, 1), (-1, 0), (1, 0))):   # W, E, N, S
            out = padded[1 + dy:padded.shape[0] - 1 + dy, 1 + dx:padded.shape[1] - 1 + dx, 1:-1] * c[1 + k] + out
        out = padded[1:-1, 1:-1, :-2] * c[5] + out
        return padded[1:-1, 1:-1, 2:] * c[6] + out

    x, p, v = (np.zeros_like(b) for _ in range(3))
    r, rhat = b.copy(), b.copy()
    rho = alpha = omega = F(1)
    for _ in range(iters):
        rho_new = dot(rhat, r)
        beta = (rho_new / rho) * (alpha / omega)
        rho = rho_new
        p = (p - v * omega) * beta + r
        v = apply(p)
        alpha = rho / dot(rhat, v)
        s = r - v * alpha
        t = apply(s)
        omega = dot(t, s) / dot(t, t)
        x = s * omega + (p * alpha + x)
        r = s - t * omega
    return x


def simulate_bicgstab7(b: np.ndarray, iters: int, spec: str) -> tuple[np.ndarray, LaunchStats]:
    ny, nx, nz = b.shape
    device = ws.Device(ws.WaferSpec.preset(spec, width=nx, height=ny))
    d_x = device.device_array((ny * nx, nz), F)
    stats = bicgstab7[1, (nx, ny)](device.to_device(b.reshape(ny * nx, nz)), d_x, device.to_device(STENCIL7_COEFS),
                                   iters, nz)
    return d_x.copy_to_host().reshape(ny, nx, nz), stats


@workload("bicgstab7")
def bicgstab7_case(size: str, rng: np.random.Generator) -> Case:
    nx, ny, nz, iters = {"full": (32, 32, 64, 40), "quick": (16, 16, 32, 20), "tiny": (5, 3, 32, 4)}[size]
    b = rng.standard_normal((ny, nx, nz)).astype(F)
    return Case(f"BiCGSTAB on a nonsymmetric 7-point stencil, {nz} x {ny} x {nx} grid, z columns in SRAM, halos in "
                f"fifo-deep chunks, 4 block all-reduces an iteration, {iters} iterations, {nx} x {ny} PEs (wse2)",
                nx * ny, lambda: simulate_bicgstab7(b, iters, "wse2"), lambda: numpy_bicgstab7(b, iters))


# ----------------------------------------------------------------------------- triangular solve along rows
@ws.jit
def trsv_block(cols, diag, acc, xs, b, x_out, row, p, nb):
    """One right-hand side: x_0 .. x_{p-1} from the west (each forwarded east, then B axpys), then the
    diagonal block column by column, x_p east."""
    acc[0:nb] = b[row, p * nb:p * nb + nb]
    for j in range(p):
        ws.recv(ws.WEST, out=xs[0:nb])
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, xs[0:nb])
        for c in range(nb):
            k = j * nb + c
            acc[0:nb] = cols[k * nb:k * nb + nb] * (-xs[c]) + acc[0:nb]
    for c in range(nb):
        xc = acc[c] / diag[c]
        xs[c] = xc
        k = p * nb + c
        acc[0:nb] = cols[k * nb:k * nb + nb] * (-xc) + acc[0:nb]
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, xs[0:nb])
    x_out[row, p * nb:p * nb + nb] = xs[0:nb]


@ws.jit
def trsv_rows(l_cols, l_diag, b, x_out, nrhs, nb: ws.constant, n: ws.constant):
    """L x = b for `nrhs` right-hand sides a row of PEs: PE p keeps rows p*nb .. p*nb + nb - 1 of L (columns
    0 .. p*nb + nb - 1, column-major, its diagonal and above zero) and its diagonal in SRAM."""
    p, y = ws.grid(2)
    cols = ws.local.array(n * nb, np.float32)
    acc = ws.local.array(nb, np.float32)
    xs = ws.local.array(nb, np.float32)
    diag = ws.local.array(nb, np.float32)
    m = (p + 1) * nb * nb
    cols[0:m] = l_cols[p, 0:m]
    diag[0:nb] = l_diag[p, 0:nb]
    for r in range(nrhs):
        trsv_block(cols, diag, acc, xs, b, x_out, y * nrhs + r, p, nb)


def trsv_layout(low: np.ndarray, pes: int, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """PE p's row block of L's strict lower part, columns 0 .. (p+1)*nb - 1 column-major; L's diagonal."""
    strict = np.tril(low, -1)
    cols = np.zeros((pes, pes * nb * nb), F)
    for p in range(pes):
        block = strict[p * nb:(p + 1) * nb, :(p + 1) * nb]
        cols[p, :block.size] = block.T.reshape(-1)
    return cols, np.diag(low).reshape(pes, nb).copy()


def numpy_trsv(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Forward substitution in the kernel's order: x_k = acc_k / L_kk, then acc += L[:, k] * (-x_k) (rounded
    twice), over every right-hand side (row of `rhs`) at once."""
    strict = np.tril(low, -1)
    acc = rhs.copy()
    x = np.zeros_like(rhs)
    for k in range(low.shape[0]):
        x[:, k] = acc[:, k] / low[k, k]
        acc = strict[:, k][None, :] * (-x[:, k:k + 1]) + acc
    return x


def simulate_trsv(low: np.ndarray, rhs: np.ndarray, pes: int, rows: int, nb: int) -> tuple[np.ndarray, LaunchStats]:
    cols, diag = trsv_layout(low, pes, nb)
    device = ws.Device(ws.WaferSpec(width=pes, height=rows))
    d_x = device.device_array(rhs.shape, F)
    stats = trsv_rows[1, (pes, rows)](device.to_device(cols), device.to_device(diag), device.to_device(rhs), d_x,
                                      rhs.shape[0] // rows, nb, pes * nb)
    return d_x.copy_to_host(), stats


@workload("trsv")
def trsv_case(size: str, rng: np.random.Generator) -> Case:
    pes, nb, rows, nrhs = {"full": (32, 8, 64, 4), "quick": (16, 8, 16, 2), "tiny": (4, 4, 3, 2)}[size]
    n = pes * nb
    low = np.tril(rng.standard_normal((n, n)).astype(F) * F(0.1))
    np.fill_diagonal(low, F(1) + rng.random(n).astype(F))
    rhs = rng.standard_normal((rows * nrhs, n)).astype(F)
    return Case(f"lower-triangular solve, n = {n}, {nrhs} right-hand sides a row, solved blocks of {nb} passed "
                f"east and forwarded, {pes} x {rows} PEs", pes * rows,
                lambda: simulate_trsv(low, rhs, pes, rows, nb), lambda: numpy_trsv(low, rhs))
