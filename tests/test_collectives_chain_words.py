"""The collectives' chain words against the kernel's own words on the same FIFO (`wafersim.collectives`'
chains pass partial results as plain neighbour words): the chains' words carry tags of their own
(isa.opcodes.chain_tag), so a chain taking a kernel's word, or a kernel's receive taking a chain's, stops with
`ws.ChainWordError` instead of a wrong result; balanced exchanges on the same channels still compute NumPy's
answer. (tests/test_kernels_basic.py pins `allreduce`'s own FIFOs.)"""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import wafersim as ws
from conftest import line_of
from wafersim import collectives as wsc
from wafersim.isa.opcodes import WORD_TAG, chain_tag, is_chain_tag, stream_word_tag
from wafersim.kernels.reduce import SUM, allreduce
from wafersim.sim.strategy import REFERENCE, Strategy, forced


@ws.jit
def _receive_before_the_call(values, out):
    """Each PE receives its east neighbour's word before `allreduce`, but the neighbour sends it after: the
    receive meets the chain's partial result first."""
    x, y = ws.grid(2)
    v = values[y, x]
    word = 0.0
    if ws.has_neighbor(ws.EAST):
        word = ws.recv(ws.EAST)  # (the receive)
    total = allreduce(v, SUM)  # (the call)
    if ws.has_neighbor(ws.WEST):
        ws.send(ws.WEST, v * 100.0)
    out[y, x] = total + word


@pytest.mark.parametrize("strategy", [REFERENCE, Strategy()], ids=["reference", "default"])
def test_a_kernel_receive_taking_a_chain_word_stops_with_the_same_error_under_every_strategy(strategy):
    values = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    with forced(strategy):
        dev = ws.Device(ws.WaferSpec(width=8, height=8))
        with pytest.raises(ws.ChainWordError) as info:
            _receive_before_the_call[1, (4, 3)](dev.to_device(values), dev.device_array(values.shape))
    err = info.value
    # the east-most PE sends its value first (the chain's start): its west neighbour's receive takes it
    assert (err.pe, err.sender, err.channel, err.chain_side) == ((2, 0), (3, 0), 0, "kernel")
    assert err.source == (__file__, line_of(_receive_before_the_call, "(the receive)"))
    assert err.sender_source == err.chain_call == (__file__, line_of(_receive_before_the_call, "(the call)"))
    assert "docs/kernels.md" in str(err)
    # the advice fits this side: the receive came before the call and its word after it (not "receive your
    # words before the call", which the kernel did)
    assert "both before the collective is called or both after it" in str(err), str(err)
    assert "receive your words there before" not in str(err)


@ws.jit
def _halos_then_allreduce(values, out, steps):
    """bench `bicgstab7`'s pattern: each step, halos in all four directions on channel 0, all received,
    then a block all-reduce on channel 0 (its chains share the west and north FIFOs with the halos)."""
    x, y = ws.grid(2)
    v = values[y, x]
    for _ in range(steps):
        for d in (ws.NORTH, ws.EAST, ws.SOUTH, ws.WEST):
            if ws.has_neighbor(d):
                ws.send(d, v, channel=0)
        halo = 0.0
        for d in (ws.NORTH, ws.EAST, ws.SOUTH, ws.WEST):
            if ws.has_neighbor(d):
                halo += ws.recv(d, channel=0)
        v = wsc.block_all_reduce(v + 0.5 * halo, SUM, channel=0) / 16.0
    out[y, x] = v


def test_balanced_halos_before_each_all_reduce_on_its_channels_compute_numpys_answer():
    values = (np.arange(12, dtype=np.float32).reshape(3, 4) % 5) - 2
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    out = dev.device_array(values.shape)
    _halos_then_allreduce[1, (4, 3)](dev.to_device(values), out, 3)
    expected = values.astype(np.float64)
    for _ in range(3):
        padded = np.pad(expected, 1)
        halo = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
        expected = np.full_like(expected, (expected + 0.5 * halo).sum() / 16.0)
    # (small integers and halves: every float32 sum and the division by 16 are exact)
    np.testing.assert_array_equal(out.copy_to_host(), expected.astype(np.float32))


@ws.jit
def _word_across_a_row_reduce(values, out, channel: ws.constant, mine: ws.constant, op: ws.constant):
    """A word west on channel `mine` across `wsc.row_all_reduce(v, op, channel)`, received after it."""
    x, y = ws.grid(2)
    v = values[y, x]
    if ws.has_neighbor(ws.WEST):
        ws.send(ws.WEST, v * 100, channel=mine)
    total = wsc.row_all_reduce(v, op, channel=channel)
    word = v - v
    if ws.has_neighbor(ws.EAST):
        word = ws.recv(ws.EAST, channel=mine, dtype=values.dtype)
    out[y, x] = total + word


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("op", [wsc.SUM, wsc.MAX])
@pytest.mark.parametrize("mine", [1, 3])
def test_a_word_on_a_line_collectives_chain_channel_stops_the_kernel_and_others_add_up(dtype, op, mine):
    """`row_all_reduce(channel=1)` chains west on channel 1 (a stream op for SUM, receives for MAX) and
    broadcasts on 2: a word of the kernel's own west on 1 across it is a ChainWordError, one on 3 NumPy's."""
    values = (np.arange(12).reshape(3, 4) - 4).astype(dtype)
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    out = dev.device_array(values.shape, dtype)
    launch = lambda: _word_across_a_row_reduce[1, (4, 3)](dev.to_device(values), out, 1, mine, op)  # noqa: E731
    if mine == 1:
        with pytest.raises(ws.ChainWordError) as info:
            launch()
        assert (info.value.pe, info.value.sender, info.value.channel) == ((0, 0), (1, 0), 1)
        said = {np.float32: "took a float32 word", np.int32: "took an int32 word"}[dtype]  # (once "a int32")
        assert said in str(info.value), str(info.value)
        return
    launch()
    reduced = values.sum(axis=1) if op == wsc.SUM else values.max(axis=1)
    words = np.zeros_like(values)
    words[:, :-1] = values[:, 1:] * 100
    np.testing.assert_array_equal(out.copy_to_host(), reduced[:, None] + words)


def _word_across_an_array_reduce(dtype, n: int):
    """A kernel sending a word west on channel 0 across `wsc.row_reduce_array` of an n-element `dtype` array
    (float32: a stream op; bfloat16: word by word, or chunks through background receives)."""
    @ws.jit
    def kernel(values, out):
        x, y = ws.grid(2)
        acc = ws.local.array(n, dtype)
        part = ws.local.array(n, dtype)
        for k in range(n):
            acc[k] = values[y, x] + k
        if ws.has_neighbor(ws.WEST):
            ws.send(ws.WEST, acc[0:1], channel=0)
        wsc.row_reduce_array(acc, part, 0, wsc.SUM, 0)
        if ws.has_neighbor(ws.EAST):
            ws.recv(ws.EAST, out=part[0:1], channel=0)
        out[y, x] = acc[0]
    return kernel


@pytest.mark.parametrize("dtype,n", [(np.float32, 8), (ml_dtypes.bfloat16, 3), (ml_dtypes.bfloat16, 64)])
def test_a_word_across_an_array_reduce_stops_the_kernel_whatever_moves_the_chain(dtype, n):
    values = np.arange(6, dtype=np.float32).reshape(1, 6)
    dev = ws.Device(ws.WaferSpec(width=8, height=2))
    with pytest.raises(ws.ChainWordError) as info:
        _word_across_an_array_reduce(dtype, n)[1, (6, 1)](dev.to_device(values), dev.device_array(values.shape))
    assert (info.value.channel, info.value.chain_side) == (0, "collective")
    article = "an" if info.value.sent_type[0] in "aeiou" else "a"
    assert f"took {article} {info.value.sent_type} word of the kernel's own" in str(info.value)
    assert "receive your words there before the collective is called" in str(info.value)


def test_chain_tags_are_their_types_tags_moved_past_the_plain_ones_and_assemble():
    """`cf32` ... `cbf16` are the plain types' tags + 4 (raw stays raw); a stream op's `.c` flag gives its
    words the chain tag of its element type; the modifiers round-trip through assembly text."""
    for name in ("f32", "i32", "f16", "bf16"):
        assert WORD_TAG["c" + name] == chain_tag(WORD_TAG[name]) and is_chain_tag(WORD_TAG["c" + name])
        assert not is_chain_tag(WORD_TAG[name])
    assert chain_tag(WORD_TAG["raw"]) == WORD_TAG["raw"]
    assert stream_word_tag("vaddx", 1 | 2) == WORD_TAG["cf32"] and stream_word_tag("vaddx", 1) == WORD_TAG["f32"]
    assert stream_word_tag("vminx", 2) == WORD_TAG["ci32"] and stream_word_tag("vhaddx", 2) == WORD_TAG["cf16"]
    text = ("send.cf32 west, 3, r1\nrecv.ci32 r2, east, 3\nvaddx.fc west, east, 3, r3, r4\n"
            "vhmaxx.c none, south, 2, r3, r4\nvaddx.f west, east, 3, r3, r4\nhalt\n")
    program = ws.assemble(text)
    again = ws.assemble(ws.disassemble(program))
    assert np.array_equal(again.code, program.code)
    shown = ws.disassemble(program)
    for modifier in ("send.cf32 ", "recv.ci32 ", "vaddx.fc ", "vhmaxx.c ", "vaddx.f "):
        assert modifier in shown


# Raw words (`bitcast=True` receives, `send_nonzeros` / `recv_fma`, untyped assembly) are never type-checked,
# but they are the kernel's own: a raw receive taking a chain's word, or a chain taking a raw word, is a
# ChainWordError like a typed one's (chain52; before, both were taken silently: a wrong sum).


@ws.jit
def _bitcast_receive_across_the_call(values, out, into_slice: ws.constant, before: ws.constant):
    """Each PE's bitcast receive from the east, before `allreduce` or after it; the east neighbour's word is
    always sent after the call (before: the receive meets the chain's partial result first)."""
    x, y = ws.grid(2)
    v = values[y, x]
    buf = ws.local.array(1, np.float32)
    buf[0] = 0.0
    if before and ws.has_neighbor(ws.EAST):
        if into_slice:
            ws.recv(ws.EAST, out=buf[0:1], bitcast=True)
        else:
            buf[0] = ws.recv(ws.EAST, dtype=np.float32, bitcast=True)  # (the receive)
    total = allreduce(v, SUM)  # (the call)
    if ws.has_neighbor(ws.WEST):
        ws.send(ws.WEST, v * 100.0)
    if not before and ws.has_neighbor(ws.EAST):
        if into_slice:
            ws.recv(ws.EAST, out=buf[0:1], bitcast=True)
        else:
            buf[0] = ws.recv(ws.EAST, dtype=np.float32, bitcast=True)
    out[y, x] = total + buf[0]


def _under_every_strategy(launch):
    """`launch()` under each of test_engine_strategies.STRATEGIES: the same output and statistics, or the same
    error (raised)."""
    from test_engine_strategies import run_every_strategy
    return run_every_strategy(launch)


@pytest.mark.parametrize("into_slice", [False, True], ids=["scalar", "slice"])
@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_a_bitcast_receive_taking_a_chain_word_stops_the_kernel_under_every_strategy(into_slice, before):
    values = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    dev = ws.Device(ws.WaferSpec(width=8, height=8))

    def launch():
        out = dev.device_array(values.shape)
        stats = _bitcast_receive_across_the_call[1, (4, 3)](dev.to_device(values), out, into_slice, before)
        return out.copy_to_host(), stats

    if not before:  # both sides of the word after the call: NumPy's sum plus the neighbour's word
        words = np.zeros_like(values)
        words[:, :-1] = values[:, 1:] * 100
        np.testing.assert_array_equal(_under_every_strategy(launch)[0], values.sum() + words)
        return
    with pytest.raises(ws.ChainWordError) as info:
        _under_every_strategy(launch)
    err = info.value
    assert (err.pe, err.sender, err.channel, err.chain_side) == ((2, 0), (3, 0), 0, "kernel")
    assert err.sender_source == err.chain_call == (__file__, line_of(_bitcast_receive_across_the_call, "(the call)"))
    assert (err.sent_type, err.received_type) == ("float32", "raw")


def _raw_words_across_a_reduce(kind: str, n: int, before: bool):
    """`send_nonzeros` (raw words: a count, then a value and an index per nonzero) west on channel 0 before or
    after a reduction whose chain runs west on channel 0 (`kind` "allreduce": scalar receives; "array": a
    `wsc.row_all_reduce_array` of n elements, float32 through a stream op, bfloat16 word by word or in background
    chunks), and `recv_fma` of them after it."""
    dtype = np.float32 if kind == "allreduce" or n == 8 else ml_dtypes.bfloat16

    @ws.jit
    def kernel(values, out):
        x, y = ws.grid(2)
        v = values[y, x]
        mine = ws.local.array(2, np.float32)
        pairs = ws.local.array(4, np.float32)
        got = ws.local.array(2, np.float32)
        acc = ws.local.array(n, dtype)
        part = ws.local.array(n, dtype)
        for k in range(n):
            acc[k] = v + k
        mine[0], mine[1], got[0], got[1] = v, 0.0, 0.0, 0.0
        if before and ws.has_neighbor(ws.WEST):
            ws.send_nonzeros(ws.WEST, mine, pairs)  # (the send)
        if kind == "allreduce":
            total = allreduce(v, SUM)  # (the call)
        else:
            wsc.row_all_reduce_array(acc, part, wsc.SUM, 0)  # (the array call)
            total = v - v + acc[0]
        if not before and ws.has_neighbor(ws.WEST):
            ws.send_nonzeros(ws.WEST, mine, pairs)
        if ws.has_neighbor(ws.EAST):
            ws.recv_fma(ws.EAST, got, 1.0, pairs)
        out[y, x] = total + got[0]
    return kernel


@pytest.mark.parametrize("kind,n", [("allreduce", 1), ("array", 8), ("array", 3), ("array", 64)])
@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_a_chain_taking_a_raw_word_stops_the_kernel_under_every_strategy(kind, n, before):
    values = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    if kind == "array":
        values = values[:1] - 1  # (one row: the row's chain is the whole reduction; a zero sends only its count)
    rows, cols = values.shape
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    kernel = _raw_words_across_a_reduce(kind, n, before)

    def launch():
        out = dev.device_array(values.shape)
        stats = kernel[1, (cols, rows)](dev.to_device(values), out)
        return out.copy_to_host(), stats

    if not before:
        words = np.zeros_like(values)
        words[:, :-1] = values[:, 1:]
        reduced = values.sum() if kind == "allreduce" else values.sum(axis=1, keepdims=True)
        np.testing.assert_array_equal(_under_every_strategy(launch)[0], reduced + words)
        return
    with pytest.raises(ws.ChainWordError) as info:
        _under_every_strategy(launch)
    err = info.value
    assert (err.channel, err.chain_side, err.sent_type) == (0, "collective", "raw")
    assert "took a raw word of the kernel's own" in str(err), str(err)


_ASSEMBLY_PAIR = """
.args 1
    sreg r1, tid.x
    li r2, 7
    bnz r1, receiver
    send{sent} east, 0, r2
    halt
receiver:
    recv{taken} r3, west, 0
    arg r4, 0
    gst r3, r4, 0
    halt
"""


@pytest.mark.parametrize("sent,taken,expected", [
    ("", "", "word"), (".f32", "", "word"), ("", ".i32", "word"), (".cf32", ".cf32", "word"),
    (".cf32", "", "kernel"), (".ci32", ".f32", "kernel"), ("", ".cf32", "collective"), (".i32", ".ci32", "collective")])
def test_untyped_assembly_words_and_chain_words_meet_only_on_their_own_side(sent, taken, expected):
    """A raw `send`/`recv` (untyped assembly) takes and gives words of any plain type, never a chain's: the
    word's bits arrive where both sides are plain, or the same chain type; a ChainWordError where exactly one
    side is a chain's (`expected`: which side took the other's word), under every strategy."""
    def launch():
        dev = ws.Device(ws.WaferSpec(width=4, height=1))
        out = dev.device_array(1, np.int32)
        stats = dev.launch(ws.assemble(_ASSEMBLY_PAIR.format(sent=sent, taken=taken)), 1, (2, 1), (out,),
                           print_output=False)
        return out.copy_to_host(), stats

    if expected == "word":
        np.testing.assert_array_equal(_under_every_strategy(launch)[0], [7])
        return
    with pytest.raises(ws.ChainWordError) as info:
        _under_every_strategy(launch)
    assert (info.value.pe, info.value.sender, info.value.chain_side) == ((1, 0), (0, 0), expected)


@ws.jit
def _bitcast_receives_around_an_int_all_reduce(values, bits, out, seen):
    """Each PE's east neighbour sends it an int32 word before an int32 `allreduce` and another after it, on
    the channel the chain's words share; each is received with bitcast=True as a float32 (what bitcast is
    for: another type's bits), scalar and into a slice."""
    x, y = ws.grid(2)
    got = ws.local.array(2, np.float32)
    got[0] = 0.0
    got[1] = 0.0
    if ws.has_neighbor(ws.WEST):
        ws.send(ws.WEST, bits[y, x])
    if ws.has_neighbor(ws.EAST):
        got[0] = ws.recv(ws.EAST, dtype=np.float32, bitcast=True)
    total = allreduce(values[y, x], SUM)
    if ws.has_neighbor(ws.WEST):
        ws.send(ws.WEST, bits[y, x] + 1)
    if ws.has_neighbor(ws.EAST):
        ws.recv(ws.EAST, out=got[1:2], bitcast=True)
    out[y, x] = total
    seen[y, x] = got[0] + got[1]


def test_bitcast_receives_of_another_type_s_words_around_an_int_chain_read_their_bits_under_every_strategy():
    """review52b: chain52's rule refuses raw words only across the chain's line; a bitcast receive of the
    kernel's own int32 words (read as float32 bits) on the FIFO an int32 chain (`ci32`) drains between them is
    the kernel's, under every strategy: NumPy's view of the bits, and NumPy's sum."""
    values = np.arange(12, dtype=np.int32).reshape(3, 4) * 7 - 30
    bits = (np.arange(12, dtype=np.float32).reshape(3, 4) + 0.5).view(np.int32)
    dev = ws.Device(ws.WaferSpec(width=8, height=8))

    def launch():
        out, seen = dev.device_array(values.shape, np.int32), dev.device_array(values.shape)
        stats = _bitcast_receives_around_an_int_all_reduce[1, (4, 3)](dev.to_device(values), dev.to_device(bits),
                                                                      out, seen)
        return (out.copy_to_host(), seen.copy_to_host()), stats

    (out, seen), _ = _under_every_strategy(launch)
    expected = np.zeros(values.shape, dtype=np.float32)
    expected[:, :-1] = bits[:, 1:].view(np.float32) + (bits[:, 1:] + 1).view(np.float32)
    np.testing.assert_array_equal(out, np.full(values.shape, values.sum()))
    np.testing.assert_array_equal(seen, expected)


@ws.jit
def _recv_fma_before_the_call(values, out):
    """Each PE's `recv_fma` from the east before `allreduce`; the east neighbour's `send_nonzeros` comes after
    the call: the raw receive meets the chain's partial result first."""
    x, y = ws.grid(2)
    v = values[y, x]
    mine = ws.local.array(2, np.float32)
    pairs = ws.local.array(4, np.float32)
    got = ws.local.array(2, np.float32)
    mine[0], mine[1], got[0], got[1] = v, 0.0, 0.0, 0.0
    if ws.has_neighbor(ws.EAST):
        ws.recv_fma(ws.EAST, got, 1.0, pairs)  # (the receive)
    total = allreduce(v, SUM)  # (the call)
    if ws.has_neighbor(ws.WEST):
        ws.send_nonzeros(ws.WEST, mine, pairs)
    out[y, x] = total + got[0]


def test_a_recv_fma_taking_a_chain_word_stops_the_kernel_under_every_strategy():
    """review52b: `recv_fma`'s raw receive (a count, then value and index words) is the kernel's, as a bitcast
    receive is: meeting the chain's partial result on its FIFO, it stops with the ChainWordError the scalar
    and slice bitcast receives give, under every strategy (not a count read from a float's bits)."""
    values = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    dev = ws.Device(ws.WaferSpec(width=8, height=8))

    def launch():
        out = dev.device_array(values.shape)
        stats = _recv_fma_before_the_call[1, (4, 3)](dev.to_device(values), out)
        return out.copy_to_host(), stats

    with pytest.raises(ws.ChainWordError) as info:
        _under_every_strategy(launch)
    err = info.value
    assert (err.pe, err.sender, err.channel, err.chain_side) == ((2, 0), (3, 0), 0, "kernel")
    assert err.chain_call == (__file__, line_of(_recv_fma_before_the_call, "(the call)"))
    assert (err.sent_type, err.received_type) == ("float32", "raw")


def _block_all_reduce_of(dtype, n: int):
    @ws.jit
    def all_reduce(out, values):
        i = ws.threadIdx.y * ws.blockDim.x + ws.threadIdx.x
        v = ws.local.array(n, dtype)
        part = ws.local.array(16, dtype)
        v[0:n] = values[i, 0:n]
        wsc.block_all_reduce_array(v, part, wsc.SUM, 2)
        out[i, 0:n] = v[0:n]
    return all_reduce


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.int32], ids=["f16", "bf16", "i32"])
def test_array_all_reduces_of_each_chain_type_match_numpy_under_every_strategy(dtype):
    """review52b: the chains' own words of the other types (`cf16` through `vhaddx.c`, `cbf16` through vector
    and background receives, `ci32` through `vaddx.c`; sends `sendv` and `senda`) pass chain52's rule on every
    path: each strategy gives the same run and NumPy's sums (small integers: exact in every type, in any
    order). test_engine_strategies covers float32 only."""
    n, block = 12, (5, 3)
    values = np.random.default_rng(3).integers(-9, 10, (block[0] * block[1], n)).astype(dtype)
    kernel = _block_all_reduce_of(dtype, n)

    def launch():
        device = ws.Device(ws.WaferSpec.preset("wse2", width=block[0], height=block[1]))
        out = device.device_array(values.shape, dtype)
        stats = kernel[1, block](out, device.to_device(values))
        return out.copy_to_host(), stats

    out, _ = _under_every_strategy(launch)
    want = values.astype(np.float64).sum(axis=0)
    np.testing.assert_array_equal(out.astype(np.float64), np.broadcast_to(want, out.shape))
