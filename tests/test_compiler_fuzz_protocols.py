"""Differential fuzzing of the `@ws.jit` compiler: fabric operations inside control flow, the shapes a CUDA
user's exchange protocols take, which the other fabric fuzzers (tests/test_compiler_fuzz_fabric*.py: a fixed
number of steps, sends and receives at the top level of one loop) do not draw:

- bursts whose trip count is data: PE x sends `cnt[x]` words, and each receiver reads its sender's count from
  global memory and receives that many, in a `for` loop, a `while k < m` loop or a `while True:` loop left by
  `break`;
- the direction chosen by the PE's position: even PEs send east and odd ones west on one channel (a direction
  is a constant, so that is two sends in the two arms of a branch on `threadIdx.x`), the receivers deciding
  from their neighbours' parity which side to receive from; or by data: PEs whose count is even send east,
  the others west, and a PE may then receive from both sides (west first);
- a word sent from both arms of a branch on `(x + t) % 2` (two different values, one send per arm);
- sends and receives in device functions, the direction and channel passed as constants (`put(ws.EAST, v, 2)`);
- a chain (a scan): each PE receives from upstream, combines, sends the result on downstream, in a device
  function that receives and sends;
- int32 and float32 words, each channel one type for the whole kernel, received with `dtype=` or without it
  (the type every send toward the receive sends: docs/python-supported.md "Words on the fabric").

The reference is plain Python over NumPy scalars (int32 wrapping, float32 rounding), computed phase by phase:
a burst's words depend only on the sender's state before the phase, so each PE's queue per way and channel is
known, and the receivers consume it in order (words between a pair of neighbours arrive in the order sent, per
channel). Counts stay small (at most 3 words per PE and phase, 4 phases), so no FIFO fills and the protocol
cannot deadlock. Each kernel runs under the default strategy and `Strategy(compiled=False)` (results and cycles
identical). WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from test_compiler_fuzz_fabric import FUZZ, indent, launch_both, load

import wafersim as ws

SEND_FORMS = {"i": ["ai + t * 7", "x * 100 + t", "ai * 2 - t"],
              "f": ["af * 0.5 + t", "xf[x, t]", "af - t * 0.25"]}
#: How a received word `r` is combined into the state (Python's meaning, over NumPy scalars in the reference).
COMBINE = {"i": ["ai * 3 + {r}", "ai ^ {r}", "max(ai, {r})"],
           "f": ["af * 0.5 + {r}", "min(af, {r})", "af - {r}"]}
#: What a PE of a chain sends on (its state after combining the word from upstream).
CHAIN_FORMS = {"i": ["ai", "x * 100", "ai * 2"], "f": ["af * 0.5", "xf[x, 0] + af", "af"]}
TYPE_NAME = {"i": "np.int32", "f": "np.float32"}
STATE = {"i": "ai", "f": "af"}
MAX_COUNT = 3
#: The ways chosen per PE: east where the condition holds (of the PE `p`), else west. PARITY: by position
#: (threadIdx); DATA: by the PE's own count, which its neighbours read from global memory to know the side.
EAST_IF = {"PARITY": "({p}) % 2 == 0", "DATA": "cnt[{p}] % 2 == 0"}


@st.composite
def protocols(draw):
    """(PEs, channel types, phases). A burst: ("burst", way, channel, send place, send forms, loop, typed,
    combine, receive place); way EAST, WEST, PARITY (even PEs east, odd PEs west) or DATA (PEs with an even
    count east, the others west). A chain: ("chain", way,
    channel, combine, send form, typed)."""
    pes = draw(st.integers(2, 6))
    types = [draw(st.sampled_from("if")) for _ in range(4)]
    phases = []
    for _ in range(draw(st.integers(1, 4))):
        channel = draw(st.integers(0, 3))
        if draw(st.integers(0, 3)) == 0:
            phases.append(("chain", draw(st.sampled_from(["EAST", "WEST"])), channel,
                           draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.booleans())))
            continue
        place = draw(st.sampled_from(["inline", "helper", "branch"]))
        forms = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        phases.append(("burst", draw(st.sampled_from(["EAST", "WEST", "PARITY", "DATA"])), channel, place, forms,
                       draw(st.sampled_from(["for", "while", "break"])), draw(st.booleans()),
                       draw(st.integers(0, 2)), draw(st.sampled_from(["inline", "helper"]))))
    return pes, types, phases


HELPERS = """
@ws.jit
def put(d, v, c):
    ws.send(d, v, channel=c)


@ws.jit
def take_i(d, c):
    return ws.recv(d, channel=c, dtype=np.int32)


@ws.jit
def take_f(d, c):
    return ws.recv(d, channel=c, dtype=np.float32)


@ws.jit
def take(d, c):
    return ws.recv(d, channel=c)
"""


def nest(lines: list[str], depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]


def send_lines(way: str, channel: int, typ: str, place: str, forms) -> list[str]:
    """The sends of one step `t` toward `way` (a constant direction)."""
    first, second = (SEND_FORMS[typ][k] for k in forms)

    def one(value: str) -> str:
        return (f"put(ws.{way}, {value}, {channel})" if place == "helper"
                else f"ws.send(ws.{way}, {value}, channel={channel})")

    if place == "branch":
        return ["if (x + t) % 2 == 0:", f"    {one(first)}", "else:", f"    {one(second)}"]
    return [one(first)]


def receive_expr(way: str, channel: int, typ: str, typed: bool, place: str) -> str:
    if place == "helper":
        return f"take_{typ}(ws.{way}, {channel})" if typed else f"take(ws.{way}, {channel})"
    dtype = f", dtype={TYPE_NAME[typ]}" if typed else ""
    return f"ws.recv(ws.{way}, channel={channel}{dtype})"


def receive_loop(way: str, channel: int, typ: str, loop: str, typed: bool, combine: int, place: str,
                 sender: str) -> list[str]:
    """Receive `cnt[sender]` words from `way`, each combined into the state."""
    state = STATE[typ]
    update = f"{state} = " + COMBINE[typ][combine].format(r=receive_expr(way, channel, typ, typed, place))
    head = [f"m = cnt[{sender}]"]
    if loop == "for":
        return head + ["for t in range(m):", f"    {update}", "    got += 1"]
    if loop == "while":
        return head + ["k = 0", "while k < m:", f"    {update}", "    got += 1", "    k += 1"]
    return head + ["k = 0", "while True:", "    if k >= m:", "        break", f"    {update}", "    got += 1",
                   "    k += 1"]


def render(pes: int, types, phases) -> str:
    body = []
    for phase in phases:
        if phase[0] == "chain":
            _, way, channel, combine, form, typed = phase
            typ = types[channel]
            back = "WEST" if way == "EAST" else "EAST"
            state = STATE[typ]
            value = CHAIN_FORMS[typ][form]
            body += [f"if ws.has_neighbor(ws.{back}):",
                     f"    {state} = " + COMBINE[typ][combine].format(r=receive_expr(back, channel, typ, typed,
                                                                                     "inline")),
                     "    got += 1",
                     f"if ws.has_neighbor(ws.{way}):",
                     f"    put(ws.{way}, {value}, {channel})"]
            continue
        _, way, channel, place, forms, loop, typed, combine, rplace = phase
        typ = types[channel]
        if way in EAST_IF:  # east where the PE's condition holds, else west
            east_if = EAST_IF[way]
            body += [f"if {east_if.format(p='x')}:",
                     "    if ws.has_neighbor(ws.EAST):",
                     "        for t in range(cnt[x]):",
                     *nest(send_lines("EAST", channel, typ, place, forms), 3),
                     "elif ws.has_neighbor(ws.WEST):",
                     "    for t in range(cnt[x]):",
                     *nest(send_lines("WEST", channel, typ, place, forms), 2),
                     f"if x > 0 and {east_if.format(p='x - 1')}:",
                     *nest(receive_loop("WEST", channel, typ, loop, typed, combine, rplace, "x - 1"), 1),
                     f"if x + 1 < ws.gridsize(1) and not {east_if.format(p='x + 1')}:",
                     *nest(receive_loop("EAST", channel, typ, loop, typed, combine, rplace, "x + 1"), 1)]
        else:
            back = "WEST" if way == "EAST" else "EAST"
            sender = "x - 1" if way == "EAST" else "x + 1"
            body += [f"if ws.has_neighbor(ws.{way}):",
                     "    n = cnt[x]",
                     "    for t in range(n):",
                     *nest(send_lines(way, channel, typ, place, forms), 2),
                     f"if ws.has_neighbor(ws.{back}):",
                     *nest(receive_loop(back, channel, typ, loop, typed, combine, rplace, sender), 1)]
    return f"""import numpy as np
import wafersim as ws

{HELPERS}

@ws.jit
def kern(cnt, xf, xi, of, oi):
    x = ws.grid(1)
    ai = xi[x]
    af = xf[x, 3]
    got = 0
{indent(body, 1)}
    of[x] = af
    oi[x, 0] = ai
    oi[x, 1] = got
"""


def _wrap(n: int) -> np.int32:
    return np.int32((int(n) + 2**31) % 2**32 - 2**31)


def _send_value(typ: str, form: int, x: int, t: int, ai, af, xf):
    if typ == "i":
        return _wrap([int(ai) + t * 7, x * 100 + t, int(ai) * 2 - t][form])
    return [af * np.float32(0.5) + np.float32(t), xf[x, t], af - np.float32(t) * np.float32(0.25)][form]


def _combine(typ: str, combine: int, ai, af, r):
    if typ == "i":
        return _wrap([int(ai) * 3 + int(r), int(ai) ^ int(r), max(int(ai), int(r))][combine]), af
    # Python's min(af, r): r if r < af else af
    return ai, [af * np.float32(0.5) + r, r if r < af else af, af - r][combine]


def reference(pes: int, types, phases, cnt, xf, xi):
    ai = [np.int32(v) for v in xi]
    af = [np.float32(v) for v in xf[:, 3]]
    got = [0] * pes
    with np.errstate(all="ignore"):
        for phase in phases:
            if phase[0] == "chain":
                _, way, channel, combine, form, _typed = phase
                typ = types[channel]
                order = range(pes) if way == "EAST" else range(pes - 1, -1, -1)
                word = None
                for x in order:
                    if word is not None:
                        ai[x], af[x] = _combine(typ, combine, ai[x], af[x], word)
                        got[x] += 1
                    if typ == "i":
                        word = _wrap([int(ai[x]), x * 100, int(ai[x]) * 2][form])
                    else:
                        word = [af[x] * np.float32(0.5), xf[x, 0] + af[x], af[x]][form]
                continue
            _, way, channel, place, forms, _loop, _typed, combine, _rplace = phase
            typ = types[channel]
            queues: dict = {}  # receiving PE -> words, in the order they are received
            for x in range(pes):
                d = way
                if way in EAST_IF:
                    d = "EAST" if (x if way == "PARITY" else int(cnt[x])) % 2 == 0 else "WEST"
                to = x + (1 if d == "EAST" else -1)
                if not 0 <= to < pes:
                    continue
                words = []
                for t in range(int(cnt[x])):
                    form = forms[0] if place != "branch" or (x + t) % 2 == 0 else forms[1]
                    words.append(_send_value(typ, form, x, t, ai[x], af[x], xf))
                queues.setdefault(to, {})[x] = words
            for x in range(pes):
                senders = queues.get(x, {})
                # (DATA: a PE may receive from both sides, from the west first, as the kernel does)
                for sender in sorted(senders):
                    for word in senders[sender]:
                        ai[x], af[x] = _combine(typ, combine, ai[x], af[x], word)
                        got[x] += 1
    return np.array(af, np.float32), np.array(ai, np.int32), np.array(got, np.int32)


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8, channels=4))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_protocols")


@FUZZ
@given(case=protocols(), seed=st.integers(0, 2**32 - 1))
# float32 words received by default on channel 0, then int32 ones without dtype= on channel 1: was refused
@example(case=(3, ["f", "i", "i", "i"], [("chain", "EAST", 0, 0, 0, False), ("chain", "EAST", 1, 0, 0, False)]),
         seed=0)
def test_fabric_operations_in_control_flow_match_the_reference(dev, gen_dir, case, seed):
    pes, types, phases = case
    source = render(pes, types, phases)
    module = load(gen_dir, source)
    rng = np.random.default_rng(seed)
    cnt = rng.integers(0, MAX_COUNT + 1, pes).astype(np.int32)
    xf = (rng.standard_normal((pes, 4)) * 8).astype(np.float32)
    xf[rng.random((pes, 4)) < 0.1] = np.float32(-0.0)
    xi = rng.integers(-1000, 1000, pes).astype(np.int32)
    xi[rng.random(pes) < 0.2] = rng.choice(np.array([2**31 - 1, -2**31, 2**30], np.int32))
    (of, oi), _ = launch_both(dev, module.kern, (1, 1), (pes, 1),
                              [cnt, xf, xi, np.zeros(pes, np.float32), np.zeros((pes, 2), np.int32)], (3, 4), source)
    want_f, want_i, want_got = reference(pes, types, phases, cnt, xf, xi)
    msg = f"{source}\ncnt={cnt.tolist()} xf={xf.tolist()} xi={xi.tolist()}"
    np.testing.assert_array_equal(oi[:, 1], want_got, err_msg=msg)
    np.testing.assert_array_equal(oi[:, 0], want_i, err_msg=msg)
    np.testing.assert_array_equal(of.view(np.int32), want_f.view(np.int32), err_msg=msg)
