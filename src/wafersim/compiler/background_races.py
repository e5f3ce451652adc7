"""The compile-time check of background transfers' slices: a local slice read or changed while a background
transfer still moves it (docs/timing.md, "Background transfers").

A `ws.recv_async` slice is defined only after its `ws.recv_wait`, and a `ws.send_async` slice may change only
after its `ws.send_wait`. The simulator moves every word at the call, so a slice read early would show the
finished transfer (and one changed early would not reach the words sent), where hardware races: a silent
wrong answer. This check refuses the cases the compiler can decide, on the front end's IR (device functions
inlined, before the optimisation passes, so that what it refuses does not depend on them):

- a transfer is outstanding at an instruction when every path from the kernel's entry to the instruction
  passes its `recva` / `senda` and no later `rwait` / `swait` of its direction and channel (a forward
  "must" dataflow over the basic blocks; a transfer posted on some paths only is not outstanding). Paths are
  kept apart by the conditions of the PE's place they test (`_Conditions`: `ws.has_neighbor(d)`, `px == 0`,
  fixed for a PE's whole run), so that a path testing one both ways, which no PE takes, is left out, and a
  transfer outstanding on every path of the PEs where one such condition holds counts too (`_certain`): the
  library GEMV's `if ws.has_neighbor(ws.SOUTH): ws.send_async(...)`, waited under the same test. Paths that
  came around a loop's back edge are a class of their own too: a read at the top of a loop of what the end
  of the trip before posted is refused, though the first trip is fine. A `range` loop of known trips, at
  least one, is left at its first test by no path (`_entered_loops`): what its body waits for is waited
  for after it;
- the instruction touches local SRAM words that provably overlap the transfer's slice: every length is a
  number the compiler knows, and every address one (constants, `ws.constant` parameters, a loop's unrolled
  offsets) or a range of them that all overlap it (`_Values`: a `range` loop's index at the top of its body
  lies between the start and the stop less one), not a value known only when the kernel runs;
- it reads or writes a slice being received, or writes a slice being sent (reading a slice being sent is
  fine), including a blocking or background transfer of another direction or channel into or out of it. A
  second transfer on the same direction, channel and way runs after the first on hardware too: not a race.

What it cannot decide it does not refuse: an index known only at run time, or a transfer posted under a
condition known only at run time, is not checked (docs/python-supported.md says so).
"""
from __future__ import annotations

import linecache

from ..errors import CompileError
from ..isa.opcodes import BY_NAME, FLAG_SCALAR, PORTS, STREAM_OPS
from .ir import IRFunction, Label, Op, VReg, line_text, place_of
from .passes.cfg import CFG
from .passes.verify import undefined_reads

#: The transfer each wait ends, and the call that posts it.
_WAITS = {"rwait": "recva", "swait": "senda"}
_CALLS = {"recva": ("ws.recv_async", "ws.recv_wait"), "senda": ("ws.send_async", "ws.send_wait")}
#: Element-wise vector ops: d[0:c] written (and read, for the accumulating ones), a[0:c] read, b[0:c] read
#: unless `.s` makes b a scalar register.
_ELEMENTWISE = frozenset({"vadd", "vsub", "vmul", "vdiv", "vmin", "vmax", "vfma", "vfmaz", "vhadd", "vhsub", "vhmul",
                          "vhmin", "vhmax", "vhfma", "vwfma"})
_UNARY = frozenset({"vscale", "vcopy", "vcvth", "vcvtf", "vmath"})  # d[0:c] written from a[0:c]
_REDUCTIONS = frozenset({"vredsum", "vredmin", "vredmax"})  # a[0:c] read
_READ, _WRITE = 1, 2
#: The register operands of each opcode
_FIELDS = {name: frozenset(op.operands) for name, op in BY_NAME.items()}


def check_background_slices(fn: IRFunction) -> None:
    """Raise a `CompileError` at the first instruction that provably reads or changes a local slice while a
    background transfer moves it (module docstring)."""
    ops = fn.ops
    posts = [i for i, op in enumerate(ops) if isinstance(op, Op) and op.op in _CALLS]
    if not posts:
        return
    cfg = CFG(fn)
    values = _Values(ops, frozenset(undefined_reads(fn, cfg)), cfg)  # (a register some path reads unwritten: 0)
    # The transfers whose slice is known: bit k of a set is posts[k]
    known: list[tuple[int, int, int]] = []  # (post index, first word, end word)
    for i in posts:
        span = values.span(i, ops[i].a, 0, None, ops[i].b)
        if span is not None and span[0] == span[1]:
            known.append((i, span[0], span[0] + span[2]))
    if not known:
        return
    blocks = cfg.blocks
    back = {(latch, loop.header) for loop in cfg.loops() for latch in loop.latches}
    edges, reachable = _edges(ops, blocks, _Conditions(ops, values), back, _entered_loops(ops, cfg, values))
    pred: list[list[tuple[int, tuple]]] = [[] for _ in blocks]  # (predecessor, the literals its edge adds)
    for k, targets in enumerate(edges):
        for s, literals in targets:
            pred[s].append((k, literals))
    bit_of = {post: 1 << k for k, (post, _, _) in enumerate(known)}
    ends: dict[tuple, int] = {}  # wait (op, dir, ch) -> the bits it ends
    for k, (post, _, _) in enumerate(known):
        key = (ops[post].op, ops[post].dir, ops[post].ch)
        ends[key] = ends.get(key, 0) | 1 << k

    def effect(block: list[int]) -> tuple[int, int]:
        """(ended, started): a block takes outstanding set x to (x & ~ended) | started."""
        ended = started = 0
        for i in block:
            op = ops[i]
            if isinstance(op, Op) and op.op in _WAITS:
                gone = ends.get((_WAITS[op.op], op.dir, op.ch), 0)
                ended, started = ended | gone, started & ~gone
            elif i in bit_of:
                ended, started = ended & ~bit_of[i], started | bit_of[i]
        return ended, started

    effects = [effect(block) for block in blocks]
    # Forward to a fixed point: each block's classes at entry (None: not reached yet), from its predecessors'
    ins: list[dict | None] = [None] * len(blocks)
    if blocks:
        ins[0] = {frozenset(): 0}
    changed, passes = True, 0
    while changed:
        changed, passes = False, passes + 1
        if passes > _MAX_PASSES:
            return  # (not settled: refuse nothing rather than guess)
        for k in sorted(reachable):
            incoming = {frozenset(): 0} if k == 0 else None
            for p, literals in pred[k]:
                if ins[p] is not None:
                    ended, started = effects[p]
                    out = {classes: (bits & ~ended) | started for classes, bits in ins[p].items()}
                    incoming = _join(incoming, _along(out, literals))
            if incoming != ins[k]:
                ins[k], changed = incoming, True
    for k in sorted(reachable):
        if ins[k] is None:
            continue
        classes = dict(ins[k])
        certain = _certain(classes)
        for i in blocks[k]:
            op = ops[i]
            if not isinstance(op, Op):
                continue
            if certain:
                _check(fn, values, known, certain, i, op)
            if op.op in _WAITS:
                gone = ends.get((_WAITS[op.op], op.dir, op.ch), 0)
                classes = {c: bits & ~gone for c, bits in classes.items()}
                certain = _certain(classes)
            elif i in bit_of:
                classes = {c: bits | bit_of[i] for c, bits in classes.items()}
                certain = _certain(classes)


#: Path classes kept apart at one place before they are merged into one (`_MERGED`), whose paths' literals
#: are no longer known
_MAX_CLASSES = 32
_MERGED = None
#: The truth of a back edge's literal: not a condition, a loop's later trips (`_along`)
AROUND = "around"
#: The truth of a loop's exit edge at its first test that the loop's counter always passes: only the paths
#: that came around the loop's back edge take it (`_entered_loops`, `_along`)
ONLY_AROUND = "only around"
#: Passes over the blocks before the analysis gives up (each pass only drops transfers from classes or adds
#: classes, so it settles; a bound all the same, for the merges)
_MAX_PASSES = 100


def _along(state: dict, literals: tuple) -> dict:
    """`state`'s path classes along an edge that adds `literals`: (condition key, its truth) of a branch on a
    condition of the PE's place (a class whose paths tested it the other way is no path of any PE, and is
    dropped), and (`AROUND`, the loop's header) of a loop's back edge (paths on a later trip of the loop)."""
    for literal in literals:
        key, truth = literal
        out = {}
        for classes, bits in state.items():
            if truth is ONLY_AROUND:  # (a class that never came around the loop has not left it yet)
                if classes is _MERGED or (key, AROUND) in classes:
                    out[classes] = bits
            elif classes is _MERGED:
                out[_MERGED] = bits
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


def _join(a: dict | None, b: dict) -> dict:
    """Paths from two places: a class met on both keeps the transfers outstanding on both (must)."""
    if a is None:
        merged = dict(b)
    else:
        merged = dict(a)
        for classes, bits in b.items():
            merged[classes] = merged[classes] & bits if classes in merged else bits
    if len(merged) > _MAX_CLASSES:
        every = -1
        for bits in merged.values():
            every &= bits
        return {_MERGED: every}
    return merged


def _certain(classes: dict) -> int:
    """The transfers outstanding wherever a PE that reaches this place may come from: on every path (whatever
    its conditions), or on every path of a class that tests at most one condition of the PE's place (`_tests`) (a
    `ws.has_neighbor(d)`, a `px == 0`: the PEs where it holds come only that way, if they come here at all).
    Paths of several such conditions are left out: the compiler cannot tell whether one PE meets them all."""
    every, some = -1, 0
    for literals, bits in classes.items():
        every &= bits
        if literals is not _MERGED and _tests(literals) <= 1:
            some |= bits
    return (every if classes else 0) | some


def _edges(ops: list, blocks: list[list[int]], conditions: "_Conditions", back: set[tuple[int, int]],
           entered: set[int] = frozenset()) -> tuple[list[list[tuple]], set[int]]:
    """Each block's successors with the literals its edge adds (`_along`: a branch on a condition of the PE's
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


def _entered_loops(ops: list, cfg: CFG, values: "_Values") -> set[int]:
    """The headers of the `range` loops whose body every PE enters at least once: the header tests
    `slt t, i, stop` (or `slti`) and branches `bnz t` into the body, `i` is written only by `li i, start` in the
    one block that enters the loop from outside and by an `addi i, i, step` inside the loop, and start < stop
    are numbers the compiler knows (`for k in range(3)`). At the first test `i` is `start`, so the exit there is
    no path of any PE (a wait in the body ends on every path what was posted before the loop)."""
    entered = set()
    for loop in cfg.loops():
        h = loop.header
        block = cfg.blocks[h]
        branch = ops[block[-1]]
        outside = [p for p in cfg.pred[h] if p not in loop.blocks]
        if not (isinstance(branch, Op) and branch.op == "bnz" and isinstance(branch.a, VReg) and len(outside) == 1
                and h + 1 < len(cfg.blocks) and h + 1 not in loop.blocks):
            continue
        tests = values.defs.get(branch.a, [])
        if len(tests) != 1 or cfg.block_of[tests[0]] != h:
            continue
        test = ops[tests[0]]
        if test.op == "slt":
            stop = values.exact(test.b, tests[0])
            stop = None if stop is None or stop[0] is not None else stop[1]
        elif test.op == "slti":
            stop = test.imm
        else:
            continue
        counter = test.a
        if stop is None or not isinstance(counter, VReg) or counter in values.undefined:
            continue
        writes = values.defs.get(counter, [])
        starts = [k for k in writes if ops[k].op == "li" and ops[k].reloc is None]
        steps = [k for k in writes if ops[k].op == "addi" and ops[k].a is counter and ops[k].reloc is None]
        if len(writes) != 2 or len(starts) != 1 or len(steps) != 1:
            continue
        start_block, step_block = cfg.block_of[starts[0]], cfg.block_of[steps[0]]
        if (start_block == outside[0] and step_block in loop.blocks and step_block != h
                and ops[starts[0]].imm < stop):
            entered.add(h)
    return entered


#: Instructions whose result is a function of their operands alone (a condition of the PE's place, computed
#: from its coordinates, neighbours and the kernel's arguments, stays one)
_PURE_INT = frozenset({"add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "sra", "min", "max", "slt",
                       "sle", "seq", "sne", "neg", "abs", "mov", "sel", "addi", "muli", "andi", "ori", "xori", "shli",
                       "shri", "srai", "slti", "seqi"})


class _Conditions:
    """A key for each register that holds a condition of the PE's place: a value fixed for the whole run of a
    PE, computed from its special registers (`ws.grid`, thread and block indices), `hasnb`, the kernel's
    arguments and constants, through registers written once; two registers with the same key hold the same
    value on one PE. None for any other register."""

    def __init__(self, ops: list, values: "_Values") -> None:
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


class _Values:
    """What the compiler knows of registers' values: (SRAM segment or None, lowest, highest), for a register
    written once by an instruction whose operands it knows (lowest == highest: one number), or a `range` loop's
    counter copied at the top of the loop's body (`_counter`); None where not known."""

    def __init__(self, ops: list, undefined: frozenset, cfg: CFG) -> None:
        self.ops, self.cfg = ops, cfg
        self.defs: dict[VReg, list[int]] = {}
        for i, op in enumerate(ops):
            if isinstance(op, Op):
                written = op.writes()
                if written is not None:
                    self.defs.setdefault(written, []).append(i)
        self.undefined = undefined
        self.memo: dict[VReg, tuple | None] = {}

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
                return _plus(a, (op.reloc, op.imm, op.imm))
            if a[0] is not None:
                return None
            factor = op.imm if name == "muli" else 1 << (op.imm & 31)
            return (None, *sorted((a[1] * factor, a[2] * factor)))
        if name in ("add", "sub", "mul"):
            a, b = self.of(op.a, i), self.of(op.b, i)
            if a is None or b is None:
                return None
            if name == "add":
                return _plus(a, b)
            if name == "sub":
                if b[0] is not None and a[0] != b[0]:
                    return None  # (a number less an address; addresses of two segments)
                return a[0] if b[0] is None else None, a[1] - b[2], a[2] - b[1]
            if a[0] is None and b[0] is None and a[1] == a[2] and b[1] == b[2]:
                return None, a[1] * b[1], a[1] * b[1]
        return None

    def _counter(self, i: int, reg) -> tuple | None:
        """The values of a `range` loop's counter `reg` copied (instruction i) at the top of the loop's body:
        [start, stop - 1], where `reg` is written by `li reg, start` and by `addi reg, reg, step` (step > 0,
        run once a trip), the body is entered only where `slt t, reg, stop` (or `slti`) holds, just tested,
        and stop + step <= 2**31 (no value wraps past the test)."""
        if not isinstance(reg, VReg) or reg in self.undefined:
            return None
        defs = [self.ops[k] for k in self.defs.get(reg, [])]
        starts = [d for d in defs if d.op == "li" and d.reloc is None]
        steps = [k for k in self.defs.get(reg, []) if self.ops[k].op == "addi" and self.ops[k].a is reg
                 and self.ops[k].reloc is None and self.ops[k].imm > 0]
        if len(defs) != 2 or len(starts) != 1 or len(steps) != 1:
            return None
        cfg = self.cfg
        body = cfg.block_of[i]
        written = self.defs[reg]
        if len(cfg.pred[body]) != 1 or any(cfg.blocks[body][0] <= k < i for k in written):
            return None
        test_block = cfg.pred[body][0]
        branch = self.ops[cfg.blocks[test_block][-1]]
        if not (isinstance(branch, Op) and branch.op == "bnz" and cfg.block_of.get(self._label_index(branch.target))
                == body and isinstance(branch.a, VReg) and len(self.defs.get(branch.a, [])) == 1):
            return None
        at = self.defs[branch.a][0]
        test = self.ops[at]
        if test.op == "slt" and test.a is reg:
            stop = self.exact(test.b, at)
            stop = None if stop is None or stop[0] is not None else stop[1]
        elif test.op == "slti" and test.a is reg:
            stop = test.imm
        else:
            return None
        if (stop is None or cfg.block_of[at] != test_block or any(at < k < cfg.blocks[test_block][-1] for k in written)
                or stop + self.ops[steps[0]].imm > 2**31 or not self._same_loops(cfg.block_of[steps[0]], test_block)):
            return None
        first = starts[0].imm
        return (None, first, stop - 1) if first <= stop - 1 else None

    def _label_index(self, label) -> int | None:
        if not hasattr(self, "_labels"):
            self._labels = {op: k for k, op in enumerate(self.ops) if isinstance(op, Label)}
        return self._labels.get(label)

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
        address = _plus(self.of(base, at), (reloc, imm, imm))
        count = (None, words) if length is None else self.exact(length, at)
        if address is None or address[0] != "local" or count is None or count[0] is not None or count[1] <= 0:
            return None
        return address[1], address[2], count[1]


def _plus(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None or (a[0] is not None and b[0] is not None):
        return None
    return a[0] or b[0], a[1] + b[1], a[2] + b[2]


def _footprint(values: _Values, i: int, op: Op) -> list[tuple[int, int, int, int]]:
    """(lowest start, highest start, count, _READ | _WRITE) of the local words `op` touches that the compiler
    knows (`_Values.span`)."""
    name, found = op.op, []

    def add(base, length, how: int, imm: int = 0, reloc: str | None = None, words: int = 0) -> None:
        span = values.span(i, base, imm, reloc, length, words)
        if span is not None:
            found.append((*span, how))

    if name == "ld":
        add(op.a, None, _READ, op.imm, op.reloc, words=1)
    elif name == "st":
        add(op.a, None, _WRITE, op.imm, op.reloc, words=1)
    elif name in _ELEMENTWISE:
        add(op.d, op.c, _WRITE | (_READ if name in ("vfma", "vfmaz", "vhfma", "vwfma") else 0))
        add(op.a, op.c, _READ)
        if not op.flags & FLAG_SCALAR:
            add(op.b, op.c, _READ)
    elif name in _UNARY:
        add(op.d, op.c, _WRITE)
        add(op.a, op.c, _READ)
    elif name == "vfill":
        add(op.d, op.c, _WRITE)
    elif name in _REDUCTIONS:
        add(op.a, op.c, _READ)
    elif name == "vdot":
        add(op.a, op.c, _READ)
        add(op.b, op.c, _READ)
    elif name == "vger":
        shape = values.exact(op.c, i)
        if shape is not None and shape[0] is None:
            rows, columns = (shape[1] >> 16) & 0xFFFF, shape[1] & 0xFFFF
            add(op.d, None, _READ | _WRITE, words=rows * columns)
            add(op.a, None, _READ, words=rows)
            add(op.b, None, _READ, words=columns)
    elif name in ("sendv", "senda"):
        add(op.a, op.b, _READ)
    elif name in ("recvv", "recva"):
        add(op.a, op.b, _WRITE)
    elif name in STREAM_OPS:
        add(op.a, op.b, _READ | _WRITE)
    elif name == "gldv":
        add(op.d, op.c, _WRITE)
    elif name == "gstv":
        add(op.b, op.c, _READ)
    elif name == "vcopys":  # (a strided or column copy: each element where the strides and count are known)
        strides, count = values.exact(op.b, i), values.exact(op.c, i)
        if strides is not None and count is not None and strides[0] is None and count[0] is None:
            packed = strides[1] & 0xFFFFFFFF
            for base, step, how in ((op.a, _signed16(packed), _READ), (op.d, _signed16(packed >> 16), _WRITE)):
                if abs(step) == 1 or count[1] == 1:  # (contiguous, as vcopy)
                    add(base, None, how, imm=min(0, step * (count[1] - 1)), words=count[1])
                elif step == 0:
                    add(base, None, how, words=1)
                else:
                    for k in range(min(count[1], _STRIDED_WORDS)):
                        add(base, None, how, imm=k * step, words=1)
    elif name == "vpacknz":  # (the values read; the pairs written are as many as the nonzeros: not known)
        add(op.b, op.c, _READ)
    elif name in ("vspfma", "vspchk"):  # (the pairs read; y and x at the pairs' indices: not known)
        count = values.exact(op.c, i)
        if count is not None and count[0] is None:
            add(op.a, None, _READ, words=2 * count[1])
    return found


#: Elements of a strided copy (`vcopys`) the check looks at, from its first
_STRIDED_WORDS = 4096


def _signed16(bits: int) -> int:
    """The low 16 bits of `bits` as a signed number (a stride of `vcopys`)."""
    bits &= 0xFFFF
    return bits - 0x10000 if bits & 0x8000 else bits


def _check(fn: IRFunction, values: _Values, known: list, outstanding: int, i: int, op: Op) -> None:
    touched = _footprint(values, i, op)
    if not touched:
        return
    for k, (post, first, end) in enumerate(known):
        if not outstanding >> k & 1:
            continue
        posted = fn.ops[post]
        if op.op == posted.op and (op.dir, op.ch) == (posted.dir, posted.ch):
            continue  # (one direction, channel and way: the second runs after the first)
        receiving = posted.op == "recva"
        for lowest, highest, count, how in touched:
            # (wherever between its lowest and highest start it begins, the access meets the slice)
            if highest < end and first < lowest + count and (receiving or how & _WRITE):
                raise _refusal(fn, op, posted, (lowest, highest, count, how), (first, end))


def _refusal(fn: IRFunction, op: Op, posted: Op, access: tuple[int, int, int, int],
             slice_: tuple[int, int]) -> CompileError:
    lowest, highest, count, how = access
    call, wait = _CALLS[posted.op]
    receiving = posted.op == "recva"
    if op.op in _CALLS or op.op in ("sendv", "recvv"):
        doing = {"recva": "receives into", "senda": "sends", "recvv": "receives into", "sendv": "sends"}[op.op]
    else:
        doing = {_READ: "reads", _WRITE: "writes", _READ | _WRITE: "updates"}[how]
    port = f"ws.{PORTS[posted.dir].upper()}"
    where = line_text(posted.line, fn.filename)
    posted_at, place = place_of(posted.line, fn.filename), place_of(op.line, fn.filename)
    if posted_at is not None and place is not None and posted_at[0] == place[0] and "," not in where:
        where = f"line {posted_at[1]}"  # (a line of the same file, not inlined: its number is enough)
    touched = _words(fn, lowest, highest + count)
    if highest > lowest:  # (a loop's counter: a word, or a slice, of these at each trip)
        touched = f"{'words' if count > 1 else 'a word'} of {touched}"
    message = (f"{doing} {touched} while the {call}({port}, channel {posted.ch}) at {where} may still be "
               f"{'receiving into' if receiving else 'sending'} {_words(fn, *slice_)}: on hardware the transfer moves "
               f"its words while the PE goes on, so the two race (the simulator moves every word at the call and "
               f"would not show it); {'use' if receiving else 'change'} the slice after {wait}({port}, channel="
               f"{posted.ch})")
    if place is None:
        return CompileError(f"{fn.filename}: {message}")
    file, line = place
    text = linecache.getline(file, line).rstrip("\n")
    callers = line_text(op.line, fn.filename)
    return CompileError(f"{callers}: {message}" + (f"\n{text}" if text else ""), file=file, line=line)


def _words(fn: IRFunction, lo: int, hi: int) -> str:
    """Local words [lo, hi) as the array's slice they are (`buf[3]`, `buf[0:4]`, words of a 2-D array)."""
    base = 0
    for name, words, shape, *_ in fn.local_arrays:
        if base <= lo < base + words:
            a, b = lo - base, min(hi, base + words) - base
            if len(shape) == 1:
                return f"{name}[{a}]" if b == a + 1 else f"{name}[{a}:{b}]"
            return f"word {a} of {name}" if b == a + 1 else f"words {a}:{b} of {name} (row-major)"
        base += words
    return f"local words {lo}:{hi}"
