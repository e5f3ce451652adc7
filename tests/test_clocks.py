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


def snake(x: int, y: int, width: int, height: int) -> dict:
    """Channel 0's route: from PE (0, 0) east along row 0, south, west along row 1, ... to the snake's end,
    every link of the block's path once (width * height - 1 hops, far more than width + height)."""
    east = y % 2 == 0
    first, last = (0, width - 1) if east else (width - 1, 0)
    into = ws.RAMP if (x, y) == (0, 0) else ws.NORTH if x == first else ws.WEST if east else ws.EAST
    out = (ws.RAMP if y == height - 1 else ws.SOUTH) if x == last else ws.EAST if east else ws.WEST
    return {into: out}


def snake_end(width: int, height: int) -> tuple[int, int]:
    return (width - 1 if height % 2 else 0), height - 1


def one_word_along_the_snake(width: int, height: int) -> str:
    """PE (0, 0) sends one word through its router; the PE at the snake's end receives it."""
    end_x, end_y = snake_end(width, height)
    return (f"sreg r2, tid.x\nsreg r3, tid.y\nor r4, r2, r3\nbnz r4, others\nli r1, 7\nsend ramp, 0, r1\nhalt\n"
            f"others:\nseqi r5, r2, {end_x}\nseqi r6, r3, {end_y}\nand r5, r5, r6\nbnz r5, last\nhalt\n"
            f"last:\nrecv r1, ramp, 0\nprint r1, 0\nhalt\n")


def test_a_routed_path_longer_than_the_wafer_is_wide_counts_every_cycle():
    # The time bound took a routed word's latency to be at most a path across the wafer (width + height
    # links); a route may snake through every PE of its block: 255 hops of 70,001 cycles here passed 2**24
    # in one send, and the receiver's clock rounded (17,850,774 cycles where the spec gives 17,850,773).
    width = height = 16
    hops = width * height - 1
    source = one_word_along_the_snake(width, height)

    def cycles(hop_latency: int) -> float:
        spec = ws.WaferSpec(width=width, height=height, hop_latency=hop_latency)
        def launch():
            stats = ws.Device(spec).launch(ws.assemble(source), (1, 1), (width, height), (), print_output=False,
                                           routes=[ws.routes.custom(0, snake)])
            return None, stats
        stats = run_every_strategy(launch)[1]
        assert [p.value for p in stats.prints] == [7]
        return stats.cycles

    short, long = cycles(1), cycles(70_001)
    assert long > 2 * TIME32_LIMIT
    assert long - short == hops * (70_001 - 1)  # (the word's way: a hop latency per link of its path)


def ping_pong(rounds: int) -> str:
    """Two PEs pass a word back and forth `rounds` times, in straight-line code."""
    return ("sreg r2, tid.x\nli r1, 7\nbnz r2, second\n" + "send east, 0, r1\nrecv r1, east, 0\n" * rounds
            + "print r1, 0\nhalt\nsecond:\n" + "recv r1, west, 0\nsend west, 0, r1\n" * rounds + "halt\n")


def test_a_ping_pong_in_one_interpreter_call_counts_every_cycle():
    # The compiled interpreter runs both PEs, each woken by the other's word, through all 24 hops in one
    # call; the FIFOs' times it wrote were float32 and rounded past 2**24 before the call's times were
    # checked (24,000,052 cycles where the spec gives 24,000,053, under every strategy but the NumPy ones).
    rounds, hop_latency = 12, 1_000_001
    spec_of = lambda hop: ws.WaferSpec(width=2, height=1, hop_latency=hop)  # noqa: E731
    short = run(ping_pong(rounds), (1, 1), (2, 1), spec=spec_of(1)).cycles
    long = cycles_every_strategy(ping_pong(rounds), (2, 1), spec_of(hop_latency))
    assert long > 2 * TIME32_LIMIT
    assert long - short == 2 * rounds * (hop_latency - 1)  # (a hop latency more per hop)


def loop_then_barriers(loops: int, adds: int) -> str:
    """PEs of x = 0 an add ahead of the others, then `loops` iterations of an add, then 3 times: `adds` adds and a
    block barrier (every PE arriving at once, the adds' issue cycles owed: `_barrier_of_everyone`)."""
    return (f"sreg r1, tid.x\nli r2, 0\nli r3, {loops}\nbnz r1, skip\naddi r2, r2, 1\nskip:\n"
            f"loop:\naddi r2, r2, 1\naddi r3, r3, -1\nbnz r3, loop\n" + ("addi r2, r2, 1\n" * adds + "bar\n") * 3
            + "print r2, 0\nhalt\n")


@pytest.mark.parametrize("grid", [(1, 1), (2, 1)])  # (one block: one release number; two: a release per block)
def test_barriers_of_every_pe_owing_issue_cycles_near_and_past_float32_count_every_cycle(grid, monkeypatch):
    # Stop 52 takes the cycles the group owes off a one-block release before the waits (heat52); the clocks
    # pass 2**23, where they widen to float64, and 2**24, where float32 would round odd cycles.
    from wafersim.sim import barriers

    owed_seen = []
    everyone = barriers.BarrierMixin._barrier_of_everyone

    def spy(self, pc, cost, owed=0.0, owed_count=0):
        owed_seen.append(owed)
        return everyone(self, pc, cost, owed, owed_count)

    monkeypatch.setattr(barriers.BarrierMixin, "_barrier_of_everyone", spy)
    spec = ws.WaferSpec(width=4, height=4, cost_cycles={"alu": 1001})
    costs = opcode_cycles(spec)
    per_loop = 2 * costs["addi"] + costs["bnz"]
    base = run(loop_then_barriers(10, 1), grid, (2, 2), spec=spec).cycles
    for loops in (4186, 8377):  # (the barriers' clocks: around 2**23, and past 2**24)
        stats = run_every_strategy(lambda: (None, run(loop_then_barriers(loops, 2), grid, (2, 2), spec=spec)))[1]
        assert stats.cycles == base + (loops - 10) * per_loop + 3 * costs["addi"]
        assert [p.value for p in stats.prints] == [loops + 7, loops + 6] * 2 * grid[0]  # (x = 0: an add ahead)
    assert TIME32_LIMIT < 8377 * per_loop and 2 * TIME32_LIMIT < 8377 * per_loop and max(owed_seen) > 0
