"""Classic kernels (FFTs, Cholesky, histogram, Mandelbrot) at several sizes, up to a whole wafer.

    python bench/classic.py [--write bench/RESULTS.md] [--pictures docs] [--only NAME]

Each case runs the library's host function once (on a wafer just large enough, except the whole-wafer
Mandelbrot on `wse2`), checks its result against NumPy (a mismatch stops the run), and reports simulated
cycles and time, achieved float32 FLOP/s (the FLOPs the engine counts) and its share of the peak of the
wafer it ran on, a figure of merit of the kernel, wall time and the NumPy time of the same computation.
`--pictures` writes docs/classic_mandelbrot.png: the image beside each PE's busy cycles.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np

import wafersim as ws
from wafersim.kernels.classic import cholesky, fft, fft2, fft_long, histogram, mandelbrot
from wafersim.kernels.classic.mandelbrot import DEFAULT_EXTENT, pixel_coordinates, reference_counts
from wafersim.sim.stats import LaunchStats
from wafersim.tools.results import machine, write_section

sys.path.insert(0, str(Path(__file__).parent))
from kernels import timed  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)


def _complex(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _check_fft(got, want, points):
    error = np.abs(got - want).max() / np.abs(want).max()
    assert error <= 4 * EPS32 * np.log2(points), f"FFT error {error:.3g}"


def _spd(rng, n):
    m = rng.standard_normal((n, n))
    return (m @ m.T + n * np.eye(n)).astype(np.float32)


def cases(rng: np.random.Generator) -> list[tuple[str, str, Callable[[], tuple[LaunchStats, str]], Callable]]:
    """(kernel, size, run() -> (LaunchStats, figure of merit) checked against NumPy, numpy())."""
    out = []
    for batch, n, p in ((64, 256, 8), (1024, 256, 128), (4096, 256, 512)):
        x = _complex(rng, (batch, n))

        def run(x=x, p=p, n=n):
            y, stats = fft(x, p)
            _check_fft(y, np.fft.fft(x.astype(np.complex128), axis=-1), n)
            return stats, f"{x.size / stats.cycles:.1f} points/cycle"
        out.append(("fft (batched 1-D)", f"{batch} x {n} points, {p} PEs", run, lambda x=x: np.fft.fft(x, axis=-1)))
    for m, n, p in ((64, 64, 8), (128, 128, 16), (256, 128, 16)):
        a = _complex(rng, (m, n))

        def run(a=a, p=p):
            y, stats = fft2(a, p)
            _check_fft(y, np.fft.fft2(a.astype(np.complex128)), a.size)
            return stats, f"{stats.words_moved / stats.cycles:.2f} word-hops/cycle"
        out.append(("fft2", f"{m} x {n}, {p} PEs", run, lambda a=a: np.fft.fft2(a)))
    for n, p in ((4096, 16), (16384, 32)):
        x = _complex(rng, n)

        def run(x=x, p=p):
            y, stats = fft_long(x, p)
            _check_fft(y, np.fft.fft(x.astype(np.complex128)), x.size)
            return stats, f"{stats.words_moved / stats.cycles:.2f} word-hops/cycle"
        out.append(("fft_long (four-step)", f"{n:,} points, {p} PEs", run, lambda x=x: np.fft.fft(x)))
    for n, p in ((64, 8), (128, 16), (256, 8)):
        a = _spd(rng, n)

        def run(a=a, p=p, n=n):
            low, stats = cholesky(a, p)
            want = np.linalg.cholesky(a.astype(np.float64))
            assert np.abs(low - want).max() <= 50 * EPS32 * np.abs(want).max()
            return stats, f"{n ** 3 / 3 / stats.seconds / 1e9:.1f} GFLOP/s of n^3/3"
        out.append(("cholesky", f"n = {n}, {p} PEs", run, lambda a=a: np.linalg.cholesky(a)))
    a = _spd(rng, 128)

    def run_forwarded(a=a):
        low, stats = cholesky(a, 16, routed=False)
        assert np.abs(low - np.linalg.cholesky(a.astype(np.float64))).max() <= 50 * EPS32 * np.abs(low).max()
        return stats, f"{128 ** 3 / 3 / stats.seconds / 1e9:.1f} GFLOP/s of n^3/3"
    out.append(("cholesky", "n = 128, 16 PEs, forwarded by the cores (routed=False)", run_forwarded,
                lambda a=a: np.linalg.cholesky(a)))
    for size, bins, p in ((4096, 64, 16), (16384, 256, 64)):
        values = rng.standard_normal(size).astype(np.float32)

        def run(values=values, bins=bins, p=p):
            counts, _, stats = histogram(values, bins, (-4.0, 4.0), p)
            assert np.array_equal(counts, np.histogram(values, bins, (-4.0, 4.0))[0])
            return stats, f"{values.size / stats.cycles:.3f} values/cycle"
        out.append(("histogram", f"{size:,} values, {bins} bins, {p} PEs", run,
                    lambda values=values, bins=bins: np.histogram(values, bins, (-4.0, 4.0))))
    for width, height, tile, device in ((256, 256, (8, 8), None), (1024, 1024, (8, 8), None),
                                        (757 * 4, 996 * 4, (4, 4), "wse2")):
        def run(width=width, height=height, tile=tile, device=device):
            counts, stats = mandelbrot(width, height, 64, tile, device=ws.Device(device) if device else None)
            assert np.array_equal(counts, reference_counts(*pixel_coordinates(width, height, DEFAULT_EXTENT),
                                                           64))
            return stats, f"{counts.sum() / stats.cycles:,.0f} iterations/cycle"
        where = "all of wse2" if device else f"{width // tile[0]} x {height // tile[1]} PEs"
        out.append(("mandelbrot", f"{width} x {height} px, 64 iterations, {tile[0]} x {tile[1]} px/PE, {where}", run,
                    lambda width=width, height=height: reference_counts(
                        *pixel_coordinates(width, height, DEFAULT_EXTENT), 64)))
    return out


def table(rows: list[dict]) -> str:
    lines = ["| kernel | size | wafer PEs | cycles | simulated time | GFLOP/s (simulated) | utilization of peak | "
             "figure of merit | wall (s) | NumPy (s) |", "|---" * 10 + "|"]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['size']} | {r['pes']:,} | {r['cycles']:,} | {r['sim_us']:,.1f} us | "
                     f"{r['gflops']:,.1f} | {100 * r['utilization']:.2f}% | {r['merit']} | {r['wall_s']:.1f} | "
                     f"{r['numpy_s']:.4f} |")
    return "\n".join(lines)


def mandelbrot_picture(path: Path) -> None:
    """The counts of a 512 x 512 image on 64 x 64 PEs beside each PE's busy cycles (the load imbalance)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts, stats = mandelbrot(512, 512, 64, (8, 8))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4), layout="constrained")
    left.imshow(counts, origin="lower", cmap="magma")
    left.set_title("iterations per pixel (512 x 512)")
    image = right.imshow(stats.metric("busy"), origin="lower", cmap="viridis")
    right.set_title("busy cycles per PE (64 x 64 PEs, 8 x 8 px each)")
    fig.colorbar(image, ax=right, shrink=0.8)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write")
    parser.add_argument("--pictures", help="folder for classic_mandelbrot.png (e.g. docs)")
    parser.add_argument("--only", help="run only the kernels whose name contains this text (no --write)")
    args = parser.parse_args(argv)
    if args.only and args.write:
        parser.error("--only gives a partial table: it cannot --write the results file")
    rows = []
    for kernel, size, run, direct in cases(np.random.default_rng(0)):
        if args.only and args.only not in kernel:
            continue
        (stats, merit), wall = timed(run)
        _, numpy_wall = timed(direct, repeat=3)
        rows.append({"kernel": kernel, "size": size, "pes": stats.spec.n_pes, "cycles": stats.cycles,
                     "sim_us": stats.seconds * 1e6, "gflops": stats.flops / stats.seconds / 1e9,
                     "utilization": stats.utilization, "merit": merit, "wall_s": wall, "numpy_s": numpy_wall})
        print(f"{kernel:18s} {size:58s} {stats.cycles:>10,} cycles  {100 * stats.utilization:6.2f}%  {merit:>24s}  "
              f"wall {wall:.1f} s", flush=True)
    if args.pictures:
        mandelbrot_picture(Path(args.pictures) / "classic_mandelbrot.png")
    text = table(rows)
    print(text)
    if args.write:
        section = ("## Classic kernels\n\n"
                   "Command: `python bench/classic.py --write bench/RESULTS.md --pictures docs`\n\n"
                   f"Machine: {machine()}\n\nEach result is checked against NumPy in the run. Utilization is of the "
                   "peak of the wafer the kernel ran on (a row of p PEs for FFT, Cholesky and histogram; the "
                   "whole `wse2` for the last Mandelbrot row). Simulated cycles are exact and repeatable; wall and NumPy "
                   "times are of a shared VM and vary with its load. docs/classic-kernels.md explains the figures.\n\n"
                   f"{text}\n")
        write_section(args.write, "classic", section)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
