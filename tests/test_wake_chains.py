"""Arrival floors of PEs asleep at neighbour receives (sim/wake_chains.py): against a plain-Python walk along each
PE's chain of sleepers, and loads that the scheduler lets go by those floors seeing exactly the stores issued before
them, against a plain-Python timeline, under every engine strategy."""
from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from test_engine_strategies import run_every_strategy
from wafersim.isa.opcodes import DIRECTION_STEP
from wafersim.sim.lanes import Lanes
from wafersim.sim.wake_chains import WakeChains

W, H, LATENCY = 9, 6, 3.0


class _Region:
    """A region of one block, W x H PEs, row-major."""
    width, height, n = W, H, W * H

    def has_neighbor(self, direction: int) -> np.ndarray:
        dx, dy = DIRECTION_STEP[direction]
        x, y = np.arange(self.n) % W, np.arange(self.n) // W
        return (0 <= x + dx) & (x + dx < W) & (0 <= y + dy) & (y + dy < H)

    def link_latency(self, direction: int) -> float:
        return LATENCY


def _walked(p: int, direction: int, members: np.ndarray, cycle: np.ndarray) -> float:
    """Plain Python: step to the sender while it sleeps at a receive from the same side; its cycle + hops * latency."""
    dx, dy = DIRECTION_STEP[direction]
    x, y, hops = p % W, p // W, 0
    while True:
        x, y, hops = x + dx, y + dy, hops + 1
        sender = y * W + x
        if not members[sender]:
            return cycle[sender] + hops * LATENCY


@pytest.mark.parametrize("seed", range(6))
def test_arrival_floors_are_the_chain_ends_cycles_plus_their_hops(seed):
    rng = np.random.default_rng(seed)
    region = _Region()
    # pcs 10 + d and 20 + d: receives from d; pc 30: a send (no chains)
    decoded = {10 + d: SimpleNamespace(op="recvv", dir=d) for d in range(4)}
    decoded |= {20 + d: SimpleNamespace(op="recv", dir=d) for d in range(4)} | {30: SimpleNamespace(op="send", dir=1)}
    chains = WakeChains(SimpleNamespace(decoded=decoded), region)
    assert not chains.applies(30) and chains.applies(12) and chains.latency == LATENCY
    cycle = rng.integers(0, 50, region.n).astype(np.float32)
    free = np.ones(region.n, dtype=bool)  # (a PE sleeps at one pc at most)
    asleep = {}
    for pc in (10, 11, 12, 13, 20, 21, 22, 23, 30):
        take = free & (rng.random(region.n) < 0.3)
        if pc != 30:
            take &= region.has_neighbor(decoded[pc].dir)
        free &= ~take
        asleep[pc] = Lanes.from_mask(take) if pc % 2 else Lanes.from_indices(region.n, np.flatnonzero(take))
    for pc in (10, 11, 12, 13, 20, 21, 22, 23):
        direction = decoded[pc].dir
        members = np.zeros(region.n, dtype=bool)
        for other in (10 + direction, 20 + direction):
            members |= asleep[other].as_mask()
        picked = np.flatnonzero(asleep[pc].as_mask())
        got = chains.arrival(pc, picked, asleep, cycle)
        assert got.tolist() == [_walked(p, direction, members, cycle) for p in picked]


def test_a_chain_ends_where_a_sleeper_woke():
    region = _Region()
    chains = WakeChains(SimpleNamespace(decoded={11: SimpleNamespace(op="recv", dir=1)}), region)  # (from the east)
    cycle = np.arange(region.n, dtype=np.float64) * 10
    p = W + 2
    asleep = {11: Lanes.from_indices(region.n, np.array([p, p + 1]))}
    assert chains.arrival(11, np.array([p]), asleep, cycle).tolist() == [cycle[p + 2] + 2 * LATENCY]
    asleep = {11: Lanes.from_indices(region.n, np.array([p]))}  # (p + 1 woke: a new set)
    assert chains.arrival(11, np.array([p]), asleep, cycle).tolist() == [cycle[p + 1] + LATENCY]


# Rows of a pipeline: row y's west PE counts down 1 + y * S, loads word 0 and sends it east; every other PE
# receives it and sends it on, but the east-most, which stores what it receives to word 1 + y and that plus one to
# word 0. Every row's load waits behind the east PEs asleep at their receive (they can store), whose chains of
# sleepers reach back to their own row's west PE.
PIPE = """
    arg r2, 0
    sreg r9, tid.y
    shli r9, r9, 2
    add r9, r9, r2
    hasnb r3, west
    hasnb r4, east
    bnz r3, receiver
    sreg r10, tid.y
    muli r10, r10, {S}
    addi r6, r10, 1
wl:
    addi r6, r6, -1
    bnz r6, wl
    gld r5, r2, 0
    send east, 0, r5
    halt
receiver:
    recv r8, west, 0
    bnz r4, forward
    gst r8, r9, 4
    addi r8, r8, 1
    gst r8, r2, 0
    halt
forward:
    send east, 0, r8
    halt
"""
SPEC = ws.WaferSpec(width=40, height=12, cost_cycles={"alu": 1, "branch": 2, "special": 3, "global": 5})


@pytest.mark.parametrize("stagger", [0, 1, 800])
def test_rows_loads_let_go_by_chains_see_exactly_the_stores_before_them(stagger):
    """Loads 3 * `stagger` cycles apart, row after row. A word crosses a row's 39 hops in at least 39 issues of a
    send and a receive (each at least a cycle) and at most a few cycles a hop: rows 3 cycles apart all load before
    any row stores (each loads 0); 2,400 apart, each loads what the row before stored (row y loads y)."""
    rows = SPEC.height

    def launch():
        dev = ws.Device(SPEC)
        out = dev.to_device(np.zeros(1 + rows, dtype=np.int32))
        stats = dev.launch(ws.assemble(PIPE.format(S=stagger)), 1, (SPEC.width, rows), [out])
        return out.copy_to_host(), stats

    out, _ = run_every_strategy(launch)
    loaded = list(range(rows)) if stagger == 800 else [0] * rows
    assert out.tolist() == [loaded[-1] + 1 if stagger == 800 else 1] + loaded


# As PIPE, but row y's west PE waits 1 + ((y * A + B) % M) * S countdown steps (rows in a shuffled order of time),
# loads, and the rows' east PEs store what came, on random figures of the wafer: which rows see which stores is
# the engine's timeline, which every strategy must share.
SHUFFLED_PIPE = PIPE.replace("    muli r10, r10, {S}\n", "    muli r10, r10, {A}\n    addi r10, r10, {B}\n"
                             "    li r11, {M}\n    rem r10, r10, r11\n    muli r10, r10, {S}\n")


@settings(max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "3")), deadline=None,
          derandomize=not os.environ.get("WS_FUZZ_RANDOM"), suppress_health_check=[HealthCheck.too_slow])
@given(width=st.integers(17, 26), height=st.integers(2, 7), a=st.integers(1, 7), b=st.integers(0, 6),
       m=st.integers(1, 7), s=st.sampled_from([0, 1, 2, 5, 13, 40, 200]), depth=st.integers(1, 4),
       hop=st.integers(1, 2), rate=st.sampled_from([1, 0.5]), alu=st.integers(1, 2), branch=st.integers(1, 3),
       glob=st.integers(1, 9), latency=st.sampled_from([3, 40, 300]))
def test_rows_loads_in_a_shuffled_order_are_the_same_under_every_strategy(width, height, a, b, m, s, depth, hop,
                                                                          rate, alu, branch, glob, latency):
    """Random row pipelines (the rows' loads let go by the chains of sleepers behind their east PEs, which are few
    enough of the block for their paths to count: `neighbour_paths`) give the same loads, stores, cycles and
    statistics under every strategy; and each row's load is 0 or one more than what another row loaded (the
    value its east PE stored), the last store's word 0 one more than a row's load."""
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=depth, hop_latency=hop, link_words_per_cycle=rate,
                        global_latency=latency,
                        cost_cycles={"alu": alu, "branch": branch, "special": 3, "global": glob})
    program = ws.assemble(SHUFFLED_PIPE.format(S=s, A=a, B=b, M=m))

    def launch():
        dev = ws.Device(spec)
        out = dev.to_device(np.zeros(1 + height, dtype=np.int32))
        stats = dev.launch(program, 1, (width, height), [out])
        return out.copy_to_host(), stats

    out, _ = run_every_strategy(launch)
    loads = out[1:].tolist()
    for y, value in enumerate(loads):
        assert value == 0 or value - 1 in loads[:y] + loads[y + 1:]
    assert out[0] - 1 in loads
