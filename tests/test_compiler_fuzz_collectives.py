"""Differential fuzzing of the `@ws.jit` compiler: the collectives library (`wafersim.collectives`, device functions
over routed channels) called inside branches and loops, which no other fuzzer draws (tests/test_collectives*.py call
each once, straight-line).

Random kernels over one block of 1 x 1 to 4 x 3 PEs, each PE holding int32 values of its own (`v0`, `v1`, `acc`),
and values every PE of the block holds alike (`u0`, `u1`, a loop counter, the kernel argument `n`), call
`row_all_reduce`, `column_all_reduce`, `block_all_reduce` (chains, and `algorithm=wsc.TREE`), `row_broadcast`,
`column_broadcast` and `block_broadcast` (roots known only at run time too) of per-PE expressions, with SUM, MAX
and MIN:

- in `for k in range(n)` loops (n known only at run time, 0 to 3 trips), nested, with `break` and `continue` under
  conditions every PE of the block takes alike;
- in both branches of an `if`/`else` and of a conditional expression on such a condition (a collective's result
  among them);
- in a `while` loop whose condition is a collective (`while wsc.block_all_reduce(w, wsc.MAX) > t`);
- in an unrolled loop over the operators (`for op in (wsc.SUM, wsc.MAX, wsc.MIN)`), and in a device function
  called in a loop.

The reference runs the same body text in Python with every per-PE variable a NumPy array over the block (`x`, `y`
the PE's coordinates), the collectives replaced by their NumPy meaning (an all-reduce along an axis, a broadcast of
the root's element) and a condition taken as the one value all PEs share (`_U`, which asserts that they share it).
Every PE's values must equal it. WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wafersim as ws
from conftest import compiler_fuzz_settings, load_source
from wafersim import collectives as wsc

MODULUS = 10007  # (per-PE values are kept small: sums of a block stay far from the int32 limits)
OPS = ["wsc.SUM", "wsc.MAX", "wsc.MIN"]
#: Each collective's channel (each kind its own: an all-reduce of rows uses 0 and 1, of a block 4 to 6, a tree
#: of 2 rounds 10 to 14).
CALLS = {
    "row": "wsc.row_all_reduce({e}, {op}, channel=0)",
    "column": "wsc.column_all_reduce({e}, {op}, channel=2)",
    "block": "wsc.block_all_reduce({e}, {op}, channel=4)",
    "tree": "wsc.block_all_reduce({e}, {op}, channel=10, algorithm=wsc.TREE, rounds=2)",
    "row_bcast": "wsc.row_broadcast({e}, {rx}, channel=7)",
    "column_bcast": "wsc.column_broadcast({e}, {ry}, channel=8)",
    "block_bcast": "wsc.block_broadcast({e}, {rx}, {ry}, channel=9)",
}
#: A device function that calls a collective (called in loops; plain Python in the reference).
HELPER = """
def spread(value, k):
    return wsc.row_all_reduce(value + k, wsc.MAX, channel=0) - wsc.column_all_reduce(value * k, wsc.MIN, channel=2)
"""

FUZZ = compiler_fuzz_settings(6)


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec.preset("dev", width=8, height=8, channels=24))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_collectives")


class CollectiveGen:
    """Draws the body. Per-PE int32 variables v0, v1, acc; block-uniform u0, u1 and loop counters k0, k1, ..."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.counters: list[str] = []
        self.loops = 0

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def uniform(self) -> str:
        """A value every PE of the block holds alike."""
        return self.choice(["u0", "u1", "n", "2", "-1"] + self.counters)

    def per_pe(self, depth: int) -> str:
        kind = self.choice(["leaf", "leaf", "uniform"] + ["arith", "arith", "collective"] * (depth > 0))
        if kind == "leaf":
            return self.choice(["v0", "v1", "acc", "x", "y", "x * 3 - y"])
        if kind == "uniform":
            return self.uniform()
        if kind == "arith":
            return f"({self.per_pe(depth - 1)} {self.choice(['+', '-', '*'])} {self.per_pe(depth - 1)}) % {MODULUS}"
        return self.collective(depth - 1)

    def collective(self, depth: int) -> str:
        kind = self.choice(list(CALLS))
        # broadcast roots: a constant, or a run-time value every PE shares, kept inside the block
        rx, ry = (self.choice(["0", f"{self.uniform()} % ws.blockDim.{axis}"]) for axis in "xy")
        return CALLS[kind].format(e=self.per_pe(depth), op=self.choice(OPS), rx=rx, ry=ry)

    def cond(self) -> str:
        """A condition every PE of the block takes alike."""
        left = self.choice([self.uniform(), f"wsc.block_all_reduce({self.per_pe(0)}, {self.choice(OPS)}, channel=4)"])
        return f"_U({left} {self.choice(['<', '>=', '==', '!='])} {self.draw(st.integers(-3, 30))})"

    def block(self, indent: int, nest: int, in_loop: bool) -> list[str]:
        lines: list[str] = []
        for _ in range(self.draw(st.integers(1, 3))):
            lines += self.statement(indent, nest, in_loop)
        return lines

    def statement(self, indent: int, nest: int, in_loop: bool) -> list[str]:
        pad = "    " * indent
        kinds = ["assign", "assign", "uniform", "ternary", "unrolled", "helper"]
        if nest < 2:
            kinds += ["for", "if", "while"]
        if in_loop:
            kinds += ["jump"]
        kind = self.choice(kinds)
        if kind == "assign":
            target = self.choice(["v0", "v1", "acc"])
            return [f"{pad}{target} = ({target} * 3 + {self.collective(self.draw(st.integers(0, 1)))}) % {MODULUS}"]
        if kind == "uniform":  # a block-wide result kept in a uniform variable
            call = CALLS[self.choice(["block", "tree", "block_bcast"])]
            value = call.format(e=self.per_pe(1), op=self.choice(OPS), rx="0", ry="0")
            return [f"{pad}{self.choice(['u0', 'u1'])} = ({value}) % 97"]
        if kind == "ternary":
            target = self.choice(["v0", "v1", "acc"])
            return [f"{pad}{target} = ({self.collective(0)} if {self.cond()} else {self.collective(0)}) % {MODULUS}"]
        if kind == "unrolled":
            op = f"op{self.loops}"  # (a name of its own: one bound before a run-time loop cannot be rebound in it)
            self.loops += 1
            call = self.choice(["wsc.row_all_reduce({}, {}, channel=0)", "wsc.block_all_reduce({}, {}, channel=4)"])
            return [f"{pad}for {op} in ({', '.join(OPS)}):",
                    f"{pad}    acc = (acc * 5 + {call.format(self.per_pe(1), op)}) % {MODULUS}"]
        if kind == "helper":
            return [f"{pad}v1 = spread(v1 % 50, {self.uniform()} % 5) % {MODULUS}"]
        if kind == "jump":
            return [f"{pad}if {self.cond()}:", f"{pad}    {self.choice(['break', 'continue'])}"]
        if kind == "for":
            counter = f"k{self.loops}"
            self.loops += 1
            self.counters.append(counter)
            lines = [f"{pad}for {counter} in range(n):", *self.block(indent + 1, nest + 1, True)]
            self.counters.remove(counter)
            return lines
        if kind == "if":
            lines = [f"{pad}if {self.cond()}:", *self.block(indent + 1, nest + 1, in_loop)]
            if self.draw(st.booleans()):
                lines += [f"{pad}else:", *self.block(indent + 1, nest + 1, in_loop)]
            return lines
        # a while loop whose condition is a collective: at most 3 trips, counted in a uniform variable
        count = f"c{self.loops}"
        self.loops += 1
        return [f"{pad}{count} = 0",
                f"{pad}while _U(wsc.block_all_reduce(v0, wsc.MAX, channel=4) > {self.draw(st.integers(-5, 20))}) "
                f"and {count} < 3:",
                f"{pad}    v0 = v0 - (x + 1)", f"{pad}    {count} += 1",
                *self.block(indent + 1, nest + 1, True), f"{pad}u1 = {count}"]


@st.composite
def programs(draw):
    gen = CollectiveGen(draw)
    body: list[str] = []
    for _ in range(draw(st.integers(2, 4))):
        body += gen.statement(0, 0, False)
    return draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 3)), body


# ----------------------------------------------------------------------------- reference
def _uniform(value) -> int:
    """A condition every PE takes alike, as a Python bool (the reference computes it over the whole block)."""
    values = np.asarray(value)
    assert np.all(values == values.flat[0]), f"a condition the PEs do not share: {values}"
    return bool(values.flat[0])


_REDUCE = {wsc.SUM: np.sum, wsc.MAX: np.max, wsc.MIN: np.min}


def reference_collectives(shape: tuple[int, int]) -> types.SimpleNamespace:
    """`wsc` in the reference: each collective's NumPy meaning on (rows, columns) arrays of the block."""
    def whole(value):
        return np.broadcast_to(np.asarray(value, np.int64), shape)

    def along(axis):
        return lambda value, op, channel=0, **_: np.broadcast_to(_REDUCE[op](whole(value), axis=axis, keepdims=True),
                                                                 shape)

    def pick(value, rx, ry):
        return np.broadcast_to(whole(value)[_index(ry), _index(rx)], shape)

    return types.SimpleNamespace(
        SUM=wsc.SUM, MAX=wsc.MAX, MIN=wsc.MIN, TREE=wsc.TREE, row_all_reduce=along(1), column_all_reduce=along(0),
        block_all_reduce=along(None),
        row_broadcast=lambda value, root, channel=0: np.broadcast_to(whole(value)[:, [_index(root)]], shape),
        column_broadcast=lambda value, root, channel=0: np.broadcast_to(whole(value)[[_index(root)], :], shape),
        block_broadcast=lambda value, rx, ry, channel=0: pick(value, rx, ry))


def _index(root) -> int:
    """A root every PE passes alike (a run-time value the generator keeps uniform)."""
    values = np.asarray(root)
    assert np.all(values == values.flat[0]), f"a root the PEs do not share: {values}"
    return int(values.flat[0])


def render(body: list[str]) -> str:
    kernel = ["@ws.jit", "def kern(values, out, n):", "    x, y = ws.threadIdx.x, ws.threadIdx.y",
              "    i = y * ws.blockDim.x + x", "    v0 = values[i, 0]", "    v1 = values[i, 1]", "    acc = 0",
              "    u0 = 0", "    u1 = 0", *[f"    {line.replace('_U(', '(')}" for line in body],
              *[f"    out[i, {k}] = {name}" for k, name in enumerate(("v0", "v1", "acc", "u0", "u1"))]]
    return "\n".join(["import numpy as np", "import wafersim as ws", "from wafersim import collectives as wsc", "",
                      "@ws.jit" + HELPER, "", *kernel, ""])


def reference(body: list[str], bx: int, by: int, n: int, values: np.ndarray) -> np.ndarray:
    shape = (by, bx)
    y, x = np.indices(shape)
    names = {"wsc": reference_collectives(shape), "np": np, "_U": _uniform,
             "ws": types.SimpleNamespace(blockDim=types.SimpleNamespace(x=bx, y=by))}
    exec(HELPER, names)
    text = "\n".join(["def ref(x, y, n, v0, v1):", "    acc = u0 = u1 = 0", *[f"    {line}" for line in body],
                      "    return v0, v1, acc, u0, u1"])
    exec(text, names)
    grid = values.reshape(by, bx, 2).astype(np.int64)
    results = names["ref"](x, y, n, grid[:, :, 0], grid[:, :, 1])
    return np.stack([np.broadcast_to(r, shape) for r in results], axis=-1).reshape(bx * by, 5)


@FUZZ
@given(program=programs(), seed=st.integers(0, 2**32 - 1))
def test_collectives_in_branches_and_loops_match_numpy(dev, gen_dir, program, seed):
    bx, by, n, body = program
    values = np.random.default_rng(seed).integers(-20, 21, (bx * by, 2)).astype(np.int32)
    want = reference(body, bx, by, n, values)
    module = load_source(gen_dir, render(body))
    out = dev.device_array((bx * by, 5), np.int32)
    module.kern[1, (bx, by)](dev.to_device(values), out, n, max_cycles=2e6)
    got = out.copy_to_host()
    assert np.array_equal(got, want), (f"kernel differs from NumPy (block {bx} x {by}, n = {n})\n{render(body)}\n"
                                       f"values {values.tolist()}\nwant {want.tolist()}\ngot  {got.tolist()}")
