"""The on-wafer fabric: one FIFO per (PE, incoming direction, channel).

A FIFO is a ring of `fifo_depth` slots per PE; word k uses slot k % depth. Each slot keeps one time:
while its word is in flight or buffered, the word's arrival time; once popped, the pop time, which is
the earliest time word k + depth may enter (back-pressure: a word waits for the word `fifo_depth`
ahead of it to leave). FIFOs are created only for the directions and channels a program uses, so memory
follows the program. There are no per-link arrays: a link carries only its sender's words and the
sender is busy while a word leaves, so a link is always free by the time its sender is ready again.
"""
from __future__ import annotations

import numpy as np


class SlotRows:
    """The slots of one FIFO field, one per-PE row each, allocated on first use.

    Rows are separate arrays of a few MB rather than one (depth, PEs) block, so that the allocator can
    recycle them across waves and launches instead of mapping fresh pages every time."""

    __slots__ = ("rows", "n", "dtype")

    def __init__(self, depth: int, n: int, dtype) -> None:
        self.rows: list[np.ndarray | None] = [None] * depth
        self.n, self.dtype = n, dtype

    def __getitem__(self, slot: int) -> np.ndarray:
        row = self.rows[slot]
        if row is None:
            row = self.rows[slot] = np.zeros(self.n, dtype=self.dtype)
        return row

    def gather(self, slots: np.ndarray, pes: np.ndarray) -> np.ndarray:
        """Values at (slots[i], pes[i])."""
        out = np.empty(len(pes), dtype=self.dtype)
        for slot in np.unique(slots):
            sel = slots == slot
            out[sel] = self[int(slot)][pes[sel]]
        return out

    def scatter(self, slots: np.ndarray, pes: np.ndarray, values) -> None:
        values = np.broadcast_to(values, pes.shape)
        for slot in np.unique(slots):
            sel = slots == slot
            self[int(slot)][pes[sel]] = values[sel]

    def widen(self, dtype) -> None:
        self.dtype = dtype
        self.rows = [None if row is None else row.astype(dtype) for row in self.rows]


class Fifo:
    __slots__ = ("depth", "value", "time", "pushed", "popped")

    def __init__(self, depth: int, n: int, time_dtype=np.float64) -> None:
        self.depth = depth
        self.value = SlotRows(depth, n, np.int32)
        self.time = SlotRows(depth, n, time_dtype)  # arrival of the slot's word, or when it was popped
        self.pushed = np.zeros(n, dtype=np.int32)  # words ever written, per receiving PE
        self.popped = np.zeros(n, dtype=np.int32)

    def widen_time(self) -> None:
        self.time.widen(np.float64)
