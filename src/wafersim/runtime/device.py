"""The host API: devices, device memory, streams, events and kernel launches (CUDA-like).

Commands run when they are issued (the simulation is synchronous on the host), so results are those of
program order; each stream keeps its own simulated clock, on which a memcpy or launch is placed as CUDA
would run it (`runtime.streams`: stream order, the legacy default stream, events and waits), a launch
no earlier than the PEs it occupies are free of other streams' launches (`runtime.occupancy`).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np

from ..arch.spec import WaferSpec, resolve_spec
from ..arch.values import is_integer, plural
from ..envvars import env_flag
from ..errors import (ArgumentError, ArgumentTypeError, InvalidPointerError, LaunchError, MemoryAccessError,
                      OutOfMemoryError, WaferError, call_checked, did_you_mean)
from ..isa.assembler import Program
from ..sim.engine import DEFAULT_MAX_SECONDS, DEFAULT_PRINT_LIMIT, Launch
from ..sim.layout import Placement, normalize_dims
from ..sim.memory import KERNEL_ADDRESS_LIMIT, Allocation, GlobalMemory
from ..sim.stats import LaunchStats
# (DeviceArray, DevicePointer, Stream, Event and the dtype helpers are imported from here too)
from .arrays import (NUMERIC_KINDS, DeviceArray, DevicePointer, check_host_destination, device_dtype,  # noqa: F401
                     device_itemsize, device_words, is_half_scalar, refuse_device_source, refuse_half_bytes,
                     refuse_reinterpreting_copy)
from .devlock import DeviceLock
from .launch_options import check_launch_options, launch_argument_list
from .occupancy import PeOccupancy
from .program_arguments import check_program_arguments
from .progress import LaunchProgress, ProgressOption, copy_bytes, launch_progress
from .routes import route_masks
from .state import LaunchState
from .streams import Event, Stream, event_elapsed_time, not_picklable  # noqa: F401


#: Called as observer(device, stats) after every launch (the CLI's `run` and `trace` use this).
launch_observers: list = []
#: Called as observer(device, program name, grid, block, error) when a launch that started running fails, whether
#: or not its caller catches the error (the CLI lists it: a script that caught it once printed "no launches").
launch_failure_observers: list = []
#: Debuggers every launch reports to (`wafersim debug`): the last one's `wave_class(program)` runs it.
launch_debuggers: list = []

_Method = TypeVar("_Method", bound=Callable[..., Any])


def serialized(method: _Method) -> _Method:
    """A `Device` method run holding the device's lock (`Device.lock`). A call that does not match the
    method's parameters (an unknown keyword, an argument too many) is an `ArgumentTypeError` naming them."""
    checked = call_checked(method)

    @functools.wraps(method)
    def locked(self: "Device", *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return checked(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


def forward_kernel_launches(launch: _Method) -> _Method:
    """`Device.launch`, which hands a `Kernel` (a @ws.jit kernel, a ws.Kernel) on to the kernel's own `launch`
    with the options the call gave, and only those, by name (whatever their values): a jit kernel refuses an
    option named like one of its parameters (`check_option_names`), as `kernel[grid, block](...)` does, also
    where the value given is the option's default (`print_output=True` was taken for no option at all)."""
    signature = inspect.signature(launch)

    @functools.wraps(launch)
    def dispatch(self: "Device", *args: Any, **kwargs: Any) -> Any:
        try:
            given = signature.bind(self, *args, **kwargs).arguments
        except TypeError:
            return launch(self, *args, **kwargs)  # (refused there, with Python's own message)
        program = given["program"]
        if not isinstance(program, Kernel):
            return launch(self, *args, **kwargs)
        options = {name: value for name, value in given.items() if name in _LAUNCH_DEFAULTS and name != "stream"}
        with self.lock:
            return program.launch(self, given["grid"], given["block"], launch_argument_list(options.pop("args", ())),
                                  stream=given.get("stream"), **options)

    return dispatch  # type: ignore[return-value]


class Device:
    """A simulated wafer with its device memory, streams and launch history.

    One device may be used from several host threads: its launches, copies, allocations and stream and
    event operations each hold the device's re-entrant lock (`lock`), so work on one device runs one
    command at a time, in the order the threads reach it (the simulator runs a command at the call
    anyway). A launch that fails undoes only its own stores. While a launch under `ws.debug` is stopped,
    commands on its device from other threads are refused (`runtime.devlock`), not left waiting forever."""

    @functools.partial(call_checked, hints={"preset": "pass the preset's name as spec, ws.Device(\"wse2\"), or "
                                                     "ws.Device(ws.WaferSpec.preset(\"wse2\", width=...))"})
    def __init__(self, spec: WaferSpec | str | None = None) -> None:
        # (re-entrant: a launch allocates and copies through the same methods; `with dev.lock:` makes a
        # sequence of commands atomic with respect to other threads)
        self.lock = DeviceLock()
        self._spec = resolve_spec(spec)
        self.memory = GlobalMemory(self.spec.global_bytes)
        self.default_stream = Stream(self, "default")
        self.launches: list[LaunchStats] = []
        self.streams: list[Stream] = [self.default_stream]
        self.occupancy = PeOccupancy(self.spec)  # until when each PE is held by a launch (on the timeline)
        self.trace = False  # record a sampled activity trace of every launch
        self._streams = 0
        # shape and dtype of each allocation made as a DeviceArray, by allocation serial (see `arrays`)
        self._array_layouts: dict[int, tuple[tuple[int, ...], np.dtype]] = {}
        self._array_names: dict[int, str] = {}  # by allocation serial: names from a loaded file

    @property
    def spec(self) -> WaferSpec:
        """The machine: fixed for the device's life (its memory, streams and launch history are that machine's)."""
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:  # (was assignable: launches took the new spec, memory kept the old size)
        raise ArgumentTypeError("a Device's spec cannot be changed: make a new ws.Device(spec) for another machine "
                                "(copy its arrays through the host)")

    @property
    def last_launch(self) -> LaunchStats | None:
        return self.launches[-1] if self.launches else None

    def __repr__(self) -> str:
        return f"Device({self.spec.summary()})"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise not_picklable(self)  # (copy.copy and deepcopy too: a second handle to one wafer makes no sense)

    # ------------------------------------------------------------------ memory
    @serialized
    def malloc(self, nbytes: int) -> DevicePointer:
        """Allocate `nbytes` of device memory (zero-filled)."""
        if not isinstance(nbytes, (int, np.integer)) or isinstance(nbytes, bool):
            raise ArgumentTypeError(f"malloc: size must be an int, got {nbytes!r}")
        if nbytes <= 0:  # (CUDA hands out a null pointer for 0 bytes, which no copy or kernel may use)
            raise ArgumentError(f"malloc: size must be a positive number of bytes, got {nbytes} (for an empty "
                                f"array, device_array((0,)) makes one)", nbytes=int(nbytes))
        try:
            alloc = self.memory.allocate(int(nbytes))
        except OutOfMemoryError as error:
            if not error.fields.get("exhausted"):
                raise
            # Say what to do, and what holds the memory: a CUDA user used to Numba expects a dropped device
            # array to be freed, but device memory here is held until freed (as cudaMalloc's), so a loop that
            # makes a new array each time fills the device.
            live = self.memory.allocations()
            raise OutOfMemoryError(
                f"{error} -- {plural(len(live), 'live allocation')} {'holds' if len(live) == 1 else 'hold'} "
                f"{sum(a.size for a in live):,} bytes. Free what "
                f"you no longer need with arr.free() (or dev.free(p)): device memory is released by free or with "
                f"its Device, not when a DeviceArray object is dropped (dev.arrays() lists the live arrays); reuse "
                f"one array across iterations (arr.copy_to_device(host)); or give the device more memory "
                f"(ws.WaferSpec(global_bytes=...), now {self.spec.global_bytes:,.0f})",
                **{**error.fields, "live_allocations": len(live)}) from None
        return DevicePointer(self, alloc.base, int(nbytes), alloc.serial)

    @serialized
    def free(self, pointer: DevicePointer | DeviceArray) -> None:
        """Release an allocation; a second free or another device's pointer raises `InvalidPointerError`."""
        alloc = self._own(pointer, "free")
        self.memory.free(alloc.base)
        self._array_layouts.pop(alloc.serial, None)
        self._array_names.pop(alloc.serial, None)

    @serialized
    def arrays(self) -> dict[str, DeviceArray]:
        """Every live device array of this device (made by `device_array` or `to_device`, not yet freed), in
        address order, keyed by its name in the file it was loaded from (`save(path, arrays={name: ...})`),
        else by its address in hex (`f"0x{arr.address:x}"`, which `save` and `load` keep). Each call makes
        new `DeviceArray` objects for the same memory."""
        found = {}
        for alloc in self.memory.allocations():
            layout = self._array_layouts.get(alloc.serial)
            if layout is not None:
                name = self._array_names.get(alloc.serial, f"0x{alloc.base:x}")
                found[name] = DeviceArray(self, layout[0], layout[1], DevicePointer(self, alloc.base, alloc.size,
                                                                                   alloc.serial))
        return found

    @serialized
    def save(self, path: str | Path, arrays: Mapping[str, DeviceArray] | None = None) -> Path:
        """Write the device to a NumPy `.npz` file at exactly `path`: its spec, device memory (every live
        allocation and its contents, at the same addresses), its device arrays' shapes and dtypes (named by
        `arrays`, a mapping of names to this device's arrays), its streams' clocks and the launch history.
        `Device.load(path)` reads it back. Race reports are kept; traces of traced launches and the PE state of
        `keep_state` launches are not (the loaded launch has `trace_not_saved` / `state_not_saved`). Two
        arrays of one name, or a name `0x...` other than the array's own address, are a `LaunchError`."""
        from .checkpoint import save_device

        return save_device(self, path, arrays or {})

    @classmethod
    def load(cls, path: str | Path) -> "Device":
        """A device read from a file `save` wrote; its arrays are in `arrays()`. A missing, truncated or
        corrupted file, or one of another format version, raises `CheckpointError` (a `ValueError`)."""
        from .checkpoint import load_device

        return load_device(cls, path)

    def _own(self, pointer: Any, what: str) -> Allocation:
        if isinstance(pointer, DeviceArray):
            pointer = pointer.pointer
        if not isinstance(pointer, DevicePointer):
            raise InvalidPointerError(f"{what}: expected a DevicePointer, got {type(pointer).__name__}")
        if pointer.device is not self:
            raise InvalidPointerError(f"{what}: the pointer 0x{pointer.address:x} belongs to another device",
                                      address=pointer.address)
        alloc = self.memory.lookup(pointer.address)
        if alloc is None or alloc.serial != pointer.serial:  # freed (its address may have been reused since)
            if what == "free":
                raise InvalidPointerError(f"double free of device address 0x{pointer.address:x}",
                                          address=pointer.address)
            raise MemoryAccessError(f"{what}: device memory at 0x{pointer.address:x} was freed",
                                    address=pointer.address)
        return alloc

    def _transfer_seconds(self, nbytes: int) -> float:
        return self.spec.host_transfer_latency_s + nbytes / self.spec.global_bytes_per_s

    @serialized
    def memcpy_htod(self, pointer: DevicePointer, host_array: np.ndarray, stream: Stream | None = None) -> None:
        """Copy a host array into device memory at `pointer` (its elements in C order, whatever its strides).
        `host_array` must be a NumPy array (or scalar): a list has no bytes of its own (NumPy would make them
        float64 or int64), so it is an `ArgumentTypeError`; `to_device` converts lists."""
        refuse_device_source(host_array, "memcpy_htod")
        refuse_half_bytes(pointer, host_array, "memcpy_htod")
        refuse_reinterpreting_copy(pointer, host_array, "memcpy_htod")
        alloc = self._own(pointer, "memcpy_htod")
        if not isinstance(host_array, (np.ndarray, np.generic)):
            raise ArgumentTypeError(f"memcpy_htod: host_array must be a NumPy array, got {type(host_array).__name__}: "
                                    f"its bytes are copied as they are, so give them a dtype (e.g. "
                                    f"np.asarray(values, dtype=np.float32)), or use to_device")
        data = host_array if isinstance(host_array, np.ndarray) else np.asarray(host_array)
        device_dtype(data.dtype, "memcpy_htod")
        if data.nbytes > alloc.size:
            raise MemoryAccessError(f"memcpy_htod: {data.nbytes} bytes do not fit the {alloc.size}-byte allocation "
                                    f"at 0x{alloc.base:x}", nbytes=data.nbytes, available=alloc.size)
        if data.flags.c_contiguous:
            copy_bytes(alloc.storage[: data.nbytes], data.reshape(-1).view(np.uint8), "memcpy_htod")
        else:  # a strided view (a transpose): its elements in C order, copied once, with no host temporary
            alloc.storage[: data.nbytes].view(data.dtype).reshape(data.shape)[...] = data
        self._stream(stream)._run(f"memcpy_htod {data.nbytes} B", self._transfer_seconds(data.nbytes))

    @serialized
    def memcpy_dtoh(self, host_array: np.ndarray, pointer: DevicePointer, stream: Stream | None = None) -> None:
        """Copy device memory at `pointer` into a host array (its size says how many bytes)."""
        self._memcpy_dtoh(host_array, pointer, stream, strided=False)

    @serialized
    def _memcpy_dtoh(self, host_array: np.ndarray, pointer: DevicePointer, stream: Stream | None,
                     strided: bool) -> None:
        """`memcpy_dtoh`; with `strided` (the library's host functions, `kernels.hosting.Scratch.get_as`), the
        destination may also be a writeable strided view (an untiling transpose), filled in C order with no
        host temporary, as `memcpy_htod` reads one. The public copy keeps asking for a C-contiguous array."""
        refuse_half_bytes(pointer, host_array, "memcpy_dtoh")
        refuse_reinterpreting_copy(pointer, host_array, "memcpy_dtoh")
        alloc = self._own(pointer, "memcpy_dtoh")
        if not isinstance(host_array, np.ndarray):
            raise LaunchError(f"memcpy_dtoh: the destination must be a C-contiguous NumPy array, got "
                              f"{type(host_array).__name__}: pass np.empty(shape, dtype)")
        if not (strided or host_array.flags.c_contiguous):
            raise LaunchError(f"memcpy_dtoh: the destination must be a C-contiguous NumPy array, got a "
                              f"{host_array.shape} {host_array.dtype} array that is not (a transposed or strided "
                              f"view, or np.empty_like of one, which keeps its layout): pass np.empty(shape, dtype) "
                              f"and transpose afterwards")
        if not host_array.flags.writeable:
            raise LaunchError("memcpy_dtoh: the destination is read-only: pass a writeable NumPy array")
        if host_array.nbytes > alloc.size:
            raise MemoryAccessError(f"memcpy_dtoh: {host_array.nbytes} bytes asked from the {alloc.size}-byte "
                                    f"allocation at 0x{alloc.base:x}", nbytes=host_array.nbytes, available=alloc.size)
        if host_array.flags.c_contiguous:
            copy_bytes(host_array.reshape(-1).view(np.uint8), alloc.storage[: host_array.nbytes], "memcpy_dtoh")
        else:
            host_array[...] = alloc.storage[: host_array.nbytes].view(host_array.dtype).reshape(host_array.shape)
        self._stream(stream)._run(f"memcpy_dtoh {host_array.nbytes} B", self._transfer_seconds(host_array.nbytes))

    @serialized
    def to_device(self, array: np.ndarray, stream: Stream | None = None) -> DeviceArray:
        """A new device array holding a copy of `array` (a NumPy array, or anything `np.asarray` takes)."""
        refuse_device_source(array, "to_device")
        # No C-order copy here: memcpy_htod copies a strided view in C order itself, and the device allocation
        # comes first, so an array too large for the device is an OutOfMemoryError before any host copy.
        # (np.ascontiguousarray would also make a 0-d array 1-d.)
        try:
            array = np.asarray(array)
        except MemoryError:
            raise OutOfMemoryError("to_device: the host has not the memory to convert the array") from None
        device_dtype(array.dtype, "to_device")
        out = self.device_array(array.shape, array.dtype)
        self.memcpy_htod(out.pointer, device_words(array), stream=stream)
        return out

    @serialized
    def device_array(self, shape: int | Sequence[int], dtype: Any = np.float32, stream: Stream | None = None) -> DeviceArray:
        """A new zero-filled device array. `dtype=None` is the default, float32; `stream` must be a `Stream`
        of this device, or None (the allocation itself is not ordered on a stream)."""
        self._stream(stream)  # (checked as every command's stream is)
        if dtype is None:
            dtype = np.float32
        if isinstance(shape, (int, np.integer)):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or any(not isinstance(s, (int, np.integer)) or isinstance(s, bool)
                                                       for s in shape):
            raise ArgumentTypeError(f"device_array: shape must be an int or a tuple of ints, got {shape!r}")
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise LaunchError(f"device_array: shape {shape} must be non-negative ints")
        dtype = device_dtype(dtype, "device_array")
        nbytes = max(int(np.prod(shape, dtype=object)) * device_itemsize(dtype), 1)  # Python ints: no overflow
        pointer = self.malloc(nbytes)
        self._array_layouts[pointer.serial] = (shape, dtype)
        return DeviceArray(self, shape, dtype, pointer)

    @serialized
    def device_array_like(self, ary: Any, stream: Stream | None = None) -> DeviceArray:
        """A new zero-filled device array of the shape and dtype of `ary`, a NumPy or device array (Numba's
        `cuda.device_array_like`)."""
        if not (hasattr(ary, "shape") and hasattr(ary, "dtype")):
            raise ArgumentTypeError(f"device_array_like: ary must be a NumPy or device array, got "
                                    f"{type(ary).__name__} (np.asarray(ary) first)")
        return self.device_array(ary.shape, ary.dtype, stream=stream)

    # ------------------------------------------------------------------ streams and events
    @serialized
    def stream(self) -> Stream:
        """A new stream of this device, with its own clock starting at 0."""
        self._streams += 1
        self.streams.append(Stream(self, f"stream{self._streams}"))
        return self.streams[-1]

    def to_perfetto(self, path) -> "Path":
        """Write every stream's commands (memcpys, launches) and every traced launch's PE activity as one
        Chrome/Perfetto JSON trace, on the streams' simulated timelines."""
        from ..sim import trace

        events, notes = self.trace_events()
        return trace.write(path, events, {"wafersim": f"{self.spec.summary()}; " + "; ".join(notes)})

    @serialized
    def trace_events(self, pid_base: int = 0, label: str = "") -> tuple[list[dict], list[str]]:
        """Trace events of this device (process ids from `pid_base`), and notes on what was sampled."""
        pid0 = pid_base
        events = [{"name": "process_name", "ph": "M", "pid": pid0, "args": {"name": f"{label}host streams"}}]
        for tid, stream in enumerate(self.streams):
            events.append({"name": "thread_name", "ph": "M", "pid": pid0, "tid": tid, "args": {"name": stream.name}})
            events += [{"name": what, "cat": "stream", "ph": "X", "pid": pid0, "tid": tid,
                        "ts": round(start * 1e6, 6), "dur": round((end - start) * 1e6, 6),
                        **({"args": stream.details[k]} if k in stream.details else {})}
                       for k, (what, start, end) in enumerate(stream.log)]
        notes = []
        for k, stats in enumerate(self.launches, start=1):
            if stats.trace is not None:
                events += stats.trace.events(pid0 + k, self.spec.clock_hz, self.spec.seconds(stats.start_cycle) * 1e6,
                                             f"{label}launch {k}: {stats.program}")
                notes.append(f"{label}launch {k}: {stats.trace.note}")
        return events, notes

    @serialized
    def event(self) -> Event:
        """A new, unrecorded event of this device (its timing is always kept: it takes no options)."""
        return Event(self)

    @serialized
    def synchronize(self) -> None:
        """Wait for every stream of the device. Commands run when issued, so this returns at once; on the
        simulated timeline the host is then at the latest stream's time: every stream's clock moves up to
        it, so commands issued afterwards start no earlier (`runtime.streams`)."""
        self._host_waits_until(max(stream.time for stream in self.streams))

    def _host_waits_until(self, seconds: float) -> None:
        """The host waited until `seconds` of the simulated timeline: no stream's next command starts earlier."""
        for stream in self.streams:
            stream.time = max(stream.time, seconds)

    def _stream(self, stream: Stream | int | None) -> Stream:
        """The stream a command runs on: None or 0 is the default stream (as Numba's `stream=0`, CUDA's
        stream 0), else a `Stream` of this device (`dev.stream()`)."""
        if stream is None or (is_integer(stream) and stream == 0):
            return self.default_stream
        if not isinstance(stream, Stream):
            raise ArgumentTypeError(f"stream must be a Stream of this device (dev.stream()), or 0 or None for the "
                                    f"default stream, got {stream!r}", stream=stream)
        if stream.device is not self:
            raise LaunchError(f"expected a Stream of this device, got {stream!r}, a stream of another device: use "
                              f"one of this device's (dev.stream(), or 0 or None for its default stream)")
        return stream

    # ------------------------------------------------------------------ launches
    def kernel_argument(self, value: Any, position: int, name: str | None = None) -> int:
        """The 32-bit word a kernel sees for one argument (`name`: the kernel parameter's, for messages)."""
        label = f"argument {position}" + (f" ({name})" if name else "")
        if is_half_scalar(value):  # (an ml_dtypes.bfloat16 scalar is no np.floating: taken as np.float16 is;
            value = np.float32(value)  # exact, a signalling NaN's bits too, which `float` would quiet)
        if isinstance(value, (DeviceArray, DevicePointer)):
            if value.device is not self:  # (`_own`'s "the pointer ... belongs to another device" named no cause)
                what = "a device array" if isinstance(value, DeviceArray) else "a pointer"
                raise InvalidPointerError(
                    f"{label} is {what} of another Device than the one this launch runs on (its stream's device, "
                    f"else the kernel's, else its first array argument's): a kernel reads only the memory of its "
                    f"own device, so every array of a launch must live there; copy it over, "
                    f"dev.to_device(arr.copy_to_host())", address=value.address, position=position)
            alloc = self._own(value, label)
            if alloc.end > KERNEL_ADDRESS_LIMIT:
                # (the array's end, not its start, is what lies past the limit: say so, with its size)
                raise LaunchError(f"{label}: the {alloc.size:,}-byte array at device address 0x{alloc.base:x} "
                                  f"ends at 0x{alloc.end:x}, beyond the 4 GiB a kernel's 32-bit registers can "
                                  f"address: pass smaller arrays (split it, or launch on fewer PEs)",
                                  position=position)
            return alloc.base
        if isinstance(value, (bool, np.bool_)):
            return int(value)
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.timedelta64):  # (an np.integer)
            if not -(2**31) <= int(value) < 2**32:
                raise LaunchError(f"{label}: {value} does not fit in 32 bits", position=position)
            return int(value)
        if isinstance(value, (float, np.floating)):
            with np.errstate(over="ignore"):
                word = np.float32(value)
            if np.isinf(word) and np.isfinite(value):  # (inf itself passes: it is a float32)
                raise LaunchError(f"{label}: {value!r} overflows float32 (largest finite "
                                  f"{float(np.finfo(np.float32).max):.8g})", position=position)
            return int(word.view(np.uint32))
        raise ArgumentTypeError(f"{label}: unsupported type {type(value).__name__} (pass ints, floats, "
                                f"DeviceArray or DevicePointer)", position=position, type=type(value).__name__)

    @forward_kernel_launches
    @serialized
    def launch(self, program: Program, grid, block, args: Sequence[Any] = (), stream: Stream | None = None,
               max_cycles: float | None = None, print_output: bool = True,
               progress: ProgressOption = None, trace: bool | None = None,
               print_limit: int = DEFAULT_PRINT_LIMIT,
               max_seconds: float | None = DEFAULT_MAX_SECONDS, routes=None,
               racecheck: bool | str = False, keep_state: bool | str = False, checkpoint_every: int | None = None,
               checkpoint: str | Path | None = None, _wave_class=None) -> LaunchStats:
        """Run `program` over `grid` blocks of `block` PEs; returns (and keeps) its `LaunchStats`.

        `max_cycles` (simulated, default 1e8) and `max_seconds` (host wall-clock, default none) bound a
        kernel that never halts (`CycleLimitError`, naming the PEs still running and their source lines);
        `progress` shows a bar
        (default: on a terminal, for launches that run over a second; see `runtime.progress`); `trace`
        records a sampled activity trace (default: `Device.trace`, or the WAFERSIM_TRACE=1 variable);
        `routes` configures channels' routes in every block (`ws.routes`: a `Route` or a list of them);
        `racecheck=True` checks global memory for races, and route changes against the routed words passing
        their routers, and raises `RaceError` listing them ('report': only list them in `LaunchStats.races`;
        write-write races where every write stored the same bits are listed as benign and never raised for;
        docs/racecheck.md); `keep_state=True` keeps the PEs' state at
        the end (the last wave's; 'all': every wave's) as `stats.state`, readable by source name
        (`runtime.state.LaunchState`; docs/debugging.md). An error raised while PEs run always carries
        the failing wave's state as `err.state`. `checkpoint_every=N, checkpoint=path` writes the launch to
        `path` after every N-th barrier release, for `ws.resume_launch(path)` to finish in another process
        (`runtime.resume`: launches without trace or racecheck)."""
        # (a @ws.jit kernel or a ws.Kernel went to its own `launch` already: `forward_kernel_launches`)
        args = launch_argument_list(args)
        if not isinstance(program, Program):
            raise ArgumentTypeError(f"launch: expected a Program (ws.assemble) or a @ws.jit kernel, got "
                                    f"{type(program).__name__}")
        check_launch_options(max_cycles=max_cycles, max_seconds=max_seconds, print_limit=print_limit,
                             progress=progress, trace=trace, print_output=print_output, racecheck=racecheck,
                             keep_state=keep_state)
        grid, block = normalize_dims(grid, "grid"), normalize_dims(block, "block")
        masks = route_masks(routes, block, self.spec, program.routes)
        stream = self._stream(stream)
        words = [self.kernel_argument(a, i) for i, a in enumerate(args)]
        check_program_arguments(program, args, words)
        explain_failure = None  # what adds to a failed launch's message (a checkpointed launch's: the file to resume)
        if checkpoint_every is not None or checkpoint is not None:
            from .resume import checkpoint_saver

            if _wave_class is not None or launch_debuggers:
                raise LaunchError("a launch under the debugger cannot take checkpoints (checkpoint_every=)")
            _wave_class = checkpoint_saver(self, checkpoint, checkpoint_every)
            _wave_class.stream_index = self.streams.index(stream)  # the resumed launch runs on it again
            explain_failure = _wave_class.explain_failure
        if _wave_class is None and launch_debuggers:
            _wave_class = launch_debuggers[-1].wave_class(program, Placement(self.spec, grid, block))
        bar = launch_progress(progress, program.name)
        try:
            if trace is None:
                trace = self.trace or env_flag("WAFERSIM_TRACE", False)
            with self.memory.undo_on_error():  # a launch that fails leaves device memory as it was
                launch = Launch(program, self.spec, grid, block, words, self.memory, max_cycles=max_cycles,
                                progress=bar, trace=trace, print_limit=print_limit, max_seconds=max_seconds,
                                routes=masks, racecheck=racecheck, keep_state=keep_state,
                                **({} if _wave_class is None else {"wave_class": _wave_class}))
                stats = launch.run()
            if keep_state:
                stats.state = LaunchState(program, launch.placement, launch.kept_states)
        except WaferError as error:
            if getattr(error, "wave_states", None) is not None and getattr(error, "state", None) is None:
                error.state = LaunchState(program, Placement(self.spec, grid, block), error.wave_states)
            if explain_failure is not None:
                explain_failure(error)
            for failure_observer in launch_failure_observers:
                failure_observer(self, program.name, grid, block, error)
            raise
        finally:
            if isinstance(bar, LaunchProgress):
                bar.close()
        # On the timeline: after the stream's earlier work and once the PEs it occupies are free; each slot
        # is held until its last block ends (whole cycles: the latest is the launch's own `cycles`)
        start = stream._run(f"launch {program.name}", stats.seconds, self.occupancy.free_at(launch.placement),
                            {"cycles": int(stats.cycles), "waves": int(stats.waves),
                             "PE-instructions": int(stats.instructions)})
        self.occupancy.occupy(launch.placement, start, np.ceil(launch.slot_free) / self.spec.clock_hz)
        stats.start_cycle = start * self.spec.clock_hz
        self.launches.append(stats)
        for observer in launch_observers:
            observer(self, stats)
        if print_output:
            for record in stats.prints:
                print(record)
            if stats.prints_dropped:
                print(f"[wafersim] {plural(stats.prints_dropped, 'more print')} dropped (limit {print_limit})")
        return stats


#: The defaults of `Device.launch`'s options.
_LAUNCH_DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(Device.launch).parameters.items()
                    if parameter.default is not inspect.Parameter.empty}


#: The options a launch takes as keywords (`kernel[grid, block](*args, **options)`): `Device.launch`'s.
LAUNCH_OPTIONS = frozenset(_LAUNCH_DEFAULTS) - {"args", "stream", "_wave_class"}


class Kernel:
    """A launchable program: `kernel[grid, block]` or `kernel[grid, block, stream]`, then call with arguments."""

    def __init__(self, program: Program, device: Device | None = None) -> None:
        if not isinstance(program, Program):
            raise ArgumentTypeError(f"Kernel: program must be a Program (ws.assemble, binary.load), got "
                                    f"{type(program).__name__}")
        if device is not None and not isinstance(device, Device):
            raise ArgumentTypeError(f"Kernel: device must be a wafersim Device or None, got {device!r}")
        self.program, self.device = program, device

    def __getitem__(self, config) -> "ConfiguredKernel":
        if not isinstance(config, tuple) or len(config) not in (2, 3):
            shared = (": a fourth item, Numba's dynamic shared memory in bytes, has no counterpart (a block has no "
                      "shared memory: each PE has its own SRAM, ws.local.array, and PEs exchange messages)"
                      if isinstance(config, tuple) and len(config) == 4 else "")
            raise LaunchError(f"launch configuration must be [grid, block] or [grid, block, stream]{shared}")
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
        print_limit, print_output, routes, racecheck, keep_state, checkpoint_every, checkpoint -- as for
        `Device.launch`."""
        device = self.device_for(args)
        unknown = sorted(set(options) - LAUNCH_OPTIONS)
        if unknown:
            parameters = getattr(self.kernel, "parameters", ())  # (a @ws.jit kernel's; a ws.Kernel has none)
            named = [name for name in unknown if name in parameters]
            hint = (f" ({', '.join(named)}: a parameter of {self.kernel.py_func.__name__}({', '.join(parameters)}); "
                    f"pass it by position)" if named else "")
            if not hint and "stream" in unknown:  # (`dev.launch` takes stream=; a configured kernel takes it in [])
                hint = ("; a stream goes in the launch configuration, kernel[grid, block, stream](...), "
                        "as in Numba")
            if not hint and len(unknown) == 1:
                hint = did_you_mean(unknown[0], LAUNCH_OPTIONS)
            raise LaunchError(f"unknown launch {'option' if len(unknown) == 1 else 'options'} {unknown}; kernel "
                              f"arguments are positional{hint}")
        return self.kernel.launch(device, self.grid, self.block, args, stream=self.stream, **options)

    def device_for(self, args: Sequence[Any]) -> Device:
        """The device a launch with these arguments runs on."""
        from .current import get_current_device

        # Like CUDA: the stream's device, else the device the array arguments live on, else the current one.
        if isinstance(self.stream, Stream):
            return self.stream.device
        owners = [a.device for a in args if isinstance(a, (DeviceArray, DevicePointer))]
        return self.kernel.device or (owners[0] if owners else get_current_device())
