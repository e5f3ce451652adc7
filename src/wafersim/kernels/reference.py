"""Plain NumPy versions of the kernels, independent of the simulator, to check results against."""
from __future__ import annotations

import numpy as np


ORDER_ASSEMBLY = ("north", "east", "south", "west")  # kernels/assembly.py sums neighbours in this order
ORDER_API = ("north", "south", "east", "west")  # the order of the heat kernel in docs/api.md


#: Each neighbour of `heat_step` as (destination, source) slice pairs: the shifted array, with the zero-flux
#: edge (the cell itself) where the shift runs off the domain.
_NEIGHBOUR_SLICES = {
    "north": [(np.s_[1:], np.s_[:-1]), (np.s_[:1], np.s_[:1])],
    "south": [(np.s_[:-1], np.s_[1:]), (np.s_[-1:], np.s_[-1:])],
    "west": [(np.s_[:, 1:], np.s_[:, :-1]), (np.s_[:, :1], np.s_[:, :1])],
    "east": [(np.s_[:, :-1], np.s_[:, 1:]), (np.s_[:, -1:], np.s_[:, -1:])],
}


def heat_step(c: np.ndarray, alpha: np.float32, order: tuple[str, ...] = ORDER_ASSEMBLY) -> np.ndarray:
    """One zero-flux 5-point step on a whole array, summing neighbours in float32 in the kernel's order:
    c + alpha * ((((0 + n1) + n2) + n3) + n4 - 4 * c), each operation rounded to float32.

    In place in two arrays the size of `c` (the neighbours are added through shifted slices, not built):
    at wafer scale each is 184 MiB, and the neighbour arrays and temporaries were most of a reference
    run's memory."""
    c = np.asarray(c, dtype=np.float32)
    acc = np.empty_like(c)
    for k, name in enumerate(order):
        for dst, src in _NEIGHBOUR_SLICES[name]:
            if k == 0:
                np.add(np.float32(0), c[src], out=acc[dst])  # (0 + n: a neighbour's -0.0 becomes 0.0, as summed)
            else:
                np.add(acc[dst], c[src], out=acc[dst])
    if not order:
        acc.fill(0)
    four_c = np.multiply(np.float32(4), c)
    np.subtract(acc, four_c, out=acc)
    del four_c
    np.multiply(np.float32(alpha), acc, out=acc)
    np.add(c, acc, out=acc)
    return acc


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
