"""A scalar routed send from one PE as compiled passes (`sim.routed_one`, `Strategy.routed_one`): results,
cycles and statistics bit-identical to the NumPy path and the reference strategy, with its fallbacks
(full receivers, receivers at different word numbers, a word that would overtake a queued one) taken."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run
from test_routes import TWO_BUS_SENDERS
from wafersim.kernels import reduce
from wafersim.sim import routed_one
from wafersim.sim.strategy import FAST, REFERENCE, Strategy, forced

SPEC = ws.WaferSpec.preset("dev", width=12, height=10, ramp_latency=2, hop_latency=1, channels=8)
NUMPY_PATH = Strategy(routed_one=False)

# The root (0, 0) broadcasts `words` words (its loop counter times 3); every other PE receives them, with
# `work` instructions between receives (slow receivers: the root's sends wait for room in their FIFOs).
STREAM = """
.name stream
    sreg r1, tid.x
    sreg r2, tid.y
    or r3, r1, r2
    li r6, 0
    bnz r3, receive
send_loop:
    muli r4, r6, 3
    send ramp, 1, r4
    addi r6, r6, 1
    slti r7, r6, {words}
    bnz r7, send_loop
    halt
receive:
    li r5, 0
recv_loop:
    recv r4, ramp, 1
    add r5, r5, r4
    li r8, {work}
spin:
    addi r8, r8, -1
    bnz r8, spin
    addi r6, r6, 1
    slti r7, r6, {words}
    bnz r7, recv_loop
    halt
"""


def launch_stream(words: int, work: int, block, depth: int, route):
    spec = ws.WaferSpec.preset("dev", width=12, height=10, ramp_latency=2, hop_latency=1, channels=8,
                               fifo_depth=depth)
    device = ws.Device(spec)
    program = ws.assemble(STREAM.format(words=words, work=work))
    stats = device.launch(program, 1, block, [], routes=[route])
    return np.zeros(1), stats


def spy(monkeypatch) -> list[bool]:
    """Whether each call of `send_from_one` ran the send (True) or fell back (False)."""
    calls = []
    original = routed_one.send_from_one
    monkeypatch.setattr(routed_one, "send_from_one", lambda *args: calls.append(original(*args)) or calls[-1])
    import wafersim.sim.routed as routed

    monkeypatch.setattr(routed, "send_from_one", routed_one.send_from_one)
    return calls


def every_way(launch, monkeypatch) -> list[bool]:
    """Run `launch` under the reference, the NumPy routed path and the fast strategy; asserts they agree;
    returns what `send_from_one` did in the fast run."""
    with forced(REFERENCE):
        reference = launch()
    with forced(NUMPY_PATH):
        numpy_path = launch()
    calls = spy(monkeypatch)
    with forced(FAST):
        fast = launch()
    assert_same_run(reference, numpy_path)
    assert_same_run(reference, fast)
    for channel, words in reference[1].routed_link_words.items():
        np.testing.assert_array_equal(fast[1].routed_link_words[channel], words)
    return [call is not None for call in calls]


@pytest.mark.parametrize("words,work,depth", [(1, 1, 2), (6, 1, 2), (5, 9, 1), (9, 4, 3)])
@pytest.mark.parametrize("route", ["broadcast", "row"])
def test_a_stream_of_broadcast_words_is_identical(words, work, depth, route, monkeypatch):
    block = (7, 5) if route == "broadcast" else (9, 1)
    routes = ws.routes.broadcast(1, root=(0, 0)) if route == "broadcast" else ws.routes.row_broadcast(1, root=0)
    ran = every_way(lambda: launch_stream(words, work, block, depth, routes), monkeypatch)
    assert any(ran), "no send ran on the compiled path"
    if words > depth:
        assert not all(ran), "slow receivers never made a send fall back (full FIFOs)"


def test_a_bus_with_every_sender_in_turn_falls_back_where_receivers_differ(monkeypatch):
    from test_routes import BUS_TURNS

    width = 6

    def launch():
        device = ws.Device(SPEC)
        stats = device.launch(ws.assemble(BUS_TURNS.format(width=width)), 1, (width, 1), [],
                              routes=[ws.routes.row_bus(1)])
        return np.zeros(1), stats

    ran = every_way(launch, monkeypatch)
    assert ran and not all(ran)  # (the first sender's receivers agree; later ones have heard different counts)


def test_a_word_that_would_overtake_a_queued_one_raises_the_same_error():
    # PEs 0 and 4 send at once on a row bus (one at a time, each a one-PE send): PE 1 hears PE 0 first,
    # PE 3 hears PE 4 first, an order the simulation cannot keep (`RoutedExchangeMixin._check_arrival_order`)
    source = TWO_BUS_SENDERS
    messages = []
    for strategy in (NUMPY_PATH, FAST):
        with forced(strategy), pytest.raises(ws.RouteError, match="before a word from") as error:
            ws.Device(SPEC).launch(ws.assemble(source), 1, (5, 1), [], routes=[ws.routes.row_bus(1)])
        messages.append(str(error.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("shape", [(13, 9), (1, 17), (20, 1)])
def test_a_one_block_allreduce_broadcasts_on_the_compiled_path(shape, monkeypatch):
    values = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
    ran = every_way(lambda: reduce.block_allreduce(values, "sum", block=shape[::-1]), monkeypatch)
    if shape[0] * shape[1] > 1:
        assert ran == [True]
    out, _ = reduce.block_allreduce(values, "max", block=shape[::-1])
    np.testing.assert_array_equal(out, np.full_like(values, values.max()))


@pytest.mark.parametrize("seed", range(6))
def test_one_source_sorts_a_row_by_pe_and_refuses_repeats(seed):
    from wafersim.sim.deliveries import Deliveries

    g = np.random.default_rng(seed)
    sizes = g.integers(0, 40, 3)
    dest = np.concatenate([g.permutation(200)[:k] for k in sizes]).astype(np.int64)
    links = np.concatenate([g.permutation(800)[:k + 2] for k in sizes])
    start, link_start = np.r_[0, np.cumsum(sizes)], np.r_[0, np.cumsum(sizes + 2)]
    repeated = seed % 3 == 0 and sizes[1] > 1
    if repeated:
        dest[start[1] + 1] = dest[start[1]]
    table = Deliveries(sources=np.arange(3), start=start, dest=dest, latency=g.random(len(dest)), link_start=link_start,
                       link_pe=(links % 200).astype(np.int64), link_dir=(links // 200).astype(np.uint8),
                       link_offset=g.random(len(links)), broken=np.full(3, -1), messages=[])
    for row in range(3):
        found = table.one_source(row)
        if repeated and row == 1:
            assert found is None
            continue
        run, link_run = slice(start[row], start[row + 1]), slice(link_start[row], link_start[row + 1])
        by_pe = np.argsort(dest[run])
        by_link = np.argsort(table.link_dir[link_run].astype(np.int64) * 200 + table.link_pe[link_run])
        expected = (dest[run][by_pe], table.latency[run][by_pe], table.link_dir[link_run][by_link],
                    table.link_pe[link_run][by_link], table.link_offset[link_run][by_link])
        for got, want in zip(found, expected):
            np.testing.assert_array_equal(got, want)
