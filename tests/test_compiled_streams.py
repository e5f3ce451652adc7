"""The stream ops (`vaddx`, `vmaxx`, `vminx`, and `vhaddx`, ... on float16) in the compiled interpreter (sim/compiled/interpreter.py, the
transfer loop), differentially: the same launches with the interpreter running them (the default strategy)
and with the NumPy executor (sim/stream_ops.py) running them (`Strategy(compiled=False)`,
`Strategy(compiled_fabric=False)`, the reference strategy; and the interpreter without its wavefronts or
its segments' fast paths), which must agree bit for bit -- results, every statistic, each PE's final cycle
and the FIFOs' word counts -- and with a plain NumPy reference of the values (each PE combines its own element with the word arriving, its own first, as docs/timing.md's "Streams
through the FMAC" says). Drawn: rows of chains and a column chain after them, the ops and dtypes (values
with nans, infs, -0.0, float16 subnormals and int32 extremes), slices, channels, delays before the chains (words wait in
FIFOs, senders wait for room: a PE blocks mid-stream and resumes at its word), FIFO depths (2, 3: a ring
that is not a power of two), timings (dev, wse2) and links bent around a dead PE."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source
from test_engine_strategies import error_facts
from wafersim.isa.encoding import decode
from wafersim.sim import stream_ops
from wafersim.sim.compiled.table import KIND, KINDS, STOP, ProgramTable
from wafersim.sim.strategy import REFERENCE, Strategy, forced

EXAMPLES = int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "12"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
W = 12  # words of each PE's buffer
NUMPY_PATHS = [Strategy(compiled=False), Strategy(compiled_fabric=False), REFERENCE]
# (the interpreter's other ways: a woken PE at a time, alone; no fast paths for segments)
OTHER_PATHS = [*NUMPY_PATHS, Strategy(compiled_wavefronts=False), Strategy(compiled_loops=False)]
FUNCTIONS = {"add": "add_stream", "max": "max_stream", "min": "min_stream"}
REFERENCE_OPS = {"add": np.add, "max": np.maximum, "min": np.minimum}
# ("defect": a dead PE in row 0 and a spare column: links bent around it, a latency per sending PE)
SPECS = {"dev": {}, "wse2": {"preset": "wse2"}, "depth2": {"fifo_depth": 2}, "depth3": {"fifo_depth": 3},
         "defect": {"spare_cols": 1, "defects": [(1, 0)], "fifo_depth": 4}}
STATS = ("cycles", "instructions", "op_counts", "flops", "vector_elements")
STAT_ARRAYS = ("busy", "stall", "pe_instructions", "link_words")


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("compiled_streams")


def spec_of(kind: str, width: int, height: int) -> ws.WaferSpec:
    fields = dict(SPECS[kind])
    if fields.pop("preset", None):
        return ws.WaferSpec.preset("wse2", width=width, height=height, channels=4)
    return ws.WaferSpec(width=width + fields.get("spare_cols", 0), height=height, channels=4, **fields)


@st.composite
def grid_chains(draw):
    """A block of PEs whose rows each run a chain toward one end column, then a chain down or up that column."""
    width, height = draw(st.integers(2, 6)), draw(st.integers(1, 4))
    row = dict(east=draw(st.booleans()), op=draw(st.sampled_from(sorted(FUNCTIONS))), length=draw(st.integers(0, W)),
               channel=draw(st.integers(0, 3)))
    row["offset"] = draw(st.integers(0, W - row["length"]))
    column = None
    if height > 1 and draw(st.booleans()):
        column = dict(south=draw(st.booleans()), op=draw(st.sampled_from(sorted(FUNCTIONS))),
                      length=draw(st.integers(1, W)), channel=draw(st.integers(0, 3)))
        column["offset"] = draw(st.integers(0, W - column["length"]))
    return dict(width=width, height=height, row=row, column=column, dtype=draw(st.sampled_from(["float32", "int32", "float16"])),
                spec=draw(st.sampled_from(sorted(SPECS))), delay_seed=draw(st.integers(0, 2 ** 16)))


def render(case) -> str:
    row, column = case["row"], case["column"]
    into, out = ("WEST", "EAST") if row["east"] else ("EAST", "WEST")
    head, tail = (0, case["width"] - 1) if row["east"] else (case["width"] - 1, 0)
    part = f"buf[{row['offset']}:{row['offset'] + row['length']}]"
    source = f"""
import numpy as np
import wafersim as ws


@ws.jit
def kern(data, trips, result, spent_out):
    x = ws.threadIdx.x
    y = ws.threadIdx.y
    buf = ws.local.array({W}, np.{case['dtype']})
    pe = y * {case['width']} + x
    buf[0:{W}] = data[pe, 0:{W}]
    spent = 0
    for _k in range(trips[pe]):
        spent = spent + 1
    if x == {head}:
        ws.send(ws.{out}, {part}, channel={row['channel']})
    elif x == {tail}:
        ws.{FUNCTIONS[row['op']]}(ws.{into}, None, {part}, channel={row['channel']})
    else:
        ws.{FUNCTIONS[row['op']]}(ws.{into}, ws.{out}, {part}, channel={row['channel']})
"""
    if column is not None:
        into, out = ("NORTH", "SOUTH") if column["south"] else ("SOUTH", "NORTH")
        top, bottom = (0, case["height"] - 1) if column["south"] else (case["height"] - 1, 0)
        part = f"buf[{column['offset']}:{column['offset'] + column['length']}]"
        fn = FUNCTIONS[column["op"]]
        source += f"""    if x == {tail}:
        if y == {top}:
            ws.send(ws.{out}, {part}, channel={column['channel']})
        elif y == {bottom}:
            ws.{fn}(ws.{into}, None, {part}, channel={column['channel']})
        else:
            ws.{fn}(ws.{into}, ws.{out}, {part}, channel={column['channel']})
"""
    return source + f"""    result[pe, 0:{W}] = buf[0:{W}]
    spent_out[pe] = spent
"""


def inputs(case) -> tuple[np.ndarray, np.ndarray]:
    """(data, trips): values with specials, and each PE's delay (loop trips before its chain)."""
    rng = np.random.default_rng(case["delay_seed"])
    shape = (case["height"], case["width"], W)
    if case["dtype"] == "float32":
        data = (rng.standard_normal(shape) * 2.0 ** rng.integers(-10, 10, shape)).astype(np.float32)
        specials = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 3.4e38, -3.4e38], dtype=np.float32)
    elif case["dtype"] == "float16":  # (sums past 65504 overflow; subnormals below 6.1e-5)
        with np.errstate(over="ignore"):
            data = (rng.standard_normal(shape) * 2.0 ** rng.integers(-26, 16, shape)).astype(np.float16)
        specials = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 65504, -65504, 6e-8], dtype=np.float16)
    else:
        data = rng.integers(-2 ** 31, 2 ** 31, shape, dtype=np.int64).astype(np.int32)
        specials = np.array([2 ** 31 - 1, -2 ** 31, -1, 0], dtype=np.int32)
    picks = rng.random(shape) < 0.2
    data[picks] = specials[rng.integers(0, len(specials), int(picks.sum()))]
    trips = np.where(rng.random(shape[:2]) < 0.4, rng.integers(1, 40, shape[:2]), 0).astype(np.int32)
    return data, trips


def reference(case, data: np.ndarray) -> np.ndarray:
    """Every PE's buffer after the chains: own element first, then the arriving word, along each chain."""
    values = data.copy()
    row, column = case["row"], case["column"]
    step = 1 if row["east"] else -1
    head, tail = (0, case["width"] - 1) if row["east"] else (case["width"] - 1, 0)
    cut = slice(row["offset"], row["offset"] + row["length"])
    with np.errstate(all="ignore"):
        for y in range(case["height"]):
            arriving = values[y, head, cut].copy()
            for x in range(head + step, tail + step, step):
                arriving = REFERENCE_OPS[row["op"]](values[y, x, cut], arriving)
                values[y, x, cut] = arriving
        if column is not None:
            step = 1 if column["south"] else -1
            top, bottom = (0, case["height"] - 1) if column["south"] else (case["height"] - 1, 0)
            cut = slice(column["offset"], column["offset"] + column["length"])
            arriving = values[top, tail, cut].copy()
            for y in range(top + step, bottom + step, step):
                arriving = REFERENCE_OPS[column["op"]](values[y, tail, cut], arriving)
                values[y, tail, cut] = arriving
    return values


def launch(kernel, spec: ws.WaferSpec, block: tuple[int, int], host: list[np.ndarray], strategy: Strategy | None):
    """(outputs, stats, each PE's final cycle, the FIFOs' (pushed, popped) counts by key)."""
    dev = ws.Device(spec)
    args = [dev.to_device(a) for a in host]
    with forced(strategy or Strategy()):
        stats = kernel[(1, 1), block](*args, print_output=False, keep_state=True)
    wave = stats.state.waves[0]
    fifos = {key: (np.array(f.pushed), np.array(f.popped)) for key, f in wave.fifos.items()}
    return [a.copy_to_host() for a in args[2:]], stats, np.array(wave.cycle), fifos


def assert_same(compiled, numpy_run, source: str) -> None:
    (outs, stats, cycle, fifos), (ref_outs, ref_stats, ref_cycle, ref_fifos) = compiled, numpy_run
    for got, want in zip(outs, ref_outs):
        np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32), err_msg=source)
    for name in STATS:
        assert getattr(stats, name) == getattr(ref_stats, name), (name, source)
    for name in STAT_ARRAYS:
        np.testing.assert_array_equal(getattr(stats, name), getattr(ref_stats, name), err_msg=f"{name}\n{source}")
    np.testing.assert_array_equal(cycle, ref_cycle, err_msg=source)
    assert fifos.keys() == ref_fifos.keys(), source
    for key in fifos:
        for got, want in zip(fifos[key], ref_fifos[key]):
            np.testing.assert_array_equal(got, want, err_msg=f"FIFO {key}\n{source}")


@FUZZ
@given(case=grid_chains())
def test_stream_chains_run_compiled_as_in_numpy(gen_dir, case):
    source = render(case)
    kernel = load_source(gen_dir, source).kern
    data, trips = inputs(case)
    host = [data.reshape(-1, W), trips.reshape(-1), np.zeros((data.size // W, W), data.dtype),
            np.zeros(trips.size, np.int32)]
    spec, block = spec_of(case["spec"], case["width"], case["height"]), (case["width"], case["height"])
    compiled = launch(kernel, spec, block, host, None)
    result, spent = compiled[0]
    np.testing.assert_array_equal(result.view(np.int32), reference(case, data).reshape(-1, W).view(np.int32),
                                  err_msg=source)
    np.testing.assert_array_equal(spent, trips.reshape(-1), err_msg=source)
    for strategy in OTHER_PATHS:
        assert_same(compiled, launch(kernel, spec, block, host, strategy), f"{strategy}\n{source}")


@pytest.mark.parametrize("dtype, ops", [("float32", {"vaddx", "vmaxx"}), ("float16", {"vhaddx", "vhmaxx"})])
def test_the_interpreter_runs_the_stream_ops_of_a_small_chain(gen_dir, monkeypatch, dtype, ops):
    """Not vacuous: under the default strategy the NumPy executor runs none of a small chain's stream ops (the
    interpreter does), and with the compiled path off it runs them."""
    case = dict(width=5, height=3, row=dict(east=False, op="add", length=7, offset=2, channel=1),
                column=dict(south=True, op="max", length=5, offset=0, channel=2), dtype=dtype, spec="depth2",
                delay_seed=3)
    kernel = load_source(gen_dir, render(case)).kern
    data, trips = inputs(case)
    host = [data.reshape(-1, W), trips.reshape(-1), np.zeros((data.size // W, W), data.dtype),
            np.zeros(trips.size, np.int32)]
    calls = []
    original = stream_ops.StreamOpsMixin._stream_op
    monkeypatch.setattr(stream_ops.StreamOpsMixin, "_stream_op", lambda self, *a: calls.append(a[1].op) or original(self, *a))
    spec = spec_of("depth2", 5, 3)
    compiled = launch(kernel, spec, (5, 3), host, None)
    assert calls == []
    numpy_run = launch(kernel, spec, (5, 3), host, Strategy(compiled=False))
    assert set(calls) == ops
    assert_same(compiled, numpy_run, "")
    np.testing.assert_array_equal(compiled[0][0].view(np.int32), reference(case, data).reshape(-1, W).view(np.int32))


def _chain_program(head_send: str, middle: str = "vaddx.f west, east, 0, r0, r5") -> str:
    """A row: the east end sends 6 words west (`head_send`), PEs between stream them on (`middle`), PE 0 keeps them."""
    return f"""
.sram 8
    sreg r1, tid.x
    sreg r2, bdim.x
    li r5, 6
    addi r10, r2, -1
    seq r11, r1, r10
    bnz r11, head
    bz r1, root
    {middle}
    halt
head:
    {head_send}
    halt
root:
    vaddx.f none, east, 0, r0, r5
    halt
"""


@pytest.mark.parametrize("source, error", [
    (_chain_program("sendv.i32 west, 0, r0, r5"), ws.WordTypeError),  # an int32 word into a float32 stream
    (_chain_program("sendv.f32 west, 0, r0, r5", "vaddx.f north, east, 0, r0, r5"), ws.MeshBoundaryError),
    (_chain_program("sendv.f32 west, 0, r0, r5", "li r6, 7\n    vaddx.f west, east, 0, r6, r5"), ws.MemoryAccessError),
    (_chain_program("sendv.f32 west, 0, r0, r5", "li r6, -1\n    vmaxx.f west, east, 0, r0, r6"), ws.MemoryAccessError),
    (_chain_program("halt"), ws.DeadlockError),
])
def test_a_failing_stream_op_fails_alike_compiled_or_not(source, error):
    program = ws.assemble(source)
    facts = []
    for strategy in [Strategy(), *NUMPY_PATHS]:
        with forced(strategy), pytest.raises(error) as caught:
            ws.Device(ws.WaferSpec(width=4, height=2)).launch(program, (1, 1), (4, 2), (), print_output=False)
        facts.append(error_facts(caught.value))
    assert all(f == facts[0] for f in facts), facts


def test_a_stream_op_with_a_routed_input_stays_with_numpy():
    """The table runs a stream op with a neighbour input (and a neighbour or no output), not one from the ramp."""
    program = ws.assemble(".sram 4\nli r5, 4\nvaddx.f west, east, 0, r0, r5\nvminx none, ramp, 1, r0, r5\nhalt\n")
    decoded = dict(decode(program.code))
    costs = {instr.op: 1.0 for instr in decoded.values()}
    table = ProgramTable(decoded, len(program.code), costs, fabric=True)
    kinds = {decoded[pc].op: int(table.fields[KIND, pc]) for pc in decoded}
    assert kinds["vaddx"] == KINDS["vaddx"] and kinds["vminx"] == STOP
    vaddx = next(pc for pc in decoded if decoded[pc].op == "vaddx")
    assert table.fabric_pcs == {vaddx}
    assert ProgramTable(decoded, len(program.code), costs, fabric=False).fields[KIND, vaddx] == STOP


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_a_block_all_reduce_beyond_the_interpreters_group_size_is_the_same(monkeypatch, dtype):
    """An 80 x 60 block (4,800 PEs, more than `FABRIC_GROUP`): the chains' large groups meet their stream op on
    the NumPy path and wait there, the heads' transfers wake them into the interpreter (`park_sleepers`), which
    runs the wavefronts: the same sums (bit for bit, in the chains' order) and statistics as with the NumPy
    path only; the sums equal NumPy's to float32 rounding (int32: exactly)."""
    from wafersim.kernels import reduce
    rng = np.random.default_rng(5)
    values = (rng.random((60, 80), dtype=np.float32) if dtype == np.float32
              else rng.integers(-2 ** 18, 2 ** 18, (60, 80), dtype=np.int32))
    numpy_calls = []
    original = stream_ops.StreamOpsMixin._stream_op
    monkeypatch.setattr(stream_ops.StreamOpsMixin, "_stream_op",
                        lambda self, *a: numpy_calls.append(a[4].count) or original(self, *a))
    runs = {}
    for name, strategy in (("default", Strategy()), ("numpy", Strategy(compiled=False))):
        with forced(strategy):
            runs[name] = reduce.block_allreduce(values, "sum", (80, 60), ws.Device(ws.WaferSpec(width=80, height=60)))
        if name == "default":
            assert numpy_calls and max(numpy_calls) > 4096  # (the large group on the NumPy path)
            assert sum(numpy_calls) < 2 * values.size  # (most words in the interpreter)
    (out, stats), (ref_out, ref_stats) = runs["default"], runs["numpy"]
    np.testing.assert_array_equal(np.asarray(out).view(np.int32), np.asarray(ref_out).view(np.int32))
    for name in STATS:
        assert getattr(stats, name) == getattr(ref_stats, name), name
    for name in STAT_ARRAYS:
        np.testing.assert_array_equal(getattr(stats, name), getattr(ref_stats, name), err_msg=name)
    if dtype == np.int32:
        np.testing.assert_array_equal(out, np.full_like(values, values.sum()))
    else:
        np.testing.assert_allclose(out, np.full_like(values, values.sum()), rtol=1e-4)
