"""The current device, and module-level helpers that act on it (like `numba.cuda`)."""
from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from ..arch.spec import WaferSpec
from ..arch.values import is_finite_real, is_integer
from ..errors import ArgumentError, ArgumentTypeError, call_checked
from ..compiler import intrinsics as ws
from .device import Device, DeviceArray, Event, Stream
from .jit import jit

_current: Device | None = None
# Held while the current device is read or replaced: host threads whose first module-level calls
# (`ws.to_device`, `ws.stream`...) came at once each made a device of their own, and all but one of them
# lost it to the next call, so one thread's arrays and streams landed on two devices.
_current_lock = threading.Lock()


@call_checked
def select_device(spec: Device | WaferSpec | str | None = None) -> Device:
    """Make a device current and return it: `spec` an existing `Device` (as CUDA's `cudaSetDevice`), else a
    new device of this spec (preset name, TOML path or WaferSpec; default `dev`). The current device is one
    per process, shared by its host threads (CUDA's is per thread)."""
    global _current
    if is_integer(spec) or isinstance(spec, bool):
        # (Numba's cuda.select_device(0): resolve_spec said only "unknown spec '0'")
        raise ArgumentTypeError(f"select_device({spec!r}): wafersim has no device numbers; pass a Device to make it "
                                f"current (ws.select_device(dev)), or a spec for a new one (a WaferSpec, a preset "
                                f"name such as 'dev', or a TOML path)", type=type(spec).__name__)
    device = spec if isinstance(spec, Device) else Device(spec)
    with _current_lock:
        _current = device
    return device


@call_checked
def get_current_device() -> Device:
    """The current device (a `dev` preset device is created on first use, once for every thread)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Device()
        return _current


#: Heap `init` touches and frees ahead of the first launch by default (`hostmem.reserve_heap`), in MiB: most of
#: the per-PE state a whole-wafer (757 x 996) launch maps fresh. At most an eighth of the available memory.
INIT_HEAP_MIB = 384


@call_checked
def init(heap_mib: float = INIT_HEAP_MIB) -> float:
    """Start the engine now, like CUDA's context creation: import Numba, load its machine code for the
    compiled path (`wafersim.sim.compiled.startup`: its runtime, and every engine function a launch calls
    that Numba's cache holds), and do the process's other once-only work of a first launch (the compiler's
    version hash that the kernel cache keys on, the regular expressions Python reads a kernel's source with,
    the sources of the `@ws.jit` functions defined so far: `kernel_cache.warm_up`; the allocator's tuning; tiny
    launches of its own: `warm_up_launch`), which the first launch would otherwise do -- about 0.5-1 s of CPU
    per process on the reference VM, most of a small first launch.

    As a CUDA context reserves device memory, it also touches `heap_mib` MiB of the process's heap once and
    frees it (`hostmem.reserve_heap`; at most an eighth of the available memory, once per process; 0: none),
    which launches then reuse instead of page-faulting fresh memory in: a whole-wafer all-reduce's first
    launch faults ~25,000 pages instead of ~95,000 (0.35-0.37 s of CPU instead of 0.45 s on the reference VM;
    warm 0.29-0.30 s). That costs CPU in this call (384 MiB: ~0.17 s with its pages mapped by one `madvise` per 8
    MiB, `hostmem.populate_now`; ~0.29 s through `memset` on kernels before Linux 5.14), and the process's
    resident memory grows by as much at once (a launch needing as much does not grow it again). (Done before the
    warm-up launches: touching that much memory evicts the engine's code and data from the CPU's caches, which a
    small first launch would then pay for, ~0.6 ms of a one-row scan's ~4.)

    Optional: launches start the engine themselves when they need it, and calling it does not make anything
    faster overall, it only moves that time out of the first launch (into this call). Returns the seconds it
    took (microseconds when already started). docs/engine-strategies.md, "First launches", has the
    measurements."""
    import time

    from ..sim.compiled.startup import start
    from ..sim.hostmem import available_bytes, reserve_heap, tune_allocator
    from .kernel_cache import compiler_version, warm_up

    if not (is_finite_real(heap_mib) and heap_mib >= 0):  # (inf: int() of it raised OverflowError below)
        raise ArgumentError(f"init(heap_mib={heap_mib!r}): heap_mib must be a finite number of MiB >= 0 (0: "
                            f"reserve none)",
                            heap_mib=heap_mib)
    began = time.perf_counter()
    start()
    compiler_version()
    tune_allocator()
    available = available_bytes()
    reserve_heap(int(min(heap_mib * 2**20, available // 8 if available is not None else float("inf"))))
    warm_up()
    warm_up_launch()
    return time.perf_counter() - began


#: The program `init` launches on a private 4 x 2 wafer (`warm_up_launch`), as `warm_up_kernel` but assembled:
#: a global load, float arithmetic, a word passed east along the row, a global store -- out[y, x] = sum of
#: 2 * a[y, k] + 1 over k <= x.
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


@jit
def warm_up_kernel(values, out):
    """`WARM_UP_SOURCE` as a `@ws.jit` kernel (`warm_up_launch`): out[y, x] = sum of 2 * values[y, k] + 1 over
    k <= x."""
    x, y = ws.grid(2)
    word = values[y, x] * 2.0 + 1.0
    if ws.has_neighbor(ws.WEST):
        word = word + ws.recv(ws.WEST, dtype=np.float32)
    if ws.has_neighbor(ws.EAST):
        ws.send(ws.EAST, word)
    out[y, x] = word


_warmed_up = False


def warm_up_launch() -> tuple[np.ndarray, np.ndarray] | None:
    """Launch `WARM_UP_SOURCE` and `warm_up_kernel` once per process (`init`), straight on the engine: a launch's
    process-wide first uses, whatever the kernel -- Numba's lookups of the types of the arrays the engine passes
    its compiled functions, and the like; the kernel's as a `@ws.jit` launch makes them (the dispatcher's, the
    kernel cache's key and file: compiled once per machine, ~0.03-0.1 s, loaded from the cache after; a compiled
    program's instructions): ~1.5 ms of a small first launch on the reference VM (a one-row scan's ~5 ms). No
    device, stream, profiler or launch list sees them. Returns their outputs (None when already run)."""
    global _warmed_up
    if _warmed_up:
        return None
    from ..isa.assembler import assemble
    from ..sim.engine import Launch

    _warmed_up = True
    device = Device(WaferSpec(width=4, height=2))
    values = device.to_device(np.arange(8, dtype=np.float32).reshape(2, 4))
    assembled, out = device.device_array((2, 4), np.float32), device.device_array((2, 4), np.float32)
    words = [device.kernel_argument(values, 0), device.kernel_argument(assembled, 1), 4]
    Launch(assemble(WARM_UP_SOURCE), device.spec, (1, 1), (4, 2), words, device.memory).run()
    compiled, words = warm_up_kernel.prepare(device, (values, out))  # (a launch without `Device.launch`'s observers)
    words = [device.kernel_argument(word, position) for position, word in enumerate(words)]
    Launch(compiled.program, device.spec, (1, 2), (4, 1), words, device.memory).run()
    return assembled.copy_to_host(), out.copy_to_host()


@call_checked
def synchronize() -> None:
    get_current_device().synchronize()


@call_checked
def to_device(array: np.ndarray, stream: Stream | None = None) -> DeviceArray:
    return get_current_device().to_device(array, stream=stream)


@call_checked
def device_array(shape: int | Sequence[int], dtype: Any = np.float32, stream: Stream | None = None) -> DeviceArray:
    return get_current_device().device_array(shape, dtype, stream=stream)


@call_checked
def device_array_like(ary: Any, stream: Stream | None = None) -> DeviceArray:
    """`Device.device_array_like` on the device of `ary` where it is a device array, else the current one."""
    return (ary.device if isinstance(ary, DeviceArray) else get_current_device()).device_array_like(ary, stream=stream)


@call_checked
def stream() -> Stream:
    return get_current_device().stream()


@call_checked
def event() -> Event:
    return get_current_device().event()
