"""Type tags of fabric words: a send tags its words with the type its instruction names (`send.i32`), a
typed receive checks them (`recv.f32`), and a word received as another type stops the kernel with a
`WordTypeError` naming both PEs and both source lines. `raw` (tag 0: untyped assembly, `bitcast=True`,
`send_nonzeros`) is never checked against a type, only against a collective's chain words (`refuses`: a
`ChainWordError`). Tags cost no simulated cycles.

A FIFO whose words all carry one tag keeps no per-word data (`WordTags.uniform`), so the common program,
which sends one type per channel, pays a comparison per instruction group; a FIFO that has carried two
tags keeps one byte per slot (`WordTags.slots`), written on send and read on typed receives.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import ChainWordError, WaferError, WordTypeError
from ..isa.encoding import Instr
from ..isa.opcodes import (DIRECTIONS, RAMP, STREAM_OPS, WORD_TAG, WORD_TYPE_NAMES, is_chain_tag, stream_word_tag,
                          word_type_name)
from .lanes import Lanes

RAW = WORD_TAG["raw"]
_TAG_MODIFIERS = {name: tag for tag, name in WORD_TYPE_NAMES.items()}  # float32 -> f32: `recv.f32`


def how_to_take(op: str, sent: str) -> str:
    """How a kernel receives a word of type `sent`: a scalar receive says it with dtype=, a slice receive
    (`out=`) takes its array's dtype, and a 16-bit word arrives only into a slice (a scalar receive of
    float16 or bfloat16 is refused)."""
    if op == "recv" and sent in ("int32", "float32"):
        return "dtype="
    if op == "recv":
        return f"into a slice of a {sent} local array, ws.recv(d, out=buf[a:b])"
    return f"out= a slice of a {sent} local array"


class WordTags:
    """The tags of the words of one FIFO."""

    __slots__ = ("depth", "_n", "uniform", "slots", "_fifo")

    def __init__(self, depth: int, n: int, fifo: Callable[[], Any] | None = None) -> None:
        self.depth, self._n = depth, n
        self.uniform: int | None = None  # the tag of every word pushed so far (None: none pushed)
        self.slots: np.ndarray | None = None  # (depth, PEs) uint8, once two tags have been pushed
        self._fifo = fifo  # a weak reference to the FIFO (`Fifo.holds_no_words`)

    def needs_marking(self, tag: int) -> bool:
        """Whether a push of `tag` must write per-slot tags (else it only records the uniform tag). A FIFO
        that holds no word on any PE takes the new tag as its uniform one, per-slot tags or not: every word
        in it from now on is pushed after this (a kernel's halo words and a collective's chain words, each
        received before the other is sent, keep no per-slot tags)."""
        if self.slots is None and self.uniform in (None, tag):
            self.uniform = tag
            return False
        fifo = self._fifo() if self._fifo is not None else None
        if fifo is not None and fifo.holds_no_words():
            self.uniform, self.slots = tag, None
            return False
        return True

    def unchecked(self, tag: int) -> bool:
        """Whether a receive of `tag` takes every word in this FIFO (`refuses` none: no word's tag to check)."""
        if self.slots is not None:
            return False
        uniform = self.uniform
        return uniform is None or uniform == tag or not refuses(tag, uniform)

    def mark(self, before: np.ndarray, after: np.ndarray, tag: int) -> None:
        """Tag the words pushed since the counters were `before` (now `after`)."""
        if self.slots is None:  # the words in flight all carry the uniform tag
            self.slots = np.full((self.depth, len(before)), self.uniform, dtype=np.uint8)
        pes, words = _words_between(before, after, self.depth)
        self.slots[words, pes] = tag

    def read(self, before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(PE, tag) of each word popped since the counters were `before` (now `after`)."""
        pes, words = _words_between(before, after, self.depth)
        if self.slots is None:
            return pes, np.full(len(pes), self.uniform, dtype=np.uint8)
        return pes, self.slots[words, pes]

    def saved(self) -> np.ndarray:
        """The tags as one array for a checkpoint: row 0 the uniform tag (-1: none pushed; -2: per slot), then
        the per-slot tags (when the FIFO keeps them)."""
        head = np.full((1, self._n), -1 if self.uniform is None else self.uniform, dtype=np.int16)
        if self.slots is None:
            return head
        head[:] = -2
        return np.concatenate([head, self.slots.astype(np.int16)])

    def restore(self, saved: np.ndarray) -> None:
        """The inverse of `saved`."""
        head = int(saved[0, 0]) if saved.size else -1
        self.uniform = None if head == -1 else (RAW if head == -2 else head)
        self.slots = saved[1:].astype(np.uint8) if head == -2 else None


def refuses(tag: int, got: Any) -> Any:
    """Whether a receive of `tag` refuses a word tagged `got` (a tag, or an array of them): a typed receive takes
    words of its type and raw ones (untyped assembly, `send_nonzeros`), a raw receive (`bitcast=True`, untyped
    assembly) words of any type, but neither takes a word across the line between a collective's chain words
    and the kernel's own (raw words and raw receives are the kernel's): that is a `ChainWordError` even unchecked
    (the compiled interpreter's copy: `compiled.fabric_ops.refuses`)."""
    other_type = (got != tag) & (got != RAW) & (tag != RAW)
    return other_type | (is_chain_tag(got) != is_chain_tag(tag))


def _words_between(before: np.ndarray, after: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(PE, slot) of every word counted between two copies of a FIFO counter."""
    pes = np.flatnonzero(after != before)
    counts = (after[pes] - before[pes]).astype(np.int64)
    rows = np.repeat(pes, counts)
    first = np.cumsum(counts) - counts
    k = np.arange(len(rows)) - np.repeat(first, counts) + np.repeat(before[pes].astype(np.int64), counts)
    return rows, k % depth


def stream_tag(ins: Instr) -> int:
    """The tag of the words a stream op (`vaddx`, ...) sends and takes: `.f16` (`vhaddx`, ...), `.f32` with its
    `.f` flag, else `.i32`; a collective chain's (`.cf32`, ...) with its `.c` flag."""
    return stream_word_tag(ins.op, ins.flags)


def _a(type_name: str) -> str:
    """`type_name` with its article: "a float32", "an int32"."""
    return f"{'an' if type_name[0] in 'aeiou' else 'a'} {type_name}"


def _where(source: tuple[str, int] | None) -> str:
    return f"{source[0]}:{source[1]}" if source else "a line unknown (no line table)"


class WordTypeMixin:
    """Typed send/recv executors of `WaveSim`, around the exchange ones."""

    def _typed_send(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        fifo = self._fifo(RAMP if ins.dir == RAMP else (ins.dir + 2) % 4, ins.ch)
        if not fifo.tags.needs_marking(ins.flags):
            return self._send(pc, ins, next_pc, cost, lanes)
        before = fifo.pushed.copy()
        out = self._send(pc, ins, next_pc, cost, lanes)
        fifo.tags.mark(before, fifo.pushed, ins.flags)
        return out

    def _typed_recv(self, pc: int, ins: Instr, next_pc: int, cost: float, lanes: Lanes):
        fifo = self._fifo(ins.dir, ins.ch)
        tags = fifo.tags
        if tags.unchecked(ins.flags):
            return self._recv(pc, ins, next_pc, cost, lanes)
        before = fifo.popped.copy()
        out = self._recv(pc, ins, next_pc, cost, lanes)
        pes, got = tags.read(before, fifo.popped)
        wrong = refuses(ins.flags, got)
        if wrong.any():
            # The receiver that took a mistyped word first (then the first in the region): the one a launch
            # reports, whichever receivers the engine ran together.
            candidates = np.flatnonzero(wrong)
            k = int(candidates[np.lexsort((pes[candidates], self.cycle[pes[candidates]]))[0]])
            raise self._word_type_error(pc, ins, int(pes[k]), int(got[k]))
        return out

    def _word_type_error(self, pc: int, ins: Instr, receiver: int, tag: int, stream: str | None = None
                         ) -> WordTypeError:
        """The error for a word tagged `tag` received by the PE `receiver` at `pc` as `ins.flags` (`stream`: the
        stream op that took it, `ins` then the typed receive it stands for)."""
        got, wanted = (word_type_name(t) for t in (tag, ins.flags))
        senders = self._senders_of(ins, receiver)
        send_dir = RAMP if ins.dir == RAMP else (ins.dir + 2) % 4
        send_pcs = [p for p, i in self.launch.decoded.items()
                    if (i.op in ("send", "sendv", "senda") and i.dir == send_dir and i.ch == ins.ch and i.flags == tag)
                    or (i.op in STREAM_OPS and i.d == send_dir and i.ch == ins.ch and stream_tag(i) == tag)]
        # The sends that tag words so: a word's tag does not say which of them sent it (keeping that per word
        # would cost every send), so with several the error names them all rather than the first.
        sender_sources = tuple(dict.fromkeys(source for source in map(self.program.source_of, send_pcs)
                                             if source is not None))
        sender_source = sender_sources[0] if len(sender_sources) == 1 else None
        sent_at = (_where(sender_source) if len(sender_sources) < 2
                   else "one of " + ", ".join(_where(source) for source in sender_sources))
        receiver_xy = self._coords(np.array([receiver]))[0]
        source = self.program.source_of(pc)
        sender_pes = self._coords(np.array(senders, dtype=np.int64))  # (the first 8)
        # (one sender named; several that could have sent it: none, all in `senders`)
        sender_xy = sender_pes[0] if len(senders) == 1 else None
        if sender_xy:
            by = f"PE {sender_xy}"
        elif sender_pes:
            by = "one of PEs " + ", ".join(map(str, sender_pes)) + (" ..." if len(senders) > len(sender_pes) else "")
        else:
            by = f"a PE whose route on channel {ins.ch} reaches it"
        how = DIRECTIONS[ins.dir] if ins.dir != RAMP else "the router (ramp)"
        if is_chain_tag(tag) != is_chain_tag(ins.flags):
            error = self._chain_word_error(pc, ins, receiver_xy, tag, how, by, sent_at, dict(
                pe=receiver_xy, pes=[receiver_xy], pe_count=1, sender=sender_xy, senders=sender_pes, source=source,
                sender_source=sender_source, sender_sources=sender_sources, pc=pc, sent_type=got,
                received_type=wanted, channel=ins.ch))
            error.failing_lanes = np.array([receiver])
            return error
        error = WordTypeError(
            f"PE {receiver_xy} received {_a(got)} word as {wanted} (from {how}, channel {ins.ch}) at {_where(source)}; "
            f"it was sent as {got} by {by} at {sent_at}; "
            + (f"stream it into a slice of a {got} local array (a stream op takes words of its slice's type, with no "
               f"bitcast)" + (f" (in assembly: `{stream}` takes int32 words, `{stream}.f` float32)"
                              if self.program.from_assembly else "") if stream is not None else
               f"receive it as {got} ({how_to_take(ins.op, got)}), or pass bitcast=True to ws.recv to reinterpret "
               f"the bits on purpose"
               + (f" (in assembly: `recv.{_TAG_MODIFIERS.get(got, got)}`, or a raw `recv` with no type modifier, "
                  f"which is never checked)" if self.program.from_assembly else "")),
            pe=receiver_xy, pes=[receiver_xy], pe_count=1, sender=sender_xy, senders=sender_pes, source=source, sender_source=sender_source,
            sender_sources=sender_sources, pc=pc,
            sent_type=got, received_type=wanted, channel=ins.ch)
        error.failing_lanes = np.array([receiver])  # (the scheduler orders failures by their cycles)
        return error

    def _chain_word_error(self, pc: int, ins: Instr, receiver_xy, tag: int, how: str, by: str, sent_at: str,
                          fields: dict) -> ChainWordError:
        """The error for a word of the kernel's own taken by a collective's chain at `pc`, or a chain's word
        taken by the kernel's receive there (the two share a FIFO: plain neighbour words on one channel). A
        collective's instructions are reported at the kernel's line that called it (`LoweringCore.line_of`)."""
        collective_took = is_chain_tag(ins.flags)
        fifo = f"from {how}, channel {ins.ch}"
        if collective_took:
            call = fields["source"]
            message = (f"PE {receiver_xy}: the collective called at {_where(call)} took {_a(fields['sent_type'])} word "
                       f"of the kernel's own ({fifo}), sent by {by} at {sent_at}, where its chain expected a partial "
                       f"result: ")
        else:
            call = fields["sender_source"]
            message = (f"PE {receiver_xy}: the kernel's receive at {_where(fields['source'])} ({fifo}) took a partial "
                       f"result of the collective called at {sent_at} (sent by {by}) where it expected a word of its "
                       f"own: ")
        message += "the collective's chain passes its partial results as plain neighbour words on that FIFO, so "
        message += ("a word of yours sent that way and not received before the call meets the chain's; receive your "
                    "words there before the collective is called" if collective_took else
                    "a receive of yours there meets the chain's words unless its word is sent on the same side of the "
                    "call; send and receive your words there both before the collective is called or both after it")
        message += (", or send them on a channel the collective does not use (docs/kernels.md, \"Collectives and "
                    "your own words\")")
        error = ChainWordError(message, chain_call=call, chain_side="collective" if collective_took else "kernel",
                               **fields)
        return error

    def _senders_of(self, ins: Instr, receiver: int) -> list[int]:
        """The PE(s) whose words reach `receiver` by the receive's direction: the neighbour there, or on a
        routed channel the PEs whose current route delivers to it and that have handed words to their
        router on it since its routes last changed (on a bus every PE's route delivers to every other)."""
        if ins.dir != RAMP:
            return [receiver + self.region.offset(ins.dir)]
        candidates = np.flatnonzero(self.routes.channel(ins.ch)[RAMP] != 0)
        injected = self.injected.get(ins.ch)
        if injected is not None and injected[candidates].any():
            candidates = candidates[injected[candidates] > 0]
        try:
            table = self.routes.deliveries(ins.ch, candidates)
        except WaferError:
            return []
        entries = np.flatnonzero(table.dest == receiver)
        rows = np.searchsorted(table.start, entries, side="right") - 1
        return [int(table.sources[r]) for r in rows]
