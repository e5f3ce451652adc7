"""Batches of waves (`wafersim.sim.batching`): several full waves simulated at once must give results, cycles
and every statistic bit-identical to running them one by one (`Strategy(batched_waves=False)`, and the
reference strategy), and must fall back to one by one where that could differ: waves whose PEs share
words in global memory, blocks whose length varies, off-wafer bandwidth as the limit, errors.

Each case also checks the results against an independent NumPy model, and that batches did run (or
were refused) as the case intends.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source
from test_fuzz_kernels import OPPOSITE, SHIFT
from wafersim.kernels import saxpy
from wafersim.sim import batching
from wafersim.sim.batching import BatchedWaveSim
from wafersim.sim.strategy import FAST, REFERENCE, forced
from test_isa_float_math import exact_fmas

ONE_BY_ONE = dataclasses.replace(FAST, batched_waves=False)


@pytest.fixture
def batches(monkeypatch):
    """Counts of waves run in batches and of batches refused, over the test's launches."""
    seen = {"waves": 0, "refused": 0, "why": set()}
    original = batching.WaveBatcher.run

    def run(self, wave, slot_free):
        failures = self.failures
        done = original(self, wave, slot_free)
        seen["waves"] += done
        seen["refused"] += self.failures - failures
        seen["why"] |= set(self.refusals)
        return done

    monkeypatch.setattr(batching.WaveBatcher, "run", run)
    return seen


def assert_same_stats(reference, other) -> None:
    """Every field of two LaunchStats equal (arrays bit for bit, with their dtypes)."""
    for field in dataclasses.fields(reference):
        a, b = getattr(reference, field.name), getattr(other, field.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        elif isinstance(a, dict) and any(isinstance(v, np.ndarray) for v in a.values()):
            assert a.keys() == b.keys(), field.name
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{field.name}[{key}]")
        else:
            assert a == b, field.name


def batched_and_one_by_one(launch, reference: bool = False):
    """`launch()` -> (output, LaunchStats) batched, one by one (and under REFERENCE): asserts they agree."""
    runs = []
    for strategy in [FAST, ONE_BY_ONE] + ([REFERENCE] if reference else []):
        with forced(strategy):
            runs.append(launch())
    for out, stats in runs[1:]:
        np.testing.assert_array_equal(np.asarray(out), np.asarray(runs[0][0]))
        assert_same_stats(runs[0][1], stats)
    return runs[0]


def test_reference_runs_waves_one_by_one():
    assert FAST.batched_waves and not REFERENCE.batched_waves


# ----------------------------------------------------------------------------- saxpy
def fma(a: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return exact_fmas(a, x, y)  # fma: one rounding


@pytest.mark.parametrize("n, block, wafer", [
    (64 * 4 * 12, 64, None),  # the library's default device: 4 slots of 64 x 1, 12 full waves
    (64 * 4 * 9 + 37, 64, None),  # a partial last wave, with idle PEs
    (16 * 16 * 7 + 5, 16, (32, 8)),  # 2 x 8 slots: waves stacked across and down
    (3 * 50, 3, (3, 5)),  # blocks of three PEs, 50 waves: batches grow past the first
])
def test_saxpy_in_batches_equals_one_by_one(batches, n, block, wafer):
    rng = np.random.default_rng(n)
    x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    device = (lambda: ws.Device(ws.WaferSpec(width=wafer[0], height=wafer[1]))) if wafer else (lambda: None)
    out, stats = batched_and_one_by_one(lambda: saxpy.saxpy(-1.5, x, y, block=block, device=device()),
                                        reference=n < 2000)
    np.testing.assert_array_equal(out, fma(-1.5, x, y))
    assert stats.waves >= 7
    assert batches["waves"] > 0 and batches["refused"] == 0


def test_fractional_latency_times_in_float64_batch_exactly(batches):
    """A fractional global latency: per-PE times are float64 and busy cycles are summed wave by wave."""
    x = np.random.default_rng(3).random(64 * 4 * 8, dtype=np.float32)
    spec = ws.WaferSpec(width=64, height=4, global_latency=500.25)
    out, _ = batched_and_one_by_one(lambda: saxpy.saxpy(3.0, x, x, device=ws.Device(spec)))
    np.testing.assert_array_equal(out, fma(3.0, x, x))
    assert batches["waves"] > 0


def test_bandwidth_bound_waves_fall_back(batches):
    """With little off-wafer bandwidth a load completes when its bytes are served: that depends on the order
    waves run in, so batches are refused (and the launch still matches one by one)."""
    x = np.random.default_rng(4).random(64 * 4 * 10, dtype=np.float32)
    spec = ws.WaferSpec(width=64, height=4, global_bytes_per_s=2e9)
    out, stats = batched_and_one_by_one(lambda: saxpy.saxpy(0.5, x, x, device=ws.Device(spec)))
    np.testing.assert_array_equal(out, fma(0.5, x, x))
    assert batches["waves"] == 0 and batches["refused"] == batching.MAX_FAILURES
    assert "bandwidth" in batches["why"]


def test_progress_reports_every_wave_in_order():
    x = np.random.default_rng(5).random(16 * 4 * 20, dtype=np.float32)
    reports = []
    dev = ws.Device(ws.WaferSpec(width=16, height=4))
    d_x, d_out = dev.to_device(x), dev.device_array(x.shape)
    saxpy.saxpy_kernel[(80, 1), (16, 1)](np.float32(2), d_x, d_x, d_out,
                                          progress=lambda done, waves, _: reports.append((done, waves)))
    assert reports == [(k, 20) for k in range(1, 21)]
    np.testing.assert_array_equal(d_out.copy_to_host(), fma(2.0, x, x))


# ----------------------------------------------------------------------------- where a PE sits
# Each PE stores its place on the wafer (pe.x, pe.y) and in the grid (block and thread indices) to its own
# cell of a grid-sized array, after loading it (the load's latency depends on the hops to the wafer's edge).
PLACES = """
.args 1
    sreg r1, bid.x
    sreg r2, bdim.x
    mul r1, r1, r2
    sreg r3, tid.x
    add r1, r1, r3
    sreg r4, bid.y
    sreg r5, bdim.y
    mul r4, r4, r5
    sreg r6, tid.y
    add r4, r4, r6
    sreg r7, gdim.x
    mul r7, r7, r2
    mul r8, r4, r7
    add r8, r8, r1
    shli r8, r8, 2
    arg r9, 0
    add r9, r9, r8
    gld r10, r9, 0
    sreg r11, pe.y
    muli r11, r11, 1000
    sreg r12, pe.x
    add r11, r11, r12
    add r11, r11, r10
    gst r11, r9, 0
    halt
"""


def test_pe_coordinates_and_edge_distances_are_those_of_each_wave(batches):
    spec = ws.WaferSpec(width=8, height=6)
    grid, block = (4, 6), (4, 3)  # 2 x 2 slots, 6 full waves
    h, w = grid[1] * block[1], grid[0] * block[0]
    base = np.arange(h * w, dtype=np.int32).reshape(h, w) * 1_000_000

    def launch():
        dev = ws.Device(spec)
        d = dev.to_device(base)
        stats = dev.launch(ws.assemble(PLACES), grid, block, [d])
        return d.copy_to_host(), stats

    out, stats = batched_and_one_by_one(launch, reference=True)
    y, x = np.divmod(np.arange(h * w), w)
    # Block b (row-major over the grid) runs in slot b % 4 of the 8 x 6 wafer (2 x 2 slots), whatever its wave.
    slot = ((y // 3) * 4 + x // 4) % 4
    pe_x = (slot % 2) * 4 + x % 4
    pe_y = (slot // 2) * 3 + y % 3
    np.testing.assert_array_equal(out.reshape(-1), base.reshape(-1) + pe_y * 1000 + pe_x)
    assert stats.waves == 6 and batches["waves"] > 0


# ----------------------------------------------------------------------------- waves that must not batch
@ws.jit
def chain(buf, shift):
    """Each PE adds one to the word `shift` before its own, which a PE of another block (often of another
    wave) stores: what it sees depends on simulated time across waves."""
    i = ws.grid(1)
    v = 0
    if i >= shift:
        v = buf[i - shift]
    buf[i] = v + 1


@pytest.mark.parametrize("shift", [4, 8, 5])
def test_waves_sharing_words_fall_back_and_match(batches, shift):
    def launch():
        dev = ws.Device(ws.WaferSpec(width=8, height=1))
        d = dev.to_device(np.zeros(48, dtype=np.int32))
        stats = chain[(12, 1), (4, 1)](d, shift)
        return d.copy_to_host(), stats

    # (Not against REFERENCE: its NumPy path runs a load reached in straight-line code without waiting for
    # other PEs' earlier stores, so block 1's loads miss block 0's stores there.)
    out, stats = batched_and_one_by_one(launch)
    assert stats.waves == 6 and batches["refused"] > 0 and batches["waves"] == 0
    assert "shared words" in batches["why"]
    assert (out >= 1).all()


@ws.jit
def uneven(x, out, rounds):
    """Block b loops `rounds[b % 4]` times: blocks of one slot last differently from wave to wave."""
    i = ws.grid(1)
    acc = x[i]
    for _ in range(rounds[ws.blockIdx.x % 4]):
        acc = acc * 0.5 + 1.0
    out[i] = acc


def test_blocks_of_varying_length_fall_back_and_match(batches):
    x = np.random.default_rng(6).random(4 * 40, dtype=np.float32)
    rounds = np.array([1, 3, 2, 5], dtype=np.int32)

    def launch():
        dev = ws.Device(ws.WaferSpec(width=12, height=1))
        d_x, d_out, d_r = dev.to_device(x), dev.device_array(x.shape), dev.to_device(rounds)
        stats = uneven[(40, 1), (4, 1)](d_x, d_out, d_r)
        return d_out.copy_to_host(), stats

    out, _ = batched_and_one_by_one(launch)
    expected = x.copy()
    for b in range(40):
        for _ in range(rounds[b % 4]):
            expected[4 * b:4 * b + 4] = expected[4 * b:4 * b + 4] * np.float32(0.5) + np.float32(1.0)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert batches["why"] == {"start times"}


@ws.jit
def checked(x, out, limit):
    i = ws.grid(1)
    if i < limit:
        out[i] = x[i] * 2.0
    else:
        out[i] = x[i + 1000]  # out of bounds: the first block past `limit` stops the launch


def test_an_error_in_a_batch_is_raised_as_one_by_one(batches):
    x = np.arange(4 * 30, dtype=np.float32)
    errors = []
    for strategy in (FAST, ONE_BY_ONE):
        dev = ws.Device(ws.WaferSpec(width=8, height=1))
        d_x, d_out = dev.to_device(x), dev.to_device(np.full(x.shape, -1, dtype=np.float32))
        with forced(strategy), pytest.raises(ws.WaferError) as info:
            checked[(30, 1), (4, 1)](d_x, d_out, 4 * 21)
        errors.append((type(info.value), str(info.value), d_out.copy_to_host()))
    assert errors[0][:2] == errors[1][:2]
    np.testing.assert_array_equal(errors[0][2], errors[1][2])  # the failed launch left memory as it was
    assert "error" in batches["why"]


def test_owners_are_private_checks_every_word():
    sim = BatchedWaveSim.__new__(BatchedWaveSim)
    sim.n = 4
    ones = np.ones(4, dtype=np.int64)
    lanes = np.arange(4)

    def private(*accesses) -> bool:
        sim.accesses = list(accesses)
        return sim.owners_are_private()

    a = 1024 + 4 * lanes
    assert private((None, a, ones, False), (None, a + 64, ones, True))  # apart
    assert private((None, a, ones, False), (None, a, ones, True))  # each PE its own word, loaded and stored
    assert private((None, np.full(4, 1024), ones, False), (None, a + 64, ones, True))  # one word read by all
    assert not private((None, a, ones, False), (None, a[::-1].copy(), ones, True))  # stored where others load
    assert not private((lanes[:2], np.array([1024, 1024]), ones[:2], True))  # two PEs store one word
    # Vector transfers: PE k moves 3 words from 1024 + 8k, so neighbours overlap by one word.
    vectors = (lanes, 1024 + 8 * lanes, np.full(4, 3), True)
    assert not private(vectors)
    assert private((lanes, 1024 + 12 * lanes, np.full(4, 3), True), (lanes, 1024 + 12 * lanes, np.full(4, 3), False))
    assert private((lanes, 1024 + 8 * lanes, np.full(4, 3), False))  # overlapping loads only
    assert private((lanes, 1024 + 12 * lanes, np.array([3, 0, 3, 1]), True), (None, a + 4096, ones, False))


# ----------------------------------------------------------------------------- fabric inside blocks
FUZZ = settings(max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "10")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
COMBINE = {"add": "v + w", "max": "max(v, w)", "mul": "v * w"}
exchange = st.tuples(st.sampled_from(sorted(OPPOSITE)), st.integers(0, 2), st.sampled_from(sorted(COMBINE)),
                     st.booleans())


def exchange_source(steps) -> str:
    body = ["    x, y = ws.grid(2)", "    v = inp[y, x]"]
    for direction, channel, combine, barrier in steps:
        back = OPPOSITE[direction]
        body += [f"    if ws.has_neighbor(ws.{direction}):", f"        ws.send(ws.{direction}, v, channel={channel})",
                 f"    w = ws.recv(ws.{back}, channel={channel}) if ws.has_neighbor(ws.{back}) else v",
                 f"    v = {COMBINE[combine]}"]
        if barrier:
            body.append("    ws.syncthreads()")
    body.append("    out[y, x] = v")
    return "import wafersim as ws\n\n\n@ws.jit\ndef kernel(inp, out):\n" + "\n".join(body) + "\n"


def exchange_model(steps, values: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """The program in NumPy, block by block: a PE receives its neighbour's value (its own at the edge)."""
    bx, by = block
    out = np.empty_like(values)
    for y0 in range(0, values.shape[0], by):
        for x0 in range(0, values.shape[1], bx):
            v = values[y0:y0 + by, x0:x0 + bx].copy()
            for direction, _, combine, _ in steps:
                dy, dx = SHIFT[OPPOSITE[direction]]
                w = v.copy()
                src_y, dst_y = (slice(dy, None), slice(None, by - dy)) if dy >= 0 else (slice(None, dy), slice(-dy, None))
                src_x, dst_x = (slice(dx, None), slice(None, bx - dx)) if dx >= 0 else (slice(None, dx), slice(-dx, None))
                w[dst_y, dst_x] = v[src_y, src_x]
                v = {"add": v + w, "max": np.maximum(v, w), "mul": v * w}[combine]
            out[y0:y0 + by, x0:x0 + bx] = v
    return out


@FUZZ
@given(steps=st.lists(exchange, min_size=1, max_size=4), block=st.tuples(st.integers(1, 4), st.integers(1, 3)),
       slots=st.tuples(st.integers(1, 2), st.integers(1, 2)), waves=st.integers(3, 9), seed=st.integers(0, 2**16))
def test_neighbour_exchanges_and_barriers_in_batches(batches, steps, block, slots, waves, seed, tmp_path_factory):
    module = load_source(tmp_path_factory.mktemp("batches"), exchange_source(steps))
    (bx, by), (sx, sy) = block, slots
    grid = (sx, sy * waves)
    values = np.random.default_rng(seed).uniform(-2, 2, (grid[1] * by, grid[0] * bx)).astype(np.float32)
    spec = ws.WaferSpec(width=sx * bx, height=sy * by)

    def launch():
        dev = ws.Device(spec)
        d_in, d_out = dev.to_device(values), dev.device_array(values.shape)
        stats = module.kernel[grid, block](d_in, d_out)
        return d_out.copy_to_host(), stats

    before = batches["waves"]  # (hypothesis runs every example in one call of the test: one fixture)
    out, stats = batched_and_one_by_one(launch, reference=True)
    np.testing.assert_array_equal(out, exchange_model(steps, values, block))
    assert stats.waves == waves and batches["waves"] > before and batches["refused"] == 0


def test_a_progress_callback_hears_each_waves_barriers(tmp_path):
    """Barrier releases reach a progress callback wave by wave: such launches run one wave at a time."""
    module = load_source(tmp_path, exchange_source([("EAST", 0, "add", True), ("SOUTH", 1, "max", True)]))
    values = np.random.default_rng(7).uniform(-2, 2, (4 * 6, 4)).astype(np.float32)
    events = []
    for strategy in (FAST, ONE_BY_ONE):
        dev = ws.Device(ws.WaferSpec(width=4, height=4))
        d_in, d_out = dev.to_device(values), dev.device_array(values.shape)
        with forced(strategy):
            module.kernel[(1, 6), (4, 4)](d_in, d_out, progress=lambda *e: events.append((strategy, e)))
    batched = [e for s, e in events if s is FAST]
    assert batched == [e for s, e in events if s is ONE_BY_ONE]
    # two releases a wave, each with the waves finished before it, then the wave's end
    assert batched == [e for w in range(6) for e in ((w, 6, 2 * w + 1), (w, 6, 2 * w + 2), (w + 1, 6, 2 * w + 2))]


def test_a_store_log_restored_forgets_what_came_after_it_was_saved():
    from wafersim.sim.memory import GlobalMemory
    from wafersim.sim.memory_order import StoreLog
    from wafersim.sim.store_stamps import StoreStamps

    def memory_and_base() -> tuple[GlobalMemory, int]:
        memory = GlobalMemory(1 << 20)
        return memory, memory.allocate(16).base

    memory, base = memory_and_base()
    log = StoreLog()
    log.add(base + np.array([8, 12]), base, np.array([1, 2]), np.array([5.0, 6.0]), 0)
    saved = log.saved()
    log.add(base + np.array([8]), base, np.array([3]), np.array([7.0]), 0)
    log.commit(memory, 6.5, StoreStamps(1))
    assert log.horizon == 6.5
    log.restore(saved)
    assert log.words == 2
    assert log.horizon == -np.inf  # (the batch's horizons came from the start times it predicted)
    np.testing.assert_array_equal(log.overlay(base + np.array([8, 12]), np.array([10.0, 10.0]), np.zeros(2, np.int32)),
                                  [1, 2])
    memory, base = memory_and_base()
    log.commit(memory, np.inf, StoreStamps(1))
    assert memory.get(base).words().tolist() == [0, 0, 1, 2]
