"""Full unrolling of short counted loops: `for i in range(a, b, s)` with constant a, b, s and few trips.

A PE pays one cycle per instruction, so the test, branch and counter of a loop that moves a handful of
words are a large share of its cost; unrolled, the counter's values are constants that constant
propagation and address folding turn into immediates.

Only loops of exactly the front end's shape are unrolled (anything else is left alone): the entering
block ends ``li i, a; ...; jmp test``; the body follows physically, its last block steps ``addi i, i, s``
(s > 0) and falls into the header ``test: slt[i] c, i, b; bnz c, top``; no branch but the header's goes
to ``top`` or ``test``; the loop contains no other loop; `i` is written only by that `li` and that step;
and trips x body length stay within `MAX_TRIPS` and `MAX_UNROLLED_OPS`. The copies run in order with
their labels renamed, and the compare runs once at the end so `c` ends as the loop left it.
"""
from __future__ import annotations

import copy

from ..ir import BRANCHES, IRFunction, Label, Op
from .cfg import CFG, Loop, constant_of, definitions

MAX_TRIPS = 16
MAX_UNROLLED_OPS = 192  # beyond this, copies add register pressure (spills) faster than they save tests


def unroll_counted_loops(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Unroll every loop of the recognised shape (innermost ones; repeated until none is left)."""
    serial = 0
    while True:
        cfg = CFG(fn)
        for loop in cfg.loops():
            plan = _plan(fn, cfg, loop, undefined)
            if plan is not None:
                serial += 1
                _apply(fn, plan, serial)
                break
        else:
            return


def _plan(fn: IRFunction, cfg: CFG, loop: Loop, undefined: frozenset) -> dict | None:
    """What to unroll (positions, body, trip count), or None if the loop is not of the shape."""
    ops = fn.ops
    header = cfg.blocks[loop.header]
    if len(header) != 3 or not isinstance(ops[header[0]], Label):
        return None
    test_label, compare, branch = ops[header[0]], ops[header[1]], ops[header[2]]
    if not (isinstance(branch, Op) and branch.op == "bnz" and branch.a is compare.writes()
            and compare.op in ("slt", "slti")):
        return None
    top = branch.target
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
    trips = max(0, -(-(stop - first) // step_op.imm))
    body = [ops[i] for i in range(start + 1, header[0])]
    if not 1 <= trips <= MAX_TRIPS or trips * len(body) > MAX_UNROLLED_OPS:
        return None
    return {"enter": start - 1, "end": header[2], "body": body, "trips": trips, "compare": compare}


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
    unrolled.append(plan["compare"])  # leaves the loop's condition register as the loop did (0)
    fn.ops = fn.ops[:plan["enter"]] + unrolled + fn.ops[plan["end"] + 1:]
