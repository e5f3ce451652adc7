"""The device-side API of kernels (`ws.grid`, `ws.send`, `ws.local.array`, ...).

These objects exist so that kernel source can name them; the compiler recognises them by identity and
emits instructions. Calling one from ordinary host Python raises an error that says so.
"""
from __future__ import annotations

import math as _math

import numpy as _np

from ..errors import CompileError
from ..isa.opcodes import EAST, NORTH, RAMP, SOUTH, WEST

__all__ = ["EAST", "NORTH", "RAMP", "SOUTH", "WEST", "Dim", "Intrinsic", "blockDim", "blockIdx", "fma", "grid", "gridDim",
           "gridsize", "has_neighbor", "local", "print_", "recv", "route", "route_mask", "send", "use_route", "syncthreads", "threadIdx",
           "fma_skip_zeros", "pack_nonzeros", "recv_fma", "send_nonzeros", "sparse_fma", "dot", "constant",
           "outer_add", "recv_async", "recv_wait", "send_async", "send_wait", "add_stream", "max_stream", "min_stream"]


class Intrinsic:
    """A function usable only inside `@ws.jit` kernels."""

    def __init__(self, name: str, doc: str) -> None:
        self.name, self.__doc__ = name, doc

    def __call__(self, *args, **kwargs):
        raise CompileError(f"ws.{self.name}() can only be called inside a @ws.jit kernel")

    def __repr__(self) -> str:
        return f"<wafersim intrinsic {self.name}>"


class Dim:
    """`ws.threadIdx`, `ws.blockIdx`, `ws.blockDim`, `ws.gridDim`: `.x` and `.y` inside kernels."""

    def __init__(self, name: str, x: str, y: str) -> None:
        self.name, self.registers = name, {"x": x, "y": y}

    def __getattr__(self, attribute: str):
        # (only for attributes not found: `.x` and `.y` exist inside kernels, where the compiler reads them)
        if attribute in ("x", "y"):
            raise CompileError(f"ws.{self.name}.{attribute} can only be read inside a @ws.jit kernel")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attribute!r}")

    def __repr__(self) -> str:
        return f"<wafersim {self.name}>"


threadIdx = Dim("threadIdx", "tid.x", "tid.y")
blockIdx = Dim("blockIdx", "bid.x", "bid.y")
blockDim = Dim("blockDim", "bdim.x", "bdim.y")
gridDim = Dim("gridDim", "gdim.x", "gdim.y")

grid = Intrinsic("grid", "grid(1) -> global x index; grid(2) -> (x, y) global PE coordinates of this thread.")
gridsize = Intrinsic("gridsize", "gridsize(1) -> total threads along x; gridsize(2) -> (width, height).")
send = Intrinsic("send", "send(direction, value_or_slice, channel=0): send to the neighbour in direction, or with "
                 "ws.RAMP through this PE's router along the channel's route.")
route = Intrinsic("route", "route(channel, rx, tx): at this PE's router, words of channel arriving from the port(s) rx "
                  "go to the port(s) tx (ws.NORTH/EAST/SOUTH/WEST/RAMP; a tuple is multicast, () drops).")
use_route = Intrinsic("use_route", "use_route(channel, pattern): this kernel relies on channel being routed as the "
                      "named pattern (row_bus, column_bus, block_bus, chain_north/east/south/west): the launch "
                      "installs it in every block.")
route_mask = Intrinsic("route_mask", "route_mask(channel, rx_mask, tx_mask): ws.route with port bit masks computed at "
                       "run time (bit p = port p, e.g. 1 << ws.EAST), each PE its own.")
recv = Intrinsic("recv", "recv(direction, channel=0, dtype=None, bitcast=False) -> word; recv(direction, out=slice, "
                 "channel=0) fills a slice. A word sent as another type stops the kernel with a WordTypeError; "
                 "bitcast=True (with dtype=) reads its bits as dtype whatever type it was sent as.")
has_neighbor = Intrinsic("has_neighbor", "has_neighbor(direction) -> whether that neighbour is in this block.")
syncthreads = Intrinsic("syncthreads", "syncthreads(): barrier over the PEs of this block.")
fma = Intrinsic("fma", "fma(a, b, c) -> a * b + c in float32.")
dot = Intrinsic("dot", "dot(a, b) -> sum of a[k] * b[k] over two local slices of one length, left to right, each "
                "product and sum rounded to the slices' dtype (one vdot instruction).")
outer_add = Intrinsic("outer_add", "outer_add(c, x, y): c[i, j] += x[i] * y[j] for a 2-D local array c (or a block of "
                      "its whole rows, c[r0:r1, :]) and 1-D local slices x, y of c's row and column counts (one vger: a "
                      "rank-1 update).")
recv_async = Intrinsic("recv_async", "recv_async(direction, out=slice, channel=0): start receiving len(slice) words "
                       "into a local slice in the background (one recva); the PE goes on at once. The slice holds "
                       "them only after ws.recv_wait(direction, channel) (receives on one channel run one after the other).")
recv_wait = Intrinsic("recv_wait", "recv_wait(direction, channel=0): wait until the background receive from direction "
                      "on channel has its last word (one rwait).")
send_async = Intrinsic("send_async", "send_async(direction, slice, channel=0): start sending a local slice in the "
                       "background (one senda); the PE goes on at once and may change the slice only after "
                       "ws.send_wait(direction, channel) (sends on one channel run one after the other).")
send_wait = Intrinsic("send_wait", "send_wait(direction, channel=0): wait until the background send to direction on "
                      "channel has sent its last word (one swait).")
BACKGROUND = frozenset({recv_async, recv_wait, send_async, send_wait})
# Streams through the FMAC (docs/timing.md, "Streams through the FMAC"): one vaddx / vmaxx / vminx each (on a
# float16 slice vhaddx / vhmaxx / vhminx).
add_stream = Intrinsic("add_stream", "add_stream(source, sink, x, channel=0): for each k, x[k] += the k-th word "
                       "received from source (a direction or ws.RAMP), the sum sent on to the neighbour sink as it is "
                       "made (sink=None: kept in x only); x a float32, int32 or float16 local slice (float16: each "
                       "sum rounded to float16, as NumPy's). One vaddx (float16: vhaddx): a word a cycle as the link "
                       "delivers them, blocking like ws.recv / ws.send.")
max_stream = Intrinsic("max_stream", "max_stream(source, sink, x, channel=0): add_stream with x[k] = max(x[k], word) "
                       "(floats: np.maximum's, nan if either is nan). One vmaxx (vhmaxx).")
min_stream = Intrinsic("min_stream", "min_stream(source, sink, x, channel=0): add_stream with x[k] = min(x[k], word). "
                       "One vminx (vhminx).")
STREAMS = {add_stream: "vaddx", max_stream: "vmaxx", min_stream: "vminx"}
#: The stream op of each on a float16 slice.
HALF_STREAMS = {add_stream: "vhaddx", max_stream: "vhmaxx", min_stream: "vhminx"}
#: The element types of the slices a stream takes (its words' types: `isa.opcodes.stream_word_type`).
STREAM_TYPES = ("f32", "i32", "f16")
#: Not public: a device-function library asks whether a stream takes its array (a compile-time constant), to keep
#: another path for the rest (wafersim.collectives streams float32, int32 and float16 vectors, moves bfloat16 ones
#: in chunks).
streamable = Intrinsic("streamable", "streamable(x): 1 if x is a float32, int32 or float16 local array or slice "
                       "(what ws.add_stream takes), else 0; a constant, so the other branch is never compiled.")
#: Not public: whether a number is a float32 one (1) or an int32 one (0), a compile-time constant, so that a
#: device-function library can declare a local array of its type (wafersim.collectives streams a scalar's
#: chain through a one-word array).
is_float = Intrinsic("is_float", "is_float(x): 1 if the number x is a float32, 0 if an int32; a constant, so the "
                     "other branch is never compiled.")
#: Not public (left out of `__all__`): wafersim's own device functions call it where an argument they were
#: given cannot work (a reduction's `op` that is no operation); lowering the call is a CompileError with
#: the message, at the user's call of the library function (see device_functions.called_from).
refuse = Intrinsic("refuse", "refuse(message): a CompileError with this constant message where lowering reaches "
                   "this call (for device-function libraries: a branch that only a bad argument compiles).")
print_ = Intrinsic("print", "print([label,] value): debug print (CUDA's printf) of one int32 or float32 value, "
                   "after its label (a string constant), with the PE coordinates and cycle; no formatting.")

# Zero-skipping and sparse operands (docs/sparsity.md). A pairs slice holds (value, index) words: a value
# then its index as an int32 bit pattern (`wafersim.kernels.sparse.pack_pairs` builds them on the host).
fma_skip_zeros = Intrinsic("fma_skip_zeros", "fma_skip_zeros(dst, a, b): dst += a * b (b a slice or a scalar), "
                           "skipping the elements where a is zero; costs only a's nonzeros.")
sparse_fma = Intrinsic("sparse_fma", "sparse_fma(y, pairs, x): for each (value, index) pair, y[index >> 16] += "
                       "value * x[index & 0xffff]; with a scalar x, y[index] += value * x.")
pack_nonzeros = Intrinsic("pack_nonzeros", "pack_nonzeros(pairs, values) -> count: (value, position) pairs of the "
                          "nonzeros of values, written to the start of pairs.")
send_nonzeros = Intrinsic("send_nonzeros", "send_nonzeros(direction, values, pairs, channel=0) -> count: send only "
                          "the nonzeros of values, as a count and (value, position) pairs (pairs: scratch).")
recv_fma = Intrinsic("recv_fma", "recv_fma(direction, y, scale, pairs, channel=0) -> count: receive what "
                     "send_nonzeros sent and apply each pair: y[position] += value * scale (pairs: scratch).")
SPARSE = frozenset({fma_skip_zeros, sparse_fma, pack_nonzeros, send_nonzeros, recv_fma})


class _Local:
    """`ws.local.array(shape, dtype)`: an array in this PE's SRAM with a static shape."""

    array = Intrinsic("local.array", "local.array(shape, dtype) -> an array in this PE's SRAM (static shape).")


local = _Local()


class _Constant:
    """`ws.constant`: annotate a kernel parameter with it (`def k(out, n: ws.constant)`) and the kernel is
    compiled for each value the launches pass (an int or a float), which is then a compile-time constant
    inside: a local array's shape (`ws.local.array(n)`), a `range` bound, a direction or a channel."""

    def __call__(self, *args, **kwargs):
        raise CompileError("ws.constant is an annotation of @ws.jit kernel parameters (def k(out, n: ws.constant)), "
                           "not a function")

    def __repr__(self) -> str:
        return "<wafersim constant parameter annotation>"


constant = _Constant()


# `ws.exp`, `ws.tanh`, ...: NumPy's float32 functions under the names a CUDA user reaches for. They are the
# NumPy ufuncs themselves, so a kernel may write `ws.exp(x)` or `ws.exp(a[0:n])` (one `vmath`) and host code
# computes the same thing; erf/erfc/gamma/lgamma, which NumPy lacks, are the `math` module's.
MATH_ALIASES = {name: getattr(_np, name) for name in (
    "sqrt", "exp", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
    "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "floor", "ceil", "trunc", "rint", "fabs")} | {
    name: getattr(_math, name) for name in ("erf", "erfc", "gamma", "lgamma")}
globals().update(MATH_ALIASES)
__all__ += sorted(MATH_ALIASES)
