"""Helpers shared by the tests."""
from __future__ import annotations

import gc
import importlib.util
import inspect
import itertools
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def _write_the_package_bytecode() -> None:
    """Where Python may not write bytecode (`PYTHONDONTWRITEBYTECODE=1`, as on the machines the suite has run
    on), every Python process the tests start (~40: the CLI, first launches, Numba's and the kernel cache's
    fresh processes) compiled all of wafersim's ~220 modules from source again, ~0.5 s of CPU each (`import
    wafersim; ws.init()` 1.4 -> 0.8 s). Writing the package's own bytecode once here, explicitly, lets them read
    it; the processes still write none, so a module a test writes and edits is never read from a stale .pyc."""
    if not sys.dont_write_bytecode:
        return  # (Python writes it itself)
    import compileall
    spec = importlib.util.find_spec("wafersim")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            compileall.compile_dir(folder, quiet=2)  # (up-to-date files are only looked at)
        except OSError:  # (a read-only install: the processes compile it, as before)
            pass


_write_the_package_bytecode()

import wafersim as ws  # noqa: E402  (after its bytecode is written)
from wafersim.compiler import passes as _passes
from wafersim.runtime import kernel_cache as _kernel_cache
from wafersim.sim.compiled import stepper as _stepper
# Modules whose compiled kernels call other kernels bind them when imported: import them before any test
# patches one with a Python wrapper (tests count calls so), else a module first imported under the patch
# keeps the wrapper, and on a machine without Numba's cache its kernels fail to compile ("Untyped global
# name 'background_receive_step'" in the stream pump, seen when test order put it there).
from wafersim.sim import stream_pump_kernels as _stream_pump_kernels  # noqa: F401
# (and the whole-transfer kernels, which call the row kernels that tests/test_exchange*.py wrap: heat50 saw a
# TypingError there when Numba's cache did not hold `receive_whole` yet)
from wafersim.sim import stream_whole_kernels as _stream_whole_kernels  # noqa: F401

# The test suite verifies the IR after every optimisation pass (outside it, once after the last: see
# `wafersim.compiler.passes.VERIFY_EACH_PASS`), and compiles every kernel instead of loading it from the
# on-disk kernel cache (tests/test_kernel_cache.py tests that cache, in directories of its own).
_passes.VERIFY_EACH_PASS = True
_kernel_cache.ENABLED = False
# Small groups take the compiled path from their first run, whatever earlier tests in this process loaded
# (outside the tests, after 20,000 runs in NumPy: `stepper.SMALL_RUNS_BEFORE_LOADING`, tested on its own),
# so that which path a test exercises does not depend on the order tests run in.
_stepper.SMALL_RUNS_BEFORE_LOADING = 0
os.environ.setdefault("WAFERSIM_VERIFY_PASSES", "1")  # (and in the processes the tests start)
os.environ.setdefault("WAFERSIM_KERNEL_CACHE", "0")
# Python's cyclic garbage collector with its default thresholds (700, 10, 10) was ~27% of a worker's CPU in the
# compile-heavy tests (tests/test_collectives_lines.py and test_compiler_fuzz.py: 3.9 of 14.3 s, 2.8 s of it
# in 35 full collections): each compile allocates ~10^5 short-lived IR objects, and every full collection
# walks all that the session keeps (the compiled kernels' IR, Numba's dispatchers). Young collections every
# 10,000 allocations instead of 700 make full ones rare (5 there: GC 1.2 s, the files 14.3 -> 12.3 s); cyclic
# garbage is still collected, only later (no test relies on when: those that do disable the collector).
gc.set_threshold(10_000, 10, 10)

_modules = itertools.count()


def load_source(directory: Path, source: str) -> ModuleType:
    """Write `source` to a fresh .py file in `directory` and import it: generated kernels need a source file,
    because the compiler reads a kernel's source with `inspect`."""
    name = f"_wafersim_generated_{next(_modules)}"
    path = Path(directory) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def line_of(kernel, marker: str) -> int:
    """The source line of a `@ws.jit` kernel that contains `marker` (a comment such as `# MARK-x`)."""
    lines, first = inspect.getsourcelines(kernel.py_func)
    return first + next(i for i, text in enumerate(lines) if marker in text)


def int32_wrap(value: int) -> int:
    """A Python int wrapped to int32, as the machine's 32-bit registers hold it."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def truncated_division(a: int, b: int) -> int:
    """a / b rounded toward zero, as the ISA's `div` (b != 0; Python's // floors)."""
    quotient = abs(a) // abs(b)
    return -quotient if (a < 0) != (b < 0) else quotient


def run_on_one_block(dev, kernel, *args, block=(1, 1)) -> list[np.ndarray]:
    """Launch one block; NumPy arrays are copied to the device and back (returned in order)."""
    return launch(dev, kernel, *args, block=block)


def compile_error(dev, kernel, *args, block=(1, 1)) -> ws.CompileError:
    """The CompileError a launch of `kernel` raises (the test fails if it compiles)."""
    with pytest.raises(ws.CompileError) as info:
        run_on_one_block(dev, kernel, *args, block=block)
    return info.value


def assembled_reference(compiled) -> ws.Program:
    """What the compiler's former text path made of a compiled kernel's allocated instructions: each one
    rendered as assembly text (`Op.text`, labels by name, the program's directives) and assembled, with
    the line table taken from the instructions in order. The reference the direct `Instr` encoding must
    match bit for bit (tests/test_compiler_encode.py)."""
    from wafersim.compiler.ir import Label, SourceLine, place_of
    from wafersim.isa.assembler import assemble

    program = compiled.program
    header = [f".name {program.name}", f".sram {program.data_words}", f".args {program.arg_count}"]
    header += [f'.string {i} "{s}"' for i, s in enumerate(program.strings) if i > 0]
    header += [f".route {channel} {name}" for channel, name in program.routes]
    body = [f"{item.name}:" if isinstance(item, Label) else f"    {item.text()}" for item in compiled.machine_code]
    reference = assemble("\n".join(header + body) + "\n")
    instructions = [item for item in compiled.machine_code if not isinstance(item, Label)]
    # (the kernel's file: that of a line of the kernel's own, not of a device function inlined)
    filename = next((program.lines[pc][0] for (pc, _), op in zip(reference.instructions(), instructions)
                     if isinstance(op.line, int)), "<kernel>")
    lines = {pc: place_of(op.line, filename) for (pc, _), op in zip(reference.instructions(), instructions)
             if op.line is not None}
    callers = {pc: op.line.callers for (pc, _), op in zip(reference.instructions(), instructions)
               if isinstance(op.line, SourceLine) and op.line.callers}
    return reference.__class__(**{**reference.__dict__, "lines": lines, "callers": callers})


def assert_same_program(program: ws.Program, reference: ws.Program) -> None:
    """Bit-identical code and the same directives, labels and line table."""
    assert program.code.dtype == reference.code.dtype and (program.code == reference.code).all()
    for field in ("name", "data_words", "arg_count", "strings", "labels", "routes", "lines", "callers"):
        assert getattr(program, field) == getattr(reference, field), field


@pytest.fixture(autouse=True, scope="session")
def _every_compile_matches_the_text_path():
    """Every kernel any test compiles (the library kernels included) is also assembled from text, the way
    the compiler did before it encoded `Instr`s directly, and must come out identical."""
    import wafersim.compiler as compiler

    direct = compiler.emit

    def checked(*args, **kwargs):
        compiled = direct(*args, **kwargs)
        assert_same_program(compiled.program, assembled_reference(compiled))
        return compiled

    compiler.emit = checked
    yield
    compiler.emit = direct


def launch(dev, kernel, *args, grid=(1, 1), block=(16, 1)):
    """Launch with NumPy arrays copied to the device; returns the host copies of every array argument."""
    dargs = [dev.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    kernel[grid, block](*dargs)
    return [d.copy_to_host() for d in dargs if isinstance(d, ws.DeviceArray)]


def backward_branches(asm: str) -> list[str]:
    """Branch instructions whose target label comes earlier in the listing (i.e. loops)."""
    lines = [l.strip() for l in asm.splitlines()]
    labels = {l[:-1]: k for k, l in enumerate(lines) if l.endswith(":")}
    found = []
    for k, line in enumerate(lines):
        words = line.replace(",", " ").split()
        if words and words[0] in ("jmp", "bz", "bnz") and words[-1] in labels and labels[words[-1]] <= k:
            found.append(line)
    return found


def opcodes(asm: str) -> list[str]:
    return [l.split()[0].split(".")[0] for l in asm.splitlines()
            if l.startswith("    ") and l.strip() and not l.strip().endswith(":")]


def pytest_sessionstart(session) -> None:
    """Each xdist worker compiles its share of the engine's Numba code first when the cache is cold
    (tests/numba_warmup.py: else every worker compiled all of it)."""
    import numba_warmup
    numba_warmup.warm_up_this_worker()


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session):
    """pytest keeps the test modules it rewrote for its assertion messages in __pycache__, but not where Python
    may not write bytecode (`PYTHONDONTWRITEBYTECODE=1`, as on the machines the suite runs on): then every
    worker rewrote all ~230 test modules at every run, most of collecting's ~16 s of CPU a worker. Collecting
    writes them (pytest checks a cached module against its source's time and size, and writes it atomically
    where workers race); the tests themselves still run with Python's setting (modules a test writes and
    edits are imported only then, and are never read from a stale .pyc)."""
    keep = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    try:
        yield
    finally:
        sys.dont_write_bytecode = keep


def compiler_fuzz_settings(examples: int):
    """The compiler fuzzers' hypothesis settings: `examples` programs in `make test`, derandomized (the same
    programs every run); WAFERSIM_FUZZ_EXAMPLES=N sets the count, WS_FUZZ_RANDOM=1 draws new programs."""
    from hypothesis import HealthCheck, settings

    return settings(max_examples=int(os.environ.get("WAFERSIM_FUZZ_EXAMPLES", str(examples))), deadline=None,
                    derandomize=not os.environ.get("WS_FUZZ_RANDOM"),
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
