"""Loop-invariant code motion: pure computations whose inputs do not change in a loop run once before it.

An instruction in a loop is hoisted to the loop's preheader when it is pure (no memory, fabric or
control effect; `ld` is excluded since the loop may store), its result register is written nowhere
else in the function (so moving the write cannot change which value a reader sees), that register is
not live into the loop header (no reader before the write), and each operand is written only outside
the loop or by an instruction hoisted already. Pure instructions of this ISA never trap (division by
zero has a defined result; the front end's zero check is a separate `chk` that stays put), so running
one speculatively, before a loop that may run zero times, is safe.

Loops are handled innermost first, so an invariant of a nest climbs as far out as its operands allow.
A loop without a single preheader block (one entering block with no other successor) is left alone.
"""
from __future__ import annotations

from ..debuginfo import is_variable
from ..debuginfo import carry_bindings
from ..ir import PURE, IRFunction, Op, VReg
from .cfg import CFG, Loop, definitions, phi_operands, rename_registers

_NOT_HOISTED = {"ld"}


def hoist_loop_invariants(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Hoist invariants out of every loop with a preheader (to a fixed point: each op moves out at most
    as many times as it is deep)."""
    while True:
        cfg = CFG.of(fn)
        # (the ops change only when a loop's invariants move, and then the CFG is built again: the loops
        # before it share one map of definitions and one set of phi operands; made for each loop, they were
        # most of this pass's time on kernels of many small loops, 89 a kernel in a bfloat16 all-reduce)
        defs, kept = definitions(fn, cfg), phi_operands(fn)
        for loop in cfg.loops():
            if _hoist_from(fn, cfg, loop, undefined, defs, kept):
                break  # the op list changed: analyse again
        else:
            return


def _hoist_from(fn: IRFunction, cfg: CFG, loop: Loop, undefined: frozenset, defs: dict[VReg, list[int]],
                kept: set[VReg]) -> bool:
    """Move the invariants of one loop to the end of its preheader; False when there are none (`defs`,
    `kept`: `definitions` and `phi_operands` of the ops as they are)."""
    pre = cfg.preheader(loop)
    if pre is None:
        return False
    live_header = cfg.live_in_of(loop.header)
    in_loop = sorted(i for b in loop.blocks for i in cfg.blocks[b])
    rw = cfg.rw  # (each op's reads and write: `op.reads()`, `op.writes()`, listed once per CFG)
    # the registers the loop writes (`defs`: the same ops'), and the ops it may hoist, in program order
    written_in_loop = {written for i in in_loop if (written := rw[i][1]) is not None}
    candidates = [i for i in in_loop
                  if isinstance(op := fn.ops[i], Op) and op.op in PURE and op.op not in _NOT_HOISTED]
    hoisted: list[int] = []
    hoisted_at: set[int] = set()  # (the same: `i in hoisted` made the fixed point quadratic in a loop's ops)
    hoisted_regs: set[VReg] = set()
    changed = True
    while changed:  # an invariant may become hoistable once the invariant it reads is
        changed = False
        for i in candidates:
            if i in hoisted_at:
                continue
            reads, written = rw[i]
            if written is None or len(defs[written]) != 1 or written in live_header or written in undefined:
                continue
            if written in kept:
                continue
            if all(r in hoisted_regs or r not in written_in_loop for r in reads):
                hoisted.append(i)
                hoisted_at.add(i)
                hoisted_regs.add(written)
                changed = True
    if not hoisted:
        return False
    at = cfg.insertion_point(pre)
    moved = [fn.ops[i] for i in hoisted]  # discovery order: every operand before its readers
    # the debugger: the variable is assigned where the source assigns it (renamed below in SSA form, the
    # hoisted value is no longer the variable; out of it, it stays in its one register)
    carry_bindings(fn, set(hoisted), {} if fn.ssa else {i: fn.ops[i].writes() for i in hoisted})
    for op in moved:
        op.rebinds = ()
    if fn.ssa:  # a hoisted version of a variable (`acc = 0.0` in the loop) is a value, no longer the variable
        rename_registers(fn, {op.d: op.d.hint + "_" for op in moved if is_variable(op.d.hint)})
    drop = set(hoisted)
    fn.ops = [op for i, op in enumerate(fn.ops[:at]) if i not in drop] + moved + \
             [op for i, op in enumerate(fn.ops[at:], start=at) if i not in drop]
    return True
