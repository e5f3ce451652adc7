"""Regenerate the generated parts of the docs: docs/isa.md and the assembly shown in docs/compiler.md.

    python scripts/update_docs.py
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import wafersim as ws
from wafersim.isa import docgen
from wafersim.kernels.heat import heat_kernel

ROOT = Path(__file__).resolve().parents[1]


def heat_asm() -> str:
    dev = ws.Device(ws.WaferSpec(width=8, height=8))
    u = np.zeros((8, 8), np.float32)
    heat_kernel.compile_for(dev.to_device(u), dev.device_array(u.shape), np.float32(0.1), 10)
    return heat_kernel.inspect_asm()


def main() -> None:
    (ROOT / "docs" / "isa.md").write_text(docgen.render())
    guide = ROOT / "docs" / "compiler.md"
    text = guide.read_text()
    guide.write_text(re.sub(r"```text\n.*?```", lambda _: f"```text\n{heat_asm()}```", text, count=1, flags=re.S))
    print("updated docs/isa.md and docs/compiler.md")


if __name__ == "__main__":
    main()
