"""sim/memory.py: an address outside every allocation is described by its neighbours on both sides, so a
negative offset from an array's base (an index of -1) names that array, not only the one below it."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws


@pytest.mark.parametrize("offset", [-4, -200])
def test_an_address_below_an_array_names_the_allocation_above_it(offset):
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    below, target = dev.device_array(4, np.int32), dev.device_array(4, np.int32)
    program = ws.assemble(f".args 1\narg r30, 0\nli r1, 5\ngst r1, r30, {offset}\nhalt\n")
    with pytest.raises(ws.MemoryAccessError) as info:
        ws.Kernel(program)[1, 1](target)
    address = target.address + offset
    assert address >= below.address + below.nbytes  # (in the gap between the two)
    assert (f"address 0x{address:x} is {address - below.address - below.nbytes} bytes past the end of the "
            f"allocation at 0x{below.address:x} (16 bytes), and {-offset} bytes before the allocation at "
            f"0x{target.address:x} (16 bytes)") in str(info.value)


def test_an_address_past_the_last_array_names_only_the_one_below():
    dev = ws.Device(ws.WaferSpec(width=1, height=1))
    target = dev.device_array(4, np.int32)
    program = ws.assemble(".args 1\narg r30, 0\nli r1, 5\ngst r1, r30, 16\nhalt\n")
    with pytest.raises(ws.MemoryAccessError) as info:
        ws.Kernel(program)[1, 1](target)
    assert str(info.value).startswith(f"gst of 4 bytes: address 0x{target.address + 16:x} is 0 bytes past the end "
                                      f"of the allocation at 0x{target.address:x} (16 bytes): PE (0, 0)")
