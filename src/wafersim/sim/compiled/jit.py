"""The one place the engine gets Numba from: `njit`, `prefetch` (LLVM's `llvm.prefetch`, for compiled code that
knows which cache lines a later step will load), plus a notice on a terminal while Numba compiles the engine's
machine code.

The first launches after an install (or an upgrade) compile the engine's compiled loops; later processes load
them from Numba's disk cache (docs/packaging-notebooks-saving.md, "Installing"). Compiling them all takes half a
minute or more, during which a launch shows nothing else: no launch progress bar has been drawn yet. So the
first time in a process that Numba compiles (rather than loads) one of the engine's functions, one line on
stderr says what is happening, when stderr is a terminal and WAFERSIM_PROGRESS is not off (the rule of the
launch progress bars). Numba reports compilations, and only those (not cache loads), as "numba:compile"
events (`numba.core.event`); the listener ignores compilations of other packages' functions.
"""
from __future__ import annotations

import sys

from ...envvars import env_flag
from . import numba_cache
from .numba_import import optional_packages_left_out

with optional_packages_left_out():  # (Numba's import, less packages the engine never uses: `numba_import`)
    from llvmlite import ir
    from numba import njit as numba_njit
    from numba.core import cgutils, event, types
    from numba.extending import intrinsic
    from numba.core.runtime import rtsys

#: The line printed (once per process) when Numba starts compiling an engine function.
NOTICE = ("wafersim: compiling the engine's machine code for this machine with Numba (once after an install or "
          "an upgrade, half a minute or more in all; later processes load it from Numba's cache)...")


def _engine_function(data: dict | None) -> bool:
    dispatcher = (data or {}).get("dispatcher")
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
    return module.split(".")[0] == "wafersim"


class CompileNotice(event.Listener):
    """Prints `NOTICE` at the start of the first compilation of an engine function (`shown` then True)."""

    def __init__(self) -> None:
        self.shown = False
        self.compiled: list[str] = []  # engine functions compiled in this process, outermost first (tests read it)

    def on_start(self, ev: event.Event) -> None:
        if not _engine_function(ev.data):
            return
        self.compiled.append(ev.data["dispatcher"].py_func.__qualname__)
        if not self.shown and sys.stderr is not None and sys.stderr.isatty() and env_flag("WAFERSIM_PROGRESS", True):
            print(NOTICE, file=sys.stderr, flush=True)
            self.shown = True

    def on_end(self, ev: event.Event) -> None:
        pass


#: The process's listener (installed when this module is first imported, before any engine function compiles).
LISTENER = CompileNotice()
event.register("numba:compile", LISTENER)


def njit(*args, **kwargs):
    """Numba's `njit`, as the engine's modules use it (`@njit(cache=True, ...)`), and before a cached function
    is defined, its cache folder rid of machine code compiled from other sources of the engine
    (`numba_cache.drop_if_stale`: a function's machine code has the functions it calls compiled in)."""
    decorate = numba_njit(*args, **kwargs)
    if args and callable(args[0]) or not kwargs.get("cache"):
        return decorate

    def cached(func):
        dispatcher = decorate(func)
        numba_cache.drop_if_stale(dispatcher)
        numba_cache.load_before_registries(dispatcher, rtsys)
        return dispatcher
    return cached


@intrinsic
def prefetch(typingctx, array, indices):
    """`prefetch(array, indices)` in compiled code: a hint, never a fault, whatever the address. Start loading the line of array[indices] (a tuple of as many integers as the array has dimensions;
    any values: no bounds are checked, and a prefetch of an address outside the array does nothing)."""
    if (not isinstance(array, types.Array) or not isinstance(indices, types.BaseTuple)
            or len(indices) != array.ndim or not all(isinstance(t, types.Integer) for t in indices)):
        return None

    def codegen(context, builder, signature, args):
        array_type, indices_type = signature.args
        data = context.make_array(array_type)(context, builder, args[0])
        raw = cgutils.unpack_tuple(builder, args[1], len(indices_type))
        inds = [context.cast(builder, v, t, types.intp) for v, t in zip(raw, indices_type)]
        pointer = cgutils.get_item_pointer2(context, builder, data=data.data,
                                            shape=cgutils.unpack_tuple(builder, data.shape),
                                            strides=cgutils.unpack_tuple(builder, data.strides),
                                            layout=array_type.layout, inds=inds)
        i32, byte_pointer = ir.IntType(32), ir.IntType(8).as_pointer()
        pointer = builder.bitcast(pointer, byte_pointer)
        fnty = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, keep in all cache levels (locality 3), a data line
        builder.call(fn, [pointer, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, indices), codegen
