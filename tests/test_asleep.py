"""Lanes asleep at transfers (sim/asleep.py): the least sleeping cycle kept per run of PEs (`SleepBounds`)
against a plain reduction, and resident sleepers of the compiled interpreter: a call takes in only the
sleeping PEs its transfers wake, never every sleeping PE of the wafer (`CompiledMixin._resident_sleepers`),
with results equal to NumPy's and cycles and statistics equal to the NumPy path's."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run
from wafersim.sim import asleep
from wafersim.sim.compiled import settle
from wafersim.sim.lanes import Lanes, park
from wafersim.sim.strategy import REFERENCE, Strategy, forced


@pytest.mark.parametrize("seed", range(6))
def test_the_least_sleeping_cycle_follows_lanes_falling_asleep_and_waking(seed):
    g = np.random.default_rng(seed)
    n = 3 * asleep.CHUNK + 123
    cycle = g.integers(0, 10_000, n).astype(np.float32)
    bounds = asleep.SleepBounds(n)
    places: dict[int, Lanes] = {}
    members = np.zeros(n, dtype=bool)  # the reference: which PEs sleep at the one pc
    for step in range(60):
        before = places.get(7)
        if before is None or g.random() < 0.5:  # some fall asleep: a few, or many (a mask)
            free = np.flatnonzero(~members)
            pes = np.sort(g.choice(free, size=min(len(free), int(g.choice([1, 40, n // 3]))), replace=False))
            lanes = Lanes.from_indices(n, pes)
            park(places, 7, lanes)
            members[pes] = True
            bounds.changed(7, before, places[7], lanes.idx, True, cycle)
        else:  # some wake: a run of neighbours, often the least ones
            asleep_now = np.flatnonzero(members)
            first = int(g.integers(0, len(asleep_now)))
            picked = asleep_now[first:first + int(g.integers(1, 300))]
            if len(picked) == len(asleep_now):
                del places[7]
                bounds.changed(7, before, None, picked, False, cycle)
            else:
                places[7] = before.without(picked)
                bounds.changed(7, before, places[7], picked, False, cycle)
            members[picked] = False
        if 7 in places:
            assert places[7].count == members.sum()
            assert bounds.least(7, places[7], cycle) == cycle[members].min()


class _Sleepers(asleep.AsleepMixin):
    """The least an `AsleepMixin` needs: its lanes asleep, their bounds, clocks (no compiled interpreter)."""

    def __init__(self, n: int, cycle: np.ndarray) -> None:
        self.n, self.cycle, self.asleep, self.sleep_bounds = n, cycle, {}, asleep.SleepBounds(n)

    def _resident_sleepers(self, pc: int, lanes: Lanes) -> Lanes:
        return lanes


@pytest.mark.parametrize("seed", range(8))
def test_lanes_fall_asleep_and_wake_in_place_without_changing_the_callers_sets(seed):
    """`AsleepMixin._sleep` and `_wake` change the masks they made themselves in place (no region-sized copy per
    call); against plain membership arrays: the lanes asleep at each pc, the woken ones, the least sleeping cycle,
    and every set a caller handed in or was handed back (kept with a copy of its lanes) unchanged afterwards."""
    g = np.random.default_rng(seed)
    n = 2 * asleep.CHUNK + 77
    cycle = g.integers(0, 10_000, n).astype(np.float32)
    host = _Sleepers(n, cycle)
    pcs = (3, 9)
    members = {pc: np.zeros(n, dtype=bool) for pc in pcs}
    handed = []  # (a set given to or taken from the mixin, a copy of its lanes then)
    for step in range(120):
        pc = pcs[int(g.integers(0, 2))]
        free = np.flatnonzero(~(members[3] | members[9]))
        if pc not in host.asleep or (g.random() < 0.55 and len(free)):
            size = min(len(free), int(g.choice([1, 5, 300, n // 4, n // 2])))
            pes = np.sort(g.choice(free, size=size, replace=False))
            lanes = Lanes.from_indices(n, pes)
            handed.append((lanes, lanes.as_mask().copy()))
            host._sleep(pc, lanes)
            members[pc][pes] = True
        else:
            asleep_now = np.flatnonzero(members[pc])
            if g.random() < 0.15:
                picked = None
                woken = host._wake(pc, None)
                np.testing.assert_array_equal(woken.as_mask(), members[pc])
                members[pc][:] = False
            else:
                first = int(g.integers(0, len(asleep_now)))
                picked = asleep_now[first:first + int(g.choice([1, 50, 700, n // 3]))]
                if g.random() < 0.2:  # (every one, by their indices: none is left, `without` is not needed)
                    picked = asleep_now
                woken = host._wake(pc, picked)
                np.testing.assert_array_equal(woken.indices(), picked)
                members[pc][picked] = False
            handed.append((woken, woken.as_mask().copy()))
        for at in pcs:
            assert (at in host.asleep) == bool(members[at].any())
            if at in host.asleep:
                lanes = host.asleep[at]
                assert lanes.count == members[at].sum()
                np.testing.assert_array_equal(lanes.as_mask(), members[at])
                assert host._asleep_least(at) == cycle[members[at]].min()
        for lanes, mask in handed:
            np.testing.assert_array_equal(lanes.as_mask(), mask)


@pytest.mark.parametrize("size", [1, 2, 757, 5000, 40_000])
def test_chunk_runs_are_the_runs_the_sorted_pes_fall_in(size):
    """`_chunk_runs` against `np.unique`: the runs of `CHUNK` PEs, and where each one's PEs start."""
    g = np.random.default_rng(size)
    n = 12 * asleep.CHUNK
    start = int(g.integers(0, n - size)) if size <= 757 else 0  # (a row: inside one run, or across two)
    pes = np.sort(g.choice(np.arange(start, min(n, start + 2 * size)), size=size, replace=False)).astype(np.int64)
    runs, starts = asleep._chunk_runs(pes)
    expected_runs, expected_starts = np.unique(pes // asleep.CHUNK, return_index=True)
    np.testing.assert_array_equal(runs, expected_runs)
    np.testing.assert_array_equal(starts, expected_starts)


@pytest.mark.parametrize("form", ["mask", "all_but", "full"])
def test_the_least_cycle_of_many_runs_is_each_runs_plain_minimum(form):
    """`_chunk_least` over more runs than `WHOLE_CHUNKS` (one pass over the region) against a masked minimum
    per run, for each form a pipeline's sleepers take: runs without lanes are inf, the last run is short, and
    only the runs asked for change."""
    g = np.random.default_rng(len(form))
    n = (asleep.WHOLE_CHUNKS + 5) * asleep.CHUNK + 777
    cycle = g.integers(1, 1_000_000, n).astype(np.float32)
    inside = g.random(n) < 0.9
    inside[2 * asleep.CHUNK:3 * asleep.CHUNK] = False  # (a run with no lane asleep)
    lanes = {"mask": Lanes(n, mask=inside, count=int(inside.sum())),
             "all_but": Lanes.all_but(n, np.flatnonzero(g.random(n) < 0.01)),
             "full": Lanes(n)}[form]
    if form != "mask":
        inside = lanes.as_mask()
    cycle[~inside] = 0  # (PEs not asleep: earlier than any sleeper, so a run that counted one would show it)
    runs = -(-n // asleep.CHUNK)
    which = np.sort(g.choice(runs, size=runs - 2, replace=False))
    chunks = np.full(runs, -1.0)
    asleep._chunk_least(lanes, cycle, chunks, which)
    for k in range(runs):
        part = slice(k * asleep.CHUNK, (k + 1) * asleep.CHUNK)
        values = cycle[part][inside[part]]
        expected = (values.min() if len(values) else np.inf) if k in which else -1.0
        assert chunks[k] == expected


@ws.jit
def row_pipeline(words, scale, out):
    """Row y's words flow east from PE (0, y) in messages of 3 and 5 words, each PE scaling them."""
    x, y = ws.grid(2)
    buf = ws.local.array(5, np.float32)
    a = scale[y, x]
    for at, n in ((0, 3), (3, 5)):
        if ws.has_neighbor(ws.WEST):
            ws.recv(ws.WEST, out=buf[0:n])
        else:
            buf[0:n] = words[y, at:at + n]
        buf[0:n] = buf[0:n] * a
        if ws.has_neighbor(ws.EAST):
            ws.send(ws.EAST, buf[0:n])
        else:
            out[y, at:at + n] = buf[0:n]


def test_a_call_takes_in_only_the_sleepers_its_transfers_wake(monkeypatch):
    """The west PEs' loads are let go a few rows at a time (the memory order: east PEs could still store first,
    and a narrow off-wafer bandwidth spreads the PEs' first loads), so many calls run a few west PEs, whose
    sends wake their rows: such a call's members (the PEs and the sleepers they woke) are at most their rows,
    though most of the block sleeps meanwhile."""
    width, height = 24, 48
    g = np.random.default_rng(3)
    words = g.random((height, 8), dtype=np.float32)
    scale = (0.5 + g.random((height, width), dtype=np.float32)).astype(np.float32)
    expected = words.copy()
    for x in range(width):
        expected *= scale[:, x:x + 1]

    def launch():
        device = ws.Device(ws.WaferSpec(width=width, height=height, global_bytes_per_s=1.5e9))
        out = device.device_array(words.shape, np.float32)
        stats = row_pipeline[(1, 1), (width, height)](device.to_device(words), device.to_device(scale), out)
        return out.copy_to_host(), stats

    calls = []  # (group lanes, members) per interpreter call
    original = settle.settle
    monkeypatch.setattr(settle, "settle", lambda idx, sleepers, *rest: calls.append(
        (len(idx), len(idx) + len(sleepers))) or original(idx, sleepers, *rest))
    with forced(Strategy()):
        run = launch()
    np.testing.assert_array_equal(run[0], expected)
    few = [(lanes, members) for lanes, members in calls if lanes <= 4]
    assert len(few) >= 4  # (rows let go a few at a time)
    assert all(members <= lanes * width for lanes, members in few)
    with forced(REFERENCE):
        assert_same_run(launch(), run)


@ws.jit
def two_receiving_sites(x, out, n: ws.constant):
    """Each row's west PE multicasts n words to the rest of its row (more than a FIFO holds); the odd columns
    receive them at one instruction, the even ones at a later one, so the scheduler drains their FIFOs at
    different times (the lowest program counter first: the sender's retry runs between the two)."""
    px, py = ws.grid(2)
    width, height = ws.gridsize(2)
    buf = ws.local.array(n, np.float32)
    if px == 0:
        buf[0:n] = x[py, 0:n]
        ws.send(ws.RAMP, buf[0:n], channel=1)
    elif px % 2 == 1:
        ws.recv(ws.RAMP, out=buf[0:n], channel=1)
        buf[0] = buf[0] + 1.0
    else:
        ws.recv(ws.RAMP, out=buf[0:n], channel=1)
    out[py * width + px, 0:n] = buf[0:n]


def test_a_routed_sender_wakes_only_when_every_receiver_has_room(monkeypatch):
    """A multicast step waits for its fullest receiver: with `Strategy.routed_wake_room` the senders asleep at
    it wake only when every receiver has room again, so fewer retries of theirs move nothing (without it, every
    receiver's pop woke them); results equal NumPy's, cycles and statistics the other strategies'."""
    from wafersim.sim import routed

    width, height, n = 6, 3, 40
    x = np.random.default_rng(5).random((height, n), dtype=np.float32)
    expected = np.repeat(x, width, axis=0)
    expected[1::2, 0] += np.float32(1.0)

    def launch():
        device = ws.Device(ws.WaferSpec(width=width, height=height))
        out = device.device_array((width * height, n), np.float32)
        stats = two_receiving_sites[(1, 1), (width, height)](device.to_device(x), out, n,
                                                             routes=[ws.routes.row_broadcast(1, root=0)])
        return out.copy_to_host(), stats

    steps = []  # per step of a routed vector send: whether it moved words
    original = routed.RoutedExchangeMixin._routed_stream_step
    monkeypatch.setattr(routed.RoutedExchangeMixin, "_routed_stream_step", lambda self, *args: steps.append(
        original(self, *args)) or steps[-1])
    runs, idle = {}, {}
    for name, strategy in (("room", Strategy()), ("any pop", Strategy(routed_wake_room=False)),
                           ("reference", REFERENCE)):
        steps.clear()
        with forced(strategy):
            runs[name] = launch()
        idle[name] = sum(step is None for step in steps)
        np.testing.assert_array_equal(runs[name][0], expected)
    assert_same_run(runs["reference"], runs["room"])
    assert_same_run(runs["reference"], runs["any pop"])
    assert idle["any pop"] >= 2  # (woken by the odd columns' pops, with the even ones still full)
    assert idle["room"] < idle["any pop"]
