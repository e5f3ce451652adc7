"""The host API: devices, device memory, streams, events and kernel launches (CUDA-like).

Commands run when they are issued (the simulation is synchronous on the host), in stream order, and
each stream keeps its own simulated clock: a memcpy or launch starts when the stream's previous command
ended and advances the stream by its simulated duration. Events read a stream's clock.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..arch.spec import WaferSpec, resolve_spec
from ..errors import InvalidPointerError, LaunchError, MemoryAccessError
from ..isa.assembler import Program
from ..sim.engine import DEFAULT_MAX_SECONDS, DEFAULT_PRINT_LIMIT, Launch
from ..sim.layout import normalize_dims
from ..sim.memory import KERNEL_ADDRESS_LIMIT, Allocation, GlobalMemory
from ..sim.stats import LaunchStats
from .progress import LaunchProgress, ProgressOption, copy_bytes, launch_progress


#: Called as observer(device, stats) after every launch (the CLI's `run` and `trace` use this).
launch_observers: list = []


@dataclasses.dataclass(frozen=True)
class DevicePointer:
    """A device (off-wafer) memory address returned by `Device.malloc`."""

    device: "Device"
    address: int
    nbytes: int

    def __int__(self) -> int:
        return self.address

    def __repr__(self) -> str:
        return f"DevicePointer(0x{self.address:x}, {self.nbytes} bytes)"


class Stream:
    """An ordered queue of commands with its own simulated clock (seconds)."""

    def __init__(self, device: "Device", name: str) -> None:
        self.device, self.name = device, name
        self.time = 0.0
        self.log: list[tuple[str, float, float]] = []  # (what, start s, end s)

    def _run(self, what: str, seconds: float) -> float:
        start = self.time
        self.time += seconds
        self.log.append((what, start, self.time))
        return start

    def synchronize(self) -> None:
        """Wait until every command of the stream is done (they run when issued, so this returns at once)."""

    def __repr__(self) -> str:
        return f"Stream({self.name}, t={self.time * 1e3:.6f} ms)"


class Event:
    """A point on a stream's simulated timeline."""

    def __init__(self, device: "Device") -> None:
        self.device = device
        self.time: float | None = None

    def record(self, stream: Stream | None = None) -> None:
        self.time = self.device._stream(stream).time

    def synchronize(self) -> None:
        """Events complete when recorded."""

    def elapsed_time(self, stop: "Event") -> float:
        return event_elapsed_time(self, stop)


def event_elapsed_time(start: Event, stop: Event) -> float:
    """Simulated milliseconds from `start` to `stop` (both must have been recorded)."""
    if start.time is None or stop.time is None:
        raise LaunchError("event_elapsed_time: both events must be recorded first")
    return (stop.time - start.time) * 1e3


class DeviceArray:
    """An n-d array in device memory, like Numba's `DeviceNDArray`."""

    def __init__(self, device: "Device", shape: tuple[int, ...], dtype: Any, pointer: DevicePointer) -> None:
        self.device, self.shape, self.dtype, self.pointer = device, tuple(shape), np.dtype(dtype), pointer

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def address(self) -> int:
        return self.pointer.address

    @property
    def is_freed(self) -> bool:
        return not self.device.memory.is_live(self.pointer.address)

    def copy_to_host(self, ary: np.ndarray | None = None, stream: Stream | None = None) -> np.ndarray:
        """The array's contents as a new host array (or into `ary`)."""
        if ary is not None and (ary.shape != self.shape or ary.dtype != self.dtype):
            raise LaunchError(f"copy_to_host: host array {ary.shape} {ary.dtype} does not match device array "
                              f"{self.shape} {self.dtype}", host=(ary.shape, str(ary.dtype)),
                              device=(self.shape, str(self.dtype)))
        out = np.empty(self.shape, dtype=self.dtype) if ary is None else ary
        self.device.memcpy_dtoh(out, self.pointer, stream=stream)
        return out

    def copy_to_device(self, ary: np.ndarray, stream: Stream | None = None) -> None:
        ary = np.asarray(ary)
        if ary.shape != self.shape or ary.dtype != self.dtype:
            raise LaunchError(f"copy_to_device: host array {ary.shape} {ary.dtype} does not match device array "
                              f"{self.shape} {self.dtype}", host=(ary.shape, str(ary.dtype)),
                              device=(self.shape, str(self.dtype)))
        self.device.memcpy_htod(self.pointer, ary, stream=stream)

    def free(self) -> None:
        """Release the array now; using it afterwards raises an error."""
        self.device.free(self.pointer)

    def __repr__(self) -> str:
        state = " freed" if self.is_freed else ""
        return f"<DeviceArray {self.shape} {self.dtype} at 0x{self.address:x}{state}>"


class Device:
    """A simulated wafer with its device memory, streams and launch history."""

    def __init__(self, spec: WaferSpec | str | None = None) -> None:
        self.spec = resolve_spec(spec)
        self.memory = GlobalMemory(self.spec.global_bytes)
        self.default_stream = Stream(self, "default")
        self.launches: list[LaunchStats] = []
        self.streams: list[Stream] = [self.default_stream]
        self.trace = False  # record a sampled activity trace of every launch
        self._streams = 0

    @property
    def last_launch(self) -> LaunchStats | None:
        return self.launches[-1] if self.launches else None

    def __repr__(self) -> str:
        return f"Device({self.spec.summary()})"

    # ------------------------------------------------------------------ memory
    def malloc(self, nbytes: int) -> DevicePointer:
        """Allocate `nbytes` of device memory (zero-filled)."""
        if not isinstance(nbytes, (int, np.integer)) or isinstance(nbytes, bool):
            raise LaunchError(f"malloc: size must be an int, got {nbytes!r}")
        alloc = self.memory.allocate(int(nbytes))
        return DevicePointer(self, alloc.base, int(nbytes))

    def free(self, pointer: DevicePointer) -> None:
        """Release an allocation; a second free or another device's pointer raises `InvalidPointerError`."""
        self._own(pointer, "free")
        self.memory.free(pointer.address)

    def _own(self, pointer: Any, what: str) -> Allocation:
        if isinstance(pointer, DeviceArray):
            pointer = pointer.pointer
        if not isinstance(pointer, DevicePointer):
            raise InvalidPointerError(f"{what}: expected a DevicePointer, got {type(pointer).__name__}")
        if pointer.device is not self:
            raise InvalidPointerError(f"{what}: the pointer 0x{pointer.address:x} belongs to another device",
                                      address=pointer.address)
        if not self.memory.is_live(pointer.address):
            if what == "free":
                return self.memory.get(pointer.address)  # raises the double-free error
            raise MemoryAccessError(f"{what}: device memory at 0x{pointer.address:x} was freed",
                                    address=pointer.address)
        return self.memory.get(pointer.address)

    def _transfer_seconds(self, nbytes: int) -> float:
        return self.spec.host_transfer_latency_s + nbytes / self.spec.global_bytes_per_s

    def memcpy_htod(self, pointer: DevicePointer, host_array: np.ndarray, stream: Stream | None = None) -> None:
        """Copy a host array into device memory at `pointer`."""
        alloc = self._own(pointer, "memcpy_htod")
        data = np.ascontiguousarray(host_array)
        if data.nbytes > alloc.size:
            raise MemoryAccessError(f"memcpy_htod: {data.nbytes} bytes do not fit the {alloc.size}-byte allocation "
                                    f"at 0x{alloc.base:x}", nbytes=data.nbytes, available=alloc.size)
        copy_bytes(alloc.storage[: data.nbytes], data.reshape(-1).view(np.uint8), "memcpy_htod")
        self._stream(stream)._run(f"memcpy_htod {data.nbytes} B", self._transfer_seconds(data.nbytes))

    def memcpy_dtoh(self, host_array: np.ndarray, pointer: DevicePointer, stream: Stream | None = None) -> None:
        """Copy device memory at `pointer` into a host array (its size says how many bytes)."""
        alloc = self._own(pointer, "memcpy_dtoh")
        if not isinstance(host_array, np.ndarray) or not host_array.flags.c_contiguous:
            raise LaunchError("memcpy_dtoh: the destination must be a C-contiguous NumPy array")
        if host_array.nbytes > alloc.size:
            raise MemoryAccessError(f"memcpy_dtoh: {host_array.nbytes} bytes asked from the {alloc.size}-byte "
                                    f"allocation at 0x{alloc.base:x}", nbytes=host_array.nbytes, available=alloc.size)
        copy_bytes(host_array.reshape(-1).view(np.uint8), alloc.storage[: host_array.nbytes], "memcpy_dtoh")
        self._stream(stream)._run(f"memcpy_dtoh {host_array.nbytes} B", self._transfer_seconds(host_array.nbytes))

    def to_device(self, array: np.ndarray, stream: Stream | None = None) -> DeviceArray:
        """A new device array holding a copy of `array`."""
        array = np.ascontiguousarray(array)
        out = self.device_array(array.shape, array.dtype)
        self.memcpy_htod(out.pointer, array, stream=stream)
        return out

    def device_array(self, shape: int | Sequence[int], dtype: Any = np.float32, stream: Stream | None = None) -> DeviceArray:
        """A new zero-filled device array."""
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if any((not isinstance(s, (int, np.integer))) or s < 0 for s in shape):
            raise LaunchError(f"device_array: shape {shape} must be non-negative ints")
        dtype = np.dtype(dtype)
        nbytes = max(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, 1)
        return DeviceArray(self, shape, dtype, self.malloc(nbytes))

    # ------------------------------------------------------------------ streams and events
    def stream(self) -> Stream:
        self._streams += 1
        self.streams.append(Stream(self, f"stream{self._streams}"))
        return self.streams[-1]

    def to_perfetto(self, path) -> "Path":
        """Write every stream's commands (memcpys, launches) and every traced launch's PE activity as one
        Chrome/Perfetto JSON trace, on the streams' simulated timelines."""
        from ..sim import trace

        events, notes = self.trace_events()
        return trace.write(path, events, {"wafersim": f"{self.spec.summary()}; " + "; ".join(notes)})

    def trace_events(self, pid_base: int = 0, label: str = "") -> tuple[list[dict], list[str]]:
        """Trace events of this device (process ids from `pid_base`), and notes on what was sampled."""
        pid0 = pid_base
        events = [{"name": "process_name", "ph": "M", "pid": pid0, "args": {"name": f"{label}host streams"}}]
        for tid, stream in enumerate(self.streams):
            events.append({"name": "thread_name", "ph": "M", "pid": pid0, "tid": tid, "args": {"name": stream.name}})
            events += [{"name": what, "cat": "stream", "ph": "X", "pid": pid0, "tid": tid,
                        "ts": round(start * 1e6, 6), "dur": round((end - start) * 1e6, 6)}
                       for what, start, end in stream.log]
        notes = []
        for k, stats in enumerate(self.launches, start=1):
            if stats.trace is not None:
                events += stats.trace.events(pid0 + k, self.spec.clock_hz, self.spec.seconds(stats.start_cycle) * 1e6,
                                             f"{label}launch {k}: {stats.program}")
                notes.append(f"{label}launch {k}: {stats.trace.note}")
        return events, notes

    def event(self) -> Event:
        return Event(self)

    def synchronize(self) -> None:
        """Wait for every stream of the device (commands run when issued: returns at once)."""

    def _stream(self, stream: Stream | None) -> Stream:
        if stream is None or stream == 0:
            return self.default_stream
        if not isinstance(stream, Stream) or stream.device is not self:
            raise LaunchError(f"expected a Stream of this device, got {stream!r}")
        return stream

    # ------------------------------------------------------------------ launches
    def kernel_argument(self, value: Any, position: int) -> int:
        """The 32-bit word a kernel sees for one argument."""
        if isinstance(value, (DeviceArray, DevicePointer)):
            alloc = self._own(value, f"argument {position}")
            if alloc.end > KERNEL_ADDRESS_LIMIT:
                raise LaunchError(f"argument {position}: device address 0x{alloc.base:x} is beyond the 4 GiB a "
                                  f"kernel's 32-bit registers can address", position=position)
            return alloc.base
        if isinstance(value, (bool, np.bool_)):
            return int(value)
        if isinstance(value, (int, np.integer)):
            if not -(2**31) <= int(value) < 2**32:
                raise LaunchError(f"argument {position}: {value} does not fit in 32 bits", position=position)
            return int(value)
        if isinstance(value, (float, np.floating)):
            return int(np.float32(value).view(np.uint32))
        raise LaunchError(f"argument {position}: unsupported type {type(value).__name__} (pass ints, floats, "
                          f"DeviceArray or DevicePointer)", position=position, type=type(value).__name__)

    def launch(self, program: Program, grid, block, args: Sequence[Any] = (), stream: Stream | None = None,
               max_cycles: float | None = None, print_output: bool = True,
               progress: ProgressOption = None, trace: bool | None = None,
               print_limit: int = DEFAULT_PRINT_LIMIT,
               max_seconds: float | None = DEFAULT_MAX_SECONDS) -> LaunchStats:
        """Run `program` over `grid` blocks of `block` PEs; returns (and keeps) its `LaunchStats`.

        `max_cycles` (simulated, default 1e8) and `max_seconds` (host wall-clock, default none) bound a
        kernel that never halts (`CycleLimitError`, naming the PEs still running and their source lines);
        `progress` shows a bar
        (default: on a terminal, for launches that run over a second; see `runtime.progress`); `trace`
        records a sampled activity trace (default: `Device.trace`, or the WAFERSIM_TRACE=1 variable)."""
        grid, block = normalize_dims(grid, "grid"), normalize_dims(block, "block")
        stream = self._stream(stream)
        words = [self.kernel_argument(a, i) for i, a in enumerate(args)]
        bar = launch_progress(progress, program.name)
        try:
            if trace is None:
                trace = self.trace or os.environ.get("WAFERSIM_TRACE") == "1"
            with self.memory.undo_on_error():  # a launch that fails leaves device memory as it was
                stats = Launch(program, self.spec, grid, block, words, self.memory, max_cycles=max_cycles,
                               progress=bar, trace=trace, print_limit=print_limit, max_seconds=max_seconds).run()
        finally:
            if isinstance(bar, LaunchProgress):
                bar.close()
        stats.start_cycle = stream.time * self.spec.clock_hz
        stream._run(f"launch {program.name}", stats.seconds)
        self.launches.append(stats)
        for observer in launch_observers:
            observer(self, stats)
        if print_output:
            for record in stats.prints:
                print(record)
            if stats.prints_dropped:
                print(f"[wafersim] {stats.prints_dropped} more print(s) dropped (limit {print_limit})")
        return stats


class Kernel:
    """A launchable program: `kernel[grid, block]` or `kernel[grid, block, stream]`, then call with arguments."""

    def __init__(self, program: Program, device: Device | None = None) -> None:
        self.program, self.device = program, device

    def __getitem__(self, config) -> "ConfiguredKernel":
        if not isinstance(config, tuple) or len(config) not in (2, 3):
            raise LaunchError("launch configuration must be [grid, block] or [grid, block, stream]")
        return ConfiguredKernel(self, *config)

    def launch(self, device: Device, grid, block, args: Sequence[Any], stream=None, **options) -> LaunchStats:
        return device.launch(self.program, grid, block, args, stream=stream, **options)


@dataclasses.dataclass
class ConfiguredKernel:
    kernel: Kernel
    grid: Any
    block: Any
    stream: Stream | None = None

    def __call__(self, *args: Any, **options: Any) -> LaunchStats:
        """Launch with these kernel arguments. Options (keywords): max_cycles, max_seconds, progress, trace,
        print_limit, print_output -- as for `Device.launch`."""
        from .current import get_current_device

        # Like CUDA: the stream's device, else the device the array arguments live on, else the current one.
        owners = [a.device for a in args if isinstance(a, (DeviceArray, DevicePointer))]
        if isinstance(self.stream, Stream):
            device = self.stream.device
        else:
            device = self.kernel.device or (owners[0] if owners else get_current_device())
        unknown = set(options) - {"max_cycles", "max_seconds", "progress", "trace", "print_limit", "print_output"}
        if unknown:
            raise LaunchError(f"unknown launch option(s) {sorted(unknown)}; kernel arguments are positional")
        return self.kernel.launch(device, self.grid, self.block, args, stream=self.stream, **options)
