"""The simulated timeline of a training run: every launch on the wafer and every MemoryX transfer, one
after another as the time of a `StepReport` counts them, written as a Perfetto trace (ui.perfetto.dev)
with a track for the steps, one for the wafer's launches and one for each direction of streaming."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..runtime.device import Device
from ..sim import trace

TRACKS = ("steps", "wafer: launches", "MemoryX -> wafer: weights", "wafer -> MemoryX: gradients")
STREAM_TRACKS = {"weight_bytes": TRACKS[2], "gradient_bytes": TRACKS[3]}


@dataclasses.dataclass(frozen=True)
class Slice:
    """One thing that took simulated time: on `track`, from `start_s` for `seconds`."""

    track: str
    name: str
    start_s: float
    seconds: float


class Timeline:
    """Records launches (from the device's launch history) and transfers (from MemoryX) in the order they
    happen, each starting when the one before ended."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.clock = 0.0
        self.slices: list[Slice] = []
        self._seen = len(device.launches)

    def _add(self, track: str, name: str, seconds: float) -> None:
        self.slices.append(Slice(track, name, self.clock, seconds))
        self.clock += seconds

    def catch_up(self) -> None:
        """Add the device's launches since the last call."""
        for stats in self.device.launches[self._seen:]:
            self._add(TRACKS[1], stats.program, stats.seconds)
        self._seen = len(self.device.launches)

    def transfer(self, kind: str, tensor: str, nbytes: int, seconds: float) -> None:
        """A MemoryX transfer (`kind`: "weight_bytes" or "gradient_bytes"), after the launches before it."""
        self.catch_up()
        self._add(STREAM_TRACKS[kind], f"{tensor} ({nbytes:,} B)", seconds)

    def step(self, number: int, start_s: float, label: str) -> None:
        """Close step `number`, begun at `start_s`, with a slice on the steps track."""
        self.catch_up()
        self.slices.append(Slice(TRACKS[0], f"step {number}: {label}", start_s, self.clock - start_s))

    def to_perfetto(self, path: str | Path) -> Path:
        """Write the timeline as a Chrome/Perfetto JSON trace (simulated microseconds)."""
        events: list[dict] = [{"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "training (simulated)"}}]
        for tid, name in enumerate(TRACKS):
            events.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": tid, "args": {"name": name}})
        for s in self.slices:
            events.append({"name": s.name, "cat": "train", "ph": "X", "pid": 0, "tid": TRACKS.index(s.track),
                           "ts": round(s.start_s * 1e6, 6), "dur": round(s.seconds * 1e6, 6)})
        return trace.write(path, events, {"wafersim": f"training on {self.device.spec.summary()}; launches and "
                                                      f"MemoryX transfers one after another"})
