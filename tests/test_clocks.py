"""Per-PE clocks past what float32 holds exactly (sim/clocks.py): a wave widens its times to float64 before
any of them could round, in straight-line code and along chains of waits across PEs (no backward branch
checks them there), under every engine strategy.

Expected cycles come from the spec's costs in plain Python (differences between launches that differ by a
known number of instructions or hops, so that the fixed start-up and halt costs cancel)."""
from __future__ import annotations

import pytest

import wafersim as ws
from test_engine import CHAIN, run
from test_engine_strategies import run_every_strategy
from wafersim.isa.opcodes import opcode_cycles
from wafersim.sim.clocks import TIME32_LIMIT

HUGE = 1_000_003  # odd: sums of it past 2**24 are not all float32 numbers


def cycles_every_strategy(source: str, block: tuple[int, int], spec: ws.WaferSpec) -> float:
    return run_every_strategy(lambda: (None, run(source, (1, 1), block, spec=spec)))[1].cycles


def test_a_chain_of_waits_past_float32_counts_every_cycle():
    # Straight-line code only: each PE receives once and sends once, so the clocks pass 2**24 along the
    # chain with no backward branch between (review41's case: off by one cycle in float32).
    hop_latency = 5
    spec = ws.WaferSpec(width=40, height=2, hop_latency=hop_latency, cost_cycles={"send": HUGE})
    short, long = (cycles_every_strategy(CHAIN, (k + 1, 1), spec) for k in (1, 33))
    assert long > 2 * TIME32_LIMIT
    assert long - short == 32 * (HUGE + hop_latency)


def straight_line(adds: int) -> str:
    return "li r1, 0\n" + "addi r1, r1, 1\n" * adds + "print r1, 0\nhalt\n"


@pytest.mark.parametrize("adds", [24, 41])
def test_straight_line_issue_costs_past_float32_add_up(adds):
    spec = ws.WaferSpec(width=4, height=4, cost_cycles={"alu": HUGE})
    per_add = opcode_cycles(spec)["addi"]
    stats = run_every_strategy(lambda: (None, run(straight_line(adds), (1, 1), (2, 2), spec=spec)))[1]
    base = run(straight_line(1), (1, 1), (2, 2), spec=spec)
    assert [p.value for p in stats.prints][:1] == [adds]
    assert stats.cycles > 2 * TIME32_LIMIT
    assert stats.cycles - base.cycles == (adds - 1) * per_add


def transfers(words: int) -> str:
    """PE 0 sends `words` words to PE 1 east of it, one `send` each, in straight-line code; PE 1 receives them."""
    return ("sreg r1, tid.x\nli r2, 7\nbnz r1, receiver\n" + "send east, 0, r2\n" * words + "halt\nreceiver:\n"
            + "recv r3, west, 0\n" * words + "halt\n")


def test_straight_line_transfers_past_float32_add_one_send_each():
    # review41's case: 24 transfers of a send and a receive costing 1,000,003 cycles each
    spec = ws.WaferSpec(width=4, height=4, cost_cycles={"send": HUGE, "recv": HUGE})
    per_transfer = opcode_cycles(spec)["send"]
    assert opcode_cycles(spec)["recv"] == per_transfer
    short, long = (cycles_every_strategy(transfers(words), (2, 1), spec) for words in (1, 24))
    assert long > 2 * TIME32_LIMIT
    # (the sender is the slower side: each send is its issue cost, then its word's time on the link)
    assert long - short == 23 * (per_transfer + 1 / spec.link_words_per_cycle)
