"""The paths of the compile-time check of background transfers' slices (background_races.py): which paths reach
an instruction, kept apart by the conditions of the PE's place they test, and how the transfers outstanding on
them join.

A path class is a frozenset of literals (condition key, truth) that its paths took: a branch on a condition of
the PE's place (`Conditions`: `ws.has_neighbor(d)`, `px == 0`, fixed for a PE's whole run), so that a class that
tested one both ways, which no PE takes, is dropped (`along`), and a loop's back edge (`AROUND`: a read at the top
of a loop of what the end of the trip before posted is refused, though the first trip is fine). A `range` loop of
known trips, at least one, is left at its first test by no path (`entered_loops`). The transfers outstanding on
every path of a class are a bit set; `certain` says which of them a PE reaching the place still moves.
"""
from __future__ import annotations

from ..isa.opcodes import BY_NAME
from .background_values import Values
from .ir import Label, Op, VReg
from .passes.cfg import CFG

#: Path classes kept apart at one place before they are merged into one (`MERGED`), whose paths' literals
#: are no longer known
MAX_CLASSES = 32
MERGED = None
#: The truth of a back edge's literal: not a condition, a loop's later trips (`along`)
AROUND = "around"
#: The truth of a loop's exit edge at its first test that the loop's counter always passes: only the paths
#: that came around the loop's back edge take it (`entered_loops`, `along`)
ONLY_AROUND = "only around"


def along(state: dict, literals: tuple) -> dict:
    """`state`'s path classes along an edge that adds `literals`: (condition key, its truth) of a branch on a
    condition of the PE's place (a class whose paths tested it the other way is no path of any PE, and is
    dropped), and (`AROUND`, the loop's header) of a loop's back edge (paths on a later trip of the loop)."""
    for literal in literals:
        key, truth = literal
        out = {}
        for classes, bits in state.items():
            if truth is ONLY_AROUND:  # (a class that never came around the loop has not left it yet)
                if classes is MERGED or (key, AROUND) in classes:
                    out[classes] = bits
            elif classes is MERGED:
                out[MERGED] = bits
            elif truth is AROUND or (key, not truth) not in classes:
                out[classes | {literal}] = bits
        state = out
    return state


def _equal_to_another(key: tuple, classes: frozenset) -> bool:
    """Whether `key` is a condition `x == c` (`seqi`) and `classes` holds `x == d` true for another number d (a
    path that took it knows `x == c` false)."""
    return key[0] == "seqi" and any(truth is True and other[0] == "seqi" and other[2:] == key[2:]
                                    and other[1] != key[1] for other, truth in classes)


def _tests(literals: frozenset) -> int:
    """How many conditions of the PE's place a class's paths test: back edges are none, and `x == c` tested
    false where `x == d` held is implied by it (`if p == 0: ...` then `if p == 1: ...`: the PEs of the second
    test come only by `p == 0` false)."""
    return sum(truth is not AROUND and not (truth is False and _equal_to_another(key, literals))
               for key, truth in literals)


def join(a: dict | None, b: dict) -> dict:
    """Paths from two places: a class met on both keeps the transfers outstanding on both (must)."""
    if a is None:
        merged = dict(b)
    else:
        merged = dict(a)
        for classes, bits in b.items():
            merged[classes] = merged[classes] & bits if classes in merged else bits
    if len(merged) > MAX_CLASSES:
        every = -1
        for bits in merged.values():
            every &= bits
        return {MERGED: every}
    return merged


def certain(classes: dict) -> int:
    """The transfers outstanding wherever a PE that reaches this place may come from: on every path (whatever
    its conditions), or on every path of a class that tests at most one condition of the PE's place (`_tests`) (a
    `ws.has_neighbor(d)`, a `px == 0`: the PEs where it holds come only that way, if they come here at all).
    Paths of several such conditions are left out: the compiler cannot tell whether one PE meets them all."""
    every, some = -1, 0
    for literals, bits in classes.items():
        every &= bits
        if literals is not MERGED and _tests(literals) <= 1:
            some |= bits
    return (every if classes else 0) | some


def block_edges(ops: list, blocks: list[list[int]], conditions: Conditions, back: set[tuple[int, int]],
                entered: set[int] = frozenset()) -> tuple[list[list[tuple]], set[int]]:
    """Each block's successors with the literals its edge adds (`along`: a branch on a condition of the PE's
    place, a loop's back edge, in `back` as (latch, header), the exit of a loop of `entered` at its header
    test, which only paths that came around take), and the blocks reachable from the entry."""
    label_block = {ops[b[0]]: k for k, b in enumerate(blocks) if isinstance(ops[b[0]], Label)}
    edges: list[list[tuple]] = []
    for k, block in enumerate(blocks):
        last = ops[block[-1]]
        targets: list[tuple[int, tuple]] = []
        if isinstance(last, Op) and last.op in ("bz", "bnz", "jmp"):
            key = conditions.key(last.a) if last.op != "jmp" else None
            taken = () if key is None else ((key, last.op == "bnz"),)  # (bz jumps where the value is 0)
            targets.append((label_block[last.target], taken))
            if last.op != "jmp" and k + 1 < len(blocks):
                exits = (((AROUND, k), ONLY_AROUND),) if k in entered else ()
                targets.append((k + 1, exits + (() if key is None else ((key, last.op == "bz"),))))
        elif not (isinstance(last, Op) and last.op == "halt") and k + 1 < len(blocks):
            targets.append((k + 1, ()))
        edges.append([(s, literals + (((AROUND, s), AROUND),) if (k, s) in back else literals)
                      for s, literals in targets])
    seen, todo = ({0}, [0]) if blocks else (set(), [])
    while todo:
        for s, _ in edges[todo.pop()]:
            if s not in seen:
                seen.add(s)
                todo.append(s)
    return edges, seen


def entered_loops(cfg: CFG, values: Values) -> set[int]:
    """The headers of the `range` loops whose body every PE enters at least once: the header tests
    `slt t, i, stop` (or `slti`) and branches `bnz t` into the body (`Values.range_test`), `i` is written only
    by `li i, start` in the one block that enters the loop from outside and by an `addi i, i, step` inside the
    loop, and start < stop are numbers the compiler knows (`for k in range(3)`). At the first test `i` is
    `start`, so the exit there is no path of any PE (a wait in the body ends on every path what was posted
    before the loop)."""
    entered = set()
    for loop in cfg.loops():
        h = loop.header
        outside = [p for p in cfg.pred[h] if p not in loop.blocks]
        if len(outside) != 1 or h + 1 >= len(cfg.blocks) or h + 1 in loop.blocks:
            continue
        found = values.range_test(h)
        if found is None:
            continue
        step_block = cfg.block_of[found.step_at]
        if (cfg.block_of[found.start_at] == outside[0] and step_block in loop.blocks and step_block != h
                and values.ops[found.start_at].imm < found.stop):
            entered.add(h)
    return entered


#: The register operands of each opcode
_FIELDS = {name: frozenset(op.operands) for name, op in BY_NAME.items()}
#: Instructions whose result is a function of their operands alone (a condition of the PE's place, computed
#: from its coordinates, neighbours and the kernel's arguments, stays one)
_PURE_INT = frozenset({"add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "sra", "min", "max", "slt",
                       "sle", "seq", "sne", "neg", "abs", "mov", "sel", "addi", "muli", "andi", "ori", "xori", "shli",
                       "shri", "srai", "slti", "seqi"})


class Conditions:
    """A key for each register that holds a condition of the PE's place: a value fixed for the whole run of a
    PE, computed from its special registers (`ws.grid`, thread and block indices), `hasnb`, the kernel's
    arguments and constants, through registers written once; two registers with the same key hold the same
    value on one PE. None for any other register."""

    def __init__(self, ops: list, values: Values) -> None:
        self.ops, self.values = ops, values
        self.memo: dict[VReg, tuple | None] = {}

    def key(self, reg) -> tuple | None:
        if isinstance(reg, int):
            return ("r0",) if reg == 0 else None
        if reg in self.memo:
            return self.memo[reg]
        self.memo[reg] = None  # (a register computed from itself is none)
        defs = self.values.defs.get(reg, [])
        key = None
        if len(defs) == 1 and reg not in self.values.undefined:
            op = self.ops[defs[0]]
            if op.op == "sreg":
                key = ("sreg", op.imm)
            elif op.op == "hasnb":
                key = ("hasnb", op.dir)
            elif op.op in ("arg", "li"):
                key = (op.op, op.imm, op.reloc)
            elif op.op in _PURE_INT:
                operands = [self.key(getattr(op, field)) for field in ("a", "b", "c") if field in _FIELDS[op.op]]
                if all(part is not None for part in operands):
                    key = operands[0] if op.op == "mov" else (op.op, op.imm, *operands)
        self.memo[reg] = key
        return key
