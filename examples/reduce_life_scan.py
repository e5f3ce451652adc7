"""Block reduce/all-reduce, Game of Life, row prefix sum and saxpy on a small simulated wafer.

    python examples/reduce_life_scan.py

Each library host function runs on a small device, its result is checked against NumPy, and the
launch's cost (`LaunchStats.summary()`) is printed.
"""
from __future__ import annotations

import numpy as np

import wafersim as ws
from wafersim.kernels.life import life
from wafersim.kernels.reduce import block_allreduce, block_reduce
from wafersim.kernels.saxpy import saxpy
from wafersim.kernels.scan import prefix_sum


def check(name: str, ok: bool) -> None:
    print(f"  matches NumPy: {ok}")
    if not ok:
        raise SystemExit(f"{name}: result differs from NumPy")


def main() -> None:
    dev = ws.Device(ws.WaferSpec(width=16, height=16))
    print(dev)
    rng = np.random.default_rng(0)

    values = rng.integers(0, 10, size=(16, 16)).astype(np.float32)
    sums, stats = block_reduce(values, "sum", block=(8, 8), device=dev)
    print("\nblock_reduce(sum) of 8 x 8 blocks:\n", sums)
    print(" ", stats.summary())
    check("block_reduce", np.array_equal(sums, values.reshape(2, 8, 2, 8).sum(axis=(1, 3))))

    maxima, stats = block_allreduce(values, "max", block=(4, 4), device=dev)
    print("\nblock_allreduce(max) of 4 x 4 blocks, first rows:\n", maxima[:2])
    print(" ", stats.summary())
    expected = np.repeat(np.repeat(values.reshape(4, 4, 4, 4).max(axis=(1, 3)), 4, 0), 4, 1)
    check("block_allreduce", np.array_equal(maxima, expected))

    board = np.zeros((16, 16), np.int32)
    board[1, 2] = board[2, 3] = board[3, 1] = board[3, 2] = board[3, 3] = 1  # a glider
    after, stats = life(board, 8, device=dev)
    print("\nlife: a glider after 8 generations\n" + "\n".join("".join(".#"[c] for c in row) for row in after[:8]))
    print(" ", stats.summary())
    check("life", np.array_equal(after, np.roll(board, (2, 2), axis=(0, 1))))

    row = np.arange(1, 17, dtype=np.int32)[None, :].repeat(2, axis=0)
    scanned, stats = prefix_sum(row, device=dev)
    print("\nprefix_sum of 1..16:\n", scanned[0])
    print(" ", stats.summary())
    check("prefix_sum", np.array_equal(scanned, np.cumsum(row, axis=1)))

    x = np.linspace(-1, 1, 1024, dtype=np.float32)
    y = np.ones(1024, np.float32)
    out, stats = saxpy(2.0, x, y, block=16, device=dev)
    print(f"\nsaxpy over {stats.grid[0]} blocks of 16 PEs: out[:4] = {out[:4]}")
    print(" ", stats.summary())
    check("saxpy", np.array_equal(out, (np.float64(2.0) * x + y).astype(np.float32)))


if __name__ == "__main__":
    main()
