"""What every launch of a code segment needs to know of it, computed once per code and kept for the next
launches of the same code: the decoded instructions, the registers and channels they use, and the results of
static analyses (`CodeFacts.memo`: the causal-order distances of `memory_order`, the has_neighbor branches of
`branches`). For a program of thousands of instructions each costs milliseconds, which small launches (a
training step makes dozens) would otherwise pay every time.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ..isa.encoding import Instr, decode
from ..isa.float_math import VECTOR_MATH
from ..isa.opcodes import DIRECTIONS, NOWHERE, PORTS, SPECIAL_REGISTERS, STREAM_OPS
from . import facts_store

#: Instructions whose `ch` field names a channel.
CHANNEL_OPS = frozenset({"send", "sendv", "recv", "recvv", "recva", "rwait", "senda", "swait", "route", "routr"}) | STREAM_OPS


class CodeFacts:
    """Facts of one code segment (its bytes: `isa.encoding.code_bytes`). Shared by launches: read only."""

    def __init__(self, code: bytes) -> None:
        self.code = code
        #: pc -> instruction
        self.decoded: dict[int, Instr] = dict(decode(np.frombuffer(code, dtype=np.uint32)))
        #: registers the code uses (r0 included; route's a and b are port masks, not registers)
        self.registers = 1 + max([getattr(i, f) for i in self.decoded.values() for f in i.opcode.operands
                                  if f in ("d", "a", "b", "c")] + [0])
        #: pcs of instructions naming a direction, special register or vmath function out of range (`Launch`
        #: refuses them; the assembler takes a function by number so that a stray word's disassembly reassembles)
        self.bad_fields = tuple(pc for pc, i in self.decoded.items()
                                if ("dir" in i.opcode.operands and i.dir >= (4 if i.op == "hasnb" else len(PORTS)))
                                or ("odir" in i.opcode.operands and i.d not in (*range(len(DIRECTIONS)), NOWHERE))
                                or (i.op == "sreg" and not 0 <= i.imm < len(SPECIAL_REGISTERS))
                                or (i.op == "vmath" and i.b >= len(VECTOR_MATH)))
        #: channels the fabric instructions use
        self.channels = frozenset(i.ch for i in self.decoded.values() if i.op in CHANNEL_OPS)
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """`make()`, computed once per code and `key` (which names whatever else the result depends on)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def kept_memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """`memo`, kept on disk for later processes too (`facts_store`, next to the kernel cache): for an
        analysis of the code alone (`key`, of strings, numbers and tuples and frozensets of them, names it and
        whatever else it depends on) whose result is plain data, which a process's first launch would
        otherwise run again (tens of milliseconds for a program of a thousand instructions)."""
        return self.memo(key, lambda: facts_store.kept(self.code, stable_text(key), make))


def stable_text(key: Any) -> str:
    """`key` as text that is the same in every process (a frozenset's elements sorted: the order of a set of
    strings changes with each process's hash seed) and tells keys apart as their reprs do; anything but
    strings, numbers, None, tuples and frozensets of them refused (a repr could name an address)."""
    if type(key) is tuple:
        return _tuple_text(key)
    if isinstance(key, frozenset):
        return "frozenset{" + ", ".join(sorted(map(stable_text, key))) + "}"
    if key is None or isinstance(key, (str, int, float)):
        return repr(key)
    raise TypeError(f"a kept analysis's key holds a {type(key).__name__}: {key!r}")


@functools.lru_cache(maxsize=256)
def _tuple_text(key: tuple) -> str:
    # (kept: the keys of one launch share a cost table's tuple of a hundred pairs, 0.3 ms to write out each time)
    return "(" + "".join(stable_text(item) + ", " for item in key) + ")"


@functools.lru_cache(maxsize=64)
def code_facts(code: bytes) -> CodeFacts:
    """The facts of a code segment, kept for the last 64 codes launched."""
    return CodeFacts(code)
