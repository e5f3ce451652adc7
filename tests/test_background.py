"""Background transfers (`ws.recv_async` / `ws.send_async`, `recva` / `senda` and their waits): the data of a
blocking transfer, the timing of a blocking transfer issued at the same cycle on the transfer's own clock,
overlap with computation, the same results under every engine strategy, and what they refuse."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import compile_error, line_of
from wafersim.sim import strategy

N = 48  # words moved: three FIFOs' worth, so the sender waits for the receiver to take words


def transfer_kernel(mode: str):
    """PE 0 sends N words east to PE 1, which then adds `work` vector ops that do not touch them.

    mode: "blocking" (sendv / recvv), "wait-at-once" (background transfers waited for right away), or
    "overlap" (background transfers waited for after the work)."""

    @ws.jit
    def move(out, work):
        p = ws.grid(1)
        buf = ws.local.array(N, np.float32)
        acc = ws.local.array(N, np.float32)
        for i in range(N):
            buf[i] = i * 0.5 + p
        acc[0:N] = 0.0
        if p == 0:
            if mode == "blocking":
                ws.send(ws.EAST, buf[0:N])
            else:
                ws.send_async(ws.EAST, buf[0:N])
                if mode == "wait-at-once":
                    ws.send_wait(ws.EAST)
        elif mode == "blocking":
            ws.recv(ws.WEST, out=buf[0:N])
        else:
            ws.recv_async(ws.WEST, out=buf[0:N])
            if mode == "wait-at-once":
                ws.recv_wait(ws.WEST)
        for i in range(work):
            acc[0:N] = acc[0:N] + 1.0
        if mode == "overlap":
            if p == 0:
                ws.send_wait(ws.EAST)
            else:
                ws.recv_wait(ws.WEST)
        if p == 1:
            out[0:N] = buf[0:N]

    return move


def _run(mode: str, work: int):
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    out = dev.device_array(N)
    stats = transfer_kernel(mode)[(1, 1), (2, 1)](out, work)
    return out.copy_to_host(), stats


def test_background_transfers_deliver_the_words_of_blocking_ones():
    for mode in ("blocking", "wait-at-once", "overlap"):
        out, _ = _run(mode, 3)
        np.testing.assert_array_equal(out, np.arange(N, dtype=np.float32) * 0.5)


def test_waiting_at_once_costs_what_a_blocking_transfer_costs():
    # The words move at the times the blocking transfer moves them; the PE's total is the same. The receiver's
    # wait instruction issues in a cycle it would have waited anyway; the sender's N word cycles become waiting.
    _, blocking = _run("blocking", 0)
    _, waited = _run("wait-at-once", 0)
    total = lambda stats: stats.busy.ravel() + stats.stall.ravel()  # noqa: E731
    np.testing.assert_array_equal(total(waited), total(blocking))
    assert waited.busy.ravel()[1] == blocking.busy.ravel()[1] + 1
    assert waited.busy.ravel()[0] == blocking.busy.ravel()[0] - N + 1


def test_work_overlaps_a_background_receive():
    # Enough work to cover the transfer: the receiver no longer waits for the words it took before the work;
    # only the wait's issue cycle is added.
    work = 30
    _, blocking = _run("blocking", work)
    _, overlap = _run("overlap", work)
    saved = blocking.stall.ravel()[1] - overlap.stall.ravel()[1]
    assert saved >= N - 1  # a word a cycle from a sender that starts with the receiver
    extra = overlap.busy.ravel()[1] - blocking.busy.ravel()[1]
    assert 1 <= extra <= 2  # the wait's issue (and the branch that picks it)
    assert blocking.cycles - overlap.cycles == saved - extra


@pytest.mark.parametrize("mode", ["wait-at-once", "overlap"])
def test_background_transfers_are_identical_under_every_strategy(mode):
    results = []
    for forced in (strategy.FAST, strategy.REFERENCE):
        with strategy.forced(forced):
            out, stats = _run(mode, 5)
        results.append((out, stats.cycles, stats.busy.tolist(), stats.stall.tolist()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1:] == results[1][1:]


@ws.jit
def unwaited_send(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    buf[0:N] = 1.0
    if p == 0:
        ws.send_async(ws.EAST, buf[0:N])  # halts without send_wait
    else:
        ws.recv(ws.WEST, out=buf[0:N])
        out[0:N] = buf[0:N]


def test_a_pe_halts_only_after_its_background_transfers():
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    out = dev.device_array(N)
    stats = unwaited_send[(1, 1), (2, 1)](out)
    np.testing.assert_array_equal(out.copy_to_host(), np.ones(N, np.float32))
    assert stats.busy.ravel()[0] + stats.stall.ravel()[0] >= N  # its last word leaves N word-times after the first


@ws.jit
def needs_later_instructions(out):
    p = ws.grid(1)
    buf = ws.local.array(N, np.float32)
    got = ws.local.array(N, np.float32)
    buf[0:N] = 2.0
    if p == 0:
        ws.recv_async(ws.EAST, out=got[0:N])  # PE 1 sends only after it has received PE 0's words
        ws.send(ws.EAST, buf[0:N])
        ws.recv_wait(ws.EAST)
    else:
        ws.recv(ws.WEST, out=got[0:N])
        ws.send(ws.WEST, buf[0:N])
    out[0:N] = got[0:N]


def test_a_background_transfer_that_needs_the_pes_later_instructions_is_reported_as_a_deadlock():
    # On hardware the receive would run beside the send; the simulator holds the PE at its recva until the
    # words have arrived (docs/timing.md): an error, never a wrong result.
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    with pytest.raises(ws.DeadlockError, match="holds its PE at the call until its last word has moved"):
        needs_later_instructions[(1, 1), (2, 1)](dev.device_array(N))


@ws.jit
def async_without_out(out):
    buf = ws.local.array(N, np.float32)
    ws.recv_async(ws.WEST)  # refused: needs out=
    out[0:N] = buf[0:N]


@ws.jit
def async_of_a_scalar(out):
    buf = ws.local.array(N, np.float32)
    ws.send_async(ws.EAST, 1.0)  # refused: a slice of a local array
    out[0:N] = buf[0:N]


@ws.jit
def wait_on_another_channel(out):
    buf = ws.local.array(N, np.float32)
    ws.recv_async(ws.WEST, out=buf[0:N], channel=1)
    ws.recv_wait(ws.WEST, channel=0)  # refused: the receive is on channel 1, so nothing waits for it
    out[0:N] = buf[0:N]


@ws.jit
def wait_for_no_send(out):
    buf = ws.local.array(N, np.float32)
    buf[0:N] = 1.0
    ws.send(ws.EAST, buf[0:N])
    ws.send_wait(ws.EAST)  # refused: a blocking send, no background one to wait for
    out[0:N] = buf[0:N]


@ws.jit
def async_direction_by_name(out):
    buf = ws.local.array(N, np.float32)
    ws.recv_async(direction=ws.WEST, out=buf[0:N])  # refused: the usage names it, but it is positional
    out[0:N] = buf[0:N]


@ws.jit
def async_slice_by_name(out):
    buf = ws.local.array(N, np.float32)
    ws.send_async(ws.EAST, slice=buf[0:N])  # refused: the slice is positional
    out[0:N] = buf[0:N]


@pytest.mark.parametrize("kernel, message", [
    (async_without_out, "wrong arguments"),
    # (these said "direction= is not one" / "slice= is not one", though the usage they print names them)
    (async_direction_by_name, "(direction= is not a keyword: pass the direction by position)"),
    (async_slice_by_name, "(slice= is not a keyword: pass the direction and the slice by position)"),
    (async_of_a_scalar, "needs a slice of a local array"),
    (wait_on_another_channel, "ws.recv_wait() on west channel 0 waits for no ws.recv_async() of this kernel (it "
                              "posts them on west channel 1)"),
    (wait_for_no_send, "ws.send_wait() on east channel 0 waits for no ws.send_async() of this kernel (it posts "
                       "none)")])
def test_what_background_transfers_refuse(kernel, message):
    error = compile_error(ws.Device(ws.WaferSpec(width=2, height=1)), kernel, np.zeros(N, np.float32))
    assert message in str(error) and "refused" in str(error)
    assert error.line == line_of(kernel, "refused")


@ws.jit
def two_sends(out):
    p = ws.grid(1)
    buf = ws.local.array(2 * N, np.float32)
    for i in range(2 * N):
        buf[i] = i * 1.0
    if p == 0:
        ws.send_async(ws.EAST, buf[0:N])
        ws.send_async(ws.EAST, buf[N:2 * N])  # queued behind the first
        ws.send_wait(ws.EAST)
    else:
        ws.recv(ws.WEST, out=buf[N:2 * N])
        ws.recv(ws.WEST, out=buf[0:N])
        out[0:2 * N] = buf[0:2 * N]


def test_background_transfers_on_one_channel_run_in_order():
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    out = dev.device_array(2 * N)
    stats = two_sends[(1, 1), (2, 1)](out)
    np.testing.assert_array_equal(out.copy_to_host(), np.concatenate([np.arange(N, 2 * N), np.arange(N)]))
    # the link carries a word a cycle: the sender's wait ends no sooner than 2N word times after it began
    assert stats.busy.ravel()[0] + stats.stall.ravel()[0] >= 2 * N


@ws.jit
def typed_background(out, as_int):
    """PE 0 sends float32 words in the background; PE 1 receives them in the background into a float32 or,
    with `as_int`, an int32 slice."""
    p = ws.grid(1)
    buf = ws.local.array(4, np.float32)
    ibuf = ws.local.array(4, np.int32)
    if p == 0:
        for i in range(4):
            buf[i] = i + 0.5
        ws.send_async(ws.EAST, buf[0:4])
        ws.send_wait(ws.EAST)
    elif as_int:
        ws.recv_async(ws.WEST, out=ibuf[0:4])  # the words are float32: a WordTypeError, never their bits as ints
        ws.recv_wait(ws.WEST)
        for i in range(4):
            out[i] = ibuf[i]
    else:
        ws.recv_async(ws.WEST, out=buf[0:4])
        ws.recv_wait(ws.WEST)
        out[0:4] = buf[0:4]


def test_background_transfers_carry_word_types_like_blocking_ones():
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    out = dev.device_array(4)
    typed_background[(1, 1), (2, 1)](out, 0)
    np.testing.assert_array_equal(out.copy_to_host(), np.arange(4, dtype=np.float32) + 0.5)
    with pytest.raises(ws.WordTypeError, match="received a float32 word as int32") as info:
        typed_background[(1, 1), (2, 1)](out, 1)
    assert info.value.sender_source is not None  # the send_async's line is named


@pytest.mark.parametrize("spec", [
    {},  # whole cycles: float32 times, waits that telescope
    {"link_words_per_cycle": 0.75, "hop_latency": 2, "fifo_depth": 5},  # float64 times, waits word by word
    {"fifo_depth": 3},  # a FIFO shallower than every step
])
@pytest.mark.parametrize("mode", ["wait-at-once", "overlap"])
def test_compiled_background_receives_are_identical_to_numpy_ones(spec, mode, monkeypatch):
    from wafersim.sim import background_kernels

    calls = []
    step = background_kernels.registers_receive_step
    monkeypatch.setattr(background_kernels, "registers_receive_step", lambda *args: calls.append(1) or step(*args))
    results = []
    for forced in (strategy.Strategy(compiled_background=False), strategy.FAST):
        with strategy.forced(forced):
            dev = ws.Device(ws.WaferSpec(width=2, height=1, **spec))
            out = dev.device_array(N)
            stats = transfer_kernel(mode)[(1, 1), (2, 1)](out, 5)
        results.append((out.copy_to_host(), stats))
    assert calls  # the fast run took the compiled pass
    (ref, ref_stats), (got, stats) = results
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got, np.arange(N, dtype=np.float32) * 0.5)  # PE 0's words
    for name in ("cycles", "instructions", "op_counts"):
        assert getattr(stats, name) == getattr(ref_stats, name), name
    for name in ("busy", "stall", "pe_instructions", "link_words"):
        np.testing.assert_array_equal(getattr(stats, name), getattr(ref_stats, name), err_msg=name)


def two_transfers_kernel(mode: str):
    """PE 0 moves 2 x N words east to PE 1: in the background on channels 0 and 1 ("two-channels"), on channel
    0 twice ("one-channel"), in the background on channel 0 and blocking on channel 1 ("async-and-blocking"),
    or only the first N words ("one-transfer"). The receiver takes each with a background receive."""
    second = 0 if mode == "one-channel" else 1  # (a closure constant: channels are compile-time constants)

    @ws.jit
    def move(out):
        p = ws.grid(1)
        a = ws.local.array(N, np.float32)
        b = ws.local.array(N, np.float32)
        for i in range(N):
            a[i] = i + 1.0
            b[i] = -i - 1.0
        if p == 0:
            ws.send_async(ws.EAST, a[0:N], channel=0)
            if mode == "async-and-blocking":
                ws.send(ws.EAST, b[0:N], channel=1)
            elif mode != "one-transfer":
                ws.send_async(ws.EAST, b[0:N], channel=second)
            ws.send_wait(ws.EAST, channel=0)
            if mode in ("one-channel", "two-channels"):
                ws.send_wait(ws.EAST, channel=second)
        else:
            ws.recv_async(ws.WEST, out=a[0:N], channel=0)
            if mode != "one-transfer":
                ws.recv_async(ws.WEST, out=b[0:N], channel=second)
            ws.recv_wait(ws.WEST, channel=0)
            if mode != "one-transfer":
                ws.recv_wait(ws.WEST, channel=second)
            out[0, 0:N] = a[0:N]
            out[1, 0:N] = b[0:N]

    return move


@pytest.mark.parametrize("mode", ["two-channels", "async-and-blocking"])
def test_background_sends_on_two_channels_share_their_link(mode):
    """Channels of one direction share the link (`link_words_per_cycle` words a cycle whatever their channel,
    docs/timing.md): 2 x N words posted at once on two channels take N cycles more than N words, as on one
    channel, never both at once (they used to, at twice the link's rate)."""
    dev = ws.Device(ws.WaferSpec(width=2, height=1))
    elapsed, results = {}, {}
    for m in ("one-transfer", "one-channel", mode):
        out = dev.device_array((2, N))
        stats = two_transfers_kernel(m)[(1, 1), (2, 1)](out)
        elapsed[m] = (stats.busy + stats.stall)[0, :2]
        results[m] = out.copy_to_host()
    expected = np.stack([np.arange(1, N + 1), -np.arange(1, N + 1)]).astype(np.float32)
    assert np.array_equal(results[mode], expected)
    words_per_cycle = dev.spec.link_words_per_cycle
    # the sender's last word leaves N / rate cycles after the one-transfer case's last word, or later
    assert elapsed[mode][0] >= elapsed["one-transfer"][0] + N / words_per_cycle
    # and the link is the only limit: a few issue cycles off the same words on one channel
    assert (np.abs(elapsed[mode] - elapsed["one-channel"]) <= 3).all()


@pytest.mark.parametrize("mode", ["two-channels", "async-and-blocking"])
def test_sends_sharing_a_link_are_identical_under_every_strategy(mode):
    """The wait for the link (`background._wait_for_link`) sits before every send executor: the lockstep
    path, whose sends take owed issue cycles into their cost, times it as the reference path does."""
    results = []
    for forced in (strategy.FAST, strategy.REFERENCE):
        with strategy.forced(forced):
            dev = ws.Device(ws.WaferSpec(width=2, height=1))
            out = dev.device_array((2, N))
            stats = two_transfers_kernel(mode)[(1, 1), (2, 1)](out)
        results.append((out.copy_to_host(), stats.cycles, stats.busy.tolist(), stats.stall.tolist()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1:] == results[1][1:]


def _queued_sends(first: str, second: str, channel: int, words: int) -> str:
    """PE 0 sends `words` words east on channel 0 with `first`, then `words` more on `channel` with `second`
    (`senda` or `sendv`), waiting for its background sends at the end; PE 1 takes both with blocking receives."""
    waits = "".join(f"swait east, {ch}\n" for op, ch in ((first, 0), (second, channel)) if op == "senda")
    return f""".name queued
.sram {2 * words}
sreg r1, tid.x
li r4, {words}
bnz r1, rx
{first} east, 0, r0, r4
{second} east, {channel}, r4, r4
{waits}halt
rx:
recvv west, 0, r0, r4
recvv west, {channel}, r4, r4
"""


@pytest.mark.parametrize("preset", ["dev", "wse2"])
@pytest.mark.parametrize("first, second, channel", [
    ("senda", "senda", 1), ("senda", "senda", 0), ("senda", "sendv", 1)])
@pytest.mark.parametrize("forced", ["FAST", "REFERENCE"])
def test_a_queued_send_starts_when_the_link_is_free_not_an_issue_later(preset, first, second, channel, forced):
    """A send queued behind a background send on its link (docs/timing.md, "Background transfers": "Two
    64-word background sends east on channels 0 and 1 take as long as 128 words on one channel") moves its
    first word the cycle the link is free: its issue, paid while the first transfer streams, adds nothing.
    A second `senda` used to start an issue later than a blocking `sendv` queued the same way."""
    spec = ws.WaferSpec.preset(preset, width=2, height=1)
    words = 3 * spec.fifo_depth + 1
    with strategy.forced(getattr(strategy, forced)):
        stats = ws.Kernel(ws.assemble(_queued_sends(first, second, channel, words)), ws.Device(spec))[1, (2, 1)]()
    cost = spec.cost_cycles
    word_time = 1 / spec.link_words_per_cycle
    # sreg, li and bnz, then the first send's issue: its words leave a word time apart from there
    first_word = cost["special"] + cost["alu"] + cost["branch"] + cost["send"]
    last_arrival = first_word + (2 * words - 1) * word_time + spec.hop_latency + 2 * spec.ramp_latency
    receiver = stats.busy[0, 1] + stats.stall[0, 1]
    assert receiver == last_arrival  # (the receiver is ready for every word: it halts at the last one's arrival)


@pytest.mark.parametrize("p, tile", [(4, 8), (5, 6)])
def test_receives_of_groups_above_the_numpy_movers_limit_run_compiled_and_identical(p, tile, monkeypatch):
    """A background receive of more PEs than `exchange.BULK_MAX_LANES` (lowered to 4 here: SUMMA's panels have
    p * (p - 1) receivers) runs in the compiled pass and the stream pump, where it once fell to NumPy word by
    word: the same product, cycles and per-PE statistics as the NumPy path (`compiled_background` off) and
    the reference strategy, and float32 rank-1 updates in NumPy in SUMMA's order (k, then kk) bit for bit."""
    from wafersim.kernels import gemm
    from wafersim.sim import background_kernels, exchange, stream_pump_kernels

    monkeypatch.setattr(exchange, "BULK_MAX_LANES", 4)
    received, pumped = [], []
    step, pump = background_kernels.registers_receive_step, stream_pump_kernels.pump
    monkeypatch.setattr(background_kernels, "registers_receive_step",
                        lambda *args: received.append(len(args[0])) or step(*args))
    monkeypatch.setattr(stream_pump_kernels, "pump", lambda *args: pumped.append(len(args[5])) or pump(*args))
    rng = np.random.default_rng(p * 10 + tile)
    a = (rng.random((p * tile, p * tile)) - 0.5).astype(np.float32)
    b = (rng.random((p * tile, p * tile)) - 0.5).astype(np.float32)
    runs = []
    for forced in (strategy.REFERENCE, strategy.Strategy(compiled_background=False), strategy.FAST):
        received.clear()
        pumped.clear()
        with strategy.forced(forced):
            runs.append(gemm.gemm(a, b, p, device=ws.Device(ws.WaferSpec(width=p, height=p))))
    assert max(received) == p * (p - 1) and max(pumped) == p * (p - 1)  # (the fast run's: compiled, pumped)
    expected = np.zeros((p * tile, p * tile), dtype=np.float32)
    for k in range(p * tile):  # (the tiles' updates in order: each PE's kk runs over its k-th panel's columns)
        expected = expected + np.outer(a[:, k], b[k, :])
    (ref, ref_stats), *others = runs
    np.testing.assert_array_equal(ref.view(np.int32), expected.view(np.int32))
    for out, stats in others:
        np.testing.assert_array_equal(out.view(np.int32), ref.view(np.int32))
        for name in ("cycles", "instructions", "op_counts", "flops"):
            assert getattr(stats, name) == getattr(ref_stats, name), name
        for name in ("busy", "stall", "pe_instructions", "link_words"):
            np.testing.assert_array_equal(getattr(stats, name), getattr(ref_stats, name), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_wait_of_a_dense_group_moves_the_clocks_its_index_form_moves(dtype):
    """`_wait_background` of a full or complement group (whole-array operations, the PEs outside put back) leaves
    the clocks, stalls and transfer clocks bit for bit as the same lanes in index form (gathers and scatters)."""
    from wafersim.isa.encoding import Instr
    from wafersim.isa.opcodes import RAMP
    from wafersim.sim.background import BackgroundMixin
    from wafersim.sim.lanes import Lanes

    class Waves(BackgroundMixin):
        def __init__(self, n, rng):
            self.n, self.tracer, self.background = n, None, {}
            self.cycle = rng.integers(0, 500, n).astype(dtype)
            self.stall = rng.integers(0, 50, n).astype(dtype)

    rng = np.random.default_rng(3)
    n = 256
    ins = Instr(op="rwait", d=0, a=0, b=0, c=0, imm=0, target=0, dir=RAMP, ch=1, flags=0)
    for dense in (Lanes(n), Lanes.all_but(n, np.arange(3, n, 16)), Lanes.all_but(n, np.array([0, 5, 6, 200]))):
        sims = [Waves(n, np.random.default_rng(7)) for _ in range(2)]
        clock = np.where(rng.random(n) < 0.3, -np.inf, rng.integers(0, 800, n).astype(np.float64))
        for sim in sims:
            sim._background_state("recva", ins)[2] = clock
        assert sims[0]._wait_background(ins, 9, 1.0, dense) == [(9, dense, False)]
        sims[1]._wait_background(ins, 9, 1.0, Lanes(n, idx=dense.indices()))
        for name in ("cycle", "stall"):
            np.testing.assert_array_equal(getattr(sims[0], name), getattr(sims[1], name))
            assert getattr(sims[0], name).dtype == dtype
        np.testing.assert_array_equal(sims[0].background[("recva", RAMP, 1)], sims[1].background[("recva", RAMP, 1)])
        outside = np.setdiff1d(np.arange(n), dense.indices())
        np.testing.assert_array_equal(sims[0].background[("recva", RAMP, 1)][2][outside], clock[outside])
        assert (sims[0].background[("recva", RAMP, 1)][2][dense.indices()] == -np.inf).all()
        assert (sims[0].cycle[dense.indices()] >= Waves(n, np.random.default_rng(7)).cycle[dense.indices()] + 1).all()


# ----------------------------------------------------------------------------- a send that fails after a held step
# A routed `senda` step before a stream pump holds its words (`Strategy.pump_first_step`: `_first_step`) for the
# pump to deliver; a failure raised after that step left them unstored, so the failed launch's state
# (`err.state`) lacked them. They now land before the error leaves the step, as the step would have stored
# them: the state equals that of the strategy whose step stores its words itself.


@ws.jit
def bus_stream(out):
    x = ws.threadIdx.x
    buf = ws.local.array(N, np.float32)
    ws.use_route(0, "row_bus")
    for i in range(N):
        buf[i] = i * 0.5 + x
    if x == 0:
        ws.send_async(ws.RAMP, buf[0:N], channel=0)
        ws.send_wait(ws.RAMP, channel=0)
    else:
        ws.recv_async(ws.RAMP, out=buf[0:N], channel=0)
        ws.recv_wait(ws.RAMP, channel=0)
    out[x] = buf[0]


def test_a_send_failing_after_a_step_held_for_the_pump_keeps_its_words_in_the_saved_state(monkeypatch):
    from wafersim.sim import routed

    fused = routed.RoutedExchangeMixin._fused_stream_step
    held = []

    def failing_after_the_step(self, *args):
        fused(self, *args)
        held.append(self._first_step is not None)
        raise ws.RouteError("a failure after the senders' first step")  # (the whole group stops there)

    monkeypatch.setattr(routed.RoutedExchangeMixin, "_fused_stream_step", failing_after_the_step)
    states = []
    for chosen in (strategy.FAST, strategy.Strategy(pump_first_step=False)):
        device = ws.Device(ws.WaferSpec(width=4, height=1))
        with strategy.forced(chosen), pytest.raises(ws.RouteError, match="after the senders' first step") as info:
            bus_stream[(1, 1), (4, 1)](device.device_array(4))
        states.append(info.value.state)
    assert held == [True, False]  # (FAST held the step's words; the other stored them)
    fifos = [state.waves[0].fifos[(ws.RAMP, 0)] for state in states]
    words = int(fifos[1].pushed[1])
    assert words > 0 and all(fifo.pushed.tolist() == [0] + [words] * 3 for fifo in fifos)
    sent = (np.arange(N) * 0.5).astype(np.float32)
    for state in states:  # the receivers (run on up to the failure's cycle) took PE 0's first words, in order
        for x in (1, 2, 3):
            buf = state.read_local("buf", (x, 0))
            np.testing.assert_array_equal(buf[:words], sent[:words])
            np.testing.assert_array_equal(buf[words:], (np.arange(words, N) * 0.5 + x).astype(np.float32))
    np.testing.assert_array_equal(fifos[0].time.block, fifos[1].time.block)
