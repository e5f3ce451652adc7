"""Routed channels refused (src/wafersim/runtime/routes.py, sim/routing.py): a route leaving the block, a word
sent to a router that takes nothing from that side, two sources or a cycle on one channel, a stale rule,
sends without a route, bad route options; each error names the PEs or the source line."""
from __future__ import annotations

import numpy as np
import pytest
from test_routes import ONE_WORD, SPEC, run_asm

import wafersim as ws
from wafersim import collectives as ws_collectives
from wafersim.isa.opcodes import RAMP

from conftest import line_of


def test_a_route_leaving_the_block_fails_at_launch_naming_the_pe():
    route = ws.routes.custom(1, lambda x, y, w, h: {RAMP: ws.EAST} if x == w - 1 and y == 1 else {})
    with pytest.raises(ws.RouteError, match=r"east out of the block at thread \(4, 1\) of block \(0, 0\)"):
        run_asm(ONE_WORD, (5, 3), routes=[route])


def test_a_word_sent_to_a_router_that_takes_nothing_from_that_side_fails_at_launch():
    route = ws.routes.custom(1, lambda x, y, w, h: {RAMP: ws.SOUTH} if (x, y) == (2, 0) else {})
    with pytest.raises(ws.RouteError, match=r"thread \(2, 1\).*takes nothing from the north"):
        run_asm(ONE_WORD, (4, 3), routes=[route])


def test_two_sources_on_one_channel_and_a_cycle_are_refused():
    merging = ws.routes.custom(1, lambda x, y, w, h: {RAMP: ws.EAST, ws.WEST: (ws.EAST, RAMP)} if x < w - 1
                               else {ws.WEST: RAMP})
    with pytest.raises(ws.RouteError, match="meet"):
        run_asm(ONE_WORD, (4, 1), routes=[merging])
    ring = ws.routes.custom(1, lambda x, y, w, h: {(0, 0): {RAMP: ws.EAST, ws.SOUTH: ws.EAST},
                                                   (1, 0): {ws.WEST: ws.SOUTH}, (1, 1): {ws.NORTH: ws.WEST},
                                                   (0, 1): {ws.EAST: ws.NORTH}}.get((x, y), {}))
    with pytest.raises(ws.RouteError, match="cycle"):
        run_asm(ONE_WORD, (2, 2), routes=[ring])


def test_a_receiver_of_two_sources_is_told_both_ways_out_and_one_source_twice_on_a_merging_route_too():
    """Two sources whose words end at one receiver from both sides (no link shared): the error names them and
    says what to do, a channel each or a merging route; on a merging route one source reaching a receiver by
    two paths (around a square) is refused for that, not told to merge."""
    both_sides = ws.routes.custom(1, lambda x, y, w, h: [{RAMP: ws.EAST}, {ws.WEST: RAMP, ws.EAST: RAMP},
                                                         {RAMP: ws.WEST}][x])
    with pytest.raises(ws.RouteError, match=r"thread \(1, 0\) of block \(0, 0\) receives the words of several "
                                            r"sources \(thread \(0, 0\).*thread \(2, 0\).*\); .*a channel of its "
                                            r"own, or merge them .*merge=True"):
        run_asm(ONE_WORD, (3, 1), routes=[both_sides])
    square = ws.routes.custom(1, lambda x, y, w, h: {(0, 0): {RAMP: (ws.EAST, ws.SOUTH)},
                                                     (1, 0): {ws.WEST: (ws.SOUTH, RAMP)},
                                                     (0, 1): {ws.NORTH: (ws.EAST, RAMP)},
                                                     (1, 1): {ws.NORTH: RAMP, ws.WEST: RAMP}}[(x, y)], merge=True)
    with pytest.raises(ws.RouteError, match=r"thread \(1, 1\) of block \(0, 0\) receives the words of one source "
                                            r"twice .*a merging route takes one path from each source") as info:
        run_asm(ONE_WORD, (2, 2), routes=[square])
    assert "merge=True" not in str(info.value)


@ws.jit
def two_roots_in_turn(out, clear: ws.constant):
    x = ws.threadIdx.x
    if x == 0:  # step 0: PE 0 broadcasts east
        ws.route(1, ws.RAMP, ws.EAST)
    elif x == 1:
        ws.route(1, ws.WEST, (ws.RAMP, ws.EAST))
    else:
        ws.route(1, ws.WEST, ws.RAMP)
    ws.syncthreads()
    if x == 0:
        ws.send(ws.RAMP, 1.0, channel=1)
    else:
        out[x] = ws.recv(ws.RAMP, channel=1)
    ws.syncthreads()
    if x == 0:  # step 1: PE 1 broadcasts both ways
        ws.route(1, ws.EAST, ws.RAMP)
        if clear:
            ws.route(1, ws.RAMP, ())  # PE 0 sends no more: its rule from the ramp goes
    elif x == 1:
        ws.route(1, ws.RAMP, (ws.EAST, ws.WEST))
    ws.syncthreads()
    if x == 1:
        ws.send(ws.RAMP, 2.0, channel=1)  # MARK-step1
    else:
        out[3 + x] = ws.recv(ws.RAMP, channel=1)


def test_a_stale_rule_from_the_ramp_counts_as_a_source_and_the_error_says_how_to_clear_it():
    """The check is conservative: a PE keeping a rule from its ramp is a source though it sends no more
    (docs/routes.md); the RouteError says how to clear the rule, and cleared, the kernel runs."""
    device = ws.Device(SPEC)
    out = device.to_device(np.zeros(6, np.float32))
    with pytest.raises(ws.RouteError, match="meet") as info:
        two_roots_in_turn[1, (3, 1)](out, 0)
    assert "counts as a source, whether or not it sends now" in str(info.value)
    assert "ws.route(channel, ws.RAMP, ())" in str(info.value) and "in assembly" not in str(info.value)
    assert info.value.source[1] == line_of(two_roots_in_turn, "MARK-step1")
    two_roots_in_turn[1, (3, 1)](out, 1)
    np.testing.assert_array_equal(out.copy_to_host(), [0, 1, 1, 2, 0, 2])


STALE = """.name stale
    sreg r1, tid.x
    li r4, 1
    seq r5, r1, r4
    bnz r1, second
    route 1, ramp, east
    jmp step0
second:
    bz r5, third
    route 1, west, east+ramp
    jmp step0
third:
    route 1, west, ramp
step0:
    bar
    bnz r1, listen0
    li r2, 5
    send.i32 ramp, 1, r2
    jmp done0
listen0:
    recv.i32 r3, ramp, 1
done0:
    bar
    {clear}
    bz r5, listen1
    route 1, ramp, east
    li r2, 7
    send.i32 ramp, 1, r2
    halt
listen1:
    bz r1, out
    recv.i32 r3, ramp, 1
out:
    halt
"""


def test_an_assembly_program_s_stale_rule_error_says_how_to_clear_it_in_assembly():
    """The same fix-it as for a kernel, in the program's language: `route <channel>, ramp, none`."""
    device = ws.Device(SPEC)
    with pytest.raises(ws.RouteError, match="meet") as info:
        device.launch(ws.assemble(STALE.format(clear="")), 1, (3, 1), [])
    assert "ws.route(channel, ws.RAMP, ())" in str(info.value)
    assert "in assembly: route <channel>, ramp, none" in str(info.value)
    cleared = "bnz r1, kept\n    route 1, ramp, none\nkept:"
    device.launch(ws.assemble(STALE.format(clear=cleared)), 1, (3, 1), [])  # the advice followed: it runs


def test_sending_without_a_route_from_the_ramp_names_the_source_line():
    @ws.jit
    def lonely(out):
        ws.send(ws.RAMP, 1.0, channel=1)  # MARK-lonely

    device = ws.Device(SPEC)
    with pytest.raises(ws.RouteError, match="takes nothing from the ramp") as info:
        lonely[1, (2, 1)](device.to_device(np.zeros(1, np.float32)))
    assert info.value.source[1] == line_of(lonely, "MARK-lonely")
    # no PE has any route on the channel (a launch without routes=): the error says how to give one
    text = str(info.value)
    assert "(no PE has a route on channel 1: pass one to the launch, routes=[ws.routes.row_broadcast(1" in text
    assert 'ws.use_route(1, "row_bus")' in text
    # a route that exists, but not from this PE's ramp: no such advice (the rule is missing at that PE)
    with pytest.raises(ws.RouteError, match="takes nothing from the ramp") as info:
        lonely[1, (2, 1)](device.to_device(np.zeros(1, np.float32)),
                          routes=[ws.routes.custom(1, lambda x, y, w, h: {ws.RAMP: ws.EAST} if x == 0 else
                                                   {ws.WEST: ws.RAMP})])
    assert "no PE has a route" not in str(info.value)
    # a launch route that gives no PE any rule: the advice is about that route, not to pass one
    with pytest.raises(ws.RouteError, match="takes nothing from the ramp") as info:
        lonely[1, (2, 1)](device.to_device(np.zeros(1, np.float32)),
                          routes=[ws.routes.custom(1, lambda x, y, w, h: {})])
    text = str(info.value)
    assert "the launch's route for channel 1 gives no PE a rule" in text and "pass one to the launch" not in text


def test_bad_route_options_are_refused():
    device = ws.Device(SPEC)
    with pytest.raises(ws.RouteError, match="channels"):
        device.launch(ws.assemble(ONE_WORD), 1, (2, 1), [], routes=[ws.routes.row_broadcast(SPEC.channels)])
    with pytest.raises(ws.RouteError, match="two routes for channel 1"):
        device.launch(ws.assemble(ONE_WORD), 1, (2, 1), [],
                      routes=[ws.routes.row_broadcast(1), ws.routes.column_broadcast(1)])
    with pytest.raises(ws.RouteError, match="outside the block"):
        device.launch(ws.assemble(ONE_WORD), 1, (2, 1), [], routes=[ws.routes.row_broadcast(1, root=2)])
    with pytest.raises(ws.ArgumentTypeError):
        device.launch(ws.assemble(ONE_WORD), 1, (2, 1), [], routes=["row"])
    with pytest.raises(ws.ArgumentTypeError, match="the string 'row_bus'"):  # (was reported letter by letter)
        device.launch(ws.assemble(ONE_WORD), 1, (2, 1), [], routes="row_bus")


def test_route_compile_errors_name_the_source_line():
    @ws.jit
    def bad(out, d):
        ws.route(1, d, ws.EAST)

    device = ws.Device(SPEC)
    with pytest.raises(ws.CompileError, match="rx= must be a constant port"):
        bad[1, 1](device.to_device(np.zeros(1, np.float32)), 1)


@ws.jit
def _tree_sum(v, out):
    x, y = ws.grid(2)
    out[y, x] = ws_collectives.block_all_reduce(v[y, x], ws_collectives.SUM, channel=0,
                                                algorithm=ws_collectives.TREE)


def test_a_tree_all_reduce_past_the_machines_channels_says_how_many_it_needs_and_the_way_out():
    """A 32 x 32 tree takes 5 rounds, 2 * 5 + 1 = 11 channels from `channel`: on the default 4 channels a lower
    channel cannot help, so the error counts what the kernel needs and names the chains; with 11 it runs."""
    v = np.random.default_rng(4).integers(-9, 9, size=(32, 32)).astype(np.int32)
    narrow = ws.Device(ws.WaferSpec(width=32, height=32))
    with pytest.raises(ws.RouteError, match=r"needs channels=11 or more \(11 of them for tree all-reduces, "
                                            r"wsc.tree_channels\(rounds\) a tree: more than the 4 there are .*"
                                            r"algorithm=wsc.CHAIN takes 3\)"):
        _tree_sum[1, (32, 32)](narrow.to_device(v), narrow.device_array(v.shape, np.int32))
    assert ws_collectives.tree_channels(ws_collectives.tree_rounds(32, 32)) == 11
    wide = ws.Device(ws.WaferSpec(width=32, height=32, channels=11))
    out = wide.device_array(v.shape, np.int32)
    _tree_sum[1, (32, 32)](wide.to_device(v), out)
    assert (out.copy_to_host() == int(v.sum())).all()


@pytest.mark.parametrize("bad", [["row_bus"], {}, {"a": 1}])
def test_a_pattern_name_or_chain_direction_that_is_a_list_or_dict_is_a_route_error(bad):
    """`ws.routes.named(1, [...])` and `ws.routes.chain(1, {})` were Python's bare "unhashable type"."""
    with pytest.raises(ws.RouteError, match="no route pattern named"):
        ws.routes.named(1, bad)
    with pytest.raises(ws.RouteError, match="direction must be"):
        ws.routes.chain(1, bad)
    with pytest.raises(ws.RouteError, match="direction must be"):
        ws.routes.chain(1, float(ws.EAST))  # (2.0 == ws.EAST, and was taken for it)
    assert ws.routes.named(1, "row_bus").channel == 1 and ws.routes.chain(1, np.int64(ws.EAST)).channel == 1
