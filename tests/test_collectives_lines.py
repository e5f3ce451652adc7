"""wafersim.collectives.lines: the line chains' word-by-word path for short 16-bit arrays (float32 and int32
arrays stream, tests/test_stream_ops.py and test_collectives.py), bit for bit against NumPy's 16-bit arithmetic in
the chain's order."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import collectives as wsc

SPEC = ws.WaferSpec.preset("dev", width=12, height=10, ramp_latency=2, channels=24)


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
