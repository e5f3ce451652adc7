"""Random kernels with neighbour exchanges (deadlock-free by construction: every PE that has a neighbour
in direction d sends to it, and every PE with a neighbour in the opposite direction receives) and
collectives on routed channels, compared with an independent NumPy model of the same program; and
reproducibility across stream orders.

WAFERSIM_FUZZ_EXAMPLES=N runs a longer search."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source

EXAMPLES = int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "25"))
DIRECTIONS = ("NORTH", "EAST", "SOUTH", "WEST")
SHIFT = {"NORTH": (-1, 0), "EAST": (0, 1), "SOUTH": (1, 0), "WEST": (0, -1)}  # (dy, dx) to the neighbour
OPPOSITE = {"NORTH": "SOUTH", "SOUTH": "NORTH", "EAST": "WEST", "WEST": "EAST"}
COMBINE = {"add": "v + w", "sub": "v - w", "mul": "v * w", "min": "min(v, w)", "max": "max(v, w)"}

# Collectives on routed channels (wafersim.collectives): each kind on channels of its own.
BROADCAST = {"row": ("row_broadcast", 4, "threadIdx.x", "blockDim.x"),
             "column": ("column_broadcast", 5, "threadIdx.y", "blockDim.y"), "block": ("block_broadcast", 6, "", "")}
ALL_REDUCE = {"row": ("row_all_reduce", 7), "column": ("column_all_reduce", 9), "block": ("block_all_reduce", 11)}
SPEC = ws.WaferSpec(width=8, height=8, channels=16)  # (the collectives' channels 4 to 13 included)

step = st.one_of(
    st.tuples(st.just("exchange"), st.sampled_from(DIRECTIONS), st.integers(0, 3), st.sampled_from(sorted(COMBINE))),
    st.tuples(st.just("broadcast"), st.sampled_from(sorted(BROADCAST)), st.integers(0, 4), st.just("")),
    st.tuples(st.just("allreduce"), st.sampled_from(sorted(ALL_REDUCE)), st.just(0), st.just("")),
    st.tuples(st.just("scale"), st.sampled_from([0.5, 1.5, -1.0, 0.25]), st.just(0), st.just("")),
    st.tuples(st.just("offset"), st.sampled_from([1.0, -2.0, 0.125]), st.just(0), st.just("")),
    st.tuples(st.just("barrier"), st.just(""), st.just(0), st.just("")),
)
#: Blocks: small ones (their `has_neighbor` groups are masks or index lists), and rows 17 to 20 PEs wide,
#: whose east and west groups leave out under 1/16 of the wave (dense groups: the lockstep path, with the
#: owed clocks and counts of its transfers, `sim/lockstep_rows.py`).
block_shape = st.one_of(st.tuples(st.integers(1, 5), st.integers(1, 4)),
                        st.tuples(st.integers(17, 20), st.integers(1, 2)))


def spec_for(block: tuple[int, int]) -> ws.WaferSpec:
    """SPEC, widened to a wide block's width (a grid's blocks then run in waves, as they do on SPEC)."""
    return SPEC if block[0] <= SPEC.width else SPEC.replace(width=block[0])


def kernel_source(steps) -> str:
    body = ["    x, y = ws.grid(2)", "    v = inp[y, x]"]
    for kind, a, channel, combine in steps:
        if kind == "exchange":
            back = OPPOSITE[a]
            body += [f"    if ws.has_neighbor(ws.{a}):", f"        ws.send(ws.{a}, v, channel={channel})",
                     f"    w = ws.recv(ws.{back}, channel={channel}) if ws.has_neighbor(ws.{back}) else v",
                     f"    v = {COMBINE[combine]}"]
        elif kind == "broadcast":  # the root: channel-th PE along the line (or block), wrapped to its size
            name, ch, _, _ = BROADCAST[a]
            if a == "block":
                body.append(f"    v = wsc.{name}(v, {channel} % ws.blockDim.x, {channel} % ws.blockDim.y, channel={ch})")
            else:
                body.append(f"    v = wsc.{name}(v, {channel} % ws.{BROADCAST[a][3]}, channel={ch})")
        elif kind == "allreduce":
            name, ch = ALL_REDUCE[a]
            body.append(f"    v = wsc.{name}(v, wsc.SUM, channel={ch})")
        elif kind == "barrier":
            body.append("    ws.syncthreads()")
        elif kind == "scale":
            body.append(f"    v = v * {a!r}")
        else:
            body.append(f"    v = v + {a!r}")
    body.append("    out[y, x] = v")
    return ("import wafersim as ws\nfrom wafersim import collectives as wsc\n\n\n@ws.jit\ndef kernel(inp, out):\n"
            + "\n".join(body) + "\n")


def fold_from_the_end(v: np.ndarray, axis: int) -> np.ndarray:
    """v[0] + (v[1] + (... + v[-1])) along `axis` in float32: the order of the collectives' chains."""
    lines = np.moveaxis(v, axis, 0)
    acc = lines[-1].copy()
    for k in range(len(lines) - 2, -1, -1):
        acc = lines[k] + acc
    return acc


def model(steps, values: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """The same program in NumPy, block by block: a value received from direction `back` is the value
    of the neighbour that way; a PE without that neighbour keeps its own."""
    bx, by = block
    out = np.empty_like(values)
    for y0 in range(0, values.shape[0], by):
        for x0 in range(0, values.shape[1], bx):
            v = values[y0:y0 + by, x0:x0 + bx].copy()
            for kind, a, channel, combine in steps:
                if kind == "exchange":
                    dy, dx = SHIFT[OPPOSITE[a]]  # receive from the opposite direction
                    w = v.copy()
                    src_y, dst_y = (slice(dy, None), slice(None, by - dy)) if dy >= 0 else (slice(None, dy), slice(-dy, None))
                    src_x, dst_x = (slice(dx, None), slice(None, bx - dx)) if dx >= 0 else (slice(None, dx), slice(-dx, None))
                    w[dst_y, dst_x] = v[src_y, src_x]
                    v = {"add": lambda: v + w, "sub": lambda: v - w, "mul": lambda: v * w,
                         "min": lambda: np.minimum(v, w), "max": lambda: np.maximum(v, w)}[combine]()
                elif kind == "broadcast":
                    rx, ry = channel % bx, channel % by
                    v = {"row": lambda: np.repeat(v[:, rx:rx + 1], bx, axis=1),
                         "column": lambda: np.repeat(v[ry:ry + 1, :], by, axis=0),
                         "block": lambda: np.full_like(v, v[ry, rx])}[a]()
                elif kind == "allreduce":
                    if a == "row":
                        v = np.repeat(fold_from_the_end(v, 1)[:, None], bx, axis=1)
                    elif a == "column":
                        v = np.repeat(fold_from_the_end(v, 0)[None, :], by, axis=0)
                    else:  # rows to the first column, then down it to the corner
                        v = np.full_like(v, fold_from_the_end(fold_from_the_end(v, 1), 0))
                elif kind == "barrier":  # (orders nothing this model computes)
                    continue
                elif kind == "scale":
                    v = v * np.float32(a)
                else:
                    v = v + np.float32(a)
            out[y0:y0 + by, x0:x0 + bx] = v
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8), block=block_shape,
       grid=st.tuples(st.integers(1, 3), st.integers(1, 2)), seed=st.integers(0, 2**16))
def test_random_exchange_kernels_match_a_numpy_model(steps, block, grid, seed, tmp_path_factory):
    module = load_source(tmp_path_factory.mktemp("fuzz"), kernel_source(steps))
    h, w = grid[1] * block[1], grid[0] * block[0]
    values = np.random.default_rng(seed).uniform(-2, 2, (h, w)).astype(np.float32)
    dev = ws.Device(spec_for(block))
    d_in, d_out = dev.to_device(values), dev.device_array(values.shape)
    module.kernel[grid, block](d_in, d_out)
    np.testing.assert_array_equal(d_out.copy_to_host(), model(steps, values, block))


def test_independent_streams_give_the_same_results_in_any_launch_order():
    """Results, cycles and stalls do not depend on the order two streams' work is issued in; the timeline
    does, as both launches fill the wafer (docs/timing.md, "Waves and streams"): the stream issued first
    takes as long as on a device of its own, the other's launch starts when the first's ends."""
    from wafersim.kernels.heat import heat_kernel

    rng = np.random.default_rng(7)
    inputs = [rng.random((16, 16), dtype=np.float32) for _ in range(2)]

    def run(order):
        dev = ws.Device(ws.WaferSpec(width=16, height=16))
        streams = {k: dev.stream() for k in order}
        outs, stats, events = {}, {}, {}
        for k in order:
            start, stop = dev.event(), dev.event()
            start.record(streams[k])
            d_in = dev.to_device(inputs[k], stream=streams[k])
            d_out = dev.device_array((16, 16))
            stats[k] = heat_kernel[(2, 2), (8, 8), streams[k]](d_in, d_out, np.float32(0.1 * (k + 1)), 4 + k)
            outs[k] = d_out.copy_to_host(stream=streams[k])
            stop.record(streams[k])
            events[k] = ws.event_elapsed_time(start, stop)
        return outs, stats, events

    alone = {k: run((k,))[2][k] for k in (0, 1)}
    runs = [run((0, 1)), run((1, 0))]
    (a, sa, ea), (b, sb, eb) = runs
    for (_, stats, events), (first, second) in zip(runs, ((0, 1), (1, 0))):
        assert events[first] == alone[first] and events[second] > alone[second]
        assert stats[second].start_cycle == pytest.approx(stats[first].start_cycle + stats[first].cycles)
    for k in (0, 1):
        np.testing.assert_array_equal(a[k], b[k])  # bit-identical
        assert sa[k].cycles == sb[k].cycles
        np.testing.assert_array_equal(sa[k].stall, sb[k].stall)
