"""Background transfers in kernels: `ws.recv_async` / `ws.send_async` start a vector receive / send that runs
while the PE computes (`recva` / `senda`), `ws.recv_wait` / `ws.send_wait` wait for it (`rwait` / `swait`);
see docs/timing.md, "Background transfers"."""
from __future__ import annotations

import ast

from ..isa.opcodes import FLAG_CHAIN, FLAG_FLOAT, NOWHERE, PORTS
from . import intrinsics as wsi
from .values import LocalArray, SliceRef, Unsupported, Val, describe, word_tag


class BackgroundCallLowering:
    """Mixed into `CallLowering`: uses its direction, channel, slice and emission helpers."""

    def background_call(self, callee, node: ast.Call) -> None:
        kwargs = {k.arg: k.value for k in node.keywords}
        usage, opcode, slots = {
            wsi.recv_async: ("ws.recv_async(direction, out=slice, channel=0)", "recva", 1),
            wsi.send_async: ("ws.send_async(direction, slice, channel=0)", "senda", 2),
            wsi.recv_wait: ("ws.recv_wait(direction, channel=0)", "rwait", 1),
            wsi.send_wait: ("ws.send_wait(direction, channel=0)", "swait", 1)}[callee]
        allowed = {"channel", "out"} if callee is wsi.recv_async else {"channel"}
        unexpected = sorted(set(kwargs) - allowed)
        if len(node.args) != slots or unexpected or (callee is wsi.recv_async and "out" not in kwargs):
            positional = "the direction and the slice" if callee is wsi.send_async else "the direction"
            raise Unsupported(f"{usage}: wrong arguments" + (f" ({unexpected[0]}= is not a keyword: pass {positional} "
                                                              f"by position)" if unexpected else ""), node)
        direction, channel = self.direction(node.args[0], ramp=True), self.channel(kwargs)
        if opcode in ("rwait", "swait"):
            self.background_waits.append((opcode, direction, channel, usage, node, self.source))
            self.emit(opcode, dir=direction, ch=channel)
            return None
        self.background_posts.add((opcode, direction, channel))
        slice_node = kwargs["out"] if callee is wsi.recv_async else node.args[1]
        target = self.expr(slice_node)
        if not isinstance(target, SliceRef) or not isinstance(target.array, LocalArray):
            raise Unsupported(f"{usage} needs a slice of a local array", slice_node)
        if callee is wsi.send_async:
            self.sent.setdefault((direction, channel), {}).setdefault(target.array.dtype, self.line)
        base, length = self.slice_registers(target)
        # (typed words: the tag of the slice's type, sent with the words or checked on arrival)
        self.emit(opcode, dir=direction, ch=channel, a=base, b=length,
                  flags=self.word_tag_here(word_tag(target.array.dtype)))
        return None

    def stream_call(self, callee, node: ast.Call) -> None:
        """ws.add_stream / max_stream / min_stream(source, sink, x, channel=0): one stream op (`vaddx`, ...; on a
        float16 slice `vhaddx`, ...)."""
        usage = f"ws.{callee.name}(source, sink, x, channel=0)"
        args = self.stream_arguments(usage, node)
        source, channel = self.direction(args["source"], ramp=True), self.channel(args)
        sink_node = args["sink"]
        if isinstance(sink_node, ast.Constant) and sink_node.value is None:
            sink = NOWHERE
        elif self.constant_value(sink_node) == wsi.RAMP:
            raise Unsupported(f"{usage}: the sink is a neighbour's direction (ws.NORTH, ws.EAST, ws.SOUTH, ws.WEST) or "
                              f"None: a stream does not send through the router (ws.RAMP)", sink_node)
        else:
            sink = self.direction(sink_node)
        target = self.expr(args["x"])
        if not isinstance(target, SliceRef) or not isinstance(target.array, LocalArray):
            raise Unsupported(f"{usage} needs a slice of a local array, x[i:j]", args["x"])
        if target.array.dtype not in wsi.STREAM_TYPES:
            raise Unsupported(f"{usage} streams float32, int32 or float16 words, not {target.array.dtype} (a "
                              f"{target.array.dtype} array: the machine has no bfloat16 stream op)", args["x"])
        if sink != NOWHERE:  # (what a receive toward this sink learns of its words' type)
            self.sent.setdefault((sink, channel), {}).setdefault(target.array.dtype, self.line)
        base, length = self.slice_registers(target)
        opcode = (wsi.HALF_STREAMS if target.array.dtype == "f16" else wsi.STREAMS)[callee]
        self.emit(opcode, d=sink, dir=source, ch=channel, a=base, b=length,
                  flags=(FLAG_FLOAT if target.array.dtype == "f32" else 0)
                  | (FLAG_CHAIN if self.in_collective() else 0))
        return None

    @staticmethod
    def stream_arguments(usage: str, node: ast.Call) -> dict[str, ast.expr]:
        """A stream op's arguments bound as Python binds them to (source, sink, x, channel=0), by position or by
        name (the usage names them: `sink=None` was refused as "sink= is not one", a positional channel as
        "wrong arguments"); a missing, repeated or unknown one is refused, naming it."""
        names = ("source", "sink", "x", "channel")
        what = ": source a direction or ws.RAMP, sink a direction or None, x a local slice, channel a constant"
        if len(node.args) > len(names) or any(isinstance(a, ast.Starred) for a in node.args):
            raise Unsupported(f"{usage}: wrong arguments (at most 4, none starred){what}", node)
        bound = dict(zip(names, node.args))
        for keyword in node.keywords:
            if keyword.arg not in names:
                raise Unsupported(f"{usage}: wrong arguments ({keyword.arg or '**'}= is not one){what}", node)
            if keyword.arg in bound:
                raise Unsupported(f"{usage}: {keyword.arg} is given twice{what}", node)
            bound[keyword.arg] = keyword.value
        missing = [name for name in names[:3] if name not in bound]
        if missing:
            raise Unsupported(f"{usage}: wrong arguments ({', '.join(missing)} missing){what}", node)
        return bound

    def streamable_call(self, node: ast.Call):
        """wsi.streamable(x): the constant 1 where x is a local array or slice a stream takes, else 0."""
        if len(node.args) != 1 or node.keywords:
            raise Unsupported("streamable(x) takes one array or slice", node)
        value = self.expr(node.args[0])
        array = value.array if isinstance(value, SliceRef) else value
        return self.const(int(isinstance(array, LocalArray) and array.dtype in wsi.STREAM_TYPES))

    def is_float_call(self, node: ast.Call):
        """wsi.is_float(x): the constant 1 where the number x is a float32, 0 where an int32."""
        if len(node.args) != 1 or node.keywords:
            raise Unsupported("is_float(x) takes one number", node)
        value = self.expr(node.args[0])
        if not isinstance(value, Val):
            raise Unsupported(f"is_float(x) takes a number, not {describe(value)}", node.args[0])
        return self.const(int(value.ty == "f32"))

    def check_background_waits(self) -> None:
        """A wait on a (direction, channel) no background transfer of the kernel uses waits for nothing: the
        transfer it was meant for (another channel or direction) goes unwaited, and its slice would be read
        or changed while it moves (the simulator, which moves every word at the call, would not show it)."""
        names = {"rwait": ("recva", "ws.recv_async"), "swait": ("senda", "ws.send_async")}
        for opcode, direction, channel, usage, node, source in self.background_waits:
            post, call = names[opcode]
            if (post, direction, channel) not in self.background_posts:
                posted = sorted(f"{PORTS[d]} channel {c}" for o, d, c in self.background_posts if o == post)
                self.source = source
                raise self.error(node, f"{usage.split('(')[0]}() on {PORTS[direction]} channel {channel} waits for "
                                       f"no {call}() of this kernel (" + (f"it posts them on {', '.join(posted)}"
                                       if posted else "it posts none") + "): wait on the direction and channel "
                                       "of the transfer")
