"""`compiler/vectors.py`: slice assignments as vector instructions, compared with the same statements run by
NumPy; what cannot be ordered as NumPy orders it is a CompileError."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws


def run(kernel, n: int) -> np.ndarray:
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.device_array(n)
    kernel[(1, 1), (1, 1)](out)
    return out.copy_to_host()


@ws.jit
def unary_plus_copies(out):
    a = ws.local.array(4, np.float32)
    c = ws.local.array(4, np.float32)
    t = ws.local.array((2, 3), np.float32)
    u = ws.local.array((2, 3), np.float32)
    for i in range(4):
        c[i] = i + 0.5
    for i in range(6):
        u[i // 3, i % 3] = i * 2.0
    a[0:4] = +c[0:4]
    t[0:2, 0:3] = +(+u[0:2, 0:3])
    out[0:4] = a[0:4]
    for i in range(6):
        out[4 + i] = t[i // 3, i % 3]


def test_a_unary_plus_of_a_slice_is_a_copy():
    """`a[0:4] = +c[0:4]` (and a block's) crashed the compiler with an AttributeError (a tree of one leaf has
    no operation to write with), not a CompileError: it is a copy, as in NumPy."""
    c = np.arange(4, dtype=np.float32) + 0.5
    u = np.arange(6, dtype=np.float32).reshape(2, 3) * 2.0
    np.testing.assert_array_equal(run(unary_plus_copies, 10), np.concatenate([+c, (+(+u)).ravel()]))


@ws.jit
def _triple_into(a, c):
    a[0:4] = c[0:4] * 3.0  # a slice statement of its own, inside a call of the enclosing statement's scalar
    return 1.0


@ws.jit
def call_with_slices_first(out):
    a = ws.local.array(4, np.float32)
    c = ws.local.array(4, np.float32)
    for i in range(4):
        a[i] = i + 1.0
        c[i] = 10.0 * (i + 1)
    a[0:4] = _triple_into(a, c) + a[0:4]  # Python calls first, then reads a: as the kernel does
    out[0:4] = a[0:4]


@ws.jit
def call_after_a_slice_operation(out):
    a = ws.local.array(4, np.float32)
    c = ws.local.array(4, np.float32)
    a[0:4] = a[0:4] * 2.0 + _triple_into(a, c)  # NumPy doubles a[0:4] before the call writes a
    out[0:4] = a[0:4]


def test_a_called_functions_slice_statement_does_not_count_as_the_callers_operation():
    """Whether a slice operation came before an array-writing call was one flag for every statement; a
    called function's own slice statement set it, so a call before any operation of the enclosing
    statement (which the kernel orders as Python does) was refused. After an operation it still is."""
    a, c = np.arange(1, 5, dtype=np.float32), 10.0 * np.arange(1, 5, dtype=np.float32)
    a[0:4] = (a.__setitem__(slice(0, 4), c * np.float32(3.0)) or np.float32(1.0)) + a[0:4]
    np.testing.assert_array_equal(run(call_with_slices_first, 4), a)
    with pytest.raises(ws.CompileError, match="writes an array, after a slice operation"):
        run(call_after_a_slice_operation, 4)


@ws.jit
def scalar_first(x, v, out):
    buf = ws.local.array(4, np.float32)
    res = ws.local.array(4, np.float32)
    for j in range(4):
        buf[j] = v[j]
    s = x[0]
    res[0:4] = s + buf[0:4]
    out[0:4] = res[0:4]
    res[0:4] = s * buf[0:4]
    out[4:8] = res[0:4]
    res[0:4] = s - buf[0:4]
    out[8:12] = res[0:4]
    res[0:4] = 2.5 + buf[0:4]
    out[12:16] = res[0:4]
    res[0:4] = -0.0 - buf[0:4]
    out[16:20] = res[0:4]


def test_a_scalar_first_gives_numpys_bits_but_for_which_of_two_nans():
    """docs/python-supported.md: `s + v` runs as `v + s` (the scalar slot is the second operand), so of a nan
    `s` and a nan element the element's payload comes out, where np.add(s, v) keeps s's; every other bit is
    NumPy's, and a constant `s` that is not a nan gives NumPy's bits exactly."""
    bits = lambda *w: np.array(w, np.uint32).view(np.float32)  # noqa: E731
    v = bits(0x7FC00002, 0xFFC00003, 0x3F800000, 0x80000000)  # two nans, 1.0, -0.0
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.device_array(20)
    for s in (bits(0x7FC00001), np.float32([0.0]), np.float32([-0.0]), np.float32([np.inf])):
        scalar_first[(1, 1), (1, 1)](dev.to_device(s), dev.to_device(v), out)
        got = out.copy_to_host().view(np.uint32).reshape(5, 4)
        s0 = s[0]
        with np.errstate(invalid="ignore"):  # (inf * -0.0: NumPy's default nan, as the machine's)
            rows = [(np.add(s0, v), np.add(v, s0)), (np.multiply(s0, v), np.multiply(v, s0)),
                    (np.subtract(s0, v), np.add(np.multiply(v, -1.0), s0))]
        for row, (numpy_order, swapped) in enumerate(rows):
            np.testing.assert_array_equal(got[row], swapped.view(np.uint32))
            nans = np.isnan(v) & np.isnan(s0)
            np.testing.assert_array_equal(got[row][~nans], numpy_order.view(np.uint32)[~nans])
        np.testing.assert_array_equal(got[3], np.add(np.float32(2.5), v).view(np.uint32))
        np.testing.assert_array_equal(got[4], np.subtract(np.float32(-0.0), v).view(np.uint32))


@ws.jit
def _shift_start(b):
    b[0] = b[0] + 2
    return 1.5


@ws.jit
def accumulate_into_a_moved_slice(out):
    b = ws.local.array(1, np.int32)
    acc = ws.local.array(8, np.float32)
    x = ws.local.array(4, np.float32)
    h = ws.local.array(4, np.float16)
    for j in range(8):
        acc[j] = j
    for j in range(4):
        x[j] = 10.0 * (j + 1)
        h[j] = j + 1.0
    acc[b[0]:b[0] + 4] = acc[b[0]:b[0] + 4] + x[0:4] * _shift_start(b)
    out[0:8] = acc[0:8]
    acc[b[0]:b[0] + 4] = acc[b[0]:b[0] + 4] + h[0:4] * h[0:4]      # the same slice: one vwfma
    out[8:16] = acc[0:8]
    acc[b[0]:b[0] + 4] += x[0:4] * _shift_start(b)                  # the index is read before the call
    out[16:24] = acc[0:8]


def test_a_product_added_to_the_destinations_text_reads_the_slice_python_reads():
    """`acc[b[0]:b[0] + 4] = acc[b[0]:b[0] + 4] + x[0:4] * f(b)`, where f moves b[0]: Python reads the
    operand slice before the call and writes the slice after it, two slices. The compiler fused the sum into
    one `vfma` that adds into the destination whenever the operand's text was the target's, so it added the
    product to the slice written, not to the slice read (fuzz46)."""
    acc = np.arange(8, dtype=np.float32)
    x = np.float32(10.0) * np.arange(1, 5, dtype=np.float32)
    h = np.arange(1, 5, dtype=np.float16)
    b = np.zeros(1, np.int32)
    expected = []
    operand = acc[b[0]:b[0] + 4]                 # a view, read before the call, as NumPy reads it
    b[0] += 2
    acc[b[0]:b[0] + 4] = operand + x * np.float32(1.5)
    expected.append(acc.copy())
    acc[b[0]:b[0] + 4] = acc[b[0]:b[0] + 4] + h.astype(np.float32) * h.astype(np.float32)
    expected.append(acc.copy())
    start = b[0]
    b[0] += 2
    acc[start:start + 4] += x * np.float32(1.5)
    expected.append(acc.copy())
    np.testing.assert_array_equal(run(accumulate_into_a_moved_slice, 24), np.concatenate(expected))
    assert "vwfma" in accumulate_into_a_moved_slice.inspect_asm()


@ws.jit
def widen_into_a_moved_slice(out):
    b = ws.local.array(1, np.int32)
    acc = ws.local.array(8, np.float32)
    h = ws.local.array(4, np.float16)
    acc[b[0]:b[0] + 4] = acc[b[0]:b[0] + 4] + h[0:4] * _shift_start(b)
    out[0:8] = acc[0:8]


def test_a_float32_accumulation_of_16_bit_products_into_a_moved_slice_is_refused():
    """The float32 accumulation of 16-bit products has only the in-place `vwfma`: where the slice added may not
    be the slice written, a CompileError at the line (it added into the slice written before fuzz46)."""
    with pytest.raises(ws.CompileError, match="may not be the slice written") as caught:
        run(widen_into_a_moved_slice, 8)
    assert "acc[b[0]:b[0] + 4] = acc[b[0]:b[0] + 4] + h[0:4]" in str(caught.value)


@ws.jit
def widen_beside_a_call_that_writes(out, s):
    b = ws.local.array(1, np.int32)
    t = ws.local.array((2, 8), np.float32)
    h = ws.local.array(4, np.float16)
    h[0:4] = 1.0
    t[1, s:s + 4] = t[1, s:s + 4] + h[0:4] * _shift_start(b)    # bounds of variables: one slice, one vwfma
    t[s - 1, 2:6] += h[0:4] * h[0:4]
    out[0:8] = t[1, 0:8]


def test_an_accumulation_whose_bounds_read_no_array_is_fused_beside_a_call_that_writes_one():
    """A call writing an array does not make two slices of bounds that read none: still one `vwfma`."""
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    out = dev.device_array(8)
    widen_beside_a_call_that_writes[(1, 1), (1, 1)](out, 2)
    row = np.zeros(8, np.float32)
    row[2:6] += np.float32(1.0) * np.float32(1.5)
    row[2:6] += np.float32(1.0)
    np.testing.assert_array_equal(out.copy_to_host(), row)
    assert widen_beside_a_call_that_writes.inspect_asm().count("vwfma") == 2


@ws.jit
def _write_first(c):
    c[0, 0] = 100.0
    return 1


@ws.jit
def operation_then_a_call_in_the_target(out):
    t = ws.local.array((2, 8), np.float32)
    c = ws.local.array((2, 8), np.float32)
    c[0, 0:8] = 1.0
    t[0, _write_first(c):_write_first(c) + 4] = c[0, 0:4] * 2.0
    out[0:8] = t[0, 0:8]


@ws.jit
def block_operation_then_a_call_in_the_target(out):
    t = ws.local.array((2, 8), np.float32)
    c = ws.local.array((2, 8), np.float32)
    c[0:2, 0:8] = 1.0
    t[0:2, _write_first(c):_write_first(c) + 2] = c[0:2, 0:2] * 2.0
    out[0:8] = t[0, 0:8]


@ws.jit
def copies_then_a_call_in_the_target(out):
    t = ws.local.array((2, 8), np.float32)
    c = ws.local.array((2, 8), np.float32)
    c[0:2, 0:8] = 1.0
    t[0, _write_first(c):5] = c[0, 0:4]
    t[0:2, _write_first(c) + 5:8] = c[0:2, 0:2]
    out[0:8] = t[0, 0:8]
    out[8:16] = t[1, 0:8]


@ws.jit
def operation_then_a_call_in_an_operand(out):
    t = ws.local.array((2, 8), np.float32)
    c = ws.local.array((2, 8), np.float32)
    c[0, 0:8] = 1.0
    t[0, 0:4] = c[0, 0:4] * 2.0 + t[1, _write_first(c):_write_first(c) + 4]
    out[0:8] = t[0, 0:8]


@ws.jit
def block_operation_then_a_call_in_an_operand(out):
    t = ws.local.array((2, 8), np.float32)
    c = ws.local.array((2, 8), np.float32)
    d = ws.local.array((2, 8), np.float32)
    c[0:2, 0:8] = 1.0
    t[0:2, 0:4] = c[0:2, 0:4] * 2.0 + d[0:2, _write_first(c):_write_first(c) + 4]
    out[0:8] = t[0, 0:8]


@pytest.mark.parametrize("kernel, where", [(operation_then_a_call_in_the_target, "the target's"),
                                           (block_operation_then_a_call_in_the_target, "the target's"),
                                           (operation_then_a_call_in_an_operand, "this operand's"),
                                           (block_operation_then_a_call_in_an_operand, "this operand's")])
def test_a_call_in_slice_bounds_after_a_slice_operation_that_reads_what_it_writes_is_refused(kernel, where):
    """`t[0, g(c):g(c) + 4] = c[0, 0:4] * 2.0`, or `c[0, 0:4] * 2.0 + d[0, g(c):g(c) + 4]`: NumPy multiplies
    before the bounds call `g`, which writes `c`; the kernel's vector instructions run after every bound is
    known, so they read `c` written (200 where NumPy gives 2, also for blocks, before fuzz46): a CompileError
    at the line, as for such a call among the scalars after a slice operation."""
    with pytest.raises(ws.CompileError, match=f"{where} bounds call a function that writes an array") as caught:
        run(kernel, 8)
    assert "_write_first(c):_write_first(c) + " in str(caught.value)


def test_a_copy_reads_its_source_after_a_call_in_the_targets_bounds_as_numpy_does():
    """A copy has no operation to order: NumPy's view is copied at the assignment, after the target's bounds."""
    t, c = np.zeros((2, 8), np.float32), np.ones((2, 8), np.float32)

    def write_first(c):
        c[0, 0] = 100.0
        return 1

    t[0, write_first(c):5] = c[0, 0:4]
    t[0:2, write_first(c) + 5:8] = c[0:2, 0:2]
    np.testing.assert_array_equal(run(copies_then_a_call_in_the_target, 16), t.ravel())
