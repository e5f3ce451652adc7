"""The tables and bar lines of bench/workloads.py: per-workload rows (dicts its children's JSON lines
filled) formatted as Markdown, and each bar of issue 9 judged met, NOT met or not measured."""
from __future__ import annotations

from typing import Callable


def rate(instructions: int, seconds: float | None) -> float | None:
    return instructions / seconds if seconds else None


def fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def times(ratio: float | None) -> str:
    """A multiple of the NumPy time as the tables show it: 6.3x, 75x, 13,000x."""
    if ratio is None:
        return "—"
    return f"{ratio:.1f}x" if ratio < 10 else f"{float(f'{ratio:.2g}'):,.0f}x"


#: The launches a row reports, as the bars name them.
LAUNCHES = {"first": "first launch", "again": "first launch of a second process",
            "after_init": "first launch of a third process, after ws.init()", "best": "best warm launch"}


def launch_wall(row: dict, which: str) -> float | None:
    """Wall time of the "first" launch, of the "again" launch (the first of a second process), of the
    "after_init" launch (the first of a third, after `ws.init()`) or of the "best" warm launch of a row (None:
    not measured)."""
    if which == "best":
        return min(row["warm_s"], default=None)
    return row.get("wall_s" if which == "first" else f"{which}_s")


def over_numpy(row: dict, which: str) -> float | None:
    wall = launch_wall(row, which)
    return wall / row["numpy_s"] if wall else None


def table(rows: list[dict], repeat: int) -> str:
    head = (f"| workload | what | PEs | first launch (s) | again (s) | init + after init (s) | best of {repeat} warm (s) | "
            "PE-instructions | PE-instr/s first / again / after init / best | NumPy (s) | "
            "x NumPy first / again / after init / best | simulated cycles | "
            "peak RSS (MiB) | matches NumPy |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        walls = {which: launch_wall(r, which) for which in LAUNCHES}
        instructions, numpy_s = r.get("instructions"), r.get("numpy_s")
        rates = ratios = "—"
        if instructions is not None:
            rates = " / ".join(fmt(rate(instructions, wall), ".2g") for wall in walls.values())
            ratios = " / ".join(times(over_numpy(r, which)) for which in LAUNCHES)
        lines.append(
            f"| {r['name']} | {r.get('label', '')} | {fmt(r.get('pes'), ',')} | {fmt(walls['first'], '.3g')} | "
            f"{fmt(walls['again'], '.3g')} | {fmt(r.get('init_s'), '.2g')} + {fmt(walls['after_init'], '.3g')} | "
            f"{fmt(walls['best'], '.3g')} | {fmt(instructions, ',')} | {rates} | {fmt(numpy_s, '.3g')} | {ratios} | "
            f"{fmt(r.get('cycles'), ',')} | {fmt(r.get('peak_mib'), '.0f')} | {r['status']} |")
    return "\n".join(lines)


def judged(values: dict[str, float | None], ok: Callable[[float], bool], show: Callable[[float], str],
           failures_only: bool = False) -> str:
    """met / NOT met / not measured for a bar over named values (None: that workload was not measured)."""
    missing = [name for name, value in values.items() if value is None]
    failing = [name for name, value in values.items() if value is not None and not ok(value)]
    verdict = "NOT met" if failing else "not measured" if missing or not values else "met"
    shown = [f"{name} {show(value)}" for name, value in values.items()
             if value is not None and (name in failing or not failures_only)]
    shown += [f"{name} not measured" for name in missing]
    return verdict + (f" ({', '.join(shown)})" if shown else "")


#: Wall times of issue 9's table (seconds, before engine v2) and the speed-ups its bars ask of them.
ISSUE_WALL_S = {"gemm": (161.0, 20), "allreduce": (4.0, 10), "scan-row": (0.09, 20), "transpose": (1.75, 20)}


def bars(rows: list[dict]) -> list[str]:
    """One line per bar of issue 9, for the first launch and the best warm launch: met or NOT met."""
    by_name = {r["name"]: r for r in rows}
    out = []
    # (no second processes ran: `--one-process`, or every first launch failed)
    launches = [w for w in LAUNCHES if w in ("first", "best") or any(f"{w}_s" in r for r in rows)]
    for which in launches:
        # A workload that never finished a launch counts as unmeasured, not as passing.
        rates = {r["name"]: rate(r["instructions"], launch_wall(r, which)) if "instructions" in r else None
                 for r in rows if r.get("instructions", 1e7) >= 1e7}
        out.append(f"- PE-instr/s >= 1e8 on every launch of >= 1e7 PE-instructions ({LAUNCHES[which]}): "
                   + judged(rates, lambda v: v >= 1e8, lambda v: f"{v:.2g}", failures_only=True))
    for names, limit in ((("heat", "life"), 10), (("switch-2", "switch-4", "switch-8"), 15)):
        for which in launches:
            ratios = {n: over_numpy(by_name[n], which) if "numpy_s" in by_name[n] else None
                      for n in names if n in by_name}
            out.append(f"- {', '.join(names)} <= {limit}x NumPy ({LAUNCHES[which]}): "
                       + judged(ratios, lambda v: v <= limit, times))
    for limit in sorted({need for _, need in ISSUE_WALL_S.values()}):
        names = [n for n, (_, need) in ISSUE_WALL_S.items() if need == limit]
        for which in launches:
            speedups = {n: ISSUE_WALL_S[n][0] / wall if (wall := launch_wall(by_name[n], which)) else None
                        for n in names if n in by_name}
            out.append(f"- {', '.join(names)} at least {limit}x faster in wall time than issue 9's table "
                       f"({LAUNCHES[which]}): " + judged(speedups, lambda v: v >= limit, times))
    heat_mib = {"heat": by_name["heat"].get("peak_mib")} if "heat" in by_name else {}
    out.append("- peak RSS of the heat run <= 600 MiB: " + judged(heat_mib, lambda v: v <= 600, lambda v: f"{v:.0f} MiB"))
    return out
