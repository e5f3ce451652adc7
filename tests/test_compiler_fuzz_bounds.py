"""Differential fuzzing of the `@ws.jit` compiler: indices and slice bounds known only at run time, in range
and off it, against NumPy with the bounds rule of docs/python-supported.md ("Arrays and slices": every index
is checked on its own axis; a negative index computed at run time is out of bounds; slices need
0 <= start <= stop <= size). The other fuzzers draw indices in range (or a wrong slice length): here an
index may be off one axis while the flat offset it makes stays inside the array (`t[0, 5]` of a (3, 4) array is
word 5, `t[1, 1]`), which only a per-axis check catches, and a silent read of the wrong element is what it
would give otherwise.

- local arrays of 1 to 3 dimensions (float32, int32, float16) and global arrays of 1 or 2: an element read,
  written, or updated with `+=` (16-bit: float32 arithmetic, one rounding at the store); a row slice
  read (copied into a float32 or int32 array by a run-time length, `f[0:b - a] = t[i, a:b]`) or filled; a
  column of a 2-D local array copied out (`col[0:b - a] = t[a:b, j]`); a global row slice loaded into and
  stored from a local array;
- several index sets per kernel (one launch each): in range, -1, the size, past it, int32's extremes; a slice
  bound may be a Python bool (the int it equals, as in NumPy; a bool index is refused:
  test_compiler_arrays_bool_indices.py).

An access off the array must stop the kernel with `MemoryAccessError`; one in range must give NumPy's result
(the whole array is copied out after it, so a write to the wrong element shows). WAFERSIM_FUZZ_EXAMPLES /
WS_FUZZ_RANDOM scale it as the other fuzz tests.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_compiler_fuzz_arrays import FUZZ

import wafersim as ws
from conftest import load_source

DTYPES = {"f": ("np.float32", np.float32), "i": ("np.int32", np.int32), "h": ("np.float16", np.float16)}
SHAPES = {1: [(6,), (9,)], 2: [(3, 4), (2, 5), (4, 3)], 3: [(2, 3, 4), (3, 2, 2)]}
INDEX_SETS = 4
NAMES = ("i0", "i1", "i2")


@st.composite
def accesses(draw):
    """(place, dtype, shape, kind): place "local" or "global"; kind one of read, write, aug, row_read,
    row_write, col (a 2-D local array), and with it the index values of each launch."""
    place = draw(st.sampled_from(["local", "global"]))
    dims = draw(st.integers(1, 3 if place == "local" else 2))
    shape = draw(st.sampled_from(SHAPES[dims]))
    dtype = draw(st.sampled_from("fih" if place == "local" else "fi"))
    kinds = ["read", "write", "aug", "row_read", "row_write"]
    if place == "local" and dims == 2:
        kinds.append("col")
    kind = draw(st.sampled_from(kinds))

    def value(extent: int):
        good = st.integers(0, extent - 1)
        bad = st.sampled_from([-1, -2, extent, extent + 1, extent + 3, 2**31 - 1, -(2**31)])
        return draw(st.one_of(good, good, good, bad))

    def bound(extent: int):
        # (a Python bool too, launched as one: a bool slice bound is the int it equals, as NumPy's `a[True:3]`)
        return draw(st.one_of(st.integers(0, extent), st.integers(0, extent), st.sampled_from([-1, extent + 1]),
                              st.booleans()))

    launches = []
    for _ in range(INDEX_SETS):
        if kind in ("row_read", "row_write"):
            idx = [value(extent) for extent in shape[:-1]] + [bound(shape[-1]), bound(shape[-1])]
        elif kind == "col":
            idx = [value(shape[1]), bound(shape[0]), bound(shape[0])]
        else:
            idx = [value(extent) for extent in shape]
        launches.append(idx)
    return place, dtype, shape, kind, launches


def _rows_of(shape) -> list[str]:
    """Index prefixes of every row (all but the last axis) of an array of `shape`."""
    prefixes = [()]
    for extent in shape[:-1]:
        prefixes = [p + (k,) for p in prefixes for k in range(extent)]
    return prefixes


def render(place: str, dtype: str, shape, kind: str) -> str:
    """A kernel `kern(inp, dump, out, i0, i1, i2, a, b)`: the array is `inp` (global) or a local copy of it
    `t`, the access is made with the run-time indices, then the array is copied to `dump` (rows of the last
    axis) and a read value to `out[0]`."""
    text, _ = DTYPES[dtype]
    dims = len(shape)
    last = shape[-1]
    rows = _rows_of(shape)
    lines = []
    arr = "inp"
    if place == "local":
        arr = "t"
        lines.append(f"t = ws.local.array({shape}, {text})")
        for r, prefix in enumerate(rows):
            lines.append(f"t[{', '.join(map(str, prefix))}, 0:{last}] = inp[{r}, 0:{last}]"
                         if dims > 1 else f"t[0:{last}] = inp[0, 0:{last}]")
    wide = "np.int32" if dtype == "i" else "np.float32"
    lines.append(f"f = ws.local.array({max(shape)}, {wide})")
    value = "7" if dtype == "i" else "1.25"
    full = ", ".join(NAMES[:dims])
    if kind == "read":
        lines.append(f"out[0] = {arr}[{full}]")
    elif kind == "write":
        lines.append(f"{arr}[{full}] = {value}")
    elif kind == "aug":
        lines.append(f"{arr}[{full}] += {value}")
    elif kind in ("row_read", "row_write"):
        prefix = ", ".join(NAMES[:dims - 1])
        target = f"{arr}[{prefix}{', ' if prefix else ''}a:b]"
        if kind == "row_read":
            if dtype == "h":  # (a conversion takes local slices: through a 16-bit array)
                lines += [f"g = ws.local.array({max(shape)}, np.float16)", f"g[0:b - a] = {target}",
                          "f[0:b - a] = g[0:b - a]"]
            else:
                lines.append(f"f[0:b - a] = {target}")
            lines.append("out[0] = f[0] + f[b - a - 1] if b > a else 0")
        else:
            if place == "global":
                lines += [f"f[0:b - a] = {value}", f"{target} = f[0:b - a]"]
            else:
                lines.append(f"{target} = {value}")
    elif kind == "col":
        if dtype == "h":  # (a strided copy does not convert: through a 16-bit array)
            lines += [f"g = ws.local.array({max(shape)}, np.float16)", "g[0:b - a] = t[a:b, i0]",
                      "f[0:b - a] = g[0:b - a]"]
        else:
            lines.append("f[0:b - a] = t[a:b, i0]")
        lines.append("out[0] = f[0] + f[b - a - 1] if b > a else 0")
    dump_source = "inp" if place == "global" else "t"
    for r, prefix in enumerate(rows):
        row = f"{dump_source}[{', '.join(map(str, prefix))}{', ' if prefix else ''}0:{last}]" if dims > 1 \
            else f"{dump_source}[0:{last}]"
        if place == "global":  # (global to global goes through a local array)
            lines += [f"f[0:{last}] = {row}", f"dump[{r}, 0:{last}] = f[0:{last}]"]
        else:
            lines.append(f"dump[{r}, 0:{last}] = {row}")
    body = "\n".join("    " + line for line in lines)
    return f"""import numpy as np
import wafersim as ws


@ws.jit
def kern(inp, dump, out, i0, i1, i2, a, b):
{body}
"""


def reference(place: str, dtype: str, shape, kind: str, idx, start):
    """(error expected, the array afterwards, out[0]) by NumPy, with the kernel's bounds rule."""
    _, np_type = DTYPES[dtype]
    arr = start.reshape(shape).copy()
    dims = len(shape)

    def inside(values, extents) -> bool:
        return all(0 <= v < e for v, e in zip(values, extents))

    def slice_ok(a, b, extent) -> bool:
        return 0 <= a <= b <= extent

    out = 0
    wide = np.int32 if dtype == "i" else np.float32
    with np.errstate(all="ignore"):
        if kind in ("read", "write", "aug"):
            if not inside(idx, shape):
                return True, None, None
            key = tuple(idx)
            if kind == "read":
                out = wide(arr[key])
            elif kind == "write":
                arr[key] = np_type(7 if dtype == "i" else 1.25)
            elif dtype == "i":
                arr[key] = np.int32((int(arr[key]) + 7 + 2**31) % 2**32 - 2**31)
            else:  # float32 arithmetic, one rounding at the store
                arr[key] = np_type(np.float32(arr[key]) + np.float32(1.25))
        elif kind in ("row_read", "row_write"):
            prefix, (a, b) = idx[:dims - 1], idx[dims - 1:]
            if not inside(prefix, shape[:-1]) or not slice_ok(a, b, shape[-1]):
                return True, None, None
            row = arr[tuple(prefix)] if prefix else arr
            if kind == "row_read":
                f = row[a:b].astype(wide)
                out = f[0] + f[b - a - 1] if b > a else wide(0)
            else:
                row[a:b] = np_type(7 if dtype == "i" else 1.25)
        else:  # col
            j, a, b = idx
            if not (0 <= j < shape[1]) or not slice_ok(a, b, shape[0]):
                return True, None, None
            f = arr[a:b, j].astype(wide)
            out = f[0] + f[b - a - 1] if b > a else wide(0)
    return False, arr, out


@pytest.fixture(scope="module")
def dev():
    return ws.Device(ws.WaferSpec(width=4, height=4))


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jit_fuzz_bounds")


@FUZZ
@given(case=accesses(), seed=st.integers(0, 2**32 - 1))
def test_run_time_indices_in_and_off_range_match_numpy_or_stop_the_kernel(dev, gen_dir, case, seed):
    place, dtype, shape, kind, launches = case
    source = render(place, dtype, shape, kind)
    module = load_source(gen_dir, source)
    _, np_type = DTYPES[dtype]
    rng = np.random.default_rng(seed)
    rows = len(_rows_of(shape))
    start = (rng.integers(-50, 50, (rows, shape[-1])) if dtype == "i"
             else rng.standard_normal((rows, shape[-1])) * 8).astype(np_type)
    wide = np.int32 if dtype == "i" else np.float32
    for idx in launches:
        args = idx + [0] * (5 - len(idx))  # i0, i1, i2, a, b
        if kind in ("row_read", "row_write"):
            args = idx[:-2] + [0] * (3 - (len(idx) - 2)) + idx[-2:]
        elif kind == "col":
            args = [idx[0], 0, 0, idx[1], idx[2]]
        error, want_arr, want_out = reference(place, dtype, shape, kind, idx, start)
        inp = dev.to_device(start.reshape(shape) if place == "global" else start)
        dump = dev.device_array((rows, shape[-1]), np_type if dtype != "h" else np.float16)
        out = dev.device_array(1, wide)
        msg = f"{source}\nindices {idx}"
        if error:
            with pytest.raises(ws.MemoryAccessError):
                module.kern[1, 1](inp, dump, out, *args)
            continue
        module.kern[1, 1](inp, dump, out, *args)
        got = dump.copy_to_host()
        np.testing.assert_array_equal(got.astype(np.float32).view(np.int32) if dtype != "i" else got,
                                      want_arr.reshape(rows, shape[-1]).astype(np.float32).view(np.int32)
                                      if dtype != "i" else want_arr.reshape(rows, shape[-1]), err_msg=msg)
        if kind in ("read", "row_read", "col"):
            np.testing.assert_array_equal(out.copy_to_host()[0], want_out, err_msg=msg)


# ----------------------------------------------------------------------------- slices in a loop
#: Sizes of the 1-D array sliced in a loop (a local array's is a constant the bounds pass can prove
#: against; a global array's is a register it cannot).
LOOP_SIZES = (40, 64, 100)


@st.composite
def loop_slices(draw):
    """`for j in range(start, stop, step): ... arr[j * scale + c:j * scale + c + span] ...` (the pattern of a
    1-D array read column by column, `a[j * n:j * n + n]`), with some trips possibly off the array: a dict of
    the kernel's parameters. The stop is a constant or the run-time `m` (then several launches)."""
    start, step = draw(st.sampled_from([0, 0, 1, 2, 3, -1, -2])), draw(st.sampled_from([1, 1, 2, 3]))
    trips = draw(st.one_of(st.integers(17, 30), st.integers(17, 30), st.integers(0, 16)))  # (<= 16: unrolled)
    case = {"place": draw(st.sampled_from(["local", "local", "local", "global"])),
            "size": draw(st.sampled_from(LOOP_SIZES)), "kind": draw(st.sampled_from(["read", "write"])),
            "start": start, "step": step,
            "stop": draw(st.sampled_from([start + step * max(trips - 1, 0) + draw(st.integers(1, step))] * 2 + [None])),
            "scale": draw(st.sampled_from([-1, 0, 1, 1, 2, 3])), "offset": draw(st.integers(-3, 9)),
            "span": draw(st.integers(0, 8)), "launch_stops": draw(st.lists(st.integers(0, 40), min_size=1, max_size=3))}
    trips = range(case["start"], case["launch_stops"][0] if case["stop"] is None else case["stop"], case["step"])
    edge = draw(st.sampled_from([None, "end", "end", "start"]))
    if edge is not None and trips:  # the slice nearest an end of the array within a few words of it (or past)
        reach = case["size"] - case["span"] - 2  # (a scale that keeps the other end on the array)
        scale = draw(st.sampled_from([k for k in (-1, 0, 1, 2, 3) if abs(k) * (trips[-1] - trips[0]) <= reach] or [0]))
        slack, case["scale"] = draw(st.integers(-2, 2)), scale
        if edge == "end":  # the largest stop is size + slack
            case["offset"] = case["size"] + slack - case["span"] - max(trips[0] * scale, trips[-1] * scale)
        else:  # the smallest start is -slack
            case["offset"] = -slack - min(trips[0] * scale, trips[-1] * scale)
    return case


def render_loop_slice(case: dict) -> tuple[str, int]:
    """The kernel `kern(inp, dump, out, m)` of a `loop_slices` case, and the line of its slice."""
    size, span = case["size"], case["span"]
    arr = "t" if case["place"] == "local" else "inp"
    stop = "m" if case["stop"] is None else str(case["stop"])
    e = f"j * {case['scale']} + {case['offset']}"
    lines = []
    if case["place"] == "local":  # (first: a slice past its end would read or write `acc` and `f` silently)
        lines += [f"t = ws.local.array({size}, np.int32)", f"t[0:{size}] = inp[0:{size}]"]
    lines += ["acc = ws.local.array(8, np.int32)", "f = ws.local.array(8, np.int32)", "acc[0:8] = 0"]
    lines.append(f"for j in range({case['start']}, {stop}, {case['step']}):")
    if case["kind"] == "read":
        lines += [f"    f[0:{span}] = {arr}[{e}:{e} + {span}]", f"    acc[0:{span}] = f[0:{span}] + acc[0:{span}]"]
    else:
        lines += [f"    acc[0:{span}] = acc[0:{span}] + j", f"    {arr}[{e}:{e} + {span}] = acc[0:{span}]"]
    slice_line = len(lines) + 6 - (case["kind"] == "read")  # (+ the imports, blank lines, decorator and def)
    if case["place"] == "local":
        lines.append(f"dump[0:{size}] = t[0:{size}]")
    lines.append("out[0:8] = acc[0:8]")
    body = "\n".join("    " + line for line in lines)
    return f"import numpy as np\nimport wafersim as ws\n\n\n@ws.jit\ndef kern(inp, dump, out, m):\n{body}\n", slice_line


def loop_slice_reference(case: dict, stop: int, start_values: np.ndarray):
    """(error expected, the array afterwards, acc) by plain Python: a trip whose slice is off the array
    (0 <= start <= stop <= size fails) stops the kernel."""
    arr, acc, span = start_values.copy(), np.zeros(8, np.int64), case["span"]
    for j in range(case["start"], stop, case["step"]):
        lo = j * case["scale"] + case["offset"]
        if not 0 <= lo <= lo + span <= case["size"]:
            return True, None, None
        if case["kind"] == "read":
            acc[:span] += arr[lo:lo + span]
        else:
            acc[:span] += j
            arr[lo:lo + span] = acc[:span]
    return False, arr, acc


@FUZZ
@given(case=loop_slices(), seed=st.integers(0, 2**32 - 1))
def test_slices_stepped_through_an_array_in_a_loop_match_python_or_stop_at_the_slice(dev, gen_dir, case, seed):
    """The bounds pass drops a slice's checks in a loop where the loop's range proves them (a constant size):
    a trip off the array must still stop the kernel, at the slice's line, and one on it give Python's result."""
    source, slice_line = render_loop_slice(case)
    module = load_source(gen_dir, source)
    start_values = np.random.default_rng(seed).integers(-50, 50, case["size"]).astype(np.int32)
    for stop in ([case["stop"]] if case["stop"] is not None else case["launch_stops"]):
        error, want_arr, want_acc = loop_slice_reference(case, stop, start_values.astype(np.int64))
        inp, dump = dev.to_device(start_values), dev.device_array(case["size"], np.int32)
        out = dev.device_array(8, np.int32)
        msg = f"{source}\nm = {stop}"
        if error:
            with pytest.raises(ws.MemoryAccessError, match=rf"^\S+ slice (start|end|length) .*:{slice_line}$"):
                module.kern[1, 1](inp, dump, out, stop)
            continue
        module.kern[1, 1](inp, dump, out, stop)
        got = (inp if case["place"] == "global" else dump).copy_to_host()
        np.testing.assert_array_equal(got, want_arr, err_msg=msg)
        np.testing.assert_array_equal(out.copy_to_host(), want_acc, err_msg=msg)
