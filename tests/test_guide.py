"""The user guide tells the truth: every ```python block of docs/*.md and README.md runs.

Each block runs on its own, in a fresh namespace, in a temporary working directory (files the examples
write land there), with stdout captured. The block's source is registered in `linecache` under a fake
file name, so that `@ws.jit` can read kernel source as it does in IPython. A ```text block that follows
a ```python block directly (nothing but blank lines between them) is that block's output: each of its
lines must appear in the captured stdout, in order, where `...` stands for any text (numbers the timing
model decides, paths, and so on) and a line that is only `...` skips any number of lines.
"""
from __future__ import annotations

import contextlib
import io
import linecache
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", flags=re.S | re.M)


def doc_files() -> list[Path]:
    return sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


def code_blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """(line number, python source, expected output or None) of each ```python block of a Markdown file."""
    text = path.read_text()
    fences = list(FENCE.finditer(text))
    blocks = []
    for k, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        expected = None
        if k + 1 < len(fences):
            after = fences[k + 1]
            if after.group(1) == "text" and not text[fence.end():after.start()].strip():
                expected = after.group(2)
        blocks.append((text.count("\n", 0, fence.start()) + 2, fence.group(2), expected))
    return blocks


def run_block(source: str, filename: str) -> dict:
    """Execute a code block as if from a file, so that @ws.jit can read kernel source."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {"__name__": "__guide__"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def assert_output(expected: str, actual: str, where: str) -> None:
    """Each expected line matches a later line of `actual` in order; `...` matches any text."""
    lines = [line.rstrip() for line in actual.splitlines()]
    position = 0
    for want in expected.splitlines():
        want = want.rstrip()
        if not want or want.strip() == "...":
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")))
        for i in range(position, len(lines)):
            if pattern.fullmatch(lines[i]):
                position = i + 1
                break
        else:
            raise AssertionError(f"{where}: expected output line not found (in order):\n  {want}\n"
                                 f"--- actual output ---\n{actual}")


CASES = [pytest.param(path, line, source, expected, id=f"{path.relative_to(ROOT)}:{line}")
         for path in doc_files() for line, source, expected in code_blocks(path)]


def test_the_guide_has_code_in_every_chapter():
    chapters = {"getting-started.md", "programming-model.md", "kernels.md", "reading-traces.md"}
    with_code = {path.name for path, *_ in (case.values for case in CASES)}
    assert chapters <= with_code


@pytest.mark.parametrize("path, line, source, expected", CASES)
def test_code_block_runs(path, line, source, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    where = f"{path.relative_to(ROOT)}:{line}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_block(source, f"<{where}>")
    if expected is not None:
        assert_output(expected, out.getvalue(), where)
