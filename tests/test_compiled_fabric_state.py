"""The compiled interpreter's FIFO state (sim/compiled/fabric_state.py): value rings deepened for the queues
the interpreter's pushes need, so that a kernel whose PEs queue more than one word at a neighbour runs in the
interpreter rather than coming back to the NumPy engine one PE at a time."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim.wave import WaveSim

PAIRS = 3


def lcs_wavefront(rounds: int):
    """An LCS kernel, one DP cell per PE: the west PE sends two words (its cell, and its north's, the
    diagonal) for each of `rounds` string pairs, so up to 2 * `rounds` words queue east."""
    @ws.jit
    def lcs_cells(a, b, out):
        x, y = ws.grid(2)
        mine_a = ws.local.array(rounds, np.int32)
        mine_b = ws.local.array(rounds, np.int32)
        cells = ws.local.array(rounds, np.int32)
        mine_a[0:rounds] = a[y, 0:rounds]  # (global memory only before and after the wavefront)
        mine_b[0:rounds] = b[x, 0:rounds]
        for r in range(rounds):
            north = 0
            west = 0
            diagonal = 0
            if ws.has_neighbor(ws.NORTH):
                north = ws.recv(ws.NORTH, dtype=np.int32)
            if ws.has_neighbor(ws.WEST):
                west = ws.recv(ws.WEST, dtype=np.int32)
                diagonal = ws.recv(ws.WEST, dtype=np.int32)
            cell = diagonal + 1 if mine_a[r] == mine_b[r] else max(north, west)
            if ws.has_neighbor(ws.EAST):
                ws.send(ws.EAST, cell)
                ws.send(ws.EAST, north)
            if ws.has_neighbor(ws.SOUTH):
                ws.send(ws.SOUTH, cell)
            cells[r] = cell
        out[y * ws.blockDim.x + x, 0:rounds] = cells[0:rounds]
    return lcs_cells


lcs_cells = lcs_wavefront(PAIRS)


def lcs_table(s: list[int], t: list[int]) -> list[list[int]]:
    """The LCS lengths of every pair of prefixes s[:y + 1], t[:x + 1], by the textbook recurrence."""
    table = [[0] * (len(t) + 1) for _ in range(len(s) + 1)]
    for y in range(len(s)):
        for x in range(len(t)):
            table[y + 1][x + 1] = (table[y][x] + 1 if s[y] == t[x]
                                   else max(table[y][x + 1], table[y + 1][x]))
    return [row[1:] for row in table[1:]]


def test_words_queued_two_deep_run_in_the_interpreter(monkeypatch):
    width, height = 24, 8
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, (height, PAIRS), dtype=np.int32)  # a[:, r] against b[:, r]
    b = rng.integers(0, 3, (width, PAIRS), dtype=np.int32)
    steps = []  # instructions the NumPy engine ran for the interpreter, one at a time (`_run_compiled`)
    original = WaveSim._run_numpy
    monkeypatch.setattr(WaveSim, "_run_numpy", lambda self, pc, lanes, *args, **kw: (
        steps.append(pc) if kw.get("one_step") else None, original(self, pc, lanes, *args, **kw))[1])
    dev = ws.Device(ws.WaferSpec(width=width, height=height))
    d_out = dev.device_array((height * width, PAIRS), np.int32)
    lcs_cells[(1, 1), (width, height)](dev.to_device(a), dev.to_device(b), d_out)
    expected = np.stack([np.ravel(lcs_table(list(a[:, r]), list(b[:, r]))) for r in range(PAIRS)], axis=1)
    np.testing.assert_array_equal(d_out.copy_to_host(), expected)
    # A deepening of the east FIFOs' value ring costs one such step: one, straight to the FIFO's depth (when
    # each doubled the ring, 1 -> 2 -> 4 -> 8 words, three); before the interpreter asked for it, the NumPy
    # engine took every PE's second word east, PAIRS times per PE.
    assert len(steps) <= 2, len(steps)


def test_a_large_divergent_group_at_a_transfer_runs_it_in_the_interpreter(monkeypatch):
    """Groups of `PARALLEL_MIN` PEs or more run in parts on threads, without transfers; one at a transfer runs
    on one thread with them (else it stopped at once and left the transfer to the NumPy engine): a data-dependent
    number of words per PE (bench/workloads_user.py's `ragged`), equal to NumPy's sums and to the reference run."""
    from test_bench_workloads import workloads
    from test_engine_strategies import assert_same_run
    from wafersim.sim import parallel
    from wafersim.sim.compiled import stepper
    from wafersim.sim.strategy import REFERENCE, forced

    case = workloads.WORKLOADS["ragged"]("tiny", np.random.default_rng(7))
    with forced(REFERENCE):
        reference = case.simulate()
    monkeypatch.setattr(stepper, "PARALLEL_MIN", 4)
    steps = []
    original = WaveSim._run_numpy
    monkeypatch.setattr(WaveSim, "_run_numpy", lambda self, pc, lanes, *args, **kw: (
        steps.append(pc) if kw.get("one_step") and pc in self.compiled_fabric_pcs else None,
        original(self, pc, lanes, *args, **kw))[1])
    with parallel.threads(3):
        run = case.simulate()
    assert_same_run(reference, run)
    workloads.check("ragged", case, run[0], case.numpy())
    assert len(steps) <= 2, len(steps)  # (a ring deepening; before, every word of every divergent round)


@ws.jit
def two_tags_in_turn(values, out, rounds):
    """PE 0 sends PE 1 an int32 word, then a float32 one, `rounds` times; PE 1 takes each before the next is
    sent (it answers on another FIFO), so the east FIFO carries two tags but never both at once."""
    x = ws.threadIdx.x
    total = 0.0
    for r in range(rounds):
        if x == 0:
            ws.send(ws.EAST, r)
            ws.recv(ws.EAST, dtype=np.int32)
            ws.send(ws.EAST, values[r])
            ws.recv(ws.EAST, dtype=np.int32)
        else:
            total += ws.recv(ws.WEST, dtype=np.int32)
            ws.send(ws.WEST, 1)
            total += ws.recv(ws.WEST)
            ws.send(ws.WEST, 1)
    out[x] = total


def test_a_drained_fifo_takes_the_next_tag_as_uniform_in_the_interpreter_too(monkeypatch):
    """`WordTags.needs_marking`: a FIFO every PE has drained takes the next push's tag as its uniform one
    (per-slot tags only while two tags are in flight at once). The compiled interpreter's pushes do the same
    (chain52; before, its first push of another tag kept per-slot tags for the rest of the launch, which
    slows its transfers, never changes what they check): under every strategy, no FIFO of this kernel is
    left per slot after any interpreter call or at the wave's end, and the launch is the reference's."""
    from test_engine_strategies import STRATEGIES, run_every_strategy
    from wafersim.sim.compiled import fabric_state

    rounds = 12
    values = np.arange(rounds, dtype=np.float32) * 0.5
    per_slot = []
    finish = fabric_state.FabricState.finish

    def finished(state):
        changed = finish(state)
        per_slot.extend(state.wave.fifos[key].tags.slots is not None for key in state.keys)
        return changed

    monkeypatch.setattr(fabric_state.FabricState, "finish", finished)
    ended = WaveSim._accumulate
    monkeypatch.setattr(WaveSim, "_accumulate", lambda self: (
        per_slot.extend(fifo.tags.slots is not None for fifo in self.fifos.values()), ended(self))[1])

    def launch():
        dev = ws.Device(ws.WaferSpec(width=4, height=1))
        out = dev.device_array(2)
        stats = two_tags_in_turn[1, (2, 1)](dev.to_device(values), out, rounds)
        return out.copy_to_host(), stats

    out, _ = run_every_strategy(launch, STRATEGIES)
    np.testing.assert_array_equal(out, [0.0, sum(range(rounds)) + values.sum()])
    assert per_slot and not any(per_slot)


@ws.jit
def held_across_a_drain(values, out, rounds, as_float: ws.constant):
    """Each round, PE 1 sends PE 2 an int32 word that PE 2 takes last; meanwhile PE 0 sends PE 1 float32
    words, the last after PE 1 has drained its FIFO (it asks for it on channel 1): the east FIFO of channel 0
    holds two tags at once, and is empty at PE 1 but not at PE 2 when that last word is pushed. PE 2 then
    takes its word as an int32 (`as_float` False) or as a float32."""
    x = ws.threadIdx.x
    total = 0.0
    for r in range(rounds):
        if x == 0:
            ws.send(ws.EAST, values[r])
            ws.send(ws.EAST, values[r] + 1.0)
            ws.recv(ws.EAST, channel=1, dtype=np.int32)
            ws.send(ws.EAST, values[r] + 2.0)
        elif x == 1:
            ws.send(ws.EAST, r)
            total += ws.recv(ws.WEST)
            total += ws.recv(ws.WEST)
            ws.send(ws.WEST, 1, channel=1)
            total += ws.recv(ws.WEST)
            ws.send(ws.EAST, 1, channel=1)
        else:
            ws.recv(ws.WEST, channel=1, dtype=np.int32)
            if as_float:
                total += ws.recv(ws.WEST)  # MARK-as-float
            else:
                total += ws.recv(ws.WEST, dtype=np.int32)
    out[x] = total


def test_a_fifo_drained_on_one_pe_but_not_another_keeps_its_words_tags_under_every_strategy():
    """review52b, chain52's drained reset (`WordTags.needs_marking`; the interpreter's `drained_to_uniform`
    and meta's HELD): a push into a FIFO with per-slot tags turns it uniform only where no PE holds a word;
    here PE 2 still holds its int32 word when PE 0's last float32 word of a round is pushed at PE 1, whose
    FIFO is empty. A reset that ignored PE 2's word would tag it float32: a false WordTypeError for the int32
    receive, and the int's bits read as a float with no error (both seen: with `holds_no_words` looking at PEs
    0 and 1 only, under the reference strategy; with the interpreter's reset ignoring HELD, under 30 of the 37
    strategies)."""
    from conftest import line_of
    from test_engine_strategies import run_every_strategy

    rounds = 12
    values = np.arange(rounds, dtype=np.float32) * 0.5

    def launch(as_float: bool):
        dev = ws.Device(ws.WaferSpec(width=4, height=1))
        out = dev.device_array(3)
        stats = held_across_a_drain[1, (3, 1)](dev.to_device(values), out, rounds, as_float)
        return out.copy_to_host(), stats

    out, _ = run_every_strategy(lambda: launch(False))
    np.testing.assert_array_equal(out, [0.0, (3 * values + 3).sum(), sum(range(rounds))])
    with pytest.raises(ws.WordTypeError) as info:
        run_every_strategy(lambda: launch(True))
    error = info.value
    assert (error.pe, error.sender, error.sent_type, error.received_type) == ((2, 0), (1, 0), "int32", "float32")
    assert error.source[1] == line_of(held_across_a_drain, "MARK-as-float")


def test_stacks_of_page_wide_rows_begin_at_staggered_page_offsets(monkeypatch):
    """The FIFO stacks from the heap whose rows span a 4 KiB page (1,024 PEs' 4-byte words) each begin
    `PAGE_STAGGER` bytes further into their page than the one before (`fabric.page_staggered_zeros`: glibc put
    msort's tag stack right after its time stack, one L1 set for both walks down a PE's slots); the LCS table
    is still the textbook recurrence's."""
    from wafersim.sim import fabric
    from wafersim.sim.compiled import fabric_state

    stacked = []
    original = fabric_state.FabricState._stack
    monkeypatch.setattr(fabric_state.FabricState, "_stack",
                        lambda self, fifos: (original(self, fifos), stacked.append(self.stacks))[0])
    fabric_state._SPARE.clear()  # (fresh stacks, not an earlier test's)
    width, height = 64, 16
    rng = np.random.default_rng(11)
    a = rng.integers(0, 3, (height, PAIRS), dtype=np.int32)
    b = rng.integers(0, 3, (width, PAIRS), dtype=np.int32)
    dev = ws.Device(ws.WaferSpec(width=width, height=height))
    d_out = dev.device_array((height * width, PAIRS), np.int32)
    lcs_cells[(1, 1), (width, height)](dev.to_device(a), dev.to_device(b), d_out)
    expected = np.stack([np.ravel(lcs_table(list(a[:, r]), list(b[:, r]))) for r in range(PAIRS)], axis=1)
    np.testing.assert_array_equal(d_out.copy_to_host(), expected)
    assert stacked, "the kernel did not run in the interpreter"
    for time, value, pushed, popped, tags in stacked:
        assert time.shape[-1] == width * height and time.itemsize * width * height >= 4096
        offsets = [array.ctypes.data % 4096 for array in (time, value, pushed, popped)]
        assert [(b - a) % 4096 for a, b in zip(offsets, offsets[1:])] == [fabric.PAGE_STAGGER] * 3
