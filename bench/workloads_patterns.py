"""More kernels written as a user would write them (from docs/programming-model.md, docs/python-supported.md,
docs/classic-kernels.md and docs/routes.md), each a communication or divergence pattern that
bench/workloads_user.py does not cover. Registered into bench/workloads.py's table (`--only tree,bitonic,...`):

- `tree`: a tree reduction of an 8-word vector per PE over each block: log2 rounds along the rows, then along
  the first column, at doubling distances (words forwarded hop by hop), `ws.syncthreads()` between rounds;
- `bitonic`: a bitonic sort of one key per PE along each row: a compare-exchange with partner x ^ d for
  d = 1, 2, 4, ...; each exchange shifts every key d hops east and d hops west, forwarded word by word;
- `primes`: prime counting and gcds by trial division in device functions with early returns inside loops,
  every PE its own numbers (divergent, data-dependent trip counts);
- `stencil3d`: a 3-D local array per PE (the PE's own column of a 3-D grid), Jacobi sweeps in triple nested
  scalar loops;
- `particles`: particle-in-cell style: each PE moves its particles and sends the leavers east/west, then
  north/south, as vector messages of data-dependent lengths (0 to dozens of words);
- `sparse`: 1% of the PEs (random; 5% at the tiny size) iterate a logistic map for thousands of steps, the rest
  wait at a barrier;
- `redblack`: red-black Gauss-Seidel, one cell per PE: the two colours of a checkerboard take turns, each
  waiting for the other's four values.

Every kernel rounds as its NumPy version does, so results must match bit for bit. Sizes: each full-size launch
runs >= 1e7 PE-instructions in seconds (stop 40's measurements: CHANGELOG.md).
"""
from __future__ import annotations

import functools

import numpy as np

import wafersim as ws
from workload_registry import Case, wafer, workload
from workloads_user import launch

F = np.float32


# ----------------------------------------------------------------------------- tree reduction
TREE_WORDS = 8  # a vector per PE: each message is TREE_WORDS words


def rounds_for(n: int) -> int:
    """log2 rounds of a tree over n PEs (distances 1, 2, 4, ... below n)."""
    return max(n - 1, 0).bit_length()


@functools.lru_cache(maxsize=None)
def tree_kernel(width: int, height: int):
    """The vector sum of every PE's TREE_WORDS values, into PE (0, 0) of the block: at distance d, PE x with
    x % 2d == d sends its partial west d hops (PEs between forward it), PE x with x % 2d == 0 adds it."""
    ROW_ROUNDS, COLUMN_ROUNDS = rounds_for(width), rounds_for(height)

    @ws.jit
    def tree_reduce(values, out):
        x, y = ws.grid(2)
        acc = ws.local.array(TREE_WORDS, np.float32)
        got = ws.local.array(TREE_WORDS, np.float32)
        acc[0:TREE_WORDS] = values[y * width + x, 0:TREE_WORDS]
        d = 1
        for r in range(ROW_ROUNDS):
            j = x % (2 * d)
            if x - j + d < width:            # this pair of subtrees has a right half
                if j == 0:
                    ws.recv(ws.EAST, out=got[0:TREE_WORDS])
                    acc[0:TREE_WORDS] = acc[0:TREE_WORDS] + got[0:TREE_WORDS]
                elif j == d:
                    ws.send(ws.WEST, acc[0:TREE_WORDS])
                elif j < d:                  # between the two: pass it on
                    ws.recv(ws.EAST, out=got[0:TREE_WORDS])
                    ws.send(ws.WEST, got[0:TREE_WORDS])
            d *= 2
            ws.syncthreads()
        d = 1
        for r in range(COLUMN_ROUNDS):       # the row sums, held by column 0, down the column
            j = y % (2 * d)
            if x == 0 and y - j + d < height:
                if j == 0:
                    ws.recv(ws.SOUTH, out=got[0:TREE_WORDS])
                    acc[0:TREE_WORDS] = acc[0:TREE_WORDS] + got[0:TREE_WORDS]
                elif j == d:
                    ws.send(ws.NORTH, acc[0:TREE_WORDS])
                elif j < d:
                    ws.recv(ws.SOUTH, out=got[0:TREE_WORDS])
                    ws.send(ws.NORTH, got[0:TREE_WORDS])
            d *= 2
            ws.syncthreads()
        if x == 0 and y == 0:
            out[0, 0:TREE_WORDS] = acc[0:TREE_WORDS]

    return tree_reduce


def numpy_tree(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """The same tree, in the same order: pairs at distance 1, 2, 4, ... along x, then along y."""
    v = values.reshape(height, width, TREE_WORDS).copy()
    for axis, n in ((1, width), (0, height)):
        d = 1
        while d < n:
            left = np.arange(0, n - d, 2 * d)
            if axis == 1:
                v[:, left] += v[:, left + d]
            else:
                v[left] += v[left + d]
            d *= 2
    return v[0, 0][None, :]


@workload("tree")
def tree_case(size: str, rng: np.random.Generator) -> Case:
    width, height = {"full": (512, 256), "quick": (192, 128), "tiny": (8, 6)}[size]
    values = rng.random((width * height, TREE_WORDS), dtype=np.float32)
    return Case(f"tree reduction of {TREE_WORDS} words per PE, log2 rounds with barriers, {width} x {height} PEs",
                width * height,
                lambda: launch(tree_kernel(width, height), width, height, None, (1, TREE_WORDS), np.float32,
                               values),
                lambda: numpy_tree(values, width, height))


# ----------------------------------------------------------------------------- bitonic sort
@ws.jit
def shifted(v, d, x, width):
    """Send v d hops east and d hops west, forwarding the words of the PEs between (a PE receives the values
    of x - 1, x - 2, ... in that order); give back the partner's value: PE x + d's if x has bit d clear, else
    PE x - d's."""
    if x + 1 < width:
        ws.send(ws.EAST, v)
    if x > 0:
        ws.send(ws.WEST, v)
    from_west = v
    for k in range(min(x, d)):                  # x - 1, x - 2, ..., x - d, nearest first
        from_west = ws.recv(ws.WEST, dtype=np.float32)
        if k + 1 < d and x + 1 < width:
            ws.send(ws.EAST, from_west)
    from_east = v
    for k in range(min(width - 1 - x, d)):
        from_east = ws.recv(ws.EAST, dtype=np.float32)
        if k + 1 < d and x > 0:
            ws.send(ws.WEST, from_east)
    if x & d:
        return from_west
    return from_east


@ws.jit
def bitonic_sort(keys, out, width):
    """Row y's keys sorted ascending along the row, one key per PE (`width` a power of two)."""
    x, y = ws.grid(2)
    v = keys[y, x]
    size = 2
    while size <= width:
        d = size // 2
        while d >= 1:
            partner = shifted(v, d, x, width)
            ascending = (x & size) == 0
            keep_low = ((x & d) == 0) == ascending
            if keep_low:
                v = min(v, partner)
            else:
                v = max(v, partner)
            d //= 2
        size *= 2
    out[y, x] = v


@workload("bitonic")
def bitonic_case(size: str, rng: np.random.Generator) -> Case:
    width, height = {"full": (128, 128), "quick": (64, 32), "tiny": (8, 4)}[size]
    keys = rng.random((height, width), dtype=np.float32)
    return Case(f"bitonic sort along each row, one key per PE, partners d hops away, {width} x {height} PEs",
                width * height,
                lambda: launch(bitonic_sort, width, height, None, keys.shape, np.float32, keys, scalars=(width,)),
                lambda: np.sort(keys, axis=1))


# ----------------------------------------------------------------------------- device functions
@ws.jit
def is_prime(n):
    """1 if n is prime, else 0: trial division by odd numbers, returning as soon as it knows."""
    if n < 2:
        return 0
    if n % 2 == 0:
        return int(n == 2)
    i = 3
    while i * i <= n:
        if n % i == 0:
            return 0
        i += 2
    return 1


@ws.jit
def gcd(a, b):
    while b != 0:
        a, b = b, a % b
    return a


@ws.jit
def prime_stats(starts, out, count):
    """PE me tests `count` consecutive odd numbers from starts[me] and sums gcd(n, me + 1) of the primes."""
    x, y = ws.grid(2)
    me = y * ws.blockDim.x + x
    n = starts[me]
    primes = 0
    gcds = 0
    for k in range(count):
        if is_prime(n) == 1:
            primes += 1
            gcds += gcd(me + 1, n)
        n += 2
    out[me, 0] = primes
    out[me, 1] = gcds


def python_prime_stats(starts: np.ndarray, count: int) -> np.ndarray:
    """The same in NumPy: a sieve up to the largest number tested, NumPy's gcd."""
    numbers = starts[:, None].astype(np.int64) + 2 * np.arange(count)
    sieve = np.ones(int(numbers.max()) + 1, bool)
    sieve[:2] = False
    for p in range(2, int(len(sieve) ** 0.5) + 1):
        if sieve[p]:
            sieve[p * p::p] = False
    prime = sieve[numbers]
    me = np.arange(len(starts))[:, None] + 1
    out = np.stack([prime.sum(axis=1), np.where(prime, np.gcd(numbers, me), 0).sum(axis=1)], axis=1)
    return out.astype(np.int32)


@workload("primes")
def primes_case(size: str, rng: np.random.Generator) -> Case:
    width, height = {"full": (128, 128), "quick": (64, 32), "tiny": (8, 4)}[size]
    count = {"full": 24, "quick": 12, "tiny": 4}[size]
    below = 10_000 if size == "tiny" else 1_000_000
    starts = (2 * rng.integers(0, below // 2, width * height) + 1).astype(np.int32)  # odd numbers
    return Case(f"primes by trial division in device functions with early returns, {count} numbers per PE, "
                f"{width} x {height} PEs", width * height,
                lambda: launch(prime_stats, width, height, None, (width * height, 2), np.int32, starts,
                               scalars=(count,)),
                lambda: python_prime_stats(starts, count))


# ----------------------------------------------------------------------------- 3-D local arrays
NZ, NY, NX = 4, 6, 6  # each PE's own little 3-D grid


@ws.jit
def stencil3d(grid_in, out, sweeps):
    """Jacobi sweeps of the 7-point average over each PE's NZ x NY x NX grid (zero outside), in nested loops."""
    x, y = ws.grid(2)
    me = y * ws.blockDim.x + x
    u = ws.local.array((NZ, NY, NX), np.float32)
    v = ws.local.array((NZ, NY, NX), np.float32)
    for k in range(NZ):
        for j in range(NY):
            u[k, j, 0:NX] = grid_in[me, (k * NY + j) * NX:(k * NY + j + 1) * NX]
    for s in range(sweeps):
        for k in range(NZ):
            for j in range(NY):
                for i in range(NX):
                    t = u[k, j, i]
                    if k > 0:
                        t += u[k - 1, j, i]
                    if k < NZ - 1:
                        t += u[k + 1, j, i]
                    if j > 0:
                        t += u[k, j - 1, i]
                    if j < NY - 1:
                        t += u[k, j + 1, i]
                    if i > 0:
                        t += u[k, j, i - 1]
                    if i < NX - 1:
                        t += u[k, j, i + 1]
                    v[k, j, i] = t * 0.125
        for k in range(NZ):
            for j in range(NY):
                u[k, j, 0:NX] = v[k, j, 0:NX]
    for k in range(NZ):
        for j in range(NY):
            out[me, (k * NY + j) * NX:(k * NY + j + 1) * NX] = u[k, j, 0:NX]


def numpy_stencil3d(grid_in: np.ndarray, sweeps: int) -> np.ndarray:
    """The same sums in the same order (centre, k - 1, k + 1, j - 1, j + 1, i - 1, i + 1; zeros outside add
    nothing: t + 0.0 == t for the non-negative t here)."""
    u = grid_in.reshape(-1, NZ, NY, NX).copy()
    for _ in range(sweeps):
        p = np.zeros((u.shape[0], NZ + 2, NY + 2, NX + 2), F)
        p[:, 1:-1, 1:-1, 1:-1] = u
        c = p[:, 1:-1, 1:-1, 1:-1]
        t = c + p[:, :-2, 1:-1, 1:-1]
        t = t + p[:, 2:, 1:-1, 1:-1]
        t = t + p[:, 1:-1, :-2, 1:-1]
        t = t + p[:, 1:-1, 2:, 1:-1]
        t = t + p[:, 1:-1, 1:-1, :-2]
        t = t + p[:, 1:-1, 1:-1, 2:]
        u = t * F(0.125)
    return u.reshape(grid_in.shape)


@workload("stencil3d")
def stencil3d_case(size: str, rng: np.random.Generator) -> Case:
    width, height = {"full": (128, 128), "quick": (48, 32), "tiny": (4, 2)}[size]
    sweeps = 1 if size == "tiny" else 6
    grid_in = rng.random((width * height, NZ * NY * NX), dtype=np.float32)
    return Case(f"3-D local array per PE, {NZ} x {NY} x {NX}, Jacobi sweeps in nested loops, {width} x {height} PEs, "
                f"{sweeps} sweeps", width * height,
                lambda: launch(stencil3d, width, height, None, grid_in.shape, np.float32, grid_in,
                               scalars=(sweeps,)),
                lambda: numpy_stencil3d(grid_in, sweeps))


# ----------------------------------------------------------------------------- particles
CAP = 32   # particles a PE can hold; each is 4 words: position (x, y) within the PE's cell, velocity (vx, vy)
PW = 4


@ws.jit
def move_axis(parts, n, leave_up, leave_down, a, up_exists, down_exists):
    """Move each of the n particles along axis a (0: x, 1: y): those that leave the cell towards an existing
    neighbour go into leave_up / leave_down (position shifted into that cell), the others stay, in order,
    bouncing off the block's edge. Gives (particles kept, leaving up, leaving down)."""
    keep = 0
    n_up = 0
    n_down = 0
    for i in range(n):
        at = i * PW
        moved = parts[at + a] + parts[at + a + 2]
        if moved >= 1.0 and up_exists:
            leave_up[n_up * PW:n_up * PW + PW] = parts[at:at + PW]
            leave_up[n_up * PW + a] = moved - 1.0
            n_up += 1
        elif moved < 0.0 and down_exists:
            leave_down[n_down * PW:n_down * PW + PW] = parts[at:at + PW]
            leave_down[n_down * PW + a] = moved + 1.0
            n_down += 1
        else:
            to = keep * PW
            if to != at:
                parts[to:to + PW] = parts[at:at + PW]
            if moved >= 1.0 or moved < 0.0:
                parts[to + a + 2] = -parts[to + a + 2]       # the block's edge: bounce, stay put
            else:
                parts[to + a] = moved
            keep += 1
    return keep, n_up, n_down


@ws.jit
def send_leavers(toward_up, toward_down, up, n_up, down, n_down):
    """The leavers' count, then their words (if any), to each neighbour that exists."""
    if ws.has_neighbor(toward_up):
        ws.send(toward_up, n_up)
        if n_up > 0:
            ws.send(toward_up, up[0:n_up * PW])
    if ws.has_neighbor(toward_down):
        ws.send(toward_down, n_down)
        if n_down > 0:
            ws.send(toward_down, down[0:n_down * PW])


@ws.jit
def receive_arrivals(parts, n, from_down, from_up):
    """Append what the neighbour on the "down" side sends, then the "up" side's: gives the new count."""
    for side in (from_down, from_up):
        if ws.has_neighbor(side):
            m = ws.recv(side, dtype=np.int32)
            if m > 0:
                ws.recv(side, out=parts[n * PW:(n + m) * PW])
                n += m
    return n


@ws.jit
def trade(parts, n, up, n_up, down, n_down, toward_up, toward_down, send_first):
    """Exchange leavers with both neighbours along one axis. PEs of one parity send first and the others
    receive first, so that messages longer than a FIFO cannot deadlock."""
    if send_first:
        send_leavers(toward_up, toward_down, up, n_up, down, n_down)
    n = receive_arrivals(parts, n, toward_down, toward_up)
    if not send_first:
        send_leavers(toward_up, toward_down, up, n_up, down, n_down)
    return n


@functools.lru_cache(maxsize=None)
def particles_kernel(steps: int):
    @ws.jit
    def particles(parts_in, counts, out):
        x, y = ws.grid(2)
        me = y * ws.blockDim.x + x
        parts = ws.local.array(CAP * PW, np.float32)
        up = ws.local.array(CAP * PW, np.float32)
        down = ws.local.array(CAP * PW, np.float32)
        parts[0:CAP * PW] = parts_in[me, 0:CAP * PW]
        n = counts[me]
        for s in range(steps):
            # along x, east is "up"; then along y, south is "up"
            n, n_up, n_down = move_axis(parts, n, up, down, 0, ws.has_neighbor(ws.EAST), ws.has_neighbor(ws.WEST))
            n = trade(parts, n, up, n_up, down, n_down, ws.EAST, ws.WEST, x % 2 == 0)
            n, n_up, n_down = move_axis(parts, n, up, down, 1, ws.has_neighbor(ws.SOUTH), ws.has_neighbor(ws.NORTH))
            n = trade(parts, n, up, n_up, down, n_down, ws.SOUTH, ws.NORTH, y % 2 == 0)
        out[me, 0] = n
        if n > 0:
            out[me, 1:1 + n * PW] = parts[0:n * PW]

    return particles


def numpy_particles(parts_in: np.ndarray, counts: np.ndarray, width: int, height: int, steps: int) -> np.ndarray:
    """The same moves on one table of every particle, kept ordered as the PEs hold them (by PE, then slot):
    after each axis, a stable sort by (new PE, kept / from the down side / from the up side)."""
    owner = np.repeat(np.arange(width * height), counts)
    slots = np.concatenate([np.arange(c) for c in counts]) if counts.size else np.zeros(0, int)
    p = parts_in.reshape(-1, CAP, PW)[owner, slots].copy()
    for _ in range(steps):
        for a, stride, extent in ((0, 1, width), (1, width, height)):
            coord = owner % width if a == 0 else owner // width
            moved = p[:, a] + p[:, a + 2]
            up = (moved >= F(1)) & (coord + 1 < extent)
            down = (moved < F(0)) & (coord > 0)
            bounce = ((moved >= F(1)) | (moved < F(0))) & ~up & ~down
            stay = ~up & ~down & ~bounce
            p[stay, a] = moved[stay]
            p[bounce, a + 2] = -p[bounce, a + 2]
            p[up, a] = moved[up] - F(1)
            p[down, a] = moved[down] + F(1)
            owner = owner + stride * (up.astype(int) - down.astype(int))
            arrival = np.where(up, 1, np.where(down, 2, 0))   # arrived from the down side first, then the up side
            order = np.lexsort((np.arange(len(owner)), arrival, owner))
            p, owner = p[order], owner[order]
    n = np.bincount(owner, minlength=width * height)
    assert n.max() <= CAP, f"a PE would hold {n.max()} particles, more than {CAP}"
    out = np.zeros((width * height, 1 + CAP * PW), F)
    out[:, 0] = n
    slot = np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
    rows = out[:, 1:].reshape(-1, CAP, PW)
    rows[owner, slot] = p
    return out


@workload("particles")
def particles_case(size: str, rng: np.random.Generator) -> Case:
    width, height = {"full": (128, 128), "quick": (64, 32), "tiny": (6, 4)}[size]
    steps = 3 if size == "tiny" else 8
    counts = rng.integers(0, 7, width * height).astype(np.int32)
    parts_in = np.zeros((width * height, CAP, PW), F)
    parts_in[..., 0:2] = rng.random((width * height, CAP, 2), dtype=np.float32)
    parts_in[..., 2:4] = rng.random((width * height, CAP, 2), dtype=np.float32) - F(0.5)
    parts_in[np.arange(CAP)[None, :] >= counts[:, None]] = 0.0
    parts_in = parts_in.reshape(width * height, CAP * PW)
    return Case(f"particle-in-cell moves: 0-6 particles per PE at first, leavers sent as vector messages of "
                f"data-dependent length in four directions, {width} x {height} PEs, {steps} steps", width * height,
                lambda: launch(particles_kernel(steps), width, height, None, (width * height, 1 + CAP * PW),
                               np.float32, parts_in, counts),
                lambda: numpy_particles(parts_in, counts, width, height, steps))


# ----------------------------------------------------------------------------- sparse work
@ws.jit
def sparse_work(seeds, active, out, iterations):
    """The PEs flagged in `active` iterate the logistic map from their seed; all meet at a barrier, then
    write (an idle PE its seed)."""
    x, y = ws.grid(2)
    v = seeds[y, x]
    if active[y, x] == 1:
        for k in range(iterations):
            v = 3.75 * v * (1.0 - v)
    ws.syncthreads()
    out[y, x] = v


def numpy_sparse(seeds: np.ndarray, active: np.ndarray, iterations: int) -> np.ndarray:
    v = seeds.copy()
    mask = active == 1
    w = v[mask]
    for _ in range(iterations):
        w = F(3.75) * w * (F(1) - w)
    v[mask] = w
    return v


@workload("sparse")
def sparse_case(size: str, rng: np.random.Generator) -> Case:
    width, height, device = wafer(size)
    iterations = 50 if size == "tiny" else 2000
    seeds = (rng.random((height, width), dtype=np.float32) * F(0.8) + F(0.1)).astype(F)
    share = 0.05 if size == "tiny" else 0.01  # (a few PEs of a tiny block)
    active = (rng.random((height, width)) < share).astype(np.int32)
    return Case(f"{share:.0%} of the PEs (random) iterate a logistic map {iterations} times, the others wait at a "
                "barrier, "
                f"{width} x {height} PEs", width * height,
                lambda: launch(sparse_work, width, height, device(), seeds.shape, np.float32, seeds, active,
                               scalars=(iterations,)),
                lambda: numpy_sparse(seeds, active, iterations))


# ----------------------------------------------------------------------------- red-black Gauss-Seidel
@ws.jit
def neighbours_sum():
    """A value received from each neighbour (none past the block's edge), summed north + south + east + west
    in that order, from 0.0."""
    total = 0.0
    for side in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
        if ws.has_neighbor(side):
            total += ws.recv(side, dtype=np.float32)
    return total


@ws.jit
def to_neighbours(v):
    for side in (ws.NORTH, ws.SOUTH, ws.EAST, ws.WEST):
        if ws.has_neighbor(side):
            ws.send(side, v)


@ws.jit
def red_black(u_in, f_in, out, sweeps):
    """Gauss-Seidel sweeps for -laplace(u) = f (h = 1, u = 0 outside the block), red cells (x + y even) first:
    each colour updates from the other's latest values, sent to it as messages."""
    x, y = ws.grid(2)
    u = u_in[y, x]
    f = f_in[y, x]
    red = (x + y) % 2 == 0
    if not red:
        to_neighbours(u)                      # the red cells' first update reads the black cells' start
    for s in range(sweeps):
        u = (neighbours_sum() + f) * 0.25
        if red or s + 1 < sweeps:             # the black cells' last values are nobody's input
            to_neighbours(u)
    out[y, x] = u


def numpy_red_black(u: np.ndarray, f: np.ndarray, sweeps: int) -> np.ndarray:
    height, width = u.shape
    red = (np.add.outer(np.arange(height), np.arange(width)) % 2) == 0
    u = u.copy()
    for _ in range(sweeps):
        for colour in (red, ~red):
            p = np.zeros((height + 2, width + 2), F)
            p[1:-1, 1:-1] = u
            total = F(0) + p[:-2, 1:-1]            # (0.0 + north: the kernel starts its sum from 0.0)
            total = total + p[2:, 1:-1]
            total = total + p[1:-1, 2:]
            total = total + p[1:-1, :-2]
            u = np.where(colour, (total + f) * F(0.25), u)
    return u


@workload("redblack")
def redblack_case(size: str, rng: np.random.Generator) -> Case:
    width, height = {"full": (384, 256), "quick": (96, 64), "tiny": (6, 4)}[size]
    sweeps = 3 if size == "tiny" else 20
    u = rng.random((height, width), dtype=np.float32)
    f = rng.random((height, width), dtype=np.float32)
    return Case(f"red-black Gauss-Seidel, one cell per PE, a checkerboard taking turns, {width} x {height} PEs, "
                f"{sweeps} sweeps", width * height,
                lambda: launch(red_black, width, height, None, u.shape, np.float32, u, f, scalars=(sweeps,)),
                lambda: numpy_red_black(u, f, sweeps))
