"""Each benchmark owns one section of bench/RESULTS.md, between HTML comment markers."""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import numpy as np


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}, "
            f"{platform.system()} {platform.machine()}")


def write_section(path: str | Path, name: str, text: str) -> None:
    """Replace (or append) the section `name` of a Markdown results file."""
    path = Path(path)
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"<!-- {name} -->\n{text.rstrip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    current = pattern.sub(lambda _: block, current) if pattern.search(current) else current.rstrip() + "\n\n" + block
    path.write_text(current.rstrip() + "\n")
