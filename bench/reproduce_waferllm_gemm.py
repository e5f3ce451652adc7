"""WaferLLM's MeshGEMM (He et al., "WaferLLM: Large Language Model Inference at Wafer Scale", OSDI 2025,
arXiv:2502.04563) on the `wse2` preset: C = X @ W in 16-bit floats on a P x P block of PEs, every tile
resident, the tiles of X and W cycled round the rows and columns of PEs as in Cannon's algorithm, but
along an interleaved ring whose every shift is an exchange with a PE at most two hops away.

    python bench/reproduce_waferllm_gemm.py [--sizes 1024:64] [--unroll 16] [--device-skew]

NO PUBLISHED FIGURE IS COMPARED: the paper gives none for MeshGEMM. Its section 7.2 ("MeshGEMM",
https://www.usenix.org/system/files/osdi25-he.pdf; arXiv:2502.04563v3) compares MeshGEMM with SUMMA and
Cannon on a WSE-2 in Figure 9 only, a plot of latency (its communication shaded) for GEMM 2K to 8K on
up to 720 x 720 cores, and states ratios: MeshGEMM keeps "over 70% computational efficiency even near
the hardware limit" where SUMMA and Cannon fall below 50% at 720 x 720, and at larger matrices it
reduces total cycles "by around 17%"; its per-step communication is "bounded ... to a constant,
independent of core count". No table gives a MeshGEMM time for a stated size and grid (its Tables 2-4
and 7 are whole-model prefill and decode throughputs, Table 6 the MeshGEMV times of
bench/reproduce_waferllm_gemv.py). So this script prints simulated cycles, the microseconds they make at
the artifact's clock (`freq_ghz = 1.1` in MeshGEMM/WSE-2/launch_wse2.py), and, as the nearest analogue
of the paper's "computational efficiency", the compute share: the cycles of the same P steps with no
shifts (each PE multiplying its own tiles) over the product's. It runs the artifact's
own example (`run_wse2.sh 64 1024 1024 1024`: [1024, 1024] @ [1024, 1024] on 64 x 64 PEs); docs/timing.md
has no row for it.

The algorithm, after the artifact (github.com/MeshInfra/WaferLLM, MeshGEMM/WSE-2/src: meshgemm.csl,
comm_lib/comm_pe.csl, comm_lib/comm_layout.csl; launch_wse2.py):

- PE (px, py) keeps an Mt x Kt tile of X (column-major: column k contiguous, the vector operand of a
  16-bit fma), a Kt x Nt tile of W (row-major) and the Mt x Nt result (column j contiguous), float16
  (`@fmach`, `mov16`);
- the ring: position i of a row (or column) of P PEs is physical PE `ring(P)[i]`, the even PEs going out
  and the odd ones coming back (0, 2, 4, ..., 5, 3, 1), so ring neighbours are at most 2 hops apart and
  every link carries one shift per direction (the artifact's `assignId` and its three interleaved colours);
  here one routed channel per axis carries all of them: a PE's router takes its own tile out towards
  its ring predecessor, passes the tile it does not want straight on, and delivers the one addressed to
  it (`shift_route`);
- Cannon on ring coordinates (i, j) = (ring position of py, of px): PE (i, j) starts with X[i, (i+j) % P]
  and W[(i+j) % P, j] (the host skews both by default; the artifact skews W on the host and X on the
  device in P / 2 timed shift steps, which `--device-skew` does too: row i's X tiles go i ring positions
  back, or P - i forward where that is fewer, on a second routed channel for the forward ones, before the
  first product), and in each of P steps computes res += X_tile @ W_tile
  while both tiles move to the ring predecessors in the background (`send_async` / `recv_async` into a
  second buffer: the artifact's `@mov16(..., .async = true)` with its compute over the tile being
  sent), then waits for them. After P steps every tile is back where it started, so the product repeats.

The tile product is the artifact's loop: for each k, for each column j of W's row k, one 16-bit vector fma
of length Mt, res[:, j] += X[:, k] * W[k, j] (Kt * Nt fmas of ceil(Mt / 4) cycles on wse2's 4 float16
lanes), `--unroll` columns a trip (the compiler unrolls the rest of the row: its bounds are constants).
W's float16 values are held in float32 words (a float16 takes a whole 32-bit word here anyway,
docs/python-supported.md, so the shifts move the same words): the scalar operand of an fma is then one
load, where a float16 one is a load and a conversion (`h2f`), and the products are bit for bit the same.
`ws.outer_add` (one `vger` per k) would be one issue, but it computes in 32-bit words only (float32 at
wse2's one lane a cycle: Mt * Nt cycles per k, 4 times the float16 rate). Tuned on [64,64] @ [64,64] on
4 x 4 PEs (tiles 16 x 16), as a kernel's author would, not fitted to any published figure (there is
none): W in float32 words saved a cycle per fma (9,423 -> 8,394 cycles a product at unroll 4; 10,430
-> 9,406 with running offsets); the indexed loop (offsets (j + u) * Mt, folded by the compiler) beat
running offsets (8,394 vs 9,406); and
unrolls 1, 2, 4, 8 and 16 gave 9,930, 8,906, 8,394, 8,165 and 8,037 cycles, so the default is the
largest of 16, 8, 4, 2, 1 that divides Nt. A step then costs ~7.45 cycles per fma (a load, an address and
the 5-cycle fma) against the 5 of `model_cycles`.

Result (wse2, this host: 137 s for the four launches): [1024, 1024] @ [1024, 1024] on 64 x 64 PEs takes
122,063 cycles a product, 111.0 us at 1.1 GHz (143.6 us at wse2's 0.85 GHz), 1,907 cycles a step against
the structure's bound of 1,280 (256 fmas at 5 cycles); the same steps with no shifts take 98.8% of it (at
first 124,497 cycles and 98.5%: compiler improvements since, stop 56's rerun).
What differs from the hardware, and would matter against a published time: (1) the artifact's `@map` over
`@fmach` streams W's row through one DSD loop, where our PE issues a scalar load and an address per fma
(~7.45 cycles an fma here against the bound's 5); (2) our background transfers share neither the PE's
SRAM ports nor its ramp with the fmas (docs/timing.md, "Background transfers": not modelled), so the
shifts hide almost entirely, where the paper reports over 70% computational efficiency on 720 x 720
cores with tiles of a few elements; (3) X is skewed on the host by default, not in P / 2 timed device
shifts: with `--device-skew` the launch takes 8,804 cycles more (32 shifts of a 256-word tile, ~275 cycles
each against `model_cycles`' 262; 8.0 us at 1.1 GHz, 7% of one product), once before the products, whose
period is one cycle longer (122,064 cycles against 122,063: the start buffer is then a variable); this host took 386 s for the
two host-skewed launches and 1,091 s for the two device-skewed ones (a loaded machine; the skew's rows
run different shift counts, divergent groups for the engine); (4)
one routed channel per axis stands for the artifact's three interleaved colours.

The time is (cycles with 3 products - cycles with 1) / 2: the steady-state period, as the artifact's
average over 100 back-to-back products (`total_repeat_times = 100` after 10 warm-ups); every PE's result
is checked against NumPy (integer-valued data in {-1, 0, 1}: every partial sum is exact in float16 up
to K = 2048).
"""
from __future__ import annotations

import argparse
import functools
import math
import time

import numpy as np

import wafersim as ws
from wafersim.isa.opcodes import ACCEPT, EAST, NORTH, RAMP, SOUTH, WEST

PAPER_CLOCK_HZ = 1.1e9  # the artifact's freq_ghz = 1.1 (MeshGEMM/WSE-2/launch_wse2.py); paper section 7
X_SHIFT, W_SHIFT = 1, 2  # routed channels: X along the rows, W along the columns
X_BACK = 3  # `device_skew`: X along the rows to the ring successors (the skew's rows past P / 2)


def ring(n: int) -> list[int]:
    """The interleaved ring of n PEs: physical PE of ring position i (evens out, odds back)."""
    if n < 3:
        return list(range(n))
    return list(range(0, n, 2)) + list(range(n - 1 if (n - 1) % 2 else n - 2, 0, -2))


def ring_positions(n: int) -> np.ndarray:
    """pos[p] = the ring position of physical PE p."""
    pos = np.empty(n, np.int64)
    pos[ring(n)] = np.arange(n)
    return pos


def shift_flows(n: int, successor: bool = False) -> list[tuple[int, int]]:
    """(source, destination) physical PEs of one shift: each PE sends to its ring predecessor (or successor)."""
    r = ring(n)
    if successor:
        return [(r[i - 1], r[i]) for i in range(n)] if n > 1 else []
    return [(r[i], r[i - 1]) for i in range(n)] if n > 1 else []


def shift_route(channel: int, n: int, vertical: bool, successor: bool = False) -> "ws.routes.Route":
    """A routed channel that moves every PE's tile to its ring predecessor (or successor) along each row (or
    column) of n PEs: at most 2 hops, every directed link used by one shift (checked here)."""
    fwd, back = (SOUTH, NORTH) if vertical else (EAST, WEST)  # the port towards larger / smaller positions
    rules: list[dict[int, int]] = [{} for _ in range(n)]
    used = set()

    def rule(p: int, into: int, out: int) -> None:
        if into in rules[p]:
            raise AssertionError(f"ring shift: two rules for input {into} at PE {p}")
        rules[p][into] = out

    for src, dst in shift_flows(n, successor):
        step, out, came = (1, fwd, back) if dst > src else (-1, back, fwd)
        rule(src, RAMP, out)
        for p in range(src + step, dst, step):
            rule(p, came, out)
        rule(dst, came, RAMP)
        for p in range(src, dst, step):
            if (p, step) in used:
                raise AssertionError(f"ring shift: link {p} -> {p + step} used twice")
            used.add((p, step))

    def table(bx: int, by: int) -> np.ndarray:
        masks = np.zeros((5, by, bx), dtype=np.uint8)
        for p, r in enumerate(rules):
            for into, out in r.items():
                if vertical:
                    masks[into][p, :] = 1 << out | ACCEPT
                else:
                    masks[into][:, p] = 1 << out | ACCEPT
        return masks

    return ws.routes.Route(channel, table, f"meshgemm ring shift {'columns' if vertical else 'rows'}"
                                           f"{' back' if successor else ''}")


@ws.jit
def start_ring_shift(tiles, old, new, size, sends_first, channel):
    """One ring shift of a tile, in the background: [old, old + size) leaves for the ring neighbour while the
    other neighbour's arrives at [new, new + size). PEs at even ring positions send before they receive, the
    others receive first (`sends_first`), so that no cycle of waits forms."""
    if sends_first == 1:
        ws.send_async(ws.RAMP, tiles[old:old + size], channel=channel)
        ws.recv_async(ws.RAMP, out=tiles[new:new + size], channel=channel)
    else:
        ws.recv_async(ws.RAMP, out=tiles[new:new + size], channel=channel)
        ws.send_async(ws.RAMP, tiles[old:old + size], channel=channel)
    return 0


@ws.jit
def finish_ring_shift(channel):
    """Wait for `start_ring_shift`'s two transfers on `channel`."""
    ws.send_wait(ws.RAMP, channel=channel)
    ws.recv_wait(ws.RAMP, channel=channel)
    return 0


@functools.lru_cache(maxsize=None)
def kernel(P: int, MT: int, KT: int, NT: int, UNROLL: int, SHIFT: bool = True, SKEW_X: bool = False):
    """MeshGEMM on P x P PEs with X tiles MT x KT and W tiles KT x NT (float16), UNROLL fmas a loop trip;
    without SHIFT, the same P steps with no communication (each PE multiplies its own tiles P times: the
    compute alone, for the compute share). SKEW_X: X comes unskewed (PE (i, j) holds X[i, j]) and the kernel
    skews it first, as the artifact does: row i's tiles move i ring positions back, or P - i forward where
    that is fewer (channel X_BACK), so at most P / 2 timed shifts, before the first product."""
    SHIFTS = SHIFT and P > 1
    SKEWS = SKEW_X and P > 1
    XS, WS_ = MT * KT, KT * NT
    X0, X1, W0, W1 = 0, XS, 0, WS_  # two buffers of each tile: one computed with, one arriving
    RES = MT * NT
    if NT % UNROLL:
        raise ValueError(f"the unroll {UNROLL} must divide Nt = {NT}")
    OFFSETS = tuple(range(UNROLL))
    pos = tuple(int(v) for v in ring_positions(P))

    @ws.jit(boundscheck=False)  # every index is in range by construction; results checked against NumPy
    def meshgemm(tiles, wtiles, out, reps):
        px, py = ws.grid(2)
        buf = ws.local.array(2 * XS, np.float16)
        wbuf = ws.local.array(2 * WS_, np.float32)  # W's float16 values in float32 words (see the docstring)
        res = ws.local.array(RES, np.float16)
        me = py * P + px
        buf[X0:X0 + XS] = tiles[me, 0:XS]
        wbuf[W0:W0 + WS_] = wtiles[me, 0:WS_]
        # a shift is a ring: the PEs at even ring positions send before they receive, the others receive
        # first, so that no cycle of waits forms (ring position: p // 2 for even p, P - 1 - p // 2 for odd)
        xfirst = 1
        if px % 2 == 1 and (P - 1 - px // 2) % 2 == 1:
            xfirst = 0
        if px % 2 == 0 and (px // 2) % 2 == 1:
            xfirst = 0
        wfirst = 1
        if py % 2 == 1 and (P - 1 - py // 2) % 2 == 1:
            wfirst = 0
        if py % 2 == 0 and (py // 2) % 2 == 1:
            wfirst = 0
        xstart = X0
        if SKEWS:  # Cannon's skew of X on the device: row i (ring position of py) shifts its tiles i positions
            i = py // 2 if py % 2 == 0 else P - 1 - py // 2
            back = 2 * i > P  # fewer shifts to the successors: P - i of them
            count = P - i if back else i
            xo = X0
            for _ in range(count):
                xn = X0 + X1 - xo
                if back:  # (the reversed ring alternates as the ring does: the same senders go first)
                    start_ring_shift(buf, xo, xn, XS, xfirst, X_BACK)
                    finish_ring_shift(X_BACK)
                else:
                    start_ring_shift(buf, xo, xn, XS, xfirst, X_SHIFT)
                    finish_ring_shift(X_SHIFT)
                xo = xn
            xstart = xo  # (the products start from the buffer the skew ended in: no copy)
        ws.syncthreads()
        for it in range(reps):
            res[0:RES] = 0.0
            if SKEWS:  # (the buffers the tiles are in after P steps: both where they started when P is even, both
                xo = xstart  # the other one, holding tiles one step behind, when it is odd: still paired)
            else:
                xo = X0
            wo = W0
            for s in range(P):
                xn = X0 + X1 - xo
                wn = W0 + W1 - wo
                if SHIFTS:  # both tiles go to the ring predecessors while this step computes with them
                    start_ring_shift(buf, xo, xn, XS, xfirst, X_SHIFT)
                    start_ring_shift(wbuf, wo, wn, WS_, wfirst, W_SHIFT)
                # res[:, j] += X[:, k] * W[k, j]: the artifact's @fmach over Mt per element of W's row k
                for k in range(KT):
                    xk = xo + k * MT
                    wk = wo + k * NT
                    for j in range(0, NT, UNROLL):
                        for u in OFFSETS:  # (unrolled: constant offsets)
                            res[(j + u) * MT:(j + u) * MT + MT] = (buf[xk:xk + MT] * wbuf[wk + j + u]
                                                                   + res[(j + u) * MT:(j + u) * MT + MT])
                if SHIFTS:
                    finish_ring_shift(X_SHIFT)
                    finish_ring_shift(W_SHIFT)
                    xo = xn  # (the tiles just received are the next step's)
                    wo = wn
        ws.syncthreads()
        out[me, 0:RES] = res[0:RES]

    # (the kernel's xfirst / wfirst use the ring position inline: it must be ring_positions')
    assert all(pos[p] == (p // 2 if p % 2 == 0 else P - 1 - p // 2) for p in range(P))
    return meshgemm


def pack(x: np.ndarray, w: np.ndarray, P: int, skew_x: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The PEs' tiles with Cannon's skew: row py*P + px holds, for ring coordinates (i, j) of (py, px) and
    kk = (i + j) % P, block (i, kk) of X column-major (float16) and block (kk, j) of W row-major (its
    float16 values in float32 words). Without `skew_x`, block (i, j) of X (the kernel's SKEW_X skews it)."""
    M, K = x.shape
    N = w.shape[1]
    mt, kt, nt = M // P, K // P, N // P
    pos = ring_positions(P)
    xt = np.empty((P * P, mt * kt), np.float16)
    wt = np.empty((P * P, kt * nt), np.float32)
    for py in range(P):
        for px in range(P):
            i, j = pos[py], pos[px]
            kk = (i + j) % P
            xk = kk if skew_x else j
            xt[py * P + px] = x[i * mt:(i + 1) * mt, xk * kt:(xk + 1) * kt].T.ravel()
            wt[py * P + px] = w[kk * kt:(kk + 1) * kt, j * nt:(j + 1) * nt].astype(np.float32).ravel()
    return xt, wt


def unpack(res: np.ndarray, P: int, M: int, N: int) -> np.ndarray:
    """C (M x N) from the PEs' result tiles (column-major Mt x Nt at row py*P + px, block (i, j))."""
    mt, nt = M // P, N // P
    pos = ring_positions(P)
    c = np.empty((M, N), np.float64)
    for py in range(P):
        for px in range(P):
            i, j = pos[py], pos[px]
            c[i * mt:(i + 1) * mt, j * nt:(j + 1) * nt] = res[py * P + px].astype(np.float64).reshape(nt, mt).T
    return c


def model_cycles(P: int, M: int, K: int, N: int, spec: "ws.WaferSpec") -> dict:
    """A step's parts in cycles from `WaferSpec` fields: the 16-bit fmas (Kt * Nt of Mt elements, each an
    issue plus ceil(Mt / vector_lanes_half)), and the larger tile's words through a link, 2 hops and the
    ramps (the shift, overlapped with the fmas). A product is P steps of the larger."""
    mt, kt, nt = M // P, K // P, N // P
    fma = kt * nt * (spec.cost_cycles["vector"] + math.ceil(mt / spec.vector_lanes_half))
    shift = max(mt * kt, kt * nt) / spec.link_words_per_cycle + 2 * spec.hop_latency + 2 * spec.ramp_latency
    return {"fma": float(fma), "shift": float(shift), "product": float(P * max(fma, shift))}


def default_unroll(nt: int) -> int:
    """The largest of 16, 8, 4, 2, 1 that divides Nt (the tuning in the docstring)."""
    return next(u for u in (16, 8, 4, 2, 1) if nt % u == 0)


def simulated(P: int, M: int, K: int | None = None, N: int | None = None, unroll: int | None = None,
              preset: str = "wse2", reps: tuple[int, int] = (1, 3), shift: bool = True, device_skew: bool = False,
              **fields) -> dict:
    """Cycles of one product [M, K] @ [K, N] (the steady-state period of back-to-back products) on P x P
    PEs of the preset (with `fields` changed), every PE's result checked against NumPy. `shift=False`
    times the compute alone: no tile moves, each PE's result is P times its own tiles' product (checked).
    `device_skew`: X is skewed on the device before the products (`kernel`'s SKEW_X), and "launch" is the
    cycles of the launch with one product (the skew's cost: that less the host-skewed launch's)."""
    K = M if K is None else K
    N = M if N is None else N
    if M % P or K % P or N % P:
        raise ValueError(f"P = {P} must divide M = {M}, K = {K} and N = {N}")
    unroll = default_unroll(N // P) if unroll is None else unroll
    if (N // P) % unroll:
        raise ValueError(f"the unroll {unroll} must divide N / P = {N // P}")
    mt, kt, nt = M // P, K // P, N // P
    spec = ws.WaferSpec.preset(preset, **{**fields, "width": P, "height": P, "global_bytes_per_s": 1e18})
    rng = np.random.default_rng(M * 31 + K * 7 + N + P)
    x = rng.integers(-1, 2, size=(M, K)).astype(np.float16)  # values in {-1, 0, 1}: exact in float16
    w = rng.integers(-1, 2, size=(K, N)).astype(np.float16)
    xt, wt = pack(x, w, P, skew_x=not device_skew)
    if shift:
        expected = x.astype(np.float64) @ w.astype(np.float64)
    else:  # PE (i, j) keeps X[i, kk] and W[kk, j], kk = (i + j) % P: its result is P times their product
        xs = xt.astype(np.float64).reshape(P * P, kt, mt).transpose(0, 2, 1)
        prods = P * (xs @ wt.astype(np.float64).reshape(P * P, kt, nt))
        expected = unpack(prods.transpose(0, 2, 1).reshape(P * P, nt * mt), P, M, N)
    k = kernel(P, mt, kt, nt, unroll, shift, device_skew)
    routes = [shift_route(X_SHIFT, P, vertical=False), shift_route(W_SHIFT, P, vertical=True)]
    if device_skew and P > 1:
        routes.append(shift_route(X_BACK, P, vertical=False, successor=True))
    cycles, wall = [], time.perf_counter()
    for n in reps:
        dev = ws.Device(spec)
        d_x, d_w, d_out = dev.to_device(xt), dev.to_device(wt), dev.device_array((P * P, mt * nt), np.float16)
        cycles.append(k[(1, 1), (P, P)](d_x, d_w, d_out, n, routes=routes).cycles)
        if not np.array_equal(unpack(d_out.copy_to_host(), P, M, N), expected):
            raise AssertionError(f"MeshGEMM [{M},{K}] @ [{K},{N}] on {P} x {P} PEs differs from NumPy")
    period = (cycles[1] - cycles[0]) / (reps[1] - reps[0])
    return {"P": P, "M": M, "K": K, "N": N, "unroll": unroll, "cycles": float(period), "launch": cycles[0],
            "wall": time.perf_counter() - wall, "model": model_cycles(P, M, K, N, spec), "clock_hz": spec.clock_hz}


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1024:64", help="n:P pairs ([n, n] @ [n, n] on P x P PEs)")
    ap.add_argument("--unroll", type=int, help="16-bit fmas per loop trip (default: the largest of 16, 8, 4, 2, 1 "
                                               "dividing Nt)")
    ap.add_argument("--preset", default="wse2")
    ap.add_argument("--device-skew", action="store_true",
                    help="also skew X on the device (the artifact's P / 2 timed shifts) and print the skew's cycles")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'GEMM':>22} {'PEs':>9} {'cycles':>10} {'us@1.1GHz':>9} {'us@preset':>9} {'bound':>10} "
          f"{'compute':>7} {'wall s':>7}")
    for size in args.sizes.split(","):
        n, P = (int(v) for v in size.split(":"))
        r = simulated(P, n, unroll=args.unroll, preset=args.preset)
        alone = simulated(P, n, unroll=args.unroll, preset=args.preset, shift=False)["cycles"]
        r["compute_share"] = alone / r["cycles"]
        rows.append(r)
        print(f"[{n},{n}]@[{n},{n}] {P:>4} x {P:<4} {r['cycles']:>10,.0f} {r['cycles'] / PAPER_CLOCK_HZ * 1e6:>9.2f} "
              f"{r['cycles'] / r['clock_hz'] * 1e6:>9.2f} {r['model']['product']:>10,.0f} "
              f"{r['compute_share']:>7.1%} {r['wall']:>7.1f}", flush=True)
        if args.device_skew:
            d = simulated(P, n, unroll=args.unroll, preset=args.preset, device_skew=True)
            r["skew_cycles"] = d["launch"] - r["launch"]
            print(f"{'X skewed on the device':>32}: {r['skew_cycles']:,} cycles more a launch "
                  f"({r['skew_cycles'] / PAPER_CLOCK_HZ * 1e6:.2f} us at 1.1 GHz), {P // 2} shifts at most; "
                  f"a product then takes {d['cycles']:,.0f} cycles ({d['wall']:.1f} s)", flush=True)
    print("\nNo published MeshGEMM time to compare (see the docstring): simulated figures only. compute: the "
          "same P steps with no shifts / the product (the paper: over 70% near the hardware limit).")
    return rows


if __name__ == "__main__":
    main()
