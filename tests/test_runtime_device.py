"""Tests of device arrays and device memory from the host (runtime/device.py): freed handles, shapes,
conversions and the errors of misuse."""
from __future__ import annotations

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
