"""Neighbour send and receive in the compiled interpreter: scalar words (`send`, `recv`), vector
transfers (`sendv`, `recvv`) and the stream ops (`vaddx`, `vmaxx`, `vminx`, and on float16 `vhaddx`, ..., with a
neighbour input and a neighbour or no output), with the NumPy engine's arithmetic (sim/exchange.py, `_push`,
`_pop` and the word-by-word movers `_stream_words` and sim/stream_ops.py's reference), its back-pressure,
word-type tags (sim/wordtypes.py) and stall.
The transfer itself is `transfers.transfer` (called by `interpreter.run_group` for one PE, compiled without
reference counting), or for a scalar word in the common case `scalar_transfers.scalar_transfer` (tried first: a
short path); this module holds their state's layout, the parking of sleeping PEs and the ring arithmetic.

The fabric model is timestamp-based -- a word departs at max(ready, when its slot was freed), is taken at
max(ready, its arrival) -- so a PE's results do not depend on when, in host order, it runs, only on the
words it finds: a PE runs until its FIFO is empty (receive) or full (send), then *parks* (`parked[i]`:
the FIFO and what it waits for) and the interpreter runs others; a push or pop on that FIFO moves it to
the `ready` stack (the work list the interpreter drains), so no PE is ever re-tested in vain.

The FIFOs of a wave are stacked (`FabricState`, sim/compiled/fabric_state.py): per FIFO number f,
time[f, slot, PE], value[f, slot, PE] (a ring of `value.shape[1]` slots, maybe shallower than the
FIFO: a push that would overflow it is refused, and the NumPy engine deepens it), pushed/popped[f, PE], tags[f,
slot, PE] with meta[f] = (uniform tag or -1, whether tags are per slot, flat offset from a FIFO's owner to its
sender, pushes | pops seen, the deepest queue a push refused for a too shallow value ring wanted, the words it
holds over every PE while its tags are per slot). All times are
whole cycles here (the interpreter only runs then), so float64 arithmetic stored into float32 arrays is exact.
"""
from __future__ import annotations

from ...isa import opcodes
from .jit import njit
from .kinds import K_SEND, K_SENDV, K_VADDX
from .table import DIR, FIFO, KIND, OUT_FIFO

WOKEN = -1  # the pc of a segment of woken PEs, each resuming at its own pc (`interpreter.run_group`)
WOKEN_PCS = 8  # woken PEs of a batch at more distinct pcs than this run each alone
#: Bit of `parked[pe]` marking a resident sleeper: a PE asleep in the scheduler between calls, registered by
#: `register_sleepers` (below it, what the PE waits for: FIFO * 2 + (0: a push, 1: a pop)).
RESIDENT = 1 << 40
WAITS = RESIDENT - 1  # (parked[pe] & WAITS: what a parked PE waits for, resident or not; -1 gives no FIFO's code)

# Columns of the per-FIFO `meta` array.
UNIFORM, PER_SLOT, SENDER_OFFSET, MOVED, WANTS_ROOM, HELD = 0, 1, 2, 3, 4, 5
META_COLUMNS = 6
PUSHED, POPPED = 1, 2  # bits of meta[f, MOVED]
RAW = 0  # the untyped word tag (isa.opcodes.WORD_TAG["raw"]): never checked against a type, only a chain's
# A collective chain's tags: CHAIN_TAGS < tag < CHAIN_END (`isa.opcodes.is_chain_tag`). Numbers here, as RAW:
# the machine code inlines them, and isa/opcodes.py is none of the sources `numba_cache` hashes (so checked).
CHAIN_TAGS, CHAIN_END = 4, 9
assert (RAW, CHAIN_TAGS, CHAIN_END) == (opcodes.WORD_TAG["raw"], opcodes.CHAIN_TAGS, len(opcodes.WORD_TYPES))


@njit(cache=True, inline="always")
def ring_slot(k, size):
    """k % size for a word number k >= 0 (a mask for the usual power-of-two sizes: no division)."""
    return k & (size - 1) if size & (size - 1) == 0 else k % size


@njit(cache=True, inline="always")
def refuses(tag, got):
    """Whether a receive of `tag` refuses a word tagged `got` (-1: none pushed, taken): `wordtypes.refuses`, a
    type's or a chain's line crossed (raw words and receives are the kernel's, never a collective chain's)."""
    if got == tag or got == -1:
        return False
    if (CHAIN_TAGS < got < CHAIN_END) != (CHAIN_TAGS < tag < CHAIN_END):
        return True
    return got != RAW and tag != RAW


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def drained_to_uniform(meta, f):
    """Before a push into FIFO f: where its words carry tags per slot but no PE holds a word (meta's HELD), the
    words from now on carry one tag again, the push's (`WordTags.needs_marking`: a kernel's words and a
    collective's, each drained before the other is sent, keep none)."""
    if meta[f, PER_SLOT] != 0 and meta[f, HELD] == 0:
        meta[f, PER_SLOT], meta[f, UNIFORM] = 0, -1


@njit(cache=True, nogil=True, _nrt=False)
def held_words(pushed, popped, f):
    """The words FIFO f holds, over every PE (meta's HELD, counted where its tags turn per slot)."""
    held = 0
    for pe in range(pushed.shape[1]):
        held += pushed[f, pe] - popped[f, pe]
    return held


@njit(cache=True, nogil=True, _nrt=False, forceinline=True)
def wake(woken, parked, resume, ready, ready_top, joined, joined_top):
    """The parked PE `woken` goes onto the work list (`ready`); a resident sleeper also joins the call (`joined`),
    as both transfers do (`transfers.transfer`, `scalar_transfers.scalar_transfer`)."""
    if parked[woken] & RESIDENT:
        joined[0, joined_top[0]], joined[1, joined_top[0]] = woken, resume[woken]
        joined_top[0] += 1
    parked[woken] = -1
    ready[ready_top[0]] = woken
    ready_top[0] += 1


@njit(cache=True)
def register_sleepers(sleepers, pc, fields, fabric, resume, cycle, times, counts, can):
    """Register the PEs `sleepers`, blocked at the transfer at `pc` and asleep in the scheduler, as resident
    sleepers of the interpreter (`parked[pe]`: what each waits for, with `RESIDENT`), so that a later call's
    transfers wake exactly those they concern and no call takes in the others. Each one's `times` and
    `counts` entries become its state as a member of a call (its cycle, nothing owed), kept so while it
    sleeps. can[k]: whether sleeper k's FIFO has changed since it blocked (it can progress now: then it is
    not registered)."""
    time, pushed, popped, offsets, parked = fabric[0], fabric[2], fabric[3], fabric[6], fabric[11]
    depth = time.shape[1]
    kind, f = fields[KIND, pc], fields[FIFO, pc]
    for k in range(sleepers.shape[0]):
        s = sleepers[k]
        if kind >= K_VADDX:  # a stream op: it waits for a word of its input, or then for room at its output
            g = fields[OUT_FIFO, pc]
            go = pushed[f, s] > popped[f, s]
            code = 2 * f
            if go and g >= 0:
                owner = s + offsets[fields[DIR, pc]]
                go = pushed[g, owner] - popped[g, owner] < depth
                code = 2 * g + 1
        elif kind == K_SEND or kind == K_SENDV:
            owner = s + offsets[fields[DIR, pc]]
            go = pushed[f, owner] - popped[f, owner] < depth
            code = 2 * f + 1
        else:
            go = pushed[f, s] > popped[f, s]
            code = 2 * f
        can[k] = go
        if not go:
            parked[s] = code | RESIDENT
            resume[s] = pc
            times[s] = cycle[s]
            counts[s] = 0


@njit(cache=True, nogil=True, _nrt=False)  # (no reference counts: as `simple_ops.run_simple_span`)
def woken_segments(ready, base, take, resume, order, seg_pc, seg_lo, seg_hi):
    """Lay out the woken PEs ready[base:base + take] in order[:take] as segments by resume pc (the latest
    woken first within each); returns how many segments. A single PE, or woken PEs at more than
    `WOKEN_PCS` distinct pcs, form one `WOKEN` segment instead (each runs alone from its resume pc)."""
    count = 0
    for k in range(take):
        pc = resume[ready[base + k]]
        s = 0
        while s < count and seg_pc[s] != pc:
            s += 1
        if s == count:
            if count == WOKEN_PCS or take == 1:
                for j in range(take):
                    order[j] = ready[base + take - 1 - j]
                seg_pc[0], seg_lo[0], seg_hi[0] = WOKEN, 0, take
                return 1
            seg_pc[count], seg_hi[count] = pc, 0
            count += 1
        seg_hi[s] += 1  # (its size, for now)
    start = 0
    for s in range(count):
        seg_lo[s], start = start, start + seg_hi[s]
        seg_hi[s] = seg_lo[s]  # (filled below)
    for j in range(take):
        i = ready[base + take - 1 - j]
        s = 0
        while seg_pc[s] != resume[i]:
            s += 1
        order[seg_hi[s]] = i
        seg_hi[s] += 1
    return count


