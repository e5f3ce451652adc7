"""Reproduce Rocki et al., "Fast Stencil-Code Computation on a Wafer-Scale Processor" (SC20) on the `wse2`
preset: a whole-fabric all-reduce of one float32 per PE in about 10% more cycles than the fabric's
diameter (W - 1) + (H - 1). The paper measured a CS-1 (the first WSE): applying its ratio to the diameter
of wse2's 757 x 996 fabric is our extrapolation, not a WSE-2 measurement.

    python bench/reproduce_rocki_allreduce.py [--sizes 757x996] [--write bench/RESULTS.md]

The all-reduce here is a 2-D binary tree towards the centre PE (p, q) = (W // 2, H // 2), then the
routers' multicast from it back to every PE:

1. rows: in round r, the PEs 2^r (2k + 1) PEs west of column p send their partial sum 2^r PEs east,
   the PEs 2^r (2k + 1) east of it send 2^r PEs west (binary trees from each side into column p);
2. column p: the same along the column into row q, after each PE of column p has its row's sum;
3. `ws.routes.broadcast` from (p, q): along row q, and from each PE of it up and down its column.

The routers forward every tree message over its 2^r hops without PE instructions (one channel per round
and side: the west and north trees share channels 0..R-1, east and south R..2R-1, where a PE of column
p takes words of its row and of its column on one channel: `merge`). Each PE receives what its tree
sends it (the rounds before its own), adds, and sends once; per-PE roles come from the host. The time
is the launch's cycles with the all-reduce minus the same launch without it (barriers before and
after), checked against NumPy (integer-valued floats: exact).
"""
from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce_common import Comparison, load_script, table, write_results  # noqa: E402

import wafersim as ws  # noqa: E402
from wafersim.isa.opcodes import ACCEPT, EAST, NORTH, RAMP, SOUTH, WEST  # noqa: E402

models = load_script("reproduce_models")


def rounds_for(width: int, height: int) -> int:
    """Rounds of the longest half-line tree: the distance from the centre to the farthest edge."""
    p, q = width // 2, height // 2
    far = max(p, width - 1 - p, q, height - 1 - q)
    return max(1, math.ceil(math.log2(far + 1)))


def _half_line(d: np.ndarray, length: int, s: int):
    """For distances d (0 = the root) along a half-line of `length` + 1 PEs, round with stride s: who
    sends, who passes the words on, who receives."""
    m = d % (2 * s)
    sender = m == s
    between = (m > 0) & (m < s) & (d - m + s <= length)
    receiver = (m == 0) & (d + s <= length)
    return sender, between, receiver


def tree_routes(R: int) -> list:
    """Routes of the 2R tree channels: channel r carries round r of the west and north trees, channel
    R + r round r of the east and south trees."""
    def make(r: int, west_north: bool):
        s = 1 << r

        def rules(bx: int, by: int) -> np.ndarray:
            p, q = bx // 2, by // 2
            masks = np.zeros((5, by, bx), dtype=np.uint8)
            x, y = np.arange(bx), np.arange(by)
            if west_north:  # words travel east along rows (x <= p), south along column p (y <= q)
                row_d, row_len, row_sel = p - x, p, x <= p
                col_d, col_len, col_sel = q - y, q, y <= q
                toward_row, from_row, toward_col, from_col = EAST, WEST, SOUTH, NORTH
            else:  # words travel west along rows (x >= p), north along column p (y >= q)
                row_d, row_len, row_sel = x - p, bx - 1 - p, x >= p
                col_d, col_len, col_sel = y - q, by - 1 - q, y >= q
                toward_row, from_row, toward_col, from_col = WEST, EAST, NORTH, SOUTH
            sender, between, receiver = (a & row_sel for a in _half_line(row_d, row_len, s))
            masks[RAMP][:, sender] = 1 << toward_row | ACCEPT
            masks[from_row][:, between] = 1 << toward_row | ACCEPT
            masks[from_row][:, receiver] = 1 << RAMP | ACCEPT
            sender, between, receiver = (a & col_sel for a in _half_line(col_d, col_len, s))
            masks[RAMP][sender, p] |= 1 << toward_col | ACCEPT
            masks[from_col][between, p] |= 1 << toward_col | ACCEPT
            masks[from_col][receiver, p] |= 1 << RAMP | ACCEPT
            return masks

        return ws.routes.Route(r if west_north else R + r, rules, f"all-reduce tree round {r}", merge=True)

    return [make(r, True) for r in range(R)] + [make(r, False) for r in range(R)]


N_ROLE = 8  # per PE: row receives (west, east), row send round (west, east), column ditto


def _tree_roles(d: np.ndarray, length: int, R: int) -> tuple[np.ndarray, np.ndarray]:
    """Along a half-line: how many rounds a PE at distance d receives in (a prefix: the rounds whose
    sender exists, before its own sending round), and the round it sends in (-1: the root)."""
    d = np.asarray(d)
    low = np.where(d > 0, d & -np.maximum(d, 1), 0)  # lowest set bit of d
    send = np.where(d > 0, np.log2(np.maximum(low, 1)).astype(np.int32), -1)
    rounds = np.where(send >= 0, send, R)
    have = np.zeros_like(d)
    for r in range(R):
        have += (r < rounds) & (d + (1 << r) <= length)
    return have.astype(np.int32), send.astype(np.int32)


def roles(width: int, height: int, R: int) -> np.ndarray:
    """Per PE (height, width, N_ROLE) int32: receives on the west/north channels and on the east/south
    channels in the row phase, the round it sends in on each side (-1: none), then the same four for the
    column phase (column p only)."""
    p, q = width // 2, height // 2
    out = np.zeros((height, width, N_ROLE), dtype=np.int32)
    out[..., 2:4] = -1
    out[..., 6:8] = -1
    x = np.arange(width)
    west_a, west_t = _tree_roles(np.maximum(p - x, 0), p, R)
    east_a, east_t = _tree_roles(np.maximum(x - p, 0), width - 1 - p, R)
    out[:, :, 0] = np.where(x <= p, west_a, 0)
    out[:, :, 1] = np.where(x >= p, east_a, 0)
    out[:, :, 2] = np.where(x < p, west_t, -1)
    out[:, :, 3] = np.where(x > p, east_t, -1)
    y = np.arange(height)
    north_a, north_t = _tree_roles(np.maximum(q - y, 0), q, R)
    south_a, south_t = _tree_roles(np.maximum(y - q, 0), height - 1 - q, R)
    out[:, p, 4] = np.where(y <= q, north_a, 0)
    out[:, p, 5] = np.where(y >= q, south_a, 0)
    out[:, p, 6] = np.where(y < q, north_t, -1)
    out[:, p, 7] = np.where(y > q, south_t, -1)
    return out


@functools.lru_cache(maxsize=None)
def kernel(R: int):
    RS = tuple(range(R))
    BCAST = 2 * R

    @ws.jit
    def allreduce(vin, role_in, out, go, width, height):
        x, y = ws.grid(2)
        me = y * width + x
        role = ws.local.array(N_ROLE, np.int32)
        role[0:N_ROLE] = role_in[me, 0:N_ROLE]
        aw = role[0]
        ae = role[1]
        tw = role[2]
        te = role[3]
        v = vin[y, x]
        ws.syncthreads()
        if go:
            # Row phase. Unrolled over rounds (channels are constants); a PE receives its tree's words of
            # the rounds before its own, then sends once and stops.
            for r in RS:
                if r == tw:
                    ws.send(ws.RAMP, v, channel=r)
                    break
                if r < aw:
                    v = v + ws.recv(ws.RAMP, channel=r)
            for r1 in RS:
                if r1 == te:
                    ws.send(ws.RAMP, v, channel=R + r1)
                    break
                if r1 < ae:
                    v = v + ws.recv(ws.RAMP, channel=R + r1)
            if x == width // 2:  # column phase, on the same channels (merged at column p's ramps)
                an = role[4]
                as_ = role[5]
                tn = role[6]
                ts = role[7]
                for r2 in RS:
                    if r2 == tn:
                        ws.send(ws.RAMP, v, channel=r2)
                        break
                    if r2 < an:
                        v = v + ws.recv(ws.RAMP, channel=r2)
                for r3 in RS:
                    if r3 == ts:
                        ws.send(ws.RAMP, v, channel=R + r3)
                        break
                    if r3 < as_:
                        v = v + ws.recv(ws.RAMP, channel=R + r3)
            if x == width // 2 and y == height // 2:
                ws.send(ws.RAMP, v, channel=BCAST)
            else:
                v = ws.recv(ws.RAMP, channel=BCAST)
        ws.syncthreads()
        out[y, x] = v

    return allreduce


def simulated(width: int, height: int, preset: str = "wse2", **fields) -> dict:
    """Cycles of the all-reduce over a width x height block of the preset (with `fields` changed),
    checked against NumPy."""
    spec = ws.WaferSpec.preset(preset, **{**fields, "width": width, "height": height, "global_bytes_per_s": 1e18})
    R = rounds_for(width, height)
    values = np.random.default_rng(width * 7 + height).integers(-3, 4, size=(height, width)).astype(np.float32)
    role = roles(width, height, R).reshape(width * height, N_ROLE)
    routes = tree_routes(R) + [ws.routes.broadcast(2 * R, (width // 2, height // 2))]
    cycles, wall = [], time.perf_counter()
    for go in (0, 1):
        dev = ws.Device(spec)
        d_v, d_role, d_out = dev.to_device(values), dev.to_device(role), dev.device_array((height, width))
        cycles.append(kernel(R)[(1, 1), (width, height)](d_v, d_role, d_out, go, width, height,
                                                          routes=routes).cycles)
        if go and not np.array_equal(d_out.copy_to_host(), np.full_like(values, values.sum())):
            raise AssertionError(f"all-reduce on {width} x {height} differs from NumPy")
    return {"width": width, "height": height, "cycles": float(cycles[1] - cycles[0]),
            "diameter": (width - 1) + (height - 1), "wall": time.perf_counter() - wall}


def main(argv: list[str] | None = None) -> list[Comparison]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="32x32,128x128,757x996")
    ap.add_argument("--preset", default="wse2")
    ap.add_argument("--write", type=Path)
    args = ap.parse_args(argv)
    comparisons, rows = [], []
    print(f"{'fabric':>10} {'diameter':>8} {'cycles':>8} {'cycles/diameter':>15} {'wall s':>7}")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        r = simulated(w, h, args.preset)
        rows.append(r)
        print(f"{w:>4} x {h:<4} {r['diameter']:>8} {r['cycles']:>8,.0f} {r['cycles'] / r['diameter']:>15.3f} "
              f"{r['wall']:>7.1f}", flush=True)
        comparisons.append(Comparison(f"all-reduce of one fp32 per PE, {w} x {h} PEs", r["cycles"],
                                      models.rocki_allreduce(w, h), "cycles",
                                      f"{r['cycles'] / r['diameter']:.2f} x the diameter ({r['diameter']:,} hops); "
                                      f"published: ~1.1 x"))
    print()
    print(table(comparisons))
    if args.write:
        command = "python bench/reproduce_rocki_allreduce.py " + " ".join(argv if argv is not None else sys.argv[1:])
        walls = ", ".join(f"{r['width']} x {r['height']}: {r['wall']:.0f} s" for r in rows)
        write_results("reproduce-rocki", "Reproduction: Rocki et al. SC20 (a CS-1), whole-fabric all-reduce on wse2",
                      command.strip(), table(comparisons) + f"\n\nWall time (two launches each): {walls}.\n",
                      args.write)
    return comparisons


if __name__ == "__main__":
    main()
