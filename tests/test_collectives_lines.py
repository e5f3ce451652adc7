"""wafersim.collectives.lines: the scalar SUM chain (`line_sum_stream`: one stream op of one word a hop)
against plain Python folded in the documented order (each PE's own value first: value + what comes from
beyond), bit for bit, and its cost a hop against the stream op's documented timing (docs/timing.md, "Streams
through the FMAC"); `is_float`, the constant it declares its one-word array's type with; and the word-by-word
path for short 16-bit arrays (float32 and int32 arrays stream, tests/test_stream_ops.py and
test_collectives.py), bit for bit against NumPy's 16-bit arithmetic in the chain's order."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error
from wafersim import collectives as wsc
from wafersim.collectives import lines
from wafersim.compiler.intrinsics import is_float

SPEC = ws.WaferSpec.preset("dev", width=12, height=10, ramp_latency=2, channels=24)
NANS = np.array([0x7FC00001, 0xFFC00002, 0x7FC12345, 0xFFF00000, 0x7F800001], np.uint32).view(np.float32)


def _fold(row: list, root: int) -> float:
    """The root's sum of a line in plain Python: each PE adds what comes from beyond it to its own (own
    first), the root the side ahead, then the side behind."""
    total = row[root]
    if root < len(row) - 1:
        ahead = row[-1]
        for v in reversed(row[root + 1:-1]):
            ahead = v + ahead
        total = total + ahead
    if root > 0:
        behind = row[0]
        for v in row[1:root]:
            behind = v + behind
        total = total + behind
    return total


def _special_values(rng, n: int) -> np.ndarray:
    values = rng.choice(np.array([-0.0, 0.0, 1.5, -2.0, np.inf, -np.inf, 3e38], np.float32), n)
    values[rng.choice(n, rng.integers(1, 4), replace=False)] = rng.choice(NANS, 3)[:1]
    values[rng.integers(n)] = rng.choice(NANS)
    return values


def test_scalar_sum_chains_keep_nan_payloads_and_zero_signs_bit_for_bit():
    """Rows reduced to a root inside them (two chains), to either end, and the block's all-reduce (rows to
    column 0, then column 0 to PE (0, 0)): every result's bits, a nan's payload (of two, the PE's own) and the
    sign of a zero (-0.0 + 0.0) included, are plain Python's in that order."""
    bx, by = block = (6, 3)
    roots = (2, 0, bx - 1)

    @ws.jit
    def sums(out, values):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        i = y * ws.blockDim.x + x
        v = values[i]
        a = wsc.row_reduce(v, roots[0], wsc.SUM, channel=0)
        b = wsc.row_reduce(v, roots[1], wsc.SUM, channel=1)
        c = wsc.row_reduce(v, roots[2], wsc.SUM, channel=2)
        d = wsc.block_all_reduce(v, wsc.SUM, channel=3)  # 3 .. 5
        base = 4 * i
        out[base] = a
        out[base + 1] = b
        out[base + 2] = c
        out[base + 3] = d

    rng = np.random.default_rng(5)
    cases = [np.where(rng.random(bx * by) < 0.5, -0.0, 0.0).astype(np.float32) for _ in range(3)]
    cases += [np.full(bx * by, -0.0, np.float32)] + [_special_values(rng, bx * by) for _ in range(8)]
    device = ws.Device(SPEC)
    for values in cases:
        out = device.to_device(np.zeros(4 * bx * by, np.float32))
        sums[1, block](out, device.to_device(values))
        got = out.copy_to_host().reshape(by, bx, 4).view(np.uint32)
        grid = values.reshape(by, bx).tolist()
        for y, row in enumerate(grid):
            for k, root in enumerate(roots):
                want = np.float32(_fold(row, root)).view(np.uint32)
                assert got[y, root, k] == want, (values.view(np.uint32), y, root, hex(got[y, root, k]), hex(want))
        column = [_fold(row, 0) for row in grid]
        want = np.float32(_fold(column, 0)).view(np.uint32)
        assert (got[:, :, 3] == want).all(), (values.view(np.uint32), got[:, :, 3], hex(want))


def test_int32_sum_chains_wrap_as_numpy():
    """int32 sums around the extremes wrap (NumPy's int32 sum), rows to inner roots and the block's all-reduce."""
    bx, by = block = (7, 4)

    @ws.jit
    def sums(out, values):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        i = y * ws.blockDim.x + x
        v = values[i]
        out[2 * i] = wsc.row_reduce(v, 3, wsc.SUM, channel=0)
        out[2 * i + 1] = wsc.block_all_reduce(v, wsc.SUM, channel=1)

    rng = np.random.default_rng(7)
    values = rng.choice(np.array([2**31 - 1, -2**31, 2**30, -1, 1, 12345], np.int32), bx * by)
    device = ws.Device(SPEC)
    out = device.to_device(np.zeros(2 * bx * by, np.int32))
    sums[1, block](out, device.to_device(values))
    got = out.copy_to_host().reshape(by, bx, 2)
    grid = values.reshape(by, bx)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got[:, 3, 0], grid.sum(axis=1, dtype=np.int32))
        assert (got[:, :, 1] == grid.sum(dtype=np.int32)).all()


@pytest.mark.parametrize("short, long", [(16, 48), (64, 128)])
def test_a_scalar_sum_chain_hop_costs_what_a_stream_op_hop_does(short, long):
    """On `wse2` a longer row's one-word reduce to PE 0 costs hop_latency + 2 ramp_latency + W (W = 1: the
    add's cycle) more a PE, the stream op's documented hop (a receive, an add and a send took twice that)."""
    spec = ws.WaferSpec.preset("wse2")
    hop = spec.hop_latency + 2 * spec.ramp_latency + max(1 / spec.link_words_per_cycle, 1 / spec.vector_lanes)

    @ws.jit
    def reduce(out, values, go):
        x = ws.threadIdx.x
        v = values[x]
        ws.syncthreads()
        if go:
            v = wsc.row_reduce(v, 0, wsc.SUM, channel=0)
        ws.syncthreads()
        if x == 0:
            out[0] = v

    cycles = {}
    for p in (short, long):
        device = ws.Device(ws.WaferSpec.preset("wse2", width=p, height=1, global_bytes_per_s=1e18))
        values = np.arange(p, dtype=np.float32)
        runs = []
        for go in (0, 1):
            out = device.to_device(np.zeros(1, np.float32))
            runs.append(reduce[1, (p, 1)](out, device.to_device(values), go).cycles)
        assert out.copy_to_host()[0] == values.sum()
        cycles[p] = runs[1] - runs[0]
    assert cycles[long] - cycles[short] == (long - short) * hop


def test_is_float_is_a_constant_of_a_numbers_type_and_refuses_an_array():
    @ws.jit
    def types(out, values):
        i = ws.threadIdx.x
        f = values[i]
        n = i + 1
        out[i] = 10 * is_float(f) + is_float(n)
        if is_float(n):  # (a constant: never compiled, so the refusal below is never reached)
            ws.refuse("unreachable")

    device = ws.Device(SPEC)
    out = device.to_device(np.zeros(2, np.int32))
    types[1, (2, 1)](out, device.to_device(np.zeros(2, np.float32)))
    assert out.copy_to_host().tolist() == [10, 10]

    @ws.jit
    def array_of(out):
        buf = ws.local.array(4, np.float32)
        out[0] = is_float(buf)

    assert "is_float(x) takes a number" in str(compile_error(ws.Device(SPEC), array_of, np.zeros(1, np.int32)))


@pytest.mark.parametrize("dtype", [np.float16, "bfloat16"])
@pytest.mark.parametrize("op", [wsc.SUM, wsc.MAX, wsc.MIN])
def test_short_16_bit_arrays_go_word_by_word_in_16_bits_in_the_chain_s_order(dtype, op):
    """A 16-bit array short for its line moves word by word. Its PEs read each word as a float32 scalar (a
    16-bit element reads as float32), so the receive expected float32 words where the chain's first PE sends
    its 16-bit vector: every such launch (n <= 4 always; longer on long lines) was a WordTypeError. Now each
    word is received into part and combined in 16 bits: bit for bit NumPy's 16-bit arithmetic, one operation
    at a time, in the chain's order (row all-reduce: PE x's value (op) what comes from beyond it; the block's
    rows first, then column 0; a root inside the row takes the east side, then the west)."""
    import ml_dtypes

    dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype
    ufunc = {wsc.SUM: np.add, wsc.MAX: np.maximum, wsc.MIN: np.minimum}[op]
    bx, by, root = 5, 3, 2

    def chain(vectors):  # the far end first: acc = v[x] (op) acc
        acc = vectors[-1]
        for v in vectors[-2::-1]:
            acc = ufunc(v, acc).astype(dtype)
        return acc

    for n in (1, 4, 5):
        @ws.jit
        def reduce(all_out, root_out, values):
            x, y = ws.threadIdx.x, ws.threadIdx.y
            i = y * ws.blockDim.x + x
            v = ws.local.array(n, dtype)
            w = ws.local.array(n, dtype)
            part = ws.local.array(n, dtype)
            for k in range(n):
                v[k] = values[i * n + k]
                w[k] = values[i * n + k]
            wsc.block_all_reduce_array(v, part, op, 0)
            wsc.row_reduce_array(w, part, root, op, 3)
            for k in range(n):
                all_out[i * n + k] = v[k]
                root_out[i * n + k] = w[k]

        values = (np.random.default_rng(n).standard_normal((by, bx, n)) * 100).astype(dtype)
        values[1, 3, 0] = np.nan if op != wsc.SUM else values[1, 3, 0]
        device = ws.Device(SPEC)
        all_out, root_out = device.device_array(values.size, dtype), device.device_array(values.size, dtype)
        reduce[1, (bx, by)](all_out, root_out, device.to_device(values.ravel()))
        rows = [chain(list(values[y])) for y in range(by)]
        want = chain(rows)
        got = all_out.copy_to_host().reshape(by, bx, n).astype(np.float32)
        np.testing.assert_array_equal(got, np.broadcast_to(want.astype(np.float32), got.shape))
        for y in range(by):
            east, west = chain(list(values[y, root + 1:])), chain(list(values[y, root - 1::-1]))
            want_root = ufunc(ufunc(values[y, root], east).astype(dtype), west).astype(dtype)
            got_root = root_out.copy_to_host().reshape(by, bx, n)[y, root].astype(np.float32)
            np.testing.assert_array_equal(got_root, want_root.astype(np.float32))


@ws.jit
def _word_by_word(values, out, n: ws.constant, go):
    x = ws.threadIdx.x
    v = ws.local.array(n, ml_dtypes.bfloat16)  # (float16 streams: bfloat16, which has no stream op, goes word by word)
    part = ws.local.array(16, ml_dtypes.bfloat16)
    v[0:n] = values[x, 0:n]
    ws.syncthreads()
    if go:  # PE x adds what comes from the east to its own and passes it on west, word by word (c = 0)
        lines.chain_step(v, part, wsc.SUM, 0, ws.EAST, ws.WEST, ws.has_neighbor(ws.EAST), x > 0, 0)
    ws.syncthreads()
    if x == 0:
        out[0:n] = v[0:n]


def _word_chain_cycles(p: int, n: int) -> float:
    """Cycles of the word-by-word chain of n bfloat16 words to PE 0 of a row of p `wse2` PEs (the launch with
    it minus the one without), the sum checked against NumPy (small integers: exact in bfloat16)."""
    device = ws.Device(ws.WaferSpec.preset("wse2", width=p, height=1, global_bytes_per_s=1e18))
    values = np.random.default_rng(n + p).integers(-4, 5, size=(p, n)).astype(ml_dtypes.bfloat16)
    runs = []
    for go in (0, 1):
        out = device.device_array(n, ml_dtypes.bfloat16)
        runs.append(_word_by_word[1, (p, 1)](device.to_device(values), out, n, go).cycles)
    np.testing.assert_array_equal(out.copy_to_host().astype(np.float64), values.astype(np.float64).sum(axis=0))
    return runs[1] - runs[0]


@pytest.mark.parametrize("n, per_word, per_hop", [(16, "WORD_CYCLES", "WORD_HOP_CYCLES"),
                                                  (lines.UNROLLED_WORDS, "UNROLLED_WORD_CYCLES",
                                                   "UNROLLED_WORD_HOP_CYCLES")])
def test_the_word_by_word_costs_chunk_words_weighs_are_the_simulated_ones(n, per_word, per_hop):
    """`chunk_words` picks between a chunked chain and a word-by-word one (16-bit arrays) with cycle costs
    measured on `wse2`: a word's and a hop's of the word loop (`chain_step`, c = 0), rolled (more than
    UNROLLED_WORDS words) or unrolled. Each is the slope of the simulated chain's cycles, in the array's
    length (n and 2 n words; n / 2 and n unrolled) and in the line's (5 and 9 PEs), within 10% of the
    constant. (They were 9 and 8, where the rolled loop costs 25 and 25.)"""
    shorter = n if n > lines.UNROLLED_WORDS else n // 2
    longer = 2 * n if n > lines.UNROLLED_WORDS else n
    word = (_word_chain_cycles(9, longer) - _word_chain_cycles(9, shorter)) / (longer - shorter)
    hop = (_word_chain_cycles(9, n) - _word_chain_cycles(5, n)) / 4
    assert word == pytest.approx(getattr(lines, per_word), rel=0.1), word
    assert hop == pytest.approx(getattr(lines, per_hop), rel=0.1), hop
