"""The instructions the compile-time check of background transfers' slices looks at (compiler/background_races.py,
`_footprint`) beyond plain loads, stores and vector ops: strided and column copies (`vcopys`), `ws.pack_nonzeros`'
values (`vpacknz`) and `ws.sparse_fma`'s pairs (`vspfma`, `vspchk`). Each was accepted while the slice it reads or
writes was still being received (or written while being sent), where docs/python-supported.md calls every slice
assignment and vector op checked: the simulator showed the finished transfer, hardware would race (review55).
Copies whose strides step around the slice still compile and match NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_background_races import N, assert_matches_numpy_under_every_strategy, fill_and_send, refused_at_its_line


@ws.jit
def strided_read_of_the_slice(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    col = ws.local.array(N, np.float32)
    col[0:N] = 0.0
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        col[0:N // 2] = buf[0:N:2]  # refused
        ws.recv_wait(ws.WEST)
        out[0:N] = col[0:N]


@ws.jit
def strided_write_into_the_slice(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    col = ws.local.array(N, np.float32)
    col[0:N] = 3.0
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        buf[1:N:2] = col[0:N // 2]  # refused
        ws.recv_wait(ws.WEST)
        out[0:N] = buf[0:N]


@ws.jit
def column_read_of_the_row_arriving(out):
    p = ws.grid(1)
    t2 = ws.local.array((N, 2), np.float32)
    col = ws.local.array(N, np.float32)
    if p == 0:
        for i in range(N):
            col[i] = i * 1.0 + 1.0
        ws.send(ws.EAST, col[0:2])
    else:
        ws.recv_async(ws.WEST, out=t2[3, 0:2])
        col[0:N] = t2[0:N, 1]  # refused
        ws.recv_wait(ws.WEST)
        out[0:N] = col[0:N]


@ws.jit
def strided_write_into_a_slice_being_sent(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    col = ws.local.array(N, np.float32)
    col[0:N] = 7.0
    if p == 0:
        for i in range(N):
            buf[i] = i * 1.0 + 1.0
        ws.send_async(ws.EAST, buf[0:N])
        buf[1:N:2] = col[0:N // 2]  # refused
        ws.send_wait(ws.EAST)
    else:
        ws.recv(ws.WEST, out=buf[0:N])
        out[0:N] = buf[0:N]


@ws.jit
def nonzeros_packed_from_the_slice(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    pairs = ws.local.array(2 * N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        count = ws.pack_nonzeros(pairs[0:2 * N], buf[0:N])  # refused
        ws.recv_wait(ws.WEST)
        out[0] = count


@ws.jit
def sparse_fma_of_pairs_arriving(out):
    p = ws.grid(1)
    pairs = ws.local.array(2 * N, np.float32)
    y = ws.local.array(N, np.float32)
    v = ws.local.array(N, np.float32)
    y[0:N] = 0.0
    v[0:N] = 1.0
    pairs[0:2 * N] = 0.0
    if p == 0:
        ws.send(ws.EAST, pairs[0:2 * N])
    else:
        ws.recv_async(ws.WEST, out=pairs[0:2 * N])
        ws.sparse_fma(y[0:N], pairs[0:2 * N], v[0:N])  # refused
        ws.recv_wait(ws.WEST)
        out[0:N] = y[0:N]


#: As `sparse_fma_of_pairs_arriving` without bounds checks: no `vspchk` reads the pairs first
unchecked_sparse_fma_of_pairs_arriving = ws.jit(boundscheck=False)(sparse_fma_of_pairs_arriving.py_func)


RACY = [(strided_read_of_the_slice, "reads buf[0] while", "receiving into buf[0:8]"),
        (strided_write_into_the_slice, "writes buf[1] while", "receiving into buf[0:8]"),
        (column_read_of_the_row_arriving, "reads word 7 of t2 while", "receiving into words 6:8 of t2"),
        (strided_write_into_a_slice_being_sent, "writes buf[1] while", "sending buf[0:8]"),
        (nonzeros_packed_from_the_slice, "reads buf[0:8] while", "receiving into buf[0:8]"),
        (sparse_fma_of_pairs_arriving, "reads pairs[0:16] while", "receiving into pairs[0:16]"),
        (unchecked_sparse_fma_of_pairs_arriving, "reads pairs[0:16] while", "receiving into pairs[0:16]")]
RACY_IDS = [entry[0].py_func.__name__ for entry in RACY[:-1]] + ["unchecked_sparse_fma_of_pairs_arriving"]


@pytest.mark.parametrize("kernel, reads, slice_", RACY, ids=RACY_IDS)
def test_strided_copies_and_sparse_intrinsics_on_a_moving_slice_are_refused_at_their_line(kernel, reads, slice_):
    refused_at_its_line(kernel, reads, slice_)


@ws.jit
def strided_copies_around_the_slice(out):
    """buf[4:8] arrives while strided copies read and write buf[0], buf[8], ... and buf[1], buf[9], ...: every
    element steps over the slice (a check by the copies' lowest and highest words would refuse them)."""
    p = ws.grid(1)
    buf = ws.local.array(4 * N, np.float32)
    col = ws.local.array(N, np.float32)
    buf[0:4 * N] = 2.0
    if p == 0:
        for i in range(N):
            col[i] = i * 1.0 + 1.0
        ws.send(ws.EAST, col[0:4])
    else:
        ws.recv_async(ws.WEST, out=buf[4:8])
        col[0:4] = buf[0:4 * N:8]
        buf[1:4 * N:8] = col[0:4]
        ws.recv_wait(ws.WEST)
        col[0:4] = col[0:4] + buf[4:8]
        col[4:8] = buf[1:4 * N:8]
        out[0:N] = col[0:N]


@ws.jit
def sparse_fma_after_the_wait(out, src):
    """The pairs arrive, are waited for, then drive sparse_fma; pack_nonzeros reads the y it made."""
    p = ws.grid(1)
    pairs = ws.local.array(2 * N, np.float32)
    y = ws.local.array(N, np.float32)
    v = ws.local.array(N, np.float32)
    packed = ws.local.array(2 * N, np.float32)
    y[0:N] = 0.0
    for i in range(N):
        v[i] = i * 1.0 + 1.0
    if p == 0:
        pairs[0:2 * N] = src[0:2 * N]
        ws.send(ws.EAST, pairs[0:2 * N])
    else:
        ws.recv_async(ws.WEST, out=pairs[0:2 * N])
        ws.recv_wait(ws.WEST)
        ws.sparse_fma(y[0:N], pairs[0:2 * N], v[0:N])
        out[N] = ws.pack_nonzeros(packed[0:2 * N], y[0:N])
        out[0:N] = y[0:N]


def _sparse_pairs() -> np.ndarray:
    """Pair k: the value k / 2 at row k, column N - 1 - k (the value's bits, then (row << 16) | column)."""
    values = (0.5 * np.arange(N)).astype(np.float32)
    index = ((np.arange(N) << 16) | (N - 1 - np.arange(N))).astype(np.int32)
    return np.stack([values.view(np.int32), index], axis=1).ravel().view(np.float32)


def _sparse_expected() -> np.ndarray:
    y = np.zeros(N + 1, np.float32)
    for k in range(N):
        y[k] += np.float32(0.5 * k) * np.float32(N - k)  # y[k] += value_k * v[N - 1 - k], v[j] = j + 1
    y[N] = np.count_nonzero(y[:N])
    return y


@pytest.mark.parametrize("kernel, inputs, expected", [
    (strided_copies_around_the_slice, (), np.array([3.0, 4.0, 5.0, 6.0, 2.0, 2.0, 2.0, 2.0], np.float32)),
    (sparse_fma_after_the_wait, (_sparse_pairs(),), _sparse_expected())])
def test_copies_around_the_slice_and_sparse_ops_after_the_wait_compile_and_match_numpy(kernel, inputs, expected):
    assert_matches_numpy_under_every_strategy(kernel, expected, *inputs)
