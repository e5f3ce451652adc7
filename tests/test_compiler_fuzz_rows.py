"""Differential fuzzing of the `@ws.jit` compiler, fourth part: what tests/test_compiler_fuzz.py,
tests/test_compiler_fuzz_mixed.py and tests/test_compiler_fuzz_arrays.py do not reach, each checked against an
independent NumPy reference written from docs/python-supported.md:

- strided copies (`vcopys`) between local arrays where one side is a column of a 2-D array (`g[r0:r1, j]`,
  also with a row step, `g[0:6:2, j]`) or a 1-D slice with a step, and the other side a row of a 2-D array
  (`h[i, a:b]`), a row of a 3-D array (`t[i, j, a:b]`), a 1-D slice, another column or another strided slice;
  indices and bounds constant, counted from the end, computed from parameters or a loop variable, lengths
  known only at run time; source and destination often in one array (the source is read as a whole before
  any element is written: NumPy's `dst = src.copy()`); a run-time length other than the destination's or an
  index off the array must stop the kernel with `MemoryAccessError`;
- `ws.recv(d, dtype=..., bitcast=True)` and `ws.recv(d, out=..., bitcast=True)` of int32 and float32 words
  sent as either type (nan and infinity bit patterns, subnormals, -0.0 among them): NumPy's `.view`;
- a receive typed other than what was sent (by `dtype=`, an annotation, an int32 variable, an element or a
  slice of an array of the other dtype, the float32 default; float16 slices into float32 ones) without
  `bitcast`: `WordTypeError` naming the receiving and the sending PE, both lines and both types, never a
  converted value;
- `ws.outer_add(c, x, y)` into a 2-D array, a block of its whole rows, a 1-D slice or a row slice: NumPy's
  `c + np.multiply.outer(x, y)` in float32 (the product rounded, then the sum) or int32 (wrapping), every
  operand read before any element is written (`x` a row of `c`);
- `<<` and `>>` by a run-time count, `range` with a run-time step, `min`/`max` of a run-time slice: a negative
  count, a zero step, an empty slice stop the kernel with `KernelValueError`.

Refused on purpose (and so not drawn; checked to be CompileErrors below): a row
slice with a step of a 2-D or 3-D array (`t[i, 0:8:2]`), a column of a 3-D array (`t[0:2, j, k]`).
WAFERSIM_FUZZ_EXAMPLES / WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_compiler_fuzz_arrays import FUZZ, dev, draw_statements, gen_dir  # noqa: F401  (module fixtures, reused)

import wafersim as ws
from conftest import load_source

# ----------------------------------------------------------------------------- strided row and column copies
N = 8  # a, b: (N,); g: (GR, N); h: (HR, N); t: (2, 3, N)
GR, HR = 6, 4
UR, UC = 4, 12  # u: a global 2-D array
SHAPES = {"a": (N,), "b": (N,), "g": (GR, N), "h": (HR, N), "t": (2, 3, N)}


class CopyGen:
    """One strided copy per statement. Index and bound texts are drawn with their run-time values known
    (the parameters `o`, `p`, `m` are drawn first; a loop variable `k` takes 0..loop-1), so every text is
    in range unless `bad` is drawn on purpose; `error` records that the kernel must stop."""

    def __init__(self, draw, o: int, p: int, m: int) -> None:
        self.draw, self.o, self.p, self.m = draw, o, p, m
        self.loop = 0
        self.error = False

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def index(self, size: int) -> str:
        """An index into an axis of `size`: constant, counted from the end, from `o`/`p`, or from `k`; one
        time in 30 off the end (known only at run time: the kernel must stop)."""
        if self.draw(st.integers(0, 29)) == 0:
            self.error = True
            return f"o + {size - self.o + self.draw(st.integers(0, 2))}"
        forms = ["const", "neg", "param"] + (["loop"] if self.loop and self.loop <= size else [])
        form = self.choice(forms)
        if form == "loop":
            return f"k + {self.draw(st.integers(0, size - self.loop))}"
        value = self.draw(st.integers(0, size - 1))
        if form == "neg":
            return str(value - size)
        if form == "param":
            name, known = self.choice([("o", self.o), ("p", self.p), ("2 * p", 2 * self.p)])
            shift = value - known
            return f"{name} {'+' if shift >= 0 else '-'} {abs(shift)}"
        return str(value)

    def bounds(self, count: int, step: int, size: int, stepped: bool) -> tuple[str, int]:
        """(`a:b` or `a:b:step` over an axis of `size` holding `count` elements, the count it holds at run
        time); `stepped`: a step may be written (`:1` too)."""
        low, high = ((count - 1) * step + 1, count * step) if count else (0, 0)
        span = self.draw(st.integers(low, min(high, size)))
        start = self.draw(st.integers(0, size - span))
        tail = f":{step}" if step > 1 or (stepped and self.draw(st.integers(0, 4)) == 0) else ""
        forms = ["const", "const", "param"] + (["loop"] if self.loop and start + span + self.loop - 1 <= size else [])
        if start + self.m <= size and (self.m == span or self.draw(st.integers(0, 7)) == 0):
            forms.append("length")
        form = self.choice(forms)
        if form == "param" and start >= self.o:
            return f"o + {start - self.o}:o + {start - self.o + span}{tail}", count
        if form == "loop":
            return f"k + {start}:k + {start + span}{tail}", count
        if form == "length":
            return f"{start}:{start} + m{tail}", -(-self.m // step)
        return f"{start}:{start + span}{tail}", count

    def side(self, count: int, strided: bool, name: str | None = None, local: bool = True) -> tuple[str, int]:
        """(text, run-time count) of a copy's side of `count` elements: strided (a column of g or h, or a
        1-D slice with a step) or not (a row of g, h or t, or a 1-D slice)."""
        if strided:
            name = name if name in ("a", "b", "g", "h") else self.choice(["a", "b", "g", "h"])
            if name in ("a", "b"):
                step = self.draw(st.integers(2, 3))
                while step > 1 and (count - 1) * step + 1 > N:
                    step -= 1
                if step == 1:  # no room for a step: a column instead
                    return self.side(count, True, "g")
                text, got = self.bounds(count, step, N, True)
                return f"{name}[{text}]", got
            if count > SHAPES[name][0]:
                name = "g"
            rows = SHAPES[name][0]
            step = self.draw(st.integers(1, 3))
            while step > 1 and (count - 1) * step + 1 > rows:
                step -= 1
            text, got = self.bounds(count, step, rows, True)
            return f"{name}[{text}, {self.index(N)}]", got
        name = name if name in SHAPES else self.choice(sorted(SHAPES))
        rows = "".join(f"{self.index(size)}, " for size in SHAPES[name][:-1])
        # (`a[0:4:1]` is a strided slice: between local arrays only)
        text, got = self.bounds(count, 1, N, local and len(SHAPES[name]) == 1)
        return f"{name}[{rows}{text}]", got

    def statement(self) -> tuple[list[str], list[str]]:
        self.loop = self.draw(st.integers(1, 3)) if self.draw(st.integers(0, 2)) == 0 else 0
        count = self.draw(st.integers(0, 6))
        shape = self.choice(["col-row", "row-col", "col-col", "stride-row", "row-stride", "stride-col", "global",
                             "block"])
        if shape == "block":  # rows of the global 2-D array u to a block of g or h, one bulk copy per row
            rows, cols = self.draw(st.integers(1, HR)), self.draw(st.integers(0, N))
            r0, c0 = self.draw(st.integers(0, HR - rows)), self.draw(st.integers(0, N - cols))
            y, x = self.draw(st.integers(0, UR - rows)), self.draw(st.integers(0, UC - cols))
            y_text = self.choice([str(y), f"o + {y - self.o}" if y >= self.o else str(y)])
            dst, src = f"{self.choice('gh')}[{r0}:{r0 + rows}, {c0}:{c0 + cols}]", \
                f"u[{y_text}:{y_text} + {rows}, {x}:{x + cols}]"
            dst_count = src_count = 0
        elif shape == "global":  # a row of the global 2-D array u to or from a local row or slice
            text, src_count = self.bounds(count, 1, UC, False)
            src = f"u[{self.index(UR)}, {text}]"
            dst, dst_count = self.side(count, False, local=False)
            if self.draw(st.booleans()):
                dst, src, dst_count, src_count = src, dst, src_count, dst_count
        else:
            dst, dst_count = self.side(count, shape.startswith(("col", "stride")))
            # the source from the destination's array half of the time (overlapping rows and columns)
            same = dst.split("[")[0] if self.draw(st.booleans()) else None
            src, src_count = self.side(count, shape.endswith(("col", "stride")), same)
        self.error |= dst_count != src_count  # a run-time length other than the destination's
        kernel, numpy = f"{dst} = {src}", f"{dst} = {src}.copy()"
        if self.loop:
            header = f"for k in range({self.loop}):"
            return [header, "    " + kernel], [header, "    " + numpy]
        return [kernel], [numpy]


@st.composite
def copy_cases(draw):
    o, p, m = draw(st.integers(0, 3)), draw(st.integers(0, 2)), draw(st.integers(0, 6))
    gen = CopyGen(draw, o, p, m)
    kernel, numpy = draw_statements(draw, gen)
    return draw(st.sampled_from(["np.float32", "np.int32"])), o, p, m, kernel, numpy, gen.error


def render_copies(dtype: str, kernel: list[str], numpy: list[str]) -> str:
    rows = [f"a[0:{N}]", f"b[0:{N}]"] + [f"g[{r}, 0:{N}]" for r in range(GR)] + [f"h[{r}, 0:{N}]" for r in range(HR)]
    rows += [f"t[{i}, {j}, 0:{N}]" for i in range(2) for j in range(3)]
    loads = "\n".join(f"    {row} = x[{k * N}:{(k + 1) * N}]" for k, row in enumerate(rows))
    stores = "\n".join(f"    out[{k * N}:{(k + 1) * N}] = {row}" for k, row in enumerate(rows))
    body = "\n".join(f"    {line}" for line in kernel)
    ref_body = "\n".join(f"    {line}" for line in numpy)
    arrays = "\n".join(f"    {name} = ws.local.array({shape if len(shape) > 1 else shape[0]}, {dtype})"
                       for name, shape in SHAPES.items())
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(x, u, out, o, p, m):
{arrays}
{loads}
{body}
{stores}


def ref(x, u, o, p, m):
    a, b = x[0:{N}].copy(), x[{N}:{2 * N}].copy()
    g = x[{2 * N}:{(2 + GR) * N}].reshape({GR}, {N}).copy()
    h = x[{(2 + GR) * N}:{(2 + GR + HR) * N}].reshape({HR}, {N}).copy()
    t = x[{(2 + GR + HR) * N}:].reshape(2, 3, {N}).copy()
{ref_body}
    return np.concatenate([a, b, g.ravel(), h.ravel(), t.ravel()])
"""


@FUZZ
@given(case=copy_cases(), seed=st.integers(0, 2**32 - 1))
def test_row_and_column_copies_match_numpy(dev, gen_dir, case, seed):
    dtype, o, p, m, kernel, numpy, error = case
    module = load_source(gen_dir, render_copies(dtype, kernel, numpy))
    size = (2 + GR + HR + 6) * N
    rng = np.random.default_rng(seed)
    x = (rng.uniform(-4, 4, size).astype(np.float32) if dtype == "np.float32"
         else rng.integers(-(2**31), 2**31, size, dtype=np.int64).astype(np.int32))
    u = (x[:UR * UC] * 3).reshape(UR, UC)
    out, d_u = dev.device_array(size, x.dtype), dev.to_device(u)
    message = "\n".join(kernel) + f"\n{dtype} o={o} p={p} m={m}"
    if error:
        with pytest.raises(ws.MemoryAccessError):
            module.kern[(1, 1), (1, 1)](dev.to_device(x), d_u, out, o, p, m)
        return
    want_u = u.copy()
    with np.errstate(over="ignore"):
        want = module.ref(x, want_u, o, p, m)
    module.kern[(1, 1), (1, 1)](dev.to_device(x), d_u, out, o, p, m)
    np.testing.assert_array_equal(out.copy_to_host(), want, err_msg=message)
    np.testing.assert_array_equal(d_u.copy_to_host(), want_u, err_msg=message)


# ----------------------------------------------------------------------------- bitcast receives
PES, WIDTH = 4, 4
#: Bit patterns drawn among random words: nan (quiet, signalling, with payloads, negative), infinities,
#: subnormals, zeros of both signs, the int32 limits.
SPECIAL_BITS = np.array([0x7FC00000, 0x7F800001, 0x7FA00000, -0x400000, 0x7F800000, -0x800000, 1, 0x7FFFFF,
                         -0x80000000, 0, 0x7FFFFFFF, -1, 0x3FC00000], np.int64).astype(np.int32)
DIRECTIONS = {"EAST": ((PES, 1), (1, 0), "WEST"), "SOUTH": ((1, PES), (0, 1), "NORTH")}


def fabric_words(rng, shape) -> np.ndarray:
    """int32 words: random bits, a third of them special float32 patterns."""
    words = rng.integers(-(2**31), 2**31, shape, dtype=np.int64).astype(np.int32)
    special = rng.random(shape) < 0.35
    words[special] = rng.choice(SPECIAL_BITS, int(special.sum()))
    return words


def exchange_kernel(count: int, direction: str, source_side: str, sends: list[str], recvs: list[str],
                    half: bool = False) -> str:
    """A kernel whose PEs load `count` rows of int32 and float32 words (and float16 copies, `half`), send
    with `sends` if they have a neighbour in `direction`, receive with `recvs` from `source_side`, and store
    the rows received (`half`: with an int accumulator `acc`, stored over oi[p, 0])."""
    send_lines = "\n".join(f"        {line}" for line in sends)
    recv_lines = "\n".join(f"        {line}" for line in recvs)
    half_array = f"\n    lh = ws.local.array(({count}, {WIDTH}), np.float16)" if half else ""
    half_copy = f"\n        lh[q, 0:{WIDTH}] = lf[q, 0:{WIDTH}]" if half else ""
    acc, store_acc = ("\n    acc = 0", "\n    oi[p, 0] = acc") if half else ("", "")
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(xi, xf, oi, of):
    px, py = ws.grid(2)
    p = px + py
    li = ws.local.array(({count}, {WIDTH}), np.int32)
    lf = ws.local.array(({count}, {WIDTH}), np.float32){half_array}
    ri = ws.local.array(({count}, {WIDTH}), np.int32)
    rf = ws.local.array(({count}, {WIDTH}), np.float32){acc}
    for q in range({count}):
        li[q, 0:{WIDTH}] = xi[p, q * {WIDTH}:(q + 1) * {WIDTH}]
        lf[q, 0:{WIDTH}] = xf[p, q * {WIDTH}:(q + 1) * {WIDTH}]{half_copy}
        ri[q, 0:{WIDTH}] = 0
        rf[q, 0:{WIDTH}] = 0.0
    if ws.has_neighbor(ws.{direction}):
{send_lines}
    if ws.has_neighbor(ws.{source_side}):
{recv_lines}
    for q in range({count}):
        oi[p, q * {WIDTH}:(q + 1) * {WIDTH}] = ri[q, 0:{WIDTH}]
        of[p, q * {WIDTH}:(q + 1) * {WIDTH}] = rf[q, 0:{WIDTH}]{store_acc}
"""


@st.composite
def bitcasts(draw):
    """Items (sent as "i"/"f", received as "i"/"f", length or 0 for a scalar, channel, receive form)."""
    items = []
    for _ in range(draw(st.integers(1, 5))):
        length = draw(st.sampled_from([0, 0, 1, 2, WIDTH]))
        form = draw(st.sampled_from(["elem", "var"])) if not length else "out"
        items.append((draw(st.sampled_from("if")), draw(st.sampled_from("if")), length, draw(st.integers(0, 1)), form))
    return draw(st.sampled_from(sorted(DIRECTIONS))), items


def render_bitcasts(direction: str, items) -> str:
    back = DIRECTIONS[direction][2]
    sends, recvs = [], []
    for k, (sent, got, length, channel, form) in enumerate(items):
        at, dtype = f"channel={channel}", "np.int32" if got == "i" else "np.float32"
        if length:
            sends.append(f"ws.send(ws.{direction}, l{sent}[{k}, 0:{length}], {at})")
            recvs.append(f"ws.recv(ws.{back}, {at}, out=r{got}[{k}, 0:{length}], bitcast=True)")
        else:
            sends.append(f"ws.send(ws.{direction}, l{sent}[{k}, 0], {at})")
            call = f"ws.recv(ws.{back}, {at}, dtype={dtype}, bitcast=True)"
            recvs.append(f"r{got}[{k}, 0] = {call}" if form == "elem"
                         else f"v{k}: {'int' if got == 'i' else 'float'} = {call}; r{got}[{k}, 0] = v{k}")
    count, ahead = len(items), DIRECTIONS[direction][2]
    return exchange_kernel(count, direction, ahead, sends, recvs)


@FUZZ
@given(case=bitcasts(), seed=st.integers(0, 2**32 - 1))
def test_bitcast_receives_match_numpy_view(dev, gen_dir, case, seed):
    direction, items = case
    module = load_source(gen_dir, render_bitcasts(direction, items))
    count, rng = len(items), np.random.default_rng(seed)
    xi, xf = fabric_words(rng, (PES, count * WIDTH)), fabric_words(rng, (PES, count * WIDTH)).view(np.float32)
    want_i, want_f = np.zeros((PES, count, WIDTH), np.int32), np.zeros((PES, count, WIDTH), np.int32)
    for p in range(1, PES):  # what PE p - 1 sent, its bits read as the receive's type
        for k, (sent, got, length, _, _) in enumerate(items):
            words = (xi if sent == "i" else xf.view(np.int32))[p - 1].reshape(count, WIDTH)[k, :max(length, 1)]
            (want_i if got == "i" else want_f)[p, k, :len(words)] = words
    oi, of = dev.device_array((PES, count * WIDTH), np.int32), dev.device_array((PES, count * WIDTH), np.float32)
    grid = DIRECTIONS[direction][0]
    module.kern[(1, 1), grid](dev.to_device(xi), dev.to_device(xf), oi, of)
    message = f"{direction} {items}"
    np.testing.assert_array_equal(oi.copy_to_host().reshape(want_i.shape), want_i, err_msg=message)
    # compared as bits: a nan's payload and sign must come through
    np.testing.assert_array_equal(of.copy_to_host().view(np.int32).reshape(want_f.shape), want_f, err_msg=message)


# ----------------------------------------------------------------------------- mistyped receives
TYPE_NAMES = {"i": "int32", "f": "float32", "h": "float16"}


@st.composite
def mistyped(draw):
    """(direction, items, bad): items (sent type, length or 0, channel, receive text) received correctly,
    but item `bad`, received as the other type without bitcast by one of the documented ways of typing a
    receive. Channel 1 always carries both types (so the inferred forms are not refused when compiling)."""
    direction = draw(st.sampled_from(sorted(DIRECTIONS)))
    back = DIRECTIONS[direction][2]
    count = draw(st.integers(1, 5))
    bad = draw(st.integers(0, count - 1))
    items = []
    for k in range(count):
        sent = draw(st.sampled_from("iif" + ("h" if k == bad else "")))
        length = draw(st.sampled_from([1, 2, WIDTH])) if sent == "h" else draw(st.sampled_from([0, 0, 1, WIDTH]))
        channel = draw(st.integers(0, 1)) if k != bad else 1
        at = f"ws.recv(ws.{back}, channel={channel}"
        wrong = {"i": "f", "f": "i", "h": "f"}[sent] if k == bad else sent
        if length:
            text = f"{at}, out=r{wrong}[{k}, 0:{length}])"
        elif k != bad:
            text = f"r{sent}[{k}, 0] = {at}, dtype={'np.int32' if sent == 'i' else 'np.float32'})"
        else:
            forms = {"i": [f"rf[{k}, 0] = {at}, dtype=np.float32)", f"w: float = {at}, dtype=np.float32)",
                           f"rf[{k}, 0] = {at})", f"w = {at}); rf[{k}, 0] = w"],
                     "f": [f"ri[{k}, 0] = {at}, dtype=np.int32)", f"v: int = {at})", f"acc += {at})",
                           f"ri[{k}, 0] = {at})", f"v: np.int32 = {at}, dtype=np.int32)"]}[sent]
            text = draw(st.sampled_from(forms))
        items.append((sent, length, channel, text))
    return direction, items, bad


@FUZZ
@given(case=mistyped(), seed=st.integers(0, 2**32 - 1))
def test_mistyped_receives_raise_word_type_error(dev, gen_dir, case, seed):
    direction, items, bad = case
    grid, (dx, dy), back = DIRECTIONS[direction]
    count = len(items)
    sends = [f"ws.send(ws.{direction}, l{sent}[{k}, {f'0:{length}' if length else '0'}], channel={channel})  # SEND{k}"
             for k, (sent, length, channel, _) in enumerate(items)]
    # the other type on channel 1 too, after the bad item (never received: the kernel stops before)
    sends.append(f"ws.send(ws.{direction}, {'1.5' if items[bad][0] == 'i' else '7'}, channel=1)")
    recvs = [text + ("  # BAD" if k == bad else "") for k, (_, _, _, text) in enumerate(items)]
    source = exchange_kernel(count, direction, back, sends, recvs, half=True)
    module = load_source(gen_dir, source)
    lines = source.splitlines()
    bad_line = next(n for n, line in enumerate(lines, 1) if line.endswith("# BAD"))
    # the sends of the bad word's type on its channel (the error names them all: see
    # test_word_type_error_names_every_send_that_could_have_sent_the_word)
    kind = items[bad][0]
    send_lines_of_kind = [n for n, line in enumerate(lines, 1)
                          if re.search(rf"ws\.send\(.*l{kind}\[.*channel=1\)  # SEND", line)]
    rng = np.random.default_rng(seed)
    xi = rng.integers(-1000, 1000, (PES, count * WIDTH)).astype(np.int32)
    xf = rng.uniform(-4, 4, (PES, count * WIDTH)).astype(np.float32)
    oi, of = dev.device_array((PES, count * WIDTH), np.int32), dev.device_array((PES, count * WIDTH), np.float32)
    message = "\n".join(sends + recvs)
    with pytest.raises(ws.WordTypeError) as caught:
        module.kern[(1, 1), grid](dev.to_device(xi), dev.to_device(xf), oi, of)
    err = caught.value
    sent, wanted = TYPE_NAMES[items[bad][0]], TYPE_NAMES[{"i": "f", "f": "i", "h": "f"}[items[bad][0]]]
    pe = tuple(err.pe)
    assert pe in [(dx * q, dy * q) for q in range(1, PES)], (pe, message)
    assert tuple(err.sender) == (pe[0] - dx, pe[1] - dy), (err.sender, pe, message)
    assert (str(err.sent_type), str(err.received_type)) == (sent, wanted), (err.sent_type, err.received_type, message)
    # (every send of the word's type and channel: the word does not say which of them sent it)
    assert err.source[1] == bad_line and sorted(line for _, line in err.sender_sources) == sorted(
        set(send_lines_of_kind)), (err.source, err.sender_sources, message)
    assert (err.sender_source is None) == (len(set(send_lines_of_kind)) > 1)
    assert re.search(rf"PE {re.escape(str(pe))} received an? {sent} word as {wanted}", str(err)), str(err)


def test_word_type_error_names_every_send_that_could_have_sent_the_word(dev, gen_dir):
    """A word's tag does not say which send of its type sent it: with two, the error names both (it named the
    first, line 9, when line 10 had sent the word), and `sender_source` is None."""
    module = load_source(gen_dir, """import numpy as np
import wafersim as ws


@ws.jit
def kern(out):
    i = ws.grid(1)
    if i == 0:
        ws.send(ws.EAST, 1, channel=1)
        ws.send(ws.EAST, 2, channel=1)
    else:
        out[0] = ws.recv(ws.WEST, channel=1, dtype=np.int32)
        out[1] = ws.recv(ws.WEST, channel=1, dtype=np.float32)
""")
    with pytest.raises(ws.WordTypeError) as caught:
        module.kern[(1, 1), (2, 1)](dev.device_array(2))
    err = caught.value
    assert err.source[1] == 13 and err.sender_source is None
    assert [line for _, line in err.sender_sources] == [9, 10]
    assert re.search(r"sent as int32 by PE \(0, 0\) at one of \S+:9, \S+:10;", str(err)), str(err)


@pytest.mark.parametrize("line", ["t[1, 0:8:2] = a[0:4]", "a[0:4] = t[p, 1:8:2]", "a[0:2] = u[0:2, 1, p]",
                                  "u[0, 1, 0:8:2] = a[0:4]", "u[0:2, 0, 3] = a[0:2]"])
def test_steps_in_rows_and_columns_of_3d_arrays_are_refused(dev, gen_dir, line):
    """Not drawn above: a step in a row slice of a 2-D or 3-D array, a column of a 3-D array."""
    module = load_source(gen_dir, f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(out, p):
    a = ws.local.array(8, np.float32)
    t = ws.local.array((2, 8), np.float32)
    u = ws.local.array((2, 2, 8), np.float32)
    {line}
    out[0] = a[0]
""")
    with pytest.raises(ws.CompileError):
        module.kern[(1, 1), (1, 1)](dev.device_array(1), 1)


# ----------------------------------------------------------------------------- ws.outer_add
FLAT = 24  # f: (FLAT,); g: (GR, N); t: (2, 3, N)


@st.composite
def outer_statements(draw, o: int) -> tuple[str, str]:
    """(kernel, NumPy) of one `ws.outer_add(c, x, y)`; x and y often rows of c's array (read first)."""
    def piece(length: int, names=("f", "g", "t")) -> tuple[str, str]:
        """A 1-D slice of `length` (kernel and NumPy text: the same)."""
        name = draw(st.sampled_from([n for n in names if length <= (FLAT if n == "f" else N)]))
        size = FLAT if name == "f" else N
        start = draw(st.integers(0, size - length))
        bound = f"o + {start - o}:o + {start - o + length}" if start >= o and draw(st.booleans()) else \
            f"{start}:{start + length}"
        rows = {"f": "", "g": f"{draw(st.integers(-GR, GR - 1))}, ",
                "t": f"{draw(st.integers(-2, 1))}, {draw(st.integers(0, 2))}, "}[name]
        return f"{name}[{rows}{bound}]", name

    form = draw(st.sampled_from(["whole", "block", "flat", "flat"]))
    if form == "whole":
        m, n = GR, N
    elif form == "block":
        m, n = draw(st.integers(1, GR)), N
    else:
        m, n = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    x, y = piece(m)[0], piece(n)[0]
    if form == "whole":
        return f"ws.outer_add(g, {x}, {y})", f"g[:, :] = g + np.multiply.outer({x}, {y})"
    if form == "block":
        r0 = draw(st.integers(0, GR - m))
        return (f"ws.outer_add(g[{r0}:{r0 + m}, :], {x}, {y})",
                f"g[{r0}:{r0 + m}, :] = g[{r0}:{r0 + m}, :] + np.multiply.outer({x}, {y})")
    c = piece(m * n)[0]
    return f"ws.outer_add({c}, {x}, {y})", f"{c} = {c} + np.multiply.outer({x}, {y}).ravel()"


@FUZZ
@given(dtype=st.sampled_from(["np.float32", "np.int32"]), o=st.integers(0, 2),
       data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_outer_add_matches_numpy(dev, gen_dir, dtype, o, data, seed):
    statements = data.draw(st.lists(outer_statements(o), min_size=1, max_size=3))
    rows = [f"f[{k * N}:{(k + 1) * N}]" for k in range(FLAT // N)] + [f"g[{r}, 0:{N}]" for r in range(GR)]
    rows += [f"t[{i}, {j}, 0:{N}]" for i in range(2) for j in range(3)]
    loads = "\n".join(f"    {row} = x[{k * N}:{(k + 1) * N}]" for k, row in enumerate(rows))
    stores = "\n".join(f"    out[{k * N}:{(k + 1) * N}] = {row}" for k, row in enumerate(rows))
    module = load_source(gen_dir, f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, o):
    f = ws.local.array({FLAT}, {dtype})
    g = ws.local.array(({GR}, {N}), {dtype})
    t = ws.local.array((2, 3, {N}), {dtype})
{loads}
{"".join(f"    {k}{chr(10)}" for k, _ in statements)}{stores}


def ref(x, o):
    f, g = x[0:{FLAT}].copy(), x[{FLAT}:{FLAT + GR * N}].reshape({GR}, {N}).copy()
    t = x[{FLAT + GR * N}:].reshape(2, 3, {N}).copy()
{"".join(f"    {n}{chr(10)}" for _, n in statements)}    return np.concatenate([f, g.ravel(), t.ravel()])
""")
    size = FLAT + GR * N + 6 * N
    rng = np.random.default_rng(seed)
    x = (rng.uniform(-4, 4, size).astype(np.float32) if dtype == "np.float32"
         else rng.integers(-(2**31), 2**31, size, dtype=np.int64).astype(np.int32))
    with np.errstate(over="ignore"):
        want = module.ref(x, o)
    out = dev.device_array(size, x.dtype)
    module.kern[(1, 1), (1, 1)](dev.to_device(x), out, o)
    np.testing.assert_array_equal(out.copy_to_host(), want, err_msg="\n".join(k for k, _ in statements) + f"\no={o}")


# ----------------------------------------------------------------------------- values that stop the kernel
@FUZZ
@given(v=st.integers(-(2**31), 2**31 - 1), k=st.integers(-3, 40), n=st.integers(-9, 9), s=st.integers(-3, 3),
       m=st.integers(0, 4))
def test_shift_counts_range_steps_and_empty_reductions_match_python(dev, gen_dir, v, k, n, s, m):
    """`<<`/`>>` by a run-time count (Python's result wrapped to int32; a negative count stops the kernel),
    `range` with a run-time step (0 stops it), `min`/`max` of a run-time empty slice (stops it): all with
    `KernelValueError`, as Python raises ValueError."""
    module = load_source(gen_dir, """import numpy as np
import wafersim as ws


@ws.jit
def kern(x, out, v, k, n, s, m):
    buf = ws.local.array(4, np.int32)
    buf[0:4] = x[0:4]
    out[0] = v << k
    out[1] = v >> k
    total = 0
    for j in range(1, n, s):
        total += j * j
    out[2] = total
    out[3] = min(buf[0:m]) + max(buf[4 - m:4])
""")
    x = np.array([5, -7, 3, 9], np.int32)
    out = dev.device_array(4, np.int32)
    launch = module.kern[(1, 1), (1, 1)]
    if k < 0 or s == 0 or m == 0:
        with pytest.raises(ws.KernelValueError):
            launch(dev.to_device(x), out, v, k, n, s, m)
        return
    wrap = lambda value: (value + 2**31) % 2**32 - 2**31  # noqa: E731
    want = [wrap(v << k), wrap(v >> k), sum(j * j for j in range(1, n, s)), min(x[:m]) + max(x[4 - m:])]
    launch(dev.to_device(x), out, v, k, n, s, m)
    np.testing.assert_array_equal(out.copy_to_host(), np.array(want, np.int32), err_msg=f"v={v} k={k} n={n} s={s} m={m}")
