"""Differential fuzzing of the `@ws.jit` compiler, the stream ops: `ws.add_stream`, `ws.max_stream` and
`ws.min_stream` (docs/python-supported.md, docs/timing.md "Streams through the FMAC") in chains along a row of
PEs, checked against a plain NumPy reference written from the docs: a chain's head sends its slice with
`ws.send`, each PE after it combines the word k arriving from the PE before with its own element k (its element
first: `own + word`, `np.maximum(own, word)`, `np.minimum(own, word)`, in float32 or wrapping int32), stores it
and sends it on, and the chain's tail (`sink=None`) keeps it. Drawn: the row's length, the direction, the head
and tail, the op, the dtype, the slice (offset and length), the channel, values with infs, nans, -0.0 and
int32 extremes, and delays on some PEs (loops before the chain) so that words wait in FIFOs or senders wait for
room. Every kernel runs under the default strategy and `Strategy(compiled=False)` (results and cycles
identical: `launch_both`)."""
from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from test_compiler_fuzz_fabric import FUZZ, dev, gen_dir, launch_both, load, bits  # noqa: F401

W = 16  # words of each PE's buffer
FUNCTIONS = {"add": "add_stream", "max": "max_stream", "min": "min_stream"}
REFERENCE = {"add": np.add, "max": np.maximum, "min": np.minimum}
FLOAT_SPECIALS = [np.inf, -np.inf, np.nan, -0.0, 0.0, 3.4e38, -3.4e38, 1e-45]
INT_SPECIALS = [2 ** 31 - 1, -2 ** 31, -1, 0, 1]


@st.composite
def stream_chains(draw):
    """(PEs, east?, head, tail, op, dtype, offset, length, channel, delays {pe: loop trips})."""
    pes = draw(st.integers(2, 6))
    east = draw(st.booleans())
    a, b = sorted(draw(st.lists(st.integers(0, pes - 1), min_size=2, max_size=2, unique=True)))
    head, tail = (a, b) if east else (b, a)
    length = draw(st.integers(1, W))
    offset = draw(st.integers(0, W - length))
    delays = draw(st.dictionaries(st.integers(0, pes - 1), st.integers(1, 40), max_size=3))
    return (pes, east, head, tail, draw(st.sampled_from(sorted(FUNCTIONS))), draw(st.sampled_from(["float32", "int32"])),
            offset, length, draw(st.integers(0, 3)), delays)


def render(case) -> str:
    pes, east, head, tail, op, dtype, offset, length, channel, delays = case
    into, out = ("WEST", "EAST") if east else ("EAST", "WEST")
    between = f"{head} < x < {tail}" if east else f"{tail} < x < {head}"
    part = f"buf[{offset}:{offset + length}]"
    fn = FUNCTIONS[op]
    delay = "".join(f"""
    if x == {pe}:
        for _k in range({trips}):
            spent = spent + x
""" for pe, trips in sorted(delays.items()))
    return f"""
import numpy as np
import wafersim as ws


@ws.jit
def kern(data, result, spent_out):
    x = ws.threadIdx.x
    buf = ws.local.array({W}, np.{dtype})
    buf[0:{W}] = data[x, 0:{W}]
    spent = 0{delay}
    if x == {head}:
        ws.send(ws.{out}, {part}, channel={channel})
    elif {between}:
        ws.{fn}(ws.{into}, ws.{out}, {part}, channel={channel})
    elif x == {tail}:
        ws.{fn}(ws.{into}, None, {part}, channel={channel})
    result[x, 0:{W}] = buf[0:{W}]
    spent_out[x] = spent
"""


def reference(case, data: np.ndarray) -> np.ndarray:
    """Every PE's buffer after the chain, from the docs' rule: own element first, then the word."""
    _, east, head, tail, op, _, offset, length, _, _ = case
    values = data.copy()
    step = 1 if east else -1
    arriving = values[head, offset:offset + length].copy()
    with np.errstate(all="ignore"):
        for x in range(head + step, tail + step, step):
            arriving = REFERENCE[op](values[x, offset:offset + length], arriving)
            values[x, offset:offset + length] = arriving
    return values


def inputs(case, seed: int) -> np.ndarray:
    pes, dtype = case[0], case[5]
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        data = (rng.standard_normal((pes, W)) * 2.0 ** rng.integers(-20, 20, (pes, W))).astype(np.float32)
        specials = FLOAT_SPECIALS
    else:
        data = rng.integers(-2 ** 31, 2 ** 31, (pes, W), dtype=np.int64).astype(np.int32)
        specials = INT_SPECIALS
    picks = rng.random((pes, W)) < 0.2
    data[picks] = np.array(specials, dtype=data.dtype)[rng.integers(0, len(specials), int(picks.sum()))]
    return data


@FUZZ
@given(case=stream_chains(), seed=st.integers(0, 2 ** 16))
# `ws.min_stream`, which `make test`'s few random draws may miss (docs/compiler.md, "Which fuzzer draws what"),
# of float32 words (nans, infinities and zeros of both signs among them) going west
@example(case=(4, False, 3, 0, "min", "float32", 2, 9, 1, {1: 5}), seed=7)
def test_stream_chains_match_numpy(dev, gen_dir, case, seed):
    source = render(case)
    module = load(gen_dir, source)
    data = inputs(case, seed)
    pes = case[0]
    host = [data, np.zeros_like(data), np.zeros(pes, np.int32)]
    (result, spent), _ = launch_both(dev, module.kern, (1, 1), (pes, 1), host, (1, 2), source)
    np.testing.assert_array_equal(bits(result), bits(reference(case, data)), err_msg=source)
    delays = case[9]
    np.testing.assert_array_equal(spent, [x * delays.get(x, 0) for x in range(pes)], err_msg=source)
