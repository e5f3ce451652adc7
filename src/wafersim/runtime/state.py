"""PE state by source name: a kernel's variables and local arrays read back from a launch, like symbols
from a core dump.

A `LaunchState` comes with a launch made with `keep_state=True` (`stats.state`: the last wave's PEs;
`keep_state='all'`: every wave's), with every error a launch raises while its PEs run (`err.state`: the
failing wave), and from the debugger at each stop. PEs are named by their launch coordinates, the
`(x, y)` that `ws.grid(2)` gives them.

The compiler's symbol table (`Program.symbols`) says where each variable lives at each pc: a register,
a spill slot, or for local arrays a range of SRAM words. A variable is readable where the PE stopped
only if the rest of the program still reads it there; otherwise (its last use is behind, or the
optimiser removed it) `read_local` raises `VariableUnavailableError` instead of guessing. A PE that
has halted has no live variables: its local arrays can still be read. An assembled program has no symbol
table: `registers(pe)` and `sram(pe, ...)` read a PE's raw registers and data segment, for any program.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..arch.values import is_integer
from ..errors import ArgumentError, ArgumentTypeError, LaunchError, did_you_mean
from ..isa import halfprec
from ..isa.assembler import Program, Symbol
from ..sim.debug_hooks import HALTED, UNKNOWN, WaveSnapshot
from ..sim.layout import Placement

_DTYPES = {"i32": np.int32, "f32": np.float32, "ptr": np.uint32}


class VariableUnavailableError(ArgumentError, KeyError):
    """A name that is not a variable or local array of the kernel, or one that holds no value where the
    PE stopped (not live there, or the PE has halted)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def pe_lane(placement: Placement, pe: Any) -> tuple[int, int]:
    """(wave, lane in that wave's region) of the PE at launch coordinates `pe` = (x, y)."""
    if not (isinstance(pe, (tuple, list)) and len(pe) == 2
            and all(is_integer(v) for v in pe)):
        raise LaunchError(f"pe must be a pair of ints (x, y) as ws.grid(2) gives, got {pe!r}")
    (gx, gy), (bx, by) = placement.grid, placement.block
    x, y = int(pe[0]), int(pe[1])
    if not (0 <= x < gx * bx and 0 <= y < gy * by):
        raise LaunchError(f"PE ({x}, {y}) is outside the launch: {gx * bx} x {gy * by} PEs (grid {gx} x {gy} "
                          f"of blocks {bx} x {by})", pe=(x, y))
    block = (y // by) * gx + x // bx
    wave = block // placement.slots
    region = placement.wave(wave)
    slot = block - region.first_block
    lane = ((slot // region.cols) * by + y % by) * region.width + (slot % region.cols) * bx + x % bx
    return wave, lane


class LaunchState:
    """The PE state of (some waves of) a launch, readable by source name."""

    def __init__(self, program: Program, placement: Placement, waves: Sequence[WaveSnapshot]) -> None:
        self.program, self.placement = program, placement
        self.waves = {snap.wave: snap for snap in waves}
        # why a wave's state is missing, for the error that asks for it (`locate`); a launch resumed from a
        # checkpoint says its file holds no earlier wave, rather than to pass the keep_state='all' it had
        self.missing_why = "launch with keep_state='all' to keep every wave"

    def __repr__(self) -> str:
        waves = ", ".join(str(w) for w in sorted(self.waves))
        return (f"<LaunchState of {self.program.name}: {'wave' if len(self.waves) == 1 else 'waves'} {waves} of "
                f"{self.placement.waves}>")

    @property
    def nbytes(self) -> int:
        """Host memory the kept state holds."""
        return sum(snap.nbytes for snap in self.waves.values())

    # ------------------------------------------------------------------ where PEs are
    def locate(self, pe: Any) -> tuple[WaveSnapshot, int]:
        """(wave snapshot, lane) of the PE at launch coordinates `pe` = (x, y)."""
        wave, lane = pe_lane(self.placement, pe)
        snap = self.waves.get(wave)
        if snap is None:
            kept = ", ".join(str(w) for w in sorted(self.waves)) or "none"
            raise LaunchError(f"PE {tuple(pe)} ran in wave {wave} of {self.placement.waves}; this state holds "
                              f"{'wave' if len(self.waves) == 1 else 'waves'} {kept} ({self.missing_why})", pe=tuple(pe))
        return snap, lane

    def pc(self, pe: Any) -> int | None:
        """The pc the PE stopped before (None: it has halted)."""
        snap, lane = self.locate(pe)
        pc = int(snap.pcs[lane])
        return None if pc == HALTED else pc

    def line(self, pe: Any) -> tuple[str, int] | None:
        """(file, line) of the source the PE stopped at (None: halted, or no line there)."""
        pc = self.pc(pe)
        return None if pc is None or pc == UNKNOWN else self.program.source_of(pc)

    def where(self) -> dict[int | None, list[tuple[int, int]]]:
        """PEs (launch coordinates) by the source line they stopped at; None gathers halted PEs and
        those at instructions without a line."""
        found: dict[int | None, list[tuple[int, int]]] = {}
        for snap in self.waves.values():
            x, y = self.launch_coords(snap)
            active = snap.region.active
            pcs = snap.pcs[active]
            for pc in np.unique(pcs):
                key = self.program.kernel_line(int(pc)) if pc >= 0 else None
                chosen = np.flatnonzero(pcs == pc)
                found.setdefault(key, []).extend(zip(x[active][chosen].tolist(), y[active][chosen].tolist()))
        return {key: sorted(pes, key=lambda p: (p[1], p[0])) for key, pes in found.items()}

    def launch_coords(self, snap: WaveSnapshot) -> tuple[np.ndarray, np.ndarray]:
        """Launch (x, y) of every lane of a wave."""
        (gx, _), (bx, by) = self.placement.grid, self.placement.block
        x, y = snap.region.xy
        block = snap.region.block_id
        return (block % gx) * bx + x % bx, (block // gx) * by + y % by

    # ------------------------------------------------------------------ values
    def symbols_at(self, pc: int | None) -> dict[str, Symbol]:
        """The symbols holding a value at `pc`, by name (a name two registers could hold is left out).

        As in Python, a stop inside an inlined device function sees that function's own variables only
        (those whose `Symbol.scope` is the calls `pc` was inlined through, `Program.callers`), never its
        caller's variables of the same name; back in the kernel, the kernel's. Local arrays are always seen.
        A variable the optimiser folded into a device function's result (`q = helper(...)`), or a function's
        parameter folded into its caller's variable, reads that variable's register where it holds a value."""
        scope = self._scope(pc)
        found: dict[str, list[Symbol]] = {}
        for sym in self.program.symbols:
            if sym.storage == "sram" or (sym.storage != "copy" and pc is not None and pc >= 0 and sym.scope == scope
                                         and any(s <= pc < e for s, e in sym.ranges)):
                found.setdefault(sym.name, []).append(sym)
        held = {name: syms[0] for name, syms in found.items() if len(syms) == 1}
        for sym in self.program.symbols:
            if sym.storage == "copy" and sym.scope == scope and sym.name not in found and _inner(sym, scope):
                source, source_scope = sym.copy_of
                live = [s for s in self.program.symbols if s.name == source and s.scope == source_scope
                        and s.storage != "copy" and pc is not None and any(a <= pc < b for a, b in s.ranges)]
                if len(live) == 1:
                    held[sym.name] = live[0]
        return held

    def _scope(self, pc: int | None) -> tuple[tuple[str, int], ...]:
        """The calls (file, line), innermost first, that the instruction at `pc` was inlined through."""
        return tuple(self.program.callers.get(pc, ())) if pc is not None else ()

    def read_local(self, name: str, pe: Any) -> Any:
        """The value of kernel variable or local array `name` on PE `pe` = (x, y), where it stopped: a
        NumPy scalar (int32, float32, or uint32 for a global array argument's address) or a copy of the
        array. Raises `VariableUnavailableError` when the name holds no value there."""
        if not isinstance(name, str):  # (a number or a list: Python's "not iterable" / "unhashable type")
            raise ArgumentTypeError(f"read_local: name must be a str, the variable's or local array's name in the "
                                    f"kernel's source, got {name!r}", name=name)
        snap, lane = self.locate(pe)
        pc = int(snap.pcs[lane])
        sym = self.symbols_at(pc).get(name)
        if sym is None:
            raise VariableUnavailableError(self._why_not(name, pc, pe))
        return self._value(sym, snap, lane)

    def locals(self, pe: Any) -> dict[str, Any]:
        """Every variable and local array holding a value on PE `pe` where it stopped, by name."""
        snap, lane = self.locate(pe)
        pc = int(snap.pcs[lane])
        return {name: self._value(sym, snap, lane) for name, sym in sorted(self.symbols_at(pc).items())}

    def registers(self, pe: Any) -> np.ndarray:
        """The registers r0, r1, ... of PE `pe` = (x, y) where it stopped, as int32 (`.view(np.float32)` for
        the float32 bits a float instruction wrote): what an assembled program, which has no symbol table,
        is read by (a compiled kernel's variables: `read_local`). A copy; r0 always reads 0."""
        snap, lane = self.locate(pe)
        return snap.regs[:, lane].astype(np.int32, copy=True)

    def sram(self, pe: Any, start: int = 0, count: int | None = None) -> np.ndarray:
        """Words `start` .. `start + count` (default: to the end) of PE `pe`'s data segment (the `.sram`
        words loads, stores and vector instructions address from 0), as int32; a copy."""
        snap, lane = self.locate(pe)
        words = snap.sram.shape[0]
        count = words - start if count is None and is_integer(start) else count
        if not (is_integer(start) and is_integer(count) and 0 <= start and 0 <= count and start + count <= words):
            raise ArgumentError(f"sram: words [{start}, {start} + {count}) are outside PE {tuple(pe)}'s data segment "
                                f"of {words} words (.sram {words}): give 0 <= start and start + count <= {words}",
                                start=start, count=count, size=words)
        return snap.sram[int(start): int(start) + int(count), lane].astype(np.int32, copy=True)

    @staticmethod
    def _value(sym: Symbol, snap: WaveSnapshot, lane: int) -> Any:
        if sym.dtype in halfprec.HALF_DTYPES:  # a 16-bit local array: one value per word (isa.halfprec)
            words = snap.sram[sym.index: sym.index + int(np.prod(sym.shape)), lane]
            return halfprec.from_words(words, sym.dtype).reshape(sym.shape)
        dtype = _DTYPES[sym.dtype]
        if sym.storage == "reg":
            return snap.regs[sym.index, lane].view(dtype)
        if sym.storage == "spill":
            return snap.sram[sym.index, lane].view(dtype)
        words = int(np.prod(sym.shape))
        return snap.sram[sym.index: sym.index + words, lane].copy().view(dtype).reshape(sym.shape)

    def _why_not(self, name: str, pc: int, pe: Any) -> str:
        if not self.program.symbols:  # an assembled program (or a kernel with no variable in storage)
            return (f"{self.program.name} has no variable or local array {name!r}: it has no symbol table (an "
                    f"assembled program has none); read PE {tuple(pe)}'s registers with registers(pe) and its "
                    f"SRAM with sram(pe, start, count) (at the wsdb prompt: regs X Y, sram X Y [START [COUNT]])")
        if not any(sym.name == name for sym in self.program.symbols):
            known = sorted({sym.name for sym in self.program.symbols})
            missing = (f"{self.program.name} has no variable or local array {name!r} with storage at any point "
                       f"(known: {', '.join(known) or 'none'})")
            return missing + (did_you_mean(name, known) or  # (a misspelt name, else one the program does not keep)
                              f": a variable is kept only where the program reads it again, so one whose value is "
                              f"not read after its assignment (or only through a copy, `b = {name}`) has none, "
                              f"nor has a name bound to a compile-time constant")
        if pc == HALTED:
            return f"PE {tuple(pe)} has halted: only local arrays keep values after a PE halts ({name!r} is a scalar)"
        if pc == UNKNOWN:
            return f"where PE {tuple(pe)} stopped is not known, so {name!r} cannot be read"
        scope = self._scope(pc)
        copy = next((sym for sym in self.program.symbols if sym.name == name and sym.scope == scope
                     and sym.storage == "copy"), None)
        if copy is not None:
            source = copy.copy_of[0]
            if _inner(copy, scope):
                whose = "a device function's result, its" if len(copy.copy_of[1]) > len(scope) else "its caller's"
                return (f"{name!r} is a copy of {whose} variable {source!r}, which holds no value at "
                        f"{self.program.describe_pc(pc)} where PE {tuple(pe)} stopped (not read again from there)")
            return (f"{name!r} is a copy of {source!r} ({name} = {source}) that the optimiser folded away: it has no "
                    f"storage of its own; {source!r} holds its value until {source!r} is assigned again")
        if scope and not any(sym.name == name and sym.scope == scope for sym in self.program.symbols):
            called = ", called from ".join(f"{file}:{line}" for file, line in scope)
            return (f"PE {tuple(pe)} stopped inside a device function (called from {called}), which has no "
                    f"variable {name!r} with storage: a stop there sees the function's own variables only, not "
                    f"its caller's (a parameter or variable of the function that is a compile-time constant or "
                    f"a copy of another value has no storage of its own)")
        live = [sym for sym in self.program.symbols if sym.name == name and sym.scope == scope
                and any(s <= pc < e for s, e in sym.ranges)]
        if len(live) > 1:
            return f"two variables named {name!r} (an inlined device function's and its caller's) are live at pc {pc}"
        where = f"{name!r} holds no value at {self.program.describe_pc(pc)} where PE {tuple(pe)} stopped"
        line = self.program.source_of(pc)
        later = sorted(start for sym in self.program.symbols if sym.name == name and sym.scope == scope
                       for start, _ in sym.ranges if start > pc)
        if later and line is not None and self.program.source_of(later[0] - 1) == line:
            # A stop at a line is before its instructions: the assignment on this line has not run yet.
            return (f"{where}: this line assigns it, and a stop at a line comes before the line runs (it holds "
                    f"its value from pc {later[0]} on); step to the next line to read it")
        return (f"{where}: the program holds no value of it there (it is not assigned yet on this path, or it is "
                f"not read again from there: its last use is behind, or the optimiser removed it)")


def _inner(copy: Symbol, scope: tuple) -> bool:
    """Whether a folded copy's source is a variable of a device function called from `scope` (its result,
    which cannot change once the function returned) or of a caller of `scope` (a parameter's argument,
    which cannot change while the function runs): then the source's register holds the copy's value."""
    source_scope = copy.copy_of[1]
    inner, outer = (source_scope, scope) if len(source_scope) > len(scope) else (scope, source_scope)
    return len(inner) > len(outer) and tuple(inner[len(inner) - len(outer):]) == tuple(outer)
