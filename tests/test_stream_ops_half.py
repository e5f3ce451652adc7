"""The float16 stream ops (`vhaddx`, `vhmaxx`, `vhminx`: `ws.add_stream`, `ws.max_stream`, `ws.min_stream` on float16
slices), checked against NumPy: a chain of PEs reduces float16 vectors, PE x's result its own value (op) the
word arriving, rounded once to float16, in the chain's order; sums also against the exact sum (float64) rounded
once. Values with NaNs, infinities, -0.0, subnormals and sums past float16's range. Every execution strategy
gives the same words (bit for bit, NaN payloads included), statistics and cycles, and the cycles follow
docs/timing.md's formula with W = max(a word's link time, 1 / `vector_lanes_half`)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_stream_ops import _jit_chain, chain_source, expected_ends
from wafersim.sim import stream_ops
from wafersim.sim.strategy import REFERENCE, Strategy, forced

W = 20  # (`_jit_chain`'s words a PE)
STRATEGIES = [Strategy(), Strategy(compiled=False), Strategy(compiled_fabric=False), REFERENCE]
REDUCE = {"add_stream": np.add, "max_stream": np.maximum, "min_stream": np.minimum}
SPECIALS = np.array([np.inf, -np.inf, np.nan, -np.nan, 0.0, -0.0, 65504, -65504, 6e-8, -6e-8, 6.1e-5],
                    dtype=np.float16)


def float16_data(p: int, seed: int) -> np.ndarray:
    """p x W float16 values over float16's whole range (subnormals to near overflow), a fifth of them special;
    a NaN with a payload of its own (0x7d21), as bits."""
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):
        data = (rng.standard_normal((p, W)) * 2.0 ** rng.integers(-26, 16, (p, W))).astype(np.float16)
    picks = rng.random((p, W)) < 0.2
    data[picks] = SPECIALS[rng.integers(0, len(SPECIALS), int(picks.sum()))]
    data.view(np.uint16)[p // 2, 3] = 0x7D21
    return data


def chain_reference(data: np.ndarray, reduce) -> np.ndarray:
    """Each PE's vector after the chain toward PE 0: PE x's own (op) what PE x + 1 sent, NumPy's float16."""
    want = data.copy()
    with np.errstate(all="ignore"):
        for x in range(len(data) - 2, -1, -1):
            want[x] = reduce(data[x], want[x + 1])
    return want


def run_kernel_chain(name: str, data: np.ndarray, strategy: Strategy, spec: ws.WaferSpec):
    """(each PE's words as uint16, the launch's statistics) of `_jit_chain` on float16 under `strategy`."""
    p = len(data)
    dev = ws.Device(spec)
    out = dev.device_array(p * W, np.float16)
    with forced(strategy):
        stats = _jit_chain(getattr(ws, name), np.float16)[(1, 1), (p, 1)](dev.to_device(data.ravel()), out)
    return out.copy_to_host().reshape(p, W).view(np.uint16), stats


@pytest.mark.parametrize("preset", ["dev", "wse2"])
@pytest.mark.parametrize("name", sorted(REDUCE))
def test_float16_chains_match_numpy_bit_for_bit_under_every_strategy(name, preset):
    p = 7
    data = float16_data(p, seed=len(name) + len(preset))
    spec = ws.WaferSpec.preset("wse2", width=p, height=1) if preset == "wse2" else ws.WaferSpec(width=p, height=1)
    want = chain_reference(data, REDUCE[name]).view(np.uint16)
    runs = [run_kernel_chain(name, data, strategy, spec) for strategy in STRATEGIES]
    for strategy, (got, stats) in zip(STRATEGIES, runs):
        np.testing.assert_array_equal(got, want, err_msg=str(strategy))
        first = runs[0][1]
        for field in ("cycles", "flops", "half_flops", "vector_elements", "instructions"):
            assert getattr(stats, field) == getattr(first, field), (strategy, field)
        for field in ("busy", "stall", "link_words"):
            np.testing.assert_array_equal(getattr(stats, field), getattr(first, field), err_msg=f"{strategy} {field}")
    assert runs[0][1].half_flops == (p - 1) * W  # (one float16 add, max or min a word a streaming PE)


def test_float16_stream_sums_are_the_exact_sums_rounded_once():
    """Independent of NumPy's float16 loop: each step's sum is the float64 sum of the two float16 values (exact)
    rounded once to float16, nearest even; a NaN where that sum is one."""
    p = 8
    data = float16_data(p, seed=11)
    got, _ = run_kernel_chain("add_stream", data, Strategy(), ws.WaferSpec(width=p, height=1))
    got = got.view(np.float16)
    want = data.copy()
    with np.errstate(all="ignore"):
        for x in range(p - 2, -1, -1):
            want[x] = (data[x].astype(np.float64) + got[x + 1].astype(np.float64)).astype(np.float16)
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.uint16), want[~nan].view(np.uint16))  # (-0.0 apart from 0.0)
    assert np.isinf(got).any() and np.isnan(got).any()  # (the data reach both: not vacuous)


def test_a_float16_chain_of_ties_rounds_to_even():
    """1 + 2**-11 is a tie between 1 and the next float16 (1 + 2**-10): rounded to even, 1; so a chain that adds
    2**-11 to 1 at every PE stays at 1, where float32 arithmetic would climb."""
    p = 6
    data = np.full((p, W), 2.0 ** -11, np.float16)
    data[p - 1] = 1.0
    got, _ = run_kernel_chain("add_stream", data, Strategy(), ws.WaferSpec(width=p, height=1))
    np.testing.assert_array_equal(got.view(np.float16), np.ones((p, W), np.float16))
    data[p - 1] = 1.0 + 2.0 ** -10  # odd: the first tie rounds up, to 1 + 2**-9 (even), and the next ones stay
    got, _ = run_kernel_chain("add_stream", data, Strategy(), ws.WaferSpec(width=p, height=1))
    np.testing.assert_array_equal(got.view(np.float16)[:, 0], [1.0 + 2.0 ** -9] * (p - 1) + [1.0 + 2.0 ** -10])


def _half_chain_source(n: int, op: str) -> str:
    """`chain_source`'s row, its stream ops the 16-bit `op` and the leaf's words tagged float16."""
    return chain_source(n, "vaddx", flt=False).replace("vaddx", op).replace("sendv.i32", "sendv.f16")


@pytest.mark.parametrize("op", ["vhaddx", "vhmaxx", "vhminx"])
@pytest.mark.parametrize("fields", [{"link_words_per_cycle": 2, "vector_lanes": 4, "vector_lanes_half": 1},
                                    {"fifo_depth": 4}, {"preset": "wse2"}])
def test_a_float16_stream_takes_a_word_per_max_link_time_and_half_lane_time(op, fields):
    """The ends of each PE's stream op from the documented formula with W = max(1 / link_words_per_cycle,
    1 / vector_lanes_half): with 2 words a link cycle and one float16 lane, a word a cycle (the float32 form
    of the op would take one every half cycle); each strategy alike."""
    p, n = 5, 33
    fields = dict(fields)
    spec = (ws.WaferSpec.preset("wse2", width=p, height=1) if fields.pop("preset", None)
            else ws.WaferSpec(width=p, height=1, **fields))
    program = ws.assemble(_half_chain_source(n, op))
    for strategy in STRATEGIES:
        with forced(strategy):
            stats = ws.Device(spec).launch(program, (1, 1), (p, 1), (), print_output=False)
        starts, ends = [None] * p, [None] * p
        for record in stats.prints:
            (starts if record.text == "#1" else ends)[record.x] = record.cycle
        assert ends == expected_ends(starts, p, n, spec, half=True), strategy
        if spec.vector_lanes_half < spec.vector_lanes:
            assert ends != expected_ends(starts, p, n, spec)  # (the float32 rate would differ: not vacuous)


def test_a_word_of_another_type_stops_a_float16_stream_with_a_word_type_error():
    source = _half_chain_source(8, "vhaddx").replace("sendv.f16", "sendv.f32")
    for strategy in STRATEGIES:
        with forced(strategy), pytest.raises(ws.WordTypeError, match="received a float32 word as float16"):
            ws.Device(ws.WaferSpec(width=3, height=1)).launch(ws.assemble(source), (1, 1), (3, 1), (),
                                                              print_output=False)


def test_the_interpreter_runs_a_small_float16_chain(monkeypatch):
    """Not vacuous: under the default strategy the compiled interpreter runs the float16 stream ops (the NumPy
    executor none), with the NumPy executor's words and cycles."""
    calls = []
    original = stream_ops.StreamOpsMixin._stream_op
    monkeypatch.setattr(stream_ops.StreamOpsMixin, "_stream_op",
                        lambda self, *a: calls.append(a[1].op) or original(self, *a))
    data = float16_data(5, seed=3)
    spec = ws.WaferSpec.preset("wse2", width=5, height=1)
    compiled = run_kernel_chain("add_stream", data, Strategy(), spec)
    assert calls == []
    numpy_run = run_kernel_chain("add_stream", data, Strategy(compiled=False), spec)
    assert set(calls) == {"vhaddx"}
    np.testing.assert_array_equal(compiled[0], numpy_run[0])
    assert compiled[1].cycles == numpy_run[1].cycles


def test_the_assembler_writes_and_reads_the_float16_stream_ops():
    program = ws.assemble(".sram 4\nli r5, 4\nvhaddx west, east, 1, r0, r5\nvhmaxx none, ramp, 2, r0, r5\n"
                          "vhminx north, south, 0, r0, r5\nhalt\n")
    text = ws.disassemble(program)
    for line in ("vhaddx west, east, 1, r0, r5", "vhmaxx none, ramp, 2, r0, r5", "vhminx north, south, 0, r0, r5"):
        assert line in text
    with pytest.raises(ws.AssemblyError, match="vhaddx takes no .f modifier"):
        ws.assemble(".sram 4\nvhaddx.f west, east, 0, r0, r5\n")
