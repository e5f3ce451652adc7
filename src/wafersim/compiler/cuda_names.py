"""What to write instead of the CUDA names a port reaches for that wafersim does not have (`ws.atomic.add`,
`ws.shared.array`, warp shuffles...): the compiler's "no attribute" error quotes the hint.

They are missing by design, not yet to be built: a PE's SRAM is its own (no shared memory), global memory has
no atomic operations, and PEs run no warps (every PE has its own program counter). docs/programming-model.md explains the model.
"""
from __future__ import annotations

import types

from ..errors import did_you_mean

_REDUCE = ("there are no atomic operations (a PE's SRAM is its own, and global memory has none): give each PE its partial result and combine them "
           "with messages, as the library's device functions reduce_to_corner(v, op) / allreduce(v, op) do "
           "(`from wafersim.kernels.reduce import allreduce`, docs/kernels.md); for many counters (a histogram), "
           "count into a ws.local.array in each PE and add the arrays with wsc.block_reduce_array(values, part, "
           "0, 0, wsc.SUM, channel) (`from wafersim import collectives as wsc`, docs/routes.md), or use "
           "wafersim.kernels.classic.histogram; or store one word per PE to global memory and combine them on "
           "the host")
_WARP = ("a wafer has no warps: every PE is a thread with its own program counter, and a value moves between "
         "PEs only as a message: ws.send(ws.EAST, value) / ws.recv(ws.WEST) with a neighbour, or a route for "
         "farther PEs (docs/programming-model.md, docs/routes.md)")
_BLOCK_VOTE = ("combine the PEs' values with messages, as the library's device function allreduce(v, op) does "
               "(docs/kernels.md), after ws.syncthreads() where they must agree first")

#: Attribute of `wafersim` -> what to write instead.
HINTS: dict[str, str] = {
    "atomic": _REDUCE, "atomicAdd": _REDUCE, "atomic_add": _REDUCE,
    "shared": ("a block has no shared memory: each PE has its own SRAM (`ws.local.array(shape, dtype)`), and PEs "
               "exchange data with messages: ws.send / ws.recv with neighbours (docs/programming-model.md)"),
    "const": "pass the table as a device array argument (global memory), or copy it into ws.local.array once",
    "syncwarp": "a wafer has no warps: ws.syncthreads() is a barrier over the block's PEs",
    "laneid": _WARP, "warpsize": _WARP, "warp_size": _WARP,
    "shfl_sync": _WARP, "shfl_up_sync": _WARP, "shfl_down_sync": _WARP, "shfl_xor_sync": _WARP,
    "all_sync": _WARP, "any_sync": _WARP, "eq_sync": _WARP, "ballot_sync": _WARP, "activemask": _WARP,
    "syncthreads_count": _BLOCK_VOTE, "syncthreads_and": _BLOCK_VOTE, "syncthreads_or": _BLOCK_VOTE,
    "threadfence": ("global memory is causal (docs/timing.md, \"Order of accesses\"): a load sees every store "
                    "issued before it in simulated time, so no fence is needed; ws.syncthreads() or "
                    "ws.cg.this_grid().sync() orders PEs"),
    "threadfence_block": "no fence is needed: a PE sees only its own SRAM; ws.syncthreads() orders a block's PEs",
}


#: Attribute of `ws.cg` (cooperative groups: Numba's `cuda.cg`, CUDA's `cg::`) -> what to write instead.
_GRID_ONLY = ("ws.cg has this_grid() only: ws.cg.this_grid().sync() is a barrier over every PE of the launch; "
              "ws.syncthreads() is the barrier over a block's PEs")
CG_HINTS: dict[str, str] = {
    "this_thread_block": "ws.syncthreads() is the block's barrier (CUDA's this_thread_block().sync())",
    "this_block": "ws.syncthreads() is the block's barrier (CUDA's this_thread_block().sync())",
    "tiled_partition": "a wafer has no warps to partition: " + _GRID_ONLY,
    "coalesced_threads": "a wafer has no warps: " + _GRID_ONLY,
    "this_multi_grid": "a launch runs on one wafer: " + _GRID_ONLY,
}


def cg_hint(attribute: str) -> str:
    """The hint for a missing `ws.cg` attribute: what to write instead."""
    return f" ({CG_HINTS.get(attribute, _GRID_ONLY)})"


def hint(attribute: str) -> str:
    """The hint for a missing `wafersim` attribute ("" when it is not a CUDA name we know)."""
    found = HINTS.get(attribute)
    return f" ({found})" if found else ""


#: numba.cuda's device names whose wafersim counterpart is used the same way -> what to write.
NUMBA_CUDA_SAME: dict[str, str] = {
    "grid": "ws.grid(1) / ws.grid(2)", "gridsize": "ws.gridsize(1) / ws.gridsize(2)",
    "threadIdx": "ws.threadIdx", "blockIdx": "ws.blockIdx", "blockDim": "ws.blockDim", "gridDim": "ws.gridDim",
    "syncthreads": "ws.syncthreads()", "local": "ws.local.array(shape, dtype)", "cg": "ws.cg.this_grid().sync()",
    "fma": "ws.fma(a, b, c)",
}


def is_numba_cuda(module: object) -> bool:
    """Whether a kernel's global is Numba's CUDA module (`from numba import cuda`) or one of its submodules."""
    name = getattr(module, "__name__", None) if isinstance(module, types.ModuleType) else None
    return isinstance(name, str) and (name == "numba.cuda" or name.startswith("numba.cuda."))


def numba_cuda_message(attribute: str) -> str:
    """The error for `cuda.<attribute>` in a @ws.jit kernel: the `ws.` name to write, or why there is none."""
    same = NUMBA_CUDA_SAME.get(attribute)
    if same:
        return (f"cuda.{attribute} is numba.cuda's, which a @ws.jit kernel does not read: write {same} "
                f"(wafersim's device API takes numba.cuda's names under `ws.`: docs/programming-model.md)")
    found = HINTS.get(attribute)
    return (f"cuda.{attribute} is numba.cuda's, which a @ws.jit kernel does not read"
            + (f", and wafersim has no counterpart: {found}" if found else
               ": the kernel API is wafersim's (`ws.`), listed in docs/api.md"))


#: What to write for a Numba function called in a kernel (`@cuda.jit(device=True)`, `@numba.njit`).
NUMBA_FUNCTION = ("a Numba function (@cuda.jit(device=True), @numba.njit): decorate it with @ws.jit instead, "
                  "which makes it a device function, inlined where it is called")


def is_numba_function(callee: object) -> bool:
    """Whether a kernel calls a Numba dispatcher (a `@cuda.jit` device function or an `@numba.njit` function),
    which a port may keep from its Numba code."""
    module = type(callee).__module__ or ""
    return module.startswith("numba.") and callable(getattr(callee, "py_func", None))


#: Numba's `cuda.jit` options a port may pass to `@ws.jit` -> what wafersim does instead.
NUMBA_JIT_OPTIONS: dict[str, str] = {
    "device": ("a @ws.jit function is a device function where a kernel calls it (inlined there) and a kernel "
               "where it is launched: drop device=True"),
    "inline": "a device function is always inlined where a kernel calls it",
    "fastmath": "there is no fast-math mode: float32 arithmetic is IEEE, as written (docs/python-supported.md)",
    "cache": "compiled kernels are cached on disk already (WAFERSIM_KERNEL_CACHE, docs/compiler.md)",
    "debug": ("errors always name the PE and the source line; ws.debug(kernel[grid, block], *args) stops at "
              "lines (docs/debugging.md)"),
    "lineinfo": "errors, traces and the debugger always carry source lines",
    "opt": "the compiler's passes always run (kernel.inspect_ir(after=name) shows each: docs/compiler.md)",
    "link": "a kernel is compiled from its Python source alone: there is nothing to link",
    "max_registers": "the compiler allocates a PE's registers itself (WaferSpec.registers)",
}


def jit_options_message(options: dict) -> str:
    """The error for options `@ws.jit` does not take: what to do about each (Numba's), or the ones it takes."""
    parts = [f"{name}=: {NUMBA_JIT_OPTIONS[name]}" if name in NUMBA_JIT_OPTIONS else
             f"{name}=: unknown" + did_you_mean(name, ["boundscheck"]).replace(";", ",")
             for name in options]
    return "@ws.jit takes only boundscheck= (True or False): " + "; ".join(parts)


_NO_PINNING = ("host memory needs no pinning or mapping: copies take any NumPy array, on any stream "
               "(dev.to_device(host, stream=s), d.copy_to_host(host, stream=s)), and there is no unified memory: "
               "copy explicitly")
_NO_DETECTION = ("the device is simulated: ws.Device(spec) makes one (ws.Device('dev'), 'wse2', 'wse3' or a "
                 "ws.WaferSpec), and ws.select_device(dev) makes it current; there is nothing to detect")
#: Host-side names of numba.cuda with no counterpart in `wafersim` -> what to write instead.
HOST_HINTS: dict[str, str] = {
    "pinned_array": _NO_PINNING, "pinned": _NO_PINNING, "mapped_array": _NO_PINNING,
    "managed_array": _NO_PINNING, "mapped": _NO_PINNING,
    "is_available": _NO_DETECTION, "detect": _NO_DETECTION, "gpus": _NO_DETECTION, "list_devices": _NO_DETECTION,
    "current_context": ("there is no context: ws.init() does a context's once-only start-up work, and a Device's "
                        "memory is freed with it"),
    "close": "there is no context to close: a Device's memory is freed when the Device is gone",
}


def module_hint(attribute: str) -> str:
    """The hint for a missing `wafersim` attribute, host-side or kernel-side ("" when it is no CUDA name)."""
    found = HOST_HINTS.get(attribute)
    return f" ({found})" if found else hint(attribute)
