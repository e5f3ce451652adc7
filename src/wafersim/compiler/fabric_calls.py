"""Calls that use the fabric in kernels: ws.send, ws.recv and ws.route, with their constant directions,
channels and ports, and the type of each received word (from dtype=, from where its value goes, or from what
every send toward it sends)."""
from __future__ import annotations

import ast

import numpy as np

from ..arch.spec import MAX_CHANNELS
from ..arch.values import is_integer
from ..isa.opcodes import ACCEPT, WORD_TYPE_NAMES, port_mask
from . import intrinsics as wsi
from .core import RecvUse
from .ir import line_text
from .values import (DTYPES, NOT_STATIC, RAW_WORD, GlobalArray, LocalArray, SliceRef, Tup, Unsupported,
                     Val, describe, word_tag)

#: A word sent toward one direction arrives at the neighbour there, which receives it from the opposite one.
#: A routed word (sent to ws.RAMP) is received from ws.RAMP.
_OPPOSITE = {wsi.NORTH: wsi.SOUTH, wsi.SOUTH: wsi.NORTH, wsi.EAST: wsi.WEST, wsi.WEST: wsi.EAST, wsi.RAMP: wsi.RAMP}
_PORT_NAMES = "ws.NORTH, ws.EAST, ws.SOUTH, ws.WEST or ws.RAMP"
_LINK_NAMES = "ws.NORTH, ws.EAST, ws.SOUTH or ws.WEST"


class FabricCallLowering:
    """ws.send, ws.recv and ws.route (a mixin of `CallLowering`, which gives `static`, `expr`, `emit`, ...)."""

    def direction(self, node: ast.expr, ramp: bool = False) -> int:
        """A constant direction; with `ramp`, also ws.RAMP (through this PE's router)."""
        value = self.constant_value(node)
        if is_integer(value) and int(value) in ((0, 1, 2, 3, wsi.RAMP) if ramp else (0, 1, 2, 3)):
            return int(value)
        names = _PORT_NAMES if ramp else _LINK_NAMES
        if is_integer(value):  # a constant, but no direction (`d: ws.constant` passed 9)
            raise Unsupported(f"{value!r} is not a direction: a direction is one of {names}", node)
        if value is not None:  # (1.0, True: a constant of another type, not "not a constant")
            raise Unsupported(f"{value!r} is not a direction: a direction is an int constant (a whole number, not "
                              f"a {type(value).__name__}), one of {names}", node)
        raise Unsupported(f"a direction must be an int constant: {names}"
                          + ("; one chosen when the kernel runs cannot be: branch, `if c: ws.send(ws.EAST, v)` "
                             "`else: ws.send(ws.WEST, v)` (a PE's link is fixed in its instruction)"
                             if isinstance(node, ast.IfExp) else ""), node)

    def constant_value(self, node: ast.expr) -> object:
        """The value of `node` if it is a constant (of any type), else None."""
        value = self.static(node)
        if value is NOT_STATIC:
            value = self.expr(node)
            value = value.const if isinstance(value, Val) and value.is_const else None
        return value

    def constant_int(self, node: ast.expr) -> int | None:
        value = self.constant_value(node)
        return int(value) if is_integer(value) else None

    def channel(self, kwargs, node: ast.expr | None = None) -> int:
        if node is None and "channel" not in kwargs:
            return 0
        node = kwargs["channel"] if node is None else node
        value = self.static(node)
        if is_integer(value) and 0 <= value < MAX_CHANNELS:
            return int(value)
        if is_integer(value):
            raise Unsupported(f"{int(value)} is not a channel: a channel is an int constant from 0 to "
                              f"{MAX_CHANNELS - 1}", node)
        if isinstance(value, (bool, float, str, np.floating, np.bool_)):
            raise Unsupported(f"{value!r} is not a channel: a channel is an int constant (a whole number, not a "
                              f"{type(value).__name__}) from 0 to {MAX_CHANNELS - 1}", node)
        raise Unsupported(f"the channel must be an int constant from 0 to {MAX_CHANNELS - 1}; "
                          f"`{ast.unparse(node)}` is known only when the kernel runs (a `range` loop's variable "
                          f"is one): loop over a tuple instead, `for i in (0, 1, 2, 3):`, which is unrolled so "
                          f"that `i` is a constant in each copy of the body, or pass it as a `ws.constant` "
                          f"parameter (a route's channel is fixed in the instruction, as a CSL color is "
                          f"fixed when the program is compiled)", node)

    def ports(self, node: ast.expr, what: str) -> int:
        """The bit mask of a constant port or tuple of ports (() for none)."""
        value = self.static(node)
        try:
            return port_mask(value if isinstance(value, tuple) else (value,))
        except (TypeError, ValueError):
            raise Unsupported(f"ws.route {what}= must be a constant port ({_PORT_NAMES}) or a tuple of them",
                              node) from None

    def route(self, args, kwargs) -> None:
        """ws.route(channel, rx, tx): this PE's router sends words of `channel` arriving from `rx` to `tx`."""
        if len(args) + len(kwargs) != 3 or len(args) < 1:
            raise Unsupported("ws.route(channel, rx, tx) takes a channel, the input port(s) and the output port(s)")
        named = dict(zip(("rx", "tx"), args[1:])) | kwargs
        if set(named) != {"rx", "tx"}:
            raise Unsupported("ws.route(channel, rx, tx) takes a channel, the input port(s) and the output port(s)")
        rx = self.ports(named["rx"], "rx")
        if not rx:
            raise Unsupported("ws.route rx= names no input port", named["rx"])
        self.emit("route", ch=self.channel({}, args[0]), a=rx, b=self.ports(named["tx"], "tx") | ACCEPT)
        return None

    def send(self, node, args, kwargs) -> None:
        if len(args) != 2:
            raise Unsupported("ws.send(direction, value, channel=0) takes a direction and a value")
        direction, channel = self.direction(args[0], ramp=True), self.channel(kwargs)
        value = self.expr(args[1])
        # Each word is tagged with its type: a receive that reads it as another type stops the kernel
        # (a WordTypeError) instead of reinterpreting its bits.
        if isinstance(value, SliceRef):
            base, length = self.slice_registers(value)
            self.emit("sendv", dir=direction, ch=channel, a=base, b=length,
                      flags=self.word_tag_here(word_tag(value.array.dtype)))
        elif isinstance(value, Val):
            self.emit("send", dir=direction, ch=channel, a=self.reg_of(value),
                      flags=self.word_tag_here(word_tag(value.ty)))
        else:
            hint = {LocalArray: ": send a slice of it, `buf[0:n]` (of a 2-D array a row, `t[i, 0:n]`)",
                    GlobalArray: ": copy it into a local array and send a slice of that",
                    Tup: ": send its items one at a time"}.get(type(value), "")
            raise Unsupported(f"cannot send {describe(value)}{hint}")
        # A word received without dtype= and sent on (forwarded) says nothing about what is sent.
        if not (isinstance(value, Val) and value.reg in self.untyped_recv_regs):
            ty = value.ty if isinstance(value, Val) else value.array.dtype
            self.sent.setdefault((direction, channel), {}).setdefault(ty, self.line)
        return None

    def recv(self, node, args, kwargs) -> Val | None:
        if len(args) != 1:
            into = ("; a slice to fill goes by name: ws.recv(direction, out=buf[i:j])"
                    if len(args) == 2 and isinstance(args[1], ast.Subscript) else "")
            raise Unsupported(f"ws.recv(direction, channel=0) takes one direction{into}")
        direction, channel = self.direction(args[0], ramp=True), self.channel(kwargs)
        bitcast = self.bitcast_flag(kwargs)
        if "out" in kwargs:
            target = self.expr(kwargs["out"])
            if not isinstance(target, SliceRef) or not isinstance(target.array, LocalArray):
                raise Unsupported("recv(out=...) needs a slice of a local array")
            if "dtype" in kwargs:
                raise Unsupported("recv(out=...) takes the slice's dtype: pass no dtype=", kwargs["dtype"])
            base, length = self.slice_registers(target)
            tag = RAW_WORD if bitcast else self.word_tag_here(word_tag(target.array.dtype))
            self.emit("recvv", dir=direction, ch=channel, a=base, b=length, flags=tag)
            return None
        if bitcast and "dtype" not in kwargs:
            raise Unsupported("ws.recv(..., bitcast=True) needs dtype= (the type to read the bits as)",
                              kwargs["bitcast"])
        # Words arrive untyped: the type comes from dtype=, else from where the value goes (an int32 variable
        # it is assigned or added to, an int32 array element it is stored in), else from what every send
        # toward this recv sends (all PEs run this program), else float32.
        key = (direction, channel)
        if id(node) in self.recv_types:
            ty, how = self.recv_types[id(node)], "context"
        elif key in self.fabric_types:
            ty, how = self.fabric_types[key], "fabric"
        else:
            ty, how = "f32", "default"
        if "dtype" in kwargs:
            how = "dtype"
            dtype = self.static(kwargs["dtype"])
            if dtype is NOT_STATIC:
                dtype = self.expr(kwargs["dtype"])  # e.g. values.dtype of an array argument
            try:
                ty = DTYPES[np.dtype(dtype)]
            except (TypeError, KeyError, ValueError):
                raise Unsupported("recv dtype= must be np.float32 or np.int32 (or an array's .dtype)",
                                  kwargs["dtype"]) from None
        word = self.result("recv", ty, dir=direction, ch=channel,
                           flags=RAW_WORD if bitcast else self.word_tag_here(word_tag(ty)))
        self.received.append(RecvUse(key, ty, how, node, self.source))
        if how != "dtype":
            self.untyped_recv_regs.add(word.reg)
        return word

    def bitcast_flag(self, kwargs) -> bool:
        """ws.recv's bitcast=: a constant bool; True reads the word's bits as they are, whatever its tag."""
        if "bitcast" not in kwargs:
            return False
        value = self.static(kwargs["bitcast"])
        if not isinstance(value, bool):
            raise Unsupported("bitcast= must be the constant True or False", kwargs["bitcast"])
        return value

    def fabric_inference(self) -> dict[tuple[int, int], str]:
        """For each (direction, channel) of recv: the one type every send toward it sends, if there is one.
        A word sent east on a channel is received by the east neighbour from the west on that channel."""
        return {(_OPPOSITE[d], ch): next(iter(kinds)) for (d, ch), kinds in self.sent.items() if len(kinds) == 1}

    def needs_fabric_types(self, inferred: dict[tuple[int, int], str]) -> bool:
        """Whether a recv took float32 by default where every send toward it sends another type."""
        return any(use.how == "default" and inferred.get(use.key, use.ty) != use.ty for use in self.received)

    def check_half_words(self, inferred: dict[tuple[int, int], str]) -> None:
        """A scalar recv (typed by where its value goes, or by default) whose every send toward it sends
        16-bit words, slices of a float16 or bfloat16 array: a scalar receive reads an int32 or float32
        word, so it could only stop with a WordTypeError; refuse it here, saying how to take such words."""
        for use in self.received:
            sent = inferred.get(use.key)
            if use.how in ("context", "default", "fabric") and sent in ("f16", "bf16"):
                line = self.sent[(_OPPOSITE[use.key[0]], use.key[1])][sent]
                self.source = use.source
                raise self.error(use.node, f"every ws.send toward this ws.recv() sends {WORD_TYPE_NAMES[sent]} words "
                                           f"(a slice of a {WORD_TYPE_NAMES[sent]} array, at "
                                           f"{line_text(line, self.filename)}), but a scalar receive reads an int32 "
                                           f"or float32 word: receive them into a slice of a {WORD_TYPE_NAMES[sent]} "
                                           f"local array, ws.recv(d, out=buf[a:b]) (or pass dtype= and bitcast=True "
                                           f"to read a word's bits)")

    def check_fabric_types(self, inferred: dict[tuple[int, int], str]) -> None:
        """A recv typed by where its value goes, while every send toward it sends another type: the words
        would be reinterpreted, so ask for an explicit dtype=."""
        for use in self.received:
            sent = inferred.get(use.key)
            if use.how == "context" and sent is not None and sent != use.ty:
                line = self.sent[(_OPPOSITE[use.key[0]], use.key[1])][sent]
                self.source = use.source
                raise self.error(use.node, f"this ws.recv() would read its word as {WORD_TYPE_NAMES[use.ty]} (from where "
                                           f"the value goes), but every ws.send toward it sends {WORD_TYPE_NAMES[sent]} "
                                           f"(at {line_text(line, self.filename)}); say which with dtype= (np.int32 "
                                           f"or np.float32)")

