"""Helpers shared by the tests."""
from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import wafersim as ws

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
    dargs = [dev.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    kernel[(1, 1), block](*dargs)
    return [d.copy_to_host() for d in dargs if isinstance(d, ws.DeviceArray)]


def compile_error(dev, kernel, *args, block=(1, 1)) -> ws.CompileError:
    """The CompileError a launch of `kernel` raises (the test fails if it compiles)."""
    with pytest.raises(ws.CompileError) as info:
        run_on_one_block(dev, kernel, *args, block=block)
    return info.value
