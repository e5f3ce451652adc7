"""`stream_op_kernels.move_stream_words`: the NumPy executor's stream-op steps (`StreamOpsMixin._stream_op_bulk`
until no lane moves) in one compiled call. On tests/test_stream_ops.py's chains, run by the NumPy executor
(`Strategy(compiled=False)`, where the interpreter would otherwise run small regions), every PE's values and
stream-op end cycles are plain Python's and docs/timing.md's formula's, and the words, cycles and statistics
are those of the NumPy loop it replaces and of the reference strategy's word-by-word steps."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_stream_ops import _spec, expected_ends, expected_values, run_chain
from wafersim import collectives as wsc
from wafersim.sim import fabric, stream_ops, strategy

NUMPY_EXECUTOR = strategy.Strategy(compiled=False)


def _chain(monkeypatch, compiled: bool, *args, **kwargs):
    """`run_chain` under the NumPy executor with the compiled mover allowed (or not); also the calls that
    took it (True) or the NumPy loop (False)."""
    taken = []
    fits = stream_ops.StreamOpsMixin._compiled_stream_fits
    monkeypatch.setattr(stream_ops.StreamOpsMixin, "_compiled_stream_fits",
                        lambda self, *a: taken.append(compiled and fits(self, *a)) or taken[-1])
    with strategy.forced(NUMPY_EXECUTOR):
        return run_chain(*args, **kwargs), taken


def _assert_same(one, other) -> None:
    stats, starts, ends, sram = one
    assert (starts, ends) == (other[1], other[2])
    np.testing.assert_array_equal(np.array(sram), np.array(other[3]))
    for field in ("busy", "stall", "pe_instructions", "link_words"):
        np.testing.assert_array_equal(getattr(stats, field), getattr(other[0], field))
    assert (stats.cycles, stats.instructions, stats.vector_elements, stats.flops) == (
        other[0].cycles, other[0].instructions, other[0].vector_elements, other[0].flops)


@pytest.mark.parametrize("op, flt", [("vaddx", True), ("vaddx", False), ("vmaxx", False), ("vminx", False)])
@pytest.mark.parametrize("kind, p, n, root_delay", [("shallow", 5, 23, 9), ("wse2", 4, 40, 30),
                                                    ("dev", 3, 64, 200), ("shallow", 6, 1, 0)])
def test_compiled_stream_steps_match_python_the_numpy_loop_and_the_reference(monkeypatch, op, flt, kind, p, n,
                                                                            root_delay):
    spec = _spec(kind, p)
    compiled, taken = _chain(monkeypatch, True, p, n, op=op, flt=flt, root_delay=root_delay, spec=spec)
    assert taken and all(taken)  # (every step of the chain's stream ops in the compiled mover)
    for got, want in zip(compiled[3], expected_values(p, n, op, flt, root_delay)):
        np.testing.assert_array_equal(np.array(got), np.array(want))
    assert compiled[2] == expected_ends(compiled[1], p, n, spec)
    numpy_loop, taken = _chain(monkeypatch, False, p, n, op=op, flt=flt, root_delay=root_delay, spec=spec)
    assert taken and not any(taken)
    _assert_same(compiled, numpy_loop)
    with strategy.forced(strategy.REFERENCE):
        _assert_same(compiled, run_chain(p, n, op=op, flt=flt, root_delay=root_delay, spec=spec))


@pytest.mark.parametrize("op", ["vmaxx", "vminx"])
def test_float_maxima_and_minima_stay_with_numpy(monkeypatch, op):
    """NumPy's float maximum and minimum choose among NaNs and signed zeros as its loops do: not compiled."""
    spec = _spec("shallow", 4)
    (_, starts, ends, sram), taken = _chain(monkeypatch, True, 4, 23, op=op, flt=True, root_delay=9, spec=spec)
    assert taken and not any(taken)
    for got, want in zip(sram, expected_values(4, 23, op, True, 9)):
        np.testing.assert_array_equal(np.array(got), np.array(want))
    assert ends == expected_ends(starts, 4, 23, spec)


def test_a_background_leaf_send_streams_the_same_compiled(monkeypatch):
    """The leaf's words sent in the background (`senda`: the chain's end in `collectives.row_reduce_array`),
    taken by compiled steps, as from a blocking send."""
    spec = _spec("wse2", 5)
    (background, taken) = _chain(monkeypatch, True, 5, 50, spec=spec, leaf_background=True)
    assert taken and all(taken)
    with strategy.forced(strategy.REFERENCE):
        blocking = run_chain(5, 50, spec=spec)
    np.testing.assert_array_equal(np.array(blocking[3]), np.array(background[3]))
    assert blocking[2][:-1] == background[2][:-1]



@ws.jit
def _corner(data, out, n: ws.constant):
    """A chain that turns a corner: PE (0, 1) sends north; PE (0, 0) streams what comes from the south on east,
    into a FIFO no send has deepened yet; PE (1, 0) streams it into its own; PE (1, 1) idles."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    buf = ws.local.array(n, np.float32)
    for k in range(n):
        buf[k] = data[y, x * n + k]
    if x == 0 and y == 1:
        ws.send(ws.NORTH, buf[0:n], channel=1)
    elif x == 0 and y == 0:
        ws.add_stream(ws.SOUTH, ws.EAST, buf[0:n], channel=1)
    elif y == 0:
        ws.add_stream(ws.WEST, None, buf[0:n], channel=1)
    for k in range(n):
        out[y, x * n + k] = buf[k]


def _run_corner(n: int) -> tuple[np.ndarray, object, np.ndarray]:
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    data = np.random.default_rng(5).standard_normal((2, 2 * n)).astype(np.float32)
    out = dev.device_array((2, 2 * n), np.float32)
    stats = _corner[(1, 1), (2, 2)](dev.to_device(data), out, n)
    return data, stats, out.copy_to_host()


@pytest.mark.parametrize("rows", [False, True])
def test_a_value_ring_too_shallow_is_deepened_and_the_steps_go_on(monkeypatch, rows):
    """A step that the output's value ring is too shallow for: the compiled mover returns, the ring is deepened
    (`Fifo.make_room`) and the steps go on compiled; where the deeper ring is rows, not one block (a wafer's
    FIFO stacked for the interpreter: `rows`), the NumPy loop moves the rest. The same words and cycles."""
    made, compiling = [], []
    make_room, compiled = fabric.Fifo.make_room, stream_ops.StreamOpsMixin._stream_op_compiled

    def deepen(self, queued):
        make_room(self, queued)
        if compiling:  # (deepened by the compiled mover)
            made.append(queued)
            if rows:
                self.value.block = None  # (its rows stay: the ring as a large field keeps it)

    def compiling_while(self, *args):
        compiling.append(1)
        try:
            return compiled(self, *args)
        finally:
            compiling.clear()

    monkeypatch.setattr(fabric.Fifo, "make_room", deepen)
    monkeypatch.setattr(stream_ops.StreamOpsMixin, "_stream_op_compiled", compiling_while)
    bulk = []
    original = stream_ops.StreamOpsMixin._stream_op_bulk
    monkeypatch.setattr(stream_ops.StreamOpsMixin, "_stream_op_bulk",
                        lambda self, *a: bulk.append(1) or original(self, *a))
    n = 40
    with strategy.forced(NUMPY_EXECUTOR):
        data, stats, got = _run_corner(n)
    assert made and bool(bulk) == rows
    parts = data.reshape(2, 2, n)
    middle = parts[0, 0] + parts[1, 0]  # (own first: the ISA's operand order)
    np.testing.assert_array_equal(got[0, :n], middle)
    np.testing.assert_array_equal(got[0, n:], parts[0, 1] + middle)
    with strategy.forced(strategy.REFERENCE):
        _, reference, _ = _run_corner(n)
    for field in ("busy", "stall", "pe_instructions", "link_words"):
        np.testing.assert_array_equal(getattr(stats, field), getattr(reference, field))
    assert (stats.cycles, stats.vector_elements) == (reference.cycles, reference.vector_elements)


@ws.jit
def _nan_column_streams(data, out, n: ws.constant):
    """Row 0's PEs send n words south; row 1's add them into their own (`vaddx`), each lane of the group alone."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    buf = ws.local.array(n, np.float32)
    buf[0:n] = data[y, x * n:x * n + n]
    if y == 0:
        ws.send(ws.SOUTH, buf[0:n], channel=1)
    else:
        ws.add_stream(ws.NORTH, None, buf[0:n], channel=1)
    out[y, x * n:x * n + n] = buf[0:n]


def _quiet(bits: int) -> int:
    return bits | 0x00400000


def _add_bits(own: int, word: int) -> int:
    """Plain Python: a float32 add's bits; a NaN operand gives its own payload, quieted (the first of two NaNs)."""
    own_nan, word_nan = (b & 0x7F800000 == 0x7F800000 and b & 0x007FFFFF != 0 for b in (own, word))
    if own_nan or word_nan:
        return _quiet(own if own_nan else word)
    total = np.float32(np.uint32(own).view(np.float32)) + np.float32(np.uint32(word).view(np.float32))
    return int(np.float32(total).view(np.uint32))


@pytest.mark.parametrize("run", [strategy.REFERENCE, strategy.FAST, NUMPY_EXECUTOR,
                                 strategy.Strategy(compiled_fabric=False)], ids=["reference", "fast", "numpy",
                                                                                  "numpy_fabric"])
def test_of_two_nans_a_float_stream_add_keeps_its_own_word_in_every_lane_and_strategy(run):
    """review46: the compiled steps (`move_stream_words`, stop 45) added `own + word` and LLVM, free to swap a
    commutative add, gave the word's NaN payload where the interpreter's `fadd` and the reference gave the PE's own;
    and the NumPy steps' `np.add` over 20 lanes gave the word's in the lanes past 16 (its SIMD loop's tail)."""
    lanes, n = 20, 3
    rng = np.random.default_rng(46)
    payloads = rng.integers(1, 1 << 22, (2, lanes * n), dtype=np.uint32)
    bits = (payloads | np.uint32(0x7F800000)) ^ (rng.integers(0, 2, (2, lanes * n), dtype=np.uint32) << 31)
    bits[:, 1::n] = np.float32(1.5).view(np.uint32)  # (one NaN operand, or none)
    bits[0, 2::n] = np.float32(-2.25).view(np.uint32)
    dev = ws.Device(ws.WaferSpec(width=lanes, height=2))
    out = dev.device_array((2, lanes * n), np.float32)
    with strategy.forced(run):
        _nan_column_streams[(1, 1), (lanes, 2)](dev.to_device(bits.view(np.float32)), out, n)
    got = out.copy_to_host().view(np.uint32)
    want = [_add_bits(int(own), int(word)) for own, word in zip(bits[1], bits[0])]
    assert [hex(v) for v in got[1]] == [hex(v) for v in want]
    np.testing.assert_array_equal(got[0], bits[0])


@ws.jit
def _int_relay(data, out, n: ws.constant, which: ws.constant):
    """Row 0 sends n int32 words south; row 1 combines them into its own and relays the results; row 2 adds them."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    buf = ws.local.array(n, np.int32)
    buf[0:n] = data[y, x * n:x * n + n]
    if y == 0:
        ws.send(ws.SOUTH, buf[0:n], channel=1)
    elif y == 1:
        if which == 0:
            ws.add_stream(ws.NORTH, ws.SOUTH, buf[0:n], channel=1)
        elif which == 1:
            ws.max_stream(ws.NORTH, ws.SOUTH, buf[0:n], channel=1)
        else:
            ws.min_stream(ws.NORTH, ws.SOUTH, buf[0:n], channel=1)
    else:
        ws.add_stream(ws.NORTH, None, buf[0:n], channel=1)
    out[y, x * n:x * n + n] = buf[0:n]


@pytest.mark.parametrize("run", [strategy.REFERENCE, strategy.FAST, NUMPY_EXECUTOR], ids=["reference", "fast", "numpy"])
def test_int32_stream_ops_wrap_and_choose_as_numpy_in_every_strategy(run):
    """review46: int32 `vaddx` wrapping past 2**31 (the compiled steps add in int64 and store the low word), and
    `vmaxx` / `vminx` of the extremes, relayed through a middle row, over 19 lanes of 7 words (no power of two)."""
    lanes, n = 19, 7
    rng = np.random.default_rng(46)
    data = rng.choice(np.array([2**31 - 1, -2**31, 1, -1, 0, 2**30, -2**30 - 1]), (3, lanes * n)).astype(np.int32)
    dev = ws.Device(ws.WaferSpec(width=lanes, height=3))
    for which, combine in enumerate((np.add, np.maximum, np.minimum)):
        out = dev.device_array((3, lanes * n), np.int32)
        with strategy.forced(run):
            _int_relay[(1, 1), (lanes, 3)](dev.to_device(data), out, n, which)
        with np.errstate(over="ignore"):
            middle = combine(data[1], data[0])
            np.testing.assert_array_equal(out.copy_to_host(), [data[0], middle, data[2] + middle])


@ws.jit
def _line_sums(data, out, reps, rows: ws.constant, root: ws.constant, n: ws.constant):
    """Each PE's n words summed over its row (`rows`) or column to the PE at `root` of it, `reps` times (the same
    sums: the chain's PEs asleep at the stream op while its wavefront passes, as in bench's gemv2d)."""
    x, y = ws.threadIdx.x, ws.threadIdx.y
    values = ws.local.array(n, np.float32)
    part = ws.local.array(n, np.float32)
    for _ in range(reps):
        values[0:n] = data[y, x * n:x * n + n]
        if rows:
            wsc.row_reduce_array(values, part, root, wsc.SUM, channel=1)
        else:
            wsc.column_reduce_array(values, part, root, wsc.SUM, channel=1)
    out[y, x * n:x * n + n] = values[0:n]


def _line_sums_expected(data: np.ndarray, rows: bool, root: int, n: int) -> np.ndarray:
    """The root's sums in the chains' order (own word first): beyond the root from the far end inwards, then
    the side ahead (higher positions) and the side behind, as `collectives.line_reduce_array` adds them."""
    parts = data.reshape(data.shape[0], -1, n)  # (y, x, word)
    lines = parts if rows else parts.transpose(1, 0, 2)  # (line, position, word)
    size = lines.shape[1]
    total = lines[:, root].copy()
    if root < size - 1:
        ahead = lines[:, size - 1]
        for position in range(size - 2, root, -1):
            ahead = lines[:, position] + ahead
        total = total + ahead
    if root > 0:
        behind = lines[:, 0]
        for position in range(1, root):
            behind = lines[:, position] + behind
        total = total + behind
    return total


def _run_line_sums(rows: bool, root: int, n: int, width: int = 9, height: int = 7, reps: int = 3):
    dev = ws.Device(ws.WaferSpec(width=width, height=height))
    data = np.random.default_rng(11).standard_normal((height, width * n)).astype(np.float32)
    out = dev.device_array((height, width * n), np.float32)
    stats = _line_sums[1, (width, height)](dev.to_device(data), out, reps, rows, root, n)
    return data, stats, out.copy_to_host()


@pytest.mark.parametrize("rows, root", [(True, 0), (True, 8), (True, 3), (False, 0), (False, 6), (False, 3)])
def test_a_chain_asleep_at_its_stream_op_streams_in_one_compiled_call_as_visit_by_visit(monkeypatch, rows, root):
    """The lanes asleep at the stream op that the group's words reach move in the same compiled call
    (`StreamOpsMixin._stream_sleepers`): the roots get NumPy's sums in the chains' order, and every PE's
    cycles, stalls, instructions and link words are those of the scheduler waking them a visit at a time
    (`JOIN_SLEEPERS` = 0) and of the reference strategy's word-by-word steps; chains flowing west, east,
    north and south, and roots inside the line (two chains)."""
    n = 40  # (more words than a FIFO holds: the chain's PEs block and sleep while the wavefront passes)
    joined = []
    join = stream_ops.StreamOpsMixin._join_sleepers
    monkeypatch.setattr(stream_ops.StreamOpsMixin, "_join_sleepers",
                        lambda self, pc, next_pc, cost, pes, length: joined.append(len(pes))
                        or join(self, pc, next_pc, cost, pes, length))
    data, stats, got = _run_line_sums(rows, root, n)
    assert joined and sum(joined) > 0
    total = _line_sums_expected(data, rows, root, n)
    at_root = got.reshape(got.shape[0], -1, n)[:, root] if rows else got.reshape(got.shape[0], -1, n)[root]
    np.testing.assert_array_equal(at_root, total)
    monkeypatch.setattr(stream_ops, "JOIN_SLEEPERS", 0)
    joined.clear()
    _, visits, got_visits = _run_line_sums(rows, root, n)
    assert not joined
    with strategy.forced(strategy.REFERENCE):
        _, reference, got_reference = _run_line_sums(rows, root, n)
    for other, other_got in ((visits, got_visits), (reference, got_reference)):
        np.testing.assert_array_equal(got, other_got)
        for field in ("busy", "stall", "pe_instructions", "link_words"):
            np.testing.assert_array_equal(getattr(stats, field), getattr(other, field))
        assert (stats.cycles, stats.instructions, stats.vector_elements, stats.flops) == (
            other.cycles, other.instructions, other.vector_elements, other.flops)
