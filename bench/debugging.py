"""What debugging by source name costs (issue 16): a plain launch, `keep_state=True`, and `ws.debug`.

    python bench/debugging.py [--preset dev|wse2] [--steps N] [--repeat N]

The library's heat stencil on every PE of the preset's wafer (blocks of 32 x 32), run four ways: plain;
with `keep_state=True` (the host memory the kept state holds); under `ws.debug` with no breakpoint (the
stopping WaveSim subclass and its per-line checks); and under `ws.debug` stopping once a step at a line
for one PE (a `cont()` per step). Prints wall time (best and median of `--repeat`: on a loaded machine
runs vary several-fold, as fresh arrays are mapped or reused) and checks that every way gives the same
field and cycle count. One Markdown row each.
"""
from __future__ import annotations

import argparse
import inspect
import tempfile
import time
from pathlib import Path

import numpy as np

import wafersim as ws
from wafersim.kernels.heat import heat_kernel


def update_line() -> int:
    """The source line of the heat kernel's update `c = c + alpha * ...`."""
    lines, first = inspect.getsourcelines(heat_kernel.py_func)
    return first + next(k for k, text in enumerate(lines) if "alpha *" in text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="dev")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    dev = ws.Device(args.preset)
    bx = by = 32
    grid = (dev.spec.width // bx, dev.spec.height // by)
    shape = (grid[1] * by, grid[0] * bx)
    u = np.random.default_rng(0).random(shape, dtype=np.float32)
    d_u, out = dev.to_device(u), dev.device_array(shape)
    launch_args = (d_u, out, np.float32(0.1), args.steps)
    results = {}

    def plain(**options):
        return heat_kernel[grid, block](*launch_args, **options)

    def debugged(stops: bool):
        with ws.debug(heat_kernel[grid, block], *launch_args) as dbg:
            if stops:
                dbg.break_at(line=update_line(), pe=(1, 1))
            while dbg.cont().reason != "finished":
                pass
        return dbg.stats

    block = (bx, by)
    checkpoint = Path(tempfile.mkdtemp()) / "run.npz"
    ways = {"plain": lambda: plain(), "keep_state=True": lambda: plain(keep_state=True),
            "checkpoint_every=5": lambda: plain(checkpoint_every=5, checkpoint=checkpoint),
            "ws.debug, no breakpoint": lambda: debugged(False),
            f"ws.debug, {args.steps} stops": lambda: debugged(True)}
    print(f"heat, {args.steps} steps, grid {grid} of {bx} x {by} PEs on {args.preset} ({dev.spec.n_pes:,} PEs)\n")
    print(f"| run | wall s, best of {args.repeat} | median | cycles | kept state MiB | same field and cycles |")
    print("|---|---|---|---|---|---|")
    for name, run in ways.items():
        times = []
        for _ in range(args.repeat):
            dev.memcpy_htod(out.pointer, np.zeros(shape, np.float32))  # a run that stopped short would show
            start = time.perf_counter()
            stats = run()
            times.append(time.perf_counter() - start)
        field = out.copy_to_host()
        results[name] = (field, stats.cycles)
        same = np.array_equal(field, results["plain"][0]) and stats.cycles == results["plain"][1]
        kept = f"{stats.state.nbytes / 2**20:.2f}" if stats.state is not None else "-"
        if name.startswith("checkpoint"):
            kept = f"file {checkpoint.stat().st_size / 2**20:.2f}"
        print(f"| {name} | {min(times):.3f} | {float(np.median(times)):.3f} | {stats.cycles:,} | {kept} | "
              f"{'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
