"""A converged group's run through a forward branch that splits it, taken on by the run (`Strategy.runs_on`).

A halo exchange's `if has_neighbor(d): send(...)` splits the block at each of its branches: the edge PEs jump
over the transfer, the others run it and meet them again past it. The scheduler then took two steps a branch (the
part that runs the transfer, then the group they make again: bicgstab7's ~5,100 of ~5,500 NumPy runs a launch),
each through `WaveSim._run_numpy`'s loop and `WaveSim._hand_on`. Where no other group waits anywhere and the part
that falls through has only a plain transfer to run (an `li`, then a `sendv` or `recvv`), the run takes those two
steps itself (`SplitRunsMixin._run_split`), making the very choices, in the same order, that the scheduler's
hand-on would: the lowest pc first (the part that falls through, the jumping part waiting at the target), then
the group met again at the target; whatever those steps find otherwise (another group woken, a global load held,
a group the interpreter wants) goes back to the scheduler in the state it would have been in. (Other code after
a split, heat's and Life's scalar transfers among it, stays with the loop: taking it on measured level there.)
"""
from __future__ import annotations

from ..errors import KernelValueError, KernelZeroDivisionError, MemoryAccessError, RouteError
from .groups import Group
from .lanes import Lanes
from .register_blocks import SHORTEST
from .vector_batch import REGISTER_ONLY


class SplitRunsMixin:
    """`WaveSim._run_lanes`' two steps after a branch split its converged group, with no other group waiting."""

    #: `_transfer_path` by (pc, target), made on first use
    _transfer_paths: dict[tuple[int, int], list[tuple] | None] | None = None

    def _run_split(self, target: int, taken: Lanes, fall_pc: int, fall: Lanes, cost: float,
                   count: int) -> tuple[int, Group] | list[tuple] | None:
        """The branch sent `taken` to `target` and `fall` on to `fall_pc` (< target), both owing (`cost`, `count`),
        with no group waiting anywhere (`groups` empty): the scheduler's hand-on would run `fall` next, then
        (where it came to `target` alone) the group it makes again with `taken` there. Where `fall`'s code is a
        plain transfer (`_transfer_path`), runs it; returns (pc, group) to run on as the hand-on would take it,
        or continuations for `WaveSim._run_numpy`'s loop to hand on (the state is then as after the first run's
        return). None (nothing done) where the code is other, or the run would stop in it (a held load, a chain
        entry): the branch's continuations go back to the loop as ever."""
        path = self._transfer_path(fall_pc, target)
        if path is None or not self.lockstep_owing:
            return None
        held = self.held_loads
        chains = self.compiled_chains if fall.idx is None and fall.mask is None else ()
        if (held or chains) and any(at in held or at in chains for at, _, _, _ in path):
            return None  # (`_run_lanes` stops there)
        self._flush_queues()  # (`_run_numpy` before its hand-on)
        groups = self.groups
        groups[target] = Group(taken, False, cost, count)  # (`_add_group`: nothing there, neither blocked)
        if not self._hands_on(fall_pc, fall):
            groups[fall_pc] = Group(fall, False, cost, count)
            return []
        self._take_on(fall)
        out = self._run_transfer(path, fall, cost, count, target)
        self._flush_queues()
        if len(out) != 1 or len(groups) != 1 or out[0][0] != target or out[0][2]:
            return out  # (something else happened: the loop hands these on)
        self._continue(*out[0])  # (merges with the part at the target: `_add_group`'s settling of what they owe)
        if not self._hands_on(target, groups[target].lanes):
            return []
        group = groups.pop(target)
        self._take_on(group.lanes)
        return target, group

    def _run_transfer(self, path: list[tuple], lanes: Lanes, cost: float, count: int, target: int) -> list[tuple]:
        """`_run_lanes`' run of `lanes` (owing `cost`, `count`; only a group at `target` waiting) along `path`
        (`_transfer_path`: a register instruction too few for a register block, a transfer's address, and the
        `sendv` or `recvv` whose next pc is `target`), taken as that run takes it: the instruction, then the
        transfer whole in one call (`_whole_owing`; else `_run_lanes` from the transfer); its continuations."""
        counts = self.totals.pc_counts
        *registers, (at, transfer, _, transfer_cost) = path
        for register_pc, _, plain, register_cost in registers:
            counts[register_pc] += lanes.count
            try:
                plain(lanes)
            except (MemoryAccessError, KernelZeroDivisionError, KernelValueError, RouteError) as exc:  # (as there)
                return self._stop_at_fault(self._locate(exc, register_pc), register_pc, lanes, cost, count)
            cost += register_cost
            count += 1
        if not self._whole_owing(transfer, cost + transfer_cost, lanes):
            return self._run_lanes(at, lanes, cost, count, False, self._run_queues(lanes, False))
        counts[at] += lanes.count
        return [(target, lanes, False, 0.0, count + 1)]  # (its clocks written: its count owed)

    def _transfer_path(self, pc: int, target: int) -> list[tuple] | None:
        """[(pc, instruction, plain executor, cost)] of the register instructions from `pc` on (fewer than a
        register block's `SHORTEST`: `_run_lanes` runs them one by one too) and the `sendv` / `recvv` after them
        whose next pc is `target`; None where the code from `pc` is other. Kept by (pc, target)."""
        paths = self._transfer_paths
        if paths is None:
            paths = self._transfer_paths = {}
        path = paths.get((pc, target), False)
        if path is not False:
            return path
        path, at = [], pc
        while at in self.ops and len(path) < SHORTEST:
            instr, next_pc, cost, plain = self.ops[at]
            if instr.op in ("sendv", "recvv") and next_pc == target:
                paths[pc, target] = path + [(at, instr, None, cost)]
                return paths[pc, target]
            if instr.op not in REGISTER_ONLY or plain is None or next_pc >= target:
                break
            path.append((at, instr, plain, cost))
            at = next_pc
        paths[pc, target] = None
        return None
