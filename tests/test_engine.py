"""The engine: neighbour messages, stencils, chains, barriers, waves and the cycle model (its errors:
test_engine_errors.py).

Results are compared with NumPy; timings with figures derived from the `WaferSpec` by hand.
"""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import reference
from wafersim.kernels.assembly import heat_program, saxpy_program
from test_isa_float_math import exact_fmas


def run(source: str, grid, block, *args, spec: ws.WaferSpec | None = None, **options) -> ws.LaunchStats:
    dev = args[0].device if args and isinstance(args[0], ws.DeviceArray) else ws.Device(spec or ws.WaferSpec(width=16, height=16))
    return dev.launch(ws.assemble(source), grid, block, args, print_output=False, **options)


# ----------------------------------------------------------------------------- results
def test_saxpy_over_many_blocks_in_several_waves():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    n = 1000
    rng = np.random.default_rng(1)
    x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    d_x, d_y, d_out = dev.to_device(x), dev.to_device(y), dev.device_array(n)
    stats = ws.Kernel(saxpy_program())[(16, 8), (4, 4)](d_x, d_y, d_out, np.float32(3.0), n)
    expected = exact_fmas(3.0, x, y)  # fma: one rounding
    np.testing.assert_array_equal(d_out.copy_to_host(), expected)
    assert stats.waves == 128 // 4  # 4 slots of 4 x 4 on an 8 x 8 wafer
    assert stats.instructions == stats.pe_instructions.sum()


def test_waves_run_one_after_another_in_each_slot():
    dev = ws.Device(ws.WaferSpec(width=4, height=4))
    n = 64
    args = lambda: (dev.to_device(np.ones(n, np.float32)), dev.to_device(np.ones(n, np.float32)),  # noqa: E731
                    dev.device_array(n), np.float32(1), n)
    one = ws.Kernel(saxpy_program())[(1, 1), (4, 4)](*args())
    four = ws.Kernel(saxpy_program())[(4, 1), (4, 4)](*args())
    assert (one.waves, four.waves) == (1, 4)
    assert four.cycles > 3 * one.cycles  # each wave starts after the previous block in its slot


@pytest.mark.parametrize("grid,block", [((1, 1), (12, 10)), ((3, 2), (5, 4)), ((2, 2), (1, 7))])
def test_heat_stencil_matches_numpy(grid, block):
    spec = ws.WaferSpec(width=16, height=16)
    dev = ws.Device(spec)
    h, w = grid[1] * block[1], grid[0] * block[0]
    u = np.random.default_rng(2).random((h, w), dtype=np.float32)
    d_u, d_out = dev.to_device(u), dev.device_array(u.shape)
    steps = 4
    stats = ws.Kernel(heat_program())[grid, block](d_u, d_out, np.float32(0.1), steps, w)
    np.testing.assert_array_equal(d_out.copy_to_host(), reference.heat(u, 0.1, steps, block))
    bx, by = block
    per_block = steps * (2 * bx * (by - 1) + 2 * by * (bx - 1))  # every inner link, both ways, each step
    assert stats.words_moved == per_block * grid[0] * grid[1]
    fabric = stats.energy_breakdown_j["fabric"]
    assert fabric == pytest.approx(stats.words_moved * spec.hop_energy_pj * 1e-12)


# r5 = byte offset of this PE's cell in a row-major array as wide as the grid (clobbers r1 .. r4).
CELL_OFFSET = """
    sreg r1, pe.x
    sreg r2, pe.y
    sreg r3, gdim.x
    sreg r4, bdim.x
    mul r3, r3, r4
    mul r5, r2, r3
    add r5, r5, r1
    shli r5, r5, 2
"""

EXCHANGE = """
.args 2
""" + CELL_OFFSET + """    arg r6, 0
    add r6, r6, r5
    gld r7, r6, 0
    hasnb r8, east
    bz r8, no_east
    send east, 1, r7
no_east:
    li r9, -1
    hasnb r8, west
    bz r8, no_west
    recv r9, west, 1
no_west:
    arg r6, 1
    add r6, r6, r5
    gst r9, r6, 0
    halt
"""


def test_neighbour_exchange_moves_each_value_one_pe_east():
    dev = ws.Device(ws.WaferSpec(width=12, height=8))
    u = np.arange(12 * 8, dtype=np.int32).reshape(8, 12)
    d_u, d_out = dev.to_device(u), dev.device_array(u.shape, np.int32)
    stats = dev.launch(ws.assemble(EXCHANGE), (2, 2), (6, 4), (d_u, d_out))
    expected = np.full_like(u, -1)
    for x0 in (0, 6):  # each block: values shift east inside the block only
        expected[:, x0 + 1:x0 + 6] = u[:, x0:x0 + 5]
    np.testing.assert_array_equal(d_out.copy_to_host(), expected)
    assert stats.words_per_link() == {"north": 0, "east": 4 * 5 * 4, "south": 0, "west": 0}


PREFIX = """
.args 2
    sreg r1, tid.x
    sreg r2, tid.y
    sreg r3, bdim.x
    mul r4, r2, r3
    add r4, r4, r1
    shli r4, r4, 2
    arg r5, 0
    add r5, r5, r4
    gld r6, r5, 0           # own value
    bz r1, first
    recv r7, west, 0        # running sum from the west
    add r6, r6, r7
first:
    hasnb r8, east
    bz r8, store
    send east, 0, r6        # pass the running sum on
store:
    arg r5, 1
    add r5, r5, r4
    gst r6, r5, 0
    halt
"""


def test_chain_passes_a_running_sum_across_each_row():
    dev = ws.Device(ws.WaferSpec(width=32, height=4))
    u = np.random.default_rng(3).integers(-1000, 1000, size=(4, 32)).astype(np.int32)
    d_u, d_out = dev.to_device(u), dev.device_array(u.shape, np.int32)
    dev.launch(ws.assemble(PREFIX), (1, 1), (32, 4), (d_u, d_out))
    np.testing.assert_array_equal(d_out.copy_to_host(), np.cumsum(u, axis=1, dtype=np.int32))


# ----------------------------------------------------------------------------- timing
CHAIN = """
    sreg r2, tid.x
    bnz r2, not_first
    li r1, 7
    send east, 0, r1
    halt
not_first:
    sreg r3, bdim.x
    addi r3, r3, -1
    seq r4, r2, r3
    bnz r4, last
    recv r1, west, 0
    send east, 0, r1        # forward at once: a hop costs a send issue plus the hop latency
    halt
last:
    recv r1, west, 0
    print r1, 0
    halt
"""


@pytest.mark.parametrize("hop_latency", [5, 12])
def test_a_chain_costs_one_hop_per_pe(hop_latency):
    spec = ws.WaferSpec(width=40, height=2, hop_latency=hop_latency)
    cycles = {k: run(CHAIN, (1, 1), (k + 1, 1), spec=spec).cycles for k in (1, 9, 33)}
    per_hop = spec.cost_cycles["send"] + hop_latency
    assert cycles[9] - cycles[1] == 8 * per_hop
    assert cycles[33] - cycles[1] == 32 * per_hop
    stats = run(CHAIN, (1, 1), (10, 1), spec=spec)
    assert [p.value for p in stats.prints] == [7]


STREAM = """
.sram 1024
    sreg r1, tid.x
    li r2, 0
    arg r3, 0
    bnz r1, receiver
    sendv east, 0, r2, r3
    halt
receiver:
    recvv west, 0, r2, r3
    halt
"""


@pytest.mark.parametrize("words_per_cycle", [1, 0.5])
def test_sending_4n_words_costs_4x_n_words_when_bandwidth_bound(words_per_cycle):
    spec = ws.WaferSpec(width=4, height=1, link_words_per_cycle=words_per_cycle)
    word_time = 1 / words_per_cycle
    cycles = {n: run(STREAM, (1, 1), (2, 1), n, spec=spec).cycles for n in (0, 64, 256)}
    base = cycles[0]
    assert cycles[256] - base == pytest.approx(4 * (cycles[64] - base), rel=0.03)
    assert cycles[256] - cycles[64] == pytest.approx(192 * word_time, abs=2)


SLOW_RECEIVER = """
.args 2
    sreg r1, tid.x
    arg r3, 0               # words to send
    bnz r1, receiver
    li r4, 0
send_loop:
    send east, 0, r4
    addi r4, r4, 1
    slt r5, r4, r3
    bnz r5, send_loop
    halt
receiver:
    arg r6, 1               # delay loop iterations before receiving
delay:
    addi r6, r6, -1
    bnz r6, delay
    li r4, 0
recv_loop:
    recv r7, west, 0
    addi r4, r4, 1
    slt r5, r4, r3
    bnz r5, recv_loop
    halt
"""


def test_full_fifo_stalls_the_sender_until_the_receiver_drains_it():
    spec = ws.WaferSpec(width=2, height=1, fifo_depth=4)
    delay = 500  # the receiver's delay loop takes 2 cycles an iteration
    fits = run(SLOW_RECEIVER, (1, 1), (2, 1), 4, delay, spec=spec)
    overflows = run(SLOW_RECEIVER, (1, 1), (2, 1), 12, delay, spec=spec)
    sender_elapsed = lambda s: s.busy[0, 0] + s.stall[0, 0]  # noqa: E731
    assert sender_elapsed(fits) < 40  # 4 words fit the FIFO: no waiting
    assert overflows.stall[0, 0] >= 2 * delay - 40  # word 5 waits for the receiver's first pop
    assert sender_elapsed(overflows) >= 2 * delay


BARRIER = """
    sreg r1, tid.x
    sreg r2, tid.y
    add r1, r1, r2
    addi r1, r1, 1
work:                       # PE (x, y) loops x + y + 1 times: arrivals differ
    addi r1, r1, -1
    bnz r1, work
    bar
    print r0, 0
    halt
"""


def test_barrier_releases_a_block_together_after_its_latest_arrival():
    spec = ws.WaferSpec(width=8, height=8)
    stats = run(BARRIER, (2, 1), (4, 3), spec=spec)
    released = {p.cycle for p in stats.prints}
    assert len(stats.prints) == 24 and len(released) == 1  # both blocks: same program, same release time
    latest_pe = 4 + (3 + 2 + 1) * 2  # 4 set-up instructions, then 2 per loop iteration for PE (3, 2)
    assert released.pop() == latest_pe + spec.cost_cycles["barrier"] + spec.barrier_cycles(4, 3)


def test_barrier_cost_grows_with_block_size():
    spec = ws.WaferSpec(width=64, height=64)
    source = "bar\nhalt\n"
    cycles = {b: run(source, (1, 1), (b, b), spec=spec).cycles for b in (2, 8, 64)}
    for b in (8, 64):
        assert cycles[b] - cycles[2] == spec.barrier_cycles(b, b) - spec.barrier_cycles(2, 2)
    assert cycles[2] < cycles[8] < cycles[64]


COPY = """
.args 2
""" + CELL_OFFSET + """    arg r6, 0
    add r6, r6, r5
    gld r7, r6, 0
    arg r6, 1
    add r6, r6, r5
    gst r7, r6, 0
    halt
"""


def test_global_traffic_cannot_beat_the_off_wafer_bandwidth():
    spec = ws.WaferSpec(width=32, height=32, global_bytes_per_s=2e9)
    dev = ws.Device(spec)
    u = np.arange(32 * 32, dtype=np.float32).reshape(32, 32)
    d_u, d_out = dev.to_device(u), dev.device_array(u.shape)
    stats = dev.launch(ws.assemble(COPY), (1, 1), (32, 32), (d_u, d_out))
    np.testing.assert_array_equal(d_out.copy_to_host(), u)
    assert stats.global_bytes == 2 * u.nbytes
    bound = stats.global_bytes / spec.global_bytes_per_cycle
    assert stats.cycles >= bound
    assert stats.cycles <= bound + 2 * spec.global_latency + 64  # bandwidth-bound, not much more


def test_global_latency_includes_hops_to_the_wafer_edge():
    spec = ws.WaferSpec(width=21, height=21, global_bytes_per_s=1e15)
    dev = ws.Device(spec)
    u = np.zeros((21, 21), np.float32)
    stats = dev.launch(ws.assemble(COPY), (1, 1), (21, 21), (dev.to_device(u), dev.device_array(u.shape)))
    elapsed = stats.busy + stats.stall
    assert elapsed[10, 10] - elapsed[0, 0] == 2 * 10  # the centre is 10 hops from an edge, twice (load, store)
    assert elapsed[10, 3] - elapsed[0, 0] == 2 * 3


def test_same_run_twice_gives_identical_results_and_cycles():
    outs = []
    for _ in range(2):
        dev = ws.Device(ws.WaferSpec(width=16, height=16))
        u = np.random.default_rng(5).random((16, 16), dtype=np.float32)
        d_out = dev.device_array(u.shape)
        stats = ws.Kernel(heat_program())[(2, 2), (8, 8)](dev.to_device(u), d_out, np.float32(0.2), 3, 16)
        outs.append((d_out.copy_to_host(), stats))
    (a, sa), (b, sb) = outs
    np.testing.assert_array_equal(a, b)
    assert sa.cycles == sb.cycles and sa.instructions == sb.instructions
    np.testing.assert_array_equal(sa.busy, sb.busy)
    np.testing.assert_array_equal(sa.stall, sb.stall)


def test_busy_plus_stall_is_each_pes_elapsed_time():
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    u = np.ones((8, 8), np.float32)
    stats = ws.Kernel(heat_program())[(1, 1), (8, 8)](dev.to_device(u), dev.device_array(u.shape), np.float32(0.1), 2, 8)
    assert (stats.busy >= 0).all() and (stats.stall >= 0).all()
    assert (stats.busy + stats.stall).max() == pytest.approx(stats.cycles, abs=1)


def test_times_stay_exact_past_the_float32_range():
    # 256 B/s at 2**30 Hz: one 4-byte load is served at cycle 2**24 exactly; float32 could not hold 2**24 + 1.
    spec = ws.WaferSpec(width=1, height=1, clock_hz=2.0**30, global_bytes_per_s=256.0)
    dev = ws.Device(spec)
    arr = dev.to_device(np.ones(1, np.int32))
    stats = dev.launch(ws.assemble("arg r1, 0\ngld r2, r1, 0\naddi r3, r3, 1\nhalt\n"), (1, 1), (1, 1), (arr,))
    assert stats.cycles == 2**24 + 2  # served at 2**24, then addi and halt


def test_long_waves_report_cycles_and_running_pes_to_the_progress_bar(monkeypatch):
    from wafersim.sim import wave

    beats = []

    class Recorder:
        def __call__(self, waves_done, waves, barriers):
            pass

        def running(self, cycle, pes):
            beats.append((cycle, pes))

    monkeypatch.setattr(wave, "HEARTBEAT_SECONDS", 0.0)
    run("li r1, 50\nloop:\naddi r1, r1, -1\nbnz r1, loop\nhalt\n", (1, 1), (2, 1), progress=Recorder())
    assert beats and all(pes == 2 for _, pes in beats)
    assert [cycle for cycle, _ in beats] == sorted(cycle for cycle, _ in beats)


RELAY = """
    sreg r1, tid.x
    sreg r2, bdim.x
    addi r2, r2, -1
    li r3, 0              ; sram base of the chunk
    li r4, 3              ; words per chunk (more than the FIFO holds in the test's spec)
    li r5, 6              ; chunks
loop:
    bz r1, first
    addi r7, r7, 1        ; a plain instruction just before each transfer: one run reaches it and waits
    recvv west, 0, r3, r4
    seq r6, r1, r2
    bnz r6, next
    addi r7, r7, 1
    sendv east, 0, r3, r4
    jmp next
first:
    addi r7, r7, 1
    sendv east, 0, r3, r4
next:
    addi r5, r5, -1
    bnz r5, loop
    halt
"""


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_a_send_or_receive_that_waits_counts_as_one_instruction(depth):
    """Every PE of a relay chain executes each sendv/recvv exactly once per chunk, however often it had to
    wait for room or data (a transfer that waited was counted twice when one run reached it and blocked)."""
    stats = run(".sram 8\n" + RELAY, (1, 1), (5, 1), spec=ws.WaferSpec(width=5, height=1, fifo_depth=depth))
    chunks = 6
    assert stats.op_counts["sendv"] == 4 * chunks and stats.op_counts["recvv"] == 4 * chunks
    # per chunk: first PE bz addi sendv addi bnz; last PE bz addi recvv seq bnz addi bnz;
    # a middle PE bz addi recvv seq bnz addi sendv jmp addi bnz
    per_chunk = [5, 10, 10, 10, 7]
    assert stats.pe_instructions[0].tolist() == [6 + chunks * k + 1 for k in per_chunk]


def test_a_barrier_counts_once_per_pe_when_late_arrivals_merge_with_waiting_pes():
    source = """
    sreg r1, tid.x
    seqi r2, r1, 2
    bnz r2, receiver
    bz r1, barrier
    jmp sender
receiver:
    recv r3, west, 0
barrier:
    bar
    halt
sender:
    li r5, 7
    send east, 0, r5
    jmp barrier
"""
    stats = run(source, (1, 1), (3, 1))
    assert stats.op_counts["bar"] == 3
    # PE 0: sreg seqi bnz bz bar halt; PE 1 also li send and two jmps; PE 2: sreg seqi bnz recv bar halt
    assert stats.pe_instructions[0, :3].tolist() == [6, 10, 6]
