"""What registers hold, for the compile-time check of background transfers' slices (background_races.py): the
local words an instruction touches are known where its address and length registers are.

A value is (SRAM segment or None, lowest, highest): one number the compiler knows (lowest == highest: constants,
`ws.constant` parameters, a loop's unrolled offsets, and sums and products of them), or a range of numbers (a
`range` loop's index at the top of its body lies between the start and the stop less one, `Values._counter`).

The check runs on the front end's IR, before the optimisation passes, so this is not the passes' induction
analysis (passes/induction.py, passes/bounds.py), though it shares their register definitions
(`passes.cfg.definitions`) and plain constants (`passes.cfg.constant_of`); `RangeTest` says where the two
decide differently, and why each keeps its own rule.
"""
from __future__ import annotations

import dataclasses

from .ir import Label, Op, VReg
from .passes.cfg import CFG, constant_of, definitions


@dataclasses.dataclass(frozen=True)
class RangeTest:
    """A block that ends in `bnz t` on `t = slt counter, stop` (or `slti`), computed in the block, where `stop`
    is a number the compiler knows and `counter` is written twice in the whole function: once by `li counter,
    start` (a plain number) and once by `addi counter, counter, step` (`for k in range(start, stop, step)` as
    the front end writes it). Indices are into the function's ops.

    The passes' bounds-check elimination (passes/bounds.py) reads a loop's test too, but decides other things
    on other IR: it needs a start of at least 0 and allows several starts and steps (after the passes), takes a
    register `stop` of any value up to an array extent, and proves the counter only inside its loop. Here any
    start counts, `stop` must be a number (`Values.exact`, which also follows sums of constants that
    `constant_of` does not), and exactly one start and one step: sharing either rule would change which
    kernels the race check refuses or which checks the passes drop."""

    block: int
    test_at: int
    counter: VReg
    stop: int
    start_at: int
    step_at: int


class Values:
    """What the compiler knows of registers' values: (SRAM segment or None, lowest, highest), for a register
    written once by an instruction whose operands it knows (lowest == highest: one number), or a `range` loop's
    counter copied at the top of the loop's body (`_counter`); None where not known."""

    def __init__(self, cfg: CFG, undefined: frozenset) -> None:
        self.ops, self.cfg = cfg.ops, cfg
        self.defs: dict[VReg, list[int]] = dict(definitions(cfg.fn, cfg))
        self.undefined = undefined
        self.memo: dict[int, tuple | None] = {}
        self._labels = {op: k for k, op in enumerate(self.ops) if isinstance(op, Label)}

    def of(self, reg, at: int | None = None) -> tuple[str | None, int, int] | None:
        """The value of `reg` as instruction `at` reads it: a register written once, or one written earlier in
        the same basic block (a loop the front end unrolled writes its index register once a trip)."""
        if isinstance(reg, int):
            return (None, 0, 0) if reg == 0 else None  # (r0)
        defs = self.defs.get(reg, [])
        if len(defs) == 1 and reg not in self.undefined:
            where = defs[0]
        elif at is not None and len(defs) > 1:
            block = self.cfg.blocks[self.cfg.block_of[at]]
            where = max((k for k in defs if block[0] <= k < at), default=None)
            if where is None:
                return None
        else:
            return None
        if where in self.memo:
            return self.memo[where]
        self.memo[where] = None  # (a register computed from itself is not known)
        value = self._computed(where, self.ops[where])
        if value is not None and not -2**31 <= value[1] <= value[2] < 2**31:
            value = None  # (int32 arithmetic would wrap where Python's does not: not known)
        self.memo[where] = value
        return value

    def exact(self, reg, at: int | None = None) -> tuple[str | None, int] | None:
        """(segment, number) of a register that holds one number the compiler knows."""
        value = self.of(reg, at)
        return (value[0], value[1]) if value is not None and value[1] == value[2] else None

    def _computed(self, i: int, op: Op) -> tuple | None:
        name = op.op
        if name == "li":
            return op.reloc, op.imm, op.imm
        if name == "mov":
            return self.of(op.a, i) or self._counter(i, op.a)
        if name in ("addi", "muli", "shli"):
            a = self.of(op.a, i)
            if a is None:
                return None
            if name == "addi":
                return plus(a, (op.reloc, op.imm, op.imm))
            if a[0] is not None:
                return None
            factor = op.imm if name == "muli" else 1 << (op.imm & 31)
            return (None, *sorted((a[1] * factor, a[2] * factor)))
        if name in ("add", "sub", "mul"):
            a, b = self.of(op.a, i), self.of(op.b, i)
            if a is None or b is None:
                return None
            if name == "add":
                return plus(a, b)
            if name == "sub":
                if b[0] is not None and a[0] != b[0]:
                    return None  # (a number less an address; addresses of two segments)
                return a[0] if b[0] is None else None, a[1] - b[2], a[2] - b[1]
            if a[0] is None and b[0] is None and a[1] == a[2] and b[1] == b[2]:
                return None, a[1] * b[1], a[1] * b[1]
        return None

    def range_test(self, block: int) -> RangeTest | None:
        """The `range` loop test that ends `block` (`RangeTest`), or None."""
        ops, cfg = self.ops, self.cfg
        branch = ops[cfg.blocks[block][-1]]
        if not (isinstance(branch, Op) and branch.op == "bnz" and isinstance(branch.a, VReg)):
            return None
        tests = self.defs.get(branch.a, [])
        if len(tests) != 1 or cfg.block_of[tests[0]] != block:
            return None
        test_at = tests[0]
        test, counter = ops[test_at], ops[test_at].a
        if test.op not in ("slt", "slti") or not isinstance(counter, VReg) or counter in self.undefined:
            return None
        writes = self.defs.get(counter, [])
        starts = [k for k in writes if constant_of(ops[k]) is not None]
        steps = [k for k in writes if ops[k].op == "addi" and ops[k].a is counter and ops[k].reloc is None]
        if len(writes) != 2 or len(starts) != 1 or len(steps) != 1:
            return None
        if test.op == "slti":
            stop = test.imm
        else:
            known = self.exact(test.b, test_at)
            if known is None or known[0] is not None:
                return None
            stop = known[1]
        return RangeTest(block, test_at, counter, stop, starts[0], steps[0])

    def _counter(self, i: int, reg) -> tuple | None:
        """The values of a `range` loop's counter `reg` copied (instruction i) at the top of the loop's body:
        [start, stop - 1], where the body is entered only from the block of its test (`range_test`), where
        `slt t, reg, stop` (or `slti`) holds, just tested, the step is positive and stop + step <= 2**31 (no
        value wraps past the test).

        Not the passes' `_cannot_wrap` (passes/bounds.py): that one asks of a loop that no step runs in a loop
        nested in it; this one asks of the step's and the test's blocks that they lie in the same loops, with
        no loop around them needed (a test outside every loop, run once, bounds a counter too). The top is
        stop - 1, not bounds.py's `_highest_tested` (the largest value the start plus steps reaches): a lower
        top would refuse kernels this check accepts."""
        cfg = self.cfg
        if not isinstance(reg, VReg) or reg in self.undefined:
            return None
        body = cfg.block_of[i]
        if len(cfg.pred[body]) != 1 or any(cfg.blocks[body][0] <= k < i for k in self.defs.get(reg, [])):
            return None
        found = self.range_test(cfg.pred[body][0])
        if found is None or found.counter is not reg:
            return None
        branch = self.ops[cfg.blocks[found.block][-1]]
        step = self.ops[found.step_at].imm
        if (cfg.block_of.get(self._labels.get(branch.target)) != body or step <= 0
                or any(found.test_at < k < cfg.blocks[found.block][-1] for k in self.defs[reg])
                or found.stop + step > 2**31 or not self._same_loops(cfg.block_of[found.step_at], found.block)):
            return None
        first = self.ops[found.start_at].imm
        return (None, first, found.stop - 1) if first <= found.stop - 1 else None

    def _same_loops(self, a: int, b: int) -> bool:
        """Whether blocks a and b lie in the same loops (an increment in an inner loop of the test's could run
        many times between two tests, and wrap)."""
        loops = self.cfg.loops()
        return [a in loop.blocks for loop in loops] == [b in loop.blocks for loop in loops]

    def span(self, at: int, base, imm: int, reloc: str | None, length=None,
             words: int = 0) -> tuple[int, int, int] | None:
        """(lowest, highest, count): the local words at `base + imm` (+ the SRAM segment `reloc`) start between
        lowest and highest, `words` of them, or as many as register `length` holds; None unless the compiler
        knows the count and the address is a local array's (registers as instruction `at` reads them)."""
        address = plus(self.of(base, at), (reloc, imm, imm))
        count = (None, words) if length is None else self.exact(length, at)
        if address is None or address[0] != "local" or count is None or count[0] is not None or count[1] <= 0:
            return None
        return address[1], address[2], count[1]


def plus(a: tuple | None, b: tuple | None) -> tuple | None:
    """The sum of two values (`Values`); None where one is not known or both are addresses."""
    if a is None or b is None or (a[0] is not None and b[0] is not None):
        return None
    return a[0] or b[0], a[1] + b[1], a[2] + b[2]
