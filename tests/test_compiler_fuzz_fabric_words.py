"""Differential fuzzing of the `@ws.jit` compiler: int32 and float32 words on the fabric, checked against an
independent NumPy reference written from docs/python-supported.md (split from tests/test_compiler_fuzz_arrays.py):
scalars and slices sent east, received by the west neighbour through each documented way of typing a receive
(`dtype=`, the variable, an annotation, an element, a branch of a conditional expression, a channel whose every
send is int32), channels carrying both types. WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz
tests."""
from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from test_compiler_fuzz_arrays import FUZZ, dev, gen_dir  # noqa: F401  (module fixtures, reused)

from conftest import load_source


# ----------------------------------------------------------------------------- int32 and float32 words on the fabric
FABRIC_PES, SLICE = 4, 4


@st.composite
def transfers(draw):
    """(kernel send lines, kernel receive lines, items): each item (kind, channel, value index) sends east
    an int32 or float32 scalar or slice, received from the west in the same order by each documented way of
    typing a receive (an int32 channel is one whose every send is an int32)."""
    items = draw(st.lists(st.tuples(st.sampled_from(["int", "float", "ints", "floats"]), st.integers(0, 1)),
                          min_size=1, max_size=5))
    int_only = {c for c in (0, 1) if all(kind in ("int", "ints") for kind, ch in items if ch == c)}
    sends, recvs = [], []
    for k, (kind, channel) in enumerate(items):
        at = f"channel={channel}"
        if kind == "int":
            sends.append(f"ws.send(ws.EAST, xi[p, {k}] * {draw(st.sampled_from([1, 3, -65537]))} + li[{k % SLICE}], {at})")
            forms = [f"ri[{k}] = ws.recv(ws.WEST, {at}, dtype=np.int32)", f"v{k}: int = ws.recv(ws.WEST, {at})",
                     f"acc += ws.recv(ws.WEST, {at})", f"ri[{k}] = ws.recv(ws.WEST, {at})",
                     # (a branch of a conditional expression takes the type of where the value goes too)
                     f"ri[{k}] = ws.recv(ws.WEST, {at}) if p >= 0 else 0",
                     f"v{k}: int = ws.recv(ws.WEST, {at}) if p >= 0 else 0"]
            if channel in int_only:
                # (inside other arithmetic: typed by the sends alone, the first lowering reads it as float32 and
                # stops at `acc`; with both channels so, each retry found one more recv to read as int32)
                forms += [f"v{k} = ws.recv(ws.WEST, {at})", f"acc = acc + min(ws.recv(ws.WEST, {at}), 0)"]
            form = draw(st.sampled_from(forms))
            recvs.append(form + (f"; ri[{k}] = v{k}" if form.startswith(f"v{k}") else ""))
        elif kind == "float":
            sends.append(f"ws.send(ws.EAST, xf[p, {k}] * 0.5 + lf[{k % SLICE}], {at})")
            forms = [f"rf[{k}] = ws.recv(ws.WEST, {at}, dtype=np.float32)", f"w{k}: float = ws.recv(ws.WEST, {at}, dtype=np.float32)"]
            if not int_only & {channel}:
                forms += [f"rf[{k}] = ws.recv(ws.WEST, {at})", f"rf[{k}] = ws.recv(ws.WEST, {at}) if p >= 0 else 0.0"]
            form = draw(st.sampled_from(forms))
            recvs.append(form + (f"; rf[{k}] = w{k}" if form.startswith(f"w{k}") else ""))
        else:
            name, out = ("li", "si") if kind == "ints" else ("lf", "sf")
            length = draw(st.integers(1, SLICE))
            start = draw(st.integers(0, SLICE - length))
            sends.append(f"ws.send(ws.EAST, {name}[{start}:{start + length}], {at})")
            recvs.append(f"ws.recv(ws.WEST, {at}, out={out}[{k}, 0:{length}])")
            items[k] = (kind, channel, start, length)
    return sends, recvs, items


@FUZZ
@given(case=transfers(), seed=st.integers(0, 2**32 - 1))
def test_fabric_words_match_numpy(dev, gen_dir, case, seed):
    sends, recvs, items = case
    count = len(items)
    send_lines = "\n".join(f"        {line}" for line in sends)
    recv_lines = "\n".join(f"        {line}" for line in recvs)
    module = load_source(gen_dir, f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(xi, xf, oi, of, osi, osf):
    p = ws.grid(1)
    li = ws.local.array({SLICE}, np.int32)
    lf = ws.local.array({SLICE}, np.float32)
    ri = ws.local.array({count}, np.int32)
    rf = ws.local.array({count}, np.float32)
    si = ws.local.array(({count}, {SLICE}), np.int32)
    sf = ws.local.array(({count}, {SLICE}), np.float32)
    ri[0:{count}] = 0
    rf[0:{count}] = 0.0
    si[0:{count}, 0:{SLICE}] = 0
    sf[0:{count}, 0:{SLICE}] = 0.0
    acc = 0
    for q in range({SLICE}):
        li[q] = xi[p, {count} + q]
        lf[q] = xf[p, {count} + q]
    if ws.has_neighbor(ws.EAST):
{send_lines}
    if ws.has_neighbor(ws.WEST):
{recv_lines}
    for q in range({count}):
        oi[p, q] = ri[q]
        of[p, q] = rf[q]
        for c in range({SLICE}):
            osi[p, q * {SLICE} + c] = si[q, c]
            osf[p, q * {SLICE} + c] = sf[q, c]
    oi[p, {count}] = acc
""")
    rng = np.random.default_rng(seed)
    xi = rng.integers(-(2**31), 2**31, (FABRIC_PES, count + SLICE), dtype=np.int64).astype(np.int32)
    xf = rng.uniform(-4, 4, (FABRIC_PES, count + SLICE)).astype(np.float32)
    want_i, want_f = np.zeros((FABRIC_PES, count + 1), np.int32), np.zeros((FABRIC_PES, count), np.float32)
    want_si = np.zeros((FABRIC_PES, count, SLICE), np.int32)
    want_sf = np.zeros((FABRIC_PES, count, SLICE), np.float32)
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in range(1, FABRIC_PES):  # what PE p - 1 sent
            li, lf = xi[p - 1, count:], xf[p - 1, count:]
            for k, (item, send) in enumerate(zip(items, sends)):
                if item[0] == "int":
                    factor = np.int32(int(send.split("* ")[1].split(" +")[0]))
                    value = xi[p - 1, k] * factor + li[k % SLICE]
                    if "min(" in recvs[k]:
                        want_i[p, count] += min(value, np.int32(0))
                    elif "acc +=" in recvs[k]:
                        want_i[p, count] += value
                    else:
                        want_i[p, k] = value
                elif item[0] == "float":
                    want_f[p, k] = xf[p - 1, k] * np.float32(0.5) + lf[k % SLICE]
                else:
                    _, _, start, length = item
                    target = want_si if item[0] == "ints" else want_sf
                    target[p, k, :length] = (li if item[0] == "ints" else lf)[start:start + length]
    d = [dev.device_array(shape, dtype) for shape, dtype in (((FABRIC_PES, count + 1), np.int32),
         ((FABRIC_PES, count), np.float32), ((FABRIC_PES, count * SLICE), np.int32),
         ((FABRIC_PES, count * SLICE), np.float32))]
    module.kern[(1, 1), (FABRIC_PES, 1)](dev.to_device(xi), dev.to_device(xf), *d)
    message = "\n".join(sends + recvs)
    got = [array.copy_to_host() for array in d]
    np.testing.assert_array_equal(got[0], want_i, err_msg=message)
    np.testing.assert_array_equal(got[1], want_f, err_msg=message)
    np.testing.assert_array_equal(got[2].reshape(want_si.shape), want_si, err_msg=message)
    np.testing.assert_array_equal(got[3].reshape(want_sf.shape), want_sf, err_msg=message)
