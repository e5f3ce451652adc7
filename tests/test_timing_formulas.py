"""docs/timing.md's cost formulas, checked as a user would: assembled micro-kernels (docs/isa.md) whose per-PE
elapsed cycles (`busy + stall`) are compared with the formulas computed in plain Python from `WaferSpec`'s
figures -- a hop and its ramps, a send of n words at `link_words_per_cycle`, a FIFO filling up (back-pressure),
block and grid barriers, global memory's latency (hops to the nearest edge) and its shared bandwidth -- on the
default strategy and the reference one (every strategy must give the same cycles)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim.strategy import REFERENCE, Strategy, forced

STRATEGIES = pytest.mark.parametrize("strategy", [Strategy(), REFERENCE], ids=["default", "reference"])


def elapsed(source: str, grid, block, spec: ws.WaferSpec, strategy: Strategy, *args) -> np.ndarray:
    """Each PE's elapsed cycles (busy + stall), indexed [row, column] over the wafer."""
    dev = ws.Device(spec)
    args = tuple(dev.to_device(a) if isinstance(a, np.ndarray) else a for a in args)
    with forced(strategy):
        stats = ws.Kernel(ws.assemble(source), dev)[grid, block](*args)
    return stats.busy + stats.stall


# PE 0 sends a vector of n words east, PE 1 receives it, each after three one-cycle instructions: the send
# and the receive issue at cycle 3 and end at T0 = 4 (every class costs 1 cycle on these specs).
SEND_N = """
.sram 64
    sreg r1, tid.x
    li   r4, {n}
    bnz  r1, receiver
    sendv east, 0, r0, r4
    halt
receiver:
{delay}
    recvv west, 0, r0, r4
    halt
"""
T0 = 4


@STRATEGIES
@pytest.mark.parametrize("hop, ramp", [(1, 0), (3, 0), (1, 2), (4, 1)])
@pytest.mark.parametrize("n, words_per_cycle", [(1, 1), (5, 1), (1, 2), (7, 2), (8, 4)])
def test_a_send_of_n_words_costs_the_issue_plus_n_over_the_link_rate_and_arrives_a_hop_and_two_ramps_later(
        strategy, hop, ramp, n, words_per_cycle):
    spec = ws.WaferSpec(width=4, height=1, hop_latency=hop, ramp_latency=ramp,
                        link_words_per_cycle=words_per_cycle)
    cycles = elapsed(SEND_N.format(n=n, delay=""), 1, (2, 1), spec, strategy)[0, :2]
    word_time = 1 / words_per_cycle
    sender = T0 + n * word_time + 1  # "busy for the issue plus n / link_words_per_cycle", then its halt
    last_arrival = T0 + (n - 1) * word_time + hop + 2 * ramp  # the last word enters the link (n - 1) words in
    assert cycles.tolist() == [sender, last_arrival + 1]


@STRATEGIES
@pytest.mark.parametrize("n, depth, divides", [(4, 4, 1), (8, 4, 1), (12, 4, 3), (20, 3, 2), (6, 16, 2)])
def test_a_sender_facing_a_full_fifo_waits_for_the_word_fifo_depth_before_to_be_taken(strategy, n, depth,
                                                                                        divides):
    """Word k enters the link no earlier than word k - fifo_depth has been taken; the receiver, delayed by
    `divides` div instructions, takes each word as it arrives once its recvv has issued."""
    spec = ws.WaferSpec(width=4, height=1, fifo_depth=depth)
    delay = "\n".join(["    div r5, r4, r4"] * divides)
    cycles = elapsed(SEND_N.format(n=n, delay=delay), 1, (2, 1), spec, strategy)[0, :2]
    receive_ready = T0 + divides * spec.cost_cycles["div"]
    enters, taken = [], []
    for k in range(n):
        enter = T0 + k if k == 0 else enters[-1] + 1
        if k >= depth:
            enter = max(enter, taken[k - depth])
        enters.append(enter)
        taken.append(max(receive_ready, enter + spec.hop_latency))
    assert cycles.tolist() == [enters[-1] + 1 + 1, taken[-1] + 1]


BARRIER = """
    sreg r1, tid.x
    bnz  r1, meet
    div  r2, r1, r1
    div  r2, r1, r1
meet:
    {op}
    halt
"""


@STRATEGIES
@pytest.mark.parametrize("base, per_hop", [(4, 2), (10, 3)])
@pytest.mark.parametrize("block", [(1, 1), (3, 2), (8, 4)])
def test_a_block_barrier_releases_at_the_latest_arrival_plus_its_gather_and_broadcast(strategy, base, per_hop,
                                                                                     block):
    spec = ws.WaferSpec(width=8, height=8, barrier_base_cycles=base, barrier_cycles_per_hop=per_hop)
    cycles = elapsed(BARRIER.format(op="bar"), 1, block, spec, strategy)
    bx, by = block
    latest = 2 + 2 * spec.cost_cycles["div"] + 1  # thread x = 0 arrives last: sreg, bnz, two divs, the bar
    release = latest + base + per_hop * ((bx - 1) + (by - 1))
    assert set(cycles[:by, :bx].ravel().tolist()) == {release + 1}


@STRATEGIES
@pytest.mark.parametrize("grid, block, rectangle", [
    ((2, 1), (4, 4), (8, 4)),
    ((2, 2), (2, 2), (8, 2)),  # four slots across an 8-wide wafer: the wave fills one row of slots
    ((6, 1), (2, 2), (8, 4)),  # six blocks: a full row of four slots and two of the next
    ((1, 3), (4, 4), (8, 8)),
])
def test_a_grid_barrier_spans_the_rectangle_of_the_slots_its_blocks_fill_row_by_row(strategy, grid, block,
                                                                                     rectangle):
    """docs/timing.md "Barriers": blocks fill the wafer's tiling of block-sized slots row by row from the
    north-west corner (width // bx slots across), whatever the grid's shape, and a grid barrier costs a block
    barrier over the rectangle of the slots filled."""
    spec = ws.WaferSpec(width=8, height=8)
    cycles = elapsed(BARRIER.format(op="gbar"), grid, block, spec, strategy)
    width, height = rectangle
    latest = 2 + 2 * spec.cost_cycles["div"] + 1
    release = latest + spec.barrier_base_cycles + spec.barrier_cycles_per_hop * ((width - 1) + (height - 1))
    blocks = grid[0] * grid[1]
    slots_across = spec.width // block[0]
    assert (min(blocks, slots_across) * block[0], math.ceil(blocks / slots_across) * block[1]) == rectangle
    used = cycles[:height, :width]
    assert set(used[used > 0].ravel().tolist()) == {release + 1}
    assert np.count_nonzero(cycles) == blocks * block[0] * block[1]


LOAD = """
.args 1
    arg r2, 0
    gld r3, r2, 0
    halt
"""


@STRATEGIES
def test_a_load_completes_global_latency_plus_the_hops_to_the_nearest_wafer_edge_after_its_issue(strategy):
    spec = ws.WaferSpec(width=7, height=5, global_latency=50, global_bytes_per_s=1e15)
    cycles = elapsed(LOAD, 1, (7, 5), spec, strategy, np.zeros(4, np.int32))
    y, x = np.mgrid[0:5, 0:7]
    to_edge = np.minimum(np.minimum(x, y), np.minimum(6 - x, 4 - y))
    assert cycles.tolist() == (2 + spec.global_latency + to_edge + 1).tolist()


@STRATEGIES
def test_loads_share_the_bandwidth_in_issue_order_the_kth_byte_no_earlier_than_k_over_bytes_per_cycle(strategy):
    """16 PEs each load one word at the same cycle at 1 byte a cycle: the access that brings the launch's count to
    k bytes completes no earlier than ceil(k / bytes per cycle) cycles after the start, PEs in index order."""
    spec = ws.WaferSpec(width=4, height=4, global_latency=10, clock_hz=1e9, global_bytes_per_s=1e9)
    cycles = elapsed(LOAD, 1, (4, 4), spec, strategy, np.zeros(4, np.int32))
    bytes_per_cycle = spec.global_bytes_per_s / spec.clock_hz
    index = np.arange(16).reshape(4, 4)  # row-major: the PE's index in the wave
    by_latency = 2 + spec.global_latency + 0  # every PE of a 4 x 4 wafer is on an edge or one hop in
    to_edge = np.array([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    by_bandwidth = np.ceil(4 * (index + 1) / bytes_per_cycle)
    assert cycles.tolist() == (np.maximum(by_latency + to_edge, by_bandwidth) + 1).tolist()
