"""Full unrolling of short counted loops: `for i in range(a, b, s)` with constant a, b, s and few trips.

A PE pays one cycle per instruction, so the test, branch and counter of a loop that moves a handful of
words are a large share of its cost; unrolled, the counter's values are constants that constant
propagation and address folding turn into immediates.

Only loops of exactly the front end's shape are unrolled (anything else is left alone): the entering
block ends ``li i, a; ...; jmp test``; the body follows physically, its last block steps ``addi i, i, s``
(s > 0) and falls into the header ``test: slt[i] c, i, b; bnz c, top``; no branch but the header's goes
to ``top`` or ``test``; the loop contains no other loop; `i` is written only by that `li` and that step;
and trips x body length stay within `MAX_TRIPS` and `MAX_UNROLLED_OPS`; the counter's step past the last
trip must stay within int32 (a `while i < b: i += s` near the bound wraps to a negative counter, which
passes the test: that loop goes on, as NumPy's int32 would). The copies run in order with
their labels renamed, and the compare runs once at the end so `c` ends as the loop left it.
"""
from __future__ import annotations

import copy
import dataclasses

from ..ir import BRANCHES, IRFunction, Label, Op, VReg
from ..values import wrap_int32
from .cfg import CFG, Loop, constant_of, definitions

MAX_TRIPS = 16
INT32_MAX = 2**31 - 1
MAX_UNROLLED_OPS = 192  # beyond this, copies add register pressure (spills) faster than they save tests


def unroll_counted_loops(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Unroll every loop of the recognised shape (innermost ones; repeated until none is left)."""
    serial = 0
    while True:
        cfg = CFG.of(fn)
        for loop in cfg.loops():
            plan = _plan(fn, cfg, loop, undefined)
            if plan is not None:
                serial += 1
                _apply(fn, plan, serial)
                break
            if _pull_in_edge_blocks(fn, cfg, loop, undefined):
                break  # (now of the shape: unrolled on the next round)
        else:
            return


def _pull_in_edge_blocks(fn: IRFunction, cfg: CFG, loop: Loop, undefined: frozenset) -> bool:
    """Make a loop contiguous again where leaving SSA gave a branch's edge copies a block of their own at
    the function's end (``bz c, J_from_; ...; J_from_: mov ...; jmp J``, J in the loop): the copies move
    before the branch, which then goes to J, provided the branch's other way out overwrites them unread.
    That costs the other path the copies (the block saved a jump on this one), so it is done only where
    the loop then unrolls; True when it was."""
    ops = fn.ops
    header = cfg.blocks[loop.header]
    stray = sorted(k for k in loop.blocks if cfg.blocks[k][0] > header[-1])
    if not stray:
        return False
    live = cfg.live_in()
    moves: dict[int, list] = {}  # index of the branch -> the copies to run before it
    retarget: dict[int, Label] = {}
    for k in stray:
        block = cfg.blocks[k]
        label, body, last = ops[block[0]], [ops[i] for i in block[1:-1]], ops[block[-1]]
        if not (isinstance(label, Label) and isinstance(last, Op) and last.op == "jmp" and len(cfg.pred[k]) == 1
                and body and all(isinstance(op, Op) and op.op == "mov" for op in body)):
            return False
        p = cfg.pred[k][0]
        branch_at = cfg.blocks[p][-1]
        branch = ops[branch_at]
        others = [o for o in cfg.succ[p] if o != k]
        written = {op.d for op in body}
        if not (isinstance(branch, Op) and branch.op in ("bz", "bnz") and branch.target is label and len(others) == 1
                and p in loop.blocks and not written & set(branch.reads()) and not written & live[others[0]]
                and not written & undefined):
            return False
        moves[branch_at] = [copy.copy(op) for op in body]
        retarget[branch_at] = last.target
    trial: list = []
    dropped = {i for k in stray for i in cfg.blocks[k]}
    for i, op in enumerate(ops):
        if i in dropped:
            continue
        if i in moves:
            trial += moves[i]
            op = dataclasses.replace(op, target=retarget[i])
        trial.append(op)
    twin = copy.copy(fn)
    twin.ops = trial
    twin_cfg = CFG(twin)
    top = ops[header[0]]
    twin_loop = next((l for l in twin_cfg.loops() if twin.ops[twin_cfg.blocks[l.header][0]] is top), None)
    if twin_loop is None or _plan(twin, twin_cfg, twin_loop, undefined) is None:
        return False
    fn.ops = trial
    return True


def _body_start(fn: IRFunction, cfg: CFG, loop: Loop, branch: Op) -> tuple[int, set[int]] | None:
    """(the position of the body's label, the body's positions) for a loop whose header ends in `branch` back
    to the body, laid out as one piece entered by a jump to the header's label that nothing else branches to;
    None for any other layout (both loop shapes share it)."""
    ops = fn.ops
    header = cfg.blocks[loop.header]
    test_label, top = ops[header[0]], branch.target
    start = next((k for k, op in enumerate(ops) if op is top), None)
    if start is None or start == 0 or start >= header[0]:
        return None
    body_indices = set(range(start, header[0]))
    if {i for b in loop.blocks for i in cfg.blocks[b]} != body_indices | set(header):
        return None  # not contiguous
    if any(inner.blocks < loop.blocks for inner in cfg.loops()):
        return None  # contains a loop: unroll the inner one first (if it qualifies)
    enter = ops[start - 1]
    if not (isinstance(enter, Op) and enter.op == "jmp" and enter.target is test_label):
        return None
    for op in fn.instructions():
        if op.op in BRANCHES and op is not branch and op is not enter and op.target in (top, test_label):
            return None
    return start, body_indices


def _plan(fn: IRFunction, cfg: CFG, loop: Loop, undefined: frozenset) -> dict | None:
    """What to unroll (positions, body, trip count), or None if the loop is not of the shape."""
    ops = fn.ops
    header = cfg.blocks[loop.header]
    if len(header) == 2 and isinstance(ops[header[0]], Label):
        return _plan_guarded(fn, cfg, loop, undefined)
    if len(header) != 3 or not isinstance(ops[header[0]], Label):
        return None
    compare, branch = ops[header[1]], ops[header[2]]
    if not (isinstance(branch, Op) and branch.op == "bnz" and branch.a is compare.writes()
            and compare.op in ("slt", "slti")):
        return None
    frame = _body_start(fn, cfg, loop, branch)
    if frame is None:
        return None
    start, body_indices = frame
    defs = definitions(fn, cfg)
    iv = compare.a
    inside = [i for i in defs.get(iv, []) if i in body_indices]
    outside = [i for i in defs.get(iv, []) if i not in body_indices]
    if len(inside) != 1 or len(outside) != 1 or iv in undefined:
        return None
    step_op, init_op = ops[inside[0]], ops[outside[0]]
    latch = cfg.blocks[cfg.block_of[header[0] - 1]]
    if not (step_op.op == "addi" and step_op.a is iv and step_op.reloc is None and step_op.imm > 0
            and inside[0] in latch and cfg.block_of[outside[0]] == cfg.block_of[start - 1]):
        return None
    first = constant_of(init_op)
    if compare.op == "slti":
        stop = compare.imm
    else:
        stop_defs = defs.get(compare.b, [])
        stop = constant_of(ops[stop_defs[0]]) if len(stop_defs) == 1 else None
    if first is None or stop is None:
        return None
    first, stop = wrap_int32(first), wrap_int32(stop)
    trips = max(0, -(-(stop - first) // step_op.imm))
    if first + trips * step_op.imm > INT32_MAX:
        return None  # the last step wraps to a negative counter, which passes the test: the loop goes on
    body = [ops[i] for i in range(start + 1, header[0])]
    if not 1 <= trips <= MAX_TRIPS or trips * len(body) > MAX_UNROLLED_OPS:
        return None
    return {"enter": start - 1, "end": header[2], "body": body, "trips": trips, "compare": compare}


def _plan_guarded(fn: IRFunction, cfg: CFG, loop: Loop, undefined: frozenset) -> dict | None:
    """The plan for a loop of the front end's overflow-safe shape (a range whose counter could pass an
    int32 bound): ``li i, a; li c, <first test>; jmp test``, the latch ``slt[i] c, i, A`` (or ``slt c,
    A, i`` counting down) and ``addi i, i, s``, the header ``test: bnz c, top``; A a constant once the
    saturated limit has folded. The trip count comes from running the counter and the test in int32
    arithmetic, as the machine does, so it is exact whatever the bounds."""
    ops = fn.ops
    header = cfg.blocks[loop.header]
    branch = ops[header[1]]
    if not (isinstance(branch, Op) and branch.op == "bnz" and isinstance(branch.a, VReg)):
        return None
    frame = _body_start(fn, cfg, loop, branch)
    if frame is None:
        return None
    start, body_indices = frame
    defs = definitions(fn, cfg)
    latch = cfg.blocks[cfg.block_of[header[0] - 1]]
    entry_block = cfg.block_of[start - 1]

    def split(reg) -> tuple[int, int] | None:
        """(its one write in the loop, in the latch; its one write before it, in the entering block)."""
        inside = [i for i in defs.get(reg, []) if i in body_indices]
        outside = [i for i in defs.get(reg, []) if i not in body_indices]
        if len(inside) != 1 or len(outside) != 1 or reg in undefined or inside[0] not in latch \
                or cfg.block_of[outside[0]] != entry_block:
            return None
        return inside[0], outside[0]

    def known(reg) -> int | None:
        where = defs.get(reg, [])
        return constant_of(ops[where[0]]) if len(where) == 1 and reg not in undefined else None

    cond_defs = split(branch.a)
    if cond_defs is None:
        return None
    compare = ops[cond_defs[0]]
    if compare.op == "slti" and isinstance(compare.a, VReg):
        iv, limit, counter_first = compare.a, compare.imm, True
    elif compare.op == "slt" and isinstance(compare.a, VReg) and isinstance(compare.b, VReg):
        if known(compare.b) is not None and known(compare.a) is None:
            iv, limit, counter_first = compare.a, known(compare.b), True
        elif known(compare.a) is not None and known(compare.b) is None:
            iv, limit, counter_first = compare.b, known(compare.a), False
        else:
            return None
    else:
        return None
    iv_defs = split(iv)
    if iv_defs is None:
        return None
    step_op = ops[iv_defs[0]]
    first, going = constant_of(ops[iv_defs[1]]), constant_of(ops[cond_defs[1]])
    if not (step_op.op == "addi" and step_op.a is iv and step_op.reloc is None) or first is None or going is None:
        return None
    stepped_before_test = iv_defs[0] < cond_defs[0]
    trips, counter = 0, wrap_int32(first)
    while going and trips <= MAX_TRIPS:  # the machine's own sequence of counters and tests
        trips += 1
        if stepped_before_test:
            counter = wrap_int32(counter + step_op.imm)
        going = counter < limit if counter_first else limit < counter
        if not stepped_before_test:
            counter = wrap_int32(counter + step_op.imm)
    body = [ops[i] for i in range(start + 1, header[0])]
    if not 1 <= trips <= MAX_TRIPS or trips * len(body) > MAX_UNROLLED_OPS:
        return None
    return {"enter": start - 1, "end": header[1], "body": body, "trips": trips, "compare": None}


def _apply(fn: IRFunction, plan: dict, serial: int) -> None:
    """Replace the loop by `trips` copies of its body (labels renamed per copy) and the final compare."""
    body: list = plan["body"]
    labels = [op for op in body if isinstance(op, Label)]
    unrolled: list = []
    for k in range(plan["trips"]):
        renamed = {label: Label(f"{label.name}_u{serial}_{k}") for label in labels}
        for op in body:
            if isinstance(op, Label):
                unrolled.append(renamed[op])
                continue
            twin = copy.copy(op)
            if twin.target in renamed:
                twin.target = renamed[twin.target]
            unrolled.append(twin)
    if plan["compare"] is not None:  # (a guarded loop's copies test in their latch themselves)
        unrolled.append(plan["compare"])  # leaves the loop's condition register as the loop did (0)
    fn.ops = fn.ops[:plan["enter"]] + unrolled + fn.ops[plan["end"] + 1:]
