"""Stream ops (`vaddx`, `vmaxx`, `vminx`, `sim/stream_ops.py`): a chain of PEs reduces vectors word by word as they
stream through, checked against plain Python: the values (each PE's sram[a + k] combined with word k, in the
chain's order) and every PE's cycle at the end of its stream op, from the documented per-word formula
(docs/timing.md, "Streams through the FMAC"), with back-pressure, under the fast and reference strategies."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.sim import stream_ops, strategy

_OPS = {"vaddx": lambda s, w: s + w, "vmaxx": max, "vminx": min}


def chain_source(n: int, op: str = "vaddx", flt: bool = True, root_delay: int = 0, leaf_background: bool = False) -> str:
    """A row of PEs: PE x holds sram[k] = value(x, k); the east end sends its vector west, every PE between
    streams (`op`) what arrives from the east into its own and on west, and PE 0 streams into its own only.
    `print` before and after each stream op records its start and end cycles; the root first runs a vfill of
    `root_delay` words, so that back-pressure reaches up the chain."""
    mod = ".f" if flt else ""
    make = "itof r7, r7\n    li r8, 0.37\n    fmul r7, r7, r8" if flt else "muli r7, r7, -7"
    send = (f"senda.{'f32' if flt else 'i32'} west, 0, r4, r5\n    swait west, 0" if leaf_background
            else f"sendv.{'f32' if flt else 'i32'} west, 0, r4, r5")
    return f"""
.sram {max(n, root_delay, 1)}
    sreg r1, tid.x
    sreg r2, bdim.x
    li r5, {n}
    li r3, 0
    mul r6, r1, r5
    bz r5, ready
init:
    add r7, r6, r3
    {make}
    st r7, r3, 0
    addi r3, r3, 1
    slt r9, r3, r5
    bnz r9, init
ready:
    li r4, 0
    addi r10, r2, -1
    seq r11, r1, r10
    bnz r11, leaf
    bz r1, root
    print r0, 1
    {op}{mod} west, east, 0, r4, r5
    print r0, 2
    halt
leaf:
    print r0, 1
    {send}
    print r0, 2
    halt
root:
    li r12, {root_delay}
    vfill r4, r0, r12
    print r0, 1
    {op}{mod} none, east, 0, r4, r5
    print r0, 2
    halt
"""


def _values(x: int, n: int, flt: bool) -> list:
    if flt:
        return [np.float32(np.float32(x * n + k) * np.float32(0.37)) for k in range(n)]
    return [np.int32((x * n + k) * -7) for k in range(n)]


def expected_values(p: int, n: int, op: str, flt: bool, root_delay: int) -> list:
    """Each PE's SRAM after the chain, in plain Python (float32 / int32 scalars): PE x combines its own with
    what PE x + 1 sent, element by element, its own value first (the ISA's operand order)."""
    combine = _OPS[op]
    sent = _values(p - 1, n, flt)
    out = {p - 1: sent}
    for x in range(p - 2, -1, -1):
        own = _values(x, n, flt)
        if x == 0:
            own = [np.float32(0) if flt else np.int32(0)] * min(root_delay, n) + own[root_delay:]
        with np.errstate(over="ignore"):
            sent = [combine(own[k], sent[k]) for k in range(n)]
        out[x] = sent
    return [out[x] for x in range(p)]


def expected_ends(starts: list, p: int, n: int, spec: ws.WaferSpec, half: bool = False) -> list:
    """The cycle each PE's stream op (the leaf's sendv) ends at, from docs/timing.md's formulas: the leaf's
    words depart a word time apart once the FIFO has room; a stream op takes word k at
    t_k = max(t_{k-1} + W, arrival_k, slot_k - W) and sends it on at t_k + W (W = max(a word's link time, an
    element's FMAC time at `vector_lanes`, or `vector_lanes_half` for a 16-bit op: `half`))."""
    wt = 1 / spec.link_words_per_cycle
    step = max(wt, 1 / (spec.vector_lanes_half if half else spec.vector_lanes))
    latency = spec.hop_latency + 2 * spec.ramp_latency
    depth = spec.fifo_depth
    issue = {"send": spec.cost_cycles["send"], "vector": spec.cost_cycles["vector"]}
    starts = [start + spec.cost_cycles["print"] for start in starts]  # (the start print's own issue first)
    depart = [[0.0] * n for _ in range(p)]  # when word k leaves PE x
    taken = [[0.0] * n for _ in range(p)]  # when PE x takes word k from its FIFO
    for k in range(n):
        for x in range(p - 1, -1, -1):
            slot = taken[x - 1][k - depth] if x > 0 and k >= depth else -np.inf
            if x == p - 1:
                ready = starts[x] + issue["send"] if k == 0 else depart[x][k - 1] + wt
                depart[x][k] = max(ready, slot)
                continue
            ready = starts[x] + issue["vector"] if k == 0 else taken[x][k - 1] + step
            arrival = depart[x + 1][k] + latency
            taken[x][k] = max(ready, arrival, slot - step if x > 0 else -np.inf)
            depart[x][k] = taken[x][k] + step
    ends = []
    for x in range(p):
        if n == 0:
            ends.append(starts[x] + issue["send" if x == p - 1 else "vector"])
        elif x == p - 1 or x > 0:
            ends.append(depart[x][n - 1] + wt)
        else:
            ends.append(taken[x][n - 1] + step)
    return ends


def run_chain(p: int, n: int, op: str = "vaddx", flt: bool = True, root_delay: int = 0,
              spec: ws.WaferSpec | None = None, leaf_background: bool = False):
    """(stats, each PE's cycle at its stream op's start and end (the prints'), each PE's SRAM words)."""
    spec = spec or ws.WaferSpec(width=p, height=1)
    dev = ws.Device(spec)
    source = chain_source(n, op, flt, root_delay, leaf_background)
    stats = dev.launch(ws.assemble(source), (1, 1), (p, 1), (), print_output=False, keep_state=True)
    starts, ends = [None] * p, [None] * p
    for record in stats.prints:
        (starts if record.text == "#1" else ends)[record.x] = record.cycle
    words = np.asarray(stats.state.waves[0].sram)[:n, :p]
    return stats, starts, ends, [list(words[:, x].view(np.float32 if flt else np.int32)) for x in range(p)]


SPECS = {"dev": {}, "wse2": {"preset": "wse2"}, "shallow": {"fifo_depth": 4}}


def _spec(kind: str, p: int) -> ws.WaferSpec:
    fields = dict(SPECS[kind])
    if fields.pop("preset", None):
        return ws.WaferSpec.preset("wse2", width=p, height=1)
    return ws.WaferSpec(width=p, height=1, **fields)


@pytest.mark.parametrize("mover", ["bulk", "word"])  # (the fast strategy's bulk steps, the reference's word steps)
@pytest.mark.parametrize("kind", sorted(SPECS))
@pytest.mark.parametrize("p, n, root_delay", [(2, 5, 0), (4, 40, 30), (5, 17, 0), (3, 64, 200), (3, 0, 0)])
def test_a_chain_of_stream_adds_matches_python_values_and_cycles(kind, p, n, root_delay, mover):
    spec = _spec(kind, p)
    with strategy.forced(strategy.FAST if mover == "bulk" else strategy.REFERENCE):
        _, starts, ends, sram = run_chain(p, n, root_delay=root_delay, spec=spec)
    for got, want in zip(sram, expected_values(p, n, "vaddx", True, root_delay)):
        np.testing.assert_array_equal(np.array(got, np.float32), np.array(want, np.float32))
    assert ends == expected_ends(starts, p, n, spec)


@pytest.mark.parametrize("op", sorted(_OPS))
@pytest.mark.parametrize("flt", [True, False])
def test_max_min_and_int32_streams_match_python(op, flt):
    p, n = 4, 23
    spec = _spec("shallow", p)
    _, starts, ends, sram = run_chain(p, n, op=op, flt=flt, root_delay=9, spec=spec)
    for got, want in zip(sram, expected_values(p, n, op, flt, 9)):
        np.testing.assert_array_equal(np.array(got), np.array(want))
    assert ends == expected_ends(starts, p, n, spec)


def test_a_stream_passes_a_word_a_cycle_and_a_hop_costs_the_ramps_the_link_and_the_add():
    # wse2: ramp_latency 2, hop_latency 1, a word a cycle: the first word reaches the root 2 * 2 + 1 + 1 = 6
    # cycles a hop after the leaf sends it, and the last n - 1 cycles after the first.
    spec = ws.WaferSpec.preset("wse2", width=8, height=1)
    p, n = 8, 256
    _, starts, ends, _ = run_chain(p, n, spec=spec)
    assert ends == expected_ends(starts, p, n, spec)
    leaf_first_departure = starts[p - 1] + 1 + 1  # (the print, the sendv's issue)
    assert ends[0] - leaf_first_departure == (p - 1) * 6 - 1 + (n - 1) + 1


def test_the_same_run_under_the_reference_strategy():
    spec = _spec("shallow", 4)
    fast = run_chain(4, 37, root_delay=21, spec=spec)
    with strategy.forced(strategy.REFERENCE):
        ref = run_chain(4, 37, root_delay=21, spec=spec)
    assert fast[1:3] == ref[1:3]
    np.testing.assert_array_equal(np.array(fast[3]), np.array(ref[3]))
    np.testing.assert_array_equal(fast[0].busy, ref[0].busy)
    np.testing.assert_array_equal(fast[0].stall, ref[0].stall)
    assert fast[0].vector_elements == ref[0].vector_elements


def test_a_group_waiting_for_its_first_words_waits_as_it_came(monkeypatch):
    """The NumPy executor's shortcut (`_all_wait_for_words`: a dense group at a stream op with no word queued
    waits whole) is taken on a chain and gives the reference strategy's words and cycles."""
    taken = []
    original = stream_ops.StreamOpsMixin._all_wait_for_words
    monkeypatch.setattr(stream_ops.StreamOpsMixin, "_all_wait_for_words",
                        lambda self, ins, lanes: taken.append(original(self, ins, lanes)) or taken[-1])
    spec = _spec("shallow", 6)
    with strategy.forced(strategy.Strategy(compiled=False)):
        fast = run_chain(6, 21, root_delay=5, spec=spec)
    assert True in taken
    with strategy.forced(strategy.REFERENCE):
        ref = run_chain(6, 21, root_delay=5, spec=spec)
    assert fast[1:3] == ref[1:3] and fast[2] == expected_ends(fast[1], 6, 21, spec)
    np.testing.assert_array_equal(np.array(fast[3]), np.array(ref[3]))
    np.testing.assert_array_equal(fast[0].stall, ref[0].stall)


def test_a_background_leaf_send_streams_the_same():
    spec = _spec("wse2", 5)
    blocking = run_chain(5, 50, spec=spec)
    background = run_chain(5, 50, spec=spec, leaf_background=True)
    np.testing.assert_array_equal(np.array(blocking[3]), np.array(background[3]))
    assert blocking[2][:-1] == background[2][:-1]


def test_stream_stats_count_elements_flops_and_link_words():
    p, n = 4, 30
    stats, *_ = run_chain(p, n)
    assert stats.flops == p * n + (p - 1) * n  # the init loop's fmul a word, then an add per word but the leaf's
    assert stats.vector_elements == (p - 1) * n
    assert stats.link_words.sum() == (p - 1) * n


def test_a_mistyped_word_stops_the_stream_with_a_word_type_error():
    source = chain_source(8).replace("sendv.f32", "sendv.i32")
    with pytest.raises(ws.WordTypeError, match="received an int32 word as float32"):
        ws.Device(ws.WaferSpec(width=3, height=1)).launch(ws.assemble(source), (1, 1), (3, 1), (),
                                                          print_output=False)


def test_streams_waiting_on_each_other_deadlock_with_the_stream_named():
    source = """
    sreg r1, tid.x
    li r5, 4
    bz r1, west_end
    vaddx.f west, west, 0, r0, r5
    halt
west_end:
    vaddx.f east, east, 0, r0, r5
    halt
"""
    with pytest.raises(ws.DeadlockError, match="waits in vaddx for a word from the east on channel 0"):
        ws.Device(ws.WaferSpec(width=2, height=1)).launch(ws.assemble(".sram 4\n" + source), (1, 1), (2, 1), (),
                                                          print_output=False)


def test_misuse_is_refused_with_clear_errors():
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    with pytest.raises(ws.MeshBoundaryError, match="vaddx from east across the edge"):
        dev.launch(ws.assemble(".sram 4\nli r5, 4\nvaddx.f west, east, 0, r0, r5\nhalt\n"), (1, 1), (1, 1), (),
                   print_output=False)
    with pytest.raises(ws.MeshBoundaryError, match="vaddx west across the edge"):
        dev.launch(ws.assemble(".sram 4\nli r5, 4\nvaddx.f west, ramp, 0, r0, r5\nhalt\n"), (1, 1), (1, 1), (),
                   print_output=False)
    with pytest.raises(ws.MemoryAccessError, match="vaddx of SRAM words"):
        dev.launch(ws.assemble(".sram 4\nli r5, 5\nvaddx.f none, east, 0, r0, r5\nhalt\n"), (1, 1), (2, 1), (),
                   print_output=False)
    with pytest.raises(ws.LaunchError, match="names output port 4"):
        dev.launch(ws.assemble(".sram 4\nvaddx.f 4, east, 0, r0, r0\nhalt\n"), (1, 1), (2, 1), (), print_output=False)
    with pytest.raises(ws.AssemblyError, match="not through the router"):
        ws.assemble("vaddx ramp, east, 0, r1, r2")


def test_a_stream_takes_routed_words_from_the_ramp():
    # PE 0 broadcasts its vector over a row bus; every other PE adds it into its own as it arrives.
    n, p = 24, 5
    source = f"""
.sram {n}
.route 1 row_bus
    sreg r1, tid.x
    li r5, {n}
    li r3, 0
init:
    add r7, r1, r3
    itof r7, r7
    st r7, r3, 0
    addi r3, r3, 1
    slt r9, r3, r5
    bnz r9, init
    bz r1, root
    vaddx.f none, ramp, 1, r0, r5
    halt
root:
    sendv.f32 ramp, 1, r0, r5
    halt
"""
    runs = []
    for forced in (strategy.FAST, strategy.REFERENCE):
        with strategy.forced(forced):
            stats = ws.Device(ws.WaferSpec(width=p, height=1)).launch(ws.assemble(source), (1, 1), (p, 1), (),
                                                                     print_output=False, keep_state=True)
        words = np.asarray(stats.state.waves[0].sram)[:n, :p].view(np.float32)
        runs.append((words, stats.busy + stats.stall))
    k = np.arange(n, dtype=np.float32)
    want = np.stack([k if x == 0 else (x + k) + k for x in range(p)], axis=1).astype(np.float32)
    np.testing.assert_array_equal(runs[0][0], want)
    np.testing.assert_array_equal(runs[1][0], want)
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


# ---------------------------------------------------------------------------- ws.add_stream in kernels
W = 20


def _jit_chain(intrinsic, dtype):
    @ws.jit
    def chain(data, out):
        x = ws.threadIdx.x
        p = ws.blockDim.x
        buf = ws.local.array(W, dtype)
        for k in range(W):
            buf[k] = data[x * W + k]
        if x == p - 1:
            ws.send(ws.WEST, buf[0:W], channel=2)
        elif x > 0:
            intrinsic(ws.EAST, ws.WEST, buf[0:W], channel=2)
        else:
            intrinsic(ws.EAST, None, buf[0:W], channel=2)
        for k in range(W):
            out[x * W + k] = buf[k]

    return chain


@pytest.mark.parametrize("name, reduce", [("add_stream", np.add), ("max_stream", np.maximum),
                                          ("min_stream", np.minimum)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_kernel_streams_match_numpy(name, reduce, dtype):
    p = 6
    dev = ws.Device(ws.WaferSpec(width=p, height=1))
    rng = np.random.default_rng(7)
    data = (rng.standard_normal(p * W) * 1000).astype(dtype)
    if dtype == np.float32:
        data[3] = np.nan  # (max and min propagate it, as np.maximum / np.minimum)
    out = dev.device_array(p * W, dtype)
    _jit_chain(getattr(ws, name), dtype)[(1, 1), (p, 1)](dev.to_device(data), out)
    rows = data.reshape(p, W)
    want = [None] * p
    acc = rows[p - 1]
    want[p - 1] = acc
    for x in range(p - 2, -1, -1):
        with np.errstate(all="ignore"):
            acc = reduce(rows[x], acc).astype(dtype)
        want[x] = acc
    np.testing.assert_array_equal(out.copy_to_host().reshape(p, W), np.stack(want))


def _jit_chain_spelled(form):
    """`_jit_chain`'s add_stream, its arguments spelled as Python binds them to (source, sink, x, channel=0)."""
    @ws.jit
    def chain(data, out):
        x = ws.threadIdx.x
        p = ws.blockDim.x
        buf = ws.local.array(W, np.float32)
        for k in range(W):
            buf[k] = data[x * W + k]
        if x == p - 1:
            ws.send(ws.WEST, buf[0:W], channel=2)
        elif x > 0:
            if form == 0:
                ws.add_stream(ws.EAST, ws.WEST, buf[0:W], 2)
            else:
                ws.add_stream(source=ws.EAST, sink=ws.WEST, x=buf[0:W], channel=2)
        else:
            if form == 0:
                ws.add_stream(ws.EAST, None, buf[0:W], 2)
            else:
                ws.add_stream(ws.EAST, x=buf[0:W], sink=None, channel=2)
        for k in range(W):
            out[x * W + k] = buf[k]

    return chain


def test_stream_arguments_bind_by_position_or_by_name_as_the_usage_says():
    """The usage is `ws.add_stream(source, sink, x, channel=0)`, but `sink=None` was refused as "sink= is not
    one" and a positional channel as "wrong arguments": both now compile to the same stream, cycles and all."""
    p = 5
    data = np.random.default_rng(3).standard_normal(p * W).astype(np.float32)
    rows = data.reshape(p, W)
    want = rows[p - 1]
    for x in range(p - 2, -1, -1):
        want = rows[x] + want  # (own element first, as the chain adds)
    results = []
    for chain in (_jit_chain(ws.add_stream, np.float32), _jit_chain_spelled(0), _jit_chain_spelled(1)):
        dev = ws.Device(ws.WaferSpec(width=p, height=1))
        out = dev.device_array(p * W, np.float32)
        stats = chain[(1, 1), (p, 1)](dev.to_device(data), out)
        results.append((out.copy_to_host().reshape(p, W), stats.cycles))
        np.testing.assert_array_equal(results[-1][0][0], want)
    assert all(np.array_equal(r[0], results[0][0]) and r[1] == results[0][1] for r in results)


def test_stream_arguments_missing_repeated_or_unknown_are_refused_naming_them():
    from conftest import compile_error, line_of

    def kernel_of(case):
        @ws.jit
        def bad(out):
            buf = ws.local.array(8, np.float32)
            if case == 0:
                ws.add_stream(ws.EAST, sink=None)  # MARK-0
            elif case == 1:
                ws.max_stream(ws.EAST, None, buf[0:8], sink=ws.WEST)  # MARK-1
            elif case == 2:
                ws.min_stream(ws.EAST, None, buf[0:8], 1, 2)  # MARK-2
            else:
                ws.add_stream(ws.EAST, None, buf[0:8], 1, channel=1)  # MARK-3
            out[0] = buf[0]

        return bad

    messages = ["(x missing)", "sink is given twice", "at most 4", "channel is given twice"]
    for case, message in enumerate(messages):
        kernel = kernel_of(case)
        error = compile_error(ws.Device(ws.WaferSpec(width=2, height=1)), kernel, np.zeros(1, np.float32))
        assert message in str(error), (case, str(error))
        assert error.line == line_of(kernel, f"MARK-{case}")


def test_kernel_stream_misuse_is_a_compile_error_at_its_line():
    import ml_dtypes
    from conftest import compile_error, line_of

    def kernel_of(case):
        @ws.jit
        def bad(out):
            buf = ws.local.array(8, np.float32)
            brain = ws.local.array(8, ml_dtypes.bfloat16)
            if case == 0:
                ws.add_stream(ws.EAST, ws.RAMP, buf[0:8])  # MARK-0
            elif case == 1:
                ws.add_stream(ws.EAST, ws.WEST, buf)  # MARK-1
            elif case == 2:
                ws.add_stream(ws.EAST, ws.WEST, brain[0:8])  # MARK-2
            elif case == 3:
                ws.add_stream(ws.EAST, ws.WEST, buf[0:8], out=buf)  # MARK-3
            out[0] = buf[0] + brain[0]

        return bad

    messages = ["does not send through the router", "needs a slice of a local array", "no bfloat16 stream op",
                "(out= is not one)"]
    for case, message in enumerate(messages):
        kernel = kernel_of(case)
        error = compile_error(ws.Device(ws.WaferSpec(width=2, height=1)), kernel, np.zeros(1, np.float32))
        assert message in str(error), (case, str(error))
        assert error.line == line_of(kernel, f"MARK-{case}")


@ws.jit
def _rows_east(data, out, n: ws.constant):
    """Each row of a 2-D block a chain eastward on channel 1: the west end sends, the east end keeps."""
    x, y, p = ws.threadIdx.x, ws.threadIdx.y, ws.blockDim.x
    buf = ws.local.array(n, np.int32)
    for k in range(n):
        buf[k] = data[y, x * n + k]
    if x == 0:
        ws.send(ws.EAST, buf[0:n], channel=1)
    elif x < p - 1:
        ws.add_stream(ws.WEST, ws.EAST, buf[0:n], channel=1)
    else:
        ws.add_stream(ws.WEST, None, buf[0:n], channel=1)
    for k in range(n):
        out[y, x * n + k] = buf[k]


@pytest.mark.parametrize("mover", ["bulk", "word"])
def test_int32_stream_sums_wrap_as_numpy_along_every_row_of_a_block(mover):
    """An int32 add stream wraps as NumPy's int32 add (values near 2**31 overflow at every hop), each row of
    a 2-D block its own chain eastward; longer than a FIFO (back-pressure), under both movers."""
    p, rows, n = 5, 3, 37
    dev = ws.Device(ws.WaferSpec(width=p, height=rows))
    data = np.random.default_rng(3).integers(2 ** 30, 2 ** 31 - 1, (rows, p * n)).astype(np.int32)
    out = dev.device_array((rows, p * n), np.int32)
    with strategy.forced(strategy.FAST if mover == "bulk" else strategy.REFERENCE):
        _rows_east[(1, 1), (p, rows)](dev.to_device(data), out, n)
    want = data.reshape(rows, p, n).copy()
    for x in range(1, p):
        want[:, x] = want[:, x] + want[:, x - 1]  # (int32 arrays: wraps)
    assert (want[:, 1:] < 0).any()  # (the test reaches the wrap)
    np.testing.assert_array_equal(out.copy_to_host().reshape(rows, p, n), want)


@ws.jit
def _mixed_chain(out, streams: ws.constant):
    """PE 2 sends int32 words west; PE 1 streams them on as int32; PE 0 takes them as float32 (a stream op, or a
    typed receive): a mistyped word."""
    x = ws.threadIdx.x
    fb = ws.local.array(8, np.float32)
    ib = ws.local.array(8, np.int32)
    for i in range(8):
        fb[i] = 1.0
        ib[i] = 1
    if x == 2:
        ws.send(ws.WEST, ib[0:8])  # MARK-send
    elif x == 1:
        ws.add_stream(ws.EAST, ws.WEST, ib[0:8])  # MARK-stream
    elif streams:
        ws.add_stream(ws.EAST, None, fb[0:8])  # MARK-take-1
    else:
        ws.recv(ws.EAST, out=fb[0:8])  # MARK-take-0
    out[x] = fb[0]


@pytest.mark.parametrize("streams", [1, 0])
def test_a_mistyped_word_from_a_stream_op_names_the_stream_and_how_to_take_it(streams):
    """The word PE 0 takes was sent by PE 1's stream op: the error listed only the send ops' lines (naming PE 2's
    send, a line that never reached PE 0) and, for a stream op taking it, advised ws.recv's bitcast=, which a
    stream op has not."""
    from conftest import line_of

    dev = ws.Device(ws.WaferSpec(width=3, height=1))
    with pytest.raises(ws.WordTypeError) as info:
        _mixed_chain[1, (3, 1)](dev.device_array(3, np.float32), streams)
    message, error = str(info.value), info.value
    assert error.sender == (1, 0) and error.source[1] == line_of(_mixed_chain, f"MARK-take-{streams}")
    assert f"test_stream_ops.py:{line_of(_mixed_chain, 'MARK-stream')}" in message
    if streams:
        assert "stream it into a slice of a int32 local array" in message and "bitcast" not in message.split(
            "stream it")[1].replace("with no bitcast", "")
    else:
        assert "bitcast=True to ws.recv" in message


@ws.jit
def _stuck(out, from_router: ws.constant):
    """PE 2 sends 40 words west, PE 1 streams them on west, PE 0 never takes them (or, `from_router`, PE 1
    streams from a channel no PE routes to)."""
    x = ws.threadIdx.x
    buf = ws.local.array(40, np.float32)
    for i in range(40):
        buf[i] = 1.0
    if from_router:
        if x == 1:
            ws.add_stream(ws.RAMP, None, buf[0:40], channel=3)
    elif x == 2:
        ws.send(ws.WEST, buf[0:40])
    elif x == 1:
        ws.add_stream(ws.EAST, ws.WEST, buf[0:40])
    out[x] = buf[0]


def test_a_deadlocked_stream_says_whether_it_waits_for_a_word_or_for_room():
    """The message said 'for a word ... or for room' whatever the stream waited for; it now looks at the FIFOs,
    and a stream from the router with no sender gets the routed-word hint a receive gets."""
    dev = ws.Device(ws.WaferSpec(width=3, height=1))
    with pytest.raises(ws.DeadlockError) as info:
        _stuck[1, (3, 1)](dev.device_array(3, np.float32), 0)
    message = str(info.value)
    assert "waits in vaddx for room to send west (a FIFO of 16 words is full): (1, 0)" in message
    assert "for a word" not in message
    with pytest.raises(ws.DeadlockError) as info:
        _stuck[1, (3, 1)](dev.device_array(3, np.float32), 1)
    message = str(info.value)
    assert "waits in vaddx for a word from the ramp on channel 3: (1, 0)" in message
    assert "every PE still running waits for a routed word" in message
