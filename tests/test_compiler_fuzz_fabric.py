"""Differential fuzzing of the `@ws.jit` compiler, fifth part: the fabric and machine constructs the other fuzzers
(tests/test_compiler_fuzz*.py) do not reach, each checked against an independent NumPy / plain-Python reference
written from docs/routes.md, docs/sparsity.md, docs/api.md and docs/python-supported.md:

- routed channels: `ws.send(ws.RAMP, ...)` / `ws.recv(ws.RAMP, ...)` of int32 and float32 scalars and slices over
  the named patterns (`ws.use_route`: row, column and block buses, chains in the four directions), launch routes
  (`routes=[ws.routes.row_broadcast(...)]`), routes set in the kernel with `ws.route` (constant ports, tuples for
  multicast) and `ws.route_mask` (masks computed at run time), several phases on separate channels, blocks of a
  grid of several; a routed word received as the other type: `WordTypeError` naming both PEs and lines;
- int32 words sent east and west on two channels and received without dtype= inside arithmetic, into a
  loop-carried int32 (read as int32 because every send toward them sends one);
- background transfers (`ws.send_async` / `ws.recv_async`, `ws.send_wait` / `ws.recv_wait`) east and west on
  two channels, several in flight, with slice arithmetic between the post and the wait on the other buffers and
  on parts of the transferring arrays the transfers do not touch;
- the sparse intrinsics, prints and indices in grids of waves, scalar `ws.fma` and bitcast receives of 16-bit
  slices: tests/test_compiler_fuzz_fabric_ops.py (with this file's helpers).

Every kernel runs under the default strategy and `Strategy(compiled=False)`: results, cycles and prints must be
identical. WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import contextlib
import os
import re

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compiler_fuzz import FUZZ as BASE_FUZZ

import wafersim as ws
from conftest import load_source
from wafersim.sim.strategy import Strategy, forced

FUZZ = settings(BASE_FUZZ, max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", "3")))
ALTERNATE = Strategy(compiled=False)
SAVE = os.environ.get("WS_FUZZ_SAVE")  # a folder: every generated kernel is also written there


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=8, height=8, channels=8))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_fabric")


def load(gen_dir, source: str):
    module = load_source(gen_dir, source)
    if SAVE:
        os.makedirs(SAVE, exist_ok=True)
        with open(os.path.join(SAVE, f"{module.__name__}.py"), "w") as handle:
            handle.write(source)
    return module


def bits(a: np.ndarray) -> np.ndarray:
    """An array's words as integers (a nan's payload and a zero's sign compared too)."""
    a = np.asarray(a)
    return a.view(np.int16 if a.dtype.itemsize == 2 else np.int32) if a.dtype.kind == "f" or a.dtype == \
        ml_dtypes.bfloat16 else a


def launch_both(dev, kernel, grid, block, host_args, outputs, source: str, **options):
    """Launch under the default strategy and under `ALTERNATE`; the outputs (indices into `host_args`), cycles
    and print records must agree. Returns (outputs, stats) of the default run."""
    runs = []
    for strategy in (None, ALTERNATE):
        args = [dev.to_device(a) if isinstance(a, np.ndarray) else a for a in host_args]
        with forced(strategy) if strategy else contextlib.nullcontext():
            stats = kernel[grid, block](*args, print_output=False, **options)
        runs.append(([args[i].copy_to_host() for i in outputs], stats))
    (outs, stats), (alt_outs, alt_stats) = runs
    for got, alt in zip(outs, alt_outs):
        np.testing.assert_array_equal(bits(got), bits(alt), err_msg=f"strategies differ\n{source}")
    assert stats.cycles == alt_stats.cycles, (stats.cycles, alt_stats.cycles, source)
    assert stats.prints == alt_stats.prints, source
    return outs, stats


def raise_both(dev, kernel, grid, block, host_args, error, source: str, **options):
    """The error each strategy raises (both must raise `error`)."""
    errors = []
    for strategy in (None, ALTERNATE):
        args = [dev.to_device(a) if isinstance(a, np.ndarray) else a for a in host_args]
        with forced(strategy) if strategy else contextlib.nullcontext(), pytest.raises(error) as caught:
            kernel[grid, block](*args, print_output=False, **options)
        errors.append(caught.value)
    return errors


def indent(lines, depth: int) -> str:
    return "\n".join("    " * depth + line for line in lines)


# ----------------------------------------------------------------------------- routed channels
N = 6  # words per PE and per result slot
AXES = {"row": ("tx", "EAST", "WEST", 0), "col": ("ty", "SOUTH", "NORTH", 1)}
CHAINS = {"chain_east": (-1, 0), "chain_west": (1, 0), "chain_south": (0, -1), "chain_north": (0, 1)}
CHAIN_SEND = {"chain_east": ("EAST", "WEST"), "chain_west": ("WEST", "EAST"), "chain_south": ("SOUTH", "NORTH"),
              "chain_north": ("NORTH", "SOUTH")}


@st.composite
def routed_programs(draw, bad: bool = False):
    """(block, blocks along x, o, phases): each phase (kind, channel, root, items), an item (type "i"/"f", length or
    0 for a scalar, source offset, destination offset, receive form, slot). With `bad`, one item of one phase is
    received as the other type."""
    w, h = draw(st.sampled_from([(4, 3), (3, 2), (2, 4), (5, 1), (1, 4), (2, 2)]))
    gx = draw(st.integers(1, max(1, 8 // (2 * w))))
    o = draw(st.integers(0, 1))
    kinds = ["block_bus", "launch_block"] + (["row_bus", "route_row", "mask_row", "launch_row", "chain_east", "chain_west"]
                             if w > 1 else []) + (["column_bus", "route_col", "mask_col", "launch_col",
                                                  "chain_south", "chain_north"] if h > 1 else [])
    channels = draw(st.permutations(range(8)))
    phases, slot = [], 0
    for k in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(kinds))
        size = w if kind.endswith("row") or kind == "row_bus" else h
        root = (draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))) if kind in ("block_bus", "launch_block") else \
            draw(st.integers(0, size - 1))
        items = []
        for _ in range(draw(st.integers(1, 2))):
            length = draw(st.sampled_from([0, 0, 1, 3, N]))
            src = draw(st.integers(0, N - max(length, 1)))
            dst = draw(st.integers(0, N - max(length, 1)))
            form = draw(st.sampled_from(["dtype", "annot", "elem"])) if not length else "out"
            items.append([draw(st.sampled_from("if")), length, src, dst, form, slot, False])
            slot += 1
        phases.append((kind, channels[k], root, items))
    if bad:
        phase = draw(st.integers(0, len(phases) - 1))
        item = draw(st.integers(0, len(phases[phase][3]) - 1))
        phases[phase][3][item][6] = True
        phases[phase][3][item][4] = "dtype" if phases[phase][3][item][4] != "out" else "out"
    return (w, h), gx, o, phases


def root_text(root: int, o: int) -> str:
    return str(root) if root < o or root % 2 else f"o + {root - o}"


def route_setup(kind: str, channel: int, root: int, o: int, size: int, k: int) -> list[str]:
    """`ws.route` or `ws.route_mask` lines making channel a broadcast from `root` along the row or column."""
    var, ahead, back, _ = AXES[kind[-3:]]
    r, last = root_text(root, o), size - 1
    if kind.startswith("route"):
        out = tuple(f"ws.{d}" for d, ok in ((ahead, root < last), (back, root > 0)) if ok)
        return [f"if {var} == {r}:", f"    ws.route({channel}, ws.RAMP, ({', '.join(out)},))",
                f"elif {var} > {r}:", f"    if {var} == {last}:", f"        ws.route({channel}, ws.{back}, ws.RAMP)",
                "    else:", f"        ws.route({channel}, ws.{back}, (ws.RAMP, ws.{ahead}))",
                "else:", f"    if {var} == 0:", f"        ws.route({channel}, ws.{ahead}, ws.RAMP)",
                "    else:", f"        ws.route({channel}, ws.{ahead}, (ws.RAMP, ws.{back}))", "ws.syncthreads()"]
    return [f"rxm{k} = 1 << ws.RAMP if {var} == {r} else (1 << ws.{back} if {var} > {r} else 1 << ws.{ahead})",
            f"txm{k} = 32", f"if {var} >= {r} and {var} < {last}:", f"    txm{k} = txm{k} | (1 << ws.{ahead})",
            f"if {var} <= {r} and {var} > 0:", f"    txm{k} = txm{k} | (1 << ws.{back})",
            f"if {var} != {r}:", f"    txm{k} = txm{k} | (1 << ws.RAMP)", f"ws.route_mask({channel}, rxm{k}, txm{k})",
            "ws.syncthreads()"]


def render_routed(block, gx: int, o: int, phases) -> tuple[str, list]:
    """(source, launch routes)."""
    w, h = block
    slots = sum(len(items) for *_, items in phases)
    body, uses, routes = [], [], []
    for k, (kind, channel, root, items) in enumerate(phases):
        if kind in ("row_bus", "column_bus", "block_bus") or kind in CHAINS:
            uses.append(f"ws.use_route({channel}, \"{kind}\")")
        elif kind == "launch_block":
            routes.append(ws.routes.broadcast(channel, root=root))
        elif kind.startswith("launch"):
            builder = "row_broadcast" if kind.endswith("row") else "column_broadcast"
            routes.append(getattr(ws.routes, builder)(channel, root=root))
        else:
            body += route_setup(kind, channel, root, o, w if kind.endswith("row") else h, k)
        sends, recvs, keeps = [], [], []
        for typ, length, src, dst, form, slot, wrong in items:
            got = {"i": "f", "f": "i"}[typ] if wrong else typ
            at = f"channel={channel}"
            value = f"l{typ}[{src}:{src + length}]" if length else f"l{typ}[{src}]"
            sends.append(f"ws.send(ws.RAMP, {value}, {at})  # SEND{slot}")
            target = f"r{got}[{slot}, {dst}:{dst + length}]" if length else f"r{got}[{slot}, {dst}]"
            keeps.append(f"r{typ}[{slot}, {dst}:{dst + length}] = {value}" if length
                         else f"r{typ}[{slot}, {dst}] = {value}")
            dtype = "np.int32" if got == "i" else "np.float32"
            recvs.append({"out": f"ws.recv(ws.RAMP, {at}, out={target})",
                          "dtype": f"{target} = ws.recv(ws.RAMP, {at}, dtype={dtype})",
                          "elem": f"{target} = ws.recv(ws.RAMP, {at})",
                          "annot": f"v{slot}: {'int' if got == 'i' else 'float'} = ws.recv(ws.RAMP, {at}); "
                                   f"{target} = v{slot}"}[form] + f"  # RECV{slot}")
        if kind in CHAINS:
            ahead, back = CHAIN_SEND[kind]
            body += [f"if ws.has_neighbor(ws.{ahead}):"] + [f"    {s}" for s in sends]
            body += [f"if ws.has_neighbor(ws.{back}):"] + [f"    {r}" for r in recvs]
            continue
        if kind in ("block_bus", "launch_block"):
            cond = f"tx == {root_text(root[0], o)} and ty == {root_text(root[1], o)}"
        else:
            cond = f"{AXES[kind[-3:]][0] if kind[-3:] in AXES else ('tx' if kind == 'row_bus' else 'ty')} == " \
                   f"{root_text(root, o)}"
        body += [f"if {cond}:"] + [f"    {s}" for s in sends + keeps] + ["else:"] + [f"    {r}" for r in recvs]
    source = f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(xf, xi, of, oi, o):
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    px, py = ws.grid(2)
    lf = ws.local.array({N}, np.float32)
    li = ws.local.array({N}, np.int32)
    rf = ws.local.array(({slots}, {N}), np.float32)
    ri = ws.local.array(({slots}, {N}), np.int32)
    lf[0:{N}] = xf[py, px * {N}:(px + 1) * {N}]
    li[0:{N}] = xi[py, px * {N}:(px + 1) * {N}]
    for q in range({slots}):
        rf[q, 0:{N}] = 0.0
        ri[q, 0:{N}] = 0
{indent(uses, 1)}
{indent(body, 1)}
    for q in range({slots}):
        of[py, (px * {slots} + q) * {N}:(px * {slots} + q + 1) * {N}] = rf[q, 0:{N}]
        oi[py, (px * {slots} + q) * {N}:(px * {slots} + q + 1) * {N}] = ri[q, 0:{N}]
"""
    return source, routes


def routed_source_pe(kind: str, root, x: int, y: int, w: int, h: int):
    """The PE (in block coordinates) whose words PE (x, y) keeps for a phase, or None."""
    if kind in CHAINS:
        dx, dy = CHAINS[kind]
        sx, sy = x + dx, y + dy
        return (sx, sy) if 0 <= sx < w and 0 <= sy < h else None
    if kind in ("block_bus", "launch_block"):
        return root
    return (root, y) if kind == "row_bus" or kind.endswith("row") else (x, root)


def routed_reference(block, gx: int, phases, xf, xi):
    w, h = block
    slots = sum(len(items) for *_, items in phases)
    rf, ri = np.zeros((h, gx * w, slots, N), np.float32), np.zeros((h, gx * w, slots, N), np.int32)
    for kind, _, root, items in phases:
        for bx in range(gx):
            for y in range(h):
                for x in range(w):
                    source = routed_source_pe(kind, root, x, y, w, h)
                    if source is None:
                        continue
                    sx, sy = source[0] + bx * w, source[1]
                    for typ, length, src, dst, *_ in items:
                        data, out = (xi, ri) if typ == "i" else (xf, rf)
                        out[y, bx * w + x, _[1], dst:dst + max(length, 1)] = \
                            data[sy, sx * N + src:sx * N + src + max(length, 1)]
    return rf.reshape(h, -1), ri.reshape(h, -1)


def routed_inputs(seed: int, h: int, width: int):
    rng = np.random.default_rng(seed)
    xf = rng.uniform(-8, 8, (h, width * N)).astype(np.float32)
    xf[rng.random(xf.shape) < 0.1] = -0.0
    return xf, rng.integers(-(2**31), 2**31, (h, width * N), dtype=np.int64).astype(np.int32)


def routed_case(gen_dir, case, seed):
    """A drawn routed program's (source, launch routes, module, block, word slots per PE, float and int inputs)."""
    block, gx, o, phases = case
    source, routes = render_routed(block, gx, o, phases)
    slots = sum(len(items) for *_, items in phases)
    return (source, routes, load(gen_dir, source), block, slots) + routed_inputs(seed, block[1], gx * block[0])


@FUZZ
@given(case=routed_programs(), seed=st.integers(0, 2**32 - 1))
def test_routed_kernels_match_numpy(dev, gen_dir, case, seed):
    block, gx, o, phases = case
    source, routes, module, (w, h), slots, xf, xi = routed_case(gen_dir, case, seed)
    of, oi = np.zeros((h, gx * w * slots * N), np.float32), np.zeros((h, gx * w * slots * N), np.int32)
    (got_f, got_i), _ = launch_both(dev, module.kern, (gx, 1), block, [xf, xi, of, oi, o], (2, 3), source,
                                    routes=routes)
    want_f, want_i = routed_reference(block, gx, phases, xf, xi)
    np.testing.assert_array_equal(got_i, want_i, err_msg=source)
    np.testing.assert_array_equal(bits(got_f), bits(want_f), err_msg=source)


@FUZZ
@given(case=routed_programs(bad=True), seed=st.integers(0, 2**32 - 1))
def test_mistyped_routed_receives_raise_word_type_error(dev, gen_dir, case, seed):
    block, gx, o, phases = case
    source, routes, module, (w, h), slots, xf, xi = routed_case(gen_dir, case, seed)
    args = [xf, xi, np.zeros((h, gx * w * slots * N), np.float32), np.zeros((h, gx * w * slots * N), np.int32), o]
    (kind, phases_channel, root, items), = [p for p in phases if any(item[6] for item in p[3])]
    typ, *_, slot, _ = next(item for item in items if item[6])
    lines = source.splitlines()
    recv_line = next(n for n, line in enumerate(lines, 1) if line.endswith(f"# RECV{slot}"))
    same = {item[5] for _, channel, _, its in phases for item in its if item[0] == typ and channel == phases_channel}
    send_lines = sorted(n for n, line in enumerate(lines, 1)
                        if (m := re.search(r"# SEND(\d+)$", line)) and int(m.group(1)) in same)
    for err in raise_both(dev, module.kern, (gx, 1), block, args, ws.WordTypeError, source, routes=routes):
        pe = tuple(err.pe)
        sx, sy = routed_source_pe(kind, root, pe[0] % w, pe[1], w, h)
        assert tuple(err.sender) == (sx + pe[0] // w * w, sy), (err.sender, pe, source)
        assert tuple(err.sender) != pe, source
        names = {"i": "int32", "f": "float32"}
        assert (str(err.sent_type), str(err.received_type)) == (names[typ], names["f" if typ == "i" else "i"]), source
        # a word says its type, not its send: every send of that type and channel is named (docs/api.md)
        assert err.source[1] == recv_line and sorted(line for _, line in err.sender_sources) == send_lines, (
            err.source, err.sender_sources, source)
        assert (err.sender_source is None) == (len(send_lines) > 1), (err.sender_source, source)


# ----------------------------------------------------------------------------- background transfers
B = 12  # words of each of a (sent from), b (received into), c (computed on)
WAYS = {"EAST": "WEST", "WEST": "EAST"}


@st.composite
def background_programs(draw):
    """Statements of a program over a row of PEs: ("post", way, channel, src, dst, length) posts a send of
    a[src:src+L] `way` and a receive of L words from the other side into b[dst:dst+L], ("wait", k) waits for the
    k-th transfer, ("calc", target, t0, source, s0, length, scale) is `target[t0:t0+L] = target[...] * scale +
    source[s0:s0+L]` on words no transfer in flight receives into (nor, for a, sends from)."""
    pending, statements, posted = {}, [], 0
    used = {(way, ch): 0 for way in WAYS for ch in (0, 1)}
    for _ in range(draw(st.integers(2, 9))):
        kind = draw(st.sampled_from(["post", "post", "wait", "calc", "calc"]))
        if kind == "post" and posted < 5:
            way, channel = draw(st.sampled_from(sorted(WAYS))), draw(st.integers(0, 1))
            length = draw(st.integers(1, 6))
            if used[way, channel] + length > 16:  # within one FIFO's depth: no ordering deadlock (docs/timing.md)
                continue
            busy_a = {i for p in pending.values() if p[0] == "a" for i in p[1]}
            busy_b = {i for p in pending.values() for i in p[2]}
            src, dst = draw(st.integers(0, B - length)), draw(st.integers(0, B - length))
            if busy_b & set(range(dst, dst + length)):
                continue
            used[way, channel] += length
            statements.append(("post", way, channel, src, dst, length))
            pending[posted] = ("a", set(range(src, src + length)), set(range(dst, dst + length)))
            posted += 1
        elif kind == "wait" and pending:
            k = draw(st.sampled_from(sorted(pending)))
            statements.append(("wait", k))
            del pending[k]
        elif kind == "calc":
            length = draw(st.integers(1, B))
            target, source = draw(st.sampled_from("abc")), draw(st.sampled_from("abc"))
            t0, s0 = draw(st.integers(0, B - length)), draw(st.integers(0, B - length))
            written, read = set(range(t0, t0 + length)), set(range(s0, s0 + length))
            busy_a = {i for p in pending.values() for i in p[1]}
            busy_b = {i for p in pending.values() for i in p[2]}
            if (target == "a" and written & busy_a) or (target == "b" and written & busy_b) or \
                    (source == "b" and read & busy_b) or (target == "b" and read & busy_b):
                continue
            statements.append(("calc", target, t0, source, s0, length, draw(st.sampled_from([0.5, -2.0, 1.5]))))
    statements += [("wait", k) for k in sorted(pending)]
    return draw(st.integers(2, 5)), statements


def render_background(statements) -> str:
    body, posts = [], {}
    for statement in statements:
        if statement[0] == "post":
            _, way, channel, src, dst, length = statement
            posts[len(posts)] = (way, channel)
            body += [f"if ws.has_neighbor(ws.{way}):",
                     f"    ws.send_async(ws.{way}, a[{src}:{src + length}], channel={channel})",
                     f"if ws.has_neighbor(ws.{WAYS[way]}):",
                     f"    ws.recv_async(ws.{WAYS[way]}, out=b[{dst}:{dst + length}], channel={channel})"]
        elif statement[0] == "wait":
            way, channel = posts[statement[1]]
            body += [f"if ws.has_neighbor(ws.{way}):", f"    ws.send_wait(ws.{way}, channel={channel})",
                     f"if ws.has_neighbor(ws.{WAYS[way]}):", f"    ws.recv_wait(ws.{WAYS[way]}, channel={channel})"]
        else:
            _, target, t0, source, s0, length, scale = statement
            body.append(f"{target}[{t0}:{t0 + length}] = {target}[{t0}:{t0 + length}] * {scale} + "
                        f"{source}[{s0}:{s0 + length}]")
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out):
    p = ws.grid(1)
    a = ws.local.array({B}, np.float32)
    b = ws.local.array({B}, np.float32)
    c = ws.local.array({B}, np.float32)
    a[0:{B}] = x[p, 0:{B}]
    b[0:{B}] = x[p, {B}:{2 * B}]
    c[0:{B}] = x[p, {2 * B}:{3 * B}]
{indent(body, 1)}
    out[p, 0:{B}] = a[0:{B}]
    out[p, {B}:{2 * B}] = b[0:{B}]
    out[p, {2 * B}:{3 * B}] = c[0:{B}]
"""


def background_reference(pes: int, statements, x):
    """Every PE at once, in program order: a send's words are a's at the post (a is not changed before the
    wait), a receive takes the next words its neighbour sent on that way and channel."""
    arrays = {name: x[:, k * B:(k + 1) * B].copy() for k, name in enumerate("abc")}
    for statement in statements:
        if statement[0] == "post":
            _, way, _, src, dst, length = statement
            sent = arrays["a"][:, src:src + length].copy()
            if way == "EAST":
                arrays["b"][1:, dst:dst + length] = sent[:-1]
            else:
                arrays["b"][:-1, dst:dst + length] = sent[1:]
        elif statement[0] == "calc":
            _, target, t0, source, s0, length, scale = statement
            arrays[target][:, t0:t0 + length] = arrays[target][:, t0:t0 + length] * np.float32(scale) + \
                arrays[source][:, s0:s0 + length]
    return np.concatenate([arrays[name] for name in "abc"], axis=1)


@FUZZ
@given(case=background_programs(), seed=st.integers(0, 2**32 - 1))
def test_background_transfers_match_numpy(dev, gen_dir, case, seed):
    pes, statements = case
    source = render_background(statements)
    module = load(gen_dir, source)
    x = np.random.default_rng(seed).uniform(-4, 4, (pes, 3 * B)).astype(np.float32)
    (got,), _ = launch_both(dev, module.kern, (1, 1), (pes, 1), [x, np.zeros_like(x)], (1,), source)
    np.testing.assert_array_equal(bits(got), bits(background_reference(pes, statements, x)), err_msg=source)


# ----------------------------------------------------------------------------- int32 words typed by their sends
SENT_VALUES = ("v", "v * 2", "v + k", "-v")
#: How a receive meets `best` (its type from the sends alone, python-supported.md "Words on the fabric" rule 2).
RECV_FORMS = {"min": "min(best, {r})", "max": "max({r}, best)", "add": "best + {r} * 2", "sub": "best - min({r}, 0)"}
WAYS_BACK = {"EAST": "WEST", "WEST": "EAST"}


@st.composite
def neighbour_exchanges(draw):
    """(PEs in a row, steps, sends, receives): each step every PE sends its int32 `v` (or a value of it) to
    neighbours, east and west, on channels 0 and 1, then takes the words with `ws.recv` without dtype=, inside
    arithmetic that does not type it, into a loop-carried int32: a send (way, channel, value), a receive
    (way, channel, form), one per send, in a drawn order."""
    sends = draw(st.lists(st.tuples(st.sampled_from(["EAST", "WEST"]), st.integers(0, 1),
                                    st.sampled_from(SENT_VALUES)), min_size=1, max_size=4))
    order = draw(st.permutations(range(len(sends))))
    receives = [(WAYS_BACK[sends[k][0]], sends[k][1], draw(st.sampled_from(sorted(RECV_FORMS)))) for k in order]
    return draw(st.integers(2, 5)), draw(st.integers(1, 3)), sends, receives


def render_exchange(sends, receives) -> str:
    body = []
    for way, channel, value in sends:
        body += [f"if ws.has_neighbor(ws.{way}):", f"    ws.send(ws.{way}, {value}, channel={channel})"]
    body.append("best = v")
    for way, channel, form in receives:
        received = RECV_FORMS[form].format(r=f"ws.recv(ws.{way}, channel={channel})")
        body += [f"if ws.has_neighbor(ws.{way}):", f"    best = {received}"]
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(src, wall, out, steps):
    x = ws.grid(1)
    v = src[x]
    for k in range(steps):
{indent(body, 2)}
        v = best + wall[k, x]
    out[x] = v
"""


def exchange_reference(pes, steps, sends, receives, src, wall):
    """Plain Python, int32 wrapping: each PE's words from each way and channel, in the order they were sent."""
    def wrap(n: int) -> int:
        return (n + 2**31) % 2**32 - 2**31

    v = [int(a) for a in src]
    for k in range(steps):
        queues = {}  # (receiving PE, way it receives from, channel) -> words
        for x in range(pes):
            for way, channel, value in sends:
                to = x + (1 if way == "EAST" else -1)
                if 0 <= to < pes:
                    word = wrap(eval(value, {}, {"v": v[x], "k": k}))
                    queues.setdefault((to, WAYS_BACK[way], channel), []).append(word)
        new = []
        for x in range(pes):
            best = v[x]
            for way, channel, form in receives:
                if 0 <= x + (1 if way == "EAST" else -1) < pes:
                    r = queues[(x, way, channel)].pop(0)
                    best = wrap({"min": lambda: min(best, r), "max": lambda: max(r, best),
                                 "add": lambda: best + r * 2, "sub": lambda: best - min(r, 0)}[form]())
            new.append(wrap(best + int(wall[k, x])))
        v = new
    return np.array(v, np.int32)


@FUZZ
@given(case=neighbour_exchanges(), seed=st.integers(0, 2**32 - 1))
def test_words_received_without_dtype_are_read_as_the_int32_every_send_sends(dev, gen_dir, case, seed):
    """A value updated each step and sent both east and west, received from both sides without dtype=: it was
    refused ("cannot assign a float32 value to an int32 variable") where one direction compiled."""
    pes, steps, sends, receives = case
    source = render_exchange(sends, receives)
    module = load(gen_dir, source)
    rng = np.random.default_rng(seed)
    src = rng.integers(-1000, 1000, pes).astype(np.int32)
    src[rng.random(pes) < 0.2] = rng.choice(np.array([2**31 - 1, -2**31, 2**30], np.int32))
    wall = rng.integers(-50, 50, (steps, pes)).astype(np.int32)
    (got,), _ = launch_both(dev, module.kern, (1, 1), (pes, 1), [src, wall, np.zeros(pes, np.int32), steps], (2,),
                            source)
    np.testing.assert_array_equal(got, exchange_reference(pes, steps, sends, receives, src, wall), err_msg=source)
