"""Two stores to one global word: the one issued later wins, at one cycle the one of the higher PE index
(docs/timing.md, "Order of accesses"), under every execution strategy.

Each PE walks a straight-line path of its own (a chain of branches picks its block, then some nops) to one
store; the blocks are laid out in a shuffled order, so the engine's order of groups (by program counter) is
not the order in time. The reference is a plain-Python timeline: with every instruction class costing one
cycle, a PE's store issues at the count of instructions on its path, and each word ends with the value of
the store of the latest (cycle, PE index)."""
from __future__ import annotations

import random

import numpy as np
import pytest

import wafersim as ws
from wafersim.isa.assembler import assemble
from wafersim.sim.strategy import forced

from test_engine_strategies import STRATEGIES

WORDS = 3  # the stored words (a further word, never stored, is what the loading variant loads)


def _program(rng: random.Random, pes: int, load: str) -> tuple[str, list[tuple[int, int, int]]]:
    """A program whose PE i stores i + 1 to one of `WORDS` words after some nops, then (`load` "soon": at
    once, "late": after 40 nops, "none": never) loads the unstored word, and the reference timeline: (issue
    cycle, PE, word) of each store. A load that some PE could still issue before a store sends the store to
    the store log ("soon"); the others go straight to memory."""
    lines = [".args 1", "    sreg r1, tid.x", "    arg r6, 0"]
    for i in range(pes):  # PE i runs i (bz, addi) pairs and its taken bz: 2 i + 1 instructions
        lines += [f"    bz r1, blk{i}", "    addi r1, r1, -1"]
    lines.append("    halt")
    timeline, blocks = [], []
    for i in range(pes):
        nops, word = rng.choice([0, 1, 2, 5, 9, 20]), rng.randrange(WORDS)
        block = [f"blk{i}:"] + ["    nop"] * nops + [f"    li r2, {i + 1}", f"    gst r2, r6, {4 * word}"]
        if load != "none":
            block += ["    nop"] * (40 if load == "late" else 0) + [f"    gld r5, r6, {4 * WORDS}"]
        blocks.append(block + ["    halt"])
        # sreg, arg, the chain, the nops, li, gst: one cycle each; the store issues at its own instruction's
        timeline.append((2 + 2 * i + 1 + nops + 1 + 1, i, word))
    rng.shuffle(blocks)
    return "\n".join(lines + [line for block in blocks for line in block]) + "\n", timeline


def _expected(timeline: list[tuple[int, int, int]]) -> np.ndarray:
    """Each word's value: that of the store of the latest (issue cycle, PE index); 0 where none stores."""
    out = np.zeros(WORDS + 1, np.int32)
    latest: dict[int, tuple[int, int]] = {}
    for cycle, pe, word in timeline:
        if word not in latest or (cycle, pe) > latest[word]:
            latest[word] = (cycle, pe)
            out[word] = pe + 1
    return out


def wrong_under_every_strategy(spec: ws.WaferSpec, cases: list[tuple[int, str, list[int]]], words: int) -> list[str]:
    """Launch each case (PEs in one row, an assembly source storing to a `words`-word int32 array, the array
    expected after it) under every strategy; what differs, one line a case and strategy."""
    wrong = []
    for strategy in STRATEGIES:
        with forced(strategy):
            for pes, source, expected in cases:
                dev = ws.Device(spec)
                d = dev.to_device(np.zeros(words, np.int32))
                dev.launch(assemble(source, name="stores"), (1, 1), (pes, 1), [d])
                got = d.copy_to_host().tolist()
                if got != expected:
                    wrong.append(f"{strategy}: {pes} PEs, {got} != {expected}")
    return wrong


@pytest.mark.parametrize("load", ["none", "soon", "late"])
def test_the_later_store_wins_under_every_strategy(load: str) -> None:
    rng = random.Random(48)
    spec = ws.WaferSpec(width=8, height=1, cost_cycles={name: 1 for name in ws.WaferSpec().cost_cycles})
    cases = []
    for _ in range(6):
        pes = rng.randint(2, 8)
        cases.append((pes, *_program(rng, pes, load)))
    wrong = wrong_under_every_strategy(spec, [(pes, source, _expected(timeline).tolist())
                                              for pes, source, timeline in cases], WORDS + 1)
    assert not wrong, "\n".join(wrong[:10])


def test_a_later_store_of_a_group_lane_behind_in_time() -> None:
    """PE 0 reaches a shared pc 30 cycles after PE 1, and the engine may run them there as one group, whose
    store puts PE 0's 1 in word 0 (at cycle ~38) and PE 1's 2 in word 1 (at ~8); PE 1 then stores 9 to word
    0 at ~11: executed after PE 0's store but issued before it, so PE 0's 1 must stay."""
    source = "\n".join([".args 1", "    sreg r1, tid.x", "    arg r6, 0", "    bnz r1, meet"] + ["    nop"] * 30 + [
        "meet:", "    shli r7, r1, 2", "    add r7, r6, r7",
        "    addi r2, r1, 1", "    gst r2, r7, 0",  # PE 0: word 0 = 1; PE 1: word 1 = 2
        "    bz r1, done", "    li r2, 9", "    gst r2, r6, 0",  # PE 1: word 0 = 9, at an earlier cycle
        "done:", "    halt"]) + "\n"
    for strategy in STRATEGIES:
        with forced(strategy):
            dev = ws.Device(ws.WaferSpec(width=2, height=1))
            d = dev.to_device(np.zeros(2, np.int32))
            dev.launch(assemble(source, name="waw_group"), (1, 1), (2, 1), [d])
            assert d.copy_to_host().tolist() == [1, 2], strategy
