"""`LaunchStats`: what one kernel launch did, and what it cost."""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np

from ..arch.spec import WaferSpec
from ..arch.values import is_integer, plural
from ..isa.opcodes import DIRECTIONS
from .layout import slot_grid
from .trace import LaunchTrace


@dataclasses.dataclass(frozen=True)
class PrintRecord:
    cycle: float
    x: int
    y: int
    text: str
    value: int | float

    def __str__(self) -> str:
        label = f"{self.text}: " if self.text else ""
        # a float32 value is shown as NumPy shows a float32 (0.1), not by its float64 digits
        # (0.10000000149011612); `value` keeps it exactly
        shown = str(np.float32(self.value)) if isinstance(self.value, float) else self.value
        return f"[PE ({self.x}, {self.y}) @ cycle {self.cycle:.0f}] {label}{shown}"


@dataclasses.dataclass
class LaunchStats:
    """Counters of one launch. Per-PE arrays are (height, width) over the whole wafer, north up."""

    program: str
    spec: WaferSpec
    grid: tuple[int, int]
    block: tuple[int, int]
    cycles: int  # from the launch's start to its last PE's halt
    instructions: int  # PE-instructions executed, over all PEs
    busy: np.ndarray  # cycles each PE spent executing
    stall: np.ndarray  # cycles each PE spent waiting (messages, barriers, global memory, back-pressure)
    pe_instructions: np.ndarray  # instructions executed per PE
    link_words: np.ndarray  # (4, height, width): words each PE sent north, east, south, west (routed included)
    global_bytes: int  # bytes moved between PEs and off-wafer memory
    waves: int
    op_counts: dict[str, int]  # executions of each opcode, over all PEs
    vector_elements: int  # elements processed by vector instructions
    flops: int  # floating-point operations (fma = 2), 16-bit ones included
    prints: list[PrintRecord] = dataclasses.field(default_factory=list)
    prints_dropped: int = 0
    # words sent (or routed) to a PE that it never received before halting: usually a bug (a missing
    # receive, or one receive too few in a loop); shown in `summary()` when there are any
    words_left_in_fifos: int = 0
    start_cycle: float = 0.0  # on its stream's timeline (filled in by the runtime)
    trace: "LaunchTrace | None" = None  # sampled PE activity, when launched with trace=True
    # a traced launch read back by Device.load, which keeps no traces (to_perfetto says so)
    trace_not_saved: bool = dataclasses.field(default=False, compare=False)
    # channel -> (4, height, width): the routed words of that channel each PE's router forwarded over
    # each of its links (a part of `link_words`)
    routed_link_words: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    # with racecheck: global-memory races found (sim/racecheck.py `RaceHazard`), capped; how many left out
    races: list = dataclasses.field(default_factory=list)
    races_dropped: int = 0
    # with keep_state: the PEs' variables and local arrays by source name (runtime.state.LaunchState)
    state: Any = None
    # a keep_state launch read back by Device.load, which keeps no PE state (`state` is None, yet the
    # launch had one: shown in `summary()`)
    state_not_saved: bool = dataclasses.field(default=False, compare=False)
    # weight streaming (filled in by wafersim.train): bytes of weights streamed in from the off-wafer
    # store for this launch, and of gradients streamed out after it
    weight_stream_bytes: int = 0
    gradient_stream_bytes: int = 0
    # the part of `flops` done by 16-bit float vector instructions, which run `vector_lanes_half` elements a
    # cycle (0 in launches saved before it was counted)
    half_flops: int = 0

    @property
    def seconds(self) -> float:
        return self.spec.seconds(self.cycles)

    @property
    def words_moved(self) -> int:
        """Words moved over links, one count per link crossed (a routed word counts every hop)."""
        return int(self.link_words.sum())

    def words_per_link(self) -> dict[str, int]:
        return {name: int(self.link_words[i].sum()) for i, name in enumerate(DIRECTIONS)}

    @property
    def energy_breakdown_j(self) -> dict[str, float]:
        """Energy estimate by source, from the per-op, per-hop and per-byte figures of the spec."""
        from ..isa.opcodes import BY_NAME

        compute = 0.0
        for name, count in self.op_counts.items():
            cls = BY_NAME[name].cost_class
            if cls != "vector":
                compute += count * self.spec.op_energy_pj[cls]
        compute += self.vector_elements * self.spec.op_energy_pj["vector"]
        return {
            "compute": compute * 1e-12,
            "fabric": (self.words_moved + self.detour_word_hops) * self.spec.hop_energy_pj * 1e-12,
            "global_memory": self.global_bytes * self.spec.global_energy_pj_per_byte * 1e-12,
        }

    @property
    def energy_j(self) -> float:
        return sum(self.energy_breakdown_j.values())

    @property
    def utilization(self) -> float:
        """The share of the wafer's peak the launch's FLOPs used: float32 ones against `peak_flops`, 16-bit ones
        against the peak of `vector_lanes_half` lanes (a 16-bit FLOP takes a fraction of a lane-cycle), so a
        launch never passes 1 (16-bit FLOPs over the float32 peak did, up to `vector_lanes_half / vector_lanes`)."""
        if not self.cycles:
            return 0.0
        spec = self.spec
        return ((self.flops - self.half_flops) / spec.peak_flops + self.half_flops / spec.peak_flops_half) / self.seconds

    HEATMAP_METRICS = {
        "busy": ("cycles", "busy cycles per PE"),
        "stall": ("cycles", "stall cycles per PE"),
        "instructions": ("instructions", "instructions per PE"),
        "words_sent": ("32-bit words", "words sent per PE (all directions)"),
        "link_utilization": ("words / cycle", "outgoing link use per PE (words per cycle, 4 links)"),
        "routed_words": ("32-bit words", "routed words each PE's router sent on (all channels, 4 links)"),
    }
    # ... and "routed_words_<c>": the same for channel c alone (e.g. "routed_words_1").

    @staticmethod
    def routed_channel(name: object) -> int | None:
        """The channel c of a metric name "routed_words_<c>", else None."""
        if isinstance(name, str) and name.startswith("routed_words_") and name[13:].isdigit():
            return int(name[13:])
        return None

    @classmethod
    def is_metric(cls, name: object) -> bool:
        """Whether `name` names a per-PE metric (`metric`, `heatmap`): one of `HEATMAP_METRICS` or
        "routed_words_<c>" (a channel past the machine's is refused by `metric` itself)."""
        return name in cls.HEATMAP_METRICS or cls.routed_channel(name) is not None

    def wafer_xy(self, x: int, y: int) -> tuple[int, int]:
        """The wafer position (column, row) of the PE with launch coordinates (x, y) -- `ws.grid(2)`, what
        errors, prints and the debugger name PEs by -- for indexing the per-PE arrays: `busy[row, column]`.
        Block k of the grid (row-major) runs in slot k % slots, the slots tiling the wafer row-major; with
        several waves a position's figures add up every block that ran there."""
        from ..errors import ArgumentError, ArgumentTypeError

        if not (is_integer(x) and is_integer(y)):
            raise ArgumentTypeError(f"wafer_xy takes the PE's launch coordinates as ints, got ({x!r}, {y!r})")
        (gx, gy), (bx, by) = self.grid, self.block
        if not (0 <= x < gx * bx and 0 <= y < gy * by):

            raise ArgumentError(f"PE ({x}, {y}) is outside the launch's {gx * bx} x {gy * by} PEs", pe=(x, y))
        slots_x, slots_y = slot_grid(self.spec, gx * gy, self.block)  # (fewer slots where defects leave less)
        slot = ((y // by) * gx + x // bx) % (slots_x * slots_y)
        return int((slot % slots_x) * bx + x % bx), int((slot // slots_x) * by + y % by)

    def metric(self, name: str) -> np.ndarray:
        """A per-PE (height, width) array by name: busy, stall, instructions, words_sent, link_utilization,
        routed_words, routed_words_<channel>."""
        if name == "routed_words":
            return sum((words.sum(axis=0) for words in self.routed_link_words.values()),
                       np.zeros(self.busy.shape, dtype=np.int64))
        channel = self.routed_channel(name)
        if channel is not None:
            if channel >= self.spec.channels:  # (a channel the machine has and no route used is all zeros)
                from ..errors import ArgumentError

                raise ArgumentError(f"metric {name!r}: the machine has channels 0..{self.spec.channels - 1}",
                                    metric=name)
            words = self.routed_link_words.get(channel)
            return np.zeros(self.busy.shape, dtype=np.int64) if words is None else words.sum(axis=0)
        if name == "busy":
            return self.busy
        if name == "stall":
            return self.stall
        if name == "instructions":
            return self.pe_instructions
        if name == "words_sent":
            return self.link_words.sum(axis=0)
        if name == "link_utilization":
            return self.link_words.sum(axis=0) / max(self.cycles, 1)
        from ..errors import ArgumentError

        raise ArgumentError(f"unknown metric {name!r}; known: {', '.join(self.HEATMAP_METRICS)}, and "
                            f"routed_words_<channel> (routed_words_1: one channel's routed words)", metric=name)

    @property
    def waves_note(self) -> str:
        """', summed over N waves' for a launch of several waves, else '': a heatmap's title and the
        notebook's caption say that a wafer PE's figures add up every block that ran on it, not the last."""
        return f", summed over {self.waves:,} waves" if self.waves > 1 else ""

    def heatmap(self, metric: str, path, title: str | None = None, whole_wafer: bool = False):
        """Write a PNG heatmap of a per-PE metric (north up, with a colour bar in its units) over the
        rectangle of the wafer the launch's blocks occupied, or over the whole wafer with `whole_wafer`.

        On a wafer with spares or defects the map is drawn over the physical array: each logical PE at
        its physical site, dead PEs marked with red crosses, unused spare or retired PEs in grey, and a
        dashed line where the spare columns and rows begin."""
        from .pictures import crop_physical, save_map
        from .stats_html import launched_region

        values = self.metric(metric)  # raises for an unknown metric
        channel = self.routed_channel(metric)
        units, label = self.HEATMAP_METRICS["routed_words" if channel is not None else metric]
        if channel is not None:
            label = label.replace("all channels", f"channel {metric[13:]}")  # (as written: "01" stays)
        title = title or f"{self.program}: {label}{self.waves_note}"
        cmap = "magma" if metric == "stall" else "viridis"
        width, height = (self.spec.width, self.spec.height) if whole_wafer else launched_region(self)
        repair = self.repair
        if repair is None:
            return save_map(values[:height, :width], path, title, units, cmap=cmap)
        on_wafer = self.spec.repair() or repair  # the whole mesh's map when the spares cover it
        physical = on_wafer.to_physical(values[:on_wafer.height, :on_wafer.width])
        dead = on_wafer.dead
        if not whole_wafer:
            physical, dead = crop_physical(on_wafer, physical, width, height)
        return save_map(physical, path, title, units, cmap=cmap, dead=dead,
                        logical_size=(self.spec.width, self.spec.height))

    # ----------------------------------------------------------------- defects (docs/defects.md)
    @functools.cached_property
    def repair(self):
        """The physical map this launch ran on (`arch.defects.Repair`), None on a wafer without spares or
        defects."""
        from .layout import Placement

        return Placement(self.spec, self.grid, self.block).repair

    @property
    def detour_word_hops(self) -> int:
        """Extra physical hops that words crossed on links bent around dead PEs, summed over every word."""
        repair = self.repair
        if repair is None:
            return 0
        h, w = repair.height, repair.width
        return int((self.link_words[:, :h, :w] * repair.extra_hops).sum())

    @property
    def detour_cycles(self) -> float:
        """Link latency that detours added, summed over every word sent (`detour_word_hops` times
        `detour_cycles_per_hop`). The launch's `cycles` grow by the part of it on the critical path."""
        return self.detour_word_hops * self.spec.detour_cycles_per_hop

    def to_perfetto(self, path) -> "Path":
        """Write this launch as a Chrome/Perfetto JSON trace (open it in ui.perfetto.dev)."""
        from ..errors import LaunchError
        from . import trace

        if self.trace is None and self.trace_not_saved:
            raise LaunchError("this launch was traced, but its trace is not saved with the device (Device.save "
                              "keeps no traces): write it with to_perfetto before saving, or run the launch "
                              "again with trace=True")
        if self.trace is None:
            raise LaunchError("this launch was not traced: launch with trace=True (or set WAFERSIM_TRACE=1)")
        events = self.trace.events(1, self.spec.clock_hz, self.spec.seconds(self.start_cycle) * 1e6, self.program)
        return trace.write(path, events, {"wafersim": f"{self.summary()}; {self.trace.note}"})

    def summary(self) -> str:
        cost = self.detour_cycles  # (a fractional detour_cycles_per_hop makes a fraction: 1.5, not a rounded 2)
        cost_text = f"{cost:,.0f}" if float(cost).is_integer() else f"{cost:,.2f}".rstrip("0")
        detours = (f", detours {self.detour_word_hops:,} extra word-hops ({cost_text} cycles of "
                   f"link latency over all words)" if self.repair is not None else "")
        streamed = (f", streamed {self.weight_stream_bytes:,} B of weights in and {self.gradient_stream_bytes:,} B "
                    f"of gradients out" if self.weight_stream_bytes or self.gradient_stream_bytes else "")
        left = (f", {plural(self.words_left_in_fifos, 'word')} sent but never received"
                if self.words_left_in_fifos else "")
        if self.state_not_saved and self.state is None:
            left += ", PE state kept at launch but not saved with the device (Device.save keeps none)"
        return (f"{self.program}: grid {self.grid} x block {self.block}, {plural(self.waves, 'wave')}: "
                f"{plural(self.cycles, 'cycle')} ({self.seconds * 1e6:.2f} us), {self.instructions:,} PE-instructions, "
                f"{plural(self.words_moved, 'word')} over links, {self.global_bytes:,} global bytes, "
                f"{energy_text(self.energy_j)}{left}{detours}{streamed}")

    def __repr__(self) -> str:
        return f"LaunchStats({self.summary()})"

    def _repr_html_(self) -> str:
        """Jupyter's view: a summary table and a heatmap of busy cycles over the launched blocks."""
        from .stats_html import render_html

        return render_html(self)


def unit_text(value: float, units: tuple[tuple[str, float], ...], digits: int) -> str:
    """`value` in the first of `units` ((name, scale), largest first) it reaches, else the last, with
    `digits` significant digits."""
    for unit, scale in units:
        if value >= scale:
            break
    return f"{value / scale:.{digits}g} {unit}"


def energy_text(joules: float) -> str:
    """Energy with a unit that shows four significant digits (J, mJ, uJ or nJ): 0.0021 mJ reads 2.1 uJ."""
    return unit_text(joules, (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9)), 4)
