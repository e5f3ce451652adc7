"""The device-side API of kernels (`ws.grid`, `ws.send`, `ws.local.array`, ...).

These objects exist so that kernel source can name them; the compiler recognises them by identity and
emits instructions. Calling one from ordinary host Python raises an error that says so.
"""
from __future__ import annotations

from ..errors import CompileError
from ..isa.opcodes import EAST, NORTH, SOUTH, WEST

__all__ = ["EAST", "NORTH", "SOUTH", "WEST", "Dim", "Intrinsic", "blockDim", "blockIdx", "fma", "grid", "gridDim",
           "gridsize", "has_neighbor", "local", "print_", "recv", "send", "syncthreads", "threadIdx"]


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

    def __repr__(self) -> str:
        return f"<wafersim {self.name}>"


threadIdx = Dim("threadIdx", "tid.x", "tid.y")
blockIdx = Dim("blockIdx", "bid.x", "bid.y")
blockDim = Dim("blockDim", "bdim.x", "bdim.y")
gridDim = Dim("gridDim", "gdim.x", "gdim.y")

grid = Intrinsic("grid", "grid(1) -> global x index; grid(2) -> (x, y) global PE coordinates of this thread.")
gridsize = Intrinsic("gridsize", "gridsize(1) -> total threads along x; gridsize(2) -> (width, height).")
send = Intrinsic("send", "send(direction, value_or_slice, channel=0): send to the neighbour in direction.")
recv = Intrinsic("recv", "recv(direction, channel=0) -> word; recv(direction, out=slice, channel=0) fills a slice.")
has_neighbor = Intrinsic("has_neighbor", "has_neighbor(direction) -> whether that neighbour is in this block.")
syncthreads = Intrinsic("syncthreads", "syncthreads(): barrier over the PEs of this block.")
fma = Intrinsic("fma", "fma(a, b, c) -> a * b + c in float32.")
print_ = Intrinsic("print", "print(value[, label]): debug print with the PE coordinates and cycle.")


class _Local:
    """`ws.local.array(shape, dtype)`: an array in this PE's SRAM with a static shape."""

    array = Intrinsic("local.array", "local.array(shape, dtype) -> an array in this PE's SRAM (static shape).")


local = _Local()
