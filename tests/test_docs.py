"""The docs tell the truth: README code runs, and docs/isa.md is what the opcode table generates."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np

from wafersim.isa import docgen

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_code_runs_and_prints_what_it_says():
    blocks = python_blocks(ROOT / "README.md")
    assert blocks
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            namespace: dict = {}
            exec(compile(block, "README.md", "exec"), namespace)
        if "d_out" in namespace:  # the saxpy example: 2 * x + x
            np.testing.assert_array_equal(namespace["d_out"].copy_to_host(), 3 * np.arange(1000, dtype=np.float32))
            assert out.getvalue().startswith("[0. 3. 6. 9.]")


def test_isa_doc_is_generated_from_the_opcode_table():
    assert (ROOT / "docs" / "isa.md").read_text() == docgen.render()
