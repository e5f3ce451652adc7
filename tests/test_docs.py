"""The docs tell the truth: README code runs, and docs/isa.md is what the opcode table generates."""
from __future__ import annotations

import contextlib
import io
import linecache
import re
import sys
from pathlib import Path

import numpy as np

from wafersim.isa import docgen
from wafersim.kernels import reference

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def run_block(block: str, name: str) -> dict:
    """Execute a doc code block as if from a file, so that @ws.jit can read kernel source (as IPython does)."""
    filename = f"<{name}>"
    linecache.cache[filename] = (len(block), None, block.splitlines(True), filename)
    namespace: dict = {"__name__": name}
    exec(compile(block, filename, "exec"), namespace)
    return namespace


def test_readme_code_runs_and_prints_what_it_says():
    blocks = python_blocks(ROOT / "README.md")
    assert blocks
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            namespace = run_block(block, "README.md")
        if "heat" in namespace:  # the heat example: each 32 x 32 block is its own zero-flux domain
            expected = reference.heat(namespace["u"], 0.1, 50, (32, 32), order=reference.ORDER_API)
            np.testing.assert_array_equal(namespace["result"], expected)
            assert out.getvalue().startswith("heat: grid (2, 2) x block (32, 32)")


def test_isa_doc_is_generated_from_the_opcode_table():
    assert (ROOT / "docs" / "isa.md").read_text() == docgen.render()


def test_compiler_guide_code_runs_and_its_assembly_is_current():
    for k, block in enumerate(python_blocks(ROOT / "docs" / "compiler.md")):
        with contextlib.redirect_stdout(io.StringIO()):
            run_block(block, f"docs/compiler.md:{k}")
    sys.path.insert(0, str(ROOT / "scripts"))
    import update_docs

    shown = re.findall(r"```text\n(.*?)```", (ROOT / "docs" / "compiler.md").read_text(), flags=re.S)[0]
    assert shown == update_docs.heat_asm(), "run `make docs` to regenerate docs/compiler.md"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_docs_link_only_inside_the_repository():
    """Every relative Markdown link of README.md and docs/*.md names a file of this repository, and no doc
    points at files outside it (the project carries its own API reference, docs/api.md)."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```|`[^`\n]*`", "", path.read_text(), flags=re.S)  # code is not links
        assert "../shared" not in path.read_text(), f"{path.name} refers to a file outside the repository"
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            resolved = (path.parent / target.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT), f"{path.name} links outside the repository: {target}"
            assert resolved.exists(), f"{path.name} links to a missing file: {target}"
