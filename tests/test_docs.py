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
AUTOLINK = re.compile(r"<((?:https?|ftp)://[^>\s]+|mailto:[^>\s]+)>")


def test_docs_link_only_inside_the_repository():
    """Every Markdown link of README.md and docs/*.md names a file of this repository (or a section of
    one), and no doc points at files or pages outside it (the project carries its own API reference,
    docs/api.md; published sources are cited by title as plain text, docs/timing.md "Calibrated presets").
    docs/reading-traces.md once linked <https://ui.perfetto.dev>, against that rule."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```|`[^`\n]*`", "", path.read_text(), flags=re.S)  # code is not links
        assert "../shared" not in path.read_text(), f"{path.name} refers to a file outside the repository"
        assert not AUTOLINK.findall(text), f"{path.name} links outside the repository: {AUTOLINK.findall(text)}"
        for target in LINK.findall(text):
            assert not re.match(r"[a-z][\w+.-]*:", target), f"{path.name} links outside the repository: {target}"
            if target.startswith("#"):
                continue
            resolved = (path.parent / target.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT), f"{path.name} links outside the repository: {target}"
            assert resolved.exists(), f"{path.name} links to a missing file: {target}"


def _significant(value: float, digits: int) -> float:
    return float(f"{value:.{digits - 1}e}")


def test_readme_quotes_rates_and_cycle_counts_that_bench_results_holds():
    """The README's PE-instructions/s figures (`5.7e7`) and simulated cycle counts (`13,446`) are quotes of
    bench/RESULTS.md: each is, to its printed digits, a number there. (A paragraph that kept `5.8e7`,
    `3.8e7` and `3.9e7` after a re-run contradicted both the README's own table and RESULTS.md.)"""
    readme, results = (ROOT / "README.md").read_text(), (ROOT / "bench" / "RESULTS.md").read_text()
    numbers = {float(m.replace(",", "")) for m in re.findall(r"\d[\d,]*\.?\d*(?:e[+-]?\d+)?", results)}
    rates = re.findall(r"(?<![\w.])(\d\.\d)e(\d)(?![\w.])", readme)
    assert len(rates) >= 15
    for mantissa, exponent in rates:
        quoted = float(f"{mantissa}e{exponent}")
        assert any(_significant(n, 2) == quoted for n in numbers), f"README quotes {quoted:.1e}: not in RESULTS.md"
    table = readme.split("| kernel | size | simulated cycles |")[1].split("\n\n")[0]
    cycles = re.findall(r"\d{1,3},\d{3}", table)
    assert len(cycles) >= 10
    for count in cycles:
        assert count in results, f"README's kernel table quotes {count} cycles: not in RESULTS.md"


def test_the_wafersim_debug_session_of_the_debugging_guide_prints_what_it_shows(tmp_path):
    """docs/debugging.md's `$ wafersim debug ...` session, run as shown: its `(wsdb)` commands typed in, each
    other line printed in order (`...` any text). The kernel's lines had moved by two, and `-b 25` was
    refused ('line 25 has no code in heat_kernel')."""
    import subprocess

    text = (ROOT / "docs" / "debugging.md").read_text()
    session = re.search(r"```\n\$ (wafersim debug [^\n]*)\n(.*?)```", text, flags=re.S)
    assert session, "docs/debugging.md shows a `$ wafersim debug` session"
    args = session.group(1).split()[1:]
    args = [str(ROOT / a) if a.endswith(".py") else a for a in args]  # (run elsewhere: it writes PNGs)
    lines = session.group(2).splitlines()
    commands = [line.removeprefix("(wsdb) ") for line in lines if line.startswith("(wsdb) ")]
    expected = [line for line in lines if not line.startswith("(wsdb) ")]
    import os

    import wafersim

    source = str(Path(wafersim.__file__).resolve().parents[1])  # this checkout's package, from any folder
    run = subprocess.run([sys.executable, "-m", "wafersim.tools.cli", *args], input="\n".join(commands) + "\n",
                         capture_output=True, text=True, cwd=tmp_path, timeout=600,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join([source, *sys.path])))
    assert run.returncode == 0, run.stdout + run.stderr
    actual = [line.replace("(wsdb) ", "").rstrip() for line in run.stdout.splitlines()]
    position = 0
    for want in expected:
        if want.strip() == "...":
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.rstrip().split("...")))
        found = next((i for i in range(position, len(actual)) if pattern.fullmatch(actual[i])), None)
        assert found is not None, f"not printed (in order): {want!r}\n--- printed ---\n{run.stdout}{run.stderr}"
        position = found + 1


def test_ws_print_help_gives_the_argument_order_the_api_reference_and_the_compiler_take():
    """help(ws.print) said print(value[, label]), the reverse of api.md's `ws.print([label,] value)`, which is
    the order the compiler takes (a label after the value is refused)."""
    import wafersim as ws

    signature = "ws.print([label,] value)"
    assert f"| `{signature}` |" in (ROOT / "docs" / "api.md").read_text()
    assert ws.print.__doc__.startswith(signature.removeprefix("ws.") + ":"), ws.print.__doc__
