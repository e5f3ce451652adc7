"""Helpers shared by the tests."""
from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

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
