"""The simulated timeline of a training run: every launch on the wafer and every MemoryX transfer of each
step, scheduled one after another (as a `StepReport`'s parts add up) or with weight streaming overlapped
with compute, and written as a Perfetto trace (ui.perfetto.dev) with a track for the steps, one for the
wafer's launches, one for each direction of streaming, and a counter of the bytes streamed.

**Overlap.** In staged pipelined mode (`pipelined_stages`) the overlapped schedule is that of stages
working on different micro-batches at once (`stage_schedule`). In weight-streaming mode a step is a
sequence of passes (each layer forward, the loss, each layer backward). With `overlap=True` the weights
are double-buffered on the wafer: a pass's weights stream in while the pass before it computes, as soon as
the pass two before it has finished (its buffer is free) and the weight link is idle; a launch starts when
the wafer is idle and the weights streamed before it (in program order) have arrived; a gradient streams
out as soon as the launch that made it has ended and the gradient link is idle. Both links run at the same
time, each direction at MemoryX's bandwidth. Without overlap every launch and transfer waits for the one
before it.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..runtime.device import Device
from ..sim import trace
from ..sim.stats import LaunchStats

TRACKS = ("steps", "wafer: launches", "MemoryX -> wafer: weights", "wafer -> MemoryX: gradients")
LAUNCH = "launch"
STREAM_TRACKS = {"weight_bytes": TRACKS[2], "gradient_bytes": TRACKS[3]}
COUNTER = "MemoryX bytes streamed"


@dataclasses.dataclass(frozen=True)
class Slice:
    """One thing that took simulated time: on `track`, from `start_s` for `seconds`."""

    track: str
    name: str
    start_s: float
    seconds: float
    nbytes: int = 0  # bytes streamed (transfers only)


@dataclasses.dataclass(frozen=True)
class Event:
    """A launch or a transfer of a step, in program order: `kind` is LAUNCH or a `STREAM_TRACKS` key."""

    kind: str
    name: str
    seconds: float
    pass_index: int
    nbytes: int = 0


def schedule(events: list[Event], overlap: bool) -> list[float]:
    """The start of each event (seconds from the step's start), one after another or overlapped (see the
    module docstring)."""
    if not overlap:
        starts, clock = [], 0.0
        for event in events:
            starts.append(clock)
            clock += event.seconds
        return starts
    wafer_free = weights_free = gradients_free = 0.0
    weights_ready = 0.0  # when every weight transfer so far has arrived
    pass_end: dict[int, float] = {}  # the end of each pass's last launch
    last_launch_end = 0.0
    starts = []
    for event in events:
        if event.kind == LAUNCH:
            start = max(wafer_free, weights_ready)
            wafer_free = last_launch_end = start + event.seconds
            pass_end[event.pass_index] = wafer_free
        elif event.kind == "weight_bytes":
            buffer_free = max((end for p, end in pass_end.items() if p <= event.pass_index - 2), default=0.0)
            start = max(weights_free, buffer_free)
            weights_free = weights_ready = start + event.seconds
        else:
            start = max(gradients_free, last_launch_end)
            gradients_free = start + event.seconds
        starts.append(start)
    return starts


def stage_schedule(events: list[Event], tasks: list[tuple[str, int, int]]) -> list[float]:
    """The start of each launch of a staged pipelined step (`pipelined_stages`) when its stages run at the
    same time: event pass p (from 1) belongs to task ``tasks[p - 1]`` = (phase, stage, micro-batch), its
    launches one after another on the stage's region. A task starts when its region is free and what it
    needs has ended: a forward pass the previous stage's forward of the same micro-batch; a backward pass
    the next stage's backward of it (the last stage: its own forward, which ends with the loss); an
    update the stage's own backward passes (its region is busy until then)."""
    last = max((stage for _, stage, _ in tasks), default=0)
    region_free: dict[int, float] = {}
    ended: dict[tuple[str, int, int], float] = {}
    cursor: dict[int, float] = {}
    starts = []
    for event in events:
        phase, stage, micro = tasks[event.pass_index - 1]
        if event.pass_index not in cursor:
            if phase == "forward":
                after = ended.get(("forward", stage - 1, micro), 0.0)
            elif phase == "backward":
                after = ended[("forward", stage, micro)] if stage == last else ended[("backward", stage + 1, micro)]
            else:
                after = 0.0
            cursor[event.pass_index] = max(region_free.get(stage, 0.0), after)
        starts.append(cursor[event.pass_index])
        cursor[event.pass_index] += event.seconds
        ended[(phase, stage, micro)] = region_free[stage] = cursor[event.pass_index]
    return starts


class Timeline:
    """Records a step's launches (from the device's launch history) and transfers (from MemoryX) in the
    order they happen, and schedules them when the step closes (`overlap`: see the module docstring)."""

    def __init__(self, device: Device, overlap: bool = False) -> None:
        self.device, self.overlap = device, overlap
        self.clock = 0.0
        self.slices: list[Slice] = []
        self.events: list[Event] = []  # the open step's
        self.pass_index = 0
        self._seen = len(device.launches)
        self._pending_weight_bytes = 0  # streamed since the last launch: charged to the next one

    def begin_step(self) -> None:
        """Open a step: the device's launches so far (made outside the trainer) and anything left of a
        step that failed are left out."""
        self._seen = len(self.device.launches)
        self.events, self.pass_index, self._pending_weight_bytes = [], 0, 0

    def begin_pass(self) -> None:
        """The launches and transfers from here on belong to the next pass (a layer forward or backward)."""
        self.catch_up()
        self.pass_index += 1

    def catch_up(self) -> None:
        """Add the device's launches since the last call; each is charged with the weights streamed
        before it (`LaunchStats.weight_stream_bytes`)."""
        for stats in self.device.launches[self._seen:]:
            stats.weight_stream_bytes += self._pending_weight_bytes
            self._pending_weight_bytes = 0
            self.events.append(Event(LAUNCH, stats.program, stats.seconds, self.pass_index))
        self._seen = len(self.device.launches)

    def transfer(self, kind: str, tensor: str, nbytes: int, seconds: float) -> None:
        """A MemoryX transfer (`kind`: "weight_bytes" or "gradient_bytes"), after the launches before it;
        gradients are charged to the launch before them (`LaunchStats.gradient_stream_bytes`)."""
        self.catch_up()
        if kind == "weight_bytes":
            self._pending_weight_bytes += nbytes
        elif self.device.launches:
            last: LaunchStats = self.device.launches[-1]
            last.gradient_stream_bytes += nbytes
        self.events.append(Event(kind, f"{tensor} ({nbytes:,} B)", seconds, self.pass_index, nbytes))

    def step(self, number: int, label: str, tasks: list[tuple[str, int, int]] | None = None) -> tuple[float, float]:
        """Close step `number` with a slice on the steps track; returns its (serial, overlapped) seconds.
        The timeline draws the one its `overlap` asks for. `tasks` (staged pipelined mode) says what each
        pass is: the overlapped schedule is then `stage_schedule`'s."""
        self.catch_up()
        ends = {}
        for overlap in (False, True):
            starts = stage_schedule(self.events, tasks) if overlap and tasks else schedule(self.events, overlap)
            ends[overlap] = max((s + e.seconds for s, e in zip(starts, self.events)), default=0.0)
            if overlap == self.overlap:
                chosen = starts
        start_s = self.clock
        for start, event in zip(chosen, self.events):
            track = TRACKS[1] if event.kind == LAUNCH else STREAM_TRACKS[event.kind]
            self.slices.append(Slice(track, event.name, start_s + start, event.seconds, event.nbytes))
        self.clock = start_s + ends[self.overlap]
        self.slices.append(Slice(TRACKS[0], f"step {number}: {label}", start_s, ends[self.overlap]))
        self.events, self.pass_index = [], 0
        return ends[False], ends[True]

    def to_perfetto(self, path: str | Path) -> Path:
        """Write the timeline as a Chrome/Perfetto JSON trace (simulated microseconds)."""
        events: list[dict] = [{"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "training (simulated)"}}]
        for tid, name in enumerate(TRACKS):
            events.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": tid, "args": {"name": name}})
        streamed = {"weights in": 0, "gradients out": 0}
        for s in self.slices:
            events.append({"name": s.name, "cat": "train", "ph": "X", "pid": 0, "tid": TRACKS.index(s.track),
                           "ts": round(s.start_s * 1e6, 6), "dur": round(s.seconds * 1e6, 6)})
        for s in sorted((s for s in self.slices if s.nbytes), key=lambda s: s.start_s + s.seconds):
            streamed["weights in" if s.track == TRACKS[2] else "gradients out"] += s.nbytes
            events.append({"name": COUNTER, "ph": "C", "pid": 0, "ts": round((s.start_s + s.seconds) * 1e6, 6),
                           "args": dict(streamed)})
        how = "weight streaming overlapped with compute" if self.overlap else "launches and transfers one after another"
        return trace.write(path, events, {"wafersim": f"training on {self.device.spec.summary()}; {how}"})
