"""A debugger for kernels: breakpoints at source lines, stepping, barriers, variables by source name.

    with ws.debug(kernel[grid, block], *args) as dbg:
        dbg.break_at(line=14, pe=(3, 2))
        stop = dbg.cont()            # runs until PE (3, 2) reaches line 14
        dbg.locals((3, 2))           # {'acc': 1.5, 'c': 0.25, ...}
        dbg.step()                   # until some PE reaches the start of another line
        dbg.step_barrier()           # until the next barrier releases
        dbg.where()                  # {line: [PEs]}

The launch runs in a thread of its own that stops inside the engine (`sim.debug_hooks.DebugWaveSim`)
and waits there while the caller looks at the state; only one of the two threads runs at a time, so
results and cycle counts are the same as without the debugger. Leaving the `with` block runs the launch
to its end (or abandons it, when the block raised: a failed launch leaves device memory as it was).
`wafersim debug script.py` (tools/cli.py) offers the same at a prompt.
"""
from __future__ import annotations

import contextvars
import dataclasses
import queue
import threading
from typing import Any

import numpy as np

from ..arch.values import plural
from ..errors import ArgumentError, LaunchError, call_checked
from ..isa.assembler import Program
from ..isa.opcodes import PORTS
from ..sim.debug_hooks import DebugWaveSim, line_starts, snapshot
from ..sim.lanes import Lanes
from ..sim.layout import Placement
from ..sim.stats import LaunchStats
from .device import ConfiguredKernel, Device
from .state import LaunchState, pe_lane

MAX_PES_LISTED = 8


class DebuggerError(ArgumentError):
    """A debugger used wrongly: a line without code, a command after the launch ended, a bad direction."""


class _Abandoned(BaseException):
    """Raised inside the launch's thread to unwind a launch the debugger gives up."""


@dataclasses.dataclass
class Stop:
    """Why and where the launch stopped. `reason`: 'breakpoint', 'step', 'barrier' or 'finished'."""

    reason: str
    line: int | None = None
    pc: int | None = None
    pes: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # launch coordinates, first few
    count: int = 0  # PEs of the group that stopped
    barriers: int = 0  # barrier releases so far in the launch

    def __str__(self) -> str:
        if self.reason == "finished":
            return "launch finished"
        if self.reason == "barrier":
            return f"barrier released (release {self.barriers} of the launch)"
        more = f" and {self.count - len(self.pes)} more" if self.count > len(self.pes) else ""
        pes = ", ".join(f"({x}, {y})" for x, y in self.pes)
        return f"{self.reason} at line {self.line} (pc {self.pc}): {plural(self.count, 'PE')} {pes}{more}"


@dataclasses.dataclass
class Breakpoint:
    line: int
    pe: tuple[int, int] | None = None


@dataclasses.dataclass
class FifoContents:
    """Words waiting in (or travelling to) one PE's incoming FIFO, oldest first."""

    words: np.ndarray  # int32 bit patterns
    arrival: np.ndarray  # cycle each word arrives (or arrived)

    @property
    def floats(self) -> np.ndarray:
        """The words read as float32."""
        return self.words.view(np.float32)

    def __len__(self) -> int:
        return len(self.words)


class Controller:
    """Breakpoints, stepping and the state at a stop: what both front ends (the `with` block and the
    CLI's prompt) share. `pause` is the front end's."""

    def __init__(self) -> None:
        self.breakpoints: list[Breakpoint] = []
        self.mode = "run"  # 'run' (to breakpoints), 'step', 'barrier', 'end' (no stops)
        self.step_pe: tuple[int, int] | None = None
        self.program: Program | None = None
        self.placement: Placement | None = None
        self.current: LaunchState | None = None
        self.last_stop: Stop | None = None
        self._stops: dict[int, int] = {}

    # ------------------------------------------------------------------ the engine's side
    def wave_class(self, program: Program, placement: Placement) -> type[DebugWaveSim]:
        """The `WaveSim` class a launch of `program` runs under this debugger."""
        self.program, self.placement = program, placement
        self._stops = line_starts(program)
        for bp in self.breakpoints:
            self._check_line(bp.line)
            if bp.pe is not None:
                pe_lane(placement, bp.pe)  # a PE outside the launch: an error, not a breakpoint never hit
        return DebugWaveSim.bind(self)

    def wants(self, sim: DebugWaveSim, pc: int, lanes: Lanes) -> bool:
        if self.mode == "end":
            return False
        if self.mode == "step":
            return self.step_pe is None or self._holds(sim, lanes, self.step_pe)
        line = self._stops.get(pc)
        return any(bp.line == line and (bp.pe is None or self._holds(sim, lanes, bp.pe)) for bp in self.breakpoints)

    def wants_barriers(self) -> bool:
        return self.mode == "barrier"

    def _holds(self, sim: DebugWaveSim, lanes: Lanes, pe: tuple[int, int]) -> bool:
        wave, lane = pe_lane(self.placement, pe)
        return wave == sim.wave and bool(np.any(lanes.indices() == lane))

    def stopped(self, sim: DebugWaveSim, pc: int | None, lanes: Lanes | None, reason: str) -> Stop:
        """Record the state at a stop (live: valid until the launch goes on) and describe it."""
        self.current = LaunchState(self.program, self.placement, [snapshot(sim, None if lanes is None else (pc, lanes))])
        if reason == "barrier":
            stop = Stop("barrier", barriers=sim.launch.barriers)
        else:
            x, y = self.current.launch_coords(self.current.waves[sim.wave])
            flat = lanes.indices()
            pes = list(zip(x[flat[:MAX_PES_LISTED]].tolist(), y[flat[:MAX_PES_LISTED]].tolist()))
            stop = Stop("step" if self.mode == "step" else "breakpoint", self._stops.get(pc), pc, pes,
                        int(lanes.count), sim.launch.barriers)
        self.last_stop = stop
        return stop

    # ------------------------------------------------------------------ the user's side
    def break_at(self, line: int, pe: tuple[int, int] | None = None) -> Breakpoint:
        """Stop when a PE (or the PE `pe`, in launch coordinates) reaches source line `line` (a line number
        in the kernel's file, as error messages give)."""
        if not isinstance(line, (int, np.integer)) or isinstance(line, bool):
            raise DebuggerError(f"break_at: line must be an int, got {line!r}")
        if pe is not None:
            pe = (int(pe[0]), int(pe[1]))
            if self.placement is not None:
                pe_lane(self.placement, pe)  # a PE outside the launch is an error now, not a silent no-stop
        if self.program is not None:
            self._check_line(int(line))
        bp = Breakpoint(int(line), pe)
        self.breakpoints.append(bp)
        return bp

    def clear(self, breakpoint: Breakpoint | None = None) -> None:
        """Remove one breakpoint, or all of them."""
        self.breakpoints = [] if breakpoint is None else [b for b in self.breakpoints if b is not breakpoint]

    def _check_line(self, line: int) -> None:
        lines = sorted(set(self._stops.values()))
        if line not in lines:
            raise DebuggerError(f"line {line} has no code in {self.program.name}; lines with code: "
                                f"{', '.join(map(str, lines))}", line=line)

    def _state(self) -> LaunchState:
        if self.current is None:
            raise DebuggerError("the launch is not stopped: call cont(), step() or step_barrier() first")
        return self.current

    def where(self) -> dict[int | None, list[tuple[int, int]]]:
        """PEs (launch coordinates) by the source line they are at; None: halted or between lines."""
        return self._state().where()

    def line(self, pe: tuple[int, int]) -> int | None:
        """The source line PE `pe` is at (None: halted, or between lines)."""
        state = self._state()
        pc = state.pc(pe)
        return None if pc is None or state.line(pe) is None else self.program.kernel_line(pc)

    def locals(self, pe: tuple[int, int]) -> dict[str, Any]:
        """The variables and local arrays holding a value on PE `pe` where it is, by name."""
        return self._state().locals(pe)

    def read_local(self, name: str, pe: tuple[int, int]) -> Any:
        """One variable or local array of PE `pe` (`LaunchState.read_local`)."""
        return self._state().read_local(name, pe)

    def registers(self, pe: tuple[int, int]) -> np.ndarray:
        """PE `pe`'s registers r0, r1, ... as int32 (`LaunchState.registers`): an assembled program's state."""
        return self._state().registers(pe)

    def sram(self, pe: tuple[int, int], start: int = 0, count: int | None = None) -> np.ndarray:
        """Words of PE `pe`'s data segment as int32 (`LaunchState.sram`)."""
        return self._state().sram(pe, start, count)

    def fifo(self, pe: tuple[int, int], direction: int | str, channel: int = 0) -> FifoContents:
        """The words waiting in PE `pe`'s FIFO from `direction` (ws.NORTH ... ws.RAMP, or its name) on
        `channel`, oldest first, with the cycle each arrives; words still on the link are included."""
        if isinstance(direction, str):
            if direction.lower() not in PORTS:
                raise DebuggerError(f"fifo: direction must be one of {', '.join(PORTS)}, got {direction!r}")
            direction = PORTS.index(direction.lower())
        if not (isinstance(direction, (int, np.integer)) and 0 <= direction < len(PORTS)):
            raise DebuggerError(f"fifo: direction must be ws.NORTH, ws.EAST, ws.SOUTH, ws.WEST or ws.RAMP, got "
                                f"{direction!r}")
        snap, lane = self._state().locate(pe)
        fifo = snap.fifos.get((int(direction), int(channel)))
        if fifo is None:
            return FifoContents(np.zeros(0, np.int32), np.zeros(0))
        slots = np.arange(int(fifo.popped[lane]), int(fifo.pushed[lane])) % fifo.depth
        words = fifo.queued_values(lane)
        arrival = np.array([fifo.time[int(s)][lane] for s in slots], dtype=np.float64)
        return FifoContents(words, arrival)


class Debugger(Controller):
    """`ws.debug(kernel[grid, block], *args, **options)`: a launch run under a debugger (see the module)."""

    def __init__(self, configured: ConfiguredKernel, *args: Any, **options: Any) -> None:
        super().__init__()
        if not isinstance(configured, ConfiguredKernel):
            raise LaunchError(f"ws.debug takes a configured kernel, kernel[grid, block], got "
                              f"{type(configured).__name__}")
        if "keep_state" in options or "_wave_class" in options:
            raise LaunchError("ws.debug keeps the state itself: launch options keep_state and _wave_class are not "
                              "taken")
        self.configured, self.args, self.options = configured, args, options
        self.stats: LaunchStats | None = None
        self._thread: threading.Thread | None = None
        self._to_launch: queue.Queue = queue.Queue()
        self._to_user: queue.Queue = queue.Queue()
        self._device: Device | None = None  # the launch's, once its thread has started
        self.finished = False

    def __enter__(self) -> "Debugger":
        return self

    def __exit__(self, kind, error, tb) -> None:
        if self.finished or self._thread is None:
            if not self.finished and kind is None:
                self._go("end")
            return
        if kind is None:
            self._go("end")
        else:
            self._to_launch.put("abandon")
            self._thread.join()
            self.finished = True

    # ------------------------------------------------------------------ running
    def cont(self) -> Stop:
        """Run until a breakpoint is hit or the launch ends."""
        return self._go("run")

    def step(self, pe: tuple[int, int] | None = None) -> Stop:
        """Run until a PE (or the PE `pe`) reaches the start of a source line."""
        self.step_pe = None if pe is None else (int(pe[0]), int(pe[1]))
        return self._go("step")

    def step_barrier(self) -> Stop:
        """Run until the next barrier releases its block (or a breakpoint, or the end)."""
        return self._go("barrier")

    def _go(self, mode: str) -> Stop:
        if self.finished:
            raise DebuggerError("the launch has finished: there is nothing left to run")
        self.mode, self.current = mode, None
        if self._thread is None:
            # (in a copy of the caller's context: its `sim.strategy.forced` strategy, as a launch of its own)
            self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._launch,),
                                            name="wafersim-debug", daemon=True)
            self._thread.start()
        else:
            self._to_launch.put("go")
        kind, value = self._to_user.get()
        if kind == "stop":
            return value
        self._thread.join()
        self.finished = True
        if kind == "error":
            raise value
        self.stats = value
        self.last_stop = Stop("finished", barriers=0)
        return self.last_stop

    def _launch(self) -> None:
        configured = self.configured
        try:
            device = self._device = configured.device_for(self.args)
            stats = configured.kernel.launch(device, configured.grid, configured.block, self.args,
                                             stream=configured.stream, _wave_class=_Deferred(self), **self.options)
        except _Abandoned:
            self._to_user.put(("abandoned", None))
        except BaseException as error:  # noqa: BLE001 -- handed to the caller's thread, raised there
            self._to_user.put(("error", error))
        else:
            self._to_user.put(("done", stats))

    def pause(self, sim: DebugWaveSim, pc: int | None, lanes: Lanes | None, reason: str) -> None:
        # This thread holds the device's lock while it waits for the caller here: a command on the device from
        # the caller's thread would wait for the lock forever (and this thread for the caller), so the lock
        # refuses such commands while the launch is stopped (`runtime.devlock`).
        lock = self._device.lock
        lock.stopped_launch = self.program.name if self.program is not None else "a kernel"
        try:
            self._to_user.put(("stop", self.stopped(sim, pc, lanes, reason)))
            command = self._to_launch.get()
        finally:
            lock.stopped_launch = None
        if command == "abandon":
            raise _Abandoned()


class _Deferred:
    """Stands for the wave class until the launch knows its program (a @ws.jit kernel compiles first)."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def __call__(self, launch, region, start, totals):
        return self.controller.wave_class(launch.program, launch.placement)(launch, region, start, totals)


@call_checked
def debug(configured: ConfiguredKernel, *args: Any, **options: Any) -> Debugger:
    """Launch `configured` (kernel[grid, block]) with `args` under a debugger: use it in a `with` block."""
    return Debugger(configured, *args, **options)
