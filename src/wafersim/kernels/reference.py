"""Plain NumPy versions of the kernels, independent of the simulator, to check results against."""
from __future__ import annotations

import numpy as np


ORDER_ASSEMBLY = ("north", "east", "south", "west")  # kernels/assembly.py sums neighbours in this order
ORDER_API = ("north", "south", "east", "west")  # the order of the heat kernel in docs/api.md


def heat_step(c: np.ndarray, alpha: np.float32, order: tuple[str, ...] = ORDER_ASSEMBLY) -> np.ndarray:
    """One zero-flux 5-point step on a whole array, summing neighbours in float32 in the kernel's order."""
    neighbours = {
        "north": np.concatenate([c[:1], c[:-1]], axis=0),
        "south": np.concatenate([c[1:], c[-1:]], axis=0),
        "west": np.concatenate([c[:, :1], c[:, :-1]], axis=1),
        "east": np.concatenate([c[:, 1:], c[:, -1:]], axis=1),
    }
    acc = np.float32(0)
    for name in order:
        acc = acc + neighbours[name]
    return c + alpha * (acc - np.float32(4) * c)


def heat(u: np.ndarray, alpha: float, steps: int, block: tuple[int, int] | None = None,
         order: tuple[str, ...] = ORDER_ASSEMBLY) -> np.ndarray:
    """`steps` heat steps; with `block` = (bx, by), each block is its own zero-flux domain."""
    alpha = np.float32(alpha)
    out = np.array(u, dtype=np.float32)
    bx, by = block or (u.shape[1], u.shape[0])
    for y0 in range(0, u.shape[0], by):
        for x0 in range(0, u.shape[1], bx):
            tile = out[y0:y0 + by, x0:x0 + bx]
            for _ in range(steps):
                tile = heat_step(tile, alpha, order)
            out[y0:y0 + by, x0:x0 + bx] = tile
    return out
