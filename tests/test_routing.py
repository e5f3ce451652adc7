"""Sender sets of a merging channel (a bus) cut from one trace of all its sources (`RouteTables.whole_buses`,
with `Strategy.routed_steps`) against tracing each set on its own (`routing.trace`)."""
from __future__ import annotations

import dataclasses
from collections import OrderedDict

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import gemm
from wafersim.sim import deliveries, routing
from wafersim.sim.layout import Placement, WaveRegion
from wafersim.sim.strategy import Strategy, forced

rng = np.random.default_rng(3)


def small_gemm_route_tables() -> routing.RouteTables:
    """The route tables of a small GEMM's wave (6 x 6 PEs: a row bus on channel 0, a column bus on
    channel 1), caught as the engine builds them."""
    tables = []
    original = routing.RouteTables.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        tables.append(self)

    routing.RouteTables.__init__ = init
    try:
        p = 6
        a, b = (rng.random((p * 4, p * 4), dtype=np.float32) for _ in range(2))
        gemm.gemm(a, b, p)
    finally:
        routing.RouteTables.__init__ = original
    assert tables
    return tables[0]


@pytest.fixture(scope="module")
def bus_tables():
    tables = small_gemm_route_tables()
    assert tables.whole_buses
    return tables


def assert_same_deliveries(got: deliveries.Deliveries, expected: deliveries.Deliveries) -> None:
    for field in dataclasses.fields(deliveries.Deliveries):
        a, b = getattr(got, field.name), getattr(expected, field.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name


def sender_sets(n: int) -> list[np.ndarray]:
    """Columns and rows of a 6 x 6 block, random sets, and an unsorted one with a repeat."""
    sets = [np.arange(n)[k::6] for k in range(6)] + [np.arange(n)[6 * k:6 * k + 6] for k in range(6)]
    sets += [np.sort(rng.choice(n, size, replace=False)) for size in (1, 5, 17)]
    return sets + [np.array([7, 3, 3])]  # (traced as its sorted distinct PEs)


def fresh_tables(bus_tables, masks: np.ndarray) -> routing.RouteTables:
    """Route tables of the same region with `masks` on merging channel 0 and nothing traced yet."""
    tables = routing.RouteTables(bus_tables.region, bus_tables.ramp_latency, {}, whole_buses=True)
    tables.masks[0], tables.merge = masks, {0}
    return tables


@pytest.mark.parametrize("channel", [0, 1])
@pytest.mark.parametrize("parts", [1, 4])  # the whole trace in one part, or in parts of sources
def test_bus_sender_sets_cut_from_one_trace_equal_their_own_traces(bus_tables, channel, parts, monkeypatch):
    region, masks = bus_tables.region, bus_tables.channel(channel)
    if parts > 1:  # 36 sources of 5 receivers and 5 links each: a bound of 360 entries, parts of 360 // 40 = 9
        monkeypatch.setattr(routing, "WHOLE_TRACE_ENTRIES", 36 * 10)
        monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())  # (every part traced here)
        traced = []
        original = routing.trace
        monkeypatch.setattr(routing, "trace", lambda *args, **kwargs: traced.append(1) or original(*args, **kwargs))
    tables = fresh_tables(bus_tables, masks)
    tables.deliveries(0, np.array([0, 6, 12]))  # the first set: traced on its own, sizes the whole trace
    whole = tables._whole[0]
    assert isinstance(whole, deliveries.Deliveries) and len(whole.sources) == region.n
    if parts > 1:
        assert len(traced) == 1 + parts
    for pes in sender_sets(region.n):
        cut = tables._cut_from_whole(0, pes)
        assert cut is not None
        expected = routing.trace(region, masks, bus_tables.ramp_latency, channel, pes, merge=True)
        assert_same_deliveries(cut, expected)
        assert_same_deliveries(tables.deliveries(0, pes), expected)


def test_a_whole_trace_in_parts_is_kept_for_later_launches_of_the_same_route(bus_tables, monkeypatch):
    """A later launch's tables (same region, routes and first set) find the joined trace kept: its parts are
    neither traced nor joined again; another route gets a whole trace of its own, cut as its sets' own traces."""
    monkeypatch.setattr(routing, "WHOLE_TRACE_ENTRIES", 36 * 10)  # parts of 9 sources: 4 parts
    monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())
    joined, traced = [], []
    join, original = routing.concatenate, routing.trace
    monkeypatch.setattr(routing, "concatenate", lambda parts: joined.append(len(parts)) or join(parts))
    monkeypatch.setattr(routing, "trace", lambda *args, **kwargs: traced.append(1) or original(*args, **kwargs))
    region, first_set = bus_tables.region, np.array([0, 6, 12])
    launches = [fresh_tables(bus_tables, bus_tables.channel(0).copy()) for _ in range(2)]
    for tables in launches:
        tables.deliveries(0, first_set)
    assert joined == [4] and len(traced) == 1 + 4  # (the first set, then the parts, once)
    assert launches[1]._whole[0] is launches[0]._whole[0]
    other = fresh_tables(bus_tables, bus_tables.channel(1).copy())  # (the column bus's routes on channel 0)
    other.deliveries(0, first_set)
    assert joined == [4, 4] and other._whole[0] is not launches[0]._whole[0]
    for channel, tables in ((0, launches[1]), (1, other)):
        for pes in sender_sets(region.n):
            expected = routing.trace(region, bus_tables.channel(channel), bus_tables.ramp_latency, channel, pes,
                                     merge=True)
            assert_same_deliveries(tables.deliveries(0, pes), expected)


@pytest.mark.parametrize("first_set", [[0, 6, 12], list(range(9))])  # (the second: the first part's sources)
def test_a_whole_trace_is_kept_in_place_of_its_parts(bus_tables, first_set, monkeypatch):
    """Its parts are not kept beside it (twice its bytes), but the first set's trace is, a part or not: under a
    bound that holds the whole trace and the first set's but not the parts too, a later launch traces nothing
    again (with the parts kept, the oldest, the first set's, went out: traced again each launch, as all of a
    32 x 32 block's three buses were)."""
    monkeypatch.setattr(routing, "WHOLE_TRACE_ENTRIES", 36 * 10)  # parts of 9 sources: 4 parts
    monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())
    region, masks, first_set = bus_tables.region, bus_tables.channel(0), np.array(first_set)
    whole = routing.trace(region, masks, bus_tables.ramp_latency, 0, np.arange(region.n), merge=True)
    monkeypatch.setattr(routing, "TRACE_CACHE_BYTES", whole.nbytes * 3 // 2)
    traced = []
    original = routing.trace
    monkeypatch.setattr(routing, "trace", lambda *args, **kwargs: traced.append(1) or original(*args, **kwargs))
    for _ in range(3):
        tables = fresh_tables(bus_tables, masks.copy())
        tables.deliveries(0, first_set)
        assert_same_deliveries(tables._whole[0], whole)
    assert len(traced) == 1 + 4 - (len(first_set) == 9)  # (the first set, then the other parts, once)
    assert len(routing.TRACE_CACHE) == 2  # (the first set's and the whole)


def test_a_kept_whole_trace_is_not_cut_for_a_wafer_with_other_defects(bus_tables, monkeypatch):
    """The same route, block and grid on a wafer whose dead PE bends a link (a detour's cycles): launches in one
    process alternating between the two wafers each cut their own whole trace (kept across launches in parts),
    as each set's own trace on that wafer, never the other wafer's (whose latencies differ)."""
    monkeypatch.setattr(routing, "WHOLE_TRACE_ENTRIES", 36 * 10)  # parts of 9 sources: 4 parts
    monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())
    plain = bus_tables.region
    spec = plain.placement.spec.replace(spare_cols=1, defects=[(2, 3)])
    bent = WaveRegion(Placement(spec, plain.placement.grid, plain.placement.block), plain.first_block, plain.count)
    masks, latency = bus_tables.channel(0), bus_tables.ramp_latency
    everyone = np.arange(plain.n)
    assert not np.array_equal(routing.trace(plain, masks, latency, 0, everyone, merge=True).latency,
                              routing.trace(bent, masks, latency, 0, everyone, merge=True).latency)
    wholes = []
    for region in (plain, bent, plain, bent):
        tables = routing.RouteTables(region, latency, {}, whole_buses=True)
        tables.masks[0], tables.merge = masks.copy(), {0}
        tables.deliveries(0, np.array([0, 6, 12]))  # (the first set: traced on its own, sizes the whole trace)
        wholes.append(tables._whole[0])
        assert isinstance(wholes[-1], deliveries.Deliveries)
        for pes in sender_sets(region.n):
            assert_same_deliveries(tables.deliveries(0, pes),
                                   routing.trace(region, masks, latency, 0, pes, merge=True))
    assert wholes[2] is wholes[0] and wholes[3] is wholes[1] and wholes[1] is not wholes[0]  # (each wafer's, kept)


def test_a_bus_too_large_for_one_trace_is_traced_set_by_set(bus_tables, monkeypatch):
    monkeypatch.setattr(routing, "WHOLE_TRACE_ENTRIES", 100)  # fewer than 36 sources x 10 receivers and links
    masks = bus_tables.channel(0)
    tables = fresh_tables(bus_tables, masks)
    for pes in sender_sets(bus_tables.region.n):
        expected = routing.trace(bus_tables.region, masks, bus_tables.ramp_latency, 0, pes, merge=True)
        assert_same_deliveries(tables.deliveries(0, pes), expected)
    assert tables._whole[0] is False


def test_a_set_with_a_pe_outside_the_whole_trace_is_traced_on_its_own(bus_tables):
    masks = bus_tables.channel(0).copy()
    masks[routing.RAMP, 4] = 0  # PE 4 takes nothing from its ramp: its set needs its own trace (and message)
    tables = fresh_tables(bus_tables, masks)
    tables.deliveries(0, np.array([1, 2]))
    assert isinstance(tables._whole[0], deliveries.Deliveries)
    assert tables._cut_from_whole(0, np.array([1, 4])) is None
    with pytest.raises(ws.RouteError, match="no route from the ramp"):
        tables.deliveries(0, np.array([1, 4])).check()
    assert tables._cut_from_whole(0, np.array([1, 3])) is not None


def test_gemm_traces_each_bus_once_with_whole_buses(monkeypatch):
    traced = []
    original = routing.trace
    monkeypatch.setattr(routing, "trace",
                        lambda *args, **kwargs: traced.append(len(args[4])) or original(*args, **kwargs))
    routing.TRACE_CACHE.clear()
    p = 5
    a, b = (rng.random((p * 4, p * 4), dtype=np.float32) for _ in range(2))
    runs = []
    for strategy in (Strategy(routed_steps=False), Strategy()):
        traced.clear()
        routing.TRACE_CACHE.clear()
        with forced(strategy):
            runs.append(gemm.gemm(a, b, p)[0])
        if strategy.routed_steps:
            assert len(traced) == 4  # per bus, its first sender set and the whole bus: the other sets cut
        else:
            assert len(traced) >= 2 * p  # a trace per sender set: at least p per bus
    np.testing.assert_array_equal(runs[0], runs[1])


def _relay(out):
    x = ws.threadIdx.x
    if x == 0:
        ws.send(ws.RAMP, 1.5, channel=3)
    if x == 3:
        out[0] = ws.recv(ws.RAMP, channel=3)


relay = ws.jit(_relay)


def test_a_launch_route_s_extra_sources_are_fixed_in_the_route_not_with_ws_route():
    """A custom launch route whose PEs 0-2 all take words from the ramp: PE 0's and PE 1's meet. The
    advice was the in-kernel fix `ws.route(channel, ws.RAMP, ())`, for a kernel that sets no route; it
    now points at the route given to the launch. Followed (a ramp rule at PE 0 only), the word arrives."""
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    out = dev.device_array(1)

    def every_pe_sends(x, y, width, height):
        return {ws.RAMP: ws.EAST, ws.WEST: ws.EAST} if x < width - 1 else {ws.WEST: ws.RAMP}

    def first_pe_sends(x, y, width, height):
        if x == width - 1:
            return {ws.WEST: ws.RAMP}
        return {ws.RAMP: ws.EAST} if x == 0 else {ws.WEST: ws.EAST}

    with pytest.raises(ws.RouteError, match="meet") as info:
        relay[1, (4, 1)](out, routes=[ws.routes.custom(3, every_pe_sends)])
    text = str(info.value)
    assert "the one the launch gives (routes=" in text and "leaving ws.RAMP out" in text
    assert "ws.route(channel, ws.RAMP, ())" not in text
    relay[1, (4, 1)](out, routes=[ws.routes.custom(3, first_pe_sends)])
    assert out.copy_to_host()[0] == np.float32(1.5)


def test_a_launch_route_changed_by_set_is_traced_again_not_found_by_what_it_was_tiled_from(bus_tables):
    """`_trace` keys a launch's route by the block masks it was tiled from (cheaper than hashing the region's
    masks); once `set` changes a rule the key is the masks' own again: a second wave with the same launch route,
    changed, gets the trace of its changed masks (`trace` on them), not the first wave's from `TRACE_CACHE`."""
    region = bus_tables.region
    bx, by = region.placement.block
    tiled = bus_tables.masks[0]
    block = tiled.reshape(len(tiled), region.height, region.width)[:, :by, :bx].copy()

    def tables() -> routing.RouteTables:
        return routing.RouteTables(region, bus_tables.ramp_latency, {0: (block, True)})

    first = tables()
    np.testing.assert_array_equal(first.masks[0], tiled)  # (the block the engine's route was tiled from)
    senders = np.flatnonzero(first.masks[0][routing.RAMP] != 0)[:2]
    unchanged = first.deliveries(0, senders)
    assert_same_deliveries(unchanged, routing.trace(region, tiled, first.ramp_latency, 0, senders, True,
                                                    first.compiled_trace))
    second = tables()
    assert second.set(0, senders[:1], 1 << routing.RAMP, 0)  # (the first sender's ramp words go nowhere now)
    changed = second.deliveries(0, senders)
    expected = routing.trace(region, second.masks[0], second.ramp_latency, 0, senders, True, second.compiled_trace)
    assert len(expected.dest) != len(unchanged.dest) or expected.messages != unchanged.messages
    assert_same_deliveries(changed, expected)


def test_a_launch_broadcast_traced_ahead_on_a_thread_serves_its_send_and_gives_the_same_run(monkeypatch):
    """`trace_ahead`: a block all-reduce's broadcast (one root sends on the block's bus) is traced, with
    its root's order, on a thread of its own while the launch runs on (`AHEAD_ENTRIES` lowered to this small block);
    the launch's send takes that trace; results, cycles and counts equal a launch on one thread, which traces it
    itself when the send comes, and the sum NumPy gives."""
    from wafersim.kernels import reduce
    from wafersim.sim import parallel

    monkeypatch.setattr(routing, "AHEAD_ENTRIES", 1)
    traced_on = []
    original = routing.trace

    def recording(*args):
        import threading
        if len(args[4]) == 1:  # (the root's trace; a bus's whole trace, all its sources, follows on the launch's)
            traced_on.append(threading.current_thread().name)
        return original(*args)
    monkeypatch.setattr(routing, "trace", recording)
    values = np.random.default_rng(5).random((12, 16), dtype=np.float32)
    runs = {}
    for threads in (2, 1):
        monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())  # (each run traces its routes again)
        traced_on.clear()
        with parallel.threads(threads):
            runs[threads] = reduce.block_allreduce(values, "sum", (16, 12))
        assert traced_on == (["wafersim-trace-ahead"] if threads == 2 else ["MainThread"])
    (ahead, ahead_stats), (alone, alone_stats) = runs[2], runs[1]
    np.testing.assert_array_equal(ahead, alone)
    np.testing.assert_allclose(ahead, np.full_like(values, values.sum()), rtol=1e-5)
    assert (ahead_stats.cycles, ahead_stats.instructions) == (alone_stats.cycles, alone_stats.instructions)
    np.testing.assert_array_equal(ahead_stats.pe_instructions, alone_stats.pe_instructions)


def test_a_trace_begun_ahead_serves_only_the_senders_and_masks_it_was_made_for(bus_tables, monkeypatch):
    """A trace begun ahead for some senders is what `deliveries` gives those senders (equal to `trace`, with its one
    source's order made); other senders, or the same senders once `set` changed the route, get their own trace."""
    monkeypatch.setattr(routing, "AHEAD_ENTRIES", 1)
    monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())
    region = bus_tables.region
    bx, by = region.placement.block
    tiled = bus_tables.masks[0]
    block = tiled.reshape(len(tiled), region.height, region.width)[:, :by, :bx].copy()
    root = np.flatnonzero(tiled[routing.RAMP] != 0)[:1]

    def tables() -> routing.RouteTables:
        return routing.RouteTables(region, bus_tables.ramp_latency, {0: (block, True)}, ahead={0: root})

    served = tables()
    assert len(served._ahead) == 1
    got = served.deliveries(0, root)
    assert not served._ahead and "_one_source" in vars(got)  # (taken from the thread, its order made there)
    expected = routing.trace(region, tiled, served.ramp_latency, 0, root, True, served.compiled_trace)
    assert_same_deliveries(got, expected)
    for array, wanted in zip(got.one_source(0), expected.one_source(0)):
        np.testing.assert_array_equal(array, wanted)
    monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())
    other = tables()
    others = np.flatnonzero(tiled[routing.RAMP] != 0)[1:3]
    assert_same_deliveries(other.deliveries(0, others), routing.trace(region, tiled, other.ramp_latency, 0, others,
                                                                      True, other.compiled_trace))
    assert len(other._ahead) == 1  # (not taken)
    monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())
    changed = tables()
    assert changed.set(0, root, 1 << routing.RAMP, 0)  # (the root's ramp words go nowhere now)
    expected = routing.trace(region, changed.masks[0], changed.ramp_latency, 0, root, True, changed.compiled_trace)
    assert_same_deliveries(changed.deliveries(0, root), expected)
    assert expected.messages and len(changed._ahead) == 1


def bus_root_tables(bus_tables, **ahead) -> tuple[routing.RouteTables, np.ndarray]:
    """New tables of `bus_tables`' row bus (channel 0) with its first sender's trace begun ahead, and that sender."""
    region = bus_tables.region
    bx, by = region.placement.block
    tiled = bus_tables.masks[0]
    block = tiled.reshape(len(tiled), region.height, region.width)[:, :by, :bx].copy()
    root = np.flatnonzero(tiled[routing.RAMP] != 0)[:1]
    return routing.RouteTables(region, bus_tables.ramp_latency, {0: (block, True)}, ahead={0: root}), root


def test_a_trace_ahead_that_raises_is_made_again_by_the_send(bus_tables, monkeypatch):
    """A trace that fails on the thread of `trace_ahead` (here: `trace` raising there only) is made by the launch's
    thread when its send comes, equal to `trace`; the thread's error is not raised, and nothing waits forever."""
    import threading

    monkeypatch.setattr(routing, "AHEAD_ENTRIES", 1)
    monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())
    original = routing.trace

    def failing_on_the_thread(*args):
        if threading.current_thread().name == "wafersim-trace-ahead":
            raise MemoryError("the thread's trace failed")
        return original(*args)
    monkeypatch.setattr(routing, "trace", failing_on_the_thread)
    tables, root = bus_root_tables(bus_tables)
    assert len(tables._ahead) == 1
    got = tables.deliveries(0, root)
    assert not tables._ahead
    expected = original(tables.region, tables.masks[0], tables.ramp_latency, 0, root, True, tables.compiled_trace)
    assert_same_deliveries(got, expected)
    for array, wanted in zip(got.one_source(0), expected.one_source(0)):
        np.testing.assert_array_equal(array, wanted)


def _deliveries_in_a_forked_child(tables: routing.RouteTables, root: np.ndarray, connection) -> None:
    got = tables.deliveries(0, root)
    connection.send({name: getattr(got, name) for name in deliveries.ARRAYS})
    connection.close()


def test_a_trace_still_running_at_a_fork_is_made_again_in_the_child(bus_tables, monkeypatch):
    """A process forked while a trace ahead still runs (its thread is not in the child): the child's send traces
    for itself, equal to `trace`, rather than wait for a thread that will never end, or take no trace; the parent's
    send still takes its thread's trace."""
    import multiprocessing
    import threading

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    monkeypatch.setattr(routing, "AHEAD_ENTRIES", 1)
    monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())
    original = routing.trace
    started, release = threading.Event(), threading.Event()

    def held_on_the_thread(*args):
        if threading.current_thread().name == "wafersim-trace-ahead":
            started.set()
            release.wait(60)
        return original(*args)
    monkeypatch.setattr(routing, "trace", held_on_the_thread)
    tables, root = bus_root_tables(bus_tables)
    assert started.wait(60)
    expected = original(tables.region, tables.masks[0], tables.ramp_latency, 0, root, True, tables.compiled_trace)
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_deliveries_in_a_forked_child, args=(tables, root, sending))
    child.start()
    try:
        assert receiving.poll(120), "the forked child's send did not finish"
        from_child = receiving.recv()
    finally:
        release.set()
        child.join(60)
        if child.is_alive():  # (a child waiting for the parent's thread: ended, not left behind)
            child.kill()
            child.join()
    assert child.exitcode == 0
    for name in deliveries.ARRAYS:
        np.testing.assert_array_equal(from_child[name], getattr(expected, name), err_msg=name)
    assert_same_deliveries(tables.deliveries(0, root), expected)
    assert not tables._ahead


def test_the_cache_bound_counts_the_sender_sets_cut_from_a_kept_trace(monkeypatch):
    """`TRACE_CACHE_BYTES` summed only each kept trace's own arrays, while the sender sets cut from a whole trace
    are kept on it (a 64 x 64 GEMM's cuts: 33 MiB beside 17 MiB of whole traces), so the bound let the cache grow
    past it. A trace with its cuts over the bound now leaves when the next is kept."""
    class Kept:
        def __init__(self, nbytes: int) -> None:
            self.nbytes = nbytes

    monkeypatch.setattr(routing, "TRACE_CACHE", OrderedDict())
    monkeypatch.setattr(routing, "TRACE_CACHE_BYTES", 100)
    whole = Kept(30)
    whole._cuts = {b"sets": Kept(50)}
    routing._keep(("whole",), whole)
    routing._keep(("next",), Kept(30))  # 30 + 50 + 30 > 100: the least recently used leaves
    assert list(routing.TRACE_CACHE) == [("next",)]
    routing._keep(("small",), Kept(30))  # 30 + 30 <= 100: both stay
    assert list(routing.TRACE_CACHE) == [("next",), ("small",)]
