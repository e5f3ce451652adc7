"""The demo: heat diffusion on a whole wafer, one cell per PE, the kernel of docs/api.md compiled with @ws.jit.

    wafersim demo [--preset wse2] [--steps 100] [--out out]     (or: make demo)

Runs the stencil on every PE of the wafer (with a progress bar on a terminal), checks the result
against NumPy, prints what the launch cost in simulated cycles, time, instructions, words moved and
energy, and writes PNGs of the final field and of per-PE stall cycles.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import wafersim as ws
from wafersim.kernels import reference
from wafersim.tools.arguments import folder_argument, spec_argument, steps_argument
from wafersim.kernels.heat import heat_kernel
from wafersim.sim.pictures import save_map
from wafersim.sim.stats import energy_text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="wafersim demo", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", type=spec_argument, default="wse2", help="a preset or a WaferSpec TOML file")
    parser.add_argument("--steps", type=steps_argument, default=100, help="time steps (at least 1)")
    parser.add_argument("--out", type=folder_argument, default="out",
                        help="folder for the PNG pictures (created if missing)")
    args = parser.parse_args(argv)

    dev = ws.Device(args.preset)
    width, height = dev.spec.width, dev.spec.height
    print(dev)
    y, x = np.mgrid[0:height, 0:width]
    u = np.exp(-((x - width / 2) ** 2 + (y - height / 2) ** 2) / (0.02 * width * height)).astype(np.float32)

    s = dev.stream()
    start, stop = dev.event(), dev.event()
    start.record(s)
    d_u = dev.to_device(u, stream=s)
    d_out = dev.device_array(u.shape, np.float32)
    wall = time.perf_counter()
    stats = heat_kernel[(1, 1), (width, height), s](d_u, d_out, np.float32(0.1), args.steps)
    wall = time.perf_counter() - wall
    out = d_out.copy_to_host(stream=s)
    stop.record(s)

    expected = reference.heat(u, 0.1, args.steps, order=reference.ORDER_API)
    print(stats.summary())
    print(f"simulated: {stats.cycles:,} cycles = {stats.seconds * 1e6:.1f} us of kernel, "
          f"{ws.event_elapsed_time(start, stop):.3f} ms with host transfers")
    print(f"PE-instructions: {stats.instructions:,}; words over links: {stats.words_moved:,}; "
          f"global bytes: {stats.global_bytes:,}")
    print("energy: " + ", ".join(f"{k} {energy_text(v)}" for k, v in stats.energy_breakdown_j.items()))
    print(f"wall time: {wall:.2f} s, compile included ({stats.instructions / wall:.3g} simulated PE-instructions/s)")
    same = np.array_equal(out, expected)
    print(f"matches NumPy exactly: {same}")
    try:  # (the demo's own output folder: writers create none)
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # (checked before the run; this is what changed since, or permissions)
        raise SystemExit(f"wafersim demo: cannot create --out {args.out!r}: {exc.strerror}") from None
    field = save_map(out, Path(args.out) / "heat_field.png", f"temperature after {args.steps} steps", "temperature",
                     cmap="inferno")
    stall = stats.heatmap("stall", Path(args.out) / "heat_stall.png")
    print(f"wrote {field} and {stall}")
    if not same:
        raise SystemExit("result differs from NumPy")


if __name__ == "__main__":
    main()
