"""Streams and events of a device: the simulated timeline of its host commands (CUDA-like).

The simulator runs every command when the host issues it, so results are always those of program
order; streams and events only place the commands on a simulated timeline, as CUDA would run them:

- a command on a stream starts when the stream's previous command ended (each stream has its own clock);
- a launch also starts no earlier than the PEs it occupies are free: PEs run one launch at a time, so
  launches of two streams on the same PEs follow each other, and overlap only on disjoint PEs
  (`runtime.occupancy`); copies use off-wafer bandwidth, not PEs, and overlap launches;
- the default stream is CUDA's legacy default stream: a command on it starts after every earlier
  command of the other streams, and a command on another stream after every earlier command of the
  default stream (recording an event is a command too);
- `Stream.wait_event(e)`: later commands on the stream start no earlier than the event;
- `Stream.synchronize()`, `Event.synchronize()` and `Device.synchronize()` make the host wait: every
  stream's clock moves up to the time waited for, so commands issued afterwards start no earlier;
  `with s.auto_synchronize():` (Numba's) synchronizes the stream when the block ends.

Every operation holds the device's lock (`Device.lock`), so streams of one device may be used from
several host threads.
"""
from __future__ import annotations

import contextlib
import weakref
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import ArgumentTypeError, LaunchError, call_checked

if TYPE_CHECKING:
    from .device import Device


def not_picklable(value: Any) -> ArgumentTypeError:
    """The error for pickling (or copying) a device object: device memory lives in its `Device`, which
    holds a lock and is no value to copy, so say what to keep instead (rather than Python's bare
    "cannot pickle '_thread.RLock' object")."""
    kind = type(value).__name__
    if kind == "Device":
        advice = "save it to a file with dev.save(path) and read it back with ws.Device.load(path)"
    elif kind in ("Stream", "Event"):
        advice = "save its device with dev.save(path), which keeps the streams' clocks"
    elif kind == "DevicePointer":
        advice = ("copy its bytes to the host (dev.memcpy_dtoh(host, p)) and pickle or copy the NumPy array; or "
                  "save its device with dev.save(path)")
    else:
        advice = ("copy it to the host (d.copy_to_host()) and pickle or copy the NumPy array, then "
                  "dev.to_device(host) where it is needed; or save its device with dev.save(path, arrays={name: d})")
    article = "an" if kind[0] in "AEIOU" else "a"
    # (a Device or Stream has no `__copy__`: copy.copy reaches this too; the others' shallow copies work)
    how = "pickled or copied" if kind in ("Device", "Stream") else "pickled or deep-copied"
    return ArgumentTypeError(f"{article} {kind} cannot be {how}: it is a handle to a device's "
                             f"memory and state, not a value; {advice}", type=kind)


class Stream:
    """An ordered queue of commands with its own simulated clock (seconds). A stream belongs to its
    device, which must stay referenced while the stream is used (as a CUDA stream needs its context)."""

    def __init__(self, device: "Device", name: str) -> None:
        # A weak reference: the device holds its streams, and a strong one back would make a device a
        # reference cycle, freed (with its memory and launch statistics) only by Python's occasional
        # full collection; a loop creating a device per launch then grew its peak memory launch by launch.
        self._device = weakref.ref(device)
        self.name = name
        self.time = 0.0  # when the stream's last command ends (or the time it was made to wait for)
        self.log: list[tuple[str, float, float]] = []  # (what, start s, end s)
        # what a Perfetto trace shows of a command beside its name (a launch's cycles, waves, PE-instructions,
        # and how long it waited for PEs another stream's launch held), by its index in `log`
        self.details: dict[int, dict] = {}

    @property
    def device(self) -> "Device":
        """The device the stream belongs to."""
        device = self._device()
        if device is None:
            raise LaunchError(f"the device of {self!r} no longer exists: keep a reference to the Device "
                              "while its streams are in use")
        return device

    def _ready(self) -> float:
        """When a command issued now on this stream starts: after the stream's earlier commands and, by the
        legacy default stream's rule, after the default stream's (on another stream) or every stream's (on
        the default stream) earlier commands. The caller holds the device's lock."""
        device = self.device
        if self is device.default_stream:
            return max(stream.time for stream in device.streams)
        return max(self.time, device.default_stream.time)

    def _run(self, what: str, seconds: float, not_before: float = 0.0, details: dict | None = None) -> float:
        """Place a command of `seconds` on the timeline, starting no earlier than `not_before` (a launch: when
        the PEs it occupies are free, `runtime.occupancy`); its start. `details`: what a trace shows beside it
        (with the microseconds it waited past the stream's own readiness for `not_before`, if any). The caller
        holds the device's lock."""
        ready = self._ready()
        start = max(ready, not_before)
        self.time = start + seconds
        if details is not None:
            if start > ready:
                details = {**details, "waited for PEs (us)": round((start - ready) * 1e6, 6)}
            self.details[len(self.log)] = details
        self.log.append((what, start, self.time))
        return start

    @call_checked
    def wait_event(self, event: "Event") -> None:
        """Make commands issued later on this stream start no earlier than `event` (CUDA's
        `cudaStreamWaitEvent`). Waiting for an event that was never recorded does nothing, as in CUDA."""
        if not isinstance(event, Event):
            raise ArgumentTypeError(f"wait_event: expected an Event, got {type(event).__name__}")
        device = self.device
        if event.device is not device:
            raise LaunchError("wait_event: the event belongs to another device, whose clock is unrelated to this "
                              "stream's; synchronize on the host instead (event.synchronize())")
        with device.lock:
            if event.time is not None:
                self.time = max(self.time, event.time)

    @call_checked
    def synchronize(self) -> None:
        """Wait until every command of the stream is done. Commands run when issued, so this returns at once;
        on the simulated timeline the host is then at the stream's time: every stream's clock moves up to
        it, so commands issued afterwards start no earlier."""
        device = self.device
        with device.lock:
            device._host_waits_until(self.time)

    @call_checked
    @contextlib.contextmanager
    def auto_synchronize(self) -> Iterator["Stream"]:
        """A context manager that synchronizes the stream (`synchronize()`) when its block ends, as Numba's
        `Stream.auto_synchronize()`; `as` names the stream. A block left by an exception does not synchronize
        (as in Numba). It does not make the stream the default of the launches inside: pass it to each."""
        yield self
        self.synchronize()

    def __enter__(self) -> "Stream":
        # Python's bare TypeError would not say what to use: Numba's streams are no context managers either.
        raise ArgumentTypeError(f"{self!r} is not a context manager: use `with s.auto_synchronize():` to synchronize "
                                "the stream when the block ends, and pass the stream to each launch or copy in it "
                                "(kernel[grid, block, s], stream=s)", type="Stream")

    def __exit__(self, *exc: Any) -> None:  # (needed for `with` to reach `__enter__`, which raises)
        return None

    def __repr__(self) -> str:
        return f"Stream({self.name}, t={self.time * 1e3:.6f} ms)"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise not_picklable(self)


class Event:
    """A point on a stream's simulated timeline."""

    def __init__(self, device: "Device") -> None:
        self.device = device
        self.time: float | None = None

    @call_checked
    def record(self, stream: Stream | None = None) -> None:
        """Record the point of `stream`'s timeline (default: the device's default stream) that the commands
        issued on it so far reach (on the default stream: those of every stream, by its legacy rule)."""
        with self.device.lock:
            stream = self.device._stream(stream)
            stream.time = self.time = stream._ready()

    @call_checked
    def wait(self, stream: Stream | int | None = None) -> None:
        """Make commands issued later on `stream` (default: the device's default stream; 0 as in Numba) start
        no earlier than this event: Numba's `Event.wait(stream=0)`, the same as `stream.wait_event(event)`."""
        with self.device.lock:
            target = self.device._stream(stream)
        target.wait_event(self)

    @call_checked
    def query(self) -> bool:
        """Whether the work recorded by the event is done (CUDA's `cudaEventQuery`): always True, as the
        simulator runs every command when it is issued (and, as in CUDA, for an event never recorded)."""
        return True

    @call_checked
    def synchronize(self) -> None:
        """Wait for the event: it completes when recorded, so this returns at once; on the simulated
        timeline every stream's clock moves up to the event's time (as `Stream.synchronize`)."""
        with self.device.lock:
            if self.time is not None:
                self.device._host_waits_until(self.time)

    @call_checked
    def elapsed_time(self, stop: "Event") -> float:
        """Simulated milliseconds from this event to `stop` (see `event_elapsed_time`)."""
        return event_elapsed_time(self, stop)

    def __repr__(self) -> str:
        state = "unrecorded" if self.time is None else f"t={self.time * 1e3:.6f} ms"
        return f"Event({state})"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise not_picklable(self)

    def __copy__(self) -> "Event":
        twin = Event(self.device)
        twin.time = self.time
        return twin


@call_checked
def event_elapsed_time(start: Event, stop: Event) -> float:
    """Simulated milliseconds from `start` to `stop` (both must have been recorded, on one device)."""
    if not isinstance(start, Event) or not isinstance(stop, Event):
        raise ArgumentTypeError(f"event_elapsed_time: expected two Events, got {type(start).__name__} and "
                                f"{type(stop).__name__}")
    if start.device is not stop.device:
        raise LaunchError("event_elapsed_time: the events belong to different devices, whose clocks are unrelated")
    if start.time is None or stop.time is None:
        raise LaunchError("event_elapsed_time: both events must be recorded first (event.record(stream))")
    return (stop.time - start.time) * 1e3
