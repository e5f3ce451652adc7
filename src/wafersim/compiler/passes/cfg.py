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

from ..ir import _READ_FIELDS, _WRITES_D, BRANCHES, IRFunction, Label, Op, Phi, VReg, basic_blocks


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
        self.size = len(fn.ops)
        self.blocks: list[list[int]] = basic_blocks(fn.ops)
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
        self._idom: list[int | None] | None = None
        self._order: tuple[list[int], list[int]] | None = None  # dominator-tree (entry, exit) numbers
        self._loops: list[Loop] | None = None
        self._live_in: list[set[VReg]] | None = None
        self._live_masks: tuple[list[VReg], list[int]] | None = None  # (registers by bit, each block's mask)

    @classmethod
    def of(cls, fn: IRFunction) -> CFG:
        """A CFG of `fn` for a pass's first analysis, before it changes anything: the one the verifier built
        of these very ops just before the pass, when `run_passes` handed it over (`fn._verified_cfg`, taken
        once: a later CFG of the pass is built afresh), else a new one. With the verifier after every pass,
        this halves the CFGs a compile builds."""
        handed = fn.__dict__.pop("_verified_cfg", None)
        if handed is not None and handed.fn is fn and handed.ops is fn.ops and handed.size == len(fn.ops):
            return handed
        return cls(fn)

    def after_insertions(self, fn: IRFunction, blocks: list[list[int]],
                         rw: list[tuple[list[VReg], VReg | None]]) -> CFG:
        """A CFG of `fn`, whose ops are this CFG's with instructions added that neither branch, halt nor label,
        each in the block of the op before it, and reads rewritten (strength reduction's, once per derived
        variable it reduces), given its `blocks` and `rw` as the caller updated them. Its blocks end as these
        do, so it has these edges, and the dominators and loops found here (they depend on the edges alone):
        they are carried over instead of computed again. Building all of it afresh after each reduction was
        a third to a half of strength reduction's time."""
        new = object.__new__(CFG)
        new.fn, new.ops, new.size, new.blocks, new.rw = fn, fn.ops, len(fn.ops), blocks, rw
        new.succ, new.pred, new.reachable = self.succ, self.pred, self.reachable
        new._idom, new._order, new._loops, new._dom = self._idom, self._order, self._loops, self._dom
        if self._order is not None:
            new._preorder = self._preorder
        new._live_in = new._live_masks = None
        return new

    def __getattr__(self, name: str):
        # `rw`: (registers read, register written) of each op, computed on first use (a CFG built only for
        # its loops, as the layout pass builds one per rewrite, never needs them), then a plain attribute
        # (the analyses read it for every op, many times)
        if name == "rw":
            self.rw: list[tuple[list[VReg], VReg | None]] = _read_write(self.fn)
            return self.rw
        if name == "block_of":  # each op's block (the same: few passes ask, the verifier's CFGs never)
            self.block_of: dict[int, int] = {i: k for k, block in enumerate(self.blocks) for i in block}
            return self.block_of
        raise AttributeError(name)

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
        """dom[b]: the blocks on every path from the entry to b (computed on first use, from `idom`); every
        block for an unreachable b, as the dataflow definition gives (no path constrains it)."""
        if self._dom is None:
            idom = self.idom
            everything = range(len(self.blocks))
            dom: list[set[int] | None] = [None] * len(self.blocks)
            for k in self._tree_preorder():  # a block's immediate dominator comes before it
                parent = idom[k]
                dom[k] = {k} if parent is None else dom[parent] | {k}
            self._dom = [set(everything) if d is None else d for d in dom]
        return self._dom

    @property
    def idom(self) -> list[int | None]:
        """idom[b]: b's immediate dominator (its strict dominator dominated by all the others); None for
        the entry and for unreachable blocks."""
        if self._idom is None:
            self._idom = self._immediate_dominators()
        return self._idom

    def _immediate_dominators(self) -> list[int | None]:
        """Cooper, Harvey and Kennedy, "A simple, fast dominance algorithm" (2001): iterate over the blocks
        in reverse postorder, each block's idom the nearest common dominator of its processed predecessors.
        The same tree as the set-based dataflow, in near-linear time instead of quadratic."""
        n = len(self.blocks)
        idom: list[int | None] = [None] * n
        if not n:
            return idom
        postorder: list[int] = []
        seen = [False] * n
        seen[0] = True
        stack = [(0, iter(self.succ[0]))]
        while stack:
            node, successors = stack[-1]
            for s in successors:
                if not seen[s]:
                    seen[s] = True
                    stack.append((s, iter(self.succ[s])))
                    break
            else:
                stack.pop()
                postorder.append(node)
        number = [-1] * n
        for position, k in enumerate(postorder):
            number[k] = position
        doms = [-1] * n
        doms[0] = 0
        order = postorder[-2::-1]  # reverse postorder without the entry
        pred = self.pred
        changed = True
        while changed:
            changed = False
            for k in order:
                new = -1
                for p in pred[k]:
                    if doms[p] == -1:  # unreachable, or not reached yet in this sweep
                        continue
                    if new == -1:
                        new = p
                        continue
                    a, b = p, new
                    while a != b:
                        while number[a] < number[b]:
                            a = doms[a]
                        while number[b] < number[a]:
                            b = doms[b]
                    new = a
                if doms[k] != new:
                    doms[k] = new
                    changed = True
        for k in order:
            idom[k] = doms[k]
        return idom

    def _tree_preorder(self) -> list[int]:
        """The reachable blocks in a preorder of the dominator tree (children in increasing order)."""
        self._tree_numbers()
        return self._preorder

    def _tree_numbers(self) -> tuple[list[int], list[int]]:
        """(entry number, exit number) of each block in a depth-first walk of the dominator tree (-1 for an
        unreachable block): a dominates b exactly when a's interval holds b's."""
        if self._order is None:
            n = len(self.blocks)
            idom = self.idom
            children: list[list[int]] = [[] for _ in range(n)]
            for k in range(n):
                if idom[k] is not None:
                    children[idom[k]].append(k)
            enter, leave = [-1] * n, [-1] * n
            preorder: list[int] = []
            clock = 0
            stack = [(0, False)] if n else []
            while stack:
                k, done = stack.pop()
                if done:
                    leave[k] = clock
                    clock += 1
                    continue
                enter[k] = clock
                clock += 1
                preorder.append(k)
                stack.append((k, True))
                stack.extend((c, False) for c in reversed(children[k]))
            self._order = (enter, leave)
            self._preorder = preorder
        return self._order

    def dominates(self, a: int, b: int) -> bool:
        """Whether a dominates b (every block dominates an unreachable one, as in `dom`)."""
        enter, leave = self._order or self._tree_numbers()
        if enter[b] < 0:
            return 0 <= a < len(self.blocks)
        return enter[a] >= 0 and enter[a] <= enter[b] and leave[b] <= leave[a]

    def loops(self) -> list[Loop]:
        """Natural loops (one per header, back edges merged), innermost (smallest) first (computed once per
        CFG; the list is the caller's, the loops are shared)."""
        if self._loops is None:
            self._loops = self._natural_loops()
        return list(self._loops)

    def _natural_loops(self) -> list[Loop]:
        bodies: dict[int, set[int]] = {}
        latches: dict[int, list[int]] = defaultdict(list)
        enter, leave = self._tree_numbers()
        for tail in self.reachable:  # (reachable: `dominates` inlined, no unreachable blocks to allow for)
            for head in self.succ[tail]:
                if enter[head] <= enter[tail] and leave[tail] <= leave[head]:  # a back edge
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
        if self._live_in is None:
            registers, live = self.live_masks()
            self._live_in = [_members(mask, registers) for mask in live]
        return self._live_in

    def live_in_of(self, block: int) -> set[VReg]:
        """`live_in()[block]` alone: LICM and strength reduction ask for a loop's header only, and making a set
        of every block's registers was most of their time on kernels of many blocks (a BiCGSTAB with tree
        all-reduces: 7,047 sets made for 20 headers)."""
        if self._live_in is not None:
            return self._live_in[block]
        registers, live = self.live_masks()
        return _members(live[block], registers)

    def live_masks(self) -> tuple[list[VReg], list[int]]:
        """(the registers, by bit position; each block's live-in registers as a mask of those bits)."""
        if self._live_masks is not None:
            return self._live_masks
        # registers as bit positions: each block's upward-exposed reads and writes, then the dataflow over
        # Python ints (set unions of every successor's registers were most of LICM's and strength's time)
        bit: dict[VReg, int] = {}
        registers: list[VReg] = []
        use: list[int] = []
        define: list[int] = []
        rw = self.rw
        for block in self.blocks:
            u = d = 0
            for i in block:
                reads, written = rw[i]
                for reg in reads:
                    mask = bit.get(reg)
                    if mask is None:
                        mask = bit[reg] = 1 << len(registers)
                        registers.append(reg)
                    if not d & mask:
                        u |= mask
                if written is not None:
                    mask = bit.get(written)
                    if mask is None:
                        mask = bit[written] = 1 << len(registers)
                        registers.append(written)
                    d |= mask
            use.append(u)
            define.append(d)
        live = [0] * len(self.blocks)
        succ = self.succ
        changed = True
        while changed:
            changed = False
            for k in reversed(range(len(self.blocks))):
                out = 0
                for s in succ[k]:
                    out |= live[s]
                new = use[k] | (out & ~define[k])
                if new != live[k]:
                    live[k], changed = new, True
        self._live_masks = registers, live
        return self._live_masks


def _members(mask: int, registers: list[VReg]) -> set[VReg]:
    """The registers at the set bits of `mask` (`registers[k]` for bit k)."""
    found: set[VReg] = set()
    text = bin(mask)[:1:-1]  # bit k is character k
    k = text.find("1")
    while k >= 0:
        found.add(registers[k])
        k = text.find("1", k + 1)
    return found


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
    """`read_write` of every op of `fn` (the same, inlined: the analyses build this list for every CFG)."""
    out: list[tuple[list[VReg], VReg | None]] = []
    append = out.append
    read_fields, writes_d = _READ_FIELDS, _WRITES_D
    for op in fn.ops:
        kind = type(op)
        if kind is Op:
            fields = op.__dict__
            name = fields["op"]
            d = fields["d"]
            append(([v for f in read_fields[name] if isinstance(v := fields[f], VReg)],
                    d if writes_d[name] and isinstance(d, VReg) else None))
        elif kind is Label or not isinstance(op, Op):
            append(([], None))
        elif isinstance(op, Phi):
            append((op.reads(), op.writes()))
        else:
            append(read_write(op))
    return out


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
