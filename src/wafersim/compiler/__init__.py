"""The compiler: `@ws.jit` Python kernels -> IR -> register allocation -> ISA binary."""
from __future__ import annotations

from typing import Callable

from ..arch.spec import WaferSpec
from .backend import Compiled, emit
from .frontend import KernelSignature, lower

__all__ = ["Compiled", "KernelSignature", "compile_kernel"]


def compile_kernel(func: Callable, signature: KernelSignature, spec: WaferSpec, boundscheck: bool = True) -> Compiled:
    """Compile one specialisation of a kernel for a machine."""
    fn = lower(func, signature, boundscheck)
    return emit(fn, spec, fn.filename)
