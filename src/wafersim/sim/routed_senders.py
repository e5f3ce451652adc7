"""Which PEs of a block can hand words to their router: a static analysis that lets routed programs run
in the compiled interpreter when the order of their routed sends cannot matter.

Routed words share links first come, first served in the order the engine runs the sends (`routed`), and
a merging channel queues words at a receiver in that order too. The compiled interpreter lets PEs run
ahead of the NumPy scheduler's order, so that, in general, sends of *different* PEs could run in another
order, or in other groups, than the reference engine runs them. Sends of one PE always run in its program
order, whatever the engine. So when at most one PE of each block ever sends routed words (and no `route`
instruction changes paths while others send), every link and every routed FIFO of a block carries the
words of that one PE only -- routes never leave their block (`routing.trace` refuses them) -- and each
send finds exactly the state the reference engine gives it: results, cycles and statistics are the same.

`sender_conditions` proves that from the code: a path-sensitive abstract interpretation that tracks, per
register, "a constant", "threadIdx.x (or .y)", "1 if threadIdx.x == k (and ...) else 0", or "unknown",
and, per path, the equalities on threadIdx that the branches taken imply. A routed send reached only on
paths that pin threadIdx to one value per axis is executed by one PE per block. Anything it does not
model makes a register unknown (an instruction it does not know: every register), which can only lose a
proof, never give a wrong one.

Several senders in a block are as safe when no two of them share a link or a receiver's FIFO of a channel
(`disjoint_senders`): each link and FIFO then again carries one PE's words, in that PE's program order, as
with the senders of different blocks. A column broadcast from row 0 (a sender per column, its words going
down its own column) is such a program. The PEs that may send are every PE whose threadIdx satisfies the
equalities of some path to a send on the channel (an unpinned axis: all its PEs); their paths are those of
the launch's routes, which nothing changes during the launch (`route` makes the analysis give up).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from ..isa.encoding import Instr
from ..isa.opcodes import RAMP, SPECIAL_REGISTERS
from .branches import WRITES_NO_REGISTER_ANY as _NO_REGISTER, WRITES_ONLY_D_ANY as _ONLY_D

if TYPE_CHECKING:
    from .routing import RouteTables

_TID = {SPECIAL_REGISTERS.index("tid.x"): 0, SPECIAL_REGISTERS.index("tid.y"): 1}
#: States kept apart per pc before those with the same threadIdx equalities are joined into one (then only
#: joined, one state per set of equalities: the analysis terminates).
STATES_PER_PC = 8
#: Abstract steps before the analysis gives up (no proof); far above what kernels of thousands of
#: instructions take.
STEP_BUDGET = 100_000

# Abstract values: ("c", k) a constant; ("t", axis) threadIdx on that axis; ("e", ((axis, k), ...)) 1 when
# every listed threadIdx equality holds, else 0; None unknown.
Value = Optional[tuple]
# A state: (the path's threadIdx equalities as sorted (axis, k) pairs, a value per register, the values of
# SRAM words at constant addresses as sorted (address, value) pairs).
State = tuple[tuple[tuple[int, int], ...], tuple[Value, ...], tuple[tuple[int, Value], ...]]
#: Instructions that write no SRAM word (besides `ld`, `st`, which the analysis follows): anything else may
#: write any word (a vector op's destination is in a register), and the words known are forgotten.
_NO_SRAM_WRITE = frozenset({"nop", "halt", "bz", "bnz", "jmp", "send", "bar", "gbar", "chk", "print", "gst",
                            "sendv", "gstv", "senda", "swait"})


def _int32(value: int) -> int:
    return (int(value) + (1 << 31)) % (1 << 32) - (1 << 31)


def _normal(value: Value, pins: dict[int, int]) -> Value:
    """`value` simplified by the path's equalities (threadIdx known there)."""
    if value is None or value[0] == "c":
        return value
    if value[0] == "t":
        return ("c", pins[value[1]]) if value[1] in pins else value
    left = []
    for axis, k in value[1]:
        if axis in pins:
            if pins[axis] != k:
                return ("c", 0)
        else:
            left.append((axis, k))
    return ("e", tuple(left)) if left else ("c", 1)


def _flag(value: Value) -> Optional[tuple[tuple[int, int], ...]]:
    """The equalities of a 0/1 value ((): always 1), None if it is not such a value or is always 0."""
    if value is None:
        return None
    if value[0] == "e":
        return value[1]
    if value == ("c", 1):
        return ()
    return None


def _equal_to(value: Value, k: int) -> Value:
    """The value of `value == k` (seqi, seq with a constant)."""
    if value is None:
        return None
    if value[0] == "c":
        return ("c", int(value[1] == k))
    if value[0] == "t":
        return ("e", ((value[1], k),))
    if k == 1:  # a 0/1 flag compared with 1 is itself
        return value
    return ("c", 0) if k not in (0, 1) else None


def _compute(instr: Instr, get) -> Value:
    """The abstract value an instruction in `_ONLY_D` writes to d."""
    op = instr.op
    if op == "sreg":
        return ("t", _TID[instr.imm]) if instr.imm in _TID else None
    if op == "li":
        return ("c", _int32(instr.imm))
    if op == "mov":
        return get(instr.a)
    if op == "addi":
        a = get(instr.a)
        return ("c", _int32(a[1] + instr.imm)) if a is not None and a[0] == "c" else None
    if op == "seqi":
        return _equal_to(get(instr.a), _int32(instr.imm))
    if op == "seq":
        a, b = get(instr.a), get(instr.b)
        if b is not None and b[0] == "c":
            return _equal_to(a, b[1])
        if a is not None and a[0] == "c":
            return _equal_to(b, a[1])
        return None
    if op == "and":
        a, b = get(instr.a), get(instr.b)
        if a == ("c", 0) or b == ("c", 0):
            return ("c", 0)
        fa, fb = _flag(a), _flag(b)
        if fa is None or fb is None:
            return None
        both = tuple(sorted(set(fa) | set(fb)))
        return ("e", both) if both else ("c", 1)
    return None


def _pin(pins: dict[int, int], more) -> Optional[dict[int, int]]:
    """`pins` with the equalities `more` added, or None if they contradict it (the path cannot run)."""
    out = dict(pins)
    for axis, k in more:
        if out.get(axis, k) != k:
            return None
        out[axis] = k
    return out


def _successors(pc: int, instr: Instr, state: State, follow_sram: bool) -> list[tuple[int, State]]:
    """The states after `instr` at `pc`, with the pc each goes to (a branch: both edges that can run).
    `follow_sram`: whether SRAM words at constant addresses are followed through `st` and `ld` (False where
    the program receives in the background: a `recva` writes SRAM while the PE runs on)."""
    pins_t, regs, words = state
    pins = dict(pins_t)
    op = instr.op
    after = pc + instr.words
    if op not in _NO_SRAM_WRITE and op not in _ONLY_D and op != "st":
        words = ()  # (it may write any word)

    def with_reg(target_pins: Optional[dict[int, int]], register: int, value: Value):
        if target_pins is None:
            return None
        new = list(regs)
        if register != 0:
            new[register] = value
        return tuple(sorted(target_pins.items())), tuple(new), words

    def address() -> Optional[int]:
        base = _normal(regs[instr.a], pins)
        return _int32(base[1] + instr.imm) if follow_sram and base is not None and base[0] == "c" else None

    if op == "halt":
        return []
    if op == "jmp":
        return [(instr.target, state)]
    if op in ("bz", "bnz"):
        value = _normal(regs[instr.a], pins)
        zero_to = instr.target if op == "bz" else after  # where the register being 0 leads
        nonzero_to = after if op == "bz" else instr.target
        if value is not None and value[0] == "c":
            return [(zero_to if value[1] == 0 else nonzero_to, state)]
        zero = nonzero = None
        if value is None:
            zero, nonzero = with_reg(pins, instr.a, ("c", 0)), state
        elif value[0] == "t":  # threadIdx == 0 exactly when it branches as zero
            zero, nonzero = with_reg(_pin(pins, [(value[1], 0)]), instr.a, ("c", 0)), state
        else:  # a flag: nonzero exactly when all its equalities hold
            zero = with_reg(pins, instr.a, ("c", 0))
            nonzero = with_reg(_pin(pins, value[1]), instr.a, ("c", 1))
        return [(to, s) for to, s in ((zero_to, zero), (nonzero_to, nonzero)) if s is not None]
    if op == "st":
        where = address()
        known = dict(words) if where is not None else {}  # (an address not known: any word may change)
        if where is not None:
            known[where] = _normal(regs[instr.d], pins)
        return [(after, (pins_t, regs, tuple(sorted(known.items()))))]
    if op == "ld":
        where = address()
        value = dict(words).get(where) if where is not None else None
        return [(after, with_reg(pins, instr.d, value))]
    if op in _NO_REGISTER or (op in _ONLY_D and instr.d == 0):
        return [(after, (pins_t, regs, words))]
    if op in _ONLY_D:
        value = _compute(instr, lambda r: _normal(regs[r], pins))
        return [(after, with_reg(pins, instr.d, value))]
    # anything else may write any register (and any word: `words` is already empty)
    return [(after, (pins_t, (("c", 0),) + (None,) * (len(regs) - 1), words))]


def _join(a: State, b: State) -> State:
    pins = tuple(sorted(set(a[0]) & set(b[0])))
    b_words = dict(b[2])
    words = tuple((where, value) for where, value in a[2] if value is not None and b_words.get(where) == value)
    return pins, tuple(x if x == y else None for x, y in zip(a[1], b[1])), words


def sender_conditions(decoded: dict[int, Instr], code_words: int) -> Optional[list[tuple[tuple[int, int], ...]]]:
    """The threadIdx equalities of every path that reaches a routed send (send, sendv with dir = ramp), or
    None when the analysis cannot bound who sends: the program changes routes (`route`, `routr`), sends
    in the background through its router (`senda`), or is too large or tangled for the step budget."""
    by_channel = channel_conditions(decoded, code_words)
    return None if by_channel is None else [pins for found in by_channel.values() for pins in found]


Conditions = list[tuple[tuple[int, int], ...]]


def launch_channel_conditions(launch) -> Optional[dict[int, Conditions]]:
    """`channel_conditions` of a launch's program (`engine.Launch`), found once per code (its `code_facts`, and
    on disk for later processes: `facts_store`)."""
    return launch.facts.kept_memo("routed_senders_by_channel",
                             lambda: channel_conditions(launch.decoded, len(launch.program.code)))


def channel_conditions(decoded: dict[int, Instr], code_words: int) -> Optional[dict[int, Conditions]]:
    """`sender_conditions` per channel: the threadIdx equalities of every path that reaches a routed send on
    that channel (the channel is a constant of each send instruction), or None."""
    if any(i.op in ("route", "routr") or (i.op == "senda" and i.dir == RAMP) for i in decoded.values()):
        return None
    sends = {pc for pc, i in decoded.items() if i.op in ("send", "sendv") and i.dir == RAMP}
    if not sends:
        return {}
    registers = 1 + max([getattr(i, f) for i in decoded.values() for f in ("d", "a", "b", "c")] + [0])
    start: State = ((), (("c", 0),) * registers, ())  # registers start at zero; nothing is known of SRAM
    follow_sram = not any(i.op == "recva" for i in decoded.values())
    seen: dict[int, list[State]] = {0: [start]}
    joined: set[int] = set()
    work = [(0, start)]
    steps = 0
    found: dict[int, Conditions] = {}
    while work:
        steps += 1
        if steps > STEP_BUDGET:
            return None
        pc, state = work.pop()
        if pc >= code_words:
            continue  # falling off the end halts
        instr = decoded.get(pc)
        if instr is None:
            return None  # a jump into the middle of an instruction: nothing is known
        if pc in sends:
            found.setdefault(instr.ch, []).append(state[0])
        for to, new in _successors(pc, instr, state, follow_sram):
            kept = seen.setdefault(to, [])
            if to in joined:  # one state per set of threadIdx equalities (the fact the proof needs)
                same = next((k for k, old in enumerate(kept) if old[0] == new[0]), None)
                if same is None:
                    kept.append(new)
                else:
                    merged = _join(kept[same], new)
                    if merged == kept[same]:
                        continue
                    kept[same] = new = merged
            elif new in kept:
                continue
            elif len(kept) >= STATES_PER_PC:
                by_pins: dict[tuple, State] = {}
                for old in kept + [new]:
                    by_pins[old[0]] = _join(by_pins[old[0]], old) if old[0] in by_pins else old
                kept[:] = list(by_pins.values())
                joined.add(to)
                work.extend((to, merged) for merged in kept)
                continue
            else:
                kept.append(new)
            work.append((to, new))
    return found


def single_sender(conditions: Optional[list[tuple[tuple[int, int], ...]]], block: tuple[int, int]) -> bool:
    """Whether `sender_conditions` proves that at most one PE of each `bx x by` block sends routed words."""
    if conditions is None:
        return False
    extent = {0: block[0], 1: block[1]}
    senders = set()
    for pins in conditions:
        where = dict(pins)
        pe = []
        for axis in (0, 1):
            if axis in where:
                pe.append(where[axis])
            elif extent[axis] == 1:
                pe.append(0)
            else:
                return False  # PEs along that axis of the block may send
        if all(0 <= k < extent[axis] for axis, k in enumerate(pe)):  # (else no PE reaches the send)
            senders.add(tuple(pe))
    return len(senders) <= 1


def broadcast_roots(by_channel: Optional[dict[int, Conditions]], region, channels) -> dict[int, np.ndarray]:
    """For each of `channels` whose routed sends every path pins to one thread of a block on both axes (the same
    threadIdx on every path: a broadcast from a block's root, `collectives.block_broadcast`), the PEs of
    `region` (`layout.WaveRegion`) at that thread, sorted flat indices: who sends there, if anyone does."""
    roots = {}
    for channel in channels:
        found = (by_channel or {}).get(channel)
        pins = {tuple(sorted(dict(path).items())) for path in found or ()}
        if len(pins) != 1 or len(next(iter(pins))) != 2:
            continue
        (_, x), (_, y) = next(iter(pins))
        roots[channel] = np.flatnonzero(region.active & (region.special("tid.x") == x) & (region.special("tid.y") == y))
    return roots


def proven_senders(by_channel: Optional[dict[int, Conditions]], block: tuple[int, int],
                   routes: "RouteTables") -> bool:
    """Whether the routed sends of a program with these `channel_conditions` run in the same order on every
    engine: one sender per block (`single_sender`) or senders with links and receivers of their own
    (`disjoint_senders`, traced on the wave's `routes`)."""
    if by_channel is None:
        return False
    if single_sender([pins for found in by_channel.values() for pins in found], block):
        return True
    return disjoint_senders(by_channel, routes)


#: Receivers and links of a merging channel's potential senders traced at most (a bus over a whole block
#: with a sender at every PE would be a trace per PE; two senders on one bus share its links anyway).
DISJOINT_TRACE_ENTRIES = 1 << 21


def disjoint_senders(by_channel: dict[int, Conditions], routes: "RouteTables") -> bool:
    """Whether the PEs of `routes.region` that may send on each channel of `by_channel` (`channel_conditions`)
    have paths that share no link (on any channel: channels share a link's bandwidth) and no receiver's FIFO
    of a channel with another such PE. False also where a potential sender has no working route (its send
    would fail: nothing to prove) or a merging channel's trace would be too large."""
    from .routed_expansion import expand_rows  # (routing's traces: only routed launches need them)
    region = routes.region
    block_x, block_y = region.placement.block
    x, y = region.xy
    tid = (x % block_x, y % block_y)
    n = region.n
    links: list[tuple[np.ndarray, np.ndarray]] = []  # (link key, the sender whose words cross it)
    fifos: list[tuple[np.ndarray, np.ndarray]] = []  # (channel * n + receiver, the sender whose words it gets)
    for channel, found in sorted(by_channel.items()):
        may_send = np.zeros(n, dtype=bool)
        for pins in set(found):
            here = region.active.copy()
            for axis, k in pins:
                here &= tid[axis] == k
            may_send |= here
        pes = np.flatnonzero(may_send)
        if not len(pes):
            continue
        if channel in routes.merge and len(pes) > 1:
            sample = routes.deliveries(channel, pes[:1])
            if len(pes) * (len(sample.dest) + len(sample.link_pe)) > DISJOINT_TRACE_ENTRIES:
                return False
        table = routes.deliveries(channel, pes)
        rows = table.rows(pes)
        if (rows < 0).any() or (table.broken[rows] >= 0).any():
            return False
        entry, lane = expand_rows(table.start, rows)
        fifos.append((channel * n + table.dest[entry].astype(np.int64), pes[lane]))
        entry, lane = expand_rows(table.link_start, rows)
        links.append((table.link_dir[entry].astype(np.int64) * n + table.link_pe[entry], pes[lane]))
    return _one_owner(links) and _one_owner(fifos)


def _one_owner(parts: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether every key of `parts` ((keys, owners) pairs) has one owner."""
    if not parts:
        return True
    keys = np.concatenate([key for key, _ in parts])
    owners = np.concatenate([owner for _, owner in parts])
    order = np.lexsort((owners, keys))
    keys, owners = keys[order], owners[order]
    same_key = keys[1:] == keys[:-1]
    return not (same_key & (owners[1:] != owners[:-1])).any()
