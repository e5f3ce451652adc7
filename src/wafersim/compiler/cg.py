"""`ws.cg`: cooperative groups, as Numba's `cuda.cg` names them. `ws.cg.this_grid().sync()` in a kernel is
a barrier over every PE of the launch (one `gbar` instruction), CUDA's `this_grid().sync()`; the launch must
fit the wafer in one wave, as a CUDA cooperative launch must fit the GPU (docs/programming-model.md).
"""
from __future__ import annotations

from .intrinsics import Intrinsic

__all__ = ["this_grid"]

this_grid = Intrinsic("cg.this_grid", "cg.this_grid().sync(): barrier over every PE of the launch (all its blocks; "
                      "the launch must fit the wafer in one wave).")
