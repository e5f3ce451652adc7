"""The optimisation pipeline: a named list of passes over the IR, then the verifier.

`PASSES` is the order they run in; `run_passes` applies them and logs the IR after each (`PassLog`, made
on first use), which `kernel.inspect_ir(after="licm")` prints (`wafersim.compiler.PASS_NAMES` lists the names). Each pass
is a function `(fn, undefined)` that rewrites `fn.ops` in place; `undefined` holds the registers the
front end left possibly-unwritten on some path (reads of those must keep reading as they did).

The verifier runs once, after the last pass, unless `VERIFY_EACH_PASS` is set (then after every pass that
changed the IR, so that a broken invariant is pinned on the pass that broke it): the environment variable
`WAFERSIM_VERIFY_PASSES=1` sets it at import, and the test suite sets it (tests/conftest.py). Verifying
after each of the ~25 passes took a quarter to a third of the compile time of the benchmarks' kernels
(docs/compiler.md, "Compile time and the kernel cache"), paid by a process's first launch.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from ...envvars import env_flag
from ...errors import CompileError
from ..ir import IRFunction, Op, Phi, VReg
from .bounds import eliminate_range_checks
from .cfg import CFG
from .cleanup import (coalesce_moves, copy_propagate, drop_jumps_to_next, eliminate_dead_code, eliminate_dead_writes,
                      remove_unused_labels)
from .checks import drop_repeated_checks
from .cse import eliminate_common_subexpressions
from .layout import place_then_before_join
from .licm import hoist_loop_invariants
from .ssa import into_ssa, out_of_ssa
from .peephole import fold_address_offsets, propagate_constants, use_immediate_forms
from .strength import reduce_induction_variables
from .unroll import unroll_counted_loops
from .verify import undefined_reads, verify

Pass = Callable[[IRFunction, frozenset], None]

#: Verify the IR after every pass (else once, after the last): for debugging the compiler, and in the tests.
VERIFY_EACH_PASS: bool = env_flag("WAFERSIM_VERIFY_PASSES", False, at_import=True)


def _plain(func: Callable[[IRFunction], None]) -> Pass:
    def run(fn: IRFunction, undefined: frozenset) -> None:
        func(fn)
    run.__doc__ = func.__doc__
    run.__wrapped__ = func  # type: ignore[attr-defined]  # (what the pass is: the kernel cache's key names it)
    return run


#: (name, pass), in the order they run. Names are what `inspect_ir(after=...)` takes.
PASSES: list[tuple[str, Pass]] = [
    ("jumps", _plain(drop_jumps_to_next)),
    ("labels", _plain(remove_unused_labels)),
    ("copyprop", copy_propagate),
    ("coalesce", _plain(coalesce_moves)),
    ("ssa", into_ssa),  # from here to `unssa`: SSA form
    ("cse", eliminate_common_subexpressions),
    ("sccp", _plain(propagate_constants)),
    ("immediates", use_immediate_forms),
    ("fold", _plain(fold_address_offsets)),
    ("cse2", eliminate_common_subexpressions),
    ("dce", _plain(eliminate_dead_code)),
    ("licm", hoist_loop_invariants),
    ("cse3", eliminate_common_subexpressions),
    ("unssa", out_of_ssa),
    ("strength", reduce_induction_variables),
    ("bounds", eliminate_range_checks),
    ("unroll", unroll_counted_loops),
    ("constprop", _plain(propagate_constants)),
    ("licm2", hoist_loop_invariants),
    ("cse4", eliminate_common_subexpressions),
    ("copyprop2", copy_propagate),
    ("fold2", _plain(fold_address_offsets)),
    ("checks", _plain(drop_repeated_checks)),
    ("dce2", _plain(eliminate_dead_code)),
    ("deadwrites", _plain(eliminate_dead_writes)),
    ("layout", _plain(place_then_before_join)),
]
PASS_NAMES: tuple[str, ...] = tuple(name for name, _ in PASSES)
#: The clean-up the compiler did before the optimisation passes existed: for before/after measurements.
BASELINE_PASSES: list[tuple[str, Pass]] = [(name, run) for name, run in PASSES if name in ("jumps", "copyprop", "dce")]
#: The pipeline as it was before the SSA passes: the same passes, on the front end's registers (before/after
#: measurements in bench/compiler.py).
PRE_SSA_PASSES: list[tuple[str, Pass]] = [(name, run) for name, run in PASSES if name not in ("ssa", "sccp", "unssa")]
#: The passes that run on SSA form (between `ssa` and `unssa`).
SSA_PASSES: tuple[str, ...] = PASS_NAMES[PASS_NAMES.index("ssa") + 1:PASS_NAMES.index("unssa")]


class PassLog:
    """The IR before the passes and after each one, by pass name (copies, printed on demand).

    Copying the IR after each of the ~25 passes took about 8% of a compile, for `inspect_ir(after=...)`,
    which few compiles are asked. `run_passes` copies only the IR the passes start from and the one they
    end with; the first use of `snapshots` runs the same passes again on a copy of the start and keeps
    the IR after each (the passes are deterministic: that run must end with the IR the compile ended
    with, else it is an internal compiler error)."""

    def __init__(self, before: str, snapshots: dict[str, IRFunction] | None = None) -> None:
        self.before = before
        self._snapshots: dict[str, IRFunction] | None = {} if snapshots is None else snapshots
        self._replay: tuple | None = None  # (the IR the passes started from, the passes, the IR they ended with)

    @property
    def snapshots(self) -> dict[str, IRFunction]:
        """The IR after each pass, by name, in the order they ran."""
        if self._snapshots is None:
            start, chosen, last = self._replay
            fn = _copy_function(start)
            undefined: frozenset[VReg] = frozenset(undefined_reads(fn))
            snapshots: dict[str, IRFunction] = {}
            for name, run in chosen[:-1]:
                run(fn, undefined)
                snapshots[name] = _snapshot(fn)
            run_last = chosen[-1][1]
            run_last(fn, undefined)
            if fn.text() != last.text():
                raise CompileError(f"internal compiler error in {fn.name}: running its passes again for the IR "
                                   f"after each one ended with other IR than the compile did (a pass is not "
                                   f"deterministic)")
            snapshots[chosen[-1][0]] = last
            self._snapshots, self._replay = snapshots, None
        return self._snapshots

    def text_after(self, name: str) -> str:
        if name not in self.snapshots:
            raise KeyError(f"no pass named {name!r}; the passes, in order: {', '.join(self.snapshots)}")
        return self.snapshots[name].text()

    def __getstate__(self) -> dict:
        # the passes (closures among them) are not pickled: the snapshots are, made first
        return {"before": self.before, "_snapshots": self.snapshots, "_replay": None}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PassLog) and (self.before, self.snapshots) == (other.before, other.snapshots)

    def __repr__(self) -> str:
        return f"PassLog(before=<{self.before.count(chr(10))} lines>, passes={list(self.snapshots)})"


def _snapshot(fn: IRFunction) -> IRFunction:
    """A copy of `fn` with its own Op objects (registers and labels are shared: passes never change those)."""
    ops = []
    for op in fn.ops:
        if isinstance(op, Op):
            twin = object.__new__(type(op))  # a field-for-field copy, several times cheaper than copy.copy
            twin.__dict__.update(op.__dict__)
            op = twin
        ops.append(op)
    return dataclasses.replace(fn, ops=ops)


def _copy_function(fn: IRFunction) -> IRFunction:
    """A copy of `fn` that the passes can run on without changing `fn`: its own Op objects (`_snapshot`), its
    own dictionaries, lists and sets (the passes change `ssa_origin`, `end_rebinds`, `join_names`'s inner
    dictionaries, ...), and the attributes the passes keep on it (`cfg.new_vreg`'s next register id)."""
    twin = _snapshot(fn)
    for field in dataclasses.fields(fn):
        value = getattr(twin, field.name)
        if field.name == "ops":
            continue
        if isinstance(value, dict):
            setattr(twin, field.name, {key: dict(inner) if isinstance(inner, dict) else inner
                                       for key, inner in value.items()})
        elif isinstance(value, (list, set)):
            setattr(twin, field.name, type(value)(value))
    names = {field.name for field in dataclasses.fields(fn)}
    for key, value in fn.__dict__.items():
        if key not in names and key != "_verified_cfg":
            setattr(twin, key, value)
    return twin


def _verified_state(fn: IRFunction) -> tuple:
    """All that `verify` reads of `fn`, as values to compare: the SSA facts and the ops, each by identity with
    its fields' values as they are now (a phi's incoming values copied; VRegs and labels are never changed in
    place), so that a pass that rewrote an op in place, or replaced it, compares unequal."""
    return (fn.ssa, fn.ssa_undefined,
            [(op, tuple(op.__dict__.values()), tuple(op.incoming) if isinstance(op, Phi) else None) for op in fn.ops])


def run_passes(fn: IRFunction, passes: list[tuple[str, Pass]] | None = None, check: bool = True) -> PassLog:
    """Optimise `fn` in place with `passes` (default `PASSES`), verifying the IR after the last one (after
    each one with `VERIFY_EACH_PASS`; not at all without `check`). A list that goes into SSA form (`ssa`)
    without leaving it gets `unssa` at its end."""
    log = PassLog(fn.text())
    undefined: frozenset[VReg] = frozenset(undefined_reads(fn))
    chosen = list(PASSES if passes is None else passes)  # (a copy: PASSES can be changed in place)
    if fn.ssa is False and any(run is into_ssa for _, run in chosen) and not any(run is out_of_ssa for _, run in chosen):
        chosen = [*chosen, ("unssa", out_of_ssa)]  # register allocation needs the form left
    start = _copy_function(fn) if chosen else None
    each = check and VERIFY_EACH_PASS
    verified = None
    passed = None  # with `each`: `_verified_state` of the IR verified last
    for k, (name, run) in enumerate(chosen):
        if verified is not None:  # the verifier's CFG of the ops the pass starts from (`CFG.of`)
            fn._verified_cfg = verified
        try:
            run(fn, undefined)
        finally:
            untaken = fn.__dict__.pop("_verified_cfg", None)  # (a pass that took none leaves it: stale from here)
        verified = None
        if each:
            # a pass that changed nothing leaves the IR the verifier passed after an earlier one: verifying it
            # again would find what it found then (most passes change nothing in a small kernel, where verifying
            # after each was ~28% of the compile in the tests). The next pass gets a CFG of these ops all the
            # same: the one this pass left untouched, else a new one.
            state = _verified_state(fn)
            if state != passed:
                verified = verify(fn, name, undefined)
                passed = state
            elif untaken is not None and untaken.ops is fn.ops and untaken.size == len(fn.ops):
                verified = untaken
            else:
                verified = CFG(fn)
        elif check and k == len(chosen) - 1:
            verified = verify(fn, f"{name} (the last pass; WAFERSIM_VERIFY_PASSES=1 verifies after each)", undefined)
    if chosen:  # the IR after the passes between: on demand (`PassLog.snapshots`)
        log._snapshots, log._replay = None, (start, chosen, _snapshot(fn))
    return log


__all__ = ["BASELINE_PASSES", "VERIFY_EACH_PASS", "PASSES", "PASS_NAMES", "PRE_SSA_PASSES", "SSA_PASSES", "PassLog", "run_passes", "verify"]
