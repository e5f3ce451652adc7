"""Stores to one global word in any order of execution: the one issued later wins, at one cycle the one of the
higher PE (src/wafersim/sim/store_stamps.py; docs/timing.md, "Order of accesses").

`StoreStamps` on its own against a plain-Python record of every store; the engine against a plain-Python
timeline of random programs of scalar, vector and strided vector stores under every execution strategy; and a
launch whose later wave stores, at an earlier cycle, to a word a block of an earlier wave stores to, resumed
from a checkpoint taken between the two."""
from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import wafersim as ws
from test_global_store_order import wrong_under_every_strategy
from wafersim.isa.assembler import assemble
from wafersim.runtime.resume import resume_launch
from wafersim.sim.memory import GlobalMemory
from wafersim.sim.store_stamps import StoreStamps

WORDS = 16
UNIT = ws.WaferSpec(width=8, height=1, cost_cycles={name: 1 for name in ws.WaferSpec().cost_cycles})

def _final(stores: list[tuple[int, float, int, int]]) -> dict[int, int]:
    """Each word's value after `stores` (word, cycle, PE, value, in the order executed): that of the latest
    (cycle, PE), of equal ones the one executed last."""
    out: dict[int, tuple[tuple[float, int], int]] = {}
    for word, cycle, pe, value in stores:
        if word not in out or (cycle, pe) >= out[word][0]:
            out[word] = ((cycle, pe), value)
    return {word: value for word, (_, value) in out.items()}


#: A group of stores: (words a row, rows or scalars, cycles (one a PE), words between rows beyond a row's, first
#: word).
GROUPS = st.tuples(st.integers(1, 5), st.booleans(), st.lists(st.integers(0, 6), min_size=1, max_size=5),
                   st.integers(0, 3), st.integers(0, 3))


def _store_group(stamps: StoreStamps, memory: GlobalMemory, base: int, rng: np.random.Generator, group: tuple,
                 value: int) -> tuple[list[tuple[int, float, int, int]], int]:
    """Make one group of stores (`GROUPS`) through `stamps`: scalar stores of some PEs (the caller puts them in
    (cycle, PE) order, as the engine does) or strided rows (`StoreStamps.rows`, used only where it accepts
    them). Returns the stores, (word, cycle, PE key, value) in the order executed, and the next value."""
    words, rows, cycles, stride_extra, first = group
    cycles = np.asarray(cycles, dtype=np.float64)
    pes = stamps.keys(rng.permutation(8)[:len(cycles)])  # (the PEs' keys: ordinals plus one)
    if rows and len(cycles) > 1:  # a strided bulk copy: a row of `words` words per PE, PEs increasing
        pes, stride = np.sort(pes), words + stride_extra
        values = np.arange(value, value + len(pes) * words).reshape(len(pes), words)
        start = base + 4 * first
        if stamps.rows(memory, base, start, len(pes), 4 * stride, words, cycles, pes):
            view = memory.rows_view(base, start, len(pes), 4 * stride, words, store=True)
            view[...] = values
            return ([(first + r * stride + w, cycles[r], pes[r], values[r, w])
                     for r in range(len(pes)) for w in range(words)], value + values.size)
        # (refused: some word was stored later; the same stores word by word)
        addr = start + 4 * (stride * np.arange(len(pes))[:, None] + np.arange(words))
        batch = [(a, cycles[r], pes[r], values[r, w]) for r in range(len(pes)) for w, a in enumerate(addr[r])]
    else:
        batch = [(base + 4 * int(rng.integers(0, 12)), c, p, value + k) for k, (c, p) in enumerate(zip(cycles, pes))]
    value += len(batch)
    batch.sort(key=lambda s: (s[1], s[2]))  # (stable: the order executed among equal stamps)
    a, c, p, v = (np.array(column) for column in zip(*batch))
    stamps.store(memory, a, base, v.astype(np.int32), c, p)
    return [((int(x) - base) // 4, float(y), int(z), int(w)) for x, y, z, w in batch], value


def _final_words(stores: list[tuple[int, float, int, int]]) -> np.ndarray:
    """The 64 words of memory after `stores` (`_final`)."""
    expected = np.zeros(64, np.int32)
    for word, v in _final(stores).items():
        expected[word] = v
    return expected


@settings(max_examples=200, deadline=None)
@given(st.lists(GROUPS, min_size=1, max_size=12), st.integers(0, 2 ** 32 - 1))
def test_stamps_keep_the_latest_store_of_each_word_in_any_order_executed(groups, seed):
    """Groups of stores in random order, scalar and strided."""
    rng = np.random.default_rng(seed)
    memory = GlobalMemory(1 << 20)
    base = memory.allocate(4 * 64).base
    stamps, stores, value = StoreStamps(64), [], 1
    for group in groups:
        made, value = _store_group(stamps, memory, base, rng, group, value)
        stores += made
    np.testing.assert_array_equal(memory.get(base).words(), _final_words(stores))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["plain", "kept", "undone"]), st.lists(GROUPS, min_size=1, max_size=4)),
                min_size=1, max_size=6),
       st.integers(0, 2 ** 32 - 1))
def test_batches_of_stores_undone_leave_the_stamps_as_before(batches, seed):
    """Groups of stores, some made as a batch of waves makes them (`record`), then kept (`forget`) or undone
    (`undo`, memory put back as `GlobalMemory.undo_on_error` does): the words keep the latest store of the
    groups not undone. Batches to words stored before and to words never stored (kept as records) alike."""
    rng = np.random.default_rng(seed)
    memory = GlobalMemory(1 << 20)
    base = memory.allocate(4 * 64).base
    stamps, stores, value = StoreStamps(64), [], 1
    for kind, groups in batches:
        before = memory.get(base).words().copy()
        if kind != "plain":
            stamps.record()
        made = []
        for group in groups:
            some, value = _store_group(stamps, memory, base, rng, group, value)
            made += some
        if kind == "undone":
            stamps.undo()
            memory.get(base).words()[:] = before
        else:
            stamps.forget()
            stores += made
        np.testing.assert_array_equal(memory.get(base).words(), _final_words(stores))


def test_stamps_recorded_for_a_batch_of_waves_are_put_back_by_its_undo():
    memory = GlobalMemory(1 << 20)
    base = memory.allocate(4 * 8).base
    stamps = StoreStamps(8)
    stamps.store(memory, base + np.array([0, 4]), base, np.array([1, 2], np.int32), np.array([5.0, 5.0]),
                 np.array([1, 1]))
    stamps.record()
    stamps.store(memory, base + np.array([0, 8]), base, np.array([3, 4], np.int32), np.array([9.0, 9.0]),
                 np.array([2, 2]))
    assert stamps.rows(memory, base, base + 12, 2, 8, 1, np.array([9.0, 9.0]), np.array([3, 4]))  # words 3 and 5
    stamps.undo()
    # Word 0's stamp is cycle 5 again, words 2, 3 and 5 unstamped: stores at cycles 7 and 1 are later.
    stamps.store(memory, base + np.array([0, 8, 12, 20]), base, np.array([7, 8, 9, 10], np.int32),
                 np.array([7.0, 1.0, 1.0, 1.0]), np.array([1, 1, 1, 1]))
    assert memory.get(base).words()[[0, 1, 2, 3, 5]].tolist() == [7, 2, 8, 9, 10]
    stamps.store(memory, base + np.array([4]), base, np.array([11], np.int32), np.array([4.0]), np.array([8]))
    assert memory.get(base).words()[1] == 2  # (issued before word 1's store, at cycle 5: it loses)


def _random_program(rng: random.Random, pes: int, loads: bool) -> tuple[str, list[tuple[int, int, int, int]]]:
    """PE i takes its own block (a chain of branches: 2 i + 1 instructions, then some nops) of one to three
    stores: scalar (`gst`) or vector (`gstv`, 1-3 words at any word) of values unique to each word stored; then
    every PE runs one shared strided `gstv` (2 words at tid * 3 + an offset: a group of consecutive PEs may take
    the engine's strided copy), and (`loads`) a load of a word never stored (which sends stores some PE could
    still precede with it to the store log). With every instruction costing one cycle, an instruction issues at
    the count of instructions run so far; the timeline is (issue cycle, PE, word, value) of every word stored."""
    lines = [".args 1", ".sram 8", "    sreg r1, tid.x", "    sreg r7, tid.x", "    arg r6, 0", "    li r3, 0"]
    for i in range(pes):
        lines += [f"    bz r1, blk{i}", "    addi r1, r1, -1"]
    lines.append("    halt")
    timeline, blocks, value = [], [], 1
    for i in range(pes):
        block, count = [f"blk{i}:"], 4 + 2 * i + 1
        for _ in range(rng.randint(1, 3)):
            nops = rng.choice([0, 1, 2, 4, 9])
            block += ["    nop"] * nops
            count += nops
            if rng.random() < 0.5:
                word = rng.randrange(WORDS)
                block += [f"    li r2, {value}", f"    gst r2, r6, {4 * word}"]
                count += 2
                timeline.append((count, i, word, value))
                value += 1
            else:
                n = rng.randint(1, 3)
                word = rng.randrange(WORDS - n + 1)
                for k in range(n):
                    block += [f"    li r2, {value + k}", f"    st r2, r3, {k}"]
                block += [f"    li r4, {4 * word}", "    add r4, r4, r6", f"    li r5, {n}", "    gstv r4, r3, r5"]
                count += 2 * n + 4
                timeline += [(count, i, word + k, value + k) for k in range(n)]
                value += n
        block.append("    jmp common")
        blocks.append((block, count + 1))
    offset = rng.randrange(WORDS - 3 * (pes - 1) - 2 + 1) if 3 * (pes - 1) + 2 <= WORDS else None
    common = ["common:"]
    if offset is not None:
        common += ["    muli r2, r7, 100", "    addi r2, r2, 5000", "    st r2, r3, 0", "    addi r2, r2, 1",
                   "    st r2, r3, 1", "    muli r4, r7, 12", "    add r4, r4, r6", f"    addi r4, r4, {4 * offset}",
                   "    li r5, 2", "    gstv r4, r3, r5"]
        for i, (_, count) in enumerate(blocks):
            issued = count + 10
            timeline += [(issued, i, offset + 3 * i + k, 5000 + 100 * i + k) for k in range(2)]
    if loads:
        common.append(f"    gld r9, r6, {4 * WORDS}")
    order = list(range(pes))
    rng.shuffle(order)
    body = [line for k in order for line in blocks[k][0]]
    return "\n".join(lines + body + common + ["    halt"]) + "\n", timeline


def _expected(timeline: list[tuple[int, int, int, int]]) -> list[int]:
    out = [0] * (WORDS + 1)
    latest: dict[int, tuple[int, int]] = {}
    for cycle, pe, word, value in timeline:
        if word not in latest or (cycle, pe) > latest[word]:
            latest[word], out[word] = (cycle, pe), value
    return out


def test_random_scalar_vector_and_strided_stores_keep_the_latest_under_every_strategy():
    rng = random.Random(49)
    cases = []
    for k in range(8):
        pes = rng.randint(2, 6)
        cases.append((pes, *_random_program(rng, pes, loads=k % 2 == 1)))
    wrong = wrong_under_every_strategy(UNIT, [(pes, source, _expected(timeline)) for pes, source, timeline in cases],
                                       WORDS + 1)
    assert not wrong, "\n".join(wrong[:10])


# Two 4 x 1 slots; three blocks: block 0 (slot 0) passes a barrier and ends, block 1 (slot 1) spins `SPIN` times and
# then stores its 2 to word 0, block 2 (the second wave, slot 0) passes a barrier (where the whole wave is at one
# point: a checkpoint) and stores its 3 to word 0: issued long before block 1's store, executed after it. Only
# thread 0 of a block stores.
SPIN = 60
WAVES = f"""
.args 1
    sreg r1, bid.x
    sreg r2, tid.x
    arg r6, 0
    li r3, 1
    sub r4, r1, r3
    bz r4, spin
    bar
    bz r1, done
    bnz r2, done
    li r5, 3
    gst r5, r6, 0
    jmp done
spin:
    bnz r2, done
    li r4, {SPIN}
again:
    addi r4, r4, -1
    bnz r4, again
    li r5, 2
    gst r5, r6, 0
done:
    halt
"""


def test_a_store_of_a_later_wave_issued_earlier_loses_also_after_a_resume(tmp_path):
    program = assemble(WAVES, name="waves")
    spec = ws.WaferSpec(width=8, height=1)

    def launch(**options):
        dev = ws.Device(spec)
        d = dev.to_device(np.zeros(1, np.int32))
        stats = dev.launch(program, (3, 1), (4, 1), [d], **options)
        return dev, d, stats

    _, plain, stats = launch()
    assert stats.waves == 2
    assert plain.copy_to_host().tolist() == [2]  # block 1's store, issued after `SPIN` loops, wins
    path = tmp_path / "run.npz"
    _, checked, checked_stats = launch(checkpoint_every=1, checkpoint=path)
    assert checked.copy_to_host().tolist() == [2]
    dev, resumed = resume_launch(path)  # the last checkpoint: block 2's barrier, in the second wave
    assert dev.arrays()[f"0x{checked.address:x}"].copy_to_host().tolist() == [2]
    assert (resumed.cycles, resumed.instructions) == (checked_stats.cycles, checked_stats.instructions)
