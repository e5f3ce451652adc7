"""The compile-time check of background transfers' slices (compiler/background_races.py): a local slice read
or changed while a `ws.recv_async` / `ws.send_async` may still move it is a `CompileError` at the line, where
the compiler can decide it; correct double-buffered kernels still compile and match NumPy under every
engine strategy."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, line_of
from wafersim.sim import strategy

N = 8


def refused_at_its_line(kernel, *parts: str, width: int = 2, height: int = 1, words: int = N, args: tuple = (),
                        marked: tuple | None = None) -> ws.CompileError:
    """The `CompileError` a launch of `kernel` (a row of `width` PEs of a `width` x `height` wafer; `out`: `words`
    zeros, then `args`) raises: its text holds each of `parts`, and it stands at the kernel's line marked
    `refused` (or at `marked`: (function, marker))."""
    error = compile_error(ws.Device(ws.WaferSpec(width=width, height=height)), kernel, np.zeros(words, np.float32),
                          *args, block=(width, 1))
    for part in parts:
        assert part in str(error), str(error)
    assert error.line == line_of(*(marked or (kernel, "refused")))
    return error


def assert_matches_numpy_under_every_strategy(kernel, expected: np.ndarray, *args, width: int = 2,
                                              busy: bool = False) -> None:
    """Run `kernel` on a row of `width` PEs (`out` shaped as `expected`, then `args`, NumPy arrays copied to the
    device) under the fast and the reference engine strategy: `out` equals `expected` under each, and both
    take the same cycles (and, with `busy`, the same busy cycles on every PE)."""
    runs = []
    for forced in (strategy.FAST, strategy.REFERENCE):
        with strategy.forced(forced):
            dev = ws.Device(ws.WaferSpec(width=width, height=1))
            out = dev.device_array(expected.shape)
            stats = kernel[(1, 1), (width, 1)](out, *[dev.to_device(a) if isinstance(a, np.ndarray) else a
                                                      for a in args])
            runs.append((stats.cycles, stats.busy.tolist() if busy else None))
        np.testing.assert_array_equal(out.copy_to_host(), expected)
    assert runs[0] == runs[1]


@ws.jit
def fill_and_send(buf, p):
    """PE 0 sends N words east (as the senders of the kernels below do)."""
    for i in range(N):
        buf[i] = i * 1.0 + 1.0
    ws.send(ws.EAST, buf[0:N])
    return 0


@ws.jit
def read_before_rwait(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        x = buf[3]  # refused: the word may not have arrived
        ws.recv_wait(ws.WEST)
        out[0] = x


@ws.jit
def vector_read_before_rwait(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        out[0:N] = buf[0:N]  # refused: stores the slice while it arrives
        ws.recv_wait(ws.WEST)


@ws.jit
def write_before_rwait(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        buf[0] = 5.0  # refused: the arriving word and this store race
        ws.recv_wait(ws.WEST)
        out[0:N] = buf[0:N]


@ws.jit
def write_before_swait(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    buf[0:N] = 1.0
    if p == 0:
        ws.send_async(ws.EAST, buf[0:N])
        buf[2:4] = 7.0  # refused: the words may not have left
        ws.send_wait(ws.EAST)
    else:
        ws.recv(ws.WEST, out=buf[0:N])
        out[0:N] = buf[0:N]


@ws.jit
def read_in_a_loop(out):
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    total = 0.0
    if p == 0:
        for k in range(4):
            fill_and_send(buf, p)
    else:
        for k in range(4):
            ws.recv_async(ws.WEST, out=buf[0:N])
            total += buf[1]  # refused: read while the chunk arrives, every trip
            ws.recv_wait(ws.WEST)
        out[0] = total


@ws.jit
def read_on_the_next_trip(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    buf[0:N] = 0.0
    total = 0.0
    if p == 0:
        for k in range(4):
            fill_and_send(buf, p)
    else:
        for k in range(4):
            total += buf[2]  # refused: from the second trip on, the receive posted below may still be arriving
            ws.recv_async(ws.WEST, out=buf[0:N])
        ws.recv_wait(ws.WEST)
        out[0] = total


@ws.jit
def read_in_a_range_loop(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    acc = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for i in range(2, N):
            acc[i] = buf[i] * 2.0  # refused: every i of the range reads a word still arriving
        ws.recv_wait(ws.WEST)
        out[0:N] = acc[0:N]


LONG = 200  # (a loop the front end keeps as a loop, not unrolled: its counter's range decides)


@ws.jit
def read_in_a_long_range_loop(out):
    p = ws.grid(1)
    buf = ws.local.array(LONG, np.float32)
    acc = ws.local.array(LONG, np.float32)
    if p == 0:
        buf[0:LONG] = 1.0
        ws.send(ws.EAST, buf[0:LONG])
    else:
        ws.recv_async(ws.WEST, out=buf[0:LONG])
        for i in range(10, LONG - 1):
            acc[i] = buf[i + 1] * 2.0  # refused: buf[11] ... buf[199], all arriving
        ws.recv_wait(ws.WEST)
        out[0:N] = acc[0:N]


@ws.jit
def write_in_a_strided_range_loop(out):
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    buf[0:2 * N] = 1.0
    if p == 0:
        ws.send_async(ws.EAST, buf[0:N])
        for i in range(N, 2 * N, 2):
            buf[i] = 0.0  # fine: past the slice
        for i in range(1, N, 3):
            buf[i:i + 2] = 5.0  # refused: every trip's two words are in the slice
        ws.send_wait(ws.EAST)
    else:
        ws.recv(ws.WEST, out=buf[0:N])
        out[0:N] = buf[0:N]


@ws.jit
def doubled(dst, src):
    dst[0:4] = src[0:4] * 2.0  # refused (called from the kernel while src arrives)
    return 0


@ws.jit
def read_through_a_device_function(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    tmp = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        doubled(tmp, buf)  # MARK-call
        ws.recv_wait(ws.WEST)
        out[0:N] = tmp[0:N]


@ws.jit
def partly_overlapping_write(out):
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    buf[0:2 * N] = 0.0
    if p == 0:
        ws.send_async(ws.EAST, buf[0:N])
        buf[N:2 * N] = 1.0  # fine: the words after the slice
        buf[N - 2:N + 2] = 2.0  # refused: its first two words are the slice's last two
        ws.send_wait(ws.EAST)
    else:
        ws.recv(ws.WEST, out=buf[0:N])
        out[0:N] = buf[0:N]


@ws.jit
def read_on_one_pe_only(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
        ws.send(ws.EAST, buf[0:N])
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        if p == 1:
            out[0] = buf[0]  # refused: PE 1 reads a word that may not have arrived
        ws.recv_wait(ws.WEST)
        if p == 1:
            ws.send(ws.EAST, buf[0:N])
        else:
            out[1] = buf[0]


@ws.jit
def send_while_receiving(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    if p == 0:
        fill_and_send(buf, p)
    elif p == 1:
        ws.recv_async(ws.WEST, out=buf[0:N])
        ws.send(ws.EAST, buf[4:N])  # refused: forwards words that may not have arrived
        ws.recv_wait(ws.WEST)
    else:
        ws.recv(ws.WEST, out=buf[4:N])
        out[0:4] = buf[4:N]


@ws.jit
def receive_into_a_slice_being_sent(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    buf[0:N] = 1.0
    if p == 1:
        ws.send_async(ws.EAST, buf[0:N])
        ws.recv_async(ws.WEST, out=buf[0:4], channel=1)  # refused: overwrites words that may not have left
        ws.recv_wait(ws.WEST, channel=1)
        ws.send_wait(ws.EAST)
    elif p == 0:
        ws.send(ws.EAST, buf[0:4], channel=1)
    else:
        ws.recv(ws.WEST, out=buf[0:N])
        out[0:N] = buf[0:N]


@ws.jit
def write_on_the_pes_that_send(out):
    """The library GEMV's shape: each PE with a south neighbour forwards its segment in the background."""
    seg = ws.local.array(N, np.float32)
    seg[0:N] = 1.0
    if ws.has_neighbor(ws.SOUTH):
        ws.send_async(ws.SOUTH, seg[0:N])
    seg[0] = 2.0  # refused: on every PE with a south neighbour, while its words may not have left
    if ws.has_neighbor(ws.SOUTH):
        ws.send_wait(ws.SOUTH)
    if ws.has_neighbor(ws.NORTH):
        ws.recv(ws.NORTH, out=seg[0:N])
    out[ws.grid(1)] = seg[0]


REFUSED = [
    (read_before_rwait, ("reads buf[3] while the ws.recv_async(ws.WEST, channel 0) at line",
                         "may still be receiving into buf[0:8]",
                         "use the slice after ws.recv_wait(ws.WEST, channel=0)")),
    (vector_read_before_rwait, ("reads buf[0:8] while the ws.recv_async(ws.WEST, channel 0)",)),
    (write_before_rwait, ("writes buf[0] while the ws.recv_async(ws.WEST, channel 0)",)),
    (write_before_swait, ("writes buf[2:4] while the ws.send_async(ws.EAST, channel 0) at line",
                          "may still be sending buf[0:8]", "change the slice after ws.send_wait(ws.EAST, channel=0)")),
    (read_in_a_loop, ("reads buf[1] while the ws.recv_async(ws.WEST, channel 0)", "receiving into buf[0:8]")),
    (read_on_the_next_trip, ("reads buf[2] while the ws.recv_async(ws.WEST, channel 0)",)),
    (read_in_a_range_loop, ("reads a word of buf[2:8] while the ws.recv_async(ws.WEST, channel 0)",)),
    (read_in_a_long_range_loop, ("reads a word of buf[11:200] while the ws.recv_async(ws.WEST, channel 0)",)),
    (write_in_a_strided_range_loop, ("writes words of buf[1:9] while the ws.send_async(ws.EAST, channel 0)",)),
    (partly_overlapping_write, ("writes buf[6:10] while the ws.send_async(ws.EAST, channel 0)", "sending buf[0:8]")),
    (read_on_one_pe_only, ("reads buf[0] while the ws.recv_async(ws.WEST, channel 0)",)),
    (send_while_receiving, ("sends buf[4:8] while the ws.recv_async(ws.WEST, channel 0)",)),
    (receive_into_a_slice_being_sent, ("receives into buf[0:4] while the ws.send_async(ws.EAST, channel 0)",)),
    (write_on_the_pes_that_send, ("writes seg[0] while the ws.send_async(ws.SOUTH, channel 0)",)),
]


@pytest.mark.parametrize("kernel, parts", REFUSED, ids=[entry[0].py_func.__name__ for entry in REFUSED])
def test_a_slice_used_before_its_wait_is_refused_at_the_line(kernel, parts):
    error = refused_at_its_line(kernel, *parts, "race", width=3, height=3)
    assert "# refused" in str(error).splitlines()[1]  # (the line itself, shown)


def test_a_refusal_inside_a_device_function_names_the_call():
    error = refused_at_its_line(read_through_a_device_function,
                                "reads buf[0:4] while the ws.recv_async(ws.WEST, channel 0)", width=3,
                                marked=(doubled, "refused"))
    assert f"called from {__file__}:{line_of(read_through_a_device_function, 'MARK-call')}" in str(error)


# ---- what is not refused: correct kernels, and what the compiler cannot decide

@ws.jit
def double_buffered(out, chunks):
    """PE 0 streams `chunks` chunks of N words; PE 1 receives chunk k + 1 into one half while it adds up chunk
    k from the other (constant halves: the check sees every slice), reading only after each wait."""
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    acc = ws.local.array(N, np.float32)
    acc[0:N] = 0.0
    if p == 0:
        for k in range(chunks):
            for i in range(N):
                buf[i] = k * 100.0 + i
            ws.send_async(ws.EAST, buf[0:N])
            acc[0:N] = acc[0:N] + buf[0:N]  # reading a slice being sent is fine
            buf[N:2 * N] = 0.0  # and so is writing next to it
            ws.send_wait(ws.EAST)
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for k in range(0, chunks, 2):
            ws.recv_wait(ws.WEST)
            ws.recv_async(ws.WEST, out=buf[N:2 * N])
            acc[0:N] = acc[0:N] + buf[0:N]
            ws.recv_wait(ws.WEST)
            if k + 2 < chunks:
                ws.recv_async(ws.WEST, out=buf[0:N])
            acc[0:N] = acc[0:N] + buf[N:2 * N]
        out[0:N] = acc[0:N]


@ws.jit
def computed_halves(out, chunks):
    """As `double_buffered` with the halves' offsets computed each trip (as the library GEMM's): not decidable
    at compile time, and correct."""
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    acc = ws.local.array(N, np.float32)
    acc[0:N] = 0.0
    if p == 0:
        for k in range(chunks):
            for i in range(N):
                buf[i] = k * 100.0 + i
            ws.send(ws.EAST, buf[0:N])
    else:
        ws.recv_async(ws.WEST, out=buf[0:N])
        for k in range(chunks):
            here = (k % 2) * N
            there = N - here
            ws.recv_wait(ws.WEST)
            if k + 1 < chunks:
                ws.recv_async(ws.WEST, out=buf[there:there + N])
            acc[0:N] = acc[0:N] + buf[here:here + N]
        out[0:N] = acc[0:N]


@ws.jit
def correlated_conditions(out, x, chunks):
    """Correct kernels whose transfers are posted on some paths only, read where no PE can still be moving
    them: the PEs with an east neighbour post and wait under the same test; PE 1 writes words PE 0 sends
    (another PE's SRAM); the receiver posts and waits where its data-dependent flag is set."""
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    for i in range(2 * N):
        buf[i] = p * 100.0 + i
    flag = x[0]
    for k in range(chunks):
        if ws.has_neighbor(ws.EAST) and p == 0:
            ws.send_async(ws.EAST, buf[0:N])
        if p == 1:
            buf[0] = buf[0] + 1.0  # PE 1 never sends: its buf is free
        if ws.has_neighbor(ws.EAST) and p == 0:
            ws.send_wait(ws.EAST)
        buf[1] = buf[1] + 1.0  # on PE 0 after its wait
        if p == 1 and flag > 0.0:
            ws.recv_async(ws.WEST, out=buf[N:2 * N])
        if p == 1 and flag > 0.0:
            ws.recv_wait(ws.WEST)
        if p == 1 and flag <= 0.0:
            ws.recv(ws.WEST, out=buf[N:2 * N])
    out[p, 0:2 * N] = buf[0:2 * N]


def test_transfers_posted_on_some_paths_and_waited_on_the_same_compile_and_match_numpy():
    chunks = 3
    for flag in (1.0, -1.0):
        pe0, pe1 = np.arange(2 * N, dtype=np.float32), 100.0 + np.arange(2 * N, dtype=np.float32)
        for k in range(chunks):  # (plain Python, in program order: a send's words are PE 0's at its post)
            sent = pe0[0:N].copy()
            pe1[0] += 1.0
            pe0[1] += 1.0
            pe1[1] += 1.0
            pe1[N:2 * N] = sent
        assert_matches_numpy_under_every_strategy(correlated_conditions, np.stack([pe0, pe1]),
                                                  np.array([flag], np.float32), chunks)


@pytest.mark.parametrize("kernel", [double_buffered, computed_halves])
def test_correct_double_buffered_kernels_run_and_match_numpy_under_every_strategy(kernel):
    chunks = 4
    expected = sum(k * 100.0 + np.arange(N, dtype=np.float32) for k in range(chunks)).astype(np.float32)
    assert_matches_numpy_under_every_strategy(kernel, expected, chunks, busy=True)


def test_the_library_kernels_with_background_transfers_compile_and_match_numpy():
    from wafersim.kernels.gemm import gemm
    from wafersim.kernels.gemv import gemv_batch

    rng = np.random.default_rng(5)
    a = rng.standard_normal((16, 16)).astype(np.float32)
    b = rng.standard_normal((16, 16)).astype(np.float32)
    c, _ = gemm(a, b, 4)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    xs = rng.standard_normal((3, 16)).astype(np.float32)
    ys, _ = gemv_batch(a, xs, 2, 2)
    np.testing.assert_allclose(ys, xs.astype(np.float64) @ a.T, rtol=1e-4, atol=1e-4)


# ---- a differential test: straight-line programs against program order, per kind of PE

WAYS = {"send": ("ws.send_async(ws.EAST, a[{lo}:{hi}], channel={ch})", "ws.send_wait(ws.EAST, channel={ch})"),
        "recv": ("ws.recv_async(ws.WEST, out=a[{lo}:{hi}], channel={ch})", "ws.recv_wait(ws.WEST, channel={ch})")}
B = 8


def random_program(rng) -> list[tuple]:
    """Statements over one local array `a` of B words, each run by every PE or only by the PEs with an east
    neighbour: posts and waits of background transfers on two channels each way, slice reads and writes."""
    statements, posted = [], set()
    for _ in range(rng.integers(3, 9)):
        lo = int(rng.integers(0, B))
        hi = int(rng.integers(lo + 1, B + 1))
        guarded = bool(rng.integers(0, 3) == 0)
        kind = ["post", "wait", "read", "write", "scalar"][int(rng.integers(0, 5))]
        way, ch = ["send", "recv"][int(rng.integers(0, 2))], int(rng.integers(0, 2))
        if kind == "wait" and (way, ch) not in posted:
            kind = "read"  # (a wait for no transfer of the kernel is refused on its own)
        posted.add((way, ch)) if kind == "post" else None
        statements.append((kind, way, ch, lo, hi, guarded))
    return statements


def render(statements) -> tuple[str, list[int]]:
    """The kernel's source, and the source line of each statement (as the file will number it)."""
    body, lines = [], []
    for kind, way, ch, lo, hi, guarded in statements:
        text = {"post": WAYS[way][0], "wait": WAYS[way][1], "read": "t[0:{n}] = a[{lo}:{hi}]",
                "write": "a[{lo}:{hi}] = 2.0", "scalar": "x = x + a[{lo}]"}[kind]
        text = text.format(lo=lo, hi=hi, ch=ch, n=hi - lo)
        if guarded:
            body.append("    if ws.has_neighbor(ws.EAST):")
            text = "    " + text
        body.append("    " + text)
        lines.append(len(body))
    head = ["import numpy as np", "import wafersim as ws", "", "", "@ws.jit", "def kern(out):",
            f"    a = ws.local.array({B}, np.float32)", f"    t = ws.local.array({B}, np.float32)",
            f"    a[0:{B}] = 1.0", "    x = 0.0"]
    tail = ["    out[0] = x + t[0]"]
    return "\n".join(head + body + tail) + "\n", [len(head) + k for k in lines]


def first_race(statements) -> int | None:
    """The first statement, in program order, that reads or writes words a transfer still moves on a PE with
    an east neighbour or on one without (plain Python: each kind of PE runs its statements in order, keeping
    the outstanding transfers' slices until their wait); None where there is none."""
    first = None
    for neighbour in (True, False):
        outstanding = []  # (way, channel, lo, hi)
        for k, (kind, way, ch, lo, hi, guarded) in enumerate(statements):
            if guarded and not neighbour:
                continue
            hi = lo + 1 if kind == "scalar" else hi
            reads = kind in ("read", "scalar") or (kind == "post" and way == "send")
            writes = kind == "write" or (kind == "post" and way == "recv")
            if kind == "wait":
                outstanding = [o for o in outstanding if (o[0], o[1]) != (way, ch)]
                continue
            for o_way, o_ch, o_lo, o_hi in outstanding:
                if kind == "post" and (o_way, o_ch) == (way, ch):
                    continue  # (queued behind it on hardware too)
                if o_lo < hi and lo < o_hi and (writes or (reads and o_way == "recv")):
                    first = k if first is None else min(first, k)
            if kind == "post":
                outstanding.append((way, ch, lo, hi))
    return first


@pytest.mark.parametrize("seed", range(40))
def test_the_check_refuses_exactly_the_races_of_straight_line_programs(seed, tmp_path):
    from conftest import load_source

    statements = random_program(np.random.default_rng(seed))
    source, lines = render(statements)
    kern = load_source(tmp_path, source).kern
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    expected = first_race(statements)
    if expected is None:
        kern.compile_for(dev.device_array(1), device=dev)  # (compiles: no race to refuse)
        return
    with pytest.raises(ws.CompileError) as info:
        kern.compile_for(dev.device_array(1), device=dev)
    assert "race" in str(info.value), source
    assert info.value.line == lines[expected], source
