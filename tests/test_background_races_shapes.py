"""More shapes of valid and racy kernels for the compile-time check of background transfers' slices
(compiler/background_races.py), each as the docs promise (review54b): valid ones compile and match NumPy under
every engine strategy, racy ones the docs call checked are refused at their line."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from test_background_races import LONG, N, assert_matches_numpy_under_every_strategy, fill_and_send, refused_at_its_line


# ---- loops every PE enters: a prefetch waited at the top of a `range` loop of known trips (review54b)

@ws.jit
def prefetched_pipeline(out):
    """PE 1 posts chunk 0 before the loop and waits at the top of each trip of a 3-trip loop, posting the next
    chunk after adding the one waited for; the last chunk is read after the loop. Every PE enters the loop, so
    the wait ends the prefetch on every path (the loop's exit at its first test is no path)."""
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    acc = ws.local.array(N, np.float32)
    acc[0:N] = 0.0
    if p == 0:
        for k in range(3):
            for i in range(N):
                buf[i] = k * 10.0 + i
            ws.send(ws.EAST, buf[0:N])
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for k in range(3):
            ws.recv_wait(ws.WEST)
            acc[0:N] = acc[0:N] + buf[0:N]
            if k + 1 < 3:
                ws.recv_async(ws.WEST, out=buf[0:N])
        acc[0:N] = acc[0:N] + buf[0:N]  # the last chunk again, after the loop: waited for
        out[0:N] = acc[0:N]


@ws.jit
def prefetched_wait_in_a_one_trip_loop(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        for i in range(N):
            buf[i] = i * 1.0 + 1.0
        ws.send(ws.EAST, buf[0:N])
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for k in range(1):
            ws.recv_wait(ws.WEST)
        out[0:N] = buf[0:N]


@ws.jit
def prefetched_pipeline_of_run_time_trips(out, chunks):
    """`prefetched_pipeline` with the trips an argument: where `chunks` is 0 the prefetch is never waited for."""
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        buf[0:N] = 1.0
        ws.send(ws.EAST, buf[0:N])
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for k in range(chunks):
            ws.recv_wait(ws.WEST)
        out[0:N] = buf[0:N]  # refused: not waited for where chunks is 0


@ws.jit
def posted_on_the_last_trip_too(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        buf[0:N] = 1.0
        for k in range(4):
            ws.send(ws.EAST, buf[0:N])
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for k in range(3):
            ws.recv_wait(ws.WEST)
            ws.recv_async(ws.WEST, out=buf[0:N])
        out[0:N] = buf[0:N]  # refused: the last trip's receive is never waited for


@pytest.mark.parametrize("kernel, expected", [
    (prefetched_pipeline, sum(k * 10.0 + np.arange(N) for k in range(3)) + 20.0 + np.arange(N)),
    (prefetched_wait_in_a_one_trip_loop, 1.0 + np.arange(N)),
], ids=["pipeline", "one_trip"])
def test_a_prefetch_waited_in_a_loop_every_pe_enters_compiles_and_matches_numpy(kernel, expected):
    assert_matches_numpy_under_every_strategy(kernel, np.asarray(expected, np.float32))


@ws.jit
def waited_in_a_loop_of_no_trips(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        buf[0:N] = 1.0
        ws.send(ws.EAST, buf[0:N])
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for k in range(LONG, N):
            ws.recv_wait(ws.WEST)
        out[0:N] = buf[0:N]  # refused: the loop runs no trip
        ws.recv_wait(ws.WEST)


@pytest.mark.parametrize("kernel, args", [(prefetched_pipeline_of_run_time_trips, (2,)),
                                          (posted_on_the_last_trip_too, ()), (waited_in_a_loop_of_no_trips, ())],
                         ids=["run_time_trips", "last_trip", "no_trips"])
def test_a_loop_that_may_leave_a_transfer_outstanding_is_still_refused(kernel, args):
    refused_at_its_line(kernel, "reads buf[0:8] while the ws.recv_async(ws.WEST, channel 0)", args=args)


# ---- more shapes of valid and racy kernels, each as the docs promise

@ws.jit
def _finish_receiving():
    ws.recv_wait(ws.WEST)
    return 0


@ws.jit
def _word_of(buf, at):
    return buf[at]


@ws.jit
def waited_in_a_device_function(out, x):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        _finish_receiving()
        out[0:N] = buf[0:N]


@ws.jit
def loop_over_the_other_half(out, x):
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    acc = ws.local.array(N, np.float32)
    buf[0:2 * N] = 1.0
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[N:2 * N])
        for i in range(0, N):
            acc[i] = buf[i] * 2.0  # buf[0:N]: not the half arriving
        ws.recv_wait(ws.WEST)
        acc[0:N] = acc[0:N] + buf[N:2 * N]
        out[0:N] = acc[0:N]


@ws.jit
def halves_on_two_channels(out, x):
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    if p == 0:
        for i in range(2 * N):
            buf[i] = i * 1.0 + 1.0
        ws.send(ws.EAST, buf[0:N], channel=0)
        ws.send(ws.EAST, buf[N:2 * N], channel=1)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N], channel=0)
        ws.recv_async(ws.WEST, out=buf[N:2 * N], channel=1)
        ws.recv_wait(ws.WEST, channel=0)
        buf[0:N] = buf[0:N] * 2.0  # channel 1's half still arriving: not touched
        ws.recv_wait(ws.WEST, channel=1)
        buf[0:N] = buf[0:N] + buf[N:2 * N]
        out[0:N] = buf[0:N]


@ws.jit
def waited_on_both_branches(out, x):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        if x[0] > 0.0:
            ws.recv_wait(ws.WEST)
        elif ws.has_neighbor(ws.EAST):
            ws.recv_wait(ws.WEST)
        else:
            ws.recv_wait(ws.WEST)
        out[0:N] = buf[0:N]


@ws.jit
def waited_then_left_early(out, x):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for k in range(2, 5):
            ws.recv_wait(ws.WEST)
            if x[0] > 0.0:
                break
        out[0:N] = buf[0:N]


@ws.jit
def other_row_of_a_2d_array(out, x):
    p = ws.grid(1)
    buf = ws.local.array((2, N), np.float32)
    buf[0, 0:N] = 4.0
    if p == 0:
        for i in range(N):
            buf[1, i] = i * 1.0 + 1.0
        ws.send(ws.EAST, buf[1, 0:N])
    else:
        ws.recv_async(ws.WEST, out=buf[1, 0:N])
        for i in range(N):
            buf[0, i] = buf[0, i] * 0.25  # row 0: not the row arriving
        ws.recv_wait(ws.WEST)
        buf[0, 0:N] = buf[0, 0:N] + buf[1, 0:N]
        out[0:N] = buf[0, 0:N]


_ONE_TO_N = 1.0 + np.arange(N, dtype=np.float32)
VALID = [(waited_in_a_device_function, _ONE_TO_N), (loop_over_the_other_half, 2.0 + _ONE_TO_N),
         (halves_on_two_channels, 3.0 * _ONE_TO_N + N), (waited_on_both_branches, _ONE_TO_N),
         (waited_then_left_early, _ONE_TO_N), (other_row_of_a_2d_array, 1.0 + _ONE_TO_N)]


@pytest.mark.parametrize("kernel, expected", VALID, ids=[entry[0].py_func.__name__ for entry in VALID])
@pytest.mark.parametrize("flag", [1.0, -1.0])
def test_kernels_that_use_a_slice_only_after_its_wait_compile_and_match_numpy(kernel, expected, flag):
    assert_matches_numpy_under_every_strategy(kernel, expected, np.array([flag], np.float32))


@ws.jit
def read_at_a_constant_offset(out, off: ws.constant):
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[off:off + N])
        out[0] = buf[off + 2]  # refused
        ws.recv_wait(ws.WEST)


@ws.jit
def read_through_a_constant_argument(out, off: ws.constant):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        out[0] = _word_of(buf, 3)  # refused (the word read in _word_of)
        ws.recv_wait(ws.WEST)


@ws.jit
def read_of_the_row_arriving(out, off: ws.constant):
    p = ws.grid(1)
    buf = ws.local.array((2, N), np.float32)
    if p == 0:
        buf[0, 0:N] = 1.0
        ws.send(ws.EAST, buf[0, 0:N])
    else:
        ws.recv_async(ws.WEST, out=buf[1, 0:N])
        out[0] = buf[1, 3]  # refused
        ws.recv_wait(ws.WEST)


@ws.jit
def strided_reads_of_the_slice(out, off: ws.constant):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    acc = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for i in range(0, N, 2):
            acc[i] = buf[i]  # refused
        ws.recv_wait(ws.WEST)
        out[0:N] = acc[0:N]


@ws.jit
def read_at_the_top_of_an_inner_loop(out, off: ws.constant):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    buf[0:N] = 0.0
    t = 0.0
    if p == 0:
        for k in range(6):
            fill_and_send(buf, p)
    else:
        for j in range(2):
            for k in range(3):
                t += buf[1]  # refused: the inner loop's trip before posted into it
                ws.recv_async(ws.WEST, out=buf[0:N])
            ws.recv_wait(ws.WEST)
        out[0] = t


RACY = [(read_at_a_constant_offset, "reads buf[6] while", "receiving into buf[4:12]"),
        (read_through_a_constant_argument, "reads buf[3] while", "receiving into buf[0:8]"),
        (read_of_the_row_arriving, "reads word 11 of buf while", "receiving into words 8:16 of buf"),
        (strided_reads_of_the_slice, "reads a word of buf[0:8] while", "receiving into buf[0:8]"),
        (read_at_the_top_of_an_inner_loop, "reads buf[1] while", "receiving into buf[0:8]")]


@pytest.mark.parametrize("kernel, reads, slice_", RACY, ids=[entry[0].py_func.__name__ for entry in RACY])
def test_reads_the_docs_say_are_checked_are_refused_at_their_line(kernel, reads, slice_):
    marked = (_word_of, "return") if kernel is read_through_a_constant_argument else (kernel, "refused")
    refused_at_its_line(kernel, reads, slice_, args=(4,), marked=marked)


@ws.jit
def read_after_a_test_of_another_pe(out, off: ws.constant):
    """Tests of `p == 0` then `p == 1` (the sender's block, then the receiver's): the PEs of the second come only
    by `p == 0` false, so the receive is outstanding on every path of the PEs where `p == 1`."""
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    buf[0:N] = 1.0
    if p == 0:
        ws.send(ws.EAST, buf[0:N])
    if p == 1:
        ws.recv_async(ws.WEST, out=buf[0:N])
    out[p] = buf[2]  # refused: on PE 1 the word may not have arrived
    if p == 1:
        ws.recv_wait(ws.WEST)


@ws.jit
def posted_under_several_index_tests(out, x):
    """As `read_after_a_test_of_another_pe`, correct: PE 1 reads after its wait, PE 2 writes words it never
    receives into, and PE 0's write of buf, under `p == 0` inside `p == 1`'s post, is no path of any PE."""
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    buf[0:N] = 1.0
    if p == 0:
        fill_and_send(buf, p)
    if p == 1:
        ws.recv_async(ws.WEST, out=buf[0:N])
    if p == 2:
        buf[0:N] = 5.0
    if p == 1:
        ws.recv_wait(ws.WEST)
    out[p * N:p * N + N] = buf[0:N]


def test_a_read_on_the_pes_of_one_test_of_their_index_after_another_is_refused():
    refused_at_its_line(read_after_a_test_of_another_pe, "reads buf[2] while the ws.recv_async(ws.WEST, channel 0)",
                        width=3, words=3, args=(4,))


def test_posts_and_waits_under_tests_of_several_pes_compile_and_match_numpy():
    expected = np.concatenate([_ONE_TO_N, _ONE_TO_N, np.full(N, 5.0, np.float32)])
    assert_matches_numpy_under_every_strategy(posted_under_several_index_tests, expected, np.ones(1, np.float32),
                                              width=3)
