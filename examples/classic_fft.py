"""FFTs on a row of simulated PEs: a batch of 1-D transforms, a 2-D transform with its transpose through
the fabric, and one long 1-D transform spread over the PEs (four-step).

    python examples/classic_fft.py

Checks each result against numpy.fft (computed in complex128) and prints the simulated cycles, the
utilization of the wafer's peak FLOP/s and the words the 2-D transform's transpose moved over links.
"""
from __future__ import annotations

import numpy as np

from wafersim.kernels.classic import fft, fft2, fft_long


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


def main() -> None:
    rng = np.random.default_rng(0)
    for batch, n, p in [(16, 64, 4), (64, 256, 8)]:
        x = (rng.standard_normal((batch, n)) + 1j * rng.standard_normal((batch, n))).astype(np.complex64)
        y, stats = fft(x, p)
        err = _relative_error(y, np.fft.fft(x.astype(np.complex128), axis=-1))
        print(f"fft of {batch} rows of {n} points on {p} PEs: {stats.cycles:,} cycles, utilization "
              f"{stats.utilization:.1%}, max error {err:.1e} of the largest output")
    for m, n, p in [(32, 32, 4), (64, 64, 8)]:
        a = (rng.standard_normal((m, n)) + 1j * rng.standard_normal((m, n))).astype(np.complex64)
        y, stats = fft2(a, p)
        err = _relative_error(y, np.fft.fft2(a.astype(np.complex128)))
        print(f"fft2 of {m} x {n} on {p} PEs: {stats.cycles:,} cycles, utilization {stats.utilization:.1%}, "
              f"{stats.words_moved:,} word-hops in the transpose, max error {err:.1e}")
        print("   ", stats.summary())
    for n, p in [(1024, 8), (4096, 16)]:
        x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
        y, stats = fft_long(x, p)
        err = _relative_error(y, np.fft.fft(x.astype(np.complex128)))
        print(f"fft_long of {n:,} points on {p} PEs: {stats.cycles:,} cycles, utilization {stats.utilization:.1%}, "
              f"max error {err:.1e}")


if __name__ == "__main__":
    main()
