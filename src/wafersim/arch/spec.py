"""`WaferSpec`: every figure of the simulated machine, in one place.

The engine, the runtime and the compiler read costs and sizes only from here, never as literals.
The machine is our own design point: the ISA of real wafer-scale chips is not public, and the
figures below are assumptions chosen to be plausible (see docs/timing.md), not a product's data.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import tomli_w

from ..errors import ArgumentError, ArgumentTypeError, SpecError, output_path, path_argument, write_whole
from . import defects as defect_model
from .values import is_finite_real, plural, whole_argument

#: Issue cost in cycles of each instruction class. The ISA's opcode table maps every opcode to one
#: of these classes; `WaferSpec.op_cycles` may override single opcodes by name.
DEFAULT_COST_CYCLES: dict[str, float] = {
    "alu": 1,  # integer add/sub/logic/compare/move, immediates
    "mul": 1,  # integer and float multiply, fma
    "fpu": 1,  # float add/sub/compare/convert
    "div": 8,  # integer and float divide/remainder
    "sfu": 8,  # sqrt, exp, log, tanh
    "branch": 1,
    "sram": 1,  # scalar SRAM load/store
    "vector": 1,  # issue cost of a vector op; each element adds 1 / vector_lanes cycles
    "send": 1,  # issue cost of a send; each word then takes 1 / link_words_per_cycle cycles
    "recv": 1,
    "global": 1,  # issue cost of a global-memory access; latency and bandwidth come on top
    "special": 1,  # special registers, kernel arguments, has_neighbor
    "barrier": 1,
    "route": 1,  # ws.route: switch one channel's configuration at this PE's router
    "print": 1,
    "halt": 1,
}

#: Energy in picojoules per executed instruction of each class (vector ops: per element).
DEFAULT_OP_ENERGY_PJ: dict[str, float] = {
    "alu": 0.5,
    "mul": 1.0,
    "fpu": 1.0,
    "div": 4.0,
    "sfu": 4.0,
    "branch": 0.3,
    "sram": 1.0,
    "vector": 1.5,
    "send": 0.5,
    "recv": 0.5,
    "global": 1.0,
    "special": 0.3,
    "barrier": 0.5,
    "route": 0.3,
    "print": 0.3,
    "halt": 0.1,
}

PRESET_SIZES: dict[str, tuple[int, int]] = {
    "wse2": (757, 996),
    "wse3": (762, 1172),  # the usable fabric of the public SDK
    "dev": (64, 64),
}

# Fabric and core figures of the WSE-2 (and WSE-3) taken from public sources; docs/timing.md
# ("Calibrated presets") cites each one with its source and quote. Fields not listed keep the dataclass
# defaults, which stay our assumptions; `dev` keeps every default (idealised: no ramp latency, 8 lanes).
_CEREBRAS_FABRIC: dict[str, Any] = {
    # Cerebras SDK (csl-examples, benchmarks/bandwidth-test/README.rst): cycles / 0.85 = ns.
    # Lie, Hot Chips 34 (2022) cites 1.1 GHz for the core: the reproductions print both.
    "clock_hz": 0.85e9,
    "hop_latency": 1,  # router to router in one cycle (Luczynski et al., HPDC 2024, the model's L term)
    "ramp_latency": 2,  # PE <-> router, each way (Luczynski et al., HPDC 2024: T_R)
    "link_words_per_cycle": 1,  # one 32-bit wavelet per link, cycle and direction (Cerebras SDK docs)
    "channels": 24,  # routable colors 0..23 (csl-examples, tutorials/10-sentinel-colors)
    "sram_bytes": 48 * 1024,  # 48 kB per core (Lie, Hot Chips 34, 2022)
    "vector_lanes": 1,  # one fp32 FMAC per cycle
    # 4-way fp16 SIMD on the WSE-1/WSE-2 core (Lie, Hot Chips 34, 2022; The Next Platform, 2024-03-14)
    "vector_lanes_half": 4,
}

#: Per-preset field values on top of the dataclass defaults (sizes come from `PRESET_SIZES`).
PRESET_FIELDS: dict[str, dict[str, Any]] = {
    "wse2": dict(_CEREBRAS_FABRIC),
    # same core and fabric figures published, but an 8-wide fp16 SIMD unit (The Next Platform, 2024-03-14);
    # see docs/timing.md
    "wse3": {**_CEREBRAS_FABRIC, "vector_lanes_half": 8},
    "dev": {},
}

# Hard limits of our instruction encoding (5-bit register and channel fields).
MAX_REGISTERS = 32
MAX_CHANNELS = 32
# The engine keeps sizes, lanes, coordinates and FIFO depths in int32 arrays and Numba int32/int64
# arithmetic: a whole-number field beyond this would be accepted here and overflow at the first launch.
MAX_WHOLE_FIELD = 2**31 - 1

#: Spare columns (rows) allowed beyond a mesh's width (height) when that is smaller than this.
MIN_SPARE_LIMIT = 16

@dataclasses.dataclass(frozen=True)
class WaferSpec:
    """A wafer-scale machine: mesh size, per-PE resources, fabric, off-wafer memory, costs, energy."""

    width: int = 64
    height: int = 64
    name: str = "custom"
    sram_bytes: int = 49152
    registers: int = 32
    vector_lanes: int = 8
    # 16-bit float (float16, bfloat16) elements a vector op processes per cycle, including the float32
    # accumulation of 16-bit products (`vwfma`) and conversions (docs/timing.md). `dev`: 4 x vector_lanes,
    # the wse2 ratio.
    vector_lanes_half: int = 32
    clock_hz: float = 0.85e9
    hop_latency: float = 1
    # Cycles a word takes between a PE and its own router, each way (the "ramp"); paid at both ends of
    # every fabric transfer, routed or not. 0 on `dev` (idealised); presets cite their source (docs/timing.md).
    ramp_latency: float = 0
    link_words_per_cycle: float = 1
    channels: int = 4
    fifo_depth: int = 16
    global_latency: float = 500
    global_bytes_per_s: float = 150e9
    global_bytes: int = 1_500_000_000_000
    host_transfer_latency_s: float = 5e-6
    barrier_base_cycles: float = 4
    barrier_cycles_per_hop: float = 2  # a gather to one corner and a broadcast back: 2 per hop
    hop_energy_pj: float = 0.5  # one 32-bit word over one link
    global_energy_pj_per_byte: float = 20.0
    # Defect tolerance (docs/defects.md): the physical array is the logical width x height mesh plus
    # spare columns (east) and rows (south); dead PEs are an explicit list of physical (x, y) and/or a
    # reproducible random draw. A logical link spanning more than one physical hop costs
    # `detour_cycles_per_hop` more per extra hop.
    spare_cols: int = 0
    spare_rows: int = 0
    defects: tuple = ()
    defect_rate: float = 0.0
    defect_seed: int = 0
    detour_cycles_per_hop: float = 1
    # Zero-skipping (docs/sparsity.md): cycles a zero-skipping instruction (vfmaz, vpacknz) spends per zero
    # operand it passes over. 0: zeros are filtered as they are read, as the cores of a real wafer-scale
    # engine are described to do ("filters out all zeros", Cerebras, Hot Chips 32, 2020); our assumption.
    zero_skip_cycles: float = 0
    # SRAM words a sparse instruction (vspfma, vspchk, vpacknz) moves per (value, index) pair: a pair is two
    # 32-bit words, and a PE moves `vector_lanes` words a cycle, so a pair costs 2 / vector_lanes cycles
    # where a dense element costs 1 / vector_lanes. Our assumption (an index packed into fewer bits: < 2).
    sparse_pair_words: float = 2
    cost_cycles: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_COST_CYCLES))
    op_cycles: dict[str, float] = dataclasses.field(default_factory=dict)
    op_energy_pj: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_OP_ENERGY_PJ))

    def __post_init__(self) -> None:
        for table in ("cost_cycles", "op_cycles", "op_energy_pj"):
            if not isinstance(getattr(self, table), dict):
                raise SpecError(f"WaferSpec.{table} must be a table of name = number, got {getattr(self, table)!r}",
                                field=table, value=getattr(self, table))
        # Fill classes left out of a partial table with their defaults, so a TOML file may override one.
        object.__setattr__(self, "cost_cycles", {**DEFAULT_COST_CYCLES, **self.cost_cycles})
        object.__setattr__(self, "op_energy_pj", {**DEFAULT_OP_ENERGY_PJ, **self.op_energy_pj})
        object.__setattr__(self, "op_cycles", dict(self.op_cycles))
        object.__setattr__(self, "defects", self._normalized_defects(self.defects))
        object.__setattr__(self, "_derived", {})  # cached dead map and repairs (not a field: not compared)
        self.validate()

    @staticmethod
    def _normalized_defects(value: Any) -> tuple[tuple[int, int], ...]:
        """The defect list as sorted, distinct (x, y) tuples (TOML gives lists of [x, y] lists)."""
        try:
            pairs = [tuple(entry) for entry in value]
        except TypeError:
            pairs = None
        whole = (int, np.integer)
        if pairs is None or not all(len(p) == 2 and all(isinstance(c, whole) and not isinstance(c, bool) for c in p)
                                    for p in pairs):
            raise SpecError(f"WaferSpec.defects = {value!r}: must be a list of [x, y] physical PE coordinates "
                            f"(whole numbers)", field="defects", value=value)
        return tuple(sorted({(int(x), int(y)) for x, y in pairs}, key=lambda p: (p[1], p[0])))

    # ----------------------------------------------------------------- construction
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "WaferSpec":
        """The named preset (`wse2`, `wse3`, `dev`) with its `PRESET_FIELDS`, then optional field overrides."""
        if not isinstance(name, str):
            raise SpecError(f"WaferSpec.preset(name): name must be a preset name, one of {', '.join(PRESET_SIZES)}; "
                            f"got {name!r}", preset=name)
        key = name.lower()
        if key not in PRESET_SIZES:
            raise SpecError(f"unknown preset {name!r}; known presets: {', '.join(PRESET_SIZES)}", preset=name)
        width, height = PRESET_SIZES[key]
        cls._check_field_names(overrides, f"WaferSpec.preset({name!r})")
        return cls(**{"width": width, "height": height, "name": key, **PRESET_FIELDS[key], **overrides})

    @classmethod
    def _check_field_names(cls, names: Iterable[str], source: str, extra: frozenset[str] = frozenset()) -> None:
        """`SpecError` naming any field a spec does not have (instead of the dataclass's TypeError)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(names) - known - extra)
        if unknown:
            raise SpecError(f"{source}: unknown WaferSpec {'field' if len(unknown) == 1 else 'fields'} {unknown}; "
                            f"known: {sorted(known)}",
                            fields_unknown=unknown)

    @classmethod
    def load(cls, path: str | Path) -> "WaferSpec":
        """Read a spec from a TOML file (the format `save` writes; unknown keys are refused)."""
        path = path_argument(path, "WaferSpec.load(path)")
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise SpecError(f"cannot read spec file {path}: {exc.strerror}", path=str(path)) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: not valid TOML: {exc}", path=str(path)) from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> "WaferSpec":
        """Build a spec from a mapping; a `preset` key starts from that preset."""
        if not isinstance(data, Mapping):
            raise SpecError(f"{source}: a WaferSpec is built from a mapping of fields, not a {type(data).__name__}")
        data = dict(data)
        cls._check_field_names(data, source, frozenset({"preset"}))
        preset = data.pop("preset", None)
        return cls.preset(preset, **data) if preset else cls(**data)

    def save(self, path: str | Path) -> Path:
        """Write the spec as TOML to `path` and return it; `WaferSpec.load(path) == self`. A path that cannot
        be written (a folder, a missing folder: `errors.output_path`, or an unwritable file) is a `SpecError`;
        written whole (`errors.write_whole`)."""
        path = output_path(path, "WaferSpec.save(path)", error=SpecError)
        text = tomli_w.dumps(self.to_dict())
        return write_whole(path, lambda fh: fh.write(text.encode()), SpecError, f"spec file {path}")

    def to_dict(self) -> dict[str, Any]:
        # (what `dataclasses.asdict` gives, whose deep copy of every field took ~70 us: `cache_key` asks for it
        # once per spec, and a host function makes a spec at each call; the tables' values are numbers)
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        for name in ("cost_cycles", "op_cycles", "op_energy_pj"):
            data[name] = dict(data[name])
        data["defects"] = [list(p) for p in self.defects]
        return data

    @functools.cached_property
    def cache_key(self) -> str:
        """Every field, as one string: the key of caches by spec (compiled kernels, traced routes). Kept on
        the (frozen) spec: `to_dict` costs milliseconds, and small launches ask for it every time."""
        return repr(self.to_dict())

    def replace(self, **changes: Any) -> "WaferSpec":
        """A copy with some fields changed (validated again)."""
        self._check_field_names(changes, "WaferSpec.replace")
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        def need(ok: bool, field: str, rule: str) -> None:
            if not ok:
                raise SpecError(f"WaferSpec.{field} = {getattr(self, field)!r}: {rule}", field=field, value=getattr(self, field))

        def is_int(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        def is_num(value: Any) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        need(isinstance(self.name, str), "name", "must be a str (the name shown in summaries)")
        for field in ("width", "height"):
            need(is_int(getattr(self, field)) and getattr(self, field) >= 1, field, "must be a whole number of PEs >= 1")
        need(is_int(self.sram_bytes) and self.sram_bytes >= 64 and self.sram_bytes % 4 == 0, "sram_bytes",
             "must be a whole number of 32-bit words, at least 64 bytes")
        need(is_int(self.registers) and 2 <= self.registers <= MAX_REGISTERS, "registers",
             f"must be between 2 and {MAX_REGISTERS} (5-bit register fields)")
        need(is_int(self.vector_lanes) and self.vector_lanes >= 1, "vector_lanes", "must be >= 1")
        need(is_int(self.vector_lanes_half) and self.vector_lanes_half >= 1, "vector_lanes_half", "must be >= 1")
        need(is_int(self.channels) and 1 <= self.channels <= MAX_CHANNELS, "channels",
             f"must be between 1 and {MAX_CHANNELS} (5-bit channel fields)")
        need(is_int(self.fifo_depth) and self.fifo_depth >= 1, "fifo_depth", "must be >= 1 word")
        need(is_int(self.global_bytes) and self.global_bytes >= 4, "global_bytes", "must be >= 4 bytes")
        # (`global_latency` too: a load completing in its own issue cycle could wake a PE that then stores or loads
        # at that cycle, before the load in the memory and bandwidth orders, which no causal run can honour:
        # docs/timing.md, review47)
        for field in ("clock_hz", "link_words_per_cycle", "global_bytes_per_s", "global_latency"):
            need(is_num(getattr(self, field)) and getattr(self, field) > 0, field, "must be a positive number")
        for field in ("hop_latency", "ramp_latency", "host_transfer_latency_s", "barrier_base_cycles",
                      "barrier_cycles_per_hop", "hop_energy_pj", "global_energy_pj_per_byte"):
            need(is_num(getattr(self, field)) and getattr(self, field) >= 0, field, "must be a number >= 0")
        for field in ("spare_cols", "spare_rows", "defect_seed"):
            need(is_int(getattr(self, field)) and getattr(self, field) >= 0, field, "must be a whole number >= 0")
        for field in ("width", "height", "sram_bytes", "vector_lanes", "vector_lanes_half", "fifo_depth"):
            need(getattr(self, field) <= MAX_WHOLE_FIELD, field,
                 f"must be at most {MAX_WHOLE_FIELD} (the engine's int32)")
        for field, size in (("spare_cols", "width"), ("spare_rows", "height")):
            # (spares are a margin of whole columns or rows: more than the mesh has is no wafer's layout, and a
            # defect map of millions of them would not fit in host memory)
            limit = max(getattr(self, size), MIN_SPARE_LIMIT)
            need(getattr(self, field) <= limit, field, f"must be at most {limit} (the {size}, or {MIN_SPARE_LIMIT} on a "
                 f"smaller mesh)")
        need(self.global_bytes < 2**63, "global_bytes", "must be below 2**63 (the engine's int64 addresses)")
        need(is_num(self.defect_rate) and 0 <= self.defect_rate < 1, "defect_rate",
             "must be a probability in [0, 1) that a physical PE is dead")
        need(is_num(self.detour_cycles_per_hop) and self.detour_cycles_per_hop >= 0, "detour_cycles_per_hop",
             "must be a number >= 0")
        need(is_num(self.zero_skip_cycles) and self.zero_skip_cycles >= 0, "zero_skip_cycles",
             "must be a number >= 0 (cycles per zero a zero-skipping instruction passes over)")
        need(is_num(self.sparse_pair_words) and self.sparse_pair_words > 0, "sparse_pair_words",
             "must be a positive number of SRAM words per (value, index) pair")
        outside = [p for p in self.defects
                   if not (0 <= p[0] < self.physical_width and 0 <= p[1] < self.physical_height)]
        need(not outside, "defects", f"{outside[:4]} lie outside the physical array "
             f"({self.physical_width} x {self.physical_height}: the mesh plus spare columns and rows)")
        for table in ("cost_cycles", "op_cycles", "op_energy_pj"):
            for key, value in getattr(self, table).items():
                if not (is_num(value) and value >= 0):
                    raise SpecError(f"WaferSpec.{table}[{key!r}] = {value!r}: must be a number >= 0", field=table, key=key)
        for table in ("cost_cycles", "op_energy_pj"):
            extra = sorted(set(getattr(self, table)) - set(DEFAULT_COST_CYCLES))
            if extra:
                raise SpecError(f"WaferSpec.{table}: unknown instruction {'class' if len(extra) == 1 else 'classes'} "
                                f"{extra}; known: {sorted(DEFAULT_COST_CYCLES)}", field=table, key=extra[0])

    # ----------------------------------------------------------------- derived figures
    @property
    def n_pes(self) -> int:
        return self.width * self.height

    @property
    def n_links(self) -> int:
        """Directed links between neighbouring PEs of the logical mesh: each of the (width - 1) x height
        horizontal and width x (height - 1) vertical neighbour pairs has one each way."""
        return 2 * ((self.width - 1) * self.height + self.width * (self.height - 1))

    @property
    def sram_words(self) -> int:
        return self.sram_bytes // 4

    def seconds(self, cycles: float) -> float:
        """Simulated seconds of `cycles` (a finite number >= 0) at `clock_hz`."""
        _check_number(cycles, "WaferSpec.seconds(cycles)", "a number of cycles")
        return cycles / self.clock_hz

    @property
    def global_bytes_per_cycle(self) -> float:
        return self.global_bytes_per_s / self.clock_hz

    @property
    def peak_flops(self) -> float:
        """Peak float32 FLOP/s of the wafer: every PE doing `vector_lanes` fused multiply-adds a cycle."""
        return 2.0 * self.vector_lanes * self.clock_hz * self.n_pes

    @property
    def peak_flops_half(self) -> float:
        """Peak 16-bit (float16, bfloat16) FLOP/s of the wafer: every PE doing `vector_lanes_half` fused
        multiply-adds a cycle in its 16-bit vector instructions."""
        return 2.0 * self.vector_lanes_half * self.clock_hz * self.n_pes

    def barrier_cycles(self, block_width: int, block_height: int) -> float:
        """Cycles from the last arrival at a block barrier to its release (grows with the diameter); the
        block is 1 to `width` x 1 to `height` PEs."""
        whole_argument(block_width, "WaferSpec.barrier_cycles(block_width)", 1, self.width)
        whole_argument(block_height, "WaferSpec.barrier_cycles(block_height)", 1, self.height)
        diameter = (block_width - 1) + (block_height - 1)
        return self.barrier_base_cycles + self.barrier_cycles_per_hop * diameter

    def hops_to_edge(self, x: Any, y: Any) -> Any:
        """Hops from PE (x, y) to the nearest wafer edge, where off-wafer memory attaches (on a wafer
        without spares or defects; otherwise from the PE's physical site: `Repair.hops_to_edge`). x and y are
        whole numbers (or integer arrays) of PEs on the wafer: 0 <= x < width, 0 <= y < height."""
        _check_coordinates(x, "x", self.width)
        _check_coordinates(y, "y", self.height)
        # (a list or tuple of coordinates, which the checks take as the integer array it is, as an array: the
        # formula's `width - x` of a list was Python's bare TypeError)
        x, y = (np.asarray(v) if isinstance(v, (list, tuple)) else v for v in (x, y))
        return defect_model.edge_hops(x, y, self.width, self.height)

    def summary(self) -> str:
        text = (f"{self.name}: {self.width} x {self.height} = {self.n_pes:,} PEs, {self.sram_bytes} B SRAM/PE, "
                f"{self.clock_hz / 1e9:g} GHz, peak {self.peak_flops / 1e12:.1f} TFLOP/s fp32")
        if self.has_physical_layout:
            usable = self.usable_rectangle
            text += (f"; physical {self.physical_width} x {self.physical_height}, {plural(self.n_dead, 'dead PE')}, "
                     f"usable {usable[0]} x {usable[1]}")
        return text

    # ----------------------------------------------------------------- defects and repair (docs/defects.md)
    @property
    def physical_width(self) -> int:
        return self.width + self.spare_cols

    @property
    def physical_height(self) -> int:
        return self.height + self.spare_rows

    @property
    def has_physical_layout(self) -> bool:
        """Whether the spec has spares or defects, so that logical PEs need a physical map (else the
        engine takes the plain path: every PE at its own coordinates, every link one hop)."""
        return bool(self.spare_cols or self.spare_rows or self.defects or self.defect_rate)

    @property
    def dead(self) -> np.ndarray:
        """(physical_height, physical_width) bool map of dead PEs (computed once; do not modify)."""
        if "dead" not in self._derived:
            dead = defect_model.draw_dead((self.physical_height, self.physical_width), self.defects,
                                          self.defect_rate, self.defect_seed)
            dead.setflags(write=False)
            self._derived["dead"] = dead
        return self._derived["dead"]

    @property
    def n_dead(self) -> int:
        return int(self.dead.sum()) if self.has_physical_layout else 0

    @property
    def usable_rectangle(self) -> tuple[int, int]:
        """The largest logical rectangle (width, height) the spares can offer; the whole mesh when they
        cover every defect."""
        if not self.has_physical_layout or self.repair() is not None:
            return self.width, self.height
        return defect_model.usable_rectangle(self.dead, self.width, self.height)

    def tallest_block(self, width: int) -> int:
        """The tallest logical block `width` PEs wide the spares can lay out (`repair`'s rule: the physical rows
        with at least `width` live PEs), at most the mesh's height; 0 where there is none or `width` is wider
        than the mesh."""
        if width > self.width:
            return 0
        if not self.has_physical_layout:
            return self.height
        return min(self.height, int(defect_model.rows_with_at_least(self.dead, self.width)[width]))

    def widest_block(self, height: int) -> int:
        """The widest logical block `height` PEs tall the spares can lay out (`tallest_block`'s rule); 0 where
        there is none or `height` is taller than the mesh."""
        if height > self.height:
            return 0
        if not self.has_physical_layout:
            return self.width
        return int(np.flatnonzero(defect_model.rows_with_at_least(self.dead, self.width) >= height).max())

    def repair(self, width: int | None = None, height: int | None = None) -> "defect_model.Repair | None":
        """The physical map of the logical rectangle [0, width) x [0, height) (default: the whole mesh),
        or None if the spares cannot cover it. When the whole mesh is covered, every smaller rectangle
        uses the whole mesh's map, so a PE sits at the same physical site whatever the launch. `width` is
        None or 1 to the spec's width, `height` None or 1 to its height."""
        if width is not None:
            whole_argument(width, "WaferSpec.repair(width) (or None)", 1, self.width)
        if height is not None:
            whole_argument(height, "WaferSpec.repair(height) (or None)", 1, self.height)
        width, height = int(width or self.width), int(height or self.height)
        key = ("repair", width, height)
        if key not in self._derived:
            whole = ("repair", self.width, self.height)
            if key != whole and self.repair() is not None:
                full = self.repair()
                self._derived[key] = defect_model.Repair(width, height, full.phys_x[:height, :width],
                                                         full.phys_y[:height], full.dead)
            else:
                self._derived[key] = defect_model.repair(self.dead, width, height)
        return self._derived[key]

    def repair_for_launch(self, width: int, height: int,
                          advice: str = defect_model.LAUNCH_ADVICE) -> "defect_model.Repair | None":
        """The map a launch over a `width` x `height` logical rectangle runs on; None on a spec without
        spares or defects; a `LaunchError` naming the dead PEs in the way if the spares cannot cover it,
        ending with `advice` (what the caller can change)."""
        if not self.has_physical_layout:
            return None
        found = self.repair(width, height)
        if found is None:
            raise defect_model.cannot_cover(self.dead, width, height, self.usable_rectangle, self.spare_cols,
                                            self.spare_rows, advice)
        return found


def _check_number(value: Any, where: str, what: str) -> None:
    """An `ArgumentTypeError` unless `value` is a real number, an `ArgumentError` unless finite and >= 0."""
    if not (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)):
        raise ArgumentTypeError(f"{where}: must be {what} (a real number), got {value!r}", value=value)
    if not (is_finite_real(value) and value >= 0):
        raise ArgumentError(f"{where}: must be {what}, finite and >= 0, got {value!r}", value=value)


def _check_coordinates(value: Any, name: str, size: int) -> None:
    """`hops_to_edge`'s x or y: whole numbers (a scalar or an integer array) in [0, size)."""
    array = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if array is None or not (array.dtype.kind in "iu" and not isinstance(value, bool)):
        raise ArgumentTypeError(f"WaferSpec.hops_to_edge: {name} must be a whole number of PEs (or an integer "
                                f"array), got {value!r}", **{name: value})
    if array.size and not (int(array.min()) >= 0 and int(array.max()) < size):
        raise ArgumentError(f"WaferSpec.hops_to_edge: {name} = {value!r} lies off the wafer: PE coordinates run "
                            f"0 to {size - 1}", **{name: value})


def _refusing_unknown_fields(init: Callable[..., None]) -> Callable[..., None]:
    """`WaferSpec(bogus=1)` is a `SpecError` naming the field, like every other bad spec (the dataclass's own
    `__init__` would raise a bare `TypeError`)."""

    @functools.wraps(init)
    def __init__(self: WaferSpec, *args: Any, **fields: Any) -> None:
        WaferSpec._check_field_names(fields, "WaferSpec(...)")
        init(self, *args, **fields)

    return __init__


WaferSpec.__init__ = _refusing_unknown_fields(WaferSpec.__init__)  # type: ignore[method-assign]


def resolve_spec(spec: "WaferSpec | str | Path | None" = None) -> WaferSpec:
    """A `WaferSpec` from a spec, a preset name or a TOML path (default: the `dev` preset)."""
    if spec is None:
        return WaferSpec.preset("dev")
    if isinstance(spec, WaferSpec):
        return spec
    choices = f"give a WaferSpec, a preset ({', '.join(PRESET_SIZES)}) or a .toml path"
    if not isinstance(spec, (str, os.PathLike)):
        # str() of a list of specs is a long text that Path.exists() refused with an OSError (a file name too
        # long), not a SpecError: a Cluster(2, [spec, spec]) failed so.
        plural = " (every system of a cluster has the same spec)" if isinstance(spec, (list, tuple)) else ""
        raise SpecError(f"a spec cannot be a {type(spec).__name__}{plural}: {choices}")
    text = str(spec)
    if text.lower() in PRESET_SIZES:
        return WaferSpec.preset(text)
    if text.endswith(".toml") or _is_file(text):
        return WaferSpec.load(text)
    raise SpecError(f"unknown spec {text!r}: {choices}")


def _is_file(text: str) -> bool:
    """Whether `text` names an existing path; a name the OS refuses (too long, a NUL) names none."""
    try:
        return Path(text).exists()
    except (OSError, ValueError):
        return False
