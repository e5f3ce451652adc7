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
"""
from __future__ import annotations

from typing import Optional

from ..isa.encoding import Instr
from ..isa.opcodes import RAMP, SPECIAL_REGISTERS, STREAM_OPS
from .branches import WRITES_NONE, WRITES_ONLY_D

#: Instructions that write SRAM or nothing, never a register (besides `branches.WRITES_NONE`).
_NO_REGISTER = WRITES_NONE | frozenset({
    "sendv", "recvv", "gstv", "gldv", "vadd", "vsub", "vmul", "vmin", "vmax", "vfma", "vscale", "vcopy", "vfill",
    "vdiv", "vfmaz", "vspfma", "vspchk", "vhadd", "vhsub", "vhmul", "vhmin", "vhmax", "vhfma", "vwfma", "vcvth",
    "vcvtf", "vmath", "vcopys", "vger"}) | STREAM_OPS
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
# A state: (the path's threadIdx equalities as sorted (axis, k) pairs, a value per register).
State = tuple[tuple[tuple[int, int], ...], tuple[Value, ...]]


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
    """The abstract value an instruction in `WRITES_ONLY_D` writes to d."""
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


def _successors(pc: int, instr: Instr, state: State) -> list[tuple[int, State]]:
    """The states after `instr` at `pc`, with the pc each goes to (a branch: both edges that can run)."""
    pins_t, regs = state
    pins = dict(pins_t)
    op = instr.op
    after = pc + instr.words

    def with_reg(target_pins: Optional[dict[int, int]], register: int, value: Value):
        if target_pins is None:
            return None
        new = list(regs)
        if register != 0:
            new[register] = value
        return tuple(sorted(target_pins.items())), tuple(new)

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
    if op in _NO_REGISTER or (op in WRITES_ONLY_D and instr.d == 0):
        return [(after, state)]
    if op in WRITES_ONLY_D:
        value = _compute(instr, lambda r: _normal(regs[r], pins))
        return [(after, with_reg(pins, instr.d, value))]
    # anything else may write any register
    return [(after, (pins_t, (("c", 0),) + (None,) * (len(regs) - 1)))]


def _join(a: State, b: State) -> State:
    pins = tuple(sorted(set(a[0]) & set(b[0])))
    return pins, tuple(x if x == y else None for x, y in zip(a[1], b[1]))


def sender_conditions(decoded: dict[int, Instr], code_words: int) -> Optional[list[tuple[tuple[int, int], ...]]]:
    """The threadIdx equalities of every path that reaches a routed send (send, sendv with dir = ramp), or
    None when the analysis cannot bound who sends: the program changes routes (`route`, `routr`), sends
    in the background through its router (`senda`), or is too large or tangled for the step budget."""
    if any(i.op in ("route", "routr") or (i.op == "senda" and i.dir == RAMP) for i in decoded.values()):
        return None
    sends = {pc for pc, i in decoded.items() if i.op in ("send", "sendv") and i.dir == RAMP}
    if not sends:
        return []
    registers = 1 + max([getattr(i, f) for i in decoded.values() for f in ("d", "a", "b", "c")] + [0])
    start: State = ((), (("c", 0),) * registers)  # registers start at zero
    seen: dict[int, list[State]] = {0: [start]}
    joined: set[int] = set()
    work = [(0, start)]
    steps = 0
    found: list[tuple[tuple[int, int], ...]] = []
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
            found.append(state[0])
        for to, new in _successors(pc, instr, state):
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
