"""A converged group's run taking the scheduler's two steps after a forward branch splits it (`sim.split_runs`,
`Strategy.split_runs`): a halo exchange's `if has_neighbor(d)` transfers (an `li` and a `sendv` / `recvv`, taken
whole, `_run_transfer`) give NumPy's answers with the same results, cycles and per-PE statistics as the
scheduler's loop taking every step, in fewer NumPy runs; a transfer that cannot go whole fails with the same
deadlock; transfers behind bounds checks, ragged rows, a data-dependent `if` and a chain of waiting receives stay
with the loop, with the same results under every strategy."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import load_source
from test_engine_strategies import run_every_strategy
from test_exchange_rows import halo_under_every_strategy
from test_stream_whole import KERNEL, expected
from wafersim.sim import split_runs, wave
from wafersim.sim.compiled import stepper
from wafersim.sim.strategy import FAST, REFERENCE, Strategy

OFF = Strategy(split_runs=False)


def counting(monkeypatch) -> dict:
    """Counts, per strategy's `split_runs`: NumPy runs begun (`_run_lanes`), split runs that ran on with the group
    met again ("on"), plain transfers run from a split (`_run_transfer`) and those of them that went on whole."""
    counts: dict = {}
    run_lanes, run_split, run_transfer = (wave.WaveSim._run_lanes, split_runs.SplitRunsMixin._run_split,
                                          split_runs.SplitRunsMixin._run_transfer)

    def count(self, what: str) -> None:
        mine = counts.setdefault(self.strategy.split_runs, {"runs": 0, "on": 0, "transfers": 0, "whole": 0})
        mine[what] += 1

    def counted_run_lanes(self, *args):
        count(self, "runs")
        return run_lanes(self, *args)

    def counted_run_split(self, *args):
        picked = run_split(self, *args)
        if picked is not None and type(picked) is not list:
            count(self, "on")
        return picked

    def counted_run_transfer(self, *args):
        out = run_transfer(self, *args)
        count(self, "transfers")
        if len(out) == 1 and not out[0][2]:
            count(self, "whole")
        return out

    monkeypatch.setattr(wave.WaveSim, "_run_lanes", counted_run_lanes)
    monkeypatch.setattr(split_runs.SplitRunsMixin, "_run_split", counted_run_split)
    monkeypatch.setattr(split_runs.SplitRunsMixin, "_run_transfer", counted_run_transfer)
    return counts


HALO = '''
import numpy as np
import wafersim as ws

DIRS = (ws.WEST, ws.EAST, ws.NORTH, ws.SOUTH)
CHUNK = 4


@ws.jit
def halo(cols, out, nz: ws.constant, chunk: ws.constant):
    """bicgstab7's halo exchange: each PE's nz words to each neighbour it has, CHUNK words at a time (the loop
    unrolled: each transfer's address an `li` behind its `has_neighbor` branch), all four sent, then received;
    out: what came from each direction (`chunk`: unused, `halo_under_every_strategy`'s)."""
    pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    mine = ws.local.array(nz, np.float32)
    got = ws.local.array((4, nz), np.float32)
    got[0:4, 0:nz] = 0
    mine[0:nz] = cols[pe, 0:nz]
    for c in range(0, nz, CHUNK):
        for d in DIRS:
            if ws.has_neighbor(d):
                ws.send(d, mine[c:c + CHUNK])
        for k in (2, 0, 3, 1):
            if ws.has_neighbor(DIRS[k]):
                ws.recv(DIRS[k], out=got[k, c:c + CHUNK])
    for k in (0, 1, 2, 3):
        out[pe, k * nz:(k + 1) * nz] = got[k, 0:nz]
'''


def test_a_halo_exchange_runs_its_splits_on_with_the_schedulers_results_cycles_and_statistics(tmp_path, monkeypatch):
    width, height, nz = 20, 18, 12
    halo = load_source(tmp_path, HALO).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)  # (else FAST's interpreter may run this block's transfers)
    counts = counting(monkeypatch)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=4)
    cols = np.random.default_rng(3).standard_normal((height, width, nz)).astype(np.float32)
    out = halo_under_every_strategy(halo, spec, cols, 4, [REFERENCE, OFF, FAST])
    for k, got in enumerate(expected(cols, np.full(height, nz))):
        np.testing.assert_array_equal(out[:, :, k], got, err_msg=f"direction {k}")
    splits = (nz // 4) * 8  # (a send and a receive a direction a chunk, each behind its `has_neighbor`)
    assert counts[True]["on"] == counts[True]["whole"] == splits
    assert counts[False]["on"] == counts[False]["whole"] == 0
    assert counts[True]["runs"] < counts[False]["runs"] / 4  # (REFERENCE and OFF in the latter: two a split)


def test_a_plain_transfer_that_cannot_go_whole_runs_through_run_lanes_to_the_same_deadlock(tmp_path, monkeypatch):
    halo = load_source(tmp_path, HALO).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    counts = counting(monkeypatch)
    spec = ws.WaferSpec(width=20, height=18, fifo_depth=2)  # (chunks of 4 words, all sent before any receive)
    cols = np.ones((18, 20, 8), np.float32)
    with pytest.raises(ws.DeadlockError, match="waits for room to send"):
        halo_under_every_strategy(halo, spec, cols, 4, [REFERENCE, OFF, FAST])
    assert counts[True]["transfers"] > counts[True]["whole"] == 0


def test_a_halo_exchange_whose_transfers_are_not_plain_keeps_its_steps_in_the_loop(tmp_path, monkeypatch):
    width, height, nz, chunk = 20, 18, 12, 4  # (test_stream_whole's kernel: bounds checks before each transfer)
    halo = load_source(tmp_path, KERNEL.format(order=(2, 0, 3, 1), dtype="float32", ragged=False, dirs=4)).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    counts = counting(monkeypatch)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=4)
    cols = np.random.default_rng(4).standard_normal((height, width, nz)).astype(np.float32)
    out = halo_under_every_strategy(halo, spec, cols, chunk, [REFERENCE, OFF, FAST])
    for k, got in enumerate(expected(cols, np.full(height, nz))):
        np.testing.assert_array_equal(out[:, :, k], got, err_msg=f"direction {k}")
    assert counts[True]["on"] == counts[True]["whole"] == 0  # (bounds checks: the loop takes those steps)


def test_ragged_rows_whose_groups_diverge_keep_the_schedulers_order(tmp_path, monkeypatch):
    width, height, nz, chunk = 9, 8, 7, 3
    halo = load_source(tmp_path, KERNEL.format(order=(1, 0), dtype="int32", ragged=True, dirs=2)).halo
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=3)
    cols = np.arange(height * width * nz, dtype=np.int32).reshape(height, width, nz) * 3 - 100
    out = halo_under_every_strategy(halo, spec, cols, chunk, [REFERENCE, OFF, FAST])
    counts = np.where(np.arange(height) % 2 == 1, nz - 1, nz)  # (odd rows send one word less, east and west)
    for k, got in enumerate(expected(cols, counts)[:2]):
        np.testing.assert_array_equal(out[:, :, k], got, err_msg=f"direction {k}")
    assert not out[:, :, 2:].any()


BRANCHY = '''
import numpy as np
import wafersim as ws


@ws.jit
def branchy(x, out, n: ws.constant):
    """Where x is positive, 3 x + 1 - pe % 5; then every PE's running sums along its row: four words from the
    west (each PE's receive waits for its west neighbour's send), this PE's value added, sent east."""
    pe = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    buf = ws.local.array(4, np.int32)
    buf[0:4] = 0
    v = x[pe]
    if v > 0:
        v = v * 3 + 1
        v = v - pe % 5
    if ws.has_neighbor(ws.WEST):
        ws.recv(ws.WEST, out=buf[0:4])
    buf[0:4] = buf[0:4] + v
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, buf[0:4])
    out[pe] = buf[3]
'''


def numpy_branchy(x: np.ndarray) -> np.ndarray:
    pe = np.arange(x.size).reshape(x.shape)
    v = np.where(x > 0, x * 3 + 1 - pe % 5, x)
    return np.cumsum(v, axis=1, dtype=np.int64).astype(np.int32)  # (each row's prefix sums, west to east)


def test_a_data_dependent_if_and_a_waiting_chain_give_numpys_answers_under_every_strategy(tmp_path, monkeypatch):
    kernel = load_source(tmp_path, BRANCHY).branchy
    monkeypatch.setattr(stepper, "FABRIC_GROUP", 0)
    width, height = 40, 24  # (a region large enough for NumPy to run its groups)
    x = np.random.default_rng(5).integers(-50, 50, (height, width)).astype(np.int32)

    def launch():
        device = ws.Device(ws.WaferSpec(width=width, height=height))
        d_out = device.device_array(width * height, np.int32)
        stats = kernel[1, (width, height)](device.to_device(x.reshape(-1)), d_out, width * height)
        return d_out.copy_to_host(), stats

    out, _ = run_every_strategy(launch, [REFERENCE, OFF, Strategy(compiled=False, split_runs=False),
                                         Strategy(compiled=False), FAST])
    np.testing.assert_array_equal(out.reshape(height, width), numpy_branchy(x))
