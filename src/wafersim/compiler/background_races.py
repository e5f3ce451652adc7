"""The compile-time check of background transfers' slices: a local slice read or changed while a background
transfer still moves it (docs/timing.md, "Background transfers").

A `ws.recv_async` slice is defined only after its `ws.recv_wait`, and a `ws.send_async` slice may change only
after its `ws.send_wait`. The simulator moves every word at the call, so a slice read early would show the
finished transfer (and one changed early would not reach the words sent), where hardware races: a silent
wrong answer. This check refuses the cases the compiler can decide, on the front end's IR (device functions
inlined, before the optimisation passes, so that what it refuses does not depend on them):

- a transfer is outstanding at an instruction when every path from the kernel's entry to the instruction
  passes its `recva` / `senda` and no later `rwait` / `swait` of its direction and channel (a forward
  "must" dataflow over the basic blocks; a transfer posted on some paths only is not outstanding);
- the instruction touches local SRAM words that provably overlap the transfer's slice: every address and
  length involved is a number the compiler knows (constants, `ws.constant` parameters, a loop's unrolled
  offsets), not a value known only when the kernel runs;
- it reads or writes a slice being received, or writes a slice being sent (reading a slice being sent is
  fine), including a blocking or background transfer of another direction or channel into or out of it. A
  second transfer on the same direction, channel and way runs after the first on hardware too: not a race.

What it cannot decide it does not refuse: an index known only at run time, or a transfer posted on some
paths only, is not checked (docs/python-supported.md says so).
"""
from __future__ import annotations

import linecache

from ..errors import CompileError
from ..isa.opcodes import FLAG_SCALAR, PORTS, STREAM_OPS
from .ir import IRFunction, Label, Op, VReg, basic_blocks, line_text, place_of
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


def check_background_slices(fn: IRFunction) -> None:
    """Raise a `CompileError` at the first instruction that provably reads or changes a local slice while a
    background transfer moves it (module docstring)."""
    ops = fn.ops
    posts = [i for i, op in enumerate(ops) if isinstance(op, Op) and op.op in _CALLS]
    if not posts:
        return
    values = _Values(ops, frozenset(undefined_reads(fn)))  # (a register some path reads unwritten holds 0 there)
    # The transfers whose slice is known: bit k of a set is posts[k]
    known: list[tuple[int, int, int]] = []  # (post index, first word, end word)
    for i in posts:
        span = values.span(ops[i].a, 0, None, ops[i].b)
        if span is not None:
            known.append((i, *span))
    if not known:
        return
    blocks = basic_blocks(ops)
    succ, reachable = _edges(ops, blocks)
    pred: list[list[int]] = [[] for _ in blocks]
    for k, targets in enumerate(succ):
        for s in targets:
            pred[s].append(k)
    everything = (1 << len(known)) - 1
    bit_of = {post: 1 << k for k, (post, _, _) in enumerate(known)}
    ends = {}  # wait key -> the bits it ends
    for k, (post, _, _) in enumerate(known):
        ends.setdefault((ops[post].op, ops[post].dir, ops[post].ch), 0)
        ends[(ops[post].op, ops[post].dir, ops[post].ch)] |= 1 << k

    def transfer(block: list[int], outstanding: int, check: bool) -> int:
        for i in block:
            op = ops[i]
            if not isinstance(op, Op):
                continue
            if check and outstanding:
                _check(fn, values, known, outstanding, i, op)
            if op.op in _WAITS:
                outstanding &= ~ends.get((_WAITS[op.op], op.dir, op.ch), 0)
            elif i in bit_of:
                outstanding |= bit_of[i]
        return outstanding

    # Greatest fixed point: a block's transfers at entry are those outstanding at the end of every predecessor
    ins = [everything] * len(blocks)
    outs = [everything] * len(blocks)
    if blocks:
        ins[0] = 0
    changed = True
    while changed:
        changed = False
        for k in sorted(reachable):
            incoming = 0 if k == 0 else everything
            for p in pred[k]:
                if p in reachable:
                    incoming &= outs[p]
            ins[k] = incoming
            out = transfer(blocks[k], incoming, False)
            if out != outs[k]:
                outs[k], changed = out, True
    for k in sorted(reachable):
        transfer(blocks[k], ins[k], True)


def _edges(ops: list, blocks: list[list[int]]) -> tuple[list[list[int]], set[int]]:
    """Successors of each block, and the blocks reachable from the entry."""
    label_block = {ops[b[0]]: k for k, b in enumerate(blocks) if isinstance(ops[b[0]], Label)}
    succ: list[list[int]] = []
    for k, block in enumerate(blocks):
        last = ops[block[-1]]
        targets = []
        if isinstance(last, Op) and last.op in ("bz", "bnz", "jmp"):
            targets.append(label_block[last.target])
            if last.op != "jmp" and k + 1 < len(blocks):
                targets.append(k + 1)
        elif not (isinstance(last, Op) and last.op == "halt") and k + 1 < len(blocks):
            targets.append(k + 1)
        succ.append(targets)
    seen, todo = ({0}, [0]) if blocks else (set(), [])
    while todo:
        for s in succ[todo.pop()]:
            if s not in seen:
                seen.add(s)
                todo.append(s)
    return succ, seen


class _Values:
    """Numbers the compiler knows of registers: a register written once, by an instruction whose operands it
    knows, as (SRAM segment or None, number); None where not known."""

    def __init__(self, ops: list, undefined: frozenset) -> None:
        self.ops = ops
        self.defs: dict[VReg, list[int]] = {}
        for i, op in enumerate(ops):
            if isinstance(op, Op):
                written = op.writes()
                if written is not None:
                    self.defs.setdefault(written, []).append(i)
        self.undefined = undefined
        self.memo: dict[VReg, tuple | None] = {}

    def of(self, reg) -> tuple[str | None, int] | None:
        if isinstance(reg, int):
            return (None, 0) if reg == 0 else None  # (r0)
        if reg in self.memo:
            return self.memo[reg]
        self.memo[reg] = None  # (a register computed from itself is not known)
        defs = self.defs.get(reg, [])
        value = None
        if len(defs) == 1 and reg not in self.undefined:
            value = self._computed(self.ops[defs[0]])
        self.memo[reg] = value
        return value

    def _computed(self, op: Op) -> tuple[str | None, int] | None:
        name = op.op
        if name == "li":
            return op.reloc, op.imm
        if name == "mov":
            return self.of(op.a)
        if name in ("addi", "muli", "shli"):
            a = self.of(op.a)
            if a is None:
                return None
            if name == "addi":
                return _plus(a, (op.reloc, op.imm))
            return (None, a[1] * op.imm if name == "muli" else a[1] << (op.imm & 31)) if a[0] is None else None
        if name in ("add", "sub", "mul"):
            a, b = self.of(op.a), self.of(op.b)
            if a is None or b is None:
                return None
            if name == "add":
                return _plus(a, b)
            if name == "sub":
                if b[0] is None:
                    return a[0], a[1] - b[1]
                return (None, a[1] - b[1]) if a[0] == b[0] else None
            return (None, a[1] * b[1]) if a[0] is None and b[0] is None else None
        return None

    def span(self, base, imm: int, reloc: str | None, length=None, words: int = 0) -> tuple[int, int] | None:
        """[first, end) of the local words at `base + imm` (+ the SRAM segment `reloc`): `words` of them, or as
        many as register `length` holds; None unless the compiler knows both and the address is a local
        array's."""
        address = _plus(self.of(base), (reloc, imm))
        count = (None, words) if length is None else self.of(length)
        if address is None or address[0] != "local" or count is None or count[0] is not None or count[1] <= 0:
            return None
        return address[1], address[1] + count[1]


def _plus(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None or (a[0] is not None and b[0] is not None):
        return None
    return a[0] or b[0], a[1] + b[1]


def _footprint(values: _Values, op: Op) -> list[tuple[int, int, int]]:
    """(first, end, _READ | _WRITE) of the local words `op` touches that the compiler knows."""
    name, found = op.op, []

    def add(base, length, how: int, imm: int = 0, reloc: str | None = None, words: int = 0) -> None:
        span = values.span(base, imm, reloc, length, words)
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
        shape = values.of(op.c)
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
    return found


def _check(fn: IRFunction, values: _Values, known: list, outstanding: int, i: int, op: Op) -> None:
    touched = _footprint(values, op)
    if not touched:
        return
    for k, (post, first, end) in enumerate(known):
        if not outstanding >> k & 1:
            continue
        posted = fn.ops[post]
        if op.op == posted.op and (op.dir, op.ch) == (posted.dir, posted.ch):
            continue  # (one direction, channel and way: the second runs after the first)
        receiving = posted.op == "recva"
        for lo, hi, how in touched:
            if lo < end and first < hi and (receiving or how & _WRITE):
                raise _refusal(fn, op, posted, (lo, hi, how), (first, end))


def _refusal(fn: IRFunction, op: Op, posted: Op, access: tuple[int, int, int], slice_: tuple[int, int]) -> CompileError:
    lo, hi, how = access
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
    message = (f"{doing} {_words(fn, lo, hi)} while the {call}({port}, channel {posted.ch}) at {where} may still be "
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
