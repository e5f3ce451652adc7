"""The current device, and module-level helpers that act on it (like `numba.cuda`)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..arch.spec import WaferSpec
from ..errors import ArgumentError
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


#: Heap `init` touches and frees ahead of the first launch by default (`hostmem.reserve_heap`), in MiB: most of
#: the per-PE state a whole-wafer (757 x 996) launch maps fresh. At most an eighth of the available memory.
INIT_HEAP_MIB = 384


def init(heap_mib: float = INIT_HEAP_MIB) -> float:
    """Start the engine now, like CUDA's context creation: import Numba, load its machine code for the
    compiled path (`wafersim.sim.compiled.startup`: the registries, and every engine function a launch calls
    that Numba's cache holds), and do the process's other once-only work of a first launch (the compiler's
    version hash that the kernel cache keys on, the regular expressions Python reads a kernel's source with,
    the allocator's tuning, a tiny launch of its own: `warm_up_launch`), which the first launch would
    otherwise do -- about 0.5-0.9 s per process on the reference VM, most of a small first launch.

    Then, as a CUDA context reserves device memory, it touches `heap_mib` MiB of the process's heap once and
    frees it (`hostmem.reserve_heap`; at most an eighth of the available memory, once per process; 0: none),
    which launches then reuse instead of page-faulting fresh memory in: a whole-wafer all-reduce's first
    launch faults ~25,000 pages instead of ~95,000 (0.33-0.35 s of CPU instead of 0.41 s on the reference VM;
    warm 0.28 s). It costs ~0.1-0.15 s more in this call, and the process's resident memory grows by that
    much at once (a launch needing as much does not grow it again).

    Optional: launches start the engine themselves when they need it, and calling it does not make anything
    faster overall, it only moves that time out of the first launch (into this call). Returns the seconds it
    took (microseconds when already started). docs/engine-strategies.md, "First launches", has the
    measurements."""
    import time

    from ..sim.compiled.startup import start
    from ..sim.hostmem import available_bytes, reserve_heap, tune_allocator
    from .kernel_cache import compiler_version, warm_up

    if isinstance(heap_mib, bool) or not isinstance(heap_mib, (int, float)) or not heap_mib >= 0:
        raise ArgumentError(f"init(heap_mib={heap_mib!r}): heap_mib must be a number of MiB >= 0 (0: reserve none)",
                            heap_mib=heap_mib)
    began = time.perf_counter()
    start()
    compiler_version()
    warm_up()
    tune_allocator()
    warm_up_launch()
    available = available_bytes()
    reserve_heap(int(min(heap_mib * 2**20, available // 8 if available is not None else float("inf"))))
    return time.perf_counter() - began


#: The launch `init` runs on a private 4 x 2 wafer (`warm_up_launch`): a global load, float arithmetic, a word
#: passed east along the row, a global store -- out[y, x] = sum of 2 * a[y, k] + 1 over k <= x.
WARM_UP_SOURCE = """
.name wafersim-init
.args 3
    arg r1, 0
    arg r4, 1
    arg r5, 2
    sreg r7, tid.x
    sreg r8, tid.y
    sreg r9, bdim.x
    mul r10, r8, r9
    add r10, r10, r7
    shli r10, r10, 2
    add r11, r1, r10
    gld r2, r11, 0
    li r3, 0x40000000
    fmul r2, r2, r3
    li r3, 0x3f800000
    fadd r2, r2, r3
    slt r3, r0, r7
    bz r3, first
    recv.f32 r3, west, 0
    fadd r2, r2, r3
first:
    addi r3, r9, -1
    slt r3, r7, r3
    bz r3, last
    send.f32 east, 0, r2
last:
    add r12, r4, r10
    gst r2, r12, 0
    halt
"""
_warmed_up = False


def warm_up_launch() -> np.ndarray | None:
    """Run `WARM_UP_SOURCE` once per process (`init`), straight on the engine: a launch's process-wide first
    uses, whatever the kernel -- Numba's lookups of the types of the arrays the engine passes its compiled
    functions, and the like (~1-1.5 ms of a small first launch on the reference VM, a one-row scan's ~5 ms).
    No device, stream, profiler or launch list sees it. Returns its output (None when already run)."""
    global _warmed_up
    if _warmed_up:
        return None
    from ..isa.assembler import assemble
    from ..sim.engine import Launch

    _warmed_up = True
    device = Device(WaferSpec(width=4, height=2))
    values = device.to_device(np.arange(8, dtype=np.float32).reshape(2, 4))
    out = device.device_array((2, 4), np.float32)
    words = [device.kernel_argument(values, 0), device.kernel_argument(out, 1), 4]
    Launch(assemble(WARM_UP_SOURCE), device.spec, (1, 1), (4, 2), words, device.memory).run()
    return out.copy_to_host()


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
