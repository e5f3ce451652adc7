"""The stream pump's steady steps (`wafersim.sim.stream_pump_steps`): the pump on states captured from SUMMA
launches gives, bit for bit, what the scheduler's compiled steps (`background_receive_step`, then
`routed_send_step`, pair after pair, as `steady_counts` allows) give on the same state; and each step alone
(`steady_send` + `deliver`, `deliver_receive`) matches the steps it stands for, or declines, changing nothing.
Whole launches with and without the pump, against the reference strategy and NumPy: tests/test_stream_pump.py."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim.kernels import gemm
from wafersim.sim import stream_pump_closed, stream_pump_kernels, stream_pump_steps
from wafersim.sim.background_kernels import background_receive_step
from wafersim.sim.fifo_kernels import distinct_links
from wafersim.sim.stream_pump_closed import latency_range
from wafersim.sim.stream_pump_panel import panel_applies
from wafersim.sim.routed_step_kernels import routed_send_step
from wafersim.sim.strategy import FAST, forced

# `stream_pump_kernels.pump`'s arguments, by name.
NAMES = ("s_pes s_base s_length s_cost s_state r_pes r_base r_length r_cost r_state receiver_of word_time "
         "whole_cycles cycle stall progress injected sram pushed popped time_block value_block dest lane latency "
         "by_dest by_lane by_latency link_busy link link_lane link_offset previous by slot_free most fuse_free "
         "panel_runs first_one first_many first_values first_departures first_sent p_dest p_lane p_latency distinct "
         "low high panel_fits").split()
# (9 x 9 PEs: receiver runs of 8 and 9 PEs, walked through slices, beside the shorter ones walked by index:
# `stream_pump_steps.SHORT_RUN`)
CONFIGS = [(2, 8, None), (4, 8, None), (4, 6, 5), (4, 5, 3), (3, 7, 4), (5, 6, 7), (9, 4, 4)]


def captured(p: int, tile: int, depth: int | None, monkeypatch) -> list[tuple]:
    """Copies of the arguments of every pump call of a SUMMA launch (the state each call started from)."""
    calls: list[tuple] = []
    pump = stream_pump_kernels.pump

    def capturing(*args):
        calls.append(tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args))
        return pump(*args)

    monkeypatch.setattr(stream_pump_kernels, "pump", capturing)
    rng = np.random.default_rng(p * 100 + tile)
    a, b = rng.random((p * tile, p * tile), dtype=np.float32), rng.random((p * tile, p * tile), dtype=np.float32)
    spec = ws.WaferSpec(width=p, height=p) if depth is None else ws.WaferSpec(width=p, height=p, fifo_depth=depth)
    with forced(FAST):
        out, _ = gemm.gemm(a, b, p, device=ws.Device(spec))
    monkeypatch.setattr(stream_pump_kernels, "pump", pump)  # (the tests call it themselves)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4)
    for args in calls:  # (the route's constants, kept from call to call and launch to launch, as found afresh)
        s = dict(zip(NAMES, args))
        p_dest, p_lane, p_latency = pe_ordered(s)
        for name, want in (("p_dest", p_dest), ("p_lane", p_lane), ("p_latency", p_latency)):
            np.testing.assert_array_equal(s[name], want, err_msg=name)
        facts = (bool(distinct_links(s["link"], s["link_busy"].shape[1])), *latency_range(p_latency),
                 bool(panel_applies(s["s_pes"], s["r_pes"], p_lane, s["word_time"], len(s["cycle"]))))
        assert (s["distinct"], s["low"], s["high"], s["panel_fits"]) == facts
    return calls


def fresh(args: tuple) -> dict:
    """A copy of a captured state, by name."""
    return dict(zip(NAMES, (a.copy() if isinstance(a, np.ndarray) else a for a in args)))


def reference_pump(s: dict) -> tuple[int, int]:
    """The pump as the scheduler's compiled steps run it: per pair `steady_counts`, the receivers'
    `background_receive_step`, the senders' clocks in, `routed_send_step` (receivers in sender order), the
    senders' clocks back. Returns (pairs, status)."""
    depth = s["time_block"].shape[0]
    senders, receivers = len(s["s_pes"]), len(s["r_pes"])
    taken, count = np.empty(receivers, dtype=np.int64), np.empty(senders, dtype=np.int64)
    finished, moved = np.empty(receivers, dtype=np.bool_), np.empty(receivers, dtype=np.bool_)
    pes, state, cycle, stall, progress = s["s_pes"], s["s_state"], s["cycle"], s["stall"], s["progress"]
    land_first_step(s)
    pairs = 0
    while pairs != s["most"]:
        words = stream_pump_kernels.steady_counts(pes, s["s_length"], s["r_pes"], s["r_length"], progress,
                                                  s["pushed"], s["popped"], s["dest"], s["lane"], s["receiver_of"],
                                                  depth, taken, count)
        if words == 0:
            break
        last, words = words < 0, abs(words)
        background_receive_step(s["r_pes"], s["r_base"], s["r_length"], progress, cycle, stall, s["r_state"],
                                s["pushed"], s["popped"], s["time_block"], s["value_block"], s["sram"], s["r_cost"],
                                s["whole_cycles"], finished, moved)
        cycle[pes] = state[2, pes]
        done = progress[pes].astype(np.int64)
        _, ok = routed_step(s, done, count, words)
        if not ok:
            return pairs, stream_pump_kernels.EARLY
        if last:
            progress[pes] = 0
        state[2, pes] = cycle[pes]
        cycle[pes] = state[0, pes] + s["s_cost"]
        stall[pes] = state[1, pes]
        pairs += 1
        if last:
            return pairs, stream_pump_kernels.FINISHED
    return pairs, stream_pump_kernels.STOPPED


def land_first_step(s: dict) -> None:
    """The words of the senders' step before the pump, where it held them (`Strategy.pump_first_step`), into
    their receivers' FIFOs, as that step stores them where no pump follows (`StreamPumpMixin._deliver_first_step`);
    `s` then holds none."""
    if len(s["first_sent"]):
        _, p_lane, p_latency = pe_ordered(s)
        stream_pump_steps.deliver(s["time_block"], s["value_block"], s["first_one"], s["first_many"], p_lane,
                                  p_latency, s["first_values"], s["first_departures"], s["first_sent"])
        s["first_sent"] = s["first_sent"][:0]


def assert_states_equal(got: dict, want: dict) -> None:
    """Every array of the two states bit for bit (the scratch `slot_free` too: its rows are the same; not the
    held words of the step before the pump, which the pump takes as its own)."""
    for name in NAMES:
        if isinstance(want[name], np.ndarray) and not name.startswith("first_"):
            assert got[name].dtype == want[name].dtype, name
            assert np.array_equal(got[name], want[name], equal_nan=got[name].dtype.kind == "f"), name


@pytest.mark.parametrize("p, tile, depth", CONFIGS)
def test_the_pump_is_the_schedulers_steps(p, tile, depth, monkeypatch):
    """From every state a SUMMA launch pumped from, the pump and the scheduler's steps: the same pairs, status
    and arrays; also with a limit on the pairs (`most`, as the pump in parts runs), with the slots' free
    times found as the receives write them (`fuse_free`, `Strategy.pump_slot_free`) and read again, and with
    and without runs of pairs in closed form per sender (`panel_runs`, `Strategy.pump_panel`), with the words of
    the senders' step before held for the pump and stored (`Strategy.pump_first_step`)."""
    calls = captured(p, tile, depth, monkeypatch)
    assert calls and all(len(args[NAMES.index("first_sent")]) for args in calls)
    for args in calls:
        every = args[NAMES.index("most")]
        for most, fuse, panel, held in [(every, True, True, True), (every, True, False, True),
                                        (every, False, True, True), (1, True, True, True), (2, True, True, True),
                                        (3, True, True, True), (2, False, False, True), (every, True, True, False),
                                        (1, True, True, False)]:
            got, want = fresh(args), fresh(args)
            got["most"] = want["most"] = most
            got["fuse_free"], got["panel_runs"] = fuse, panel
            if not held:  # (the senders' step before stored its words: `Strategy(pump_first_step=False)`)
                land_first_step(got)
            pairs, status, _, _ = stream_pump_kernels.pump(*(got[name] for name in NAMES))
            assert (pairs, status) == reference_pump(want)
            assert_states_equal(got, want)


def pe_ordered(s: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries in receiver order (p_dest, p_lane, p_latency)."""
    order = stream_pump_steps.pe_order(s["receiver_of"])
    return s["dest"][order], s["lane"][order], s["latency"][order]


def receive(s: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """The first pair's counts and receive step (the scheduler's), then the senders' clocks in: (counts, done,
    words), or None where the state's first pair is not steady."""
    land_first_step(s)
    depth = s["time_block"].shape[0]
    taken, count = np.empty(len(s["r_pes"]), dtype=np.int64), np.empty(len(s["s_pes"]), dtype=np.int64)
    words = stream_pump_kernels.steady_counts(s["s_pes"], s["s_length"], s["r_pes"], s["r_length"], s["progress"],
                                              s["pushed"], s["popped"], s["dest"], s["lane"], s["receiver_of"], depth,
                                              taken, count)
    if words == 0:
        return None
    flags = np.empty(len(s["r_pes"]), dtype=np.bool_)
    background_receive_step(s["r_pes"], s["r_base"], s["r_length"], s["progress"], s["cycle"], s["stall"],
                            s["r_state"], s["pushed"], s["popped"], s["time_block"], s["value_block"], s["sram"],
                            s["r_cost"], s["whole_cycles"], flags, flags.copy())
    s["cycle"][s["s_pes"]] = s["s_state"][2, s["s_pes"]]
    return count, s["progress"][s["s_pes"]].astype(np.int64), abs(words)


def received_pair(args: tuple) -> tuple | None:
    """Two copies of a captured state after the first pair's receive step (`receive`): (got, want, counts,
    done, words), or None where that pair is not steady."""
    got, want = fresh(args), fresh(args)
    first = receive(got)
    if first is None:
        return None
    receive(want)
    return (got, want, *first)


def send_in_pe_order(s: dict, done: np.ndarray, count: np.ndarray, words: int) -> tuple:
    """The arguments that the senders' steps in receiver order take first (`steady_send`,
    `send_step_in_pe_order`), on the state `s`."""
    p_dest, p_lane, p_latency = pe_ordered(s)
    return (s["s_pes"], done, count, s["s_base"], s["s_cost"], s["word_time"], s["cycle"], s["stall"], s["progress"],
            s["injected"], s["sram"], s["pushed"], s["time_block"], s["value_block"], s["dest"], s["lane"],
            s["latency"], p_dest, p_lane, p_latency, s["link_busy"], s["link"], s["link_lane"], s["link_offset"],
            s["previous"], s["by"], s["slot_free"][:, :words])


def slot_rows(s: dict, words: int) -> np.ndarray:
    """The scratch `slot_free[:, :words]` as the scheduler passes it (`routed._fused_stream_step`: a C-contiguous
    array of its own; the view, not contiguous where words < depth, is another signature, compiled for the tests
    alone); `keep_slot_rows` writes it back, for `assert_states_equal`."""
    return np.ascontiguousarray(s["slot_free"][:, :words])


def keep_slot_rows(s: dict, rows: np.ndarray) -> None:
    s["slot_free"][:, :rows.shape[1]] = rows


def routed_step(s: dict, done: np.ndarray, count: np.ndarray, words: int) -> tuple[np.ndarray, bool]:
    """The scheduler's routed step (`routed_send_step`) on the state `s`: (departures, ok)."""
    rows = slot_rows(s, words)
    result = routed_send_step(
        s["s_pes"], done, count, s["s_base"], s["s_cost"], s["word_time"], s["cycle"], s["stall"], s["progress"],
        s["injected"], s["sram"], s["pushed"], s["time_block"], s["value_block"], s["dest"], s["lane"], s["latency"],
        s["by_dest"], s["by_lane"], s["by_latency"], s["link_busy"], s["link"], s["link_lane"], s["link_offset"],
        s["previous"], s["by"], rows)
    keep_slot_rows(s, rows)
    return result


@pytest.mark.parametrize("p, tile, depth", CONFIGS)
def test_steady_send_then_deliver_is_routed_send_step(p, tile, depth, monkeypatch):
    """A senders' step in receiver order, its words delivered after it: what `routed_send_step` leaves."""
    for args in captured(p, tile, depth, monkeypatch):
        pair = received_pair(args)
        if pair is None:
            continue
        got, want, count, done, words = pair
        _, p_lane, p_latency = pe_ordered(got)
        empty = np.empty((0, 5), dtype=np.int64)
        # (`distinct` given, as the pump and `send_step_undelivered` give it: left out, another signature)
        later, ok, one, many, values, departures = stream_pump_steps.steady_send(
            *send_in_pe_order(got, done, count, words), empty, empty, -1, np.empty((0, len(got["s_pes"]))), False)
        assert ok
        stream_pump_steps.deliver(got["time_block"], got["value_block"], one, many, p_lane, p_latency, values,
                                  departures, count)
        want_later, want_ok = routed_step(want, done, count, words)
        assert want_ok
        np.testing.assert_array_equal(later, want_later)
        assert_states_equal(got, want)


@pytest.mark.parametrize("p, tile, depth", CONFIGS)
def test_send_step_in_pe_order_is_routed_send_step(p, tile, depth, monkeypatch):
    """The scheduler's routed step where each receiver appears once (`routed._fused_stream_step`), with the links
    known distinct and not: what `routed_send_step` leaves, departures included."""
    for args in captured(p, tile, depth, monkeypatch):
        for distinct in (False, True):
            pair = received_pair(args)
            if pair is None:
                continue
            got, want, count, done, words = pair
            assert not distinct or len(np.unique(got["link"])) == len(got["link"])
            *arguments, _ = send_in_pe_order(got, done, count, words)
            rows = slot_rows(got, words)  # (as `routed._fused_stream_step` passes it)
            later, ok = stream_pump_steps.send_step_in_pe_order(*arguments, rows, distinct)
            keep_slot_rows(got, rows)
            want_later, want_ok = routed_step(want, done, count, words)
            assert ok and want_ok
            np.testing.assert_array_equal(later, want_later)
            assert_states_equal(got, want)


def test_the_configs_step_receiver_runs_shorter_and_longer_than_short_run(monkeypatch):
    """The tests above see receiver runs of one sender and of a sender per PE, both shorter than `SHORT_RUN`
    (walked by index) and not (through slices of the FIFO rows): each way of walking them is compared."""
    seen = set()
    for p, tile, depth in CONFIGS:
        for args in captured(p, tile, depth, monkeypatch):
            s = dict(zip(NAMES, args))
            p_dest, p_lane, _ = pe_ordered(s)
            for first, end, _, step, _ in stream_pump_steps.pe_segments(p_dest, p_lane, s["pushed"]):
                seen.add((bool(step == 0), bool(step == 1), bool(end - first >= stream_pump_steps.SHORT_RUN)))
    assert {(True, False, False), (True, False, True), (False, True, False), (False, True, True)} <= seen


def test_pe_segments_cut_runs_of_consecutive_pes():
    """Runs of consecutive PEs at one word number whose senders step by a constant (a row bus: one sender; a
    column bus: a sender per PE), cut where any of them changes."""
    p_dest = np.array([0, 1, 2, 4, 5, 6, 7, 8, 9], dtype=np.int64)
    p_lane = np.array([0, 0, 0, 1, 2, 3, 3, 3, 3], dtype=np.int64)
    pushed = np.array([5, 5, 5, 0, 5, 5, 5, 5, 5, 6], dtype=np.int32)
    segments = stream_pump_steps.pe_segments(p_dest, p_lane, pushed)
    assert segments.tolist() == [[0, 3, 0, 0, 5], [3, 6, 4, 1, 5], [6, 8, 7, 0, 5], [8, 9, 9, 0, 6]]


def test_deliver_receive_declines_unless_every_receiver_takes_just_the_words_delivered():
    """Receivers taking other counts, or holding words from before, or into other rows: False, nothing changed."""
    pes = np.array([0, 1, 2], dtype=np.int64)
    base = np.zeros(3, dtype=np.int64)
    progress, pushed, popped = np.full(3, 4, np.int32), np.full(3, 6, np.int32), np.full(3, 4, np.int32)
    cycle, stall = np.zeros(3, np.float32), np.zeros(3, np.float32)
    state = np.zeros((3, 3))
    time_block, value_block = np.zeros((4, 3), np.float32), np.zeros((4, 3), np.int32)
    sram = np.zeros((16, 3), np.int32)
    one = np.array([[0, 3, 0, 0, 4]], dtype=np.int64)
    many = np.empty((0, 5), dtype=np.int64)
    p_lane, p_latency = np.zeros(3, dtype=np.int64), np.array([1.0, 2.0, 3.0])
    values, departures = np.ones((2, 1), np.int32), np.array([[10.0], [11.0]])
    two = np.full(3, 2)
    cases = {"applies": (two, np.array([2]), progress, pushed),
             "taken": (np.array([2, 1, 2]), np.array([2]), progress, pushed),
             "count": (np.full(3, 1), np.array([1]), progress, pushed),
             "rows": (two, np.array([2]), np.array([4, 3, 4], np.int32), pushed),
             "queued": (two, np.array([2]), progress, np.array([6, 7, 6], np.int32))}
    for (name, (taken, count, prog, push)), rows in zip([*cases.items(), *cases.items()], [0] * 5 + [2] * 5):
        arrays = [prog.copy(), cycle.copy(), stall.copy(), state.copy(), push.copy(), popped.copy(),
                  time_block.copy(), value_block.copy(), sram.copy()]
        before = [a.copy() for a in arrays]
        pr, cy, st, sa, pu, po, tb, vb, sr = arrays
        free = np.full((rows, 1), -np.inf)  # (rows 2: the slots' free times found too, `Strategy.pump_slot_free`)
        applied = stream_pump_steps.deliver_receive(pes, base, pr, cy, st, sa, pu, po, tb, vb, sr, 1.0,
                                                    taken.astype(np.int64), np.empty(3), one, many, p_lane, p_latency,
                                                    values, departures, count.astype(np.int64), free)
        assert applied == (name == "applies"), name
        if applied:  # word j of the sender reaches receiver t at departure + latency: taken then
            np.testing.assert_array_equal(sr[4:6], [[1, 1, 1], [1, 1, 1]])
            np.testing.assert_array_equal(tb[0:2], [[11, 12, 13], [12, 13, 14]])
            np.testing.assert_array_equal(po, [6, 6, 6])
            # each word's slot free at its take time less the latency, the most over the sender's receivers
            np.testing.assert_array_equal(free, np.array([[10.0], [11.0]])[:rows])
        else:
            for a, b in zip(arrays, before):
                np.testing.assert_array_equal(a, b)
            assert (free == -np.inf).all()


# `deliver_receive`'s arguments, by name, and those its steps change.
RECEIVE = ("pes base progress cycle stall state pushed popped time_block value_block sram cost taken latest one many "
           "p_lane p_latency values departures count free").split()
CHANGED = "progress cycle stall state popped time_block value_block sram latest free".split()
# `closed` as the engine passes it, an int (1, its default, or `KNOWN`): True and False would be another
# signature of `deliver_receive`, compiled (~5 s each, for each word type) for the tests alone. So would `closed`
# given without `before`: the engine gives both (`KNOWN, before`) or neither, and so do the tests.
CLOSED, PASSES = 1, 0


def both_ways(args: dict) -> tuple[dict, dict, bool, bool]:
    """`deliver_receive` on two copies of its arguments, in closed form where it applies and word by word:
    (the copies after, and what each returned). The closed form as the pump's general call asks for it (`closed`
    and `before` left out: 1, None); the passes with `before` given, which they never write (only a closed
    form's held stores do)."""
    closed, passes = ({k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()} for _ in range(2))
    got = stream_pump_steps.deliver_receive(*(closed[k] for k in RECEIVE))
    unused = np.full(len(args["pes"]), np.nan)
    want = stream_pump_steps.deliver_receive(*(passes[k] for k in RECEIVE), PASSES, unused)
    assert np.isnan(unused).all()
    return closed, passes, got, want


def assert_same(got: dict, want: dict) -> None:
    """Every array `deliver_receive` changes, bit for bit but `free`'s zeros (their sign: `steady_send` erases
    it)."""
    for name in CHANGED:
        if name == "free":
            np.testing.assert_array_equal(got[name], want[name])
        else:
            assert got[name].tobytes() == want[name].tobytes(), name


def synthetic(seed: int, c: int, depth: int, time_dtype, cycle_dtype) -> dict:
    """`deliver_receive`'s arguments for 12 receivers (PEs 0..11) of 4 senders: PEs 0-3 one sender, 4-6 a sender
    each (lanes 1-3), 7-11 one sender; at word numbers that wrap the FIFO's ring; the receivers' clocks
    random whole numbers, some after the words' arrivals, some before; departures nondecreasing whole numbers."""
    rng = np.random.default_rng(seed)
    n, lanes = 12, 4
    words = rng.integers(0, 2 * depth, size=3)
    one = np.array([[0, 4, 0, 0, words[0]], [7, 12, 7, 0, words[2]]], dtype=np.int64)
    many = np.array([[4, 7, 4, 1, words[1]]], dtype=np.int64)
    p_lane = np.array([0, 0, 0, 0, 1, 2, 3, 2, 2, 2, 2, 2], dtype=np.int64)
    popped = np.repeat(words, [4, 3, 5]).astype(np.int32)
    progress = np.full(n, 5, dtype=np.int32)
    departures = np.cumsum(rng.integers(0, 3, size=(depth, lanes)), axis=0) + rng.integers(0, 40, size=lanes)
    state = rng.integers(0, 60, size=(3, n)).astype(np.float64)
    return dict(pes=np.arange(n, dtype=np.int64), base=np.ones(n, dtype=np.int64), progress=progress,
                cycle=np.zeros(n, dtype=cycle_dtype), stall=np.zeros(n, dtype=cycle_dtype), state=state,
                pushed=popped + c, popped=popped, time_block=rng.integers(0, 99, (depth, n)).astype(time_dtype),
                value_block=rng.integers(0, 99, (depth, n)).astype(np.int32),
                sram=rng.integers(0, 99, (16, n)).astype(np.int32), cost=1.0, taken=np.full(n, c, dtype=np.int64),
                latest=np.empty(n), one=one, many=many, p_lane=p_lane,
                p_latency=rng.integers(1, 9, size=n).astype(np.float64),
                values=rng.integers(-2**31, 2**31, size=(depth, lanes)).astype(np.int32),
                departures=departures.astype(np.float64), count=np.full(lanes, c, dtype=np.int64),
                free=np.full((depth, lanes), -np.inf))


@pytest.mark.parametrize("time_dtype, cycle_dtype", [(np.float32, np.float32), (np.float64, np.float64),
                                                     (np.float32, np.float64)])
def test_deliver_receive_in_closed_form_is_the_word_by_word_passes(time_dtype, cycle_dtype):
    """Where `closed_form_applies`, `deliver_receive`'s take times in closed form leave every slot, SRAM word,
    clock and counter as the word-by-word passes, and the slots' free times the same; where it does not
    (departures out of order, not whole, arrivals past 2**24, a latency not whole), the passes run (the same
    arrays), and the closed form alone would have been wrong for the first."""
    applied = 0
    for seed in range(40):
        for depth, c in [(4, 4), (4, 3), (5, 2)]:
            args = synthetic(seed, c, depth, time_dtype, cycle_dtype)
            applied += stream_pump_steps.closed_form_applies(args["departures"], c, args["p_latency"])
            closed, passes, got, want = both_ways(args)
            assert got == want == 1
            assert_same(closed, passes)
            # With its slots' stores held: all else made, the slots untouched; `receive_slots` then makes them.
            held = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
            before = np.full(12, np.nan)
            assert stream_pump_steps.deliver_receive(*(held[k] for k in RECEIVE), CLOSED, before) == 2
            for name in ("time_block", "value_block"):
                assert held[name].tobytes() == args[name].tobytes(), name
            np.testing.assert_array_equal(before, args["state"][2].astype(cycle_dtype))  # (the clocks in)
            # The pump's form of it (`KNOWN`: the caller tested it; one pass over the receivers): the same.
            known = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
            known_before = np.full(12, np.nan)
            assert stream_pump_steps.deliver_receive(*(known[k] for k in RECEIVE), stream_pump_steps.KNOWN,
                                                     known_before) == 2
            assert_same(known, held)
            assert known_before.tobytes() == before.tobytes()
            stream_pump_closed.receive_slots(held["time_block"], held["value_block"], c, held["one"], held["many"],
                                             held["p_lane"], held["p_latency"], before, held["departures"],
                                             held["values"])
            assert_same(held, passes)
    assert applied == 120
    for seed in range(10):
        args = synthetic(seed, 4, 4, time_dtype, cycle_dtype)
        args["departures"][:, 1] += 100.0  # (sender 1's words arrive after every clock: the order matters)
        broken = {"out of order": ("departures", (2, 1), -3.0), "not whole": ("departures", (1, 2), 0.5),
                  "past 2**24": ("departures", (3, 3), 2.0**24), "latency": ("p_latency", (5,), 0.25)}
        for name, (key, at, delta) in broken.items():
            bad = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
            bad[key][at] += delta
            assert not stream_pump_steps.closed_form_applies(bad["departures"], 4, bad["p_latency"]), name
            closed, passes, got, want = both_ways(bad)
            assert got == want == 1
            assert_same(closed, passes)
            before = np.full(12, np.nan)  # (nothing held where the closed form does not apply)
            assert stream_pump_steps.deliver_receive(*(bad[k] for k in RECEIVE), CLOSED, before) == 1
            assert np.isnan(before).all()
            assert_same(bad, passes)
        bad = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
        bad["departures"][2, 1] -= 3.0  # word 2 of sender 1 (PE 4) leaves before word 1: the passes keep word 1's take
        _, passes, _, _ = both_ways(bad)
        alone = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in bad.items()}
        alone["latest"][:] = alone["state"][2]  # (the receivers' clocks, as `deliver_receive` reads them in)
        one_slots, many_slots = alone["one"][:, 4] % 4, alone["many"][:, 4] % 4
        stream_pump_closed.receive_closed(
            alone["time_block"], alone["value_block"], alone["sram"], 6, 4, alone["one"], one_slots, one_slots,
            alone["many"], many_slots, many_slots, alone["p_lane"], alone["p_latency"], alone["values"],
            alone["departures"], alone["latest"], alone["free"], time_dtype == np.float32, True)
        slot = (alone["many"][0, 4] + 2) % 4
        assert alone["time_block"][slot, 4] != passes["time_block"][slot, 4]


def test_the_closed_form_runs_in_summa_launches(monkeypatch):
    """The pump's `deliver_receive` calls of a SUMMA launch (its steady state: whole cycles, float32 times): the
    closed form applies, and gives what the passes give."""
    calls = []
    for args in captured(4, 8, None, monkeypatch):
        real = stream_pump_kernels.deliver_receive

        def capturing(*a):
            calls.append({k: v.copy() if isinstance(v, np.ndarray) else v for k, v in zip(RECEIVE, a)})
            return real(*a)

        monkeypatch.setattr(stream_pump_kernels, "deliver_receive", capturing)
        state = fresh(args)
        state["panel_runs"] = False  # (runs in closed form per sender call none)
        stream_pump_kernels.pump.py_func(*state.values())  # (the pump's loop in Python: its calls seen)
        monkeypatch.setattr(stream_pump_kernels, "deliver_receive", real)
    assert calls
    for args in calls:
        assert stream_pump_steps.closed_form_applies(args["departures"], args["taken"][0], args["p_latency"])
        closed, passes, got, want = both_ways(args)
        assert got == want
        assert_same(closed, passes)


def shifted(args: tuple, by: float) -> dict:
    """A captured state `by` cycles later: every time (clocks, slots' times, last arrivals, link reservations)
    moved, durations (stalls, costs) kept."""
    s = fresh(args)
    for name in ("cycle", "time_block", "previous", "link_busy", "first_departures"):
        s[name] += by
    for name in ("s_state", "r_state"):
        s[name][[0, 2]] += by  # (issue and clock; row 1 is the stall)
    return s


def test_the_pump_crossing_2_24_holds_its_slots_then_makes_them(monkeypatch):
    """SUMMA states moved in time so that a pump's times cross 2**24 part way (float32 then rounds them): its
    receives in closed form while the arrivals are below (each holding its slots' stores), word by word after
    (`closed_form_applies` refuses them: the held stores made first), bit for bit as the scheduler's steps."""
    crossed = 0
    for args in captured(4, 8, None, monkeypatch)[1:]:
        probe = fresh(args)
        pairs, _ = reference_pump(probe)
        start, end = float(fresh(args)["s_state"][2].max()), float(probe["s_state"][2].max())
        if pairs < 3:
            continue
        by = float(2**24 - np.floor((start + 2 * end) / 3))  # (two thirds of the way)
        got, want = shifted(args, by), shifted(args, by)
        pump_result = stream_pump_kernels.pump(*(got[name] for name in NAMES))
        assert pump_result[:2] == reference_pump(want)
        assert_states_equal(got, want)
        # The same pump with its loop in Python, its receives seen: closed (slots held), then word by word.
        real = stream_pump_kernels.deliver_receive
        seen = []
        monkeypatch.setattr(stream_pump_kernels, "deliver_receive", lambda *a: seen.append(real(*a)) or seen[-1])
        again = shifted(args, by)
        again["panel_runs"] = False  # (runs in closed form per sender call no `deliver_receive`)
        stream_pump_kernels.pump.py_func(*(again[name] for name in NAMES))
        monkeypatch.setattr(stream_pump_kernels, "deliver_receive", real)
        assert_states_equal(again, want)
        crossed += 2 in seen and 1 in seen[seen.index(2):]
    assert crossed


def test_the_first_receive_starts_the_transfers_in_closed_form_or_declines(monkeypatch):
    """The pump's first receive of the words the senders' step before held (`Strategy.pump_first_step`), every
    receiver at the first word of its transfer: started as a receive inside the transfer (`start_receives`), in
    closed form, in SUMMA's states as captured; where the receivers' transfers before ended past 2**24 at odd
    cycles (their first words' ready times not exact in float32 clocks) it declines, changing nothing, and the
    pump delivers the words and runs the general receive: bit for bit as the scheduler's steps either way."""
    real = stream_pump_kernels.start_receives
    started, declined = [], []

    def seen(*a):
        result = real(*a)
        (started if result else declined).append(a[-1])
        return result

    for late in (False, True):
        for args in captured(4, 8, None, monkeypatch):
            got, want = fresh(args), fresh(args)
            if late:
                for state in (got, want):
                    state["r_state"][2, state["r_pes"]] = 2.0**25 + 3 + 8 * np.arange(len(state["r_pes"]))
            monkeypatch.setattr(stream_pump_kernels, "start_receives", seen)
            result = stream_pump_kernels.pump.py_func(*(got[name] for name in NAMES))  # (its calls seen)
            monkeypatch.setattr(stream_pump_kernels, "start_receives", real)
            assert result[:2] == reference_pump(want)
            assert_states_equal(got, want)
        if late:
            assert declined and not started
        else:
            assert started.count(True) == len(started) // 2 > 0 and not declined  # (a test, then the start)
        started.clear()


def test_pump_receives_is_the_numpy_test_of_the_receivers_and_their_ranges():
    """`stream_pump_kernels.pump_receives` against `_pump_receivers`' NumPy test: the receivers exactly the route's
    sorted receivers, each receive non-empty and inside SRAM; and the receives' bases and lengths where they are."""
    rng = np.random.default_rng(51)
    n, words = 40, 64
    for trial in range(400):
        r_pes = np.sort(rng.choice(n, int(rng.integers(0, 12)), replace=False)).astype(np.int64)
        sorted_dest = r_pes.copy()
        change = trial % 5
        if change == 1 and len(r_pes):  # one receiver elsewhere
            sorted_dest[int(rng.integers(len(r_pes)))] = (int(r_pes[-1]) + 1) % n
        elif change == 2:  # one receiver more or fewer
            sorted_dest = sorted_dest[:-1] if len(r_pes) and trial % 2 else np.append(sorted_dest, n - 1)
        base_row = rng.integers(-3, words + 3, n).astype(np.int32)
        length_row = rng.integers(-2, 20, n).astype(np.int32)
        if change == 3:  # every receive good
            length_row = rng.integers(1, 8, n).astype(np.int32)
            base_row = rng.integers(0, words - 8, n).astype(np.int32)
        base, length = base_row[r_pes].astype(np.int64), length_row[r_pes].astype(np.int64)
        expected = (np.array_equal(sorted_dest, r_pes) and not (length <= 0).any() and not (base < 0).any()
                    and not (base + length > words).any())
        fits, got_base, got_length = stream_pump_kernels.pump_receives(sorted_dest, r_pes, base_row, length_row, words)
        assert fits == expected
        if fits:
            np.testing.assert_array_equal(got_base, base)
            np.testing.assert_array_equal(got_length, length)
