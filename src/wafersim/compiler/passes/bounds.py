"""Bounds-check elimination: a `chk i, n` inside `for i in range(start, n)` with 0 <= start is redundant.

For a loop whose header ends in ``slt c, i, stop; bnz c, body`` (or ``slti c, i, K``), where `i` is a
basic induction variable with positive steps whose every write before the loop is ``li i, k`` with
k >= 0, each value of `i` the body sees satisfies ``0 <= i < stop``. A forward dataflow from the body's
first block tracks the registers that hold such a tested value (`i` itself until its increment, and
copies made with `mov`); a ``chk x, n`` with `x` among them is dropped when `n` is `stop` itself (a
register the loop does not write) or both are constants with ``stop <= n``.

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

    def proves(bound) -> bool:
        if stop is not None and bound is stop:
            return True
        value = _const(bound, defs, fn, undefined)
        return limit is not None and value is not None and limit <= value

    body = next(k for k, block in enumerate(cfg.blocks) if fn.ops[block[0]] is test.target)
    return _checks_on_tested_values(fn, cfg, loop, body, iv, proves)


def _cannot_wrap(cfg: CFG, loop: Loop, facts: LoopFacts, iv: VReg, top: int) -> bool:
    """Whether a trip that starts with 0 <= iv < `top` ends with iv <= 2**31 - 1 without wrapping: each
    increment runs at most once a trip (none inside a loop nested in `loop`), and together they add at most
    2**31 - `top`."""
    inner = [other.blocks for other in cfg.loops() if other.header != loop.header and other.blocks <= loop.blocks]
    steps = facts.increments[iv]
    if any(cfg.block_of[i] in blocks for i, _ in steps for blocks in inner):
        return False
    return top + sum(step for _, step in steps) <= 2**31


def _checks_on_tested_values(fn: IRFunction, cfg: CFG, loop: Loop, body: int, iv: VReg, proves) -> set[int]:
    """Forward must-dataflow of 'holds a value that passed the loop test', from `body` to the latches.

    Optimistic: blocks not yet reached hold everything; iterated to a fixed point, then read once."""
    region = [k for k in sorted(loop.blocks) if k != loop.header]
    state_out: dict[int, frozenset | None] = {k: None for k in region}  # None: not reached yet (top)

    def state_in(k: int) -> frozenset | None:
        incoming = []
        for p in cfg.pred[k]:
            if p == loop.header:
                incoming.append(frozenset({iv}) if k == body else frozenset())
            elif p in state_out:
                incoming.append(state_out[p])
            else:
                incoming.append(frozenset())
        known = [s for s in incoming if s is not None]
        return frozenset.intersection(*known) if known else None

    def transfer(k: int, held: set, found: set[int] | None) -> set:
        for i in cfg.blocks[k]:
            op = fn.ops[i]
            if not isinstance(op, Op):
                continue
            if found is not None and op.op == "chk" and op.a in held and proves(op.b):
                found.add(i)
            written = op.writes()  # any write (the loop's own step included) ends what a register held
            if written is not None:
                tested_copy = op.op == "mov" and op.a in held
                held.discard(written)
                if tested_copy:
                    held.add(written)
        return held

    changed = True
    while changed:
        changed = False
        for k in region:
            current = state_in(k)
            if current is None:
                continue
            out = frozenset(transfer(k, set(current), None))
            if state_out[k] != out:
                state_out[k], changed = out, True
    found: set[int] = set()
    for k in region:
        current = state_in(k)
        if current is not None:
            transfer(k, set(current), found)
    return found
