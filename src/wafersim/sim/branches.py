"""Static facts about a program's branches, found once per launch by a reaching-definitions search.

A conditional branch on a register whose every reaching definition is `hasnb dir` branches on
"has a neighbour in `dir`": a fixed function of the PE. The scheduler then splits a given set of lanes
there the same way every time (a stencil's `if ws.has_neighbor(d)` at every step) and memoizes the split
instead of reading the register of every lane again (`WaveSim._branch_split`).
"""
from __future__ import annotations

from ..isa.encoding import Instr
from ..isa.opcodes import STREAM_OPS, VECTOR_OPS

#: Instructions that write register d and no other register (d = 0: none; r0 stays zero).
WRITES_ONLY_D = frozenset({
    "add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "sra", "min", "max", "slt", "sle", "seq",
    "sne", "mov", "neg", "abs", "sel", "addi", "muli", "andi", "ori", "xori", "shli", "shri", "srai", "slti", "seqi",
    "li", "fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "fma", "flt", "fle", "feq", "fne", "fneg", "fabs", "fsqrt",
    "itof", "ftoi", "hasnb", "sreg", "arg", "ld", "recv", "gld"})
#: Instructions that write no register.
WRITES_NONE = frozenset({"nop", "halt", "bz", "bnz", "jmp", "st", "send", "bar", "gbar", "chk", "print", "gst"})
#: ...and vector transfers and ops, which write SRAM, global memory or the fabric only (the memory order's bounds
#: by neighbours, `neighbour_paths`, see through a message's `recvv`, `vscale` and `sendv` with them; the scheduler's
#: memoized splits, `WaveSim._branch_split`, keep `WRITES_NONE`: a key of the lanes at every visit of such a
#: branch cost bitonic and particles 4-7% of a warm launch).
WRITES_NO_REGISTER = WRITES_NONE | frozenset({"sendv", "recvv", "gldv", "gstv"}) | VECTOR_OPS
#: Instructions that write SRAM or nothing, never a register, of every kind (`routed_senders`' proofs; the
#: scheduler's memoized splits of dense groups, `WaveSim._branch_split`: a solver's halo loop, whose
#: `has_neighbor` tests are made once before a loop of vector ops, dot products and stream ops).
WRITES_NO_REGISTER_ANY = WRITES_NO_REGISTER | frozenset({"vspchk", "recva", "rwait", "swait", "senda"}) | STREAM_OPS
#: Instructions that write their register d and nothing else, of every kind (besides `WRITES_ONLY_D`): scalar
#: math and reductions of an SRAM range (a `ws.dot` in a kernel made every register unknown: no proof).
WRITES_ONLY_D_ANY = WRITES_ONLY_D | frozenset({
    "fexp", "flog", "ftanh", "fsin", "fcos", "ftan", "fasin", "facos", "fatan", "fsinh", "fcosh", "fasinh", "facosh",
    "fatanh", "fexpm1", "flog2", "flog10", "flog1p", "fpow", "fatan2", "fhypot", "ffloor", "fceil", "ftrunc",
    "fcopysign", "ffmod", "ffloordiv", "fpymod", "h2f", "f2h", "ferf", "ferfc", "fgamma", "flgamma", "frint", "ffrac",
    "fremainder", "vredsum", "vredmin", "vredmax", "vdot"})


def _successors(pc: int, instr: Instr) -> tuple[int, ...]:
    if instr.op == "halt":
        return ()
    if instr.op == "jmp":
        return (instr.target,)
    if instr.op in ("bz", "bnz"):
        return (instr.target, pc + instr.words)
    return (pc + instr.words,)


def neighbour_branches(decoded: dict[int, Instr], writes_none: frozenset[str] = WRITES_NONE,
                       writes_only_d: frozenset[str] = WRITES_ONLY_D) -> dict[int, int]:
    """pc of each conditional branch whose register always holds `hasnb dir` -> dir.

    Conservative: an instruction not known to leave the register alone (`writes_none`, `writes_only_d`) counts
    as another definition, and reaching the program's entry (registers start at zero) does too."""
    predecessors: dict[int, list[int]] = {}
    for pc, instr in decoded.items():
        for successor in _successors(pc, instr):
            predecessors.setdefault(successor, []).append(pc)
    found = {}
    for pc, instr in decoded.items():
        if instr.op in ("bz", "bnz") and instr.a != 0:
            direction = _only_neighbour_definition(pc, instr.a, decoded, predecessors, writes_none, writes_only_d)
            if direction is not None:
                found[pc] = direction
    return found


def _only_neighbour_definition(pc: int, register: int, decoded: dict[int, Instr],
                               predecessors: dict[int, list[int]], writes_none: frozenset[str],
                               writes_only_d: frozenset[str]) -> int | None:
    """The direction of the `hasnb` that is every definition of `register` reaching `pc`, else None."""
    directions: set[int] = set()
    seen: set[int] = set()
    stack = [pc]
    while stack:
        at = stack.pop()
        if at == 0:
            return None  # the entry: the register's initial zero reaches `pc` on some path
        for before in predecessors.get(at, ()):
            if before in seen:
                continue
            seen.add(before)
            instr = decoded[before]
            if instr.op in writes_none or (instr.op in writes_only_d and instr.d != register):
                stack.append(before)  # the register passes through unchanged
            elif instr.op == "hasnb":
                directions.add(instr.dir)
            else:
                return None  # another definition (or an instruction that may write any register)
            if len(directions) > 1:
                return None
    return directions.pop() if directions else None
