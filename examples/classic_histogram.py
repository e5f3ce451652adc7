"""A histogram on a row of simulated PEs: each value's bin number is routed to the PE that owns the bin.

    python examples/classic_histogram.py

Compares the counts and edges with numpy.histogram and prints how many words crossed links per value.
"""
from __future__ import annotations

import numpy as np

from wafersim.kernels.classic import histogram


def main() -> None:
    rng = np.random.default_rng(0)
    for size, bins, p in [(2000, 20, 4), (8000, 64, 16)]:
        values = rng.standard_normal(size).astype(np.float32)
        counts, edges, stats = histogram(values, bins, (-3.0, 3.0), p)
        want, want_edges = np.histogram(values, bins, (-3.0, 3.0))
        assert np.array_equal(counts, want) and np.array_equal(edges, want_edges)
        print(f"histogram of {size:,} values into {bins} bins on {p} PEs: equal to NumPy; {stats.cycles:,} cycles, "
              f"{size / stats.cycles:.3f} values/cycle, {stats.words_moved / size:.2f} link crossings per value")
    peak = int(np.argmax(counts))
    print(f"fullest bin [{edges[peak]:.3f}, {edges[peak + 1]:.3f}): {counts[peak]} values")


if __name__ == "__main__":
    main()
