"""Differential fuzzing of the `@ws.jit` compiler, seventh part (the fifth's helpers, tests/test_compiler_fuzz_fabric.py):
the routed-channel forms that file does not draw, each checked against an independent NumPy / plain-Python reference
written from docs/routes.md and docs/python-supported.md ("16-bit floats"):

- `ws.routes.custom(channel, rules)`: random trees over a block (a root sends, every PE of the tree forwards what
  comes from its parent to its children, keeps a copy or not; a leaf that keeps nothing drops the words: `()`),
  rules keyed by a port or a tuple of ports, outputs a port, a tuple or `()`; PEs outside the tree have no rule;
- several senders on one bus taking turns (`row_bus`, `column_bus`, `block_bus` declared with `ws.use_route`,
  given at launch, or written as a `custom(..., merge=True)` route): turns separated by `ws.syncthreads()` or by
  the receive pattern alone (every PE but the sender receives each turn, in order: a sender sends only after it
  has received the words of the turns before, tests/test_routes.py's BUS_TURNS);
- 16-bit words on those channels: float16 and bfloat16 slices (`ws.send(ws.RAMP, h[a:b])`, `ws.recv(..., out=h[..])`,
  one word per value) and 16-bit elements sent as scalars (a float32 word, exact) and stored back into a 16-bit
  element (rounded to 16 bits: exact again), next to int32 and float32 words.

Every kernel runs under the default strategy and `Strategy(compiled=False)` (results and cycles identical).
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from test_compiler_fuzz_fabric import FUZZ, bits, dev, gen_dir, indent, launch_both, load  # noqa: F401

import wafersim as ws

N = 5  # words per PE and per result slot
TYPES = {"i": np.int32, "f": np.float32, "h": np.float16, "b": ml_dtypes.bfloat16}
DTYPE_TEXT = {"i": "np.int32", "f": "np.float32", "h": "np.float16", "b": "ml_dtypes.bfloat16"}
STEP = {ws.NORTH: (0, -1), ws.EAST: (1, 0), ws.SOUTH: (0, 1), ws.WEST: (-1, 0)}
DEPTHS = [16, 2, 1]  # FIFO depths drawn: the module's device (16), and back-pressure on every slice send
_SHALLOW: dict[int, ws.Device] = {}


def device(dev, depth: int) -> ws.Device:
    """The module's device, or one whose FIFOs hold `depth` words (made once per depth)."""
    if depth == dev.spec.fifo_depth:
        return dev
    if depth not in _SHALLOW:
        _SHALLOW[depth] = ws.Device(ws.WaferSpec(width=8, height=8, channels=8, fifo_depth=depth))
    return _SHALLOW[depth]


@st.composite
def items(draw, count: int):
    """Words of one send: [type, length (0: a scalar), source offset, destination offset, receive form]."""
    out = []
    for _ in range(draw(st.integers(1, count))):
        typ = draw(st.sampled_from("iifhb"))
        length = draw(st.sampled_from([0, 0, 1, 2, N]))
        src, dst = draw(st.integers(0, N - max(length, 1))), draw(st.integers(0, N - max(length, 1)))
        forms = ["out"] if length else (["dtype", "elem", "annot"] if typ in "if" else ["elem", "dtype"])
        out.append([typ, length, src, dst, draw(st.sampled_from(forms))])
    return out


def render_item(typ: str, length: int, src: int, dst: int, form: str, slot: int, channel: int):
    """(send line, line keeping the sender's own words in its slot, receive line)."""
    at = f"channel={channel}"
    value = f"l{typ}[{src}:{src + length}]" if length else f"l{typ}[{src}]"
    target = f"r{typ}[{slot}, {dst}:{dst + length}]" if length else f"r{typ}[{slot}, {dst}]"
    scalar = "np.int32" if typ == "i" else "np.float32"  # scalars are never 16-bit (a 16-bit element: float32)
    recv = {"out": f"ws.recv(ws.RAMP, {at}, out={target})",
            "dtype": f"{target} = ws.recv(ws.RAMP, {at}, dtype={scalar})",
            "elem": f"{target} = ws.recv(ws.RAMP, {at})",
            "annot": f"v{slot}: {'int' if typ == 'i' else 'float'} = ws.recv(ws.RAMP, {at}); {target} = v{slot}"}
    return f"ws.send(ws.RAMP, {value}, {at})", f"{target} = {value}", recv[form]


def kernel_source(slots: int, extra_args: str, body: list[str]) -> str:
    loads = [f"l{t}[0:{N}] = x{t}[py, px * {N}:(px + 1) * {N}]" for t in TYPES]
    zeros = [f"r{t}[q, 0:{N}] = {'0' if t == 'i' else '0.0'}" for t in TYPES]
    stores = [f"o{t}[py, (px * {slots} + q) * {N}:(px * {slots} + q + 1) * {N}] = r{t}[q, 0:{N}]" for t in TYPES]
    arrays = [f"l{t} = ws.local.array({N}, {DTYPE_TEXT[t]})" for t in TYPES] + \
             [f"r{t} = ws.local.array(({slots}, {N}), {DTYPE_TEXT[t]})" for t in TYPES]
    return f"""import ml_dtypes
import numpy as np
import wafersim as ws


@ws.jit
def kern(xi, xf, xh, xb, oi, of, oh, ob{extra_args}):
    tx, ty = ws.threadIdx.x, ws.threadIdx.y
    px, py = ws.grid(2)
{indent(arrays + loads, 1)}
    for q in range({slots}):
{indent(zeros, 2)}
{indent(body, 1)}
    for q in range({slots}):
{indent(stores, 2)}
"""


def inputs(seed: int, h: int, width: int) -> list[np.ndarray]:
    """xi, xf, xh, xb: random words, -0.0 and infinities among the floats (no nan: its payload is not the point)."""
    rng = np.random.default_rng(seed)
    out = [rng.integers(-(2**31), 2**31, (h, width * N), dtype=np.int64).astype(np.int32)]
    for typ, scale in (("f", 1e4), ("h", 6e4), ("b", 1e30)):
        x = (rng.uniform(-1, 1, (h, width * N)) * scale ** rng.uniform(0, 1, (h, width * N))).astype(TYPES[typ])
        x[rng.random(x.shape) < 0.1] = -0.0
        x[rng.random(x.shape) < 0.05] = np.inf
        out.append(x)
    return out


def run_case(dev, gen_dir, source, block, gx, slots, seed, reference, extra=(), **options):
    """Launch `source` on (gx, 1) blocks under both strategies, compare with `reference(x) -> {type: (h, w, slots,
    N) words}` (what each PE's slots hold)."""
    w, h = block
    module = load(gen_dir, source)
    xs = inputs(seed, h, gx * w)
    outs = [np.zeros((h, gx * w * slots * N), TYPES[t]) for t in TYPES]
    got, _ = launch_both(dev, module.kern, (gx, 1), block, xs + outs + list(extra), (4, 5, 6, 7), source, **options)
    want = reference(dict(zip(TYPES, xs)))
    for typ, array in zip(TYPES, got):
        np.testing.assert_array_equal(bits(array), bits(want[typ].reshape(h, -1)), err_msg=f"{typ}\n{source}")


def empty_slots(h: int, width: int, slots: int) -> dict[str, np.ndarray]:
    return {t: np.zeros((h, width, slots, N), TYPES[t]) for t in TYPES}


def copy_words(want, x, item, slot: int, to: tuple[int, int], source: tuple[int, int]) -> None:
    """PE `to` (global x, y) holds in `slot` the words PE `source` sent (a scalar: one value, exact both ways)."""
    typ, length, src, dst, _ = item
    n = max(length, 1)
    (x0, y0), (sx, sy) = to, source
    want[typ][y0, x0, slot, dst:dst + n] = x[typ][sy, sx * N + src:sx * N + src + n]


# ----------------------------------------------------------------------------- custom routes: trees
@st.composite
def tree_programs(draw):
    """(block, blocks along x, trees): each tree (channel, root, {pe: parent}, {pe: keeps}, key forms, items)."""
    w, h = draw(st.sampled_from([(4, 3), (3, 3), (2, 4), (5, 1), (1, 4), (2, 2), (4, 2), (8, 3), (6, 6)]))
    gx = draw(st.integers(1, max(1, 8 // (2 * w))))
    channels = draw(st.permutations(range(8)))
    trees = []
    for k in range(draw(st.integers(1, 3))):
        root = (draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1)))
        parent, grow = {root: None}, draw(st.integers(0, w * h - 1))
        for _ in range(grow):  # a random PE next to the tree joins it, its parent a random tree neighbour
            frontier = sorted({(x + dx, y + dy) for x, y in parent for dx, dy in STEP.values()
                               if 0 <= x + dx < w and 0 <= y + dy < h} - set(parent))
            if not frontier:
                break
            pe = draw(st.sampled_from(frontier))
            parent[pe] = draw(st.sampled_from(sorted(q for q in parent if abs(q[0] - pe[0]) + abs(q[1] - pe[1]) == 1)))
        keeps = {pe: pe != root and draw(st.booleans()) for pe in sorted(parent)}
        forms = {pe: (draw(st.booleans()), draw(st.booleans())) for pe in sorted(parent)}  # tuple key?, tuple out?
        trees.append((channels[k], root, parent, keeps, forms, draw(items(2))))
    return (w, h), gx, trees


def tree_rules(root, parent, keeps, forms):
    """`rules(x, y, w, h)` for `ws.routes.custom`, as docs/routes.md describes them: {input port(s): output port(s)}."""
    table = {}
    for pe, up in parent.items():
        children = [d for d, (dx, dy) in STEP.items() if parent.get((pe[0] + dx, pe[1] + dy), ()) == pe]
        outs = children + ([ws.RAMP] if keeps[pe] else [])
        if up is None:
            rx = ws.RAMP
        else:
            rx = next(d for d, (dx, dy) in STEP.items() if (pe[0] + dx, pe[1] + dy) == up)
        tuple_key, tuple_out = forms[pe]
        tx = tuple(outs) if tuple_out or len(outs) != 1 else outs[0]
        table[pe] = {(rx,) if tuple_key else rx: tx}
    return lambda x, y, w, h: table.get((x, y), {})


def render_trees(block, trees) -> str:
    w, h = block
    body, slot = [], 0
    for k, (channel, root, parent, keeps, forms, its) in enumerate(trees):
        lines = [render_item(*item, slot + j, channel) for j, item in enumerate(its)]
        slot += len(its)
        body += [f"if tx == {root[0]} and ty == {root[1]}:"] + [f"    {s}" for s, _, _ in lines] + \
                [f"    {keep}" for _, keep, _ in lines] + \
                [f"elif kp[{k}, ty * {w} + tx] != 0:"] + [f"    {r}" for _, _, r in lines]
    return kernel_source(slot, ", kp", body)


@FUZZ
@given(case=tree_programs(), seed=st.integers(0, 2**32 - 1), depth=st.sampled_from(DEPTHS))
def test_custom_tree_routes_match_numpy(dev, gen_dir, case, seed, depth):
    (w, h), gx, trees = case
    slots = sum(len(t[5]) for t in trees)
    routes = [ws.routes.custom(channel, tree_rules(root, parent, keeps, forms))
              for channel, root, parent, keeps, forms, _ in trees]
    kp = np.zeros((len(trees), w * h), np.int32)
    for k, (*_, keeps, _, _) in enumerate(trees):
        for (x, y), keep in keeps.items():
            kp[k, y * w + x] = keep

    def reference(x):
        want, slot = empty_slots(h, gx * w, slots), 0
        for channel, root, parent, keeps, forms, its in trees:
            for j, item in enumerate(its):
                for bx in range(gx):
                    for (px, py) in parent:
                        if keeps[px, py] or (px, py) == root:  # the root keeps its own words in its slot
                            copy_words(want, x, item, slot + j, (bx * w + px, py), (bx * w + root[0], root[1]))
            slot += len(its)
        return want

    run_case(device(dev, depth), gen_dir, render_trees((w, h), trees), (w, h), gx, slots, seed, reference, extra=(kp,),
             routes=routes)


# ----------------------------------------------------------------------------- buses: senders taking turns
BUSES = ["use_row_bus", "use_column_bus", "use_block_bus", "launch_row_bus", "launch_column_bus", "launch_block_bus",
         "custom_row_bus", "custom_column_bus"]


def line_bus_rules(ahead: int, behind: int):
    """A bus along rows (ahead = east) or columns (ahead = south) written from the docs: any PE's words reach
    every other PE of its line; words from one side go on to the other side and are kept."""
    def rules(x, y, w, h):
        at, size = (x, w) if ahead == ws.EAST else (y, h)
        out_ahead, out_behind = ((ahead,) if at < size - 1 else ()), ((behind,) if at > 0 else ())
        table = {ws.RAMP: out_ahead + out_behind}
        if at > 0:
            table[behind] = out_ahead + (ws.RAMP,)
        if at < size - 1:
            table[ahead] = out_behind + (ws.RAMP,)
        return table
    return rules


@st.composite
def turn_programs(draw):
    """(block, blocks along x, bus, channel, turns): each turn (sender (x, y) in the block, separation "sync" or
    "recv", items)."""
    w, h = draw(st.sampled_from([(4, 3), (3, 2), (2, 4), (5, 1), (1, 4), (2, 2), (3, 3), (8, 4), (5, 6)]))
    gx = draw(st.integers(1, max(1, 8 // (2 * w))))
    bus = draw(st.sampled_from([b for b in BUSES if not ("row" in b and w == 1 or "column" in b and h == 1)]))
    turns = [((draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))), draw(st.sampled_from(["sync", "recv"])),
              draw(items(2))) for _ in range(draw(st.integers(2, 5)))]
    return (w, h), gx, bus, draw(st.integers(0, 7)), turns


def bus_sender(bus: str, sender, pe):
    """The PE (block coordinates) whose words `pe` hears in a turn of `sender` (None: its own turn)."""
    if "row" in bus:
        source = (sender[0], pe[1])
    elif "column" in bus:
        source = (pe[0], sender[1])
    else:
        source = sender
    return None if source == pe else source


def render_turns(bus: str, channel: int, turns) -> str:
    body, slot = [], 0
    if bus.startswith("use_"):
        body.append(f"ws.use_route({channel}, \"{bus[4:]}\")")
    for (sx, sy), separation, its in turns:
        lines = [render_item(*item, slot + j, channel) for j, item in enumerate(its)]
        slot += len(its)
        cond = f"tx == {sx}" if "row" in bus else (f"ty == {sy}" if "column" in bus else f"tx == {sx} and ty == {sy}")
        body += [f"if {cond}:"] + [f"    {s}" for s, _, _ in lines] + [f"    {keep}" for _, keep, _ in lines] + \
                ["else:"] + [f"    {r}" for _, _, r in lines]
        if separation == "sync":
            body.append("ws.syncthreads()")
    return kernel_source(slot, "", body)


def bus_route(bus: str, channel: int):
    if bus.startswith("launch_"):
        return [getattr(ws.routes, bus[7:])(channel)]
    if bus == "custom_row_bus":
        return [ws.routes.custom(channel, line_bus_rules(ws.EAST, ws.WEST), merge=True)]
    if bus == "custom_column_bus":
        return [ws.routes.custom(channel, line_bus_rules(ws.SOUTH, ws.NORTH), merge=True)]
    return []


@FUZZ
@given(case=turn_programs(), seed=st.integers(0, 2**32 - 1), depth=st.sampled_from(DEPTHS))
def test_bus_senders_taking_turns_match_numpy(dev, gen_dir, case, seed, depth):
    (w, h), gx, bus, channel, turns = case
    slots = sum(len(its) for *_, its in turns)

    def reference(x):
        want, slot = empty_slots(h, gx * w, slots), 0
        for sender, _, its in turns:
            for j, item in enumerate(its):
                for bx in range(gx):
                    for py in range(h):
                        for px in range(w):
                            source = bus_sender(bus, sender, (px, py)) or (px, py)  # a sender keeps its own
                            copy_words(want, x, item, slot + j, (bx * w + px, py), (bx * w + source[0], source[1]))
            slot += len(its)
        return want

    run_case(device(dev, depth), gen_dir, render_turns(bus, channel, turns), (w, h), gx, slots, seed, reference,
             routes=bus_route(bus, channel))
