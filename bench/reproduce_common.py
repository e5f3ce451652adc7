"""What the reproduction scripts (bench/reproduce_*.py) share: loading a sibling script as a module, the
published-versus-simulated table and its ratio, and writing a section of bench/RESULTS.md.

Every reproduction prints, for each published figure: the simulated figure, the published one and their
ratio (simulated / published), and whether the ratio lies within the goal of issue 11 (+-25%)."""
from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

from wafersim.tools.results import machine, write_section

GOAL = 0.25  # issue 11: each reproduction within +-25% of the published figure
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def load_script(name: str):
    """Import bench/<name>.py as a module (bench/ is scripts, not a package)."""
    path = Path(__file__).resolve().parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One published figure against the simulator's."""

    what: str
    simulated: float
    published: float
    unit: str
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.simulated / self.published

    @property
    def within_goal(self) -> bool:
        return abs(self.ratio - 1) <= GOAL


def table(rows: list[Comparison]) -> str:
    """A Markdown table of comparisons."""
    lines = ["| figure | simulated | published | ratio | within +-25% | note |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.what} | {r.simulated:,.4g} {r.unit} | {r.published:,.4g} {r.unit} | {r.ratio:.3f} | "
                     f"{'yes' if r.within_goal else 'no'} | {r.note} |")
    return "\n".join(lines)


def write_results(section: str, title: str, command: str, body: str, path: Path = RESULTS) -> None:
    """Replace this reproduction's own section of bench/RESULTS.md."""
    text = f"## {title}\n\n`{command}` on {machine()}.\n\n{body.rstrip()}\n"
    write_section(path, section, text)
