"""Bounds-check elimination: a `chk i, n` inside `for i in range(start, n)` with 0 <= start is redundant.

For a loop whose header ends in ``slt c, i, stop; bnz c, body`` (or ``slti c, i, K``), where `i` is a
basic induction variable with positive steps whose every write before the loop is ``li i, k`` with
k >= 0, each value of `i` the body sees satisfies ``0 <= i < stop``. A forward dataflow from the body's
first block tracks the registers that hold such a tested value (`i` itself until its increment, and
copies made with `mov`); a ``chk x, n`` with `x` among them is dropped when `n` is `stop` itself (a
register the loop does not write) or both are constants with ``stop <= n``. The dataflow also tracks
values affine in the tested one, ``scale * i + offset`` (`_affine_result`; other counters stepped in
lockstep with `i`, as strength reduction makes for `j * n + n`: `_lockstep`): with a constant `stop`, a
check of one is dropped when both ends of i's range (the smallest start; the largest value below stop that
the starts plus steps reach, `_highest_tested`: 496 for ``range(0, 512, 16)``) put it in ``0 <= v < n`` for a
constant `n` (then v is below 2**31: the register holds v itself, whatever wrapped on the way).

No wrap-around: `i += step` must not wrap past 2**31 - 1 to a negative value that passes the next test
(`i = 5; while i < 10: buf[i] = 1; i += 2**31 - 3` reaches -2**31 + 2, which NumPy's int32 indexes out of
bounds). Enforced where the pass decides (`_cannot_wrap`): every increment of `i` runs at most once a trip
(none in an inner loop, which could add any multiple of its step: an inner `while` of `i += 4096` steps
took i from 5 past 2**31 and a dropped check let `out[i]` of the wrapped value write out[5]), and `top +
(the sum of the steps) <= 2**31`, where i < stop <= `top` at the test: `top` is `stop`'s constant, or for a
register `EXTENT_MAX`. A register a dropped check compares with is an extent the front end made
(`check_index`): a global array's dimension, or one plus it, or a slice's length plus one; a launch refuses
an array that ends past the 4 GiB a kernel addresses (`runtime.device.KERNEL_ADDRESS_LIMIT`), and every
element takes a 4-byte word (16-bit ones too), so a non-empty array's dimension is at most 2**30. (An
empty array may have a dimension up to 2**31 - 1, but an access to one fails the check of its zero
dimension, which no loop over that dimension can drop: such a loop never runs.)
"""
from __future__ import annotations

import math

from ..ir import IRFunction, Op, VReg
from .cfg import CFG, Loop, constant_of, definitions
from .induction import LoopFacts, analyse

#: The largest value a register `stop` can hold where a check it proves matters (the module docstring).
EXTENT_MAX = 2**30 + 1


def eliminate_range_checks(fn: IRFunction, undefined: frozenset = frozenset()) -> None:
    """Drop the `chk`s that a `range` loop's own test already proves."""
    cfg = CFG.of(fn)
    defs = definitions(fn, cfg)
    redundant: set[int] = set()
    for loop in cfg.loops():
        redundant |= _proved_in(fn, cfg, loop, defs, undefined)
    if redundant:
        fn.ops = [op for i, op in enumerate(fn.ops) if i not in redundant]


def _const(reg, defs: dict, fn: IRFunction, undefined: frozenset) -> int | None:
    if not isinstance(reg, VReg) or reg in undefined or len(defs.get(reg, [])) != 1:
        return None
    return constant_of(fn.ops[defs[reg][0]])


def _proved_in(fn: IRFunction, cfg: CFG, loop: Loop, defs: dict, undefined: frozenset) -> set[int]:
    test = fn.ops[cfg.blocks[loop.header][-1]]
    if not (isinstance(test, Op) and test.op == "bnz" and isinstance(test.a, VReg) and len(defs.get(test.a, [])) == 1):
        return set()
    compare = fn.ops[defs[test.a][0]]
    if cfg.block_of[defs[test.a][0]] != loop.header or compare.op not in ("slt", "slti"):
        return set()
    facts = analyse(fn, cfg, loop, defs, undefined)
    iv = compare.a
    if iv not in facts.increments or any(step <= 0 for _, step in facts.increments[iv]):
        return set()
    entry_values = [_const(iv, {iv: [i]}, fn, undefined) for i in defs[iv] if i not in set(facts.in_loop)]
    if not entry_values or any(v is None or v < 0 for v in entry_values):
        return set()
    if compare.op == "slt":
        stop = compare.b
        if not isinstance(stop, VReg) or facts.written_in_loop(stop, defs) or stop in undefined:
            return set()
        limit = _const(stop, defs, fn, undefined)
    else:
        stop, limit = None, compare.imm
    if not _cannot_wrap(cfg, loop, facts, iv, EXTENT_MAX if limit is None else limit):
        return set()

    def proves(bound, form: tuple[int, int]) -> bool:
        scale, offset = form
        if (scale, offset) == (1, 0) and stop is not None and bound is stop:
            return True
        value = _const(bound, defs, fn, undefined)
        if scale == 1 and offset <= 0 and lowest + offset >= 0 and stop is not None and bound is stop:
            return True  # 0 <= i + offset <= i < stop
        if limit is None or value is None:
            return False
        ends = (scale * lowest + offset, scale * highest + offset)
        return 0 <= min(ends) and max(ends) < value  # (value <= 2**31 - 1: the true value is the register's)

    lowest = min(entry_values)
    highest = None if limit is None else _highest_tested(entry_values, facts.increments[iv], limit)
    body = next(k for k, block in enumerate(cfg.blocks) if fn.ops[block[0]] is test.target)
    start = {iv: (1, 0), **_lockstep(fn, cfg, facts, defs, iv, undefined)}
    return _checks_on_tested_values(fn, cfg, loop, body, start, proves, lambda reg: _const(reg, defs, fn, undefined))


def _highest_tested(entry_values: list[int], steps: list[tuple[int, int]], limit: int) -> int:
    """The largest value of the counter that can pass `i < limit`: an entry value plus steps (no wrap-around:
    `_cannot_wrap`), so in the entry's class modulo the steps' gcd (`range(0, 512, 16)`: 496, not 511)."""
    period = math.gcd(*(step for _, step in steps)) or 1
    reachable = [start + (limit - 1 - start) // period * period for start in entry_values if start < limit]
    return max(reachable, default=limit - 1)


def _cannot_wrap(cfg: CFG, loop: Loop, facts: LoopFacts, iv: VReg, top: int) -> bool:
    """Whether a trip that starts with 0 <= iv < `top` ends with iv <= 2**31 - 1 without wrapping: each
    increment runs at most once a trip (none inside a loop nested in `loop`), and together they add at most
    2**31 - `top`."""
    inner = [other.blocks for other in cfg.loops() if other.header != loop.header and other.blocks <= loop.blocks]
    steps = facts.increments[iv]
    if any(cfg.block_of[i] in blocks for i, _ in steps for blocks in inner):
        return False
    return top + sum(step for _, step in steps) <= 2**31


def _lockstep(fn: IRFunction, cfg: CFG, facts: LoopFacts, defs: dict, iv: VReg,
              undefined: frozenset) -> dict[VReg, tuple[int, int]]:
    """The loop's other counters `k` with k == scale * iv + offset (mod 2**32) wherever a block ends: the
    counters strength reduction made (`k` for `j * n + n`), by (scale, offset).

    Shown by their writes: `iv` has two, one outside the loop (in block D) and one step in it; `k`'s
    writes outside the loop all come after iv's in D and leave k == scale * iv + offset at D's end (an
    affine function of iv, or a constant where iv's write there is a constant too), and
    its one step in the loop is in iv's step's block and `scale` times iv's step (so the block that
    steps either steps both, keeping the relation)."""
    if len(defs[iv]) != 2 or len(facts.increments[iv]) != 1:
        return {}
    (iv_step_at, iv_step), = facts.increments[iv]
    iv_entry_at = next(i for i in defs[iv] if i != iv_step_at)
    entry_block = cfg.blocks[cfg.block_of[iv_entry_at]]
    after_entry = entry_block[entry_block.index(iv_entry_at) + 1:]
    held: dict[VReg, tuple[int, int]] = {iv: (1, 0)}
    constant = lambda reg: _const(reg, defs, fn, undefined)  # noqa: E731
    iv_entry = _const(iv, {iv: [iv_entry_at]}, fn, undefined)  # (None unless a `li`)
    for i in after_entry:
        if isinstance(fn.ops[i], Op):
            _track(fn.ops[i], held, constant)
    related: dict[VReg, tuple[int, int]] = {}
    for k, steps in facts.increments.items():
        if k is iv or len(steps) != 1 or k not in held:
            continue
        (step_at, step), = steps
        outside = [i for i in defs[k] if i != step_at]
        if cfg.block_of[step_at] != cfg.block_of[iv_step_at] or not set(outside) <= set(after_entry):
            continue
        scale, offset = held[k]
        if step != scale * iv_step and iv_entry is not None and step % iv_step == 0:
            # iv == iv_entry at D's end: k == scale * iv_entry + offset == wanted * iv + (the rest)
            wanted = step // iv_step
            scale, offset = wanted, scale * iv_entry + offset - wanted * iv_entry
        if step != scale * iv_step:
            continue
        related[k] = (scale, offset)
    return related


def _track(op: Op, held: dict, constant) -> None:
    """Update `held` (register -> (scale, offset)) past `op`: any write ends what the register held."""
    written = op.writes()
    if written is not None:
        result = _affine_result(op, held, constant) if written.ty == "i32" else None
        held.pop(written, None)
        if result is not None:
            held[written] = result


def _affine_result(op: Op, held: dict, constant) -> tuple[int, int] | None:
    """(scale, offset) with op's result == scale * (the tested value) + offset (mod 2**32), from its operands'."""
    def form(reg) -> tuple[int, int] | None:
        if reg in held:
            return held[reg]
        value = constant(reg) if isinstance(reg, VReg) else None
        return None if value is None else (0, value)

    if op.op == "li" and op.reloc is None:
        return (0, op.imm)
    a = form(op.a)
    if a is None or getattr(op, "reloc", None) is not None:
        return None
    if op.op == "mov":
        return a
    if op.op == "addi":
        return (a[0], a[1] + op.imm)
    if op.op == "muli":
        return (a[0] * op.imm, a[1] * op.imm)
    if op.op == "shli" and 0 <= op.imm <= 30:
        return (a[0] << op.imm, a[1] << op.imm)
    if op.op in ("add", "sub"):
        b = form(op.b)
        if b is None:
            return None
        sign = 1 if op.op == "add" else -1
        return (a[0] + sign * b[0], a[1] + sign * b[1])
    return None


def _checks_on_tested_values(fn: IRFunction, cfg: CFG, loop: Loop, body: int, start: dict, proves,
                             constant) -> set[int]:
    """Forward must-dataflow of 'holds an affine function of the value that passed the loop test' (register
    -> (scale, offset)), from `body` (where `start` holds) to the latches.

    Optimistic: blocks not yet reached hold everything; iterated to a fixed point, then read once."""
    region = [k for k in sorted(loop.blocks) if k != loop.header]
    state_out: dict[int, dict | None] = {k: None for k in region}  # None: not reached yet (top)

    def state_in(k: int) -> dict | None:
        incoming = []
        for p in cfg.pred[k]:
            if p == loop.header:
                incoming.append(start if k == body else {})
            elif p in state_out:
                incoming.append(state_out[p])
            else:
                incoming.append({})
        known = [s for s in incoming if s is not None]
        if not known:
            return None
        first, *rest = known
        return {reg: form for reg, form in first.items() if all(other.get(reg) == form for other in rest)}

    def transfer(k: int, held: dict, found: set[int] | None) -> dict:
        for i in cfg.blocks[k]:
            op = fn.ops[i]
            if not isinstance(op, Op):
                continue
            if found is not None and op.op == "chk" and op.a in held and proves(op.b, held[op.a]):
                found.add(i)
            _track(op, held, constant)  # (the loop's own step too: iv then holds no tested value)
        return held

    changed = True
    while changed:
        changed = False
        for k in region:
            current = state_in(k)
            if current is None:
                continue
            out = transfer(k, dict(current), None)
            if state_out[k] != out:
                state_out[k], changed = out, True
    found: set[int] = set()
    for k in region:
        current = state_in(k)
        if current is not None:
            transfer(k, dict(current), found)
    return found
