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
