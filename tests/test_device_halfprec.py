"""16-bit float device arrays (runtime/device.py with isa/halfprec.py): one value per 32-bit word of device
memory, converted at the host boundary both ways, so kernels address them as they address float32; and a
16-bit local array read back from a kept launch state.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import wafersim as ws

KINDS = [np.float16, ml_dtypes.bfloat16]


@pytest.mark.parametrize("dtype", KINDS, ids=["float16", "bfloat16"])
def test_round_trip_and_word_per_element_storage(dtype):
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    host = (np.arange(-6, 6) * 0.3).astype(dtype).reshape(3, 4)
    d = dev.to_device(host)
    assert d.dtype == np.dtype(dtype) and d.nbytes == 4 * host.size
    back = d.copy_to_host()
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.view(np.uint16), host.view(np.uint16))
    words = np.empty(host.size, np.uint32)  # the raw device words: bits in the low half, high half zero
    dev.memcpy_dtoh(words, d.pointer)
    assert words.tolist() == host.reshape(-1).view(np.uint16).astype(np.uint32).tolist()
    d.copy_to_device(-host)
    np.testing.assert_array_equal(d.copy_to_host().view(np.uint16), (-host).view(np.uint16))
    with pytest.raises(ws.LaunchError, match="does not match"):
        d.copy_to_device(host.astype(np.float32))
    zeros = dev.device_array((2, 2), dtype)
    np.testing.assert_array_equal(zeros.copy_to_host(), np.zeros((2, 2), dtype))


def test_a_16_bit_local_array_reads_back_from_the_kept_state():
    dev = ws.Device(ws.WaferSpec(width=1, height=1))

    @ws.jit
    def fill(out):
        t = ws.local.array(4, ml_dtypes.bfloat16)
        t[0:4] = 1.5
        t[1] = 3.0
        out[0:4] = t[0:4]

    stats = fill[(1, 1), (1, 1)](dev.device_array(4, ml_dtypes.bfloat16), keep_state=True)
    t = stats.state.read_local("t", (0, 0))
    assert t.dtype == np.dtype(ml_dtypes.bfloat16)
    assert t.tolist() == [1.5, 3.0, 1.5, 1.5]


def test_16_bit_arrays_survive_save_and_load(tmp_path):
    dev = ws.Device(ws.WaferSpec(width=2, height=2))
    arrays = {name: dev.to_device(np.linspace(-2, 2, 5).astype(dtype)) for name, dtype in
              (("h", np.float16), ("b", ml_dtypes.bfloat16))}
    loaded = ws.Device.load(dev.save(tmp_path / "dev.npz", arrays=arrays)).arrays()
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name].copy_to_host(), array.copy_to_host())
