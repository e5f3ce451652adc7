"""A vector receive of the compiled interpreter that drains its FIFO with words still to come moves its parked
sender's next words itself (`transfers.pull`): the sender's `sendv` then runs at another host moment than its woken
run would, and must leave the same words, times, stalls and counts. Row relays of messages longer than the FIFO,
with receives cut at other lengths than the sends (a receive that spans two sends, a send that two receives take),
are checked against NumPy and, cycles and every per-PE statistic, against the strategies without the compiled
interpreter; float32 and int32 messages into one FIFO (a tag of their own: no pull across them)."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import wafersim as ws
from test_engine_strategies import run_every_strategy
from wafersim.sim.strategy import FAST, REFERENCE, Strategy

STRATEGIES = [REFERENCE, Strategy(compiled=False), Strategy(compiled_fabric=False), Strategy(event_wakeup=False),
              FAST]


def offsets(lengths: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sum(lengths[:k]) for k in range(len(lengths)))


@functools.lru_cache(maxsize=None)
def relay_kernel(sends: tuple[int, ...], receives: tuple[int, ...]):
    """Row y's words flow east from PE (0, y); PE x receives them in pieces of `receives`, scales them by its own
    factor and sends them on in pieces of `sends`; the east-most PE stores them."""
    total = sum(sends)
    assert sum(receives) == total
    send_at, receive_at = offsets(sends), offsets(receives)

    @ws.jit
    def relay(words, scale, out):
        x, y = ws.grid(2)
        buf = ws.local.array(total, np.float32)
        a = scale[y, x]
        if ws.has_neighbor(ws.WEST):
            for n, at in zip(receives, receive_at):
                ws.recv(ws.WEST, out=buf[at:at + n])
        else:
            buf[0:total] = words[y, 0:total]
        buf[0:total] = buf[0:total] * a
        if ws.has_neighbor(ws.EAST):
            for m, start in zip(sends, send_at):
                ws.send(ws.EAST, buf[start:start + m])
        else:
            out[y, 0:total] = buf[0:total]

    return relay


@pytest.mark.parametrize("depth", [1, 3, 16])
@pytest.mark.parametrize("sends,receives", [((5, 13, 37, 3), (5, 13, 37, 3)), ((5, 13, 37, 3), (18, 1, 39)),
                                            ((40, 2, 16), (1, 1, 20, 36))])
def test_relays_of_messages_longer_than_the_fifo_are_identical_under_every_strategy(depth, sends, receives):
    width, height = 9, 3
    rng = np.random.default_rng(depth)
    total = sum(sends)
    words = rng.integers(-4, 5, (height, total)).astype(np.float32)  # (small integers: the products stay exact)
    scale = rng.choice(np.array([-2, -1, 1, 2], dtype=np.float32), (height, width))
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=depth)
    kernel = relay_kernel(sends, receives)

    def launch():
        dev = ws.Device(spec)
        d_out = dev.device_array(words.shape, np.float32)
        stats = kernel[(1, 1), (width, height)](dev.to_device(words), dev.to_device(scale), d_out)
        return d_out.copy_to_host(), stats

    out, stats = run_every_strategy(launch, STRATEGIES)
    np.testing.assert_array_equal(out, words * np.prod(scale, axis=1, keepdims=True))
    assert stats.stall.sum() > 0  # (back-pressure and waits: the PEs did park)


@ws.jit
def mixed_relay(floats, ints, out_floats, out_ints):
    """Each PE passes east 20 float32 words, then 20 int32 words (plus one at each PE), through one FIFO."""
    x, y = ws.grid(2)
    fbuf = ws.local.array(20, np.float32)
    ibuf = ws.local.array(20, np.int32)
    if ws.has_neighbor(ws.WEST):
        ws.recv(ws.WEST, out=fbuf[0:20])
        ws.recv(ws.WEST, out=ibuf[0:20])
    else:
        fbuf[0:20] = floats[y, 0:20]
        ibuf[0:20] = ints[y, 0:20]
    ibuf[0:20] = ibuf[0:20] + 1
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, fbuf[0:20])
        ws.send(ws.EAST, ibuf[0:20])
    else:
        out_floats[y, 0:20] = fbuf[0:20]
        out_ints[y, 0:20] = ibuf[0:20]


@pytest.mark.parametrize("depth", [2, 7])
def test_float_then_int_messages_through_one_fifo_are_identical_under_every_strategy(depth):
    width, height = 7, 2
    rng = np.random.default_rng(5)
    floats = rng.random((height, 20), dtype=np.float32)
    ints = rng.integers(-100, 100, (height, 20)).astype(np.int32)
    spec = ws.WaferSpec(width=width, height=height, fifo_depth=depth)

    def launch():
        dev = ws.Device(spec)
        d_floats, d_ints = dev.device_array(floats.shape, np.float32), dev.device_array(ints.shape, np.int32)
        stats = mixed_relay[(1, 1), (width, height)](dev.to_device(floats), dev.to_device(ints), d_floats, d_ints)
        return np.concatenate([d_floats.copy_to_host().view(np.int32), d_ints.copy_to_host()]), stats

    out, _ = run_every_strategy(launch, STRATEGIES)
    np.testing.assert_array_equal(out, np.concatenate([floats.view(np.int32), ints + width]))
