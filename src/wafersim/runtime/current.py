"""The current device, and module-level helpers that act on it (like `numba.cuda`)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..arch.spec import WaferSpec
from .device import Device, DeviceArray, Event, Stream

_current: Device | None = None


def select_device(spec: WaferSpec | str | None = None) -> Device:
    """Make a new device of this spec (preset name, TOML path or WaferSpec) the current one."""
    global _current
    _current = Device(spec)
    return _current


def get_current_device() -> Device:
    """The current device (a `dev` preset device is created on first use)."""
    global _current
    if _current is None:
        _current = Device()
    return _current


def init() -> float:
    """Start the engine now, like CUDA's context creation: import Numba, load its machine code for the
    compiled path (`wafersim.sim.compiled.startup`: the registries, and every engine function a launch calls
    that Numba's cache holds), and do the process's other once-only work of a first launch (the compiler's
    version hash that the kernel cache keys on, the regular expressions Python reads a kernel's source with,
    the allocator's tuning), which the first launch would otherwise do -- about 0.5-0.9 s per process on the
    reference VM, most of a small first launch. Optional: launches start it themselves when they need it,
    and calling it does not make anything faster overall, it only moves that time out of the first launch
    (into this call). Returns the seconds it took (microseconds when already started).
    docs/timing.md, "First launches", has the measurements."""
    import time

    from ..sim.compiled.startup import start
    from ..sim.hostmem import tune_allocator
    from .kernel_cache import compiler_version, warm_up

    began = time.perf_counter()
    start()
    compiler_version()
    warm_up()
    tune_allocator()
    return time.perf_counter() - began


def synchronize() -> None:
    get_current_device().synchronize()


def to_device(array: np.ndarray, stream: Stream | None = None) -> DeviceArray:
    return get_current_device().to_device(array, stream=stream)


def device_array(shape: int | Sequence[int], dtype: Any = np.float32, stream: Stream | None = None) -> DeviceArray:
    return get_current_device().device_array(shape, dtype, stream=stream)


def stream() -> Stream:
    return get_current_device().stream()


def event() -> Event:
    return get_current_device().event()
