"""Control-flow analysis of the IR: basic blocks, edges, dominators, natural loops, definitions.

Outside SSA form a virtual register that holds a Python variable may be written many times. The passes
therefore lean on registers that are written exactly once in the whole function ("single-definition"
registers: temporaries, constants, addresses); their value never changes once written, so moving or
sharing their computation is safe wherever the definition still dominates the uses. In SSA form
(passes/ssa.py) every register is one of those, so the same passes reach every value.

A `CFG` is a snapshot: any pass that inserts or removes instructions builds a new one.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict

from ...isa.opcodes import BY_NAME
from ..ir import BRANCHES, READS_D, REGISTER_FIELDS, IRFunction, Label, Op, Phi, VReg, basic_blocks

#: Per opcode: the register fields it reads, and whether it writes `d` (what `Op.reads`/`Op.writes`
#: compute, tabulated once: the analyses ask for every op many times).
_READ_FIELDS = {name: tuple(f for f in op.operands if f in REGISTER_FIELDS and (f != "d" or name in READS_D))
                for name, op in BY_NAME.items()}
_WRITES_D = {name: "d" in op.operands and name not in READS_D for name, op in BY_NAME.items()}


def read_write(op) -> tuple[list[VReg], VReg | None]:
    """(registers `op` reads, register it writes or None); ([], None) for a label."""
    if not isinstance(op, Op):
        return [], None
    if isinstance(op, Phi):
        return op.reads(), op.writes()
    reads = [v for v in (getattr(op, f) for f in _READ_FIELDS[op.op]) if isinstance(v, VReg)]
    written = op.d if _WRITES_D[op.op] and isinstance(op.d, VReg) else None
    return reads, written


@dataclasses.dataclass
class Loop:
    """A natural loop: its header block, the blocks of its body (header included), its latches."""

    header: int
    blocks: set[int]
    latches: list[int]


class CFG:
    """Blocks of `fn.ops` with successor/predecessor edges, dominators and natural loops."""

    def __init__(self, fn: IRFunction) -> None:
        self.fn = fn
        self.ops = fn.ops
        self.blocks: list[list[int]] = basic_blocks(fn.ops)
        self.block_of: dict[int, int] = {i: k for k, block in enumerate(self.blocks) for i in block}
        label_block = {self.ops[b[0]]: k for k, b in enumerate(self.blocks) if isinstance(self.ops[b[0]], Label)}
        self.succ: list[list[int]] = []
        for k, block in enumerate(self.blocks):
            last = self.ops[block[-1]]
            succ: list[int] = []
            if isinstance(last, Op) and last.op in BRANCHES:
                succ.append(label_block[last.target])
                if last.op != "jmp" and k + 1 < len(self.blocks):
                    succ.append(k + 1)
            elif not (isinstance(last, Op) and last.op == "halt") and k + 1 < len(self.blocks):
                succ.append(k + 1)
            self.succ.append(list(dict.fromkeys(succ)))
        self.pred: list[list[int]] = [[] for _ in self.blocks]
        for k, succ in enumerate(self.succ):
            for s in succ:
                self.pred[s].append(k)
        self.reachable = self._reachable()
        self._dom: list[set[int]] | None = None
        # (registers read, register written) of each op, computed once: the analyses ask many times.
        self.rw: list[tuple[list[VReg], VReg | None]] = [read_write(op) for op in fn.ops]
        self._live_in: list[set[VReg]] | None = None

    def _reachable(self) -> set[int]:
        seen, todo = {0}, [0]
        while todo:
            for s in self.succ[todo.pop()]:
                if s not in seen:
                    seen.add(s)
                    todo.append(s)
        return seen if self.blocks else set()

    @property
    def dom(self) -> list[set[int]]:
        """dom[b]: the blocks on every path from the entry to b (computed on first use)."""
        if self._dom is None:
            self._dom = self._dominators()
        return self._dom

    def _dominators(self) -> list[set[int]]:
        """dom[b]: the blocks that lie on every path from the entry to b (iterative dataflow)."""
        everything = set(range(len(self.blocks)))
        dom = [set(everything) for _ in self.blocks]
        if not self.blocks:
            return dom
        dom[0] = {0}
        order = [k for k in range(len(self.blocks)) if k in self.reachable and k != 0]
        changed = True
        while changed:
            changed = False
            for k in order:
                preds = [dom[p] for p in self.pred[k] if p in self.reachable]
                new = set.intersection(*preds) | {k} if preds else {k}
                if new != dom[k]:
                    dom[k], changed = new, True
        return dom

    def dominates(self, a: int, b: int) -> bool:
        return a in self.dom[b]

    def loops(self) -> list[Loop]:
        """Natural loops (one per header, back edges merged), innermost (smallest) first."""
        bodies: dict[int, set[int]] = {}
        latches: dict[int, list[int]] = defaultdict(list)
        for tail in self.reachable:
            for head in self.succ[tail]:
                if self.dominates(head, tail):  # a back edge
                    body = bodies.setdefault(head, {head})
                    latches[head].append(tail)
                    todo = [tail]
                    while todo:
                        k = todo.pop()
                        if k not in body:
                            body.add(k)
                            todo.extend(p for p in self.pred[k] if p in self.reachable)
        loops = [Loop(h, body, latches[h]) for h, body in bodies.items()]
        return sorted(loops, key=lambda loop: (len(loop.blocks), loop.header))

    def preheader(self, loop: Loop) -> int | None:
        """The single block outside the loop that enters it, if it has no other successor."""
        outside = [p for p in self.pred[loop.header] if p not in loop.blocks]
        if len(outside) != 1 or self.succ[outside[0]] != [loop.header]:
            return None
        return outside[0]

    def insertion_point(self, block: int) -> int:
        """Index in `ops` at which code appended to `block` goes (before its closing jump, if any)."""
        last = self.blocks[block][-1]
        op = self.ops[last]
        return last if isinstance(op, Op) and op.op in BRANCHES else last + 1

    def live_in(self) -> list[set[VReg]]:
        """Registers live on entry to each block (backward dataflow; computed once per CFG)."""
        if self._live_in is not None:
            return self._live_in
        use, define = [], []
        for block in self.blocks:
            u: set[VReg] = set()
            d: set[VReg] = set()
            for i in block:
                reads, written = self.rw[i]
                u.update(r for r in reads if r not in d)
                if written is not None:
                    d.add(written)
            use.append(u)
            define.append(d)
        live: list[set[VReg]] = [set() for _ in self.blocks]
        changed = True
        while changed:
            changed = False
            for k in reversed(range(len(self.blocks))):
                out = set().union(*[live[s] for s in self.succ[k]]) if self.succ[k] else set()
                new = use[k] | (out - define[k])
                if new != live[k]:
                    live[k], changed = new, True
        self._live_in = live
        return live


def definitions(fn: IRFunction, cfg: CFG | None = None) -> dict[VReg, list[int]]:
    """Each virtual register's defining instructions, as indices into `fn.ops` (`cfg`: a current CFG)."""
    defs: dict[VReg, list[int]] = defaultdict(list)
    for i, (_, written) in enumerate(cfg.rw if cfg else _read_write(fn)):
        if written is not None:
            defs[written].append(i)
    return defs


def uses(fn: IRFunction, cfg: CFG | None = None) -> dict[VReg, list[int]]:
    """Each virtual register's reading instructions, as indices into `fn.ops` (`cfg`: a current CFG)."""
    found: dict[VReg, list[int]] = defaultdict(list)
    for i, (reads, _) in enumerate(cfg.rw if cfg else _read_write(fn)):
        for reg in dict.fromkeys(reads):
            found[reg].append(i)
    return found


def _read_write(fn: IRFunction) -> list[tuple[list[VReg], VReg | None]]:
    return [read_write(op) for op in fn.ops]


def new_vreg(fn: IRFunction, ty: str, hint: str, scope: tuple[tuple[str, int], ...] = ()) -> VReg:
    """A fresh virtual register (ids above every id in the function); `scope` as `VReg.scope`."""
    top = getattr(fn, "_next_vreg_id", None)
    if top is None:
        ids = [r.id for op in fn.instructions() for r in (op.d, op.a, op.b, op.c) if isinstance(r, VReg)]
        top = max(ids, default=0) + 1
    fn._next_vreg_id = top + 1  # cached on the function: passes run one after another
    return VReg(top, ty, hint, scope)


def constant_of(op: Op | None) -> int | None:
    """The value a `li` writes, when it is a plain number (not an SRAM address fixed only at layout)."""
    if op is not None and op.op == "li" and op.reloc is None:
        return op.imm
    return None


def phi_operands(fn: IRFunction) -> set[VReg]:
    """In SSA form, the registers some phi reads (loop-carried values and the values they start from).

    Their computations are neither hoisted nor shared (CSE, LICM): computed elsewhere, the operand would
    be live where the phi's result is, and leaving SSA would need a copy costing as much as the
    computation saved (`i + 1` shared with an address `i + 1` computed earlier in the loop makes `i`
    and its next value overlap); a loop would also lose the `li i, start` and `addi i, i, step` that
    unrolling and strength reduction recognise."""
    return {value for op in fn.ops if isinstance(op, Phi) for value in op.reads()}


def rename_registers(fn: IRFunction, hints: dict[VReg, str],
                     scopes: dict[VReg, tuple[tuple[str, int], ...]] | None = None) -> None:
    """Give registers new names (`hints`): each becomes a fresh register with that hint, written and read
    where it was (registers are shared with the pass log's earlier snapshots, so they are never changed
    in place); in SSA form the fresh one is a version of the same original."""
    scopes = scopes or {}
    fresh = {reg: new_vreg(fn, reg.ty, hint, scopes.get(reg, reg.scope)) for reg, hint in hints.items()}
    for reg, new in fresh.items():
        if reg in fn.ssa_origin:
            fn.ssa_origin[new] = fn.ssa_origin[reg]
    fn.rename_rebinds(fresh)
    for op in fn.instructions():
        op.replace_reads(fresh)
        if op.writes() in fresh:
            op.d = fresh[op.d]
