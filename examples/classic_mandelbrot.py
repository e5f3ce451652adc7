"""The Mandelbrot set on simulated PEs, a tile of pixels each: every PE loops as long as its pixels need.

    python examples/classic_mandelbrot.py [--out DIR]

Prints a small picture in characters, checks the counts against a NumPy float32 reference, and reports how
unevenly the work falls on the PEs (busy cycles of the busiest and the least busy PE). With --out, writes
the image and a heatmap of busy cycles per PE as PNGs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from wafersim.kernels.classic import mandelbrot
from wafersim.kernels.classic.mandelbrot import DEFAULT_EXTENT, pixel_coordinates, reference_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder for mandelbrot_busy.png")
    args = parser.parse_args()
    counts, _ = mandelbrot(64, 24, 50, (8, 4))
    for row in counts[::-1]:
        print("".join("#" if c == 50 else "+" if c > 8 else "." for c in row))
    width, height, max_iter = 256, 256, 100
    counts, stats = mandelbrot(width, height, max_iter, (8, 8))
    assert np.array_equal(counts, reference_counts(*pixel_coordinates(width, height, DEFAULT_EXTENT), max_iter))
    busy = stats.metric("busy")
    print(f"{width} x {height} px on {stats.block[0]} x {stats.block[1]} PEs: {stats.cycles:,} cycles; "
          f"busy cycles per PE from {busy.min():,.0f} to {busy.max():,.0f}; counts equal NumPy's")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)  # (the library's writers create no folders)
        path = stats.heatmap("busy", Path(args.out) / "mandelbrot_busy.png", title="busy cycles per PE")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
