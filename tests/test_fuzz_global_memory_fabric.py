"""Random programs of global loads and stores that pass words between neighbours (docs/timing.md, "Order of
accesses"; src/wafersim/sim/memory_order.py): the sibling of test_fuzz_global_memory_order.py with fabric traffic.

Fabric waits are what make PEs' clocks drift apart, groups split and re-join and lockstep groups owe cycles: where
the store log's horizon and overlay could go wrong. Each block (a row of 2 or 4 PEs) runs rounds. In a round a token
passes along the block, east or west: every PE but the first receives it from its neighbour (and copies it out),
waits a PE-dependent count of cycles (a register loop of `a * PE + b` turns, in some rounds plus the low bits of
the token: a delay that depends on the words loaded and passed), does random global accesses (scalar and vector
stores of values unique to each PE and access, scalar and vector loads copied out; the token becomes the last word
a scalar load read) and sends the token on, after its accesses or, in racy programs, before them. A round may end
with a barrier. Later PEs of a chain run later in time; blocks of later waves start where their slot's block
ended.

Two references:

- Every program, racy or not, against `REFERENCE` (the slowest strategy): shared words, output words and cycles.
- "Race-free" programs against a plain-Python run that needs no cycles. Each block's accesses go to its slot's own
  words (blocks of one slot run one after another, a later wave's block after its slot's block ended and its stores
  landed), and within a block every access is ordered by the token (a receive completes after the send, which
  issues after the sender's accesses) or a barrier. So a load sees the latest store before it in that order: the
  documented rule (a load sees the latest store issued at or before its cycle) leaves one answer.
"""
from __future__ import annotations

import dataclasses
import os
import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from test_engine_strategies import STRATEGIES
from test_fuzz_global_memory_order import SOME_STRATEGIES, UNIT_COSTS, _name
from wafersim.isa.assembler import assemble
from wafersim.sim.strategy import REFERENCE, forced

EXAMPLES = int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "15"))
WIDTH = 8


@dataclasses.dataclass
class Round:
    """One pass of the token: its direction, the per-PE delay loop (`a * PE + b` turns, plus the token's low 3
    bits where `by_token`: a data-dependent delay), the accesses (("gst", word), ("gld", word), ("gstv", word, n),
    ("gldv", word, n)), whether the token is sent before them, and whether a barrier ends the round."""
    east: bool
    delay: tuple[int, int, bool]
    ops: list[tuple]
    early_send: bool
    barrier: bool
    chain: bool = True  # (False: no token, no delay: loads first thing, the store horizon's hard case, stop 50)


@dataclasses.dataclass
class Program:
    block: int
    grid: int
    words: int  # shared words a region (race-free: one region a slot; else one region for all)
    race_free: bool
    latency: int
    rounds: list[Round]

    @property
    def slots(self) -> int:
        return WIDTH // self.block

    @property
    def regions(self) -> int:
        return self.slots if self.race_free else 1

    @property
    def outputs(self) -> int:
        """Output words a PE: a received token a round, a word a loaded word."""
        return sum(r.chain + sum(1 if op[0] == "gld" else op[2] if op[0] == "gldv" else 0 for op in r.ops)
                   for r in self.rounds)

    def spec(self) -> ws.WaferSpec:
        return ws.WaferSpec(width=WIDTH, height=1, cost_cycles=UNIT_COSTS, global_latency=self.latency,
                            global_bytes_per_s=1e18)


def generate(rng: random.Random, race_free: bool) -> Program:
    block = rng.choice([2, 4])
    slots = WIDTH // block
    grid = rng.randint(1, 3 * slots)
    words = rng.choice([2, 4, 12])
    rounds = []
    for _ in range(rng.randint(1, 3)):
        east_k = rng.random() < 0.5
        ops = []
        for _ in range(rng.randint(0, 4)):
            kind = rng.choice(["gst", "gst", "gld", "gld", "gstv", "gldv"])
            n = rng.randint(1, min(3, words))
            ops.append((kind, rng.randrange(words - n + 1), n) if kind.endswith("v") else (kind, rng.randrange(words)))
        barrier = rng.random() < 0.3
        if race_free and rounds and rounds[-1].east == east_k and not rounds[-1].barrier:
            rounds[-1].barrier = True  # (the same direction again starts at a PE that the last round ended before)
        delay = (rng.choice([0, 0, 1, 3, 7]), rng.randint(1, 12), rng.random() < 0.5)
        rounds.append(Round(east_k, delay, ops,
                            not race_free and rng.random() < 0.4, barrier))
    if rng.random() < 0.4:  # every PE loads first thing (race-free: then a barrier orders them before the stores)
        loads = [("gld", rng.randrange(words)) if rng.random() < 0.5 else ("gldv", 0, words)
                 for _ in range(rng.randint(1, 2))]
        rounds.insert(0, Round(True, (0, 1, False), loads, False, race_free or rng.random() < 0.5, chain=False))
    return Program(block, grid, words, race_free, rng.choice([1, 2, 5, 20]), rounds)


def source(p: Program) -> str:
    """The program's assembly: r1 tid, r7 the PE's ordinal in the launch, r11 its region's address, r13 its
    output words' address, r9 the token."""
    lines = [".args 2", ".sram 32", "    sreg r1, tid.x", "    sreg r10, bid.x", "    arg r6, 0", "    arg r8, 1",
             f"    muli r7, r10, {p.block}", "    add r7, r7, r1", f"    li r15, {p.regions}", "    rem r11, r10, r15",
             f"    muli r11, r11, {4 * p.words}", "    add r11, r11, r6", f"    muli r13, r7, {4 * p.outputs}",
             "    add r13, r13, r8", "    addi r9, r7, 0"]
    out, value = 0, 0
    for k, r in enumerate(p.rounds):
        if not r.chain:
            accesses, out, value = _accesses(r.ops, out, value)
            lines += accesses + ["    bar"] * r.barrier
            continue
        first, last = (0, p.block - 1) if r.east else (p.block - 1, 0)
        into, onto = ("west", "east") if r.east else ("east", "west")
        lines += [f"    addi r15, r1, {-first}", f"    bz r15, go{k}", f"    recv r9, {into}, 0",
                  f"    gst r9, r13, {4 * out}", f"go{k}:"]
        out += 1
        send = [f"    addi r15, r1, {-last}", f"    bz r15, sent{k}", f"    send {onto}, 0, r9", f"sent{k}:"]
        if r.early_send:
            lines += send
        a, b, by_token = r.delay
        lines += [f"    muli r14, r7, {a}", f"    addi r14, r14, {b}"]
        if by_token:  # (so that a wrong word moves every later cycle too)
            lines += ["    andi r15, r9, 7", "    add r14, r14, r15"]
        lines += [f"wait{k}:", "    addi r14, r14, -1", f"    bnz r14, wait{k}"]
        accesses, out, value = _accesses(r.ops, out, value)
        lines += accesses
        if not r.early_send:
            lines += send
        if r.barrier:
            lines.append("    bar")
    return "\n".join(lines + ["    halt"]) + "\n"


def _accesses(ops: list[tuple], out: int, value: int) -> tuple[list[str], int, int]:
    """(assembly lines, next output word, next stored value) of a round's accesses."""
    lines = []
    for op in ops:
            if op[0] == "gst":
                lines += ["    muli r2, r7, 1000", f"    addi r2, r2, {value}", f"    gst r2, r11, {4 * op[1]}"]
                value += 1
            elif op[0] == "gstv":
                for j in range(op[2]):
                    lines += ["    muli r2, r7, 1000", f"    addi r2, r2, {value + j}", f"    li r12, {j}",
                              "    st r2, r12, 0"]
                lines += [f"    addi r4, r11, {4 * op[1]}", f"    li r5, {op[2]}", "    li r12, 0",
                          "    gstv r4, r12, r5"]
                value += op[2]
            elif op[0] == "gld":
                lines += [f"    gld r9, r11, {4 * op[1]}", f"    gst r9, r13, {4 * out}"]
                out += 1
            else:
                lines += [f"    addi r4, r11, {4 * op[1]}", f"    li r5, {op[2]}", "    li r12, 8",
                          "    gldv r12, r4, r5", f"    addi r4, r13, {4 * out}", "    gstv r4, r12, r5"]
                out += op[2]
    return lines, out, value


def initial(p: Program) -> np.ndarray:
    return -1 - np.arange(p.regions * p.words, dtype=np.int32)


def sequential(p: Program) -> tuple[list[int], list[int]]:
    """(shared words, output words) of a race-free program, run block by block in each slot's order and, within a
    block, PE by PE in the token's order."""
    assert p.race_free
    shared, out = initial(p).tolist(), [0] * (p.outputs * p.grid * p.block)
    for b in range(p.grid):
        base = (b % p.slots) * p.words
        token = {t: b * p.block + t for t in range(p.block)}
        o_round, value_round = 0, 0
        for r in p.rounds:
            order = list(range(p.block)) if r.east else list(range(p.block))[::-1]
            for i, t in enumerate(order):
                pe, o, value = b * p.block + t, o_round, value_round
                if i and r.chain:
                    token[t] = token[order[i - 1]]
                    out[pe * p.outputs + o] = token[t]
                o += r.chain
                for op in r.ops:
                    if op[0] in ("gst", "gstv"):
                        n = 1 if op[0] == "gst" else op[2]
                        for j in range(n):
                            shared[base + op[1] + j] = pe * 1000 + value + j
                        value += n
                    elif op[0] == "gld":
                        token[t] = out[pe * p.outputs + o] = shared[base + op[1]]
                        o += 1
                    else:
                        for j in range(op[2]):
                            out[pe * p.outputs + o + j] = shared[base + op[1] + j]
                        o += op[2]
            o_round, value_round = o, value
    return shared, out


def run(p: Program, strategy) -> tuple[list[int], list[int], int]:
    """(shared words, output words, cycles) of `p` launched under `strategy`."""
    with forced(strategy):
        dev = ws.Device(p.spec())
        shared = dev.to_device(initial(p))
        out = dev.to_device(np.zeros(p.outputs * p.grid * p.block, np.int32))
        stats = dev.launch(assemble(source(p), name="fabric_orders"), (p.grid, 1), (p.block, 1), [shared, out])
        return shared.copy_to_host().tolist(), out.copy_to_host().tolist(), stats.cycles


def wrong(p: Program, strategies) -> list[str]:
    """What differs from `REFERENCE` (and, race-free, from `sequential`), one line a strategy and difference."""
    want_shared, want_out, want_cycles = run(p, REFERENCE)
    problems = []
    if p.race_free:
        seq_shared, seq_out = sequential(p)
        problems += [f"REFERENCE: shared {want_shared} != sequential {seq_shared}"] * (want_shared != seq_shared)
        problems += [f"REFERENCE: output {want_out} != sequential {seq_out}"] * (want_out != seq_out)
    for strategy in strategies:
        got_shared, got_out, cycles = run(p, strategy)
        name = _name(strategy)
        if cycles != want_cycles:
            problems.append(f"{name}: {cycles} cycles, REFERENCE {want_cycles}")
        problems += [f"{name}: shared word {w} = {g}, REFERENCE {x}"
                     for w, (g, x) in enumerate(zip(got_shared, want_shared)) if g != x]
        problems += [f"{name}: output {w} = {g}, REFERENCE {x}"
                     for w, (g, x) in enumerate(zip(got_out, want_out)) if g != x]
    return problems


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2 ** 32 - 1), st.booleans())
def test_random_programs_with_fabric_traffic_match_the_reference(seed, race_free):
    p = generate(random.Random(seed), race_free)
    problems = wrong(p, SOME_STRATEGIES[1:])
    assert not problems, "\n".join(problems[:10]) + "\n" + source(p)


def test_fixed_programs_with_fabric_traffic_under_every_strategy():
    rng = random.Random(50)
    problems = []
    for k in range(2):
        p = generate(rng, race_free=k % 2 == 0)
        problems += wrong(p, STRATEGIES[1:])
    assert not problems, "\n".join(problems[:10])
