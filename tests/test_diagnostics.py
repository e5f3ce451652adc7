"""Deadlock diagnostics (sim/diagnostics.py): which PEs wait where, and which never reach a barrier."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import collectives as wsc

from test_engine import run


def test_recv_that_is_never_satisfied_is_a_deadlock_naming_pes():
    source = """
    hasnb r1, east
    bz r1, done
    recv r2, east, 2
done:
    halt
"""
    with pytest.raises(ws.DeadlockError) as info:
        run(source, (1, 1), (3, 2))
    err = info.value
    waiting = {b["pe"] for b in err.blocked}
    assert waiting == {(0, 0), (1, 0), (0, 1), (1, 1)}
    assert "from the east on channel 2" in str(err) and "(1, 1)" in str(err)
    # The map of the block: the two western columns wait on the east ('>'), the last column halted.
    assert str(err).endswith("h halted\n    >>h\n    >>h")


def test_exchanging_more_words_than_a_fifo_holds_deadlocks_with_a_clear_reason():
    source = """
.sram 64
    li r1, 0
    li r2, 32
    sreg r3, tid.x
    bnz r3, right
    sendv east, 0, r1, r2
    recvv east, 0, r1, r2
    halt
right:
    sendv west, 0, r1, r2
    recvv west, 0, r1, r2
    halt
"""
    with pytest.raises(ws.DeadlockError) as info:
        run(source, (1, 1), (2, 1))
    assert "room to send" in str(info.value) and "16 words" in str(info.value)
    assert run(source.replace("li r2, 32", "li r2, 16"), (1, 1), (2, 1)).words_moved == 32  # fits: no deadlock


def test_barrier_reached_by_part_of_a_block_is_a_deadlock():
    source = "sreg r1, tid.x\nbz r1, out\nbar\nout:\nhalt\n"
    with pytest.raises(ws.DeadlockError) as info:
        run(source, (1, 1), (3, 1))
    assert "barrier" in str(info.value)
    assert {b["pe"] for b in info.value.blocked} == {(1, 0), (2, 0)}
    # the PE that keeps the barrier from releasing is named as such, apart from those waiting at it
    assert info.value.absent == [(0, 0)]
    assert "PEs that do not reach the barrier: 1 halted (returned or ended) before it: (0, 0)" in str(info.value)



@ws.jit
def _row_sum_by_some_pes(out, n):
    x = ws.threadIdx.x
    v = 0.0
    if x < n:  # a newcomer's mistake: PEs from n on skip the collective their row needs
        v = wsc.row_all_reduce(1.0, wsc.SUM, 0)
    out[x] = v


@ws.jit
def _receive_from_west(out, words):
    x = ws.threadIdx.x
    buf = ws.local.array(4, np.float32)
    if x == 0:
        buf[0:2] = 1.0
        ws.send(ws.EAST, buf[0:2])
    else:
        ws.recv(ws.WEST, out=buf[0:words])  # more words than PE 0 sent, where words > 2
        out[0] = buf[0]


def _halted_neighbours(blocked, halted_at):
    """The reference: of each blocked PE waiting on its (west or east) neighbour, that neighbour where it
    is in `halted_at`, as plain Python sees the launch."""
    return sorted({pe for pe in halted_at if any(abs(pe[0] - b["pe"][0]) == 1 and pe[1] == b["pe"][1]
                                                  for b in blocked)})


def test_a_collective_some_pes_skip_names_the_halted_neighbours_the_others_wait_on():
    """A row all-reduce called by PEs 0 and 1 of 4 only: the chain's vaddx at PE 1 waits for PE 2's partial
    sum, which never comes because PE 2 halted. The error named only the waiting PEs and a map whose `h`
    did not say why; it now names PE 2 as a neighbour that halted without sending, and asks whether the
    call is inside an `if` that PE skips (`err.halted_senders`)."""
    dev = ws.Device(ws.WaferSpec(width=8, height=2))
    with pytest.raises(ws.DeadlockError) as info:
        _row_sum_by_some_pes[1, 4](dev.device_array(4), 2)
    err = info.value
    assert sorted(b["pe"] for b in err.blocked) == [(0, 0), (1, 0)]
    assert err.halted_senders == [(2, 0)] == _halted_neighbours(err.blocked, [(2, 0), (3, 0)])
    assert "halted without sending the word: (2, 0)" in str(err) and "inside an `if`" in str(err)


def test_a_receive_of_more_words_than_were_sent_names_the_sender_that_halted():
    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    with pytest.raises(ws.DeadlockError) as info:
        _receive_from_west[1, 2](dev.device_array(1), 4)
    assert info.value.halted_senders == [(0, 0)]
    assert "halted without sending the word: (0, 0)" in str(info.value)
    out = dev.device_array(1)
    _receive_from_west[1, 2](out, 2)  # as many words as were sent: no deadlock
    assert out.copy_to_host()[0] == 1.0


def test_a_deadlock_whose_senders_are_still_running_names_no_halted_sender():
    """Two PEs that each receive before sending wait on each other, neither halted: no such line."""
    source = "sreg r1, tid.x\nbnz r1, right\nrecv r2, east, 0\nsend east, 0, r2\nhalt\n" \
             "right:\nrecv r2, west, 0\nsend west, 0, r2\nhalt\n"
    with pytest.raises(ws.DeadlockError) as info:
        run(source, (1, 1), (2, 1))
    assert info.value.halted_senders == [] and "halted without sending" not in str(info.value)

@ws.jit
def _return_early_then_sync(out, n):
    i = ws.grid(1)
    if i >= n:
        return
    out[i] = 1.0
    ws.syncthreads()


def test_a_barrier_after_an_early_return_names_the_pes_that_returned():
    """The CUDA habit `if i >= n: return` before a barrier: the error lists the waiting PEs as waiting and the
    returned ones as the PEs that do not reach the barrier, only those of the block that waits (block 0's PEs
    all reach theirs)."""
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    with pytest.raises(ws.DeadlockError) as info:
        _return_early_then_sync[2, 8](dev.device_array(16), 12)
    err = info.value
    assert sorted(b["pe"] for b in err.blocked) == [(x, 0) for x in range(8, 12)]
    assert err.absent == [(x, 0) for x in range(12, 16)]
    text = str(err)
    assert "4 PEs at" in text and "waits at a barrier (ws.syncthreads()): (8, 0), (9, 0), (10, 0), (11, 0)" in text
    assert "4 halted (returned or ended) before it: (12, 0), (13, 0), (14, 0), (15, 0)" in text
    assert "if i < n" in text


def test_a_barrier_that_a_pe_waiting_for_a_word_never_reaches_names_it_as_waiting_elsewhere():
    source = "sreg r1, tid.x\nbnz r1, wait\nrecv r2, east, 0\nhalt\nwait:\nbar\nhalt\n"
    with pytest.raises(ws.DeadlockError) as info:
        run(source, (1, 1), (3, 1))
    err = info.value
    assert err.absent == [(0, 0)]
    assert "1 waiting elsewhere (listed above): (0, 0)" in str(err) and "halted" not in str(err).split("block (0")[0]


def test_the_deadlock_message_counts_pes_in_the_singular_and_the_plural():
    """Each group of blocked PEs was "N PE(s) at ...": one PE waits for a word, two at the barrier."""
    source = "sreg r1, tid.x\nbnz r1, wait\nrecv r2, east, 0\nhalt\nwait:\nbar\nhalt\n"
    with pytest.raises(ws.DeadlockError) as info:
        run(source, (1, 1), (3, 1))
    counts = sorted(sum(1 for b in info.value.blocked if b["pc"] == pc) for pc in {b["pc"] for b in info.value.blocked})
    assert counts == [1, 2]
    text = str(info.value)
    assert "\n  1 PE at pc" in text and "\n  2 PEs at pc" in text and "(s)" not in text


@ws.jit
def _grid_or_block_barrier(out):
    if ws.threadIdx.x == 0:
        ws.cg.this_grid().sync()
    else:
        ws.syncthreads()
    out[ws.grid(1)] = 1.0


def test_pes_split_between_a_grid_and_a_block_barrier_are_named_per_barrier():
    """Thread 0 of each block at the grid barrier, the others at the block barrier: the error said every PE
    of the launch "does not reach the barrier" (the union of both); it names, per barrier, exactly the PEs
    missing from it (a plain-Python model of the rule), and `err.absent` stays their union. Memory is left
    as before the launch."""
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    out = dev.device_array(6)
    with pytest.raises(ws.DeadlockError) as info:
        _grid_or_block_barrier[2, 3](out)
    pes = [(x, 0) for x in range(6)]
    at_grid = [pe for pe in pes if pe[0] % 3 == 0]
    at_block = [pe for pe in pes if pe[0] % 3 != 0]
    absent_from_block = [pe for pe in pes if pe not in at_block and any(b[0] // 3 == pe[0] // 3 for b in at_block)]
    absent_from_grid = [pe for pe in pes if pe not in at_grid]

    def named(group):
        return f"{len(group)} waiting elsewhere (listed above): " + ", ".join(f"({x}, {y})" for x, y in group)

    text = str(info.value)
    assert f"PEs that do not reach the block barrier (ws.syncthreads()): {named(absent_from_block)}\n" in text
    assert f"PEs that do not reach the grid barrier: {named(absent_from_grid)};" in text
    assert "do not reach the barrier:" not in text
    assert sorted(info.value.absent) == sorted(set(absent_from_block) | set(absent_from_grid))
    assert out.copy_to_host().tolist() == [0.0] * 6


def test_a_sender_held_by_a_halted_receiver_names_that_receiver():
    """A neighbour send of 40 words to a PE that takes 20 and halts: after 16 more the FIFO is full, and the
    error names the PE whose FIFO it is and says it halted (the map shows it only as an `h`)."""
    source = """
.sram 64
    li r1, 0
    sreg r3, tid.x
    bnz r3, right
    li r2, 40
    sendv east, 0, r1, r2
    halt
right:
    li r2, 20
    recvv west, 0, r1, r2
    halt
"""
    with pytest.raises(ws.DeadlockError) as info:
        run(source, (1, 1), (2, 1))
    text = str(info.value)
    assert "(the FIFO of 16 words is full at (1, 0), which halted without taking those words" in text
    assert {b["pe"] for b in info.value.blocked} == {(0, 0)}


def test_a_multicast_held_by_one_slow_receiver_names_it(tmp_path):
    """A row broadcast of 40 words where PE x = 2 of each row takes only 5: the routers stop at its full
    FIFO (16 words: 5 + 16 < 40), so the root and every other receiver wait; the error names the full
    FIFOs' PEs, (2, y), and that they halted."""
    import numpy as np

    from conftest import load_source
    kernel = load_source(tmp_path, """
import numpy as np
import wafersim as ws

@ws.jit
def fan(counts):
    x = ws.threadIdx.x
    b = ws.local.array(40, np.float32)
    if x == 0:
        ws.send(ws.RAMP, b[0:40], channel=1)
    else:
        ws.recv(ws.RAMP, out=b[0:counts[x]], channel=1)
""").fan
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=8))
    counts = dev.to_device(np.array([0, 40, 5, 40, 40, 40], np.int32))
    with pytest.raises(ws.DeadlockError) as info:
        kernel[1, (6, 2)](counts, routes=[ws.routes.row_broadcast(1, root=0)])
    text = str(info.value)
    assert "is full at (2, 0), (2, 1), which halted without taking those words" in text
    # the 40 - 5 words PE 2 should take exceed its FIFO; with 24 taken (16 left) nothing stalls
    ok = dev.to_device(np.array([0, 40, 24, 40, 40, 40], np.int32))
    stats = kernel[1, (6, 2)](ok, routes=[ws.routes.row_broadcast(1, root=0)])
    assert stats.words_left_in_fifos == 2 * (40 - 24)


@ws.jit
def shift_ring_row(v, out, n: ws.constant, chunk: ws.constant):
    """Every PE of a 2-PE row swaps n words with its neighbour, chunk words at a time."""
    x = ws.grid(1)
    mine = ws.local.array(n, np.float32)
    theirs = ws.local.array(n, np.float32)
    mine[0:n] = v[x, 0:n]
    for c in range(0, n, chunk):
        if x == 0:
            ws.send(ws.EAST, mine[c:c + chunk])
            ws.recv(ws.EAST, out=theirs[c:c + chunk])
        else:
            ws.send(ws.WEST, mine[c:c + chunk])
            ws.recv(ws.WEST, out=theirs[c:c + chunk])
    out[x, 0:n] = theirs[0:n]


def test_a_cycle_of_full_fifos_says_to_send_in_chunks_and_the_chunks_work():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    v = np.arange(64, dtype=np.float32).reshape(2, 32)
    with pytest.raises(ws.DeadlockError) as info:
        shift_ring_row[1, (2, 1)](dev.to_device(v), dev.device_array((2, 32)), 32, 32)
    text = str(info.value)
    assert "every PE still running waits to send" in text and "chunks of at most 16 words" in text
    out = dev.device_array((2, 32))
    shift_ring_row[1, (2, 1)](dev.to_device(v), out, 32, 16)        # what the hint says: it runs
    assert np.array_equal(out.copy_to_host(), v[::-1])


@ws.jit
def waits_for_nobody(out):
    x = ws.grid(1)
    if x == 0:
        out[0] = ws.recv(ws.EAST)


def test_a_receive_nobody_satisfies_gets_no_chunking_hint():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.DeadlockError) as info:
        waits_for_nobody[1, (2, 1)](dev.device_array(1))
    assert "waits to send" not in str(info.value)


# ----------------------------------------------------------------------------- max_seconds over many waves
def test_max_seconds_between_waves_counts_waves_and_blocks_not_a_kernel_that_never_halts():
    """A long grid of a kernel that halts, stopped by max_seconds between two waves, asked "does it ever
    halt?"; it now says how many waves and blocks ran and are left, and to raise max_seconds or shrink the
    grid. 10 blocks of 2 x 2 PEs on a 4 x 4 wafer: 4 blocks a wave, ceil(10 / 4) = 3 waves; the progress
    callback sleeps past the limit after the first wave, so the stop comes before the second."""
    import time

    def slow(done, waves, barriers):
        time.sleep(1.05)

    spec = ws.WaferSpec(width=4, height=4)
    run("halt\n", (10, 1), (2, 2), spec=spec)  # (the engine's first launch compiles: not timed)
    with pytest.raises(ws.CycleLimitError) as info:
        run("halt\n", (10, 1), (2, 2), spec=spec, max_seconds=1, progress=slow)
    err = info.value
    assert (err.waves_done, err.waves, err.blocks_done, err.blocks) == (1, 3, 4, 10)
    assert "after 1 of 3 waves (4 of 10 blocks halted, 6 left" in str(err)
    assert "does it ever halt" not in str(err) and "smaller grid" in str(err) and "larger max_seconds" in str(err)
    assert err.running == [] and err.max_seconds == 1


def test_max_seconds_inside_a_later_wave_counts_the_waves_before_it_and_lists_its_pes():
    """Block 0 (wave 0) halts, block 1 (wave 1: a block fills the wafer) spins: the error counts the wave
    that halted and still names the spinning PEs, which may be the ones never to halt."""
    source = "sreg r1, bid.x\nbz r1, done\nspin:\njmp spin\ndone:\nhalt\n"
    spec = ws.WaferSpec(width=4, height=4)
    with pytest.raises(ws.CycleLimitError):  # (the engine's first run of the loop compiles: not timed)
        run(source, (2, 1), (4, 4), spec=spec, max_cycles=10_000)
    with pytest.raises(ws.CycleLimitError) as info:
        run(source, (2, 1), (4, 4), spec=spec, max_cycles=1e15, max_seconds=1)
    err = info.value
    assert (err.waves_done, err.waves, err.blocks_done, err.blocks) == (1, 2, 1, 2)
    assert "after 1 of 2 waves (1 of 2 blocks halted, 1 left" in str(err) and "unless this wave's PEs" in str(err)
    assert err.running[0]["count"] == 16 and err.block_index == (1, 0)


@pytest.mark.parametrize("limit, shown", [(6, "max_cycles=6 "), (5.5, "max_cycles=5.5 "),
                                          (2500.25, "max_cycles=2,500.25 "), (10**6, "max_cycles=1,000,000 ")])
def test_the_cycle_limit_error_shows_max_cycles_as_given(limit, shown):
    # A fractional limit was shown rounded (5.5 as "max_cycles=6"), a limit the PE had not passed.
    with pytest.raises(ws.CycleLimitError, match=shown) as info:
        run("spin:\njmp spin\n", (1, 1), (1, 1), max_cycles=limit)
    assert info.value.max_cycles == limit


def test_a_root_that_broadcasts_to_itself_more_than_a_fifo_holds_is_told_it_waits_for_its_own_fifo(tmp_path):
    """A row broadcast with include_root=True delivers the root's words to its own ramp, which it reads only
    after its send: 40 words fill its own FIFO of 16 and it waits for good (a new user's row/column
    broadcast port). The error says so (it named the root among the full FIFOs only); in chunks of 16
    with the receive after each, the same kernel gives every PE the root's row."""
    from conftest import load_source
    kernel = load_source(tmp_path, """
import numpy as np
import wafersim as ws

@ws.jit
def spread(rows, out, chunk: ws.constant):
    x, y = ws.threadIdx.x, ws.threadIdx.y
    a = ws.local.array(40, np.float32)
    b = ws.local.array(40, np.float32)
    if x == 2:
        a[0:40] = rows[y, 0:40]
    for k0 in range(0, 40, chunk):
        if x == 2:
            ws.send(ws.RAMP, a[k0:k0 + chunk], channel=0)
        ws.recv(ws.RAMP, out=b[k0:k0 + chunk], channel=0)
    out[y * ws.blockDim.x + x, 0:40] = b[0:40]
""").spread
    dev = ws.Device(ws.WaferSpec.preset("dev", width=8, height=8))
    rows = np.arange(3 * 40, dtype=np.float32).reshape(3, 40)
    out = dev.device_array((15, 40))
    route = [ws.routes.row_broadcast(0, root=2, include_root=True)]
    with pytest.raises(ws.DeadlockError) as info:
        kernel[1, (5, 3)](dev.to_device(rows), out, 40, routes=route)
    text = str(info.value)
    assert "(2, 0), (2, 1), (2, 2) wait for their own FIFOs" in text
    assert "include_root=True" in text and "at most fifo_depth (16) words" in text
    kernel[1, (5, 3)](dev.to_device(rows), out, 8, routes=route)
    assert np.array_equal(out.copy_to_host(), np.repeat(rows, 5, axis=0))


@ws.jit
def row_of_routed_words(out, n):
    x = ws.threadIdx.x
    if x == 0:
        for k in range(n):
            ws.send(ws.RAMP, float(k), channel=1)
    else:
        total = 0.0
        for k in range(n):
            total += ws.recv(ws.RAMP, channel=1)
        out[x] = total


def test_routed_words_a_custom_route_delivered_to_a_halted_pe_are_named():
    """A CSL port's color whose rule at the sender sends its words to its own ramp (`.tx = RAMP`, meant
    EAST): every receiver waits for good, and the error only asked whether a collective's root was inside
    the block. It now names the halted PE holding the words and asks whether each PE's rule is right; with
    the rule fixed, every receiver gets the sum (an independent reference: sum(range(n)))."""
    dev = ws.Device(ws.WaferSpec(width=4, height=1))
    out = dev.device_array(4)

    def route(sender_tx):
        return [ws.routes.custom(1, lambda x, y, w, h: {ws.RAMP: sender_tx} if x == 0 else
                                 {ws.WEST: ws.RAMP if x == w - 1 else (ws.RAMP, ws.EAST)})]

    with pytest.raises(ws.DeadlockError) as info:
        row_of_routed_words[1, (4, 1)](out, 3, routes=route(ws.RAMP))
    text = str(info.value)
    assert "channel 1: (0, 0) holds 3 words" in text and "is each PE's rule right" in text
    assert "is the root inside the block" not in text
    row_of_routed_words[1, (4, 1)](out, 3, routes=route(ws.EAST))
    assert out.copy_to_host().tolist() == [0.0] + [float(sum(range(3)))] * 3


def test_routed_words_stranded_in_several_blocks_name_each_blocks_holder_under_every_strategy():
    """The same wrong rule tiled over blocks of 4 x 1 PEs, 3 x 3 blocks on a wafer of 8 x 2 PEs (4 blocks a wave; the
    first deadlocks): the PEs named are the senders, thread 0 of each block of the first wave (blocks taken in
    order, x fastest), by their global coordinates, not their places on the wafer, and every strategy names the
    same ones (review56)."""
    from test_engine_strategies import STRATEGIES
    from wafersim.sim.strategy import REFERENCE, forced

    route = [ws.routes.custom(1, lambda x, y, w, h: {ws.RAMP: ws.RAMP} if x == 0 else
                              {ws.WEST: ws.RAMP if x == w - 1 else (ws.RAMP, ws.EAST)})]
    first_wave = [(bx * 4, by) for by in range(3) for bx in range(3)][:4]
    expected = "channel 1: " + ", ".join(f"({x}, {y}) holds 3 words" for x, y in first_wave) + "), "
    for strategy in [REFERENCE, *STRATEGIES]:
        dev = ws.Device(ws.WaferSpec(width=8, height=2))
        with forced(strategy), pytest.raises(ws.DeadlockError) as info:
            row_of_routed_words[(3, 3), (4, 1)](dev.device_array(4), 3, routes=route)
        assert expected in str(info.value), (strategy, str(info.value))


# ----------------------------------------------------------------------------- a block waiting on a later wave
@ws.jit
def waits_for_the_next_block(flag, out):
    b = ws.blockIdx.x
    if b < ws.gridDim.x - 1:
        while flag[b + 1] == 0:
            pass
    flag[b] = 1
    out[b] = b


def test_a_block_spinning_on_a_later_waves_flag_is_told_about_waves():
    """A CUDA port's chain of blocks waiting on the next block's flag in global memory: in one wave it ends,
    in two (6 blocks of 4 x 4 PEs, 4 slots on an 8 x 8 wafer) block 3 waits on block 4, which runs only once a
    block of its slot has ended. The error said only "does it ever halt?"; it now says why it cannot."""
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    flags = dev.device_array(4, np.int32)
    waits_for_the_next_block[4, (1, 1)](flags, dev.device_array(4, np.int32), max_cycles=100_000)
    assert flags.copy_to_host().tolist() == [1, 1, 1, 1]
    with pytest.raises(ws.CycleLimitError) as info:
        waits_for_the_next_block[6, (4, 4)](dev.device_array(6, np.int32), dev.device_array(6, np.int32),
                                            max_cycles=100_000)
    text = str(info.value)
    assert "runs in 2 waves of at most 4 blocks, and stopped in wave 1" in text
    assert "wait only on blocks of a lower index" in text
    with pytest.raises(ws.CycleLimitError) as info:  # one wave: no later blocks to blame
        spins_on_a_flag[4, (4, 4)](dev.device_array(1, np.int32), max_cycles=100_000)
    assert "does it ever halt" in str(info.value) and "waves" not in str(info.value)


@ws.jit
def spins_on_a_flag(flag):
    while flag[0] == 0:
        pass
