"""Compiler benchmark: compile time of the heat kernel of docs/api.md, and the code it generates.

    python bench/compiler.py [--write bench/RESULTS.md]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time

import numpy as np

import wafersim as ws
from wafersim.compiler import BASELINE_PASSES, PASSES, compile_kernel, loop_body
from wafersim.compiler.passes import PRE_SSA_PASSES
from wafersim.kernels.heat import heat_kernel
from wafersim.runtime import kernel_cache
from wafersim.runtime.jit import Dispatcher

from wafersim.tools.results import machine, write_section


def instructions_per_step(dev: ws.Device, program, kernel: Dispatcher, arrays: tuple) -> float:
    """PE-instructions per stencil step of an interior PE: (count at 20 steps - count at 10 steps) / 10."""
    counts = {}
    for steps in (10, 20):
        _, words = kernel.signature_of((*arrays, np.float32(0.1), steps))
        stats = dev.launch(program, (1, 1), (16, 16), words)
        counts[steps] = stats.pe_instructions[8, 8]
    return (counts[20] - counts[10]) / 10


def library_compile_times() -> list[tuple[str, float]]:
    """(kernel, CPU seconds) to compile each dense library kernel at its benchmark size: the median of three
    fresh dispatchers. CPU time, not wall time: the benchmark machine is shared, and a compile is single-threaded."""
    from wafersim.kernels.gemm import gemm_kernel
    from wafersim.kernels.gemv import gemv_kernel
    from wafersim.kernels.heat_tiled import heat_tiled_kernel

    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    tiles = dev.to_device(np.zeros((64, 32 * 32 + 32), np.float32))
    operands = dev.to_device(np.zeros((64, 2 * 32 * 32), np.float32))  # A and B tiles (gemm.to_operand_tiles)
    vector = dev.to_device(np.zeros(256, np.float32))
    cases = [("gemm, 32 x 32 tiles", gemm_kernel(32), (operands, tiles, 8)),
             ("gemv, 32 x 32 tiles", gemv_kernel(32, 32), (tiles, vector, 8)),
             ("heat_tiled, 16 x 16 tiles", heat_tiled_kernel(16), (tiles, tiles, np.float32(0.1), 20, 8))]
    out = []
    for name, kernel, args in cases:
        seconds = []
        for _ in range(3):
            fresh = Dispatcher(kernel.py_func, boundscheck=False)
            start = time.process_time()
            fresh.compile_for(*args, device=dev)
            seconds.append(time.process_time() - start)
        out.append((name, statistics.median(seconds)))
    return out


@contextlib.contextmanager
def pipeline(passes: list, kernels: list[Dispatcher]):
    """Compile with `passes` as the default pipeline (fresh compiles of `kernels`), then restore it."""
    saved = list(PASSES)
    PASSES[:] = passes
    for kernel in kernels:
        kernel.cache.clear()
    try:
        yield
    finally:
        PASSES[:] = saved
        for kernel in kernels:
            kernel.cache.clear()


def ssa_cycles() -> list[tuple[str, int, int]]:
    """(case, simulated cycles with the passes on the front end's registers as before SSA form, with the
    passes on SSA form) for the library kernels of bench/kernels.py, compiled both ways in this run."""
    from wafersim.kernels import gemm, gemv, heat, heat_tiled

    rng = np.random.default_rng(0)
    a64, b64 = rng.random((64, 64), dtype=np.float32), rng.random((64, 64), dtype=np.float32)
    a128, b128 = rng.random((128, 128), dtype=np.float32), rng.random((128, 128), dtype=np.float32)
    u32, u64 = rng.random((32, 32), dtype=np.float32), rng.random((64, 64), dtype=np.float32)
    m64, x64 = rng.random((64, 64), dtype=np.float32), rng.random(64, dtype=np.float32)
    cases = [("gemm, 2x2 PEs, 32x32 tiles", lambda: gemm.gemm(a64, b64, 2)),
             ("gemm, 4x4 PEs, 32x32 tiles", lambda: gemm.gemm(a128, b128, 4)),
             ("gemv, 2x2 PEs, 32x32 tiles", lambda: gemv.gemv(m64, x64, 2, 2)),
             ("heat (tile/PE), 4x4 PEs, 8x8 tiles, 20 steps", lambda: heat_tiled.heat_tiled(u32, 0.1, 20, 8)),
             ("heat (tile/PE), 4x4 PEs, 16x16 tiles, 20 steps", lambda: heat_tiled.heat_tiled(u64, 0.1, 20, 16)),
             ("heat (cell/PE), 32x32, 50 steps", lambda: heat.heat(u32, 0.1, 50))]
    kernels = [gemm.gemm_kernel(32), gemv.gemv_kernel(32, 32), heat_tiled.heat_tiled_kernel(8),
               heat_tiled.heat_tiled_kernel(16), heat.heat_kernel]
    out = []
    for name, run in cases:
        with pipeline(PRE_SSA_PASSES, kernels):
            before = run()
        after = run()
        np.testing.assert_array_equal(before[0], after[0])  # the same results, bit for bit
        out.append((name, before[-1].cycles, after[-1].cycles))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write")
    args = parser.parse_args(argv)
    # Compile times are measured here: with the on-disk kernel cache on, a "fresh dispatcher" would load
    # the program a previous run stored (milliseconds) instead of compiling it.
    kernel_cache.ENABLED = False
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    u = np.random.default_rng(0).random((16, 16), dtype=np.float32)
    d_u, d_out = dev.to_device(u), dev.device_array(u.shape)
    times = []
    for _ in range(7):  # a fresh dispatcher each time: no cache
        kernel = Dispatcher(heat_kernel.py_func)
        start = time.perf_counter()
        compiled = kernel.compile_for(d_u, d_out, np.float32(0.1), 10)
        times.append(time.perf_counter() - start)
    # Instructions per stencil step for an interior PE: the difference between two step counts, for the
    # optimised binary and for one built with only the clean-up passes the compiler had before.
    signature, _ = kernel.signature_of((d_u, d_out, np.float32(0.1), 10))
    baseline = compile_kernel(heat_kernel.py_func, signature, dev.spec, passes=BASELINE_PASSES)
    per_step = instructions_per_step(dev, compiled.program, kernel, (d_u, d_out))
    per_step_before = instructions_per_step(dev, baseline.program, kernel, (d_u, d_out))
    moves_in_loop = sum(1 for line in loop_body(compiled.asm_text) if line.startswith("mov "))
    library = library_compile_times()
    text = (
        "## Compiler: the heat kernel of docs/api.md\n\n"
        f"Command: `python bench/compiler.py --write bench/RESULTS.md`\n\nMachine: {machine()}\n\n"
        f"| compile time (median of 7, fresh dispatcher) | min | code words | instructions per step (interior PE) "
        f"| without the optimisation passes | `mov` in the loop body |\n|---|---|---|---|---|---|\n"
        f"| {statistics.median(times) * 1e3:.1f} ms | {min(times) * 1e3:.1f} ms | {len(compiled.program.code)} | "
        f"{per_step:g} | {per_step_before:g} | {moves_in_loop} (the zero-flux edge copy `c`, on edge PEs only) |\n\n"
        "Compile time of the dense library kernels (CPU time, median of 3 fresh compiles): "
        + ", ".join(f"{name} {seconds * 1e3:.0f} ms" for name, seconds in library) + ".\n\n"
        f"Bar: compile time under 1 s: {'met' if max([statistics.median(times)] + [t for _, t in library]) < 1 else 'NOT met'}.\n\n"
        "Simulated cycles of library kernels compiled in this run with the passes as they ran before SSA form "
        "(`PRE_SSA_PASSES`: the same passes on the front end's registers) and on SSA form (`PASSES`); "
        "results identical:\n\n| kernel | before SSA | SSA | ratio |\n|---|---|---|---|\n"
        + "".join(f"| {name} | {before:,} | {after:,} | {after / before:.4f} |\n" for name, before, after in ssa_cycles())
    )
    print(text)
    if args.write:
        write_section(args.write, "compiler", text)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
