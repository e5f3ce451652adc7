"""`wafersim debug script.py`: the debugger at a prompt, for every launch a host script makes.

Before each launch and at each stop it reads commands (one a line) until one of them runs the launch:

    break LINE [X Y]   stop when a PE (or PE (X, Y)) reaches LINE      (b)
    clear              remove every breakpoint
    cont               run to the next breakpoint or the end            (c)
    step [X Y]         run until a PE (or PE (X, Y)) starts a line      (s)
    barrier            run until the next barrier releases               (sb)
    where              PEs by source line                                (w)
    locals X Y         the variables of PE (X, Y)                        (l)
    print NAME X Y     one variable or local array of PE (X, Y)          (p)
    regs X Y           the registers r0.. of PE (X, Y), as int32 and float32 (r)
    sram X Y [START [COUNT]]  data segment words of PE (X, Y) (default: all)
    fifo X Y DIR [CH]  words waiting at PE (X, Y) from DIR (north, east, south, west, ramp)
    quit               run everything to the end without stopping       (q)

The end of the input counts as `quit`. When a launch fails, the prompt opens once more on its PEs as the
error left them (`err.state`): `where`, `locals`, `print`, `regs`, `sram` and `fifo` show them; any command that would run
ends the session with the error.
"""
from __future__ import annotations

from typing import Callable, TextIO

import numpy as np

from ..arch.values import plural
from ..errors import WaferError
from ..isa.assembler import Program
from ..runtime.debug import Controller
from ..sim.debug_hooks import DebugWaveSim
from ..sim.lanes import Lanes
from ..sim.layout import Placement

#: a debugger not yet stopped says to call these (`runtime.debug`); at the prompt they are commands
NOT_STOPPED_API = "call cont(), step() or step_barrier() first"
NOT_STOPPED_PROMPT = "type cont, step or barrier first"
RUNS = {"c": "run", "cont": "run", "s": "step", "step": "step", "sb": "barrier", "barrier": "barrier"}


class ReplDebugger(Controller):
    """A debugger reading commands from `source` and writing to `echo` (click.echo, print)."""

    def __init__(self, source: TextIO, echo: Callable[[str], None]) -> None:
        super().__init__()
        self.source, self.echo = source, echo
        self.detached = False
        self.launches = 0

    def wave_class(self, program: Program, placement: Placement) -> type[DebugWaveSim]:
        bound = super().wave_class(program, placement)
        self.launches += 1
        self.current = None
        lines = sorted(set(self._stops.values()))
        self.echo(f"launch {self.launches}: {program.name} grid {placement.grid} block {placement.block}; lines "
                  f"with code: {', '.join(map(str, lines))}")
        if not self.detached:
            self.prompt()
        return bound

    def post_mortem(self, error: WaferError) -> None:
        """A launch failed: the prompt on its PEs as the error left them (`err.state`), unless the session
        was quit; a command that would run returns (the error then ends the script)."""
        state = getattr(error, "state", None)
        if state is None or self.detached:
            return
        self.echo(f"launch failed: {type(error).__name__}: {str(error).splitlines()[0]}")
        self.current = state
        try:
            self.prompt()
        finally:
            self.current = None

    def pause(self, sim: DebugWaveSim, pc: int | None, lanes: Lanes | None, reason: str) -> None:
        self.echo(str(self.stopped(sim, pc, lanes, reason)))
        self.prompt()
        self.current = None

    def prompt(self) -> None:
        """Read and run commands until one runs the launch."""
        while True:
            self.echo("(wsdb) ")
            text = self.source.readline()
            if not text:
                text = "quit"
            words = text.split()
            if not words:
                continue
            try:
                if self.command(words[0].lower(), words[1:]):
                    return
            except WaferError as exc:  # (the API's advice, in the prompt's commands)
                self.echo(f"error: {str(exc).replace(NOT_STOPPED_API, NOT_STOPPED_PROMPT)}")
            except (ValueError, IndexError):  # (a word that is not a number, one missing: int()'s text said little)
                self.echo(f"error: {text.strip()!r}: {_usage(words[0].lower())}")

    def command(self, name: str, args: list[str]) -> bool:
        """Run one command; True when it lets the launch run."""
        numbers = lambda: tuple(int(a) for a in args)  # noqa: E731
        if name in RUNS:
            self.mode = RUNS[name]
            self.step_pe = numbers()[:2] if name in ("s", "step") and len(args) >= 2 else None
            return True
        if name in ("q", "quit"):
            self.mode, self.detached = "end", True
            return True
        if name in ("b", "break"):
            values = numbers()
            bp = self.break_at(values[0], values[1:3] if len(values) >= 3 else None)
            self.echo(f"breakpoint at line {bp.line}" + (f" for PE {bp.pe}" if bp.pe else ""))
        elif name == "clear":
            self.clear()
        elif name in ("w", "where"):
            for line, pes in sorted(self.where().items(), key=lambda item: (item[0] is None, item[0] or 0)):
                shown = ", ".join(f"({x}, {y})" for x, y in pes[:8]) + (" ..." if len(pes) > 8 else "")
                self.echo(f"  line {line if line is not None else '-'}: {plural(len(pes), 'PE')} {shown}")
        elif name in ("l", "locals"):
            found = self.locals(numbers()[:2])
            for key, value in found.items():
                self.echo(f"  {key} = {_show(value)}")
            program = self._state().program
            if not found and not program.symbols:  # say why nothing is shown, and what to use instead
                self.echo(f"  (no variables: {program.name} has no symbol table, as an assembled program; "
                          f"use regs X Y and sram X Y)")
        elif name in ("r", "regs"):
            values = self.registers(numbers()[:2])
            for first in range(0, len(values), 4):
                self.echo("  " + "  ".join(f"r{k:<2} = {int(v):>11} ({float(f):g})" for k, (v, f) in enumerate(
                    zip(values[first:first + 4], values[first:first + 4].view(np.float32)), start=first)))
        elif name == "sram":
            values = numbers()
            words = self.sram(values[:2], *values[2:4])
            self.echo(f"  {_show(words)}")
        elif name in ("p", "print"):
            if len(args) != 3:
                raise IndexError("print takes NAME X Y")
            self.echo(f"  {args[0]} = {_show(self.read_local(args[0], tuple(int(a) for a in args[1:3])))}")
        elif name == "fifo":
            channel = int(args[3]) if len(args) > 3 else 0
            contents = self.fifo((int(args[0]), int(args[1])), args[2], channel)
            # (no trailing ": " when empty: the CLI's echo reads a trailing space as a prompt and adds no newline)
            arrived = zip(contents.words, contents.floats, contents.arrival)
            words = [f"{w} ({f:g}) at cycle {t:g}" for w, f, t in arrived]
            self.echo(f"  {plural(len(contents), 'word')}" + (": " + ", ".join(words) if words else ""))
        else:
            self.echo(next(part for part in __doc__.split("\n\n") if part.lstrip().startswith("break")))
        return False


def _usage(name: str) -> str:
    """What the command `name` (or its short form) takes, from the table above: `usage: print NAME X Y (X, Y
    and the other capitals but NAME and DIR are integers)`."""
    for line in __doc__.splitlines():
        words = line.split()
        if words and line.startswith("    ") and (words[0] == name or line.rstrip().endswith(f"({name})")):
            usage = line.strip().split("  ")[0]
            numbers = [word for word in ("LINE", "X", "Y", "START", "COUNT", "CH") if word in usage.split("[")[0]
                       or f"[{word}" in usage or f" {word}]" in usage]
            return f"usage: {usage}" + (f" ({', '.join(numbers)}: integers)" if numbers else "")
    return "unknown command (help lists them)"


def _show(value) -> str:
    return np.array2string(value, threshold=64) if isinstance(value, np.ndarray) else str(value)
