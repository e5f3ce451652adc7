"""The simulation of one wave: every PE of its region, run to completion (see `engine` for the model).

`WaveSim` holds the per-PE state and the scheduler; instruction executors live in mixins by job:
`compute` (ALU, SRAM, vector), `exchange` (fabric), `offwafer` (global memory), `diagnostics` (errors),
`wave_end` (halts and the wave's counts).
"""
from __future__ import annotations

import dataclasses
import functools
import time
from typing import TYPE_CHECKING

import numpy as np

from ..errors import (KernelValueError, KernelZeroDivisionError, LaunchError, MemoryAccessError, MeshBoundaryError,
                      RouteError, WordTypeError)
from ..isa.encoding import Instr
from .background import BackgroundMixin
from .barriers import BarrierMixin
from .clocks import TIME32_LIMIT, ClockMixin  # noqa: F401  (TIME32_LIMIT re-exported)
from .branches import WRITES_NO_REGISTER_ANY, WRITES_ONLY_D_ANY, neighbour_branches
from .asleep import AsleepMixin, SleepBounds
from .compiled.stepper import CompiledMixin
from .compute import ROUTE_OPS, ComputeMixin
from .diagnostics import DiagnosticsMixin
from .exchange import ExchangeMixin
from ..isa.opcodes import NOWHERE, RAMP, STREAM_OPS
from .fabric import Fifo
from .hostmem import SPARE
from .lanes import Lanes
from . import parallel, vector_batch
from .vector_batch import BATCH_PASSES, REGISTER_ONLY, VectorBatch
from .rank1_queue import Rank1Queue
from .register_blocks import RegisterBlocks
from .layout import WaveRegion
from .offwafer import OffWaferMixin
from .routed import RoutedExchangeMixin
from .groups import Group as _Group
from .split_runs import SplitRunsMixin
from .branch_splits import BranchSplitMixin
from .stream_rows import StreamRowsMixin
from .stream_pump import StreamPumpMixin
from .racecheck_routes import RouteWatch
from .stream_ops import StreamOpsMixin
from .wave_end import WaveEndMixin
from .routing import RouteTables
from .routed_senders import broadcast_roots, launch_channel_conditions
from .wordtypes import WordTypeMixin
from .strategy import active as active_strategy

if TYPE_CHECKING:
    from .engine import Launch, _Totals

HEARTBEAT_SECONDS = 1.0  # how often a long wave reports cycles and running PEs to a progress bar


#: Instructions a run may reach with rank-1 updates queued (`sim.rank1_queue`): a `vger` joins the queue or runs it.
RANK1_PASSES = REGISTER_ONLY | {"vger"}


class WaveSim(SplitRunsMixin, BranchSplitMixin, CompiledMixin, ComputeMixin, ExchangeMixin, StreamRowsMixin,
              RoutedExchangeMixin, WordTypeMixin, OffWaferMixin, DiagnosticsMixin, BackgroundMixin, StreamPumpMixin,
              BarrierMixin, StreamOpsMixin, AsleepMixin, ClockMixin, WaveEndMixin):
    """The state of one wave: every PE of its region, run to completion."""

    #: Whether a send or receive may take the issue cycles its lanes still owe as part of its own cost
    #: (False where every PE's clock must be up to date before each instruction: the debugger's stops).
    fold_owed_issue = True
    #: Whether a large dense group's consecutive vector instructions may run together (`sim.vector_batch`;
    #: False where SRAM must be up to date between instructions: the debugger's stops).
    batches_vectors = True

    def __init__(self, launch: "Launch", region: WaveRegion, start: np.ndarray, totals: "_Totals") -> None:
        self.launch, self.region, self.totals = launch, region, totals
        self.spec = spec = launch.spec
        self.program = launch.program
        n = self.n = region.n
        self.regs = SPARE.take((launch.n_registers, n), np.int32, 0)  # (all zero: a finished wave's, cleared)
        self.fregs = self.regs.view(np.float32)
        self.sram = SPARE.take((self.program.data_words, n), np.int32, 0, huge=True)  # (`hostmem.huge_page_zeros`)
        self.fsram = self.sram.view(np.float32)
        # A fractional detour cost on a wafer with defects makes link latencies fractional: float64 then.
        whole_detours = region.placement.repair is None or float(spec.detour_cycles_per_hop).is_integer()
        self.whole_times = launch.whole_cycles and whole_detours  # every time a whole number of cycles
        self.time_dtype = (np.float32 if self.whole_times and start.max(initial=0) < TIME32_LIMIT
                           else np.float64)
        self.start = start.astype(self.time_dtype)
        self.cycle = self.start.copy()
        self.stall = np.zeros(n, dtype=self.time_dtype)
        self.unchecked_cycles = 0.0  # element cycles added since the last check (`_add_element_cycles`)
        self._setup_time_bound()  # (`time_bound`: above every time of the wave while they are float32)
        self.icount = np.zeros(n, dtype=np.int32)  # (instructions executed, per PE: see `icount` below)
        self.store_done = np.zeros(n, dtype=self.time_dtype)
        self.progress = np.zeros(n, dtype=np.int32)  # words done of a partly finished vector send/recv
        self.at_barrier = np.zeros(n, dtype=bool)
        self.at_grid_barrier = np.zeros(n, dtype=bool)  # (`gbar`: apart, so a PE at one is not at the other)
        self.barrier_time = np.zeros(n, dtype=self.time_dtype)
        self.fifos: dict[tuple[int, int], Fifo] = {}
        self.background: dict[tuple, np.ndarray] = {}  # per (op, dir, ch): recva / senda state (`background`)
        strategy = active_strategy()
        buses = [channel for channel, (_, merge) in launch.routes.items() if merge]
        # (a launch's broadcast is traced ahead where another thread may run: `trace_ahead`)
        ahead = broadcast_roots(launch_channel_conditions(launch), region, buses) if (
            buses and strategy.compiled_trace and parallel.thread_count() > 1) else {}
        self.routes = RouteTables(region, spec.ramp_latency, launch.routes, strategy.routed_steps,
                                  strategy.compiled_trace, ahead)
        # a program that changes routes: its changes and routed words, to find changes run out of cycle order
        # against words (`racecheck_routes`: reported by racecheck, else a RouteError, `route_order`)
        self.route_watch = RouteWatch(self) if launch.watches_routes else None
        self.injected: dict[int, np.ndarray] = {}  # per routed channel: words each PE sent on current paths
        self.routed_link_words: dict[int, np.ndarray] = {}  # per routed channel: (4, n) words per link
        self.last_arrival: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # per routed channel, per receiver
        self.link_busy: np.ndarray | None = None  # (2, 4n): latest reservation of each link by routed words
        self.expansions: dict[tuple, object] = {}  # routed senders' expansions while they stream (`routed`)
        self.word_time = 1.0 / spec.link_words_per_cycle
        self.scratch: dict[tuple, np.ndarray] = {}  # a vector op's temporary, kept for the next (`compute`)
        self.rank1_work: dict[int, np.ndarray] = {}  # queued rank-1 updates' scratch (`rank1_queue`)
        self.groups: dict[int, _Group] = {}
        self.running: Lanes | None = None  # the group `run` is running (see `debug_hooks.failed_snapshot`)
        # Event wake-up: lanes blocked on a FIFO, by pc, apart from the groups, so that a push or pop wakes
        # (moves to `groups`) only the lanes it concerns and the rest are never re-tested.
        self.asleep: dict[int, Lanes] = {}
        self.sleep_bounds = SleepBounds(n)  # (the least cycle of those at each pc, for the memory order's bounds)
        # PEs stopped before a backward branch that would take them past max_cycles, by pc: the others run
        # on until each halts, waits for good or passes the limit too, so that the `CycleLimitError` shows
        # where every PE stands then, whatever order the engine ran them in (`_stop_past_cycle_limit`).
        self.over_limit: dict[int, Lanes] = {}
        self.latest_over_limit = 0.0  # the latest cycle a stopped PE had reached
        # Likewise a failure (an access out of range, a mistyped word, ...) stops its PEs at the instruction
        # (`faulted`, by pc), and the others run on, but only up to the earliest failure's cycle (`cycle_cap`):
        # the launch then raises the failure that came first in simulated time (`faults`), whatever order the
        # engine met them in (`_stop_at_fault`).
        self.faulted: dict[int, Lanes] = {}
        self.faults: list[tuple[float, int, int, BaseException]] = []  # (cycle, first PE, pc, error)
        self.cycle_cap = float(launch.max_cycles)
        # Splits on has_neighbor are the same every time the same lanes reach the same branch.
        self.static_splits: dict[tuple, tuple[Lanes, Lanes]] = {}
        self.neighbour_branches: dict[int, int] = launch.facts.kept_memo(  # pc -> dir of has_neighbor tested
            "neighbour_branches", lambda: neighbour_branches(launch.decoded))
        # ...and those proved through every instruction that leaves the register alone (vector ops, dot products,
        # stream ops: a solver's halo loop), memoized for dense groups only, whose keys are short and few
        # (a mask's key is the region's size; the narrow proof above keeps every form, as it did); and on disk
        self.dense_neighbour_branches: dict[int, int] = launch.facts.kept_memo(
            "neighbour_branches_any", lambda: neighbour_branches(launch.decoded, WRITES_NO_REGISTER_ANY,
                                                                 WRITES_ONLY_D_ANY))
        self.checked_neighbors: set[tuple] = set()  # (direction, dense lanes' key) that all have that neighbour
        # pc -> (sleeping lanes, owners, offset) of the last wake-up that woke every lane asleep there: the
        # same objects again (compared by identity: neither is ever changed in place) wake them all again.
        self.woke_all: dict[int, tuple] = {}
        self.pops_waited: dict[int, bool] = {}  # id(FIFO) -> whether its last lockstep pop waited (a hint)
        # id(FIFO) -> (tests left that skip `_never_waits`' whole-window bound, failures in a row): a hint
        self.wide_bound_failed: dict[int, tuple[int, int]] = {}
        self.ops = self._compile()
        order = launch.memory_order  # (global loads a run must leave to the scheduler, `_run_numpy`)
        self.held_loads = frozenset(order.load_pcs) if self.holds_loads else frozenset()
        self.tracer = launch.tracer
        self.strategy = active_strategy()
        self.barrier_pcs = launch.facts.memo("barrier_pcs", lambda: frozenset(
            pc for pc, instr in launch.decoded.items() if instr.op in ("bar", "gbar")))
        # (a run queues rank-1 updates only where the code has a `vger` to queue: `_run_queues`)
        self.has_vgers = launch.facts.memo("has_vgers", lambda: any(i.op == "vger" for i in launch.decoded.values()))
        # Owed issue cycles may go into a send's cost, or be settled by difference: exact with whole times.
        self.lockstep_owing = (self.strategy.lockstep and self.fold_owed_issue and self.whole_times
                               and self.tracer is None)
        # While a send or receive that takes its lanes' owed issue cycles runs (`_run_lanes`): the cycles its
        # lanes owe after it, where it left their clocks as they were (`exchange`, "owed clocks"); else None.
        self.transfer_owes: float | None = None
        # While a `bar` runs from `_run_lanes` with whole-cycle times: the issue cycles and instructions its group
        # owes, the barrier's own count among them, for `_barrier` to settle (`BarrierMixin`); else None.
        self.barrier_owes: tuple[float, int] | None = None
        # pc of a send or receive -> (FIFO key, whether it waits for a push (receive) or a pop (send),
        # flat offset from the waiting PE to the FIFO's owner; None for a routed send: many owners)
        self.waits_on: dict[int, tuple[tuple[int, int], bool, int | None]] = {}
        # (a stream op waits for a word on its input or for room on its output: the second, here)
        self.waits_also: dict[int, tuple[tuple[int, int], bool, int | None]] = {}
        transfers = launch.facts.memo("transfers", lambda: [  # (the code's sends, receives and stream ops)
            (pc, instr) for pc, instr in launch.decoded.items()
            if instr.op in STREAM_OPS or instr.op in ("recv", "recvv", "recva", "send", "sendv", "senda")])
        for pc, instr in transfers:
            if instr.op in STREAM_OPS:
                self.waits_on[pc] = ((instr.dir, instr.ch), True, 0)
                if instr.d != NOWHERE:
                    self.waits_also[pc] = (((instr.d + 2) % 4, instr.ch), False, region.offset(instr.d))
            elif instr.op in ("recv", "recvv", "recva"):
                self.waits_on[pc] = ((instr.dir, instr.ch), True, 0)
            elif instr.op in ("send", "sendv", "senda") and instr.dir == RAMP:
                self.waits_on[pc] = ((RAMP, instr.ch), False, None)
            elif instr.op in ("send", "sendv", "senda"):
                self.waits_on[pc] = (((instr.dir + 2) % 4, instr.ch), False, region.offset(instr.dir))
        self._compiled_setup()
        # (straight runs of register instructions in one compiled call, `register_blocks`; not where every
        # instruction must pass through its own executor: the debugger's stops)
        self.register_blocks = None
        if self.strategy.register_blocks and self.compiled_compute and self.batches_vectors:
            runs = launch.facts.memo(("register_runs", launch.cost_key, self.route_watch is not None), dict)
            self.register_blocks = RegisterBlocks(self.ops, n, self.program.data_words, runs)

    # ------------------------------------------------------------------ scheduling
    def run(self) -> np.ndarray:
        """Run the wave to completion; returns each PE's finishing cycle."""
        self._add_group(0, Lanes.from_mask(self.region.active))
        if self.tracer:
            self.tracer.begin_wave(self.region)
        deadline = self.launch.deadline
        heartbeat = getattr(self.launch.progress, "running", None)  # a LaunchProgress shows PEs and cycles
        next_beat = time.monotonic() + HEARTBEAT_SECONDS
        # (a run goes on with the group this loop would run next, `_hand_on`: not where the loop must look at
        # the clock between groups, nor where every group run must be seen, the debugger's stops)
        self.runs_on = (self.strategy.runs_on and self.batches_vectors and deadline is None and heartbeat is None)
        self.runs_split = self.runs_on and self.strategy.split_runs  # (and takes two steps at a split: `split_runs`)
        with np.errstate(all="ignore"):
            while self.groups or self.asleep:
                if deadline is not None or heartbeat is not None:
                    now = time.monotonic()
                    if deadline is not None and now > deadline:
                        self._raise_time_limit()
                    if heartbeat is not None and now > next_beat:
                        heartbeat(self._latest_cycle(), sum(lanes.count for _, lanes in self._places()))
                        next_beat = now + HEARTBEAT_SECONDS
                runnable = [pc for pc, g in self.groups.items() if not g.blocked]
                if not runnable:
                    self._raise_stopped()  # (PEs waiting on those stopped at a failure or the limit)
                    self._raise_deadlock()
                pc, group = self._next_group(runnable)  # the lowest pc, but global loads in cycle order
                self._step_time_bound()
                self.running = group.lanes  # out of the tables while it runs: a failed launch's state shows it
                for continuation in self._run_group(pc, group):
                    self._continue(*continuation)
                self.running = None
        self._raise_stopped()
        self._settle_bandwidth(halted=True)  # (every PE halted: its stores' share of the bandwidth is known)
        self._confirm_exact_times()
        self._accumulate()
        if self.tracer:
            self.tracer.end_wave(self.start, self.cycle)
        self._drop_run_state()
        return self.cycle

    def _hand_on(self, continuations: list[tuple]) -> tuple[int, _Group] | None:
        """The scheduler's step after a NumPy run, taken by the run itself (`Strategy.runs_on`): the
        continuations join the groups, and the group the scheduler would run next, when it is the lowest
        runnable pc with nothing for `_next_group` to decide (no global load held, no recorded loads, no
        bandwidth to settle) and `_wants_compiled` leaves it to NumPy, is taken out as `run` takes it: (pc,
        group) to run on; else None (the scheduler goes on, in the state it would have been in)."""
        for continuation in continuations:
            self._continue(*continuation)
        groups = self.groups
        runnable = [pc for pc, g in groups.items() if not g.blocked]
        if not runnable:
            return None
        pc = min(runnable)
        group = groups[pc]
        if not self._hands_on(pc, group.lanes):
            return None
        del groups[pc]
        self._take_on(group.lanes)
        return pc, group

    def _hands_on(self, pc: int, lanes: Lanes) -> bool:
        """`_hand_on`'s tests of its pick (`lanes` at `pc`, the lowest runnable pc; also `split_runs`'):
        True where it runs it on."""
        ledger = self.bandwidth
        if self._recorded_pcs or (ledger is not None and ledger.entries > ledger.settle_at) or pc in self.held_loads:
            return False
        asked = self.compiled_last_run
        if self._wants_compiled(pc, lanes):
            self.compiled_last_run = asked  # (the scheduler asks again, as it would have asked first)
            return False
        return True

    def _take_on(self, lanes: Lanes) -> None:
        """`_hand_on`'s books as it takes a group out to run on."""
        self._leasts = {}  # (as `_next_group`)
        self._step_time_bound()
        self.running = lanes

    def _continue(self, next_pc: int, lanes: Lanes, blocked: bool, *owed) -> None:
        """A continuation of a group's run joins the scheduler's groups."""
        if blocked:  # the send/recv at next_pc will execute again: count it once, when it completes
            self._uncount(next_pc, lanes)
        self._add_group(next_pc, lanes, blocked, *owed)

    def _uncount(self, pc: int, lanes: Lanes) -> None:
        """Take back the count of the instruction at `pc` from `lanes`, which will execute it again."""
        self.totals.pc_counts[pc] -= lanes.count
        lanes.add(self._counts, -1)

    def _add_group(self, pc: int, lanes: Lanes, blocked: bool = False, cost: float = 0.0, count: int = 0) -> None:
        if lanes.count == 0:
            return
        if blocked and pc in self.waits_on and self.strategy.event_wakeup:  # (blocked lanes owe nothing)
            self._sleep(pc, lanes)
            return
        other = self.groups.get(pc)
        if other is None:
            self.groups[pc] = _Group(lanes, blocked, cost, count)
            return
        if (other.cost, other.count) != (cost, count):  # they owe different amounts
            if blocked or other.blocked or not self.lockstep_owing:  # settle both first
                self._flush(other.lanes, other.cost, other.count)
                self._flush(lanes, cost, count)
                cost, count = 0.0, 0
            elif lanes.count <= other.lanes.count:  # the smaller group settles the difference (perhaps
                # negative: exact, whole numbers) and the merged group owes what the larger one did, so that
                # a stencil's large group is not written back at every merge with its edges
                self._flush(lanes, cost - other.cost, count - other.count)
                cost, count = other.cost, other.count
            else:
                self._flush(other.lanes, other.cost - cost, other.count - count)
        self.groups[pc] = _Group(other.lanes.union_disjoint(lanes), blocked and other.blocked, cost, count)

    def _progress(self, fifo: Fifo, pushed: bool, owners: Lanes | np.ndarray | None,
                  woken_already: frozenset[int] = frozenset()) -> None:
        """Words were pushed into (`pushed`) or popped from `fifo` at the PEs `owners` (sorted): unblock
        what may now progress. Groups at a barrier wait for its release, never for FIFOs; lanes asleep at the
        pcs `woken_already` were woken by whoever moved the words, if they could progress (the interpreter).

        With event wake-up, only the sleeping lanes that wait on this FIFO for this kind of change and
        own (receive) or send to (send) one of those PEs: every lane that can now progress, and the
        scheduler still runs groups in the reference's order. Otherwise every blocked group."""
        if not self.strategy.event_wakeup:
            for pc, group in self.groups.items():
                if pc not in self.barrier_pcs:
                    group.blocked = False
            return
        if not self.asleep:  # (nothing to wake: bicgstab7's halos and interpreter calls, 3,519 of 3,520 a launch)
            return
        if isinstance(owners, Lanes):
            owners = owners.idx  # None for large groups: then wake every lane waiting on this FIFO
        waiters = self._waiters(fifo, pushed)
        for pc, sleeping in list(self.asleep.items()):
            if pc not in waiters or pc in woken_already:
                continue
            fifo_key, wants_push, offset = self.waits_on[pc]
            if wants_push != pushed or self.fifos.get(fifo_key) is not fifo:
                if pc not in self.waits_also:
                    continue
                fifo_key, wants_push, offset = self.waits_also[pc]
                if wants_push != pushed or self.fifos.get(fifo_key) is not fifo:
                    continue
            if offset is None and self.strategy.routed_wake_room:  # (a routed send: its receivers' room)
                picked = self._senders_with_room(pc, sleeping, fifo)
                if picked is not None and not len(picked):
                    continue
            elif owners is None or offset is None or self._woke_all_before(pc, sleeping, owners, offset):
                picked = None  # (every lane asleep there; the second: a panel's next step)
            else:
                picked = sleeping.pick(owners - offset)
                if not len(picked):
                    continue
                if len(picked) == sleeping.count:  # all of them (a multicast's receivers): no new sets
                    picked = None
                    if self.strategy.lockstep and isinstance(owners, np.ndarray):
                        self.woke_all[pc] = (sleeping, owners, offset)
            woken = self._wake(pc, picked)
            self._unpark(pc, woken)
            self._add_group(pc, woken)

    def _woke_all_before(self, pc: int, sleeping: Lanes, owners: np.ndarray, offset: int) -> bool:
        """Whether the last wake-up at `pc` that woke every sleeping lane had these very objects."""
        kept = self.woke_all.get(pc)
        return kept is not None and kept[0] is sleeping and kept[1] is owners and kept[2] == offset

    def _places(self) -> list[tuple[int, Lanes]]:
        """(pc, lanes) of every PE that has not halted, one entry per pc, by pc."""
        places = {pc: group.lanes for pc, group in self.groups.items()}
        for pc, lanes in [*self.asleep.items(), *self.over_limit.items(), *self.faulted.items()]:
            places[pc] = lanes if pc not in places else places[pc].union(lanes)
        return sorted(places.items())

    def _run_group(self, pc: int, group: _Group) -> list[tuple]:
        """Run one group along straight-line code and branches until a timing instruction or a merge
        (small and divergent groups in the compiled interpreter, `CompiledMixin`, when it runs `pc`).

        Returns (pc, lanes, blocked) or (pc, lanes, blocked, owed cost, owed count) continuations."""
        if self._wants_compiled(pc, group.lanes):
            return self._run_compiled(pc, group)
        return self._run_numpy(pc, group.lanes, group.cost, group.count)

    def _run_numpy(self, pc: int, lanes: Lanes, pending_cost: float = 0.0, pending_count: int = 0,
                   one_step: bool = False) -> list[tuple]:
        """`_run_group` with one NumPy call per instruction; `one_step`: return after one instruction.
        A large dense group's consecutive vector instructions may run together (`sim.vector_batch`)."""
        outer = self.vector_batch  # (a run inside another's instruction: the outer one's queue runs first)
        if outer is not None:
            outer.flush()
        outer_rank1 = self.rank1_queue
        if outer_rank1 is not None:
            outer_rank1.flush()
        try:
            out = self._run_lanes(pc, lanes, pending_cost, pending_count, one_step, self._run_queues(lanes, one_step))
            while self.runs_on and not one_step:  # (the scheduler's next group, run on here: `_hand_on`)
                self._flush_queues()
                picked = self._hand_on(out)
                if picked is None:
                    return []
                pc, group = picked
                out = self._run_lanes(pc, group.lanes, group.cost, group.count, False,
                                      self._run_queues(group.lanes, False))
            return out
        finally:  # (also before an error leaves: the failed launch's state has every issued instruction run)
            self._flush_queues()
            self.vector_batch, self.rank1_queue = outer, outer_rank1

    def _run_queues(self, lanes: Lanes, one_step: bool) -> VectorBatch | None:
        """The vector and rank-1 queues of a run of `lanes` (`vector_batch`, `rank1_queue`); the first."""
        batch = self.vector_batch = self._vector_batch(lanes, one_step)
        queues = (self.has_vgers and self.strategy.fused_rank1 and self.batches_vectors and not one_step
                  and self.tracer is None)
        self.rank1_queue = Rank1Queue(lanes, self.fsram, self.rank1_work, self._charge_deferred) if queues else None
        return batch

    def _flush_queues(self) -> None:
        """Run what a run's queues hold, and forget them."""
        if self.vector_batch is not None:
            self.vector_batch.flush()
        if self.rank1_queue is not None:
            self.rank1_queue.flush()
        self.vector_batch = self.rank1_queue = None

    def _vector_batch(self, lanes: Lanes, one_step: bool) -> VectorBatch | None:
        """A queue for the vector instructions of a run of `lanes`, where they may be batched."""
        if (lanes.count >= vector_batch.BATCH_LANES and self.strategy.fused_vectors and self.batches_vectors
                and not one_step and self.tracer is None and lanes.is_dense and lanes.window is None):
            return VectorBatch(lanes, self.sram)
        return None

    def _run_lanes(self, pc: int, lanes: Lanes, pending_cost: float, pending_count: int, one_step: bool,
                   batch: VectorBatch | None) -> list[tuple]:
        counts = self.totals.pc_counts
        previous = None  # the instruction this run executed last
        rank1 = self.rank1_queue
        blocks = self.register_blocks if not one_step and RegisterBlocks.applies() else None
        updates = rank1 is not None and rank1.lanes is lanes and self.strategy.compiled_descriptors
        # (a converged group stops at a chain collective's split, which the interpreter runs: `_wants_compiled`)
        chains = self.compiled_chains if lanes.idx is None and lanes.mask is None else ()
        while True:
            if batch is not None and (pc not in self.ops or self.ops[pc][0].op not in BATCH_PASSES):
                batch.flush()  # (the next instruction may read or write SRAM the queued ones write)
            if (rank1 is not None and (rank1.count or rank1.cycles)
                    and (pc not in self.ops or self.ops[pc][0].op not in RANK1_PASSES)):
                rank1.flush()  # (likewise)
            if pc not in self.ops:
                self._flush(lanes, pending_cost, pending_count)
                if pc == len(self.program.code):  # falling off the end halts, like returning
                    return self._halt(lanes)
                if pc - 1 in self.ops and self.ops[pc - 1][1] > pc:  # (a numeric target in assembly)
                    where = f"into the middle of the {self.ops[pc - 1][0].op} at pc {pc - 1} (its extension word)"
                else:
                    size = len(self.program.code)
                    where = f"outside the program ({size} word{'' if size == 1 else 's'})"
                raise LaunchError(f"{self.program.name}: jump to pc {pc}, {where}{self._where(lanes)}", pc=pc)
            run = blocks.at(pc, updates) if blocks is not None else None
            ran = run and blocks.execute(self, run, lanes, batch, rank1 if updates else None)
            if ran:  # (the loop's books for each: its count (counted), its cost owed in order, `previous`)
                for cost in run.costs[:ran]:
                    pending_cost += cost
                pending_count += ran
                previous = run.instrs[ran - 1]
                pc = run.pcs[ran] if ran < len(run.pcs) else run.after
                if pc in self.groups or pc in self.held_loads or pc in chains:
                    return [(pc, lanes, False, pending_cost, pending_count)]
                continue
            instr, next_pc, cost, plain = self.ops[pc]
            counts[pc] += lanes.count
            if plain is None and instr.op in ROUTE_OPS:  # (only under racecheck's route watch, `_compile`): a
                # plain instruction, its lanes' owed issue cycles unsettled (cycles bit for bit as without
                # racecheck), but told them, so that the change's cycle is exact (`racecheck_routes`)
                plain = functools.partial(self._watched_route, pc, instr, owed=pending_cost)
            if plain is not None:
                try:
                    plain(lanes)
                except (MemoryAccessError, KernelZeroDivisionError, KernelValueError, RouteError) as exc:
                    return self._stop_at_fault(self._locate(exc, pc), pc, lanes, pending_cost, pending_count)
                pending_cost += cost
                pending_count += 1
                previous = instr
                pc = next_pc
                # Another group waits here: merge with it. At a global load that another PE's store could
                # precede, the scheduler decides when these PEs may load (`_next_group`): return to it.
                if pc in self.groups or one_step or pc in self.held_loads or pc in chains:
                    return [(pc, lanes, False, pending_cost, pending_count)]
                continue
            if instr.op in ("bz", "bnz", "jmp"):
                pending_cost += cost
                pending_count += 1
                if instr.target <= pc:
                    lanes = self._stop_past_cycle_limit(lanes, pc, pending_cost, pending_count)
                    if lanes.count == 0:
                        return []
                if instr.op == "jmp":
                    return [(instr.target, lanes, False, pending_cost, pending_count)]
                taken, fall = self._branch_split(pc, instr, lanes, previous)
                picked = self._run_split(instr.target, taken, next_pc, fall, pending_cost, pending_count) if (
                    self.runs_split and not one_step and not self.groups and instr.target > next_pc and taken.count
                    and fall.count) else None  # (the scheduler's next two steps, taken here: `split_runs`)
                if type(picked) is list:
                    return picked
                if picked is not None:
                    pc, group = picked  # (the group met again at the target runs on, as `_run_numpy`'s loop would)
                    lanes, pending_cost, pending_count, previous = group.lanes, group.cost, group.count, None
                    batch, rank1 = self._run_queues(lanes, False), self.rank1_queue
                    updates = rank1 is not None and rank1.lanes is lanes and self.strategy.compiled_descriptors
                    chains = self.compiled_chains if lanes.idx is None and lanes.mask is None else ()
                    continue
                return [(instr.target, taken, False, pending_cost, pending_count),
                        (next_pc, fall, False, pending_cost, pending_count)]
            if instr.op in ("sendv", "recvv") and self.lockstep_owing and self._whole_owing(instr, pending_cost + cost,
                                                                                             lanes):
                return [(next_pc, lanes, False, 0.0, pending_count + 1)]  # (its clocks written: its count owed)
            owing = self.lockstep_owing and instr.op in ("send", "recv") and instr.dir != RAMP
            if owing:
                issue = pending_cost + cost
                self.transfer_owes = 0.0
            elif instr.op == "bar" and self.lockstep_owing:  # (`_barrier` settles them, in its arithmetic if it can)
                self.barrier_owes = (pending_cost, pending_count + 1)
                issue = cost
            else:
                self._flush(lanes, pending_cost, pending_count + 1)
                issue = cost
            try:
                out = self._control(pc, instr, next_pc, issue, lanes)
            except (MemoryAccessError, MeshBoundaryError, KernelZeroDivisionError, KernelValueError, RouteError) as exc:
                # (raised before a send or receive moved anything: an owing group still owes what it owed)
                return self._stop_at_fault(self._locate(exc, pc), pc, lanes, *((pending_cost, pending_count, False)
                                                                                  if owing else (0.0, 0, True)))
            except WordTypeError as exc:  # (located already: it names the sender's line too)
                if owing:  # found after the receive ran: its clocks are past it, the owed issue cycles included
                    self._settle_transfer(lanes, pending_count + 1)
                return self._stop_at_fault(exc, pc, lanes, 0.0, 0, True)
            finally:
                owed, self.transfer_owes, self.barrier_owes = self.transfer_owes, None, None
            if not owing:
                return out
            # A send or receive took the issue cycles its lanes owed as part of its own (exact: whole
            # numbers); the lanes that complete it go on owing its count (and the cycles it left owed, `owed`:
            # then every lane completed it), those that block settle both.
            settled = []
            for next_place, part, blocked, *_ in out:
                if blocked:
                    self._flush(part, pending_cost, pending_count + 1)
                    settled.append((next_place, part, True))
                else:
                    settled.append((next_place, part, False, owed, pending_count + 1))
            return settled

    def _settle_transfer(self, lanes: Lanes, count: int) -> None:
        """Before a failure found after a send or receive that took its lanes' owed issue cycles ran (a mistyped
        word): write the clock advance it left owed (`transfer_owes`) and the `count` instructions its lanes owe
        (its own included), so that their books are as if the lanes had settled before it (the failure's
        cycle is then their clock, as without owing: adding the issue cycles again once counted them twice)."""
        self._flush(lanes, self.transfer_owes or 0.0, count)
        self.transfer_owes = 0.0

    def _watched_route(self, pc: int, instr: Instr, lanes: Lanes, owed: float = 0.0) -> None:
        """A `route` under racecheck's route watch, its lanes owing `owed` issue cycles before it."""
        self._route(instr, lanes, pc, owed)

    def _flush(self, lanes: Lanes, cost: float, count: int) -> None:
        if cost:
            lanes.add(self.cycle, cost)
        if count:
            lanes.add(self._counts, count)

    def _control(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        op = ins.op
        if op == "halt":
            lanes.add(self.cycle, cost)
            return self._halt(lanes)
        if op in ("bar", "gbar"):
            return self._barrier(pc, lanes, cost, grid=op == "gbar")
        if op in ("send", "sendv"):
            if ins.dir != RAMP and self.background:
                self._wait_for_link(ins, cost, lanes)  # (the link may still carry a background send's words)
            return self._typed_send(pc, ins, next_pc, cost, lanes)
        if op in ("recv", "recvv"):
            return self._typed_recv(pc, ins, next_pc, cost, lanes)
        if op in ("recva", "senda"):
            return self._background(pc, ins, next_pc, cost, lanes)
        if op in STREAM_OPS:
            if ins.d != NOWHERE and self.background:
                self._wait_for_link(dataclasses.replace(ins, op="send", dir=ins.d), cost, lanes)  # (its output link)
            return self._stream_op(pc, ins, next_pc, cost, lanes)
        if op in ("rwait", "swait"):
            return self._wait_background(ins, next_pc, cost, lanes)
        if op == "print":
            self._print(ins, lanes)  # stamped with the cycle at which it issues
            lanes.add(self.cycle, cost)
            return [(next_pc, lanes, False)]
        return self._global(ins, next_pc, cost, lanes)

    def _latest_cycle(self) -> float:
        """The latest cycle any running PE has reached, counting issue cycles not yet written back."""
        owed = {pc: group.cost for pc, group in self.groups.items()}
        return max((lanes.max(lanes.get(self.cycle)) + owed.get(pc, 0.0) for pc, lanes in self._places()),
                   default=0.0)
