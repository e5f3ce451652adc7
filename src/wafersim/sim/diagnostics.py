"""Diagnostics of a wave simulation: errors that name PEs and source lines, the cycle and time limits, deadlock maps,
debug prints.

PEs are named by their launch-wide coordinates (`ws.grid(2)`, `WaveRegion.global_xy`), as `LaunchState` names
them, not by their place in the wave's rectangle of the wafer (which repeats from wave to wave)."""
from __future__ import annotations

import re

import numpy as np

from ..arch.values import plural
from ..errors import CycleLimitError, DeadlockError
from ..isa.encoding import Instr
from ..isa.opcodes import FLAG_FLOAT, NOWHERE, PORTS, RAMP, STREAM_OPS, output_port_text
from .lanes import Lanes, park

MAX_PES_NAMED = 8  # PEs listed by name in an error message
#: where a cycle or time limit's message says to pass a larger limit (`ws.resume_launch` names itself instead)
RUN_LONGER = " to the launch if it should run longer"
_NUMBER = re.compile(r"-?\d+")


def failure_kind(message: str) -> str:
    """A failure's message with the numbers it names masked: failures of one instruction at one cycle that
    differ only in their values (a bounds check's index, a transfer's length) are the same failure."""
    return _NUMBER.sub("#", message)


def wave_fields(launch) -> dict:
    """A time-limit error's count of waves and blocks: run to the end, and in the launch."""
    placement = launch.placement
    return {"waves_done": launch.waves_done, "waves": placement.waves,
            "blocks_done": min(launch.waves_done * placement.slots, placement.n_blocks),
            "blocks": placement.n_blocks}


def _waves_left(launch) -> str:
    """", in wave 1 of N" for a launch of several waves, else nothing."""
    waves = launch.placement.waves
    return f", in wave {launch.waves_done + 1:,} of {waves:,}" if waves > 1 else ""


def later_waves_hint(launch) -> str:
    """For a launch stopped in a wave before its last: a block spinning on a flag another block stores waits
    forever when that block runs in a later wave (CUDA promises no order between blocks either); else ""."""
    placement = launch.placement
    if launch.waves_done + 1 >= placement.waves:
        return ""
    return (f"\n(this launch runs in {placement.waves:,} waves of at most {placement.slots:,} blocks, and stopped in "
            f"wave {launch.waves_done + 1:,}: a block of a later wave starts only once the block before it in its "
            f"slot has ended, so a block that loops until another block stores a flag to global memory waits "
            f"forever if that block is in a later wave; wait only on blocks of a lower index, launch at most "
            f"{placement.slots:,} blocks, or split the work into launches: docs/timing.md, \"Waves and streams\")")


def time_limit_text(launch, latest_cycle: float, in_wave: bool) -> str:
    """Why a launch stopped at `max_seconds` after some waves ran to the end, with how many ran and how many
    are left: a long grid of a kernel that halts is the likely cause, not a kernel that never halts
    (`in_wave`: it stopped inside a wave, whose PEs the error lists after this text)."""
    fields = wave_fields(launch)
    left = fields["blocks"] - fields["blocks_done"]
    advice = ("every block so far halted, so the launch is long rather than stuck" if not in_wave else
              "earlier waves halted, so the launch is likely long rather than stuck (unless this wave's PEs, "
              "below, never halt)")
    return (f"{launch.program.name} ran past max_seconds={launch.max_seconds:g} of host time after "
            f"{fields['waves_done']:,} of {fields['waves']:,} waves ({fields['blocks_done']:,} of "
            f"{fields['blocks']:,} blocks halted, {left:,} left; simulated up to cycle {latest_cycle:,.0f}): "
            f"{advice}; pass a larger max_seconds (or None), or launch a smaller grid")


class DiagnosticsMixin:
    """Error construction and `print` for `WaveSim`."""

    def _coords(self, flat: np.ndarray) -> list[tuple[int, int]]:
        x, y = self.region.global_xy
        return [(int(x[i]), int(y[i])) for i in flat[:MAX_PES_NAMED]]

    def _first_pe(self, lanes: Lanes) -> dict:
        i = lanes.indices()[:1]
        if not len(i):
            return {}
        x, y = self.region.global_xy
        return {"pe": (int(x[i[0]]), int(y[i[0]])), "block_index": self._block_of(int(i[0]))}

    def _block_of(self, flat: int) -> tuple[int, int]:
        block = int(self.region.block_id[flat])
        gx = self.launch.placement.grid[0]
        return block % gx, block // gx

    def _where(self, lanes: Lanes) -> str:
        fields = self._first_pe(lanes)
        return f" (PE {fields['pe']} of block {fields['block_index']})" if fields else ""

    def _locate(self, exc, pc: int):
        """Add the program counter, instruction and source line to an error raised by an executor."""
        fields = dict(pc=pc, instruction=self.program.instruction_text(self.launch.decoded[pc]), source=self.program.source_of(pc))
        if hasattr(exc, "add_fields"):
            exc.add_fields(**fields)
        else:  # (a built-in error: attributes only)
            for key, value in fields.items():
                setattr(exc, key, value)
        exc.args = (f"{exc.args[0]} at {self.program.describe_pc(pc)}",)
        return exc

    def _lane_error(self, cls, message: str, lanes: Lanes, bad: np.ndarray, **fields):
        """An error naming the PEs of `lanes` where `bad` (lane-aligned) holds, those of them at the earliest
        cycle (a group's PEs may be at different cycles: the later ones' failures come after)."""
        flat = lanes.split(np.asarray(bad, dtype=bool))[0].indices()
        if len(flat):
            cycles = self.cycle[flat]
            flat = flat[cycles == cycles.min()]
        return self._error_naming(cls, message, flat, fields)

    def _error_naming(self, cls, message: str, flat: np.ndarray, fields: dict):
        """`cls` with `message` naming the region's PEs `flat` (the first 8, and how many more)."""
        pes = self._coords(flat)
        more = f" (and {len(flat) - len(pes)} more)" if len(flat) > len(pes) else ""
        first = {"pe": pes[0], "block_index": self._block_of(int(flat[0]))} if pes else {}
        names = ", ".join(f"({x}, {y})" for x, y in pes)
        error = cls(f"{message}: PE {names}{more}", pes=pes, pe_count=len(flat), **first, **fields)
        # (for the scheduler, which orders failures by their cycles and joins those of one instruction)
        error.failing_lanes, error.naming = flat, (message, fields)
        return error

    def _running(self, current: tuple[int, Lanes] | None = None) -> tuple[str, list[dict]]:
        """Where the PEs that have not halted are (the groups, plus `current` = (pc, lanes) being run): one
        text line and one dict (pc, source, count, pes, block_index) per program counter, most PEs first."""
        places = self._places() + ([current] if current else [])
        lines, running = [], []
        for pc, lanes in sorted(places, key=lambda place: (-place[1].count, place[0])):
            flat = lanes.indices()
            pes = self._coords(flat)
            more = f" and {len(flat) - len(pes)} more" if len(flat) > len(pes) else ""
            running.append({"pc": pc, "source": self.program.source_of(pc), "count": int(lanes.count), "pes": pes,
                            "block_index": self._block_of(int(flat[0]))})
            names = ", ".join(f"({x}, {y})" for x, y in pes)
            lines.append(f"  {plural(int(lanes.count), 'PE')} at {self.program.describe_pc(pc)}: {names}{more}")
        return "\n".join(lines), running

    def _stop_past_cycle_limit(self, lanes: Lanes, pc: int, owed: float, owed_count: int) -> Lanes:
        """The lanes at the backward branch `pc` (owing `owed` issue cycles and `owed_count` instructions)
        that stay within max_cycles; the others stop before it (`over_limit`), their debts settled."""
        cycles = lanes.get(self.cycle)
        latest = lanes.max(cycles) + owed
        self._guard_time(latest + self.spec.global_latency + len(self.program.code) * max(self.launch.costs.values()))
        if latest <= self.cycle_cap:
            return lanes
        over, within = lanes.split(cycles + owed > self.cycle_cap)
        self._flush(over, owed, owed_count)  # (a failed launch's state shows their cycles with the branch's)
        self.latest_over_limit = max(self.latest_over_limit, latest)
        park(self.over_limit, pc, over)
        return within

    def _stop_at_fault(self, error: BaseException, pc: int, lanes: Lanes, owed: float, owed_count: int,
                       counted: bool = False) -> list:
        """The PEs of `lanes` that failed the instruction at `pc` (owing `owed` issue cycles and `owed_count`
        instructions before it; `counted`: the instruction's own count and what they owed already settled)
        stop there, the failure is kept with the cycle it happened at, and the other PEs run on up to that
        cycle (`cycle_cap`). The group's other lanes run the instruction again without them (the
        continuation returned): an executor raises the first failure it checks for, and theirs (another
        kind, at the same cycle) may come first in the PEs' order."""
        failing = getattr(error, "failing_lanes", None)
        failed, rest = lanes, Lanes(lanes.n, idx=np.empty(0, dtype=np.int64))
        if failing is not None and len(failing):
            named = np.zeros(self.n, dtype=bool)
            named[failing] = True
            part, others = lanes.split(lanes.get(named))
            if part.count:  # (else the error named PEs outside the group: the whole group stops)
                failed, rest = part, others
        else:
            failing = lanes.indices()
        cycle = float(self.cycle[failing].min()) + owed
        self._flush(failed, owed, owed_count)
        self.faults.append((cycle, int(failing.min()), pc, error))
        self.cycle_cap = min(self.cycle_cap, cycle)
        park(self.faulted, pc, failed)
        if not rest.count:
            return []
        if counted:  # (counted again when they run it)
            self._uncount(pc, rest)
            return [(pc, rest, False)]
        self.totals.pc_counts[pc] -= rest.count  # (their instruction counts not settled yet: the pc's only)
        return [(pc, rest, False, owed, owed_count)]

    def _raise_stopped(self) -> None:
        """Nothing else can run: raise the failure that came first in simulated time (ties: the one whose
        first PE comes first in the region), or the cycle limit's error; nothing if no PE stopped."""
        if self.faults:
            cycle, _, pc, error = min(self.faults, key=lambda fault: fault[:2])
            naming = getattr(error, "naming", None)
            if naming is not None:  # the same failure of other PEs at that cycle and instruction, run apart
                message, fields = naming
                # (the same failure whatever values it names: one group's executor names those of its first
                # failing PE, `error`'s here, so PEs run apart must not keep their own out of the error)
                kind = failure_kind(message)
                same = [other for c, _, p, other in self.faults if c == cycle and p == pc and type(other) is type(error)
                        and failure_kind(getattr(other, "naming", ("",))[0]) == kind]
                if len(same) > 1:
                    flat = np.unique(np.concatenate([other.failing_lanes for other in same]))
                    error = self._locate(self._error_naming(type(error), message, flat, fields), pc)
            raise error
        if self.over_limit:
            self._raise_cycle_limit()

    def _raise_cycle_limit(self) -> None:
        """Every PE has halted, waits for good, or stopped at the limit (`over_limit`): the error, at the
        place of the first PE (in the region's order) that stopped there."""
        where, running = self._running()
        pc, lanes = min(self.over_limit.items(), key=lambda place: int(place[1].indices()[0]))
        limit = self.launch.max_cycles  # (as given: 5.5 is not shown as 6, which the PE may not pass)
        limit_text = f"{limit:,.0f}" if float(limit).is_integer() else f"{limit:,}"
        raise CycleLimitError(
            f"{self.program.name} ran past max_cycles={limit_text} (a PE reached cycle "
            f"{self.latest_over_limit:,.0f}) at {self.program.describe_pc(pc)}; does it ever halt? Pass a larger "
            f"max_cycles{RUN_LONGER}{later_waves_hint(self.launch)}\nPEs still running:\n"
            f"{where}",
            max_cycles=self.launch.max_cycles, pc=pc, source=self.program.source_of(pc), running=running,
            **self._first_pe(lanes))

    def _raise_time_limit(self) -> None:
        """Out of host time: the error lists every place; `pc`, `source` and `pe` name the group that has run
        furthest in simulated time (a loop's PEs, rather than the most PEs, which may not have run yet)."""
        where, running = self._running()
        first = running[0]
        places = self._places()
        if places:
            pc, lanes = max(places, key=lambda place: (float(place[1].max(place[1].get(self.cycle))),
                                                       place[1].count, -place[0]))
            first = next(entry for entry in running if entry["pc"] == pc)
        launch = self.launch
        if launch.waves_done:  # earlier waves halted: likely a long grid (`time_limit_text`)
            text = time_limit_text(launch, self._latest_cycle(), in_wave=True)
        else:
            text = (f"{self.program.name} ran past max_seconds={launch.max_seconds:g} of host time (simulated up "
                    f"to cycle {self._latest_cycle():,.0f}{_waves_left(launch)}); does it ever halt? Pass a "
                    f"larger max_seconds (or None){RUN_LONGER}{later_waves_hint(launch)}")
        raise CycleLimitError(
            f"{text}\nPEs still running:\n{where}", max_seconds=launch.max_seconds, pc=first["pc"],
            source=first["source"], running=running, pe=first["pes"][0], block_index=first["block_index"],
            **wave_fields(launch))

    def _stream_waits_for_room(self, pc: int, lanes) -> bool:
        """Whether some PE of `lanes`, blocked in the stream op at `pc`, has a word queued (so waits for room)."""
        instr = self.launch.decoded[pc]
        if instr.op not in STREAM_OPS:
            return False
        fifo, flat = self._fifo(instr.dir, instr.ch), lanes.indices()
        return bool((fifo.pushed[flat] - fifo.popped[flat] > 0).any())

    def _stream_wait(self, instr, flat) -> str:
        """What PEs `flat`, blocked in a stream op, wait for: a word (their input FIFO empty), room to send (a
        word queued: their output FIFO is full), or either (some each)."""
        fifo = self._fifo(instr.dir, instr.ch)
        queued = fifo.pushed[flat] - fifo.popped[flat] > 0
        word = f"for a word from the {PORTS[instr.dir]} on channel {instr.ch}"
        room = (f"for room to send {output_port_text(instr.d)} (a FIFO of {self.spec.fifo_depth} words is full)"
                if instr.d != NOWHERE else "")
        if not queued.any() or not room:
            return f"waits in {instr.op} {word}"
        if queued.all():
            return f"waits in {instr.op} {room}"
        return f"waits in {instr.op} {word} or {room}"

    def _raise_deadlock(self) -> None:
        lines, blocked = [], []
        x, y = self.region.global_xy
        first_flat = None
        for pc, lanes in self._places():
            instr = self.launch.decoded[pc]
            flat = lanes.indices()
            if instr.op in ("recv", "recvv", "recva"):
                what = f"waits for a word from the {PORTS[instr.dir]} on channel {instr.ch}"
            elif instr.op in ("send", "sendv", "senda"):
                what = (f"waits for room to send {PORTS[instr.dir]} on channel {instr.ch} "
                        f"(the FIFO of {self.spec.fifo_depth} words is full{self._full_fifos(instr, flat)})")
            elif instr.op in STREAM_OPS:
                what = self._stream_wait(instr, flat)
            elif instr.op == "gbar":
                what = "waits at a grid barrier (ws.cg.this_grid().sync())"  # (who does not reach it: below)
            else:
                what = "waits at a barrier (ws.syncthreads())"
            if first_flat is None and len(flat):
                first_flat = int(flat[0])
            for i in flat:
                blocked.append({"pe": (int(x[i]), int(y[i])), "pc": pc, "waits_for": what,
                                "block_index": self._block_of(int(i))})
            pes = ", ".join(f"({px}, {py})" for px, py in self._coords(flat))
            more = f" and {len(flat) - MAX_PES_NAMED} more" if len(flat) > MAX_PES_NAMED else ""
            lines.append(f"  {plural(len(flat), 'PE')} at {self.program.describe_pc(pc)} {what}: {pes}{more}")
        first = blocked[0]
        absent = self._barrier_absentees(lines)
        halted_senders = self._halted_senders(lines)
        if any(self.launch.decoded[pc].op in ("recva", "senda") for pc, _ in self._places()):
            lines.append("  (a background transfer, ws.recv_async / ws.send_async, holds its PE at the call until "
                         "its last word has moved: one that needs this PE's later sends or receives to complete "
                         "deadlocks here though the hardware would run it; start the transfer after them, see "
                         "docs/timing.md, \"Background transfers\")")
        if all(self.launch.decoded[pc].op in ("recv", "recvv", "recva", *STREAM_OPS)
               and PORTS[self.launch.decoded[pc].dir] == "ramp" and not self._stream_waits_for_room(pc, lanes)
               for pc, lanes in self._places()):
            # Every PE left waits for a routed word, so no PE is left to send one: the usual cause is a
            # broadcast whose root is no PE of the line (a collective given a root outside the block), or
            # a route that delivered the words to a PE that halted without taking them.
            if not self._stranded_routed_words(lines):
                lines.append("  (every PE still running waits for a routed word, which no PE is left to send: in a "
                             "broadcast or scatter, such as wafersim.collectives', is the root inside the block, "
                             "0 <= root < the PEs along the line, and the same at every PE, and does the root "
                             "reach the call, not skipping it in an `if` or after a `return`? In a custom route, "
                             "does every PE on the way pass the words on, its rule's output ports including the "
                             "next link?)")
        if all(self.launch.decoded[pc].op in ("send", "sendv", "senda") for pc, _ in self._places()):
            # A cycle of full FIFOs: the exchange (a swap, a ring shift) sends more than a FIFO holds first.
            lines.append(f"  (every PE still running waits to send, so none is left to receive: a PE that sends "
                         f"more than fifo_depth ({self.spec.fifo_depth}) words before it receives needs its "
                         f"receiver to be receiving; send in chunks of at most {self.spec.fifo_depth} words with "
                         f"the matching receive after each, or let one side of each pair receive first: "
                         f"docs/programming-model.md, \"FIFOs and the deadlock rule\")")
        lines.append(self._deadlock_map(first_flat))
        raise DeadlockError(f"deadlock in {self.program.name}: no PE can make progress\n" + "\n".join(lines),
                            blocked=blocked, absent=absent, halted_senders=halted_senders, pe=first["pe"],
                            block_index=first["block_index"],
                            pc=first["pc"], source=self.program.source_of(first["pc"]))

    def _stranded_routed_words(self, lines: list[str]) -> bool:
        """Appends a line naming the halted PEs whose ramp FIFO still holds words of a channel that the
        blocked PEs wait on: the channel's route delivered them there, not to the waiting PEs (a custom route
        whose rule at a PE sends to the wrong ports, a route to the sender's own ramp). Returns whether any."""
        running = np.zeros(self.region.n, dtype=bool)
        channels = set()
        for pc, lanes in self._places():
            running[lanes.indices()] = True
            channels.add(self.launch.decoded[pc].ch)
        found = []
        for channel in sorted(channels):
            fifo = self.fifos.get((RAMP, channel))
            if fifo is None:
                continue
            held = np.flatnonzero((fifo.pushed - fifo.popped > 0) & ~running)
            if len(held):
                named = ", ".join(f"({px}, {py}) holds {plural(int(fifo.pushed[i] - fifo.popped[i]), 'word')}"
                                  for (px, py), i in zip(self._coords(held), held))
                more = f" and {len(held) - MAX_PES_NAMED} more PEs" if len(held) > MAX_PES_NAMED else ""
                found.append(f"channel {channel}: {named}{more}")
        if found:
            lines.append(f"  (routed words went elsewhere: they wait unreceived in the ramp FIFOs of PEs that "
                         f"halted ({'; '.join(found)}), where the channel's route delivers them; is each PE's "
                         f"rule right (in ws.routes.custom, the output ports of its dict, CSL's .tx), or is a "
                         f"receive missing at those PEs?)")
        return bool(found)

    def _full_fifos(self, instr: Instr, flat: np.ndarray) -> str:
        """Where the FIFOs that hold up these senders are: ", at (x, y), ..." naming the receivers whose
        FIFO of the send's direction (or, through the router, of the channel's ramp) is full, and which of
        them halted with those words still in it (a receive missing there, the usual cause: a multicast
        stalls on its slowest receiver, which the deadlock map alone shows only as an `h`)."""
        fifo = self.fifos.get((RAMP if instr.dir == RAMP else (instr.dir + 2) % 4, instr.ch))
        if fifo is None:
            return ""
        to_itself = np.zeros(0, int)
        if instr.dir == RAMP:
            table = self.routes.deliveries(instr.ch, flat)
            rows = table.rows(flat)
            rows = rows[rows >= 0]
            dest = np.concatenate([table.dest[table.start[r]:table.start[r + 1]] for r in rows] or [np.zeros(0, int)])
            to_itself = np.array([table.sources[r] for r in rows
                                  if table.sources[r] in table.dest[table.start[r]:table.start[r + 1]]], dtype=int)
        else:
            dest = flat + self.region.offset(instr.dir)
        dest = np.unique(dest)
        full = dest[fifo.pushed[dest] - fifo.popped[dest] >= fifo.depth]
        if not len(full):
            return ""
        text = self._full_text(full)
        itself = np.intersect1d(to_itself, full)
        if len(itself):
            # A route that delivers a sender's words to its own ramp (a broadcast's include_root=True):
            # the sender takes them only after its send, so it stalls once its own FIFO is full.
            named = ", ".join(f"({px}, {py})" for px, py in self._coords(itself))
            more = " and more" if len(itself) > MAX_PES_NAMED else ""
            one = len(itself) == 1
            text += (f"; {named}{more} {'waits for its own FIFO' if one else 'wait for their own FIFOs'}: the route "
                     f"delivers a sender's words to its own ramp too (a broadcast's include_root=True), which it "
                     f"takes only after the send, so it can send at most fifo_depth ({fifo.depth}) words before it "
                     f"receives them: send in chunks with the receive after each, or keep its own copy and leave "
                     f"include_root off")
        return text

    def _full_text(self, full: np.ndarray) -> str:
        """" at (x, y), ..." naming the PEs `full` whose FIFOs are full, and those of them that halted."""
        running = np.zeros(self.region.n, dtype=bool)
        for _, lanes in self._places():
            running[lanes.indices()] = True
        halted = full[~running[full]]
        named = ", ".join(f"({px}, {py})" for px, py in self._coords(full))
        more = f" and {len(full) - MAX_PES_NAMED} more" if len(full) > MAX_PES_NAMED else ""
        text = f" at {named}{more}"
        if len(halted):
            hint = "halted without taking those words: does a receive there take fewer words than are sent?"
            if len(halted) == len(full):
                return f"{text}, which {hint}"
            gone = ", ".join(f"({px}, {py})" for px, py in self._coords(halted))
            text += f"; {gone}{' and more' if len(halted) > MAX_PES_NAMED else ''} {hint}"
        return text

    def _halted_senders(self, lines: list[str]) -> list[tuple[int, int]]:
        """Appends a line naming the halted PEs that PEs blocked in a neighbour receive (or in a stream op,
        for want of a word) wait on: their word can never come. The usual cause is a send, or a collective
        that every PE of a line or block must call, that the sender skipped (in an `if`, after a `return`),
        or a receive of more words than were sent; the map alone shows the sender only as an `h`. Returns
        their coordinates."""
        places = self._places()
        live = np.zeros(self.region.n, dtype=bool)
        for _, lanes in places:
            live[lanes.indices()] = True
        gone = []
        for pc, lanes in places:
            instr = self.launch.decoded[pc]
            if instr.op not in ("recv", "recvv", "recva", *STREAM_OPS) or instr.dir == RAMP:
                continue
            flat = lanes.indices()
            fifo = self._fifo(instr.dir, instr.ch)
            flat = flat[fifo.pushed[flat] - fifo.popped[flat] <= 0]  # (a stream op may wait for room instead)
            senders = flat + self.region.offset(instr.dir)
            gone.append(senders[~live[senders]])
        halted = np.unique(np.concatenate(gone)) if gone else np.zeros(0, dtype=np.int64)
        if not len(halted):
            return []
        names = ", ".join(f"({px}, {py})" for px, py in self._coords(halted))
        more = f" and {len(halted) - MAX_PES_NAMED} more" if len(halted) > MAX_PES_NAMED else ""
        lines.append(f"  (neighbours they wait on halted without sending the word: {names}{more}; a send there "
                     f"is missing, or sends fewer words than the receive takes: is a send, or a collective that "
                     f"every PE of the line or block must call, inside an `if` those PEs skip, or after a "
                     f"`return`?)")
        x, y = self.region.global_xy
        return [(int(x[i]), int(y[i])) for i in halted]

    def _barrier_absentees(self, lines: list[str]) -> list[tuple[int, int]]:
        """The PEs that keep the waiting barriers from releasing: of each block with PEs at a barrier
        (`ws.syncthreads()`: any `bar` counts), those not at one; for a grid barrier, the PEs of the launch
        not at one. Appends a line naming them (halted ones apart: the early `return` before a barrier,
        a CUDA habit) to `lines`; returns their coordinates."""
        places = self._places()
        live = np.zeros(self.region.n, dtype=bool)
        at = {"bar": np.zeros(self.region.n, dtype=bool), "gbar": np.zeros(self.region.n, dtype=bool)}
        for pc, lanes in places:
            flat = lanes.indices()
            live[flat] = True
            op = self.launch.decoded[pc].op
            if op in at:
                at[op][flat] = True
        active = self.region.active
        missing = {op: np.zeros(self.region.n, dtype=bool) for op in at}
        if at["bar"].any():  # a block barrier waits for the PEs of its own block
            blocks = np.unique(self.region.block_id[at["bar"]])
            missing["bar"] = active & np.isin(self.region.block_id, blocks) & ~at["bar"]
        if at["gbar"].any():  # a grid barrier for every PE of the launch (one wave: the launch checks)
            missing["gbar"] = active & ~at["gbar"]
        flat = np.flatnonzero(missing["bar"] | missing["gbar"])
        if not len(flat):
            return []
        both = at["bar"].any() and at["gbar"].any()
        any_halted = False
        for op, barrier in (("bar", "the block barrier (ws.syncthreads())"), ("gbar", "the grid barrier")):
            group_flat = np.flatnonzero(missing[op])
            if not len(group_flat):
                continue
            halted, elsewhere = group_flat[~live[group_flat]], group_flat[live[group_flat]]
            any_halted |= bool(len(halted))
            parts = []
            for group, how in ((halted, "halted (returned or ended) before it"),
                               (elsewhere, "waiting elsewhere (listed above)")):
                if len(group):
                    names = ", ".join(f"({px}, {py})" for px, py in self._coords(group))
                    more = f" and {len(group) - MAX_PES_NAMED} more" if len(group) > MAX_PES_NAMED else ""
                    parts.append(f"{len(group)} {how}: {names}{more}")
            # (with PEs at both kinds, one line per kind: a PE waiting at the one is absent from the other,
            # and a single line named every PE of the block as not reaching "the barrier")
            lines.append(f"  PEs that do not reach {barrier if both else 'the barrier'}: " + "; ".join(parts))
        who = ("every PE of a block must reach each ws.syncthreads()" if not at["gbar"].any() else
               "every PE of the launch must reach each grid barrier" if not at["bar"].any() else
               "every PE of a block must reach each ws.syncthreads(), and every PE of the launch each grid barrier")
        if any_halted:
            lines[-1] += (f"; {who}: instead of returning early (if i >= n: return), put the work under an if "
                          "(if i < n: ...) and let every PE reach the barrier")
        elif both:
            lines[-1] += f"; {who}, the same barriers in the same order"
        x, y = self.region.global_xy
        return [(int(x[i]), int(y[i])) for i in flat]

    MAP_WIDTH, MAP_HEIGHT = 64, 24

    def _deadlock_map(self, flat: int) -> str:
        """A character map of the block holding the PE of flat index `flat` (a window of it, for big blocks):
        what each PE waits on."""
        bx, by = self.launch.placement.block
        rx, ry = self.region.xy
        pe = (int(rx[flat]), int(ry[flat]))  # (region coordinates: the map is drawn over the region)
        x0, y0 = pe[0] - pe[0] % bx, pe[1] - pe[1] % by  # the block's north-west PE, region coordinates
        wx, wy = min(bx, self.MAP_WIDTH), min(by, self.MAP_HEIGHT)
        left = x0 + min(max(pe[0] - x0 - wx // 2, 0), bx - wx)
        top = y0 + min(max(pe[1] - y0 - wy // 2, 0), by - wy)
        grid = [["h"] * wx for _ in range(wy)]  # PEs in no group have halted
        x, y = self.region.xy
        for pc, lanes in self._places():
            instr = self.launch.decoded[pc]
            if instr.op in ("recv", "recvv", "recva"):
                char = "^>v<r"[instr.dir]
            elif instr.op in ("send", "sendv", "senda"):
                char = "NESWR"[instr.dir]
            elif instr.op in STREAM_OPS:
                char = "x"
            else:
                char = "G" if instr.op == "gbar" else "B"
            for i in lanes.indices():
                gx, gy = int(x[i]) - left, int(y[i]) - top
                if 0 <= gx < wx and 0 <= gy < wy:
                    grid[gy][gx] = char
        block = self._block_of(flat)
        gx0, gy0 = block[0] * bx - x0, block[1] * by - y0  # region to global coordinates in this block
        window = ("" if (wx, wy) == (bx, by) else
                  f", PEs x {gx0 + left}..{gx0 + left + wx - 1}, y {gy0 + top}..{gy0 + top + wy - 1} shown")
        rows = "\n".join("    " + "".join(row) for row in grid)
        return (f"  block {block} (north up{window}): ^ > v < wait to receive from north/east/south/west, "
                f"N E S W wait to send (FIFO full), r R wait to receive / send through the router, x in a stream op (vaddx), B waits at "
                f"a barrier, G at a grid barrier, h halted\n{rows}")

    # ------------------------------------------------------------------ debug print
    def _print(self, ins: Instr, lanes: Lanes) -> None:
        totals = self.totals
        L = lanes.to_index_form(self.n)
        raw = self.regs[ins.a, L.idx]
        values = raw.view(np.float32).astype(float) if ins.flags & FLAG_FLOAT else raw.astype(int)
        x, y = self.region.global_xy
        text = self.program.strings[ins.imm] if 0 <= ins.imm < len(self.program.strings) else f"#{ins.imm}"
        totals.prints.extend((float(c), int(py), int(px), text, v.item()) for c, px, py, v in
                             zip(self.cycle[L.idx], x[L.idx], y[L.idx], values))
        if len(totals.prints) > 4 * self.launch.print_limit:  # keep only the earliest, by (cycle, PE)
            totals.keep_earliest_prints(self.launch.print_limit)
