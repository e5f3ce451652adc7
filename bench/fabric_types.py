"""Cost of the type tags of fabric words: the engine's heat benchmark (`wafersim.tools.bench`) with typed
messages (`send.f32` / `recv.f32`, what the compiler emits and the library's assembly uses) against the same
program with untagged (raw, never checked) messages, launched alternately in one process.

    python bench/fabric_types.py --preset wse2 --steps 20 [--rounds 3] [--write bench/RESULTS.md]

After one untimed launch of each (a process's first launches map memory), reports the first timed launch
and the best wall of each, their same-run ratio, the ratio of each to the stencil written
directly in NumPy, and whether simulated cycles are equal (they must be: tags cost no cycles).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import wafersim as ws
from wafersim.kernels import reference
from wafersim.kernels.assembly import heat_program
from wafersim.tools.results import machine, write_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="wse2")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", help="write the results to this Markdown file")
    args = parser.parse_args(argv)
    dev = ws.Device(args.preset)
    width, height = dev.spec.width, dev.spec.height
    u = np.random.default_rng(0).random((height, width), dtype=np.float32)
    d_u, d_out = dev.to_device(u), dev.device_array(u.shape)
    typed = heat_program()
    raw = ws.assemble(ws.disassemble(typed).replace("send.f32", "send").replace("recv.f32", "recv"))
    assert raw.code.tolist() != typed.code.tolist()
    kernels = {"typed": ws.Kernel(typed), "raw": ws.Kernel(raw)}
    walls = {name: [] for name in kernels}
    cycles, exact = {}, {}
    start = time.perf_counter()
    expected = reference.heat(u, 0.1, args.steps)
    numpy_wall = time.perf_counter() - start
    for name, kernel in kernels.items():  # the process's first launches map memory: not timed
        kernel[(1, 1), (width, height)](d_u, d_out, np.float32(0.1), 1, width)
    for k in range(args.rounds):
        for name in (("typed", "raw") if k % 2 == 0 else ("raw", "typed")):  # alternate who goes first
            kernel = kernels[name]
            start = time.perf_counter()
            stats = kernel[(1, 1), (width, height)](d_u, d_out, np.float32(0.1), args.steps, width)
            walls[name].append(time.perf_counter() - start)
            cycles[name] = stats.cycles
            exact[name] = bool(np.array_equal(d_out.copy_to_host(), expected))
    for _ in range(2):
        start = time.perf_counter()
        reference.heat(u, 0.1, args.steps)
        numpy_wall = min(numpy_wall, time.perf_counter() - start)
    rows = ["| messages | first wall (s) | best wall (s) | best / NumPy | simulated cycles | matches NumPy |",
            "|---|---|---|---|---|---|"]
    for name in kernels:
        rows.append(f"| {name} | {walls[name][0]:.2f} | {min(walls[name]):.2f} | {min(walls[name]) / numpy_wall:.1f}x | "
                    f"{cycles[name]:,} | {'yes' if exact[name] else 'NO'} |")
    ratio = min(walls["typed"]) / min(walls["raw"])
    summary = (f"typed / raw, best walls: {ratio:.3f}; cycles equal: {'yes' if cycles['typed'] == cycles['raw'] else 'NO'}"
               f"; NumPy best of 3: {numpy_wall:.3f} s")
    text = "\n".join(rows) + "\n\n" + summary
    print(f"machine: {machine()}\n{text}")
    if args.write:
        write_section(args.write, "fabric-types",
                      "## Fabric word type tags: heat benchmark, typed against raw messages\n\n"
                      f"Command: `python bench/fabric_types.py --preset {args.preset} --steps {args.steps} --rounds "
                      f"{args.rounds} --write {args.write}`\n\nMachine: {machine()} (shared with other jobs: walls "
                      f"are noisy, compare the same-run ratio)\n\n{text}\n")
    return 0 if all(exact.values()) and cycles["typed"] == cycles["raw"] else 1


if __name__ == "__main__":
    sys.exit(main())
