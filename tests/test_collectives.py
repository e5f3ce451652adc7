"""wafersim.collectives (src/wafersim/collectives/) against NumPy: broadcast, scatter, gather, reduce and
all-reduce over rows, columns and whole blocks, for scalars and arrays, odd and 1-PE blocks."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import collectives as wsc

SPEC = ws.WaferSpec.preset("dev", width=12, height=10, ramp_latency=2, channels=24)
REDUCE = {wsc.SUM: np.sum, wsc.MAX: np.max, wsc.MIN: np.min}
BLOCKS = [(1, 1), (1, 5), (6, 1), (5, 3), (7, 4)]


def launch(kernel, block, values: np.ndarray, dtype=np.float32, *extra):
    device = ws.Device(SPEC)
    out = device.to_device(np.zeros(values.size, dtype))
    stats = kernel[1, block](out, device.to_device(values.astype(dtype)), *extra)
    return out.copy_to_host().reshape(block[1], block[0]), stats


def data(block, dtype=np.float32, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-50, 50, block[1] * block[0]).astype(dtype)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("op", [wsc.SUM, wsc.MAX, wsc.MIN])
def test_scalar_all_reduces_match_numpy(block, op):
    @ws.jit
    def all_reduce(out, values):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        i = y * ws.blockDim.x + x
        v = values[i]
        r = wsc.row_all_reduce(v, op, channel=1)  # channels 1, 2
        c = wsc.column_all_reduce(v, op, channel=3)  # 3, 4
        b = wsc.block_all_reduce(v, op, channel=5)  # 5, 6, 7
        out[i] = r + 1000 * c + 1000000 * b

    values = data(block, np.int32)
    got, _ = launch(all_reduce, block, values, np.int32)
    grid = values.reshape(block[1], block[0])
    f = REDUCE[op]
    expected = (f(grid, axis=1, keepdims=True) + 1000 * f(grid, axis=0, keepdims=True) + 1000000 * f(grid))
    np.testing.assert_array_equal(got, np.broadcast_to(expected, got.shape))


@pytest.mark.parametrize("op", [wsc.MAX, wsc.MIN])
def test_a_nan_wins_a_max_or_min_wherever_it_sits(op):
    """np.max/np.min propagate a NaN; Python's max(a, b) keeps a when b is one, so a reduction built on it
    would answer by where the NaN sits (a mutation back to plain max/min fails for most positions)."""
    @ws.jit
    def all_reduce(out, values):
        i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
        v = values[i]
        out[i] = wsc.row_all_reduce(v, op, channel=1) + wsc.column_all_reduce(v, op, channel=3) \
            + wsc.block_all_reduce(v, op, channel=5)

    block = (5, 3)
    for position in range(15):
        values = data(block)
        values[position] = np.nan
        got, _ = launch(all_reduce, block, values)
        grid = values.reshape(block[1], block[0])
        f = REDUCE[op]
        expected = f(grid, axis=1, keepdims=True) + f(grid, axis=0, keepdims=True) + f(grid)
        np.testing.assert_array_equal(got, np.broadcast_to(expected, got.shape), err_msg=f"NaN at {position}")


@pytest.mark.parametrize("block", BLOCKS)
def test_reduce_to_any_root_and_broadcast_from_any_root(block):
    bx, by = block
    rx, ry = bx // 2, by // 2

    @ws.jit
    def to_root(out, values):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        i = y * ws.blockDim.x + x
        total = wsc.block_reduce(values[i], rx, ry, wsc.SUM, channel=2)  # 2 .. 5
        row_total = wsc.row_reduce(values[i], rx, wsc.SUM, channel=2)  # the same chains as its rows
        spread = wsc.block_broadcast(values[i], rx, ry, channel=6)
        col_spread = wsc.column_broadcast(values[i], ry, channel=7)
        result = spread + 10.0 * col_spread
        if x == rx:
            result += 100.0 * row_total
        if x == rx and y == ry:
            result += 100000.0 * total
        out[i] = result

    values = data(block, seed=1)
    got, _ = launch(to_root, block, values)
    grid = values.reshape(by, bx)
    expected = grid[ry, rx] + 10.0 * np.broadcast_to(grid[ry][None, :], grid.shape)
    expected[:, rx] += 100.0 * grid.sum(axis=1)
    expected[ry, rx] += 100000.0 * grid.sum()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("block", [(1, 1), (5, 3), (3, 6)])
@pytest.mark.parametrize("n", [1, 33, 70])
def test_array_all_reduce_and_broadcast_match_numpy(block, n):
    bx, by = block

    @ws.jit
    def arrays(out, values):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        i = y * ws.blockDim.x + x
        buf = ws.local.array(n, np.float32)
        part = ws.local.array(wsc.CHUNK, np.float32)
        row = ws.local.array(n, np.float32)
        for k in range(n):
            buf[k] = values[i] + k
            row[k] = values[i] * (k + 1)
        wsc.block_all_reduce_array(buf, part, wsc.SUM, channel=1)  # 1, 2, 3
        wsc.row_all_reduce_array(row, part, wsc.MAX, channel=4)  # 4, 5
        out[i] = buf[n - 1] + 0.001 * row[n - 1]

    values = data(block, seed=2)
    got, _ = launch(arrays, block, values)
    grid = values.reshape(by, bx)
    block_total = (grid + (n - 1)).sum()
    row_max = (grid * n).max(axis=1, keepdims=True)
    expected = np.float32(block_total) + np.float32(0.001) * row_max  # (integers: sums are exact)
    np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), rtol=1e-6)


@pytest.mark.parametrize("block", [(1, 1), (6, 1), (5, 4)])
def test_scatter_and_gather_along_rows_and_columns(block):
    bx, by = block

    @ws.jit
    def scatter_gather(out, values):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        i = y * ws.blockDim.x + x
        row = ws.local.array(bx, np.float32)
        column = ws.local.array(by, np.float32)
        if x == bx - 1:
            for k in range(bx):
                row[k] = values[y * ws.blockDim.x + k] * 2.0
        mine = wsc.row_scatter(row, bx - 1, channel=1)  # = 2 * values[i]
        wsc.column_gather(mine + y, column, 0, channel=2)  # 2, 3
        result = mine
        if y == 0:
            for k in range(by):
                result += 1000.0 * (k + 1) * column[k]
        out[i] = result

    values = data(block, seed=3)
    got, _ = launch(scatter_gather, block, values)
    grid = values.reshape(by, bx)
    expected = 2.0 * grid
    gathered = 2.0 * grid + np.arange(by)[:, None]  # column k, row j: what PE (k, j) sent
    expected[0] += (1000.0 * np.arange(1, by + 1)[:, None] * gathered).sum(axis=0)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("block", [(1, 1), (6, 1), (5, 4), (1, 5)])
def test_all_gather_and_reduce_scatter_along_rows_and_columns(block):
    """NCCL's all-gather and reduce-scatter with one element per PE: against NumPy (integer-valued floats, so
    the sums are exact in any order)."""
    bx, by = block

    @ws.jit
    def gather_scatter(out, values):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        i = y * ws.blockDim.x + x
        row = ws.local.array(bx, np.float32)
        column = ws.local.array(by, np.float32)
        part = ws.local.array(by, np.float32)
        wsc.row_all_gather(values[i] * 3.0, row, channel=1)  # 1, 2
        for k in range(by):
            column[k] = values[i] + k * 10.0
        mine = wsc.column_reduce_scatter(column, part, wsc.SUM, channel=3)  # 3, 4
        seen = 0.0
        for k in range(bx):
            seen += row[k] * (k + 1)
        out[i] = seen + 1000.0 * mine

    values = data(block, seed=4)
    got, _ = launch(gather_scatter, block, values)
    grid = values.reshape(by, bx)
    seen = (3.0 * grid * np.arange(1, bx + 1)).sum(axis=1, keepdims=True)  # every PE of a row: its row's weighted sum
    # column x's reduce-scatter: element y of sum over j of (grid[j, x] + 10 y), kept by PE (x, y)
    mine = grid.sum(axis=0)[None, :] + by * 10.0 * np.arange(by)[:, None]
    np.testing.assert_array_equal(got, seen + 1000.0 * mine)


@ws.jit
def _int_all_gather(out, values):
    x = ws.threadIdx.x
    row = ws.local.array(7, np.int32)
    wsc.row_all_gather(values[x] * 2, row, channel=0)
    total = 0
    for k in range(7):
        total = total * 3 + row[k]
    out[x] = total


def test_an_int32_all_gather_gives_every_pe_the_whole_row():
    values = np.arange(-3, 4, dtype=np.int32)
    dev = ws.Device(ws.WaferSpec(width=8, height=2))
    d_out = dev.device_array(7, np.int32)
    _int_all_gather[1, (7, 1)](d_out, dev.to_device(values))
    expected = 0
    for v in values * 2:
        expected = expected * 3 + int(v)
    assert d_out.copy_to_host().tolist() == [expected] * 7


def test_routed_broadcast_is_faster_than_a_hop_by_hop_relay_and_the_gap_grows_with_the_line():
    """A relay costs a receive and a send at every PE on the way; the routed broadcast one cycle a hop."""
    @ws.jit
    def relay(out, values):
        x = ws.threadIdx.x
        v = values[0]
        if x > 0:
            v = ws.recv(ws.WEST)
        if x < ws.blockDim.x - 1:
            ws.send(ws.EAST, v)
        out[x] = v

    @ws.jit
    def routed(out, values):
        out[ws.threadIdx.x] = wsc.row_broadcast(values[0], 0, channel=1)

    gaps = []
    for width in (6, 12):
        values = np.arange(width, dtype=np.float32) + 5
        got_relay, relay_stats = launch(relay, (width, 1), values)
        got_routed, routed_stats = launch(routed, (width, 1), values)
        np.testing.assert_array_equal(got_routed, got_relay)
        np.testing.assert_array_equal(got_routed, np.full((1, width), values[0]))
        last = width - 1  # when the last PE of the line has its value (its span, less its final store)
        relay_span = relay_stats.busy[0, last] + relay_stats.stall[0, last]
        routed_span = routed_stats.busy[0, last] + routed_stats.stall[0, last]
        gaps.append(relay_span - routed_span)
    assert 0 < gaps[0] < gaps[1]


@ws.jit
def _reduce_by(out, values, op):  # op: a plain parameter, known only when the kernel runs
    x = ws.threadIdx.x
    out[x] = wsc.row_all_reduce(values[x], op, channel=0)  # MARK-runtime-op


@ws.jit
def _reduce_by_constant(out, values, op: ws.constant):
    x = ws.threadIdx.x
    out[x] = wsc.row_reduce(values[x], 0, op, channel=0)


@ws.jit
def _reduce_arrays_by(out, values, op: ws.constant):
    x = ws.threadIdx.x
    a = ws.local.array(3, np.float32)
    part = ws.local.array(3, np.float32)
    for k in range(3):
        a[k] = values[x] + k
    wsc.row_all_reduce_array(a, part, op, channel=0)
    out[x] = a[2]


@pytest.mark.parametrize("kernel", [_reduce_by, _reduce_by_constant, _reduce_arrays_by])
@pytest.mark.parametrize("op", [7, -1, 1.5])
def test_an_op_that_is_no_operation_is_refused_at_the_users_call(kernel, op):
    """An `op` other than SUM, MAX, MIN (or one known only at run time, which compiles every branch) used to
    reduce by MIN without a word: a number that is no operation must not compile."""
    device = ws.Device(SPEC)
    values = device.to_device(np.arange(4, dtype=np.float32))
    with pytest.raises(ws.CompileError) as info:
        kernel[1, (4, 1)](device.device_array(4, np.float32), values, op)
    err = info.value
    assert err.file == __file__ and "op must be wsc.SUM, wsc.MAX or wsc.MIN" in str(err).splitlines()[0]
    assert "collectives" in err.library_file
    # the three operators still compile, as constants, and give NumPy's results
    for good, f in REDUCE.items():
        if kernel is _reduce_by:
            continue
        out = device.device_array(4, np.float32)
        kernel[1, (4, 1)](out, values, good)
        expected = f(np.arange(4, dtype=np.float32) + (2 if kernel is _reduce_arrays_by else 0))  # (a[2])
        assert out.copy_to_host()[0] == expected


@ws.jit
def _broadcast_from(out, values, root):
    x = ws.threadIdx.x
    out[x] = wsc.row_broadcast(values[x], root, channel=0)  # MARK-broadcast-root


@pytest.mark.parametrize("root", [4, 7, -1])
def test_a_broadcast_from_a_root_outside_the_block_deadlocks_and_says_to_check_the_root(root):
    """No PE of a 4-PE row is root 4, 7 or -1, so nobody sends: the DeadlockError names the call's line and
    says to check the root (it said only that every PE waits for a word from the ramp)."""
    device = ws.Device(SPEC)
    with pytest.raises(ws.DeadlockError) as info:
        _broadcast_from[1, (4, 1)](device.device_array(4, np.float32),
                                   device.to_device(np.arange(4, dtype=np.float32)), root)
    text = str(info.value)
    assert f"{__file__}:" in text and "MARK" not in text  # (the user's line; the source text is not quoted)
    assert info.value.source[0] == __file__
    assert "is the root inside the block, 0 <= root < the PEs along the line" in text
    # in range, the same launch works
    out = device.device_array(4, np.float32)
    _broadcast_from[1, (4, 1)](out, device.to_device(np.arange(4, dtype=np.float32)), 2)
    assert (out.copy_to_host() == 2).all()


@ws.jit
def _block_broadcast_from(out, root_x, root_y):
    i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
    out[i] = wsc.block_broadcast(i * 1.0, root_x, root_y, channel=0)  # MARK-block-broadcast-root


@pytest.mark.parametrize("root", [(3, 0), (0, 3), (-1, 1), (7, 7)])
def test_a_block_broadcast_from_a_root_outside_the_block_deadlocks_naming_the_call(root):
    """block_broadcast's root (root_x, root_y) outside a 3 x 3 block: no PE sends, every PE waits. The
    DeadlockError names the caller's line (not a line inside the library) and asks whether the root is in
    the block, as docs/routes.md says; no check is compiled in."""
    device = ws.Device(SPEC)
    with pytest.raises(ws.DeadlockError) as info:
        _block_broadcast_from[1, (3, 3)](device.device_array(9, np.float32), *root)
    text = str(info.value)
    lines = open(__file__).read().splitlines()
    call_line = next(n for n, line in enumerate(lines, 1) if line.endswith("# MARK-block-broadcast-root"))
    assert f"{__file__}:{call_line}" in text and "collectives/block.py" not in text
    assert "9 PEs" in text and "is the root inside the block" in text
    out = device.device_array(9, np.float32)                  # in range, every PE gets the root's index
    _block_broadcast_from[1, (3, 3)](out, 2, 1)
    assert (out.copy_to_host() == 1 * 3 + 2).all()



def test_a_collectives_channel_past_the_machines_says_which_channels_it_takes():
    """row_all_reduce(channel=c) routes c and c + 1 (docs/routes.md): on a machine with c + 1 channels the
    error names channel c + 1, the collective's use of it and the two ways out, not just the machine's count."""
    spec = ws.WaferSpec.preset("dev", width=8, height=8, channels=4)

    @ws.jit
    def biggest(out, values):
        x = ws.threadIdx.x
        out[x] = wsc.row_all_reduce(values[x], wsc.MAX, channel=3)

    device = ws.Device(spec)
    values = np.array([3.0, -1.0, 7.0, 2.0], np.float32)
    out = device.device_array(4)
    with pytest.raises(ws.RouteError, match=r"channel 4 as row_bus.*collective.*c \+ 1.*4 channels \(0\.\.3\)"
                                            r".*lower channel.*channels=") as info:
        biggest[1, (4, 1)](out, device.to_device(values))
    assert info.value.channel == 4 and "needs channels=5 or more" in str(info.value)
    assert "tree" not in str(info.value)  # (the tree's count of its own channels is for trees only)
    wide = ws.Device(ws.WaferSpec.preset("dev", width=8, height=8, channels=5))  # the second way out
    out = wide.device_array(4)
    biggest[1, (4, 1)](out, wide.to_device(values))
    assert np.array_equal(out.copy_to_host(), np.full(4, values.max()))


def _combine_in_python(a: float, b: float, op) -> float:
    """`wsc.combine` in plain Python: MAX/MIN propagate a nan from either side (b's if both are nans)."""
    return b if b != b else (max(a, b) if op == wsc.MAX else min(a, b))


@pytest.mark.parametrize("op", [wsc.MAX, wsc.MIN])
def test_max_and_min_all_reduces_keep_nan_payloads_and_zero_signs_bit_for_bit(op):
    """The chain combines each PE's value with what comes from beyond it (the row's suffix, then the first
    column's): the result, a nan's payload and the sign of a zero included, is what `combine` gives in plain
    Python folded in that order, whatever instruction the compiler chose for it."""
    @ws.jit
    def all_reduce(out, values):
        i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
        out[i] = wsc.block_all_reduce(values[i], op, channel=5)

    bx, by = block = (5, 3)
    nans = np.array([0x7FC00001, 0xFFC00002, 0x7FC12345, 0xFFF00000], np.uint32).view(np.float32)
    rng = np.random.default_rng(3)
    cases = [np.where(rng.random(bx * by) < 0.5, -0.0, 0.0).astype(np.float32) for _ in range(3)]
    for _ in range(6):
        values = rng.choice(np.array([-0.0, 0.0, 1.0, -1.0, np.inf, -np.inf], np.float32), bx * by)
        values[rng.choice(bx * by, rng.integers(1, 4), replace=False)] = rng.choice(nans, 3)[:1]
        values[rng.integers(bx * by)] = rng.choice(nans)
        cases.append(values)
    for values in cases:
        got, _ = launch(all_reduce, block, values)
        grid = values.reshape(by, bx).tolist()
        rows = []
        for row in grid:
            acc = row[-1]
            for v in reversed(row[:-1]):
                acc = _combine_in_python(v, acc, op)
            rows.append(acc)
        acc = rows[-1]
        for v in reversed(rows[:-1]):
            acc = _combine_in_python(v, acc, op)
        want = np.float32(acc).view(np.uint32)
        assert (got.view(np.uint32) == want).all(), (values.view(np.uint32), got.view(np.uint32), hex(want))


@pytest.mark.parametrize("block", [(1, 1), (2, 1), (6, 1), (5, 3), (2, 4)])
@pytest.mark.parametrize("n", [1, 16, 37, 100])
@pytest.mark.parametrize("op", [wsc.SUM, wsc.MAX, wsc.MIN])
def test_array_reduce_to_any_root_gives_every_element(block, n, op):
    """row_reduce_array / block_reduce_array to a root inside the block (chains from both sides), every
    element of the root's array against NumPy, through each way a chain moves a vector: word by word (n =
    16 over 6 PEs), chunks that wait in the FIFO (37; 100 over 6 PEs) and chunks of 32 words alternating
    between two halves of a 64-word scratch (100 over 2 and 4 PEs), each with a tail, and one word."""
    bx, by = block
    rx, ry = bx // 2, by // 2
    size = bx * by * n
    scratch = 64 if n == 100 else wsc.CHUNK

    @ws.jit
    def to_root(out, values):
        x, y = ws.threadIdx.x, ws.threadIdx.y
        i = y * ws.blockDim.x + x
        row = ws.local.array(n, np.float32)
        whole = ws.local.array(n, np.float32)
        part = ws.local.array(scratch, np.float32)
        for k in range(n):
            row[k] = values[i * n + k]
            whole[k] = values[i * n + k] * 2.0
        wsc.row_reduce_array(row, part, rx, op, channel=1)
        wsc.block_reduce_array(whole, part, rx, ry, op, channel=2)  # 2, 3
        for k in range(n):
            out[i * n + k] = row[k]
            out[size + i * n + k] = whole[k]

    rng = np.random.default_rng(n + 10 * bx + 100 * by)
    values = rng.integers(-50, 50, size).astype(np.float32)
    device = ws.Device(SPEC)
    out = device.to_device(np.zeros(2 * size, np.float32))
    to_root[1, block](out, device.to_device(values))
    got = out.copy_to_host()
    rows, whole = got[:size].reshape(by, bx, n), got[size:].reshape(by, bx, n)
    grid = values.reshape(by, bx, n)
    f = REDUCE[op]
    np.testing.assert_array_equal(rows[:, rx], f(grid, axis=1))
    np.testing.assert_array_equal(whole[ry, rx], f(2.0 * grid, axis=(0, 1)))


@ws.jit
def _row_reduce_cycles(values, out, n: ws.constant, scratch: ws.constant, go):
    x = ws.threadIdx.x
    v = ws.local.array(n, np.float32)
    part = ws.local.array(scratch, np.float32)
    v[0:n] = values[x, 0:n]
    ws.syncthreads()
    if go:
        wsc.row_reduce_array(v, part, 0, wsc.SUM, channel=0)
    ws.syncthreads()
    if x == 0:
        out[0:n] = v[0:n]


def _chain_cycles(P: int, n: int, scratch: int) -> float:
    """Cycles of row_reduce_array of n words over P wse2 PEs (the launch with it minus the one without),
    the sum checked against NumPy."""
    spec = ws.WaferSpec.preset("wse2", width=P, height=1, global_bytes_per_s=1e18)
    values = np.random.default_rng(n).integers(-8, 9, size=(P, n)).astype(np.float32)
    cycles = []
    for go in (0, 1):
        device = ws.Device(spec)
        out = device.device_array(n, np.float32)
        cycles.append(_row_reduce_cycles[1, (P, 1)](device.to_device(values), out, n, scratch, go).cycles)
    np.testing.assert_array_equal(out.copy_to_host(), values.sum(axis=0))
    return cycles[1] - cycles[0]


def test_a_long_array_chain_pipelines_at_about_a_cycle_a_word():
    """A long array moves in chunks that the PEs pipeline (background transfers, two chunks of scratch): the
    per-word cost approaches the combine's cycle a word (it was 4.4 when each PE received, added and sent
    each 16-word chunk one after the other), and doubling the array nearly doubles the time."""
    one, two = _chain_cycles(4, 2048, 256), _chain_cycles(4, 4096, 256)
    assert (two - one) / 2048 < 1.25  # (1.16: the combine, and a chunk's issues over 128 words)
    assert one < 2 * 2048  # (1.9: the chunks' way down the line on top)


def test_a_short_array_on_a_long_line_is_forwarded_word_by_word():
    """16 words over 32 PEs: each PE forwards each word once combined, so a hop costs a few cycles (the
    word's 2 ramps, the link, the receive, add and send), not a whole chunk's receive, add and send (60
    cycles a hop before)."""
    short, long = _chain_cycles(16, 16, 16), _chain_cycles(32, 16, 16)
    assert (long - short) / 16 < 8  # (7.4)


def test_arrays_of_up_to_short_words_go_word_by_word_on_every_line():
    """`line_reduce_array` skips `chunk_words` for up to SHORT_WORDS words (a constant length folds the test
    away): that must be the choice chunk_words itself makes for them, on every line and scratch size, so that
    skipping it changes no result or cycle but its own cost. Checked on the function's Python body and on
    the cost formulas of its docstring (words, an unrolled loop for so few: hops UNROLLED_WORD_HOP_CYCLES + n
    UNROLLED_WORD_CYCLES; one chunk: hops (2 n + PIPE_HOP_CYCLES) + n + PIPE_CHUNK_CYCLES, and more with
    several)."""
    from wafersim.collectives import lines

    assert lines.SHORT_WORDS <= lines.UNROLLED_WORDS
    for n in range(1, lines.SHORT_WORDS + 1):
        for hops in (1, 2, 3, 7, 31, 100, 755, 4096):
            words = hops * lines.UNROLLED_WORD_HOP_CYCLES + n * lines.UNROLLED_WORD_CYCLES
            assert words < hops * (2 * n + lines.PIPE_HOP_CYCLES) + n + lines.PIPE_CHUNK_CYCLES
            for room in (1, 2, 3, 4, 16, 32, 256, 4096):
                assert lines.chunk_words.py_func(n, hops, room) == 0, (n, hops, room)
    assert lines.chunk_words.py_func(lines.SHORT_WORDS + 60, 2, 256) > 0  # (longer ones do pipeline)


@pytest.mark.parametrize("bx, n", [(2, 100), (6, 16), (6, 37), (6, 100)])
@pytest.mark.parametrize("op", [wsc.SUM, wsc.MAX, wsc.MIN])
def test_array_reduce_propagates_nans_and_infinities_on_every_path(bx, n, op):
    """nan and +-inf elements, at the ends and in the middle of the line and of the array, reach the root as
    NumPy's reduction gives them (nan wherever one took part, inf - inf a nan for SUM), through each way a
    chain moves a vector (word by word: 16 words over 6 PEs; chunks waiting in the FIFO: 37 and 100 over 6;
    chunks alternating between two halves of a 64-word scratch: 100 over 2) and to a root at either end or
    inside the line (its two chains taken in turn). The other tests reduce whole numbers only."""
    scratch = 64 if n == 100 else wsc.CHUNK
    rng = np.random.default_rng(n + bx + op)
    values = rng.integers(-50, 50, (bx, n)).astype(np.float32)
    for pe, k, value in [(0, 0, np.nan), (bx - 1, n - 1, np.nan), (bx // 2, n // 2, np.inf),
                         (bx - 1, n // 2, -np.inf), (1, 1, np.nan), (0, n - 2, -np.inf), (bx - 1, n - 2, np.inf),
                         (bx // 2, 2, -np.inf)]:
        values[pe, k] = value
    with np.errstate(invalid="ignore"):
        want = REDUCE[op](values, axis=0)
    assert np.isnan(want).sum() >= 3 and np.isinf(want).any()  # (the cases reach both)
    for root in sorted({0, bx // 2, bx - 1}):
        @ws.jit
        def to_root(out, flat):
            x = ws.threadIdx.x
            row = ws.local.array(n, np.float32)
            part = ws.local.array(scratch, np.float32)
            for k in range(n):
                row[k] = flat[x * n + k]
            wsc.row_reduce_array(row, part, root, op, channel=1)
            for k in range(n):
                out[x * n + k] = row[k]

        device = ws.Device(SPEC)
        out = device.to_device(np.zeros(bx * n, np.float32))
        to_root[1, (bx, 1)](out, device.to_device(values.ravel()))
        got = out.copy_to_host().reshape(bx, n)[root]
        np.testing.assert_array_equal(got, want, err_msg=f"root {root}")


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float16])
def test_array_reduces_stream_32_bit_words_and_keep_chunks_for_16_bit_ones(dtype):
    """float32 and int32 chains are one stream op a PE (vaddx: each word combined and sent on as it arrives),
    16-bit ones still receive, combine and send in chunks; both give the chain's order of additions: at PE x,
    its own value plus what comes from beyond it, the root (inside the row) taking the east side, then the west."""
    n, width, root = 37, 5, 2

    @ws.jit
    def reduce(out, values):
        x = ws.threadIdx.x
        v = ws.local.array(n, dtype)
        part = ws.local.array(16, dtype)
        for k in range(n):
            v[k] = values[x * n + k]
        wsc.row_reduce_array(v, part, root, wsc.SUM, 0)
        for k in range(n):
            out[x * n + k] = v[k]

    rng = np.random.default_rng(5)
    raw = rng.standard_normal((width, n)) * (100 if dtype == np.int32 else 1)
    values = raw.astype(dtype)
    device = ws.Device(SPEC)
    out, d_values = device.device_array(width * n, dtype), device.to_device(values.ravel())
    reduce[1, (width, 1)](out, d_values)
    east = values[width - 1]
    for x in range(width - 2, root, -1):
        east = (values[x] + east).astype(dtype)
    west = values[0]
    for x in range(1, root):
        west = (values[x] + west).astype(dtype)
    want = ((values[root] + east).astype(dtype) + west).astype(dtype)
    np.testing.assert_array_equal(out.copy_to_host().reshape(width, n)[root], want)
    asm = reduce.compile_for(out, d_values).asm_text
    assert ("vaddx" in asm) == (dtype != np.float16)
