"""Whole lockstep vector transfers in one compiled call (`sim.stream_whole_kernels`, `Strategy.fused_stream_rows`):
halo exchanges of dense groups against NumPy's shifted copies, and the same results, cycles and statistics as
the NumPy path around the row kernels and every other strategy; the call takes the transfers whose lanes agree
and have room or words, and leaves the others (here: lengths that differ by lane, a FIFO's first send, whose
value ring deepens first) to the NumPy path. A transfer whose lanes owe issue cycles
takes them into its cost there (`_whole_owing`) as the NumPy path settles them first: the same cycles."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source
from test_exchange_rows import halo_under_every_strategy
from wafersim.sim import stream_rows, wave
from wafersim.sim.compiled import stepper
from wafersim.sim.strategy import FAST, REFERENCE, Strategy

STRATEGIES = [REFERENCE, Strategy(fused_stream_rows=False), Strategy(stream_rows=False), Strategy(compiled=False),
              FAST]

KERNEL = '''
import numpy as np
import wafersim as ws

DIRS = (ws.WEST, ws.EAST, ws.NORTH, ws.SOUTH)[:{dirs}]
ORDER = {order}


@ws.jit
def halo(cols, out, nz: ws.constant, chunk: ws.constant):
    """Each PE's first `count` of nz words (count = nz, or nz - 1 in odd rows with `{ragged}`) to each neighbour
    it has in `DIRS`, `chunk` words at a time (all sent, then received in `ORDER`); out: what came from each
    direction."""
    pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    mine = ws.local.array(nz, np.{dtype})
    got = ws.local.array((4, nz), np.{dtype})
    got[0:4, 0:nz] = 0
    mine[0:nz] = cols[pe, 0:nz]
    count = nz
    if {ragged} and ws.threadIdx.y % 2 == 1:
        count = nz - 1
    for c in range(0, count, chunk):
        n = min(chunk, count - c)
        for d in DIRS:
            if ws.has_neighbor(d):
                ws.send(d, mine[c:c + n])
        for k in ORDER:
            if ws.has_neighbor(DIRS[k]):  # (a neighbour in the same row: it sends as many words)
                ws.recv(DIRS[k], out=got[k, c:c + n])
    for k in (0, 1, 2, 3):
        out[pe, k * nz:(k + 1) * nz] = got[k, 0:nz]
'''


def expected(cols: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """What each PE received from its W, E, N, S neighbour: the neighbour's first counts[row] words, the rest
    zero, all zero past the block's edge."""
    height, width, nz = cols.shape
    out = []
    for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        got = np.zeros_like(cols)
        for y in range(height):
            for x in range(width):
                if 0 <= y + dy < height and 0 <= x + dx < width:
                    n = counts[y]
                    got[y, x, :n] = cols[y + dy, x + dx, :n]
        out.append(got)
    return out


@pytest.mark.parametrize("width, height, depth, chunk, nz, dtype, order, ragged, clocks", [
    (20, 18, 4, 4, 12, "float32", (0, 1, 2, 3), False, np.float32),  # every transfer whole (but each FIFO's first)
    (19, 17, 8, 5, 13, "int32", (3, 2, 1, 0), False, np.float32),    # a short last chunk, FIFOs with room to spare
    (20, 18, 3, 2, 7, "float32", (2, 3, 0, 1), False, np.float32),   # chunks shorter than the FIFO, out of order
    (20, 18, 4, 4, 10, "int32", (1, 0), True, np.float32),           # rows of two lengths: the lanes' last chunks
    (20, 18, 4, 4, 12, "int32", (0, 1, 2, 3), False, np.float64),    # of 2 and 1 words (west and east only); and
])                                                                   # float64 clocks (a wave that starts late)
def test_halo_exchanges_in_one_call_give_numpys_shifted_copies_and_the_numpy_paths_cycles(
        tmp_path, monkeypatch, width, height, depth, chunk, nz, dtype, order, ragged, clocks):
    dirs = len(order)
    halo = load_source(tmp_path, KERNEL.format(order=order, dtype=dtype, ragged=ragged, dirs=dirs)).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)  # (else FAST's interpreter may run this block's transfers)
    if clocks is np.float64:  # (float32 clocks only for waves that start below the limit: none here)
        monkeypatch.setattr(wave, "TIME32_LIMIT", 0)
    calls = []  # (whether the call moved the words, whether the lanes' lengths differed)
    whole = stream_rows.StreamRowsMixin._whole_in_one

    def spy(self, ins, cost, lanes, *args):
        differ = lanes.all_equal(lanes.get(self.regs[ins.b])) is None
        done = whole(self, ins, cost, lanes, *args)
        if self.strategy.fused_stream_rows:
            calls.append((done, differ))
            assert self.cycle.dtype == clocks
        return done

    monkeypatch.setattr(stream_rows.StreamRowsMixin, "_whole_in_one", spy)
    owing = []  # (whether a transfer that took its lanes' owed issue cycles moved the words)
    whole_owing = stream_rows.StreamRowsMixin._whole_owing
    monkeypatch.setattr(stream_rows.StreamRowsMixin, "_whole_owing",
                        lambda self, *args: owing.append(whole_owing(self, *args)) or owing[-1])
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=depth)
    cols = np.random.default_rng(width * height + nz).integers(-1000, 1000, (height, width, nz)).astype(dtype)

    out = halo_under_every_strategy(halo, spec, cols, chunk, STRATEGIES)
    counts = np.where(np.arange(height) % 2 == 1, nz - 1, nz) if ragged else np.full(height, nz)
    for k, got in enumerate(expected(cols, counts)[:dirs]):
        np.testing.assert_array_equal(out[:, :, k], got, err_msg=f"direction {k}")
    np.testing.assert_array_equal(out[:, :, dirs:], 0)
    assert any(done for done, _ in calls) and any(owing)  # (the `li` of each transfer's base owed, then taken)
    assert any(differ for _, differ in calls) == ragged
    assert not any(done and differ for done, differ in calls)  # (lanes that differ: the NumPy path's)
