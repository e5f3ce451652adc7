"""The local words an instruction touches, and the refusal, for the compile-time check of background transfers'
slices (background_races.py).

`footprint` lists the words each instruction reads or writes that the compiler knows (`Values.span`: lengths it
knows, at addresses it knows or a range of them); `check_access` refuses an instruction whose words provably
overlap a transfer still outstanding: it reads or writes a slice being received, or writes a slice being sent
(reading a slice being sent is fine), including a blocking or background transfer of another direction or
channel into or out of it. A second transfer on the same direction, channel and way runs after the first on
hardware too: not a race. `refusal` words the `CompileError` as the array slices the user wrote.
"""
from __future__ import annotations

import linecache

from ..errors import CompileError
from ..isa.opcodes import FLAG_SCALAR, PORTS, STREAM_OPS
from .background_values import Values
from .ir import IRFunction, Op, line_text, place_of

#: The call that posts each background transfer, and the one that waits for it.
CALLS = {"recva": ("ws.recv_async", "ws.recv_wait"), "senda": ("ws.send_async", "ws.send_wait")}
#: Element-wise vector ops: d[0:c] written (and read, for the accumulating ones), a[0:c] read, b[0:c] read
#: unless `.s` makes b a scalar register.
_ELEMENTWISE = frozenset({"vadd", "vsub", "vmul", "vdiv", "vmin", "vmax", "vfma", "vfmaz", "vhadd", "vhsub", "vhmul",
                          "vhmin", "vhmax", "vhfma", "vwfma"})
_UNARY = frozenset({"vscale", "vcopy", "vcvth", "vcvtf", "vmath"})  # d[0:c] written from a[0:c]
_REDUCTIONS = frozenset({"vredsum", "vredmin", "vredmax"})  # a[0:c] read
_READ, _WRITE = 1, 2


def footprint(values: Values, i: int, op: Op) -> list[tuple[int, int, int, int]]:
    """(lowest start, highest start, count, _READ | _WRITE) of the local words `op` touches that the compiler
    knows (`Values.span`)."""
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


def check_access(fn: IRFunction, values: Values, known: list, outstanding: int, i: int, op: Op) -> None:
    """Raise the `refusal` of instruction i (`op`) if it touches words of a transfer of `known` ((post index,
    first word, end word), bit k of `outstanding` for known[k]) in a way that races (module docstring)."""
    touched = footprint(values, i, op)
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
                raise refusal(fn, op, posted, (lowest, highest, count, how), (first, end))


def refusal(fn: IRFunction, op: Op, posted: Op, access: tuple[int, int, int, int],
             slice_: tuple[int, int]) -> CompileError:
    """The `CompileError` at `op`'s line: it touches `access` ((lowest start, highest start, count, how)) of the
    words `slice_` ([first, end)) that the background transfer `posted` may still move."""
    lowest, highest, count, how = access
    call, wait = CALLS[posted.op]
    receiving = posted.op == "recva"
    if op.op in CALLS or op.op in ("sendv", "recvv"):
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
