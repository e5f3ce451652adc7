"""Host runtime: the CUDA-like API of wafersim."""
from .current import (device_array, device_array_like, event, get_current_device, init, select_device, stream,
                      synchronize, to_device)
from .device import (ConfiguredKernel, Device, DeviceArray, DevicePointer, Event, Kernel, Stream,
                     event_elapsed_time)

__all__ = ["ConfiguredKernel", "Device", "DeviceArray", "DevicePointer", "Event", "Kernel", "Stream",
           "device_array", "device_array_like", "event", "event_elapsed_time", "get_current_device", "init",
           "select_device", "stream", "synchronize", "to_device"]
