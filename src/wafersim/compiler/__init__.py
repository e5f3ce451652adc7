"""The compiler: `@ws.jit` Python kernels -> IR -> optimisation passes -> register allocation -> ISA binary."""
from __future__ import annotations

import contextlib
import gc
from typing import Any, Callable, Iterator

from ..arch.spec import WaferSpec
from ..errors import SramBudgetError
from .backend import Compiled, emit
from .frontend import KernelSignature, lower
from .passes import BASELINE_PASSES, PASS_NAMES, PASSES
from .spec_reads import RecordingSpec, finish_recording

__all__ = ["BASELINE_PASSES", "Compiled", "KernelSignature", "PASSES", "PASS_NAMES", "compile_kernel", "inspect_ir", "loop_body"]


def compile_kernel(func: Callable, signature: KernelSignature, spec: WaferSpec, boundscheck: bool = True,
                   passes: list | None = None) -> Compiled:
    """Compile one specialisation of a kernel for a machine (with `passes`, default `PASSES`).

    The compiler sees the machine through a `RecordingSpec`: the fields it read, and their values, are
    the result's `spec_reads`, under which `@ws.jit` reuses the program for another machine
    (`compiler.spec_reads`).

    Unrolling trades code for speed, and code shares a PE's SRAM with the kernel's data: a kernel that
    does not fit with its loops unrolled is compiled again without the `unroll` pass before giving up.
    Unrolled code can also be the smaller (constants folded per trip), so when neither fits the error
    names the smaller need: the SRAM that would be enough."""
    view = RecordingSpec(spec)
    try:
        with collector_paused():
            compiled = _compile(func, signature, view, boundscheck, passes)  # type: ignore[arg-type]
    finally:
        reads = finish_recording(view)
    compiled.spec_reads = reads
    return compiled


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off within, as while compiling: a compile makes ~10^5 short-lived IR
    objects, and each collection they trigger walks everything the process keeps (a test session's or a
    notebook's compiled kernels, Numba's dispatchers): 27% of the CPU of compile-heavy test files (stop 49's
    test49), 7-15% of a lone GEMM compile. Nothing a compile makes outlives it in a cycle that needs collecting
    sooner; the collector runs again at its next threshold. Left as it is where something else turned it off.
    (Also the engine's import of Numba, `sim.compiled.numba_import`.)"""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _compile(func: Callable, signature: KernelSignature, spec: WaferSpec, boundscheck: bool,
             passes: list | None) -> Compiled:
    """`compile_kernel`, on the spec it hands over (a `RecordingSpec`)."""
    fn = lower(func, signature, boundscheck)
    try:
        return emit(fn, spec, fn.filename, passes)
    except SramBudgetError as unrolled:
        if passes is not None:
            raise
        first = unrolled
    fn = lower(func, signature, boundscheck)
    try:
        return emit(fn, spec, fn.filename, [(name, run) for name, run in PASSES if name != "unroll"])
    except SramBudgetError as rolled:
        if first.needed <= rolled.needed:
            raise first from None
        raise


def inspect_ir(kernel: Any, after: str | None = None) -> str:
    """The IR of a `@ws.jit` kernel's last compiled specialisation (or of a `Compiled`): before the
    optimisation passes, or after the pass named `after` (one of `PASS_NAMES`)."""
    compiled = kernel if isinstance(kernel, Compiled) else kernel._compiled(with_passes=after is not None)
    return compiled.ir_text if after is None else compiled.ir_after(after)


def loop_body(asm_text: str, label_prefix: str = "for") -> list[str]:
    """The instructions and labels of the first loop in an assembly listing: from its first label whose
    name starts with `label_prefix` to the branch back to that label (inclusive)."""
    lines = [line.strip() for line in asm_text.splitlines()]
    start = next(k for k, line in enumerate(lines) if line.startswith(label_prefix) and line.endswith(":"))
    label = lines[start][:-1]
    end = next(k for k in range(start + 1, len(lines)) if lines[k].endswith(f", {label}") or lines[k] == f"jmp {label}")
    return lines[start:end + 1]
