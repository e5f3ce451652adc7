"""Routed channels: launch routes (src/wafersim/runtime/routes.py), the tracer (sim/routing.py) and
routed sends and receives (sim/routed.py), checked against NumPy and against arrival times computed
from `WaferSpec` figures by hand. (Routes refused, with errors naming the PEs or the source line:
tests/test_routes_errors.py.)"""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.isa.opcodes import RAMP
from wafersim.sim.strategy import REFERENCE, forced

from conftest import line_of

SPEC = ws.WaferSpec.preset("dev", width=12, height=10, ramp_latency=2, hop_latency=1, channels=8)


def run_asm(source: str, block, routes=None, spec=SPEC, args=()):
    device = ws.Device(spec)
    program = ws.assemble(source)
    stats = device.launch(program, 1, block, list(args), routes=routes)
    return device, stats


def elapsed(stats) -> np.ndarray:
    """Cycles from each PE's start to its halt."""
    return stats.busy + stats.stall


# A root (thread x == 0) sends one word through its router; everyone else receives it.
ONE_WORD = """
.name one_word
    sreg r1, tid.x
    sreg r2, tid.y
    or r3, r1, r2
    bnz r3, receive
    li r4, 42
    send ramp, 1, r4
    halt
receive:
    recv r5, ramp, 1
    halt
"""


@pytest.mark.parametrize("root", [0, 3, 6])
def test_row_broadcast_arrival_is_two_ramps_plus_one_cycle_per_hop(root):
    source = ONE_WORD.replace("or r3, r1, r2", f"addi r3, r1, {-root}")
    block = (7, 1)
    _, stats = run_asm(source, block, routes=[ws.routes.row_broadcast(1, root=root)])
    times = elapsed(stats)[0, :7]
    # root: sreg, sreg, addi, bnz, li (5 cycles); the send issues (1) and its word leaves at 6, taking 1
    # cycle on the link; halt. A receiver: 4 cycles, recv ready at 5; the word arrives at 6 + 2 ramps +
    # the hops; the recv completes then, and halt takes 1.
    ramp, hop = SPEC.ramp_latency, SPEC.hop_latency
    hops = np.abs(np.arange(7) - root)
    expected = np.maximum(5, 6 + 2 * ramp + hop * hops) + 1
    expected[root] = 6 + 1 + 1  # (whatever the fan-out)
    np.testing.assert_array_equal(times, expected)
    assert stats.routed_link_words[1].sum() == 6  # one word over each of the 6 links of the row
    assert stats.words_moved == 6


def test_a_plain_neighbour_send_pays_both_ramps_too():
    source = """
    .name hop
        sreg r1, tid.x
        bnz r1, receive
        send east, 0, r1
        halt
    receive:
        recv r2, west, 0
        halt
    """
    _, stats = run_asm(source, (2, 1))
    # sender: sreg, bnz, send issue -> leaves at 3; arrives 3 + hop + 2 ramps; receiver ready at 3.
    assert elapsed(stats)[0, 1] == 3 + SPEC.hop_latency + 2 * SPEC.ramp_latency + 1
    assert SPEC.ramp_latency > 0  # (else this would not test the ramps)


def test_a_multicast_costs_the_sender_one_send_whatever_its_fan_out():
    small = elapsed(run_asm(ONE_WORD, (2, 2), routes=[ws.routes.broadcast(1)])[1])[0, 0]
    large = elapsed(run_asm(ONE_WORD, (12, 10), routes=[ws.routes.broadcast(1)])[1])[0, 0]
    assert small == large


@pytest.mark.parametrize("block", [(1, 1), (1, 7), (5, 1), (4, 3), (9, 7)])
@pytest.mark.parametrize("kind", ["row", "column", "block"])
def test_broadcast_routes_deliver_the_roots_value_to_every_pe(block, kind):
    bx, by = block
    root = (bx // 2, by - 1)

    @ws.jit
    def spread(out, root_x, root_y):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        mine = 100 * y + x + 1
        is_root = x == root_x if kind_code == 0 else (y == root_y if kind_code == 1 else (x == root_x and y == root_y))
        if is_root:
            ws.send(ws.RAMP, mine, channel=2)
            out[y * ws.blockDim.x + x] = mine
        else:
            out[y * ws.blockDim.x + x] = ws.recv(ws.RAMP, channel=2, dtype=np.int32)

    kind_code = {"row": 0, "column": 1, "block": 2}[kind]
    route = {"row": ws.routes.row_broadcast(2, root=root[0]), "column": ws.routes.column_broadcast(2, root=root[1]),
             "block": ws.routes.broadcast(2, root=root)}[kind]
    device = ws.Device(SPEC)
    out = device.to_device(np.zeros(bx * by, np.int32))
    spread[1, block](out, *root, routes=[route])
    y, x = np.mgrid[0:by, 0:bx]
    values = 100 * y + x + 1
    expected = {"row": np.broadcast_to(values[:, root[0]][:, None], (by, bx)),
                "column": np.broadcast_to(values[root[1]][None, :], (by, bx)),
                "block": np.full((by, bx), values[root[1], root[0]])}[kind]
    np.testing.assert_array_equal(out.copy_to_host().reshape(by, bx), expected)


VECTOR = """
.name vector
.sram 64
    sreg r1, tid.x
    li r2, 0
    li r3, {n}
    bnz r1, receive
    send ramp, 1, r2
    sendv ramp, 1, r2, r3
    halt
receive:
    recv r4, ramp, 1
    recvv ramp, 1, r2, r3
    halt
"""


@pytest.mark.parametrize("n, depth", [(5, 16), (40, 4), (64, 1)])
def test_routed_vector_sends_keep_order_and_back_pressure_every_receiver(n, depth):
    spec = SPEC.replace(fifo_depth=depth)
    device = ws.Device(spec)
    program = ws.assemble(VECTOR.format(n=n))
    with forced(REFERENCE):  # the reference strategy must agree too
        reference = device.launch(program, 1, (6, 1), [], routes=[ws.routes.row_broadcast(1)])
    stats = device.launch(program, 1, (6, 1), [], routes=[ws.routes.row_broadcast(1)])
    assert stats.cycles == reference.cycles
    np.testing.assert_array_equal(elapsed(stats), elapsed(reference))
    assert stats.routed_link_words[1].sum() == 5 * (n + 1)
    if depth >= n + 1:  # no back-pressure: the last word leaves n + 1 cycles after the first
        ramp, hop = spec.ramp_latency, spec.hop_latency
        # sreg, li, li, bnz (4); the send issues and its word takes the link (2); the sendv issues (1) and
        # its words leave one a cycle: the last at 4 + 2 + 1 + (n - 1)
        last_arrives = 6 + n + 2 * ramp + hop * np.arange(1, 6)
        np.testing.assert_array_equal(elapsed(stats)[0, 1:6], last_arrives + 1)


def test_vector_values_arrive_intact_at_every_receiver():
    @ws.jit
    def copy_row(out, data):
        x = ws.threadIdx.x
        buf = ws.local.array(24, np.float32)
        if x == 2:
            for i in range(24):
                buf[i] = data[i]
            ws.send(ws.RAMP, buf[0:24], channel=3)
        else:
            ws.recv(ws.RAMP, out=buf[0:24], channel=3)
        for i in range(24):
            out[x * 24 + i] = buf[i]

    device = ws.Device(SPEC.replace(fifo_depth=3))
    data = np.random.default_rng(1).standard_normal(24).astype(np.float32)
    out = device.to_device(np.zeros(5 * 24, np.float32))
    copy_row[1, (5, 1)](out, device.to_device(data), routes=ws.routes.row_broadcast(3, root=2))
    np.testing.assert_array_equal(out.copy_to_host().reshape(5, 24), np.tile(data, (5, 1)))


def test_in_kernel_routes_chain_a_prefix_sum_like_launch_routes():
    @ws.jit
    def chain_sum(out, last_sends):
        x = ws.threadIdx.x
        ws.route(4, ws.RAMP, ws.EAST)  # at the last PE this leads off the block: an error only if it sends
        ws.route(4, ws.WEST, ws.RAMP)
        total = x + 1
        if x > 0:
            total += ws.recv(ws.RAMP, channel=4, dtype=np.int32)
        if x < ws.blockDim.x - 1 or last_sends:
            ws.send(ws.RAMP, total, channel=4)  # MARK-send
        out[x] = total

    @ws.jit
    def launch_routed(out):
        x = ws.threadIdx.x
        total = x + 1
        if x > 0:
            total += ws.recv(ws.RAMP, channel=4, dtype=np.int32)
        if x < ws.blockDim.x - 1:
            ws.send(ws.RAMP, total, channel=4)
        out[x] = total

    device = ws.Device(SPEC)
    out = device.to_device(np.zeros(7, np.int32))
    chain_sum[1, (7, 1)](out, 0)
    np.testing.assert_array_equal(out.copy_to_host(), np.cumsum(np.arange(1, 8)))
    out = device.to_device(np.zeros(7, np.int32))
    launch_routed[1, (7, 1)](out, routes=[ws.routes.chain(4, ws.EAST)])
    np.testing.assert_array_equal(out.copy_to_host(), np.cumsum(np.arange(1, 8)))
    with pytest.raises(ws.RouteError, match=r"east out of the block at thread \(6, 0\)") as info:
        chain_sum[1, (7, 1)](out, 1)
    assert info.value.source[1] == line_of(chain_sum, "MARK-send")


def test_grids_of_blocks_get_the_same_routes_in_every_block():
    @ws.jit
    def per_block(out):
        x, y = ws.grid(2)
        w, h = ws.gridsize(2)
        if ws.threadIdx.x == 0:
            ws.send(ws.RAMP, x + 1000 * y, channel=1)
            out[y * w + x] = x + 1000 * y
        else:
            out[y * w + x] = ws.recv(ws.RAMP, channel=1, dtype=np.int32)

    device = ws.Device(SPEC)
    out = device.to_device(np.zeros(12 * 4, np.int32))
    per_block[(3, 2), (4, 2)](out, routes=[ws.routes.row_broadcast(1)])
    y, x = np.mgrid[0:4, 0:12]
    root_x = x - x % 4
    np.testing.assert_array_equal(out.copy_to_host().reshape(4, 12), root_x + 1000 * y)


# ----------------------------------------------------------------------------- buses: several senders
BUS_TURNS = """
.name turns
    sreg r1, tid.x
    li r2, 0
loop:
    seq r3, r1, r2
    bz r3, listen
    send ramp, 1, r1
    jmp next
listen:
    recv r4, ramp, 1
    add r5, r5, r4
next:
    addi r2, r2, 1
    slti r3, r2, {width}
    bnz r3, loop
    halt
"""


def test_a_bus_carries_words_of_every_sender_in_turn():
    """Every PE broadcasts its index in turn on one row bus; every PE sums what it hears."""
    width = 6
    device = ws.Device(SPEC)
    program = ws.assemble(BUS_TURNS.format(width=width))
    stats = device.launch(program, 1, (width, 1), [], routes=[ws.routes.row_bus(1)])
    assert stats.routed_link_words[1].sum() == width * (width - 1)  # each broadcast crosses every link once
    assert stats.op_counts["recv"] == width * (width - 1)


# PEs 0 and 4 of a row send at once on a bus, the others receive twice (tests/test_routed_one.py too).
TWO_BUS_SENDERS = """
.name both
    sreg r1, tid.x
    seqi r2, r1, 0
    seqi r3, r1, 4
    or r2, r2, r3
    bz r2, listen
    send ramp, 1, r1
    halt
listen:
    recv r4, ramp, 1
    recv r4, ramp, 1
    halt
"""


def test_simultaneous_senders_on_a_bus_that_the_simulation_cannot_order_are_refused():
    # PEs 0 and 4 send at once on a row bus; PE 1 hears PE 0 first, PE 3 hears PE 4 first: no single order
    source = TWO_BUS_SENDERS
    with pytest.raises(ws.RouteError, match="before a word from"):
        run_asm(source, (5, 1), routes=[ws.routes.row_bus(1)])


def test_heatmaps_and_the_trace_show_routed_traffic_per_channel(tmp_path):
    device = ws.Device(SPEC)
    program = ws.assemble(ONE_WORD)
    stats = device.launch(program, 1, (5, 3), [], routes=[ws.routes.broadcast(1, root=(0, 0))], trace=True)
    # The root's word goes east along row 0 (4 links) and down every column (2 links each): per PE,
    # the words its router sends on.
    expected = np.zeros((SPEC.height, SPEC.width), dtype=np.int64)
    expected[0, 0] = 2  # east and south
    expected[0, 1:4] = 2  # on east, and south
    expected[0, 4] = 1  # south
    expected[1, 0:5] = 1  # south, to row 2
    np.testing.assert_array_equal(stats.metric("routed_words_1"), expected)
    np.testing.assert_array_equal(stats.metric("routed_words"), expected)
    assert not stats.metric("routed_words_2").any()
    assert stats.heatmap("routed_words_1", tmp_path / "routed.png").exists()
    events = stats.trace.events(0, SPEC.clock_hz)
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and counters[-1]["name"] == "channel 1: routed words over links"
    assert counters[-1]["args"]["words"] == expected.sum() == 4 + 5 * 2


def test_routed_streams_of_two_channels_share_a_link():
    """PE 0 streams n words east on channel 1, PE 1 streams n words east on channel 2: the link from PE 1
    to PE 2 carries both, one word a cycle, so PE 3 has all 2n words no earlier than 2n cycles in."""
    n = 12
    source = f"""
    .name share
    .sram {n}
        sreg r1, tid.x
        li r2, 0
        li r3, {n}
        slti r4, r1, 2
        bz r4, listen
        bnz r1, second
        sendv ramp, 1, r2, r3
        halt
    second:
        sendv ramp, 2, r2, r3
        halt
    listen:
        recvv ramp, 1, r2, r3
        recvv ramp, 2, r2, r3
        halt
    """
    routes = [ws.routes.row_broadcast(1, root=0), ws.routes.custom(2, lambda x, y, w, h: (
        {RAMP: ws.EAST} if x == 1 else {ws.WEST: (ws.EAST, RAMP)} if x == 2 else {ws.WEST: RAMP} if x == 3 else {}))]
    spec = SPEC.replace(fifo_depth=2 * n)  # no back-pressure: only the shared link can hold words back
    _, shared = run_asm(source, (4, 1), routes=routes, spec=spec)
    assert elapsed(shared)[0, 3] >= 2 * n
    # The same streams on links of their own (PE 1's goes to PE 0 only) are not held back.
    routes[1] = ws.routes.custom(2, lambda x, y, w, h: {RAMP: ws.WEST} if x == 1 else {ws.EAST: RAMP} if x == 0 else {})
    lone = source.replace("recvv ramp, 2, r2, r3", "").replace("slti r4, r1, 2", "slti r4, r1, 2\n        seqi r5, r1, 0")
    _, apart = run_asm(lone, (4, 1), routes=routes, spec=spec)
    # PE 3 then has channel 1's n words only (it listens to nothing else): the shared link cost it the
    # other stream's n words (less one cycle of overlap at the start)
    assert elapsed(shared)[0, 3] - elapsed(apart)[0, 3] >= n - 1


def test_a_long_route_streams_a_word_a_cycle_when_its_receivers_keep_up():
    """Words on their way wait in the routers of the path: a FIFO of 4 words does not throttle a 39-hop
    broadcast to 4 words per round trip."""
    n, width = 64, 40
    spec = SPEC.replace(width=width, height=1, fifo_depth=4)
    device = ws.Device(spec)
    stats = device.launch(ws.assemble(VECTOR.format(n=n)), 1, (width, 1), [], routes=[ws.routes.row_broadcast(1)])
    far = elapsed(stats)[0, width - 1]
    # the root's last word leaves at 6 + n (see the test above) and needs 2 ramps and 39 hops
    assert far == 6 + n + 2 * spec.ramp_latency + spec.hop_latency * (width - 1) + 1


def test_declared_routes_must_agree_with_each_other_and_with_the_launch():
    @ws.jit
    def twice(out):
        ws.use_route(1, "row_bus")
        ws.use_route(1, "column_bus")

    device = ws.Device(SPEC)
    out = device.to_device(np.zeros(1, np.float32))
    with pytest.raises(ws.CompileError, match="already routed as row_bus"):
        twice[1, 1](out)

    @ws.jit
    def declared(out):
        ws.use_route(1, "row_bus")
        if ws.threadIdx.x == 0:
            ws.send(ws.RAMP, 2.5, channel=1)
        else:
            out[ws.threadIdx.x] = ws.recv(ws.RAMP, channel=1)

    out = device.to_device(np.zeros(4, np.float32))
    with pytest.raises(ws.RouteError, match="routes channel 1 as row_bus"):
        declared[1, (4, 1)](out, routes=[ws.routes.row_broadcast(1)])
    declared[1, (4, 1)](out, routes=[ws.routes.row_bus(1)])  # the same pattern: fine
    np.testing.assert_array_equal(out.copy_to_host(), [0, 2.5, 2.5, 2.5])
    assert ".route 1 row_bus" in ws.disassemble(declared.compile_for(out, device=device).program)


def test_named_patterns_match_a_plain_python_construction():
    """`isa.routes` builds its patterns with NumPy over the whole block; this builds them PE by PE."""
    from wafersim.isa import routes as patterns
    from wafersim.isa.opcodes import ACCEPT, EAST, NORTH, RAMP, SOUTH, WEST

    def inside(x, y, bx, by, d):
        dx, dy = patterns.STEP[d]
        return 0 <= x + dx < bx and 0 <= y + dy < by

    for bx, by in [(1, 1), (1, 4), (5, 1), (3, 4), (6, 2)]:
        bus = np.zeros((patterns.N_PORTS, by, bx), dtype=np.uint8)
        chains = {d: np.zeros_like(bus) for d in range(4)}
        for y in range(by):
            for x in range(bx):
                out = {d: (1 << d if inside(x, y, bx, by, d) else 0) for d in range(4)}
                vertical = out[NORTH] | out[SOUTH]
                bus[RAMP, y, x] = out[EAST] | out[WEST] | vertical | ACCEPT
                for port, onward in ((WEST, out[EAST] | vertical), (EAST, out[WEST] | vertical),
                                     (NORTH, out[SOUTH]), (SOUTH, out[NORTH])):
                    bus[port, y, x] = onward | 1 << RAMP | ACCEPT if inside(x, y, bx, by, port) else 0
                for d in range(4):
                    if inside(x, y, bx, by, d):
                        chains[d][RAMP, y, x] = 1 << d | ACCEPT
                    if inside(x, y, bx, by, (d + 2) % 4):
                        chains[d][(d + 2) % 4, y, x] = 1 << RAMP | ACCEPT
        np.testing.assert_array_equal(patterns.block_bus(bx, by), bus)
        assert patterns.block_bus(bx, by).dtype == np.uint8
        for ahead, behind in ((EAST, WEST), (SOUTH, NORTH)):  # row and column buses (`line_bus`)
            line = np.zeros_like(bus)
            for y in range(by):
                for x in range(bx):
                    out = {d: (1 << d if inside(x, y, bx, by, d) else 0) for d in (ahead, behind)}
                    line[RAMP, y, x] = out[ahead] | out[behind] | ACCEPT
                    for port, onward in ((behind, out[ahead]), (ahead, out[behind])):
                        line[port, y, x] = onward | 1 << RAMP | ACCEPT if inside(x, y, bx, by, port) else 0
            got = patterns.line_bus(bx, by, ahead, behind)
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, line)
        for d in range(4):
            np.testing.assert_array_equal(patterns.chain(bx, by, d), chains[d])


def _raises(*args):
    raise ZeroDivisionError("division by zero")


@pytest.mark.parametrize("make, error, word", [
    (lambda: ws.routes.row_broadcast(0, include_root="x"), ws.ArgumentTypeError, "include_root"),  # (was taken)
    (lambda: ws.routes.column_broadcast(0, include_root=1), ws.ArgumentTypeError, "include_root"),
    (lambda: ws.routes.broadcast(0, include_root=None), ws.ArgumentTypeError, "include_root"),
    (lambda: ws.routes.custom(1, {}), ws.ArgumentTypeError, "rules"),
    (lambda: ws.routes.custom(1, lambda x, y, w, h: {}, merge="yes"), ws.ArgumentTypeError, "merge"),
])
def test_bad_route_arguments_are_refused_when_the_route_is_made(make, error, word):
    with pytest.raises(error, match=word):
        make()


@pytest.mark.parametrize("root", [0.0, 1.0, True, "0", None])
def test_a_root_that_is_not_a_whole_number_is_refused_as_such_not_as_outside_the_block(root):
    # (was "root x = 0.0 is outside the block (3 PEs along x)", of a position inside it)
    for route in (ws.routes.row_broadcast(1, root=root), ws.routes.column_broadcast(1, root=root),
                  ws.routes.broadcast(1, root=(root, 0))):
        with pytest.raises(ws.RouteError, match="must be a whole number, a thread index from 0 to 2") as info:
            run_asm(ONE_WORD, (3, 3), routes=[route])
        assert "outside the block" not in str(info.value)
    _, stats = run_asm(ONE_WORD, (3, 1), routes=[ws.routes.row_broadcast(1, root=np.int64(0))])  # (NumPy ints are)
    assert stats.routed_link_words[1].sum() == 2


def test_a_custom_rule_for_no_input_port_is_refused_at_launch_naming_the_pe():
    # `{(): ws.EAST}` installed nothing, silently: the send then failed with advice to pass a route to the launch
    def rules(x, y, w, h):
        return {(): ws.EAST} if x == 0 else {ws.WEST: ws.RAMP}
    with pytest.raises(ws.RouteError, match=r"rules\(0, 0, 2, 1\) gives a rule for no input port, \(\)") as info:
        run_asm(ONE_WORD, (2, 1), routes=[ws.routes.custom(1, rules)])
    assert info.value.pe == (0, 0)
    # the same rule from the ramp delivers the word: one word over the one link
    _, stats = run_asm(ONE_WORD, (2, 1), routes=[ws.routes.custom(
        1, lambda x, y, w, h: {(ws.RAMP,): ws.EAST} if x == 0 else {ws.WEST: ws.RAMP})])
    assert stats.routed_link_words[1].sum() == 1


@pytest.mark.parametrize("rules, word", [
    (lambda: {}, "rules\\(0, 0, 2, 1\\) raised TypeError"),  # wrong arity
    (lambda x, y, w, h: 5, "returned 5"),
    (_raises, "raised ZeroDivisionError"),
])
def test_a_custom_rule_that_fails_at_launch_is_a_route_error_naming_it(rules, word):
    with pytest.raises(ws.RouteError, match=word) as info:
        run_asm(".args 0\nhalt", (2, 1), routes=[ws.routes.custom(1, rules)])
    assert "custom route on channel 1" in str(info.value) and info.value.pe == (0, 0)


def test_flags_as_numpy_bools_are_taken():
    assert ws.routes.row_broadcast(0, include_root=np.bool_(True)).name == "row_broadcast"



def test_the_same_senders_rerouted_mid_kernel_reach_their_new_receivers():
    """A PE streams a vector east, its route is changed (`ws.route` at it and the PEs along), and it streams
    another from the same lanes on the same channel: the second reaches the new receiver, not the first (the
    engine keeps the last senders' rows of a route table: a changed route is a new table)."""
    @ws.jit
    def reroute(out, data):
        x = ws.threadIdx.x
        buf = ws.local.array(8, np.float32)
        for i in range(8):
            buf[i] = 0.0
        if x == 0:
            ws.route(2, ws.RAMP, ws.EAST)
        else:
            ws.route(2, ws.WEST, ws.RAMP)
        if x == 0:
            for i in range(8):
                buf[i] = data[i]
            ws.send(ws.RAMP, buf[0:8], channel=2)
        elif x == 1:
            ws.recv(ws.RAMP, out=buf[0:8], channel=2)
        ws.syncthreads()
        if x == 1:
            ws.route(2, ws.WEST, ws.EAST)  # PE 1 now passes the words on to PE 2
        ws.syncthreads()
        if x == 0:
            for i in range(8):
                buf[i] = data[8 + i]
            ws.send(ws.RAMP, buf[0:8], channel=2)
        elif x == 2:
            ws.recv(ws.RAMP, out=buf[0:8], channel=2)
        for i in range(8):
            out[x * 8 + i] = buf[i]

    device = ws.Device(SPEC)
    data = np.arange(1, 17, dtype=np.float32)
    out = device.to_device(np.zeros(4 * 8, np.float32))
    reroute[1, (4, 1)](out, device.to_device(data))
    got = out.copy_to_host().reshape(4, 8)
    np.testing.assert_array_equal(got[0], data[8:])
    np.testing.assert_array_equal(got[1], data[:8])
    np.testing.assert_array_equal(got[2], data[8:])
    np.testing.assert_array_equal(got[3], np.zeros(8, np.float32))


def test_a_custom_routes_masks_are_each_pes_rules_read_alone():
    """A custom route's masks (each rule read once per form where PEs repeat it) equal the masks written
    from each PE's rules one by one in plain Python: ports as ints, tuples, lists and NumPy ints, rules
    repeated across PEs, an input named twice (the later rule wins), drops (`()`)."""
    rng = np.random.default_rng(5)
    forms = [ws.EAST, ws.WEST, ws.SOUTH, (ws.RAMP, ws.EAST), (ws.EAST, ws.RAMP), [ws.RAMP, ws.SOUTH], (),
             np.int64(ws.NORTH), (ws.EAST, ws.EAST)]
    inputs = [ws.WEST, ws.NORTH, (ws.WEST, ws.NORTH), np.int32(ws.EAST)]
    tables = {(x, y): {inputs[int(i)]: forms[int(rng.integers(len(forms)))]
                       for i in rng.integers(len(inputs), size=int(rng.integers(0, 4)))}
              for x in range(5) for y in range(4)}
    expected = np.zeros((len(ws.isa.opcodes.PORTS), 4, 5), dtype=np.uint8)
    for (x, y), table in tables.items():
        for rx, tx in table.items():
            outs = [int(p) for p in (tx if isinstance(tx, (tuple, list)) else [tx])]
            for port in set(int(p) for p in (rx if isinstance(rx, tuple) else [rx])):
                expected[port, y, x] = sum(1 << p for p in set(outs)) | 32  # (ACCEPT: the input has a rule)
    route = ws.routes.custom(1, lambda x, y, w, h: tables[(x, y)])
    np.testing.assert_array_equal(route.masks((5, 4)), expected)


@pytest.mark.parametrize("wrong", [(ws.RAMP, float(ws.EAST)), (ws.RAMP, True), float(ws.EAST)])
def test_a_port_equal_to_a_rule_read_before_is_still_refused_if_it_is_no_port(wrong):
    """PE 1 repeats PE 0's rule but for a float or a bool equal to a port (equal, with the same hash, as a key
    of the rules already read): it is refused as no port, not taken for the rule it equals."""
    def rules(x, y, w, h):
        return {ws.WEST: (ws.RAMP, ws.EAST) if isinstance(wrong, tuple) else ws.EAST} if x == 0 else {ws.WEST: wrong}
    with pytest.raises(ws.RouteError, match="is not a port"):
        ws.routes.custom(1, rules).masks((2, 1))
