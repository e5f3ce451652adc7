"""wafersim: program a simulated wafer-scale engine the way one programs a GPU with CUDA.

The machine and its ISA are our own design (real wafer-scale ISAs are not public); every figure lives
in `WaferSpec`.
"""
from .arch import WaferSpec
from .errors import (ArgumentError, ArgumentTypeError, AssemblyError, CheckpointError, CompileError, CycleLimitError, DeadlockError, EngineCacheError, InvalidPointerError,
                     KernelValueError, KernelZeroDivisionError, LaunchError, MemoryAccessError, MeshBoundaryError, OutOfMemoryError, RaceError, RouteError, SpecError, SramBudgetError,
                     WaferError)
from .isa import Program, assemble, disassemble
from .isa.opcodes import EAST, NORTH, RAMP, SOUTH, WEST
from .compiler.intrinsics import (blockDim, blockIdx, fma, grid, gridDim, gridsize, has_neighbor, local, recv,
                                  route, route_mask, send, syncthreads, threadIdx, use_route)
from .compiler.intrinsics import print_ as print  # noqa: A001  (ws.print in kernels, like CUDA printf)
from .compiler.intrinsics import fma_skip_zeros, pack_nonzeros, recv_fma, send_nonzeros, sparse_fma
from .compiler.intrinsics import dot
from .compiler import cg
from .compiler.intrinsics import outer_add, recv_async, recv_wait, send_async, send_wait
from .compiler.intrinsics import add_stream, max_stream, min_stream
from .runtime.jit import jit
from .runtime.debug import DebuggerError, debug
from .runtime.resume import resume_launch
from .runtime.state import LaunchState, VariableUnavailableError
from .runtime import routes
from .runtime import (Device, DeviceArray, DevicePointer, Event, Kernel, Stream, device_array,
                      device_array_like, event,
                      event_elapsed_time, get_current_device, init, select_device, stream, synchronize, to_device)
from .sim import LaunchStats, PrintRecord
from .errors import ChainWordError, WordTypeError
from .compiler.intrinsics import constant
from .compiler.intrinsics import MATH_ALIASES as _MATH_ALIASES
globals().update(_MATH_ALIASES)  # ws.exp, ws.tanh, ... (NumPy's float32 functions, usable in kernels)

__version__ = "0.1.0"

__all__ = [
    "ArgumentError", "ArgumentTypeError", "AssemblyError", "CheckpointError", "CompileError", "CycleLimitError", "DeadlockError", "EngineCacheError", "Device", "DeviceArray", "DevicePointer",
    "EAST", "Event", "InvalidPointerError", "Kernel", "KernelValueError", "KernelZeroDivisionError", "LaunchError", "LaunchStats", "MemoryAccessError", "PrintRecord",
    "MeshBoundaryError", "NORTH", "OutOfMemoryError", "Program", "RAMP", "RaceError", "RouteError", "SOUTH", "SpecError", "SramBudgetError", "Stream", "WEST",
    "WaferError", "WaferSpec", "assemble", "device_array", "device_array_like", "disassemble", "event", "event_elapsed_time",
    "get_current_device", "init", "select_device", "stream", "synchronize", "to_device",
    "jit", "grid", "gridsize", "threadIdx", "blockIdx", "blockDim", "gridDim", "send", "recv", "has_neighbor",
    "syncthreads", "cg", "local", "fma", "print", "route", "route_mask", "routes", "use_route",
    "fma_skip_zeros", "sparse_fma", "pack_nonzeros", "send_nonzeros", "recv_fma", "dot",
    "debug", "DebuggerError", "LaunchState", "VariableUnavailableError", "resume_launch",
    "outer_add", "recv_async", "recv_wait", "send_async", "send_wait", "add_stream", "max_stream", "min_stream",
]
__all__ += ["ChainWordError", "WordTypeError", "constant", *sorted(_MATH_ALIASES)]


def __getattr__(name: str):
    """A missing attribute, as Python's: an `AttributeError`, saying what to write instead for the CUDA and Numba
    names a port reaches for (`ws.pinned_array`, `ws.atomic`, ...)."""
    import sys
    from .compiler import cuda_names

    raise AttributeError(f"module 'wafersim' has no attribute {name!r}{cuda_names.module_hint(name)}",
                         name=name, obj=sys.modules[__name__])  # (name, obj: Python's "Did you mean" for typos)
