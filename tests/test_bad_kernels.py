"""Bad kernels and bad launches fail loudly, with the array, the index, the PE and the source line."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from conftest import line_of


@ws.jit
def read_1d(out, k):
    i = ws.grid(1)
    out[i] = out[i + k]  # MARK-1d


@ws.jit
def read_2d(u, out, dx):
    x, y = ws.grid(2)
    out[y, x] = u[y, x + dx]  # MARK-2d


@ws.jit
def local_index(out, k):
    buf = ws.local.array(8, np.float32)
    other = ws.local.array(8, np.float32)
    other[0] = 1.0
    buf[k] = 2.0  # MARK-local
    out[0] = other[0]


@ws.jit
def local_slice(out, k):
    buf = ws.local.array(8, np.float32)
    buf[k:k + 4] = 1.0  # MARK-slice
    out[0] = buf[0]


@ws.jit
def global_row(u, out, a, n):
    buf = ws.local.array(16, np.float32)
    buf[0:n] = u[0, a:a + n]  # MARK-row
    out[0, 0] = buf[0]


@ws.jit(boundscheck=False)
def unchecked_2d(u, out, dx):
    x, y = ws.grid(2)
    out[y, x] = u[y, x + dx]


def device():
    return ws.Device(ws.WaferSpec(width=8, height=8))


def test_global_index_past_a_1d_array():
    dev = device()
    out = dev.to_device(np.zeros(4, np.float32))
    read_1d[(1, 1), (4, 1)](out, 0)  # in bounds: fine
    with pytest.raises(ws.MemoryAccessError) as info:
        read_1d[(1, 1), (4, 1)](out, 1)
    err = info.value
    assert err.index == 4 and err.size == 4 and err.pe == (3, 0) and err.pes == [(3, 0)]
    assert err.source == (__file__, line_of(read_1d, "MARK-1d"))
    assert "out axis 0: index 4 is out of bounds for size 4" in str(err)


def test_global_column_past_the_row_is_caught_even_inside_the_allocation():
    dev = device()
    u = dev.to_device(np.arange(16, dtype=np.float32).reshape(4, 4))
    out = dev.device_array((4, 4))
    with pytest.raises(ws.MemoryAccessError) as info:
        read_2d[(1, 1), (4, 4)](u, out, 1)  # x + 1 = 4 on the last column: the next row's first element
    err = info.value
    assert "u axis 1" in str(err) and err.index == 4 and err.size == 4
    assert {pe[0] for pe in err.pes} == {3} and len(err.pes) == 4
    # Without bounds checks the same kernel reads the next row silently -- the reason they are on by default.
    unchecked_2d[(1, 1), (4, 3)](u, out, 1)  # rows 0..2: the stray reads stay inside the allocation
    assert out.copy_to_host()[0, 3] == 4.0


@ws.jit(boundscheck=False)
def unchecked_read(x, out, k):
    out[0] = x[k]


@ws.jit(boundscheck=False)
def unchecked_write(a, k):
    a[ws.grid(1) + k] = 9.0


def test_without_bounds_checks_what_the_simulator_cannot_see_is_as_documented():
    """docs/getting-started.md, `MemoryAccessError`: without bounds checks an index that lands in the wrong
    array is not caught (C's behaviour): a byte offset past 2**32 wraps in 32-bit address arithmetic
    (x[2**30] is x[0], x[2**30 + 2] is x[2]), and a write past one array can fill the next one; an access
    outside every allocation still raises."""
    dev = device()
    x = np.arange(6, dtype=np.float32) + 10
    d_x, out = dev.to_device(x), dev.device_array(1)
    for k, expected in ((2**30, x[0]), (2**30 + 2, x[2]), (-(2**30) + 3, x[3])):
        unchecked_read[1, 1](d_x, out, k)
        assert out.copy_to_host()[0] == expected
    a, b = dev.device_array(8), dev.device_array(8)
    unchecked_write[1, 8](a, (b.address - a.address) // 4)
    assert np.array_equal(b.copy_to_host(), np.full(8, 9.0, np.float32))
    assert np.array_equal(a.copy_to_host(), np.zeros(8, np.float32))
    with pytest.raises(ws.MemoryAccessError, match="past the end of the allocation"):
        unchecked_write[1, 8](b, 1)


def test_local_index_past_its_array_but_inside_sram():
    dev = device()
    out = dev.device_array(1)
    local_index[(1, 1), (1, 1)](out, 7)
    assert out.copy_to_host()[0] == 1.0
    with pytest.raises(ws.MemoryAccessError) as info:
        local_index[(1, 1), (1, 1)](out, 8)  # would overwrite `other`
    assert "buf axis 0: index 8 is out of bounds for size 8" in str(info.value)
    assert info.value.source == (__file__, line_of(local_index, "MARK-local"))


def test_run_time_negative_index_says_it_does_not_count_from_the_end():
    # (a new user's stencil read u0[y, x - 1] at x = 0 expecting Python's wrap-around; the message says why not)
    dev = device()
    out = dev.device_array(1)
    with pytest.raises(ws.MemoryAccessError) as info:
        local_index[(1, 1), (1, 1)](out, -1)
    assert ("buf axis 0: index -1 is out of bounds for size 8 (a negative index computed at run time does not "
            "count from the end)") in str(info.value)
    with pytest.raises(ws.MemoryAccessError) as info:
        local_index[(1, 1), (1, 1)](out, 8)
    assert "count from the end" not in str(info.value)


@pytest.mark.parametrize("k,ok", [(0, True), (4, True), (5, False), (-1, False)])
def test_local_slice_bounds(k, ok):
    dev = device()
    out = dev.device_array(1)
    if ok:
        local_slice[(1, 1), (1, 1)](out, k)
        return
    with pytest.raises(ws.MemoryAccessError, match="buf slice"):
        local_slice[(1, 1), (1, 1)](out, k)


def test_global_row_slice_bounds():
    dev = device()
    u = dev.to_device(np.arange(32, dtype=np.float32).reshape(2, 16))
    out = dev.device_array((1, 1))
    global_row[(1, 1), (1, 1)](u, out, 12, 4)
    assert out.copy_to_host()[0, 0] == 12.0
    with pytest.raises(ws.MemoryAccessError) as info:
        global_row[(1, 1), (1, 1)](u, out, 13, 4)
    assert "u row slice end 17 is outside 0..16" in str(info.value)  # (the row's size, not the check's size + 1)
    assert info.value.size == 16 and info.value.index == 17


@ws.jit
def copy_lengths(x, out, a, b, n):
    buf = ws.local.array(8, np.float32)
    c = ws.local.array(8, np.float32)
    buf[0:8] = x[0:8]
    c[0:n] = buf[a:b]
    out[0] = c[0]


@pytest.mark.parametrize("a, b, n, message", [
    (1, 5, 3, "a slice of buf and the destination slice of c have different lengths"),  # 4 into 3
    (3, 12, 9, "buf slice end 12 is outside 0..8"),  # (the array's size, 8: not the check's size + 1)
    (-1, 3, 4, "buf slice start -1 is outside 0..8"),
])
def test_run_time_slice_errors_name_the_sizes(a, b, n, message):
    dev = device()
    x, out = dev.to_device(np.arange(8, dtype=np.float32)), dev.device_array(1)
    copy_lengths[(1, 1), (1, 1)](x, out, 1, 5, 4)
    assert out.copy_to_host()[0] == 1.0
    with pytest.raises(ws.MemoryAccessError) as info:
        copy_lengths[(1, 1), (1, 1)](x, out, a, b, n)
    assert message in str(info.value)


def test_wrong_argument_count_and_types_are_launch_errors():
    dev = device()
    out = dev.device_array(4)
    with pytest.raises(ws.LaunchError) as info:
        read_1d[(1, 1), (4, 1)](out)
    assert info.value.expected == 2 and info.value.given == 1 and "read_1d(out, k)" in str(info.value)
    with pytest.raises(ws.LaunchError, match="copy it to the device first"):
        read_1d[(1, 1), (4, 1)](np.zeros(4, np.float32), 0)
    with pytest.raises(ws.LaunchError, match="unsupported type str"):
        read_1d[(1, 1), (4, 1)](out, "1")
    with pytest.raises(ws.LaunchError, match="float32 or int32"):
        read_1d[(1, 1), (4, 1)](dev.device_array(4, np.float64), 0)


@ws.jit
def divide(out, a, b):
    out[0] = a // b  # MARK-div
    out[1] = a % b


def test_integer_division_by_zero_stops_the_kernel():
    dev = device()
    out = dev.device_array(2, np.int32)
    divide[(1, 1), (1, 1)](out, -7, 2)
    assert list(out.copy_to_host()) == [-7 // 2, -7 % 2]  # Python's floor semantics
    with pytest.raises(ws.KernelZeroDivisionError) as info:
        divide[(1, 1), (1, 1)](out, 7, 0)
    err = info.value
    assert isinstance(err, ZeroDivisionError) and err.pe == (0, 0)
    assert err.source == (__file__, line_of(divide, "MARK-div")) and err.instruction.startswith("chk ")


@ws.jit(boundscheck=False)
def unchecked_python_errors(out, xs, k, start, stop, step):
    i = ws.grid(1)
    out[i, 0] = xs[i] // k
    out[i, 1] = xs[i] % k
    out[i, 2] = xs[i] << k
    out[i, 3] = xs[i] >> k
    trips = 0
    for _ in range(start, stop, step):
        trips += 1
        if trips == 5:
            break
    out[i, 4] = trips


def _wrap32(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def test_without_bounds_checks_what_python_raises_for_gives_the_documented_values():
    """docs/python-supported.md, `boundscheck=False`: the checks that stop a kernel where Python raises go with
    the bounds checks, and the machine's instructions (docs/isa.md: `div` by 0 gives -1, `rem` by 0 its dividend,
    shifts use the count's low five bits) give: `x // 0` is -1 for x >= 0 and -2 below (the floor fix-up of -1
    and a remainder x of the divisor's other sign), `x % 0` is x; a negative shift count k shifts by k & 31; a
    zero range step runs no trip where start <= stop and never stops counting otherwise (here a `break`)."""
    dev = device()
    xs = np.array([0, 1, 7, -1, -7, 2**31 - 1, -2**31, 5], np.int32)
    d_xs, out = dev.to_device(xs), dev.device_array((8, 5), np.int32)
    for k, (start, stop) in ((0, (0, 3)), (0, (3, 0)), (-1, (0, 0)), (-5, (1, 0)), (-32, (0, 1)), (-33, (2, 2))):
        unchecked_python_errors[1, 8](out, d_xs, k, start, stop, 0)
        got = out.copy_to_host()
        for x, row in zip(xs.tolist(), got.tolist()):
            if k == 0:
                want = [-1 if x >= 0 else -2, x]
            else:  # a negative count: Python raises; the machine shifts by its low five bits
                want = [_wrap32(x // k), x % k]
            want += [_wrap32(x << (k & 31)), x >> (k & 31), 0 if start <= stop else 5]
            assert row == want, (x, k, start, stop)


def test_errors_carry_the_instruction_and_the_array():
    dev = device()
    out = dev.to_device(np.zeros(4, np.float32))
    with pytest.raises(ws.MemoryAccessError) as info:
        read_1d[(1, 1), (4, 1)](out, 2)
    err = info.value
    assert err.array == "out" and err.instruction.startswith("chk ") and err.block_index == (0, 0)
    assert err.pes == [(2, 0), (3, 0)] and err.pe_count == 2


@ws.jit
def every_pe_reads_past(out, n):
    x, y = ws.grid(2)
    out[x + y * 8 + n] = 1.0


def test_an_error_of_many_pes_lists_eight_and_counts_them_all():
    """`err.pes` names the first 8 failing PEs (the message says how many more); `pe_count` counts them all:
    64 PEs, each writing past the end (the reference: every PE of the 8 x 8 block)."""
    dev = device()
    out = dev.to_device(np.zeros(64, np.float32))
    with pytest.raises(ws.MemoryAccessError) as info:
        every_pe_reads_past[(1, 1), (8, 8)](out, 64)
    err = info.value
    assert err.pe_count == 64 and err.pes == [(x, 0) for x in range(8)] and "(and 56 more)" in str(err)
    assert err.fields["pe_count"] == 64


@pytest.mark.parametrize("failure", ["boundary", "deadlock", "bounds", "cycles", "host_memory"])
def test_a_failed_launch_leaves_streams_memory_and_history_as_they_were(failure, monkeypatch):
    dev = device()
    s = dev.stream()
    data = np.arange(16, dtype=np.float32)
    keep = dev.to_device(data, stream=s)
    out = dev.to_device(np.zeros(4, np.float32))
    before = (s.time, len(s.log), dev.memory.used_bytes, len(dev.launches))
    bad = {
        "boundary": lambda: dev.launch(ws.assemble("send east, 0, r0\nhalt\n"), 1, (4, 1), stream=s),
        "deadlock": lambda: dev.launch(ws.assemble("hasnb r1, east\nbz r1, d\nrecv r2, east, 0\nd:\nhalt\n"), 1,
                                       (2, 1), stream=s),
        "bounds": lambda: read_1d[(1, 1), (4, 1), s](out, 3),
        "cycles": lambda: dev.launch(ws.assemble("l:\njmp l\n"), 1, 1, stream=s, max_cycles=500),
        "host_memory": lambda: (monkeypatch.setenv("WAFERSIM_HOST_MEMORY", "1000"),
                                read_1d[(1, 1), (4, 1), s](out, 0)),
    }[failure]
    with pytest.raises(ws.WaferError):
        bad()
    monkeypatch.delenv("WAFERSIM_HOST_MEMORY", raising=False)
    assert (s.time, len(s.log), dev.memory.used_bytes, len(dev.launches)) == before
    np.testing.assert_array_equal(keep.copy_to_host(), data)  # other allocations are untouched
    read_1d[(1, 1), (4, 1), s](out, 0)  # and the next launch works
    assert len(dev.launches) == 1 and s.time > before[0]


@ws.jit
def store_then_fail(out, bad):
    i = ws.grid(1)
    out[i] = 100.0 + i  # every PE stores...
    out[i] = out[i] * 2.0  # ...twice, so undoing must restore the value from before the launch
    ws.syncthreads()  # ...and all stores happen before the failing access
    if i == 0:
        out[bad] = 1.0  # bounds error when bad is out of range


def test_a_failed_launch_undoes_the_global_stores_it_made():
    dev = device()
    before = np.arange(8, dtype=np.float32) - 3.0
    out = dev.to_device(before)
    with pytest.raises(ws.MemoryAccessError):
        store_then_fail[(2, 1), (4, 1)](out, 99)
    np.testing.assert_array_equal(out.copy_to_host(), before)
    store_then_fail[(2, 1), (4, 1)](out, 7)  # the same launch, succeeding, keeps its stores
    expected = (100.0 + np.arange(8, dtype=np.float32)) * 2.0
    expected[7] = 1.0
    np.testing.assert_array_equal(out.copy_to_host(), expected)


def test_a_device_allocation_the_host_cannot_back_is_an_out_of_memory_error():
    dev = ws.Device("wse2")  # 1.5 TB of device memory, far more than this host has
    try:
        pointer = dev.malloc(1_400_000_000_000)
    except ws.OutOfMemoryError as err:  # never NumPy's raw MemoryError
        assert isinstance(err, ws.WaferError) and err.requested == 1_400_000_000_000
        assert "host" in str(err) and dev.memory.used_bytes == 0
    else:  # a host that overcommits memory backs it lazily
        dev.free(pointer)


def test_undo_blocks_nest():
    memory = device().memory
    alloc = memory.allocate(16)
    address = np.array([alloc.base], dtype=np.int64)
    with pytest.raises(RuntimeError):
        with memory.undo_on_error():
            memory.scatter_words(address, alloc.base, np.array([1], dtype=np.int32))
            with memory.undo_on_error():  # succeeds: its store is undone with the outer block's
                memory.scatter_words(address + 4, alloc.base, np.array([2], dtype=np.int32))
            with pytest.raises(ValueError), memory.undo_on_error():  # fails: only its own store is undone
                memory.scatter_words(address + 8, alloc.base, np.array([3], dtype=np.int32))
                raise ValueError
            assert list(alloc.words()) == [1, 2, 0, 0]
            raise RuntimeError
    assert list(alloc.words()) == [0, 0, 0, 0]
