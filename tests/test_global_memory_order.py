"""Causal global memory (sim/memory_order.py, sim/offwafer.py): a load sees exactly the stores issued at or
before its cycle, whatever order the scheduler runs PEs in.

Expected values come from a plain-Python timeline: each PE's issue cycles summed from the spec's
per-opcode costs (`opcode_cycles`), and "the latest store at or before the load's cycle" over them.
The spec gives each cost class a different cost, so that a timeline using the wrong class would be wrong.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import run_every_strategy
from wafersim.isa.opcodes import opcode_cycles
from wafersim.sim.memory import GlobalMemory
from wafersim.sim.memory_order import StoreLog, cycles_until
from wafersim.sim.store_stamps import StoreStamps

SPEC = ws.WaferSpec(width=8, height=8, cost_cycles={"alu": 1, "branch": 2, "special": 3, "global": 5})
COST = opcode_cycles(SPEC)
EMPTY = -1  # what the words hold before the launch


def cost(*ops: str) -> float:
    return sum(COST[op] for op in ops)


def loop(count: int) -> float:
    """`li r3, count` then `count` iterations of `addi r3, r3, -1; bnz r3, loop`."""
    return cost("li") + count * cost("addi", "bnz")


def run(source: str, words: int, grid=1, block=(2, 1), spec=SPEC):
    """Launch `source` with one argument, a device array of `words` int32 filled with EMPTY; returns the
    array's final contents and the launch's stats."""
    dev = ws.Device(spec)
    out = dev.to_device(np.full(words, EMPTY, dtype=np.int32))
    stats = dev.launch(ws.assemble(source), grid, block, [out])
    return out.copy_to_host(), stats


def every_strategy(source: str, words: int, **launch):
    """`run` under every engine strategy (they must agree bit for bit, cycles included)."""
    return run_every_strategy(lambda: run(source, words, **launch))


# PE 0 (the lower pc) counts down a long loop, then stores 7 to word 0; PE 1 loads word 0 at once and
# copies it to word 1. The scheduler runs PE 0's loop and store first.
LATE_STORE = """
    sreg r1, tid.x
    arg r2, 0
    bnz r1, reader
    li r3, 100
loop:
    addi r3, r3, -1
    bnz r3, loop
    li r4, 7
    gst r4, r2, 0
    halt
reader:
    gld r5, r2, 0
    gst r5, r2, 4
    halt
"""


def test_a_load_never_sees_a_store_issued_later_in_simulated_time():
    store_at = cost("sreg", "arg", "bnz") + loop(100) + cost("li", "gst")
    load_at = cost("sreg", "arg", "bnz", "gld")
    assert load_at < store_at
    out, _ = every_strategy(LATE_STORE, 2)
    assert out.tolist() == [7, EMPTY]  # the store landed, after the load had read the old word


# PE 0 (the lower pc) counts down a long loop, then loads word 0; PE 1 stores 7 there at once. The
# scheduler would run PE 0's load before PE 1's store.
EARLY_STORE = """
    sreg r1, tid.x
    arg r2, 0
    bnz r1, writer
    li r3, 100
loop:
    addi r3, r3, -1
    bnz r3, loop
    gld r5, r2, 0
    gst r5, r2, 4
    halt
writer:
    li r4, 7
    gst r4, r2, 0
    halt
"""


def test_a_load_sees_a_store_issued_earlier_that_the_scheduler_runs_later():
    store_at = cost("sreg", "arg", "bnz", "li", "gst")
    load_at = cost("sreg", "arg", "bnz") + loop(100) + cost("gld")
    assert store_at < load_at
    out, _ = every_strategy(EARLY_STORE, 2)
    assert out.tolist() == [7, 7]


# The same, the load reached by straight-line code (no branch just before it): a run of the NumPy
# executors must stop there and let the scheduler hold it (it once ran on and loaded EMPTY).
STRAIGHT_LOAD = """
    sreg r1, tid.x
    arg r2, 0
    bz r1, writer
    li r5, 1
    addi r5, r5, 1
    addi r5, r5, 1
    gld r6, r2, 0
    gst r6, r2, 4
    halt
writer:
    li r4, 7
    gst r4, r2, 0
    halt
"""


def test_a_load_after_straight_line_code_sees_a_store_issued_earlier():
    store_at = cost("sreg", "arg", "bz", "li", "gst")
    load_at = cost("sreg", "arg", "bz", "li", "addi", "addi", "gld")
    assert store_at < load_at
    out, _ = every_strategy(STRAIGHT_LOAD, 2)
    assert out.tolist() == [7, 7]


# Both PEs store to word 0 from one instruction, PE 0 (lane 0) late after its loop, PE 1 at once: one
# NumPy scatter would let the last lane win; simulated time says PE 0's store is the later one.
SAME_WORD = """
    sreg r1, tid.x
    arg r2, 0
    bnz r1, skip
    li r3, 50
loop:
    addi r3, r3, -1
    bnz r3, loop
skip:
    addi r4, r1, 10
    gst r4, r2, 0
    halt
"""


def test_of_two_stores_to_one_word_the_later_one_wins():
    pe0 = cost("sreg", "arg", "bnz") + loop(50) + cost("addi", "gst")
    pe1 = cost("sreg", "arg", "bnz", "addi", "gst")
    assert pe1 < pe0
    out, _ = every_strategy(SAME_WORD, 1)
    assert out.tolist() == [10]  # PE 0's value, r1 + 10


# Three one-PE blocks on a two-PE wafer: block 2 runs in a second wave, in block 0's slot, from block 0's
# end. Block 1 stores late in the first wave; block 2 loads early in the second.
WAVES = """
    sreg r1, bid.x
    arg r2, 0
    seqi r6, r1, 1
    bnz r6, writer
    seqi r6, r1, 2
    bnz r6, reader
    halt
writer:
    li r3, {loops}
loop:
    addi r3, r3, -1
    bnz r3, loop
    li r4, 7
    gst r4, r2, 0
    halt
reader:
    gld r5, r2, 0
    gst r5, r2, 4
    halt
"""
TWO_PES = SPEC.replace(width=2, height=1)


@pytest.mark.parametrize("loops", [3, 200])
def test_a_later_wave_sees_only_the_stores_issued_before_its_loads(loops):
    choose = cost("sreg", "arg", "seqi", "bnz")
    block0_end = choose + cost("seqi", "bnz", "halt")
    load_at = block0_end + choose + cost("seqi", "bnz", "gld")
    store_at = choose + loop(loops) + cost("li", "gst")
    out, stats = run(WAVES.format(loops=loops), 2, grid=(3, 1), block=(1, 1), spec=TWO_PES)
    assert stats.waves == 2
    assert out.tolist() == [7, 7 if store_at <= load_at else EMPTY]


# PE 0 waits for a word from PE 1, then stores 7 to word 0; PE 1 loads word 0 after a loop, copies it to
# word 1 and only then sends. PE 1's load waits while PE 0 might store first, but PE 0 is blocked on PE 1:
# the scheduler must see that PE 0 cannot store before PE 1's load completes, and let the load run.
BLOCKED_WRITER = """
    sreg r1, tid.x
    arg r2, 0
    bnz r1, pe1
    recv r3, east, 0
    li r4, 7
    gst r4, r2, 0
    halt
pe1:
    li r3, 100
loop:
    addi r3, r3, -1
    bnz r3, loop
    gld r5, r2, 0
    gst r5, r2, 4
    send west, 0, r5
    halt
"""


def test_a_load_is_not_held_for_a_pe_that_only_it_can_wake():
    load_at = cost("sreg", "arg", "bnz") + loop(100) + cost("gld")
    store_at_least = load_at + SPEC.global_latency + cost("gst", "send", "recv", "li", "gst")
    assert load_at < store_at_least
    out, _ = every_strategy(BLOCKED_WRITER, 2)
    assert out.tolist() == [7, EMPTY]


def random_timeline(rng: np.random.Generator, pes: int, words: int):
    """A random plan: PE k waits a loop of `loops[k]` iterations, then stores `k + 100` to word `word[k]`
    or loads it (and copies it to its own word `words + k`). Returns (assembly, plan, expected memory)."""
    kinds = rng.choice(["gst", "gld"], size=pes)
    word = rng.integers(0, words, size=pes)
    loops = rng.permutation(np.arange(1, 4 * pes + 1))[:pes] * 3
    lines = ["    sreg r1, tid.x", "    arg r2, 0"]
    lines += [f"    seqi r6, r1, {k}\n    bnz r6, pe{k}" for k in range(pes)]
    lines.append("    halt")
    issue = []
    for k in range(pes):
        lines += [f"pe{k}:", f"    li r3, {loops[k]}", f"l{k}:", "    addi r3, r3, -1", f"    bnz r3, l{k}"]
        before = cost("sreg", "arg") + (k + 1) * cost("seqi", "bnz") + loop(int(loops[k]))
        if kinds[k] == "gst":
            lines += [f"    li r4, {k + 100}", f"    gst r4, r2, {4 * word[k]}", "    halt"]
            issue.append(before + cost("li", "gst"))
        else:
            lines += [f"    gld r5, r2, {4 * word[k]}", f"    gst r5, r2, {4 * (words + k)}", "    halt"]
            issue.append(before + cost("gld"))
    # The plain-Python timeline: loads see the latest store at or before their cycle.
    expected = [EMPTY] * (words + pes)
    stores = sorted((issue[k], k) for k in range(pes) if kinds[k] == "gst")
    for k in range(pes):
        if kinds[k] == "gld":
            seen = [j for t, j in stores if t <= issue[k] and word[j] == word[k]]
            expected[words + k] = seen[-1] + 100 if seen else EMPTY
    for _, j in stores:
        expected[word[j]] = j + 100
    return "\n".join(lines) + "\n", expected


@pytest.mark.parametrize("seed", range(6))
def test_random_timelines_match_a_plain_python_model(seed):
    rng = np.random.default_rng(seed)
    pes, words = 6, 2
    source, expected = random_timeline(rng, pes, words)
    out, _ = every_strategy(source, words + pes, block=(pes, 1))
    assert out.tolist() == expected


def test_a_kernel_without_cross_pe_dependences_keeps_its_cycles():
    """Each PE loads and stores its own words: the cycle count is the analytic single-PE timeline."""
    source = """
        sreg r1, tid.x
        arg r2, 0
        shli r1, r1, 2
        add r2, r2, r1
        gld r5, r2, 0
        addi r5, r5, 1
        gst r5, r2, 0
        halt
    """
    out, stats = every_strategy(source, 4, block=(4, 1))
    assert out.tolist() == [EMPTY + 1] * 4
    # Row 0 lies on the wafer's north edge (no hops to it); 16 bytes are far below a cycle's bandwidth.
    loaded = cost("sreg", "arg", "shli", "add", "gld") + SPEC.global_latency
    store = loaded + cost("addi", "gst")
    assert stats.cycles == max(store + SPEC.global_latency, store + cost("halt"))


# Four one-PE blocks on a four-PE row, and a fifth in a second wave (block 4, in block 0's slot). Block 1 spins
# through register instructions only, so its PE owes all their cycles when it reaches `done` first; block 2
# stores 2 late, then reaches `done` owing a few cycles, and joins block 1's PE there owing as much (its clock set
# back by the difference: what it owes makes up for it). Block 0 stores 1 earlier than block 2 but runs after it
# (a higher pc); block 4 loads the word long after both. No load of the first wave can precede either store; one
# of block 4 could precede both, if it started at the earliest clock of the first wave's blocks plus its path to
# the load, so that bound is where the stores go to the store log rather than to memory. Block 2's clock set back
# moved it back (stop 49 and before): block 2's store went to memory, block 0's earlier one to the log, and the
# load's overlay took the logged store over the later one in memory, loading 1.
WAVE_AFTER_A_SETBACK = """
    sreg r1, bid.x
    arg r6, 0
    bz r1, early
    addi r1, r1, -1
    bz r1, spin
    addi r1, r1, -1
    bz r1, late
    addi r1, r1, -1
    bz r1, idle
    addi r1, r1, -1
    bz r1, reader
idle:
    halt
spin:
    li r4, 30
again:
    addi r4, r4, -1
    bnz r4, again
    jmp done
late:
    nop
    li r2, 2
    gst r2, r6, 0
    jmp done
early:
    li r2, 1
    gst r2, r6, 0
    jmp done
reader:
""" + "    nop\n" * 30 + """    gld r9, r6, 0
    gst r9, r6, 4
done:
    halt
"""


def test_a_store_logged_after_the_horizon_moved_back_does_not_hide_a_later_one():
    def dispatch(block: int) -> float:  # sreg, arg, then `block` (bz, addi) pairs and the taken bz
        return cost("sreg", "arg") + block * cost("bz", "addi") + cost("bz")

    early = dispatch(0) + cost("li", "gst")
    late = dispatch(2) + cost("nop", "li", "gst")
    load = dispatch(4) + 30 * cost("nop") + cost("gld")  # (and block 4 starts no earlier than cycle 0)
    assert early < late < load
    out, stats = every_strategy(WAVE_AFTER_A_SETBACK, 2, grid=5, block=(1, 1),
                                spec=dataclasses.replace(SPEC, width=4, height=1))
    assert stats.waves == 2
    assert out.tolist() == [2, 2]  # block 2's store, the later one, in memory and loaded


def test_store_log_overlay_and_commit_follow_cycle_then_pe_order():
    rng = np.random.default_rng(7)
    memory = GlobalMemory(1 << 20)
    base = memory.allocate(4 * 8).base
    log, entries = StoreLog(), []
    for chunk in range(5):
        addr = base + 4 * rng.integers(0, 6, size=8)
        cycles = rng.integers(0, 20, size=8).astype(float)
        pes = rng.integers(0, 4, size=8)
        values = rng.integers(0, 1000, size=8)
        log.add(addr, base, values, cycles, pes)
        entries += list(zip(addr.tolist(), cycles.tolist(), pes.tolist(), values.tolist()))  # in the order executed

    def latest(a: int, t: float, default: int) -> int:
        seen = [v for (ea, et, _, v) in sorted(entries, key=lambda e: (e[1], e[2])) if ea == a and et <= t]  # stable
        return seen[-1] if seen else default

    def words() -> dict[int, int]:
        return {base + 4 * k: int(v) for k, v in enumerate(memory.get(base).words()) if v}

    queries = base + 4 * rng.integers(0, 7, size=40)
    at = rng.integers(0, 22, size=40).astype(float)
    got = log.overlay(queries, at, np.full(40, -5, dtype=np.int32))
    assert got.tolist() == [latest(int(a), t, -5) for a, t in zip(queries, at)]
    stamps = StoreStamps(4)
    log.commit(memory, 9.0, stamps)
    assert words() == {a: v for a in {a for a, t, _, _ in entries if t <= 9.0} if (v := latest(a, 9.0, 0))}
    assert log.words == sum(t > 9.0 for _, t, _, _ in entries)
    log.commit(memory, np.inf, stamps)
    assert words() == {a: v for a in {a for a, _, _, _ in entries} if (v := latest(a, np.inf, 0))}
    assert not log


def test_store_log_commit_of_words_in_address_order_keeps_the_latest_store_of_each():
    """Commits whose words are distinct and in address order (saxpy's: one word a PE, the PEs in address order)
    go unsorted; each word still keeps its latest (cycle, PE) store over all commits, some only partly due."""
    rng = np.random.default_rng(11)
    memory = GlobalMemory(1 << 20)
    base = memory.allocate(4 * 32).base
    log, stamps, latest = StoreLog(), StoreStamps(8), {}
    for chunk in range(6):
        words = np.sort(rng.choice(32, size=12, replace=False))
        cycles = rng.integers(0, 30, size=12).astype(float)
        pes = rng.integers(1, 9, size=12)
        values = rng.integers(1, 1000, size=12)
        log.add(base + 4 * words, base, values, cycles, pes)
        for w, c, p, v in zip(words.tolist(), cycles.tolist(), pes.tolist(), values.tolist()):
            if w not in latest or (c, p) >= latest[w][0]:
                latest[w] = ((c, p), v)
        log.commit(memory, 15.0 if chunk % 2 else np.inf, stamps)  # (odd chunks: the stores after cycle 15 wait)
    log.commit(memory, np.inf, stamps)
    assert memory.get(base).words().tolist() == [latest[w][1] if w in latest else 0 for w in range(32)]


def test_store_log_commit_of_distinct_words_out_of_order_keeps_the_latest_store_of_each():
    """Chunks of distinct words in no order (trsv's rows of x, logged as its PEs stored them): a commit of one
    chunk's words goes in address order, one of words stored twice in (cycle, PE) order; each word keeps its
    latest store, and every overlay between commits (words of the log, beside it, of memory below and above it,
    loads before any logged store) reads what a plain model of the log and memory gives."""
    rng = np.random.default_rng(13)
    memory = GlobalMemory(1 << 20)
    below, base, above = (memory.allocate(4 * 32).base for _ in range(3))
    log, stamps, entries, committed = StoreLog(), StoreStamps(8), [], {}

    def latest_of(word: int, at: float, pool) -> tuple | None:
        seen = [(c, p, v) for (w, c, p, v) in pool if w == word and c <= at]
        return max(seen, key=lambda e: (e[0], e[1])) if seen else None

    for chunk in range(8):
        words = rng.choice(32, size=10, replace=False)  # (distinct, in no order)
        cycles = rng.integers(5, 40, size=10).astype(float)
        pes = rng.integers(1, 9, size=10)
        values = rng.integers(1, 1000, size=10)
        log.add(base + 4 * words, base, values, cycles, pes)
        entries += list(zip(words.tolist(), cycles.tolist(), pes.tolist(), values.tolist()))
        horizon = np.inf if chunk % 4 == 3 else float(rng.integers(0, 30))
        log.commit(memory, horizon, stamps)
        horizon = log.horizon
        for e in [e for e in entries if e[1] <= horizon]:
            if e[0] not in committed or (e[1], e[2]) >= committed[e[0]][:2]:
                committed[e[0]] = e[1:]
        entries = [e for e in entries if e[1] > horizon]
        assert memory.get(base).words().tolist() == [committed[w][2] if w in committed else 0 for w in range(32)]
        queries = np.concatenate([below + 4 * rng.integers(0, 32, 6), base + 4 * rng.integers(0, 32, 12),
                                  above + 4 * rng.integers(0, 32, 6)])
        queries = [queries, queries[:6], queries[6:18], queries[18:]][chunk % 4]  # (all, below, log's, above)
        at = rng.integers(0, 45, size=len(queries)).astype(float)
        if chunk == 4:
            at[:] = 1.0  # (every load before every logged store)
        in_memory = memory.gather_words(queries, memory.locate(queries, 4)[0])
        got = log.overlay(queries, at, in_memory) if log else in_memory
        expected = [(found[2] if (found := latest_of((int(q) - base) // 4, t, entries)) and base <= q < above
                     else int(m)) for q, t, m in zip(queries.tolist(), at.tolist(), in_memory.tolist())]
        assert got.tolist() == expected


def test_the_store_log_horizon_never_moves_back():
    """`StoreLog.bound`: the latest horizon given so far; a commit by a lower one commits only what the latest allows
    (every store in memory stays no later than every logged one)."""
    memory = GlobalMemory(1 << 20)
    base = memory.allocate(4 * 4).base
    log, stamps = StoreLog(), StoreStamps(4)
    assert [log.bound(h) for h in (5.0, 3.0, 8.0, -1.0)] == [5.0, 5.0, 8.0, 8.0]
    log.add(base + np.array([0, 4, 8]), base, np.array([1, 2, 3]), np.array([6.0, 9.0, 12.0]), 1)
    log.commit(memory, 2.0, stamps)  # (by 8: the store at 6 lands, those at 9 and 12 stay logged)
    assert memory.get(base).words().tolist() == [1, 0, 0, 0]
    assert log.words == 2 and log.horizon == 8.0
    got = log.overlay(base + np.array([0, 4, 8]), np.array([20.0, 20.0, 10.0]), np.full(3, -5, np.int32))
    assert got.tolist() == [-5, 2, -5]  # (the overlay leaves words with no logged store to memory's reading)


def test_cycles_until_a_store_is_the_cheapest_path():
    program = ws.assemble("""
        bz r1, far
        gst r1, r2, 0
        halt
    far:
        gld r3, r2, 0
        addi r3, r3, 1
        gst r3, r2, 0
        halt
    """)
    decoded = dict(program.instructions())
    until = cycles_until(decoded, COST, frozenset({"gst", "gstv"}), len(program.code), SPEC.global_latency)
    far = program.labels["far"]
    assert until[far] == cost("gld") + SPEC.global_latency + cost("addi", "gst")
    assert until[0] == cost("bz") + min(cost("gst"), until[far])
    assert until[2] == np.inf  # halt
