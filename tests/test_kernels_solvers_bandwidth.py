"""Bandwidth tests of `kernels.solvers.bandwidth` against the analytic figures of `WaferSpec`, written out
here from docs/timing.md and docs/routes.md."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels.solvers import broadcast_bandwidth, global_read_bandwidth, memcpy_bandwidth

SIZES = [4, 4096, 1 << 20, 1 << 24]


@pytest.mark.parametrize("direction", ["htod", "dtoh"])
def test_memcpy_bandwidth_follows_latency_plus_bytes_over_bandwidth(direction):
    spec = ws.WaferSpec(width=4, height=4, host_transfer_latency_s=2e-6, global_bytes_per_s=100e9)
    points = memcpy_bandwidth(SIZES, direction, device=ws.Device(spec))
    for point, nbytes in zip(points, SIZES):
        seconds = 2e-6 + nbytes / 100e9
        assert point.nbytes == nbytes
        assert point.seconds == pytest.approx(seconds, rel=1e-9)
        assert point.bytes_per_s == pytest.approx(nbytes / seconds, rel=1e-9)
        assert point.predicted_bytes_per_s == pytest.approx(nbytes / seconds, rel=1e-12)
    rates = [p.bytes_per_s for p in points]
    assert rates == sorted(rates) and rates[-1] > 0.98 * 100e9  # 16 MiB: within 2% of the link rate


@pytest.mark.parametrize("words, block", [(1, (2, 2)), (64, (4, 3)), (512, (8, 8))])
def test_global_read_takes_latency_or_bandwidth_whichever_is_longer(words, block):
    spec = ws.WaferSpec(width=8, height=8)
    point, stats = global_read_bandwidth(words, block, device=ws.Device(spec))
    nx, ny = block
    hops = max(min(x, y, spec.width - 1 - x, spec.height - 1 - y) for x in range(nx) for y in range(ny))
    latency = spec.global_latency + hops + (words - 1) / spec.link_words_per_cycle
    served = np.ceil(4 * words * nx * ny / (spec.global_bytes_per_s / spec.clock_hz))
    bound = max(latency, served)
    assert bound <= stats.cycles <= bound + 100  # the kernel's other instructions: a few dozen cycles
    assert point.nbytes == 4 * words * nx * ny
    assert point.bytes_per_s == pytest.approx(point.nbytes / (stats.cycles / spec.clock_hz))
    assert point.predicted_bytes_per_s == pytest.approx(point.nbytes * spec.clock_hz / bound)


def test_a_bandwidth_bound_read_reaches_the_off_wafer_rate():
    spec = ws.WaferSpec(width=16, height=16, global_bytes_per_s=20e9)  # bound by bandwidth, not latency
    point, _ = global_read_bandwidth(256, (16, 16), device=ws.Device(spec))
    assert 0.97 * 20e9 < point.bytes_per_s <= 20e9


@pytest.mark.parametrize("words, block, axis, fields", [
    (1, (8, 3), "row", {}),
    (256, (8, 2), "row", {}),
    (256, (40, 2), "row", {}),  # longer than fifo_depth hops: words wait in the routers on the way
    (200, (3, 24), "column", {"ramp_latency": 2, "fifo_depth": 8, "hop_latency": 2}),
])
def test_broadcast_streams_at_the_link_rate_whatever_the_line_length(words, block, axis, fields):
    nx, ny = block
    spec = ws.WaferSpec(width=nx, height=ny, **fields)
    point, stats = broadcast_bandwidth(words, block, axis, device=ws.Device(spec))
    length = nx if axis == "row" else ny
    trip = 2 * spec.ramp_latency + (length - 1) * spec.hop_latency  # the far receiver's distance
    bound = words / spec.link_words_per_cycle + trip  # multicast: the line's length is latency only
    rounds = -(-words // spec.fifo_depth)
    assert bound <= stats.cycles <= bound + 40 + 3 * rounds  # the root's fill and each FIFO-full's receive
    assert point.nbytes == 4 * words
    assert point.predicted_bytes_per_s == pytest.approx(4 * words * spec.clock_hz / bound)
    # Multicast: each word crosses each link of its line once, and no other link.
    assert stats.routed_link_words[0].sum() == words * (length - 1) * (ny if axis == "row" else nx)


def test_bad_inputs():
    with pytest.raises(ws.ArgumentError, match="multiples of 4"):
        memcpy_bandwidth([6])
    with pytest.raises(ws.ArgumentError, match="'htod' or 'dtoh'"):
        memcpy_bandwidth([4], "dtod")
    with pytest.raises(ws.ArgumentError, match="does not fit the device's memory"):
        memcpy_bandwidth([1 << 40], device=ws.Device(ws.WaferSpec(width=2, height=2, global_bytes=1 << 30)))
    with pytest.raises(ws.ArgumentError, match="does not fit a PE's SRAM of 12288 words"):
        global_read_bandwidth(20000, (2, 2))
    with pytest.raises(ws.ArgumentError, match="words must be a whole number >= 1, got 0"):
        global_read_bandwidth(0, (2, 2))
    with pytest.raises(ws.ArgumentError, match="'row' or 'column'"):
        broadcast_bandwidth(4, (2, 2), "diagonal")
    with pytest.raises(ws.ArgumentError, match="does not fit a PE's SRAM"):
        broadcast_bandwidth(20000, (2, 2))
    small = ws.WaferSpec(width=4, height=4)  # (was the launch's LaunchError, advice for a kernel's author)
    with pytest.raises(ws.ArgumentError, match="block of 5 x 2 PEs, larger than the device's 4 x 4 wafer"):
        global_read_bandwidth(16, (5, 2), device=ws.Device(small))
    with pytest.raises(ws.ArgumentError, match="block of 2 x 6 PEs, larger than the device's 4 x 4 wafer"):
        broadcast_bandwidth(16, (2, 6), "column", device=ws.Device(small))


@pytest.mark.parametrize("measure", [global_read_bandwidth, broadcast_bandwidth])
def test_a_list_of_words_or_a_block_that_is_no_pair_is_a_wafer_error_not_a_bare_type_error(measure):
    """A new user passed a list of sizes, as memcpy_bandwidth takes, and got Python's "'<' not supported
    between instances of 'list' and 'int'"; an int block failed to unpack. Each is now an ArgumentTypeError
    (a WaferError) naming the argument, and one int still measures one transfer."""
    for words, block, name in (([1, 64], (2, 2), "words"), (64.0, (2, 2), "words"), (64, 2, "block"),
                               (64, (2, 2.0), "block")):
        with pytest.raises(ws.ArgumentTypeError, match=name):
            measure(words, block)
    with pytest.raises(ws.ArgumentError, match="block must be 2 ints >= 1"):
        measure(64, (2, 0))
    point, stats = measure(64, (2, 2))
    assert point.nbytes == (4 * 64 * 4 if measure is global_read_bandwidth else 4 * 64) and stats.cycles > 0
