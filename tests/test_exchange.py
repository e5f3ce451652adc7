"""Owed clocks and counts of lockstep transfers (`sim/lockstep_rows.py`, "owed clocks and counts";
`Strategy.owed_transfers`, `Strategy.deferred_counts`): a scalar send or receive of a whole dense group that no lane
waits for leaves its lanes' clocks and the FIFO's word counters as they were, and the group owes them until a merge,
a barrier, a halt, a failure or a reader of the counters settles them. Each kernel here puts a reader of the stale
values right after such transfers -- a divergent split handed to the compiled interpreter, merges of groups owing
different amounts, a barrier of a wave whose lanes do not all arrive at once, the cycle limit, a mistyped word, a
debug print, later waves -- and must give REFERENCE's results, cycle counts, per-PE statistics and errors (every
clock written at every instruction); the owed path must have run (else the test would prove nothing). Blocks 20 PEs
wide: their `has_neighbor` groups are dense (complement form), which the lockstep path needs."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source
from test_engine_strategies import run_every_strategy
from wafersim.sim import exchange
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, active

W, H = 20, 18
OWED = Strategy(compiled=False)  # (the NumPy path for every group: these small blocks take the lockstep path)
STRATEGIES = [REFERENCE, OWED, Strategy(compiled=False, owed_transfers=False),
              Strategy(compiled=False, deferred_counts=False), Strategy(lockstep=False), FAST]

KERNELS = '''
import numpy as np
import wafersim as ws


@ws.jit
def split(inp, out, steps):
    """After each exchange, PE-dependent loops on half the block (a mask-form group: the interpreter's under
    FAST) and a column (an index-form group); the groups merge owing different cycles."""
    x, y = ws.grid(2)
    v = inp[y, x]
    for t in range(steps):
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, v)
        w = ws.recv(ws.WEST) if ws.has_neighbor(ws.WEST) else v
        if x < 9:
            for k in range(x):
                v = v * 0.5 + w
        elif x == 12:
            v = v / 4.0
        else:
            v = v + w
        if ws.has_neighbor(ws.SOUTH):
            ws.send(ws.SOUTH, v)
        w = ws.recv(ws.NORTH) if ws.has_neighbor(ws.NORTH) else v
        v = v - w * 0.5
        if t % 2 == 1:
            ws.syncthreads()
    out[y, x] = v


@ws.jit
def stencil(inp, out, steps):
    """Two exchanges a step, then a barrier (with racecheck: its general path, which settles what is owed
    first), a debug print of one PE, and no barrier in the last step's second half."""
    x, y = ws.grid(2)
    v = inp[y, x]
    for t in range(steps):
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, v)
        if ws.has_neighbor(ws.SOUTH):
            ws.send(ws.SOUTH, v)
        w = ws.recv(ws.WEST) if ws.has_neighbor(ws.WEST) else v
        s = ws.recv(ws.NORTH) if ws.has_neighbor(ws.NORTH) else v
        v = v * 0.5 + (w + s) * 0.25
        if x == 7 and y == 4:
            ws.print("v", v)
        if t < steps - 1:
            ws.syncthreads()
    out[y, x] = v


@ws.jit
def runaway(inp, out, steps):
    """Exchanges and no barrier: what a lane owes grows along the loop until the cycle limit stops it."""
    x, y = ws.grid(2)
    v = inp[y, x]
    for t in range(steps):
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, v)
        w = ws.recv(ws.WEST) if ws.has_neighbor(ws.WEST) else v
        v = v + w
        if ws.has_neighbor(ws.NORTH):
            ws.send(ws.NORTH, v)
        w = ws.recv(ws.SOUTH) if ws.has_neighbor(ws.SOUTH) else v
        v = v * 0.5 + w
    out[y, x] = v


@ws.jit
def mistyped(inp, out, k):
    """Every PE sends an int32 east; the west column divides k times, then receives from beyond the block's
    edge (a MeshBoundaryError); the others issue three instructions, owing them, and receive the int32 as a
    float32 (a WordTypeError, found after the receive ran). Which failure comes first depends on k."""
    x, y = ws.grid(2)
    v = inp[y, x]
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, x + 1)
    if x == 0:
        for i in range(k):
            v = v / 3.0
        v = v + ws.recv(ws.WEST, dtype=np.float32)
    else:
        v = v * 1.5 + 2.0
        v = v * 1.5 + 2.0
        v = v * 1.5 + 2.0
        v = v + ws.recv(ws.WEST, dtype=np.float32)
    out[y, x] = v
'''


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    return load_source(tmp_path_factory.mktemp("owed"), KERNELS)


@pytest.fixture
def owed_transfers(monkeypatch):
    """Counts the lockstep transfers that left their clock advance owed (`_owes_clocks`)."""
    owed = []
    owes = exchange.ExchangeMixin._owes_clocks
    monkeypatch.setattr(exchange.ExchangeMixin, "_owes_clocks",
                        lambda self, whole: owed.append(owes(self, whole)) or owed[-1])
    return owed


def run_each(launch, owed: list):
    """`run_every_strategy` over `STRATEGIES`, asserting that the owed path ran under `OWED`."""
    def launch_watched():
        owed.clear()
        try:
            return launch()
        finally:
            assert any(owed) or active() is not OWED, "no transfer left its clocks owed: the kernel tests nothing"
    return run_every_strategy(launch_watched, STRATEGIES)


def launcher(kernel, argument, grid=(1, 1), spec=None, **options):
    values = np.random.default_rng(1).integers(-4, 4, (H * grid[1], W * grid[0])).astype(np.float32)

    def launch():
        dev = ws.Device(spec or ws.WaferSpec(width=W * grid[0], height=H * grid[1]))
        d_in, d_out = dev.to_device(values), dev.device_array(values.shape)
        stats = kernel[grid, (W, H)](d_in, d_out, argument, **options)
        return d_out.copy_to_host(), stats
    return values, launch


def stencil_model(values: np.ndarray, steps: int) -> np.ndarray:
    """`stencil` in NumPy, block by block (a PE without a neighbour takes its own value)."""
    out = values.copy()
    for y0 in range(0, values.shape[0], H):
        for x0 in range(0, values.shape[1], W):
            v = values[y0:y0 + H, x0:x0 + W].copy()
            for _ in range(steps):
                w, s = v.copy(), v.copy()
                w[:, 1:], s[1:, :] = v[:, :-1], v[:-1, :]
                v = v * np.float32(0.5) + (w + s) * np.float32(0.25)
            out[y0:y0 + H, x0:x0 + W] = v
    return out


@pytest.mark.parametrize("racecheck", [False, True])
@pytest.mark.parametrize("waves", [1, 2])
def test_owed_clocks_of_a_stencil_settle_at_barriers_prints_and_later_waves(kernels, owed_transfers, racecheck, waves):
    """With racecheck the barrier takes its general path (which settles the group's debts before it waits);
    two blocks on a wafer that holds one run as two waves."""
    grid = (waves, 1)
    values, launch = launcher(kernels.stencil, 4, grid, ws.WaferSpec(width=W, height=H), racecheck=racecheck)
    out, stats = run_each(launch, owed_transfers)
    np.testing.assert_array_equal(out, stencil_model(values, 4))
    assert [(p.x, p.y) for p in stats.prints] == [(7, 4)] * 4  # (global coordinates: block 0's PE only)


def test_owed_clocks_of_groups_that_split_and_merge_match_the_reference(kernels, owed_transfers, monkeypatch):
    from wafersim.sim.compiled import stepper

    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)  # (else FAST's interpreter runs this small block throughout)
    run_each(launcher(kernels.split, 4)[1], owed_transfers)


@pytest.mark.parametrize("max_cycles", [1150, 1234])
def test_the_cycle_limit_stops_lanes_owing_transfers_where_the_reference_does(kernels, owed_transfers, max_cycles):
    with pytest.raises(ws.CycleLimitError):
        run_each(launcher(kernels.runaway, 50, max_cycles=max_cycles)[1], owed_transfers)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_a_mistyped_word_found_after_owed_issue_cycles_fails_when_the_reference_does(kernels, owed_transfers, k):
    """The receive took the three instructions' issue cycles into its own and ran; its lanes' failure is at
    their clock after it, as if they had settled before it (the issue cycles were once added again: with k = 1
    the lockstep strategies raised the west column's MeshBoundaryError, REFERENCE the WordTypeError). With
    k = 0 the column fails as its receive issues, before the others' three 1-cycle instructions and receive
    end; one division (`div`: 8 cycles) takes longer than those."""
    with pytest.raises((ws.WordTypeError, ws.MeshBoundaryError)) as info:
        run_each(launcher(kernels.mistyped, k)[1], owed_transfers)
    assert isinstance(info.value, ws.MeshBoundaryError if k == 0 else ws.WordTypeError)


HALO_KERNEL = '''
import numpy as np
import wafersim as ws

DIRS = (ws.WEST, ws.EAST, ws.NORTH, ws.SOUTH)


@ws.jit
def halo_sum(cols, out, weights, nz: ws.constant, chunk: ws.constant):
    """bicgstab7's halo exchange (bench/workloads_linalg.py): each PE's column of nz words to its four
    neighbours in chunks of `chunk` words (all four sent, then all four received), then the weighted sum."""
    pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    w = ws.local.array(5, np.float32)
    w[0:5] = weights[0:5]
    mine = ws.local.array(nz, np.float32)
    halo = ws.local.array((4, nz), np.float32)
    mine[0:nz] = cols[pe, 0:nz]
    for c in range(0, nz, chunk):
        for d in DIRS:
            if ws.has_neighbor(d):
                ws.send(d, mine[c:c + chunk])
        for k in (0, 1, 2, 3):
            if ws.has_neighbor(DIRS[k]):
                ws.recv(DIRS[k], out=halo[k, c:c + chunk])
    mine[0:nz] = mine[0:nz] * w[0]
    for k in (0, 1, 2, 3):
        mine[0:nz] = halo[k, 0:nz] * w[1 + k] + mine[0:nz]
    out[pe, 0:nz] = mine[0:nz]
'''

HALO_SPECS = {"default": ws.WaferSpec(width=20, height=18),
              "slow_link": ws.WaferSpec(width=20, height=18, link_words_per_cycle=0.5, fifo_depth=3),
              "fractional": ws.WaferSpec(width=20, height=18, link_words_per_cycle=0.75, hop_latency=2, fifo_depth=5)}


@pytest.mark.parametrize("spec, held", [(spec, "block") for spec in sorted(HALO_SPECS)] + [("default", "rows")])
def test_halo_exchanges_of_mid_sized_groups_move_whole_rows_identically(spec, held, tmp_path, monkeypatch):
    """Vector transfers of dense groups of `exchange.ROWS_MIN_LANES` PEs or more (here 20 x 18 PEs: the
    `has_neighbor` groups have 324-342), below `BULK_MAX_LANES`, move whole FIFO rows (`stream_rows`) where
    times are whole cycles (not on "fractional": the bulk mover there), with every strategy's results,
    cycles and statistics; the sums are exact in float32 (small integers, power-of-two weights). FIFO
    fields held as one block move each transfer in one compiled call (`stream_row_kernels`); fields held as
    rows (`held` "rows", as at wafer scale) in NumPy over runs of rows."""
    from wafersim.sim import fabric, stream_row_kernels, stream_rows
    from wafersim.sim.compiled import stepper

    halo_sum = load_source(tmp_path, HALO_KERNEL).halo_sum
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)  # (else FAST's interpreter may run this block's transfers)
    if held == "rows":
        monkeypatch.setattr(fabric, "BLOCK_BYTES", 0)
    compiled = []
    for name in ("send_rows", "receive_rows"):
        kernel = getattr(stream_row_kernels, name)
        monkeypatch.setattr(stream_row_kernels, name,
                            lambda *args, kernel=kernel: compiled.append(kernel) or kernel(*args))
    rows = []
    send_rows = stream_rows.StreamRowsMixin._send_rows
    monkeypatch.setattr(stream_rows.StreamRowsMixin, "_send_rows",
                        lambda self, *args: rows.append(send_rows(self, *args)) or rows[-1])
    spec = HALO_SPECS[spec]
    height, width, nz = spec.height, spec.width, 2 * spec.fifo_depth
    cols = np.random.default_rng(7).integers(-8, 9, (height, width, nz)).astype(np.float32)
    weights = np.array([0.5, 1, 2, 4, 8], np.float32)

    def launch():
        device = ws.Device(spec)
        d_out = device.device_array((height * width, nz), np.float32)
        stats = halo_sum[1, (width, height)](device.to_device(cols.reshape(-1, nz)), d_out,
                                             device.to_device(weights), nz, spec.fifo_depth)
        return d_out.copy_to_host().reshape(height, width, nz), stats

    assert exchange.BULK_MAX_LANES > width * height >= exchange.ROWS_MIN_LANES
    out, _ = run_every_strategy(launch)
    padded = np.pad(cols, ((1, 1), (1, 1), (0, 0)))
    neighbours = [padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1], padded[2:, 1:-1]]  # W, E, N, S
    np.testing.assert_array_equal(out, cols * weights[0] + sum(n * wk for n, wk in zip(neighbours, weights[1:])))
    assert any(rows) == (spec.link_words_per_cycle != 0.75)
    assert bool(compiled) == (any(rows) and held == "block")
