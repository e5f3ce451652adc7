"""What every library host function shares: a device just large enough for the problem, and device
arrays that live only as long as the call.

Host functions accept a user's `device`; their arrays are freed when the call returns, so that a loop of
thousands of calls on one device (a training run, a benchmark) does not fill its memory.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..arch.spec import WaferSpec
from ..errors import ArgumentError
from ..runtime.device import Device, DeviceArray, device_words


def fitting_device(width: int, height: int) -> Device:
    """A device whose wafer is exactly `width` x `height` PEs (the default of most host functions)."""
    return Device(WaferSpec(width=width, height=height))


class Scratch:
    """Device arrays of one host function, freed when its `with` block ends:

        with Scratch(device, stream) as mem:
            d_x, d_y = mem.put(x), mem.empty(x.shape)
            ...launch...
            return mem.get(d_y)
    """

    def __init__(self, device: Device, stream: Any = None) -> None:
        self.device, self.stream = device, stream
        self.arrays: list[DeviceArray] = []

    def put(self, array: np.ndarray) -> DeviceArray:
        """A device copy of `array`."""
        self.arrays.append(self.device.to_device(array, stream=self.stream))
        return self.arrays[-1]

    def put_as(self, array: np.ndarray, shape: Any) -> DeviceArray:
        """A device array of `shape` holding `array`'s elements in C order: a strided view (a transpose) is
        copied once, straight into device memory, where `put(np.ascontiguousarray(...))` would make a host
        copy first (at wafer scale, hundreds of MiB of fresh memory)."""
        if int(np.prod(shape, dtype=np.int64)) != array.size:
            raise ArgumentError(f"put_as: {array.size} elements do not make a {shape} array")
        out = self.empty(shape, array.dtype)
        self.device.memcpy_htod(out.pointer, device_words(array), stream=self.stream)
        return out

    def empty(self, shape: Any, dtype: Any = np.float32) -> DeviceArray:
        """A zero-filled device array."""
        self.arrays.append(self.device.device_array(shape, dtype))
        return self.arrays[-1]

    def get(self, array: DeviceArray) -> np.ndarray:
        """`array` copied to the host."""
        return array.copy_to_host(stream=self.stream)

    def __enter__(self) -> "Scratch":
        return self

    def __exit__(self, *exc: object) -> None:
        for array in self.arrays:
            if not array.is_freed:
                array.free()
