"""Launch traces in the Chrome / Perfetto trace-event format (JSON, opens in ui.perfetto.dev).

A traced launch records what a sample of its PEs did and when: sends, receives (including the wait for
the word), barrier waits, global-memory accesses, and the compute between them. One track per block
(its north-west PE) when a launch has many blocks; otherwise a grid of PEs spread over each block. At
most `MAX_TRACKS` tracks and `MAX_EVENTS_PER_TRACK` slices each, so a wafer-scale trace stays small;
the trace's metadata says what was sampled and whether anything was cut. Slices: compute, send, recv
(including the wait for the word), barrier, global load, global store, store drain (a halting PE
waiting for its posted stores to land), and on a track cut at `MAX_EVENTS_PER_TRACK` slices, "not
recorded" from the cut to the PE's end (not "compute": what it did there is unknown). Counter tracks: per
routed channel, the words its routers have forwarded over links so far (over all PEs, not only the sampled
ones).

Background transfers (`recva` / `senda`) move words while their PE computes, so their slices overlap the
PE's own: they go on tracks of their own, one per sampled PE and (way, direction, channel), named after
the PE's track ("... background recv north ch 2"), holding only that transfer's send / recv slices (no
compute between them). The PE's track shows the wait (`rwait` / `swait`) as a recv / send slice. On
every track slices are disjoint or nested, as the trace-event format requires of complete events.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from ..arch.values import plural
from ..errors import ArgumentError, output_path, write_whole
from .lanes import Lanes

MAX_TRACKS = 64
MAX_EVENTS_PER_TRACK = 1000  # with the compute slices between them: at most ~128k events, ~15 MB
MAX_COUNTER_POINTS = 500  # per counter track
NOT_RECORDED = "not recorded"  # the end of a track past MAX_EVENTS_PER_TRACK slices


@dataclasses.dataclass
class LaunchTrace:
    tracks: dict[int, str]  # track id -> name
    intervals: list[tuple[int, str, float, float]]  # (track, kind, start cycle, end cycle)
    spans: dict[int, tuple[float, float]]  # track -> (first cycle, last cycle)
    sampled_pes: int
    total_pes: int
    truncated_tracks: int = 0
    # counter name -> (cycles, increments): e.g. the link-words of a routed channel
    counters: dict[str, tuple[list, list]] = dataclasses.field(default_factory=dict)
    # tracks of background transfers: only their slices, no compute between them
    background: set[int] = dataclasses.field(default_factory=set)
    # track -> the cycle its first slice past MAX_EVENTS_PER_TRACK began: from there on nothing was recorded
    cut_at: dict[int, float] = dataclasses.field(default_factory=dict)

    def events(self, pid: int, clock_hz: float, offset_us: float = 0.0, name: str = "launch") -> list[dict]:
        """Trace events (microseconds of simulated time) for one launch, as process `pid`."""
        us = 1e6 / clock_hz
        events = [{"name": "process_name", "ph": "M", "pid": pid, "args": {"name": name}}]
        by_track: dict[int, list] = {}
        for track, kind, start, end in self.intervals:
            by_track.setdefault(track, []).append((start, end, kind))
        for track, label in self.tracks.items():
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": track, "args": {"name": label}})
            if track in self.background:
                events += [_slice(kind, start, end, pid, track, us, offset_us)
                           for start, end, kind in sorted(by_track.get(track, []))]
                continue
            first, last = self.spans.get(track, (0.0, 0.0))
            cut = self.cut_at.get(track, math.inf)
            cursor = first
            for start, end, kind in sorted(by_track.get(track, [])):
                if min(start, cut) > cursor:  # the time between recorded activities is computing
                    events.append(_slice("compute", cursor, min(start, cut), pid, track, us, offset_us))
                events.append(_slice(kind, start, end, pid, track, us, offset_us))
                cursor = max(cursor, end)
            if min(last, cut) > cursor:
                events.append(_slice("compute", cursor, min(last, cut), pid, track, us, offset_us))
                cursor = min(last, cut)
            if last > cursor:  # a cut track: what the PE did from the cut on is unknown, not computing
                events.append(_slice(NOT_RECORDED, cursor, last, pid, track, us, offset_us))
        for counter, (times, increments) in sorted(self.counters.items()):
            events += _counter_events(counter, np.concatenate(times), np.concatenate(increments), pid, us,
                                      offset_us)
        return events

    @property
    def note(self) -> str:
        text = f"sampled {self.sampled_pes} of {self.total_pes:,} PEs"
        if self.truncated_tracks:
            text += f"; {plural(self.truncated_tracks, 'track')} cut at {MAX_EVENTS_PER_TRACK} slices"
        return text


def _counter_events(name: str, times: np.ndarray, increments: np.ndarray, pid: int, us: float,
                    offset: float) -> list[dict]:
    """A Perfetto counter track of the running total of `increments` over time, at most
    MAX_COUNTER_POINTS points (the last of each time bucket)."""
    order = np.argsort(times, kind="stable")
    times, totals = times[order], np.cumsum(increments[order])
    if len(times) > MAX_COUNTER_POINTS:
        edges = np.linspace(times[0], times[-1], MAX_COUNTER_POINTS + 1)[1:]
        last = np.minimum(np.searchsorted(times, edges, side="right") - 1, len(times) - 1)
        times, totals = times[np.unique(last)], totals[np.unique(last)]
    return [{"name": name, "ph": "C", "pid": pid, "ts": round(offset + float(t) * us, 6),
             "args": {"words": int(v)}} for t, v in zip(times, totals)]


def _slice(kind: str, start: float, end: float, pid: int, tid: int, us: float, offset: float) -> dict:
    # Both ends rounded to the picosecond, and the duration their difference: a slice that ends where the
    # next starts ends there in the file too (rounding the duration apart made them overlap by 1 ps).
    ts = round(offset + start * us, 6)
    return {"name": kind, "cat": "pe", "ph": "X", "pid": pid, "tid": tid, "ts": ts,
            "dur": round(max(round(offset + end * us, 6) - ts, 0.0), 6)}


def write(path: str | Path, events: list[dict], metadata: dict) -> Path:
    """Write a trace to exactly `path` (any name; `.json` is usual) and return it; a folder or a missing
    folder is an `ArgumentError` (`errors.output_path`); written whole (`errors.write_whole`)."""
    path = output_path(path, "path")
    text = json.dumps({"traceEvents": events, "displayTimeUnit": "ns", "metadata": metadata}, separators=(",", ":"))
    return write_whole(path, lambda fh: fh.write(text.encode()), ArgumentError, f"trace {str(path)!r}")


class TraceRecorder:
    """Collects intervals for the sampled PEs of each wave of a launch (used by the engine)."""

    def __init__(self, grid: tuple[int, int], block: tuple[int, int], total_pes: int) -> None:
        self.grid, self.block = grid, block
        self.trace = LaunchTrace({}, [], {}, 0, total_pes)
        self.counts: dict[int, int] = {}
        self.mask: np.ndarray | None = None
        self.track_of: dict[int, int] = {}  # flat index in the wave's region -> track
        self.channel: str | None = None  # the background transfer being recorded (see `background`)
        self.channel_tracks: dict[tuple[int, str], int] = {}  # (PE's track, channel) -> its track
        self.last_slice: dict[int, int] = {}  # background track -> index of its latest slice in `intervals`
        # per region PE: the issue cycle of its background transfer being recorded (which transfer a slice
        # belongs to), and per background track the issue cycle of its latest slice's transfer
        self.transfer: np.ndarray | None = None
        self.last_transfer: dict[int, float] = {}

    @contextlib.contextmanager
    def background(self, label: str, issued: np.ndarray):
        """Record the slices of this block on each PE's track for the background transfer `label` (created
        on first use): they overlap the PE's own slices. `issued`: per region PE, the cycle its transfer was
        issued at, which tells one transfer from the next (two back to back, with no gap, stay two slices)."""
        self.channel, self.transfer = label, issued
        try:
            yield
        finally:
            self.channel, self.transfer = None, None

    def _track(self, flat: int) -> int:
        track = self.track_of[flat]
        if self.channel is None:
            return track
        key = (track, self.channel)
        if key not in self.channel_tracks:
            self.channel_tracks[key] = len(self.trace.tracks)
            self.trace.tracks[len(self.trace.tracks)] = f"{self.trace.tracks[track]} background {self.channel}"
            self.trace.background.add(self.channel_tracks[key])
        return self.channel_tracks[key]

    def sample(self, n_blocks: int) -> list[tuple[int, int, int]]:
        """(block number, tid.x, tid.y) of the PEs to trace."""
        bx, by = self.block
        if n_blocks >= MAX_TRACKS:
            return [(k * n_blocks // MAX_TRACKS, 0, 0) for k in range(MAX_TRACKS)]
        side = max(1, math.isqrt(MAX_TRACKS // n_blocks))
        spread = lambda n: sorted({round(i * (n - 1) / (side - 1)) for i in range(side)}) if side > 1 else [0]  # noqa
        xs, ys = spread(bx), spread(by)  # evenly spaced, edges and corners included
        return [(b, x, y) for b in range(n_blocks) for y in ys for x in xs]

    def begin_wave(self, region) -> None:
        wanted = {}
        gx = self.grid[0]
        for block, tx, ty in self.sample(self.grid[0] * self.grid[1]):
            wanted.setdefault(block, []).append((tx, ty))
        x, y = region.xy
        tid_x, tid_y = region.special("tid.x"), region.special("tid.y")
        self.mask = np.zeros(region.n, dtype=bool)
        self.track_of = {}
        for flat in np.flatnonzero(region.active & np.isin(region.block_id, list(wanted))):
            block = int(region.block_id[flat])
            if (int(tid_x[flat]), int(tid_y[flat])) in wanted[block]:
                track = len(self.trace.tracks)
                self.trace.tracks[track] = (f"block ({block % gx}, {block // gx}) PE ({int(x[flat])}, {int(y[flat])})")
                self.track_of[int(flat)] = track
                self.mask[flat] = True
        self.trace.sampled_pes += len(self.track_of)

    def record(self, lanes: Lanes, kind: str, start, end) -> None:
        """Intervals [start, end) (lane-aligned arrays or scalars) for the sampled lanes of a group."""
        picked, positions = _sampled(lanes, self.mask)
        if not len(picked):
            return
        starts = np.broadcast_to(start, np.shape(lanes.get(self.mask)))[positions]
        ends = np.broadcast_to(end, np.shape(lanes.get(self.mask)))[positions]
        for flat, s, e in zip(picked, starts, ends):
            track = self._track(int(flat))
            transfer = float(self.transfer[flat]) if self.transfer is not None else math.nan
            if self.channel is not None:
                if self._extend(track, kind, float(s), float(e), transfer):
                    continue
                s = self._after_last(track, float(s), float(e))
            count = self.counts.get(track, 0)
            if count == MAX_EVENTS_PER_TRACK:
                self.trace.truncated_tracks += 1
                self.trace.cut_at[track] = float(s)
            self.counts[track] = count + 1
            if count < MAX_EVENTS_PER_TRACK:
                if self.channel is not None:
                    self.last_slice[track] = len(self.trace.intervals)
                    self.last_transfer[track] = transfer
                self.trace.intervals.append((track, kind, float(s), float(e)))

    def _extend(self, track: int, kind: str, start: float, end: float, transfer: float) -> bool:
        """Grow a background track's latest slice to `end` when this one continues it (same transfer, the
        one issued at cycle `transfer`, and kind, starting where it ends or inside it): a transfer records a
        slice per word or chunk as it moves, and one transfer is one slice (else a panel of 1,024 words
        filled the track's `MAX_EVENTS_PER_TRACK` slices and the later transfers were cut from the trace).
        The next transfer, though it starts where this one ends, is a slice of its own."""
        index = self.last_slice.get(track)
        if index is None or self.last_transfer.get(track) != transfer:
            return False
        _, last_kind, last_start, last_end = self.trace.intervals[index]
        if last_kind != kind or not last_start <= start <= last_end:
            return False
        self.trace.intervals[index] = (track, kind, last_start, max(last_end, end))
        return True

    def _after_last(self, track: int, start: float, end: float) -> float:
        """The start of a background track's next transfer's slice, moved to where the latest slice ends
        when it would overlap its end: a transfer's issue overlaps the end of the one before it (the
        PE's clock is parked `cost` early, `_background`), but the next words move only after the last
        of the transfer before, and slices on a track must be disjoint or nested."""
        index = self.last_slice.get(track)
        if index is None:
            return start
        _, _, last_start, last_end = self.trace.intervals[index]
        return last_end if last_start <= start < last_end < end else start

    def count(self, name: str, times: np.ndarray, increments: np.ndarray) -> None:
        """Add increments at times (cycles) to the counter track `name` (all PEs, not only the sample)."""
        times_list, increments_list = self.trace.counters.setdefault(name, ([], []))
        times_list.append(np.asarray(times, dtype=np.float64).reshape(-1))
        increments_list.append(np.asarray(increments, dtype=np.int64).reshape(-1))

    def end_wave(self, start: np.ndarray, end: np.ndarray) -> None:
        for flat, track in self.track_of.items():
            self.trace.spans[track] = (float(start[flat]), float(end[flat]))


def _sampled(lanes: Lanes, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(region indices, positions in `get` coordinates) of the lanes that are sampled."""
    positions = np.flatnonzero(lanes.get(mask))  # few: the sample is at most MAX_TRACKS PEs
    if lanes.mask is not None:
        positions = positions[lanes.mask[positions]]
    elif lanes.excl is not None:
        positions = positions[~np.isin(positions, lanes.excl)]
    if lanes.idx is not None:
        return lanes.idx[positions], positions
    base = 0 if lanes.window is None else lanes.window.start
    return positions + base, positions
