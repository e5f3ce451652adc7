"""PE occupancy across streams (runtime/occupancy.py): a launch starts no earlier than the PEs it occupies
are free of other streams' launches. Every expected time is computed from each launch's own cycles, run
alone on a fresh device (one stream), and plain arithmetic on the rule; results are NumPy's."""
from __future__ import annotations

import json

import numpy as np
import pytest

import wafersim as ws

SPEC = ws.WaferSpec(width=8, height=8)  # 4 slots of (4, 4) blocks: 2 across, 2 down
BLOCK = (4, 4)
BASE = 20  # block b loops BASE * (b + 1) times


@ws.jit
def spin(out, base, first, store):
    """Block b (blockIdx.x + first) loops base * (b + 1) times; with `store`, every PE of it writes the sum
    of the loop's i to out[b]. Without a store it touches no global memory, so a block's cycles do not
    depend on where it sits or what runs beside it."""
    b = ws.blockIdx.x + first
    acc = 0
    for i in range(base * (b + 1)):
        acc += i
    if store != 0:
        out[b] = acc


def alone_cycles(blocks: int, first: int = 0, store: int = 0, spec: ws.WaferSpec = SPEC) -> int:
    """Cycles of `spin` over `blocks` blocks from block `first`, alone on a fresh device's default stream."""
    dev = ws.Device(spec)
    out = dev.device_array(16, np.int32)
    return spin[(blocks,), BLOCK](out, BASE, first, store).cycles


def block_cycles(b: int) -> int:
    """Cycles of block b alone (a one-block launch at slot 0; without stores, its cycles anywhere)."""
    return alone_cycles(1, first=b)


def launch(dev, stream, blocks, first=0, store=0, out=None):
    out = dev.device_array(16, np.int32) if out is None else out
    return spin[(blocks,), BLOCK, stream](out, BASE, first, store)


def at(cycles: float):
    """A launch's `start_cycle` is its start in seconds times the clock: equal to `cycles` up to rounding."""
    return pytest.approx(cycles, rel=1e-12)


def seconds(cycles: float) -> float:
    return cycles / SPEC.clock_hz


def expected_sums(blocks: int) -> np.ndarray:
    return np.array([sum(range(BASE * (b + 1))) for b in range(blocks)], dtype=np.int32)


def test_launches_on_the_same_pes_follow_each_other_results_unchanged():
    dev = ws.Device(SPEC)
    s1, s2 = dev.stream(), dev.stream()
    out1, out2 = dev.device_array(16, np.int32), dev.device_array(16, np.int32)
    a = launch(dev, s1, 4, store=1, out=out1)
    b = launch(dev, s2, 4, store=1, out=out2)
    own = alone_cycles(4, store=1)  # the same launch alone: its cycles are its own, wherever it sits in time
    assert a.cycles == b.cycles == own
    assert a.start_cycle == 0.0
    assert b.start_cycle == at(own)  # the second starts when the first ends, not at its stream's clock (0)
    assert s2.time == pytest.approx(seconds(2 * own), rel=1e-12)
    np.testing.assert_array_equal(out1.copy_to_host()[:4], expected_sums(4))
    np.testing.assert_array_equal(out2.copy_to_host()[:4], expected_sums(4))


def test_a_launch_on_pes_freed_early_overlaps_the_rest_of_another_streams_launch():
    """A's block 0 ends before its block 1: B, on slot 0 only, starts at block 0's end, while A's block 1
    still runs on other PEs; C, over both slots, waits for A's end."""
    dev = ws.Device(SPEC)
    s1, s2, s3 = dev.stream(), dev.stream(), dev.stream()
    a = launch(dev, s1, 2)
    b = launch(dev, s2, 1)
    assert b.start_cycle == at(block_cycles(0)) and b.start_cycle < a.cycles  # overlaps A's tail on the timeline
    c = launch(dev, s3, 2)
    assert a.cycles == block_cycles(1)  # (A ends with its longer block)
    assert c.start_cycle == at(max(block_cycles(1), block_cycles(0) + b.cycles))


def test_waves_hold_each_slot_until_its_last_block_ends():
    """8 blocks on 4 slots: slot s runs blocks s and s + 4 back to back, so a launch on slot 0 alone starts
    at the sum of those two blocks' cycles, and one on slots 0 and 1 at the later of two such sums."""
    dev = ws.Device(SPEC)
    s1, s2, s3 = dev.stream(), dev.stream(), dev.stream()
    a = launch(dev, s1, 8)
    assert a.waves == 2
    slot_end = [block_cycles(s) + block_cycles(s + 4) for s in range(4)]
    assert a.cycles == max(slot_end)
    b = launch(dev, s2, 1)
    assert b.start_cycle == at(slot_end[0])
    c = launch(dev, s3, 2)  # slot 0 is now held by B until its end
    assert c.start_cycle == at(max(slot_end[1], slot_end[0] + b.cycles))


def test_a_partial_row_of_slots_holds_only_the_slots_it_uses():
    """3 blocks on a 2 x 2 tiling: the fourth slot (south-east) is not occupied, so a launch of 4 blocks
    on another stream waits for the three used slots only."""
    dev = ws.Device(SPEC)
    s1, s2, s3 = dev.stream(), dev.stream(), dev.stream()
    long = launch(dev, s1, 4, first=4)  # slots 0..3 until blocks 4..7 end
    short = launch(dev, s2, 3)  # waits for slots 0..2 only
    assert short.start_cycle == at(max(block_cycles(b) for b in (4, 5, 6)))
    after = launch(dev, s3, 4)
    assert after.start_cycle == at(max(short.start_cycle + max(block_cycles(b) for b in range(3)), long.cycles))


def test_events_measure_the_serialized_launches():
    dev = ws.Device(SPEC)
    s1, s2 = dev.stream(), dev.stream()
    start, stop, mid = dev.event(), dev.event(), dev.event()
    start.record(s1)
    launch(dev, s1, 4)
    mid.record(s2)  # before s2's launch: s2's clock is still 0
    launch(dev, s2, 4, first=4)
    stop.record(s2)
    own_a, own_b = alone_cycles(4), alone_cycles(4, first=4)
    assert mid.time == 0.0
    assert start.elapsed_time(stop) == pytest.approx(seconds(own_a + own_b) * 1e3, rel=1e-12)
    assert mid.elapsed_time(stop) == pytest.approx(seconds(own_a + own_b) * 1e3, rel=1e-12)


def test_copies_use_no_pes_and_overlap_launches_of_other_streams():
    """Two batches of copy in, launch and copy out on two streams, both launches on the same PEs: the
    copies overlap each other and the launches, the launches follow each other."""
    dev = ws.Device(SPEC)
    streams = [dev.stream(), dev.stream()]
    host = np.zeros(256, np.float32)
    copy = SPEC.host_transfer_latency_s + host.nbytes / SPEC.global_bytes_per_s
    stats = []
    for s in streams:
        dev.to_device(host, stream=s)
        stats.append(launch(dev, s, 4))
        dev.device_array(256).copy_to_host(stream=s)
    own = seconds(alone_cycles(4))
    assert stats[0].start_cycle / SPEC.clock_hz == pytest.approx(copy, rel=1e-12)
    assert stats[1].start_cycle / SPEC.clock_hz == pytest.approx(copy + own, rel=1e-12)  # not at `copy`
    assert streams[0].time == pytest.approx(2 * copy + own, rel=1e-12)
    assert streams[1].time == pytest.approx(2 * copy + 2 * own, rel=1e-12)
    assert streams[1].log[0][1] == 0.0  # the second stream's copy in overlaps the first's


def test_the_default_stream_and_a_synchronize_are_unchanged():
    """A launch on the default stream starts after every stream's work, as before (it can never wait for
    PEs longer); one on a stream after a synchronize starts at the time waited for."""
    dev = ws.Device(SPEC)
    s1 = dev.stream()
    a = launch(dev, s1, 2)
    d = launch(dev, None, 1)
    assert d.start_cycle == at(a.cycles)
    dev.synchronize()
    b = launch(dev, s1, 4)
    assert b.start_cycle == at(a.cycles + d.cycles)


def test_pes_are_tracked_at_their_physical_sites_on_a_repaired_wafer():
    """A dead PE at (1, 1) pushes row 1's logical PEs from x = 1 one column east, into the spare column:
    the launch holds physical (8, 1), not the dead PE nor row 0's unused spare; a second launch on the
    same logical PEs waits for the first's end."""
    spec = ws.WaferSpec(width=8, height=8, spare_cols=1, defects=[(1, 1)])
    dev = ws.Device(spec)
    s1, s2 = dev.stream(), dev.stream()
    out = dev.device_array(16, np.int32)
    a = spin[(4,), BLOCK, s1](out, BASE, 0, 1)
    held = dev.occupancy.until.copy()
    b = spin[(4,), BLOCK, s2](out, BASE, 0, 1)
    own = alone_cycles(4, store=1, spec=spec)
    assert a.cycles == b.cycles == own and b.start_cycle == at(own)
    assert held.shape == (8, 9)
    assert held[1, 1] == 0.0 and held[0, 8] == 0.0  # the dead PE and row 0's spare carry no PE of the launch
    assert held[1, 8] > 0.0 and (held[:, :8][~spec.dead[:, :8]] > 0.0).all()
    np.testing.assert_array_equal(out.copy_to_host()[:4], expected_sums(4))


def test_a_saved_device_keeps_its_pes_busy_until(tmp_path):
    dev = ws.Device(SPEC)
    s1 = dev.stream()
    dev.stream()
    launch(dev, s1, 4)
    loaded = ws.Device.load(dev.save(tmp_path / "dev.npz"))
    np.testing.assert_array_equal(loaded.occupancy.until, dev.occupancy.until)
    b = launch(loaded, loaded.streams[2], 1)
    assert b.start_cycle == at(block_cycles(0))  # slot 0 is free when A's block 0 ends (not at 0: kept)
    fresh = ws.Device.load(ws.Device(SPEC).save(tmp_path / "fresh.npz"))  # never launched: no entry
    assert fresh.occupancy.until is None


def test_perfetto_draws_the_second_launch_after_the_first(tmp_path):
    dev = ws.Device(SPEC)
    s1, s2 = dev.stream(), dev.stream()
    launch(dev, s1, 4)
    launch(dev, s2, 4)
    events = json.loads(dev.to_perfetto(tmp_path / "t.json").read_text())["traceEvents"]
    launches = sorted((e["ts"], e["dur"], e["tid"]) for e in events if e.get("cat") == "stream")
    own_us = seconds(alone_cycles(4)) * 1e6
    assert [tid for _, _, tid in launches] == [1, 2]
    assert launches[0][0] == 0.0 and launches[1][0] == pytest.approx(own_us, abs=1e-6)  # (ts: whole ps)
    assert launches[1][0] >= launches[0][0] + launches[0][1]  # no overlap on the timeline
    # each launch's details beside it: its own statistics, and the second's wait for the first's PEs
    details = sorted((e["ts"], e["args"]) for e in events if e.get("cat") == "stream")
    for (_, args), stats in zip(details, dev.launches):
        assert (args["cycles"], args["waves"], args["PE-instructions"]) == (stats.cycles, stats.waves,
                                                                            stats.instructions)
    assert "waited for PEs (us)" not in details[0][1]
    assert details[1][1]["waited for PEs (us)"] == pytest.approx(own_us, abs=1e-6)


def modelled_occupancy(spec: ws.WaferSpec, launches: list[tuple[int, int, tuple[int, int]]], cycles_of) -> tuple:
    """Plain Python over PEs, one rectangle per slot: (each launch's start in cycles, until when each PE is held,
    in cycles) for `launches` of (stream, blocks, block), where cycles_of(b, block) is block b's cycles alone.
    The tiling (slots across, the repair map) is `sim.layout`'s; the rule is the one docs/timing.md states."""
    from wafersim.sim.layout import Placement

    shape = (spec.physical_height, spec.physical_width) if spec.has_physical_layout else (spec.height, spec.width)
    until = np.zeros(shape)
    clocks: dict[int, float] = {}
    starts = []
    for stream, blocks, (bx, by) in launches:
        placement = Placement(spec, (blocks, 1), (bx, by))
        first, repair = placement.wave(0), placement.repair
        slot_end = [0.0] * placement.slots
        for b in range(blocks):  # (slot s runs blocks s, s + slots, ... back to back)
            slot_end[b % placement.slots] += cycles_of(b, (bx, by))
        sites = {}
        for slot in range(first.count):
            x0, y0 = (slot % first.cols) * bx, (slot // first.cols) * by
            sites[slot] = [(int(repair.phys_y[y]), int(repair.phys_x[y, x])) if repair is not None else (y, x)
                           for y in range(y0, y0 + by) for x in range(x0, x0 + bx)]
        start = max([clocks.get(stream, 0.0)] + [until[site] for pes in sites.values() for site in pes])
        for slot, pes in sites.items():
            for site in pes:
                until[site] = max(until[site], start + slot_end[slot])
        clocks[stream] = start + max(slot_end)
        starts.append(start)
    return starts, until


@pytest.mark.parametrize("spec", [ws.WaferSpec(width=40, height=20),
                                  ws.WaferSpec(width=40, height=20, spare_cols=2, spare_rows=1,
                                               defects=[(3, 2), (20, 10), (39, 19)])], ids=["perfect", "repaired"])
def test_odd_block_shapes_wide_blocks_and_one_pe_launches_match_a_per_pe_model(spec):
    """Blocks that do not divide the wafer, blocks wider or taller than 16 PEs (their slots' maxima by
    `reduceat`), a 1-PE launch, waves and a partial row of slots, on three streams: every start and every PE's
    busy-until equal a per-PE model of the rule, from each block's cycles alone (no stores: a block's cycles
    do not depend on where it sits)."""
    launches = [(0, 30, (17, 3)), (1, 50, (3, 3)), (2, 1, (1, 1)), (0, 7, (13, 9)), (1, 4, (18, 17)),
                (2, 3, (33, 5)), (0, 9, (20, 1)), (1, 2, (1, 20)), (2, 1, (40, 20))]
    alone: dict[tuple, int] = {}

    def cycles_of(b: int, block: tuple[int, int]) -> int:
        if (b, block) not in alone:
            dev = ws.Device(spec)
            alone[b, block] = spin[(1,), block](dev.device_array(64, np.int32), BASE, b, 0).cycles
        return alone[b, block]

    starts, until = modelled_occupancy(spec, launches, cycles_of)
    dev = ws.Device(spec)
    streams = [dev.stream() for _ in range(3)]
    out = dev.device_array(64, np.int32)
    for (stream, blocks, block), start in zip(launches, starts):
        stats = spin[(blocks,), block, streams[stream]](out, BASE, 0, 0)
        assert stats.start_cycle == at(start)
    assert until.max() > 0.0
    np.testing.assert_allclose(dev.occupancy.until * spec.clock_hz, until, rtol=1e-12)


@ws.jit
def copy_words(dst, src, n):
    """dst[i] = src[i] for i < n (block 0's first PE)."""
    if ws.threadIdx.x == 0 and ws.threadIdx.y == 0:
        for i in range(n):
            dst[i] = src[i]


def test_a_launch_overlapping_another_streams_launch_sees_its_stores_in_program_order():
    """Off-wafer memory follows the order the host issued commands in, not the timeline (docs/timing.md): B
    starts when A's block 0 ends, while A's blocks 1-3 still run and store later on the timeline, yet B,
    issued after A, reads every sum A stores (B's loads take the off-wafer latency; they issue at its start)."""
    dev = ws.Device(SPEC)
    s1, s2 = dev.stream(), dev.stream()
    out, seen = dev.device_array(16, np.int32), dev.device_array(16, np.int32)
    a = launch(dev, s1, 4, store=1, out=out)
    b = copy_words[(1,), BLOCK, s2](seen, out, 4)
    assert a.start_cycle == 0.0 and 0.0 < b.start_cycle < a.cycles  # B waits for A's block 0 (slot 0) only,
    # and its first load issues a few cycles after its start: before A's last block ends, on the timeline
    np.testing.assert_array_equal(seen.copy_to_host()[:4], expected_sums(4))
