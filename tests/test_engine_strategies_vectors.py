"""Differential tests of vector messages (`ws.send` / `ws.recv` of slices) between the engine's execution
strategies: random exchanges of a few words each way, over FIFOs of every depth, links of several rates and hop
latencies, identical under every strategy of test_engine_strategies.STRATEGIES and equal to a NumPy model."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import wafersim as ws
from conftest import load_source
from test_engine_strategies import FUZZ, run_every_strategy
from test_fuzz_kernels import OPPOSITE, SHIFT


vector_step = st.tuples(st.sampled_from(sorted(OPPOSITE)), st.integers(0, 3), st.integers(1, 12))


def vector_kernel_source(words: int, steps) -> str:
    """Each PE fills `a` with v + j; per step it sends a[0:n] one way and adds what arrives from the other
    way (its own a where it has no such neighbour) into a[0:n]."""
    body = ["    x, y = ws.grid(2)", f"    a = ws.local.array({words}, np.float32)",
            f"    b = ws.local.array({words}, np.float32)", "    v = inp[y, x]",
            f"    for j in range({words}):", "        a[j] = v + j"]
    for direction, channel, n in steps:
        back = OPPOSITE[direction]
        body += [f"    if ws.has_neighbor(ws.{direction}):",
                 f"        ws.send(ws.{direction}, a[0:{n}], channel={channel})",
                 f"    if ws.has_neighbor(ws.{back}):",
                 f"        ws.recv(ws.{back}, out=b[0:{n}], channel={channel})",
                 "    else:", f"        b[0:{n}] = a[0:{n}]",
                 f"    a[0:{n}] = a[0:{n}] + b[0:{n}]"]
    body += [f"    for j in range({words}):", f"        out[y, x * {words} + j] = a[j]"]
    return "import numpy as np\nimport wafersim as ws\n\n\n@ws.jit\ndef kernel(inp, out):\n" + "\n".join(body) + "\n"


def vector_model(words: int, steps, values: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """The vector kernel in NumPy: (h, w, words) per-PE arrays, blocks exchanged independently."""
    bx, by = block
    h, w = values.shape
    a = values[:, :, None] + np.arange(words, dtype=np.float32)
    for direction, _, n in steps:
        dy, dx = SHIFT[OPPOSITE[direction]]  # receive from the opposite neighbour, inside the block
        b = a.copy()
        ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
        sy, sx = ys + dy, xs + dx
        inside = (sy // by == ys // by) & (sx // bx == xs // bx) & (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
        b[inside] = a[np.clip(sy, 0, h - 1), np.clip(sx, 0, w - 1)][inside]
        a[:, :, :n] = a[:, :, :n] + b[:, :, :n]
    return a.reshape(h, w * words)


@FUZZ
@given(steps=st.lists(vector_step, min_size=1, max_size=4), block=st.tuples(st.integers(1, 5), st.integers(1, 4)),
       grid=st.tuples(st.integers(1, 2), st.integers(1, 2)), depth=st.integers(1, 6),
       rate=st.sampled_from([1.0, 0.5, 2.0, 0.75]), hop=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_random_vector_exchanges_are_identical_under_every_strategy(steps, block, grid, depth, rate, hop, seed,
                                                                    tmp_path_factory):
    words = max(n for _, _, n in steps)
    module = load_source(tmp_path_factory.mktemp("vectors"), vector_kernel_source(words, steps))
    h, w = grid[1] * block[1], grid[0] * block[0]
    values = np.random.default_rng(seed).integers(-8, 8, (h, w)).astype(np.float32)  # sums stay exact
    spec = ws.WaferSpec(width=10, height=8, fifo_depth=depth, link_words_per_cycle=rate, hop_latency=hop)

    def launch():
        dev = ws.Device(spec)
        d_in, d_out = dev.to_device(values), dev.device_array((h, w * words))
        stats = module.kernel[grid, block](d_in, d_out)
        return d_out.copy_to_host(), stats

    out, _ = run_every_strategy(launch)
    np.testing.assert_array_equal(out, vector_model(words, steps, values, block))
