"""Routed sends (`wafersim.sim.routed`): the expansions of a sender set's receivers and links are kept on its
trace (`RoutedExchangeMixin._expanded`), which is kept across launches: a repeated launch finds them, and
gives the same results, cycles and statistics as a launch that computes them afresh, and NumPy's product.
The `routr` executor (`_route`, `ws.route_mask`) keeps the mask bits routes.md describes. A send that fails for
a rule the kernel sets later (`_late_rule_hint`) says so, naming the rule's line."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of
from wafersim.kernels import gemm
from wafersim.sim import routed, routed_expansion, strategy
from wafersim.sim.routed import RoutedExchangeMixin

STAT_SCALARS = ("cycles", "instructions", "op_counts", "global_bytes", "flops", "vector_elements", "words_moved")
STAT_ARRAYS = ("busy", "stall", "pe_instructions", "link_words")


def expansions_made(monkeypatch) -> list[int]:
    """One entry per `Expansion` constructed."""
    made: list[int] = []
    original = routed_expansion.Expansion.__init__

    def counting(self, *args, **kwargs):
        made.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(routed_expansion.Expansion, "__init__", counting)
    return made


def assert_same(first, second) -> None:
    (out, stats), (ref, ref_stats) = first, second
    np.testing.assert_array_equal(np.asarray(out).view(np.int32), np.asarray(ref).view(np.int32))
    for name in STAT_SCALARS:
        assert getattr(stats, name) == getattr(ref_stats, name), name
    for name in STAT_ARRAYS:
        np.testing.assert_array_equal(getattr(stats, name), getattr(ref_stats, name), err_msg=name)


def test_a_repeated_launch_reuses_the_expansions_kept_on_its_traces(monkeypatch):
    p, tile = 4, 8
    rng = np.random.default_rng(7)
    a, b = rng.random((p * tile, p * tile), dtype=np.float32), rng.random((p * tile, p * tile), dtype=np.float32)
    made = expansions_made(monkeypatch)
    device = ws.Device(ws.WaferSpec(width=p, height=p, fifo_depth=7))  # (a spec no other test traced with)
    first = gemm.gemm(a, b, p, device=device)
    assert made  # (SUMMA's panels are routed vector sends: expanded)
    made.clear()
    second = gemm.gemm(a, b, p, device=device)
    assert not made  # every sender set's receivers and links found on its trace
    assert_same(second, first)
    np.testing.assert_allclose(second[0], a.astype(np.float64) @ b, rtol=1e-4)


def test_tables_too_large_to_keep_them_expand_per_wave_with_the_same_results(monkeypatch):
    p, tile = 4, 6
    rng = np.random.default_rng(11)
    a, b = rng.random((p * tile, p * tile), dtype=np.float32), rng.random((p * tile, p * tile), dtype=np.float32)
    spec = ws.WaferSpec(width=p, height=p, fifo_depth=5)
    kept = gemm.gemm(a, b, p, device=ws.Device(spec))
    monkeypatch.setattr(RoutedExchangeMixin, "TABLE_EXPANSION_ENTRIES", 0)
    made = expansions_made(monkeypatch)
    per_wave = gemm.gemm(a, b, p, device=ws.Device(spec))
    assert made  # (none kept on a table: the wave expands them again)
    assert_same(per_wave, kept)
    np.testing.assert_allclose(per_wave[0], a.astype(np.float64) @ b, rtol=1e-4)


def random_table(rng: np.random.Generator, n: int, sources: int, shared: bool) -> routed.Deliveries:
    """A `Deliveries` of `sources` rows reaching random receivers among `n` PEs (disjoint per row unless
    `shared`: then rows overlap), with random latencies, and no links."""
    counts = rng.integers(0, 9, sources)
    if shared:
        dest = np.concatenate([rng.choice(n, count, replace=False) for count in counts]).astype(np.int64)
    else:
        dest = rng.permutation(n)[:counts.sum()].astype(np.int64)
    start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    none = np.zeros(0, dtype=np.int64)
    return routed.Deliveries(sources=np.arange(sources, dtype=np.int64), start=start, dest=dest,
                             latency=rng.random(len(dest)), link_start=np.zeros(sources + 1, dtype=np.int64),
                             link_pe=none, link_dir=none.astype(np.int8), link_offset=none.astype(np.float64),
                             broken=np.full(sources, -1, dtype=np.int64), messages=[])


@pytest.mark.parametrize("n, shared", [(64, False), (64, True), (5000, False), (5000, True)])
def test_an_expansions_receiver_indices_and_lane_order_match_searches_and_lexsort(n, shared):
    # (n = 5000 with some 40 entries: the binary searches; n = 64: the counts per PE)
    rng = np.random.default_rng(n + shared)
    for _ in range(20):
        table = random_table(rng, n, 10, shared)
        rows = np.sort(rng.choice(10, rng.integers(1, 11), replace=False))
        expansion = routed_expansion.Expansion(table, rows, False, n)
        dest = np.concatenate([table.dest[table.start[r]:table.start[r + 1]] for r in rows]).astype(np.int64)
        lane = np.repeat(np.arange(len(rows)), [table.start[r + 1] - table.start[r] for r in rows])
        np.testing.assert_array_equal(expansion.dest, dest)
        assert expansion.receiver_of.dtype == np.int64
        np.testing.assert_array_equal(expansion.receiver_of, np.searchsorted(np.sort(dest), dest))
        order = np.lexsort((dest, lane))  # (lane first, then receiver; stable)
        latency = np.concatenate([table.latency[table.start[r]:table.start[r + 1]] for r in rows])
        got_order, got_dest, got_lane, got_latency = expansion.by_dest
        for got, expected in ((got_order, order), (got_dest, dest[order]), (got_lane, lane[order]),
                              (got_latency, latency[order])):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


@ws.jit
def masked_row(out, rx, tx):
    x = ws.threadIdx.x
    ws.route_mask(1, rx[x], tx[x])
    ws.syncthreads()
    if x == 0:
        ws.send(ws.RAMP, 5.0, channel=1)
    elif tx[1] != 32:  # (PE 1 dropping: no PE receives)
        out[x] = ws.recv(ws.RAMP, channel=1)


def test_route_mask_bits_do_what_routes_md_says():
    """routes.md: `tx_mask = 0` removes the rule (a word arriving is an error), 32 alone drops the words,
    with a port bit set bit 5 is optional, and higher bits of either mask are ignored."""
    device = ws.Device(ws.WaferSpec.preset("dev", width=8, height=8))
    E, W, R = 1 << ws.EAST, 1 << ws.WEST, 1 << ws.RAMP
    rx = np.array([R, W, W, W], np.int32)

    def launch(tx, rx=rx):
        out = device.to_device(np.full(4, -1.0, np.float32))
        stats = masked_row[1, (4, 1)](out, device.to_device(rx), device.to_device(np.array(tx, np.int32)))
        return out.copy_to_host(), stats

    broadcast = [E | 32, E | R | 32, E | R | 32, R | 32]
    want = np.array([-1.0, 5.0, 5.0, 5.0], np.float32)
    np.testing.assert_array_equal(launch(broadcast)[0], want)
    np.testing.assert_array_equal(launch([m & ~32 for m in broadcast])[0], want)  # bit 5 optional with ports
    np.testing.assert_array_equal(launch([m | 64 | 1 << 20 for m in broadcast], rx | 1 << 7)[0], want)  # ignored
    # PE 1 drops (32 alone): the word reaches no ramp and goes no further, and nothing is left over
    dropped, stats = launch([E | 32, 32, E | R | 32, R | 32])
    assert (dropped == -1.0).all() and stats.words_left_in_fifos == 0
    with pytest.raises(ws.RouteError, match="takes nothing from the west") as info:
        launch([E | 32, 0, E | R | 32, R | 32])
    # PE 1 ran its route_mask (which removed the rule) before the send: no word about an order of the two
    assert "(add it to the route there)" in str(info.value) and "had not run" not in str(info.value)


# ----------------------------------------------------------------------------- a rule set after the send needing it
# The simulator reads the rules of a word's whole path when it runs a send, and runs PEs in its own order (the
# lowest pc first): a rule set later in program order was missing, and the RouteError said "add it to the route
# there" of a rule the kernel does set. It now names the router, the channel, the port and the line of the
# ws.route that sets it, says why, and what to do (docs/routes.md "Changing routes inside a kernel").


@ws.jit
def rule_set_after_a_send(out):
    x = ws.threadIdx.x
    if x == 0:
        ws.route(1, ws.RAMP, ws.EAST)
        ws.send(ws.RAMP, 5.0, channel=1)  # MARK-send
    if x == 1:
        ws.route(1, ws.WEST, ws.RAMP)  # MARK-late-rule (run after PE 0's send: a higher pc)
        out[1] = ws.recv(ws.RAMP, channel=1)


@ws.jit
def own_rule_after_its_send(out):
    x = ws.threadIdx.x
    if x == 0:
        ws.send(ws.RAMP, 5.0, channel=1)  # MARK-own-send
        ws.route(1, ws.RAMP, ws.EAST)  # MARK-own-late-rule
    if x == 1:
        out[1] = ws.recv(ws.RAMP, channel=1)


@ws.jit
def rules_before_a_barrier(out):
    x = ws.threadIdx.x
    if x == 0:
        ws.route(1, ws.RAMP, ws.EAST)
    if x == 1:
        ws.route(1, ws.WEST, ws.RAMP)
    ws.syncthreads()  # (what the message advises)
    if x == 0:
        ws.send(ws.RAMP, 5.0, channel=1)
    if x == 1:
        out[1] = ws.recv(ws.RAMP, channel=1)


@pytest.mark.parametrize("racecheck", [False, True])
def test_a_rule_set_later_than_the_send_needing_it_is_explained(racecheck):
    device = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
    out = device.to_device(np.zeros(2, np.float32))
    with pytest.raises(ws.RouteError) as info:
        rule_set_after_a_send[1, (2, 1)](out, racecheck=racecheck)
    text = str(info.value)
    late = f"{line_of(rule_set_after_a_send, 'MARK-late-rule')}"
    assert "route of channel 1: words go east to thread (1, 0) of block (0, 0), whose route takes nothing from " \
           "the west;" in text
    assert f"the kernel sets a rule of channel 1 from the west with ws.route at {__file__}:{late}, which thread " \
           f"(1, 0) of block (0, 0) had not run when the simulator ran this send" in text
    assert "later in program order" in text and "ws.syncthreads()" in text and "add it to the route" not in text
    assert info.value.missing_rule == (1, ws.WEST)  # (the router's flat index in the 2 x 1 block, its port)
    assert info.value.source[1] == line_of(rule_set_after_a_send, "MARK-send")
    # the advice: the rules before a barrier that precedes the send; the word arrives
    rules_before_a_barrier[1, (2, 1)](out, racecheck=racecheck)
    assert out.copy_to_host().tolist() == [0.0, 5.0]


def test_a_senders_own_rule_set_after_its_send_is_explained():
    device = ws.Device(ws.WaferSpec.preset("dev", width=8, height=4))
    with pytest.raises(ws.RouteError) as info:
        own_rule_after_its_send[1, (2, 1)](device.to_device(np.zeros(2, np.float32)))
    text = str(info.value)
    late = line_of(own_rule_after_its_send, "MARK-own-late-rule")
    assert "takes nothing from the ramp (their own sends); the kernel sets a rule of channel 1 from its ramp (its " \
           f"own sends) with ws.route at {__file__}:{late}, which thread (0, 0) of block (0, 0) had not run" in text
    assert "no PE has a route on channel 1" not in text  # (the kernel sets one: not "pass one to the launch")
    assert info.value.source[1] == line_of(own_rule_after_its_send, "MARK-own-send")


# ----------------------------------------------------------------------------- senders in turn: a later one fails
# Senders sharing receivers on a merging channel send one after the other (`_routed_send_in_turn`). A vector
# send whose range was outside SRAM raised after the senders before it had sent; the scheduler runs the group's
# other lanes again without the failing one, so they sent their words twice (each receiver's FIFO got PE 0's 8
# words twice), and a step's words held for the stream pump were read by the receivers before they landed
# (zeros in their SRAM). Now every range is checked first: the failed launch's state holds PE 0's words once.


@ws.jit(boundscheck=False)
def senders_in_turn_async(out, n1):
    x = ws.threadIdx.x
    buf = ws.local.array(16, np.float32)
    ws.use_route(0, "row_bus")
    for i in range(16):
        buf[i] = i + 10.0 * x
    n = 8
    if x == 1:
        n = n1
    if x >= 2:  # (the receivers first in the program: after the fault the scheduler runs them first)
        ws.recv_async(ws.RAMP, out=buf[0:16], channel=0)
        ws.recv_wait(ws.RAMP, channel=0)
    if x < 2:
        ws.send_async(ws.RAMP, buf[0:n], channel=0)  # MARK-turn-send
        ws.send_wait(ws.RAMP, channel=0)
    out[x] = buf[0]


@ws.jit(boundscheck=False)
def senders_in_turn_blocking(out, n1):
    x = ws.threadIdx.x
    buf = ws.local.array(16, np.float32)
    ws.use_route(0, "row_bus")
    for i in range(16):
        buf[i] = i + 10.0 * x
    n = 8
    if x == 1:
        n = n1
    if x >= 2:
        ws.recv(ws.RAMP, out=buf[0:16], channel=0)
    if x < 2:
        ws.send(ws.RAMP, buf[0:n], channel=0)  # MARK-turn-send
    out[x] = buf[0]


@pytest.mark.parametrize("kernel", [senders_in_turn_async, senders_in_turn_blocking])
@pytest.mark.parametrize("name", ["REFERENCE", "NO_PUMP", "FIRST_STORED", "FAST"])
def test_senders_in_turn_whose_later_one_fails_send_the_others_words_once(kernel, name):
    chosen = {"REFERENCE": strategy.REFERENCE, "NO_PUMP": strategy.Strategy(stream_pump=False),
              "FIRST_STORED": strategy.Strategy(pump_first_step=False), "FAST": strategy.FAST}[name]
    device = ws.Device(ws.WaferSpec(width=4, height=1))
    with strategy.forced(chosen), pytest.raises(ws.MemoryAccessError, match="outside the data segment") as info:
        kernel[(1, 1), (4, 1)](device.device_array(4), 1 << 20)
    error = info.value
    assert error.pe == (1, 0) and error.source[1] == line_of(kernel, "MARK-turn-send")
    fifo = error.state.waves[0].fifos[(ws.RAMP, 0)]
    assert fifo.pushed.tolist() == [0, 8, 8, 8]  # PE 0's 8 words reach every other PE of the row, once
    own = np.arange(16, dtype=np.float32)
    for x in (2, 3):  # each receiver took PE 0's words (i + 0) into buf[0:8] and waits for 8 more
        want = np.concatenate([own[:8], own[8:] + 10 * x])
        np.testing.assert_array_equal(error.state.read_local("buf", (x, 0)), want)
