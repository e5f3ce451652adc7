"""Checkpoints inside a launch: save a long launch at a barrier and finish it later, in another process,
with bit-identical results and cycle counts.

    stats = kernel[grid, block](*args, checkpoint_every=100, checkpoint="run.npz")   # saves as it goes
    dev, stats = ws.resume_launch("run.npz")   # in a new process: the launch from its last checkpoint

A checkpoint is taken after every `every`-th barrier release at which the whole wave is at one point:
every PE just released by the barrier, none asleep or owing cycles (a lockstep kernel, such as a stencil
with a barrier a step). The file is the device's own `.npz` (`Device.save`: memory, streams, launch
history; `Device.load` reads it) plus the launch: program, configuration, every PE's registers, SRAM,
cycle counters and FIFOs, the engine's counters and the global stores not yet written back, under a
`launch_checkpoint` entry with its own format version. Each checkpoint replaces the previous one.

What is supported: launches without tracing or race checking, routed channels included, in any number of waves
(a checkpoint in a later wave keeps the counters of the waves before it); a launch
outside that is refused up front (`CheckpointError`), so a checkpoint never silently misses state.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AssemblyError, CheckpointError, CycleLimitError, WaferError, call_checked, output_path, path_argument
from ..isa.assembler import Program
from ..isa.encoding import code_before_stop_51
from ..isa.binary import symbol_copy, symbol_of
from ..isa.opcodes import WORD_TAG
from ..sim.debug_hooks import wave_of
from ..sim.diagnostics import RUN_LONGER
from ..sim.fabric import Fifo
from ..sim.lanes import Lanes
from ..sim.stats import LaunchStats
from ..sim.wave import WaveSim
from .checkpoint import FORMAT, FORMAT_VERSION, device_data, device_from, read_npz, write_npz
from .device import Device
from .launch_options import check_launch_options
from .routes import Route

#: 2 since stop 51 (the stream ops' MSGX layout moved); version 1's code is moved to it on resume
#: (`isa.encoding.code_before_stop_51`).
LAUNCH_FORMAT_VERSION = 2
_STATE = ("regs", "sram", "cycle", "stall", "icount", "store_done", "progress", "barrier_time", "start")
_TOTALS = ("pc_counts", "busy", "stall", "instructions", "link_words")  # summed over the waves run so far


# ----------------------------------------------------------------------------- saving
class _Saver:
    """The wave class of a checkpointed launch (called by the engine for each wave)."""

    def __init__(self, device: Device, path: Path, every: int | None, seconds: float | None = None) -> None:
        self.device, self.path, self.every, self.seconds = device, path, every, seconds
        self.saved = 0
        self.saved_at = 0  # the barrier release of the last checkpoint written (`launch.barriers` then)
        self.stream_index = 0  # the launch's stream, in `device.streams` (set by `Device.launch`)
        self.last = time.monotonic()  # host time of the launch's start, then of the last checkpoint

    def due(self, barriers: int) -> bool:
        """Whether the barrier release that made `barriers` should write a checkpoint: every `every`-th,
        or the first after `seconds` of host time since the last checkpoint."""
        if self.every is not None:
            return barriers % self.every == 0
        return time.monotonic() - self.last >= self.seconds

    def explain_failure(self, error: WaferError) -> None:
        """Add to a cycle or time limit's message whether the launch left a checkpoint to go on from, and how
        (`Device.launch` calls it on the launch's error): its message otherwise says only to launch again."""
        if not isinstance(error, CycleLimitError) or not error.args:
            return
        if self.saved:
            hint = (f"; its last checkpoint, {self.path} (written at barrier release {self.saved_at:,}), finishes it "
                    f"without starting over: ws.resume_launch({str(self.path)!r}, max_cycles=..., max_seconds=...)")
        else:
            hint = (f"; no checkpoint was written to {self.path} (none of the launch's barrier releases before the "
                    f"limit was a checkpoint_every-th one with every PE at one point)")
        _add_to_first_line(error, hint)

    def __call__(self, launch, region, start, totals) -> WaveSim:
        refuse = []
        if launch.tracer is not None:
            refuse.append("it is traced (trace=True, dev.trace, WAFERSIM_TRACE or `wafersim trace`): launch it "
                          "without tracing, or trace it without checkpoint_every=")
        if launch.racecheck is not None:
            refuse.append("it is race-checked (racecheck=): launch it without racecheck, or race-check it "
                          "without checkpoint_every=")
        if refuse:
            raise CheckpointError(f"{launch.program.name} cannot be checkpointed: " + "; ".join(refuse))
        sim = _CheckpointingWaveSim(launch, region, start, totals)
        sim.saver = self
        return sim


class _CheckpointingWaveSim(WaveSim):
    saver: _Saver

    def _control(self, pc, ins, next_pc, cost, lanes):
        released = self.launch.barriers
        result = super()._control(pc, ins, next_pc, cost, lanes)
        if self.launch.barriers > released and self.saver.due(self.launch.barriers) and self._at_one_point():
            _save(self, self.saver.device, self.saver.path)
            self.saver.saved += 1
            self.saver.saved_at = self.launch.barriers
            self.saver.last = time.monotonic()
        return result

    def _at_one_point(self) -> bool:
        if self.asleep or len(self.groups) != 1:
            return False
        group = next(iter(self.groups.values()))
        return not group.blocked and group.cost == 0 and group.count == 0 \
            and group.lanes.count == int(self.region.active.sum())


def _add_to_first_line(error: WaferError, text: str) -> None:
    """`text` appended to the first line of `error`'s message (the lines after it list PEs)."""
    first, newline, rest = str(error.args[0]).partition("\n")
    error.args = (first + text + newline + rest, *error.args[1:])


def _program_record(program: Program) -> dict[str, Any]:
    return {"name": program.name, "data_words": program.data_words, "arg_count": program.arg_count,
            "strings": list(program.strings), "labels": program.labels,
            "lines": [[pc, file, line] for pc, (file, line) in program.lines.items()],
            "callers": [[pc, [list(c) for c in calls]] for pc, calls in program.callers.items()],
            "routes": [list(r) for r in program.routes],
            "symbols": [[s.name, s.dtype, s.storage, s.index, [list(r) for r in s.ranges], list(s.shape),
                         [list(c) for c in s.scope], symbol_copy(s)] for s in program.symbols]}


def _save_routes(sim: WaveSim, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """The routed-channel state of a wave into `data` (arrays) and a record of what is there (for meta):
    the launch's explicit routes (declared ones come back from the program), every channel's current
    masks (a kernel may have changed them), and the counters and link reservations of routed words."""
    launch, tables = sim.launch, sim.routes
    declared = {channel for channel, _ in launch.program.routes}
    explicit = []
    for channel, (masks, merge) in launch.routes.items():
        if channel not in declared:
            data[f"ckpt_launch_route_{channel}"] = masks
            explicit.append([int(channel), bool(merge)])
    for channel, masks in tables.masks.items():
        data[f"ckpt_route_{channel}"] = masks
    for channel, words in sim.injected.items():
        data[f"ckpt_injected_{channel}"] = words
    for channel, words in sim.routed_link_words.items():
        data[f"ckpt_routed_links_{channel}"] = words
    for channel, words in sim.totals.routed_link_words.items():
        data[f"ckpt_totals_routed_{channel}"] = words
    for channel, (when, who) in sim.last_arrival.items():
        data[f"ckpt_arrival_{channel}"], data[f"ckpt_arrival_by_{channel}"] = when, who
    if sim.link_busy is not None:
        data["ckpt_link_busy"] = sim.link_busy
    ran = sim.routes_ran or {}  # (which routers ran a route: a RouteError's hint depends on it, `_late_rule_hint`)
    for channel, routers in ran.items():
        data[f"ckpt_routes_ran_{channel}"] = routers
    return {"explicit": explicit, "channels": [int(c) for c in tables.masks], "merge": sorted(tables.merge),
            "injected": [int(c) for c in sim.injected], "links": [int(c) for c in sim.routed_link_words],
            "totals": [int(c) for c in sim.totals.routed_link_words],
            "arrival": [int(c) for c in sim.last_arrival], "ran": [int(c) for c in ran]}


def _restore_routes(sim: WaveSim, record: dict[str, Any], data: dict[str, np.ndarray]) -> None:
    tables = sim.routes
    tables.masks = {c: data[f"ckpt_route_{c}"].copy() for c in record["channels"]}
    tables.merge = set(record["merge"])
    tables._traced = {}
    sim.injected = {c: data[f"ckpt_injected_{c}"].copy() for c in record["injected"]}
    sim.routed_link_words = {c: data[f"ckpt_routed_links_{c}"].copy() for c in record["links"]}
    sim.last_arrival = {c: (data[f"ckpt_arrival_{c}"].copy(), data[f"ckpt_arrival_by_{c}"].copy())
                        for c in record["arrival"]}
    sim.link_busy = data["ckpt_link_busy"].copy() if "ckpt_link_busy" in data else None
    ran = record.get("ran", [])  # (absent from checkpoints before it was kept)
    sim.routes_ran = {c: data[f"ckpt_routes_ran_{c}"].copy() for c in ran} if ran else None


def _launch_routes(meta: dict, data: dict[str, np.ndarray]) -> list[Route]:
    """The checkpointed launch's explicit routes, as the launch option gives them."""
    return [Route(channel, lambda bx, by, masks=data[f"ckpt_launch_route_{channel}"]: masks, "checkpointed", merge)
            for channel, merge in meta.get("routes", {}).get("explicit", [])]


def _save(sim: WaveSim, device: Device, path: Path) -> None:
    launch = sim.launch
    sim._settle_bandwidth()  # (every PE at one barrier: every access before it is known, settled into its counters)
    data = device_data(device, {})  # memory (this launch's stores so far included), streams, history
    pc = next(iter(sim.groups))
    fifos = []
    for k, (key, fifo) in enumerate(sim.fifos.items()):
        data[f"ckpt_fifo_{k}_value"] = fifo.values_by_slot()
        data[f"ckpt_fifo_{k}_time"] = np.stack([fifo.time[s] for s in range(fifo.depth)])
        data[f"ckpt_fifo_{k}_pushed"], data[f"ckpt_fifo_{k}_popped"] = fifo.pushed, fifo.popped
        data[f"ckpt_fifo_{k}_tags"] = fifo.tags.saved()
        fifos.append(list(key))
    for name in _STATE:
        data[f"ckpt_{name}"] = getattr(sim, name)
    background = []  # (the clocks of background transfers posted and not yet waited for: a wait after the
    for k, (key, state) in enumerate(sim.background.items()):  # barrier moves the PE's clock to them)
        data[f"ckpt_background_{k}"] = state
        background.append([key[0], int(key[1]), int(key[2])])
    data["ckpt_code"] = launch.program.code
    for name in _TOTALS:
        data[f"ckpt_totals_{name}"] = getattr(sim.totals, name)
    data["ckpt_slot_free"] = launch.slot_free
    routes = _save_routes(sim, data)
    log = launch.memory_order.log
    if log:
        for name, values in zip(("addr", "base", "value", "cycle", "pe"), log._entries()):
            data[f"ckpt_log_{name}"] = values
    # (the horizon stores went to memory by: the stores after the resume, logged or not, keep to it, `StoreLog.bound`)
    data["ckpt_log_horizon"] = np.float64(log.horizon)
    # (the stamps of the stores so far: a block of a later wave may start before this wave's cycle, and a store of
    # it must still lose to a store of this launch issued later, `sim.store_stamps`)
    for k, (base, index, cycles, keys) in enumerate(launch.memory_order.stamps.saved(launch.memory)):
        data[f"ckpt_stamp_{k}_base"], data[f"ckpt_stamp_{k}_index"] = np.int64(base), index
        data[f"ckpt_stamp_{k}_cycle"], data[f"ckpt_stamp_{k}_pe"] = cycles, keys
    totals = sim.totals
    meta = {"version": LAUNCH_FORMAT_VERSION, "program": _program_record(launch.program),
            "grid": list(launch.placement.grid), "block": list(launch.placement.block),
            "args": [int(a) for a in launch.args], "pc": pc, "wave": wave_of(sim.region), "barriers": launch.barriers, "fifos": fifos,
            "time_dtype": np.dtype(sim.time_dtype).str, "max_cycles": launch.max_cycles, "routes": routes,
            "print_limit": launch.print_limit, "stream": sim.saver.stream_index, "background": background,
            "keep_state": launch.keep_state if isinstance(launch.keep_state, str) else bool(launch.keep_state),
            "totals": {"vector_elements": int(totals.vector_elements), "flops": int(totals.flops),
                       "half_flops": int(totals.half_flops),
                       "global_bytes": int(totals.global_bytes), "prints_dropped": int(totals.prints_dropped),
                       "words_left": int(totals.words_left),
                       "prints": [list(p) for p in totals.prints]}}
    data["launch_checkpoint"] = np.array(json.dumps(meta))
    write_npz(path, data)  # one write, to a temporary file of its own, renamed over the previous checkpoint


def checkpoint_saver(device: Device, path: Any, every: Any) -> _Saver:
    """The wave class a launch with `checkpoint_every=every, checkpoint=path` runs (`Device.launch`):
    `every` a number of barrier releases, or a string of host seconds such as "30s" (the first barrier
    release at which the whole wave is together after that long)."""
    seconds = None
    if every is None:
        raise CheckpointError("launch option checkpoint= needs checkpoint_every=, how often to write it: a number of "
                              "barrier releases (checkpoint_every=100) or a time such as '30s'",
                              option="checkpoint_every")
    if isinstance(every, str) and every.endswith("s"):
        try:
            seconds = float(every[:-1])
        except ValueError:
            seconds = None
        if seconds is None or not seconds > 0:
            raise CheckpointError(f"launch option checkpoint_every={every!r}: a time must be a positive number of "
                                  f"seconds such as '30s'", option="checkpoint_every")
        every = None
    elif not isinstance(every, (int, np.integer)) or isinstance(every, bool) or every < 1:
        raise CheckpointError(f"launch option checkpoint_every must be a positive number of barriers or a time "
                              f"such as '30s', got {every!r}", option="checkpoint_every")
    if not isinstance(path, (str, os.PathLike)):
        raise CheckpointError(f"launch option checkpoint_every needs checkpoint=, the file to write, got {path!r}",
                              option="checkpoint")
    path = output_path(path, "launch option checkpoint", error=CheckpointError)  # (refused before the launch runs)
    return _Saver(device, path, None if every is None else int(every), seconds)


# ----------------------------------------------------------------------------- resuming
class _Restorer:
    """The wave class of a resumed launch: the checkpoint's wave from its state, later waves as usual."""

    def __init__(self, meta: dict, data: dict[str, np.ndarray]) -> None:
        self.meta, self.data = meta, data

    def restore_totals(self, totals) -> tuple[int, np.ndarray]:
        """Restore the engine's counters (`Launch.run` calls this); the wave to start at, the slots' times."""
        for name in _TOTALS:
            getattr(totals, name)[...] = self.data[f"ckpt_totals_{name}"]
        for channel in self.meta.get("routes", {}).get("totals", []):
            totals.routed_link_words[channel] = self.data[f"ckpt_totals_routed_{channel}"].copy()
        return self.meta["wave"], self.data["ckpt_slot_free"].copy()

    def __call__(self, launch, region, start, totals) -> WaveSim:
        if wave_of(region) != self.meta["wave"]:
            return WaveSim(launch, region, start, totals)
        sim = _ResumedWaveSim(launch, region, start, totals)
        meta, data = self.meta, self.data
        sim.time_dtype = np.dtype(meta["time_dtype"]).type
        for name in _STATE:
            saved = data[f"ckpt_{name}"]
            current = getattr(sim, name)
            if saved.shape != current.shape:
                raise CheckpointError(f"the checkpoint's {name} has shape {saved.shape}, the launch {current.shape}")
            if saved.dtype == current.dtype:
                current[...] = saved  # in place: the executors hold the register and SRAM arrays
            else:
                setattr(sim, name, saved.copy())  # a time array widened to float64 before the checkpoint
        for k, key in enumerate(meta["fifos"]):
            sim.fifos[tuple(key)] = Fifo.restore(
                data[f"ckpt_fifo_{k}_value"], data[f"ckpt_fifo_{k}_time"], data[f"ckpt_fifo_{k}_pushed"],
                data[f"ckpt_fifo_{k}_popped"], sim.time_dtype)
            if f"ckpt_fifo_{k}_tags" in data:
                sim.fifos[tuple(key)].tags.restore(data[f"ckpt_fifo_{k}_tags"])
            else:  # a checkpoint from before type tags: its words in flight are not checked
                sim.fifos[tuple(key)].tags.uniform = WORD_TAG["raw"]
        for k, (op, direction, channel) in enumerate(meta.get("background", [])):  # (none before they were saved)
            sim.background[(op, direction, channel)] = data[f"ckpt_background_{k}"].copy()
        for name in ("vector_elements", "flops", "global_bytes", "prints_dropped"):
            setattr(totals, name, meta["totals"][name])
        totals.half_flops = meta["totals"].get("half_flops", 0)  # (absent from checkpoints before it was counted)
        totals.words_left = meta["totals"].get("words_left", 0)  # (absent from checkpoints before it was counted)
        totals.prints = [tuple(p) for p in meta["totals"]["prints"]]
        launch.barriers = meta["barriers"]
        if "routes" in meta:
            _restore_routes(sim, meta["routes"], data)
        if "ckpt_log_addr" in data:  # (a checkpoint from before stores' PEs were logged: PE 0, which loses ties)
            launch.memory_order.log.add(data["ckpt_log_addr"], data["ckpt_log_base"], data["ckpt_log_value"],
                                        data["ckpt_log_cycle"], data.get("ckpt_log_pe", 0))
        if "ckpt_log_horizon" in data:  # (none in a checkpoint from before stop 50)
            launch.memory_order.log.bound(float(data["ckpt_log_horizon"]))
        k = 0
        while f"ckpt_stamp_{k}_base" in data:  # (none in a checkpoint from before stamps: its stores count as first)
            launch.memory_order.stamps.restore(launch.memory, int(data[f"ckpt_stamp_{k}_base"]),
                                               data[f"ckpt_stamp_{k}_index"], data[f"ckpt_stamp_{k}_cycle"],
                                               data[f"ckpt_stamp_{k}_pe"])
            k += 1
        sim.resume_pc = meta["pc"]
        sim.time_bound = float("inf")  # (the clocks restored: the first step finds their exact bound, `sim.clocks`)
        return sim


class _ResumedWaveSim(WaveSim):
    resume_pc: int | None = None

    def _add_group(self, pc: int, lanes: Lanes, blocked: bool = False, cost: float = 0.0, count: int = 0) -> None:
        if self.resume_pc is not None:  # the run's first group: every PE, where the checkpoint left them
            pc, self.resume_pc = self.resume_pc, None
        super()._add_group(pc, lanes, blocked, cost, count)


@call_checked
def resume_launch(path: str | Path, max_cycles: float | None = None,
                  max_seconds: float | None = None) -> tuple[Device, LaunchStats]:
    """The device saved in a checkpoint file, with the launch finished from its checkpoint: (device, the
    launch's `LaunchStats`). Its results and cycle counts are those of the launch run without a stop. A
    launch made with `keep_state=True` has its `stats.state` again (the last wave's PEs); with
    `keep_state='all'`, the waves from the checkpoint's on (earlier waves' state is not in the file).

    `max_cycles` (None: the launch's own) bounds the whole launch's cycles, those before the checkpoint
    included: a launch stopped by its limit resumes from its last checkpoint with a larger one.
    `max_seconds` bounds the host time of the resumed part (None: no limit). The launch resumes on the
    device saved in the file (its spec)."""
    path = path_argument(path, "path")
    check_launch_options(max_cycles, max_seconds, 0, None, None, False)
    # (read once: a CheckpointError for a missing, corrupted or foreign file, and a device of the same file
    # as its launch checkpoint even while another process replaces it)
    device_meta, data = read_npz(path, FORMAT, FORMAT_VERSION)
    device = device_from(Device, device_meta, data, path)
    if "launch_checkpoint" not in data:
        raise CheckpointError(f"{path}: a device file without a launch checkpoint (Device.load reads it)",
                              path=str(path))
    try:
        meta = json.loads(str(data["launch_checkpoint"][()]))
    except (ValueError, TypeError, IndexError) as exc:
        raise CheckpointError(f"{path}: the launch checkpoint cannot be read: {exc}", path=str(path)) from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the launch checkpoint is not a JSON object", path=str(path))
    if meta.get("version") not in (1, LAUNCH_FORMAT_VERSION):
        raise CheckpointError(f"{path}: launch checkpoint version {meta.get('version')!r}; this wafersim reads "
                              f"versions 1 to {LAUNCH_FORMAT_VERSION}", path=str(path), version=meta.get("version"))
    code = data["ckpt_code"].astype(np.uint32)
    if meta["version"] == 1:
        try:
            code = code_before_stop_51(code)
        except AssemblyError as exc:
            raise CheckpointError(f"{path}: {exc}", path=str(path)) from None
    record = meta["program"]
    program = Program(code=code, name=record["name"], data_words=record["data_words"],
                      arg_count=record["arg_count"], strings=tuple(record["strings"]), labels=record["labels"],
                      lines={pc: (file, line) for pc, file, line in record["lines"]},
                      callers={pc: tuple((file, line) for file, line in calls)
                               for pc, calls in record.get("callers", [])},
                      routes=tuple(tuple(r) for r in record["routes"]),
                      symbols=tuple(symbol_of(entry) for entry in record["symbols"]))
    try:
        stats = device.launch(program, tuple(meta["grid"]), tuple(meta["block"]),
                              [a & 0xFFFFFFFF for a in meta["args"]],
                              max_cycles=meta["max_cycles"] if max_cycles is None else max_cycles,
                              max_seconds=max_seconds, print_limit=meta["print_limit"],
                              routes=_launch_routes(meta, data),
                              stream=device.streams[meta.get("stream", 0)],  # (files before it was kept: the default)
                              _wave_class=_Restorer(meta, data), progress=False, print_output=False,
                              keep_state=meta.get("keep_state", False))  # (absent from older checkpoints)
    except CycleLimitError as error:  # (its message says to pass a larger limit "to the launch": here, to resume)
        if error.args:
            message = str(error.args[0]).replace(RUN_LONGER, "")
            error.args = (message, *error.args[1:])
            _add_to_first_line(error, f"; resumed from {path}: pass it to ws.resume_launch({str(path)!r}, "
                                      f"max_cycles=..., max_seconds=...) (max_cycles counts the whole launch's "
                                      f"cycles, those before the checkpoint too)")
        raise
    if stats.state is not None and meta["wave"] > 0:
        stats.state.missing_why = (f"the launch was resumed from a checkpoint taken in wave {meta['wave']}: the "
                                   f"file holds no state of the waves before it")
    return device, stats
