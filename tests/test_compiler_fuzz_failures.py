"""Differential fuzzing of the `@ws.jit` compiler, eighth part (helpers of tests/test_compiler_fuzz_fabric.py):
kernels that FAIL in documented ways, mostly on routed channels, each failure predicted in plain Python from the docs
(docs/engine-strategies.md "A failed launch reports the failure that comes first in simulated time",
docs/routes.md "Errors", docs/sparsity.md, docs/python-supported.md, docs/api.md's table of errors):

- `orphan`: PEs receive (on a declared row bus, or from a neighbour in the block) words nobody sends: `DeadlockError`
  listing exactly those PEs as blocked;
- `cycle`: two neighbours each receive from the other before sending to it: `DeadlockError` listing both;
- `overtake`: two PEs of a row bus send one word each at the same cycle, and receivers on both sides would hear them
  in different orders: `RouteError` ("a word from S reaches R ..., before a word from S' already queued there") at
  the send's line, R a receiver strictly nearer S than S';
- `collide`: a launch `custom` route (no merge) on which two PEs' words share links: `RouteError` ("meet");
- `stale`: a broadcast along a row from root r0 with routes set by `ws.route`, then (after `ws.syncthreads()`) the
  routes changed for a new root r1 without clearing r0's rule from its ramp: `RouteError` at r1's send, saying how
  to clear the rule;
- `noramp`: PEs send through the router on a channel no route takes from their ramp: `RouteError` naming the PEs
  that fail first (fewest loop trips before the send);
- `mistyped`: one PE's word on a row bus received as the other type by some receivers: `WordTypeError` naming the
  receiver that takes the word first (nearest the sender, ties: the lower x) and the sender, both lines;
- `sparse`: `ws.sparse_fma` of host pairs some PEs hold with an index past `len(y)` or `len(x)`:
  `MemoryAccessError` naming the PEs that fail first (fewest loop trips before it).

The faults sit in row 0 of blocks of 1 to 3 rows, in grids of 1 or 2 blocks (every block has them: the error names
the first in simulated time, ties broken by the first PE; a `mistyped` sender 6 trips ahead puts its block first).
Around the failing PEs the others do correct work after a bounded loop of their own length (up to 60 trips);
optionally one of them divides by zero after a long loop (at the end of the kernel, so later than every fault
above): then the deadlocks report that failure instead (a failure, not a deadlock: the failing PE could run), the
other faults their own; and optionally one divides by zero first thing: that failure comes first (but a launch
route's error is raised at launch). Conditions that pick several PEs are products, `(tx - a) * (tx - b) == 0`, not
`or` chains, which would bring the PEs to the fault at different cycles.
Every error must be a WaferError, the predicted one, and identical (class, message, fields, line) under
`forced(REFERENCE)`, `Strategy(compiled=False)` and the default strategy.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from test_compiler_fuzz_fabric import FUZZ, dev, gen_dir, indent, load  # noqa: F401

import wafersim as ws
from wafersim.sim.strategy import REFERENCE, Strategy, forced

STRATEGIES = {"reference": REFERENCE, "numpy": Strategy(compiled=False), "default": Strategy()}
KINDS = ["orphan", "cycle", "overtake", "collide", "stale", "noramp", "mistyped", "sparse"]
LATE = 400  # loop trips of the late divider: thousands of cycles, after every fault drawn
SIDES = {"EAST": (1, 0), "WEST": (-1, 0), "SOUTH": (0, 1), "NORTH": (0, -1)}
P = 4  # pairs per PE (y and x hold P values too)


def mark(name: str) -> str:
    return f"  # L-{name}"


def line_of(source: str, name: str) -> int:
    lines = source.splitlines()
    return next(k + 1 for k, line in enumerate(lines) if line.endswith(mark(name)))


def at(case, pe) -> str:
    """The condition that picks PE `pe` (global x, y): one comparison, the same instructions on every PE (an `and`
    chain would stop early on some: the others reach what follows a cycle or two later)."""
    return f"g == {flat(case, pe)}"


def among(xs: list[int]) -> str:
    """`tx` is one of `xs`, tested with the same instructions whichever it is (`or` would stop early: PEs
    reaching the branch at different cycles)."""
    return f"tx == {xs[0]}" if len(xs) == 1 else "(" + " * ".join(f"(tx - {x})" for x in xs) + " == 0)"


def ports(*names: str) -> str:
    names = [f"ws.{n}" for n in names]
    return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"


# ----------------------------------------------------------------------------- drawing a failing kernel
@st.composite
def failing_programs(draw, kinds: list[str]):
    """A dict: kind, block (w, h), grid (blocks along x), fault row fr (0: every PE of it at distance 0 from the
    wafer's edge, so their global loads complete together), channel c, spins (loop trips per PE, global (x, y)),
    late (a bystander PE, global, or None) and the kind's own roles (x in the block: every block has them)."""
    kind = draw(st.sampled_from(kinds))
    w = draw(st.integers(4 if kind == "overtake" else 3, 7))
    h = draw(st.integers(1, 3))
    gx = draw(st.integers(1, 2)) if w <= 4 else 1
    case = {"kind": kind, "block": (w, h), "grid": gx, "fr": 0, "c": draw(st.integers(0, 7))}
    spins = {(x, y): draw(st.sampled_from([0, 0, 1, 3, 7, 60])) for y in range(h) for x in range(gx * w)}
    fr, roles = case["fr"], set()
    if kind == "orphan":
        waiters = draw(st.lists(st.integers(0, w - 1), min_size=1, max_size=3, unique=True))
        side = {x: draw(st.sampled_from(["ramp"] + [d for d, (dx, dy) in SIDES.items()
                                                   if 0 <= x + dx < w and 0 <= fr + dy < h])) for x in waiters}
        case["waiters"] = side
        roles = set(waiters)
    elif kind == "cycle":
        a = draw(st.integers(0, w - 2))
        case["pair"] = a
        roles = {a, a + 1}
    elif kind == "overtake":
        s1, s2 = sorted(draw(st.lists(st.integers(0, w - 1), min_size=2, max_size=2, unique=True)))
        others = [x for x in range(w) if x not in (s1, s2)]
        if not (any(abs(r - s1) < abs(r - s2) for r in others) and any(abs(r - s2) < abs(r - s1) for r in others)):
            s1, s2 = 0, w - 1  # (receivers 1 and w - 2 hear them in different orders)
        case["senders"] = (s1, s2)
        for b in range(gx):
            spins[b * w + s2, fr] = spins[b * w + s1, fr]  # they send at the same cycle
        roles = {s1, s2}
    elif kind == "collide":
        s1, s2 = sorted(draw(st.lists(st.integers(0, w - 2), min_size=2, max_size=2, unique=True)))
        case["senders"] = (s1, s2)
    elif kind == "stale":
        case["roots"] = tuple(draw(st.lists(st.integers(0, w - 1), min_size=2, max_size=2, unique=True)))
        roles = set(range(w))
    elif kind == "noramp":
        roles = set(draw(st.lists(st.integers(0, w - 1), min_size=1, max_size=3, unique=True)))
        case["senders"] = sorted((b * w + x, 0) for b in range(gx) for x in roles)
        for pe in case["senders"]:
            spins[pe] = draw(st.sampled_from([0, 2]))
        case["typ"] = draw(st.sampled_from("if"))
    elif kind == "mistyped":
        s = draw(st.integers(0, w - 1))
        bad = draw(st.lists(st.sampled_from([x for x in range(w) if x != s]), min_size=1, max_size=3, unique=True))
        for b in range(gx):  # its word arrives after every receiver waits for it (a block 6 trips ahead: first)
            spins[b * w + s, fr] = draw(st.sampled_from([6, 12]))
            for x in bad:
                spins[b * w + x, fr] = 0
        case["sender"], case["bad"], case["typ"] = s, bad, draw(st.sampled_from("if"))
        roles = set(range(w))
    elif kind == "sparse":
        bad = [(x, 0) for x in draw(st.lists(st.integers(0, gx * w - 1), min_size=1, max_size=4, unique=True))]
        case["bad"] = {pe: (draw(st.integers(0, P - 1)), draw(st.sampled_from(["row", "col", "both"])),
                            draw(st.integers(P, 70000))) for pe in bad}
        for pe in bad:
            spins[pe] = draw(st.sampled_from([0, 2]))
    case["spins"] = spins
    taken = set(case["bad"]) if kind == "sparse" else set()
    free = [(x, y) for y in range(h) for x in range(gx * w) if not (y == fr and x % w in roles) and (x, y) not in taken]
    late = free and kind != "collide" and draw(st.integers(0, 2)) == 0
    case["late"] = draw(st.sampled_from(free)) if late else None
    early = free and draw(st.integers(0, 3)) == 0
    case["early"] = draw(st.sampled_from(free)) if early else None  # (may be the late divider too)
    free = [pe for pe in free if pe != case["early"]]
    mid = free and draw(st.integers(0, 2)) == 0
    case["mid"] = draw(st.sampled_from(free)) if mid else None  # divides by zero after its own loop
    if case["mid"] is not None:
        spins[case["mid"]] = draw(st.sampled_from([0, 3, 7, 20, 60]))
    return case


def scenario_lines(case) -> list[str]:
    """The kernel's lines for the case's fault (every PE runs them; conditions pick the roles)."""
    kind, (w, h), fr, c = case["kind"], case["block"], case["fr"], case["c"]
    row = f"ty == {fr}"
    if kind == "orphan":
        body = [f"ws.use_route({c}, \"row_bus\")"]
        for k, (x, side) in enumerate(case["waiters"].items()):
            recv = f"ws.recv(ws.RAMP, channel={c}, dtype=np.int32)" if side == "ramp" else \
                f"ws.recv(ws.{side}, dtype=np.int32)"
            body += [f"if {row} and tx == {x}:", f"    s += {recv}{mark(f'wait{k}')}"]
        return body
    if kind == "cycle":
        a = case["pair"]
        return [f"if {row} and tx == {a}:", f"    v = ws.recv(ws.EAST, dtype=np.int32){mark('wait0')}",
                "    ws.send(ws.EAST, v + s)", f"elif {row} and tx == {a + 1}:",
                f"    v = ws.recv(ws.WEST, dtype=np.int32){mark('wait1')}", "    ws.send(ws.WEST, v + s)"]
    if kind == "overtake":
        s1, s2 = case["senders"]
        return [f"ws.use_route({c}, \"row_bus\")", f"if {row} and {among([s1, s2])}:",
                f"    ws.send(ws.RAMP, s, channel={c}){mark('send')}", f"elif {row}:",
                f"    s += ws.recv(ws.RAMP, channel={c}, dtype=np.int32)",
                f"    s += ws.recv(ws.RAMP, channel={c}, dtype=np.int32)"]
    if kind == "collide":
        s1, s2 = case["senders"]
        return [f"if {row} and (tx == {s1} or tx == {s2}):", f"    ws.send(ws.RAMP, s, channel={c})",
                f"elif {row} and tx > {s1}:", f"    s += ws.recv(ws.RAMP, channel={c}, dtype=np.int32)"]
    if kind == "stale":
        body = []
        for step, r in enumerate(case["roots"]):
            chain = []
            for x in range(w):
                outs = [d for d, cond in (("EAST", x < w - 1), ("WEST", x > 0)) if cond]
                if x == r:
                    rule = f"ws.route({c}, ws.RAMP, {ports(*outs)})"
                elif x < r:
                    rule = f"ws.route({c}, ws.EAST, {ports(*(['WEST'] if x > 0 else []), 'RAMP')})"
                else:
                    rule = f"ws.route({c}, ws.WEST, {ports(*(['EAST'] if x < w - 1 else []), 'RAMP')})"
                chain += [f"{'if' if x == 0 else 'elif'} {row} and tx == {x}:", f"    {rule}"]
            body += chain + ["ws.syncthreads()", f"if {row} and tx == {r}:",
                             f"    ws.send(ws.RAMP, s + {step}, channel={c}){mark(f'send{step}')}",
                             f"elif {row}:", f"    s += ws.recv(ws.RAMP, channel={c}, dtype=np.int32)",
                             "ws.syncthreads()"]
        return body
    if kind == "noramp":
        value = "s" if case["typ"] == "i" else "1.5"
        return [f"if {row} and {among(sorted({x % w for x, _ in case['senders']}))}:",
                f"    ws.send(ws.RAMP, {value}, channel={c}){mark('send')}"]
    if kind == "mistyped":
        s, bad = case["sender"], case["bad"]
        good, wrong = ("np.int32", "np.float32") if case["typ"] == "i" else ("np.float32", "np.int32")
        value = "s" if case["typ"] == "i" else "s * 0.5"
        return [f"ws.use_route({c}, \"row_bus\")", f"if {row} and tx == {s}:",
                f"    ws.send(ws.RAMP, {value}, channel={c}){mark('send')}", f"elif {row} and {among(bad)}:",
                f"    vb = ws.recv(ws.RAMP, channel={c}, dtype={wrong}){mark('bad')}", "    s += int(vb)",
                f"elif {row}:", f"    vg = ws.recv(ws.RAMP, channel={c}, dtype={good})", "    s += int(vg)"]
    assert kind == "sparse"
    return [f"pv[0:{2 * P}] = pairs[g, 0:{2 * P}]", f"yv[0:{P}] = 0.0", f"xv[0:{P}] = 1.5",
            f"ws.sparse_fma(yv[0:{P}], pv[0:{2 * P}], xv[0:{P}]){mark('sparse')}", "s += 1"]


def render(case) -> str:
    w, h = case["block"]
    late, early = case["late"], case["early"]
    tail = [] if late is None else [f"if {at(case, late)}:", "    for j in range(late):", "        s += j",
                                    f"    s = s // zero{mark('late')}"]
    head = [] if early is None else [f"if {at(case, early)}:", f"    s = s // zero{mark('early')}"]
    mid = [] if case["mid"] is None else [f"if {at(case, case['mid'])}:", f"    s = s // zero{mark('mid')}"]
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(out, spins, pairs, late, zero):
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    i = ty * {w} + tx
    g = ws.blockIdx.x * {w * h} + i
    s = i * 3 + 1
    yv = ws.local.array({P}, np.float32)
    xv = ws.local.array({P}, np.float32)
    pv = ws.local.array({2 * P}, np.int32)
{indent(head, 1)}
    for j in range(spins[g]):
        s += j
{indent(mid, 1)}
{indent(scenario_lines(case) + tail, 1)}
    out[g] = s
"""


def flat(case, pe) -> int:
    """The kernel's `g` (the host arrays' index) of PE `pe` (global x, y)."""
    (w, h), (x, y) = case["block"], pe
    return x // w * w * h + y * w + x % w


def bad_pair(case, pe) -> tuple[int, int, int]:
    """(pair number, row, column) of the bad pair PE `pe` holds: a row past `len(y)`, a column past `len(x)` or both."""
    k, which, big = case["bad"][pe]
    row = max(big & 0x7fff, P) if which != "col" else k
    col = max(big & 0xffff, P) if which != "row" else P - 1 - k
    return k, row, col


def pairs_of(case) -> np.ndarray:
    """P pairs per PE, (row << 16) | column, row k with column P - 1 - k; a bad PE's pair k out of range."""
    w, h = case["block"]
    pairs = np.zeros((case["grid"] * h * w, 2 * P), np.int32)
    pairs[:, 0::2] = np.float32(0.5).view(np.int32)
    pairs[:, 1::2] = [(k << 16) | (P - 1 - k) for k in range(P)]
    for x, y in case["bad"] if case["kind"] == "sparse" else ():
        k, row, col = bad_pair(case, (x, y))
        pairs[flat(case, (x, y)), 2 * k + 1] = np.int64((row << 16) | col).astype(np.int32)
    return pairs


# ----------------------------------------------------------------------------- the prediction (plain Python)
MARGIN = 10  # loop trips (each at least a cycle) that set the divider after its loop clearly before / after a fault


def fault_trips(case) -> int | None:
    """Loop trips before the first fault, where the fault follows the same loop at once (None: the fault comes after
    every PE's loop and a barrier, or a global load, or is a deadlock: a divider after a loop comes first)."""
    kind, w, spins = case["kind"], case["block"][0], case["spins"]
    blocks = range(case["grid"])
    if kind == "overtake":
        return min(spins[b * w + case["senders"][0], 0] for b in blocks)
    if kind == "mistyped":
        return min(spins[b * w + case["sender"], 0] for b in blocks)
    if kind == "noramp":
        return min(spins[pe] for pe in case["senders"])
    return None  # (`sparse`: its pairs' global load after the loop takes `global_latency`, 500 cycles, more)


def predict(case, source: str) -> dict:
    """{"cls", and what the error must say: "blocked" PEs, "pes", "line", "lines", "sender", "words"}; or
    {"either": [two of those]} where the divider after its loop and the fault are too close to call."""
    kind = case["kind"]
    if case["early"] is not None and kind != "collide":  # a division by zero first thing: before every fault
        return {"cls": ws.KernelZeroDivisionError, "pes": [case["early"]], "line": line_of(source, "early")}
    if case["mid"] is None or kind == "collide":
        return predict_fault(case, source)
    divider = {"cls": ws.KernelZeroDivisionError, "pes": [case["mid"]], "line": line_of(source, "mid")}
    trips, mine = fault_trips(case), case["spins"][case["mid"]]
    if kind == "stale" and case["grid"] > 1:  # a barrier holds the divider's block only: the other's fault races it
        return {"either": [divider, predict_fault(case, source)]}
    if trips is None or mine + MARGIN <= trips:
        return divider
    return predict_fault(case, source) if mine >= trips + MARGIN else {"either": [divider, predict_fault(case, source)]}


def predict_fault(case, source: str) -> dict:
    kind, (w, h), fr = case["kind"], case["block"], case["fr"]
    late = case["late"]
    if kind in ("orphan", "cycle"):
        if late is not None:  # the late divider can run: its failure, not a deadlock (docs/timing.md)
            return {"cls": ws.KernelZeroDivisionError, "pes": [late], "line": line_of(source, "late")}
        waiters = list(case["waiters"]) if kind == "orphan" else [case["pair"], case["pair"] + 1]
        blocked = {(b * w + x, fr) for b in range(case["grid"]) for x in waiters}
        lines = {line_of(source, f"wait{k}") for k in range(len(waiters))}
        return {"cls": ws.DeadlockError, "blocked": blocked, "lines": lines}
    if kind == "overtake":
        return {"cls": ws.RouteError, "line": line_of(source, "send"), "words": "before a word from"}
    if kind == "collide":
        return {"cls": ws.RouteError, "words": "meet"}
    if kind == "stale":
        return {"cls": ws.RouteError, "line": line_of(source, "send1"), "words": "ws.route(channel, ws.RAMP, ())"}
    if kind in ("noramp", "sparse"):
        group = list(case["senders"] if kind == "noramp" else case["bad"])
        first = min(case["spins"][pe] for pe in group)  # fewest loop trips: the earliest cycle
        pes = sorted((pe for pe in group if case["spins"][pe] == first), key=lambda p: (p[1], p[0]))
        cls = ws.RouteError if kind == "noramp" else ws.MemoryAccessError
        return {"cls": cls, "pes": pes, "line": line_of(source, "send" if kind == "noramp" else "sparse")}
    s = case["sender"]  # the block whose sender spins less, then the receiver nearest it, then the lower x
    first = min(((case["spins"][b * w + s, fr], abs(x - s), b * w + x, b * w + s) for b in range(case["grid"])
                 for x in case["bad"]))
    return {"cls": ws.WordTypeError, "pe": (first[2], fr), "sender": (first[3], fr), "line": line_of(source, "bad"),
            "sender_line": line_of(source, "send")}


def routes_of(case) -> list:
    if case["kind"] != "collide":
        return []
    (s1, s2), fr = case["senders"], case["fr"]

    def rules(x, y, w, h):  # both senders' words go east to the row's end, kept by every PE on the way
        if y != fr or x < s1:
            return {}
        if x == w - 1:
            return {ws.WEST: ws.RAMP}
        table = {ws.WEST: (ws.EAST, ws.RAMP)} if x > s1 else {}
        if x in (s1, s2):
            table[ws.RAMP] = ws.EAST
        return table
    return [ws.routes.custom(case["c"], rules)]


def failure(dev, kernel, case, strategy) -> ws.WaferError:
    w, h = case["block"]
    spins = np.zeros(case["grid"] * w * h, np.int32)
    for pe, trips in case["spins"].items():
        spins[flat(case, pe)] = trips
    args = [dev.to_device(np.zeros(case["grid"] * w * h, np.int32)), dev.to_device(spins),
            dev.to_device(pairs_of(case)), LATE, 0]
    with forced(strategy), pytest.raises(Exception) as caught:
        kernel[(case["grid"], 1), (w, h)](*args, print_output=False, routes=routes_of(case), max_cycles=200_000)
    return caught.value


def summary(err) -> tuple:
    fields = {k: v for k, v in err.fields.items() if k != "state"}
    return type(err), str(err), repr(sorted(fields.items(), key=lambda kv: kv[0]))


def check(err, want: dict, case, source: str) -> None:
    if "either" in want:
        first, second = want["either"]
        try:
            return check(err, first, case, source)
        except AssertionError:
            return check(err, second, case, source)
    info = f"{type(err).__name__}: {err}\n{case}\n{source}"
    assert isinstance(err, ws.WaferError), info
    assert type(err) is want["cls"], info
    if "blocked" in want:
        assert {b["pe"] for b in err.blocked} == want["blocked"], info
        assert err.source[1] in want["lines"], info
    if "pes" in want:
        assert list(err.pes) == want["pes"][:8] and err.pe_count == len(want["pes"]), info
    if "pe" in want:
        assert err.pe == want["pe"] and err.sender == want["sender"], info
        assert err.sender_source[1] == want["sender_line"], info
    if "line" in want:
        assert err.source[1] == want["line"], info
    if "words" in want:
        assert want["words"] in str(err), info
    if case["kind"] == "overtake" and "words" in want:  # the receiver named hears the first-named sender strictly first
        found = re.search(r"a word from \((\d+), (\d+)\) reaches \((\d+), (\d+)\).*before a word from \((\d+), (\d+)\)",
                          str(err))
        assert found, info
        a, _, r, _, b, _ = map(int, found.groups())
        w = case["block"][0]
        assert a // w == r // w == b // w, info  # one block's senders and receiver
        assert {a % w, b % w} == set(case["senders"]) and abs(r - a) < abs(r - b), info
    if case["kind"] == "sparse" and want["cls"] is ws.MemoryAccessError:
        # the message describes the first PE named: its pair, a bad index of it (which of two, the docs do not say)
        k, row, col = bad_pair(case, want["pes"][0])
        bad = [(what, index) for what, index in (("row", row), ("column", col)) if index >= P]
        assert (err.pair, err.size) == (k, P) and err.index in [index for _, index in bad], info
        assert any(f"pair {k}: {what} {index} is out of bounds for size {P}" in str(err) for what, index in bad), info


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
def test_failing_kernels_report_the_predicted_first_failure_on_every_strategy(dev, gen_dir, kind, data):
    case = data.draw(failing_programs([kind]), label="case")
    event(case["kind"] + (" + a late divider" if case["late"] else "") + (" + an early one" if case["early"] else "")
          + (" + one after its loop" if case["mid"] else ""))
    event(f"grid of {case['grid']}")
    source = render(case)
    kernel = load(gen_dir, source).kern
    want = predict(case, source)
    errors = {name: failure(dev, kernel, case, strategy) for name, strategy in STRATEGIES.items()}
    for name, err in errors.items():
        check(err, want, case, source + f"\n(strategy {name})")
    first = summary(errors["reference"])
    for name, err in errors.items():
        assert summary(err) == first, f"{name} differs from the reference:\n{summary(err)}\n{first}\n{source}"
