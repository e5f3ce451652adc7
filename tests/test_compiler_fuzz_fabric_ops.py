"""Differential fuzzing of the `@ws.jit` compiler, sixth part (the fifth's helpers, tests/test_compiler_fuzz_fabric.py):
sparse intrinsics, prints and indices in grids of several blocks and waves, scalar `ws.fma`, bitcast receives of
16-bit slices, each checked against an independent NumPy / plain-Python reference written from docs/sparsity.md,
docs/api.md, docs/getting-started.md ("Printing from a kernel") and docs/python-supported.md:

- `ws.fma_skip_zeros` (slice or scalar `b`; an inf or nan facing a zero never reaches the result; the product
  rounded, then the sum, as `vfma`), `ws.pack_nonzeros` (-0.0 a zero, nan not), `ws.sparse_fma` of host-packed
  pairs (`(row << 16) | column`, and a scalar `x`: the index a row) and of what `pack_nonzeros` wrote,
  `ws.send_nonzeros` / `ws.recv_fma` between neighbours and along a routed row bus (counts returned; a count of
  `pack_nonzeros` or `recv_fma` inside a slice expression reading the array the call wrote, as NumPy reads a
  view after the call, and refused after a negation NumPy computes before it);
- `ws.print` records (PEs, labels, int or float values, order by cycle then PE, each PE's in program order),
  `ws.grid`, `ws.gridsize`, `threadIdx`, `blockIdx`, `blockDim`, `gridDim`, `ws.syncthreads()` and neighbour
  words inside blocks, in grids of several blocks running in several waves;
- scalar `ws.fma` at run time and folded (rounded once: an exact rational reference rounded to nearest even),
  constant infs and nans spelled `math.inf`, `float('-Infinity')`, `np.float32('nan')`, ...;
- bitcast receives of 16-bit slices: a 16-bit value travels in the low half of its word, the high half zero.
  (A 32-bit word received with `bitcast=True` into a 16-bit slice is not drawn: the docs do not say what happens
  to its high half.)

Every kernel runs under the default strategy and `Strategy(compiled=False)` (results, cycles, prints identical).
"""
from __future__ import annotations

import re
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import wafersim as ws
from test_compiler_fuzz_fabric import FUZZ, WAYS, bits, dev, gen_dir, indent, launch_both, load  # noqa: F401

# ----------------------------------------------------------------------------- sparse intrinsics
S = 16  # words of y, a, b; pairs arrays hold 2 * S words


@st.composite
def sparse_programs(draw):
    """(PEs in a row, ops): ("skip", o, p, q, length, scalar b?), ("pack", k, p, length, into), ("apply", k, o,
    rows, q, cols, pairs, scalar x?), ("unpack", k, o, scalar?) (`sparse_fma` of what pack k wrote, x the scalar s),
    ("hand", k, direction, p, o, length, channel, into) (send_nonzeros / recv_fma). `into` None, or the count goes
    into a slice expression whose operand the call wrote, read after the call as NumPy reads a view:
    `y[o2:o2 + m] = pk[k, 0:m] + ws.pack_nonzeros(...)` ((o2, m)), `y[o2:o2 + m] = y[o3:o3 + m] + ws.recv_fma(...)`
    ((o2, o3, m)); a last item "-" negates that operand: NumPy negates it before the call writes it, so the
    kernel (which evaluates scalars first) must refuse the statement."""
    ops, packs = [], []
    for _ in range(draw(st.integers(1, 6))):
        k = len(ops)  # the op's row of pk, cnt and pairs
        kind = draw(st.sampled_from(["skip", "skip", "pack", "apply", "unpack", "hand", "bus"]))
        length = draw(st.integers(0, S))
        p, o = draw(st.integers(0, S - length)), draw(st.integers(0, S - length))
        if kind == "skip":
            ops.append(("skip", o, p, draw(st.integers(0, S - length)), length, draw(st.booleans())))
        elif kind == "pack":
            m = draw(st.integers(1, S))
            into = (draw(st.integers(0, S - m)), m) + NEGATED(draw) if draw(st.booleans()) else None
            ops.append(("pack", k, p, length, into))
            packs.append(k)
        elif kind == "unpack" and packs:
            pack = draw(st.sampled_from(packs))
            rows = ops[[op[1] if op[0] == "pack" else -1 for op in ops].index(pack)][3]
            ops.append(("unpack", pack, draw(st.integers(0, S - rows)), k))
        elif kind == "apply":
            rows, cols = draw(st.integers(1, S)), draw(st.integers(1, S))
            scalar = draw(st.booleans())
            ops.append(("apply", k, draw(st.integers(0, S - rows)), rows, draw(st.integers(0, S - cols)), cols,
                        draw(st.integers(0, S)), scalar))
        elif kind in ("hand", "bus"):
            ops.append((kind, k, draw(st.sampled_from(["EAST", "WEST"])), p, o, length, draw(st.integers(0, 3))))
            if kind == "hand":
                m = draw(st.integers(1, S))
                into = (draw(st.integers(0, S - m)), draw(st.integers(0, S - m)), m) + NEGATED(draw) \
                    if draw(st.booleans()) else None
                ops[-1] += (into,)
    return draw(st.integers(2, 4)), ops or [("skip", 0, 0, 0, S, True)]


def NEGATED(draw) -> tuple:
    """("-",) one time in four: the slice operand of a count's slice expression negated (refused)."""
    return ("-",) if draw(st.integers(0, 3)) == 0 else ()


def refused(ops) -> bool:
    """Whether a count goes into a slice expression after a negation Python computes before the call."""
    return any(op[0] in ("pack", "hand") and op[-1] and op[-1][-1] == "-" for op in ops)


def render_sparse(ops) -> str:
    body = []
    for op in ops:
        if op[0] == "skip":
            _, o, p, q, n, scalar = op
            b = "s" if scalar else f"b[{q}:{q + n}]"
            body.append(f"ws.fma_skip_zeros(y[{o}:{o + n}], a[{p}:{p + n}], {b})")
        elif op[0] == "pack":
            _, k, p, n, into = op
            call = f"ws.pack_nonzeros(pk[{k}, 0:{2 * n}], a[{p}:{p + n}])"
            body.append(f"y[{into[0]}:{sum(into[:2])}] = {'-' * (len(into) - 2)}pk[{k}, 0:{into[1]}] + {call}" if into
                        else f"cnt[{k}] = {call}")
        elif op[0] == "unpack":
            _, pack, o, k = op
            body.append(f"cnt[{k}] = cnt[{pack}]")
            body.append(f"ws.sparse_fma(y[{o}:{o + S - o}], pk[{pack}, 0:2 * cnt[{pack}]], s)")
        elif op[0] == "apply":
            _, k, o, rows, q, cols, pairs, scalar = op
            x = "s" if scalar else f"b[{q}:{q + cols}]"
            body.append(f"pv[0:{2 * S}] = pairs[p, {k * 2 * S}:{(k + 1) * 2 * S}]")
            body.append(f"ws.sparse_fma(y[{o}:{o + rows}], pv[0:{2 * pairs}], {x})")
        elif op[0] == "hand":
            _, k, way, p, o, n, channel, into = op
            back = WAYS[way]
            call = f"ws.recv_fma(ws.{back}, y[{o}:{o + n}], s * 0.5, pv[0:{2 * n}], channel={channel})"
            body += [f"if ws.has_neighbor(ws.{way}):",
                     f"    cnt[{k}] = ws.send_nonzeros(ws.{way}, a[{p}:{p + n}], pk[{k}, 0:{2 * n}], channel={channel})",
                     f"if ws.has_neighbor(ws.{back}):",
                     f"    y[{into[0]}:{into[0] + into[2]}] = {'-' * (len(into) - 3)}y[{into[1]}:{into[1] + into[2]}] + "
                     f"{call}" if into else
                     f"    cnt[{k}] = cnt[{k}] + 100 * {call}"]
        else:  # along a routed row bus from the PE at column 0 (channel 4 + ...)
            _, k, _, p, o, n, channel = op
            body += [f"ws.use_route({4 + channel}, \"row_bus\")", "if p == 0:",
                     f"    cnt[{k}] = ws.send_nonzeros(ws.RAMP, a[{p}:{p + n}], pk[{k}, 0:{2 * n}], "
                     f"channel={4 + channel})", "else:",
                     f"    cnt[{k}] = 100 * ws.recv_fma(ws.RAMP, y[{o}:{o + n}], s, pv[0:{2 * n}], "
                     f"channel={4 + channel})"]
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(x, pairs, out, outp, cnt_out, s):
    p = ws.grid(1)
    y = ws.local.array({S}, np.float32)
    a = ws.local.array({S}, np.float32)
    b = ws.local.array({S}, np.float32)
    pv = ws.local.array({2 * S}, np.float32)
    pk = ws.local.array(({len(ops)}, {2 * S}), np.float32)
    cnt = ws.local.array({len(ops)}, np.int32)
    y[0:{S}] = x[p, 0:{S}]
    a[0:{S}] = x[p, {S}:{2 * S}]
    b[0:{S}] = x[p, {2 * S}:{3 * S}]
    cnt[0:{len(ops)}] = 0
    for q in range({len(ops)}):
        pk[q, 0:{2 * S}] = 0.0
{indent(body, 1)}
    out[p, 0:{S}] = y[0:{S}]
    for q in range({len(ops)}):
        outp[p, q * {2 * S}:(q + 1) * {2 * S}] = pk[q, 0:{2 * S}]
    cnt_out[p, 0:{len(ops)}] = cnt[0:{len(ops)}]
"""


def packed(values: np.ndarray) -> np.ndarray:
    """(value, position) pairs of the nonzeros (-0.0 is a zero, nan is not) as float32 words."""
    positions = np.flatnonzero(values != 0)
    words = np.zeros(2 * len(positions), np.float32)
    words[0::2], words[1::2] = values[positions], positions.astype(np.int32).view(np.float32)
    return words


def apply_pairs(y: np.ndarray, words: np.ndarray, x, two_d: bool) -> None:
    """`vspfma` in pair order: y[row] += value * x[column] (the product rounded to float32, then the sum);
    every product read before any element is written."""
    values, index = words[0::2], words[1::2].view(np.int32)
    factors = x[index & 0xFFFF] if two_d else np.full(len(values), x, np.float32)
    products = values * factors
    for row, product in zip(index >> 16 if two_d else index, products):
        y[row] = y[row] + product


def sparse_reference(pes: int, ops, x, pairs, s):
    y, a, b = (x[:, k * S:(k + 1) * S].copy() for k in range(3))
    pk, cnt = np.zeros((pes, len(ops), 2 * S), np.float32), np.zeros((pes, len(ops)), np.int32)
    for op in ops:
        if op[0] == "skip":
            _, o, p, q, n, scalar = op
            for pe in range(pes):
                keep = a[pe, p:p + n] != 0
                factor = np.full(n, s, np.float32) if scalar else b[pe, q:q + n]
                y[pe, o:o + n][keep] = y[pe, o:o + n][keep] + a[pe, p:p + n][keep] * factor[keep]
        elif op[0] == "pack":
            _, k, p, n, into = op
            for pe in range(pes):
                words = packed(a[pe, p:p + n])
                pk[pe, k, :len(words)] = words
                if into:  # the count into y, with the row of pk as the pack left it
                    y[pe, into[0]:sum(into[:2])] = pk[pe, k, 0:into[1]] + np.float32(len(words) // 2)
                else:
                    cnt[pe, k] = len(words) // 2
        elif op[0] == "unpack":
            _, pack, o, k = op
            for pe in range(pes):
                cnt[pe, k] = cnt[pe, pack]
                apply_pairs(y[pe, o:], pk[pe, pack, :2 * cnt[pe, pack]], s, False)
        elif op[0] == "apply":
            _, k, o, rows, q, cols, n, scalar = op
            for pe in range(pes):
                apply_pairs(y[pe, o:o + rows], pairs[pe, k, :2 * n], s if scalar else b[pe, q:q + cols], not scalar)
        else:
            kind, k, way, p, o, n, _ = op[:7]
            into = op[7] if kind == "hand" else None
            step = 1 if way == "EAST" else -1
            for pe in range(pes):
                source = (0 if pe else None) if kind == "bus" else (pe - step if 0 <= pe - step < pes else None)
                sends = (pe == 0) if kind == "bus" else 0 <= pe + step < pes
                if sends:
                    words = packed(a[pe, p:p + n])
                    pk[pe, k, :len(words)], cnt[pe, k] = words, len(words) // 2
                if source is not None:
                    words = packed(a[source, p:p + n])
                    apply_pairs(y[pe, o:o + n], words, np.float32(s * np.float32(0.5)) if kind == "hand" else s,
                                False)
                    if into:  # the count into y, with y as recv_fma left it
                        o2, o3, m = into[:3]
                        y[pe, o2:o2 + m] = y[pe, o3:o3 + m] + np.float32(len(words) // 2)
                    else:
                        cnt[pe, k] += 100 * (len(words) // 2)
    return y, pk.reshape(pes, -1), cnt


def sparse_inputs(seed: int, pes: int, ops):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, (pes, 3 * S)).astype(np.float32)
    x[:, S:2 * S][rng.random((pes, S)) < 0.5] = 0.0
    x[:, S:2 * S][rng.random((pes, S)) < 0.1] = -0.0
    special = rng.random((pes, S)) < 0.1  # b's inf and nan facing a's zeros must not reach y
    x[:, 2 * S:][special] = rng.choice(np.array([np.inf, -np.inf, np.nan], np.float32), int(special.sum()))
    pairs = np.zeros((pes, len(ops), 2 * S), np.float32)
    for k, op in enumerate(ops):
        if op[0] == "apply":
            _, _, _, rows, _, cols, n, scalar = op
            row, col = rng.integers(0, rows, n), rng.integers(0, cols, n)
            pairs[:, k, 0:2 * n:2] = rng.uniform(-2, 2, (pes, n)).astype(np.float32)
            pairs[:, k, 1:2 * n:2] = (row if scalar else (row << 16) | col).astype(np.int32).view(np.float32)
    return x, pairs


@FUZZ
@given(case=sparse_programs(), seed=st.integers(0, 2**32 - 1), s=st.sampled_from([1.5, -0.75, 3.0]))
# `ws.send_nonzeros` / `ws.recv_fma` between neighbours (one count into a slice expression) and along a routed row
# bus, which `make test`'s few random draws may miss (docs/compiler.md, "Which fuzzer draws what")
@example(case=(3, [("hand", 0, "EAST", 0, 0, 6, 1, None), ("bus", 1, "EAST", 2, 1, 5, 2),
                   ("hand", 2, "WEST", 3, 2, 4, 0, (0, 5, 3))]), seed=11, s=1.5)
def test_sparse_intrinsics_match_numpy(dev, gen_dir, case, seed, s):
    pes, ops = case
    source = render_sparse(ops)
    module = load(gen_dir, source)
    x, pairs = sparse_inputs(seed, pes, ops)
    host = [x, pairs.reshape(pes, -1), np.zeros((pes, S), np.float32), np.zeros((pes, len(ops) * 2 * S), np.float32),
            np.zeros((pes, len(ops)), np.int32), s]
    if refused(ops):  # the call would run before the negation NumPy computes first: a CompileError, not reordered
        with pytest.raises(ws.CompileError, match="writes an array, after a slice operation"):
            launch_both(dev, module.kern, (1, 1), (pes, 1), host, (2, 3, 4), source)
        return
    (y, pk, cnt), _ = launch_both(dev, module.kern, (1, 1), (pes, 1), host, (2, 3, 4), source)
    want_y, want_pk, want_cnt = sparse_reference(pes, ops, x, pairs, np.float32(s))
    np.testing.assert_array_equal(cnt, want_cnt, err_msg=source)
    np.testing.assert_array_equal(bits(y), bits(want_y), err_msg=source)
    np.testing.assert_array_equal(bits(pk), bits(want_pk), err_msg=source)


# ----------------------------------------------------------------------------- prints, indices, barriers, waves
INT_IDS = ["tx + 10 * ty", "bx * 100 + by", "px - 3 * py", "gw * 1000 + gh", "g1 - n1", "dx * 10 + dy", "gdx * 10 + gdy",
           "o + g1"]
ID_COLUMNS = ["tx + 10 * ty", "bx * 100 + by", "gw * 1000 + gh", "g1 - n1", "dx * 10 + dy", "gdx * 10 + gdy"]
CONDITIONS = ["True", "tx == 0", "(px + py) % 2 == 0", "by == gdy - 1", "ty < dy - 1"]


@st.composite
def print_programs(draw):
    """(block, grid, statements): ("print", label or None, expression, condition), ("sync",), ("shift", way)
    (acc += what the neighbour that way held), ("acc", expression) (acc = acc * 0.5 + expression)."""
    block = draw(st.sampled_from([(4, 4), (8, 2), (3, 3), (2, 5), (5, 2), (1, 8), (2, 1)]))
    slots = (8 // block[0]) * (8 // block[1])
    grid = draw(st.sampled_from([(gx, gy) for gx in range(1, 5) for gy in range(1, 4)
                                 if gx * gy <= max(2 * slots, 4) and gx * gy <= 12]))
    statements = []
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["print", "print", "sync", "shift", "acc"]))
        expression = draw(st.sampled_from(INT_IDS + ["acc", "v * 0.5", "float(tx) - v"]))
        if kind == "print":
            statements.append(("print", draw(st.sampled_from([None, "a", "id"])), expression,
                               draw(st.sampled_from(CONDITIONS))))
        elif kind == "shift":
            statements.append(("shift", draw(st.sampled_from(["EAST", "WEST", "NORTH", "SOUTH"]))))
        elif kind == "acc":
            statements.append(("acc", expression))
        else:
            statements.append(("sync",))
    return block, grid, statements


OPPOSITE = {"EAST": "WEST", "WEST": "EAST", "NORTH": "SOUTH", "SOUTH": "NORTH"}
STEP = {"EAST": (1, 0), "WEST": (-1, 0), "NORTH": (0, -1), "SOUTH": (0, 1)}


def render_prints(statements) -> str:
    body = []
    for statement in statements:
        if statement[0] == "print":
            _, label, expression, condition = statement
            args = f"\"{label}\", {expression}" if label else expression
            body += [f"if {condition}:", f"    ws.print({args})"]
        elif statement[0] == "sync":
            body.append("ws.syncthreads()")
        elif statement[0] == "shift":
            way = statement[1]
            body += [f"if ws.has_neighbor(ws.{way}):", f"    ws.send(ws.{way}, acc)",
                     f"if ws.has_neighbor(ws.{OPPOSITE[way]}):", f"    acc = acc + ws.recv(ws.{OPPOSITE[way]})"]
        else:
            body.append(f"acc = acc * 0.5 + ({statement[1]})")
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, ids, o):
    px, py = ws.grid(2)
    gw, gh = ws.gridsize(2)
    g1, n1 = ws.grid(1), ws.gridsize(1)
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    bx, by = ws.blockIdx.x, ws.blockIdx.y
    dx, dy = ws.blockDim.x, ws.blockDim.y
    gdx, gdy = ws.gridDim.x, ws.gridDim.y
    v = x[py, px]
    acc = 0.0
{indent(body, 1)}
    out[py, px] = acc
    ids[py, px * 8] = tx + 10 * ty
    ids[py, px * 8 + 1] = bx * 100 + by
    ids[py, px * 8 + 2] = gw * 1000 + gh
    ids[py, px * 8 + 3] = g1 - n1
    ids[py, px * 8 + 4] = dx * 10 + dy
    ids[py, px * 8 + 5] = gdx * 10 + gdy
"""


def print_reference(block, grid, statements, x, o):
    """(acc per PE, ids per PE, {(x, y): [(label, value), ...]} in program order)."""
    (dx, dy), (gdx, gdy) = block, grid
    gw, gh = dx * gdx, dy * gdy
    py, px = np.mgrid[0:gh, 0:gw]
    env = dict(px=px, py=py, tx=px % dx, ty=py % dy, bx=px // dx, by=py // dy, dx=dx, dy=dy, gdx=gdx, gdy=gdy,
               gw=gw, gh=gh, g1=px, n1=gw, o=o, v=x, acc=np.zeros((gh, gw), np.float32), np=np, True_=True)
    f32 = {"acc": "acc", "v * 0.5": "v * np.float32(0.5)", "float(tx) - v": "tx.astype(np.float32) - v"}

    def value(expression):
        got = eval(f32.get(expression, expression), {}, env)
        return np.broadcast_to(got if expression in f32 else np.asarray(got, np.int64).astype(np.int32), (gh, gw))

    prints = {(i, j): [] for j in range(gh) for i in range(gw)}
    for statement in statements:
        if statement[0] == "print":
            _, label, expression, condition = statement
            where = np.broadcast_to(eval(condition, {}, env), (gh, gw))
            values = value(expression)
            for j, i in zip(*np.nonzero(where)):
                prints[i, j].append((label or "", values[j, i]))
        elif statement[0] == "shift":
            sx, sy = STEP[statement[1]]
            acc = env["acc"]
            neighbour = np.zeros_like(acc)
            inside = np.zeros(acc.shape, bool)
            # PE (i, j) receives from (i - sx, j - sy) when both are in one block
            src_x, src_y = px - sx, py - sy
            inside = (src_x // dx == px // dx) & (src_y // dy == py // dy) & (src_x >= 0) & (src_y >= 0)
            neighbour[inside] = acc[src_y[inside], src_x[inside]]
            env["acc"] = np.where(inside, acc + neighbour, acc).astype(np.float32)
        elif statement[0] == "acc":
            env["acc"] = (env["acc"] * np.float32(0.5) + value(statement[1]).astype(np.float32)).astype(np.float32)
    ids = np.zeros((gh, gw, 8), np.int32)
    for k, expression in enumerate(ID_COLUMNS):
        ids[:, :, k] = value(expression)
    return env["acc"], ids.reshape(gh, -1), prints


@FUZZ
@given(case=print_programs(), seed=st.integers(0, 2**32 - 1), o=st.integers(-3, 3))
def test_prints_indices_and_barriers_in_waves_match_python(dev, gen_dir, case, seed, o):
    block, grid, statements = case
    source = render_prints(statements)
    module = load(gen_dir, source)
    gw, gh = block[0] * grid[0], block[1] * grid[1]
    x = np.random.default_rng(seed).uniform(-4, 4, (gh, gw)).astype(np.float32)
    host = [x, np.zeros((gh, gw), np.float32), np.zeros((gh, gw * 8), np.int32), o]
    (acc, ids), stats = launch_both(dev, module.kern, grid, block, host, (1, 2), source)
    want_acc, want_ids, want_prints = print_reference(block, grid, statements, x, o)
    np.testing.assert_array_equal(ids, want_ids, err_msg=source)
    np.testing.assert_array_equal(bits(acc), bits(want_acc), err_msg=source)
    records = stats.prints
    # ordered by cycle, then PE (row, then column); each PE's prints in its program order
    assert [(r.cycle, r.y, r.x) for r in records] == sorted((r.cycle, r.y, r.x) for r in records), source
    got = {pe: [] for pe in want_prints}
    for r in records:
        got[r.x, r.y].append((r.text or "", r.value))
    for pe, expected in want_prints.items():
        assert len(got[pe]) == len(expected), (pe, got[pe], expected, source)
        for (text, value), (want_text, want_value) in zip(got[pe], expected):
            assert text == want_text and type(value) is (float if want_value.dtype.kind == "f" else int), \
                (pe, text, value, want_text, want_value, source)
            assert np.asarray(value, want_value.dtype).view(np.int32) == want_value.view(np.int32), \
                (pe, value, want_value, source)
    assert stats.prints_dropped == 0


# ----------------------------------------------------------------------------- scalar ws.fma
F32_MAX = Fraction(float(np.finfo(np.float32).max))


def fma_reference(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    """a * b + c rounded once to float32 (nearest, ties to even), from the exact rational value."""
    if not all(np.isfinite([a, b, c])):
        return np.float32(np.float64(a) * np.float64(b) + np.float64(c))  # inf and nan as IEEE's fma
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    if exact == 0:  # an exact zero: -0.0 only for (-0) + (-0), as IEEE's fma
        negative = (a * b == 0) and np.signbit(np.float32(a) * np.float32(b)) and np.signbit(c)
        return np.float32(-0.0 if negative else 0.0)
    if abs(exact) >= F32_MAX + Fraction(2) ** 103:  # half an ulp past the largest float32 (ties go up to inf)
        return np.float32(np.inf if exact > 0 else -np.inf)
    near = np.float32(np.clip(float(exact), -float(F32_MAX), float(F32_MAX)))
    candidates = [np.nextafter(near, np.float32(-np.inf)), near, np.nextafter(near, np.float32(np.inf))]
    return min(candidates, key=lambda v: (abs(Fraction(float(v)) - exact) if np.isfinite(v) else Fraction(2) ** 200,
                                          int(np.asarray(v).view(np.int32)) & 1))


#: The spellings of a constant inf and nan the compiler takes: math's, and the strings Python's float() reads.
SPECIALS = {"inf": ["math.inf", "float('inf')", "float('Infinity')", "float(' +INF ')", "np.float32('inf')"],
            "-inf": ["-math.inf", "float('-inf')", "float('-infinity')", "-float('InF')", "np.float32('-Inf')"],
            "nan": ["math.nan", "float('nan')", "float('NaN')", "float(' NAN')", "np.float32('nan')"]}


def spell_specials(line: str, rng) -> str:
    """`line` with each constant inf, -inf and nan (Python's repr) spelled one of the ways of SPECIALS."""
    return re.sub(r"-?\binf\b|\bnan\b", lambda m: str(rng.choice(SPECIALS[m.group(0)])), line)


@FUZZ
@given(forms=st.lists(st.sampled_from(["run", "run", "const_c", "const_all", "neg"]), min_size=1, max_size=8),
       seed=st.integers(0, 2**32 - 1))
def test_scalar_fma_rounds_once(dev, gen_dir, forms, seed):
    rng = np.random.default_rng(seed)
    k = len(forms)
    x = (rng.uniform(1, 2, (2, 3 * k)) * 2.0 ** rng.integers(-30, 30, (2, 3 * k))).astype(np.float32)
    x *= rng.choice(np.array([1, -1], np.float32), x.shape)
    for j in range(k):  # c near -(a * b): the rounding of the product decides the result
        if rng.random() < 0.5:
            x[:, 3 * j + 2] = -(x[:, 3 * j] * x[:, 3 * j + 1]) * np.float32(1 + rng.integers(-3, 4) * 2.0 ** -23)
    x[rng.random(x.shape) < 0.04] = rng.choice(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 3e38, 1e-40],
                                                        np.float32))
    lines = []
    for j, form in enumerate(forms):
        a, b, c = (f"x[p, {3 * j + q}]" for q in range(3))
        if form == "const_c":
            c = repr(float(x[0, 3 * j + 2]))
        elif form == "const_all":
            a, b, c = (repr(float(x[0, 3 * j + q])) for q in range(3))
        elif form == "neg":
            a = f"-{a}"
        lines.append(spell_specials(f"out[p, {j}] = ws.fma({a}, {b}, {c})", rng))
    source = f"""import math

import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out):
    p = ws.grid(1)
{indent(lines, 1)}
"""
    module = load(gen_dir, source)
    (got,), _ = launch_both(dev, module.kern, (1, 1), (2, 1), [x, np.zeros((2, k), np.float32)], (1,), source)
    want = np.zeros((2, k), np.float32)
    for p in range(2):
        for j, form in enumerate(forms):
            a, b, c = (x[0 if form == "const_all" else p, 3 * j + q] for q in range(3))
            c = x[0, 3 * j + 2] if form == "const_c" else c
            want[p, j] = fma_reference(-a if form == "neg" else a, b, c)
    np.testing.assert_array_equal(bits(got), bits(want), err_msg=source)


# ----------------------------------------------------------------------------- bitcast receives of 16-bit slices
SENT = {"h": "np.float16", "b": "ml_dtypes.bfloat16", "i": "np.int32", "f": "np.float32"}


@FUZZ
@given(items=st.lists(st.tuples(st.sampled_from("hbif"), st.integers(1, 4), st.integers(0, 1)), min_size=1,
                      max_size=4), seed=st.integers(0, 2**32 - 1))
def test_bitcast_receives_of_16_bit_slices(dev, gen_dir, items, seed):
    """A 16-bit value travels in the low half of its word, the high half zero: received with `bitcast=True` into
    an int32 slice, the word's bits; a float16 word into a bfloat16 slice (or back), the same 16 bits."""
    items = [(sent, n, channel, "i" if sent in "if" else ("b" if sent == "h" else "h") if n % 2 else "i")
             for sent, n, channel in items]
    sends = [f"ws.send(ws.EAST, s{sent}[{k}, 0:{n}], channel={channel})" for k, (sent, n, channel, _) in enumerate(items)]
    recvs = [f"ws.recv(ws.WEST, out=r{got}[{k}, 0:{n}], channel={channel}, bitcast=True)"
             for k, (_, n, channel, got) in enumerate(items)]
    count = len(items)
    source = f"""import ml_dtypes
import numpy as np
import wafersim as ws


@ws.jit
def kern(xh, xb, xi, xf, oi, oh, ob):
    p = ws.grid(1)
    sh = ws.local.array(({count}, 4), np.float16)
    sb = ws.local.array(({count}, 4), ml_dtypes.bfloat16)
    si = ws.local.array(({count}, 4), np.int32)
    sf = ws.local.array(({count}, 4), np.float32)
    ri = ws.local.array(({count}, 4), np.int32)
    rh = ws.local.array(({count}, 4), np.float16)
    rb = ws.local.array(({count}, 4), ml_dtypes.bfloat16)
    for q in range({count}):
        sh[q, 0:4] = xh[p, q * 4:(q + 1) * 4]
        sb[q, 0:4] = xb[p, q * 4:(q + 1) * 4]
        si[q, 0:4] = xi[p, q * 4:(q + 1) * 4]
        sf[q, 0:4] = xf[p, q * 4:(q + 1) * 4]
        ri[q, 0:4] = 0
        rh[q, 0:4] = 0.0
        rb[q, 0:4] = 0.0
    if ws.has_neighbor(ws.EAST):
{indent(sends, 2)}
    if ws.has_neighbor(ws.WEST):
{indent(recvs, 2)}
    for q in range({count}):
        oi[p, q * 4:(q + 1) * 4] = ri[q, 0:4]
        oh[p, q * 4:(q + 1) * 4] = rh[q, 0:4]
        ob[p, q * 4:(q + 1) * 4] = rb[q, 0:4]
"""
    module = load(gen_dir, source)
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**16, (3, 4 * count)).astype(np.uint16)
    host = {"h": words.view(np.float16), "b": (words ^ 0x5555).view(ml_dtypes.bfloat16),
            "i": rng.integers(-(2**31), 2**31, (3, 4 * count), dtype=np.int64).astype(np.int32),
            "f": rng.uniform(-9, 9, (3, 4 * count)).astype(np.float32)}
    outs = [np.zeros((3, 4 * count), np.int32), np.zeros((3, 4 * count), np.float16),
            np.zeros((3, 4 * count), ml_dtypes.bfloat16)]
    (oi, oh, ob), _ = launch_both(dev, module.kern, (1, 1), (3, 1), [host[t] for t in "hbif"] + outs, (4, 5, 6),
                                  source)
    want = {"i": np.zeros((3, count, 4), np.int32), "h": np.zeros((3, count, 4), np.uint16),
            "b": np.zeros((3, count, 4), np.uint16)}
    for p in (1, 2):
        for k, (sent, n, _, got) in enumerate(items):
            raw = host[sent][p - 1].reshape(count, 4)[k, :n]
            word = raw.view(np.uint16).astype(np.int32) if sent in "hb" else raw.view(np.int32)
            want[got][p, k, :n] = word if got == "i" else word.astype(np.uint16)
    np.testing.assert_array_equal(oi.reshape(3, count, 4), want["i"], err_msg=source)
    np.testing.assert_array_equal(oh.view(np.uint16).reshape(3, count, 4), want["h"], err_msg=source)
    np.testing.assert_array_equal(ob.view(np.uint16).reshape(3, count, 4), want["b"], err_msg=source)
