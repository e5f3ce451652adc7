"""Fused passes of large lockstep groups: a lockstep receive of a dense group in one compiled pass
(`sim.lockstep_kernels.receive_row`, `Strategy.fused_receive_rows`) and float32 `fadd`/`fsub`/`fmul` in register
runs, run PE piece by PE piece (`register_block_kernels.CHUNK`): against NumPy and bit-identical to the NumPy
passes they replace (results, cycles, stalls and every statistic)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import assert_same_run
from wafersim.sim import lockstep_kernels, register_block_kernels
from wafersim.sim.register_blocks import FLOAT_BLOCK_OPS
from wafersim.sim.strategy import REFERENCE, Strategy, forced


def _receive_reference(cycle, times, words, destination, outside, cost):
    """`receive_row` in NumPy: the lanes not `outside` get max(cycle + cost, times) and their word."""
    inside = np.ones(len(times), dtype=bool)
    inside[outside] = False
    ready = cycle + cost
    times, destination = times.copy(), destination.copy()
    waited = bool((times[inside] > ready[inside]).any())
    times[inside] = np.maximum(ready, times)[inside]
    destination[inside] = words[inside]
    return times, destination, waited


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("late", [0, 1, 40])
def test_receive_row_matches_numpy(dtype, late):
    rng = np.random.default_rng(late)
    n = 5000
    cycle = rng.integers(0, 1 << 20, n).astype(dtype)
    times = cycle + dtype(3) - rng.integers(0, 50, n).astype(dtype)  # (arrived before the lane was ready)
    late_pes = rng.choice(n, late, replace=False)
    times[late_pes] += 60  # (these words arrive after their lanes are ready: they wait)
    outside = np.sort(rng.choice(n, 17, replace=False)).astype(np.int64)
    times[outside] = 1e9  # (outside the group: never a wait, never written)
    words = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    destination = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    expected = _receive_reference(cycle, times, words, destination, outside, dtype(3))
    waited = lockstep_kernels.receive_row(cycle, times, words, destination, outside, dtype(3))
    np.testing.assert_array_equal(times, expected[0])
    np.testing.assert_array_equal(destination, expected[1])
    assert waited == expected[2] == bool(len(set(late_pes) - set(outside)))


@pytest.mark.parametrize("outside", [[], [0], [0, 1, 2], [4999], [4998, 4999], [0, 2500, 2501, 4999],
                                     list(range(0, 5000, 100)), list(range(1, 5000, 2))])
def test_receive_row_runs_between_exclusions_match_numpy(outside):
    """Exclusions at the ends, side by side, evenly spaced and every other lane: each run between them is a run
    of its own (`_receive_run`)."""
    rng = np.random.default_rng(len(outside))
    n = 5000
    cycle = rng.integers(0, 1 << 20, n).astype(np.float32)
    times = cycle + np.float32(3) - rng.integers(-2, 50, n).astype(np.float32)  # (a few lanes wait)
    outside = np.array(outside, dtype=np.int64)
    times[outside] = 1e9
    words = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    destination = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    expected = _receive_reference(cycle, times, words, destination, outside, np.float32(3))
    waited = lockstep_kernels.receive_row(cycle, times, words, destination, outside, np.float32(3))
    np.testing.assert_array_equal(times, expected[0])
    np.testing.assert_array_equal(destination, expected[1])
    assert waited == expected[2]


def _waiting_program() -> str:
    """Every PE but the east column sends its index east, every PE but the west column receives it (the whole
    group at once, each lane its word number 0) and stores it; the west column stores -1."""
    lines = [".sram 4", ".args 1",
             "sreg r1, tid.x", "sreg r2, tid.y", "sreg r3, bdim.x", "mul r4, r2, r3", "add r4, r4, r1",
             "sreg r5, bid.x", "sreg r6, bdim.y", "mul r6, r6, r5", "mul r6, r6, r3", "add r4, r4, r6",
             "li r10, -1", "hasnb r8, east", "bz r8, nosend", "send east, 0, r4", "nosend:",
             "hasnb r9, west", "bz r9, norecv", "recv r10, west, 0", "norecv:",
             "shli r5, r4, 2", "arg r7, 0", "add r7, r7, r5", "gst r10, r7, 0", "halt"]
    return "\n".join(lines) + "\n"


def _launch_waiting(width: int, height: int, hop_latency: float):
    dev = ws.Device(ws.WaferSpec(width=2 * width, height=height, hop_latency=hop_latency))
    d_out = dev.device_array((2 * width * height,), np.int32)
    stats = dev.launch(ws.assemble(_waiting_program()), (2, 1), (width, height), (d_out,), print_output=False)
    return d_out.copy_to_host(), stats


@pytest.mark.parametrize("hop_latency", [1, 9])
def test_fused_receive_matches_numpy_passes(monkeypatch, hop_latency):
    """A whole group's receive, its words there when it is ready (hop latency 1) or not yet (9: every lane waits):
    the fused pass reports which, and the clocks and stalls are those of the NumPy passes (the never-wait path
    or the general one), as without the pass and under the reference strategy."""
    reports = []
    original = lockstep_kernels.receive_row
    monkeypatch.setattr(lockstep_kernels, "receive_row", lambda *args: reports.append(original(*args)) or reports[-1])
    width, height = 45, 30
    with forced(Strategy(compiled=False)):  # (else the compiled interpreter takes groups of this size)
        fused = _launch_waiting(width, height, hop_latency)
    assert reports == [hop_latency > 1]  # (the fused pass ran, and saw the lanes wait or not)
    for strategy in (Strategy(compiled=False, fused_receive_rows=False), Strategy(), REFERENCE):
        with forced(strategy):
            assert_same_run(_launch_waiting(width, height, hop_latency), fused)
    x = np.tile(np.arange(width), 2 * height)
    expected = np.where(x == 0, -1, np.arange(2 * width * height) - 1)
    np.testing.assert_array_equal(fused[0], expected)


def test_heat_with_fused_passes_matches_numpy_passes(monkeypatch):
    """The heat kernel (receives of whole dense groups, a run of five float32 instructions) on 50 x 60 cells: the
    same cells, cycles and statistics with the fused passes as without, and both ran."""
    from wafersim.kernels import heat, reference
    ran = {"receive": 0, "floats": 0}
    receive, block = lockstep_kernels.receive_row, register_block_kernels.run_block

    def counted_receive(*args):
        ran["receive"] += 1
        return receive(*args)

    def counted_block(*args):
        ran["floats"] += int(any(k in (register_block_kernels.K_FADD, register_block_kernels.K_FMUL)
                                 for k in args[0][:args[1], 0]))
        return block(*args)

    monkeypatch.setattr(lockstep_kernels, "receive_row", counted_receive)
    monkeypatch.setattr(register_block_kernels, "run_block", counted_block)
    u = np.random.default_rng(5).random((50, 60), dtype=np.float32)
    with forced(Strategy(compiled=False)):  # (else the compiled interpreter takes groups of this size)
        fused = heat.heat(u, 0.1, 6)
    assert ran["receive"] and ran["floats"]
    for strategy in (Strategy(compiled=False, fused_receive_rows=False, register_blocks=False), Strategy(),
                     REFERENCE):
        with forced(strategy):
            assert_same_run(heat.heat(u, 0.1, 6), fused)
    np.testing.assert_allclose(fused[0], reference.heat(u, 0.1, 6, order=reference.ORDER_API), rtol=0, atol=0)


FLOAT_CHAIN = [("fadd", 16, 10, 11), ("fmul", 17, 11, 12), ("fsub", 18, 16, 17), ("fmul", 19, 18, 12),
               ("fadd", 20, 17, 11), ("fsub", 21, 20, 19), ("fmul", 22, 12, 12), ("fadd", 23, 21, 22)]
assert {op for op, *_ in FLOAT_CHAIN} == FLOAT_BLOCK_OPS


def _float_program() -> str:
    """Three float32 words per PE into r10..r12; the whole group runs FLOAT_CHAIN; the PEs but every 1,000th then
    run it again from r23 (a group of all but a few); r16..r23 stored."""
    lines = [".sram 16", ".args 2",
             "sreg r1, tid.x", "sreg r2, tid.y", "sreg r3, bdim.x", "mul r4, r2, r3", "add r4, r4, r1",
             "sreg r5, bid.x", "sreg r6, bdim.y", "mul r6, r6, r5", "mul r6, r6, r3", "add r4, r4, r6",
             "li r5, 3", "muli r6, r4, 12", "arg r7, 0", "add r7, r7, r6", "gldv r0, r7, r5",
             "ld r10, r0, 0", "ld r11, r0, 1", "ld r12, r0, 2"]
    chain = [f"{op} r{d}, r{a}, r{b}" for op, d, a, b in FLOAT_CHAIN]
    lines += chain + ["li r8, 1000", "rem r9, r4, r8", "bz r9, few", "mov r10, r23"] + chain + ["few:"]
    stores = [f"st r{16 + k}, r0, {4 + k}" for k in range(8)]  # (then SRAM words 4..11 out, 8 a PE)
    out = ["li r5, 8", "muli r6, r4, 32", "arg r7, 1", "add r7, r7, r6", "li r8, 4", "gstv r7, r8, r5", "halt"]
    return "\n".join(lines + stores + out) + "\n"


def _float_reference(values: np.ndarray) -> np.ndarray:
    """r16..r23 of each PE after `_float_program`, in NumPy float32."""
    ops = {"fadd": np.add, "fsub": np.subtract, "fmul": np.multiply}
    regs = np.concatenate([np.zeros((10, len(values)), np.float32), values.T, np.zeros((11, len(values)), np.float32)])

    def run(lanes):
        for op, d, a, b in FLOAT_CHAIN:
            regs[d, lanes] = ops[op](regs[a, lanes], regs[b, lanes])

    with np.errstate(all="ignore"):  # (overflow to infinity, inf - inf: as the machine gives them)
        run(np.arange(len(values)))
    again = np.arange(len(values)) % 1000 != 0
    regs[10, again] = regs[23, again]
    with np.errstate(all="ignore"):
        run(again)
    return regs[16:24].T


def test_float_register_runs_in_pieces_match_numpy(monkeypatch):
    """2 x 2,304 PEs (pieces of `CHUNK` and a remainder): float32 results bit for bit NumPy's (NaN, infinities,
    -0.0, subnormals and overflow in the first word only: no lane adds two NaNs, where docs/engine-strategies.md
    lets the payload differ), and the same run as one NumPy call per instruction."""
    rng = np.random.default_rng(7)
    pes = 2 * 48 * 48
    values = (rng.standard_normal((pes, 3)) * 10).astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, 3e38, -3e38], dtype=np.float32)
    picks = rng.random(pes) < 0.2
    values[picks, 0] = rng.choice(special, picks.sum())
    calls = []
    original = register_block_kernels.run_block
    monkeypatch.setattr(register_block_kernels, "run_block",
                        lambda *args: calls.append((args[1], args[2])) or original(*args))

    def launch():
        dev = ws.Device(ws.WaferSpec(width=96, height=48))
        d_in, d_out = dev.to_device(values), dev.device_array((pes, 8), np.float32)
        stats = dev.launch(ws.assemble(_float_program()), (2, 1), (48, 48), (d_in, d_out), print_output=False)
        return d_out.copy_to_host(), stats

    blocked = launch()
    # (the loads and the chain and the `li` after it over the whole group; `mov` and the chain again over all but a
    # few, in pieces: register instructions only)
    assert {(3 + len(FLOAT_CHAIN) + 1, True), (1 + len(FLOAT_CHAIN), True)} <= set(calls)
    with forced(Strategy(register_blocks=False)):
        assert_same_run(launch(), blocked)
    np.testing.assert_array_equal(blocked[0], _float_reference(values))
