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
  kept apart by the conditions of the PE's place they test (background_paths.py, `Conditions`:
  `ws.has_neighbor(d)`, `px == 0`, fixed for a PE's whole run), so that a path testing one both ways, which no
  PE takes, is left out, and a transfer outstanding on every path of the PEs where one such condition holds
  counts too (`certain`): the library GEMV's `if ws.has_neighbor(ws.SOUTH): ws.send_async(...)`, waited under
  the same test. Paths that came around a loop's back edge are a class of their own too: a read at the top of
  a loop of what the end of the trip before posted is refused, though the first trip is fine. A `range` loop
  of known trips, at least one, is left at its first test by no path (`entered_loops`): what its body waits
  for is waited for after it;
- the instruction touches local SRAM words that provably overlap the transfer's slice: every length is a
  number the compiler knows, and every address one (constants, `ws.constant` parameters, a loop's unrolled
  offsets) or a range of them that all overlap it (background_values.py, `Values`: a `range` loop's index at
  the top of its body lies between the start and the stop less one), not a value known only when the kernel
  runs;
- it reads or writes a slice being received, or writes a slice being sent (reading a slice being sent is
  fine), including a blocking or background transfer of another direction or channel into or out of it
  (background_footprints.py: the words each instruction touches, and the refusal). A second transfer on the
  same direction, channel and way runs after the first on hardware too: not a race.

What it cannot decide it does not refuse: an index known only at run time, or a transfer posted under a
condition known only at run time, is not checked (docs/python-supported.md says so).
"""
from __future__ import annotations

from .background_footprints import CALLS, check_access
from .background_paths import Conditions, along, block_edges, certain, entered_loops, join
from .background_values import Values
from .ir import IRFunction, Op
from .passes.cfg import CFG
from .passes.verify import undefined_reads

#: The transfer each wait ends
_WAITS = {"rwait": "recva", "swait": "senda"}
#: Passes over the blocks before the analysis gives up (each pass only drops transfers from classes or adds
#: classes, so it settles; a bound all the same, for the merges)
_MAX_PASSES = 100


def check_background_slices(fn: IRFunction) -> None:
    """Raise a `CompileError` at the first instruction that provably reads or changes a local slice while a
    background transfer moves it (module docstring)."""
    ops = fn.ops
    posts = [i for i, op in enumerate(ops) if isinstance(op, Op) and op.op in CALLS]
    if not posts:
        return
    cfg = CFG(fn)
    values = Values(cfg, frozenset(undefined_reads(fn, cfg)))  # (a register some path reads unwritten: 0)
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
    edges, reachable = block_edges(ops, blocks, Conditions(ops, values), back, entered_loops(cfg, values))
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
    # A block none of whose predecessors' entry classes changed since it was last computed would compute
    # the same again: it is skipped (the same passes, in the same order, with the same results as computing
    # every block in every pass, which was most of the front end's time on kernels of many blocks).
    order = sorted(reachable)
    stale = set(order)  # blocks to compute in this pass or the next
    changed, passes = True, 0
    while changed:
        changed, passes = False, passes + 1
        if passes > _MAX_PASSES:
            return  # (not settled: refuse nothing rather than guess)
        for k in order:
            if k not in stale:
                continue
            stale.discard(k)
            incoming = {frozenset(): 0} if k == 0 else None
            for p, literals in pred[k]:
                if ins[p] is not None:
                    ended, started = effects[p]
                    out = {classes: (bits & ~ended) | started for classes, bits in ins[p].items()}
                    incoming = join(incoming, along(out, literals))
            if incoming != ins[k]:
                ins[k], changed = incoming, True
                stale.update(s for s, _ in edges[k])
    for k in sorted(reachable):
        if ins[k] is None:
            continue
        classes = dict(ins[k])
        outstanding = certain(classes)
        for i in blocks[k]:
            op = ops[i]
            if not isinstance(op, Op):
                continue
            if outstanding:
                check_access(fn, values, known, outstanding, i, op)
            if op.op in _WAITS:
                gone = ends.get((_WAITS[op.op], op.dir, op.ch), 0)
                classes = {c: bits & ~gone for c, bits in classes.items()}
                outstanding = certain(classes)
            elif i in bit_of:
                classes = {c: bits | bit_of[i] for c, bits in classes.items()}
                outstanding = certain(classes)
