"""Tests of device arrays and device memory from the host (runtime/device.py): freed handles, shapes,
conversions and the errors of misuse."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wafersim as ws


@pytest.fixture
def dev():
    return ws.Device(ws.WaferSpec(width=16, height=16))


def test_a_freed_array_stays_freed_when_its_address_is_reused(dev):
    a = dev.to_device(np.arange(4, dtype=np.float32))
    a.free()
    b = dev.to_device(np.zeros(4, np.float32))
    assert b.address == a.address  # the allocator hands the lowest free address out again
    assert a.is_freed and "freed" in repr(a)
    assert not b.is_freed and "freed" not in repr(b)
    with pytest.raises(ws.MemoryAccessError):
        a.copy_to_host()


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float16])
def test_a_0d_array_keeps_its_shape_on_the_device(dev, dtype):
    host = np.array(3.5 if dtype != np.int32 else 7, dtype=dtype)
    d = dev.to_device(host)
    assert d.shape == () and d.size == 1 and d.ndim == 0
    back = d.copy_to_host()
    assert back.shape == () and back.dtype == host.dtype and back == host


def test_np_asarray_of_a_device_array_copies_it_to_the_host(dev):
    host = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = dev.to_device(host)
    got = np.asarray(d)
    assert got.dtype == np.float32 and got.shape == (3, 4) and np.array_equal(got, host)
    assert np.array_equal(d, host) and not np.array_equal(d, host + 1)
    assert np.asarray(d, dtype=np.float64).dtype == np.float64
    assert len(d) == 3 and len(dev.device_array(0)) == 0 and bool(dev.device_array(0))
    with pytest.raises(ws.ArgumentTypeError, match="0-d"):
        len(dev.to_device(np.array(1.0, np.float32)))
    with pytest.raises(ws.ArgumentError, match="copy_to_host"):
        np.asarray(d, copy=False)


@pytest.mark.parametrize("expression, shown", [
    ("d + 1", "d + x"), ("1 + d", "x + d"), ("d - h", "d - x"), ("d * 2", "d * x"), ("d / 2", "d / x"),
    ("d // 2", "d // x"), ("d % 2", "d % x"), ("d ** 2", "d ** x"), ("d @ h", "d @ x"), ("d < 1", "d < x"),
    ("1 < d", "d > x"), ("d >= h", "d >= x"), ("d == 1", "d == x"), ("d != [0, 1, 2, 3]", "d != x"),
    ("-d", "-d"), ("abs(d)", "abs(d)"), ("h + d", "np.add(...)"), ("h == d", "np.equal(...)"),
    ("h @ d", "np.matmul(...)"), ("np.sqrt(d)", "np.sqrt(...)"), ("np.sum(d)", "np.sum(...)"),
    ("float(d)", "float(d)"), ("int(d)", "int(d)"), ("complex(d)", "complex(d)"),
    # (these were Python's bare TypeErrors: every error of the public API is a WaferError)
    ("round(d)", "round(d)"), ("math.trunc(d)", "math.trunc(d)"), ("divmod(d, 2)", "divmod(d, x)"),
    ("divmod(2, d)", "divmod(x, d)"), ("range(d)", "operator.index(d)"), ("[1, 2][d]", "operator.index(d)")])
def test_arithmetic_and_comparisons_on_the_host_say_to_copy_first(dev, expression, shown):
    """`d + 1` was Python's bare TypeError and `h + d` a silent copy through `__array__`: both are refused
    with a WaferError (also a TypeError, as before) saying to copy to the host first."""
    d, h = dev.to_device(np.arange(4, dtype=np.float32)), np.ones(4, np.float32)
    with pytest.raises(ws.ArgumentTypeError) as info:
        eval(expression, {"np": np, "math": math, "d": d, "h": h})
    assert isinstance(info.value, TypeError) and f"({shown})" in str(info.value)
    assert "copy_to_host()" in str(info.value) and info.value.operation == shown


@pytest.mark.parametrize("expression, name, on_host", [
    ("np.mean(d)", "mean", "np.mean(h0)"), ("np.concatenate([d, h])", "concatenate", "np.concatenate([h0, h])"),
    ("np.stack([h, d])", "stack", "np.stack([h, h0])"), ("np.where(h > 1, d, h)", "where", "np.where(h > 1, h0, h)"),
    ("np.dot(h, d)", "dot", "np.dot(h, h0)"), ("np.sum(d)", "sum", "np.sum(h0)"),
    ("np.copy(d)", "copy", "np.copy(h0)"), ("np.median(d)", "median", "np.median(h0)")])
def test_numpy_functions_on_a_device_array_say_to_copy_first(dev, expression, name, on_host):
    """`np.mean(d)` and `np.concatenate([d, h])` copied `d` to the host through `__array__` while ufuncs
    were refused: NumPy functions are refused alike, and the advice given works on the host copy."""
    h0 = np.arange(4, dtype=np.float32)
    d, h = dev.to_device(h0), np.ones(4, np.float32)
    copies = len(dev.default_stream.log)
    with pytest.raises(ws.ArgumentTypeError) as info:
        eval(expression, {"np": np, "d": d, "h": h})
    assert info.value.operation == f"np.{name}(...)" and "copy_to_host()" in str(info.value)
    assert len(dev.default_stream.log) == copies  # refused before any copy
    expected = eval(on_host, {"np": np, "h0": h0, "h": h})
    got = eval(expression, {"np": np, "d": d.copy_to_host(), "h": h})
    assert np.array_equal(got, expected)


def test_the_documented_value_comparisons_still_copy(dev):
    """docs/api.md: `np.asarray(d)`, `np.array_equal`, `np.allclose` and `np.testing` compare values."""
    host = np.array([0.0, 1.0, 2.0, np.nan], np.float32)
    d = dev.to_device(host)
    assert np.array_equal(d, host, equal_nan=True) and not np.array_equal(d, host)  # NaN != NaN, as NumPy
    assert np.array_equiv(dev.to_device(np.ones(3, np.float32)), 1.0)
    assert np.allclose(d, host + 1e-9, equal_nan=True) and not np.allclose(d, host + 1)
    assert np.isclose(d, host).tolist() == np.isclose(host, host).tolist()
    np.testing.assert_allclose(d, host)
    np.testing.assert_array_equal(d, host)
    np.testing.assert_equal(d, host)
    assert np.array_equal(np.array(d), host, equal_nan=True)


def test_numpy_shape_queries_read_the_device_array_without_a_copy(dev):
    """`np.shape(d)`, `np.ndim(d)` and `np.size(d)` read `d.shape` (as before NumPy functions were refused): not
    arithmetic, and no copy."""
    h = np.zeros((3, 4), np.float32)
    d = dev.to_device(h)
    copies = len(dev.default_stream.log)
    assert (np.shape(d), np.ndim(d), np.size(d), np.size(d, 1)) == (np.shape(h), np.ndim(h), np.size(h), np.size(h, 1))
    assert len(dev.default_stream.log) == copies

def test_device_arrays_compare_as_handles_and_convert_to_numpy_by_copying(dev):
    d = dev.to_device(np.arange(4, dtype=np.float32))
    other = dev.to_device(np.arange(4, dtype=np.float32))
    assert d == d and d != other and not (d == None) and {d: 1}[d] == 1  # noqa: E711 (identity, as before)
    with pytest.raises(ws.ArgumentTypeError):  # (an in-place operator falls back to the refused `+`)
        d += 1
    np.testing.assert_array_equal(d, np.arange(4))  # (these convert with np.asarray first: a copy)
    assert np.allclose(d, np.arange(4)) and np.array_equal(np.array(d), np.arange(4))


@pytest.mark.parametrize("use, shown", [
    (lambda d: d[1], "d.copy_to_host()[1]"), (lambda d: d[1:3, ::2], "d.copy_to_host()[1:3, ::2]"),
    (lambda d: d.T, "d.copy_to_host().T"), (lambda d: d.reshape(12), "d.copy_to_host().reshape"),
    (lambda d: d.transpose(), "d.copy_to_host().transpose"), (lambda d: d.ravel(), "d.copy_to_host().ravel()"),
    (lambda d: list(d), "d.copy_to_host()")])
def test_views_and_indexing_on_the_host_say_to_copy_first(dev, use, shown):
    d = dev.to_device(np.arange(12, dtype=np.float32).reshape(3, 4))
    with pytest.raises(ws.ArgumentTypeError) as info:
        use(d)
    assert shown in str(info.value)


def _store(d, key, value):
    d[key] = value


def _delete(d, key):
    del d[key]


@pytest.mark.parametrize("use, shown", [
    (lambda d: _store(d, 1, 5.0), "d[1] = ..."), (lambda d: _store(d, (slice(0, 2), 1), 0.0), "d[0:2, 1] = ..."),
    (lambda d: _delete(d, 0), "del d[0]"), (lambda d: 1.0 in d, "x in d.copy_to_host()")])
def test_writing_or_searching_by_index_on_the_host_is_refused_as_indexing_is(dev, use, shown):
    """`d[1] = v`, `del d[0]` and `x in d` were Python's bare TypeErrors (not WaferErrors), where `d[1]` is an
    ArgumentTypeError (docs/api.md: indexing, slicing and iterating on the host are refused)."""
    host = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = dev.to_device(host)
    with pytest.raises(ws.ArgumentTypeError) as info:
        use(d)
    assert shown in str(info.value) and isinstance(info.value, TypeError)
    assert np.array_equal(d.copy_to_host(), host)


@pytest.mark.parametrize("attribute, value", [("shape", (2, 6)), ("shape", (6,)), ("shape", (4, 4)),
                                              ("dtype", np.int32), ("dtype", np.float16)])
def test_a_device_arrays_shape_and_dtype_cannot_be_assigned(dev, attribute, value):
    """NumPy's in-place reshape and view, `a.shape = (2, 6)`, `a.dtype = np.float16`, set plain attributes of a
    device array, which the copies and launches then trusted: a shape of fewer elements (6 of 12) truncated
    `copy_to_host` silently where NumPy raises, and `dtype = np.float16` of float32 data read the low half of
    each word ([0, 0, 0, ...] for [0, 1, 2, ...]) where NumPy views twice as many halves. Refused, unchanged."""
    host = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = dev.to_device(host)
    with pytest.raises(ws.ArgumentTypeError, match=rf"a device array's {attribute} cannot be changed.*copy_to_host"):
        setattr(d, attribute, value)
    assert d.shape == (3, 4) and d.dtype == np.float32
    assert np.array_equal(d.copy_to_host(), host)


def test_a_device_arrays_device_and_memory_cannot_be_assigned(dev):
    """`d.pointer = other.pointer` made `d` read another allocation silently; `d.device = other_device` a
    handle whose device and memory disagree. Both refused, the array unchanged."""
    host = np.arange(4, dtype=np.float32)
    d, other = dev.to_device(host), dev.to_device(np.full(4, 9.0, np.float32))
    second = ws.Device(ws.WaferSpec(width=4, height=4))
    with pytest.raises(ws.ArgumentTypeError, match="stays on the device that holds it"):
        d.device = second
    with pytest.raises(ws.ArgumentTypeError, match="memory cannot be changed"):
        d.pointer = other.pointer
    assert d.device is dev and d.address != other.address and np.array_equal(d.copy_to_host(), host)


@pytest.mark.parametrize("call", [
    lambda dev, d: dev.to_device(d), lambda dev, d: d.copy_to_device(dev.device_array(4)),
    lambda dev, d: dev.memcpy_htod(dev.malloc(16), d)])
def test_host_copies_given_a_device_array_say_they_need_a_host_array(dev, call):
    d = dev.to_device(np.arange(4, dtype=np.float32))
    with pytest.raises(ws.ArgumentTypeError, match="needs a host array"):
        call(dev, d)
    assert len(dev.launches) == 0 and dev.default_stream.log[1:] == []  # nothing copied


def test_copy_to_host_refuses_a_read_only_or_strided_destination(dev):
    d = dev.to_device(np.arange(6, dtype=np.float32).reshape(2, 3))
    read_only = np.zeros((2, 3), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ws.LaunchError, match="read-only"):
        d.copy_to_host(read_only)
    with pytest.raises(ws.LaunchError, match="read-only"):
        dev.memcpy_dtoh(read_only, d.pointer)
    with pytest.raises(ws.LaunchError, match="C-contiguous"):
        d.copy_to_host(np.zeros((2, 3), np.float32, order="F"))
    assert not read_only.any()
    out = np.zeros((2, 3), np.float32)
    assert d.copy_to_host(out) is out and np.array_equal(out, np.arange(6).reshape(2, 3))


def test_malloc_of_zero_bytes_is_an_argument_error(dev):
    with pytest.raises(ws.ArgumentError, match="positive"):
        dev.malloc(0)
    assert dev.device_array(0).shape == (0,)  # an empty array is offered


@pytest.mark.parametrize("config", [(1.0, 1), (1, 2.0), ((1, 1.5), 1), (None, 1)])
def test_a_float_or_none_shape_is_an_argument_type_error(dev, config):
    kernel = ws.Kernel(ws.assemble(".args 0\n halt"), dev)
    with pytest.raises(ws.ArgumentTypeError):
        kernel[config]()


@ws.jit
def scale(x, out, a):
    i = ws.grid(1)
    if i < x.size:
        out[i] = a * x[i]


def test_a_bfloat16_scalar_argument_is_taken_as_a_float_like_float16(dev):
    import ml_dtypes

    x = np.arange(16, dtype=np.float32) - 3.25
    d, out = dev.to_device(x), dev.device_array(16)
    results = []
    for a in (1.5, np.float16(1.5), ml_dtypes.bfloat16(1.5)):
        scale[1, 16](d, out, a)
        results.append(out.copy_to_host())
    for got in results:
        np.testing.assert_array_equal(got, np.float32(1.5) * x)
    program = ws.assemble(".args 1\n halt")
    ws.Kernel(program, dev)[1, 1](ml_dtypes.bfloat16(-2.0))  # raw kernels: the float32 word of -2.0
    assert dev.kernel_argument(ml_dtypes.bfloat16(-2.0), 0) == int(np.float32(-2.0).view(np.uint32))


# ----------------------------------------------------------------- arguments refused with typed errors
def _launched(dev):
    return ws.Kernel(ws.assemble(".args 1\nhalt\n"))[1, 1](dev.device_array(4), trace=True)


DEVICE_CALLS = {
    # (c): accepted with a wrong result before
    "memcpy_htod of a list (was float64 bytes)": (lambda dev: dev.memcpy_htod(dev.malloc(16), [1.0, 2.0]),
                                                 ws.ArgumentTypeError, "NumPy array"),
    "device_array(stream='x')": (lambda dev: dev.device_array(2, stream="x"), ws.LaunchError, "Stream"),
    "device_array(stream=other device's)": (lambda dev: dev.device_array(2, stream=ws.Device("dev").stream()),
                                             ws.LaunchError, "Stream"),
    # (b): bare Python exceptions before
    "device_array(bogus=1)": (lambda dev: dev.device_array(2, bogus=1), ws.ArgumentTypeError, "bogus"),
    "stream(5)": (lambda dev: dev.stream(5), ws.ArgumentTypeError, "stream"),
    "synchronize(1)": (lambda dev: dev.synchronize(1), ws.ArgumentTypeError, "synchronize"),
    "save(None)": (lambda dev: dev.save(None), ws.ArgumentTypeError, "path"),
    "Device.load(None)": (lambda dev: ws.Device.load(None), ws.ArgumentTypeError, "path"),
    "Device.load(5)": (lambda dev: ws.Device.load(5), ws.ArgumentTypeError, "path"),
    "to_perfetto(None)": (lambda dev: dev.to_perfetto(None), ws.ArgumentTypeError, "path"),
    "stats.to_perfetto(None)": (lambda dev: _launched(dev).to_perfetto(None), ws.ArgumentTypeError, "path"),
    "resume_launch(None)": (lambda dev: ws.resume_launch(None), ws.ArgumentTypeError, "path"),
    "to_device of 4 TB (was MemoryError)": (lambda dev: dev.to_device(np.broadcast_to(np.float32(0), (10**12,))),
                                            ws.OutOfMemoryError, "bytes"),
    "Kernel(program, 'dev')": (lambda dev: ws.Kernel(ws.assemble("halt"), "dev"), ws.ArgumentTypeError, "device"),
    "Kernel(program, 5)": (lambda dev: ws.Kernel(ws.assemble("halt"), 5), ws.ArgumentTypeError, "device"),
    "Kernel(None)": (lambda dev: ws.Kernel(None), ws.ArgumentTypeError, "Program"),
    "ws.constant(x) on the host": (lambda dev: ws.constant(np.ones(3)), ws.CompileError, "kernel"),
    "ws.threadIdx.x on the host": (lambda dev: ws.threadIdx.x, ws.CompileError, "kernel"),
    "ws.blockDim.y on the host": (lambda dev: ws.blockDim.y, ws.CompileError, "kernel"),
    "jit(boundscheck='False')": (lambda dev: ws.jit(boundscheck="False")(lambda out: None), ws.ArgumentTypeError,
                                 "boundscheck"),
    "jit(f, boundscheck=0)": (lambda dev: ws.jit(lambda out: None, boundscheck=0), ws.ArgumentTypeError, "boundscheck"),
}


@pytest.mark.parametrize("name", sorted(DEVICE_CALLS))
def test_bad_host_api_calls_are_typed_errors(dev, name):
    call, error, word = DEVICE_CALLS[name]
    with pytest.raises(error, match=word):
        call(dev)


def test_the_valid_neighbours_of_refused_calls_still_work(dev, tmp_path):
    p = dev.malloc(16)
    dev.memcpy_htod(p, np.asarray([1.0, 2.0], np.float32))
    host = np.zeros(4, np.float32)
    dev.memcpy_dtoh(host, p)
    assert host.tolist() == [1.0, 2.0, 0.0, 0.0]
    assert dev.device_array(2, dtype=None).dtype == np.float32  # None is the default, as documented
    assert dev.device_array(2, stream=dev.stream()).shape == (2,)
    strided = np.arange(12, dtype=np.float32).reshape(3, 4).T  # copied in C order without a host copy first
    np.testing.assert_array_equal(dev.to_device(strided).copy_to_host(), strided)
    assert ws.Kernel(ws.assemble("halt"), dev).device is dev
    assert ws.Device.load(dev.save(str(tmp_path / "d.npz"))).spec == dev.spec
    assert ws.jit(boundscheck=np.bool_(False))(lambda out: None).boundscheck is False
    with pytest.raises(AttributeError):
        ws.threadIdx.z  # (other attributes stay ordinary AttributeErrors)


def test_an_array_ending_past_4_gib_is_refused_naming_its_end_and_size(dev):
    """The check is on the array's end: the message named its start (0x100) as 'beyond the 4 GiB'."""
    big = dev.device_array((2**30 + 64,), np.float32)  # 4 GiB + 256 bytes, from a low address

    @ws.jit
    def touch(a):
        a[0] = 1.0

    with pytest.raises(ws.LaunchError, match=r"the 4,294,967,552-byte array at device address 0x[0-9a-f]+ ends at "
                                             r"0x1[0-9a-f]{8}, beyond the 4 GiB.*pass smaller arrays"):
        touch[(1, 1), (1, 1)](big)


# ---------------------------------------------------------------- a CUDA programmer's trial (device memory)
@pytest.mark.parametrize("dtype", [np.float16, "bfloat16"])
def test_a_raw_copy_between_16_bit_arrays_is_refused_not_scattered(dev, dtype):
    # Device arrays hold one 16-bit value per 32-bit word: a raw memcpy of the host's packed values would put
    # host[1] into the upper half of element 0 (read back as [0, 2, 0, 0] for arange(4)), so it is refused.
    import ml_dtypes

    dtype = np.dtype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
    host = np.arange(4).astype(dtype)
    d = dev.device_array(4, dtype)
    with pytest.raises(ws.ArgumentError, match=r"copy_to_device\(host\)"):
        dev.memcpy_htod(d, host)
    with pytest.raises(ws.ArgumentError, match=r"copy_to_host\(host\)"):
        dev.memcpy_dtoh(np.empty(4, dtype), d)
    assert np.array_equal(d.copy_to_host(), np.zeros(4, dtype))  # the refused copy wrote nothing
    d.copy_to_device(host)  # the typed copies convert
    assert np.array_equal(d.copy_to_host(), host)
    words = np.empty(4, np.uint32)  # a raw copy of the words themselves is still offered
    dev.memcpy_dtoh(words, d)
    assert words.tolist() == host.view(np.uint16).astype(np.uint32).tolist()


@pytest.mark.parametrize("dtype", [np.float16, "bfloat16"])
@pytest.mark.parametrize("bits", [np.uint16, np.int16])
def test_a_raw_copy_of_16_bit_values_as_2_byte_integers_is_refused_not_scattered(dev, dtype, bits):
    # `host.view(np.uint16)`, the raw bits of the same values, is packed as the 16-bit float array is: an
    # unsigned host array's "raw bits on purpose" let it through, and [1.5, 2, 3, 4] read back as
    # [1.5, 3, 0, 0] (memcpy_dtoh into it: [1.5, 0, 2, 0]), silently. uint32 words and uint8 bytes still copy.
    import ml_dtypes

    dtype = np.dtype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
    values = np.array([1.5, 2.0, 3.0, 4.0], dtype)
    d = dev.device_array(4, dtype)
    with pytest.raises(ws.ArgumentError, match=rf"{np.dtype(bits).name} host array would move the host's packed "
                                               rf"2-byte values.*copy_to_device\(host\)"):
        dev.memcpy_htod(d, values.view(bits))
    assert np.array_equal(d.copy_to_host(), np.zeros(4, dtype))  # nothing written
    d.copy_to_device(values)
    out = np.zeros(4, bits)
    with pytest.raises(ws.ArgumentError, match=r"copy_to_host\(host\)"):
        dev.memcpy_dtoh(out, d)
    assert not out.any()
    raw = np.empty(16, np.uint8)  # the device words' bytes: one value in the low half of each word
    dev.memcpy_dtoh(raw, d)
    assert np.array_equal(raw.view(np.uint32).astype(np.uint16).view(dtype), values)
    d2 = dev.device_array(4, dtype)
    dev.memcpy_htod(d2, raw)
    assert np.array_equal(d2.copy_to_host(), values)


def test_out_of_memory_says_what_holds_the_memory_and_what_to_do():
    dev = ws.Device(ws.WaferSpec(width=8, height=8, global_bytes=4096))
    kept = []
    with pytest.raises(ws.OutOfMemoryError) as info:
        for _ in range(100):  # each dropped array keeps its memory (as cudaMalloc's): 800 bytes, 1,024 taken
            x = dev.device_array(200)
            kept.append(x.address)
    err = info.value
    n_live = len(dev.arrays())
    assert n_live == len(kept) == 3 and err.live_allocations == n_live
    assert err.requested == 800 and err.capacity == 4096
    text = str(err)
    assert f"{n_live} live allocations hold {n_live * 800:,} bytes" in text
    assert "arr.free()" in text and "global_bytes" in text
    for arr in dev.arrays().values():  # freed, the same loop never runs out
        arr.free()
    for _ in range(100):
        dev.device_array(200).free()
    assert dev.arrays() == {}


def test_device_objects_refuse_pickling_with_what_to_keep_instead(dev):
    import copy
    import pickle

    d = dev.to_device(np.arange(4, dtype=np.float32))
    for obj, advice in [(d, "copy_to_host"), (d.pointer, "memcpy_dtoh"), (dev, "dev.save"),
                        (dev.stream(), "dev.save"), (dev.event(), "dev.save")]:
        for copier in (pickle.dumps, copy.deepcopy):
            with pytest.raises(ws.ArgumentTypeError, match="cannot be pickled") as info:
                copier(obj)
            assert advice in str(info.value)
    for obj in (dev, dev.stream()):  # no shallow copy of these: the message says copied, not deep-copied
        with pytest.raises(ws.ArgumentTypeError, match="cannot be pickled or copied: .*dev.save"):
            copy.copy(obj)
    alias = copy.copy(d)  # a shallow copy is another handle to the same memory
    assert alias is not d and alias.address == d.address and alias.shape == d.shape
    dev.memcpy_htod(alias, np.array([9, 8, 7, 6], np.float32))
    assert d.copy_to_host().tolist() == [9, 8, 7, 6]


def test_a_copy_of_the_wrong_dtype_or_shape_says_what_to_write(dev):
    d = dev.device_array((6, 8))
    host = np.arange(48, dtype=np.float64).reshape(6, 8)
    with pytest.raises(ws.LaunchError, match=r"host\.astype\(np\.float32\)"):
        d.copy_to_device(host)
    with pytest.raises(ws.LaunchError, match=r"host\.reshape\(\(6, 8\)\)"):
        d.copy_to_device(host.astype(np.float32).reshape(48))
    with pytest.raises(ws.LaunchError, match="shapes must match"):
        d.copy_to_device(np.zeros(5, np.float32))
    with pytest.raises(ws.LaunchError, match=r"np\.empty\(\(6, 8\), np\.float32\)"):
        d.copy_to_host(np.empty((6, 8), np.float64))
    d.copy_to_device(host.astype(np.float32))  # the advice works
    assert np.array_equal(d.copy_to_host(), host)


def test_device_event_takes_no_options(dev):
    with pytest.raises(ws.ArgumentTypeError, match="timing"):
        dev.event(timing=True)


def test_an_array_of_another_device_says_which_device_the_launch_runs_on_and_how_to_copy():
    """Was "argument 0 (out): the pointer 0x... belongs to another device": a launch on a stream of `other`
    with this device's array named no cause. The copy it suggests launches, and gives NumPy's result."""
    @ws.jit
    def twice(x, out):
        i = ws.grid(1)
        out[i] = x[i] * 2.0

    dev, other = (ws.Device(ws.WaferSpec(width=8, height=8)) for _ in range(2))
    host = np.arange(4, dtype=np.float32)
    x, out = dev.to_device(host), dev.device_array(4)
    for launch in (lambda: twice[1, 4, other.stream()](x, out), lambda: twice[1, 4](other.to_device(host), out)):
        with pytest.raises(ws.InvalidPointerError, match=r"is a device array of another Device than the one this "
                                                         r"launch runs on \(its stream's device, .*copy it over, "
                                                         r"dev.to_device\(arr.copy_to_host\(\)\)"):
            launch()
    twice[1, 4](other.to_device(host), other.to_device(out.copy_to_host()))  # copied over: runs
    twice[1, 4](dev.to_device(other.to_device(host).copy_to_host()), out)
    np.testing.assert_array_equal(out.copy_to_host(), host * 2)


@pytest.mark.parametrize("device_dtype, host", [(np.float32, np.ones(2)), (np.float32, np.arange(2)),
                                               (np.int32, np.ones(4, np.float32)), (np.int32, np.float64(1.0))])
def test_a_raw_copy_between_a_device_array_and_a_host_array_of_another_dtype_is_refused(dev, device_dtype, host):
    """memcpy_htod(d, np.ones(2)) into a float32 d read back [0.0, 1.875, 0.0, 1.875]: the float64 bytes,
    reinterpreted, where copy_to_device refuses the dtype. Refused both ways; nothing is written."""
    d = dev.to_device(np.arange(4).astype(device_dtype))
    with pytest.raises(ws.ArgumentError, match=rf"memcpy_htod: a raw copy between a device array of "
                                               rf"{np.dtype(device_dtype)} and a host array of {host.dtype} would "
                                               rf"reinterpret the bytes"):
        dev.memcpy_htod(d, host)
    with pytest.raises(ws.ArgumentError, match=r"memcpy_dtoh: .*d.copy_to_host\(\)"):
        dev.memcpy_dtoh(np.empty(np.shape(host), host.dtype), d)
    np.testing.assert_array_equal(d.copy_to_host(), np.arange(4).astype(device_dtype))
    bits = np.empty(4, np.uint32)  # raw bits on purpose: an unsigned-integer host array, or a DevicePointer
    dev.memcpy_dtoh(bits, d)
    assert bits.tolist() == np.arange(4).astype(device_dtype).view(np.uint32).tolist()
    dev.memcpy_htod(d, np.arange(4).astype(device_dtype)[::-1].copy().view(np.uint8))
    dev.memcpy_htod(d.pointer, np.arange(4).astype(device_dtype)[::-1].copy())
    np.testing.assert_array_equal(d.copy_to_host(), np.arange(4).astype(device_dtype)[::-1])


def test_a_raw_copy_into_a_big_endian_host_array_names_its_dtype_not_the_native_one(dev):
    """memcpy_dtoh into a '>f4' host array said to convert with .astype(np.float32), the device's own dtype
    (a big-endian dtype's `name` is 'float32'): the advice names np.dtype('>f4'), which converts to it."""
    d = dev.to_device(np.arange(4, dtype=np.float32))
    host = np.empty(4, ">f4")
    with pytest.raises(ws.ArgumentError, match=r"then \.astype\(np\.dtype\('>f4'\)\) on the host") as info:
        dev.memcpy_dtoh(host, d)
    assert "astype(np.float32)" not in str(info.value)
    converted = d.copy_to_host().astype(np.dtype(">f4"))  # the advice, as written, gives the host's dtype
    assert converted.dtype == host.dtype and converted.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_dev_launch_takes_a_jit_kernel_as_its_message_said(dev):
    """dev.launch(kernel, grid, block, args) with a @ws.jit kernel was refused with "expected a Program
    (ws.assemble) or a @ws.jit kernel, got Dispatcher"; it now compiles for the arguments and launches on dev,
    on the stream given, with the options given."""
    @ws.jit
    def axpy(x, out, a, trace=0):
        i = ws.grid(1)
        out[i] = a * x[i] + out[i] + trace

    host = np.arange(8, dtype=np.float32)
    x, out = dev.to_device(host), dev.to_device(np.ones(8, np.float32))
    s = dev.stream()
    stats = dev.launch(axpy, 1, 8, [x, out, 2.5], stream=s, max_cycles=10**6)
    np.testing.assert_array_equal(out.copy_to_host(), np.float32(2.5) * host + 1)
    assert dev.last_launch is stats and s.log[-1][0] == "launch axpy"
    with pytest.raises(ws.LaunchError, match="is the launch option trace, not the kernel's parameter trace"):
        dev.launch(axpy, 1, 8, [x, out, 2.5], trace=True)
    dev.launch(ws.Kernel(axpy.compile_for(x, out, 2.5).program), 1, 8, [x, 8, out, 8, 2.5, 0])  # argument words
    np.testing.assert_array_equal(out.copy_to_host(), np.float32(2.5) * host * 2 + 1)


@ws.jit
def store_options(out, print_output=7, max_cycles=5):
    out[0] = print_output
    out[1] = max_cycles


@pytest.mark.parametrize("options", [{"print_output": True}, {"print_output": False}, {"max_cycles": None},
                                     {"max_cycles": 10**6}])
@pytest.mark.parametrize("path", ["dev.launch", "kernel[grid, block]"])
def test_both_launch_paths_refuse_an_option_named_like_a_parameter_left_out(dev, path, options):
    """dev.launch(k, g, b, (out,), print_output=True) ran with the kernel seeing its default 7 (an option
    given with its default value was taken for no option), while k[g, b](out, print_output=True) was refused:
    both are refused alike now, by the option's name, whatever its value. Nothing runs."""
    out = dev.to_device(np.array([-1, -1], np.int32))
    name = next(iter(options))
    with pytest.raises(ws.LaunchError, match=rf"{name}=.* is the launch option {name}, not the kernel's parameter "
                                             rf"{name}, which the launch left out") as info:
        if path == "dev.launch":
            dev.launch(store_options, 1, 1, (out,), **options)
        else:
            store_options[1, 1](out, **options)
    assert info.value.parameter == name and out.copy_to_host().tolist() == [-1, -1] and not dev.launches


def test_dev_launch_passes_a_jit_kernel_the_options_given_by_position_or_name(dev):
    """Options given by position (dev.launch's signature) reach the jit kernel as by name; with the parameters
    given by position, the kernel sees the values as Python would pass them."""
    out = dev.to_device(np.array([-1, -1], np.int32))
    with pytest.raises(ws.LaunchError, match="max_cycles=1000000 at the launch of store_options.* is the launch "
                                             "option max_cycles"):
        dev.launch(store_options, 1, 1, (out, 3), None, 10**6)  # (stream, max_cycles)
    stats = dev.launch(store_options, 1, 1, (out, 3, 9), None, 10**6, False, trace=True)
    assert out.copy_to_host().tolist() == [3, 9] and stats.trace is not None and dev.launches == [stats]
    with pytest.raises(ws.ArgumentTypeError, match="unexpected keyword argument 'zzz'"):
        dev.launch(store_options, 1, 1, (out, 3, 9), zzz=1)


@pytest.mark.parametrize("bare", ["int", "device array", "pointer", "None"])
def test_dev_launch_with_one_bare_argument_says_to_wrap_it_in_a_tuple(dev, bare):
    """dev.launch(k, g, b, 5) was Python's TypeError "'int' object is not iterable" (no WaferError) and
    dev.launch(k, g, b, d) "device arrays cannot be iterated"; the jit and the Program paths alike. The
    advice works: the same argument in a tuple runs."""
    @ws.jit
    def fill(out):
        out[ws.grid(1)] = 7

    out = dev.to_device(np.zeros(4, np.int32))
    value = {"int": 5, "device array": out, "pointer": out.pointer, "None": None}[bare]
    program = ws.Kernel(fill.compile_for(out).program).program
    for kernel in (fill, program):
        with pytest.raises(ws.ArgumentTypeError, match=r"launch: args is the sequence of the kernel's arguments "
                                                       r"\(a tuple or list\), got .*dev.launch\(kernel, grid, "
                                                       r"block, \(x,\)\)"):
            dev.launch(kernel, 1, 4, value)
    dev.launch(fill, 1, 4, (out,))
    assert out.copy_to_host().tolist() == [7] * 4


@pytest.mark.parametrize("name, target", [("float8_e4m3fn", np.float32), ("int4", np.int32)])
def test_an_ml_dtypes_type_device_memory_does_not_hold_says_what_to_convert_to(dev, name, target):
    """Was "device memory holds numbers, not dtype float8_e4m3fn", of a number type; what it says to do works."""
    import ml_dtypes

    host = np.array([1.5, -2.0, 3.0], dtype=getattr(ml_dtypes, name))
    with pytest.raises(ws.ArgumentTypeError, match=rf"not dtype {name}: convert it on the host first, "
                                                   rf"host.astype\(np.{np.dtype(target).name}\)"):
        dev.to_device(host)
    with pytest.raises(ws.ArgumentTypeError, match=rf"not dtype {name}: make it np.{np.dtype(target).name}"):
        dev.device_array(3, host.dtype)
    np.testing.assert_array_equal(dev.to_device(host.astype(target)).copy_to_host(), host.astype(target))
    with pytest.raises(ws.ArgumentTypeError, match=r"holds NumPy's numeric dtypes, float16 and bfloat16, not dtype "
                                                   r"<U1$"):
        dev.to_device(np.array(["a"]))


def test_a_devices_spec_cannot_be_assigned():
    """`dev.spec = other` was a plain attribute: later launches compiled and timed for the new machine while the
    device memory kept the old capacity (an 8 KiB device went on refusing a 16 KiB array the new spec allows)."""
    dev = ws.Device(ws.WaferSpec(width=8, height=8, global_bytes=8192))
    with pytest.raises(ws.ArgumentTypeError, match=r"a Device's spec cannot be changed: make a new ws.Device\(spec\)"):
        dev.spec = ws.WaferSpec(width=4, height=4, global_bytes=2**20)
    assert (dev.spec.width, dev.spec.global_bytes) == (8, 8192)
    with pytest.raises(ws.OutOfMemoryError):  # the machine it has: 8 KiB
        dev.device_array(4096)
